"""The GitHub half of /_sandbox/truth agrees with what the API serves; the demo and scale seeds."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date

import github

from sandbox import demo
from sandbox.core import SandboxConfig, SandboxContext
from sandbox.github.world import GitHubWorld
from sandbox.testing import SandboxHandle, running_sandbox
from tests.sandbox.conftest import github_client


def _all_pages(gh: github.Github, path: str) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    page = 1
    while True:
        status, headers, data = gh.requester.requestJson(
            "GET", path, parameters={"state": "all", "per_page": 100, "page": page}
        )
        assert status == 200
        rows.extend(json.loads(data))
        if 'rel="next"' not in headers.get("link", ""):
            return rows
        page += 1


def test_truth_items_and_dependencies_match_the_api(sandbox: SandboxHandle, gh: github.Github) -> None:
    truth = sandbox.truth()
    for repo in ("acme/web", "acme/mobile", "acme/api-gateway"):
        listed = [i for i in _all_pages(gh, f"/repos/{repo}/issues") if "pull_request" not in i]
        expected = {i["key"]: i for i in truth["items"] if i["scope"] == repo}
        assert {f"{repo}#{i['number']}" for i in listed} == set(expected)
        for issue in listed:
            item = expected[f"{repo}#{issue['number']}"]
            assert item["id"] == str(issue["id"])
            assert item["title"] == issue["title"]
            assert item["status"] == issue["state"]
            assert item["updated"] == issue["updated_at"]
            assert item["labels"] == [label["name"] for label in issue["labels"]]  # type: ignore[union-attr]
            assert item["type"] == (issue["type"] or {}).get("name")  # type: ignore[union-attr]
            deps = issue["issue_dependencies_summary"]
            assert isinstance(deps, dict)
            blocked_by = [
                link
                for link in truth["links"]
                if link["to"] == item["key"] and link["origin"] == "github_dependency"
            ]
            assert deps["total_blocked_by"] == len(blocked_by)


def test_demo_seed_has_the_documented_shape(sandbox: SandboxHandle) -> None:
    truth = sandbox.truth()
    items = [i for i in truth["items"] if i["tracker"] == "github"]
    assert 150 <= len(items) <= 250  # the GitHub half of ~400
    kinds = Counter(i["kind"] for i in items)
    assert kinds["epic"] >= 9 and kinds["story"] and kinds["task"] and kinds["bug"]
    program_epics = [i for i in items if i["kind"] == "epic" and demo.PROGRAM.label in i["labels"]]
    assert len(program_epics) == 9  # 3 repositories x 3
    assert any(i["kind"] == "epic" and demo.PROGRAM.label not in i["labels"] for i in items)
    links = [link for link in truth["links"] if "#" in link["from"] or "#" in link["to"]]
    dependencies = [link for link in links if link["origin"] == "github_dependency"]
    assert 15 <= len(dependencies) <= 30
    cross_repo = [d for d in dependencies if d["from"].split("#")[0] != d["to"].split("#")[0]]
    assert len(cross_repo) >= 5
    statuses = Counter(i["status_category"] for i in items)
    assert statuses["todo"] and statuses["in_progress"] and statuses["done"]
    assert any(i["resolution"] == "wont_do" for i in items)
    today = date.today().isoformat()
    assert all(i["created"] < today + "T" for i in items)  # laid out back from the anchor
    histories = [truth["status_history"][i["key"]] for i in items if i["status"] == "closed"]
    assert all(h[-1]["to_category"] == "done" for h in histories)


def test_every_cross_tracker_link_the_github_seed_owns_is_in_the_truth(sandbox: SandboxHandle) -> None:
    truth = sandbox.truth()
    keys = {i["key"] for i in truth["items"]}
    links = {(link["from"], link["to"]) for link in truth["links"]}
    for link in demo.CROSS_TRACKER_LINKS:
        for key in (link.source, link.target):
            if "#" in key:
                assert key in keys, key
        if "#" in link.source:
            assert (link.blocker, link.blocked) in links, link


def test_seed_is_deterministic_and_follows_the_anchor() -> None:
    config = SandboxConfig(anchor=date(2025, 3, 3))
    first = GitHubWorld(SandboxContext(config), config).truth()
    second = GitHubWorld(SandboxContext(config), config).truth()
    assert first == second
    assert max(i["updated"] for i in first["items"]) < "2025-03-03T00:00:00Z"
    assert min(i["created"] for i in first["items"]) >= "2024-12-09"  # 12 weeks back


def test_scale_seed_serves_the_requested_number_of_items() -> None:
    with running_sandbox(SandboxConfig.with_items(6000)) as handle:
        gh = github_client(handle)
        counted = 0
        for repo in gh.get_organization("acme").get_repos():
            status, headers, _ = gh.requester.requestJson(
                "GET", f"/repos/{repo.full_name}/issues", parameters={"state": "all", "per_page": 100}
            )
            assert status == 200
            last = headers["link"].split('rel="next"')[1].split("page=")[-1].split(">")[0]
            counted += int(last)
        assert counted == 3 * 10  # 3,000 GitHub items in pages of 100 (issues and pull requests)
        world = handle.app.state.worlds["github"]
        assert len(world.issues_by_id) == 3000
