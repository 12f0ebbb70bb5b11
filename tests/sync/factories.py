"""Small builders for records and sources used by the sync tests (real rows, real database)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from connectors.records import (
    ItemKind,
    ItemRef,
    LinkOrigin,
    LinkRecord,
    LinkType,
    PersonRecord,
    StatusCategory,
    TrackerKind,
    WorkItemRecord,
)
from sync.model import Source

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def make_source(session: Session, name: str = "jira", kind: TrackerKind = TrackerKind.JIRA) -> Source:
    src = Source(
        name=name,
        kind=kind,
        base_url=f"https://{name}.example",
        flavour="cloud" if kind is TrackerKind.JIRA else "com",
        credentials_ref="env:TOKEN",
    )
    session.add(src)
    session.flush()
    return src


def jira_item(number: int, *, minutes: int = 0, **kw: Any) -> WorkItemRecord:
    key = kw.pop("key", f"PAY-{number}")
    base = WorkItemRecord(
        tracker=TrackerKind.JIRA,
        external_id=str(10000 + number),
        key=key,
        url=f"https://acme.atlassian.net/browse/{key}",
        title=f"Item {key}",
        scope=key.split("-")[0],
        kind=ItemKind.STORY,
        original_type="Story",
        status_category=StatusCategory.TODO,
        original_status="To Do",
        resolution=None,
        original_resolution=None,
        created_at=T0,
        updated_at=T0 + timedelta(minutes=minutes),
        links_complete=frozenset({LinkOrigin.JIRA_ISSUELINK}),
    )
    return replace(base, **kw)


def github_item(repo: str, number: int, *, minutes: int = 0, **kw: Any) -> WorkItemRecord:
    key = f"{repo}#{number}"
    base = WorkItemRecord(
        tracker=TrackerKind.GITHUB,
        external_id=str(900000 + number),
        key=key,
        url=f"https://github.com/{repo}/issues/{number}",
        title=f"Issue {key}",
        scope=repo,
        kind=ItemKind.TASK,
        original_type="Task",
        status_category=StatusCategory.TODO,
        original_status="open",
        resolution=None,
        original_resolution=None,
        created_at=T0,
        updated_at=T0 + timedelta(minutes=minutes),
        links_complete=frozenset({LinkOrigin.TEXT_REFERENCE, LinkOrigin.GITHUB_DEPENDENCY}),
    )
    return replace(base, **kw)


def blocks(
    src: WorkItemRecord | ItemRef, dst: WorkItemRecord | ItemRef, origin: LinkOrigin, ext: str | None = None
) -> LinkRecord:
    a = src.ref if isinstance(src, WorkItemRecord) else src
    b = dst.ref if isinstance(dst, WorkItemRecord) else dst
    return LinkRecord(
        source=a, target=b, type=LinkType.BLOCKS, origin=origin, original_label="blocks", external_id=ext
    )


def person(tracker: TrackerKind, ext: str, **kw: Any) -> PersonRecord:
    return PersonRecord(tracker=tracker, external_id=ext, **kw)
