"""Z3 encoding of thp_split: the upstream design proven at the kernel's HPAGE_PMD_NR (512
subpages), every bad variant that breaks a safety property refuted by BMC beyond what the
explorer enumerates (its traces replay against the Python model), the liveness-only variant
out of BMC's reach, and the CTI that makes a strengthening lemma necessary.

(The conformance of the encoding with the model is tests/test_smt_conformance.py.)"""

from __future__ import annotations

from typing import Any

import pytest
from hintspec.lang.configs import make_config
from hintspec.lang.registry import get_model
from hintspec.models.thp_split import Fault, Kind, Run
from hintspec.properties.proofs.thp_split import ThpSplitEncoding
from hintspec.smt import ProofVerdict, bmc, invariant_properties, prove
from hintspec.traces.replay import replay

POPULATED = "a populated page stays mapped until it is discarded"
DISCARDED = "a discarded page stays empty until QEMU places it"
PROTECTED = "a page QEMU has not saved keeps its write protection"
IGNORED = "no vCPU waits on a fault the handler will ignore"
RECEIVED = "a page QEMU has received stays mapped"


def encoding(variant: str = "upstream", **config: Any) -> ThpSplitEncoding:
    cls = get_model("thp_split")
    model = cls(make_config(cls, variant, config))
    enc = ThpSplitEncoding(model)
    return enc


def test_upstream_is_proven_at_hpage_pmd_nr() -> None:
    """Two THP-sized regions of 512 subpages (1024 pages): every safety property, by
    1-induction with the strengthening lemmas; the step reads only the pages it touches."""
    enc = encoding(regions=2, subpages=512)
    result = prove(enc)
    assert result.verdict is ProofVerdict.PROVEN, result.reason
    assert result.properties == [
        p for p in invariant_properties(enc.model) if p not in enc.properties_not_encoded
    ]
    assert result.lemmas == list(enc.lemmas())
    assert result.cti is None and result.trace is None
    # the base case, then every action against every conjunct: all unsatisfiable
    conjuncts = len(result.properties) + len(result.lemmas)
    actions = len(enc.transitions())
    assert actions == 14
    assert [q.answer for q in result.queries] == ["unsat"] * (1 + actions * conjuncts)


@pytest.mark.parametrize(
    ("variant", "config", "prop", "steps", "actions"),
    [
        (
            "v1_pte_none",
            {},
            POPULATED,
            2,
            ["vcpu_access", "deferred_split_scan"],
        ),
        (
            "zeropage_drops_uffd_wp",
            {},
            PROTECTED,
            4,
            [
                "vcpu_access",
                "ram_write_tracking_prepare",
                "ram_write_tracking_start",
                "deferred_split_scan",
            ],
        ),
        (
            "qemu_skips_nhp_range",
            {"user": "postcopy"},
            DISCARDED,
            4,
            [
                "ram_load_precopy",
                "loadvm_postcopy_ram_handle_discard",
                "deferred_split_scan",
                "khugepaged",
            ],
        ),
        ("khugepaged_ignores_uffd", {"user": "snapshot"}, PROTECTED, 5, None),
        (
            "balloon_in_snapshot",
            {"user": "snapshot"},
            PROTECTED,
            3,
            ["ram_write_tracking_prepare", "ram_write_tracking_start", "balloon_inflate"],
        ),
    ],
)
def test_bmc_refutes_each_safety_bad_variant_at_32_subpages(
    variant: str, config: dict[str, Any], prop: str, steps: int, actions: list[str] | None
) -> None:
    """32 pages (the explorer enumerates 4 exhaustively); the shortest violation is found
    and replays against the Python model."""
    result = bmc(encoding(variant, subpages=32, **config), 8)
    assert result.verdict is ProofVerdict.REFUTED
    assert result.trace is not None
    assert result.trace.prop == prop
    assert len(result.trace) == steps
    assert result.trace.config.subpages == 32
    if actions is not None:
        assert [s.action for s in result.trace.steps[1:]] == actions
    outcome = replay(result.trace)
    assert outcome.ok, outcome.message


