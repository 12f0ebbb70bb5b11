"""What every view shares: program lookup, ``as_of`` + source freshness, and the SQL pieces for
"countable item", "the item's epic" and "when the item entered the scope".

Definitions (docs/adr/0009-program-views.md):
- Countable items are the program's work items except containers (epics, initiatives), which
  are tracked through their children; deleted items are never members.
- An item's epic is its nearest epic ancestor through ``parent_id``, up to :data:`EPIC_DEPTH`
  levels; membership recompute stores it in ``ProgramItem.epic_id`` (docs/adr/0012), so views
  read it from the membership row instead of joining parents.
- Won't-do items (resolution ``wont_do``) are out of the totals and count as removed scope.
"""

from __future__ import annotations

import contextlib
import functools
import gc
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, Field
from sqlalchemy import BigInteger, ColumnElement, and_, any_, bindparam, case, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, aliased

from connectors.records import ItemKind
from sync.membership import EPIC_DEPTH
from sync.model import Program, ProgramItem, Source, SyncRun, WorkItem

__all__ = [
    "CONTAINER_KINDS",
    "EPIC_DEPTH",
    "ProgramNotFound",
    "SourceFreshness",
    "ViewMeta",
    "as_datetime",
    "day_end",
    "entered_at_expr",
    "freshness",
    "gc_paused",
    "get_program",
    "ids_in",
    "item_alias",
    "membership_alias",
    "trusted",
    "view_meta",
]

CONTAINER_KINDS = (ItemKind.EPIC, ItemKind.INITIATIVE)
#: Items that joined during the first sync of their source, or when the program was created,
#: entered the scope when they were created, not when crosstrack first saw them.
INITIAL_LOAD_GRACE = timedelta(minutes=10)
DEFAULT_STALE_AFTER_MINUTES = 30


class ProgramNotFound(LookupError):
    """No program with this slug."""

    def __init__(self, slug: str) -> None:
        super().__init__(f"no program {slug!r}")
        self.slug = slug


class SourceFreshness(BaseModel):
    name: str
    kind: str
    last_synced_at: datetime | None = Field(description="Last successful sync.")
    last_webhook_at: datetime | None = Field(description="Last webhook delivery received.")
    stale: bool = Field(description="Not synced successfully within the stale threshold.")


class ViewMeta(BaseModel):
    program: str
    as_of: datetime
    sources: list[SourceFreshness]


M = TypeVar("M", bound=BaseModel)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Hold the cyclic garbage collector while a view builds its result (usable as a decorator).

    A view allocates tens of thousands of short-lived rows and models that form no cycles; the
    collector, triggered by allocation counts, rescans them over and over (a quarter of the CPU
    of the dependency graph at 20k items). Reference counting still frees everything; a deferred
    collection runs at the next allocation threshold after the view. Re-enabled only if it was on.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def trusted(cls: type[M], values: dict[str, Any]) -> M:
    """An instance of ``cls`` from values that already have the field types, without validation.

    For the thousands of nodes, edges and rows a view builds from typed query results: pydantic's
    ``model_construct`` does per-field bookkeeping that costs as much as the rest of the view.
    ``values`` must name every field (tests/views/test_common.py checks this equals validating).
    """
    model = cls.__new__(cls)
    object.__setattr__(model, "__dict__", values)
    object.__setattr__(model, "__pydantic_fields_set__", set(values))
    object.__setattr__(model, "__pydantic_extra__", None)
    object.__setattr__(model, "__pydantic_private__", None)
    return model


def get_program(session: Session, slug: str) -> Program:
    program = session.scalar(select(Program).where(Program.slug == slug))
    if program is None:
        raise ProgramNotFound(slug)
    return program


def freshness(
    session: Session, as_of: datetime, stale_after_minutes: int = DEFAULT_STALE_AFTER_MINUTES
) -> list[SourceFreshness]:
    limit = as_of - timedelta(minutes=stale_after_minutes)
    return [
        SourceFreshness(
            name=name,
            kind=kind.value,
            last_synced_at=synced,
            last_webhook_at=hooked,
            stale=synced is None or synced < limit,
        )
        for name, kind, synced, hooked in session.execute(
            select(Source.name, Source.kind, Source.last_synced_at, Source.last_webhook_at).order_by(
                Source.name
            )
        )
    ]


def view_meta(
    session: Session,
    program: Program,
    as_of: datetime | None = None,
    stale_after_minutes: int = DEFAULT_STALE_AFTER_MINUTES,
) -> ViewMeta:
    at = as_of or datetime.now(UTC)
    return ViewMeta(program=program.slug, as_of=at, sources=freshness(session, at, stale_after_minutes))


def day_end(day: date) -> datetime:
    """The first instant after ``day`` (UTC): "as of day d" means strictly before this."""
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


@functools.cache
def item_alias(name: str) -> type[WorkItem]:
    """One aliased WorkItem per name for the life of the process.

    Building an alias of a 30-column table costs milliseconds; reusing them also lets
    SQLAlchemy's compiled-statement cache hit, since the statements are structurally equal.
    """
    return aliased(WorkItem, name=name)


@functools.cache
def membership_alias(name: str) -> type[ProgramItem]:
    return aliased(ProgramItem, name=name)


def ids_in(session: Session, column: Any, ids: Sequence[int]) -> ColumnElement[bool]:
    """``column IN ids``; on PostgreSQL as ``= ANY(array)``: one parameter instead of thousands
    (binding and planning a long IN list costs more than the lookups it asks for)."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(ids), type_=ARRAY(BigInteger())))  # type: ignore[no-any-return]
    return column.in_(list(ids))  # type: ignore[no-any-return]


def entered_at_expr(session: Session, program: Program, item: Any, membership: Any) -> ColumnElement[Any]:
    """When the item entered the program's scope.

    ``ProgramItem.added_at`` is when crosstrack computed the membership; for items present at the
    first sync of their source (or when the program was created) that is not when they joined the
    plan, so those count from their creation time instead.
    """
    first_sync = dict(
        session.execute(
            select(SyncRun.source_id, func.min(SyncRun.finished_at))
            .where(SyncRun.status == "succeeded")
            .group_by(SyncRun.source_id)
        ).all()
    )
    created = program.created_at
    whens = []
    for source_id in session.scalars(select(Source.id)):
        synced = first_sync.get(source_id)
        cutoff = max(synced, created) if synced is not None else None
        if cutoff is None:
            whens.append((item.source_id == source_id, item.remote_created_at))
        else:
            whens.append(
                (
                    and_(item.source_id == source_id, membership.added_at <= cutoff + INITIAL_LOAD_GRACE),
                    item.remote_created_at,
                )
            )
    if not whens:
        return membership.added_at  # type: ignore[no-any-return]
    return case(*whens, else_=membership.added_at)


def as_datetime(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)
