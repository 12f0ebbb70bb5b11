"""Sources with their runs and inbox problems (PRODUCT §6.2 sources and runs)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sync.model import InboundEvent, Source, SyncRun, WorkItem

__all__ = ["EventOut", "RunOut", "SourceStatus", "list_events", "list_runs", "source_status"]


class RunOut(BaseModel):
    id: int
    kind: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    items_seen: int
    items_created: int
    items_updated: int
    items_deleted: int
    links_written: int
    requests: int
    not_modified: int
    rate_limit_waits: int
    rate_limit_wait_seconds: float
    errors: int
    error_message: str | None
    duration_ms: int | None


class EventOut(BaseModel):
    id: int
    delivery_id: str
    event_type: str
    action: str | None
    received_at: datetime
    handled_at: datetime | None
    next_attempt_at: datetime | None
    attempts: int
    last_error: str | None


class SourceStatus(BaseModel):
    name: str
    kind: str
    base_url: str
    flavour: str
    credentials_ref: str = Field(description="Where the secret is read from; never the secret itself.")
    last_synced_at: datetime | None
    last_webhook_at: datetime | None
    items: int
    last_run: RunOut | None
    pending_events: int
    failed_events: int


def _source(session: Session, name: str) -> Source | None:
    return session.scalar(select(Source).where(Source.name == name))


def _run(run: SyncRun) -> RunOut:
    return RunOut.model_validate(run, from_attributes=True)


def source_status(session: Session, name: str) -> SourceStatus | None:
    source = _source(session, name)
    if source is None:
        return None
    items = session.scalar(
        select(func.count()).where(WorkItem.source_id == source.id, WorkItem.deleted_at.is_(None))
    )
    last = session.scalars(
        select(SyncRun)
        .where(SyncRun.source_id == source.id)
        .order_by(SyncRun.started_at.desc(), SyncRun.id.desc())
    ).first()
    open_events = select(func.count()).where(
        InboundEvent.source_id == source.id, InboundEvent.handled_at.is_(None)
    )
    pending = session.scalar(open_events.where(InboundEvent.last_error.is_(None)))
    failed = session.scalar(open_events.where(InboundEvent.last_error.is_not(None)))
    return SourceStatus(
        name=source.name,
        kind=source.kind.value,
        base_url=source.base_url,
        flavour=source.flavour,
        credentials_ref=source.credentials_ref,
        last_synced_at=source.last_synced_at,
        last_webhook_at=source.last_webhook_at,
        items=items or 0,
        last_run=_run(last) if last else None,
        pending_events=pending or 0,
        failed_events=failed or 0,
    )


def list_runs(session: Session, name: str, limit: int = 50) -> list[RunOut] | None:
    source = _source(session, name)
    if source is None:
        return None
    runs = session.scalars(
        select(SyncRun)
        .where(SyncRun.source_id == source.id)
        .order_by(SyncRun.started_at.desc(), SyncRun.id.desc())
        .limit(limit)
    )
    return [_run(r) for r in runs]


def list_events(
    session: Session, name: str, state: Literal["failed", "pending"] = "failed", limit: int = 50
) -> list[EventOut] | None:
    """Unhandled deliveries: ``failed`` have an error from their last attempt, ``pending`` not yet."""
    source = _source(session, name)
    if source is None:
        return None
    query = select(InboundEvent).where(InboundEvent.source_id == source.id, InboundEvent.handled_at.is_(None))
    query = query.where(
        InboundEvent.last_error.is_not(None) if state == "failed" else InboundEvent.last_error.is_(None)
    )
    rows = session.scalars(
        query.order_by(InboundEvent.received_at.desc(), InboundEvent.id.desc()).limit(limit)
    )
    return [EventOut.model_validate(r, from_attributes=True) for r in rows]
