"""Sources, teams and programs as the database has them (loaded from the config file on start)."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import DbSession, Viewer
from api.errors import error_responses
from api.schemas import ProgramOut, SourceOut, TeamOut, TeamScopeOut
from sync import catalog
from sync.model import Source

router = APIRouter(
    prefix="/api/v1", tags=["catalog"], dependencies=[Viewer], responses=error_responses(401, 403)
)


@router.get("/sources", summary="Tracker connections", response_model=list[SourceOut])
def list_sources(session: DbSession) -> list[SourceOut]:
    return [
        SourceOut(
            name=s.name,
            kind=s.kind.value,
            base_url=s.base_url,
            flavour=s.flavour,
            credentials_ref=s.credentials_ref,
            options=s.options,
            last_synced_at=s.last_synced_at,
            last_webhook_at=s.last_webhook_at,
        )
        for s in catalog.list_sources(session)
    ]


@router.get("/teams", summary="Teams and the tracker scopes that map to them", response_model=list[TeamOut])
def list_teams(session: DbSession) -> list[TeamOut]:
    names = {s.id: s.name for s in session.query(Source).all()}
    return [
        TeamOut(
            slug=t.slug,
            name=t.name,
            scopes=[
                TeamScopeOut(
                    source=names[x.source_id],
                    scope=x.scope,
                    component=x.component,
                    board=x.board,
                    label=x.label,
                )
                for x in t.scopes
            ],
        )
        for t in catalog.list_teams(session)
    ]


@router.get("/programs", summary="Programs", response_model=list[ProgramOut])
def list_programs(session: DbSession) -> list[ProgramOut]:
    return [
        ProgramOut(
            slug=p.slug,
            name=p.name,
            owner=p.owner,
            description=p.description,
            target_date=p.target_date,
            baseline_date=p.baseline_date,
            scope_rules=p.scope_rules,
            explicit_items=p.explicit_items,
            origin=p.origin,
            item_count=n,
        )
        for p, n in catalog.list_programs(session)
    ]
