"""Jira webhook signatures and parsing (payload shapes from Atlassian's webhook documentation)."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
from datetime import UTC, date, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.errors import PayloadInvalid, SignatureInvalid
from connectors.jira.mapping import MappingContext, discover_fields
from connectors.jira.webhooks import parse_webhook, verify_signature
from connectors.records import ItemRef, ReleaseRecord, SprintRecord, TrackerKind
from tests.connectors.jira import payloads as p

J = TrackerKind.JIRA
SECRET = "It's a Secret to Everybody"
CTX = MappingContext(
    base_url="https://acme.atlassian.net", fields=discover_fields(p.CLOUD_FIELDS), keep_raw=False
)


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def headers(body: bytes, **extra: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Atlassian-Webhook-Identifier": "8f1d0a4e-5b3c-4a7e-9d2f-0c6b1e2a3f4d",
        "X-Atlassian-Webhook-Retry": "0",
        "X-Hub-Signature": sign(body),
        **extra,
    }


def issue_updated(**changelog_items: Any) -> dict[str, Any]:
    issue = p.cloud_issue()
    issue.pop("changelog")
    return {
        "timestamp": 1763647170512,
        "webhookEvent": "jira:issue_updated",
        "issue_event_type_name": "issue_generic",
        "user": p.CLOUD_USER,
        "issue": issue,
        "changelog": {
            "id": "20002",
            "items": [
                {
                    "field": "status",
                    "fieldtype": "jira",
                    "fieldId": "status",
                    "from": "3",
                    "fromString": "In Progress",
                    "to": "10002",
                    "toString": "In Review",
                },
                *changelog_items.values(),
            ],
        },
    }


def body_of(payload: dict[str, Any]) -> bytes:
    return orjson.dumps(payload)


# -- signatures -------------------------------------------------------------------------------------


def test_valid_signature_passes() -> None:
    body = body_of(issue_updated())
    verify_signature(SECRET, headers(body), body)
    # Header names are case-insensitive on the wire.
    verify_signature(SECRET, {k.lower(): v for k, v in headers(body).items()}, body)


@pytest.mark.parametrize(
    ("secret", "signature", "message"),
    [
        (None, "sha256=00", "no webhook secret"),
        ("", "sha256=00", "no webhook secret"),
        (SECRET, None, "no X-Hub-Signature"),
        (SECRET, "sha1=abcdef", "sha256="),
        (SECRET, "sha256=", "sha256="),
        (SECRET, "sha256=" + "0" * 64, "does not match"),
        (SECRET, sign(b"another body"), "does not match"),
        (SECRET, sign(b"{}", "other secret"), "does not match"),
    ],
)
def test_bad_signatures_are_refused(secret: str | None, signature: str | None, message: str) -> None:
    body = b"{}"
    hdrs = {"X-Atlassian-Webhook-Identifier": "x"}
    if signature is not None:
        hdrs["X-Hub-Signature"] = signature
    with pytest.raises(SignatureInvalid, match=message):
        verify_signature(secret, hdrs, body)


def test_signature_error_never_contains_the_secret() -> None:
    with pytest.raises(SignatureInvalid) as caught:
        verify_signature(SECRET, {"X-Hub-Signature": "sha256=00"}, b"{}")
    assert SECRET not in str(caught.value)


# -- events -----------------------------------------------------------------------------------------


def test_issue_updated_carries_the_item_but_not_a_history() -> None:
    body = body_of(issue_updated())
    event = parse_webhook(headers(body), body, CTX)
    assert (event.delivery_id, event.event, event.action) == (
        "8f1d0a4e-5b3c-4a7e-9d2f-0c6b1e2a3f4d",
        "jira:issue_updated",
        "updated",
    )
    assert event.occurred_at == datetime(2025, 11, 20, 13, 59, 30, 512000, tzinfo=UTC)
    assert event.item is not None
    assert (event.item.key, event.item.external_id, event.item.original_status) == (
        "PAY-12",
        "10012",
        "In Review",
    )
    assert event.item.status_history is None
    assert event.item.estimate == 5.0
    assert event.moved == ()


def test_a_key_change_reports_the_move() -> None:
    payload = issue_updated(
        key={
            "field": "Key",
            "fieldtype": "jira",
            "from": None,
            "fromString": "PLAT-40",
            "to": None,
            "toString": "PAY-12",
        },
        project={
            "field": "project",
            "fieldtype": "jira",
            "from": "10001",
            "fromString": "Platform",
            "to": "10000",
        },
    )
    body = body_of(payload)
    event = parse_webhook(headers(body), body, CTX)
    assert event.moved == ((ItemRef(J, "PLAT-40", "10012"), ItemRef(J, "PAY-12", "10012")),)


def test_issue_deleted() -> None:
    payload = {"timestamp": 1763647170512, "webhookEvent": "jira:issue_deleted", "issue": p.cloud_issue()}
    body = body_of(payload)
    event = parse_webhook(headers(body), body, CTX)
    assert (event.action, event.item, event.deleted) == ("deleted", None, (ItemRef(J, "PAY-12", "10012"),))


@pytest.mark.parametrize("action", ["created", "deleted"])
def test_issuelink_events_ask_for_both_ends_by_id(action: str) -> None:
    payload = {
        "timestamp": 1763647170512,
        "webhookEvent": f"issuelink_{action}",
        "issueLink": {
            "id": 10500,
            "sourceIssueId": 10012,
            "destinationIssueId": 10020,
            "issueLinkType": {
                "id": 10000,
                "name": "Blocks",
                "outwardName": "blocks",
                "inwardName": "is blocked by",
                "isSubTaskLinkType": False,
                "isSystemLinkType": False,
            },
            "systemLink": False,
        },
    }
    body = body_of(payload)
    event = parse_webhook(headers(body), body, CTX)
    assert (event.action, event.refetch) == (action, (ItemRef(J, "", "10012"), ItemRef(J, "", "10020")))


def test_version_released_maps_the_release_with_the_project_key() -> None:
    payload = {
        "timestamp": 1763647170512,
        "webhookEvent": "jira:version_released",
        "version": {
            "self": "https://acme.atlassian.net/rest/api/2/version/10100",
            "id": "10100",
            "description": "",
            "name": "2026.12",
            "archived": False,
            "released": True,
            "releaseDate": "2026-12-15",
            "overdue": False,
            "userReleaseDate": "15/Dec/26",
            "projectId": 10000,
        },
    }
    body = body_of(payload)
    event = parse_webhook(headers(body), body, CTX, {"10000": "PAY"})
    assert event.release == ReleaseRecord(
        "10100", "2026.12", "PAY", date(2026, 12, 15), True, None, payload["version"]
    )
    # An unknown project id stays as the scope rather than guessing.
    assert parse_webhook(headers(body), body, CTX).release.scope == "10000"  # type: ignore[union-attr]


def test_sprint_started() -> None:
    payload = {
        "timestamp": 1763647170512,
        "webhookEvent": "sprint_started",
        "sprint": {
            "id": 8,
            "self": "https://acme.atlassian.net/rest/agile/1.0/sprint/8",
            "state": "active",
            "name": "PAY Sprint 8",
            "startDate": "2026-11-02T00:00:00.000Z",
            "endDate": "2026-11-16T00:00:00.000Z",
            "originBoardId": 1,
            "goal": "",
        },
    }
    body = body_of(payload)
    event = parse_webhook(headers(body), body, CTX)
    assert event.sprint == SprintRecord(
        "8", "PAY Sprint 8", "active", datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 16, tzinfo=UTC)
    )


def test_unknown_events_are_ignored_not_refused() -> None:
    body = body_of({"timestamp": 1, "webhookEvent": "comment_created", "comment": {}})
    event = parse_webhook(headers(body), body, CTX)
    assert event.ignored_reason is not None and event.item is None


def test_missing_delivery_id_falls_back_to_a_stable_digest() -> None:
    body = body_of({"webhookEvent": "comment_created"})
    first = parse_webhook({}, body, CTX).delivery_id
    assert first == parse_webhook({}, body, CTX).delivery_id
    assert first.startswith("sha256:")


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'{"timestamp": 1}',
        b'{"webhookEvent": "jira:issue_updated"}',
        b'{"webhookEvent": "jira:issue_updated", "issue": {"id": "1", "key": "A-1", "fields": {"summary": "x"}}}',
        b'{"webhookEvent": "issuelink_created", "issueLink": {"id": 1}}',
        b'{"webhookEvent": "sprint_started", "sprint": {"state": "active"}}',
        b'{"webhookEvent": "jira:version_created", "version": {"name": "x"}}',
    ],
)
def test_malformed_deliveries_are_payload_invalid(body: bytes) -> None:
    with pytest.raises(PayloadInvalid):
        parse_webhook(headers(body), body, CTX)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=10,
)


@settings(max_examples=120, deadline=None)
@given(
    st.sampled_from(
        [
            "jira:issue_updated",
            "jira:issue_deleted",
            "issuelink_created",
            "jira:version_released",
            "sprint_closed",
        ]
    ),
    st.sampled_from(["issue", "issueLink", "version", "sprint", "timestamp", "changelog"]),
    json_values,
)
def test_any_body_parses_or_is_payload_invalid(event: str, key: str, value: Any) -> None:
    """A delivery is either a typed event or PayloadInvalid; no other exception escapes."""
    payload = {**issue_updated(), "webhookEvent": event, key: value}
    body = body_of(payload)
    with contextlib.suppress(PayloadInvalid):
        parse_webhook(headers(body), body, CTX)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_parse_or_are_payload_invalid(body: bytes) -> None:
    with contextlib.suppress(PayloadInvalid):
        parse_webhook(headers(body), body, CTX)
