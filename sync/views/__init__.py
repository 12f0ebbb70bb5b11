"""Program views (PRODUCT §6.2): computations over the model, independent of HTTP.

Each module takes a session and a program and answers a typed result (pydantic models, so the
API can return them as they are): ``progress``, ``dependencies``, ``risks``, ``forecast``,
``burnup`` and ``report``. Aggregations run in the database; Python only rolls up the few
grouped rows (see docs/adr/0009-program-views.md for the definitions).
"""
