"""The unified program model (PRODUCT §3): SQLAlchemy 2 typed ORM.

Conventions:
- Every synced row has a natural key ``(source_id, external_id)`` with a unique constraint and the
  tracker's own update time in ``remote_updated_at``: an older write never overwrites a newer one.
- Normalized values sit beside the tracker's originals (``status_category`` + ``original_status``).
- Relationships are ``lazy="raise"``: every query says what it loads (no N+1 by accident).
- Constraint names follow :data:`NAMING_CONVENTION`, so migrations are stable on SQLite and PostgreSQL.
- The schema is created only by Alembic migrations (``alembic/``), never by ``create_all``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from connectors.records import ItemKind, LinkOrigin, LinkType, Resolution, StatusCategory, TrackerKind
from sync.types import JSONType, UTCDateTime

__all__ = [
    "ApiToken",
    "Base",
    "InboundEvent",
    "Link",
    "MirrorPair",
    "OutboundChange",
    "Person",
    "PersonIdentity",
    "Program",
    "ProgramItem",
    "ProgramItemRemoval",
    "ProgramReport",
    "ProgramSnapshot",
    "Release",
    "Role",
    "Source",
    "Sprint",
    "StatusChange",
    "SyncCursor",
    "SyncRun",
    "Team",
    "TeamScope",
    "WorkItem",
    "WorkItemRelease",
]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def _enum(enum_cls: type[StrEnum], name: str) -> Enum:
    """Enums stored as their string values with a named CHECK constraint (portable, readable)."""
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [m.value for m in members],
    )


class Role(StrEnum):
    VIEWER = "viewer"
    EDITOR = "editor"
    ADMIN = "admin"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONType}


# --------------------------------------------------------------------------------------------
# Configuration-level entities
# --------------------------------------------------------------------------------------------


class Source(Base):
    """One tracker connection. ``credentials_ref`` names where the secret lives, never the secret."""

    __tablename__ = "source"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[TrackerKind] = mapped_column(_enum(TrackerKind, "source_kind"))
    base_url: Mapped[str] = mapped_column(String(512))
    flavour: Mapped[str] = mapped_column(String(32))
    credentials_ref: Mapped[str] = mapped_column(String(256))
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    last_synced_at: Mapped[datetime | None]
    last_webhook_at: Mapped[datetime | None]


class Team(Base):
    __tablename__ = "team"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    scopes: Mapped[list[TeamScope]] = relationship(
        back_populates="team", lazy="raise", cascade="all, delete-orphan", order_by="TeamScope.id"
    )


class TeamScope(Base):
    """A mapping rule: items of this tracker scope (Jira project [+component/board], GitHub repo [+label]) belong to the team."""

    __tablename__ = "team_scope"
    __table_args__ = (UniqueConstraint("team_id", "source_id", "scope", "component", "board", "label"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"), index=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("source.id", ondelete="CASCADE"), index=True)
    scope: Mapped[str] = mapped_column(String(200))  # Jira project key or GitHub repo full name
    component: Mapped[str | None] = mapped_column(String(200))
    board: Mapped[str | None] = mapped_column(String(200))
    label: Mapped[str | None] = mapped_column(String(200))
    team: Mapped[Team] = relationship(back_populates="scopes", lazy="raise")


class Program(Base):
    """A TPM's program: scope rules (PRODUCT §6.1), explicit items, target and baseline dates."""

    __tablename__ = "program"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    owner: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    target_date: Mapped[date | None] = mapped_column(Date)
    baseline_date: Mapped[date | None] = mapped_column(Date)
    scope_rules: Mapped[dict[str, Any]] = mapped_column(default=dict)
    explicit_items: Mapped[dict[str, Any]] = mapped_column(default=dict)
    origin: Mapped[str] = mapped_column(String(16), default="config")  # config | api
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ApiToken(Base):
    """A bearer API token. Only a SHA-256 hash is stored; ``prefix`` helps people tell tokens apart."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(_enum(Role, "api_token_role"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


# --------------------------------------------------------------------------------------------
# Synced entities: natural key (source_id, external_id), remote_updated_at, originals beside values
# --------------------------------------------------------------------------------------------


class Person(Base):
    """One human across tools; identities per tracker hang off it (merged by email or config)."""

    __tablename__ = "person"

    id: Mapped[int] = mapped_column(primary_key=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    identities: Mapped[list[PersonIdentity]] = relationship(back_populates="person", lazy="raise")


class PersonIdentity(Base):
    __tablename__ = "person_identity"
    __table_args__ = (UniqueConstraint("source_id", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("source.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(128))  # Jira accountId, GitHub user id
    login: Mapped[str | None] = mapped_column(String(200), index=True)
    email: Mapped[str | None] = mapped_column(String(320))
    display_name: Mapped[str | None] = mapped_column(String(200))
    person: Mapped[Person] = relationship(back_populates="identities", lazy="raise")


class Release(Base):
    """A Jira fix version or a GitHub milestone."""

    __tablename__ = "release"
    __table_args__ = (UniqueConstraint("source_id", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("source.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(128))
    scope: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(255))
    due_date: Mapped[date | None] = mapped_column(Date, index=True)
    released: Mapped[bool] = mapped_column(Boolean, default=False)
    url: Mapped[str | None] = mapped_column(String(1024))
    remote_updated_at: Mapped[datetime | None]
    raw: Mapped[dict[str, Any] | None] = mapped_column(JSONType)


class Sprint(Base):
    """A Jira sprint or a GitHub Projects v2 iteration."""

    __tablename__ = "sprint"
    __table_args__ = (UniqueConstraint("source_id", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("source.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(255))
    state: Mapped[str | None] = mapped_column(String(32))
    start_at: Mapped[datetime | None]
    end_at: Mapped[datetime | None]
    remote_updated_at: Mapped[datetime | None]


class WorkItem(Base):
    """A work item in either tracker, normalized (PRODUCT §3), keyed on the tracker's stable id."""

    __tablename__ = "work_item"
    __table_args__ = (
        UniqueConstraint("source_id", "external_id"),
        Index("ix_work_item_team_id_status_category", "team_id", "status_category"),
        Index("ix_work_item_source_id_remote_updated_at", "source_id", "remote_updated_at"),
        Index("ix_work_item_status_category_updated_at", "status_category", "remote_updated_at"),
        Index("ix_work_item_tracker_key", "tracker", "key"),
        Index("ix_work_item_tracker_parent_key", "tracker", "parent_key"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("source.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(128))  # Jira numeric id; GitHub issue database id
    tracker: Mapped[TrackerKind] = mapped_column(_enum(TrackerKind, "work_item_tracker"))
    key: Mapped[str] = mapped_column(String(255))  # PAY-12, acme/web#34
    url: Mapped[str] = mapped_column(String(1024))
    title: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(String(200))  # Jira project key, GitHub repo full name
    kind: Mapped[ItemKind] = mapped_column(_enum(ItemKind, "work_item_kind"))
    original_type: Mapped[str | None] = mapped_column(String(100))
    status_category: Mapped[StatusCategory] = mapped_column(
        _enum(StatusCategory, "work_item_status_category")
    )
    original_status: Mapped[str] = mapped_column(String(100))
    resolution: Mapped[Resolution | None] = mapped_column(_enum(Resolution, "work_item_resolution"))
    original_resolution: Mapped[str | None] = mapped_column(String(100))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id", ondelete="SET NULL"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("work_item.id", ondelete="SET NULL"), index=True)
    parent_key: Mapped[str | None] = mapped_column(String(255))  # kept when the parent is not synced yet
    sprint_id: Mapped[int | None] = mapped_column(ForeignKey("sprint.id", ondelete="SET NULL"), index=True)
    estimate: Mapped[float | None] = mapped_column(Float)
    labels: Mapped[list[str]] = mapped_column(JSONType, default=list)
    start_date: Mapped[date | None] = mapped_column(Date)
    due_date: Mapped[date | None] = mapped_column(Date, index=True)
    remote_created_at: Mapped[datetime]
    remote_updated_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
    moved_from_key: Mapped[str | None] = mapped_column(String(255))
    raw: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    synced_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    parent: Mapped[WorkItem | None] = relationship(remote_side="WorkItem.id", lazy="raise")


class WorkItemRelease(Base):
    """Which releases (fix versions / milestone) an item is planned for."""

    __tablename__ = "work_item_release"

    work_item_id: Mapped[int] = mapped_column(
        ForeignKey("work_item.id", ondelete="CASCADE"), primary_key=True
    )
    release_id: Mapped[int] = mapped_column(
        ForeignKey("release.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Link(Base):
    """A directed dependency or relation: ``from`` <type> ``to`` (for blocks: from blocks to).

    Either end may point at an item not synced yet (another tracker, another project): the
    tracker and key are kept and the item id is filled in when it arrives. ``declared_by_id`` is
    the item whose sync owns the row (replaced on each sync of that item). Cross-team and
    cross-tracker are derived in queries, not stored.
    """

    __tablename__ = "link"
    __table_args__ = (
        UniqueConstraint("source_id", "external_id"),
        Index("ix_link_to_tracker_to_key", "to_tracker", "to_key"),
        Index("ix_link_from_tracker_from_key", "from_tracker", "from_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("source.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(512))  # Jira link id, or origin:from->to:type
    type: Mapped[LinkType] = mapped_column(_enum(LinkType, "link_type"))
    origin: Mapped[LinkOrigin] = mapped_column(_enum(LinkOrigin, "link_origin"))
    original_label: Mapped[str | None] = mapped_column(String(100))
    from_tracker: Mapped[TrackerKind] = mapped_column(_enum(TrackerKind, "link_from_tracker"))
    from_key: Mapped[str] = mapped_column(String(255))
    from_item_id: Mapped[int | None] = mapped_column(
        ForeignKey("work_item.id", ondelete="CASCADE"), index=True
    )
    to_tracker: Mapped[TrackerKind] = mapped_column(_enum(TrackerKind, "link_to_tracker"))
    to_key: Mapped[str] = mapped_column(String(255))
    to_item_id: Mapped[int | None] = mapped_column(ForeignKey("work_item.id", ondelete="CASCADE"), index=True)
    declared_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("work_item.id", ondelete="CASCADE"), index=True
    )
    remote_updated_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StatusChange(Base):
    """One status transition of an item (Jira changelog, GitHub events, or observed by sync)."""

    __tablename__ = "status_change"
    __table_args__ = (
        UniqueConstraint("source_id", "external_id"),
        Index("ix_status_change_work_item_id_at", "work_item_id", "at"),
        Index("ix_status_change_to_category_at", "to_category", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("source.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(255))
    work_item_id: Mapped[int] = mapped_column(ForeignKey("work_item.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    from_status: Mapped[str | None] = mapped_column(String(100))
    to_status: Mapped[str] = mapped_column(String(100))
    from_category: Mapped[StatusCategory | None] = mapped_column(
        _enum(StatusCategory, "status_change_from_category")
    )
    to_category: Mapped[StatusCategory] = mapped_column(_enum(StatusCategory, "status_change_to_category"))
    by_person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))


class ProgramItem(Base):
    """Program membership, recomputed from scope rules; ``reason`` says why an item is in.

    Also holds facts the views derive per member and would otherwise recompute per request
    (docs/adr/0012-fast-program-views.md): ``epic_id``.
    """

    __tablename__ = "program_item"

    program_id: Mapped[int] = mapped_column(ForeignKey("program.id", ondelete="CASCADE"), primary_key=True)
    work_item_id: Mapped[int] = mapped_column(
        ForeignKey("work_item.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    reason: Mapped[str] = mapped_column(String(16))  # scope | explicit | descendant
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: The member's nearest epic ancestor (``sync.views.common.EPIC_DEPTH`` levels up), kept by
    #: :func:`sync.membership.refresh_member_epics` so the views group by epic without walking
    #: parents in every query.
    epic_id: Mapped[int | None] = mapped_column(ForeignKey("work_item.id", ondelete="SET NULL"), index=True)


class ProgramSnapshot(Base):
    """Daily totals per program and per team / epic inside it (burnup, scope change)."""

    __tablename__ = "program_snapshot"
    __table_args__ = (UniqueConstraint("program_id", "day", "dimension", "dimension_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("program.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    dimension: Mapped[str] = mapped_column(String(16))  # program | team | epic
    dimension_key: Mapped[str] = mapped_column(String(255), default="")
    scope_count: Mapped[int] = mapped_column(Integer, default=0)
    done_count: Mapped[int] = mapped_column(Integer, default=0)
    in_progress_count: Mapped[int] = mapped_column(Integer, default=0)
    scope_points: Mapped[float] = mapped_column(Float, default=0.0)
    done_points: Mapped[float] = mapped_column(Float, default=0.0)
    backfilled: Mapped[bool] = mapped_column(Boolean, default=False)


# --------------------------------------------------------------------------------------------
# Sync bookkeeping, webhook inbox, mirroring
# --------------------------------------------------------------------------------------------


class SyncCursor(Base):
    __tablename__ = "sync_cursor"
    __table_args__ = (UniqueConstraint("source_id", "scope"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("source.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(200), default="")
    cursor: Mapped[str | None] = mapped_column(Text)
    last_full_sync_at: Mapped[datetime | None]
    last_incremental_at: Mapped[datetime | None]
    last_reconcile_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SyncRun(Base):
    __tablename__ = "sync_run"
    __table_args__ = (Index("ix_sync_run_source_id_started_at", "source_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("source.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # full | incremental | reconcile
    status: Mapped[str] = mapped_column(String(16), default="running")  # running | succeeded | failed
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    items_seen: Mapped[int] = mapped_column(Integer, default=0)
    items_created: Mapped[int] = mapped_column(Integer, default=0)
    items_updated: Mapped[int] = mapped_column(Integer, default=0)
    items_deleted: Mapped[int] = mapped_column(Integer, default=0)
    links_written: Mapped[int] = mapped_column(Integer, default=0)
    requests: Mapped[int] = mapped_column(Integer, default=0)
    not_modified: Mapped[int] = mapped_column(Integer, default=0)
    rate_limit_waits: Mapped[int] = mapped_column(Integer, default=0)
    rate_limit_wait_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    error_message: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int | None] = mapped_column(Integer)


class InboundEvent(Base):
    """The webhook inbox: one row per delivery, unique per source and delivery id."""

    __tablename__ = "inbound_event"
    __table_args__ = (
        UniqueConstraint("source_id", "delivery_id"),
        Index("ix_inbound_event_handled_at_next_attempt_at", "handled_at", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("source.id", ondelete="CASCADE"))
    delivery_id: Mapped[str] = mapped_column(String(128))
    event_type: Mapped[str] = mapped_column(String(64))
    action: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    handled_at: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class MirrorPair(Base):
    """Twin items across trackers (PRODUCT §7) with the last synced snapshot of each side."""

    __tablename__ = "mirror_pair"
    __table_args__ = (UniqueConstraint("rule", "left_item_id"), UniqueConstraint("rule", "right_item_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    rule: Mapped[str] = mapped_column(String(64))
    left_item_id: Mapped[int] = mapped_column(ForeignKey("work_item.id", ondelete="CASCADE"))
    right_item_id: Mapped[int] = mapped_column(ForeignKey("work_item.id", ondelete="CASCADE"))
    left_snapshot: Mapped[dict[str, Any]] = mapped_column(default=dict)
    right_snapshot: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_synced_at: Mapped[datetime | None]
    conflict: Mapped[str | None] = mapped_column(Text)


class OutboundChange(Base):
    """The outbox of writes to trackers: idempotent, retried, audited."""

    __tablename__ = "outbound_change"
    __table_args__ = (Index("ix_outbound_change_status_created_at", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    mirror_pair_id: Mapped[int | None] = mapped_column(ForeignKey("mirror_pair.id", ondelete="SET NULL"))
    target_source_id: Mapped[int] = mapped_column(ForeignKey("source.id", ondelete="CASCADE"))
    target_item_id: Mapped[int | None] = mapped_column(ForeignKey("work_item.id", ondelete="SET NULL"))
    operation: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


# --------------------------------------------------------------------------------------------
# Program views: scope removals and stored status reports
# --------------------------------------------------------------------------------------------


class ProgramItemRemoval(Base):
    """An item that left a program's scope (membership rows are deleted; this keeps the fact).

    Written by :func:`sync.programs.recompute_program_membership`, read by the progress view
    ("scope removed since the baseline"). The key is kept because the item itself may be gone.
    """

    __tablename__ = "program_item_removal"
    __table_args__ = (Index("ix_program_item_removal_program_id_removed_at", "program_id", "removed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("program.id", ondelete="CASCADE"))
    work_item_id: Mapped[int | None] = mapped_column(ForeignKey("work_item.id", ondelete="SET NULL"))
    key: Mapped[str] = mapped_column(String(255))
    estimate: Mapped[float | None] = mapped_column(Float)
    removed_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProgramReport(Base):
    """A generated status report (PRODUCT §6.2 report), kept as history.

    ``content`` is the JSON form of the report; Markdown and HTML are rendered from it on demand.
    """

    __tablename__ = "program_report"
    __table_args__ = (Index("ix_program_report_program_id_created_at", "program_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("program.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    rag: Mapped[str] = mapped_column(String(8))  # green | amber | red
    headline: Mapped[str] = mapped_column(Text)
    content: Mapped[dict[str, Any]] = mapped_column(JSONType)
