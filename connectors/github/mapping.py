"""Pure mapping from GitHub REST payloads (issues, milestones, Projects v2 items) to records.

No I/O here: the connector fetches, this module reads. Every function takes the JSON exactly as
GitHub sends it (https://docs.github.com/en/rest/issues/issues#list-repository-issues) and never
needs a field that is absent from a list payload.

Rules (PRODUCT §3, §4.2):
- status: ``closed`` + ``state_reason`` ``completed`` (or none) → done/completed; ``not_planned`` or
  ``duplicate`` → done/won't do; ``open`` → in progress when assigned, labelled with one of
  ``in_progress_labels``, or when its Projects v2 Status is an in-progress value; else todo.
- kind: the issue type (``type.name``) through ``epic_types``/``type_kinds``, else the labels through
  ``epic_labels``/``label_kinds``, else ``other``.
- hierarchy: ``parent_issue_url`` gives the parent without any extra call.
- dependencies: given by the connector when the ``issue_dependencies_summary`` says there are some;
  when the summary says there are none the dependency links are complete (and empty) for free.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from connectors.errors import InvalidResponse
from connectors.github.references import Relation, find_references
from connectors.records import (
    ItemKind,
    ItemRef,
    LinkOrigin,
    LinkRecord,
    LinkType,
    PersonRecord,
    ReleaseRecord,
    Resolution,
    SprintRecord,
    StatusCategory,
    TrackerKind,
    WorkItemRecord,
)

__all__ = [
    "DEFAULT_TYPE_KINDS",
    "Dependencies",
    "MappingConfig",
    "ProjectConfig",
    "ProjectFields",
    "ProjectSignals",
    "closing_references",
    "dependency_needs",
    "is_pull_request",
    "issue_key",
    "issue_ref",
    "map_issue",
    "map_milestone",
    "map_person",
    "parse_project_fields",
    "parse_time",
    "project_item_signals",
    "ref_from_api_url",
    "repo_of_issue",
]

GITHUB = TrackerKind.GITHUB
DEFAULT_TYPE_KINDS: Mapping[str, str] = {"Bug": "bug", "Feature": "story", "Task": "task", "Epic": "epic"}
_WONT_DO_REASONS = frozenset({"not_planned", "duplicate"})


@dataclass(frozen=True, slots=True)
class ProjectConfig:
    """One organization Projects v2 project whose fields feed status, sprint and estimate."""

    number: int
    status_field: str = "Status"
    in_progress_values: frozenset[str] = frozenset({"In Progress"})
    done_values: frozenset[str] = frozenset({"Done"})
    iteration_field: str | None = "Iteration"
    estimate_field: str | None = "Estimate"

    @classmethod
    def from_option(cls, raw: Any) -> ProjectConfig:
        if not isinstance(raw, Mapping) and hasattr(raw, "model_dump"):
            raw = raw.model_dump()  # a validated config model rather than plain JSON
        return cls(
            number=int(raw["number"]),
            status_field=str(raw.get("status_field", "Status")),
            in_progress_values=frozenset(raw.get("in_progress_values", ("In Progress",))),
            done_values=frozenset(raw.get("done_values", ("Done",))),
            iteration_field=raw.get("iteration_field", "Iteration"),
            estimate_field=raw.get("estimate_field", "Estimate"),
        )


@dataclass(frozen=True, slots=True)
class MappingConfig:
    """The mapping options of a GitHub source (``SourceSettings.options``); names compare case-insensitively
    for labels and exactly for issue types (GitHub type names are case-sensitive)."""

    epic_types: frozenset[str] = frozenset({"Epic"})
    epic_labels: frozenset[str] = frozenset({"epic"})
    type_kinds: Mapping[str, ItemKind] = field(
        default_factory=lambda: {k: ItemKind(v) for k, v in DEFAULT_TYPE_KINDS.items()}
    )
    label_kinds: Mapping[str, ItemKind] = field(default_factory=lambda: {"bug": ItemKind.BUG})
    in_progress_labels: frozenset[str] = frozenset({"in progress"})
    projects: tuple[ProjectConfig, ...] = ()

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> MappingConfig:
        try:
            return cls(
                epic_types=frozenset(options.get("epic_types", ("Epic",))),
                epic_labels=frozenset(s.lower() for s in options.get("epic_labels", ("epic",))),
                type_kinds={k: ItemKind(v) for k, v in options.get("type_kinds", DEFAULT_TYPE_KINDS).items()},
                label_kinds={
                    k.lower(): ItemKind(v) for k, v in options.get("label_kinds", {"bug": "bug"}).items()
                },
                in_progress_labels=frozenset(
                    s.lower() for s in options.get("in_progress_labels", ("in progress",))
                ),
                projects=tuple(ProjectConfig.from_option(p) for p in options.get("projects_v2", ())),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"invalid GitHub source options: {exc}") from exc


@dataclass(frozen=True, slots=True)
class ProjectSignals:
    """What the configured Projects v2 projects say about one issue."""

    status: str | None = None
    status_category: StatusCategory | None = None
    sprint: SprintRecord | None = None
    estimate: float | None = None


@dataclass(frozen=True, slots=True)
class Dependencies:
    """The issues that block this one (``blocked_by``) and those it blocks (``blocking``), as fetched."""

    blocked_by: tuple[ItemRef, ...] = ()
    blocking: tuple[ItemRef, ...] = ()


@dataclass(frozen=True, slots=True)
class ProjectFields:
    """Field ids of one project and the sprints its iteration field defines."""

    config: ProjectConfig
    status_id: str | None
    iteration_id: str | None
    estimate_id: str | None
    sprints: Mapping[str, SprintRecord]

    @property
    def field_ids(self) -> list[str]:
        return [i for i in (self.status_id, self.iteration_id, self.estimate_id) if i]


# -- small readers --------------------------------------------------------------------------------


def parse_time(value: Any) -> datetime | None:
    """GitHub's ISO-8601 timestamps (``2019-05-15T15:20:18Z``) as aware UTC datetimes."""
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _required_time(payload: Mapping[str, Any], name: str) -> datetime:
    value = parse_time(payload.get(name))
    if value is None:
        raise InvalidResponse(f"issue payload without {name}: {payload.get('url', '?')}")
    return value


