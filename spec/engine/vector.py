"""The vectorised explorer: breadth-first search one level at a time over packed states.

A model may provide, beside its readable definition, a *vectorised* form of itself: states
packed into ``uint64`` integers and numpy functions that compute every successor of a whole
BFS level at once (``Vectorized`` below). This module drives such a form and returns the
same :class:`~hintspec.engine.explore.Exploration` as the object explorer, with the *same* state
numbering: each candidate successor carries the key ``parent position * choices + choice``,
where ``choice`` enumerates the model's actions and their choices in the model's own order,
so taking, for every new state, the candidate with the smallest key and ordering new states
by that key reproduces the object explorer's discovery order exactly. Counts, depths,
verdicts and counterexample traces are therefore identical (the manifest and
``tests/test_vector.py`` check it), and traces are rebuilt from unpacked states by the
object model itself.

It is used only when the model offers a vectorised form, numpy is installed (the ``fast``
extra) and the model has no liveness properties (which need the edge list).
"""

from __future__ import annotations

import importlib
import importlib.util
import time
from array import array
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any, Protocol, overload

from hintspec.engine.explore import Exploration
from hintspec.engine.progress import Progress
from hintspec.lang.model import Model, PropertyKind

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Packed = npt.NDArray[np.uint64]
    Ints = npt.NDArray[np.int64]
    Bools = npt.NDArray[np.bool_]


class Vectorized(Protocol):
    """The vectorised form of one model instance (same config, same variant)."""

    choices: int
    """Number of distinct choice ids; keys are ``parent position * choices + choice``."""

    def initial(self) -> Packed:
        """The initial states, packed, in the object model's order."""

    def successors(self, frontier: Packed) -> tuple[Ints, Packed, Ints]:
        """Every successor of every frontier state: (keys, packed successors, action index)."""

    def invariants(self, states: Packed) -> dict[str, Bools]:
        """``always`` property name -> True where the property holds."""

    def witnesses(self, states: Packed) -> dict[str, Bools]:
        """``sometimes`` property name -> True where the state is a witness."""

    def terminal(self, states: Packed) -> Bools:
        """True where the state is an accepted end state (not a deadlock)."""

    def pack(self, state: Any) -> int:
        """A State as its packed integer (raises ValueError if it has no packed form)."""

    def unpack(self, packed: int) -> Any:
        """The State a packed integer stands for."""


NUMPY_MISSING = "the vector engine needs numpy: pip install 'hintspec[fast]'"


def numpy_available() -> bool:
    """Whether numpy can be imported (it is an optional extra)."""
    return importlib.util.find_spec("numpy") is not None


def vectorized_form(model: Model[Any, Any]) -> Vectorized | None:
    """The model's vectorised form, or None (no form, no numpy, or liveness to check)."""
    spec = getattr(model, "vectorized", None)
    if not spec or model.properties_of(PropertyKind.LIVENESS) or not numpy_available():
        return None
    module_name, _, attr = str(spec).partition(":")
    factory = getattr(importlib.import_module(module_name), attr)
    form: Vectorized | None = factory(model)
    return form


class PackedStates(Sequence[Any]):
    """The explored states, stored packed; indexing unpacks one on demand."""

    def __init__(self, packed: Packed, form: Vectorized) -> None:
        self.packed = packed
        self.form = form

    def __len__(self) -> int:
        return len(self.packed)

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Any]: ...
    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self.form.unpack(int(x)) for x in self.packed[index]]
        return self.form.unpack(int(self.packed[index]))

    def __iter__(self) -> Iterator[Any]:
        for x in self.packed:
            yield self.form.unpack(int(x))


_PARALLEL_MIN = 20_000
"""Frontiers smaller than this are expanded in one piece (threads would cost more)."""


def _successors(
    form: Vectorized, frontier: Packed, pool: ThreadPoolExecutor | None, workers: int
) -> tuple[Ints, Packed, Ints]:
    """All successors of a frontier, in pieces on a thread pool when it is large: numpy
    releases the GIL inside its kernels, so the pieces run on separate cores. Keys of a
    later piece are shifted by the positions before it, so the result is the same."""
    import numpy as np

    if pool is None or len(frontier) < _PARALLEL_MIN:
        return form.successors(frontier)
    pieces = np.array_split(frontier, workers)
    results = list(pool.map(form.successors, pieces))
    offsets = np.cumsum([0] + [len(p) for p in pieces[:-1]])
    keys = np.concatenate(
        [k + o * form.choices for (k, _s, _a), o in zip(results, offsets, strict=True)]
    )
    return (
        keys,
        np.concatenate([s for _k, s, _a in results]),
        np.concatenate([a for _k, _s, a in results]),
    )


