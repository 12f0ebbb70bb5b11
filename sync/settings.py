"""Process settings from the environment (``CROSSTRACK_*``), PRODUCT §9.

Settings say *how this process runs* (database, listen address, intervals, limits); the config
file (:mod:`sync.config`) says *what crosstrack tracks*. ``CROSSTRACK_CONFIG_FILE`` links the two.

    CROSSTRACK_DATABASE_URL              sqlite:///<cwd>/crosstrack.db; postgresql:// is accepted
                                         and means postgresql+psycopg:// (psycopg 3 is the driver)
    CROSSTRACK_CONFIG_FILE               crosstrack.toml (may be missing); "" means no config file
    CROSSTRACK_HOST / CROSSTRACK_PORT    127.0.0.1 / 8000
    CROSSTRACK_LOG_LEVEL                 INFO
    CROSSTRACK_SYNC_INTERVAL_SECONDS     300
    CROSSTRACK_RECONCILE_INTERVAL_SECONDS 3600
    CROSSTRACK_WEBHOOK_MAX_BYTES         1048576 (larger deliveries get 413)
    CROSSTRACK_STALE_AFTER_MINUTES       30 (a source not synced for this long is shown as stale)
    CROSSTRACK_RUN_MODE                  single (API + scheduler + workers in one process) or scaled
                                         (API only; `crosstrack worker` processes on PostgreSQL)

Use :func:`get_settings` (cached, from ``os.environ``); tests build fresh ones with
:meth:`Settings.from_env` (only the mapping given, never ``os.environ``) or ``Settings(port=0)``.
Invalid values raise :class:`sync.config.ConfigError` naming the variable, e.g.
``CROSSTRACK_PORT: out of range (expected at most 65535, got 70000)``. The database URL may hold a
password: it is never shown in a repr or an error (see :attr:`Settings.database_url_display`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from sync.config import ConfigError, ConfigProblem, CrosstrackConfig, _explain, _fail, load_config

__all__ = [
    "DEFAULT_CONFIG_FILE",
    "ENV_PREFIX",
    "LogLevel",
    "Settings",
    "get_settings",
    "normalize_database_url",
]

ENV_PREFIX = "CROSSTRACK_"
DEFAULT_CONFIG_FILE = Path("crosstrack.toml")

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


def _default_database_url() -> str:
    # Absolute, so `serve`, `worker` and `db upgrade` started from the same directory agree even
    # if one of them later changes directory.
    return f"sqlite:///{Path('crosstrack.db').absolute()}"


def normalize_database_url(value: str) -> str:
    """``postgresql://`` / ``postgres://`` → ``postgresql+psycopg://``; reject other backends.

    SQLAlchemy reads a bare ``postgresql://`` as psycopg2, which is not installed; psycopg 3 is.
    """
    for bare in ("postgresql://", "postgres://"):
        if value.startswith(bare):
            value = "postgresql+psycopg://" + value[len(bare) :]
    try:
        url = make_url(value)
    except ArgumentError:
        url = None
    if url is None or url.get_backend_name() not in {"sqlite", "postgresql"}:
        # The URL may carry a password: never echo it.
        raise _fail(
            "not a supported database URL; the value is not shown",
            "sqlite:///PATH or postgresql://USER@HOST:PORT/DB",
            hide_input=True,
        )
    return value


class Settings(BaseSettings):
    """How this crosstrack process runs. Immutable; build a new one to change it."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    database_url: str = Field(default_factory=_default_database_url, repr=False)
    config_file: Path | None = DEFAULT_CONFIG_FILE
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    log_level: LogLevel = "INFO"
    sync_interval_seconds: int = Field(300, ge=1)
    reconcile_interval_seconds: int = Field(3600, ge=1)
    webhook_max_bytes: int = Field(1024 * 1024, ge=1)
    stale_after_minutes: int = Field(30, ge=1)
    # A sync writes and commits this many items at a time with the cursor after them (ADR 0010).
    sync_batch_items: int = Field(1000, ge=1, le=10_000)
    # "single": serve runs the scheduler and the inbox worker in-process (SQLite or PostgreSQL).
    # "scaled": serve only answers requests; `crosstrack worker` processes do the background
    # work through procrastinate (PostgreSQL only). See docs/adr/0002.
    run_mode: Literal["single", "scaled"] = "single"

    @field_validator("database_url")
    @classmethod
    def _normalize_database_url(cls, value: str) -> str:
        return normalize_database_url(value)

    @field_validator("config_file", mode="before")
    @classmethod
    def _empty_means_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    def __repr_args__(self) -> Iterable[tuple[str | None, Any]]:
        yield "database_url", self.database_url_display
        yield from super().__repr_args__()

    @property
    def database_url_display(self) -> str:
        """The database URL with any password masked, for logs and ``doctor`` output."""
        return make_url(self.database_url).render_as_string(hide_password=True)

    @property
    def is_sqlite(self) -> bool:
        return make_url(self.database_url).get_backend_name() == "sqlite"

    @property
    def config_file_explicit(self) -> bool:
        """True when the config file was named (env or argument), not the default."""
        return "config_file" in self.model_fields_set

    def load_config(self) -> CrosstrackConfig | None:
        """The config file's content; None when there is none to load.

        A missing *default* ``crosstrack.toml`` means "no config" (None); a missing file that was
        named explicitly is an error (ConfigError "FILE: no such file").
        """
        if self.config_file is None:
            return None
        if not self.config_file_explicit and not self.config_file.exists():
            return None
        return load_config(self.config_file)

    @classmethod
    def from_env(cls, env: Mapping[str, str], **overrides: Any) -> Settings:
        """Settings from ``env`` only (``os.environ`` is not read), then ``overrides`` on top.

        For tests and for callers holding an environment of their own. Raises ConfigError.
        """
        values: dict[str, Any] = {}
        for key, value in env.items():
            if key.upper().startswith(ENV_PREFIX):
                name = key[len(ENV_PREFIX) :].lower()
                if name in cls.model_fields:
                    values[name] = value
        values.update(overrides)
        return _build(_FromMappingOnly, values)

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Fresh settings from ``os.environ`` plus ``overrides``. Raises ConfigError."""
        return _build(cls, overrides)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Arguments, then the environment. No .env file and no secrets dir: one place to look.
        return (init_settings, env_settings)


class _FromMappingOnly(Settings):
    """Settings that read only their init values (what :meth:`Settings.from_env` passes)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def _build(cls: type[Settings], values: Mapping[str, Any]) -> Settings:
    try:
        return cls(**values)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            loc, message = _explain(Settings, err)
            name = str(loc[0]) if loc else ""
            if name == "database_url" and err["type"] != "crosstrack":
                message = "invalid value (expected a database URL; the value is not shown)"
            problems.append(ConfigProblem(message, path=f"{ENV_PREFIX}{name.upper()}"))
        raise ConfigError(problems) from None


@functools.cache
def get_settings() -> Settings:
    """The process's settings, read once from ``os.environ``. Raises ConfigError.

    Tests that change the environment call ``get_settings.cache_clear()`` (or build their own with
    :meth:`Settings.from_env`).
    """
    return Settings.load()
