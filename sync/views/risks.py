"""Risks of a program (PRODUCT §6.2 risks): severity, reason code, items, one line, since when.

Item-level risks are listed per item where a TPM acts per item (a blocked item, an off-track
dependency, a cycle, a late epic); the many-item kinds (past due, stale, unassigned, unestimated)
are one risk per team listing its items. ``id`` is stable for the same code and subject, so two
reports can tell new risks from resolved ones.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from connectors.records import ItemKind, Resolution, StatusCategory
from sync.model import Program, ProgramItemRemoval, Team
from sync.views import examples
from sync.views.common import (
    CONTAINER_KINDS,
    DEFAULT_STALE_AFTER_MINUTES,
    ViewMeta,
    as_datetime,
    entered_at_expr,
    gc_paused,
    get_program,
    item_alias,
    membership_alias,
    trusted,
    view_meta,
)
from sync.views.dependencies import EdgeState, load_graph
from sync.views.forecast import ForecastView, cached_forecast, fingerprint_columns, fold_fingerprint
from sync.views.progress import ProgressCounts

__all__ = ["Risk", "RiskCode", "RiskView", "risks"]

STALE_ITEM_DAYS = 14
MAX_ITEMS = 50
Severity = Literal["high", "medium", "low"]
_RANK = {"high": 0, "medium": 1, "low": 2}


class RiskCode(StrEnum):
    BLOCKED_CROSS_TEAM = "blocked_cross_team"
    OFF_TRACK_DEPENDENCY = "off_track_dependency"
    PAST_DUE = "past_due"
    FORECAST_MISSES_DUE = "forecast_misses_due"
    FORECAST_MISSES_TARGET = "forecast_misses_target"
    STALE_ITEM = "stale_item"
    UNASSIGNED_IN_PROGRESS = "unassigned_in_progress"
    UNESTIMATED = "unestimated"
    SCOPE_CREEP = "scope_creep"
    DEPENDENCY_CYCLE = "dependency_cycle"
    STALE_DATA = "stale_data"


class Risk(BaseModel):
    id: str = Field(description="Stable for the same code and subject (compare reports with it).")
    code: RiskCode
    severity: Severity
    explanation: str
    items: list[str] = Field(description=f"Keys involved (at most {MAX_ITEMS}).")
    item_count: int
    team: str | None = None
    since: datetime | None = Field(description="When the risk started, as far as the data tells.")


class RiskView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [examples.RISKS]})

    meta: ViewMeta
    risks: list[Risk]
    counts: dict[str, int] = Field(description="Risks per severity.")


def _risk(
    code: RiskCode,
    subject: str,
    severity: Severity,
    explanation: str,
    items: list[str],
    since: datetime | date | None,
    team: str | None = None,
    item_count: int | None = None,
) -> Risk:
    digest = hashlib.sha256(f"{code.value}:{subject}".encode()).hexdigest()[:12]
    if isinstance(since, date) and not isinstance(since, datetime):
        since = datetime(since.year, since.month, since.day, tzinfo=UTC)
    return trusted(
        Risk,
        {
            "id": f"{code.value}:{digest}",
            "code": code,
            "severity": severity,
            "explanation": explanation,
            "items": sorted(items)[:MAX_ITEMS],
            "item_count": len(items) if item_count is None else item_count,
            "team": team,
            "since": since,
        },
    )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _dependency_risks(session: Session, program: Program, fc: ForecastView | None) -> list[Risk]:
    out: list[Risk] = []
    # Satisfied links raise no risk and take no part in cycles: only the others are loaded.
    links = load_graph(session, program, unsatisfied_only=True, with_epics=False)
    cycles: dict[str, list[Any]] = defaultdict(list)
    blocked: dict[str, list[Any]] = defaultdict(list)
    for link in links:
        if link.state is EdgeState.SATISFIED:
            continue
        if link.state is EdgeState.CYCLE:
            cycles[link.reason.split(": ", 1)[1]].append(link)
        elif link.state is EdgeState.OFF_TRACK and link.blocked.in_program:
            out.append(
                _risk(
                    RiskCode.OFF_TRACK_DEPENDENCY,
                    f"{link.blocker.key}->{link.blocked.key}",
                    "high",
                    f"{link.blocker.key} blocks {link.blocked.key} and is off track: {link.reason}",
                    [link.blocker.key, link.blocked.key],
                    link.created_at,
                    link.blocked.team,
                )
            )
        if link.cross_team and link.blocked.in_program and not link.blocked.done:
            blocked[link.blocked.key].append(link)
    for key, group in sorted(blocked.items()):
        dependent = group[0].blocked
        blockers = sorted(link.blocker.key for link in group)
        teams = sorted({link.blocker.team for link in group if link.blocker.team})
        severity: Severity = "high" if dependent.status is StatusCategory.IN_PROGRESS else "medium"
        out.append(
            _risk(
                RiskCode.BLOCKED_CROSS_TEAM,
                key,
                severity,
                f"{key} ({dependent.team}) is blocked by open {', '.join(blockers)} of {', '.join(teams)}",
                [key, *blockers],
                min((link.created_at for link in group if link.created_at), default=None),
                dependent.team,
            )
        )
    seen: set[frozenset[str]] = set()
    for reason, group in sorted(cycles.items()):
        members = frozenset(k for link in group for k in (link.blocker.key, link.blocked.key))
        path = reason.split(" → ")
        loop = frozenset(path)
        if loop in seen:
            continue
        seen.add(loop)
        out.append(
            _risk(
                RiskCode.DEPENDENCY_CYCLE,
                ",".join(sorted(loop)),
                "high",
                f"dependency cycle {reason}: none of them can finish first",
                sorted(loop or members),
                min((link.created_at for link in group if link.created_at), default=None),
            )
        )
    return out


@dataclass(slots=True)
class _MemberFacts:
    """What the item-level risks need from one pass over the program's members."""

    candidates: list[Any]  # unfinished members that are late, stale, unassigned or unestimated
    remaining: dict[int | None, tuple[int, int, datetime | None]]  # team -> (left, unestimated, oldest)
    counts: ProgressCounts  # program totals for scope creep (total, added, removed)
    fingerprint: tuple[Any, ...]  # see sync.views.forecast.program_fingerprint


