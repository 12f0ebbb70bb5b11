"""Pure functions from Jira REST payloads to crosstrack records (no I/O, no ``jira`` import).

Everything here works on the JSON the REST API answers (v2 and v3 have the same shapes for the
fields we read; v3 only changes rich-text fields, which we do not map) and on webhook bodies, whose
``issue`` object has the same shape. Reference:
https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-issueidorkey-get
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

from connectors.errors import InvalidResponse
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
    StatusChangeRecord,
    TrackerKind,
    WorkItemRecord,
)

__all__ = [
    "BASE_FIELDS",
    "FieldMap",
    "MappingContext",
    "category_of",
    "changelog_is_complete",
    "discover_fields",
    "github_ref_from_url",
    "map_changelog",
    "map_issue",
    "map_issue_links",
    "map_person",
    "map_release",
    "map_remote_links",
    "map_sprint",
    "map_text_references",
    "parse_jira_date",
    "parse_jira_datetime",
    "pick_sprint",
    "plain_text",
    "remote_link_changed",
    "resolution_of",
    "status_categories_from",
]

JIRA = TrackerKind.JIRA

# The system fields every listing asks for; custom fields found by discovery are added to these.
# Not ``project``: the key's prefix is the project key, and the field costs a kilobyte per issue.
BASE_FIELDS: tuple[str, ...] = (
    "summary",
    "status",
    "resolution",
    "resolutiondate",
    "issuetype",
    "created",
    "updated",
    "assignee",
    "parent",
    "labels",
    "fixVersions",
    "duedate",
    "issuelinks",
    "description",
)

# -- custom field discovery ---------------------------------------------------------------------
# Found by ``schema.custom`` (stable across instances), never by display name, except the classic
# "Story Points" number field that Data Center and company-managed Cloud projects still use.
_SPRINT_TYPE = "com.pyxis.greenhopper.jira:gh-sprint"
_EPIC_LINK_TYPE = "com.pyxis.greenhopper.jira:gh-epic-link"
_STORY_POINTS_TYPES = ("com.pyxis.greenhopper.jira:jsw-story-points",)
_FLOAT_TYPE = "com.atlassian.jira.plugin.system.customfieldtypes:float"
_STORY_POINTS_NAMES = ("story points", "story point estimate")
_START_DATE_TYPES = ("com.atlassian.jpo:jpo-custom-field-baseline-start",)


@dataclass(frozen=True, slots=True)
class FieldMap:
    """Ids of the custom fields the mapping reads (``customfield_10016``…); ``None`` when absent."""

    story_points: str | None = None
    sprint: str | None = None
    epic_link: str | None = None
    start_date: str | None = None

    def ids(self) -> tuple[str, ...]:
        return tuple(f for f in (self.story_points, self.sprint, self.epic_link, self.start_date) if f)

    def as_json(self) -> dict[str, str | None]:
        return {
            "story_points": self.story_points,
            "sprint": self.sprint,
            "epic_link": self.epic_link,
            "start_date": self.start_date,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FieldMap:
        return cls(
            story_points=data.get("story_points"),
            sprint=data.get("sprint"),
            epic_link=data.get("epic_link"),
            start_date=data.get("start_date"),
        )


def discover_fields(
    fields: Iterable[Mapping[str, Any]], overrides: Mapping[str, Any] | None = None
) -> FieldMap:
    """Pick the custom fields from a ``GET /rest/api/2/field`` answer; options override discovery.

    https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-fields/#api-rest-api-3-field-get
    """
    story_points: str | None = None
    story_points_by_name: str | None = None
    sprint = epic_link = start_date = None
    for f in fields:
        fid = f.get("id")
        schema = f.get("schema") or {}
        custom = schema.get("custom")
        if not isinstance(fid, str) or not custom:
            continue
        name = str(f.get("name") or "").strip().lower()
        if custom == _SPRINT_TYPE and sprint is None:
            sprint = fid
        elif custom == _EPIC_LINK_TYPE and epic_link is None:
            epic_link = fid
        elif custom in _STORY_POINTS_TYPES and story_points is None:
            story_points = fid
        elif custom == _FLOAT_TYPE and name in _STORY_POINTS_NAMES and story_points_by_name is None:
            story_points_by_name = fid
        elif start_date is None and (
            custom in _START_DATE_TYPES or (name == "start date" and schema.get("type") == "date")
        ):
            start_date = fid
    opts = overrides or {}
    return FieldMap(
        story_points=opts.get("story_points_field") or story_points or story_points_by_name,
        sprint=opts.get("sprint_field") or sprint,
        epic_link=opts.get("epic_link_field") or epic_link,
        start_date=opts.get("start_date_field") or start_date,
    )


# -- scalar parsing ------------------------------------------------------------------------------


def parse_jira_datetime(value: Any) -> datetime | None:
    """Jira timestamps (``2024-01-15T10:30:00.000+0000``) as aware UTC datetimes."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidResponse(f"expected a timestamp, got {type(value).__name__}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidResponse(f"unreadable timestamp {value[:40]!r}") from exc
    if parsed.tzinfo is None:  # Jira always sends an offset; a bare value is read as UTC
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_jira_date(value: Any) -> date | None:
    """Date fields (``duedate``, ``releaseDate``: ``2024-03-01``); timestamps keep their date part."""
    if not value or not isinstance(value, str) or value == "<null>":
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


