"""Every Z3 query goes through here: a fresh context per check, a fixed seed, and limits.

Three rules keep a verdict reproducible and a run finite:

* **A fresh context per check.** Z3 numbers terms per context, and those numbers steer its
  heuristics (which variable the SAT solver splits on first, which model it returns). In
  one shared context, the terms earlier checks created would change the answer -- or the
  time -- of a later one: a proof that takes 2 s alone could run for an hour after other
  tests. :func:`fresh_context` gives each top-level check (:func:`hintspec.smt.prove`,
  :func:`hintspec.smt.bmc`, a conformance or property evaluation) a context of its own, so
  its queries see the same terms in the same order wherever it runs. (Which satisfying
  model Z3 returns -- the exact states of a CTI -- can still vary with the heap that
  earlier heavy solving left in the process; verdicts, the property and action a CTI
  breaks, and the length of a shortest trace cannot. ``tests/test_smt_isolation.py``
  checks both orders of a set of checks, and a check after heavy unrelated solving.)
* **A fixed random seed** on every solver (:data:`SEED`).
* **Two limits on every query** (:meth:`Budget.check`, the one place that calls
  ``Solver.check``): a resource limit (``rlimit``, Z3's deterministic count of work, so a
  query that exhausts it does so on every machine and every run) and a wall-clock timeout
  (the remaining time of the check's budget, a safety net). A query that hits either
  answers ``unknown``, which every caller reports as an *unknown* verdict -- never a hang
  and never "proven".

z3py keeps its default context in a module global that every term constructor consults
when no ``ctx=`` is passed; :func:`fresh_context` points that global at a new context for
the duration of a check (and back afterwards), so encodings need not pass ``ctx=``
everywhere. An encoding is therefore rebuilt inside the context (:func:`isolated`): it must
be a function of its class and its model, holding no Z3 terms made elsewhere.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator
from typing import Any, TypeVar

import z3
import z3.z3 as _z3_core

SEED = 0
"""The random seed of every solver (``random_seed``, which the SAT core shares)."""

QUERY_RLIMIT = 2_000_000_000
"""Z3 resource units one query may use (several minutes of solving on the
project's 2-core machine: the largest query of the test suite uses under 1 % of it, about
14 million units in 2 to 4 s). Deterministic: the same query stops at the
same point on every run."""

DEFAULT_TIMEOUT = 900.0
"""Seconds a check may take when the caller sets no budget: a safety net under the
resource limit, so that no call waits for ever."""

_E = TypeVar("_E")

_depth = 0
"""How many :func:`fresh_context` blocks are open (nested checks share the outer one)."""


@contextlib.contextmanager
def fresh_context() -> Iterator[None]:
    """Run the enclosed Z3 work in a new context (nested blocks reuse the outermost)."""
    global _depth
    if _depth:
        _depth += 1
        try:
            yield
        finally:
            _depth -= 1
        return
    saved = _z3_core._main_ctx
    _z3_core._main_ctx = z3.Context()
    _depth = 1
    try:
        yield
    finally:
        _depth = 0
        _z3_core._main_ctx = saved


def in_fresh_context() -> bool:
    """Whether a :func:`fresh_context` block is open."""
    return _depth > 0


@contextlib.contextmanager
def isolated(encoding: _E) -> Iterator[_E]:
    """``encoding`` rebuilt inside a fresh context (itself, inside an open one)."""
    with fresh_context():
        if _depth > 1:
            yield encoding
        else:
            yield type(encoding)(encoding.model)  # type: ignore[call-arg,attr-defined]


@dataclasses.dataclass
class Query:
    """One solver call: what it asked, its answer (sat/unsat/unknown), its time and the
    resource units it used."""

    name: str
    answer: str
    seconds: float
    rlimit: int = 0


class Budget:
    """The limits shared by the solver calls of one check: a deadline (``timeout``
    seconds from now; None: :data:`DEFAULT_TIMEOUT`) and a resource limit per query
    (None: :data:`QUERY_RLIMIT`)."""

    def __init__(self, timeout: float | None = None, *, rlimit: int | None = None) -> None:
        self.timeout = DEFAULT_TIMEOUT if timeout is None else timeout
        self.deadline = time.monotonic() + self.timeout
        self.rlimit = QUERY_RLIMIT if rlimit is None else rlimit
        self.queries: list[Query] = []

    def remaining_ms(self) -> int:
        return max(1, int((self.deadline - time.monotonic()) * 1000))

    def expired(self) -> bool:
        return time.monotonic() >= self.deadline

    def check(self, solver: Any, name: str, *assumptions: Any) -> Any:
        """``solver.check(*assumptions)`` within the limits; records the query."""
        solver.set("timeout", self.remaining_ms())
        solver.set("rlimit", self.rlimit)
        before = _rlimit_count(solver)
        start = time.monotonic()
        answer = solver.check(*assumptions)
        self.queries.append(
            Query(name, str(answer), time.monotonic() - start, _rlimit_count(solver) - before)
        )
        return answer

    def gave_up(self, solver: Any) -> str:
        """Why the last query answered unknown, in words a user can act on."""
        reason = str(solver.reason_unknown())
        if "resource" in reason:
            return f"the query exhausted its resource limit (rlimit {self.rlimit:,})"
        if reason in ("timeout", "canceled") or self.expired():
            return f"the check ran out of time ({self.timeout:g} s)"
        return reason


def _rlimit_count(solver: Any) -> int:
    try:
        return int(solver.statistics().get_key_value("rlimit count"))
    except z3.Z3Exception:  # no query yet
        return 0


def _seeded(solver: Any) -> Any:
    solver.set("random_seed", SEED)
    return solver


def new_solver() -> Any:
    """A general solver (arrays, quantifier-free reasoning over frame sets)."""
    return _seeded(z3.Solver())


def new_bv_solver(sorts: Any) -> Any:
    """The solver for a state whose variables have ``sorts``: after bit-blasting the frame
    sets, a state of bit-vectors and Booleans goes to the QF_BV solver (bit-blasting to
    SAT); anything with integers to the general one."""
    for sort in sorts:
        if not (isinstance(sort, z3.ArraySortRef) or z3.is_bv_sort(sort) or sort == z3.BoolSort()):
            return new_solver()
    return _seeded(z3.SolverFor("QF_BV"))