def test_bmc_refutes_the_postcopy_balloon_at_16_pages() -> None:
    """The received page that the balloon discards behind QEMU's back: a page is
    received (in precopy, or placed after the registration), then inflated; four steps
    either way. (Two regions of 8: the precopy
    scan's "first dirty page" guard reads every page, so 2 x 32 takes minutes -- that
    size is the proof manifest's slow entry.)"""
    result = bmc(encoding("balloon_in_postcopy", subpages=8, user="postcopy"), 5)
    assert result.verdict is ProofVerdict.REFUTED
    assert result.trace is not None
    assert result.trace.prop == RECEIVED
    actions = [s.action for s in result.trace.steps[1:]]
    assert len(actions) == 4 and actions[-1] == "balloon_inflate"
    assert "postcopy_ram_incoming_setup" in actions
    outcome = replay(result.trace)
    assert outcome.ok, outcome.message


def test_the_liveness_only_variant_is_out_of_bmc_reach() -> None:
    """underused_511_exit breaks only 'an all-zero THP on the split queue is eventually
    split' (a lasso in the explorer): no safety property fails, so a bounded search of the
    @always properties finds nothing and says so (unknown, not proven)."""
    result = bmc(encoding("underused_511_exit", subpages=32), 3)
    assert result.verdict is ProofVerdict.UNKNOWN
    assert result.trace is None
    assert result.depth == 3
    assert "no violation within 3 steps" in result.reason


def test_the_ignored_fault_property_needs_qemus_received_page_property() -> None:
    """Alone, 'no vCPU waits on a fault the handler will ignore' is not inductive: the
    CTI is a vCPU that takes a MISSING fault on an empty page the receive bitmap marks
    received -- the shape of the v1 and balloon bugs, unreachable upstream because of the
    property 'a page QEMU has received stays mapped' (QEMU's own assumption)."""
    enc = encoding(subpages=4)
    result = prove(enc, properties=[IGNORED], lemmas=False, bmc_depth=2)
    assert result.verdict is ProofVerdict.UNKNOWN
    cti = result.cti
    assert cti is not None
    assert cti.broken == IGNORED and cti.action == "vcpu_access"
    page = cti.post.vcpu.page
    assert cti.post.vcpu.run is Run.FAULTED and cti.post.vcpu.fault is Fault.MISSING
    assert cti.pre[0].received[page] and cti.pre[0].pte[page].kind is Kind.NONE
    assert "Counterexample to induction" in cti.render(enc.model)
    # Not even with the lemmas...
    assert prove(enc, properties=[IGNORED], bmc_depth=0, refine=0).verdict is not (
        ProofVerdict.PROVEN
    )
    # ...but together with QEMU's property it is.
    assert prove(enc, properties=[IGNORED, RECEIVED]).verdict is ProofVerdict.PROVEN


class _Without(ThpSplitEncoding):
    """The encoding with one strengthening lemma left out."""

    dropped = ""

    def lemmas(self) -> dict[str, Any]:
        return {k: v for k, v in super().lemmas().items() if k != self.dropped}


def test_every_lemma_is_necessary() -> None:
    """Leave any one lemma out and the induction step fails (a CTI): none of the nine is
    redundant. Checked at 2 regions of 2 pages (the step is the same formula as at 512),
    with the quick CTI (no refinement rounds, to keep this test short: such a CTI may
    break a hypothesis at a page the step did not instantiate; with refinement, 8 of the
    9 CTIs are genuine states, and the ninth, for the valid-values lemma, is a state
    whose enumerations hold values no State has)."""
    cls = get_model("thp_split")
    model = cls(make_config(cls, "upstream", {"regions": 2, "subpages": 2}))
    names = list(ThpSplitEncoding(model).lemmas())
    assert len(names) == 9
    for name in names:
        enc = type("Enc", (_Without,), {"dropped": name})(model)
        result = prove(enc, bmc_depth=0, refine=0)
        assert result.verdict is ProofVerdict.UNKNOWN, name
        assert result.cti is not None, name
