"""The tracker sandbox: one local server that is both a Jira and a GitHub (PRODUCT §8).

Entry points: ``sandbox.server.serve`` (the ``crosstrack sandbox`` command), ``sandbox.app.create_app``
and, for tests, ``sandbox.testing.running_sandbox``. See sandbox/README.md.
"""
