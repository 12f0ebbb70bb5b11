"""The dependency graph of a program (PRODUCT §6.2 dependencies).

Edges are ``blocks`` links with at least one end in the program; ``from`` blocks ``to``. An end
that is not synced (another tracker, a project crosstrack does not read) is an external node
known only by its key. Each edge gets one state, the first that applies:

1. ``satisfied``: the blocker is done;
2. ``cycle``: the edge lies on a cycle of unsatisfied edges (the reason names the cycle);
3. ``off_track``: the blocker is due (or forecast) after the dependent's due date, or the
   blocker has not started while the dependent is in progress;
4. ``open``.

Cross-team: both ends have a team and they differ. Cross-tracker: the trackers differ.
"""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import BigInteger, Integer, String, and_, case, null, or_, select, type_coerce
from sqlalchemy.orm import Session

from connectors.records import LinkType, Resolution, StatusCategory
from sync.membership import nearest_epics
from sync.model import Link, Program, StatusChange, Team, WorkItem
from sync.views import examples
from sync.views.common import (
    DEFAULT_STALE_AFTER_MINUTES,
    ViewMeta,
    gc_paused,
    get_program,
    ids_in,
    item_alias,
    membership_alias,
    trusted,
    view_meta,
)

__all__ = [
    "CriticalPath",
    "DependencyGraph",
    "Edge",
    "EdgeState",
    "Node",
    "Rollup",
    "TeamMatrix",
    "critical_path",
    "dependency_graph",
    "load_graph",
    "team_matrix",
    "to_dot",
    "to_mermaid",
]

Rollup = Literal["item", "epic", "team"]
DEFAULT_CYCLE_DAYS = 5.0


class EdgeState(StrEnum):
    SATISFIED = "satisfied"
    CYCLE = "cycle"
    OFF_TRACK = "off_track"
    OPEN = "open"


#: Worst first: a rolled-up edge shows the worst state among the links it stands for.
_SEVERITY = [EdgeState.CYCLE, EdgeState.OFF_TRACK, EdgeState.OPEN, EdgeState.SATISFIED]


class Node(BaseModel):
    id: str = Field(description="Item key, 'epic:KEY', 'team:SLUG' or 'no-team' depending on the roll-up.")
    label: str
    key: str | None = None
    item_id: int | None = None
    title: str | None = None
    url: str | None = None
    tracker: str | None = None
    kind: str | None = None
    status_category: StatusCategory | None = None
    team: str | None = None
    epic: str | None = None
    due_date: date | None = None
    in_program: bool = False
    external: bool = Field(False, description="Not synced: only its key is known.")
    items: int = Field(1, description="How many items the node stands for.")


class Edge(BaseModel):
    source: str = Field(description="Node id of the blocker.")
    target: str = Field(description="Node id of the blocked item.")
    state: EdgeState
    reason: str
    cross_team: bool
    cross_tracker: bool
    links: int = Field(1, description="How many links the edge stands for (roll-ups).")
    states: dict[str, int] = Field(default_factory=dict, description="Links per state (roll-ups).")
    link_ids: list[int] = Field(default_factory=list)
    since: datetime | None = None


class DependencyGraph(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [examples.DEPENDENCIES]})

    meta: ViewMeta
    rollup: Rollup
    nodes: list[Node]
    edges: list[Edge]
    counts: dict[str, int] = Field(description="Edges per state (item level).")


class MatrixCell(BaseModel):
    blocker_team: str
    blocked_team: str
    open: int = Field(description="Unsatisfied dependencies (open, off-track or in a cycle).")
    off_track: int
    cycle: int


class TeamMatrix(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [examples.TEAM_MATRIX]})

    meta: ViewMeta
    teams: list[str] = Field(description="Row/column order of `matrix` ('(none)' = no team / external).")
    matrix: list[list[int]] = Field(description="matrix[i][j]: open dependencies where team i blocks team j.")
    cells: list[MatrixCell]


class PathStep(BaseModel):
    key: str
    title: str | None
    team: str | None
    status_category: StatusCategory | None
    days: float = Field(description="Remaining days assumed for this item.")
    finish: date


class CriticalPath(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [examples.CRITICAL_PATH]})

    meta: ViewMeta
    target_date: date | None
    steps: list[PathStep]
    remaining_days: float
    finish_date: date | None
    slack_days: int | None = Field(description="target - finish; negative means the path misses the target.")
    method: str


