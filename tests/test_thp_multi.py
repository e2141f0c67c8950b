"""thp_multi: the THP split taken apart into its steps, against two vCPUs, userfaultfd in
MISSING / WP / MINOR mode, a GUP pin, a poisoned subpage and mlock.

Exact figures of the upstream design; the witness behind every trigger; every bad variant
fails its property with its shortest trace, which replays from ITF; the stories the kernel
code is written for (a pin taken between can_split_folio and unmap_folio, memory_failure
on a pinned THP, mlock after a discard, a vCPU waiting on a migration entry); what dropping
each fairness assumption reveals; and that symmetry reduction keeps the verdicts.
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
from hintspec.models.thp_multi import Kind, Outcome, Run, Split, State, ThpMulti, Uffd
from hintspec.traces.files import to_itf, trace_from_itf
from hintspec.traces.replay import replay
from hintspec.traces.trace import Trace

WRONG_KIND = "no wrong fault kind is delivered"
MINOR = "userfaultfd arms MINOR mode only on shmem or hugetlbfs"
PINNED = "no pinned page is replaced"
POISON = "no poisoned page is read"
LOCKED = "no mlocked page is replaced by the zeropage"
READS = "every access reads what was last written"
SPLIT_DONE = "a vCPU waiting on a split is eventually woken"
SERVED = "a userfault is eventually served"


def model(variant: str = "upstream", **config: Any) -> ThpMulti:
    return ThpMulti(make_config(ThpMulti, variant, config))


@cache
def _result(variant: str, items: tuple[tuple[str, Any], ...]) -> CheckResult:
    return check(model(variant, **dict(items)))


def result(variant: str = "upstream", **config: Any) -> CheckResult:
    return _result(variant, tuple(sorted(config.items())))


@cache
def upstream_states() -> frozenset[State]:
    return frozenset(explore(model()).states)


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
        20870,
        112954,
        19,
    )
    assert res.complete and not res.failing and not res.vacuous
    assert not res.never_fired, res.never_fired


@pytest.mark.parametrize(
    ("witness", "length"),
    [
        ("a THP forms", 1),
        ("a split happens", 2),
        ("a zero subpage is replaced by the shared zeropage", 2),
        ("a split fails on a pinned folio", 3),
        ("a vCPU waits on a split", 5),
        ("a userfault is raised", 2),
        ("a WP fault is raised", 3),
        ("a MINOR registration is asked for", 1),
        ("a page is pinned", 2),
        ("a subpage is poisoned", 2),
        ("a split keeps a zero subpage it may not remap", 3),
        ("the shrinker splits a THP", 5),
        ("a THP is partially mapped", 2),
        ("a poisoned subpage stays mapped in its THP", 3),
        ("mlock() populates the VMA", 2),
    ],
)
def test_every_witness_is_reached(witness: str, length: int) -> None:
    assert len(trace_of(result(), witness)) == length


def test_every_situational_invariant_names_its_trigger() -> None:
    always = [p for p in ThpMulti.properties if p.kind.value == "always"]
    assert {p.name for p in always if p.trigger is None} == {READS}


def test_minor_mode_is_refused_on_anonymous_memory() -> None:
    t = trace_of(result(), "a MINOR registration is asked for")
    assert t.steps[1].args == {"mode": "MINOR", "result": "EINVAL: MINOR needs shmem/hugetlbfs"}
    assert t.steps[1].state.uffd is Uffd.MINOR_REFUSED


# -- the stories the kernel's checks are written for --------------------------------------


def test_a_pin_taken_after_can_split_folio_makes_the_split_fail_and_keeps_the_page() -> None:
    """can_split_folio saw no pin; the pin comes; unmap_folio keeps the entries of the
    maybe-pinned folio (folio_try_share_anon_rmap_pmd fails) and folio_ref_freeze fails:
    the failure path remaps nothing to the zeropage."""
    states = upstream_states()
    late = [
        s
        for s in states
        if s.split is Split.UNMAPPED and s.pin >= 0 and s.pte[s.pin].kind is Kind.THP
    ]
    assert late, "no pin between the check and the unmap is reachable"
    assert all(e.kind is not Kind.MIGRATION for s in late for e in s.pte)
    m = model()
    for s in late:
        [(args, t)] = m.steps_of("folio_ref_freeze", s)
        assert args["result"] == "pinned: -EAGAIN, entries restored"
        assert t.pte[s.pin] == s.pte[s.pin] and t.last_split is Outcome.FAILED


def test_memory_failure_on_a_pinned_thp_leaves_a_poisoned_folio_the_shrinker_skips() -> None:
    states = upstream_states()
    poisoned_thps = [s for s in states if s.thp and s.thp_poisoned]
    assert poisoned_thps and all(s.pin >= 0 for s in poisoned_thps)
    assert not any(s.poison_read for s in states)
    assert any(s.pte[s.poison].kind is Kind.HWPOISON for s in states if s.poison >= 0)


def test_mlock_after_a_discard_keeps_the_zero_subpage_of_the_mlocked_thp() -> None:
    """A discard makes the THP partially mapped; mlock() locks it and fills the hole; the
    shrinker splits the partially mapped, mlocked THP and keeps its zero subpage."""
    kept = [s for s in upstream_states() if s.last_split is Outcome.KEPT_ZERO]
    assert kept
    assert all(e.kind is not Kind.ZERO for s in kept if s.populated_locked for e in s.pte)


def test_a_vcpu_that_meets_the_split_waits_and_raises_no_userfault() -> None:
    states = upstream_states()
    waiting = [s for s in states if any(v.run is Run.MIGWAIT for v in s.vcpus)]
    assert any(s.uffd & Uffd.MISSING for s in waiting)
    # It sleeps on the locked folio (migration_entry_wait_on_locked) until the split ends,
    # even if a discard zaps the migration entry meanwhile.
    assert all(s.split is Split.UNMAPPED for s in waiting)


# -- the bad variants -----------------------------------------------------------------------

CASES = [
    # variant, property, shortest trace length
    ("split_unmaps_to_none", WRONG_KIND, 6),
    ("split_unmaps_to_none", READS, 5),
    ("uffd_minor_on_anon", MINOR, 1),
    ("split_trusts_can_split_folio", PINNED, 6),
    ("split_trusts_can_split_folio", READS, 8),
    ("remap_reads_poison", POISON, 2),
    ("underused_reads_poison", POISON, 4),
    ("zeropage_ignores_mlock", LOCKED, 3),
    (
        "splits_every_queued_thp",
        "the shrinker splits a fully mapped THP only when it is underused",
        2,
    ),
    ("partial_unmap_not_queued", "a partially mapped THP waits on the split queue", 3),
]


@pytest.mark.parametrize(
    ("variant", "name", "length"), CASES, ids=[f"{v}-{n}" for v, n, _ in CASES]
)
def test_bad_variant_fails_with_shortest_trace(variant: str, name: str, length: int) -> None:
    res = result(variant)
    assert prop(res, name).verdict is Verdict.VIOLATED
    t = trace_of(res, name)
    assert len(t) == length
    outcome = replay(trace_from_itf(to_itf(t)), model(variant))
    assert outcome.ok, outcome.message


def test_every_safety_property_has_a_variant_that_breaks_it() -> None:
    safety = {p.name for p in ThpMulti.properties if p.kind.value == "always"}
    assert safety <= {name for _v, name, _l in CASES}


def test_the_pin_race_is_check_pin_unmap_freeze() -> None:
    t = trace_of(result("split_trusts_can_split_folio"), PINNED)
    actions = [s.action for s in t.steps[1:]]
    assert actions[-4:] == [
        "deferred_split_scan",
        "pin_user_pages",
        "unmap_folio",
        "folio_ref_freeze",
    ]
    last = t.steps[-1].state
    assert last.pte[last.pin].kind is Kind.ZERO


def test_a_vcpu_racing_a_split_without_migration_entries_takes_a_missing_fault() -> None:
    t = trace_of(result("split_unmaps_to_none"), WRONG_KIND)
    actions = [s.action for s in t.steps[1:]]
    assert "uffd_register" in actions and actions[-2:] == ["unmap_folio", "vcpu_access"]
    assert t.steps[-1].args["result"] == "MISSING fault"


# -- fairness -------------------------------------------------------------------------------


def test_liveness_holds_under_its_stated_fairness() -> None:
    res = result()
    assert prop(res, SPLIT_DONE).verdict is Verdict.HOLDS
    assert prop(res, SERVED).verdict is Verdict.HOLDS


def test_dropping_the_splitting_threads_fairness_lets_a_vcpu_wait_for_ever() -> None:
    """Without it the other vCPU (or the device) keeps running while the split never
    reaches folio_ref_freeze: the waiting vCPU is never woken."""

    class Unfair(ThpMulti):
        @leads_to(
            SPLIT_DONE,
            when=lambda self, s: any(v.run is Run.MIGWAIT for v in s.vcpus),
            fairness={},
        )
        def split_completes(self, s: State) -> bool:
            return not any(v.run is Run.MIGWAIT for v in s.vcpus)

    res = check(Unfair(make_config(Unfair, "upstream", {})))
    t = trace_of(res, SPLIT_DONE)
    assert t.loop is not None
    loop = [s.action for s in t.steps[t.loop + 1 :]] + [t.loop_action]
    assert "folio_ref_freeze" not in loop


def test_dropping_the_monitors_fairness_leaves_a_userfault_unserved() -> None:
    class Unfair(ThpMulti):
        @leads_to(
            SERVED,
            when=lambda self, s: any(v.run is Run.FAULTED for v in s.vcpus),
            fairness={},
        )
        def fault_served(self, s: State) -> bool:
            return not any(v.run is Run.FAULTED for v in s.vcpus)

    res = check(Unfair(make_config(Unfair, "upstream", {})))
    t = trace_of(res, SERVED)
    assert t.loop is not None
    loop = [s.action for s in t.steps[t.loop + 1 :]] + [t.loop_action]
    assert not {"uffdio_copy", "uffdio_unprotect"} & set(loop)


# -- symmetry, configuration, rendering -----------------------------------------------------


def test_symmetry_reduction_keeps_every_verdict() -> None:
    reduced = result()
    full = check(model(), symmetry=False)
    assert full.distinct_states > reduced.distinct_states
    assert {p.name: p.verdict for p in full.properties} == {
        p.name: p.verdict for p in reduced.properties
    }


@pytest.mark.parametrize(
    "config", [{"subpages": 1}, {"vcpus": 0}, {"vcpus": 4}, {"max_ptes_none": 2}]
)
def test_bad_configuration_is_a_usage_error(config: dict[str, Any]) -> None:
    with pytest.raises(UsageError):
        make_config(ThpMulti, None, config)


def test_frame_map_and_view() -> None:
    m = model()
    [s] = list(m.initial_states())
    assert m.frame_map(s) == "..   wp 00"
    assert m.view(s)["vcpus"] == "running; running"
