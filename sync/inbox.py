"""The webhook inbox (PRODUCT §5.2): store verified deliveries fast, apply them in a worker.

Intake (:func:`store_delivery`) does no tracker call: it inserts one ``inbound_event`` row with
``ON CONFLICT (source_id, delivery_id) DO NOTHING`` (a redelivery is recognised and dropped) and
returns. The worker (:class:`InboxProcessor`) applies pending rows through the same guarded
writer as the sync (an old delivery can never move an item back in time; applying one twice
changes nothing), re-fetches what partial payloads lack, and retries failures with backoff.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Text, cast, or_, select, update
from sqlalchemy.orm import Session, defer, sessionmaker

from connectors.base import Connector, SupportsRedelivery
from connectors.errors import ConnectorError, Gone, Moved, NotFound
from connectors.records import ItemRef, TrackerKind, WebhookEvent, WorkItemRecord
from sync.db import write_session
from sync.engine import mark_deleted, move_item, rename_item
from sync.model import InboundEvent, Source, WorkItem
from sync.programs import recompute_program_membership as recompute_membership
from sync.writer import ItemWriter, resolve_references

__all__ = [
    "DeliveryMeta",
    "InboxClosed",
    "InboxIntake",
    "InboxProcessor",
    "SourceNotLoaded",
    "delivery_meta",
    "redeliver_failed",
    "store_deliveries",
    "store_delivery",
]

log = logging.getLogger("crosstrack.sync.inbox")

MAX_ATTEMPTS = 12
SETTLE_SECONDS = 3.0  # with exponential backoff capped at an hour: about half a day of retries


@dataclass(frozen=True, slots=True)
class DeliveryMeta:
    delivery_id: str
    event_type: str
    action: str | None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def delivery_meta(
    kind: TrackerKind, headers: Mapping[str, str], body: bytes, payload: Mapping[str, Any]
) -> DeliveryMeta:
    """Delivery id and event type, from the headers each tracker sends (a body digest if absent)."""
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    if kind is TrackerKind.GITHUB:
        event = _header(headers, "X-GitHub-Event") or "unknown"
        action = payload.get("action")
        return DeliveryMeta(
            _header(headers, "X-GitHub-Delivery") or digest, event, str(action) if action else None
        )
    event = str(payload.get("webhookEvent") or "unknown")
    return DeliveryMeta(_header(headers, "X-Atlassian-Webhook-Identifier") or digest, event, None)


@dataclass(frozen=True, slots=True)
class Delivery:
    """A verified delivery on its way into the inbox.

    ``body``: the delivery's raw JSON text when at hand (the intake has it): stored as it came
    instead of serializing ``payload`` again.
    """

    source_id: int
    meta: DeliveryMeta
    payload: Mapping[str, Any]
    body: bytes | None = None


#: Deliveries per INSERT statement (7 parameters each: far below SQLite's 32,766 and
#: PostgreSQL's 65,535 parameter limits).
_INSERT_ROWS = 500


def store_deliveries(session: Session, deliveries: Sequence[Delivery]) -> list[bool]:
    """Insert deliveries into the inbox; per delivery, False for a redelivery.

    One ``INSERT … VALUES (…), (…) ON CONFLICT (source_id, delivery_id) DO NOTHING RETURNING``
    per 500 deliveries: the rows that come back are the new ones. The same delivery twice in
    ``deliveries`` is stored once (the first wins).

    This is the hot path of the webhook intake (PRODUCT §10: ≥ 1,000 deliveries/s), so it talks
    to the driver: a multi-row statement built once per batch size, the JSON body passed through
    as text (PostgreSQL parses it into ``jsonb``; SQLite's JSON column is text), and the timestamp
    through the column type's own bind processor, so rows read back exactly like ORM-written ones.
    """
    now = datetime.now(UTC)
    dialect = session.get_bind().dialect
    to_db = InboundEvent.__table__.c.received_at.type.bind_processor(dialect)
    received_at = to_db(now) if to_db is not None else now
    params: list[Any] = []
    seen: set[tuple[int, str]] = set()
    for d in deliveries:
        key = (d.source_id, d.meta.delivery_id)
        if key in seen:
            continue
        seen.add(key)
        body = d.body if d.body is not None else orjson.dumps(dict(d.payload))
        params.append(
            (
                d.source_id,
                d.meta.delivery_id,
                d.meta.event_type[:64],
                d.meta.action[:64] if d.meta.action else None,
                body.decode(),
                received_at,
            )
        )
    inserted: set[tuple[int, str]] = set()
    connection = session.connection()
    for start in range(0, len(params), _INSERT_ROWS):
        part = params[start : start + _INSERT_ROWS]
        sql = _insert_sql(dialect.name, len(part))
        flat = [value for row in part for value in row]
        rows = connection.exec_driver_sql(sql, tuple(flat)).all()
        inserted.update((int(sid), str(did)) for sid, did in rows)
    out: list[bool] = []
    for d in deliveries:
        key = (d.source_id, d.meta.delivery_id)
        out.append(key in inserted)
        inserted.discard(key)  # a second copy in the same batch is a redelivery
    # Source.last_webhook_at is kept by the worker: updating one shared row per delivery here
    # would serialize concurrent deliveries on that row.
    return out


@functools.lru_cache(maxsize=64)
def _insert_sql(dialect: str, rows: int) -> str:
    if dialect == "postgresql":
        one = "(%s, %s, %s, %s, %s::jsonb, %s, 0)"
    elif dialect == "sqlite":
        one = "(?, ?, ?, ?, ?, ?, 0)"
    else:
        raise RuntimeError(f"unsupported database {dialect!r}: crosstrack runs on SQLite or PostgreSQL")
    values = ", ".join([one] * rows)  # placeholders only: the values travel as parameters
    columns = "source_id, delivery_id, event_type, action, payload, received_at, attempts"
    return (
        f"INSERT INTO inbound_event ({columns}) VALUES {values}"  # noqa: S608
        " ON CONFLICT (source_id, delivery_id) DO NOTHING RETURNING source_id, delivery_id"
    )


def store_delivery(session: Session, source: Source, meta: DeliveryMeta, payload: Mapping[str, Any]) -> bool:
    """Insert one delivery into the inbox; False when it was already there (a redelivery)."""
    return store_deliveries(session, [Delivery(source.id, meta, payload)])[0]


class SourceNotLoaded(LookupError):
    """The config names the source but the database has no row for it yet (config not applied)."""


class InboxClosed(RuntimeError):
    """The intake was stopped (the server is shutting down): the tracker should retry later."""


@dataclass(slots=True)
class _Pending:
    source: str
    meta: DeliveryMeta
    payload: Mapping[str, Any]
    body: bytes | None
    future: Future[bool] = field(default_factory=Future)


_STOP = object()


class InboxIntake:
    """Group commit for the webhook intake: one writer thread stores many deliveries per transaction.

    A request thread (or the event loop) calls :meth:`submit` and waits on the returned future;
    the writer takes everything queued (up to ``max_batch``), inserts it in one transaction, commits,
    and only then resolves the futures, so a 202 is never sent for a delivery that is not committed
    (docs/adr/0011). While one batch commits the next one queues: under load a transaction carries
    many deliveries, at rest each delivery gets its own at once (no waiting for a batch to fill).

    ``defer`` runs inside each transaction that inserted something (scaled out: queue the inbox job
    on the same connection, so the job exists if and only if the rows do); ``on_stored`` after each
    commit (single node: wake the inbox worker). Source ids are cached for ``source_ttl`` seconds
    (a source row is only ever added by a config apply; a stale id fails the insert and is dropped).
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        defer: Callable[[Session], None] | None = None,
        on_stored: Callable[[], None] | None = None,
        max_batch: int = 500,
        source_ttl: float = 30.0,
    ) -> None:
        self.sessions = sessions
        self.defer = defer
        self.on_stored = on_stored
        self.max_batch = max_batch
        self.source_ttl = source_ttl
        self._queue: queue.SimpleQueue[_Pending | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False
        self._source_ids: dict[str, tuple[int, float]] = {}

    def submit(
        self, source: str, meta: DeliveryMeta, payload: Mapping[str, Any], body: bytes | None = None
    ) -> Future[bool]:
        """Queue a verified delivery; the future says True (stored) or False (a redelivery) once
        committed, or raises :class:`SourceNotLoaded`, :class:`InboxClosed` or the database error."""
        pending = _Pending(source, meta, payload, body)
        self._ensure_started()
        self._queue.put(pending)
        return pending.future

    def _ensure_started(self) -> None:
        if self._thread is not None and not self._closed:
            return
        with self._start_lock:
            if self._closed:
                raise InboxClosed("the webhook intake is shut down; deliver again later")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="crosstrack-intake", daemon=True)
                self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Store what is queued, then end the writer; later submits raise :class:`InboxClosed`."""
        with self._start_lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._queue.put(_STOP)
            thread.join(timeout)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch: list[_Pending] = []
            item = self._queue.get()
            while True:
                if item is _STOP:
                    stopping = True
                elif isinstance(item, _Pending):
                    batch.append(item)
                if len(batch) >= self.max_batch:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._write(batch)
        # Anything submitted while stopping (a race with stop()) is refused, never dropped silently.
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, _Pending):
                item.future.set_exception(InboxClosed("the webhook intake is shut down"))

    def _write(self, batch: list[_Pending]) -> None:
        try:
            outcomes = self._store(batch)
        except Exception as exc:
            if len(batch) == 1:
                # The type and the driver's message only: SQLAlchemy's text carries the parameters.
                detail = f"{type(exc).__name__}: {getattr(exc, 'orig', None) or exc}"[:300]
                log.error(
                    "inbox.intake.failed", extra={"delivery": batch[0].meta.delivery_id, "error": detail}
                )
                self._source_ids.clear()
                batch[0].future.set_exception(_sanitized())
                return
            # One bad delivery (a payload the database refuses) must not fail the others: store
            # them one by one.
            self._source_ids.clear()
            for pending in batch:
                self._write([pending])
            return
        for pending, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                pending.future.set_exception(outcome)
            else:
                pending.future.set_result(outcome)
        if self.on_stored is not None and any(o is True for o in outcomes):
            self.on_stored()

    def _store(self, batch: list[_Pending]) -> list[bool | BaseException]:
        # SQLite: queue behind the inbox worker in process order instead of in the busy handler.
        with write_session(self.sessions) as session:
            ids = self._ids(session, {p.source for p in batch})
            known = [p for p in batch if p.source in ids]
            stored = store_deliveries(
                session, [Delivery(ids[p.source], p.meta, p.payload, p.body) for p in known]
            )
            if self.defer is not None and any(stored):
                self.defer(session)
                _raise_if_aborted(session)
            session.commit()  # durable before any 202 (docs/adr/0011)
        by_pending = dict(zip(map(id, known), stored, strict=True))
        return [
            by_pending[id(p)]
            if id(p) in by_pending
            else SourceNotLoaded(f"source {p.source!r} is not loaded into the database yet")
            for p in batch
        ]

    def _ids(self, session: Session, names: set[str]) -> dict[str, int]:
        now = time.monotonic()
        out: dict[str, int] = {}
        missing: list[str] = []
        for name in names:
            cached = self._source_ids.get(name)
            if cached is not None and cached[1] > now:
                out[name] = cached[0]
            else:
                missing.append(name)
        if missing:
            for sid, name in session.execute(select(Source.id, Source.name).where(Source.name.in_(missing))):
                out[name] = sid
                self._source_ids[name] = (sid, now + self.source_ttl)
        return out


def _raise_if_aborted(session: Session) -> None:
    """PostgreSQL answers COMMIT in an aborted transaction with ROLLBACK, and psycopg does not
    raise: a failed statement on the driver connection (the job defer) would turn our commit into
    a silent loss of deliveries about to be answered 202. Fail the batch instead."""
    raw = session.connection().connection.driver_connection
    status = getattr(getattr(raw, "info", None), "transaction_status", None)
    if status is not None and int(status) == _PQ_TRANSACTION_INERROR:
        raise RuntimeError("the intake transaction was aborted by the job defer")


_PQ_TRANSACTION_INERROR = 3  # libpq PQTRANS_INERROR (psycopg.pq.TransactionStatus.INERROR)


def _sanitized() -> Exception:
    """What a request learns of a failed insert: no SQL, no payload (they may hold secrets)."""
    return RuntimeError("the delivery could not be stored; it was not accepted")


#: One inbox transaction applies events until it has held the database this long, then commits:
#: SQLite has a single writer and the webhook intake queues behind it (PRODUCT §10: p99 ≤ 50 ms).
BATCH_SECONDS = 0.015
#: Events prepared (parsed, partial payloads re-fetched) before a chunk is applied; the time bound
#: keeps the first events of a chunk from waiting long on the re-fetches of the others.
BATCH_EVENTS = 100
#: Item events written in one ItemWriter.write at most. A write has a fixed cost of several
#: milliseconds (reference resolution) whatever its size, so groups are as large as a chunk; the
#: BATCH_SECONDS budget is checked between writes.
GROUP_EVENTS = 100
PREPARE_SECONDS = 0.25


@dataclass(slots=True)
class _Prepared:
    """An inbox row made ready outside any transaction: parsed, partial payloads re-fetched."""

    event_id: int
    source_id: int
    delivery_id: str
    connector: Connector | None = None
    parsed: WebhookEvent | None = None
    fetched: dict[str, WorkItemRecord | ConnectorError] = field(default_factory=dict)
    error: Exception | None = None


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(3600, 2 ** min(attempts, 12)))


class InboxProcessor:
    """Applies pending inbox rows. One runs at a time (procrastinate lock "inbox"; one inbox
    thread on a single node); a row found handled when it is applied is skipped."""

    def __init__(self, sessions: sessionmaker[Session], connector_for: Callable[[str], Connector]) -> None:
        self.sessions = sessions
        self.connector_for = connector_for

    def process_pending(self, limit: int = 200) -> int:
        """Apply up to ``limit`` due events; return how many were handled (applied or ignored).

        Network work (parsing that needs discovery, re-fetching partial payloads) happens outside
        any database transaction. Events are then applied many per transaction, each in its own
        savepoint: one failing event is rolled back alone, recorded on its row and retried with
        backoff, and never blocks the others. A transaction ends once it has held the database for
        ``BATCH_SECONDS``: on a single-node SQLite install the webhook intake waits behind it.
        """
        # A plain read (SQLite: a deferred transaction, a WAL reader that neither waits for nor
        # blocks the intake's writes), the payload as the JSON text stored: parsed once, by the
        # connector, not decoded and re-encoded on the way.
        now = datetime.now(UTC)
        reader = self._engine.execution_options(sqlite_begin="DEFERRED")
        with reader.connect() as conn:
            due = conn.execute(
                select(
                    InboundEvent.id,
                    InboundEvent.source_id,
                    InboundEvent.event_type,
                    InboundEvent.delivery_id,
                    cast(InboundEvent.payload, Text),
                    InboundEvent.received_at,
                )
                .where(
                    InboundEvent.handled_at.is_(None),
                    InboundEvent.attempts < MAX_ATTEMPTS,
                    or_(InboundEvent.next_attempt_at.is_(None), InboundEvent.next_attempt_at <= now),
                )
                .order_by(InboundEvent.id)
                .limit(limit)
            ).all()
            names: dict[int, str] = {row.id: row.name for row in conn.execute(select(Source.id, Source.name))}
        if not due:
            if self._dirty:  # nothing new: settle what the last deliveries changed once it is due
                with write_session(self.sessions) as session:
                    self.settle(session)
                    session.commit()
            return 0
        handled = 0
        last_seen: dict[int, datetime] = {}
        position = 0
        while position < len(due):
            # Prepare a chunk (network allowed), then apply it (database only).
            chunk: list[_Prepared] = []
            started = time.monotonic()
            while (
                position < len(due)
                and len(chunk) < BATCH_EVENTS
                and time.monotonic() - started < PREPARE_SECONDS
            ):
                event_id, source_id, event_type, delivery_id, body, received_at = due[position]
                position += 1
                chunk.append(
                    self._prepare(event_id, source_id, names[source_id], event_type, delivery_id, body)
                )
                last_seen[source_id] = max(received_at, last_seen.get(source_id, received_at))
            handled += self._apply_chunk(chunk)
        with write_session(self.sessions) as session:
            for source_id, at in last_seen.items():
                session.execute(
                    update(Source)
                    .where(
                        Source.id == source_id,
                        or_(Source.last_webhook_at.is_(None), Source.last_webhook_at < at),
                    )
                    .values(last_webhook_at=at)
                )
            self.settle(session)
            session.commit()
        return handled

    @property
    def _engine(self) -> Any:
        return self.sessions.kw["bind"]

    def _prepare(
        self,
        event_id: int,
        source_id: int,
        name: str,
        event_type: str,
        delivery_id: str,
        body: str,
    ) -> _Prepared:
        prepared = _Prepared(event_id, source_id, delivery_id)
        try:
            connector = self.connector_for(name)
            prepared.connector = connector
            headers = {
                "X-GitHub-Event": event_type,
                "X-GitHub-Delivery": delivery_id,
                "X-Atlassian-Webhook-Identifier": delivery_id,
            }
            parsed = connector.parse_webhook(headers, body.encode())
            prepared.parsed = parsed
            if not parsed.ignored_reason:
                prepared.fetched = _prefetch(connector, parsed)
        except Exception as exc:  # recorded on the row, retried with backoff
            prepared.error = exc
        return prepared

    def _apply_chunk(self, chunk: list[_Prepared]) -> int:
        units = _units(chunk)
        handled = 0
        position = 0
        while position < len(units):
            begun = position
            try:
                with write_session(self.sessions) as session:
                    started = time.monotonic()
                    # The rows' state only (the payload was read already and is large).
                    ids = [p.event_id for unit in units[position:] for p in unit]
                    rows = {
                        r.id: r
                        for r in session.scalars(
                            select(InboundEvent)
                            .options(defer(InboundEvent.payload))
                            .where(InboundEvent.id.in_(ids))
                        )
                    }
                    writers: dict[int, ItemWriter] = {}
                    count = 0
                    while position < len(units):
                        unit = units[position]
                        position += 1
                        if len(unit) == 1:
                            count += self._apply_one(session, rows.get(unit[0].event_id), unit[0], writers)
                        else:
                            count += self._apply_group(session, rows, unit, writers)
                        if time.monotonic() - started >= BATCH_SECONDS:
                            break
                    session.commit()
                handled += count
            except Exception:
                # Something outside the events' savepoints failed (the commit itself, a lost
                # connection): redo this part one event per transaction, so that a bad one cannot
                # hold back the rest.
                events = [p for unit in units[begun:position] for p in unit]
                if len(events) == 1:
                    self._record_failure(events[0])
                else:
                    for prepared in events:
                        handled += self._apply_chunk([prepared])
        return handled

    def _apply_group(
        self,
        session: Session,
        rows: dict[int, InboundEvent],
        group: list[_Prepared],
        writers: dict[int, ItemWriter],
    ) -> int:
        """Write the items of consecutive item events of one source in a few ``ItemWriter.write``
        calls (what a sync does with a page; see :func:`_waves`); if that fails, apply them one by
        one to find the bad one."""
        live = [p for p in group if (row := rows.get(p.event_id)) is not None and row.handled_at is None]
        if not live:
            return 0
        try:
            with session.begin_nested():
                source = session.get(Source, live[0].source_id)
                assert source is not None
                writer = writers.get(source.id)
                if writer is None:
                    writer = writers[source.id] = ItemWriter(session, source)
                records = [p.parsed.item for p in live if p.parsed is not None and p.parsed.item]
                for wave in _waves(session, source.id, records):
                    writer.write(wave)
        except Exception:
            writers.pop(live[0].source_id, None)
            return sum(self._apply_one(session, rows.get(p.event_id), p, writers) for p in live)
        self._dirty = True
        now = datetime.now(UTC)
        for p in live:
            row = rows[p.event_id]
            row.attempts += 1
            row.handled_at = now
            row.last_error = None
            row.next_attempt_at = None
        return len(live)

    def _apply_one(
        self,
        session: Session,
        row: InboundEvent | None,
        prepared: _Prepared,
        writers: dict[int, ItemWriter],
    ) -> int:
        if row is None or row.handled_at is not None:
            return 0  # another worker got there first, or a duplicate
        row.attempts += 1
        error = prepared.error
        parsed = prepared.parsed
        if error is None and parsed is not None and not parsed.ignored_reason:
            assert prepared.connector is not None
            try:
                with session.begin_nested():
                    source = session.get(Source, prepared.source_id)
                    assert source is not None
                    writer = writers.get(source.id)
                    if writer is None:
                        writer = writers[source.id] = ItemWriter(session, source)
                    if apply_event(
                        session, source, prepared.connector, parsed, prepared.fetched, writer=writer
                    ):
                        self._dirty = True
            except Exception as exc:
                error = exc
                # Its caches (persons, teams) may name rows the savepoint just rolled back.
                writers.pop(prepared.source_id, None)
        if error is None:
            row.handled_at = datetime.now(UTC)
            row.last_error = None
            row.next_attempt_at = None
            return 1
        self._note_failure(row, error, prepared.delivery_id)
        return 0

    def _record_failure(self, prepared: _Prepared) -> None:
        """The event's own transaction failed: count the attempt and schedule the retry anyway."""
        error = prepared.error or RuntimeError("the transaction applying this event failed")
        try:
            with write_session(self.sessions) as session:
                row = session.get(InboundEvent, prepared.event_id)
                if row is not None and row.handled_at is None:
                    row.attempts += 1
                    self._note_failure(row, error, prepared.delivery_id)
                    session.commit()
        except Exception:
            log.exception("inbox.event.unrecordable", extra={"delivery": prepared.delivery_id})

    @staticmethod
    def _note_failure(row: InboundEvent, error: BaseException, delivery_id: str) -> None:
        row.last_error = f"{type(error).__name__}: {error}"[:2000]
        row.next_attempt_at = datetime.now(UTC) + _backoff(row.attempts)
        level = logging.WARNING if isinstance(error, ConnectorError) else logging.ERROR
        log.log(level, "inbox.event.failed", extra={"delivery": delivery_id, "error": row.last_error})

    _dirty: bool = False
    _settled_at: float = 0.0

    def settle(self, session: Session, *, force: bool = False) -> None:
        """Resolve references and recompute program membership after applied events.

        Membership is a whole-model pass: done at most every ``SETTLE_SECONDS`` (the item changes
        themselves are visible at once; membership follows within seconds).
        """
        if not self._dirty:
            return
        now = time.monotonic()
        if not force and now - self._settled_at < SETTLE_SECONDS:
            return
        resolve_references(session)
        recompute_membership(session)
        self._dirty = False
        self._settled_at = now


