"""The sandbox core on its own: ledger, faults, webhook dispatcher, text-reference parser."""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx
from hypothesis import given
from hypothesis import strategies as st

from sandbox.core import Clock, Faults, Ledger, SandboxConfig, WebhookDispatcher
from sandbox.github.world import parse_references
from sandbox.testing import SandboxHandle
from tests.sandbox.conftest import Receiver


def test_ledger_counts_per_endpoint_and_pages_entries_by_seq() -> None:
    ledger = Ledger()
    ledger.record("github", "GET", "/repos/{owner}/{repo}/issues", "/x", 200, "page=1")
    ledger.record("github", "GET", "/repos/{owner}/{repo}/issues", "/x", 304)
    seq = ledger.record("jira", "GET", "/rest/api/3/search/jql", "/y", 429)
    snap = ledger.snapshot()
    assert snap["total"] == 3
    assert snap["by_endpoint"] == {
        "GET /repos/{owner}/{repo}/issues": {"200": 1, "304": 1},
        "GET /rest/api/3/search/jql": {"429": 1},
    }
    assert [e["seq"] for e in ledger.snapshot(since=seq - 1)["entries"]] == [seq]
    ledger.reset()
    assert ledger.snapshot()["total"] == 0
    assert ledger.record("jira", "GET", "/a", "/a", 200) == seq + 1  # cursors stay valid over a reset


def test_rate_limit_window_refuses_every_request_until_retry_after() -> None:
    clock = Clock()
    faults = Faults(clock, {"rate_limit": {"jira": {"count": 2, "retry_after": 10}}})
    first = faults.rate_limited("jira")
    assert first is not None and (first.status, first.retry_after) == (429, 10)
    clock.advance(4)
    again = faults.rate_limited("jira")
    assert again is not None and again.retry_after == 6
    assert faults.early_requests == {"jira": 1}
    assert faults.rate_limited("github") is None  # per tracker
    clock.advance(6)
    assert faults.rate_limited("jira") is not None  # second window (count 2)
    clock.advance(10)
    assert faults.rate_limited("jira") is None
    assert faults.early_requests == {"jira": 1}


def test_faults_merge_counts_and_clear() -> None:
    faults = Faults(Clock())
    faults.merge({"errors": {"github": {"count": 1, "status": 503}}, "truncate": {"jira": 1}})
    faults.merge({"errors": {"jira": {"count": 1}}})
    assert faults.take_error("github") == 503 and faults.take_error("github") is None
    assert faults.take_error("jira") == 502
    assert faults.take_truncate("jira") and not faults.take_truncate("jira")
    faults.clear()
    assert faults.get() == {"_observed": {"refusals": {}, "early_requests": {}}}


def test_dispatcher_signs_each_target_with_its_secret(receiver: Receiver) -> None:
    dispatcher = WebhookDispatcher(Faults(Clock()))
    gh_hook = dispatcher.register("github", receiver.url, "gh-secret", ["issues"], scope="acme/web")
    dispatcher.register("jira", receiver.url, "jira-secret")
    dispatcher.register("github", receiver.url, "other", scope="acme/mobile")  # another repository
    dispatcher.emit("github", "issues", {"action": "edited"}, action="edited", scope="acme/web")
    dispatcher.emit(
        "github", "label", {"action": "created"}, action="created", scope="acme/web"
    )  # not subscribed
    dispatcher.emit("jira", "jira:issue_updated", {"webhookEvent": "jira:issue_updated"})
    assert dispatcher.wait_idle(10)
    got = receiver.wait_for(2)
    dispatcher.close()
    assert len(got) == 2
    github_delivery = next(r for r in got if "X-GitHub-Event" in r.headers)
    jira_delivery = next(r for r in got if "X-Atlassian-Webhook-Identifier" in r.headers)
    assert github_delivery.headers["X-GitHub-Hook-ID"] == str(gh_hook)
    digest = hmac.new(b"gh-secret", github_delivery.body, hashlib.sha256).hexdigest()
    assert github_delivery.headers["X-Hub-Signature-256"] == f"sha256={digest}"
    digest = hmac.new(b"jira-secret", jira_delivery.body, hashlib.sha256).hexdigest()
    assert jira_delivery.headers["X-Hub-Signature"] == f"sha256={digest}"
    assert jira_delivery.headers["X-Atlassian-Webhook-Retry"] == "0"


