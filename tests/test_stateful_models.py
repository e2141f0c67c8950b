"""Hypothesis stateful runs of every registered model and every known-bad manifest entry.

Generic: a new model in ``models/`` (and its manifest) is covered with no change here.

* The default design runs at the model's ``hypothesis_config`` (sizes far beyond
  exhaustive reach) and may break only what the manifest's ``fuzz`` record lists (a
  FINDING the explorer shows at a smaller size); actions never taken are reported as a
  warning (the big run says little about them; the fix is a ``hypothesis_config`` in
  which they can happen).
* Every known-bad manifest entry whose failing properties include an ``always`` property
  (or "no deadlock") must be found by Hypothesis at the entry's config under the ``ci``
  profile -- derandomised, so the same examples run every time and the test cannot flake --
  by one of the strategies of ``hintspec.engine.stateful.search`` (plain runs; runs that may start
  from the explorer's witness traces; the same with swarm testing). Shrinking is the slow
  part and is measured by ``tests/benchmarks/bench_stateful.py``; here the found trace is
  shortened at the level of actions, and it must replay. Entries marked ``"fuzz": false``
  (a race random runs do not reach; the note says why) are checked on the explorer's
  trace instead. Liveness and vacuity failures are not Hypothesis's job (a finite run
  cannot show them).

Budgets are per test (not only the profile): at the ``ci`` profile the whole file must stay
around two minutes of CPU on the project's 2-core machine; ``thorough`` scales them up.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from hintspec.engine.check import check
from hintspec.engine.fuzzing import fuzz, profile_settings, search
from hintspec.engine.stateful import PropertyViolation, machine_for, safety_properties
from hintspec.lang.configs import make_config
from hintspec.lang.model import Model
from hintspec.lang.registry import all_models, get_model
from hintspec.manifests.explorer import Entry, load_fuzz_expectations, load_manifest
from hintspec.traces.replay import replay
from hypothesis import settings

GOOD_EXAMPLES = 10
"""Examples per good design at the ci profile (each one a long run over a big config)."""
GOOD_STEPS = 300
"""Steps per example for good designs: long runs, so deep states are reached."""
BAD_EXAMPLES = 500
"""Examples per search strategy to find a known bug. A run stops at its first failure, so
this costs only when a bug is hard to find; the hardest found today needs 307
(tests/benchmarks/bench_stateful.py), so a model edit does not turn the test red at once."""


def _scale() -> int:
    """1 at the ci/dev profiles, 10 at thorough (by its max_examples)."""
    return max(1, settings().max_examples // profile_settings("ci").max_examples)


MODELS = sorted(all_models())
FUZZ = load_fuzz_expectations()


@pytest.mark.parametrize("name", MODELS)
def test_model_declares_a_hypothesis_config(name: str) -> None:
    cls = get_model(name)
    assert cls.hypothesis_config, (
        f"{name}: set `hypothesis_config` (Config overrides far beyond exhaustive reach, "
        "e.g. hundreds of frames) so the stateful test runs it big"
    )


@pytest.mark.parametrize("name", MODELS)
def test_manifest_records_the_hypothesis_run(name: str) -> None:
    """The expectation of the big random run comes from the manifest, at the very config
    the model declares (so the two cannot drift apart)."""
    cls = get_model(name)
    expected = FUZZ.get(name)
    assert expected is not None, f"{name}: its manifest has no 'fuzz' record"
    assert expected.config == dict(cls.hypothesis_config), (
        f"{name}: the manifest's fuzz config differs from hypothesis_config"
    )
    assert expected.variant == cls.Config().variant
    assert set(expected.failing) <= safety_properties(cls)


@pytest.mark.parametrize("name", MODELS)
def test_default_design_at_hypothesis_config_breaks_only_what_the_manifest_records(
    name: str,
) -> None:
    """Under the derandomised ``ci`` profile the run is the same every time. A violation
    of a property the manifest does not list is a failure of the model or the manifest --
    never of a random seed. A listed one (a FINDING at a smaller size of the same design)
    may be found; the run stops there, without shrinking, which would only cost time."""
    cls = get_model(name)
    expected = FUZZ[name]
    model = cls(make_config(cls, expected.variant, expected.config))
    result = fuzz(
        model,
        base=settings(profile_settings("ci"), max_examples=GOOD_EXAMPLES * _scale()),
        step_count=GOOD_STEPS,
        shrink=False,
    )
    if result.trace is not None and result.trace.prop not in expected.failing:
        pytest.fail(
            f"{name} ({model.variant}) at {expected.config} breaks {result.trace.prop!r}, "
            f"which the manifest does not record:\n\n" + str(result.trace.explanation),
            pytrace=False,
        )
    if result.trace is not None:
        assert replay(result.trace, model).ok
        return
    fired = [a for a, n in result.coverage.items() if n]
    assert len(fired) >= min(2, len(result.coverage)), f"{name}: only {fired} ever fired"
    if result.never_fired:
        # Not a failure: deep actions (OOM after hundreds of allocations, a feature the
        # big config turns off) may be out of reach of a few random runs. Said loudly, so
        # the model's owner can tune hypothesis_config.
        warnings.warn(
            f"{name} at {dict(cls.hypothesis_config)}: never taken in "
            f"{result.test_cases} test cases: {', '.join(result.never_fired)}",
            stacklevel=1,
        )


def _safety_bug(entry: Entry) -> bool:
    """A known-bad entry whose failing properties include one a run can show."""
    if entry.slow or entry.expect.get("verdict") != "violated":
        return False
    return bool(safety_properties(get_model(entry.model)) & set(entry.expect.get("failing", [])))


BAD = [e for e in load_manifest() if _safety_bug(e)]
SEARCHED = [e for e in BAD if e.fuzz]
NOT_SEARCHED = [e for e in BAD if not e.fuzz]


def _model(entry: Entry) -> Model[Any, Any]:
    cls = get_model(entry.model)
    return cls(make_config(cls, entry.variant, entry.config))


@pytest.mark.parametrize("entry", SEARCHED, ids=[e.label for e in SEARCHED])
def test_known_bad_variant_is_found_under_ci_profile(entry: Entry) -> None:
    model = _model(entry)
    expected: list[Any] = entry.expect["failing"]
    strategy, result = search(model, base=profile_settings("ci"), max_examples=BAD_EXAMPLES)
    trace = result.trace
    assert trace is not None, (
        f"{entry.label}: no strategy of hintspec.engine.stateful.search found a failure in "
        f"{BAD_EXAMPLES} examples (expected one of {expected}); if random runs cannot reach "
        'this bug, say so in the manifest entry ("fuzz": false, and why in its note)'
    )
    assert trace.prop in expected, (
        f"{entry.label} ({strategy}): {trace.prop!r} is not one of {expected}"
    )
    assert trace.source == "fuzz"
    replayed = replay(trace, model)
    assert replayed.ok, replayed.message


@pytest.mark.parametrize("entry", NOT_SEARCHED, ids=[e.label for e in NOT_SEARCHED])
def test_known_bad_variant_beyond_random_reach_is_caught_on_its_trace(entry: Entry) -> None:
    """Entries marked "fuzz": false: the machine still catches the explorer's shortest
    counterexample when it walks it (the adapter checks what the explorer checks)."""
    model = _model(entry)
    expected: list[Any] = entry.expect["failing"]
    result = check(model, max_states=entry.max_states, liveness=False, symmetry=entry.symmetry)
    traces = [
        p.trace
        for p in result.properties
        if p.name in expected and p.name in safety_properties(type(model)) and p.trace
    ]
    assert traces, f"{entry.label}: the explorer finds none of {expected}"
    shortest = min(traces, key=len)
    machine = machine_for(model)()
    with pytest.raises(PropertyViolation) as info:
        machine.follow(shortest)
        machine.zz_no_deadlock()
    assert info.value.trace.prop in expected
    assert len(info.value.trace) == len(shortest)
