"""Webhook intake under concurrent load, and delivery-to-visible latency (PRODUCT §5.2, §10 "webhooks").

Three processes, each with its own GIL: the sandbox (demo seed), ``python -m crosstrack serve`` (the
single-node API with its inbox worker and scheduler, on SQLite and then on PostgreSQL), and a load
generator (this module in ``--load`` mode: threads with keep-alive sockets and pre-built requests, so
the client costs little CPU).

1. Acceptance: the generator replays a real signed GitHub ``issues`` delivery (captured from the
   sandbox's delivery log; the signature covers the body only) with a fresh ``X-GitHub-Delivery``
   each time, from ``CONCURRENCY`` connections. Figures: deliveries/s accepted, p50/p95/p99 latency
   of the 202s, and the inbox row count for those delivery ids (none lost: = deliveries sent), then
   how long the inbox worker takes to drain that backlog.
2. Delivery to visible: one at a time, a sandbox mutation (a new title) → the sandbox's webhook →
   intake → inbox worker → the new title is in the model (polled in the database every 5 ms).
   Timed from the mutation request, so it includes the sandbox's own delivery time.

The load generator shares the machine's 2 cores with the server, the sandbox and the database
(and with whatever else runs): its CPU seconds and the server's are recorded beside the figures.

Bars: ≥ 1,000 deliveries/s accepted, p99 ≤ 50 ms, none lost, delivery to visible p99 ≤ 2 s.
PostgreSQL: see bench/bench_sync.py (database ``crosstrack_bench_webhooks``, dropped afterwards).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from bench import support

BARS = {"accepted_per_s": 1000, "p99_ms": 50, "lost": 0, "visible_p99_s": 2.0}
CONCURRENCY = 64
PG_NAME = "crosstrack_bench_webhooks"
ISSUE = "acme/web#6"


# -- load generator (child process) ---------------------------------------------------------------


def _load_child(spec_path: str) -> None:
    """``--load SPEC``: send the deliveries the spec describes; print latencies and statuses as JSON."""
    spec = json.loads(Path(spec_path).read_text())
    host, port = spec["host"], spec["port"]
    body = spec["body"].encode()
    head = "".join(f"{k}: {v}\r\n" for k, v in spec["headers"].items())
    template = (
        f"POST {spec['path']} HTTP/1.1\r\nHost: {host}:{port}\r\n{head}"
        f"Content-Length: {len(body)}\r\nX-GitHub-Delivery: %s\r\n\r\n"
    )
    ids: list[str] = spec["ids"]
    per_thread = [ids[i :: spec["concurrency"]] for i in range(spec["concurrency"])]
    latencies: list[list[float]] = [[] for _ in per_thread]
    statuses: list[dict[int, int]] = [{} for _ in per_thread]
    barrier = threading.Barrier(len(per_thread) + 1)

    def connect() -> tuple[socket.socket, Any]:
        sock = socket.create_connection((host, port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, sock.makefile("rb")

    def worker(index: int) -> None:
        sock, reader = connect()
        barrier.wait()
        for delivery in per_thread[index]:
            started = time.perf_counter()
            try:
                sock.sendall((template % delivery).encode() + body)
                status = int(reader.readline().split()[1])
                length, close = 0, False
                while (line := reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value)
                    elif name == b"connection" and value.strip().lower() == b"close":
                        close = True
                reader.read(length)
            except (OSError, ValueError, IndexError):  # the server dropped the connection
                status, close = 0, True
            latencies[index].append(time.perf_counter() - started)
            statuses[index][status] = statuses[index].get(status, 0) + 1
            if close:
                sock.close()
                sock, reader = connect()
        sock.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(per_thread))]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    merged: dict[int, int] = {}
    for part in statuses:
        for status, count in part.items():
            merged[status] = merged.get(status, 0) + count
    print(
        json.dumps({"wall": wall, "latencies": [x for part in latencies for x in part], "statuses": merged})
    )


# -- the benchmark ----------------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process so far (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _serve(config: Path, database_url: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``crosstrack serve`` on a free port; its stderr goes to ``log``."""
    port = support.free_port()
    env = {
        **support.ENV,
        "CROSSTRACK_DATABASE_URL": database_url,
        "CROSSTRACK_SYNC_INTERVAL_SECONDS": "3600",
        "CROSSTRACK_RECONCILE_INTERVAL_SECONDS": "3600",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "crosstrack", "serve", "--config", str(config), "--port", str(port)],
        cwd=support.ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),  # unhandled errors under load would flood the report
    )
    url = f"http://127.0.0.1:{port}"
    support.wait_http(f"{url}/healthz", proc, "crosstrack serve", timeout=300)
    return proc, url


