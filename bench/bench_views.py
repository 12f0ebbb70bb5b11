"""Program views on a big model: p50/p95 of progress, risks, dependencies and the report.

PostgreSQL holds 1,000,000 items with a 20,000-item program (``--quick``: 100,000 / 5,000);
SQLite 100,000 items with the same program (``--quick``: 20,000 / 5,000). Rows are generated in
the database with one INSERT ... SELECT per table (no sandbox, no sync), shaped like a real org:
an epic heading each block of 20 items, teams of 1,000 consecutive items, half the items done
with a status change, a ``blocks`` link from every third item to the item 7 further on (some
across teams), one cycle per 1,000 items, due dates, estimates and unassigned work sprinkled in.

Bars (PRODUCT §10): progress and risks <= 50 ms p95, dependency graph <= 150 ms p95 on PostgreSQL.

``CROSSTRACK_BENCH_VIEWS_REUSE=1`` keeps the generated databases and reuses one that already holds
the right number of items (generation is most of a full run at 1M); migrations still run on it.
Final figures come from a run without it.
"""

from __future__ import annotations

import os
import resource
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from bench import support
from sync.db import make_engine, upgrade
from sync.membership import refresh_member_epics
from sync.views.dependencies import dependency_graph
from sync.views.forecast import clear_forecast_cache, forecast
from sync.views.progress import progress
from sync.views.report import generate_report
from sync.views.risks import risks

PG_NAME = "crosstrack_bench_views"
BASE = datetime(2026, 11, 1, tzinfo=UTC)
TEAMS = 20
SLUG = "bench"


def _series(dialect: str, n: int) -> str:
    if dialect == "postgresql":
        return f"SELECT generate_series(1, {n}) AS i"
    return f"WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) SELECT i FROM s"


def _ts(dialect: str, days_expr: str) -> str:
    """BASE + days_expr days, as the column type wants it."""
    if dialect == "postgresql":
        return f"(TIMESTAMPTZ '2026-11-01 00:00:00+00' + ({days_expr}) * INTERVAL '1 day')"
    return f"datetime('2026-11-01 00:00:00', ({days_expr}) || ' days')"


def _date(dialect: str, days_expr: str) -> str:
    if dialect == "postgresql":
        return f"(DATE '2026-11-01' + ({days_expr}))"
    return f"date('2026-11-01', ({days_expr}) || ' days')"


