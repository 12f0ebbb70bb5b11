"""The GitHub connector against the tracker sandbox over loopback HTTP, with the real PyGithub.

Each test that changes the sandbox resets it first, so tests do not depend on order.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.base import SourceSettings
from connectors.errors import AuthError, Gone, InvalidResponse, RateLimited
from connectors.github.connector import GitHubConnector
from connectors.records import (
    ChangeBatch,
    ItemChanges,
    ItemDraft,
    ItemKind,
    ItemRef,
    LinkOrigin,
    LinkRecord,
    LinkType,
    Resolution,
    StatusCategory,
    TrackerKind,
    WorkItemRecord,
)
from sandbox.core import SandboxConfig
from sandbox.testing import SandboxHandle, running_sandbox

GH = TrackerKind.GITHUB
REPOS = ["web", "mobile", "api-gateway"]
LIST_ROUTE = "/repos/{owner}/{repo}/issues"


def make_connector(sb: SandboxHandle, token: str = "sandbox-token", **options: Any) -> GitHubConnector:
    opts: dict[str, Any] = {
        "org": "acme",
        "repos": REPOS,
        "projects_v2": [{"number": 1}],
        "seconds_between_writes": 0,
        "retry_backoff_seconds": 0.05,
    }
    opts.update(options)
    settings = SourceSettings(
        name="github-test",
        kind=GH,
        base_url=sb.github_url,
        flavour="com",
        token=token,
        webhook_secret="s3cret",
        options=opts,
    )
    return GitHubConnector(settings)


def drain(batches: Iterator[ChangeBatch]) -> tuple[dict[str, WorkItemRecord], str | None]:
    items: dict[str, WorkItemRecord] = {}
    cursor: str | None = None
    for batch in batches:
        for item in batch.items:
            items[item.key] = item
        cursor = batch.cursor or cursor
    return items, cursor


def entries_since(sb: SandboxHandle, seq: int) -> list[dict[str, Any]]:
    return [e for e in sb.stats(since=seq)["entries"] if e["tracker"] == "github"]


def last_seq(sb: SandboxHandle) -> int:
    entries = sb.stats()["entries"]
    return int(entries[-1]["seq"]) if entries else 0


def github_truth(sb: SandboxHandle) -> dict[str, dict[str, Any]]:
    return {i["key"]: i for i in sb.truth()["items"] if i["tracker"] == "github"}


def comparable(record: WorkItemRecord) -> dict[str, Any]:
    return {
        "id": record.external_id,
        "scope": record.scope,
        "url": record.url,
        "title": record.title,
        "type": record.original_type,
        "kind": record.kind.value,
        "status": record.original_status,
        "status_category": record.status_category.value,
        "resolution": record.resolution.value if record.resolution else None,
        "assignee": record.assignee.login if record.assignee else None,
        "parent": record.parent.key if record.parent else None,
        "estimate": record.estimate,
        "labels": sorted(record.labels),
        "releases": [r.name for r in record.releases],
        "sprint": record.sprint.name if record.sprint else None,
        "updated": record.updated_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def truth_comparable(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": item["id"],
        "scope": item["scope"],
        "url": item["url"],
        "title": item["title"],
        "type": item["type"],
        "kind": item["kind"],
        "status": item["status"],
        "status_category": item["status_category"],
        "resolution": item["resolution"],
        "assignee": item["assignee"],
        "parent": item["parent"],
        "estimate": item["estimate"],
        "labels": sorted(item["labels"]),
        "releases": item["releases"],
        "sprint": item["sprint"],
        "updated": item["updated"],
    }


@pytest.fixture(scope="module")
def sb() -> Iterator[SandboxHandle]:
    with running_sandbox(SandboxConfig()) as handle:
        yield handle


@pytest.fixture
def demo(sb: SandboxHandle) -> SandboxHandle:
    sb.reset()
    return sb


# -- full and incremental sync ---------------------------------------------------------------------


def test_full_sync_equals_the_truth_without_per_issue_reads(demo: SandboxHandle) -> None:
    connector = make_connector(demo)
    start = last_seq(demo)
    items, _ = drain(connector.list_changed(None))
    truth = github_truth(demo)

    assert {k: comparable(v) for k, v in items.items()} == {k: truth_comparable(v) for k, v in truth.items()}
    owned = {
        (link["from"], link["to"], link["origin"])
        for link in demo.truth()["links"]
        if link["origin"] in ("github_dependency", "text_reference")
        and any(key in truth and truth[key]["tracker"] == "github" for key in (link["from"], link["to"]))
    }
    mine = {(lk.source.key, lk.target.key, lk.origin.value) for item in items.values() for lk in item.links}
    # Links that Jira bodies declare are the Jira connector's; every GitHub-declared one is here.
    assert mine <= owned
    assert {x for x in owned if x[2] == "github_dependency"} <= mine
    assert all(LinkOrigin.TEXT_REFERENCE in i.links_complete for i in items.values())
    assert all(LinkOrigin.GITHUB_DEPENDENCY in i.links_complete for i in items.values())
    assert any(i.linked_pull_requests for i in items.values())

    routes = [e["route"] for e in entries_since(demo, start)]
    assert "/repos/{owner}/{repo}/issues/{number}" not in routes  # no per-issue GET
    needs = {
        (kind, key)
        for key, item in items.items()
        for kind, total in (("blocked_by", "total_blocked_by"), ("blocking", "total_blocking"))
        if item.raw and item.raw["issue_dependencies_summary"][total] > 0
    }
    dependency_calls = [r for r in routes if "/dependencies/" in r]
    assert len(dependency_calls) == len(needs)  # exactly what the summaries ask for
    assert routes.count(LIST_ROUTE) == len(REPOS)  # the demo repos fit one page each
    assert connector.stats.requests == len(routes)


def test_unchanged_repositories_cost_one_conditional_request_each(demo: SandboxHandle) -> None:
    connector = make_connector(demo)
    _, cursor = drain(connector.list_changed(None))
    start = last_seq(demo)
    items, _ = drain(make_connector(demo).list_changed(cursor))
    entries = entries_since(demo, start)
    assert items == {}
    assert [(e["route"], e["status"]) for e in entries] == [(LIST_ROUTE, 304)] * len(REPOS)


def test_incremental_sync_delivers_the_changed_issue(demo: SandboxHandle) -> None:
    _, cursor = drain(make_connector(demo).list_changed(None))
    demo.mutate(
        tracker="github",
        op="update",
        key="acme/mobile#3",
        fields={"title": "Renamed", "state": "closed", "state_reason": "not_planned"},
    )
    connector = make_connector(demo)
    start = last_seq(demo)
    items, cursor = drain(connector.list_changed(cursor))
    assert "acme/mobile#3" in items
    changed = items["acme/mobile#3"]
    assert (changed.title, changed.status_category, changed.resolution) == (
        "Renamed",
        StatusCategory.DONE,
        Resolution.WONT_DO,
    )
    assert len(items) <= 5  # the change plus what the overlap window re-reads
    lists = [e for e in entries_since(demo, start) if e["route"] == LIST_ROUTE]
    assert sorted(e["status"] for e in lists) == [200, 304, 304]
    # And the run after that is quiet again.
    start = last_seq(demo)
    assert drain(make_connector(demo).list_changed(cursor))[0] == {}
    assert {e["status"] for e in entries_since(demo, start)} == {304}


@pytest.fixture(scope="module")
def scale() -> Iterator[SandboxHandle]:
    with running_sandbox(SandboxConfig(seed="scale", github_items=2400)) as handle:
        yield handle


def test_issues_updated_mid_scan_are_not_lost(scale: SandboxHandle) -> None:
    scale.reset()
    scale.set_faults(scan_mutation={"github": 7})
    connector = make_connector(scale, repos=None, projects_v2=[])
    items, cursor = drain(connector.list_changed(None))
    scale.clear_faults()
    truth = github_truth(scale)
    assert set(items) == set(truth)  # every issue seen in the very scan that was disturbed
    later, _ = drain(make_connector(scale, repos=None, projects_v2=[]).list_changed(cursor))
    items.update(later)
    assert {k: comparable(v)["updated"] for k, v in items.items()} == {
        k: v["updated"] for k, v in truth.items()
    }


def test_an_interrupted_full_scan_resumes_where_it_stopped(scale: SandboxHandle) -> None:
    scale.reset()
    truth = github_truth(scale)
    start = last_seq(scale)
    first = make_connector(scale, repos=None, projects_v2=[])
    seen: dict[str, WorkItemRecord] = {}
    cursor: str | None = None
    for n, batch in enumerate(first.list_changed(None)):
        seen.update((i.key, i) for i in batch.items)
        cursor = batch.cursor
        if n == 4:
            break  # the process dies after committing five pages
    rest, _ = drain(make_connector(scale, repos=None, projects_v2=[]).list_changed(cursor))
    seen.update(rest)
    assert set(seen) == set(truth)
    lists = [e for e in entries_since(scale, start) if e["route"] == LIST_ROUTE]
    per_repo: dict[str, int] = {}
    for item in truth.values():
        per_repo[item["scope"]] = per_repo.get(item["scope"], 0) + 1
    minimum = sum(-(-n // 100) for n in per_repo.values())
    # Per repo: one probe before and one after its scan, and re-anchoring re-reads one issue per
    # page (at most one page more per repo at this size). Nothing was read twice by the restart.
    assert len(lists) <= minimum * 1.05 + 3 * len(per_repo)


# -- moves, deletions, single reads ---------------------------------------------------------------


def test_reconcile_finds_transferred_and_deleted_issues(demo: SandboxHandle) -> None:
    items, _ = drain(make_connector(demo).list_changed(None))
    known = [*(i.ref for i in items.values()), ItemRef(GH, "acme/web#9999", "424242")]  # never existed: 404
    moved = demo.mutate(tracker="github", op="transfer", key="acme/web#3", to_repo="acme/mobile")
    demo.mutate(tracker="github", op="delete", key="acme/web#4")
    connector = make_connector(demo)
    start = last_seq(demo)
    result = connector.reconcile(known)
    assert result.moved == {items["acme/web#3"].external_id: moved["key"]}
    assert result.new_ids == {items["acme/web#3"].external_id: moved["id"]}  # a transfer makes a new issue
    assert result.deleted_ids == frozenset({items["acme/web#4"].external_id, "424242"})
    assert result.present_ids == frozenset(i.external_id for i in items.values()) - {
        items["acme/web#3"].external_id,
        items["acme/web#4"].external_id,
    }
    single = [e for e in entries_since(demo, start) if e["route"] == "/repos/{owner}/{repo}/issues/{number}"]
    assert sorted(e["status"] for e in single) == [200, 301, 404, 410]  # 301 followed by PyGithub

    fetched = connector.fetch_item(ItemRef(GH, "acme/web#3", items["acme/web#3"].external_id))
    assert fetched.key == moved["key"]
    assert fetched.scope == "acme/mobile"
    with pytest.raises(Gone, match="410"):
        connector.fetch_item(ItemRef(GH, "acme/web#4"))


# -- errors, faults and rate limits -------------------------------------------------------------------


def test_bad_token_is_an_auth_error_without_the_token(demo: SandboxHandle) -> None:
    connector = make_connector(demo, token="not-the-token", repos=["web"])
    with pytest.raises(AuthError) as info:
        drain(connector.list_changed(None))
    assert "401" in str(info.value)
    assert "not-the-token" not in str(info.value)
    assert "not-the-token" not in repr(connector) + repr(connector.settings)


@pytest.mark.parametrize("status", [403, 429])
def test_secondary_rate_limit_waits_for_retry_after(demo: SandboxHandle, status: int) -> None:
    demo.set_faults(rate_limit={"github": {"count": 1, "retry_after": 1, "status": status}})
    connector = make_connector(demo, repos=["web"], projects_v2=[])
    items, _ = drain(connector.list_changed(None))
    observed = demo.faults()["_observed"]
    assert set(items) == {k for k, v in github_truth(demo).items() if v["scope"] == "acme/web"}
    assert observed["refusals"].get("github") == 1
    assert observed["early_requests"].get("github", 0) == 0  # nothing sent before retry-after passed
    assert connector.stats.rate_limit_waits >= 1
    assert connector.stats.rate_limit_wait_seconds >= 0.9


class FakeTime:
    """A clock that only moves when someone sleeps: waits are checked, not spent."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)
        self.slept: list[float] = []

    def clock(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)


