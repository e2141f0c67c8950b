"""Conformance: the symbolic twin and the Python model agree, state by state.

A proof says something about the Python model only because the two agree. On reachable
states, :func:`conformance_errors` checks that every action's symbolic relation, restricted
to ``encode(s)``, admits exactly ``encode`` of the concrete successors, and that the
symbolic properties agree with the Python ones; a loosened proof relation
(:meth:`Encoding.proof_transitions`) must admit every concrete successor.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

import z3
from hintspec.lang.model import Model, PropertyKind
from hintspec.smt.bitblast import Bitblast
from hintspec.smt.bmc import bv_state
from hintspec.smt.encoding import Encoding
from hintspec.smt.solver import Budget, isolated, new_bv_solver, new_solver
from hintspec.smt.terms import Vars, violated

StateT = TypeVar("StateT")


def conformance_errors(
    enc: Encoding[StateT], state: StateT, *, bitblast: bool = False, timeout: float | None = None
) -> list[str]:
    """Where the encoding and the Python model disagree at ``state`` (empty: they agree).

    Checks that decode(encode(state)) == state; that each symbolic property holds on
    encode(state) iff the Python property does; and, per action, that the symbolic
    relation restricted to encode(state) admits encode(t) for every concrete successor t
    and nothing else (so it is enabled exactly when the Python action is). With
    ``bitblast``, the formulas are asked in their bit-vector reading (:class:`Bitblast`,
    what BMC solves; faster), else over arrays (what the induction step solves). A query
    the solver cannot answer within its limits is reported as a disagreement too: an
    unanswered question is no agreement."""
    with isolated(enc) as enc:
        return _conformance_errors(enc, state, bitblast, Budget(timeout))


def _conformance_errors(
    enc: Encoding[StateT], state: StateT, bitblast: bool, budget: Budget
) -> list[str]:
    errors: list[str] = []
    model = enc.model
    back = enc.decode(enc.encode(state))
    if back != state:
        errors.append(f"decode(encode(s)) differs from s: {back!r} != {state!r}")
    bb = Bitblast() if bitblast else None

    def conv(e: Any) -> Any:
        return bb(e) if bb is not None else e

    def new() -> Any:
        return new_bv_solver(enc.sorts().values()) if bitblast else new_solver()

    def read(solver: Any, v: Vars) -> StateT:
        if bb is not None:
            return bv_state(enc, solver.model(), v, bb)
        return enc.state_of(solver.model(), v)

    def ask(solver: Any, what: str, *assumptions: Any) -> Any:
        answer = budget.check(solver, what, *assumptions)
        if answer not in (z3.sat, z3.unsat):
            errors.append(f"{what}: no answer ({budget.gave_up(solver)})")
        return answer

    cur = enc.variables("c")
    nxt = enc.variables("n")
    here = conv(enc.equals(cur, state))
    for name, pred in enc.invariants().items():
        solver = new()
        goal, _wit = violated(pred, cur, enc.index(), "h")
        solver.add(here, conv(goal))
        answer = ask(solver, f"property {name!r}")
        if answer not in (z3.sat, z3.unsat):
            continue
        sym = answer == z3.unsat
        concrete = model.evaluate_always(model.property(name), state) is None
        if sym != concrete:
            errors.append(f"property {name!r}: symbolic {sym}, Python {concrete}")
    for name in enc.transitions():
        succ = {t for _a, t in model.steps_of(name, state)}
        solver = new()
        solver.add(here, conv(enc.step(name, cur, nxt, "c")))
        for t in sorted(succ, key=repr):
            if ask(solver, name, conv(enc.equals(nxt, t))) == z3.unsat:
                errors.append(f"{name}: the relation does not admit the successor {t!r}")
        others = z3.And([z3.Not(conv(enc.equals(nxt, t))) for t in succ])
        if ask(solver, name, others) == z3.sat:
            extra = read(solver, nxt)
            kind = "is disabled in Python but not" if not succ else "admits a successor"
            errors.append(f"{name}: {kind} symbolically: {extra!r}")
    for name in enc.loosened():
        solver = new()
        solver.add(here, conv(enc.step(name, cur, nxt, "c", proof=True)))
        for t in sorted({t for _a, t in model.steps_of(name, state)}, key=repr):
            if ask(solver, f"{name} (proof relation)", conv(enc.equals(nxt, t))) == z3.unsat:
                errors.append(f"{name}: the proof relation does not admit the successor {t!r}")
    return errors


def reachable_states(
    model: Model[Any, StateT], choices: Iterable[int], *, start: int = 0
) -> list[StateT]:
    """A random walk from an initial state: at each step take successor ``c % n`` of the
    ``n`` enabled ones (stops early in a state with none). Returns every state visited."""
    inits = list(model.initial_states())
    state = inits[start % len(inits)]
    seen = [state]
    for c in choices:
        succ = [t for _i, _a, t in model.successors(state)]
        if not succ:
            break
        state = succ[c % len(succ)]
        seen.append(state)
    return seen


def invariant_properties(model: Model[Any, Any]) -> list[str]:
    """The model's ``@always`` property names, in declaration order."""
    return [p.name for p in model.properties_of(PropertyKind.ALWAYS)]
