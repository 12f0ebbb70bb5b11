"""Program views (PRODUCT §6.2): thin routes over ``sync.views``; every answer carries ``meta``
(``as_of`` and each source's freshness)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy import select

from api.deps import DbSession, Viewer
from api.errors import ApiError, error_responses
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
from sync.views.risks import RiskView, risks

router = APIRouter(
    prefix="/api/v1/programs/{slug}",
    tags=["views"],
    dependencies=[Viewer],
    responses=error_responses(401, 403, 404, 422),
)

SlugPath = Annotated[str, Path(max_length=64, description="The program's slug.", examples=["checkout-v2"])]


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
