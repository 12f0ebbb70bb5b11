"""The GitHub world: organizations, repositories, issues (and pull requests), their state and mutations.

Everything here runs on the event-loop thread. Each issue's JSON is cached as bytes and dropped
whenever the issue or anything embedded in it changes (its milestone's counts, its children's
states for ``sub_issues_summary``, its dependencies' states for ``issue_dependencies_summary``).
Each repository keeps its issues sorted by ``(updated_at, id)`` and ``(created_at, id)``; a touched
issue is moved with two bisections instead of a re-sort, so listing stays O(page) at 500k items.
"""

from __future__ import annotations

import bisect
import contextlib
import gc
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from random import Random
from typing import Any

import orjson
from starlette.routing import BaseRoute

from sandbox import demo
from sandbox.core import MutationError, SandboxConfig, SandboxContext, dumps
from sandbox.github import payloads

__all__ = ["GitHubWorld", "Issue", "Repo", "category_of", "kind_of", "parse_references"]

SUB_ISSUE_LIMIT = 100  # GitHub: at most 100 sub-issues per parent
JSON_CACHE_LIMIT = 300_000
WARM_LIMIT = 150_000  # issues encoded at seeding time (~4 KB each)


@dataclass(slots=True, eq=False)
class Label:
    id: int
    name: str
    color: str
    description: str | None = None
    default: bool = False


@dataclass(slots=True, eq=False)
class Milestone:
    id: int
    number: int
    title: str
    description: str | None
    state: str
    due_on: datetime | None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    creator: str


@dataclass(slots=True, eq=False)
class IssueType:
    id: int
    name: str
    description: str | None
    color: str | None
    created_at: datetime


@dataclass(slots=True, eq=False)
class Comment:
    id: int
    user: str
    body: str
    created_at: datetime


@dataclass(slots=True, eq=False)
class Issue:
    id: int
    number: int
    repo: Repo
    title: str
    body: str | None
    user: str
    created_at: datetime
    updated_at: datetime
    state: str = "open"
    state_reason: str | None = None
    labels: list[str] = field(default_factory=list)
    assignees: list[str] = field(default_factory=list)
    milestone: int | None = None
    type: str | None = None
    closed_at: datetime | None = None
    closed_by: str | None = None
    comments: list[Comment] = field(default_factory=list)
    is_pr: bool = False
    merged_at: datetime | None = None
    parent: int | None = None
    children: list[int] = field(default_factory=list)
    blocked_by: list[int] = field(default_factory=list)
    blocking: list[int] = field(default_factory=list)
    deleted: bool = False
    moved_to: int | None = None  # id of the issue this one was transferred to
    history: list[dict[str, Any]] = field(default_factory=list)
    project: dict[str, Any] | None = None  # Projects v2 field values when the issue is on project 1
    project_item_id: int | None = None

    @property
    def key(self) -> str:
        return f"{self.repo.full_name}#{self.number}"

    @property
    def live(self) -> bool:
        return not self.deleted and self.moved_to is None


def _updated_key(it: Issue) -> tuple[datetime, int]:
    return (it.updated_at, it.id)


def _created_key(it: Issue) -> tuple[datetime, int]:
    return (it.created_at, it.id)


@dataclass(slots=True, eq=False)
class Repo:
    id: int
    owner: str
    name: str
    description: str
    created_at: datetime
    updated_at: datetime
    issues: dict[int, Issue] = field(default_factory=dict)  # by number, including gone ones
    next_number: int = 1
    labels: dict[str, Label] = field(default_factory=dict)
    milestones: dict[int, Milestone] = field(default_factory=dict)
    milestone_members: dict[int, set[int]] = field(default_factory=dict)
    by_updated: list[Issue] = field(default_factory=list)  # live issues and PRs, (updated_at, id)
    by_created: list[Issue] = field(default_factory=list)
    version: int = 0
    list_cache: dict[tuple[Any, ...], list[Issue]] = field(default_factory=dict)
    open_count: int = 0

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


def category_of(it: Issue) -> str:
    """Status category as the truth (and crosstrack) derive it (sandbox README)."""
    if it.state == "closed":
        return "done"
    if it.assignees or "in progress" in it.labels:
        return "in_progress"
    return "todo"


def resolution_of(it: Issue) -> str | None:
    if it.state != "closed":
        return None
    return "completed" if it.state_reason in (None, "completed") else "wont_do"


KIND_BY_TYPE = {"Epic": "epic", "Feature": "story", "Task": "task", "Bug": "bug"}


def kind_of(it: Issue) -> str:
    """By issue type (Epic, Feature → story, Task, Bug), else the label ``epic``, else other."""
    if it.type in KIND_BY_TYPE:
        return KIND_BY_TYPE[it.type]
    if "epic" in it.labels:
        return "epic"
    return "other"


def project_status(it: Issue) -> str:
    """The Projects v2 Status column that follows the issue (GitHub's built-in project workflows)."""
    if it.state == "closed":
        return "Done"
    return "In Progress" if category_of(it) == "in_progress" else "Todo"


_REF = re.compile(
    r"\b(?P<verb>blocked\s+by|depends\s+on|blocks)\s+"
    r"(?P<ref>https?://[^\s/]+/browse/[A-Z][A-Z0-9_]+-\d+"
    r"|https://github\.com/[\w.-]+/[\w.-]+/issues/\d+"
    r"|[\w.-]+/[\w.-]+#\d+"
    r"|#\d+"
    r"|[A-Z][A-Z0-9_]+-\d+)",
    re.IGNORECASE,
)


def parse_references(body: str | None, own_repo: str) -> list[tuple[str, str]]:
    """(verb, key) for each dependency phrase in a body: verb "blocked_by" or "blocks"."""
    if not body:
        return []
    found: list[tuple[str, str]] = []
    for match in _REF.finditer(body):
        verb = "blocks" if match["verb"].lower() == "blocks" else "blocked_by"
        ref = match["ref"]
        if "/browse/" in ref:
            key = ref.rsplit("/", 1)[1]
        elif ref.startswith("https://github.com/"):
            owner, repo, _, number = ref.removeprefix("https://github.com/").split("/")[:4]
            key = f"{owner}/{repo}#{number}"
        elif ref.startswith("#"):
            key = f"{own_repo}{ref}"
        else:
            key = ref
        found.append((verb, key))
    return found


@dataclass
class ProjectField:
    id: int
    name: str
    data_type: str
    options: list[dict[str, Any]] = field(default_factory=list)
    iterations: list[dict[str, Any]] = field(default_factory=list)


