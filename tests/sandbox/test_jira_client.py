"""The Jira half of the sandbox, driven by the unmodified `jira` client (Cloud and Data Center)."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from jira import JIRA, JIRAError

from sandbox.testing import SandboxHandle, running_sandbox

USER, TOKEN = "tpm@example.com", "sandbox-token"


@pytest.fixture(scope="module")
def cloud() -> Iterator[SandboxHandle]:
    with running_sandbox(anchor=datetime(2026, 11, 20).date()) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def datacenter() -> Iterator[SandboxHandle]:
    with running_sandbox(jira_flavour="datacenter", anchor=datetime(2026, 11, 20).date()) as sandbox:
        yield sandbox


@pytest.fixture
def fresh() -> Iterator[SandboxHandle]:
    """A sandbox of its own for tests that change the world."""
    with running_sandbox(anchor=datetime(2026, 11, 20).date()) as sandbox:
        yield sandbox


def cloud_client(sandbox: SandboxHandle, **options: Any) -> JIRA:
    return JIRA(sandbox.jira_url, basic_auth=(USER, TOKEN), max_retries=0, **options)


def test_cloud_server_info_myself_and_fields(cloud: SandboxHandle) -> None:
    client = cloud_client(cloud)
    info = client.server_info()
    assert info["deploymentType"] == "Cloud"
    assert info["versionNumbers"][0] >= 1000
    me = client.myself()
    assert (me["emailAddress"], me["timeZone"]) == (USER, "America/New_York")
    customs = {f["schema"]["custom"]: f["id"] for f in client.fields() if f.get("custom")}
    assert customs["com.pyxis.greenhopper.jira:jsw-story-points"] == "customfield_10016"
    assert customs["com.pyxis.greenhopper.jira:gh-sprint"] == "customfield_10020"
    assert "com.pyxis.greenhopper.jira:gh-epic-link" not in customs
    types = {t.name: (t.inward, t.outward) for t in client.issue_link_types()}
    assert types["Blocks"] == ("is blocked by", "blocks")


def test_datacenter_server_info_fields_and_token_auth(datacenter: SandboxHandle) -> None:
    client = JIRA(datacenter.jira_url, token_auth=TOKEN, max_retries=0)
    assert client.server_info()["deploymentType"] == "Server"
    assert not client._is_cloud
    customs = {f["schema"]["custom"]: f for f in client.fields() if f.get("custom")}
    assert customs["com.pyxis.greenhopper.jira:gh-epic-link"]["id"] == "customfield_10014"
    assert customs["com.atlassian.jira.plugin.system.customfieldtypes:float"]["name"] == "Story Points"


def test_enhanced_search_pages_with_next_page_token_and_no_total(cloud: SandboxHandle) -> None:
    client = cloud_client(cloud)
    jql = "project in (PAY, PLAT) ORDER BY updated ASC"
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = client.enhanced_search_issues(
            jql, nextPageToken=token, maxResults=25, fields=["summary", "updated"], json_result=True
        )
        assert "total" not in page
        seen += [issue["key"] for issue in page["issues"]]
        pages += 1
        token = page.get("nextPageToken")
        if not token:
            assert page["isLast"] is True
            break
    everything = client.enhanced_search_issues(jql, maxResults=0, fields="summary")
    assert seen == [issue.key for issue in everything]
    assert len(seen) == len(set(seen)) == pages * 25 - (25 - len(seen) % 25) % 25
    truth_keys = {i["key"] for i in cloud.truth()["items"] if i["tracker"] == "jira"}
    assert set(seen) == truth_keys


def test_enhanced_search_fields_default_to_id_and_caps_follow_the_fields(cloud: SandboxHandle) -> None:
    auth = (USER, TOKEN)
    url = f"{cloud.jira_url}/rest/api/3/search/jql"
    ids = httpx.get(url, params={"jql": "project in (PAY, PLAT)", "maxResults": 1000}, auth=auth).json()
    assert set(ids["issues"][0]) == {"id"}
    assert len(ids["issues"]) > 100  # only ids: large pages
    full = httpx.get(
        url, params={"jql": "project in (PAY, PLAT)", "maxResults": 1000, "fields": "*all"}, auth=auth
    ).json()
    assert len(full["issues"]) == 100 and full["nextPageToken"]
    # The client turns `key` into the field id `issuekey`; such pages are id-sized and carry keys.
    keys = cloud_client(cloud).enhanced_search_issues("project in (PAY, PLAT)", maxResults=1000, fields="key")
    assert len(keys) > 100 and all(issue.key for issue in keys)
    repeated = httpx.get(
        url, params=[("jql", "key = PAY-12"), ("fields", "summary"), ("fields", "status,labels")], auth=auth
    ).json()
    assert set(repeated["issues"][0]["fields"]) == {"summary", "status", "labels"}


def test_approximate_count_matches_the_search(cloud: SandboxHandle) -> None:
    client = cloud_client(cloud)
    jql = "project = PLAT AND issuetype in (Story, Bug)"
    assert client.approximate_issue_count(jql) == len(
        client.enhanced_search_issues(jql, maxResults=0, fields="id")
    )


def test_cloud_legacy_search_is_gone_and_bad_jql_is_400(cloud: SandboxHandle) -> None:
    auth = (USER, TOKEN)
    gone = httpx.get(f"{cloud.jira_url}/rest/api/2/search", params={"jql": "project = PAY"}, auth=auth)
    assert gone.status_code == 410
    assert "search/jql" in gone.json()["errorMessages"][0]
    bad = httpx.get(
        f"{cloud.jira_url}/rest/api/3/search/jql", params={"jql": "assignee = currentUser()"}, auth=auth
    )
    assert bad.status_code == 400
    body = bad.json()
    assert body["errors"] == {} and body["errorMessages"][0].startswith("Error in the JQL Query:")
    with pytest.raises(JIRAError) as raised:
        cloud_client(cloud).enhanced_search_issues("summary ~ checkout")
    assert raised.value.status_code == 400


def test_datacenter_search_pages_with_start_at_and_total(datacenter: SandboxHandle) -> None:
    client = JIRA(datacenter.jira_url, token_auth=TOKEN, max_retries=0)
    first = client.search_issues("project = PAY ORDER BY key ASC", startAt=0, maxResults=30)
    second = client.search_issues("project = PAY ORDER BY key ASC", startAt=30, maxResults=30)
    everything = client.search_issues("project = PAY ORDER BY key ASC", maxResults=False)
    assert first.total == second.total == len(everything)
    assert [i.key for i in first] + [i.key for i in second] == [i.key for i in everything][:60]
    count = httpx.get(
        f"{datacenter.jira_url}/rest/api/2/search",
        params={"jql": "project = PAY", "maxResults": 0},
        headers={"Authorization": f"Bearer {TOKEN}"},
    ).json()
    assert (count["total"], count["issues"]) == (len(everything), [])
    # Data Center: epic children carry the Epic Link field, not `parent`; sprints are strings.
    child = next(i for i in everything if getattr(i.fields, "customfield_10014", None))
    assert not hasattr(child.fields, "parent")
    # Data Center does not truncate an expanded changelog (Cloud keeps the latest 100).
    heavy = client.issue("PAY-2", expand="changelog")
    assert heavy.changelog.total == len(heavy.changelog.histories) > 100
    sprinted = next(i for i in everything if getattr(i.fields, "customfield_10020", None))
    assert sprinted.fields.customfield_10020[0].startswith("com.atlassian.greenhopper.service.sprint.Sprint@")


def test_bad_credentials_get_401(cloud: SandboxHandle) -> None:
    response = httpx.get(f"{cloud.jira_url}/rest/api/2/myself", auth=(USER, "wrong"))
    assert response.status_code == 401
    assert response.json()["errorMessages"]
    assert httpx.get(f"{cloud.jira_url}/rest/api/2/myself").status_code == 401
    with pytest.raises(JIRAError) as raised:
        JIRA(cloud.jira_url, basic_auth=(USER, "nope"), max_retries=0)
    assert raised.value.status_code == 401


def test_updated_filter_reads_the_searching_accounts_time_zone(fresh: SandboxHandle) -> None:
    # PAY-5 is touched at 23:59 New York time on Nov 21, which is 04:59 UTC on Nov 22.
    local = datetime(2026, 11, 21, 23, 59, 30, tzinfo=ZoneInfo("America/New_York"))
    fresh.mutate(tracker="jira", op="touch", key="PAY-5", at=local.isoformat())
    client = cloud_client(fresh)

    def keys(jql: str) -> set[str]:
        return {i.key for i in client.enhanced_search_issues(jql, maxResults=0, fields="id,key")}

    assert "PAY-5" in keys('project = PAY AND updated >= "2026/11/21 23:59"')
    assert "PAY-5" not in keys('project = PAY AND updated >= "2026-11-22 00:00"')
    # The bot account lives in UTC: for it the same text is five hours earlier.
    bot = JIRA(fresh.jira_url, basic_auth=("crosstrack-bot@example.com", "sandbox-bot-token"), max_retries=0)
    assert bot.myself()["timeZone"] == "UTC"
    bot_keys = {
        i.key for i in bot.enhanced_search_issues('updated >= "2026/11/22 04:59"', maxResults=0, fields="key")
    }
    assert "PAY-5" in bot_keys


def test_changelog_is_truncated_on_the_issue_and_pages_completely(cloud: SandboxHandle) -> None:
    client = cloud_client(cloud)
    issue = client.issue("PAY-2", expand="changelog")
    assert issue.changelog.total > 100
    assert len(issue.changelog.histories) == 100
    auth = (USER, TOKEN)
    values: list[dict[str, Any]] = []
    start = 0
    while True:
        page = httpx.get(
            f"{cloud.jira_url}/rest/api/3/issue/PAY-2/changelog",
            params={"startAt": start, "maxResults": 50},
            auth=auth,
        ).json()
        values += page["values"]
        if page["isLast"]:
            break
        start += page["maxResults"]
    assert len(values) == issue.changelog.total
    assert [v["id"] for v in values[-100:]] == [h.id for h in issue.changelog.histories]
    search = client.enhanced_search_issues(
        "key = PAY-2", fields="summary", expand="changelog", json_result=True
    )
    changelog = search["issues"][0]["changelog"]
    assert changelog["total"] > changelog["maxResults"] == len(changelog["histories"]) <= 40
    bulk = httpx.post(
        f"{cloud.jira_url}/rest/api/3/changelog/bulkfetch",
        json={"issueIdsOrKeys": ["PAY-2"], "maxResults": 100},
        auth=auth,
    ).json()
    histories = bulk["issueChangeLogs"][0]["changeHistories"]
    assert len(histories) == 100 and bulk["nextPageToken"]


def test_remote_links_point_at_github_issues(cloud: SandboxHandle) -> None:
    client = cloud_client(cloud)
    links = client.remote_links("PLAT-3")
    assert [(link.object.url, link.relationship) for link in links] == [
        ("https://github.com/acme/api-gateway/issues/2", "blocks")
    ]
    truth = cloud.truth()
    assert {"from": "PLAT-3", "to": "acme/api-gateway#2", "type": "blocks", "origin": "remote_link"} in truth[
        "links"
    ]


def test_moved_issue_answers_under_its_new_key(fresh: SandboxHandle) -> None:
    moved = fresh.mutate(tracker="jira", op="move", key="PAY-7", to_project="PLAT")
    client = cloud_client(fresh)
    issue = client.issue("PAY-7")
    assert issue.key == moved["key"] and issue.key.startswith("PLAT-")
    assert issue.id == moved["id"]
    assert [i.key for i in client.enhanced_search_issues("key = PAY-7", fields="key")] == [issue.key]


def test_create_edit_transition_comment_and_link(fresh: SandboxHandle) -> None:
    client = cloud_client(fresh)
    created = client.create_issue(project="PAY", summary="Retry webhooks", issuetype={"name": "Task"})
    created.update(fields={"summary": "Retry webhooks with backoff", "labels": ["backend"]})
    client.add_comment(created.key, "Started")
    names = {t["name"] for t in client.transitions(created.key)}
    assert {"In Progress", "Done", "Won't Do"} <= names
    client.assign_issue(created.key, "priya.raman@example.com")
    client.transition_issue(created.key, "Won't Do")
    client.create_issue_link("Blocks", created.key, "PAY-3")
    again = client.issue(created.key)
    assert again.fields.summary == "Retry webhooks with backoff"
    assert again.fields.labels == ["backend"]
    assert again.fields.assignee.emailAddress == "priya.raman@example.com"
    assert (again.fields.status.name, again.fields.resolution.name) == ("Done", "Won't Do")
    assert again.fields.status.statusCategory.key == "done"
    assert [(lk.type.name, lk.outwardIssue.key) for lk in again.fields.issuelinks] == [("Blocks", "PAY-3")]
    blocked = client.issue("PAY-3")
    assert any(
        getattr(lk, "inwardIssue", None) and lk.inwardIssue.key == created.key
        for lk in blocked.fields.issuelinks
    )
    item = next(i for i in fresh.truth()["items"] if i["key"] == created.key)
    assert (item["status_category"], item["resolution"], item["title"]) == (
        "done",
        "wont_do",
        again.fields.summary,
    )
    assert {
        "from": created.key,
        "to": "PAY-3",
        "type": "blocks",
        "origin": "jira_issuelink",
    } in fresh.truth()["links"]


def test_rate_limit_fault_answers_429_with_retry_after(fresh: SandboxHandle) -> None:
    fresh.set_faults(rate_limit={"jira": {"count": 1, "retry_after": 30}})
    response = httpx.get(f"{fresh.jira_url}/rest/api/3/myself", auth=(USER, TOKEN))
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "30"
    assert "X-RateLimit-Reset" in response.headers
    fresh.clear_faults()
    assert httpx.get(f"{fresh.jira_url}/rest/api/3/myself", auth=(USER, TOKEN)).status_code == 200


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    received: list[tuple[dict[str, str], bytes]] = []
    handler = type("Handler", (_Receiver,), {"received": received})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()


def test_webhooks_are_signed_and_shaped_like_jira(
    fresh: SandboxHandle, receiver: tuple[str, list[tuple[dict[str, str], bytes]]]
) -> None:
    url, received = receiver
    registered = httpx.post(
        f"{fresh.jira_url}/rest/webhooks/1.0/webhook",
        json={
            "name": "crosstrack",
            "url": url,
            "events": ["jira:issue_updated", "issuelink_created"],
            "secret": "s3cret",
        },
        auth=(USER, TOKEN),
    )
    assert registered.status_code == 201
    fresh.mutate(tracker="jira", op="update", key="PAY-12", fields={"status": "In Review"})
    fresh.mutate(tracker="jira", op="link", **{"from": "PAY-12", "to": "PLAT-3"}, type="blocks")
    fresh.deliveries(wait=5)
    events = []
    for headers, body in received:
        lowered = {k.lower(): v for k, v in headers.items()}
        expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(lowered["x-hub-signature"], expected)
        assert lowered["x-atlassian-webhook-identifier"]
        events.append(json.loads(body))
    updated = next(
        e for e in events if e["webhookEvent"] == "jira:issue_updated" and e["issue"]["key"] == "PAY-12"
    )
    assert {"field": "status", "toString": "In Review"}.items() <= updated["changelog"]["items"][0].items()
    assert updated["issue"]["fields"]["status"]["name"] == "In Review"
    link = next(e for e in events if e["webhookEvent"] == "issuelink_created")["issueLink"]
    assert isinstance(link["sourceIssueId"], int) and isinstance(link["destinationIssueId"], int)
    assert link["issueLinkType"]["name"] == "Blocks"
    assert not {e["webhookEvent"] for e in events} - {"jira:issue_updated", "issuelink_created"}


def test_scan_mutation_moves_items_while_a_scan_pages(fresh: SandboxHandle) -> None:
    fresh.set_faults(scan_mutation={"jira": 3})
    client = cloud_client(fresh)
    jql = "project in (PAY, PLAT) ORDER BY updated ASC"
    before = fresh.truth()
    first = client.enhanced_search_issues(jql, maxResults=50, fields="updated", json_result=True)
    after = fresh.truth()
    changed = {
        i["key"]
        for i, j in zip(
            sorted(before["items"], key=lambda i: i["key"]),
            sorted(after["items"], key=lambda i: i["key"]),
            strict=True,
        )
        if i["updated"] != j["updated"] and i["tracker"] == "jira"
    }
    assert len(changed) == 3
    assert changed <= {i["key"] for i in first["issues"]} | changed
    second = client.enhanced_search_issues(
        jql, nextPageToken=first["nextPageToken"], maxResults=50, fields="updated", json_result=True
    )
    assert second["issues"]


def test_truth_agrees_with_what_the_api_serves(cloud: SandboxHandle) -> None:
    client = cloud_client(cloud)
    truth = {i["key"]: i for i in cloud.truth()["items"] if i["tracker"] == "jira"}
    served = {
        i.key: i for i in client.enhanced_search_issues("project in (PAY, PLAT)", maxResults=0, fields="*all")
    }
    assert served.keys() == truth.keys()
    for key, issue in served.items():
        item = truth[key]
        assert item["id"] == issue.id
        assert item["status"] == issue.fields.status.name
        assert item["title"] == issue.fields.summary
        assert item["estimate"] == issue.fields.customfield_10016
        parent = getattr(issue.fields, "parent", None)
        assert item["parent"] == (parent.key if parent else None)
    # 12 weeks of history; program epics labelled in both projects
    assert sum(1 for i in truth.values() if "checkout-v2" in i["labels"] and i["kind"] == "epic") == 6
    oldest = min(datetime.fromisoformat(i["created"].replace("Z", "+00:00")) for i in truth.values())
    assert datetime(2026, 11, 20, tzinfo=ZoneInfo("UTC")) - oldest >= timedelta(weeks=11)


def test_cloud_dynamic_webhooks_register_list_and_delete(
    fresh: SandboxHandle, receiver: tuple[str, list[tuple[dict[str, str], bytes]]]
) -> None:
    url, received = receiver
    auth = (USER, TOKEN)
    base = f"{fresh.jira_url}/rest/api/3/webhook"
    created = httpx.post(
        base,
        json={"url": url, "webhooks": [{"events": ["jira:issue_created"], "jqlFilter": "project = PAY"}]},
        auth=auth,
    ).json()
    hook_id = created["webhookRegistrationResult"][0]["createdWebhookId"]
    listed = httpx.get(base, auth=auth).json()
    assert [(v["id"], v["events"]) for v in listed["values"]] == [(hook_id, ["jira:issue_created"])]
    fresh.mutate(tracker="jira", op="create", project="PLAT", type="Task", title="Outside the filter")
    fresh.mutate(tracker="jira", op="create", project="PAY", type="Task", title="Dynamic hook")
    fresh.deliveries(wait=5)
    bodies = [json.loads(body) for _, body in received]
    assert [(b["webhookEvent"], b["issue"]["fields"]["summary"]) for b in bodies] == [
        ("jira:issue_created", "Dynamic hook")
    ]
    assert httpx.request("DELETE", base, json={"webhookIds": [hook_id]}, auth=auth).status_code == 202
    assert httpx.get(base, auth=auth).json()["values"] == []


def test_webhook_filters_naming_several_projects_hear_about_each_of_them(
    fresh: SandboxHandle, receiver: tuple[str, list[tuple[dict[str, str], bytes]]]
) -> None:
    url, _ = receiver
    auth = (USER, TOKEN)
    filters = {
        "both": "project in (PAY, PLAT)",
        "pay_and_other": 'project in ("PAY", OPS) AND issuetype = Task',
        "plat": "project = PLAT",
        "unevaluated": "project = PAY OR project = PLAT",  # not read: every issue event
    }
    hooks = {}
    for name, jql_filter in filters.items():
        created = httpx.post(
            f"{fresh.jira_url}/rest/api/3/webhook",
            json={"url": url, "webhooks": [{"events": ["jira:issue_created"], "jqlFilter": jql_filter}]},
            auth=auth,
        ).json()
        hooks[created["webhookRegistrationResult"][0]["createdWebhookId"]] = name
    admin = httpx.post(
        f"{fresh.jira_url}/rest/webhooks/1.0/webhook",
        json={
            "name": "admin",
            "url": url,
            "events": ["jira:issue_created"],
            "filters": {"issue-related-events-section": "project in (PLAT, OPS)"},
        },
        auth=auth,
    )
    hooks[int(admin.json()["self"].rsplit("/", 1)[1])] = "admin_plat"
    fresh.mutate(tracker="jira", op="create", project="PAY", type="Task", title="In PAY")
    fresh.mutate(tracker="jira", op="create", project="PLAT", type="Task", title="In PLAT")
    heard: dict[str, list[str]] = {name: [] for name in hooks.values()}
    for delivery in fresh.deliveries(wait=5, full=True, tracker="jira"):
        if delivery["hook_id"] in hooks:
            heard[hooks[delivery["hook_id"]]].append(delivery["payload"]["issue"]["fields"]["summary"])
    assert heard == {
        "both": ["In PAY", "In PLAT"],
        "pay_and_other": ["In PAY"],
        "plat": ["In PLAT"],
        "unevaluated": ["In PAY", "In PLAT"],
        "admin_plat": ["In PLAT"],
    }


def test_v2_renders_text_and_v3_renders_documents(cloud: SandboxHandle) -> None:
    auth = (USER, TOKEN)
    v2 = httpx.get(
        f"{cloud.jira_url}/rest/api/2/issue/PAY-12", params={"fields": "description"}, auth=auth
    ).json()
    v3 = httpx.get(
        f"{cloud.jira_url}/rest/api/3/issue/PAY-12", params={"fields": "description"}, auth=auth
    ).json()
    assert isinstance(v2["fields"]["description"], str)
    document = v3["fields"]["description"]
    assert (document["type"], document["version"]) == ("doc", 1)
    text = "\n\n".join(node["content"][0]["text"] for node in document["content"] if node["content"])
    assert text == v2["fields"]["description"]


def test_adding_a_remote_link_logs_it_and_bumps_updated(fresh: SandboxHandle) -> None:
    client = cloud_client(fresh)
    before = client.issue("PAY-20").fields.updated
    link = client.add_remote_link(
        "PAY-20",
        {"url": "https://github.com/acme/web/issues/3", "title": "acme/web#3"},
        globalId="github:acme/web#3",
        relationship="is blocked by",
    )
    after = client.issue("PAY-20", expand="changelog")
    assert after.fields.updated > before
    last = after.changelog.histories[-1].items[0]
    assert (last.field, last.to) == ("RemoteIssueLink", str(link.id))
    cross = {"from": "acme/web#3", "to": "PAY-20", "type": "blocks", "origin": "remote_link"}
    assert cross in fresh.truth()["links"]
    deleted = httpx.delete(
        f"{fresh.jira_url}/rest/api/2/issue/PAY-20/remotelink/{link.id}", auth=(USER, TOKEN)
    )
    assert deleted.status_code == 204
    assert cross not in fresh.truth()["links"]
    last = client.issue("PAY-20", expand="changelog").changelog.histories[-1].items[0]
    assert (last.field, getattr(last, "from"), last.to) == ("RemoteIssueLink", str(link.id), None)


def test_malformed_requests_never_get_a_5xx(fresh: SandboxHandle) -> None:
    rng = random.Random(11)
    junk: list[Any] = ["", "x", "-1", "PAY-99999", "a,b", "0", 5, [], {}, None]
    bodies = [
        b"{",
        b"[]",
        b"null",
        b'{"fields": 5}',
        b'{"jql": 5, "maxResults": "x"}',
        b'{"update": {"labels": 5}}',
    ]
    bodies += [
        json.dumps({k: rng.choice(junk) for k in ("fields", "transition", "type", "object", "url")}).encode()
    ]
    paths = [
        "search/jql",
        "search",
        "search/approximate-count",
        "issue",
        "issue/PAY-12",
        "issue/PAY-12/transitions",
        "issue/PAY-12/comment",
        "issue/PAY-12/changelog",
        "changelog/bulkfetch",
        "issue/PAY-12/remotelink",
        "issueLink",
        "webhook",
    ]
    with httpx.Client(base_url=f"{fresh.jira_url}/rest/api/3/", auth=(USER, TOKEN)) as client:
        for _ in range(80):
            params = {
                k: str(rng.choice(junk)) for k in rng.sample(["jql", "fields", "startAt", "maxResults"], 2)
            }
            response = client.request(
                rng.choice(["GET", "POST", "PUT", "DELETE"]),
                rng.choice(paths),
                params=params,
                content=rng.choice(bodies),
                headers={"Content-Type": "application/json"},
            )
            assert response.status_code < 500, (response.request.url, response.text[:200])
