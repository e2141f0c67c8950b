"""Z3 proofs and BMC of the hinting queues / OOM model (properties/proofs/hinting_oom.py)."""

from __future__ import annotations

from typing import Any

import pytest
from hintspec.cli.app import main
from hintspec.lang.configs import make_config
from hintspec.lang.model import PropertyKind
from hintspec.lang.registry import get_model
from hintspec.models.hinting_oom import HintingOom, Worker
from hintspec.properties.proofs.hinting_oom import (
    ABOVE_LOW,
    COUNT_LEMMA,
    DEMAND_LEMMA,
    EXCLUSION,
    IN_FLIGHT,
    NO_OOM,
    OOM_LEMMA,
    REPORTED,
    RING_LEMMA,
    TIGHT,
    HintingOomEncoding,
)
from hintspec.smt import Encoding, Pred, ProofVerdict, bmc, encoding_for, prove
from hintspec.traces.replay import replay

CAPPED = ("capped_gate_per_batch", "capped_gate", "capped_no_gate")
SEARCH = 2
"""Depth of the search for a real violation after a CTI (BMC of the exact relation at 64
blocks, whose lowest-of-class batch choice is quadratic in the blocks, is slow)."""


def encoding(variant: str, **config: Any) -> Encoding[Any]:
    cls = get_model("hinting_oom")
    return encoding_for(cls(make_config(cls, variant, config)))


class Without(HintingOomEncoding):
    """The encoding with one strengthening lemma left out (set ``missing``)."""

    missing = ""

    def lemmas(self) -> dict[str, Pred]:
        return {k: v for k, v in super().lemmas().items() if k != self.missing}


def without(lemma: str, variant: str = "capped_gate", **config: Any) -> Encoding[Any]:
    cls = type("Without", (Without,), {"missing": lemma})
    model = HintingOom(make_config(HintingOom, variant, config))
    return cls(model)


# The CTIs first: which CTI the solver picks depends on the terms created before.


def test_without_the_ring_lemma_a_cycle_adds_a_second_batch() -> None:
    """The CTI: the worker in its cycle while a report is still in the ring; the cycle
    fills the slot again (a single worker never does: it sleeps until the ack)."""
    result = prove(without(RING_LEMMA, blocks=16), bmc_depth=SEARCH)
    cti = result.cti
    assert result.verdict is ProofVerdict.UNKNOWN and cti is not None and cti.genuine
    assert cti.action == "page_reporting_cycle" and cti.broken == EXCLUSION
    assert cti.pre[0].worker is Worker.CYCLE and cti.pre[0].vq.buffers
    assert result.depth == SEARCH  # no real violation within the bound


def test_without_the_counting_lemma_the_free_count_is_unconstrained() -> None:
    """The CTI: an allocation fails although the zone has free blocks -- the count
    ``nfree`` (which the watermark reads) disagrees with the free list; nfree + uses +
    held == blocks rules it out."""
    result = prove(without(COUNT_LEMMA, blocks=16), bmc_depth=SEARCH)
    cti = result.cti
    assert result.verdict is ProofVerdict.UNKNOWN and cti is not None
    assert cti.action == "out_of_memory" and cti.broken == NO_OOM
    assert len(cti.pre[0].free) > 0 and cti.post.oom is not None and cti.post.oom.free == 0


@pytest.mark.parametrize("variant", CAPPED)
def test_the_capped_designs_are_proven_at_64_blocks(variant: str) -> None:
    """Every encoded property, 1-inductive with the four lemmas (demand 1 per vCPU: the
    guest leaves room, so the watermark and no-OOM properties hold too)."""
    result = prove(encoding(variant, blocks=64))
    assert result.verdict is ProofVerdict.PROVEN, result.reason
    assert result.properties == [NO_OOM, IN_FLIGHT, EXCLUSION, REPORTED, ABOVE_LOW, TIGHT]
    assert result.lemmas == [RING_LEMMA, COUNT_LEMMA, DEMAND_LEMMA, OOM_LEMMA]
    assert result.exit_code() == 0


