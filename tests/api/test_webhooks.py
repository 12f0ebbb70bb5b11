"""Webhook intake: verify, store once, answer 202; every bad input gets the right status, and
nothing unverified is stored."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from api.app import create_app
from sync.catalog import apply_config
from sync.config import load_config
from sync.db import make_engine, make_sessionmaker, session_scope, upgrade
from sync.model import InboundEvent
from sync.runtime import Runtime
from sync.settings import Settings
from sync.tasks import apply_job_schema
from tests.conftest import PG_ENV

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "crosstrack.toml"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "webhooks"
SECRET = "It's a Secret to Everybody"
ENV = {
    "CROSSTRACK_JIRA_TOKEN": "t",
    "CROSSTRACK_GITHUB_TOKEN": "t",
    "CROSSTRACK_GITHUB_WEBHOOK_SECRET": SECRET,
    "CROSSTRACK_JIRA_WEBHOOK_SECRET": SECRET,
}


@pytest.fixture
def committed(scratch_database_url: str) -> Iterator[tuple[Engine, str]]:
    """A migrated database of the test's own with the example catalog committed: the intake
    stores deliveries through its own writer and commits (it cannot join a test transaction)."""
    upgrade(scratch_database_url)
    engine = make_engine(scratch_database_url)
    with session_scope(make_sessionmaker(engine)) as session:
        apply_config(session, load_config(EXAMPLE))
    yield engine, scratch_database_url
    engine.dispose()


@pytest.fixture
def db_session(committed: tuple[Engine, str]) -> Iterator[Session]:
    """What the database holds (a fresh read per query: the intake commits on its own)."""
    with Session(committed[0]) as session:
        yield session


@pytest.fixture
def hooks(committed: tuple[Engine, str]) -> Iterator[TestClient]:
    engine, database_url = committed
    settings = Settings.from_env(
        {}, database_url=database_url, config_file=str(EXAMPLE), webhook_max_bytes=64_000
    )
    runtime = Runtime.build(settings, env=ENV, engine=engine)
    assert runtime.config is not None
    app = create_app(settings, engine=engine, load_config_file=False, runtime=runtime)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def _sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _github(
    client: TestClient,
    body: bytes,
    *,
    delivery: str = "d-1",
    event: str = "issues",
    signature: str | None = None,
):
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery, "Content-Type": "application/json"}
    headers["X-Hub-Signature-256"] = _sign(body) if signature is None else signature
    return client.post("/webhooks/github/github", content=body, headers=headers)


def _stored(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(InboundEvent)) or 0


def test_a_signed_delivery_is_stored_once_and_answered_202(hooks: TestClient, db_session: Session) -> None:
    body = (FIXTURES / "github-issues-opened.json").read_bytes()
    first = _github(hooks, body)
    assert first.status_code == 202
    assert first.json() == {"status": "accepted", "delivery_id": "d-1"}
    replay = _github(hooks, body)
    assert replay.status_code == 202
    assert replay.json()["status"] == "duplicate"
    rows = db_session.scalars(select(InboundEvent)).all()
    assert [(r.delivery_id, r.event_type, r.action, r.handled_at) for r in rows] == [
        ("d-1", "issues", "opened", None)
    ]


def test_a_jira_delivery_uses_the_atlassian_identifier(hooks: TestClient, db_session: Session) -> None:
    body = json.dumps(
        {"webhookEvent": "jira:issue_updated", "timestamp": 1763800000000, "issue": {"id": "10001"}}
    ).encode()
    headers = {"X-Hub-Signature": _sign(body), "X-Atlassian-Webhook-Identifier": "jira-42"}
    resp = hooks.post("/webhooks/jira/jira", content=body, headers=headers)
    assert resp.status_code == 202, resp.text
    row = db_session.scalars(select(InboundEvent)).one()
    assert (row.delivery_id, row.event_type) == ("jira-42", "jira:issue_updated")


@pytest.mark.parametrize(
    "signature",
    ["", "sha256=" + "0" * 64, "sha1=abc", _sign(b"another body")],
    ids=["missing", "wrong-digest", "wrong-algorithm", "signature-of-other-body"],
)
def test_missing_or_wrong_signature_is_401_and_nothing_is_stored(
    hooks: TestClient, db_session: Session, signature: str
) -> None:
    body = (FIXTURES / "github-ping.json").read_bytes()
    resp = _github(hooks, body, event="ping", signature=signature)
    assert resp.status_code == 401
    assert resp.json()["error"]["status"] == 401
    assert _stored(db_session) == 0


def test_signature_made_with_another_secret_is_401(hooks: TestClient, db_session: Session) -> None:
    body = b'{"zen": "Keep it logically awesome."}'
    assert _github(hooks, body, signature=_sign(body, "not the secret")).status_code == 401
    assert _stored(db_session) == 0


def test_body_that_is_not_json_is_400(hooks: TestClient, db_session: Session) -> None:
    body = b"<xml>not json</xml>"
    resp = _github(hooks, body)
    assert resp.status_code == 400
    assert "not JSON" in resp.json()["error"]["message"]
    assert _stored(db_session) == 0


def test_oversized_body_is_413(hooks: TestClient, db_session: Session) -> None:
    body = json.dumps({"padding": "x" * 70_000}).encode()
    assert _github(hooks, body).status_code == 413
    assert _stored(db_session) == 0


def test_unknown_source_or_wrong_kind_is_404(hooks: TestClient) -> None:
    body = b"{}"
    assert (
        hooks.post(
            "/webhooks/github/nope", content=body, headers={"X-Hub-Signature-256": _sign(body)}
        ).status_code
        == 404
    )
    assert (
        hooks.post(
            "/webhooks/jira/github", content=body, headers={"X-Hub-Signature": _sign(body)}
        ).status_code
        == 404
    )
    assert hooks.post("/webhooks/gitlab/github", content=body).status_code == 422


def test_unknown_event_is_accepted_as_a_no_op(hooks: TestClient, db_session: Session) -> None:
    body = b'{"action": "created", "starred_at": "2026-11-22T00:00:00Z"}'
    assert _github(hooks, body, event="star", delivery="star-1").status_code == 202


def test_without_a_configured_secret_webhooks_are_refused(
    committed: tuple[Engine, str], db_session: Session
) -> None:
    engine, database_url = committed
    settings = Settings.from_env({}, database_url=database_url, config_file=str(EXAMPLE))
    runtime = Runtime.build(
        settings, env={"CROSSTRACK_JIRA_TOKEN": "t", "CROSSTRACK_GITHUB_TOKEN": "t"}, engine=engine
    )
    app = create_app(settings, engine=engine, load_config_file=False, runtime=runtime)
    with TestClient(app, raise_server_exceptions=False) as client:
        body = b"{}"
        resp = client.post(
            "/webhooks/github/github", content=body, headers={"X-Hub-Signature-256": _sign(body, "")}
        )
    assert resp.status_code == 403
    assert "no webhook secret" in resp.json()["error"]["message"]
    assert _stored(db_session) == 0


def test_a_source_not_yet_loaded_into_the_database_is_404(scratch_database_url: str) -> None:
    upgrade(scratch_database_url)  # the config file names the source; no config apply happened
    engine = make_engine(scratch_database_url)
    settings = Settings.from_env({}, database_url=scratch_database_url, config_file=str(EXAMPLE))
    runtime = Runtime.build(settings, env=ENV, engine=engine)
    app = create_app(settings, engine=engine, load_config_file=False, runtime=runtime)
    body = (FIXTURES / "github-ping.json").read_bytes()
    with TestClient(app, raise_server_exceptions=False) as client:
        resp = _github(client, body, event="ping")
    assert resp.status_code == 404
    assert "not loaded into the database yet" in resp.json()["error"]["message"]
    with Session(engine) as session:
        assert _stored(session) == 0
    engine.dispose()


@pytest.mark.skipif(
    not os.environ.get(PG_ENV), reason="scaled-out mode runs on PostgreSQL: this runs in the PostgreSQL pass"
)
def test_scaled_out_the_inbox_job_is_queued_with_the_rows(committed: tuple[Engine, str]) -> None:
    engine, database_url = committed
    apply_job_schema(database_url)
    settings = Settings.from_env({}, database_url=database_url, config_file=str(EXAMPLE), run_mode="scaled")
    runtime = Runtime.build(settings, env=ENV, engine=engine)
    app = create_app(settings, engine=engine, load_config_file=False, runtime=runtime)
    body = (FIXTURES / "github-issues-opened.json").read_bytes()

    def jobs() -> list[tuple[str, str]]:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT task_name, status::text FROM procrastinate_jobs ORDER BY id"))
            return [(r[0], r[1]) for r in rows]

    with TestClient(app, raise_server_exceptions=False) as client:
        assert _github(client, body, delivery="s-1").status_code == 202
        assert jobs() == [("crosstrack:process_inbox", "todo")]
        # More deliveries while that job waits: the queueing lock keeps it to one pending job.
        assert [_github(client, body, delivery=f"s-{n}").status_code for n in range(2, 6)] == [202] * 4
        assert _github(client, body, delivery="s-1").json()["status"] == "duplicate"
    assert jobs() == [("crosstrack:process_inbox", "todo")]
    with Session(engine) as session:
        assert _stored(session) == 5
