"""The config file: sources, teams and programs (PRODUCT §3, §6.1, §9).

One file, TOML (``.toml``) or YAML (``.yaml``/``.yml``), declares the tracker connections
(``[[sources]]``), the teams and the tracker scopes they own (``[[teams]]``) and the programs a TPM
follows (``[[programs]]``). See ``examples/crosstrack.toml`` for a commented example.

:func:`load_config` reads and validates a file and raises :class:`ConfigError` listing every
problem found, one line each, in the form ``FILE:LINE: key.path: what is wrong (expected …, got …)``::

    broken.toml:14: sources[0].token: a literal secret is not allowed in the config file (...)
    broken.toml:31: teams[1].scopes[0].source: no source named 'gitlab' is declared (...)

Secrets never live in the file: a source names an environment variable (``token_env``) or a file
(``token_file``) and :meth:`SourceConfig.resolve_token` reads it when a connector is built. No
model here stores a secret, so no repr or error message can show one.
"""

from __future__ import annotations

import contextlib
import difflib
import logging
import os
import re
import tomllib
import zoneinfo
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from connectors.base import SourceSettings
from connectors.records import ItemKind, TrackerKind

__all__ = [
    "AnySourceConfig",
    "ConfigError",
    "ConfigProblem",
    "CrosstrackConfig",
    "GitHubOptions",
    "GitHubSourceConfig",
    "JiraOptions",
    "JiraSourceConfig",
    "ProgramConfig",
    "ProgramScope",
    "ProjectV2Options",
    "SourceConfig",
    "TeamConfig",
    "TeamScope",
    "check_config",
    "load_config",
    "parse_config",
]

Loc = tuple[str | int, ...]

# Keys that would hold a secret in clear text. They are refused wherever they appear, with a
# message pointing at the *_env / *_file keys, and their value is never echoed.
SECRET_KEYS = frozenset(
    {"token", "password", "secret", "api_token", "api_key", "access_token", "private_key", "webhook_secret"}
)


def is_secret_key(key: object) -> bool:
    """A key that would hold a literal secret: ``token``, ``password``, ``jira_token``, ``api_secret``…"""
    if not isinstance(key, str):
        return False
    k = key.lower()
    return k in SECRET_KEYS or k.endswith(("_token", "_password", "_secret"))


# -- errors ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing wrong with a config: where (file, line, key path) and what (``message``)."""

    message: str
    path: str = ""  # key path like "sources[1].options.repos"; "" for whole-file problems
    file: str | None = None
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = self.file or ""
        if self.file and self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        parts = [p for p in (where, self.path) if p]
        return ": ".join([*parts, self.message])


class ConfigError(Exception):
    """The config (file or settings) is unusable. ``str()`` is one line per problem.

    ``problems`` lists every problem found, in file order, so a user fixes them all in one go.
    """

    def __init__(self, problems: Sequence[ConfigProblem] | ConfigProblem | str) -> None:
        if isinstance(problems, str):
            problems = [ConfigProblem(problems)]
        elif isinstance(problems, ConfigProblem):
            problems = [problems]
        self.problems: list[ConfigProblem] = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


def _fail(problem: str, expected: str, *, hide_input: bool = False) -> PydanticCustomError:
    """A validation error whose message says what is wrong; the loader adds "(expected …, got …)"."""
    return PydanticCustomError("crosstrack", problem, {"expected": expected, "hide_input": hide_input})


# -- value types ----------------------------------------------------------------------------------

_SLUG = re.compile(r"[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_JIRA_PROJECT = re.compile(r"[A-Z][A-Z0-9_]{1,254}")
_GH_OWNER = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})")
_GH_REPO = re.compile(r"[A-Za-z0-9._-]{1,100}")
_JIRA_ITEM = re.compile(r"[A-Z][A-Z0-9_]+-[1-9][0-9]*")
_GH_ITEM = re.compile(r"([A-Za-z0-9][A-Za-z0-9-]*)/([A-Za-z0-9._-]+)#[1-9][0-9]*")


def _slug(value: str) -> str:
    if not _SLUG.fullmatch(value):
        raise _fail(
            "not a valid slug",
            "lower-case letters, digits, '-' or '_', starting and ending with a letter or digit",
        )
    return value


def _env_name(value: str) -> str:
    if not _ENV_NAME.fullmatch(value):
        # It may be the secret itself pasted in by mistake: never echo it.
        raise _fail(
            "not an environment variable name; the value is not shown in case it is a secret",
            "a name such as CROSSTRACK_JIRA_TOKEN",
            hide_input=True,
        )
    return value


def _non_empty(value: str) -> str:
    if not value.strip():
        raise _fail("must not be empty", "some text")
    return value


def _jira_project(value: str) -> str:
    if not _JIRA_PROJECT.fullmatch(value):
        raise _fail(
            "not a Jira project key", "upper-case letters, digits or '_', starting with a letter, e.g. PAY"
        )
    return value


def _gh_repo(value: str) -> str:
    """A repository as ``name`` (in the source's org) or ``owner/name``."""
    owner, _, name = value.rpartition("/")
    if (owner and not _GH_OWNER.fullmatch(owner)) or not _GH_REPO.fullmatch(name) or name in {".", ".."}:
        raise _fail("not a GitHub repository name", "'name' or 'owner/name', e.g. 'web' or 'acme/web'")
    return value


def _gh_full_repo(value: str) -> str:
    owner, _, name = value.partition("/")
    if not _GH_OWNER.fullmatch(owner) or not _GH_REPO.fullmatch(name) or name in {".", ".."}:
        raise _fail("not a full GitHub repository name", "'owner/name', e.g. 'acme/web'")
    return value


def _gh_login(value: str) -> str:
    if not _GH_OWNER.fullmatch(value):
        raise _fail("not a GitHub organization login", "letters, digits or '-', e.g. 'acme'")
    return value


def _item_key(value: str) -> str:
    if not (_JIRA_ITEM.fullmatch(value) or _GH_ITEM.fullmatch(value)):
        raise _fail("not an item key", "a Jira key like 'PAY-12' or a GitHub key like 'acme/web#34'")
    return value


def _time_zone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise _fail("unknown time zone", "an IANA zone name such as 'Europe/Berlin' or 'UTC'") from None
    return value


def _unique(values: list[Any]) -> list[Any]:
    seen: set[Any] = set()
    for v in values:
        if v in seen:
            raise _fail(f"{v!r} is listed twice", "each value once", hide_input=True)
        seen.add(v)
    return values


