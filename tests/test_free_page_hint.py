"""free_page_hint: FREE_PAGE_HINT during live migration -- command ids, dirty logging in
both KVM modes, the hint's effect on the bitmaps, postcopy (exact figures; traces replay)."""

from __future__ import annotations

import dataclasses
import random

import pytest
from hintspec.engine.check import check
from hintspec.engine.results import PropertyResult, Verdict
from hintspec.lang.model import progress
from hintspec.models.free_page_hint import (
    CMD_ID_DONE,
    CMD_ID_STOP,
    FIRST_CMD_ID,
    Config,
    FreePageHint,
    Phase,
    State,
    Status,
)
from hintspec.traces.files import read_itf, write_itf
from hintspec.traces.replay import replay
from hintspec.traces.text import render_trace
from trace_checks import violation

DATA = "after the final copy every page the guest uses holds its latest data"
DIRTY = "a page with unsent data stays marked dirty"
STALL = "the destination never faults on a page that is never sent"
SPIN = "the driver stops spinning on a full ring once the command changes"
WRONG_ROUND = "no hint of the wrong round is applied"
DONE_LEFT = "a migration that ends leaves the guest a DONE for its hinted pages"
STOP_SLOT = "a round's own hints never take the descriptor its stop id needs"


def run(variant: str, **over: object) -> tuple[FreePageHint, list[PropertyResult], list[str]]:
    model = FreePageHint(Config(variant=variant, **over))  # type: ignore[arg-type]
    result = check(model)
    return model, result.properties, sorted(result.failing)


def test_fixed_design_holds_with_every_witness() -> None:
    model = FreePageHint(Config())
    result = check(model)
    assert model.variant == "qemu_bmap_only"
    assert result.verdict is Verdict.HOLDS
    assert (result.distinct_states, result.transitions, result.depth) == (23441, 111019, 26)
    assert {p.name for p in result.properties if p.kind == "sometimes"} == {
        "a honoured hint keeps a dirty page from being sent",
        "a new round is requested while hints of an older round are in the ring",
        "the migration completes while the guest holds hinted pages",
        "a start id finds the ring full",
        "a hint is honoured",
        "a hinted page is reused while its hint is in the ring",
        "the ring fills",
        "the driver spins on a full ring while the host stalls",
        "the migration completes",
        "a migration is cancelled while the guest holds hinted pages",
    }


@pytest.mark.parametrize("manual", [True, False])
def test_clearing_the_kvm_log_loses_a_write_only_with_manual_protection(manual: bool) -> None:
    _model, props, failing = run("qemu_clear_log", manual_protect=manual)
    if not manual:
        assert failing == []
        return
    assert failing == sorted([DATA, DIRTY])
    trace = violation(props, DIRTY).trace
    assert trace is not None and len(trace) == 9
    actions = [s.action for s in trace.steps[1:]]
    # dirty at the sync, hinted, given back, rewritten, then the hint clears the log
    assert actions[:3] == ["alloc", "free", "migration_bitmap_sync"]
    assert actions[-4:] == [
        "get_free_page_and_send",
        "shrinker_scan",
        "alloc",
        "get_free_page_hints",
    ]
    before, after = trace.steps[-2].state, trace.steps[-1].state
    assert 0 in before.dirty_log and 0 in before.get_copy and 0 not in after.dirty_log
    assert trace.steps[-1].args == {"page": 0, "honoured": True}


def test_the_final_copy_is_stale_at_the_end_of_the_same_bug() -> None:
    _model, props, _ = run("qemu_clear_log")
    trace = violation(props, DATA).trace
    assert trace is not None
    last = trace.steps[-1].state
    assert last.phase is Phase.DONE and last.used - last.fresh


def test_stale_command_id_loses_data_with_classic_dirty_logging() -> None:
    model, props, failing = run("stale_cmd_id", pages=1, ring=3, manual_protect=False)
    assert failing == sorted([DATA, DIRTY, WRONG_ROUND])
    trace = violation(props, DIRTY).trace
    assert trace is not None and len(trace) == 7
    stale = trace.steps[-2]
    assert stale.action == "get_free_page_hints" and stale.args == {"cmd_id": 2}
    assert stale.state.cmd_id == 3 and stale.state.status is Status.START
    text = render_trace(trace, model)
    assert "REQUESTED, cmd id 3 -> START, cmd id 3" in text


