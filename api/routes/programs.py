"""Programs through the API (PRODUCT §6.1): read one, and create / change / delete (editor).

Programs from the config file are read-only here (409): the file is their source of truth.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Response
from pydantic import ValidationError
from sqlalchemy import func, select

from api.deps import DbSession, Editor, Viewer
from api.errors import ApiError, ErrorDetail, error_responses
from api.schemas import ProgramOut
from sync.config import ProgramConfig
from sync.model import Program, ProgramItem
from sync.programs import (
    ProgramChange,
    ProgramConflict,
    ProgramInvalid,
    create_program,
    delete_program,
    update_program,
)

router = APIRouter(prefix="/api/v1/programs", tags=["programs"], responses=error_responses(401, 403, 422))

SlugPath = Annotated[
    str,
    Path(
        max_length=64,
        pattern=r"^[a-z0-9][a-z0-9_-]*$",
        description="The program's slug.",
        examples=["checkout-v2"],
    ),
]

_CREATE_EXAMPLE = {
    "slug": "checkout-v2",
    "name": "Checkout v2",
    "owner": "tpm@example.com",
    "target_date": "2027-01-31",
    "baseline_date": "2026-10-01",
    "scope": [
        {"source": "jira", "jql": "labels = checkout-v2"},
        {"source": "github", "repos": ["web", "mobile"], "labels": ["checkout-v2"]},
    ],
    "items": ["PAY-12"],
}


def _out(session: DbSession, program: Program) -> ProgramOut:
    count = session.scalar(select(func.count()).where(ProgramItem.program_id == program.id)) or 0
    return ProgramOut(
        slug=program.slug,
        name=program.name,
        owner=program.owner,
        description=program.description,
        target_date=program.target_date,
        baseline_date=program.baseline_date,
        scope_rules=program.scope_rules,
        explicit_items=program.explicit_items,
        origin=program.origin,
        item_count=count,
    )


def _invalid(exc: ValidationError) -> ApiError:
    details = [
        ErrorDetail(loc=".".join(str(p) for p in ("body", *err.get("loc", ()))), msg=str(err.get("msg", "")))
        for err in exc.errors()
    ]
    summary = "; ".join(f"{d.loc}: {d.msg}" for d in details[:3])
    return ApiError(422, f"invalid request: {summary}", code="validation_error", details=details)


@router.get(
    "/{slug}",
    summary="One program",
    response_model=ProgramOut,
    dependencies=[Viewer],
    responses=error_responses(404),
)
def get_program(slug: SlugPath, session: DbSession) -> ProgramOut:
    program = session.scalar(select(Program).where(Program.slug == slug))
    if program is None:
        raise ApiError(404, f"no program {slug!r}")
    return _out(session, program)


@router.post(
    "",
    summary="Create a program (editor); membership is computed at once and the burnup backfilled",
    status_code=201,
    response_model=ProgramOut,
    dependencies=[Editor],
    responses=error_responses(409),
)
def post_program(
    session: DbSession,
    body: Annotated[ProgramConfig, Body(openapi_examples={"checkout": {"value": _CREATE_EXAMPLE}})],
) -> ProgramOut:
    try:
        program = create_program(session, body)
    except ProgramConflict as exc:
        raise ApiError(409, str(exc)) from None
    except ProgramInvalid as exc:
        raise ApiError(422, str(exc), code="validation_error") from None
    return _out(session, program)


@router.patch(
    "/{slug}",
    summary="Change a program (editor); membership is recomputed when scope or items change",
    response_model=ProgramOut,
    dependencies=[Editor],
    responses=error_responses(404, 409),
)
def patch_program(
    slug: SlugPath,
    session: DbSession,
    body: Annotated[
        ProgramChange,
        Body(
            openapi_examples={
                "retarget": {"value": {"target_date": "2027-02-28", "items": ["PAY-12", "PAY-40"]}}
            }
        ),
    ],
) -> ProgramOut:
    try:
        program = update_program(session, slug, body)
    except LookupError:
        raise ApiError(404, f"no program {slug!r}") from None
    except ProgramConflict as exc:
        raise ApiError(409, str(exc)) from None
    except ProgramInvalid as exc:
        raise ApiError(422, str(exc), code="validation_error") from None
    except ValidationError as exc:
        raise _invalid(exc) from None
    return _out(session, program)


@router.delete(
    "/{slug}",
    summary="Delete a program created through the API (editor)",
    status_code=204,
    response_class=Response,
    dependencies=[Editor],
    responses=error_responses(404, 409),
)
def remove_program(slug: SlugPath, session: DbSession) -> Response:
    try:
        delete_program(session, slug)
    except LookupError:
        raise ApiError(404, f"no program {slug!r}") from None
    except ProgramConflict as exc:
        raise ApiError(409, str(exc)) from None
    return Response(status_code=204)
