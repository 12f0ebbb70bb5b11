"""Dependency graph, states, roll-ups, renderings, team matrix and critical path, worked by hand."""

from __future__ import annotations

from datetime import date, timedelta

from connectors.records import ItemKind, StatusCategory
from sync.views.dependencies import critical_path, dependency_graph, team_matrix, to_dot, to_mermaid
from tests.views.builders import NOW, World

DONE, DOING, TODO = StatusCategory.DONE, StatusCategory.IN_PROGRESS, StatusCategory.TODO


def build(world: World) -> None:
    world.item("PAY-1", kind=ItemKind.EPIC, status=DOING)
    world.item("PAY-2", parent="PAY-1", status=DOING, due=date(2026, 12, 1))
    world.item("acme/web#1", team="web", status=TODO, due=date(2026, 12, 10))
    world.blocks("acme/web#1", "PAY-2")  # off-track: blocker due after the dependent
    world.item("PAY-3", status=DONE)
    world.item("PAY-4", status=TODO)
    world.blocks("PAY-3", "PAY-4")  # satisfied
    world.blocks("OTHER-1", "PAY-4")  # external blocker: open
    for key in ("PAY-5", "PAY-6", "PAY-7"):
        world.item(key, status=TODO)
    world.blocks("PAY-5", "PAY-6")
    world.blocks("PAY-6", "PAY-7")
    world.blocks("PAY-7", "PAY-5")  # a cycle of three
    world.item("PLAT-1", team="plat", status=TODO, member=False)
    world.item("PAY-8", status=DOING)
    world.blocks("PLAT-1", "PAY-8")  # off-track: blocker not started, dependent in progress
    for key in ("PAY-9", "PAY-10", "PAY-11"):
        world.item(key, status=TODO)
    world.blocks("PAY-9", "PAY-10")
    world.blocks("PAY-10", "PAY-11")
    world.item("PAY-98", member=False)
    world.item("PAY-99", member=False)
    world.blocks("PAY-99", "PAY-98")  # outside the program: not shown


def test_item_graph_states_and_flags(world: World) -> None:
    build(world)
    graph = dependency_graph(world.s, "prog", as_of=NOW)
    edges = {(e.source, e.target): (e.state.value, e.cross_team, e.cross_tracker) for e in graph.edges}
    assert edges == {
        ("acme/web#1", "PAY-2"): ("off_track", True, True),
        ("PAY-3", "PAY-4"): ("satisfied", False, False),
        ("OTHER-1", "PAY-4"): ("open", False, False),
        ("PAY-5", "PAY-6"): ("cycle", False, False),
        ("PAY-6", "PAY-7"): ("cycle", False, False),
        ("PAY-7", "PAY-5"): ("cycle", False, False),
        ("PLAT-1", "PAY-8"): ("off_track", True, False),
        ("PAY-9", "PAY-10"): ("open", False, False),
        ("PAY-10", "PAY-11"): ("open", False, False),
    }
    assert graph.counts == {"satisfied": 1, "cycle": 3, "off_track": 2, "open": 3}
    reasons = {(e.source, e.target): e.reason for e in graph.edges}
    assert reasons[("PAY-6", "PAY-7")] == "cycle: PAY-6 → PAY-7 → PAY-5 → PAY-6"
    assert reasons[("acme/web#1", "PAY-2")] == "acme/web#1 is due 2026-12-10, after PAY-2 is due (2026-12-01)"
    assert reasons[("PLAT-1", "PAY-8")] == "PLAT-1 has not started while PAY-8 is in progress"
    nodes = {n.id: n for n in graph.nodes}
    assert nodes["OTHER-1"].external and not nodes["OTHER-1"].in_program
    assert not nodes["PLAT-1"].in_program and nodes["PLAT-1"].team == "plat"
    assert nodes["PAY-2"].epic == "PAY-1" and nodes["PAY-2"].in_program
    assert "PAY-99" not in nodes


def test_forecast_after_the_dependents_due_date_is_off_track(world: World) -> None:
    world.item("PAY-1", status=TODO, due=date(2026, 12, 1))
    world.item("PAY-2", status=TODO)
    world.blocks("PAY-2", "PAY-1")
    plain = dependency_graph(world.s, "prog", as_of=NOW)
    late = dependency_graph(world.s, "prog", as_of=NOW, forecast={"PAY-2": date(2026, 12, 5)})
    assert [e.state.value for e in plain.edges] == ["open"]
    assert [(e.state.value, e.reason) for e in late.edges] == [
        ("off_track", "PAY-2 is forecast for 2026-12-05, after PAY-1 is due (2026-12-01)")
    ]


