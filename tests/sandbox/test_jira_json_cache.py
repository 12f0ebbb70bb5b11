"""Jira issue JSON: the fast encoder writes what the dict rendering would, and the cache of
encoded issues (warm at seeding, filled on demand) never serves a body older than the issue."""

from __future__ import annotations

import random
from datetime import date

import httpx
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.jira.mapping import BASE_FIELDS, discover_fields
from sandbox.core import SandboxConfig, SandboxContext
from sandbox.jira.model import Issue
from sandbox.jira.payloads import FieldSelection, Renderer, parse_field_selection
from sandbox.jira.routes import ISSUE_CHANGELOG_CAP, SEARCH_CHANGELOG_CAP, UNCAPPED, crosstrack_search
from sandbox.jira.world import JiraWorld
from sandbox.testing import running_sandbox

ANCHOR = date(2026, 11, 20)
FLAVOURS = ("cloud", "datacenter")
SELECTIONS = (
    "*all",
    "*navigable",
    "summary,status,parent",
    "-comment",
    "id",
    "key,id",
    "parent,customfield_10014,customfield_10015,subtasks,issuelinks,comment,fixVersions,customfield_10020",
    "reporter,creator,priority,project,statuscategorychangedate,versions,components",
)
CAPS = (None, SEARCH_CHANGELOG_CAP, ISSUE_CHANGELOG_CAP, UNCAPPED)


def make_world(flavour: str, **overrides: object) -> JiraWorld:
    config = SandboxConfig(anchor=ANCHOR, jira_flavour=flavour, **overrides)  # type: ignore[arg-type]
    return JiraWorld(SandboxContext(config), config)


def reference(
    world: JiraWorld, issue: Issue, version: int, selection: FieldSelection, cap: int | None
) -> bytes:
    """The issue rendered from scratch: dicts, a renderer that has memoized nothing, orjson."""
    return orjson.dumps(Renderer(world).issue(issue, version, selection, cap))


def renderings(world: JiraWorld) -> list[tuple[int, FieldSelection, int | None]]:
    chosen = [crosstrack_search(world.cloud)]
    for fields in ("*all", "summary,status,parent,issuelinks,subtasks,customfield_10020,fixVersions"):
        for version in (2, 3):
            chosen.append((version, parse_field_selection([fields], "id"), ISSUE_CHANGELOG_CAP))
    return chosen


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("seed", ["demo", "scale"])
def test_fast_encoding_equals_the_dict_rendering(flavour: str, seed: str) -> None:
    world = make_world(flavour) if seed == "demo" else make_world(flavour, seed="scale", jira_items=600)
    # The demo seed has every kind of field value: links, subtasks, sprints, versions, comments.
    issues = list(world.issues.values())
    assert any(i.link_ids for i in issues) and any(i.children for i in issues)
    for fields in SELECTIONS:
        selection = parse_field_selection([fields], "id")
        for version in (2, 3):
            for cap in CAPS:
                for issue in issues:
                    expected = reference(world, issue, version, selection, cap)
                    assert world.render.issue_json(issue, version, selection, cap) == expected, (
                        flavour,
                        fields,
                        version,
                        cap,
                        issue.key,
                    )


def test_field_order_in_the_request_does_not_split_the_cache() -> None:
    one = parse_field_selection(["summary,status,labels"], "id")
    other = parse_field_selection(["labels", "status,summary"], "id")
    assert one.cache_key == other.cache_key


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_seeding_encodes_crosstracks_search_and_serves_it_current(flavour: str) -> None:
    world = make_world(flavour, seed="scale", jira_items=400)
    version, selection, cap = crosstrack_search(world.cloud)
    warm = world._json_cache[(version, selection.cache_key, cap)]
    assert set(warm) == set(world.issues)
    issue = world.search("project = PAY ORDER BY created ASC, id ASC")[3]
    before = world.encoded(issue, version, selection, cap)
    world.mutate({"op": "update", "key": issue.key, "fields": {"summary": "Renamed after seeding"}})
    after = world.encoded(issue, version, selection, cap)
    assert after != before
    assert orjson.loads(after)["fields"]["summary"] == "Renamed after seeding"
    assert after == reference(world, issue, version, selection, cap)


OPS = st.sampled_from(
    [
        "random",
        "random",
        "random",
        "rename_parent",
        "rename_linked",
        "unlink",
        "release",
        "version",
        "sprint",
        "remote_link",
        "move",
        "delete",
        "reparent",
    ]
)


