"""Odd query parameters and bodies never make the GitHub side answer 5xx."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.testing import SandboxHandle

AUTH = {"Authorization": "token sandbox-token"}


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    # One client for all examples: building one per request costs more than the request.
    with httpx.Client(headers=AUTH, timeout=30) as client:
        yield client


TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
PARAMS = st.dictionaries(
    st.sampled_from(
        ["state", "sort", "direction", "since", "labels", "milestone", "assignee", "type", "per_page", "page"]
    ),
    st.one_of(TEXT, st.integers(min_value=-5, max_value=10**6).map(str), st.just("2024-01-01T00:00:00Z")),
    max_size=6,
)
PATHS = st.sampled_from(
    [
        "/repos/acme/web/issues",
        "/repos/acme/web/issues/3",
        "/repos/acme/web/issues/3/sub_issues",
        "/repos/acme/web/issues/3/dependencies/blocked_by",
        "/repos/acme/web/milestones",
        "/repos/acme/web/labels",
        "/orgs/acme/repos",
        "/orgs/acme/projectsV2/1/items",
    ]
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=PATHS, params=PARAMS)
def test_reads_never_answer_5xx(
    sandbox: SandboxHandle, http: httpx.Client, path: str, params: dict[str, str]
) -> None:
    response = http.get(f"{sandbox.github_url}{path}", params=params)
    assert response.status_code < 500, (path, params, response.text[:200])


BODIES = st.one_of(
    st.binary(max_size=40),
    st.dictionaries(
        st.sampled_from(
            ["title", "body", "state", "labels", "assignees", "milestone", "type", "sub_issue_id", "issue_id"]
        ),
        st.one_of(TEXT, st.integers(), st.none(), st.lists(TEXT, max_size=3)),
        max_size=5,
    ).map(lambda d: __import__("json").dumps(d).encode()),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    target=st.sampled_from(
        [
            ("POST", "/repos/acme/web/issues"),
            ("PATCH", "/repos/acme/web/issues/3"),
            ("POST", "/repos/acme/web/issues/3/comments"),
            ("POST", "/repos/acme/web/issues/3/sub_issues"),
            ("POST", "/repos/acme/web/issues/3/dependencies/blocked_by"),
            ("POST", "/repos/acme/web/hooks"),
        ]
    ),
    body=BODIES,
)
def test_writes_never_answer_5xx(
    sandbox: SandboxHandle, http: httpx.Client, target: tuple[str, str], body: bytes
) -> None:
    method, path = target
    response = http.request(method, f"{sandbox.github_url}{path}", content=body)
    assert response.status_code < 500, (method, path, body, response.text[:200])