def _http_url(value: str) -> str:
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:  # e.g. an unclosed IPv6 bracket
        host = None
    if host is None or parts.scheme not in {"http", "https"}:
        raise _fail("not an http(s) URL", "a URL like 'https://acme.atlassian.net'")
    if parts.username or parts.password:
        # Credentials in the URL are a literal secret: refuse and never echo them.
        raise _fail(
            "credentials in the URL are not allowed; the value is not shown",
            "a URL without user:password@; put the token in token_env or token_file",
            hide_input=True,
        )
    if parts.query or parts.fragment:
        raise _fail("a base URL has no query or fragment", "a URL like 'https://acme.atlassian.net'")
    return value.rstrip("/")


Slug = Annotated[str, AfterValidator(_slug)]
EnvName = Annotated[str, AfterValidator(_env_name)]
NonEmpty = Annotated[str, AfterValidator(_non_empty)]
JiraProjectKey = Annotated[str, AfterValidator(_jira_project)]
RepoName = Annotated[str, AfterValidator(_gh_repo)]
FullRepoName = Annotated[str, AfterValidator(_gh_full_repo)]
ItemKey = Annotated[str, AfterValidator(_item_key)]
TimeZoneName = Annotated[str, AfterValidator(_time_zone)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]


class _Model(BaseModel):
    # extra="forbid": a typo'd key is an error, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid", frozen=True)

    def __eq__(self, other: object) -> bool:
        # Equal content is equal config, wherever it was loaded from (private origin data aside).
        if not isinstance(other, BaseModel):
            return NotImplemented
        return type(self) is type(other) and self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]  # lists inside: configs are not hashable


# -- sources --------------------------------------------------------------------------------------


class JiraOptions(_Model):
    """Jira-specific options; defaults mirror :class:`connectors.jira.connector.JiraConnector`'s."""

    projects: Annotated[
        list[JiraProjectKey],
        Field(min_length=1, description='a list of Jira project keys, e.g. projects = ["PAY"]'),
        AfterValidator(_unique),
    ]
    jql: NonEmpty | None = Field(None, description="a JQL filter ANDed to every search")
    overlap_minutes: int = Field(2, ge=0, le=1440, description="minutes of overlap for incremental sync")
    timezone: TimeZoneName | None = Field(None, description="an IANA zone overriding the account's")
    page_size: int | None = Field(None, ge=1, le=5000, description="a cap on search page size")
    story_points_field: NonEmpty | None = Field(None, description="a custom field id like customfield_10016")
    epic_link_field: NonEmpty | None = Field(None, description="a custom field id like customfield_10014")
    sprint_field: NonEmpty | None = Field(None, description="a custom field id like customfield_10020")
    start_date_field: NonEmpty | None = Field(None, description="a custom field id like customfield_10015")
    fetch_remote_links: bool = Field(True, description="true or false")
    github_hosts: list[NonEmpty] = Field(default_factory=lambda: ["github.com"])
    keep_raw: bool = True
    # transport (see connectors.jira.client)
    timeout_seconds: float = Field(60.0, gt=0)
    max_attempts: int = Field(6, ge=1)
    retry_backoff_seconds: float = Field(1.0, ge=0)
    max_rate_limit_wait_seconds: float = Field(300.0, ge=0)


class ProjectV2Options(_Model):
    """A GitHub Projects v2 project whose fields feed status, sprint and estimate."""

    number: int = Field(ge=1, description="the project number, e.g. number = 1")
    status_field: NonEmpty = "Status"
    in_progress_values: list[str] = Field(default_factory=lambda: ["In Progress"])
    done_values: list[str] = Field(default_factory=lambda: ["Done"])
    iteration_field: NonEmpty | None = "Iteration"
    estimate_field: NonEmpty | None = "Estimate"


def _default_type_kinds() -> dict[str, ItemKind]:
    return {"Bug": ItemKind.BUG, "Feature": ItemKind.STORY, "Task": ItemKind.TASK, "Epic": ItemKind.EPIC}


class GitHubOptions(_Model):
    """GitHub-specific options; defaults mirror :mod:`connectors.github.connector`'s."""

    org: Annotated[str, AfterValidator(_gh_login)] = Field(
        description='the organization login, e.g. org = "acme"'
    )
    repos: Annotated[
        list[RepoName],
        Field(min_length=1, description='a non-empty list of repositories, e.g. repos = ["web"]'),
        AfterValidator(_unique),
    ]
    epic_types: list[str] = Field(default_factory=lambda: ["Epic"])
    epic_labels: list[str] = Field(default_factory=lambda: ["epic"])
    type_kinds: dict[str, ItemKind] = Field(default_factory=_default_type_kinds)
    label_kinds: dict[str, ItemKind] = Field(default_factory=lambda: {"bug": ItemKind.BUG})
    in_progress_labels: list[str] = Field(default_factory=lambda: ["in progress"])
    projects_v2: list[ProjectV2Options] = Field(default_factory=list)
    overlap_seconds: int = Field(60, ge=0, le=86400, description="seconds of overlap for incremental sync")
    # transport (see connectors.github.client)
    max_rate_limit_wait_seconds: float = Field(900.0, ge=0)
    retries: int = Field(3, ge=0)
    retry_backoff_seconds: float = Field(1.0, ge=0)
    seconds_between_writes: float = Field(1.0, ge=0)

    @field_validator("projects_v2")
    @classmethod
    def _unique_project_numbers(cls, value: list[ProjectV2Options]) -> list[ProjectV2Options]:
        _unique([p.number for p in value])
        return value

    @model_validator(mode="after")
    def _unique_full_names(self) -> GitHubOptions:
        # "web" and "acme/web" are the same repository.
        _unique([r.lower() for r in self.full_repo_names()])
        return self

    def full_repo_names(self) -> list[str]:
        """``repos`` as ``owner/name`` (a bare name belongs to ``org``)."""
        return [r if "/" in r else f"{self.org}/{r}" for r in self.repos]


def _secret_path(value: Path | None, info: ValidationInfo) -> Path | None:
    # A relative secret file is relative to the config file, not to the working directory.
    base = (info.context or {}).get("base_dir")
    if value is not None and base is not None and not value.is_absolute():
        return Path(base) / value
    return value


