"""The Jira connector against the tracker sandbox over loopback HTTP, with the real ``jira`` client,
in both flavours (Cloud: ``search/jql`` + nextPageToken; Data Center: ``/search`` + startAt)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

import orjson
import pytest

from connectors.base import SourceSettings
from connectors.errors import AuthError, InvalidResponse, NotFound
from connectors.jira import JiraConnector
from connectors.jira.jql import format_jql_instant
from connectors.pacing import Pacer
from connectors.records import (
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

J = TrackerKind.JIRA
FLAVOURS = ["cloud", "datacenter"]
SEARCH = {"cloud": "GET /rest/api/3/search/jql", "datacenter": "GET /rest/api/2/search"}


@pytest.fixture(params=FLAVOURS)
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def sb(flavour: str) -> Iterator[SandboxHandle]:
    with running_sandbox(SandboxConfig(jira_flavour=flavour)) as handle:
        yield handle


def connector(sb: SandboxHandle, token: str = "sandbox-token", **options: Any) -> JiraConnector:
    settings = SourceSettings(
        name="jira-test",
        kind=J,
        base_url=sb.jira_url,
        flavour=sb.config.jira_flavour,
        token=token,
        user="tpm@example.com",
        webhook_secret="hook-secret",
        options={"projects": ["PAY", "PLAT"], "retry_backoff_seconds": 0.01, **options},
    )
    # A pacer of its own: tests run in parallel and must not share waits through the process cache.
    return JiraConnector(settings, pacer=Pacer("jira-test"))


def sync(conn: JiraConnector, cursor: str | None) -> tuple[list[WorkItemRecord], str | None]:
    items: list[WorkItemRecord] = []
    for batch in conn.list_changed(cursor):
        items.extend(batch.items)
        cursor = batch.cursor if batch.cursor is not None else cursor
    return items, cursor


def merge(model: dict[str, WorkItemRecord], items: list[WorkItemRecord]) -> None:
    """What the engine does: upsert by id, never moving an item back in time."""
    for item in items:
        old = model.get(item.external_id)
        if old is None or old.updated_at <= item.updated_at:
            model[item.external_id] = item


def jira_truth(sb: SandboxHandle) -> list[dict[str, Any]]:
    return [i for i in sb.truth()["items"] if i["tracker"] == "jira"]


def as_truth(r: WorkItemRecord) -> dict[str, Any]:
    return {
        "id": r.external_id,
        "key": r.key,
        "scope": r.scope,
        "title": r.title,
        "type": r.original_type,
        "kind": r.kind.value,
        "status": r.original_status,
        "status_category": r.status_category.value,
        "resolution": r.resolution.value if r.resolution else None,
        "assignee": r.assignee.external_id if r.assignee else None,
        "parent": r.parent.key if r.parent else None,
        "estimate": r.estimate,
        "labels": list(r.labels),
        "releases": [x.name for x in r.releases],
        "sprint": r.sprint.name if r.sprint else None,
        "due_date": r.due_date.isoformat() if r.due_date else None,
        "updated": r.updated_at,
    }


def truth_view(item: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "id",
        "key",
        "scope",
        "title",
        "type",
        "kind",
        "status",
        "status_category",
        "resolution",
        "assignee",
    )
    keys += ("parent", "estimate", "labels", "releases", "sprint", "due_date")
    view = {k: item[k] for k in keys}
    view["updated"] = datetime.fromisoformat(item["updated"]).astimezone(UTC)
    return view


def search_requests(sb: SandboxHandle, since: int = 0) -> list[dict[str, Any]]:
    return [e for e in sb.stats(since)["entries"] if f"{e['method']} {e['route']}" in SEARCH.values()]


# -- full and incremental sync ------------------------------------------------------------------------


def test_full_sync_equals_the_truth_in_few_requests(sb: SandboxHandle, flavour: str) -> None:
    conn = connector(sb)
    items, cursor = sync(conn, None)
    truth = jira_truth(sb)

    assert sorted((as_truth(i) for i in items), key=lambda d: d["id"]) == sorted(
        (truth_view(t) for t in truth), key=lambda d: d["id"]
    )
    # Start dates: Cloud only (the sandbox's DC payload has no start-date field).
    if flavour == "cloud":
        by_key = {i.key: i for i in items}
        assert {t["key"]: t["start_date"] for t in truth} == {
            k: (r.start_date.isoformat() if r.start_date else None) for k, r in by_key.items()
        }

    # Complete status history, including the issues whose changelog the search truncates.
    history = sb.truth()["status_history"]
    assert all(i.status_history is not None for i in items)
    assert {
        i.key: [(h.at, h.from_status, h.to_status, h.to_category.value) for h in i.status_history or ()]
        for i in items
    } == {
        t["key"]: [
            (datetime.fromisoformat(h["at"]).astimezone(UTC), h["from"], h["to"], h["to_category"])
            for h in history.get(t["key"], [])
        ]
        for t in truth
    }

    # Issue links: each logical link normalized the same way the truth does.
    got_links = {
        (lk.source.key, lk.target.key, lk.type.value)
        for i in items
        for lk in i.links
        if lk.origin is LinkOrigin.JIRA_ISSUELINK
    }
    want_links = {
        (lk["from"], lk["to"], lk["type"]) for lk in sb.truth()["links"] if lk["origin"] == "jira_issuelink"
    }
    assert got_links == want_links
    assert all(LinkOrigin.JIRA_ISSUELINK in i.links_complete for i in items)

    # Requests: 3 discovery + the minimum pages + changelog only for the truncated histories.
    by_endpoint = sb.stats()["by_endpoint"]
    pages = -(-len(truth) // 100)
    assert by_endpoint[SEARCH[flavour]] == {"200": pages}
    changelog_requests = sum(sum(v.values()) for k, v in by_endpoint.items() if "changelog" in k)
    if flavour == "cloud":
        assert changelog_requests == 1  # one bulkfetch for every truncated history of the page
    else:
        assert changelog_requests == 0  # Data Center expands changelogs whole
    assert conn.stats.requests == sb.stats()["total"]
    assert cursor is not None


def test_no_change_incremental_costs_exactly_one_request(sb: SandboxHandle, flavour: str) -> None:
    _, cursor = sync(connector(sb), None)
    before = sb.stats()["total"]
    fresh = connector(sb)  # a new connector: discovery comes from the cursor
    items, after_cursor = sync(fresh, cursor)
    entries = sb.stats(before)["entries"]
    assert [f"{e['method']} {e['route']}" for e in entries] == [SEARCH[flavour]]
    assert fresh.stats.requests == 1
    assert items == []
    assert after_cursor is not None


def test_incremental_sees_changes_with_history(sb: SandboxHandle) -> None:
    conn = connector(sb)
    model: dict[str, WorkItemRecord] = {}
    items, cursor = sync(conn, None)
    merge(model, items)
    sb.mutate(tracker="jira", op="update", key="PAY-7", fields={"status": "Done", "resolution": "Won't Do"})
    sb.mutate(tracker="jira", op="update", key="PLAT-2", fields={"title": "Renamed by the test"})
    changed, cursor = sync(conn, cursor)
    assert {"PAY-7", "PLAT-2"} <= {i.key for i in changed}
    merge(model, changed)
    pay7 = next(i for i in model.values() if i.key == "PAY-7")
    assert (pay7.status_category, pay7.resolution) == (StatusCategory.DONE, Resolution.WONT_DO)
    assert pay7.status_history is not None and pay7.status_history[-1].to_status == "Done"
    assert sorted((as_truth(i) for i in model.values()), key=lambda d: d["id"]) == sorted(
        (truth_view(t) for t in jira_truth(sb)), key=lambda d: d["id"]
    )


def test_paging_across_many_pages(flavour: str) -> None:
    with running_sandbox(
        SandboxConfig(seed="scale", jira_items=1000, jira_flavour=flavour, max_results_jira=40)
    ) as sb:
        items, _ = sync(connector(sb), None)
        assert len(items) == len({i.external_id for i in items}) == 1000
        assert {i.external_id for i in items} == {t["id"] for t in jira_truth(sb)}
        assert sb.stats()["by_endpoint"][SEARCH[flavour]] == {"200": 25}


def test_items_updated_during_the_scan_are_not_lost(flavour: str) -> None:
    config = SandboxConfig(seed="scale", jira_items=600, jira_flavour=flavour, max_results_jira=50)
    with running_sandbox(config) as sb:
        sb.set_faults(scan_mutation={"jira": 4})  # after every page, 4 served issues are edited
        conn = connector(sb)
        model: dict[str, WorkItemRecord] = {}
        items, cursor = sync(conn, None)
        merge(model, items)
        sb.clear_faults()
        changed, _ = sync(conn, cursor)
        merge(model, changed)
        truth = {t["id"]: datetime.fromisoformat(t["updated"]).astimezone(UTC) for t in jira_truth(sb)}
        assert {k: v.updated_at for k, v in model.items()} == truth


def test_a_restart_resumes_the_scan(flavour: str) -> None:
    config = SandboxConfig(seed="scale", jira_items=500, jira_flavour=flavour, max_results_jira=50)
    with running_sandbox(config) as sb:
        first = connector(sb)
        seen: list[WorkItemRecord] = []
        cursor = None
        for n, batch in enumerate(first.list_changed(None)):
            seen.extend(batch.items)
            cursor = batch.cursor
            if n == 3:
                break  # the process dies after committing the fourth page
        second = connector(sb)
        rest, final = sync(second, cursor)
        assert {i.external_id for i in seen} | {i.external_id for i in rest} == {
            t["id"] for t in jira_truth(sb)
        }
        # The restart reads only the 6 pages not yet committed (no discovery: the cursor carries it);
        # Data Center starts one issue early to check its position, which here costs a seventh page.
        # Then one catch-up search for what changed since the interrupted scan began (nothing).
        assert second.stats.requests == (8 if flavour == "datacenter" else 7)
        assert final is not None and orjson.loads(final)["scan"] is None


def _interrupted_scan(sb: SandboxHandle, pages: int) -> tuple[list[WorkItemRecord], str | None]:
    """The items and the cursor a process committed before it died after ``pages`` pages."""
    seen: list[WorkItemRecord] = []
    cursor = None
    for n, batch in enumerate(connector(sb).list_changed(None)):
        seen.extend(batch.items)
        cursor = batch.cursor
        if n == pages - 1:
            break
    return seen, cursor


def test_a_restart_after_deletions_skips_no_issue() -> None:
    """Data Center pages by offset: issues deleted before the stored offset while no process ran
    move every unread issue up, so resuming at the offset would skip as many (and the new process
    has no earlier ``total`` to notice it; one creation more would hide it anyway)."""
    config = SandboxConfig(seed="scale", jira_items=500, jira_flavour="datacenter", max_results_jira=50)
    with running_sandbox(config) as sb:
        seen, cursor = _interrupted_scan(sb, 4)
        assert cursor is not None and orjson.loads(cursor)["scan"]["offset"] == 200
        for item in (seen[0], seen[120], seen[199]):
            sb.mutate(tracker="jira", op="delete", key=item.key)
        sb.mutate(tracker="jira", op="create", project="PAY", type="Task", title="Created after the crash")
        mark = sb.stats()["total"]
        rest, final = sync(connector(sb), cursor)
        assert {i.external_id for i in seen} | {i.external_id for i in rest} >= {
            t["id"] for t in jira_truth(sb)
        }
        assert final is not None and orjson.loads(final)["scan"] is None
        # It asked from one issue before its offset, found a stranger there and stepped back a page.
        starts = [parse_qs(r["query"])["startAt"] for r in search_requests(sb, mark)][:2]
        assert starts == [["199"], ["149"]]


def test_a_restart_reads_changes_made_since_the_interrupted_scan_began(flavour: str) -> None:
    """The resumed scan ends where it left off and its final cursor is its original start; an
    issue it read before the crash and edited since must still come out of the same run."""
    config = SandboxConfig(seed="scale", jira_items=500, jira_flavour=flavour, max_results_jira=50)
    with running_sandbox(config) as sb:
        seen, cursor = _interrupted_scan(sb, 4)
        assert cursor is not None and orjson.loads(cursor)["scan"] is not None
        sb.mutate(tracker="jira", op="update", key=seen[3].key, fields={"title": "Edited after the crash"})
        rest, _ = sync(connector(sb), cursor)
        assert [i.title for i in rest if i.external_id == seen[3].external_id] == ["Edited after the crash"]


# -- time zones -------------------------------------------------------------------------------------


@pytest.mark.parametrize("zone", ["America/Los_Angeles", "Asia/Tokyo"])
def test_an_update_at_2359_local_is_never_missed(zone: str) -> None:
    with running_sandbox(SandboxConfig(jira_timezone=zone)) as sb:
        conn = connector(sb)
        _, cursor = sync(conn, None)
        since = datetime.fromisoformat(orjson.loads(cursor or "{}")["since"])
        # Move the tracker's clock to 23:59:20 local time, then edit an issue.
        now = datetime.fromisoformat(sb.advance_clock(0).replace("Z", "+00:00"))
        local = now.astimezone(ZoneInfo(zone))
        target = local.replace(hour=23, minute=59, second=20, microsecond=0)
        if target <= local:
            target += timedelta(days=1)
        sb.advance_clock((target - local).total_seconds())
        sb.mutate(tracker="jira", op="update", key="PAY-3", fields={"title": "Edited at 23:59 local"})
        mark = sb.stats()["total"]
        changed, _ = sync(conn, cursor)
        assert "PAY-3" in {i.key for i in changed}
        # The bound was written in the account's zone, not in UTC.
        (request,) = search_requests(sb, mark)
        jql = (
            parse_qs(request["query"])["jql"][0]
            if isinstance(request["query"], str)
            else request["query"]["jql"]
        )
        expected = format_jql_instant(since, ZoneInfo(zone), timedelta(minutes=2))
        assert f'updated >= "{expected}"' in jql


def test_an_update_in_the_repeated_dst_hour_is_seen() -> None:
    """New York, 2026-11-01: 01:00-01:59 happen twice. A cursor inside the first pass of that hour
    must still select an issue edited a minute later."""
    with running_sandbox(SandboxConfig(jira_timezone="America/New_York")) as sb:
        conn = connector(sb)
        _, cursor = sync(conn, None)
        state = orjson.loads(cursor or "{}")
        state["since"] = "2026-11-01T05:31:00+00:00"  # 01:31 EDT, the first 01:31
        sb.mutate(tracker="jira", op="touch", key="PAY-4", at="2026-11-01T05:30:30+00:00")
        changed, _ = sync(conn, orjson.dumps(state).decode())
        assert "PAY-4" in {i.key for i in changed}


# -- moves and deletions ----------------------------------------------------------------------------


def test_moved_issue_keeps_its_id(sb: SandboxHandle) -> None:
    conn = connector(sb)
    items, cursor = sync(conn, None)
    pay12 = next(i for i in items if i.key == "PAY-12")
    moved = sb.mutate(tracker="jira", op="move", key="PAY-12", to_project="PLAT")
    changed, _ = sync(conn, cursor)
    again = next(i for i in changed if i.external_id == pay12.external_id)
    assert (again.key, again.scope) == (moved["key"], "PLAT")
    # Read by the old ref: the answer comes under the new key.
    assert conn.fetch_item(pay12.ref).key == moved["key"]
    assert conn.fetch_item(ItemRef(J, "PAY-12")).key == moved["key"]
    # Reconcile in a PAY-only source: the issue left the scope and is reported as moved, not deleted.
    pay_only = connector(sb, projects=["PAY"])
    result = pay_only.reconcile([pay12.ref])
    assert result.moved == {pay12.external_id: moved["key"]}
    assert pay12.external_id not in result.deleted_ids


def test_deleted_issue_is_found_by_reconcile(sb: SandboxHandle) -> None:
    conn = connector(sb)
    items, _ = sync(conn, None)
    victim = next(i for i in items if i.key == "PLAT-9")
    sb.mutate(tracker="jira", op="delete", key="PLAT-9")
    gone = {i.external_id for i in items} - {
        t["id"] for t in jira_truth(sb)
    }  # with its subtasks, as Jira does
    assert victim.external_id in gone
    mark = sb.stats()["total"]
    result = conn.reconcile([i.ref for i in items])
    assert result.deleted_ids == gone
    assert result.present_ids == {i.external_id for i in items} - gone
    assert result.moved == {}
    # Ids in one large page, plus one single read per missing issue.
    routes = [f"{e['method']} {e['route']}" for e in sb.stats(mark)["entries"]]
    assert routes.count(SEARCH[conn.settings.flavour]) == 1
    assert len(routes) == 1 + len(gone)
    with pytest.raises(NotFound):
        conn.fetch_item(victim.ref)


# -- faults -----------------------------------------------------------------------------------------


def test_a_429_storm_never_sends_a_request_before_retry_after(sb: SandboxHandle, flavour: str) -> None:
    sb.set_faults(rate_limit={"jira": {"count": 2, "retry_after": 1}})
    conn = connector(sb)
    items, _ = sync(conn, None)
    assert len(items) == len(jira_truth(sb))
    entries = [e for e in sb.stats()["entries"] if e["tracker"] == "jira"]
    refused = [e for e in entries if e["status"] == 429]
    assert len(refused) == 2
    for r in refused:
        later = [e for e in entries if e["seq"] > r["seq"]]
        assert later, "the connector gave up"
        gap = datetime.fromisoformat(later[0]["at"]) - datetime.fromisoformat(r["at"])
        assert gap >= timedelta(seconds=1)
    observed = sb.faults()["_observed"]
    assert (observed["refusals"].get("jira"), observed["early_requests"].get("jira", 0)) == (2, 0)
    assert conn.stats.rate_limit_waits == 2


def test_5xx_bursts_are_retried(sb: SandboxHandle) -> None:
    sb.set_faults(errors={"jira": {"count": 2, "status": 502}})
    items, _ = sync(connector(sb), None)
    assert len(items) == len(jira_truth(sb))


def test_bad_credentials_are_an_auth_error(sb: SandboxHandle) -> None:
    conn = connector(sb, token="wrong-token-123")
    with pytest.raises(AuthError) as caught:
        sync(conn, None)
    assert "401" in str(caught.value)
    assert "wrong-token-123" not in str(caught.value)


def test_a_truncated_body_is_retried_once(sb: SandboxHandle) -> None:
    conn = connector(sb)
    conn.discover()
    sb.set_faults(truncate={"jira": 1})
    items, _ = sync(conn, None)
    assert len(items) == len(jira_truth(sb))


def test_malformed_json_twice_is_an_invalid_response(sb: SandboxHandle) -> None:
    conn = connector(sb)
    conn.discover()
    sb.set_faults(truncate={"jira": 2})
    with pytest.raises(InvalidResponse, match="not JSON"):
        sync(conn, None)


# -- releases, sprints, remote links -----------------------------------------------------------------


def test_releases_and_sprints(sb: SandboxHandle) -> None:
    conn = connector(sb)
    truth = sb.truth()
    releases = list(conn.list_releases())
    assert sorted((r.external_id, r.name, r.scope, r.released) for r in releases) == sorted(
        (t["id"], t["name"], t["scope"], t["released"]) for t in truth["releases"] if t["tracker"] == "jira"
    )
    sprints = list(conn.list_sprints())
    assert sorted((s.external_id, s.name, s.state) for s in sprints) == sorted(
        (t["id"], t["name"], t["state"]) for t in truth["sprints"] if t["tracker"] == "jira"
    )


def test_fetch_item_reads_remote_links_to_github(sb: SandboxHandle) -> None:
    conn = connector(sb)
    plat3 = conn.fetch_item(ItemRef(J, "PLAT-3"))
    remote = [lk for lk in plat3.links if lk.origin is LinkOrigin.REMOTE_LINK]
    assert [(lk.source.key, lk.target, lk.type) for lk in remote] == [
        ("PLAT-3", ItemRef(TrackerKind.GITHUB, "acme/api-gateway#2"), LinkType.BLOCKS)
    ]
    assert LinkOrigin.REMOTE_LINK in plat3.links_complete
    pay18 = conn.fetch_item(ItemRef(J, "PAY-18"))
    assert [(lk.source, lk.target.key) for lk in pay18.links if lk.origin is LinkOrigin.REMOTE_LINK] == [
        (ItemRef(TrackerKind.GITHUB, "acme/api-gateway#3"), "PAY-18")
    ]


def test_listing_reads_remote_links_where_the_changelog_shows_them(sb: SandboxHandle) -> None:
    items, _ = sync(connector(sb), None)
    remote = {
        (lk.source.key, lk.target.key) for i in items for lk in i.links if lk.origin is LinkOrigin.REMOTE_LINK
    }
    want = {(lk["from"], lk["to"]) for lk in sb.truth()["links"] if lk["origin"] == "remote_link"}
    assert remote == want
    # Only the issues whose history shows a remote link change cost a /remotelink request.
    remotelink_reads = sum(
        sum(v.values()) for k, v in sb.stats()["by_endpoint"].items() if k.endswith("/remotelink")
    )
    assert remotelink_reads == len({key for pair in want for key in pair if "#" not in key})


def test_incremental_reads_a_remote_link_added_since_the_cursor(sb: SandboxHandle) -> None:
    conn = connector(sb)
    _, cursor = sync(conn, None)
    conn.add_link(
        LinkRecord(
            ItemRef(J, "PAY-30"),
            ItemRef(TrackerKind.GITHUB, "acme/web#3"),
            LinkType.BLOCKS,
            LinkOrigin.REMOTE_LINK,
        )
    )
    changed, _ = sync(conn, cursor)
    pay30 = next(i for i in changed if i.key == "PAY-30")
    assert LinkOrigin.REMOTE_LINK in pay30.links_complete
    assert [(lk.source.key, lk.target.key) for lk in pay30.links if lk.origin is LinkOrigin.REMOTE_LINK] == [
        ("PAY-30", "acme/web#3")
    ]


# -- writes -----------------------------------------------------------------------------------------


def test_writes(sb: SandboxHandle, flavour: str) -> None:
    conn = connector(sb)
    epic = conn.fetch_item(ItemRef(J, "PAY-1"))
    created = conn.create_item(
        ItemDraft(
            scope="PAY",
            title="Mirror of acme/web#5",
            body="From GitHub",
            kind=ItemKind.STORY,
            labels=("mirrored",),
            parent=epic.ref,
        )
    )
    assert (created.scope, created.title, created.kind, created.labels) == (
        "PAY",
        "Mirror of acme/web#5",
        ItemKind.STORY,
        ("mirrored",),
    )
    assert created.parent is not None and created.parent.key == epic.key
    assert created.status_category is StatusCategory.TODO

    edited = conn.update_item(
        created.ref, ItemChanges(title="Mirror of acme/web#5 (edited)", labels=("mirrored", "x"))
    )
    assert (edited.title, edited.labels) == ("Mirror of acme/web#5 (edited)", ("mirrored", "x"))

    started = conn.transition(created.ref, StatusCategory.IN_PROGRESS)
    assert started.status_category is StatusCategory.IN_PROGRESS
    done = conn.update_item(
        created.ref, ItemChanges(status_category=StatusCategory.DONE, resolution=Resolution.WONT_DO)
    )
    assert (done.status_category, done.resolution) == (StatusCategory.DONE, Resolution.WONT_DO)
    assert done.status_history is not None and [h.to_category for h in done.status_history][-2:] == [
        StatusCategory.IN_PROGRESS,
        StatusCategory.DONE,
    ]

    comment_id = conn.add_comment(created.ref, "Mirrored by crosstrack")
    assert comment_id

    conn.add_link(LinkRecord(created.ref, ItemRef(J, "PAY-2"), LinkType.BLOCKS, LinkOrigin.MIRROR_PAIR))
    conn.add_link(
        LinkRecord(
            ItemRef(TrackerKind.GITHUB, "acme/web#5"), created.ref, LinkType.BLOCKS, LinkOrigin.REMOTE_LINK
        )
    )
    links = sb.truth()["links"]
    assert {"from": created.key, "to": "PAY-2", "type": "blocks", "origin": "jira_issuelink"} in links
    assert {"from": "acme/web#5", "to": created.key, "type": "blocks", "origin": "remote_link"} in links
    final = conn.fetch_item(created.ref)
    assert {(lk.source.key, lk.target.key, lk.origin) for lk in final.links} >= {
        (created.key, "PAY-2", LinkOrigin.JIRA_ISSUELINK),
        ("acme/web#5", created.key, LinkOrigin.REMOTE_LINK),
    }
    truth_item = next(t for t in jira_truth(sb) if t["key"] == created.key)
    assert truth_view(truth_item) == as_truth(final)


# -- webhooks from the sandbox ------------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    got: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            got.append((dict(self.headers.items()), body))
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/webhooks/jira/test", got
    finally:
        httpd.shutdown()
        httpd.server_close()


def wait_for(got: list[Any], n: int) -> None:
    deadline = datetime.now(UTC) + timedelta(seconds=10)
    while len(got) < n and datetime.now(UTC) < deadline:
        threading.Event().wait(0.05)


def test_sandbox_deliveries_verify_and_parse(
    sb: SandboxHandle, receiver: tuple[str, list[tuple[dict[str, str], bytes]]]
) -> None:
    url, got = receiver
    sb.register_webhook("jira", url, "hook-secret")
    conn = connector(sb)
    sb.mutate(tracker="jira", op="update", key="PAY-5", fields={"status": "In Progress"})
    sb.mutate(tracker="jira", op="link", **{"from": "PAY-5", "to": "PLAT-6", "type": "blocks"})
    moved = sb.mutate(tracker="jira", op="move", key="PAY-6", to_project="PLAT")
    sb.mutate(tracker="jira", op="delete", key="PAY-8")
    wait_for(got, 4)
    events = []
    for headers, body in got:
        conn.verify_webhook(headers, body)
        events.append(conn.parse_webhook(headers, body))
    by_event = {e.event: e for e in events}
    updated = [e for e in events if e.event == "jira:issue_updated" and e.item and e.item.key == "PAY-5"]
    assert updated and updated[0].item is not None
    assert updated[0].item.status_category is StatusCategory.IN_PROGRESS
    assert by_event["issuelink_created"].refetch[0].external_id is not None
    assert any(e.moved and e.moved[0][1].key == moved["key"] for e in events)
    assert any(e.deleted and e.deleted[0].key == "PAY-8" for e in events)
    assert len({e.delivery_id for e in events}) == len(events)
    # The issuelink refetch works by id alone.
    for ref in by_event["issuelink_created"].refetch:
        assert conn.fetch_item(ref).external_id == ref.external_id


def test_truncated_changelogs_wait_for_one_bulkfetch_across_pages() -> None:
    """Cloud: issues with a truncated changelog are held back (batches carry no cursor meanwhile)
    and completed by one bulkfetch for all of them."""
    with running_sandbox(SandboxConfig(jira_flavour="cloud", max_results_jira=20)) as sb:
        batches = list(connector(sb).list_changed(None))
        assert sb.stats()["by_endpoint"]["POST /rest/api/3/changelog/bulkfetch"] == {"200": 1}
        items = [i for b in batches for i in b.items]
        assert len(items) == len({i.external_id for i in items}) == len(jira_truth(sb))
        history = sb.truth()["status_history"]
        heavy = {"PAY-2", "PLAT-4", "PAY-14"}
        assert {i.key: len(i.status_history or ()) for i in items if i.key in heavy} == {
            k: len(history.get(k, [])) for k in heavy
        }
        # Once a heavy issue is held back, no cursor until it is delivered with the last page.
        first_held = next(n for n, b in enumerate(batches) if b.cursor is None)
        assert all(b.cursor is None for b in batches[first_held:-1])
        assert batches[-1].cursor is not None
        assert {i.key for i in batches[-1].items} >= heavy


def test_discovery_is_refreshed_once_it_is_a_day_old(sb: SandboxHandle, flavour: str) -> None:
    _, cursor = sync(connector(sb), None)
    state = orjson.loads(cursor or "{}")
    state["discovered_at"] = (datetime.now(UTC) - timedelta(hours=25)).isoformat()
    mark = sb.stats()["total"]
    fresh = connector(sb)
    _, new_cursor = sync(fresh, orjson.dumps(state).decode())
    routes = sorted(f"{e['method']} {e['route']}" for e in sb.stats(mark)["entries"])
    api = "3" if flavour == "cloud" else "2"
    assert routes == sorted(
        [SEARCH[flavour], *(f"GET /rest/api/{api}/{p}" for p in ("field", "myself", "status"))]
    )
    assert datetime.fromisoformat(orjson.loads(new_cursor or "{}")["discovered_at"]) > datetime.now(
        UTC
    ) - timedelta(minutes=5)


def test_a_damaged_cursor_falls_back_to_a_full_scan(sb: SandboxHandle) -> None:
    items, _ = sync(connector(sb), '{"v": 1, "since": "yesterday", "tz": 3, "statuses": {"1": "maybe"}}')
    assert len(items) == len(jira_truth(sb))


def test_an_issue_deleted_mid_scan_does_not_hide_a_neighbour(
    flavour: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Offset paging: a deletion before the current position moves every later issue up one place,
    so one issue would slip between two pages. Data Center: ``total`` shrinks and the scan steps
    back. Cloud (no total): the reconcile id listing shows the id the engine does not know."""
    caplog.set_level("INFO", logger="crosstrack.connectors.jira")
    with running_sandbox(SandboxConfig(jira_flavour=flavour, max_results_jira=20)) as sb:
        conn = connector(sb)
        batches = conn.list_changed(None)
        first = next(batches)
        seen = {i.external_id for i in first.items}
        sb.mutate(tracker="jira", op="delete", key=first.items[3].key)
        for batch in batches:
            seen |= {i.external_id for i in batch.items}
        alive = {t["id"] for t in jira_truth(sb)}
        if flavour == "datacenter":
            assert alive <= seen
            assert any(r.msg == "connector.jira.scan.shrunk" for r in caplog.records)
        else:
            missing = conn.reconcile([ItemRef(J, "", i) for i in seen]).present_ids - seen
            recovered = {conn.fetch_item(ItemRef(J, "", i)).external_id for i in missing}
            assert alive <= seen | recovered


