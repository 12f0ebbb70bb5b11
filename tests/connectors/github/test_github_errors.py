"""The one error table of the GitHub client (status → error type), and Link parsing."""

from __future__ import annotations

import pytest

from connectors.errors import (
    AuthError,
    ConnectorError,
    Gone,
    NotFound,
    RequestRejected,
    TransientError,
)
from connectors.github.client import error_for, parse_link_next


@pytest.mark.parametrize(
    ("status", "message", "error", "text"),
    [
        (
            401,
            "Bad credentials",
            AuthError,
            "GET /repos/acme/web/issues: GitHub refused the token (401 Bad credentials)",
        ),
        (403, "Resource not accessible by integration", AuthError, "lacks permission"),
        (404, "Not Found", NotFound, "GitHub answered 404 (Not Found)"),
        (410, "This issue was deleted", Gone, "410"),
        (422, "Validation Failed", RequestRejected, "422"),
        (400, "Problems parsing JSON", RequestRejected, "400"),
        (418, "teapot", RequestRejected, "418"),
        (500, "boom", TransientError, "500"),
        (502, "Server Error", TransientError, "502"),
    ],
)
def test_error_table(status: int, message: str, error: type[ConnectorError], text: str) -> None:
    err = error_for("GET", "/repos/acme/web/issues?page=2", status, {}, {"message": message}, source="gh")
    assert type(err) is error
    assert err.status == status
    assert text in str(err)
    assert str(err).startswith("gh: GET /repos/acme/web/issues")
    assert "page=2" not in str(err)
    assert "\n" not in str(err)


def test_gone_is_a_not_found() -> None:
    assert isinstance(error_for("GET", "/x", 410, {}, None), NotFound)


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        (
            '<https://api.github.com/repositories/1/issues?page=2&per_page=100>; rel="next", '
            '<https://api.github.com/repositories/1/issues?page=9&per_page=100>; rel="last"',
            "https://api.github.com/repositories/1/issues?page=2&per_page=100",
        ),
        ('<https://x/issues?page=1>; rel="prev", <https://x/issues?page=1>; rel="first"', None),
        (None, None),
        ("", None),
    ],
)
def test_link_next(link: str | None, expected: str | None) -> None:
    assert parse_link_next(link) == expected
