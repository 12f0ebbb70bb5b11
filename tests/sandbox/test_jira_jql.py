"""The sandbox's JQL subset: parsing, time zones, evaluation and ordering."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.jira.jql import JqlError, compile_jql

NY = ZoneInfo("America/New_York")


@dataclass
class FakeIssue:
    id: int
    key: str
    project: str
    type_name: str
    labels: list[str]
    created_ms: int
    updated_ms: int
    old_keys: list[str] = field(default_factory=list)
    parent: FakeIssue | None = None
    status: str = "To Do"
    resolution: str | None = None
    status_category: str = "new"

    @property
    def parent_id(self) -> int | None:
        return self.parent.id if self.parent else None

    @property
    def parent_key(self) -> str | None:
        return self.parent.key if self.parent else None


def ms(text: str, zone: ZoneInfo = NY) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=zone).timestamp() * 1000)


def issue(n: int, project: str = "PAY", **kw: object) -> FakeIssue:
    base: dict[str, object] = {
        "id": 10000 + n,
        "key": f"{project}-{n}",
        "project": project,
        "type_name": "Story",
        "labels": [],
        "created_ms": ms("2026-11-01T09:00"),
        "updated_ms": ms("2026-11-20T12:00"),
    }
    base.update(kw)
    return FakeIssue(**base)  # type: ignore[arg-type]


def test_dates_are_read_in_the_account_time_zone_at_minute_granularity() -> None:
    query = compile_jql('updated >= "2026/11/20 23:59"', NY)
    just_before = issue(1, updated_ms=ms("2026-11-20T23:58:59.999"))
    at_minute = issue(2, updated_ms=ms("2026-11-20T23:59"))
    assert not query.matches(just_before)
    assert query.matches(at_minute)
    # The same wall-clock text in UTC is five hours earlier: an issue updated at 20:00 New York
    # time is after "23:59" UTC but not after "23:59" New York.
    late_evening = issue(3, updated_ms=ms("2026-11-20T20:00"))
    assert compile_jql('updated >= "2026-11-20 23:59"', ZoneInfo("UTC")).matches(late_evening)
    assert not query.matches(late_evening)


@pytest.mark.parametrize(
    "text",
    [
        'updated >= "2026/11/20 23:59"',
        'updated >= "2026-11-20 23:59"',
        "updated >= 2026/11/20",
        'updated>="2026-11-20"',
    ],
)
def test_all_documented_date_formats_parse(text: str) -> None:
    query = compile_jql(text, NY)
    assert query.updated_lower_bound() is not None


def test_boolean_structure_and_list_fields() -> None:
    query = compile_jql(
        'project in (PAY, plat) AND (labels = "checkout-v2" OR issuetype in (Epic, Bug)) AND NOT key = PAY-3',
        NY,
    )
    assert query.matches(issue(1, labels=["checkout-v2"]))
    assert query.matches(issue(2, project="PLAT", type_name="Bug"))
    assert not query.matches(issue(3, labels=["checkout-v2"]))
    assert not query.matches(issue(4))
    assert not query.matches(issue(5, project="OPS", labels=["checkout-v2"]))


def test_key_and_id_accept_old_keys_and_ids_and_parent_matches_key_or_id() -> None:
    epic = issue(1, type_name="Epic")
    moved = issue(7, project="PLAT", old_keys=["PAY-7"], parent=epic)
    assert compile_jql("key in (PAY-7)", NY).matches(moved)
    assert compile_jql("id = 10007", NY).matches(moved)
    assert compile_jql("parent in (PAY-1)", NY).matches(moved)
    assert compile_jql("parent = 10001", NY).matches(moved)
    assert not compile_jql("parent in (PAY-2)", NY).matches(moved)
    assert compile_jql('"Epic Link" = PAY-1', NY).matches(moved)


def test_status_category_resolution_and_empty() -> None:
    done = issue(1, status="Done", status_category="done", resolution="Won't Do")
    review = issue(2, status="In Review", status_category="indeterminate", labels=["x"])
    todo = issue(3)

    def keys(text: str) -> list[str]:
        query = compile_jql(text, NY)
        return [i.key for i in (done, review, todo) if query.matches(i)]

    assert keys("statusCategory != Done") == ["PAY-2", "PAY-3"]
    assert keys('statusCategory in (new, "In Progress")') == ["PAY-2", "PAY-3"]
    assert keys('status = "in review"') == ["PAY-2"]
    assert keys("resolution = Unresolved") == ["PAY-2", "PAY-3"]
    assert keys("resolution is not EMPTY") == ["PAY-1"]
    assert keys("labels is EMPTY AND parent is EMPTY") == ["PAY-1", "PAY-3"]


def test_order_by_several_keys() -> None:
    issues = [
        issue(3, updated_ms=ms("2026-11-20T10:00")),
        issue(1, updated_ms=ms("2026-11-20T10:00")),
        issue(2, updated_ms=ms("2026-11-19T10:00")),
    ]
    query = compile_jql("project = PAY ORDER BY updated DESC, key ASC", NY)
    assert [i.key for i in sorted(issues, key=query.sort_key())] == ["PAY-1", "PAY-3", "PAY-2"]
    by_key_desc = compile_jql("project = PAY ORDER BY key DESC", NY)
    assert [i.key for i in sorted(issues, key=by_key_desc.sort_key())] == ["PAY-3", "PAY-2", "PAY-1"]


@pytest.mark.parametrize(
    "text",
    [
        "assignee = currentUser()",
        "status is EMPTY",
        "resolution is done",
        "summary ~ checkout",
        "project in PAY",
        "project = ",
        'updated >= "yesterday"',
        "updated >= -5m",
        "project = PAY ORDER updated",
        "project = PAY extra",
        "labels > 3",
        "(project = PAY",
        "project = PAY ORDER BY priority",
        "project = PAY AND",
    ],
)
def test_anything_outside_the_subset_is_a_jql_error(text: str) -> None:
    with pytest.raises(JqlError, match=r"^Error in the JQL Query: "):
        compile_jql(text, NY)


projects = st.sampled_from(["PAY", "PLAT", "OPS"])
labels = st.lists(st.sampled_from(["checkout-v2", "backend", "tech debt"]), max_size=2, unique=True)
types = st.sampled_from(["Epic", "Story", "Task", "Bug"])
minutes = st.integers(min_value=0, max_value=60 * 24 * 30)
BASE = ms("2026-11-05T00:00")  # no DST change within the 30 days after


@st.composite
def issues_strategy(draw: st.DrawFn) -> list[FakeIssue]:
    count = draw(st.integers(min_value=0, max_value=25))
    result = []
    for n in range(1, count + 1):
        result.append(
            issue(
                n,
                project=draw(projects),
                type_name=draw(types),
                labels=draw(labels),
                updated_ms=BASE + draw(minutes) * 60_000 + draw(st.integers(0, 59_999)),
            )
        )
    return result


@st.composite
def clause_strategy(draw: st.DrawFn) -> tuple[str, object]:
    kind = draw(st.sampled_from(["project", "labels", "type", "updated"]))
    if kind == "project":
        values = draw(st.lists(projects, min_size=1, max_size=3, unique=True))
        return f"project in ({', '.join(values)})", lambda i: i.project in values
    if kind == "labels":
        label = draw(st.sampled_from(["checkout-v2", "backend", "tech debt"]))
        return f'labels = "{label}"', lambda i: label in i.labels
    if kind == "type":
        name = draw(types)
        return f"issuetype = {name}", lambda i: i.type_name == name
    minute = draw(minutes)
    moment = datetime.fromtimestamp((BASE + minute * 60_000) / 1000, NY)
    text = moment.strftime(draw(st.sampled_from(["%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M"])))
    bound = BASE + minute * 60_000
    return f'updated >= "{text}"', lambda i: i.updated_ms >= bound


@given(issues_strategy(), st.lists(clause_strategy(), min_size=1, max_size=3), st.sampled_from(["AND", "OR"]))
@settings(max_examples=150, deadline=None)
def test_evaluation_agrees_with_a_direct_predicate(
    issues: list[FakeIssue], clauses: list[tuple[str, object]], joiner: str
) -> None:
    text = f" {joiner} ".join(f"({c[0]})" for c in clauses) + " ORDER BY updated ASC"
    query = compile_jql(text, NY)
    combine = all if joiner == "AND" else any
    expected = [i for i in issues if combine(c[1](i) for c in clauses)]  # type: ignore[operator]
    got = sorted((i for i in issues if query.matches(i)), key=query.sort_key())
    assert [i.key for i in got] == [i.key for i in sorted(expected, key=lambda i: (i.updated_ms, i.id))]


@given(st.text(max_size=40))
@settings(max_examples=200, deadline=None)
def test_arbitrary_text_either_parses_or_raises_jql_error(text: str) -> None:
    with contextlib.suppress(JqlError):
        compile_jql(text, NY)
