"""balloon_oom: exact figures per variant, the shrinker's busy no-op lasso, the 2017 deadlock,
the trylock notifier's OOM kill, the arm64 oscillation, and the premature-kill window."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest
from hintspec.engine.check import check
from hintspec.engine.results import CheckResult, PropertyResult, Verdict
from hintspec.lang.configs import make_config
from hintspec.models.balloon_oom import PC, BalloonOom, Config, Ctx, Who
from hintspec.traces.files import to_itf, trace_from_itf
from hintspec.traces.replay import replay
from hintspec.traces.text import render_trace
from hintspec.traces.trace import Trace

ORDERING = (
    "the balloon is deflated only after the page cache and other reclaim failed to satisfy "
    "an allocation"
)
NO_KILL = "no OOM kill while DEFLATE_ON_OOM is negotiated and the balloon holds pages"
REACHES = "inflation reaches an attainable target"
NO_BUSY = "no inflate/deflate round without progress"
DEADLOCK = "no deadlock"
ARM64 = (("pages_per_page", 16), ("target", 56), ("array_pfns_max", 32), ("oom_nr_pages", 16))


def _model(variant: str = "upstream", config: tuple[tuple[str, Any], ...] = ()) -> BalloonOom:
    return BalloonOom(make_config(BalloonOom, variant, dict(config)))


@cache
def _check(variant: str = "upstream", config: tuple[tuple[str, Any], ...] = ()) -> CheckResult:
    return check(_model(variant, config))


def _prop(result: CheckResult, name: str) -> PropertyResult:
    return next(p for p in result.properties if p.name == name)


def _trace(result: CheckResult, name: str) -> Trace:
    trace = _prop(result, name).trace
    assert trace is not None
    return trace


@pytest.mark.parametrize(
    ("variant", "config", "states", "transitions", "depth", "failing"),
    [
        ("upstream", (), 486, 1096, 39, set()),
        ("shrinker", (), 7308, 17144, 63, {ORDERING, REACHES, NO_BUSY}),
        ("lock_fill", (), 395, 914, 39, {DEADLOCK}),
        ("notifier_trylock", (), 509, 1167, 32, {NO_KILL}),
        ("upstream", (("free_page_hint", True),), 1785, 5969, 41, set()),
        ("upstream", ARM64, 486, 1096, 39, set()),
        (
            "unaligned_target",
            ARM64,
            658,
            1511,
            41,
            {"the balloon reaches its target", REACHES, NO_BUSY},
        ),
        ("upstream", (("array_pfns_max", 4),), 562, 1212, 34, {NO_KILL}),
    ],
)
def test_exact_figures(
    variant: str,
    config: tuple[tuple[str, Any], ...],
    states: int,
    transitions: int,
    depth: int,
    failing: set[str],
) -> None:
    result = _check(variant, config)
    assert result.complete
    assert (result.distinct_states, result.transitions, result.depth) == (
        states,
        transitions,
        depth,
    )
    assert set(result.failing) == failing
    assert result.verdict is (Verdict.VIOLATED if failing else Verdict.HOLDS)


def test_upstream_exercises_the_oom_notifier_and_its_witnesses() -> None:
    result = _check()
    for p in result.properties:
        if p.kind == "sometimes":
            assert p.verdict is Verdict.HOLDS, p.name
    witness = _trace(result, "the balloon gives pages back to satisfy an allocation")
    assert "out_of_memory" in [s.action for s in witness.steps]
    last = witness.steps[-1].state
    oom = [w for w in (last.reader, last.app_thread) if w.pc is PC.LEAK_ACK]
    assert oom and oom[0].ctx is Ctx.OOM
    # Without the application's growth nothing ever runs out; with it, kills cannot happen
    # at the default batch size, so oom_kill_process never fires upstream.
    assert result.coverage["oom_kill_process"] == 0
    assert result.coverage["out_of_memory"] > 0


def test_shrinker_busy_no_op_is_a_lasso_that_replays() -> None:
    model = _model("shrinker")
    trace = _trace(_check("shrinker"), NO_BUSY)
    assert trace.loop is not None and trace.loop_action is not None
    assert len(trace) == 24
    cycle = trace.steps[trace.loop + 1 :]
    actions = [s.action for s in cycle] + [trace.loop_action]
    # Pages go in and out of the balloon on the cycle, and the reader reclaims through the
    # balloon shrinker while it streams.
    assert "fill_balloon_lock" in actions and "leak_balloon_lock" in actions
    assert {"read_page", "host_inflate", "host_deflate"} <= set(actions)
    assert any(s.args.get("via") == "direct reclaim, balloon shrinker" for s in cycle)
    # The cycle goes round once: no state repeats inside it.
    states = [s.state for s in trace.steps[trace.loop :]]
    assert len(set(states)) == len(states)
    # Every state on the cycle is short of the target, and the target is attainable.
    assert all(model.diff(st) > 0 and model.attainable(st) for st in states)
    assert replay(trace, model).ok
    # ITF round trip keeps the loop.
    again = trace_from_itf(to_itf(trace))
    assert again.loop == trace.loop and again.loop_action == trace.loop_action
    assert replay(again, model).ok


def test_shrinker_lasso_renders_the_cycle_and_the_round_counts() -> None:
    model = _model("shrinker")
    text = render_trace(_trace(_check("shrinker"), NO_BUSY), model)
    assert "the cycle starts here" in text and "the cycle repeats for ever" in text
    assert "-> back to step 9" in text
    assert "round: inflated 2, deflated 2 since towards_target" in text
    assert "balloon: 2 pfns of target 4, actual 2" in text
    assert "frames  BBAcc." in text
    assert all(len(line) <= 80 for line in text.splitlines())


def test_shrinker_never_reaches_the_target_while_the_reader_runs() -> None:
    model = _model("shrinker")
    trace = _trace(_check("shrinker"), REACHES)
    assert trace.loop is not None
    assert len(trace) == 21
    assert all(model.diff(s.state) != 0 for s in trace.steps[trace.loop :])
    assert replay(trace, model).ok


def test_shrinker_deflates_while_the_page_cache_is_still_reclaimable() -> None:
    result = _check("shrinker")
    p = _prop(result, ORDERING)
    assert p.trace is not None and len(p.trace) == 11
    assert p.explanation is not None and "page cache" in p.explanation
    last = p.trace.steps[-1].state
    assert last.reader.pc is PC.LEAK_ACK and last.reader.ctx is Ctx.SHRINKER
    assert last.reader.reclaimed == 1 and last.cache > 0
    assert replay(p.trace, _model("shrinker")).ok


def test_lock_fill_deadlocks_through_the_fs_lock() -> None:
    model = _model("lock_fill")
    trace = _trace(_check("lock_fill"), DEADLOCK)
    assert len(trace) == 13
    last = trace.steps[-1].state
    # Tetsuo Handa's two threads: the worker holds balloon_lock and its direct reclaim waits
    # for the fs lock; the reader holds the fs lock and oom_lock, its OOM notifier waits for
    # balloon_lock.
    assert last.balloon_lock is Who.WORKER and last.worker.pc is PC.FILL_ALLOC
    assert last.free == 0 and model.fs_lock_held(last)
    assert last.reader.pc is PC.LEAK_LOCK and last.reader.ctx is Ctx.OOM
    assert last.oom_lock is Who.READER
    assert list(model.successors(last)) == []
    assert replay(trace, model).ok


def test_upstream_allocates_outside_the_lock_and_does_not_deadlock() -> None:
    assert _prop(_check(), DEADLOCK).verdict is Verdict.HOLDS


def test_trylock_notifier_kills_while_the_balloon_holds_pages() -> None:
    result = _check("notifier_trylock")
    assert _prop(result, DEADLOCK).verdict is Verdict.HOLDS
    trace = _trace(result, NO_KILL)
    assert len(trace) == 15
    assert trace.steps[-1].action == "oom_kill_process"
    assert any(s.args.get("trylock") == "busy" for s in trace.steps)
    assert trace.steps[-1].state.killed_with == 4
    assert replay(trace, _model("notifier_trylock")).ok


def test_premature_kill_window_in_upstream_with_a_large_batch() -> None:
    """The notifier finds the balloon list empty (the batch is still on fill_balloon's local
    list), the worker enqueues it, then the OOM killer runs."""
    config = (("array_pfns_max", 4),)
    trace = _trace(_check("upstream", config), NO_KILL)
    assert len(trace) == 11
    actions = [(s.action, s.args) for s in trace.steps[-3:]]
    assert actions[0] == ("leak_balloon_lock", {"who": "app", "pages": 0})
    assert actions[1] == ("fill_balloon_lock", {"pages": 4})
    assert actions[2][0] == "oom_kill_process"
    assert replay(trace, _model("upstream", config)).ok


def test_arm64_unaligned_target_oscillates() -> None:
    model = _model("unaligned_target", ARM64)
    trace = _trace(_check("unaligned_target", ARM64), NO_BUSY)
    assert trace.loop is not None
    sizes = {model.num_pages(s.state) for s in trace.steps[trace.loop :]}
    assert sizes == {48, 64}  # one 64 KiB page in and out, round after round
    assert replay(trace, model).ok
    # With ALIGN the same guest settles at 64 pfns (4 pages) and the target is reached.
    upstream = _check("upstream", ARM64)
    assert _prop(upstream, "the balloon reaches its target").verdict is Verdict.HOLDS
    assert _model("upstream", ARM64).driver_target == 64


def test_config_rejects_a_pfn_array_smaller_than_a_page() -> None:
    with pytest.raises(ValueError, match="array_pfns_max"):
        Config(pages_per_page=16, array_pfns_max=8)


def test_hypothesis_config_is_a_valid_config() -> None:
    config = make_config(BalloonOom, None, dict(BalloonOom.hypothesis_config))
    assert config.pages >= 40 and config.free_page_hint
