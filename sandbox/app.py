"""The sandbox ASGI app: both tracker worlds plus the ``/_sandbox`` control API.

``create_app(config)`` mounts the GitHub world at ``/github/api/v3`` and the Jira world at
``/jira``. One pure-ASGI middleware (cheap: the benchmarks need hundreds of pages a second) fills
the request ledger and applies the generic faults before a world sees the request. A world that
cannot be imported or built is left out and reported by ``/healthz`` instead of breaking the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount, Route, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox import demo
from sandbox.core import (
    MutationError,
    SandboxConfig,
    SandboxContext,
    TrackerWorld,
    dumps,
    iso,
    json_response,
)

__all__ = ["MOUNTS", "create_app"]

log = logging.getLogger("sandbox")

MOUNTS = {"github": "/github/api/v3", "jira": "/jira"}
WORLD_CLASSES = {
    "github": ("sandbox.github.world", "GitHubWorld"),
    "jira": ("sandbox.jira.world", "JiraWorld"),
}
GITHUB_DOCS = "https://docs.github.com/rest"


def tracker_of(path: str) -> str | None:
    if path.startswith("/github/"):
        return "github"
    if path == "/jira" or path.startswith("/jira/"):
        return "jira"
    return None


def _error_body(tracker: str, status: int, message: str) -> bytes:
    if tracker == "github":
        return dumps({"message": message, "documentation_url": GITHUB_DOCS, "status": str(status)})
    return dumps({"errorMessages": [message], "errors": {}})


class SandboxMiddleware:
    """Ledger + generic faults + GitHub's x-ratelimit headers, around the whole app."""

    def __init__(self, app: ASGIApp, ctx: SandboxContext, routes: dict[str, list[BaseRoute]]) -> None:
        self.app = app
        self.ctx = ctx
        self.routes = routes

    def _template(self, tracker: str, scope: Scope) -> str:
        """The route template of a request the middleware answered itself (a fault), for the ledger."""
        relative: str = str(scope["path"]).removeprefix(MOUNTS[tracker])
        child = {**scope, "path": relative, "root_path": ""}
        for route in self.routes.get(tracker, []):
            match, _ = route.matches(child)
            if match is not Match.NONE and isinstance(route, Route):
                return str(route.path)
        return relative

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        tracker = tracker_of(path)
        if tracker is None:
            await self.app(scope, receive, send)
            return
        ctx = self.ctx
        faults = ctx.faults
        status_seen = 0
        is_github = tracker == "github"
        rate_limit_route = is_github and path.endswith("/rate_limit")
        truncate = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status_seen
            if message["type"] == "http.response.start":
                status_seen = message["status"]
                if is_github:
                    headers = list(message.get("headers", []))
                    exhausted = faults.primary_exhausted("github")
                    ctx.github_budget.charge(counts=status_seen != 304 and not rate_limit_route)
                    headers.extend(ctx.github_budget.headers(exhausted))
                    headers.append((b"x-github-request-id", uuid.uuid4().hex[:20].upper().encode()))
                    headers.append((b"x-github-api-version-selected", b"2022-11-28"))
                    message = {**message, "headers": headers}
            await send(message)

        latency = faults.latency_ms(tracker)
        if latency:
            await asyncio.sleep(latency / 1000)
        try:
            refusal = faults.rate_limited(tracker)
            if refusal is not None:
                await self._refuse_rate_limited(
                    tracker, refusal.status, refusal.retry_after, refusal, send_wrapper
                )
            elif is_github and faults.primary_exhausted("github") and not rate_limit_route:
                await self._refuse_primary(send_wrapper)
            elif (error_status := faults.take_error(tracker)) is not None:
                body = _error_body(tracker, error_status, "Server Error (sandbox fault)")
                retry_after = faults.error_retry_after(tracker)
                extra = {"Retry-After": str(retry_after)} if retry_after is not None else {}
                await _send_bytes(send_wrapper, error_status, body, extra)
            else:
                truncate = faults.take_truncate(tracker)
                await self.app(scope, receive, _truncating(send_wrapper) if truncate else send_wrapper)
        finally:
            route = scope.get("route")
            template = route.path if isinstance(route, Route) else self._template(tracker, scope)
            query = scope.get("query_string", b"").decode("latin-1")
            ctx.ledger.record(tracker, scope["method"], template, path, status_seen or 500, query)

    async def _refuse_rate_limited(
        self, tracker: str, status: int, retry_after: int, refusal: Any, send: Send
    ) -> None:
        if tracker == "jira":
            # https://developer.atlassian.com/cloud/jira/platform/rate-limiting/
            headers = {
                "Retry-After": str(retry_after),
                "X-RateLimit-Reset": refusal.reset_at.strftime("%Y-%m-%dT%H:%MZ"),
                "X-RateLimit-Limit": "100",
                "X-RateLimit-Remaining": "0",
                "RateLimit-Reason": "jira-burst-based",
            }
            body = dumps({"errorMessages": ["Rate limit exceeded."], "errors": {}})
        else:
            # https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api#about-secondary-rate-limits
            headers = {"retry-after": str(retry_after)}
            body = dumps(
                {
                    "message": "You have exceeded a secondary rate limit. Please wait a few minutes before "
                    "you try again. If you reach out to GitHub Support for help, please include the "
                    "request ID.",
                    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
                    "#about-secondary-rate-limits",
                    "status": str(status),
                }
            )
        await _send_bytes(send, status, body, headers)

    async def _refuse_primary(self, send: Send) -> None:
        body = dumps(
            {
                "message": "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for "
                "help, please include the request ID.",
                "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
                "#about-primary-rate-limits",
                "status": "403",
            }
        )
        await _send_bytes(send, 403, body, {})


