"""GitHub connector request economy and throughput against the sandbox (no database), PRODUCT §10.

The sandbox runs in a child process (scale seed, ``github_items`` issues) so that this process's
peak RSS and CPU are the connector's own. Figures:

- ``minimum_list_pages``: pages a bare client needs to read every repository's issue list once
  (per_page=100, pull requests included), measured with a plain httpx walk; ``summary_extras``: the
  dependency lists the issues' ``issue_dependencies_summary`` ask for; ``project_pages``: the Projects
  v2 fields and items pages of the configured project (the scale seed's project 1 has no items).
- ``full_sync_requests`` vs ``minimum + extras`` (bar: ≤ 1.05 x).
- ``incremental_requests`` / ``incremental_304`` for a run with no change (bar: 1 per repo, 304).
- ``items_per_s`` of a full sync (HTTP + parse + map), ``map_items_per_s`` of the pure mapping,
  ``bare_fetch_items_per_s`` of the httpx walk, and ``peak_rss_mb`` of this process.
"""

from __future__ import annotations

import contextlib
import math
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson

from connectors.base import SourceSettings
from connectors.github.connector import GitHubConnector
from connectors.github.mapping import MappingConfig, map_issue
from connectors.records import TrackerKind

TOKEN = "sandbox-token"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _sandbox(items: int) -> Iterator[str]:
    port = _free_port()
    code = (
        "from sandbox.core import SandboxConfig; from sandbox.server import serve; "
        f"serve(SandboxConfig(seed='scale', github_items={items}), port={port}, log_level='warning')"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=os.path.dirname(os.path.dirname(__file__)))
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the sandbox did not start")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _ledger(client: httpx.Client, since: int) -> list[dict[str, Any]]:
    entries = client.get("/_sandbox/stats", params={"since": since}).json()["entries"]
    return [e for e in entries if e["tracker"] == "github"]


def _last_seq(client: httpx.Client) -> int:
    entries = client.get("/_sandbox/stats").json()["entries"]
    return int(entries[-1]["seq"]) if entries else 0


def run(quick: bool = False) -> dict[str, Any]:
    items = 5_000 if quick else 100_000
    started = time.perf_counter()
    with _sandbox(items) as url:
        seed_seconds = time.perf_counter() - started
        control = httpx.Client(base_url=url, timeout=120)
        api = httpx.Client(
            base_url=f"{url}/github/api/v3", headers={"Authorization": f"token {TOKEN}"}, timeout=120
        )
        repos = sorted(r["full_name"] for r in api.get("/orgs/acme/repos", params={"per_page": 100}).json())

        # 1. The floor: a bare client walks each issue list once; keep a few pages for the mapping figure.
        minimum_pages = 0
        extras = 0
        listed = 0
        issues = 0
        sample: list[dict[str, Any]] = []
        t0 = time.perf_counter()
        for repo in repos:
            response = api.get(f"/repos/{repo}/issues", params={"state": "all", "per_page": 100})
            while True:
                minimum_pages += 1
                page = orjson.loads(response.content)
                listed += len(page)
                for payload in page:
                    if "pull_request" in payload:
                        continue
                    issues += 1
                    summary = payload.get("issue_dependencies_summary") or {}
                    extras += int(summary.get("total_blocked_by", 0) > 0) + int(
                        summary.get("total_blocking", 0) > 0
                    )
                    if len(sample) < 5_000:
                        sample.append(payload)
                nxt = response.links.get("next", {}).get("url")
                if not nxt:
                    break
                response = api.get(nxt)
        # Projects v2 (project 1 is configured below): the fields page plus every items page.
        project_pages = 1
        response = api.get("/orgs/acme/projectsV2/1/items", params={"per_page": 100})
        while True:
            project_pages += 1
            nxt = response.links.get("next", {}).get("url")
            if not nxt:
                break
            response = api.get(nxt)
        bare_seconds = time.perf_counter() - t0

        # 2. Pure mapping throughput.
        config = MappingConfig()
        t0 = time.perf_counter()
        rounds = 0
        while time.perf_counter() - t0 < 2.0:
            for payload in sample:
                map_issue(payload, config)
            rounds += 1
        map_rate = rounds * len(sample) / (time.perf_counter() - t0)

        # 3. Full sync through the connector.
        settings = SourceSettings(
            name="bench",
            kind=TrackerKind.GITHUB,
            base_url=f"{url}/github/api/v3",
            flavour="com",
            token=TOKEN,
            options={"org": "acme", "repos": repos, "projects_v2": [{"number": 1}]},
        )
        connector = GitHubConnector(settings)
        seq = _last_seq(control)
        t0 = time.perf_counter()
        synced = 0
        keys: set[str] = set()
        cursor: str | None = None
        batches = 0
        for batch in connector.list_changed(None):
            synced += len(batch.items)
            keys.update(item.key for item in batch.items)
            cursor = batch.cursor or cursor
            batches += 1
        full_seconds = time.perf_counter() - t0
        full_entries = _ledger(control, seq)
        peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        list_requests = sum(1 for e in full_entries if e["route"] == "/repos/{owner}/{repo}/issues")
        dependency_requests = sum(1 for e in full_entries if "/dependencies/" in e["route"])

        # 4. A run with nothing changed.
        seq = _last_seq(control)
        quiet = GitHubConnector(settings)
        quiet_items = sum(len(b.items) for b in quiet.list_changed(cursor))
        quiet_entries = _ledger(control, seq)

    required = minimum_pages + extras + project_pages
    figures: dict[str, Any] = {
        "github_items_seeded": items,
        "repos": len(repos),
        "issues": issues,
        "listed_including_prs": listed,
        "sandbox_start_seconds": round(seed_seconds, 1),
        "minimum_list_pages": minimum_pages,
        "summary_extras": extras,
        "project_pages": project_pages,
        "full_sync_requests": len(full_entries),
        "full_sync_list_requests": list_requests,
        "full_sync_dependency_requests": dependency_requests,
        "requests_vs_minimum": round(len(full_entries) / required, 4) if required else None,
        "list_pages_vs_minimum": round(list_requests / minimum_pages, 4) if minimum_pages else None,
        "records_yielded": synced,
        "unique_items": len(keys),
        "batches": batches,
        "full_sync_seconds": round(full_seconds, 2),
        "items_per_s": round(len(keys) / full_seconds) if full_seconds else None,
        "bare_fetch_items_per_s": round(listed / bare_seconds) if bare_seconds else None,
        "map_items_per_s": round(map_rate),
        "incremental_items": quiet_items,
        "incremental_requests": len(quiet_entries),
        "incremental_304": sum(1 for e in quiet_entries if e["status"] == 304),
        "peak_rss_mb": round(peak_rss_mb, 1),
    }
    for name, value in figures.items():
        print(f"   {name:32} {value}", flush=True)
    ok = (
        figures["requests_vs_minimum"] is not None
        and figures["requests_vs_minimum"] <= 1.05
        and figures["incremental_requests"] == len(repos) == figures["incremental_304"]
        and len(keys) == issues
    )
    print(f"   {'bars met':32} {ok}  (full ≤ 1.05 x minimum + extras; no-change = 1 x 304 per repo)")
    figures["bars_met"] = ok
    assert math.isfinite(map_rate)
    return figures
