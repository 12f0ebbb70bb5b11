"""Tracker connectors: Jira and GitHub adapters behind one typed interface (PRODUCT §4).

Connectors know nothing of the database or of FastAPI. See :mod:`connectors.base` for the
interface, :mod:`connectors.records` for what they produce and :mod:`connectors.errors` for the
one error tree they raise.
"""
