"""Fixtures for the sandbox's own tests: a running sandbox, real clients, a webhook receiver."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import github
import pytest

from sandbox.testing import SandboxHandle, running_sandbox


@pytest.fixture(scope="session")
def _session_sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox() as handle:
        yield handle


@pytest.fixture
def sandbox(_session_sandbox: SandboxHandle) -> SandboxHandle:
    """The worker's sandbox, reseeded for this test: same demo world, no faults, no hooks."""
    handle = _session_sandbox
    for target in handle.ctx.webhooks.targets():
        handle.ctx.webhooks.unregister(target.id)
    handle.reset()
    return handle


def github_client(handle: SandboxHandle, token: str = "sandbox-token", per_page: int = 100) -> github.Github:
    # retry=None: the tests look at every answer themselves (PyGithub would sleep on 403/429);
    # PyGithub 2.x also waits 0.25 s between requests (1 s between writes) by default.
    return github.Github(
        base_url=handle.github_url,
        auth=github.Auth.Token(token),
        per_page=per_page,
        retry=None,
        timeout=15,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )


@pytest.fixture
def gh(sandbox: SandboxHandle) -> github.Github:
    return github_client(sandbox)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    received: list[Received] = field(default_factory=list)
    status: int = 200

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        import time

        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.received)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A local HTTP endpoint that records every webhook delivery it gets."""
    box = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length)
            box.received.append(Received(dict(self.headers.items()), body))
            self.send_response(box.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    box.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield box
    finally:
        server.shutdown()
        server.server_close()
