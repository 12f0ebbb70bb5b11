"""What a crosstrack process needs at run time, built once from settings and the config file:
the database, the sessions, and a connector per source (secrets resolved from the environment)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from connectors.base import Connector
from connectors.registry import build_connector
from sync.catalog import ConfigLoadReport, apply_config
from sync.config import ConfigError, CrosstrackConfig, load_config
from sync.db import make_engine, make_sessionmaker, session_scope
from sync.engine import SourceUnavailable, SyncEngine
from sync.settings import Settings

__all__ = ["Runtime"]


@dataclass
class Runtime:
    settings: Settings
    config: CrosstrackConfig | None
    engine: Engine
    sessions: sessionmaker[Session]
    env: Mapping[str, str] | None = None
    _connectors: dict[str, Connector] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def build(
        cls,
        settings: Settings,
        config_file: Path | None = None,
        env: Mapping[str, str] | None = None,
        engine: Engine | None = None,
    ) -> Runtime:
        path = config_file or settings.config_file
        config = load_config(path) if path is not None and Path(path).exists() else None
        engine = engine or make_engine(settings.database_url)
        return cls(
            settings=settings, config=config, engine=engine, sessions=make_sessionmaker(engine), env=env
        )

    def load_catalog(self) -> ConfigLoadReport | None:
        """Load the config file into the database (idempotent)."""
        if self.config is None:
            return None
        with session_scope(self.sessions) as session:
            return apply_config(session, self.config)

    def source_names(self) -> list[str]:
        return [s.name for s in self.config.sources] if self.config else []

    def connector_for(self, name: str) -> Connector:
        """One connector per source for the life of the process (discovery and ETags are cached)."""
        with self._lock:
            connector = self._connectors.get(name)
            if connector is None:
                if self.config is None:
                    raise SourceUnavailable(
                        "no config file is loaded: set CROSSTRACK_CONFIG_FILE or pass --config"
                    )
                try:
                    settings = self.config.source_settings(name, self.env)
                except ConfigError as exc:  # unknown name, or its token variable/file is missing
                    raise SourceUnavailable(str(exc)) from None
                connector = build_connector(settings)
                self._connectors[name] = connector
            return connector

    def sync_engine(self) -> SyncEngine:
        return SyncEngine(self.sessions, self.connector_for, write_batch=self.settings.sync_batch_items)

    def close(self) -> None:
        for connector in self._connectors.values():
            close = getattr(connector, "close", None)
            if callable(close):
                close()
        self.engine.dispose()
