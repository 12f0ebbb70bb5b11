"""The sandbox's shared machinery: clock, request ledger, faults, webhook dispatcher, context.

Both tracker worlds (``sandbox.github.world.GitHubWorld`` and ``sandbox.jira.world.JiraWorld``)
are built on these pieces and implement the ``TrackerWorld`` protocol. The app (``sandbox.app``)
mounts the worlds, fills the ledger and applies the generic faults in one ASGI middleware; the
worlds only read the world-specific faults (``scan_mutation``) and call ``WebhookDispatcher.emit``.

State is mutated from the event-loop thread only (handlers are ``async def`` and never await while
mutating), so the worlds need no locks. The ledger, the faults and the dispatcher are also touched
from other threads (the webhook sender, test helpers) and therefore lock.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import itertools
import math
import queue
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

import orjson
from starlette.responses import Response
from starlette.routing import BaseRoute

__all__ = [
    "TRACKERS",
    "Clock",
    "Faults",
    "JSONBytesResponse",
    "Ledger",
    "MutationError",
    "RateBudget",
    "SandboxConfig",
    "SandboxContext",
    "TrackerWorld",
    "WebhookDispatcher",
    "WebhookTarget",
    "dumps",
    "iso",
    "json_response",
]

TRACKERS = ("jira", "github")

JIRA_RETRY_STATUSES = frozenset({408, 409, 425, 429})  # and every 5xx, and no answer at all

# The credentials the sandbox accepts (README "Credentials"); everything else answers 401.
GITHUB_TOKENS = frozenset({"sandbox-token"})
JIRA_CREDENTIALS = {"tpm@example.com": "sandbox-token"}


def dumps(data: Any) -> bytes:
    """JSON bytes as the trackers send them (orjson: fast, UTF-8, datetimes as ISO)."""
    return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 with microseconds and an explicit offset; None stays None."""
    return None if moment is None else moment.isoformat(timespec="microseconds")


class JSONBytesResponse(Response):
    """A JSON response whose body is already-encoded bytes (the worlds cache item JSON)."""

    media_type = "application/json; charset=utf-8"

    def render(self, content: Any) -> bytes:
        if isinstance(content, bytes):
            return content
        return dumps(content)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return JSONBytesResponse(data, status_code=status, headers=headers)


class Clock:
    """Aware-UTC time for the worlds. ``advance`` moves it forward (tests of `updated >=` etc.)."""

    def __init__(self) -> None:
        self._offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def advance(self, seconds: float) -> None:
        self._offset += timedelta(seconds=seconds)

    def reset(self) -> None:
        self._offset = timedelta(0)

    def monotonic(self) -> float:
        return time.monotonic() + self._offset.total_seconds()


@dataclass(frozen=True)
class LedgerEntry:
    seq: int
    at: datetime
    tracker: str
    method: str
    route: str
    path: str
    query: str
    status: int

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at.isoformat(timespec="microseconds"),
            "tracker": self.tracker,
            "method": self.method,
            "route": self.route,
            "path": self.path,
            "query": self.query,
            "status": self.status,
        }


class Ledger:
    """Every request the sandbox answered, by endpoint template and status (``/_sandbox/stats``).

    Counts are exact for the sandbox's life (until ``reset``); the entry list keeps the last
    ``max_entries`` requests so a million-request benchmark cannot exhaust memory.
    """

    def __init__(self, max_entries: int = 200_000) -> None:
        self._lock = threading.Lock()
        self._seq = 0
        self._entries: deque[LedgerEntry] = deque(maxlen=max_entries)
        self._counts: dict[str, dict[str, int]] = {}
        self._by_tracker: dict[str, int] = {}

    def record(self, tracker: str, method: str, route: str, path: str, status: int, query: str = "") -> int:
        endpoint = f"{method} {route}"
        with self._lock:
            self._seq += 1
            self._entries.append(
                LedgerEntry(self._seq, datetime.now(UTC), tracker, method, route, path, query, status)
            )
            per_status = self._counts.setdefault(endpoint, {})
            key = str(status)
            per_status[key] = per_status.get(key, 0) + 1
            self._by_tracker[tracker] = self._by_tracker.get(tracker, 0) + 1
            return self._seq

    def snapshot(self, since: int = 0, entries: bool = True) -> dict[str, Any]:
        with self._lock:
            return {
                "total": self._seq_total(),
                "last_seq": self._seq,
                "by_tracker": dict(self._by_tracker),
                "by_endpoint": {k: dict(v) for k, v in self._counts.items()},
                "entries": [e.as_json() for e in self._entries if e.seq > since] if entries else [],
            }

    def _seq_total(self) -> int:
        return sum(self._by_tracker.values())

    def reset(self) -> None:
        """Forget counts and entries; sequence numbers keep growing so `since` cursors stay valid."""
        with self._lock:
            self._entries.clear()
            self._counts.clear()
            self._by_tracker.clear()


