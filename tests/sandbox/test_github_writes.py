"""Writes through PyGithub and the control API, and the signed webhooks they send."""

from __future__ import annotations

import hashlib
import hmac
import json

import github
import pytest

from sandbox.testing import SandboxHandle
from tests.sandbox.conftest import Receiver


def verify(secret: str, body: bytes, header: str) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header)


def events(receiver: Receiver) -> list[tuple[str, str | None, dict[str, object]]]:
    out = []
    for r in receiver.received:
        payload = json.loads(r.body)
        out.append((r.headers["X-GitHub-Event"], payload.get("action"), payload))
    return out


def test_create_update_comment_with_pygithub_send_signed_webhooks(
    sandbox: SandboxHandle, gh: github.Github, receiver: Receiver
) -> None:
    repo = gh.get_repo("acme/web")
    hook = repo.create_hook("web", {"url": receiver.url, "content_type": "json", "secret": "s3cret"}, ["*"])
    assert hook.config["secret"] == "********"  # never echoed back

    created = repo.create_issue(
        "Support promo codes", body="Blocked by PAY-9", labels=["checkout-v2"], assignee="lobrien"
    )
    created.edit(state="closed", state_reason="not_planned", title="Support promo codes at checkout")
    created.create_comment("Descoped for v2.")
    received = receiver.wait_for(5)

    kinds = [(e, a) for e, a, _ in events(receiver)]
    assert kinds[0] == ("ping", None)  # GitHub pings a new hook
    assert kinds[1] == ("issues", "opened")
    assert ("issues", "edited") in kinds and ("issues", "closed") in kinds
    assert kinds[-1] == ("issue_comment", "created")
    for r in received:
        assert verify("s3cret", r.body, r.headers["X-Hub-Signature-256"])
        assert r.headers["X-GitHub-Hook-ID"] == str(hook.id)
        assert r.headers["User-Agent"].startswith("GitHub-Hookshot/")
    assert len({r.headers["X-GitHub-Delivery"] for r in received}) == len(received)

    truth = {i["key"]: i for i in sandbox.truth()["items"]}
    item = truth[f"acme/web#{created.number}"]
    assert item["title"] == "Support promo codes at checkout"
    assert (item["status"], item["status_category"], item["resolution"]) == ("closed", "done", "wont_do")
    assert item["assignee"] == "lobrien"
    links = sandbox.truth()["links"]
    assert {"from": "PAY-9", "to": item["key"], "type": "blocks", "origin": "text_reference"} in links


def test_sub_issue_and_dependency_writes_take_ids(
    sandbox: SandboxHandle, gh: github.Github, receiver: Receiver
) -> None:
    sandbox.register_webhook("github", receiver.url, "k")
    web = gh.get_repo("acme/web")
    api = gh.get_repo("acme/api-gateway")
    parent = web.get_issue(2)
    loose = next(
        i["key"]
        for i in sandbox.truth()["items"]
        if i["scope"] == "acme/api-gateway" and i["parent"] is None and i["kind"] == "bug"
    )
    child = api.get_issue(int(loose.split("#")[1]))
    parent.add_sub_issue(child.id)
    blocked = web.get_issue(25)
    blocker = api.get_issue(21)
    blocked.add_blocked_by(blocker)

    truth = sandbox.truth()
    items = {i["key"]: i for i in truth["items"]}
    assert items[f"acme/api-gateway#{child.number}"]["parent"] == "acme/web#2"
    assert {
        "from": "acme/api-gateway#21",
        "to": "acme/web#25",
        "type": "blocks",
        "origin": "github_dependency",
    } in truth["links"]
    receiver.wait_for(4)
    actions = {(e, a) for e, a, _ in events(receiver)}
    assert {
        ("sub_issues", "sub_issue_added"),
        ("sub_issues", "parent_issue_added"),
        ("issue_dependencies", "blocked_by_added"),
        ("issue_dependencies", "blocking_added"),
    } <= actions

    parent.remove_sub_issue(child.id)
    blocked.remove_blocked_by(blocker)
    truth = sandbox.truth()
    assert {i["key"]: i for i in truth["items"]}[f"acme/api-gateway#{child.number}"]["parent"] is None
    assert not [x for x in truth["links"] if x["from"] == "acme/api-gateway#21" and x["to"] == "acme/web#25"]


