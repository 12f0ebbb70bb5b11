"""Scaled out: three `crosstrack worker` processes on PostgreSQL share twenty sources. No source is
ever synced by two workers at once, nothing is missed, and a worker killed mid-job has its work
finished by another (PRODUCT §2, §5)."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from sandbox.testing import running_sandbox
from sync.catalog import apply_config
from sync.config import load_config
from sync.db import make_engine, make_sessionmaker, session_scope, upgrade
from sync.model import Source, SyncRun, WorkItem
from sync.tasks import apply_job_schema, build_app, defer_sync
from tests.conftest import PG_ENV, drop_database, fresh_database_url

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(
    not os.environ.get(PG_ENV),
    reason="scaled-out workers run on PostgreSQL: this runs in the PostgreSQL pass",
)


def _config(path: Path, sandbox_url: str) -> Path:
    blocks = []
    for i in range(1, 21):
        if i % 2:
            project = "PAY" if i % 4 == 1 else "PLAT"
            blocks.append(
                f'[[sources]]\nname = "jira-{i:02d}"\nkind = "jira"\nbase_url = "{sandbox_url}/jira"\n'
                f'user = "tpm@example.com"\ntoken_env = "CROSSTRACK_JIRA_TOKEN"\n'
                f'[sources.options]\nprojects = ["{project}"]\n'
            )
        else:
            repo = ["web", "mobile", "api-gateway"][i % 3]
            blocks.append(
                f'[[sources]]\nname = "github-{i:02d}"\nkind = "github"\nbase_url = "{sandbox_url}/github/api/v3"\n'
                f'token_env = "CROSSTRACK_GITHUB_TOKEN"\n[sources.options]\norg = "acme"\nrepos = ["{repo}"]\n'
            )
    path.write_text("\n".join(blocks))
    return path


def test_three_workers_twenty_sources_one_killed(tmp_path: Path) -> None:
    base = os.environ[PG_ENV]
    name = f"crosstrack_workers_{os.getpid()}"
    url = fresh_database_url(base, name)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        with running_sandbox(latency_ms=15) as sb:
            config_path = _config(tmp_path / "many.toml", sb.url)
            upgrade(url)
            apply_job_schema(url)
            engine = make_engine(url)
            sessions = make_sessionmaker(engine)
            with session_scope(sessions) as session:
                apply_config(session, load_config(config_path))
            env = {
                **os.environ,
                "CROSSTRACK_DATABASE_URL": url,
                "CROSSTRACK_CONFIG_FILE": str(config_path),
                "CROSSTRACK_JIRA_TOKEN": "sandbox-token",
                "CROSSTRACK_GITHUB_TOKEN": "sandbox-token",
                "CROSSTRACK_RUN_MODE": "scaled",
            }
            names = [f"jira-{i:02d}" if i % 2 else f"github-{i:02d}" for i in range(1, 21)]
            jobs = build_app(url)
            with jobs.open():
                for n in names:
                    assert defer_sync(jobs, n, full=True) is not None
                    assert defer_sync(jobs, n, full=True) is None  # the queueing lock: one pending per source

            def start_worker() -> subprocess.Popen[bytes]:
                cmd = [
                    sys.executable,
                    "-m",
                    "crosstrack",
                    "worker",
                    "--concurrency",
                    "3",
                    "--stalled-after",
                    "3",
                ]
                proc = subprocess.Popen(
                    cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
                workers.append(proc)
                return proc

            # The first worker starts alone so that the one we kill is sure to hold jobs; the other
            # two join while it works, then it is killed mid-job.
            victim = start_worker()
            deadline = time.monotonic() + 90
            running = 0
            while time.monotonic() < deadline and not running:
                with sessions() as session:
                    running = (
                        session.scalar(
                            select(func.count()).select_from(SyncRun).where(SyncRun.status == "running")
                        )
                        or 0
                    )
                time.sleep(0.1)
            assert running, "the first worker never started a sync"
            start_worker()
            start_worker()
            time.sleep(0.5)
            victim.send_signal(signal.SIGKILL)
            victim.wait(10)
            killed_at: datetime | None = datetime.now().astimezone()
            assert killed_at is not None, "no sync ever started"

            deadline = time.monotonic() + 150
            done: set[str] = set()
            while time.monotonic() < deadline and len(done) < len(names):
                with sessions() as session:
                    done = set(
                        session.scalars(
                            select(Source.name)
                            .join(SyncRun, SyncRun.source_id == Source.id)
                            .where(SyncRun.status == "succeeded", SyncRun.kind != "reconcile")
                        )
                    )
                time.sleep(0.5)
            assert done == set(names), f"never synced: {sorted(set(names) - done)}"

            with sessions() as session:
                runs = session.execute(
                    select(Source.name, SyncRun.started_at, SyncRun.finished_at, SyncRun.status)
                    .join(Source, Source.id == SyncRun.source_id)
                    .order_by(Source.name, SyncRun.started_at)
                ).all()
                items = dict(
                    session.execute(
                        select(Source.name, func.count(WorkItem.id))
                        .join(WorkItem, WorkItem.source_id == Source.id)
                        .group_by(Source.name)
                    ).all()
                )
            engine.dispose()
        by_source: dict[str, list[tuple[datetime, datetime | None, str]]] = {}
        for n, started, finished, status in runs:
            by_source.setdefault(n, []).append((started, finished, status))
        abandoned = 0
        for n, rows in by_source.items():
            for (s1, f1, st1), (s2, _f2, _st2) in itertools.pairwise(rows):
                if f1 is None:  # the run of the killed worker: its retry started after the kill
                    abandoned += 1
                    assert st1 == "running"
                    assert killed_at is not None and s2 >= killed_at, f"{n}: retried before the kill"
                else:
                    assert s2 >= f1, f"{n}: two runs overlapped ({s1}..{f1} and {s2}..)"
        assert abandoned >= 1, "the killed worker held no sync"
        assert [n for n in names if not items.get(n)] == [], items
    finally:
        for w in workers:
            if w.poll() is None:
                w.send_signal(signal.SIGTERM)
        for w in workers:
            try:
                w.wait(15)
            except subprocess.TimeoutExpired:
                w.kill()
        drop_database(base, name)