# -- status, resolution, kind --------------------------------------------------------------------

_CATEGORY_BY_KEY = {
    "new": StatusCategory.TODO,
    "undefined": StatusCategory.TODO,
    "indeterminate": StatusCategory.IN_PROGRESS,
    "done": StatusCategory.DONE,
}
# statusCategory ids are fixed across instances: 1 undefined, 2 new, 3 done, 4 indeterminate.
_CATEGORY_BY_ID = {
    1: StatusCategory.TODO,
    2: StatusCategory.TODO,
    3: StatusCategory.DONE,
    4: StatusCategory.IN_PROGRESS,
}


def category_of(status: Mapping[str, Any] | None) -> StatusCategory:
    """Normalize from ``status.statusCategory.key`` (never the status name: names are per workflow)."""
    cat = (status or {}).get("statusCategory") or {}
    key = cat.get("key")
    if isinstance(key, str) and key in _CATEGORY_BY_KEY:
        return _CATEGORY_BY_KEY[key]
    cid = cat.get("id")
    if isinstance(cid, int | str) and str(cid).isdigit() and int(cid) in _CATEGORY_BY_ID:
        return _CATEGORY_BY_ID[int(cid)]
    return StatusCategory.TODO


def status_categories_from(statuses: Iterable[Mapping[str, Any]]) -> dict[str, StatusCategory]:
    """``status id -> category`` from ``GET /rest/api/2/status`` or from issues' current statuses."""
    out: dict[str, StatusCategory] = {}
    for status in statuses:
        sid = status.get("id")
        if sid is not None and status.get("statusCategory"):
            out[str(sid)] = category_of(status)
        name = status.get("name")
        if isinstance(name, str) and status.get("statusCategory"):
            out[f"name:{name.lower()}"] = category_of(status)
    return out


# Resolutions that close an item without doing the work. Jira ships "Won't Do" (Cloud) and
# "Won't Fix", "Duplicate", "Cannot Reproduce" (Data Center); anything else counts as completed.
_WONT_DO = frozenset(
    {"won't do", "won't fix", "duplicate", "cannot reproduce", "declined", "rejected", "obsolete"}
)


def resolution_of(category: StatusCategory, resolution: Mapping[str, Any] | None) -> Resolution | None:
    """Done items are completed unless their resolution says "won't do"; open items have none."""
    if category is not StatusCategory.DONE:
        return None
    name = str((resolution or {}).get("name") or "").strip().lower().replace("\u2019", "'")
    return Resolution.WONT_DO if name in _WONT_DO else Resolution.COMPLETED


_KIND_BY_TYPE = {
    "initiative": ItemKind.INITIATIVE,
    "epic": ItemKind.EPIC,
    "story": ItemKind.STORY,
    "task": ItemKind.TASK,
    "bug": ItemKind.BUG,
    "sub-task": ItemKind.SUBTASK,
    "subtask": ItemKind.SUBTASK,
}


