"""OpenAPI examples of the view answers (issue 7: "OpenAPI complete with examples").

Plain data, one per top-level view model, attached with ``json_schema_extra``; the test
tests/views/test_examples.py validates every one against its model so they cannot drift.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BURNUP",
    "CRITICAL_PATH",
    "DEPENDENCIES",
    "FORECAST",
    "PROGRESS",
    "REPORT",
    "REPORT_SUMMARY",
    "RISKS",
    "TEAM_MATRIX",
]

META: dict[str, Any] = {
    "program": "checkout-v2",
    "as_of": "2026-11-22T09:00:00Z",
    "sources": [
        {
            "name": "github",
            "kind": "github",
            "last_synced_at": "2026-11-22T08:55:00Z",
            "last_webhook_at": "2026-11-22T08:59:41Z",
            "stale": False,
        },
        {
            "name": "jira",
            "kind": "jira",
            "last_synced_at": "2026-11-22T08:56:10Z",
            "last_webhook_at": "2026-11-22T08:58:02Z",
            "stale": False,
        },
    ],
}

_COUNTS: dict[str, Any] = {
    "total": 42,
    "todo": 12,
    "in_progress": 9,
    "done": 21,
    "points_total": 120.0,
    "points_todo": 35.0,
    "points_in_progress": 25.0,
    "points_done": 60.0,
    "percent_done": 50.0,
    "percent_done_points": 50.0,
    "unestimated": 3,
    "wont_do": 1,
    "scope_added": 4,
    "scope_added_points": 9.0,
    "scope_removed": 2,
    "scope_removed_points": 5.0,
}

PROGRESS: dict[str, Any] = {
    "meta": META,
    "baseline_date": "2026-10-01",
    "target_date": "2027-01-31",
    "program": _COUNTS,
    "epics": [
        {
            **_COUNTS,
            "id": 1201,
            "key": "PAY-1",
            "title": "One-click checkout",
            "url": "https://acme.atlassian.net/browse/PAY-1",
            "status_category": "in_progress",
            "due_date": "2026-12-15",
            "team": "payments",
        }
    ],
    "teams": [{**_COUNTS, "team": "payments", "name": "Payments"}],
}

DEPENDENCIES: dict[str, Any] = {
    "meta": META,
    "rollup": "item",
    "nodes": [
        {
            "id": "PAY-3",
            "label": "PAY-3",
            "key": "PAY-3",
            "item_id": 1203,
            "title": "Tokenize cards",
            "url": "https://acme.atlassian.net/browse/PAY-3",
            "tracker": "jira",
            "kind": "story",
            "status_category": "todo",
            "team": "payments",
            "epic": "PAY-1",
            "due_date": "2026-12-20",
            "in_program": True,
            "external": False,
            "items": 1,
        },
        {
            "id": "acme/web#34",
            "label": "acme/web#34",
            "key": "acme/web#34",
            "item_id": 3034,
            "title": "Checkout button",
            "url": "https://github.com/acme/web/issues/34",
            "tracker": "github",
            "kind": "issue",
            "status_category": "in_progress",
            "team": "web",
            "epic": None,
            "due_date": "2026-12-10",
            "in_program": True,
            "external": False,
            "items": 1,
        },
    ],
    "edges": [
        {
            "source": "PAY-3",
            "target": "acme/web#34",
            "state": "off_track",
            "reason": "PAY-3 is due 2026-12-20, after acme/web#34 is due (2026-12-10)",
            "cross_team": True,
            "cross_tracker": True,
            "links": 1,
            "states": {"off_track": 1},
            "link_ids": [88],
            "since": "2026-11-02T10:00:00Z",
        }
    ],
    "counts": {"satisfied": 0, "cycle": 0, "off_track": 1, "open": 0},
}

TEAM_MATRIX: dict[str, Any] = {
    "meta": META,
    "teams": ["payments", "web"],
    "matrix": [[0, 1], [0, 0]],
    "cells": [{"blocker_team": "payments", "blocked_team": "web", "open": 1, "off_track": 1, "cycle": 0}],
}

CRITICAL_PATH: dict[str, Any] = {
    "meta": META,
    "target_date": "2027-01-31",
    "steps": [
        {
            "key": "PAY-3",
            "title": "Tokenize cards",
            "team": "payments",
            "status_category": "todo",
            "days": 6.0,
            "finish": "2026-11-28",
        },
        {
            "key": "acme/web#34",
            "title": "Checkout button",
            "team": "web",
            "status_category": "in_progress",
            "days": 2.5,
            "finish": "2026-12-01",
        },
    ],
    "remaining_days": 8.5,
    "finish_date": "2026-12-01",
    "slack_days": 61,
    "method": "longest chain of unfinished blocking links; each item takes its team's median cycle time "
    "over 90 days (half if in progress, 5 days without history)",
}

_RISK: dict[str, Any] = {
    "id": "blocked_cross_team:4be1d0c2a9f3",
    "code": "blocked_cross_team",
    "severity": "high",
    "explanation": "acme/web#34 (web) is blocked by open PAY-3 of payments",
    "items": ["PAY-3", "acme/web#34"],
    "item_count": 2,
    "team": "web",
    "since": "2026-11-02T10:00:00Z",
}

RISKS: dict[str, Any] = {"meta": META, "risks": [_RISK], "counts": {"high": 1, "medium": 0, "low": 0}}

FORECAST: dict[str, Any] = {
    "meta": META,
    "trials": 1000,
    "seed": 1234567890123,
    "history_weeks": 12,
    "target_date": "2027-01-31",
    "program": {
        "key": None,
        "name": "Checkout v2",
        "remaining": 21,
        "remaining_points": 60.0,
        "p50": "2027-01-04",
        "p85": "2027-01-18",
        "p95": "2027-01-25",
        "due_date": "2027-01-31",
        "probability_on_time": 0.97,
        "status": "on_track",
        "weekly_throughput": None,
        "note": None,
    },
    "teams": [
        {
            "key": "payments",
            "name": "Payments",
            "remaining": 13,
            "remaining_points": 38.0,
            "p50": "2026-12-28",
            "p85": "2027-01-11",
            "p95": "2027-01-18",
            "due_date": None,
            "probability_on_time": None,
            "status": "no_due_date",
            "weekly_throughput": [3, 2, 4, 1, 3, 3, 2, 5, 2, 3, 4, 2],
            "note": None,
        }
    ],
    "epics": [
        {
            "key": "PAY-1",
            "name": "One-click checkout",
            "remaining": 8,
            "remaining_points": 22.0,
            "p50": "2026-12-14",
            "p85": "2026-12-21",
            "p95": "2026-12-28",
            "due_date": "2026-12-15",
            "probability_on_time": 0.55,
            "status": "at_risk",
            "weekly_throughput": None,
            "note": None,
        }
    ],
}

BURNUP: dict[str, Any] = {
    "meta": META,
    "dimension": "program",
    "key": "",
    "target_date": "2027-01-31",
    "baseline_date": "2026-10-01",
    "points": [
        {
            "day": "2026-11-21",
            "scope_count": 41,
            "done_count": 20,
            "in_progress_count": 9,
            "scope_points": 117.0,
            "done_points": 57.0,
            "backfilled": False,
            "live": False,
        },
        {
            "day": "2026-11-22",
            "scope_count": 42,
            "done_count": 21,
            "in_progress_count": 9,
            "scope_points": 120.0,
            "done_points": 60.0,
            "backfilled": False,
            "live": True,
        },
    ],
}

REPORT_SUMMARY: dict[str, Any] = {
    "id": 7,
    "created_at": "2026-11-22T09:00:00Z",
    "period_start": "2026-11-15",
    "period_end": "2026-11-22",
    "rag": "amber",
    "headline": "Checkout v2 is AMBER: 50% done (21/42 items), forecast P85 2027-01-18 for target "
    "2027-01-31; 1 high-severity risk",
}

REPORT: dict[str, Any] = {
    "id": 7,
    "program": "checkout-v2",
    "name": "Checkout v2",
    "as_of": "2026-11-22T09:00:00Z",
    "period_start": "2026-11-15",
    "period_end": "2026-11-22",
    "since": "2026-11-15T09:00:00Z",
    "previous_report_id": 6,
    "rag": "amber",
    "reasons": ["1 high-severity risk"],
    "headline": REPORT_SUMMARY["headline"],
    "numbers": {"items": 42, "done": 21, "percent_done": 50.0, "blocked": 1, "forecast_p85": "2027-01-18"},
    "epics": [
        {
            "key": "PAY-1",
            "title": "One-click checkout",
            "url": "https://acme.atlassian.net/browse/PAY-1",
            "done": 10,
            "total": 18,
            "percent_done": 55.6,
            "p50": "2026-12-14",
            "p85": "2026-12-21",
            "due_date": "2026-12-15",
            "forecast_status": "at_risk",
            "rag": "amber",
        }
    ],
    "done_since": [{"key": "PAY-2", "title": "Card form", "team": "payments", "at": "2026-11-20T15:12:00Z"}],
    "newly_blocked": [
        {
            "key": "acme/web#34",
            "title": "Checkout button",
            "team": "web",
            "blockers": ["PAY-3"],
            "since": "2026-11-18T10:00:00Z",
        }
    ],
    "new_risks": [_RISK],
    "resolved_risks": [
        {
            "id": "stale_item:9c1e77f0aa12",
            "code": "stale_item",
            "explanation": "1 item of web in progress ...",
        }
    ],
    "open_risks": [_RISK],
    "upcoming_releases": [
        {"name": "web 2.4", "due_date": "2026-12-01", "released": False, "items": 6, "done": 4}
    ],
    "hot_spots": [
        {"key": "PAY-3", "title": "Tokenize cards", "team": "payments", "blocks": 1, "state": "off_track"}
    ],
    "team_hot_spots": [{"blocker_team": "payments", "blocked_team": "web", "open": 1}],
    "sources": META["sources"],
    "blocked_keys": ["acme/web#34"],
}