def _item_only(prepared: _Prepared) -> WorkItemRecord | None:
    """The item of an event that carries a complete item and nothing else, else None."""
    e = prepared.parsed
    if prepared.error is not None or e is None or e.ignored_reason or e.item is None:
        return None
    if e.deleted or e.refetch or e.release or e.sprint or e.moved or e.deleted_scope or e.moved_scope:
        return None
    return e.item


def _units(chunk: list[_Prepared]) -> list[list[_Prepared]]:
    """Split a chunk into what is applied together: single events, and groups of item events.

    A group holds consecutive item events of one source (events of other sources in between do
    not touch its items; events without an effect on the model do not either). Any other event
    closes all open groups, so moves, deletions and re-fetches keep their place in the order.
    """
    units: list[list[_Prepared]] = []
    open_groups: dict[int, list[_Prepared]] = {}
    for prepared in chunk:
        if _item_only(prepared) is None:
            if prepared.error is None and prepared.parsed is not None and not prepared.parsed.ignored_reason:
                units.extend(open_groups.values())
                open_groups.clear()
            units.append([prepared])
            continue
        group = open_groups.setdefault(prepared.source_id, [])
        group.append(prepared)
        if len(group) >= GROUP_EVENTS:
            units.append(open_groups.pop(prepared.source_id))
    units.extend(open_groups.values())
    return units


