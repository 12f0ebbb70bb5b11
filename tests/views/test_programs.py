"""Program create / update / delete with membership recomputed and removals recorded."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from connectors.records import ItemKind
from sync.config import ProgramConfig
from sync.membership import refresh_member_epics
from sync.model import ProgramItem, ProgramItemRemoval, ProgramSnapshot
from sync.programs import (
    ProgramChange,
    ProgramConflict,
    ProgramInvalid,
    create_program,
    delete_program,
    recompute_program_membership,
    update_program,
)
from sync.views.dependencies import dependency_graph
from sync.views.progress import progress
from tests.views.builders import World


def members(world: World, program_id: int) -> set[str]:
    ids = set(world.s.scalars(select(ProgramItem.work_item_id).where(ProgramItem.program_id == program_id)))
    return {k for k, item in world.items.items() if item.id in ids}


def test_create_update_delete(world: World) -> None:
    world.item("PAY-1", member=False, labels=["launch"])
    world.item("PAY-2", member=False)
    world.item("PAY-3", member=False, parent="PAY-1")
    config = ProgramConfig(
        slug="launch",
        name="Launch",
        target_date=date(2027, 3, 1),
        scope=[{"source": "jira", "jql": "labels = launch"}],
        items=["PAY-2"],
    )
    program = create_program(world.s, config)
    assert program.origin == "api"
    assert members(world, program.id) == {"PAY-1", "PAY-2", "PAY-3"}  # PAY-3 as a descendant
    assert world.s.scalar(select(func.count()).where(ProgramSnapshot.program_id == program.id)) > 0

    update_program(world.s, "launch", ProgramChange(items=[]))
    assert members(world, program.id) == {"PAY-1", "PAY-3"}
    removed = world.s.scalars(
        select(ProgramItemRemoval.key).where(ProgramItemRemoval.program_id == program.id)
    )
    assert list(removed) == ["PAY-2"]

    update_program(world.s, "launch", ProgramChange(name="Launch 2", target_date=None))
    assert (program.name, program.target_date) == ("Launch 2", None)

    delete_program(world.s, "launch")
    assert world.s.scalar(select(func.count()).where(ProgramItem.program_id == program.id)) == 0


def test_refusals(world: World) -> None:
    world.program.origin = "config"
    with pytest.raises(ProgramConflict, match="defined in the config file"):
        update_program(world.s, "prog", ProgramChange(name="x"))
    with pytest.raises(ProgramConflict, match="defined in the config file"):
        delete_program(world.s, "prog")
    with pytest.raises(ProgramConflict, match="exists already"):
        create_program(world.s, ProgramConfig(slug="prog", name="P", items=["PAY-1"]))
    with pytest.raises(ProgramInvalid, match="no source named 'nope'"):
        create_program(
            world.s, ProgramConfig(slug="p2", name="P", scope=[{"source": "nope", "jql": "project = X"}])
        )
    with pytest.raises(LookupError):
        update_program(world.s, "missing", ProgramChange(name="x"))
    create_program(world.s, ProgramConfig(slug="p3", name="P", items=["PAY-1"]))
    with pytest.raises(ValidationError, match="baseline_date"):
        update_program(
            world.s, "p3", ProgramChange(baseline_date=date(2027, 5, 1), target_date=date(2027, 1, 1))
        )
    with pytest.raises(ValidationError):
        update_program(world.s, "p3", ProgramChange(items=[], scope=[]))  # nothing left in scope


def test_epic_and_team_follow_item_changes(world: World) -> None:
    """The member's epic is stored by membership recompute; the team is read live.

    A webhook that moves a story under another epic is reflected by the recompute that the
    engine and the inbox run after writes; a team change shows at once.
    """
    world.item("PAY-1", member=False, kind=ItemKind.EPIC)
    world.item("PAY-10", member=False, kind=ItemKind.EPIC)
    world.item("PAY-2", member=False, parent="PAY-1")
    world.item("PAY-3", member=False, parent="PAY-2", kind=ItemKind.SUBTASK)
    world.item("PAY-4", member=False)
    create_program(world.s, ProgramConfig(slug="moves", name="Moves", items=["PAY-1", "PAY-10", "PAY-4"]))

    def by_epic() -> dict[str | None, int]:
        return {e.key: e.total for e in progress(world.s, "moves").epics}

    assert by_epic() == {"PAY-1": 2, "PAY-10": 0, None: 1}

    # What the writer does when a webhook says PAY-2 moved to PAY-10 and PAY-4 moved to team web.
    world.items["PAY-2"].parent_id = world.items["PAY-10"].id
    world.items["PAY-4"].team_id = world.teams["web"].id
    world.s.flush()
    assert {t.team: t.total for t in progress(world.s, "moves").teams} == {"pay": 2, "web": 1}

    recompute_program_membership(world.s)
    assert by_epic() == {"PAY-1": 0, "PAY-10": 2, None: 1}  # the sub-task followed its story
    graph = dependency_graph(world.s, "moves", rollup="epic")
    assert graph.edges == []  # no links: only that the roll-up query runs on the moved items

    # An explicit member put under an epic and taken out again; a re-run changes nothing.
    world.items["PAY-4"].parent_id = world.items["PAY-1"].id
    world.s.flush()
    recompute_program_membership(world.s)
    assert by_epic() == {"PAY-1": 1, "PAY-10": 2}
    world.items["PAY-4"].parent_id = None
    world.s.flush()
    recompute_program_membership(world.s)
    assert by_epic() == {"PAY-1": 0, "PAY-10": 2, None: 1}
    assert refresh_member_epics(world.s) == 0
