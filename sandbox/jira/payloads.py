"""JSON shapes of the Jira REST API and webhooks, built from the world's records.

Shapes follow the Jira Cloud platform REST v3 description (v2 differs only in rich text: plain strings
instead of Atlassian Document Format), https://developer.atlassian.com/cloud/jira/platform/rest/v3/,
and Data Center 9 (https://docs.atlassian.com/software/jira/docs/api/REST/9.12.0/) where the
flavours differ: DC has no `parent` on epic children (the Epic Link custom field instead), writes
sprints as legacy strings and identifies users by `name`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import orjson

from sandbox.jira.model import (
    CATEGORIES,
    CUSTOM_EPIC_LINK,
    CUSTOM_SPRINT,
    CUSTOM_START_DATE,
    CUSTOM_STORY_POINTS,
    ISSUE_TYPES,
    LINK_TYPES,
    PRIORITIES,
    RESOLUTIONS,
    STATUSES,
    Comment,
    History,
    Issue,
    IssueType,
    Link,
    LinkType,
    Project,
    RemoteLink,
    Sprint,
    Status,
    User,
    Version,
)

if TYPE_CHECKING:
    from sandbox.jira.world import JiraWorld

__all__ = [
    "FieldSelection",
    "adf",
    "jira_time",
    "parse_field_selection",
]

NOT_NAVIGABLE = frozenset({"comment"})
# The order `Renderer.fields` writes fields in (and so the order of `fields` in every issue body).
FIELD_ORDER = (
    "summary",
    "description",
    "issuetype",
    "project",
    "status",
    "resolution",
    "resolutiondate",
    "priority",
    "assignee",
    "reporter",
    "creator",
    "labels",
    "fixVersions",
    "versions",
    "components",
    "issuelinks",
    "subtasks",
    "duedate",
    "created",
    "updated",
    "statuscategorychangedate",
    "comment",
    CUSTOM_STORY_POINTS,
    CUSTOM_SPRINT,
    "parent",
    CUSTOM_START_DATE,
    CUSTOM_EPIC_LINK,
)
#: Every field the sandbox knows (``*all``), in the order bodies carry them.
ALL_FIELD_IDS = FIELD_ORDER
ISSUE_EXPAND = (
    b'"expand":"renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations"'
)


@lru_cache(maxsize=16)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def jira_time(ms: int | None, zone: str) -> str | None:
    """Jira's timestamp format, `2026-11-20T14:03:11.123-0500`, in the account's time zone.

    Hot path (four per issue on every search page): the zone offset is looked up once per UTC
    quarter hour and the `2026-11-20T14:` prefix once per local hour; the rest is table lookups.
    """
    if ms is None:
        return None
    offsets = _OFFSETS.get(zone)
    if offsets is None:
        offsets = _OFFSETS[zone] = {}
    # Offsets change on quarter-hour boundaries in every zone in use (Lord Howe and St. John's
    # switch at :30), so one lookup per UTC quarter hour is exact.
    quarter = ms // 900_000
    offset = offsets.get(quarter)
    if offset is None:
        delta = datetime.fromtimestamp(quarter * 900, _zone(zone)).utcoffset()
        seconds = int(delta.total_seconds()) if delta is not None else 0
        sign, magnitude = ("+" if seconds >= 0 else "-"), abs(seconds)
        offset = offsets[quarter] = (
            seconds * 1000,
            f"{sign}{magnitude // 3600:02d}{magnitude % 3600 // 60:02d}",
        )
    local_hour, rest = divmod(ms + offset[0], 3_600_000)
    prefix = _HOURS.get(local_hour)
    if prefix is None:
        days, hours = divmod(local_hour, 24)
        prefix = _HOURS[local_hour] = f"{date.fromordinal(days + _EPOCH_ORDINAL).isoformat()}T{hours:02d}:"
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return prefix + _TWO[minutes] + ":" + _TWO[seconds] + "." + _THREE[millis] + offset[1]


def iso_utc(ms: int | None) -> str | None:
    """ISO 8601 in UTC with microseconds (`/_sandbox/truth`, like `sandbox.core.iso`)."""
    if ms is None:
        return None
    hour, rest = divmod(ms, 3_600_000)
    prefix = _UTC_HOURS.get(hour)
    if prefix is None:
        days, hours = divmod(hour, 24)
        prefix = _UTC_HOURS[hour] = f"{date.fromordinal(days + _EPOCH_ORDINAL).isoformat()}T{hours:02d}:"
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return prefix + _TWO[minutes] + ":" + _TWO[seconds] + "." + _THREE[millis] + "000+00:00"


_OFFSETS: dict[str, dict[int, tuple[int, str]]] = {}
_HOURS: dict[int, str] = {}
_UTC_HOURS: dict[int, str] = {}
_TWO = [f"{n:02d}" for n in range(60)]
_THREE = [f"{n:03d}" for n in range(1000)]
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def utc_iso(ms: int | None) -> str | None:
    """Agile API and sprint timestamps: ISO UTC with milliseconds and `Z`."""
    if ms is None:
        return None
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def adf(text: str | None) -> dict[str, Any] | None:
    """Plain text as an Atlassian Document Format document (the v3 rendering of rich text)."""
    if text is None:
        return None
    paragraphs = list(text.split("\n\n")) if text else []
    return {
        "type": "doc",
        "version": 1,
        "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": p}] if p else []} for p in paragraphs
        ],
    }


def adf_to_text(value: Any) -> str:
    """The text of an ADF document (or a plain string) sent by a client."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if value.get("type") == "text":
            return str(value.get("text", ""))
        parts = [adf_to_text(child) for child in value.get("content", [])]
        joiner = "\n\n" if value.get("type") == "doc" else ""
        return joiner.join(parts)
    return str(value)


