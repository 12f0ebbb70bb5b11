"""The GitHub connector (github.com and Enterprise Server), PRODUCT §4.2.

Modules by role: :mod:`~connectors.github.client` (the only importer of PyGithub; the error table),
:mod:`~connectors.github.mapping` (pure payload → record functions), :mod:`~connectors.github.references`
(text references in bodies), :mod:`~connectors.github.webhooks` (signatures and typed events) and
:mod:`~connectors.github.connector` (:class:`GitHubConnector`, the :class:`~connectors.base.Connector`).
"""

from connectors.github.connector import GitHubConnector

__all__ = ["GitHubConnector"]