class GitHubWorld:
    """The in-memory GitHub (``TrackerWorld``)."""

    tracker = "github"

    def __init__(self, ctx: SandboxContext, config: SandboxConfig) -> None:
        self.ctx = ctx
        self.config = config
        self.reset()

    # --- lifecycle --------------------------------------------------------------------------

    def reset(self) -> None:
        from sandbox.github import seed

        self.api = self.ctx.github_api
        self.repos: dict[str, Repo] = {}
        self.repos_by_id: dict[int, Repo] = {}
        self.orgs: dict[str, int] = {}
        self.issues_by_id: dict[int, Issue] = {}
        self.users: dict[str, int] = {}
        self.types: dict[str, IssueType] = {}
        self.json_cache: dict[int, bytes] = {}
        self._user_frags: dict[str, str] = {}
        self._label_frags: dict[tuple[int, str], str] = {}
        self._milestone_frags: dict[tuple[int, int], str] = {}
        self._type_frags: dict[str, str] = {}
        self._org_frags: dict[str, str] = {}
        self._repo_json: dict[int, tuple[int, bytes]] = {}
        self._org_json: dict[str, bytes] = {}
        self._next_id = 1_500_000_001
        self._next_small_id = 9_001
        self.project_title = demo.PROGRAM.name
        self.project_number = 1
        self.project_id = 4_242
        self.project_fields: list[ProjectField] = []
        self.project_items: list[int] = []  # issue ids in project order
        self.hook_scopes: dict[int, str] = {}
        self.actor = "tpm-acme"
        # Seeding allocates millions of objects that all live on: collecting meanwhile is wasted work.
        collecting = gc.isenabled()
        gc.disable()
        try:
            seed.build(self, self.config)
            self.finish_indexes()
            self.warm_json_cache()
        finally:
            if collecting:
                gc.enable()

    def routes(self) -> list[BaseRoute]:
        from sandbox.github.routes import build_routes

        return build_routes(self)

    # --- ids, users, fragments --------------------------------------------------------------

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def new_small_id(self) -> int:
        self._next_small_id += 1
        return self._next_small_id

    def user_id(self, login: str) -> int:
        if login not in self.users:
            self.users[login] = 583_231 + len(self.users) * 7
        return self.users[login]

    def org_id(self, org: str) -> int:
        if org not in self.orgs:
            self.orgs[org] = 9_919_000 + len(self.orgs)
        return self.orgs[org]

    def user_json(self, login: str) -> dict[str, Any]:
        return payloads.user(self.api, login, self.user_id(login))

    def user_fragment(self, login: str) -> str:
        frag = self._user_frags.get(login)
        if frag is None:
            frag = self._user_frags[login] = payloads.fragment(self.user_json(login))
        return frag

    def org_owner_json(self, org: str) -> dict[str, Any]:
        return payloads.user(self.api, org, self.org_id(org), "Organization")

    def org_owner_fragment(self, org: str) -> str:
        frag = self._org_frags.get(org)
        if frag is None:
            frag = self._org_frags[org] = payloads.fragment(self.org_owner_json(org))
        return frag

    def label_fragment(self, repo: Repo, name: str) -> str:
        frag = self._label_frags.get((repo.id, name))
        if frag is None:
            lab = repo.labels.get(name) or self.ensure_label(repo, name)
            frag = self._label_frags[(repo.id, name)] = payloads.fragment(payloads.label(self.api, repo, lab))
        return frag

    def milestone_fragment(self, repo: Repo, number: int) -> str:
        frag = self._milestone_frags.get((repo.id, number))
        if frag is None:
            ms = repo.milestones[number]
            frag = payloads.fragment(payloads.milestone(self, repo, ms))
            self._milestone_frags[(repo.id, number)] = frag
        return frag

    def type_fragment(self, name: str) -> str:
        frag = self._type_frags.get(name)
        if frag is None:
            frag = self._type_frags[name] = payloads.fragment(payloads.issue_type(self.types[name]))
        return frag

    def ensure_label(
        self, repo: Repo, name: str, color: str = "ededed", description: str | None = None
    ) -> Label:
        lab = repo.labels.get(name)
        if lab is None:
            lab = repo.labels[name] = Label(self.new_id(), name, color, description)
        return lab

    # --- derived counts -----------------------------------------------------------------------

    def milestone_counts(self, repo: Repo, ms: Milestone) -> tuple[int, int]:
        members = [self.issues_by_id[i] for i in repo.milestone_members.get(ms.number, ())]
        open_count = sum(1 for it in members if it.live and it.state == "open")
        closed_count = sum(1 for it in members if it.live and it.state == "closed")
        return open_count, closed_count

    def sub_issue_counts(self, it: Issue) -> tuple[int, int]:
        kids = [self.issues_by_id[c] for c in it.children]
        return len(kids), sum(1 for k in kids if k.state == "closed")

    def open_dependency_counts(self, it: Issue) -> tuple[int, int]:
        blockers = sum(1 for b in it.blocked_by if self.issues_by_id[b].state == "open")
        blocking = sum(1 for b in it.blocking if self.issues_by_id[b].state == "open")
        return blockers, blocking

    # --- JSON ---------------------------------------------------------------------------------

    def issue_bytes(self, it: Issue) -> bytes:
        raw = self.json_cache.get(it.id)
        if raw is None:
            raw = payloads.issue_json(self, it)
            if len(self.json_cache) >= JSON_CACHE_LIMIT:
                self.json_cache.clear()
            self.json_cache[it.id] = raw
        return raw

    def warm_json_cache(self, limit: int = WARM_LIMIT) -> None:
        """Encode the newest ``limit`` issues up front, so a first full scan is served from cache.

        A page of 100 issues encoded on demand costs a few milliseconds; from the cache, a join.
        """
        newest = sorted(
            (it for repo in self.repos.values() for it in repo.by_updated[-limit:]),
            key=_updated_key,
            reverse=True,
        )[:limit]
        for it in newest:
            self.issue_bytes(it)

    def issue_dict(self, it: Issue) -> dict[str, Any]:
        return orjson.loads(self.issue_bytes(it))  # type: ignore[no-any-return]

    def repo_dict(self, repo: Repo) -> dict[str, Any]:
        return payloads.repository(self, repo)

    # --- indexes ----------------------------------------------------------------------------------

    def finish_indexes(self) -> None:
        """After bulk seeding: sort each repository's lists once."""
        for repo in self.repos.values():
            live = [it for it in repo.issues.values() if it.live]
            repo.by_updated = sorted(live, key=_updated_key)
            repo.by_created = sorted(live, key=_created_key)
            repo.open_count = sum(1 for it in live if it.state == "open")
            repo.milestone_members = {}
            for it in live:
                if it.milestone is not None:
                    repo.milestone_members.setdefault(it.milestone, set()).add(it.id)
            repo.version += 1
            repo.list_cache.clear()

    def add_repo(self, owner: str, name: str, description: str, created: datetime) -> Repo:
        repo = Repo(self.new_small_id() * 1000 + 7, owner, name, description, created, created)
        self.repos[repo.full_name] = repo
        self.repos_by_id[repo.id] = repo
        self.org_id(owner)
        return repo

    def add_issue(
        self,
        repo: Repo,
        title: str,
        *,
        body: str | None = None,
        user: str = "tpm-acme",
        created_at: datetime,
        updated_at: datetime | None = None,
        labels: list[str] | None = None,
        assignees: list[str] | None = None,
        milestone: int | None = None,
        type: str | None = None,
        is_pr: bool = False,
        bulk: bool = True,
    ) -> Issue:
        """Create an issue without events (seeding); ``bulk=False`` also updates the indexes."""
        it = Issue(
            id=self.new_id(),
            number=repo.next_number,
            repo=repo,
            title=title,
            body=body,
            user=user,
            created_at=created_at,
            updated_at=updated_at or created_at,
            labels=list(labels or []),
            assignees=list(assignees or []),
            milestone=milestone,
            type=type,
            is_pr=is_pr,
        )
        repo.next_number += 1
        repo.issues[it.number] = it
        self.issues_by_id[it.id] = it
        if not bulk:
            bisect.insort(repo.by_updated, it, key=_updated_key)
            bisect.insort(repo.by_created, it, key=_created_key)
            if it.state == "open":
                repo.open_count += 1
            if milestone is not None:
                repo.milestone_members.setdefault(milestone, set()).add(it.id)
            self._changed(repo)
        return it

    def _changed(self, repo: Repo) -> None:
        repo.version += 1
        repo.list_cache.clear()

    def invalidate(self, *issues: Issue) -> None:
        for it in issues:
            self.json_cache.pop(it.id, None)
            self._changed(it.repo)

    def _unindex(self, it: Issue) -> None:
        repo = it.repo
        for lst, keyf in ((repo.by_updated, _updated_key), (repo.by_created, _created_key)):
            i = bisect.bisect_left(lst, keyf(it), key=keyf)
            if i < len(lst) and lst[i] is it:
                del lst[i]
            else:  # not where the key says (should not happen); fall back to a scan
                with contextlib.suppress(ValueError):
                    lst.remove(it)
        if it.state == "open":
            repo.open_count -= 1
        if it.milestone is not None:
            repo.milestone_members.get(it.milestone, set()).discard(it.id)

    def now(self) -> datetime:
        return self.ctx.clock.now().replace(microsecond=0)

    def touch(self, it: Issue, when: datetime | None = None) -> None:
        """Bump ``updated_at`` (moving the issue to its new place in the sort order)."""
        repo = it.repo
        when = when or self.now()
        if it.live:
            i = bisect.bisect_left(repo.by_updated, _updated_key(it), key=_updated_key)
            if i < len(repo.by_updated) and repo.by_updated[i] is it:
                del repo.by_updated[i]
            else:
                repo.by_updated.remove(it)
            it.updated_at = max(when, it.updated_at)
            bisect.insort(repo.by_updated, it, key=_updated_key)
        else:
            it.updated_at = max(when, it.updated_at)
        repo.updated_at = max(repo.updated_at, it.updated_at)
        self.invalidate(it)

    # --- lookups ------------------------------------------------------------------------------------

    def repo(self, owner: str, name: str) -> Repo | None:
        return self.repos.get(f"{owner}/{name}")

    def by_key(self, key: str) -> Issue:
        try:
            repo_name, number = key.split("#")
            repo = self.repos[repo_name]
            it = repo.issues[int(number)]
        except (ValueError, KeyError):
            raise MutationError(f"no GitHub issue {key!r}", 404) from None
        while it.moved_to is not None:
            it = self.issues_by_id[it.moved_to]
        if it.deleted:
            raise MutationError(f"GitHub issue {key!r} was deleted", 404)
        return it

    def list_issues(self, repo: Repo, query: tuple[Any, ...]) -> list[Issue]:
        """Issues of one repository filtered and sorted, cached until the repository changes.

        ``query`` = (state, sort, direction, labels, milestone, assignee, creator, type, since).
        """
        cached = repo.list_cache.get(query)
        if cached is not None:
            return cached
        state, sort, direction, labels, milestone, assignee, creator, type_, since = query
        base = repo.by_updated if sort == "updated" else repo.by_created
        if sort == "comments":
            base = sorted(repo.by_created, key=lambda it: (len(it.comments), it.id))
        if since is not None and sort == "updated":
            base = base[bisect.bisect_left(base, (since, 0), key=_updated_key) :]
            since = None
        filtered = [
            it
            for it in base
            if (state == "all" or it.state == state)
            and (since is None or it.updated_at >= since)
            and (not labels or all(lab in it.labels for lab in labels))
            and _matches_milestone(it, milestone)
            and _matches_person(it.assignees, assignee)
            and (creator is None or it.user == creator)
            and _matches_type(it, type_)
        ]
        if direction == "desc":
            filtered.reverse()
        if len(repo.list_cache) > 64:
            repo.list_cache.clear()
        repo.list_cache[query] = filtered
        return filtered

    def list_pulls(
        self, repo: Repo, state: str, sort: str, direction: str, head: str | None, base: str | None
    ) -> list[Issue]:
        """Pull requests of one repository as GET /pulls lists them, cached until the repository
        changes (https://docs.github.com/en/rest/pulls/pulls#list-pull-requests)."""
        query = ("pulls", state, sort, direction, head, base)
        cached = repo.list_cache.get(query)
        if cached is not None:
            return cached
        source = repo.by_updated if sort == "updated" else repo.by_created
        pulls = [
            it
            for it in source
            if it.is_pr
            and (state == "all" or it.state == state)
            and (head is None or head == f"{repo.owner}:{payloads.pull_head_ref(it)}")
            and (base is None or base == payloads.BASE_BRANCH)
        ]
        if sort == "popularity":
            pulls.sort(key=lambda it: (len(it.comments), it.id))
        elif sort == "long-running":
            # Open for more than a month, with activity within the last month, oldest first.
            month_ago = self.ctx.clock.now() - timedelta(days=30)
            pulls = [it for it in pulls if it.created_at < month_ago and it.updated_at >= month_ago]
        if direction == "desc":
            pulls.reverse()
        if len(repo.list_cache) > 64:
            repo.list_cache.clear()
        repo.list_cache[query] = pulls
        return pulls

    # --- events ----------------------------------------------------------------------------------

    def _wants_events(self) -> bool:
        return bool(self.ctx.webhooks.targets("github"))

    def emit(self, event: str, action: str | None, repo: Repo, payload: dict[str, Any]) -> None:
        """Send one webhook: ``payload`` plus ``repository``, ``organization`` and ``sender``.

        The body is spliced from JSON pieces (values that are ``bytes`` are already JSON, such as
        cached issues), so that emitting costs little more than the mutation itself.
        """
        if not self._wants_events():
            return
        pieces = [b'"action":' + dumps(action)] if action else []
        for name, value in payload.items():
            pieces.append(dumps(name) + b":" + (value if isinstance(value, bytes) else dumps(value)))
        pieces.append(b'"repository":' + self.repo_bytes(repo))
        pieces.append(b'"organization":' + self._org_bytes(repo.owner))
        pieces.append(b'"sender":' + self.user_fragment(self.actor).encode())
        body = b"{" + b",".join(pieces) + b"}"
        self.ctx.webhooks.emit("github", event, body, action=action, scope=repo.full_name)

    def repo_bytes(self, repo: Repo) -> bytes:
        cached = self._repo_json.get(repo.id)
        if cached is None or cached[0] != repo.version:
            cached = self._repo_json[repo.id] = (repo.version, dumps(payloads.repository(self, repo)))
        return cached[1]

    def _org_bytes(self, org: str) -> bytes:
        raw = self._org_json.get(org)
        if raw is None:
            raw = self._org_json[org] = dumps(payloads.organization(self, org))
        return raw

    def emit_issue(self, action: str, it: Issue, **extra: Any) -> None:
        if not self._wants_events():
            return
        if it.is_pr:
            # Changes to a pull request arrive as `pull_request` events, not `issues` ones.
            if action in (
                "opened",
                "edited",
                "closed",
                "reopened",
                "assigned",
                "unassigned",
                "labeled",
                "unlabeled",
            ):
                self.emit(
                    "pull_request",
                    action,
                    it.repo,
                    {"number": it.number, "pull_request": self.issue_bytes(it)},
                )
            return
        self.emit("issues", action, it.repo, {"issue": self.issue_bytes(it), **extra})

    # --- mutations (API and control) -------------------------------------------------------------

    def _record_status(self, it: Issue, before_state: str, before_cat: str, when: datetime) -> None:
        after_cat = category_of(it)
        if before_state != it.state or before_cat != after_cat:
            it.history.append(
                {
                    "at": payloads.ts(when),
                    "from": before_state,
                    "to": it.state,
                    "from_category": before_cat,
                    "to_category": after_cat,
                }
            )

    def _related(self, it: Issue) -> list[Issue]:
        related = [self.issues_by_id[i] for i in (*it.blocked_by, *it.blocking)]
        if it.parent is not None:
            related.append(self.issues_by_id[it.parent])
        return related

    def create_issue(
        self,
        repo: Repo,
        title: str,
        *,
        body: str | None = None,
        labels: list[str] | None = None,
        assignees: list[str] | None = None,
        milestone: int | None = None,
        type: str | None = None,
        user: str | None = None,
        is_pr: bool = False,
    ) -> Issue:
        if not title:
            raise MutationError("title is required", 422)
        if milestone is not None and milestone not in repo.milestones:
            raise MutationError(f"no milestone {milestone} in {repo.full_name}", 422)
        if type is not None and type not in self.types:
            raise MutationError(f"no issue type {type!r}", 422)
        for name in labels or []:
            self.ensure_label(repo, name)
        now = self.now()
        it = self.add_issue(
            repo,
            title,
            body=body,
            user=user or self.actor,
            created_at=now,
            labels=labels,
            assignees=assignees,
            milestone=milestone,
            type=type,
            is_pr=is_pr,
            bulk=False,
        )
        it.history.append(
            {
                "at": payloads.ts(now),
                "from": None,
                "to": "open",
                "from_category": None,
                "to_category": category_of(it),
            }
        )
        if milestone is not None:
            self._drop_milestone(repo, milestone)
        self.emit_issue("opened", it)
        return it

    def _drop_milestone(self, repo: Repo, number: int) -> None:
        self._milestone_frags.pop((repo.id, number), None)
        for member in repo.milestone_members.get(number, ()):
            self.json_cache.pop(member, None)
        self._changed(repo)

    def update_issue(self, it: Issue, changes: dict[str, Any]) -> Issue:
        """Apply a PATCH-like change set; emits the webhooks GitHub would send for each change."""
        repo = it.repo
        now = self.now()
        before_state, before_cat = it.state, category_of(it)
        events: list[tuple[str, dict[str, Any]]] = []
        if "title" in changes and changes["title"] != it.title:
            if not changes["title"]:
                raise MutationError("title cannot be empty", 422)
            events.append(("edited", {"changes": {"title": {"from": it.title}}}))
            it.title = str(changes["title"])
        if "body" in changes and changes["body"] != it.body:
            events.append(("edited", {"changes": {"body": {"from": it.body or ""}}}))
            it.body = changes["body"]
        if "type" in changes:
            new_type = changes["type"]
            if new_type is not None and new_type not in self.types:
                raise MutationError(f"no issue type {new_type!r}", 422)
            if new_type != it.type:
                old_type = it.type
                it.type = new_type
                if new_type is None and old_type is not None:
                    events.append(("untyped", {"type": payloads.issue_type(self.types[old_type])}))
                else:
                    events.append(("typed", {"type": payloads.issue_type(self.types[new_type])}))
        if "assignees" in changes or "assignee" in changes:
            wanted = changes.get("assignees")
            if wanted is None:
                one = changes.get("assignee")
                wanted = [one] if one else []
            wanted = [str(w) for w in wanted]
            for login in it.assignees:
                if login not in wanted:
                    events.append(("unassigned", {"assignee": self.user_json(login)}))
            for login in wanted:
                if login not in it.assignees:
                    events.append(("assigned", {"assignee": self.user_json(login)}))
            it.assignees = wanted
        if "labels" in changes:
            wanted = [str(n if isinstance(n, str) else n.get("name")) for n in changes["labels"] or []]
            for name in it.labels:
                if name not in wanted:
                    events.append(("unlabeled", {"label": payloads.label(self.api, repo, repo.labels[name])}))
            for name in wanted:
                if name not in it.labels:
                    lab = self.ensure_label(repo, name)
                    events.append(("labeled", {"label": payloads.label(self.api, repo, lab)}))
            it.labels = wanted
        if "milestone" in changes:
            wanted_ms = changes["milestone"]
            number = self._milestone_number(repo, wanted_ms) if wanted_ms is not None else None
            if number != it.milestone:
                old = it.milestone
                if old is not None:
                    repo.milestone_members.get(old, set()).discard(it.id)
                    self._drop_milestone(repo, old)
                    events.append(
                        ("demilestoned", {"milestone": payloads.milestone(self, repo, repo.milestones[old])})
                    )
                it.milestone = number
                if number is not None:
                    repo.milestone_members.setdefault(number, set()).add(it.id)
                    self._drop_milestone(repo, number)
                    events.append(
                        ("milestoned", {"milestone": payloads.milestone(self, repo, repo.milestones[number])})
                    )
        if "state" in changes and changes["state"] != it.state:
            state = changes["state"]
            if state not in ("open", "closed"):
                raise MutationError(f"state must be open or closed, not {state!r}", 422)
            it.state = state
            if state == "closed":
                it.state_reason = changes.get("state_reason") or "completed"
                it.closed_at, it.closed_by = now, self.actor
                repo.open_count -= 1
                events.append(("closed", {}))
            else:
                it.state_reason = "reopened"
                it.closed_at = None
                repo.open_count += 1
                events.append(("reopened", {}))
            if it.milestone is not None:
                self._drop_milestone(repo, it.milestone)
            self.invalidate(*self._related(it))
        elif "state_reason" in changes and it.state == "closed" and changes["state_reason"]:
            it.state_reason = changes["state_reason"]
        if changes.get("project"):
            self.set_project_fields(it, changes["project"])
        if it.project is not None:
            it.project["Status"] = project_status(it)
        self._record_status(it, before_state, before_cat, now)
        self.touch(it, now)
        for action, extra in events:
            self.emit_issue(action, it, **extra)
        return it

    def _milestone_number(self, repo: Repo, value: Any) -> int:
        if isinstance(value, int) and value in repo.milestones:
            return value
        for ms in repo.milestones.values():
            if ms.title == value or str(ms.number) == str(value):
                return ms.number
        raise MutationError(f"no milestone {value!r} in {repo.full_name}", 422)

    def add_comment(self, it: Issue, body: str, user: str | None = None) -> Comment:
        c = Comment(self.new_id(), user or self.actor, body, self.now())
        it.comments.append(c)
        self.touch(it, c.created_at)
        if self._wants_events():
            self.emit(
                "issue_comment",
                "created",
                it.repo,
                {"issue": self.issue_bytes(it), "comment": payloads.comment(self, it, c)},
            )
        return c

    def add_sub_issue(self, parent: Issue, child: Issue, replace_parent: bool = False) -> None:
        if child.id == parent.id or child.is_pr or parent.is_pr:
            raise MutationError("an issue cannot be its own sub-issue, nor a pull request", 422)
        if child.parent is not None and child.parent != parent.id:
            if not replace_parent:
                raise MutationError("The sub-issue already has a parent issue", 422)
            self.remove_sub_issue(self.issues_by_id[child.parent], child)
        if child.id in parent.children:
            return
        if len(parent.children) >= SUB_ISSUE_LIMIT:
            raise MutationError("a parent issue can have at most 100 sub-issues", 422)
        ancestor: int | None = parent.id
        while ancestor is not None:  # no cycles
            if ancestor == child.id:
                raise MutationError("the sub-issue is an ancestor of the parent", 422)
            ancestor = self.issues_by_id[ancestor].parent
        parent.children.append(child.id)
        child.parent = parent.id
        now = self.now()
        self.touch(parent, now)
        self.touch(child, now)
        self._emit_sub_issue("sub_issue_added", "parent_issue_added", parent, child)

    def remove_sub_issue(self, parent: Issue, child: Issue) -> None:
        if child.id not in parent.children:
            raise MutationError(f"{child.key} is not a sub-issue of {parent.key}", 404)
        parent.children.remove(child.id)
        child.parent = None
        now = self.now()
        self.touch(parent, now)
        self.touch(child, now)
        self._emit_sub_issue("sub_issue_removed", "parent_issue_removed", parent, child)

    def _emit_sub_issue(self, parent_action: str, child_action: str, parent: Issue, child: Issue) -> None:
        if not self._wants_events():
            return
        parent_json, child_json = self.issue_bytes(parent), self.issue_bytes(child)
        common = {
            "parent_issue_id": parent.id,
            "parent_issue": parent_json,
            "sub_issue_id": child.id,
            "sub_issue": child_json,
        }
        self.emit(
            "sub_issues",
            parent_action,
            parent.repo,
            {**common, "sub_issue_repo": self.repo_bytes(child.repo)},
        )
        self.emit(
            "sub_issues",
            child_action,
            child.repo,
            {**common, "parent_issue_repo": self.repo_bytes(parent.repo)},
        )

    def add_blocked_by(self, blocked: Issue, blocker: Issue) -> None:
        if blocked.id == blocker.id:
            raise MutationError("an issue cannot block itself", 422)
        if blocker.id in blocked.blocked_by:
            raise MutationError("the dependency already exists", 422)
        blocked.blocked_by.append(blocker.id)
        blocker.blocking.append(blocked.id)
        now = self.now()
        self.touch(blocked, now)
        self.touch(blocker, now)
        self._emit_dependency("blocked_by_added", "blocking_added", blocked, blocker)

    def remove_blocked_by(self, blocked: Issue, blocker: Issue) -> None:
        if blocker.id not in blocked.blocked_by:
            raise MutationError(f"{blocked.key} is not blocked by {blocker.key}", 404)
        blocked.blocked_by.remove(blocker.id)
        blocker.blocking.remove(blocked.id)
        now = self.now()
        self.touch(blocked, now)
        self.touch(blocker, now)
        self._emit_dependency("blocked_by_removed", "blocking_removed", blocked, blocker)

    def _emit_dependency(
        self, blocked_action: str, blocking_action: str, blocked: Issue, blocker: Issue
    ) -> None:
        if not self._wants_events():
            return
        common = {
            "blocked_issue_id": blocked.id,
            "blocked_issue": self.issue_bytes(blocked),
            "blocking_issue_id": blocker.id,
            "blocking_issue": self.issue_bytes(blocker),
        }
        self.emit(
            "issue_dependencies",
            blocked_action,
            blocked.repo,
            {**common, "blocking_issue_repo": self.repo_bytes(blocker.repo)},
        )
        self.emit(
            "issue_dependencies",
            blocking_action,
            blocker.repo,
            {**common, "blocked_issue_repo": self.repo_bytes(blocked.repo)},
        )

    def _detach(self, it: Issue) -> list[Issue]:
        """Drop an issue's hierarchy and dependency edges; returns the issues that changed."""
        touched: list[Issue] = []
        if it.parent is not None:
            parent = self.issues_by_id[it.parent]
            parent.children.remove(it.id)
            touched.append(parent)
            it.parent = None
        for c in it.children:
            self.issues_by_id[c].parent = None
            touched.append(self.issues_by_id[c])
        it.children = []
        for b in it.blocked_by:
            self.issues_by_id[b].blocking.remove(it.id)
            touched.append(self.issues_by_id[b])
        for b in it.blocking:
            self.issues_by_id[b].blocked_by.remove(it.id)
            touched.append(self.issues_by_id[b])
        it.blocked_by, it.blocking = [], []
        return touched

    def delete_issue(self, it: Issue) -> None:
        payload = self.issue_dict(it) if self._wants_events() else None
        self._unindex(it)
        touched = self._detach(it)
        it.deleted = True
        if it.id in self.project_items:
            self.project_items.remove(it.id)
        if it.milestone is not None:
            self._drop_milestone(it.repo, it.milestone)
        self.invalidate(it)
        now = self.now()
        for other in touched:
            self.touch(other, now)
        if payload is not None:
            self.emit("issues", "deleted", it.repo, {"issue": payload})

    def transfer_issue(self, it: Issue, to_repo: Repo) -> Issue:
        """Move an issue to another repository: a new number and id; the old URL answers 301."""
        if it.is_pr:
            raise MutationError("pull requests cannot be transferred", 422)
        if to_repo is it.repo:
            raise MutationError("the issue is already in that repository", 422)
        now = self.now()
        old_repo = it.repo
        self._unindex(it)
        parent = self.issues_by_id[it.parent] if it.parent is not None else None
        children = [self.issues_by_id[c] for c in it.children]
        blocked_by = [self.issues_by_id[b] for b in it.blocked_by]
        blocking = [self.issues_by_id[b] for b in it.blocking]
        self._detach(it)
        labels = list(it.labels)
        for name in labels:
            src = old_repo.labels.get(name)
            self.ensure_label(to_repo, name, src.color if src else "ededed", src.description if src else None)
        new = self.add_issue(
            to_repo,
            it.title,
            body=it.body,
            user=it.user,
            created_at=it.created_at,
            updated_at=now,
            labels=labels,
            assignees=it.assignees,
            type=it.type,
            bulk=False,
        )
        new.state, new.state_reason, new.closed_at, new.closed_by = (
            it.state,
            it.state_reason,
            it.closed_at,
            it.closed_by,
        )
        if new.state == "closed":
            to_repo.open_count -= 1
        new.comments = it.comments
        new.history = it.history
        new.project, new.project_item_id = it.project, it.project_item_id
        if parent is not None:
            parent.children.append(new.id)
            new.parent = parent.id
        for c in children:
            c.parent = new.id
            new.children.append(c.id)
        for b in blocked_by:
            b.blocking.append(new.id)
            new.blocked_by.append(b.id)
        for b in blocking:
            b.blocked_by.append(new.id)
            new.blocking.append(b.id)
        it.moved_to = new.id
        if it.id in self.project_items:
            self.project_items[self.project_items.index(it.id)] = new.id
        if it.milestone is not None:
            self._drop_milestone(old_repo, it.milestone)
        self.invalidate(it, new)
        for other in (*([parent] if parent else []), *children, *blocked_by, *blocking):
            self.touch(other, now)
        if self._wants_events():
            self.emit(
                "issues",
                "transferred",
                old_repo,
                {
                    "issue": self.issue_dict(it),
                    "changes": {"new_issue": self.issue_dict(new), "new_repository": self.repo_dict(to_repo)},
                },
            )
            self.emit_issue("opened", new)
        return new

    # --- Projects v2 ------------------------------------------------------------------------------

    def set_project_fields(self, it: Issue, values: dict[str, Any]) -> None:
        if it.project is None:
            it.project = {}
            it.project_item_id = self.new_small_id()
            self.project_items.append(it.id)
        for name, value in values.items():
            if name.lower() == "status":
                it.project["Status"] = value
            elif name.lower() in ("iteration", "sprint"):
                it.project["Iteration"] = value
            elif name.lower() == "estimate":
                it.project["Estimate"] = None if value is None else float(value)
        self.invalidate(it)

    # --- truth -------------------------------------------------------------------------------------

    def truth(self) -> dict[str, Any]:
        items: list[dict[str, Any]] = []
        links: list[dict[str, Any]] = []
        history: dict[str, list[dict[str, Any]]] = {}
        releases: list[dict[str, Any]] = []
        for repo in self.repos.values():
            for ms in repo.milestones.values():
                releases.append(
                    {
                        "tracker": "github",
                        "scope": repo.full_name,
                        "id": str(ms.id),
                        "name": ms.title,
                        "due_date": ms.due_on.date().isoformat() if ms.due_on else None,
                        "released": ms.state == "closed",
                    }
                )
            for it in repo.by_created:
                if it.is_pr:
                    continue
                key = it.key
                parent = self.issues_by_id[it.parent].key if it.parent is not None else None
                project = it.project or {}
                items.append(
                    {
                        "tracker": "github",
                        "id": str(it.id),
                        "key": key,
                        "scope": repo.full_name,
                        "url": f"{payloads.HTML}/{repo.full_name}/issues/{it.number}",
                        "title": it.title,
                        "type": it.type,
                        "kind": kind_of(it),
                        "status": it.state,
                        "status_category": category_of(it),
                        "resolution": resolution_of(it),
                        "assignee": it.assignees[0] if it.assignees else None,
                        "parent": parent,
                        "estimate": project.get("Estimate"),
                        "labels": list(it.labels),
                        "releases": [repo.milestones[it.milestone].title] if it.milestone else [],
                        "sprint": project.get("Iteration"),
                        "start_date": None,
                        # An issue is due when its milestone is (GitHub issues have no date of their own).
                        "due_date": _due(repo, it),
                        "created": payloads.ts(it.created_at),
                        "updated": payloads.ts(it.updated_at),
                        "resolved": payloads.ts(it.closed_at) if it.state == "closed" else None,
                    }
                )
                for b in it.blocking:
                    links.append(
                        {
                            "from": key,
                            "to": self.issues_by_id[b].key,
                            "type": "blocks",
                            "origin": "github_dependency",
                        }
                    )
                for verb, ref in parse_references(it.body, repo.full_name):
                    pair = (key, ref) if verb == "blocks" else (ref, key)
                    if pair[0] != pair[1]:
                        links.append(
                            {"from": pair[0], "to": pair[1], "type": "blocks", "origin": "text_reference"}
                        )
                if it.history:
                    history[key] = list(it.history)
        unique: dict[tuple[str, str, str], dict[str, Any]] = {}
        for link in links:
            unique.setdefault((link["from"], link["to"], link["type"]), link)
        sprints = [
            {
                "tracker": "github",
                "id": it["id"],
                "name": it["title"],
                "state": _iteration_state(it, self.now().date()),
                "start": it["start_date"],
                "end": (date.fromisoformat(it["start_date"]) + timedelta(days=it["duration"])).isoformat(),
            }
            for f in self.project_fields
            if f.data_type == "iteration"
            for it in f.iterations
        ]
        people = [
            {
                "name": p.name,
                "email": p.email,
                "jira_account_id": p.jira_account_id,
                "github_login": p.github_login,
            }
            for p in demo.PEOPLE
        ]
        return {
            "items": items,
            "links": list(unique.values()),
            "releases": releases,
            "sprints": sprints,
            "status_history": history,
            "people": people,
        }

    # --- control API -----------------------------------------------------------------------------

    def mutate(self, op: dict[str, Any]) -> dict[str, Any]:
        kind = op.get("op")
        if kind == "update":
            it = self.by_key(str(op.get("key")))
            fields = dict(op.get("fields") or {})
            changes: dict[str, Any] = {}
            project: dict[str, Any] = {}
            for name, value in fields.items():
                if name in (
                    "title",
                    "body",
                    "state",
                    "state_reason",
                    "labels",
                    "milestone",
                    "type",
                    "assignees",
                ):
                    changes[name] = value
                elif name == "assignee":
                    changes["assignees"] = [value] if value else []
                elif name == "status":
                    changes.update(_status_change(value))
                elif name in ("estimate", "iteration", "sprint"):
                    project[name] = value
                elif name == "parent":
                    continue
                else:
                    raise MutationError(f"GitHub items have no field {name!r}", 400)
            if project:
                changes["project"] = project
            self.update_issue(it, changes)
            if "parent" in fields:
                self._set_parent(it, fields["parent"])
            return {"key": it.key, "id": str(it.id)}
        if kind == "create":
            repo = self.repos.get(str(op.get("repo") or op.get("scope") or "acme/web"))
            if repo is None:
                raise MutationError(f"no repository {op.get('repo')!r}", 404)
            assignee = op.get("assignee")
            it = self.create_issue(
                repo,
                str(op.get("title") or ""),
                body=op.get("body"),
                labels=list(op.get("labels") or []),
                assignees=list(op.get("assignees") or ([assignee] if assignee else [])),
                milestone=self._milestone_number(repo, op["milestone"]) if op.get("milestone") else None,
                type=op.get("type"),
                is_pr=bool(op.get("pull_request")),
            )
            if op.get("parent"):
                self._set_parent(it, op["parent"])
            if op.get("estimate") is not None or op.get("iteration"):
                self.set_project_fields(
                    it, {"estimate": op.get("estimate"), "iteration": op.get("iteration")}
                )
            return {"key": it.key, "id": str(it.id), "number": it.number}
        if kind == "delete":
            it = self.by_key(str(op.get("key")))
            self.delete_issue(it)
            return {"key": it.key, "id": str(it.id), "deleted": True}
        if kind == "touch":
            it = self.by_key(str(op.get("key")))
            self.touch(it)
            self.emit_issue("edited", it, changes={})
            return {"key": it.key, "updated": payloads.ts(it.updated_at)}
        if kind == "comment":
            it = self.by_key(str(op.get("key")))
            c = self.add_comment(it, str(op.get("body") or ""))
            return {"key": it.key, "comment_id": c.id}
        if kind == "transfer":
            it = self.by_key(str(op.get("key")))
            to_repo = self.repos.get(str(op.get("to_repo")))
            if to_repo is None:
                raise MutationError(f"no repository {op.get('to_repo')!r}", 404)
            old_key = it.key
            new = self.transfer_issue(it, to_repo)
            return {"from": old_key, "key": new.key, "id": str(new.id), "old_id": str(it.id)}
        if kind in ("link", "unlink"):
            return self._link(kind, op)
        if kind == "milestone":
            return self._milestone_op(op)
        if kind == "label":
            return self._label_op(op)
        if kind == "delete_repo":
            return self._delete_repo(op)
        raise MutationError(f"unknown GitHub op {kind!r}", 400)

    def _delete_repo(self, op: dict[str, Any]) -> dict[str, Any]:
        """Delete a whole repository: its routes answer 404, its issues leave the truth, edges to
        them from other repositories go; one ``repository`` ``deleted`` event goes to org hooks."""
        repo = self.repos.get(str(op.get("repo")))
        if repo is None:
            raise MutationError(f"no repository {op.get('repo')!r}", 404)
        payload = {"repository": self.repo_dict(repo)} if self._wants_events() else None
        touched: list[Issue] = []
        gone = [it for it in repo.issues.values() if it.live]
        for it in gone:
            touched.extend(self._detach(it))
            it.deleted = True
            if it.id in self.project_items:
                self.project_items.remove(it.id)
        del self.repos[repo.full_name]
        del self.repos_by_id[repo.id]
        now = self.now()
        for other in touched:
            if other.live and other.repo is not repo:
                self.touch(other, now)
        if payload is not None:
            body = {"action": "deleted", **payload, "organization": payloads.organization(self, repo.owner)}
            body["sender"] = self.user_json(self.actor)
            self.ctx.webhooks.emit("github", "repository", body, action="deleted", scope=repo.owner)
        return {"repo": repo.full_name, "deleted": True, "issues": len(gone)}

    def _label_op(self, op: dict[str, Any]) -> dict[str, Any]:
        """Create, change (rename, recolor) or delete a repository label: ``{"op": "label", "repo",
        "name", "new_name"?, "color"?, "description"?, "delete"?: true}``.

        As on github.com only the ``label`` webhook is sent: issues carrying a renamed or deleted
        label change without an ``issues`` event (and keep their ``updated_at``), so a consumer has
        to react to ``label`` events itself.
        """
        repo = self.repos.get(str(op.get("repo")))
        if repo is None:
            raise MutationError(f"no repository {op.get('repo')!r}", 404)
        name = str(op.get("name") or "")
        lab = repo.labels.get(name)
        carriers = [it for it in repo.issues.values() if it.live and name in it.labels]
        before = {it.id: (it.state, category_of(it)) for it in carriers}
        result = self._label_change(repo, name, lab, carriers, op)
        now = self.now()
        for it in carriers:  # renaming or deleting "in progress" changes categories
            self._record_status(it, *before[it.id], now)
            if it.project is not None:
                it.project["Status"] = project_status(it)
        return result

    def _label_change(
        self, repo: Repo, name: str, lab: Label | None, carriers: list[Issue], op: dict[str, Any]
    ) -> dict[str, Any]:
        if op.get("delete"):
            if lab is None:
                raise MutationError(f"no label {name!r} in {repo.full_name}", 404)
            payload = payloads.label(self.api, repo, lab)
            del repo.labels[name]
            for it in carriers:
                it.labels.remove(name)
            self._label_frags.pop((repo.id, name), None)
            self.invalidate(*carriers)
            self.emit("label", "deleted", repo, {"label": payload})
            return {"repo": repo.full_name, "name": name, "deleted": True, "issues": len(carriers)}
        if lab is None:
            lab = self.ensure_label(repo, name, str(op.get("color") or "ededed"), op.get("description"))
            self.emit("label", "created", repo, {"label": payloads.label(self.api, repo, lab)})
            return {"repo": repo.full_name, "name": name, "created": True}
        changes: dict[str, Any] = {}
        new_name = op.get("new_name")
        if new_name and new_name != name:
            if new_name in repo.labels:
                raise MutationError(f"label {new_name!r} already exists in {repo.full_name}", 422)
            changes["name"] = {"from": name}
            del repo.labels[name]
            lab.name = str(new_name)
            repo.labels[lab.name] = lab
            for it in carriers:
                it.labels[it.labels.index(name)] = lab.name
        if op.get("color") and op["color"] != lab.color:
            changes["color"] = {"from": lab.color}
            lab.color = str(op["color"])
        if "description" in op and op["description"] != lab.description:
            changes["description"] = {"from": lab.description or ""}
            lab.description = op["description"]
        self._label_frags.pop((repo.id, name), None)
        self._label_frags.pop((repo.id, lab.name), None)
        self.invalidate(*carriers)
        self._changed(repo)
        if changes:
            self.emit(
                "label", "edited", repo, {"label": payloads.label(self.api, repo, lab), "changes": changes}
            )
        return {"repo": repo.full_name, "name": lab.name, "changes": sorted(changes), "issues": len(carriers)}

    def _milestone_op(self, op: dict[str, Any]) -> dict[str, Any]:
        """Create or change a milestone (a release): ``{"op": "milestone", "repo", "title", "state"?,
        "due_on"? (YYYY-MM-DD), "description"?}``; sends the ``milestone`` webhook."""
        repo = self.repos.get(str(op.get("repo")))
        if repo is None:
            raise MutationError(f"no repository {op.get('repo')!r}", 404)
        title = str(op.get("title") or "")
        if not title:
            raise MutationError("a milestone needs a title", 400)
        now = self.now()
        ms = next((m for m in repo.milestones.values() if m.title == title), None)
        due = op.get("due_on")
        due_on = datetime.fromisoformat(str(due)).replace(hour=7, tzinfo=UTC) if due else None
        actions: list[tuple[str, dict[str, Any]]] = []
        if ms is None:
            number = max(repo.milestones, default=0) + 1
            ms = Milestone(
                self.new_id(),
                number,
                title,
                op.get("description"),
                "open",
                due_on,
                now,
                now,
                None,
                self.actor,
            )
            repo.milestones[number] = ms
            actions.append(("created", {}))
        else:
            changes: dict[str, Any] = {}
            if due and due_on != ms.due_on:
                changes["due_on"] = {"from": payloads.ts(ms.due_on)}
                ms.due_on = due_on
            if "description" in op and op["description"] != ms.description:
                changes["description"] = {"from": ms.description or ""}
                ms.description = op["description"]
            if changes:
                actions.append(("edited", {"changes": changes}))
        state = op.get("state")
        if state in ("open", "closed") and state != ms.state:
            ms.state = state
            ms.closed_at = now if state == "closed" else None
            actions.append(("closed" if state == "closed" else "opened", {}))
        ms.updated_at = now
        self._drop_milestone(repo, ms.number)
        for action, extra in actions:
            self.emit("milestone", action, repo, {"milestone": payloads.milestone(self, repo, ms), **extra})
        return {"repo": repo.full_name, "number": ms.number, "title": ms.title, "state": ms.state}

    def _set_parent(self, it: Issue, parent_key: str | None) -> None:
        if parent_key is None:
            if it.parent is not None:
                self.remove_sub_issue(self.issues_by_id[it.parent], it)
            return
        parent = self.by_key(str(parent_key))
        if it.parent == parent.id:
            return
        self.add_sub_issue(parent, it, replace_parent=True)

    def _link(self, kind: str, op: dict[str, Any]) -> dict[str, Any]:
        source, target = str(op.get("from")), str(op.get("to"))
        link_type = op.get("type", "blocks")
        if link_type != "blocks":
            raise MutationError("GitHub links are dependencies: type must be 'blocks'", 400)
        local = [k for k in (source, target) if "#" in k]
        if len(local) == 2:
            blocker, blocked = self.by_key(source), self.by_key(target)
            if kind == "link":
                self.add_blocked_by(blocked, blocker)
            else:
                self.remove_blocked_by(blocked, blocker)
            return {"from": blocker.key, "to": blocked.key, "type": "blocks", "origin": "github_dependency"}
        if len(local) == 1:
            # A dependency on a Jira issue can only be written down in the body, as people do.
            it = self.by_key(local[0])
            phrase = f"blocks {target}" if local[0] == source else f"blocked by {source}"
            body = it.body or ""
            if kind == "link":
                new_body = (body + "\n\n" + phrase).strip()
            else:
                new_body = "\n".join(line for line in body.splitlines() if line.strip() != phrase)
                new_body = re.sub(rf"\b{re.escape(phrase)}\b", "", new_body, flags=re.IGNORECASE).strip()
            self.update_issue(it, {"body": new_body})
            return {"from": source, "to": target, "type": "blocks", "origin": "text_reference"}
        raise MutationError("one end of a GitHub link must be a GitHub issue (owner/repo#n)", 400)

    def random_mutation(self, rng: Random) -> dict[str, Any]:
        """One step of the activity walk; keeps the keys demo.CROSS_TRACKER_LINKS name alive."""
        repo = self.repos[rng.choice(sorted(self.repos))]
        live = [it for it in repo.by_created if not it.is_pr]
        if not live:
            return {"op": "none"}
        it = rng.choice(live)
        roll = rng.random()
        if roll < 0.3:
            state = "open" if it.state == "closed" else "closed"
            return self.mutate({"op": "update", "key": it.key, "fields": {"state": state}})
        if roll < 0.45:
            logins = [p.github_login for p in demo.PEOPLE if p.github_login]
            return self.mutate({"op": "update", "key": it.key, "fields": {"assignee": rng.choice(logins)}})
        if roll < 0.55:
            labels = list(it.labels)
            if "in progress" in labels:
                labels.remove("in progress")
            else:
                labels.append("in progress")
            return self.mutate({"op": "update", "key": it.key, "fields": {"labels": labels}})
        if roll < 0.65:
            return self.mutate({"op": "comment", "key": it.key, "body": "Status update: still on track."})
        if roll < 0.75:
            other = rng.choice(live)
            if other is not it and other.id not in it.blocked_by:
                return self.mutate({"op": "link", "from": other.key, "to": it.key})
            return self.mutate({"op": "touch", "key": it.key})
        if roll < 0.85:
            return self.mutate(
                {"op": "update", "key": it.key, "fields": {"title": it.title.rstrip("!") + "!"}}
            )
        if roll < 0.92:
            return self.mutate(
                {"op": "create", "repo": repo.full_name, "title": "Follow-up from standup", "type": "Task"}
            )
        return self.mutate({"op": "touch", "key": it.key})


