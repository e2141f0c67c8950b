"""virtio-mem in Big Block Mode (models/virtio_mem_bbm.py): the figures, the witnesses,
every refusal and rollback, the bad variants' shortest counterexamples, the fairness
premise, and the pieces of semantics the properties rest on (the three unplug passes, the
rollback of a partial fake offline, onlining a FAKE_OFFLINE big block)."""

from __future__ import annotations

import dataclasses
from functools import cache
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
from hintspec.models import _virtio_mem_common as common
from hintspec.models import virtio_mem
from hintspec.models.virtio_mem_bbm import (
    BB,
    GUEST_FAIRNESS,
    IDLE,
    RESPONSIVE_HOST,
    Dump,
    Op,
    Page,
    Pc,
    Req,
    Resp,
    Run,
    State,
    VirtioMemBbm,
    Zone,
)
from hintspec.traces.replay import replay
from hintspec.traces.text import render_trace

STATES = "a big block is plugged in the driver's states exactly when the device has it plugged"
BACKING = "no page in use or in the buddy loses its backing"
DUMP = "the dump never reads unplugged memory"
ACCOUNTING = "the plugged size is the number of plugged big blocks times the big block size"
ROLLED_BACK = "a refused request leaves its big block and its memory as it found them"
BACKS_OFF = common.BUSY_BACKS_OFF
WITHHELD = "the guest loses no memory to the host beyond the big block being unplugged"
REACHED = "a requested size that movable memory can reach is eventually reached"
CLEANED = "a big block left plugged is eventually unplugged"
KEPT = common.USER_PAGES_KEPT
VALID = common.REQUEST_VALID
ORDER = (
    "an unplug pass takes offline big blocks first, then those online only in "
    "ZONE_MOVABLE, and memory of a kernel zone last"
)


def model(variant: str = "upstream", **config: Any) -> VirtioMemBbm:
    cls = get_model("virtio_mem_bbm")
    made = cls(make_config(cls, variant, config))
    assert isinstance(made, VirtioMemBbm)
    return made


@cache
def _result(variant: str, config: tuple[tuple[str, Any], ...]) -> CheckResult:
    return check(model(variant, **dict(config)))


def result(variant: str = "upstream", **config: Any) -> CheckResult:
    return _result(variant, tuple(sorted(config.items())))


def prop(res: CheckResult, name: str) -> PropertyResult:
    (found,) = [p for p in res.properties if p.name == name]
    return found


@cache
def exploration(variant: str = "upstream") -> Exploration:
    return explore(model(variant), keep_graph=True)


# -- the upstream design ------------------------------------------------------------------


def test_upstream_holds_every_action_fires_every_witness_is_reached() -> None:
    res = result()
    assert res.verdict is Verdict.HOLDS, res.failing
    assert res.never_fired == []
    for p in res.properties:
        if p.kind == "sometimes":
            assert p.trace is not None and replay(p.trace).ok, p.name


def test_every_refusal_happens_and_is_rolled_back() -> None:
    seen = {(r.req, r.resp, Op(r.op)) for s in exploration().states if (r := s.refused)}
    plugs = {(Req.PLUG, a, Op.PLUG_ADD) for a in (Resp.NACK, Resp.BUSY, Resp.ERROR)}
    unplugs = {
        (Req.UNPLUG, a, op)
        for a in (Resp.BUSY, Resp.ERROR)
        for op in (Op.REMOVED, Op.ADD_FAILED, Op.CLEANUP)
    }
    assert seen == plugs | unplugs | {(Req.UNPLUG_ALL, Resp.BUSY, Op.UNPLUG_ALL)}
    assert prop(result(), ROLLED_BACK).verdict is Verdict.HOLDS


def test_the_shared_device_is_the_sbm_models() -> None:
    """The same QEMU code in both modes: one function object, not a copy."""
    sbm = virtio_mem.VirtioMem
    for name in ("device_handle", "device_handle_busy", "device_handle_error", "host_resize"):
        assert getattr(VirtioMemBbm, name) is getattr(sbm, name) is getattr(common, name)


