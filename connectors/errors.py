"""The one error tree every connector raises.

Vendor exceptions (`jira.JIRAError`, `github.GithubException`, `requests` and `httpx` transport
errors) are translated exactly once, in each connector's ``client.py``; nothing above the
connector layer ever sees a vendor exception.

    ConnectorError                      base; ``str(err)`` is one clear line, never a secret
    ├── AuthError                       401, or 403 that is not a rate limit: bad or missing credentials,
    │                                   missing permission
    ├── NotFound                        404: the item does not exist or cannot be read
    │   └── Gone                        410: the item was deleted
    ├── Moved                           the item lives elsewhere now (GitHub 301 transfer, Jira key
    │                                   change); ``new_location`` tells where when known
    ├── RateLimited                     429, or 403/503 with rate-limit headers; ``retry_at`` is the
    │                                   earliest instant a new request may be sent
    ├── TransientError                  5xx, timeouts, connection resets: retry with backoff
    ├── InvalidResponse                 the tracker answered something we cannot read (malformed or
    │                                   truncated JSON, a missing required field)
    ├── RequestRejected                 4xx that says our request is wrong (bad JQL, validation)
    └── WebhookError                    a webhook delivery we refuse
        ├── SignatureInvalid            missing or wrong HMAC signature
        └── PayloadInvalid              not JSON, or not the shape the event promises
"""

from __future__ import annotations

from datetime import datetime

__all__ = [
    "AuthError",
    "ConnectorError",
    "Gone",
    "InvalidResponse",
    "Moved",
    "NotFound",
    "PayloadInvalid",
    "RateLimited",
    "RequestRejected",
    "SignatureInvalid",
    "TransientError",
    "WebhookError",
]


class ConnectorError(Exception):
    """Base of every error a connector raises. ``source`` names the configured source."""

    def __init__(self, message: str, *, source: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.source = source
        self.status = status

    def __str__(self) -> str:
        prefix = f"{self.source}: " if self.source else ""
        return f"{prefix}{self.message}"


class AuthError(ConnectorError):
    """The tracker refused our credentials or the account lacks a permission."""


class NotFound(ConnectorError):
    """The item does not exist, or this account cannot read it (trackers answer 404 for both)."""


class Gone(NotFound):
    """The item was deleted (GitHub 410)."""


class Moved(ConnectorError):
    """The item now lives under another key or repository."""

    def __init__(self, message: str, *, new_location: str | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.new_location = new_location


class RateLimited(ConnectorError):
    """The tracker asked us to wait. No request may be sent before ``retry_at`` (UTC)."""

    def __init__(self, message: str, *, retry_at: datetime, reason: str | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_at = retry_at
        self.reason = reason


class TransientError(ConnectorError):
    """A failure that may succeed when retried later (5xx, timeout, connection reset)."""


class InvalidResponse(ConnectorError):
    """The tracker's answer could not be read (malformed JSON, truncated body, unexpected shape)."""


class RequestRejected(ConnectorError):
    """The tracker rejected the request itself (400/422: bad JQL, invalid field value)."""


class WebhookError(ConnectorError):
    """A webhook delivery that must not be processed."""


class SignatureInvalid(WebhookError):
    """The delivery's HMAC signature is missing or does not match the configured secret."""


class PayloadInvalid(WebhookError):
    """The delivery body is not JSON, or lacks what its event type promises."""
