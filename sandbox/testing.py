"""Run a sandbox inside a test: uvicorn in a daemon thread on a free loopback port.

    from sandbox.testing import running_sandbox

    with running_sandbox(jira_flavour="datacenter") as sb:
        gh = github.Github(base_url=sb.github_url, auth=github.Auth.Token("sandbox-token"))
        ...
        assert sb.stats()["by_endpoint"]["GET /repos/{owner}/{repo}/issues"]["200"] == 3

The handle's helpers talk to the control API over HTTP, exactly as an out-of-process sandbox
would be driven; ``handle.app`` / ``handle.ctx`` give in-process access when a test needs it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette

from sandbox.app import create_app
from sandbox.core import SandboxConfig, SandboxContext

__all__ = ["DEMO_CREDENTIALS", "SandboxHandle", "running_sandbox"]

DEMO_CREDENTIALS = {
    "github_token": "sandbox-token",
    "jira_user": "tpm@example.com",
    "jira_token": "sandbox-token",
}


class SandboxHandle:
    """A running sandbox: its URLs and helpers over the ``/_sandbox`` control API."""

    def __init__(self, url: str, config: SandboxConfig, app: Starlette) -> None:
        self.url = url
        self.github_url = f"{url}/github/api/v3"
        self.jira_url = f"{url}/jira"
        self.config = config
        self.app = app
        self.ctx: SandboxContext = app.state.ctx
        self._http = httpx.Client(base_url=url, timeout=30.0)

    def __repr__(self) -> str:
        return f"SandboxHandle(url={self.url!r})"

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"sandbox {method} {path} -> {response.status_code}: {response.text[:300]}")
        return response.json()

    def stats(self, since: int = 0, entries: bool = True) -> dict[str, Any]:
        """The request ledger (``total``, ``by_endpoint``, ``entries`` after ``since``).

        ``entries=False`` leaves the entry list out (counts only: cheap after a big scan)."""
        params = {"since": since, "entries": int(entries)}
        return dict(self._call("GET", "/_sandbox/stats", params=params))

    def reset_stats(self) -> None:
        self._call("POST", "/_sandbox/stats/reset")

    def truth(self, tracker: str | None = None) -> dict[str, Any]:
        """``/_sandbox/truth`` (both trackers, or only ``tracker``)."""
        params = {"tracker": tracker} if tracker else None
        return dict(self._call("GET", "/_sandbox/truth", params=params))

    def reset(self) -> None:
        """Reseed both worlds; faults back to the configured ones; clears ledger and delivery log (hooks stay)."""
        self._call("POST", "/_sandbox/reset")

    def mutate(self, **op: Any) -> dict[str, Any]:
        """``mutate(tracker="github", op="update", key="acme/web#3", fields={"title": "x"})``."""
        return dict(self._call("POST", "/_sandbox/mutate", json=op))

    def set_faults(self, **faults: Any) -> dict[str, Any]:
        """Merge faults, e.g. ``set_faults(rate_limit={"github": {"count": 1, "retry_after": 2}})``."""
        return dict(self._call("POST", "/_sandbox/faults", json=faults))

    def faults(self) -> dict[str, Any]:
        return dict(self._call("GET", "/_sandbox/faults"))

    def clear_faults(self) -> None:
        self._call("DELETE", "/_sandbox/faults")

    def register_webhook(self, tracker: str, url: str, secret: str, events: list[str] | None = None) -> int:
        body = {"tracker": tracker, "url": url, "secret": secret, "events": events}
        return int(self._call("POST", "/_sandbox/webhooks", json=body)["id"])

    def deliveries(
        self, wait: float = 5.0, full: bool = False, tracker: str | None = None
    ) -> list[dict[str, Any]]:
        """The delivery log; first waits (up to ``wait`` s) until queued deliveries were attempted."""
        params: dict[str, Any] = {"wait": wait, "full": int(full)}
        if tracker:
            params["tracker"] = tracker
        return list(self._call("GET", "/_sandbox/webhooks/deliveries", params=params)["deliveries"])

    def advance_clock(self, seconds: float) -> str:
        return str(self._call("POST", "/_sandbox/clock/advance", json={"seconds": seconds})["now"])

    def close(self) -> None:
        self._http.close()


def _free_socket() -> socket.socket:
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on connections accepted from a socket
    # whose proto is IPPROTO_TCP, and without it every response waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


@contextlib.contextmanager
def running_sandbox(config: SandboxConfig | None = None, **overrides: Any) -> Iterator[SandboxHandle]:
    """Start a sandbox on a free port for the duration of the block (overrides: SandboxConfig fields)."""
    config = dataclasses.replace(config or SandboxConfig(), **overrides)
    sock = _free_socket()
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    config = dataclasses.replace(config, base_url=url)
    app = create_app(config)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="sandbox", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("sandbox did not start (see the log above)")
        time.sleep(0.01)
    handle = SandboxHandle(url, config, app)
    try:
        yield handle
    finally:
        handle.close()
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