def test_adding_a_second_parent_is_refused(sandbox: SandboxHandle, gh: github.Github) -> None:
    web = gh.get_repo("acme/web")
    child_key = next(i for i in sandbox.truth()["items"] if i["parent"] == "acme/web#1")["key"]
    child = web.get_issue(int(child_key.split("#")[1]))
    with pytest.raises(github.GithubException) as refused:
        web.get_issue(2).add_sub_issue(child.id)
    assert refused.value.status == 422


def test_control_api_mutations_emit_webhooks(sandbox: SandboxHandle, receiver: Receiver) -> None:
    sandbox.register_webhook("github", receiver.url, "secret")
    sandbox.mutate(
        tracker="github", op="update", key="acme/mobile#5", fields={"status": "closed", "labels": ["bug"]}
    )
    moved = sandbox.mutate(tracker="github", op="transfer", key="acme/mobile#35", to_repo="acme/web")
    sandbox.mutate(tracker="github", op="delete", key="acme/mobile#36")
    sandbox.mutate(tracker="github", op="link", **{"from": "acme/mobile#6", "to": "PLAT-4"})
    receiver.wait_for(6)
    seen = [(e, a) for e, a, _ in events(receiver)]
    assert ("issues", "closed") in seen
    assert ("issues", "transferred") in seen and ("issues", "deleted") in seen
    transferred = next(p for e, a, p in events(receiver) if a == "transferred")
    changes = transferred["changes"]
    assert isinstance(changes, dict)
    assert changes["new_issue"]["number"] == int(moved["key"].split("#")[1])

    truth = sandbox.truth()
    keys = {i["key"] for i in truth["items"]}
    assert "acme/mobile#35" not in keys and moved["key"] in keys and "acme/mobile#36" not in keys
    assert {"from": "acme/mobile#6", "to": "PLAT-4", "type": "blocks", "origin": "text_reference"} in truth[
        "links"
    ]
    history = truth["status_history"]["acme/mobile#5"]
    assert history[-1]["to"] == "closed" and history[-1]["to_category"] == "done"


def test_deliveries_api_lists_and_redelivers(
    sandbox: SandboxHandle, gh: github.Github, receiver: Receiver
) -> None:
    repo = gh.get_repo("acme/api-gateway")
    hook = repo.create_hook("web", {"url": receiver.url, "content_type": "json", "secret": "x"}, ["issues"])
    sandbox.mutate(tracker="github", op="touch", key="acme/api-gateway#4")
    sandbox.mutate(tracker="github", op="touch", key="acme/web#4")  # another repository: not this hook's
    receiver.wait_for(2)
    sandbox.deliveries(wait=5)
    status, _, data = gh.requester.requestJson("GET", f"/repos/acme/api-gateway/hooks/{hook.id}/deliveries")
    deliveries = json.loads(data)
    assert status == 200
    assert [d["event"] for d in deliveries] == ["issues", "ping"]  # newest first
    status, _, _ = gh.requester.requestJson(
        "POST", f"/repos/acme/api-gateway/hooks/{hook.id}/deliveries/{deliveries[0]['id']}/attempts"
    )
    assert status == 202
    received = [r for r in receiver.wait_for(3) if r.headers["X-GitHub-Event"] == "issues"]
    assert len(received) == 2
    assert received[0].headers["X-GitHub-Delivery"] == received[1].headers["X-GitHub-Delivery"]
    assert received[0].body == received[1].body


def test_webhook_drop_and_duplicate_faults(sandbox: SandboxHandle, receiver: Receiver) -> None:
    sandbox.register_webhook("github", receiver.url, "k")
    sandbox.set_faults(webhooks={"drop": 1.0})
    sandbox.mutate(tracker="github", op="touch", key="acme/web#3")
    log = sandbox.deliveries(wait=5)
    assert [d["status"] for d in log] == ["dropped"]
    sandbox.set_faults(webhooks={"drop": 0.0, "duplicate": 1.0})
    sandbox.mutate(tracker="github", op="touch", key="acme/web#3")
    received = receiver.wait_for(2)
    assert len(received) == 2
    assert received[0].headers["X-GitHub-Delivery"] == received[1].headers["X-GitHub-Delivery"]


