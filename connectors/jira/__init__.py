"""The Jira connector (Cloud and Data Center). ``client.py`` is the only module importing ``jira``."""

from connectors.jira.connector import JiraConnector

__all__ = ["JiraConnector"]
