"""The Jira world in process: seeds, mutations, truth, and the search index under change."""

from __future__ import annotations

import random
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.core import MutationError, SandboxConfig, SandboxContext
from sandbox.demo import CROSS_TRACKER_LINKS, GUARANTEED_NUMBERS
from sandbox.jira.world import JiraWorld

ANCHOR = date(2026, 11, 20)


def make_world(**overrides: object) -> JiraWorld:
    config = SandboxConfig(anchor=ANCHOR, **overrides)  # type: ignore[arg-type]
    return JiraWorld(SandboxContext(config), config)


def assert_index_consistent(world: JiraWorld) -> None:
    assert world.by_updated == sorted((i.updated_ms, i.id) for i in world.issues.values())
    assert world.by_created == sorted((i.created_ms, i.id) for i in world.issues.values())
    assert {i.key for i in world.issues.values()} == set(world.by_key)


def test_demo_seed_is_deterministic_and_has_the_shared_keys() -> None:
    first, second = make_world(), make_world()
    assert first.truth() == second.truth()
    for project in ("PAY", "PLAT"):
        for number in range(1, GUARANTEED_NUMBERS + 1):
            assert f"{project}-{number}" in first.by_key
    jira_sources = {link.source for link in CROSS_TRACKER_LINKS if "#" not in link.source}
    truth_links = {
        (lk["from"], lk["to"]) for lk in first.truth()["links"] if lk["origin"] != "jira_issuelink"
    }
    for link in CROSS_TRACKER_LINKS:
        if link.source in jira_sources:
            assert (link.blocker, link.blocked) in truth_links
    assert_index_consistent(first)


def test_demo_seed_has_history_hierarchy_and_heavy_changelogs() -> None:
    world = make_world()
    truth = world.truth()
    kinds = {i["kind"] for i in truth["items"]}
    assert {"initiative", "epic", "story", "task", "bug", "subtask"} <= kinds
    assert max(len(i.histories) for i in world.issues.values()) > 100
    assert len(truth["status_history"]) > 50
    assert {s["state"] for s in truth["sprints"]} == {"closed", "active", "future"}
    assert any(r["released"] for r in truth["releases"]) and not all(r["released"] for r in truth["releases"])
    blocks = [lk for lk in truth["links"] if lk["origin"] == "jira_issuelink" and lk["type"] == "blocks"]
    cross_team = [lk for lk in blocks if lk["from"].split("-")[0] != lk["to"].split("-")[0]]
    assert len(blocks) >= 20 and len(cross_team) >= 10


def test_scale_seed_builds_the_requested_number_of_issues() -> None:
    world = make_world(seed="scale", jira_items=3000)
    assert len(world.issues) == 3000
    assert {i.project for i in world.issues.values()} == {"PAY", "PLAT"}
    assert_index_consistent(world)
    every = world.search("project in (PAY, PLAT) ORDER BY updated ASC")
    assert len(every) == 3000
    assert [i.updated_ms for i in every] == sorted(i.updated_ms for i in every)


def test_delete_removes_the_issue_and_its_links_from_truth() -> None:
    world = make_world()
    linked = next(lk for lk in world.links.values() if not lk.source.children)
    key = linked.source.key
    world.mutate({"op": "delete", "key": key})
    truth = world.truth()
    assert key not in {i["key"] for i in truth["items"]}
    assert all(key not in (lk["from"], lk["to"]) for lk in truth["links"])
    assert world.find(key) is None
    assert_index_consistent(world)


def test_move_keeps_the_id_and_old_key_resolves() -> None:
    world = make_world()
    issue_id = world.by_key["PAY-7"].id
    result = world.mutate({"op": "move", "key": "PAY-7", "to_project": "PLAT"})
    assert world.find("PAY-7") is world.issues[issue_id]
    assert world.issues[issue_id].key == result["key"]
    assert [i.key for i in world.search("key = PAY-7")] == [result["key"]]
    item = next(i for i in world.truth()["items"] if i["id"] == str(issue_id))
    assert (item["key"], item["scope"]) == (result["key"], "PLAT")


def test_control_api_errors_are_mutation_errors() -> None:
    world = make_world()
    with pytest.raises(MutationError) as unknown_op:
        world.mutate({"op": "explode"})
    assert unknown_op.value.status == 400
    with pytest.raises(MutationError) as missing:
        world.mutate({"op": "update", "key": "PAY-9999", "fields": {"title": "x"}})
    assert missing.value.status == 404
    with pytest.raises(MutationError):
        world.mutate({"op": "update", "key": "PAY-1", "fields": {"status": "Nope"}})


