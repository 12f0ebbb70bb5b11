"""The subset of JQL that crosstrack sends, parsed and evaluated like Jira does.

Supported (field names and keywords case-insensitive):

    project = A | project in (A, B)          key/issuekey = K | in (...)
    id = 10001 | id in (...)                 parent = K | parent in (...)   (keys or ids)
    labels = x | labels in (...)             issuetype/type = Epic | in (...)
    status = "In Progress" | in (...)        statusCategory = Done | in (new, "In Progress")
    resolution = Unresolved | in (...)       resolution/labels/parent is [not] EMPTY
    updated|created  >= > <= <  "yyyy/MM/dd HH:mm" | "yyyy-MM-dd HH:mm" | "yyyy/MM/dd" | "yyyy-MM-dd"
    != and "not in" for the list fields; AND, OR, NOT, parentheses;
    ORDER BY updated|created|key|id [ASC|DESC], ...

Dates carry no zone: Jira reads them in the searching user's profile time zone, at minute
granularity (https://support.atlassian.com/jira-software-cloud/docs/jql-fields/#Updated), so
`compile_jql` takes that zone. Anything outside the subset raises `JqlError`, which the routes answer
with 400 and Jira's error body (`{"errorMessages": ["Error in the JQL Query: ..."], "errors": {}}`).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

__all__ = [
    "And",
    "Clause",
    "JqlError",
    "Not",
    "Or",
    "Query",
    "Searchable",
    "compile_jql",
    "key_sort_value",
]


class JqlError(ValueError):
    """The query is not valid JQL, or uses something outside the sandbox's subset."""


class Searchable(Protocol):
    """What a query looks at on an issue."""

    id: int
    key: str
    project: str
    type_name: str
    labels: list[str]
    created_ms: int
    updated_ms: int
    old_keys: list[str]

    status: str
    resolution: str | None

    @property
    def status_category(self) -> str: ...

    @property
    def parent_id(self) -> int | None: ...

    @property
    def parent_key(self) -> str | None: ...


LIST_FIELDS = {
    "project",
    "key",
    "id",
    "parent",
    "labels",
    "issuetype",
    "status",
    "statuscategory",
    "resolution",
}
# statusCategory values may be keys or names (`statusCategory = Done`, `= "In Progress"`, `= new`).
CATEGORY_NAMES = {"to do": "new", "in progress": "indeterminate", "done": "done"}
DATE_FIELDS = {"updated", "created"}
FIELD_ALIASES = {
    "issuekey": "key",
    "type": "issuetype",
    "label": "labels",
    "updateddate": "updated",
    "createddate": "created",
    "epic link": "parent",  # Data Center's Epic Link field: this sandbox keeps one parent per issue
}
ORDER_FIELDS = {"updated", "created", "key", "id", "issuekey"}

_TOKEN = re.compile(
    r"""
    \s*(?:
      (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
     |(?P<op>!=|>=|<=|=|>|<|~|!~)
     |(?P<punct>[(),])
     |(?P<word>[A-Za-z0-9_.\-/:*]+)
    )""",
    re.VERBOSE,
)
_DATE_FORMATS = ("%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M", "%Y/%m/%d", "%Y-%m-%d")


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # string | op | punct | word | end
    text: str
    pos: int


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            stripped = len(text[pos:]) - len(text[pos:].lstrip())
            raise JqlError(f"The character '{text[pos + stripped]}' is a reserved JQL character.")
        kind = match.lastgroup or "word"
        value = match.group(kind)
        start = match.start(kind)
        if kind == "string":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        tokens.append(Token(kind, value, start))
        pos = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


@dataclass(frozen=True, slots=True)
class Clause:
    field: str
    op: str  # = != in "not in" >= > <= < "is" "is not" (EMPTY)
    values: tuple[str, ...] = ()
    instant_ms: int = 0  # for date fields

    def matches(self, issue: Searchable) -> bool:
        if self.op in ("is", "is not"):
            empty = {
                "resolution": issue.resolution is None,
                "labels": not issue.labels,
                "parent": issue.parent_id is None,
            }[self.field]
            return empty if self.op == "is" else not empty
        if self.field in DATE_FIELDS:
            value = issue.updated_ms if self.field == "updated" else issue.created_ms
            return _COMPARE[self.op](value, self.instant_ms)
        hit = self._member(issue)
        return not hit if self.op in ("!=", "not in") else hit

    def _member(self, issue: Searchable) -> bool:
        wanted = self.values
        if self.field == "project":
            return issue.project.upper() in wanted
        if self.field in ("key", "id"):
            # Jira resolves `key`/`id` values the same way: either an issue id or a key, including
            # the old keys of a moved issue.
            if str(issue.id) in wanted or issue.key.upper() in wanted:
                return True
            return any(old.upper() in wanted for old in issue.old_keys)
        if self.field == "parent":
            if issue.parent_id is None:
                return False
            parent_key = issue.parent_key
            return str(issue.parent_id) in wanted or (parent_key is not None and parent_key.upper() in wanted)
        if self.field == "labels":
            return any(label in wanted for label in issue.labels)
        if self.field == "issuetype":
            return issue.type_name.lower() in wanted
        if self.field == "status":
            return issue.status.lower() in wanted
        if self.field == "statuscategory":
            return issue.status_category in wanted
        if self.field == "resolution":
            # `resolution = Unresolved` / `is EMPTY` select issues without one.
            return (issue.resolution or "unresolved").lower() in wanted
        raise AssertionError(self.field)


