"""The Jira REST endpoints crosstrack and the `jira` client use, over a `JiraWorld`.

Paths are relative to the `/jira` mount and exist under both `/rest/api/2` (plain-text rich text,
what `jira` 3.10 uses by default) and `/rest/api/3` (Atlassian Document Format). Reference:
https://developer.atlassian.com/cloud/jira/platform/rest/v3/ (Cloud) and
https://docs.atlassian.com/software/jira/docs/api/REST/9.12.0/ (Data Center). Errors carry Jira's
body, `{"errorMessages": [...], "errors": {...}}`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import zlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sandbox.core import MutationError, dumps, json_response
from sandbox.jira.jql import JqlError
from sandbox.jira.model import (
    CUSTOM_EPIC_LINK,
    CUSTOM_SPRINT,
    CUSTOM_START_DATE,
    CUSTOM_STORY_POINTS,
    ISSUE_TYPES,
    LINK_TYPES,
    PRIORITIES,
    RESOLUTIONS,
    STATUSES,
    TRANSITIONS,
    Issue,
)
from sandbox.jira.payloads import FieldSelection, adf_to_text, parse_field_selection

if TYPE_CHECKING:
    from sandbox.jira.world import JiraWorld

__all__ = ["build_routes"]

Handler = Callable[[Request], Awaitable[Response]]
log = logging.getLogger("sandbox.jira")

SEARCH_CHANGELOG_CAP = 40  # search/jql returns fewer histories than GET issue (about 40)
ISSUE_CHANGELOG_CAP = 100
# Jira Server/Data Center does not truncate an expanded changelog; only Cloud caps it.
UNCAPPED = 1 << 30
ID_ONLY_MAX_RESULTS = 5000
NOT_FOUND_ISSUE = "Issue does not exist or you do not have permission to see it."
SEARCH_GONE = (
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
    "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"
)


# The search crosstrack's Jira connector sends on every scan (connectors/jira: BASE_FIELDS plus the
# custom fields it discovers from GET /field here, `expand=changelog`; v3 search/jql on Cloud, v2
# /search on Data Center). The world encodes its issues in this rendering at seeding time
# (`JiraWorld.warm_json_cache`); tests/sandbox checks this list against the connector's.
CROSSTRACK_FIELDS = (
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
    CUSTOM_STORY_POINTS,
    CUSTOM_SPRINT,
)


def crosstrack_search(cloud: bool) -> tuple[int, FieldSelection, int]:
    """(API version, fields, changelog cap) of crosstrack's search on this flavour."""
    custom = CUSTOM_START_DATE if cloud else CUSTOM_EPIC_LINK
    selection = parse_field_selection([",".join((*CROSSTRACK_FIELDS, custom))], "id")
    return (3, selection, SEARCH_CHANGELOG_CAP) if cloud else (2, selection, UNCAPPED)


def error(status: int, *messages: str, errors: dict[str, str] | None = None) -> Response:
    return json_response({"errorMessages": list(messages), "errors": errors or {}}, status)


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value else default
    except ValueError:
        return default


