"""Every program-view, program, item and source route: roles, answers, errors in the one shape."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from connectors.records import ItemKind, StatusCategory
from sync.model import InboundEvent, SyncRun
from tests.views.builders import World

Headers = Callable[[str], dict[str, str]]
VIEW_PATHS = [
    "progress",
    "dependencies",
    "dependencies?format=dot&rollup=team",
    "dependencies?format=mermaid&rollup=epic",
    "teams/matrix",
    "critical-path",
    "risks",
    "forecast?trials=100",
    "burnup",
    "burnup?dimension=team&key=pay",
]


@pytest.fixture
def world(db_session: Session) -> World:
    w = World(db_session)
    now = datetime.now(UTC)
    w.jira.last_synced_at = w.github.last_synced_at = now
    w.item("PAY-1", kind=ItemKind.EPIC, status=StatusCategory.IN_PROGRESS)
    w.item("PAY-2", parent="PAY-1", status=StatusCategory.DONE, estimate=3, labels=["launch"])
    w.item("PAY-3", parent="PAY-1", status=StatusCategory.IN_PROGRESS, updated=now)
    w.item("acme/web#4", team="web", labels=["launch", "ui"])
    w.blocks("acme/web#4", "PAY-3")
    w.change("PAY-2", now - timedelta(days=3), StatusCategory.DONE, StatusCategory.IN_PROGRESS)
    return w


def error_of(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"} and {"status", "code", "message", "details"} <= set(body["error"])
    return body["error"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("path", VIEW_PATHS)
def test_views_need_a_viewer_token_and_answer_with_freshness(
    client: TestClient, world: World, token_for: Headers, path: str
) -> None:
    url = f"/api/v1/programs/prog/{path}"
    assert error_of(client.get(url))["status"] == 401
    response = client.get(url, headers=token_for("viewer"))
    assert response.status_code == 200, response.text
    if "format=dot" in path:
        assert response.headers["content-type"].startswith("text/vnd.graphviz")
        assert response.text.startswith('digraph "prog"') and '"team:web" -> "team:pay"' in response.text
    elif "format=mermaid" in path:
        assert response.text.startswith("flowchart LR")
    else:
        meta = response.json()["meta"]
        assert meta["program"] == "prog" and meta["as_of"]
        assert [(s["name"], s["stale"]) for s in meta["sources"]] == [("github", False), ("jira", False)]


@pytest.mark.parametrize("path", VIEW_PATHS)
def test_unknown_program_is_404(client: TestClient, world: World, token_for: Headers, path: str) -> None:
    response = client.get(f"/api/v1/programs/nope/{path}", headers=token_for("viewer"))
    assert response.status_code == 404 and error_of(response)["message"] == "no program 'nope'"


def test_view_answers(client: TestClient, world: World, token_for: Headers) -> None:
    h = token_for("viewer")
    progress = client.get("/api/v1/programs/prog/progress", headers=h).json()
    assert (progress["program"]["total"], progress["program"]["done"]) == (3, 1)
    assert [e["key"] for e in progress["epics"]] == ["PAY-1", None]
    graph = client.get("/api/v1/programs/prog/dependencies", headers=h).json()
    assert [
        (e["source"], e["target"], e["state"], e["cross_team"], e["cross_tracker"]) for e in graph["edges"]
    ] == [("acme/web#4", "PAY-3", "off_track", True, True)]
    matrix = client.get("/api/v1/programs/prog/teams/matrix", headers=h).json()
    assert matrix["teams"] == ["pay", "plat", "web"] and matrix["matrix"][2][0] == 1
    codes = {r["code"] for r in client.get("/api/v1/programs/prog/risks", headers=h).json()["risks"]}
    assert {"blocked_cross_team", "off_track_dependency"} <= codes
    burnup = client.get("/api/v1/programs/prog/burnup", headers=h).json()
    assert burnup["points"][-1]["live"] and burnup["points"][-1]["scope_count"] == 3


@pytest.mark.parametrize(
    ("query", "loc"),
    [("format=svg", "query.format"), ("rollup=person", "query.rollup")],
)
def test_bad_graph_parameters_are_422(
    client: TestClient, world: World, token_for: Headers, query: str, loc: str
) -> None:
    response = client.get(f"/api/v1/programs/prog/dependencies?{query}", headers=token_for("viewer"))
    err = error_of(response)
    assert err["status"] == 422 and err["code"] == "validation_error" and err["details"][0]["loc"] == loc


def test_forecast_trials_bounds(client: TestClient, world: World, token_for: Headers) -> None:
    response = client.get("/api/v1/programs/prog/forecast?trials=5", headers=token_for("viewer"))
    assert error_of(response)["details"][0]["loc"] == "query.trials"


# -- programs -------------------------------------------------------------------------------------

NEW = {
    "slug": "launch",
    "name": "Launch",
    "scope": [{"source": "jira", "jql": "labels = launch"}],
    "items": [],
}


def test_program_crud_and_roles(client: TestClient, world: World, token_for: Headers) -> None:
    viewer, editor = token_for("viewer"), token_for("editor")
    assert error_of(client.post("/api/v1/programs", json=NEW))["status"] == 401
    assert error_of(client.post("/api/v1/programs", json=NEW, headers=viewer))["status"] == 403
    created = client.post("/api/v1/programs", json=NEW, headers=editor)
    assert created.status_code == 201, created.text
    assert created.json()["item_count"] == 1 and created.json()["origin"] == "api"  # PAY-2 has the label
    assert client.get("/api/v1/programs/launch", headers=viewer).json()["slug"] == "launch"
    assert error_of(client.post("/api/v1/programs", json=NEW, headers=editor))["status"] == 409

    assert (
        error_of(client.patch("/api/v1/programs/launch", json={"name": "L"}, headers=viewer))["status"] == 403
    )
    changed = client.patch("/api/v1/programs/launch", json={"items": ["PAY-3"]}, headers=editor)
    assert changed.status_code == 200 and changed.json()["item_count"] == 2
    assert client.get("/api/v1/programs/launch/progress", headers=viewer).json()["program"]["total"] == 2

    assert error_of(client.delete("/api/v1/programs/launch", headers=viewer))["status"] == 403
    assert client.delete("/api/v1/programs/launch", headers=editor).status_code == 204
    assert error_of(client.get("/api/v1/programs/launch", headers=viewer))["status"] == 404
    assert error_of(client.delete("/api/v1/programs/launch", headers=editor))["status"] == 404


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"slug": "x"}, "body.name"),
        ({**NEW, "slug": "Bad Slug"}, "body.slug"),
        ({**NEW, "scope": [], "items": []}, "body"),
        ({**NEW, "extra": 1}, "body.extra"),
    ],
)
def test_invalid_program_is_422(
    client: TestClient, world: World, token_for: Headers, body: dict[str, Any], loc: str
) -> None:
    err = error_of(client.post("/api/v1/programs", json=body, headers=token_for("editor")))
    assert err["status"] == 422 and err["details"][0]["loc"] == loc


def test_program_refusals(client: TestClient, world: World, token_for: Headers) -> None:
    editor = token_for("editor")
    bad_source = {**NEW, "scope": [{"source": "nope", "jql": "project = X"}]}
    assert (
        "no source named 'nope'"
        in error_of(client.post("/api/v1/programs", json=bad_source, headers=editor))["message"]
    )
    world.program.origin = "config"
    world.s.flush()
    err = error_of(client.patch("/api/v1/programs/prog", json={"name": "x"}, headers=editor))
    assert err["status"] == 409 and "config file" in err["message"]
    err = error_of(
        client.patch("/api/v1/programs/prog", json={"baseline_date": "2030-01-01"}, headers=editor)
    )
    assert err["status"] == 409  # config programs are refused before any validation
    world.set(origin="api", explicit_items={"keys": ["PAY-1"]})
    err = error_of(
        client.patch("/api/v1/programs/prog", json={"baseline_date": "2030-01-01"}, headers=editor)
    )
    assert err["status"] == 422 and "baseline_date" in err["message"]


# -- items ----------------------------------------------------------------------------------------


def test_item_search_filters_and_cursor(client: TestClient, world: World, token_for: Headers) -> None:
    h = token_for("viewer")
    assert error_of(client.get("/api/v1/items"))["status"] == 401

    def keys(**params: Any) -> list[str]:
        response = client.get("/api/v1/items", params=params, headers=h)
        assert response.status_code == 200, response.text
        return [i["key"] for i in response.json()["items"]]

    assert keys() == ["PAY-1", "PAY-2", "PAY-3", "acme/web#4"]
    assert keys(team="web") == ["acme/web#4"]
    assert keys(source="jira", status="in_progress") == ["PAY-1", "PAY-3"]
    assert keys(kind="epic") == ["PAY-1"]
    assert keys(label="launch") == ["PAY-2", "acme/web#4"]
    assert keys(q="web#") == ["acme/web#4"]
    assert keys(q="title pay-2") == ["PAY-2"]
    assert keys(program="prog", assignee="Ada", key="PAY-3") == ["PAY-3"]
    assert keys(updated_since=(datetime.now(UTC) - timedelta(hours=1)).isoformat()) == ["PAY-3"]

    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/items", params=params, headers=h).json()
        seen += [i["key"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["PAY-1", "PAY-2", "PAY-3", "acme/web#4"]
    err = error_of(client.get("/api/v1/items?cursor=garbage", headers=h))
    assert err["status"] == 422 and err["message"].startswith("cursor:")
    assert error_of(client.get("/api/v1/items?updated_since=2026-01-01T00:00:00", headers=h))["status"] == 422


def test_one_item(client: TestClient, world: World, token_for: Headers) -> None:
    h = token_for("viewer")
    epic = client.get(f"/api/v1/items/{world.items['PAY-1'].id}", headers=h).json()
    assert [c["key"] for c in epic["children"]] == ["PAY-2", "PAY-3"] and epic["programs"] == ["prog"]
    blocked = client.get(f"/api/v1/items/{world.items['PAY-3'].id}", headers=h).json()
    assert [(link["direction"], link["other_key"], link["type"]) for link in blocked["links"]] == [
        ("inward", "acme/web#4", "blocks")
    ]
    assert blocked["parent_key"] == "PAY-1" and blocked["team"] == "pay"
    done = client.get(f"/api/v1/items/{world.items['PAY-2'].id}", headers=h).json()
    assert [(c["from_category"], c["to_category"]) for c in done["history"]] == [("in_progress", "done")]
    assert error_of(client.get("/api/v1/items/999999", headers=h))["status"] == 404
    assert error_of(client.get("/api/v1/items/abc", headers=h))["status"] == 422


# -- sources --------------------------------------------------------------------------------------


def test_source_status_runs_and_events(client: TestClient, world: World, token_for: Headers) -> None:
    h = token_for("viewer")
    world.s.add(
        InboundEvent(
            source_id=world.jira.id,
            delivery_id="d1",
            event_type="jira:issue_updated",
            payload={},
            last_error="mapping failed: no fields",
            attempts=2,
        )
    )
    world.s.add(
        InboundEvent(source_id=world.jira.id, delivery_id="d2", event_type="jira:issue_updated", payload={})
    )
    world.s.add(SyncRun(source_id=world.jira.id, kind="incremental", status="failed", error_message="401"))
    world.s.flush()
    status = client.get("/api/v1/sources/jira", headers=h).json()
    assert (status["items"], status["pending_events"], status["failed_events"]) == (3, 1, 1)
    assert status["credentials_ref"] == "env:X"
    runs = client.get("/api/v1/sources/jira/runs", headers=h).json()
    assert [r["status"] for r in runs][:1] == ["failed"] or "failed" in [r["status"] for r in runs]
    failed = client.get("/api/v1/sources/jira/events?state=failed", headers=h).json()
    assert [(e["delivery_id"], e["last_error"]) for e in failed] == [("d1", "mapping failed: no fields")]
    pending = client.get("/api/v1/sources/jira/events?state=pending", headers=h).json()
    assert [e["delivery_id"] for e in pending] == ["d2"]
    for path in ("", "/runs", "/events"):
        assert error_of(client.get(f"/api/v1/sources/nope{path}", headers=h))["status"] == 404
    assert error_of(client.get("/api/v1/sources/jira/events?state=odd", headers=h))["status"] == 422


def test_sync_trigger(client: TestClient, world: World, token_for: Headers) -> None:
    assert error_of(client.post("/api/v1/sources/jira/sync", headers=token_for("viewer")))["status"] == 403
    editor = token_for("editor")
    assert error_of(client.post("/api/v1/sources/jira/sync", headers=editor))["status"] == 409  # no runtime
    calls: list[tuple[str, bool]] = []
    release = threading.Event()

    def sync(name: str, full: bool = False) -> Any:
        calls.append((name, full))
        release.wait(5)
        return SimpleNamespace(ok=True, error=None)

    client.app.state.runtime = SimpleNamespace(sync_engine=lambda: SimpleNamespace(sync=sync))  # type: ignore[attr-defined]
    first = client.post("/api/v1/sources/jira/sync?full=true", headers=editor)
    assert first.status_code == 202 and first.json() == {"source": "jira", "full": True, "status": "queued"}
    second = client.post("/api/v1/sources/jira/sync", headers=editor)
    assert second.json()["status"] == "already_running"
    release.set()
    assert error_of(client.post("/api/v1/sources/nope/sync", headers=editor))["status"] == 404
    for _ in range(100):
        if calls:
            break
        threading.Event().wait(0.05)
    assert calls == [("jira", True)]


# -- reports --------------------------------------------------------------------------------------


def test_reports(client: TestClient, world: World, token_for: Headers) -> None:
    viewer, editor = token_for("viewer"), token_for("editor")
    base = "/api/v1/programs/prog"
    preview = client.get(f"{base}/report", headers=viewer)
    assert (
        preview.status_code == 200
        and preview.json()["id"] is None
        and preview.json()["rag"] in {"green", "amber", "red"}
    )
    md = client.get(f"{base}/report?format=md&period_days=14", headers=viewer)
    assert md.headers["content-type"].startswith("text/markdown") and md.text.startswith(
        "# Prog: status report"
    )
    page = client.get(f"{base}/report?format=html", headers=viewer)
    assert page.headers["content-type"].startswith("text/html") and "<h2>Epics</h2>" in page.text
    assert client.get(f"{base}/reports", headers=viewer).json() == []  # previews are not stored

    assert error_of(client.post(f"{base}/reports", headers=viewer))["status"] == 403
    stored = client.post(f"{base}/reports", headers=editor)
    assert stored.status_code == 201 and stored.json()["id"] is not None
    report_id = stored.json()["id"]
    history = client.get(f"{base}/reports", headers=viewer).json()
    assert [(h["id"], h["headline"]) for h in history] == [(report_id, stored.json()["headline"])]
    one = client.get(f"{base}/reports/{report_id}?format=md", headers=viewer)
    assert one.status_code == 200 and stored.json()["headline"] in one.text
    assert error_of(client.get(f"{base}/reports/999999", headers=viewer))["status"] == 404
    assert error_of(client.get(f"{base}/report?period_days=0", headers=viewer))["status"] == 422
    assert error_of(client.get(f"{base}/report?format=pdf", headers=viewer))["status"] == 422
    assert error_of(client.get("/api/v1/programs/nope/reports", headers=viewer))["status"] == 404


def test_openapi_has_an_example_for_every_view_answer(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    views = [
        "ProgressView",
        "DependencyGraph",
        "TeamMatrix",
        "CriticalPath",
        "RiskView",
        "ForecastView",
        "BurnupView",
        "ReportContent",
        "ReportSummary",
    ]
    missing = [name for name in views if not schemas.get(name, {}).get("examples")]
    assert missing == []
    progress = document["paths"]["/api/v1/programs/{slug}/progress"]["get"]["responses"]["200"]
    assert progress["content"]["application/json"]["schema"]["$ref"].endswith("/ProgressView")
