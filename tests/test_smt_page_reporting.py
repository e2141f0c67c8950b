"""Z3 encoding of page_reporting (properties/proofs/page_reporting.py): BMC refutes the bad
variants that break a safety property, with traces that replay; the upstream design's three
structural invariants are proven by 1-induction with two strengthening lemmas, and without
the lemmas the step fails with a counterexample to induction."""

from __future__ import annotations

from typing import Any

import pytest
from hintspec.lang.configs import make_config
from hintspec.lang.registry import get_model
from hintspec.models.page_reporting import FreeInit, Pc
from hintspec.smt import Budget, Cti, Encoding, ProofVerdict, bmc, encoding_for, prove
from hintspec.smt.induction import _step
from hintspec.traces.replay import replay

OWNERSHIP = "no page is lost or owned twice"
FREE_HEAD = "a reported page is a free buddy head"
CAP = "at most capacity blocks are isolated"
ACK = "a reported page goes back to the allocator only after the host acked it"
POISON = "a free page reads back what page poisoning wrote"
LEMMAS = [
    "the scatterlist is empty unless a pass is walking, reporting or waiting",
    "every isolated block has an order the pass walks",
]


def encoding(variant: str, **config: Any) -> Encoding[Any]:
    cls = get_model("page_reporting")
    return encoding_for(cls(make_config(cls, variant, config)))


@pytest.mark.parametrize(
    ("variant", "config", "prop", "steps"),
    [
        ("alloc_keeps_reported", {}, FREE_HEAD, 7),
        ("reuse_before_ack", {}, ACK, 5),
        ("isolate_ignores_cap", {"report_order": 0}, CAP, 4),
        ("no_leftover_report", {}, OWNERSHIP, 4),
        ("no_poison_check", {"free_init": FreeInit.POISON, "page_poison": False}, POISON, 5),
    ],
)
def test_bmc_refutes_the_bad_variant_and_the_trace_replays(
    variant: str, config: dict[str, Any], prop: str, steps: int
) -> None:
    result = bmc(encoding(variant, frames=8, **config), 8)
    assert result.verdict is ProofVerdict.REFUTED, result.reason
    assert result.trace is not None
    assert result.trace.prop == prop
    assert len(result.trace) == steps
    outcome = replay(result.trace)
    assert outcome.ok, outcome.message


def test_upstream_invariants_are_proven_with_two_lemmas_at_64_frames() -> None:
    result = prove(encoding("upstream", frames=64, capacity=2, report_order=2))
    assert result.verdict is ProofVerdict.PROVEN, result.reason
    assert result.properties == [OWNERSHIP, FREE_HEAD, CAP]
    assert result.lemmas == LEMMAS


def test_ownership_as_stated_is_not_inductive_the_cti_shows_why() -> None:
    enc = encoding("upstream", frames=16, capacity=2, report_order=1)
    conj = enc.conjuncts([OWNERSHIP], lemmas=False)
    # finish frees the scatterlist: from a state (unreachable) with blocks isolated at the
    # end of a pass, their frames are lost.
    cti = _step(enc, conj, 1, "finish", OWNERSHIP, Budget(60), 0)
    assert isinstance(cti, Cti) and cti.broken == OWNERSHIP
    assert cti.pre[0].pc is Pc.END and cti.pre[0].sgl
    assert "Counterexample to induction" in cti.render(enc.model)
    # With the lemmas assumed, no step breaks ownership.
    strong = enc.conjuncts([OWNERSHIP], lemmas=True)
    for action in ("finish", "report", "drain"):
        assert _step(enc, strong, 1, action, OWNERSHIP, Budget(60), 0) is None, action


def test_liveness_only_variants_break_no_safety_property() -> None:
    cls = get_model("page_reporting")
    enc_cls = type(encoding("upstream", frames=4))
    assert set(enc_cls.liveness_only) == {"no_budget", "atomic_set_idle"}  # type: ignore[attr-defined]
    assert set(enc_cls.liveness_only) <= set(cls.variants)  # type: ignore[attr-defined]
