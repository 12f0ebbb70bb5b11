"""The client's error table, rate-limit instants and retries, over loopback HTTP with the real
``jira`` session (a scripted server: each test says what the next answers are)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from connectors.base import SourceSettings
from connectors.errors import (
    AuthError,
    Gone,
    InvalidResponse,
    NotFound,
    RateLimited,
    RequestRejected,
    TransientError,
)
from connectors.jira.client import ERROR_TABLE, JiraClient, error_for_status, rate_limit_instant
from connectors.pacing import Pacer
from connectors.records import TrackerKind

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
TOKEN = "tok-very-secret-123"


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, RequestRejected),
        (401, AuthError),
        (403, AuthError),
        (404, NotFound),
        (410, Gone),
        (422, RequestRejected),
        (418, RequestRejected),
        (500, TransientError),
        (502, TransientError),
        (503, TransientError),
        (599, TransientError),
    ],
)
def test_error_table(status: int, error: type[Exception]) -> None:
    err = error_for_status(status, "GET /rest/api/2/issue/PAY-1", "Issue does not exist", source="jira-main")
    assert type(err) is error
    assert str(err) == f"jira-main: GET /rest/api/2/issue/PAY-1 answered {status}: Issue does not exist"
    assert err.status == status
    assert "\n" not in str(err)


def test_table_covers_the_documented_statuses() -> None:
    assert set(ERROR_TABLE) >= {400, 401, 403, 404, 410, 429, 500, 502, 503, 504}


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (200, {}, None),
        (503, {}, None),
        (429, {"Retry-After": "7"}, NOW + timedelta(seconds=7)),
        (429, {"retry-after": "1.5"}, NOW + timedelta(seconds=1.5)),
        # Both headers: the later instant wins, either way round.
        (429, {"Retry-After": "3", "X-RateLimit-Reset": "2026-11-20T12:00:10Z"}, NOW + timedelta(seconds=10)),
        (
            429,
            {"Retry-After": "30", "X-RateLimit-Reset": "2026-11-20T12:00:10Z"},
            NOW + timedelta(seconds=30),
        ),
        (429, {"X-RateLimit-Reset": "2026-11-20T12:01:00.000+00:00"}, NOW + timedelta(minutes=1)),
        (429, {}, NOW + timedelta(seconds=5)),
        (503, {"Retry-After": "4"}, NOW + timedelta(seconds=4)),
        (403, {"X-RateLimit-Remaining": "0", "Retry-After": "2"}, NOW + timedelta(seconds=2)),
        (403, {}, None),
        (429, {"Retry-After": "Fri, 20 Nov 2026 12:00:09 GMT"}, NOW + timedelta(seconds=9)),
    ],
)
def test_rate_limit_instant(status: int, headers: dict[str, str], expected: datetime | None) -> None:
    assert rate_limit_instant(status, headers, NOW) == expected


# -- over loopback ----------------------------------------------------------------------------------


@dataclass
class Script:
    """Answers to send, in order (the last one repeats), and what was received."""

    answers: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)
    received: list[tuple[datetime, str, str]] = field(default_factory=list)


@pytest.fixture
def server() -> Iterator[tuple[str, Script]]:
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            script.received.append((datetime.now(UTC), self.command, self.headers.get("Authorization", "")))
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            status, headers, body = script.answers.pop(0) if len(script.answers) > 1 else script.answers[0]
            self.send_response(status)
            for k, v in {"Content-Type": "application/json", **headers}.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = _answer

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/jira", script
    finally:
        httpd.shutdown()
        httpd.server_close()


def make_client(url: str, **options: object) -> JiraClient:
    settings = SourceSettings(
        name="jira-test",
        kind=TrackerKind.JIRA,
        base_url=url,
        flavour="cloud",
        token=TOKEN,
        user="tpm@example.com",
        options={"retry_backoff_seconds": 0.01, **options},
    )
    return JiraClient(settings, pacer=Pacer("jira-test"))


def test_a_429_is_waited_out_then_retried(server: tuple[str, Script]) -> None:
    url, script = server
    script.answers = [
        (429, {"Retry-After": "1", "RateLimit-Reason": "jira-burst-based"}, b"{}"),
        (200, {}, b'{"ok": 1}'),
    ]
    client = make_client(url)
    assert client.get("myself") == {"ok": 1}
    (first, _, _), (second, _, _) = script.received
    assert second - first >= timedelta(seconds=1)
    assert (client.stats.requests, client.stats.rate_limit_waits, client.stats.retries) == (2, 1, 1)


def test_5xx_is_retried_with_backoff_then_raised(server: tuple[str, Script]) -> None:
    url, script = server
    script.answers = [(502, {}, b"bad gateway")]
    client = make_client(url, max_attempts=3)
    with pytest.raises(TransientError, match="GET /rest/api/2/myself answered 502"):
        client.get("myself")
    assert len(script.received) == 3


def test_writes_are_not_retried_on_5xx(server: tuple[str, Script]) -> None:
    url, script = server
    script.answers = [(500, {}, b'{"errorMessages": ["boom"]}')]
    with pytest.raises(TransientError, match="boom"):
        make_client(url).post("issue", {"fields": {}})
    assert len(script.received) == 1


def test_401_is_an_auth_error_without_the_token(server: tuple[str, Script]) -> None:
    url, script = server
    script.answers = [
        (401, {"WWW-Authenticate": "Basic"}, b'{"errorMessages": ["You are not authenticated."]}')
    ]
    with pytest.raises(AuthError) as caught:
        make_client(url).get("myself")
    text = str(caught.value) + repr(caught.value)
    assert "You are not authenticated" in text
    assert TOKEN not in text and "Authorization" not in text
    assert len(script.received) == 1
    assert script.received[0][2].startswith("Basic ")


def test_malformed_json_is_retried_once_then_invalid(server: tuple[str, Script]) -> None:
    url, script = server
    script.answers = [(200, {}, b'{"issues": [{"id": "1"')]
    with pytest.raises(InvalidResponse, match="not JSON"):
        make_client(url).get("search/jql")
    assert len(script.received) == 2


def test_a_truncated_body_once_is_survived(server: tuple[str, Script]) -> None:
    url, script = server
    script.answers = [(200, {}, b'{"issues": ['), (200, {}, b'{"issues": []}')]
    assert make_client(url).get("search/jql") == {"issues": []}


def test_a_long_retry_after_is_raised_not_slept(server: tuple[str, Script]) -> None:
    url, script = server
    script.answers = [(429, {"Retry-After": "3600"}, b"{}")]
    client = make_client(url, max_rate_limit_wait_seconds=60)
    with pytest.raises(RateLimited) as caught:
        client.get("myself")
    assert caught.value.retry_at > datetime.now(UTC) + timedelta(minutes=59)
    assert client.pacer.not_before is not None  # later requests still wait for it
    assert len(script.received) == 1


def test_connection_refused_is_transient() -> None:
    client = make_client("http://127.0.0.1:9/jira", max_attempts=1)
    with pytest.raises(TransientError, match="GET /rest/api/2/myself failed"):
        client.get("myself")


def test_repr_has_no_secret(server: tuple[str, Script]) -> None:
    url, _ = server
    assert TOKEN not in repr(make_client(url))


def test_one_pacer_per_server_and_credentials() -> None:
    from connectors.jira.client import shared_pacer

    def settings(token: str, base: str = "https://acme.atlassian.net") -> SourceSettings:
        return SourceSettings(
            name="j", kind=TrackerKind.JIRA, base_url=base, flavour="cloud", token=token, user="a@b.c"
        )

    assert shared_pacer(settings("t1")) is shared_pacer(settings("t1"))
    assert shared_pacer(settings("t1")) is not shared_pacer(settings("t2"))
    assert shared_pacer(settings("t1")) is not shared_pacer(settings("t1", "https://other.atlassian.net"))
