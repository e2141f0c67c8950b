"""hinting_oom: which hinting designs cause an OOM, how much they hold, and the traces that
show it (exact figures from exhaustive exploration; every trace replays)."""

from __future__ import annotations

import dataclasses
import random

import pytest
from benchmarks.hinting_oom_designs import DESIGNS, measure, oom_demand_threshold
from hintspec.engine.check import check
from hintspec.engine.explore import explore
from hintspec.engine.results import PropertyResult, Verdict
from hintspec.models.hinting_oom import PR, Config, HintingOom, Worker
from hintspec.traces.files import read_itf, write_itf
from hintspec.traces.replay import replay
from hintspec.traces.text import render_trace
from trace_checks import violation

OOM = "no hinting-induced OOM"
CAP = "hinting holds at most CAPACITY blocks"
EXCL = "every block is in exactly one place"
LOW = "hinting never takes the zone below the low watermark"
TIGHT = "hinting causes an OOM only when free memory is tight"
LOOP = "the guest does not loop forever adding to a full ring"
IDLE = "the worker does not go idle while a block it may report waits"
EMPTY = "every ring buffer names at least one block"
PASS_ENDS = "a reporting pass ends while the host answers"
COME_BACK = "every block the worker hands to the host comes back to the allocator"


def run(variant: str, **over: int) -> tuple[HintingOom, list[PropertyResult], list[str]]:
    model = HintingOom(Config(variant=variant, **over))
    result = check(model)
    return model, result.properties, sorted(result.failing)


def test_default_design_holds_everything() -> None:
    model = HintingOom(Config())
    result = check(model)
    assert model.variant == "capped_gate_per_batch"
    assert result.verdict is Verdict.HOLDS
    assert (result.distinct_states, result.transitions, result.depth) == (192, 684, 26)
    witnessed = {p.name for p in result.properties if p.kind == "sometimes"}
    assert witnessed == {
        "a hint is sent",
        "a hinted block is reused",
        "the ring fills",
        "the host stalls on a hint while the zone is at the low watermark",
        "the hinting path goes idle after its hints were acked",
    }


@pytest.mark.parametrize(
    ("variant", "failing"),
    [
        ("capped_gate_per_batch", []),
        ("capped_gate", [LOW]),
        ("capped_no_gate", [LOW]),
        ("percpu_2019", sorted([OOM, CAP, LOW, TIGHT])),
    ],
)
def test_roomy_demand_only_per_cpu_hinting_causes_an_oom(variant: str, failing: list[str]) -> None:
    assert run(variant)[2] == failing


@pytest.mark.parametrize("variant", ["capped_gate_per_batch", "capped_gate", "capped_no_gate"])
def test_tight_demand_every_capped_design_causes_an_oom_but_only_when_tight(variant: str) -> None:
    _model, props, failing = run(variant, demand=2)
    assert OOM in failing and TIGHT not in failing and CAP not in failing
    trace = violation(props, OOM).trace
    assert trace is not None and len(trace) == 6
    final = trace.steps[-1].state
    assert final.oom is not None and final.oom.free == 0 and final.oom.held == 1


def test_per_cpu_oom_trace_reads_clearly() -> None:
    model, props, _ = run("percpu_2019")
    trace = violation(props, OOM).trace
    assert trace is not None and len(trace) == 11
    last = trace.steps[-1].state
    assert last.oom is not None and (last.oom.free, last.oom.held) == (0, 3)
    assert sum(len(a) for a in last.allocated) == 1  # the guest uses one block of four
    text = render_trace(trace, model)
    assert "vCPU 1's allocation FAILS: 0 free, 3 held by hinting" in text
    assert "vCPU 0's requests in the ring 2, vCPU 1's requests in the ring 1" in text
    assert "in flight 2" in text
    assert "frames  QQQ0" in text
    # The in-flight bound breaks first, with two vCPUs each sending one request.
    cap = violation(props, CAP).trace
    assert cap is not None and len(cap) == 6
    assert [s.action for s in cap.steps[-2:]] == ["guest_free_page_hinting"] * 2


def test_itf_round_trip_of_the_per_cpu_oom(tmp_path) -> None:
    _model, props, _ = run("percpu_2019")
    trace = violation(props, OOM).trace
    assert trace is not None
    path = tmp_path / "oom.itf.json"
    write_itf(trace, path)
    back = read_itf(path)
    assert [s.state for s in back.steps] == [s.state for s in trace.steps]
    assert replay(back).ok


def test_upstream_gate_is_read_before_the_zone_lock() -> None:
    _model, props, _ = run("capped_gate")
    trace = violation(props, LOW).trace
    assert trace is not None and len(trace) == 4
    assert [s.action for s in trace.steps[1:]] == [
        "page_reporting_process",
        "alloc",
        "alloc",
        "page_reporting_cycle",
    ]
    assert trace.steps[1].args == {"gate": True}


def test_upstream_gate_does_not_cover_the_second_batch_of_a_pass() -> None:
    """Apart from the race, a pass isolates its second batch (budget spent once) without
    looking at the gate: some such isolation leaves the zone below WMARK_LOW."""
    model = HintingOom(Config(variant="capped_gate"))
    ex = explore(model, keep_graph=False)
    cycle = model.action_index("page_reporting_cycle")
    second = [
        (s, t)
        for s in ex.states
        if s.worker is Worker.CYCLE and s.budget == 0 and not s.low_breach
        for a, args, t in model.successors(s)
        if a == cycle and args["blocks"] and len(t.free) < model.config.wmark_low
    ]
    assert second
    fixed = HintingOom(Config(variant="capped_gate_per_batch"))
    assert not any(fixed.above_low(s) is not True for s in explore(fixed).states)


