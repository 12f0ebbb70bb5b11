"""What the client puts on the wire (API version, auth, conditional requests) and transport failures."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.base import SourceSettings
from connectors.errors import TransientError
from connectors.github.client import API_VERSION, GitHubClient
from connectors.records import TrackerKind


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:
        type(self).seen.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
        if self.headers.get("If-None-Match") == 'W/"abc"':
            self.send_response(304)
            self.send_header("ETag", 'W/"abc"')
            self.end_headers()
            return
        body = b'[{"id": 1}]'
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", 'W/"abc"')
        self.send_header("Link", '<http://x/api/v3/repos/o/r/issues?page=2>; rel="next"')
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[dict[str, str]]]]:
    handler = type("Recorder", (_Recorder,), {"seen": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/v3", handler.seen
    finally:
        server.shutdown()


def make(base_url: str, **kw: Any) -> GitHubClient:
    settings = SourceSettings(
        name="ghe", kind=TrackerKind.GITHUB, base_url=base_url, flavour="enterprise", token="ghs_wire_secret"
    )
    return GitHubClient(settings, **kw)


def test_headers_and_conditional_requests(recorder: tuple[str, list[dict[str, str]]]) -> None:
    base, seen = recorder
    client = make(base)
    first = client.get("/repos/o/r/issues", {"state": "all", "per_page": 100})
    assert first.status == 200 and first.data == [{"id": 1}]
    assert first.etag == 'W/"abc"'
    assert first.next_url == "http://x/api/v3/repos/o/r/issues?page=2"
    second = client.get("/repos/o/r/issues", {"state": "all", "per_page": 100}, etag=first.etag)
    assert second.not_modified and second.data is None
    assert [s["path"] for s in seen] == ["/api/v3/repos/o/r/issues?per_page=100&state=all"] * 2
    assert seen[0]["x-github-api-version"] == API_VERSION == "2022-11-28"
    assert seen[0]["authorization"] == "token ghs_wire_secret"
    assert seen[0]["accept"] == "application/vnd.github+json"
    assert "if-none-match" not in seen[0]
    assert seen[1]["if-none-match"] == 'W/"abc"'
    assert (client.stats.requests, client.stats.not_modified) == (2, 1)


def test_connection_refused_is_transient_and_retried_then_raised() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again when the block ends: nothing listens there
    client = make(f"http://127.0.0.1:{port}/api/v3", retries=2, backoff_seconds=0.01)
    with pytest.raises(TransientError, match="ConnectionError talking to GitHub") as info:
        client.get("/repos/o/r/issues")
    assert "ghs_wire_secret" not in str(info.value)
    assert client.stats.retries == 2 and client.stats.requests == 3
