"""Z3 encoding of ``models/page_reporting.py`` (free page reporting, virtio-balloon, QEMU).

State variables (frame sets are :func:`hintspec.smt.frames_sort` arrays, true at a frame):

* ``free{o}`` (o in 0..top) -- ``State.free_area[o]``, the heads on each free list;
* ``allocated{o}`` (o in 0..max_alloc_order) -- ``State.allocated`` by order (the clients
  allocate no larger block; ``encode`` rejects a state holding one);
* ``reported`` -- PG_reported (or PageOffline) heads;
* ``acked{o}`` (o in report_order..top) -- the ghost ``acked`` by order (only blocks the
  worker isolated, all at or above the reporting order, get there);
* ``content0..2`` -- ``Content`` per frame as three bit planes; ``handed`` -- the ghost;
* ``word``, ``work_queued``, ``pc``, ``order``, ``err``, ``quiet`` (``Phase.QUIET``);
* ``has_budget`` / ``budget`` -- the cycle's budget (None, or the value + 1: -1 is reachable);
* the scatterlist as the kernel fills it: ``nents`` entries in slots ``sg_head{j}`` /
  ``sg_order{j}``, j < nents, slot j holding the j-th block isolated since the last report
  (``sg_set_page(&sgl[--offset])`` fills from the end, so ``State.sgl`` is the slots read
  backwards); unused slots are 0. ``capacity`` slots (``isolate_ignores_cap``: as many as
  blocks at or above the reporting order fit in memory);
* the virtqueue of size 1: ``ring`` (0 empty, 1 the buffer is available, 2 used: the host
  pops and pushes in one step, so it is never in flight) and the buffer's own copy of the
  scatterlist, ``ring_n`` / ``ring_head{j}`` / ``ring_order{j}`` (in ``reuse_before_ack``
  the ring's buffer outlives the scatterlist it was made from).

Actions are as in the model, each one relation. ``walk`` isolates into the slots from
``nents`` on, one fresh head per slot, ascending (the order ``_isolate`` takes them in);
"every unreported head of the list" is "the list minus the chosen heads has no unreported
head left" (a ``z3.Lambda`` set difference compared with the empty set), so no count is
needed; only the budget (``DIV_ROUND_UP(nr_free, capacity * 16)``) counts a whole list. The
drain puts the slots back one at a time, last slot first, each with the merge chain of
``__free_one_page`` unrolled for every order the slot may hold (the heads of a block's
ancestors are ``head & ~((1 << k) - 1)`` whatever its order, so the chains share their terms).
``host_report`` updates ``handed`` and the content planes of every frame the ring's buffer
covers: a ``z3.Lambda`` over frames (read one frame at a time in the induction step).

The proof relation (:meth:`PageReportingEncoding.proof_transitions`) loosens one action,
``walk``: the list it walks is any list at or above ``order`` (not the first one with an
unreported block), it isolates any 1..room unreported heads and then either walks on or
reports (not "all of them if they fit, else exactly room"), a new cycle's budget is any
value, and the leftover report or the end of the pass is taken whether or not a list above
still has work. Every Python successor is among its successors (the conformance test checks
it), so a proof with it covers the model; it drops the set-emptiness tests and the count of
a whole free list, which would drag every frame into the induction step.

Invariants: ownership, "reported => free head", the cap, ack-before-reuse, no data loss,
poison kept, no double hint and the mark's meaning, all per frame
(:class:`hintspec.smt.Forall`) or over the slots. See :meth:`PageReportingEncoding.lemmas`
for what the induction needs besides them.
"""

from __future__ import annotations

from hintspec.models.page_reporting import Discard, FreeInit
from hintspec.properties.proofs.page_reporting.invariants import Invariants


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
    )
    bmc_depth = 10
    proved_variants = ("upstream", "offline")
    report_config = {"frames": 512, "report_order": 2, "capacity": 2}
    report_bmc_config = {"frames": 8}
    bench_sizes = (64, 128, 256, 512, 1024)
    bench_bmc_sizes = (8,)
    bench_config = {"report_order": 2, "capacity": 2}
    conformance_configs = (
        ({"frames": 4, "report_order": 0, "capacity": 1}, 3),
        (
            {
                "frames": 8,
                "report_order": 1,
                "capacity": 2,
                "max_alloc_order": 2,
                "discard": Discard.FREE,
                "free_init": FreeInit.ZERO,
            },
            1,
        ),
        (
            {
                "frames": 4,
                "report_order": 1,
                "capacity": 2,
                "free_init": FreeInit.POISON,
                "page_poison": False,
            },
            2,
        ),
    )
    """Budget, capacity 1 and 2, report order 0 and 1, MADV_FREE with init_on_free, and page
    poisoning without PAGE_POISON (reporting off, but on in ``no_poison_check``)."""
    bitblast_config = {"frames": 8, "report_order": 0, "capacity": 2}
    liveness_only = ("no_budget", "atomic_set_idle")
    """Bad variants that break only leads-to properties: no bounded search of the safety
    properties refutes them (the explorer's manifest does)."""
    proof_properties = (
        "no page is lost or owned twice",
        "a reported page is a free buddy head",
        "at most capacity blocks are isolated",
    )
    """The three structural invariants of issue 8. The content properties need the host's
    exact update, which the proof relation leaves open; ack-before-reuse and no-double-hint
    need lemmas about the ring and ``acked`` that are not written yet. BMC searches all."""
