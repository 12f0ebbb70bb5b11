"""`python -m sandbox.server` (what `crosstrack sandbox` runs) starts, serves both trackers, stops."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from sandbox.testing import running_sandbox

ROOT = Path(__file__).resolve().parents[2]


def test_server_module_serves_both_trackers_with_its_own_base_url() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox.server", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"{base}/healthz", timeout=2).json()
                break
            except httpx.HTTPError:
                assert proc.poll() is None and time.monotonic() < deadline, "the sandbox did not start"
                time.sleep(0.2)
        assert health["worlds"] == ["github", "jira"]
        issue = httpx.get(
            f"{base}/github/api/v3/repos/acme/web/issues/1", headers={"Authorization": "token sandbox-token"}
        ).json()
        assert issue["url"] == f"{base}/github/api/v3/repos/acme/web/issues/1"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)


def test_server_errors_can_say_retry_after() -> None:
    with running_sandbox(faults={"errors": {"jira": {"count": 1, "status": 503, "retry_after": 7}}}) as sb:
        auth = ("tpm@example.com", "sandbox-token")
        response = httpx.get(f"{sb.jira_url}/rest/api/2/serverInfo", auth=auth)
        assert (response.status_code, response.headers["retry-after"]) == (503, "7")
        assert httpx.get(f"{sb.jira_url}/rest/api/2/serverInfo", auth=auth).status_code == 200