@pytest.mark.parametrize(
    ("variant", "held", "low", "threshold"),
    [
        ("percpu_2019", 4, 0, 1),
        ("capped_no_gate", 1, 1, 2),
        ("capped_gate", 1, 1, 2),
        ("capped_gate_per_batch", 1, 3, 2),
    ],
)
def test_memory_held_away_from_the_allocator(
    variant: str, held: int, low: int, threshold: int
) -> None:
    model = HintingOom(Config(variant=variant))
    bound = measure(model)
    assert (bound.max_held, bound.min_free_after_isolation) == (held, low)
    assert model.held(bound.held_path[-1]) == held
    assert len(bound.low_path[-1].free) == low
    assert oom_demand_threshold(Config(variant=variant)) == threshold


def test_per_cpu_holds_all_memory_at_every_size() -> None:
    for blocks in (3, 4):
        cfg = Config(variant="percpu_2019", blocks=blocks, wmark_low=1)
        assert measure(HintingOom(cfg)).max_held == blocks


def test_capped_holds_exactly_capacity_in_the_reference_config() -> None:
    cfg = dataclasses.replace(Config(**HintingOom.reference_config), variant="capped_gate")
    assert measure(HintingOom(cfg)).max_held == 2


def test_drain_leak_loses_the_blocks_of_used_buffers() -> None:
    _model, props, failing = run("percpu_drain_leak")
    assert EXCL in failing
    p = violation(props, EXCL)
    assert p.trace is not None and len(p.trace) == 8
    assert p.explanation is not None and "lost" in p.explanation
    assert p.trace.steps[-1].action == "guest_free_page_hinting"


def test_no_recheck_queues_an_allocated_block() -> None:
    model = HintingOom(Config(variant="percpu_no_recheck"))
    result = check(model, max_states=5000)
    p = violation(result.properties, EXCL)
    assert p.trace is not None and len(p.trace) == 4
    assert p.explanation is not None
    assert "allocated by vCPU" in p.explanation and "in ring buffer queued" in p.explanation


def test_no_recheck_also_hints_one_block_twice() -> None:
    """Two vCPUs recorded the same pfn: without the re-check both send it (a double hint,
    the block in two descriptors at once), 6 steps from the start."""
    model = HintingOom(Config(variant="percpu_no_recheck"))
    ex = explore(model, max_states=5000, keep_graph=False)
    double = [
        i
        for i, s in enumerate(ex.states)
        if str(model.exclusion(s)).count("in ring buffer queued") == 2
    ]
    assert double and ex.depth_of(double[0]) == 6
    path = ex.real_path_to(model, double[0])
    assert sum(len(model.payload(b)) for b in path[-1].vq.buffers) == 2


def test_spin_is_a_lasso_and_the_others_do_not_loop() -> None:
    _model, props, failing = run("percpu_spin", ring=1)
    assert LOOP in failing
    p = violation(props, LOOP)
    assert p.trace is not None and p.trace.loop is not None
    assert p.trace.loop_action == "retry_add"
    for variant in ("percpu_2019", "capped_gate"):
        assert LOOP not in run(variant, ring=1)[2]


@pytest.mark.parametrize("variant", [*DESIGNS, "percpu_drain_leak", "percpu_spin"])
def test_symmetry_reduction_keeps_every_verdict(variant: str) -> None:
    model = HintingOom(
        Config(variant=variant, blocks=3, wmark_low=1, ring=1 if "spin" in variant else 0)
    )
    with_sym = check(model)
    without = check(model, symmetry=False)
    assert sorted(with_sym.failing) == sorted(without.failing)
    assert with_sym.distinct_states < without.distinct_states
    for p in with_sym.properties:
        if p.trace is not None:
            assert replay(p.trace).ok


def test_the_ring_must_hold_a_full_report() -> None:
    with pytest.raises(ValueError, match="ENOSPC"):
        Config(variant="capped_gate", capacity=2, ring=1)
    Config(variant="percpu_2019", capacity=2, ring=1)  # per-CPU requests are one descriptor


def test_hypothesis_config_runs_a_long_random_walk() -> None:
    cfg = dataclasses.replace(Config(**HintingOom.hypothesis_config), variant="capped_gate")
    model = HintingOom(cfg)
    rng = random.Random(7)
    (s,) = model.initial_states()
    assert s.pr_state is PR.REQUESTED
    for _ in range(400):
        steps = [t for _a, _args, t in model.successors(s)]
        if not steps:
            break
        s = rng.choice(steps)
        assert model.exclusion(s) is True
        assert model.in_flight_bound(s) is True


@pytest.mark.parametrize(
    ("variant", "failing", "steps"),
    [("capped_set_idle", IDLE, 10), ("capped_empty_leftover", EMPTY, 24)],
)
def test_a_lost_request_and_an_empty_report_are_caught_with_a_shortest_trace(
    variant: str, failing: str, steps: int
) -> None:
    _model, props, names = run(variant)
    assert names == [failing]
    trace = violation(props, failing).trace
    assert trace is not None and len(trace.steps) == steps + 1  # the initial state first


def test_a_stuck_pass_and_an_undrained_leftover_are_fair_cycles() -> None:
    _model, props, names = run("capped_waits_for_nothing")
    assert names == [PASS_ENDS]
    assert violation(props, PASS_ENDS).trace is not None
    _model, props, names = run("capped_leftover_not_drained", blocks=6, capacity=2)
    assert names == sorted([COME_BACK, IDLE])
    lasso = violation(props, COME_BACK).trace
    assert lasso is not None and lasso.loop is not None
    # the default design takes the leftover path at CAPACITY 2 and gives every block back
    assert run("capped_gate_per_batch", blocks=6, capacity=2)[2] == []
