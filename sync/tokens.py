"""API tokens: created once and shown once, stored as SHA-256 hashes, each with a role.

Tokens are 256-bit random values, so a plain SHA-256 (no salt, no slow KDF) is the right hash:
there is nothing to brute-force, and lookups by hash stay O(1).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from sync.model import ApiToken, Role

__all__ = ["ROLE_RANK", "create_token", "hash_token", "issue_token", "role_allows", "verify_token"]

TOKEN_PREFIX = "ct_"

#: A role may do what the roles below it may do.
ROLE_RANK = {Role.VIEWER: 0, Role.EDITOR: 1, Role.ADMIN: 2}


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def role_allows(held: Role, needed: Role) -> bool:
    return ROLE_RANK[held] >= ROLE_RANK[needed]


def issue_token(session: Session, role: Role, name: str = "") -> tuple[str, ApiToken]:
    """Create a token; return its plain value (shown once) and its row (which stores only a hash)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        name=name or f"{role.value} token", role=role, token_hash=hash_token(token), prefix=token[:10]
    )
    session.add(row)
    session.flush()
    return token, row


def create_token(session: Session, role: Role, name: str = "") -> str:
    """Create a token and return its plain value; only its hash is stored."""
    return issue_token(session, role, name)[0]


def verify_token(session: Session, token: str) -> ApiToken | None:
    """The live token row for ``token``, or None. Marks it used (at most once a minute)."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if row is None or row.revoked_at is not None:
        return None
    now = datetime.now(UTC)
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
        row.last_used_at = now
    return row
