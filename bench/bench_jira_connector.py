"""The Jira connector on its own (no database): throughput and request economy at scale.

A sandbox with only Jira issues (scale seed) runs in its own process; this process runs the
connector exactly as the sync engine would (``list_changed(None)`` batch by batch, then an
incremental with the stored cursor on a fresh connector) and reads the sandbox's request ledger.

Figures, per flavour (Cloud ``search/jql``, Data Center ``/search``):
- ``items_per_s``: mapped records per second for the full scan, connector side (wall clock, the
  sandbox serving on the other core), and ``items_per_cpu_s`` (per CPU-second of this process:
  robust when the machine is shared; ``load_average`` says how busy it was);
- ``bare_items_per_s``: the same pages fetched and JSON-decoded without mapping, for comparison
  (the sandbox is warmed by one bare scan first, so both read cached pages);
- ``requests`` vs ``min_pages`` (items / the server's page cap of 100 with full fields): the
  PRODUCT §10 bar is requests <= 1.05 x min_pages;
- ``no_change_incremental_requests``: the bar is exactly 1;
- ``peak_rss_mb`` of this process (the sandbox's memory is not counted).
"""

from __future__ import annotations

import math
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
PAGE_CAP = 100  # SandboxConfig.max_results_jira: what Jira Cloud gives with full fields


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(items: int, flavour: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    code = (
        "from sandbox.core import SandboxConfig; from sandbox.server import serve; "
        f"serve(SandboxConfig(seed='scale', jira_items={items}, github_items=0, jira_flavour={flavour!r}), "
        f"'127.0.0.1', {port}, 'warning')"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode()[-800:] if proc.stderr else ""
            raise RuntimeError(f"sandbox exited: {err}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    _stop(proc)
    raise RuntimeError("sandbox did not start in time")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _ledger(url: str) -> dict[str, Any]:
    data: dict[str, Any] = httpx.get(f"{url}/_sandbox/stats", timeout=60).json()
    return data


def _reset_ledger(url: str) -> None:
    httpx.post(f"{url}/_sandbox/stats/reset", timeout=10)


def _measure(url: str, flavour: str, items: int) -> dict[str, Any]:
    from connectors.base import SourceSettings
    from connectors.jira import JiraConnector
    from connectors.records import TrackerKind

    settings = SourceSettings(
        name="bench-jira",
        kind=TrackerKind.JIRA,
        base_url=f"{url}/jira",
        flavour=flavour,
        token="sandbox-token",
        user="tpm@example.com",
        options={"projects": ["PAY", "PLAT"]},
    )
    # Warm the sandbox first (it renders each issue's JSON once, then serves it from a cache), so
    # the connector scan and the bare scan below both read warm pages and compare fairly.
    warm = JiraConnector(settings)
    warm.discover()
    _bare_scan(warm, flavour)
    _reset_ledger(url)
    conn = JiraConnector(settings)
    started = time.perf_counter()
    cpu_started = time.process_time()
    seen = 0
    cursor: str | None = None
    for batch in conn.list_changed(None):
        seen += len(batch.items)
        cursor = batch.cursor if batch.cursor is not None else cursor
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    ledger = _ledger(url)
    search_route = "GET /rest/api/3/search/jql" if flavour == "cloud" else "GET /rest/api/2/search"
    search_requests = sum(ledger["by_endpoint"].get(search_route, {}).values())
    min_pages = math.ceil(items / PAGE_CAP)

    # Bare fetch-and-parse of the same pages through the same session: the ceiling for mapping.
    bare_started = time.perf_counter()
    bare_items = _bare_scan(conn, flavour)
    bare_elapsed = time.perf_counter() - bare_started

    _reset_ledger(url)
    fresh = JiraConnector(settings)
    incremental_items = sum(len(b.items) for b in fresh.list_changed(cursor))
    incremental_requests = _ledger(url)["total"]
    return {
        "items": seen,
        "seconds": round(elapsed, 2),
        "items_per_s": round(seen / elapsed),
        "cpu_seconds": round(cpu, 2),
        "items_per_cpu_s": round(seen / cpu),
        "load_average": os.getloadavg()[0],
        "bare_items_per_s": round(bare_items / bare_elapsed),
        "mapping_share_of_bare": round((seen / elapsed) / (bare_items / bare_elapsed), 2),
        "requests": ledger["total"],
        "search_requests": search_requests,
        "discovery_requests": ledger["total"] - search_requests,
        "min_pages": min_pages,
        "requests_vs_min_pages": round(ledger["total"] / min_pages, 4),
        "by_endpoint": ledger["by_endpoint"],
        "no_change_incremental_requests": incremental_requests,
        "no_change_incremental_items": incremental_items,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def _bare_scan(conn: Any, flavour: str) -> int:
    """Pages of the full scan, decoded but not mapped (the connector's own session and JQL)."""
    from connectors.jira import jql
    from connectors.jira.mapping import BASE_FIELDS

    client = conn._client
    fields = ",".join((*BASE_FIELDS, *conn._ctx.fields.ids()))
    query = jql.changed_since_jql(conn.projects, None, None)
    count, offset, token = 0, 0, None
    while True:
        params: dict[str, Any] = {"jql": query, "maxResults": 5000, "fields": fields, "expand": "changelog"}
        if flavour == "cloud":
            if token:
                params["nextPageToken"] = token
            data = client.get("search/jql", params, api="3")
        else:
            params["startAt"] = offset
            data = client.get("search", params, api="2")
        issues = data["issues"]
        count += len(issues)
        offset += len(issues)
        token = data.get("nextPageToken")
        if flavour == "cloud" and not token:
            return count
        if flavour != "cloud" and (not issues or offset >= data["total"]):
            return count


def _demo_changelog_economy(flavour: str) -> dict[str, Any]:
    """The demo seed has 3 issues whose history the search truncates: what do they cost?"""
    from connectors.base import SourceSettings
    from connectors.jira import JiraConnector
    from connectors.records import TrackerKind
    from sandbox.core import SandboxConfig
    from sandbox.testing import running_sandbox

    with running_sandbox(SandboxConfig(jira_flavour=flavour)) as sb:
        settings = SourceSettings(
            name="bench-jira-demo",
            kind=TrackerKind.JIRA,
            base_url=sb.jira_url,
            flavour=flavour,
            token="sandbox-token",
            user="tpm@example.com",
            options={"projects": ["PAY", "PLAT"]},
        )
        items = [i for b in JiraConnector(settings).list_changed(None) for i in b.items]
        by_endpoint = sb.stats()["by_endpoint"]
    truncated = 0
    for item in items:
        changelog = (item.raw or {}).get("changelog") or {}
        truncated += int(changelog.get("total") or 0) > len(changelog.get("histories") or ())
    changelog = {k: sum(v.values()) for k, v in by_endpoint.items() if "changelog" in k}
    remote = {k: sum(v.values()) for k, v in by_endpoint.items() if k.endswith("/remotelink")}
    return {
        "items": len(items),
        "issues_with_truncated_history": truncated,
        "changelog_requests": changelog,
        "remotelink_requests": remote,
        "total_requests": sum(sum(v.values()) for v in by_endpoint.values()),
    }


def run(quick: bool = False) -> dict[str, Any]:
    items = 10_000 if quick else 100_000
    results: dict[str, Any] = {"items": items}
    for flavour in ("cloud", "datacenter"):
        proc, url = _start(items, flavour)
        try:
            figures = _measure(url, flavour, items)
        finally:
            _stop(proc)
        results[flavour] = figures
        print(
            f"   jira {flavour}: {figures['items']} items in {figures['seconds']} s = {figures['items_per_s']} items/s "
            f"({figures['items_per_cpu_s']} items per CPU-second of the connector; "
            f"bare fetch+parse {figures['bare_items_per_s']} items/s, share {figures['mapping_share_of_bare']}); "
            f"requests {figures['requests']} ({figures['search_requests']} search + {figures['discovery_requests']} "
            f"discovery) vs min pages {figures['min_pages']} = x{figures['requests_vs_min_pages']}; "
            f"no-change incremental: {figures['no_change_incremental_requests']} request(s); "
            f"peak RSS {figures['peak_rss_mb']} MB",
            flush=True,
        )
    for flavour in ("cloud", "datacenter"):  # after the scale runs: its sandbox runs in this process
        demo = _demo_changelog_economy(flavour)
        results[f"demo_{flavour}"] = demo
        print(
            f"   jira {flavour} demo: {demo['items']} items, {demo['issues_with_truncated_history']} with a "
            f"truncated changelog -> changelog requests {demo['changelog_requests']}, remote link reads "
            f"{demo['remotelink_requests']}, {demo['total_requests']} requests in all",
            flush=True,
        )
    return results


if __name__ == "__main__":
    run(quick="--quick" in sys.argv)
