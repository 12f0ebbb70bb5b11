"""The sync engine: full, incremental and reconcile runs per source (PRODUCT §5.1).

The rule that makes a crash harmless: each batch's items and the cursor that follows them are
committed in **one** transaction. A run killed at any instant leaves either the batch and its
cursor, or neither; the next run resumes from the last committed cursor (overlap + guarded
upserts make the repeated part a no-op). A run never deletes data it could not re-read: a failed
run is recorded with its error and the previous data stays.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import delete, or_, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from connectors.base import Connector
from connectors.errors import ConnectorError
from connectors.records import ItemRef, TrackerKind, WorkItemRecord
from sync.db import write_lock
from sync.model import Link, Source, SyncCursor, SyncRun, WorkItem
from sync.programs import recompute_program_membership as recompute_membership
from sync.writer import ItemWriter, WriteResult, follow_rename, resolve_references, waiting_keys

__all__ = ["ProgressFn", "RunKind", "RunSummary", "SourceUnavailable", "SyncEngine"]

log = logging.getLogger("crosstrack.sync.engine")

RunKind = Literal["full", "incremental", "reconcile"]
#: At most this many missing items are read one by one in a reconcile (more means: run a full sync).
MAX_REPAIR_READS = 500
#: Items written and committed together in a run (with the cursor that follows them); the
#: ``CROSSTRACK_SYNC_BATCH_ITEMS`` setting.
WRITE_BATCH = 1000
#: ... or whatever has been read after this many seconds.
FLUSH_SECONDS = 1.0
#: Called after every committed batch: (source name, items seen so far in this run).
ProgressFn = Callable[[str, int], None]


class SourceUnavailable(LookupError):
    """The source cannot be used: not in the database / config file, or its credentials are missing."""


@dataclass(slots=True)
class RunSummary:
    source: str
    kind: RunKind
    status: str
    run_id: int
    written: WriteResult = field(default_factory=WriteResult)
    deleted: int = 0
    moved: int = 0
    requests: int = 0
    not_modified: int = 0
    rate_limit_waits: int = 0
    seconds: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"


class SyncEngine:
    """Runs syncs for sources, building each source's connector through ``connector_for``."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        connector_for: Callable[[str], Connector],
        *,
        keep_raw: bool = True,
        write_batch: int = WRITE_BATCH,
    ) -> None:
        self.sessions = sessions
        self.connector_for = connector_for
        self.keep_raw = keep_raw
        self.write_batch = write_batch

    # -- helpers --------------------------------------------------------------------------------

    def _source(self, session: Session, name: str) -> Source:
        source = session.scalar(select(Source).where(Source.name == name))
        if source is None:
            raise SourceUnavailable(f"no source named {name!r}; is it in the config file?")
        return source

    @staticmethod
    def _cursor_row(session: Session, source: Source) -> SyncCursor:
        row = session.scalar(
            select(SyncCursor).where(SyncCursor.source_id == source.id, SyncCursor.scope == "")
        )
        if row is None:
            row = SyncCursor(source_id=source.id, scope="")
            session.add(row)
            session.flush()
        return row

    def _start(self, name: str, kind: RunKind) -> int:
        with self.sessions.begin() as session:
            source = self._source(session, name)
            run = SyncRun(source_id=source.id, kind=kind, status="running")
            session.add(run)
            session.flush()
            return run.id

    def _finish(self, summary: RunSummary, connector: Connector | None, started: float) -> RunSummary:
        summary.seconds = time.perf_counter() - started
        if connector is not None:
            stats = connector.stats
            summary.requests = stats.requests
            summary.not_modified = stats.not_modified
            summary.rate_limit_waits = stats.rate_limit_waits
        with self.sessions.begin() as session:
            run = session.get(SyncRun, summary.run_id)
            assert run is not None
            run.status = summary.status
            run.finished_at = datetime.now(UTC)
            run.items_seen = summary.written.seen
            run.items_created = summary.written.created
            run.items_updated = summary.written.updated
            run.items_deleted = summary.deleted
            run.links_written = summary.written.links
            run.requests = summary.requests
            run.not_modified = summary.not_modified
            run.rate_limit_waits = summary.rate_limit_waits
            if connector is not None:
                run.rate_limit_wait_seconds = connector.stats.rate_limit_wait_seconds
            run.errors = 0 if summary.ok else 1
            run.error_message = summary.error
            run.duration_ms = int(summary.seconds * 1000)
        log.info(
            "sync.source.finished",
            extra={
                "source": summary.source,
                "kind": summary.kind,
                "status": summary.status,
                "error": summary.error,
            },
        )
        return summary

    # -- runs -------------------------------------------------------------------------------------

    def sync(self, name: str, *, full: bool = False, progress: ProgressFn | None = None) -> RunSummary:
        """A full or incremental run. Never raises for tracker trouble: the summary says it."""
        kind: RunKind = "full" if full else "incremental"
        try:
            run_id = self._start(name, kind)
        except SourceUnavailable as exc:
            return RunSummary(source=name, kind=kind, status="failed", run_id=0, error=str(exc))
        summary = RunSummary(source=name, kind=kind, status="running", run_id=run_id)
        started = time.perf_counter()
        connector: Connector | None = None
        try:
            connector = self.connector_for(name)
            with self.sessions() as session:
                source = self._source(session, name)
                cursor_row = self._cursor_row(session, source)
                cursor = None if full else cursor_row.cursor
                session.commit()
                writer = ItemWriter(session, source, keep_raw=self.keep_raw, waiting=waiting_keys(session))
                session.commit()  # no transaction (on SQLite: no write lock) while pages are read
                lock = write_lock(self.sessions)
                pending: list[WorkItemRecord] = []
                pending_cursor: str | None = None
                flushed_at = time.monotonic()

                def flush() -> None:
                    nonlocal pending, pending_cursor, flushed_at
                    # SQLite: queue for the write lock in arrival order with this process's webhook
                    # intake and inbox worker (docs/adr/0011), not in SQLite's sleeping busy handler.
                    with lock:
                        summary.written.add(writer.write(pending))
                        if pending_cursor is not None:
                            cursor_row.cursor = pending_cursor
                        session.commit()  # the items and the cursor that follows them, together
                    pending, pending_cursor, flushed_at = [], None, time.monotonic()
                    if progress:
                        progress(name, summary.written.seen)

                # Pages are written WRITE_BATCH items at a time (fewer statements and commits per
                # item), and at least every FLUSH_SECONDS so a slow source still shows progress.
                for batch in connector.list_changed(cursor):
                    pending.extend(batch.items)
                    if batch.cursor is not None:
                        pending_cursor = batch.cursor
                    if len(pending) >= self.write_batch or time.monotonic() - flushed_at >= FLUSH_SECONDS:
                        flush()
                if pending or pending_cursor is not None:
                    flush()
                with lock:
                    resolve_references(session)
                    recompute_membership(session)
                    if full and session.get_bind().dialect.name == "postgresql":
                        # A full sync may have grown the tables many times over: fresh planner
                        # statistics now, rather than when autovacuum gets to it.
                        for table in ("work_item", "link", "status_change", "program_item"):
                            session.execute(text(f"ANALYZE {table}"))
                    now = datetime.now(UTC)
                    if full:
                        cursor_row.last_full_sync_at = now
                    cursor_row.last_incremental_at = now
                    source.last_synced_at = now
                    session.commit()
            summary.status = "succeeded"
        except ConnectorError as exc:
            summary.status, summary.error = "failed", str(exc)
        except SourceUnavailable as exc:
            summary.status, summary.error = "failed", str(exc)
        except Exception as exc:  # a bug must not stop the other sources; the log has the traceback
            log.exception("sync.source.crashed", extra={"source": name})
            summary.status, summary.error = "failed", f"internal error: {type(exc).__name__}: {exc}"
        return self._finish(summary, connector, started)

    def reconcile(self, name: str) -> RunSummary:
        """Find deleted and moved items (PRODUCT §5.1) and mark them; never drops history."""
        try:
            run_id = self._start(name, "reconcile")
        except SourceUnavailable as exc:
            return RunSummary(source=name, kind="reconcile", status="failed", run_id=0, error=str(exc))
        summary = RunSummary(source=name, kind="reconcile", status="running", run_id=run_id)
        started = time.perf_counter()
        connector: Connector | None = None
        try:
            connector = self.connector_for(name)
            with self.sessions() as session:
                source = self._source(session, name)
                known = session.execute(
                    select(WorkItem.id, WorkItem.external_id, WorkItem.key, WorkItem.tracker).where(
                        WorkItem.source_id == source.id, WorkItem.deleted_at.is_(None)
                    )
                ).all()
                refs = [ItemRef(tracker, key, ext) for _, ext, key, tracker in known]
                result = connector.reconcile(refs)
                by_ext = {ext: (item_id, key) for item_id, ext, key, _ in known}
                now = datetime.now(UTC)
                gone = [
                    item_id
                    for ext, (item_id, _) in by_ext.items()
                    if ext not in result.present_ids and ext not in result.moved
                ]
                gone += [
                    by_ext[ext][0]
                    for ext in result.deleted_ids
                    if ext in by_ext and by_ext[ext][0] not in gone
                ]
                if gone:
                    mark_deleted(session, gone, now)
                for ext, new_key in result.moved.items():
                    if ext in by_ext and by_ext[ext][1] != new_key:
                        move_item(
                            session,
                            source.id,
                            by_ext[ext][0],
                            by_ext[ext][1],
                            new_key,
                            result.new_ids.get(ext),
                        )
                        summary.moved += 1
                summary.deleted = len(gone)
                # Items the tracker has that the model lacks (a scan can miss one when an issue is
                # deleted while it pages, and Jira Cloud gives no total to notice it): read them.
                if source.kind is TrackerKind.JIRA:
                    unknown = sorted(result.present_ids - set(by_ext) - set(result.new_ids.values()))
                    writer = ItemWriter(session, source, keep_raw=self.keep_raw)
                    for ext in unknown[:MAX_REPAIR_READS]:
                        summary.written.add(
                            writer.write([connector.fetch_item(ItemRef(TrackerKind.JIRA, "", ext))])
                        )
                cursor_row = self._cursor_row(session, source)
                cursor_row.last_reconcile_at = now
                resolve_references(session)
                recompute_membership(session)
                session.commit()
            summary.status = "succeeded"
        except (ConnectorError, SourceUnavailable) as exc:
            summary.status, summary.error = "failed", str(exc)
        except Exception as exc:
            log.exception("sync.reconcile.crashed", extra={"source": name})
            summary.status, summary.error = "failed", f"internal error: {type(exc).__name__}: {exc}"
        return self._finish(summary, connector, started)


