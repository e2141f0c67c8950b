"""page_reporting: exact figures of the upstream design, every bad variant caught in its
property with its shortest trace, traces that replay and render, the Offline design, the
reporting-disabled configuration, upstream's liveness gap, and the shared properties."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest
from hintspec.engine.check import check
from hintspec.engine.results import CheckResult, PropertyResult, Verdict
from hintspec.lang.configs import make_config
from hintspec.lang.virtqueue import Virtqueue
from hintspec.models.page_reporting import (
    Content,
    Discard,
    PageReporting,
    Pc,
    Phase,
    State,
    Word,
)
from hintspec.properties import hinting, memory
from hintspec.traces.files import to_itf, trace_from_itf
from hintspec.traces.replay import replay
from hintspec.traces.text import render_trace
from hintspec.traces.trace import Trace

Config = tuple[tuple[str, Any], ...]

OWNERSHIP = "no page is lost or owned twice"
FREE_HEAD = "a reported page is a free buddy head"
CAP = "at most capacity blocks are isolated"
ACK = "a reported page goes back to the allocator only after the host acked it"
DATA_LOSS = "the host never discards data the guest is using"
POISON = "a free page reads back what page poisoning wrote"
DOUBLE = "a block is not reported again while it stays free and unmerged"
MARK = "every frame of a marked block was handed to the host and not written since"
QUIET = (
    "once the guest is quiet with a request pending, every free block at or above the "
    "reporting order gets reported"
)
NOTIFY = "a notify is never lost: a pending request is served by a new pass"
GAP = (
    "upstream's gap: the worker stops for good with a free block at or above the reporting "
    "order unreported"
)
REPORTED = "a block gets reported"

R0: Config = (("report_order", 0),)
NO_RANDOM_DETOURS: Config = (("may_quiesce", False), ("report_errors", False))


def _model(variant: str = "upstream", config: Config = ()) -> PageReporting:
    return PageReporting(make_config(PageReporting, variant, dict(config)))


@cache
def _check(variant: str = "upstream", config: Config = (), max_depth: int | None = None) -> Any:
    return check(_model(variant, config), max_depth=max_depth)


def _prop(result: CheckResult, name: str) -> PropertyResult:
    return next(p for p in result.properties if p.name == name)


def _trace(result: CheckResult, name: str) -> Trace:
    trace = _prop(result, name).trace
    assert trace is not None, name
    return trace


def _flat(text: str) -> str:
    return " ".join(text.split())


# -- the upstream design -------------------------------------------------------------------


def test_upstream_default_figures_and_every_property_holds() -> None:
    result = _check()
    assert (result.distinct_states, result.transitions, result.depth) == (11046, 33731, 36)
    assert result.verdict is Verdict.HOLDS
    assert all(p.verdict is Verdict.HOLDS for p in result.properties)
    assert result.never_fired == []


def test_witnesses_replay() -> None:
    result = _check()
    for p in result.properties:
        if p.kind == "sometimes":
            trace = _trace(result, p.name)
            assert replay(trace, _model()).ok, p.name


def test_the_offline_design_has_the_same_state_graph_as_upstream() -> None:
    # One batch in flight and each list walked once between reports: two marked buddies
    # never meet, so the Offline merge rule never keeps a mark upstream would drop.
    up, off = _check(), _check("offline")
    assert (off.distinct_states, off.transitions, off.depth) == (
        up.distinct_states,
        up.transitions,
        up.depth,
    )
    assert off.verdict is Verdict.HOLDS


def test_poisoning_without_page_poison_disables_reporting() -> None:
    # virtballoon_validate clears REPORTING: nothing is ever reported, and the witnesses
    # of reporting say so (this is why the config has no upstream manifest entry).
    config: Config = (("free_init", "POISON"), ("page_poison", False))
    model = _model("upstream", config)
    assert not model.reporting
    s = next(iter(model.initial_states()))
    assert s.word is Word.IDLE and not s.work_queued
    result = _check("upstream", config)
    assert set(result.failing) == {
        REPORTED,
        "a reported block is allocated again",
        "a report fails and its pages go back unreported",
        "a notify arrives during a pass",
        "the guest goes quiet with a request pending",
    }
    assert all(p.verdict is Verdict.HOLDS for p in result.properties if p.kind == "always")


def test_upstream_gap_a_failed_report_is_not_retried() -> None:
    trace = _trace(_check(), GAP)
    assert [s.action for s in trace.steps[1:]] == [
        "worker_start",
        "walk",
        "walk",
        "report",
        "finish",
        "quiesce",
    ]
    assert trace.steps[4].args["ok"] is False


def test_upstream_gap_split_halves_are_not_reported() -> None:
    config: Config = (("report_errors", False),)
    model = _model("upstream", config)
    trace = _trace(_check("upstream", config), GAP)
    assert len(trace) == 9
    assert replay(trace, model).ok
    final: State = trace.steps[-1].state
    assert model.is_terminal(final)
    # expand() left the order-1 half of the reported order-2 block unreported.
    assert final.free_area[1] == (2,) and 2 not in final.reported
    assert [s.action for s in trace.steps[1:]][-3:] == ["alloc", "finish", "quiesce"]


# -- bad variants: each caught in its property with its shortest trace ---------------------

SAFETY = [
    ("alloc_keeps_reported", (("may_quiesce", False),), {FREE_HEAD: 7, MARK: 9}),
    ("merge_keeps_reported", R0 + NO_RANDOM_DETOURS, {FREE_HEAD: 9, MARK: 12}),
    ("reuse_before_ack", (), {ACK: 5, MARK: 5, DATA_LOSS: 8}),
    ("isolate_ignores_cap", R0, {CAP: 4}),
    ("walk_ignores_reported", R0 + NO_RANDOM_DETOURS, {DOUBLE: 11}),
    ("no_leftover_report", (), {OWNERSHIP: 4}),
    ("no_poison_check", (("free_init", "POISON"), ("page_poison", False)), {POISON: 5}),
    ("offline_mixed_merge", NO_RANDOM_DETOURS, {MARK: 9}),
]


@pytest.mark.parametrize(("variant", "config", "lengths"), SAFETY, ids=[v for v, _c, _l in SAFETY])
def test_bad_variant_violates_its_property_with_the_shortest_trace(
    variant: str, config: Config, lengths: dict[str, int]
) -> None:
    # BFS to the depth of the longest expected trace finds every one of them, shortest first.
    result = _check(variant, config, max(lengths.values()))
    assert result.verdict is Verdict.VIOLATED
    model = _model(variant, config)
    for name, length in lengths.items():
        p = _prop(result, name)
        assert p.verdict is Verdict.VIOLATED, name
        trace = _trace(result, name)
        assert len(trace) == length, (name, len(trace))
        assert replay(trace, model).ok, name
        assert replay(trace_from_itf(to_itf(trace)), model).ok, name
        text = _flat(render_trace(trace, model))
        assert f"Violated: '{name}'" in text
        assert str(p.explanation) in text


LIVENESS = [
    ("atomic_set_idle", (), {QUIET: 9, NOTIFY: 9}),
    ("no_budget", R0, {NOTIFY: 20}),
]


@pytest.mark.parametrize(
    ("variant", "config", "lengths"), LIVENESS, ids=[v for v, _c, _l in LIVENESS]
)
def test_bad_variant_violates_liveness_with_a_lasso(
    variant: str, config: Config, lengths: dict[str, int]
) -> None:
    result = _check(variant, config)
    assert sorted(result.failing) == sorted(lengths)
    model = _model(variant, config)
    for name, length in lengths.items():
        trace = _trace(result, name)
        assert trace.loop is not None
        assert len(trace) == length
        assert replay(trace, model).ok
        assert f"Violated: '{name}'" in _flat(render_trace(trace, model))


def test_atomic_set_idle_loses_the_notify_made_during_the_pass() -> None:
    trace = _trace(_check("atomic_set_idle"), NOTIFY)
    states: list[State] = [s.state for s in trace.steps]
    # A free during the pass turns ACTIVE into REQUESTED without queueing the work ...
    during = next(i for i, s in enumerate(states) if s.word is Word.REQUESTED and s.pc != Pc.OFF)
    assert not states[during].work_queued
    # ... and the end of the pass overwrites it: the system stops with nothing queued.
    assert trace.loop_action is None
    assert states[-1].word is Word.IDLE and not states[-1].work_queued


def test_no_budget_lasso_keeps_one_pass_walking_order_0() -> None:
    trace = _trace(_check("no_budget", R0), NOTIFY)
    assert trace.loop is not None
    cycle = [s.state for s in trace.steps[trace.loop :]]
    assert all(s.pc is not Pc.OFF for s in cycle)
    assert "worker_start" not in [s.action for s in trace.steps[trace.loop + 1 :]]


# -- content and the host --------------------------------------------------------------------


def _state_with_data_on_the_ring(discard: Discard) -> tuple[PageReporting, State]:
    """The reuse-before-ack situation: frame 0 is allocated and written while a report of
    block 0/o1 still waits on the ring."""
    model = _model("reuse_before_ack", (("discard", discard.name),))
    s = next(iter(model.initial_states()))
    s = State(
        free_area=((1,), (), ()),
        reported=frozenset(),
        allocated=frozenset({(0, 0)}),
        content=(Content.DATA, Content.UNDEF, Content.UNDEF, Content.UNDEF),
        word=Word.IDLE,
        work_queued=False,
        pc=Pc.OFF,
        order=1,
        budget=None,
        sgl=(),
        err=False,
        vq=Virtqueue(size=1, avail=((0, 1),)),
        phase=Phase.RUNNING,
        handed=frozenset(),
        acked=frozenset(),
    )
    return model, s


def test_madv_dontneed_discards_the_data() -> None:
    model, s = _state_with_data_on_the_ring(Discard.DONTNEED)
    steps = model.steps_of("host_report", s)
    assert [a["zeroed"] for a, _t in steps] == [(0,)]
    after = steps[0][1]
    assert after.content[0] is Content.LOST
    assert "frame 0 (allocated block 0/o0)" in str(model.no_data_loss(after))
    assert model.frame_map(after)[0] == "!"


def test_madv_free_may_or_may_not_lose_the_data() -> None:
    model, s = _state_with_data_on_the_ring(Discard.FREE)
    outcomes = {a["zeroed"]: t.content[0] for a, t in model.steps_of("host_report", s)}
    assert outcomes == {(): Content.DATA, (0,): Content.LOST}


def test_poison_val_stops_qemu_from_discarding() -> None:
    model = _model("upstream", (("free_init", "POISON"),))
    assert model.reporting and not model.host_discards
    model = _model("upstream", (("free_init", "ZERO"),))
    assert model.reporting and model.host_discards  # init_on_free: poison_val is 0


def test_text_trace_shows_free_lists_and_frame_map() -> None:
    trace = _trace(_check("reuse_before_ack", (), 8), DATA_LOSS)
    text = render_trace(trace, _model("reuse_before_ack"))
    assert "free_lists = order 2: [0]" in text
    assert "frames  !hhh" in text
    assert all(len(line) <= 80 for line in text.splitlines())


def test_hypothesis_config_is_valid_and_big() -> None:
    model = _model("upstream", tuple(PageReporting.hypothesis_config.items()))
    assert model.config.frames >= 256
    s = next(iter(model.initial_states()))
    assert model.ownership(s) is True
    assert next(model.actions[i].name for i, _a, _t in model.successors(s)) == "alloc"


# -- the shared properties -----------------------------------------------------------------


def test_ownership_names_the_lost_and_the_doubly_owned_frame() -> None:
    assert memory.ownership(4, {"free": [(0, 1)], "allocated": [(2, 1)]}) is True
    lost = memory.ownership(4, {"free": [(0, 1)], "allocated": [(2, 0)]})
    assert lost == "frame 3 is in no container (lost): not free, not allocated"
    twice = memory.ownership(4, {"free": [(0, 2)], "isolated": [(2, 1)]})
    assert twice == "frame 2 is owned twice: in free block 0/o2 and in isolated block 2/o1"
    assert memory.ownership(4, {"free": [(1, 1), (0, 0), (3, 0)]}) == (
        "free block 1/o1 is not aligned to its size"
    )
    assert "outside frames 0..3" in str(memory.ownership(4, {"free": [(4, 0), (0, 2)]}))


def test_hinting_helpers_explain_what_breaks() -> None:
    assert hinting.in_flight_cap([(0, 0)], 1) is True
    assert hinting.in_flight_cap([(0, 0), (2, 1)], 1) == (
        "2 blocks are isolated (0/o0, 2/o1); the cap is 1"
    )
    assert hinting.ack_before_reuse([(0, 1)], {0, 1}, str) is True
    assert "frame 1 of block 0/o1 is back in the guest's use (1)" in str(
        hinting.ack_before_reuse([(0, 1)], {0}, str)
    )
    assert hinting.no_double_hint([(4, 2)], {(0, 2)}) is True
    assert "block 0/o2 is reported again" in str(hinting.no_double_hint([(0, 2)], {(0, 2)}))
    assert hinting.mark_is_meaningful([(0, 1)], {0, 1}, "PG_reported") is True
    assert hinting.mark_is_meaningful([(0, 1)], {0}, "PG_reported") == (
        "block 0/o1 carries PG_reported but its frame 1 was not handed to the host "
        "(or was written since)"
    )
