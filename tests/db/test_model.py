"""The model keeps what a user depends on: aware UTC times, unique natural keys, isolation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from connectors.records import ItemKind, StatusCategory, TrackerKind
from sync.model import Source, WorkItem


def _source(session: Session, name: str = "jira") -> Source:
    src = Source(
        name=name,
        kind=TrackerKind.JIRA,
        base_url="https://x.example",
        flavour="cloud",
        credentials_ref="env:X",
    )
    session.add(src)
    session.flush()
    return src


def _item(src: Source, external_id: str, updated: datetime) -> WorkItem:
    return WorkItem(
        source_id=src.id,
        external_id=external_id,
        tracker=TrackerKind.JIRA,
        key=f"PAY-{external_id}",
        url="https://x.example/browse/PAY-1",
        title="t",
        scope="PAY",
        kind=ItemKind.STORY,
        original_type="Story",
        status_category=StatusCategory.TODO,
        original_status="To Do",
        resolution=None,
        original_resolution=None,
        remote_created_at=updated,
        remote_updated_at=updated,
    )


def test_timestamps_come_back_aware_in_utc(db_session: Session) -> None:
    src = _source(db_session)
    local = datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=-5)))
    db_session.add(_item(src, "1", local))
    db_session.flush()
    db_session.expire_all()
    got = db_session.scalar(select(WorkItem.remote_updated_at))
    assert got == local
    assert got is not None and got.utcoffset() == timedelta(0)
    assert got.hour == 6 and got.tzinfo is not None


def test_naive_datetimes_are_refused(db_session: Session) -> None:
    src = _source(db_session)
    db_session.add(_item(src, "1", datetime(2026, 1, 1)))
    with pytest.raises(Exception, match="naive datetime"):
        db_session.flush()


def test_natural_key_is_unique_per_source(db_session: Session) -> None:
    jira = _source(db_session, "jira")
    other = _source(db_session, "jira-dc")
    now = datetime.now(UTC)
    db_session.add_all([_item(jira, "10001", now), _item(other, "10001", now)])
    db_session.flush()  # same external id in two sources is fine
    db_session.add(_item(jira, "10001", now))
    with pytest.raises(IntegrityError):
        db_session.flush()


def test_each_test_starts_from_an_empty_database(db_session: Session) -> None:
    assert db_session.scalars(select(Source)).all() == []
