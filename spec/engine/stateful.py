"""Hypothesis stateful testing of any model: one generic ``RuleBasedStateMachine`` adapter.

:func:`machine_for` turns a model instance (its config chosen) into a
``hypothesis.stateful.RuleBasedStateMachine`` with no boilerplate in the model:

* the initial state is drawn from ``initial_states()`` (an ``@initialize`` rule; no draw when
  there is only one);
* every action is one ``@rule(data=st.data())`` whose ``@precondition`` is "the action has an
  enabled choice in the current state"; the rule draws one of the enabled choices with
  ``sampled_from`` (so shrinking moves towards the first choice in the model's order);
  Hypothesis's swarm testing (rules turned off per test case) is off unless asked for,
  see :func:`disable_swarm`;
* every ``always`` property is an ``@invariant``, and so is "no deadlock" (no action enabled
  in a state the model does not call terminal), unless the model sets ``check_deadlock =
  False``. A terminal state stutters (a hidden rule that does nothing and is not recorded).

Every step is recorded, so a failure is a :class:`hintspec.traces.trace.Trace` (source
``fuzz``): the exception raised, :class:`PropertyViolation`, carries the trace and renders
it in the explorer's text format. Choices are enumerated lazily (:class:`EnabledSteps`), so
an action with thousands of choices costs only when it is taken. Running the machine --
profiles, shrinking, trace shortening -- is :mod:`hintspec.engine.fuzzing`.

Liveness is out of reach of a test of finite runs (Hypothesis has no liveness checking);
so are ``sometimes`` witnesses as verdicts -- a run that never reaches one proves nothing
-- but :func:`hintspec.engine.fuzzing.fuzz` reports which ones were reached.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import time
import types
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

from hintspec.engine.results import DEADLOCK
from hintspec.lang.configs import config_to_json
from hintspec.lang.model import ActionSpec, Args, Model, PropertyKind, PropertySpec
from hintspec.traces.text import render_trace
from hintspec.traces.trace import Step, Trace
from hypothesis import HealthCheck
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

DEADLOCK_EXPLANATION = "no action is enabled and the model does not call this state terminal"


SUPPRESSED = (
    HealthCheck.too_slow,
    HealthCheck.data_too_large,
    HealthCheck.large_base_example,
    HealthCheck.filter_too_much,
)
"""Health checks that do not apply to model runs: long stateful runs over big configs are
large and slow by nature, not by mistake; and many test cases are filtered out by design --
Hypothesis's swarm testing turns rules off per test case, and a state whose enabled
actions are all off aborts it."""


# -- the adapter ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Choice:
    """One enabled choice of an action: its arguments and the state it leads to. The repr is
    what Hypothesis prints for a drawn choice (``alloc(order=0, head=4)``)."""

    action: str
    args: Args
    state: Any

    def __repr__(self) -> str:
        return f"{self.action}({', '.join(f'{k}={v!r}' for k, v in self.args.items())})"


MAX_CHOICES = 4096
"""At most this many choices of one action in one state are enumerated (the first ones, in
the model's order); beyond that an action's choices are truncated, and said so."""


class EnabledSteps:
    """The enabled choices of every action in one state, enumerated lazily.

    Whether an action is enabled needs only its first choice, so a precondition costs
    little even for an action with thousands of choices; the list of choices is built only
    for the action taken, and is cut at :data:`MAX_CHOICES` (``truncated`` names those)."""

    def __init__(self, model: Model[Any, Any], state: Any) -> None:
        self.model = model
        self.state = state
        self._pending: dict[int, Iterator[tuple[Args, Any]]] = {}
        self._seen: dict[int, list[tuple[Args, Any]]] = {}
        self.truncated: set[int] = set()

    def enabled(self, index: int) -> bool:
        seen = self._seen.get(index)
        if seen is None:
            spec = self.model.actions[index]
            gen = iter(getattr(self.model, spec.method)(self.state))
            seen = self._seen[index] = []
            first = next(gen, None)
            if first is not None:
                seen.append(first)
                self._pending[index] = gen
        return bool(seen)

    def choices(self, index: int) -> list[tuple[Args, Any]]:
        """The enabled choices of action ``index`` (at most :data:`MAX_CHOICES`)."""
        self.enabled(index)
        seen = self._seen[index]
        gen = self._pending.pop(index, None)
        if gen is not None:
            for step in gen:
                if len(seen) == MAX_CHOICES:
                    self.truncated.add(index)
                    break
                seen.append(step)
        return seen

    def enabled_actions(self) -> list[int]:
        return [i for i in range(len(self.model.actions)) if self.enabled(i)]

    def any(self) -> bool:
        return any(self.enabled(i) for i in range(len(self.model.actions)))


class PropertyViolation(AssertionError):
    """An ``always`` property (or "no deadlock") failed; ``trace`` leads to the bad state.

    Its text is the trace rendered like the explorer's, so a failing pytest shows it."""

    def __init__(self, trace: Trace, model: Model[Any, Any]) -> None:
        super().__init__(trace.prop)
        self.trace = trace
        self.model = model

    def __str__(self) -> str:
        return f"{self.trace.prop}: {self.trace.explanation}\n\n" + render_trace(
            self.trace, self.model
        )


class ModelFault(Exception):
    """The model's own code raised during a run (not a property violation): Hypothesis
    shrinks it like any failure; :func:`fuzz` then reports it as a
    :class:`hintspec.lang.errors.ModelError` with the shrunk steps."""

    def __init__(self, steps: Sequence[Step], original: Exception) -> None:
        super().__init__(f"{type(original).__name__}: {original}")
        self.steps = list(steps)
        self.original = original


@dataclasses.dataclass
class FuzzStats:
    """What happened over all the test cases of one machine class."""

    actions: Sequence[str]
    test_cases: int = 0
    """Machines created: every example Hypothesis ran, shrinking included."""
    steps: int = 0
    coverage: dict[str, int] = dataclasses.field(default_factory=dict)
    """Action -> steps taken, before the first failure (shrinking is not counted)."""
    witnesses: dict[str, int] = dataclasses.field(default_factory=dict)
    """``sometimes`` property -> the test case in which it was first reached."""
    found_at: int | None = None
    """The test case (1-based) in which the first failure happened."""
    found_seconds: float | None = None
    found_cpu: float | None = None
    start: float = dataclasses.field(default_factory=time.monotonic)
    start_cpu: float = dataclasses.field(default_factory=time.process_time)
    truncated: set[str] = dataclasses.field(default_factory=set)
    """Actions whose choices were cut at :data:`MAX_CHOICES` in some state."""

    def __post_init__(self) -> None:
        self.coverage = dict.fromkeys(self.actions, 0)


def disable_swarm(machine: RuleBasedStateMachine) -> bool:
    """Turn off Hypothesis's swarm testing for this machine: every rule stays available in
    every test case. True if it could (it reaches into Hypothesis's rule strategy; with a
    Hypothesis that has changed that, swarm testing simply stays on).

    Why: swarm testing turns a random subset of rules off for a whole test case. In a model
    with an action that is always enabled (a reader streaming a file for ever), the test
    cases that keep it on and turn the others off degenerate into repeating it, and those
    that turn every enabled action off are aborted. On the known-bad variants, runs without
    swarm find the bugs in fewer test cases (balloon_oom upstream with array_pfns_max=4:
    test case 182 without, not within 1,000 with; tests/benchmarks/bench_stateful.py)."""
    try:
        from hypothesis.strategies._internal.featureflags import FeatureFlags

        strategy = machine._rules_strategy
        if not hasattr(strategy, "enabled_rules_strategy"):
            return False
    except (ImportError, AttributeError):
        return False
    # FeatureFlags without data enables every feature and draws nothing.
    strategy.enabled_rules_strategy = st.just(FeatureFlags())
    return True


class ModelMachine(RuleBasedStateMachine):
    """Base class of the generated machines; :func:`machine_for` fills in the class
    attributes and one rule per action, one invariant per ``always`` property."""

    model: ClassVar[Model[Any, Any]]
    stats: ClassVar[FuzzStats]
    initial: ClassVar[list[Any]]
    sometimes_props: ClassVar[list[PropertySpec]]
    swarm: ClassVar[bool] = False
    corpus: ClassVar[Sequence[Trace]] = ()

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[Step] = []
        self.state: Any = None
        self._enabled: EnabledSteps | None = None
        stats = self.stats
        stats.test_cases += 1
        if not self.swarm:
            disable_swarm(self)

    @initialize(data=st.data())
    def initial_state(self, data: st.DataObject) -> None:
        """Start in an initial state or, with a corpus, at the end of one of its traces
        (drawn; shrinking moves towards not using the corpus)."""
        if self.corpus:
            pick = data.draw(st.sampled_from([None, *range(len(self.corpus))]))
            if pick is not None:
                self.follow(self.corpus[pick])
                return
        states = self.initial
        s = states[0] if len(states) == 1 else data.draw(st.sampled_from(states))
        self._enter(None, {}, s)

    def follow(self, trace: Trace) -> None:
        """Take the steps of ``trace`` (from an initial state), checking the invariants on
        the way: a corpus trace, or a known counterexample to see the machine catch it."""
        always = self.model.properties_of(PropertyKind.ALWAYS)
        for step in trace.steps:
            self._enter(step.action, step.args, step.state)
            if step.action is not None and self.stats.found_at is None:
                self.stats.steps += 1
                self.stats.coverage[step.action] += 1
            for prop in always:
                self.check_always(prop)

    def enabled(self, index: int) -> bool:
        """Does action ``index`` have an enabled choice in the current state?"""
        try:
            return self._enabled is not None and self._enabled.enabled(index)
        except Exception as exc:
            raise ModelFault(self.steps, exc) from exc

    def any_enabled(self) -> bool:
        try:
            return self._enabled is not None and self._enabled.any()
        except Exception as exc:
            raise ModelFault(self.steps, exc) from exc

    def take(self, index: int, data: st.DataObject) -> None:
        """Take one enabled choice of action ``index`` (the rule body of every action)."""
        assert self._enabled is not None
        spec = self.model.actions[index]
        try:
            choices = [Choice(spec.name, a, t) for a, t in self._enabled.choices(index)]
        except Exception as exc:
            raise ModelFault(self.steps, exc) from exc
        if index in self._enabled.truncated:
            self.stats.truncated.add(spec.name)
        choice = choices[0] if len(choices) == 1 else data.draw(st.sampled_from(choices))
        stats = self.stats
        if stats.found_at is None:
            stats.steps += 1
            stats.coverage[choice.action] += 1
        self._enter(choice.action, choice.args, choice.state)

    def _enter(self, action: str | None, args: Args, s: Any) -> None:
        self.state = s
        self._enabled = EnabledSteps(self.model, s)
        self.steps.append(Step(action, dict(args), s))
        stats = self.stats
        if stats.found_at is None and len(stats.witnesses) < len(self.sometimes_props):
            try:
                for prop in self.sometimes_props:
                    if prop.name not in stats.witnesses and getattr(self.model, prop.method)(s):
                        stats.witnesses[prop.name] = stats.test_cases
            except Exception as exc:
                raise ModelFault(self.steps, exc) from exc

    def fail(self, prop: str, explanation: str) -> None:
        """Raise the violation of ``prop`` with the steps taken so far as its trace."""
        stats = self.stats
        if stats.found_at is None:
            stats.found_at = stats.test_cases
            stats.found_seconds = time.monotonic() - stats.start
            stats.found_cpu = time.process_time() - stats.start_cpu
        trace = Trace(
            model=self.model.name,
            config=self.model.config,
            steps=list(self.steps),
            prop=prop,
            kind="counterexample",
            explanation=explanation,
            source="fuzz",
        )
        raise PropertyViolation(trace, self.model)

    def check_always(self, prop: PropertySpec) -> None:
        if self.state is None:
            return
        try:
            why = self.model.evaluate_always(prop, self.state)
        except Exception as exc:
            raise ModelFault(self.steps, exc) from exc
        if why is not None:
            self.fail(prop.name, why)

    @invariant()
    def zz_no_deadlock(self) -> None:
        # Named to run after the always properties (Hypothesis runs invariants by name).
        if self.model.check_deadlock and self.state is not None and not self.any_enabled():
            try:
                terminal = self.model.is_terminal(self.state)
            except Exception as exc:
                raise ModelFault(self.steps, exc) from exc
            if not terminal:
                self.fail(DEADLOCK, DEADLOCK_EXPLANATION)

    @precondition(lambda self: self.state is not None and not self.any_enabled())
    @rule()
    def zz_stutter(self) -> None:
        """A terminal state (or one the model exempts from deadlock) stays as it is."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _identifier(text: str) -> str:
    return re.sub(r"\W+", "_", text).strip("_").lower() or "x"


def _action_rule(index: int, spec: ActionSpec) -> Callable[..., None]:
    def take_action(self: ModelMachine, data: st.DataObject) -> None:
        self.take(index, data)

    take_action.__name__ = take_action.__qualname__ = _identifier(spec.name)
    take_action.__doc__ = f"{spec.cites}: one enabled choice of {spec.name}."
    enabled = precondition(lambda self: self.enabled(index))
    return enabled(rule(data=st.data())(take_action))


def _always_invariant(position: int, prop: PropertySpec) -> Callable[..., None]:
    def check(self: ModelMachine) -> None:
        self.check_always(prop)

    check.__name__ = check.__qualname__ = f"always_{position:02d}_{_identifier(prop.name)}"
    check.__doc__ = prop.name
    return invariant()(check)


def machine_for(
    model: Model[Any, Any], *, swarm: bool = False, corpus: Sequence[Trace] = ()
) -> type[ModelMachine]:
    """A ``RuleBasedStateMachine`` subclass that runs ``model`` (at its config); with
    ``swarm``, Hypothesis's swarm testing stays on (see :func:`disable_swarm`); with a
    ``corpus`` of traces (:func:`witness_corpus`), a run may start at the end of one.

    Use it as ``run_state_machine_as_test(machine_for(m), settings=...)``, as a pytest test
    class (``TestX = machine_for(m).TestCase``), or through :func:`fuzz`."""
    namespace: dict[str, Any] = {
        "model": model,
        "stats": FuzzStats([a.name for a in model.actions]),
        "initial": list(dict.fromkeys(model.initial_states())),
        "sometimes_props": model.properties_of(PropertyKind.SOMETIMES),
        "swarm": swarm,
        "corpus": list(corpus),
    }
    if not namespace["initial"]:
        raise ValueError(f"{model.name}: the model has no initial state")
    for index, spec in enumerate(model.actions):
        fn = _action_rule(index, spec)
        if fn.__name__ in namespace or hasattr(ModelMachine, fn.__name__):
            fn.__name__ = f"{fn.__name__}_{index}"
        namespace[fn.__name__] = fn
    for position, prop in enumerate(model.properties_of(PropertyKind.ALWAYS)):
        fn = _always_invariant(position, prop)
        namespace[fn.__name__] = fn
    # The example database and derandomize key a stateful test by the machine class; keying
    # by model, variant and config keeps one config's failures from being replayed
    # against another's (Hypothesis reads this attribute in ``function_digest``).
    key = json.dumps([model.name, config_to_json(model.config)], sort_keys=True, default=str)
    namespace["_hypothesis_internal_add_digest"] = hashlib.sha256(key.encode()).digest()
    cls_name = "".join(part.capitalize() for part in model.name.split("_")) + "Machine"
    machine = types.new_class(cls_name, (ModelMachine,), exec_body=lambda ns: ns.update(namespace))
    machine.__module__ = __name__
    return machine


# -- running it -------------------------------------------------------------------------


def safety_properties(model_cls: type[Model[Any, Any]]) -> set[str]:
    """The properties a Hypothesis run can find violated: the ``always`` ones, and "no
    deadlock" when the model checks it (liveness and vacuity need the whole graph)."""
    names = {p.name for p in model_cls.properties_of(PropertyKind.ALWAYS)}
    if model_cls.check_deadlock:
        names.add(DEADLOCK)
    return names


# -- shortening a counterexample at the level of actions ---------------------------------
