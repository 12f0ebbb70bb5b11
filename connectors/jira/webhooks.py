"""Jira webhooks: signature check and parsing into typed :class:`WebhookEvent` records.

Jira Cloud signs a delivery with the secret set at registration: ``X-Hub-Signature:
sha256=<hex HMAC-SHA256 of the raw body>`` (note: not ``-256`` as on GitHub), and names it with
``X-Atlassian-Webhook-Identifier``, stable across its retries.
https://developer.atlassian.com/cloud/jira/platform/webhooks/#secure-admin-webhooks
Payload shapes: https://developer.atlassian.com/cloud/jira/platform/webhooks/#example-callback-for-an-issue-related-event
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import orjson

from connectors.errors import ConnectorError, PayloadInvalid, SignatureInvalid
from connectors.jira.mapping import MappingContext, map_issue, map_release, map_sprint
from connectors.records import ItemRef, TrackerKind, WebhookEvent

__all__ = ["EVENT_PARSERS", "delivery_id", "parse_webhook", "verify_signature"]

JIRA = TrackerKind.JIRA
SIGNATURE_HEADER = "X-Hub-Signature"
DELIVERY_HEADER = "X-Atlassian-Webhook-Identifier"


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def verify_signature(
    secret: str | None, headers: Mapping[str, str], body: bytes, *, source: str | None = None
) -> None:
    """Raise :class:`SignatureInvalid` unless ``X-Hub-Signature`` is ``sha256=`` + the body's HMAC.

    Refuses when no secret is configured: an empty secret would make any body "verify".
    """
    if not secret:
        raise SignatureInvalid(
            "no webhook secret is configured for this source; refusing the delivery", source=source
        )
    given = _header(headers, SIGNATURE_HEADER)
    if not given:
        raise SignatureInvalid(f"the delivery has no {SIGNATURE_HEADER} header", source=source)
    algorithm, _, digest = given.strip().partition("=")
    if algorithm.lower() != "sha256" or not digest:
        raise SignatureInvalid(f"{SIGNATURE_HEADER} is not of the form sha256=<hex>", source=source)
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), digest.strip().lower().encode()):
        raise SignatureInvalid(f"{SIGNATURE_HEADER} does not match the body", source=source)


def delivery_id(headers: Mapping[str, str], body: bytes) -> str:
    """The delivery's identifier; a body digest when a proxy dropped the header (still stable)."""
    value = _header(headers, DELIVERY_HEADER)
    if value and value.strip():
        return value.strip()
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _occurred_at(payload: Mapping[str, Any]) -> datetime | None:
    ts = payload.get("timestamp")
    if isinstance(ts, int | float) and not isinstance(ts, bool):
        return datetime.fromtimestamp(ts / 1000, UTC)
    return None


Parser = Callable[[str, str, Mapping[str, Any], MappingContext, Mapping[str, str]], WebhookEvent]


def _issue_event(
    did: str, event: str, payload: Mapping[str, Any], ctx: MappingContext, projects: Mapping[str, str]
) -> WebhookEvent:
    issue = payload.get("issue")
    if not isinstance(issue, Mapping) or "id" not in issue or "key" not in issue:
        raise PayloadInvalid(f"{event} delivery without an issue id and key")
    action = event.removeprefix("jira:issue_")
    common: dict[str, Any] = {
        "delivery_id": did,
        "event": event,
        "action": action,
        "occurred_at": _occurred_at(payload),
    }
    ref = ItemRef(JIRA, str(issue["key"]), str(issue["id"]))
    if action == "deleted":
        return WebhookEvent(**common, deleted=(ref,))
    moved: tuple[tuple[ItemRef, ItemRef], ...] = ()
    for item in (payload.get("changelog") or {}).get("items") or ():
        if str(item.get("field") or "").lower() == "key" and item.get("fromString"):
            moved = ((ItemRef(JIRA, str(item["fromString"]), ref.external_id), ref),)
    if not isinstance(issue.get("fields"), Mapping):
        # Some apps send a skeleton issue: re-read it.
        return WebhookEvent(**common, refetch=(ref,), moved=moved)
    try:
        record = map_issue(issue, ctx)
    except ConnectorError as exc:
        raise PayloadInvalid(f"{event} delivery with an unreadable issue: {exc.message}") from None
    # A webhook carries one change, not the history: never let it replace the stored history.
    record = replace(record, status_history=None)
    return WebhookEvent(**common, item=record, moved=moved)