class SourceConfig(_Model):
    """One tracker connection (common part). Use :class:`JiraSourceConfig`/:class:`GitHubSourceConfig`."""

    name: Slug = Field(description='a unique slug naming the source, e.g. name = "jira"')
    kind: Literal["jira", "github"] = Field(description="'jira' or 'github'")
    base_url: HttpUrl = Field(description="the tracker's http(s) base URL")
    flavour: str
    token_env: EnvName | None = Field(None, description="the environment variable holding the token")
    token_file: Path | None = Field(None, description="a file holding the token")
    webhook_secret_env: EnvName | None = None
    webhook_secret_file: Path | None = None
    options: JiraOptions | GitHubOptions  # narrowed by each kind

    # Where this source was declared (file, key path, key -> line), so secret errors can point there.
    _origin: tuple[str | None, str, dict[str, int]] | None = PrivateAttr(default=None)

    _resolve_paths = field_validator("token_file", "webhook_secret_file")(_secret_path)

    @model_validator(mode="after")
    def _one_token_reference(self) -> SourceConfig:
        if (self.token_env is None) == (self.token_file is None):
            raise _fail(
                "exactly one of token_env or token_file is required"
                + (" (both are set)" if self.token_env else ""),
                'token_env = "ENV_VAR" or token_file = "PATH"',
                hide_input=True,
            )
        if self.webhook_secret_env is not None and self.webhook_secret_file is not None:
            raise _fail(
                "webhook_secret_env and webhook_secret_file are both set",
                "at most one of them",
                hide_input=True,
            )
        return self

    @property
    def tracker(self) -> TrackerKind:
        return TrackerKind(self.kind)

    def options_dict(self) -> dict[str, Any]:
        """The options the file sets, as plain JSON-able data (what connectors receive).

        Only keys written in the file: each connector applies its own documented defaults, so
        there is one source of truth for them (the models here mirror those defaults for readers).
        """
        return self.options.model_dump(mode="json", exclude_unset=True)

    def resolve_token(self, env: Mapping[str, str] | None = None) -> str:
        """Read the API token from the named environment variable or file.

        Raises ConfigError naming the source and the variable or file (never the value).
        """
        secret = self._resolve("token", self.token_env, self.token_file, env)
        if secret is None:  # pragma: no cover - the model validator requires one reference
            raise ConfigError(self._problem("token_env", "no token_env or token_file is set"))
        return secret

    def resolve_webhook_secret(self, env: Mapping[str, str] | None = None) -> str | None:
        """The webhook secret, or None when the source declares none (webhooks then refused)."""
        return self._resolve("webhook_secret", self.webhook_secret_env, self.webhook_secret_file, env)

    def settings(self, env: Mapping[str, str] | None = None) -> SourceSettings:
        """Plain settings for :mod:`connectors`, secrets resolved.

        The token is required (a missing one raises ConfigError). A webhook secret that is named
        but not set only disables this source's webhooks (they are refused until it is set): a
        missing secret must not stop syncing.
        """
        options = self.options_dict()
        try:
            webhook_secret = self.resolve_webhook_secret(env)
        except ConfigError as exc:
            logging.getLogger("crosstrack.sync.config").warning(
                "config.webhook_secret_missing", extra={"source": self.name, "problem": str(exc)}
            )
            webhook_secret = None
        return SourceSettings(
            name=self.name,
            kind=self.tracker,
            base_url=self.base_url,
            flavour=self.flavour,
            token=self.resolve_token(env),
            user=getattr(self, "user", None),
            webhook_secret=webhook_secret,
            options=options,
        )

    def _problem(self, key: str, message: str) -> ConfigProblem:
        if self._origin is None:
            return ConfigProblem(message, path=f"source {self.name!r}: {key}")
        file, path, lines = self._origin
        return ConfigProblem(message, path=f"{path}.{key}", file=file, line=lines.get(key) or lines.get(""))

    def _resolve(
        self, what: str, env_name: str | None, file: Path | None, env: Mapping[str, str] | None
    ) -> str | None:
        environ = os.environ if env is None else env
        if env_name is not None:
            value = environ.get(env_name)
            if value is None:
                raise ConfigError(
                    self._problem(
                        f"{what}_env",
                        f"environment variable {env_name} is not set (expected the {what.replace('_', ' ')} in it)",
                    )
                )
            value = _strip_newline(value)
            if not value.strip():
                raise ConfigError(self._problem(f"{what}_env", f"environment variable {env_name} is empty"))
            return value
        if file is not None:
            try:
                text = file.read_bytes().decode("utf-8")
            except FileNotFoundError:
                message = f"file {str(file)!r} does not exist (expected the {what.replace('_', ' ')} in it)"
            except IsADirectoryError:
                message = (
                    f"{str(file)!r} is a directory (expected a file holding the {what.replace('_', ' ')})"
                )
            except PermissionError:
                message = f"file {str(file)!r} cannot be read (permission denied)"
            except UnicodeDecodeError:
                message = f"file {str(file)!r} is not UTF-8 text"
            except OSError as exc:
                message = f"file {str(file)!r} cannot be read ({exc.strerror or type(exc).__name__})"
            else:
                text = _strip_newline(text)
                if not text.strip():
                    message = f"file {str(file)!r} is empty"
                else:
                    return text
            raise ConfigError(self._problem(f"{what}_file", message))
        return None


def _strip_newline(text: str) -> str:
    """Editors and ``echo`` add one trailing newline; the secret is what comes before it."""
    if text.endswith("\r\n"):
        return text[:-2]
    if text.endswith("\n"):
        return text[:-1]
    return text


class JiraSourceConfig(SourceConfig):
    """A Jira Cloud or Data Center connection."""

    kind: Literal["jira"] = Field(description="'jira'")
    flavour: Literal["cloud", "datacenter"] = "cloud"
    user: NonEmpty | None = Field(None, description="the account email (Jira Cloud basic auth)")
    options: JiraOptions = Field(description='a table with at least projects = ["KEY"]')

    @model_validator(mode="after")
    def _cloud_needs_user(self) -> JiraSourceConfig:
        if self.flavour == "cloud" and self.user is None:
            raise _fail(
                "user is required for Jira Cloud (basic auth with an API token)",
                'user = "the account email"',
                hide_input=True,
            )
        return self


class GitHubSourceConfig(SourceConfig):
    """A github.com or GitHub Enterprise Server connection."""

    kind: Literal["github"] = Field(description="'github'")
    flavour: Literal["com", "enterprise"] = "com"
    options: GitHubOptions = Field(description='a table with at least org = "..." and repos = [...]')

    @model_validator(mode="after")
    def _enterprise_api_path(self) -> GitHubSourceConfig:
        # https://docs.github.com/en/enterprise-server@latest/rest/quickstart: the REST API of
        # Enterprise Server lives under /api/v3.
        if self.flavour == "enterprise" and not self.base_url.endswith("/api/v3"):
            raise _fail(
                "an Enterprise Server base_url ends with /api/v3",
                "base_url = 'https://HOST/api/v3'",
                hide_input=True,
            )
        return self


AnySourceConfig = Annotated[JiraSourceConfig | GitHubSourceConfig, Field(discriminator="kind")]
_SOURCE_CLASSES: dict[str, type[SourceConfig]] = {"jira": JiraSourceConfig, "github": GitHubSourceConfig}


# -- teams and programs ---------------------------------------------------------------------------


