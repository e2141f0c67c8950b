"""virtio-mem (models/virtio_mem.py): exact figures, the witnesses, every refusal and its
rollback, every bad variant's shortest counterexample (lassos for the liveness ones), the
fairness audit (what dropping each assumption reveals), the stalled host, the two-block
finding, replay, and the pieces of semantics the properties rest on (online callback,
alloc_contig_range, the device's answers, the crash kernel's STATE requests)."""

from __future__ import annotations

import dataclasses
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hintspec.engine.check import check
from hintspec.engine.explore import Exploration, explore
from hintspec.engine.liveness import check_liveness
from hintspec.engine.results import CheckResult, PropertyResult, Verdict
from hintspec.lang.configs import make_config
from hintspec.lang.errors import UsageError
from hintspec.lang.model import Fairness
from hintspec.lang.registry import get_model
from hintspec.lang.virtqueue import Virtqueue
from hintspec.models._virtio_mem_common import answer
from hintspec.models.virtio_mem import (
    GUEST_FAIRNESS,
    IDLE,
    MB,
    RESPONSIVE_HOST,
    Config,
    Dump,
    Op,
    Page,
    Pc,
    Req,
    Resp,
    Run,
    State,
    VirtioMem,
)
from hintspec.traces.files import read_itf, write_itf
from hintspec.traces.replay import replay
from hintspec.traces.text import render_trace
from hintspec.traces.trace import Trace

BITMAP = "a plugged bit is set exactly when the device has the sub-block plugged"
BACKING = "no page in use or in the buddy loses its backing"
DUMP = "the dump never reads unplugged memory"
ACCOUNTING = "the plugged size is the number of plugged sub-blocks times the sub-block size"
PLUG = "a sub-block gets plugged"
ONLINE_UNPLUG = "the device acknowledges the unplug of fake-offlined online memory"
FAKE_OFFLINE_FAILS = "fake offline fails: an unplug pass ends with sub-blocks left"
KCORE = "a kcore dump skips an unplugged sub-block of an online block"
KDUMP = "the crash kernel asks the device and skips an unplugged sub-block"
REACHED = "a requested size that movable memory can reach is eventually reached"
REMOVED = "a completely unplugged memory block is eventually removed"
NOTICED = "a raised requested size is noticed even while unplugging keeps failing"
ROLLED_BACK = "a refused request leaves its sub-blocks and their memory as it found them"
BACKS_OFF = "a BUSY answer makes the driver back off: its run ends with the retry timer armed"
WITHHELD = "the guest loses no memory to the host beyond the request in flight"
KEPT = "no page in use is lost: guest users keep every page they did not free"
VALID = "the driver asks the device only for device blocks inside the region in the opposite state"


def model(variant: str = "upstream", **config: Any) -> VirtioMem:
    cls = get_model("virtio_mem")
    made = cls(make_config(cls, variant, config))
    assert isinstance(made, VirtioMem)
    return made


@cache
def _result(variant: str, config: tuple[tuple[str, Any], ...]) -> CheckResult:
    return check(model(variant, **dict(config)))


def result(variant: str = "upstream", **config: Any) -> CheckResult:
    """One exploration per (variant, config) for the whole module."""
    return _result(variant, tuple(sorted(config.items())))


def prop(res: CheckResult, name: str) -> PropertyResult:
    (found,) = [p for p in res.properties if p.name == name]
    return found


@cache
def exploration(variant: str = "upstream") -> Exploration:
    """The default config's state graph (for the fairness audit and state queries)."""
    return explore(model(variant), keep_graph=True)


# -- the fixed design ------------------------------------------------------------------


def test_upstream_default_figures_and_every_action_fires() -> None:
    res = result()
    assert (res.distinct_states, res.transitions, res.depth) == (12424, 62033, 24)
    assert res.verdict is Verdict.HOLDS
    assert res.never_fired == []


