"""Items: search with filters and cursor pagination, and one item with its links, children,
history and programs (PRODUCT §6.2 items). All queries live here; the routes only translate.

Pagination is keyset on the item id (stable under concurrent syncs: new items get higher ids,
so a page never repeats or skips an item that existed when the search began). The cursor is
opaque to clients: ``base64url("i:<last id>")``.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any, cast

from pydantic import BaseModel, Field
from sqlalchemy import Select, exists, func, or_, select, text
from sqlalchemy.orm import Session

from connectors.records import ItemKind, LinkType, Resolution, StatusCategory
from sync.model import (
    Link,
    Person,
    PersonIdentity,
    Program,
    ProgramItem,
    Source,
    StatusChange,
    Team,
    WorkItem,
)
from sync.views.common import item_alias

__all__ = [
    "BadCursor",
    "ItemDetail",
    "ItemFilters",
    "ItemPage",
    "ItemSummary",
    "get_item",
    "search_items",
]

MAX_LIMIT = 500


class BadCursor(ValueError):
    """The cursor was not produced by this API."""


class ItemFilters(BaseModel):
    program: str | None = None
    team: str | None = None
    source: str | None = None
    kind: ItemKind | None = None
    status: StatusCategory | None = None
    assignee: str | None = Field(None, description="Login, email or display name.")
    label: str | None = None
    updated_since: datetime | None = None
    q: str | None = Field(None, description="Text in the key or title (case-insensitive).")
    key: str | None = None


class ItemSummary(BaseModel):
    id: int
    key: str
    url: str
    title: str
    tracker: str
    source: str
    kind: ItemKind
    original_type: str | None
    status_category: StatusCategory
    original_status: str
    resolution: Resolution | None
    team: str | None
    assignee: str | None
    estimate: float | None
    labels: list[str]
    due_date: Any = None
    parent_key: str | None
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None


class ItemPage(BaseModel):
    items: list[ItemSummary]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class LinkOut(BaseModel):
    id: int
    type: LinkType
    origin: str
    direction: str = Field(description="`outward` (this item <type> other) or `inward`.")
    label: str | None
    other_key: str
    other_id: int | None
    other_title: str | None
    other_status: StatusCategory | None
    other_tracker: str


class ChangeOut(BaseModel):
    at: datetime
    from_status: str | None
    to_status: str
    from_category: StatusCategory | None
    to_category: StatusCategory


class ItemDetail(ItemSummary):
    links: list[LinkOut]
    children: list[ItemSummary]
    history: list[ChangeOut]
    programs: list[str]


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"i:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, value = raw.partition(":")
        if prefix != "i" or not value.isdigit() or len(value) > 18:
            raise ValueError(raw)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadCursor("cursor: not a cursor from this API (pass next_cursor back unchanged)") from None


def _summary_select() -> Select[Any]:
    parent = item_alias("parent")
    return cast(
        "Select[Any]",
        select(
            WorkItem.id,
            WorkItem.key,
            WorkItem.url,
            WorkItem.title,
            WorkItem.tracker,
            Source.name.label("source"),
            WorkItem.kind,
            WorkItem.original_type,
            WorkItem.status_category,
            WorkItem.original_status,
            WorkItem.resolution,
            Team.slug.label("team"),
            Person.display_name.label("assignee"),
            WorkItem.estimate,
            WorkItem.labels,
            WorkItem.due_date,
            func.coalesce(parent.key, WorkItem.parent_key).label("parent_key"),
            WorkItem.remote_created_at,
            WorkItem.remote_updated_at,
            WorkItem.resolved_at,
        )
        .join(Source, Source.id == WorkItem.source_id)
        .outerjoin(Team, Team.id == WorkItem.team_id)
        .outerjoin(Person, Person.id == WorkItem.assignee_id)
        .outerjoin(parent, parent.id == WorkItem.parent_id),
    )


def _summary(row: Any) -> ItemSummary:
    m = row._mapping
    return ItemSummary(
        id=m["id"],
        key=m["key"],
        url=m["url"],
        title=m["title"],
        tracker=m["tracker"].value,
        source=m["source"],
        kind=m["kind"],
        original_type=m["original_type"],
        status_category=m["status_category"],
        original_status=m["original_status"],
        resolution=m["resolution"],
        team=m["team"],
        assignee=m["assignee"],
        estimate=m["estimate"],
        labels=list(m["labels"] or []),
        due_date=m["due_date"],
        parent_key=m["parent_key"],
        created_at=m["remote_created_at"],
        updated_at=m["remote_updated_at"],
        resolved_at=m["resolved_at"],
    )


def _has_label(session: Session, label: str) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return WorkItem.labels.op("@>")(func.jsonb_build_array(label))
    # SQLite: https://www.sqlite.org/json1.html#jeach
    return exists(
        select(text("1"))
        .select_from(func.json_each(WorkItem.labels).table_valued("value"))
        .where(text("value = :label"))
    ).params(label=label)


def search_items(
    session: Session, filters: ItemFilters, cursor: str | None = None, limit: int = 50
) -> ItemPage:
    limit = max(1, min(limit, MAX_LIMIT))
    stmt = _summary_select().where(WorkItem.deleted_at.is_(None))
    if cursor:
        stmt = stmt.where(WorkItem.id > decode_cursor(cursor))
    if filters.program:
        stmt = stmt.where(
            WorkItem.id.in_(
                select(ProgramItem.work_item_id)
                .join(Program, Program.id == ProgramItem.program_id)
                .where(Program.slug == filters.program)
            )
        )
    if filters.team:
        stmt = stmt.where(Team.slug == filters.team)
    if filters.source:
        stmt = stmt.where(Source.name == filters.source)
    if filters.kind:
        stmt = stmt.where(WorkItem.kind == filters.kind)
    if filters.status:
        stmt = stmt.where(WorkItem.status_category == filters.status)
    if filters.key:
        stmt = stmt.where(WorkItem.key == filters.key)
    if filters.updated_since:
        stmt = stmt.where(WorkItem.remote_updated_at >= filters.updated_since)
    if filters.assignee:
        who = filters.assignee
        stmt = stmt.where(
            or_(
                Person.display_name == who,
                Person.email == who,
                WorkItem.assignee_id.in_(select(PersonIdentity.person_id).where(PersonIdentity.login == who)),
            )
        )
    if filters.label:
        stmt = stmt.where(_has_label(session, filters.label))
    if filters.q:
        pattern = "%" + filters.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(
            or_(WorkItem.title.ilike(pattern, escape="\\"), WorkItem.key.ilike(pattern, escape="\\"))
        )
    rows = session.execute(stmt.order_by(WorkItem.id).limit(limit + 1)).all()
    items = [_summary(r) for r in rows[:limit]]
    return ItemPage(items=items, next_cursor=encode_cursor(items[-1].id) if len(rows) > limit else None)


def get_item(session: Session, item_id: int) -> ItemDetail | None:
    row = session.execute(_summary_select().where(WorkItem.id == item_id)).first()
    if row is None:
        return None
    summary = _summary(row)
    other = item_alias("other")
    links: list[LinkOut] = []
    for direction, mine, theirs_id, theirs_key, theirs_tracker in (
        ("outward", Link.from_item_id, Link.to_item_id, Link.to_key, Link.to_tracker),
        ("inward", Link.to_item_id, Link.from_item_id, Link.from_key, Link.from_tracker),
    ):
        for r in session.execute(
            select(
                Link.id,
                Link.type,
                Link.origin,
                Link.original_label,
                theirs_key,
                theirs_id,
                theirs_tracker,
                other.title,
                other.status_category,
            )
            .outerjoin(other, other.id == theirs_id)
            .where(mine == item_id)
            .order_by(Link.id)
        ):
            links.append(
                LinkOut(
                    id=r[0],
                    type=r[1],
                    origin=r[2].value,
                    direction=direction,
                    label=r[3],
                    other_key=r[4],
                    other_id=r[5],
                    other_tracker=r[6].value,
                    other_title=r[7],
                    other_status=r[8],
                )
            )
    children = [
        _summary(r)
        for r in session.execute(
            _summary_select()
            .where(WorkItem.parent_id == item_id, WorkItem.deleted_at.is_(None))
            .order_by(WorkItem.id)
        )
    ]
    history = [
        ChangeOut(
            at=r.at,
            from_status=r.from_status,
            to_status=r.to_status,
            from_category=r.from_category,
            to_category=r.to_category,
        )
        for r in session.execute(
            select(
                StatusChange.at,
                StatusChange.from_status,
                StatusChange.to_status,
                StatusChange.from_category,
                StatusChange.to_category,
            )
            .where(StatusChange.work_item_id == item_id)
            .order_by(StatusChange.at, StatusChange.id)
        )
    ]
    programs = list(
        session.scalars(
            select(Program.slug)
            .join(ProgramItem, ProgramItem.program_id == Program.id)
            .where(ProgramItem.work_item_id == item_id)
            .order_by(Program.slug)
        )
    )
    return ItemDetail(
        **summary.model_dump(), links=links, children=children, history=history, programs=programs
    )
