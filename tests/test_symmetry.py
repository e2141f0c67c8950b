"""Symmetry reduction: fewer states, the same verdicts, and traces of real states that
replay -- lassos unrolled until they close on the very same state."""

from __future__ import annotations

from hintspec.engine.check import check
from hintspec.engine.results import Verdict
from hintspec.traces.replay import replay
from toy_models import Handoff, HandoffConfig


def _verdicts(result):
    return [(p.name, p.verdict) for p in result.properties]


def test_symmetry_reduces_states_and_keeps_verdicts() -> None:
    for variant in ("upstream", "double_start"):
        full = check(Handoff(HandoffConfig(variant)), symmetry=False)
        reduced = check(Handoff(HandoffConfig(variant)))
        assert reduced.distinct_states < full.distinct_states
        assert _verdicts(reduced) == _verdicts(full)
    assert check(Handoff(HandoffConfig())).distinct_states == 3
    assert check(Handoff(HandoffConfig()), symmetry=False).distinct_states == 5


def test_safety_trace_is_made_of_real_states_and_replays() -> None:
    model = Handoff(HandoffConfig("double_start"))
    prop = next(p for p in check(model).properties if p.name == "at most one worker is busy")
    assert prop.verdict is Verdict.VIOLATED and prop.trace is not None
    assert [s.action for s in prop.trace.steps] == [None, "start", "start"]
    assert prop.trace.steps[-1].state.busy == (True, True)
    assert replay(prop.trace, model).ok


def test_symmetric_lasso_is_unrolled_until_it_closes() -> None:
    model = Handoff(HandoffConfig())
    prop = next(p for p in check(model).properties if p.name == "the job is eventually done")
    trace = prop.trace
    assert prop.verdict is Verdict.VIOLATED and trace is not None and trace.loop is not None
    # On representatives the handoff is a self-loop; on real states it takes two laps.
    cycle = [s.action for s in trace.steps[trace.loop + 1 :]] + [trace.loop_action]
    assert cycle == ["handoff", "handoff"]
    assert trace.steps[trace.loop].state != trace.steps[-1].state
    assert replay(trace, model).ok