def _issuelink_event(
    did: str, event: str, payload: Mapping[str, Any], ctx: MappingContext, projects: Mapping[str, str]
) -> WebhookEvent:
    link = payload.get("issueLink")
    if not isinstance(link, Mapping):
        raise PayloadInvalid(f"{event} delivery without issueLink")
    ids = [link.get("sourceIssueId"), link.get("destinationIssueId")]
    if any(i is None for i in ids):
        raise PayloadInvalid(f"{event} delivery without source/destination issue ids")
    # Numeric ids only, no keys: the worker re-reads both ends (by id) to replace their links.
    refetch = tuple(ItemRef(JIRA, "", str(i)) for i in ids)
    return WebhookEvent(
        delivery_id=did,
        event=event,
        action=event.removeprefix("issuelink_"),
        occurred_at=_occurred_at(payload),
        refetch=refetch,
    )


def _version_event(
    did: str, event: str, payload: Mapping[str, Any], ctx: MappingContext, projects: Mapping[str, str]
) -> WebhookEvent:
    version = payload.get("version")
    if not isinstance(version, Mapping) or version.get("id") is None:
        raise PayloadInvalid(f"{event} delivery without a version id")
    project_id = str(version.get("projectId") or "")
    scope = projects.get(project_id, project_id)
    return WebhookEvent(
        delivery_id=did,
        event=event,
        action=event.removeprefix("jira:version_"),
        occurred_at=_occurred_at(payload),
        release=map_release(version, scope),
    )


def _sprint_event(
    did: str, event: str, payload: Mapping[str, Any], ctx: MappingContext, projects: Mapping[str, str]
) -> WebhookEvent:
    sprint = map_sprint(payload.get("sprint"))
    if sprint is None:
        raise PayloadInvalid(f"{event} delivery without a sprint id and name")
    return WebhookEvent(
        delivery_id=did,
        event=event,
        action=event.removeprefix("sprint_"),
        occurred_at=_occurred_at(payload),
        sprint=sprint,
    )


# The handler registry: event name -> parser (a plain dict, explicit).
EVENT_PARSERS: dict[str, Parser] = {
    **{f"jira:issue_{a}": _issue_event for a in ("created", "updated", "deleted")},
    **{f"issuelink_{a}": _issuelink_event for a in ("created", "deleted")},
    **{
        f"jira:version_{a}": _version_event
        for a in (
            "created",
            "updated",
            "released",
            "unreleased",
            "deleted",
            "moved",
            "archived",
            "unarchived",
        )
    },
    **{f"sprint_{a}": _sprint_event for a in ("created", "updated", "started", "closed", "deleted")},
}


def parse_webhook(
    headers: Mapping[str, str],
    body: bytes,
    ctx: MappingContext,
    projects: Mapping[str, str] | None = None,
) -> WebhookEvent:
    """Turn a (verified) delivery into a typed event; unknown events become an ignored no-op.

    ``projects`` maps project ids to keys (version payloads only carry ``projectId``); unknown
    ids are kept as the scope.
    """
    did = delivery_id(headers, body)
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise PayloadInvalid("the delivery body is not JSON") from None
    if not isinstance(payload, Mapping):
        raise PayloadInvalid("the delivery body is not a JSON object")
    event = payload.get("webhookEvent")
    if not isinstance(event, str) or not event:
        raise PayloadInvalid("the delivery has no webhookEvent")
    parser = EVENT_PARSERS.get(event)
    if parser is None:
        return WebhookEvent(
            delivery_id=did,
            event=event,
            action=None,
            occurred_at=_occurred_at(payload),
            ignored_reason=f"event {event} is not used by crosstrack",
        )
    try:
        return parser(did, event, payload, ctx, projects or {})
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise PayloadInvalid(f"{event} delivery with an unexpected shape ({type(exc).__name__})") from None
