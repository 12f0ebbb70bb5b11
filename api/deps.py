"""Request dependencies: the database session (the transaction edge) and bearer-token auth."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api.errors import ApiError
from sync.model import ApiToken, Role
from sync.tokens import role_allows, verify_token

__all__ = ["DbSession", "require_role"]

_bearer = HTTPBearer(auto_error=False, description="An API token from `crosstrack token create`.")


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request: committed when the route returns, rolled back on error."""
    session: Session = request.app.state.sessionmaker()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


DbSession = Annotated[Session, Depends(get_session)]


def require_role(role: Role) -> Callable[..., ApiToken]:
    """A dependency that admits a bearer token whose role is ``role`` or higher."""

    def _check(
        session: DbSession,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> ApiToken:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise ApiError(
                401,
                "missing bearer token: send 'Authorization: Bearer <token>' (create one with `crosstrack token create`)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        token = verify_token(session, credentials.credentials)
        if token is None:
            raise ApiError(401, "invalid or revoked token", headers={"WWW-Authenticate": "Bearer"})
        if not role_allows(token.role, role):
            raise ApiError(403, f"this route needs the {role.value} role; the token has {token.role.value}")
        return token

    return _check


Viewer = Depends(require_role(Role.VIEWER))
Editor = Depends(require_role(Role.EDITOR))
Admin = Depends(require_role(Role.ADMIN))
