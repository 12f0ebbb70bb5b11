"""The Jira world's vocabulary: issue types, statuses, link types, fields, and the entity records.

Ids and names follow a freshly created Jira Cloud software site (company-managed project), so the
payloads look like the ones crosstrack meets in the wild:
https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-issueidorkey-get
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CATEGORIES",
    "CUSTOM_EPIC_LINK",
    "CUSTOM_SPRINT",
    "CUSTOM_START_DATE",
    "CUSTOM_STORY_POINTS",
    "EMPTY",
    "ISSUE_TYPES",
    "LINK_TYPES",
    "PRIORITIES",
    "RESOLUTIONS",
    "STATUSES",
    "TRANSITIONS",
    "Board",
    "Comment",
    "History",
    "Issue",
    "IssueType",
    "Link",
    "LinkType",
    "Project",
    "RemoteLink",
    "Sprint",
    "Status",
    "Transition",
    "User",
    "Version",
]

CUSTOM_EPIC_LINK = "customfield_10014"  # Data Center only (com.pyxis.greenhopper.jira:gh-epic-link)
CUSTOM_START_DATE = "customfield_10015"  # Cloud "Start date"
CUSTOM_STORY_POINTS = "customfield_10016"
CUSTOM_SPRINT = "customfield_10020"


@dataclass(frozen=True, slots=True)
class Status:
    id: str
    name: str
    category: str  # new | indeterminate | done


@dataclass(frozen=True, slots=True)
class IssueType:
    id: str
    name: str
    hierarchy_level: int
    description: str

    @property
    def subtask(self) -> bool:
        return self.hierarchy_level < 0


@dataclass(frozen=True, slots=True)
class LinkType:
    id: str
    name: str
    inward: str
    outward: str


@dataclass(frozen=True, slots=True)
class Transition:
    id: str
    name: str
    to_status: str
    resolution: str | None


# statusCategory: id, display name, colour (https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-workflow-status-categories/)
CATEGORIES: dict[str, tuple[int, str, str]] = {
    "undefined": (1, "No Category", "medium-gray"),
    "new": (2, "To Do", "blue-gray"),
    "done": (3, "Done", "green"),
    "indeterminate": (4, "In Progress", "yellow"),
}
STATUSES: dict[str, Status] = {
    s.name: s
    for s in (
        Status("10000", "To Do", "new"),
        Status("3", "In Progress", "indeterminate"),
        Status("10001", "In Review", "indeterminate"),
        Status("10002", "Done", "done"),
    )
}
ISSUE_TYPES: dict[str, IssueType] = {
    t.name: t
    for t in (
        IssueType("10003", "Initiative", 2, "A large body of work spanning several epics."),
        IssueType("10000", "Epic", 1, "A big user story that needs to be broken down."),
        IssueType("10001", "Story", 0, "Functionality or a feature expressed as a user goal."),
        IssueType("10002", "Task", 0, "A small, distinct piece of work."),
        IssueType("10004", "Bug", 0, "A problem or error."),
        IssueType("10005", "Sub-task", -1, "A small piece of work that's part of a larger task."),
    )
}
RESOLUTIONS: dict[str, str] = {"Done": "10000", "Won't Do": "10001", "Duplicate": "10002"}
PRIORITIES: dict[str, str] = {"Highest": "1", "High": "2", "Medium": "3", "Low": "4", "Lowest": "5"}
LINK_TYPES: dict[str, LinkType] = {
    t.name: t
    for t in (
        LinkType("10000", "Blocks", "is blocked by", "blocks"),
        LinkType("10001", "Cloners", "is cloned by", "clones"),
        LinkType("10002", "Duplicate", "is duplicated by", "duplicates"),
        LinkType("10003", "Relates", "relates to", "relates to"),
    )
}
# Every status is reachable from every other (a simplified company-managed workflow).
TRANSITIONS: dict[str, Transition] = {
    t.id: t
    for t in (
        Transition("11", "To Do", "To Do", None),
        Transition("21", "In Progress", "In Progress", None),
        Transition("31", "In Review", "In Review", None),
        Transition("41", "Done", "Done", "Done"),
        Transition("51", "Won't Do", "Done", "Won't Do"),
    )
}


@dataclass(slots=True)
class User:
    account_id: str
    email: str
    display_name: str
    time_zone: str
    active: bool = True

    @property
    def name(self) -> str:
        # Data Center identifies users by username (the email's local part here).
        return self.email.split("@", 1)[0]


@dataclass(slots=True)
class Project:
    id: str
    key: str
    name: str
    lead: str  # accountId
    description: str = ""


@dataclass(slots=True)
class Version:
    id: int
    project: str  # key
    name: str
    release_date: str | None
    start_date: str | None = None
    released: bool = False
    archived: bool = False
    description: str = ""


@dataclass(slots=True)
class Board:
    id: int
    name: str
    project: str


@dataclass(slots=True)
class Sprint:
    id: int
    board_id: int
    name: str
    state: str  # closed | active | future
    start_ms: int | None
    end_ms: int | None
    complete_ms: int | None = None
    goal: str = ""
    sequence: int = 0


@dataclass(slots=True)
class History:
    id: int
    author: str | None  # accountId
    created_ms: int
    items: list[dict[str, Any]]


@dataclass(slots=True)
class Comment:
    id: int
    author: str
    body: str
    created_ms: int
    updated_ms: int


@dataclass(slots=True)
class RemoteLink:
    id: int
    url: str
    title: str
    relationship: str | None
    global_id: str | None = None
    summary: str | None = None
    application: dict[str, Any] | None = None
    status_resolved: bool | None = None


# Lists on an issue are replaced, never changed in place, so the scale seed can share this one
# empty list between a million issues instead of allocating nine lists each.
EMPTY: list[Any] = []


@dataclass(slots=True, eq=False)
class Issue:
    id: int
    key: str
    project: str
    type_name: str
    summary: str
    status: str
    created_ms: int
    updated_ms: int
    description: str = ""
    resolution: str | None = None
    resolved_ms: int | None = None
    assignee: str | None = None
    reporter: str | None = None
    priority: str = "Medium"
    labels: list[str] = field(default_factory=list)
    fix_versions: list[int] = field(default_factory=list)
    parent: Issue | None = None
    story_points: float | None = None
    sprint_ids: list[int] = field(default_factory=list)
    start_date: str | None = None
    due_date: str | None = None
    histories: list[History] = field(default_factory=list)
    old_keys: list[str] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    remote_links: list[RemoteLink] = field(default_factory=list)
    link_ids: list[int] = field(default_factory=list)
    children: list[Issue] = field(default_factory=list)
    # Bumped on every change of the issue or of an issue it embeds; keys the world's JSON cache.
    rev: int = 0

    @property
    def parent_id(self) -> int | None:
        return self.parent.id if self.parent is not None else None

    @property
    def parent_key(self) -> str | None:
        return self.parent.key if self.parent is not None else None

    @property
    def issue_type(self) -> IssueType:
        return ISSUE_TYPES[self.type_name]

    @property
    def status_category(self) -> str:
        return STATUSES[self.status].category

    @property
    def number(self) -> int:
        return int(self.key.rsplit("-", 1)[1])


@dataclass(slots=True, eq=False)
class Link:
    """One issue link; for Blocks, `source` blocks `destination` (Jira's sourceIssueId/destinationIssueId)."""

    id: int
    type_name: str
    source: Issue
    destination: Issue