@dataclass
class RateLimitRefusal:
    status: int
    retry_after: int
    reset_at: datetime


class Faults:
    """Switchable misbehaviour. State is a JSON object merged by ``POST /_sandbox/faults``.

    Generic keys (applied by the app middleware, per tracker ``"jira"`` / ``"github"``):
    ``rate_limit: {tracker: {"count": n, "retry_after": s, "status": 429|403}}``,
    ``primary_exhaust: {"github": true}``, ``errors: {tracker: {"count": n, "status": 502, "retry_after"?: s}}``,
    ``latency_ms: {tracker: ms}``, ``truncate: {tracker: n}``.
    World keys: ``scan_mutation: {tracker: k}``. Dispatcher keys:
    ``webhooks: {"drop": p, "duplicate": p, "reorder": p}`` (probabilities 0..1).
    """

    def __init__(self, clock: Clock, initial: dict[str, Any] | None = None) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._state: dict[str, Any] = {}
        # tracker -> monotonic time until which every request is refused again
        self._window_until: dict[str, float] = {}
        self._window_reset: dict[str, datetime] = {}
        self.early_requests: dict[str, int] = {}
        self.refusals: dict[str, int] = {}
        if initial:
            self.merge(initial)

    def get(self) -> dict[str, Any]:
        with self._lock:
            state = orjson.loads(dumps(self._state))
            state["_observed"] = {
                "refusals": dict(self.refusals),
                "early_requests": dict(self.early_requests),
            }
            return state  # type: ignore[no-any-return]

    def merge(self, update: dict[str, Any]) -> dict[str, Any]:
        # A private copy: counts are decremented in place and must not leak into the caller's dict
        # (a SandboxConfig's initial faults are reused by /_sandbox/reset and other sandboxes).
        update = orjson.loads(dumps(update))
        with self._lock:
            for key, value in update.items():
                if key.startswith("_"):
                    continue
                if isinstance(value, dict) and isinstance(self._state.get(key), dict):
                    self._state[key].update(value)
                else:
                    self._state[key] = value
            for tracker in list(self._window_until):
                if not (self._state.get("rate_limit") or {}).get(tracker):
                    self._window_until.pop(tracker, None)
        return self.get()

    def clear(self) -> None:
        with self._lock:
            self._state.clear()
            self._window_until.clear()
            self._window_reset.clear()
            self.early_requests.clear()
            self.refusals.clear()

    # --- generic faults, consumed by the middleware -------------------------------------------

    def _tracker_value(self, key: str, tracker: str) -> Any:
        value = self._state.get(key)
        return value.get(tracker) if isinstance(value, dict) else None

    def rate_limited(self, tracker: str) -> RateLimitRefusal | None:
        """A refusal if this request falls in a rate-limit window (opening one if count remains).

        Inside an open window every request is refused again and counted in ``early_requests``:
        a client that honours Retry-After never shows up there.
        """
        with self._lock:
            spec = self._tracker_value("rate_limit", tracker)
            if not isinstance(spec, dict):
                return None
            now = self._clock.monotonic()
            status = int(spec.get("status", 429))
            until = self._window_until.get(tracker, 0.0)
            if now < until:
                self.early_requests[tracker] = self.early_requests.get(tracker, 0) + 1
                self.refusals[tracker] = self.refusals.get(tracker, 0) + 1
                return RateLimitRefusal(status, max(1, math.ceil(until - now)), self._window_reset[tracker])
            count = int(spec.get("count", 0))
            if count <= 0:
                return None
            spec["count"] = count - 1
            retry_after = int(spec.get("retry_after", 1))
            self._window_until[tracker] = now + retry_after
            reset_at = self._clock.now() + timedelta(seconds=retry_after)
            self._window_reset[tracker] = reset_at
            self.refusals[tracker] = self.refusals.get(tracker, 0) + 1
            return RateLimitRefusal(status, retry_after, reset_at)

    def take_error(self, tracker: str) -> int | None:
        with self._lock:
            spec = self._tracker_value("errors", tracker)
            if not isinstance(spec, dict) or int(spec.get("count", 0)) <= 0:
                return None
            spec["count"] = int(spec["count"]) - 1
            return int(spec.get("status", 502))

    def error_retry_after(self, tracker: str) -> int | None:
        """``errors: {t: {..., "retry_after": s}}`` adds ``Retry-After`` (Jira's 503 may carry one)."""
        spec = self._tracker_value("errors", tracker)
        value = spec.get("retry_after") if isinstance(spec, dict) else None
        return int(value) if value is not None else None

    def latency_ms(self, tracker: str) -> float:
        value = self._tracker_value("latency_ms", tracker)
        return float(value) if value else 0.0

    def take_truncate(self, tracker: str) -> bool:
        with self._lock:
            value = self._tracker_value("truncate", tracker)
            if not value or int(value) <= 0:
                return False
            self._state["truncate"][tracker] = int(value) - 1
            return True

    def primary_exhausted(self, tracker: str) -> bool:
        return bool(self._tracker_value("primary_exhaust", tracker))

    # --- world and dispatcher faults ------------------------------------------------------------

    def scan_mutation(self, tracker: str) -> int:
        value = self._tracker_value("scan_mutation", tracker)
        return int(value) if value else 0

    def webhook_probability(self, kind: str) -> float:
        value = (self._state.get("webhooks") or {}).get(kind)
        return float(value) if value else 0.0