def apply(world: JiraWorld, op: str, rng: random.Random) -> None:
    issues = sorted(world.issues.values(), key=lambda i: i.id)
    if op == "random" or not issues:
        world.random_mutation(rng)
        return
    if op == "rename_parent":
        parents = [i for i in issues if i.children]
        if parents:
            target = rng.choice(parents)
            world.mutate({"op": "update", "key": target.key, "fields": {"summary": f"Epic {rng.random()}"}})
    elif op == "rename_linked":
        linked = [i for i in issues if i.link_ids]
        if linked:
            target = rng.choice(linked)
            world.mutate({"op": "update", "key": target.key, "fields": {"status": "In Review"}})
    elif op == "unlink":
        if world.links:
            world.mutate({"op": "unlink", "id": rng.choice(sorted(world.links))})
    elif op == "release":
        if world.versions:
            version = world.versions[rng.choice(sorted(world.versions))]
            world.mutate({"op": "release", "version": version.name, "released": not version.released})
    elif op == "version":
        if world.versions:
            version = world.versions[rng.choice(sorted(world.versions))]
            world.mutate({"op": "version", "name": version.name, "description": f"d{rng.random()}"})
    elif op == "sprint":
        if world.sprints:
            sprint = world.sprints[rng.choice(sorted(world.sprints))]
            world.mutate({"op": "sprint", "id": sprint.id, "goal": f"g{rng.random()}"})
    elif op == "remote_link":
        target = rng.choice(issues)
        world.mutate({"op": "remote_link", "key": target.key, "url": f"https://example.com/{rng.random()}"})
    elif op == "move":
        target = rng.choice([i for i in issues if world._expendable(i)] or issues)
        other = next(p for p in world.projects if p != target.project)
        world.mutate({"op": "move", "key": target.key, "to_project": other})
    elif op == "delete":
        expendable = [i for i in issues if world._expendable(i)]
        if expendable:
            world.mutate({"op": "delete", "key": rng.choice(expendable).key})
    elif op == "reparent":
        epics = [i for i in issues if i.type_name == "Epic"]
        stories = [i for i in issues if i.type_name in ("Story", "Task") and not i.issue_type.subtask]
        if epics and stories:
            world.mutate(
                {"op": "update", "key": rng.choice(stories).key, "fields": {"parent": rng.choice(epics).key}}
            )


@pytest.mark.parametrize("flavour", FLAVOURS)
@given(st.lists(st.tuples(OPS, st.integers(min_value=0, max_value=2**31)), min_size=1, max_size=12))
@settings(max_examples=12, deadline=None)
def test_cached_json_is_never_stale_after_mutations(flavour: str, ops: list[tuple[str, int]]) -> None:
    world = _demo_world(flavour)
    world.reset()
    chosen = renderings(world)
    for version, selection, cap in chosen:  # everything cached before the changes
        world.encoded_many(list(world.issues.values()), version, selection, cap)
    for op, seed in ops:
        apply(world, op, random.Random(seed))
    for version, selection, cap in chosen:
        issues = sorted(world.issues.values(), key=lambda i: i.id)
        served = world.encoded_many(issues, version, selection, cap)
        for issue, body in zip(issues, served, strict=True):
            assert body == reference(world, issue, version, selection, cap), (issue.key, ops)


_WORLDS: dict[str, JiraWorld] = {}


def _demo_world(flavour: str) -> JiraWorld:
    if flavour not in _WORLDS:
        _WORLDS[flavour] = make_world(flavour)
    return _WORLDS[flavour]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_warm_rendering_is_the_search_crosstrack_sends(flavour: str) -> None:
    """The sandbox warms what the connector asks for: its fields plus the custom fields it
    discovers from this sandbox's GET /field (if the connector changes, this says so)."""
    with running_sandbox(jira_flavour=flavour) as sb:
        cloud = flavour == "cloud"
        api = "3" if cloud else "2"
        found = httpx.get(f"{sb.jira_url}/rest/api/{api}/field", auth=("tpm@example.com", "sandbox-token"))
        fieldmap = discover_fields(found.json())
    version, selection, cap = crosstrack_search(cloud)
    asked = parse_field_selection([",".join((*BASE_FIELDS, *fieldmap.ids()))], "id")
    assert asked.cache_key == selection.cache_key
    assert version == (3 if cloud else 2)
    assert cap == (SEARCH_CHANGELOG_CAP if cloud else UNCAPPED)