def populate(engine: Engine, items: int, program_items: int) -> dict[str, float]:
    d = engine.dialect.name
    timings: dict[str, float] = {}
    json_empty = "'[]'::jsonb" if d == "postgresql" else "'[]'"
    json_empty_obj = "'{}'::jsonb" if d == "postgresql" else "'{}'"
    now = _ts(d, "0")
    with engine.begin() as conn:
        started = time.perf_counter()
        conn.execute(
            text(
                "INSERT INTO source (id, name, kind, base_url, flavour, credentials_ref, options, created_at, "
                f"updated_at, last_synced_at) VALUES (1, 'jira', 'jira', 'https://j', 'cloud', 'env:X', {json_empty_obj}, "
                f"{now}, {now}, {now}), (2, 'github', 'github', 'https://g', 'com', 'env:Y', {json_empty_obj}, {now}, {now}, {now})"
            )
        )
        for t in range(1, TEAMS + 1):
            conn.execute(text(f"INSERT INTO team (id, slug, name) VALUES ({t}, 'team-{t}', 'Team {t}')"))
        conn.execute(text(f"INSERT INTO person (id, display_name, created_at) VALUES (1, 'Ada', {now})"))
        i = "s.i"
        conn.execute(
            text(
                "INSERT INTO work_item (id, source_id, external_id, tracker, key, url, title, scope, kind, original_type, "
                "status_category, original_status, resolution, team_id, parent_id, estimate, labels, due_date, "
                "remote_created_at, remote_updated_at, resolved_at, assignee_id, synced_at) "
                f"SELECT {i}, 1 + {i} % 2, CAST({i} AS TEXT), CASE WHEN {i} % 2 = 0 THEN 'jira' ELSE 'github' END, "
                f"'K-' || {i}, 'https://x/' || {i}, 'Item ' || {i}, 'S' || ({i} / 1000), "
                f"CASE WHEN {i} % 20 = 1 THEN 'epic' ELSE 'story' END, 'Story', "
                f"CASE WHEN {i} % 10 < 5 THEN 'done' WHEN {i} % 10 < 7 THEN 'in_progress' ELSE 'todo' END, 'x', "
                f"CASE WHEN {i} % 10 < 5 THEN (CASE WHEN {i} % 97 = 0 THEN 'wont_do' ELSE 'completed' END) END, "
                f"({i} / 1000) % {TEAMS} + 1, CASE WHEN {i} % 20 = 1 THEN NULL ELSE {i} - (({i} - 1) % 20) END, "
                f"CASE WHEN {i} % 7 = 0 THEN NULL ELSE {i} % 5 + 1 END, {json_empty}, "
                f"CASE WHEN {i} % 13 = 0 THEN {_date(d, f'({i} % 120) - 40')} END, "
                f"{_ts(d, f'-({i} % 200) - 30')}, {_ts(d, f'-({i} % 30)')}, "
                f"CASE WHEN {i} % 10 < 5 THEN {_ts(d, f'-({i} % 84)')} END, "
                f"CASE WHEN {i} % 11 = 0 THEN NULL ELSE 1 END, {now} "
                f"FROM ({_series(d, items)}) s"
            )
        )
        timings["work_items_s"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        conn.execute(
            text(
                "INSERT INTO status_change (source_id, external_id, work_item_id, at, from_status, to_status, "
                "from_category, to_category) SELECT source_id, 'sc' || id, id, COALESCE(resolved_at, remote_updated_at), "
                "'x', 'y', 'todo', status_category FROM work_item WHERE status_category <> 'todo'"
            )
        )
        conn.execute(
            text(
                "INSERT INTO link (source_id, external_id, type, origin, from_tracker, from_key, from_item_id, to_tracker, "
                f"to_key, to_item_id, created_at) SELECT 1, 'l' || w.id, 'blocks', 'jira_issuelink', w.tracker, w.key, "
                f"w.id, t.tracker, t.key, t.id, {now} FROM work_item w JOIN work_item t ON t.id = w.id + 7 "
                "WHERE w.id % 3 = 0"
            )
        )
        conn.execute(  # one cycle per 1,000 items: the target of a link blocks its blocker back
            text(
                "INSERT INTO link (source_id, external_id, type, origin, from_tracker, from_key, from_item_id, to_tracker, "
                f"to_key, to_item_id, created_at) SELECT 1, 'c' || w.id, 'blocks', 'jira_issuelink', t.tracker, t.key, "
                f"t.id, w.tracker, w.key, w.id, {now} FROM work_item w JOIN work_item t ON t.id = w.id + 7 "
                "WHERE w.id % 1000 = 501"
            )
        )
        conn.execute(
            text(
                "INSERT INTO program (id, slug, name, target_date, baseline_date, scope_rules, explicit_items, origin, "
                f"created_at, updated_at) VALUES (1, '{SLUG}', 'Bench', {_date(d, '90')}, {_date(d, '-90')}, "
                f"{json_empty_obj}, {json_empty_obj}, 'api', {_ts(d, '-120')}, {now})"
            )
        )
        conn.execute(
            text(
                "INSERT INTO program_item (program_id, work_item_id, reason, added_at) "
                f"SELECT 1, id, 'scope', {_ts(d, '-100')} FROM work_item WHERE id <= {program_items}"
            )
        )
        timings["history_links_program_s"] = round(time.perf_counter() - started, 1)
    with engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()
    return timings


def _member_epics(engine: Engine) -> dict[str, Any]:
    """What membership recompute adds for the views: each member's epic, found and stored.

    Run on every generated or reused database (on a reused one it finds nothing to change: that
    is the cost a recompute pays when no parent changed).
    """
    started, cpu = time.perf_counter(), time.process_time()
    with Session(engine) as session:
        changed = refresh_member_epics(session, [1])
        session.commit()
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    # Fresh statistics after the update, as autovacuum would give a live database.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(
            text("VACUUM ANALYZE program_item" if engine.dialect.name == "postgresql" else "ANALYZE")
        )
    return {
        "member_epics_s": round(seconds, 2),
        "member_epics_cpu_s": round(cpu_seconds, 2),
        "member_epics_changed": changed,
    }


def _measure(fn: Callable[[], Any], runs: int, before: Callable[[], Any] | None = None) -> dict[str, float]:
    """p50/p95 wall-clock of ``fn``, and the median CPU time of this process (the client side:
    SQLAlchemy and Python work; the database server's CPU is not in it). ``before`` runs ahead of
    each sample, untimed (e.g. to drop a cache for cold figures)."""
    if before is not None:
        before()
    fn()  # warm: statement cache, buffers
    samples, cpu = [], []
    for _ in range(runs):
        if before is not None:
            before()
        started, cpu_started = time.perf_counter(), time.process_time()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - cpu_started) * 1000)
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 1),
        "p95_ms": round(samples[max(0, int(0.95 * len(samples)) - 1) if len(samples) >= 20 else -1], 1),
        "cpu_p50_ms": round(statistics.median(cpu), 1),
        "runs": runs,
    }


