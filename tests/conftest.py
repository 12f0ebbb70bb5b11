"""Test fixtures: a real database (SQLite by default, PostgreSQL when CROSSTRACK_TEST_DATABASE_URL
is set), migrated once per session through Alembic, and one rolled-back transaction per test."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from sync.db import drop_database, fresh_database_url, make_engine, upgrade

__all__ = ["PG_ENV", "drop_database", "fresh_database_url"]

PG_ENV = "CROSSTRACK_TEST_DATABASE_URL"


def _worker_suffix(request: pytest.FixtureRequest) -> str:
    worker = getattr(request.config, "workerinput", {}).get("workerid", "main")
    return re.sub(r"[^a-z0-9_]", "_", f"{worker}_{os.getpid()}".lower())


@pytest.fixture(scope="session")
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated, empty database for this test session (one per xdist worker)."""
    base = os.environ.get(PG_ENV)
    if base:
        name = f"crosstrack_test_{_worker_suffix(request)}"
        url = fresh_database_url(base, name)
        upgrade(url)
        yield url
        drop_database(base, name)
    else:
        path: Path = tmp_path_factory.mktemp("db") / "crosstrack.db"
        url = f"sqlite:///{path}"
        upgrade(url)
        yield url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def db_session(engine: Engine) -> Iterator[Session]:
    """A session inside an outer transaction that is rolled back after the test.

    Code under test may commit: with ``create_savepoint`` its commits only release savepoints.
    """
    conn = engine.connect()
    outer = conn.begin()
    session = Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()
        outer.rollback()
        conn.close()


@pytest.fixture
def scratch_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own (not migrated), for tests that commit or migrate themselves."""
    base = os.environ.get(PG_ENV)
    if base:
        name = f"crosstrack_scratch_{_worker_suffix(request)}"
        yield fresh_database_url(base, name)
        drop_database(base, name)
    else:
        yield f"sqlite:///{tmp_path / 'scratch.db'}"