async def _send_bytes(send: Send, status: int, body: bytes, headers: dict[str, str]) -> None:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    raw.append((b"content-type", b"application/json; charset=utf-8"))
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _truncating(send: Send) -> Send:
    """Buffer the response and send only the first half of the body (a cut-off transfer)."""
    start: MutableMapping[str, Any] = {}
    chunks: list[bytes] = []

    async def wrapper(message: Message) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
            return
        if message["type"] != "http.response.body":
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body"):
            return
        body = b"".join(chunks)
        cut = body[: len(body) // 2]
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(cut)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": cut})

    return wrapper


def _load_worlds(
    ctx: SandboxContext, config: SandboxConfig
) -> tuple[dict[str, TrackerWorld], dict[str, list[BaseRoute]], dict[str, str]]:
    worlds: dict[str, TrackerWorld] = {}
    routes: dict[str, list[BaseRoute]] = {}
    missing: dict[str, str] = {}
    for tracker, (module_name, class_name) in WORLD_CLASSES.items():
        try:
            module = importlib.import_module(module_name)
            world = getattr(module, class_name)(ctx, config)
            routes[tracker] = world.routes()
            worlds[tracker] = world
        except Exception as error:  # a half-built world must not take the other tracker down
            missing[tracker] = f"{type(error).__name__}: {error}"
            log.warning("sandbox.world.unavailable tracker=%s error=%s", tracker, missing[tracker])
    return worlds, routes, missing


def _not_found(tracker: str) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if tracker == "github":
            body = _error_body("github", 404, "Not Found")
        else:
            body = dumps({"errorMessages": [f"null for uri: {scope['path']}"], "errors": {}})
        await _send_bytes(send, 404, body, {})

    return app


def merge_truth(ctx: SandboxContext, worlds: dict[str, TrackerWorld]) -> dict[str, Any]:
    truth: dict[str, Any] = {
        "as_of": iso(ctx.clock.now()),
        "items": [],
        "links": [],
        "releases": [],
        "sprints": [],
        "status_history": {},
        "people": [],
    }
    seen_links: set[tuple[str, str, str]] = set()
    seen_people: set[str] = set()
    for world in worlds.values():
        part = world.truth()
        truth["items"].extend(part.get("items", []))
        for link in part.get("links", []):
            ident = (link["from"], link["to"], link["type"])
            if ident not in seen_links:
                seen_links.add(ident)
                truth["links"].append(link)
        truth["releases"].extend(part.get("releases", []))
        truth["sprints"].extend(part.get("sprints", []))
        truth["status_history"].update(part.get("status_history", {}))
        for person in part.get("people", []):
            if person.get("email") not in seen_people:
                seen_people.add(person.get("email"))
                truth["people"].append(person)
    if not truth["people"]:
        truth["people"] = [
            {
                "name": p.name,
                "email": p.email,
                "jira_account_id": p.jira_account_id,
                "github_login": p.github_login,
            }
            for p in demo.PEOPLE
        ]
    return truth


def create_app(config: SandboxConfig | None = None) -> Starlette:
    """The sandbox as one Starlette app (``app.state.ctx``, ``app.state.worlds`` for tests)."""
    config = config or SandboxConfig()
    ctx = SandboxContext(config)
    worlds, world_routes, missing = _load_worlds(ctx, config)
    _freeze_heap()

    async def healthz(request: Request) -> Response:
        return json_response({"ok": True, "worlds": sorted(worlds), "unavailable": missing})

    async def stats(request: Request) -> Response:
        try:
            since = int(request.query_params.get("since", "0") or 0)
        except ValueError:
            return json_response({"error": "since must be a sequence number"}, 400)
        entries = request.query_params.get("entries", "1") not in ("0", "false")
        return json_response(ctx.ledger.snapshot(since, entries))

    async def stats_reset(request: Request) -> Response:
        ctx.ledger.reset()
        ctx.github_budget.reset()
        return json_response({"ok": True})

    async def truth(request: Request) -> Response:
        wanted = request.query_params.get("tracker")  # ?tracker=github: one world only (cheaper at scale)
        chosen = {t: w for t, w in worlds.items() if wanted in (None, t)}
        return json_response(merge_truth(ctx, chosen))

    async def reset(request: Request) -> Response:
        ctx.clock.reset()
        ctx.rng.seed(config.rng_seed)
        for world in worlds.values():
            world.reset()
        _freeze_heap()
        ctx.faults.clear()
        ctx.faults.merge(ctx.initial_faults())
        ctx.ledger.reset()
        ctx.github_budget.reset()
        ctx.webhooks.reset()
        return json_response({"ok": True})

    async def mutate(request: Request) -> Response:
        body = await _json_body(request)
        if not isinstance(body, dict):
            return json_response({"error": "body must be a JSON object"}, 400)
        tracker = body.pop("tracker", None)
        world = worlds.get(str(tracker))
        if world is None:
            return json_response({"error": f"unknown or unavailable tracker {tracker!r}"}, 400)
        # {"tracker": t, "ops": [op, ...]} applies a batch in order (load generators); stops at the
        # first failure and says which one.
        batch = body.get("ops")
        ops = batch if isinstance(batch, list) else [body]
        results = []
        for index, op in enumerate(ops):
            try:
                results.append(world.mutate(dict(op)))
            except MutationError as error:
                return json_response({"error": str(error), "index": index, "done": results}, error.status)
            except (KeyError, ValueError, TypeError, AttributeError) as error:
                message = f"{type(error).__name__}: {error}"
                return json_response({"error": message, "index": index, "done": results}, 400)
        return json_response(results if isinstance(batch, list) else results[0])

    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            ctx.faults.clear()
            return json_response(ctx.faults.get())
        if request.method == "POST":
            body = await _json_body(request)
            if not isinstance(body, dict):
                return json_response({"error": "body must be a JSON object"}, 400)
            return json_response(ctx.faults.merge(body))
        return json_response(ctx.faults.get())

    async def webhooks_register(request: Request) -> Response:
        body = await _json_body(request)
        if not isinstance(body, dict) or body.get("tracker") not in MOUNTS or not body.get("url"):
            return json_response(
                {"error": 'expected {"tracker": "jira"|"github", "url": ..., "secret": ...}'}, 400
            )
        hook_id = ctx.webhooks.register(
            body["tracker"],
            body["url"],
            str(body.get("secret", "")),
            body.get("events"),
            scope=body.get("scope"),
        )
        return json_response({"id": hook_id}, 201)

    async def deliveries(request: Request) -> Response:
        try:
            wait = min(float(request.query_params.get("wait", "0") or 0), 120.0)
        except ValueError:
            return json_response({"error": "wait must be a number of seconds"}, 400)
        if wait:
            ctx.webhooks.flush_held()
            await asyncio.to_thread(ctx.webhooks.wait_idle, wait)
        tracker = request.query_params.get("tracker")
        full = request.query_params.get("full") in ("1", "true")
        items = []
        for d in ctx.webhooks.deliveries(tracker=tracker):
            entry = d.summary()
            if full:
                entry["headers"] = d.headers
                entry["payload"] = orjson.loads(d.body)
            items.append(entry)
        return json_response({"pending": ctx.webhooks.pending(), "deliveries": items})

    async def clock_advance(request: Request) -> Response:
        body = await _json_body(request)
        try:
            ctx.clock.advance(float((body or {}).get("seconds", 0)))
        except (TypeError, ValueError, AttributeError):
            return json_response({"error": 'expected {"seconds": number}'}, 400)
        return json_response({"now": iso(ctx.clock.now())})

    control = [
        Route("/stats", stats, methods=["GET"]),
        Route("/stats/reset", stats_reset, methods=["POST"]),
        Route("/truth", truth, methods=["GET"]),
        Route("/reset", reset, methods=["POST"]),
        Route("/mutate", mutate, methods=["POST"]),
        Route("/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route("/webhooks", webhooks_register, methods=["POST"]),
        Route("/webhooks/deliveries", deliveries, methods=["GET"]),
        Route("/clock/advance", clock_advance, methods=["POST"]),
    ]
    routes: list[BaseRoute] = [Route("/healthz", healthz), Mount("/_sandbox", routes=control)]
    for tracker in worlds:
        routes.append(Mount(MOUNTS[tracker], app=Router(world_routes[tracker], default=_not_found(tracker))))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(activity_loop(ctx, worlds)) if config.activity else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            ctx.webhooks.close()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(SandboxMiddleware, ctx=ctx, routes=world_routes)
    app.state.ctx = ctx
    app.state.worlds = worlds
    app.state.unavailable = missing
    return app


def _freeze_heap() -> None:
    """Move the seeded worlds out of the garbage collector's sight.

    A scale world holds millions of objects; without this every gen-2 collection (triggered by the
    dicts a request allocates) walks them all and a page of 100 issues takes several times longer.
    """
    gc.collect()
    gc.freeze()


async def activity_loop(ctx: SandboxContext, worlds: dict[str, TrackerWorld]) -> None:
    """The ``--activity`` random walk: one mutation in a random world every interval."""
    trackers = sorted(worlds)
    while trackers:
        await asyncio.sleep(ctx.config.activity_interval)
        world = worlds[ctx.rng.choice(trackers)]
        try:
            done = world.random_mutation(ctx.rng)
        except Exception:  # a failing step is logged; the walk goes on
            log.exception("sandbox.activity.failed tracker=%s", world.tracker)
            continue
        log.info("sandbox.activity tracker=%s %s", world.tracker, done)


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