def test_stale_hints_are_harmless_while_the_kvm_log_keeps_the_bit() -> None:
    """With manual protection the sync leaves the bit in KVM's log, so the next sync (or
    the last one) brings a wrongly skipped page back: no data is lost, but the device still
    honours a hint of an earlier round (5 steps, in either KVM mode)."""
    _model, props, failing = run("stale_cmd_id", pages=1, ring=3, manual_protect=True)
    assert failing == [WRONG_ROUND]
    trace = violation(props, WRONG_ROUND).trace
    assert trace is not None and len(trace) == 5
    assert trace.steps[-1].action == "get_free_page_hints"
    assert trace.steps[-1].args == {"page": 0, "honoured": True}


def test_without_done_at_the_last_sync_the_guest_keeps_its_hinted_pages() -> None:
    _model, props, failing = run("completion_stops", pages=1, ring=3, manual_protect=False)
    assert failing == [DONE_LEFT]
    trace = violation(props, DONE_LEFT).trace
    assert trace is not None
    last = trace.steps[-1].state
    assert last.hinted and last.status is not Status.DONE
    assert "migration_completion" in [s.action for s in trace.steps[1:]]


def test_hints_that_take_the_reserved_descriptor_drop_the_stop_id() -> None:
    _model, props, failing = run("no_stop_slot", pages=1, ring=3, manual_protect=False)
    assert failing == [STOP_SLOT]
    trace = violation(props, STOP_SLOT).trace
    assert trace is not None and len(trace) == 5
    assert trace.steps[-1].action == "send_cmd_id_stop"
    assert trace.steps[-2].state.vq.num_free == 0


def test_the_current_id_check_is_what_protects_classic_logging() -> None:
    assert run("qemu_bmap_only", pages=1, ring=3, manual_protect=False)[2] == []


def test_postcopy_with_hinting_stalls_the_destination() -> None:
    model, props, failing = run("hint_with_postcopy", pages=1, postcopy=True)
    assert failing == [STALL]
    trace = violation(props, STALL).trace
    assert trace is not None and len(trace) == 6
    assert trace.steps[-2].action == "postcopy_start"
    assert trace.steps[-1].args == {"page": 0, "served": False}
    assert "the vCPU stalls until postcopy ends" in render_trace(trace, model)


def test_with_postcopy_possible_the_fix_never_starts_hinting() -> None:
    model = FreePageHint(Config(pages=1, postcopy=True))
    (s,) = model.initial_states()
    assert s.status is Status.STOP and not s.work_queued
    result = check(model)
    verdicts = {p.name: p.verdict for p in result.properties}
    assert verdicts[STALL] is Verdict.HOLDS and verdicts[DATA] is Verdict.HOLDS
    # hinting never runs, so its witnesses are vacuous (hence no manifest entry)
    assert verdicts["a hint is honoured"] is Verdict.VIOLATED


def test_config_shows_the_command_id_as_qemu_does() -> None:
    model = FreePageHint(Config())
    (s,) = model.initial_states()
    shown = {st: model.config_cmd_id(dataclasses.replace(s, status=st, cmd_id=7)) for st in Status}
    assert shown == {
        Status.REQUESTED: 7,
        Status.STOP: CMD_ID_STOP,
        Status.START: CMD_ID_STOP,  # the field is left zeroed in S_START
        Status.DONE: CMD_ID_DONE,
    }


class _NoFairness(FreePageHint):
    """The same model checked with a stalled iothread AND a stalled migration thread."""

    name = "free_page_hint_unfair"  # not in models/: never registered

    @progress(
        "the driver stops spinning without any fairness",
        region=lambda self, s: s.sending and s.vq.num_free <= 1,
        fairness={},
    )
    def spin_forever(self, s: State, t: State) -> bool:
        return s != t


