"""Z3 encoding of ``models/thp_split.py`` (THP underused split vs userfaultfd, QEMU users).

The VMA has ``regions`` regions of ``subpages`` pages (both powers of two here), numbered
region after region. The size parameter is ``subpages``: the kernel's ``HPAGE_PMD_NR`` is
512, and the proofs run there; ``regions`` stays small.

State variables -- every per-page quantity is one frame set *per region*
(``hintspec.smt.frames_sort(subpages)``: subpage number -> Bool), so that a region-wide
update or test is a whole-set operation (``z3.Map`` of and/or/not, a constant set, an
equality with one), never a loop over the region's pages and never a quantifier:

* the page table: ``k0_r{r}``/``k1_r{r}`` the entry's kind (none 00, THP subpage 10, small
  page 01, zeropage 11, as ``(k0, k1)``), ``data_r{r}``, ``wp_r{r}``;
* the bitmaps ``guest``, ``dirty``, ``received``, ``unsaved``, ``populated`` per region;
* scalars: ``phase``, ``uffd``, the vCPU (``run``, ``vpage``, ``vop``, ``vfault``; a
  running vCPU is all zeros, its page -1 in the model), ``scan``, ``thp_allowed``,
  ``thp{r}``, the split queue as ``qlen`` and slots ``q{i}`` (oldest first, unused slots
  0, so every queue has one encoding), the two witness counters and the ghosts
  ``misread``/``untracked`` (a flag and a page, 0 when unset). Page numbers (``vpage``,
  ``scan``, ...) are global: region bits above subpage bits.

The exact relation (:meth:`transitions`, what BMC unrolls and the conformance test checks)
has every guard of the model, including the counts over a region (``thp_underused``,
``max_ptes_none``) as sums over its pages and "the first dirty/unsaved page" as a
conjunction over all pages. :meth:`proof_transitions` drops those (see its docstring).

The ``@always`` properties are per page (:class:`hintspec.smt.Forall` over the subpage
number, for every region). Most are not inductive on their own; the nine strengthening
lemmas (:meth:`lemmas`) say what the model's ghosts mean in the correct design: a page not
dirty at the source holds what the guest last wrote (``guest``; with "after the discard a
dirty page is empty" and "the snapshot has no dirty pages" this gives *every access reads
what was last written*), the phase fixes the userfaultfd registration and turns THP off
after the discard, a vCPU sleeping on a MISSING fault sleeps at an empty page during
postcopy, every page is dirty or received during precopy (so the discard empties exactly
the unreceived pages), and no entry is empty while the snapshot is prepared or tracking
(so ``ram_write_tracking_start`` protects every page). Each is necessary: without any one
of them the step fails (a CTI). QEMU's property *a page QEMU has received stays mapped* (a
lemma before the balloon made it breakable) is what *no vCPU waits on a fault the handler
will ignore* needs: alone, that property has a CTI of the v1 and balloon bugs' shape, a
vCPU faulting on an empty page marked received (``tests/test_smt_thp_split.py``).
"populated is exactly: the entry maps a page" is *not* needed -- the property's direction
(populated => mapped) suffices.
"""

from __future__ import annotations

from hintspec.properties.proofs.thp_split.invariants import Invariants


class ThpSplitEncoding(Invariants):
    """Frame sets per region (the page table and the bitmaps), scalars for the rest."""

    model_name = "thp_split"
    variants = (
        "upstream",
        "v1_pte_none",
        "khugepaged_ignores_uffd",
        "underused_511_exit",
        "zeropage_drops_uffd_wp",
        "qemu_skips_nhp_range",
        "balloon_in_postcopy",
        "balloon_in_snapshot",
    )
    variants_not_encoded = {
        "splits_every_queued_thp": "breaks only 'the shrinker splits a fully mapped THP "
        "only when it is underused', which the encoding does not state",
        "partial_unmap_not_queued": "breaks only 'a partially mapped THP waits on the split "
        "queue', which the encoding does not state",
    }
    properties_not_encoded = {
        "the shrinker splits a fully mapped THP only when it is underused": "the proof "
        "relation havocs the THP flags and the split queue (no other property reads them); "
        "the explorer checks it (bad variant splits_every_queued_thp)",
        "a partially mapped THP waits on the split queue": "the proof relation havocs the "
        "THP flags and the split queue; the explorer checks it (bad variant "
        "partial_unmap_not_queued)",
    }
    bmc_depth = 8
    size_parameter = "subpages"
    report_config = {"regions": 2, "subpages": 512}
    report_bmc_config = {"regions": 2, "subpages": 32}
    bench_sizes = (16, 64, 128, 256, 512)
    bench_bmc_sizes = (16, 32)
    bench_config = {"regions": 2}

    # Each variant gets 4 random walks (about 5 s): two users, 1 and 2 regions, every
    # config switch; the model's default (postcopy, 1 x 4) is the first state of none.
    conformance_configs = (
        ({"user": "postcopy", "regions": 2, "subpages": 2, "image": "0d"}, 2),
        ({"user": "snapshot", "thp_fallback": True, "max_ptes_none": 1}, 1),
        (
            {
                "user": "snapshot",
                "regions": 2,
                "subpages": 2,
                "mlocked": True,
                "mm_forbids_zeropage": True,
            },
            1,
        ),
    )
    bitblast_config = {"subpages": 4, "user": "snapshot", "max_ptes_none": 1}
