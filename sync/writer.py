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

import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import Row, Table, bindparam, delete, func, select, union, update
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import BindParameter

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
from sync.upsert import insert_for, insert_for_dialect

__all__ = [
    "ItemWriter",
    "WriteResult",
    "adopt",
    "follow_rename",
    "ids_by_key",
    "link_external_id",
    "resolve_references",
    "waiting_keys",
]

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


_Named = TypeVar("_Named", ReleaseRecord, SprintRecord)


class _Stored(NamedTuple):
    """What the model held for an item before this batch."""

    id: int
    status: str
    category: StatusCategory
    key: str
    deleted_at: datetime | None


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
    def __init__(
        self,
        session: Session,
        source: Source,
        *,
        keep_raw: bool = True,
        waiting: set[tuple[TrackerKind, str]] | None = None,
    ) -> None:
        """``waiting``: the keys that rows in the model wait for (:func:`waiting_keys`), for a
        writer that writes many batches (a sync run): only a new item named there needs the
        statements that point waiting rows at it. The writer keeps the set current with what it
        writes itself; rows others write meanwhile are caught by :func:`resolve_references` at
        the end of the run. Without it every new item runs them (a webhook event: one item)."""
        self.session = session
        self.source = source
        self.keep_raw = keep_raw
        self.waiting = waiting
        self.teams = TeamResolver(session, source.id)
        self.persons = PersonResolver(session, source)
        self._sql = _statements(session.get_bind().dialect.name)
        # Releases and sprints written by this writer, as written: a run refers to the same few
        # hundreds again and again, and an unchanged one needs no statement.
        self._releases: dict[str, tuple[ReleaseRecord, int]] = {}
        self._sprints: dict[str, tuple[SprintRecord, int]] = {}

    # -- releases and sprints ---------------------------------------------------------------

    def upsert_releases(self, releases: Iterable[ReleaseRecord]) -> dict[str, int]:
        def row(r: ReleaseRecord, now: datetime) -> dict[str, Any]:
            return {
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

        return self._upsert_named(
            releases, self._releases, row, self._sql.release_upsert, self._sql.release_ids
        )

    def upsert_sprints(self, sprints: Iterable[SprintRecord]) -> dict[str, int]:
        def row(s: SprintRecord, now: datetime) -> dict[str, Any]:
            return {
                "source_id": self.source.id,
                "external_id": s.external_id,
                "name": s.name,
                "state": s.state,
                "start_at": s.start,
                "end_at": s.end,
                "remote_updated_at": now,
            }

        return self._upsert_named(sprints, self._sprints, row, self._sql.sprint_upsert, self._sql.sprint_ids)

    def _upsert_named(
        self,
        records: Iterable[_Named],
        written: dict[str, tuple[_Named, int]],
        row: Callable[[_Named, datetime], dict[str, Any]],
        upsert: Any,
        ids: Any,
    ) -> dict[str, int]:
        """Upsert the records this writer has not written as they are now; their ids by external id."""
        unique = {r.external_id: r for r in records}
        changed = {ext: r for ext, r in unique.items() if ext not in written or written[ext][0] != r}
        if changed:
            now = datetime.now(UTC)
            self.session.execute(upsert, [row(r, now) for r in changed.values()])
            for ext, row_id in self.session.execute(
                ids, {"b_source": self.source.id, "b_ext": list(changed)}
            ):
                written[ext] = (changed[ext], row_id)
        return {ext: written[ext][1] for ext in unique if ext in written}

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
            row[0]: _Stored(*row[1:])
            for row in self.session.execute(
                self._sql.stored, {"b_source": self.source.id, "b_ext": list(newest)}
            )
        }
        # The ids of what the batch points at (parents, link ends), by tracker and key: parents and
        # link ends are written resolved, so no per-batch UPDATE has to look them up again.
        known = ids_by_key(self.session, _references(batch))
        resolved_before = frozenset(known)

        now = datetime.now(UTC)
        applied: dict[str, int] = {}
        # Records that cannot tell some fields (partial payloads) must not overwrite them: one
        # statement per set of unknown fields (almost always a single group).
        groups: dict[frozenset[str], list[WorkItemRecord]] = {}
        for r in batch:
            groups.setdefault(r.unknown_fields, []).append(r)
        for unknown, members in groups.items():
            rows = [self._row(r, sprint_ids, known, now) for r in members]
            stmt = self._sql.item_upsert(unknown, tuple(rows[0]))
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
        fresh: list[tuple[TrackerKind, str]] = []  # keys that now name an item they did not before
        for r in applied_records:
            stored = before.get(r.external_id)
            if stored is not None and stored.key != r.key:  # moved (Jira) or transferred: same id, new key
                follow_rename(self.session, applied[r.external_id], r.tracker, stored.key, r.key)
            if stored is None or stored.deleted_at is not None or stored.key != r.key:
                fresh.append((r.tracker, r.key))
            known[(r.tracker, r.key)] = applied[r.external_id]
        # Parents that arrived in this same batch, after their children's rows were built.
        late_parents = [
            {"b_id": applied[r.external_id], "b_parent": known[(r.tracker, r.parent.key)]}
            for r in applied_records
            if r.parent is not None
            and (r.tracker, r.parent.key) in known
            and (r.tracker, r.parent.key) not in resolved_before
        ]
        if late_parents:
            self.session.execute(_SET_PARENT, late_parents)
        self._replace_releases(applied_records, applied, release_ids)
        result.links = self._replace_links(applied_records, applied, known, now)
        self._write_history(applied_records, applied, before)
        if self.waiting is None:
            adopt(self.session, fresh)
        else:
            awaited = [k for k in fresh if k in self.waiting]
            adopt(self.session, awaited)
            self.waiting.difference_update(awaited)
            self.waiting.update(ref for ref in _references(applied_records) if ref not in known)
        return result

    def _row(
        self,
        r: WorkItemRecord,
        sprint_ids: dict[str, int],
        known: dict[tuple[TrackerKind, str], int],
        now: datetime,
    ) -> dict[str, Any]:
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
            "parent_id": known.get((r.tracker, r.parent.key)) if r.parent else None,
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
        self.session.execute(_DELETE_ITEM_RELEASES, {"b_ids": [applied[r.external_id] for r in records]})
        pairs = {
            (applied[r.external_id], release_ids[rel.external_id])
            for r in records
            for rel in r.releases
            if rel.external_id in release_ids
        }
        if pairs:
            self.session.execute(
                _INSERT_ITEM_RELEASE, [{"work_item_id": w, "release_id": rel} for w, rel in sorted(pairs)]
            )

    def _replace_links(
        self,
        records: Sequence[WorkItemRecord],
        applied: dict[str, int],
        known: dict[tuple[TrackerKind, str], int],
        now: datetime,
    ) -> int:
        # The links these items own per origin whose list their payload has complete: for Jira
        # issue links and GitHub dependencies every link touching the item (both ends list it),
        # for the others the links the item declared. One index-backed select finds candidates
        # (an OR over five columns would defeat the indexes); the ownership rule is applied here.
        holder_ids: dict[LinkOrigin, set[int]] = {}
        holder_keys: dict[LinkOrigin, set[tuple[TrackerKind, str]]] = {}
        for r in records:
            for origin in r.links_complete:
                holder_ids.setdefault(origin, set()).add(applied[r.external_id])
                holder_keys.setdefault(origin, set()).add((r.tracker, r.key))
        if holder_ids:
            ids = sorted({i for group in holder_ids.values() for i in group})
            keys = {k for group in holder_keys.values() for k in group}
            candidates = self.session.execute(
                _LINKS_TOUCHING,
                {
                    "b_ids": ids,
                    "b_trackers": sorted({t for t, _ in keys}),
                    "b_keys": sorted({k for _, k in keys}),
                },
            ).all()
            doomed = [
                c.id
                for c in candidates
                if c.source_id == self.source.id
                and _owned(c, holder_ids.get(c.origin), holder_keys.get(c.origin))
            ]
            if doomed:
                self.session.execute(_DELETE_LINKS, {"b_ids": doomed})
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
                    "from_item_id": known.get((link.source.tracker, link.source.key)),
                    "to_item_id": known.get((link.target.tracker, link.target.key)),
                    "declared_by_id": applied[r.external_id],
                    "remote_updated_at": r.updated_at,
                    "created_at": now,
                }
        if rows:
            self.session.execute(self._sql.link_upsert, list(rows.values()))
        return len(rows)

    def _write_history(
        self,
        records: Sequence[WorkItemRecord],
        applied: dict[str, int],
        before: dict[str, _Stored],
    ) -> None:
        rows: list[dict[str, Any]] = []
        for r in records:
            item_id = applied[r.external_id]
            if r.status_history is not None:
                rows.extend(self._history_row(r, item_id, sc) for sc in r.status_history)
            elif (stored := before.get(r.external_id)) is not None and (stored.status, stored.category) != (
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
                        "from_status": stored.status,
                        "to_status": r.original_status,
                        "from_category": stored.category,
                        "to_category": r.status_category,
                        "by_person_id": None,
                    }
                )
        if rows:
            self.session.execute(self._sql.history_insert, rows)

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