@dataclass
class WebhookTarget:
    id: int
    tracker: str
    url: str
    secret: str = field(repr=False)
    events: list[str] | None = None
    # GitHub hooks belong to a repository ("acme/web") or an organization ("acme"); None = all.
    scope: str | None = None
    name: str = "web"
    active: bool = True
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # Jira hooks whose JQL filter names several projects (`project in (PAY, PLAT)`): any of them.
    scopes: frozenset[str] | None = None

    def wants(self, event: str, scope: str | None) -> bool:
        if not self.active:
            return False
        if self.events and "*" not in self.events and event not in self.events:
            return False
        if scope is None:
            return True
        if self.scopes is not None and scope not in self.scopes:
            return False
        if self.scope is None:
            return True
        return scope == self.scope or scope.startswith(self.scope + "/")


@dataclass
class Delivery:
    """One delivery attempt as the dispatcher logged it (GitHub's deliveries API reads these)."""

    id: int
    guid: str
    hook_id: int
    tracker: str
    event: str
    action: str | None
    body: bytes = field(repr=False)
    headers: dict[str, str] = field(repr=False)
    scope: str | None = None
    delivered_at: datetime | None = None
    status_code: int = 0
    status: str = "pending"
    duration: float = 0.0
    redelivery: bool = False
    response_body: str = field(default="", repr=False)
    fault: str | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "guid": self.guid,
            "hook_id": self.hook_id,
            "tracker": self.tracker,
            "event": self.event,
            "action": self.action,
            "scope": self.scope,
            "delivered_at": iso(self.delivered_at),
            "status_code": self.status_code,
            "status": self.status,
            "duration": self.duration,
            "redelivery": self.redelivery,
            "fault": self.fault,
        }