def test_primary_limit_exhaustion_waits_for_the_reset(demo: SandboxHandle) -> None:
    demo.set_faults(primary_exhaust={"github": True})
    fake = FakeTime()
    connector = make_connector(demo, max_rate_limit_wait_seconds=5, repos=["web"], projects_v2=[])
    connector = GitHubConnector(connector.settings, clock=fake.clock, sleep=fake.sleep)
    start = last_seq(demo)
    with pytest.raises(RateLimited) as info:
        drain(connector.list_changed(None))
    retry_at = info.value.retry_at
    assert retry_at > fake.now + timedelta(seconds=5)
    assert [e["status"] for e in entries_since(demo, start)] == [403]
    demo.clear_faults()
    items, _ = drain(connector.list_changed(None))  # the pacer holds the first request until the reset
    assert items
    assert fake.slept and fake.now >= retry_at
    assert sum(fake.slept) >= (retry_at - datetime.now(UTC)).total_seconds() - 5


def test_truncated_bodies_and_5xx_are_retried(demo: SandboxHandle) -> None:
    demo.set_faults(truncate={"github": 1}, errors={"github": {"count": 2, "status": 502}})
    connector = make_connector(demo, repos=["web"], projects_v2=[])
    items, _ = drain(connector.list_changed(None))
    assert set(items) == {k for k, v in github_truth(demo).items() if v["scope"] == "acme/web"}
    assert connector.stats.retries == 3


