"""Text references in issue and pull-request bodies: ``blocked by #12``, ``depends on acme/api#3``,
``blocks PAY-123``, Jira browse URLs and GitHub issue URLs, and the closing keywords of pull requests.

Pure functions, no I/O. A reference only counts when a verb introduces it (a bare ``UTF-8`` or a
stray URL is not a dependency); one verb may introduce a list (``blocked by #1, #2 and PAY-3``).
Closing keywords are GitHub's own list:
https://docs.github.com/en/issues/tracking-your-work-with-issues/using-issues/linking-a-pull-request-to-an-issue
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from connectors.records import ItemRef, TrackerKind

__all__ = ["Reference", "Relation", "find_references", "parse_target"]


class Relation(StrEnum):
    BLOCKED_BY = "blocked_by"  # the target blocks the item whose body this is
    BLOCKS = "blocks"  # the item blocks the target
    CLOSES = "closes"  # a pull request that will close the target (progress signal, not a link)


@dataclass(frozen=True, slots=True)
class Reference:
    relation: Relation
    target: ItemRef
    text: str  # the verb as written, kept as the link's original label


_VERBS: dict[str, Relation] = {
    "blocked by": Relation.BLOCKED_BY,
    "is blocked by": Relation.BLOCKED_BY,
    "depends on": Relation.BLOCKED_BY,
    "depend on": Relation.BLOCKED_BY,
    "blocks": Relation.BLOCKS,
    "blocking": Relation.BLOCKS,
    "close": Relation.CLOSES,
    "closes": Relation.CLOSES,
    "closed": Relation.CLOSES,
    "fix": Relation.CLOSES,
    "fixes": Relation.CLOSES,
    "fixed": Relation.CLOSES,
    "resolve": Relation.CLOSES,
    "resolves": Relation.CLOSES,
    "resolved": Relation.CLOSES,
}

_NAME = r"[A-Za-z0-9_.-]+"
_JIRA_KEY = r"[A-Z][A-Z0-9_]+-[1-9][0-9]*"
_TARGET = (
    rf"(?:https?://[^\s/<>()]+/browse/{_JIRA_KEY}"  # Jira browse URL (Cloud or Data Center)
    rf"|https?://[^\s/<>()]+(?:/api/v3)?(?:/repos)?/{_NAME}/{_NAME}/(?:issues|pull)/[0-9]+"  # GitHub URL
    rf"|{_NAME}/{_NAME}#[0-9]+"  # owner/repo#12
    rf"|#[0-9]+"  # #12 in the same repository
    rf"|{_JIRA_KEY})"  # PAY-123
)
_VERB_RE = "|".join(sorted((re.escape(v).replace(r"\ ", r"\s+") for v in _VERBS), key=len, reverse=True))
_PHRASE = re.compile(
    rf"(?<![\w/-])(?P<verb>(?i:{_VERB_RE}))\s*:?\s+(?P<targets>{_TARGET}(?:\s*(?:,|&|\band\b)\s*{_TARGET})*)"
)
_ONE_TARGET = re.compile(_TARGET)
_JIRA_URL = re.compile(rf"^https?://[^\s/]+/browse/({_JIRA_KEY})$")
_GITHUB_URL = re.compile(
    rf"^https?://[^\s/]+(?:/api/v3)?(?:/repos)?/({_NAME})/({_NAME})/(?:issues|pull)/([0-9]+)$"
)
_FULL = re.compile(rf"^({_NAME})/({_NAME})#([0-9]+)$")
_JIRA_ALONE = re.compile(rf"^{_JIRA_KEY}$")


def parse_target(text: str, repo: str) -> ItemRef | None:
    """One target as written → an :class:`ItemRef` (GitHub keys are ``owner/repo#n``)."""
    if text.startswith("#"):
        return ItemRef(TrackerKind.GITHUB, f"{repo}#{int(text[1:])}")
    if match := _JIRA_URL.match(text):
        return ItemRef(TrackerKind.JIRA, match.group(1))
    if match := _GITHUB_URL.match(text):
        owner, name, number = match.groups()
        return ItemRef(TrackerKind.GITHUB, f"{owner}/{name}#{int(number)}")
    if match := _FULL.match(text):
        owner, name, number = match.groups()
        return ItemRef(TrackerKind.GITHUB, f"{owner}/{name}#{int(number)}")
    if _JIRA_ALONE.match(text):
        return ItemRef(TrackerKind.JIRA, text)
    return None


def find_references(body: str | None, repo: str) -> list[Reference]:
    """Every verb-introduced reference in ``body`` (an issue of ``repo``), in order, without repeats."""
    if not body:
        return []
    found: list[Reference] = []
    seen: set[tuple[Relation, ItemRef]] = set()
    for phrase in _PHRASE.finditer(body):
        verb = " ".join(phrase.group("verb").lower().split())
        relation = _VERBS[verb]
        for target_match in _ONE_TARGET.finditer(phrase.group("targets")):
            target = parse_target(target_match.group(0), repo)
            if target is None or (relation, target) in seen:
                continue
            seen.add((relation, target))
            found.append(Reference(relation, target, verb))
    return found
