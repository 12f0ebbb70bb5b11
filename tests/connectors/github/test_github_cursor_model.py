"""The listing/cursor rule against a model of GitHub's issue list, under random changes mid-scan.

The sandbox test proves the rule with the sandbox's own fault; this property test drives the real
connector against an in-memory list that behaves like GitHub's (``since`` is inclusive, page-number
paging over a live sort, a weak ETag over the body, a ``Date`` per answer) while issues are updated,
created, deleted and transferred out between any two requests. Whatever happens, once the tracker
is quiet the items the connector delivered equal the tracker, and a quiet run costs one 304.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.base import SourceSettings
from connectors.github.client import Response
from connectors.github.connector import GitHubConnector
from connectors.records import TrackerKind

BASE = "https://api.example.test"
REPO = "acme/web"
START = datetime(2026, 3, 1, tzinfo=UTC)


def _ts(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeIssueList:
    """GitHub's ``GET /repos/{o}/{r}/issues`` for one repository, with a clock and random churn."""

    def __init__(
        self, issues: int, churn: float, seed: int, per_page: int, *, bursts: bool, deletions: bool
    ) -> None:
        self.rng = random.Random(seed)
        self.now = START
        self.churn = churn
        self.per_page = per_page
        self.deletions = deletions
        self.next_number = 1
        self.issues: dict[int, dict[str, Any]] = {}
        for n in range(issues):
            if bursts:  # many issues share one second, as bulk edits and imports make them
                self._create(
                    START - timedelta(seconds=self.rng.choice([0, 0, 5, 60, 3600]) * self.rng.randint(1, 50))
                )
            else:
                self._create(START - timedelta(seconds=7 * (issues - n)))
        self.requests: list[tuple[str, int]] = []

    def _create(self, when: datetime) -> None:
        number = self.next_number
        self.next_number += 1
        self.issues[number] = {
            "id": 1000 + number,
            "number": number,
            "title": f"issue {number}",
            "state": "open",
            "state_reason": None,
            "labels": [],
            "assignees": [],
            "created_at": _ts(when),
            "updated_at": _ts(when),
            "html_url": f"https://github.com/{REPO}/issues/{number}",
            "repository_url": f"{BASE}/repos/{REPO}",
            "issue_dependencies_summary": {
                "blocked_by": 0,
                "blocking": 0,
                "total_blocked_by": 0,
                "total_blocking": 0,
            },
        }

    def mutate(self) -> None:
        """Between requests: some issues change, appear, or disappear (deleted / transferred out)."""
        if self.rng.random() >= self.churn:
            return
        for _ in range(self.rng.randint(1, 3)):
            roll = self.rng.random()
            if roll < 0.6 and self.issues:
                issue = self.issues[self.rng.choice(list(self.issues))]
                issue["updated_at"] = _ts(self.now)
                issue["title"] += "!"
            elif roll < 0.8 or not self.deletions:
                self._create(self.now)
            elif self.issues:
                del self.issues[self.rng.choice(list(self.issues))]

    def get(self, path: str, params: Mapping[str, Any] | None = None, *, etag: str | None = None) -> Response:
        self.now += timedelta(seconds=1)
        if path.startswith("http"):
            parsed = urlparse(path)
            path = parsed.path
            params = {k: v[0] for k, v in parse_qs(parsed.query).items()}
        assert path == f"/repos/{REPO}/issues", path
        params = dict(params or {})
        since = params.get("since")
        rows = [i for i in self.issues.values() if since is None or i["updated_at"] >= since]
        reverse = params.get("direction", "desc") == "desc"
        rows.sort(key=lambda i: (i["updated_at"], i["id"]), reverse=reverse)
        per_page = min(int(params.get("per_page", 30)), 100)
        page = int(params.get("page", 1))
        chunk = [dict(i) for i in rows[(page - 1) * per_page : page * per_page]]
        body = json.dumps(chunk, sort_keys=True)
        tag = 'W/"' + hashlib.md5((body + json.dumps(params, sort_keys=True)).encode()).hexdigest() + '"'
        next_url = None
        if page * per_page < len(rows):
            next_url = f"{BASE}{path}?{urlencode({**params, 'page': page + 1})}"
        status = 304 if etag == tag else 200
        self.requests.append((params.get("direction", "desc"), status))
        response = Response(status, {}, None if status == 304 else chunk, tag, next_url, self.now)
        self.mutate()
        return response


