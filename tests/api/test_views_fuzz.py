"""A small OpenAPI fuzzer (hypothesis): every operation of the app with generated path, query and
body values, as an admin; no answer may be a 500, and every error uses the one error shape.

Schemathesis would do the same with more depth; this keeps the dependency set small and runs in
seconds. Values come from each parameter's schema (types, enums, bounds) mixed with hostile
strings, so both the validation layer and the views behind it are exercised.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.app import create_app
from sync.settings import Settings
from tests.views.builders import World

HOSTILE = st.sampled_from(
    [
        "",
        " ",
        "0",
        "-1",
        "9" * 30,
        "nope",
        "../..",
        "%00",
        "a/b#c",
        "'; drop table x;--",
        "ü",
        "null",
        "[]",
        "{}",
    ]
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=10,
)


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    app = create_app(Settings(database_url="sqlite://", config_file=None), load_config_file=False)
    spec = app.openapi()
    ops = []
    for path, item in sorted(spec["paths"].items()):
        for method, op in sorted(item.items()):
            ops.append((method.upper(), path, op))
    return ops


OPERATIONS = _operations()
#: Found by this fuzzer in routes this area does not own; reported, kept visible until fixed.
KNOWN: dict[tuple[str, str], str] = {}
CASES = [
    pytest.param(m, p, op, id=f"{m} {p}", marks=[pytest.mark.xfail(reason=KNOWN[(m, p)], strict=False)])
    if (m, p) in KNOWN
    else pytest.param(m, p, op, id=f"{m} {p}")
    for m, p, op in OPERATIONS
]


def _value(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    if "anyOf" in schema:
        return st.one_of([_value(s) for s in schema["anyOf"] if s.get("type") != "null"] or [st.none()])
    if "enum" in schema:
        return st.sampled_from(schema["enum"]) | HOSTILE
    kind = schema.get("type")
    if kind == "integer":
        return (
            st.integers(schema.get("minimum", -(2**63)) - 2, min(schema.get("maximum", 2**63), 2**63) + 2)
            | HOSTILE
        )
    if kind == "boolean":
        return st.sampled_from(["true", "false", "1", "maybe"])
    if schema.get("format") in ("date-time", "date"):
        return st.sampled_from(["2026-11-01T00:00:00Z", "2026-11-01", "2026-13-45", "yesterday"]) | HOSTILE
    return st.text(max_size=40) | HOSTILE


@st.composite
def requests(draw: st.DrawFn, path: str, op: dict[str, Any]) -> tuple[str, dict[str, Any], Any]:
    url = path
    query: dict[str, Any] = {}
    for param in op.get("parameters", []):
        strategy = _value(param.get("schema", {}))
        if param["in"] == "path":  # mostly real names, so the views behind validation run too
            strategy = st.sampled_from(["prog", "jira", "github", "1", "2"]) | strategy
        value = draw(strategy)
        if param["in"] == "path":
            text = str(value) if str(value) not in ("", " ") else "x"
            url = url.replace("{" + param["name"] + "}", quote(text, safe=""))
        elif param["in"] == "query" and draw(st.booleans()):
            query[param["name"]] = value
    body = None
    if "requestBody" in op:
        body = draw(
            JSON
            | st.fixed_dictionaries(
                {"slug": st.text(max_size=8) | st.just("fuzz"), "name": st.text(max_size=8)},
                optional={
                    "items": st.lists(st.text(max_size=8), max_size=3),
                    "scope": st.lists(JSON, max_size=2),
                    "target_date": st.sampled_from(["2027-01-01", "2020-02-30", 5]),
                    "baseline_date": st.sampled_from(["2027-06-01", None]),
                },
            )
        )
    return url, query, body


@pytest.fixture
def world(db_session: Any) -> World:
    w = World(db_session)
    w.item("PAY-1")
    w.item("PAY-2", parent="PAY-1")
    w.item("acme/web#3", team="web")
    w.blocks("acme/web#3", "PAY-2")
    return w


@pytest.mark.parametrize(("method", "path", "op"), CASES)
def test_no_500(
    client: TestClient, world: World, token_for: Any, method: str, path: str, op: dict[str, Any]
) -> None:
    headers = token_for("admin")

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=True,
    )
    @given(requests(path, op))
    def run(request: tuple[str, dict[str, Any], Any]) -> None:
        url, query, body = request
        kwargs: dict[str, Any] = {"params": query, "headers": headers}
        if body is not None:
            kwargs["json"] = body
        response = client.request(method, url, **kwargs)
        assert response.status_code < 500, (
            f"{method} {url} {query} {body!r} -> {response.status_code} {response.text[:300]}"
        )
        if response.status_code >= 400 and response.headers.get("content-type", "").startswith(
            "application/json"
        ):
            error = response.json()["error"]
            assert error["status"] == response.status_code and error["message"]

    run()


@pytest.mark.parametrize(
    "body",
    [
        {"slug": "nul", "name": "N\x00", "items": ["PAY-1"]},
        {"slug": "nul", "name": "N", "scope": [{"source": "jira", "jql": "labels = a\x00b"}]},
        {"slug": "nul", "name": "N", "description": "\x00", "items": ["PAY-1"]},
    ],
)
def test_nul_characters_are_refused_not_crashing(
    client: TestClient, world: World, token_for: Any, body: dict[str, Any]
) -> None:
    response = client.post("/api/v1/programs", json=body, headers=token_for("editor"))
    assert response.status_code == 422, response.text