def _due(repo: Repo, it: Issue) -> str | None:
    ms = repo.milestones.get(it.milestone) if it.milestone is not None else None
    return ms.due_on.date().isoformat() if ms is not None and ms.due_on is not None else None


def _status_change(value: Any) -> dict[str, Any]:
    text = str(value).lower().replace("-", " ").replace("_", " ")
    if text in ("closed", "done", "completed"):
        return {"state": "closed", "state_reason": "completed"}
    if text in ("not planned", "wont do", "won't do"):
        return {"state": "closed", "state_reason": "not_planned"}
    if text in ("open", "todo", "to do", "reopened"):
        return {"state": "open"}
    raise MutationError(f"GitHub status must be open, closed or not_planned, not {value!r}", 400)


def _iteration_state(it: dict[str, Any], today: date) -> str:
    start = date.fromisoformat(it["start_date"])
    end = start + timedelta(days=it["duration"])
    if end <= today:
        return "closed"
    return "active" if start <= today else "future"


def _matches_milestone(it: Issue, milestone: str | None) -> bool:
    if milestone is None:
        return True
    if milestone == "*":
        return it.milestone is not None
    if milestone == "none":
        return it.milestone is None
    return str(it.milestone) == milestone


def _matches_person(people: list[str], wanted: str | None) -> bool:
    if wanted is None:
        return True
    if wanted == "*":
        return bool(people)
    if wanted == "none":
        return not people
    return wanted in people


def _matches_type(it: Issue, wanted: str | None) -> bool:
    if wanted is None:
        return True
    if wanted == "*":
        return it.type is not None
    if wanted == "none":
        return it.type is None
    return (it.type or "").lower() == wanted.lower()
