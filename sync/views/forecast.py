"""Monte Carlo completion forecast (PRODUCT §6.2 forecast).

Each team's weekly throughput is the number of its items that moved to done in each of the last
:data:`HISTORY_WEEKS` whole weeks (status history, any program). A trial draws a week's
throughput from that history, week after week, until the team's remaining program items are
done. A team works its backlog epic by epic (earliest epic due date first, then key; items with
no epic last), so an epic is done in a trial when every team with work in it has reached the end
of that epic in its order. The program is done when its last team is. P50/P85/P95 are taken over
the trials and compared with the epic due dates and the program's target date.

The random generator is seeded from the program slug and the as-of date: the same data on the
same day gives the same forecast.
"""

from __future__ import annotations

import hashlib
import math
import random
import threading
from collections import OrderedDict, defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from connectors.records import ItemKind, Resolution, StatusCategory
from sync.model import ProgramItem, StatusChange, Team, WorkItem
from sync.views import examples
from sync.views.common import (
    CONTAINER_KINDS,
    DEFAULT_STALE_AFTER_MINUTES,
    ViewMeta,
    gc_paused,
    get_program,
    item_alias,
    membership_alias,
    view_meta,
)

__all__ = [
    "ForecastEntry",
    "ForecastView",
    "cached_forecast",
    "clear_forecast_cache",
    "fingerprint_columns",
    "fold_fingerprint",
    "forecast",
    "program_fingerprint",
    "weekly_throughput",
]

HISTORY_WEEKS = 12
MAX_WEEKS = 520
DEFAULT_TRIALS = 1000

Status = Literal["done", "on_track", "at_risk", "off_track", "no_due_date", "no_history"]


class ForecastEntry(BaseModel):
    key: str | None = Field(
        description="Epic key, team slug, or null for the program / 'no team' / 'no epic'."
    )
    name: str | None = None
    remaining: int = Field(description="Unfinished countable items (won't-do excluded).")
    remaining_points: float = 0.0
    p50: date | None = None
    p85: date | None = None
    p95: date | None = None
    due_date: date | None = Field(None, description="Epic due date, or the program's target date.")
    probability_on_time: float | None = Field(None, description="Share of trials done by the due date.")
    status: Status
    weekly_throughput: list[int] | None = Field(None, description="Teams: items done per week, oldest first.")
    note: str | None = None


class ForecastView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [examples.FORECAST]})

    meta: ViewMeta
    trials: int
    seed: int
    history_weeks: int
    target_date: date | None
    program: ForecastEntry
    teams: list[ForecastEntry]
    epics: list[ForecastEntry]


def weekly_throughput(
    session: Session, as_of: datetime, team_ids: list[int | None], weeks: int = HISTORY_WEEKS
) -> dict[int | None, list[int]]:
    """Items moved to done per team in each of the ``weeks`` whole weeks before ``as_of``.

    A done transition is a StatusChange to done; an item that is done but has no such change
    (GitHub history is only fetched for some issues) counts at its ``resolved_at``.
    """
    end = as_of
    starts = [end - timedelta(days=7 * (weeks - i)) for i in range(weeks)]
    live = or_(WorkItem.resolution.is_(None), WorkItem.resolution != Resolution.WONT_DO)
    wanted = [t for t in team_ids if t is not None]
    team_filter = (
        or_(WorkItem.team_id.in_(wanted), WorkItem.team_id.is_(None))
        if None in team_ids
        else WorkItem.team_id.in_(wanted)
    )
    base = and_(WorkItem.kind.not_in(CONTAINER_KINDS), live, team_filter)
    changes = (
        select(WorkItem.team_id.label("team_id"), WorkItem.id.label("item_id"), StatusChange.at.label("at"))
        .select_from(StatusChange)
        .join(WorkItem, WorkItem.id == StatusChange.work_item_id)
        .where(
            StatusChange.to_category == StatusCategory.DONE,
            StatusChange.at >= starts[0],
            StatusChange.at < end,
            base,
        )
    )
    has_done_change = (
        select(StatusChange.id)
        .where(StatusChange.work_item_id == WorkItem.id, StatusChange.to_category == StatusCategory.DONE)
        .exists()
    )
    resolved = select(WorkItem.team_id, WorkItem.id, WorkItem.resolved_at).where(
        WorkItem.status_category == StatusCategory.DONE,
        WorkItem.resolved_at >= starts[0],
        WorkItem.resolved_at < end,
        WorkItem.deleted_at.is_(None),
        base,
        ~has_done_change,
    )
    done = changes.union_all(resolved).subquery()
    cols: list[Any] = [done.c.team_id]
    for i, start in enumerate(starts):
        stop = starts[i + 1] if i + 1 < weeks else end
        cols.append(
            func.count(func.distinct(case((and_(done.c.at >= start, done.c.at < stop), done.c.item_id))))
        )
    out: dict[int | None, list[int]] = {t: [0] * weeks for t in team_ids}
    for row in session.execute(select(*cols).group_by(done.c.team_id)):
        out[row[0]] = [int(v) for v in row[1:]]
    return out


