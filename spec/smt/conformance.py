"""Conformance: the symbolic twin and the Python model agree, state by state.

A proof says something about the Python model only because the two agree. On reachable
states, :class:`Conformance` checks that every action's symbolic relation, restricted to
``encode(s)``, admits exactly ``encode`` of the concrete successors (so it is enabled exactly
when the Python action is), that the symbolic properties and premises agree with the Python
ones, and that a loosened proof relation (:meth:`Encoding.proof_transitions`) admits every
concrete successor.

Many states are checked in one Z3 context: each relation, property and premise is built and
asserted once, in a solver of its own, and each state is asked as assumptions (the state's
variables equal their values). That makes a state cost a few incremental solver calls
rather than rebuilding every formula, which is what lets the deep conformance test
(:mod:`hintspec.smt.sampling`) check a thousand states per configuration.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Sequence
from typing import Any, Generic, TypeVar

import z3
from hintspec.lang.model import Model, PropertyKind
from hintspec.smt.bitblast import Bitblast
from hintspec.smt.encoding import Encoding
from hintspec.smt.solver import Budget, isolated, new_bv_solver, new_solver
from hintspec.smt.terms import (
    EncodingError,
    Value,
    Vars,
    premise_holds,
    read_value,
    violated,
    z3_value,
)
from hintspec.traces.values import state_lines

StateT = TypeVar("StateT")


@dataclasses.dataclass
class Divergence:
    """One disagreement between the encoding and the Python model at ``state``: about an
    action (``other``: the successor one side has and the other lacks), a property or a
    premise, or the round trip ``decode(encode(s))``."""

    what: str
    """The action, ``property 'NAME'``, ``premise of 'NAME'`` or ``encode/decode``."""
    message: str
    state: Any
    other: Any = None
    other_label: str = ""
    """What ``other`` is (``the Python successor``, ``the symbolic successor``, ...)."""

    def __str__(self) -> str:
        text = f"{self.what}: {self.message}"
        if self.other is not None:
            text += f" ({self.other_label}: {self.other!r})"
        return text

    def render(self, model: Model[Any, Any]) -> str:
        """Both states and the action, as the trace printer shows states."""
        lines = [f"{self.what}: {self.message}", "  state:", *state_lines(model, self.state)]
        if self.other is not None:
            lines += [f"  {self.other_label}:", *state_lines(model, self.other)]
        return "\n".join(lines)


@dataclasses.dataclass
class Coverage:
    """What a conformance run checked: states, and per action how often it was enabled
    (with how many successors) and disabled."""

    states: int = 0
    enabled: dict[str, int] = dataclasses.field(default_factory=dict)
    disabled: dict[str, int] = dataclasses.field(default_factory=dict)
    successors: dict[str, int] = dataclasses.field(default_factory=dict)
    properties_violated: dict[str, int] = dataclasses.field(default_factory=dict)
    premises_true: dict[str, int] = dataclasses.field(default_factory=dict)
    seconds: float = 0.0

    def never(self) -> list[str]:
        """Actions never enabled, or never disabled, in the checked states."""
        out = [f"{a} never enabled" for a, n in self.enabled.items() if n == 0]
        out += [f"{a} never disabled" for a, n in self.disabled.items() if n == 0]
        return out

    def lines(self) -> list[str]:
        """The coverage as a table: action, states enabled, disabled, successors."""
        width = max([len(a) for a in self.enabled] + [6])
        out = [f"  {'action':<{width}}  enabled  disabled  successors"]
        for a in self.enabled:
            out.append(
                f"  {a:<{width}}  {self.enabled[a]:>7}  {self.disabled[a]:>8}  "
                f"{self.successors[a]:>10}"
            )
        return out


class Conformance(Generic[StateT]):
    """The encoding's relations, properties and premises, each built once inside the
    current Z3 context; :meth:`check_state` asks one state of them. Use inside
    :func:`hintspec.smt.solver.isolated` (:func:`check_states` does).

    A state is asked by substituting its values for the current-state variables and
    simplifying: what is left is a small formula over the next state and the step's
    choices (which block), answered by a scratch solver, and a successor is substituted in
    turn. Values are made once per distinct value (frame sets repeat from state to state),
    which keeps a state to a few milliseconds."""

    def __init__(self, enc: Encoding[StateT], *, bitblast: bool, budget: Budget) -> None:
        self.enc = enc
        self.model = enc.model
        self.budget = budget
        self.bb = Bitblast() if bitblast else None
        self.sorts = enc.sorts()
        self.cur = {k: self._conv(t) for k, t in enc.variables("c").items()}
        self.nxt = {k: self._conv(t) for k, t in enc.variables("n").items()}
        cur_raw, nxt_raw = enc.variables("c"), enc.variables("n")
        self.coverage = Coverage()
        self._values: dict[tuple[str, Value], Any] = {}
        index = enc.index()
        self._props = []
        for name, pred in enc.invariants().items():
            goal, _wit = violated(pred, cur_raw, index, f"h.{name}")
            self._props.append((name, self._conv(goal)))
        triggers = {p.name: p.trigger for p in self.model.properties if p.trigger is not None}
        self._premises = []
        for name, premise in enc.premises().items():
            holds = self._conv(premise_holds(premise, cur_raw, index, f"p.{name}"))
            self._premises.append((name, triggers.get(name), holds))
        self._actions = []
        for name in enc.transitions():
            self._actions.append((name, self._conv(enc.step(name, cur_raw, nxt_raw, "c"))))
            self.coverage.enabled[name] = self.coverage.disabled[name] = 0
            self.coverage.successors[name] = 0
        self._loose = [
            (name, self._conv(enc.step(name, cur_raw, nxt_raw, "c", proof=True)))
            for name in enc.loosened()
        ]
        self._scratch = new_bv_solver(self.sorts.values()) if self.bb else new_solver()

    def _conv(self, e: Any) -> Any:
        return self.bb(e) if self.bb is not None else e

    def _value(self, name: str, value: Value) -> Any:
        """The Z3 value of variable ``name`` (its bit-vector reading when bit-blasting)."""
        key = (name, value)
        out = self._values.get(key)
        if out is None:
            sort = self.sorts[name]
            if self.bb is not None and isinstance(sort, z3.ArraySortRef):
                out = z3.BitVecVal(int(value), 1 << sort.domain().size())
            else:
                out = z3_value(value, sort)
            self._values[key] = out
        return out

    def _pairs(self, v: Vars, state: StateT) -> list[tuple[Any, Any]]:
        encoded = self.enc.encode(state)
        missing = set(v) - set(encoded)
        if missing:
            raise EncodingError(f"encode() gave no value for {sorted(missing)[0]!r}")
        return [(v[k], self._value(k, encoded[k])) for k in v]

    def _solve(self, formula: Any, what: str, errors: list[Divergence], state: StateT) -> Any:
        """sat / unsat of ``formula`` (simplified first; a scratch solver if it must)."""
        formula = z3.simplify(formula)
        if z3.is_true(formula):
            return z3.sat
        if z3.is_false(formula):
            return z3.unsat
        self._scratch.push()
        try:
            self._scratch.add(formula)
            answer = self.budget.check(self._scratch, what)
            if answer not in (z3.sat, z3.unsat):
                why = self.budget.gave_up(self._scratch)
                errors.append(Divergence(what, f"no answer ({why})", state))
            elif answer == z3.sat:
                self._last_model = self._scratch.model()
            return answer
        finally:
            self._scratch.pop()

    def check_state(self, state: StateT) -> list[Divergence]:
        """Where the encoding and the Python model disagree at ``state`` (empty: nowhere)."""
        enc, model, cov = self.enc, self.model, self.coverage
        errors: list[Divergence] = []
        cov.states += 1
        back = enc.decode(enc.encode(state))
        if back != state:
            errors.append(
                Divergence(
                    "encode/decode", "decode(encode(s)) differs from s", state, back, "decoded"
                )
            )
        here = self._pairs(self.cur, state)
        for name, goal in self._props:
            what = f"property {name!r}"
            answer = self._solve(_substitute(goal, here), what, errors, state)
            if answer not in (z3.sat, z3.unsat):
                continue
            sym = answer == z3.unsat
            concrete = model.evaluate_always(model.property(name), state) is None
            if not concrete:
                cov.properties_violated[name] = cov.properties_violated.get(name, 0) + 1
            if sym != concrete:
                errors.append(
                    Divergence(what, f"holds symbolically: {sym}, in Python: {concrete}", state)
                )
        for name, trigger, holds in self._premises:
            what = f"premise of {name!r}"
            answer = self._solve(_substitute(holds, here), what, errors, state)
            if answer not in (z3.sat, z3.unsat):
                continue
            sym = answer == z3.sat
            if sym:
                cov.premises_true[name] = cov.premises_true.get(name, 0) + 1
            if trigger is not None and sym != _trigger_holds(model, trigger, state):
                errors.append(
                    Divergence(
                        what,
                        f"holds symbolically: {sym}, the model's trigger: {not sym}",
                        state,
                    )
                )
        for name, relation in self._actions:
            succ = sorted({t for _a, t in model.steps_of(name, state)}, key=repr)
            if succ:
                cov.enabled[name] += 1
                cov.successors[name] += len(succ)
            else:
                cov.disabled[name] += 1
            self._action(name, name, relation, here, state, succ, errors, exact=True)
        for name, relation in self._loose:
            succ = sorted({t for _a, t in model.steps_of(name, state)}, key=repr)
            what = f"{name} (proof relation)"
            self._action(name, what, relation, here, state, succ, errors, exact=False)
        return errors

    def _action(
        self,
        name: str,
        what: str,
        relation: Any,
        here: list[tuple[Any, Any]],
        state: StateT,
        succ: list[StateT],
        errors: list[Divergence],
        *,
        exact: bool,
    ) -> None:
        """The relation restricted to ``state`` admits every successor in ``succ`` (and, if
        ``exact``, nothing else)."""
        step = z3.simplify(_substitute(relation, here))
        for t in succ:
            admitted = _substitute(step, self._pairs(self.nxt, t))
            if self._solve(admitted, what, errors, state) == z3.unsat:
                errors.append(
                    Divergence(
                        what,
                        f"the {'proof ' if not exact else ''}relation does not admit a "
                        "Python successor",
                        state,
                        t,
                        "the Python successor",
                    )
                )
        if not exact:
            return
        others = [z3.Not(z3.And([a == b for a, b in self._pairs(self.nxt, t)])) for t in succ]
        if self._solve(z3.And(step, *others), what, errors, state) == z3.sat:
            extra = self._read(self._last_model)
            kind = (
                "is disabled in Python but not symbolically"
                if not succ
                else "admits a successor the Python model does not have"
            )
            errors.append(Divergence(what, kind, state, extra, "the symbolic successor"))

    def _read(self, zmodel: Any) -> StateT:
        """The next state a Z3 model of the scratch solver assigns."""
        values: dict[str, Value] = {}
        for k, t in self.nxt.items():
            sort = self.sorts[k]
            if self.bb is not None and isinstance(sort, z3.ArraySortRef):
                values[k] = int(zmodel.eval(t, model_completion=True).as_long())
            else:
                values[k] = read_value(zmodel, t)
        return self.enc.decode(values)


def _substitute(e: Any, pairs: Sequence[tuple[Any, Any]]) -> Any:
    """``z3.substitute(e, *pairs)`` without z3py's per-pair sort checks, which cost more
    than the substitution itself (the pairs come from the encoding's own sorts)."""
    n = len(pairs)
    src = (z3.Ast * n)()
    dst = (z3.Ast * n)()
    for i, (a, b) in enumerate(pairs):
        src[i] = a.as_ast()
        dst[i] = b.as_ast()
    ctx = e.ctx
    return z3.z3._to_expr_ref(z3.Z3_substitute(ctx.ref(), e.as_ast(), n, src, dst), ctx)


def _trigger_holds(model: Model[Any, Any], trigger: Any, state: Any) -> bool:
    """Whether the model's trigger (a witness name or a callable) holds in ``state``."""
    if isinstance(trigger, str):
        return bool(getattr(model, model.property(trigger).method)(state))
    return bool(trigger(model, state))


@dataclasses.dataclass
class ConformanceRun:
    """Every divergence found over some states, and what the run covered."""

    errors: list[tuple[int, Divergence]]
    """(index of the state in the checked list, divergence)."""
    coverage: Coverage


def check_states(
    enc: Encoding[StateT],
    states: Sequence[StateT],
    *,
    bitblast: bool = False,
    timeout: float | None = None,
    stop_after: int | None = None,
) -> ConformanceRun:
    """Check every state of ``states`` in one fresh Z3 context (``stop_after``: stop once
    that many states diverged)."""
    start = time.monotonic()
    with isolated(enc) as enc:
        checker = Conformance(enc, bitblast=bitblast, budget=Budget(timeout))
        errors: list[tuple[int, Divergence]] = []
        bad = 0
        for i, state in enumerate(states):
            found = checker.check_state(state)
            errors.extend((i, d) for d in found)
            bad += bool(found)
            if stop_after is not None and bad >= stop_after:
                break
        checker.coverage.seconds = time.monotonic() - start
        return ConformanceRun(errors, checker.coverage)


def conformance_errors(
    enc: Encoding[StateT], state: StateT, *, bitblast: bool = False, timeout: float | None = None
) -> list[str]:
    """Where the encoding and the Python model disagree at ``state`` (empty: they agree).

    Checks that decode(encode(state)) == state; that each symbolic property holds on
    encode(state) iff the Python property does (and each premise iff the model's trigger
    does); and, per action, that the symbolic relation restricted to encode(state) admits
    encode(t) for every concrete successor t and nothing else (so it is enabled exactly when
    the Python action is). With ``bitblast``, the formulas are asked in their bit-vector
    reading (:class:`Bitblast`, what BMC solves), else over arrays (what the induction step
    solves). A query the solver cannot answer within its limits is reported as a
    disagreement too: an unanswered question is no agreement."""
    run = check_states(enc, [state], bitblast=bitblast, timeout=timeout)
    return [str(d) for _i, d in run.errors]


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
