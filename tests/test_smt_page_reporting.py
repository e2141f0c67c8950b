"""Z3 encoding of page_reporting (properties/proofs/page_reporting/): BMC refutes each bad
variant that breaks a safety property, with a trace that replays on the Python model; the
upstream and Offline designs are proven by 1-induction with six strengthening lemmas; and
each lemma is needed: without it some step has a counterexample to induction."""

from __future__ import annotations

from typing import Any

import pytest
from hintspec.lang.configs import make_config
from hintspec.lang.registry import get_model
from hintspec.models.page_reporting import FreeInit
from hintspec.smt import Budget, Cti, Encoding, ProofVerdict, bmc, encoding_for, prove
from hintspec.smt.induction import _step
from hintspec.traces.replay import replay

OWNERSHIP = "no page is lost or owned twice"
FREE_HEAD = "a reported page is a free buddy head"
CAP = "at most capacity blocks are isolated"
ACK = "a reported page goes back to the allocator only after the host acked it"
POISON = "a free page reads back what the guest wrote when it freed it"
DOUBLE = "a block is not reported again while it stays free and unmerged"
MARK = "every frame of a marked block was handed to the host and not written since"
IDLE = "the worker does not go idle while a block the guest freed waits for its report"

SGL_IN_PASS = "the scatterlist is empty unless a pass is walking, reporting or waiting"
SLOT_ORDERS = "every isolated block has an order the pass walks"
RING_IS_SGL = "the ring holds a buffer only while the worker waits, and it is the scatterlist"
USED_HANDED = "every frame of a used buffer was handed to the host (and discarded if aligned)"
ACKED_MARKED = "every acknowledged block is a marked free head of its order"
NO_DATA = "no free or isolated frame holds the guest's data"
LEMMAS = [SGL_IN_PASS, SLOT_ORDERS, RING_IS_SGL, USED_HANDED, ACKED_MARKED, NO_DATA]

SMALL = {"frames": 4, "movable_frames": 0}
PROOF = {"frames": 4, "movable_frames": 0, "report_order": 1, "capacity": 2}
CTI = {**PROOF, "frames": 8}


def encoding(variant: str, **config: Any) -> Encoding[Any]:
    cls = get_model("page_reporting")
    return encoding_for(cls(make_config(cls, variant, config)))


@pytest.mark.parametrize(
    ("variant", "config", "depth", "prop", "steps"),
    [
        ("no_leftover_report", {}, 4, OWNERSHIP, 3),
        ("pass_reports_nothing", {}, 4, IDLE, 3),
        ("reuse_before_ack", {}, 6, ACK, 5),
        ("isolate_ignores_cap", {"capacity": 1, "report_order": 0}, 5, CAP, 4),
        ("no_poison_check", {"free_init": FreeInit.POISON, "page_poison": False}, 6, POISON, 5),
        (
            "walk_ignores_reported",
            {"capacity": 1, "fragmented": True, "clients": False},
            8,
            DOUBLE,
            7,
        ),
    ],
)
def test_bmc_refutes_the_bad_variant_and_the_trace_replays(
    variant: str, config: dict[str, Any], depth: int, prop: str, steps: int
) -> None:
    result = bmc(encoding(variant, **SMALL, **config), depth)
    assert result.verdict is ProofVerdict.REFUTED, result.reason
    assert result.trace is not None
    assert result.trace.prop == prop
    assert len(result.trace) == steps
    outcome = replay(result.trace)
    assert outcome.ok, outcome.message


def test_upstream_is_proven_with_the_six_lemmas() -> None:
    enc = encoding("upstream", **PROOF)
    result = prove(enc)
    assert result.verdict is ProofVerdict.PROVEN, result.reason
    assert result.properties == list(enc.proof_properties)  # type: ignore[attr-defined]
    assert {DOUBLE, MARK, "the host never discards data the guest is using"} <= set(
        result.properties
    )
    assert result.lemmas == LEMMAS


@pytest.mark.parametrize(
    ("lemma", "action", "broken"),
    [
        # finish drops the scatterlist: blocks isolated at the end of a pass are lost.
        (SGL_IN_PASS, "finish", OWNERSHIP),
        # the drain puts back only slots of the orders it unrolls.
        (SLOT_ORDERS, "drain", OWNERSHIP),
        # the drain marks the scatterlist's blocks; the host saw the ring's.
        (RING_IS_SGL, "drain", MARK),
        # the drain marks blocks the host used: they must have been handed to it.
        (USED_HANDED, "drain", MARK),
    ],
)
def test_without_the_lemma_the_step_has_a_counterexample(
    lemma: str, action: str, broken: str
) -> None:
    enc = encoding("upstream", **CTI)
    conj = enc.conjuncts(list(enc.proof_properties))  # type: ignore[attr-defined]
    assert lemma in conj
    del conj[lemma]
    cti = _step(enc, conj, 1, action, broken, Budget(300), 0)
    assert isinstance(cti, Cti) and cti.broken == broken
    assert "Counterexample to induction" in cti.render(enc.model)
    # With every lemma assumed, the same step keeps the property.
    full = enc.conjuncts(list(enc.proof_properties))  # type: ignore[attr-defined]
    assert _step(enc, full, 1, action, broken, Budget(300), 0) is None


def test_data_loss_alone_needs_the_no_data_lemma() -> None:
    # Proven with the other properties, poison_kept already says what a free frame holds;
    # proven alone, the data-loss property needs the lemma: without it, the host may
    # discard an isolated frame that holds data.
    loss = "the host never discards data the guest is using"
    enc = encoding("upstream", **PROOF)
    conj = enc.conjuncts([loss])
    del conj[NO_DATA]
    cti = _step(enc, conj, 1, "host_report", loss, Budget(300), 0)
    assert isinstance(cti, Cti) and cti.broken == loss
    assert _step(enc, enc.conjuncts([loss]), 1, "host_report", loss, Budget(300), 0) is None


def test_liveness_only_variants_break_no_safety_property() -> None:
    cls = get_model("page_reporting")
    enc_cls = type(encoding("upstream", frames=4))
    assert set(enc_cls.liveness_only) == {"no_budget", "busy_poll_ack"}  # type: ignore[attr-defined]
    assert set(enc_cls.liveness_only) <= set(cls.variants)
