"""Program membership: which items are in a program's scope (PRODUCT §6.1).

An item is in a program when a scope rule matches it (``scope``), when the program names it
(``explicit``), or when it descends from such an item through the parent hierarchy
(``descendant``: an in-scope epic brings its stories and their sub-tasks). Recomputed after each
sync run and whenever a program changes; the stored rows are diffed, not rewritten, so
``added_at`` keeps telling when an item entered the scope (scope added since the baseline).

Each member row also stores the member's nearest epic ancestor (``epic_id``), refreshed by every
recompute (:func:`refresh_member_epics`): the views group by it instead of joining parents in
every request (docs/adr/0012-fast-program-views.md). A parent change is therefore reflected when
membership is (the same recompute: end of each sync run, settled webhook batches).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from connectors.records import ItemKind
from sync.model import Program, ProgramItem, Release, Source, WorkItem, WorkItemRelease
from sync.scope import ItemFacts, Predicate, UnsupportedScopeRule, compile_rule

__all__ = ["EPIC_DEPTH", "MembershipProblem", "nearest_epics", "recompute_membership", "refresh_member_epics"]

#: How far up the parent chain an item's epic is looked for (real hierarchies are
#: initiative > epic > story > sub-task; the bound also stops a parent cycle).
EPIC_DEPTH = 4
_CHUNK = 5000

log = logging.getLogger("crosstrack.sync.membership")


class MembershipProblem(ValueError):
    """A program's scope rule cannot be evaluated (named program, rule and reason)."""


def _predicates(program: Program, sources: dict[str, Source]) -> tuple[list[Predicate], list[str]]:
    preds: list[Predicate] = []
    problems: list[str] = []
    for index, rule in enumerate(program.scope_rules.get("rules", [])):
        source = sources.get(str(rule.get("source")))
        if source is None:
            problems.append(f"programs[{program.slug}].scope[{index}]: unknown source {rule.get('source')!r}")
            continue
        try:
            preds.append(compile_rule(rule, source_kind=source.kind.value, org=source.options.get("org")))
        except UnsupportedScopeRule as exc:
            problems.append(f"programs[{program.slug}].scope[{index}]: {exc}")
    return preds, problems


def recompute_membership(session: Session, program_ids: Sequence[int] | None = None) -> dict[str, int]:
    """Bring ProgramItem rows in line with the scope rules; return item counts per program slug."""
    query = select(Program)
    if program_ids is not None:
        query = query.where(Program.id.in_(program_ids))
    programs = session.scalars(query).all()
    if not programs:
        return {}
    sources = {s.name: s for s in session.scalars(select(Source))}
    source_names = {s.id: s.name for s in sources.values()}
    compiled: list[tuple[Program, list[Predicate], set[str]]] = []
    for program in programs:
        preds, problems = _predicates(program, sources)
        for problem in problems:
            log.warning("membership.rule_skipped", extra={"problem": problem})
        compiled.append((program, preds, set(program.explicit_items.get("keys", []))))

    milestones: dict[int, str] = dict(
        session.execute(
            select(WorkItemRelease.work_item_id, Release.name).join(
                Release, Release.id == WorkItemRelease.release_id
            )
        ).all()
    )
    direct: dict[int, dict[int, str]] = {p.id: {} for p, _, _ in compiled}
    children: dict[int, list[int]] = defaultdict(list)
    rows = session.execute(
        select(
            WorkItem.id,
            WorkItem.parent_id,
            WorkItem.source_id,
            WorkItem.key,
            WorkItem.scope,
            WorkItem.labels,
            WorkItem.original_type,
            WorkItem.original_status,
            WorkItem.status_category,
        ).where(WorkItem.deleted_at.is_(None))
    ).yield_per(5000)
    for item_id, parent_id, source_id, key, scope, labels, otype, ostatus, category in rows:
        if parent_id is not None:
            children[parent_id].append(item_id)
        facts = ItemFacts(
            source=source_names.get(source_id, ""),
            key=key,
            scope=scope,
            labels=tuple(labels or ()),
            original_type=otype,
            original_status=ostatus,
            status_category=category.value,
            milestone=milestones.get(item_id),
        )
        for program, preds, explicit in compiled:
            if key in explicit:
                direct[program.id][item_id] = "explicit"
            elif any(p(facts) for p in preds):
                direct[program.id][item_id] = "scope"

    counts: dict[str, int] = {}
    now = datetime.now(UTC)
    for program, _, _ in compiled:
        desired = dict(direct[program.id])
        stack = list(desired)
        while stack:  # descendants of in-scope items, through any depth of hierarchy
            for child in children.get(stack.pop(), ()):
                if child not in desired:
                    desired[child] = "descendant"
                    stack.append(child)
        existing: dict[int, str] = dict(
            session.execute(
                select(ProgramItem.work_item_id, ProgramItem.reason).where(
                    ProgramItem.program_id == program.id
                )
            ).all()
        )
        gone = [i for i in existing if i not in desired]
        for chunk in _chunks(gone, 1000):
            session.execute(
                delete(ProgramItem).where(
                    ProgramItem.program_id == program.id, ProgramItem.work_item_id.in_(chunk)
                )
            )
        new_rows: list[dict[str, Any]] = [
            {"program_id": program.id, "work_item_id": i, "reason": r, "added_at": now}
            for i, r in desired.items()
            if i not in existing
        ]
        for chunk_rows in _chunks(new_rows, 1000):
            session.execute(insert(ProgramItem), chunk_rows)
        for i, r in desired.items():
            if i in existing and existing[i] != r:
                session.execute(
                    update(ProgramItem)
                    .where(ProgramItem.program_id == program.id, ProgramItem.work_item_id == i)
                    .values(reason=r)
                )
        counts[program.slug] = len(desired)
    session.flush()
    refresh_member_epics(session, [program.id for program, _, _ in compiled])
    return counts


