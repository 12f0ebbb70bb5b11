"""Full sync end to end (PRODUCT §10 "sync throughput" and "request economy"): the scale sandbox
(100,000 items, half Jira half GitHub; ``--quick``: 10,000) in its own process, and
``python -m crosstrack sync --full`` in a child process into SQLite and into PostgreSQL, exactly as
a user runs it (both sources in parallel, each batch and its cursor committed together).

Figures, per database:
- ``items_per_s``: items seen / the wall time from the first SyncRun start to the last finish (the
  process start-up, migrations and catalog are left out; ``process_seconds`` includes them), and
  ``items_per_cpu_s`` (per CPU-second of the sync process: robust on a shared machine;
  ``load_average`` says how busy it was);
- ``vs_bare``: ``items_per_s`` / the bare fetch-and-parse rate: the same connectors'
  ``list_changed(None)`` consumed without a database, in a child process of its own, run once
  before the syncs (``bare_cold``, the sandbox's first scan) and once after (``bare``, warm, which
  is what the syncs read);
- ``requests`` (from the sandbox ledger) vs ``min_pages``: ceil(items / page size) per GitHub repo
  (pull requests included: they share the issue list) and per Jira project (the server's page cap
  of 100 with full fields); ``listing_requests`` counts only the list/search pages (the bar), the
  rest are the per-item reads §10 allows (dependency lists of issues that have some, truncated
  changelogs, remote links, Projects v2 pages); ``by_endpoint`` shows them all;
- ``peak_rss_mb`` of the sync process (``wait4``'s ``ru_maxrss``).

Bars: ≥ 3,000 items/s, ≥ 50% of bare fetch-and-parse, peak RSS ≤ 300 MB, listing ≤ 1.05 x min pages.
``CROSSTRACK_BENCH_DATABASE_URL`` (or ``CROSSTRACK_TEST_DATABASE_URL``) names the PostgreSQL server
(default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``); a database ``crosstrack_bench_sync``
is created on it and dropped afterwards.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from bench import support

JIRA_PAGE_CAP = 100  # SandboxConfig.max_results_jira: Jira Cloud's cap with full fields
GITHUB_PAGE = 100
BARS = {"items_per_s": 3000, "vs_bare": 0.5, "peak_rss_mb": 300, "listing_vs_min_pages": 1.05}
PG_NAME = "crosstrack_bench_sync"
LISTING_ROUTES = (
    " /repos/{owner}/{repo}/issues 200",
    " /repos/{owner}/{repo}/issues 304",
    "/search/jql ",
    "/search ",
)


def _min_pages(sandbox_url: str) -> tuple[list[str], dict[str, int], dict[str, int]]:
    """The GitHub repos, and per repo / Jira project the fewest pages that hold its items."""
    gh = httpx.Client(
        base_url=f"{sandbox_url}/github/api/v3",
        headers={"Authorization": f"token {support.TOKEN}"},
        timeout=120,
    )
    repos = sorted(r["full_name"] for r in gh.get("/orgs/acme/repos", params={"per_page": 100}).json())
    pages: dict[str, int] = {}
    counts: dict[str, int] = {}
    for repo in repos:
        response = gh.get(f"/repos/{repo}/issues", params={"state": "all", "per_page": GITHUB_PAGE})
        last = response.links.get("last", {}).get("url")
        if last:
            last_page = int(httpx.URL(last).params["page"])
            tail = gh.get(last).json()
            counts[repo] = (last_page - 1) * GITHUB_PAGE + len(tail)
        else:
            counts[repo] = len(response.json())
        pages[repo] = max(1, math.ceil(counts[repo] / GITHUB_PAGE))
    gh.close()
    jira = httpx.Client(base_url=f"{sandbox_url}/jira", auth=("tpm@example.com", support.TOKEN), timeout=300)
    for project in ("PAY", "PLAT"):
        count = jira.post("/rest/api/3/search/approximate-count", json={"jql": f"project = {project}"})
        counts[project] = int(count.json()["count"])
        pages[project] = max(1, math.ceil(counts[project] / JIRA_PAGE_CAP))
    jira.close()
    return repos, pages, counts


def _bare_child(config_path: str) -> None:
    """Child mode: every source's ``list_changed(None)`` consumed, no database; prints JSON."""
    from connectors.registry import build_connector
    from sync.config import load_config

    config = load_config(Path(config_path))
    names = [s.name for s in config.sources]

    def consume(name: str) -> dict[str, Any]:
        connector = build_connector(config.source_settings(name, dict(os.environ)))
        started = time.perf_counter()
        items = 0
        for batch in connector.list_changed(None):
            items += len(batch.items)
        return {
            "source": name,
            "items": items,
            "seconds": round(time.perf_counter() - started, 2),
            "requests": connector.stats.requests,
        }

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(names)) as pool:  # as `crosstrack sync` runs them
        sources = list(pool.map(consume, names))
    wall = time.perf_counter() - started
    print(json.dumps({"wall_seconds": wall, "sources": sources}))