def test_jira_redelivery_keeps_the_identifier_and_counts_retries(receiver: Receiver) -> None:
    dispatcher = WebhookDispatcher(Faults(Clock()))
    dispatcher.register("jira", receiver.url, "s")
    [delivery_id] = dispatcher.emit("jira", "jira:issue_created", {"webhookEvent": "jira:issue_created"})
    dispatcher.redeliver(delivery_id)
    assert dispatcher.wait_idle(10)
    first, second = receiver.wait_for(2)
    dispatcher.close()
    ident = first.headers["X-Atlassian-Webhook-Identifier"]
    assert second.headers["X-Atlassian-Webhook-Identifier"] == ident
    assert (first.headers["X-Atlassian-Webhook-Retry"], second.headers["X-Atlassian-Webhook-Retry"]) == (
        "0",
        "1",
    )


def test_secret_is_not_in_reprs() -> None:
    dispatcher = WebhookDispatcher(Faults(Clock()))
    hook = dispatcher.register("github", "http://127.0.0.1:9/x", "top-secret-value")
    assert "top-secret-value" not in repr(dispatcher.target(hook))


def test_control_api_over_http(sandbox: SandboxHandle) -> None:
    health = httpx.get(f"{sandbox.url}/healthz").json()
    assert health["ok"] and "github" in health["worlds"]
    assert sandbox.set_faults(latency_ms={"jira": 5})["latency_ms"] == {"jira": 5}
    sandbox.clear_faults()
    bad = httpx.post(f"{sandbox.url}/_sandbox/mutate", json={"tracker": "github", "op": "explode"})
    assert bad.status_code == 400 and "unknown GitHub op" in bad.json()["error"]
    missing = httpx.post(
        f"{sandbox.url}/_sandbox/mutate", json={"tracker": "github", "op": "touch", "key": "acme/web#99999"}
    )
    assert missing.status_code == 404
    assert SandboxConfig.with_items(101).github_items == 51


KEY = st.from_regex(r"[A-Z][A-Z0-9]{1,5}-[1-9][0-9]{0,4}", fullmatch=True)
REPO = st.from_regex(r"[a-z][a-z0-9-]{0,10}/[a-z][a-z0-9.-]{0,10}", fullmatch=True)
NUMBER = st.integers(min_value=1, max_value=99999)


@given(
    verb=st.sampled_from(["blocked by", "Blocked by", "depends on", "Depends on", "blocks", "Blocks"]),
    target=st.one_of(
        KEY.map(lambda k: (k, k)),
        KEY.map(lambda k: (f"https://acme.atlassian.net/browse/{k}", k)),
        st.tuples(REPO, NUMBER).map(lambda t: (f"{t[0]}#{t[1]}", f"{t[0]}#{t[1]}")),
        st.tuples(REPO, NUMBER).map(lambda t: (f"https://github.com/{t[0]}/issues/{t[1]}", f"{t[0]}#{t[1]}")),
        NUMBER.map(lambda n: (f"#{n}", f"acme/web#{n}")),
    ),
    before=st.sampled_from(["", "Note: ", "x\n\n"]),
    after=st.sampled_from(["", ".", " soon", "\nmore text"]),
)
def test_text_references_parse_to_keys(verb: str, target: tuple[str, str], before: str, after: str) -> None:
    text, key = target
    expected = "blocks" if verb.lower() == "blocks" else "blocked_by"
    assert parse_references(f"{before}{verb} {text}{after}", "acme/web") == [(expected, key)]