def connector_for(fake: FakeIssueList) -> GitHubConnector:
    settings = SourceSettings(
        name="model",
        kind=TrackerKind.GITHUB,
        base_url=BASE,
        flavour="com",
        token="t",
        options={"org": "acme", "repos": [REPO], "overlap_seconds": 5, "page_size": fake.per_page},
    )
    connector = GitHubConnector(settings, clock=lambda: fake.now)
    connector._client = fake  # type: ignore[assignment]  # the test double stands in for HTTP
    return connector


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    issues=st.integers(min_value=0, max_value=120),
    churn=st.sampled_from([0.0, 0.3, 0.9]),
    seed=st.integers(min_value=0, max_value=10_000),
    per_page=st.sampled_from([5, 10, 100]),
    stop_after=st.one_of(st.none(), st.integers(min_value=1, max_value=6)),
    shape=st.sampled_from(["bursts", "deletions"]),
)
def test_nothing_is_lost_and_a_quiet_run_is_one_304(
    issues: int, churn: float, seed: int, per_page: int, stop_after: int | None, shape: str
) -> None:
    # Both hazards, but not together: a deletion while the scan pages through a block of more than a
    # page of issues sharing one second can hide an unchanged issue from that scan (connector docs).
    fake = FakeIssueList(
        issues, churn, seed, per_page, bursts=shape == "bursts", deletions=shape == "deletions"
    )
    delivered: dict[str, str] = {}
    cursor: str | None = None
    # A first run that may be cut short (the process dies after committing some batches).
    for n, batch in enumerate(connector_for(fake).list_changed(None)):
        delivered.update((i.key, _ts(i.updated_at)) for i in batch.items)
        cursor = batch.cursor or cursor
        if stop_after is not None and n + 1 >= stop_after:
            break
    # The tracker keeps changing for a few more runs, then goes quiet.
    for run in range(6):
        fake.now += timedelta(minutes=1)  # runs are scheduled minutes apart
        if run == 4:
            fake.churn = 0.0
        for batch in connector_for(fake).list_changed(cursor):
            delivered.update((i.key, _ts(i.updated_at)) for i in batch.items)
            cursor = batch.cursor or cursor
    alive = {f"{REPO}#{n}": i["updated_at"] for n, i in fake.issues.items()}
    # Deleted issues are reconcile's business; every live issue is there, at its latest version.
    assert {k: v for k, v in delivered.items() if k in alive} == alive
    fake.requests.clear()
    fake.now += timedelta(minutes=1)
    assert list(connector_for(fake).list_changed(cursor)) == []
    assert fake.requests == [("asc", 304)]


def test_a_resumed_newest_first_scan_reads_issues_edited_since_it_began() -> None:
    """A block of issues sharing one second is read newest first by page number. A process dies
    before the last page; an issue it had read is edited; the next run reads the one page left,
    and must deliver the edit too (not leave it for yet another run)."""
    fake = FakeIssueList(0, 0.0, 0, 5, bursts=False, deletions=False)
    for _ in range(12):
        fake._create(START - timedelta(hours=1))  # one bulk import: 12 issues, one second
    delivered: dict[str, str] = {}
    cursor: str | None = None
    for batch in connector_for(fake).list_changed(None):
        delivered.update((i.key, _ts(i.updated_at)) for i in batch.items)
        cursor = batch.cursor or cursor
        if len(fake.requests) == 4:  # asc, asc (the block), desc page 1, desc page 2: then it dies
            break
    assert [direction for direction, _ in fake.requests] == ["asc", "asc", "desc", "desc"]
    edited = next(iter(delivered))
    number = int(edited.split("#")[1])
    fake.now += timedelta(minutes=1)
    fake.issues[number]["updated_at"] = _ts(fake.now)
    fake.issues[number]["title"] += " edited"
    fake.now += timedelta(minutes=1)
    for batch in connector_for(fake).list_changed(cursor):
        delivered.update((i.key, _ts(i.updated_at)) for i in batch.items)
        cursor = batch.cursor or cursor
    assert delivered == {f"{REPO}#{n}": i["updated_at"] for n, i in fake.issues.items()}
