"""Shared fixtures for the GitHub connector tests: the copied webhook examples (MIT, @octokit/webhooks-examples)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "github"
EXAMPLES = FIXTURES / "webhook-examples"


def example(name: str) -> dict[str, Any]:
    """``issues/opened.1`` → the parsed example payload."""
    return json.loads((EXAMPLES / f"{name}.json").read_text())


def all_examples() -> list[Path]:
    return sorted(EXAMPLES.glob("*/*.json"))


@pytest.fixture
def issue_payload() -> dict[str, Any]:
    return example("issues/opened.1")["issue"]
