"""Burnup: backfill from status history, daily snapshots, the live point; worked by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import func, select

from connectors.records import Resolution, StatusCategory
from sync.model import ProgramSnapshot
from sync.views.burnup import backfill, burnup, take_snapshots
from tests.views.builders import NOW, World

DONE, DOING, TODO = StatusCategory.DONE, StatusCategory.IN_PROGRESS, StatusCategory.TODO


def at(day: int) -> datetime:
    return datetime(2026, 11, day, 15, 0, tzinfo=UTC)


def build(world: World) -> None:
    world.item("PAY-1", status=DONE, estimate=2)
    world.change("PAY-1", at(10), DOING, TODO)
    world.change("PAY-1", at(15), DONE, DOING)
    world.item("PAY-2", estimate=3)
    world.item("PAY-3", status=DONE, estimate=1, created=at(12), resolved=at(16))
    world.item("PAY-4", status=DONE, estimate=5, resolution=Resolution.WONT_DO, resolved=at(14))


def test_backfill_rebuilds_each_day(world: World) -> None:
    build(world)
    view = burnup(world.s, "prog", as_of=NOW)
    days = {
        p.day: (p.scope_count, p.done_count, p.in_progress_count, p.scope_points, p.done_points)
        for p in view.points
    }
    assert view.points[0].day == date(2026, 9, 1) and view.points[-1].day == date(2026, 11, 20)
    assert days[date(2026, 11, 9)] == (3, 0, 0, 10, 0)
    assert days[date(2026, 11, 10)] == (3, 0, 1, 10, 0)
    assert days[date(2026, 11, 12)] == (4, 0, 1, 11, 0)
    assert days[date(2026, 11, 14)] == (3, 0, 1, 6, 0)  # PAY-4 closed as won't do: out of scope
    assert days[date(2026, 11, 15)] == (3, 1, 0, 6, 2)
    assert days[date(2026, 11, 16)] == (3, 2, 0, 6, 3)
    assert days[date(2026, 11, 20)] == (3, 2, 0, 6, 3)
    assert all(p.backfilled for p in view.points[:-1]) and view.points[-1].live
    stored = world.s.scalar(
        select(func.count()).where(
            ProgramSnapshot.program_id == world.program.id, ProgramSnapshot.dimension == "team"
        )
    )
    assert stored == (date(2026, 11, 19) - date(2026, 9, 1)).days + 1
    assert backfill(world.s, world.program, NOW) == 0  # nothing left to fill


def test_take_snapshots_and_dimensions(world: World) -> None:
    build(world)
    assert take_snapshots(world.s, date(2026, 11, 20), [world.program.id]) == 3  # program, team pay, no epic
    rows = world.s.execute(
        select(ProgramSnapshot.dimension, ProgramSnapshot.dimension_key, ProgramSnapshot.done_count).where(
            ProgramSnapshot.program_id == world.program.id
        )
    ).all()
    assert sorted(rows) == [("epic", "", 2), ("program", "", 2), ("team", "pay", 2)]
    assert take_snapshots(world.s, date(2026, 11, 20), [world.program.id]) == 3  # replaces, not duplicates
    team = burnup(world.s, "prog", as_of=datetime(2026, 11, 21, 9, tzinfo=UTC), dimension="team", key="pay")
    assert [(p.day, p.done_count, p.backfilled, p.live) for p in team.points] == [
        (date(2026, 11, 20), 2, False, False),
        (date(2026, 11, 21), 2, False, True),
    ]
