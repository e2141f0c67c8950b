"""The exhaustive explorer: breadth-first search with parent links.

What it gives, per property, is a three-valued verdict:

* ``holds`` -- the whole reachable space was explored and no state broke it;
* ``violated`` -- with the shortest trace (BFS order) to a state that breaks it; a
  ``sometimes`` that no reachable state satisfies is violated as *vacuous*;
* ``undetermined`` -- a bound (states, depth, time) was hit before either answer was known.

It also detects deadlocks (no enabled action in a state the model does not call terminal),
counts how often each action fired (coverage) and, when the model has liveness properties,
keeps the state graph for the fair-cycle search in :mod:`hintspec.engine.liveness`.

The search is deterministic: states are numbered in BFS order, successors are generated in
the model's fixed action order, and the first path found to a state is its parent link.
Only the parent index is stored per state; a trace's action labels are recomputed from the
model when the trace is built (as TLC does), which keeps memory per state small.
"""

from __future__ import annotations

import bisect
import dataclasses
import time
from array import array
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from hintspec.engine.faults import model_error, raised_in
from hintspec.engine.fingerprints import (
    Fingerprinter,
    ReplayedStates,
    SpillQueue,
    visited_set_bytes,
)
from hintspec.engine.progress import Progress
from hintspec.engine.results import INTERRUPTED
from hintspec.lang.errors import ModelError, UsageError
from hintspec.lang.model import Model, PropertyKind

StatePredicate = tuple[str, Callable[[Any], Any]]
"""A name and a predicate of one state, recorded per state during the search."""
EdgePredicate = tuple[str, str, Callable[[Any, Any], Any]]
"""A name, the recorded state predicate both ends of an edge must satisfy, and a predicate of
the edge's source and target, recorded per edge during the search."""


@dataclasses.dataclass
class Graph:
    """The explored state graph: edges as parallel arrays, and per state the bit mask of
    enabled actions (needed for fairness)."""

    src: array[int]
    dst: array[int]
    act: array[int]
    enabled: list[int]


@dataclasses.dataclass
class Exploration:
    """Raw output of :func:`explore`, before liveness is checked."""

    states: Sequence[Any]
    parent: array[int]
    levels: list[int]
    """levels[k] is the index of the first state at BFS distance k."""
    transitions: int
    coverage: list[int]
    graph: Graph | None
    bound_hit: str | None
    violations: dict[str, tuple[int, str]]
    """always property -> (state index, explanation) of its first (shortest) violation."""
    witnesses: dict[str, int]
    deadlock: int | None
    seconds: float
    canonical: bool = False
    """States are symmetry representatives: paths must be concretized for traces."""
    fingerprints: bool = False
    """The visited set held fingerprints: ``states`` rebuilds each state by replay."""
    visited_bytes: int | None = None
    """With fingerprints: the bytes the visited set, parent links and fingerprints take."""
    spilled: int = 0
    """Frontier states written to disk (a fingerprint search with ``spill_after``)."""
    tables: dict[str, bytearray] = dataclasses.field(default_factory=dict)
    """Per-state predicates recorded during the search (``record`` of :func:`explore`)."""
    edge_tables: dict[str, bytearray] = dataclasses.field(default_factory=dict)
    """Per-edge predicates recorded during the search (``record_edges``)."""

    def real_path_to(self, model: Model[Any, Any], index: int) -> list[Any]:
        """The path to state ``index`` as real (replayable) states."""
        path = self.path_to(index)
        return concretize(model, path)[0] if self.canonical else path

    def path_to(self, index: int) -> list[Any]:
        if isinstance(self.states, ReplayedStates):
            return self.states.path_to(index)
        path = []
        while index >= 0:
            path.append(self.states[index])
            index = self.parent[index]
        path.reverse()
        return path

    def depth_of(self, index: int) -> int:
        """BFS distance of state ``index`` from the initial states."""
        return bisect.bisect_right(self.levels, index) - 1


STOPPED = "stopped after a violation"
"""The bound hit by a search that stops once it has a violation (``stop_after_violation``)."""