@pytest.mark.parametrize(
    ("witness", "length"),
    [(PLUG, 3), (ONLINE_UNPLUG, 8), (FAKE_OFFLINE_FAILS, 8), (KCORE, 6), (KDUMP, 5)],
)
def test_witnesses_are_reached_and_replay(witness: str, length: int) -> None:
    found = prop(result(), witness)
    assert found.verdict is Verdict.HOLDS
    assert found.trace is not None and len(found.trace) == length
    assert replay(found.trace).ok


def test_two_blocks_without_user_offlining_hold() -> None:
    res = result(blocks=2, resizes=1, user_offline=False)
    assert (res.distinct_states, res.transitions, res.depth) == (36853, 161672, 31)
    assert res.verdict is Verdict.HOLDS


def test_zone_movable_never_fails_fake_offline() -> None:
    """With every block onlined to ZONE_MOVABLE (and boot memory to migrate to),
    alloc_contig_range never meets an unmovable page: the witness is vacuous."""
    res = result(online_zones="movable")
    assert res.failing == [FAKE_OFFLINE_FAILS]
    assert "vacuous" in (prop(res, FAKE_OFFLINE_FAILS).explanation or "")


# -- safety variants: shortest counterexamples -------------------------------------------


@pytest.mark.parametrize(
    ("variant", "lengths"),
    [
        ("kcore_reads_page_offline", {DUMP: 6}),
        ("kdump_reads_all", {DUMP: 5}),
        ("plug_bit_before_ack", {BITMAP: 1, ACCOUNTING: 1, BACKING: 8, DUMP: 9}),
        ("unplug_without_fake_offline", {BACKING: 8, DUMP: 9}),
        ("fake_offline_ignores_failure", {KEPT: 8}),
        ("plug_from_first_sb", {VALID: 6}),
    ],
)
def test_safety_variants_shortest_traces(variant: str, lengths: dict[str, int]) -> None:
    res = result(variant)
    for name, length in lengths.items():
        found = prop(res, name)
        assert found.verdict is Verdict.VIOLATED, name
        assert found.trace is not None and len(found.trace) == length, name
        assert found.trace.loop is None
        assert replay(found.trace).ok


def test_each_safety_variant_fails_exactly_what_it_should() -> None:
    assert result("kcore_reads_page_offline").failing == [DUMP]
    assert result("kdump_reads_all").failing == [DUMP]
    # ERROR marks the device broken, which every liveness property excuses: only the
    # request itself shows the bug.
    assert result("plug_from_first_sb").failing == [VALID]
    assert sorted(result("unplug_without_fake_offline").failing) == sorted(
        # It never fake-offlines, so never fails to; a page left on unplugged memory is
        # dropped when the block is removed, and its user can never free it.
        [BACKING, DUMP, FAKE_OFFLINE_FAILS, KEPT, "no deadlock"]
    )
    # A bit kept after a refusal makes the driver send a later request for that sub-block
    # (not in the state it thinks: VALID); the device answers ERROR and the driver marks
    # the device broken, which excuses 'a raised requested size is noticed'.
    assert set(result("plug_bit_before_ack").failing) == {
        VALID,
        BITMAP,
        BACKING,
        DUMP,
        ACCOUNTING,
        ROLLED_BACK,
        REACHED,
    }


def test_kcore_counterexample_reads_a_page_offline_frame() -> None:
    trace = prop(result("kcore_reads_page_offline"), DUMP).trace
    assert trace is not None
    last = trace.steps[-1]
    assert last.action == "dump_kcore"
    assert last.state.dump is Dump.KCORE
    m = model("kcore_reads_page_offline")
    unplugged = [f for f in last.state.dumped if f >= m.B and not last.state.dev_plugged[f - m.B]]
    assert unplugged and all(last.state.pages[f] is Page.OFFLINE for f in unplugged)


# -- liveness variants: lassos ------------------------------------------------------------


@pytest.mark.parametrize(
    ("variant", "name", "length"),
    [
        ("no_remove_retry", REMOVED, 12),
        ("fake_offline_ignores_config", NOTICED, 10),
        ("unplug_online_off", REACHED, 9),
    ],
)
def test_liveness_variants_give_lassos_that_replay(variant: str, name: str, length: int) -> None:
    res = result(variant)
    found = prop(res, name)
    assert found.verdict is Verdict.VIOLATED
    trace = found.trace
    assert trace is not None and trace.loop is not None
    assert len(trace) == length
    assert replay(trace).ok
    # The fixed design holds the same property.
    assert prop(result(), name).verdict is Verdict.HOLDS


