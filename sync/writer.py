"""Writing connector records into the unified model: idempotent, guarded upserts.

One :class:`ItemWriter` per source and run. :meth:`ItemWriter.write` takes a batch of
``WorkItemRecord`` and, in the caller's transaction (it never commits):

1. upserts persons, sprints and releases the batch refers to;
2. upserts the items with ``INSERT … ON CONFLICT (source_id, external_id) DO UPDATE … WHERE
   stored.remote_updated_at <= new.remote_updated_at`` — an older payload (a late webhook, an
   overlapping page) can never move an item back in time, and applying a payload twice changes
   nothing;
3. replaces the links the batch's items own for the origins their records are complete for (so a
   removed link disappears), and resolves link ends and parents that point at items present now
   (a cross-tracker target that arrives later is resolved when it arrives);
4. stores status history (complete history from the tracker, or the change it observed).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, tuple_, update
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from connectors.records import (
    LinkOrigin,
    LinkRecord,
    PersonRecord,
    ReleaseRecord,
    SprintRecord,
    StatusCategory,
    StatusChangeRecord,
    TrackerKind,
    WorkItemRecord,
)
from sync.model import (
    Link,
    Person,
    PersonIdentity,
    Release,
    Source,
    Sprint,
    StatusChange,
    TeamScope,
    WorkItem,
    WorkItemRelease,
)
from sync.upsert import insert_for

__all__ = ["ItemWriter", "WriteResult", "follow_rename", "link_external_id", "resolve_references"]

#: Record field name -> work_item column, where they differ.
_COLUMN_OF = {
    "sprint": "sprint_id",
    "assignee": "assignee_id",
    "parent": "parent_key",
    "created_at": "remote_created_at",
    "updated_at": "remote_updated_at",
}

#: Origins whose links are owned by both ends (each end's payload lists them).
_SHARED_ORIGINS = {LinkOrigin.JIRA_ISSUELINK, LinkOrigin.GITHUB_DEPENDENCY}


@dataclass(slots=True)
class WriteResult:
    seen: int = 0
    created: int = 0
    updated: int = 0
    stale: int = 0  # older than what is stored: not applied
    links: int = 0

    def add(self, other: WriteResult) -> None:
        self.seen += other.seen
        self.created += other.created
        self.updated += other.updated
        self.stale += other.stale
        self.links += other.links


def link_external_id(link: LinkRecord) -> str:
    """Links without a tracker id are keyed by what they say, so both ends' payloads agree."""
    if link.external_id:
        return f"{link.origin.value}:{link.external_id}"
    return f"{link.origin.value}:{link.source.key}>{link.target.key}:{link.type.value}"


class TeamResolver:
    """Maps an item to a team by the source's TeamScope rules (most specific rule first)."""

    def __init__(self, session: Session, source_id: int) -> None:
        rules = session.scalars(select(TeamScope).where(TeamScope.source_id == source_id)).all()
        # A rule with a label or component is more specific than the bare project/repo rule.
        self._rules = sorted(rules, key=lambda r: (r.label is None and r.component is None, r.id))

    def team_for(self, record: WorkItemRecord) -> int | None:
        for rule in self._rules:
            if rule.scope != record.scope:
                continue
            if rule.label is not None and rule.label not in record.labels:
                continue
            return rule.team_id
        return None


