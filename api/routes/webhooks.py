"""Webhook intake (PRODUCT §5.2): verify, store in the inbox, answer 202. No tracker call here.

Answers: 202 accepted (or a recognised redelivery), 401 missing/wrong signature, 400 body not
JSON, 413 body over ``CROSSTRACK_WEBHOOK_MAX_BYTES``, 404 unknown source, 403 when the source has
no webhook secret configured (an empty secret would verify anything), 503 while shutting down.

The route is ``async`` and runs on the event loop: the size limit, the constant-time signature
check and the JSON parse are CPU work of microseconds for a typical delivery (a 1 MB body, the
default limit, costs about 2 ms). The database write goes to the intake's group-commit writer
(:class:`sync.inbox.InboxIntake`, docs/adr/0011); the 202 is sent once the row is committed.
"""

from __future__ import annotations

import asyncio
from typing import Literal

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.errors import ApiError, error_responses
from connectors.errors import SignatureInvalid
from connectors.records import TrackerKind
from sync.inbox import InboxClosed, InboxIntake, SourceNotLoaded, delivery_meta

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


class Accepted(BaseModel):
    status: Literal["accepted", "duplicate"]
    delivery_id: str


@router.post(
    "/{kind}/{source}",
    status_code=202,
    summary="Receive a GitHub or Jira webhook delivery",
    response_model=Accepted,
    responses=error_responses(400, 401, 403, 404, 413, 503),
)
async def receive(kind: Literal["github", "jira"], source: str, request: Request) -> JSONResponse:
    app = request.app
    limit = app.state.settings.webhook_max_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"delivery of {declared} bytes is over the limit of {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ApiError(413, f"delivery is over the limit of {limit} bytes")
    tracker = TrackerKind(kind)
    runtime = app.state.runtime
    if runtime is None or source not in runtime.source_names():
        raise ApiError(404, f"no {kind} source named {source!r}")
    connector = runtime.connector_for(source)
    if connector.settings.kind is not tracker:
        raise ApiError(404, f"source {source!r} is a {connector.settings.kind.value} source, not {kind}")
    # The secret is read from the source's connector on every delivery (never cached here).
    if not connector.settings.webhook_secret:
        raise ApiError(403, f"webhooks are refused for source {source!r}: no webhook secret is configured")
    headers = dict(request.headers)
    raw = bytes(body)
    try:
        connector.verify_webhook(headers, raw)
    except SignatureInvalid as exc:
        raise ApiError(401, exc.message) from None
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"the delivery body is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise ApiError(400, "the delivery body is JSON but not an object")
    meta = delivery_meta(tracker, headers, raw, payload)
    intake: InboxIntake = app.state.intake
    try:
        # Resolves after the commit: the tracker may forget the delivery once it has our 202.
        inserted = await asyncio.wrap_future(intake.submit(source, meta, payload, raw))
    except SourceNotLoaded as exc:
        raise ApiError(404, str(exc)) from None
    except InboxClosed as exc:
        raise ApiError(503, str(exc)) from None
    return JSONResponse(
        {"status": "accepted" if inserted else "duplicate", "delivery_id": meta.delivery_id},
        status_code=202,
    )