def test_no_remove_retry_fails_only_removal() -> None:
    assert result("no_remove_retry").failing == [REMOVED]


def test_fake_offline_ignores_config_cycle_keeps_failing_with_config_changed() -> None:
    res = result("fake_offline_ignores_config")
    assert res.failing == [NOTICED]
    trace = prop(res, NOTICED).trace
    assert trace is not None and trace.loop is not None
    cycle = trace.steps[trace.loop :]
    assert all(s.state.config_changed for s in cycle)
    assert all(s.state.dev_requested > s.state.requested for s in cycle)
    assert trace.loop_action == "unplug_pass_over"
    assert trace.loop_args["then"] == "goes on"
    # An unmovable page sits in a kernel-zone block: that is why fake offline fails.
    m = model("fake_offline_ignores_config")
    state = cycle[0].state
    assert any(state.mb[i] in (MB.KERNEL, MB.KERNEL_PARTIAL) for i in range(m.M))
    assert Page.UNMOVABLE in state.pages[m.B :]


def test_unplug_online_off_keeps_movable_memory() -> None:
    res = result("unplug_online_off")
    assert REACHED in res.failing
    trace = prop(res, REACHED).trace
    assert trace is not None and trace.loop is not None
    state = trace.steps[trace.loop].state
    assert MB.MOVABLE in state.mb or MB.MOVABLE_PARTIAL in state.mb
    assert state.dev_requested < sum(state.dev_plugged)


# -- refusals and their rollbacks ---------------------------------------------------------

WHERE = ("online", "offline", "not added")


def test_every_refusal_happens_at_the_default_config() -> None:
    """Every answer the device can refuse with, to a plug and to an unplug, of online,
    offline and not-added memory (and UNPLUG_ALL, BUSY), is reached; the rollback property
    holds on every one of them."""
    seen = {(r.req, r.resp, r.where) for s in exploration().states if (r := s.refused)}
    plugs = {(Req.PLUG, a, w) for a in (Resp.NACK, Resp.BUSY, Resp.ERROR) for w in WHERE}
    unplugs = {(Req.UNPLUG, a, w) for a in (Resp.BUSY, Resp.ERROR) for w in WHERE}
    assert seen == plugs | unplugs | {(Req.UNPLUG_ALL, Resp.BUSY, "not added")}
    assert prop(result(), ROLLED_BACK).verdict is Verdict.HOLDS


def test_a_refused_unplug_of_online_memory_gives_the_range_back() -> None:
    """virtio_mem_sbm_unplug_sb_online: fake-offlined, refused, fake-onlined again."""
    m = model()
    waiting = _state(
        m,
        mb=(MB.KERNEL,),
        sb=(True, True),
        plugged=2,
        requested=1,
        dev_plugged=(True, True),
        pages=(Page.MOVABLE, Page.FREE, Page.OFFLINE),
        run=Run(
            pc=Pc.WAIT,
            op=Op.UNPLUG_ONLINE,
            mb=0,
            sb=1,
            count=1,
            nb=1,
            before=m.range_view(
                _state(
                    m,
                    mb=(MB.KERNEL,),
                    sb=(True, True),
                    plugged=2,
                    dev_plugged=(True, True),
                    pages=(Page.FREE, Page.FREE, Page.MOVABLE),
                ),
                1,
                1,
            ),
        ),
        vq=Virtqueue(size=1).add((Req.UNPLUG, 1, 1)),  # type: ignore[arg-type]
    )
    ((_, answered),) = m.steps_of("device_handle_busy", waiting)
    ((_, after),) = m.steps_of("driver_receive", answered)
    assert after.pages == (Page.MOVABLE, Page.FREE, Page.FREE)
    assert after.sb == (True, True) and after.mb == (MB.KERNEL,)
    assert after.refused is not None and after.refused.where == "online"
    assert after.refused.before.usable == after.refused.after.usable == (True,)
    assert after.run.pc is Pc.IDLE and after.timer  # -ETXTBSY: the retry timer
    ((_, lost),) = model("refused_unplug_keeps_fake_offline").steps_of("driver_receive", answered)
    assert lost.pages[2] is Page.OFFLINE


