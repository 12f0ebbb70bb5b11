"""Status report: RAG with reasons, numbers, epics, diffs against the previous report, formats."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from connectors.records import StatusCategory
from sync.model import ProgramReport, Release, WorkItemRelease
from sync.views.report import generate_report, list_reports, load_report, render, render_report
from tests.views.builders import NOW, World
from tests.views.test_risks import build

DONE, DOING, TODO = StatusCategory.DONE, StatusCategory.IN_PROGRESS, StatusCategory.TODO


def add_release(world: World) -> None:
    release = Release(
        source_id=world.jira.id,
        external_id="r1",
        scope="PAY",
        name="1.4",
        due_date=NOW.date() + timedelta(days=10),
    )
    world.s.add(release)
    world.s.flush()
    for key in ("PAY-7", "PAY-8"):
        world.s.add(WorkItemRelease(work_item_id=world.items[key].id, release_id=release.id))
    world.s.flush()


def test_first_report(world: World) -> None:
    build(world)
    add_release(world)
    report = generate_report(world.s, "prog", period_days=7, as_of=NOW)
    assert report.id is not None and report.previous_report_id is None
    assert report.rag == "red"
    assert report.reasons[:2] == [
        f"forecast P50 {report.numbers['forecast_p50']} is after the target 2026-12-20",
        "1 dependency cycle",
    ]
    assert report.headline.startswith("Prog is RED: 0% done (0/10 items), forecast P85 ")
    assert (report.numbers["items"], report.numbers["blocked"], report.numbers["scope_added"]) == (10, 3, 2)
    epic = next(e for e in report.epics if e.key == "PAY-1")
    assert (epic.rag, epic.forecast_status) == ("red", "off_track")
    assert [(r.name, r.items, r.done) for r in report.upcoming_releases] == [("1.4", 2, 0)]
    assert report.hot_spots[0].key in {"PAY-5", "PAY-6"} and report.hot_spots[0].blocks == 1
    assert [(t.blocker_team, t.blocked_team, t.open) for t in report.team_hot_spots] == [("web", "pay", 1)]
    assert {r.code.value for r in report.new_risks} == {r.code.value for r in report.open_risks}
    assert report.newly_blocked == []  # links are older than the period
    assert report.blocked_keys == ["PAY-2", "PAY-5", "PAY-6"]
    stored = world.s.scalar(select(ProgramReport).where(ProgramReport.id == report.id))
    assert stored is not None and stored.rag == "red" and stored.content["headline"] == report.headline


def test_second_report_diffs_against_the_first(world: World) -> None:
    build(world)
    first = generate_report(world.s, "prog", as_of=NOW)
    later = NOW + timedelta(days=1)
    world.items["PAY-5"].status_category = DONE  # breaks the cycle
    world.change("PAY-5", later - timedelta(hours=2), DONE, TODO)
    world.item("PAY-30", status=DOING, updated=later)
    world.blocks("PAY-7", "PAY-30", created=later - timedelta(hours=1))
    second = generate_report(world.s, "prog", as_of=later)
    assert second.previous_report_id == first.id and second.since == NOW
    assert [d.key for d in second.done_since] == ["PAY-5"]
    assert [(b.key, b.blockers) for b in second.newly_blocked] == [("PAY-30", ["PAY-7"])]
    assert "dependency_cycle" in {r.code for r in second.resolved_risks}
    assert "dependency_cycle" not in {r.code.value for r in second.new_risks}
    history = list_reports(world.s, "prog")
    assert [h.id for h in history] == [second.id, first.id]
    loaded = load_report(world.s, "prog", first.id)
    assert loaded is not None and loaded.model_dump(mode="json") == first.model_dump(mode="json")
    assert load_report(world.s, "prog", 10**6) is None


def test_formats(world: World) -> None:
    build(world)
    world.items["PAY-1"].title = "<script>alert(1)</script> | pipe"
    world.s.flush()
    content = generate_report(world.s, "prog", as_of=NOW, store=False)
    assert content.id is None
    md = render(content, "md")
    assert md.startswith("# Prog: status report 2026-11-20\n\n**RED** — Prog is RED")
    for section in (
        "## Key numbers",
        "## Epics",
        "## Done since",
        "## Newly blocked",
        "## New risks",
        "## Resolved risks",
        "## Upcoming releases",
        "## Dependency hot spots",
        "## Data freshness",
    ):
        assert section in md
    assert "| PAY-1 | &lt;script>alert(1)&lt;/script> \\| pipe | 0/1 (0%) |" in md
    page = render(content, "html")
    assert page.startswith("<!doctype html>") and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>" not in page
    assert render(content, "json").startswith("{")
    text = render_report(world.s, "prog", "md", as_of=NOW)
    assert text.startswith("# Prog") and len(list_reports(world.s, "prog")) == 1


def test_write_report_file(world: World, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sync.views.report import write_report_file

    build(world)
    headline, path = write_report_file(world.s, "prog", tmp_path / "reports", "html", as_of=NOW)
    assert headline.startswith("Prog is RED") and path.suffix == ".html"
    assert headline.split(":")[0] in path.read_text()
