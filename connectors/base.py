"""The connector interface (PRODUCT §4): one typed Protocol that both trackers implement.

A connector is built from a :class:`SourceSettings` (plain values, secrets already resolved by
the caller) and talks to exactly one tracker connection. It never touches the database.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from connectors.records import (
    ChangeBatch,
    ItemChanges,
    ItemDraft,
    ItemRef,
    LinkRecord,
    ReconcileResult,
    ReleaseRecord,
    RequestStats,
    SprintRecord,
    StatusCategory,
    TrackerKind,
    WebhookEvent,
    WorkItemRecord,
)

__all__ = ["Connector", "SourceSettings", "SupportsRedelivery"]


@dataclass(frozen=True, slots=True)
class SourceSettings:
    """Everything a connector needs, with secrets already read from env or file.

    ``options`` carries tracker-specific settings from the config file, e.g. for Jira
    ``projects``, ``jql``, ``overlap_minutes``; for GitHub ``org``, ``repos``, ``epic_types``,
    ``epic_labels``, ``in_progress_labels``, ``projects_v2``, ``estimate_field``.
    """

    name: str
    kind: TrackerKind
    base_url: str
    flavour: str  # jira: "cloud" | "datacenter"; github: "com" | "enterprise"
    token: str = field(repr=False)
    user: str | None = None  # Jira basic-auth user (email on Cloud)
    webhook_secret: str | None = field(default=None, repr=False)
    options: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class Connector(Protocol):
    """One tracker connection. Every method raises only :mod:`connectors.errors` exceptions."""

    settings: SourceSettings

    @property
    def stats(self) -> RequestStats:
        """Requests made, 304s, rate-limit waits since construction."""
        ...

    def list_changed(self, cursor: str | None) -> Iterator[ChangeBatch]:
        """Stream changed items page by page since ``cursor`` (``None``: full scan).

        Items arrive in batches; after committing a batch the caller may persist its cursor and
        hand it back on the next call to resume. Never holds the whole tracker in memory.
        """
        ...

    def fetch_item(self, ref: ItemRef) -> WorkItemRecord:
        """Read one item now (by external id when known, else by key)."""
        ...

    def list_releases(self) -> Iterator[ReleaseRecord]: ...

    def list_sprints(self) -> Iterator[SprintRecord]: ...

    def reconcile(self, known: Sequence[ItemRef]) -> ReconcileResult:
        """Find which of the ``known`` items still exist, which moved, which were deleted.

        Lists ids cheaply (Jira ``fields=id`` in large pages; GitHub issue lists) and only reads
        single items that are missing from the listing (to tell moved from deleted).
        """
        ...

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> None:
        """Raise SignatureInvalid unless the body carries a valid signature (constant time)."""
        ...

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """Turn a verified delivery into a typed event (PayloadInvalid when it cannot)."""
        ...

    # -- writes (mirroring, PRODUCT §7) ---------------------------------------------------------

    def create_item(self, draft: ItemDraft) -> WorkItemRecord: ...

    def update_item(self, ref: ItemRef, changes: ItemChanges) -> WorkItemRecord: ...

    def transition(self, ref: ItemRef, category: StatusCategory) -> WorkItemRecord: ...

    def add_comment(self, ref: ItemRef, body: str) -> str: ...

    def add_link(self, link: LinkRecord) -> None: ...


@runtime_checkable
class SupportsRedelivery(Protocol):
    """Trackers that do not retry failed webhook deliveries themselves (GitHub) can be asked to."""

    def redeliver_failed(self, since: datetime, url_contains: str) -> int: ...