def _waves(session: Session, source_id: int, records: list[WorkItemRecord]) -> list[list[WorkItemRecord]]:
    """The writes that leave the model as writing ``records`` one by one, in order, would.

    Played forward from the stored rows with the writer's own rules: a payload older than the
    state is not applied (the ``remote_updated_at`` guard), and an applied payload in another
    status than the state records an observed status change at its ``updated_at`` (webhook
    payloads carry no history). So every applied payload that changes the status is written, and
    the last applied one; the others would be overwritten without a trace. Each wave holds at most
    one payload per item and is one ``ItemWriter.write``.
    """
    ids = {r.external_id for r in records}
    state: dict[str, tuple[datetime, str, Any]] = {
        ext: (at, status, category)
        for ext, at, status, category in session.execute(
            select(
                WorkItem.external_id,
                WorkItem.remote_updated_at,
                WorkItem.original_status,
                WorkItem.status_category,
            ).where(WorkItem.source_id == source_id, WorkItem.external_id.in_(ids))
        )
    }
    kept: dict[str, list[tuple[WorkItemRecord, bool]]] = {}  # payload, whether it changes the status
    for r in records:
        held = state.get(r.external_id)
        if held is not None and r.updated_at < held[0]:
            continue  # the guard would refuse it
        changes = held is not None and (held[1], held[2]) != (r.original_status, r.status_category)
        writes = kept.setdefault(r.external_id, [])
        if writes and not writes[-1][1]:
            writes.pop()  # it changed no status: r overwrites all it wrote
        writes.append((r, changes))
        state[r.external_id] = (r.updated_at, r.original_status, r.status_category)
    waves: list[list[WorkItemRecord]] = []
    for writes in kept.values():
        for index, (r, _) in enumerate(writes):
            if index == len(waves):
                waves.append([])
            waves[index].append(r)
    return waves


