"""Mapping from Jira payloads to records: table-driven over real-shaped Cloud and DC payloads."""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.errors import InvalidResponse
from connectors.jira.mapping import (
    FieldMap,
    MappingContext,
    category_of,
    discover_fields,
    github_ref_from_url,
    map_changelog,
    map_issue,
    map_issue_links,
    map_person,
    map_remote_links,
    map_sprint,
    pick_sprint,
    plain_text,
    remote_link_changed,
    resolution_of,
)
from connectors.records import (
    ItemKind,
    ItemRef,
    LinkOrigin,
    LinkRecord,
    LinkType,
    PersonRecord,
    ReleaseRecord,
    Resolution,
    SprintRecord,
    StatusCategory,
    StatusChangeRecord,
    TrackerKind,
)
from tests.connectors.jira import payloads as p

J = TrackerKind.JIRA
G = TrackerKind.GITHUB
PAY12 = ItemRef(J, "PAY-12", "10012")
cloud_map = discover_fields(p.CLOUD_FIELDS)
dc_map = discover_fields(p.DC_FIELDS)


def ctx(fields: FieldMap = cloud_map) -> MappingContext:
    return MappingContext(base_url="https://acme.atlassian.net", fields=fields, keep_raw=False)


def test_discovery_finds_custom_fields_by_schema_not_name() -> None:
    assert cloud_map == FieldMap(
        story_points="customfield_10016",
        sprint="customfield_10020",
        epic_link="customfield_10014",
        start_date="customfield_10015",
    )
    # Data Center: the classic float field named "Story Points".
    assert dc_map == FieldMap(
        story_points="customfield_10106", sprint="customfield_10101", epic_link="customfield_10100"
    )


def test_options_override_discovery() -> None:
    fm = discover_fields(
        p.CLOUD_FIELDS, {"story_points_field": "customfield_10099", "sprint_field": "customfield_1"}
    )
    assert (fm.story_points, fm.sprint, fm.epic_link) == (
        "customfield_10099",
        "customfield_1",
        "customfield_10014",
    )


def test_cloud_issue_maps_every_field() -> None:
    record = map_issue(p.cloud_issue(), ctx())
    assert record.tracker is J
    assert (record.external_id, record.key, record.scope) == ("10012", "PAY-12", "PAY")
    assert record.url == "https://acme.atlassian.net/browse/PAY-12"
    assert record.title == "Checkout: card form validation"
    assert (record.kind, record.original_type) == (ItemKind.STORY, "Story")
    assert (record.status_category, record.original_status) == (StatusCategory.IN_PROGRESS, "In Review")
    assert (record.resolution, record.original_resolution, record.resolved_at) == (None, None, None)
    assert record.created_at == datetime(2026, 8, 31, 23, 15, tzinfo=UTC)
    assert record.updated_at == datetime(2026, 11, 20, 13, 59, 30, 512000, tzinfo=UTC)
    assert record.assignee == PersonRecord(
        J, "5b10ac8d82e05b22cc7d4ef5", None, "mia@example.com", "Mia Krystof"
    )
    assert record.parent == ItemRef(J, "PAY-3", "10003")
    assert record.estimate == 5.0
    assert record.labels == ("checkout-v2", "frontend")
    assert record.releases == (
        ReleaseRecord("10100", "2026.12", "PAY", date(2026, 12, 15), False, None, record.releases[0].raw),
    )
    assert record.sprint == SprintRecord(
        "8",
        "PAY Sprint 8",
        "active",
        datetime(2026, 11, 2, tzinfo=UTC),
        datetime(2026, 11, 16, tzinfo=UTC),
    )
    assert (record.start_date, record.due_date) == (date(2026, 11, 2), date(2026, 12, 1))
    assert (record.links, record.links_complete) == ((), frozenset({LinkOrigin.JIRA_ISSUELINK}))
    assert record.status_history is not None
    assert [(c.from_status, c.to_status, c.from_category, c.to_category) for c in record.status_history] == [
        ("To Do", "In Progress", StatusCategory.TODO, StatusCategory.IN_PROGRESS),
        ("In Progress", "In Review", StatusCategory.IN_PROGRESS, StatusCategory.IN_PROGRESS),
    ]


