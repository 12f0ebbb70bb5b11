"""Which connector class serves which tracker: a plain dict, no magic."""

from __future__ import annotations

from collections.abc import Callable

from connectors.base import Connector, SourceSettings
from connectors.records import TrackerKind

__all__ = ["CONNECTORS", "build_connector"]


def _jira(settings: SourceSettings) -> Connector:
    from connectors.jira.connector import JiraConnector

    return JiraConnector(settings)


def _github(settings: SourceSettings) -> Connector:
    from connectors.github.connector import GitHubConnector

    return GitHubConnector(settings)


#: Imported lazily: a process that only talks to GitHub never imports the jira package.
CONNECTORS: dict[TrackerKind, Callable[[SourceSettings], Connector]] = {
    TrackerKind.JIRA: _jira,
    TrackerKind.GITHUB: _github,
}


def build_connector(settings: SourceSettings) -> Connector:
    return CONNECTORS[settings.kind](settings)