class PersonResolver:
    """Identities per tracker, merged into one Person by e-mail across tools."""

    def __init__(self, session: Session, source: Source) -> None:
        self._session = session
        self._source = source
        self._by_external: dict[str, int] = dict(
            session.execute(
                select(PersonIdentity.external_id, PersonIdentity.person_id).where(
                    PersonIdentity.source_id == source.id
                )
            ).all()
        )

    def person_id(self, record: PersonRecord | None) -> int | None:
        if record is None:
            return None
        known = self._by_external.get(record.external_id)
        if known is not None:
            return known
        person: Person | None = None
        if record.email:
            person = self._session.scalar(
                select(Person).where(func.lower(Person.email) == record.email.lower()).limit(1)
            )
        if person is None and record.login:
            # The same login in another tracker (e.g. a Jira DC username equal to a GitHub login).
            other = self._session.scalar(
                select(PersonIdentity)
                .where(func.lower(PersonIdentity.login) == record.login.lower())
                .limit(1)
            )
            person = self._session.get(Person, other.person_id) if other else None
        if person is None:
            person = Person(display_name=record.display_name or record.login, email=record.email)
            self._session.add(person)
            self._session.flush()
        elif person.email is None and record.email:
            person.email = record.email
        stmt = insert_for(self._session, PersonIdentity).values(
            person_id=person.id,
            source_id=self._source.id,
            external_id=record.external_id,
            login=record.login,
            email=record.email,
            display_name=record.display_name,
        )
        self._session.execute(stmt.on_conflict_do_nothing(index_elements=["source_id", "external_id"]))
        person_id = self._session.scalar(
            select(PersonIdentity.person_id).where(
                PersonIdentity.source_id == self._source.id, PersonIdentity.external_id == record.external_id
            )
        )
        assert person_id is not None
        self._by_external[record.external_id] = person_id
        return person_id


