"""Vacuity of proofs: the premise of a proven implication is reachable.

"A reported block is free" is proven just as well by a design that never reports a block:
the proof then says nothing. For every proven property with a premise
(:meth:`hintspec.smt.Encoding.premises`: "some block is reported"), a bounded search from
Init looks for a state that satisfies it -- the shortest path, as a trace that replays on
the Python model, whose last state satisfies the model's own trigger. A premise not reached
within the bound leaves the proof standing but marks it *vacuous?*: nothing shows that the
situation it is about ever happens.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import z3
from hintspec.smt.bitblast import Bitblast
from hintspec.smt.bmc import bv_state
from hintspec.smt.encoding import Encoding
from hintspec.smt.solver import Budget, isolated, new_bv_solver
from hintspec.smt.terms import EncodingError, premise_holds
from hintspec.traces.trace import Trace, trace_from_path


@dataclasses.dataclass
class PremiseCheck:
    """Whether the premise of ``prop`` holds in some state within ``bound`` steps of Init."""

    prop: str
    steps: int | None
    """Steps of the shortest path to a state satisfying the premise (None: none found)."""
    bound: int
    reason: str = ""
    """Why none was found: no such state within the bound, or the solver gave up."""
    trace: Trace | None = None
    """The path to that state, a witness that replays."""

    @property
    def reached(self) -> bool:
        return self.steps is not None

    def describe(self) -> str:
        """One line for ``hintspec prove``."""
        if self.steps is not None:
            return f"premise of {self.prop!r}: reached in {self.steps} step(s) (BMC)"
        return (
            f"premise of {self.prop!r}: NOT reached within {self.bound} steps: "
            f"vacuous? ({self.reason})"
        )


def premise_checks(
    enc: Encoding[Any],
    properties: Sequence[str] | None = None,
    *,
    depth: int | None = None,
    timeout: float | None = None,
) -> list[PremiseCheck]:
    """For each of ``properties`` (default: every one with a premise) that has a premise,
    the shortest path to a state satisfying it, within ``depth`` steps (default: the
    encoding's ``premise_depth``, else its ``bmc_depth``)."""
    with isolated(enc) as enc:
        return search_premises(enc, properties, depth, Budget(timeout))


def search_premises(
    enc: Encoding[Any], properties: Sequence[str] | None, depth: int | None, budget: Budget
) -> list[PremiseCheck]:
    """:func:`premise_checks` inside the caller's context and budget."""
    premises = enc.premises()
    names = [p for p in (properties if properties is not None else premises) if p in premises]
    if not names:
        return []
    bound = depth if depth is not None else (enc.premise_depth or enc.bmc_depth)
    index = enc.index()
    bb = Bitblast()
    solver = new_bv_solver(enc.sorts().values())
    path = [enc.variables("0")]
    solver.add(bb(enc.init(path[0])))
    found: dict[str, PremiseCheck] = {}
    pending = list(names)
    why = f"no state within {bound} steps satisfies it"
    for d in range(bound + 1):
        for name in list(pending):
            if budget.expired():
                why = f"timed out after {d - 1} steps"
                break
            goal = bb(premise_holds(premises[name], path[d], index, f"premise{d}.{name}"))
            answer = budget.check(solver, f"premise of {name} at depth {d}", goal)
            if answer == z3.sat:
                states = [bv_state(enc, solver.model(), v, bb) for v in path]
                found[name] = PremiseCheck(name, d, bound, trace=_witness(enc, states, name))
                pending.remove(name)
            elif answer != z3.unsat:
                why = f"the solver gave up at depth {d} ({budget.gave_up(solver)})"
                pending.remove(name)
                found[name] = PremiseCheck(name, None, bound, why)
        if not pending or budget.expired():
            break
        if d < bound:
            path.append(enc.variables(str(d + 1)))
            solver.add(bb(enc.next(path[d], path[d + 1], str(d))))
    for name in pending:
        found[name] = PremiseCheck(name, None, bound, why)
    return [found[n] for n in names]


def _witness(enc: Encoding[Any], states: list[Any], name: str) -> Trace:
    """The path as a trace of the Python model, whose last state satisfies the model's own
    trigger of ``name`` (if it declares one)."""
    model = enc.model
    try:
        trace = trace_from_path(model, states, prop=name, kind="witness", source="prove")
    except ValueError as exc:
        raise EncodingError(
            f"{model.name}: the path to the premise of {name!r} is not a path of the Python "
            f"model ({exc})"
        ) from None
    try:
        trigger = model.property(name).trigger
    except KeyError:
        trigger = None
    if trigger is not None:
        last = states[-1]
        holds = (
            getattr(model, model.property(trigger).method)(last)
            if isinstance(trigger, str)
            else trigger(model, last)
        )
        if not holds:
            raise EncodingError(
                f"{model.name}: a state satisfies the premise of {name!r} but not the model's "
                "trigger (the encoding's premise disagrees with the model; run the "
                "conformance test)"
            )
    return trace