# -- bad variants --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variant", "failing"),
    [
        ("unplug_before_remove", {STATES, BACKING, DUMP, ACCOUNTING}),
        ("rollback_skips_fake_online", {WITHHELD}),
        ("unplug_refused_forgets", {STATES, ACCOUNTING, ROLLED_BACK}),
        ("busy_retries_at_once", {BACKS_OFF}),
        ("fake_offline_ignores_failure", {KEPT}),
        ("no_movable_first", {ORDER}),
        ("plug_any_bb", {VALID, ROLLED_BACK}),
    ],
)
def test_bad_variants_break_their_properties(variant: str, failing: set[str]) -> None:
    # A plug of a plugged big block needs two big blocks (with one, nothing is left to add).
    res = result(
        variant, **({"big_blocks": 2, "mbs_per_bb": 1} if variant == "plug_any_bb" else {})
    )
    broken = {
        p.name for p in res.properties if p.kind == "always" and p.verdict is Verdict.VIOLATED
    }
    assert broken == failing
    for name in failing:
        trace = prop(res, name).trace
        assert trace is not None and trace.loop is None
        assert replay(trace).ok


def test_no_movable_first_takes_kernel_memory_in_the_second_pass() -> None:
    """Before ZONE_MOVABLE was preferred, the second pass took any big block: the shortest
    trace onlines a memory block to a kernel zone and unplugs it in pass 1."""
    trace = prop(result("no_movable_first"), ORDER).trace
    assert trace is not None and len(trace) == 7
    assert trace.steps[-1].state.taken == (1, 2)
    assert prop(result(), ORDER).verdict is Verdict.HOLDS


def test_fake_offline_ignoring_failure_takes_an_unmovable_page() -> None:
    trace = prop(result("fake_offline_ignores_failure"), KEPT).trace
    assert trace is not None and len(trace) == 8
    before, after = trace.steps[-2].state, trace.steps[-1].state
    assert Page.UNMOVABLE in before.pages and Page.UNMOVABLE not in after.pages
    assert after.in_use == 1


def test_rollback_skipping_fake_online_loses_memory() -> None:
    trace = prop(result("rollback_skips_fake_online"), WITHHELD).trace
    assert trace is not None
    last = trace.steps[-1]
    assert last.state.rolled_back in ("fake offline", "removal")
    assert last.state.run.pc is not Pc.REMOVE
    assert "x" in render_trace(trace).splitlines()[-1] or Page.OFFLINE in last.state.pages


# -- fairness --------------------------------------------------------------------------------


def test_the_actions_declare_exactly_the_guest_fairness() -> None:
    declared = {
        a.name: a.fairness.value for a in VirtioMemBbm.actions if a.fairness.value != "none"
    }
    assert declared == GUEST_FAIRNESS
    live = [p for p in VirtioMemBbm.properties if p.kind.value == "liveness"]
    assert live and all(
        {a: f.value for a, f in (p.fairness or {}).items()} == RESPONSIVE_HOST for p in live
    )


@pytest.mark.parametrize(
    ("fairness", "name", "taken", "never"),
    [
        (
            {**RESPONSIVE_HOST, "device_handle": "weak"},
            REACHED,
            "device_handle_busy",
            "device_handle",
        ),
        ({**RESPONSIVE_HOST, "add_memory": "weak"}, REACHED, "add_memory_fails", "add_memory"),
        (
            {**RESPONSIVE_HOST, "offline_and_remove": "weak"},
            REACHED,
            "offline_and_remove_fails",
            "offline_and_remove",
        ),
    ],
)
def test_dropping_a_host_assumption_reveals_a_lasso(
    fairness: dict[str, str], name: str, taken: str, never: str
) -> None:
    m = model()
    weaker = dataclasses.replace(
        m.property(name), fairness={a: Fairness(f) for a, f in fairness.items()}
    )
    found = check_liveness(m, exploration(), weaker)
    assert found.verdict is Verdict.VIOLATED
    trace = found.trace
    assert trace is not None and trace.loop is not None and trace.loop_action is not None
    acts = [s.action for s in trace.steps[trace.loop + 1 :]] + [trace.loop_action]
    assert taken in acts and never not in acts
    assert replay(trace).ok


# -- semantics --------------------------------------------------------------------------------


