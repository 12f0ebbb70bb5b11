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
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from connectors.base import Connector, SupportsRedelivery
from connectors.errors import ConnectorError, Gone, Moved, NotFound
from connectors.records import ItemRef, TrackerKind, WebhookEvent, WorkItemRecord
from sync.engine import mark_deleted, move_item, rename_item
from sync.model import InboundEvent, Source, WorkItem
from sync.programs import recompute_program_membership as recompute_membership
from sync.upsert import insert_for
from sync.writer import ItemWriter, resolve_references

__all__ = ["DeliveryMeta", "InboxProcessor", "delivery_meta", "redeliver_failed", "store_delivery"]

log = logging.getLogger("crosstrack.sync.inbox")

MAX_ATTEMPTS = 12
SETTLE_SECONDS = 3.0  # with exponential backoff capped at an hour: about half a day of retries


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
    # Source.last_webhook_at is kept by the worker: updating one shared row per delivery here
    # would serialize concurrent deliveries on that row.
    return session.execute(stmt).scalar() is not None


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
        # No row locks: rows are applied in their own transactions later, and one inbox job runs at
        # a time (procrastinate lock "inbox"; one inbox thread on a single node).
        return list(session.scalars(query))

    def process_pending(self, limit: int = 200) -> int:
        """Apply up to ``limit`` due events; return how many were handled (applied or ignored).

        Network work (parsing that needs discovery, re-fetching partial payloads) happens outside
        any database transaction; each event is then applied in its own short transaction. On a
        single-node SQLite install that keeps the write lock free for the webhook intake.
        """
        with self.sessions() as session:
            due = [
                (e.id, e.source_id, e.event_type, e.delivery_id, e.payload, e.received_at)
                for e in self.pending(session, limit)
            ]
            names = {s.id: s.name for s in session.scalars(select(Source))}
            session.rollback()
        if not due:
            if self._dirty:  # nothing new: settle what the last deliveries changed once it is due
                with self.sessions() as session:
                    self.settle(session)
                    session.commit()
            return 0
        handled = 0
        last_seen: dict[int, datetime] = {}
        for event_id, source_id, event_type, delivery_id, payload, received_at in due:
            name = names[source_id]
            connector = self.connector_for(name)
            parsed: WebhookEvent | None = None
            fetched: dict[str, WorkItemRecord | ConnectorError] = {}
            error: Exception | None = None
            try:
                headers = {
                    "X-GitHub-Event": event_type,
                    "X-GitHub-Delivery": delivery_id,
                    "X-Atlassian-Webhook-Identifier": delivery_id,
                }
                parsed = connector.parse_webhook(headers, orjson.dumps(payload))
                if not parsed.ignored_reason:
                    fetched = _prefetch(connector, parsed)
            except Exception as exc:  # recorded on the row below, retried with backoff
                error = exc
            with self.sessions() as session:
                row = session.get(InboundEvent, event_id)
                if row is None or row.handled_at is not None:
                    continue
                row.attempts += 1
                if error is None and parsed is not None and not parsed.ignored_reason:
                    try:
                        with session.begin_nested():
                            source = session.get(Source, source_id)
                            assert source is not None
                            if apply_event(session, source, connector, parsed, fetched):
                                self._dirty = True
                    except Exception as exc:
                        error = exc
                if error is None:
                    row.handled_at = datetime.now(UTC)
                    row.last_error = None
                    handled += 1
                else:
                    row.last_error = f"{type(error).__name__}: {error}"[:2000]
                    row.next_attempt_at = datetime.now(UTC) + _backoff(row.attempts)
                    level = logging.WARNING if isinstance(error, ConnectorError) else logging.ERROR
                    log.log(
                        level, "inbox.event.failed", extra={"delivery": delivery_id, "error": row.last_error}
                    )
                session.commit()
            last_seen[source_id] = max(received_at, last_seen.get(source_id, received_at))
        with self.sessions() as session:
            for source_id, at in last_seen.items():
                session.execute(
                    update(Source)
                    .where(
                        Source.id == source_id,
                        or_(Source.last_webhook_at.is_(None), Source.last_webhook_at < at),
                    )
                    .values(last_webhook_at=at)
                )
            self.settle(session)
            session.commit()
        return handled

    _dirty: bool = False
    _settled_at: float = 0.0

    def settle(self, session: Session, *, force: bool = False) -> None:
        """Resolve references and recompute program membership after applied events.

        Membership is a whole-model pass: done at most every ``SETTLE_SECONDS`` (the item changes
        themselves are visible at once; membership follows within seconds).
        """
        if not self._dirty:
            return
        now = time.monotonic()
        if not force and now - self._settled_at < SETTLE_SECONDS:
            return
        resolve_references(session)
        recompute_membership(session)
        self._dirty = False
        self._settled_at = now


def _prefetch(connector: Connector, event: WebhookEvent) -> dict[str, WorkItemRecord | ConnectorError]:
    """Read what a partial payload lacks, before any database transaction is opened."""
    out: dict[str, WorkItemRecord | ConnectorError] = {}
    for ref in event.refetch:
        try:
            out[ref.key] = connector.fetch_item(ref)
        except (Moved, Gone, NotFound) as exc:
            out[ref.key] = exc
    return out


def apply_event(
    session: Session,
    source: Source,
    connector: Connector,
    event: WebhookEvent,
    fetched: dict[str, WorkItemRecord | ConnectorError] | None = None,
) -> bool:
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
        result = fetched[ref.key] if fetched is not None and ref.key in fetched else _fetch(connector, ref)
        changed |= _apply_fetched(session, source, writer, ref, result)
    return changed


def _fetch(connector: Connector, ref: ItemRef) -> WorkItemRecord | ConnectorError:
    try:
        return connector.fetch_item(ref)
    except (Moved, Gone, NotFound) as exc:
        return exc


def _apply_fetched(
    session: Session,
    source: Source,
    writer: ItemWriter,
    ref: ItemRef,
    result: WorkItemRecord | ConnectorError,
) -> bool:
    if isinstance(result, Moved):
        item_id = _find(session, source, ref)
        if item_id is not None and result.new_location:
            rename_item(session, item_id, ref.key, result.new_location)
    elif isinstance(result, (Gone, NotFound)):
        item_id = _find(session, source, ref)
        if item_id is not None:
            mark_deleted(session, [item_id], datetime.now(UTC))
    elif isinstance(result, ConnectorError):
        raise result
    else:
        writer.write([result])
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