def test_the_busy_loop_ends_only_because_the_command_changes() -> None:
    model = FreePageHint(Config())
    assert SPIN not in check(model).failing
    unfair = _NoFairness(Config())
    result = check(unfair)
    (p,) = [
        p for p in result.properties if p.name == "the driver stops spinning without any fairness"
    ]
    assert p.verdict is Verdict.VIOLATED and p.trace is not None
    assert p.trace.loop is not None and p.trace.loop_action == "get_free_page_and_send"
    assert p.trace.loop_args == {"page": None}
    assert replay(p.trace, unfair).ok


def test_itf_round_trip(tmp_path) -> None:
    _model, props, _ = run("qemu_clear_log")
    trace = violation(props, DIRTY).trace
    assert trace is not None
    path = tmp_path / "t.itf.json"
    write_itf(trace, path)
    back = read_itf(path)
    assert [s.state for s in back.steps] == [s.state for s in trace.steps]
    assert replay(back).ok


@pytest.mark.parametrize("variant", ["qemu_bmap_only", "qemu_clear_log"])
def test_symmetry_reduction_keeps_the_verdicts(variant: str) -> None:
    model = FreePageHint(Config(variant=variant))
    a, b = check(model, liveness=False), check(model, liveness=False, symmetry=False)
    assert sorted(a.failing) == sorted(b.failing)
    assert a.distinct_states < b.distinct_states


def test_hypothesis_config_runs_a_long_random_walk() -> None:
    model = FreePageHint(Config(**FreePageHint.hypothesis_config))
    rng = random.Random(3)
    (s,) = model.initial_states()
    for _ in range(600):
        steps = [t for _a, _args, t in model.successors(s)]
        if not steps:
            break
        s = rng.choice(steps)
        assert model.unsent_is_dirty(s) is True
        assert model.migrated_data(s) is True


def test_the_ring_keeps_a_slot_for_the_stop_id() -> None:
    with pytest.raises(ValueError, match="ENOSPC"):
        Config(ring=1)


RETURNED = "after a cancelled migration the guest gets its hinted pages back"


def test_a_cancelled_migration_without_done_keeps_the_hinted_pages() -> None:
    """QEMU before 'virtio-balloon: always indicate S_DONE when migration fails': the
    CLEANUP notifier only stops hinting, so the guest never learns that the round ended."""
    _model, props, failing = run("cleanup_stops")
    assert failing == [RETURNED]
    trace = violation(props, RETURNED).trace
    assert trace is not None and trace.loop is not None
    actions = [s.action for s in trace.steps[1:]]
    assert "migration_cancel" in actions and "get_free_page_and_send" in actions
    cancelled = next(s.state for s in trace.steps if s.action == "migration_cancel")
    assert cancelled.phase is Phase.CANCELLED and cancelled.status is Status.STOP
    assert all(s.state.hinted for s in trace.steps[trace.loop :])
    # The shrinker would give them back, but only under memory pressure (no fairness).
    assert "shrinker_scan" not in actions[trace.loop :]


def test_the_fix_sends_done_on_cleanup_and_the_pages_come_back() -> None:
    _model, props, failing = run("qemu_bmap_only")
    assert failing == []
    verdicts = {p.name: p.verdict for p in props}
    assert verdicts[RETURNED] is Verdict.HOLDS
    assert verdicts["a migration is cancelled while the guest holds hinted pages"] is (
        Verdict.HOLDS
    )


def test_a_new_migration_may_start_while_the_cancelled_round_is_pending() -> None:
    """The restart path is reached: a new command id is requested while the driver still
    holds blocks of the cancelled round, and the design still holds."""
    model = FreePageHint(Config(pages=1, ring=3, restarts=1))
    result = check(model)
    assert result.verdict is Verdict.HOLDS
    (s,) = model.initial_states()
    again = model.action_index("migrate_again")
    seen, frontier, found = {s}, [s], False
    while frontier and not found:
        nxt = []
        for state in frontier:
            for action, _args, t in model.successors(state):
                if action == again and t.hinted:
                    found = t.status is Status.REQUESTED and t.cmd_id > FIRST_CMD_ID
                if t not in seen:
                    seen.add(t)
                    nxt.append(t)
        frontier = nxt
    assert found


def test_restarts_need_a_cancel() -> None:
    with pytest.raises(ValueError, match="restarts"):
        Config(cancel=False, restarts=1)
