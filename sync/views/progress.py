"""Progress by program, epic and team (PRODUCT §6.2 progress).

One grouped query (team x epic) with conditional sums gives every figure; the program, team and
epic totals are rolled up from those few rows in Python. Scope removed = won't-do items resolved
since the baseline + items that left the scope since the baseline (program level only for the
latter: the item may no longer exist, so it has no team or epic to be filed under).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from connectors.records import ItemKind, Resolution, StatusCategory
from sync.model import Program, ProgramItem, ProgramItemRemoval, Team, WorkItem
from sync.views.common import (
    CONTAINER_KINDS,
    DEFAULT_STALE_AFTER_MINUTES,
    ViewMeta,
    as_datetime,
    entered_at_expr,
    get_program,
    item_alias,
    membership_alias,
    view_meta,
    with_epic,
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


@dataclass(slots=True)
class _Acc:
    values: dict[str, float] = field(default_factory=lambda: dict.fromkeys(_FIELDS, 0.0))

    def add(self, row: dict[str, Any]) -> None:
        for name in _FIELDS:
            self.values[name] += float(row[name] or 0)

    def counts(self) -> dict[str, Any]:
        v = self.values
        total = int(v["todo"] + v["in_progress"] + v["done"])
        points = v["points_todo"] + v["points_in_progress"] + v["points_done"]
        return {
            "total": total,
            "todo": int(v["todo"]),
            "in_progress": int(v["in_progress"]),
            "done": int(v["done"]),
            "points_total": points,
            "points_todo": v["points_todo"],
            "points_in_progress": v["points_in_progress"],
            "points_done": v["points_done"],
            "percent_done": round(100.0 * v["done"] / total, 1) if total else 0.0,
            "percent_done_points": round(100.0 * v["points_done"] / points, 1) if points else None,
            "unestimated": int(v["unestimated"]),
            "wont_do": int(v["wont_do"]),
            "scope_added": int(v["added"]),
            "scope_added_points": v["added_points"],
            "scope_removed": int(v["removed"]),
            "scope_removed_points": v["removed_points"],
        }


def grouped_rows(session: Session, program: Program, as_of: datetime | None = None) -> list[dict[str, Any]]:
    """Per (team, epic): counts and points by category, unestimated, won't-do, added, removed."""
    w = item_alias("w")
    pi = membership_alias("pi")
    baseline = as_datetime(program.baseline_date) if program.baseline_date else None
    wont = w.resolution == Resolution.WONT_DO
    live = or_(w.resolution.is_(None), w.resolution != Resolution.WONT_DO)
    points = func.coalesce(w.estimate, 0.0)

    def count_if(cond: Any) -> Any:
        return func.sum(case((cond, 1), else_=0))

    def points_if(cond: Any) -> Any:
        return func.sum(case((cond, points), else_=0.0))

    stmt = select(pi.work_item_id).select_from(pi).join(w, w.id == pi.work_item_id)
    stmt, epic_id = with_epic(stmt, w)
    if baseline is not None:
        entered = entered_at_expr(session, program, w, pi)
        added = entered >= baseline
        removed = and_(wont, or_(w.resolved_at.is_(None), w.resolved_at >= baseline))
    else:
        added = removed = False  # type: ignore[assignment]
    cols = [
        w.team_id.label("team_id"),
        epic_id.label("epic_id"),
        count_if(and_(live, w.status_category == StatusCategory.TODO)).label("todo"),
        count_if(and_(live, w.status_category == StatusCategory.IN_PROGRESS)).label("in_progress"),
        count_if(and_(live, w.status_category == StatusCategory.DONE)).label("done"),
        points_if(and_(live, w.status_category == StatusCategory.TODO)).label("points_todo"),
        points_if(and_(live, w.status_category == StatusCategory.IN_PROGRESS)).label("points_in_progress"),
        points_if(and_(live, w.status_category == StatusCategory.DONE)).label("points_done"),
        count_if(and_(live, w.estimate.is_(None))).label("unestimated"),
        count_if(wont).label("wont_do"),
        points_if(wont).label("wont_do_points"),
        (count_if(removed) if baseline is not None else func.sum(0)).label("removed"),
        (points_if(removed) if baseline is not None else func.sum(0.0)).label("removed_points"),
        (count_if(added) if baseline is not None else func.sum(0)).label("added"),
        (points_if(added) if baseline is not None else func.sum(0.0)).label("added_points"),
    ]
    stmt = (
        stmt.with_only_columns(*cols)
        .where(pi.program_id == program.id, w.kind.not_in(CONTAINER_KINDS), w.deleted_at.is_(None))
        .group_by(w.team_id, epic_id)
    )
    return [dict(r._mapping) for r in session.execute(stmt)]