def _bare(config: Path, ledger: support.Ledger) -> dict[str, Any]:
    ledger.reset()  # also refills the sandbox's GitHub rate budget (5,000 an hour)
    seq = ledger.last_seq()
    child = support.run_child(
        [sys.executable, "-m", "bench.bench_sync", "--bare", str(config)], env=support.ENV
    )
    if child.code != 0:
        raise RuntimeError(f"bare fetch-and-parse failed ({child.code}): {child.stderr[-2000:]}")
    data = json.loads(child.stdout.strip().splitlines()[-1])
    items = sum(s["items"] for s in data["sources"])
    return {
        "items": items,
        "seconds": round(data["wall_seconds"], 2),
        "items_per_s": round(items / data["wall_seconds"]),
        "items_per_cpu_s": round(items / child.cpu_seconds),
        "requests": len(ledger.since(seq)),
        "peak_rss_mb": round(child.peak_rss_mb, 1),
        "sources": data["sources"],
        "load_average": support.load_average(),
    }


def _sync(config: Path, database_url: str, ledger: support.Ledger) -> dict[str, Any]:
    from sync.db import make_engine
    from sync.model import Source, SyncRun, WorkItem

    ledger.reset()  # four full scans of 100k items exceed the GitHub budget: the last one would wait
    seq = ledger.last_seq()
    child = support.run_child(
        [sys.executable, "-m", "crosstrack", "sync", "--full", "--config", str(config)],
        env={**support.ENV, "CROSSTRACK_DATABASE_URL": database_url},
    )
    entries = ledger.since(seq)
    if child.code != 0:
        raise RuntimeError(f"crosstrack sync failed ({child.code}): {child.stderr[-2000:]}")
    engine = make_engine(database_url)
    with engine.connect() as conn:
        runs = conn.execute(
            select(Source.name, SyncRun.items_seen, SyncRun.started_at, SyncRun.finished_at, SyncRun.status)
            .join(Source, Source.id == SyncRun.source_id)
            .where(SyncRun.kind == "full")
        ).all()
        live = conn.scalar(select(func.count()).select_from(WorkItem).where(WorkItem.deleted_at.is_(None)))
    engine.dispose()
    seen = sum(r.items_seen for r in runs)
    wall = (max(r.finished_at for r in runs) - min(r.started_at for r in runs)).total_seconds()
    return {
        "items_seen": seen,
        "live_items": live,
        "runs": {r.name: {"items": r.items_seen, "status": r.status} for r in runs},
        "sync_seconds": round(wall, 2),
        "process_seconds": round(child.seconds, 2),
        "items_per_s": round(seen / wall),
        "cpu_seconds": round(child.cpu_seconds, 1),
        "items_per_cpu_s": round(seen / child.cpu_seconds),
        "peak_rss_mb": round(child.peak_rss_mb, 1),
        "requests": len(entries),
        "by_endpoint": support.by_endpoint(entries),
        "load_average": support.load_average(),
    }