class FieldSelection:
    """Which fields an issue body carries (`fields` query parameter semantics).

    `*all`, `*navigable`, explicit ids, `-id` exclusions; repeated parameters and comma lists both
    work (https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-search/#api-rest-api-3-search-jql-get).
    """

    __slots__ = ("cache_key", "id_only", "ids", "want", "with_key")

    def __init__(self, ids: tuple[str, ...], id_only: bool, with_key: bool = False) -> None:
        self.ids = ids
        self.id_only = id_only  # only identifiers asked for: big pages, no `fields`
        self.with_key = with_key  # ... and the key among them (`key`, or `issuekey` from the client)
        # The order fields are asked in does not change the body (fields come in FIELD_ORDER).
        self.cache_key = ("id", with_key) if id_only else tuple(sorted(ids))
        self.want: frozenset[str] | None = None if set(ids) >= set(ALL_FIELD_IDS) else frozenset(ids)


def parse_field_selection(values: list[str], default: str) -> FieldSelection:
    names = [n.strip() for v in values for n in v.split(",") if n.strip()]
    if not names:
        names = [default]
    include: list[str] = []
    exclude: set[str] = set()
    base: tuple[str, ...] = ()
    for name in names:
        if name.startswith("-"):
            exclude.add(name[1:])
        elif name == "*all":
            base = ALL_FIELD_IDS
        elif name == "*navigable":
            base = tuple(f for f in ALL_FIELD_IDS if f not in NOT_NAVIGABLE)
        elif name == "*none":
            continue
        else:
            include.append(name)
    if not base and exclude and not include:
        base = tuple(f for f in ALL_FIELD_IDS if f not in NOT_NAVIGABLE)
    chosen = [f for f in base if f not in exclude]
    for name in include:
        if name not in chosen and name in ALL_FIELD_IDS and name not in exclude:
            chosen.append(name)
    # `jira` translates `id`/`key` into the field id `issuekey` (its clause names) before sending.
    id_only = not chosen and all(n in ("id", "key", "issuekey", "*none") for n in include)
    with_key = any(n in ("key", "issuekey") for n in include)
    return FieldSelection(tuple(chosen), id_only, with_key)


