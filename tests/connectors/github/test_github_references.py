"""Text references in bodies become typed targets (PRODUCT §4.2): table-driven plus properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.github.references import Reference, Relation, find_references, parse_target
from connectors.records import ItemRef, TrackerKind

GH, JIRA = TrackerKind.GITHUB, TrackerKind.JIRA


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Blocked by #12", [(Relation.BLOCKED_BY, GH, "acme/web#12")]),
        ("depends on acme/api#3", [(Relation.BLOCKED_BY, GH, "acme/api#3")]),
        ("This blocks PAY-123.", [(Relation.BLOCKS, JIRA, "PAY-123")]),
        ("blocked by https://acme.atlassian.net/browse/PAY-12", [(Relation.BLOCKED_BY, JIRA, "PAY-12")]),
        ("Depends on https://github.com/acme/mobile/issues/7", [(Relation.BLOCKED_BY, GH, "acme/mobile#7")]),
        (
            "blocked by #1, #2 and PLAT-3",
            [
                (Relation.BLOCKED_BY, GH, "acme/web#1"),
                (Relation.BLOCKED_BY, GH, "acme/web#2"),
                (Relation.BLOCKED_BY, JIRA, "PLAT-3"),
            ],
        ),
        (
            "Closes #12\nfixes acme/web#3",
            [(Relation.CLOSES, GH, "acme/web#12"), (Relation.CLOSES, GH, "acme/web#3")],
        ),
        ("blocked by: #4", [(Relation.BLOCKED_BY, GH, "acme/web#4")]),
        ("BLOCKED   BY #5", [(Relation.BLOCKED_BY, GH, "acme/web#5")]),
        # not references: no verb, lowercase "keys", verbs inside words, the same target twice
        ("see #12 and PAY-3; UTF-8 everywhere", []),
        ("unblocks #3", []),
        ("depends on v2-3", []),
        ("blocked by #9. Also blocked by #9", [(Relation.BLOCKED_BY, GH, "acme/web#9")]),
        ("", []),
    ],
)
def test_find_references(body: str, expected: list[tuple[Relation, TrackerKind, str]]) -> None:
    found = [(r.relation, r.target.tracker, r.target.key) for r in find_references(body, "acme/web")]
    assert found == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("#7", ItemRef(GH, "acme/web#7")),
        ("#007", ItemRef(GH, "acme/web#7")),
        ("octo/cat#2", ItemRef(GH, "octo/cat#2")),
        ("https://ghe.example.com/octo/cat/issues/2", ItemRef(GH, "octo/cat#2")),
        ("https://jira.example.com/browse/PLAT-20", ItemRef(JIRA, "PLAT-20")),
        ("PAY-1", ItemRef(JIRA, "PAY-1")),
        ("pay-1", None),
    ],
)
def test_parse_target(text: str, expected: ItemRef | None) -> None:
    assert parse_target(text, "acme/web") == expected


_words = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200)


@given(_words)
def test_never_fails_and_only_known_relations(body: str) -> None:
    for ref in find_references(body, "acme/web"):
        assert isinstance(ref, Reference)
        assert ref.target.key


@given(
    st.integers(min_value=1, max_value=10**6),
    st.sampled_from(["blocked by", "Depends on", "blocks"]),
    _words.filter(lambda s: "#" not in s),
    _words.filter(lambda s: "#" not in s),
)
def test_a_reference_survives_surrounding_text(number: int, verb: str, before: str, after: str) -> None:
    body = f"{before}\n{verb} #{number}\n{after}"
    keys = [r.target.key for r in find_references(body, "acme/web")]
    assert f"acme/web#{number}" in keys
