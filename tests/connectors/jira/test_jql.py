"""JQL building and the time-zone-correct ``updated >=`` bound (property tests)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.jira.jql import (
    JQL_DATE_FORMAT,
    changed_since_jql,
    format_jql_instant,
    ids_jql,
    quote,
    wall_time_instants,
)

# Behind UTC, ahead of UTC, half-hour and 45-minute offsets, 30-minute DST (Lord Howe), no DST.
ZONES = [
    "America/New_York",
    "America/Los_Angeles",
    "Pacific/Honolulu",
    "Europe/London",
    "Europe/Berlin",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Pacific/Kiritimati",
    "UTC",
]

instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
)


@settings(max_examples=250, deadline=None)
@given(instants, st.sampled_from(ZONES), st.integers(min_value=0, max_value=180))
def test_the_bound_never_skips_a_change(instant: datetime, zone_name: str, overlap_min: int) -> None:
    """Read back in the account's zone, whichever way Jira resolves an ambiguous wall time, the bound
    is at or before ``instant - overlap`` and at most a DST hour (plus the minute floor) earlier."""
    zone = ZoneInfo(zone_name)
    overlap = timedelta(minutes=overlap_min)
    text = format_jql_instant(instant, zone, overlap)
    wall = datetime.strptime(text, JQL_DATE_FORMAT)
    earliest, latest = wall_time_instants(wall, zone)
    target = instant - overlap
    assert latest <= target
    assert earliest > target - timedelta(hours=2, minutes=1)


@pytest.mark.parametrize(
    ("zone", "instant", "expected"),
    [
        # 23:59:30 local in New York is 04:59:30 UTC the next day: the date must be the local one.
        ("America/New_York", datetime(2026, 11, 21, 4, 59, 30, tzinfo=UTC), "2026/11/20 23:57"),
        # Ahead of UTC: 23:59 in Sydney is 12:59 UTC the same day.
        ("Australia/Sydney", datetime(2026, 11, 20, 12, 59, 30, tzinfo=UTC), "2026/11/20 23:57"),
        ("Asia/Kolkata", datetime(2026, 11, 20, 18, 29, 59, tzinfo=UTC), "2026/11/20 23:57"),
        # DST ends in New York on 2026-11-01 at 02:00 EDT: 01:00-01:59 happen twice.
        # 05:30 UTC is the first 01:30 (EDT); "01:28" could be read as the second one (06:28 UTC),
        # later than the change, so the bound steps back before the repeated hour.
        ("America/New_York", datetime(2026, 11, 1, 5, 30, tzinfo=UTC), "2026/11/01 00:58"),
        # 06:30 UTC is the second 01:30 (EST): either reading of 01:28 is early enough.
        ("America/New_York", datetime(2026, 11, 1, 6, 30, tzinfo=UTC), "2026/11/01 01:28"),
        # Spring forward (2026-03-08 02:00 EST -> 03:00 EDT): no wall time in the gap is produced.
        ("America/New_York", datetime(2026, 3, 8, 7, 1, tzinfo=UTC), "2026/03/08 01:59"),
    ],
)
def test_examples(zone: str, instant: datetime, expected: str) -> None:
    assert format_jql_instant(instant, ZoneInfo(zone), timedelta(minutes=2)) == expected


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        format_jql_instant(datetime(2026, 1, 1), ZoneInfo("UTC"))


@pytest.mark.parametrize(
    ("value", "quoted"),
    [("PAY", "PAY"), ("PLAT_2", "PLAT_2"), ("in", '"in"'), ("A B", '"A B"'), ('say "hi"', '"say \\"hi\\""')],
)
def test_quote(value: str, quoted: str) -> None:
    assert quote(value) == quoted


def test_changed_since_jql() -> None:
    assert (
        changed_since_jql(["PAY", "PLAT"], "labels = checkout-v2", "2026/11/20 23:57")
        == 'project in (PAY, PLAT) AND (labels = checkout-v2) AND updated >= "2026/11/20 23:57" '
        "ORDER BY created ASC, id ASC"
    )
    assert changed_since_jql([], None, None) == 'created >= "1970/01/01 00:00" ORDER BY created ASC, id ASC'
    assert (
        changed_since_jql(["PAY"], "labels = x order by rank", None)
        == "project in (PAY) AND (labels = x) ORDER BY created ASC, id ASC"
    )
    assert ids_jql(["10001", "10002"]) == "id in (10001, 10002) ORDER BY id ASC"