@pytest.mark.parametrize(
    ("variant", "lengths"),
    [
        ("refused_unplug_keeps_fake_offline", {ROLLED_BACK: 9, WITHHELD: 9}),
        ("refused_plug_onlines", {ROLLED_BACK: 9, BACKING: 9, DUMP: 10, KEPT: 14}),
        (
            "refused_unplug_clears_bits",
            {ROLLED_BACK: 6, BITMAP: 6, ACCOUNTING: 8, WITHHELD: 9, VALID: 8, KEPT: 13},
        ),
        ("add_failed_forgets_plugged", {ROLLED_BACK: 6, VALID: 8}),
        ("busy_retries_at_once", {BACKS_OFF: 3}),
    ],
)
def test_rollback_variants_shortest_traces(variant: str, lengths: dict[str, int]) -> None:
    res = result(variant)
    for name, length in lengths.items():
        found = prop(res, name)
        assert found.verdict is Verdict.VIOLATED, name
        assert found.trace is not None and len(found.trace) == length, name
        assert replay(found.trace).ok
    safety = {
        p.name for p in res.properties if p.kind == "always" and p.verdict is Verdict.VIOLATED
    }
    assert safety == set(lengths)


def test_the_rollback_property_names_what_changed() -> None:
    why = prop(result("add_failed_forgets_plugged"), ROLLED_BACK).explanation or ""
    assert "the device answered BUSY to UNPLUG mb0/sb0+1 (not added)" in why
    assert "the block's state PLUGGED -> UNUSED" in why
    why = prop(result("refused_unplug_clears_bits"), ROLLED_BACK).explanation or ""
    assert "the driver's plugged bits [1] -> [0]; plugged_size 1 -> 0" in why


# -- the stalled host ----------------------------------------------------------------------


def test_a_stalled_host_withholds_at_most_one_request() -> None:
    """However the host behaves, the memory taken from the guest while still plugged is the
    range of the one request in flight (never more than a memory block)."""
    m = model()
    most = max(len(m._withheld(s)) for s in exploration().states)
    assert most == m.S  # the whole-block attempt of virtio_mem_sbm_unplug_any_sb_online
    assert prop(result(), WITHHELD).verdict is Verdict.HOLDS


def test_a_host_that_is_always_busy_meets_a_backing_off_driver() -> None:
    """With the host's answer weakly fair only, it may answer BUSY for ever: upstream waits
    for the retry timer every time round; busy_retries_at_once spins without it."""
    weak_host = {**RESPONSIVE_HOST, "device_handle": "weak"}
    upstream = lasso(REACHED, weak_host)
    assert "device_handle_busy" in cycle_actions(upstream)
    assert "retry_timer_fires" in cycle_actions(upstream)
    spinning = lasso(REACHED, weak_host, "busy_retries_at_once")
    assert "device_handle_busy" in cycle_actions(spinning)
    assert "retry_timer_fires" not in cycle_actions(spinning)


# -- fairness: what each assumption rules out ---------------------------------------------


def lasso(name: str, fairness: dict[str, str], variant: str = "upstream") -> Trace:
    """The lasso that property ``name`` gets under ``fairness`` instead of its own."""
    m = model(variant)
    weaker = dataclasses.replace(
        m.property(name), fairness={a: Fairness(f) for a, f in fairness.items()}
    )
    found = check_liveness(m, exploration(variant), weaker)
    assert found.verdict is Verdict.VIOLATED, found.explanation
    assert found.trace is not None and found.trace.loop is not None
    assert replay(found.trace).ok
    return found.trace