def explore(
    model: Model[Any, Any],
    *,
    max_states: int | None = None,
    max_depth: int | None = None,
    timeout: float | None = None,
    keep_graph: bool | None = None,
    progress: Progress | None = None,
    symmetry: bool = True,
    fingerprints: bool = False,
    spill_after: int | None = None,
    record: Sequence[StatePredicate] = (),
    record_edges: Sequence[EdgePredicate] = (),
    stop_after_violation: int | None = None,
) -> Exploration:
    """Breadth-first search of the reachable states of ``model``.

    With ``symmetry`` and a model that declares one, states are replaced by their canonical
    representatives before they are looked up, so one state stands for its whole class.

    With ``fingerprints`` the visited set holds 64-bit fingerprints instead of states
    (:mod:`hintspec.engine.fingerprints`): a state lives only while it waits in the
    frontier, and ``states`` of the result rebuilds one on demand. What a later pass over
    the states needs is computed while they are at hand: ``record`` names predicates to
    evaluate on every state (``tables[key]``), ``record_edges`` predicates of an edge's
    source and target, evaluated on every edge whose ends satisfy the state table it
    names (``edge_tables[key]``, aligned with the graph's edges). ``spill_after``: with
    fingerprints, keep about that many frontier states in memory and the rest on disk.

    ``stop_after_violation``: once an ``always`` property is violated, stop (a bound hit)
    when this many states are stored -- for a caller that needs a violation, not all."""
    start = time.monotonic()
    canon = model.canonical if symmetry and model.symmetric else None
    fingerprinter = Fingerprinter() if fingerprints else None
    if keep_graph is None:
        keep_graph = bool(model.properties_of(PropertyKind.LIVENESS))
    always_props = model.properties_of(PropertyKind.ALWAYS)
    sometimes_props = model.properties_of(PropertyKind.SOMETIMES)
    check_always: list[tuple[str, Callable[[Any], Any]]] = [
        (p.name, getattr(model, p.method)) for p in always_props
    ]
    check_sometimes: list[tuple[str, Callable[[Any], Any]]] = [
        (p.name, getattr(model, p.method)) for p in sometimes_props
    ]
    violations: dict[str, tuple[int, str]] = {}
    witnesses: dict[str, int] = {}
    states: list[Any] = []
    """Every state (without fingerprints), by BFS number."""
    frontier: deque[Any] | SpillQueue = deque()
    """With fingerprints: the states found and not yet expanded, in BFS order."""
    if fingerprinter is not None and spill_after is not None:
        frontier = SpillQueue(spill_after)
    fps: array[int] = array("q")
    index: dict[Any, int] = {}
    parent: array[int] = array("q")
    coverage = [0] * len(model.actions)
    graph = Graph(array("q"), array("q"), array("h"), []) if keep_graph else None
    tables = {key: bytearray() for key, _ in record}
    edge_tables = {key: bytearray() for key, _, _ in record_edges}
    deadlock: int | None = None
    bound_hit: str | None = None
    is_terminal = model.is_terminal
    check_deadlock = model.check_deadlock
    actions = list(enumerate(model._action_fns))
    keep = states.append if fingerprinter is None else frontier.append

    def visit(s: Any, i: int) -> None:
        # Invariants and witnesses are evaluated once per distinct state, in BFS order, so
        # the first hit is at minimal depth.
        nonlocal check_always, check_sometimes
        if check_always:
            for name, fn in check_always:
                result = fn(s)
                if result is not True:
                    prop = model.property(name)
                    violations[name] = (i, model.evaluate_always(prop, s) or name)
            if len(violations) and any(n in violations for n, _ in check_always):
                check_always = [(n, f) for n, f in check_always if n not in violations]
        if check_sometimes:
            hit = False
            for name, fn in check_sometimes:
                if fn(s):
                    witnesses[name] = i
                    hit = True
            if hit:
                check_sometimes = [(n, f) for n, f in check_sometimes if n not in witnesses]
        for key, predicate in record:
            tables[key].append(1 if predicate(s) else 0)

    levels = [0]
    transitions = 0
    n = 0
    i = 0
    depth = 0
    a = -1
    try:
        for s in model.initial_states():
            if canon is not None:
                s = canon(s)
            k = s if fingerprinter is None else fingerprinter(s)
            if k not in index:
                index[k] = n
                keep(s)
                if fingerprinter is not None:
                    fps.append(k)
                parent.append(-1)
                n += 1
                visit(s, n - 1)
        level_end = n
        while i < n:
            if i == level_end:
                depth += 1
                levels.append(i)
                level_end = n
            s = states[i] if fingerprinter is None else frontier.popleft()
            expand = max_depth is None or depth < max_depth
            n_succ = 0
            mask = 0
            for a, fn in actions:
                for _args, t in fn(s):
                    n_succ += 1
                    if canon is not None:
                        t = canon(t)
                    k = t if fingerprinter is None else fingerprinter(t)
                    j = index.get(k)
                    if j is None:
                        if not expand:
                            bound_hit = f"max depth {max_depth}"
                            continue
                        if max_states is not None and n >= max_states:
                            bound_hit = f"max states {max_states}"
                            continue
                        j = n
                        index[k] = j
                        keep(t)
                        if fingerprinter is not None:
                            fps.append(k)
                        parent.append(i)
                        n += 1
                        visit(t, j)
                    if not expand:
                        continue
                    transitions += 1
                    coverage[a] += 1
                    if graph is not None:
                        graph.src.append(i)
                        graph.dst.append(j)
                        graph.act.append(a)
                        mask |= 1 << a
                        if record_edges:
                            _record_edge(tables, edge_tables, record_edges, i, j, s, t)
            if graph is not None:
                graph.enabled.append(mask)
            if n_succ == 0 and check_deadlock and deadlock is None and not is_terminal(s):
                deadlock = i
            i += 1
            if (i & 1023) == 0:
                if progress is not None:
                    progress.update(n, transitions, depth + 1, n - i)
                if timeout is not None and time.monotonic() - start > timeout:
                    bound_hit = f"timeout {timeout:g} s"
                    break
                if stop_after_violation is not None and violations and n >= stop_after_violation:
                    bound_hit = STOPPED
                    break
    except KeyboardInterrupt:
        bound_hit = INTERRUPTED
    except UsageError:
        raise  # a state --fingerprints cannot encode: bad input, not a fault of the model
    except Exception as exc:
        if isinstance(frontier, SpillQueue):
            frontier.close()
        found: Sequence[Any] = states
        if fingerprinter is not None:
            found = ReplayedStates(model, fps, parent, fingerprinter, canon)
        raise _fault(model, exc, found, parent, i, a, canon is not None) from exc
    if progress is not None:
        progress.done()
    if graph is not None:
        while len(graph.enabled) < n:
            graph.enabled.append(0)
    spilled = 0
    if isinstance(frontier, SpillQueue):
        spilled = frontier.spilled
        frontier.close()
    storage: int | None = None
    explored: Sequence[Any] = states
    if fingerprinter is not None:
        explored = ReplayedStates(model, fps, parent, fingerprinter, canon)
        storage = visited_set_bytes(index, fps, parent)
    return Exploration(
        states=explored,
        parent=parent,
        levels=levels,
        transitions=transitions,
        coverage=coverage,
        graph=graph,
        bound_hit=bound_hit,
        violations=violations,
        witnesses=witnesses,
        deadlock=deadlock,
        seconds=time.monotonic() - start,
        canonical=canon is not None,
        fingerprints=fingerprinter is not None,
        visited_bytes=storage,
        spilled=spilled,
        tables=tables,
        edge_tables=edge_tables,
    )