def _prefetch(connector: Connector, event: WebhookEvent) -> dict[str, WorkItemRecord | ConnectorError]:
    """Read what a partial payload lacks, before any database transaction is opened."""
    out: dict[str, WorkItemRecord | ConnectorError] = {}
    for ref in event.refetch:
        try:
            out[ref.key] = connector.fetch_item(ref)
        except (Moved, Gone, NotFound) as exc:
            out[ref.key] = exc
    return out


def apply_event(
    session: Session,
    source: Source,
    connector: Connector,
    event: WebhookEvent,
    fetched: dict[str, WorkItemRecord | ConnectorError] | None = None,
    *,
    writer: ItemWriter | None = None,
) -> bool:
    """Apply one parsed event to the model; True when items may have changed.

    ``writer``: an ItemWriter of ``source`` on ``session`` to reuse (it loads the source's team
    rules and person identities when built: once per batch, not once per event).
    """
    writer = writer or ItemWriter(session, source)
    changed = False
    if event.release is not None:
        writer.upsert_releases([event.release])
    if event.sprint is not None:
        writer.upsert_sprints([event.sprint])
    # A move first, so that the item payload below updates the moved row instead of adding a twin.
    for old, new in event.moved:
        item_id = _find(session, source, old)
        if item_id is not None and old.key != new.key:
            new_id = new.external_id if new.external_id != old.external_id else None
            move_item(session, source.id, item_id, old.key, new.key, new_id)
            changed = True
    if event.item is not None:
        writer.write([event.item])
        changed = True
    deleted = [i for i in (_find(session, source, ref) for ref in event.deleted) if i is not None]
    if deleted:
        mark_deleted(session, deleted, event.occurred_at or datetime.now(UTC))
        changed = True
    if event.deleted_scope:
        ids = list(
            session.scalars(
                select(WorkItem.id).where(
                    WorkItem.source_id == source.id, WorkItem.scope == event.deleted_scope
                )
            )
        )
        if ids:
            mark_deleted(session, ids, event.occurred_at or datetime.now(UTC))
            changed = True
    for ref in event.refetch:
        result = fetched[ref.key] if fetched is not None and ref.key in fetched else _fetch(connector, ref)
        changed |= _apply_fetched(session, source, writer, ref, result)
    return changed


