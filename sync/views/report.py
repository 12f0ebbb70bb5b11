"""The program status report (PRODUCT §6.2 report): headline RAG with its reasons, key numbers,
per-epic table, done since the last report, newly blocked, new and resolved risks, upcoming
releases and dependency hot spots; as JSON, Markdown or HTML; stored as history.

RAG (docs/adr/0009-program-views.md):
- red: the program's P50 forecast is after the target date, or a dependency cycle exists, or
  five or more high-severity risks are open;
- amber: P85 after the target, or any high-severity risk, or three or more medium ones, or
  the program cannot be forecast;
- green otherwise.
An epic is red when its forecast is off track or it is past due, amber when at risk or it
cannot be forecast, green otherwise.
"""

from __future__ import annotations

import html
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from connectors.records import Resolution, StatusCategory
from sync.model import (
    Program,
    ProgramItem,
    ProgramReport,
    Release,
    StatusChange,
    Team,
    WorkItem,
    WorkItemRelease,
)
from sync.views import examples
from sync.views.common import (
    CONTAINER_KINDS,
    DEFAULT_STALE_AFTER_MINUTES,
    SourceFreshness,
    gc_paused,
    get_program,
)
from sync.views.dependencies import EdgeState, load_graph
from sync.views.forecast import cached_forecast
from sync.views.progress import progress
from sync.views.risks import Risk, risks

__all__ = [
    "ReportContent",
    "ReportSummary",
    "generate_report",
    "list_reports",
    "load_report",
    "render",
    "render_report",
    "write_report_file",
]

Format = Literal["json", "md", "html"]
RAG = Literal["green", "amber", "red"]
UPCOMING_DAYS = 30
MAX_ROWS = 100
REPORT_TRIALS = 500


class EpicRow(BaseModel):
    key: str | None
    title: str | None
    url: str | None
    done: int
    total: int
    percent_done: float
    p50: date | None
    p85: date | None
    due_date: date | None
    forecast_status: str
    rag: RAG


class DoneItem(BaseModel):
    key: str
    title: str
    team: str | None
    at: datetime | None


class BlockedItem(BaseModel):
    key: str
    title: str | None
    team: str | None
    blockers: list[str]
    since: datetime | None


class ResolvedRisk(BaseModel):
    id: str
    code: str
    explanation: str


class ReleaseRow(BaseModel):
    name: str
    due_date: date | None
    released: bool
    items: int
    done: int


class HotSpot(BaseModel):
    key: str
    title: str | None
    team: str | None
    blocks: int = Field(description="Unfinished items waiting on it.")
    state: str


class TeamPair(BaseModel):
    blocker_team: str
    blocked_team: str
    open: int


class ReportContent(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [examples.REPORT]})

    id: int | None = Field(None, description="Stored report id (null for a preview).")
    program: str
    name: str
    as_of: datetime
    period_start: date
    period_end: date
    since: datetime = Field(
        description="'Since the last report': the previous report's time, or the period start."
    )
    previous_report_id: int | None
    rag: RAG
    reasons: list[str]
    headline: str
    numbers: dict[str, Any]
    epics: list[EpicRow]
    done_since: list[DoneItem]
    newly_blocked: list[BlockedItem]
    new_risks: list[Risk]
    resolved_risks: list[ResolvedRisk]
    open_risks: list[Risk]
    upcoming_releases: list[ReleaseRow]
    hot_spots: list[HotSpot]
    team_hot_spots: list[TeamPair]
    sources: list[SourceFreshness]
    blocked_keys: list[str] = Field(description="Every blocked item now (the next report diffs against it).")


class ReportSummary(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [examples.REPORT_SUMMARY]})

    id: int
    created_at: datetime
    period_start: date
    period_end: date
    rag: RAG
    headline: str


def _previous(session: Session, program: Program) -> ProgramReport | None:
    return session.scalars(
        select(ProgramReport)
        .where(ProgramReport.program_id == program.id)
        .order_by(ProgramReport.created_at.desc(), ProgramReport.id.desc())
        .limit(1)
    ).first()