def test_data_center_issue_uses_epic_link_and_legacy_sprints() -> None:
    record = map_issue(p.dc_issue(), ctx(_dc_fields()))
    assert record.parent == ItemRef(J, "PAY-3")  # Epic Link carries a key only
    assert record.assignee == PersonRecord(J, "JIRAUSER10100", "mkrystof", "mia@example.com", "Mia Krystof")
    assert record.sprint is not None
    assert (record.sprint.external_id, record.sprint.name, record.sprint.state) == (
        "8",
        "PAY Sprint 8, the big one",
        "active",
    )
    assert record.sprint.start == datetime(2026, 11, 1, 23, tzinfo=UTC)
    assert record.estimate == 5.0
    assert record.updated_at == datetime(2026, 11, 20, 14, 59, 30, 512000, tzinfo=UTC)


def _dc_fields() -> FieldMap:
    # The DC payload builder reuses Cloud's field ids for story points and sprint.
    return FieldMap(
        story_points="customfield_10016", sprint="customfield_10020", epic_link="customfield_10014"
    )


@pytest.mark.parametrize(
    ("status", "resolution", "expected"),
    [
        (p.STATUS_TODO, None, (StatusCategory.TODO, None)),
        (p.STATUS_IN_REVIEW, {"id": "10000", "name": "Done"}, (StatusCategory.IN_PROGRESS, None)),
        (p.STATUS_DONE, {"id": "10000", "name": "Done"}, (StatusCategory.DONE, Resolution.COMPLETED)),
        (p.STATUS_DONE, {"id": "10001", "name": "Won't Do"}, (StatusCategory.DONE, Resolution.WONT_DO)),
        (p.STATUS_DONE, {"id": "10001", "name": "Won\u2019t Do"}, (StatusCategory.DONE, Resolution.WONT_DO)),
        (p.STATUS_DONE, {"id": "2", "name": "Won't Fix"}, (StatusCategory.DONE, Resolution.WONT_DO)),
        (p.STATUS_DONE, {"id": "3", "name": "Duplicate"}, (StatusCategory.DONE, Resolution.WONT_DO)),
        (p.STATUS_DONE, {"id": "5", "name": "Fixed"}, (StatusCategory.DONE, Resolution.COMPLETED)),
        (p.STATUS_DONE, None, (StatusCategory.DONE, Resolution.COMPLETED)),
        # The name says "Done" but the category is what counts.
        ({**p.STATUS_TODO, "name": "Done"}, None, (StatusCategory.TODO, None)),
    ],
)
def test_status_and_resolution(status: dict[str, Any], resolution: Any, expected: tuple[Any, Any]) -> None:
    record = map_issue(p.cloud_issue(fields__status=status, fields__resolution=resolution), ctx())
    assert (record.status_category, record.resolution) == expected


@given(
    st.one_of(st.none(), st.text(max_size=12), st.sampled_from(["new", "indeterminate", "done", "undefined"]))
)
def test_status_category_is_total_and_uses_the_key_only(key: str | None) -> None:
    expected = {
        "new": StatusCategory.TODO,
        "indeterminate": StatusCategory.IN_PROGRESS,
        "done": StatusCategory.DONE,
    }
    got = category_of({"name": "Done", "statusCategory": {"key": key}})
    assert got is expected.get(key or "", StatusCategory.TODO)


@given(st.sampled_from(list(StatusCategory)), st.one_of(st.none(), st.text(max_size=20)))
def test_resolution_only_for_done(category: StatusCategory, name: str | None) -> None:
    got = resolution_of(category, {"name": name} if name is not None else None)
    if category is StatusCategory.DONE:
        assert got in (Resolution.COMPLETED, Resolution.WONT_DO)
    else:
        assert got is None


