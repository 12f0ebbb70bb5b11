"""GitHub REST v3 routes of the sandbox (mounted at ``/github/api/v3``).

Behaviour reproduced from https://docs.github.com/en/rest (API version 2022-11-28):
``Authorization: token X`` and ``Bearer X``; page-number pagination with a ``Link`` header;
weak ``ETag`` + ``If-None-Match`` → 304; 301 for transferred issues, 410 for deleted ones; write
endpoints of sub-issues and dependencies take the issue database ``id``, not its number.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sandbox.core import GITHUB_TOKENS, MutationError, dumps
from sandbox.github import payloads
from sandbox.github.world import GitHubWorld, Issue, Repo

DOCS = "https://docs.github.com/rest"
Handler = Callable[[Request], Awaitable[Response]]


def _error(status: int, message: str, docs: str = DOCS) -> Response:
    body = dumps({"message": message, "documentation_url": docs, "status": str(status)})
    return Response(body, status, media_type="application/json; charset=utf-8")


class Api:
    """Request handlers bound to one world."""

    def __init__(self, world: GitHubWorld) -> None:
        self.world = world

    # --- plumbing ----------------------------------------------------------------------------

    def base(self, request: Request) -> str:
        host = request.headers.get("host") or "127.0.0.1"
        return f"{request.url.scheme}://{host}"

    def respond(
        self,
        request: Request,
        body: bytes,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> Response:
        """Send JSON bytes, re-pointing API URLs when the client reached us under another host."""
        ours = self.world.ctx.base_url
        theirs = self.base(request)
        if theirs != ours:
            body = body.replace(ours.encode(), theirs.encode())
        return Response(body, status, headers=headers, media_type="application/json; charset=utf-8")

    def json(
        self, request: Request, data: Any, status: int = 200, headers: dict[str, str] | None = None
    ) -> Response:
        return self.respond(request, dumps(data), status, headers)

    def guard(self, handler: Handler) -> Handler:
        async def wrapped(request: Request) -> Response:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() not in ("token", "bearer") or token.strip() not in GITHUB_TOKENS:
                return _error(401, "Bad credentials")
            try:
                return await handler(request)
            except MutationError as error:
                return _error(error.status, str(error))
            except (ValueError, TypeError, AttributeError):
                # a field of the wrong type: a number that is not one, a list where a name belongs
                return _error(422, "Validation Failed")

        return wrapped

    async def body(self, request: Request) -> dict[str, Any]:
        raw = await request.body()
        if not raw:
            return {}
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise MutationError("Problems parsing JSON", 400) from None
        if not isinstance(data, dict):
            raise MutationError("Problems parsing JSON", 400)
        return data

    def repo_of(self, request: Request) -> Repo:
        repo = self.world.repo(request.path_params["owner"], request.path_params["repo"])
        if repo is None:
            raise MutationError("Not Found", 404)
        return repo

    def issue_of(self, request: Request) -> Issue | Response:
        """The issue a path names, or the 301/404/410 GitHub answers instead.

        https://docs.github.com/en/rest/issues/issues#get-an-issue ("If an issue is transferred to
        another repository... 301"; deleted issues answer 410).
        """
        repo = self.repo_of(request)
        try:
            number = int(request.path_params["number"])
        except ValueError:
            return _error(404, "Not Found")
        it = repo.issues.get(number)
        if it is None:
            return _error(404, "Not Found")
        if it.moved_to is not None:
            new = it
            while new.moved_to is not None:
                new = self.world.issues_by_id[new.moved_to]
            suffix = request.url.path.split(f"/issues/{number}", 1)[1]
            location = (
                f"{self.base(request)}/github/api/v3/repos/{new.repo.full_name}/issues/{new.number}{suffix}"
            )
            if request.url.query:
                location += "?" + request.url.query
            body = dumps({"message": "Moved Permanently", "url": location, "documentation_url": DOCS})
            return Response(
                body, 301, headers={"Location": location}, media_type="application/json; charset=utf-8"
            )
        if it.deleted:
            return _error(410, "This issue was deleted")
        return it

    def by_id(self, value: Any) -> Issue:
        try:
            it = self.world.issues_by_id[int(value)]
        except (KeyError, TypeError, ValueError):
            raise MutationError("Not Found", 404) from None
        if not it.live:
            raise MutationError("Not Found", 404)
        return it

    def page_params(self, request: Request, default: int = 30) -> tuple[int, int]:
        try:
            per_page = max(1, min(int(request.query_params.get("per_page", default)), 100))
            page = max(1, int(request.query_params.get("page", 1)))
        except ValueError:
            raise MutationError("Invalid pagination parameters", 422) from None
        return per_page, page

    def link_header(self, request: Request, page: int, last: int) -> str | None:
        if last <= 1:
            return None
        base = f"{self.base(request)}{request.url.path}"
        params = [(k, v) for k, v in request.query_params.multi_items() if k != "page"]

        def url(n: int) -> str:
            return f"<{base}?{urlencode([*params, ('page', str(n))])}>"

        parts = []
        if page > 1:
            parts.append(f'{url(page - 1)}; rel="prev"')
        if page < last:
            parts.append(f'{url(page + 1)}; rel="next"')
            parts.append(f'{url(last)}; rel="last"')
        if page > 1:
            parts.append(f'{url(1)}; rel="first"')
        return ", ".join(parts)

    def paged(self, request: Request, rows: list[bytes], default: int = 30) -> Response:
        per_page, page = self.page_params(request, default)
        last = max(1, math.ceil(len(rows) / per_page))
        chunk = rows[(page - 1) * per_page : page * per_page]
        headers = {}
        link = self.link_header(request, page, last)
        if link:
            headers["Link"] = link
        return self.respond(request, b"[" + b",".join(chunk) + b"]", 200, headers)

    # --- meta, users, orgs, repos -------------------------------------------------------------

    async def rate_limit(self, request: Request) -> Response:
        budget = self.world.ctx.github_budget
        core = budget.state(self.world.ctx.faults.primary_exhausted("github"))
        other = {"limit": 30, "used": 0, "remaining": 30, "reset": core["reset"]}
        graphql = {"limit": 5000, "used": 0, "remaining": 5000, "reset": core["reset"]}
        return self.json(
            request,
            {"resources": {"core": core, "search": other, "graphql": graphql}, "rate": core},
        )

    async def authenticated_user(self, request: Request) -> Response:
        return self.json(request, self._user_profile(self.world.actor))

    def _user_profile(self, login: str) -> dict[str, Any]:
        data = self.world.user_json(login)
        from sandbox import demo

        person = demo.person_by_github(login)
        created = "2019-03-04T10:00:00Z"
        data.update(
            {
                "name": person.name if person else login,
                "company": "Acme",
                "blog": "",
                "location": None,
                "email": person.email if person else None,
                "hireable": None,
                "bio": None,
                "twitter_username": None,
                "public_repos": 0,
                "public_gists": 0,
                "followers": 0,
                "following": 0,
                "created_at": created,
                "updated_at": created,
            }
        )
        return data

    async def user(self, request: Request) -> Response:
        return self.json(request, self._user_profile(request.path_params["login"]))

    async def org(self, request: Request) -> Response:
        org = request.path_params["org"]
        if org not in self.world.orgs:
            return _error(404, "Not Found")
        data = payloads.organization(self.world, org)
        data.update({"name": "Acme Corp", "html_url": f"https://github.com/{org}", "type": "Organization"})
        data.update({"created_at": "2018-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z"})
        data.update({"public_repos": 0, "public_gists": 0, "followers": 0, "following": 0})
        data["has_organization_projects"] = True
        data["has_repository_projects"] = True
        return self.json(request, data)

    async def org_repos(self, request: Request) -> Response:
        org = request.path_params["org"]
        if org not in self.world.orgs:
            return _error(404, "Not Found")
        rows = [
            dumps(payloads.repository(self.world, r)) for r in self.world.repos.values() if r.owner == org
        ]
        return self.paged(request, rows)

    async def issue_types(self, request: Request) -> Response:
        if request.path_params["org"] not in self.world.orgs:
            return _error(404, "Not Found")
        return self.json(request, [payloads.issue_type(t) for t in self.world.types.values()])

    async def repository(self, request: Request) -> Response:
        repo = self.repo_of(request)
        data = payloads.repository(self.world, repo)
        data.update({"network_count": 0, "subscribers_count": len(self.world.users)})
        return self.json(request, data)

    async def labels(self, request: Request) -> Response:
        repo = self.repo_of(request)
        rows = [dumps(payloads.label(self.world.api, repo, lab)) for lab in repo.labels.values()]
        return self.paged(request, rows)

    async def milestones(self, request: Request) -> Response:
        repo = self.repo_of(request)
        state = request.query_params.get("state", "open")
        chosen = [m for m in repo.milestones.values() if state == "all" or m.state == state]
        far = datetime.max.replace(tzinfo=UTC)
        if request.query_params.get("sort", "due_on") == "completeness":
            chosen.sort(key=lambda m: self.world.milestone_counts(repo, m)[1])
        else:
            chosen.sort(key=lambda m: (m.due_on or far, m.number))
        if request.query_params.get("direction", "asc") == "desc":
            chosen.reverse()
        rows = [dumps(payloads.milestone(self.world, repo, m)) for m in chosen]
        return self.paged(request, rows)

    async def milestone(self, request: Request) -> Response:
        repo = self.repo_of(request)
        ms = repo.milestones.get(int(request.path_params["number"]))
        if ms is None:
            return _error(404, "Not Found")
        return self.json(request, payloads.milestone(self.world, repo, ms))

    # --- issues ------------------------------------------------------------------------------------

    async def list_issues(self, request: Request) -> Response:
        repo = self.repo_of(request)
        q = request.query_params
        state = q.get("state", "open")
        sort = q.get("sort", "created")
        direction = q.get("direction", "desc")
        if state not in ("open", "closed", "all") or sort not in ("created", "updated", "comments"):
            return _error(422, "Validation Failed")
        if direction not in ("asc", "desc"):
            return _error(422, "Validation Failed")
        since = None
        if q.get("since"):
            try:
                since = datetime.fromisoformat(q["since"].replace("Z", "+00:00"))
            except ValueError:
                return _error(422, "Validation Failed")
            since = (since if since.tzinfo else since.replace(tzinfo=UTC)).astimezone(UTC)
        labels = tuple(x.strip() for x in q.get("labels", "").split(",") if x.strip())
        query = (
            state,
            sort,
            direction,
            labels,
            q.get("milestone"),
            q.get("assignee"),
            q.get("creator"),
            q.get("type"),
            since,
        )
        return self._conditional_page(
            request,
            repo,
            "",
            lambda: self.world.list_issues(repo, query),
            self.world.issue_bytes,
        )

    async def list_pulls(self, request: Request) -> Response:
        """GET /repos/{owner}/{repo}/pulls: state, head (`owner:branch`), base, sort (created,
        updated, popularity, long-running), direction (default desc for created, else asc),
        per_page/page with a Link header, weak ETag and 304 as on the issue list."""
        repo = self.repo_of(request)
        q = request.query_params
        state = q.get("state", "open")
        sort = q.get("sort", "created")
        direction = q.get("direction", "desc" if sort == "created" else "asc")
        if state not in ("open", "closed", "all") or sort not in (
            "created",
            "updated",
            "popularity",
            "long-running",
        ):
            return _error(422, "Validation Failed")
        if direction not in ("asc", "desc"):
            return _error(422, "Validation Failed")
        return self._conditional_page(
            request,
            repo,
            "pulls:",
            lambda: self.world.list_pulls(repo, state, sort, direction, q.get("head"), q.get("base")),
            lambda pull: payloads.pull_json(self.world, pull),
        )

    def _conditional_page(
        self,
        request: Request,
        repo: Repo,
        scope: str,
        load: Callable[[], Sequence[Any]],
        encode: Callable[[Any], bytes],
    ) -> Response:
        """One page of a repository list, with Link paging, a weak ETag and 304.

        Conditional requests: a 304 does not count against the rate limit (the middleware charges
        only non-304 answers):
        https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api#use-conditional-requests-if-appropriate
        The weak ETag names the repository's version and the exact query: any change to an issue
        of this repository (or embedded in one) gives a new ETag. A served page may trigger the
        ``scan_mutation`` fault.
        """
        per_page, page = self.page_params(request)
        etag = (
            'W/"'
            + hashlib.blake2b(
                f"{scope}{repo.id}:{repo.version}:{request.url.query}".encode(), digest_size=16
            ).hexdigest()
            + '"'
        )
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers={"ETag": etag})
        items = load()
        last = max(1, math.ceil(len(items) / per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        body = b"[" + b",".join(encode(it) for it in chunk) + b"]"
        headers = {"ETag": etag, "Cache-Control": "private, max-age=60, s-maxage=60"}
        link = self.link_header(request, page, last)
        if link:
            headers["Link"] = link
        response = self.respond(request, body, 200, headers)
        self._scan_mutation(repo)
        return response

    def _scan_mutation(self, repo: Repo) -> None:
        """The ``scan_mutation`` fault: items change while a client pages through the list."""
        k = self.world.ctx.faults.scan_mutation("github")
        if not k or not repo.by_updated:
            return
        rng = self.world.ctx.rng
        for it in rng.sample(repo.by_updated, min(k, len(repo.by_updated))):
            self.world.touch(it)
            self.world.emit_issue("edited", it, changes={})

    async def get_issue(self, request: Request) -> Response:
        it = self.issue_of(request)
        if isinstance(it, Response):
            return it
        raw = self.world.issue_bytes(it)
        etag = 'W/"' + hashlib.blake2b(raw, digest_size=16).hexdigest() + '"'
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers={"ETag": etag})
        return self.respond(request, raw, 200, {"ETag": etag})

    async def create_issue(self, request: Request) -> Response:
        repo = self.repo_of(request)
        data = await self.body(request)
        assignees = list(data.get("assignees") or ([data["assignee"]] if data.get("assignee") else []))
        it = self.world.create_issue(
            repo,
            str(data.get("title") or ""),
            body=data.get("body"),
            labels=[str(n if isinstance(n, str) else n.get("name")) for n in data.get("labels") or []],
            assignees=assignees,
            milestone=int(data["milestone"]) if data.get("milestone") is not None else None,
            type=data.get("type"),
        )
        location = f"{self.world.api}/repos/{repo.full_name}/issues/{it.number}"
        return self.respond(request, self.world.issue_bytes(it), 201, {"Location": location})

    async def update_issue(self, request: Request) -> Response:
        it = self.issue_of(request)
        if isinstance(it, Response):
            return it
        data = await self.body(request)
        changes: dict[str, Any] = {
            k: data[k]
            for k in ("title", "body", "state", "state_reason", "labels", "assignees", "milestone", "type")
            if k in data
        }
        if "assignee" in data and "assignees" not in data:
            changes["assignees"] = [data["assignee"]] if data["assignee"] else []
        self.world.update_issue(it, changes)
        return self.respond(request, self.world.issue_bytes(it))

    async def list_comments(self, request: Request) -> Response:
        it = self.issue_of(request)
        if isinstance(it, Response):
            return it
        rows = [dumps(payloads.comment(self.world, it, c)) for c in it.comments]
        return self.paged(request, rows)

    async def create_comment(self, request: Request) -> Response:
        it = self.issue_of(request)
        if isinstance(it, Response):
            return it
        data = await self.body(request)
        if not data.get("body"):
            return _error(422, "Validation Failed")
        c = self.world.add_comment(it, str(data["body"]))
        return self.json(request, payloads.comment(self.world, it, c), 201)

    # --- sub-issues and dependencies ----------------------------------------------------------------

    # Sub-issues: https://docs.github.com/en/rest/issues/sub-issues (writes take the sub-issue's id)
    async def list_sub_issues(self, request: Request) -> Response:
        it = self.issue_of(request)
        if isinstance(it, Response):
            return it
        rows = [self.world.issue_bytes(self.world.issues_by_id[c]) for c in it.children]
        return self.paged(request, rows)

    async def add_sub_issue(self, request: Request) -> Response:
        parent = self.issue_of(request)
        if isinstance(parent, Response):
            return parent
        data = await self.body(request)
        child = self.by_id(data.get("sub_issue_id"))
        self.world.add_sub_issue(parent, child, bool(data.get("replace_parent")))
        return self.respond(request, self.world.issue_bytes(parent), 201)

    async def remove_sub_issue(self, request: Request) -> Response:
        parent = self.issue_of(request)
        if isinstance(parent, Response):
            return parent
        data = await self.body(request)
        child = self.by_id(data.get("sub_issue_id"))
        self.world.remove_sub_issue(parent, child)
        return self.respond(request, self.world.issue_bytes(parent))

    async def parent(self, request: Request) -> Response:
        it = self.issue_of(request)
        if isinstance(it, Response):
            return it
        if it.parent is None:
            return _error(404, "Not Found")
        return self.respond(request, self.world.issue_bytes(self.world.issues_by_id[it.parent]))

    # Dependencies: https://docs.github.com/en/rest/issues/issue-dependencies (writes take the issue id)
    async def blocked_by(self, request: Request) -> Response:
        it = self.issue_of(request)
        if isinstance(it, Response):
            return it
        rows = [self.world.issue_bytes(self.world.issues_by_id[b]) for b in it.blocked_by]
        return self.paged(request, rows)

    async def blocking(self, request: Request) -> Response:
        it = self.issue_of(request)
        if isinstance(it, Response):
            return it
        rows = [self.world.issue_bytes(self.world.issues_by_id[b]) for b in it.blocking]
        return self.paged(request, rows)

    async def add_blocked_by(self, request: Request) -> Response:
        it = self.issue_of(request)
        if isinstance(it, Response):
            return it
        data = await self.body(request)
        blocker = self.by_id(data.get("issue_id"))
        self.world.add_blocked_by(it, blocker)
        return self.respond(request, self.world.issue_bytes(it), 201)

    async def remove_blocked_by(self, request: Request) -> Response:
        it = self.issue_of(request)
        if isinstance(it, Response):
            return it
        blocker = self.by_id(request.path_params["issue_id"])
        self.world.remove_blocked_by(it, blocker)
        return self.respond(request, self.world.issue_bytes(it))

    # --- hooks ------------------------------------------------------------------------------------------

    def hook_scope(self, request: Request) -> tuple[str, str]:
        """(dispatcher scope, URL path prefix) for a repository or organization hook route."""
        if "repo" in request.path_params:
            repo = self.repo_of(request)
            return repo.full_name, f"repos/{repo.full_name}"
        org = request.path_params["org"]
        if org not in self.world.orgs:
            raise MutationError("Not Found", 404)
        return org, f"orgs/{org}"

    def _hook_json(self, target: Any, path: str) -> dict[str, Any]:
        log = self.world.ctx.webhooks.deliveries(hook_id=target.id)
        return payloads.hook(self.world, target, path, log[-1] if log else None)

    async def list_hooks(self, request: Request) -> Response:
        scope, path = self.hook_scope(request)
        targets = self.world.ctx.webhooks.targets("github", scope=scope)
        return self.json(request, [self._hook_json(t, path) for t in targets])

    async def create_hook(self, request: Request) -> Response:
        scope, path = self.hook_scope(request)
        data = await self.body(request)
        config = data.get("config") or {}
        if not config.get("url"):
            return _error(422, "Validation Failed")
        hooks = self.world.ctx.webhooks
        hook_id = hooks.register(
            "github",
            str(config["url"]),
            str(config.get("secret") or ""),
            data.get("events") or ["push"],
            scope=scope,
        )
        target = hooks.target(hook_id)
        assert target is not None
        target.active = bool(data.get("active", True))
        hook_json = self._hook_json(target, path)
        self._ping(target, scope, hook_json)
        return self.json(request, hook_json, 201)

    def _ping(self, target: Any, scope: str, hook_json: dict[str, Any]) -> None:
        """GitHub sends a ``ping`` event to a hook right after it is created."""
        payload: dict[str, Any] = {
            "zen": "Keep it logically awesome.",
            "hook_id": target.id,
            "hook": hook_json,
        }
        repo = self.world.repos.get(scope)
        if repo is not None:
            payload["repository"] = self.world.repo_dict(repo)
        payload["organization"] = payloads.organization(self.world, scope.split("/")[0])
        payload["sender"] = self.world.user_json(self.world.actor)
        self.world.ctx.webhooks.emit("github", "ping", payload, scope=scope, hook_id=target.id)

    def _target(self, request: Request) -> Any:
        scope, _ = self.hook_scope(request)
        target = self.world.ctx.webhooks.target(int(request.path_params["hook_id"]))
        if target is None or target.scope != scope or target.tracker != "github":
            raise MutationError("Not Found", 404)
        return target

    async def get_hook(self, request: Request) -> Response:
        target = self._target(request)
        return self.json(request, self._hook_json(target, self.hook_scope(request)[1]))

    async def delete_hook(self, request: Request) -> Response:
        target = self._target(request)
        self.world.ctx.webhooks.unregister(target.id)
        return Response(status_code=204)

    # https://docs.github.com/en/rest/repos/webhooks#list-deliveries-for-a-repository-webhook
    async def hook_deliveries(self, request: Request) -> Response:
        target = self._target(request)
        repo_id = self.world.repos[target.scope].id if target.scope in self.world.repos else None
        log = list(reversed(self.world.ctx.webhooks.deliveries(hook_id=target.id)))
        per_page = max(1, min(int(request.query_params.get("per_page", 30)), 100))
        cursor = int(request.query_params.get("cursor") or 0)
        chunk = log[cursor : cursor + per_page]
        headers = {}
        if cursor + per_page < len(log):
            nxt = f"{self.base(request)}{request.url.path}?per_page={per_page}&cursor={cursor + per_page}"
            headers["Link"] = f'<{nxt}>; rel="next"'
        return self.json(request, [payloads.delivery(d, repo_id) for d in chunk], 200, headers)

    async def redeliver(self, request: Request) -> Response:
        target = self._target(request)
        original = self.world.ctx.webhooks.delivery(int(request.path_params["delivery_id"]))
        if original is None or original.hook_id != target.id:
            return _error(404, "Not Found")
        self.world.ctx.webhooks.redeliver(original.id)
        return self.json(request, {}, 202)

    # --- Projects v2 ---------------------------------------------------------------------------------

    def _project(self, request: Request) -> None:
        if request.path_params["org"] not in self.world.orgs or int(request.path_params["number"]) != 1:
            raise MutationError("Not Found", 404)

    def _field_json(self, request: Request, f: Any) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": f.id,
            "node_id": payloads.node_id("PVTF_", f.id),
            "project_url": f"{self.world.api}/orgs/{request.path_params['org']}/projectsV2/{self.world.project_id}",
            "name": f.name,
            "data_type": f.data_type,
            "created_at": "2025-01-06T09:00:00Z",
            "updated_at": "2025-01-06T09:00:00Z",
        }
        if f.options:
            data["options"] = [
                {
                    "id": o["id"],
                    "name": {"raw": o["name"], "html": o["name"]},
                    "description": {"raw": "", "html": ""},
                    "color": o["color"],
                }
                for o in f.options
            ]
        if f.iterations:
            data["configuration"] = {
                "start_day": 1,
                "duration": 14,
                "iterations": [
                    {
                        "id": it["id"],
                        "start_date": it["start_date"],
                        "duration": it["duration"],
                        "title": {"raw": it["title"], "html": it["title"]},
                        "completed": False,
                    }
                    for it in f.iterations
                ],
            }
        return data

    async def project(self, request: Request) -> Response:
        self._project(request)
        org = request.path_params["org"]
        return self.json(
            request,
            {
                "id": self.world.project_id,
                "node_id": payloads.node_id("PVT_", self.world.project_id),
                "number": 1,
                "title": self.world.project_title,
                "owner": self.world.user_json(org),
                "creator": self.world.user_json("tpm-acme"),
                "description": None,
                "public": False,
                "closed_at": None,
                "created_at": "2025-01-06T09:00:00Z",
                "updated_at": "2025-01-06T09:00:00Z",
                "deleted_at": None,
                "deleted_by": None,
                "state": "open",
            },
        )

    async def project_fields(self, request: Request) -> Response:
        self._project(request)
        return self.json(request, [self._field_json(request, f) for f in self.world.project_fields])

    # https://docs.github.com/en/rest/projects/items (cursor paging with `after`, `fields` by id)
    async def project_items(self, request: Request) -> Response:
        self._project(request)
        wanted: set[int] = set()
        for key, value in request.query_params.multi_items():
            if key in ("fields", "fields[]"):
                wanted.update(int(v) for v in value.split(",") if v.strip().isdigit())
        per_page = max(1, min(int(request.query_params.get("per_page", 30)), 100))
        after = request.query_params.get("after")
        ids = [i for i in self.world.project_items if self.world.issues_by_id[i].live]
        start = 0
        if after:
            try:
                start = ids.index(int(payloads_cursor_decode(after))) + 1
            except ValueError:
                start = len(ids)
        chunk = ids[start : start + per_page]
        org = request.path_params["org"]
        project_url = f"{self.world.api}/orgs/{org}/projectsV2/{self.world.project_id}"
        rows = []
        for issue_id in chunk:
            it = self.world.issues_by_id[issue_id]
            values = it.project or {}
            fields = []
            for f in self.world.project_fields:
                if (wanted and f.id not in wanted) or (not wanted and f.name != "Title"):
                    continue
                fields.append(
                    {
                        "id": f.id,
                        "name": f.name,
                        "data_type": f.data_type,
                        "value": _field_value(f, it, values),
                    }
                )
            rows.append(
                {
                    "id": it.project_item_id,
                    "node_id": payloads.node_id("PVTI_", it.project_item_id or 0),
                    "project_url": project_url,
                    "content_type": "Issue",
                    "content": self.world.issue_dict(it),
                    "creator": self.world.user_json("tpm-acme"),
                    "created_at": payloads.ts(it.created_at),
                    "updated_at": payloads.ts(it.updated_at),
                    "archived_at": None,
                    "item_url": f"{project_url}/items/{it.project_item_id}",
                    "fields": fields,
                }
            )
        headers = {}
        if start + per_page < len(ids) and chunk:
            params = [(k, v) for k, v in request.query_params.multi_items() if k not in ("after", "before")]
            params.append(("after", payloads_cursor_encode(chunk[-1])))
            headers["Link"] = f'<{self.base(request)}{request.url.path}?{urlencode(params)}>; rel="next"'
        return self.json(request, rows, 200, headers)


def payloads_cursor_encode(issue_id: int) -> str:
    import base64

    return base64.urlsafe_b64encode(orjson.dumps({"id": issue_id})).decode().rstrip("=")


def payloads_cursor_decode(cursor: str) -> int:
    import base64

    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return int(orjson.loads(base64.urlsafe_b64decode(padded))["id"])
    except (ValueError, KeyError, orjson.JSONDecodeError):
        return -1


def _field_value(f: Any, it: Issue, values: dict[str, Any]) -> Any:
    if f.data_type == "title":
        return {"raw": it.title, "html": it.title}
    value = values.get(f.name)
    if value is None:
        return None
    if f.data_type == "single_select":
        option = next((o for o in f.options if o["name"] == value), None)
        if option is None:
            return None
        return {
            "id": option["id"],
            "name": {"raw": option["name"], "html": option["name"]},
            "color": option["color"],
            "description": {"raw": "", "html": ""},
        }
    if f.data_type == "iteration":
        iteration = next((i for i in f.iterations if i["title"] == value), None)
        if iteration is None:
            return None
        return {
            "id": iteration["id"],
            "start_date": iteration["start_date"],
            "duration": iteration["duration"],
            "title": {"raw": iteration["title"], "html": iteration["title"]},
        }
    return value


def build_routes(world: GitHubWorld) -> list[BaseRoute]:
    api = Api(world)
    g = api.guard
    issue = "/repos/{owner}/{repo}/issues/{number}"
    return [
        Route("/rate_limit", g(api.rate_limit)),
        Route("/user", g(api.authenticated_user)),
        Route("/users/{login}", g(api.user)),
        Route("/orgs/{org}", g(api.org)),
        Route("/orgs/{org}/repos", g(api.org_repos)),
        Route("/orgs/{org}/issue-types", g(api.issue_types)),
        Route("/orgs/{org}/hooks", g(api.list_hooks)),
        Route("/orgs/{org}/hooks", g(api.create_hook), methods=["POST"]),
        Route("/orgs/{org}/hooks/{hook_id:int}", g(api.get_hook)),
        Route("/orgs/{org}/hooks/{hook_id:int}", g(api.delete_hook), methods=["DELETE"]),
        Route("/orgs/{org}/hooks/{hook_id:int}/deliveries", g(api.hook_deliveries)),
        Route(
            "/orgs/{org}/hooks/{hook_id:int}/deliveries/{delivery_id:int}/attempts",
            g(api.redeliver),
            methods=["POST"],
        ),
        Route("/orgs/{org}/projectsV2/{number}", g(api.project)),
        Route("/orgs/{org}/projectsV2/{number}/fields", g(api.project_fields)),
        Route("/orgs/{org}/projectsV2/{number}/items", g(api.project_items)),
        Route("/repos/{owner}/{repo}", g(api.repository)),
        Route("/repos/{owner}/{repo}/labels", g(api.labels)),
        Route("/repos/{owner}/{repo}/milestones", g(api.milestones)),
        Route("/repos/{owner}/{repo}/milestones/{number}", g(api.milestone)),
        Route("/repos/{owner}/{repo}/issues", g(api.list_issues)),
        Route("/repos/{owner}/{repo}/pulls", g(api.list_pulls)),
        Route("/repos/{owner}/{repo}/issues", g(api.create_issue), methods=["POST"]),
        Route(issue, g(api.get_issue)),
        Route(issue, g(api.update_issue), methods=["PATCH"]),
        Route(issue + "/comments", g(api.list_comments)),
        Route(issue + "/comments", g(api.create_comment), methods=["POST"]),
        Route(issue + "/sub_issues", g(api.list_sub_issues)),
        Route(issue + "/sub_issues", g(api.add_sub_issue), methods=["POST"]),
        Route(issue + "/sub_issue", g(api.remove_sub_issue), methods=["DELETE"]),
        Route(issue + "/parent", g(api.parent)),
        Route(issue + "/dependencies/blocked_by", g(api.blocked_by)),
        Route(issue + "/dependencies/blocked_by", g(api.add_blocked_by), methods=["POST"]),
        Route(issue + "/dependencies/blocked_by/{issue_id}", g(api.remove_blocked_by), methods=["DELETE"]),
        Route(issue + "/dependencies/blocking", g(api.blocking)),
        Route("/repos/{owner}/{repo}/hooks", g(api.list_hooks)),
        Route("/repos/{owner}/{repo}/hooks", g(api.create_hook), methods=["POST"]),
        Route("/repos/{owner}/{repo}/hooks/{hook_id:int}", g(api.get_hook)),
        Route("/repos/{owner}/{repo}/hooks/{hook_id:int}", g(api.delete_hook), methods=["DELETE"]),
        Route("/repos/{owner}/{repo}/hooks/{hook_id:int}/deliveries", g(api.hook_deliveries)),
        Route(
            "/repos/{owner}/{repo}/hooks/{hook_id:int}/deliveries/{delivery_id:int}/attempts",
            g(api.redeliver),
            methods=["POST"],
        ),
    ]
