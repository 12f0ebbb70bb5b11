"""The GitHub connector (github.com and Enterprise Server): the :class:`~connectors.base.Connector`
Protocol on top of :class:`~connectors.github.client.GitHubClient` and the pure mapping.

Options (``SourceSettings.options``) and their defaults:

==============================  =================================================================
``org``                         organization login (required unless every repo is a full name)
``repos``                       ``["web", "acme/api"]``: names in ``org`` or full names; empty →
                                every repository of ``org`` (listed once per connector instance)
``epic_types``                  ``["Epic"]``: issue type names that make an epic
``epic_labels``                 ``["epic"]``: labels that make an epic when there is no type
``type_kinds``                  ``{"Bug": "bug", "Feature": "story", "Task": "task", "Epic": "epic"}``
``label_kinds``                 ``{"bug": "bug"}``: label → kind, used when the type says nothing
``in_progress_labels``          ``["in progress"]``: an open issue with one of them is in progress
``projects_v2``                 ``[]``: ``[{"number": 1, "status_field": "Status", "in_progress_values":
                                ["In Progress"], "done_values": ["Done"], "iteration_field":
                                "Iteration", "estimate_field": "Estimate"}]``
``overlap_seconds``             ``60``: how far back an incremental scan re-reads
``page_size``                   ``100``: issues per list page (GitHub's maximum)
``max_rate_limit_wait_seconds`` ``900``: longer waits raise RateLimited instead of sleeping here
``retries``                     ``3``: retries of a GET after a transient failure or a rate limit
``retry_backoff_seconds``       ``1.0``: first backoff of those retries (doubles)
``seconds_between_writes``      ``1.0``: GitHub asks for a pause between content-creating requests
==============================  =================================================================

Listing and the cursor (the hazard: GitHub pages by page number over a sort that moves when an
issue changes, so plain paging can skip an issue updated mid-scan):
https://docs.github.com/en/rest/issues/issues#list-repository-issues

- Each repository has a window ``since=S``, read ``sort=updated&direction=asc``. Instead of following
  ``page=2, 3…`` the scan re-anchors after each page: the next request is ``since=<updated_at of the
  page's last issue>`` (page 1). An issue updated mid-scan gets a newer ``updated_at`` and moves
  *ahead* of the scan, where it is read later in the same scan; a deleted or transferred issue cannot
  shift unread issues into pages already read. Only when a whole page shares one ``updated_at``
  second does the scan switch to page numbers, and then newest first: an issue updated meanwhile
  jumps to the front (read twice, never skipped) and the next window starts when that part began.
  The anchor issue is not delivered twice.
- Conditional requests: when a window's first page was the whole window with room to spare, the
  next run sends exactly that request again with ``If-None-Match``. Any change would land inside
  that short page (an updated issue moves to its end, a new one is appended), so a 304 proves that
  nothing changed: an unchanged repository costs one request, and 304s do not count against the
  primary rate limit. After a longer scan the next window starts at the server ``Date`` of its last
  answer minus ``overlap_seconds``, and its first page is read at once (one more request) to pick up
  what changed meanwhile and to store that ETag.
- The cursor (JSON) keeps per repository ``since``, ``page``, ``etag``, ``seen`` (the newest
  ``updated_at`` delivered: older issues in a window are not delivered again) and whether a scan is
  under way, so a restarted scan resumes where it stopped instead of starting over; once the
  resumed scan ends, the next window's first page is read in the same run (what changed since the
  interrupted scan began, including issues it had already read).
- Limits: deletions are not seen by listing (``reconcile`` finds them); an issue that the list index
  shows later than ``overlap_seconds`` after its update may be missed until its next change; an issue
  deleted or transferred out while a scan pages through more than 100 issues sharing one second can
  hide one unchanged neighbour from that scan (GitHub offers no key to page such a block by).
- Pull requests come in the same list: they are not work items, but their "closes #12" bodies
  add ``linked_pull_requests`` to the issues they close that are read later in the same scan (an
  issue read before the pull request does not get it until it is read again).
- Dependencies cost extra calls only for issues whose ``issue_dependencies_summary`` counts some;
  parents come free from ``parent_issue_url`` (so ``sub_issues_summary`` needs no call); Projects v2
  field values are read once per run (all item pages), and only when some repository changed.
- ``status_history`` is ``None`` (not fetched): GitHub keeps it in per-issue events, a request per
  issue; the engine records the changes it observes. Webhook items carry no Projects v2 signal.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.base import SourceSettings
from connectors.errors import (
    AuthError,
    InvalidResponse,
    NotFound,
    RequestRejected,
)
from connectors.github.client import PER_PAGE, GitHubClient
from connectors.github.mapping import (
    Dependencies,
    MappingConfig,
    ProjectFields,
    ProjectSignals,
    closing_references,
    dependency_needs,
    is_pull_request,
    issue_ref,
    map_issue,
    map_milestone,
    parse_project_fields,
    parse_time,
    project_item_signals,
    repo_of_issue,
)
from connectors.github.webhooks import parse_delivery, verify_signature
from connectors.pacing import Pacer
from connectors.records import (
    ChangeBatch,
    ItemChanges,
    ItemDraft,
    ItemKind,
    ItemRef,
    LinkRecord,
    LinkType,
    ReconcileResult,
    ReleaseRecord,
    RequestStats,
    Resolution,
    SprintRecord,
    StatusCategory,
    TrackerKind,
    WebhookEvent,
    WorkItemRecord,
)

__all__ = ["GitHubConnector", "RepoState", "parse_key"]

log = logging.getLogger("crosstrack.connectors.github")

CURSOR_VERSION = 1
_PENDING_PR_LIMIT = 50_000  # targets remembered from pull requests within one scan


def parse_key(key: str) -> tuple[str, int]:
    """``acme/web#34`` → (``acme/web``, 34); RequestRejected when it is not a GitHub key."""
    repo, sep, number = key.rpartition("#")
    if not sep or repo.count("/") != 1 or not number.isdigit():
        raise RequestRejected(f"not a GitHub issue key: {key!r} (expected owner/repo#number)")
    return repo, int(number)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