def test_assign_and_unassign(sb: SandboxHandle, flavour: str) -> None:
    conn = connector(sb)
    someone = next(i.assignee for i in sync(conn, None)[0] if i.assignee is not None)
    assert someone is not None
    who = someone.external_id if flavour == "cloud" else someone.login
    assert who is not None
    target = ItemRef(J, "PLAT-2")
    assigned = conn.update_item(target, ItemChanges(assignee=who))
    assert assigned.assignee is not None and assigned.assignee.external_id == someone.external_id
    unassigned = conn.update_item(target, ItemChanges(assignee=""))
    assert unassigned.assignee is None


def test_a_transition_to_the_current_category_sends_nothing(sb: SandboxHandle) -> None:
    conn = connector(sb)
    done = next(i for i in sync(conn, None)[0] if i.status_category is StatusCategory.DONE)
    # Already there: no transition is sent.
    mark = sb.stats()["total"]
    assert conn.transition(done.ref, StatusCategory.DONE).status_category is StatusCategory.DONE
    assert not [e for e in sb.stats(mark)["entries"] if e["method"] == "POST"]


def test_the_configured_jql_filters_the_listing(sb: SandboxHandle) -> None:
    items, _ = sync(connector(sb, jql="labels = checkout-v2 ORDER BY rank"), None)
    want = {t["key"] for t in jira_truth(sb) if "checkout-v2" in t["labels"]}
    assert want
    assert {i.key for i in items} == want
