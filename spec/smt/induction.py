"""k-induction: proofs that hold at every reachable state, at any depth.

Apalache's recipe for inductive invariants (TLA+ ``IndInv``): the base case (no violation
of ``IndInv = properties /\\ lemmas`` within k - 1 steps of Init) and the step
``IndInv(s_0..s_{k-1}) /\\ Next^k => IndInv(s_k)``, asked per action and per conjunct so
that a failure names both. ``IndInv => Safety`` holds by construction (the properties are
conjuncts). A failed step yields a counterexample to induction (CTI), decoded into States
and rendered with the model's view and frame map; a bounded search then tells whether the
property is really broken (refuted, with a trace) or only not inductive (unknown).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import z3
from hintspec.lang.errors import UsageError
from hintspec.smt.bmc import Violation, bmc_search, property_names, result_of, trace_of, violations
from hintspec.smt.encoding import Encoding
from hintspec.smt.results import Cti, ProofResult, ProofVerdict
from hintspec.smt.solver import Budget, isolated, new_solver
from hintspec.smt.terms import (
    EncodingError,
    Pred,
    Value,
    Vars,
    instances,
    parts,
    read_value,
    violated,
)
from hintspec.smt.vacuity import search_premises


def prove(
    enc: Encoding[Any],
    *,
    properties: Sequence[str] | None = None,
    k: int = 1,
    lemmas: bool = True,
    timeout: float | None = None,
    bmc_depth: int | None = None,
    refine: int = 200,
    premises: bool = True,
    premise_depth: int | None = None,
) -> ProofResult:
    """Prove the ``properties`` (default: every encoded one) by k-induction of IndInv =
    properties /\\ lemmas (``lemmas=False``: the properties as stated).

    Proven when the base case (no violation of IndInv within k - 1 steps) and the step
    (k consecutive IndInv states and k steps => IndInv) both hold. A reachable violation in
    the base case refutes, with a trace. A failed step gives a CTI; a bounded search to
    ``bmc_depth`` (default: the encoding's) then looks for a real counterexample to the
    properties: refuted if found, unknown (with the CTI) if not.

    A proof is then checked for vacuity (``premises``): for each proven property with a
    premise (:meth:`Encoding.premises`), a bounded search (``premise_depth`` steps; default
    the encoding's) for a state that satisfies it. :attr:`ProofResult.premises` says how
    many steps each took; :attr:`ProofResult.vacuous` names those not reached."""
    if k < 1:
        raise UsageError(f"k must be at least 1, not {k}")
    with isolated(enc) as enc:
        start = time.monotonic()
        budget = Budget(timeout)
        result = _prove(enc, properties, k, lemmas, budget, bmc_depth, refine)
        if premises and result.verdict is ProofVerdict.PROVEN:
            # Same budget, so the queries (a list shared with the result) include these.
            result.premises = search_premises(enc, result.properties, premise_depth, budget)
            result.seconds = time.monotonic() - start
        return result


def _prove(
    enc: Encoding[Any],
    properties: Sequence[str] | None,
    k: int,
    lemmas: bool,
    budget: Budget,
    bmc_depth: int | None,
    refine: int,
) -> ProofResult:
    start = time.monotonic()
    props = property_names(enc, enc.proof_properties if properties is None else properties)
    conj = enc.conjuncts(props, lemmas=lemmas)
    lemma_names = [n for n in conj if n not in props]

    def done(verdict: ProofVerdict, reason: str, **extra: Any) -> ProofResult:
        return result_of(enc, verdict, props, lemma_names, k, reason, budget, start, **extra)

    # Base case: every state within k - 1 steps of Init satisfies IndInv.
    base = bmc_search(enc, conj, k - 1, budget, label="base", bitblast=k > 1)
    if isinstance(base, Violation):
        trace = trace_of(enc, base.path, list(conj))
        return done(
            ProofVerdict.REFUTED,
            f"{trace.prop!r} is violated after {len(trace)} steps",
            trace=trace,
            depth=base.depth,
        )
    if base[0] < k - 1:
        return done(ProofVerdict.UNKNOWN, f"base case: {base[1]}")

    # Step: per action and per conjunct, so a failure names both. A failed step first
    # asks for a real counterexample (bad designs are refuted with a trace at once); only
    # then is a CTI refined until it is genuine (or the step turns out to hold).
    depth = enc.bmc_depth if bmc_depth is None else bmc_depth
    searched: tuple[int, str] | None = None
    for action in enc.transitions():
        for name in conj:
            if budget.expired():
                return done(ProofVerdict.UNKNOWN, "timed out in the induction step")
            outcome = _step(enc, conj, k, action, name, budget, QUICK_REFINE)
            if outcome is None:
                continue
            if isinstance(outcome, str):
                return done(ProofVerdict.UNKNOWN, outcome)
            if searched is None:
                props_only = enc.conjuncts(props, lemmas=False)
                found = bmc_search(enc, props_only, depth, budget, label="bmc")
                if isinstance(found, Violation):
                    trace = trace_of(enc, found.path, props)
                    return done(
                        ProofVerdict.REFUTED,
                        f"{trace.prop!r} is violated after {len(trace)} steps",
                        trace=trace,
                        depth=found.depth,
                    )
                searched = found
            if not outcome.genuine:
                outcome = _step(enc, conj, k, action, name, budget, refine)
                if outcome is None:
                    continue
                if isinstance(outcome, str):
                    return done(ProofVerdict.UNKNOWN, outcome)
            what = "" if outcome.genuine else " (refinement cut short: the CTI may be spurious)"
            return done(
                ProofVerdict.UNKNOWN,
                f"not {k}-inductive: {outcome.broken!r} is not preserved by "
                f"{outcome.action}{what}; {searched[1]}",
                cti=outcome,
                depth=searched[0],
            )
    how = "as stated" if not lemma_names else f"with {len(lemma_names)} strengthening lemma(s)"
    return done(
        ProofVerdict.PROVEN,
        f"{'1-inductive' if k == 1 else f'{k}-inductive'} {how}: Init => IndInv, "
        "IndInv /\\ Next => IndInv', IndInv => properties",
    )


QUICK_REFINE = 0
"""Refinement rounds of a failed step before the bounded search for a real violation."""


def _step(
    enc: Encoding[Any],
    conj: Mapping[str, Pred],
    k: int,
    action: str,
    name: str,
    budget: Budget,
    refine: int,
) -> Cti | str | None:
    """Does ``action`` keep conjunct ``name``, from k states satisfying IndInv? None: yes;
    a Cti: no; a string: no answer (why).

    The hypotheses ``IndInv(s_i)`` are instantiated at the index terms of the transition
    and the goal. An answer that breaks a hypothesis outside those instances is spurious:
    the frames where it breaks join the instances and the query is asked again (up to
    ``refine`` times)."""
    index = enc.index()
    states = [enc.variables(f"s{i}") for i in range(k + 1)]
    trans = [enc.next(states[i], states[i + 1], f"s{i}", proof=True) for i in range(k - 1)]
    trans.append(enc.step(action, states[k - 1], states[k], f"s{k - 1}", proof=True))
    goal, _wit = violated(conj[name], states[k], index, "goal")
    terms = index_terms([*trans, goal], index)
    solver = new_solver()
    solver.add(*trans, goal)
    for i in range(k):
        for pred in conj.values():
            solver.add(*instances(pred, states[i], terms))
    for _round in range(refine + 1):
        answer = budget.check(solver, f"step {action} keeps {name}")
        if answer == z3.unsat:
            return None
        if answer != z3.sat:
            return (
                f"the solver gave up on whether {action} keeps {name!r} ({budget.gave_up(solver)})"
            )
        zmodel = solver.model()
        raws = [_raw(zmodel, v) for v in states]
        decoded = [enc.decode(r) for r in raws]
        extra = _broken_hypotheses(enc, conj, decoded[:-1])
        if not extra:
            sparse = _sparse(enc, solver, states, terms, conj, budget)
            if sparse is not None:
                return _make_cti(enc, *sparse, action, name)
            return _make_cti(enc, decoded, raws, action, name)
        if _round == refine:
            cti = _make_cti(enc, decoded, raws, action, name)
            cti.genuine = False
            return cti
        new = [z3.BitVecVal(f, index.size()) for f in extra]
        for i in range(k):
            for pred in conj.values():
                for f in parts(pred):
                    solver.add(*[f.body(states[i], *t) for t in _tuples_with(terms, new, f.arity)])
        terms = terms + new
    raise AssertionError("unreachable")  # the last round returns


def _sparse(
    enc: Encoding[Any],
    solver: Any,
    states: list[Vars],
    terms: list[Any],
    conj: Mapping[str, Pred],
    budget: Budget,
) -> tuple[list[Any], list[dict[str, Value]]] | None:
    """A more readable CTI, if there is one: frame sets empty at every frame the query does
    not name (a solver fills the others arbitrarily). None if that is no CTI (e.g. an
    ownership invariant needs every frame covered) -- the caller keeps its own."""
    constraints = []
    for i, v in enumerate(states[:-1]):
        for name, term in v.items():
            sort = term.sort()
            if not isinstance(sort, z3.ArraySortRef):
                continue
            shape = z3.K(sort.domain(), z3.BoolVal(False))
            for j, t in enumerate(terms):
                shape = z3.Store(shape, t, z3.Bool(f"sparse.{i}.{name}.{j}"))
            constraints.append(term == shape)
    solver.push()
    try:
        solver.add(*constraints)
        if budget.check(solver, "sparse CTI") != z3.sat:
            return None
        zmodel = solver.model()
        raws = [_raw(zmodel, v) for v in states]
        decoded = [enc.decode(r) for r in raws]
    finally:
        solver.pop()
    if _broken_hypotheses(enc, conj, decoded[:-1]):
        return None
    return decoded, raws


def _raw(zmodel: Any, v: Vars) -> dict[str, Value]:
    """Every variable's value in a Z3 model."""
    return {k: read_value(zmodel, t) for k, t in v.items()}


def counter_disagreements(enc: Encoding[Any], raw: dict[str, Value], state: Any) -> list[str]:
    """The encoding's scalar variables (counters: ``nfree``, a length, a budget) whose value
    in ``raw`` differs from what the decoded ``state`` gives: what a CTI's rendered State
    cannot show."""
    try:
        own = enc.encode(state)
    except (ValueError, EncodingError) as exc:
        return [f"(the decoded state has no encoding: {exc})"]
    sorts = enc.sorts()
    out = []
    for name, value in raw.items():
        if isinstance(sorts[name], z3.ArraySortRef) or name not in own:
            continue
        if own[name] != value:
            out.append(f"{name} = {value} (the state gives {own[name]})")
    return out


def _tuples_with(old: list[Any], new: list[Any], arity: int) -> list[tuple[Any, ...]]:
    """Every tuple over old + new that uses at least one of ``new``."""
    every = old + new
    ids = {t.get_id() for t in new}
    return [t for t in itertools.product(every, repeat=arity) if any(x.get_id() in ids for x in t)]


def _broken_hypotheses(
    enc: Encoding[Any], conj: Mapping[str, Pred], states: Sequence[Any]
) -> list[int]:
    """Frame numbers at which some state of ``states`` breaks some conjunct."""
    out: list[int] = []
    for s in states:
        for pred in conj.values():
            out.extend(w for w in violations(enc, pred, s, limit=16) if w not in out)
    return out


def _make_cti(
    enc: Encoding[Any],
    decoded: list[Any],
    raws: list[dict[str, Value]],
    action: str,
    broken: str,
) -> Cti:
    pre, post = decoded[:-1], decoded[-1]
    counters = [counter_disagreements(enc, r, s) for r, s in zip(raws, decoded, strict=True)]
    args = None
    try:
        for a, t in enc.model.steps_of(action, pre[-1]):
            if t == post:
                args = a
                break
    except Exception:  # the Python model may refuse a state no run reaches
        args = None
    return Cti(broken=broken, action=action, pre=pre, post=post, args=args, counters=counters)


def index_terms(formulas: Iterable[Any], index: Any) -> list[Any]:
    """The terms of sort ``index`` that are read or written as array indices in
    ``formulas``, in a fixed order (first seen first): where a hypothesis ``forall i``
    needs instantiating for the solver to see what the formulas touch."""
    seen: set[int] = set()
    found: dict[int, Any] = {}
    stack = list(formulas)[::-1]
    while stack:
        t = stack.pop()
        if t.get_id() in seen:
            continue
        seen.add(t.get_id())
        if z3.is_select(t) or z3.is_store(t):
            i = t.arg(1)
            if i.sort() == index:
                found.setdefault(i.get_id(), i)
        if z3.is_app(t):
            stack.extend(reversed(t.children()))
    return list(found.values())
