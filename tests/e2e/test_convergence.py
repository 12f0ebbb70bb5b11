"""Webhook deliveries dropped, duplicated and reordered, interleaved with syncs: the model never
moves back in time and always converges to the tracker's truth (PRODUCT §10, correctness)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from sync.inbox import InboxProcessor
from sync.model import InboundEvent, WorkItem
from tests.e2e.conftest import ENV, World
from tests.e2e.intake import serving_intake
from tests.e2e.truth import differences

SECRET = ENV["CROSSTRACK_GITHUB_WEBHOOK_SECRET"]
JIRA_STATUSES = ["To Do", "In Progress", "In Review", "Done"]


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def test_a_tracker_change_arrives_by_webhook_and_becomes_visible(make_world: Callable[..., World]) -> None:
    world = make_world()
    engine = world.sync_engine()
    for name in ("jira", "github"):
        assert engine.sync(name, full=True).ok
    with serving_intake(world, background=True) as intake:
        world.sb.register_webhook("github", f"{intake.url}/webhooks/github/github", SECRET)
        world.sb.register_webhook("jira", f"{intake.url}/webhooks/jira/jira", SECRET)
        world.sb.mutate(
            tracker="github", op="update", key="acme/web#6", fields={"title": "Seen through a webhook"}
        )
        world.sb.mutate(tracker="jira", op="update", key="PAY-4", fields={"summary": "Jira says hello"})
        deadline = time.monotonic() + 20
        titles: dict[str, str] = {}
        while time.monotonic() < deadline:
            with world.sessions() as session:
                titles = dict(
                    session.execute(
                        select(WorkItem.key, WorkItem.title).where(WorkItem.key.in_(["acme/web#6", "PAY-4"]))
                    ).all()
                )
            if titles == {"acme/web#6": "Seen through a webhook", "PAY-4": "Jira says hello"}:
                break
            time.sleep(0.1)
    assert titles == {"acme/web#6": "Seen through a webhook", "PAY-4": "Jira says hello"}
    with world.sessions() as session:
        assert differences(session, world.sb.truth()) == []


class Convergence(RuleBasedStateMachine):
    """Random tracker edits; deliveries go through a faulty network; syncs come now and then."""

    make_world: Callable[..., World]

    @initialize()
    def start(self) -> None:
        self.world = type(self).make_world()
        self.engine = self.world.sync_engine()
        for name in ("jira", "github"):
            assert self.engine.sync(name, full=True).ok
        self.intake_cm = serving_intake(self.world)
        intake = self.intake_cm.__enter__()
        sb = self.world.sb
        sb.register_webhook("github", f"{intake.url}/webhooks/github/github", SECRET)
        sb.register_webhook("jira", f"{intake.url}/webhooks/jira/jira", SECRET)
        sb.set_faults(webhooks={"drop": 0.25, "duplicate": 0.25, "reorder": 0.25})
        self.inbox = InboxProcessor(self.world.sessions, self.world.connector_for)
        truth = sb.truth()
        self.jira_keys = sorted(i["key"] for i in truth["items"] if i["tracker"] == "jira")
        self.github_keys = sorted(i["key"] for i in truth["items"] if i["tracker"] == "github")
        self.logins = sorted({p["github_login"] for p in truth["people"] if p.get("github_login")})

    def teardown(self) -> None:
        if hasattr(self, "intake_cm"):
            self.intake_cm.__exit__(None, None, None)

    @rule(
        data=st.data(),
        status=st.sampled_from(JIRA_STATUSES),
        title=st.text("abcdef ", min_size=1, max_size=12),
    )
    def edit_jira(self, data: st.DataObject, status: str, title: str) -> None:
        key = data.draw(st.sampled_from(self.jira_keys))
        self.world.sb.mutate(
            tracker="jira", op="update", key=key, fields={"status": status, "summary": f"T {title}"}
        )

    @rule(data=st.data(), state=st.sampled_from(["open", "closed"]))
    def edit_github(self, data: st.DataObject, state: str) -> None:
        key = data.draw(st.sampled_from(self.github_keys))
        fields = {"state": state, "assignee": data.draw(st.sampled_from(self.logins))}
        self.world.sb.mutate(tracker="github", op="update", key=key, fields=fields)

    @rule(data=st.data(), tracker=st.sampled_from(["jira", "github"]))
    def link(self, data: st.DataObject, tracker: str) -> None:
        keys = self.jira_keys if tracker == "jira" else self.github_keys
        a, b = data.draw(st.sampled_from(keys)), data.draw(st.sampled_from(keys))
        if a != b:
            self.world.sb.mutate(tracker=tracker, op="link", **{"from": a, "to": b, "type": "blocks"})

    @rule()
    def apply_deliveries(self) -> None:
        self.world.sb.deliveries(wait=5.0)
        while self.inbox.process_pending() > 0:
            pass

    @precondition(lambda self: hasattr(self, "engine"))
    @rule(source=st.sampled_from(["jira", "github"]))
    def incremental_sync(self, source: str) -> None:
        assert self.engine.sync(source).ok

    @invariant()
    def never_ahead_of_the_tracker(self) -> None:
        if not hasattr(self, "world"):
            return
        truth = {i["key"]: _parse(i["updated"]) for i in self.world.sb.truth()["items"]}
        with self.world.sessions() as session:
            for key, updated in session.execute(select(WorkItem.key, WorkItem.remote_updated_at)).all():
                if key in truth:
                    assert updated <= truth[key], f"{key} is newer in the model than in the tracker"

    def converges(self) -> None:
        self.apply_deliveries()
        for name in ("jira", "github"):
            assert self.engine.sync(name).ok
        while self.inbox.process_pending() > 0:
            pass
        with self.world.sessions() as session:
            assert differences(session, self.world.sb.truth()) == []
            failed = session.scalars(select(InboundEvent).where(InboundEvent.last_error.is_not(None))).all()
            assert [(e.event_type, e.last_error) for e in failed] == []


def test_deliveries_dropped_duplicated_reordered_and_syncs_converge(make_world: Callable[..., World]) -> None:
    class Machine(Convergence):
        def teardown(self) -> None:
            if hasattr(self, "world"):
                self.converges()
            super().teardown()

    Machine.make_world = staticmethod(make_world)  # type: ignore[assignment]
    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=3,
            stateful_step_count=10,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        ),
    )
