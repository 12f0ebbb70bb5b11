"""The webhook inbox on a real, committed database: the intake's group commit stores every
delivery exactly once however many arrive together, and the worker applies many events per
transaction without letting a bad one hold back the others or an old one move an item back."""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from sync.catalog import apply_config
from sync.config import load_config
from sync.db import make_engine, make_sessionmaker, session_scope, upgrade, write_lock
from sync.inbox import (
    DeliveryMeta,
    InboxClosed,
    InboxIntake,
    InboxProcessor,
    SourceNotLoaded,
    store_delivery,
)
from sync.model import InboundEvent, Source, StatusChange, WorkItem
from sync.runtime import Runtime
from sync.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "crosstrack.toml"
OPENED = json.loads((ROOT / "tests" / "fixtures" / "webhooks" / "github-issues-opened.json").read_text())
ENV = {"CROSSTRACK_JIRA_TOKEN": "t", "CROSSTRACK_GITHUB_TOKEN": "t", "CROSSTRACK_GITHUB_WEBHOOK_SECRET": "s"}


@pytest.fixture
def committed(scratch_database_url: str) -> Iterator[tuple[Engine, sessionmaker[Session], Runtime]]:
    """A migrated database with the example catalog committed (the intake and worker commit too)."""
    upgrade(scratch_database_url)
    engine = make_engine(scratch_database_url)
    sessions = make_sessionmaker(engine)
    with session_scope(sessions) as session:
        apply_config(session, load_config(EXAMPLE))
    settings = Settings.from_env({}, database_url=scratch_database_url, config_file=str(EXAMPLE))
    runtime = Runtime.build(settings, env=ENV, engine=engine)
    yield engine, sessions, runtime
    engine.dispose()


def _issue(number: int, title: str, updated: str = "2026-11-20T10:00:00Z") -> dict[str, Any]:
    payload = copy.deepcopy(OPENED)
    payload["repository"].update(full_name="acme/web", name="web")
    payload["repository"]["owner"]["login"] = "acme"
    payload["issue"].update(
        id=900_000 + number, node_id=f"I_{number}", number=number, title=title, updated_at=updated
    )
    return payload


def _meta(delivery: str) -> DeliveryMeta:
    return DeliveryMeta(delivery, "issues", "edited")


def _store(sessions: sessionmaker[Session], deliveries: list[tuple[str, dict[str, Any]]]) -> None:
    with session_scope(sessions) as session:
        source = session.scalars(select(Source).where(Source.name == "github")).one()
        for delivery, payload in deliveries:
            assert store_delivery(session, source, _meta(delivery), payload)


def test_concurrent_deliveries_are_each_stored_once_and_answered_once(
    committed: tuple[Engine, sessionmaker[Session], Runtime],
) -> None:
    _, sessions, _ = committed
    stored = threading.Event()
    intake = InboxIntake(sessions, on_stored=stored.set)
    ids = [f"d-{n}" for n in range(120)] * 2  # every delivery arrives twice, concurrently
    with ThreadPoolExecutor(16) as pool:
        futures = list(pool.map(lambda d: intake.submit("github", _meta(d), {"n": d}), ids))
        outcomes = [f.result(timeout=30) for f in futures]
    by_id: dict[str, list[bool]] = {}
    for delivery, outcome in zip(ids, outcomes, strict=True):
        by_id.setdefault(delivery, []).append(outcome)
    assert {d: sorted(o) for d, o in by_id.items()} == {d: [False, True] for d in ids[:120]}
    assert stored.is_set()
    with sessions() as session:
        rows = session.execute(select(InboundEvent.delivery_id, InboundEvent.payload)).all()
    assert sorted(rows) == sorted((d, {"n": d}) for d in ids[:120])
    # A redelivery after the fact is recognised too; an unknown source is refused, not stored.
    assert intake.submit("github", _meta("d-7"), {}).result(timeout=30) is False
    with pytest.raises(SourceNotLoaded):
        intake.submit("no-such-source", _meta("x"), {}).result(timeout=30)
    intake.stop()
    with pytest.raises(InboxClosed):
        intake.submit("github", _meta("late"), {})


