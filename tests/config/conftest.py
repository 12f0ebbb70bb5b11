"""Helpers for the config tests: the repository's examples and a writer for config files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

DEMO_ENV = {
    "CROSSTRACK_JIRA_TOKEN": "jira-token-value",
    "CROSSTRACK_JIRA_WEBHOOK_SECRET": "jira-hook-secret",
    "CROSSTRACK_GITHUB_TOKEN": "ghp_githubtokenvalue",
    "CROSSTRACK_GITHUB_WEBHOOK_SECRET": "gh-hook-secret",
}

# A small valid config in TOML; tests append to it or replace lines in it.
MINIMAL_TOML = """\
[[sources]]
name = "jira"
kind = "jira"
base_url = "https://acme.atlassian.net"
user = "tpm@example.com"
token_env = "JIRA_TOKEN"

[sources.options]
projects = ["PAY", "PLAT"]

[[sources]]
name = "github"
kind = "github"
base_url = "https://api.github.com"
token_env = "GITHUB_TOKEN"

[sources.options]
org = "acme"
repos = ["web", "mobile"]

[[teams]]
slug = "payments"
name = "Payments"
scopes = [{ source = "jira", project = "PAY" }]

[[teams]]
slug = "web"
name = "Web"
scopes = [{ source = "github", repo = "acme/web", label = "frontend" }]

[[programs]]
slug = "checkout-v2"
name = "Checkout v2"
target_date = 2027-01-31
baseline_date = 2026-10-01
items = ["PAY-12", "acme/web#34"]

[[programs.scope]]
source = "jira"
jql = "labels = checkout-v2"

[[programs.scope]]
source = "github"
labels = ["checkout-v2"]
"""


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """write(text, name="crosstrack.toml") -> the path of a new file holding ``text``."""

    def _write(text: str | bytes, name: str = "crosstrack.toml") -> Path:
        path = tmp_path / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    return _write