def _wait_initial_sync(database_url: str, timeout: float = 600) -> None:
    """``serve`` syncs every source once at start; the model must hold the items before we measure."""
    from sync.db import make_engine
    from sync.model import SyncRun

    engine = make_engine(database_url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                done = conn.scalar(
                    select(func.count()).select_from(SyncRun).where(SyncRun.status == "succeeded")
                )
            if done and done >= 2:
                return
            time.sleep(0.2)
    finally:
        engine.dispose()
    raise RuntimeError("crosstrack serve did not finish its first sync of both sources")


def _sample_delivery(sandbox: httpx.Client, api_url: str) -> tuple[dict[str, str], str]:
    """A real ``issues`` delivery from the sandbox's log (also delivered to the API), re-signed."""
    sandbox.post(
        "/_sandbox/webhooks",
        json={
            "tracker": "github",
            "url": f"{api_url}/webhooks/github/github",
            "secret": support.WEBHOOK_SECRET,
        },
    ).raise_for_status()
    sandbox.post(
        "/_sandbox/mutate",
        json={"tracker": "github", "op": "update", "key": ISSUE, "fields": {"title": "Sample delivery"}},
    ).raise_for_status()
    log = sandbox.get("/_sandbox/webhooks/deliveries", params={"wait": 30, "full": 1}).json()["deliveries"]
    delivery = next(d for d in reversed(log) if d["event"] == "issues")
    skip = {"x-github-delivery", "content-length", "x-hub-signature-256", "content-type", "host"}
    headers = {k: v for k, v in delivery["headers"].items() if k.lower() not in skip}
    body = json.dumps(delivery["payload"], separators=(",", ":"))
    digest = hmac.new(support.WEBHOOK_SECRET.encode(), body.encode(), hashlib.sha256).hexdigest()
    headers["X-Hub-Signature-256"] = f"sha256={digest}"
    headers["Content-Type"] = "application/json"
    return headers, body


def _accept(api_url: str, headers: dict[str, str], body: str, count: int, workdir: Path) -> dict[str, Any]:
    host_port = api_url.removeprefix("http://")
    host, port = host_port.split(":")
    ids = [f"bench-{uuid.uuid4()}" for _ in range(count)]
    spec = workdir / "load.json"
    spec.write_text(
        json.dumps(
            {
                "host": host,
                "port": int(port),
                "path": "/webhooks/github/github",
                "headers": headers,
                "body": body,
                "ids": ids,
                "concurrency": CONCURRENCY,
            }
        )
    )
    child = support.run_child([sys.executable, "-m", "bench.bench_webhooks", "--load", str(spec)])
    if child.code != 0:
        raise RuntimeError(f"load generator failed ({child.code}): {child.stderr[-2000:]}")
    data = json.loads(child.stdout.strip().splitlines()[-1])
    latencies = data["latencies"]
    statuses = {int(k): v for k, v in data["statuses"].items()}
    return {
        "deliveries": count,
        "concurrency": CONCURRENCY,
        "statuses": statuses,
        "seconds": round(data["wall"], 2),
        "accepted_per_s": round(statuses.get(202, 0) / data["wall"]),
        "p50_ms": round(support.percentile(latencies, 50) * 1000, 1),
        "p95_ms": round(support.percentile(latencies, 95) * 1000, 1),
        "p99_ms": round(support.percentile(latencies, 99) * 1000, 1),
        "max_ms": round(max(latencies) * 1000, 1),
        "load_generator_cpu_s": round(child.cpu_seconds, 1),
        "ids": ids,
    }


def _inbox_rows(database_url: str, ids: list[str]) -> tuple[int, int]:
    """(rows for these delivery ids, of which handled)."""
    from sync.db import make_engine
    from sync.model import InboundEvent

    engine = make_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(func.count(), func.count(InboundEvent.handled_at)).where(
                InboundEvent.delivery_id.like("bench-%")
            )
        ).one()
    engine.dispose()
    return int(rows[0]), int(rows[1])


def _visible(sandbox: httpx.Client, database_url: str, samples: int) -> dict[str, Any]:
    from sync.db import make_engine
    from sync.model import WorkItem

    engine = make_engine(database_url)
    latencies: list[float] = []
    missed = 0
    try:
        for n in range(samples):
            title = f"Visible {n} {uuid.uuid4().hex[:8]}"
            started = time.perf_counter()
            sandbox.post(
                "/_sandbox/mutate",
                json={"tracker": "github", "op": "update", "key": ISSUE, "fields": {"title": title}},
            )
            deadline = started + 10
            while True:
                with engine.connect() as conn:
                    seen = conn.scalar(select(WorkItem.title).where(WorkItem.key == ISSUE))
                if seen == title:
                    latencies.append(time.perf_counter() - started)
                    break
                if time.perf_counter() > deadline:
                    missed += 1
                    break
                time.sleep(0.005)
    finally:
        engine.dispose()
    return {
        "samples": samples,
        "missed_after_10s": missed,
        "p50_s": round(support.percentile(latencies, 50), 3) if latencies else None,
        "p95_s": round(support.percentile(latencies, 95), 3) if latencies else None,
        "p99_s": round(support.percentile(latencies, 99), 3) if latencies else None,
    }


