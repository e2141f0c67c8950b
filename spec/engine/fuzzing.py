"""Running a model under Hypothesis: profiles, :func:`fuzz`, shrinking, and search strategies.

The settings profiles ``dev``, ``ci`` (derandomised: the same examples on every run) and
``thorough`` are defined here, once: :func:`register_profiles` (the test suite's conftest
and the ``fuzz`` command both call it), selected with ``HYPOTHESIS_PROFILE``. :func:`fuzz`
runs the adapter of :mod:`hintspec.engine.stateful`, bounds Hypothesis's shrinking, then
deletes the steps a failure does not need (:func:`shorten_trace`). :func:`search` tries the
strategies in turn (plain runs, runs that may start from the explorer's witness traces,
the same with swarm testing).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from hintspec.engine.explore import explore
from hintspec.engine.faults import model_error
from hintspec.engine.results import DEADLOCK
from hintspec.engine.stateful import (
    DEADLOCK_EXPLANATION,
    SUPPRESSED,
    ModelFault,
    PropertyViolation,
    machine_for,
)
from hintspec.lang.errors import UsageError
from hintspec.lang.model import Args, Model, PropertyKind
from hintspec.traces.trace import Step, Trace, trace_from_path
from hypothesis import Phase, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.errors import InvalidArgument
from hypothesis.reporting import with_reporter
from hypothesis.stateful import (
    run_state_machine_as_test,
)

PROFILES = ("dev", "ci", "thorough")


DEFAULT_PROFILE = "dev"


PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink)
"""Every phase but ``explain``: it traces every line of a failing run to say which ones
mattered, which for a model run costs more than the shrinking itself and says less than
the trace does."""


SHRINK_SECONDS: dict[str, float] = {"dev": 30.0, "ci": 20.0, "thorough": 120.0}
"""How long :func:`fuzz` lets Hypothesis shrink a failure, per profile, so that a failure
found is reported within seconds rather than after Hypothesis's own five-minute cap; the
steps left are then deleted by :func:`shorten_trace`, which is bounded by the trace's
length."""


@contextlib.contextmanager
def shrink_time_limit(seconds: float) -> Iterator[None]:
    """Bound Hypothesis's shrinking to ``seconds`` for the enclosed runs.

    Hypothesis has no setting for it; its engine reads the module constant
    ``MAX_SHRINKING_SECONDS`` when shrinking starts (a test checks that it still does)."""
    from hypothesis.internal.conjecture import engine

    saved = engine.MAX_SHRINKING_SECONDS
    engine.MAX_SHRINKING_SECONDS = seconds  # type: ignore[assignment]
    try:
        yield
    finally:
        engine.MAX_SHRINKING_SECONDS = saved


def register_profiles() -> None:
    """Register the ``dev``, ``ci`` and ``thorough`` Hypothesis profiles (idempotent).

    * ``dev`` -- quick local runs; failures go to the example database under
      ``.hypothesis/`` and are replayed first next time.
    * ``ci`` -- derandomised (the examples are a function of the test, so a run cannot
      flake, and there is no database); no deadline, since a model step has no time budget.
    * ``thorough`` -- ten times the examples and twice the steps of ``ci``, random.
    """
    common: dict[str, Any] = {
        "deadline": None,
        "suppress_health_check": SUPPRESSED,
        "phases": PHASES,
    }
    settings.register_profile("dev", max_examples=50, stateful_step_count=50, **common)
    settings.register_profile(
        "ci", max_examples=200, stateful_step_count=50, derandomize=True, **common
    )
    settings.register_profile("thorough", max_examples=2000, stateful_step_count=100, **common)


def profile_name(name: str | None = None) -> str:
    """``name``, else ``$HYPOTHESIS_PROFILE``, else ``dev``."""
    return name or os.environ.get("HYPOTHESIS_PROFILE") or DEFAULT_PROFILE


def profile_settings(name: str | None = None) -> settings:
    """The settings of profile ``name`` (default: :func:`profile_name`)."""
    register_profiles()
    chosen = profile_name(name)
    try:
        return settings.get_profile(chosen)
    except InvalidArgument:
        raise UsageError(
            f"unknown Hypothesis profile {chosen!r}; profiles are {', '.join(PROFILES)}"
        ) from None


@dataclasses.dataclass
class FuzzResult:
    """The outcome of :func:`fuzz`: the shrunk counterexample, if any, and the figures."""

    model: str
    variant: str
    trace: Trace | None
    test_cases: int
    """Test cases run in all (generation and shrinking)."""
    found_at: int | None
    """The test case in which the first failure showed up (before shrinking)."""
    found_seconds: float | None
    found_cpu: float | None
    """CPU seconds (this process) until the first failure."""
    seconds: float
    cpu: float
    steps: int
    """Steps taken before the first failure (all steps if none)."""
    coverage: dict[str, int]
    witnesses: dict[str, int]
    """``sometimes`` property -> test case that first reached it (before any failure)."""
    max_examples: int
    step_count: int
    truncated: list[str] = dataclasses.field(default_factory=list)
    """Actions whose choices were cut at :data:`MAX_CHOICES` in some state."""
    shrunk_length: int | None = None
    """The length of the trace Hypothesis reported (shrunk unless ``shrink=False``), before
    :func:`shorten_trace`."""

    @property
    def never_fired(self) -> list[str]:
        return [a for a, n in self.coverage.items() if n == 0]


def fuzz(
    model: Model[Any, Any],
    *,
    base: settings | None = None,
    max_examples: int | None = None,
    step_count: int | None = None,
    seed: int | None = None,
    shrink: bool = True,
    shorten: bool = True,
    swarm: bool = False,
    corpus: Sequence[Trace] = (),
) -> FuzzResult:
    """Run ``model`` under Hypothesis; return the shrunk counterexample, if one is found.

    ``base`` is the settings to start from (default: the current profile); ``seed`` fixes the
    random generator (as ``@seed``); with ``shrink=False`` Hypothesis does not shrink (much
    faster, for tests that only need the failure found); ``swarm`` keeps Hypothesis's swarm
    testing on (:func:`disable_swarm`); ``corpus`` gives traces a run may start from
    (:func:`witness_corpus`). Then, with ``shorten``,
    :func:`shorten_trace` deletes the steps the failure does not need. Hypothesis's own
    report is silenced: the result carries the trace. Model code that raises (a bug in
    the model, not a property violation) is shrunk like a failure and raised as a
    :class:`hintspec.lang.errors.ModelError` with the shrunk steps."""
    base = base if base is not None else settings()
    overrides: dict[str, Any] = {
        "deadline": None,
        "report_multiple_bugs": False,
        "suppress_health_check": sorted(
            set(base.suppress_health_check) | set(SUPPRESSED), key=lambda h: h.value
        ),
    }
    if max_examples is not None:
        overrides["max_examples"] = max_examples
    if step_count is not None:
        overrides["stateful_step_count"] = step_count
    if not shrink:
        overrides["phases"] = [p for p in base.phases if p is not Phase.shrink]
    run_settings = settings(base, **overrides)
    machine = machine_for(model, swarm=swarm, corpus=corpus)
    if seed is not None:
        machine = hypothesis_seed(seed)(machine)
    stats = machine.stats
    stats.start, stats.start_cpu = time.monotonic(), time.process_time()
    trace: Trace | None = None
    limit = SHRINK_SECONDS.get(profile_name(), SHRINK_SECONDS[DEFAULT_PROFILE])
    try:
        with with_reporter(lambda _text: None), shrink_time_limit(limit):
            run_state_machine_as_test(machine, settings=run_settings)
    except PropertyViolation as exc:
        trace = exc.trace
    except ModelFault as fault:
        error = model_error(model, fault.original, checker="fuzz", steps=fault.steps)
        raise error from fault.original
    shrunk_length = len(trace) if trace is not None else None
    if trace is not None and shorten:
        trace = shorten_trace(model, trace)
    return FuzzResult(
        model=model.name,
        variant=model.variant,
        trace=trace,
        test_cases=stats.test_cases,
        found_at=stats.found_at,
        found_seconds=stats.found_seconds,
        found_cpu=stats.found_cpu,
        seconds=time.monotonic() - stats.start,
        cpu=time.process_time() - stats.start_cpu,
        steps=stats.steps,
        coverage=dict(stats.coverage),
        witnesses=dict(stats.witnesses),
        max_examples=run_settings.max_examples,
        step_count=run_settings.stateful_step_count,
        truncated=sorted(stats.truncated),
        shrunk_length=shrunk_length,
    )


def witness_corpus(
    model: Model[Any, Any], *, per_witness: int = 1, max_states: int = 50_000
) -> list[Trace]:
    """Traces to states that satisfy the model's ``sometimes`` witnesses, found by the
    explorer within ``max_states`` states: a seed corpus, as fuzzers use, so random runs
    can start in the situations the model's author called interesting.

    Per witness, up to ``per_witness`` of the states satisfying it (default: the first in
    BFS order; more are spread over the order), each with its shortest path. A path
    through a state that breaks an ``always`` property is left out: the corpus leads
    *towards* bugs, finding them stays the random search's job.

    Why: a bug that needs a narrow race -- a hint honoured, then postcopy starting before
    the page is sent, while the always-enabled migration steps race to close the window --
    is hit by about one random run in 10,000 (free_page_hint's bad variants); from the
    witness "a hint is honoured" it is two random steps away."""
    ex = explore(model, max_states=max_states, keep_graph=False)
    always = model.properties_of(PropertyKind.ALWAYS)
    clean: dict[int, bool] = {-1: True}

    def is_clean(index: int) -> bool:
        # A state is clean when it and every state on its BFS path keep every invariant.
        chain = []
        while index not in clean:
            chain.append(index)
            index = ex.parent[index]
        ok = clean[index]
        for i in reversed(chain):
            ok = ok and all(model.evaluate_always(p, ex.states[i]) is None for p in always)
            clean[i] = ok
        return ok

    corpus: list[Trace] = []
    for prop in model.properties_of(PropertyKind.SOMETIMES):
        holds = getattr(model, prop.method)
        hits = [i for i, st_ in enumerate(ex.states) if holds(st_) and is_clean(i)]
        if not hits:
            continue
        stride = max(1, len(hits) // per_witness)
        for i in hits[::stride][:per_witness]:
            path = ex.real_path_to(model, i)
            corpus.append(trace_from_path(model, path, prop=prop.name, kind="witness"))
    return corpus


STRATEGIES = ("plain", "witness corpus", "witness corpus + swarm")
"""The ways :func:`search` tries, in order."""


def search(
    model: Model[Any, Any],
    *,
    base: settings,
    max_examples: int,
    shrink: bool = False,
) -> tuple[str, FuzzResult]:
    """Look for a violation with each of :data:`STRATEGIES` in turn (each up to
    ``max_examples``), stopping at the first that finds one: plain runs from the initial
    state; runs that may start from the :func:`witness_corpus`; the same with swarm testing.
    The strategy that found it (or the last tried) and its result."""
    corpus: list[Trace] | None = None
    result: FuzzResult | None = None
    for strategy in STRATEGIES:
        if strategy != "plain" and corpus is None:
            corpus = witness_corpus(model)
        result = fuzz(
            model,
            base=base,
            max_examples=max_examples,
            shrink=shrink,
            corpus=corpus or (),
            swarm=strategy.endswith("swarm"),
        )
        if result.trace is not None:
            return strategy, result
    assert result is not None
    return STRATEGIES[-1], result


def violation_in(model: Model[Any, Any], prop: str, s: Any) -> str | None:
    """The explanation if ``prop`` (an ``always`` property or "no deadlock") fails in ``s``."""
    if prop == DEADLOCK:
        if any(True for _ in model.successors(s)) or model.is_terminal(s):
            return None
        return DEADLOCK_EXPLANATION
    return model.evaluate_always(model.property(prop), s)


def _rerun(
    model: Model[Any, Any], trace: Trace, actions: Sequence[tuple[str, Args]]
) -> Trace | None:
    """Re-execute ``actions`` (by name and arguments) from the trace's initial state; the
    trace up to the first state where ``trace.prop`` fails, or None if it never does (or an
    action is not enabled)."""
    assert trace.prop is not None
    steps = [trace.steps[0]]
    s = steps[0].state
    for name, args in actions:
        why = violation_in(model, trace.prop, s)
        if why is not None:
            return dataclasses.replace(trace, steps=steps, explanation=why)
        nxt = next((t for a, t in model.steps_of(name, s) if a == args), None)
        if nxt is None:
            return None
        s = nxt
        steps.append(Step(name, args, s))
    why = violation_in(model, trace.prop, s)
    return dataclasses.replace(trace, steps=steps, explanation=why) if why else None


def _removals(n: int) -> Iterator[range | tuple[int, int]]:
    """Sets of step indexes to try deleting: spans, largest first, then pairs of steps that
    are not adjacent (a step that undoes another, like a free after an alloc)."""
    size = n // 2
    while size >= 1:
        for start in range(n - size + 1):
            yield range(start, start + size)
        size //= 2
    for i in range(n):
        for j in range(i + 2, n):
            yield (i, j)


def shorten_trace(model: Model[Any, Any], trace: Trace, *, budget: int = 5000) -> Trace:
    """Delete steps from a counterexample while it still breaks the same property.

    Hypothesis shrinks the choices it made, and a choice ("the 3rd enabled block") changes
    meaning when an earlier step goes; here a step is its action and arguments, so deleting
    a step keeps the others' meaning. Spans are tried largest first, then pairs of steps;
    each candidate is cut at its first violating state, and ``budget`` bounds the
    re-executions. Within the budget the result is 1-minimal: no step can be removed."""
    if trace.prop is None or trace.loop is not None or len(trace.steps) < 2:
        return trace
    best = trace
    progress = True
    while progress and budget > 0:
        progress = False
        actions = [(step.action or "", step.args) for step in best.steps[1:]]
        for removal in _removals(len(actions)):
            budget -= 1
            if budget < 0:
                break
            drop = set(removal)
            keep = [a for i, a in enumerate(actions) if i not in drop]
            candidate = _rerun(model, best, keep)
            if candidate is not None and len(candidate.steps) < len(best.steps):
                best = candidate
                progress = True
                break
    return best


class TeethFuzzer:
    """The fuzzer ``hintspec mutate --checker fuzz`` runs on each mutant: the ``profile``
    settings, no shrinking (a kill needs no minimal trace), the trace shortened by
    :func:`shorten_trace`. A class, not a closure, so that it travels to Dask workers."""

    def __init__(self, profile: str = "ci") -> None:
        profile_settings(profile)  # an unknown profile is refused before any mutant runs
        self.profile = profile

    def __call__(self, model: Model[Any, Any]) -> tuple[Trace | None, float]:
        start = time.monotonic()
        result = fuzz(model, base=profile_settings(self.profile), shrink=False)
        return result.trace, time.monotonic() - start


def teeth_fuzzer(profile: str = "ci") -> Callable[[Model[Any, Any]], tuple[Trace | None, float]]:
    """The fuzzer of ``hintspec mutate --checker fuzz`` (see :class:`TeethFuzzer`)."""
    return TeethFuzzer(profile)
