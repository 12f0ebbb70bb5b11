"""Scale-out background work on procrastinate (PostgreSQL), docs/adr/0002.

The task functions call the same engine and inbox code as the single-node runner; only the
scheduling differs:
- ``sync_source`` runs with ``lock=source:<name>`` (one sync per source at a time, across all
  workers) and is deferred with ``queueing_lock=sync:<name>`` (at most one pending per source);
- ``process_inbox`` is deferred by the webhook intake *on the intake's own database connection*,
  so the job exists if and only if the inbox row was committed;
- periodic tasks: ``schedule_syncs`` (incremental per source when due, reconcile hourly),
  ``sweep_inbox`` (re-queues deliveries left unhandled), ``retry_stalled_jobs`` (a killed worker's
  job goes back to the queue once its heartbeat stops).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from procrastinate import App, Blueprint, PsycopgConnector, exceptions
from procrastinate.jobs import Status
from sqlalchemy import exists, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from sync.inbox import InboxProcessor, redeliver_failed
from sync.model import InboundEvent, Source, SyncCursor
from sync.runtime import Runtime
from sync.views.burnup import take_snapshots

__all__ = ["apply_job_schema", "bind_runtime", "build_app", "defer_inbox", "defer_sync", "tasks"]

log = logging.getLogger("crosstrack.sync.tasks")

tasks = Blueprint()
_runtime: Runtime | None = None
_app: App | None = None
_stalled_after: float = 30.0


def libpq_url(database_url: str) -> str:
    """procrastinate speaks psycopg directly: drop SQLAlchemy's ``+driver`` from the URL."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        raise ValueError("scaled-out workers need PostgreSQL (CROSSTRACK_DATABASE_URL=postgresql://...)")
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def build_app(database_url: str) -> App:
    app = App(connector=PsycopgConnector(conninfo=libpq_url(database_url)))
    app.add_tasks_from(tasks, namespace="crosstrack")
    return app


def bind_runtime(runtime: Runtime, *, stalled_after: float = 30.0) -> App:
    """Make the tasks use ``runtime`` (sessions, connectors) and return the procrastinate app.

    ``stalled_after``: seconds without a worker heartbeat after which its jobs are retried.
    """
    global _runtime, _app, _stalled_after
    _runtime = runtime
    _stalled_after = stalled_after
    _app = build_app(runtime.settings.database_url)
    return _app


def _rt() -> Runtime:
    if _runtime is None:
        raise RuntimeError("crosstrack tasks need bind_runtime() first (crosstrack worker does it)")
    return _runtime


def apply_job_schema(database_url: str) -> bool:
    """Install procrastinate's own schema once (it versions itself); True when it was installed now."""
    import psycopg

    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        present = conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL").fetchone()
        if present and present[0]:
            return False
    app = build_app(database_url)
    with app.open():
        app.schema_manager.apply_schema()
    return True


# -- deferring -----------------------------------------------------------------------------------


def defer_sync(
    app: App, source: str, *, full: bool = False, kind: str = "incremental", connection: Any = None
) -> int | None:
    """Queue a sync of ``source``; None when one is already pending (the queueing lock)."""
    try:
        return app.configure_task(
            "crosstrack:sync_source",
            lock=f"source:{source}",
            queueing_lock=f"{kind}:{source}",
            connection=connection,
        ).defer(source=source, full=full, kind=kind)
    except exceptions.AlreadyEnqueued:
        return None


def defer_inbox(app: App, session: Session) -> None:
    """Queue inbox processing inside ``session``'s transaction (commits or rolls back with it).

    When a job is already pending, procrastinate's insert hits the queueing lock's unique index,
    and on PostgreSQL a failed statement aborts the whole transaction: the inbox rows inserted
    before it would then be rolled back by the COMMIT (which PostgreSQL answers with ROLLBACK,
    silently) after the intake was told they were stored (found by
    tests/api/test_webhooks.py::test_scaled_out_the_inbox_job_is_queued_with_the_rows). So the
    defer runs in a savepoint, and only the savepoint is rolled back.
    """
    raw = session.connection().connection.driver_connection
    assert raw is not None
    try:
        # psycopg's own savepoint: procrastinate writes on the driver connection, where
        # SQLAlchemy's (lazily emitted) begin_nested() would not be.
        with raw.transaction():
            app.configure_task(
                "crosstrack:process_inbox", lock="inbox", queueing_lock="inbox", connection=raw
            ).defer()
    except exceptions.AlreadyEnqueued:
        pass  # only the savepoint was rolled back; a pending job will see these rows too


# -- the tasks -------------------------------------------------------------------------------------


