"""Shared pieces of the sync and webhook benchmarks: the sandbox in its own process, a crosstrack
config pointed at it, scratch databases (SQLite file / fresh PostgreSQL database), child processes
measured with ``wait4`` (CPU seconds and peak RSS of that process alone), and the request ledger.

Not a benchmark itself (the runner only picks up ``bench_*`` modules).
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from sync.db import drop_database, fresh_database_url

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "crosstrack.toml"
TOKEN = "sandbox-token"
WEBHOOK_SECRET = "bench-webhook-secret"
PG_ENV = "CROSSTRACK_BENCH_DATABASE_URL"
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ENV = {
    "CROSSTRACK_JIRA_TOKEN": TOKEN,
    "CROSSTRACK_GITHUB_TOKEN": TOKEN,
    "CROSSTRACK_JIRA_WEBHOOK_SECRET": WEBHOOK_SECRET,
    "CROSSTRACK_GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET,
    "CROSSTRACK_LOG_LEVEL": "WARNING",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], what: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before answering {url}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not answer {url} within {timeout:.0f} s")
        time.sleep(0.2)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def sandbox_process(items: int = 0, *extra: str) -> Iterator[str]:
    """``python -m sandbox.server`` in its own process (its own GIL); yields its base URL."""
    port = free_port()
    args = [sys.executable, "-m", "sandbox.server", "--port", str(port), "--log-level", "warning"]
    if items:
        args += ["--items", str(items)]
    proc = subprocess.Popen([*args, *extra], cwd=ROOT, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/healthz", proc, "the sandbox")
        yield url
    finally:
        stop(proc)


def write_config(path: Path, sandbox_url: str, repos: Sequence[str] | None = None) -> Path:
    """examples/crosstrack.toml pointed at the sandbox (optionally syncing other repos)."""
    content = EXAMPLE.read_text()
    content = content.replace("http://127.0.0.1:8765/jira", f"{sandbox_url}/jira")
    content = content.replace("http://127.0.0.1:8765/github/api/v3", f"{sandbox_url}/github/api/v3")
    if repos is not None:
        listed = ", ".join(f'"{r}"' for r in repos)
        content, n = re.subn(
            r"^repos = \[[^\]]*\](\s+# required)", rf"repos = [{listed}]\1", content, flags=re.M
        )
        assert n == 1, "examples/crosstrack.toml: the GitHub source's repos line changed"
    path.write_text(content)
    return path


def sqlite_url(path: Path) -> str:
    if path.exists():
        path.unlink()
    return f"sqlite:///{path}"


def pg_base() -> str:
    return os.environ.get(PG_ENV) or os.environ.get("CROSSTRACK_TEST_DATABASE_URL") or PG_DEFAULT


def fresh_pg_database(name: str) -> str:
    """(Re)create database ``name`` on the benchmark's PostgreSQL server; returns its URL."""
    return fresh_database_url(pg_base(), name)


def drop_pg_database(name: str) -> None:
    drop_database(pg_base(), name)


@dataclass
class ChildResult:
    code: int
    seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    stdout: str
    stderr: str


def run_child(args: Sequence[str], env: dict[str, str] | None = None, timeout: float = 3600) -> ChildResult:
    """Run a child to the end; its own CPU time and peak RSS come from ``wait4`` (not the parent's)."""
    out_path = Path(f"/tmp/crosstrack-bench-{os.getpid()}-{time.monotonic_ns()}")
    with open(f"{out_path}.out", "wb") as out, open(f"{out_path}.err", "wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            list(args), cwd=ROOT, env={**os.environ, **(env or {})}, stdout=out, stderr=err
        )
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
        seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    stdout = Path(f"{out_path}.out").read_text(errors="replace")
    stderr = Path(f"{out_path}.err").read_text(errors="replace")
    for suffix in (".out", ".err"):
        Path(f"{out_path}{suffix}").unlink()
    return ChildResult(
        code=proc.returncode,
        seconds=seconds,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=usage.ru_maxrss / 1024,
        stdout=stdout,
        stderr=stderr,
    )


class Ledger:
    """The sandbox's request ledger (``/_sandbox/stats``), read after a sequence number."""

    def __init__(self, sandbox_url: str) -> None:
        self.http = httpx.Client(base_url=sandbox_url, timeout=300)

    def last_seq(self) -> int:
        return int(self.http.get("/_sandbox/stats", params={"entries": 0}).json()["last_seq"])

    def since(self, seq: int) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = self.http.get("/_sandbox/stats", params={"since": seq}).json()[
            "entries"
        ]
        return entries

    def reset(self) -> None:
        """Forget counts (sequence numbers keep growing) and refill the GitHub rate budget."""
        self.http.post("/_sandbox/stats/reset").raise_for_status()

    def close(self) -> None:
        self.http.close()


def by_endpoint(entries: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for e in entries:
        name = f"{e['method']} {e['route']} {e['status']}"
        counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items()))


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def load_average() -> float:
    return round(os.getloadavg()[0], 2)
