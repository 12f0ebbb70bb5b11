"""The shipped examples: the demo config loads as documented, its YAML twin is the same config,
and every mistake in broken.toml is reported with its file, line, key path and expectation."""

from __future__ import annotations

from datetime import date

import pytest

from connectors.base import SourceSettings
from connectors.records import TrackerKind
from sync.config import ConfigError, CrosstrackConfig, GitHubSourceConfig, JiraSourceConfig, load_config

from .conftest import DEMO_ENV, EXAMPLES


@pytest.fixture(scope="module")
def demo() -> CrosstrackConfig:
    return load_config(EXAMPLES / "crosstrack.toml")


def test_demo_example_declares_the_sandbox_organization(demo: CrosstrackConfig) -> None:
    jira, github = demo.sources
    assert isinstance(jira, JiraSourceConfig)
    assert (jira.name, jira.kind, jira.flavour, jira.base_url, jira.user) == (
        "jira",
        "jira",
        "cloud",
        "http://127.0.0.1:8765/jira",
        "tpm@example.com",
    )
    assert (jira.token_env, jira.webhook_secret_env) == (
        "CROSSTRACK_JIRA_TOKEN",
        "CROSSTRACK_JIRA_WEBHOOK_SECRET",
    )
    assert jira.options.projects == ["PAY", "PLAT"]

    assert isinstance(github, GitHubSourceConfig)
    assert (github.name, github.kind, github.flavour, github.base_url) == (
        "github",
        "github",
        "com",
        "http://127.0.0.1:8765/github/api/v3",
    )
    assert (github.token_env, github.webhook_secret_env) == (
        "CROSSTRACK_GITHUB_TOKEN",
        "CROSSTRACK_GITHUB_WEBHOOK_SECRET",
    )
    opts = github.options
    assert (opts.org, opts.repos) == ("acme", ["web", "mobile", "api-gateway"])
    assert (opts.epic_types, opts.epic_labels, opts.in_progress_labels) == (
        ["Epic"],
        ["epic"],
        ["in progress"],
    )
    [project] = opts.projects_v2
    assert (project.number, project.status_field, project.iteration_field, project.estimate_field) == (
        1,
        "Status",
        "Iteration",
        "Estimate",
    )

    assert [(t.slug, t.name, [(s.source, s.project or s.repo) for s in t.scopes]) for t in demo.teams] == [
        ("payments", "Payments", [("jira", "PAY")]),
        ("platform", "Platform", [("jira", "PLAT")]),
        ("web", "Web", [("github", "acme/web")]),
        ("mobile", "Mobile", [("github", "acme/mobile")]),
        ("api-gateway", "API Gateway", [("github", "acme/api-gateway")]),
    ]

    [program] = demo.programs
    assert (program.slug, program.name, program.owner) == ("checkout-v2", "Checkout v2", "tpm@example.com")
    assert program.baseline_date == date(2026, 10, 1)
    assert program.target_date is not None
    assert 63 <= (program.target_date - date(2026, 11, 22)).days <= 77  # about ten weeks out
    jira_rule, github_rule = program.scope
    assert (jira_rule.source, jira_rule.jql) == ("jira", "labels = checkout-v2")
    assert (github_rule.source, github_rule.repos, github_rule.labels) == (
        "github",
        ["web", "mobile", "api-gateway"],
        ["checkout-v2"],
    )


def test_yaml_twin_is_the_same_config(demo: CrosstrackConfig) -> None:
    assert load_config(EXAMPLES / "crosstrack.yaml") == demo