def test_truth_document_shape(sandbox: SandboxHandle) -> None:
    truth = sandbox.truth()
    assert set(truth) >= {"as_of", "items", "links", "releases", "sprints", "status_history", "people"}
    item = next(i for i in truth["items"] if i["tracker"] == "github")
    assert set(item) == {
        "tracker", "id", "key", "scope", "url", "title", "type", "kind", "status", "status_category",
        "resolution", "assignee", "parent", "estimate", "labels", "releases", "sprint", "start_date",
        "due_date", "created", "updated", "resolved",
    }  # fmt: skip
    json.dumps(truth)  # plain JSON


def test_dispatcher_with_several_senders_delivers_everything(receiver: Receiver) -> None:
    dispatcher = WebhookDispatcher(Faults(Clock()), workers=4)
    dispatcher.register("github", receiver.url, "s")
    for n in range(40):
        dispatcher.emit("github", "issues", {"action": "edited", "n": n}, action="edited")
    assert dispatcher.wait_idle(20)
    dispatcher.close()
    got = receiver.wait_for(40)
    assert sorted(json.loads(r.body)["n"] for r in got) == list(range(40))


def test_batch_mutation_applies_in_order_and_reports_the_failing_op(sandbox: SandboxHandle) -> None:
    done = httpx.post(
        f"{sandbox.url}/_sandbox/mutate",
        json={
            "tracker": "github",
            "ops": [{"op": "touch", "key": "acme/web#3"}, {"op": "touch", "key": "acme/web#4"}],
        },
    )
    assert done.status_code == 200 and [r["key"] for r in done.json()] == ["acme/web#3", "acme/web#4"]
    failed = httpx.post(
        f"{sandbox.url}/_sandbox/mutate",
        json={
            "tracker": "github",
            "ops": [{"op": "touch", "key": "acme/web#3"}, {"op": "touch", "key": "nope#1"}],
        },
    )
    assert failed.status_code == 404 and failed.json()["index"] == 1 and len(failed.json()["done"]) == 1


def test_truth_can_be_asked_for_one_tracker(sandbox: SandboxHandle) -> None:
    github_only = sandbox.truth(tracker="github")
    assert github_only["items"] and {i["tracker"] for i in github_only["items"]} == {"github"}
    both = sandbox.truth()
    assert len(both["items"]) > len(github_only["items"])


def test_config_repr_hides_webhook_secrets() -> None:
    config = SandboxConfig(webhook_targets=[("github", "http://127.0.0.1:9/x", "hush-hush")])
    assert "hush-hush" not in repr(config)


def test_initial_faults_are_copied_not_consumed_in_place() -> None:
    initial = {"errors": {"github": {"count": 1, "status": 503}}}
    faults = Faults(Clock(), initial)
    assert faults.take_error("github") == 503
    assert initial == {"errors": {"github": {"count": 1, "status": 503}}}


def test_jira_retries_failed_deliveries_with_the_same_identifier_github_does_not(receiver: Receiver) -> None:
    receiver.status = 503
    dispatcher = WebhookDispatcher(Faults(Clock()), retry_delays=(0.05, 0.05))
    dispatcher.register("jira", receiver.url, "s")
    dispatcher.register("github", receiver.url, "s")
    dispatcher.emit("jira", "jira:issue_updated", {"webhookEvent": "jira:issue_updated"})
    dispatcher.emit("github", "issues", {"action": "edited"}, action="edited")
    got = receiver.wait_for(4)
    import time

    time.sleep(0.3)  # no further attempts come
    dispatcher.close()
    jira = [r for r in receiver.received if "X-Atlassian-Webhook-Identifier" in r.headers]
    github = [r for r in receiver.received if "X-GitHub-Event" in r.headers]
    assert len(got) >= 4 and len(github) == 1
    assert [r.headers["X-Atlassian-Webhook-Retry"] for r in jira] == ["0", "1", "2"]
    assert len({r.headers["X-Atlassian-Webhook-Identifier"] for r in jira}) == 1
