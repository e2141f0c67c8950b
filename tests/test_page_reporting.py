"""page_reporting: exact figures of the upstream design, the Offline merge rule firing with
two migratetypes, every bad variant caught in its property with its shortest trace, traces
that replay and render, the budget and its rerun, two zones, the host's page size, the
fairness audit, the reporting-disabled configuration, upstream's gap, and the shared
properties."""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest
from hintspec.cli.app import main
from hintspec.engine.check import check
from hintspec.engine.explore import explore
from hintspec.engine.liveness import check_liveness
from hintspec.engine.results import CheckResult, PropertyResult, Verdict
from hintspec.lang.configs import make_config
from hintspec.lang.errors import UsageError
from hintspec.lang.virtqueue import Virtqueue
from hintspec.models.page_reporting import (
    Content,
    Discard,
    Migratetype,
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
POISON = "a free page reads back what the guest wrote when it freed it"
DOUBLE = "a block is not reported again while it stays free and unmerged"
MARK = "every frame of a marked block was handed to the host and not written since"
GAVE_BACK = "a reported block gives its memory back to the host"
IDLE = "the worker does not go idle while a block the guest freed waits for its report"
FREED = (
    "every block at or above the reporting order that the guest frees and that stays free "
    "gets reported, or merged into a reported one"
)
NOTIFY = "a notify is never lost: a pending request is served by a new pass"
BUSY = "the worker sleeps while the host stalls: no step that changes nothing"
MOVABLE_ZONE = "ZONE_MOVABLE holds only movable memory: its pageblocks and free lists are MOVABLE"
GAP = (
    "upstream's gap: the worker stops for good with a free block at or above the reporting "
    "order unreported"
)

ONE_ZONE: Config = (("movable_frames", 0),)
ONE_TYPE: Config = (
    ("frames", 4),
    ("movable_frames", 0),
    ("capacity", 1),
    ("unmovable_pageblocks", 0),
    ("unmovable_allocs", False),
)
BUDGET: Config = (
    ("frames", 8),
    ("movable_frames", 0),
    ("fragmented", True),
    ("clients", False),
    ("capacity", 1),
)


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


Step = tuple[str, dict[str, Any], State]


def _first_path(
    model: PageReporting, found: Callable[[str, dict[str, Any], State, State], bool]
) -> list[Step]:
    """The shortest path (action, args, state after) to a step ``found(action, args,
    before, after)`` accepts (breadth first)."""
    start = next(iter(model.initial_states()))
    parent: dict[State, Step | None] = {start: None}
    seen_from: dict[State, State] = {}
    queue = deque([start])
    while queue:
        s = queue.popleft()
        for index, args, t in model.successors(s):
            name = model.actions[index].name
            if found(name, args, s, t):
                path = [(name, args, t)]
                while parent[s] is not None:
                    step = parent[s]
                    assert step is not None
                    path.append(step)
                    s = seen_from[s]
                return path[::-1]
            if t not in parent:
                parent[t] = (name, args, t)
                seen_from[t] = s
                queue.append(t)
    raise AssertionError("no such step is reachable")


def _follow(model: PageReporting, steps: list[Step]) -> State:
    """Take the same actions with the same arguments in ``model``; the final state."""
    s = next(iter(model.initial_states()))
    for name, args, _ in steps:
        s = next(t for a, t in model.steps_of(name, s) if a == args)
    return s


# -- the upstream design -------------------------------------------------------------------


def test_upstream_default_figures_and_every_property_holds() -> None:
    result = _check()
    assert (result.distinct_states, result.transitions, result.depth) == (22874, 68119, 32)
    assert result.verdict is Verdict.HOLDS
    assert all(p.verdict is Verdict.HOLDS for p in result.properties)
    assert result.never_fired == []


def test_witnesses_replay() -> None:
    result = _check()
    for p in result.properties:
        if p.kind == "sometimes":
            trace = _trace(result, p.name)
            assert replay(trace, _model()).ok, p.name


def test_the_offline_merge_rule_fires_with_two_migratetypes() -> None:
    # A block of the UNMOVABLE list and its buddy, freed into a MOVABLE pageblock while the
    # zone lock was released, share a batch; the drain marks the first, and the second
    # merges into it. The Offline design keeps the mark; upstream's merge clears it.
    offline = _model("offline")

    def marked_merge(action: str, args: dict[str, Any], s: State, t: State) -> bool:
        if action != "drain" or len(s.sgl) < 2:
            return False
        return any(o > max(order for _h, order in s.sgl) for _h, o in offline._marked(t))

    path = _first_path(offline, marked_merge)
    assert [a for a, _args, _t in path] == [
        "alloc",
        "alloc",
        "write",
        "write",
        "free",  # frame 0, onto the UNMOVABLE list
        "worker_start",
        "walk",  # isolates 0 (its pageblock turns MOVABLE); the zone lock is dropped
        "free",  # frame 1: its buddy is isolated, it stays on the MOVABLE list
        "walk",  # isolates 1 into the same batch
        "walk",
        "report",
        "host_report",
        "drain",  # 1 goes back alone and is marked; 0 merges with it
    ]
    merged = offline._marked(path[-1][2])
    assert merged == [(0, 1)] and offline.mark_meaning(path[-1][2]) is True
    upstream = _model("upstream")
    after = _follow(upstream, path)
    assert upstream._marked(after) == [] and after.free_area == path[-1][2].free_area
    up, off = _check(), _check("offline")
    assert (up.distinct_states, off.distinct_states) == (22874, 22716)


def test_poisoning_without_page_poison_disables_reporting() -> None:
    # virtballoon_validate clears REPORTING: nothing is ever reported, and the witnesses
    # of reporting say so (this is why the config has no upstream manifest entry).
    config: Config = (("free_init", "POISON"), ("page_poison", False))
    model = _model("upstream", config)
    assert not model.reporting
    s = next(iter(model.initial_states()))
    assert s.word is Word.IDLE and not s.work_queued and not s.owed
    result = _check("upstream", config)
    assert "a block gets reported" in result.failing
    assert all(p.verdict is not Verdict.VIOLATED for p in result.properties if p.kind == "always")


def test_upstream_gap_a_failed_report_skips_the_second_zone() -> None:
    model = _model()
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
    final: State = trace.steps[-1].state
    assert model.is_terminal(final)
    # ZONE_MOVABLE's frame 2 was never walked: page_reporting_process broke out of
    # for_each_zone on the error, and nothing requests another pass.
    assert (2, 0) in model.free_blocks(final) and 2 not in final.reported
    assert not final.owed  # forgiven: the properties speak of passes whose reports succeed


def test_upstream_gap_split_halves_are_not_reported() -> None:
    config: Config = (("report_errors", False),)
    model = _model("upstream", config)
    trace = _trace(_check("upstream", config), GAP)
    assert replay(trace, model).ok
    final: State = trace.steps[-1].state
    assert model.is_terminal(final)
    assert [s.action for s in trace.steps[1:]][-2:] == ["finish", "quiesce"]
    # expand() put the other half of a reported block back unreported, without a notify;
    # its frame is still with the host (the mark is lost, not the memory).
    half = next(b for b in model.free_blocks(final) if b[0] not in final.reported)
    assert half[0] in final.handed and not final.owed


# -- the budget, the rerun and the delayed work --------------------------------------------


def test_a_cycle_spends_its_budget_and_the_pass_runs_again() -> None:
    model = _model("upstream", BUDGET)
    path = _first_path(model, lambda a, args, s, t: a == "finish" and s.word is Word.REQUESTED)
    actions = [a for a, _args, _t in path]
    budget = next(i for i, (_a, args, _t) in enumerate(path) if args.get("then") == "budget spent")
    # DIV_ROUND_UP(4, 1 * 16) = 1: two reports from the order-0 list, then the third
    # unreported block finds the budget below zero and sets REQUESTED ...
    assert actions[:budget].count("report") == 2
    assert path[budget][2].word is Word.REQUESTED
    # ... so the pass's cmpxchg(ACTIVE, IDLE) fails and the delayed work is queued again.
    after = path[-1][2]
    assert after.pc is Pc.OFF and after.work_queued and after.word is Word.REQUESTED
    result = _check("upstream", BUDGET)
    assert result.verdict is Verdict.HOLDS
    assert result.distinct_states == 66


# -- bad variants: each caught in its property with its shortest trace ---------------------

SAFETY = [
    (
        "alloc_keeps_reported",
        (*ONE_ZONE, ("free_init", "NONE")),
        {FREE_HEAD: 7, MARK: 9, GAVE_BACK: 9, IDLE: 13},
    ),
    ("merge_keeps_reported", (), {FREE_HEAD: 9, MARK: 12, GAVE_BACK: 12, IDLE: 18}),
    ("reuse_before_ack", ONE_ZONE, {ACK: 5, MARK: 5, GAVE_BACK: 5, DATA_LOSS: 8}),
    ("isolate_ignores_cap", (("capacity", 1),), {CAP: 9}),
    ("walk_ignores_reported", (), {DOUBLE: 13}),
    ("no_leftover_report", (), {OWNERSHIP: 3, IDLE: 5}),
    ("no_poison_check", (("free_init", "POISON"), ("page_poison", False)), {POISON: 5}),
    ("offline_mixed_merge", (), {MARK: 9, GAVE_BACK: 9}),
    ("notify_unmerged_order", (("report_order", 1), ("capacity", 1)), {IDLE: 6}),
    ("pass_reports_nothing", (), {IDLE: 3}),
    ("host_rounds_out", (*ONE_ZONE, ("host_page_order", 1)), {DATA_LOSS: 7}),
    ("unmovable_in_movable_zone", (), {MOVABLE_ZONE: 1}),
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
    ("atomic_set_idle", (), {FREED: 9, NOTIFY: 9}),
    ("notify_unmerged_order", (("report_order", 1), ("capacity", 1)), {FREED: 8}),
    ("pass_reports_nothing", (), {FREED: 5}),
    ("busy_poll_ack", (), {BUSY: 5}),
]


@pytest.mark.parametrize(
    ("variant", "config", "lengths"), LIVENESS, ids=[v for v, _c, _l in LIVENESS]
)
def test_bad_variant_violates_liveness_with_a_lasso(
    variant: str, config: Config, lengths: dict[str, int]
) -> None:
    result = _check(variant, config)
    liveness = {p.name for p in result.properties if p.kind == "liveness"}
    assert sorted(set(result.failing) & liveness) == sorted(lengths)
    model = _model(variant, config)
    for name, length in lengths.items():
        trace = _trace(result, name)
        assert trace.loop is not None
        assert len(trace) == length, (name, len(trace))
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


def test_notify_unmerged_order_loses_the_request_of_a_merging_free() -> None:
    config: Config = (("report_order", 1), ("capacity", 1))
    trace = _trace(_check("notify_unmerged_order", config), IDLE)
    free = next(s for s in trace.steps if s.action == "free")
    assert free.args["order"] == 0  # merged up to order 1, but notified with order 0
    final: State = trace.steps[-1].state
    assert final.owed and final.word is Word.IDLE and not final.work_queued


def test_busy_poll_ack_spins_in_a_self_loop_while_the_host_is_silent() -> None:
    trace = _trace(_check("busy_poll_ack"), BUSY)
    # The lasso closes on its last state: drain(acked=false) leads back to it.
    assert trace.loop == len(trace.steps) - 1
    assert trace.loop_action == "drain" and trace.loop_args["acked"] is False
    assert trace.steps[-1].state.pc is Pc.WAIT and trace.steps[-1].state.vq.avail


@pytest.mark.slow
def test_no_budget_lasso_keeps_one_pass_walking_order_0() -> None:
    config = (*ONE_TYPE, ("report_order", 0))
    result = _check("no_budget", config)
    assert result.failing == [NOTIFY]
    trace = _trace(result, NOTIFY)
    assert trace.loop is not None
    cycle = [s.state for s in trace.steps[trace.loop :]]
    assert all(s.pc is not Pc.OFF for s in cycle)
    assert "worker_start" not in [s.action for s in trace.steps[trace.loop + 1 :]]


# -- fairness: what each assumption buys ---------------------------------------------------


def _liveness_without(prop: str, dropped: str | None) -> PropertyResult:
    model = _model()
    spec = model.property(prop)
    assert spec.fairness is not None
    fairness = {a: f for a, f in spec.fairness.items() if a != dropped}
    ex = _exploration()
    return check_liveness(model, ex, dataclasses.replace(spec, fairness=fairness))


@cache
def _exploration() -> Any:
    return explore(_model(), keep_graph=True)


@pytest.mark.parametrize(
    "dropped", ["worker_start", "walk", "report", "drain", "finish", "host_report"]
)
def test_every_fairness_assumption_of_request_served_is_needed(dropped: str) -> None:
    # The guest may allocate and free for ever; without weak fairness of one of the worker's
    # steps (a queued work item runs; the pass runs on) or of the host's answer, a pending
    # request waits for ever in a lasso that neglects exactly that step.
    assert _liveness_without(NOTIFY, None).verdict is Verdict.HOLDS
    result = _liveness_without(NOTIFY, dropped)
    assert result.verdict is Verdict.VIOLATED
    assert result.trace is not None and result.trace.loop is not None


def test_upstream_reports_freed_blocks_without_any_fairness() -> None:
    # Upstream leaves no cycle once the guest is quiet: each pass ends, each report is
    # answered (a step that is the only one enabled is taken). The property still states
    # an answering host: busy_poll_ack's spin is a cycle that neglects it.
    model = _model()
    spec = model.property(FREED)
    assert spec.fairness is not None and "host_report" in spec.fairness
    bare = dataclasses.replace(spec, fairness={})
    assert check_liveness(model, _exploration(), bare).verdict is Verdict.HOLDS


def test_the_host_is_not_assumed_to_answer() -> None:
    model = _model()
    assert model.actions[model.action_index("host_report")].fairness.value == "none"
    assert "host_report" not in (model.property(BUSY).fairness or {})
    assert "host_report" in (model.property(NOTIFY).fairness or {})


# -- two zones, migratetypes, pageblocks ---------------------------------------------------


def _state(model: PageReporting, **changes: Any) -> State:
    s = next(iter(model.initial_states()))
    return dataclasses.replace(s, **changes)


def _lists(model: PageReporting, blocks: dict[tuple[int, int, Migratetype], list[int]]) -> Any:
    lists: list[tuple[int, ...]] = [()] * (model.zones * model.orders * 2)
    for (zone, order, mt), heads in blocks.items():
        lists[model.list_id(zone, order, mt)] = tuple(heads)
    return tuple(lists)


def test_an_unmovable_allocation_steals_a_movable_pageblock() -> None:
    # __rmqueue_fallback: no UNMOVABLE block, the largest MOVABLE one is taken and
    # change_pageblock_range gives its pageblocks to UNMOVABLE (order >= pageblock_order).
    model = _model()
    s = _state(
        model,
        free_area=_lists(
            model, {(0, 1, Migratetype.MOVABLE): [0], (1, 0, Migratetype.MOVABLE): [2]}
        ),
        pageblock=(Migratetype.MOVABLE,) * 3,
    )
    steps = [
        (a, t)
        for a, t in model.steps_of("alloc", s)
        if a["zone"] == 0 and a["mt"] == "UNMOVABLE" and a["order"] == 0
    ]
    assert [a["steal"] for a, _t in steps] == ["pageblocks"]
    after = steps[0][1]
    assert after.pageblock[:2] == (Migratetype.UNMOVABLE, Migratetype.UNMOVABLE)
    assert after.free_area[model.list_id(0, 0, Migratetype.UNMOVABLE)] == (1,)
    # ZONE_MOVABLE serves no unmovable allocation.
    zone_movable = [a for a, _t in model.steps_of("alloc", s) if a["zone"] == 1]
    assert zone_movable and all(a["mt"] == "MOVABLE" for a in zone_movable)


def test_below_pageblock_order_the_steal_may_claim_the_pageblock_or_not() -> None:
    model = _model("upstream", (("frames", 2), ("movable_frames", 0), ("pageblock_order", 1)))
    s = _state(
        model,
        free_area=_lists(model, {(0, 0, Migratetype.UNMOVABLE): [1]}),
        allocated=frozenset({(0, 0)}),
        pageblock=(Migratetype.UNMOVABLE,),
        content=(Content.DATA, Content.ZERO),
    )
    steps = model.steps_of("alloc", s)
    steals = {a["steal"]: t.pageblock for a, t in steps if a["mt"] == "MOVABLE"}
    assert steals == {"pageblock": (Migratetype.MOVABLE,), "block only": (Migratetype.UNMOVABLE,)}


def test_isolating_a_block_turns_its_pageblock_movable() -> None:
    # __isolate_free_page: a block of at least half a pageblock sets its (mergeable)
    # pageblocks to MIGRATE_MOVABLE.
    model = _model()
    s = _state(model, pc=Pc.WALK, word=Word.ACTIVE, work_queued=False)
    ((args, t),) = model.steps_of("walk", s)
    assert args == {"zone": 0, "order": 1, "mt": "UNMOVABLE", "isolate": (0,), "then": "walk"}
    assert s.pageblock[0] is Migratetype.UNMOVABLE and t.pageblock[0] is Migratetype.MOVABLE


def test_the_pass_walks_each_zone_and_reports_its_leftovers() -> None:
    model = _model()
    path = _first_path(
        model,
        lambda a, args, s, t: (
            a == "walk" and args.get("zone") == 1 and any(h < 2 for h, _o in s.acked)
        ),
    )
    walks = [args for a, args, _t in path if a == "walk"]
    assert walks[-1]["zone"] == 1 and walks[-1]["isolate"] == (2,)
    # Zone 0's leftovers were reported and drained before the pass moved on.
    assert [a for a, _args, _t in path].count("drain") == 1
    assert any(w.get("then") == "report leftovers" and w["zone"] == 0 for w in walks)


# -- content and the host --------------------------------------------------------------------


def _state_with_data_on_the_ring(discard: Discard) -> tuple[PageReporting, State]:
    """The reuse-before-ack situation: frame 0 is allocated and written while a report of
    block 0/o1 still waits on the ring."""
    model = _model("reuse_before_ack", (*ONE_ZONE, ("discard", discard.name)))
    s = _state(
        model,
        free_area=_lists(model, {(0, 0, Migratetype.MOVABLE): [1]}),
        allocated=frozenset({(0, 0)}),
        content=(Content.DATA, Content.ZERO),
        word=Word.IDLE,
        work_queued=False,
        vq=Virtqueue(size=1, avail=((0, 1),)),
        owed=frozenset(),
    )
    return model, s


def test_madv_dontneed_discards_the_data() -> None:
    model, s = _state_with_data_on_the_ring(Discard.DONTNEED)
    steps = model.steps_of("host_report", s)
    assert [a["zeroed"] for a, _t in steps] == [(0,)]
    after = steps[0][1]
    assert after.content[0] is Content.LOST and after.discarded == {0, 1}
    assert "frame 0 (allocated block 0/o0)" in str(model.no_data_loss(after))
    assert model.frame_map(after) == "!h"


def test_madv_free_may_or_may_not_lose_the_data() -> None:
    model, s = _state_with_data_on_the_ring(Discard.FREE)
    outcomes = {a["zeroed"]: t.content[0] for a, t in model.steps_of("host_report", s)}
    assert outcomes == {(): Content.DATA, (0,): Content.LOST}


def test_poison_val_stops_qemu_from_discarding() -> None:
    model = _model("upstream", (("free_init", "POISON"),))
    assert model.reporting and not model.host_discards
    model = _model("upstream", (("free_init", "ZERO"),))
    assert model.reporting and model.host_discards  # init_on_free: poison_val is 0
    trace = _trace(_check("upstream", (("free_init", "POISON"),)), GAVE_BACK)
    assert "the report gave nothing back" in _flat(render_trace(trace, model))


def _ring_state(variant: str, sgl: tuple[int, ...]) -> tuple[PageReporting, State]:
    """One zone of two frames, a host page of two frames: frame 0 reported on the ring,
    frame 1 allocated and written."""
    model = _model(variant, (*ONE_ZONE, ("host_page_order", 1)))
    s = _state(
        model,
        free_area=_lists(model, {}),
        allocated=frozenset({(1, 0)}),
        content=(Content.ZERO, Content.DATA),
        pc=Pc.WAIT,
        sgl=((0, 0),),
        vq=Virtqueue(size=1, avail=(sgl,)),
    )
    return model, s


def test_qemu_skips_a_range_smaller_than_its_page() -> None:
    # virtio_balloon_handle_report: !QEMU_IS_ALIGNED(ram_offset | size, qemu_ram_pagesize)
    model, s = _ring_state("upstream", (0, 0))
    ((args, after),) = model.steps_of("host_report", s)
    assert args == {"discard": True, "zeroed": ()}
    assert after.discarded == frozenset() and after.handed == {0}
    assert after.content == s.content


def test_rounding_the_range_out_discards_the_neighbours_data() -> None:
    model, s = _ring_state("host_rounds_out", (0, 0))
    ((args, after),) = model.steps_of("host_report", s)
    assert args["zeroed"] == (1,) and after.content[1] is Content.LOST


def test_reports_of_the_host_page_size_give_memory_back() -> None:
    config = (*ONE_TYPE, ("host_page_order", 1), ("report_order", 1))
    assert _check("upstream", config).verdict is Verdict.HOLDS


# -- rendering, configurations ---------------------------------------------------------------


def test_text_trace_shows_zones_free_lists_and_frame_map() -> None:
    trace = _trace(_check("reuse_before_ack", ONE_ZONE, 8), DATA_LOSS)
    text = render_trace(trace, _model("reuse_before_ack", ONE_ZONE))
    assert "free_lists = z0 o1 U: [0]" in text
    assert "frames  !h" in text
    assert all(len(line) <= 80 for line in text.splitlines())
    default = render_trace(_trace(_check(), GAP), _model())
    assert "frames  ff|f" in default  # ZONE_NORMAL | ZONE_MOVABLE


def test_hypothesis_config_is_valid_and_big() -> None:
    model = _model("upstream", tuple(PageReporting.hypothesis_config.items()))
    assert model.frames >= 256 and model.zones == 2
    s = next(iter(model.initial_states()))
    assert model.ownership(s) is True
    assert next(model.actions[i].name for i, _a, _t in model.successors(s)) == "alloc"


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("frames=3", "frames must be a power of two >= 2"),
        ("movable_frames=4", "movable_frames must be 0 or a power of two <= frames"),
        ("pageblock_order=2", "pageblock_order must be 0 or 1"),
        ("report_order=2", "report_order must be in 0..1"),
        ("host_page_order=1", "a host page must fit every zone"),
        ("capacity=0", "capacity must be >= 1"),
    ],
)
def test_a_bad_configuration_is_one_line_and_exit_2(
    setting: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(UsageError, match=message):
        make_config(PageReporting, None, dict([setting.split("=")]))
    code = main(["check", "page_reporting", "--set", setting])
    _out, err = capsys.readouterr()
    assert code == 2 and len(err.strip().splitlines()) == 1 and message in err


def test_default_config_is_large_enough_for_every_trigger() -> None:
    result = _check()
    assert result.vacuous == []
    model = _model()
    triggered = [p for p in model.properties if p.kind.value == "always" and p.trigger]
    assert {p.name for p in triggered} == {
        FREE_HEAD,
        CAP,
        ACK,
        DATA_LOSS,
        POISON,
        DOUBLE,
        MARK,
        GAVE_BACK,
        IDLE,
    }
    assert Phase.QUIET in {s.phase for s in [_trace(result, GAP).steps[-1].state]}


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