def _fetch(connector: Connector, ref: ItemRef) -> WorkItemRecord | ConnectorError:
    try:
        return connector.fetch_item(ref)
    except (Moved, Gone, NotFound) as exc:
        return exc


def _apply_fetched(
    session: Session,
    source: Source,
    writer: ItemWriter,
    ref: ItemRef,
    result: WorkItemRecord | ConnectorError,
) -> bool:
    if isinstance(result, Moved):
        item_id = _find(session, source, ref)
        if item_id is not None and result.new_location:
            rename_item(session, item_id, ref.key, result.new_location)
    elif isinstance(result, (Gone, NotFound)):
        item_id = _find(session, source, ref)
        if item_id is not None:
            mark_deleted(session, [item_id], datetime.now(UTC))
    elif isinstance(result, ConnectorError):
        raise result
    else:
        writer.write([result])
    return True


def _find(session: Session, source: Source, ref: ItemRef) -> int | None:
    if ref.external_id:
        found = session.scalar(
            select(WorkItem.id).where(
                WorkItem.source_id == source.id, WorkItem.external_id == ref.external_id
            )
        )
        if found is not None:
            return found
    return session.scalar(
        select(WorkItem.id).where(WorkItem.source_id == source.id, WorkItem.key == ref.key).limit(1)
    )


def redeliver_failed(
    runtime_connector_for: Callable[[str], Connector], sources: list[str], window: timedelta
) -> int:
    """Ask trackers that do not retry (GitHub) to redeliver our failed deliveries of the last ``window``."""
    asked = 0
    since = datetime.now(UTC) - window
    for name in sources:
        connector = runtime_connector_for(name)
        if isinstance(connector, SupportsRedelivery):
            try:
                asked += connector.redeliver_failed(since, f"/webhooks/github/{name}")
            except ConnectorError as exc:
                log.warning("inbox.redelivery.failed", extra={"source": name, "error": str(exc)})
    return asked
