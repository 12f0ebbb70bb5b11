"""GitHub does not retry failed webhook deliveries: crosstrack asks it to redeliver them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sync.inbox import redeliver_failed
from tests.e2e.conftest import World


def test_failed_github_deliveries_are_redelivered_once_each(make_world: Callable[..., World]) -> None:
    world = make_world()
    github = world.connector_for("github")
    # Our hook, registered through GitHub's API, at a URL where nothing answers; and someone else's.
    client = github.client  # type: ignore[attr-defined]
    ours_hook = client.post(
        "/repos/acme/web/hooks",
        {"events": ["issues"], "config": {"url": "http://127.0.0.1:9/webhooks/github/github", "secret": "s"}},
    ).data["id"]
    client.post(
        "/repos/acme/web/hooks",
        {"events": ["issues"], "config": {"url": "http://127.0.0.1:9/other-tool", "secret": "s"}},
    )
    world.sb.mutate(tracker="github", op="update", key="acme/web#5", fields={"title": "first"})
    world.sb.mutate(tracker="github", op="update", key="acme/web#6", fields={"title": "second"})
    deliveries = world.sb.deliveries(wait=10.0, tracker="github")
    ours = [d for d in deliveries if d["hook_id"] == ours_hook]
    assert {d["event"] for d in ours} == {"ping", "issues"}
    assert all(not 200 <= d["status_code"] < 300 for d in ours)

    asked = redeliver_failed(world.connector_for, ["jira", "github"], timedelta(hours=1))
    assert asked == len({d.get("guid") for d in ours})
    world.sb.deliveries(wait=10.0, tracker="github")
    ledger = world.sb.stats()["entries"]
    attempts = [e for e in ledger if e["method"] == "POST" and e["route"].endswith("/attempts")]
    assert len(attempts) == asked
    assert all("/other-tool" not in e["path"] for e in attempts)
