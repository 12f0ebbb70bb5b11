"""One error shape for every 4xx/5xx answer.

    {"error": {"status": 404, "code": "not_found", "message": "...", "details": [...]}}

``details`` lists field problems for validation errors (``loc`` as a dotted path, ``msg``).
Unexpected exceptions answer 500 in the same shape, with no traceback and no internals.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("crosstrack.api")

__all__ = [
    "ApiError",
    "ErrorBody",
    "ErrorDetail",
    "ErrorResponse",
    "error_responses",
    "install_error_handlers",
]


class ErrorDetail(BaseModel):
    loc: str
    msg: str


class ErrorBody(BaseModel):
    status: int
    code: str
    message: str
    details: list[ErrorDetail] = []


class ErrorResponse(BaseModel):
    error: ErrorBody


class ApiError(Exception):
    """Raise from a route or dependency to answer ``status`` in the error shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        details: list[ErrorDetail] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or _code_for(status)
        self.details = details or []
        self.headers = headers


def _code_for(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


def error_json(
    status: int, message: str, code: str | None = None, details: list[ErrorDetail] | None = None
) -> dict[str, Any]:
    body = ErrorBody(status=status, code=code or _code_for(status), message=message, details=details or [])
    return {"error": body.model_dump()}


def _respond(
    status: int,
    message: str,
    code: str | None = None,
    details: list[ErrorDetail] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_json(status, message, code, details), status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _respond(exc.status, exc.message, exc.code, exc.details, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = str(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = f"no route {request.method} {request.url.path}"
        elif exc.status_code == 405:
            message = f"method {request.method} is not allowed on {request.url.path}"
        return _respond(exc.status_code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            ErrorDetail(loc=".".join(str(p) for p in err.get("loc", ())), msg=str(err.get("msg", "")))
            for err in exc.errors()
        ]
        summary = "; ".join(f"{d.loc}: {d.msg}" for d in details[:3])
        return _respond(422, f"invalid request: {summary}", "validation_error", details)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("api.unhandled_error", extra={"path": request.url.path})
        return _respond(500, "internal error; the server log has the details", "internal_error")


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries documenting the error shape for the given statuses."""
    return {s: {"model": ErrorResponse, "description": HTTPStatus(s).phrase} for s in statuses}
