"""Every risk reason of PRODUCT §6.2 on one hand-built program."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from connectors.records import ItemKind, StatusCategory
from sync.views.risks import risks
from tests.views.builders import NOW, World
from tests.views.test_forecast import history

DONE, DOING, TODO = StatusCategory.DONE, StatusCategory.IN_PROGRESS, StatusCategory.TODO
TODAY = NOW.date()
RECENT = NOW - timedelta(days=1)


def build(world: World) -> None:
    world.github.last_synced_at = NOW - timedelta(hours=2)
    world.set(target_date=date(2026, 12, 20))
    history(world, "pay", [1] * 12)
    history(world, "web", [1] * 12)
    world.item("PAY-1", kind=ItemKind.EPIC, status=DOING, due=TODAY - timedelta(days=1), updated=RECENT)
    world.item("PAY-2", parent="PAY-1", status=DOING, updated=RECENT)
    world.item("acme/web#1", team="web", status=TODO)
    world.blocks("acme/web#1", "PAY-2", created=datetime(2026, 11, 10, tzinfo=UTC))
    world.item("PAY-5")
    world.item("PAY-6")
    world.blocks("PAY-5", "PAY-6")
    world.blocks("PAY-6", "PAY-5")
    world.item("PAY-7", due=TODAY - timedelta(days=3))
    world.item("PAY-8", status=DOING, updated=NOW - timedelta(days=20))
    world.item("PAY-9", status=DOING, updated=RECENT, assigned=False)
    world.item("PAY-10", estimate=None)
    for n in (2, 3):
        world.item(f"acme/web#{n}", team="web", created=datetime(2026, 11, 1, tzinfo=UTC))


def test_every_reason(world: World) -> None:
    build(world)
    view = risks(world.s, "prog", as_of=NOW, stale_after_minutes=30)
    found = {(r.code.value, r.severity, tuple(r.items)) for r in view.risks}
    assert found == {
        ("blocked_cross_team", "high", ("PAY-2", "acme/web#1")),
        ("off_track_dependency", "high", ("PAY-2", "acme/web#1")),
        ("dependency_cycle", "high", ("PAY-5", "PAY-6")),
        ("past_due", "high", ("PAY-1",)),
        ("past_due", "medium", ("PAY-7",)),
        ("stale_item", "medium", ("PAY-8",)),
        ("unassigned_in_progress", "medium", ("PAY-9",)),
        ("unestimated", "low", ("PAY-10",)),
        ("scope_creep", "medium", ()),
        ("forecast_misses_target", "high", ()),
        ("forecast_misses_due", "high", ("PAY-1",)),
        ("stale_data", "high", ()),
    }
    by_code = {r.code.value: r for r in view.risks}
    assert by_code["blocked_cross_team"].explanation == "PAY-2 (pay) is blocked by open acme/web#1 of web"
    assert by_code["blocked_cross_team"].since == datetime(2026, 11, 10, tzinfo=UTC)
    assert by_code["scope_creep"].explanation == (
        "scope grew by 2 items (25%) since the baseline 2026-10-01 (0 removed)"
    )
    assert by_code["stale_data"].explanation.startswith("source github has not synced successfully since ")
    assert by_code["stale_item"].since == NOW - timedelta(days=20)
    assert by_code["unestimated"].explanation == (
        "1 unfinished item of pay without an estimate (14% of its remaining work)"
    )
    assert view.counts == {"high": 7, "medium": 4, "low": 1}
    assert [r.severity for r in view.risks] == sorted(
        (r.severity for r in view.risks), key=lambda s: "hml".index(s[0])
    )


def test_ids_are_stable(world: World) -> None:
    build(world)
    first = {r.id for r in risks(world.s, "prog", as_of=NOW).risks}
    again = {r.id for r in risks(world.s, "prog", as_of=NOW + timedelta(minutes=1)).risks}
    assert first == again


def test_healthy_program_has_none(world: World) -> None:
    history(world, "pay", [3] * 12)
    world.item("PAY-1", status=DOING, updated=RECENT)
    world.item("PAY-2", status=DONE)
    assert risks(world.s, "prog", as_of=NOW).risks == []
