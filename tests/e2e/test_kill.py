"""A ``crosstrack sync`` process killed with SIGKILL at random instants, then rerun, converges to the
tracker's truth with no duplicates, and a rerun resumes the interrupted scan instead of starting over
(PRODUCT §5.1: "a crash at any instant loses nothing and duplicates nothing; a restart resumes";
§10 faults: "a kill -9 at any point of a sync").

The sync runs as a real ``python -m crosstrack sync`` child process against the sandbox (demo seed,
per-request latency so a run lasts a few seconds, Jira pages of 10 so the Jira scan has ~18 pages and
many mid-scan cursors). Jira is the Data Center flavour: on Cloud the demo's issues with truncated
changelogs wait for one bulk fetch up to 20 pages later and batches carry no cursor meanwhile, so the
demo's whole Jira scan would commit no mid-scan position at all (see ``_DEFER_PAGES`` in
connectors/jira/connector.py). A calibration run measures how long a process takes to start (until
its SyncRun row exists) and to finish; kill instants come from a seeded RNG: two right at process
start, a few during start-up, most spread over the sync itself and a little past its end, until 20
runs were killed (runs that end first are clean runs in between). The tracker is mutated between some
trials; some trials are ``--full``, some ``--reconcile``. Then a full run is killed once its Jira scan
committed a mid-scan cursor, and one clean run must resume there and leave the model equal to the truth.

Cost: about 25 child processes, each paying ~2 s of imports; ~90 s on an idle 2-core machine, several
minutes when the machine is shared.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import orjson
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from connectors.base import Connector
from connectors.records import ChangeBatch
from connectors.registry import build_connector
from sandbox.core import SandboxConfig
from sync.db import make_engine
from sync.engine import SyncEngine
from sync.model import Link, Source, SyncCursor, SyncRun, WorkItem
from tests.e2e.conftest import ENV, EXAMPLE, World
from tests.e2e.truth import differences

ROOT = EXAMPLE.parents[1]
SEED = 20261122
KILLS = 20  # SIGKILLed runs; runs that end before their kill instant come on top
MAX_TRIALS = 80
JIRA_PAGE_SIZE = 10
LATENCY_MS = 15.0
JIRA_SEARCH = "/rest/api/2/search"
JIRA_STATUSES = ("To Do", "In Progress", "Done")


def _write_config(world: World, path: Path) -> Path:
    """The example config, pointed at this sandbox, with small Jira pages (more cursor positions)."""
    text = EXAMPLE.read_text()
    replacements = {
        'base_url = "http://127.0.0.1:8765/jira"': f'base_url = "{world.sb.jira_url}"',
        'base_url = "http://127.0.0.1:8765/github/api/v3"': f'base_url = "{world.sb.github_url}"',
        "# page_size = 100 ": f"page_size = {JIRA_PAGE_SIZE} ",
        'flavour = "cloud" ': 'flavour = "datacenter" ',
    }
    for old, new in replacements.items():
        assert text.count(old) == 1, f"examples/crosstrack.toml changed: {old!r} not found once"
        text = text.replace(old, new)
    path.write_text(text)
    return path


class SyncProcess:
    """``python -m crosstrack sync`` in a child process, with its stderr kept for failure messages."""

    def __init__(self, config: Path, database_url: str, log: Path, *args: str) -> None:
        env = {
            **os.environ,
            **ENV,
            "CROSSTRACK_DATABASE_URL": database_url,
            "CROSSTRACK_LOG_LEVEL": "WARNING",
            # A commit per page (the product writes 1,000 items at a time): on the small demo seed
            # kills then land between committed pages, which is what resuming must survive.
            "CROSSTRACK_SYNC_BATCH_ITEMS": "1",
        }
        self.log = log
        self._err = log.open("wb")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "crosstrack", "sync", "--config", str(config), *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self._err,
        )

    def wait(self, timeout: float | None) -> int | None:
        """The exit code, or None when the process is still running after ``timeout`` seconds."""
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        self._err.close()
        return code

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self._err.close()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def _run_to_end(config: Path, url: str, log: Path, *args: str) -> float:
    sync = SyncProcess(config, url, log, *args)
    code = sync.wait(timeout=180)
    assert code == 0, f"sync {args} exited {code}:\n{sync.stderr()}"
    return sync.elapsed()


def _calibrate(config: Path, tmp_path: Path) -> tuple[float, float]:
    """(seconds until the first SyncRun row exists, seconds until the process ends) of a full run."""
    url = f"sqlite:///{tmp_path / 'calibration.db'}"
    sync = SyncProcess(config, url, tmp_path / "calibration.log", "--full")
    engine = make_engine(url)
    startup: float | None = None
    try:
        while (code := sync.wait(timeout=0.05)) is None:
            if startup is None:
                try:
                    with engine.connect() as conn:
                        if conn.scalar(select(func.count()).select_from(SyncRun)):
                            startup = sync.elapsed()
                except OperationalError:  # not migrated yet
                    pass
    finally:
        engine.dispose()
    assert code == 0, f"calibration run exited {code}:\n{sync.stderr()}"
    total = sync.elapsed()
    return (startup if startup is not None else total / 2), total


def _mutate(world: World, rng: random.Random, trial: int) -> None:
    """A few tracker changes of every kind the listing must pick up (deletions need a reconcile)."""
    sb = world.sb
    items = sb.truth()["items"]
    jira = sorted(t["key"] for t in items if t["tracker"] == "jira")
    github = sorted(t["key"] for t in items if t["tracker"] == "github")
    sb.mutate(
        tracker="jira",
        op="update",
        key=rng.choice(jira),
        fields={"summary": f"Edited between kills {trial}", "status": rng.choice(JIRA_STATUSES)},
    )
    sb.mutate(
        tracker="github",
        op="update",
        key=rng.choice(github),
        fields={"title": f"Edited between kills {trial}", "status": rng.choice(["open", "closed"])},
    )
    sb.mutate(
        tracker="jira", op="create", project=rng.choice(["PAY", "PLAT"]), type="Task", title=f"New {trial}"
    )
    sb.mutate(tracker="github", op="create", repo="acme/web", title=f"New after kill {trial}")
    a, b = rng.sample(github, 2)
    sb.mutate(tracker="github", op="link", **{"from": a, "to": b, "type": "blocks"})
    c, d = rng.sample(jira, 2)
    sb.mutate(tracker="jira", op="link", **{"from": c, "to": d, "type": "blocks"})
    if trial % 2:
        # Far from the demo's linked keys (numbers <= 30 carry the cross-tracker links).
        sb.mutate(tracker="jira", op="delete", key=rng.choice([k for k in jira if int(k.split("-")[1]) > 30]))
        sb.mutate(
            tracker="github", op="delete", key=rng.choice([k for k in github if int(k.split("#")[1]) > 30])
        )


def _jira_cursor(world: World) -> dict[str, Any] | None:
    with world.sessions() as session:
        raw = session.scalar(
            select(SyncCursor.cursor)
            .join(Source, Source.id == SyncCursor.source_id)
            .where(Source.name == "jira")
        )
    return orjson.loads(raw) if raw else None


def _duplicates(world: World) -> list[str]:
    live = WorkItem.deleted_at.is_(None)
    found: list[str] = []
    with world.sessions() as session:
        for columns in ((WorkItem.source_id, WorkItem.external_id), (WorkItem.tracker, WorkItem.key)):
            rows = session.execute(
                select(*columns, func.count()).where(live).group_by(*columns).having(func.count() > 1)
            ).all()
            found += [f"duplicate live item {tuple(row[:-1])} x{row[-1]}" for row in rows]
        link_cols = (Link.from_key, Link.to_key, Link.type, Link.origin)
        link_rows = session.execute(
            select(*link_cols, func.count()).group_by(*link_cols).having(func.count() > 1)
        ).all()
        found += [f"duplicate link {tuple(row[:-1])} x{row[-1]}" for row in link_rows]
    return found


def test_sync_killed_at_random_points_converges_without_duplicates_and_resumes(
    make_world: Callable[..., World], tmp_path: Path
) -> None:
    world = make_world(SandboxConfig(latency_ms=LATENCY_MS, jira_flavour="datacenter"))
    config = _write_config(world, tmp_path / "crosstrack.toml")
    rng = random.Random(SEED)

    # How long start-up and a whole full run take on this machine now (a scratch database).
    startup, horizon = _calibrate(config, tmp_path)

    kills = trial = 0
    while kills < KILLS:
        assert trial < MAX_TRIALS, f"only {kills} of {trial} runs were killed before they ended"
        if trial % 3 == 2:
            _mutate(world, rng, trial)
        # Mostly full runs: an incremental run after a full one has little to read and ends at once,
        # so only a full run has a long window to be killed in (the calibration measured it).
        full = trial % 4 != 3
        args = ["--full"] if full else (["--reconcile"] if trial % 8 == 7 else [])
        if trial in (0, 7):  # right at process start
            delay = rng.uniform(0.0, 0.05)
        elif trial % 6 == 3 or not full:  # during start-up (imports, migrations, catalog)
            delay = rng.uniform(0.0, startup)
        else:  # during the sync, and a little past its end
            delay = rng.uniform(0.8 * startup, 1.1 * horizon)
        sync = SyncProcess(config, world.url, tmp_path / f"trial{trial}.log", *args)
        code = sync.wait(timeout=delay)
        if code is None:
            sync.kill()
            kills += 1
        else:  # it ended first: fine, a clean run between kills
            assert code == 0, f"trial {trial} ({args}) exited {code}:\n{sync.stderr()}"
        trial += 1

    # A full run killed once its Jira scan has committed a mid-scan position ... (its own: a trial
    # killed mid-scan left a cursor like that behind, which must not count).
    _mutate(world, rng, MAX_TRIALS)
    before = _jira_cursor(world)
    sync = SyncProcess(config, world.url, tmp_path / "interrupted.log", "--full")
    position: dict[str, Any] | None = None
    while sync.wait(timeout=0.02) is None:
        cursor = _jira_cursor(world)
        if cursor != before and cursor and cursor.get("scan") and cursor["scan"]["offset"] > 0:
            sync.kill()
            # What it committed last (it may have committed another page since that read).
            position = (_jira_cursor(world) or {}).get("scan")
            break
    assert position is not None, f"the run ended before a mid-scan cursor was seen:\n{sync.stderr()}"

    # ... then one clean run: it must resume that scan, and the model must equal the truth.
    seq = _quiet_ledger(world)
    _run_to_end(config, world.url, tmp_path / "final.log", "--reconcile")
    entries = world.sb.stats(since=seq)["entries"]
    # The listing's searches (the reconcile's id-only search asks for bigger pages); those of the
    # resumed full scan have no lower bound, the catch-up scan after it has ``updated >=``.
    searches = [
        parse_qs(e["query"])
        for e in entries
        if e["route"] == JIRA_SEARCH and parse_qs(e["query"]).get("maxResults") == [str(JIRA_PAGE_SIZE)]
    ]
    resumed = [s for s in searches if "updated >=" not in s["jql"][0]]
    truth = world.sb.truth()
    jira_items = sum(1 for t in truth["items"] if t["tracker"] == "jira")
    full_scan_pages = math.ceil(jira_items / JIRA_PAGE_SIZE)
    assert resumed, f"the final run sent no search of the interrupted scan: {searches}"
    # Data Center: the resumed scan asks from one issue before its offset (to check its position).
    assert resumed[0].get("startAt") == [str(position["offset"] - 1)], (
        f"the final run did not resume at {position}: its first search was {resumed[0]}"
    )
    # ... and reads on from there: the pages after its position, plus at most one for a step back
    # (a kill right after the first page saves less than the step back can cost).
    rest_pages = math.ceil((jira_items - position["offset"] + 1) / JIRA_PAGE_SIZE) + 1
    assert len(resumed) <= min(rest_pages, full_scan_pages), (
        f"the resumed run read {len(resumed)} search pages from offset {position['offset']}; "
        f"the rest of the scan is {rest_pages - 1} (+1), a full scan {full_scan_pages}"
    )

    with world.sessions() as session:
        diffs = differences(session, truth)
    assert diffs == [], "\n".join(diffs)
    assert _duplicates(world) == []


class _CrashAfter:
    """The real connector, but the process "dies" after ``batches`` batches were handed out."""

    def __init__(self, connector: Connector, batches: int) -> None:
        self._connector = connector
        self._left = batches
        self.delivered: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connector, name)

    def list_changed(self, cursor: str | None) -> Iterator[ChangeBatch]:
        for batch in self._connector.list_changed(cursor):
            if self._left == 0:
                raise KeyboardInterrupt  # not caught by the engine: like a kill between two batches
            self._left -= 1
            self.delivered += [item.key for item in batch.items]
            yield batch


def _quiet_ledger(world: World) -> int:
    """The sandbox ledger's length once the killed run's last requests are answered: its connector
    prefetches the next page, and a request in flight at the kill is recorded when it ends."""
    total = world.sb.stats(entries=False)["total"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        time.sleep(0.3)
        now = world.sb.stats(entries=False)["total"]
        if now == total:
            break
        total = now
    return int(total)


def test_resumed_jira_scan_after_deletions_and_edits_is_complete(make_world: Callable[..., World]) -> None:
    """A first full scan interrupted mid-way and resumed by the next process, with issues deleted
    and edited in between; the resuming run alone must leave every Jira issue as the tracker has it.

    Data Center pages by offset (``startAt``) over ``ORDER BY created``: an issue deleted before the
    stored offset moves every unread issue up by one, so resuming at the stored offset would skip
    one, and the final cursor (the scan's start) never reads it again. And an issue the
    interrupted scan had read, edited afterwards, must not wait for yet another run.
    """
    world = make_world(jira_flavour="datacenter")
    settings = world.config.source_settings("jira", ENV)
    settings = dataclasses.replace(
        settings,
        base_url=world.sb.jira_url,
        flavour="datacenter",
        options={**settings.options, "page_size": JIRA_PAGE_SIZE},
    )
    crashing_connector = _CrashAfter(build_connector(settings), 2)
    crashing = SyncEngine(world.sessions, lambda name: crashing_connector, write_batch=1)  # a commit per page
    with contextlib.suppress(KeyboardInterrupt):
        crashing.sync("jira", full=True)
    position = _jira_cursor(world)
    assert position is not None and position["scan"] and position["scan"]["offset"] == 2 * JIRA_PAGE_SIZE
    assert len(crashing_connector.delivered) == 2 * JIRA_PAGE_SIZE
    # Delete an issue the interrupted scan had read (before the stored offset): a leaf, so that
    # no other issue changes with it.
    truth = world.sb.truth()
    parents = {t["parent"] for t in truth["items"]}
    linked = {k for link in truth["links"] for k in (link["from"], link["to"])}
    deleted = next(k for k in crashing_connector.delivered if k not in parents and k not in linked)
    world.sb.mutate(tracker="jira", op="delete", key=deleted)
    edited = crashing_connector.delivered[-1]
    world.sb.mutate(tracker="jira", op="update", key=edited, fields={"summary": "Edited after the crash"})

    engine = SyncEngine(world.sessions, lambda name: build_connector(settings), write_batch=1)
    assert engine.sync("jira").ok  # resumes the scan
    with world.sessions() as session:
        diffs = _jira_differences(differences(session, world.sb.truth()))
    assert diffs == [f"extra item {deleted}"], "\n".join(diffs)  # the reconcile finds deletions
    assert engine.reconcile("jira").ok
    with world.sessions() as session:
        diffs = _jira_differences(differences(session, world.sb.truth()))
    assert diffs == [], "\n".join(diffs)


def _jira_differences(diffs: list[str]) -> list[str]:
    """Only Jira was synced here: its items must equal the truth (links to GitHub cannot resolve)."""
    return [d for d in diffs if re.match(r"(missing item |extra item |duplicate item )?(PAY|PLAT)-\d", d)]
