"""The views on the sandbox demo seed, against expectations computed here from ``/_sandbox/truth``.

The sandbox runs in-process, both sources are synced once into a database of this module's own
(SQLite, or PostgreSQL when CROSSTRACK_TEST_DATABASE_URL is set) through the real engine and
connectors; every expectation below is derived from the truth document only, never from the model.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from sandbox.testing import running_sandbox
from sync.db import make_engine, upgrade
from sync.model import Team
from sync.runtime import Runtime
from sync.settings import Settings
from sync.views.burnup import burnup
from sync.views.dependencies import dependency_graph, team_matrix
from sync.views.forecast import weekly_throughput
from sync.views.progress import progress
from sync.views.risks import risks
from tests.conftest import PG_ENV, drop_database, fresh_database_url

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "crosstrack.toml"
SLUG = "checkout-v2"
TEAM_OF_SCOPE = {
    "PAY": "payments",
    "PLAT": "platform",
    "acme/web": "web",
    "acme/mobile": "mobile",
    "acme/api-gateway": "api-gateway",
}
CONTAINERS = {"epic", "initiative"}


@dataclass
class Synced:
    session: Session
    truth: dict[str, Any]
    as_of: datetime


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synced]:
    base = os.environ.get(PG_ENV)
    tmp = tmp_path_factory.mktemp("demo")
    url = (
        fresh_database_url(base, f"crosstrack_demo_{os.getpid()}") if base else f"sqlite:///{tmp / 'demo.db'}"
    )
    upgrade(url)
    with running_sandbox() as sb:
        config = tmp / "crosstrack.toml"
        config.write_text(EXAMPLE.read_text().replace("http://127.0.0.1:8765", sb.url))
        env = {"CROSSTRACK_JIRA_TOKEN": "sandbox-token", "CROSSTRACK_GITHUB_TOKEN": "sandbox-token"}
        engine = make_engine(url)
        runtime = Runtime.build(Settings(database_url=url, config_file=config), env=env, engine=engine)
        runtime.load_catalog()
        sync_engine = runtime.sync_engine()
        for name in ("jira", "github"):
            summary = sync_engine.sync(name, full=True)
            assert summary.ok, summary.error
        truth = sb.truth()
        session = runtime.sessions()
        try:
            yield Synced(session, truth, datetime.now(UTC))
        finally:
            session.rollback()
            session.close()
            runtime.close()
    if base:
        drop_database(base, f"crosstrack_demo_{os.getpid()}")


# -- expectations from the truth ------------------------------------------------------------------


def members(truth: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The program per examples/crosstrack.toml: Jira label checkout-v2, GitHub repos + label, descendants."""
    items = {i["key"]: i for i in truth["items"]}
    direct = {
        k
        for k, i in items.items()
        if "checkout-v2" in i["labels"]
        and (i["tracker"] == "jira" or i["scope"] in {"acme/web", "acme/mobile", "acme/api-gateway"})
    }
    children: dict[str, list[str]] = defaultdict(list)
    for k, i in items.items():
        if i["parent"]:
            children[i["parent"]].append(k)
    found, stack = set(direct), list(direct)
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return {k: items[k] for k in found}


def epic_of(key: str, items: dict[str, dict[str, Any]]) -> str | None:
    parent = items[key]["parent"]
    while parent is not None and parent in items:
        if items[parent]["kind"] == "epic":
            return parent
        parent = items[parent]["parent"]
    return None


def live(i: dict[str, Any]) -> bool:
    return i["kind"] not in CONTAINERS and i["resolution"] != "wont_do"


def totals(rows: list[dict[str, Any]]) -> tuple[int, int, int, int, float, float, int]:
    cats = Counter(i["status_category"] for i in rows)
    points = sum(i["estimate"] or 0 for i in rows)
    done_points = sum(i["estimate"] or 0 for i in rows if i["status_category"] == "done")
    unestimated = sum(1 for i in rows if i["estimate"] is None)
    return (
        len(rows),
        cats["todo"],
        cats["in_progress"],
        cats["done"],
        round(points, 3),
        round(done_points, 3),
        unestimated,
    )


# -- tests ----------------------------------------------------------------------------------------


def test_progress_matches_truth(synced: Synced) -> None:
    everything = {i["key"]: i for i in synced.truth["items"]}
    program = members(synced.truth)
    counted = [i for i in program.values() if live(i)]
    assert len(counted) > 50  # the seed really has a program
    view = progress(synced.session, SLUG, synced.as_of)
    p = view.program
    got = (
        p.total,
        p.todo,
        p.in_progress,
        p.done,
        round(p.points_total, 3),
        round(p.points_done, 3),
        p.unestimated,
    )
    assert got == totals(counted)
    assert p.wont_do == sum(
        1 for i in program.values() if i["kind"] not in CONTAINERS and i["resolution"] == "wont_do"
    )

    by_team: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    by_epic: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for i in counted:
        by_team[TEAM_OF_SCOPE.get(i["scope"])].append(i)
        by_epic[epic_of(i["key"], everything)].append(i)
    assert {
        t.team: (
            t.total,
            t.todo,
            t.in_progress,
            t.done,
            round(t.points_total, 3),
            round(t.points_done, 3),
            t.unestimated,
        )
        for t in view.teams
    } == {k: totals(v) for k, v in by_team.items()}
    got_epics = {
        e.key: (
            e.total,
            e.todo,
            e.in_progress,
            e.done,
            round(e.points_total, 3),
            round(e.points_done, 3),
            e.unestimated,
        )
        for e in view.epics
        if e.total
    }
    assert got_epics == {k: totals(v) for k, v in by_epic.items()}