@dataclass(slots=True)
class RepoState:
    """One repository's position in the cursor (see the module docstring)."""

    since: str | None = None
    page: int = 1
    etag: str | None = None
    seen: str | None = None
    newest: str | None = None
    scanning: bool = False
    floor: str | None = None
    direction: str = "asc"
    mark: str | None = None

    @classmethod
    def load(cls, raw: Mapping[str, Any]) -> RepoState:
        return cls(
            since=raw.get("since"),
            page=int(raw.get("page", 1)),
            etag=raw.get("etag"),
            seen=raw.get("seen"),
            newest=raw.get("newest"),
            scanning=bool(raw.get("scanning", False)),
            floor=raw.get("floor"),
            direction=str(raw.get("direction", "asc")),
            mark=raw.get("mark"),
        )


@dataclass(slots=True)
class _Scan:
    """Per-run state that is not part of the cursor."""

    pending_prs: dict[str, list[str]] = field(default_factory=dict)
    signals: dict[str, ProjectSignals] | None = None
    # id -> updated_at of the previous page: the re-anchored next page starts with the anchor again
    previous_page: dict[Any, Any] = field(default_factory=dict)


class GitHubConnector:
    """GitHub issues of the configured repositories as work items (PRODUCT §4.2). See the module doc."""

    def __init__(
        self,
        settings: SourceSettings,
        *,
        pacer: Pacer | None = None,
        clock: Callable[[], datetime] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if settings.kind is not TrackerKind.GITHUB:
            raise ValueError(f"source {settings.name!r} is not a GitHub source")
        options = settings.options
        self.settings = settings
        self.org: str | None = options.get("org")
        self.config = MappingConfig.from_options(options)
        self.overlap = timedelta(seconds=float(options.get("overlap_seconds", 60)))
        self.page_size = max(1, min(int(options.get("page_size") or PER_PAGE), PER_PAGE))
        self._clock = clock or (lambda: datetime.now(UTC))
        self._stats = RequestStats()
        self._client = GitHubClient(
            settings,
            pacer=pacer,
            stats=self._stats,
            clock=self._clock,
            sleep=sleep,
            max_wait_seconds=float(options.get("max_rate_limit_wait_seconds", 900)),
            retries=int(options.get("retries", 3)),
            backoff_seconds=float(options.get("retry_backoff_seconds", 1.0)),
            seconds_between_writes=options.get("seconds_between_writes", 1.0),
        )
        self._repos: list[str] | None = self._configured_repos(options.get("repos") or ())
        self._project_fields: list[ProjectFields] | None = None
        self._signals_cache: dict[str, ProjectSignals] | None = None

    def __repr__(self) -> str:
        return f"GitHubConnector(source={self.settings.name!r}, base_url={self.settings.base_url!r})"

    @property
    def stats(self) -> RequestStats:
        return self._stats

    @property
    def client(self) -> GitHubClient:
        return self._client

    def close(self) -> None:
        self._client.close()

    # -- configuration ----------------------------------------------------------------------------

    def _configured_repos(self, names: Sequence[str]) -> list[str] | None:
        repos: list[str] = []
        for name in names:
            if "/" in name:
                repos.append(name)
            elif self.org:
                repos.append(f"{self.org}/{name}")
            else:
                raise ValueError(f"repository {name!r} needs an org (set options.org or use owner/name)")
        return repos or None

    def repositories(self) -> list[str]:
        """The repositories this source syncs (listed from the org once when none are configured)."""
        if self._repos is None:
            if not self.org:
                raise ValueError("a GitHub source needs options.repos or options.org")
            repos: list[str] = []
            for page in self._client.paginate(f"/orgs/{self.org}/repos", {"per_page": 100, "type": "all"}):
                repos.extend(
                    str(r["full_name"])
                    for r in self._list(page.data, "repositories")
                    if not r.get("archived")
                )
            self._repos = sorted(repos)
        return list(self._repos)

    # -- webhook redelivery -----------------------------------------------------------------------

    def redeliver_failed(self, since: datetime, url_contains: str) -> int:
        """Ask GitHub to redeliver this source's failed webhook deliveries made since ``since``.

        GitHub does not retry a failed delivery by itself
        (https://docs.github.com/en/webhooks/using-webhooks/handling-failed-webhook-deliveries).
        Hooks are ours when their URL contains ``url_contains`` (``/webhooks/github/<source>``); a
        delivery is failed when no attempt for its ``guid`` got a 2xx. Hooks this token may not
        list (it needs admin rights) are skipped with a log line. Returns the redeliveries asked.
        """
        hook_paths: list[str] = []
        owners = [f"/repos/{repo}" for repo in self.repositories()] + (
            [f"/orgs/{self.org}"] if self.org else []
        )
        for owner in owners:
            try:
                hooks = self._list(self._client.get(f"{owner}/hooks").data, "hooks")
            except (AuthError, NotFound) as exc:
                log.info("connector.github.hooks.unreadable", extra={"owner": owner, "reason": str(exc)})
                continue
            hook_paths += [
                f"{owner}/hooks/{h['id']}"
                for h in hooks
                if url_contains in str((h.get("config") or {}).get("url", ""))
            ]
        asked = 0
        for hook in hook_paths:
            succeeded: set[str] = set()
            failed: dict[str, Mapping[str, Any]] = {}
            for page in self._client.paginate(f"{hook}/deliveries", {"per_page": 100}):
                rows = self._list(page.data, "deliveries")
                for d in rows:
                    guid = str(d.get("guid"))
                    if 200 <= int(d.get("status_code") or 0) < 300:
                        succeeded.add(guid)
                    else:
                        failed.setdefault(guid, d)
                oldest = parse_time(rows[-1].get("delivered_at")) if rows else None
                if oldest is not None and oldest < since:
                    break  # newest first: the rest is older than the window
            for guid, d in failed.items():
                at = parse_time(d.get("delivered_at"))
                if guid in succeeded or (at is not None and at < since):
                    continue
                self._client.post(f"{hook}/deliveries/{d['id']}/attempts", {})
                asked += 1
        if asked:
            log.info("connector.github.redeliveries", extra={"source": self.settings.name, "asked": asked})
        return asked

    # -- listing ----------------------------------------------------------------------------------

    def list_changed(self, cursor: str | None) -> Iterator[ChangeBatch]:
        states = self._load_cursor(cursor)
        scan = _Scan()
        for repo in self.repositories():
            state = states.setdefault(repo, RepoState())
            yield from self._scan_repo(repo, state, states, scan)

    def _load_cursor(self, cursor: str | None) -> dict[str, RepoState]:
        if not cursor:
            return {}
        try:
            raw = json.loads(cursor)
            if raw.get("v") != CURSOR_VERSION:
                raise ValueError(f"cursor version {raw.get('v')!r}")
            return {repo: RepoState.load(value) for repo, value in raw["repos"].items()}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise RequestRejected(f"unreadable GitHub cursor ({exc})", source=self.settings.name) from exc

    @staticmethod
    def _dump_cursor(states: Mapping[str, RepoState]) -> str:
        return json.dumps(
            {"v": CURSOR_VERSION, "repos": {repo: dataclasses.asdict(s) for repo, s in states.items()}},
            separators=(",", ":"),
            sort_keys=True,
        )

    def _scan_repo(
        self, repo: str, state: RepoState, states: Mapping[str, RepoState], scan: _Scan
    ) -> Iterator[ChangeBatch]:
        etag: str | None = None
        resumed = state.scanning  # a scan an earlier process began: finish it, then catch up
        if not state.scanning:
            # A new run: ask for the window's first page, conditionally when the last run stored the
            # ETag of this very request (only kept when that answer was the whole window).
            etag = state.etag
            self._open_window(state)
        floor = parse_time(state.floor)
        requests, settled = 0, False
        while True:
            requests += 1
            response = self._client.get(
                f"/repos/{repo}/issues", self._issues_params(state, state.direction), etag=etag
            )
            etag = None
            if response.not_modified:
                state.scanning, state.floor = False, None
                log.info("connector.github.unchanged", extra={"source": self.settings.name, "repo": repo})
                return
            payloads = self._list(response.data, f"issues of {repo}")
            records, newest_on_page = self._map_page(repo, payloads, floor, scan)
            newest = parse_time(state.newest)
            if newest_on_page is not None and (newest is None or newest_on_page > newest):
                state.newest = _iso(newest_on_page)
            server_now = response.server_date or self._clock()
            reopen = False
            if response.next_url is None:
                repeatable = self._finish(state, response.etag, len(payloads), server_now)
                # After a scan of several pages, read the next window's first page right away: it
                # picks up what changed during the scan and usually gives the ETag that makes the
                # next quiet run a single 304 (once per run, so constant churn cannot keep us here).
                # A resumed scan too, however short its rest: its window began before this run, and
                # changes made since to issues it had read (a newest-first part puts them on pages
                # already read) must not wait for yet another run.
                reopen = not repeatable and (requests > 1 or resumed) and not settled
            else:
                self._advance(state, payloads, server_now)
            log.info(
                "connector.github.page",
                extra={
                    "source": self.settings.name,
                    "repo": repo,
                    "items": len(records),
                    "done": not state.scanning,
                },
            )
            yield ChangeBatch(tuple(records), self._dump_cursor(states), scope=repo)
            if reopen:
                settled = True
                self._open_window(state)
                floor = parse_time(state.floor)
            elif not state.scanning:
                return

    def _open_window(self, state: RepoState) -> None:
        seen = parse_time(state.seen)
        state.floor = _iso(seen - self.overlap) if seen else None
        state.scanning, state.page, state.newest, state.direction = True, 1, state.seen, "asc"

    def _issues_params(self, state: RepoState, direction: str) -> dict[str, Any]:
        params: dict[str, Any] = {
            "state": "all",
            "sort": "updated",
            "direction": direction,
            "per_page": self.page_size,
            "page": state.page,
        }
        if state.since:
            params["since"] = state.since
        return params

    def _finish(self, state: RepoState, etag: str | None, count: int, server_now: datetime) -> bool:
        """The window's last page was read: choose where the next run's window starts.

        When this answer was ascending page 1 with room to spare, it *is* the whole window: the next
        run repeats it with ``If-None-Match``. Any change would alter it (an updated or new issue
        lands inside that short page), so a 304 proves nothing changed. Otherwise the next window
        starts at the server ``Date`` minus the overlap (for a newest-first part: when it began).
        """
        since = parse_time(state.since)
        horizon = server_now - self.overlap
        repeatable = (
            state.direction == "asc"
            and state.page == 1
            and count < self.page_size
            and etag is not None
            and (since is None or since <= horizon)
        )
        if not repeatable:
            start = parse_time(state.mark) if state.direction == "desc" else None
            state.since = _iso(start - self.overlap) if start else _iso(horizon)
            etag = None
        state.page, state.etag, state.scanning, state.floor = 1, etag, False, None
        state.direction, state.mark = "asc", None
        state.seen = state.newest
        return repeatable

    def _advance(self, state: RepoState, payloads: Sequence[Mapping[str, Any]], server_now: datetime) -> None:
        """Move the query position past a full page (re-anchor on the last ``updated_at``).

        A full page that all shares the anchor's second cannot be re-anchored. Page numbers must
        take over, and ascending page numbers would skip an issue whenever one before it is updated
        (it moves to the end and the rest shift back). Descending, an update moves the issue to the
        front and the rest shift forward (read twice, never skipped), so the rest of the window is read
        newest first, by page number, and the next window starts when that began.
        """
        if state.direction == "desc":
            state.page += 1
            return
        last = parse_time(payloads[-1].get("updated_at")) if payloads else None
        current = parse_time(state.since)
        if last is not None and (current is None or last.replace(microsecond=0) > current):
            state.since, state.page = _iso(last), 1
        else:
            state.direction, state.page, state.mark = "desc", 1, _iso(server_now)

    def _map_page(
        self, repo: str, payloads: Sequence[Mapping[str, Any]], skip_before: datetime | None, scan: _Scan
    ) -> tuple[list[WorkItemRecord], datetime | None]:
        newest: datetime | None = None
        issues: list[Mapping[str, Any]] = []
        previous, scan.previous_page = scan.previous_page, {}
        for payload in payloads:
            stamp = payload.get("updated_at")
            scan.previous_page[payload.get("id")] = stamp
            if previous.get(payload.get("id"), False) == stamp:
                continue  # the same issue, unchanged, already delivered with the previous page
            updated = parse_time(stamp)
            if updated is not None and (newest is None or updated > newest):
                newest = updated
            if is_pull_request(payload):
                pr_key = f"{repo}#{payload.get('number')}"
                for target in closing_references(payload, repo):
                    if target.tracker is TrackerKind.GITHUB and len(scan.pending_prs) < _PENDING_PR_LIMIT:
                        scan.pending_prs.setdefault(target.key, []).append(pr_key)
                continue
            if skip_before is not None and updated is not None and updated < skip_before:
                continue
            issues.append(payload)
        if issues and scan.signals is None:
            scan.signals = self._project_signals()
        records = [self._map_listed(repo, payload, scan) for payload in issues]
        return records, newest

    def _map_listed(self, repo: str, payload: Mapping[str, Any], scan: _Scan) -> WorkItemRecord:
        key = f"{repo}#{payload.get('number')}"
        return map_issue(
            payload,
            self.config,
            repo=repo,
            signals=(scan.signals or {}).get(key),
            dependencies=self._dependencies(repo, payload),
            linked_pull_requests=scan.pending_prs.get(key, ()),
        )

    def _dependencies(self, repo: str, payload: Mapping[str, Any]) -> Dependencies | None:
        needs = dependency_needs(payload)
        if needs is None or needs == (False, False):
            return None
        blocked_by_needed, blocking_needed = needs
        number = payload["number"]
        blocked_by = (
            self._dependency_list(f"/repos/{repo}/issues/{number}/dependencies/blocked_by")
            if blocked_by_needed
            else ()
        )
        blocking = (
            self._dependency_list(f"/repos/{repo}/issues/{number}/dependencies/blocking")
            if blocking_needed
            else ()
        )
        return Dependencies(blocked_by=blocked_by, blocking=blocking)

    def _dependency_list(self, path: str) -> tuple[ItemRef, ...]:
        refs: list[ItemRef] = []
        for page in self._client.paginate(path, {"per_page": 100}):
            refs.extend(issue_ref(p) for p in self._list(page.data, path))
        return tuple(refs)

    def _list(self, data: Any, what: str) -> list[Mapping[str, Any]]:
        if not isinstance(data, list) or not all(isinstance(x, dict) for x in data):
            raise InvalidResponse(f"expected a JSON list of {what}", source=self.settings.name)
        return data

    # -- Projects v2 --------------------------------------------------------------------------------

    def _fields(self) -> list[ProjectFields]:
        if self._project_fields is None:
            fields: list[ProjectFields] = []
            for project in self.config.projects:
                if not self.org:
                    raise ValueError("projects_v2 needs options.org")
                raw: list[Mapping[str, Any]] = []
                path = f"/orgs/{self.org}/projectsV2/{project.number}/fields"
                for page in self._client.paginate(path, {"per_page": 100}):
                    raw.extend(self._list(page.data, path))
                fields.append(parse_project_fields(raw, project, self._clock()))
            self._project_fields = fields
        return self._project_fields

    def _project_signals(self) -> dict[str, ProjectSignals]:
        """Status / iteration / estimate per issue key, from every configured project (read once a run)."""
        signals: dict[str, ProjectSignals] = {}
        if not self.config.projects:
            return signals
        now = self._clock()
        for fields in self._fields():
            path = f"/orgs/{self.org}/projectsV2/{fields.config.number}/items"
            params: dict[str, Any] = {"per_page": 100}
            if fields.field_ids:
                params["fields"] = ",".join(fields.field_ids)
            for page in self._client.paginate(path, params):
                for item in self._list(page.data, path):
                    found = project_item_signals(item, fields, now)
                    if found is None:
                        continue
                    key, value = found
                    old = signals.get(key)
                    signals[key] = _merge(old, value) if old else value
        self._signals_cache = signals
        return signals

    # -- single items ---------------------------------------------------------------------------------

    def fetch_item(self, ref: ItemRef) -> WorkItemRecord:
        """Read one issue now. A transferred issue comes back under its new key (same id)."""
        repo, number = parse_key(ref.key)
        payload = self._get_issue(repo, number)
        actual_repo = repo_of_issue(payload)
        key = f"{actual_repo}#{payload['number']}"
        signals = (self._signals_cache or {}).get(key)
        return map_issue(
            payload,
            self.config,
            repo=actual_repo,
            signals=signals,
            dependencies=self._dependencies(actual_repo, payload),
        )

    def _get_issue(self, repo: str, number: int) -> Mapping[str, Any]:
        # PyGithub follows the 301 of a transferred issue: the payload then names the new repository.
        data = self._client.get(f"/repos/{repo}/issues/{number}").data
        if not isinstance(data, dict):
            raise InvalidResponse(
                f"GET /repos/{repo}/issues/{number}: not an issue object", source=self.settings.name
            )
        if is_pull_request(data):
            raise NotFound(f"{repo}#{number} is a pull request, not an issue", source=self.settings.name)
        return data

    def reconcile(self, known: Sequence[ItemRef]) -> ReconcileResult:
        """List the ids of every issue in the synced repositories, then read only the missing ones:
        200 from another repository → moved (301 followed; the old id maps to the new key and is not in
        ``present_ids``), 410 → deleted, 404 → unreadable (reported as deleted)."""
        repos = set(self.repositories())
        listed_ids: set[str] = set()
        listed_keys: dict[str, str] = {}
        wanted_repos = sorted({parse_key(r.key)[0] for r in known} & repos)
        for repo in wanted_repos:
            params = {"state": "all", "per_page": 100}
            for page in self._client.paginate(f"/repos/{repo}/issues", params):
                for payload in self._list(page.data, f"issues of {repo}"):
                    if is_pull_request(payload):
                        continue
                    listed_ids.add(str(payload["id"]))
                    listed_keys[f"{repo}#{payload['number']}"] = str(payload["id"])
        present: set[str] = set()
        moved: dict[str, str] = {}
        new_ids: dict[str, str] = {}
        deleted: set[str] = set()
        for ref in known:
            ident = ref.external_id or listed_keys.get(ref.key)
            if ident and (ident in listed_ids or listed_keys.get(ref.key) == ident):
                present.add(ident)
                continue
            repo, number = parse_key(ref.key)
            try:
                payload = self._get_issue(repo, number)
            except NotFound:  # 404 and 410 (Gone is a NotFound)
                deleted.add(ref.external_id or ref.key)
                continue
            ident = str(payload["id"])
            new_key = f"{repo_of_issue(payload)}#{payload['number']}"
            if new_key != ref.key:
                # A transfer: GitHub answered 301 and PyGithub followed it. The new issue has a new
                # database id, so the old id maps to the new key (and new id) and is not "present".
                moved[ref.external_id or ident] = new_key
                if ref.external_id and ref.external_id != ident:
                    new_ids[ref.external_id] = ident
            elif ref.external_id and ident != ref.external_id:
                deleted.add(ref.external_id)
            else:
                present.add(ident)
        return ReconcileResult(
            present_ids=frozenset(present), moved=moved, deleted_ids=frozenset(deleted), new_ids=new_ids
        )

    def list_releases(self) -> Iterator[ReleaseRecord]:
        for repo in self.repositories():
            path = f"/repos/{repo}/milestones"
            for page in self._client.paginate(path, {"state": "all", "per_page": 100}):
                for milestone in self._list(page.data, path):
                    release = map_milestone(milestone, repo)
                    if release is not None:
                        yield release

    def list_sprints(self) -> Iterator[SprintRecord]:
        seen: set[str] = set()
        for fields in self._fields():
            for sprint in fields.sprints.values():
                if sprint.external_id not in seen:
                    seen.add(sprint.external_id)
                    yield sprint

    # -- webhooks ---------------------------------------------------------------------------------------

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> None:
        verify_signature(self.settings.webhook_secret, headers, body, source=self.settings.name)

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        return parse_delivery(headers, body, self.config)

    # -- writes (mirroring, PRODUCT §7) -------------------------------------------------------------------

    def _type_for(self, kind: ItemKind) -> str | None:
        if kind is ItemKind.EPIC and self.config.epic_types:
            return sorted(self.config.epic_types)[0]
        for name, mapped in self.config.type_kinds.items():
            if mapped is kind:
                return name
        return None

    def create_item(self, draft: ItemDraft) -> WorkItemRecord:
        body: dict[str, Any] = {"title": draft.title}
        if draft.body is not None:
            body["body"] = draft.body
        if draft.labels:
            body["labels"] = list(draft.labels)
        if draft.assignee:
            body["assignees"] = [draft.assignee]
        type_name = draft.original_type or self._type_for(draft.kind)
        if type_name:
            body["type"] = type_name
        payload = self._object(self._client.post(f"/repos/{draft.scope}/issues", body).data, "created issue")
        record = map_issue(payload, self.config, repo=draft.scope)
        if draft.parent is not None:
            self.add_sub_issue(draft.parent, record.ref)
            record = dataclasses.replace(record, parent=ItemRef(TrackerKind.GITHUB, draft.parent.key))
        return record

    def update_item(self, ref: ItemRef, changes: ItemChanges) -> WorkItemRecord:
        repo, number = parse_key(ref.key)
        body: dict[str, Any] = {}
        if changes.title is not None:
            body["title"] = changes.title
        if changes.body is not None:
            body["body"] = changes.body
        if changes.labels is not None:
            body["labels"] = list(changes.labels)
        if changes.assignee is not None:
            body["assignees"] = [changes.assignee] if changes.assignee else []
        if changes.status_category is not None:
            body.update(_state_fields(changes.status_category, changes.resolution))
        if not body:
            return self.fetch_item(ref)
        return self._patch(repo, number, body)

    def transition(self, ref: ItemRef, category: StatusCategory) -> WorkItemRecord:
        """Close as completed (DONE), or reopen; IN_PROGRESS / TODO also add / remove the first
        ``in_progress_labels`` label so the mapped status follows even for unassigned issues."""
        repo, number = parse_key(ref.key)
        current = self._get_issue(repo, number)
        body = _state_fields(category, None)
        labels = [str(label["name"]) for label in current.get("labels") or ()]
        marks = self.config.in_progress_labels
        if category is StatusCategory.IN_PROGRESS and marks and not any(lb.lower() in marks for lb in labels):
            body["labels"] = [*labels, sorted(marks)[0]]
        elif category is StatusCategory.TODO and any(lb.lower() in marks for lb in labels):
            body["labels"] = [lb for lb in labels if lb.lower() not in marks]
        return self._patch(repo, number, body)

    def _patch(self, repo: str, number: int, body: Mapping[str, Any]) -> WorkItemRecord:
        payload = self._object(
            self._client.patch(f"/repos/{repo}/issues/{number}", body).data, "updated issue"
        )
        return map_issue(payload, self.config)

    def add_comment(self, ref: ItemRef, body: str) -> str:
        repo, number = parse_key(ref.key)
        comment = self._object(
            self._client.post(f"/repos/{repo}/issues/{number}/comments", {"body": body}).data, "comment"
        )
        return str(comment["id"])

    def add_link(self, link: LinkRecord) -> None:
        """``source`` blocks ``target`` → ``target`` is blocked_by ``source`` (GitHub issue dependencies;
        the write endpoints take the database id, not the number)."""
        if link.type is not LinkType.BLOCKS:
            raise RequestRejected(
                f"GitHub has no {link.type.value!r} links between issues", source=self.settings.name
            )
        if link.source.tracker is not TrackerKind.GITHUB or link.target.tracker is not TrackerKind.GITHUB:
            raise RequestRejected("GitHub dependencies link two GitHub issues", source=self.settings.name)
        repo, number = parse_key(link.target.key)
        blocker_id = self._database_id(link.source)
        self._client.post(f"/repos/{repo}/issues/{number}/dependencies/blocked_by", {"issue_id": blocker_id})

    def add_sub_issue(self, parent: ItemRef, child: ItemRef) -> None:
        repo, number = parse_key(parent.key)
        self._client.post(
            f"/repos/{repo}/issues/{number}/sub_issues", {"sub_issue_id": self._database_id(child)}
        )

    def _database_id(self, ref: ItemRef) -> int:
        if ref.external_id and ref.external_id.isdigit():
            return int(ref.external_id)
        repo, number = parse_key(ref.key)
        return int(self._get_issue(repo, number)["id"])

    def _object(self, data: Any, what: str) -> Mapping[str, Any]:
        if not isinstance(data, dict):
            raise InvalidResponse(
                f"GitHub answered something that is not a {what}", source=self.settings.name
            )
        return data


def _state_fields(category: StatusCategory, resolution: Resolution | None) -> dict[str, Any]:
    if category is StatusCategory.DONE:
        reason = "not_planned" if resolution is Resolution.WONT_DO else "completed"
        return {"state": "closed", "state_reason": reason}
    return {"state": "open"}


def _merge(old: ProjectSignals, new: ProjectSignals) -> ProjectSignals:
    return ProjectSignals(
        status=old.status or new.status,
        status_category=old.status_category or new.status_category,
        sprint=old.sprint or new.sprint,
        estimate=old.estimate if old.estimate is not None else new.estimate,
    )
