"""The state graph of a small configuration, as a networkx graph, with a trace highlighted.

:func:`state_graph` explores the model (refusing when the reachable space exceeds a limit:
a graph of thousands of states is unreadable and slow to lay out), checks its properties,
and returns a ``networkx.MultiDiGraph``: one node per distinct state (``s0`` .. in BFS
order) and one edge per transition. The counterexample of the chosen property (default:
the first violated one, in the model's order) is marked ``on_path`` on its nodes and edges,
including a lasso's closing edge; states that break an invariant are marked ``violates``.

Node attributes: ``label`` (index and frame map, or the variables), ``state`` (every
variable), ``frames``, ``depth``, ``initial``, ``violates``, ``deadlock``, ``on_path``.
Edge attributes: ``action``, ``args``, ``label``, ``on_path``. All are strings, ints or
booleans, so GraphML (``networkx.write_graphml``) keeps them; :func:`to_dot` writes
Graphviz DOT with the path in red.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import networkx as nx
from hintspec.engine.check import check
from hintspec.engine.results import CheckResult, Verdict
from hintspec.lang.errors import UsageError
from hintspec.lang.model import Model, PropertyKind
from hintspec.traces.trace import Trace
from hintspec.traces.values import fmt, fmt_args, safe_frame_map, safe_view

DEFAULT_MAX_STATES = 1000
_LABEL_MAX = 48


@dataclasses.dataclass
class StateGraph:
    """The graph and what it was built from."""

    graph: nx.MultiDiGraph[str]
    result: CheckResult
    highlighted: Trace | None
    """The trace drawn on the graph (None: no property is violated, or none asked for)."""


def _short(text: str) -> str:
    return text if len(text) <= _LABEL_MAX else text[: _LABEL_MAX - 1] + "…"


def _node_label(model: Model[Any, Any], i: int, s: Any) -> str:
    fmap = safe_frame_map(model, s)
    if fmap is not None:
        return f"{i}\n{fmap}"
    lines = [f"{k}={_short(fmt(v))}" for k, v in safe_view(model, s).items()]
    return "\n".join([str(i), *lines])


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


def state_graph(
    model: Model[Any, Any],
    *,
    max_states: int = DEFAULT_MAX_STATES,
    prop: str | None = None,
) -> StateGraph:
    """The reachable state graph of ``model`` (UsageError if it has more than
    ``max_states`` states), with the trace of ``prop`` (default: the first violated
    property; a ``sometimes`` property gives its witness) highlighted."""
    result = check(model, max_states=max_states)
    if not result.complete:
        raise UsageError(
            f"{model.name}/{model.variant}: the state space exceeds {max_states:,} states "
            "(a graph is for small configs); use --set to shrink it or raise --max-states"
        )
    trace = _choose_trace(result, prop)
    invariants = model.properties_of(PropertyKind.ALWAYS)
    g: nx.MultiDiGraph[str] = nx.MultiDiGraph()
    index: dict[Any, int] = {}
    order: list[Any] = []
    depth: dict[int, int] = {}
    for s in model.initial_states():
        if s not in index:
            index[s] = len(order)
            order.append(s)
            depth[index[s]] = 0
    i = 0
    edges: list[tuple[int, int, str, dict[str, Any]]] = []
    while i < len(order):
        s = order[i]
        for a, args, t in model.successors(s):
            if t not in index:
                index[t] = len(order)
                order.append(t)
                depth[index[t]] = depth[i] + 1
            edges.append((i, index[t], model.actions[a].name, args))
        i += 1
    for k, s in enumerate(order):
        broken = [p.name for p in invariants if model.evaluate_always(p, s) is not None]
        fmap = safe_frame_map(model, s)
        g.add_node(
            f"s{k}",
            label=_node_label(model, k, s),
            state="; ".join(f"{n}={fmt(v)}" for n, v in safe_view(model, s).items()),
            frames=fmap or "",
            depth=depth[k],
            initial=depth[k] == 0,
            violates="; ".join(broken),
            deadlock=False,
            on_path=False,
        )
    has_succ = {src for src, _d, _a, _x in edges}
    for k, s in enumerate(order):
        if k not in has_succ and model.check_deadlock and not model.is_terminal(s):
            g.nodes[f"s{k}"]["deadlock"] = True
    for src, dst, name, args in edges:
        g.add_edge(
            f"s{src}",
            f"s{dst}",
            action=name,
            args=fmt_args(args),
            label=f"{name}({fmt_args(args)})",
            on_path=False,
        )
    if trace is not None:
        _mark_path(g, trace, index)
    return StateGraph(g, result, trace)


def _mark_path(g: nx.MultiDiGraph[str], trace: Trace, index: dict[Any, int]) -> None:
    nodes = [f"s{index[step.state]}" for step in trace.steps]
    hops = [
        (nodes[k - 1], nodes[k], trace.steps[k].action, trace.steps[k].args)
        for k in range(1, len(nodes))
    ]
    if trace.loop is not None and trace.loop_action is not None:
        hops.append((nodes[-1], nodes[trace.loop], trace.loop_action, trace.loop_args))
    for n in nodes:
        g.nodes[n]["on_path"] = True
    for src, dst, action, args in hops:
        for _key, data in g.get_edge_data(src, dst, default={}).items():
            if data["action"] == action and data["args"] == fmt_args(args):
                data["on_path"] = True
                break


# -- DOT -------------------------------------------------------------------------------
