"""Programs created, changed and deleted through the API (PRODUCT §6.1), with membership
recomputed on every change and the items that leave the scope recorded as removals.

Programs from the config file belong to the file: the API refuses to change or delete them
(the next config load would undo the change silently). Services flush, never commit: the
request (or task) that calls them owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from sync.config import ProgramConfig, ProgramScope
from sync.membership import recompute_membership
from sync.model import (
    Program,
    ProgramItem,
    ProgramItemRemoval,
    ProgramReport,
    ProgramSnapshot,
    Source,
    WorkItem,
)
from sync.views.burnup import backfill

__all__ = [
    "ProgramChange",
    "ProgramConflict",
    "ProgramInvalid",
    "create_program",
    "delete_program",
    "recompute_program_membership",
    "update_program",
]


class ProgramConflict(ValueError):
    """The change is impossible in the program's current state (slug taken, defined in the file)."""


class ProgramInvalid(ValueError):
    """The program refers to something that does not exist (an unknown source)."""


class ProgramChange(BaseModel):
    """A partial update: only the fields given change; ``null`` clears an optional field."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1)
    owner: str | None = None
    description: str | None = None
    target_date: date | None = None
    baseline_date: date | None = None
    scope: list[ProgramScope] | None = None
    items: list[str] | None = None


def _rules(config: ProgramConfig) -> dict[str, Any]:
    return {"rules": [r.model_dump(mode="json", exclude_none=True) for r in config.scope]}


def _find_nul(value: Any, loc: str) -> str | None:
    if isinstance(value, str):
        return loc if "\x00" in value else None
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, inner in items:
        found = _find_nul(inner, f"{loc}.{key}" if loc else str(key))
        if found:
            return found
    return None


def _check_sources(session: Session, config: ProgramConfig) -> None:
    # PostgreSQL text and JSONB cannot hold NUL: refuse it as bad input, not a database error.
    where = _find_nul(config.model_dump(mode="json"), "")
    if where:
        raise ProgramInvalid(f"{where}: contains a NUL character")
    known = set(session.scalars(select(Source.name)))
    for index, rule in enumerate(config.scope):
        if rule.source not in known:
            raise ProgramInvalid(
                f"scope[{index}].source: no source named {rule.source!r} (known: {', '.join(sorted(known)) or 'none'})"
            )


def recompute_program_membership(
    session: Session, program_ids: Sequence[int] | None = None
) -> dict[str, int]:
    """:func:`sync.membership.recompute_membership`, recording the items that left each scope.

    The engine may call this instead of the bare recompute so that "scope removed since the
    baseline" also counts items that left through a changed label or rule.
    """
    before_q = select(ProgramItem.program_id, ProgramItem.work_item_id)
    if program_ids is not None:
        before_q = before_q.where(ProgramItem.program_id.in_(program_ids))
    before: dict[int, set[int]] = {}
    for pid, iid in session.execute(before_q):
        before.setdefault(pid, set()).add(iid)
    counts = recompute_membership(session, program_ids)
    after: dict[int, set[int]] = {}
    for pid, iid in session.execute(before_q):
        after.setdefault(pid, set()).add(iid)
    now = datetime.now(UTC)
    for pid, items in before.items():
        gone = sorted(items - after.get(pid, set()))
        for i in range(0, len(gone), 1000):
            chunk = gone[i : i + 1000]
            rows = session.execute(
                select(WorkItem.id, WorkItem.key, WorkItem.estimate).where(WorkItem.id.in_(chunk))
            ).all()
            if rows:
                session.execute(
                    insert(ProgramItemRemoval),
                    [
                        {
                            "program_id": pid,
                            "work_item_id": r.id,
                            "key": r.key,
                            "estimate": r.estimate,
                            "removed_at": now,
                        }
                        for r in rows
                    ],
                )
    session.flush()
    return counts


def create_program(session: Session, config: ProgramConfig) -> Program:
    if session.scalar(select(Program.id).where(Program.slug == config.slug)) is not None:
        raise ProgramConflict(f"a program {config.slug!r} exists already")
    _check_sources(session, config)
    program = Program(
        slug=config.slug,
        name=config.name,
        owner=config.owner,
        description=config.description,
        target_date=config.target_date,
        baseline_date=config.baseline_date,
        scope_rules=_rules(config),
        explicit_items={"keys": list(config.items)},
        origin="api",
    )
    session.add(program)
    session.flush()
    recompute_program_membership(session, [program.id])
    backfill(session, program)
    return program


def _editable(session: Session, slug: str) -> Program:
    program = session.scalar(select(Program).where(Program.slug == slug))
    if program is None:
        raise LookupError(f"no program {slug!r}")
    if program.origin == "config":
        raise ProgramConflict(
            f"program {slug!r} is defined in the config file: change it there (the next load would undo an API change)"
        )
    return program


def update_program(session: Session, slug: str, change: ProgramChange) -> Program:
    program = _editable(session, slug)
    current: dict[str, Any] = {
        "slug": program.slug,
        "name": program.name,
        "owner": program.owner,
        "description": program.description,
        "target_date": program.target_date,
        "baseline_date": program.baseline_date,
        "scope": program.scope_rules.get("rules", []),
        "items": program.explicit_items.get("keys", []),
    }
    given = change.model_dump(exclude_unset=True)
    if "scope" in given and change.scope is not None:
        given["scope"] = [r.model_dump(mode="json", exclude_none=True) for r in change.scope]
    config = ProgramConfig.model_validate({**current, **given})  # re-checks the whole program
    _check_sources(session, config)
    program.name = config.name
    program.owner = config.owner
    program.description = config.description
    program.target_date = config.target_date
    program.baseline_date = config.baseline_date
    program.scope_rules = _rules(config)
    program.explicit_items = {"keys": list(config.items)}
    session.flush()
    if "scope" in given or "items" in given:
        recompute_program_membership(session, [program.id])
    return program


def delete_program(session: Session, slug: str) -> None:
    program = _editable(session, slug)
    for table in (ProgramItem, ProgramItemRemoval, ProgramSnapshot, ProgramReport):
        session.execute(delete(table).where(table.program_id == program.id))
    session.delete(program)
    session.flush()
