"""Progress by program, epic and team (PRODUCT §6.2 progress).

One grouped query (team x epic, the epic read from the membership row) with conditional sums
gives every figure; the program, team and epic totals are rolled up from those few rows in Python. Scope removed = won't-do items resolved
since the baseline + items that left the scope since the baseline (program level only for the
latter: the item may no longer exist, so it has no team or epic to be filed under).
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, case, func, null, or_, select
from sqlalchemy.orm import Session

from connectors.records import ItemKind, Resolution, StatusCategory
from sync.model import Program, ProgramItemRemoval, Team, WorkItem
from sync.views import examples
from sync.views.common import (
    CONTAINER_KINDS,
    DEFAULT_STALE_AFTER_MINUTES,
    ViewMeta,
    as_datetime,
    entered_at_expr,
    gc_paused,
    get_program,
    ids_in,
    item_alias,
    membership_alias,
    trusted,
    view_meta,
)

__all__ = ["EpicProgress", "ProgressCounts", "ProgressView", "TeamProgress", "progress"]


class ProgressCounts(BaseModel):
    total: int = Field(0, description="Countable items in scope, won't-do excluded.")
    todo: int = 0
    in_progress: int = 0
    done: int = 0
    points_total: float = 0.0
    points_todo: float = 0.0
    points_in_progress: float = 0.0
    points_done: float = 0.0
    percent_done: float = Field(0.0, description="done / total items, 0-100.")
    percent_done_points: float | None = Field(
        None, description="done / total points, 0-100; null without points."
    )
    unestimated: int = Field(0, description="Items (won't-do excluded) without an estimate.")
    wont_do: int = 0
    scope_added: int = Field(0, description="Items that entered the scope after the baseline date.")
    scope_added_points: float = 0.0
    scope_removed: int = Field(0, description="Won't-do since the baseline + items that left the scope.")
    scope_removed_points: float = 0.0


class EpicProgress(ProgressCounts):
    id: int | None = Field(description="Null for the 'no epic' group.")
    key: str | None
    title: str | None
    url: str | None = None
    status_category: StatusCategory | None = None
    due_date: date | None = None
    team: str | None = None


class TeamProgress(ProgressCounts):
    team: str | None = Field(description="Team slug; null for items no team owns.")
    name: str | None


class ProgressView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [examples.PROGRESS]})

    meta: ViewMeta
    baseline_date: date | None
    target_date: date | None
    program: ProgressCounts
    epics: list[EpicProgress]
    teams: list[TeamProgress]


_FIELDS = (
    "todo",
    "in_progress",
    "done",
    "points_todo",
    "points_in_progress",
    "points_done",
    "unestimated",
    "wont_do",
    "wont_do_points",
    "removed",
    "removed_points",
    "added",
    "added_points",
)
_ZERO = (0.0,) * len(_FIELDS)


def _add(acc: list[float], values: tuple[float, ...]) -> None:
    acc[:] = map(operator.add, acc, values)


def _counts(v: Sequence[float]) -> dict[str, Any]:
    (
        todo,
        doing,
        done,
        p_todo,
        p_doing,
        p_done,
        unestimated,
        wont,
        _,
        removed,
        removed_pts,
        added,
        added_pts,
    ) = v
    total = int(todo + doing + done)
    points = p_todo + p_doing + p_done
    return {
        "total": total,
        "todo": int(todo),
        "in_progress": int(doing),
        "done": int(done),
        "points_total": points,
        "points_todo": p_todo,
        "points_in_progress": p_doing,
        "points_done": p_done,
        "percent_done": round(100.0 * done / total, 1) if total else 0.0,
        "percent_done_points": round(100.0 * p_done / points, 1) if points else None,
        "unestimated": int(unestimated),
        "wont_do": int(wont),
        "scope_added": int(added),
        "scope_added_points": added_pts,
        "scope_removed": int(removed),
        "scope_removed_points": removed_pts,
    }


@dataclass(slots=True, frozen=True)
class GroupedRows:
    """One pass over the program's members: figures per (team, epic), and the member epics."""

    figures: list[tuple[int | None, int | None, tuple[float, ...]]]
    member_epics: set[int]


