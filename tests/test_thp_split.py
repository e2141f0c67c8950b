"""thp_split: the THP underused split against QEMU postcopy and background snapshot.

Exact figures of the upstream design, the failing property and shortest trace of every bad
variant (each replays from its ITF form), the v1 trace in the order of the July 2024 review
(write, NOHUGEPAGE + discard, split, register, access), the liveness lassos, what dropping
each fairness assumption reveals, and the mlocked / mm_forbids_zeropage configurations
(rule 4 of the model docstring; the rule itself is checked by tests/test_thp_multi.py).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest
from hintspec.engine.check import check
from hintspec.engine.explore import explore
from hintspec.engine.results import CheckResult, PropertyResult, Verdict
from hintspec.lang.configs import make_config
from hintspec.lang.errors import UsageError
from hintspec.lang.model import leads_to
from hintspec.models.thp_split import Kind, Phase, Run, Stat, State, ThpSplit
from hintspec.traces.files import to_itf, trace_from_itf
from hintspec.traces.replay import replay
from hintspec.traces.text import render_trace
from hintspec.traces.trace import Trace

WRONG_FAULT = "no wrong uffd fault"
IGNORED = "no vCPU waits on a fault the handler will ignore"
SERVED = "a faulting vCPU is eventually served"
POPULATED = "a populated page stays mapped until it is discarded"
RECEIVED = "a page QEMU has received stays mapped"
DISCARDED = "a discarded page stays empty until QEMU places it"
READS = "every access reads what was last written"
TRACKING = "every write to a write-protected page raises a WP fault first"
PROTECTED = "a page QEMU has not saved keeps its write protection"
RECLAIMED = "an all-zero THP on the split queue is eventually split"
WASTED = "the shrinker splits a fully mapped THP only when it is underused"
QUEUED = "a partially mapped THP waits on the split queue"


def model(variant: str = "upstream", **config: Any) -> ThpSplit:
    return ThpSplit(make_config(ThpSplit, variant, config))


@cache
def _result(variant: str, items: tuple[tuple[str, Any], ...]) -> CheckResult:
    return check(model(variant, **dict(items)))


def result(variant: str = "upstream", **config: Any) -> CheckResult:
    return _result(variant, tuple(sorted(config.items())))


@cache
def _states(variant: str, items: tuple[tuple[str, Any], ...]) -> frozenset[State]:
    return frozenset(explore(model(variant, **dict(items))).states)


def states(variant: str = "upstream", **config: Any) -> frozenset[State]:
    return _states(variant, tuple(sorted(config.items())))


def prop(res: CheckResult, name: str) -> PropertyResult:
    return next(p for p in res.properties if p.name == name)


def trace_of(res: CheckResult, name: str) -> Trace:
    found = prop(res, name).trace
    assert found is not None, name
    return found


# -- the upstream design ------------------------------------------------------------------


def test_upstream_holds_with_exact_figures() -> None:
    res = result()
    assert (res.verdict, res.distinct_states, res.transitions, res.depth) == (
        Verdict.HOLDS,
        40492,
        160021,
        20,
    )
    assert res.complete and not res.failing
    assert not res.never_fired, res.never_fired


@pytest.mark.parametrize(
    ("witness", "length", "last_action"),
    [
        ("a THP forms", 1, "ram_load_precopy"),
        ("a split happens", 2, "deferred_split_scan"),
        ("a THP is partially mapped", 2, "loadvm_postcopy_ram_handle_discard"),
        ("a zero subpage is replaced by the shared zeropage", 2, "deferred_split_scan"),
        ("a MISSING fault is raised", 3, "vcpu_access"),
        ("a MISSING fault is served", 4, "postcopy_ram_fault_thread"),
        ("a WP fault is served", 4, "ram_save_host_page"),
    ],
)
def test_every_witness_is_reached(witness: str, length: int, last_action: str) -> None:
    w = trace_of(result(), witness)
    assert (len(w), w.steps[-1].action) == (length, last_action)


def test_ghosts_add_no_states_to_the_correct_design() -> None:
    """The ghosts are functions of the real state in the upstream design: `populated` is
    "the entry is not none", and no bad read or untracked write is ever recorded."""
    for s in states():
        assert s.populated == tuple(e.kind is not Kind.NONE for e in s.pte)
        assert (s.misread, s.untracked) == (-1, -1)


def test_mm_forbids_zeropage_never_maps_the_zeropage() -> None:
    res = result(mm_forbids_zeropage=True)
    assert res.failing == ["a zero subpage is replaced by the shared zeropage"]
    seen = states(mm_forbids_zeropage=True)
    assert not any(e.kind is Kind.ZERO for s in seen for e in s.pte)
    assert any(Stat.THP_SPLIT in s.stats for s in seen)


def test_mlocked_snapshot_never_remaps_and_postcopy_is_unlocked() -> None:
    """mlocked applies to the snapshot user only (QEMU munlockall()s a postcopy
    destination): there the shrinker skips the fully mapped mlocked THPs and the balloon's
    MADV_DONTNEED is refused, so no THP of the locked VMA is split or zero-remapped; the
    all-zero THP of the liveness rule arises only there, so that rule is vacuous."""
    res = result(mlocked=True)
    assert (res.distinct_states, res.failing, res.vacuous) == (
        7102,
        [],
        ["an all-zero THP on the split queue is eventually split"],
    )
    assert res.never_fired == ["balloon_inflate"]
    seen = states(mlocked=True)
    snapshot = [s for s in seen if s.phase >= Phase.RUNNING]
    assert not any(Stat.ZEROPAGE_REMAP in s.stats for s in snapshot)
    assert any(Stat.ZEROPAGE_REMAP in s.stats for s in seen if s.phase < Phase.RUNNING)


# -- the bad variants -----------------------------------------------------------------------

NO_BALLOON = {"balloon": False}
SNAPSHOT = {"user": "snapshot", "balloon": False}
"""Bugs that need no balloon are shown without it (a third of the states)."""

CASES = [
    # variant, config, property, shortest trace length
    ("v1_pte_none", {"user": "postcopy"}, WRONG_FAULT, 6),
    ("v1_pte_none", {"user": "postcopy"}, IGNORED, 6),
    ("v1_pte_none", {"user": "postcopy"}, POPULATED, 4),
    ("v1_pte_none", {"user": "postcopy"}, RECEIVED, 4),
    ("v1_pte_none", {"user": "postcopy"}, SERVED, 10),
    ("v1_pte_none", {"user": "postcopy"}, "no deadlock", 9),
    ("v1_pte_none", NO_BALLOON, POPULATED, 2),
    ("v1_pte_none", NO_BALLOON, PROTECTED, 4),
    ("v1_pte_none", NO_BALLOON, TRACKING, 5),
    ("khugepaged_ignores_uffd", SNAPSHOT, PROTECTED, 5),
    ("khugepaged_ignores_uffd", SNAPSHOT, TRACKING, 6),
    ("zeropage_drops_uffd_wp", {**SNAPSHOT, "max_ptes_none": 1}, PROTECTED, 4),
    ("zeropage_drops_uffd_wp", {**SNAPSHOT, "max_ptes_none": 1}, TRACKING, 5),
    ("qemu_skips_nhp_range", {"user": "postcopy"}, DISCARDED, 4),
    ("qemu_skips_nhp_range", {"user": "postcopy"}, READS, 6),
    ("underused_511_exit", NO_BALLOON, RECLAIMED, 3),
    ("splits_every_queued_thp", SNAPSHOT, WASTED, 2),
    ("partial_unmap_not_queued", {"user": "snapshot"}, QUEUED, 3),
    ("balloon_in_postcopy", {"user": "postcopy"}, RECEIVED, 4),
    ("balloon_in_postcopy", {"user": "postcopy"}, IGNORED, 5),
    ("balloon_in_postcopy", {"user": "postcopy"}, SERVED, 10),
    ("balloon_in_snapshot", {"user": "snapshot"}, PROTECTED, 3),
    ("balloon_in_snapshot", {"user": "snapshot"}, TRACKING, 4),
]


@pytest.mark.parametrize(
    ("variant", "config", "name", "length"),
    CASES,
    ids=[f"{v}-{n}" for v, _c, n, _l in CASES],
)
def test_bad_variant_fails_with_shortest_trace(
    variant: str, config: dict[str, Any], name: str, length: int
) -> None:
    res = result(variant, **config)
    assert prop(res, name).verdict is Verdict.VIOLATED
    t = trace_of(res, name)
    assert len(t) == length
    again = trace_from_itf(to_itf(t))
    outcome = replay(again, model(variant, **config))
    assert outcome.ok, outcome.message


def test_every_property_has_a_variant_that_breaks_it() -> None:
    broken = {name for _v, _c, name, _l in CASES}
    safety_and_liveness = {p.name for p in ThpSplit.properties if p.kind.value != "sometimes"}
    assert safety_and_liveness <= broken


def test_the_good_variants_of_one_user_do_not_leak_into_the_other() -> None:
    """MADV_NOHUGEPAGE shields postcopy from khugepaged; the snapshot has no MISSING mode."""
    assert result("khugepaged_ignores_uffd", user="postcopy").failing == ["a WP fault is served"]
    assert result("zeropage_drops_uffd_wp", user="postcopy").failing == ["a WP fault is served"]


# -- the v1 story, as the review told it ----------------------------------------------------

QEMU_ORDER = [
    "ram_load_precopy",  # precopy writes the received pages (a THP forms)
    "loadvm_postcopy_ram_handle_discard",  # MADV_NOHUGEPAGE, then the discards
    "postcopy_ram_incoming_setup",  # UFFDIO_REGISTER MISSING
    "vcpu_access",  # the guest touches a received zero page
]


def test_v1_trace_follows_the_qemu_order() -> None:
    t = trace_of(result("v1_pte_none", user="postcopy"), WRONG_FAULT)
    actions = [s.action for s in t.steps[1:]]
    assert actions == [
        "ram_load_precopy",
        "ram_load_precopy",
        "loadvm_postcopy_ram_handle_discard",
        "deferred_split_scan",
        "postcopy_ram_incoming_setup",
        "vcpu_access",
    ]
    user = [a for a in actions if a in QEMU_ORDER]
    assert sorted(set(user), key=QEMU_ORDER.index) == QEMU_ORDER
    assert user == sorted(user, key=QEMU_ORDER.index)
    args = [s.args for s in t.steps[1:]]
    assert args[0] == {"page": 0, "value": "data", "result": "THP fault"}
    assert args[1]["value"] == "zero"
    assert args[2] == {"pages": (2, 3), "result": "MADV_NOHUGEPAGE, then MADV_DONTNEED"}
    assert "zero subpage 1 -> pte_none" in args[3]["result"]
    assert args[5] == {"page": 1, "op": "read", "result": "MISSING fault"}
    last = t.steps[-1].state
    assert last.received[1] and last.pte[1].kind is Kind.NONE


def test_v1_trace_shows_entries_and_receive_bitmap_at_every_step() -> None:
    m = model("v1_pte_none", user="postcopy")
    t = trace_of(result("v1_pte_none", user="postcopy"), WRONG_FAULT)
    text = render_trace(t, m)
    frames = [line.strip() for line in text.splitlines() if line.strip().startswith("frames")]
    assert frames == [
        "frames  ....   recv 0000",
        "frames  Tttt   recv 1000",
        "frames  Tttt   recv 1100",
        "frames  Tt..   recv 1100",
        "frames  P...   recv 1100",
        "frames  P...   recv 1100",
        "frames  P...   recv 1100",
    ]
    assert "vma: THP allowed -> MADV_NOHUGEPAGE" in text
    assert "MISSING fault on read of page 1" in text
    assert all(len(line) <= 80 for line in text.splitlines())


def test_v1_stuck_vcpu_lasso() -> None:
    t = trace_of(result("v1_pte_none", user="postcopy"), SERVED)
    handled = [s for s in t.steps if s.action == "postcopy_ram_fault_thread"]
    assert [s.args["result"] for s in handled] == [
        "already received: not requested, vCPU not woken"
    ]
    assert t.loop == len(t.steps) - 1 and t.loop_action is None  # nothing is left to do
    outcome = replay(trace_from_itf(to_itf(t)), model("v1_pte_none", user="postcopy"))
    assert outcome.ok, outcome.message


def test_511_lasso_leaves_the_all_zero_thp_for_ever() -> None:
    t = trace_of(result("underused_511_exit", **NO_BALLOON), RECLAIMED)
    assert [(s.action, s.args.get("result")) for s in t.steps[1:]] == [
        ("vcpu_access", "THP fault"),
        ("deferred_split_scan", "not underused: dequeued"),
    ]
    assert t.loop == 2 and t.loop_action == "vcpu_access"
    assert all(e.kind is Kind.THP and not e.data for e in t.steps[-1].state.pte)


# -- configuration and rendering ------------------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [{"image": "dx"}, {"subpages": 1}, {"max_ptes_none": 4}, {"regions": 0}, {"user": "x"}],
)
def test_bad_configuration_is_a_usage_error(config: dict[str, Any]) -> None:
    with pytest.raises(UsageError):
        make_config(ThpSplit, None, config)


def test_frame_map_of_the_initial_states() -> None:
    m = model(regions=2)
    postcopy, snapshot = list(m.initial_states())
    assert m.frame_map(postcopy) == ".... ....   recv 0000 0000"
    assert m.frame_map(snapshot) == ".... ....   wp 0000 0000   unsaved 0000 0000"
    assert m.view(postcopy)["guest memory"] == "d0d0 d0d0"


# -- the virtio-balloon and QEMU's inhibit -------------------------------------------------


def test_balloon_in_postcopy_discards_a_received_page() -> None:
    """Without virtio_balloon_inhibited() during postcopy: the guest inflates a page it
    received in precopy; the discard keeps its receive-bitmap bit, so its next fault is
    dropped as already served."""
    t = trace_of(result("balloon_in_postcopy", user="postcopy"), IGNORED)
    assert [s.action for s in t.steps[1:]] == [
        "ram_load_precopy",
        "loadvm_postcopy_ram_handle_discard",
        "postcopy_ram_incoming_setup",
        "balloon_inflate",
        "vcpu_access",
    ]
    last = t.steps[-1].state
    assert last.received[0] and last.pte[0].kind is Kind.NONE
    assert last.vcpu.run is Run.FAULTED and last.vcpu.page == 0


def test_upstream_balloon_inflates_only_while_the_snapshot_has_not_started() -> None:
    seen = states()
    inflated = {s.phase for s in seen if s.inflated}
    assert Phase.RUNNING in inflated
    assert not inflated & {Phase.POSTCOPY, Phase.DISCARDED}
    # Once the snapshot starts, a page inflated before it is a hole that the preparation
    # fills: the discard never meets a protected page.
    assert all(not s.inflated or s.phase is not Phase.PRECOPY for s in seen)


# -- the fairness audit ---------------------------------------------------------------------


def test_serving_a_fault_needs_no_fairness_at_all() -> None:
    """The audit of the fairness an earlier version assumed (the fault thread, the
    source's push, the snapshot's saving, each weakly fair): the model's property assumes
    none of them and still holds at the default config -- no cycle exists while the vCPU
    sleeps, so none of the assumptions was load-bearing."""
    spec = next(p for p in ThpSplit.properties if p.name == SERVED)
    assert spec.fairness == {}
    assert prop(result(), SERVED).verdict is Verdict.HOLDS


def test_dropping_the_shrinkers_fairness_lets_an_all_zero_thp_stay() -> None:
    """Without memory pressure (the shrinker not weakly fair) the guest can read its
    all-zero THP for ever while the shrinker never runs."""

    class NoPressure(ThpSplit):
        @leads_to(
            RECLAIMED,
            when=lambda self, s: 0 in s.split_queue and self._all_zero_thp(s, 0),
            fairness={},
        )
        def memory_reclaimed(self, s: State) -> bool:
            return not self._all_zero_thp(s, 0)

    res = check(NoPressure(make_config(NoPressure, "upstream", SNAPSHOT)))
    assert prop(res, RECLAIMED).verdict is Verdict.VIOLATED
    t = trace_of(res, RECLAIMED)
    loop = [s.action for s in t.steps[t.loop + 1 :]] + [t.loop_action]
    assert "deferred_split_scan" not in loop
    assert prop(result(**SNAPSHOT), RECLAIMED).verdict is Verdict.HOLDS