def test_no_delivery_is_answered_before_it_is_committed(
    committed: tuple[Engine, sessionmaker[Session], Runtime],
) -> None:
    engine, sessions, _ = committed
    intake = InboxIntake(sessions)
    # Another writer (the inbox worker's batch, a sync) holds the database and has the same
    # delivery in its open transaction: SQLite's single writer, PostgreSQL's unique index wait.
    with write_lock(engine), sessions() as session:
        source = session.scalars(select(Source).where(Source.name == "github")).one()
        assert store_delivery(session, source, _meta("w-0"), {"first": True})
        futures = [intake.submit("github", _meta(f"w-{n}"), {}) for n in range(20)]
        time.sleep(0.3)
        assert [f.done() for f in futures] == [False] * 20
        session.commit()
    assert [f.result(timeout=30) for f in futures] == [False] + [True] * 19
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(InboundEvent)) == 20
    intake.stop()


def test_a_batch_applies_every_good_event_and_keeps_the_bad_one_for_a_retry(
    committed: tuple[Engine, sessionmaker[Session], Runtime],
) -> None:
    _, sessions, runtime = committed
    broken = {"action": "edited", "repository": _issue(1, "x")["repository"]}  # no "issue" object
    deliveries = [(f"ok-{n}", _issue(n, f"Issue {n}")) for n in range(1, 41)]
    deliveries.insert(17, ("broken", broken))
    _store(sessions, deliveries)
    processor = InboxProcessor(sessions, runtime.connector_for)

    assert processor.process_pending() == 40
    with sessions() as session:
        titles = dict(session.execute(select(WorkItem.key, WorkItem.title)).all())
        rows = {r.delivery_id: r for r in session.scalars(select(InboundEvent))}
    assert titles == {f"acme/web#{n}": f"Issue {n}" for n in range(1, 41)}
    bad = rows.pop("broken")
    assert (bad.handled_at, bad.attempts) == (None, 1)
    assert bad.last_error is not None and bad.last_error.startswith("PayloadInvalid")
    assert bad.next_attempt_at is not None and bad.next_attempt_at > datetime.now(UTC)
    assert all(r.handled_at is not None and r.attempts == 1 for r in rows.values())
    assert processor.process_pending() == 0  # the bad one waits for its backoff


def test_an_older_delivery_in_the_same_batch_never_moves_an_item_back(
    committed: tuple[Engine, sessionmaker[Session], Runtime],
) -> None:
    _, sessions, runtime = committed
    newer = _issue(5, "Newer title", "2026-11-20T12:00:00Z")
    older = _issue(5, "Older title", "2026-11-20T11:00:00Z")
    _store(sessions, [("new", newer), ("old", older)])
    processor = InboxProcessor(sessions, runtime.connector_for)
    assert processor.process_pending() == 2
    _store(sessions, [("old-again", older), ("new-again", newer)])  # redelivered under new ids
    assert processor.process_pending() == 2
    with sessions() as session:
        items = session.execute(select(WorkItem.key, WorkItem.title, WorkItem.remote_updated_at)).all()
    assert items == [("acme/web#5", "Newer title", datetime(2026, 11, 20, 12, tzinfo=UTC))]


def test_every_status_change_between_deliveries_of_one_batch_is_recorded(
    committed: tuple[Engine, sessionmaker[Session], Runtime],
) -> None:
    _, sessions, runtime = committed
    processor = InboxProcessor(sessions, runtime.connector_for)
    _store(sessions, [("opened", _issue(8, "Eight", "2026-11-20T09:00:00Z"))])
    assert processor.process_pending() == 1
    closed = _issue(8, "Eight", "2026-11-20T10:00:00Z")
    closed["issue"].update(state="closed", closed_at="2026-11-20T10:00:00Z")
    edited = _issue(8, "Eight, renamed", "2026-11-20T10:30:00Z")
    edited["issue"].update(state="closed", closed_at="2026-11-20T10:00:00Z")
    reopened = _issue(8, "Eight, reopened", "2026-11-20T11:00:00Z")
    _store(sessions, [("closed", closed), ("edited", edited), ("reopened", reopened)])
    assert processor.process_pending() == 3
    with sessions() as session:
        changes = session.execute(
            select(StatusChange.at, StatusChange.from_status, StatusChange.to_status).order_by(
                StatusChange.at
            )
        ).all()
        title = session.scalar(select(WorkItem.title))
    assert changes == [
        (datetime(2026, 11, 20, 10, tzinfo=UTC), "open", "closed"),
        (datetime(2026, 11, 20, 11, tzinfo=UTC), "closed", "open"),
    ]
    assert title == "Eight, reopened"