def _token(offset: int, jql: str) -> str:
    raw = f"{offset}:{zlib.crc32(jql.encode()):08x}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _offset_of(token: str, jql: str) -> int | None:
    """The position a nextPageToken stands for, or None when it was not issued for this query."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        offset, crc = raw.split(":")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    if crc != f"{zlib.crc32(jql.encode()):08x}" or not offset.isdigit():
        return None
    return int(offset)


class JiraRoutes:
    def __init__(self, world: JiraWorld) -> None:
        self.world = world
        self.render = world.render

    # --- plumbing --------------------------------------------------------------------------------

    def authenticate(self, request: Request) -> str | None:
        """The caller's accountId: Basic email:API-token (Cloud) or Bearer personal token (DC)."""
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        credentials = self.world.credentials
        if scheme.lower() == "basic":
            try:
                user, _, secret = base64.b64decode(value).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return None
            found = credentials.get(secret)
            if found is None:
                return None
            account = self.world.users[found[0]]
            return account.account_id if user in (account.email, account.name, account.account_id) else None
        if scheme.lower() == "bearer":
            found = credentials.get(value.strip())
            return found[0] if found else None
        return None

    def endpoint(self, fn: Callable[[Request, str], Awaitable[Response]], version: int = 2) -> Handler:
        async def handle(request: Request) -> Response:
            request.scope.setdefault("path_params", {})["version"] = version
            account = self.authenticate(request)
            if account is None:
                response = error(
                    401, "You are not authenticated. Authentication required to perform this operation."
                )
                response.headers["WWW-Authenticate"] = 'Basic realm="protected-by-jira"'
                response.headers["X-Seraph-LoginReason"] = "AUTHENTICATED_FAILED"
                return response
            try:
                return await fn(request, account)
            except MutationError as failure:
                return error(failure.status, str(failure))
            except JqlError as failure:
                return error(400, str(failure))
            except (TypeError, ValueError, KeyError, AttributeError) as failure:
                # A body of the wrong shape (a number where Jira wants an object, ...): Jira
                # answers 400; the sandbox says what it could not read.
                log.info("sandbox.jira.bad_request path=%s error=%r", request.url.path, failure)
                return error(400, f"Could not read the request: {type(failure).__name__}: {failure}")

        return handle

    def zone_of(self, account: str) -> str:
        """JQL dates are read in the searching account's profile time zone."""
        return self.world.users[account].time_zone

    @staticmethod
    def api_version(request: Request) -> int:
        return int(request.path_params.get("version", 2))

    async def body(self, request: Request) -> dict[str, Any]:
        raw = await request.body()
        if not raw:
            return {}
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as failure:
            raise MutationError(f"Unexpected character in the request body: {failure}", 400) from None
        if not isinstance(data, dict):
            raise MutationError("The request body must be a JSON object.", 400)
        return data

    def issue_or_404(self, id_or_key: str) -> Issue:
        issue = self.world.find(id_or_key)
        if issue is None:
            raise MutationError(NOT_FOUND_ISSUE, 404)
        return issue

    # --- server, user, metadata ------------------------------------------------------------------

    async def server_info(self, request: Request, account: str) -> Response:
        world = self.world
        now = world.now_ms()
        from sandbox.jira.payloads import jira_time

        if world.cloud:
            version, numbers, build, deployment = "1001.0.0-SNAPSHOT", [1001, 0, 0], 100294, "Cloud"
        else:
            version, numbers, build, deployment = "9.12.8", [9, 12, 8], 9120008, "Server"
        return json_response(
            {
                "baseUrl": world.ctx.jira_base,
                "displayUrl": world.ctx.jira_base,
                "version": version,
                "versionNumbers": numbers,
                "deploymentType": deployment,
                "buildNumber": build,
                "buildDate": "2026-11-01T00:00:00.000+0000",
                "serverTime": jira_time(now, "UTC"),
                "scmInfo": "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567",
                "serverTitle": "Acme Jira (sandbox)",
                "serverTimeZone": "Etc/UTC",
            }
        )

    async def myself(self, request: Request, account: str) -> Response:
        user = self.render.user_obj(self.world.users[account], self.api_version(request))
        user |= {
            "locale": "en_US",
            "groups": {"size": 1, "items": []},
            "applicationRoles": {"size": 1, "items": []},
            "expand": "groups,applicationRoles",
        }
        return json_response(user)

    async def user(self, request: Request, account: str) -> Response:
        wanted = request.query_params.get("accountId") or request.query_params.get("username") or ""
        for user in self.world.users.values():
            if wanted in (user.account_id, user.name, user.email):
                return json_response(self.render.user_obj(user, self.api_version(request)))
        return error(404, f"The user with account ID '{wanted}' does not exist.")

    async def user_search(self, request: Request, account: str) -> Response:
        """`user/search?query=` (Cloud) / `?username=` (DC): users whose email, name or display
        name contains the text, paged with startAt/maxResults; a bare JSON list, as Jira answers."""
        text = (request.query_params.get("query") or request.query_params.get("username") or "").lower()
        start = _int(request.query_params.get("startAt"), 0)
        size = min(_int(request.query_params.get("maxResults"), 50), 1000)
        found = [
            u
            for u in self.world.users.values()
            if text and (text in u.email.lower() or text in u.display_name.lower() or text == u.account_id)
        ]
        v = self.api_version(request)
        return json_response([self.render.user_obj(u, v) for u in found[start : start + size]])

    async def fields(self, request: Request, account: str) -> Response:
        def system(
            fid: str, name: str, schema: dict[str, Any] | None, clauses: list[str], **kw: Any
        ) -> dict[str, Any]:
            body = {
                "id": fid,
                "key": fid,
                "name": name,
                "custom": False,
                "orderable": kw.get("orderable", True),
                "navigable": kw.get("navigable", True),
                "searchable": kw.get("searchable", True),
                "clauseNames": clauses,
            }
            if schema is not None:
                body["schema"] = schema
            return body

        def custom(
            fid: str, name: str, schema_type: str, custom_type: str, items: str | None = None
        ) -> dict[str, Any]:
            number = int(fid.rsplit("_", 1)[1])
            schema: dict[str, Any] = {"type": schema_type, "custom": custom_type, "customId": number}
            if items:
                schema["items"] = items
            return {
                "id": fid,
                "key": fid,
                "name": name,
                "untranslatedName": name,
                "custom": True,
                "orderable": True,
                "navigable": True,
                "searchable": True,
                "clauseNames": [f"cf[{number}]", name],
                "schema": schema,
            }

        result = [
            system("issuekey", "Key", None, ["id", "issue", "issuekey", "key"], orderable=False),
            system("summary", "Summary", {"type": "string", "system": "summary"}, ["summary"]),
            system(
                "description", "Description", {"type": "string", "system": "description"}, ["description"]
            ),
            system(
                "issuetype", "Issue Type", {"type": "issuetype", "system": "issuetype"}, ["issuetype", "type"]
            ),
            system("project", "Project", {"type": "project", "system": "project"}, ["project"]),
            system("status", "Status", {"type": "status", "system": "status"}, ["status"], orderable=False),
            system(
                "resolution", "Resolution", {"type": "resolution", "system": "resolution"}, ["resolution"]
            ),
            system(
                "resolutiondate",
                "Resolved",
                {"type": "datetime", "system": "resolutiondate"},
                ["resolutiondate", "resolved"],
                orderable=False,
            ),
            system("priority", "Priority", {"type": "priority", "system": "priority"}, ["priority"]),
            system("assignee", "Assignee", {"type": "user", "system": "assignee"}, ["assignee"]),
            system("reporter", "Reporter", {"type": "user", "system": "reporter"}, ["reporter"]),
            system("creator", "Creator", {"type": "user", "system": "creator"}, ["creator"], orderable=False),
            system("labels", "Labels", {"type": "array", "items": "string", "system": "labels"}, ["labels"]),
            system(
                "fixVersions",
                "Fix versions",
                {"type": "array", "items": "version", "system": "fixVersions"},
                ["fixVersion"],
            ),
            system(
                "issuelinks",
                "Linked Issues",
                {"type": "array", "items": "issuelinks", "system": "issuelinks"},
                [],
                searchable=True,
            ),
            system(
                "subtasks",
                "Sub-tasks",
                {"type": "array", "items": "issuelinks", "system": "subtasks"},
                ["subtasks"],
                orderable=False,
            ),
            system("duedate", "Due date", {"type": "date", "system": "duedate"}, ["due", "duedate"]),
            system(
                "created",
                "Created",
                {"type": "datetime", "system": "created"},
                ["created", "createdDate"],
                orderable=False,
            ),
            system(
                "updated",
                "Updated",
                {"type": "datetime", "system": "updated"},
                ["updated", "updatedDate"],
                orderable=False,
            ),
            system(
                "comment",
                "Comment",
                {"type": "comments-page", "system": "comment"},
                ["comment"],
                navigable=False,
            ),
        ]
        result.append(system("parent", "Parent", None, ["parent"]))
        if self.world.cloud:
            result.append(
                custom(
                    CUSTOM_STORY_POINTS,
                    "Story point estimate",
                    "number",
                    "com.pyxis.greenhopper.jira:jsw-story-points",
                )
            )
            result.append(
                custom(
                    CUSTOM_START_DATE,
                    "Start date",
                    "date",
                    "com.atlassian.jira.plugin.system.customfieldtypes:datepicker",
                )
            )
        else:
            result.append(
                custom(
                    CUSTOM_STORY_POINTS,
                    "Story Points",
                    "number",
                    "com.atlassian.jira.plugin.system.customfieldtypes:float",
                )
            )
            result.append(
                custom(CUSTOM_EPIC_LINK, "Epic Link", "any", "com.pyxis.greenhopper.jira:gh-epic-link")
            )
        result.append(
            custom(CUSTOM_SPRINT, "Sprint", "array", "com.pyxis.greenhopper.jira:gh-sprint", "json")
        )
        result.append(custom("customfield_10019", "Rank", "any", "com.pyxis.greenhopper.jira:gh-lexo-rank"))
        return json_response(result)

    async def link_types(self, request: Request, account: str) -> Response:
        v = self.api_version(request)
        return json_response({"issueLinkTypes": [self.render.link_type(t, v) for t in LINK_TYPES.values()]})

    async def issue_types(self, request: Request, account: str) -> Response:
        v = self.api_version(request)
        return json_response([self.render.issue_type(t, v) for t in ISSUE_TYPES.values()])

    async def statuses(self, request: Request, account: str) -> Response:
        v = self.api_version(request)
        return json_response([self.render.status(s, v) for s in STATUSES.values()])

    async def priorities(self, request: Request, account: str) -> Response:
        v = self.api_version(request)
        return json_response([self.render.priority(p, v) for p in PRIORITIES])

    async def resolutions(self, request: Request, account: str) -> Response:
        v = self.api_version(request)
        return json_response([self.render.resolution(r, v) for r in RESOLUTIONS])

    # --- projects, versions, boards, sprints -----------------------------------------------------

    async def projects(self, request: Request, account: str) -> Response:
        v = self.api_version(request)
        return json_response([self.render.project(p, v) for p in self.world.projects.values()])

    async def project_search(self, request: Request, account: str) -> Response:
        v = self.api_version(request)
        start = _int(request.query_params.get("startAt"), 0)
        size = min(_int(request.query_params.get("maxResults"), 50), 100)
        wanted = {k.upper() for k in request.query_params.getlist("keys")}
        query = (request.query_params.get("query") or "").lower()
        projects = [
            p
            for p in self.world.projects.values()
            if (not wanted or p.key in wanted)
            and (not query or query in p.key.lower() or query in p.name.lower())
        ]
        page = projects[start : start + size]
        return json_response(
            {
                "self": f"{self.render.api(v)}/project/search?startAt={start}&maxResults={size}",
                "maxResults": size,
                "startAt": start,
                "total": len(projects),
                "isLast": start + size >= len(projects),
                "values": [self.render.project(p, v, full=True) for p in page],
            }
        )

    def _project(self, key: str) -> Any:
        for project in self.world.projects.values():
            if key.upper() == project.key or key == project.id:
                return project
        raise MutationError(f"No project could be found with key '{key}'.", 404)

    async def project(self, request: Request, account: str) -> Response:
        project = self._project(request.path_params["key"])
        return json_response(self.render.project(project, self.api_version(request), full=True))

    async def project_versions(self, request: Request, account: str) -> Response:
        project = self._project(request.path_params["key"])
        v = self.api_version(request)
        return json_response([self.render.version(x, v) for x in self.world.project_versions(project.key)])

    async def get_version(self, request: Request, account: str) -> Response:
        version = self.world.versions.get(_int(request.path_params["id"], -1))
        if version is None:
            return error(404, f"Could not find version for id '{request.path_params['id']}'")
        return json_response(self.render.version(version, self.api_version(request)))

    async def boards(self, request: Request, account: str) -> Response:
        start = _int(request.query_params.get("startAt"), 0)
        size = min(_int(request.query_params.get("maxResults"), 50), 50)
        project_filter = request.query_params.get("projectKeyOrId")
        boards = [
            b
            for b in self.world.boards.values()
            if not project_filter
            or project_filter.upper() == b.project
            or project_filter == self.world.projects[b.project].id
        ]
        page = boards[start : start + size]
        values = []
        for board in page:
            project = self.world.projects[board.project]
            values.append(
                {
                    "id": board.id,
                    "self": f"{self.world.ctx.jira_base}/rest/agile/1.0/board/{board.id}",
                    "name": board.name,
                    "type": "scrum",
                    "location": {
                        "projectId": int(project.id),
                        "displayName": f"{project.name} ({project.key})",
                        "projectName": project.name,
                        "projectKey": project.key,
                        "projectTypeKey": "software",
                        "name": f"{project.name} ({project.key})",
                    },
                }
            )
        return json_response(
            {
                "maxResults": size,
                "startAt": start,
                "total": len(boards),
                "isLast": start + size >= len(boards),
                "values": values,
            }
        )

    async def board_sprints(self, request: Request, account: str) -> Response:
        board_id = _int(request.path_params["id"], -1)
        if board_id not in self.world.boards:
            return error(
                404,
                "The requested board cannot be viewed because it either does not exist or you do not have permission to view it.",
            )
        start = _int(request.query_params.get("startAt"), 0)
        size = min(_int(request.query_params.get("maxResults"), 50), 50)
        states = {s.strip() for s in (request.query_params.get("state") or "").split(",") if s.strip()}
        sprints = [
            s
            for s in self.world.sprints.values()
            if s.board_id == board_id and (not states or s.state in states)
        ]
        page = sprints[start : start + size]
        return json_response(
            {
                "maxResults": size,
                "startAt": start,
                "isLast": start + size >= len(sprints),
                "values": [self.render.sprint(s) for s in page],
            }
        )

    async def sprint(self, request: Request, account: str) -> Response:
        sprint = self.world.sprints.get(_int(request.path_params["id"], -1))
        if sprint is None:
            return error(404, "Sprint does not exist or you do not have permission to view it.")
        return json_response(self.render.sprint(sprint))

    # --- search ----------------------------------------------------------------------------------

    async def _search_params(self, request: Request) -> dict[str, Any]:
        if request.method == "POST":
            body = await self.body(request)
            fields = body.get("fields") or []
            return {
                "jql": str(body.get("jql") or ""),
                "fields": [str(f) for f in fields] if isinstance(fields, list) else [str(fields)],
                "expand": body.get("expand")
                if isinstance(body.get("expand"), str)
                else ",".join(body.get("expand") or []),
                "maxResults": body.get("maxResults"),
                "startAt": body.get("startAt"),
                "nextPageToken": body.get("nextPageToken"),
            }
        q = request.query_params
        return {
            "jql": q.get("jql") or "",
            "fields": q.getlist("fields"),
            "expand": ",".join(q.getlist("expand")),
            "maxResults": q.get("maxResults"),
            "startAt": q.get("startAt"),
            "nextPageToken": q.get("nextPageToken"),
        }

    def _page_size(self, requested: Any, selection: FieldSelection, default: int = 50) -> int:
        size = _int(str(requested) if requested is not None else None, default)
        if size <= 0:
            size = default
        cap = ID_ONLY_MAX_RESULTS if selection.id_only else self.world.config.max_results_jira
        return min(size, cap)

    def prerender(
        self, upcoming: list[Issue], version: int, selection: FieldSelection, cap: int | None
    ) -> None:
        """Encode the next page of a scan right after this one is answered, while the client
        reads and parses it: a scan then finds each page ready instead of rendering it on demand."""
        if not upcoming or selection.id_only:
            return

        def render() -> None:
            issues = self.world.issues
            self.world.encoded_many([i for i in upcoming if i.id in issues], version, selection, cap)

        asyncio.get_running_loop().call_soon(render)

    async def search_jql(self, request: Request, account: str) -> Response:
        """Enhanced search (Cloud): nextPageToken paging, no total, `fields` default `id`
        (https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-search/#api-rest-api-3-search-jql-get)."""
        if not self.world.cloud:
            return error(404, f"null for uri: {request.url}")
        params = await self._search_params(request)
        jql: str = params["jql"]
        query = self.world.compile(jql, self.zone_of(account))
        if query.where is None:
            return error(
                400,
                "Unbounded JQL queries are not allowed here. Please add a search restriction to your query.",
            )
        selection = parse_field_selection(params["fields"], "id")
        size = self._page_size(params["maxResults"], selection)
        offset = 0
        if params["nextPageToken"]:
            found = _offset_of(str(params["nextPageToken"]), jql)
            if found is None:
                return error(400, "The provided next page token is invalid or expired.")
            offset = found
        cap = SEARCH_CHANGELOG_CAP if "changelog" in (params["expand"] or "") else None
        results = self.world.search(jql, self.zone_of(account))
        page = results[offset : offset + size]
        version = self.api_version(request)
        encoded = self.world.encoded_many(page, version, selection, cap)
        self.prerender(results[offset + size : offset + 2 * size], version, selection, cap)
        more = offset + size < len(results)
        tail = (
            b'],"nextPageToken":"' + _token(offset + size, jql).encode() + b'","isLast":false}'
            if more
            else b'],"isLast":true}'
        )
        body = b'{"issues":[' + b",".join(encoded) + tail
        if self.world.ctx.faults.scan_mutation("jira"):
            self.world.scan_touch(results[: offset + len(page)], self.world.ctx.rng)
        return Response(body, media_type="application/json;charset=UTF-8")

    async def search_legacy(self, request: Request, account: str) -> Response:
        """`/search` with startAt/maxResults/total: gone on Cloud (410), the way to search on DC."""
        if self.world.cloud:
            return error(410, SEARCH_GONE)
        params = await self._search_params(request)
        jql: str = params["jql"]
        selection = parse_field_selection(params["fields"], "*navigable")
        # maxResults=0 asks only for the total (a count), as on Jira Server/DC.
        size = 0 if str(params["maxResults"]) == "0" else self._page_size(params["maxResults"], selection)
        start = max(0, _int(str(params["startAt"]) if params["startAt"] is not None else None, 0))
        cap = UNCAPPED if "changelog" in (params["expand"] or "") else None
        results = self.world.search(jql, self.zone_of(account))
        page = results[start : start + size]
        version = self.api_version(request)
        if selection.id_only:
            # DC still answers with id, key and self when only ids are asked for.
            encoded = [
                dumps({"id": str(i.id), "self": f"{self.render.api(version)}/issue/{i.id}", "key": i.key})
                for i in page
            ]
        else:
            encoded = self.world.encoded_many(page, version, selection, cap)
            self.prerender(results[start + size : start + 2 * size], version, selection, cap)
        head = dumps({"expand": "schema,names", "startAt": start, "maxResults": size, "total": len(results)})
        body = head[:-1] + b',"issues":[' + b",".join(encoded) + b"]}"
        if self.world.ctx.faults.scan_mutation("jira"):
            self.world.scan_touch(results[: start + len(page)], self.world.ctx.rng)
        return Response(body, media_type="application/json;charset=UTF-8")

    async def approximate_count(self, request: Request, account: str) -> Response:
        if not self.world.cloud:
            return error(404, f"null for uri: {request.url}")
        body = await self.body(request)
        return json_response(
            {"count": len(self.world.search(str(body.get("jql") or ""), self.zone_of(account)))}
        )

    # --- issues ----------------------------------------------------------------------------------

    async def get_issue(self, request: Request, account: str) -> Response:
        issue = self.issue_or_404(request.path_params["key"])
        selection = parse_field_selection(request.query_params.getlist("fields"), "*all")
        expand = ",".join(request.query_params.getlist("expand"))
        cap = (ISSUE_CHANGELOG_CAP if self.world.cloud else UNCAPPED) if "changelog" in expand else None
        if selection.id_only:
            v = self.api_version(request)
            return json_response(
                {
                    "id": str(issue.id),
                    "self": f"{self.render.api(v)}/issue/{issue.id}",
                    "key": issue.key,
                    "fields": {},
                }
            )
        body = self.world.encoded(issue, self.api_version(request), selection, cap)
        return Response(body, media_type="application/json;charset=UTF-8")

    def _rest_fields(
        self, fields: dict[str, Any], update: dict[str, Any], issue: Issue | None
    ) -> dict[str, Any]:
        """Jira REST field values (and `update` operations) as world field changes."""
        out: dict[str, Any] = {}
        for name, value in fields.items():
            if name == "description":
                out["description"] = adf_to_text(value)
            elif name == CUSTOM_SPRINT:
                out["sprint"] = value
            elif name in ("timetracking", "components", "versions", "environment"):
                continue
            else:
                out[name] = value
        for name, operations in (update or {}).items():
            if not isinstance(operations, list) or not all(isinstance(o, dict) for o in operations):
                raise MutationError(f"update.{name}: expected a list of operations like {{'add': ...}}", 400)
            if name == "labels":
                labels = list(out.get("labels", issue.labels if issue else []))
                for operation in operations:
                    if "add" in operation and operation["add"] not in labels:
                        labels.append(operation["add"])
                    if "remove" in operation and operation["remove"] in labels:
                        labels.remove(operation["remove"])
                    if "set" in operation:
                        labels = list(operation["set"])
                out["labels"] = labels
            elif name in ("summary", "description", "assignee", "priority", "duedate", "parent"):
                for operation in operations:
                    if "set" in operation:
                        out[name] = operation["set"]
        return out

    async def create_issue(self, request: Request, account: str) -> Response:
        body = await self.body(request)
        fields = dict(body.get("fields") or {})
        if "project" not in fields:
            return error(400, errors={"project": "Specify a valid project ID or key"})
        if "issuetype" not in fields:
            return error(400, errors={"issuetype": "Specify an issue type"})
        if not fields.get("summary"):
            return error(400, errors={"summary": "You must specify a summary of the issue."})
        changes = self._rest_fields(fields, body.get("update") or {}, None)
        issue = self.world.create_issue(changes, account, self.world.now_ms())
        comments = [op["add"] for op in (body.get("update") or {}).get("comment", []) if "add" in op]
        for comment in comments:
            self.world.comment_issue(issue, adf_to_text(comment.get("body")), account, self.world.now_ms())
        v = self.api_version(request)
        return json_response(
            {"id": str(issue.id), "key": issue.key, "self": f"{self.render.api(v)}/issue/{issue.id}"}, 201
        )

    async def edit_issue(self, request: Request, account: str) -> Response:
        issue = self.issue_or_404(request.path_params["key"])
        body = await self.body(request)
        update = body.get("update") or {}
        changes = self._rest_fields(dict(body.get("fields") or {}), update, issue)
        for key in ("status", "resolution"):
            if key in changes:
                return error(
                    400,
                    errors={
                        key: f"Field '{key}' cannot be set. It is not on the appropriate screen, or unknown."
                    },
                )
        items = self.world.apply_fields(issue, changes)
        self.world.record_change(issue, items, account, self.world.now_ms())
        for operation in update.get("comment", []):
            if "add" in operation:
                self.world.comment_issue(
                    issue, adf_to_text(operation["add"].get("body")), account, self.world.now_ms()
                )
        return Response(status_code=204)

    async def delete_issue(self, request: Request, account: str) -> Response:
        issue = self.issue_or_404(request.path_params["key"])
        has_subtasks = any(c.issue_type.subtask for c in issue.children)
        if has_subtasks and request.query_params.get("deleteSubtasks", "false").lower() != "true":
            return error(400, "The issue has subtasks. Set deleteSubtasks=true to delete them as well.")
        self.world.delete_issue(issue, account, self.world.now_ms())
        return Response(status_code=204)

    async def assign(self, request: Request, account: str) -> Response:
        """`PUT /issue/{key}/assignee` (`jira.assign_issue`): `accountId` on Cloud, `name` on DC."""
        issue = self.issue_or_404(request.path_params["key"])
        body = await self.body(request)
        items = self.world.apply_fields(issue, {"assignee": body or None})
        self.world.record_change(issue, items, account, self.world.now_ms())
        return Response(status_code=204)

    async def transitions(self, request: Request, account: str) -> Response:
        issue = self.issue_or_404(request.path_params["key"])
        v = self.api_version(request)
        wanted = request.query_params.get("transitionId")
        result = []
        for transition in TRANSITIONS.values():
            if wanted and transition.id != wanted:
                continue
            if transition.to_status == issue.status and transition.resolution in (None, issue.resolution):
                continue
            result.append(
                {
                    "id": transition.id,
                    "name": transition.name,
                    "to": self.render.status(STATUSES[transition.to_status], v),
                    "hasScreen": False,
                    "isGlobal": True,
                    "isInitial": False,
                    "isAvailable": True,
                    "isConditional": False,
                    "isLooped": False,
                }
            )
        return json_response({"expand": "transitions", "transitions": result})

    async def do_transition(self, request: Request, account: str) -> Response:
        issue = self.issue_or_404(request.path_params["key"])
        body = await self.body(request)
        transition_id = str((body.get("transition") or {}).get("id", ""))
        transition = TRANSITIONS.get(transition_id)
        if transition is None:
            return error(400, f"Transition id '{transition_id}' is not valid for this issue.")
        fields = dict(body.get("fields") or {})
        resolution = fields.pop("resolution", None) or transition.resolution
        changes = self._rest_fields(
            fields, {k: v for k, v in (body.get("update") or {}).items() if k != "comment"}, issue
        )
        changes["status"] = transition.to_status
        if resolution is not None:
            changes["resolution"] = resolution
        items = self.world.apply_fields(issue, changes)
        self.world.record_change(issue, items, account, self.world.now_ms())
        for operation in (body.get("update") or {}).get("comment", []):
            if "add" in operation:
                self.world.comment_issue(
                    issue, adf_to_text(operation["add"].get("body")), account, self.world.now_ms()
                )
        return Response(status_code=204)

    async def comments(self, request: Request, account: str) -> Response:
        issue = self.issue_or_404(request.path_params["key"])
        v = self.api_version(request)
        if request.method == "POST":
            body = await self.body(request)
            text = adf_to_text(body.get("body"))
            if not text:
                return error(400, errors={"comment": "Comment body can not be empty!"})
            comment = self.world.comment_issue(issue, text, account, self.world.now_ms())
            return json_response(self.render.comment(issue, comment, v), 201)
        start = _int(request.query_params.get("startAt"), 0)
        size = min(_int(request.query_params.get("maxResults"), 100), 5000)
        page = issue.comments[start : start + size]
        return json_response(
            {
                "startAt": start,
                "maxResults": size,
                "total": len(issue.comments),
                "comments": [self.render.comment(issue, c, v) for c in page],
            }
        )

    async def changelog(self, request: Request, account: str) -> Response:
        """`/issue/{key}/changelog`: oldest first, startAt/maxResults (at most 100)/total/isLast."""
        issue = self.issue_or_404(request.path_params["key"])
        v = self.api_version(request)
        start = max(0, _int(request.query_params.get("startAt"), 0))
        size = min(max(1, _int(request.query_params.get("maxResults"), 100)), 100)
        page = issue.histories[start : start + size]
        total = len(issue.histories)
        base = f"{self.render.api(v)}/issue/{issue.key}/changelog"
        body: dict[str, Any] = {
            "self": f"{base}?maxResults={size}&startAt={start}",
            "maxResults": size,
            "startAt": start,
            "total": total,
            "isLast": start + size >= total,
            "values": [self.render.history(h, v) for h in page],
        }
        if start + size < total:
            body["nextPage"] = f"{base}?maxResults={size}&startAt={start + size}"
        return json_response(body)

    async def changelog_bulkfetch(self, request: Request, account: str) -> Response:
        """`POST /changelog/bulkfetch`: histories of up to 1000 issues, paged by nextPageToken
        (https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-changelog-bulkfetch-post)."""
        body = await self.body(request)
        keys = [str(k) for k in body.get("issueIdsOrKeys") or []]
        if not keys or len(keys) > 1000:
            return error(400, "issueIdsOrKeys must contain between 1 and 1000 issues.")
        size = min(max(1, _int(str(body.get("maxResults") or ""), 1000)), 10000)
        field_ids = set(body.get("fieldIds") or [])
        token = str(body.get("nextPageToken") or "")
        signature = ",".join(keys) + "|" + ",".join(sorted(field_ids))
        start = 0
        if token:
            found = _offset_of(token, signature)
            if found is None:
                return error(400, "The provided next page token is invalid or expired.")
            start = found
        v = self.api_version(request)
        issues = [i for i in (self.world.find(k) for k in keys) if i is not None]
        position = 0
        served = 0
        result = []
        done = True
        for issue in issues:
            histories = [
                h
                for h in issue.histories
                if not field_ids
                or any(item.get("fieldId", item.get("field")) in field_ids for item in h.items)
            ]
            chosen = []
            for history in histories:
                if position >= start:
                    if served >= size:
                        done = False
                        break
                    chosen.append(self.render.history(history, v))
                    served += 1
                position += 1
            if chosen:
                result.append({"issueId": str(issue.id), "changeHistories": chosen})
            if not done:
                break
        payload: dict[str, Any] = {"issueChangeLogs": result}
        if not done:
            payload["nextPageToken"] = _token(start + served, signature)
        return json_response(payload)

    async def remote_links(self, request: Request, account: str) -> Response:
        issue = self.issue_or_404(request.path_params["key"])
        v = self.api_version(request)
        if request.method == "POST":
            body = await self.body(request)
            target = body.get("object") or {}
            if not target.get("url") or not target.get("title"):
                return error(400, errors={"object": "The remote link object needs a url and a title."})
            global_id = body.get("globalId")
            existing = next((r for r in issue.remote_links if global_id and r.global_id == global_id), None)
            status = target.get("status") or {}
            if existing is not None:
                existing.url, existing.title = str(target["url"]), str(target["title"])
                existing.relationship = body.get("relationship", existing.relationship)
                existing.summary = target.get("summary", existing.summary)
                self.world.change_remote_link(issue, existing, account, self.world.now_ms())
                link, code = existing, 200
            else:
                link = self.world.create_remote_link(
                    issue,
                    str(target["url"]),
                    str(target["title"]),
                    body.get("relationship"),
                    account,
                    self.world.now_ms(),
                    global_id=global_id,
                    summary=target.get("summary"),
                    application=body.get("application"),
                    status_resolved=status.get("resolved") if isinstance(status, dict) else None,
                )
                code = 201
            return json_response(
                {"id": link.id, "self": f"{self.render.api(v)}/issue/{issue.key}/remotelink/{link.id}"}, code
            )
        wanted = request.query_params.get("globalId")
        links = [r for r in issue.remote_links if not wanted or r.global_id == wanted]
        if wanted and not links:
            return error(404, f"No remote link with globalId '{wanted}'.")
        if wanted:
            return json_response(self.render.remote_link(issue, links[0], v))
        return json_response([self.render.remote_link(issue, r, v) for r in links])

    async def remote_link(self, request: Request, account: str) -> Response:
        issue = self.issue_or_404(request.path_params["key"])
        link_id = _int(request.path_params["link_id"], -1)
        link = next((r for r in issue.remote_links if r.id == link_id), None)
        if link is None:
            return error(404, f"No remote link with id '{link_id}'.")
        if request.method == "DELETE":
            self.world.delete_remote_link(issue, link, account, self.world.now_ms())
            return Response(status_code=204)
        return json_response(self.render.remote_link(issue, link, self.api_version(request)))

    async def create_issue_link(self, request: Request, account: str) -> Response:
        """`POST /issueLink`. As the `jira` client documents it, `inwardIssue` is the issue the link
        goes from: `{"type": "Blocks", "inwardIssue": A, "outwardIssue": B}` means "A blocks B", and
        A then lists the link with `outwardIssue: B`."""
        body = await self.body(request)
        link_type = body.get("type") or {}
        type_name = next(
            (
                t.name
                for t in LINK_TYPES.values()
                if link_type.get("name") in (t.name,) or str(link_type.get("id")) == t.id
            ),
            None,
        )
        if type_name is None:
            return error(404, f"No issue link type with name '{link_type.get('name')}' found.")
        inward = body.get("inwardIssue") or {}
        outward = body.get("outwardIssue") or {}
        source = self.world.find(str(inward.get("key") or inward.get("id") or ""))
        destination = self.world.find(str(outward.get("key") or outward.get("id") or ""))
        if source is None or destination is None:
            return error(404, "Issue Does Not Exist")
        if source is destination:
            return error(400, "You cannot link an issue to itself.")
        self.world.create_link(type_name, source, destination, account, self.world.now_ms())
        comment = body.get("comment")
        if isinstance(comment, dict) and comment.get("body"):
            self.world.comment_issue(source, adf_to_text(comment["body"]), account, self.world.now_ms())
        return Response(status_code=201)

    async def issue_link(self, request: Request, account: str) -> Response:
        link = self.world.links.get(_int(request.path_params["link_id"], -1))
        if link is None:
            return error(404, f"No issue link with id '{request.path_params['link_id']}' exists.")
        if request.method == "DELETE":
            self.world.delete_link(link, account, self.world.now_ms())
            return Response(status_code=204)
        v = self.api_version(request)
        return json_response(
            {
                "id": str(link.id),
                "self": f"{self.render.api(v)}/issueLink/{link.id}",
                "type": self.render.link_type(LINK_TYPES[link.type_name], v),
                "inwardIssue": self.render.issue_ref(link.source, v),
                "outwardIssue": self.render.issue_ref(link.destination, v),
            }
        )

    # --- webhooks --------------------------------------------------------------------------------

    async def dynamic_webhooks(self, request: Request, account: str) -> Response:
        """Cloud dynamic webhooks (`/rest/api/3/webhook`); delivered to `url`, signed when a
        `secret` is given (https://developer.atlassian.com/cloud/jira/platform/webhooks/)."""
        hooks = self.world.ctx.webhooks
        if request.method == "POST":
            body = await self.body(request)
            url = body.get("url")
            specs = body.get("webhooks") or []
            if not url or not specs:
                return error(400, "url and webhooks are required.")
            results = []
            for spec in specs:
                jql_filter = str(spec.get("jqlFilter") or "")
                hook_id = hooks.register(
                    "jira",
                    str(url),
                    str(body.get("secret") or ""),
                    spec.get("events") or None,
                    name=jql_filter,
                    scopes=self.filter_scope(jql_filter, account),
                )
                results.append({"createdWebhookId": hook_id})
            return json_response({"webhookRegistrationResult": results})
        if request.method == "DELETE":
            body = await self.body(request)
            for hook_id in body.get("webhookIds") or []:
                hooks.unregister(int(hook_id))
            return Response(status_code=202)
        targets = hooks.targets("jira")
        return json_response(
            {
                "startAt": 0,
                "maxResults": 100,
                "total": len(targets),
                "isLast": True,
                "values": [
                    {
                        "id": t.id,
                        "jqlFilter": t.name,
                        "events": t.events or [],
                        "expirationDate": 4102444800000,
                    }
                    for t in targets
                ],
            }
        )

    def filter_scope(self, jql_filter: str, account: str) -> frozenset[str] | None:
        """The projects a webhook's JQL filter limits issue events to, when it names them at the
        top level (`project = PAY`, `project in (PAY, PLAT)`, `... AND ...`); other filters are not
        evaluated and the hook gets every issue event."""
        if not jql_filter.strip():
            return None
        return self.world.compile(jql_filter, self.zone_of(account)).projects()

    async def refresh_webhooks(self, request: Request, account: str) -> Response:
        return json_response({"expirationDate": 4102444800000})

    def _admin_hook(self, hook: Any) -> dict[str, Any]:
        return {
            "self": f"{self.world.ctx.jira_base}/rest/webhooks/1.0/webhook/{hook.id}",
            "name": hook.name,
            "url": hook.url,
            "events": hook.events or [],
            "filters": {"issue-related-events-section": ""},
            "excludeBody": False,
            "enabled": hook.active,
            "lastUpdated": int(hook.updated_at.timestamp() * 1000),
        }

    async def admin_webhooks(self, request: Request, account: str) -> Response:
        """Admin webhooks (`/rest/webhooks/1.0/webhook`, Cloud and DC) with an optional `secret`."""
        hooks = self.world.ctx.webhooks
        if request.method == "POST":
            body = await self.body(request)
            if not body.get("url"):
                return error(400, "url is required.")
            jql_filter = str((body.get("filters") or {}).get("issue-related-events-section") or "")
            hook_id = hooks.register(
                "jira",
                str(body["url"]),
                str(body.get("secret") or ""),
                body.get("events") or None,
                name=str(body.get("name") or "webhook"),
                scopes=self.filter_scope(jql_filter, account),
            )
            return json_response(self._admin_hook(hooks.target(hook_id)), 201)
        return json_response([self._admin_hook(t) for t in hooks.targets("jira")])

    async def admin_webhook(self, request: Request, account: str) -> Response:
        hooks = self.world.ctx.webhooks
        hook_id = _int(request.path_params["hook_id"], -1)
        hook = hooks.target(hook_id)
        if hook is None or hook.tracker != "jira":
            return error(404, "Webhook not found.")
        if request.method == "DELETE":
            hooks.unregister(hook_id)
            return Response(status_code=204)
        return json_response(self._admin_hook(hook))

    async def application_links(self, request: Request, account: str) -> Response:
        return json_response({"list": []})