def ref_from_api_url(url: str | None) -> ItemRef | None:
    """``…/repos/{o}/{r}/issues/{n}`` (API) or ``https://github.com/{o}/{r}/issues/{n}`` → ref."""
    if not url:
        return None
    parts = url.rstrip("/").split("/")
    if len(parts) < 4 or parts[-2] not in ("issues", "pull", "pulls"):
        return None
    number = parts[-1]
    if not number.isdigit():
        return None
    return ItemRef(GITHUB, f"{parts[-4]}/{parts[-3]}#{int(number)}")


def repo_of_issue(payload: Mapping[str, Any]) -> str:
    """``owner/repo`` of an issue payload, from ``repository_url`` (or ``html_url``)."""
    url = payload.get("repository_url")
    if isinstance(url, str) and "/repos/" in url:
        owner, _, name = url.rsplit("/repos/", 1)[1].partition("/")
        if owner and name:
            return f"{owner}/{name.rstrip('/')}"
    ref = ref_from_api_url(payload.get("html_url"))
    if ref is None:
        raise InvalidResponse(f"cannot tell the repository of issue payload {payload.get('url', '?')}")
    return ref.key.split("#", 1)[0]


def issue_key(payload: Mapping[str, Any], repo: str | None = None) -> str:
    return f"{repo or repo_of_issue(payload)}#{payload['number']}"


def issue_ref(payload: Mapping[str, Any], repo: str | None = None) -> ItemRef:
    return ItemRef(GITHUB, issue_key(payload, repo), str(payload["id"]) if payload.get("id") else None)