# -- loading ------------------------------------------------------------------------------------


@dataclass(slots=True)
class _End:
    key: str
    item_id: int | None
    title: str | None
    url: str | None
    tracker: str
    kind: str | None
    status: StatusCategory | None
    resolution: Resolution | None
    team: str | None
    epic: str | None
    due: date | None
    in_program: bool

    @property
    def done(self) -> bool:
        return self.status is StatusCategory.DONE


@dataclass(slots=True)
class _Link:
    id: int
    blocker: _End
    blocked: _End
    created_at: datetime | None
    state: EdgeState = EdgeState.OPEN
    reason: str = ""

    @property
    def cross_team(self) -> bool:
        a, b = self.blocker.team, self.blocked.team
        return a is not None and b is not None and a != b

    @property
    def cross_tracker(self) -> bool:
        return self.blocker.tracker != self.blocked.tracker


def epic_keys_of(session: Session, item_ids: set[int]) -> dict[int, str]:
    """item id -> the key of its nearest epic ancestor (items without one are left out)."""
    epics = nearest_epics(session, sorted(item_ids))
    keys = _keys(session, set(epics.values()))
    return {item_id: keys[epic] for item_id, epic in epics.items() if epic in keys}


def _keys(session: Session, item_ids: set[int]) -> dict[int, str]:
    if not item_ids:
        return {}
    stmt = select(WorkItem.id, WorkItem.key).where(ids_in(session, WorkItem.id, sorted(item_ids)))
    return {row[0]: row[1] for row in session.execute(stmt)}


_STATUS: dict[str | None, StatusCategory] = {c.value: c for c in StatusCategory}
_RESOLUTION: dict[str | None, Resolution] = {r.value: r for r in Resolution}


def _text(column: Any) -> Any:
    return type_coerce(column, String())