def mark_deleted(session: Session, item_ids: list[int], when: datetime) -> None:
    """Deleted in the tracker: keep the row (history, reports) but hide it and drop its links."""
    session.execute(
        update(WorkItem)
        .where(WorkItem.id.in_(item_ids))
        .values(deleted_at=when)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        delete(Link).where(
            or_(
                Link.from_item_id.in_(item_ids),
                Link.to_item_id.in_(item_ids),
                Link.declared_by_id.in_(item_ids),
            )
        )
    )
    session.execute(
        update(WorkItem)
        .where(WorkItem.parent_id.in_(item_ids))
        .values(parent_id=None)
        .execution_options(synchronize_session=False)
    )


def move_item(
    session: Session, source_id: int, item_id: int, old_key: str, new_key: str, new_external_id: str | None
) -> None:
    """A moved item. A GitHub transfer also gives the issue a new id: the row takes it, unless a
    row with that id arrived already (then the old row is the stale twin and is marked deleted)."""
    if new_external_id is not None:
        twin = session.scalar(
            select(WorkItem.id).where(
                WorkItem.source_id == source_id, WorkItem.external_id == new_external_id
            )
        )
        if twin is not None and twin != item_id:
            mark_deleted(session, [item_id], datetime.now(UTC))
            return
        session.execute(
            update(WorkItem)
            .where(WorkItem.id == item_id)
            .values(external_id=new_external_id)
            .execution_options(synchronize_session=False)
        )
    rename_item(session, item_id, old_key, new_key)


def rename_item(session: Session, item_id: int, old_key: str, new_key: str) -> None:
    """A moved item (Jira key change, GitHub transfer): same row, new key; references follow."""
    item = session.get(WorkItem, item_id)
    assert item is not None
    follow_rename(session, item_id, item.tracker, old_key, new_key)
    session.expire(item)
