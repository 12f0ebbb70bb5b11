"""Typed records that every connector produces and consumes.

Connectors turn tracker payloads into these immutable records (and back, for writes); the sync
engine turns records into rows of the unified model (PRODUCT §3). Records know nothing of the
database. Every record keeps the tracker's original value beside the normalized one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "ChangeBatch",
    "ItemChanges",
    "ItemDraft",
    "ItemKind",
    "ItemRef",
    "LinkOrigin",
    "LinkRecord",
    "LinkType",
    "PersonRecord",
    "ReconcileResult",
    "ReleaseRecord",
    "RequestStats",
    "Resolution",
    "SprintRecord",
    "StatusCategory",
    "StatusChangeRecord",
    "TrackerKind",
    "WebhookEvent",
    "WorkItemRecord",
]


class TrackerKind(StrEnum):
    JIRA = "jira"
    GITHUB = "github"


class StatusCategory(StrEnum):
    TODO = "todo"
    IN_PROGRESS = "in_progress"
    DONE = "done"


class Resolution(StrEnum):
    """How a done item ended: completed work, or closed without doing it (won't do)."""

    COMPLETED = "completed"
    WONT_DO = "wont_do"


class ItemKind(StrEnum):
    INITIATIVE = "initiative"
    EPIC = "epic"
    STORY = "story"
    TASK = "task"
    BUG = "bug"
    SUBTASK = "subtask"
    OTHER = "other"


class LinkType(StrEnum):
    BLOCKS = "blocks"
    RELATES = "relates"
    DUPLICATES = "duplicates"
    MIRRORS = "mirrors"


class LinkOrigin(StrEnum):
    JIRA_ISSUELINK = "jira_issuelink"
    GITHUB_DEPENDENCY = "github_dependency"
    TEXT_REFERENCE = "text_reference"
    REMOTE_LINK = "remote_link"
    MIRROR_PAIR = "mirror_pair"


@dataclass(frozen=True, slots=True)
class ItemRef:
    """A pointer to an item, possibly in the other tracker, possibly not synced yet.

    ``key`` is the human key: ``PAY-12`` for Jira, ``acme/web#34`` for GitHub. ``external_id`` is
    the tracker's stable id when the payload carries it (Jira numeric id, GitHub issue database id).
    """

    tracker: TrackerKind
    key: str
    external_id: str | None = None


@dataclass(frozen=True, slots=True)
class PersonRecord:
    """An identity in one tracker. Persons are merged across tools by the sync engine."""

    tracker: TrackerKind
    external_id: str  # Jira accountId (or DC user key), GitHub user id
    login: str | None = None  # GitHub login, Jira DC username
    email: str | None = None
    display_name: str | None = None


@dataclass(frozen=True, slots=True)
class LinkRecord:
    """A directed link: ``source`` <type> ``target`` (for BLOCKS: source blocks target)."""

    source: ItemRef
    target: ItemRef
    type: LinkType
    origin: LinkOrigin
    original_label: str | None = None  # e.g. Jira "is blocked by", GitHub "blocked_by"
    external_id: str | None = None  # Jira issuelink id, when there is one


@dataclass(frozen=True, slots=True)
class ReleaseRecord:
    """A Jira fix version or a GitHub milestone."""

    external_id: str
    name: str
    scope: str  # Jira project key or GitHub repo full name
    due_date: date | None = None
    released: bool = False
    url: str | None = None
    raw: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class SprintRecord:
    """A Jira sprint or a GitHub Projects v2 iteration."""

    external_id: str
    name: str
    state: str | None = None  # future / active / closed
    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True, slots=True)
class StatusChangeRecord:
    at: datetime
    from_status: str | None
    to_status: str
    from_category: StatusCategory | None
    to_category: StatusCategory
    by: PersonRecord | None = None
    external_id: str | None = None  # Jira history id, GitHub event id: dedupes repeated fetches


