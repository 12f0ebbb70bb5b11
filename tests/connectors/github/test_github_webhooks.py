"""Webhook signatures (official test vector) and parsing of every example delivery."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from connectors.errors import PayloadInvalid, SignatureInvalid
from connectors.github.mapping import MappingConfig
from connectors.github.webhooks import parse_delivery, signature_for, verify_signature
from connectors.records import ItemRef, TrackerKind

from .conftest import EXAMPLES, all_examples, example

GH = TrackerKind.GITHUB
CONFIG = MappingConfig()


def headers(event: str, delivery: str = "d-1") -> dict[str, str]:
    return {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery}


def deliver(event: str, payload: dict[str, Any], delivery: str = "d-1"):  # type: ignore[no-untyped-def]
    return parse_delivery(headers(event, delivery), json.dumps(payload).encode(), CONFIG)


# -- signatures -------------------------------------------------------------------------------------

OFFICIAL_SECRET = "It's a Secret to Everybody"
OFFICIAL_BODY = b"Hello, World!"
OFFICIAL_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_official_test_vector() -> None:
    # https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries#testing-the-webhook-payload-validation
    assert signature_for(OFFICIAL_SECRET, OFFICIAL_BODY) == OFFICIAL_SIGNATURE
    verify_signature(OFFICIAL_SECRET, {"X-Hub-Signature-256": OFFICIAL_SIGNATURE}, OFFICIAL_BODY)
    verify_signature(OFFICIAL_SECRET, {"x-hub-signature-256": OFFICIAL_SIGNATURE}, OFFICIAL_BODY)


@pytest.mark.parametrize(
    ("secret", "hdrs", "body", "message"),
    [
        (OFFICIAL_SECRET, {"X-Hub-Signature-256": OFFICIAL_SIGNATURE}, b"Hello, World?", "does not match"),
        (
            OFFICIAL_SECRET,
            {"X-Hub-Signature-256": OFFICIAL_SIGNATURE.replace("sha256", "sha1")},
            OFFICIAL_BODY,
            "does not match",
        ),
        (OFFICIAL_SECRET, {}, OFFICIAL_BODY, "without an X-Hub-Signature-256"),
        (OFFICIAL_SECRET, {"X-Hub-Signature": "sha1=abc"}, OFFICIAL_BODY, "without an X-Hub-Signature-256"),
        ("another secret", {"X-Hub-Signature-256": OFFICIAL_SIGNATURE}, OFFICIAL_BODY, "does not match"),
        (None, {"X-Hub-Signature-256": OFFICIAL_SIGNATURE}, OFFICIAL_BODY, "no webhook secret"),
        ("", {"X-Hub-Signature-256": signature_for("", OFFICIAL_BODY)}, OFFICIAL_BODY, "no webhook secret"),
    ],
)
def test_bad_signatures_are_refused(
    secret: str | None, hdrs: dict[str, str], body: bytes, message: str
) -> None:
    with pytest.raises(SignatureInvalid, match=message) as info:
        verify_signature(secret, hdrs, body, source="gh")
    assert OFFICIAL_SECRET not in str(info.value)


# -- every example parses ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", all_examples(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_example_delivery_parses(path: Path) -> None:
    event = path.parent.name
    body = path.read_bytes()
    parsed = parse_delivery(headers(event, f"delivery-{path.stem}"), body, CONFIG)
    assert parsed.delivery_id == f"delivery-{path.stem}"
    assert parsed.event == event
    payload = json.loads(body)
    assert parsed.action == payload.get("action")
    useful = parsed.item or parsed.deleted or parsed.refetch or parsed.release or parsed.moved
    useful = useful or parsed.deleted_scope or parsed.moved_scope
    assert useful or parsed.ignored_reason, "each delivery either carries news or says why it is a no-op"


def test_issue_opened_carries_the_item() -> None:
    parsed = deliver("issues", example("issues/opened.1"))
    assert parsed.item is not None
    assert parsed.item.key == "Codertocat/Hello-World#1"
    assert parsed.occurred_at == parsed.item.updated_at


def test_issue_deleted() -> None:
    parsed = deliver("issues", example("issues/deleted.1"))
    assert parsed.deleted == (ItemRef(GH, "Codertocat/Hello-World#1", "444500041"),)
    assert parsed.item is None


def test_issue_transferred() -> None:
    payload = example("issues/transferred.1")
    parsed = deliver("issues", payload)
    new_repo = payload["changes"]["new_repository"]["full_name"]
    new_number = payload["changes"]["new_issue"]["number"]
    assert parsed.moved == (
        (
            ItemRef(
                GH,
                f"{payload['repository']['full_name']}#{payload['issue']['number']}",
                str(payload["issue"]["id"]),
            ),
            ItemRef(GH, f"{new_repo}#{new_number}", str(payload["changes"]["new_issue"]["id"])),
        ),
    )
    assert parsed.item is not None and parsed.item.key == f"{new_repo}#{new_number}"


@pytest.mark.parametrize("action", ["typed", "untyped"])
def test_issue_typed_and_untyped(action: str) -> None:
    payload = copy.deepcopy(example("issues/opened.1"))
    issue_type = {"id": 7, "node_id": "IT_7", "name": "Epic", "description": None}
    payload.update(action=action, type=issue_type)
    payload["issue"]["type"] = issue_type if action == "typed" else None
    parsed = deliver("issues", payload)
    assert parsed.item is not None
    assert (parsed.item.original_type == "Epic") == (action == "typed")


def test_pull_request_issue_events_are_ignored() -> None:
    parsed = deliver("issues", example("issues/milestoned.1"))
    assert parsed.item is None and parsed.ignored_reason


def _two_issues(action: str, first: str, second: str) -> dict[str, Any]:
    base = example("issues/opened.1")
    a = copy.deepcopy(base["issue"])
    b = copy.deepcopy(base["issue"])
    b.update(id=999, number=2, url="https://api.github.com/repos/Codertocat/Hello-World/issues/2")
    return {
        "action": action,
        f"{first}_id": a["id"],
        first: a,
        f"{second}_id": b["id"],
        second: b,
        f"{second}_repo": base["repository"],
        f"{first}_repo": base["repository"],
        "repository": base["repository"],
        "sender": base["sender"],
    }


@pytest.mark.parametrize(
    "action", ["sub_issue_added", "sub_issue_removed", "parent_issue_added", "parent_issue_removed"]
)
def test_sub_issue_events_ask_for_refetch(action: str) -> None:
    parsed = deliver("sub_issues", _two_issues(action, "sub_issue", "parent_issue"))
    assert parsed.refetch == (
        ItemRef(GH, "Codertocat/Hello-World#1", "444500041"),
        ItemRef(GH, "Codertocat/Hello-World#2", "999"),
    )


@pytest.mark.parametrize(
    "action", ["blocked_by_added", "blocked_by_removed", "blocking_added", "blocking_removed"]
)
def test_dependency_events_ask_for_refetch(action: str) -> None:
    parsed = deliver("issue_dependencies", _two_issues(action, "blocked_issue", "blocking_issue"))
    assert {r.key for r in parsed.refetch} == {"Codertocat/Hello-World#1", "Codertocat/Hello-World#2"}


def test_milestone_becomes_release() -> None:
    parsed = deliver("milestone", example("milestone/closed.1"))
    assert parsed.release is not None
    assert parsed.release.released is True
    assert parsed.release.scope == "Codertocat/Hello-World"


def test_repository_deleted_and_transferred() -> None:
    payload = copy.deepcopy(example("repository/created.1"))
    payload["action"] = "deleted"
    assert deliver("repository", payload).deleted_scope == payload["repository"]["full_name"]
    transferred = example("repository/transferred.1")
    moved = deliver("repository", transferred).moved_scope
    assert moved is not None and moved[1] == transferred["repository"]["full_name"] and moved[0] != moved[1]


def test_ping_and_unknown_events_are_noops() -> None:
    assert deliver("ping", example("ping/event.1")).ignored_reason == "ping"
    assert deliver("star", {"action": "created"}).ignored_reason == "event star is not handled"


@pytest.mark.parametrize(
    ("hdrs", "body", "message"),
    [
        ({"X-GitHub-Event": "issues"}, b"{}", "X-GitHub-Delivery"),
        (headers("issues"), b"not json", "not JSON"),
        (headers("issues"), b"[1, 2]", "not a JSON object"),
        (headers("issues"), b'{"action": "opened"}', "no 'issue' object"),
        (headers("issues"), b'{"action": "opened", "issue": {"id": 1}}', "issues.opened delivery d-1"),
    ],
)
def test_malformed_deliveries(hdrs: dict[str, str], body: bytes, message: str) -> None:
    with pytest.raises(PayloadInvalid, match=message):
        parse_delivery(hdrs, body, CONFIG)


def test_examples_are_present() -> None:
    assert len(list(EXAMPLES.glob("issues/*.json"))) >= 20