def progress(
    session: Session,
    slug: str,
    as_of: datetime | None = None,
    stale_after_minutes: int = DEFAULT_STALE_AFTER_MINUTES,
) -> ProgressView:
    program = get_program(session, slug)
    rows = grouped_rows(session, program)
    total = _Acc()
    by_team: defaultdict[int | None, _Acc] = defaultdict(_Acc)
    by_epic: defaultdict[int | None, _Acc] = defaultdict(_Acc)
    for row in rows:
        total.add(row)
        by_team[row["team_id"]].add(row)
        by_epic[row["epic_id"]].add(row)
    program_counts = total.counts()
    if program.baseline_date is not None:
        removed_n, removed_pts = session.execute(
            select(func.count(), func.coalesce(func.sum(ProgramItemRemoval.estimate), 0.0)).where(
                ProgramItemRemoval.program_id == program.id,
                ProgramItemRemoval.removed_at >= as_datetime(program.baseline_date),
            )
        ).one()
        program_counts["scope_removed"] += int(removed_n)
        program_counts["scope_removed_points"] += float(removed_pts or 0.0)

    teams = {t.id: t for t in session.scalars(select(Team))}
    # Epics that are members (even with no countable children) plus epics found as ancestors.
    member_epics = set(
        session.scalars(
            select(WorkItem.id)
            .join(ProgramItem, ProgramItem.work_item_id == WorkItem.id)
            .where(
                ProgramItem.program_id == program.id,
                WorkItem.kind == ItemKind.EPIC,
                WorkItem.deleted_at.is_(None),
            )
        )
    )
    epic_ids = member_epics | {e for e in by_epic if e is not None}
    epic_info = {
        row.id: row
        for row in session.execute(
            select(
                WorkItem.id,
                WorkItem.key,
                WorkItem.title,
                WorkItem.url,
                WorkItem.status_category,
                WorkItem.due_date,
                WorkItem.team_id,
            ).where(WorkItem.id.in_(epic_ids))
        )
    }
    epics = []
    for epic_id in sorted(epic_ids, key=lambda e: epic_info[e].key) + ([None] if None in by_epic else []):
        info = epic_info.get(epic_id) if epic_id is not None else None
        team = teams.get(info.team_id) if info is not None and info.team_id is not None else None
        epics.append(
            EpicProgress(
                id=epic_id,
                key=info.key if info else None,
                title=info.title if info else None,
                url=info.url if info else None,
                status_category=info.status_category if info else None,
                due_date=info.due_date if info else None,
                team=team.slug if team else None,
                **by_epic[epic_id].counts(),
            )
        )
    team_rows = sorted(by_team.items(), key=lambda kv: (kv[0] is None, teams[kv[0]].slug if kv[0] else ""))
    return ProgressView(
        meta=view_meta(session, program, as_of, stale_after_minutes),
        baseline_date=program.baseline_date,
        target_date=program.target_date,
        program=ProgressCounts(**program_counts),
        epics=epics,
        teams=[
            TeamProgress(
                team=teams[tid].slug if tid is not None else None,
                name=teams[tid].name if tid is not None else None,
                **acc.counts(),
            )
            for tid, acc in team_rows
        ],
    )