class TeamScope(_Model):
    """A tracker scope a team owns: a Jira project (optionally component or board) or a GitHub repo
    (optionally a label)."""

    source: Slug = Field(description="the name of a declared source")
    project: JiraProjectKey | None = None
    component: NonEmpty | None = None
    board: int | NonEmpty | None = None
    repo: FullRepoName | None = None
    label: NonEmpty | None = None

    @model_validator(mode="after")
    def _one_shape(self) -> TeamScope:
        if (self.project is None) == (self.repo is None):
            raise _fail(
                "a team scope names exactly one of project or repo",
                'project = "KEY" (Jira) or repo = "owner/name" (GitHub)',
                hide_input=True,
            )
        if self.repo is not None and (self.component is not None or self.board is not None):
            raise _fail(
                "component and board apply to Jira projects only", 'label = "..." for a repo', hide_input=True
            )
        if self.project is not None and self.label is not None:
            raise _fail(
                "label applies to GitHub repos only", 'component = "..." or board = ID', hide_input=True
            )
        return self

    @property
    def tracker(self) -> TrackerKind:
        return TrackerKind.JIRA if self.project is not None else TrackerKind.GITHUB


class TeamConfig(_Model):
    slug: Slug = Field(description='a unique slug, e.g. slug = "payments"')
    name: NonEmpty = Field(description="the team's display name")
    scopes: list[TeamScope] = Field(min_length=1, description="a list of {source, project | repo} tables")


class ProgramScope(_Model):
    """One scope rule of a program: a JQL filter on a Jira source, or a selection on a GitHub source.

    A GitHub rule without ``repos`` covers every repository of its source.
    """

    source: Slug = Field(description="the name of a declared source")
    jql: NonEmpty | None = None
    repos: Annotated[list[RepoName], AfterValidator(_unique)] | None = None
    labels: list[NonEmpty] = Field(default_factory=list)
    milestone: NonEmpty | None = None
    issue_type: NonEmpty | None = None
    project_v2: int | None = Field(None, ge=1)

    @property
    def github_selectors(self) -> list[str]:
        present = {
            "repos": self.repos is not None,
            "labels": bool(self.labels),
            "milestone": self.milestone is not None,
            "issue_type": self.issue_type is not None,
            "project_v2": self.project_v2 is not None,
        }
        return [k for k, v in present.items() if v]

    @model_validator(mode="after")
    def _not_mixed(self) -> ProgramScope:
        if self.jql is not None and self.github_selectors:
            raise _fail(
                f"jql (Jira) cannot be combined with {', '.join(self.github_selectors)} (GitHub) in one rule",
                "one rule per source",
                hide_input=True,
            )
        return self


class ProgramConfig(_Model):
    slug: Slug = Field(description='a unique slug, e.g. slug = "checkout-v2"')
    name: NonEmpty = Field(description="the program's display name")
    owner: NonEmpty | None = None
    target_date: date | None = Field(None, description="a date like 2027-01-31")
    baseline_date: date | None = Field(None, description="a date like 2026-10-01")
    description: str | None = None
    scope: list[ProgramScope] = Field(default_factory=list)
    items: Annotated[list[ItemKey], AfterValidator(_unique)] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> ProgramConfig:
        if not self.scope and not self.items:
            raise _fail(
                "a program needs scope rules or items", "scope = [...] or items = [...]", hide_input=True
            )
        if self.target_date and self.baseline_date and self.baseline_date > self.target_date:
            raise _fail(
                f"baseline_date {self.baseline_date} is after target_date {self.target_date}",
                "a baseline on or before the target date",
                hide_input=True,
            )
        return self


# -- the whole file -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Issue:
    """A problem found by the cross-reference checks, before it is given a file and line."""

    loc: Loc
    message: str