class ItemWriter:
    def __init__(self, session: Session, source: Source, *, keep_raw: bool = True) -> None:
        self.session = session
        self.source = source
        self.keep_raw = keep_raw
        self.teams = TeamResolver(session, source.id)
        self.persons = PersonResolver(session, source)

    # -- releases and sprints ---------------------------------------------------------------

    def upsert_releases(self, releases: Iterable[ReleaseRecord]) -> dict[str, int]:
        unique = {r.external_id: r for r in releases}
        if not unique:
            return {}
        now = datetime.now(UTC)
        rows = [
            {
                "source_id": self.source.id,
                "external_id": r.external_id,
                "scope": r.scope,
                "name": r.name,
                "due_date": r.due_date,
                "released": r.released,
                "url": r.url,
                "remote_updated_at": now,
                "raw": dict(r.raw) if r.raw is not None and self.keep_raw else None,
            }
            for r in unique.values()
        ]
        stmt = insert_for(self.session, Release.__table__)
        stmt = stmt.on_conflict_do_update(
            index_elements=["source_id", "external_id"],
            set_={c: stmt.excluded[c] for c in ("scope", "name", "due_date", "released", "url", "raw")},
        )
        self.session.execute(stmt, rows)
        return dict(
            self.session.execute(
                select(Release.external_id, Release.id).where(
                    Release.source_id == self.source.id, Release.external_id.in_(unique)
                )
            ).all()
        )

    def upsert_sprints(self, sprints: Iterable[SprintRecord]) -> dict[str, int]:
        unique = {s.external_id: s for s in sprints}
        if not unique:
            return {}
        rows = [
            {
                "source_id": self.source.id,
                "external_id": s.external_id,
                "name": s.name,
                "state": s.state,
                "start_at": s.start,
                "end_at": s.end,
                "remote_updated_at": datetime.now(UTC),
            }
            for s in unique.values()
        ]
        stmt = insert_for(self.session, Sprint.__table__)
        stmt = stmt.on_conflict_do_update(
            index_elements=["source_id", "external_id"],
            set_={c: stmt.excluded[c] for c in ("name", "state", "start_at", "end_at")},
        )
        self.session.execute(stmt, rows)
        return dict(
            self.session.execute(
                select(Sprint.external_id, Sprint.id).where(
                    Sprint.source_id == self.source.id, Sprint.external_id.in_(unique)
                )
            ).all()
        )

    # -- items -------------------------------------------------------------------------------

    def write(self, records: Sequence[WorkItemRecord]) -> WriteResult:
        result = WriteResult(seen=len(records))
        if not records:
            return result
        # Within one batch the newest payload of an item wins (a page may repeat an item).
        newest: dict[str, WorkItemRecord] = {}
        for rec in records:
            held = newest.get(rec.external_id)
            if held is None or rec.updated_at >= held.updated_at:
                newest[rec.external_id] = rec
        batch = list(newest.values())

        sprint_ids = self.upsert_sprints(r.sprint for r in batch if r.sprint is not None)
        release_ids = self.upsert_releases(rel for r in batch for rel in r.releases)
        before = {
            ext: (item_id, status, category, key)
            for ext, item_id, status, category, key in self.session.execute(
                select(
                    WorkItem.external_id,
                    WorkItem.id,
                    WorkItem.original_status,
                    WorkItem.status_category,
                    WorkItem.key,
                ).where(WorkItem.source_id == self.source.id, WorkItem.external_id.in_(newest))
            )
        }

        now = datetime.now(UTC)
        applied: dict[str, int] = {}
        # Records that cannot tell some fields (partial payloads) must not overwrite them: one
        # statement per set of unknown fields (almost always a single group).
        groups: dict[frozenset[str], list[WorkItemRecord]] = {}
        for r in batch:
            groups.setdefault(r.unknown_fields, []).append(r)
        for unknown, members in groups.items():
            rows = [self._row(r, sprint_ids, now) for r in members]
            keep = {_COLUMN_OF.get(f, f) for f in unknown} | {"source_id", "external_id"}
            # Core table + rows as executemany parameters (not ``.values(rows)`` on the entity): a
            # multi-row VALUES clause is compiled afresh for every batch (a bind parameter object per
            # cell) and the ORM bulk path with RETURNING sends one statement per row; this form is
            # compiled once (cached) and sent as a few multi-row statements ("insertmanyvalues").
            stmt = insert_for(self.session, WorkItem.__table__)
            stmt = stmt.on_conflict_do_update(
                index_elements=["source_id", "external_id"],
                set_={c: stmt.excluded[c] for c in rows[0] if c not in keep},
                # The guard: never let an older payload overwrite a newer one.
                where=WorkItem.remote_updated_at <= stmt.excluded.remote_updated_at,
            ).returning(WorkItem.external_id, WorkItem.id)
            applied.update(self.session.execute(stmt, rows).all())

        for ext in newest:
            if ext not in applied:
                result.stale += 1
            elif ext in before:
                result.updated += 1
            else:
                result.created += 1
        if not applied:
            return result
        applied_records = [r for r in batch if r.external_id in applied]
        for r in applied_records:
            old_key = before[r.external_id][3] if r.external_id in before else None
            if old_key is not None and old_key != r.key:  # moved (Jira) or transferred: same id, new key
                follow_rename(self.session, applied[r.external_id], r.tracker, old_key, r.key)

        self._replace_releases(applied_records, applied, release_ids)
        result.links = self._replace_links(applied_records, applied, now)
        self._write_history(applied_records, applied, before)
        resolve_references(self.session, item_ids=list(applied.values()))
        return result

    def _row(self, r: WorkItemRecord, sprint_ids: dict[str, int], now: datetime) -> dict[str, Any]:
        return {
            "source_id": self.source.id,
            "external_id": r.external_id,
            "tracker": r.tracker,
            "key": r.key,
            "url": r.url,
            "title": r.title,
            "scope": r.scope,
            "kind": r.kind,
            "original_type": r.original_type,
            "status_category": r.status_category,
            "original_status": r.original_status,
            "resolution": r.resolution,
            "original_resolution": r.original_resolution,
            "assignee_id": self.persons.person_id(r.assignee),
            "team_id": self.teams.team_for(r),
            "parent_key": r.parent.key if r.parent else None,
            "parent_id": None,  # resolved right after, from parent_key
            "sprint_id": sprint_ids.get(r.sprint.external_id) if r.sprint else None,
            "estimate": r.estimate,
            "labels": list(r.labels),
            "start_date": r.start_date,
            "due_date": r.due_date,
            "remote_created_at": r.created_at,
            "remote_updated_at": r.updated_at,
            "resolved_at": r.resolved_at,
            "deleted_at": None,
            "raw": dict(r.raw) if r.raw is not None and self.keep_raw else None,
            "synced_at": now,
        }

    def _replace_releases(
        self, records: Sequence[WorkItemRecord], applied: dict[str, int], release_ids: dict[str, int]
    ) -> None:
        ids = [applied[r.external_id] for r in records]
        self.session.execute(delete(WorkItemRelease).where(WorkItemRelease.work_item_id.in_(ids)))
        pairs = {
            (applied[r.external_id], release_ids[rel.external_id])
            for r in records
            for rel in r.releases
            if rel.external_id in release_ids
        }
        if pairs:
            self.session.execute(
                insert_for(self.session, WorkItemRelease.__table__),
                [{"work_item_id": w, "release_id": rel} for w, rel in sorted(pairs)],
            )

    def _replace_links(
        self, records: Sequence[WorkItemRecord], applied: dict[str, int], now: datetime
    ) -> int:
        owned_conditions = []
        for origin in LinkOrigin:
            holders = [r for r in records if origin in r.links_complete]
            if not holders:
                continue
            ids = [applied[r.external_id] for r in holders]
            cond: ColumnElement[bool] = Link.declared_by_id.in_(ids)
            if origin in _SHARED_ORIGINS:
                keys = [(r.tracker, r.key) for r in holders]
                cond = or_(
                    cond,
                    Link.from_item_id.in_(ids),
                    Link.to_item_id.in_(ids),
                    tuple_(Link.from_tracker, Link.from_key).in_(keys),
                    tuple_(Link.to_tracker, Link.to_key).in_(keys),
                )
            owned_conditions.append(and_(Link.origin == origin, cond))
        if owned_conditions:
            self.session.execute(delete(Link).where(Link.source_id == self.source.id, or_(*owned_conditions)))
        rows: dict[str, dict[str, Any]] = {}
        for r in records:
            for link in r.links:
                ext = link_external_id(link)
                rows[ext] = {
                    "source_id": self.source.id,
                    "external_id": ext,
                    "type": link.type,
                    "origin": link.origin,
                    "original_label": link.original_label,
                    "from_tracker": link.source.tracker,
                    "from_key": link.source.key,
                    "to_tracker": link.target.tracker,
                    "to_key": link.target.key,
                    "declared_by_id": applied[r.external_id],
                    "remote_updated_at": r.updated_at,
                    "created_at": now,
                }
        if rows:
            stmt = insert_for(self.session, Link.__table__)
            stmt = stmt.on_conflict_do_update(
                index_elements=["source_id", "external_id"],
                set_={
                    c: stmt.excluded[c]
                    for c in (
                        "type",
                        "original_label",
                        "from_tracker",
                        "from_key",
                        "to_tracker",
                        "to_key",
                        "declared_by_id",
                        "remote_updated_at",
                    )
                },
            )
            self.session.execute(stmt, list(rows.values()))
        return len(rows)

    def _write_history(
        self,
        records: Sequence[WorkItemRecord],
        applied: dict[str, int],
        before: dict[str, tuple[int, str, StatusCategory, str]],
    ) -> None:
        rows: list[dict[str, Any]] = []
        for r in records:
            item_id = applied[r.external_id]
            if r.status_history is not None:
                rows.extend(self._history_row(r, item_id, sc) for sc in r.status_history)
            elif r.external_id in before and before[r.external_id][1:3] != (
                r.original_status,
                r.status_category,
            ):
                # No history in this payload (GitHub lists): record the change we observed, incl.
                # a category change under the same status (an open issue that got an assignee).
                rows.append(
                    {
                        "source_id": self.source.id,
                        "external_id": f"observed:{r.external_id}:{r.updated_at.isoformat()}",
                        "work_item_id": item_id,
                        "at": r.updated_at,
                        "from_status": before[r.external_id][1],
                        "to_status": r.original_status,
                        "from_category": before[r.external_id][2],
                        "to_category": r.status_category,
                        "by_person_id": None,
                    }
                )
        if rows:
            self.session.execute(
                insert_for(self.session, StatusChange.__table__).on_conflict_do_nothing(
                    index_elements=["source_id", "external_id"]
                ),
                rows,
            )

    def _history_row(self, r: WorkItemRecord, item_id: int, sc: StatusChangeRecord) -> dict[str, Any]:
        ext = sc.external_id or f"{r.external_id}:{sc.at.isoformat()}:{sc.to_status}"
        return {
            "source_id": self.source.id,
            "external_id": ext,
            "work_item_id": item_id,
            "at": sc.at,
            "from_status": sc.from_status,
            "to_status": sc.to_status,
            "from_category": sc.from_category,
            "to_category": sc.to_category,
            "by_person_id": self.persons.person_id(sc.by),
        }