def _load_links(
    session: Session, program: Program, *, unsatisfied_only: bool = False, with_epics: bool = True
) -> list[_Link]:
    """Blocks links touching the program, with both ends (``unsatisfied_only``: blocker not done)."""
    a, b = item_alias("a"), item_alias("b")
    pa, pb = membership_alias("pa"), membership_alias("pb")
    # Enumerations read as their stored strings and mapped below with one dict lookup: the
    # per-column enum processing costs more than the rest of a row.
    base: list[Any] = [
        Link.id,
        Link.created_at,
        _text(Link.from_tracker),
        Link.from_key,
        _text(Link.to_tracker),
        Link.to_key,
    ]
    for end in (a, b):
        base += [end.id, end.title, end.url, _text(end.kind), _text(end.status_category)]
        base += [_text(end.resolution), end.team_id, end.due_date]
    no_program = null().cast(Integer())
    no_epic = null().cast(BigInteger())
    # Driven from the program's membership rows through the link indexes, in two parts that
    # cannot overlap: links whose blocker is a member, and links whose blocked end is a member
    # while the blocker is not. (An ``IN (union of ids)`` makes PostgreSQL hash the whole link
    # table; one OR over both ends scans it.) An end is in the program when its membership row
    # exists and the item is not deleted.
    from_member = (
        select(
            *base,
            case((a.id.is_not(None), pa.program_id), else_=no_program).label("from_member"),
            case((b.id.is_not(None), pb.program_id), else_=no_program).label("to_member"),
            pa.epic_id.label("from_epic"),
            pb.epic_id.label("to_epic"),
        )
        .select_from(pa)
        .join(Link, and_(Link.from_item_id == pa.work_item_id, Link.type == LinkType.BLOCKS))
        .outerjoin(a, and_(a.id == Link.from_item_id, a.deleted_at.is_(None)))
        .outerjoin(b, and_(b.id == Link.to_item_id, b.deleted_at.is_(None)))
        .outerjoin(pb, and_(pb.work_item_id == Link.to_item_id, pb.program_id == program.id))
        .where(pa.program_id == program.id)
    )
    pa2 = membership_alias("pa2")
    # Links into the program from outside are its boundary (few): their ids first, through the
    # indexes alone, then their rows (planners otherwise join every link before discarding).
    inbound = [
        link_id
        for (link_id,) in session.connection().execute(
            select(Link.id)
            .select_from(pb)
            .join(Link, and_(Link.to_item_id == pb.work_item_id, Link.type == LinkType.BLOCKS))
            .outerjoin(pa2, and_(pa2.work_item_id == Link.from_item_id, pa2.program_id == program.id))
            .where(pb.program_id == program.id, pa2.work_item_id.is_(None))
        )
    ]
    to_member = (
        select(
            *base,
            no_program.label("from_member"),
            case((b.id.is_not(None), pb.program_id), else_=no_program).label("to_member"),
            no_epic.label("from_epic"),
            pb.epic_id.label("to_epic"),
        )
        .select_from(Link)
        .join(pb, and_(pb.work_item_id == Link.to_item_id, pb.program_id == program.id))
        .outerjoin(a, and_(a.id == Link.from_item_id, a.deleted_at.is_(None)))
        .outerjoin(b, and_(b.id == Link.to_item_id, b.deleted_at.is_(None)))
        .where(ids_in(session, Link.id, inbound))
    )
    if unsatisfied_only:
        not_done = or_(a.id.is_(None), a.status_category != StatusCategory.DONE)
        from_member = from_member.where(not_done)
        to_member = to_member.where(not_done)
    # Core execution: plain rows, without the ORM's per-row result machinery (columns only here).
    conn = session.connection()
    rows: list[Any] = list(conn.execute(from_member).all())
    if inbound:
        rows += conn.execute(to_member).all()
    rows.sort(key=lambda r: r[0])  # by link id: a stable output
    teams = dict(session.execute(select(Team.id, Team.slug)).all())
    # The ends' epics in separate small queries (joining more aliases of work_item into the link
    # query takes PostgreSQL past its join-planning limits at 1M items): a member end's epic is on
    # its membership row (kept by membership recompute); ends outside the program (few: the
    # program's boundary) have none, so their parents are walked.
    member_epics = {r[i] for r in rows for i in (24, 25) if r[i] is not None} if with_epics else set()
    epic_key_of = _keys(session, member_epics)
    outside = {r[i] for r in rows for i, m in ((6, 22), (14, 23)) if r[i] is not None and r[m] is None}
    epic_keys = epic_keys_of(session, outside) if outside and with_epics else {}
    out: list[_Link] = []
    for r in rows:
        ends = []
        for offset, tracker, key, member, epic in (
            (6, r[2], r[3], r[22], r[24]),
            (14, r[4], r[5], r[23], r[25]),
        ):
            item_id, title, url, kind, status, resolution, team_id, due = r[offset : offset + 8]
            if member is None:
                epic = epic_keys.get(item_id) if item_id is not None else None
            else:
                epic = epic_key_of.get(epic) if epic is not None else None
            ends.append(
                _End(
                    key=key,
                    item_id=item_id,
                    title=title,
                    url=url,
                    tracker=tracker,
                    kind=kind,
                    status=_STATUS.get(status),
                    resolution=_RESOLUTION.get(resolution),
                    team=teams.get(team_id) if team_id is not None else None,
                    epic=epic,
                    due=due,
                    in_program=member is not None,
                )
            )
        out.append(_Link(id=r[0], blocker=ends[0], blocked=ends[1], created_at=r[1]))
    return out


# -- states ---------------------------------------------------------------------------------------


def _classify(links: list[_Link], forecast: Mapping[str, date] | None = None) -> None:
    forecast = forecast or {}
    unsatisfied: list[_Link] = []
    for link in links:
        if link.blocker.done:
            link.state, link.reason = EdgeState.SATISFIED, f"{link.blocker.key} is done"
        else:
            unsatisfied.append(link)
    graph: dict[str, set[str]] = defaultdict(set)
    for link in unsatisfied:
        graph[link.blocker.key].add(link.blocked.key)
    component = _strongly_connected(_cyclic_core(graph))
    for link in unsatisfied:
        u, v = link.blocker.key, link.blocked.key
        if u == v or (component.get(u) is not None and component.get(u) == component.get(v)):
            cycle = _cycle_through(graph, u, v, component)
            link.state, link.reason = EdgeState.CYCLE, "cycle: " + " → ".join(cycle)
            continue
        reason = _off_track_reason(link, forecast)
        if reason:
            link.state, link.reason = EdgeState.OFF_TRACK, reason
        else:
            link.state, link.reason = EdgeState.OPEN, f"{u} is not done yet"