def test_malformed_json_is_invalid_response_when_retries_run_out(demo: SandboxHandle) -> None:
    demo.set_faults(truncate={"github": 5})
    with pytest.raises(InvalidResponse, match="not JSON"):
        drain(make_connector(demo, retries=0, repos=["web"]).list_changed(None))


# -- releases, sprints ---------------------------------------------------------------------------------


def test_releases_and_sprints(demo: SandboxHandle) -> None:
    connector = make_connector(demo)
    truth = demo.truth()
    releases = {
        (r.scope, r.name, r.due_date.isoformat() if r.due_date else None, r.released)
        for r in connector.list_releases()
    }
    assert releases == {
        (r["scope"], r["name"], r["due_date"], r["released"])
        for r in truth["releases"]
        if r["tracker"] == "github"
    }
    sprints = {(s.external_id, s.name, s.state) for s in connector.list_sprints()}
    assert sprints == {(s["id"], s["name"], s["state"]) for s in truth["sprints"] if s["tracker"] == "github"}


# -- writes --------------------------------------------------------------------------------------------


def test_writes_round_trip(demo: SandboxHandle) -> None:
    connector = make_connector(demo)
    epic = connector.fetch_item(ItemRef(GH, "acme/web#1"))
    created = connector.create_item(
        ItemDraft(
            scope="acme/web",
            title="Mirror me",
            body="blocked by PAY-12",
            kind=ItemKind.STORY,
            labels=("checkout-v2",),
            assignee=None,
            parent=epic.ref,
        )
    )
    assert created.kind is ItemKind.STORY and created.original_type == "Feature"
    updated = connector.update_item(created.ref, ItemChanges(title="Mirrored", labels=("checkout-v2", "bug")))
    assert updated.title == "Mirrored"
    started = connector.transition(created.ref, StatusCategory.IN_PROGRESS)
    assert started.status_category is StatusCategory.IN_PROGRESS
    closed = connector.update_item(
        created.ref, ItemChanges(status_category=StatusCategory.DONE, resolution=Resolution.WONT_DO)
    )
    assert (closed.status_category, closed.resolution) == (StatusCategory.DONE, Resolution.WONT_DO)
    comment_id = connector.add_comment(created.ref, "synced by crosstrack")
    assert comment_id
    blocker = connector.fetch_item(ItemRef(GH, "acme/api-gateway#2"))
    connector.add_link(LinkRecord(blocker.ref, created.ref, LinkType.BLOCKS, LinkOrigin.GITHUB_DEPENDENCY))

    truth = github_truth(demo)[created.key]
    assert (truth["title"], truth["parent"], truth["status_category"], truth["resolution"]) == (
        "Mirrored",
        "acme/web#1",
        "done",
        "wont_do",
    )
    links = {(lk["from"], lk["to"], lk["origin"]) for lk in demo.truth()["links"]}
    assert (blocker.key, created.key, "github_dependency") in links
    again = connector.fetch_item(created.ref)
    assert (
        LinkRecord(blocker.ref, again.ref, LinkType.BLOCKS, LinkOrigin.GITHUB_DEPENDENCY, "blocked_by")
        in again.links
    )