def _state(m: VirtioMemBbm, **changes: Any) -> State:
    base = State(
        bb=(BB.UNUSED,) * m.M,
        plugged=0,
        requested=0,
        config_changed=False,
        unplug_all_required=False,
        broken=False,
        queued=False,
        timer=False,
        run=IDLE,
        vq=Virtqueue(size=1),
        resp=Resp.NONE,
        dev_plugged=(False,) * m.M,
        dev_requested=0,
        resizes_left=0,
        zone=(Zone.OFFLINE,) * (m.M * m.K),
        pages=(Page.FREE,) * m.B + (Page.NONE,) * (m.M * m.K),
        dump=Dump.NONE,
        dumped=frozenset(),
        refused=None,
        rolled_back="",
        in_use=0,
        taken=None,
    )
    state = State(**{**base.__dict__, **changes})
    in_use = sum(1 for p in state.pages if p in (Page.MOVABLE, Page.UNMOVABLE))
    return State(**{**state.__dict__, "in_use": changes.get("in_use", in_use)})


def test_a_partial_fake_offline_is_rolled_back() -> None:
    """Pass 0 takes the completely offline big block. With both online in a kernel zone,
    pass 2 tries bb1 first (last first): its first memory block fake-offlines, the second
    holds an unmovable page, so the first is fake-onlined again, bb1 is ADDED again, and
    the pass goes on (-EBUSY) to bb0, which goes."""
    m = model(big_blocks=2)
    s = _state(
        m,
        bb=(BB.ADDED, BB.ADDED),
        plugged=2,
        requested=2,
        config_changed=True,
        queued=True,
        dev_plugged=(True, True),
        dev_requested=1,
        zone=(Zone.OFFLINE, Zone.OFFLINE, Zone.KERNEL, Zone.KERNEL),
        pages=(Page.FREE, Page.NONE, Page.NONE, Page.FREE, Page.UNMOVABLE),
    )
    ((_, t),) = m.steps_of("run_wq", s)
    assert t.bb == (BB.FAKE_OFFLINE, BB.ADDED) and t.run.pc is Pc.REMOVE and t.run.bb == 0
    assert t.run.phase == 0 and t.rolled_back == ""
    s = dataclasses.replace(
        s,
        zone=(Zone.KERNEL,) * 4,
        pages=(Page.FREE, Page.FREE, Page.FREE, Page.FREE, Page.UNMOVABLE),
    )
    ((_, t),) = m.steps_of("run_wq", s)
    assert t.rolled_back == "fake offline"
    assert t.bb == (BB.FAKE_OFFLINE, BB.ADDED) and t.run.bb == 0 and t.run.phase == 2
    assert t.pages == (Page.FREE, Page.OFFLINE, Page.OFFLINE, Page.FREE, Page.UNMOVABLE)


def test_memory_onlined_while_fake_offline_stays_page_offline() -> None:
    """While bb0 waits for offline_and_remove_memory (the mutex dropped), user space onlines
    its second memory block: the online callback keeps it PageOffline. The removal fails in
    the last pass: both are fake-onlined, bb0 is ADDED, the pass ends (-EBUSY, the timer)."""
    m = model()
    s = _state(
        m,
        bb=(BB.FAKE_OFFLINE,),
        plugged=1,
        requested=0,
        dev_plugged=(True,),
        run=Run(pc=Pc.REMOVE, op=Op.REMOVED, bb=0, phase=2, nb=1),
        zone=(Zone.KERNEL, Zone.OFFLINE),
        pages=(Page.FREE, Page.OFFLINE, Page.NONE),
    )
    steps = {a["zone"]: t for a, t in m.steps_of("online_block", s)}
    assert steps["movable"].pages == (Page.FREE, Page.OFFLINE, Page.OFFLINE)
    ((_, t),) = m.steps_of("offline_and_remove_fails", steps["movable"])
    assert t.pages == (Page.FREE, Page.FREE, Page.FREE)
    assert t.bb == (BB.ADDED,) and t.rolled_back == "removal"
    assert t.run.pc is Pc.IDLE and t.timer


def test_config_is_validated() -> None:
    cls = get_model("virtio_mem_bbm")
    with pytest.raises(UsageError):
        make_config(cls, None, {"big_blocks": "0"})
    with pytest.raises(UsageError):
        make_config(cls, None, {"offline_threshold": "1"})