_COMPARE: dict[str, Callable[[int, int], bool]] = {
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
    "=": lambda a, b: a == b,
}


@dataclass(frozen=True, slots=True)
class And:
    parts: tuple[Node, ...]

    def matches(self, issue: Searchable) -> bool:
        return all(part.matches(issue) for part in self.parts)


@dataclass(frozen=True, slots=True)
class Or:
    parts: tuple[Node, ...]

    def matches(self, issue: Searchable) -> bool:
        return any(part.matches(issue) for part in self.parts)


@dataclass(frozen=True, slots=True)
class Not:
    part: Node

    def matches(self, issue: Searchable) -> bool:
        return not self.part.matches(issue)


Node = Clause | And | Or | Not


@dataclass(frozen=True, slots=True)
class Query:
    where: Node | None
    order: tuple[tuple[str, bool], ...] = field(default=())  # (field, descending)

    def matches(self, issue: Searchable) -> bool:
        return self.where is None or self.where.matches(issue)

    def conjuncts(self) -> tuple[Node, ...]:
        """The top-level AND parts: each must hold for every result (used to narrow candidates)."""
        if self.where is None:
            return ()
        if isinstance(self.where, And):
            return self.where.parts
        return (self.where,)

    def updated_lower_bound(self) -> int | None:
        """The greatest `updated >=`/`>` instant every result is at or after, if the query has one."""
        bounds = [
            c.instant_ms
            for c in self.conjuncts()
            if isinstance(c, Clause) and c.field == "updated" and c.op in (">=", ">")
        ]
        return max(bounds) if bounds else None

    def projects(self) -> frozenset[str] | None:
        """The projects every result must be in, if the query restricts them at the top level."""
        for c in self.conjuncts():
            if isinstance(c, Clause) and c.field == "project" and c.op in ("=", "in"):
                return frozenset(c.values)
        return None

    def sort_key(self) -> Callable[[Searchable], tuple[int | tuple[str, int], ...]]:
        """A key for `sorted`; descending parts are negated (keys sort by project, then number)."""
        order = self.order or (("key", True),)
        attrs = {"updated": "updated_ms", "created": "created_ms", "id": "id"}
        if all(not descending and name in attrs for name, descending in order):
            # The common scan orders (created/updated ASC, id ASC) sort with a C-level key.
            names = [attrs[name] for name, _ in order]
            if "id" not in names:
                names.append("id")
            return operator.attrgetter(*names)
        parts: list[Callable[[Searchable], int | tuple[str, int]]] = []
        for name, descending in order:
            parts.append(_order_part(name, descending))
        if not any(name in ("key", "id") for name, _ in order):
            parts.append(lambda issue: issue.id)  # stable tie-breaker, as Jira's own

        def key(issue: Searchable) -> tuple[int | tuple[str, int], ...]:
            return tuple(part(issue) for part in parts)

        return key


def _order_part(name: str, descending: bool) -> Callable[[Searchable], int | tuple[str, int]]:
    sign = -1 if descending else 1
    if name == "updated":
        return lambda issue: sign * issue.updated_ms
    if name == "created":
        return lambda issue: sign * issue.created_ms
    if name == "id":
        return lambda issue: sign * issue.id
    if descending:
        return lambda issue: _negated_key(issue.key)
    return lambda issue: key_sort_value(issue.key)


def key_sort_value(key: str) -> tuple[str, int]:
    project, _, number = key.partition("-")
    return project, int(number) if number.isdigit() else 0


def _negated_key(key: str) -> tuple[str, int]:
    # Strings cannot be negated; map each character so the order reverses (project keys are ASCII).
    project, number = key_sort_value(key)
    return "".join(chr(0x10FFFF - ord(ch)) for ch in project), -number