@pytest.mark.parametrize(
    ("issuetype", "kind"),
    [
        ({"name": "Initiative", "hierarchyLevel": 2}, ItemKind.INITIATIVE),
        ({"name": "Epic", "hierarchyLevel": 1}, ItemKind.EPIC),
        ({"name": "Story"}, ItemKind.STORY),
        ({"name": "Task"}, ItemKind.TASK),
        ({"name": "Bug"}, ItemKind.BUG),
        ({"name": "Sub-task", "subtask": True}, ItemKind.SUBTASK),
        ({"name": "Subtask", "subtask": True, "hierarchyLevel": -1}, ItemKind.SUBTASK),
        ({"name": "QA check", "subtask": True}, ItemKind.SUBTASK),
        ({"name": "Feature", "hierarchyLevel": 1}, ItemKind.EPIC),
        ({"name": "Spike", "hierarchyLevel": 0}, ItemKind.OTHER),
    ],
)
def test_kind(issuetype: dict[str, Any], kind: ItemKind) -> None:
    record = map_issue(p.cloud_issue(fields__issuetype=issuetype), ctx())
    assert (record.kind, record.original_type) == (kind, issuetype["name"])


def test_issue_links_are_directed_by_type_and_side() -> None:
    links = [
        {"id": "501", "type": p.BLOCKS, "outwardIssue": p.issue_ref("10020", "PAY-20")},
        {"id": "502", "type": p.BLOCKS, "inwardIssue": p.issue_ref("10021", "PLAT-7")},
        {"id": "503", "type": p.RELATES, "outwardIssue": p.issue_ref("10022", "PAY-22")},
        {"id": "504", "type": p.RELATES, "inwardIssue": p.issue_ref("10023", "PAY-23")},
        {"id": "505", "type": p.DUPLICATE, "outwardIssue": p.issue_ref("10024", "PAY-24")},
        {"id": "506", "type": p.DUPLICATE, "inwardIssue": p.issue_ref("10025", "PAY-25")},
        {"id": "507", "type": p.CLONERS, "outwardIssue": p.issue_ref("10026", "PAY-26")},
        {
            "id": "508",
            "type": {
                "id": "10100",
                "name": "Dependency",
                "inward": "is depended on by",
                "outward": "depends on",
            },
            "outwardIssue": p.issue_ref("10027", "PAY-27"),
        },
    ]
    got = map_issue_links(PAY12, links)

    def ref(iid: str, key: str) -> ItemRef:
        return ItemRef(J, key, iid)

    o = LinkOrigin.JIRA_ISSUELINK
    assert got == (
        LinkRecord(PAY12, ref("10020", "PAY-20"), LinkType.BLOCKS, o, "blocks", "501"),
        LinkRecord(ref("10021", "PLAT-7"), PAY12, LinkType.BLOCKS, o, "is blocked by", "502"),
        LinkRecord(PAY12, ref("10022", "PAY-22"), LinkType.RELATES, o, "relates to", "503"),
        LinkRecord(ref("10023", "PAY-23"), PAY12, LinkType.RELATES, o, "relates to", "504"),
        LinkRecord(PAY12, ref("10024", "PAY-24"), LinkType.DUPLICATES, o, "duplicates", "505"),
        LinkRecord(ref("10025", "PAY-25"), PAY12, LinkType.DUPLICATES, o, "is duplicated by", "506"),
        LinkRecord(PAY12, ref("10026", "PAY-26"), LinkType.RELATES, o, "clones", "507"),
        # "A depends on B" means B blocks A.
        LinkRecord(ref("10027", "PAY-27"), PAY12, LinkType.BLOCKS, o, "depends on", "508"),
    )


def test_a_link_reads_the_same_from_both_ends() -> None:
    pay20 = ItemRef(J, "PAY-20", "10020")
    from_a = map_issue_links(
        PAY12, [{"id": "9", "type": p.BLOCKS, "outwardIssue": p.issue_ref("10020", "PAY-20")}]
    )
    from_b = map_issue_links(
        pay20, [{"id": "9", "type": p.BLOCKS, "inwardIssue": p.issue_ref("10012", "PAY-12")}]
    )
    assert [(lk.source, lk.target, lk.type, lk.external_id) for lk in from_a] == [
        (lk.source, lk.target, lk.type, lk.external_id) for lk in from_b
    ]


