"""Dialect-aware ``INSERT … ON CONFLICT`` for SQLite and PostgreSQL (both support it natively)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

__all__ = ["insert_for", "insert_for_dialect"]


def insert_for(session: Session, table: Any) -> Any:
    """An ``insert`` construct with ``on_conflict_do_*`` for the session's database."""
    return insert_for_dialect(session.get_bind().dialect.name, table)


def insert_for_dialect(name: str, table: Any) -> Any:
    """The same, for a dialect by name (for statements built once and kept)."""
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"unsupported database {name!r}: crosstrack runs on SQLite or PostgreSQL")