def kind_of(issuetype: Mapping[str, Any] | None) -> ItemKind:
    """By type name; otherwise by the hierarchy level Cloud reports (-1 subtask, 1 epic, 2+ above)."""
    it = issuetype or {}
    kind = _KIND_BY_TYPE.get(str(it.get("name") or "").strip().lower())
    if kind is not None:
        return kind
    if it.get("subtask") is True:
        return ItemKind.SUBTASK
    level = it.get("hierarchyLevel")
    if isinstance(level, int):
        if level == -1:
            return ItemKind.SUBTASK
        if level == 1:
            return ItemKind.EPIC
        if level >= 2:
            return ItemKind.INITIATIVE
    return ItemKind.OTHER


# -- people, releases, sprints ---------------------------------------------------------------------


def map_person(user: Mapping[str, Any] | None) -> PersonRecord | None:
    """Cloud users have an ``accountId``; Data Center users a ``key`` and a login ``name``."""
    if not user:
        return None
    external_id = user.get("accountId") or user.get("key") or user.get("name")
    if not external_id:
        return None
    return PersonRecord(
        tracker=JIRA,
        external_id=str(external_id),
        login=user.get("name") or None,  # Data Center usernames; Cloud has none
        email=user.get("emailAddress") or None,
        display_name=user.get("displayName") or None,
    )


def map_release(version: Mapping[str, Any], scope: str, base_url: str | None = None) -> ReleaseRecord:
    """A fix version (https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-project-versions/)."""
    vid = str(version.get("id") or "")
    project_id = version.get("projectId")
    url = None
    if base_url and project_id is not None and vid:
        url = f"{base_url}/projects/{scope}/versions/{vid}"
    return ReleaseRecord(
        external_id=vid,
        name=str(version.get("name") or ""),
        scope=scope,
        due_date=parse_jira_date(version.get("releaseDate")),
        released=bool(version.get("released")),
        url=url,
        raw=version,
    )


# Old Data Center returns sprints as Java toString() strings:
# "com.atlassian.greenhopper.service.sprint.Sprint@1a2b[id=3,rapidViewId=1,state=ACTIVE,name=S 3,...]"
_LEGACY_SPRINT = re.compile(r"\[(.*)\]\s*$", re.DOTALL)
_LEGACY_SPLIT = re.compile(r",(?=[A-Za-z]+=)")


def _legacy_sprint_fields(text: str) -> dict[str, str | None]:
    match = _LEGACY_SPRINT.search(text)
    if not match:
        return {}
    out: dict[str, str | None] = {}
    for part in _LEGACY_SPLIT.split(match.group(1)):
        key, sep, value = part.partition("=")
        if sep:
            out[key.strip()] = None if value in ("<null>", "") else value
    return out


def map_sprint(value: Any) -> SprintRecord | None:
    """One sprint value, object form (Cloud, DC 8+) or legacy string form (older DC)."""
    if isinstance(value, Mapping):
        data: Mapping[str, Any] = value
    elif isinstance(value, str):
        data = _legacy_sprint_fields(value)
    else:
        return None
    sid = data.get("id")
    if sid is None or data.get("name") is None:
        return None
    state = data.get("state")
    return SprintRecord(
        external_id=str(sid),
        name=str(data["name"]),
        state=str(state).lower() if state else None,
        start=parse_jira_datetime(data.get("startDate")),
        end=parse_jira_datetime(data.get("endDate")),
    )


_STATE_RANK = {"active": 0, "future": 1}


def pick_sprint(values: Any) -> SprintRecord | None:
    """The sprint an item is in now: the active one, else the next future one, else the last closed.

    The sprint field lists every sprint the item has been in (carried-over work keeps the old ones).
    """
    if not values:
        return None
    items = values if isinstance(values, list) else [values]
    sprints = [s for s in (map_sprint(v) for v in items) if s is not None]
    if not sprints:
        return None
    open_ = [s for s in sprints if s.state in _STATE_RANK]
    if open_:
        epoch = datetime.max.replace(tzinfo=UTC)
        return min(
            open_, key=lambda s: (_STATE_RANK[s.state or ""], s.start or epoch, _int_or_zero(s.external_id))
        )
    floor = datetime.min.replace(tzinfo=UTC)
    return max(sprints, key=lambda s: (s.end or s.start or floor, _int_or_zero(s.external_id)))


