"""The Jira world: issues, links, versions, sprints in memory, their mutations and webhooks.

Everything is mutated on the event-loop thread (see sandbox/core.py), so there are no locks. Two
structures keep search fast at scale: `by_updated`, a list of `(updated_ms, id)` kept sorted so an
`updated >=` bound is a bisect, and per-issue caches of encoded JSON (cleared on every change of the
issue or of an issue it embeds: parent, subtasks, linked issues).
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections import OrderedDict
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from starlette.routing import BaseRoute

from sandbox import demo
from sandbox.core import MutationError, SandboxConfig, SandboxContext
from sandbox.jira import payloads
from sandbox.jira.jql import Query, compile_jql, key_sort_value
from sandbox.jira.model import (
    ISSUE_TYPES,
    LINK_TYPES,
    PRIORITIES,
    RESOLUTIONS,
    STATUSES,
    Board,
    Comment,
    History,
    Issue,
    Link,
    Project,
    RemoteLink,
    Sprint,
    User,
    Version,
)
from sandbox.jira.payloads import iso_utc

__all__ = ["JiraWorld"]

# truth() link type names and the Jira link types they map to (for Blocks: from blocks to).
TRUTH_LINK_TYPES = {"Blocks": "blocks", "Relates": "relates", "Duplicate": "duplicates", "Cloners": "relates"}
LINK_TYPE_BY_TRUTH = {"blocks": "Blocks", "relates": "Relates", "duplicates": "Duplicate"}
KIND_BY_TYPE = {
    "Initiative": "initiative",
    "Epic": "epic",
    "Story": "story",
    "Task": "task",
    "Bug": "bug",
    "Sub-task": "subtask",
}
EDITABLE = (
    "summary",
    "description",
    "status",
    "resolution",
    "resolved_ms",
    "assignee",
    "labels",
    "story_points",
    "due_date",
    "start_date",
    "parent",
    "type_name",
    "priority",
    "fix_versions",
    "sprint_ids",
)
JSON_CACHE_SIZE = 60_000  # issue encodings kept on demand, beyond the warm ones (about 3 KB each)
WARM_LIMIT = 150_000  # issues encoded at seeding time for crosstrack's search (as the GitHub side)
CATEGORY_TRUTH = {"new": "todo", "indeterminate": "in_progress", "done": "done"}


def ms_of(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


class JiraWorld:
    """One Jira site (Cloud or Data Center flavour, from the config)."""

    tracker = "jira"

    def __init__(self, ctx: SandboxContext, config: SandboxConfig) -> None:
        self.ctx = ctx
        self.config = config
        self.render = payloads.Renderer(self)
        self._query_cache: OrderedDict[tuple[str, str], Query] = OrderedDict()
        self._result_cache: OrderedDict[tuple[str, str | None], tuple[int, list[Issue]]] = OrderedDict()
        # Per rendering (API version, field set, changelog cap): issue id -> (issue rev, JSON).
        self._json_cache: dict[tuple[Any, ...], dict[int, tuple[int, bytes]]] = {}
        self._json_admitted = 0  # entries admitted on demand (the warm ones are not counted)
        self.reset()

    # --- setup -----------------------------------------------------------------------------------

    @property
    def cloud(self) -> bool:
        return self.config.jira_flavour != "datacenter"

    @property
    def zone_name(self) -> str:
        return self.config.jira_timezone

    def reset(self) -> None:
        from sandbox.jira import seed  # seed builds on this module's records

        self.issues: dict[int, Issue] = {}
        self.by_key: dict[str, Issue] = {}
        self.moved_keys: dict[str, Issue] = {}
        self.deleted_ids: set[int] = set()
        self.links: dict[int, Link] = {}
        self.users: dict[str, User] = {}
        self.credentials: dict[str, tuple[str, str]] = {}  # secret -> (account id, kind)
        self.projects: dict[str, Project] = {}
        self.versions: dict[int, Version] = {}
        self.boards: dict[int, Board] = {}
        self.sprints: dict[int, Sprint] = {}
        self.by_updated: list[tuple[int, int]] = []
        self.by_created: list[tuple[int, int]] = []
        self.generation = 0  # bumps on every change
        self.search_generation = 0  # bumps when an issue's searchable state changes (see search)
        self._changes: list[tuple[int, int]] = []  # (search generation, issue id)
        self._changes_floor = 0
        self.next_number: dict[str, int] = {}
        self._ids = itertools.count(10000)
        self._link_ids = itertools.count(10100)
        self._history_ids = itertools.count(20000)
        self._comment_ids = itertools.count(30000)
        self._remote_ids = itertools.count(40000)
        self._version_ids = itertools.count(10200)
        self._query_cache.clear()
        self._result_cache.clear()
        self._json_cache.clear()
        self._json_admitted = 0
        self.render.clear()
        if self.config.seed == "scale":
            seed.seed_scale(self, self.config.jira_items, random.Random(self.config.rng_seed))
        else:
            seed.seed_demo(self, random.Random(self.config.rng_seed))
        self.by_updated = sorted((i.updated_ms, i.id) for i in self.issues.values())
        self.by_created = sorted((i.created_ms, i.id) for i in self.issues.values())
        self.warm_json_cache()

    def routes(self) -> list[BaseRoute]:
        from sandbox.jira.routes import build_routes

        return build_routes(self)

    def now_ms(self) -> int:
        return ms_of(self.ctx.clock.now())

    def today(self) -> str:
        return self.ctx.clock.now().astimezone(ZoneInfo(self.zone_name)).date().isoformat()

    # --- building blocks used by the seeds and mutations ----------------------------------------

    def add_user(self, user: User, secret: str | None = None) -> None:
        self.users[user.account_id] = user
        if secret:
            self.credentials[secret] = (user.account_id, "token")

    def add_project(self, key: str, name: str, lead: str, description: str = "") -> Project:
        project = Project(str(10000 + len(self.projects)), key, name, lead, description)
        self.projects[key] = project
        self.next_number.setdefault(key, 1)
        return project

    def add_version(self, project: str, name: str, release_date: str | None, **kw: Any) -> Version:
        version = Version(next(self._version_ids), project, name, release_date, **kw)
        self.versions[version.id] = version
        return version

    def new_issue(self, project: str, type_name: str, summary: str, created_ms: int, **fields: Any) -> Issue:
        """Create an issue record (no webhook, no history): seeds and `create` use it."""
        if project not in self.projects:
            raise MutationError(f"project {project!r} does not exist", 400)
        if type_name not in ISSUE_TYPES:
            raise MutationError(f"issue type {type_name!r} does not exist", 400)
        number = self.next_number[project]
        self.next_number[project] = number + 1
        parent = fields.pop("parent", None)
        issue = Issue(
            id=next(self._ids),
            key=f"{project}-{number}",
            project=project,
            type_name=type_name,
            summary=summary,
            status=fields.pop("status", "To Do"),
            created_ms=created_ms,
            updated_ms=fields.pop("updated_ms", created_ms),
            **fields,
        )
        self.issues[issue.id] = issue
        self.by_key[issue.key] = issue
        if parent is not None:
            self.set_parent(issue, parent)
        return issue

    def set_parent(self, issue: Issue, parent: Issue | None) -> None:
        if issue.parent is not None:
            issue.parent.children = [c for c in issue.parent.children if c is not issue]
            self.invalidate(issue.parent)
        issue.parent = parent
        if parent is not None:
            parent.children = [*parent.children, issue]
            self.invalidate(parent)

    def add_history(
        self, issue: Issue, author: str | None, at_ms: int, items: list[dict[str, Any]]
    ) -> History:
        history = History(next(self._history_ids), author, at_ms, items)
        issue.histories = [*issue.histories, history]
        return history

    def add_link(self, type_name: str, source: Issue, destination: Issue) -> Link:
        link = Link(next(self._link_ids), type_name, source, destination)
        self.links[link.id] = link
        source.link_ids = [*source.link_ids, link.id]
        destination.link_ids = [*destination.link_ids, link.id]
        self.invalidate(source)
        self.invalidate(destination)
        return link

    def add_remote_link(
        self,
        issue: Issue,
        url: str,
        title: str,
        relationship: str | None,
        *,
        author: str | None = None,
        at_ms: int | None = None,
        **kw: Any,
    ) -> RemoteLink:
        link = RemoteLink(next(self._remote_ids), url, title, relationship, **kw)
        issue.remote_links = [*issue.remote_links, link]
        # Jira writes a RemoteIssueLink item into the changelog when a remote link is added
        # (https://support.atlassian.com/jira-software-cloud/docs/what-are-issue-field-changes/).
        self.add_history(
            issue,
            author,
            at_ms if at_ms is not None else issue.updated_ms,
            [
                {
                    "field": "RemoteIssueLink",
                    "fieldtype": "jira",
                    "from": None,
                    "fromString": None,
                    "to": str(link.id),
                    "toString": f'This issue links to "{title}"',
                }
            ],
        )
        self.invalidate(issue)
        return link

    def create_remote_link(
        self, issue: Issue, url: str, title: str, relationship: str | None, actor: str, at_ms: int, **kw: Any
    ) -> RemoteLink:
        """A remote link added through the API: a RemoteIssueLink changelog item at `at_ms`,
        `updated` bumped and `jira:issue_updated` sent, as Jira does."""
        link = RemoteLink(next(self._remote_ids), url, title, relationship, **kw)
        issue.remote_links = [*issue.remote_links, link]
        self.record_change(issue, [_remote_item(None, link)], actor, at_ms)
        return link

    def change_remote_link(self, issue: Issue, link: RemoteLink, actor: str, at_ms: int) -> None:
        """An existing remote link was rewritten (same globalId): logged like a new one."""
        self.invalidate(issue)
        self.record_change(issue, [_remote_item(link, link)], actor, at_ms)

    def delete_remote_link(self, issue: Issue, link: RemoteLink, actor: str, at_ms: int) -> None:
        issue.remote_links = [r for r in issue.remote_links if r is not link]
        self.record_change(issue, [_remote_item(link, None)], actor, at_ms)

    def add_comment(self, issue: Issue, author: str, body: str, at_ms: int) -> Comment:
        comment = Comment(next(self._comment_ids), author, body, at_ms, at_ms)
        issue.comments = [*issue.comments, comment]
        self.invalidate(issue)
        return comment

    # --- lookups ---------------------------------------------------------------------------------

    def find(self, id_or_key: str) -> Issue | None:
        """By id or key; an old key of a moved issue finds it under its new key, as Jira does."""
        if id_or_key.isdigit():
            return self.issues.get(int(id_or_key))
        key = id_or_key.upper()
        return self.by_key.get(key) or self.moved_keys.get(key)

    def get(self, id_or_key: str) -> Issue:
        issue = self.find(id_or_key)
        if issue is None:
            raise MutationError(f"issue {id_or_key} does not exist", 404)
        return issue

    def project_versions(self, project: str) -> list[Version]:
        return [v for v in self.versions.values() if v.project == project]

    def status_changed_ms(self, issue: Issue) -> int:
        for history in reversed(issue.histories):
            if any(item.get("field") == "status" for item in history.items):
                return history.created_ms
        return issue.created_ms

    # --- change tracking -------------------------------------------------------------------------

    def invalidate(self, issue: Issue) -> None:
        issue.rev += 1
        self.generation += 1

    def invalidate_neighbours(self, issue: Issue) -> None:
        """Issues that embed `issue` (parent's subtasks, children's parent, links) re-render."""
        self.invalidate(issue)
        if issue.parent is not None:
            issue.parent.rev += 1
        for child in issue.children:
            child.rev += 1
        for link_id in issue.link_ids:
            link = self.links[link_id]
            link.source.rev += 1
            link.destination.rev += 1

    def encoded(
        self, issue: Issue, version: int, selection: payloads.FieldSelection, cap: int | None
    ) -> bytes:
        """The issue's JSON for this rendering (see `encoded_many`)."""
        return self.encoded_many([issue], version, selection, cap)[0]

    def encoded_many(
        self, issues: list[Issue], version: int, selection: payloads.FieldSelection, cap: int | None
    ) -> list[bytes]:
        """Each issue's JSON for this rendering, cached with the revision it was built from.

        An entry is used only while the issue's `rev` is the one it was built from (every change
        of the issue or of an issue it embeds bumps it), so a cached body is never stale. The
        warm entries (`warm_json_cache`) are always kept current; beyond them the cache admits
        JSON_CACHE_SIZE issues on demand and then only refreshes those. No eviction on purpose:
        an LRU or FIFO would miss on every page of a scan larger than itself.
        """
        rendering = (version, selection.cache_key, cap)
        cache = self._json_cache.get(rendering)
        if cache is None:
            cache = self._json_cache[rendering] = {}
        out: list[bytes] = []
        append = out.append
        get = cache.get
        for issue in issues:
            hit = get(issue.id)
            if hit is not None and hit[0] == issue.rev:
                append(hit[1])
                continue
            data = self.render.issue_json(issue, version, selection, cap)
            if hit is not None:
                cache[issue.id] = (issue.rev, data)
            elif self._json_admitted < JSON_CACHE_SIZE:
                cache[issue.id] = (issue.rev, data)
                self._json_admitted += 1
            append(data)
        return out

    def warm_json_cache(self, limit: int = WARM_LIMIT) -> None:
        """Encode the `limit` most recently updated issues up front for the search crosstrack's
        Jira connector sends (`CROSSTRACK_SEARCH`), so its first scan is served from the cache, as
        the GitHub side does. Other field sets are encoded on their first request."""
        from sandbox.jira.routes import crosstrack_search

        version, selection, cap = crosstrack_search(self.cloud)
        rendering = (version, selection.cache_key, cap)
        cache = self._json_cache.setdefault(rendering, {})
        render = self.render.issue_json
        issues = self.issues
        for _, issue_id in itertools.islice(reversed(self.by_updated), limit):
            issue = issues[issue_id]
            cache[issue_id] = (issue.rev, render(issue, version, selection, cap))

    def forget_json(self, issue: Issue) -> None:
        """Drop a deleted issue's encodings (their on-demand slots go back to the cache)."""
        for cache in self._json_cache.values():
            if cache.pop(issue.id, None) is not None:
                self._json_admitted = max(0, self._json_admitted - 1)

    def set_updated(self, issue: Issue, updated_ms: int) -> None:
        """Move `issue` in the updated index (kept sorted for bisecting `updated >=`)."""
        old = (issue.updated_ms, issue.id)
        index = bisect.bisect_left(self.by_updated, old)
        if index < len(self.by_updated) and self.by_updated[index] == old:
            del self.by_updated[index]
        issue.updated_ms = updated_ms
        bisect.insort(self.by_updated, (updated_ms, issue.id))
        self.invalidate_neighbours(issue)
        self._log_change(issue.id)

    def _index_add(self, issue: Issue) -> None:
        bisect.insort(self.by_updated, (issue.updated_ms, issue.id))
        bisect.insort(self.by_created, (issue.created_ms, issue.id))
        self.generation += 1
        self._log_change(issue.id)

    def _index_remove(self, issue: Issue) -> None:
        old = (issue.updated_ms, issue.id)
        index = bisect.bisect_left(self.by_updated, old)
        if index < len(self.by_updated) and self.by_updated[index] == old:
            del self.by_updated[index]
        created = (issue.created_ms, issue.id)
        index = bisect.bisect_left(self.by_created, created)
        if index < len(self.by_created) and self.by_created[index] == created:
            del self.by_created[index]
        self.generation += 1
        self._log_change(issue.id)

    # --- search ----------------------------------------------------------------------------------

    def compile(self, jql: str, zone: str | None = None) -> Query:
        zone = zone or self.zone_name
        query = self._query_cache.get((jql, zone))
        if query is None:
            query = compile_jql(jql, ZoneInfo(zone))
            self._query_cache[(jql, zone)] = query
            if len(self._query_cache) > 256:
                self._query_cache.popitem(last=False)
        return query

    def search(self, jql: str, zone: str | None = None) -> list[Issue]:
        """All issues matching `jql`, in its order.

        Results are cached per query and kept current: when issues changed since (see
        `_log_change`), only those are taken out and put back where they now belong, so a scan of
        500k issues under `--activity` does not re-run the query for every page. Offsets into the
        list are what nextPageToken/startAt stand for, so a change between pages shifts the rest
        of the scan, as it does in Jira.
        """
        cache_key = (jql, zone)
        entry = self._result_cache.get(cache_key)
        if entry is not None:
            generation, cached = entry
            if generation == self.search_generation:
                return cached
            updated = self._catch_up(jql, zone, generation, cached)
            if updated is not None:
                self._result_cache[cache_key] = (self.search_generation, updated)
                return updated
        result = self._run_query(jql, zone)
        self._result_cache[cache_key] = (self.search_generation, result)
        while len(self._result_cache) > 32:
            self._result_cache.popitem(last=False)
        return result

    def _run_query(self, jql: str, zone: str | None) -> list[Issue]:
        query = self.compile(jql, zone)
        lower = query.updated_lower_bound()
        projects = query.projects()
        issues = self.issues
        if query.order in ((("created", False),), (("created", False), ("id", False))) and lower is None:
            # A full scan in creation order (what the Jira connector sends) reads the created index.
            ids: Iterable[int] = (entry[1] for entry in self.by_created)
            presorted = True
        else:
            # Otherwise candidates come from the updated index: `updated >=` is a bisect, not a scan.
            start = bisect.bisect_left(self.by_updated, (lower, -1)) if lower is not None else 0
            ids = (entry[1] for entry in itertools.islice(self.by_updated, start, None))
            presorted = query.order == (("updated", False),)
        matches = [
            issue
            for issue in (issues[i] for i in ids)
            if (projects is None or issue.project in projects) and query.matches(issue)
        ]
        if presorted:
            return matches  # the index order is the query's order already
        return sorted(matches, key=query.sort_key())

    def _catch_up(
        self, jql: str, zone: str | None, generation: int, cached: list[Issue]
    ) -> list[Issue] | None:
        """`cached` brought up to date with the changes after `generation`, or None to recompute."""
        if generation < self._changes_floor:
            return None
        index = bisect.bisect_right(self._changes, (generation, 1 << 62))
        changed = {issue_id for _, issue_id in self._changes[index:]}
        if len(changed) > 5000:
            return None
        query = self.compile(jql, zone)
        key = query.sort_key()
        result = [issue for issue in cached if issue.id not in changed]
        for issue_id in changed:
            issue = self.issues.get(issue_id)
            if issue is not None and query.matches(issue):
                bisect.insort(result, issue, key=key)
        return result

    def _log_change(self, issue_id: int) -> None:
        """Record that an issue's searchable state (membership or order) changed."""
        self.search_generation += 1
        self._changes.append((self.search_generation, issue_id))
        if len(self._changes) > 100_000:
            del self._changes[:50_000]
            self._changes_floor = self._changes[0][0] - 1

    def scan_touch(self, served: list[Issue], rng: random.Random) -> None:
        """The `scan_mutation` fault: after a search page, touch k of the issues served so far so
        they move in an `updated` order while the scan goes on."""
        k = self.ctx.faults.scan_mutation("jira")
        if not k or not served:
            return
        for issue in rng.sample(served, min(k, len(served))):
            self.touch(issue, self.now_ms(), None)

    # --- mutations (control API, REST writes, activity) ------------------------------------------

    def mutate(self, op: dict[str, Any]) -> dict[str, Any]:
        kind = op.get("op")
        handler = {
            "update": self._op_update,
            "create": self._op_create,
            "delete": self._op_delete,
            "link": self._op_link,
            "unlink": self._op_unlink,
            "touch": self._op_touch,
            "move": self._op_move,
            "remote_link": self._op_remote_link,
            "comment": self._op_comment,
            "release": self._op_release,
            "version": self._op_version,
            "sprint": self._op_sprint,
        }.get(str(kind))
        if handler is None:
            raise MutationError(f"unknown op {kind!r} for jira", 400)
        return handler(op)

    def _at(self, op: dict[str, Any]) -> int:
        at = op.get("at")
        if at:
            moment = datetime.fromisoformat(str(at).replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=ZoneInfo(self.zone_name))
            return ms_of(moment)
        return self.now_ms()

    def actor(self, op: dict[str, Any]) -> str:
        who = op.get("actor")
        if who and who in self.users:
            return str(who)
        return demo.PEOPLE[0].jira_account_id or next(iter(self.users))

    def _op_update(self, op: dict[str, Any]) -> dict[str, Any]:
        issue = self.get(str(op.get("key")))
        items = self.apply_fields(issue, dict(op.get("fields") or {}))
        self.record_change(issue, items, self.actor(op), self._at(op))
        return {"key": issue.key, "id": str(issue.id), "changed": [i["field"] for i in items]}

    def _op_create(self, op: dict[str, Any]) -> dict[str, Any]:
        fields = dict(op.get("fields") or {})
        for name in ("project", "type", "title", "summary", "parent", "status"):
            if name in op and name not in fields:
                fields[name] = op[name]
        issue = self.create_issue(fields, self.actor(op), self._at(op))
        return {"key": issue.key, "id": str(issue.id)}

    def _op_delete(self, op: dict[str, Any]) -> dict[str, Any]:
        issue = self.get(str(op.get("key")))
        self.delete_issue(issue, self.actor(op), self._at(op))
        return {"key": issue.key, "id": str(issue.id), "deleted": True}

    def _op_link(self, op: dict[str, Any]) -> dict[str, Any]:
        type_name = LINK_TYPE_BY_TRUTH.get(str(op.get("type", "blocks")), str(op.get("type", "Blocks")))
        if type_name not in LINK_TYPES:
            raise MutationError(f"unknown link type {op.get('type')!r}", 400)
        source, destination = self.get(str(op.get("from"))), self.get(str(op.get("to")))
        link = self.create_link(type_name, source, destination, self.actor(op), self._at(op))
        return {"id": str(link.id), "from": source.key, "to": destination.key, "type": type_name}

    def _op_unlink(self, op: dict[str, Any]) -> dict[str, Any]:
        if op.get("id") is not None:
            link = self.links.get(int(op["id"]))
        else:
            source, destination = self.get(str(op.get("from"))), self.get(str(op.get("to")))
            type_name = LINK_TYPE_BY_TRUTH.get(str(op.get("type", "blocks")), str(op.get("type", "Blocks")))
            link = next(
                (
                    self.links[i]
                    for i in source.link_ids
                    if self.links[i].source is source
                    and self.links[i].destination is destination
                    and self.links[i].type_name == type_name
                ),
                None,
            )
        if link is None:
            raise MutationError("no such issue link", 404)
        self.delete_link(link, self.actor(op), self._at(op))
        return {"id": str(link.id), "deleted": True}

    def _op_touch(self, op: dict[str, Any]) -> dict[str, Any]:
        issue = self.get(str(op.get("key")))
        self.touch(issue, self._at(op), self.actor(op))
        return {
            "key": issue.key,
            "id": str(issue.id),
            "updated": payloads.jira_time(issue.updated_ms, self.zone_name),
        }

    def touch(self, issue: Issue, at_ms: int, actor: str | None) -> None:
        # A rank change: the most common edit that changes nothing a sync maps but bumps `updated`.
        items = [
            {
                "field": "Rank",
                "fieldtype": "custom",
                "fieldId": "customfield_10019",
                "from": "",
                "fromString": "",
                "to": "",
                "toString": "Ranked higher",
            }
        ]
        self.record_change(issue, items, actor or self.actor({}), at_ms)

    def _op_move(self, op: dict[str, Any]) -> dict[str, Any]:
        issue = self.get(str(op.get("key")))
        target = str(op.get("to_project", "")).upper()
        if target not in self.projects:
            raise MutationError(f"project {target!r} does not exist", 400)
        old_key = issue.key
        self.move_issue(issue, target, self.actor(op), self._at(op))
        return {"id": str(issue.id), "old_key": old_key, "key": issue.key}

    def _op_remote_link(self, op: dict[str, Any]) -> dict[str, Any]:
        issue = self.get(str(op.get("key")))
        at, actor = self._at(op), self.actor(op)
        if op.get("delete"):
            link = next(
                (r for r in issue.remote_links if str(r.id) == str(op["delete"]) or r.url == op["delete"]),
                None,
            )
            if link is None:
                raise MutationError(f"no remote link {op['delete']!r} on {issue.key}", 404)
            self.delete_remote_link(issue, link, actor, at)
            return {"key": issue.key, "remote_link_id": link.id, "deleted": True}
        link = self.create_remote_link(
            issue,
            str(op["url"]),
            str(op.get("title", op["url"])),
            op.get("relationship"),
            actor,
            at,
            global_id=op.get("global_id") or str(op["url"]),
        )
        return {"key": issue.key, "remote_link_id": link.id}

    def _op_comment(self, op: dict[str, Any]) -> dict[str, Any]:
        issue = self.get(str(op.get("key")))
        comment = self.comment_issue(issue, str(op.get("body", "")), self.actor(op), self._at(op))
        return {"key": issue.key, "comment_id": str(comment.id)}

    def _op_release(self, op: dict[str, Any]) -> dict[str, Any]:
        name = str(op.get("version") or op.get("name"))
        version = next((v for v in self.versions.values() if v.name == name or str(v.id) == name), None)
        if version is None:
            raise MutationError(f"version {name!r} does not exist", 404)
        version.released = bool(op.get("released", True))
        if op.get("release_date"):
            version.release_date = str(op["release_date"])
        for issue in self.issues.values():
            if version.id in issue.fix_versions:
                issue.rev += 1
        self.render.clear()
        self.generation += 1
        event = "jira:version_released" if version.released else "jira:version_unreleased"
        self.emit(event, {"version": self.render.version(version)})
        return {"version": version.name, "released": version.released}

    def _op_version(self, op: dict[str, Any]) -> dict[str, Any]:
        """Create a version (`project`, `name`, `release_date`, `start_date`) or change one found
        by `name`/`id` (`release_date`, `description`, `archived`)."""
        name = str(op.get("name") or op.get("version") or "")
        version = next((v for v in self.versions.values() if name in (v.name, str(v.id))), None)
        if version is None:
            project = _project_key(op.get("project"), self.projects)
            version = self.add_version(
                project,
                name,
                op.get("release_date"),
                start_date=op.get("start_date"),
                description=str(op.get("description") or ""),
            )
            event = "jira:version_created"
        else:
            for attr in ("release_date", "start_date", "description", "archived"):
                if attr in op:
                    setattr(version, attr, op[attr])
            for issue in self.issues.values():
                if version.id in issue.fix_versions:
                    issue.rev += 1
            self.render.clear()
            event = "jira:version_updated"
        self.generation += 1
        self.emit(event, {"version": self.render.version(version)})
        return {"version": version.name, "id": str(version.id), "event": event}

    def _op_sprint(self, op: dict[str, Any]) -> dict[str, Any]:
        sprint = self.sprints.get(int(op.get("id", 0))) or next(
            (s for s in self.sprints.values() if s.name == op.get("name")), None
        )
        if sprint is None:
            raise MutationError("sprint does not exist", 404)
        state = str(op.get("state", sprint.state))
        now = self._at(op)
        if state == "active" and sprint.state != "active":
            sprint.state, sprint.start_ms = "active", now
            event = "sprint_started"
        elif state == "closed" and sprint.state != "closed":
            sprint.state, sprint.complete_ms = "closed", now
            event = "sprint_closed"
        else:
            sprint.goal = str(op.get("goal", sprint.goal))
            event = "sprint_updated"
        for issue in self.issues.values():
            if sprint.id in issue.sprint_ids:
                issue.rev += 1
        self.render.clear()
        self.generation += 1
        self.emit(event, {"sprint": self.render.sprint(sprint)})
        return {"sprint": sprint.name, "state": sprint.state}

    # --- the changes themselves (REST handlers call these too) ------------------------------------

    def apply_fields(self, issue: Issue, fields: dict[str, Any]) -> list[dict[str, Any]]:
        """Apply crosstrack-style or Jira-style field values; returns changelog items.

        All or nothing: when one value is refused the issue is left as it was, so a failed edit
        never changes an issue without a history entry, an `updated` bump and a webhook."""
        snapshot = {name: getattr(issue, name) for name in EDITABLE}
        try:
            return self._apply_fields(issue, fields)
        except Exception:
            if issue.parent is not snapshot["parent"]:
                self.set_parent(issue, snapshot["parent"])
            for name, value in snapshot.items():
                setattr(issue, name, value)
            raise

    def _apply_fields(self, issue: Issue, fields: dict[str, Any]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []

        def change(
            field: str, old: Any, new: Any, old_s: Any = None, new_s: Any = None, fid: str = ""
        ) -> None:
            item = {
                "field": field,
                "fieldtype": "custom" if fid.startswith("customfield_") else "jira",
                "fieldId": fid or field,
                "from": None if old is None else str(old),
                "fromString": None
                if old_s is None and old is None
                else str(old_s if old_s is not None else old),
                "to": None if new is None else str(new),
                "toString": None
                if new_s is None and new is None
                else str(new_s if new_s is not None else new),
            }
            items.append(item)

        for name, value in fields.items():
            if name in ("title", "summary"):
                if value != issue.summary:
                    change("summary", None, None, issue.summary, value, "summary")
                    issue.summary = str(value)
            elif name == "description":
                text = payloads.adf_to_text(value)
                if text != issue.description:
                    change("description", None, None, issue.description, text, "description")
                    issue.description = text
            elif name == "status":
                status = _name_of(value)
                if status not in STATUSES:
                    raise MutationError(f"status {status!r} does not exist", 400)
                items.extend(self._set_status(issue, status, fields.get("resolution")))
            elif name == "resolution":
                if "status" in fields:
                    continue
                res = _name_of(value) if value is not None else None
                if res is not None and res not in RESOLUTIONS:
                    raise MutationError(f"resolution {res!r} does not exist", 400)
                if res != issue.resolution:
                    change(
                        "resolution", _rid(issue.resolution), _rid(res), issue.resolution, res, "resolution"
                    )
                    issue.resolution = res
            elif name == "assignee":
                account = self._account(value)
                if account != issue.assignee:
                    change(
                        "assignee",
                        issue.assignee,
                        account,
                        self._display(issue.assignee),
                        self._display(account),
                        "assignee",
                    )
                    issue.assignee = account
            elif name == "labels":
                labels = [str(label) for label in value or []]
                if labels != issue.labels:
                    change("labels", None, None, " ".join(issue.labels), " ".join(labels), "labels")
                    issue.labels = labels
            elif name in ("estimate", "story_points", "customfield_10016"):
                points = None if value is None else float(value)
                if points != issue.story_points:
                    change("Story Points", None, None, issue.story_points, points, "customfield_10016")
                    issue.story_points = points
            elif name in ("due_date", "duedate"):
                if value != issue.due_date:
                    change("duedate", issue.due_date, value, issue.due_date, value, "duedate")
                    issue.due_date = value
            elif name in ("start_date", "customfield_10015"):
                if value != issue.start_date:
                    change(
                        "Start date", issue.start_date, value, issue.start_date, value, "customfield_10015"
                    )
                    issue.start_date = value
            elif name in ("parent", "customfield_10014"):
                parent = None if value in (None, "") else self.get(_key_of(value))
                if parent is not issue.parent:
                    old = issue.parent
                    change(
                        "IssueParentAssociation" if self.cloud else "Epic Link",
                        old.id if old else None,
                        parent.id if parent else None,
                        old.key if old else None,
                        parent.key if parent else None,
                        "parent" if self.cloud else "customfield_10014",
                    )
                    self.set_parent(issue, parent)
            elif name in ("type", "issuetype"):
                type_name = _name_of(value)
                if type_name not in ISSUE_TYPES:
                    raise MutationError(f"issue type {type_name!r} does not exist", 400)
                if type_name != issue.type_name:
                    old_t, new_t = ISSUE_TYPES[issue.type_name], ISSUE_TYPES[type_name]
                    change("issuetype", old_t.id, new_t.id, old_t.name, new_t.name, "issuetype")
                    issue.type_name = type_name
            elif name == "priority":
                prio = _name_of(value)
                if prio not in PRIORITIES:
                    raise MutationError(f"priority {prio!r} does not exist", 400)
                if prio != issue.priority:
                    change(
                        "priority",
                        PRIORITIES[issue.priority],
                        PRIORITIES[prio],
                        issue.priority,
                        prio,
                        "priority",
                    )
                    issue.priority = prio
            elif name in ("releases", "fixVersions", "fix_versions"):
                ids = [self._version_id(issue.project, v) for v in value or []]
                if ids != issue.fix_versions:
                    old_names = ", ".join(self.versions[v].name for v in issue.fix_versions)
                    new_names = ", ".join(self.versions[v].name for v in ids)
                    change("Fix Version", None, None, old_names or None, new_names or None, "fixVersions")
                    issue.fix_versions = ids
            elif name in ("sprint", "customfield_10020"):
                ids = self._sprint_ids(value)
                if ids != issue.sprint_ids:
                    old_s = ", ".join(self.sprints[s].name for s in issue.sprint_ids)
                    new_s = ", ".join(self.sprints[s].name for s in ids)
                    change("Sprint", None, None, old_s or None, new_s or None, "customfield_10020")
                    issue.sprint_ids = ids
            elif name in ("project", "reporter", "updated", "created"):
                continue
            else:
                raise MutationError(f"field {name!r} cannot be set", 400)
        return items

    def _set_status(self, issue: Issue, status: str, resolution: Any = None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        old = STATUSES[issue.status]
        new = STATUSES[status]
        if status != issue.status:
            items.append(
                {
                    "field": "status",
                    "fieldtype": "jira",
                    "fieldId": "status",
                    "from": old.id,
                    "fromString": old.name,
                    "to": new.id,
                    "toString": new.name,
                }
            )
            issue.status = status
        wanted: str | None
        if new.category == "done":
            wanted = _name_of(resolution) if resolution is not None else (issue.resolution or "Done")
        else:
            wanted = None
        if wanted is not None and wanted not in RESOLUTIONS:
            raise MutationError(f"resolution {wanted!r} does not exist", 400)
        if wanted != issue.resolution:
            items.append(
                {
                    "field": "resolution",
                    "fieldtype": "jira",
                    "fieldId": "resolution",
                    "from": _rid(issue.resolution),
                    "fromString": issue.resolution,
                    "to": _rid(wanted),
                    "toString": wanted,
                }
            )
            issue.resolution = wanted
        if new.category == "done" and old.category != "done":
            issue.resolved_ms = self.now_ms()
        elif new.category != "done":
            issue.resolved_ms = None
        return items

    def record_change(self, issue: Issue, items: list[dict[str, Any]], actor: str, at_ms: int) -> None:
        """Bump `updated`, keep the history, and send `jira:issue_updated` (no-op when nothing changed)."""
        if not items:
            return
        if any(i["field"] == "status" for i in items) and STATUSES[issue.status].category == "done":
            issue.resolved_ms = at_ms
        history = self.add_history(issue, actor, at_ms, items)
        self.set_updated(issue, at_ms)
        fields = {i["field"] for i in items}
        if fields == {"assignee"}:
            event_type = "issue_assigned"
        elif "status" in fields:
            event_type = "issue_generic"
        else:
            event_type = "issue_updated"
        self.emit(
            "jira:issue_updated",
            {
                "issue_event_type_name": event_type,
                "user": self.render.user(actor),
                "issue": self.render.issue_webhook(issue),
                "changelog": {"id": str(history.id), "items": items},
            },
            at_ms,
            issue.project,
        )

    def create_issue(self, fields: dict[str, Any], actor: str, at_ms: int) -> Issue:
        project = fields.get("project")
        project_key = _project_key(project, self.projects)
        type_name = _name_of(fields.get("type") or fields.get("issuetype") or "Task")
        type_name = next((t.name for t in ISSUE_TYPES.values() if t.id == type_name), type_name)
        summary = fields.get("title") or fields.get("summary")
        if not summary:
            raise MutationError("summary: You must specify a summary of the issue.", 400)
        if type_name in ISSUE_TYPES and ISSUE_TYPES[type_name].subtask and not fields.get("parent"):
            raise MutationError("Issue type is a sub-task but parent issue key or id not specified.", 400)
        if fields.get("parent"):
            self.get(_key_of(fields["parent"]))  # 404 before anything is created
        issue = self.new_issue(project_key, type_name, str(summary), at_ms, reporter=actor)
        self._index_add(issue)
        rest = {
            k: v for k, v in fields.items() if k not in ("project", "type", "issuetype", "title", "summary")
        }
        status = rest.pop("status", None)
        try:
            self.apply_fields(issue, rest)
            if status is not None:
                self._set_status(issue, _name_of(status), rest.get("resolution"))
        except Exception:
            # Refused: the issue never existed (Jira validates before it creates).
            self.set_parent(issue, None)
            self._index_remove(issue)
            del self.issues[issue.id]
            del self.by_key[issue.key]
            raise
        self.invalidate_neighbours(issue)
        self.emit(
            "jira:issue_created",
            {
                "issue_event_type_name": "issue_created",
                "user": self.render.user(actor),
                "issue": self.render.issue_webhook(issue),
            },
            at_ms,
            issue.project,
        )
        return issue

    def delete_issue(self, issue: Issue, actor: str, at_ms: int) -> None:
        for child in list(issue.children):
            if child.issue_type.subtask:
                self.delete_issue(child, actor, at_ms)
            else:
                # The children stay, without their parent: an update (with webhook) each.
                items = self.apply_fields(child, {"parent": None})
                self.record_change(child, items, actor, at_ms)
        for link_id in list(issue.link_ids):
            self.delete_link(self.links[link_id], actor, at_ms, notify_issue=issue)
        payload = {
            "issue_event_type_name": "issue_deleted",
            "user": self.render.user(actor),
            "issue": self.render.issue_webhook(issue),
        }
        self.set_parent(issue, None)
        self._index_remove(issue)
        del self.issues[issue.id]
        self.by_key.pop(issue.key, None)
        for old in issue.old_keys:
            self.moved_keys.pop(old, None)
        self.deleted_ids.add(issue.id)
        self.forget_json(issue)
        self.emit("jira:issue_deleted", payload, at_ms, issue.project)

    def create_link(self, type_name: str, source: Issue, destination: Issue, actor: str, at_ms: int) -> Link:
        for link_id in source.link_ids:
            existing = self.links[link_id]
            if existing.type_name == type_name and existing.destination is destination:
                return existing  # Jira answers 201 for a duplicate link and changes nothing
        link = self.add_link(type_name, source, destination)
        self.emit(
            "issuelink_created",
            {"issueLink": self.render.issue_link_webhook(link.id, type_name, source.id, destination.id)},
            at_ms,
        )
        link_type = LINK_TYPES[type_name]
        for issue, other, text in (
            (source, destination, link_type.outward),
            (destination, source, link_type.inward),
        ):
            item = {
                "field": "Link",
                "fieldtype": "jira",
                "from": None,
                "fromString": None,
                "to": other.key,
                "toString": f"This issue {text} {other.key}",
            }
            self.record_change(issue, [item], actor, at_ms)
        return link

    def delete_link(self, link: Link, actor: str, at_ms: int, notify_issue: Issue | None = None) -> None:
        del self.links[link.id]
        link.source.link_ids = [i for i in link.source.link_ids if i != link.id]
        link.destination.link_ids = [i for i in link.destination.link_ids if i != link.id]
        self.invalidate(link.source)
        self.invalidate(link.destination)
        self.emit(
            "issuelink_deleted",
            {
                "issueLink": self.render.issue_link_webhook(
                    link.id, link.type_name, link.source.id, link.destination.id
                )
            },
            at_ms,
        )
        link_type = LINK_TYPES[link.type_name]
        for issue, other, text in (
            (link.source, link.destination, link_type.outward),
            (link.destination, link.source, link_type.inward),
        ):
            if issue is notify_issue:
                continue
            item = {
                "field": "Link",
                "fieldtype": "jira",
                "from": other.key,
                "fromString": f"This issue {text} {other.key}",
                "to": None,
                "toString": None,
            }
            self.record_change(issue, [item], actor, at_ms)

    def move_issue(self, issue: Issue, project: str, actor: str, at_ms: int) -> None:
        old_key = issue.key
        number = self.next_number[project]
        self.next_number[project] = number + 1
        new_key = f"{project}-{number}"
        old_project = self.projects[issue.project]
        new_project = self.projects[project]
        del self.by_key[old_key]
        issue.old_keys = [*issue.old_keys, old_key]
        issue.key = new_key
        issue.project = project
        issue.fix_versions = []  # versions belong to the old project
        self.by_key[new_key] = issue
        self.moved_keys[old_key] = issue
        items: list[dict[str, Any]] = [
            {
                "field": "project",
                "fieldtype": "jira",
                "fieldId": "project",
                "from": old_project.id,
                "fromString": old_project.name,
                "to": new_project.id,
                "toString": new_project.name,
            },
            {
                "field": "Key",
                "fieldtype": "jira",
                "fieldId": "issuekey",
                "from": None,
                "fromString": old_key,
                "to": None,
                "toString": new_key,
            },
        ]
        self.record_change(issue, items, actor, at_ms)

    def comment_issue(self, issue: Issue, body: str, actor: str, at_ms: int) -> Comment:
        comment = self.add_comment(issue, actor, body, at_ms)
        self.set_updated(issue, at_ms)
        rendered = self.render.comment(issue, comment)
        # Jira sends both: the comment event and an issue update typed "issue_commented".
        self.emit(
            "comment_created",
            {"comment": rendered, "issue": self.render.issue_ref(issue)},
            at_ms,
            issue.project,
        )
        self.emit(
            "jira:issue_updated",
            {
                "issue_event_type_name": "issue_commented",
                "user": self.render.user(actor),
                "issue": self.render.issue_webhook(issue),
                "comment": rendered,
            },
            at_ms,
            issue.project,
        )
        return comment

    def emit(
        self, event: str, payload: dict[str, Any], at_ms: int | None = None, project: str | None = None
    ) -> None:
        """Send a webhook. `project` scopes issue events: a hook registered with a JQL filter on
        one project (see routes) only gets that project's issue events; other events go to all."""
        body = {"timestamp": at_ms if at_ms is not None else self.now_ms(), "webhookEvent": event, **payload}
        self.ctx.webhooks.emit("jira", event, body, scope=project)

    # --- helpers ---------------------------------------------------------------------------------

    def _account(self, value: Any) -> str | None:
        if value in (None, "", "-1"):
            return None
        if isinstance(value, dict):
            for key in ("accountId", "name", "emailAddress", "key"):
                if value.get(key):
                    return self._account(value[key])
            return None
        text = str(value)
        if text in self.users:
            return text
        for user in self.users.values():
            if text in (user.email, user.name, user.display_name):
                return user.account_id
        raise MutationError(f"User '{text}' does not exist.", 400)

    def _display(self, account: str | None) -> str | None:
        return self.users[account].display_name if account in self.users else None

    def _version_id(self, project: str, value: Any) -> int:
        name = _name_of(value) if isinstance(value, dict) and "name" in value else None
        ident = str(value.get("id")) if isinstance(value, dict) and value.get("id") else None
        for version in self.versions.values():
            if version.project != project:
                continue
            if ident is not None and str(version.id) == ident:
                return version.id
            if (name or str(value)) == version.name:
                return version.id
        raise MutationError(f"Version '{value}' is not valid for project {project}.", 400)

    def _sprint_ids(self, value: Any) -> list[int]:
        if value in (None, "", []):
            return []
        values = value if isinstance(value, list) else [value]
        ids = []
        for raw in values:
            v = str(raw.get("id", raw.get("name")) if isinstance(raw, dict) else raw)
            sprint = self.sprints.get(int(v)) if v.isdigit() else None
            sprint = sprint or next((s for s in self.sprints.values() if s.name == v), None)
            if sprint is None:
                raise MutationError(f"Sprint '{v}' does not exist.", 400)
            ids.append(sprint.id)
        return ids

    # --- truth and activity ----------------------------------------------------------------------

    def truth(self) -> dict[str, Any]:
        items = []
        versions = self.versions
        sprints = self.sprints
        for issue in sorted(self.issues.values(), key=lambda i: key_sort_value(i.key)):
            category = STATUSES[issue.status].category
            resolution = None
            if category == "done":
                resolution = "wont_do" if issue.resolution == "Won't Do" else "completed"
            sprint_name = None
            if issue.sprint_ids:
                sprint_name = sprints[issue.sprint_ids[-1]].name
            items.append(
                {
                    "tracker": "jira",
                    "id": str(issue.id),
                    "key": issue.key,
                    "scope": issue.project,
                    "url": f"{self.ctx.jira_base}/browse/{issue.key}",
                    "title": issue.summary,
                    "type": issue.type_name,
                    "kind": KIND_BY_TYPE.get(issue.type_name, "other"),
                    "status": issue.status,
                    "status_category": CATEGORY_TRUTH[category],
                    "resolution": resolution,
                    "assignee": issue.assignee,
                    "parent": issue.parent.key if issue.parent else None,
                    "estimate": issue.story_points,
                    "labels": list(issue.labels),
                    "releases": [versions[v].name for v in issue.fix_versions],
                    "sprint": sprint_name,
                    "start_date": issue.start_date,
                    "due_date": issue.due_date,
                    "created": iso_utc(issue.created_ms),
                    "updated": iso_utc(issue.updated_ms),
                    "resolved": iso_utc(issue.resolved_ms),
                }
            )
        links = []
        for link in sorted(self.links.values(), key=lambda lk: lk.id):
            links.append(
                {
                    "from": link.source.key,
                    "to": link.destination.key,
                    "type": TRUTH_LINK_TYPES.get(link.type_name, "relates"),
                    "origin": "jira_issuelink",
                }
            )
        links.extend(self._cross_tracker_truth())
        history: dict[str, list[dict[str, Any]]] = {}
        for issue in self.issues.values():
            entries = []
            for h in issue.histories:
                for item in h.items:
                    if item.get("field") == "status":
                        from_status = STATUSES.get(str(item["fromString"]))
                        to_status = STATUSES.get(str(item["toString"]))
                        entries.append(
                            {
                                "at": iso_utc(h.created_ms),
                                "from": item["fromString"],
                                "to": item["toString"],
                                "from_category": CATEGORY_TRUTH[from_status.category]
                                if from_status
                                else None,
                                "to_category": CATEGORY_TRUTH[to_status.category] if to_status else None,
                            }
                        )
            if entries:
                history[issue.key] = entries
        return {
            "items": items,
            "links": links,
            "releases": [
                {
                    "tracker": "jira",
                    "scope": v.project,
                    "id": str(v.id),
                    "name": v.name,
                    "due_date": v.release_date,
                    "released": v.released,
                }
                for v in self.versions.values()
            ],
            "sprints": [
                {
                    "tracker": "jira",
                    "id": str(s.id),
                    "name": s.name,
                    "state": s.state,
                    "start": iso_utc(s.start_ms),
                    "end": iso_utc(s.end_ms),
                }
                for s in self.sprints.values()
            ],
            "status_history": history,
            "people": [
                {
                    "name": p.name,
                    "email": p.email,
                    "jira_account_id": p.jira_account_id,
                    "github_login": p.github_login,
                }
                for p in demo.PEOPLE
            ],
        }

    def _cross_tracker_truth(self) -> list[dict[str, Any]]:
        """Links to GitHub this world carries: remote links and text references in descriptions."""
        from sandbox.jira.seed import cross_links_of

        return cross_links_of(self)

    def random_mutation(self, rng: random.Random) -> dict[str, Any]:
        if not self.issues:
            return {"op": "none"}
        issue = (
            self.issues[rng.choice(list(self.issues))] if len(self.issues) < 5000 else self._random_issue(rng)
        )
        roll = rng.random()
        actor = rng.choice(list(self.users))
        if roll < 0.45:
            order = ["To Do", "In Progress", "In Review", "Done"]
            nxt = order[min(order.index(issue.status) + 1, 3)] if issue.status != "Done" else "In Progress"
            op: dict[str, Any] = {"op": "update", "key": issue.key, "fields": {"status": nxt}, "actor": actor}
        elif roll < 0.6:
            op = {"op": "update", "key": issue.key, "fields": {"assignee": actor}, "actor": actor}
        elif roll < 0.7:
            points = rng.choice([1, 2, 3, 5, 8])
            op = {"op": "update", "key": issue.key, "fields": {"estimate": points}, "actor": actor}
        elif roll < 0.8:
            op = {"op": "comment", "key": issue.key, "body": "Status update: still on track.", "actor": actor}
        elif roll < 0.88:
            op = {"op": "touch", "key": issue.key, "actor": actor}
        elif roll < 0.95:
            other = self._random_issue(rng)
            if other is issue:
                op = {"op": "touch", "key": issue.key, "actor": actor}
            else:
                op = {"op": "link", "from": issue.key, "to": other.key, "type": "blocks", "actor": actor}
        elif roll < 0.98 and self._expendable(issue):
            # Rarely an issue goes away or changes project (never one the demo's links name).
            if roll < 0.97:
                op = {"op": "delete", "key": issue.key, "actor": actor}
            else:
                target = next((p for p in self.projects if p != issue.project), issue.project)
                op = {"op": "move", "key": issue.key, "to_project": target, "actor": actor}
        else:
            epic = issue.parent if issue.parent is not None else issue
            op = {
                "op": "create",
                "project": issue.project,
                "type": "Task" if epic.type_name == "Epic" else "Story",
                "title": f"Follow-up: {issue.summary}"[:200],
                "parent": epic.key if epic.type_name == "Epic" else None,
                "actor": actor,
            }
        result = self.mutate(op)
        return {"op": op["op"], **result}

    @staticmethod
    def _expendable(issue: Issue) -> bool:
        return (
            not issue.children
            and not issue.issue_type.subtask
            and (issue.number > demo.GUARANTEED_NUMBERS or bool(issue.old_keys))
        )

    def _random_issue(self, rng: random.Random) -> Issue:
        _, issue_id = self.by_updated[rng.randrange(len(self.by_updated))]
        return self.issues[issue_id]


def _remote_item(old: RemoteLink | None, new: RemoteLink | None) -> dict[str, Any]:
    # https://support.atlassian.com/jira-software-cloud/docs/what-are-issue-field-changes/
    return {
        "field": "RemoteIssueLink",
        "fieldtype": "jira",
        "from": str(old.id) if old else None,
        "fromString": f'This issue links to "{old.title}"' if old else None,
        "to": str(new.id) if new else None,
        "toString": f'This issue links to "{new.title}"' if new else None,
    }


def _name_of(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("name") or value.get("value") or value.get("id") or "")
    return str(value)


def _key_of(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("key") or value.get("id") or "")
    return str(value)


def _rid(resolution: str | None) -> str | None:
    return RESOLUTIONS.get(resolution) if resolution else None


def _project_key(value: Any, projects: dict[str, Project]) -> str:
    if isinstance(value, dict):
        if value.get("key"):
            return str(value["key"]).upper()
        if value.get("id"):
            value = value["id"]
    text = str(value or "")
    for project in projects.values():
        if text in (project.id, project.key, project.key.lower()):
            return project.key
    raise MutationError(f"project: valid project is required (got {text!r})", 400)


def anchor_end_ms(config: SandboxConfig, now: datetime) -> int:
    """The instant seeded history ends: 18:00 UTC on the anchor day, or a minute ago if that is later."""
    anchor: date = config.anchor_date()
    end = datetime(anchor.year, anchor.month, anchor.day, 18, 0, tzinfo=UTC)
    if end > now:
        return ms_of(now) - 60_000
    return ms_of(end)