def build_routes(world: JiraWorld) -> list[BaseRoute]:
    """Routes per API version with literal paths, so the request ledger counts
    `GET /rest/api/3/search/jql`, not a template with a version placeholder."""
    r = JiraRoutes(world)
    routes: list[BaseRoute] = []
    for name, version in (("2", 2), ("3", 3), ("latest", 2)):  # `jira` uses "latest" for a few calls
        api = f"/rest/api/{name}"

        def e(fn: Callable[[Request, str], Awaitable[Response]], v: int = version) -> Handler:
            return r.endpoint(fn, v)

        routes += [
            Route(f"{api}/serverInfo", e(r.server_info), methods=["GET"]),
            Route(f"{api}/myself", e(r.myself), methods=["GET"]),
            Route(f"{api}/user", e(r.user), methods=["GET"]),
            Route(f"{api}/user/search", e(r.user_search), methods=["GET"]),
            Route(f"{api}/field", e(r.fields), methods=["GET"]),
            Route(f"{api}/issueLinkType", e(r.link_types), methods=["GET"]),
            Route(f"{api}/issuetype", e(r.issue_types), methods=["GET"]),
            Route(f"{api}/status", e(r.statuses), methods=["GET"]),
            Route(f"{api}/priority", e(r.priorities), methods=["GET"]),
            Route(f"{api}/resolution", e(r.resolutions), methods=["GET"]),
            Route(f"{api}/project", e(r.projects), methods=["GET"]),
            Route(f"{api}/project/search", e(r.project_search), methods=["GET"]),
            Route(f"{api}/project/{{key}}", e(r.project), methods=["GET"]),
            Route(f"{api}/project/{{key}}/versions", e(r.project_versions), methods=["GET"]),
            Route(f"{api}/version/{{id}}", e(r.get_version), methods=["GET"]),
            Route(f"{api}/search", e(r.search_legacy), methods=["GET", "POST"]),
            Route(f"{api}/search/jql", e(r.search_jql), methods=["GET", "POST"]),
            Route(f"{api}/search/approximate-count", e(r.approximate_count), methods=["POST"]),
            Route(f"{api}/issue", e(r.create_issue), methods=["POST"]),
            Route(f"{api}/issue/{{key}}", e(r.get_issue), methods=["GET"]),
            Route(f"{api}/issue/{{key}}", e(r.edit_issue), methods=["PUT"]),
            Route(f"{api}/issue/{{key}}", e(r.delete_issue), methods=["DELETE"]),
            Route(f"{api}/issue/{{key}}/assignee", e(r.assign), methods=["PUT"]),
            Route(f"{api}/issue/{{key}}/transitions", e(r.transitions), methods=["GET"]),
            Route(f"{api}/issue/{{key}}/transitions", e(r.do_transition), methods=["POST"]),
            Route(f"{api}/issue/{{key}}/comment", e(r.comments), methods=["GET", "POST"]),
            Route(f"{api}/issue/{{key}}/changelog", e(r.changelog), methods=["GET"]),
            Route(f"{api}/changelog/bulkfetch", e(r.changelog_bulkfetch), methods=["POST"]),
            Route(f"{api}/issue/{{key}}/remotelink", e(r.remote_links), methods=["GET", "POST"]),
            Route(f"{api}/issue/{{key}}/remotelink/{{link_id}}", e(r.remote_link), methods=["GET", "DELETE"]),
            Route(f"{api}/issueLink", e(r.create_issue_link), methods=["POST"]),
            Route(f"{api}/issueLink/{{link_id}}", e(r.issue_link), methods=["GET", "DELETE"]),
            Route(f"{api}/webhook", e(r.dynamic_webhooks), methods=["GET", "POST", "DELETE"]),
            Route(f"{api}/webhook/refresh", e(r.refresh_webhooks), methods=["PUT"]),
        ]
    agile = "/rest/agile/1.0"
    e2 = r.endpoint
    routes += [
        Route("/rest/webhooks/1.0/webhook", e2(r.admin_webhooks), methods=["GET", "POST"]),
        Route("/rest/webhooks/1.0/webhook/{hook_id}", e2(r.admin_webhook), methods=["GET", "DELETE"]),
        Route(f"{agile}/board", e2(r.boards), methods=["GET"]),
        Route(f"{agile}/board/{{id}}/sprint", e2(r.board_sprints), methods=["GET"]),
        Route(f"{agile}/sprint/{{id}}", e2(r.sprint), methods=["GET"]),
        Route("/rest/applinks/latest/listApplicationlinks", e2(r.application_links), methods=["GET"]),
    ]
    return routes