def _off_track_reason(link: _Link, forecast: Mapping[str, date]) -> str | None:
    blocker, blocked = link.blocker, link.blocked
    if blocked.due is not None:
        if blocker.due is not None and blocker.due > blocked.due:
            return f"{blocker.key} is due {blocker.due}, after {blocked.key} is due ({blocked.due})"
        expected = forecast.get(blocker.key)
        if expected is not None and expected > blocked.due:
            return f"{blocker.key} is forecast for {expected}, after {blocked.key} is due ({blocked.due})"
    if blocker.status is StatusCategory.TODO and blocked.status is StatusCategory.IN_PROGRESS:
        return f"{blocker.key} has not started while {blocked.key} is in progress"
    return None


def _cyclic_core(graph: Mapping[str, set[str]]) -> dict[str, set[str]]:
    """The part of ``graph`` that can hold cycles: nodes without a way in or a way out (repeatedly)
    are on none. Dependency graphs are mostly chains, so this leaves little for Tarjan to walk."""
    succ: dict[str, set[str]] = {u: set(vs) for u, vs in graph.items()}
    pred: dict[str, set[str]] = defaultdict(set)
    for u, vs in graph.items():
        for v in vs:
            pred[v].add(u)
            succ.setdefault(v, set())
    queue = [n for n in succ if not succ[n] or not pred.get(n)]
    removed: set[str] = set()
    while queue:
        node = queue.pop()
        if node in removed:
            continue
        removed.add(node)
        for v in succ[node]:
            pred[v].discard(node)
            if not pred[v] and v not in removed:
                queue.append(v)
        for u in pred.get(node, ()):
            succ[u].discard(node)
            if not succ[u] and u not in removed:
                queue.append(u)
    return {u: vs for u, vs in succ.items() if u not in removed}


def _strongly_connected(graph: Mapping[str, Iterable[str]]) -> dict[str, int]:
    """Tarjan's algorithm, iterative; returns node -> component id for components of size > 1."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    result: dict[str, int] = {}
    counter = 0
    comp = 0
    nodes = set(graph) | {v for vs in graph.values() for v in vs}
    for root in sorted(nodes):
        if root in index:
            continue
        work: list[tuple[str, Any]] = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                members = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    members.append(member)
                    if member == node:
                        break
                if len(members) > 1:
                    for member in members:
                        result[member] = comp
                    comp += 1
    return result


def _cycle_through(graph: Mapping[str, set[str]], u: str, v: str, component: Mapping[str, int]) -> list[str]:
    """The shortest cycle u -> v -> ... -> u inside the component (for the reason text)."""
    if u == v:
        return [u, u]
    target = component.get(u)
    previous: dict[str, str] = {v: v}
    queue = [v]
    while queue:
        nxt: list[str] = []
        for node in queue:
            for child in sorted(graph.get(node, ())):
                if child in previous or component.get(child) != target:
                    continue
                previous[child] = node
                if child == u:
                    path = [u]
                    while path[-1] != v:
                        path.append(previous[path[-1]])
                    return [u, *reversed(path)]
                nxt.append(child)
        queue = nxt
    return [u, v, u]


def load_graph(
    session: Session,
    program: Program,
    forecast: Mapping[str, date] | None = None,
    *,
    unsatisfied_only: bool = False,
    with_epics: bool = True,
) -> list[_Link]:
    """Item-level links with their states (used by the risks and report too).

    ``unsatisfied_only`` leaves out links whose blocker is done (they are ``satisfied`` whatever
    else holds, and cycles are found among the others only): for callers that skip them anyway.
    ``with_epics=False`` leaves the ends' epics unknown, for callers that do not show them.
    """
    links = _load_links(session, program, unsatisfied_only=unsatisfied_only, with_epics=with_epics)
    _classify(links, forecast)
    return links


# -- graph and roll-ups ---------------------------------------------------------------------------


def _node_id(end: _End, rollup: Rollup) -> str:
    if rollup == "team" and end.item_id is not None:
        return f"team:{end.team}" if end.team else "no-team"
    if rollup == "epic" and end.epic is not None:
        return f"epic:{end.epic}"
    return end.key


def _edge(**values: Any) -> Edge:
    return trusted(Edge, values)


def _node_for(end: _End, rollup: Rollup, ident: str) -> dict[str, Any]:
    """A node's fields; the graph turns them into a :class:`Node` once complete."""
    if rollup == "team" and end.item_id is not None:
        return _group_node(ident, end.team or "(no team)", key=None, team=end.team, epic=None, end=end)
    if rollup == "epic" and end.epic is not None:
        return _group_node(ident, end.epic, key=end.epic, team=None, epic=end.epic, end=end)
    return {
        "id": ident,
        "label": end.key,
        "key": end.key,
        "item_id": end.item_id,
        "title": end.title,
        "url": end.url,
        "tracker": end.tracker,
        "kind": end.kind,
        "status_category": end.status,
        "team": end.team,
        "epic": end.epic,
        "due_date": end.due,
        "in_program": end.in_program,
        "external": end.item_id is None,
        "items": 1,
    }