_CACHE: OrderedDict[tuple[Any, ...], ForecastView] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 64


def fingerprint_columns(item: Any, membership: Any) -> list[Any]:
    """Aggregates over a program's live members that change whenever a forecast input may have:
    how many, the last write to any of them, which ones (sum of ids) and their epics.

    Callers that already pass over the members (risks) add these to their own query and
    :func:`fold_fingerprint` the rows; the result equals :func:`program_fingerprint`.
    """
    return [
        func.count(),
        func.max(item.synced_at),
        func.sum(membership.work_item_id),
        func.sum(func.coalesce(membership.epic_id, 0)),
    ]


def fold_fingerprint(parts: list[tuple[Any, ...]]) -> tuple[Any, ...]:
    """Combine :func:`fingerprint_columns` rows of groups into the program's fingerprint."""
    count = sum(int(p[0] or 0) for p in parts)
    last = max((p[1] for p in parts if p[1] is not None), default=None)
    return (count, last, sum(int(p[2] or 0) for p in parts), sum(int(p[3] or 0) for p in parts))


def program_fingerprint(session: Session, program_id: int) -> tuple[Any, ...]:
    w, pi = item_alias("w"), membership_alias("pi")
    row = session.execute(
        select(*fingerprint_columns(w, pi))
        .select_from(pi)
        .join(w, w.id == pi.work_item_id)
        .where(pi.program_id == program_id, w.deleted_at.is_(None))
    ).one()
    return fold_fingerprint([tuple(row)])


