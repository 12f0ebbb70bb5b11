"""API token administration (admin role)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, status
from pydantic import BaseModel, Field
from sqlalchemy import select

from api.deps import Admin, DbSession
from api.errors import ApiError, error_responses
from sync.model import ApiToken, Role
from sync.tokens import issue_token

router = APIRouter(
    prefix="/api/v1/tokens", tags=["tokens"], dependencies=[Admin], responses=error_responses(401, 403)
)


class TokenOut(BaseModel):
    prefix: str = Field(description="The first characters of the token, to tell tokens apart.")
    name: str
    role: Role
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreate(BaseModel):
    role: Role = Role.VIEWER
    name: str = Field("", max_length=200)


class TokenCreated(TokenOut):
    token: str = Field(description="The token itself. Shown once; only its hash is stored.")


def _out(t: ApiToken) -> TokenOut:
    return TokenOut(
        prefix=t.prefix,
        name=t.name,
        role=t.role,
        created_at=t.created_at,
        last_used_at=t.last_used_at,
        revoked_at=t.revoked_at,
    )


@router.get("", summary="List API tokens (never their values)", response_model=list[TokenOut])
def list_tokens(session: DbSession) -> list[TokenOut]:
    return [_out(t) for t in session.scalars(select(ApiToken).order_by(ApiToken.id))]


@router.post(
    "", summary="Create an API token", status_code=status.HTTP_201_CREATED, response_model=TokenCreated
)
def create(body: TokenCreate, session: DbSession) -> TokenCreated:
    token, row = issue_token(session, body.role, body.name)
    return TokenCreated(token=token, **_out(row).model_dump())


@router.delete(
    "/{prefix}",
    summary="Revoke an API token",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(404),
)
def revoke(
    prefix: Annotated[
        str, Path(pattern=r"^[A-Za-z0-9_-]{1,16}$", description="The token's prefix, as listed.")
    ],
    session: DbSession,
) -> None:
    rows = session.scalars(
        select(ApiToken).where(ApiToken.prefix == prefix, ApiToken.revoked_at.is_(None))
    ).all()
    if not rows:
        raise ApiError(404, f"no live token with prefix {prefix!r}")
    for row in rows:
        row.revoked_at = datetime.now(UTC)