def _member_facts(session: Session, program: Program, at: datetime, stale_days: int) -> _MemberFacts:
    today = at.date()
    stale_before = at - timedelta(days=stale_days)
    w, pi = item_alias("w"), membership_alias("pi")
    countable = w.kind.not_in(CONTAINER_KINDS)
    live = or_(w.resolution.is_(None), w.resolution != Resolution.WONT_DO)
    doing = w.status_category == StatusCategory.IN_PROGRESS

    baseline = as_datetime(program.baseline_date) if program.baseline_date else None
    if baseline is not None:
        entered = entered_at_expr(session, program, w, pi)
        added: Any = func.sum(case((entered >= baseline, 1), else_=0))
        removed: Any = func.sum(case((or_(w.resolved_at.is_(None), w.resolved_at >= baseline), 1), else_=0))
    else:
        added = removed = func.sum(0)
    members = (
        select()
        .select_from(pi)
        .join(w, w.id == pi.work_item_id)
        .where(pi.program_id == program.id, w.deleted_at.is_(None))
    )
    # Grouped by the facts themselves rather than summing a CASE per figure: a few hundred groups
    # at most, and each row's conditions are evaluated once.
    is_countable = countable.label("countable")
    is_wont = func.coalesce(w.resolution == Resolution.WONT_DO, False).label("wont")
    no_estimate = w.estimate.is_(None).label("no_estimate")
    per_team = members.with_only_columns(
        w.team_id,
        is_countable,
        w.status_category,
        is_wont,
        no_estimate,
        func.count(),
        func.min(w.remote_created_at),
        added,
        removed,
        *fingerprint_columns(w, pi),
    ).group_by(w.team_id, is_countable, w.status_category, is_wont, no_estimate)
    remaining: dict[int | None, tuple[int, int, datetime | None]] = {}
    total = n_added = n_removed = 0
    parts: list[tuple[Any, ...]] = []
    for (
        team_id,
        counted,
        status,
        wont_do,
        unestimated,
        n,
        created,
        n_add,
        n_rem,
        *fp,
    ) in session.connection().execute(per_team).all():
        parts.append(tuple(fp))
        if not counted:
            continue
        n_added += int(n_add or 0)
        if wont_do:
            n_removed += int(n_rem or 0)
            continue
        total += n
        if status is not StatusCategory.DONE:
            left_n, unest_n, oldest = remaining.get(team_id, (0, 0, None))
            remaining[team_id] = (
                left_n + n,
                unest_n + (n if unestimated else 0),
                created if oldest is None or (created is not None and created < oldest) else oldest,
            )
    if baseline is not None:
        n_removed += (
            session.scalar(
                select(func.count()).where(
                    ProgramItemRemoval.program_id == program.id, ProgramItemRemoval.removed_at >= baseline
                )
            )
            or 0
        )
    candidates = list(
        session.connection()
        .execute(
            members.with_only_columns(
                w.key,
                w.kind,
                w.status_category,
                w.due_date,
                w.remote_updated_at,
                w.assignee_id,
                w.team_id,
                w.estimate.is_(None),
            ).where(
                w.status_category != StatusCategory.DONE,
                live,
                or_(
                    w.due_date < today,
                    and_(doing, or_(w.remote_updated_at < stale_before, w.assignee_id.is_(None))),
                    and_(countable, w.estimate.is_(None)),
                ),
            )
        )
        .all()
    )
    return _MemberFacts(
        candidates=candidates,
        remaining=remaining,
        counts=ProgressCounts(total=total, scope_added=n_added, scope_removed=n_removed),
        fingerprint=fold_fingerprint(parts),
    )