class WebhookDispatcher:
    """Signs, queues and sends webhook deliveries from one background thread.

    GitHub: ``X-GitHub-Event``, ``X-GitHub-Delivery`` (uuid), ``X-GitHub-Hook-ID``,
    ``X-Hub-Signature-256: sha256=<hmac>``
    (https://docs.github.com/en/webhooks/webhook-events-and-payloads#delivery-headers).
    Jira: ``X-Hub-Signature: sha256=<hmac>``, ``X-Atlassian-Webhook-Identifier`` (stable across
    retries), ``X-Atlassian-Webhook-Retry``
    (https://developer.atlassian.com/cloud/jira/platform/webhooks/#secure-admin-webhooks).
    Faults ``webhooks.drop/duplicate/reorder`` act here: a dropped delivery is logged (status
    "dropped") but never sent, a duplicate is sent twice with the same ids, a reordered one is held
    back and sent after the next delivery.
    """

    def __init__(
        self,
        faults: Faults,
        rng_seed: int = 42,
        max_log: int = 50_000,
        workers: int = 1,
        retry_delays: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0),
    ) -> None:
        self._faults = faults
        self._rng = random.Random(rng_seed)
        self._lock = threading.Lock()
        self._targets: dict[int, WebhookTarget] = {}
        self._hook_ids = itertools.count(1)
        self._delivery_ids = itertools.count(1)
        self._log: deque[Delivery] = deque(maxlen=max_log)
        self._by_id: dict[int, Delivery] = {}
        self._queue: queue.Queue[Delivery | None] = queue.Queue()
        self._held: Delivery | None = None
        self._pending = 0
        self._idle = threading.Condition(self._lock)
        self._threads: list[threading.Thread] = []
        # Sender threads: 1 keeps deliveries in order; more send faster (and, like github.com,
        # without an order guarantee).
        self.workers = max(1, workers)
        self.retry_delays = tuple(retry_delays)
        self._timers: list[threading.Timer] = []
        self._closed = False
        self.sent = 0

    # --- targets ---------------------------------------------------------------------------------

    def register(
        self,
        tracker: str,
        url: str,
        secret: str,
        events: Iterable[str] | None = None,
        *,
        scope: str | None = None,
        name: str = "web",
        scopes: Iterable[str] | None = None,
    ) -> int:
        """``scope``: the one repository/organization/project the hook hears about (None: all);
        ``scopes``: the projects a Jira hook hears about when its filter names several."""
        with self._lock:
            hook_id = next(self._hook_ids)
            self._targets[hook_id] = WebhookTarget(
                hook_id,
                tracker,
                url,
                secret,
                list(events) if events else None,
                scope,
                name,
                scopes=frozenset(scopes) if scopes is not None else None,
            )
            return hook_id

    def unregister(self, hook_id: int) -> bool:
        with self._lock:
            return self._targets.pop(hook_id, None) is not None

    def target(self, hook_id: int) -> WebhookTarget | None:
        return self._targets.get(hook_id)

    def targets(self, tracker: str | None = None, scope: str | None = None) -> list[WebhookTarget]:
        with self._lock:
            return [
                t
                for t in self._targets.values()
                if (tracker is None or t.tracker == tracker) and (scope is None or t.scope == scope)
            ]

    # --- emitting --------------------------------------------------------------------------------

    def emit(
        self,
        tracker: str,
        event: str,
        payload: dict[str, Any] | bytes,
        *,
        action: str | None = None,
        scope: str | None = None,
        hook_id: int | None = None,
    ) -> list[int]:
        """Queue one delivery per interested target; returns the delivery ids (none if no target).

        ``event`` is GitHub's event name (``issues``) or Jira's ``webhookEvent``
        (``jira:issue_updated``); ``scope`` is the GitHub repository full name the event concerns;
        ``hook_id`` sends to that one target only, whatever its event filter (GitHub's ``ping``).
        ``payload`` may be JSON bytes already (the GitHub world splices cached issue JSON).
        """
        with self._lock:
            if hook_id is not None:
                targets = [t for t in self._targets.values() if t.id == hook_id]
            else:
                targets = [
                    t for t in self._targets.values() if t.tracker == tracker and t.wants(event, scope)
                ]
        if not targets:
            return []
        body = payload if isinstance(payload, bytes) else dumps(payload)
        ids: list[int] = []
        identifier = str(uuid.uuid4())
        for target in targets:
            delivery = self._new_delivery(target, event, action, body, scope, identifier)
            ids.append(delivery.id)
            self._enqueue(delivery)
        return ids

    def _new_delivery(
        self,
        target: WebhookTarget,
        event: str,
        action: str | None,
        body: bytes,
        scope: str | None,
        identifier: str,
        redelivery: bool = False,
        retry: int = 0,
    ) -> Delivery:
        signature = "sha256=" + hmac.new(target.secret.encode(), body, hashlib.sha256).hexdigest()
        guid = str(uuid.uuid4())
        headers = {"Content-Type": "application/json"}
        if target.tracker == "github":
            headers |= {
                "User-Agent": "GitHub-Hookshot/sandbox",
                "X-GitHub-Event": event,
                "X-GitHub-Delivery": guid,
                "X-GitHub-Hook-ID": str(target.id),
                "X-GitHub-Hook-Installation-Target-Type": "organization"
                if target.scope and "/" not in target.scope
                else "repository",
                "X-Hub-Signature-256": signature,
            }
        else:
            guid = identifier
            headers |= {
                "User-Agent": "Atlassian Webhook HTTP Client",
                "X-Atlassian-Webhook-Identifier": identifier,
                "X-Atlassian-Webhook-Retry": str(retry),
                "X-Hub-Signature": signature,
            }
        with self._lock:
            delivery = Delivery(
                id=next(self._delivery_ids),
                guid=guid,
                hook_id=target.id,
                tracker=target.tracker,
                event=event,
                action=action,
                body=body,
                headers=headers,
                scope=scope,
                redelivery=redelivery,
            )
            self._log.append(delivery)
            self._by_id[delivery.id] = delivery
            while len(self._by_id) > (self._log.maxlen or 0):
                self._by_id.pop(next(iter(self._by_id)))
        return delivery

    def redeliver(self, delivery_id: int) -> Delivery | None:
        """Send a logged delivery again (same GitHub guid / Jira identifier; faults do not apply)."""
        original = self._by_id.get(delivery_id)
        target = self._targets.get(original.hook_id) if original else None
        if original is None or target is None:
            return None
        retry = sum(1 for d in self._log if d.guid == original.guid)
        again = self._new_delivery(
            target,
            original.event,
            original.action,
            original.body,
            original.scope,
            original.guid,
            redelivery=True,
            retry=retry,
        )
        if target.tracker == "github":
            # GitHub keeps the delivery guid on redelivery
            again.guid = original.guid
            again.headers["X-GitHub-Delivery"] = original.guid
        self._put(again)
        return again

    def _enqueue(self, delivery: Delivery) -> None:
        drop = self._faults.webhook_probability("drop")
        duplicate = self._faults.webhook_probability("duplicate")
        reorder = self._faults.webhook_probability("reorder")
        with self._lock:
            roll_drop, roll_dup, roll_reorder = self._rng.random(), self._rng.random(), self._rng.random()
        if drop and roll_drop < drop:
            delivery.status, delivery.fault = "dropped", "drop"
            return
        copies = 2 if duplicate and roll_dup < duplicate else 1
        if copies == 2:
            delivery.fault = "duplicate"
        if reorder and roll_reorder < reorder and self._held is None:
            delivery.fault = "reorder"
            with self._lock:
                self._held = delivery
            return
        for _ in range(copies):
            self._put(delivery)
        with self._lock:
            held, self._held = self._held, None
        if held is not None:
            self._put(held)

    def _put(self, delivery: Delivery) -> None:
        with self._lock:
            self._pending += 1
        self._ensure_thread()
        self._queue.put(delivery)

    def flush_held(self) -> None:
        """Send a delivery held back by the reorder fault (nothing followed it)."""
        with self._lock:
            held, self._held = self._held, None
        if held is not None:
            self._put(held)

    # --- sending ---------------------------------------------------------------------------------

    def _ensure_thread(self) -> None:
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            while len(self._threads) < self.workers:
                thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
                self._threads.append(thread)
                thread.start()

    def _run(self) -> None:
        # One keep-alive connection per target host in each sender thread. The stdlib client is
        # used on purpose: per request it costs a fraction of httpx, and the sender shares the GIL
        # with the handlers.
        connections: dict[tuple[str, str, int | None], http.client.HTTPConnection] = {}
        try:
            while True:
                delivery = self._queue.get()
                if delivery is None:
                    break
                self._send(connections, delivery)
                with self._lock:
                    self._pending -= 1
                    if self._pending == 0:
                        self._idle.notify_all()
        finally:
            for connection in connections.values():
                connection.close()

    @staticmethod
    def _post(
        connections: dict[tuple[str, str, int | None], http.client.HTTPConnection],
        url: str,
        body: bytes,
        headers: dict[str, str],
    ) -> tuple[int, bytes]:
        parts = urlsplit(url)
        key = (parts.scheme, parts.hostname or "", parts.port)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        for attempt in (0, 1):
            connection = connections.get(key)
            reused = connection is not None
            if connection is None:
                factory = (
                    http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
                )
                connection = connections[key] = factory(parts.hostname or "", parts.port, timeout=10)
            try:
                connection.request("POST", path, body=body, headers=headers)
                response = connection.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                connection.close()
                connections.pop(key, None)
                if attempt or not reused:  # only a stale keep-alive connection earns a second try
                    raise
            except (OSError, http.client.HTTPException):
                connection.close()
                connections.pop(key, None)
                raise
        raise AssertionError("unreachable")

    def _send(
        self, connections: dict[tuple[str, str, int | None], http.client.HTTPConnection], delivery: Delivery
    ) -> None:
        target = self._targets.get(delivery.hook_id)
        if target is None:
            delivery.status = "hook removed"
            return
        started = time.perf_counter()
        try:
            status, answer = self._post(connections, target.url, delivery.body, delivery.headers)
            delivery.status_code = status
            delivery.status = "OK" if 200 <= status < 300 else f"HTTP {status}"
            delivery.response_body = answer[:2000].decode("utf-8", "replace")
        except (OSError, http.client.HTTPException, ValueError) as error:
            delivery.status_code = 0
            delivery.status = f"failed: {type(error).__name__}"
        delivery.duration = round(time.perf_counter() - started, 4)
        delivery.delivered_at = datetime.now(UTC)
        with self._lock:
            self.sent += 1
        if target.tracker == "jira" and (
            delivery.status_code in JIRA_RETRY_STATUSES
            or delivery.status_code == 0
            or delivery.status_code >= 500
        ):
            self._schedule_retry(delivery)

    def _schedule_retry(self, delivery: Delivery) -> None:
        """Jira retries a failed delivery (408/409/425/429/5xx or no answer) with the same identifier
        and a growing ``X-Atlassian-Webhook-Retry``; GitHub never retries (redelivery is manual).
        https://developer.atlassian.com/cloud/jira/platform/webhooks/#retry-policy
        The sandbox compresses Jira's half hour of retries into ``retry_delays`` seconds."""
        attempt = int(delivery.headers.get("X-Atlassian-Webhook-Retry", "0"))
        if attempt >= len(self.retry_delays) or self._closed:
            return
        timer = threading.Timer(self.retry_delays[attempt], self.redeliver, args=(delivery.id,))
        timer.daemon = True
        with self._lock:
            self._timers = [t for t in self._timers if t.is_alive()]
            self._timers.append(timer)
        timer.start()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every queued delivery has been attempted (tests and the activity walk)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._pending > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
            return True

    def close(self) -> None:
        self._closed = True
        for timer in self._timers:
            timer.cancel()
        threads = [t for t in self._threads if t.is_alive()]
        for _ in threads:
            self._queue.put(None)
        for thread in threads:
            thread.join(timeout=5)
        self._threads = []

    # --- log -------------------------------------------------------------------------------------

    def deliveries(self, hook_id: int | None = None, tracker: str | None = None) -> list[Delivery]:
        with self._lock:
            return [
                d
                for d in self._log
                if (hook_id is None or d.hook_id == hook_id) and (tracker is None or d.tracker == tracker)
            ]

    def delivery(self, delivery_id: int) -> Delivery | None:
        return self._by_id.get(delivery_id)

    def pending(self) -> int:
        with self._lock:
            return self._pending + (1 if self._held is not None else 0)

    def reset(self) -> None:
        """Forget the delivery log (targets stay registered)."""
        with self._lock:
            self._log.clear()
            self._by_id.clear()


