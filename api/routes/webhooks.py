"""Webhook intake (PRODUCT §5.2): verify, store in the inbox, answer 202. No tracker call here.

Answers: 202 accepted (or a recognised redelivery), 401 missing/wrong signature, 400 body not
JSON, 413 body over ``CROSSTRACK_WEBHOOK_MAX_BYTES``, 404 unknown source, 403 when the source has
no webhook secret configured (an empty secret would verify anything).
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.deps import DbSession
from api.errors import ApiError, error_responses
from connectors.errors import SignatureInvalid
from connectors.records import TrackerKind
from sync.inbox import delivery_meta, store_delivery
from sync.model import Source
from sync.tasks import defer_inbox

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


class Accepted(BaseModel):
    status: Literal["accepted", "duplicate"]
    delivery_id: str


@router.post(
    "/{kind}/{source}",
    status_code=202,
    summary="Receive a GitHub or Jira webhook delivery",
    response_model=Accepted,
    responses=error_responses(400, 401, 403, 404, 413),
)
async def receive(
    kind: Literal["github", "jira"], source: str, request: Request, session: DbSession
) -> JSONResponse:
    limit = request.app.state.settings.webhook_max_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"delivery of {declared} bytes is over the limit of {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ApiError(413, f"delivery is over the limit of {limit} bytes")
    result = await run_in_threadpool(
        _store, request, session, TrackerKind(kind), source, dict(request.headers), bytes(body)
    )
    return JSONResponse(result, status_code=202)


def _store(
    request: Request, session: Session, kind: TrackerKind, name: str, headers: dict[str, str], body: bytes
) -> dict[str, Any]:
    app = request.app
    runtime = app.state.runtime
    if runtime is None or name not in runtime.source_names():
        raise ApiError(404, f"no {kind.value} source named {name!r}")
    connector = runtime.connector_for(name)
    if connector.settings.kind is not kind:
        raise ApiError(404, f"source {name!r} is a {connector.settings.kind.value} source, not {kind.value}")
    if not connector.settings.webhook_secret:
        raise ApiError(403, f"webhooks are refused for source {name!r}: no webhook secret is configured")
    try:
        connector.verify_webhook(headers, body)
    except SignatureInvalid as exc:
        raise ApiError(401, exc.message) from None
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"the delivery body is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise ApiError(400, "the delivery body is JSON but not an object")
    meta = delivery_meta(kind, headers, body, payload)
    source = session.scalar(select(Source).where(Source.name == name))
    if source is None:
        raise ApiError(404, f"source {name!r} is not loaded into the database yet")
    inserted = store_delivery(session, source, meta, payload)
    jobs = getattr(app.state, "jobs", None)
    if inserted and jobs is not None:  # scaled out: the job commits with the inbox row, or neither
        defer_inbox(jobs, session)
    session.commit()  # stored before we answer 202: the tracker may forget the delivery after that
    wake = getattr(app.state, "inbox_wakeup", None)
    if wake is not None:
        wake.set()
    return {"status": "accepted" if inserted else "duplicate", "delivery_id": meta.delivery_id}
