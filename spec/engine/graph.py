"""State graphs a reviewer can read, at any size: the whole space when it is small, else a
counterexample's neighbourhood, a projection, or the strongly connected components.

:func:`state_graph` checks the model, picks the trace to show (the chosen property's, or
the first violated one's) and draws, as a ``networkx.MultiDiGraph``:

* ``full`` -- every reachable state, when there are at most ``max_nodes``;
* ``neighbourhood`` -- the trace and every state within ``k`` steps of one of its states
  (the choices the system had on the way); ``k`` shrinks, with a note, until the drawing
  has at most ``max_nodes`` states;
* ``quotient`` -- ``project=("worker", "isolated")``: one node per class of reachable
  states equal on those variables (``networkx.quotient_graph`` semantics; each edge names
  the actions between two classes and how many transitions it stands for);
* ``scc`` -- the condensation (``networkx.condensation``) of the reachable graph, or of the
  quotient: one node per strongly connected component; a liveness counterexample's cycle
  lies inside one;
* ``prefix`` -- the first ``max_nodes`` states in breadth-first order, when there is no
  trace to centre on and the space is too large.

Any drawing larger than ``max_nodes`` nodes is cut to the ``max_nodes`` nearest the initial
states or the trace, and ``notes`` says so: nothing is refused for its size. States are
symmetry representatives when the model declares a symmetry, as the explorer counts them.

Node attributes: ``label`` (what the node shows), ``state`` (the full state, or for a class
the states it stands for), ``frames``, ``depth``, ``initial``, ``violates``, ``deadlock``,
``on_path``, ``members`` (how many states). Edge attributes: ``action``, ``args``,
``label``, ``on_path``, ``count``. All are strings, ints or booleans, so GraphML keeps them.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from typing import Any

import networkx as nx
from hintspec.engine.check import check
from hintspec.engine.results import CheckResult, Verdict
from hintspec.lang.errors import UsageError
from hintspec.lang.model import Model, PropertyKind
from hintspec.traces.trace import Trace
from hintspec.traces.values import fmt, fmt_args, safe_frame_map, safe_view

DEFAULT_MAX_NODES = 150
DEFAULT_MAX_STATES = 500_000
MODES = ("auto", "full", "neighbourhood", "quotient", "scc", "prefix")
_LABEL_MAX = 40
_LABEL_VARS = 3
_TOOLTIP_MEMBERS = 8


@dataclasses.dataclass
class StateGraph:
    """The drawing and what it was built from."""

    graph: nx.MultiDiGraph[str]
    result: CheckResult
    highlighted: Trace | None
    """The trace drawn on the graph (None: no property is violated, or none asked for)."""
    mode: str = "full"
    notes: list[str] = dataclasses.field(default_factory=list)
    """What was left out or bounded, for the reader (the graph's caption)."""


def _short(text: str) -> str:
    return text if len(text) <= _LABEL_MAX else text[: _LABEL_MAX - 1] + "…"


def _choose_trace(result: CheckResult, prop: str | None) -> Trace | None:
    if prop is not None:
        for p in result.properties:
            if p.name == prop:
                return p.trace
        known = ", ".join(repr(p.name) for p in result.properties)
        raise UsageError(f"no property {prop!r}; properties are {known}")
    for p in result.properties:
        if p.verdict is Verdict.VIOLATED and p.trace is not None:
            return p.trace
    return None


class _Space:
    """Reachable states (representatives under the model's symmetry) found on demand."""

    def __init__(self, model: Model[Any, Any]) -> None:
        self.model = model
        self.canon = model.canonical if model.symmetric else (lambda s: s)
        self.index: dict[Any, int] = {}
        self.states: list[Any] = []
        self.succ: dict[int, list[tuple[int, str, dict[str, Any]]]] = {}

    def add(self, state: Any) -> int:
        key = self.canon(state)
        if key not in self.index:
            self.index[key] = len(self.states)
            self.states.append(key)
        return self.index[key]

    def successors(self, i: int) -> list[tuple[int, str, dict[str, Any]]]:
        if i not in self.succ:
            self.succ[i] = [
                (self.add(t), self.model.actions[a].name, args)
                for a, args, t in self.model.successors(self.states[i])
            ]
        return self.succ[i]

    def initial(self) -> list[int]:
        return [self.add(s) for s in self.model.initial_states()]

    def bfs(self, limit: int) -> tuple[list[int], dict[int, int], bool]:
        """States in breadth-first order (at most ``limit``), their depths, and whether
        that was all of them."""
        depth: dict[int, int] = {}
        queue: deque[int] = deque()
        for i in self.initial():
            if i not in depth:
                depth[i] = 0
                queue.append(i)
        order: list[int] = []
        while queue:
            i = queue.popleft()
            order.append(i)
            if len(order) >= limit:
                return order, depth, not queue and all(t in depth for t, *_ in self.successors(i))
            for t, _a, _x in self.successors(i):
                if t not in depth:
                    depth[t] = depth[i] + 1
                    queue.append(t)
        return order, depth, True


def state_graph(
    model: Model[Any, Any],
    *,
    mode: str = "auto",
    k: int = 1,
    project: Sequence[str] = (),
    max_nodes: int = DEFAULT_MAX_NODES,
    max_states: int = DEFAULT_MAX_STATES,
    prop: str | None = None,
) -> StateGraph:
    """A readable graph of ``model`` (see the module's description of ``mode``), with the
    trace of ``prop`` (default: the first violated property; a ``sometimes`` property gives
    its witness) marked ``on_path``."""
    if mode not in MODES:
        raise UsageError(f"unknown graph mode {mode!r}; modes are {', '.join(MODES)}")
    if project:
        _check_projection(model, project)
    result = check(model, max_states=max_states)
    trace = _choose_trace(result, prop)
    notes: list[str] = []
    if not result.complete:
        notes.append(f"the search stopped at {result.bound_hit}: states beyond it are not drawn")
    if mode == "auto":
        if project:
            mode = "quotient"
        elif result.complete and result.distinct_states <= max_nodes:
            mode = "full"
        elif trace is not None:
            mode = "neighbourhood"
        else:
            mode = "prefix"
    space = _Space(model)
    if mode == "neighbourhood" and trace is None:
        raise UsageError(
            f"{model.name}/{model.variant}: no property is violated, so there is no "
            "trace to draw a neighbourhood of (name one with --property)"
        )
    path = [space.add(s.state) for s in trace.steps] if trace is not None else []
    if mode == "neighbourhood":
        nodes, depth = _neighbourhood(space, path, k, max_nodes, notes)
        g = _draw(model, space, nodes, depth)
    else:
        order, depth, whole = space.bfs(max_states if mode != "prefix" else max_nodes)
        if not whole and mode != "prefix":
            notes.append(f"only the first {len(order):,} states were drawn (--max-states)")
        if mode in ("full", "prefix"):
            nodes = _limit(order, path, max_nodes, notes, result.distinct_states)
            g = _draw(model, space, nodes, depth)
        else:
            g = _draw(model, space, order, depth)
            if project:
                g = _quotient(model, space, g, project, path, notes)
            if mode == "scc":
                g = _condensation(g, path, notes)
            g = _cut(g, max_nodes, path, notes)
    if trace is not None:
        _mark_path(g, trace, path)
    return StateGraph(g, result, trace, mode, notes)


def _check_projection(model: Model[Any, Any], project: Sequence[str]) -> None:
    first = next(iter(model.initial_states()))
    known = list(safe_view(model, first))
    unknown = [v for v in project if v not in known]
    if unknown:
        raise UsageError(
            f"--project: {model.name} has no variable {unknown[0]!r}; "
            f"its variables are {', '.join(known)}"
        )


def _neighbourhood(
    space: _Space, path: list[int], k: int, max_nodes: int, notes: list[str]
) -> tuple[list[int], dict[int, int]]:
    """The trace and the states within ``k`` steps of it (``k`` lowered until the drawing
    fits), with each state's distance from the trace."""
    for radius in range(k, -1, -1):
        dist: dict[int, int] = {i: 0 for i in path}
        frontier = list(dict.fromkeys(path))
        for step in range(1, radius + 1):
            nxt = []
            for i in frontier:
                for t, _a, _x in space.successors(i):
                    if t not in dist:
                        dist[t] = step
                        nxt.append(t)
            frontier = nxt
        if len(dist) <= max_nodes or radius == 0:
            if radius < k:
                notes.append(
                    f"{k} step{'s' if k != 1 else ''} around the trace would draw more than "
                    f"{max_nodes} states (--max-nodes): drawn {radius} step"
                    f"{'s' if radius != 1 else ''} around it"
                )
            else:
                notes.append(f"the trace and every state within {radius} step(s) of it")
            nodes = sorted(dist, key=lambda i: (dist[i], i))
            if len(nodes) > max_nodes:
                notes.append(f"the trace alone has {len(nodes)} states: all are drawn")
            return nodes, dist
    raise AssertionError("unreachable: radius 0 always returns")  # pragma: no cover


def _limit(
    order: list[int], path: list[int], max_nodes: int, notes: list[str], total: int
) -> list[int]:
    if len(order) <= max_nodes and total <= max_nodes:
        return order
    keep = list(dict.fromkeys(path))
    on_path = set(keep)
    keep += [i for i in order if i not in on_path][: max(0, max_nodes - len(keep))]
    notes.append(
        f"{total:,} reachable states: the first {len(keep)} in breadth-first order"
        + (" and the trace" if path else "")
        + " are drawn (--max-nodes; or --project VARS for a quotient of all of them)"
    )
    return keep


def _varying(model: Model[Any, Any], states: Iterable[Any]) -> list[str]:
    """The variables whose value differs between the drawn states (the others say nothing
    about where a node is)."""
    seen: dict[str, set[str]] = defaultdict(set)
    for s in states:
        for name, value in safe_view(model, s).items():
            seen[name].add(fmt(value))
    return [name for name, values in seen.items() if len(values) > 1]


def _draw(
    model: Model[Any, Any], space: _Space, nodes: list[int], depth: dict[int, int]
) -> nx.MultiDiGraph[str]:
    invariants = model.properties_of(PropertyKind.ALWAYS)
    initial = set(space.initial())
    varying = _varying(model, (space.states[i] for i in nodes))
    g: nx.MultiDiGraph[str] = nx.MultiDiGraph()
    included = set(nodes)
    for i in nodes:
        s = space.states[i]
        view = safe_view(model, s)
        fmap = safe_frame_map(model, s)
        lines = [str(i)] + ([fmap] if fmap is not None else [])
        lines += [f"{v}={_short(fmt(view[v]))}" for v in varying[:_LABEL_VARS] if v in view]
        broken = [p.name for p in invariants if model.evaluate_always(p, s) is not None]
        succ = space.successors(i)
        g.add_node(
            f"s{i}",
            label="\n".join(lines),
            state="\n".join(f"{n} = {fmt(v)}" for n, v in view.items()),
            frames=fmap or "",
            depth=depth.get(i, 0),
            initial=i in initial,
            violates="; ".join(broken),
            deadlock=not succ and model.check_deadlock and not model.is_terminal(s),
            on_path=False,
            members=1,
        )
    for i in nodes:
        for t, name, args in space.successors(i):
            if t in included:
                g.add_edge(
                    f"s{i}",
                    f"s{t}",
                    action=name,
                    args=fmt_args(args),
                    label=f"{name}({fmt_args(args)})",
                    on_path=False,
                    count=1,
                )
    return g


def _merged(
    g: nx.MultiDiGraph[str], blocks: list[list[str]], labels: list[str], kind: str
) -> nx.MultiDiGraph[str]:
    """One node per block of ``g``'s nodes; edges between blocks merged per action."""
    where = {n: b for b, block in enumerate(blocks) for n in block}
    out: nx.MultiDiGraph[str] = nx.MultiDiGraph()
    for b, block in enumerate(blocks):
        data = [g.nodes[n] for n in block]
        stay = sorted(
            {d["action"] for n in block for _s, t, d in g.out_edges(n, data=True) if where[t] == b}
        )
        shown = "\n\n".join(d["state"] for d in data[:_TOOLTIP_MEMBERS])
        more = len(block) - _TOOLTIP_MEMBERS
        out.add_node(
            f"{kind}{b}",
            label=labels[b],
            state=f"{len(block)} state(s)"
            + (f"; actions that stay inside: {', '.join(stay)}" if stay else "")
            + "\n\n"
            + shown
            + (f"\n\n... and {more} more" if more > 0 else ""),
            frames="",
            depth=min(d["depth"] for d in data),
            initial=any(d["initial"] for d in data),
            violates="; ".join(sorted({d["violates"] for d in data if d["violates"]})),
            deadlock=any(d["deadlock"] for d in data),
            on_path=False,
            members=len(block),
        )
    counts: dict[tuple[int, int, str], int] = defaultdict(int)
    for s, t, d in g.edges(data=True):
        if where[s] != where[t]:
            counts[(where[s], where[t], d["action"])] += 1
    for (a, b, action), n in sorted(counts.items()):
        out.add_edge(
            f"{kind}{a}",
            f"{kind}{b}",
            action=action,
            args="",
            label=action + (f" ×{n}" if n > 1 else ""),
            on_path=False,
            count=n,
        )
    return out


def _quotient(
    model: Model[Any, Any],
    space: _Space,
    g: nx.MultiDiGraph[str],
    project: Sequence[str],
    path: list[int],
    notes: list[str],
) -> nx.MultiDiGraph[str]:
    classes: dict[tuple[str, ...], list[str]] = {}
    for n in g.nodes:
        view = safe_view(model, space.states[int(n[1:])])
        classes.setdefault(tuple(fmt(view.get(v)) for v in project), []).append(n)
    keys = list(classes)
    labels = [
        "\n".join(f"{v}={_short(x)}" for v, x in zip(project, key, strict=True))
        + f"\n({len(classes[key])} states)"
        for key in keys
    ]
    notes.append(
        f"{g.number_of_nodes():,} states in {len(keys)} classes equal on "
        f"{', '.join(project)}; transitions inside a class are listed in its tooltip"
    )
    q = _merged(g, [classes[key] for key in keys], labels, "q")
    q.graph["members"] = {f"q{b}": classes[key] for b, key in enumerate(keys)}
    return q


def _condensation(
    g: nx.MultiDiGraph[str], path: list[int], notes: list[str]
) -> nx.MultiDiGraph[str]:
    sccs = [sorted(c) for c in nx.strongly_connected_components(g)]
    inside = g.graph.get("members", {})
    sccs.sort(key=lambda c: min(g.nodes[n]["depth"] for n in c))
    labels = []
    for k, comp in enumerate(sccs):
        states = sum(g.nodes[n]["members"] for n in comp)
        cyclic = len(comp) > 1
        labels.append(
            f"SCC {k}: {states} state(s)"
            + (", cyclic" if cyclic else "")
            + (f"\n{len(comp)} classes" if inside else "")
        )
    cyclic_count = sum(1 for label in labels if "cyclic" in label)
    notes.append(
        f"{len(sccs)} strongly connected components, {cyclic_count} of several states "
        "(a run that stays for ever stays inside one)"
    )
    c = _merged(g, sccs, labels, "c")
    c.graph["members"] = {
        f"c{k}": [m for n in comp for m in inside.get(n, [n])] for k, comp in enumerate(sccs)
    }
    return c


def _cut(
    g: nx.MultiDiGraph[str], max_nodes: int, path: list[int], notes: list[str]
) -> nx.MultiDiGraph[str]:
    """At most ``max_nodes`` nodes (besides the trace's): those nearest the initial states."""
    if g.number_of_nodes() <= max_nodes:
        return g
    owner = {m: n for n, ms in g.graph.get("members", {}).items() for m in ms}
    must = list(dict.fromkeys(owner.get(f"s{i}", f"s{i}") for i in path))
    order = sorted(g.nodes, key=lambda n: (g.nodes[n]["depth"], n))
    keep = must + [n for n in order if n not in set(must)][: max(0, max_nodes - len(must))]
    notes.append(
        f"{g.number_of_nodes():,} nodes: the {len(keep)} nearest the initial states"
        + (" and the trace's" if must else "")
        + " are drawn (--max-nodes)"
    )
    sub: nx.MultiDiGraph[str] = g.subgraph(keep).copy()
    sub.graph.update(g.graph)
    return sub


def _mark_path(g: nx.MultiDiGraph[str], trace: Trace, path: list[int]) -> None:
    """Mark the trace's nodes and edges; in a quotient or condensation, the classes and the
    edges between them that it passes through."""
    members: dict[str, list[str]] = g.graph.get("members", {})
    owner = {m: n for n, ms in members.items() for m in ms}
    nodes = [owner.get(f"s{i}", f"s{i}") for i in path]
    hops = [
        (nodes[k - 1], nodes[k], trace.steps[k].action, trace.steps[k].args)
        for k in range(1, len(nodes))
    ]
    if trace.loop is not None and trace.loop_action is not None:
        hops.append((nodes[-1], nodes[trace.loop], trace.loop_action, trace.loop_args))
    for n in nodes:
        if n in g:
            g.nodes[n]["on_path"] = True
    for src, dst, action, args in hops:
        for _key, data in g.get_edge_data(src, dst, default={}).items():
            if data["action"] == action and data["args"] in ("", fmt_args(args)):
                data["on_path"] = True
                break
