"""Sources, teams and programs: loaded from the config file into the database, read by the API.

Loading is idempotent (upsert by name / slug), so ``serve`` can load the file on every start.
Teams and config-defined programs that left the file are removed; programs created through the
API are left alone. Sources are never deleted by a config load (that would drop their synced
data); a source missing from the file is reported instead.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, selectinload

from connectors.records import TrackerKind
from sync.model import Program, ProgramItem, Source, Team, TeamScope

if TYPE_CHECKING:
    from sync.config import CrosstrackConfig, SourceConfig

__all__ = ["ConfigLoadReport", "apply_config", "list_programs", "list_sources", "list_teams"]

log = logging.getLogger("crosstrack.sync.catalog")


@dataclass(slots=True)
class ConfigLoadReport:
    sources_created: list[str] = field(default_factory=list)
    sources_updated: list[str] = field(default_factory=list)
    sources_not_in_file: list[str] = field(default_factory=list)
    teams: int = 0
    programs: int = 0
    programs_removed: list[str] = field(default_factory=list)


def credentials_ref(source: SourceConfig) -> str:
    """Where the secret lives (``env:NAME`` or ``file:PATH``), never the secret itself."""
    if source.token_env:
        return f"env:{source.token_env}"
    return f"file:{source.token_file}"


def apply_config(session: Session, config: CrosstrackConfig) -> ConfigLoadReport:
    report = ConfigLoadReport()
    sources = {s.name: s for s in session.scalars(select(Source))}
    for sc in config.sources:
        row = sources.get(sc.name)
        values: dict[str, Any] = {
            "kind": TrackerKind(sc.kind),
            "base_url": str(sc.base_url),
            "flavour": sc.flavour,
            "credentials_ref": credentials_ref(sc),
            "options": sc.options_dict(),
        }
        if row is None:
            row = Source(name=sc.name, **values)
            session.add(row)
            sources[sc.name] = row
            report.sources_created.append(sc.name)
        elif any(getattr(row, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(row, k, v)
            report.sources_updated.append(sc.name)
    report.sources_not_in_file = sorted(set(sources) - {s.name for s in config.sources})
    if report.sources_not_in_file:
        log.warning("catalog.sources_not_in_file", extra={"sources": report.sources_not_in_file})
    session.flush()

    teams = {t.slug: t for t in session.scalars(select(Team).options(selectinload(Team.scopes)))}
    for tc in config.teams:
        team = teams.get(tc.slug)
        if team is None:
            team = Team(slug=tc.slug, name=tc.name)
            session.add(team)
        team.name = tc.name
        wanted = [
            TeamScope(
                source_id=sources[s.source].id,
                scope=s.project or s.repo or "",
                component=getattr(s, "component", None),
                board=None if getattr(s, "board", None) is None else str(s.board),
                label=getattr(s, "label", None),
            )
            for s in tc.scopes
        ]
        current = (
            [(x.source_id, x.scope, x.component, x.board, x.label) for x in team.scopes] if team.id else []
        )
        if current != [(x.source_id, x.scope, x.component, x.board, x.label) for x in wanted]:
            team.scopes = wanted
        report.teams += 1
    for slug in set(teams) - {t.slug for t in config.teams}:
        session.delete(teams[slug])
    session.flush()

    programs = {p.slug: p for p in session.scalars(select(Program))}
    for pc in config.programs:
        program = programs.get(pc.slug)
        if program is None:
            program = Program(slug=pc.slug, origin="config")
            session.add(program)
        program.name = pc.name
        program.owner = pc.owner
        program.description = pc.description
        program.target_date = pc.target_date
        program.baseline_date = pc.baseline_date
        program.scope_rules = {"rules": [r.model_dump(mode="json", exclude_none=True) for r in pc.scope]}
        program.explicit_items = {"keys": list(pc.items)}
        report.programs += 1
    for slug, program in programs.items():
        if program.origin == "config" and slug not in {p.slug for p in config.programs}:
            session.execute(delete(ProgramItem).where(ProgramItem.program_id == program.id))
            session.delete(program)
            report.programs_removed.append(slug)
    session.flush()
    return report


def list_sources(session: Session) -> Sequence[Source]:
    return session.scalars(select(Source).order_by(Source.name)).all()


def list_teams(session: Session) -> Sequence[Team]:
    return session.scalars(select(Team).options(selectinload(Team.scopes)).order_by(Team.slug)).all()


def list_programs(session: Session) -> list[tuple[Program, int]]:
    """Programs with the number of items currently in scope."""
    counts = (
        select(ProgramItem.program_id, func.count().label("n")).group_by(ProgramItem.program_id).subquery()
    )
    rows = session.execute(
        select(Program, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.program_id == Program.id)
        .order_by(Program.slug)
    ).all()
    return [(p, int(n)) for p, n in rows]