@pytest.mark.parametrize(
    ("variant", "config", "properties", "prop", "steps"),
    [
        # a recorded pfn re-allocated by another vCPU is queued to the host anyway
        ("percpu_no_recheck", {"ring": 4}, None, EXCLUSION, 4),
        # two requests in the ring: no cap
        ("percpu_2019", {"ring": 4}, None, IN_FLIGHT, 6),
        # the detach loop drops an acked request whose block is then nowhere
        ("percpu_drain_leak", {"ring": 2, "cpus": 1}, [EXCLUSION], EXCLUSION, 8),
        # the spin variant shares the per-CPU design's missing cap (its own bug, the busy
        # loop, is a progress property: no finite trace refutes it)
        ("percpu_spin", {"ring": 1}, None, IN_FLIGHT, 6),
    ],
)
def test_bmc_refutes_the_per_cpu_variants_at_64_blocks_and_the_traces_replay(
    variant: str, config: dict[str, Any], properties: list[str] | None, prop: str, steps: int
) -> None:
    result = bmc(encoding(variant, blocks=64, **config), steps, properties=properties)
    assert result.verdict is ProofVerdict.REFUTED
    assert result.trace is not None
    assert result.trace.prop == prop
    assert len(result.trace) == steps
    assert result.trace.config.blocks == 64
    outcome = replay(result.trace)
    assert outcome.ok, outcome.message
    last = result.trace.steps[-1]
    if variant == "percpu_drain_leak":
        assert last.action == "guest_free_page_hinting"
        assert "?" in HintingOom(result.trace.config).frame_map(last.state)  # a lost block
    if variant == "percpu_no_recheck":
        assert "*" in HintingOom(result.trace.config).frame_map(last.state)  # in two places


def test_the_busy_loop_is_a_progress_property_no_bmc_trace_refutes() -> None:
    model = get_model("hinting_oom")(make_config(get_model("hinting_oom"), "percpu_spin", {}))
    busy = "the guest does not loop forever adding to a full ring"
    assert model.property(busy).kind is PropertyKind.LIVENESS
    assert busy not in encoding("percpu_spin").invariants()


@pytest.mark.parametrize(
    ("variant", "config", "prop", "steps"),
    [
        # the upstream gate is read once per pass, before the zone lock
        ("capped_gate", {}, ABOVE_LOW, 4),
        ("capped_no_gate", {"demand": 2}, ABOVE_LOW, 4),
        # tight demand: the host sits on a batch while the guest needs it
        ("capped_gate_per_batch", {"demand": 2}, NO_OOM, 6),
    ],
)
def test_where_the_guest_leaves_no_room_prove_refutes_with_a_replayable_trace(
    variant: str, config: dict[str, Any], prop: str, steps: int
) -> None:
    result = prove(encoding(variant, **config))
    assert result.verdict is ProofVerdict.REFUTED
    assert result.trace is not None
    assert result.trace.prop == prop
    assert len(result.trace) == steps
    assert replay(result.trace).ok


def test_oom_only_when_tight_is_proven_at_tight_demand() -> None:
    """At demand 2 of 4 blocks the guest can fill memory: 'no hinting-induced OOM' is
    false (refuted above), but the OOM accounting holds: the record's free + held and the
    guest's frozen uses add up to the zone, so an OOM the hinting path causes needs uses
    >= blocks - WMARK_MIN - CAPACITY."""
    props = [TIGHT, IN_FLIGHT, EXCLUSION]
    full = prove(encoding("capped_gate_per_batch", demand=2), properties=props)
    assert full.verdict is ProofVerdict.PROVEN
    assert OOM_LEMMA in full.lemmas


@pytest.mark.slow
def test_hintspec_prove_capped_gate_at_512_blocks(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["prove", "hinting_oom", "--variant", "capped_gate", "--set", "blocks=512"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "PROVEN" in out and "4 strengthening lemma" in out


def test_each_implication_has_a_reachable_premise_and_a_short_bound_flags_it() -> None:
    enc = encoding("capped_gate_per_batch", blocks=4)
    result = prove(enc)
    assert result.verdict is ProofVerdict.PROVEN
    steps = {c.prop: c.steps for c in result.premises}
    # No premise for the in-flight cap (not an implication); each premise has a witness.
    assert set(steps) == {NO_OOM, REPORTED, TIGHT}
    assert all(s is not None and s > 0 for s in steps.values())
    for check in result.premises:
        assert check.trace is not None and replay(check.trace).ok
    assert result.exit_code() == 0
    # Hinting holds a block, and the host acks one, only after a few steps: within one, no
    # premise is reached, and the proof is "vacuous?" (exit 3, as an unknown).
    short = prove(enc, premise_depth=1)
    assert short.verdict is ProofVerdict.PROVEN
    assert set(short.vacuous) == {NO_OOM, REPORTED, TIGHT}
    assert short.exit_code() == 3
    assert "vacuous?" in short.premises[0].describe()