def _int_or_zero(value: str) -> int:
    return int(value) if value.isdigit() else 0


# -- links ------------------------------------------------------------------------------------------


def _link_kind(link_type: Mapping[str, Any]) -> tuple[LinkType, bool]:
    """(normalized type, reversed?) for an issue link type, by name and by outward/inward text.

    ``reversed`` means the outward issue is the *source* of the normalized link (e.g. a custom
    "Dependency" type whose outward text is "depends on": A depends on B ⇒ B blocks A).
    https://support.atlassian.com/jira-cloud-administration/docs/configure-issue-linking/
    """
    name = str(link_type.get("name") or "").strip().lower()
    outward = str(link_type.get("outward") or "").strip().lower()
    inward = str(link_type.get("inward") or "").strip().lower()
    if outward == "blocks" or (name in ("blocks", "blocker") and outward in ("", "blocks")):
        return LinkType.BLOCKS, False
    if outward in ("is blocked by", "depends on", "is dependent on") or inward == "blocks":
        return LinkType.BLOCKS, True
    if name in ("duplicate", "duplicates") or outward == "duplicates":
        return LinkType.DUPLICATES, False
    if outward == "is duplicated by":
        return LinkType.DUPLICATES, True
    return LinkType.RELATES, False


def map_issue_links(this: ItemRef, issuelinks: Sequence[Mapping[str, Any]] | None) -> tuple[LinkRecord, ...]:
    """``fields.issuelinks`` of one issue as directed links.

    On issue A an entry with ``outwardIssue: B`` of type Blocks reads "A blocks B"; one with
    ``inwardIssue: C`` reads "A is blocked by C", i.e. C blocks A. The same Jira link seen from its
    other end normalizes to the same record (same source, target and link id).
    """
    out: list[LinkRecord] = []
    for entry in issuelinks or ():
        link_type = entry.get("type") or {}
        kind, reverse = _link_kind(link_type)
        if (other := entry.get("outwardIssue")) is not None:
            label = link_type.get("outward")
            source_is_this = not reverse
        elif (other := entry.get("inwardIssue")) is not None:
            label = link_type.get("inward")
            source_is_this = reverse
        else:
            continue
        key = other.get("key")
        if not key:
            continue
        ref = ItemRef(JIRA, str(key), str(other["id"]) if other.get("id") is not None else None)
        source, target = (this, ref) if source_is_this else (ref, this)
        out.append(
            LinkRecord(
                source=source,
                target=target,
                type=kind,
                origin=LinkOrigin.JIRA_ISSUELINK,
                original_label=str(label) if label else link_type.get("name"),
                external_id=str(entry["id"]) if entry.get("id") is not None else None,
            )
        )
    return tuple(out)


_GITHUB_ISSUE_PATH = re.compile(r"^/([^/]+)/([^/]+)/issues/(\d+)/?$")