def explore_vectorized(
    model: Model[Any, Any],
    form: Vectorized,
    *,
    max_states: int | None = None,
    max_depth: int | None = None,
    timeout: float | None = None,
    progress: Progress | None = None,
    workers: int = 1,
) -> Exploration:
    """Breadth-first search over packed states, level by level (``workers`` threads expand
    large frontiers in pieces)."""
    with ThreadPoolExecutor(workers) if workers > 1 else nullcontext() as pool:
        return _explore(model, form, max_states, max_depth, timeout, progress, pool, workers)


def _explore(
    model: Model[Any, Any],
    form: Vectorized,
    max_states: int | None,
    max_depth: int | None,
    timeout: float | None,
    progress: Progress | None,
    pool: ThreadPoolExecutor | None,
    workers: int,
) -> Exploration:
    import numpy as np

    start = time.monotonic()
    choices = form.choices
    frontier = form.initial()
    levels_arrays = [frontier]
    parents_arrays = [np.full(len(frontier), -1, dtype=np.int64)]
    visited = np.sort(frontier)
    levels = [0]
    total = len(frontier)
    transitions = 0
    coverage = np.zeros(len(model.actions), dtype=np.int64)
    violations: dict[str, tuple[int, str]] = {}
    witnesses: dict[str, int] = {}
    deadlock: int | None = None
    bound_hit: str | None = None
    always_names = [p.name for p in model.properties_of(PropertyKind.ALWAYS)]
    sometimes_names = [p.name for p in model.properties_of(PropertyKind.SOMETIMES)]

    def examine(states: Packed, base: int) -> None:
        for name, holds in form.invariants(states).items():
            if name in violations or name not in always_names:
                continue
            bad = np.flatnonzero(~holds)
            if len(bad):
                i = int(bad[0])
                state = form.unpack(int(states[i]))
                prop = model.property(name)
                violations[name] = (base + i, model.evaluate_always(prop, state) or name)
        for name, hit in form.witnesses(states).items():
            if name in witnesses or name not in sometimes_names:
                continue
            good = np.flatnonzero(hit)
            if len(good):
                witnesses[name] = base + int(good[0])

    examine(frontier, 0)
    depth = 0
    base = 0
    while len(frontier):
        keys, succ, acts = _successors(form, frontier, pool, workers)
        expand = max_depth is None or depth < max_depth
        if expand:
            transitions += len(succ)
            coverage += np.bincount(acts, minlength=len(coverage))
            if model.check_deadlock and deadlock is None:
                counts = np.bincount(keys // choices, minlength=len(frontier))
                stuck = np.flatnonzero((counts == 0) & ~form.terminal(frontier))
                if len(stuck):
                    deadlock = base + int(stuck[0])
        # Drop the candidates already visited, then keep, for each distinct new successor,
        # its first candidate (smallest key): that is its parent link.
        pos = np.searchsorted(visited, succ)
        known = np.zeros(len(succ), dtype=bool)
        inside = pos < len(visited)
        known[inside] = visited[pos[inside]] == succ[inside]
        fresh = ~known
        succ_fresh = succ[fresh]
        keys_fresh = keys[fresh]
        order = np.lexsort((keys_fresh, succ_fresh))
        succ_sorted = succ_fresh[order]
        first = np.ones(len(succ_sorted), dtype=bool)
        first[1:] = succ_sorted[1:] != succ_sorted[:-1]
        new = succ_sorted[first]
        new_keys = keys_fresh[order][first]
        if not expand:
            if len(new):
                bound_hit = f"max depth {max_depth}"
            break
        by_discovery = np.argsort(new_keys, kind="stable")
        new = new[by_discovery]
        new_parents = base + new_keys[by_discovery] // choices
        if max_states is not None and total + len(new) > max_states:
            keep = max(0, max_states - total)
            if keep < len(new):
                bound_hit = f"max states {max_states}"
            new = new[:keep]
            new_parents = new_parents[:keep]
        base += len(frontier)
        if len(new):
            levels.append(base)
            levels_arrays.append(new)
            parents_arrays.append(new_parents)
            visited = np.sort(np.concatenate([visited, new]))
            examine(new, base)
            total += len(new)
        frontier = new
        depth += 1
        if progress is not None:
            progress.update(total, transitions, depth + 1, len(frontier))
        if bound_hit is not None:
            break
        if timeout is not None and time.monotonic() - start > timeout:
            if len(frontier):
                bound_hit = f"timeout {timeout:g} s"
            break
    if progress is not None:
        progress.done()
    packed = np.concatenate(levels_arrays)
    parent: array[int] = array("q")
    parent.frombytes(np.concatenate(parents_arrays).astype(np.int64).tobytes())
    return Exploration(
        states=PackedStates(packed, form),
        parent=parent,
        levels=levels,
        transitions=transitions,
        coverage=[int(c) for c in coverage],
        graph=None,
        bound_hit=bound_hit,
        violations=violations,
        witnesses=witnesses,
        deadlock=deadlock,
        seconds=time.monotonic() - start,
    )
