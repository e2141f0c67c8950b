"""balloon_oom: pages with identity -- the FINDING at the default config, MUST_TELL_HOST and
deflate ordering, the stale pfn, 64 KiB pages and host pages, hinted blocks, the shrinker's
busy no-op, the 2017 deadlock, the trylock notifier and a stalled host. Every trace replays."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest
from hintspec.engine.check import check
from hintspec.engine.explore import explore
from hintspec.engine.results import CheckResult, PropertyResult, Verdict
from hintspec.lang.configs import make_config
from hintspec.lang.model import PropertyKind, leads_to
from hintspec.models.balloon_oom import (
    GUEST_ONLY,
    PC,
    BalloonOom,
    Config,
    Ctx,
    Hint,
    State,
    Who,
)
from hintspec.traces.files import to_itf, trace_from_itf
from hintspec.traces.replay import replay
from hintspec.traces.text import render_trace
from hintspec.traces.trace import Trace

NO_KILL = "no OOM kill while DEFLATE_ON_OOM is negotiated and the balloon holds pages"
STALL_KILL = "no OOM kill because the host has not answered a balloon request"
SPIN = "no busy loop while the host stalls"
DATA = "the guest never uses a page the host may discard"
AGREE = "the host and the driver agree on the balloon"
RECLAIM = "the host gets back every host page the balloon holds whole"
ONE_PLACE = "every page is in exactly one place"
DONE = "after DONE the driver holds no hinted block"
REPORT = "the OOM notifier reports exactly the pages it gave back"
HINTS_OOM = "reclaim takes the hinted blocks back before the OOM path"
ORDERING = (
    "the balloon is deflated only after the page cache and other reclaim failed to satisfy "
    "an allocation"
)
REACHES = "inflation reaches an attainable target"
NO_BUSY = "no inflate/deflate round without progress"
DEADLOCK = "no deadlock"

Cfg = tuple[tuple[str, Any], ...]
ARM64: Cfg = (("pages_per_page", 16), ("target", 40), ("array_pfns_max", 32), ("oom_nr_pages", 16))
SMALL: Cfg = (("pages", 4), ("app_growth", 3), ("target", 2))
HUGE: Cfg = (("pages", 4), ("app_growth", 2), ("target", 2), ("host_page_pfns", 2))
LAZY: Cfg = (("pages", 4), ("app_growth", 2), ("target", 2), ("must_tell_host", True))


def _model(variant: str = "upstream", config: Cfg = ()) -> BalloonOom:
    return BalloonOom(make_config(BalloonOom, variant, dict(config)))


@cache
def _check(
    variant: str = "upstream",
    config: Cfg = (),
    max_states: int | None = None,
    liveness: bool = False,
) -> CheckResult:
    """A check, cached; liveness only where a test needs it (it keeps the whole graph)."""
    return check(_model(variant, config), max_states=max_states, liveness=liveness)


def _prop(result: CheckResult, name: str) -> PropertyResult:
    return next(p for p in result.properties if p.name == name)


def _trace(result: CheckResult, name: str, model: BalloonOom) -> Trace:
    p = _prop(result, name)
    assert p.verdict is Verdict.VIOLATED and p.trace is not None, (name, p.verdict)
    assert replay(p.trace, model).ok
    return p.trace


def _actions(trace: Trace) -> list[str]:
    return [s.action for s in trace.steps[1:]]


# -- the default configuration ---------------------------------------------------------------


def test_default_config_fires_every_trigger_and_breaks_only_the_finding() -> None:
    result = _check(liveness=True)
    assert result.complete
    assert (result.distinct_states, result.transitions, result.depth) == (7843, 31811, 46)
    assert result.failing == [NO_KILL]
    assert result.vacuous == []
    for p in result.properties:
        if p.kind == "sometimes":
            assert p.verdict is Verdict.HOLDS, p.name
    # Only the MUST_TELL_HOST device's lazy discard cannot happen with QEMU's host.
    assert [a for a, n in result.coverage.items() if not n] == ["host_discard"]


def test_finding_the_notifier_misses_the_batch_on_fill_balloons_local_list() -> None:
    """The notifier finds the balloon list empty (the worker's batch is still on its local
    list), the worker enqueues it, then the OOM killer runs."""
    model = _model()
    trace = _trace(_check(), NO_KILL, model)
    assert len(trace) == 10
    tail = [(s.action, s.args) for s in trace.steps[-3:]]
    assert tail[0] == ("leak_balloon_lock", {"who": "app", "pages": 0})
    assert tail[1] == ("fill_balloon_lock", {"pages": 2})
    assert tail[2][0] == "oom_kill_process"
    before = trace.steps[-3].state
    assert before.fill_list and not before.balloon and before.num_pages == 0
    assert trace.steps[-1].state.killed_with == 2
    # The host was never the reason: the notifier took balloon_lock.
    assert not trace.steps[-1].state.killed_waiting
    assert _prop(_check(), STALL_KILL).verdict is Verdict.HOLDS


def test_the_finding_is_at_every_rung_where_kills_happen() -> None:
    rung = (("pages", 6), ("target", 4), ("app_growth", 5))
    assert _prop(_check("upstream", rung, 3000), NO_KILL).verdict is Verdict.VIOLATED
    # Without an application that can exhaust memory nothing is killed: vacuous, not holds.
    quiet = _check("upstream", (("app_growth", 1),))
    assert NO_KILL in quiet.vacuous and NO_KILL not in quiet.failing
    assert _prop(quiet, NO_KILL).verdict is Verdict.VACUOUS


# -- MUST_TELL_HOST and the deflate order ------------------------------------------------------


def test_releasing_before_telling_loses_data_with_a_device_that_needs_telling() -> None:
    model = _model("release_before_tell", LAZY)
    result = _check("release_before_tell", LAZY, 4000)
    trace = _trace(result, DATA, model)
    last = trace.steps[-1].state
    reused = model.in_use(last) & {p // model.ppp for p in last.host_ballooned}
    assert reused, "a page in use is still one the device may discard"
    deflate = next(i for i, s in enumerate(trace.steps) if s.action == "leak_balloon_dequeue")
    assert trace.steps[deflate].state.deflate_vq.avail  # told, not yet processed
    assert "a MUST_TELL_HOST device may still discard it" in str(_prop(result, DATA).explanation)


def test_upstream_tells_first_and_keeps_the_data_with_that_device() -> None:
    result = _check("upstream", LAZY)
    assert _prop(result, DATA).verdict is Verdict.HOLDS
    assert result.coverage["host_discard"] > 0


def test_qemu_needs_no_must_tell_host() -> None:
    """QEMU discards when it processes the inflate and only hints on deflate: reusing a page
    before the deflate is processed is harmless there, so the old order is safe."""
    qemu = tuple((k, v) for k, v in LAZY if k != "must_tell_host")
    result = _check("release_before_tell", qemu)
    assert _prop(result, DATA).verdict is Verdict.HOLDS
    assert result.coverage["host_discard"] == 0


# -- the pfn array ---------------------------------------------------------------------------


def test_stale_pfn_makes_the_host_discard_the_applications_page() -> None:
    model = _model("stale_pfn", SMALL)
    result = _check("stale_pfn", SMALL, 5000)
    trace = _trace(result, DATA, model)
    assert _actions(trace)[-1] == "host_inflate"
    last = trace.steps[-1].state
    assert last.lost == {0} and 0 in last.app  # pfn 0: kzalloc'ed array, the app's page
    agree = _trace(result, AGREE, model)
    assert "not on the balloon list" in str(agree.explanation)


def test_upstream_fills_the_array_before_telling() -> None:
    assert _prop(_check("upstream", SMALL), AGREE).verdict is Verdict.HOLDS


# -- 64 KiB pages and host page sizes ----------------------------------------------------------


def test_64k_pages_the_notifier_must_report_pages_not_pfns() -> None:
    model = _model("oom_freed_pfns", ARM64)
    trace = _trace(_check("oom_freed_pfns", ARM64, 3000), REPORT, model)
    assert trace.steps[-1].state.oom_misreport == (1, 16)
    # With 4 KiB pages a pfn is a page: the same code reports exactly.
    four_k = _check("oom_freed_pfns", SMALL, 3000)
    assert _prop(four_k, REPORT).verdict is not Verdict.VIOLATED
    assert _prop(_check("upstream", ARM64, 3000), REPORT).verdict is not Verdict.VIOLATED


def test_one_pfn_per_page_gives_the_host_a_sixteenth() -> None:
    model = _model("one_pfn_per_page", ARM64)
    result = _check("one_pfn_per_page", ARM64, 3000)
    trace = _trace(result, RECLAIM, model)
    last = trace.steps[-1].state
    f = min(last.balloon)
    assert {h for h in model.host_pages_of(f) if h in last.discarded} == {f * 16}
    assert _prop(result, DATA).verdict is not Verdict.VIOLATED
    assert _prop(_check("upstream", ARM64, 3000), RECLAIM).verdict is not Verdict.VIOLATED


def test_a_discard_of_less_than_a_host_page_frees_nothing() -> None:
    """QEMU limitation (documented FINDING): with host pages of two guest pages, a host page
    is freed only if both pieces arrive in a row in one request; the data stays safe."""
    model = _model("upstream", HUGE)
    result = _check("upstream", HUGE)
    trace = _trace(result, RECLAIM, model)
    last = trace.steps[-1].state
    assert not last.discarded and len(last.balloon) == 2
    assert _prop(result, DATA).verdict is Verdict.HOLDS
    # When both pieces do come in one request, the host page is freed.
    assert any(s.discarded for s in _explored("upstream", HUGE))


def _explored(variant: str, config: Cfg) -> list[State]:
    return list(explore(_model(variant, config)).states)


def test_qemu_4_0_bitmap_set_discards_the_neighbouring_guest_page() -> None:
    model = _model("pbp_bitmap_set", HUGE)
    trace = _trace(_check("pbp_bitmap_set", HUGE), DATA, model)
    last = trace.steps[-1].state
    assert last.lost and last.lost <= model.in_use(last)
    assert _actions(trace)[-1] == "host_inflate"


def test_64k_guest_on_64k_host_gets_whole_pages_back() -> None:
    cfg = (*ARM64, ("host_page_pfns", 16))
    result = _check("upstream", cfg, 4000)
    assert _prop(result, RECLAIM).verdict is not Verdict.VIOLATED
    assert _prop(result, DATA).verdict is not Verdict.VIOLATED


# -- hinted blocks -----------------------------------------------------------------------------


def test_done_returns_every_hinted_block() -> None:
    result = _check()
    assert _prop(result, DONE).verdict is Verdict.HOLDS
    witness = _prop(result, "the host says DONE").trace
    assert witness is not None and witness.steps[-1].state.hint is Hint.DONE


def test_done_that_drops_the_list_leaks_the_blocks() -> None:
    model = _model("done_drops_hints", SMALL)
    trace = _trace(_check("done_drops_hints", SMALL), ONE_PLACE, model)
    assert _actions(trace)[-1] == "hint_done"
    assert "in no list" in str(trace.explanation)


def test_a_zero_shrinker_count_sends_allocations_to_the_oom_path_with_hints_held() -> None:
    model = _model("shrinker_count_zero", SMALL)
    trace = _trace(_check("shrinker_count_zero", SMALL, 3000), HINTS_OOM, model)
    last = trace.steps[-1].state
    assert last.oom_with_hints and last.oom_lock is not Who.NOBODY
    assert _prop(_check("upstream", SMALL), HINTS_OOM).verdict is Verdict.HOLDS


# -- deflate-on-OOM history ----------------------------------------------------------------------

SHRINKER: Cfg = (("pages", 4), ("app_growth", 0), ("target", 2))


def test_shrinker_busy_no_op_is_a_lasso_that_replays() -> None:
    model = _model("shrinker", SHRINKER)
    trace = _trace(_check("shrinker", SHRINKER, liveness=True), NO_BUSY, model)
    assert trace.loop is not None and trace.loop_action is not None
    cycle = trace.steps[trace.loop + 1 :]
    actions = [s.action for s in cycle] + [trace.loop_action]
    assert "fill_balloon_lock" in actions and "leak_balloon_dequeue" in actions
    assert any(s.args.get("via") == "direct reclaim, balloon shrinker" for s in cycle)
    states = [s.state for s in trace.steps[trace.loop :]]
    assert all(model.diff(st) > 0 and model.attainable(st) for st in states)
    again = trace_from_itf(to_itf(trace))
    assert again.loop == trace.loop and again.loop_action == trace.loop_action
    assert replay(again, model).ok


def test_shrinker_deflates_while_the_page_cache_is_still_reclaimable() -> None:
    model = _model("shrinker", SHRINKER)
    trace = _trace(_check("shrinker", SHRINKER, liveness=True), ORDERING, model)
    last = trace.steps[-1].state
    leaking = [t for t in (last.reader, last.app_thread, last.worker) if t.pc is PC.LEAK_ACK]
    assert leaking and leaking[0].ctx is Ctx.SHRINKER and leaking[0].reclaimed
    assert _prop(_check(), ORDERING).verdict is Verdict.HOLDS


def test_lock_fill_deadlocks_through_the_fs_lock() -> None:
    model = _model("lock_fill")
    trace = _trace(_check("lock_fill"), DEADLOCK, model)
    last = trace.steps[-1].state
    assert last.balloon_lock is Who.WORKER and last.worker.pc is PC.FILL_ALLOC
    assert not last.free and model.fs_lock_held(last)
    assert last.reader.pc is PC.LEAK_LOCK and last.reader.ctx is Ctx.OOM
    assert list(model.successors(last)) == []
    assert _prop(_check(), DEADLOCK).verdict is Verdict.HOLDS


def test_trylock_notifier_gives_up_while_the_host_is_answering_and_the_app_dies() -> None:
    model = _model("notifier_trylock")
    result = _check("notifier_trylock", liveness=True)
    trace = _trace(result, STALL_KILL, model)
    assert any(s.args.get("trylock") == "busy" for s in trace.steps)
    assert trace.steps[-1].state.killed_waiting
    spin = _trace(result, SPIN, model)
    assert spin.loop is not None
    assert {"out_of_memory", "leak_balloon_lock"} <= {s.action for s in spin.steps[spin.loop :]}
    assert _prop(_check(liveness=True), SPIN).verdict is Verdict.HOLDS


ARM64_SMALL: Cfg = (
    ("pages", 4),
    ("app_growth", 2),
    ("pages_per_page", 16),
    ("target", 24),
    ("array_pfns_max", 32),
    ("oom_nr_pages", 16),
)


def test_arm64_unaligned_target_oscillates() -> None:
    model = _model("unaligned_target", ARM64_SMALL)
    trace = _trace(_check("unaligned_target", ARM64_SMALL, liveness=True), NO_BUSY, model)
    assert trace.loop is not None
    assert {s.state.num_pages for s in trace.steps[trace.loop :]} == {16, 32}
    upstream = _check("upstream", ARM64_SMALL, liveness=True)
    assert _prop(upstream, "the balloon reaches its target").verdict is Verdict.HOLDS
    assert _prop(upstream, NO_BUSY).verdict is Verdict.HOLDS


# -- fairness ----------------------------------------------------------------------------------


def test_the_device_has_no_fairness_of_its_own() -> None:
    fair = {a.name: a.fairness.value for a in BalloonOom.actions}
    for host in ("host_inflate", "host_deflate", "host_discard", "host_request", "hint_start"):
        assert fair[host] == "none", host
    assert all(not a.startswith("host_") for a in GUEST_ONLY)


class _StallingHost(BalloonOom):
    """The same model, with inflation liveness checked against a device that may stall."""

    name = "balloon_oom_stalling"  # not in models/: never registered

    @leads_to(
        "inflation reaches its target even if the device stalls",
        when=lambda self, s: self._inflating(s),
        fairness=GUEST_ONLY,
    )
    def reached_without_host(self, s: State) -> bool:
        return self.diff(s) == 0 or not self.attainable(s) or s.worker.pc is PC.IDLE


def test_inflation_needs_a_device_that_answers() -> None:
    """What dropping the device's fairness reveals: the worker waits in tell_host for ever,
    holding balloon_lock -- a guest that progresses only because the host answers."""
    model = _StallingHost(Config(app_growth=1, free_page_hint=False))
    result = check(model)
    (p,) = [p for p in result.properties if p.name.endswith("even if the device stalls")]
    assert p.verdict is Verdict.VIOLATED and p.trace is not None and p.trace.loop is not None
    stuck = p.trace.steps[p.trace.loop].state
    assert stuck.worker.pc is PC.FILL_ACK and stuck.inflate_vq.avail
    assert replay(p.trace, model).ok
    assert _prop(result, REACHES).verdict is Verdict.HOLDS


# -- symmetry, rendering, configuration -------------------------------------------------------


@pytest.mark.parametrize("variant", ["upstream", "release_before_tell", "stale_pfn"])
def test_symmetry_reduction_keeps_the_verdicts(variant: str) -> None:
    cfg = (("pages", 3), ("app_growth", 2), ("target", 1), ("must_tell_host", True))
    model = _model(variant, cfg)
    a = check(model, liveness=False)
    b = check(model, liveness=False, symmetry=False)
    assert sorted(a.failing) == sorted(b.failing)
    assert sorted(a.vacuous) == sorted(b.vacuous)
    assert a.distinct_states < b.distinct_states


def test_canonical_is_a_renumbering_that_is_idempotent() -> None:
    model = _model("upstream", SMALL)
    ex = explore(model, symmetry=False, max_states=3000)
    for s in ex.states[::7]:
        c = model.canonical(s)
        assert model.canonical(c) == c
        assert sorted(map(len, (c.free, c.cache, c.app, c.balloon))) == sorted(
            map(len, (s.free, s.cache, s.app, s.balloon))
        )
        assert model.frame_map(c).count("B") == model.frame_map(s).count("B")


def test_text_trace_fits_80_columns_and_shows_the_frames() -> None:
    model = _model()
    text = render_trace(_trace(_check(), NO_KILL, model), model)
    # (the heading names the property in full)
    assert all(len(line) <= 80 for line in text.splitlines()[2:])
    assert "frames  " in text and "oom kill = with 2 balloon page(s)" in text


def test_properties_about_situations_declare_their_trigger() -> None:
    for p in BalloonOom.properties_of(PropertyKind.ALWAYS):
        if p.name not in (ONE_PLACE, DATA, AGREE):
            assert p.trigger is not None, p.name


@pytest.mark.parametrize(
    ("over", "match"),
    [
        ({"pages_per_page": 16, "array_pfns_max": 8}, "array_pfns_max"),
        ({"host_page_pfns": 3}, "divide"),
        ({"pages": 5, "host_page_pfns": 2}, "whole host pages"),
        ({"app_pages": 5}, "app_pages"),
    ],
)
def test_config_rejects_impossible_geometry(over: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Config(**over)


def test_hypothesis_config_is_a_valid_config() -> None:
    config = make_config(BalloonOom, None, dict(BalloonOom.hypothesis_config))
    assert config.pages >= 40 and config.free_page_hint
    (s,) = BalloonOom(config).initial_states()
    assert BalloonOom(config).one_place(s) is True
