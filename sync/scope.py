"""Program scope rules evaluated against the model (PRODUCT §6.1).

A Jira rule carries JQL. crosstrack evaluates the subset TPMs use for program scope locally, on
the synced items, so membership costs no tracker request: ``project``, ``labels``, ``issuetype``
(``type``), ``key``, ``status``, ``statusCategory`` with ``=``, ``!=``, ``in``, ``not in``,
combined with ``AND``, ``OR``, ``NOT`` and parentheses; ``ORDER BY`` is ignored. Anything else
raises :class:`UnsupportedScopeRule` with the place it stopped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["ItemFacts", "Predicate", "UnsupportedScopeRule", "compile_jql", "compile_rule"]


@dataclass(frozen=True, slots=True)
class ItemFacts:
    """What scope rules look at, for one item."""

    source: str
    key: str
    scope: str  # Jira project key / GitHub repo full name
    labels: tuple[str, ...]
    original_type: str | None
    original_status: str
    status_category: str
    milestone: str | None = None
    project_v2: tuple[int, ...] = ()


Predicate = Callable[[ItemFacts], bool]


class UnsupportedScopeRule(ValueError):
    """The rule uses something crosstrack cannot evaluate locally."""


_TOKEN = re.compile(
    r"""\s*(?:(?P<lp>\()|(?P<rp>\))|(?P<comma>,)|(?P<op>!=|=)|"(?P<dq>(?:[^"\\]|\\.)*)"|'(?P<sq>(?:[^'\\]|\\.)*)'|(?P<word>[^\s(),=!"']+))"""
)


def _tokens(jql: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = re.split(r"\border\s+by\b", jql, maxsplit=1, flags=re.IGNORECASE)[0]
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise UnsupportedScopeRule(f"cannot read JQL at character {pos + 1}: {text[pos : pos + 20]!r}")
        pos = m.end()
        kind = m.lastgroup or ""
        value = m.group(kind)
        if kind in ("dq", "sq"):
            out.append(("str", value.replace('\\"', '"').replace("\\'", "'")))
        elif kind == "word":
            out.append(("word", value))
        else:
            out.append((kind, value))
    return out


_FIELDS: Mapping[str, Callable[[ItemFacts], tuple[str, ...]]] = {
    "project": lambda f: (f.scope.lower(),),
    "labels": lambda f: tuple(label.lower() for label in f.labels),
    "issuetype": lambda f: ((f.original_type or "").lower(),),
    "type": lambda f: ((f.original_type or "").lower(),),
    "key": lambda f: (f.key.lower(),),
    "issuekey": lambda f: (f.key.lower(),),
    "status": lambda f: (f.original_status.lower(),),
    "statuscategory": lambda f: (
        {"todo": "to do", "in_progress": "in progress", "done": "done"}[f.status_category],
    ),
}


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.toks = tokens
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise UnsupportedScopeRule("JQL ends too early")
        self.i += 1
        return tok

    def word_is(self, *words: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[0] == "word" and tok[1].lower() in words

    def parse(self) -> Predicate:
        pred = self.or_expr()
        if self.peek() is not None:
            raise UnsupportedScopeRule(f"unexpected {self.peek()[1]!r} in JQL")  # type: ignore[index]
        return pred

    def or_expr(self) -> Predicate:
        parts = [self.and_expr()]
        while self.word_is("or"):
            self.take()
            parts.append(self.and_expr())
        if len(parts) == 1:
            return parts[0]
        options = tuple(parts)
        return lambda f: any(p(f) for p in options)

    def and_expr(self) -> Predicate:
        parts = [self.not_expr()]
        while self.word_is("and"):
            self.take()
            parts.append(self.not_expr())
        if len(parts) == 1:
            return parts[0]
        required = tuple(parts)
        return lambda f: all(p(f) for p in required)

    def not_expr(self) -> Predicate:
        if self.word_is("not"):
            self.take()
            inner = self.not_expr()
            return lambda f: not inner(f)
        tok = self.peek()
        if tok is not None and tok[0] == "lp":
            self.take()
            inner = self.or_expr()
            if self.take()[0] != "rp":
                raise UnsupportedScopeRule("missing ')' in JQL")
            return inner
        return self.clause()

    def value(self) -> str:
        kind, val = self.take()
        if kind not in ("word", "str"):
            raise UnsupportedScopeRule(f"expected a value, got {val!r}")
        return val.lower()

    def clause(self) -> Predicate:
        kind, name = self.take()
        getter = _FIELDS.get(name.lower()) if kind in ("word", "str") else None
        if getter is None:
            raise UnsupportedScopeRule(
                f"field {name!r} is not supported in program scope JQL (supported: {', '.join(sorted(_FIELDS))})"
            )
        negate = False
        if self.word_is("not"):
            self.take()
            negate = True
            if not self.word_is("in"):
                raise UnsupportedScopeRule("expected 'in' after 'not'")
        if self.word_is("in"):
            self.take()
            if self.take()[0] != "lp":
                raise UnsupportedScopeRule("expected '(' after 'in'")
            values = {self.value()}
            while (tok := self.take())[0] == "comma":
                values.add(self.value())
            if tok[0] != "rp":
                raise UnsupportedScopeRule("expected ')' to close the list")
        else:
            op = self.take()
            if op[0] != "op":
                raise UnsupportedScopeRule(f"operator {op[1]!r} is not supported (use =, !=, in, not in)")
            negate = op[1] == "!="
            values = {self.value()}

        def pred(
            f: ItemFacts, g: Callable[[ItemFacts], tuple[str, ...]] = getter, vs: set[str] = values
        ) -> bool:
            return any(v in vs for v in g(f))

        return (lambda f: not pred(f)) if negate else pred


def compile_jql(jql: str) -> Predicate:
    return _Parser(_tokens(jql)).parse()


def compile_rule(rule: Mapping[str, Any], *, source_kind: str, org: str | None = None) -> Predicate:
    """A predicate for one stored scope rule (``Program.scope_rules["rules"][i]``)."""
    source = str(rule["source"])
    checks: list[Predicate] = [lambda f: f.source == source]
    if rule.get("jql"):
        checks.append(compile_jql(str(rule["jql"])))
    repos: Sequence[str] | None = rule.get("repos")
    if repos:
        full = {r if "/" in r else f"{org}/{r}" for r in repos}
        checks.append(lambda f: f.scope in full)
    labels = {str(label).lower() for label in rule.get("labels") or ()}
    if labels:
        checks.append(lambda f: any(label.lower() in labels for label in f.labels))
    if rule.get("milestone"):
        milestone = str(rule["milestone"])
        checks.append(lambda f: f.milestone == milestone)
    if rule.get("issue_type"):
        itype = str(rule["issue_type"]).lower()
        checks.append(lambda f: (f.original_type or "").lower() == itype)
    if rule.get("project_v2"):
        number = int(rule["project_v2"])
        checks.append(lambda f: number in f.project_v2)
    return lambda f: all(c(f) for c in checks)
