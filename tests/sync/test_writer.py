"""The item writer: guarded idempotent upserts, link replacement, late references, persons."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connectors.records import (
    ItemRef,
    LinkOrigin,
    ReleaseRecord,
    StatusCategory,
    StatusChangeRecord,
    TrackerKind,
)
from sync.model import Link, Person, PersonIdentity, Release, StatusChange, WorkItem, WorkItemRelease
from sync.writer import ItemWriter, waiting_keys
from tests.sync.factories import T0, blocks, github_item, jira_item, make_source, person


def _items(session: Session) -> dict[str, WorkItem]:
    return {w.key: w for w in session.scalars(select(WorkItem))}


def _links(session: Session) -> set[tuple[str, str, str, bool, bool]]:
    return {
        (lk.from_key, lk.to_key, lk.origin.value, lk.from_item_id is not None, lk.to_item_id is not None)
        for lk in session.scalars(select(Link))
    }


def test_older_payload_never_overwrites_newer_and_replays_change_nothing(db_session: Session) -> None:
    src = make_source(db_session)
    w = ItemWriter(db_session, src)
    first = w.write([jira_item(1, minutes=10, title="new title")])
    assert (first.created, first.updated, first.stale) == (1, 0, 0)

    late = w.write([jira_item(1, minutes=5, title="old title")])
    assert (late.created, late.updated, late.stale) == (0, 0, 1)
    replay = w.write([jira_item(1, minutes=10, title="new title")])
    assert (replay.created, replay.updated, replay.stale) == (0, 1, 0)

    db_session.expire_all()
    items = _items(db_session)
    assert list(items) == ["PAY-1"]
    assert items["PAY-1"].title == "new title"
    assert items["PAY-1"].remote_updated_at == T0.replace(minute=10)


def test_within_a_batch_the_newest_payload_of_an_item_wins(db_session: Session) -> None:
    src = make_source(db_session)
    result = ItemWriter(db_session, src).write(
        [jira_item(1, minutes=3, title="b"), jira_item(1, minutes=1, title="a")]
    )
    assert (result.seen, result.created) == (2, 1)
    assert db_session.scalar(select(WorkItem.title)) == "b"


def test_links_are_replaced_so_removed_links_disappear(db_session: Session) -> None:
    src = make_source(db_session)
    w = ItemWriter(db_session, src)
    a, b, c = jira_item(1), jira_item(2), jira_item(3)
    w.write(
        [
            replace(
                a,
                links=(
                    blocks(a, b, LinkOrigin.JIRA_ISSUELINK, "501"),
                    blocks(a, c, LinkOrigin.JIRA_ISSUELINK, "502"),
                ),
            ),
            replace(b, links=(blocks(a, b, LinkOrigin.JIRA_ISSUELINK, "501"),)),
            replace(c, links=(blocks(a, c, LinkOrigin.JIRA_ISSUELINK, "502"),)),
        ]
    )
    assert {(f, t) for f, t, *_ in _links(db_session)} == {("PAY-1", "PAY-2"), ("PAY-1", "PAY-3")}

    # PAY-1 changes: the link to PAY-3 was removed in Jira.
    w.write([replace(jira_item(1, minutes=1), links=(blocks(a, b, LinkOrigin.JIRA_ISSUELINK, "501"),))])
    assert {(f, t) for f, t, *_ in _links(db_session)} == {("PAY-1", "PAY-2")}


def test_cross_tracker_reference_resolves_when_the_target_arrives_later(db_session: Session) -> None:
    gh = make_source(db_session, "github", TrackerKind.GITHUB)
    jira = make_source(db_session, "jira")
    web5 = github_item("acme/web", 5)
    pay12 = ItemRef(TrackerKind.JIRA, "PAY-12")
    ItemWriter(db_session, gh).write([replace(web5, links=(blocks(pay12, web5, LinkOrigin.TEXT_REFERENCE),))])
    assert _links(db_session) == {("PAY-12", "acme/web#5", "text_reference", False, True)}

    ItemWriter(db_session, jira).write([jira_item(12)])
    assert _links(db_session) == {("PAY-12", "acme/web#5", "text_reference", True, True)}

    # The GitHub body no longer says it: the reference disappears on the next sync of that issue.
    ItemWriter(db_session, gh).write([github_item("acme/web", 5, minutes=1)])
    assert _links(db_session) == set()


def test_parent_resolves_in_either_order(db_session: Session) -> None:
    src = make_source(db_session)
    w = ItemWriter(db_session, src)
    w.write([jira_item(2, parent=ItemRef(TrackerKind.JIRA, "PAY-1"))])
    assert _items(db_session)["PAY-2"].parent_id is None
    w.write([jira_item(1)])
    db_session.expire_all()
    items = _items(db_session)
    assert items["PAY-2"].parent_id == items["PAY-1"].id


def test_persons_are_merged_across_tools_by_email(db_session: Session) -> None:
    jira = make_source(db_session, "jira")
    gh = make_source(db_session, "github", TrackerKind.GITHUB)
    ada_jira = person(TrackerKind.JIRA, "acc-1", email="Ada@Example.com", display_name="Ada")
    ada_gh = person(TrackerKind.GITHUB, "77", login="ada", email="ada@example.com")
    ItemWriter(db_session, jira).write([jira_item(1, assignee=ada_jira)])
    ItemWriter(db_session, gh).write([github_item("acme/web", 1, assignee=ada_gh)])
    assert db_session.scalar(select(func.count()).select_from(Person)) == 1
    assert db_session.scalar(select(func.count()).select_from(PersonIdentity)) == 2
    ids = set(db_session.scalars(select(WorkItem.assignee_id)))
    assert len(ids) == 1 and None not in ids


def test_status_history_is_stored_once_and_observed_changes_are_recorded(db_session: Session) -> None:
    jira = make_source(db_session, "jira")
    history = (
        StatusChangeRecord(
            at=T0.replace(hour=10),
            from_status="To Do",
            to_status="In Progress",
            from_category=StatusCategory.TODO,
            to_category=StatusCategory.IN_PROGRESS,
            external_id="h1",
        ),
    )
    w = ItemWriter(db_session, jira)
    w.write([jira_item(1, minutes=61, status_history=history)])
    w.write([jira_item(1, minutes=61, status_history=history)])  # replay
    assert db_session.scalar(select(func.count()).select_from(StatusChange)) == 1

    gh = make_source(db_session, "github", TrackerKind.GITHUB)
    g = ItemWriter(db_session, gh)
    g.write([github_item("acme/web", 1)])
    g.write(
        [github_item("acme/web", 1, minutes=5, original_status="closed", status_category=StatusCategory.DONE)]
    )
    changes = db_session.scalars(select(StatusChange).where(StatusChange.source_id == gh.id)).all()
    assert [(c.from_status, c.to_status, c.to_category) for c in changes] == [
        ("open", "closed", StatusCategory.DONE)
    ]


def test_a_parent_in_the_same_batch_is_resolved_whatever_the_order(db_session: Session) -> None:
    src = make_source(db_session)
    child = jira_item(2, parent=ItemRef(TrackerKind.JIRA, "PAY-1"))
    ItemWriter(db_session, src).write([child, jira_item(1)])
    db_session.expire_all()
    items = _items(db_session)
    assert items["PAY-2"].parent_id == items["PAY-1"].id


def test_a_run_writer_resolves_references_waiting_in_the_model_and_its_own(db_session: Session) -> None:
    """A sync run's writer only adopts keys something waits for (``waiting_keys``): rows written
    before the run and rows the run itself writes must both be resolved when the target arrives."""
    gh = make_source(db_session, "github", TrackerKind.GITHUB)
    jira = make_source(db_session, "jira")
    web5 = github_item("acme/web", 5)
    pay12 = ItemRef(TrackerKind.JIRA, "PAY-12")
    ItemWriter(db_session, gh).write([replace(web5, links=(blocks(pay12, web5, LinkOrigin.TEXT_REFERENCE),))])
    waiting = waiting_keys(db_session)
    assert waiting == {(TrackerKind.JIRA, "PAY-12")}

    run = ItemWriter(db_session, jira, waiting=waiting)
    run.write([jira_item(3, parent=ItemRef(TrackerKind.JIRA, "PAY-2"))])  # waits for PAY-2, written later
    assert (TrackerKind.JIRA, "PAY-2") in waiting
    run.write([jira_item(12)])
    run.write([jira_item(2)])
    db_session.expire_all()
    items = _items(db_session)
    assert items["PAY-3"].parent_id == items["PAY-2"].id
    assert _links(db_session) == {("PAY-12", "acme/web#5", "text_reference", True, True)}
    assert waiting == set()
    assert waiting_keys(db_session) == set()


def test_a_release_renamed_during_a_run_is_written_again_and_items_keep_pointing_at_it(
    db_session: Session,
) -> None:
    """The writer skips releases it has already written unchanged; a changed one is upserted."""
    src = make_source(db_session)
    w = ItemWriter(db_session, src)
    v1 = ReleaseRecord(external_id="r1", name="1.0", scope="PAY")
    w.write([jira_item(1, releases=(v1,)), jira_item(2, releases=(v1,))])
    w.write([jira_item(3, releases=(replace(v1, name="1.0 (renamed)"),))])
    db_session.expire_all()
    assert db_session.scalars(select(Release.name)).all() == ["1.0 (renamed)"]
    pairs = db_session.execute(
        select(WorkItem.key, Release.name)
        .join(WorkItemRelease, WorkItemRelease.work_item_id == WorkItem.id)
        .join(Release, Release.id == WorkItemRelease.release_id)
    ).all()
    assert sorted(pairs) == [
        ("PAY-1", "1.0 (renamed)"),
        ("PAY-2", "1.0 (renamed)"),
        ("PAY-3", "1.0 (renamed)"),
    ]
