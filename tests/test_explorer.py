"""The explorer on tiny hand-made models: counts, shortest traces, deadlocks, bounds."""

from __future__ import annotations

import subprocess
import sys

from hintspec.engine.check import check
from hintspec.engine.results import DEADLOCK, Verdict
from toy_models import Counter, CounterConfig, DeadlockConfig, LockOrder, Mutex, MutexConfig


def _prop(result, name):
    return next(p for p in result.properties if p.name == name)


def test_counter_counts_states_transitions_and_levels() -> None:
    result = check(Counter(CounterConfig(limit=5)))
    assert (result.distinct_states, result.transitions, result.depth) == (6, 9, 4)
    assert result.verdict is Verdict.HOLDS
    assert result.coverage == {"inc": 5, "add2": 4}
    assert _prop(result, DEADLOCK).verdict is Verdict.HOLDS  # 5 is terminal


def test_counter_bug_gives_the_shortest_trace() -> None:
    result = check(Counter(CounterConfig(limit=5, bug_at=3)))
    prop = _prop(result, "the value is not the bug value")
    assert prop.verdict is Verdict.VIOLATED
    assert prop.trace is not None and len(prop.trace) == 2
    assert [s.action for s in prop.trace.steps] == [None, "inc", "add2"]
    assert prop.explanation == "value reached 3"
    assert result.exit_code() == 1


def test_witness_is_reported_with_its_trace() -> None:
    result = check(Counter(CounterConfig(limit=4)))
    witness = _prop(result, "the limit is reached")
    assert witness.verdict is Verdict.HOLDS
    assert witness.trace is not None and len(witness.trace) == 2


def test_unreachable_witness_is_vacuous() -> None:
    result = check(Counter(CounterConfig(limit=3, witness_beyond_limit=True)))
    prop = _prop(result, "the limit is reached")
    assert prop.verdict is Verdict.VIOLATED
    assert prop.explanation is not None and "vacuous" in prop.explanation
    assert result.verdict is Verdict.VIOLATED


def test_unwitnessed_within_a_bound_is_undetermined() -> None:
    result = check(Counter(CounterConfig(limit=3)), max_depth=1)
    assert _prop(result, "the limit is reached").verdict is Verdict.UNDETERMINED


def test_mutex_holds_and_broken_mutex_is_caught() -> None:
    good = check(Mutex(MutexConfig()))
    assert good.verdict is Verdict.HOLDS
    assert good.distinct_states == 3
    bad = check(Mutex(MutexConfig(variant="broken")))
    prop = _prop(bad, "at most one process is in the critical section")
    assert prop.verdict is Verdict.VIOLATED
    assert prop.trace is not None
    assert [(s.action, s.args) for s in prop.trace.steps[1:]] == [
        ("lock", {"p": 0}),
        ("lock", {"p": 1}),
        ("lock", {"p": 0}),
        ("lock", {"p": 1}),
    ]


def test_deadlock_is_found_with_a_shortest_trace() -> None:
    result = check(LockOrder(DeadlockConfig()))
    prop = _prop(result, DEADLOCK)
    assert prop.verdict is Verdict.VIOLATED
    assert prop.trace is not None and len(prop.trace) == 2
    final = prop.trace.steps[-1].state
    assert (final.holder_a, final.holder_b) == (1, 2)


def test_bounds_make_the_verdict_undetermined_never_holds() -> None:
    result = check(Counter(CounterConfig(limit=50)), max_states=10)
    assert result.verdict is Verdict.UNDETERMINED
    assert result.exit_code() == 3
    assert all(p.verdict is not Verdict.HOLDS for p in result.properties if p.kind == "always")
    result = check(Counter(CounterConfig(limit=50)), max_depth=3)
    assert result.verdict is Verdict.UNDETERMINED
    assert result.bound_hit == "max depth 3"


def test_depth_bound_that_cuts_nothing_still_holds() -> None:
    # The whole space of limit 5 is within 3 steps: a bound of 3 truncates nothing.
    result = check(Counter(CounterConfig(limit=5)), max_depth=3)
    assert result.complete and result.verdict is Verdict.HOLDS


def test_a_violation_found_before_the_bound_is_definitive() -> None:
    result = check(Counter(CounterConfig(limit=50, bug_at=2)), max_depth=4)
    assert _prop(result, "the value is not the bug value").verdict is Verdict.VIOLATED
    assert result.verdict is Verdict.VIOLATED


def test_never_fired_actions_are_listed() -> None:
    result = check(Counter(CounterConfig(limit=1)))
    assert result.never_fired == ["add2"]


def test_same_counts_and_trace_in_fresh_processes_with_other_hash_seeds() -> None:
    code = (
        "from hintspec.lang.registry import get_model; from hintspec.engine.check import check;"
        "from hintspec.lang.configs import make_config;"
        "m=get_model('reference_buddy'); r=check(m(make_config(m,'merge_keeps_reported')));"
        "p=[p for p in r.properties if p.trace is not None and p.kind=='always'][0];"
        "print(r.distinct_states, r.transitions, r.depth,"
        " [(s.action, sorted(s.args.items())) for s in p.trace.steps])"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PATH": ""},
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(outs) == 1
