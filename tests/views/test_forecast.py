"""Monte Carlo forecast: constant throughput makes every trial equal, so dates are exact."""

from __future__ import annotations

from datetime import date, timedelta

from connectors.records import ItemKind, StatusCategory
from sync.views.forecast import forecast, weekly_throughput
from tests.views.builders import NOW, World

DONE, DOING, TODO = StatusCategory.DONE, StatusCategory.IN_PROGRESS, StatusCategory.TODO
TODAY = NOW.date()


def history(world: World, team: str, per_week: list[int]) -> None:
    """``per_week[i]`` items of ``team`` done in week i of the 12 weeks before NOW (oldest first)."""
    prefix = "acme/web#" if team == "web" else f"{team.upper()}-"
    for week, count in enumerate(per_week):
        for n in range(count):
            key = f"{prefix}{1000 + week * 10 + n}"
            world.item(key, team=team, status=DONE, member=False)
            world.change(key, NOW - timedelta(days=7 * (12 - week)) + timedelta(days=1), DONE, DOING)


def build(world: World) -> None:
    history(world, "pay", [2] * 12)
    history(world, "web", [1] * 12)
    world.item("PAY-1", kind=ItemKind.EPIC, due=TODAY + timedelta(days=20))
    world.item("PAY-2", kind=ItemKind.EPIC, due=TODAY + timedelta(days=10))
    for key in ("PAY-11", "PAY-12", "PAY-13"):
        world.item(key, parent="PAY-1", estimate=2)
    world.item("PAY-14", parent="PAY-1", status=DONE)
    for key in ("PAY-21", "PAY-22"):
        world.item(key, parent="PAY-2")
    world.item("acme/web#5", team="web", parent="PAY-2", status=DOING)


def test_throughput_per_week(world: World) -> None:
    build(world)
    pay, web = world.teams["pay"].id, world.teams["web"].id
    assert weekly_throughput(world.s, NOW, [pay, web]) == {pay: [2] * 12, web: [1] * 12}


def test_constant_throughput_gives_exact_dates(world: World) -> None:
    build(world)
    view = forecast(world.s, "prog", as_of=NOW, trials=50)
    epics = {e.key: e for e in view.epics}
    # pay works PAY-2 first (due first): its 2 items take 1 week, then PAY-1's 3 items 1.5 weeks
    # more; web's single PAY-2 item takes 1 week.
    assert (epics["PAY-2"].p50, epics["PAY-2"].p95) == (TODAY + timedelta(days=7), TODAY + timedelta(days=7))
    assert epics["PAY-1"].p50 == TODAY + timedelta(days=18)  # 2.5 weeks = 17.5 days, rounded up
    assert epics["PAY-1"].remaining == 3 and epics["PAY-1"].remaining_points == 6
    assert epics["PAY-2"].remaining == 3
    assert epics["PAY-1"].status == "on_track" and epics["PAY-1"].probability_on_time == 1.0
    assert epics["PAY-2"].status == "on_track"
    teams = {t.key: t for t in view.teams}
    assert teams["pay"].p85 == TODAY + timedelta(days=18) and teams["pay"].weekly_throughput == [2] * 12
    assert teams["web"].p50 == TODAY + timedelta(days=7)
    assert view.program.p95 == TODAY + timedelta(days=18)
    assert view.program.due_date == date(2027, 1, 31) and view.program.status == "on_track"


def test_late_epic_is_off_track(world: World) -> None:
    build(world)
    world.items["PAY-1"].due_date = TODAY + timedelta(days=12)
    world.s.flush()
    view = forecast(world.s, "prog", as_of=NOW, trials=50)
    epic = next(e for e in view.epics if e.key == "PAY-1")
    assert (epic.status, epic.probability_on_time) == ("off_track", 0.0)


def test_seeded_and_reproducible(world: World) -> None:
    history(world, "pay", [0, 4, 1, 3, 0, 2, 5, 0, 1, 2, 3, 1])
    for n in range(20):
        world.item(f"PAY-{n + 1}")
    one = forecast(world.s, "prog", as_of=NOW, trials=300)
    two = forecast(world.s, "prog", as_of=NOW + timedelta(hours=3), trials=300)
    assert one.seed == two.seed
    assert one.program.model_dump(exclude={"note"}) == two.program.model_dump(exclude={"note"})
    p = one.program
    assert p.p50 is not None and p.p85 is not None and p.p95 is not None
    assert p.p50 <= p.p85 <= p.p95


def test_team_without_history_cannot_be_forecast(world: World) -> None:
    history(world, "pay", [1] * 12)
    world.item("PAY-1")
    world.item("acme/web#1", team="web")
    view = forecast(world.s, "prog", as_of=NOW, trials=20)
    teams = {t.key: t for t in view.teams}
    assert teams["web"].status == "no_history" and teams["web"].p50 is None
    assert teams["pay"].status == "no_due_date" and teams["pay"].p50 == TODAY + timedelta(days=7)
    assert view.program.status == "no_history" and view.program.note == "no throughput history for web"


def test_all_done(world: World) -> None:
    world.item("PAY-1", status=DONE)
    view = forecast(world.s, "prog", as_of=NOW, trials=20)
    assert view.program.status == "done" and view.program.p50 == TODAY and view.teams == []


def test_cached_forecast_reuses_until_the_data_changes(world: World, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from sync.views import forecast as module

    build(world)
    calls = []
    real = module.forecast
    monkeypatch.setattr(module, "forecast", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = module.cached_forecast(world.s, "prog", as_of=NOW, trials=50)
    again = module.cached_forecast(world.s, "prog", as_of=NOW + timedelta(minutes=5), trials=50)
    assert (
        len(calls) == 1 and again.program == first.program and again.meta.as_of == NOW + timedelta(minutes=5)
    )
    world.item("PAY-40", parent="PAY-1")  # a new item: the fingerprint changes
    third = module.cached_forecast(world.s, "prog", as_of=NOW, trials=50)
    assert len(calls) == 2 and third.program.remaining == first.program.remaining + 1
