"""The command line as a user runs it: real processes, real databases, no tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from sync.db import current_revision, head_revision, make_engine, make_sessionmaker
from sync.model import ApiToken, Role
from sync.tokens import hash_token

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "crosstrack", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=60,
    )


def test_config_check_accepts_the_example() -> None:
    res = run("config", "check", "examples/crosstrack.toml")
    assert res.returncode == 0, res.stderr
    assert "examples/crosstrack.toml: ok" in res.stdout


def test_config_check_names_file_place_and_expectation_and_exits_2() -> None:
    res = run("config", "check", "examples/broken.toml")
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) >= 5
    assert all(line.startswith("error: examples/broken.toml:") for line in errors)
    assert any(
        "sources[0].base_ulr: unknown key" in line and "did you mean 'base_url'" in line for line in errors
    )
    assert any("literal secret" in line for line in errors)
    assert "hint:" in res.stderr


def test_config_check_on_a_missing_file() -> None:
    res = run("config", "check", "does-not-exist.toml")
    assert res.returncode == 2
    assert "does-not-exist.toml: no such file" in res.stderr
    assert "Traceback" not in res.stderr


def test_db_upgrade_migrates_to_head(scratch_database_url: str) -> None:
    res = run("db", "upgrade", env={"CROSSTRACK_DATABASE_URL": scratch_database_url})
    assert res.returncode == 0, res.stderr
    engine = make_engine(scratch_database_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_token_create_prints_the_token_alone_on_the_last_line(scratch_database_url: str) -> None:
    res = run("token", "create", "--role", "editor", env={"CROSSTRACK_DATABASE_URL": scratch_database_url})
    assert res.returncode == 0, res.stderr
    token = res.stdout.splitlines()[-1]
    assert res.stdout.strip() == token  # stdout holds the token alone: TOKEN=$(crosstrack token create)
    engine = make_engine(scratch_database_url)
    try:
        with make_sessionmaker(engine)() as session:
            row = session.scalars(select(ApiToken)).one()
    finally:
        engine.dispose()
    assert row.role is Role.EDITOR
    assert row.token_hash == hash_token(token)
    assert token not in row.token_hash


def test_token_create_with_an_unknown_role_is_one_line_and_a_hint(scratch_database_url: str) -> None:
    res = run("token", "create", "--role", "root", env={"CROSSTRACK_DATABASE_URL": scratch_database_url})
    assert res.returncode == 2
    assert "error: unknown role 'root'" in res.stderr
    assert "hint: use one of: viewer, editor, admin" in res.stderr
    assert "Traceback" not in res.stderr


def test_a_bad_environment_setting_is_reported_without_traceback() -> None:
    res = run("db", "upgrade", env={"CROSSTRACK_DATABASE_URL": "mysql://root@localhost/x"})
    assert res.returncode == 2
    assert "CROSSTRACK_DATABASE_URL" in res.stderr
    assert "Traceback" not in res.stderr


def test_an_unreachable_database_is_one_line_without_the_password() -> None:
    url = "postgresql://crosstrack:hunter2@127.0.0.1:1/nothing"
    res = run("db", "upgrade", env={"CROSSTRACK_DATABASE_URL": url})
    assert res.returncode == 1
    assert "cannot migrate the database" in res.stderr
    assert "hunter2" not in res.stderr + res.stdout
    assert "Traceback" not in res.stderr


def test_help_lists_the_commands() -> None:
    res = run("--help")
    assert res.returncode == 0
    for command in ("serve", "demo", "db", "config", "token"):
        assert command in res.stdout


def test_report_prints_a_program_report_and_names_an_unknown_program(scratch_database_url: str) -> None:
    env = {
        "CROSSTRACK_DATABASE_URL": scratch_database_url,
        "CROSSTRACK_CONFIG_FILE": "examples/crosstrack.toml",
        "CROSSTRACK_JIRA_TOKEN": "t",
        "CROSSTRACK_GITHUB_TOKEN": "t",
    }
    res = run("report", "checkout-v2", "--format", "md", env=env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("# Checkout v2: status report")
    assert "## Key numbers" in res.stdout
    res = run("report", "no-such-program", env=env)
    assert res.returncode == 2
    assert "no program named 'no-such-program'" in res.stderr
    assert "Traceback" not in res.stderr