def is_pull_request(payload: Mapping[str, Any]) -> bool:
    return payload.get("pull_request") is not None


def map_person(user: Mapping[str, Any] | None) -> PersonRecord | None:
    if not user or user.get("id") is None:
        return None
    login = user.get("login")
    return PersonRecord(GITHUB, str(user["id"]), login=login, display_name=user.get("name") or login)


def map_milestone(milestone: Mapping[str, Any] | None, repo: str) -> ReleaseRecord | None:
    """A milestone as a release: ``due_on`` as the due date, closed = released."""
    if not milestone:
        return None
    due = parse_time(milestone.get("due_on"))
    return ReleaseRecord(
        external_id=str(milestone["id"]),
        name=str(milestone.get("title") or ""),
        scope=repo,
        due_date=due.date() if due else None,
        released=milestone.get("state") == "closed",
        url=milestone.get("html_url"),
        raw=milestone,
    )


def dependency_needs(payload: Mapping[str, Any]) -> tuple[bool, bool] | None:
    """Which dependency lists an issue needs fetched, from ``issue_dependencies_summary``.

    ``(blocked_by, blocking)``; ``None`` when the payload has no summary (older Enterprise Server):
    then nothing is fetched and the dependency links are not claimed complete.
    """
    summary = payload.get("issue_dependencies_summary")
    if not isinstance(summary, Mapping):
        return None
    blocked_by = summary.get("total_blocked_by", summary.get("blocked_by", 0)) or 0
    blocking = summary.get("total_blocking", summary.get("blocking", 0)) or 0
    return blocked_by > 0, blocking > 0


def closing_references(payload: Mapping[str, Any], repo: str) -> list[ItemRef]:
    """Issues a pull request says it closes (``Closes #12``, ``fixes acme/web#3``)."""
    return [r.target for r in find_references(payload.get("body"), repo) if r.relation is Relation.CLOSES]


# -- the issue ------------------------------------------------------------------------------------


def _kind(type_name: str | None, labels_lower: Sequence[str], config: MappingConfig) -> ItemKind:
    if type_name:
        if type_name in config.epic_types:
            return ItemKind.EPIC
        kind = config.type_kinds.get(type_name)
        if kind is not None:
            return kind
    for label in labels_lower:
        if label in config.epic_labels:
            return ItemKind.EPIC
    for label in labels_lower:
        kind = config.label_kinds.get(label)
        if kind is not None:
            return kind
    return ItemKind.OTHER


def _status(
    payload: Mapping[str, Any],
    labels_lower: Sequence[str],
    assigned: bool,
    config: MappingConfig,
    signals: ProjectSignals | None,
) -> tuple[StatusCategory, Resolution | None]:
    if payload.get("state") == "closed":
        if payload.get("state_reason") in _WONT_DO_REASONS:
            return StatusCategory.DONE, Resolution.WONT_DO
        return StatusCategory.DONE, Resolution.COMPLETED
    if assigned or any(label in config.in_progress_labels for label in labels_lower):
        return StatusCategory.IN_PROGRESS, None
    if signals is not None and signals.status_category is not None:
        # An open issue whose board column says Done is still open work until someone closes it.
        return StatusCategory.IN_PROGRESS, None
    return StatusCategory.TODO, None


def _dependency_links(me: ItemRef, deps: Dependencies) -> list[LinkRecord]:
    links = [
        LinkRecord(blocker, me, LinkType.BLOCKS, LinkOrigin.GITHUB_DEPENDENCY, original_label="blocked_by")
        for blocker in deps.blocked_by
    ]
    links.extend(
        LinkRecord(me, blocked, LinkType.BLOCKS, LinkOrigin.GITHUB_DEPENDENCY, original_label="blocking")
        for blocked in deps.blocking
    )
    return links