def cycle_actions(trace: Trace) -> list[str]:
    assert trace.loop is not None and trace.loop_action is not None
    return [str(s.action) for s in trace.steps[trace.loop + 1 :]] + [trace.loop_action]


def cycle_states(trace: Trace) -> list[State]:
    assert trace.loop is not None
    return [s.state for s in trace.steps[trace.loop :]]


def test_the_actions_declare_exactly_the_guest_fairness() -> None:
    declared = {a.name: a.fairness.value for a in VirtioMem.actions if a.fairness.value != "none"}
    assert declared == GUEST_FAIRNESS
    live = [p for p in VirtioMem.properties if p.kind.value == "liveness"]
    assert live and all(
        {a: f.value for a, f in (p.fairness or {}).items()} == RESPONSIVE_HOST for p in live
    )


def _without(action: str) -> dict[str, str]:
    return {a: f for a, f in RESPONSIVE_HOST.items() if a != action}


@pytest.mark.parametrize(
    ("assumption", "fairness", "name", "shows"),
    [
        # The host never answers: the request waits for ever.
        ("the host answers", _without("device_handle"), REACHED, "request waits"),
        # The host answers BUSY every time.
        ("not BUSY for ever", {**RESPONSIVE_HOST, "device_handle": "weak"}, REACHED, "busy"),
        ("add_memory succeeds", {**RESPONSIVE_HOST, "add_memory": "weak"}, REACHED, "add fails"),
        (
            "removal succeeds",
            {**RESPONSIVE_HOST, "offline_and_remove": "weak"},
            REMOVED,
            "remove fails",
        ),
        ("queued work runs", _without("run_wq"), REACHED, "work queued"),
        ("a wakeup wakes", _without("driver_receive"), REACHED, "answer unread"),
        ("the timer fires", _without("retry_timer_fires"), REACHED, "timer armed"),
        ("the pass moves on", _without("unplug_pass_over"), REACHED, "pass over"),
        ("add_memory returns", _without("add_memory") | {"add_memory": "none"}, REACHED, "in add"),
        ("removal returns", _without("offline_and_remove"), REMOVED, "in remove"),
    ],
)
def test_dropping_a_fairness_assumption_reveals_a_lasso(
    assumption: str, fairness: dict[str, str], name: str, shows: str
) -> None:
    """Each assumption of RESPONSIVE_HOST is needed: without it the property has a lasso of
    exactly the behaviour the assumption rules out."""
    trace = lasso(name, fairness)
    acts, states = cycle_actions(trace), cycle_states(trace)
    checks = {
        "request waits": lambda: all(s.vq.avail for s in states),
        "busy": lambda: "device_handle_busy" in acts and "device_handle" not in acts,
        "add fails": lambda: "add_memory_fails" in acts and "add_memory" not in acts,
        "remove fails": lambda: (
            "offline_and_remove_fails" in acts and "offline_and_remove" not in acts
        ),
        "work queued": lambda: all(s.queued and s.run.pc is Pc.IDLE for s in states),
        "answer unread": lambda: all(s.vq.used for s in states),
        "timer armed": lambda: all(s.timer for s in states),
        "pass over": lambda: all(s.run.pc is Pc.PASS_END for s in states),
        "in add": lambda: all(s.run.pc is Pc.ADD for s in states),
        "in remove": lambda: all(s.run.pc is Pc.REMOVE for s in states),
    }
    assert checks[shows](), (assumption, acts)


# -- the finding at two memory blocks ----------------------------------------------------


def test_two_block_finding_cleanup_misses_a_block_that_changed_zone() -> None:
    """have_unplugged_mb is cleared before the cleanup scans; while hotplug_mutex is dropped
    around offline_and_remove_memory() of one block, user space offlines another completely
    unplugged block and onlines it to ZONE_MOVABLE (a state already scanned)."""
    res = result(blocks=2, resizes=1)
    assert (res.distinct_states, res.transitions, res.depth) == (67782, 389704, 32)
    assert res.failing == [REMOVED]
    trace = prop(res, REMOVED).trace
    assert trace is not None and trace.loop is not None and len(trace) == 25
    assert replay(trace).ok
    actions = [s.action for s in trace.steps]
    cleanup = next(
        i for i, s in enumerate(trace.steps) if s.state.run.pc is Pc.REMOVE and s.action == "run_wq"
    )
    later = actions[cleanup + 1 :]
    assert "offline_block" in later and "online_block" in later
    moved = [s for s in trace.steps[cleanup + 1 :] if s.action == "online_block"]
    assert moved[0].args["zone"] == "movable"
    assert not trace.steps[-1].state.have_unplugged_mb


