"""The webhook inbox (PRODUCT §5.2): store verified deliveries fast, apply them in a worker.

Intake (:func:`store_delivery`) does no tracker call: it inserts one ``inbound_event`` row with
``ON CONFLICT (source_id, delivery_id) DO NOTHING`` (a redelivery is recognised and dropped) and
returns. The worker (:class:`InboxProcessor`) applies pending rows through the same guarded
writer as the sync (an old delivery can never move an item back in time; applying one twice
changes nothing), re-fetches what partial payloads lack, and retries failures with backoff.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from connectors.base import Connector, SupportsRedelivery
from connectors.errors import ConnectorError, Gone, Moved, NotFound
from connectors.records import ItemRef, TrackerKind, WebhookEvent
from sync.engine import mark_deleted, move_item, rename_item
from sync.membership import recompute_membership
from sync.model import InboundEvent, Source, WorkItem
from sync.upsert import insert_for
from sync.writer import ItemWriter, resolve_references

__all__ = ["DeliveryMeta", "InboxProcessor", "delivery_meta", "redeliver_failed", "store_delivery"]

log = logging.getLogger("crosstrack.sync.inbox")

MAX_ATTEMPTS = 12  # with exponential backoff capped at an hour: about half a day of retries


@dataclass(frozen=True, slots=True)
class DeliveryMeta:
    delivery_id: str
    event_type: str
    action: str | None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def delivery_meta(
    kind: TrackerKind, headers: Mapping[str, str], body: bytes, payload: Mapping[str, Any]
) -> DeliveryMeta:
    """Delivery id and event type, from the headers each tracker sends (a body digest if absent)."""
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    if kind is TrackerKind.GITHUB:
        event = _header(headers, "X-GitHub-Event") or "unknown"
        action = payload.get("action")
        return DeliveryMeta(
            _header(headers, "X-GitHub-Delivery") or digest, event, str(action) if action else None
        )
    event = str(payload.get("webhookEvent") or "unknown")
    return DeliveryMeta(_header(headers, "X-Atlassian-Webhook-Identifier") or digest, event, None)


def store_delivery(session: Session, source: Source, meta: DeliveryMeta, payload: Mapping[str, Any]) -> bool:
    """Insert the delivery into the inbox; False when it was already there (a redelivery)."""
    stmt = (
        insert_for(session, InboundEvent)
        .values(
            source_id=source.id,
            delivery_id=meta.delivery_id,
            event_type=meta.event_type[:64],
            action=meta.action[:64] if meta.action else None,
            payload=dict(payload),
            received_at=datetime.now(UTC),
            attempts=0,
        )
        .on_conflict_do_nothing(index_elements=["source_id", "delivery_id"])
        .returning(InboundEvent.id)
    )
    inserted = session.execute(stmt).scalar() is not None
    session.execute(update(Source).where(Source.id == source.id).values(last_webhook_at=datetime.now(UTC)))
    return inserted


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(3600, 2 ** min(attempts, 12)))


class InboxProcessor:
    """Applies pending inbox rows. Safe to run in several processes: each row is claimed first."""

    def __init__(self, sessions: sessionmaker[Session], connector_for: Callable[[str], Connector]) -> None:
        self.sessions = sessions
        self.connector_for = connector_for

    def pending(self, session: Session, limit: int) -> list[InboundEvent]:
        now = datetime.now(UTC)
        query = (
            select(InboundEvent)
            .where(
                InboundEvent.handled_at.is_(None),
                InboundEvent.attempts < MAX_ATTEMPTS,
                or_(InboundEvent.next_attempt_at.is_(None), InboundEvent.next_attempt_at <= now),
            )
            .order_by(InboundEvent.id)
            .limit(limit)
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return list(session.scalars(query))

    def process_pending(self, limit: int = 200) -> int:
        """Apply up to ``limit`` due events; return how many were handled (applied or ignored)."""
        handled = 0
        with self.sessions() as session:
            events = self.pending(session, limit)
            if not events:
                return 0
            sources = {s.id: s for s in session.scalars(select(Source))}
            touched = False
            for event in events:
                source = sources[event.source_id]
                try:
                    with session.begin_nested():
                        touched |= self._apply(session, source, event)
                    event.handled_at = datetime.now(UTC)
                    event.last_error = None
                    handled += 1
                except Exception as exc:  # recorded on the row, retried with backoff
                    event.attempts += 1
                    event.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                    event.next_attempt_at = datetime.now(UTC) + _backoff(event.attempts)
                    level = logging.WARNING if isinstance(exc, ConnectorError) else logging.ERROR
                    log.log(
                        level,
                        "inbox.event.failed",
                        extra={"delivery": event.delivery_id, "error": event.last_error},
                    )
            if touched:
                resolve_references(session)
                recompute_membership(session)
            session.commit()
        return handled

    def _apply(self, session: Session, source: Source, row: InboundEvent) -> bool:
        connector = self.connector_for(source.name)
        headers = {
            "X-GitHub-Event": row.event_type,
            "X-GitHub-Delivery": row.delivery_id,
            "X-Atlassian-Webhook-Identifier": row.delivery_id,
        }
        event = connector.parse_webhook(headers, orjson.dumps(row.payload))
        row.attempts += 1
        if event.ignored_reason:
            return False
        return apply_event(session, source, connector, event)


def apply_event(session: Session, source: Source, connector: Connector, event: WebhookEvent) -> bool:
    """Apply one parsed event to the model; True when items may have changed."""
    writer = ItemWriter(session, source)
    changed = False
    if event.release is not None:
        writer.upsert_releases([event.release])
    if event.sprint is not None:
        writer.upsert_sprints([event.sprint])
    # A move first, so that the item payload below updates the moved row instead of adding a twin.
    for old, new in event.moved:
        item_id = _find(session, source, old)
        if item_id is not None and old.key != new.key:
            new_id = new.external_id if new.external_id != old.external_id else None
            move_item(session, source.id, item_id, old.key, new.key, new_id)
            changed = True
    if event.item is not None:
        writer.write([event.item])
        changed = True
    deleted = [i for i in (_find(session, source, ref) for ref in event.deleted) if i is not None]
    if deleted:
        mark_deleted(session, deleted, event.occurred_at or datetime.now(UTC))
        changed = True
    if event.deleted_scope:
        ids = list(
            session.scalars(
                select(WorkItem.id).where(
                    WorkItem.source_id == source.id, WorkItem.scope == event.deleted_scope
                )
            )
        )
        if ids:
            mark_deleted(session, ids, event.occurred_at or datetime.now(UTC))
            changed = True
    for ref in event.refetch:
        changed |= _refetch(session, source, connector, writer, ref)
    return changed


def _refetch(
    session: Session, source: Source, connector: Connector, writer: ItemWriter, ref: ItemRef
) -> bool:
    try:
        writer.write([connector.fetch_item(ref)])
    except Moved as exc:
        item_id = _find(session, source, ref)
        if item_id is not None and exc.new_location:
            rename_item(session, item_id, ref.key, exc.new_location)
    except (Gone, NotFound):
        item_id = _find(session, source, ref)
        if item_id is not None:
            mark_deleted(session, [item_id], datetime.now(UTC))
    return True


def _find(session: Session, source: Source, ref: ItemRef) -> int | None:
    if ref.external_id:
        found = session.scalar(
            select(WorkItem.id).where(
                WorkItem.source_id == source.id, WorkItem.external_id == ref.external_id
            )
        )
        if found is not None:
            return found
    return session.scalar(
        select(WorkItem.id).where(WorkItem.source_id == source.id, WorkItem.key == ref.key).limit(1)
    )


def redeliver_failed(
    runtime_connector_for: Callable[[str], Connector], sources: list[str], window: timedelta
) -> int:
    """Ask trackers that do not retry (GitHub) to redeliver our failed deliveries of the last ``window``."""
    asked = 0
    since = datetime.now(UTC) - window
    for name in sources:
        connector = runtime_connector_for(name)
        if isinstance(connector, SupportsRedelivery):
            try:
                asked += connector.redeliver_failed(since, f"/webhooks/github/{name}")
            except ConnectorError as exc:
                log.warning("inbox.redelivery.failed", extra={"source": name, "error": str(exc)})
    return asked