def _print(label: str, value: object, bar: str = "") -> None:
    print(f"   {label:34} {value!s:>12}  {bar}", flush=True)


def _one(
    database: str, database_url: str, config: Path, sandbox_url: str, quick: bool, workdir: Path
) -> dict[str, Any]:
    deliveries = 2_000 if quick else 10_000
    samples = 30 if quick else 100
    log = workdir / f"serve-{database}.log"
    proc, api_url = _serve(config, database_url, log)
    sandbox = httpx.Client(base_url=sandbox_url, timeout=60)
    try:
        _wait_initial_sync(database_url)
        headers, body = _sample_delivery(sandbox, api_url)
        cpu_before = _cpu_seconds(proc.pid)
        accept = _accept(api_url, headers, body, deliveries, workdir)
        cpu_accept = _cpu_seconds(proc.pid)
        ids = accept.pop("ids")
        stored, handled = _inbox_rows(database_url, ids)
        accept["server_cpu_s"] = round(cpu_accept - cpu_before, 1)
        accept["inbox_rows"] = stored
        accept["lost"] = accept["statuses"].get(202, 0) - stored
        # The inbox worker applies deliveries while they arrive: what was left when the load ended,
        # then how long the rest took.
        accept["inbox_handled_during_load"] = handled
        started = time.perf_counter()
        while time.perf_counter() - started < 600:
            _, handled = _inbox_rows(database_url, ids)
            if handled >= stored:
                break
            time.sleep(0.1)
        drain = time.perf_counter() - started
        accept["inbox_drain_seconds"] = round(drain, 1)
        accept["inbox_handled"] = handled
        accept["inbox_applied_per_s"] = round(handled / (accept["seconds"] + drain))
        accept["server_cpu_s_drain"] = round(_cpu_seconds(proc.pid) - cpu_accept, 1)
        visible = _visible(sandbox, database_url, samples)
    finally:
        sandbox.close()
        support.stop(proc)
    accept["server_errors_logged"] = log.read_text(errors="replace").count("api.unhandled_error")
    result = {
        "accept": accept,
        "visible": visible,
        "load_average": support.load_average(),
        "serve_log": str(log),
    }
    print(f"   -- {database}", flush=True)
    _print("deliveries accepted/s", accept["accepted_per_s"], f"bar ≥ {BARS['accepted_per_s']}")
    _print(
        "latency p50/p95/p99 ms",
        f"{accept['p50_ms']}/{accept['p95_ms']}/{accept['p99_ms']}",
        f"bar p99 ≤ {BARS['p99_ms']}",
    )
    _print(
        "statuses (0 = connection dropped)",
        accept["statuses"],
        f"{accept['server_errors_logged']} errors logged",
    )
    _print("inbox rows / lost", f"{stored}/{accept['lost']}", "bar: none lost")
    _print("server CPU s (load / drain)", f"{accept['server_cpu_s']}/{accept['server_cpu_s_drain']}")
    _print("inbox handled during load", accept["inbox_handled_during_load"])
    _print("inbox backlog drained in s", accept["inbox_drain_seconds"], f"({handled} handled)")
    _print("inbox applied/s (load + drain)", accept["inbox_applied_per_s"])
    _print(
        "delivery→visible p50/p95/p99 s",
        f"{visible['p50_s']}/{visible['p95_s']}/{visible['p99_s']}",
        f"bar p99 ≤ {BARS['visible_p99_s']}",
    )
    result["bars_met"] = bool(
        accept["accepted_per_s"] >= BARS["accepted_per_s"]
        and accept["p99_ms"] <= BARS["p99_ms"]
        and accept["lost"] == 0
        and visible["p99_s"] is not None
        and visible["p99_s"] <= BARS["visible_p99_s"]
        and visible["missed_after_10s"] == 0
    )
    _print("bars met", result["bars_met"], f"load average {result['load_average']}")
    return result


def run(quick: bool = False) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="crosstrack-bench-webhooks-"))
    figures: dict[str, Any] = {"bars": BARS}
    for database in ("sqlite", "postgresql"):
        # A sandbox per pass: its registered hooks outlive a reset, and pass 1's API is gone.
        with support.sandbox_process() as sandbox_url:
            config = support.write_config(workdir / "crosstrack.toml", sandbox_url)
            url = (
                support.sqlite_url(workdir / "bench.db")
                if database == "sqlite"
                else support.fresh_pg_database(PG_NAME)
            )
            try:
                figures[database] = _one(database, url, config, sandbox_url, quick, workdir)
            finally:
                if database == "postgresql":
                    support.drop_pg_database(PG_NAME)
    return figures


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--load":
        _load_child(sys.argv[2])
    else:
        print("usage: python -m bench --only webhooks [--quick]", file=sys.stderr)
        sys.exit(2)
