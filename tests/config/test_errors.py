"""Validation and file errors: each problem is one line naming the file, the line, the key path
and what was expected; every problem in a file is reported at once; secrets are never echoed."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from pathlib import Path

import pytest

from sync.config import ConfigError, CrosstrackConfig, load_config

from .conftest import MINIMAL_TOML

Write = Callable[..., Path]


def line_of(text: str, fragment: str, occurrence: int = 1) -> int:
    return [i for i, line in enumerate(text.splitlines(), 1) if fragment in line][occurrence - 1]


def errors_of(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value


def test_minimal_config_is_valid(write: Write) -> None:
    config = load_config(write(MINIMAL_TOML))
    assert isinstance(config, CrosstrackConfig)
    assert [s.name for s in config.sources] == ["jira", "github"]


def _edit(old: str, new: str) -> str:
    assert old in MINIMAL_TOML, old
    return MINIMAL_TOML.replace(old, new, 1)


EXTRA_JIRA = """
[[sources]]
name = "jira"
kind = "jira"
flavour = "datacenter"
base_url = "https://jira.example.com"
token_file = "jira-token"
options = { projects = ["OPS"] }
"""

# (id, config text, fragment on the reported line (occurrence), "path: message")
CASES = [
    (
        "duplicate source name",
        MINIMAL_TOML + EXTRA_JIRA,
        ('name = "jira"', 2),
        "sources[2].name: duplicate source name 'jira' (first at sources[0])",
    ),
    (
        "duplicate team slug",
        MINIMAL_TOML
        + '\n[[teams]]\nslug = "web"\nname = "Web 2"\nscopes = [{ source = "jira", project = "PLAT" }]\n',
        ('slug = "web"', 2),
        "teams[2].slug: duplicate team slug 'web' (first at teams[1])",
    ),
    (
        "duplicate program slug",
        MINIMAL_TOML + '\n[[programs]]\nslug = "checkout-v2"\nname = "Again"\nitems = ["PAY-1"]\n',
        ('slug = "checkout-v2"', 2),
        "programs[1].slug: duplicate program slug 'checkout-v2' (first at programs[0])",
    ),
    (
        "team scope of the wrong kind",
        _edit('{ source = "jira", project = "PAY" }', '{ source = "github", project = "PAY" }'),
        ('source = "github", project', 1),
        "teams[0].scopes[0].project: source 'github' is a GitHub source (expected repo = \"owner/name\")",
    ),
    (
        "team repo the source does not sync",
        _edit('repo = "acme/web"', 'repo = "acme/api"'),
        ("acme/api", 1),
        "teams[1].scopes[0].repo: repo 'acme/api' is not synced by source 'github' "
        "(expected one of sources[1].options.repos: acme/web, acme/mobile)",
    ),
    (
        "team project the source does not sync",
        _edit('project = "PAY" }', 'project = "OPS" }'),
        ("OPS", 1),
        "teams[0].scopes[0].project: project 'OPS' is not synced by source 'jira' "
        "(expected one of sources[0].options.projects: PAY, PLAT)",
    ),
    (
        "jql on a GitHub program scope",
        _edit('labels = ["checkout-v2"]', 'jql = "labels = x"'),
        ('jql = "labels = x"', 1),
        "programs[0].scope[1].jql: jql applies to Jira sources; 'github' is a GitHub source "
        "(expected repos, labels, milestone, issue_type or project_v2)",
    ),
    (
        "GitHub selectors on a Jira program scope",
        _edit('jql = "labels = checkout-v2"', 'labels = ["x"]'),
        ('labels = ["x"]', 1),
        "programs[0].scope[0].labels: labels applies to GitHub sources; 'jira' is a Jira source "
        '(expected jql = "...")',
    ),
    (
        "program repo the source does not sync",
        _edit('labels = ["checkout-v2"]', 'repos = ["web", "infra"]'),
        ('repos = ["web", "infra"]', 1),
        "programs[0].scope[1].repos[1]: repo 'infra' is not synced by source 'github' "
        "(expected one of sources[1].options.repos: web, mobile)",
    ),
    (
        "undeclared Projects v2 number",
        _edit('labels = ["checkout-v2"]', "project_v2 = 3"),
        ("project_v2 = 3", 1),
        "programs[0].scope[1].project_v2: project 3 is not declared in sources[1].options.projects_v2 "
        "(expected one of: none declared)",
    ),
    (
        "GitHub program scope without a selection",
        _edit('labels = ["checkout-v2"]', ""),
        ("[[programs.scope]]", 2),
        "programs[0].scope[1]: a GitHub scope rule needs a selection "
        "(expected at least one of repos, labels, milestone, issue_type, project_v2)",
    ),
    (
        "Jira Cloud without user",
        _edit('user = "tpm@example.com"\n', ""),
        ("[[sources]]", 1),
        'sources[0]: user is required for Jira Cloud (basic auth with an API token) (expected user = "the account email")',
    ),
    (
        "both token_env and token_file",
        _edit('token_env = "JIRA_TOKEN"', 'token_env = "JIRA_TOKEN"\ntoken_file = "x"'),
        ("[[sources]]", 1),
        "sources[0]: exactly one of token_env or token_file is required (both are set) "
        '(expected token_env = "ENV_VAR" or token_file = "PATH")',
    ),
    (
        "neither token_env nor token_file",
        _edit('token_env = "GITHUB_TOKEN"\n', ""),
        ("[[sources]]", 2),
        'sources[1]: exactly one of token_env or token_file is required (expected token_env = "ENV_VAR" or token_file = "PATH")',
    ),
    (
        "unknown tracker kind",
        _edit('kind = "github"', 'kind = "gitlab"'),
        ('kind = "gitlab"', 1),
        "sources[1].kind: unknown tracker kind (expected 'jira' or 'github', got 'gitlab')",
    ),
    (
        "invalid flavour",
        _edit('kind = "jira"', 'kind = "jira"\nflavour = "server"'),
        ('flavour = "server"', 1),
        "sources[0].flavour: invalid value (expected 'cloud' or 'datacenter', got 'server')",
    ),
    (
        "Enterprise Server URL without /api/v3",
        _edit('kind = "github"', 'kind = "github"\nflavour = "enterprise"'),
        ("[[sources]]", 2),
        "sources[1]: an Enterprise Server base_url ends with /api/v3 (expected base_url = 'https://HOST/api/v3')",
    ),
    (
        "not an http URL",
        _edit('base_url = "https://api.github.com"', 'base_url = "ftp://example.com"'),
        ("ftp://", 1),
        "sources[1].base_url: not an http(s) URL (expected a URL like 'https://acme.atlassian.net', got 'ftp://example.com')",
    ),
    (
        "unparseable URL",
        _edit('base_url = "https://api.github.com"', 'base_url = "http://[::1"'),
        ("[::1", 1),
        "sources[1].base_url: not an http(s) URL (expected a URL like 'https://acme.atlassian.net', got 'http://[::1')",
    ),
    (
        "unknown time zone",
        _edit('projects = ["PAY", "PLAT"]', 'projects = ["PAY", "PLAT"]\ntimezone = "Mars/Olympus"'),
        ("Mars/Olympus", 1),
        "sources[0].options.timezone: unknown time zone "
        "(expected an IANA zone name such as 'Europe/Berlin' or 'UTC', got 'Mars/Olympus')",
    ),
    (
        "lower-case project key",
        _edit('projects = ["PAY", "PLAT"]', 'projects = ["pay", "PLAT"]'),
        ('projects = ["pay"', 1),
        "sources[0].options.projects[0]: not a Jira project key "
        "(expected upper-case letters, digits or '_', starting with a letter, e.g. PAY, got 'pay')",
    ),
    (
        "empty repos",
        _edit('repos = ["web", "mobile"]', "repos = []"),
        ("repos = []", 1),
        "sources[1].options.repos: too few entries (expected at least 1)",
    ),
    (
        "repeated repo",
        _edit('repos = ["web", "mobile"]', 'repos = ["web", "web"]'),
        ('repos = ["web", "web"]', 1),
        "sources[1].options.repos: 'web' is listed twice (expected each value once)",
    ),
    (
        "same repo by name and full name",
        _edit('repos = ["web", "mobile"]', 'repos = ["web", "acme/WEB"]'),
        ("[sources.options]", 2),
        "sources[1].options: 'acme/web' is listed twice (expected each value once)",
    ),
    (
        "scope owned by two teams",
        _edit(
            'scopes = [{ source = "github", repo = "acme/web", label = "frontend" }]',
            'scopes = [{ source = "jira", project = "PAY" }]',
        ),
        ('scopes = [{ source = "jira", project = "PAY" }]', 2),
        "teams[1].scopes[0]: this scope is already declared at teams[0].scopes[0] (expected each scope once)",
    ),
    (
        "negative overlap",
        _edit('projects = ["PAY", "PLAT"]', 'projects = ["PAY", "PLAT"]\noverlap_minutes = -1'),
        ("overlap_minutes", 1),
        "sources[0].options.overlap_minutes: out of range (expected at least 0, got -1)",
    ),
    (
        "unknown item kind in type_kinds",
        _edit('repos = ["web", "mobile"]', 'repos = ["web", "mobile"]\ntype_kinds = { Bug = "defect" }'),
        ("type_kinds", 1),
        "sources[1].options.type_kinds.Bug: invalid value "
        "(expected 'initiative', 'epic', 'story', 'task', 'bug', 'subtask' or 'other', got 'defect')",
    ),
    (
        "option of the other tracker",
        _edit('projects = ["PAY", "PLAT"]', 'projects = ["PAY", "PLAT"]\nrepos = ["web"]'),
        ('repos = ["web"]', 1),
        "sources[0].options.repos: unknown key (expected one of: epic_link_field, fetch_remote_links, "
        "github_hosts, jql, keep_raw, max_attempts, max_rate_limit_wait_seconds, overlap_minutes, page_size, "
        "projects, retry_backoff_seconds, sprint_field, start_date_field, story_points_field, timeout_seconds, "
        "timezone)",
    ),
    (
        "bad slug",
        _edit('slug = "payments"', 'slug = "Payments!"'),
        ("Payments!", 1),
        "teams[0].slug: not a valid slug (expected lower-case letters, digits, '-' or '_', "
        "starting and ending with a letter or digit, got 'Payments!')",
    ),
    (
        "wrong type",
        _edit('name = "Payments"', "name = 5"),
        ("name = 5", 1),
        "teams[0].name: wrong type (expected a string, got the number 5)",
    ),
    (
        "bad item key",
        _edit('"acme/web#34"', '"web#34"'),
        ("web#34", 1),
        "programs[0].items[1]: not an item key "
        "(expected a Jira key like 'PAY-12' or a GitHub key like 'acme/web#34', got 'web#34')",
    ),
    (
        "item in a project no source syncs",
        _edit('"PAY-12"', '"OPS-12"'),
        ("OPS-12", 1),
        "programs[0].items[0]: item 'OPS-12' is in project 'OPS', which no source syncs "
        "(expected a key in: PAY, PLAT, acme/mobile, acme/web)",
    ),
    (
        "item in a repo no source syncs",
        _edit('"acme/web#34"', '"acme/infra#34"'),
        ("acme/infra#34", 1),
        "programs[0].items[1]: item 'acme/infra#34' is in repo 'acme/infra', which no source syncs "
        "(expected a key in: PAY, PLAT, acme/mobile, acme/web)",
    ),
    (
        "baseline after target",
        _edit("baseline_date = 2026-10-01", "baseline_date = 2027-10-01"),
        ("[[programs]]", 1),
        "programs[0]: baseline_date 2027-10-01 is after target_date 2027-01-31 "
        "(expected a baseline on or before the target date)",
    ),
    (
        "jql mixed with GitHub selectors",
        _edit('jql = "labels = checkout-v2"', 'jql = "labels = checkout-v2"\nmilestone = "v2"'),
        ("[[programs.scope]]", 1),
        "programs[0].scope[0]: jql (Jira) cannot be combined with milestone (GitHub) in one rule "
        "(expected one rule per source)",
    ),
    (
        "reserved top-level key",
        "mirrors = []\n" + MINIMAL_TOML,
        ("mirrors", 1),
        "mirrors: unknown key (expected one of: sources, teams, programs)",
    ),
    (
        "misspelled top-level key",
        MINIMAL_TOML.replace("[[programs]]", "[[program]]").replace(
            "[[programs.scope]]", "[[program.scope]]"
        ),
        ("[[program]]", 1),
        "program: unknown key (expected one of: sources, teams, programs; did you mean 'programs'?)",
    ),
    (
        "sources not a list",
        'sources = "jira"\n',
        ("sources", 1),
        "sources: wrong type (expected a list of tables, got the string 'jira')",
    ),
]


@pytest.mark.parametrize(("text", "where", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_problem_is_reported_with_file_line_path_and_expectation(
    write: Write, text: str, where: tuple[str, int], expected: str
) -> None:
    path = write(text)
    err = errors_of(path)
    assert str(err) == f"{path}:{line_of(text, *where)}: {expected}"
    [problem] = err.problems
    assert (problem.file, problem.line) == (str(path), line_of(text, *where))


def test_every_problem_is_reported_in_file_order(write: Write) -> None:
    text = (
        MINIMAL_TOML.replace('base_url = "https://api.github.com"', 'base_url = "api.github.com"')
        .replace('slug = "payments"', 'slug = "Payments"')
        .replace("baseline_date = 2026-10-01", 'baseline_date = "soon"')
        .replace('project = "PAY"', 'project = "PAY", colour = "red"')
    )
    err = errors_of(write(text))
    assert [(p.line, p.path) for p in err.problems] == [
        (line_of(text, "api.github.com"), "sources[1].base_url"),
        (line_of(text, '"Payments"', 1), "teams[0].slug"),
        (line_of(text, "colour"), "teams[0].scopes[0].colour"),
        (line_of(text, "soon"), "programs[0].baseline_date"),
    ]
    assert len(str(err).splitlines()) == 4


def test_scopes_naming_an_invalid_source_are_not_flagged_twice(write: Write) -> None:
    # The jira source itself is broken; the teams and programs naming it must not add noise.
    text = MINIMAL_TOML.replace('base_url = "https://acme.atlassian.net"', 'base_url = "nope"')
    err = errors_of(write(text))
    assert [p.path for p in err.problems] == ["sources[0].base_url"]


@pytest.mark.parametrize(
    ("key", "instead"),
    [
        ("token", "token_env or token_file"),
        ("password", "token_env or token_file"),
        ("secret", "token_env or token_file"),
        ("api_token", "token_env or token_file"),
        ("webhook_secret", "webhook_secret_env or webhook_secret_file"),
        ("jira_token", "token_env or token_file"),
        ("Webhook_Secret", "webhook_secret_env or webhook_secret_file"),
    ],
)
def test_literal_secrets_are_refused_without_echoing_them(write: Write, key: str, instead: str) -> None:
    text = MINIMAL_TOML.replace(
        'token_env = "GITHUB_TOKEN"', f'token_env = "GITHUB_TOKEN"\n{key} = "ghp_S3cr3tValue"'
    )
    path = write(text)
    err = errors_of(path)
    assert str(err) == (
        f"{path}:{line_of(text, 'ghp_S3cr3tValue')}: sources[1].{key}: a literal secret is not allowed in the "
        f"config file (expected {instead} naming where the secret is; the value is not shown)"
    )


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('token_env = "JIRA_TOKEN"', 'token_env = "ATATT3x-S3cr3tValue"'),  # the token pasted as a name
        ("https://acme.atlassian.net", "https://bob:S3cr3tValue@acme.atlassian.net"),
        ('projects = ["PAY", "PLAT"]', 'projects = ["PAY", "PLAT"]\ntoken = "S3cr3tValue"'),
        ("[[teams]]", 'password = "S3cr3tValue"\n\n[[teams]]'),  # inside the github source's options
    ],
)
def test_secret_looking_values_never_appear_in_errors(write: Write, old: str, new: str) -> None:
    err = errors_of(write(MINIMAL_TOML.replace(old, new, 1)))
    assert err.problems
    assert "S3cr3tValue" not in str(err)
    assert "S3cr3tValue" not in repr(err.problems)
    assert "S3cr3tValue" not in "".join(traceback.format_exception(err))  # what a log with exc_info shows


def test_toml_syntax_error_gives_line_and_column(write: Write) -> None:
    path = write('[[sources]]\nname = "jira"\nkind = \n')
    err = errors_of(path)
    assert str(err) == f"{path}:3:8: invalid TOML: invalid value"
    assert (err.problems[0].line, err.problems[0].column) == (3, 8)


def test_toml_duplicate_key_is_a_syntax_error(write: Write) -> None:
    path = write('[[sources]]\nname = "jira"\nname = "other"\n')
    err = errors_of(path)
    assert str(err).startswith(f"{path}:3:")
    assert "invalid TOML" in str(err)


def test_yaml_syntax_error_gives_line_and_column(write: Write) -> None:
    path = write("sources:\n  - name: jira\n   kind: jira\n", "crosstrack.yaml")
    err = errors_of(path)
    assert str(err).startswith(f"{path}:3:4: invalid YAML: expected <block end>")


def test_yaml_duplicate_keys_are_refused(write: Write) -> None:
    path = write("sources:\n  - name: jira\n    kind: jira\n    name: other\n", "crosstrack.yml")
    assert str(errors_of(path)) == f"{path}:4: sources[0].name: duplicate key (expected each key once)"


def test_yaml_validation_errors_carry_the_key_line(write: Write) -> None:
    text = """\