def test_proposed_cleanup_recheck_closes_the_race() -> None:
    res = result("cleanup_rechecks", blocks=2, resizes=1)
    assert res.verdict is Verdict.HOLDS
    assert result("cleanup_rechecks").verdict is Verdict.HOLDS


# -- traces: readable and replayable -------------------------------------------------------


def test_trace_shows_block_states_bits_and_frames(tmp_path: Path) -> None:
    trace = prop(result("fake_offline_ignores_config"), NOTICED).trace
    assert trace is not None
    text = render_trace(trace)
    assert "mb0: OFFLINE_PARTIAL [10] -> KERNEL_PARTIAL [10]" in text
    assert "frames  fKX" in text
    assert "unplug_pass_over(then=goes on, left=1) -> back to step" in text
    path = tmp_path / "lasso.itf.json"
    write_itf(trace, path)
    again = read_itf(path)
    assert again.loop == trace.loop
    assert replay(again).ok


def test_view_and_frame_map() -> None:
    m = model()
    (s0, *_rest) = [s for s in m.initial_states() if not s.unplug_all_required]
    view = m.view(s0)
    assert view["mb0"] == "UNUSED [00]"
    assert view["device"] == f"plugged [00] requested {s0.dev_requested} (2 resizes left)"
    assert m.frame_map(s0) == "f--"
    assert set(m.frame_map(s0)) <= set(m.frame_legend)


# -- semantics the properties rest on ------------------------------------------------------


def _state(m: VirtioMem, **changes: Any) -> State:
    base = State(
        mb=(MB.UNUSED,) * m.M,
        sb=(False,) * m.N,
        plugged=0,
        requested=0,
        config_changed=False,
        unplug_all_required=False,
        have_unplugged_mb=False,
        broken=False,
        queued=False,
        timer=False,
        run=IDLE,
        vq=Virtqueue(size=1),
        resp=Resp.NONE,
        dev_plugged=(False,) * m.N,
        dev_requested=0,
        resizes_left=0,
        pages=(Page.FREE,) * m.B + (Page.NONE,) * m.N,
        dump=Dump.NONE,
        dumped=frozenset(),
        refused=None,
        in_use=0,
    )
    state = State(**{**base.__dict__, **changes})
    in_use = sum(1 for p in state.pages if p in (Page.MOVABLE, Page.UNMOVABLE))
    return State(**{**state.__dict__, "in_use": changes.get("in_use", in_use)})


def test_online_callback_keeps_unplugged_sub_blocks_page_offline() -> None:
    m = model()
    s = _state(
        m,
        mb=(MB.OFFLINE_PARTIAL,),
        sb=(True, False),
        plugged=1,
        dev_plugged=(True, False),
        pages=(Page.FREE, Page.NONE, Page.NONE),
    )
    steps = {a["zone"]: t for a, t in m.steps_of("online_block", s)}
    assert steps["movable"].mb == (MB.MOVABLE_PARTIAL,)
    assert steps["kernel"].mb == (MB.KERNEL_PARTIAL,)
    assert steps["movable"].pages == (Page.FREE, Page.FREE, Page.OFFLINE)


def _unplug_start(m: VirtioMem, pages: tuple[Page, ...]) -> State:
    """mb0 fully plugged and online in a kernel zone; the host asked for 0."""
    return _state(
        m,
        mb=(MB.KERNEL,),
        sb=(True, True),
        plugged=2,
        requested=2,
        config_changed=True,
        queued=True,
        dev_plugged=(True, True),
        pages=pages,
    )


