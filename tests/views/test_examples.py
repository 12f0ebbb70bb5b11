"""Every view answer's OpenAPI example is a valid answer (so the examples cannot drift)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from sync.views.burnup import BurnupView
from sync.views.dependencies import CriticalPath, DependencyGraph, TeamMatrix
from sync.views.forecast import ForecastView
from sync.views.progress import ProgressView
from sync.views.report import ReportContent, ReportSummary
from sync.views.risks import RiskView

VIEW_MODELS = [
    ProgressView,
    DependencyGraph,
    TeamMatrix,
    CriticalPath,
    RiskView,
    ForecastView,
    BurnupView,
    ReportContent,
    ReportSummary,
]


@pytest.mark.parametrize("model", VIEW_MODELS, ids=lambda m: m.__name__)
def test_example_is_a_valid_answer(model: type[BaseModel]) -> None:
    schema = model.model_json_schema()
    examples = schema.get("examples")
    assert examples, f"{model.__name__} has no OpenAPI example"
    for example in examples:
        parsed = model.model_validate(example)
        # Nothing in the example is dropped or renamed: it round-trips to the same JSON fields.
        assert set(parsed.model_dump(mode="json")) == set(example)
