"""Program create / update / delete with membership recomputed and removals recorded."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from sync.config import ProgramConfig
from sync.model import ProgramItem, ProgramItemRemoval, ProgramSnapshot
from sync.programs import (
    ProgramChange,
    ProgramConflict,
    ProgramInvalid,
    create_program,
    delete_program,
    update_program,
)
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