class Renderer:
    """Builds payloads for one world; static sub-objects are built once and shared."""

    def __init__(self, world: JiraWorld) -> None:
        self.world = world
        # Sub-objects that many issues share (users, statuses, types, versions, sprints), built
        # once: rendering a page of 100 issues must take a few milliseconds.
        self._memo: dict[tuple[Any, ...], Any] = {}
        self._memo_bytes: dict[tuple[Any, ...], bytes] = {}
        self._api: dict[int, str] = {}
        self._refs: OrderedDict[tuple[int, int, int], bytes] = OrderedDict()
        # Per (API version, base, zone, flavour): field id -> a function writing that field's JSON.
        self._encoders: dict[tuple[Any, ...], dict[str, Callable[[Issue], bytes | None]]] = {}
        # Per (fields asked for, API version): the (`"id":` prefix, encoder) pairs, in body order.
        self._plans: dict[tuple[Any, ...], list[tuple[bytes, Callable[[Issue], bytes | None]]]] = {}

    def clear(self) -> None:
        self._memo.clear()
        self._memo_bytes.clear()
        self._api.clear()
        self._refs.clear()
        self._encoders.clear()
        self._plans.clear()

    def _bytes(self, key: tuple[Any, ...], build: Any) -> bytes:
        """The shared sub-object's JSON, encoded once (until `clear`)."""
        value = self._memo_bytes.get(key)
        if value is None:
            value = self._memo_bytes[key] = orjson.dumps(build())
        return value

    def _memoized(self, key: tuple[Any, ...], build: Any) -> Any:
        """The shared sub-object, pre-encoded (an `orjson.Fragment` is copied, not re-serialized)."""
        value = self._memo.get(key)
        if value is None:
            value = orjson.Fragment(self._bytes(key, build))
            self._memo[key] = value
        return value

    @property
    def base(self) -> str:
        return self.world.ctx.jira_base

    @property
    def cloud(self) -> bool:
        return self.world.cloud

    def api(self, version: int) -> str:
        api = self._api.get(version)
        if api is None:
            api = self._api[version] = f"{self.base}/rest/api/{version}"
        return api

    # --- small objects ---------------------------------------------------------------------------

    def user(self, account_id: str | None, version: int = 2) -> Any:
        if account_id is None:
            return None
        user = self.world.users.get(account_id)
        if user is None:
            return None
        return self._memoized(
            ("user", account_id, version), lambda: self.user_obj(user, version, avatars=False)
        )

    def user_obj(self, user: User, version: int = 2, avatars: bool = True) -> dict[str, Any]:
        avatar = f"https://avatar-management.services.atlassian.net/default/{user.account_id}"
        body: dict[str, Any] = {
            "self": f"{self.api(version)}/user?accountId={user.account_id}",
            "accountId": user.account_id,
            "emailAddress": user.email,
        }
        if avatars:  # left out of users embedded in issues: a page of 100 issues stays small
            body["avatarUrls"] = {
                size: f"{avatar}/{size[:2]}" for size in ("48x48", "24x24", "16x16", "32x32")
            }
        body |= {
            "displayName": user.display_name,
            "active": user.active,
            "timeZone": user.time_zone,
            "accountType": "atlassian",
        }
        if not self.cloud:
            # Data Center names users by username/key; accountId is kept so one model fits both.
            body["name"] = user.name
            body["key"] = user.name
            body["self"] = f"{self.api(version)}/user?username={user.name}"
        return body

    def status(self, status: Status, version: int = 2) -> dict[str, Any]:
        cat_id, cat_name, colour = CATEGORIES[status.category]
        return {
            "self": f"{self.api(version)}/status/{status.id}",
            "description": "",
            "iconUrl": f"{self.base}/images/icons/statuses/generic.png",
            "name": status.name,
            "id": status.id,
            "statusCategory": {
                "self": f"{self.api(version)}/statuscategory/{cat_id}",
                "id": cat_id,
                "key": status.category,
                "colorName": colour,
                "name": cat_name,
            },
        }

    def issue_type(self, issue_type: IssueType, version: int = 2) -> dict[str, Any]:
        return {
            "self": f"{self.api(version)}/issuetype/{issue_type.id}",
            "id": issue_type.id,
            "description": issue_type.description,
            "iconUrl": f"{self.base}/images/icons/issuetypes/{issue_type.name.lower()}.svg",
            "name": issue_type.name,
            "subtask": issue_type.subtask,
            "avatarId": 10300 + int(issue_type.id) % 100,
            "hierarchyLevel": issue_type.hierarchy_level,
        }

    def priority(self, name: str, version: int = 2) -> dict[str, Any]:
        pid = PRIORITIES[name]
        return {
            "self": f"{self.api(version)}/priority/{pid}",
            "iconUrl": f"{self.base}/images/icons/priorities/{name.lower()}.svg",
            "name": name,
            "id": pid,
        }

    def resolution(self, name: str | None, version: int = 2) -> dict[str, Any] | None:
        if name is None:
            return None
        rid = RESOLUTIONS[name]
        return {
            "self": f"{self.api(version)}/resolution/{rid}",
            "id": rid,
            "description": "Work has been completed on this issue." if name == "Done" else "",
            "name": name,
        }

    def project(self, project: Project, version: int = 2, full: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {
            "self": f"{self.api(version)}/project/{project.id}",
            "id": project.id,
            "key": project.key,
            "name": project.name,
            "projectTypeKey": "software",
            "simplified": False,
        }
        if full:
            body |= {
                "avatarUrls": {
                    size: f"{self.base}/rest/api/3/universal_avatar/view/type/project/avatar/10400?size={size}"
                    for size in ("48x48", "24x24", "16x16", "32x32")
                },
                "description": project.description,
                "lead": self.user(project.lead, version),
                "issueTypes": [self.issue_type(t, version) for t in ISSUE_TYPES.values()],
                "versions": [self.version(v, version) for v in self.world.project_versions(project.key)],
                "components": [],
                "assigneeType": "UNASSIGNED",
                "style": "classic",
                "isPrivate": False,
                "properties": {},
                "archived": False,
                "expand": "description,lead,issueTypes,url,projectKeys,permissions,insight",
            }
        return body

    def version(self, version_rec: Version, version: int = 2) -> dict[str, Any]:
        project = self.world.projects[version_rec.project]
        body: dict[str, Any] = {
            "self": f"{self.api(version)}/version/{version_rec.id}",
            "id": str(version_rec.id),
            "description": version_rec.description,
            "name": version_rec.name,
            "archived": version_rec.archived,
            "released": version_rec.released,
            "projectId": int(project.id),
        }
        if version_rec.start_date:
            body["startDate"] = version_rec.start_date
        if version_rec.release_date:
            body["releaseDate"] = version_rec.release_date
            today = self.world.today()
            body["overdue"] = not version_rec.released and version_rec.release_date < today
            body["userReleaseDate"] = _user_date(version_rec.release_date)
        return body

    def version_ref(self, version_rec: Version, version: int = 2) -> dict[str, Any]:
        body = self.version(version_rec, version)
        body.pop("projectId", None)
        body.pop("userReleaseDate", None)
        body.pop("overdue", None)
        return body

    def sprint(self, sprint: Sprint) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": sprint.id,
            "self": f"{self.base}/rest/agile/1.0/sprint/{sprint.id}",
            "state": sprint.state,
            "name": sprint.name,
            "originBoardId": sprint.board_id,
            "goal": sprint.goal,
        }
        if sprint.start_ms is not None:
            body["startDate"] = utc_iso(sprint.start_ms)
        if sprint.end_ms is not None:
            body["endDate"] = utc_iso(sprint.end_ms)
        if sprint.complete_ms is not None:
            body["completeDate"] = utc_iso(sprint.complete_ms)
        return body

    def sprint_field_value(self, sprint: Sprint) -> dict[str, Any] | str:
        if self.cloud:
            body: dict[str, Any] = {
                "id": sprint.id,
                "name": sprint.name,
                "state": sprint.state,
                "boardId": sprint.board_id,
                "goal": sprint.goal,
            }
            if sprint.start_ms is not None:
                body["startDate"] = utc_iso(sprint.start_ms)
            if sprint.end_ms is not None:
                body["endDate"] = utc_iso(sprint.end_ms)
            if sprint.complete_ms is not None:
                body["completeDate"] = utc_iso(sprint.complete_ms)
            return body
        # Jira Server/DC before 8.x rendered sprints with the GreenHopper toString format.
        zone = self.world.zone_name

        def dc(ms: int | None) -> str:
            return jira_time(ms, zone) or "<null>"

        return (
            f"com.atlassian.greenhopper.service.sprint.Sprint@{sprint.id * 7919:x}"
            f"[id={sprint.id},rapidViewId={sprint.board_id},state={sprint.state.upper()},name={sprint.name},"
            f"startDate={dc(sprint.start_ms)},endDate={dc(sprint.end_ms)},completeDate={dc(sprint.complete_ms)},"
            f"sequence={sprint.sequence},goal={sprint.goal}]"
        )

    def m_status(self, name: str, version: int) -> Any:
        return self._memoized(("status", name, version), lambda: self.status(STATUSES[name], version))

    def m_priority(self, name: str, version: int) -> Any:
        return self._memoized(("priority", name, version), lambda: self.priority(name, version))

    def m_issue_type(self, name: str, version: int) -> Any:
        return self._memoized(
            ("issuetype", name, version), lambda: self.issue_type(ISSUE_TYPES[name], version)
        )

    def link_type(self, link_type: LinkType, version: int = 2) -> dict[str, Any]:
        return {
            "id": link_type.id,
            "name": link_type.name,
            "inward": link_type.inward,
            "outward": link_type.outward,
            "self": f"{self.api(version)}/issueLinkType/{link_type.id}",
        }

    def ref(self, issue: Issue, version: int) -> Any:
        """`issue_ref` pre-encoded, shared by every issue that embeds it (an epic's 50 children),
        until the issue changes (its `rev` is part of the key)."""
        return orjson.Fragment(self.ref_bytes(issue, version))

    def ref_bytes(self, issue: Issue, version: int) -> bytes:
        key = (issue.id, issue.rev, version)
        refs = self._refs
        value = refs.get(key)
        if value is None:
            value = orjson.dumps(self.issue_ref(issue, version))
            refs[key] = value
            if len(refs) > 20_000:
                refs.popitem(last=False)
        return value

    def issue_ref(self, issue: Issue, version: int = 2) -> dict[str, Any]:
        """The short form of an issue inside another one (parent, links, subtasks)."""
        return {
            "id": str(issue.id),
            "key": issue.key,
            "self": f"{self.api(version)}/issue/{issue.id}",
            "fields": {
                "summary": issue.summary,
                "status": self.m_status(issue.status, version),
                "priority": self.m_priority(issue.priority, version),
                "issuetype": self.m_issue_type(issue.type_name, version),
            },
        }

    def history(self, history: History, version: int = 2) -> dict[str, Any]:
        return {
            "id": str(history.id),
            "author": self.user(history.author, version),
            "created": jira_time(history.created_ms, self.world.zone_name),
            "items": history.items,
        }

    def comment(self, issue: Issue, comment: Comment, version: int = 2) -> dict[str, Any]:
        zone = self.world.zone_name
        author = self.user(comment.author, version)
        return {
            "self": f"{self.api(version)}/issue/{issue.id}/comment/{comment.id}",
            "id": str(comment.id),
            "author": author,
            "body": adf(comment.body) if version == 3 else comment.body,
            "updateAuthor": author,
            "created": jira_time(comment.created_ms, zone),
            "updated": jira_time(comment.updated_ms, zone),
            "jsdPublic": True,
        }

    def remote_link(self, issue: Issue, link: RemoteLink, version: int = 2) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": link.id,
            "self": f"{self.api(version)}/issue/{issue.key}/remotelink/{link.id}",
            "object": {
                "url": link.url,
                "title": link.title,
                "icon": {"url16x16": "https://github.com/favicon.ico", "title": "GitHub"},
            },
        }
        if link.global_id is not None:
            body["globalId"] = link.global_id
        if link.application is not None:
            body["application"] = link.application
        if link.relationship is not None:
            body["relationship"] = link.relationship
        if link.summary is not None:
            body["object"]["summary"] = link.summary
        if link.status_resolved is not None:
            body["object"]["status"] = {"resolved": link.status_resolved}
        return body

    # --- issues ----------------------------------------------------------------------------------

    def fields(self, issue: Issue, version: int, want: frozenset[str] | None = None) -> dict[str, Any]:
        """The fields of `issue` keyed by field id: all of them, or those in `want` (only those
        are computed: a search for `summary,status` must not pay for links and comments)."""
        world = self.world
        zone = world.zone_name
        itype = ISSUE_TYPES[issue.type_name]
        epic_child = issue.parent is not None and not itype.subtask
        fields: dict[str, Any] = {}
        every = want is None
        want = want or frozenset()

        if every or "summary" in want:
            fields["summary"] = issue.summary
        if every or "description" in want:
            if version == 3:
                fields["description"] = adf(issue.description) if issue.description else None
            else:
                fields["description"] = issue.description or None
        if every or "issuetype" in want:
            fields["issuetype"] = self.m_issue_type(issue.type_name, version)
        if every or "project" in want:
            fields["project"] = self._memoized(
                ("project", issue.project, version),
                lambda: self.project(world.projects[issue.project], version),
            )
        if every or "status" in want:
            fields["status"] = self.m_status(issue.status, version)
        if every or "resolution" in want:
            fields["resolution"] = (
                self._memoized(
                    ("resolution", issue.resolution, version),
                    lambda: self.resolution(issue.resolution, version),
                )
                if issue.resolution
                else None
            )
        if every or "resolutiondate" in want:
            fields["resolutiondate"] = jira_time(issue.resolved_ms, zone)
        if every or "priority" in want:
            fields["priority"] = self.m_priority(issue.priority, version)
        if every or "assignee" in want:
            fields["assignee"] = self.user(issue.assignee, version)
        if (every or "reporter" in want) or (every or "creator" in want):
            reporter = self.user(issue.reporter, version)
            if every or "reporter" in want:
                fields["reporter"] = reporter
            if every or "creator" in want:
                fields["creator"] = reporter
        if every or "labels" in want:
            fields["labels"] = list(issue.labels)
        if every or "fixVersions" in want:
            fields["fixVersions"] = [
                self._memoized(("vref", v, version), lambda v=v: self.version_ref(world.versions[v], version))
                for v in issue.fix_versions
            ]
        if every or "versions" in want:
            fields["versions"] = []
        if every or "components" in want:
            fields["components"] = []
        if every or "issuelinks" in want:
            fields["issuelinks"] = [self.issue_link(issue, world.links[i], version) for i in issue.link_ids]
        if every or "subtasks" in want:
            fields["subtasks"] = [self.ref(c, version) for c in issue.children if c.issue_type.subtask]
        if every or "duedate" in want:
            fields["duedate"] = issue.due_date
        if every or "created" in want:
            fields["created"] = jira_time(issue.created_ms, zone)
        if every or "updated" in want:
            fields["updated"] = jira_time(issue.updated_ms, zone)
        if every or "statuscategorychangedate" in want:
            fields["statuscategorychangedate"] = jira_time(world.status_changed_ms(issue), zone)
        if every or "comment" in want:
            fields["comment"] = {
                "comments": [self.comment(issue, c, version) for c in issue.comments],
                "self": f"{self.api(version)}/issue/{issue.id}/comment",
                "maxResults": len(issue.comments),
                "total": len(issue.comments),
                "startAt": 0,
            }
        if every or CUSTOM_STORY_POINTS in want:
            fields[CUSTOM_STORY_POINTS] = issue.story_points
        if every or CUSTOM_SPRINT in want:
            fields[CUSTOM_SPRINT] = [
                self._memoized(("sprint", s), lambda s=s: self.sprint_field_value(world.sprints[s]))
                for s in issue.sprint_ids
            ] or None
        if (every or "parent" in want) and (self.cloud or not epic_child) and issue.parent is not None:
            fields["parent"] = self.ref(issue.parent, version)
        if self.cloud:
            if every or CUSTOM_START_DATE in want:
                fields[CUSTOM_START_DATE] = issue.start_date
        elif every or CUSTOM_EPIC_LINK in want:
            fields[CUSTOM_EPIC_LINK] = issue.parent.key if epic_child and issue.parent is not None else None
        return fields

    def issue_link(self, issue: Issue, link: Link, version: int) -> dict[str, Any]:
        type_name = link.type_name
        entry: dict[str, Any] = {
            "id": str(link.id),
            "self": f"{self.api(version)}/issueLink/{link.id}",
            "type": self._memoized(
                ("linktype", type_name, version), lambda: self.link_type(LINK_TYPES[type_name], version)
            ),
        }
        # On the source the link shows the destination as `outwardIssue` ("A blocks B"),
        # on the destination the source as `inwardIssue` ("B is blocked by A").
        if link.source is issue:
            entry["outwardIssue"] = self.ref(link.destination, version)
        else:
            entry["inwardIssue"] = self.ref(link.source, version)
        return entry

    def issue(
        self,
        issue: Issue,
        version: int,
        selection: FieldSelection,
        changelog_cap: int | None = None,
    ) -> dict[str, Any]:
        if selection.id_only:
            if selection.with_key:
                return {
                    "id": str(issue.id),
                    "self": f"{self.api(version)}/issue/{issue.id}",
                    "key": issue.key,
                }
            return {"id": str(issue.id)}
        fields = self.fields(issue, version, selection.want)
        body: dict[str, Any] = {
            "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
            "id": str(issue.id),
            "self": f"{self.api(version)}/issue/{issue.id}",
            "key": issue.key,
            "fields": fields,
        }
        if changelog_cap is not None:
            body["changelog"] = self.changelog_expand(issue, version, changelog_cap)
        return body

    def issue_json(
        self,
        issue: Issue,
        version: int,
        selection: FieldSelection,
        changelog_cap: int | None = None,
    ) -> bytes:
        """`orjson.dumps(self.issue(...))`, byte for byte, written from pre-encoded pieces.

        The first render of each issue is on the path of every scan (search pages of 100), so it
        must cost a few microseconds: shared sub-objects (status, type, users, versions, sprints,
        parent refs) are encoded once, the rest is joined as bytes; no dict is built per issue.
        A test compares this with the dict rendering for every field and flavour.
        """
        if selection.id_only:
            return orjson.dumps(self.issue(issue, version, selection, changelog_cap))
        plan = self._plans.get((selection.cache_key, version))
        if plan is None:
            plan = self._plan(selection, version)
        fields = []
        for prefix, encode in plan:
            value = encode(issue)
            if value is not None:
                fields.append(prefix + value)
        ident = str(issue.id)
        head = (
            f'{{{ISSUE_EXPAND.decode()},"id":"{ident}","self":"{self.api(version)}/issue/{ident}","key":'
        ).encode()
        body = [head, orjson.dumps(issue.key), b',"fields":{', b",".join(fields)]
        if changelog_cap is None:
            body.append(b"}}")
        else:
            body.append(b'},"changelog":')
            body.append(self.changelog_json(issue, version, changelog_cap))
            body.append(b"}")
        return b"".join(body)

    def _plan(
        self, selection: FieldSelection, version: int
    ) -> list[tuple[bytes, Callable[[Issue], bytes | None]]]:
        encoders = self.encoders(version)
        wanted = selection.want
        plan = [
            (orjson.dumps(fid) + b":", encoders[fid])
            for fid in FIELD_ORDER
            if fid in encoders and (wanted is None or fid in wanted)
        ]
        self._plans[(selection.cache_key, version)] = plan
        return plan

    def encoders(self, version: int) -> dict[str, Callable[[Issue], bytes | None]]:
        """One function per field writing its JSON value (None: the field is left out), each
        the exact encoding of what `fields` puts under that id."""
        world = self.world
        zone = world.zone_name
        cloud = self.cloud
        key = (version, self.base, zone, cloud)
        found = self._encoders.get(key)
        if found is not None:
            return found
        dumps = orjson.dumps
        memo = self._bytes
        api = self.api(version)
        null = b"null"
        empty = b"[]"

        def when(ms: int | None) -> bytes:
            text = jira_time(ms, zone)
            return null if text is None else b'"' + text.encode() + b'"'

        def user(account_id: str | None) -> bytes:
            if account_id is None or account_id not in world.users:
                return null
            found = self._memo_bytes.get(("user", account_id, version))
            if found is not None:
                return found
            return memo(
                ("user", account_id, version),
                lambda: self.user_obj(world.users[account_id], version, avatars=False),
            )

        def status(name: str) -> bytes:
            return memo(("status", name, version), lambda: self.status(STATUSES[name], version))

        def priority(name: str) -> bytes:
            return memo(("priority", name, version), lambda: self.priority(name, version))

        def issue_type(name: str) -> bytes:
            return memo(("issuetype", name, version), lambda: self.issue_type(ISSUE_TYPES[name], version))

        def description(issue: Issue) -> bytes:
            if version == 3:
                return dumps(adf(issue.description)) if issue.description else null
            return dumps(issue.description or None)

        def project(issue: Issue) -> bytes:
            return memo(
                ("project", issue.project, version),
                lambda: self.project(world.projects[issue.project], version),
            )

        def resolution(issue: Issue) -> bytes:
            name = issue.resolution
            if not name:
                return null
            return memo(("resolution", name, version), lambda: self.resolution(name, version))

        def fix_versions(issue: Issue) -> bytes:
            if not issue.fix_versions:
                return empty
            return (
                b"["
                + b",".join(
                    memo(("vref", v, version), lambda v=v: self.version_ref(world.versions[v], version))
                    for v in issue.fix_versions
                )
                + b"]"
            )

        def issue_links(issue: Issue) -> bytes:
            if not issue.link_ids:
                return empty
            return dumps([self.issue_link(issue, world.links[i], version) for i in issue.link_ids])

        def subtasks(issue: Issue) -> bytes:
            refs = [self.ref_bytes(c, version) for c in issue.children if c.issue_type.subtask]
            return b"[" + b",".join(refs) + b"]" if refs else empty

        def comment(issue: Issue) -> bytes:
            return dumps(
                {
                    "comments": [self.comment(issue, c, version) for c in issue.comments],
                    "self": f"{api}/issue/{issue.id}/comment",
                    "maxResults": len(issue.comments),
                    "total": len(issue.comments),
                    "startAt": 0,
                }
            )

        def sprint(issue: Issue) -> bytes:
            if not issue.sprint_ids:
                return null
            return (
                b"["
                + b",".join(
                    memo(("sprint", s), lambda s=s: self.sprint_field_value(world.sprints[s]))
                    for s in issue.sprint_ids
                )
                + b"]"
            )

        def parent(issue: Issue) -> bytes | None:
            up = issue.parent
            if up is None or not (cloud or ISSUE_TYPES[issue.type_name].subtask):
                return None
            return self.ref_bytes(up, version)

        def epic_link(issue: Issue) -> bytes:
            up = issue.parent
            if up is None or ISSUE_TYPES[issue.type_name].subtask:
                return null
            return dumps(up.key)

        encoders: dict[str, Callable[[Issue], bytes | None]] = {
            "summary": lambda i: dumps(i.summary),
            "description": description,
            "issuetype": lambda i: issue_type(i.type_name),
            "project": project,
            "status": lambda i: status(i.status),
            "resolution": resolution,
            "resolutiondate": lambda i: when(i.resolved_ms),
            "priority": lambda i: priority(i.priority),
            "assignee": lambda i: user(i.assignee),
            "reporter": lambda i: user(i.reporter),
            "creator": lambda i: user(i.reporter),
            "labels": lambda i: dumps(list(i.labels)) if i.labels else empty,
            "fixVersions": fix_versions,
            "versions": lambda i: empty,
            "components": lambda i: empty,
            "issuelinks": issue_links,
            "subtasks": subtasks,
            "duedate": lambda i: dumps(i.due_date),
            "created": lambda i: when(i.created_ms),
            "updated": lambda i: when(i.updated_ms),
            "statuscategorychangedate": lambda i: when(world.status_changed_ms(i)),
            "comment": comment,
            CUSTOM_STORY_POINTS: lambda i: dumps(i.story_points),
            CUSTOM_SPRINT: sprint,
            "parent": parent,
        }
        if cloud:
            encoders[CUSTOM_START_DATE] = lambda i: dumps(i.start_date)
        else:
            encoders[CUSTOM_EPIC_LINK] = epic_link
        self._encoders[key] = encoders
        return encoders

    def changelog_json(self, issue: Issue, version: int, cap: int) -> bytes:
        """`orjson.dumps(self.changelog_expand(...))`, written from pre-encoded pieces."""
        histories = issue.histories
        total = len(histories)
        shown = histories[-cap:] if total > cap else histories
        zone = self.world.zone_name
        entries = []
        for history in shown:
            author = self.history_author(history.author, version)
            created = jira_time(history.created_ms, zone)
            entries.append(
                f'{{"id":"{history.id}","author":'.encode()
                + author
                + f',"created":"{created}","items":'.encode()
                + orjson.dumps(history.items)
                + b"}"
            )
        return (
            f'{{"startAt":{total - len(shown)},"maxResults":{len(shown)},"total":{total},"histories":['.encode()
            + b",".join(entries)
            + b"]}"
        )

    def history_author(self, account_id: str | None, version: int) -> bytes:
        if account_id is None or account_id not in self.world.users:
            return b"null"
        return self._bytes(
            ("user", account_id, version),
            lambda: self.user_obj(self.world.users[account_id], version, avatars=False),
        )

    def changelog_expand(self, issue: Issue, version: int, cap: int) -> dict[str, Any]:
        """`expand=changelog`: at most `cap` histories, the most recent ones, oldest first; `total`
        tells a client the history was truncated (page /changelog for the rest)."""
        histories = issue.histories
        total = len(histories)
        shown = histories[-cap:] if total > cap else histories
        return {
            "startAt": total - len(shown),
            "maxResults": len(shown),
            "total": total,
            "histories": [self.history(h, version) for h in shown],
        }

    def issue_webhook(self, issue: Issue) -> dict[str, Any]:
        """The issue as webhooks carry it: v2 rendering, all fields."""
        full = self.fields(issue, 2)
        full.pop("comment", None)
        return {
            "id": str(issue.id),
            "self": f"{self.api(2)}/issue/{issue.id}",
            "key": issue.key,
            "fields": full,
        }

    def issue_link_webhook(
        self, link_id: int, type_name: str, source_id: int, destination_id: int
    ) -> dict[str, Any]:
        link_type = LINK_TYPES[type_name]
        return {
            "id": link_id,
            "sourceIssueId": source_id,
            "destinationIssueId": destination_id,
            "issueLinkType": {
                "id": int(link_type.id),
                "name": link_type.name,
                "outwardName": link_type.outward,
                "inwardName": link_type.inward,
                "isSubTaskLinkType": False,
                "isSystemLinkType": False,
            },
            "systemLink": False,
        }


def _user_date(iso_date: str) -> str:
    moment = datetime.strptime(iso_date, "%Y-%m-%d")
    return moment.strftime("%d/%b/%y").lstrip("0")
