"""Any sequence of GitHub mutations keeps the world consistent: indexes, counters, cached JSON, truth."""

from __future__ import annotations

import random

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.core import MutationError, SandboxConfig, SandboxContext
from sandbox.github import payloads
from sandbox.github.world import GitHubWorld, _created_key, _updated_key

OPS = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "close",
                "reopen",
                "assign",
                "label",
                "milestone",
                "type",
                "comment",
                "link",
                "unlink",
                "parent",
                "unparent",
                "transfer",
                "delete",
                "create",
                "touch",
                "random",
                "relabel",
            ]
        ),
        st.integers(min_value=0, max_value=10_000),
        st.integers(min_value=0, max_value=10_000),
    ),
    min_size=1,
    max_size=40,
)


def _apply(world: GitHubWorld, op: str, a: int, b: int) -> None:
    live = [it for repo in world.repos.values() for it in repo.by_created if not it.is_pr]
    it, other = live[a % len(live)], live[b % len(live)]
    repos = sorted(world.repos)
    fields: dict[str, object] | None = {
        "close": {"state": "closed", "state_reason": "not_planned" if a % 2 else "completed"},
        "reopen": {"state": "open"},
        "assign": {"assignee": ["lobrien", "praman", None][b % 3]},
        "label": {"labels": ["bug", "in progress"][: b % 3]},
        "milestone": {"milestone": [None, 1, 2, 3][b % 4]},
        "type": {"type": [None, "Bug", "Feature"][b % 3]},
    }.get(op)
    try:
        if fields is not None:
            world.mutate({"op": "update", "key": it.key, "fields": fields})
        elif op == "comment":
            world.mutate({"op": "comment", "key": it.key, "body": "hi"})
        elif op in ("link", "unlink"):
            world.mutate({"op": op, "from": other.key, "to": it.key})
        elif op == "parent":
            world.mutate({"op": "update", "key": it.key, "fields": {"parent": other.key}})
        elif op == "unparent":
            world.mutate({"op": "update", "key": it.key, "fields": {"parent": None}})
        elif op == "transfer":
            world.mutate({"op": "transfer", "key": it.key, "to_repo": repos[b % len(repos)]})
        elif op == "delete":
            world.mutate({"op": "delete", "key": it.key})
        elif op == "create":
            world.mutate({"op": "create", "repo": repos[b % len(repos)], "title": "new", "parent": other.key})
        elif op == "touch":
            world.mutate({"op": "touch", "key": it.key})
        elif op == "relabel":
            name = ["bug", "in progress", "epic", "checkout-v2"][b % 4]
            change = {"delete": True} if a % 2 else {"new_name": f"{name}-{a}"}
            world.mutate({"op": "label", "repo": it.repo.full_name, "name": name, **change})
        else:
            world.random_mutation(random.Random(a * 10_007 + b))
    except MutationError:
        pass  # refused like GitHub would (a cycle, an existing dependency, the same repository...)


def _check(world: GitHubWorld) -> None:
    for repo in world.repos.values():
        live = [it for it in repo.issues.values() if it.live]
        assert repo.by_updated == sorted(live, key=_updated_key)
        assert repo.by_created == sorted(live, key=_created_key)
        assert repo.open_count == sum(1 for it in live if it.state == "open")
        for number, members in repo.milestone_members.items():
            assert members == {it.id for it in live if it.milestone == number}
    for it in world.issues_by_id.values():
        if not it.live:
            continue
        # The cache never serves stale JSON: it equals a fresh encoding.
        assert world.issue_bytes(it) == payloads.issue_json(world, it)
        assert all(world.issues_by_id[c].parent == it.id and world.issues_by_id[c].live for c in it.children)
        if it.parent is not None:
            assert it.id in world.issues_by_id[it.parent].children
        for b in it.blocked_by:
            assert it.id in world.issues_by_id[b].blocking and world.issues_by_id[b].live
    truth = world.truth()
    keys = {i["key"] for i in truth["items"]}
    assert len(keys) == len(truth["items"])
    for link in truth["links"]:
        if link["origin"] == "github_dependency":
            assert link["from"] in keys and link["to"] in keys
    for item in truth["items"]:
        if item["parent"] is not None:
            assert item["parent"] in keys
    orjson.dumps(truth)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS)
def test_mutation_sequences_keep_the_world_consistent(ops: list[tuple[str, int, int]]) -> None:
    config = SandboxConfig()
    world = GitHubWorld(SandboxContext(config), config)
    for op, a, b in ops:
        _apply(world, op, a, b)
    _check(world)
