"""Z3 encoding of ``models/hinting_oom.py`` (hinting queues and OOM, one zone of whole blocks).

State variables (``n`` = ``blocks``; frame sets are arrays from a block number to Bool over
the next power of two, blocks beyond ``n`` always empty):

* ``free``, ``reported`` -- frame sets; ``alloc{c}`` -- vCPU c's blocks;
* the ring (``Virtqueue``) as a queue of ``ring`` slots in add order, oldest first: the used
  buffers, then the popped (in-flight) ones, then the available ones -- every operation of
  the virtqueue keeps that order (pop and push only move a boundary, ``get_buf`` takes
  slot 0) -- so a ring state is the slots plus three counts ``nused``, ``ninfl``,
  ``navail``. Slot j holds a frame set ``slot{j}`` (the buffer's blocks; payloads have
  distinct, sorted blocks), its length ``slotn{j}`` and, per-CPU, the requesting vCPU
  ``slotcpu{j}``; slots beyond the count are zero (the encoding is a function of the state);
* the OOM record ``oom``, ``oom_cpu``, ``oom_free``, ``oom_held``; the ghost ``low_breach``;
* per-CPU designs: ``listed{c}_{k}`` -- bit k of how often each pfn is recorded in vCPU c's
  array (a sorted tuple that may repeat a pfn, hence a multiset: bit planes of a count up to
  ``threshold``), ``nlisted{c}``; ``iso{c}`` -- the isolated array (distinct blocks), ``niso{c}``;
* capped designs: ``pr``, ``worker``, ``budget`` (stored + 1: the budget runs down to -1).

Counts are explicit state variables -- ``nfree`` = |free|, ``nalloc{c}`` = |alloc{c}|,
``nelig`` = |free - reported| (capped), the lengths above -- because the model's guards and
properties count (watermarks, the budget, the OOM record's ``held``), and a count over all
blocks would drag every block into an induction step. ``encode`` computes them from the
sets; the exact relation (:meth:`transitions`) updates each by exactly the change of its
set (the conformance test checks that ``encode(t)`` of every Python successor, counts
included, is admitted and nothing else). Where that change is a count over all blocks (an
isolated batch, a returned buffer in a bad variant), the exact relation sums over every
block: fine for BMC and the conformance test, and the proof relation replaces it.

Choices. The model enumerates a chosen block once per class of interchangeable blocks (the
lowest of each class, ``HintingOom.choices``; ``subsets`` takes the lowest ones of each
class). The exact relation says the same: the chosen block has no lower block of the set
with the same *signature* (free, free and reported, in which vCPU's allocation, recorded how
often in which array, isolated by which vCPU, in which ring slot -- the model's
``_signature``, with ring slots standing for (stage, index)); a batch is closed downwards
within its classes and has ``count`` blocks. That is O(n) (a batch: O(n^2)) per step.

Proofs (k-induction, :meth:`proof_transitions`) for the capped designs, with four lemmas
(:meth:`lemmas`, below); the per-CPU designs are refuted by BMC. Which properties hold where: the
capped designs keep ownership, PG_reported, the in-flight cap and "OOM only when tight" at
every configuration; the watermark property (``capped_gate``, ``capped_no_gate``) and "no
hinting-induced OOM" (all of them) only when the guest's own demand leaves room, i.e.
``blocks - cpus * demand - capacity`` above WMARK_LOW, resp. WMARK_MIN -- true at the
report/bench configurations (demand 1 per vCPU), false at the manifest's tight ones, where
``hintspec prove`` refutes them.

Lemmas, and why each is needed (``tests/test_smt_hinting_oom.py`` shows the CTIs):

* the ring lemma -- worker OFF/CYCLE: ring empty; WAIT/WAIT_LEFTOVER: one buffer, whose
  length is ``nring``. Without it a cycle fills the slot of a report still in the ring.
* the counting lemma -- ``nfree + uses + held == blocks`` (in wider arithmetic, so nothing
  wraps). Without it ``nfree`` is unconstrained: an allocation "fails" with free blocks.
* the demand lemma -- ``nalloc{c} <= demand``: bounds ``uses`` for the watermark and OOM.
* the OOM-record lemma -- once an OOM is recorded, ``uses + oom.free + oom.held == blocks``
  and ``oom.held <= CAPACITY`` (the guest's uses are frozen after it): what "OOM only when
  tight" needs at tight configurations (where an OOM happens at all).

Left out: the busy loop of ``percpu_spin`` is a progress property (a lasso), which a finite
BMC trace cannot refute; BMC refutes that variant by the in-flight cap it shares with
``percpu_2019``. The per-CPU designs' hinting-induced OOM needs the zone emptied (about
three steps per block), beyond BMC at 64 blocks: the explorer shows it at 4 blocks.
"""

from __future__ import annotations

from hintspec.properties.proofs.hinting_oom.invariants import Invariants
from hintspec.properties.proofs.hinting_oom.state import (
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
)


class HintingOomEncoding(Invariants):
    """Frame sets for the zone, the vCPUs, the arrays and the ring slots; explicit counts."""

    model_name = "hinting_oom"
    variants = (
        "capped_gate_per_batch",
        "capped_gate",
        "capped_no_gate",
        "percpu_2019",
        "percpu_drain_leak",
        "percpu_no_recheck",
        "percpu_spin",
    )
    variants_not_encoded = {
        "capped_set_idle": "breaks only 'the worker does not go idle while a block it may "
        "report waits', which the encoding does not state (the explorer refutes it)",
        "capped_empty_leftover": "adds an empty buffer, which the ring encoding cannot hold "
        "(every encoded report is a non-empty batch); the explorer refutes 'every ring "
        "buffer names at least one block'",
        "capped_leftover_not_drained": "breaks only liveness ('every block the worker hands "
        "to the host comes back to the allocator'): the explorer's business",
        "capped_waits_for_nothing": "breaks only liveness ('a reporting pass ends while the "
        "host answers'): the explorer's business",
    }
    properties_not_encoded = {
        "the worker does not go idle while a block it may report waits": "needs the "
        "per-batch gate and the zone watermark of every free block in one predicate; the "
        "explorer checks it (bad variant capped_set_idle)",
        "every ring buffer names at least one block": "the ring encoding holds only "
        "non-empty batches, so the property is true by construction there; the explorer "
        "checks it (bad variant capped_empty_leftover)",
    }
    proved_variants = ("capped_gate_per_batch", "capped_gate", "capped_no_gate")
    bmc_depth = 10
    size_parameter = "blocks"
    bench_sizes = (64, 128, 256, 512, 1024)
    bench_bmc_sizes = (64,)
    report_config = {"blocks": 512}
    report_bmc_config = {"blocks": 64, "ring": 4}
    conformance_configs = (
        ({"blocks": 4}, 4),
        ({"blocks": 8, "demand": 2, "capacity": 2, "ring": 2, "threshold": 2, "wmark_low": 3}, 2),
    )
    bitblast_config = {"blocks": 8, "demand": 3, "capacity": 2}
    require_twins = True


__all__ = [
    "ABOVE_LOW",
    "COUNT_LEMMA",
    "DEMAND_LEMMA",
    "EXCLUSION",
    "IN_FLIGHT",
    "NO_OOM",
    "OOM_LEMMA",
    "REPORTED",
    "RING_LEMMA",
    "TIGHT",
    "HintingOomEncoding",
]
