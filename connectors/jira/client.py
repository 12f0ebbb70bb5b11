"""The only module that imports ``jira`` (and ``requests``): HTTP, pacing, and the one error table.

We build a ``jira.JIRA`` for its authenticated ``ResilientSession`` and its error parsing, and send
raw REST calls through that session: the high-level API spends requests we do not want
(``create_issue`` looks up the project and the issue type, ``enhanced_search_issues`` fetches
``/field`` to translate names). Construction sends nothing (``get_server_info=False``).

Every request passes a :class:`~connectors.pacing.Pacer` inside a transport adapter mounted on the
session, so even requests the library might send itself wait for a pending rate-limit instant.
The library's own retry is switched off (``max_retries=0``): it sleeps at most 60 s with jitter,
which can send a request before ``Retry-After`` has expired
(https://developer.atlassian.com/cloud/jira/platform/rate-limiting/). Here a 429 (or a 503 with
``Retry-After``) defers the pacer to the later of ``Retry-After`` and ``X-RateLimit-Reset``, then the
request is retried; 5xx and transport failures back off exponentially; a truncated or malformed
JSON body is retried once for reads.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import orjson
import requests
from jira import JIRA, JIRAError
from jira.resilientsession import parse_errors
from requests.adapters import HTTPAdapter

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

__all__ = [
    "ERROR_TABLE",
    "JiraClient",
    "JiraResponse",
    "error_for_status",
    "rate_limit_instant",
    "shared_pacer",
]

log = logging.getLogger("crosstrack.connectors.jira")

T = TypeVar("T")

# The error table: HTTP status -> error class. 429 and a 503 carrying Retry-After are rate limits
# (handled before the table); other 5xx are transient, other 4xx say our request is wrong.
ERROR_TABLE: Mapping[int, type[ConnectorError]] = {
    400: RequestRejected,
    401: AuthError,
    403: AuthError,
    404: NotFound,
    405: RequestRejected,
    409: RequestRejected,
    410: Gone,
    413: RequestRejected,
    422: RequestRejected,
    429: RateLimited,
    500: TransientError,
    502: TransientError,
    503: TransientError,
    504: TransientError,
}

_DEFAULT_RATE_LIMIT_WAIT = timedelta(seconds=5)  # 429 without any header: Jira's documented minimum


def rate_limit_instant(
    status: int, headers: Mapping[str, str], now: datetime, attempt: int = 1
) -> datetime | None:
    """When a rate-limited request may be sent again, or ``None`` if the answer is no rate limit.

    The later of ``Retry-After`` (seconds or an HTTP date) and ``X-RateLimit-Reset`` (ISO 8601
    timestamp on Cloud; epoch seconds on some proxies) wins: both must have expired.
    https://developer.atlassian.com/cloud/jira/platform/rate-limiting/#rate-limit-responses
    """
    limited = status == 429 or (status == 403 and _header(headers, "X-RateLimit-Remaining") == "0")
    retry_after = _header(headers, "Retry-After")
    reset = _header(headers, "X-RateLimit-Reset")
    if not limited and not (status == 503 and retry_after):
        return None
    candidates: list[datetime] = []
    if retry_after:
        try:
            candidates.append(now + timedelta(seconds=max(0.0, float(retry_after))))
        except ValueError:
            try:
                when = parsedate_to_datetime(retry_after)
                candidates.append(when if when.tzinfo else when.replace(tzinfo=UTC))
            except (TypeError, ValueError):
                pass
    if reset:
        candidates.append(_parse_reset(reset, now))
    if not candidates:
        return now + _DEFAULT_RATE_LIMIT_WAIT * (1 << min(6, max(0, attempt - 1)))
    return max(candidates)


def _parse_reset(value: str, now: datetime) -> datetime:
    try:
        number = float(value)
    except ValueError:
        pass
    else:  # epoch seconds (or, if small, seconds from now)
        return datetime.fromtimestamp(number, UTC) if number > 1e9 else now + timedelta(seconds=number)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return now + _DEFAULT_RATE_LIMIT_WAIT
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def error_for_status(
    status: int,
    where: str,
    detail: str,
    *,
    source: str | None,
    retry_at: datetime | None = None,
) -> ConnectorError:
    """Translate one failed answer into the error tree (one line, never a header or a secret)."""
    message = f"{where} answered {status}" + (f": {detail}" if detail else "")
    if retry_at is not None:
        return RateLimited(message, retry_at=retry_at, reason=detail or None, source=source, status=status)
    cls = ERROR_TABLE.get(status)
    if cls is None:
        cls = TransientError if status >= 500 else RequestRejected
    if cls is RateLimited:  # a 429 whose instant could not be computed
        return RateLimited(
            message, retry_at=datetime.now(UTC) + _DEFAULT_RATE_LIMIT_WAIT, source=source, status=status
        )
    return cls(message, source=source, status=status)


# -- pacing ---------------------------------------------------------------------------------------

_PACERS: dict[str, Pacer] = {}
_PACERS_LOCK = threading.Lock()


def shared_pacer(settings: SourceSettings) -> Pacer:
    """One pacer per (server, credentials) in this process: Jira limits per user, not per client.

    Keyed by a digest so the token itself is never kept outside the session.
    """
    digest = hashlib.sha256(f"{settings.base_url}\0{settings.user}\0{settings.token}".encode()).hexdigest()
    with _PACERS_LOCK:
        pacer = _PACERS.get(digest)
        if pacer is None:
            pacer = _PACERS[digest] = Pacer(settings.name)
        return pacer


class _PacedAdapter(HTTPAdapter):
    """Transport adapter: waits on the pacer before every request and defers it on rate limits."""

    def __init__(self, client: JiraClient) -> None:
        super().__init__(max_retries=0)
        self._client = client

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        self._client._before_request()
        response = super().send(request, *args, **kwargs)
        self._client._after_response(response)
        return response


@dataclass(frozen=True, slots=True)
class JiraResponse:
    """A decoded answer: the JSON body and the server's ``Date`` (when sent)."""

    data: Any
    status: int
    server_date: datetime | None


