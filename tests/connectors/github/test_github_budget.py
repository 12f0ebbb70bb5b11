"""The primary rate budget read from x-ratelimit-* headers: slow down before it runs out, stop at zero."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import github
import pytest

from connectors.base import SourceSettings
from connectors.errors import RateLimited
from connectors.github.client import GitHubClient
from connectors.records import TrackerKind

NOW = datetime(2026, 1, 5, 12, 0, 0, tzinfo=UTC)


def client() -> GitHubClient:
    settings = SourceSettings(
        name="gh",
        kind=TrackerKind.GITHUB,
        base_url="https://api.github.com",
        flavour="com",
        token="ghp_secret",
    )
    return GitHubClient(settings, clock=lambda: NOW, sleep=lambda _: None, low_water=50)


def headers(remaining: int, reset_in: float, server_skew: float = 0.0) -> dict[str, str]:
    reset = NOW + timedelta(seconds=reset_in + server_skew)
    return {
        "x-ratelimit-limit": "5000",
        "x-ratelimit-remaining": str(remaining),
        "x-ratelimit-reset": str(int(reset.timestamp())),
        "date": format_datetime(NOW + timedelta(seconds=server_skew), usegmt=True),
    }


def test_plenty_of_budget_sends_at_once() -> None:
    c = client()
    c._track_budget(headers(4000, 1800))
    assert c.pacer.not_before is None
    assert (c.rate_remaining, c.rate_limit) == (4000, 5000)


def test_low_budget_spreads_the_rest_until_the_reset() -> None:
    c = client()
    c._track_budget(headers(9, 100))
    assert c.pacer.not_before == NOW + timedelta(seconds=10)  # 100 s / (9 + 1)


def test_exhausted_budget_waits_for_the_reset_even_with_a_skewed_server_clock() -> None:
    c = client()
    c._track_budget(headers(0, 600, server_skew=-3600))  # the server's clock is an hour behind ours
    assert c.pacer.not_before == NOW + timedelta(seconds=601)


@pytest.mark.parametrize(
    ("hdrs", "expected_seconds", "reason"),
    [
        ({"retry-after": "30"}, 30, "secondary rate limit (429, retry-after)"),
        (
            {
                "x-ratelimit-remaining": "0",
                "x-ratelimit-reset": str(int((NOW + timedelta(seconds=90)).timestamp())),
            },
            91,
            "primary rate limit exhausted",
        ),
        ({}, 60, "secondary rate limit (429, no retry-after)"),
    ],
)
def test_rate_limit_instants(hdrs: dict[str, str], expected_seconds: float, reason: str) -> None:
    retry_at, why = client()._rate_limit_until(429, hdrs)
    assert (retry_at, why) == (NOW + timedelta(seconds=expected_seconds), reason)


def test_secondary_limit_without_hint_backs_off_doubling() -> None:
    c = client()
    waits = [(c._rate_limit_until(403, {})[0] - NOW).total_seconds() for _ in range(6)]
    assert waits == [60, 120, 240, 480, 900, 900]


def test_the_token_never_shows() -> None:
    c = client()
    assert "ghp_secret" not in repr(c)


def test_a_raised_github_exception_goes_through_the_same_table() -> None:
    c = client()

    def raise_429(*args: object, **kwargs: object) -> None:
        raise github.GithubException(429, {"message": "slow down"}, {"Retry-After": "7"})

    c._requester.requestJson = raise_429  # type: ignore[method-assign]
    c.max_wait_seconds = 1  # do not sleep through it here

    with pytest.raises(RateLimited) as info:
        c.get("/repos/o/r/issues")
    assert info.value.retry_at == NOW + timedelta(seconds=7)
    assert c.pacer.not_before == NOW + timedelta(seconds=7)
