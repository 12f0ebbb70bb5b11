"""The migrations are the schema: they must match the models exactly and run both ways."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from sync.db import current_revision, downgrade, head_revision, include_object, make_engine, upgrade
from sync.model import Base


@pytest.fixture
def scratch_url(scratch_database_url: str) -> str:
    return scratch_database_url


def _diff(url: str) -> list[object]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn,
                opts={"compare_type": True, "compare_server_default": True, "include_object": include_object},
            )
            return list(compare_metadata(ctx, Base.metadata))
    finally:
        engine.dispose()


def test_autogenerate_finds_no_difference_between_models_and_migrations(scratch_url: str) -> None:
    upgrade(scratch_url)
    assert _diff(scratch_url) == []


def test_upgrade_downgrade_upgrade_round_trip(scratch_url: str) -> None:
    upgrade(scratch_url)
    engine = make_engine(scratch_url)
    try:
        assert current_revision(engine) == head_revision()
        tables_at_head = set(inspect(engine).get_table_names())
        assert set(Base.metadata.tables) <= tables_at_head

        downgrade(scratch_url, "base")
        engine.dispose()
        assert current_revision(engine) is None
        assert set(inspect(engine).get_table_names()) - {"alembic_version"} == set()

        upgrade(scratch_url)
        engine.dispose()
        assert current_revision(engine) == head_revision()
        assert set(inspect(engine).get_table_names()) == tables_at_head
    finally:
        engine.dispose()
    assert _diff(scratch_url) == []


def test_natural_keys_are_unique_on_every_synced_table() -> None:
    synced = ["work_item", "release", "sprint", "link", "status_change", "person_identity", "inbound_event"]
    for name in synced:
        table = Base.metadata.tables[name]
        uniques = {
            tuple(c.name for c in con.columns)
            for con in table.constraints
            if con.__class__.__name__ == "UniqueConstraint"
        }
        key = ("source_id", "delivery_id") if name == "inbound_event" else ("source_id", "external_id")
        assert key in uniques, f"{name} lacks a unique natural key {key}"
