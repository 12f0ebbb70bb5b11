"""The Jira connector (Cloud and Data Center): listing, cursors, changelogs, reconcile, writes."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from connectors.base import Connector, SourceSettings
from connectors.errors import InvalidResponse, NotFound, RequestRejected
from connectors.jira import jql
from connectors.jira.client import JiraClient
from connectors.jira.mapping import (
    BASE_FIELDS,
    FieldMap,
    MappingContext,
    changelog_is_complete,
    discover_fields,
    map_issue,
    map_release,
    map_remote_links,
    map_sprint,
    parse_jira_datetime,
    remote_link_changed,
    status_categories_from,
)
from connectors.jira.webhooks import parse_webhook, verify_signature
from connectors.pacing import Pacer
from connectors.records import (
    ChangeBatch,
    ItemChanges,
    ItemDraft,
    ItemKind,
    ItemRef,
    LinkOrigin,
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

__all__ = ["JiraConnector"]

log = logging.getLogger("crosstrack.connectors.jira")

JIRA = TrackerKind.JIRA
CURSOR_VERSION = 1

# Deferred changelog reads (Cloud): one bulkfetch serves up to 1000 issues; flush earlier when
# about one answer's worth of histories waits, or after some pages (bounds how far a restart
# has to go back, since no cursor is given while issues wait).
_BULKFETCH_ISSUES = 1000
_BULKFETCH_HISTORIES = 10_000
_DEFER_PAGES = 20

_TYPE_NAME_BY_KIND = {
    ItemKind.INITIATIVE: "Initiative",
    ItemKind.EPIC: "Epic",
    ItemKind.STORY: "Story",
    ItemKind.TASK: "Task",
    ItemKind.BUG: "Bug",
    ItemKind.SUBTASK: "Sub-task",
    ItemKind.OTHER: "Task",
}
_CATEGORY_KEY = {
    StatusCategory.TODO: "new",
    StatusCategory.IN_PROGRESS: "indeterminate",
    StatusCategory.DONE: "done",
}
_RESOLUTION_NAME = {Resolution.COMPLETED: "Done", Resolution.WONT_DO: "Won't Do"}
_LINK_TYPE_NAME = {LinkType.BLOCKS: "Blocks", LinkType.RELATES: "Relates", LinkType.DUPLICATES: "Duplicate"}
_REMOTE_RELATIONSHIP = {
    LinkType.BLOCKS: ("blocks", "is blocked by"),
    LinkType.DUPLICATES: ("duplicates", "is duplicated by"),
    LinkType.RELATES: ("relates to", "relates to"),
    LinkType.MIRRORS: ("mirrors", "mirrors"),
}


@dataclass(slots=True)
class _Discovery:
    """What the connector learns once and keeps (in memory and in every cursor it hands out)."""

    zone: str
    fields: FieldMap
    categories: dict[str, StatusCategory]
    projects: dict[str, str] = field(default_factory=dict)  # project id -> key
    at: datetime | None = None  # when it was read; refreshed once it is older than a day

    def as_json(self) -> dict[str, Any]:
        return {
            "discovered_at": _iso(self.at),
            "tz": self.zone,
            "fields": self.fields.as_json(),
            "statuses": {k: v.value for k, v in self.categories.items()},
            "projects": self.projects,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> _Discovery | None:
        zone = data.get("tz")
        if not isinstance(zone, str) or not isinstance(data.get("fields"), Mapping):
            return None
        try:
            statuses = data.get("statuses") or {}
            return cls(
                zone=zone,
                fields=FieldMap.from_json(data["fields"]),
                categories={str(k): StatusCategory(v) for k, v in statuses.items()},
                projects={str(k): str(v) for k, v in (data.get("projects") or {}).items()},
                at=_instant(data.get("discovered_at")),
            )
        except (AttributeError, TypeError, ValueError):
            return None  # a damaged cursor: discover again


#: Where an issue sits in the scan order (``ORDER BY created ASC, id ASC``): (created, numeric id).
_SortKey = tuple[datetime, int]


@dataclass(frozen=True, slots=True)
class _Scan:
    """An interrupted scan: its lower bound, its start instant and where the next page begins.

    ``after`` is the sort key of the last issue read before ``offset`` (Data Center): a resumed
    scan checks that nothing before its offset left the result while no process was watching.
    """

    lower: datetime | None
    start: datetime
    offset: int = 0
    token: str | None = None
    after: _SortKey | None = None


@dataclass(frozen=True, slots=True)
class _CursorState:
    since: datetime | None
    scan: _Scan | None


@dataclass(frozen=True, slots=True)
class _Page:
    """One search answer, normalized across Cloud (token) and Data Center (offset) paging."""

    issues: list[dict[str, Any]]
    start_at: int
    total: int | None
    next_token: str | None
    last: bool
    server_date: datetime | None


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _sort_key(issue: Mapping[str, Any]) -> _SortKey | None:
    """The issue's place in the scan order, or None when its payload lacks ``created`` or a numeric id."""
    fields = issue.get("fields")
    created = fields.get("created") if isinstance(fields, Mapping) else None
    iid = str(issue.get("id", ""))
    if not isinstance(created, str) or not iid.isdigit():
        return None
    try:
        moment = parse_jira_datetime(created)
    except InvalidResponse:
        return None
    return None if moment is None else (moment, int(iid))


