"""Sources: status, runs, inbox problems, and a sync trigger (editor) that never blocks."""

from __future__ import annotations

import logging
import threading
from typing import Annotated, Literal

from fastapi import APIRouter, FastAPI, Path, Query, Request
from pydantic import BaseModel

from api.deps import DbSession, Editor, Viewer
from api.errors import ApiError, error_responses
from sync.tasks import defer_sync
from sync.views.sources import EventOut, RunOut, SourceStatus, list_events, list_runs, source_status

log = logging.getLogger("crosstrack.api.sources")

router = APIRouter(prefix="/api/v1/sources", tags=["sources"], responses=error_responses(401, 403, 404, 422))

Name = Annotated[
    str,
    Path(
        max_length=64,
        pattern=r"^[a-z0-9][a-z0-9_-]*$",
        description="Source name from the config file.",
        examples=["jira"],
    ),
]


class SyncQueued(BaseModel):
    source: str
    full: bool
    status: Literal["queued", "already_running"]


_running: set[str] = set()
_running_lock = threading.Lock()


def trigger_sync(app: FastAPI, name: str, full: bool) -> Literal["queued", "already_running"]:
    """Start a sync of ``name`` in a background thread (one at a time per source).

    The one place to change when syncs go through procrastinate instead.
    """
    jobs = getattr(app.state, "jobs", None)
    if jobs is not None:  # scaled out: a worker runs it (one per source; one pending per source)
        return "queued" if defer_sync(jobs, name, full=full) is not None else "already_running"
    runtime = getattr(app.state, "runtime", None)
    if runtime is None:
        raise ApiError(409, "this server has no config file loaded, so it cannot run syncs")
    runner = getattr(app.state, "runner", None)
    if runner is not None:  # single node: share the scheduler's per-source lock
        if runner.is_running(name):
            return "already_running"
        threading.Thread(
            target=runner.run_source,
            args=(name,),
            kwargs={"full": full},
            name=f"crosstrack-sync-{name}",
            daemon=True,
        ).start()
        return "queued"
    with _running_lock:
        if name in _running:
            return "already_running"
        _running.add(name)

    def run() -> None:
        try:
            summary = runtime.sync_engine().sync(name, full=full)
            if not summary.ok:
                log.warning("api.sync_trigger.failed", extra={"source": name, "error": summary.error})
        except Exception:
            log.exception("api.sync_trigger.crashed", extra={"source": name})
        finally:
            with _running_lock:
                _running.discard(name)

    threading.Thread(target=run, name=f"crosstrack-sync-{name}", daemon=True).start()
    return "queued"


@router.get(
    "/{name}",
    summary="One source: freshness, item count, last run, inbox",
    response_model=SourceStatus,
    dependencies=[Viewer],
)
def get_source(name: Name, session: DbSession) -> SourceStatus:
    status = source_status(session, name)
    if status is None:
        raise ApiError(404, f"no source {name!r}")
    return status


@router.get(
    "/{name}/runs", summary="Sync runs, newest first", response_model=list[RunOut], dependencies=[Viewer]
)
def get_runs(name: Name, session: DbSession, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[RunOut]:
    runs = list_runs(session, name, limit)
    if runs is None:
        raise ApiError(404, f"no source {name!r}")
    return runs


@router.get(
    "/{name}/events",
    summary="Webhook deliveries not applied yet: failed (with the error) or pending",
    response_model=list[EventOut],
    dependencies=[Viewer],
)
def get_events(
    name: Name,
    session: DbSession,
    state: Literal["failed", "pending"] = "failed",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[EventOut]:
    events = list_events(session, name, state, limit)
    if events is None:
        raise ApiError(404, f"no source {name!r}")
    return events


@router.post(
    "/{name}/sync",
    summary="Trigger a sync (editor); answers 202 at once, the run shows up under /runs",
    status_code=202,
    response_model=SyncQueued,
    dependencies=[Editor],
    responses=error_responses(409),
)
def post_sync(
    name: Name,
    session: DbSession,
    request: Request,
    full: Annotated[
        bool, Query(description="Re-read everything instead of changes since the last run.")
    ] = False,
) -> SyncQueued:
    if source_status(session, name) is None:
        raise ApiError(404, f"no source {name!r}")
    return SyncQueued(source=name, full=full, status=trigger_sync(request.app, name, full))
