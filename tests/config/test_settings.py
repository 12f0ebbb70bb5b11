"""Process settings from CROSSTRACK_* variables: defaults, normalization, one-line errors naming
the variable, the config-file rule (default may be missing, an explicit one may not)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.config import ConfigError
from sync.settings import Settings, get_settings

from .conftest import EXAMPLES


def test_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = Settings.from_env({})
    assert s.model_dump() == {
        "database_url": f"sqlite:///{tmp_path / 'crosstrack.db'}",
        "config_file": Path("crosstrack.toml"),
        "host": "127.0.0.1",
        "port": 8000,
        "log_level": "INFO",
        "sync_interval_seconds": 300,
        "reconcile_interval_seconds": 3600,
        "webhook_max_bytes": 1024 * 1024,
        "stale_after_minutes": 30,
        "sync_batch_items": 1000,
        "run_mode": "single",
    }
    assert s.is_sqlite


def test_values_from_env() -> None:
    s = Settings.from_env(
        {
            "CROSSTRACK_DATABASE_URL": "sqlite:////var/lib/crosstrack/db.sqlite",
            "CROSSTRACK_CONFIG_FILE": "/etc/crosstrack.yaml",
            "CROSSTRACK_HOST": "0.0.0.0",
            "CROSSTRACK_PORT": "9000",
            "CROSSTRACK_LOG_LEVEL": "debug",
            "CROSSTRACK_SYNC_INTERVAL_SECONDS": "60",
            "CROSSTRACK_RECONCILE_INTERVAL_SECONDS": "600",
            "CROSSTRACK_WEBHOOK_MAX_BYTES": "2048",
            "CROSSTRACK_STALE_AFTER_MINUTES": "5",
            "UNRELATED": "x",
            "CROSSTRACK_UNKNOWN": "ignored",
        }
    )
    assert (s.database_url, s.config_file, s.host, s.port, s.log_level) == (
        "sqlite:////var/lib/crosstrack/db.sqlite",
        Path("/etc/crosstrack.yaml"),
        "0.0.0.0",
        9000,
        "DEBUG",
    )
    assert (
        s.sync_interval_seconds,
        s.reconcile_interval_seconds,
        s.webhook_max_bytes,
        s.stale_after_minutes,
    ) == (
        60,
        600,
        2048,
        5,
    )


def test_os_environ_is_read_by_load_and_get_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CROSSTRACK_PORT", "9100")
    assert Settings.load().port == 9100
    assert Settings.load(port=9200).port == 9200  # arguments win over the environment
    get_settings.cache_clear()
    try:
        first = get_settings()
        monkeypatch.setenv("CROSSTRACK_PORT", "9300")
        assert get_settings() is first  # cached: read once per process
        get_settings.cache_clear()
        assert get_settings().port == 9300
    finally:
        get_settings.cache_clear()


def test_from_env_ignores_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CROSSTRACK_PORT", "9100")
    assert Settings.from_env({}).port == 8000
    assert Settings.from_env({}, port=0).port == 0


@pytest.mark.parametrize(
    ("given", "normalized"),
    [
        ("postgresql://postgres@127.0.0.1:5432/test", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
        ("postgres://u:p@db/crosstrack", "postgresql+psycopg://u:p@db/crosstrack"),
        ("postgresql+psycopg://u@db/x", "postgresql+psycopg://u@db/x"),
        ("sqlite:///relative.db", "sqlite:///relative.db"),
        ("sqlite://", "sqlite://"),
    ],
)
def test_database_url_normalization(given: str, normalized: str) -> None:
    assert Settings.from_env({"CROSSTRACK_DATABASE_URL": given}).database_url == normalized


def test_database_password_is_never_shown() -> None:
    s = Settings.from_env({"CROSSTRACK_DATABASE_URL": "postgresql://crosstrack:hunter2@db:5432/ct"})
    assert s.database_url_display == "postgresql+psycopg://crosstrack:***@db:5432/ct"
    assert "hunter2" not in repr(s)
    assert "hunter2" not in str(s)
    assert "postgresql+psycopg://crosstrack:***@db:5432/ct" in repr(s)


@pytest.mark.parametrize(
    "url", ["mysql://root:hunter2@db/x", "not a url hunter2", "https://hunter2@example.com"]
)
def test_unsupported_database_url_is_refused_without_echo(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"CROSSTRACK_DATABASE_URL": url})
    assert str(info.value) == (
        "CROSSTRACK_DATABASE_URL: not a supported database URL; the value is not shown "
        "(expected sqlite:///PATH or postgresql://USER@HOST:PORT/DB)"
    )


def test_invalid_values_are_one_line_each_naming_the_variable() -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env(
            {
                "CROSSTRACK_PORT": "http",
                "CROSSTRACK_LOG_LEVEL": "loud",
                "CROSSTRACK_SYNC_INTERVAL_SECONDS": "0",
                "CROSSTRACK_WEBHOOK_MAX_BYTES": "-1",
            }
        )
    assert str(info.value).splitlines() == [
        "CROSSTRACK_PORT: invalid value (expected an integer, got the string 'http')",
        "CROSSTRACK_LOG_LEVEL: invalid value (expected 'DEBUG', 'INFO', 'WARNING', 'ERROR' or 'CRITICAL', "
        "got 'LOUD')",
        "CROSSTRACK_SYNC_INTERVAL_SECONDS: out of range (expected at least 1, got '0')",
        "CROSSTRACK_WEBHOOK_MAX_BYTES: out of range (expected at least 1, got '-1')",
    ]
    with pytest.raises(
        ConfigError, match=r"^CROSSTRACK_PORT: out of range \(expected at most 65535, got '70000'\)$"
    ):
        Settings.from_env({"CROSSTRACK_PORT": "70000"})


def test_empty_config_file_means_none() -> None:
    s = Settings.from_env({"CROSSTRACK_CONFIG_FILE": ""})
    assert s.config_file is None
    assert s.load_config() is None


def test_missing_default_config_file_means_no_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = Settings.from_env({})
    assert not s.config_file_explicit
    assert s.load_config() is None


def test_default_config_file_is_loaded_when_present(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "crosstrack.toml").write_text((EXAMPLES / "crosstrack.toml").read_text())
    config = Settings.from_env({}).load_config()
    assert config is not None
    assert [p.slug for p in config.programs] == ["checkout-v2"]


def test_explicit_missing_config_file_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "crosstrack.toml"
    s = Settings.from_env({"CROSSTRACK_CONFIG_FILE": str(missing)})
    assert s.config_file_explicit
    with pytest.raises(ConfigError) as info:
        s.load_config()
    assert str(info.value) == f"{missing}: no such file"


def test_settings_are_immutable() -> None:
    s = Settings.from_env({})
    with pytest.raises(ValueError, match="frozen"):
        s.port = 1  # type: ignore[misc]


def test_run_mode_is_single_or_scaled() -> None:
    assert Settings.from_env({"CROSSTRACK_RUN_MODE": "scaled"}).run_mode == "scaled"
    with pytest.raises(ConfigError, match="CROSSTRACK_RUN_MODE"):
        Settings.from_env({"CROSSTRACK_RUN_MODE": "cluster"})