def test_remote_links_to_github_issues_become_cross_tracker_links() -> None:
    remote = [
        {
            "id": 40001,
            "globalId": "github=acme/api-gateway#2",
            "application": {"type": "com.github", "name": "GitHub"},
            "relationship": "blocks",
            "object": {"url": "https://github.com/acme/api-gateway/issues/2", "title": "acme/api-gateway#2"},
        },
        {
            "id": 40002,
            "relationship": "is blocked by",
            "object": {"url": "https://github.com/acme/web/issues/5", "title": "web 5"},
        },
        {"id": 40003, "object": {"url": "https://github.com/acme/web/pull/9", "title": "a pull request"}},
        {
            "id": 40004,
            "relationship": "mentioned in",
            "object": {"url": "https://wiki.example.com/x", "title": "doc"},
        },
        {"id": 40005, "object": {"url": "https://github.com/acme/web", "title": "repo"}},
    ]
    o = LinkOrigin.REMOTE_LINK
    assert map_remote_links(PAY12, remote) == (
        LinkRecord(PAY12, ItemRef(G, "acme/api-gateway#2"), LinkType.BLOCKS, o, "blocks", "40001"),
        LinkRecord(ItemRef(G, "acme/web#5"), PAY12, LinkType.BLOCKS, o, "is blocked by", "40002"),
    )


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("https://github.com/acme/web/issues/34", "acme/web#34"),
        ("http://github.com/acme/web/issues/34/", "acme/web#34"),
        ("https://GitHub.com/acme/web/issues/34#issuecomment-1", "acme/web#34"),
        ("https://github.com/acme/web/issues", None),
        ("https://gitlab.com/acme/web/issues/34", None),
        ("not a url", None),
    ],
)
def test_github_ref_from_url(url: str, key: str | None) -> None:
    ref = github_ref_from_url(url)
    assert (ref.key if ref else None) == key


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (None, None),
        ([], None),
        ([{"id": 1, "name": "S1", "state": "closed", "endDate": "2026-01-14T00:00:00.000Z"}], "1"),
        (
            [
                {"id": 1, "name": "S1", "state": "closed", "endDate": "2026-01-14T00:00:00.000Z"},
                {"id": 2, "name": "S2", "state": "closed", "endDate": "2026-01-28T00:00:00.000Z"},
            ],
            "2",
        ),
        (
            [
                {"id": 3, "name": "S3", "state": "future"},
                {"id": 2, "name": "S2", "state": "closed", "endDate": "2026-01-28T00:00:00.000Z"},
            ],
            "3",
        ),
        (
            [
                "com.atlassian.greenhopper.service.sprint.Sprint@1[id=4,rapidViewId=1,state=FUTURE,name=S4,startDate=<null>,endDate=<null>]"
            ],
            "4",
        ),
    ],
)
def test_pick_sprint(values: Any, expected: str | None) -> None:
    got = pick_sprint(values)
    assert (got.external_id if got else None) == expected


def test_legacy_sprint_string_fields() -> None:
    text = (
        "com.atlassian.greenhopper.service.sprint.Sprint@14b1c359[id=12,rapidViewId=3,state=CLOSED,"
        "name=Sprint 12, part 2,goal=,startDate=2020-01-01T10:00:00.000Z,endDate=2020-01-14T10:00:00.000Z,"
        "completeDate=<null>,sequence=12]"
    )
    assert map_sprint(text) == SprintRecord(
        "12",
        "Sprint 12, part 2",
        "closed",
        datetime(2020, 1, 1, 10, tzinfo=UTC),
        datetime(2020, 1, 14, 10, tzinfo=UTC),
    )
    assert map_sprint("garbage") is None


def test_truncated_changelog_leaves_history_unfetched() -> None:
    issue = p.cloud_issue()
    issue["changelog"]["total"] = 150
    issue["changelog"]["startAt"] = 148
    assert map_issue(issue, ctx()).status_history is None
    # With the full list fetched separately, the history is complete.
    full = map_issue(issue, ctx(), histories=issue["changelog"]["histories"])
    assert full.status_history is not None and len(full.status_history) == 2