def clear_forecast_cache() -> None:
    """Forget every cached forecast (benchmarks measure the first request after a change)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def cached_forecast(
    session: Session,
    slug: str,
    as_of: datetime | None = None,
    trials: int = DEFAULT_TRIALS,
    stale_after_minutes: int = DEFAULT_STALE_AFTER_MINUTES,
    fingerprint: tuple[Any, ...] | None = None,
    *,
    read_only: bool = False,
) -> ForecastView:
    """:func:`forecast`, reused while the program's items and history are unchanged on the same day.

    The result depends only on the seed (slug + day), the program's items and the status history,
    so a fingerprint of those (:func:`program_fingerprint`: live members, last item write, which
    items and epics; the last status change) is a safe key. Risks and reports call this: a Monte
    Carlo run per request would dominate their cost. ``fingerprint``: the program's, when the
    caller has it already. ``read_only``: the caller will not change the view, so a cached one is
    returned without a deep copy (a thousand epics take milliseconds to copy).
    """
    at = as_of or datetime.now(UTC)
    program = get_program(session, slug)
    members = fingerprint if fingerprint is not None else program_fingerprint(session, program.id)
    last_change = session.scalar(select(func.max(StatusChange.id)))
    key = (
        session.get_bind().engine.url.render_as_string(hide_password=True),
        program.id,
        program.updated_at,
        at.date(),
        trials,
        members,
        last_change,
    )
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
    if hit is not None:
        view = hit.model_copy(deep=not read_only)  # a shallow copy still gets its own meta
        view.meta = view_meta(session, program, at, stale_after_minutes)
        return view
    view = forecast(session, slug, at, trials, stale_after_minutes)
    with _CACHE_LOCK:
        _CACHE[key] = view.model_copy(deep=True)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return view


def _seed(slug: str, day: date) -> int:
    return int.from_bytes(hashlib.sha256(f"{slug}:{day.isoformat()}".encode()).digest()[:8], "big")


def _percentile(sorted_values: list[float], p: float) -> float:
    return sorted_values[max(0, math.ceil(p * len(sorted_values)) - 1)]


def _status(remaining: int, p50: date | None, p85: date | None, due: date | None, history: bool) -> Status:
    if remaining == 0:
        return "done"
    if not history:
        return "no_history"
    if due is None or p50 is None or p85 is None:
        return "no_due_date"
    if p85 <= due:
        return "on_track"
    return "at_risk" if p50 <= due else "off_track"


@gc_paused()
def forecast(
    session: Session,
    slug: str,
    as_of: datetime | None = None,
    trials: int = DEFAULT_TRIALS,
    stale_after_minutes: int = DEFAULT_STALE_AFTER_MINUTES,
) -> ForecastView:
    at = as_of or datetime.now(UTC)
    today = at.date()
    program = get_program(session, slug)
    w, pi = item_alias("w"), membership_alias("pi")
    epic_id = pi.epic_id
    live = or_(w.resolution.is_(None), w.resolution != Resolution.WONT_DO)
    stmt = (
        select(w.team_id, epic_id, func.count(), func.coalesce(func.sum(w.estimate), 0.0))
        .select_from(pi)
        .join(w, w.id == pi.work_item_id)
        .where(
            pi.program_id == program.id,
            w.kind.not_in(CONTAINER_KINDS),
            w.deleted_at.is_(None),
            w.status_category != StatusCategory.DONE,
            live,
        )
        .group_by(w.team_id, epic_id)
    )
    remaining: dict[tuple[int | None, int | None], tuple[int, float]] = {
        (team, epic): (int(n), float(points or 0.0)) for team, epic, n, points in session.execute(stmt)
    }
    epic_rows = session.execute(
        select(WorkItem.id, WorkItem.key, WorkItem.title, WorkItem.due_date)
        .join(ProgramItem, ProgramItem.work_item_id == WorkItem.id)
        .where(ProgramItem.program_id == program.id, WorkItem.kind == ItemKind.EPIC)
    ).all()
    epics: dict[int, tuple[str, str, date | None]] = {r.id: (r.key, r.title, r.due_date) for r in epic_rows}
    missing = {e for _, e in remaining if e is not None and e not in epics}
    if missing:
        for r in session.execute(
            select(WorkItem.id, WorkItem.key, WorkItem.title, WorkItem.due_date).where(
                WorkItem.id.in_(missing)
            )
        ):
            epics[r.id] = (r.key, r.title, r.due_date)
    team_ids = sorted({t for t, _ in remaining}, key=lambda t: (t is None, t or 0))
    teams = {t.id: t for t in session.scalars(select(Team))}
    history = weekly_throughput(session, at, team_ids)

    # Each team's backlog order: epics by due date (none last), then key; no epic at the end.
    def order(epic: int | None) -> tuple[Any, ...]:
        if epic is None:
            return (2, date.max, "")
        key, _, due = epics[epic]
        return (0 if due else 1, due or date.max, key)

    plans: dict[int | None, tuple[list[int | None], list[int]]] = {}
    for team in team_ids:
        mine = sorted((e for t, e in remaining if t == team), key=order)
        cumulative, total = [], 0
        for epic in mine:
            total += remaining[(team, epic)][0]
            cumulative.append(total)
        plans[team] = (mine, cumulative)

    seed = _seed(program.slug, today)
    rng = random.Random(seed)
    team_weeks: dict[int | None, list[float]] = defaultdict(list)
    epic_weeks: dict[int | None, list[float]] = defaultdict(list)
    program_weeks: list[float] = []
    forecastable = {t for t in team_ids if sum(history[t]) > 0}
    for _ in range(trials if forecastable else 0):
        finish_by_epic: dict[int | None, float] = {}
        last = 0.0
        for team in team_ids:
            if team not in forecastable:
                continue
            mine, cumulative = plans[team]
            samples = history[team]
            goal = cumulative[-1]
            done_at: list[float] = []  # weeks (fractional) at which each cumulative goal is reached
            cum, week, idx = 0, 0, 0
            while idx < len(cumulative) and week < MAX_WEEKS:
                got = samples[rng.randrange(len(samples))]
                week += 1
                while idx < len(cumulative) and cum + got >= cumulative[idx]:
                    done_at.append(week - 1 + (cumulative[idx] - cum) / got)
                    idx += 1
                cum += got
            done_at.extend([float(MAX_WEEKS)] * (len(cumulative) - len(done_at)))
            for epic, when in zip(mine, done_at, strict=True):
                finish_by_epic[epic] = max(finish_by_epic.get(epic, 0.0), when)
            team_weeks[team].append(done_at[-1] if goal else 0.0)
            last = max(last, done_at[-1])
        for epic, when in finish_by_epic.items():
            epic_weeks[epic].append(when)
        program_weeks.append(last)

    def entry(
        key: str | None,
        name: str | None,
        left: int,
        points: float,
        weeks: list[float],
        due: date | None,
        has_history: bool,
        throughput: list[int] | None = None,
        note: str | None = None,
    ) -> ForecastEntry:
        p: dict[str, date | None] = {"p50": None, "p85": None, "p95": None}
        probability = None
        if left == 0:
            p = dict.fromkeys(p, today)
            probability = 1.0 if due is None or today <= due else 0.0
        elif weeks and has_history:
            ordered = sorted(weeks)
            for name_, q in (("p50", 0.5), ("p85", 0.85), ("p95", 0.95)):
                p[name_] = today + timedelta(days=math.ceil(_percentile(ordered, q) * 7))
            if due is not None:
                probability = round(
                    sum(1 for x in ordered if today + timedelta(days=math.ceil(x * 7)) <= due) / len(ordered),
                    3,
                )
        return ForecastEntry(
            key=key,
            name=name,
            remaining=left,
            remaining_points=points,
            due_date=due,
            probability_on_time=probability,
            status=_status(left, p["p50"], p["p85"], due, has_history),
            weekly_throughput=throughput,
            note=note,
            **p,
        )

    no_history_note = f"no items done in the last {HISTORY_WEEKS} weeks: cannot forecast"
    team_entries = []
    for team in team_ids:
        left = sum(n for (t, _), (n, _) in remaining.items() if t == team)
        pts = sum(p for (t, _), (_, p) in remaining.items() if t == team)
        has = team in forecastable
        row = teams.get(team) if team is not None else None
        team_entries.append(
            entry(
                row.slug if row else None,
                row.name if row else "(no team)",
                left,
                pts,
                team_weeks[team],
                None,
                has,
                history[team],
                None if has else no_history_note,
            )
        )
    epic_entries = []
    epic_keys = sorted({e for _, e in remaining} | set(epics), key=order)
    for epic in epic_keys:
        left = sum(n for (_, e), (n, _) in remaining.items() if e == epic)
        pts = sum(p for (_, e), (_, p) in remaining.items() if e == epic)
        blocked_by = sorted(
            (teams[t].slug if t in teams else "(no team)")
            for (t, e) in remaining
            if e == epic and t not in forecastable
        )
        key, title, due = epics[epic] if epic is not None else (None, "(no epic)", None)
        epic_entries.append(
            entry(
                key,
                title,
                left,
                pts,
                epic_weeks[epic],
                due,
                not blocked_by,
                None,
                f"no throughput history for {', '.join(blocked_by)}" if blocked_by else None,
            )
        )
    total_left = sum(n for n, _ in remaining.values())
    unforecastable = [t for t in team_ids if t not in forecastable]
    program_entry = entry(
        None,
        program.name,
        total_left,
        sum(p for _, p in remaining.values()),
        program_weeks,
        program.target_date,
        not unforecastable,
        None,
        f"no throughput history for {', '.join(teams[t].slug if t in teams else '(no team)' for t in unforecastable)}"
        if unforecastable
        else None,
    )
    return ForecastView(
        meta=view_meta(session, program, at, stale_after_minutes),
        trials=trials,
        seed=seed,
        history_weeks=HISTORY_WEEKS,
        target_date=program.target_date,
        program=program_entry,
        teams=team_entries,
        epics=epic_entries,
    )