def _references(records: Iterable[WorkItemRecord]) -> set[tuple[TrackerKind, str]]:
    """What records point at by tracker and key: their parents and both ends of their links.

    A parent is looked up in the item's own tracker (as :func:`resolve_references` does)."""
    refs: set[tuple[TrackerKind, str]] = set()
    for r in records:
        if r.parent is not None:
            refs.add((r.tracker, r.parent.key))
        refs.update((end.tracker, end.key) for link in r.links for end in (link.source, link.target))
    return refs


def _owned(link: Row[Any], ids: set[int] | None, keys: set[tuple[TrackerKind, str]] | None) -> bool:
    if not ids or not keys:
        return False
    if link.declared_by_id in ids:
        return True
    return link.origin in _SHARED_ORIGINS and (
        link.from_item_id in ids
        or link.to_item_id in ids
        or (link.from_tracker, link.from_key) in keys
        or (link.to_tracker, link.to_key) in keys
    )


class _Statements:
    """The writer's statements for one database dialect, built once: building and compiling an
    upsert per batch cost more than running it (SQLAlchemy caches the compiled form by the
    statement's structure, but the structure itself is rebuilt each time otherwise)."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        release = self._insert(Release.__table__)
        self.release_upsert = release.on_conflict_do_update(
            index_elements=["source_id", "external_id"],
            set_={c: release.excluded[c] for c in ("scope", "name", "due_date", "released", "url", "raw")},
        )
        sprint = self._insert(Sprint.__table__)
        self.sprint_upsert = sprint.on_conflict_do_update(
            index_elements=["source_id", "external_id"],
            set_={c: sprint.excluded[c] for c in ("name", "state", "start_at", "end_at")},
        )
        self.release_ids = select(Release.__table__.c.external_id, Release.__table__.c.id).where(
            Release.__table__.c.source_id == bindparam("b_source"),
            Release.__table__.c.external_id.in_(bindparam("b_ext", expanding=True)),
        )
        self.sprint_ids = select(Sprint.__table__.c.external_id, Sprint.__table__.c.id).where(
            Sprint.__table__.c.source_id == bindparam("b_source"),
            Sprint.__table__.c.external_id.in_(bindparam("b_ext", expanding=True)),
        )
        w = _WORK_ITEM.c
        self.stored = select(
            w.external_id, w.id, w.original_status, w.status_category, w.key, w.deleted_at
        ).where(w.source_id == bindparam("b_source"), w.external_id.in_(bindparam("b_ext", expanding=True)))
        link = self._insert(_LINK)
        self.link_upsert = link.on_conflict_do_update(
            index_elements=["source_id", "external_id"],
            set_={
                c: link.excluded[c]
                for c in (
                    "type",
                    "original_label",
                    "from_tracker",
                    "from_key",
                    "to_tracker",
                    "to_key",
                    "from_item_id",
                    "to_item_id",
                    "declared_by_id",
                    "remote_updated_at",
                )
            },
        )
        self.history_insert = self._insert(StatusChange.__table__).on_conflict_do_nothing(
            index_elements=["source_id", "external_id"]
        )
        self._item_upserts: dict[tuple[frozenset[str], tuple[str, ...]], Any] = {}

    def _insert(self, table: Any) -> Any:
        return insert_for_dialect(self.dialect, table)

    def item_upsert(self, unknown: frozenset[str], columns: tuple[str, ...]) -> Any:
        """The guarded item upsert of ``columns``, leaving those of ``unknown`` fields as stored."""
        stmt = self._item_upserts.get((unknown, columns))
        if stmt is None:
            keep = {_COLUMN_OF.get(f, f) for f in unknown} | {"source_id", "external_id", "id"}
            insert = self._insert(_WORK_ITEM)
            # Rows go as executemany parameters (not ``.values(rows)``): compiled once, sent as a
            # few multi-row statements ("insertmanyvalues").
            stmt = insert.on_conflict_do_update(
                index_elements=["source_id", "external_id"],
                set_={c: insert.excluded[c] for c in columns if c not in keep},
                # The guard: never let an older payload overwrite a newer one.
                where=_WORK_ITEM.c.remote_updated_at <= insert.excluded.remote_updated_at,
            ).returning(_WORK_ITEM.c.external_id, _WORK_ITEM.c.id)
            self._item_upserts[(unknown, columns)] = stmt
        return stmt


@functools.cache
def _statements(dialect: str) -> _Statements:
    return _Statements(dialect)


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


def ids_by_key(
    session: Session, refs: Iterable[tuple[TrackerKind, str]]
) -> dict[tuple[TrackerKind, str], int]:
    """The live items named by tracker and key: one index-backed select per tracker."""
    found: dict[tuple[TrackerKind, str], int] = {}
    for tracker, keys in _by_tracker(refs).items():
        for chunk in _chunks(keys, _IN_CHUNK):
            found.update(
                ((tracker, key), item_id)
                for key, item_id in session.execute(
                    select(WorkItem.key, WorkItem.id).where(
                        WorkItem.tracker == tracker, WorkItem.key.in_(chunk), WorkItem.deleted_at.is_(None)
                    )
                )
            )
    return found


def adopt(session: Session, keys: Iterable[tuple[TrackerKind, str]]) -> None:
    """Items that now answer to these keys (new, restored or renamed) become the parent and the
    link end of every row that was waiting for them (e.g. a GitHub issue saying "blocked by
    PAY-12" synced before PAY-12)."""
    for tracker, names in _by_tracker(keys).items():
        for chunk in _chunks(names, _IN_CHUNK):
            for stmt in _ADOPT:
                session.execute(stmt, {"b_tracker": tracker, "b_keys": chunk})


def waiting_keys(session: Session) -> set[tuple[TrackerKind, str]]:
    """The (tracker, key) pairs that unresolved parents and link ends in the model point at."""
    w, link = _WORK_ITEM.c, _LINK.c
    rows = session.execute(
        union(
            select(w.tracker, w.parent_key).where(w.parent_id.is_(None), w.parent_key.is_not(None)),
            select(link.from_tracker, link.from_key).where(link.from_item_id.is_(None)),
            select(link.to_tracker, link.to_key).where(link.to_item_id.is_(None)),
        )
    ).all()
    return {(TrackerKind(tracker), key) for tracker, key in rows}


def resolve_references(session: Session) -> None:
    """Point every unresolved parent and link end at the item present now (by tracker + key).

    The writer resolves what a batch touches as it writes; this sweep (end of a run, after
    webhook events) catches the rest, e.g. a parent restored after its child was written.
    """
    session.execute(
        update(WorkItem)
        .where(WorkItem.parent_key.is_not(None), WorkItem.parent_id.is_(None))
        .values(parent_id=_PARENT_LOOKUP)
        .execution_options(synchronize_session=False)
    )
    for id_col, tracker_col, key_col in _LINK_ENDS:
        session.execute(
            update(Link)
            .where(id_col.is_(None))
            .values({id_col: _lookup(tracker_col, key_col)})
            .execution_options(synchronize_session=False)
        )


_PARENT = aliased(WorkItem, name="parent_item")
_TARGET = aliased(WorkItem, name="target_item")
_PARENT_LOOKUP = (
    select(_PARENT.id)
    .where(
        _PARENT.tracker == WorkItem.tracker, _PARENT.key == WorkItem.parent_key, _PARENT.deleted_at.is_(None)
    )
    .limit(1)
    .scalar_subquery()
)
_LINK_ENDS = (
    (Link.from_item_id, Link.from_tracker, Link.from_key),
    (Link.to_item_id, Link.to_tracker, Link.to_key),
)
_IN_CHUNK = 500
_WORK_ITEM: Table = WorkItem.__table__  # type: ignore[assignment]
_LINK: Table = Link.__table__  # type: ignore[assignment]
#: Built once (bound parameters, expanding IN): a statement compiled per batch costs more than it runs.
_ITEM_RELEASE: Table = WorkItemRelease.__table__  # type: ignore[assignment]
_DELETE_ITEM_RELEASES = delete(_ITEM_RELEASE).where(
    _ITEM_RELEASE.c.work_item_id.in_(bindparam("b_ids", expanding=True))
)
_INSERT_ITEM_RELEASE = _ITEM_RELEASE.insert()
_DELETE_LINKS = delete(_LINK).where(_LINK.c.id.in_(bindparam("b_ids", expanding=True)))
_LINK_COLUMNS = (
    _LINK.c.id,
    _LINK.c.source_id,
    _LINK.c.origin,
    _LINK.c.declared_by_id,
    _LINK.c.from_item_id,
    _LINK.c.to_item_id,
    _LINK.c.from_tracker,
    _LINK.c.from_key,
    _LINK.c.to_tracker,
    _LINK.c.to_key,
)
_B_IDS: BindParameter[Any] = bindparam("b_ids", expanding=True)
_B_TRACKERS: BindParameter[Any] = bindparam("b_trackers", expanding=True)
_B_KEYS: BindParameter[Any] = bindparam("b_keys", expanding=True)
#: Links touching items (by id or by tracker + key), each branch served by an index.
_LINKS_TOUCHING = union(
    select(*_LINK_COLUMNS).where(_LINK.c.declared_by_id.in_(_B_IDS)),
    select(*_LINK_COLUMNS).where(_LINK.c.from_item_id.in_(_B_IDS)),
    select(*_LINK_COLUMNS).where(_LINK.c.to_item_id.in_(_B_IDS)),
    select(*_LINK_COLUMNS).where(_LINK.c.from_tracker.in_(_B_TRACKERS), _LINK.c.from_key.in_(_B_KEYS)),
    select(*_LINK_COLUMNS).where(_LINK.c.to_tracker.in_(_B_TRACKERS), _LINK.c.to_key.in_(_B_KEYS)),
)
_SET_PARENT = (
    update(_WORK_ITEM).where(_WORK_ITEM.c.id == bindparam("b_id")).values(parent_id=bindparam("b_parent"))
)


def _lookup(tracker_col: Any, key_col: Any) -> Any:
    return (
        select(_TARGET.id)
        .where(_TARGET.tracker == tracker_col, _TARGET.key == key_col, _TARGET.deleted_at.is_(None))
        .limit(1)
        .scalar_subquery()
    )


def _by_tracker(refs: Iterable[tuple[TrackerKind, str]]) -> dict[TrackerKind, list[str]]:
    out: dict[TrackerKind, set[str]] = {}
    for tracker, key in refs:
        out.setdefault(tracker, set()).add(key)
    return {tracker: sorted(keys) for tracker, keys in out.items()}


def _chunks(seq: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(seq), size):
        yield seq[start : start + size]


_ADOPT = (
    update(WorkItem)
    .where(
        WorkItem.tracker == bindparam("b_tracker"),
        WorkItem.parent_key.in_(bindparam("b_keys", expanding=True)),
    )
    .values(parent_id=_PARENT_LOOKUP)
    .execution_options(synchronize_session=False),
    *(
        update(Link)
        .where(tracker_col == bindparam("b_tracker"), key_col.in_(bindparam("b_keys", expanding=True)))
        .values({id_col: _lookup(tracker_col, key_col)})
        .execution_options(synchronize_session=False)
        for id_col, tracker_col, key_col in _LINK_ENDS
    ),
)
