"""Issue payloads (real ones, from the webhook examples) → WorkItemRecord, table-driven."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.errors import InvalidResponse
from connectors.github.mapping import (
    Dependencies,
    MappingConfig,
    ProjectConfig,
    ProjectSignals,
    closing_references,
    dependency_needs,
    map_issue,
    parse_project_fields,
    project_item_signals,
    ref_from_api_url,
    repo_of_issue,
)
from connectors.records import (
    ItemKind,
    ItemRef,
    LinkOrigin,
    LinkRecord,
    LinkType,
    PersonRecord,
    Resolution,
    StatusCategory,
    TrackerKind,
)

from .conftest import example

GH = TrackerKind.GITHUB
CONFIG = MappingConfig()


def issue(**changes: Any) -> dict[str, Any]:
    payload = copy.deepcopy(example("issues/opened.1")["issue"])
    payload.update(changes)
    return payload


def test_real_payload_maps_every_field() -> None:
    payload = example("issues/opened.1")["issue"]
    record = map_issue(payload, CONFIG)
    assert record.key == "Codertocat/Hello-World#1"
    assert record.external_id == "444500041"
    assert record.scope == "Codertocat/Hello-World"
    assert record.url == "https://github.com/Codertocat/Hello-World/issues/1"
    assert record.title == "Spelling error in the README file"
    assert record.original_status == "open"
    assert record.status_category is StatusCategory.IN_PROGRESS  # assigned to Codertocat
    assert record.assignee == PersonRecord(GH, "21031067", login="Codertocat", display_name="Codertocat")
    assert record.labels == ("bug",)
    assert record.kind is ItemKind.BUG  # label_kinds defaults to {"bug": "bug"}
    assert record.created_at == datetime(2019, 5, 15, 15, 20, 18, tzinfo=UTC)
    assert record.releases[0].name == "v1.0"
    assert record.releases[0].scope == "Codertocat/Hello-World"
    assert record.due_date == record.releases[0].due_date
    assert record.links == ()
    assert LinkOrigin.TEXT_REFERENCE in record.links_complete
    assert record.status_history is None


@pytest.mark.parametrize(
    ("changes", "category", "resolution", "original_resolution"),
    [
        (
            {"state": "closed", "state_reason": "completed"},
            StatusCategory.DONE,
            Resolution.COMPLETED,
            "completed",
        ),
        (
            {"state": "closed", "state_reason": "not_planned"},
            StatusCategory.DONE,
            Resolution.WONT_DO,
            "not_planned",
        ),
        (
            {"state": "closed", "state_reason": "duplicate"},
            StatusCategory.DONE,
            Resolution.WONT_DO,
            "duplicate",
        ),
        ({"state": "closed", "state_reason": None}, StatusCategory.DONE, Resolution.COMPLETED, "completed"),
        ({"state": "open", "assignee": None, "assignees": []}, StatusCategory.TODO, None, None),
        (
            {"state": "open", "state_reason": "reopened", "assignee": None, "assignees": []},
            StatusCategory.TODO,
            None,
            None,
        ),
        (
            {"state": "open", "assignee": None, "assignees": [], "labels": [{"name": "In Progress"}]},
            StatusCategory.IN_PROGRESS,
            None,
            None,
        ),
        ({"state": "open"}, StatusCategory.IN_PROGRESS, None, None),
    ],
)
def test_status_rules(
    changes: dict[str, Any],
    category: StatusCategory,
    resolution: Resolution | None,
    original_resolution: str | None,
) -> None:
    record = map_issue(issue(**changes), CONFIG)
    assert (record.status_category, record.resolution, record.original_resolution) == (
        category,
        resolution,
        original_resolution,
    )


def test_project_status_signal_moves_unassigned_open_issue_to_in_progress() -> None:
    payload = issue(assignee=None, assignees=[])
    signals = ProjectSignals(status="In Progress", status_category=StatusCategory.IN_PROGRESS, estimate=5.0)
    record = map_issue(payload, CONFIG, signals=signals)
    assert record.status_category is StatusCategory.IN_PROGRESS
    assert record.estimate == 5.0


@pytest.mark.parametrize(
    ("type_name", "labels", "kind"),
    [
        ("Epic", [], ItemKind.EPIC),
        ("Feature", [], ItemKind.STORY),
        ("Bug", [], ItemKind.BUG),
        ("Task", ["epic"], ItemKind.TASK),  # the type wins over labels
        (None, ["Epic"], ItemKind.EPIC),
        (None, ["bug"], ItemKind.BUG),  # label_kinds below
        ("Spike", [], ItemKind.OTHER),
        (None, [], ItemKind.OTHER),
    ],
)
def test_kind_from_type_then_labels(type_name: str | None, labels: list[str], kind: ItemKind) -> None:
    config = MappingConfig.from_options({"label_kinds": {"Bug": "bug"}})
    payload = issue(
        type={"id": 1, "node_id": "IT_1", "name": type_name, "description": None} if type_name else None,
        labels=[{"name": n} for n in labels],
    )
    record = map_issue(payload, config)
    assert record.kind is kind
    assert record.original_type == type_name


def test_custom_type_names() -> None:
    config = MappingConfig.from_options({"epic_types": ["Initiative"], "type_kinds": {"Defect": "bug"}})
    assert map_issue(issue(type={"name": "Initiative"}), config).kind is ItemKind.EPIC
    assert map_issue(issue(type={"name": "Defect"}), config).kind is ItemKind.BUG


def test_parent_from_parent_issue_url() -> None:
    record = map_issue(issue(parent_issue_url="https://api.github.com/repos/acme/web/issues/3"), CONFIG)
    assert record.parent == ItemRef(GH, "acme/web#3")


def test_text_references_become_links() -> None:
    body = (
        "Blocked by PAY-12 and #4.\nThis blocks acme/mobile#11.\nSee https://acme.atlassian.net/browse/PLAT-3"
    )
    record = map_issue(issue(body=body), CONFIG)
    me = ItemRef(GH, "Codertocat/Hello-World#1", "444500041")
    o = LinkOrigin.TEXT_REFERENCE
    assert record.links == (
        LinkRecord(ItemRef(TrackerKind.JIRA, "PAY-12"), me, LinkType.BLOCKS, o, "blocked by"),
        LinkRecord(ItemRef(GH, "Codertocat/Hello-World#4"), me, LinkType.BLOCKS, o, "blocked by"),
        LinkRecord(me, ItemRef(GH, "acme/mobile#11"), LinkType.BLOCKS, o, "blocks"),
    )


def test_dependencies_complete_only_when_fetched_or_summary_says_none() -> None:
    with_deps = issue(
        issue_dependencies_summary={
            "blocked_by": 1,
            "blocking": 0,
            "total_blocked_by": 1,
            "total_blocking": 0,
        }
    )
    assert dependency_needs(with_deps) == (True, False)
    assert LinkOrigin.GITHUB_DEPENDENCY not in map_issue(with_deps, CONFIG).links_complete
    none = issue(
        issue_dependencies_summary={
            "blocked_by": 0,
            "blocking": 0,
            "total_blocked_by": 0,
            "total_blocking": 0,
        }
    )
    assert LinkOrigin.GITHUB_DEPENDENCY in map_issue(none, CONFIG).links_complete
    assert dependency_needs(issue()) is None  # no summary: older Enterprise Server
    assert LinkOrigin.GITHUB_DEPENDENCY not in map_issue(issue(), CONFIG).links_complete

    blocker, blocked = ItemRef(GH, "acme/api#3", "9"), ItemRef(GH, "acme/web#8", "10")
    record = map_issue(
        with_deps, CONFIG, dependencies=Dependencies(blocked_by=(blocker,), blocking=(blocked,))
    )
    me = record.ref
    assert record.links == (
        LinkRecord(blocker, me, LinkType.BLOCKS, LinkOrigin.GITHUB_DEPENDENCY, "blocked_by"),
        LinkRecord(me, blocked, LinkType.BLOCKS, LinkOrigin.GITHUB_DEPENDENCY, "blocking"),
    )
    assert record.links_complete == frozenset({LinkOrigin.TEXT_REFERENCE, LinkOrigin.GITHUB_DEPENDENCY})


def test_pull_request_closing_references() -> None:
    pr = example("issues/milestoned.1")["issue"]
    pr = {**pr, "body": "Closes #12, fixes acme/web#3"}
    assert closing_references(pr, "acme/web") == [ItemRef(GH, "acme/web#12"), ItemRef(GH, "acme/web#3")]


def test_missing_required_field_is_invalid_response() -> None:
    payload = issue()
    del payload["number"]
    with pytest.raises(InvalidResponse, match="cannot read issue payload"):
        map_issue(payload, CONFIG)
    with pytest.raises(InvalidResponse, match="updated_at"):
        map_issue(issue(updated_at=None), CONFIG)


@pytest.mark.parametrize(
    ("url", "ref"),
    [
        ("https://api.github.com/repos/acme/web/issues/3", ItemRef(GH, "acme/web#3")),
        ("http://127.0.0.1:9/github/api/v3/repos/acme/web/issues/12", ItemRef(GH, "acme/web#12")),
        ("https://github.com/acme/web/issues/4", ItemRef(GH, "acme/web#4")),
        ("https://github.com/acme/web/pull/5", ItemRef(GH, "acme/web#5")),
        ("https://github.com/acme/web", None),
        (None, None),
    ],
)
def test_ref_from_api_url(url: str | None, ref: ItemRef | None) -> None:
    assert ref_from_api_url(url) == ref


def test_repo_of_issue_from_sandbox_base() -> None:
    assert (
        repo_of_issue({"repository_url": "http://127.0.0.1:5/github/api/v3/repos/acme/api-gateway"})
        == "acme/api-gateway"
    )


FIELDS = [
    {"id": 1, "name": "Title", "data_type": "title"},
    {
        "id": 67891,
        "name": "Status",
        "data_type": "single_select",
        "options": [
            {"id": "o4", "name": {"raw": "Todo", "html": "Todo"}},
            {"id": "o5", "name": {"raw": "In Progress", "html": "In Progress"}},
        ],
    },
    {"id": 13579, "name": "Estimate", "data_type": "number"},
    {
        "id": 11223,
        "name": "Iteration",
        "data_type": "iteration",
        "configuration": {
            "duration": 14,
            "start_day": 1,
            "iterations": [
                {
                    "id": "iter_1",
                    "title": {"html": "Sprint 1", "raw": "Sprint 1"},
                    "start_date": "2022-07-01",
                    "duration": 14,
                },
                {
                    "id": "iter_2",
                    "title": {"html": "Sprint 2", "raw": "Sprint 2"},
                    "start_date": "2022-07-15",
                    "duration": 14,
                },
            ],
        },
    },
]


def test_project_fields_and_item_signals() -> None:
    now = datetime(2022, 7, 20, tzinfo=UTC)
    fields = parse_project_fields(FIELDS, ProjectConfig(number=1), now)
    assert (fields.status_id, fields.estimate_id, fields.iteration_id) == ("67891", "13579", "11223")
    assert [(s.name, s.state) for s in fields.sprints.values()] == [
        ("Sprint 1", "closed"),
        ("Sprint 2", "active"),
    ]
    assert fields.sprints["iter_2"].start is not None and fields.sprints["iter_2"].start.date() == date(
        2022, 7, 15
    )
    item = {
        "id": 13,
        "content_type": "Issue",
        "archived_at": None,
        "content": {"url": "https://api.github.com/repos/acme/web/issues/6", "number": 6},
        "fields": [
            {
                "id": 67891,
                "name": "Status",
                "data_type": "single_select",
                "value": {"id": "o5", "name": {"raw": "In Progress", "html": "In Progress"}},
            },
            {"id": 13579, "name": "Estimate", "data_type": "number", "value": 3},
            {
                "id": 11223,
                "name": "Iteration",
                "data_type": "iteration",
                "value": {
                    "id": "iter_2",
                    "title": {"raw": "Sprint 2"},
                    "start_date": "2022-07-15",
                    "duration": 14,
                },
            },
        ],
    }
    key, signals = project_item_signals(item, fields, now) or ("", ProjectSignals())
    assert key == "acme/web#6"
    assert signals.status == "In Progress"
    assert signals.status_category is StatusCategory.IN_PROGRESS
    assert signals.estimate == 3.0
    assert signals.sprint == fields.sprints["iter_2"]
    assert project_item_signals({**item, "content_type": "DraftIssue"}, fields, now) is None
    assert project_item_signals({**item, "content_type": "PullRequest"}, fields, now) is None


_state = st.sampled_from(["open", "closed"])
_reason = st.sampled_from([None, "completed", "not_planned", "duplicate", "reopened"])
_labels = st.lists(st.sampled_from(["epic", "bug", "in progress", "checkout-v2", "x"]), max_size=4)


@given(_state, _reason, _labels, st.booleans())
def test_status_is_always_consistent(
    state: str, reason: str | None, labels: list[str], assigned: bool
) -> None:
    payload = issue(state=state, state_reason=reason, labels=[{"name": n} for n in labels])
    if not assigned:
        payload.update(assignee=None, assignees=[])
    record = map_issue(payload, CONFIG)
    assert (record.status_category is StatusCategory.DONE) == (state == "closed")
    assert (record.resolution is None) == (state == "open")
    if state == "open":
        expected = assigned or "in progress" in labels
        assert (record.status_category is StatusCategory.IN_PROGRESS) == expected
    assert record.labels == tuple(labels)