def _cross_check(
    sources: Mapping[str, SourceConfig | None],
    source_locs: Mapping[str, Loc],
    teams: Sequence[tuple[Loc, TeamConfig]],
    programs: Sequence[tuple[Loc, ProgramConfig]],
) -> list[_Issue]:
    """Checks that span entries: scopes name declared sources of the right kind and synced scopes.

    ``sources`` maps every declared name to its validated config, or None when that entry is
    itself invalid (its own problems are reported; scopes naming it are not flagged again).
    """
    declared = ", ".join(sorted(sources)) or "none declared"

    issues: list[_Issue] = []

    def lookup(loc: Loc, name: str) -> SourceConfig | None:
        if name not in sources:
            issues.append(_Issue(loc, f"no source named {name!r} is declared (expected one of: {declared})"))
            return None
        return sources[name]

    seen_slugs: dict[str, Loc] = {}
    # The same scope owned twice would make an item's team ambiguous (a narrower scope, such as a
    # component or a label, is fine: it is a different scope).
    owners: dict[tuple[object, ...], Loc] = {}
    for loc, team in teams:
        if team.slug in seen_slugs:
            issues.append(
                _Issue(
                    (*loc, "slug"),
                    f"duplicate team slug {team.slug!r} (first at {_fmt_loc(seen_slugs[team.slug])})",
                )
            )
        seen_slugs.setdefault(team.slug, loc)
        for i, scope in enumerate(team.scopes):
            sloc: Loc = (*loc, "scopes", i)
            identity = (
                scope.source,
                scope.project,
                (scope.repo or "").lower(),
                scope.component,
                None if scope.board is None else str(scope.board),
                scope.label,
            )
            if identity in owners:
                issues.append(
                    _Issue(
                        sloc,
                        f"this scope is already declared at {_fmt_loc(owners[identity])} (expected each scope once)",
                    )
                )
            owners.setdefault(identity, sloc)
            src = lookup((*sloc, "source"), scope.source)
            if not src:
                continue
            where = _fmt_loc(source_locs[scope.source])
            if isinstance(src, JiraSourceConfig):
                if scope.project is None:
                    issues.append(
                        _Issue(
                            (*sloc, "repo"),
                            f'source {src.name!r} is a Jira source (expected project = "KEY")',
                        )
                    )
                elif scope.project not in src.options.projects:
                    issues.append(
                        _Issue(
                            (*sloc, "project"),
                            f"project {scope.project!r} is not synced by source {src.name!r} "
                            f"(expected one of {where}.options.projects: {', '.join(src.options.projects)})",
                        )
                    )
            elif isinstance(src, GitHubSourceConfig):
                if scope.repo is None:
                    issues.append(
                        _Issue(
                            (*sloc, "project"),
                            f'source {src.name!r} is a GitHub source (expected repo = "owner/name")',
                        )
                    )
                elif scope.repo.lower() not in {r.lower() for r in src.options.full_repo_names()}:
                    issues.append(
                        _Issue(
                            (*sloc, "repo"),
                            f"repo {scope.repo!r} is not synced by source {src.name!r} "
                            f"(expected one of {where}.options.repos: {', '.join(src.options.full_repo_names())})",
                        )
                    )

    # Explicit items must live where some source syncs, or they could never be found. Skipped
    # while a source is itself invalid (what it syncs is unknown, and its problem is reported).
    all_valid = all(s is not None for s in sources.values())
    jira_projects = {
        p for s in sources.values() if isinstance(s, JiraSourceConfig) for p in s.options.projects
    }
    github_repos = {
        r.lower()
        for s in sources.values()
        if isinstance(s, GitHubSourceConfig)
        for r in s.options.full_repo_names()
    }
    everything_synced = ", ".join([*sorted(jira_projects), *sorted(github_repos)]) or "nothing is synced"

    seen_slugs = {}
    for loc, program in programs:
        if program.slug in seen_slugs:
            issues.append(
                _Issue(
                    (*loc, "slug"),
                    f"duplicate program slug {program.slug!r} (first at {_fmt_loc(seen_slugs[program.slug])})",
                )
            )
        seen_slugs.setdefault(program.slug, loc)
        for j, key in enumerate(program.items if all_valid else []):
            github = _GH_ITEM.fullmatch(key)
            where_from = f"{github.group(1)}/{github.group(2)}".lower() if github else key.rpartition("-")[0]
            if where_from not in (github_repos if github else jira_projects):
                issues.append(
                    _Issue(
                        (*loc, "items", j),
                        f"item {key!r} is in {'repo' if github else 'project'} {where_from!r}, which no source "
                        f"syncs (expected a key in: {everything_synced})",
                    )
                )
        for i, rule in enumerate(program.scope):
            rloc: Loc = (*loc, "scope", i)
            src = lookup((*rloc, "source"), rule.source)
            if not src:
                continue
            where = _fmt_loc(source_locs[rule.source])
            if isinstance(src, JiraSourceConfig):
                if rule.github_selectors:
                    issues.append(
                        _Issue(
                            (*rloc, rule.github_selectors[0]),
                            f"{rule.github_selectors[0]} applies to GitHub sources; {src.name!r} is a Jira source "
                            '(expected jql = "...")',
                        )
                    )
                elif rule.jql is None:
                    issues.append(
                        _Issue(
                            (*rloc, "jql"), 'a Jira scope rule needs a filter (expected jql = "labels = ...")'
                        )
                    )
            elif isinstance(src, GitHubSourceConfig):
                if rule.jql is not None:
                    issues.append(
                        _Issue(
                            (*rloc, "jql"),
                            f"jql applies to Jira sources; {src.name!r} is a GitHub source "
                            "(expected repos, labels, milestone, issue_type or project_v2)",
                        )
                    )
                elif not rule.github_selectors:
                    issues.append(
                        _Issue(
                            rloc,
                            "a GitHub scope rule needs a selection "
                            "(expected at least one of repos, labels, milestone, issue_type, project_v2)",
                        )
                    )
                synced = {r.lower() for r in src.options.full_repo_names()}
                for j, repo in enumerate(rule.repos or []):
                    full = repo if "/" in repo else f"{src.options.org}/{repo}"
                    if full.lower() not in synced:
                        issues.append(
                            _Issue(
                                (*rloc, "repos", j),
                                f"repo {repo!r} is not synced by source {src.name!r} "
                                f"(expected one of {where}.options.repos: {', '.join(src.options.repos)})",
                            )
                        )
                numbers = [p.number for p in src.options.projects_v2]
                if rule.project_v2 is not None and rule.project_v2 not in numbers:
                    issues.append(
                        _Issue(
                            (*rloc, "project_v2"),
                            f"project {rule.project_v2} is not declared in {where}.options.projects_v2 "
                            f"(expected one of: {', '.join(map(str, numbers)) or 'none declared'})",
                        )
                    )
    return issues


class CrosstrackConfig(_Model):
    """The whole config file. Build it with :func:`load_config` (or ``model_validate`` for data)."""

    sources: list[AnySourceConfig] = Field(default_factory=list)
    teams: list[TeamConfig] = Field(default_factory=list)
    programs: list[ProgramConfig] = Field(default_factory=list)

    _path: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _references(self) -> CrosstrackConfig:
        sources: dict[str, SourceConfig | None] = {}
        locs: dict[str, Loc] = {}
        problems: list[str] = []
        for i, s in enumerate(self.sources):
            if s.name in sources:
                problems.append(f"sources[{i}].name: duplicate source name {s.name!r}")
            sources.setdefault(s.name, s)
            locs.setdefault(s.name, ("sources", i))
        teams = [(("teams", i), t) for i, t in enumerate(self.teams)]
        programs = [(("programs", i), p) for i, p in enumerate(self.programs)]
        problems += [f"{_fmt_loc(x.loc)}: {x.message}" for x in _cross_check(sources, locs, teams, programs)]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def path(self) -> Path | None:
        """The file this config was loaded from (None when built from data)."""
        return self._path

    def source(self, name: str) -> SourceConfig:
        for s in self.sources:
            if s.name == name:
                return s
        known = ", ".join(s.name for s in self.sources) or "none declared"
        raise ConfigError(
            ConfigProblem(
                f"no source named {name!r} (expected one of: {known})", file=_str_or_none(self._path)
            )
        )

    def team(self, slug: str) -> TeamConfig:
        for t in self.teams:
            if t.slug == slug:
                return t
        known = ", ".join(t.slug for t in self.teams) or "none declared"
        raise ConfigError(
            ConfigProblem(f"no team {slug!r} (expected one of: {known})", file=_str_or_none(self._path))
        )

    def program(self, slug: str) -> ProgramConfig:
        for p in self.programs:
            if p.slug == slug:
                return p
        known = ", ".join(p.slug for p in self.programs) or "none declared"
        raise ConfigError(
            ConfigProblem(f"no program {slug!r} (expected one of: {known})", file=_str_or_none(self._path))
        )

    def source_settings(self, name: str, env: Mapping[str, str] | None = None) -> SourceSettings:
        """What :mod:`connectors` needs to build the named source's connector, secrets resolved.

        ``env`` defaults to ``os.environ``. Raises ConfigError for an unknown name or a secret
        that cannot be read (naming the variable or file, never the value).
        """
        return self.source(name).settings(env)

    def summary(self) -> str:
        """One line for ``crosstrack config check``: what the file declares."""
        srcs = ", ".join(f"{s.name} ({s.kind} {s.flavour})" for s in self.sources) or "none"
        return (
            f"{len(self.sources)} source(s): {srcs}; {len(self.teams)} team(s); "
            f"{len(self.programs)} program(s)"
        )


def _str_or_none(path: Path | None) -> str | None:
    return None if path is None else str(path)


# -- loading --------------------------------------------------------------------------------------

Locator = Callable[[Loc], int | None]


