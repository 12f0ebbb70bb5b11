"""Database engines, sessions and migrations for SQLite (single node) and PostgreSQL (scaled out).

The schema only ever comes from Alembic (``alembic/``): :func:`upgrade` is what ``crosstrack db
upgrade``, ``serve`` and the test fixtures call. Transactions belong to the edge (the request
dependency, the task wrapper, the CLI command): services below never commit.
"""

from __future__ import annotations

import threading
import weakref
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import orjson
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import Pool

from alembic import command

__all__ = [
    "PG_MAX_OVERFLOW",
    "PG_POOL_SIZE",
    "FairLock",
    "alembic_config",
    "current_revision",
    "drop_database",
    "fresh_database_url",
    "head_revision",
    "include_object",
    "make_engine",
    "make_sessionmaker",
    "normalize_url",
    "session_scope",
    "upgrade",
    "write_lock",
    "write_session",
]

ALEMBIC_DIR = Path(__file__).resolve().parent.parent / "alembic"

#: PostgreSQL pool: the API runs sync routes on AnyIO's 40 worker threads, and the background
#: threads (inbox, scheduler, intake writer) need their own connections on top; a pool smaller than
#: that makes requests queue for a connection (QueuePool's 30 s timeout) instead of for the database.
PG_POOL_SIZE = 10
PG_MAX_OVERFLOW = 40


def normalize_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` and use the psycopg 3 driver for them."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with the settings each backend needs.

    SQLite: WAL journal (readers never block the writer), foreign keys on, a busy timeout so the
    API and the background worker of a single-node install can share the file.
    """
    url = normalize_url(url)
    parsed = make_url(url)
    # Raw tracker payloads are most of what is written: orjson encodes them several times faster.
    kwargs.setdefault("json_serializer", _json_dumps)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # pysqlite's own transaction handling defers BEGIN and breaks SAVEPOINT; let
            # SQLAlchemy emit BEGIN itself (the documented recipe for correct SQLite transactions).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Sessions (which may write) BEGIN IMMEDIATE: the write lock is taken up front and
            # waited for (busy_timeout). A deferred BEGIN that reads first and writes later fails
            # at once with "database is locked" when another writer got in between (SQLite cannot
            # wait there without deadlocking). Plain connections (health checks) stay deferred;
            # with WAL they are never blocked by a writer.
            conn.exec_driver_sql(f"BEGIN {conn.get_execution_options().get('sqlite_begin', 'DEFERRED')}")

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", PG_POOL_SIZE)
    kwargs.setdefault("max_overflow", PG_MAX_OVERFLOW)
    # psycopg prepares a statement after its 5th execution and PostgreSQL may then keep a generic
    # plan made when the table was small: a sync into an empty database kept a sequential scan
    # for its per-batch lookups (70 ms and growing per batch). Custom plans: always the right one.
    connect_args = kwargs.setdefault("connect_args", {})
    connect_args.setdefault("options", "-c plan_cache_mode=force_custom_plan")
    return create_engine(url, **kwargs)


class FairLock:
    """A first-come, first-served lock.

    ``threading.Lock`` is not fair: a thread that releases it and asks again at once (a worker
    looping over batches) usually gets it back before a waiting thread is even scheduled, so the
    waiter (the webhook intake) can starve. Here waiters are served in arrival order.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._held = False
        self._queue: deque[object] = deque()

    def acquire(self) -> None:
        with self._cond:
            if not self._held and not self._queue:
                self._held = True
                return
            ticket = object()
            self._queue.append(ticket)
            while self._held or self._queue[0] is not ticket:
                self._cond.wait()
            self._queue.popleft()
            self._held = True

    def release(self) -> None:
        with self._cond:
            if not self._held:
                raise RuntimeError("release of an unheld FairLock")
            self._held = False
            self._cond.notify_all()

    def __enter__(self) -> FairLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


# Keyed by the pool: ``engine.execution_options()`` (what make_sessionmaker binds) is another Engine
# object over the same pool and file.
_write_locks: weakref.WeakKeyDictionary[Pool, FairLock] = weakref.WeakKeyDictionary()
_write_locks_guard = threading.Lock()


def write_lock(bind: Engine | sessionmaker[Session]) -> FairLock | nullcontext[None]:
    """The in-process writer lock of a SQLite database (of an engine, or of the engine a
    sessionmaker binds); a no-op on PostgreSQL.

    SQLite has one writer at a time. Threads of one process that all ``BEGIN IMMEDIATE`` wait in
    SQLite's busy handler, which *sleeps* (1, 2, 5 … 100 ms) between retries: under load a write
    waits far longer than the writes before it take. Writers of this process that take this lock
    around their transaction queue here instead and start the moment the previous one commits.
    Opt-in: callers that do not take it keep the busy-timeout behaviour (and still exclude each
    other correctly through SQLite's own lock; other processes always do).
    """
    engine: Engine = bind.kw["bind"] if isinstance(bind, sessionmaker) else bind
    if engine.dialect.name != "sqlite":
        return nullcontext()
    with _write_locks_guard:
        lock = _write_locks.get(engine.pool)
        if lock is None:
            lock = _write_locks[engine.pool] = FairLock()
        return lock


@contextmanager
def write_session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """A session for a short write transaction, inside the SQLite write lock (see write_lock)."""
    with write_lock(sessions), sessions() as session:
        yield session


def fresh_database_url(base_url: str, name: str) -> str:
    """(Re)create database ``name`` on the PostgreSQL server of ``base_url``; return its URL
    (for tests and benchmarks, which each want a database of their own)."""
    url = make_url(normalize_url(base_url))
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def drop_database(base_url: str, name: str) -> None:
    """Drop database ``name`` on the PostgreSQL server of ``base_url`` (if it exists)."""
    admin = create_engine(make_url(normalize_url(base_url)), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions for work that may write (see the SQLite BEGIN IMMEDIATE note in make_engine)."""
    bind = engine.execution_options(sqlite_begin="IMMEDIATE") if engine.dialect.name == "sqlite" else engine
    return sessionmaker(bind, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: commit on success, roll back on error. For edges (CLI, tasks) only."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """What Alembic manages: our tables, not procrastinate's (it installs and versions its own)."""
    return not (type_ == "table" and name is not None and name.startswith("procrastinate_"))


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(ALEMBIC_DIR))
    # ConfigParser interpolation: a literal % in a password must be doubled.
    cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    cfg.attributes["configure_logging"] = False
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