def test_rollups(world: World) -> None:
    build(world)
    teams = dependency_graph(world.s, "prog", rollup="team", as_of=NOW)
    assert {(e.source, e.target): (e.links, e.state.value) for e in teams.edges} == {
        ("OTHER-1", "team:pay"): (1, "open"),
        ("team:plat", "team:pay"): (1, "off_track"),
        ("team:web", "team:pay"): (1, "off_track"),
    }
    assert {n.id: n.items for n in teams.nodes} == {
        "OTHER-1": 1,
        "team:pay": 10,
        "team:plat": 1,
        "team:web": 1,
    }
    epics = dependency_graph(world.s, "prog", rollup="epic", as_of=NOW)
    assert ("acme/web#1", "epic:PAY-1") in {(e.source, e.target) for e in epics.edges}


def test_dot_and_mermaid(world: World) -> None:
    world.item("PAY-1", status=DONE)
    world.item("acme/web#2", team="web", status=TODO)
    world.items["acme/web#2"].title = 'Say "hi" <now>'
    world.blocks("PAY-1", "acme/web#2")
    world.blocks("acme/web#2", "EXT-9")
    graph = dependency_graph(world.s, "prog", as_of=NOW)
    dot = to_dot(graph)
    assert dot.startswith('digraph "prog" {')
    assert '"PAY-1" -> "acme/web#2" [label="satisfied", color="#2e7d32"];' in dot
    assert '"acme/web#2" [label="acme/web#2\\nSay \\"hi\\" <now>"];' in dot
    assert '"EXT-9" [label="EXT-9", style="dashed"];' in dot
    mermaid = to_mermaid(graph)
    assert mermaid.splitlines() == [
        "flowchart LR",
        '  n0(["EXT-9"])',
        '  n1["PAY-1<br/>Title PAY-1"]',
        '  n2["acme/web#35;2<br/>Say #34;hi#34; #60;now#62;"]',
        "  n1 -->|satisfied| n2",
        "  linkStyle 0 stroke:#2e7d32",
        "  n2 -->|open| n0",
        "  linkStyle 1 stroke:#616161",
    ]


def test_team_matrix(world: World) -> None:
    build(world)
    m = team_matrix(world.s, "prog", as_of=NOW)
    assert m.teams == ["pay", "plat", "web", "(none)"]
    assert m.matrix == [[5, 0, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0]]
    pay = next(c for c in m.cells if c.blocker_team == "pay" and c.blocked_team == "pay")
    assert (pay.open, pay.cycle, pay.off_track) == (5, 3, 0)


def test_critical_path_uses_team_cycle_time(world: World) -> None:
    build(world)
    # pay's history: one item took 4 days from 'in progress' to done
    world.item("PAY-20", status=DONE, resolved=NOW - timedelta(days=10), member=False)
    world.change("PAY-20", NOW - timedelta(days=14), DOING, TODO)
    path = critical_path(world.s, "prog", as_of=NOW)
    assert [(s.key, s.days) for s in path.steps] == [("PAY-9", 4.0), ("PAY-10", 4.0), ("PAY-11", 4.0)]
    assert path.remaining_days == 12.0
    assert path.finish_date == date(2026, 12, 2)
    assert path.slack_days == (date(2027, 1, 31) - date(2026, 12, 2)).days


def test_empty_graph(world: World) -> None:
    graph = dependency_graph(world.s, "prog", as_of=NOW)
    assert graph.nodes == [] and graph.edges == []
    path = critical_path(world.s, "prog", as_of=NOW)
    assert path.steps == [] and path.finish_date is None and path.slack_days is None


def test_cycle_search_on_the_cyclic_core_finds_the_same_cycles() -> None:
    """Pruning nodes that cannot be on a cycle must not change the strongly connected parts."""
    import random
    from collections import defaultdict

    from sync.views.dependencies import _cyclic_core, _strongly_connected

    def parts(component: dict[str, int]) -> list[list[str]]:
        groups: dict[int, set[str]] = defaultdict(set)
        for node, comp in component.items():
            groups[comp].add(node)
        return sorted(sorted(g) for g in groups.values())

    found_cycles = 0
    for seed in range(500):
        rng = random.Random(seed)
        n = rng.randint(1, 30)
        graph: dict[str, set[str]] = defaultdict(set)
        for _ in range(rng.randint(0, 60)):
            graph[str(rng.randrange(n))].add(str(rng.randrange(n)))
        expected = parts(_strongly_connected(graph))
        assert parts(_strongly_connected(_cyclic_core(graph))) == expected, seed
        found_cycles += bool(expected)
    assert found_cycles > 100  # the random graphs do exercise cycles
