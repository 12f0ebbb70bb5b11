"""After a sync the model equals the tracker's truth, and syncs cost what PRODUCT §10 says."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select

from sync.model import SyncCursor, SyncRun, WorkItem
from tests.e2e.conftest import World
from tests.e2e.truth import differences, history_differences


def _ledger_since(world: World, seq: int) -> list[dict]:
    return world.sb.stats(since=seq)["entries"]


def test_initial_sync_equals_truth_then_no_change_costs_one_request_per_source(
    make_world: Callable[..., World],
) -> None:
    world = make_world()
    engine = world.sync_engine()
    for name in ("jira", "github"):
        run = engine.sync(name, full=True)
        assert run.ok, run.error
    truth = world.sb.truth()
    with world.sessions() as session:
        assert differences(session, truth) == []
        assert history_differences(session, truth, "jira") == []
        runs = session.scalars(select(SyncRun)).all()
        assert {(r.kind, r.status) for r in runs} == {("full", "succeeded")}
        assert all(r.items_seen > 0 and r.requests > 0 for r in runs)
        assert (
            session.scalar(select(func.count()).select_from(SyncCursor).where(SyncCursor.cursor.is_not(None)))
            == 2
        )

    seq = world.sb.stats()["total"]
    for name in ("jira", "github"):
        run = engine.sync(name)
        assert run.ok, run.error
        assert run.written.seen == 0
    entries = _ledger_since(world, seq)
    jira = [e for e in entries if e["tracker"] == "jira"]
    github = [e for e in entries if e["tracker"] == "github"]
    assert len(jira) == 1, jira  # one search, nothing else
    assert [e["status"] for e in github] == [304, 304, 304]  # one conditional request per repository


def test_changes_in_the_tracker_show_after_an_incremental_sync(make_world: Callable[..., World]) -> None:
    world = make_world()
    engine = world.sync_engine()
    for name in ("jira", "github"):
        assert engine.sync(name, full=True).ok
    sb = world.sb
    sb.mutate(
        tracker="jira", op="update", key="PAY-3", fields={"summary": "Renamed in Jira", "status": "Done"}
    )
    sb.mutate(tracker="github", op="update", key="acme/web#5", fields={"title": "Renamed on GitHub"})
    sb.mutate(tracker="github", op="link", **{"from": "acme/mobile#7", "to": "acme/web#5", "type": "blocks"})
    sb.mutate(tracker="jira", op="link", **{"from": "PLAT-2", "to": "PAY-3", "type": "blocks"})
    for name in ("jira", "github"):
        run = engine.sync(name)
        assert run.ok, run.error
    with world.sessions() as session:
        assert differences(session, sb.truth()) == []
        titles = dict(
            session.execute(
                select(WorkItem.key, WorkItem.title).where(WorkItem.key.in_(["PAY-3", "acme/web#5"]))
            ).all()
        )
    assert titles == {"PAY-3": "Renamed in Jira", "acme/web#5": "Renamed on GitHub"}


def test_deleted_and_moved_items_are_found_by_reconcile(make_world: Callable[..., World]) -> None:
    world = make_world()
    engine = world.sync_engine()
    for name in ("jira", "github"):
        assert engine.sync(name, full=True).ok
    sb = world.sb
    sb.mutate(tracker="jira", op="delete", key="PAY-7")
    sb.mutate(tracker="jira", op="move", key="PAY-8", to_project="PLAT")
    sb.mutate(tracker="github", op="delete", key="acme/web#9")
    transfer = sb.mutate(tracker="github", op="transfer", key="acme/web#10", to_repo="acme/mobile")
    for name in ("jira", "github"):
        assert engine.sync(name).ok
        assert engine.reconcile(name).ok
    with world.sessions() as session:
        assert differences(session, sb.truth()) == []
        moved = session.scalar(select(WorkItem).where(WorkItem.moved_from_key == "PAY-8"))
        assert moved is not None and moved.key.startswith("PLAT-")
        deleted = set(session.scalars(select(WorkItem.key).where(WorkItem.deleted_at.is_not(None))))
    assert {"PAY-7", "acme/web#9"} <= deleted
    with world.sessions() as session:
        live = session.scalars(select(WorkItem).where(WorkItem.deleted_at.is_(None))).all()
    keys = [w.key for w in live]
    assert len(keys) == len(set(keys)), "a key appears twice among live items"
    assert "acme/web#10" not in keys
    assert transfer, "the sandbox reports the transfer"


def test_reconcile_reads_jira_issues_the_model_lacks(make_world: Callable[..., World]) -> None:
    world = make_world()
    engine = world.sync_engine()
    assert engine.sync("jira", full=True).ok
    created = world.sb.mutate(
        tracker="jira", op="create", project="PAY", type="Task", title="Made while nobody looked"
    )
    run = engine.reconcile("jira")  # no incremental sync in between: only the reconcile can find it
    assert run.ok, run.error
    with world.sessions() as session:
        titles = set(session.scalars(select(WorkItem.title)))
    assert "Made while nobody looked" in titles, created