def test_webhook_reorder_fault_swaps_neighbours(sandbox: SandboxHandle, receiver: Receiver) -> None:
    sandbox.register_webhook("github", receiver.url, "k")
    sandbox.set_faults(webhooks={"reorder": 1.0})
    sandbox.mutate(tracker="github", op="update", key="acme/web#3", fields={"title": "first"})
    sandbox.mutate(tracker="github", op="update", key="acme/web#3", fields={"title": "second"})
    sandbox.deliveries(wait=5)
    titles = [json.loads(r.body)["issue"]["title"] for r in receiver.wait_for(2)]
    assert titles == ["second", "first"]


def test_milestone_changes_send_milestone_webhooks(sandbox: SandboxHandle, receiver: Receiver) -> None:
    sandbox.register_webhook("github", receiver.url, "k")
    created = sandbox.mutate(
        tracker="github", op="milestone", repo="acme/web", title="v2.2", due_on="2030-01-15"
    )
    sandbox.mutate(tracker="github", op="milestone", repo="acme/web", title="v2.0", state="closed")
    receiver.wait_for(2)
    assert [(e, a) for e, a, _ in events(receiver)] == [("milestone", "created"), ("milestone", "closed")]
    releases = {r["name"]: r for r in sandbox.truth()["releases"] if r["scope"] == "acme/web"}
    assert releases["v2.0"]["released"] is True
    assert releases["v2.2"] == {
        "tracker": "github",
        "scope": "acme/web",
        "id": releases["v2.2"]["id"],
        "name": "v2.2",
        "due_date": "2030-01-15",
        "released": False,
    }
    assert created["number"] == 5


def test_activity_walk_mutates_and_sends_webhooks(receiver: Receiver) -> None:
    from sandbox.testing import running_sandbox

    with running_sandbox(activity=True, activity_interval=0.02) as handle:
        handle.register_webhook("github", receiver.url, "k")
        handle.register_webhook("jira", receiver.url, "k")
        received = receiver.wait_for(6)
    assert len(received) >= 6
    for r in received:
        assert "X-GitHub-Event" in r.headers or "X-Atlassian-Webhook-Identifier" in r.headers


def test_label_rename_and_delete_change_issues_with_only_a_label_event(
    sandbox: SandboxHandle, gh: github.Github, receiver: Receiver
) -> None:
    sandbox.register_webhook("github", receiver.url, "k")
    before = {i["key"]: i for i in sandbox.truth()["items"] if i["scope"] == "acme/web"}
    carriers = {k for k, i in before.items() if "bug" in i["labels"]}
    assert carriers
    sandbox.mutate(tracker="github", op="label", repo="acme/web", name="bug", new_name="defect")
    sandbox.mutate(tracker="github", op="label", repo="acme/web", name="epic", delete=True)
    receiver.wait_for(2)
    assert [(e, a) for e, a, _ in events(receiver)] == [("label", "edited"), ("label", "deleted")]
    after = {i["key"]: i for i in sandbox.truth()["items"] if i["scope"] == "acme/web"}
    assert {k for k, i in after.items() if "defect" in i["labels"]} == carriers
    assert not any("epic" in i["labels"] or "bug" in i["labels"] for i in after.values())
    assert all(after[k]["updated"] == before[k]["updated"] for k in before)
    issue = gh.get_repo("acme/web").get_issue(int(next(iter(carriers)).split("#")[1]))
    assert "defect" in [label.name for label in issue.labels]


def test_deleting_a_repository_removes_its_items_and_edges(
    sandbox: SandboxHandle, gh: github.Github, receiver: Receiver
) -> None:
    gh.get_organization("acme").create_hook(
        "web", {"url": receiver.url, "content_type": "json", "secret": "k"}, ["repository"]
    )
    sandbox.mutate(tracker="github", op="delete_repo", repo="acme/api-gateway")
    received = receiver.wait_for(2)
    assert [json.loads(r.body).get("action") for r in received] == [None, "deleted"]  # ping, then the event
    truth = sandbox.truth(tracker="github")
    assert not [i for i in truth["items"] if i["scope"] == "acme/api-gateway"]
    assert not [
        x
        for x in truth["links"]
        if "acme/api-gateway#" in x["from"] + x["to"] and x["origin"] == "github_dependency"
    ]
    with pytest.raises(github.UnknownObjectException):
        gh.get_repo("acme/api-gateway")
    assert sorted(r.name for r in gh.get_organization("acme").get_repos()) == ["mobile", "web"]
