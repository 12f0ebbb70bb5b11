"""The one module that talks to GitHub through PyGithub, and the one place its errors are translated.

Everything goes through PyGithub's ``Requester.requestJson`` (not its object model) so that we
control conditional requests (``If-None-Match``), read the ``Link`` and rate-limit headers of every
answer, and parse list pages with our own pure mapping: listed objects are never wrapped in
PyGithub classes, so no lazy attribute can trigger a hidden per-issue GET.

Error table (status → :mod:`connectors.errors`), applied once in :func:`error_for`:

    403/429 with ``retry-after``, ``x-ratelimit-remaining: 0`` or a rate-limit message → RateLimited
    401, other 403                                                             → AuthError
    404 → NotFound · 410 → Gone · 400/409/422 → RequestRejected · 5xx → TransientError
    transport failures (connection reset, timeout)                             → TransientError
    a body that is not JSON (malformed or truncated)                           → InvalidResponse

PyGithub follows a 301 (transferred issue) silently; callers compare the repository of what came
back with what they asked for (:func:`connectors.github.mapping.repo_of_issue`).

Rate limits (https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api):
the primary budget is read from ``x-ratelimit-remaining``/``x-ratelimit-reset`` on every answer; below
a low-water mark the remaining requests are spread evenly until the reset, at zero we wait for the
reset. Secondary limits (403/429) wait ``retry-after`` seconds, or at least a minute doubling on each
repeat. Every wait goes through the shared :class:`~connectors.pacing.Pacer`, so no request leaves
before a wait expires, PyGithub's own retry is disabled (``retry=None``) and 429 — which PyGithub
raises as a plain ``GithubException`` — never reaches it as an exception because we read statuses
ourselves.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import github
import orjson
import requests

from connectors.base import SourceSettings
from connectors.errors import (
    AuthError,
    ConnectorError,
    Gone,
    InvalidResponse,
    NotFound,
    RateLimited,
    RequestRejected,
    TransientError,
)
from connectors.pacing import Pacer
from connectors.records import RequestStats

__all__ = ["API_VERSION", "GitHubClient", "Response", "error_for", "parse_link_next"]

log = logging.getLogger("crosstrack.connectors.github")

# https://docs.github.com/en/rest/about-the-rest-api/api-versions
API_VERSION = "2022-11-28"
PER_PAGE = 100
_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="next"')
_SECONDARY_MIN_WAIT = 60.0  # GitHub: "wait for at least one minute" when no retry-after is given
_SECONDARY_MAX_WAIT = 900.0

_STATUS_ERRORS: dict[int, type[ConnectorError]] = {
    400: RequestRejected,
    401: AuthError,
    403: AuthError,
    404: NotFound,
    409: RequestRejected,
    410: Gone,
    422: RequestRejected,
}


@dataclass(frozen=True, slots=True)
class Response:
    """One answer: status, lower-cased headers, parsed JSON (``None`` for 304/204)."""

    status: int
    headers: Mapping[str, str]
    data: Any
    etag: str | None
    next_url: str | None
    server_date: datetime | None

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def parse_link_next(link: str | None) -> str | None:
    """The ``rel="next"`` URL of a ``Link`` header, or ``None`` on the last page."""
    if not link:
        return None
    match = _LINK_NEXT.search(link)
    return match.group(1) if match else None


def _message_of(data: Any) -> str:
    if isinstance(data, dict):
        message = data.get("message")
        if isinstance(message, str):
            return message
    return ""


def _is_rate_limited(status: int, headers: Mapping[str, str], message: str) -> bool:
    if status == 429:
        return True
    if status != 403:
        return False
    lowered = message.lower()
    return (
        "retry-after" in headers
        or headers.get("x-ratelimit-remaining") == "0"
        or "rate limit" in lowered
        or lowered.endswith("please retry your request again later.")
    )


def error_for(
    method: str, path: str, status: int, headers: Mapping[str, str], data: Any, *, source: str | None = None
) -> ConnectorError:
    """Translate a non-2xx answer (not a rate limit; see :meth:`GitHubClient._rate_limit_until`)."""
    message = _message_of(data) or "no message"
    where = f"{method} {_strip_query(path)}"
    if status >= 500:
        return TransientError(f"{where}: GitHub answered {status} ({message})", source=source, status=status)
    cls = _STATUS_ERRORS.get(status, RequestRejected)
    if status == 401:
        text = f"{where}: GitHub refused the token (401 {message})"
    elif status == 403:
        text = f"{where}: the token lacks permission (403 {message})"
    else:
        text = f"{where}: GitHub answered {status} ({message})"
    return cls(text, source=source, status=status)


def _strip_query(path: str) -> str:
    return path.split("?", 1)[0]


def _parse_server_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class GitHubClient:
    """A paced, translated GitHub REST client for one token (github.com or Enterprise Server).

    ``max_wait_seconds``: a rate-limit wait longer than this is not slept through here; the request
    raises :class:`RateLimited` (the pacer still holds every later request until ``retry_at``).
    ``retries``: how often a GET is retried after a transient failure or a truncated body.
    """

    def __init__(
        self,
        settings: SourceSettings,
        *,
        pacer: Pacer | None = None,
        stats: RequestStats | None = None,
        clock: Callable[[], datetime] | None = None,
        sleep: Callable[[float], None] | None = None,
        max_wait_seconds: float = 900.0,
        retries: int = 3,
        backoff_seconds: float = 1.0,
        low_water: int = 50,
        timeout_seconds: int = 30,
        seconds_between_writes: float | None = 1.0,
    ) -> None:
        self.source = settings.name
        self.base_url = settings.base_url.rstrip("/")
        self._clock = clock or (lambda: datetime.now(UTC))
        self._sleep = sleep or time.sleep
        self.pacer = pacer or Pacer(settings.name, clock=self._clock, sleep=self._sleep)
        self.stats = stats or RequestStats()
        self.max_wait_seconds = max_wait_seconds
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self.low_water = low_water
        self._secondary_strikes = 0
        self.rate_remaining: int | None = None
        self.rate_limit: int | None = None
        self.rate_reset: datetime | None = None
        # retry=None: PyGithub's GithubRetry would sleep on 403s by itself; the pacer decides every wait.
        # seconds_between_requests=None: PyGithub's default 0.25 s gap would cap a sync at 4 pages/s.
        self._github = github.Github(
            auth=github.Auth.Token(settings.token),
            base_url=self.base_url,
            per_page=PER_PAGE,
            retry=None,
            timeout=timeout_seconds,
            user_agent="crosstrack",
            seconds_between_requests=None,
            seconds_between_writes=seconds_between_writes,
            api_version=API_VERSION,
        )
        self._requester = self._github.requester

    def __repr__(self) -> str:
        return f"GitHubClient(source={self.source!r}, base_url={self.base_url!r})"

    def close(self) -> None:
        self._github.close()

    # -- requests -------------------------------------------------------------------------------

    def get(self, path: str, params: Mapping[str, Any] | None = None, *, etag: str | None = None) -> Response:
        headers = {"If-None-Match": etag} if etag else None
        return self.request("GET", path, params=params, headers=headers)

    def post(self, path: str, body: Any) -> Response:
        return self.request("POST", path, body=body)

    def patch(self, path: str, body: Any) -> Response:
        return self.request("PATCH", path, body=body)

    def delete(self, path: str, body: Any = None) -> Response:
        return self.request("DELETE", path, body=body)

    def paginate(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[Response]:
        """Follow ``Link: rel="next"`` from the first page to the last, one answer at a time."""
        response = self.get(path, params)
        yield response
        while response.next_url:
            response = self.get(response.next_url)
            yield response

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> Response:
        """Send one request (after the pacer allows it), retrying rate limits and GET transients."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._send_once(method, path, params, headers, body)
            except RateLimited as exc:
                wait = (exc.retry_at - self._clock()).total_seconds()
                if wait > self.max_wait_seconds or attempt > self.retries + 1:
                    raise
                self.stats.retries += 1
            except (TransientError, InvalidResponse) as exc:
                # Only reads are retried: a POST that died mid-way may have been applied.
                if method != "GET" or attempt > self.retries:
                    raise
                self.stats.retries += 1
                delay = self.backoff_seconds * (2 ** (attempt - 1))
                log.warning(
                    "connector.github.retry",
                    extra={"source": self.source, "error": str(exc), "delay": delay, "attempt": attempt},
                )
                self.pacer.defer_until(self._clock() + timedelta(seconds=delay), "transient failure")

    def _send_once(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        body: Any,
    ) -> Response:
        waited = self.pacer.wait()
        if waited > 0:
            self.stats.rate_limit_waits += 1
            self.stats.rate_limit_wait_seconds += waited
        send_headers = {"X-GitHub-Api-Version": API_VERSION, "Accept": "application/vnd.github+json"}
        if headers:
            send_headers.update(headers)
        self.stats.requests += 1
        try:
            status, raw_headers, text = self._requester.requestJson(
                method, path, dict(params) if params else None, send_headers, body
            )
        except github.GithubException as exc:
            # requestJson reports statuses instead of raising, but PyGithub's auth helpers (app
            # installation tokens) may raise; 429 arrives as a plain GithubException. Same table.
            status, raw_headers = exc.status, dict(exc.headers or {})
            text = orjson.dumps(exc.data).decode() if exc.data is not None else ""
        except requests.exceptions.RequestException as exc:
            raise TransientError(
                f"{method} {_strip_query(path)}: {type(exc).__name__} talking to GitHub", source=self.source
            ) from exc
        except RuntimeError as exc:  # PyGithub refuses redirects to another host or scheme
            raise InvalidResponse(f"{method} {_strip_query(path)}: {exc}", source=self.source) from exc
        response_headers = {k.lower(): v for k, v in raw_headers.items()}
        self._track_budget(response_headers)
        if status == 304:
            self.stats.not_modified += 1
            return self._response(status, response_headers, None)
        data = self._decode(method, path, status, text)
        if status >= 400:
            if _is_rate_limited(status, response_headers, _message_of(data)):
                retry_at, reason = self._rate_limit_until(status, response_headers)
                self.pacer.defer_until(retry_at, reason)
                log.warning(
                    "connector.github.ratelimit",
                    extra={"source": self.source, "status": status, "reason": reason, "until": retry_at},
                )
                raise RateLimited(
                    f"{method} {_strip_query(path)}: GitHub rate limit ({reason}), retry at "
                    f"{retry_at.isoformat(timespec='seconds')}",
                    retry_at=retry_at,
                    reason=reason,
                    source=self.source,
                    status=status,
                )
            raise error_for(method, path, status, response_headers, data, source=self.source)
        self._secondary_strikes = 0
        return self._response(status, response_headers, data)

    def _decode(self, method: str, path: str, status: int, text: str) -> Any:
        if not text:
            return None
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            if status >= 500:
                return None
            raise InvalidResponse(
                f"{method} {_strip_query(path)}: GitHub answered {status} with a body that is not JSON "
                f"({len(text)} characters)",
                source=self.source,
                status=status,
            ) from exc

    def _response(self, status: int, headers: dict[str, str], data: Any) -> Response:
        return Response(
            status=status,
            headers=headers,
            data=data,
            etag=headers.get("etag"),
            next_url=parse_link_next(headers.get("link")),
            server_date=_parse_server_date(headers.get("date")),
        )

    # -- rate limits ----------------------------------------------------------------------------

    def _reset_instant(self, headers: Mapping[str, str]) -> datetime | None:
        """``x-ratelimit-reset`` (server epoch seconds) on our clock, corrected by the server ``Date``."""
        reset = headers.get("x-ratelimit-reset")
        if not reset:
            return None
        try:
            reset_at = datetime.fromtimestamp(float(reset), UTC)
        except ValueError:
            return None
        server_now = _parse_server_date(headers.get("date"))
        now = self._clock()
        if server_now is not None:
            return now + (reset_at - server_now)
        return reset_at

    def _track_budget(self, headers: Mapping[str, str]) -> None:
        remaining, limit = headers.get("x-ratelimit-remaining"), headers.get("x-ratelimit-limit")
        if remaining is None:
            return
        try:
            self.rate_remaining = int(float(remaining))
            self.rate_limit = int(float(limit)) if limit else None
        except ValueError:
            return
        self.rate_reset = self._reset_instant(headers)
        if self.rate_reset is None:
            return
        now = self._clock()
        if self.rate_remaining <= 0:
            self.pacer.defer_until(self.rate_reset + timedelta(seconds=1), "primary rate limit exhausted")
        elif self.rate_remaining < self.low_water and self.rate_reset > now:
            # Spread what is left over the time until the reset instead of running dry and stalling.
            gap = (self.rate_reset - now).total_seconds() / (self.rate_remaining + 1)
            self.pacer.defer_until(now + timedelta(seconds=gap), "primary rate budget low")

    def _rate_limit_until(self, status: int, headers: Mapping[str, str]) -> tuple[datetime, str]:
        now = self._clock()
        retry_after = headers.get("retry-after")
        if retry_after:
            try:
                seconds = max(float(retry_after), 0.0)
            except ValueError:
                seconds = _SECONDARY_MIN_WAIT
            self._secondary_strikes += 1
            return now + timedelta(seconds=seconds), f"secondary rate limit ({status}, retry-after)"
        if headers.get("x-ratelimit-remaining") == "0":
            reset = self._reset_instant(headers)
            if reset is not None:
                return max(reset, now) + timedelta(seconds=1), "primary rate limit exhausted"
        # No hint: at least a minute, doubling while GitHub keeps refusing.
        seconds = min(_SECONDARY_MIN_WAIT * (2**self._secondary_strikes), _SECONDARY_MAX_WAIT)
        self._secondary_strikes += 1
        return now + timedelta(seconds=seconds), f"secondary rate limit ({status}, no retry-after)"
