"""Secrets: read from the named environment variable or file when a connector is built, with
errors that name the source and the variable or file, and never shown in a repr or a message."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from pathlib import Path

import pytest

from sync.config import ConfigError, check_config, load_config

from .conftest import MINIMAL_TOML

Write = Callable[..., Path]
SECRET = "S3cr3t-token-value"


def line_of(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


def test_token_from_env(write: Write) -> None:
    config = load_config(write(MINIMAL_TOML))
    assert config.source("jira").resolve_token({"JIRA_TOKEN": SECRET}) == SECRET


def test_token_from_env_strips_one_trailing_newline(write: Write) -> None:
    config = load_config(write(MINIMAL_TOML))
    assert config.source("jira").resolve_token({"JIRA_TOKEN": SECRET + "\n\n"}) == SECRET + "\n"


def test_env_defaults_to_os_environ(write: Write, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JIRA_TOKEN", SECRET)
    assert load_config(write(MINIMAL_TOML)).source("jira").resolve_token() == SECRET


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (SECRET + "\n", SECRET),
        (SECRET + "\r\n", SECRET),
        (SECRET, SECRET),
        (SECRET + "\n\n", SECRET + "\n"),  # only one newline is the editor's; the rest is content
        (" " + SECRET + " \n", " " + SECRET + " "),
    ],
)
def test_token_from_file_strips_one_trailing_newline(write: Write, content: str, expected: str) -> None:
    write(content, "jira-token")
    path = write(MINIMAL_TOML.replace('token_env = "JIRA_TOKEN"', 'token_file = "jira-token"'))
    assert load_config(path).source("jira").resolve_token({}) == expected


def test_relative_token_file_is_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "jira").write_text(SECRET + "\n")
    (tmp_path / "conf.toml").write_text(
        MINIMAL_TOML.replace('token_env = "JIRA_TOKEN"', 'token_file = "secrets/jira"')
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config("../conf.toml")
    token_file = config.source("jira").token_file
    assert token_file is not None and token_file.is_absolute()
    assert token_file.resolve() == (tmp_path / "secrets" / "jira").resolve()
    assert config.source("jira").resolve_token({}) == SECRET


def test_missing_env_var_names_the_variable_the_source_and_the_line(write: Write) -> None:
    path = write(MINIMAL_TOML)
    config = load_config(path)
    with pytest.raises(ConfigError) as info:
        config.source_settings("github", {"JIRA_TOKEN": SECRET})
    assert str(info.value) == (
        f"{path}:{line_of(MINIMAL_TOML, 'GITHUB_TOKEN')}: sources[1].token_env: "
        "environment variable GITHUB_TOKEN is not set (expected the token in it)"
    )


def test_empty_env_var_is_refused(write: Write) -> None:
    config = load_config(write(MINIMAL_TOML))
    with pytest.raises(ConfigError, match="environment variable JIRA_TOKEN is empty"):
        config.source("jira").resolve_token({"JIRA_TOKEN": "\n"})


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: None, "file '{f}' does not exist (expected the token in it)"),
        (lambda d: (d / "tok").mkdir(), "'{f}' is a directory (expected a file holding the token)"),
        (lambda d: (d / "tok").write_text("\n"), "file '{f}' is empty"),
        (lambda d: (d / "tok").write_bytes(b"\xff\xfe\x00"), "file '{f}' is not UTF-8 text"),
    ],
)
def test_unreadable_token_file(tmp_path: Path, setup: Callable[[Path], object], message: str) -> None:
    setup(tmp_path)
    text = MINIMAL_TOML.replace('token_env = "JIRA_TOKEN"', 'token_file = "tok"')
    path = tmp_path / "crosstrack.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path).source("jira").resolve_token({})
    f = tmp_path / "tok"
    assert str(
        info.value
    ) == f"{path}:{line_of(text, 'token_file')}: sources[0].token_file: " + message.format(f=f)


def test_webhook_secret_is_optional(write: Write) -> None:
    config = load_config(write(MINIMAL_TOML))
    assert config.source("jira").resolve_webhook_secret({}) is None
    settings = config.source_settings("jira", {"JIRA_TOKEN": SECRET})
    assert settings.webhook_secret is None


def test_webhook_secret_from_env_and_file(write: Write) -> None:
    write("hook-from-file\n", "hook")
    text = MINIMAL_TOML.replace(
        'token_env = "JIRA_TOKEN"', 'token_env = "JIRA_TOKEN"\nwebhook_secret_env = "JIRA_HOOK"'
    ).replace('token_env = "GITHUB_TOKEN"', 'token_env = "GITHUB_TOKEN"\nwebhook_secret_file = "hook"')
    config = load_config(write(text))
    env = {"JIRA_TOKEN": "a", "GITHUB_TOKEN": "b", "JIRA_HOOK": "hook-from-env"}
    assert config.source_settings("jira", env).webhook_secret == "hook-from-env"
    assert config.source_settings("github", env).webhook_secret == "hook-from-file"


def test_declared_but_missing_webhook_secret_is_an_error(write: Write) -> None:
    text = MINIMAL_TOML.replace(
        'token_env = "JIRA_TOKEN"', 'token_env = "JIRA_TOKEN"\nwebhook_secret_env = "JIRA_HOOK"'
    )
    path = write(text)
    with pytest.raises(ConfigError) as info:
        load_config(path).source("jira").resolve_webhook_secret({})
    assert str(info.value) == (
        f"{path}:{line_of(text, 'JIRA_HOOK')}: sources[0].webhook_secret_env: "
        "environment variable JIRA_HOOK is not set (expected the webhook secret in it)"
    )


def test_unset_webhook_secret_disables_webhooks_but_not_sync(
    write: Write, caplog: pytest.LogCaptureFixture
) -> None:
    # A source must keep syncing when only its webhook secret is missing; its webhooks are then
    # refused (no secret) and `config check` reports the variable.
    text = MINIMAL_TOML.replace(
        'token_env = "JIRA_TOKEN"', 'token_env = "JIRA_TOKEN"\nwebhook_secret_env = "JIRA_HOOK"'
    )
    config = load_config(write(text))
    with caplog.at_level("WARNING", logger="crosstrack.sync.config"):
        settings = config.source_settings("jira", {"JIRA_TOKEN": SECRET})
    assert (settings.token, settings.webhook_secret) == (SECRET, None)
    assert [r.getMessage() for r in caplog.records] == ["config.webhook_secret_missing"]
    assert SECRET not in caplog.text


def test_both_webhook_secret_references_are_refused(write: Write) -> None:
    text = MINIMAL_TOML.replace(
        'token_env = "JIRA_TOKEN"',
        'token_env = "JIRA_TOKEN"\nwebhook_secret_env = "H"\nwebhook_secret_file = "h"',
    )
    with pytest.raises(ConfigError, match="webhook_secret_env and webhook_secret_file are both set"):
        load_config(write(text))


def test_secrets_never_appear_in_reprs_or_strings(write: Write) -> None:
    write(SECRET + "\n", "gh-token")
    config = load_config(write(MINIMAL_TOML.replace('token_env = "GITHUB_TOKEN"', 'token_file = "gh-token"')))
    env = {"JIRA_TOKEN": SECRET}
    settings = [config.source_settings(name, env) for name in ("jira", "github")]
    assert [s.token for s in settings] == [SECRET, SECRET]
    for shown in (
        repr(config),
        str(config),
        config.model_dump_json(),
        repr(settings),
        str(settings),
        config.summary(),
    ):
        assert SECRET not in shown


def test_secret_errors_never_show_the_value(write: Write) -> None:
    config = load_config(write(MINIMAL_TOML))
    with pytest.raises(ConfigError) as info:
        config.source_settings("github", {"JIRA_TOKEN": SECRET})
    assert SECRET not in "".join(traceback.format_exception(info.value))


def test_check_config_reports_every_unreadable_secret(write: Write) -> None:
    text = MINIMAL_TOML.replace(
        'token_env = "JIRA_TOKEN"', 'token_env = "JIRA_TOKEN"\nwebhook_secret_env = "JIRA_HOOK"'
    )
    path = write(text)
    with pytest.raises(ConfigError) as info:
        check_config(path, {})
    assert [(p.path, p.line) for p in info.value.problems] == [
        ("sources[0].token_env", line_of(text, "JIRA_TOKEN")),
        ("sources[0].webhook_secret_env", line_of(text, "JIRA_HOOK")),
        ("sources[1].token_env", line_of(text, "GITHUB_TOKEN")),
    ]
    ok = check_config(path, {"JIRA_TOKEN": "a", "JIRA_HOOK": "b", "GITHUB_TOKEN": "c"})
    assert ok.summary() == "2 source(s): jira (jira cloud), github (github com); 2 team(s); 1 program(s)"
