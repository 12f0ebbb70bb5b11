"""Burnup (PRODUCT §6.2): daily scope and done, count and points, from ProgramSnapshot.

- :func:`take_snapshots` stores today's totals per program, team and epic (a daily job).
- :func:`backfill` rebuilds the days before the first snapshot from status history and the
  times items entered the scope, so a new program has a burnup at once (rows marked
  ``backfilled``). It works on events (entered, status changed, won't-do) per item, so it costs
  O(items + changes + days), not items x days.
- :func:`burnup` reads the stored series and appends today's live point.

Status on a past day: the category of the last change before that day ended; before an item's
first recorded change, that change's ``from`` category; an item without history is counted in
its current category from when it entered (done from its resolution time).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Select, delete, func, insert, select
from sqlalchemy.orm import Session

from connectors.records import Resolution, StatusCategory
from sync.model import Program, ProgramItem, ProgramSnapshot, StatusChange, Team, WorkItem
from sync.views import examples
from sync.views.common import (
    CONTAINER_KINDS,
    DEFAULT_STALE_AFTER_MINUTES,
    ViewMeta,
    entered_at_expr,
    get_program,
    item_alias,
    membership_alias,
    view_meta,
)

__all__ = ["BurnupPoint", "BurnupView", "backfill", "burnup", "take_snapshots"]

MAX_BACKFILL_DAYS = 365
_SCOPE, _TODO, _DOING, _DONE, _SCOPE_PTS, _DONE_PTS = range(6)
_CAT = {StatusCategory.TODO: _TODO, StatusCategory.IN_PROGRESS: _DOING, StatusCategory.DONE: _DONE}


class BurnupPoint(BaseModel):
    day: date
    scope_count: int
    done_count: int
    in_progress_count: int
    scope_points: float
    done_points: float
    backfilled: bool = Field(description="Rebuilt from status history rather than recorded that day.")
    live: bool = Field(False, description="Today's point, computed now (not stored yet).")


class BurnupView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [examples.BURNUP]})

    meta: ViewMeta
    dimension: str
    key: str
    target_date: date | None
    baseline_date: date | None
    points: list[BurnupPoint]


def _item_rows(session: Session, program: Program) -> list[Any]:
    w, pi = item_alias("w"), membership_alias("pi")
    stmt: Select[Any] = select(pi.work_item_id).select_from(pi).join(w, w.id == pi.work_item_id)
    epic_id = pi.epic_id
    entered = entered_at_expr(session, program, w, pi)
    stmt = stmt.with_only_columns(
        w.id,
        w.team_id,
        epic_id,
        w.estimate,
        entered,
        w.status_category,
        w.resolution,
        w.resolved_at,
        w.remote_updated_at,
    ).where(pi.program_id == program.id, w.deleted_at.is_(None), w.kind.not_in(CONTAINER_KINDS))
    return list(session.execute(stmt).all())


def _dimension_keys(session: Session, rows: list[Any]) -> tuple[dict[int, str], dict[int, str]]:
    teams = dict(session.execute(select(Team.id, Team.slug)).all())
    epic_ids = {r[2] for r in rows if r[2] is not None}
    epics = (
        dict(session.execute(select(WorkItem.id, WorkItem.key).where(WorkItem.id.in_(epic_ids))).all())
        if epic_ids
        else {}
    )
    return teams, epics


def _as_day(value: datetime) -> date:
    return value.astimezone(UTC).date()


def _series(
    session: Session, program: Program, start: date, end: date
) -> dict[tuple[str, str], dict[date, list[float]]]:
    """Daily totals per (dimension, key) from ``start`` to ``end`` inclusive."""
    rows = _item_rows(session, program)
    teams, epics = _dimension_keys(session, rows)
    changes: dict[int, list[tuple[datetime, StatusCategory | None, StatusCategory]]] = defaultdict(list)
    for item_id, at, frm, to in session.execute(
        select(
            StatusChange.work_item_id, StatusChange.at, StatusChange.from_category, StatusChange.to_category
        )
        .join(ProgramItem, ProgramItem.work_item_id == StatusChange.work_item_id)
        .where(ProgramItem.program_id == program.id)
        .order_by(StatusChange.work_item_id, StatusChange.at, StatusChange.id)
    ):
        changes[item_id].append((at, frm, to))
    # deltas[(dim, key)][day][field]
    deltas: dict[tuple[str, str], dict[date, list[float]]] = defaultdict(
        lambda: defaultdict(lambda: [0.0] * 6)
    )
    for item_id, team_id, epic_id, estimate, entered, status, resolution, resolved_at, updated in rows:
        points = float(estimate or 0.0)
        keys = [
            ("program", ""),
            ("team", teams.get(team_id, "") if team_id is not None else ""),
            ("epic", epics.get(epic_id, "") if epic_id is not None else ""),
        ]
        entry = _as_day(entered)
        history = changes.get(item_id, [])
        if history:
            first = history[0][1] or StatusCategory.TODO
            steps = [(max(entry, _as_day(at)), to) for at, _, to in history]
        elif status is StatusCategory.DONE:
            first = StatusCategory.TODO
            steps = [(max(entry, _as_day(resolved_at or updated)), StatusCategory.DONE)]
        else:
            first, steps = status, []
        events: list[tuple[date, int, float]] = [(entry, _SCOPE, 1.0), (entry, _CAT[first], 1.0)]
        if first is StatusCategory.DONE:
            events.append((entry, _DONE_PTS, points))
        current = first
        for day, to in steps:
            if to is current:
                continue
            events += [(day, _CAT[current], -1.0), (day, _CAT[to], 1.0)]
            if to is StatusCategory.DONE:
                events.append((day, _DONE_PTS, points))
            elif current is StatusCategory.DONE:
                events.append((day, _DONE_PTS, -points))
            current = to
        if resolution is Resolution.WONT_DO:  # leaves the scope when it was closed as won't do
            day = max(entry, _as_day(resolved_at or updated))
            events += [(day, _SCOPE, -1.0), (day, _CAT[current], -1.0)]
            if current is StatusCategory.DONE:
                events.append((day, _DONE_PTS, -points))
            events.append((day, _SCOPE_PTS, -points))
        events.append((entry, _SCOPE_PTS, points))
        for key in keys:
            bucket = deltas[key]
            for day, field, value in events:
                bucket[max(day, start) if day < start else day][field] += value
    out: dict[tuple[str, str], dict[date, list[float]]] = {}
    for key, bucket in deltas.items():
        running = [0.0] * 6
        series: dict[date, list[float]] = {}
        day = start
        while day <= end:
            for i, v in enumerate(bucket.get(day, ())):
                running[i] += v
            series[day] = list(running)
            day += timedelta(days=1)
        out[key] = series
    return out


def _row(program_id: int, dim: str, key: str, day: date, v: list[float], backfilled: bool) -> dict[str, Any]:
    return {
        "program_id": program_id,
        "day": day,
        "dimension": dim,
        "dimension_key": key,
        "scope_count": round(v[_SCOPE]),
        "done_count": round(v[_DONE]),
        "in_progress_count": round(v[_DOING]),
        "scope_points": round(v[_SCOPE_PTS], 3),
        "done_points": round(v[_DONE_PTS], 3),
        "backfilled": backfilled,
    }


def backfill(session: Session, program: Program, as_of: datetime | None = None) -> int:
    """Store rebuilt rows for the days before today that have no snapshot yet; return the day count."""
    today = (as_of or datetime.now(UTC)).date()
    end = today - timedelta(days=1)
    earliest = session.scalar(
        select(func.min(ProgramItem.added_at)).where(ProgramItem.program_id == program.id)
    )
    rows_exist = session.scalar(
        select(func.min(WorkItem.remote_created_at))
        .join(ProgramItem, ProgramItem.work_item_id == WorkItem.id)
        .where(ProgramItem.program_id == program.id)
    )
    if earliest is None or rows_exist is None:
        return 0
    start = min(_as_day(rows_exist), program.baseline_date or today)
    start = max(start, today - timedelta(days=MAX_BACKFILL_DAYS))
    if start > end:
        return 0
    have = set(
        session.scalars(
            select(ProgramSnapshot.day).where(
                ProgramSnapshot.program_id == program.id, ProgramSnapshot.dimension == "program"
            )
        )
    )
    series = _series(session, program, start, end)
    new_rows = [
        _row(program.id, dim, key, day, values, True)
        for (dim, key), days in series.items()
        for day, values in days.items()
        if day not in have
    ]
    for i in range(0, len(new_rows), 2000):
        session.execute(insert(ProgramSnapshot), new_rows[i : i + 2000])
    session.flush()
    return len({r["day"] for r in new_rows})


def _today_rows(session: Session, program: Program, day: date) -> dict[tuple[str, str], list[float]]:
    return {key: days[day] for key, days in _series(session, program, day, day).items()}


def take_snapshots(session: Session, day: date, program_ids: list[int] | None = None) -> int:
    """Record ``day``'s totals for each program (replacing that day's rows); return rows written."""
    query = select(Program)
    if program_ids is not None:
        query = query.where(Program.id.in_(program_ids))
    written = 0
    for program in session.scalars(query).all():
        values = _today_rows(session, program, day)
        session.execute(
            delete(ProgramSnapshot).where(
                ProgramSnapshot.program_id == program.id, ProgramSnapshot.day == day
            )
        )
        rows = [_row(program.id, dim, key, day, v, False) for (dim, key), v in values.items()]
        if rows:
            session.execute(insert(ProgramSnapshot), rows)
        written += len(rows)
    session.flush()
    return written


def burnup(
    session: Session,
    slug: str,
    as_of: datetime | None = None,
    dimension: str = "program",
    key: str = "",
    stale_after_minutes: int = DEFAULT_STALE_AFTER_MINUTES,
) -> BurnupView:
    at = as_of or datetime.now(UTC)
    program = get_program(session, slug)
    stored = (
        session.execute(
            select(ProgramSnapshot)
            .where(
                ProgramSnapshot.program_id == program.id,
                ProgramSnapshot.dimension == dimension,
                ProgramSnapshot.dimension_key == key,
            )
            .order_by(ProgramSnapshot.day)
        )
        .scalars()
        .all()
    )
    if not stored and dimension == "program" and backfill(session, program, at):
        return burnup(session, slug, at, dimension, key, stale_after_minutes)
    today = at.date()
    points = [
        BurnupPoint(
            day=s.day,
            scope_count=s.scope_count,
            done_count=s.done_count,
            in_progress_count=s.in_progress_count,
            scope_points=s.scope_points,
            done_points=s.done_points,
            backfilled=s.backfilled,
        )
        for s in stored
        if s.day < today
    ]
    live = _today_rows(session, program, today).get((dimension, key))
    if live is not None:
        row = _row(program.id, dimension, key, today, live, False)
        points.append(
            BurnupPoint(
                day=today,
                scope_count=row["scope_count"],
                done_count=row["done_count"],
                in_progress_count=row["in_progress_count"],
                scope_points=row["scope_points"],
                done_points=row["done_points"],
                backfilled=False,
                live=True,
            )
        )
    return BurnupView(
        meta=view_meta(session, program, at, stale_after_minutes),
        dimension=dimension,
        key=key,
        target_date=program.target_date,
        baseline_date=program.baseline_date,
        points=points,
    )
