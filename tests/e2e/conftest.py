"""End-to-end fixtures: the sandbox over loopback HTTP, the real connectors, a real database of
its own (SQLite file, or a PostgreSQL database when CROSSTRACK_TEST_DATABASE_URL is set)."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from connectors.base import Connector
from connectors.registry import build_connector
from sandbox.core import SandboxConfig
from sandbox.testing import SandboxHandle, running_sandbox
from sync.catalog import apply_config
from sync.config import CrosstrackConfig, load_config
from sync.db import make_engine, make_sessionmaker, session_scope, upgrade
from sync.engine import SyncEngine
from tests.conftest import PG_ENV, drop_database, fresh_database_url

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "crosstrack.toml"
ENV = {
    "CROSSTRACK_JIRA_TOKEN": "sandbox-token",
    "CROSSTRACK_GITHUB_TOKEN": "sandbox-token",
    "CROSSTRACK_JIRA_WEBHOOK_SECRET": "e2e-secret",
    "CROSSTRACK_GITHUB_WEBHOOK_SECRET": "e2e-secret",
}


class World:
    """A sandbox, a migrated database with the example catalog, and connectors pointed at the sandbox."""

    def __init__(self, sb: SandboxHandle, url: str) -> None:
        self.sb = sb
        self.url = url
        self.config: CrosstrackConfig = load_config(EXAMPLE)
        self.engine = make_engine(url)
        self.sessions = make_sessionmaker(self.engine)
        with session_scope(self.sessions) as session:
            apply_config(session, self.config)
        self._connectors: dict[str, Connector] = {}

    def connector_for(self, name: str) -> Connector:
        if name not in self._connectors:
            settings = self.config.source_settings(name, ENV)
            base = self.sb.jira_url if settings.kind.value == "jira" else self.sb.github_url
            self._connectors[name] = build_connector(dataclasses.replace(settings, base_url=base))
        return self._connectors[name]

    def sync_engine(self) -> SyncEngine:
        return SyncEngine(self.sessions, self.connector_for)

    def close(self) -> None:
        self.engine.dispose()


def _database(tag: str, tmp: Path) -> Iterator[str]:
    base = os.environ.get(PG_ENV)
    if base:
        name = re.sub(r"[^a-z0-9_]", "_", f"crosstrack_e2e_{tag}_{os.getpid()}".lower())
        url = fresh_database_url(base, name)
        upgrade(url)
        yield url
        drop_database(base, name)
    else:
        url = f"sqlite:///{tmp / f'{tag}.db'}"
        upgrade(url)
        yield url


@pytest.fixture
def make_world(tmp_path: Path) -> Iterator[Callable[..., World]]:
    """Build worlds inside a test: ``world = make_world(SandboxConfig(...))``."""
    stack: list[tuple[World, object, Iterator[str]]] = []

    def make(config: SandboxConfig | None = None, **overrides: object) -> World:
        cm = running_sandbox(config or SandboxConfig(), **overrides)
        sb = cm.__enter__()
        db = _database(f"w{len(stack)}", tmp_path)
        world = World(sb, next(db))
        stack.append((world, cm, db))
        return world

    yield make
    for world, cm, db in reversed(stack):
        world.close()
        cm.__exit__(None, None, None)  # type: ignore[attr-defined]
        next(db, None)