def _done_since(session: Session, program: Program, since: datetime, teams: dict[int, str]) -> list[DoneItem]:
    # The last move to done per item, looked up per done member through (work_item_id, at):
    # grouping the whole status history first reads every change of the database.
    last_done = (
        select(func.max(StatusChange.at))
        .where(StatusChange.work_item_id == WorkItem.id, StatusChange.to_category == StatusCategory.DONE)
        .correlate(WorkItem)
        .scalar_subquery()
    )
    when = func.coalesce(last_done, WorkItem.resolved_at)
    rows = session.execute(
        select(WorkItem.key, WorkItem.title, WorkItem.team_id, when)
        .join(ProgramItem, ProgramItem.work_item_id == WorkItem.id)
        .where(
            ProgramItem.program_id == program.id,
            WorkItem.deleted_at.is_(None),
            WorkItem.kind.not_in(CONTAINER_KINDS),
            WorkItem.status_category == StatusCategory.DONE,
            or_(WorkItem.resolution.is_(None), WorkItem.resolution != Resolution.WONT_DO),
            when >= since,
        )
        .order_by(when.desc(), WorkItem.key)
        .limit(MAX_ROWS)
    ).all()
    return [DoneItem(key=k, title=t, team=teams.get(tid) if tid else None, at=at) for k, t, tid, at in rows]


def _releases(session: Session, program: Program, today: date) -> list[ReleaseRow]:
    done = func.sum(case((WorkItem.status_category == StatusCategory.DONE, 1), else_=0))
    rows = session.execute(
        select(Release.name, Release.due_date, Release.released, func.count(), done)
        .join(WorkItemRelease, WorkItemRelease.release_id == Release.id)
        .join(WorkItem, WorkItem.id == WorkItemRelease.work_item_id)
        .join(
            ProgramItem, and_(ProgramItem.work_item_id == WorkItem.id, ProgramItem.program_id == program.id)
        )
        .where(
            Release.released.is_(False),
            Release.due_date.is_not(None),
            Release.due_date <= today + timedelta(days=UPCOMING_DAYS),
            WorkItem.deleted_at.is_(None),
        )
        .group_by(Release.id, Release.name, Release.due_date, Release.released)
        .order_by(Release.due_date, Release.name)
    ).all()
    return [ReleaseRow(name=n, due_date=d, released=r, items=c, done=int(x or 0)) for n, d, r, c, x in rows]


def _rag(
    numbers: dict[str, Any], open_risks: list[Risk], fc_status: str, target: date | None
) -> tuple[RAG, list[str]]:
    red: list[str] = []
    amber: list[str] = []
    p50, p85 = numbers.get("forecast_p50"), numbers.get("forecast_p85")
    if target and p50 and p50 > target:
        red.append(f"forecast P50 {p50} is after the target {target}")
    elif target and p85 and p85 > target:
        amber.append(f"forecast P85 {p85} is after the target {target}")
    if fc_status == "no_history":
        amber.append("the program cannot be forecast yet (a team has no done items in 12 weeks)")
    by = Counter(r.severity for r in open_risks)
    cycles = sum(1 for r in open_risks if r.code.value == "dependency_cycle")
    if cycles:
        red.append(f"{cycles} dependency cycle{'s' if cycles > 1 else ''}")
    if by["high"] >= 5:
        red.append(f"{by['high']} high-severity risks")
    elif by["high"]:
        amber.append(f"{by['high']} high-severity risk{'s' if by['high'] > 1 else ''}")
    if by["medium"] >= 3:
        amber.append(f"{by['medium']} medium-severity risks")
    if red:
        return "red", red + amber
    if amber:
        return "amber", amber
    reasons = ["no high-severity risks"]
    if target and p85:
        reasons.insert(0, f"forecast P85 {p85} is on or before the target {target}")
    return "green", reasons