def test_source_settings_give_connectors_plain_values_with_secrets_resolved(demo: CrosstrackConfig) -> None:
    # Options carry what the file sets; each connector applies its own documented defaults.
    assert demo.source_settings("jira", DEMO_ENV) == SourceSettings(
        name="jira",
        kind=TrackerKind.JIRA,
        base_url="http://127.0.0.1:8765/jira",
        flavour="cloud",
        token="jira-token-value",
        user="tpm@example.com",
        webhook_secret="jira-hook-secret",
        options={"projects": ["PAY", "PLAT"]},
    )
    github = demo.source_settings("github", DEMO_ENV)
    assert (github.kind, github.token, github.webhook_secret, github.user) == (
        TrackerKind.GITHUB,
        "ghp_githubtokenvalue",
        "gh-hook-secret",
        None,
    )
    assert github.options == {
        "org": "acme",
        "repos": ["web", "mobile", "api-gateway"],
        "epic_types": ["Epic"],
        "epic_labels": ["epic"],
        "in_progress_labels": ["in progress"],
        "projects_v2": [
            {
                "number": 1,
                "status_field": "Status",
                "in_progress_values": ["In Progress"],
                "done_values": ["Done"],
                "iteration_field": "Iteration",
                "estimate_field": "Estimate",
            }
        ],
    }


def test_unknown_source_name_lists_the_declared_ones(demo: CrosstrackConfig) -> None:
    with pytest.raises(ConfigError) as info:
        demo.source_settings("gitlab", DEMO_ENV)
    assert (
        str(info.value)
        == f"{EXAMPLES / 'crosstrack.toml'}: no source named 'gitlab' (expected one of: jira, github)"
    )


def test_broken_example_reports_every_mistake_with_file_line_path_and_expectation() -> None:
    path = EXAMPLES / "broken.toml"
    lines = path.read_text().splitlines()

    def line_of(fragment: str, occurrence: int = 1) -> int:
        return [i for i, text in enumerate(lines, 1) if fragment in text][occurrence - 1]

    with pytest.raises(ConfigError) as info:
        load_config(path)
    f = str(path)
    assert str(info.value).splitlines() == [
        f"{f}:{line_of('[[sources]]')}: sources[0].base_url: required key is missing "
        "(expected the tracker's http(s) base URL)",
        f"{f}:{line_of('base_ulr')}: sources[0].base_ulr: unknown key (expected one of: base_url, flavour, kind, "
        "name, options, token_env, token_file, user, webhook_secret_env, webhook_secret_file; "
        "did you mean 'base_url'?)",
        f"{f}:{line_of('token = ')}: sources[0].token: a literal secret is not allowed in the config file "
        "(expected token_env or token_file naming where the secret is; the value is not shown)",
        f"{f}:{line_of('[sources.options]', 2)}: sources[1].options.repos: required key is missing "
        '(expected a non-empty list of repositories, e.g. repos = ["web"])',
        f"{f}:{line_of('gitlab')}: teams[1].scopes[0].source: no source named 'gitlab' is declared "
        "(expected one of: github, jira)",
        f"{f}:{line_of('target_date')}: programs[0].target_date: invalid value "
        "(expected a date like 2027-01-31, got the string '31/01/2027')",
    ]
    assert [p.path for p in info.value.problems] == [
        "sources[0].base_url",
        "sources[0].base_ulr",
        "sources[0].token",
        "sources[1].options.repos",
        "teams[1].scopes[0].source",
        "programs[0].target_date",
    ]
    assert "ATATT3xFfGF0" not in str(info.value)
    assert all(p.file == f and p.line for p in info.value.problems)


def test_examples_readme_shows_the_real_messages_and_every_key(monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (EXAMPLES / "README.md").read_text()
    monkeypatch.chdir(EXAMPLES.parent)
    with pytest.raises(ConfigError) as info:
        load_config("examples/broken.toml")
    for line in str(info.value).splitlines():
        assert line in readme

    from sync.config import (
        GitHubOptions,
        JiraOptions,
        ProgramConfig,
        ProgramScope,
        ProjectV2Options,
        TeamConfig,
        TeamScope,
    )

    models = [JiraSourceConfig, GitHubSourceConfig, JiraOptions, GitHubOptions, ProjectV2Options]
    models += [TeamConfig, TeamScope, ProgramConfig, ProgramScope]
    undocumented = {f for m in models for f in m.model_fields if f"`{f}`" not in readme}
    assert undocumented == set()
