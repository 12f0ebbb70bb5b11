"""Progress by program, epic and team on a hand-built program whose answers are worked out here."""

from __future__ import annotations

from datetime import UTC, date, datetime

from connectors.records import ItemKind, Resolution, StatusCategory
from sync.model import ProgramItemRemoval
from sync.views.progress import progress
from tests.views.builders import NOW, World

DONE, DOING, TODO = StatusCategory.DONE, StatusCategory.IN_PROGRESS, StatusCategory.TODO


def build(world: World) -> None:
    world.item("PAY-1", kind=ItemKind.EPIC, status=DOING, estimate=None, due=date(2026, 12, 15))
    world.item("PAY-2", parent="PAY-1", status=DONE, estimate=3)
    world.item("PAY-3", parent="PAY-1", status=DOING, estimate=5)
    world.item("PAY-4", parent="PAY-1", status=TODO, estimate=None)
    world.item(
        "PAY-5",
        parent="PAY-1",
        status=DONE,
        estimate=2,
        resolution=Resolution.WONT_DO,
        resolved=datetime(2026, 10, 20, tzinfo=UTC),
    )
    world.item("PAY-6", parent="PAY-3", kind=ItemKind.SUBTASK, status=TODO, estimate=1)
    world.item("acme/web#1", team="web", status=DONE, estimate=2)
    world.item("acme/web#2", team="web", status=TODO, estimate=1, created=datetime(2026, 10, 15, tzinfo=UTC))
    world.item("PAY-7", status=TODO, estimate=1, added_at=datetime(2026, 11, 1, tzinfo=UTC))
    world.item("PAY-99", status=DONE, estimate=8, member=False)
    world.s.add(
        ProgramItemRemoval(
            program_id=world.program.id,
            key="PAY-50",
            estimate=4,
            removed_at=datetime(2026, 11, 2, tzinfo=UTC),
        )
    )
    world.s.flush()


def test_program_totals(world: World) -> None:
    build(world)
    view = progress(world.s, "prog", as_of=NOW)
    p = view.program
    assert (p.total, p.todo, p.in_progress, p.done) == (7, 4, 1, 2)
    assert (p.points_total, p.points_todo, p.points_in_progress, p.points_done) == (13, 3, 5, 5)
    assert p.percent_done == 28.6 and p.percent_done_points == 38.5
    assert p.unestimated == 1 and p.wont_do == 1
    # added: acme/web#2 (created after the baseline) and PAY-7 (joined the scope on Nov 1)
    assert (p.scope_added, p.scope_added_points) == (2, 2)
    # removed: PAY-5 won't do (resolved Oct 20) + PAY-50 left the scope on Nov 2
    assert (p.scope_removed, p.scope_removed_points) == (2, 6)
    assert view.meta.as_of == NOW and [s.name for s in view.meta.sources] == ["github", "jira"]


def test_by_epic_and_team(world: World) -> None:
    build(world)
    view = progress(world.s, "prog", as_of=NOW)
    epics = {e.key: (e.total, e.todo, e.in_progress, e.done, e.points_total, e.wont_do) for e in view.epics}
    assert epics == {"PAY-1": (4, 2, 1, 1, 9, 1), None: (3, 2, 0, 1, 4, 0)}
    epic = view.epics[0]
    assert (epic.due_date, epic.team, epic.status_category) == (date(2026, 12, 15), "pay", DOING)
    teams = {t.team: (t.total, t.done, t.points_done, t.unestimated) for t in view.teams}
    assert teams == {"pay": (5, 1, 3, 1), "web": (2, 1, 2, 0)}


def test_without_baseline_nothing_is_added_or_removed(world: World) -> None:
    build(world)
    world.set(baseline_date=None)
    p = progress(world.s, "prog", as_of=NOW).program
    assert (p.scope_added, p.scope_removed, p.wont_do, p.total) == (0, 0, 1, 7)


def test_empty_program_and_epic_without_children(world: World) -> None:
    world.item("PAY-1", kind=ItemKind.EPIC, estimate=None)
    view = progress(world.s, "prog", as_of=NOW)
    assert view.program.total == 0 and view.program.percent_done == 0.0
    assert view.program.percent_done_points is None
    assert [(e.key, e.total) for e in view.epics] == [("PAY-1", 0)]
