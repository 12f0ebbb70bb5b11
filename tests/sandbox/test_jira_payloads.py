"""Jira payload pieces: the timestamp format, ADF, and the `fields` parameter."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.jira.payloads import ALL_FIELD_IDS, adf, adf_to_text, iso_utc, jira_time, parse_field_selection

ZONES = [
    "America/New_York",
    "UTC",
    "Asia/Kolkata",
    "Europe/Berlin",
    "Australia/Lord_Howe",
    "America/St_Johns",
]


def reference(ms: int, zone: str) -> str:
    moment = datetime.fromtimestamp(ms / 1000, ZoneInfo(zone))
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}" + moment.strftime("%z")


@given(st.integers(min_value=946_684_800_000, max_value=2_524_608_000_000), st.sampled_from(ZONES))
@settings(max_examples=400, deadline=None)
def test_jira_time_matches_strftime_in_every_zone(ms: int, zone: str) -> None:
    assert jira_time(ms, zone) == reference(ms, zone)


def test_jira_time_around_a_half_hour_dst_change() -> None:
    # Lord Howe moves its clocks by 30 minutes at 02:00 local (15:30 UTC).
    change = int(datetime(2026, 10, 3, 15, 30, tzinfo=ZoneInfo("UTC")).timestamp() * 1000)
    for ms in (change - 1, change, change + 1):
        assert jira_time(ms, "Australia/Lord_Howe") == reference(ms, "Australia/Lord_Howe")
    assert jira_time(None, "UTC") is None


@given(st.integers(min_value=0, max_value=4_102_444_800_000))
@settings(max_examples=200, deadline=None)
def test_iso_utc_round_trips(ms: int) -> None:
    text = iso_utc(ms)
    assert text is not None
    assert round(datetime.fromisoformat(text).timestamp() * 1000) == ms


@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="\n"), min_size=1), max_size=4))
def test_adf_keeps_paragraph_text(paragraphs: list[str]) -> None:
    text = "\n\n".join(paragraphs)
    assert adf_to_text(adf(text)) == text


@pytest.mark.parametrize(
    ("values", "default", "expected_ids", "id_only"),
    [
        ([], "id", (), True),
        (["key"], "id", (), True),
        (["issuekey"], "id", (), True),
        (["summary", "status,labels"], "id", ("summary", "status", "labels"), False),
        (["*all", "-comment"], "id", tuple(f for f in ALL_FIELD_IDS if f != "comment"), False),
        (["*navigable"], "id", tuple(f for f in ALL_FIELD_IDS if f != "comment"), False),
        ([], "*all", ALL_FIELD_IDS, False),
        (
            ["-description"],
            "id",
            tuple(f for f in ALL_FIELD_IDS if f not in ("comment", "description")),
            False,
        ),
    ],
)
def test_field_selection(
    values: list[str], default: str, expected_ids: tuple[str, ...], id_only: bool
) -> None:
    selection = parse_field_selection(values, default)
    assert (selection.ids, selection.id_only) == (expected_ids, id_only)