sources:
  - name: gh
    kind: github
    base_url: https://api.github.com
    token_env: GH_TOKEN
    options:
      org: acme
      repos: [web]
      epic_typos: [Epic]
teams:
  - slug: web
    name: Web
    scopes:
      - {source: gh, repo: acme/web}
      - source: jira
        project: PAY
"""
    path = write(text, "crosstrack.yaml")
    err = errors_of(path)
    assert str(err).splitlines() == [
        f"{path}:9: sources[0].options.epic_typos: unknown key (expected one of: epic_labels, epic_types, "
        "in_progress_labels, label_kinds, max_rate_limit_wait_seconds, org, overlap_seconds, projects_v2, "
        "repos, retries, retry_backoff_seconds, seconds_between_writes, type_kinds; did you mean 'epic_types'?)",
        f"{path}:15: teams[0].scopes[1].source: no source named 'jira' is declared (expected one of: gh)",
    ]


def test_yaml_recursive_alias_is_an_error_not_a_crash(write: Write) -> None:
    path = write("a: &a [*a]\n", "crosstrack.yaml")
    assert errors_of(path).problems


def test_top_level_must_be_a_table(write: Write) -> None:
    path = write("- 1\n- 2\n", "crosstrack.yaml")
    assert str(errors_of(path)) == (
        f"{path}:1: expected a table of sources, teams and programs at the top level, got a list"
    )


def test_empty_file_is_an_empty_config(write: Write) -> None:
    assert load_config(write("", "crosstrack.yaml")) == CrosstrackConfig()
    assert load_config(write("# nothing yet\n")) == CrosstrackConfig()


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    assert str(errors_of(path)) == f"{path}: no such file"


def test_directory(tmp_path: Path) -> None:
    path = tmp_path / "dir.toml"
    path.mkdir()
    assert str(errors_of(path)) == f"{path}: is a directory (expected a config file)"


def test_unknown_extension(write: Write) -> None:
    path = write("{}", "crosstrack.json")
    assert str(errors_of(path)) == f"{path}: unknown config file type '.json' (expected .toml, .yaml or .yml)"


def test_not_utf8(write: Write) -> None:
    path = write('# caf\xe9\n[[sources]]\nname = "caf\xe9"\n'.encode("latin-1"))
    assert str(errors_of(path)) == (
        f"{path}:1: not UTF-8 text (byte 0xe9 at offset 5; expected the file saved as UTF-8)"
    )


def test_utf8_bom_is_accepted(write: Write) -> None:
    path = write(b"\xef\xbb\xbf" + MINIMAL_TOML.encode())
    assert [s.name for s in load_config(path).sources] == ["jira", "github"]


def test_model_validate_also_checks_references() -> None:
    # The API may build configs from JSON: the cross-reference rules hold there too.
    with pytest.raises(ValueError, match="no source named 'jira'"):
        CrosstrackConfig.model_validate(
            {
                "teams": [
                    {"slug": "payments", "name": "Payments", "scopes": [{"source": "jira", "project": "PAY"}]}
                ]
            }
        )


def test_yaml_boolean_where_a_string_belongs_says_to_quote_it(write: Write) -> None:
    text = """\
sources:
  - name: jira
    kind: jira
    flavour: datacenter
    base_url: https://jira.example.com
    token_env: JIRA_TOKEN
    options:
      projects: [PAY, NO]
"""
    path = write(text, "crosstrack.yaml")
    assert str(errors_of(path)) == (
        f"{path}:8: sources[0].options.projects[1]: wrong type "
        "(expected a string, got the boolean false; in YAML, quote it)"
    )


def test_windows_line_endings_keep_line_numbers(tmp_path: Path) -> None:
    from .conftest import EXAMPLES

    lf = (EXAMPLES / "broken.toml").read_text()
    crlf = tmp_path / "broken.toml"
    crlf.write_bytes(lf.replace("\n", "\r\n").encode())
    with pytest.raises(ConfigError) as lf_error:
        load_config(EXAMPLES / "broken.toml")
    assert [(p.line, p.path, p.message) for p in errors_of(crlf).problems] == [
        (p.line, p.path, p.message) for p in lf_error.value.problems
    ]
