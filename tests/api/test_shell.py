"""The API shell: health, readiness, metrics, auth with roles, one error shape everywhere."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

Auth = Callable[[str], dict[str, str]]


def _assert_error(resp, status: int, code: str | None = None) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"}
    err = body["error"]
    assert err["status"] == status
    assert isinstance(err["message"], str) and err["message"]
    if code:
        assert err["code"] == code
    return err


def test_healthz_and_readyz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["schema_revision"]


def test_programs_lists_the_configured_program(
    client: TestClient, token_for: Auth, demo_catalog: None
) -> None:
    resp = client.get("/api/v1/programs", headers=token_for("viewer"))
    assert resp.status_code == 200
    programs = resp.json()
    assert [p["slug"] for p in programs] == ["checkout-v2"]
    assert programs[0]["name"] == "Checkout v2"
    assert programs[0]["origin"] == "config"


def test_sources_show_where_secrets_live_never_the_secret(
    client: TestClient, token_for: Auth, demo_catalog: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CROSSTRACK_JIRA_TOKEN", "super-secret-value")
    resp = client.get("/api/v1/sources", headers=token_for("viewer"))
    assert resp.status_code == 200
    by_name = {s["name"]: s for s in resp.json()}
    assert set(by_name) == {"jira", "github"}
    assert by_name["jira"]["credentials_ref"] == "env:CROSSTRACK_JIRA_TOKEN"
    assert "super-secret-value" not in resp.text
    assert "sandbox-token" not in resp.text


def test_teams_carry_their_tracker_scopes(client: TestClient, token_for: Auth, demo_catalog: None) -> None:
    teams = {t["slug"]: t for t in client.get("/api/v1/teams", headers=token_for("viewer")).json()}
    assert set(teams) == {"payments", "platform", "web", "mobile", "api-gateway"}
    assert teams["payments"]["scopes"] == [
        {"source": "jira", "scope": "PAY", "component": None, "board": None, "label": None}
    ]


@pytest.mark.parametrize("path", ["/api/v1/programs", "/api/v1/sources", "/api/v1/teams", "/api/v1/tokens"])
def test_no_token_is_401_in_the_error_shape(client: TestClient, path: str) -> None:
    resp = client.get(path)
    _assert_error(resp, 401, "unauthorized")
    assert resp.headers["www-authenticate"] == "Bearer"


def test_an_unknown_or_malformed_token_is_401(client: TestClient) -> None:
    _assert_error(client.get("/api/v1/programs", headers={"Authorization": "Bearer ct_nope"}), 401)
    _assert_error(client.get("/api/v1/programs", headers={"Authorization": "Basic abc"}), 401)


def test_wrong_role_is_403(client: TestClient, token_for: Auth) -> None:
    for role in ("viewer", "editor"):
        err = _assert_error(client.get("/api/v1/tokens", headers=token_for(role)), 403, "forbidden")
        assert "admin" in err["message"]
    assert client.get("/api/v1/tokens", headers=token_for("admin")).status_code == 200


def test_admin_creates_and_revokes_tokens(client: TestClient, token_for: Auth) -> None:
    admin = token_for("admin")
    created = client.post("/api/v1/tokens", json={"role": "viewer", "name": "dashboard"}, headers=admin)
    assert created.status_code == 201
    token = created.json()["token"]
    viewer = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/programs", headers=viewer).status_code == 200
    listed = client.get("/api/v1/tokens", headers=admin).json()
    assert token not in str(listed)
    assert client.delete(f"/api/v1/tokens/{created.json()['prefix']}", headers=admin).status_code == 204
    _assert_error(client.get("/api/v1/programs", headers=viewer), 401)


def test_unknown_route_405_and_validation_errors_share_the_shape(client: TestClient, token_for: Auth) -> None:
    err = _assert_error(client.get("/api/v1/nothing-here"), 404, "not_found")
    assert "/api/v1/nothing-here" in err["message"]
    _assert_error(client.put("/healthz"), 405)
    err = _assert_error(
        client.post("/api/v1/tokens", json={"role": "root"}, headers=token_for("admin")),
        422,
        "validation_error",
    )
    assert err["details"][0]["loc"] == "body.role"


def test_metrics_count_requests_by_route_template(client: TestClient) -> None:
    client.get("/healthz")
    client.get("/api/v1/tokens/abc")
    text = client.get("/metrics").text
    assert 'crosstrack_http_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert "/api/v1/tokens/abc" not in text  # templates, not raw paths


def test_openapi_documents_the_routes_and_error_shape(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/healthz", "/readyz", "/api/v1/programs", "/api/v1/sources", "/api/v1/teams"} <= set(
        spec["paths"]
    )
    assert "ErrorResponse" in spec["components"]["schemas"]
    assert client.get("/docs").status_code == 200