def _fmt_loc(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            key = part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else repr(part)
            out += f".{key}" if out else key
    return out


def _show(value: Any) -> str:
    """A short rendering of a bad value for "got …" (never used for secret-bearing keys)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list | tuple):
        return "a list"
    if value is None:
        return "nothing"
    if isinstance(value, date):
        return value.isoformat()
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {_show(value)}"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, str):
        return f"the string {_show(value)}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, date):
        return f"the date {value.isoformat()}"
    return _show(value)


# Pydantic error types → what was expected (the user's words, not pydantic's).
_EXPECTED: dict[str, str] = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
    "date_type": "a date like 2027-01-31",
    "date_parsing": "a date like 2027-01-31",
    "date_from_datetime_parsing": "a date like 2027-01-31",
    "date_from_datetime_inexact": "a date like 2027-01-31 (without a time)",
    "date_future": "a date in the future",
    "date_past": "a date in the past",
    "path_type": "a file path",
}


def _walk(root: type[BaseModel], loc: Loc) -> tuple[type[BaseModel] | None, FieldInfo | None]:
    """The model that holds the last key of ``loc`` and that key's field (None when unknown)."""
    model: type[BaseModel] | None = root
    holder: type[BaseModel] | None = root
    field: FieldInfo | None = None
    for part in loc:
        if isinstance(part, int):
            continue
        if model is None:
            return None, None
        holder, field = model, model.model_fields.get(part)
        if field is None:
            return holder, None
        model = _model_in(field.annotation)
    return holder, field


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = get_origin(annotation)
    if origin in {list, Union, UnionType, Annotated}:
        for arg in get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def _explain(root: type[BaseModel], err: Mapping[str, Any]) -> tuple[Loc, str]:
    """Turn one pydantic error into (key path, "what is wrong (expected …, got …)")."""
    loc: Loc = tuple(err["loc"])
    kind: str = err["type"]
    value = err.get("input")
    ctx: Mapping[str, Any] = err.get("ctx") or {}
    key = loc[-1] if loc else None

    if kind == "crosstrack":
        got = "" if ctx.get("hide_input") else f", got {_show(value)}"
        return loc, f"{err['msg']} (expected {ctx['expected']}{got})"
    if kind == "extra_forbidden":
        if isinstance(key, str) and is_secret_key(key):
            instead = (
                "webhook_secret_env or webhook_secret_file"
                if "webhook" in key.lower()
                else "token_env or token_file"
            )
            return loc, (
                "a literal secret is not allowed in the config file "
                f"(expected {instead} naming where the secret is; the value is not shown)"
            )
        holder, _ = _walk(root, (*loc[:-1], ""))
        allowed = sorted(holder.model_fields) if holder else []
        hint = ""
        if isinstance(key, str):
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
        return loc, f"unknown key (expected one of: {', '.join(allowed)}{hint})"
    if kind == "missing":
        _, field = _walk(root, loc)
        expected = field.description if field and field.description else f"a value for {key}"
        return loc, f"required key is missing (expected {expected})"
    if kind in {"literal_error", "enum"}:
        return (
            loc,
            f"invalid value (expected {ctx.get('expected', 'one of the allowed values')}, got {_show(value)})",
        )
    if kind in {"too_short", "too_long"}:
        what = "too few" if kind == "too_short" else "too many"
        bound = ctx.get("min_length") if kind == "too_short" else ctx.get("max_length")
        return loc, f"{what} entries (expected {'at least' if kind == 'too_short' else 'at most'} {bound})"
    if kind in {"greater_than_equal", "greater_than", "less_than_equal", "less_than"}:
        words = {
            "greater_than_equal": "at least",
            "greater_than": "more than",
            "less_than_equal": "at most",
            "less_than": "less than",
        }
        bound = next(iter(ctx.values()), "?")
        return loc, f"out of range (expected {words[kind]} {bound}, got {_show(value)})"
    if kind == "string_type" and isinstance(value, bool):
        # YAML 1.1 reads yes/no/on/off (and so a Jira project key like NO) as booleans.
        return loc, f"wrong type (expected a string, got the boolean {_show(value)}; in YAML, quote it)"
    if kind in _EXPECTED:
        what = (
            "invalid value"
            if kind.endswith(("_parsing", "_inexact")) or isinstance(value, str)
            else "wrong type"
        )
        return loc, f"{what} (expected {_EXPECTED[kind]}, got {_type_name(value)})"
    if kind == "recursion_loop":
        return loc, "the value refers to itself (expected plain data without recursive aliases)"
    msg = str(err.get("msg", "invalid value"))
    return loc, f"{msg[0].lower()}{msg[1:]} (got {_show(value)})"


def _problems_from(exc: ValidationError, root: type[BaseModel], prefix: Loc) -> Iterator[tuple[Loc, str]]:
    for err in exc.errors(include_url=False):
        loc, message = _explain(root, err)
        yield (*prefix, *loc), message


def parse_config(
    data: Any,
    *,
    file: str | None = None,
    locator: Locator | None = None,
    base_dir: Path | None = None,
) -> CrosstrackConfig:
    """Validate already-parsed data (a dict as from TOML or YAML) into a :class:`CrosstrackConfig`.

    Every problem is collected: each source, team and program is validated on its own, then the
    references between them are checked. ``locator`` maps a key path to a line number.
    """
    found: list[tuple[Loc, str]] = []
    context = {"base_dir": base_dir}
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        found.append(
            ((), f"expected a table of sources, teams and programs at the top level, got {_type_name(data)}")
        )
        raise _error(found, file, locator)

    for key in data:
        if key not in CrosstrackConfig.model_fields:
            if isinstance(key, str) and is_secret_key(key):
                found.append(
                    (
                        (key,),
                        "a literal secret is not allowed in the config file "
                        "(expected token_env or token_file in a [[sources]] entry; the value is not shown)",
                    )
                )
                continue
            close = difflib.get_close_matches(str(key), list(CrosstrackConfig.model_fields), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            found.append(((str(key),), f"unknown key (expected one of: sources, teams, programs{hint})"))

    def entries(section: str) -> list[tuple[Loc, Any]]:
        raw = data.get(section, [])
        if not isinstance(raw, list):
            found.append(((section,), f"wrong type (expected a list of tables, got {_type_name(raw)})"))
            return []
        return [((section, i), item) for i, item in enumerate(raw)]

    sources: dict[str, SourceConfig | None] = {}
    source_locs: dict[str, Loc] = {}
    for loc, raw in entries("sources"):
        kind = raw.get("kind") if isinstance(raw, Mapping) else None
        name = raw.get("name") if isinstance(raw, Mapping) else None
        cls = _SOURCE_CLASSES.get(kind) if isinstance(kind, str) else None
        if not isinstance(raw, Mapping):
            found.append((loc, f"wrong type (expected a table, got {_type_name(raw)})"))
            continue
        validated: SourceConfig | None = None
        if cls is None:
            if kind is None:
                found.append(((*loc, "kind"), "required key is missing (expected 'jira' or 'github')"))
            else:
                found.append(
                    ((*loc, "kind"), f"unknown tracker kind (expected 'jira' or 'github', got {_show(kind)})")
                )
        else:
            try:
                validated = cls.model_validate(raw, context=context)
            except ValidationError as exc:
                found.extend(_problems_from(exc, cls, loc))
        if isinstance(name, str):
            if name in sources:
                found.append(
                    (
                        (*loc, "name"),
                        f"duplicate source name {name!r} (first at {_fmt_loc(source_locs[name])})",
                    )
                )
            else:
                sources[name] = validated
                source_locs[name] = loc

    teams: list[tuple[Loc, TeamConfig]] = []
    for loc, raw in entries("teams"):
        try:
            teams.append((loc, TeamConfig.model_validate(raw, context=context)))
        except ValidationError as exc:
            found.extend(_problems_from(exc, TeamConfig, loc))
    programs: list[tuple[Loc, ProgramConfig]] = []
    for loc, raw in entries("programs"):
        try:
            programs.append((loc, ProgramConfig.model_validate(raw, context=context)))
        except ValidationError as exc:
            found.extend(_problems_from(exc, ProgramConfig, loc))

    found.extend((issue.loc, issue.message) for issue in _cross_check(sources, source_locs, teams, programs))
    if found:
        raise _error(found, file, locator)

    try:
        config = CrosstrackConfig.model_validate(data, context=context)
    except ValidationError as exc:  # pragma: no cover - the checks above cover every rule
        raise _error(list(_problems_from(exc, CrosstrackConfig, ())), file, locator) from None
    for i, source in enumerate(config.sources):
        keys = ("", "token_env", "token_file", "webhook_secret_env", "webhook_secret_file")
        lines = {k: locator(("sources", i, k) if k else ("sources", i)) for k in keys} if locator else {}
        source._origin = (file, f"sources[{i}]", {k: v for k, v in lines.items() if v is not None})
    return config


def _error(found: Sequence[tuple[Loc, str]], file: str | None, locator: Locator | None) -> ConfigError:
    problems = [
        (locator(loc) if locator else None, n, ConfigProblem(message, path=_fmt_loc(loc), file=file))
        for n, (loc, message) in enumerate(found)
    ]
    # File order reads best; problems without a line keep their discovery order at the end.
    problems.sort(key=lambda p: (p[0] is None, p[0] or 0, p[1]))
    return ConfigError(
        [ConfigProblem(p.message, path=p.path, file=p.file, line=line) for line, _, p in problems]
    )


def _longest_prefix(lines: Mapping[Loc, int]) -> Locator:
    def locate(loc: Loc) -> int | None:
        for end in range(len(loc), -1, -1):
            line = lines.get(loc[:end])
            if line is not None:
                return line
        return None

    return locate


def load_config(path: str | os.PathLike[str]) -> CrosstrackConfig:
    """Read, parse and validate a TOML or YAML config file.

    Raises ConfigError (``str()``: one line per problem, ``problems``: the list) when the file is
    missing or unreadable, is not valid TOML/YAML, or does not describe a valid config.
    """
    p = Path(path)
    file = str(path)
    suffix = p.suffix.lower()
    if suffix not in {".toml", ".yaml", ".yml"}:
        raise ConfigError(
            ConfigProblem(
                f"unknown config file type {suffix or '(none)'!r} (expected .toml, .yaml or .yml)", file=file
            )
        )
    text = _read_text(p, file)
    if suffix == ".toml":
        data, lines = _parse_toml(text, file)
    else:
        data, lines = _parse_yaml(text, file)
    config = parse_config(data, file=file, locator=_longest_prefix(lines), base_dir=p.parent.absolute())
    config._path = p
    return config


def check_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> CrosstrackConfig:
    """``crosstrack config check``: load the file and also resolve every source's secrets.

    Raises ConfigError listing every problem (validation, then unreadable secrets).
    """
    config = load_config(path)
    problems: list[ConfigProblem] = []
    for source in config.sources:
        for resolve in (source.resolve_token, source.resolve_webhook_secret):
            try:
                resolve(env)
            except ConfigError as exc:
                problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    return config


def _read_text(p: Path, file: str) -> str:
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError(ConfigProblem("no such file", file=file)) from None
    except IsADirectoryError:
        raise ConfigError(ConfigProblem("is a directory (expected a config file)", file=file)) from None
    except PermissionError:
        raise ConfigError(ConfigProblem("cannot be read (permission denied)", file=file)) from None
    except OSError as exc:
        raise ConfigError(
            ConfigProblem(f"cannot be read ({exc.strerror or type(exc).__name__})", file=file)
        ) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            ConfigProblem(
                f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}; expected the file saved as UTF-8)",
                file=file,
                line=line,
            )
        ) from None