def _group_node(
    ident: str, label: str, *, key: str | None, team: str | None, epic: str | None, end: _End
) -> dict[str, Any]:
    """A team or epic roll-up node: no single item's fields."""
    return {
        "id": ident,
        "label": label,
        "key": key,
        "item_id": None,
        "title": None,
        "url": None,
        "tracker": None,
        "kind": None,
        "status_category": None,
        "team": team,
        "epic": epic,
        "due_date": None,
        "in_program": end.in_program,
        "external": False,
        "items": 0,
    }


_RANK = {state: index for index, state in enumerate(_SEVERITY)}


@gc_paused()
def dependency_graph(
    session: Session,
    slug: str,
    rollup: Rollup = "item",
    as_of: datetime | None = None,
    forecast: Mapping[str, date] | None = None,
    stale_after_minutes: int = DEFAULT_STALE_AFTER_MINUTES,
) -> DependencyGraph:
    program = get_program(session, slug)
    links = load_graph(session, program, forecast)
    counts = {s.value: 0 for s in EdgeState}
    nodes: dict[str, dict[str, Any]] = {}  # fields, made Node once complete
    members: dict[str, set[str]] = defaultdict(set)
    edges: dict[tuple[str, str], list[_Link]] = defaultdict(list)
    for link in links:
        counts[link.state.value] += 1
        ids = []
        for end in (link.blocker, link.blocked):
            ident = _node_id(end, rollup)
            known = nodes.get(ident)
            if known is None:
                nodes[ident] = _node_for(end, rollup, ident)
            elif end.in_program and not known["in_program"]:
                known["in_program"] = True
            members[ident].add(end.key)
            ids.append(ident)
        if ids[0] != ids[1] or rollup == "item":
            edges[(ids[0], ids[1])].append(link)
    # Nodes and edges are built without re-validation (a graph has thousands): every value
    # comes typed from the query.
    for node_id, node in nodes.items():
        node["items"] = len(members[node_id])
    out_edges = []
    for (u, v), group in sorted(edges.items()):
        if len(group) == 1:
            link = group[0]
            out_edges.append(
                _edge(
                    source=u,
                    target=v,
                    state=link.state,
                    reason=link.reason,
                    cross_team=link.cross_team,
                    cross_tracker=link.cross_tracker,
                    links=1,
                    states={link.state.value: 1},
                    link_ids=[link.id],
                    since=link.created_at,
                )
            )
            continue
        states: dict[str, int] = defaultdict(int)
        for link in group:
            states[link.state.value] += 1
        worst = min(group, key=lambda link: _RANK[link.state])
        out_edges.append(
            _edge(
                source=u,
                target=v,
                state=worst.state,
                reason=f"{len(group)} links; worst: {worst.blocker.key} → {worst.blocked.key}: {worst.reason}",
                cross_team=any(link.cross_team for link in group),
                cross_tracker=any(link.cross_tracker for link in group),
                links=len(group),
                states=dict(states),
                link_ids=sorted(link.id for link in group),
                since=min((link.created_at for link in group if link.created_at), default=None),
            )
        )
    return DependencyGraph(
        meta=view_meta(session, program, as_of, stale_after_minutes),
        rollup=rollup,
        nodes=[trusted(Node, nodes[node_id]) for node_id in sorted(nodes)],
        edges=out_edges,
        counts=counts,
    )