def test_changelog_uses_known_categories_and_falls_back_to_names() -> None:
    histories = [
        {
            "id": "3",
            "created": "2026-01-02T00:00:00.000+0000",
            "items": [
                {"field": "status", "from": "1", "fromString": "Open", "to": "6", "toString": "Closed"}
            ],
        },
        {
            "id": "2",
            "created": "2026-01-01T00:00:00.000+0000",
            "items": [
                {"field": "status", "from": "10000", "fromString": "To Do", "to": "777", "toString": "Doing"}
            ],
        },
    ]
    got = map_changelog(histories, {"10000": StatusCategory.TODO})
    assert got == (
        StatusChangeRecord(
            datetime(2026, 1, 1, tzinfo=UTC),
            "To Do",
            "Doing",
            StatusCategory.TODO,
            StatusCategory.IN_PROGRESS,
            None,
            "2",
        ),
        StatusChangeRecord(
            datetime(2026, 1, 2, tzinfo=UTC),
            "Open",
            "Closed",
            StatusCategory.TODO,
            StatusCategory.DONE,
            None,
            "3",
        ),
    )


def test_remote_link_changes_are_seen_in_the_window_only() -> None:
    histories = [
        {
            "id": "1",
            "created": "2026-01-05T00:00:00.000+0000",
            "items": [
                {
                    "field": "RemoteIssueLink",
                    "fieldtype": "jira",
                    "to": "40001",
                    "toString": "This issue links to x",
                }
            ],
        }
    ]
    assert remote_link_changed(histories, None)
    assert remote_link_changed(histories, datetime(2026, 1, 4, tzinfo=UTC))
    assert not remote_link_changed(histories, datetime(2026, 1, 6, tzinfo=UTC))
    assert not remote_link_changed(p.cloud_issue()["changelog"]["histories"], None)


def test_person_without_identity_is_none() -> None:
    assert map_person(None) is None
    assert map_person({"displayName": "Former user"}) is None


@pytest.mark.parametrize("path", ["id", "key", "fields"])
def test_missing_required_parts_are_invalid_responses(path: str) -> None:
    issue = p.cloud_issue()
    del issue[path]
    with pytest.raises(InvalidResponse):
        map_issue(issue, ctx())


def test_unreadable_timestamp_is_an_invalid_response() -> None:
    with pytest.raises(InvalidResponse, match="unreadable timestamp"):
        map_issue(p.cloud_issue(fields__updated="yesterday"), ctx())


def test_text_references_to_github_in_descriptions() -> None:
    adf = {
        "type": "doc",
        "version": 1,
        "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "Card form for checkout."}]},
            {"type": "paragraph", "content": [{"type": "text", "text": "Blocked by acme/web#5."}]},
            {
                "type": "paragraph",
                "content": [
                    {
                        "type": "text",
                        "text": "Blocks https://github.com/acme/mobile/issues/7 and see acme/web#8.",
                    }
                ],
            },
            {
                "type": "paragraph",
                "content": [{"type": "text", "text": "blocks https://gitlab.com/acme/x/issues/1"}],
            },
        ],
    }
    for description in (adf, plain_text(adf)):
        record = map_issue(p.cloud_issue(fields__description=description), ctx())
        o = LinkOrigin.TEXT_REFERENCE
        assert [(lk.source, lk.target, lk.type, lk.origin) for lk in record.links] == [
            (ItemRef(G, "acme/web#5"), PAY12, LinkType.BLOCKS, o),
            (PAY12, ItemRef(G, "acme/mobile#7"), LinkType.BLOCKS, o),
        ]
        assert record.links_complete == {LinkOrigin.JIRA_ISSUELINK, LinkOrigin.TEXT_REFERENCE}


def test_without_a_description_text_references_are_not_claimed_complete() -> None:
    issue = p.cloud_issue()
    issue["fields"].pop("description", None)
    assert LinkOrigin.TEXT_REFERENCE not in map_issue(issue, ctx()).links_complete


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
FIELD_NAMES = [*p.cloud_issue()["fields"].keys(), "changelog"]


@settings(max_examples=120, deadline=None)
@given(st.sampled_from(FIELD_NAMES), json_values)
def test_any_field_shape_maps_or_is_an_invalid_response(name: str, value: Any) -> None:
    """Whatever a field holds, mapping returns a record or raises InvalidResponse, nothing else."""
    issue = p.cloud_issue()
    if name == "changelog":
        issue["changelog"] = value
    else:
        issue["fields"][name] = value
    with contextlib.suppress(InvalidResponse):
        map_issue(issue, ctx())