class _Parser:
    def __init__(self, text: str, zone: ZoneInfo) -> None:
        self.text = text
        self.zone = zone
        self.tokens = tokenize(text)
        self.index = 0

    def peek(self) -> Token:
        return self.tokens[self.index]

    def next(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def keyword(self, *words: str) -> bool:
        token = self.peek()
        return token.kind == "word" and token.text.lower() in words

    def fail(self, expected: str, token: Token | None = None) -> JqlError:
        token = token or self.peek()
        got = "the end of the query" if token.kind == "end" else f"'{token.text}'"
        return JqlError(f"Expecting {expected} but got {got}. (line 1, character {token.pos + 1})")

    def parse(self) -> Query:
        where: Node | None = None
        if not self.keyword("order") and self.peek().kind != "end":
            where = self.expression()
        order: list[tuple[str, bool]] = []
        if self.keyword("order"):
            self.next()
            if not self.keyword("by"):
                raise self.fail("'by'")
            self.next()
            while True:
                token = self.next()
                if token.kind not in ("word", "string"):
                    raise self.fail("a field name", token)
                name = token.text.lower()
                if name not in ORDER_FIELDS:
                    raise JqlError(
                        f"Field '{token.text}' does not exist or you do not have permission to view it."
                    )
                descending = False
                if self.keyword("asc", "desc"):
                    descending = self.next().text.lower() == "desc"
                order.append(("key" if name == "issuekey" else name, descending))
                if self.peek().kind == "punct" and self.peek().text == ",":
                    self.next()
                    continue
                break
        if self.peek().kind != "end":
            raise self.fail("either 'OR' or 'AND'" if not order else "',' or the end of the query")
        return Query(where, tuple(order))

    def expression(self) -> Node:
        parts = [self.term()]
        while self.keyword("or"):
            self.next()
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def term(self) -> Node:
        parts = [self.factor()]
        while self.keyword("and"):
            self.next()
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def factor(self) -> Node:
        if self.keyword("not"):
            self.next()
            return Not(self.factor())
        token = self.peek()
        if token.kind == "punct" and token.text == "(":
            self.next()
            node = self.expression()
            closing = self.next()
            if closing.kind != "punct" or closing.text != ")":
                raise self.fail("')'", closing)
            return node
        return self.clause()

    def clause(self) -> Clause:
        token = self.next()
        if token.kind not in ("word", "string") or token.text.lower() in ("and", "or", "order"):
            raise self.fail("a field name", token)
        name = FIELD_ALIASES.get(token.text.lower(), token.text.lower())
        if name not in LIST_FIELDS and name not in DATE_FIELDS:
            raise JqlError(f"Field '{token.text}' does not exist or you do not have permission to view it.")
        op_token = self.next()
        op = op_token.text.lower()
        if op_token.kind == "word" and op == "is" and name in ("resolution", "labels", "parent"):
            negated = self.keyword("not")
            if negated:
                self.next()
            value = self.next()
            if value.text.lower() not in ("empty", "null"):
                raise self.fail("'EMPTY'", value)
            return Clause(name, "is not" if negated else "is", ("EMPTY",))
        if op_token.kind == "word" and op == "not" and self.keyword("in"):
            self.next()
            op = "not in"
        elif op_token.kind not in ("op", "word") or op not in ("=", "!=", "in", ">=", ">", "<=", "<"):
            raise self.fail("an operator", op_token)
        if name in DATE_FIELDS:
            if op not in (">=", ">", "<=", "<", "="):
                raise JqlError(
                    f"The operator '{op_token.text}' is not supported by the '{token.text}' field."
                )
            value = self.next()
            if value.kind not in ("string", "word"):
                raise self.fail("a date", value)
            return Clause(name, op, (), self.instant(value.text, token.text))
        if op in (">=", ">", "<=", "<"):
            raise JqlError(f"The operator '{op}' is not supported by the '{token.text}' field.")
        values = self.list_values() if op in ("in", "not in") else (self.value(),)
        return Clause(name, op, tuple(self.normalize(name, v) for v in values))

    def list_values(self) -> tuple[str, ...]:
        opening = self.next()
        if opening.kind != "punct" or opening.text != "(":
            raise self.fail("'('", opening)
        values = [self.value()]
        while True:
            token = self.next()
            if token.kind == "punct" and token.text == ",":
                values.append(self.value())
            elif token.kind == "punct" and token.text == ")":
                return tuple(values)
            else:
                raise self.fail("')'", token)

    def value(self) -> str:
        token = self.next()
        if token.kind not in ("word", "string") or (
            token.kind == "word" and token.text.lower() in ("and", "or")
        ):
            raise self.fail("either a value, list or function", token)
        return token.text

    @staticmethod
    def normalize(name: str, value: str) -> str:
        if name in ("issuetype", "status", "resolution"):
            return "unresolved" if value.lower() in ("empty", "null") else value.lower()
        if name == "statuscategory":
            return CATEGORY_NAMES.get(value.lower(), value.lower())
        if name == "labels":
            return value
        return value.upper()

    def instant(self, text: str, field_name: str) -> int:
        for fmt in _DATE_FORMATS:
            try:
                naive = datetime.strptime(text, fmt)
            except ValueError:
                continue
            return int(naive.replace(tzinfo=self.zone).timestamp() * 1000)
        raise JqlError(
            f"Date value '{text}' for field '{field_name}' is invalid. Valid formats include: "
            "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'."
        )


def compile_jql(text: str, zone: ZoneInfo) -> Query:
    """Parse `text`; raises `JqlError` whose message is the line Jira puts in `errorMessages`."""
    try:
        return _Parser(text, zone).parse()
    except JqlError as error:
        raise JqlError(f"Error in the JQL Query: {error}") from None