_TOML_WHERE = re.compile(r"\s*\(at line (\d+), column (\d+)\)$|\s*\(at end of document\)$")


def _parse_toml(text: str, file: str) -> tuple[Any, dict[Loc, int]]:
    try:
        data = tomllib.loads(text)
    except RecursionError:
        raise ConfigError(ConfigProblem("invalid TOML: nested too deeply", file=file)) from None
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        m = _TOML_WHERE.search(message)
        line = column = None
        if m and m.group(1):
            line, column = int(m.group(1)), int(m.group(2))
        elif m:
            line = text.count("\n") + 1
        if m:
            message = message[: m.start()]
        raise ConfigError(
            ConfigProblem(
                f"invalid TOML: {message[:1].lower()}{message[1:]}", file=file, line=line, column=column
            )
        ) from None
    return data, _TomlLines(text).found


class _YamlLoader(yaml.SafeLoader):
    """SafeLoader whose impossible dates (2027-02-30) stay strings, so validation reports them
    at their key path and line instead of PyYAML raising a bare ValueError."""

    def _timestamp_or_string(self, node: yaml.ScalarNode) -> Any:
        try:
            return self.construct_yaml_timestamp(node)
        except ValueError:
            return self.construct_scalar(node)


_YamlLoader.add_constructor("tag:yaml.org,2002:timestamp", _YamlLoader._timestamp_or_string)


