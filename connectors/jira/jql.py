"""JQL the Jira connector sends: search filters and the time-zone-correct ``updated >=`` bound.

JQL dates carry no zone and have minute granularity; Jira reads them in the *searching account's*
profile time zone (``/myself`` → ``timeZone``), not UTC
(https://support.atlassian.com/jira-software-cloud/docs/jql-fields/#Updated). Formatting a cursor
in UTC would skip up to a day of changes for an account east of UTC, so every bound is converted to
that zone, moved back by the overlap window and floored to the minute.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

__all__ = [
    "JQL_DATE_FORMAT",
    "changed_since_jql",
    "format_jql_instant",
    "ids_jql",
    "keys_jql",
    "quote",
    "wall_time_instants",
]

JQL_DATE_FORMAT = "%Y/%m/%d %H:%M"  # "yyyy/MM/dd HH:mm", the form every Jira version accepts

_ORDER_BY = re.compile(r"\border\s+by\b", re.IGNORECASE)
_BARE_VALUE = re.compile(r"^[A-Za-z0-9_]+$")
# Words JQL reserves: a project key equal to one of them must be quoted.
_RESERVED = frozenset(
    {"and", "or", "not", "in", "is", "empty", "null", "order", "by", "asc", "desc", "was", "changed"}
)


def quote(value: str) -> str:
    """Quote a JQL value when it needs it (spaces, reserved words, punctuation)."""
    if _BARE_VALUE.match(value) and value.lower() not in _RESERVED:
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def wall_time_instants(wall: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Both UTC instants a naive local wall time can mean (equal unless it falls in a DST fold)."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    return (first, second) if first <= second else (second, first)


def format_jql_instant(instant: datetime, zone: ZoneInfo, overlap: timedelta = timedelta(0)) -> str:
    """The JQL date that selects everything updated at or after ``instant - overlap``.

    The result, read as a wall time in ``zone`` by Jira, never means a later instant than
    ``instant - overlap``: it is floored to the minute, and when the wall time is ambiguous (the
    repeated hour when DST ends) it is moved back until every reading of it is early enough, so
    whichever of the two instants Jira picks, nothing updated after the bound is skipped.
    """
    if instant.tzinfo is None:
        raise ValueError("format_jql_instant needs an aware datetime")
    bound = instant.astimezone(UTC) - overlap
    candidate = bound
    while True:
        wall = candidate.astimezone(zone).replace(second=0, microsecond=0, tzinfo=None)
        if wall_time_instants(wall, zone)[1] <= bound:
            return wall.strftime(JQL_DATE_FORMAT)
        candidate -= timedelta(minutes=30)


def _in_clause(field: str, values: Iterable[str]) -> str:
    return f"{field} in ({', '.join(quote(v) for v in values)})"


def changed_since_jql(
    projects: Sequence[str],
    extra: str | None,
    since: str | None,
    order: str = "created ASC, id ASC",
) -> str:
    """The search for changed issues: project filter AND extra filter AND ``updated >= since``.

    ``since`` is a JQL date already formatted by :func:`format_jql_instant` (or ``None`` for a
    full scan). The order is chosen by the caller; see ``JiraConnector.list_changed`` for why it
    is ``created`` and not ``updated``.
    """
    clauses: list[str] = []
    if projects:
        clauses.append(_in_clause("project", projects))
    if extra and extra.strip():
        # Our order is what makes paging safe: an ORDER BY in the configured filter is dropped.
        where = _ORDER_BY.split(extra, maxsplit=1)[0].strip()
        if where:
            clauses.append(f"({where})")
    if since is not None:
        clauses.append(f'updated >= "{since}"')
    if not clauses:
        # Cloud's search/jql refuses unbounded queries; this bound selects every issue.
        clauses.append('created >= "1970/01/01 00:00"')
    return f"{' AND '.join(clauses)} ORDER BY {order}"


def ids_jql(ids: Iterable[str]) -> str:
    return f"{_in_clause('id', ids)} ORDER BY id ASC"


def keys_jql(keys: Iterable[str]) -> str:
    return f"{_in_clause('key', keys)} ORDER BY key ASC"