def grouped_rows(session: Session, program: Program) -> GroupedRows:
    """Per (team, epic): counts and points by category, unestimated, won't-do, added, removed.

    The epic is the membership row's ``epic_id`` (kept by membership recompute). Member epics
    come out of the same pass as groups of their own (their figures are zero: containers are
    not counted), which saves a second join over the program.
    """
    w = item_alias("w")
    pi = membership_alias("pi")
    baseline = as_datetime(program.baseline_date) if program.baseline_date else None
    countable = w.kind.not_in(CONTAINER_KINDS)
    wont = and_(countable, w.resolution == Resolution.WONT_DO)
    live = and_(countable, or_(w.resolution.is_(None), w.resolution != Resolution.WONT_DO))
    points = func.coalesce(w.estimate, 0.0)

    def count_if(cond: Any) -> Any:
        return func.sum(case((cond, 1), else_=0))

    def points_if(cond: Any) -> Any:
        return func.sum(case((cond, points), else_=0.0))

    if baseline is not None:
        entered = entered_at_expr(session, program, w, pi)
        added: Any = and_(countable, entered >= baseline)
        removed: Any = and_(wont, or_(w.resolved_at.is_(None), w.resolved_at >= baseline))
        extra = [count_if(removed), points_if(removed), count_if(added), points_if(added)]
    else:
        extra = [func.sum(0), func.sum(0.0), func.sum(0), func.sum(0.0)]
    member_epic = case((w.kind == ItemKind.EPIC, w.id), else_=null())
    stmt = (
        select(
            w.team_id,
            pi.epic_id,
            member_epic,
            count_if(countable),
            count_if(and_(live, w.status_category == StatusCategory.TODO)),
            count_if(and_(live, w.status_category == StatusCategory.IN_PROGRESS)),
            count_if(and_(live, w.status_category == StatusCategory.DONE)),
            points_if(and_(live, w.status_category == StatusCategory.TODO)),
            points_if(and_(live, w.status_category == StatusCategory.IN_PROGRESS)),
            points_if(and_(live, w.status_category == StatusCategory.DONE)),
            count_if(and_(live, w.estimate.is_(None))),
            count_if(wont),
            points_if(wont),
            *extra,
        )
        .select_from(pi)
        .join(w, w.id == pi.work_item_id)
        .where(pi.program_id == program.id, w.deleted_at.is_(None))
        .group_by(w.team_id, pi.epic_id, member_epic)
    )
    figures: list[tuple[int | None, int | None, tuple[float, ...]]] = []
    member_epics: set[int] = set()
    for team_id, epic_id, epic_self, n, *values in session.connection().execute(stmt).all():
        if epic_self is not None:
            member_epics.add(epic_self)
        if n:
            figures.append((team_id, epic_id, tuple(float(v or 0) for v in values)))
    return GroupedRows(figures, member_epics)


@gc_paused()
def progress(
    session: Session,
    slug: str,
    as_of: datetime | None = None,
    stale_after_minutes: int = DEFAULT_STALE_AFTER_MINUTES,
) -> ProgressView:
    program = get_program(session, slug)
    grouped = grouped_rows(session, program)
    total = list(_ZERO)
    by_team: dict[int | None, list[float]] = {}
    by_epic: dict[int | None, list[float]] = {}
    for team_id, epic_id, values in grouped.figures:
        _add(total, values)
        _add(by_team.setdefault(team_id, list(_ZERO)), values)
        _add(by_epic.setdefault(epic_id, list(_ZERO)), values)
    program_counts = _counts(total)
    if program.baseline_date is not None:
        removed_n, removed_pts = session.execute(
            select(func.count(), func.coalesce(func.sum(ProgramItemRemoval.estimate), 0.0)).where(
                ProgramItemRemoval.program_id == program.id,
                ProgramItemRemoval.removed_at >= as_datetime(program.baseline_date),
            )
        ).one()
        program_counts["scope_removed"] += int(removed_n)
        program_counts["scope_removed_points"] += float(removed_pts or 0.0)

    teams = {t.id: (t.slug, t.name) for t in session.execute(select(Team.id, Team.slug, Team.name))}
    # Epics that are members (even with no countable children) plus epics found as ancestors.
    epic_ids = grouped.member_epics | {e for e in by_epic if e is not None}
    epic_info = {row[0]: row for row in epic_rows(session, epic_ids)}
    epics = []
    for epic_id in sorted(epic_ids, key=lambda e: epic_info[e][1]) + ([None] if None in by_epic else []):
        info = epic_info.get(epic_id) if epic_id is not None else None
        team = teams.get(info[6]) if info is not None and info[6] is not None else None
        figures = _counts(by_epic.get(epic_id, _ZERO))
        # Built without re-validation: every value comes typed from the query above.
        epics.append(
            trusted(
                EpicProgress,
                dict(
                    id=epic_id,
                    key=info[1] if info else None,
                    title=info[2] if info else None,
                    url=info[3] if info else None,
                    status_category=info[4] if info else None,
                    due_date=info[5] if info else None,
                    team=team[0] if team else None,
                    **figures,
                ),
            )
        )
    team_rows = sorted(by_team.items(), key=lambda kv: (kv[0] is None, teams[kv[0]][0] if kv[0] else ""))
    return ProgressView(
        meta=view_meta(session, program, as_of, stale_after_minutes),
        baseline_date=program.baseline_date,
        target_date=program.target_date,
        program=ProgressCounts(**program_counts),
        epics=epics,
        teams=[
            TeamProgress(
                team=teams[tid][0] if tid is not None else None,
                name=teams[tid][1] if tid is not None else None,
                **_counts(acc),
            )
            for tid, acc in team_rows
        ],
    )


def epic_rows(session: Session, epic_ids: Iterable[int]) -> list[Any]:
    """(id, key, title, url, status_category, due_date, team_id) of these epics."""
    ids = sorted(epic_ids)
    if not ids:
        return []
    return list(
        session.execute(
            select(
                WorkItem.id,
                WorkItem.key,
                WorkItem.title,
                WorkItem.url,
                WorkItem.status_category,
                WorkItem.due_date,
                WorkItem.team_id,
            ).where(ids_in(session, WorkItem.id, ids))
        )
    )