def test_fake_offline_fails_on_an_unmovable_page_and_migrates_a_movable_one() -> None:
    m = model()
    # sb1 holds a page table: the whole-block attempt and sb1 fail, sb0 goes.
    ((_, t),) = m.steps_of("run_wq", _unplug_start(m, (Page.FREE, Page.FREE, Page.UNMOVABLE)))
    assert t.run.pc is Pc.WAIT and t.vq.avail == ((Req.UNPLUG, 0, 1),)
    assert t.pages == (Page.FREE, Page.OFFLINE, Page.UNMOVABLE)
    # A movable page in the range is migrated to boot memory; the block goes in one shot.
    ((_, t),) = m.steps_of("run_wq", _unplug_start(m, (Page.FREE, Page.MOVABLE, Page.FREE)))
    assert t.vq.avail == ((Req.UNPLUG, 0, 2),)
    assert t.pages == (Page.MOVABLE, Page.OFFLINE, Page.OFFLINE)


def test_the_fix_checks_config_changed_before_fake_offlining() -> None:
    """A pass that goes on after the host raised the size: the fixed driver leaves it at
    the next fake-offline attempt and plugs; the pre-fix driver keeps failing."""
    for variant, noticed in (("upstream", True), ("fake_offline_ignores_config", False)):
        m = model(variant)
        passing = _state(
            m,
            mb=(MB.KERNEL_PARTIAL,),
            sb=(False, True),
            plugged=1,
            config_changed=True,
            dev_plugged=(False, True),
            dev_requested=2,
            pages=(Page.FREE, Page.OFFLINE, Page.UNMOVABLE),
            run=Run(pc=Pc.PASS_END, nb=1),
        )
        after = {a["then"]: t for a, t in m.steps_of("unplug_pass_over", passing)}["goes on"]
        if noticed:
            assert after.requested == 2 and not after.config_changed
            assert after.vq.avail == ((Req.PLUG, 0, 1),)
        else:
            assert after.run.pc is Pc.PASS_END and after.requested == 0


def test_device_answers() -> None:
    """virtio_mem_state_change_request: NACK beyond the requested size, ERROR unless every
    block is in the opposite state, else ACK; UNPLUG_ALL: ACK, all unplugged."""
    plugged = (True, False)
    assert answer(Req.PLUG, 1, 1, plugged, 1) == (Resp.NACK, (True, False))
    assert answer(Req.PLUG, 0, 1, plugged, 1)[0] is Resp.NACK
    assert answer(Req.PLUG, 0, 1, plugged, 2)[0] is Resp.ERROR  # already plugged
    assert answer(Req.PLUG, 1, 1, plugged, 2) == (Resp.ACK, (True, True))
    assert answer(Req.UNPLUG, 1, 1, plugged, 2)[0] is Resp.ERROR
    assert answer(Req.UNPLUG_ALL, 0, 0, plugged, 2) == (Resp.ACK, (False, False))


def test_kdump_asks_the_device_per_block() -> None:
    m = model()
    s = _state(
        m,
        mb=(MB.KERNEL_PARTIAL,),
        sb=(True, False),
        plugged=1,
        dev_plugged=(True, False),
        pages=(Page.FREE, Page.FREE, Page.OFFLINE),
    )
    ((args, t),) = m.steps_of("kdump", s)
    assert args == {"state": "mb0/sb0 PLUGGED, mb0/sb1 UNPLUGGED"}
    assert t.dumped == frozenset({0, 1})
    ((_, t),) = model("kdump_reads_all").steps_of("kdump", s)
    assert t.dumped == frozenset({0, 1, 2})


def test_config_is_validated() -> None:
    cls = get_model("virtio_mem")
    with pytest.raises(UsageError):
        make_config(cls, None, {"sbs_per_mb": "1"})
    with pytest.raises(UsageError):
        make_config(cls, None, {"boot_pages": "0"})
    with pytest.raises(UsageError):
        make_config(cls, None, {"offline_threshold": "1"})
    with pytest.raises(UsageError):
        make_config(cls, None, {"online_zones": "normal"})
    assert Config().variant == "upstream"