def _text_links(me: ItemRef, body: str | None, repo: str) -> list[LinkRecord]:
    links: list[LinkRecord] = []
    for ref in find_references(body, repo):
        if ref.target.key == me.key and ref.target.tracker is GITHUB:
            continue  # "blocked by #12" inside #12 itself
        if ref.relation is Relation.BLOCKED_BY:
            links.append(LinkRecord(ref.target, me, LinkType.BLOCKS, LinkOrigin.TEXT_REFERENCE, ref.text))
        elif ref.relation is Relation.BLOCKS:
            links.append(LinkRecord(me, ref.target, LinkType.BLOCKS, LinkOrigin.TEXT_REFERENCE, ref.text))
    return links


def map_issue(
    payload: Mapping[str, Any],
    config: MappingConfig,
    *,
    repo: str | None = None,
    signals: ProjectSignals | None = None,
    dependencies: Dependencies | None = None,
    linked_pull_requests: Iterable[str] = (),
    keep_raw: bool = True,
) -> WorkItemRecord:
    """One issue payload (list, single GET or webhook ``issue``) → :class:`WorkItemRecord`."""
    try:
        repo = repo or repo_of_issue(payload)
        me = ItemRef(GITHUB, f"{repo}#{payload['number']}", str(payload["id"]))
        labels = tuple(
            str(label["name"]) if isinstance(label, Mapping) else str(label)
            for label in payload.get("labels") or ()
        )
        labels_lower = [label.lower() for label in labels]
        assignees = payload.get("assignees") or ([payload["assignee"]] if payload.get("assignee") else [])
        assignee = map_person(assignees[0]) if assignees else None
        issue_type = payload.get("type")
        type_name = issue_type.get("name") if isinstance(issue_type, Mapping) else None
        category, resolution = _status(payload, labels_lower, assignee is not None, config, signals)
        closed = payload.get("state") == "closed"

        links = _text_links(me, payload.get("body"), repo)
        complete = {LinkOrigin.TEXT_REFERENCE}
        if dependencies is not None:
            links.extend(_dependency_links(me, dependencies))
            complete.add(LinkOrigin.GITHUB_DEPENDENCY)
        elif dependency_needs(payload) == (False, False):
            complete.add(LinkOrigin.GITHUB_DEPENDENCY)
        unique_links = tuple(dict.fromkeys(links))

        parent_url = payload.get("parent_issue_url")
        milestone = map_milestone(payload.get("milestone"), repo)
        return WorkItemRecord(
            tracker=GITHUB,
            external_id=me.external_id or "",
            key=me.key,
            url=str(payload.get("html_url") or ""),
            title=str(payload.get("title") or ""),
            scope=repo,
            kind=_kind(type_name, labels_lower, config),
            original_type=type_name,
            status_category=category,
            original_status=str(payload.get("state") or ""),
            resolution=resolution,
            original_resolution=(payload.get("state_reason") or "completed") if closed else None,
            created_at=_required_time(payload, "created_at"),
            updated_at=_required_time(payload, "updated_at"),
            resolved_at=parse_time(payload.get("closed_at")) if closed else None,
            assignee=assignee,
            parent=ref_from_api_url(parent_url) if parent_url else None,
            estimate=signals.estimate if signals else None,
            labels=labels,
            releases=(milestone,) if milestone else (),
            sprint=signals.sprint if signals else None,
            due_date=milestone.due_date if milestone else None,
            links=unique_links,
            links_complete=frozenset(complete),
            linked_pull_requests=tuple(dict.fromkeys(linked_pull_requests)),
            raw=payload if keep_raw else None,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidResponse(
            f"cannot read issue payload {payload.get('url', '?') if isinstance(payload, Mapping) else '?'}: "
            f"{type(exc).__name__} {exc}"
        ) from exc


# -- Projects v2 ----------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    """Projects v2 text values come as ``{"raw": ..., "html": ...}`` or as plain strings."""
    if isinstance(value, Mapping):
        inner = value.get("raw", value.get("name"))
        return _text(inner) if isinstance(inner, Mapping) else (str(inner) if inner is not None else None)
    return str(value) if value is not None else None


def _sprint(iteration: Mapping[str, Any], now: datetime, completed: bool = False) -> SprintRecord:
    start_day = date.fromisoformat(str(iteration["start_date"]))
    start = datetime(start_day.year, start_day.month, start_day.day, tzinfo=UTC)
    end = start + timedelta(days=int(iteration.get("duration") or 0))
    if completed or end <= now:
        state = "closed"
    elif start <= now:
        state = "active"
    else:
        state = "future"
    return SprintRecord(
        external_id=str(iteration["id"]),
        name=_text(iteration.get("title")) or "",
        state=state,
        start=start,
        end=end,
    )


def parse_project_fields(
    fields: Sequence[Mapping[str, Any]], config: ProjectConfig, now: datetime
) -> ProjectFields:
    """``GET /orgs/{org}/projectsV2/{n}/fields`` → the ids of the configured fields and the iterations."""
    by_name = {str(f.get("name")): f for f in fields}

    def field_id(name: str | None) -> str | None:
        found = by_name.get(name) if name else None
        return str(found["id"]) if found else None

    sprints: dict[str, SprintRecord] = {}
    iteration = by_name.get(config.iteration_field) if config.iteration_field else None
    if iteration:
        configuration = iteration.get("configuration") or {}
        for it in configuration.get("iterations") or ():
            sprint = _sprint(it, now, bool(it.get("completed")))
            sprints[sprint.external_id] = sprint
        for it in configuration.get("completed_iterations") or ():
            sprint = _sprint(it, now, True)
            sprints[sprint.external_id] = sprint
    return ProjectFields(
        config=config,
        status_id=field_id(config.status_field),
        iteration_id=field_id(config.iteration_field),
        estimate_id=field_id(config.estimate_field),
        sprints=sprints,
    )


def project_item_signals(
    item: Mapping[str, Any], fields: ProjectFields, now: datetime
) -> tuple[str, ProjectSignals] | None:
    """One ``projectsV2/{n}/items`` entry → (issue key, signals); ``None`` for drafts and pull requests."""
    if item.get("content_type") != "Issue" or item.get("archived_at"):
        return None
    content = item.get("content") or {}
    ref = ref_from_api_url(content.get("url")) or ref_from_api_url(content.get("html_url"))
    if ref is None:
        return None
    status: str | None = None
    sprint: SprintRecord | None = None
    estimate: float | None = None
    config = fields.config
    for value in item.get("fields") or ():
        fid, name, raw = str(value.get("id")), value.get("name"), value.get("value")
        if raw is None:
            continue
        if fid == fields.status_id or (fields.status_id is None and name == config.status_field):
            status = _text(raw.get("name", raw) if isinstance(raw, Mapping) else raw)
        elif fid == fields.iteration_id or (fields.iteration_id is None and name == config.iteration_field):
            if isinstance(raw, Mapping):
                known = fields.sprints.get(str(raw.get("id")))
                sprint = known or (_sprint(raw, now) if raw.get("start_date") else None)
        elif fid == fields.estimate_id or (fields.estimate_id is None and name == config.estimate_field):
            number = raw.get("value", raw.get("number")) if isinstance(raw, Mapping) else raw
            if isinstance(number, int | float) and not isinstance(number, bool):
                estimate = float(number)
            elif isinstance(number, str):
                try:
                    estimate = float(number)
                except ValueError:
                    estimate = None
    category: StatusCategory | None = None
    if status is not None and status in config.in_progress_values:
        category = StatusCategory.IN_PROGRESS
    elif status is not None and status in config.done_values:
        category = StatusCategory.DONE
    return ref.key, ProjectSignals(status=status, status_category=category, sprint=sprint, estimate=estimate)
