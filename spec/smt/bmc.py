"""Bounded model checking: the shortest violation within d steps of Init, as a trace.

``Init /\\ Next^d /\\ ~Safety`` for d = 0, 1, ... (shortest first), over the bit-blasted
reading of the frame sets. A model is decoded, state by state, into concrete States; the
path is labelled with the Python model's own actions
(:func:`hintspec.traces.trace.trace_from_path`), so the counterexample is an ordinary
:class:`hintspec.traces.trace.Trace` that replays. No violation within the bound is *unknown*,
never a proof.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import z3
from hintspec.smt.bitblast import Bitblast
from hintspec.smt.encoding import Encoding
from hintspec.smt.results import ProofResult, ProofVerdict
from hintspec.smt.solver import Budget, isolated, new_bv_solver, new_solver
from hintspec.smt.terms import EncodingError, Pred, Value, Vars, read_value, violated
from hintspec.traces.trace import Trace, trace_from_path

StateT = TypeVar("StateT")


def bv_state(enc: Encoding[StateT], zmodel: Any, v: Vars, bb: Bitblast) -> StateT:
    """The concrete State of ``v`` in a model of bit-blasted formulas."""
    values: dict[str, Value] = {}
    for k, t in v.items():
        vec = bb.vectors.get(t.decl().name()) if isinstance(t.sort(), z3.ArraySortRef) else None
        if isinstance(t.sort(), z3.ArraySortRef):
            values[k] = 0 if vec is None else int(zmodel.eval(vec, model_completion=True).as_long())
        else:
            values[k] = read_value(zmodel, t)
    return enc.decode(values)


def _violation(enc: Encoding[Any], conj: Mapping[str, Pred], v: Vars, tag: str) -> Any:
    """Some conjunct is violated in ``v`` (each at its own fresh witness indices)."""
    index = enc.index()
    return z3.Or([violated(p, v, index, f"{tag}.{i}")[0] for i, p in enumerate(conj.values())])


def holds(enc: Encoding[StateT], pred: Pred, state: StateT) -> tuple[bool, list[int]]:
    """Whether ``pred`` holds in the concrete ``state``; if not, the witness frame numbers."""
    found = violations(enc, pred, state, limit=1)
    return not found, found


def violations(
    enc: Encoding[StateT],
    pred: Pred,
    state: StateT,
    *,
    limit: int = 64,
    timeout: float | None = None,
) -> list[int]:
    """Frame numbers at which ``pred`` fails in the concrete ``state`` (the witnesses of up
    to ``limit`` distinct violations; empty: it holds)."""
    with isolated(enc) as enc:
        v = enc.variables("h")
        # Bit-blasted: with every frame set a constant, the SAT solver only propagates.
        bb = Bitblast()
        solver = new_bv_solver(enc.sorts().values())
        goal, wit = violated(pred, v, enc.index(), "h")
        solver.add(bb(enc.equals(v, state)), bb(goal))
        budget = Budget(timeout)
        out: list[int] = []
        for _ in range(limit):
            answer = budget.check(solver, "evaluate")
            if answer == z3.unsat:
                break
            if answer != z3.sat:
                raise EncodingError(
                    f"cannot evaluate a property on a concrete state ({budget.gave_up(solver)})"
                )
            m = solver.model()
            values = [m.eval(w, model_completion=True) for w in wit]
            out.extend(int(x.as_long()) for x in values if int(x.as_long()) not in out)
            if not wit:
                break
            solver.add(z3.Or([w != x for w, x in zip(wit, values, strict=True)]))
        return out


def property_names(enc: Encoding[Any], properties: Sequence[str] | None) -> list[str]:
    names = list(enc.invariants()) if properties is None else list(properties)
    enc.conjuncts(names, lemmas=False)  # validates the names
    return names


def result_of(
    enc: Encoding[Any],
    verdict: ProofVerdict,
    props: list[str],
    lemmas: list[str],
    k: int,
    reason: str,
    budget: Budget,
    start: float,
    **extra: Any,
) -> ProofResult:
    return ProofResult(
        verdict=verdict,
        model=enc.model.name,
        variant=enc.model.variant,
        config=enc.config,
        properties=props,
        lemmas=lemmas,
        k=k,
        reason=reason,
        queries=budget.queries,
        seconds=time.monotonic() - start,
        **extra,
    )


def bmc(
    enc: Encoding[Any],
    depth: int,
    *,
    properties: Sequence[str] | None = None,
    timeout: float | None = None,
) -> ProofResult:
    """Bounded model checking of the ``properties`` (default: every encoded one) for paths
    of 0..``depth`` steps from Init, shortest first. Refuted: ``trace`` is the decoded,
    labelled counterexample. Otherwise unknown: no violation within ``depth`` steps (or
    the solver ran out of time)."""
    with isolated(enc) as enc:
        return _bmc(enc, depth, properties, Budget(timeout))


def _bmc(
    enc: Encoding[Any], depth: int, properties: Sequence[str] | None, budget: Budget
) -> ProofResult:
    start = time.monotonic()
    props = property_names(enc, properties)
    preds = enc.conjuncts(props, lemmas=False)
    found = bmc_search(enc, preds, depth, budget, label="bmc")
    if isinstance(found, Violation):
        trace = trace_of(enc, found.path, list(preds))
        return result_of(
            enc,
            ProofVerdict.REFUTED,
            props,
            [],
            0,
            f"{trace.prop!r} is violated after {len(trace)} steps",
            budget,
            start,
            trace=trace,
            depth=found.depth,
        )
    reached, why = found
    return result_of(enc, ProofVerdict.UNKNOWN, props, [], 0, why, budget, start, depth=reached)


@dataclasses.dataclass
class Violation:
    depth: int
    path: list[Any]


def bmc_search(
    enc: Encoding[Any],
    preds: Mapping[str, Pred],
    depth: int,
    budget: Budget,
    *,
    label: str,
    bitblast: bool = True,
) -> Violation | tuple[int, str]:
    """Shortest violation of the conjunction of ``preds`` within ``depth`` steps, or
    (depth reached, why no answer) when there is none or time ran out. ``bitblast=False``
    asks over frame arrays instead (cheaper for depth 0 at many frames)."""
    solver = new_bv_solver(enc.sorts().values()) if bitblast else new_solver()
    bb: Any = Bitblast() if bitblast else (lambda e: e)
    path = [enc.variables("0")]
    solver.add(bb(enc.init(path[0])))
    for d in range(depth + 1):
        if budget.expired():
            return d - 1, f"timed out after searching {d - 1} steps deep"
        bad = bb(_violation(enc, preds, path[d], f"bad{d}"))
        answer = budget.check(solver, f"{label} depth {d}", bad)
        if answer == z3.sat:
            zmodel = solver.model()
            if isinstance(bb, Bitblast):
                return Violation(d, [bv_state(enc, zmodel, v, bb) for v in path])
            return Violation(d, [enc.state_of(zmodel, v) for v in path])
        if answer != z3.unsat:
            return d - 1, f"the solver gave up at depth {d} ({budget.gave_up(solver)})"
        if d < depth:
            path.append(enc.variables(str(d + 1)))
            solver.add(bb(enc.next(path[d], path[d + 1], str(d))))
    return depth, f"no violation within {depth} steps (a bounded result, not a proof)"


def trace_of(enc: Encoding[Any], path: list[Any], names: Sequence[str]) -> Trace:
    """Label a decoded path with the Python model's actions; the violated property is the
    first of ``names`` that the Python model finds broken in the last state."""
    model = enc.model
    final = path[-1]
    for name in names:
        try:
            prop = model.property(name)
        except KeyError:
            continue  # a lemma, not a model property
        why = model.evaluate_always(prop, final)
        if why is not None:
            try:
                return trace_from_path(model, path, prop=name, explanation=why, source="prove")
            except ValueError as exc:
                raise EncodingError(
                    f"{model.name}: the symbolic path is not a path of the Python model ({exc})"
                ) from None
    lemma = next((n for n in names if n not in {p.name for p in model.properties}), None)
    if lemma is not None:
        raise EncodingError(
            f"{model.name}: a reachable state breaks the strengthening lemma {lemma!r} "
            "(the lemma is wrong, or the encoding disagrees with the model)"
        )
    raise EncodingError(
        f"{model.name}: the solver's violating state satisfies every property in the Python "
        "model (the encoding disagrees with the model; run the conformance test)"
    )
