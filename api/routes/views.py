"""Program views (PRODUCT §6.2): thin routes over ``sync.views``; every answer carries ``meta``
(``as_of`` and each source's freshness)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from sqlalchemy import select

from api.deps import DbSession, Editor, Viewer
from api.errors import ApiError, error_responses
from api.routes.programs import SlugPath  # one definition of a program slug in a path
from sync.model import Program
from sync.views.burnup import BurnupView, burnup
from sync.views.dependencies import (
    CriticalPath,
    DependencyGraph,
    TeamMatrix,
    critical_path,
    dependency_graph,
    team_matrix,
    to_dot,
    to_mermaid,
)
from sync.views.forecast import ForecastView, forecast
from sync.views.progress import ProgressView, progress
from sync.views.report import ReportContent, ReportSummary, generate_report, list_reports, load_report, render
from sync.views.risks import RiskView, risks

router = APIRouter(
    prefix="/api/v1/programs/{slug}",
    tags=["views"],
    dependencies=[Viewer],
    responses=error_responses(401, 403, 404, 422),
)


def program_slug(slug: SlugPath, session: DbSession) -> str:
    """The slug of an existing program, or 404 in the error shape."""
    if session.scalar(select(Program.id).where(Program.slug == slug)) is None:
        raise ApiError(404, f"no program {slug!r}")
    return slug


Slug = Annotated[str, Depends(program_slug)]


def stale_minutes(request: Request) -> int:
    return int(getattr(request.app.state.settings, "stale_after_minutes", 30))


@router.get("/progress", summary="Progress by program, epic and team", response_model=ProgressView)
def get_progress(slug: Slug, session: DbSession, request: Request) -> ProgressView:
    return progress(session, slug, stale_after_minutes=stale_minutes(request))


_GRAPH_CONTENT = {
    "content": {
        "text/vnd.graphviz": {
            "example": 'digraph "checkout-v2" {\n  "PAY-3" -> "PAY-7" [label="open"];\n}\n'
        },
        "text/plain": {"example": 'flowchart LR\n  n0["PAY-3"]\n  n0 -->|open| n1\n'},
    },
    "description": "The graph as JSON (default), Graphviz DOT or Mermaid.",
}


@router.get(
    "/dependencies",
    summary="Dependency graph of blocks links (JSON, DOT or Mermaid), optionally rolled up",
    response_model=DependencyGraph,
    responses={200: _GRAPH_CONTENT},
)
def get_dependencies(
    slug: Slug,
    session: DbSession,
    request: Request,
    format: Annotated[Literal["json", "dot", "mermaid"], Query(description="Output format.")] = "json",
    rollup: Annotated[Literal["item", "epic", "team"], Query(description="Node granularity.")] = "item",
) -> DependencyGraph | Response:
    graph = dependency_graph(session, slug, rollup=rollup, stale_after_minutes=stale_minutes(request))
    if format == "dot":
        return PlainTextResponse(to_dot(graph), media_type="text/vnd.graphviz")
    if format == "mermaid":
        return PlainTextResponse(to_mermaid(graph))
    return graph


@router.get("/teams/matrix", summary="Team x team matrix of open dependencies", response_model=TeamMatrix)
def get_team_matrix(slug: Slug, session: DbSession, request: Request) -> TeamMatrix:
    return team_matrix(session, slug, stale_after_minutes=stale_minutes(request))


@router.get("/critical-path", summary="Critical path to the target date", response_model=CriticalPath)
def get_critical_path(slug: Slug, session: DbSession, request: Request) -> CriticalPath:
    return critical_path(session, slug, stale_after_minutes=stale_minutes(request))


@router.get("/risks", summary="Risks with severity, reason, items and since when", response_model=RiskView)
def get_risks(slug: Slug, session: DbSession, request: Request) -> RiskView:
    return risks(session, slug, stale_after_minutes=stale_minutes(request))


@router.get("/forecast", summary="Monte Carlo completion forecast (P50/P85/P95)", response_model=ForecastView)
def get_forecast(
    slug: Slug,
    session: DbSession,
    request: Request,
    trials: Annotated[int, Query(ge=100, le=10000, description="Monte Carlo trials.")] = 1000,
) -> ForecastView:
    return forecast(session, slug, trials=trials, stale_after_minutes=stale_minutes(request))


@router.get("/burnup", summary="Daily scope and done (count and points)", response_model=BurnupView)
def get_burnup(
    slug: Slug,
    session: DbSession,
    request: Request,
    dimension: Annotated[Literal["program", "team", "epic"], Query()] = "program",
    key: Annotated[str, Query(max_length=255, description="Team slug or epic key ('' = none).")] = "",
) -> BurnupView:
    return burnup(
        session,
        slug,
        dimension=dimension,
        key=key if dimension != "program" else "",
        stale_after_minutes=stale_minutes(request),
    )


_REPORT_CONTENT = {
    "content": {
        "text/markdown": {"example": "# Checkout v2: status report 2026-11-22\n\n**AMBER** — ...\n"},
        "text/html": {"example": "<!doctype html><html>...</html>"},
    },
    "description": "The report as JSON (default), Markdown or HTML.",
}
ReportFormat = Annotated[Literal["json", "md", "html"], Query(description="Output format.")]
PeriodDays = Annotated[int, Query(ge=1, le=365, description="Length of the reporting period in days.")]


def _rendered(content: ReportContent, format: str) -> ReportContent | Response:
    if format == "md":
        return PlainTextResponse(render(content, "md"), media_type="text/markdown")
    if format == "html":
        return HTMLResponse(render(content, "html"))
    return content


@router.get(
    "/report",
    summary="A status report for the period, generated now (a preview: not stored)",
    response_model=ReportContent,
    responses={200: _REPORT_CONTENT},
)
def get_report(
    slug: Slug,
    session: DbSession,
    request: Request,
    format: ReportFormat = "json",
    period_days: PeriodDays = 7,
) -> ReportContent | Response:
    content = generate_report(
        session, slug, period_days, store=False, stale_after_minutes=stale_minutes(request)
    )
    return _rendered(content, format)


@router.post(
    "/reports",
    summary="Generate and store a status report (editor); later reports diff against it",
    status_code=201,
    response_model=ReportContent,
    dependencies=[Editor],
)
def post_report(
    slug: Slug, session: DbSession, request: Request, period_days: PeriodDays = 7
) -> ReportContent:
    return generate_report(session, slug, period_days, store=True, stale_after_minutes=stale_minutes(request))


@router.get("/reports", summary="Stored reports, newest first", response_model=list[ReportSummary])
def get_reports(
    slug: Slug, session: DbSession, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[ReportSummary]:
    return list_reports(session, slug, limit)


@router.get(
    "/reports/{report_id}",
    summary="One stored report",
    response_model=ReportContent,
    responses={200: _REPORT_CONTENT},
)
def get_stored_report(
    slug: Slug,
    session: DbSession,
    report_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    format: ReportFormat = "json",
) -> ReportContent | Response:
    content = load_report(session, slug, report_id)
    if content is None:
        raise ApiError(404, f"no report {report_id} for program {slug!r}")
    return _rendered(content, format)