def _parse_yaml(text: str, file: str) -> tuple[Any, dict[Loc, int]]:
    loader: _YamlLoader | None = None
    try:
        loader = _YamlLoader(text)  # the reader already refuses control characters
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        code = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "\0")
        char = f"U+{code:04X}"
        raise ConfigError(
            ConfigProblem(f"invalid YAML: character {char} is not allowed", file=file, line=line)
        ) from None
    except RecursionError:
        raise ConfigError(ConfigProblem("invalid YAML: nested too deeply", file=file)) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or exc.context or "invalid document"
        if exc.context and exc.problem:
            what = f"{exc.problem} ({exc.context})"
        raise ConfigError(
            ConfigProblem(
                f"invalid YAML: {what}",
                file=file,
                line=mark.line + 1 if mark else None,
                column=mark.column + 1 if mark else None,
            )
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(ConfigProblem(f"invalid YAML: {exc}", file=file)) from None
    finally:
        if loader is not None:
            loader.dispose()
    lines: dict[Loc, int] = {}
    duplicates: list[ConfigProblem] = []
    if node is not None:
        with contextlib.suppress(RecursionError):  # best effort, like the TOML locator
            _yaml_lines(node, (), lines, duplicates, file, set())
    if duplicates:
        # PyYAML silently keeps the last of two equal keys; a config that says two things is a mistake.
        raise ConfigError(duplicates)
    return data, lines


def _yaml_lines(
    node: yaml.Node, loc: Loc, lines: dict[Loc, int], dups: list[ConfigProblem], file: str, active: set[int]
) -> None:
    if id(node) in active:  # a recursive alias: stop here, validation reports it
        return
    active.add(id(node))
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                dups.append(
                    ConfigProblem("duplicate key (expected each key once)", _fmt_loc((*loc, key)), file, line)
                )
            seen.add(key)
            lines.setdefault((*loc, key), line)
            _yaml_lines(value_node, (*loc, key), lines, dups, file, active)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines.setdefault((*loc, i), item.start_mark.line + 1)
            _yaml_lines(item, (*loc, i), lines, dups, file, active)
    active.discard(id(node))


class _TomlLines:
    """Line numbers of the keys of a TOML document that tomllib already accepted.

    tomllib returns plain dicts without positions, so this walks the text once, following tables,
    arrays of tables (``[[sources]]``), dotted keys, arrays and inline tables, and records the
    line where each key path starts. Best effort: on anything unexpected it stops, keeping what it
    found (error messages then fall back to the nearest enclosing key).
    """

    _BARE = re.compile(r"[A-Za-z0-9_-]+")
    _SCALAR = re.compile(r"[^,\]}\n#]*")

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.found: dict[Loc, int] = {}
        self._tables: dict[Loc, int] = {}  # array-of-tables path -> number of elements so far
        with contextlib.suppress(ValueError, IndexError, RecursionError, tomllib.TOMLDecodeError):
            self._document()

    def _advance(self, n: int) -> None:
        self.line += self.text.count("\n", self.pos, self.pos + n)
        self.pos += n

    def _peek(self) -> str:
        return self.text[self.pos : self.pos + 1]

    def _expect(self, token: str) -> None:
        if not self.text.startswith(token, self.pos):
            raise ValueError(token)
        self._advance(len(token))

    def _skip(self, newlines: bool) -> None:
        while self.pos < len(self.text):
            c = self.text[self.pos]
            if c in " \t" or (newlines and c in "\r\n"):
                self._advance(1)
            elif c == "#":
                end = self.text.find("\n", self.pos)
                self._advance((len(self.text) if end < 0 else end) - self.pos)
            else:
                return

    def _record(self, loc: Loc) -> None:
        self.found.setdefault(loc, self.line)

    def _document(self) -> None:
        table: Loc = ()
        while True:
            self._skip(newlines=True)
            if self.pos >= len(self.text):
                return
            if self.text.startswith("[[", self.pos):
                self._advance(2)
                table = self._header(self._key(), array=True)
                self._skip(False)
                self._expect("]]")
            elif self._peek() == "[":
                self._advance(1)
                table = self._header(self._key(), array=False)
                self._skip(False)
                self._expect("]")
            else:
                keys = self._key()
                for end in range(1, len(keys) + 1):
                    self._record((*table, *keys[:end]))
                self._skip(False)
                self._expect("=")
                self._skip(False)
                self._value((*table, *keys))

    def _header(self, keys: tuple[str, ...], array: bool) -> Loc:
        loc: Loc = ()
        for key in keys[:-1]:
            loc = (*loc, key)
            if loc in self._tables:
                loc = (*loc, self._tables[loc] - 1)
        loc = (*loc, keys[-1])
        self._record(loc)
        if array:
            n = self._tables.get(loc, 0)
            self._tables[loc] = n + 1
            loc = (*loc, n)
            self._record(loc)
        return loc

    def _key(self) -> tuple[str, ...]:
        parts: list[str] = []
        while True:
            self._skip(False)
            c = self._peek()
            if c in {'"', "'"}:
                start = self.pos
                self._string()
                parts.append(str(tomllib.loads(f"k = {self.text[start : self.pos]}")["k"]))
            else:
                m = self._BARE.match(self.text, self.pos)
                if not m:
                    raise ValueError("key")
                parts.append(m.group())
                self._advance(len(m.group()))
            self._skip(False)
            if self._peek() != ".":
                return tuple(parts)
            self._advance(1)

    def _string(self) -> None:
        for quote in ('"""', "'''", '"', "'"):
            if self.text.startswith(quote, self.pos):
                break
        self._advance(len(quote))
        escapes = quote.startswith('"')
        i = self.pos
        while True:
            i = self.text.find(quote, i)
            if i < 0:
                raise ValueError("string")
            backslashes = 0
            while escapes and self.text[i - 1 - backslashes] == "\\":
                backslashes += 1
            if backslashes % 2 == 0:
                break
            i += 1
        end = i + len(quote)
        if len(quote) == 3:  # up to two quote characters may sit just inside the closing delimiter
            while self.text.startswith(quote[0], end) and end - i < 5:
                end += 1
        self._advance(end - self.pos)

    def _value(self, loc: Loc) -> None:
        c = self._peek()
        if c in {'"', "'"}:
            self._string()
        elif c == "[":
            self._advance(1)
            i = 0
            while True:
                self._skip(True)
                if self._peek() == "]":
                    self._advance(1)
                    return
                before = self.pos
                self._record((*loc, i))
                self._value((*loc, i))
                self._skip(True)
                if self._peek() == ",":
                    self._advance(1)
                    i += 1
                elif self.pos == before:
                    raise ValueError("array")
        elif c == "{":
            self._advance(1)
            while True:
                self._skip(True)
                if self._peek() == "}":
                    self._advance(1)
                    return
                before = self.pos
                keys = self._key()
                for end in range(1, len(keys) + 1):
                    self._record((*loc, *keys[:end]))
                self._skip(False)
                self._expect("=")
                self._skip(False)
                self._value((*loc, *keys))
                self._skip(True)
                if self._peek() == ",":
                    self._advance(1)
                elif self.pos == before:
                    raise ValueError("inline table")
        else:
            m = self._SCALAR.match(self.text, self.pos)
            if not m or not m.group().strip():
                raise ValueError("value")
            self._advance(len(m.group()))