def _record_edge(
    tables: dict[str, bytearray],
    edge_tables: dict[str, bytearray],
    record_edges: Sequence[EdgePredicate],
    i: int,
    j: int,
    s: Any,
    t: Any,
) -> None:
    for key, within, predicate in record_edges:
        inside = tables[within]
        edge_tables[key].append(1 if inside[i] and inside[j] and predicate(s, t) else 0)


def _fault(
    model: Model[Any, Any],
    exc: Exception,
    states: Sequence[Any],
    parent: array[int],
    i: int,
    a: int,
    canonical: bool,
) -> ModelError:
    """The report of model code that raised during the search: the state it raised in is
    the one being expanded (an action, is_terminal), or the one just found (a property)."""
    where = raised_in(model, exc)
    if not states:
        at = None
    elif (where is not None and where.startswith("property")) or i >= len(states):
        at = len(states) - 1
    else:
        at = i
    path: list[Any] = []
    k = -1 if at is None else at
    if isinstance(states, ReplayedStates):
        path = states.path_to(k) if k >= 0 else []
    else:
        while k >= 0:
            path.append(states[k])
            k = parent[k]
        path.reverse()
    if canonical and path:
        try:
            path = concretize(model, path)[0]
        except Exception:
            path = path[-1:]
    fallback = None if a < 0 else f"action {model.actions[a].name!r} ({model.actions[a].cites})"
    return model_error(model, exc, checker="check", path=path or None, fallback=fallback)


def concretize(
    model: Model[Any, Any], path: Sequence[Any], loop: int | None = None
) -> tuple[list[Any], int | None]:
    """A path of canonical representatives as a path of real states (and its lasso index).

    Each step takes the first real successor whose representative is the next one on the
    path, so the result is replayable. A lasso's cycle closes on a permuted copy of its
    entry state in general: the cycle is then followed again, lap after lap, until it comes
    back to the very same state (a permutation group is finite)."""
    canon = model.canonical
    first = next(s for s in model.initial_states() if canon(s) == path[0])
    out = [first]

    def follow(s: Any, target: Any) -> Any:
        return next(t for _a, _args, t in model.successors(s) if canon(t) == target)

    for c in path[1:]:
        out.append(follow(out[-1], c))
    if loop is None:
        return out, None
    cycle = [*path[loop:], path[loop]]
    # Each lap starts in a real state whose representative is the entry; the lasso closes
    # when a lap comes back to the start of any earlier lap (not only the first: the
    # successor taken is the first that fits, so a lap may settle on another copy).
    lap_starts = {out[loop]: loop}
    for _lap in range(10_000):
        if not any(True for _ in model.successors(out[-1])):
            return out, len(out) - 1  # a stop: the lasso is the final state
        nxt = follow(out[-1], cycle[-1])
        if nxt in lap_starts:
            return out, lap_starts[nxt]
        lap_starts[nxt] = len(out)
        out.append(nxt)
        for c in cycle[1:-1]:
            out.append(follow(out[-1], c))
    raise AssertionError("a symmetric lasso did not close within 10,000 laps")