def test_dependencies_match_truth(synced: Synced) -> None:
    everything = {i["key"]: i for i in synced.truth["items"]}
    program = members(synced.truth)
    expected = {}
    for link in synced.truth["links"]:
        if link["type"] != "blocks" or not (link["from"] in program or link["to"] in program):
            continue
        a, b = everything.get(link["from"]), everything.get(link["to"])
        satisfied = a is not None and a["status_category"] == "done"
        ta = TEAM_OF_SCOPE.get(a["scope"]) if a else None
        tb = TEAM_OF_SCOPE.get(b["scope"]) if b else None
        cross_team = ta is not None and tb is not None and ta != tb
        cross_tracker = ("#" in link["from"]) != ("#" in link["to"])
        expected[(link["from"], link["to"])] = (satisfied, cross_team, cross_tracker)
    assert len(expected) >= 10
    graph = dependency_graph(synced.session, SLUG, as_of=synced.as_of)
    got = {
        (e.source, e.target): (e.state.value == "satisfied", e.cross_team, e.cross_tracker)
        for e in graph.edges
    }
    assert got == expected

    matrix = team_matrix(synced.session, SLUG, as_of=synced.as_of)
    open_pairs: Counter[tuple[str, str]] = Counter()
    for (u, v), (satisfied, _, _) in expected.items():
        if not satisfied:
            a, b = everything.get(u), everything.get(v)
            open_pairs[
                (
                    TEAM_OF_SCOPE.get(a["scope"], "(none)") if a else "(none)",
                    TEAM_OF_SCOPE.get(b["scope"], "(none)") if b else "(none)",
                )
            ] += 1
    assert {(c.blocker_team, c.blocked_team): c.open for c in matrix.cells} == dict(open_pairs)


def test_risks_match_truth(synced: Synced) -> None:
    program = members(synced.truth)
    today = synced.as_of.date()
    view = risks(synced.session, SLUG, as_of=synced.as_of, stale_after_minutes=24 * 60)
    by_code: dict[str, set[str]] = defaultdict(set)
    for r in view.risks:
        assert r.item_count == len(r.items) or r.item_count > 50
        by_code[r.code.value].update(r.items)
    open_items = [
        i for i in program.values() if i["status_category"] != "done" and i["resolution"] != "wont_do"
    ]
    past_due = {i["key"] for i in open_items if i["due_date"] and date.fromisoformat(i["due_date"]) < today}
    assert by_code.get("past_due", set()) == past_due
    unassigned = {
        i["key"] for i in open_items if i["status_category"] == "in_progress" and i["assignee"] is None
    }
    assert by_code.get("unassigned_in_progress", set()) == unassigned
    stale_before = synced.as_of - timedelta(days=14)
    stale = {
        i["key"]
        for i in open_items
        if i["status_category"] == "in_progress"
        and datetime.fromisoformat(i["updated"].replace("Z", "+00:00")) < stale_before
    }
    assert by_code.get("stale_item", set()) == stale
    assert "stale_data" not in by_code  # both sources synced seconds ago


def test_throughput_matches_truth_history(synced: Synced) -> None:
    everything = {i["key"]: i for i in synced.truth["items"]}
    end = synced.as_of
    starts = [end - timedelta(days=7 * (12 - w)) for w in range(12)]
    expected: dict[str, list[set[str]]] = defaultdict(lambda: [set() for _ in range(12)])
    for key, changes in synced.truth["status_history"].items():
        item = everything.get(key)
        if item is None or not live(item):
            continue
        for change in changes:
            at = datetime.fromisoformat(change["at"].replace("Z", "+00:00"))
            if change["to_category"] != "done" or not starts[0] <= at < end:
                continue
            week = max(w for w in range(12) if starts[w] <= at)
            expected[TEAM_OF_SCOPE[item["scope"]]][week].add(key)
    teams = dict(synced.session.execute(select(Team.id, Team.slug)).all())
    got = weekly_throughput(synced.session, synced.as_of, list(teams))
    assert {teams[t]: weeks for t, weeks in got.items()} == {
        slug: [len(expected[slug][w]) for w in range(12)] for slug in teams.values()
    }
    assert sum(sum(w) for w in got.values()) > 0


def test_burnup_today_matches_truth(synced: Synced) -> None:
    counted = [i for i in members(synced.truth).values() if live(i)]
    view = burnup(synced.session, SLUG, as_of=synced.as_of)
    today = view.points[-1]
    assert today.live
    assert (today.scope_count, today.done_count) == (
        len(counted),
        sum(1 for i in counted if i["status_category"] == "done"),
    )
    assert len(view.points) > 30  # backfilled from history
    synced.session.rollback()  # the backfill wrote rows; keep the module's database as synced
