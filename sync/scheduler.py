"""Single-node background work (docs/adr/0002): the scheduler and the inbox worker as threads
inside ``crosstrack serve``. Scaled out, the same task functions run on procrastinate instead.

- inbox: applies webhook deliveries as soon as the intake wakes it (and at least every second,
  which also re-queues anything left unhandled or due for a retry);
- scheduler: an incremental sync per source every ``sync_interval`` (first one at start), a
  reconcile every ``reconcile_interval``, a GitHub redelivery request for failed deliveries every
  ten minutes; at most one run per source at a time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from sync.engine import SyncEngine
from sync.inbox import InboxProcessor, redeliver_failed
from sync.runtime import Runtime
from sync.views.burnup import take_snapshots

__all__ = ["BackgroundRunner"]

log = logging.getLogger("crosstrack.sync.scheduler")

#: GitHub does not retry failed deliveries: ask it to every ten minutes (PRODUCT §5.2).
REDELIVERY_INTERVAL = 600.0


class BackgroundRunner:
    def __init__(
        self,
        runtime: Runtime,
        *,
        sync_interval: float,
        reconcile_interval: float,
        initial_sync: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.runtime = runtime
        self.engine: SyncEngine = runtime.sync_engine()
        self.inbox = InboxProcessor(runtime.sessions, runtime.connector_for)
        self.sync_interval = sync_interval
        self.reconcile_interval = reconcile_interval
        self.initial_sync = initial_sync
        self.clock = clock
        self.wakeup = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._source_locks = {name: threading.Lock() for name in runtime.source_names()}

    def start(self) -> None:
        for target, name in ((self._inbox_loop, "inbox"), (self._schedule_loop, "scheduler")):
            thread = threading.Thread(target=target, name=f"crosstrack-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self.wakeup.set()
        for thread in self._threads:
            thread.join(timeout)

    def _inbox_loop(self) -> None:
        while not self._stop.is_set():
            self.wakeup.wait(timeout=1.0)
            self.wakeup.clear()
            try:
                while not self._stop.is_set() and self.inbox.process_pending() > 0:
                    pass
            except Exception:
                log.exception("scheduler.inbox.crashed")
                self._stop.wait(5.0)

    def run_source(self, name: str, kind: str = "incremental", *, full: bool = False) -> bool:
        """Run one sync of ``name`` now, unless one is under way (then False: the next tick covers it)."""
        lock = self._source_locks.setdefault(name, threading.Lock())
        if not lock.acquire(blocking=False):
            return False
        try:
            summary = (
                self.engine.reconcile(name) if kind == "reconcile" else self.engine.sync(name, full=full)
            )
            if not summary.ok:
                log.warning(
                    "scheduler.run.failed", extra={"source": name, "kind": kind, "error": summary.error}
                )
        finally:
            lock.release()
        return True

    def is_running(self, name: str) -> bool:
        lock = self._source_locks.get(name)
        return lock is not None and lock.locked()

    def _schedule_loop(self) -> None:
        now = self.clock()
        names = self.runtime.source_names()
        next_sync = dict.fromkeys(names, now if self.initial_sync else now + self.sync_interval)
        next_reconcile = dict.fromkeys(names, now + self.reconcile_interval)
        next_redelivery = now + REDELIVERY_INTERVAL
        snapshot_day: date | None = None
        while not self._stop.is_set():
            now = self.clock()
            for name in names:
                if self._stop.is_set():
                    return
                if now >= next_sync[name]:
                    next_sync[name] = now + self.sync_interval
                    self.run_source(name, "incremental")
                if now >= next_reconcile[name]:
                    next_reconcile[name] = now + self.reconcile_interval
                    self.run_source(name, "reconcile")
            if now >= next_redelivery:
                next_redelivery = now + REDELIVERY_INTERVAL
                try:
                    redeliver_failed(self.runtime.connector_for, names, timedelta(hours=1))
                except Exception:
                    log.exception("scheduler.redelivery.crashed")
            today = datetime.now(UTC).date()
            if snapshot_day != today:  # the daily burnup snapshot (PRODUCT §6.2), once a day
                snapshot_day = today
                try:
                    with self.runtime.sessions.begin() as session:
                        take_snapshots(session, today)
                except Exception:
                    log.exception("scheduler.snapshots.crashed")
            due = min([*next_sync.values(), *next_reconcile.values(), next_redelivery], default=now + 60)
            self._stop.wait(max(0.5, min(30.0, due - self.clock())))