def follow_rename(session: Session, item_id: int, tracker: TrackerKind, old_key: str, new_key: str) -> None:
    """An item changed key (Jira move, GitHub transfer): mark it and point references at the new key."""
    session.execute(
        update(WorkItem)
        .where(WorkItem.id == item_id)
        .values(key=new_key, moved_from_key=old_key)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Link).where(Link.from_tracker == tracker, Link.from_key == old_key).values(from_key=new_key)
    )
    session.execute(
        update(Link).where(Link.to_tracker == tracker, Link.to_key == old_key).values(to_key=new_key)
    )
    session.execute(
        update(WorkItem)
        .where(WorkItem.tracker == tracker, WorkItem.parent_key == old_key)
        .values(parent_key=new_key)
        .execution_options(synchronize_session=False)
    )


def resolve_references(session: Session, *, item_ids: Sequence[int] | None = None) -> None:
    """Point parents and link ends at items present now (by tracker + key).

    With ``item_ids`` only references from or to those items are resolved (cheap, per batch);
    without, every unresolved reference is retried (end of a run).
    """
    parent = aliased(WorkItem)
    parent_lookup = (
        select(parent.id)
        .where(
            parent.tracker == WorkItem.tracker, parent.key == WorkItem.parent_key, parent.deleted_at.is_(None)
        )
        .limit(1)
        .scalar_subquery()
    )
    target = aliased(WorkItem)

    def lookup(tracker_col: Any, key_col: Any) -> Any:
        return (
            select(target.id)
            .where(target.tracker == tracker_col, target.key == key_col, target.deleted_at.is_(None))
            .limit(1)
            .scalar_subquery()
        )

    if item_ids is None:
        session.execute(
            update(WorkItem)
            .where(WorkItem.parent_key.is_not(None), WorkItem.parent_id.is_(None))
            .values(parent_id=parent_lookup)
            .execution_options(synchronize_session=False)
        )
        for id_col, tracker_col, key_col in (
            (Link.from_item_id, Link.from_tracker, Link.from_key),
            (Link.to_item_id, Link.to_tracker, Link.to_key),
        ):
            session.execute(
                update(Link)
                .where(id_col.is_(None))
                .values({id_col: lookup(tracker_col, key_col)})
                .execution_options(synchronize_session=False)
            )
        return
    if not item_ids:
        return
    keys = session.execute(select(WorkItem.tracker, WorkItem.key).where(WorkItem.id.in_(item_ids))).all()
    key_pairs = [(t, k) for t, k in keys]
    # Parents of these items, and children waiting for these items as their parent.
    session.execute(
        update(WorkItem)
        .where(
            WorkItem.parent_key.is_not(None),
            or_(WorkItem.id.in_(item_ids), tuple_(WorkItem.tracker, WorkItem.parent_key).in_(key_pairs)),
        )
        .values(parent_id=parent_lookup)
        .execution_options(synchronize_session=False)
    )
    for id_col, tracker_col, key_col in (
        (Link.from_item_id, Link.from_tracker, Link.from_key),
        (Link.to_item_id, Link.to_tracker, Link.to_key),
    ):
        session.execute(
            update(Link)
            .where(tuple_(tracker_col, key_col).in_(key_pairs))
            .values({id_col: lookup(tracker_col, key_col)})
            .execution_options(synchronize_session=False)
        )
