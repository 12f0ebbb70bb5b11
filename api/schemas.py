"""Response models of the API (the OpenAPI document is generated from these)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class SourceOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "name": "jira",
                "kind": "jira",
                "base_url": "https://acme.atlassian.net",
                "flavour": "cloud",
                "credentials_ref": "env:CROSSTRACK_JIRA_TOKEN",
                "options": {"projects": ["PAY", "PLAT"]},
                "last_synced_at": "2026-11-22T09:00:00Z",
                "last_webhook_at": None,
            }
        }
    )

    name: str
    kind: str
    base_url: str
    flavour: str
    credentials_ref: str = Field(description="Where the secret is read from; never the secret itself.")
    options: dict[str, Any]
    last_synced_at: datetime | None
    last_webhook_at: datetime | None


class TeamScopeOut(BaseModel):
    source: str
    scope: str = Field(description="Jira project key or GitHub repository (owner/name).")
    component: str | None = None
    board: str | None = None
    label: str | None = None


class TeamOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "slug": "payments",
                "name": "Payments",
                "scopes": [
                    {"source": "jira", "scope": "PAY", "component": None, "board": None, "label": None}
                ],
            }
        }
    )

    slug: str
    name: str
    scopes: list[TeamScopeOut]


class ProgramOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "slug": "checkout-v2",
                "name": "Checkout v2",
                "owner": "tpm@example.com",
                "description": None,
                "target_date": "2027-01-29",
                "baseline_date": "2026-10-01",
                "scope_rules": {"rules": [{"source": "jira", "jql": "labels = checkout-v2"}]},
                "explicit_items": {"keys": []},
                "origin": "config",
                "item_count": 0,
            }
        }
    )

    slug: str
    name: str
    owner: str | None
    description: str | None
    target_date: date | None
    baseline_date: date | None
    scope_rules: dict[str, Any]
    explicit_items: dict[str, Any]
    origin: str = Field(description="`config` (from the config file) or `api` (created through the API).")
    item_count: int = Field(description="Items currently in the program's scope.")
