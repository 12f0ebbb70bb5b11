"""Alembic environment: migrations for the unified model (sync/model.py).

Run through ``crosstrack db upgrade`` (or :func:`sync.db.upgrade`); the URL comes from the
config built there, or from ``CROSSTRACK_DATABASE_URL`` when alembic is run by hand.
"""

from __future__ import annotations

import os

from sqlalchemy import Connection

from alembic import context
from sync.db import include_object, make_engine, normalize_url
from sync.model import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    return url or normalize_url(os.environ.get("CROSSTRACK_DATABASE_URL", "sqlite:///crosstrack.db"))


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things: batch mode copies tables where needed.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        compare_server_default=True,
        include_object=include_object,
    )


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(_url())
    with engine.connect() as conn:
        _configure(conn)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