def github_ref_from_url(url: str, github_hosts: Iterable[str] = ("github.com",)) -> ItemRef | None:
    """``https://github.com/acme/web/issues/5`` → ``ItemRef(GITHUB, "acme/web#5")``; else ``None``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or (parts.hostname or "").lower() not in github_hosts:
        return None
    match = _GITHUB_ISSUE_PATH.match(parts.path)
    if not match:
        return None
    owner, repo, number = match.groups()
    return ItemRef(TrackerKind.GITHUB, f"{owner}/{repo}#{number}")


def _relationship_kind(relationship: str) -> tuple[LinkType, bool]:
    rel = relationship.strip().lower()
    if rel in ("blocks", "is blocking"):
        return LinkType.BLOCKS, False
    if rel in ("is blocked by", "blocked by", "depends on", "is dependent on"):
        return LinkType.BLOCKS, True
    if rel == "duplicates":
        return LinkType.DUPLICATES, False
    if rel == "is duplicated by":
        return LinkType.DUPLICATES, True
    return LinkType.RELATES, False


def map_remote_links(
    this: ItemRef, remote_links: Sequence[Mapping[str, Any]], github_hosts: Iterable[str] = ("github.com",)
) -> tuple[LinkRecord, ...]:
    """Remote links that point at GitHub issues, as cross-tracker links (others are not work items).

    ``relationship`` is free text the creator chose ("blocks", "is blocked by", "relates to"…).
    https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-remote-links/
    """
    hosts = tuple(h.lower() for h in github_hosts)
    out: list[LinkRecord] = []
    for link in remote_links:
        obj = link.get("object") or {}
        url = obj.get("url")
        if not isinstance(url, str):
            continue
        ref = github_ref_from_url(url, hosts)
        if ref is None:
            continue
        relationship = str(link.get("relationship") or "")
        kind, reverse = _relationship_kind(relationship)
        source, target = (ref, this) if reverse else (this, ref)
        out.append(
            LinkRecord(
                source=source,
                target=target,
                type=kind,
                origin=LinkOrigin.REMOTE_LINK,
                original_label=relationship or None,
                external_id=str(link["id"]) if link.get("id") is not None else None,
            )
        )
    return tuple(out)


# Cross-tracker dependencies written in a description: "Blocked by acme/web#5",
# "blocks https://github.com/acme/mobile/issues/7", "depends on acme/api-gateway#3". Jira-to-Jira
# dependencies are issue links, so only GitHub targets are read here.
_TEXT_REFERENCE = re.compile(
    r"\b(blocked by|is blocked by|blocks|depends on)\s+"
    r"(?:https?://([\w.-]+)/([\w.-]+/[\w.-]+)/issues/(\d+)|([\w.-]+/[\w.-]+)#(\d+))",
    re.IGNORECASE,
)


def plain_text(value: Any) -> str:
    """A rich-text field as plain text: v2 strings as they are, v3 Atlassian Document Format walked."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        if value.get("type") == "text":
            return str(value.get("text") or "")
        if value.get("type") == "inlineCard":
            return str((value.get("attrs") or {}).get("url") or "")
        parts = [plain_text(child) for child in value.get("content") or ()]
        return ("\n" if value.get("type") == "doc" else "").join(parts) + (
            "\n" if value.get("type") == "paragraph" else ""
        )
    if isinstance(value, list):
        return "".join(plain_text(v) for v in value)
    return ""


def map_text_references(
    this: ItemRef, text: str, github_hosts: Iterable[str] = ("github.com",)
) -> tuple[LinkRecord, ...]:
    """Dependencies on GitHub issues written in ``text``, normalized (for blocks: source blocks target)."""
    if not text:
        return ()
    hosts = tuple(h.lower() for h in github_hosts)
    out: list[LinkRecord] = []
    seen: set[tuple[str, str]] = set()
    for match in _TEXT_REFERENCE.finditer(text):
        phrase, host, url_repo, url_number, repo, number = match.groups()
        if url_repo is not None:
            if host.lower() not in hosts:
                continue
            repo, number = url_repo, url_number
        ref = ItemRef(TrackerKind.GITHUB, f"{repo}#{number}")
        blocks = phrase.lower() == "blocks"
        source, target = (this, ref) if blocks else (ref, this)
        if (source.key, target.key) in seen:
            continue
        seen.add((source.key, target.key))
        out.append(
            LinkRecord(
                source=source,
                target=target,
                type=LinkType.BLOCKS,
                origin=LinkOrigin.TEXT_REFERENCE,
                original_label=match.group(0),
            )
        )
    return tuple(out)


# -- changelog ------------------------------------------------------------------------------------


def changelog_is_complete(changelog: Mapping[str, Any] | None) -> bool:
    """True when an expanded changelog holds every history (search truncates long ones)."""
    if changelog is None:
        return False
    histories = changelog.get("histories")
    if not isinstance(histories, list):
        return False
    total = changelog.get("total")
    start = changelog.get("startAt") or 0
    return start == 0 and (total is None or len(histories) >= int(total))


_NAME_FALLBACK = (
    ({"done", "closed", "resolved", "complete", "completed", "cancelled", "canceled"}, StatusCategory.DONE),
    (
        {"to do", "todo", "open", "new", "backlog", "selected for development", "reopened"},
        StatusCategory.TODO,
    ),
)


