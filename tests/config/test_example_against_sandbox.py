"""The shipped example config works against the sandbox's demo organization: every team scope
names a project or repository that exists there, and connectors built from the config read it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.records import ItemRef, TrackerKind
from connectors.registry import build_connector
from sandbox.testing import DEMO_CREDENTIALS, SandboxHandle, running_sandbox
from sync.config import load_config

from .conftest import EXAMPLES

ENV = {
    "CROSSTRACK_JIRA_TOKEN": DEMO_CREDENTIALS["jira_token"],
    "CROSSTRACK_GITHUB_TOKEN": DEMO_CREDENTIALS["github_token"],
    "CROSSTRACK_JIRA_WEBHOOK_SECRET": "demo-jira-secret",
    "CROSSTRACK_GITHUB_WEBHOOK_SECRET": "demo-github-secret",
}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox() as sb:
        yield sb


def test_every_team_scope_of_the_example_exists_in_the_demo_org(
    sandbox: SandboxHandle, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # The example points at the sandbox's default port; this one runs on a free port.
    text = (EXAMPLES / "crosstrack.toml").read_text().replace("http://127.0.0.1:8765", sandbox.url)
    path = tmp_path_factory.mktemp("example") / "crosstrack.toml"
    path.write_text(text)
    config = load_config(path)
    connectors = {s.name: build_connector(config.source_settings(s.name, ENV)) for s in config.sources}

    seen = {}
    for team in config.teams:
        for scope in team.scopes:
            if scope.project is not None:
                record = connectors[scope.source].fetch_item(ItemRef(TrackerKind.JIRA, f"{scope.project}-1"))
            else:
                record = connectors[scope.source].fetch_item(ItemRef(TrackerKind.GITHUB, f"{scope.repo}#1"))
            seen[team.slug] = record.scope
    assert seen == {
        "payments": "PAY",
        "platform": "PLAT",
        "web": "acme/web",
        "mobile": "acme/mobile",
        "api-gateway": "acme/api-gateway",
    }


def test_example_covers_the_demo_org_and_its_program(sandbox: SandboxHandle) -> None:
    config = load_config(EXAMPLES / "crosstrack.toml")
    items = sandbox.truth()["items"]
    team_scopes = {scope.project or scope.repo for team in config.teams for scope in team.scopes}
    # Every project and repository of the demo belongs to a team.
    assert {item["scope"] for item in items} == team_scopes
    # The program's label selects epics in every team's scope.
    [program] = config.programs
    jira_rule, github_rule = program.scope
    assert jira_rule.jql == "labels = checkout-v2"
    assert github_rule.labels == ["checkout-v2"]
    labelled = {item["scope"] for item in items if "checkout-v2" in item["labels"]}
    assert labelled == team_scopes
