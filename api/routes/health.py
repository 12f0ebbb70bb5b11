"""Liveness, readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import text

from api.errors import ApiError, error_responses
from sync.db import current_revision, head_revision

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process answers")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: the database answers and its schema is at the newest migration",
    responses=error_responses(503),
)
def readyz(request: Request) -> dict[str, Any]:
    engine = request.app.state.engine
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        current = current_revision(engine)
    except Exception as exc:
        raise ApiError(503, f"database unreachable: {type(exc).__name__}", code="not_ready") from None
    head = head_revision()
    if current != head:
        raise ApiError(
            503,
            f"database schema is at {current or 'nothing'}, code expects {head}: run `crosstrack db upgrade`",
            code="not_ready",
        )
    return {"status": "ready", "database": engine.dialect.name, "schema_revision": current}