def _history_category(
    status_id: Any, name: Any, categories: Mapping[str, StatusCategory]
) -> StatusCategory | None:
    if status_id is not None and (cat := categories.get(str(status_id))) is not None:
        return cat
    if isinstance(name, str) and name:
        lowered = name.lower()
        if (cat := categories.get(f"name:{lowered}")) is not None:
            return cat
        # A status no longer in the workflow (and not in /status): the name is all there is.
        for names, fallback in _NAME_FALLBACK:
            if lowered in names:
                return fallback
        return StatusCategory.IN_PROGRESS
    return None


def map_changelog(
    histories: Iterable[Mapping[str, Any]],
    categories: Mapping[str, StatusCategory],
    person: Callable[[Any], PersonRecord | None] = lambda user: map_person(user),
) -> tuple[StatusChangeRecord, ...]:
    """Status changes, oldest first, from changelog histories (search expand, /changelog, bulkfetch).

    Bulkfetch names the list ``changeHistories`` but each entry has the same shape.
    """
    changes: list[StatusChangeRecord] = []
    for history in histories:
        at = parse_jira_datetime(history.get("created"))
        if at is None:
            continue
        status_items = [i for i in history.get("items") or () if i.get("field") == "status"]
        for n, item in enumerate(status_items):
            to_category = _history_category(item.get("to"), item.get("toString"), categories)
            if to_category is None:
                continue
            hid = history.get("id")
            changes.append(
                StatusChangeRecord(
                    at=at,
                    from_status=item.get("fromString"),
                    to_status=str(item.get("toString") or ""),
                    from_category=_history_category(item.get("from"), item.get("fromString"), categories),
                    to_category=to_category,
                    by=person(history.get("author")),
                    external_id=None if hid is None else (str(hid) if n == 0 else f"{hid}:{n}"),
                )
            )
    changes.sort(key=lambda c: c.at)  # stable: same-instant changes keep Jira's (id) order
    return tuple(changes)


def remote_link_changed(histories: Iterable[Mapping[str, Any]], since: datetime | None) -> bool:
    """Whether any history at or after ``since`` added or removed a remote link.

    Jira writes a ``RemoteIssueLink`` item into the changelog when a remote link is created or
    deleted, so an issue whose history has none needs no ``/remotelink`` request.
    """
    for history in histories:
        items = history.get("items") or ()
        if not any(str(i.get("field") or "").lower() == "remoteissuelink" for i in items):
            continue
        if since is None:
            return True
        at = parse_jira_datetime(history.get("created"))
        if at is None or at >= since:
            return True
    return False


# -- the issue ------------------------------------------------------------------------------------


@dataclass(slots=True)
class MappingContext:
    """What mapping needs besides the payload: where browse URLs point, and what discovery found.

    ``categories`` maps status ids (and ``name:<lowercased name>``) to categories, for history
    entries; it learns from every issue's current status as issues are mapped.
    """

    base_url: str
    fields: FieldMap = field(default_factory=FieldMap)
    categories: dict[str, StatusCategory] = field(default_factory=dict)
    keep_raw: bool = True
    github_hosts: tuple[str, ...] = ("github.com",)
    people: dict[tuple[Any, Any, Any], PersonRecord | None] = field(default_factory=dict)

    def person(self, user: Any) -> PersonRecord | None:
        """:func:`map_person`, remembered: the same few people appear on every page."""
        if not isinstance(user, dict):
            return None
        key = (
            user.get("accountId") or user.get("key") or user.get("name"),
            user.get("emailAddress"),
            user.get("displayName"),
        )
        try:
            return self.people[key]
        except KeyError:
            if len(self.people) > 50_000:
                self.people.clear()
            found = self.people[key] = map_person(user)
            return found


def map_issue(
    issue: Mapping[str, Any],
    ctx: MappingContext,
    *,
    histories: Sequence[Mapping[str, Any]] | None = None,
    updated: datetime | None = None,
) -> WorkItemRecord:
    """One issue (search result, GET issue, or webhook ``issue``) as a :class:`WorkItemRecord`.

    ``status_history`` comes from ``histories`` when given, else from the expanded changelog when
    it is complete, else stays ``None`` ("not fetched": the caller fetches the full changelog).
    """
    try:
        return _map_issue(issue, ctx, histories, updated)
    except InvalidResponse:
        raise
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        where = issue.get("key") if isinstance(issue, dict) else None
        raise InvalidResponse(
            f"issue {where}: a field has an unexpected shape ({type(exc).__name__}: {exc})"
        ) from None