# -- webhooks from the sandbox ---------------------------------------------------------------------


class _Receiver(http.server.BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        type(self).received.append((dict(self.headers.items()), body))
        self.send_response(202)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


def test_sandbox_deliveries_verify_and_parse(demo: SandboxHandle) -> None:
    receiver = type("Receiver", (_Receiver,), {"received": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        demo.register_webhook("github", f"http://127.0.0.1:{server.server_address[1]}/hook", "s3cret")
        demo.mutate(tracker="github", op="update", key="acme/web#2", fields={"title": "Hooked"})
        demo.mutate(
            tracker="github", op="link", **{"from": "acme/web#2", "to": "acme/web#6", "type": "blocks"}
        )
        demo.mutate(tracker="github", op="delete", key="acme/web#6")
        moved = demo.mutate(tracker="github", op="transfer", key="acme/web#5", to_repo="acme/mobile")
        demo.deliveries(wait=5)
    finally:
        server.shutdown()
    connector = make_connector(demo)
    events = []
    for headers, body in receiver.received:
        connector.verify_webhook(headers, body)
        events.append(connector.parse_webhook(headers, body))
    edited = [e for e in events if e.item is not None and e.item.key == "acme/web#2"]
    assert edited and edited[-1].item is not None and edited[-1].item.title == "Hooked"
    assert any(
        e.event == "issue_dependencies" and {r.key for r in e.refetch} == {"acme/web#2", "acme/web#6"}
        for e in events
    )
    assert any(r.key == "acme/web#6" for e in events for r in e.deleted)
    assert any(old.key == "acme/web#5" and new.key == moved["key"] for e in events for old, new in e.moved)
