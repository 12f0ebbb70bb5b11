"""API fixtures: the real app on the test database; each request's session joins the test's
rolled-back transaction, so the route's commit is real but undone after the test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from api.app import create_app
from api.deps import get_session
from sync.catalog import apply_config
from sync.config import load_config
from sync.model import Role
from sync.settings import Settings
from sync.tokens import create_token

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "crosstrack.toml"


@pytest.fixture
def client(engine: Engine, database_url: str, db_session: Session) -> Iterator[TestClient]:
    app = create_app(
        Settings(database_url=database_url, config_file=None), engine=engine, load_config_file=False
    )

    def _session() -> Iterator[Session]:
        yield db_session
        db_session.commit()  # releases the savepoint only; the outer transaction is rolled back

    app.dependency_overrides[get_session] = _session
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def token_for(db_session: Session) -> Callable[[str], dict[str, str]]:
    def make(role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {create_token(db_session, Role(role))}"}

    return make


@pytest.fixture
def demo_catalog(db_session: Session) -> None:
    apply_config(db_session, load_config(EXAMPLE))
    db_session.flush()