def _print(label: str, value: object, bar: str = "") -> None:
    print(f"   {label:34} {value!s:>12}  {bar}", flush=True)


def run(quick: bool = False) -> dict[str, Any]:
    items = 10_000 if quick else 100_000
    workdir = Path(tempfile.mkdtemp(prefix="crosstrack-bench-sync-"))
    figures: dict[str, Any] = {"items": items, "bars": BARS}
    started = time.perf_counter()
    with support.sandbox_process(items) as url:
        figures["sandbox_start_seconds"] = round(time.perf_counter() - started, 1)
        repos, pages, counts = _min_pages(url)
        config = support.write_config(workdir / "crosstrack.toml", url, repos)
        min_pages = sum(pages.values())
        figures.update(
            {"repos": repos, "listed_per_scope": counts, "pages_per_scope": pages, "min_pages": min_pages}
        )
        ledger = support.Ledger(url)
        figures["bare_cold"] = _bare(config, ledger)
        _print("bare fetch-and-parse (cold) items/s", figures["bare_cold"]["items_per_s"])
        databases = {"sqlite": support.sqlite_url(workdir / "bench.db"), "postgresql": None}
        for name in databases:
            database_url = databases[name] or support.fresh_pg_database(PG_NAME)
            try:
                result = _sync(config, database_url, ledger)
            finally:
                if name == "postgresql":
                    support.drop_pg_database(PG_NAME)
            result["requests_vs_min_pages"] = round(result["requests"] / min_pages, 4)
            # The listing pages alone; the rest are per-item reads §10 allows (dependencies, history).
            listing = sum(
                n for name, n in result["by_endpoint"].items() if any(r in name for r in LISTING_ROUTES)
            )
            result["listing_requests"] = listing
            result["listing_vs_min_pages"] = round(listing / min_pages, 4)
            figures[name] = result
            print(f"   -- {name}: {result['items_seen']} items, {result['live_items']} live rows", flush=True)
            _print("items/s (sync wall)", result["items_per_s"], f"bar ≥ {BARS['items_per_s']}")
            _print(
                "items per CPU-second", result["items_per_cpu_s"], f"load average {result['load_average']}"
            )
            _print("peak RSS MB", result["peak_rss_mb"], f"bar ≤ {BARS['peak_rss_mb']}")
            _print(
                "requests / min pages",
                f"{result['requests']}/{min_pages}",
                f"= {result['requests_vs_min_pages']} (incl. per-item dependency reads)",
            )
            _print(
                "listing requests / min pages",
                f"{listing}/{min_pages}",
                f"= {result['listing_vs_min_pages']} (bar ≤ {BARS['listing_vs_min_pages']})",
            )
        figures["bare"] = bare = _bare(config, ledger)
        ledger.close()
    _print("bare fetch-and-parse (warm) items/s", bare["items_per_s"], f"{bare['items_per_cpu_s']} per CPU-s")
    verdict: dict[str, bool] = {}
    for name in databases:
        result = figures[name]
        result["vs_bare"] = round(result["items_per_s"] / bare["items_per_s"], 3)
        result["vs_bare_cpu"] = round(result["items_per_cpu_s"] / bare["items_per_cpu_s"], 3)
        _print(
            f"{name} vs bare",
            result["vs_bare"],
            f"bar ≥ {BARS['vs_bare']} (per CPU-second: {result['vs_bare_cpu']})",
        )
        verdict[name] = (
            result["items_per_s"] >= BARS["items_per_s"]
            and result["vs_bare"] >= BARS["vs_bare"]
            and result["peak_rss_mb"] <= BARS["peak_rss_mb"]
            and result["listing_vs_min_pages"] <= BARS["listing_vs_min_pages"]
        )
        _print(f"{name} bars met", verdict[name])
    figures["bars_met"] = verdict
    return figures


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--bare":
        _bare_child(sys.argv[2])
    else:
        print("usage: python -m bench --only sync [--quick]", file=sys.stderr)
        sys.exit(2)
