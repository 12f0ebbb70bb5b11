"""The shared view helpers."""

from __future__ import annotations

from datetime import UTC, date, datetime

from connectors.records import StatusCategory
from sync.views.common import trusted
from sync.views.dependencies import Edge, EdgeState, Node
from sync.views.progress import EpicProgress
from sync.views.risks import Risk, RiskCode


def test_trusted_models_equal_validated_ones() -> None:
    """Views build big lists without re-validation; the result must be the same model."""
    samples = [
        Node(
            id="PAY-1",
            label="PAY-1",
            key="PAY-1",
            item_id=1,
            title="T",
            url="https://x",
            tracker="jira",
            kind="story",
            status_category=StatusCategory.TODO,
            team="pay",
            epic=None,
            due_date=date(2026, 12, 1),
            in_program=True,
            external=False,
            items=1,
        ),
        Edge(
            source="PAY-1",
            target="PAY-2",
            state=EdgeState.OPEN,
            reason="PAY-1 is not done yet",
            cross_team=False,
            cross_tracker=True,
            links=1,
            states={"open": 1},
            link_ids=[3],
            since=datetime(2026, 11, 1, tzinfo=UTC),
        ),
        EpicProgress(id=None, key=None, title=None, total=3, done=1, percent_done=33.3),
        Risk(
            id="past_due:abc",
            code=RiskCode.PAST_DUE,
            severity="high",
            explanation="x",
            items=["PAY-1"],
            item_count=1,
            since=None,
        ),
    ]
    for validated in samples:
        values = dict(validated)  # every field, as the views pass them
        built = trusted(type(validated), values)
        assert built == validated
        assert built.model_dump(mode="json") == validated.model_dump(mode="json")
        assert built.model_dump_json() == validated.model_dump_json()