def _views(engine: Engine, runs: int) -> dict[str, Any]:
    as_of = BASE
    out: dict[str, Any] = {}
    with Session(engine) as session:
        out["progress"] = _measure(lambda: progress(session, SLUG, as_of), runs)
        out["risks"] = _measure(lambda: risks(session, SLUG, as_of), runs)
        # Risks read the forecast through a cache keyed on the program's data: the first risks
        # request after a change pays for a Monte Carlo run (200 trials).
        out["risks_after_a_change"] = _measure(
            lambda: risks(session, SLUG, as_of), max(3, runs // 5), before=clear_forecast_cache
        )
        fc = forecast(session, SLUG, as_of, trials=200)
        out["risks_with_cached_forecast"] = _measure(
            lambda: risks(session, SLUG, as_of, forecast_view=fc), runs
        )
        out["dependencies"] = _measure(lambda: dependency_graph(session, SLUG, as_of=as_of), runs)
        out["dependencies_team_rollup"] = _measure(
            lambda: dependency_graph(session, SLUG, rollup="team", as_of=as_of), runs
        )
        out["forecast_1000_trials"] = _measure(lambda: forecast(session, SLUG, as_of), max(3, runs // 5))
        out["report"] = _measure(
            lambda: generate_report(session, SLUG, as_of=as_of, store=False), max(3, runs // 5)
        )
        graph = dependency_graph(session, SLUG, as_of=as_of)
        out["graph_edges"] = len(graph.edges)
        out["program_items"] = progress(session, SLUG, as_of).program.total
        session.rollback()
    return out


REUSE_ENV = "CROSSTRACK_BENCH_VIEWS_REUSE"


def _reuse() -> bool:
    return os.environ.get(REUSE_ENV, "") not in ("", "0")


def _has_items(url: str, items: int) -> bool:
    """True when the database at ``url`` already holds exactly ``items`` generated work items."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return bool(conn.execute(text("SELECT count(*) FROM work_item")).scalar() == items)
    except Exception:  # no database, no table: generate
        return False
    finally:
        engine.dispose()


def _pg_database_exists(name: str) -> bool:
    admin = make_engine(support.pg_base())
    try:
        with admin.connect() as conn:
            return bool(
                conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar()
            )
    finally:
        admin.dispose()


def _one(
    name: str, url: str, items: int, program_items: int, runs: int, reuse: bool = False
) -> dict[str, Any]:
    upgrade(url)
    engine = make_engine(url)
    try:
        figures: dict[str, Any] = {
            "items": items,
            "program_size": program_items,
            "reused_database": reuse,
            "load_average_before": [round(x, 2) for x in os.getloadavg()],
        }
        if not reuse:
            print(f"  {name}: generating {items:,} items, a {program_items:,}-item program ...", flush=True)
            figures.update(populate(engine, items, program_items))
        else:
            print(f"  {name}: reusing the generated {items:,} items", flush=True)
        figures.update(_member_epics(engine))
        figures.update(_views(engine, runs))
    finally:
        engine.dispose()
    for key, value in figures.items():
        if isinstance(value, dict):
            print(
                f"  {name} {key:28s} p50 {value['p50_ms']:8.1f} ms   p95 {value['p95_ms']:8.1f} ms"
                f"   cpu p50 {value['cpu_p50_ms']:8.1f} ms",
                flush=True,
            )
    return figures


def run(quick: bool = False) -> dict[str, Any]:
    runs = 5 if quick else 10
    results: dict[str, Any] = {}
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / "crosstrack-bench-views"
    workdir.mkdir(parents=True, exist_ok=True)
    pg_items, sqlite_items, program = (100_000, 20_000, 5_000) if quick else (1_000_000, 100_000, 20_000)
    reuse = _reuse()
    pg_name = f"{PG_NAME}_{pg_items}" if reuse else PG_NAME
    pg_url = make_url(support.pg_base()).set(database=pg_name).render_as_string(hide_password=False)
    pg_reused = reuse and _pg_database_exists(pg_name) and _has_items(pg_url, pg_items)
    if not pg_reused:
        pg_url = support.fresh_pg_database(pg_name)
    try:
        results["postgresql"] = _one("postgresql", pg_url, pg_items, program, runs, pg_reused)
    finally:
        if not reuse:
            support.drop_pg_database(pg_name)
    db_file = workdir / (f"views-{sqlite_items}.db" if reuse else "views.db")
    sqlite_reused = reuse and db_file.exists() and _has_items(f"sqlite:///{db_file}", sqlite_items)
    sqlite_url = f"sqlite:///{db_file}" if sqlite_reused else support.sqlite_url(db_file)
    results["sqlite"] = _one("sqlite", sqlite_url, sqlite_items, program, runs, sqlite_reused)
    results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    # Wall-clock figures on a shared machine: the load tells how far they are from a quiet one.
    results["load_average_1_5_15"] = [round(x, 2) for x in os.getloadavg()]
    results["bars"] = {
        backend: {
            "progress_p95_le_50ms": results[backend]["progress"]["p95_ms"] <= 50,
            "risks_p95_le_50ms": results[backend]["risks"]["p95_ms"] <= 50,
            "dependencies_p95_le_150ms": results[backend]["dependencies"]["p95_ms"] <= 150,
        }
        for backend in ("postgresql", "sqlite")
    }
    print(f"  bars: {results['bars']}  peak RSS {results['peak_rss_mb']} MB", flush=True)
    return results