@dataclass(frozen=True, slots=True)
class WorkItemRecord:
    """One work item as the tracker has it now, normalized beside the original values."""

    tracker: TrackerKind
    external_id: str  # Jira numeric issue id; GitHub issue database id
    key: str  # PAY-12, acme/web#34 (a Jira move changes the key, not the id)
    url: str
    title: str
    scope: str  # Jira project key, GitHub repo full name
    kind: ItemKind
    original_type: str | None
    status_category: StatusCategory
    original_status: str
    resolution: Resolution | None
    original_resolution: str | None
    created_at: datetime
    updated_at: datetime  # the tracker's own update time (remote_updated_at)
    resolved_at: datetime | None = None
    assignee: PersonRecord | None = None
    parent: ItemRef | None = None
    estimate: float | None = None
    labels: tuple[str, ...] = ()
    releases: tuple[ReleaseRecord, ...] = ()
    sprint: SprintRecord | None = None
    start_date: date | None = None
    due_date: date | None = None
    links: tuple[LinkRecord, ...] = ()
    # None: history not fetched in this payload (keep what is stored); () or more: complete history.
    status_history: tuple[StatusChangeRecord, ...] | None = None
    # The link origins for which ``links`` is complete for this item: the engine replaces the
    # stored links of those origins that this item owns (Jira issue links and GitHub dependencies
    # touching it; text references and remote links it declares) and keeps the others.
    links_complete: frozenset[LinkOrigin] = frozenset()
    # Fields this payload cannot tell (e.g. a GitHub webhook carries no Projects v2 values): the
    # engine keeps what it has stored for them. Names are field names of this record.
    unknown_fields: frozenset[str] = frozenset()
    # Signals from linked pull requests ("closes #12"): keys of PRs that reference this item.
    linked_pull_requests: tuple[str, ...] = ()
    raw: Mapping[str, Any] | None = field(default=None, compare=False)

    @property
    def ref(self) -> ItemRef:
        return ItemRef(self.tracker, self.key, self.external_id)


@dataclass(frozen=True, slots=True)
class ChangeBatch:
    """A page of changed items. After committing ``items`` the engine may store ``cursor``.

    ``cursor`` is opaque to the engine (the connector's own JSON string); ``None`` means "do not
    advance yet" (the scan is not at a point where resuming from here is safe).
    """

    items: tuple[WorkItemRecord, ...]
    cursor: str | None
    scope: str | None = None


@dataclass(frozen=True, slots=True)
class ReconcileResult:
    """What a reconcile pass found: ids that still exist, and items that moved."""

    present_ids: frozenset[str]
    moved: Mapping[str, str] = field(default_factory=dict)  # external_id -> new key
    deleted_ids: frozenset[str] = frozenset()  # known to be deleted (410) or unreadable
    # For moves that also changed the tracker's id (a GitHub transfer creates a new issue id):
    # old external_id -> new external_id. Added for the GitHub connector.
    new_ids: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """A verified, parsed webhook delivery.

    ``item`` is set when the payload carries a complete item; ``refetch`` lists items the worker
    must fetch because the payload is partial (Jira issuelink events, GitHub sub-issue events).
    """

    delivery_id: str
    event: str  # e.g. "issues", "jira:issue_updated"
    action: str | None
    occurred_at: datetime | None
    item: WorkItemRecord | None = None
    deleted: tuple[ItemRef, ...] = ()
    refetch: tuple[ItemRef, ...] = ()
    release: ReleaseRecord | None = None
    sprint: SprintRecord | None = None
    moved: tuple[tuple[ItemRef, ItemRef], ...] = ()  # (old, new)
    ignored_reason: str | None = None  # set for events that are a no-op (ping, unknown action)
    # A whole scope changed (GitHub repository deleted / transferred or renamed): every item in it is
    # gone, or now lives under the new scope name (old, new). Added for the GitHub connector.
    deleted_scope: str | None = None
    moved_scope: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class ItemDraft:
    """What a write needs to create an item (mirroring, PRODUCT §7)."""

    scope: str  # Jira project key or GitHub repo full name
    title: str
    body: str | None = None
    kind: ItemKind = ItemKind.TASK
    original_type: str | None = None  # Jira issue type name, GitHub issue type name
    labels: tuple[str, ...] = ()
    assignee: str | None = None  # Jira accountId / GitHub login
    parent: ItemRef | None = None


@dataclass(frozen=True, slots=True)
class ItemChanges:
    """Fields to change on an existing item; ``None`` leaves a field as it is."""

    title: str | None = None
    body: str | None = None
    labels: tuple[str, ...] | None = None
    assignee: str | None = None
    status_category: StatusCategory | None = None
    resolution: Resolution | None = None


@dataclass(slots=True)
class RequestStats:
    """Counters a connector keeps about its own HTTP traffic (reported in SyncRun)."""

    requests: int = 0
    not_modified: int = 0
    rate_limit_waits: int = 0
    rate_limit_wait_seconds: float = 0.0
    retries: int = 0