def _map_issue(
    issue: Mapping[str, Any],
    ctx: MappingContext,
    histories: Sequence[Mapping[str, Any]] | None,
    updated: datetime | None,
) -> WorkItemRecord:
    try:
        iid = str(issue["id"])
        key = str(issue["key"])
        f = issue["fields"]
    except (KeyError, TypeError) as exc:
        raise InvalidResponse(f"issue payload without {exc}") from exc
    if not isinstance(f, dict):
        raise InvalidResponse(f"issue {key}: fields is not an object")
    status = f.get("status")
    if not isinstance(status, dict):
        raise InvalidResponse(f"issue {key}: no status in the payload (was 'status' requested?)")
    created = parse_jira_datetime(f.get("created"))
    if updated is None:
        updated = parse_jira_datetime(f.get("updated"))
    if created is None or updated is None:
        raise InvalidResponse(f"issue {key}: no created/updated timestamps in the payload")

    category = category_of(status)
    sid = status.get("id")
    if sid is not None and str(sid) not in ctx.categories:
        ctx.categories[str(sid)] = category
        if status.get("name"):
            ctx.categories[f"name:{str(status['name']).lower()}"] = category
    resolution = f.get("resolution")
    project = f.get("project") or {}
    scope = str(project.get("key") or key.rsplit("-", 1)[0])
    this = ItemRef(JIRA, key, iid)

    parent: ItemRef | None = None
    if isinstance(p := f.get("parent"), dict) and p.get("key"):
        parent = ItemRef(JIRA, str(p["key"]), str(p["id"]) if p.get("id") is not None else None)
    elif ctx.fields.epic_link and isinstance(epic := f.get(ctx.fields.epic_link), str) and epic:
        parent = ItemRef(JIRA, epic)  # Data Center Epic Link: a key, no id

    estimate: float | None = None
    if ctx.fields.story_points is not None:
        sp = f.get(ctx.fields.story_points)
        if isinstance(sp, int | float) and not isinstance(sp, bool):
            estimate = float(sp)

    links: tuple[LinkRecord, ...] = ()
    complete: frozenset[LinkOrigin] = frozenset()
    if "issuelinks" in f:
        links = map_issue_links(this, f.get("issuelinks"))
        complete = frozenset({LinkOrigin.JIRA_ISSUELINK})
    if "description" in f:
        links += map_text_references(this, plain_text(f.get("description")), ctx.github_hosts)
        complete |= {LinkOrigin.TEXT_REFERENCE}

    history: tuple[StatusChangeRecord, ...] | None = None
    if histories is not None:
        history = map_changelog(histories, ctx.categories, ctx.person)
    else:
        changelog = issue.get("changelog")
        if isinstance(changelog, dict) and changelog_is_complete(changelog):
            history = map_changelog(changelog["histories"], ctx.categories, ctx.person)

    labels = f.get("labels") or ()
    return WorkItemRecord(
        tracker=JIRA,
        external_id=iid,
        key=key,
        url=f"{ctx.base_url}/browse/{key}",
        title=str(f.get("summary") or ""),
        scope=scope,
        kind=kind_of(f.get("issuetype")),
        original_type=(f.get("issuetype") or {}).get("name"),
        status_category=category,
        original_status=str(status.get("name") or ""),
        resolution=resolution_of(category, resolution),
        original_resolution=resolution.get("name") if isinstance(resolution, dict) else None,
        created_at=created,
        updated_at=updated,
        resolved_at=parse_jira_datetime(f.get("resolutiondate")),
        assignee=ctx.person(f.get("assignee")),
        parent=parent,
        estimate=estimate,
        labels=tuple(str(label) for label in labels),
        releases=tuple(map_release(v, scope) for v in f.get("fixVersions") or ()),
        sprint=pick_sprint(f.get(ctx.fields.sprint)) if ctx.fields.sprint else None,
        start_date=parse_jira_date(f.get(ctx.fields.start_date)) if ctx.fields.start_date else None,
        due_date=parse_jira_date(f.get("duedate")),
        links=links,
        status_history=history,
        links_complete=complete,
        raw=issue if ctx.keep_raw else None,
    )
