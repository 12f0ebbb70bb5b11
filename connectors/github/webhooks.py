"""GitHub webhook deliveries: signature check and parsing into typed :class:`WebhookEvent` records.

Signature: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`` compared in constant
time (https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries). An unset
or empty secret refuses everything: an empty key would make any body "verify".

Dispatch is a plain registry ``{X-GitHub-Event: handler}``; the handler reads ``action``. Unknown
events and actions become a no-op event with ``ignored_reason`` so the endpoint can answer 2xx.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import orjson

from connectors.errors import InvalidResponse, PayloadInvalid, SignatureInvalid
from connectors.github.mapping import (
    MappingConfig,
    is_pull_request,
    issue_ref,
    map_issue,
    map_milestone,
    parse_time,
)
from connectors.records import ItemRef, WebhookEvent

__all__ = ["HANDLERS", "parse_delivery", "signature_for", "verify_signature"]

SIGNATURE_HEADER = "x-hub-signature-256"


#: Work item fields that come from Projects v2, not from the issue payload.
PROJECT_FIELDS = frozenset({"estimate", "sprint"})


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, found in headers.items():
        if key.lower() == lowered:
            return found
    return None


def signature_for(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str | None, headers: Mapping[str, str], body: bytes, *, source: str | None = None
) -> None:
    """Raise :class:`SignatureInvalid` unless ``X-Hub-Signature-256`` matches ``body`` under ``secret``."""
    if not secret:
        raise SignatureInvalid(
            "no webhook secret is configured for this source; refusing the delivery", source=source
        )
    given = _header(headers, SIGNATURE_HEADER)
    if not given:
        raise SignatureInvalid("delivery without an X-Hub-Signature-256 header", source=source)
    if not hmac.compare_digest(given.strip().encode(), signature_for(secret, body).encode()):
        raise SignatureInvalid("X-Hub-Signature-256 does not match the body", source=source)


# -- handlers ---------------------------------------------------------------------------------------

Handler = Callable[[str, str | None, Mapping[str, Any], MappingConfig], WebhookEvent]


def _obj(payload: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = payload.get(name)
    if not isinstance(value, Mapping):
        raise PayloadInvalid(f"the payload has no {name!r} object")
    return value


def _repo_name(payload: Mapping[str, Any]) -> str | None:
    repository = payload.get("repository")
    if isinstance(repository, Mapping) and repository.get("full_name"):
        return str(repository["full_name"])
    return None


def _ref_of(issue: Mapping[str, Any], repo: str | None = None) -> ItemRef:
    try:
        return issue_ref(issue, repo)
    except (KeyError, InvalidResponse) as exc:
        raise PayloadInvalid(f"cannot identify the issue in the payload: {exc}") from exc


def _issues(
    delivery: str, action: str | None, payload: Mapping[str, Any], config: MappingConfig
) -> WebhookEvent:
    issue = _obj(payload, "issue")
    repo = _repo_name(payload)
    occurred = parse_time(issue.get("updated_at"))
    if action == "deleted":
        return WebhookEvent(delivery, "issues", action, occurred, deleted=(_ref_of(issue, repo),))
    if action == "transferred":
        changes = _obj(payload, "changes")
        new_issue = _obj(changes, "new_issue")
        new_repo = changes.get("new_repository")
        new_repo_name = str(new_repo["full_name"]) if isinstance(new_repo, Mapping) else None
        old_ref, new_ref = _ref_of(issue, repo), _ref_of(new_issue, new_repo_name)
        item = map_issue(new_issue, config, repo=new_repo_name) if not is_pull_request(new_issue) else None
        if item is not None and config.projects:
            item = replace(item, unknown_fields=PROJECT_FIELDS)
        return WebhookEvent(
            delivery,
            "issues",
            action,
            parse_time(new_issue.get("updated_at")),
            item=item,
            moved=((old_ref, new_ref),),
        )
    if is_pull_request(issue):
        return WebhookEvent(
            delivery, "issues", action, occurred, ignored_reason="pull request, not a work item"
        )
    try:
        item = map_issue(issue, config, repo=repo)
    except InvalidResponse as exc:
        raise PayloadInvalid(str(exc)) from exc
    if config.projects:
        # Projects v2 field values (estimate, iteration) are not in issue deliveries: keep the stored ones.
        item = replace(item, unknown_fields=PROJECT_FIELDS)
    return WebhookEvent(delivery, "issues", action, occurred, item=item)


def _issue_comment(
    delivery: str, action: str | None, payload: Mapping[str, Any], config: MappingConfig
) -> WebhookEvent:
    issue = _obj(payload, "issue")
    if is_pull_request(issue):
        return WebhookEvent(
            delivery, "issue_comment", action, None, ignored_reason="comment on a pull request"
        )
    try:
        item = map_issue(issue, config, repo=_repo_name(payload))
    except InvalidResponse as exc:
        raise PayloadInvalid(str(exc)) from exc
    comment = payload.get("comment")
    when = parse_time(comment.get("updated_at")) if isinstance(comment, Mapping) else None
    return WebhookEvent(delivery, "issue_comment", action, when or item.updated_at, item=item)


def _pair(event: str, first: str, second: str) -> Handler:
    """sub_issues and issue_dependencies: partial news about two issues; the worker re-reads both."""

    def handle(
        delivery: str, action: str | None, payload: Mapping[str, Any], config: MappingConfig
    ) -> WebhookEvent:
        refs: list[ItemRef] = []
        for name in (first, second):
            issue = _obj(payload, name)
            repo: str | None = None
            if not issue.get("repository_url"):
                repo_obj = payload.get(f"{name}_repo")
                if isinstance(repo_obj, Mapping) and repo_obj.get("full_name"):
                    repo = str(repo_obj["full_name"])
                else:
                    repo = _repo_name(payload)
            refs.append(_ref_of(issue, repo))
        return WebhookEvent(delivery, event, action, None, refetch=tuple(dict.fromkeys(refs)))

    return handle


def _milestone(
    delivery: str, action: str | None, payload: Mapping[str, Any], config: MappingConfig
) -> WebhookEvent:
    milestone = _obj(payload, "milestone")
    repo = _repo_name(payload)
    if repo is None:
        raise PayloadInvalid("milestone event without a repository")
    try:
        release = map_milestone(milestone, repo)
    except (KeyError, ValueError) as exc:
        raise PayloadInvalid(f"cannot read the milestone: {exc}") from exc
    return WebhookEvent(
        delivery, "milestone", action, parse_time(milestone.get("updated_at")), release=release
    )


def _label(
    delivery: str, action: str | None, payload: Mapping[str, Any], config: MappingConfig
) -> WebhookEvent:
    _obj(payload, "label")
    # GitHub sends no issue events when a label is renamed or deleted; the labels on items refresh
    # when the items next change or at the next full sync.
    return WebhookEvent(delivery, "label", action, None, ignored_reason="label definitions are not synced")


def _repository(
    delivery: str, action: str | None, payload: Mapping[str, Any], config: MappingConfig
) -> WebhookEvent:
    repository = _obj(payload, "repository")
    name = str(repository.get("full_name") or "")
    if action == "deleted":
        return WebhookEvent(delivery, "repository", action, None, deleted_scope=name)
    if action in ("transferred", "renamed"):
        changes = payload.get("changes") or {}
        old_name = _old_repo_name(changes, repository)
        if old_name and old_name != name:
            return WebhookEvent(delivery, "repository", action, None, moved_scope=(old_name, name))
        return WebhookEvent(delivery, "repository", action, None, ignored_reason="repository name unchanged")
    return WebhookEvent(
        delivery, "repository", action, None, ignored_reason=f"repository {action} changes no items"
    )


def _old_repo_name(changes: Mapping[str, Any], repository: Mapping[str, Any]) -> str | None:
    name = str(repository.get("name") or "")
    owner = repository.get("owner") or {}
    owner_login = str(owner.get("login") or "") if isinstance(owner, Mapping) else ""
    repo_changes = changes.get("repository") or {}
    old_repo_name = repo_changes.get("name", {}).get("from") if isinstance(repo_changes, Mapping) else None
    old_owner_block = (
        changes.get("owner", {}).get("from", {}) if isinstance(changes.get("owner"), Mapping) else {}
    )
    old_owner: str | None = None
    if isinstance(old_owner_block, Mapping):
        for kind in ("organization", "user"):
            who = old_owner_block.get(kind)
            if isinstance(who, Mapping) and who.get("login"):
                old_owner = str(who["login"])
    if not old_owner and not old_repo_name:
        return None
    return f"{old_owner or owner_login}/{old_repo_name or name}"


def _ping(
    delivery: str, action: str | None, payload: Mapping[str, Any], config: MappingConfig
) -> WebhookEvent:
    return WebhookEvent(delivery, "ping", action, None, ignored_reason="ping")


HANDLERS: dict[str, Handler] = {
    "issues": _issues,
    "issue_comment": _issue_comment,
    "sub_issues": _pair("sub_issues", "sub_issue", "parent_issue"),
    "issue_dependencies": _pair("issue_dependencies", "blocked_issue", "blocking_issue"),
    "milestone": _milestone,
    "label": _label,
    "repository": _repository,
    "ping": _ping,
}


def parse_delivery(headers: Mapping[str, str], body: bytes, config: MappingConfig) -> WebhookEvent:
    """A verified delivery → :class:`WebhookEvent` keyed by ``X-GitHub-Delivery``."""
    delivery = _header(headers, "x-github-delivery")
    event = _header(headers, "x-github-event")
    if not delivery or not event:
        raise PayloadInvalid("delivery without X-GitHub-Delivery or X-GitHub-Event")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise PayloadInvalid(f"{event} delivery {delivery}: the body is not JSON") from exc
    if not isinstance(payload, dict):
        raise PayloadInvalid(f"{event} delivery {delivery}: the body is not a JSON object")
    action = payload.get("action")
    action = str(action) if action is not None else None
    handler = HANDLERS.get(event)
    if handler is None:
        return WebhookEvent(delivery, event, action, None, ignored_reason=f"event {event} is not handled")
    try:
        return handler(delivery, action, payload, config)
    except PayloadInvalid as exc:
        raise PayloadInvalid(f"{event}.{action} delivery {delivery}: {exc.message}") from exc