def test_updates_map_to_truth_fields() -> None:
    world = make_world()
    world.mutate(
        {
            "op": "update",
            "key": "PAY-12",
            "fields": {
                "title": "Renamed",
                "status": "Done",
                "resolution": "Won't Do",
                "assignee": "priya.raman@example.com",
                "labels": ["x", "y"],
                "estimate": 5,
                "due_date": "2026-12-01",
                "releases": ["PAY 2026.3"],
                "sprint": "PAY Sprint 12",
            },
        }
    )
    item = next(i for i in world.truth()["items"] if i["key"] == "PAY-12")
    expected = {
        "title": "Renamed",
        "status": "Done",
        "status_category": "done",
        "resolution": "wont_do",
        "assignee": world.by_key["PAY-12"].assignee,
        "labels": ["x", "y"],
        "estimate": 5.0,
        "due_date": "2026-12-01",
        "releases": ["PAY 2026.3"],
        "sprint": "PAY Sprint 12",
    }
    assert {k: item[k] for k in expected} == expected
    assert item["resolved"] is not None
    assert world.users[item["assignee"]].email == "priya.raman@example.com"


QUERIES = (
    "project in (PAY, PLAT) ORDER BY updated ASC",
    'project = PAY AND updated >= "2026/11/01 00:00" ORDER BY created ASC, id ASC',
    'project in ("PAY", "PLAT") ORDER BY created ASC, id ASC',
    "project in (PAY, PLAT) AND issuetype in (Story, Task) ORDER BY key DESC",
    'labels = "checkout-v2" OR issuetype = Bug ORDER BY updated DESC',
)


@given(st.lists(st.integers(min_value=0, max_value=2**31), min_size=1, max_size=25))
@settings(max_examples=25, deadline=None)
def test_random_activity_keeps_search_and_truth_in_step(seeds: list[int]) -> None:
    world = make_world()
    for query in QUERIES:
        world.search(query)  # cached now: later searches catch up with the changes
    for seed in seeds:
        world.random_mutation(random.Random(seed))
        if seed % 3 == 0:
            world.search(QUERIES[seed % len(QUERIES)])
    for query in QUERIES:
        assert world.search(query) == world._run_query(query, None), query
    assert_index_consistent(world)
    truth_keys = [i["key"] for i in world.truth()["items"]]
    searched = world.search("project in (PAY, PLAT) ORDER BY key ASC")
    assert [i.key for i in searched] == truth_keys
    newest = world.search("project in (PAY, PLAT) ORDER BY updated DESC")[0]
    assert newest.updated_ms == max(i.updated_ms for i in world.issues.values())


def test_versions_and_sprints_change_with_their_webhook_events() -> None:
    world = make_world()
    sent: list[tuple[str, dict[str, object]]] = []
    world.ctx.webhooks.emit = lambda tracker, event, payload, **kw: sent.append((event, payload)) or []  # type: ignore[method-assign]
    world.mutate({"op": "version", "project": "PAY", "name": "PAY 2027.1", "release_date": "2027-01-15"})
    world.mutate({"op": "version", "name": "PAY 2027.1", "release_date": "2027-01-29"})
    world.mutate({"op": "release", "version": "PAY 2027.1"})
    world.mutate({"op": "sprint", "name": "PAY Sprint 13", "state": "active"})
    world.mutate({"op": "sprint", "name": "PAY Sprint 12", "state": "closed"})
    assert [event for event, _ in sent] == [
        "jira:version_created",
        "jira:version_updated",
        "jira:version_released",
        "sprint_started",
        "sprint_closed",
    ]
    release = next(r for r in world.truth()["releases"] if r["name"] == "PAY 2027.1")
    assert (release["due_date"], release["released"]) == ("2027-01-29", True)
    states = {s["name"]: s["state"] for s in world.truth()["sprints"]}
    assert (states["PAY Sprint 13"], states["PAY Sprint 12"]) == ("active", "closed")


def test_deleting_an_epic_keeps_its_children_without_parent() -> None:
    world = make_world()
    epic = world.by_key["PAY-1"]
    children = [c.key for c in epic.children]
    world.mutate({"op": "delete", "key": "PAY-1"})
    items = {i["key"]: i for i in world.truth()["items"]}
    assert children and all(items[k]["parent"] is None for k in children)
    assert_index_consistent(world)


def test_a_refused_edit_or_create_changes_nothing() -> None:
    world = make_world()
    before = world.truth()
    with pytest.raises(MutationError):
        world.mutate(
            {"op": "update", "key": "PAY-12", "fields": {"title": "new", "parent": "PAY-2", "status": "Nope"}}
        )
    with pytest.raises(MutationError):
        world.mutate(
            {"op": "create", "project": "PAY", "type": "Task", "title": "x", "fields": {"assignee": "nobody"}}
        )
    assert world.truth() == before
    assert_index_consistent(world)


def test_status_queries_agree_with_truth() -> None:
    world = make_world()
    items = world.truth()["items"]
    open_keys = sorted(i["key"] for i in items if i["status_category"] != "done")
    found = world.search("project in (PAY, PLAT) AND statusCategory != Done ORDER BY key ASC")
    assert sorted(i.key for i in found) == open_keys
    unresolved = world.search("project in (PAY, PLAT) AND resolution = Unresolved")
    assert sorted(i.key for i in unresolved) == open_keys
