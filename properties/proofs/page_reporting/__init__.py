"""Z3 encoding of ``models/page_reporting.py`` (free page reporting, virtio-balloon, QEMU).

State variables (frame sets are :func:`hintspec.smt.frames_sort` arrays, true at a frame;
frame numbers run to the next power of two, and frames past the memory hold nothing):

* ``free{z}_{o}{U|M}`` -- the heads on zone z's free list of order o and migratetype
  UNMOVABLE or MOVABLE (``State.free_area``);
* ``allocated{o}`` (o in 0..max_alloc_order) -- ``State.allocated`` by order;
* ``reported`` -- PG_reported (or PageOffline) heads; ``unmovable`` -- the pageblocks
  (indexed by pageblock number) whose type is UNMOVABLE;
* ``acked{o}``, ``owed{o}`` (o in report_order..top) -- the ghosts by order;
* ``content0..2`` -- ``Content`` per frame as three bit planes; ``handed``, ``discarded``;
* ``word``, ``work_queued``, ``pc``, the pass's position (``zone1``, ``order``, ``movable``),
  ``has_budget`` / ``budget`` (None, or the value + 1: -1 is reachable), ``err``, ``quiet``;
* the scatterlist as the kernel fills it: ``nents`` entries in slots ``sg_head{j}`` /
  ``sg_order{j}`` (``sg_set_page(&sgl[--offset])`` fills from the end, so ``State.sgl`` is
  the slots read backwards); unused slots are 0;
* the virtqueue of size 1: ``ring`` (0 empty, 1 available, 2 used) and its own copy of the
  scatterlist, ``ring_n`` / ``ring_head{j}`` / ``ring_order{j}``.

Actions are as in the model, each one relation (:mod:`.actions`, the pass in :mod:`.walk`).
Merges unroll ``__free_one_page`` over the zone's orders; the drain puts the slots back one
at a time, last slot first. ``host_report`` updates the frames the ring's buffer covers:
one store per frame in the exact relation, a ``z3.Lambda`` over frames in the proof
relation (the same function; the induction step then reads only the frames its goal names).

The proof relation (:meth:`PageReportingEncoding.proof_transitions`) loosens ``walk``: any
list at or after the position, any 1..room unreported heads, then walk on or report; a new
cycle's budget is any value; a zone's end is taken whether or not a list still has work.
Every Python successor is among its successors (the conformance test checks it).

See :meth:`~.invariants.Invariants.lemmas` for what the induction needs besides the
properties.
"""

from __future__ import annotations

from hintspec.models.page_reporting import Discard, FreeInit, PageReporting
from hintspec.properties.proofs.page_reporting.invariants import Invariants
from hintspec.smt import Transition


class PageReportingEncoding(Invariants):
    """Frame sets per list and order, the worker's registers, scatterlist slots, the ring."""

    model_name = "page_reporting"
    variants = (
        "upstream",
        "offline",
        "alloc_keeps_reported",
        "merge_keeps_reported",
        "reuse_before_ack",
        "isolate_ignores_cap",
        "walk_ignores_reported",
        "no_leftover_report",
        "no_budget",
        "atomic_set_idle",
        "no_poison_check",
        "offline_mixed_merge",
        "notify_unmerged_order",
        "pass_reports_nothing",
        "busy_poll_ack",
        "host_rounds_out",
        "unmovable_in_movable_zone",
    )
    bmc_depth = 10
    proved_variants = ("upstream", "offline")
    report_config = {"frames": 64, "movable_frames": 0, "report_order": 2, "capacity": 2}
    report_bmc_config = {"movable_frames": 0}
    size_parameter = "frames"
    bench_sizes = (64, 128, 256, 512)
    bench_bmc_sizes = (2, 4)
    bench_config = {"movable_frames": 0, "report_order": 2, "capacity": 2}
    conformance_configs = (
        ({"frames": 2, "movable_frames": 2, "capacity": 1}, 3),
        (
            {
                "frames": 4,
                "movable_frames": 0,
                "pageblock_order": 1,
                "report_order": 1,
                "capacity": 2,
                "discard": Discard.FREE,
            },
            2,
        ),
        (
            {
                "frames": 4,
                "movable_frames": 4,
                "report_order": 0,
                "capacity": 2,
                "host_page_order": 1,
                "free_init": FreeInit.POISON,
                "page_poison": False,
            },
            1,
        ),
        (
            {"frames": 8, "movable_frames": 0, "fragmented": True, "clients": False, "capacity": 1},
            1,
        ),
    )
    """Two zones with capacity 1; pageblock order 1 with MADV_FREE (the steal below
    pageblock order); a host page of two frames with poisoning but no PAGE_POISON (reporting
    off, but on in ``no_poison_check``); the fragmented start that spends the budget."""
    bitblast_config = {"frames": 4, "movable_frames": 2, "capacity": 2}
    liveness_only = ("no_budget", "busy_poll_ack")
    """Bad variants that break only liveness properties: no bounded search of the safety
    properties refutes them (the explorer's manifest does)."""
    proof_properties = (
        "no page is lost or owned twice",
        "a reported page is a free buddy head",
        "at most capacity blocks are isolated",
        "a reported page goes back to the allocator only after the host acked it",
        "the host never discards data the guest is using",
        "a free page reads back what the guest wrote when it freed it",
        "a block is not reported again while it stays free and unmerged",
        "every frame of a marked block was handed to the host and not written since",
        "a reported block gives its memory back to the host",
    )
    """Every safety property but "the worker does not go idle while a block the guest freed
    waits for its report" (bounded response over the ghost ``owed``: BMC searches it)."""

    def __init__(self, model: PageReporting) -> None:
        super().__init__(model)
        self._exact: dict[str, Transition] = {
            "alloc": self._alloc,
            "write": self._write,
            "free": self._free,
            "worker_start": self._worker_start,
            "walk": self._walk_exact,
            "report": self._report,
            "host_report": self._host_report,
            "drain": self._drain_action,
            "finish": self._finish,
            "quiesce": self._quiesce,
        }
        self._loose: dict[str, Transition] = {
            "walk": self._walk_loose,
            "host_report": self._host_report_local,
        }

    def transitions(self) -> dict[str, Transition]:
        # The same callables every time: loosened() tells the loosened actions by identity.
        return dict(self._exact)

    def proof_transitions(self) -> dict[str, Transition]:
        return self._exact | self._loose
