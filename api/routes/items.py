"""Items: search with filters and cursor pagination; one item with links, children, history."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.deps import DbSession, Viewer
from api.errors import ApiError, error_responses
from connectors.records import ItemKind, StatusCategory
from sync.views.items import BadCursor, ItemDetail, ItemFilters, ItemPage, get_item, search_items

#: PostgreSQL text cannot hold NUL; refusing it here keeps such input a 422, not a database error.
NO_NUL = r"^[^\x00]*$"

router = APIRouter(
    prefix="/api/v1/items", tags=["items"], dependencies=[Viewer], responses=error_responses(401, 403, 422)
)

Text = Annotated[str | None, Query(max_length=255, pattern=NO_NUL)]


@router.get("", summary="Search items (filters combine with AND; cursor pagination)", response_model=ItemPage)
def list_items(
    session: DbSession,
    program: Annotated[str | None, Query(max_length=64, pattern=NO_NUL, description="Program slug.")] = None,
    team: Annotated[str | None, Query(max_length=64, pattern=NO_NUL, description="Team slug.")] = None,
    source: Annotated[str | None, Query(max_length=64, pattern=NO_NUL, description="Source name.")] = None,
    kind: ItemKind | None = None,
    status: Annotated[StatusCategory | None, Query(description="Status category.")] = None,
    assignee: Annotated[
        str | None, Query(max_length=320, pattern=NO_NUL, description="Login, email or display name.")
    ] = None,
    label: Text = None,
    updated_since: Annotated[datetime | None, Query(description="ISO 8601 with a time zone.")] = None,
    q: Annotated[
        str | None, Query(max_length=200, pattern=NO_NUL, description="Text in the key or title.")
    ] = None,
    key: Annotated[
        str | None,
        Query(max_length=255, pattern=NO_NUL, description="Exact key, e.g. PAY-12 or acme/web#34."),
    ] = None,
    cursor: Annotated[
        str | None, Query(max_length=64, pattern=NO_NUL, description="`next_cursor` of the previous page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> ItemPage:
    if updated_since is not None and updated_since.tzinfo is None:
        raise ApiError(
            422, "updated_since: give a time zone (e.g. 2026-11-01T00:00:00Z)", code="validation_error"
        )
    filters = ItemFilters(
        program=program,
        team=team,
        source=source,
        kind=kind,
        status=status,
        assignee=assignee,
        label=label,
        updated_since=updated_since,
        q=q,
        key=key,
    )
    try:
        return search_items(session, filters, cursor, limit)
    except BadCursor as exc:
        raise ApiError(422, str(exc), code="validation_error") from None


@router.get(
    "/{item_id}",
    summary="One item with its links, children, status history and programs",
    response_model=ItemDetail,
    responses=error_responses(404),
)
def one_item(item_id: Annotated[int, Path(ge=1, le=2**62)], session: DbSession) -> ItemDetail:
    item = get_item(session, item_id)
    if item is None:
        raise ApiError(404, f"no item {item_id}")
    return item