@gc_paused()
def generate_report(
    session: Session,
    slug: str,
    period_days: int = 7,
    as_of: datetime | None = None,
    *,
    store: bool = True,
    stale_after_minutes: int = DEFAULT_STALE_AFTER_MINUTES,
) -> ReportContent:
    at = as_of or datetime.now(UTC)
    today = at.date()
    program = get_program(session, slug)
    previous = _previous(session, program)
    period_start = today - timedelta(days=period_days)
    since = (
        previous.created_at
        if previous is not None
        else datetime.combine(period_start, datetime.min.time(), UTC)
    )
    teams = dict(session.execute(select(Team.id, Team.slug)).all())

    prog = progress(session, slug, at, stale_after_minutes)
    fc = cached_forecast(session, slug, at, trials=REPORT_TRIALS, stale_after_minutes=stale_after_minutes)
    found = risks(session, slug, at, stale_after_minutes=stale_after_minutes, forecast_view=fc)
    # Satisfied links appear nowhere in the report: only the others are loaded.
    links = load_graph(session, program, unsatisfied_only=True, with_epics=False)

    blocked: dict[str, BlockedItem] = {}
    waiting: Counter[str] = Counter()
    blockers_by_key: dict[str, Any] = {}
    for link in links:
        if link.state is EdgeState.SATISFIED or link.blocked.done:
            continue
        waiting[link.blocker.key] += 1
        blockers_by_key[link.blocker.key] = link
        if link.blocked.in_program:
            item = blocked.setdefault(
                link.blocked.key,
                BlockedItem(
                    key=link.blocked.key,
                    title=link.blocked.title,
                    team=link.blocked.team,
                    blockers=[],
                    since=link.created_at,
                ),
            )
            item.blockers = sorted({*item.blockers, link.blocker.key})
            if link.created_at and (item.since is None or link.created_at < item.since):
                item.since = link.created_at
    before = set(previous.content.get("blocked_keys", [])) if previous is not None else None
    newly_blocked = [
        b
        for key, b in sorted(blocked.items())
        if (before is not None and key not in before)
        or (before is None and b.since is not None and b.since >= since)
    ]

    old_risks = {r["id"]: r for r in previous.content.get("open_risks", [])} if previous is not None else {}
    now_ids = {r.id for r in found.risks}
    new_risks = (
        [r for r in found.risks if r.id not in old_risks] if previous is not None else list(found.risks)
    )
    resolved = [
        ResolvedRisk(id=rid, code=r["code"], explanation=r["explanation"])
        for rid, r in sorted(old_risks.items())
        if rid not in now_ids
    ]

    fc_epics = {e.key: e for e in fc.epics}
    epic_rows = []
    past_due_epics = {r.items[0] for r in found.risks if r.code.value == "past_due" and len(r.items) == 1}
    for e in prog.epics:
        f = fc_epics.get(e.key)
        status = f.status if f is not None else "done"
        rag: RAG = "green"
        if status == "off_track" or (e.key in past_due_epics):
            rag = "red"
        elif status in ("at_risk", "no_history"):
            rag = "amber"
        epic_rows.append(
            EpicRow(
                key=e.key,
                title=e.title,
                url=e.url,
                done=e.done,
                total=e.total,
                percent_done=e.percent_done,
                p50=f.p50 if f else None,
                p85=f.p85 if f else None,
                due_date=e.due_date,
                forecast_status=status,
                rag=rag,
            )
        )

    p = prog.program
    numbers: dict[str, Any] = {
        "items": p.total,
        "done": p.done,
        "in_progress": p.in_progress,
        "todo": p.todo,
        "percent_done": p.percent_done,
        "points": p.points_total,
        "points_done": p.points_done,
        "percent_done_points": p.percent_done_points,
        "unestimated": p.unestimated,
        "scope_added": p.scope_added,
        "scope_removed": p.scope_removed,
        "blocked": len(blocked),
        "risks_high": found.counts["high"],
        "risks_medium": found.counts["medium"],
        "risks_low": found.counts["low"],
        "target_date": program.target_date,
        "forecast_p50": fc.program.p50,
        "forecast_p85": fc.program.p85,
        "forecast_p95": fc.program.p95,
        "forecast_status": fc.program.status,
    }
    rag_value, reasons = _rag(numbers, found.risks, fc.program.status, program.target_date)
    headline = (
        f"{program.name} is {rag_value.upper()}: {p.percent_done:g}% done ({p.done}/{p.total} items)"
        + (f", forecast P85 {fc.program.p85}" if fc.program.p85 else "")
        + (f" for target {program.target_date}" if program.target_date else "")
        + f"; {reasons[0]}"
    )
    hot = [
        HotSpot(
            key=key,
            title=blockers_by_key[key].blocker.title,
            team=blockers_by_key[key].blocker.team,
            blocks=n,
            state=blockers_by_key[key].state.value,
        )
        for key, n in sorted(waiting.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    ]
    pairs: Counter[tuple[str, str]] = Counter()
    for link in links:
        if link.state is not EdgeState.SATISFIED and link.cross_team:
            pairs[(link.blocker.team or "(none)", link.blocked.team or "(none)")] += 1
    content = ReportContent(
        program=program.slug,
        name=program.name,
        as_of=at,
        period_start=period_start,
        period_end=today,
        since=since,
        previous_report_id=previous.id if previous is not None else None,
        rag=rag_value,
        reasons=reasons,
        headline=headline,
        numbers=numbers,
        epics=epic_rows,
        done_since=_done_since(session, program, since, teams),
        newly_blocked=newly_blocked,
        new_risks=new_risks,
        resolved_risks=resolved,
        open_risks=found.risks,
        upcoming_releases=_releases(session, program, today),
        hot_spots=hot,
        team_hot_spots=[
            TeamPair(blocker_team=a, blocked_team=b, open=n)
            for (a, b), n in sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
        ],
        sources=found.meta.sources,
        blocked_keys=sorted(blocked),
    )
    if store:
        row = ProgramReport(
            program_id=program.id,
            created_at=at,
            period_start=period_start,
            period_end=today,
            rag=rag_value,
            headline=headline,
            content={},
        )
        session.add(row)
        session.flush()
        content.id = row.id
        row.content = content.model_dump(mode="json")
        session.flush()
    return content


def list_reports(session: Session, slug: str, limit: int = 50) -> list[ReportSummary]:
    program = get_program(session, slug)
    rows = session.scalars(
        select(ProgramReport)
        .where(ProgramReport.program_id == program.id)
        .order_by(ProgramReport.created_at.desc(), ProgramReport.id.desc())
        .limit(limit)
    )
    return [
        ReportSummary(
            id=r.id,
            created_at=r.created_at,
            period_start=r.period_start,
            period_end=r.period_end,
            rag=r.rag,
            headline=r.headline,
        )
        for r in rows
    ]


def load_report(session: Session, slug: str, report_id: int) -> ReportContent | None:
    program = get_program(session, slug)
    row = session.scalar(
        select(ProgramReport).where(ProgramReport.program_id == program.id, ProgramReport.id == report_id)
    )
    return ReportContent.model_validate(row.content) if row is not None else None


# -- renderings -----------------------------------------------------------------------------------


def _md_cell(value: Any) -> str:
    text = "—" if value is None or value == "" else str(value)
    # Markdown passes raw HTML through; titles come from trackers, so neutralize tags.
    return text.replace("<", "&lt;").replace("|", "\\|").replace("\n", " ")


def to_markdown(r: ReportContent) -> str:
    n = r.numbers
    out = [
        f"# {r.name}: status report {r.period_end}",
        "",
        f"**{r.rag.upper()}** — {r.headline}",
        "",
        *[f"- {reason}" for reason in r.reasons],
        "",
        "## Key numbers",
        "",
        "| items | done | in progress | to do | % done | points done | unestimated | added | removed | blocked |"
        " risks (H/M/L) | P50 | P85 | P95 | target |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|---|---|---|---|",
        "| "
        + " | ".join(
            _md_cell(v)
            for v in (
                n["items"],
                n["done"],
                n["in_progress"],
                n["todo"],
                f"{n['percent_done']:g}%",
                f"{n['points_done']:g}/{n['points']:g}",
                n["unestimated"],
                n["scope_added"],
                n["scope_removed"],
                n["blocked"],
                f"{n['risks_high']}/{n['risks_medium']}/{n['risks_low']}",
                n["forecast_p50"],
                n["forecast_p85"],
                n["forecast_p95"],
                n["target_date"],
            )
        )
        + " |",
        "",
        "## Epics",
        "",
        "| epic | title | progress | P50 | P85 | due | RAG |",
        "|---|---|---:|---|---|---|:---:|",
    ]
    for e in r.epics:
        out.append(
            "| "
            + " | ".join(
                _md_cell(v)
                for v in (
                    e.key or "(no epic)",
                    e.title,
                    f"{e.done}/{e.total} ({e.percent_done:g}%)",
                    e.p50,
                    e.p85,
                    e.due_date,
                    e.rag.upper(),
                )
            )
            + " |"
        )
    out += ["", f"## Done since {r.since:%Y-%m-%d %H:%M} UTC ({len(r.done_since)})", ""]
    out += [f"- {d.key} {d.title}" + (f" ({d.team})" if d.team else "") for d in r.done_since] or [
        "- nothing"
    ]
    out += ["", f"## Newly blocked ({len(r.newly_blocked)})", ""]
    out += [f"- {b.key} {b.title or ''} — blocked by {', '.join(b.blockers)}" for b in r.newly_blocked] or [
        "- none"
    ]
    out += ["", f"## New risks ({len(r.new_risks)})", ""]
    out += [f"- **{k.severity}** `{k.code.value}` {k.explanation}" for k in r.new_risks] or ["- none"]
    out += ["", f"## Resolved risks ({len(r.resolved_risks)})", ""]
    out += [f"- `{k.code}` {k.explanation}" for k in r.resolved_risks] or ["- none"]
    out += ["", "## Upcoming releases", ""]
    out += [f"- {x.name} due {x.due_date}: {x.done}/{x.items} items done" for x in r.upcoming_releases] or [
        "- none"
    ]
    out += ["", "## Dependency hot spots", ""]
    out += [
        f"- {h.key} {h.title or ''} ({h.team or 'external'}) blocks {h.blocks} item(s), {h.state}"
        for h in r.hot_spots
    ]
    out += [f"- {t.blocker_team} → {t.blocked_team}: {t.open} open" for t in r.team_hot_spots]
    if not r.hot_spots and not r.team_hot_spots:
        out.append("- none")
    out += ["", "## Data freshness", ""]
    out += [
        f"- {s.name}: last sync {s.last_synced_at or 'never'}" + (" (STALE)" if s.stale else "")
        for s in r.sources
    ]
    return "\n".join(out) + "\n"


_RAG_COLOUR = {"green": "#2e7d32", "amber": "#ef6c00", "red": "#c62828"}


def to_html(r: ReportContent) -> str:
    e = html.escape

    def table(headers: list[str], rows: list[list[Any]]) -> str:
        head = "".join(f"<th>{e(h)}</th>" for h in headers)
        body = "".join(
            "<tr>" + "".join(f"<td>{e('—' if v is None else str(v))}</td>" for v in row) + "</tr>"
            for row in rows
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def items(lines: list[str]) -> str:
        return "<ul>" + "".join(f"<li>{e(x)}</li>" for x in lines) + "</ul>" if lines else "<p>none</p>"

    n = r.numbers
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>{e(r.name)}: status report {r.period_end}</title>",
        "<style>body{font:15px/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
        "table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:left}"
        ".rag{color:#fff;padding:.1rem .5rem;border-radius:.3rem;font-weight:600}</style></head><body>",
        f"<h1>{e(r.name)}: status report {r.period_end}</h1>",
        f'<p><span class="rag" style="background:{_RAG_COLOUR[r.rag]}">{r.rag.upper()}</span> {e(r.headline)}</p>',
        items(r.reasons),
        "<h2>Key numbers</h2>",
        table(
            [
                "items",
                "done",
                "in progress",
                "to do",
                "% done",
                "points done",
                "unestimated",
                "added",
                "removed",
                "blocked",
                "risks H/M/L",
                "P50",
                "P85",
                "P95",
                "target",
            ],
            [
                [
                    n["items"],
                    n["done"],
                    n["in_progress"],
                    n["todo"],
                    f"{n['percent_done']:g}%",
                    f"{n['points_done']:g}/{n['points']:g}",
                    n["unestimated"],
                    n["scope_added"],
                    n["scope_removed"],
                    n["blocked"],
                    f"{n['risks_high']}/{n['risks_medium']}/{n['risks_low']}",
                    n["forecast_p50"],
                    n["forecast_p85"],
                    n["forecast_p95"],
                    n["target_date"],
                ]
            ],
        ),
        "<h2>Epics</h2>",
        table(
            ["epic", "title", "progress", "P50", "P85", "due", "RAG"],
            [
                [
                    x.key or "(no epic)",
                    x.title,
                    f"{x.done}/{x.total} ({x.percent_done:g}%)",
                    x.p50,
                    x.p85,
                    x.due_date,
                    x.rag.upper(),
                ]
                for x in r.epics
            ],
        ),
        f"<h2>Done since {r.since:%Y-%m-%d %H:%M} UTC</h2>",
        items([f"{d.key} {d.title}" for d in r.done_since]),
        "<h2>Newly blocked</h2>",
        items([f"{b.key} {b.title or ''} — blocked by {', '.join(b.blockers)}" for b in r.newly_blocked]),
        "<h2>New risks</h2>",
        items([f"[{k.severity}] {k.code.value}: {k.explanation}" for k in r.new_risks]),
        "<h2>Resolved risks</h2>",
        items([f"{k.code}: {k.explanation}" for k in r.resolved_risks]),
        "<h2>Upcoming releases</h2>",
        items([f"{x.name} due {x.due_date}: {x.done}/{x.items} items done" for x in r.upcoming_releases]),
        "<h2>Dependency hot spots</h2>",
        items(
            [f"{h.key} {h.title or ''} blocks {h.blocks} item(s), {h.state}" for h in r.hot_spots]
            + [f"{t.blocker_team} → {t.blocked_team}: {t.open} open" for t in r.team_hot_spots]
        ),
        "<h2>Data freshness</h2>",
        items(
            [
                f"{s.name}: last sync {s.last_synced_at or 'never'}" + (" (STALE)" if s.stale else "")
                for s in r.sources
            ]
        ),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def render(content: ReportContent, fmt: Format) -> str:
    if fmt == "md":
        return to_markdown(content)
    if fmt == "html":
        return to_html(content)
    return content.model_dump_json(indent=2) + "\n"


def render_report(
    session: Session, slug: str, fmt: Format, period_days: int = 7, *, as_of: datetime | None = None
) -> str:
    """Generate, store and render a report (for ``crosstrack report PROGRAM --format md|html|json``)."""
    return render(generate_report(session, slug, period_days, as_of), fmt)


def write_report_file(
    session: Session, slug: str, directory: Path, fmt: Format = "md", *, as_of: datetime | None = None
) -> tuple[str, Path]:
    """Generate and store a report, write it to ``directory``; return its headline and the file.

    For ``make demo``: print the headline and the path of the program's first report.
    """
    content = generate_report(session, slug, as_of=as_of)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"report-{slug}-{content.period_end}-{content.id}.{'json' if fmt == 'json' else fmt}"
    path.write_text(render(content, fmt), encoding="utf-8")
    return content.headline, path