@dataclass
class SandboxConfig:
    """How one sandbox is seeded and behaves (CLI flags map onto these)."""

    seed: str = "demo"  # "demo" or "scale"
    jira_items: int = 0  # scale seed sizes; `--items N` gives N // 2 to each tracker
    github_items: int = 0
    jira_flavour: str = "cloud"  # "cloud" or "datacenter"
    jira_timezone: str = "America/New_York"  # the demo account's /myself timeZone; JQL dates use it
    anchor: date | None = None  # "today" the seed history is laid out back from; default today
    rng_seed: int = 42
    activity: bool = False
    activity_interval: float = 2.0
    # (tracker, url, secret); kept out of repr so a logged config never shows a secret
    webhook_targets: list[tuple[str, str, str]] = field(default_factory=list, repr=False)
    max_results_jira: int = 100
    latency_ms: float = 0.0
    # Public base URL (scheme://host:port) the payloads' API URLs point at; set by server/testing.
    base_url: str | None = None
    faults: dict[str, Any] = field(default_factory=dict)  # initial faults (CLI flags)
    webhook_workers: int = 1  # webhook sender threads (1 = deliveries in order)
    # Jira retries failed deliveries for about 30 minutes; the sandbox after these many seconds.
    jira_webhook_retry_delays: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0)

    @classmethod
    def with_items(cls, items: int, **overrides: Any) -> SandboxConfig:
        """The scale seed with ``items`` split evenly between the trackers (``--items N``)."""
        return cls(seed="scale", jira_items=items // 2, github_items=items - items // 2, **overrides)

    def anchor_date(self) -> date:
        return self.anchor or datetime.now(UTC).date()


class RateBudget:
    """GitHub's primary rate limit for the sandbox token (``x-ratelimit-*`` headers, ``/rate_limit``).

    A 304 answer to a conditional request does not count, as on github.com
    (https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api#use-conditional-requests-if-appropriate).
    """

    def __init__(self, clock: Clock, limit: int = 5000, window_seconds: int = 3600) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.limit = limit
        self.window = window_seconds
        self.used = 0
        self.reset_epoch = 0

    def _roll(self) -> int:
        now = int(self._clock.now().timestamp())
        if now >= self.reset_epoch:
            self.used = 0
            self.reset_epoch = now + self.window
        return now

    def charge(self, counts: bool) -> None:
        with self._lock:
            self._roll()
            if counts:
                self.used += 1

    def state(self, exhausted: bool = False) -> dict[str, int]:
        with self._lock:
            self._roll()
            used = self.limit if exhausted else min(self.used, self.limit)
            return {
                "limit": self.limit,
                "used": used,
                "remaining": self.limit - used,
                "reset": self.reset_epoch,
            }

    def headers(self, exhausted: bool = False) -> list[tuple[bytes, bytes]]:
        s = self.state(exhausted)
        return [
            (b"x-ratelimit-limit", str(s["limit"]).encode()),
            (b"x-ratelimit-remaining", str(s["remaining"]).encode()),
            (b"x-ratelimit-used", str(s["used"]).encode()),
            (b"x-ratelimit-reset", str(s["reset"]).encode()),
            (b"x-ratelimit-resource", b"core"),
        ]

    def reset(self) -> None:
        with self._lock:
            self.used = 0
            self.reset_epoch = 0


class SandboxContext:
    """What every world shares: clock, ledger, faults, webhooks, a seeded rng, the config."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.clock = Clock()
        self.ledger = Ledger()
        self.faults = Faults(self.clock, self.initial_faults())
        self.webhooks = WebhookDispatcher(
            self.faults,
            config.rng_seed,
            workers=config.webhook_workers,
            retry_delays=config.jira_webhook_retry_delays,
        )
        self.github_budget = RateBudget(self.clock)
        self.rng = random.Random(config.rng_seed)
        self.base_url = (config.base_url or "http://127.0.0.1:8900").rstrip("/")
        for tracker, url, secret in config.webhook_targets:
            self.webhooks.register(tracker, url, secret)

    def initial_faults(self) -> dict[str, Any]:
        """The faults the config (CLI flags) asks for; ``/_sandbox/reset`` returns to them."""
        initial = dict(self.config.faults)
        if self.config.latency_ms:
            latency = self.config.latency_ms
            initial.setdefault("latency_ms", {"jira": latency, "github": latency})
        return initial

    @property
    def github_api(self) -> str:
        return self.base_url + "/github/api/v3"

    @property
    def jira_base(self) -> str:
        return self.base_url + "/jira"


@runtime_checkable
class TrackerWorld(Protocol):
    """One tracker's in-memory world, mounted by ``sandbox.app.create_app``.

    Constructor: ``World(ctx: SandboxContext, config: SandboxConfig)``.
    ``routes()`` are relative to the mount (``/github/api/v3`` resp. ``/jira``).
    """

    tracker: str

    def routes(self) -> list[BaseRoute]: ...

    def truth(self) -> dict[str, Any]:
        """This world's part of ``/_sandbox/truth``: keys items, links, releases, sprints,
        status_history, people (see sandbox/README.md)."""
        ...

    def reset(self) -> None:
        """Reseed from the config (same seed: same world)."""
        ...

    def mutate(self, op: dict[str, Any]) -> dict[str, Any]:
        """Apply one control-API mutation (``{"op": "update", "key": ..., ...}``); emits webhooks."""
        ...

    def random_mutation(self, rng: random.Random) -> dict[str, Any]:
        """One step of the ``--activity`` random walk; returns what it did."""
        ...


class MutationError(ValueError):
    """A control-API mutation the world cannot apply; ``status`` is the HTTP answer (400/404)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