def _sort_key_from_json(value: Any) -> _SortKey | None:
    if not isinstance(value, list) or len(value) != 2 or not str(value[1]).isdigit():
        return None
    moment = _instant(value[0])
    return None if moment is None else (moment, int(value[1]))


class JiraConnector:
    """Jira Cloud (REST v3 ``search/jql``) and Data Center (REST v2 ``search``) behind :class:`Connector`.

    Options (``SourceSettings.options``), with defaults:

    - ``projects: list[str] = []`` project keys to sync (empty: every project the account sees);
    - ``jql: str | None = None`` an extra filter ANDed to every search;
    - ``overlap_minutes: int = 2`` how far each incremental search reaches back before the cursor
      (search is eventually consistent and JQL dates have minute granularity);
    - ``timezone: str | None = None`` the zone JQL dates are read in; default: ``/myself`` ``timeZone``;
    - ``page_size: int | None = None`` cap on ``maxResults`` (default: ask for the most and let the
      server cap it: 5000 on Cloud, 1000 on Data Center; about 100 come back with full fields);
    - ``story_points_field``, ``epic_link_field``, ``sprint_field``, ``start_date_field``: field ids
      that override discovery by ``schema.custom``;
    - ``fetch_remote_links: bool = True`` read remote links to GitHub (see below);
    - ``github_hosts: list[str] = ["github.com"]`` hosts whose issue URLs are GitHub items;
    - ``keep_raw: bool = True`` keep the issue payload on each record;
    - ``discovery_max_age_hours: float = 24`` how long discovered zone/fields/statuses are trusted;
    - transport: ``timeout_seconds = 60``, ``max_attempts = 6``, ``retry_backoff_seconds = 1.0``,
      ``max_rate_limit_wait_seconds = 300`` (a longer ``Retry-After`` is raised as RateLimited).

    Request economy (PRODUCT §10). Discovery (``/myself``, ``/field``, ``/status``) runs once per
    connector and is carried inside every cursor, so an incremental run of a fresh connector with a
    stored cursor sends exactly one search request when nothing changed. Changelogs come from the
    search ``expand=changelog``; only issues whose expanded changelog is truncated cost more
    (``changelog/bulkfetch`` for many issues at once on Cloud, ``/issue/{id}/changelog`` pages on
    Data Center). Remote links are one request per issue, so a listing reads them only for issues
    whose complete changelog has a ``RemoteIssueLink`` entry (Jira writes one whenever a remote link
    is added or removed): issues that have or had remote links, i.e. items with dependencies, each
    time they change; :meth:`fetch_item` (webhook and refetch path) always reads them. Records that
    read them list ``remote_link`` in ``links_complete``; all others leave stored remote links alone.
    https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-search/#api-rest-api-3-search-jql-get
    """

    def __init__(self, settings: SourceSettings, *, pacer: Pacer | None = None) -> None:
        if settings.kind is not TrackerKind.JIRA:
            raise ValueError(f"{settings.name}: JiraConnector needs a jira source, got {settings.kind}")
        self.settings = settings
        opts = settings.options
        self.cloud = settings.flavour.lower() != "datacenter"
        self.projects: tuple[str, ...] = tuple(str(p) for p in opts.get("projects") or ())
        self.extra_jql: str | None = opts.get("jql") or None
        self.overlap = timedelta(minutes=float(opts.get("overlap_minutes", 2)))
        self.page_size = int(opts.get("page_size") or (5000 if self.cloud else 1000))
        self.fetch_remote_links = bool(opts.get("fetch_remote_links", True))
        self.discovery_max_age = timedelta(hours=float(opts.get("discovery_max_age_hours", 24)))
        self.github_hosts: tuple[str, ...] = tuple(opts.get("github_hosts") or ("github.com",))
        self._client = JiraClient(settings, pacer=pacer)
        self.base_url = self._client.base_url
        self._api = "3" if self.cloud else "2"
        self._discovery: _Discovery | None = None
        self._ctx = MappingContext(
            base_url=self.base_url, keep_raw=bool(opts.get("keep_raw", True)), github_hosts=self.github_hosts
        )

    def __repr__(self) -> str:
        return f"JiraConnector(source={self.settings.name!r}, flavour={self.settings.flavour!r})"

    @property
    def stats(self) -> RequestStats:
        return self._client.stats

    def close(self) -> None:
        self._client.close()

    # -- discovery ------------------------------------------------------------------------------------

    def prime(self, cursor: str | None) -> None:
        """Adopt the discovery stored in a cursor without any request (e.g. before parsing webhooks)."""
        if cursor and self._discovery is None:
            data = self._load_json(cursor)
            if data is not None:
                self._adopt(_Discovery.from_json(data))

    def _adopt(self, discovery: _Discovery | None) -> None:
        if discovery is None:
            return
        self._discovery = discovery
        self._ctx.fields = discovery.fields
        self._ctx.categories = discovery.categories

    def discover(self, *, refresh: bool = False) -> None:
        """Read the account's time zone, the custom field ids and the status categories (3 requests)."""
        if self._discovery is not None and not refresh:
            return
        opts = self.settings.options
        zone = opts.get("timezone")
        if not zone:
            me = self._client.get("myself", api=self._api) or {}
            zone = me.get("timeZone") or "UTC"
        try:
            ZoneInfo(str(zone))
        except (ZoneInfoNotFoundError, ValueError):
            log.warning("connector.jira.timezone.unknown", extra={"source": self.settings.name, "zone": zone})
            zone = "UTC"
        fields = self._client.get("field", api=self._api)
        if not isinstance(fields, list):
            raise InvalidResponse("GET /field did not answer a list", source=self.settings.name)
        fieldmap = discover_fields(fields, opts)
        categories: dict[str, StatusCategory] = dict(self._ctx.categories)
        try:
            statuses = self._client.get("status", api=self._api)
        except NotFound:
            statuses = []  # learn categories from issues' current statuses instead
        if isinstance(statuses, list):
            categories.update(status_categories_from(statuses))
        projects = self._discovery.projects if self._discovery else {}
        self._adopt(_Discovery(str(zone), fieldmap, categories, projects, datetime.now(UTC)))
        log.info(
            "connector.jira.discovery",
            extra={"source": self.settings.name, "zone": zone, "fields": fieldmap.as_json()},
        )

    @property
    def zone(self) -> ZoneInfo:
        self.discover()
        assert self._discovery is not None
        return ZoneInfo(self._discovery.zone)

    def _fields(self) -> str:
        return ",".join((*BASE_FIELDS, *self._ctx.fields.ids()))

    # -- cursors -------------------------------------------------------------------------------------

    def _load_json(self, cursor: str) -> dict[str, Any] | None:
        try:
            data = orjson.loads(cursor)
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, dict) or data.get("v") != CURSOR_VERSION:
            log.warning("connector.jira.cursor.unreadable", extra={"source": self.settings.name})
            return None
        return data

    def _parse_cursor(self, cursor: str | None) -> _CursorState:
        if not cursor:
            return _CursorState(None, None)
        data = self._load_json(cursor)
        if data is None:  # a cursor we cannot read: a full scan loses nothing
            return _CursorState(None, None)
        if self._discovery is None:
            self._adopt(_Discovery.from_json(data))
        scan = None
        if isinstance(raw := data.get("scan"), Mapping) and (start := _instant(raw.get("start"))) is not None:
            scan = _Scan(
                _instant(raw.get("lower")),
                start,
                int(raw.get("offset") or 0),
                raw.get("token"),
                _sort_key_from_json(raw.get("after")),
            )
        return _CursorState(_instant(data.get("since")), scan)

    def _dump_cursor(self, since: datetime | None, scan: _Scan | None) -> str:
        assert self._discovery is not None
        body: dict[str, Any] = {"v": CURSOR_VERSION, "since": _iso(since), "scan": None}
        if scan is not None:
            body["scan"] = {
                "lower": _iso(scan.lower),
                "start": _iso(scan.start),
                "offset": scan.offset,
                "token": scan.token,
                "after": None if scan.after is None else [_iso(scan.after[0]), str(scan.after[1])],
            }
        body.update(self._discovery.as_json())
        return orjson.dumps(body).decode()

    # -- listing -------------------------------------------------------------------------------------

    def list_changed(self, cursor: str | None) -> Iterator[ChangeBatch]:
        """Stream issues changed since the cursor, one page per batch.

        Order and cursor rule (the hazard: "issues jump between pages if sorted by updated"). We
        sort by ``created`` (then id), which an edit never changes, so an item edited mid-scan
        stays where it was and offset/token paging cannot skip a neighbour; an edit that makes an
        item newly match shifts later items *down*, which only repeats one (deduplicated by id,
        keeping the newest ``updated``). The final cursor is the server's ``Date`` of the scan's
        first page: everything edited after that instant is read again by the next run (from
        that instant minus the overlap). Mid-scan batches carry the position so a restart resumes
        the same scan. What paging cannot protect against is an issue *removed* (deleted, moved
        out of scope) mid-scan shifting an unseen one up: Data Center reports ``total`` and we
        step back when it shrinks; on Cloud :meth:`reconcile` lists every id, and the ids in
        ``present_ids`` the model does not know are the ones to fetch.

        Pages are prefetched one ahead (the tracker works while we map). Issues whose expanded
        changelog is truncated are held back on Cloud until one bulkfetch completes many of them;
        batches carry no cursor (``None``) while any is held, so a restart never skips them.

        Resuming (PRODUCT §5.1, "a restart resumes"). Two hazards come with a scan that one
        process began and another finishes:

        - Issues removed between the crash and the restart shift unread issues up into positions
          already read, and the new process has no earlier ``total`` to compare with (a deletion
          plus a creation leaves it unchanged anyway). On Data Center a mid-scan cursor keeps the
          sort key of the last issue read; the resumed scan asks from one issue before its offset
          and steps back a page while the first issue answered sorts after that key.
        - The resumed scan's final cursor is its original start, so whatever changed between
          that start and this run (edits to issues it had already read) would wait for the next
          run. A catch-up scan from that start (minus the overlap) follows at once: every run
          leaves the model at least as fresh as the instant it began.
        """
        state = self._parse_cursor(cursor)
        # The account's time zone or the custom fields may change: re-read them now and then
        # (three requests once a day; every other incremental stays at one request).
        found = self._discovery
        stale = found is not None and (
            found.at is None or datetime.now(UTC) - found.at > self.discovery_max_age
        )
        self.discover(refresh=stale)
        if state.scan is not None:
            yield from self._scan(state)
            state = _CursorState(state.scan.start, None)  # what the resumed scan's last batch stored
        yield from self._scan(state)

    def _scan(self, state: _CursorState) -> Iterator[ChangeBatch]:
        """One scan: a fresh one (``state.scan is None``) from ``state.since``, or the rest of ``state.scan``."""
        scan = state.scan or _Scan(lower=state.since, start=datetime.min.replace(tzinfo=UTC))
        fresh = state.scan is None
        since_text = None
        if scan.lower is not None:
            since_text = jql.format_jql_instant(scan.lower, self.zone, self.overlap)
        query = jql.changed_since_jql(self.projects, self.extra_jql, since_text)
        seen: dict[str, datetime] = {}
        offset, token = scan.offset, scan.token
        start = scan.start
        # Data Center, resumed: start one issue early, to check it is one this scan read already.
        anchor = scan.after if not (fresh or self.cloud or offset == 0) else None
        if anchor is not None:
            offset -= 1
        last_key = scan.after
        last_total: int | None = None
        pages = 0
        # Issues whose expanded changelog is truncated wait here until one bulkfetch can serve
        # many of them (Cloud); batches give no cursor while any wait, so nothing is skipped.
        deferred: list[tuple[Mapping[str, Any], datetime]] = []
        deferred_histories = 0
        pages_deferred = 0
        # The next page is fetched (and decoded) in a background thread while this one is mapped
        # and consumed: the tracker's time and ours overlap instead of adding up. Only the next
        # page of the same scan is prefetched, so no request is sent that a scan would not send.
        prefetch = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jira-prefetch")
        try:
            pending: Future[_Page] | None = prefetch.submit(
                self._search_page, query, offset, token, changelog=True
            )
            while pending is not None:
                try:
                    page = pending.result()
                except RequestRejected:
                    if token is None or pages:
                        raise
                    # A stored nextPageToken the server no longer accepts: restart this scan.
                    log.warning("connector.jira.cursor.token_expired", extra={"source": self.settings.name})
                    token, offset = None, 0
                    pending = prefetch.submit(self._search_page, query, offset, token, changelog=True)
                    continue
                issues = page.issues
                if anchor is not None:
                    first = _sort_key(issues[0]) if issues else None
                    if page.start_at > 0 and (first is None or first > anchor):
                        # Issues before our offset left the result since the scan was interrupted:
                        # unread ones moved up into positions already read. Step back a page.
                        log.info(
                            "connector.jira.scan.resume_shifted",
                            extra={"source": self.settings.name, "offset": page.start_at},
                        )
                        offset = max(0, page.start_at - (len(issues) or self.page_size))
                        pending = prefetch.submit(self._search_page, query, offset, None, changelog=True)
                        continue
                    # Issues up to the anchor were read before the interruption (later edits of
                    # theirs are the catch-up scan's business).
                    issues = [i for i in issues if (key := _sort_key(i)) is None or key > anchor]
                    anchor = None
                pages += 1
                if fresh and pages == 1:
                    start = page.server_date or datetime.now(UTC)
                shrink = (last_total - page.total) if page.total is not None and last_total is not None else 0
                shrunk = shrink > 0
                last_total = page.total
                if shrunk:
                    # Data Center: issues left the result mid-scan and later ones moved up into
                    # positions already read: step back by as many and read again (deduplicated).
                    log.info("connector.jira.scan.shrunk", extra={"source": self.settings.name, "by": shrink})
                    offset = max(0, page.start_at - shrink)
                    token = None
                elif not page.last:
                    offset, token = page.start_at + len(page.issues), page.next_token
                    if page.issues:
                        last_key = _sort_key(page.issues[-1])
                pending = None
                if shrunk or not page.last:
                    pending = prefetch.submit(self._search_page, query, offset, token, changelog=True)
                accepted = self._accept(issues, seen)
                truncated = [e for e in accepted if not changelog_is_complete(e[0].get("changelog"))]
                if truncated and self.cloud:
                    deferred.extend(truncated)
                    deferred_histories += sum(
                        int((e[0].get("changelog") or {}).get("total") or 0) for e in truncated
                    )
                    waiting = {id(e[0]) for e in truncated}
                    records = self._finish([e for e in accepted if id(e[0]) not in waiting], {})
                elif truncated:
                    records = self._finish(accepted, self._fetch_histories([e[0] for e in truncated]))
                else:
                    records = self._finish(accepted, {})
                if deferred:
                    pages_deferred += 1
                    if (
                        pending is None
                        or len(deferred) >= _BULKFETCH_ISSUES
                        or deferred_histories >= _BULKFETCH_HISTORIES
                        or pages_deferred >= _DEFER_PAGES
                    ):
                        full = self._fetch_histories([e[0] for e in deferred])
                        records += self._finish(deferred, full)
                        deferred, deferred_histories, pages_deferred = [], 0, 0
                log.info(
                    "connector.jira.page",
                    extra={"source": self.settings.name, "items": len(page.issues), "offset": page.start_at},
                )
                batch = tuple(records)
                if shrunk or deferred:
                    yield ChangeBatch(batch, None)
                elif pending is None:
                    yield ChangeBatch(batch, self._dump_cursor(start, None))
                else:
                    resume = _Scan(scan.lower, start, offset, token, last_key)
                    yield ChangeBatch(batch, self._dump_cursor(state.since, resume))
        finally:
            prefetch.shutdown(wait=True, cancel_futures=True)

    def _search_page(
        self,
        query: str,
        offset: int,
        token: str | None,
        *,
        changelog: bool,
        fields: str | None = None,
        page_size: int | None = None,
    ) -> _Page:
        params: dict[str, Any] = {"jql": query, "maxResults": page_size or self.page_size}
        params["fields"] = fields if fields is not None else self._fields()
        if changelog:
            params["expand"] = "changelog"
        if self.cloud:
            if token:
                params["nextPageToken"] = token
            response = self._client.request("GET", "search/jql", params=params, api="3")
        else:
            params["startAt"] = offset
            response = self._client.request("GET", "search", params=params, api="2")
        data = response.data
        if not isinstance(data, Mapping) or not isinstance(data.get("issues"), list):
            raise InvalidResponse("search answered without an issues list", source=self.settings.name)
        issues: list[dict[str, Any]] = data["issues"]
        if self.cloud:
            next_token = data.get("nextPageToken") or None
            # No total on Cloud, and short pages happen: only a missing token ends the scan.
            last = next_token is None or next_token == token or data.get("isLast") is True
            return _Page(issues, offset, None, next_token, last, response.server_date)
        total = data.get("total")
        start_at = int(data.get("startAt") or offset)
        total_i = int(total) if isinstance(total, int) else None
        last = not issues or (total_i is not None and start_at + len(issues) >= total_i)
        return _Page(issues, start_at, total_i, None, last, response.server_date)

    def _accept(
        self, issues: Sequence[Mapping[str, Any]], seen: dict[str, datetime]
    ) -> list[tuple[Mapping[str, Any], datetime]]:
        """Drop repeats (keeping the newest ``updated``) and learn the page's current statuses."""
        fresh: list[tuple[Mapping[str, Any], datetime]] = []
        categories = self._ctx.categories
        new_statuses = []
        for issue in issues:
            if not isinstance(issue, dict) or not isinstance(issue.get("fields") or {}, dict):
                raise InvalidResponse(
                    "search answered an issue that is not an object", source=self.settings.name
                )
            iid = str(issue.get("id"))
            fields = issue.get("fields") or {}
            try:
                updated = parse_jira_datetime(fields.get("updated"))
            except InvalidResponse as exc:
                raise InvalidResponse(
                    f"search result {iid}: {exc.message}", source=self.settings.name
                ) from None
            if updated is None:
                raise InvalidResponse(f"search result {iid} has no updated field", source=self.settings.name)
            previous = seen.get(iid)
            if previous is not None and previous >= updated:
                continue  # the same issue seen again (the result shifted): keep the newest only
            seen[iid] = updated
            fresh.append((issue, updated))
            status = fields.get("status")
            if isinstance(status, dict) and str(status.get("id")) not in categories:
                new_statuses.append(status)
        # Learn the categories of every current status before reading any history.
        if new_statuses:
            categories.update(status_categories_from(new_statuses))
        return fresh

    def _finish(
        self,
        entries: Sequence[tuple[Mapping[str, Any], datetime]],
        full_histories: Mapping[str, list[dict[str, Any]]],
    ) -> list[WorkItemRecord]:
        records: list[WorkItemRecord] = []
        for issue, updated in entries:
            iid = str(issue["id"])
            histories = full_histories.get(iid)
            try:
                record = map_issue(issue, self._ctx, histories=histories, updated=updated)
            except InvalidResponse as exc:
                raise InvalidResponse(exc.message, source=self.settings.name) from None
            if self.fetch_remote_links:
                raw_histories = (
                    histories if histories is not None else (issue.get("changelog") or {}).get("histories")
                )
                # Only issues that have (or had) remote links cost a /remotelink read: those are
                # items with dependencies, and every change of theirs refreshes the whole list.
                if raw_histories and remote_link_changed(raw_histories, None):
                    record = self._with_remote_links(record)
            records.append(record)
        return records

    # -- changelogs and remote links ------------------------------------------------------------------

    def _fetch_histories(self, issues: Sequence[Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
        """Complete histories for issues whose expanded changelog was truncated."""
        ids = [str(i["id"]) for i in issues]
        if self.cloud:
            try:
                return self._bulkfetch(ids)
            except NotFound:
                pass  # an instance without bulkfetch: page per issue
        return {iid: self._paged_changelog(iid) for iid in ids}

    def _bulkfetch(self, ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """``POST /rest/api/3/changelog/bulkfetch``: many issues' histories in few requests.

        https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-changelog-bulkfetch-post
        """
        out: dict[str, list[dict[str, Any]]] = {iid: [] for iid in ids}
        for chunk_start in range(0, len(ids), 1000):
            body: dict[str, Any] = {
                "issueIdsOrKeys": list(ids[chunk_start : chunk_start + 1000]),
                "maxResults": 10000,
            }
            seen_tokens: set[str] = set()
            while True:
                data = self._client.post("changelog/bulkfetch", body, api="3", idempotent=True)
                if not isinstance(data, Mapping):
                    raise InvalidResponse("changelog/bulkfetch answered no object", source=self.settings.name)
                for entry in data.get("issueChangeLogs") or ():
                    out.setdefault(str(entry.get("issueId")), []).extend(entry.get("changeHistories") or ())
                token = data.get("nextPageToken")
                if not token or token in seen_tokens:
                    break
                seen_tokens.add(token)
                body["nextPageToken"] = token
        return out

    def _paged_changelog(self, id_or_key: str) -> list[dict[str, Any]]:
        """``GET /issue/{id}/changelog`` page by page (startAt/maxResults/isLast).

        Data Center versions without that resource answer 404: there ``GET /issue/{id}?expand=changelog``
        returns the whole history in one answer.
        """
        histories: list[dict[str, Any]] = []
        start = 0
        while True:
            try:
                data = self._client.get(
                    f"issue/{id_or_key}/changelog", {"startAt": start, "maxResults": 1000}, api=self._api
                )
            except NotFound:
                if self.cloud or start:
                    raise
                whole = self._client.get(f"issue/{id_or_key}", {"fields": "created", "expand": "changelog"})
                return list(((whole or {}).get("changelog") or {}).get("histories") or [])
            if not isinstance(data, Mapping):
                raise InvalidResponse(f"changelog of {id_or_key} is not an object", source=self.settings.name)
            values = data.get("values") or data.get("histories") or []
            histories.extend(values)
            total = data.get("total")
            start += len(values)
            if not values or data.get("isLast") is True or (isinstance(total, int) and start >= total):
                return histories

    def _remote_links(self, id_or_key: str) -> list[dict[str, Any]]:
        data = self._client.get(f"issue/{id_or_key}/remotelink", api=self._api)
        return data if isinstance(data, list) else []

    def _with_remote_links(self, record: WorkItemRecord) -> WorkItemRecord:
        remote = map_remote_links(record.ref, self._remote_links(record.external_id), self.github_hosts)
        return replace(
            record,
            links=(*record.links, *remote),
            links_complete=record.links_complete | {LinkOrigin.REMOTE_LINK},
        )

    # -- single items -------------------------------------------------------------------------------

    def fetch_item(self, ref: ItemRef) -> WorkItemRecord:
        """Read one issue now, by id when known (a moved issue answers under its new key).

        The record's ``key`` is the current one: callers compare it with ``ref.key`` to see a
        move (same external id). Its status history and (with ``fetch_remote_links``) its remote
        links are complete.
        """
        self.discover()
        target = ref.external_id or ref.key
        if not target:
            raise RequestRejected("fetch_item needs a key or an id", source=self.settings.name)
        data = self._client.get(
            f"issue/{target}", {"fields": self._fields(), "expand": "changelog"}, api=self._api
        )
        if not isinstance(data, Mapping) or "fields" not in data:
            raise InvalidResponse(f"GET issue {target} answered no issue", source=self.settings.name)
        self._ctx.categories.update(status_categories_from([data["fields"].get("status") or {}]))
        histories = None
        if not changelog_is_complete(data.get("changelog")):
            histories = self._paged_changelog(str(data["id"]))
        try:
            record = map_issue(data, self._ctx, histories=histories)
        except InvalidResponse as exc:
            raise InvalidResponse(exc.message, source=self.settings.name) from None
        if self.fetch_remote_links:
            record = self._with_remote_links(record)
        return record

    # -- reconcile ------------------------------------------------------------------------------------

    def reconcile(self, known: Sequence[ItemRef]) -> ReconcileResult:
        """List ids only (``fields=id``, the largest pages) and read single issues only for known ones
        missing from that list: 404 means deleted, an answer under another key means moved."""
        self.discover()
        query = jql.changed_since_jql(self.projects, self.extra_jql, None, order="id ASC")
        present: set[str] = set()
        offset, token = 0, None
        while True:
            page = self._search_page(query, offset, token, changelog=False, fields="id", page_size=5000)
            present.update(str(i["id"]) for i in page.issues if "id" in i)
            if page.last:
                break
            offset, token = page.start_at + len(page.issues), page.next_token
        moved: dict[str, str] = {}
        deleted: set[str] = set()
        for ref in known:
            if ref.external_id is not None and ref.external_id in present:
                continue
            target = ref.external_id or ref.key
            try:
                data = self._client.get(f"issue/{target}", {"fields": "project"}, api=self._api)
            except NotFound:
                if ref.external_id:
                    deleted.add(ref.external_id)
                continue
            if not isinstance(data, Mapping) or "id" not in data:
                continue
            iid, key = str(data["id"]), str(data.get("key") or "")
            present.add(iid)
            if key and key != ref.key:
                moved[iid] = key
        log.info(
            "connector.jira.reconcile",
            extra={
                "source": self.settings.name,
                "present": len(present),
                "moved": len(moved),
                "deleted": len(deleted),
            },
        )
        return ReconcileResult(present_ids=frozenset(present), moved=moved, deleted_ids=frozenset(deleted))

    # -- releases and sprints ---------------------------------------------------------------------------

    def _project_keys(self) -> list[str]:
        if self.projects:
            return list(self.projects)
        data = self._client.get("project", api="2")
        return [str(p["key"]) for p in data or () if isinstance(p, Mapping) and p.get("key")]

    def list_releases(self) -> Iterator[ReleaseRecord]:
        """Fix versions of every configured project (``GET /project/{key}/versions``)."""
        self.discover()
        assert self._discovery is not None
        for key in self._project_keys():
            versions = self._client.get(f"project/{key}/versions", api="2")
            for version in versions or ():
                if version.get("projectId") is not None:
                    self._discovery.projects[str(version["projectId"])] = key
                yield map_release(version, key, self.base_url)

    def list_sprints(self) -> Iterator[SprintRecord]:
        """Sprints of every board of the configured projects (Jira Software agile API)."""
        seen: set[str] = set()
        for key in self._project_keys():
            for board in self._agile_pages("/rest/agile/1.0/board", {"projectKeyOrId": key}):
                for raw in self._agile_pages(f"/rest/agile/1.0/board/{board['id']}/sprint", {}):
                    sprint = map_sprint(raw)
                    if sprint is not None and sprint.external_id not in seen:
                        seen.add(sprint.external_id)
                        yield sprint

    def _agile_pages(self, path: str, params: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        start = 0
        while True:
            try:
                data = self._client.get(path, {**params, "startAt": start, "maxResults": 50})
            except NotFound:
                return
            values = (data or {}).get("values") or []
            yield from values
            start += len(values)
            if not values or data.get("isLast", True):
                return

    # -- webhooks ----------------------------------------------------------------------------------------

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> None:
        verify_signature(self.settings.webhook_secret, headers, body, source=self.settings.name)

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """Parse a verified delivery. Needs the discovered field ids: call :meth:`prime` with the
        stored cursor first, or this runs discovery once (three requests) for the connector's life."""
        self.discover()
        assert self._discovery is not None
        return parse_webhook(headers, body, self._ctx, self._discovery.projects)

    # -- writes ------------------------------------------------------------------------------------------

    def _person_field(self, who: str) -> dict[str, str]:
        return {"accountId": who} if self.cloud else {"name": who}

    def create_item(self, draft: ItemDraft) -> WorkItemRecord:
        """``POST /rest/api/2/issue`` then read it back (two requests)."""
        self.discover()
        fields: dict[str, Any] = {
            "project": {"key": draft.scope},
            "summary": draft.title,
            "issuetype": {"name": draft.original_type or _TYPE_NAME_BY_KIND[draft.kind]},
        }
        if draft.body:
            fields["description"] = draft.body
        if draft.labels:
            fields["labels"] = list(draft.labels)
        if draft.assignee:
            fields["assignee"] = self._person_field(draft.assignee)
        if draft.parent is not None:
            parent_ref = draft.parent.external_id or draft.parent.key
            if self.cloud or draft.kind is ItemKind.SUBTASK or self._ctx.fields.epic_link is None:
                fields["parent"] = {"id": parent_ref} if draft.parent.external_id else {"key": parent_ref}
            else:
                fields[self._ctx.fields.epic_link] = draft.parent.key
        created = self._client.post("issue", {"fields": fields})
        if not isinstance(created, Mapping) or "id" not in created:
            raise InvalidResponse("POST /issue answered no id", source=self.settings.name)
        return self.fetch_item(ItemRef(JIRA, str(created.get("key") or ""), str(created["id"])))

    def update_item(self, ref: ItemRef, changes: ItemChanges) -> WorkItemRecord:
        """Edit fields (``PUT /issue/{id}``) and, when asked, transition; then read it back.

        ``assignee=""`` unassigns.
        """
        target = ref.external_id or ref.key
        fields: dict[str, Any] = {}
        if changes.title is not None:
            fields["summary"] = changes.title
        if changes.body is not None:
            fields["description"] = changes.body
        if changes.labels is not None:
            fields["labels"] = list(changes.labels)
        if changes.assignee is not None:
            fields["assignee"] = self._person_field(changes.assignee) if changes.assignee else None
        if fields:
            self._client.put(f"issue/{target}", {"fields": fields})
        if changes.status_category is not None:
            return self._transition(ref, changes.status_category, changes.resolution)
        return self.fetch_item(ref)

    def transition(self, ref: ItemRef, category: StatusCategory) -> WorkItemRecord:
        return self._transition(ref, category, None)

    def _transition(
        self, ref: ItemRef, category: StatusCategory, resolution: Resolution | None
    ) -> WorkItemRecord:
        """Move the issue to the first status of ``category`` its workflow offers from here.

        https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-issueidorkey-transitions-get
        """
        target = ref.external_id or ref.key
        data = self._client.get(f"issue/{target}/transitions", {"expand": "transitions.fields"})
        transitions = (data or {}).get("transitions") or []
        wanted = _CATEGORY_KEY[category]
        choice = next(
            (
                t
                for t in transitions
                if ((t.get("to") or {}).get("statusCategory") or {}).get("key") == wanted
            ),
            None,
        )
        current = self.fetch_item(ref)
        if current.status_category is category and (resolution is None or current.resolution is resolution):
            return current
        if choice is None:
            raise RequestRejected(
                f"issue {current.key} has no transition to a {category.value} status from {current.original_status!r}",
                source=self.settings.name,
            )
        body: dict[str, Any] = {"transition": {"id": str(choice["id"])}}
        if category is StatusCategory.DONE:
            accepts_resolution = "resolution" in (choice.get("fields") or {})
            if accepts_resolution or resolution is not None:
                body["fields"] = {
                    "resolution": {"name": _RESOLUTION_NAME[resolution or Resolution.COMPLETED]}
                }
        self._client.post(f"issue/{target}/transitions", body)
        return self.fetch_item(ref)

    def add_comment(self, ref: ItemRef, body: str) -> str:
        data = self._client.post(f"issue/{ref.external_id or ref.key}/comment", {"body": body})
        if not isinstance(data, Mapping) or "id" not in data:
            raise InvalidResponse("POST comment answered no id", source=self.settings.name)
        return str(data["id"])

    def add_link(self, link: LinkRecord) -> None:
        """Jira↔Jira: an issue link (``inwardIssue`` is the link's source: "A blocks B" is
        inward A, outward B). Jira↔GitHub: a remote link on the Jira side, with a relationship
        phrased from that side. https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-links/
        """
        src, dst = link.source, link.target
        if src.tracker is JIRA and dst.tracker is JIRA:
            type_name = _LINK_TYPE_NAME.get(link.type)
            if type_name is None:
                raise RequestRejected(
                    f"Jira has no issue link type for {link.type.value}", source=self.settings.name
                )
            self._client.post(
                "issueLink",
                {
                    "type": {"name": type_name},
                    "inwardIssue": {"key": src.key} if src.key else {"id": src.external_id},
                    "outwardIssue": {"key": dst.key} if dst.key else {"id": dst.external_id},
                },
            )
            return
        if src.tracker is JIRA:
            jira_side, other, relationship = src, dst, _REMOTE_RELATIONSHIP[link.type][0]
        elif dst.tracker is JIRA:
            jira_side, other, relationship = dst, src, _REMOTE_RELATIONSHIP[link.type][1]
        else:
            raise RequestRejected("add_link needs a Jira item on one side", source=self.settings.name)
        url = _github_url(other, self.github_hosts[0])
        self._client.post(
            f"issue/{jira_side.external_id or jira_side.key}/remotelink",
            {
                "globalId": url,
                "application": {"type": "com.github", "name": "GitHub"},
                "relationship": relationship,
                "object": {"url": url, "title": other.key},
            },
        )


def _github_url(ref: ItemRef, host: str) -> str:
    repo, _, number = ref.key.partition("#")
    if not repo or not number.isdigit():
        raise RequestRejected(f"not a GitHub issue key: {ref.key!r}")
    return f"https://{host}/{repo}/issues/{number}"


def _conforms(connector: JiraConnector) -> Connector:
    """Typing check only: mypy verifies that JiraConnector implements the Connector protocol."""
    return connector