# -- renderings -----------------------------------------------------------------------------------

_COLOURS = {
    EdgeState.SATISFIED: "#2e7d32",
    EdgeState.OPEN: "#616161",
    EdgeState.OFF_TRACK: "#ef6c00",
    EdgeState.CYCLE: "#c62828",
}


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _node_text(node: Node) -> str:
    title = node.title or ""
    if len(title) > 40:
        title = title[:39] + "…"
    return f"{node.label}\n{title}" if title else node.label


def to_dot(graph: DependencyGraph) -> str:
    """Graphviz DOT (https://graphviz.org/doc/info/lang.html): blocker -> blocked."""
    lines = [f"digraph {_dot_quote(graph.meta.program)} {{", "  rankdir=LR;", "  node [shape=box];"]
    for node in graph.nodes:
        style = ', style="dashed"' if node.external else ""
        lines.append(f"  {_dot_quote(node.id)} [label={_dot_quote(_node_text(node))}{style}];")
    for edge in graph.edges:
        label = edge.state.value if edge.links == 1 else f"{edge.links} ({edge.state.value})"
        lines.append(
            f"  {_dot_quote(edge.source)} -> {_dot_quote(edge.target)} "
            f'[label={_dot_quote(label)}, color="{_COLOURS[edge.state]}"];'
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_text(text: str) -> str:
    # Mermaid labels are quoted; quotes and brackets are written as entity codes.
    # https://mermaid.js.org/syntax/flowchart.html#entity-codes-to-escape-characters
    return re.sub(r'["<>\[\]{}|#]', lambda m: f"#{ord(m.group(0))};", text).replace("\n", "<br/>")


def to_mermaid(graph: DependencyGraph) -> str:
    """A Mermaid flowchart (https://mermaid.js.org/syntax/flowchart.html); ids are n0, n1, ..."""
    ids = {node.id: f"n{i}" for i, node in enumerate(graph.nodes)}
    lines = ["flowchart LR"]
    for node in graph.nodes:
        text = _mermaid_text(_node_text(node))
        lines.append(f'  {ids[node.id]}["{text}"]' if not node.external else f'  {ids[node.id]}(["{text}"])')
    for i, edge in enumerate(graph.edges):
        label = edge.state.value if edge.links == 1 else f"{edge.links} {edge.state.value}"
        lines.append(f"  {ids[edge.source]} -->|{label}| {ids[edge.target]}")
        lines.append(f"  linkStyle {i} stroke:{_COLOURS[edge.state]}")
    return "\n".join(lines) + "\n"


# -- team matrix ----------------------------------------------------------------------------------


@gc_paused()
def team_matrix(
    session: Session,
    slug: str,
    as_of: datetime | None = None,
    stale_after_minutes: int = DEFAULT_STALE_AFTER_MINUTES,
) -> TeamMatrix:
    program = get_program(session, slug)
    links = load_graph(session, program, unsatisfied_only=True, with_epics=False)
    cells: dict[tuple[str, str], MatrixCell] = {}
    for link in links:
        if link.state is EdgeState.SATISFIED:
            continue
        a, b = link.blocker.team or "(none)", link.blocked.team or "(none)"
        cell = cells.setdefault(
            (a, b), MatrixCell(blocker_team=a, blocked_team=b, open=0, off_track=0, cycle=0)
        )
        cell.open += 1
        cell.off_track += link.state is EdgeState.OFF_TRACK
        cell.cycle += link.state is EdgeState.CYCLE
    names = sorted(session.scalars(select(Team.slug)))
    if any("(none)" in key for key in cells):
        names.append("(none)")
    matrix = [[cells[(a, b)].open if (a, b) in cells else 0 for b in names] for a in names]
    return TeamMatrix(
        meta=view_meta(session, program, as_of, stale_after_minutes),
        teams=names,
        matrix=matrix,
        cells=sorted(cells.values(), key=lambda c: (c.blocker_team, c.blocked_team)),
    )


# -- critical path --------------------------------------------------------------------------------


def cycle_days_by_team(session: Session, as_of: datetime, window_days: int = 90) -> dict[str | None, float]:
    """Median days from first 'in progress' to done, per team, for items done in the window."""
    since = as_of - timedelta(days=window_days)
    started = (
        select(StatusChange.work_item_id, StatusChange.at)
        .where(
            StatusChange.to_category == StatusCategory.IN_PROGRESS,
            StatusChange.at >= since - timedelta(days=180),
        )
        .subquery()
    )
    rows = session.execute(
        select(Team.slug, WorkItem.id, WorkItem.resolved_at, started.c.at)
        .join(started, started.c.work_item_id == WorkItem.id)
        .outerjoin(Team, Team.id == WorkItem.team_id)
        .where(
            WorkItem.status_category == StatusCategory.DONE,
            WorkItem.resolved_at >= since,
            WorkItem.resolved_at <= as_of,
        )
    ).all()
    first: dict[int, tuple[str | None, datetime, datetime]] = {}
    for team, item_id, resolved, at in rows:
        if resolved is None:
            continue
        known = first.get(item_id)
        if known is None or at < known[2]:
            first[item_id] = (team, resolved, at)
    spans: dict[str | None, list[float]] = defaultdict(list)
    for team, resolved, at in first.values():
        spans[team].append(max(0.5, (resolved - at).total_seconds() / 86400))
    return {team: statistics.median(values) for team, values in spans.items()}


@gc_paused()
def critical_path(
    session: Session,
    slug: str,
    as_of: datetime | None = None,
    stale_after_minutes: int = DEFAULT_STALE_AFTER_MINUTES,
) -> CriticalPath:
    """The longest chain of unfinished, dependent program items (by remaining days).

    Each unfinished item takes its team's median cycle time (items in progress half of it;
    :data:`DEFAULT_CYCLE_DAYS` without history); edges in a cycle are left out so the chain is
    finite. The finish date is ``as_of`` + the chain's days, compared with the target date.
    """
    at = as_of or datetime.now(UTC)
    program = get_program(session, slug)
    links = load_graph(session, program, unsatisfied_only=True, with_epics=False)
    cycle_days = cycle_days_by_team(session, at)
    ends: dict[str, _End] = {}
    graph: dict[str, list[str]] = defaultdict(list)
    for link in links:
        if link.state in (EdgeState.SATISFIED, EdgeState.CYCLE):
            continue
        if link.blocked.done or not (link.blocker.in_program or link.blocked.in_program):
            continue
        ends[link.blocker.key], ends[link.blocked.key] = link.blocker, link.blocked
        graph[link.blocker.key].append(link.blocked.key)

    def days(end: _End) -> float:
        if end.done:
            return 0.0
        base = cycle_days.get(end.team, DEFAULT_CYCLE_DAYS)
        return round(base / 2 if end.status is StatusCategory.IN_PROGRESS else base, 1)

    best: dict[str, tuple[float, str | None]] = {}

    def longest(key: str) -> tuple[float, str | None]:  # days from the start of key to the chain's end
        stack = [(key, False)]
        while stack:
            node, expanded = stack.pop()
            if node in best:
                continue
            children = sorted(graph.get(node, ()))
            if not expanded:
                stack.append((node, True))
                stack.extend((c, False) for c in children if c not in best)
                continue
            tail = max(((best[c][0], c) for c in children), default=(0.0, None))
            best[node] = (days(ends[node]) + tail[0], tail[1])
        return best[key]

    start, total = None, 0.0
    for key in sorted(ends):
        length = longest(key)[0]
        if length > total:
            start, total = key, length
    steps: list[PathStep] = []
    day = at.date()
    elapsed = 0.0
    node = start
    while node is not None:
        end = ends[node]
        elapsed += days(end)
        steps.append(
            PathStep(
                key=end.key,
                title=end.title,
                team=end.team,
                status_category=end.status,
                days=days(end),
                finish=day + timedelta(days=round(elapsed)),
            )
        )
        node = best[node][1]
    finish = day + timedelta(days=round(total)) if steps else None
    target = program.target_date
    return CriticalPath(
        meta=view_meta(session, program, at, stale_after_minutes),
        target_date=target,
        steps=steps,
        remaining_days=round(total, 1),
        finish_date=finish,
        slack_days=(target - finish).days if target and finish else None,
        method="longest chain of unfinished blocking links; each item takes its team's median cycle time "
        f"over 90 days (half if in progress, {DEFAULT_CYCLE_DAYS:g} days without history)",
    )