def _item_risks(facts: _MemberFacts, at: datetime, stale_days: int, teams: dict[int, str]) -> list[Risk]:
    today = at.date()
    stale_before = at - timedelta(days=stale_days)
    past: dict[int | None, list[tuple[str, date]]] = defaultdict(list)
    stale: dict[int | None, list[tuple[str, datetime]]] = defaultdict(list)
    unassigned: dict[int | None, list[tuple[str, datetime]]] = defaultdict(list)
    out: list[Risk] = []
    for key, kind, status, due, updated, assignee, team_id, _ in facts.candidates:
        if due is not None and due < today:
            if kind is ItemKind.EPIC:
                late = (today - due).days
                out.append(
                    _risk(
                        RiskCode.PAST_DUE,
                        key,
                        "high",
                        f"epic {key} was due {due} ({late} days ago) and is not done",
                        [key],
                        due,
                        teams.get(team_id) if team_id else None,
                    )
                )
            else:
                past[team_id].append((key, due))
        if status is StatusCategory.IN_PROGRESS and updated < stale_before:
            stale[team_id].append((key, updated))
        if status is StatusCategory.IN_PROGRESS and assignee is None:
            unassigned[team_id].append((key, updated))
    for team_id, rows in past.items():
        team = teams.get(team_id) if team_id else None
        oldest = min(d for _, d in rows)
        late = (today - oldest).days
        out.append(
            _risk(
                RiskCode.PAST_DUE,
                f"team:{team}",
                "high" if late > 14 or len(rows) >= 5 else "medium",
                f"{_plural(len(rows), 'item')} of {team or 'no team'} past due, the oldest by {late} days",
                [k for k, _ in rows],
                oldest,
                team,
            )
        )
    for team_id, srows in stale.items():
        team = teams.get(team_id) if team_id else None
        oldest_at = min(u for _, u in srows)
        out.append(
            _risk(
                RiskCode.STALE_ITEM,
                f"team:{team}",
                "medium",
                f"{_plural(len(srows), 'item')} of {team or 'no team'} in progress with no update for "
                f"{stale_days}+ days (the oldest since {oldest_at.date()})",
                [k for k, _ in srows],
                oldest_at,
                team,
            )
        )
    for team_id, urows in unassigned.items():
        team = teams.get(team_id) if team_id else None
        out.append(
            _risk(
                RiskCode.UNASSIGNED_IN_PROGRESS,
                f"team:{team}",
                "medium",
                f"{_plural(len(urows), 'item')} of {team or 'no team'} in progress with nobody assigned",
                [k for k, _ in urows],
                min(u for _, u in urows),
                team,
            )
        )
    return out


