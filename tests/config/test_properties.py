"""Property tests: the loader never crashes (only ConfigError), any unknown key is reported at its
path and line, and valid configs round-trip through TOML and YAML."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync.config import ConfigError, CrosstrackConfig, load_config

from . import tomlwriter
from .conftest import EXAMPLES

PROFILE = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Whole generated configs cost more per example; fewer of them still cover the shapes.
CONFIG_PROFILE = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    # Hypothesis runs many examples per test: a module-scoped directory, one file name per test.
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)


def _load_text(scratch: Path, text: str, suffix: str) -> CrosstrackConfig:
    path = scratch / f"config{suffix}"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


# -- never crashes -------------------------------------------------------------------------------

TOML_ISH = st.lists(
    st.sampled_from(
        [*"[]{}=,.\"'#\n abcsourcetamsprog12-_:", "[[sources]]\n", "[sources.options]\n", 'name = "x"\n']
    ),
    max_size=40,
).map("".join)
YAML_ISH = st.lists(
    st.sampled_from([*"-:[]{}&*!|> \nabsourcetm12'\"#", "sources:\n", "  - ", "name: x\n", "\t"]), max_size=40
).map("".join)


def _outcome(scratch: Path, text: str, suffix: str) -> ConfigError | None:
    try:
        _load_text(scratch, text, suffix)
    except ConfigError as exc:
        return exc
    return None


@PROFILE
@given(text=st.one_of(st.text(), TOML_ISH))
def test_arbitrary_toml_text_raises_only_config_error(scratch: Path, text: str) -> None:
    error = _outcome(scratch, text, ".toml")
    assert error is None or (error.problems and all(str(p) for p in error.problems))


@PROFILE
@given(text=st.one_of(st.text(), YAML_ISH))
def test_arbitrary_yaml_text_raises_only_config_error(scratch: Path, text: str) -> None:
    error = _outcome(scratch, text, ".yaml")
    assert error is None or (error.problems and all(str(p) for p in error.problems))


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.dates(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)


@PROFILE
@given(data=st.dictionaries(st.sampled_from(["sources", "teams", "programs", "x"]), JSONISH, max_size=3))
def test_arbitrary_yaml_data_raises_only_config_error(scratch: Path, data: dict[str, Any]) -> None:
    error = _outcome(scratch, yaml.safe_dump(data), ".yaml")
    assert error is None or error.problems


# -- unknown keys anywhere -------------------------------------------------------------------------

EXAMPLE = tomllib_data = __import__("tomllib").loads((EXAMPLES / "crosstrack.toml").read_text())

# Every table of the example that is a model (not a free-form mapping such as type_kinds).
TABLE_PATHS: list[tuple[str | int, ...]] = [
    (),
    ("sources", 0),
    ("sources", 0, "options"),
    ("sources", 1),
    ("sources", 1, "options"),
    ("sources", 1, "options", "projects_v2", 0),
    ("teams", 2),
    ("teams", 2, "scopes", 0),
    ("programs", 0),
    ("programs", 0, "scope", 1),
]


def _at(data: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        data = data[part]
    return data


def _fmt(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            shown = part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else repr(part)
            out += f".{shown}" if out else shown
    return out


@PROFILE
@given(
    where=st.sampled_from(TABLE_PATHS),
    key=st.text(min_size=1, max_size=12),
    style=st.sampled_from(["inline", "tables"]),
)
def test_unknown_key_anywhere_is_reported_at_its_path_and_line(
    scratch: Path, where: tuple[str | int, ...], key: str, style: tomlwriter.Style
) -> None:
    import copy

    data = copy.deepcopy(EXAMPLE)
    table = _at(data, where)
    if key in table or key in _known_keys(where):
        return
    table[key] = "some value"
    text = tomlwriter.dumps(data, style)
    with pytest.raises(ConfigError) as info:
        _load_text(scratch, text, ".toml")
    [problem] = info.value.problems
    assert problem.path == _fmt((*where, key))
    assert problem.message.startswith(("unknown key (expected one of: ", "a literal secret is not allowed"))
    assert problem.line is not None
    assert tomlwriter.key(key) in text.split("\n")[problem.line - 1]


def _known_keys(where: tuple[str | int, ...]) -> set[str]:
    from sync.config import (
        GitHubOptions,
        GitHubSourceConfig,
        JiraOptions,
        JiraSourceConfig,
        ProgramConfig,
        ProgramScope,
        ProjectV2Options,
        TeamConfig,
        TeamScope,
    )

    models = {
        (): CrosstrackConfig,
        ("sources", 0): JiraSourceConfig,
        ("sources", 0, "options"): JiraOptions,
        ("sources", 1): GitHubSourceConfig,
        ("sources", 1, "options"): GitHubOptions,
        ("sources", 1, "options", "projects_v2", 0): ProjectV2Options,
        ("teams", 2): TeamConfig,
        ("teams", 2, "scopes", 0): TeamScope,
        ("programs", 0): ProgramConfig,
        ("programs", 0, "scope", 1): ProgramScope,
    }
    return set(models[where].model_fields)


# -- valid configs round-trip ----------------------------------------------------------------------

SLUG = st.from_regex(r"[a-z][a-z0-9_-]{0,8}[a-z0-9]", fullmatch=True)
PROJECT = st.from_regex(r"[A-Z][A-Z0-9_]{1,5}", fullmatch=True)
REPO = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,10}", fullmatch=True)
ORG = st.from_regex(r"[a-z0-9][a-z0-9-]{0,8}", fullmatch=True)
ENV = st.from_regex(r"[A-Z_][A-Z0-9_]{0,12}", fullmatch=True)
TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=16
).filter(lambda s: s.strip() == s and s != "")


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(SLUG, unique=True, max_size=4))
    sources: list[dict[str, Any]] = []
    for name in names:
        secret: dict[str, Any] = draw(
            st.sampled_from([{"token_env": draw(ENV)}, {"token_file": f"/run/secrets/{name}"}])
        )
        if draw(st.booleans()):
            flavour = draw(st.sampled_from(["cloud", "datacenter"]))
            source: dict[str, Any] = {"name": name, "kind": "jira", "base_url": f"https://{name}.example.com"}
            if flavour == "datacenter" or draw(st.booleans()):
                source["flavour"] = flavour  # cloud is the default: written or not
            if flavour == "cloud" or draw(st.booleans()):
                source["user"] = "tpm@example.com"
            options: dict[str, Any] = {
                "projects": draw(st.lists(PROJECT, min_size=1, max_size=3, unique=True))
            }
            if draw(st.booleans()):
                options["overlap_minutes"] = draw(st.integers(0, 60))
            if draw(st.booleans()):
                options["jql"] = draw(TEXT)
            if draw(st.booleans()):
                options["timezone"] = draw(st.sampled_from(["UTC", "Europe/Berlin", "America/New_York"]))
        else:
            source = {"name": name, "kind": "github", "base_url": "https://api.github.com"}
            options = {
                "org": draw(ORG),
                "repos": draw(st.lists(REPO, min_size=1, max_size=3, unique_by=str.lower)),
            }
            if draw(st.booleans()):
                options["projects_v2"] = [
                    {"number": n} for n in draw(st.lists(st.integers(1, 50), unique=True, max_size=2))
                ]
            if draw(st.booleans()):
                options["in_progress_labels"] = draw(st.lists(TEXT, max_size=2))
            if draw(st.booleans()):
                options["label_kinds"] = draw(
                    st.dictionaries(TEXT, st.sampled_from(["bug", "story", "epic", "task"]), max_size=2)
                )
        source.update(secret)
        source["options"] = options
        sources.append(source)

    def scope_for(src: dict[str, Any]) -> dict[str, Any]:
        if src["kind"] == "jira":
            return {"source": src["name"], "project": draw(st.sampled_from(src["options"]["projects"]))}
        scope = {
            "source": src["name"],
            "repo": f"{src['options']['org']}/{draw(st.sampled_from(src['options']['repos']))}",
        }
        if draw(st.booleans()):
            scope["label"] = draw(TEXT)
        return scope

    teams = []
    owned: list[dict[str, Any]] = []  # each scope belongs to one team only
    if sources:
        for slug in draw(st.lists(SLUG, unique=True, max_size=3)):
            scopes = [scope_for(s) for s in draw(st.lists(st.sampled_from(sources), min_size=1, max_size=2))]
            scopes = [sc for i, sc in enumerate(scopes) if sc not in owned and sc not in scopes[:i]]
            owned += scopes
            if scopes:
                teams.append({"slug": slug, "name": draw(TEXT), "scopes": scopes})

    # Explicit items must be in a synced project or repo.
    item_keys = [
        f"{p}-{n}" if s["kind"] == "jira" else f"{s['options']['org']}/{p}#{n}"
        for s in sources
        for p in (s["options"]["projects"] if s["kind"] == "jira" else s["options"]["repos"])
        for n in (1, 12)
    ]
    programs = []
    for slug in draw(st.lists(SLUG, unique=True, max_size=2)) if sources else []:
        program: dict[str, Any] = {"slug": slug, "name": draw(TEXT)}
        rules = []
        for src in draw(st.lists(st.sampled_from(sources), max_size=2)):
            if src["kind"] == "jira":
                rules.append({"source": src["name"], "jql": draw(TEXT)})
            else:
                rules.append({"source": src["name"], "labels": draw(st.lists(TEXT, min_size=1, max_size=2))})
        if rules:
            program["scope"] = rules
        if not rules or draw(st.booleans()):
            program["items"] = draw(st.lists(st.sampled_from(item_keys), min_size=1, max_size=3, unique=True))
        if draw(st.booleans()):
            target = draw(st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)))
            program["target_date"] = target
            program["baseline_date"] = target - timedelta(days=draw(st.integers(0, 365)))
        if draw(st.booleans()):
            program["owner"] = draw(TEXT)
        programs.append(program)
    return {"sources": sources, "teams": teams, "programs": programs}


@CONFIG_PROFILE
@given(data=configs(), style=st.sampled_from(["inline", "tables"]))
def test_valid_configs_round_trip_through_toml(
    scratch: Path, data: dict[str, Any], style: tomlwriter.Style
) -> None:
    expected = CrosstrackConfig.model_validate(data)
    loaded = _load_text(scratch, tomlwriter.dumps(data, style), ".toml")
    assert loaded == expected
    # and through the model's own dump (what the API would store and read back)
    assert CrosstrackConfig.model_validate(loaded.model_dump(mode="json")) == loaded


@CONFIG_PROFILE
@given(data=configs())
def test_valid_configs_round_trip_through_yaml(scratch: Path, data: dict[str, Any]) -> None:
    expected = CrosstrackConfig.model_validate(data)
    assert _load_text(scratch, yaml.safe_dump(data, allow_unicode=True), ".yaml") == expected


@CONFIG_PROFILE
@given(data=configs(), style=st.sampled_from(["inline", "tables"]))
def test_every_key_of_a_valid_toml_file_is_located_on_its_own_line(
    data: dict[str, Any], style: tomlwriter.Style
) -> None:
    from sync.config import _TomlLines

    text = tomlwriter.dumps(data, style)
    lines = text.split("\n")  # TOML lines end at \n only (str.splitlines also splits at U+0085)
    found = _TomlLines(text).found

    def walk(node: Any, path: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], str]]:
        if isinstance(node, dict):
            for k, v in node.items():
                yield (*path, k), k
                yield from walk(v, (*path, k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                yield from walk(v, (*path, i))

    for path, k in walk(data, ()):
        assert path in found, path
        assert tomlwriter.key(k) in lines[found[path] - 1], (path, found[path])
