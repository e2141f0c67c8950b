"""Liveness under fairness: fair cycles in the explored state graph, shown as lassos.

Every liveness kind reduces to one question on a sub-graph: is there a *fair* infinite
behaviour that, once inside the sub-graph, never leaves it?

* ``eventually Q``: the sub-graph of states where Q is false, entered from an initial state;
* ``P leads to Q``: the same sub-graph, entered from a state where P holds;
* ``always eventually Q``: the same sub-graph, entered anywhere;
* ``progress``: the region's states with only the steps that do not advance the measure
  (a Spin-style non-progress cycle); stops are not counted there, deadlock detection covers
  them.

A behaviour in the sub-graph is either a *stop* (a state with no enabled action at all: the
system stutters there for ever) or ends in a strongly connected component. A component
(with at least one edge) is fair when, for each action under weak fairness, the action is
taken on an edge inside it or is disabled in one of its states; for strong fairness, when it
is taken inside, or else the states where it is enabled are removed and the rest is searched
again (Emerson-Lei). The counterexample is a lasso: the shortest prefix the search knows to
the component, then a cycle through it that takes every fair action the component offers and
visits a state where each neglected action is disabled.

Strongly connected components come from networkx (measured fast enough for 10^5..10^6 states;
see ``benchmarks``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

import networkx as nx
from hintspec.explore import Exploration, PropertyResult, Verdict
from hintspec.model import Fairness, LivenessMode, Model, PropertySpec
from hintspec.trace import trace_from_path


def check_liveness(model: Model[Any, Any], ex: Exploration, prop: PropertySpec) -> PropertyResult:
    """The verdict of one liveness property on a complete exploration."""
    assert ex.graph is not None and prop.mode is not None
    g = ex.graph
    n = len(ex.states)
    states = ex.states
    mode = prop.mode
    fairness = model.fairness_of(prop)

    if mode is LivenessMode.PROGRESS:
        region = prop.when
        inside = [True] * n if region is None else [bool(region(model, s)) for s in states]
        advances = getattr(model, prop.method)
        start = [i for i in range(n) if inside[i]]
    else:
        goal = getattr(model, prop.method)
        inside = [not goal(s) for s in states]
        if mode is LivenessMode.EVENTUALLY:
            start = [i for i in range(n) if ex.parent[i] < 0 and inside[i]]
        elif mode is LivenessMode.LEADS_TO:
            assert prop.when is not None
            when = prop.when
            start = [i for i in range(n) if inside[i] and when(model, states[i])]
        else:
            start = [i for i in range(n) if inside[i]]

    adjacency: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    for u, v, a in zip(g.src, g.dst, g.act, strict=True):
        if inside[u] and inside[v]:
            if mode is LivenessMode.PROGRESS and advances(states[u], states[v]):
                continue
            adjacency[u].append((v, a))

    # Multi-source BFS from the entry states (in BFS-index order, so shallow ones win).
    dist: dict[int, int] = {}
    via: dict[int, int] = {}
    origin: dict[int, int] = {}
    queue: deque[int] = deque()
    for s0 in start:
        if s0 not in dist:
            dist[s0] = 0
            via[s0] = -1
            origin[s0] = s0
            queue.append(s0)
    while queue:
        u = queue.popleft()
        for v, _a in adjacency[u]:
            if v not in dist:
                dist[v] = dist[u] + 1
                via[v] = u
                origin[v] = origin[u]
                queue.append(v)
    reach = dist  # the states a violating behaviour can be in

    def cost(i: int) -> int:
        return ex.depth_of(origin[i]) + dist[i]

    candidates: list[tuple[int, int, list[int]]] = []  # (cost, entry, cycle)
    if mode is not LivenessMode.PROGRESS:
        stops = [i for i in reach if g.enabled[i] == 0]
        if stops:
            best = min(stops, key=lambda i: (cost(i), i))
            candidates.append((cost(best), best, []))

    graph = nx.DiGraph()
    graph.add_nodes_from(reach)
    for u in reach:
        for v, a in adjacency[u]:
            if graph.has_edge(u, v):
                graph[u][v]["acts"].add(a)
            else:
                graph.add_edge(u, v, acts={a})
    for comp in _fair_components(graph, g.enabled, fairness):
        entry = min(comp, key=lambda i: (cost(i), i))
        cycle = _fair_cycle(graph, comp, entry, g.enabled, fairness)
        candidates.append((cost(entry), entry, cycle))

    if not candidates:
        return PropertyResult(prop.name, "liveness", Verdict.HOLDS)
    candidates.sort(key=lambda c: (c[0] + len(c[2]), c[1]))
    _, entry, cycle = candidates[0]
    prefix = _path(ex, via, origin, entry)
    if cycle:
        path = prefix + [states[i] for i in cycle[1:-1]]
        loop = len(prefix) - 1
        fair_names = ", ".join(
            f"{model.actions[a].name} ({f.value})" for a, f in sorted(fairness.items())
        )
        what = (
            "never advances the measure"
            if mode is LivenessMode.PROGRESS
            else f"never reaches a state where {prop.name!r} is achieved"
        )
        why = (
            f"a fair cycle of {len(cycle) - 1} step(s), entered after {len(prefix) - 1}, "
            f"{what}" + (f"; fairness: {fair_names}" if fair_names else "; no fairness declared")
        )
    else:
        path = prefix
        loop = len(prefix) - 1
        why = f"after {len(prefix) - 1} step(s) no action is enabled and the goal never holds"
    trace = trace_from_path(model, path, prop=prop.name, explanation=why, loop=loop)
    return PropertyResult(prop.name, "liveness", Verdict.VIOLATED, why, trace)


def _path(ex: Exploration, via: dict[int, int], origin: dict[int, int], entry: int) -> list[Any]:
    inner = []
    i = entry
    while i >= 0:
        inner.append(i)
        i = via[i]
    inner.reverse()
    head = ex.path_to(origin[entry])
    return head + [ex.states[i] for i in inner[1:]]


def _has_cycle(graph: nx.DiGraph, comp: set[int]) -> bool:
    if len(comp) > 1:
        return True
    (u,) = comp
    return bool(graph.has_edge(u, u))


def _taken(graph: nx.DiGraph, comp: set[int], action: int) -> bool:
    for u in comp:
        for v, data in graph.adj[u].items():
            if v in comp and action in data["acts"]:
                return True
    return False


def _fair_components(
    graph: nx.DiGraph, enabled: list[int], fairness: dict[int, Fairness]
) -> Iterable[set[int]]:
    """Strongly connected components (restricted for strong fairness) that admit a fair
    behaviour staying inside them for ever."""
    work: list[set[int]] = [set(c) for c in nx.strongly_connected_components(graph)]
    while work:
        comp = work.pop()
        if not _has_cycle(graph, comp):
            continue
        fair = True
        remove: set[int] = set()
        for a, kind in fairness.items():
            bit = 1 << a
            if _taken(graph, comp, a):
                continue
            everywhere = all(enabled[u] & bit for u in comp)
            if kind is Fairness.WEAK and everywhere:
                fair = False
                break
            if kind is Fairness.STRONG:
                somewhere = {u for u in comp if enabled[u] & bit}
                if somewhere:
                    remove |= somewhere
        if not fair:
            continue
        if remove:
            rest = comp - remove
            if rest:
                sub = graph.subgraph(rest)
                work.extend(set(c) for c in nx.strongly_connected_components(sub))
            continue
        yield comp


def _fair_cycle(
    graph: nx.DiGraph,
    comp: set[int],
    entry: int,
    enabled: list[int],
    fairness: dict[int, Fairness],
) -> list[int]:
    """A cycle from ``entry`` back to it inside ``comp`` that takes each fair action the
    component offers and passes a state where each neglected fair action is disabled."""
    sub = graph.subgraph(comp)
    must_edges: list[tuple[int, int]] = []
    must_nodes: list[int] = []
    for a, _kind in sorted(fairness.items()):
        bit = 1 << a
        edge = next(
            (
                (u, v)
                for u in sorted(comp)
                for v, data in sorted(sub.adj[u].items())
                if a in data["acts"]
            ),
            None,
        )
        if edge is not None:
            must_edges.append(edge)
        else:
            node = next((u for u in sorted(comp) if not enabled[u] & bit), None)
            if node is not None:
                must_nodes.append(node)
    cycle = [entry]
    here = entry

    def walk(target: int) -> None:
        nonlocal here
        if here != target:
            cycle.extend(nx.shortest_path(sub, here, target)[1:])
            here = target

    for node in must_nodes:
        walk(node)
    for u, v in must_edges:
        walk(u)
        cycle.append(v)
        here = v
    if len(cycle) == 1:
        nxt = min(sub.adj[entry])
        cycle.append(nxt)
        here = nxt
    walk(entry)
    return cycle