def _unestimated(facts: _MemberFacts, teams: dict[int, str]) -> list[Risk]:
    keys: dict[int | None, list[str]] = defaultdict(list)
    for key, kind, _, _, _, _, team_id, unestimated in facts.candidates:
        if unestimated and kind not in CONTAINER_KINDS:
            keys[team_id].append(key)
    out = []
    for team_id, (remaining, unestimated, oldest) in facts.remaining.items():
        if not unestimated:
            continue
        team = teams.get(team_id) if team_id else None
        share = unestimated / remaining
        out.append(
            _risk(
                RiskCode.UNESTIMATED,
                f"team:{team}",
                "medium" if share > 0.2 else "low",
                f"{_plural(unestimated, 'unfinished item')} of {team or 'no team'} without an estimate "
                f"({round(100 * share)}% of its remaining work)",
                keys[team_id],
                oldest,
                team,
                item_count=unestimated,
            )
        )
    return out


def _scope_creep(program: Program, counts: ProgressCounts) -> list[Risk]:
    if program.baseline_date is None or counts.scope_added == 0:
        return []
    baseline_scope = counts.total - counts.scope_added + counts.scope_removed
    share = counts.scope_added / max(1, baseline_scope)
    if share <= 0.10:
        return []
    return [
        _risk(
            RiskCode.SCOPE_CREEP,
            "program",
            "high" if share > 0.25 else "medium",
            f"scope grew by {counts.scope_added} items ({round(100 * share)}%) since the baseline "
            f"{program.baseline_date} ({counts.scope_removed} removed)",
            [],
            program.baseline_date,
        )
    ]


def _forecast_risks(program: Program, fc: ForecastView) -> list[Risk]:
    out = []
    p = fc.program
    if p.due_date is not None and p.p85 is not None and p.p85 > p.due_date:
        severity: Severity = "high" if p.p50 is not None and p.p50 > p.due_date else "medium"
        out.append(
            _risk(
                RiskCode.FORECAST_MISSES_TARGET,
                "program",
                severity,
                f"forecast P50 {p.p50} / P85 {p.p85} is after the target date {p.due_date}",
                [],
                fc.meta.as_of,
            )
        )
    for epic in fc.epics:
        if epic.key is None or epic.due_date is None or epic.p85 is None or epic.p85 <= epic.due_date:
            continue
        severity = "high" if epic.p50 is not None and epic.p50 > epic.due_date else "medium"
        out.append(
            _risk(
                RiskCode.FORECAST_MISSES_DUE,
                epic.key,
                severity,
                f"epic {epic.key} is forecast for {epic.p50} (P50) / {epic.p85} (P85), due {epic.due_date}",
                [epic.key],
                fc.meta.as_of,
            )
        )
    return out


@gc_paused()
def risks(
    session: Session,
    slug: str,
    as_of: datetime | None = None,
    *,
    stale_item_days: int = STALE_ITEM_DAYS,
    stale_after_minutes: int = DEFAULT_STALE_AFTER_MINUTES,
    forecast_view: ForecastView | None = None,
    forecast_trials: int = 200,
) -> RiskView:
    at = as_of or datetime.now(UTC)
    program = get_program(session, slug)
    meta = view_meta(session, program, at, stale_after_minutes)
    teams = dict(session.execute(select(Team.id, Team.slug)).all())
    facts = _member_facts(session, program, at, stale_item_days)
    fc = forecast_view or cached_forecast(
        session, slug, at, trials=forecast_trials, fingerprint=facts.fingerprint, read_only=True
    )
    found = [
        *_dependency_risks(session, program, fc),
        *_item_risks(facts, at, stale_item_days, teams),
        *_unestimated(facts, teams),
        *_scope_creep(program, facts.counts),
        *_forecast_risks(program, fc),
    ]
    for source in meta.sources:
        if source.stale:
            when = source.last_synced_at
            found.append(
                _risk(
                    RiskCode.STALE_DATA,
                    source.name,
                    "high",
                    f"source {source.name} has not synced successfully "
                    + (f"since {when:%Y-%m-%d %H:%M} UTC" if when else "yet")
                    + f" (threshold {stale_after_minutes} min): its items may be out of date",
                    [],
                    when,
                )
            )
    found.sort(key=lambda r: (_RANK[r.severity], r.code.value, r.id))
    counts = {s: sum(1 for r in found if r.severity == s) for s in ("high", "medium", "low")}
    return RiskView(meta=meta, risks=found, counts=counts)