class JiraClient:
    """Raw REST calls over the ``jira`` package's session, paced and translated into the error tree.

    ``path`` is relative to ``/rest/api/{api}/`` unless it starts with ``/`` (e.g. the agile API).
    """

    def __init__(
        self,
        settings: SourceSettings,
        *,
        pacer: Pacer | None = None,
        stats: RequestStats | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = settings
        self.source = settings.name
        self.base_url = settings.base_url.rstrip("/")
        self.pacer = pacer or shared_pacer(settings)
        self.stats = stats if stats is not None else RequestStats()
        self._clock = clock or (lambda: datetime.now(UTC))
        opts = settings.options
        self.max_attempts = int(opts.get("max_attempts", 6))
        self.backoff_seconds = float(opts.get("retry_backoff_seconds", 1.0))
        self.max_wait_seconds = float(opts.get("max_rate_limit_wait_seconds", 300.0))
        timeout = float(opts.get("timeout_seconds", 60.0))
        auth: dict[str, Any]
        if settings.user:
            auth = {"basic_auth": (settings.user, settings.token)}
        else:  # Data Center personal access token
            auth = {"token_auth": settings.token}
        self._jira = JIRA(
            server=self.base_url,
            get_server_info=False,
            max_retries=0,
            timeout=timeout,
            logging=False,
            **auth,
        )
        adapter = _PacedAdapter(self)
        self._jira._session.mount("http://", adapter)
        self._jira._session.mount("https://", adapter)
        self._attempt = 1
        self._stats_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"JiraClient(source={self.source!r}, base_url={self.base_url!r})"

    def close(self) -> None:
        self._jira._session.close()

    # -- hooks called by the adapter ----------------------------------------------------------------

    def _before_request(self) -> None:
        waited = self.pacer.wait()
        with self._stats_lock:  # the listing prefetches pages from a second thread
            if waited > 0:
                self.stats.rate_limit_waits += 1
                self.stats.rate_limit_wait_seconds += waited
            self.stats.requests += 1

    def _after_response(self, response: requests.Response) -> None:
        instant = rate_limit_instant(response.status_code, response.headers, self._clock(), self._attempt)
        if instant is not None:
            reason = _header(response.headers, "RateLimit-Reason") or f"HTTP {response.status_code}"
            self.pacer.defer_until(instant, reason)
            log.warning(
                "connector.jira.ratelimit",
                extra={
                    "source": self.source,
                    "status": response.status_code,
                    "retry_at": instant.isoformat(),
                },
            )

    # -- requests -----------------------------------------------------------------------------------

    def url(self, path: str, api: str = "2") -> str:
        if path.startswith("/"):
            return f"{self.base_url}{path}"
        return f"{self.base_url}/rest/api/{api}/{path}"

    def get(self, path: str, params: Mapping[str, Any] | None = None, *, api: str = "2") -> Any:
        return self.request("GET", path, params=params, api=api).data

    def post(self, path: str, body: Any, *, api: str = "2", idempotent: bool = False) -> Any:
        return self.request("POST", path, body=body, api=api, idempotent=idempotent).data

    def put(self, path: str, body: Any, *, api: str = "2") -> Any:
        return self.request("PUT", path, body=body, api=api).data

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        api: str = "2",
        idempotent: bool | None = None,
    ) -> JiraResponse:
        """Send one call, retrying what may be retried; raise only :mod:`connectors.errors`.

        Reads (and ``idempotent`` POSTs such as bulkfetch) are retried on rate limits, 5xx,
        transport failures and unreadable bodies; writes only on rate limits, which Jira answers
        before doing anything.
        """
        safe = method in ("GET", "PUT", "DELETE") if idempotent is None else idempotent
        where = f"{method} {self.url(path, api).removeprefix(self.base_url) or '/'}"
        attempt = 1
        invalid_retries = 0
        while True:
            self._attempt = attempt
            try:
                return self._send_once(method, path, params, body, api, where)
            except RateLimited as err:
                wait = (err.retry_at - self._clock()).total_seconds()
                if attempt >= self.max_attempts or wait > self.max_wait_seconds:
                    raise
            except (TransientError, InvalidResponse) as err:
                if not safe or attempt >= self.max_attempts:
                    raise
                if isinstance(err, InvalidResponse):
                    invalid_retries += 1
                    if invalid_retries > 1:
                        raise
                backoff = self.backoff_seconds * (1 << min(6, attempt - 1))
                self.pacer.defer_until(
                    self._clock() + timedelta(seconds=backoff), f"backoff after {err.status}"
                )
                log.warning(
                    "connector.jira.retry",
                    extra={"source": self.source, "where": where, "attempt": attempt, "error": str(err)},
                )
            attempt += 1
            with self._stats_lock:
                self.stats.retries += 1

    def _send_once(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        body: Any,
        api: str,
        where: str,
    ) -> JiraResponse:
        data = orjson.dumps(body) if body is not None else None
        try:
            response = self._jira._session.request(method, self.url(path, api), params=params, data=data)
        except JIRAError as exc:
            raise self._translate(exc, where) from None
        except requests.Timeout:
            raise TransientError(f"{where} timed out", source=self.source) from None
        except requests.RequestException as exc:
            raise TransientError(f"{where} failed: {type(exc).__name__}", source=self.source) from None
        content = response.content
        if response.status_code == 204 or not content:
            parsed: Any = None
        else:
            try:
                parsed = orjson.loads(content)
            except orjson.JSONDecodeError:
                raise InvalidResponse(
                    f"{where} answered {response.status_code} with a body that is not JSON ({len(content)} bytes)",
                    source=self.source,
                    status=response.status_code,
                ) from None
        return JiraResponse(parsed, response.status_code, _server_date(response.headers))

    def _translate(self, exc: JIRAError, where: str) -> ConnectorError:
        response = exc.response
        status = exc.status_code or (response.status_code if response is not None else 0)
        if response is None or not isinstance(response, requests.Response):
            return TransientError(f"{where} failed without an answer", source=self.source)
        detail = "; ".join(parse_errors(response))[:300].replace("\n", " ")
        retry_at = rate_limit_instant(status, response.headers, self._clock(), self._attempt)
        return error_for_status(status, where, detail, source=self.source, retry_at=retry_at)


def _server_date(headers: Mapping[str, str]) -> datetime | None:
    value = headers.get("Date")
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