def nearest_epics(session: Session, item_ids: Sequence[int]) -> dict[int, int]:
    """item id -> id of its nearest epic ancestor within :data:`EPIC_DEPTH` levels (others left out).

    Walks up one level per round of primary-key lookups: joining parent aliases of a 1M-row table
    makes PostgreSQL hash the whole table. Deleted ancestors still count (as the views always did).
    """
    out: dict[int, int] = {}
    node_of: dict[int, int] = {}  # item -> the ancestor being looked at
    for item_id, (_, parent_id) in _kinds_and_parents(session, item_ids).items():
        if parent_id is not None:
            node_of[item_id] = parent_id
    for _ in range(EPIC_DEPTH):
        if not node_of:
            break
        rows = _kinds_and_parents(session, set(node_of.values()))
        nxt: dict[int, int] = {}
        for item_id, node in node_of.items():
            row = rows.get(node)
            if row is None:
                continue
            kind, parent_id = row
            if kind is ItemKind.EPIC:
                out[item_id] = node
            elif parent_id is not None:
                nxt[item_id] = parent_id
        node_of = nxt
    return out


def _kinds_and_parents(session: Session, ids: Iterable[int]) -> dict[int, tuple[ItemKind, int | None]]:
    out: dict[int, tuple[ItemKind, int | None]] = {}
    ordered = sorted(ids)
    for i in range(0, len(ordered), _CHUNK):
        for item_id, kind, parent_id in session.execute(
            select(WorkItem.id, WorkItem.kind, WorkItem.parent_id).where(
                WorkItem.id.in_(ordered[i : i + _CHUNK])
            )
        ):
            out[item_id] = (kind, parent_id)
    return out


def refresh_member_epics(session: Session, program_ids: Sequence[int] | None = None) -> int:
    """Bring ``ProgramItem.epic_id`` in line with the parent hierarchy; return the rows changed.

    Called by :func:`recompute_membership`; only rows whose epic changed are written.
    """
    query = select(ProgramItem.program_id, ProgramItem.work_item_id, ProgramItem.epic_id)
    if program_ids is not None:
        if not program_ids:
            return 0
        query = query.where(ProgramItem.program_id.in_(program_ids))
    rows = session.execute(query).all()
    epics = nearest_epics(session, sorted({item_id for _, item_id, _ in rows}))
    changed: list[dict[str, Any]] = [
        {"program_id": pid, "work_item_id": iid, "epic_id": epics.get(iid)}
        for pid, iid, current in rows
        if epics.get(iid) != current
    ]
    for chunk in _chunks(changed, 1000):
        session.execute(update(ProgramItem), chunk)  # ORM bulk UPDATE by primary key
    if changed:
        session.flush()
    return len(changed)


def _chunks(seq: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [seq[i : i + size] for i in range(0, len(seq), size)]