@tasks.task(name="sync_source", retry=False)
def sync_source(source: str, full: bool = False, kind: str = "incremental") -> dict[str, Any]:
    engine = _rt().sync_engine()
    summary = engine.reconcile(source) if kind == "reconcile" else engine.sync(source, full=full)
    return {"status": summary.status, "seen": summary.written.seen, "error": summary.error}


@tasks.task(name="process_inbox", retry=False)
def process_inbox() -> int:
    runtime = _rt()
    processor = InboxProcessor(runtime.sessions, runtime.connector_for)
    total = 0
    while (handled := processor.process_pending()) > 0:
        total += handled
    with runtime.sessions() as session:  # this job ends: settle membership now, not later
        processor.settle(session, force=True)
        session.commit()
    return total


@tasks.periodic(cron="* * * * *", periodic_id="schedule_syncs")
@tasks.task(name="schedule_syncs", queueing_lock="schedule_syncs", retry=False)
def schedule_syncs(timestamp: int) -> list[str]:
    """Every minute: queue an incremental sync for each source that is due, reconciles hourly."""
    runtime = _rt()
    assert _app is not None
    settings = runtime.settings
    now = datetime.now(UTC)
    queued: list[str] = []
    with runtime.sessions() as session:
        rows = session.execute(
            select(Source.name, SyncCursor.last_incremental_at, SyncCursor.last_reconcile_at).outerjoin(
                SyncCursor, (SyncCursor.source_id == Source.id) & (SyncCursor.scope == "")
            )
        ).all()
    for name, last_sync, last_reconcile in rows:
        if last_sync is None or now - last_sync >= timedelta(seconds=settings.sync_interval_seconds):
            if defer_sync(_app, name) is not None:
                queued.append(f"sync:{name}")
        # Reconcile needs something to reconcile: its clock starts with the first sync.
        since = last_reconcile or last_sync
        if since is not None and now - since >= timedelta(seconds=settings.reconcile_interval_seconds):
            if defer_sync(_app, name, kind="reconcile") is not None:
                queued.append(f"reconcile:{name}")
    return queued


@tasks.periodic(cron="* * * * *", periodic_id="sweep_inbox")
@tasks.task(name="sweep_inbox", queueing_lock="sweep_inbox", retry=False)
def sweep_inbox(timestamp: int) -> bool:
    """Every minute: a delivery left unhandled (or due for a retry) gets a job again."""
    runtime = _rt()
    assert _app is not None
    with runtime.sessions() as session:
        pending = session.scalar(select(exists().where(InboundEvent.handled_at.is_(None))))
    if pending:
        try:
            _app.configure_task("crosstrack:process_inbox", lock="inbox", queueing_lock="inbox").defer()
        except exceptions.AlreadyEnqueued:
            pass
    return bool(pending)


@tasks.periodic(cron="* * * * *", periodic_id="retry_stalled_jobs")
@tasks.task(name="retry_stalled_jobs", queueing_lock="retry_stalled_jobs", retry=False, pass_context=True)
async def retry_stalled_jobs(context: Any, timestamp: int) -> int:
    """A worker killed mid-job stops its heartbeat; its job is handed to another worker."""
    manager = context.app.job_manager
    stalled = list(await manager.get_stalled_jobs(seconds_since_heartbeat=_stalled_after))
    for job in stalled:
        try:
            await manager.retry_job(job)
            log.warning("tasks.stalled_job.retried", extra={"job": job.id, "task": job.task_name})
        except exceptions.ProcrastinateException:
            # The same work is already queued (its queueing lock is taken): that job resumes from
            # the committed cursor, so this one only has to release its lock.
            await manager.finish_job(job, status=Status.FAILED, delete_job=False)
            log.warning("tasks.stalled_job.superseded", extra={"job": job.id, "task": job.task_name})
    return len(stalled)


@tasks.periodic(cron="*/10 * * * *", periodic_id="redeliver_failed")
@tasks.task(name="redeliver_failed", queueing_lock="redeliver_failed", retry=False)
def redeliver_failed_deliveries(timestamp: int) -> int:
    """Every ten minutes: GitHub does not retry failed deliveries; ask it to, for the last hour."""
    runtime = _rt()
    return redeliver_failed(runtime.connector_for, runtime.source_names(), timedelta(hours=1))


@tasks.periodic(cron="5 0 * * *", periodic_id="take_snapshots")
@tasks.task(name="take_snapshots", queueing_lock="take_snapshots", retry=False)
def daily_snapshots(timestamp: int) -> None:
    """Once a day: the burnup snapshot of every program (scope and done, per program/team/epic)."""
    runtime = _rt()
    with runtime.sessions.begin() as session:
        take_snapshots(session, datetime.now(UTC).date())
