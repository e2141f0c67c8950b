"""Liveness under fairness on hand-made models: fair cycles found, unfair ones excluded."""

from __future__ import annotations

from hintspec.engine.check import check
from hintspec.engine.results import Verdict
from hintspec.traces.replay import replay
from hintspec.traces.text import render_trace
from toy_models import BusyClient, Flicker, SpinConfig, StopConfig, StopsEarly


def _prop(result, name):
    return next(p for p in result.properties if p.name == name)


def test_a_fair_cycle_that_never_reaches_the_goal_is_a_lasso() -> None:
    result = check(BusyClient(SpinConfig()))
    prop = _prop(result, "the worker finishes without fairness")
    assert prop.verdict is Verdict.VIOLATED
    trace = prop.trace
    assert trace is not None and trace.loop is not None
    # The client toggles 0 -> 1 -> 0 for ever: a two-step cycle from the initial state.
    assert trace.loop == 0
    assert [s.action for s in trace.steps] == [None, "toggle"]
    assert trace.loop_action == "toggle"
    assert len(trace) == 2
    assert replay(trace, BusyClient(SpinConfig())).ok


def test_weak_fairness_excludes_the_starving_cycle() -> None:
    result = check(BusyClient(SpinConfig()))
    assert _prop(result, "the worker eventually finishes").verdict is Verdict.HOLDS


def test_non_progress_cycle_found_without_fairness_and_excluded_with_it() -> None:
    result = check(BusyClient(SpinConfig()))
    unfair = _prop(result, "no spinning without fairness")
    assert unfair.verdict is Verdict.VIOLATED
    assert unfair.trace is not None and unfair.trace.loop is not None
    assert _prop(result, "no spinning when the worker is fair").verdict is Verdict.HOLDS


def test_weak_fairness_does_not_force_an_intermittently_enabled_action() -> None:
    result = check(Flicker(SpinConfig()))
    weak = _prop(result, "served under weak fairness")
    assert weak.verdict is Verdict.VIOLATED
    assert weak.trace is not None and weak.trace.loop is not None
    # The cycle passes a state where 'serve' is disabled (phase 1 or 2).
    phases = {s.state.phase for s in weak.trace.steps[weak.trace.loop :]}
    assert phases == {0, 1, 2}
    assert replay(weak.trace, Flicker(SpinConfig())).ok


def test_strong_fairness_forces_it() -> None:
    result = check(Flicker(SpinConfig()))
    assert _prop(result, "served under strong fairness").verdict is Verdict.HOLDS
    assert _prop(result, "phase 1 leads to service under strong fairness").verdict is Verdict.HOLDS
    assert _prop(result, "the phase keeps moving until served").verdict is Verdict.HOLDS


def test_a_stop_before_the_goal_violates_eventually() -> None:
    result = check(StopsEarly(StopConfig()))
    prop = _prop(result, "the goal step 3 is reached")
    assert prop.verdict is Verdict.VIOLATED
    assert prop.trace is not None
    assert prop.trace.loop == 2 and prop.trace.loop_action is None
    assert replay(prop.trace, StopsEarly(StopConfig())).ok
    assert "stays here for ever" in render_trace(prop.trace, StopsEarly(StopConfig()))


def test_lasso_renders_with_the_cycle_marked() -> None:
    result = check(BusyClient(SpinConfig()))
    prop = _prop(result, "the worker finishes without fairness")
    assert prop.trace is not None
    text = render_trace(prop.trace, BusyClient(SpinConfig()))
    assert "the cycle starts here" in text
    assert "-> back to step 0" in text
    assert "the cycle repeats for ever" in text


def test_liveness_is_undetermined_when_the_search_is_bounded() -> None:
    result = check(BusyClient(SpinConfig()), max_depth=1)
    live = [p for p in result.properties if p.kind == "liveness"]
    assert live and all(p.verdict is Verdict.UNDETERMINED for p in live)
