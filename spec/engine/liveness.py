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

Strongly connected components come from an iterative Tarjan over packed adjacency lists.
networkx was measured first: on the reference model at 16 frames (530,093 states, 6,351,984
edges) its DiGraph passed 7 GiB before the SCC search finished, so it is kept only for
graph export (``tests/benchmarks/bench_liveness.py`` prints the figures).
"""

from __future__ import annotations

import functools
import itertools
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from hintspec.engine.explore import EdgePredicate, Exploration, StatePredicate, concretize
from hintspec.engine.faults import model_error
from hintspec.engine.results import PropertyResult, Verdict
from hintspec.lang.model import Fairness, LivenessMode, Model, PropertySpec
from hintspec.traces.trace import trace_from_path


def _evaluate(
    model: Model[Any, Any],
    ex: Exploration,
    predicate: Callable[[Any], Any],
    label: str,
    key: str,
) -> list[bool]:
    """``predicate`` on every explored state (recorded during the search as ``key`` when it
    kept only fingerprints, :func:`recorded_predicates`); model code that raises is
    reported with the path to the state it raised in."""
    if key in ex.tables:
        return [bool(b) for b in ex.tables[key]]
    out: list[bool] = []
    for i, s in enumerate(ex.states):
        try:
            out.append(bool(predicate(s)))
        except Exception as exc:
            path = ex.real_path_to(model, i)
            raise model_error(model, exc, checker="check", path=path, fallback=label) from exc
    return out


GOAL, WHEN, REGION, ADVANCES = "goal:", "when:", "region:", "advances:"
"""Prefixes of the names under which a fingerprint search records what the liveness check
evaluates (:func:`recorded_predicates`)."""


def recorded_predicates(
    model: Model[Any, Any], props: list[PropertySpec]
) -> tuple[list[StatePredicate], list[EdgePredicate]]:
    """What :func:`check_liveness` evaluates on every state and edge for ``props``, to be
    recorded while the states are at hand (a search that keeps only fingerprints)."""
    states: list[StatePredicate] = []
    edges: list[EdgePredicate] = []
    for prop in props:
        name = prop.name
        when = prop.when
        if prop.mode is LivenessMode.PROGRESS:
            if when is None:
                states.append((REGION + name, _always_true))
            else:
                states.append((REGION + name, functools.partial(when, model)))
            edges.append((ADVANCES + name, REGION + name, getattr(model, prop.method)))
            continue
        states.append((GOAL + name, getattr(model, prop.method)))
        if prop.mode is LivenessMode.LEADS_TO and when is not None:
            states.append((WHEN + name, functools.partial(when, model)))
    return states, edges


def _always_true(_state: Any) -> bool:
    return True


def check_liveness(model: Model[Any, Any], ex: Exploration, prop: PropertySpec) -> PropertyResult:
    """The verdict of one liveness property on a complete exploration."""
    assert ex.graph is not None and prop.mode is not None
    g = ex.graph
    n = len(ex.states)
    states = ex.states
    mode = prop.mode
    fairness = model.fairness_of(prop)

    label = f"property {prop.name!r}"
    if mode is LivenessMode.PROGRESS:
        region = prop.when
        inside = (
            [True] * n
            if region is None
            else _evaluate(
                model, ex, lambda s: region(model, s), f"the region of {label}", REGION + prop.name
            )
        )
        advances = getattr(model, prop.method)
        start = [i for i in range(n) if inside[i]]
        if not start:
            why = "vacuous at this configuration: no state is in its region"
            return PropertyResult(prop.name, "liveness", Verdict.VACUOUS, why)
    else:
        goal = getattr(model, prop.method)
        inside = [not q for q in _evaluate(model, ex, goal, label, GOAL + prop.name)]
        if mode is LivenessMode.EVENTUALLY:
            start = [i for i in range(n) if ex.parent[i] < 0 and inside[i]]
        elif mode is LivenessMode.LEADS_TO:
            assert prop.when is not None
            when = prop.when
            holds = _evaluate(
                model, ex, lambda s: when(model, s), f"the condition of {label}", WHEN + prop.name
            )
            if not any(holds):
                why = "vacuous at this configuration: its condition never holds"
                return PropertyResult(prop.name, "liveness", Verdict.VACUOUS, why)
            start = [i for i in range(n) if inside[i] and holds[i]]
        else:
            start = [i for i in range(n) if inside[i]]

    # Edges of the sub-graph, packed as (target << 8) | action per source state.
    adjacency: list[list[int]] = [[] for _ in range(n)]
    recorded = ex.edge_tables.get(ADVANCES + prop.name)
    for e, (u, v, a) in enumerate(zip(g.src, g.dst, g.act, strict=True)):
        if inside[u] and inside[v]:
            if mode is LivenessMode.PROGRESS and recorded is not None:
                if recorded[e]:
                    continue
            elif mode is LivenessMode.PROGRESS:
                try:
                    advanced = advances(states[u], states[v])
                except Exception as exc:
                    path = ex.real_path_to(model, u)
                    raise model_error(
                        model, exc, checker="check", path=path, fallback=label
                    ) from exc
                if advanced:
                    continue
            adjacency[u].append((v << _SHIFT) | a)

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
        for packed in adjacency[u]:
            v = packed >> _SHIFT
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

    allowed = bytearray(n)
    for u in reach:
        allowed[u] = 1
    for comp in _fair_components(adjacency, sorted(reach), allowed, g.enabled, fairness):
        entry = min(comp, key=lambda i: (cost(i), i))
        cycle = _fair_cycle(adjacency, comp, entry, g.enabled, fairness)
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
    if ex.canonical:
        path, concrete_loop = concretize(model, path, loop)
        assert concrete_loop is not None
        loop = concrete_loop
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


_SHIFT = 8
_MASK = (1 << _SHIFT) - 1


def _strongly_connected(
    adjacency: list[list[int]], nodes: list[int], allowed: bytearray
) -> list[list[int]]:
    """Tarjan's algorithm, iterative, over the sub-graph induced by ``allowed``."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[int] = []
    out: list[list[int]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        work: list[tuple[int, int]] = [(root, 0)]
        while work:
            u, pos = work[-1]
            edges = adjacency[u]
            descended = False
            while pos < len(edges):
                v = edges[pos] >> _SHIFT
                pos += 1
                if not allowed[v]:
                    continue
                if v not in index:
                    work[-1] = (u, pos)
                    index[v] = low[v] = counter
                    counter += 1
                    stack.append(v)
                    on_stack.add(v)
                    work.append((v, 0))
                    descended = True
                    break
                if v in on_stack and index[v] < low[u]:
                    low[u] = index[v]
            if descended:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                if low[u] < low[parent]:
                    low[parent] = low[u]
            if low[u] == index[u]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == u:
                        break
                out.append(comp)
    return out


def _inner_edges(adjacency: list[list[int]], comp: set[int]) -> Iterable[tuple[int, int, int]]:
    for u in comp:
        for packed in adjacency[u]:
            v = packed >> _SHIFT
            if v in comp:
                yield u, v, packed & _MASK


def _fair_components(
    adjacency: list[list[int]],
    nodes: list[int],
    allowed: bytearray,
    enabled: list[int],
    fairness: dict[int, Fairness],
) -> Iterable[set[int]]:
    """Strongly connected components (restricted for strong fairness) that admit a fair
    behaviour staying inside them for ever."""
    work = [set(c) for c in _strongly_connected(adjacency, nodes, allowed)]
    while work:
        comp = work.pop()
        taken: set[int] = set()
        has_edge = False
        for _u, _v, a in _inner_edges(adjacency, comp):
            has_edge = True
            taken.add(a)
        if not has_edge:
            continue
        fair = True
        remove: set[int] = set()
        for a, kind in fairness.items():
            if a in taken:
                continue
            bit = 1 << a
            if kind is Fairness.WEAK and all(enabled[u] & bit for u in comp):
                fair = False
                break
            if kind is Fairness.STRONG:
                remove |= {u for u in comp if enabled[u] & bit}
        if not fair:
            continue
        if remove:
            rest = comp - remove
            if rest:
                mask = bytearray(len(allowed))
                for u in rest:
                    mask[u] = 1
                work.extend(set(c) for c in _strongly_connected(adjacency, sorted(rest), mask))
            continue
        yield comp


def _nearest(adjacency: list[list[int]], comp: set[int], src: int, goals: set[int]) -> list[int]:
    """BFS inside ``comp`` from src to the nearest state in ``goals`` (src itself if it is one)."""
    if src in goals:
        return [src]
    prev = {src: -1}
    queue = deque([src])
    while queue:
        u = queue.popleft()
        for packed in adjacency[u]:
            v = packed >> _SHIFT
            if v in comp and v not in prev:
                prev[v] = u
                if v in goals:
                    path = [v]
                    while prev[path[-1]] != -1:
                        path.append(prev[path[-1]])
                    return path[::-1]
                queue.append(v)
    raise AssertionError("a component is strongly connected")


def _fair_cycle(
    adjacency: list[list[int]],
    comp: set[int],
    entry: int,
    enabled: list[int],
    fairness: dict[int, Fairness],
) -> list[int]:
    """A cycle from ``entry`` back to it inside ``comp`` that takes each fair action the
    component offers -- or, for a weakly fair one, passes a state where it is disabled.

    Each obligation is met at the place nearest to where the cycle has got to, and skipped
    when the cycle already meets it, so the cycle does not go round the same states again
    to reach an edge that happens to have a smaller state number. A trace labels a step
    with the first action (in model order) that leads there, so an obligation is met by an
    edge only if that edge is labelled with the action."""
    label: dict[tuple[int, int], int] = {}
    raw: dict[int, dict[int, int]] = {}
    for u, v, a in sorted(_inner_edges(adjacency, comp)):
        if label.get((u, v), a) >= a:
            label[(u, v)] = a
        raw.setdefault(a, {}).setdefault(u, v)
    labelled: dict[int, dict[int, int]] = {}
    for (u, v), a in sorted(label.items()):
        labelled.setdefault(a, {}).setdefault(u, v)
    cycle = [entry]

    def met(a: int, kind: Fairness) -> bool:
        if any(label[(x, y)] == a for x, y in itertools.pairwise(cycle)):
            return True
        return kind is Fairness.WEAK and any(not enabled[u] & (1 << a) for u in cycle)

    for a, kind in sorted(fairness.items()):
        if met(a, kind):
            continue
        # Where the action is taken (edges labelled with it; else any edge carrying it).
        sources = labelled.get(a) or raw.get(a, {})
        goals = set(sources)
        if kind is Fairness.WEAK:
            goals |= {u for u in comp if not enabled[u] & (1 << a)}
        if not goals:
            continue
        cycle.extend(_nearest(adjacency, comp, cycle[-1], goals)[1:])
        if cycle[-1] in sources:
            cycle.append(sources[cycle[-1]])
    if len(cycle) == 1:
        cycle.append(min(v for (u, v) in label if u == entry))
    cycle.extend(_nearest(adjacency, comp, cycle[-1], {entry})[1:])
    return cycle
