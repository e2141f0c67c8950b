"""THP underused split and userfaultfd: zero subpages, the shared zeropage, wrong MISSING faults.

The design under review is the series "mm: split underutilized THPs" (Usama Arif, merged in
6.12: dafff3f4c850 "mm: split underused THPs", b1f202060afe "mm: remap unused subpages to
shared zeropage when splitting isolated thp"). Every anonymous THP goes on the deferred
split queue at fault and collapse time; under memory pressure the shrinker
(mm/huge_memory.c ``deferred_split_scan``) splits a THP that is *underused*
(``thp_underused``: more zero-filled subpages than ``khugepaged/max_ptes_none``), and the
split's remap (``remap_page(folio, nr, RMP_USE_SHARED_ZEROPAGE)`` -> mm/migrate.c
``remove_migration_pte`` -> ``try_to_map_unused_to_zeropage``) maps each zero-filled subpage
to the shared zeropage instead of keeping a private zeroed page. v1 of the series instead
cleared zero subpages to ``pte_none`` unless the VMA was userfaultfd-armed at split time;
David Hildenbrand's review (July 2024) showed that this breaks QEMU postcopy: a received
zero page that becomes ``pte_none`` before QEMU registers userfaultfd raises a MISSING fault
later, and QEMU ignores a fault for a page its receive bitmap marks received
(migration/migration.c ``migrate_send_rp_req_pages``: "as long as the page arrived, it'll
be there forever"), so the vCPU waits for ever. The facts behind every rule below, with
their sources, are in ``docs/models/thp_split.md``; ``models/thp_multi.py`` checks the
same split against two vCPUs, GUP pins, poisoned subpages and mlock at run time.

What is modelled, and from where:

* **The VMA.** One anonymous VMA of ``regions`` THP-sized regions of ``subpages`` subpages
  each (``HPAGE_PMD_NR`` scaled down; ``max_ptes_none`` scaled with it, default
  ``subpages - 1`` like the kernel's 511). VMA flags: THP allowed (``MADV_NOHUGEPAGE``
  clears it), the userfaultfd registration (MISSING or WP), and VM_LOCKED (config
  ``mlocked``, for the snapshot user: QEMU's postcopy_ram_supported_by_host runs
  ``munlockall()`` -- "userfault and mlock don't go together" -- so a postcopy destination
  is never locked). ``mm_forbids_zeropage`` is a config.
* **The page table**, one entry per subpage: none, a subpage of the region's THP, a small
  page, or the shared zeropage; the page's content (data or zero-filled); the uffd-wp bit.
  PMD- and PTE-mapping of a THP are not told apart (uffd-wp on a PMD is the bit on all its
  subpages; a partial ``MADV_DONTNEED`` splits the PMD, which changes no entry here).
* **Kernel actions.** Faults (mm/memory.c ``do_anonymous_page``, mm/huge_memory.c
  ``do_huge_pmd_anonymous_page``, mm/memory.c ``do_wp_page``; a read of an unpopulated
  address maps the small zeropage -- the huge zeropage is abstracted as small zeropages),
  fs/userfaultfd.c ``handle_userfault`` (MISSING on a none entry in a MISSING-armed VMA; WP
  on an entry with the uffd-wp bit in a WP-armed VMA), khugepaged (mm/khugepaged.c
  ``hpage_collapse_scan_pmd`` / ``__collapse_huge_page_isolate``: a none or zeropage entry
  counts towards ``none_or_zero``, allowed only if ``!userfaultfd_armed(vma) &&
  none_or_zero <= max_ptes_none``; an entry with the uffd-wp bit refuses the collapse), the
  deferred split queue (``deferred_split_folio``: at THP fault and collapse, and again when
  a THP becomes partially mapped) and the shrinker (``deferred_split_scan``: mlocked folios
  that are not partially mapped are skipped; ``thp_underused`` against ``max_ptes_none``; a
  folio that is not split leaves the queue), and the split's remap
  (``try_to_map_unused_to_zeropage``: not for mlocked folios, VM_LOCKED VMAs or when
  ``mm_forbids_zeropage``; since Lance Yang's 2025 fix "mm/rmap: fix soft-dirty and uffd-wp
  bit loss when remapping zero-filled mTHP subpage to shared zeropage" the zeropage entry
  inherits uffd-wp). ``MADV_DONTNEED`` (mm/madvise.c) appears as QEMU's discard and as the
  virtio-balloon's; a THP whose every subpage is unmapped is freed.
* **The user is QEMU**, one of two (chosen by the initial state; config ``user``):
  *incoming postcopy migration* (migration/postcopy-ram.c, migration/savevm.c,
  migration/ram.c): precopy writes the received pages (zero pages are only read, as
  ``ram_handle_zero`` does) while the source's guest keeps dirtying pages;
  ``loadvm_postcopy_ram_handle_discard`` first runs ``postcopy_ram_prepare_discard``
  (MADV_NOHUGEPAGE, ``nhp_range``), then discards every page that is unsent or was
  re-dirtied (``ram_discard_range`` clears its receive-bitmap bit and madvises it away);
  ``postcopy_ram_incoming_setup`` registers userfaultfd in MISSING mode; then the vCPU runs
  and the fault thread serves MISSING faults (``migrate_send_rp_req_pages``: a fault for a
  page the receive bitmap marks received is *not* requested, so nothing wakes that vCPU),
  while the source pushes the remaining pages (UFFDIO_COPY, or UFFDIO_ZEROPAGE for a zero
  page). Or *background snapshot* (migration/ram.c ``ram_write_tracking_prepare`` populates
  every page by reading it, because uffd-wp silently skips ``pte_none`` entries;
  ``ram_write_tracking_start`` registers WP mode and write-protects everything;
  ``ram_save_host_page`` saves a page and un-protects it, serving the WP fault of a vCPU
  that waits on it; ``ram_write_tracking_stop`` unregisters).
* **The virtio-balloon** (config ``balloon``): the guest inflates a page it no longer
  uses and QEMU discards it (hw/virtio/virtio-balloon.c ``virtio_balloon_handle_output`` ->
  ``balloon_inflate_page`` -> ``ram_block_discard_range``), which neither clears the
  receive bitmap nor keeps a uffd-wp bit -- unless ``virtio_balloon_inhibited()``:
  "Postcopy cannot deal with concurrent discards, so it's special, as well as background
  snapshots" (``migration_in_incoming_postcopy``: from the discard on;
  ``migration_in_bg_snapshot``: while the snapshot runs).
* **One vCPU**: reads and writes data; it writes zeros too before a snapshot starts (that
  is how all-zero THPs arise; later zero writes add states but no new kind of fault). While
  it waits on a userfault it does nothing else; once woken it retries the faulting access.

Abstractions, and why: page contents are two values (data, zero) because only zero-ness
matters to ``thp_underused`` and to the remap. The source guest's memory starts as
``image`` and the source only turns sent zero pages into data (re-dirtying, which is what
the discard acts on). The precopy stream sends dirty pages in address order, round after
round (QEMU's linear scan). A page whose address is already populated is not pushed
(UFFDIO_COPY would fail with -EEXIST). khugepaged does not re-collapse a region that still
holds a THP (PTE-mapped THP collapse). v1 is given the same mlock / mm_forbids_zeropage
guard as upstream; it differs only in what an unprotected zero subpage becomes. The end of
postcopy (``postcopy_ram_incoming_cleanup``, whose UFFDIO_UNREGISTER would wake a stuck
vCPU) is not modelled, so a vCPU that no fault service will wake waits for the rest of the
run -- for a real guest the whole postcopy phase, "stuck forever" in the review. A balloon
page is inflated only while the vCPU runs (the guest driver needs it) and only where it
maps a page (discarding a hole changes nothing); deflating needs no action (the guest just
uses the page again, which faults it back in).

Ghost state (checks only, the kernel has none of it): ``guest`` (what the guest last
wrote, on the source during precopy), ``populated`` (the address had a page since its last
explicit discard), and the first bad read / untracked write seen. In the correct design the
ghosts are functions of the real state, so they add no states there.

The rules (their sources: ``docs/models/thp_split.md``) and where each is checked:

1. *A split preserves what every subpage reads* (a zero-filled subpage may become the
   zeropage, nothing else changes): ``every access reads what was last written``; broken by
   ``qemu_skips_nhp_range`` (khugepaged refills discarded holes). Arm64 MTE tags, the
   reason ``thp_underused`` compares with ``pages_identical`` since Lance Yang's 2025 fix,
   are out of scope: contents here carry no tags.
2. *The shrinker never turns a populated address into pte_none; a MISSING fault is raised
   only for a never-populated or explicitly discarded address*: ``no wrong uffd fault`` and
   its state form ``a populated page stays mapped until it is discarded``; broken by
   ``v1_pte_none``. QEMU's side of it, ``a page QEMU has received stays mapped``, is broken
   by the balloon variants too, and the consequence, ``no vCPU waits on a fault the
   handler will ignore`` / ``a faulting vCPU is eventually served``.
3. *The remap keeps the uffd-wp bit of the entry it replaces*: ``every write to a
   write-protected page raises a WP fault first`` and its state form ``a page QEMU has not
   saved keeps its write protection``; broken by ``zeropage_drops_uffd_wp``,
   ``khugepaged_ignores_uffd`` and ``balloon_in_snapshot``. The soft-dirty bit is restored
   by the same lines of the same fix; it is out of scope because it would double the
   entry state without a new interleaving (its reader, CRIU's incremental dump, is a
   second write-tracking user of exactly the snapshot's shape).
4. *No zero subpage of an mlocked folio, a VM_LOCKED VMA, or an mm that forbids the
   zeropage becomes the zeropage*: checked in ``models/thp_multi.py``, where mlock() and
   munlock() run concurrently with the split (here VM_LOCKED is a fixed config, the
   shrinker skips fully mapped mlocked THPs and QEMU never discards in a locked VMA, so the
   split never meets a locked zero subpage; the configs ``mlocked`` and
   ``mm_forbids_zeropage`` show the zeropage witness unreachable).
5. *An all-zero THP on the split queue is eventually split under memory pressure*:
   ``an all-zero THP on the split queue is eventually split``; broken by
   ``underused_511_exit``.
6. *khugepaged never fills a hole or a zeropage entry of a userfaultfd-armed VMA* (it
   would swallow a MISSING fault or drop uffd-wp): broken by ``khugepaged_ignores_uffd``.
7. *QEMU discards no received page while postcopy or a background snapshot runs*
   (``virtio_balloon_inhibited``): broken by ``balloon_in_postcopy`` and
   ``balloon_in_snapshot``.
8. *The shrinker splits a fully mapped THP only when it is underused* (more than
   ``max_ptes_none`` zero-filled subpages, the threshold khugepaged collapses by): ``the
   shrinker splits a fully mapped THP only when it is underused``; broken by
   ``splits_every_queued_thp`` (no partially_mapped flag, 8422acdc97ed).
9. *A partially mapped THP waits on the split queue* (``deferred_split_folio(folio,
   true)`` from the unmap), so pressure frees its unmapped subpages: ``a partially mapped
   THP waits on the split queue``; broken by ``partial_unmap_not_queued``.
10. *Where the zeropage may not be mapped*: an mlocked folio, a VM_LOCKED VMA,
    ``mm_forbids_zeropage`` (rule 4), a pinned folio (the split fails:
    ``models/thp_multi.py``, ``split_trusts_can_split_folio``), a poisoned subpage
    (``remap_reads_poison``, there too). "Not when userfaultfd is armed" was v1's rule;
    the merged series maps the zeropage whatever the registration (v2 changelog: "Map to
    shared zeropage in all cases if the base page is zero-filled"), keeping uffd-wp
    (rule 3), so it is checked as ``v1_pte_none``'s opposite, not as a rule of its own.

Out of scope, with the reason: mTHPs (``thp_underused`` compares against the PMD-sized
``max_ptes_none``, so an mTHP is never underused -- the model's THPs are PMD-sized); the
huge zeropage (a read of a hole maps small zeropages here; a PMD zeropage would be split
into the same entries); ``shrink_underused = 0`` (it only removes splits); swap and
page migration other than the split's own (they keep an entry's content and bits).

Properties are sentences; the state forms catch a bug at the step that causes it, the event
forms show what the guest or QEMU then sees. Each ``@always`` about a situation names its
trigger, so a configuration in which the situation never arises says "vacuous", not
"holds". The default configuration (one region of four subpages, both users, the balloon)
is the smallest at which every trigger and witness fires: four subpages give a THP with
data and zero subpages at once, two users give both fault kinds, and the balloon gives the
snapshot user partially mapped THPs (splits while the guest runs).

Fairness, and why: ``a faulting vCPU is eventually served`` assumes none. While the vCPU
sleeps, QEMU's threads (the postcopy fault thread polling the userfaultfd, the source's
background push, the snapshot's saving) and the kernel are all that move, and each of their
steps makes progress, so there is no cycle in which they could neglect the vCPU; an earlier
version assumed all three weakly fair, and the audit (``tests/test_thp_split.py``) showed
none of those assumptions is needed. ``an all-zero THP on the split queue is eventually
split`` assumes the shrinker weakly fair, as sustained memory pressure keeps reclaim calling
``deferred_split_scan``; without it the guest can read the THP for ever while the shrinker
never runs (the test shows that lasso).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from enum import IntEnum
from typing import Literal

from hintspec.lang.model import Args, Check, Model, action, always, leads_to, sometimes

UNDERUSED_511 = "underused_511_exit"
V1 = "v1_pte_none"
KHUGEPAGED_UFFD = "khugepaged_ignores_uffd"
WP_LOST = "zeropage_drops_uffd_wp"
NO_NHP = "qemu_skips_nhp_range"
BALLOON_POSTCOPY = "balloon_in_postcopy"
BALLOON_SNAPSHOT = "balloon_in_snapshot"
SPLITS_ALL = "splits_every_queued_thp"
NOT_QUEUED = "partial_unmap_not_queued"


class Kind(IntEnum):
    """What a page-table entry maps."""

    NONE = 0
    """pte_none: no page; an access faults."""
    THP = 1
    """A subpage of the region's THP."""
    PAGE = 2
    """A small (order-0) anonymous page."""
    ZERO = 3
    """The shared zeropage (pte_special, my_zero_pfn)."""


@dataclass(frozen=True, slots=True)
class Pte:
    """One page-table entry."""

    kind: Kind
    data: bool = False
    """The mapped page holds data (False: zero-filled; always False for NONE and ZERO)."""
    wp: bool = False
    """The uffd-wp bit."""


NONE_PTE = Pte(Kind.NONE)


class Uffd(IntEnum):
    """The VMA's userfaultfd registration."""

    NONE = 0
    MISSING = 1
    WP = 2


class Phase(IntEnum):
    """Where QEMU is. Postcopy (incoming side): PRECOPY -> DISCARDED -> POSTCOPY.
    Background snapshot: RUNNING -> PREPARED -> TRACKING -> DONE."""

    PRECOPY = 0
    """Precopy: pages arrive in the migration stream; the guest runs on the source."""
    DISCARDED = 1
    """Switched over: NOHUGEPAGE set, the re-dirtied and unsent pages discarded;
    userfaultfd is not registered yet."""
    POSTCOPY = 2
    """userfaultfd MISSING registered; the guest runs here and faults pages in."""
    RUNNING = 3
    """Snapshot: the guest runs; no snapshot yet."""
    PREPARED = 4
    """ram_write_tracking_prepare populated every page by reading it."""
    TRACKING = 5
    """Registered in WP mode, everything write-protected; pages are being saved."""
    DONE = 6
    """Every page saved; userfaultfd unregistered."""


class Op(IntEnum):
    """A vCPU access."""

    READ = 0
    WRITE_DATA = 1
    WRITE_ZERO = 2


OP_NAMES = {Op.READ: "read", Op.WRITE_DATA: "write data", Op.WRITE_ZERO: "write zero"}


class Run(IntEnum):
    """What the vCPU is doing."""

    RUNNING = 0
    FAULTED = 1
    """It raised a userfault; the message is queued for the handler."""
    WAITING = 2
    """The handler read the message and dropped it; the vCPU still sleeps."""
    WOKEN = 3
    """The fault was served; the vCPU will retry its access."""


class Fault(IntEnum):
    NONE = 0
    MISSING = 1
    WP = 2


@dataclass(frozen=True, slots=True)
class Vcpu:
    run: Run = Run.RUNNING
    page: int = -1
    op: Op = Op.READ
    fault: Fault = Fault.NONE


RUNNING_VCPU = Vcpu()


class Stat(IntEnum):
    """Saturated event counters (witnesses only)."""

    THP_SPLIT = 0
    """A THP was split (vmstat thp_split_page)."""
    ZEROPAGE_REMAP = 1
    """A split mapped a zero-filled subpage to the shared zeropage."""


@dataclass(frozen=True)
class Config:
    regions: int = 1
    """THP-sized regions in the VMA."""
    subpages: int = 4
    """Subpages per region (HPAGE_PMD_NR scaled down: 4 or 8 for the explorer; up to the
    real 512 for the Z3 proofs)."""
    max_ptes_none: int = -1
    """khugepaged/max_ptes_none; -1 means subpages - 1 (the kernel default 511 scaled)."""
    user: Literal["both", "postcopy", "snapshot"] = "both"
    """Which QEMU user(s) start in the initial states. With one, the other's witnesses are
    vacuous."""
    mlocked: bool = False
    """The snapshot user's VMA is VM_LOCKED (QEMU -overcommit mem-lock=on; its folios are
    mlocked). A postcopy destination is never locked: QEMU's postcopy_ram_supported_by_host
    runs munlockall() ("userfault and mlock don't go together")."""
    mm_forbids_zeropage: bool = False
    """mm_forbids_zeropage(mm) (e.g. s390 with KVM): no shared zeropage at all."""
    image: str = "d0d0"
    """Postcopy: the source guest's memory when migration starts, one character per page
    (d data, 0 zero), repeated over all pages."""
    thp_fallback: bool = False
    """A THP allocation at fault time may fail and fall back to a small page."""
    balloon: bool = True
    """The guest has a virtio-balloon and may inflate pages (QEMU discards them)."""
    variant: str = "upstream"

    def __post_init__(self) -> None:
        if not 1 <= self.regions <= 8:
            raise ValueError(f"regions must be 1..8, not {self.regions}")
        # Up to the kernel's HPAGE_PMD_NR (512): the explorer enumerates 4 or 8, the Z3
        # encoding (properties/proofs/thp_split/) proves at the real size.
        if not 2 <= self.subpages <= 512:
            raise ValueError(f"subpages must be 2..512, not {self.subpages}")
        if not self.image or set(self.image) - {"d", "0"}:
            raise ValueError(f"image must be a string of d and 0, not {self.image!r}")
        if not -1 <= self.max_ptes_none < self.subpages:
            raise ValueError(
                f"max_ptes_none must be -1 (subpages - 1) or 0..{self.subpages - 1}, "
                f"not {self.max_ptes_none}"
            )


@dataclass(frozen=True)
class State:
    phase: Phase
    pte: tuple[Pte, ...]
    """The page table: one entry per subpage, region after region."""
    thp: tuple[bool, ...]
    """Per region: a THP folio backs (part of) the region."""
    split_queue: tuple[int, ...]
    """The deferred split queue (its regions, oldest first)."""
    thp_allowed: bool
    """VMA flag: THP allowed (MADV_NOHUGEPAGE clears it)."""
    uffd: Uffd
    vcpu: Vcpu
    guest: tuple[bool, ...]
    """Ghost: the guest's memory, what it last wrote (True = data)."""
    dirty: tuple[bool, ...]
    """Postcopy source: the dirty bitmap, pages unsent or re-dirtied since sent."""
    scan: int
    """Postcopy source: where the migration thread's scan for dirty pages goes on."""
    received: tuple[bool, ...]
    """Postcopy destination: QEMU's receive bitmap (RAMBlock receivedmap)."""
    unsaved: tuple[bool, ...]
    """Snapshot: the pages QEMU write-protected and has not saved yet."""
    populated: tuple[bool, ...]
    """Ghost: the address had a page since it was last explicitly discarded."""
    stats: frozenset[Stat] = frozenset()
    inflated: bool = False
    """The guest inflated its one balloon page (see the docstring: one inflation shows every
    effect a discard has here)."""
    misread: int = -1
    """Ghost: the first page whose read returned something else than the guest wrote."""
    untracked: int = -1
    """Ghost: the first write-protected page written without a WP fault."""
    wasted_split: int = -1
    """Ghost: the first region whose fully mapped THP the shrinker split although it was not
    underused (at most max_ptes_none zero-filled subpages)."""


def _with(bits: tuple[bool, ...], p: int, value: bool) -> tuple[bool, ...]:
    """``bits`` with bit p set to ``value``."""
    return (*bits[:p], value, *bits[p + 1 :])


def underused_scan(zero: list[bool], max_ptes_none: int) -> tuple[bool, int]:
    """mm/huge_memory.c thp_underused's loop over the subpages, in order: true once more
    than ``max_ptes_none`` are zero-filled, false once ``HPAGE_PMD_NR - max_ptes_none`` hold
    data. Returns the answer and how many subpages it read before deciding."""
    zeros = filled = 0
    for i, z in enumerate(zero):
        if z:
            zeros += 1
            if zeros > max_ptes_none:
                return True, i + 1
        else:
            filled += 1
            if filled >= len(zero) - max_ptes_none:
                return False, i + 1
    return False, len(zero)  # pragma: no cover -- one of the two exits is always reached


def _set(entries: tuple[Pte, ...], p: int, entry: Pte) -> tuple[Pte, ...]:
    """``entries`` with entry p replaced."""
    return (*entries[:p], entry, *entries[p + 1 :])


def _bits(values: tuple[bool, ...], width: int) -> str:
    """'1100 0000': one digit per subpage, a space between regions."""
    digits = "".join("1" if v else "0" for v in values)
    return " ".join(digits[i : i + width] for i in range(0, len(digits), width))


_PTE_CHAR = {
    (Kind.NONE, False): ".",
    (Kind.THP, True): "T",
    (Kind.THP, False): "t",
    (Kind.PAGE, True): "P",
    (Kind.PAGE, False): "p",
    (Kind.ZERO, False): "Z",
}

_PTE_NAME = {
    Kind.NONE: "no page",
    Kind.THP: "a THP subpage",
    Kind.PAGE: "a small page",
    Kind.ZERO: "the shared zeropage",
}

_PHASE_TEXT = {
    Phase.PRECOPY: "precopy (the guest runs on the source)",
    Phase.DISCARDED: "postcopy: discards done, userfaultfd not registered",
    Phase.POSTCOPY: "postcopy: userfaultfd MISSING registered, the guest runs here",
    Phase.RUNNING: "snapshot not started (the guest runs)",
    Phase.PREPARED: "snapshot: every page populated",
    Phase.TRACKING: "snapshot: registered WP, saving pages",
    Phase.DONE: "snapshot saved, userfaultfd unregistered",
}


class ThpSplit(Model[Config, State]):
    """THP underused split vs userfaultfd: zero subpages, zeropage, QEMU postcopy/snapshot."""

    name = "thp_split"
    variants = {
        "upstream": (
            "the merged design (6.12 + 2025 fixes): a zero-filled subpage of a split THP maps "
            "the shared zeropage, keeping its uffd-wp bit, unless the folio is mlocked, the "
            "VMA VM_LOCKED or mm_forbids_zeropage (then it stays a mapped page); khugepaged "
            "refuses uffd-armed VMAs with holes; thp_underused has no early exit"
        ),
        V1: (
            "v1 of 'mm: split underutilized THPs' (July 2024): zero-filled subpages become "
            "pte_none unless the VMA is uffd-armed at split time -- David Hildenbrand's "
            "review: QEMU postcopy registers uffd after precopy, so a received zero page "
            "raises a MISSING fault that QEMU ignores (docs/models/thp_split.md, 'v1')"
        ),
        KHUGEPAGED_UFFD: (
            "khugepaged without the userfaultfd_armed() test in hpage_collapse_scan_pmd "
            "(Andrea Arcangeli's 'userfaultfd: khugepaged: don't collapse if userfaultfd "
            "armed' undone): holes and zeropage entries are filled, swallowing MISSING "
            "faults and dropping uffd-wp bits of zeropage entries"
        ),
        UNDERUSED_511: (
            "thp_underused() before Sep 2025: 'if (khugepaged_max_ptes_none == "
            "HPAGE_PMD_NR - 1) return false', so with the default 511 an all-zero THP is "
            "never split (fixed by 'mm/huge_memory: fix shrinking of all-zero THPs with "
            "max_ptes_none default', David Hildenbrand, Fixes dafff3f4c850)"
        ),
        WP_LOST: (
            "try_to_map_unused_to_zeropage() before Lance Yang's 2025 fix (Fixes "
            "b1f202060afe): the zeropage entry drops the uffd-wp bit of the migration entry, "
            "so a write to it is not reported"
        ),
        NO_NHP: (
            "a postcopy destination that discards without MADV_NOHUGEPAGE first (QEMU's "
            "nhp_range: 'Before we do discards we need to ensure those discards really do "
            "delete areas of the page, even if THP thinks a hugepage would be a good idea'): "
            "khugepaged refills the discarded holes before userfaultfd is registered"
        ),
        BALLOON_POSTCOPY: (
            "a postcopy destination whose virtio-balloon is not inhibited (what "
            "virtio_balloon_inhibited() -> migration_in_incoming_postcopy() prevents; "
            "postcopy_ram_enable_notify: 'Ballooning can mark pages as absent while we're "
            "postcopying that would cause false userfaults'): the discard keeps the page's "
            "receive-bitmap bit, so its next MISSING fault is never served"
        ),
        BALLOON_SNAPSHOT: (
            "virtio-balloon inflation not inhibited during a background snapshot (QEMU "
            "before Andrey Gruzdev's 'migration: Inhibit virtio-balloon for the duration of "
            "background snapshot', Fixes 8518278a6af5): the discard drops the uffd-wp bit "
            "of a page QEMU has not saved, so its old content is lost to the snapshot"
        ),
        SPLITS_ALL: (
            "the series without 'mm: introduce a pageflag for partially mapped folios' "
            "(8422acdc97ed): once every THP is queued at fault (dafff3f4c850), the shrinker "
            "cannot tell a partially mapped THP from a fully mapped one (the mapcounts no "
            "longer say it), so it splits every queued THP, however well used"
        ),
        NOT_QUEUED: (
            "a partial unmap that does not queue the THP (mm/rmap.c __folio_remove_rmap "
            "without its deferred_split_folio(folio, true)): the THP refcounting rework "
            "before Kirill Shutemov's 'thp: introduce deferred_split_huge_page()' "
            "(9a982250f773) -- a THP the shrinker already let go as not underused keeps "
            "its unmapped subpages allocated for as long as it lives"
        ),
    }
    # Two regions of 4 subpages pass 400,000 states by BFS depth 10: exhaustive search stops
    # at two regions of 2; larger VMAs are Hypothesis's (hypothesis_config).
    reference_config = {"regions": 2, "subpages": 2}
    hypothesis_config = {"regions": 2, "subpages": 8, "thp_fallback": True}
    frame_legend = {
        "T": "THP subpage holding data",
        "t": "THP subpage, zero-filled",
        "P": "small page holding data",
        "p": "small page, zero-filled",
        "Z": "the shared zeropage",
        ".": "none (no page)",
        "recv": "QEMU's receive bitmap (postcopy)",
        "wp": "the uffd-wp bit of each entry (snapshot)",
        "unsaved": "pages QEMU protected and has not saved (snapshot)",
    }

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.S = config.subpages
        self.pages = config.regions * config.subpages
        self.max_ptes_none = (
            config.max_ptes_none if config.max_ptes_none >= 0 else config.subpages - 1
        )

    # -- the initial states ----------------------------------------------------------------

    def initial_states(self) -> Iterator[State]:
        n, r = self.pages, self.config.regions
        zeros = (False,) * n
        base = State(
            phase=Phase.PRECOPY,
            pte=(NONE_PTE,) * n,
            thp=(False,) * r,
            split_queue=(),
            thp_allowed=True,
            uffd=Uffd.NONE,
            vcpu=RUNNING_VCPU,
            guest=zeros,
            dirty=zeros,
            scan=0,
            received=zeros,
            unsaved=zeros,
            populated=zeros,
        )
        if self.config.user in ("both", "postcopy"):
            # QEMU's dirty bitmap starts full: every page is still to be sent.
            image = tuple(self.config.image[p % len(self.config.image)] == "d" for p in range(n))
            yield replace(base, dirty=(True,) * n, guest=image)
        if self.config.user in ("both", "snapshot"):
            yield replace(base, phase=Phase.RUNNING)

    # -- helpers: regions, entries, the queue ----------------------------------------------

    def region(self, page: int) -> range:
        start = page - page % self.S
        return range(start, start + self.S)

    def _zero_entry(self) -> Pte:
        """What a read fault or UFFDIO_ZEROPAGE maps: the shared zeropage, or a zeroed page
        when mm_forbids_zeropage."""
        return Pte(Kind.PAGE) if self.config.mm_forbids_zeropage else Pte(Kind.ZERO)

    def _map(self, s: State, entries: dict[int, Pte]) -> State:
        """Install entries; every installed page counts as populated (ghost)."""
        pte = list(s.pte)
        populated = list(s.populated)
        for p, e in entries.items():
            pte[p] = e
            if e.kind is not Kind.NONE:
                populated[p] = True
        return replace(s, pte=tuple(pte), populated=tuple(populated))

    def _locked(self, s: State) -> bool:
        """VM_LOCKED: the snapshot user's VMA at config ``mlocked`` (a postcopy destination
        was munlockall()ed by postcopy_ram_supported_by_host)."""
        return self.config.mlocked and s.phase >= Phase.RUNNING

    def _armed(self, s: State) -> bool:
        """userfaultfd_armed(vma): registered in any mode."""
        return s.uffd is not Uffd.NONE

    def _partially_mapped(self, s: State, r: int) -> bool:
        return any(s.pte[p].kind is not Kind.THP for p in range(r * self.S, (r + 1) * self.S))

    def _after_unmap(self, s: State, regions: set[int]) -> State:
        """A THP that lost subpages is freed (nothing maps it) or queued as partially mapped
        (deferred_split_folio(folio, true))."""
        thp = list(s.thp)
        queue = list(s.split_queue)
        for r in sorted(regions):
            if not thp[r]:
                continue  # pragma: no cover -- callers pass only regions that mapped a THP
            if all(s.pte[p].kind is not Kind.THP for p in range(r * self.S, (r + 1) * self.S)):
                thp[r] = False
                if r in queue:
                    queue.remove(r)
            elif r not in queue and self.variant != NOT_QUEUED:
                queue.append(r)
        return replace(s, thp=tuple(thp), split_queue=tuple(queue))

    # -- memory accesses (the fault handlers of mm/memory.c) -------------------------------

    def _populate(self, s: State, p: int, write: bool, value: bool) -> list[tuple[str, State]]:
        """An access that takes no userfault: fault the page in, copy-on-write the zeropage,
        or write in place. Returns (what happened, next state) for each possible outcome."""
        e = s.pte[p]
        if not write:
            if e.kind is Kind.NONE:
                # do_anonymous_page: a read maps the shared zeropage.
                return [("read fault maps the zeropage", self._map(s, {p: self._zero_entry()}))]
            return [("", s)]
        if e.kind is Kind.NONE:
            outcomes = []
            r = p // self.S
            span = self.region(p)
            if s.thp_allowed and not s.thp[r] and all(s.pte[q].kind is Kind.NONE for q in span):
                # do_huge_pmd_anonymous_page: a zeroed THP, queued for deferred split.
                entries = {q: Pte(Kind.THP, data=value and q == p) for q in span}
                t = self._map(s, entries)
                t = replace(
                    t,
                    thp=tuple(True if i == r else x for i, x in enumerate(t.thp)),
                    split_queue=(*t.split_queue, r),
                )
                outcomes.append(("THP fault", t))
                if not self.config.thp_fallback:
                    return outcomes
            outcomes.append(("small page fault", self._map(s, {p: Pte(Kind.PAGE, data=value)})))
            return outcomes
        if e.kind is Kind.ZERO:
            # do_wp_page -> wp_page_copy: copy the zeropage to a new page.
            return [("copy-on-write of the zeropage", self._map(s, {p: Pte(Kind.PAGE, value)}))]
        return [("", self._map(s, {p: replace(e, data=value)}))]

    def _access(self, s: State, p: int, op: Op) -> list[tuple[str, State]]:
        """A vCPU access to page p: a userfault, or the access completes."""
        e = s.pte[p]
        write = op is not Op.READ
        if e.kind is Kind.NONE and s.uffd is Uffd.MISSING:
            return [("MISSING fault", replace(s, vcpu=Vcpu(Run.FAULTED, p, op, Fault.MISSING)))]
        if write and e.wp and s.uffd is Uffd.WP:
            return [("WP fault", replace(s, vcpu=Vcpu(Run.FAULTED, p, op, Fault.WP)))]
        value = op is Op.WRITE_DATA
        out = []
        for how, t in self._populate(s, p, write, value):
            t = replace(t, vcpu=RUNNING_VCPU)
            if write:
                if s.phase is Phase.TRACKING and s.unsaved[p] and t.untracked < 0:
                    t = replace(t, untracked=p)
                guest = list(t.guest)
                guest[p] = value
                t = replace(t, guest=tuple(guest))
                result = how or "written"
            else:
                got = t.pte[p].data
                if got != s.guest[p] and t.misread < 0:
                    t = replace(t, misread=p)
                result = ((how + ", ") if how else "") + ("reads data" if got else "reads zero")
            out.append((result, t))
        return out

    # -- the guest --------------------------------------------------------------------------

    @action("mm/memory.c: handle_mm_fault (a vCPU access; fs/userfaultfd.c: handle_userfault)")
    def vcpu_access(self, s: State) -> Iterator[tuple[Args, State]]:
        """The vCPU reads or writes a page. A none entry in a MISSING-armed VMA or an entry
        with the uffd-wp bit in a WP-armed VMA raises a userfault and the vCPU sleeps; a
        woken vCPU retries the access that faulted."""
        if s.phase in (Phase.PRECOPY, Phase.DISCARDED):
            return
        if s.vcpu.run is Run.WOKEN:
            choices = [(s.vcpu.page, s.vcpu.op)]
        elif s.vcpu.run is Run.RUNNING:
            # The guest zeroes memory only before the snapshot (that is how all-zero THPs
            # arise); later zero writes add states but no new kind of fault.
            ops = tuple(Op) if s.phase is Phase.RUNNING else (Op.READ, Op.WRITE_DATA)
            choices = [(p, op) for p in range(self.pages) for op in ops]
        else:
            return
        for p, op in choices:
            for result, t in self._access(s, p, op):
                yield {"page": p, "op": OP_NAMES[op], "result": result}, t

    # -- QEMU postcopy, incoming side ------------------------------------------------------

    @action("migration/ram.c: the source's guest dirties a page (migration_bitmap_sync)")
    def source_guest_write(self, s: State) -> Iterator[tuple[Args, State]]:
        """During precopy the guest still runs on the source: it writes data to a zero page
        that was already sent, which becomes dirty and must be sent again (a write to an
        unsent page only changes what will be sent; ``image`` stands for those)."""
        if s.phase is not Phase.PRECOPY:
            return
        for p in range(self.pages):
            if s.guest[p] or not s.received[p] or s.dirty[p]:
                continue
            guest = _with(s.guest, p, True)
            dirty = _with(s.dirty, p, True)
            yield {"page": p, "value": "data"}, replace(s, guest=guest, dirty=dirty)

    @action("migration/ram.c: ram_load_precopy (ram_handle_zero for a zero page)")
    def ram_load_precopy(self, s: State) -> Iterator[tuple[Args, State]]:
        """The next dirty page (in address order from where the scan stopped, round after
        round: ram_find_and_save_block -> find_dirty_block) arrives in the precopy stream.
        Data is written into guest RAM (which faults the page in, maybe as a THP); a zero
        page is only read (buffer_is_zero) and zeroed if it held data. Either way its
        receive-bitmap bit is set."""
        if s.phase is not Phase.PRECOPY or not any(s.dirty):
            return
        order = [(s.scan + i) % self.pages for i in range(self.pages)]
        p = next(q for q in order if s.dirty[q])
        value = s.guest[p]
        write = value or s.pte[p].data
        for how, t in self._populate(s, p, write, value):
            if not write:
                how = how or "already zero: nothing written"
            t = replace(
                t,
                dirty=_with(t.dirty, p, False),
                scan=(p + 1) % self.pages,
                received=_with(t.received, p, True),
            )
            yield (
                {"page": p, "value": "data" if value else "zero", "result": how or "written"},
                t,
            )

    @action(
        "migration/savevm.c: loadvm_postcopy_ram_handle_discard -> "
        "postcopy_ram_prepare_discard, ram_discard_range"
    )
    def loadvm_postcopy_ram_handle_discard(self, s: State) -> Iterator[tuple[Args, State]]:
        """The switch to postcopy. The first discard command runs
        postcopy_ram_prepare_discard: MADV_NOHUGEPAGE on all guest RAM (nhp_range: "Before
        we do discards we need to ensure those discards really do delete areas of the page,
        even if THP thinks a hugepage would be a good idea"). Then every page still dirty at
        the source (unsent, or re-dirtied since it was sent) is discarded: ram_discard_range
        clears its receive-bitmap bit and MADV_DONTNEED zaps it (a THP loses those subpages
        and is queued as partially mapped, or freed)."""
        if s.phase is not Phase.PRECOPY:
            return
        pages = [p for p in range(self.pages) if s.dirty[p]]
        pte = list(s.pte)
        received = list(s.received)
        populated = list(s.populated)
        for p in pages:
            pte[p] = NONE_PTE
            received[p] = False
            populated[p] = False
        t = replace(
            s,
            phase=Phase.DISCARDED,
            thp_allowed=s.thp_allowed and self.variant == NO_NHP,
            pte=tuple(pte),
            received=tuple(received),
            populated=tuple(populated),
        )
        t = self._after_unmap(t, {p // self.S for p in pages if s.pte[p].kind is Kind.THP})
        first = "THP left on (no MADV_NOHUGEPAGE)" if self.variant == NO_NHP else "MADV_NOHUGEPAGE"
        yield {"pages": tuple(pages), "result": f"{first}, then MADV_DONTNEED"}, t

    @action("migration/postcopy-ram.c: postcopy_ram_incoming_setup (UFFDIO_REGISTER MISSING)")
    def postcopy_ram_incoming_setup(self, s: State) -> Iterator[tuple[Args, State]]:
        """userfaultfd is registered in MISSING mode; the guest starts running here."""
        if s.phase is Phase.DISCARDED:
            yield {}, replace(s, phase=Phase.POSTCOPY, uffd=Uffd.MISSING)

    def _place(self, s: State, p: int) -> tuple[str, State]:
        """UFFDIO_COPY (data) or UFFDIO_ZEROPAGE (zero) at p; the receive bit is set."""
        how = "UFFDIO_COPY" if s.guest[p] else "UFFDIO_ZEROPAGE"
        # A page present already (UFFDIO_COPY's -EEXIST) needs khugepaged to fill an armed
        # hole, which only khugepaged_ignores_uffd does, and only its snapshot entry runs.
        if s.pte[p].kind is Kind.NONE:  # pragma: no branch -- see above
            entry = Pte(Kind.PAGE, data=True) if s.guest[p] else self._zero_entry()
            s = self._map(s, {p: entry})
        received = _with(s.received, p, True)
        dirty = _with(s.dirty, p, False)
        return how, replace(s, received=received, dirty=dirty)

    @action("migration/postcopy-ram.c: postcopy_ram_fault_thread -> migrate_send_rp_req_pages")
    def postcopy_ram_fault_thread(self, s: State) -> Iterator[tuple[Args, State]]:
        """The fault thread reads the MISSING message. A page the receive bitmap marks
        received is not requested ("if the page is there, skip sending the message") and
        nothing wakes the vCPU; otherwise the source sends the page and it is placed, which
        wakes the vCPU."""
        v = s.vcpu
        if (
            s.phase is not Phase.POSTCOPY
            or v.run is not Run.FAULTED
            or v.fault is not Fault.MISSING
        ):
            return
        p = v.page
        if s.received[p]:
            yield (
                {"page": p, "result": "already received: not requested, vCPU not woken"},
                replace(s, vcpu=replace(v, run=Run.WAITING)),
            )
            return
        how, t = self._place(s, p)
        yield (
            {"page": p, "result": f"requested; {how}; vCPU woken"},
            replace(t, vcpu=replace(v, run=Run.WOKEN)),
        )

    @action("migration/ram.c: ram_load_postcopy -> postcopy_place_page(_zero)")
    def ram_load_postcopy(self, s: State) -> Iterator[tuple[Args, State]]:
        """The source pushes a page not yet received; it is placed with UFFDIO_COPY or
        UFFDIO_ZEROPAGE, which wakes a vCPU waiting on that address."""
        if s.phase is not Phase.POSTCOPY:
            return
        for p in range(self.pages):
            if s.received[p] or s.pte[p].kind is not Kind.NONE:
                continue
            how, t = self._place(s, p)
            if s.vcpu.run in (Run.FAULTED, Run.WAITING) and s.vcpu.page == p:
                t = replace(t, vcpu=replace(s.vcpu, run=Run.WOKEN))
            yield {"page": p, "result": how}, t

    # -- QEMU background snapshot ------------------------------------------------------------

    @action("migration/ram.c: ram_write_tracking_prepare -> ram_block_populate_read")
    def ram_write_tracking_prepare(self, s: State) -> Iterator[tuple[Args, State]]:
        """Read every page, so that none is pte_none: "UFFDIO_WRITEPROTECT_MODE_WP mode
        setting would silently skip pages with pte_none() entries"."""
        if s.phase is not Phase.RUNNING:
            return
        holes = {p: self._zero_entry() for p in range(self.pages) if s.pte[p].kind is Kind.NONE}
        yield {}, replace(self._map(s, holes), phase=Phase.PREPARED)

    @action("migration/ram.c: ram_write_tracking_start (UFFDIO_REGISTER WP, UFFDIO_WRITEPROTECT)")
    def ram_write_tracking_start(self, s: State) -> Iterator[tuple[Args, State]]:
        """Register in WP mode and write-protect all guest RAM; entries that are none stay
        unprotected (for anonymous memory uffd-wp on a hole is a no-op)."""
        if s.phase is not Phase.PREPARED:
            return
        pte = tuple(e if e.kind is Kind.NONE else replace(e, wp=True) for e in s.pte)
        yield (
            {},
            replace(s, phase=Phase.TRACKING, uffd=Uffd.WP, pte=pte, unsaved=(True,) * self.pages),
        )

    @action("migration/ram.c: ram_save_host_page -> uffd_change_protection(wp=false)")
    def ram_save_host_page(self, s: State) -> Iterator[tuple[Args, State]]:
        """A protected page is saved, then un-protected, which wakes a vCPU waiting on it.
        QEMU saves in address order, except that the page a vCPU faulted on goes first
        (ram_find_and_save_block -> poll_fault_page)."""
        if s.phase is not Phase.TRACKING or not any(s.unsaved):
            return
        pages = {s.unsaved.index(True)}
        if s.vcpu.run is Run.FAULTED and s.vcpu.fault is Fault.WP:
            pages.add(s.vcpu.page)
        for p in sorted(pages):
            t = self._map(s, {p: replace(s.pte[p], wp=False)})
            t = replace(t, unsaved=_with(t.unsaved, p, False))
            args: Args = {"page": p}
            if s.vcpu.run is Run.FAULTED and s.vcpu.page == p:
                t = replace(t, vcpu=replace(s.vcpu, run=Run.WOKEN))
                args["result"] = "WP fault served, vCPU woken"
            yield args, t

    @action("migration/ram.c: ram_write_tracking_stop (UFFDIO_UNREGISTER)")
    def ram_write_tracking_stop(self, s: State) -> Iterator[tuple[Args, State]]:
        """Every page is saved: unregister (which clears any remaining uffd-wp bits)."""
        if s.phase is not Phase.TRACKING or any(s.unsaved):
            return
        pte = tuple(replace(e, wp=False) for e in s.pte)
        yield {}, replace(s, phase=Phase.DONE, uffd=Uffd.NONE, pte=pte)

    # -- the virtio-balloon -----------------------------------------------------------------

    def _balloon_inhibited(self, s: State) -> bool:
        """hw/virtio/virtio-balloon.c virtio_balloon_inhibited():
        migration_in_incoming_postcopy() (from the discard on) or migration_in_bg_snapshot()
        (while the snapshot runs)."""
        postcopy = s.phase in (Phase.DISCARDED, Phase.POSTCOPY)
        snapshot = s.phase in (Phase.PREPARED, Phase.TRACKING)
        if postcopy:
            return self.variant != BALLOON_POSTCOPY
        return snapshot and self.variant != BALLOON_SNAPSHOT

    @action(
        "hw/virtio/virtio-balloon.c: virtio_balloon_handle_output -> balloon_inflate_page "
        "-> ram_block_discard_range (MADV_DONTNEED)"
    )
    def balloon_inflate(self, s: State) -> Iterator[tuple[Args, State]]:
        """The guest inflates the balloon with a page it no longer uses; QEMU discards it
        unless virtio_balloon_inhibited(). The discard touches neither the receive bitmap
        nor QEMU's list of unsaved pages, and the entry loses its uffd-wp bit with its page.
        A VM_LOCKED VMA refuses MADV_DONTNEED (madvise_dontneed_free_valid_vma)."""
        if (
            not self.config.balloon
            or s.inflated
            # Precopy: the guest runs on the source. After the snapshot (DONE) nothing is
            # registered and nothing is checked that a discard could break.
            or s.phase in (Phase.PRECOPY, Phase.DISCARDED, Phase.DONE)
            or s.vcpu.run is not Run.RUNNING
            or self._locked(s)
            or self._balloon_inhibited(s)
        ):
            return
        for p in range(self.pages):
            if s.pte[p].kind is Kind.NONE:
                continue
            t = replace(
                s,
                pte=_set(s.pte, p, NONE_PTE),
                populated=_with(s.populated, p, False),
                guest=_with(s.guest, p, False),
                inflated=True,
            )
            if s.pte[p].kind is Kind.THP:
                t = self._after_unmap(t, {p // self.S})
            yield {"page": p}, t

    # -- the kernel's THP machinery --------------------------------------------------------

    @action("mm/khugepaged.c: hpage_collapse_scan_pmd -> collapse_huge_page")
    def khugepaged(self, s: State) -> Iterator[tuple[Args, State]]:
        """Collapse a region of small pages into a THP. A none or zeropage entry counts
        towards none_or_zero: allowed only if the VMA is not uffd-armed and none_or_zero <=
        max_ptes_none; an entry with the uffd-wp bit refuses the collapse (SCAN_PTE_UFFD_WP).
        Holes and zeropage entries become zero-filled subpages; the THP is queued."""
        if not s.thp_allowed:
            return
        armed = self._armed(s) and self.variant != KHUGEPAGED_UFFD
        for r in range(self.config.regions):
            if s.thp[r]:
                continue
            span = range(r * self.S, (r + 1) * self.S)
            none_or_zero = 0
            ok = True
            for p in span:
                e = s.pte[p]
                if e.kind in (Kind.NONE, Kind.ZERO):
                    none_or_zero += 1
                    if armed or none_or_zero > self.max_ptes_none:
                        ok = False  # SCAN_EXCEED_NONE_PTE
                        break
                    continue
                if e.wp:
                    ok = False  # SCAN_PTE_UFFD_WP
                    break
            if not ok:
                continue
            t = self._map(s, {p: Pte(Kind.THP, data=s.pte[p].data) for p in span})
            t = replace(
                t,
                thp=tuple(True if i == r else x for i, x in enumerate(t.thp)),
                split_queue=(*t.split_queue, r),
            )
            yield {"region": r}, t

    def _zero_subpages(self, s: State, r: int) -> int:
        """The zero-filled subpages of region r (the ghost's own count, apart from
        thp_underused's early-exit scan)."""
        return sum(not s.pte[p].data for p in range(r * self.S, (r + 1) * self.S))

    def thp_underused(self, s: State, r: int) -> bool:
        """mm/huge_memory.c thp_underused: more than max_ptes_none zero-filled subpages."""
        if self.variant == UNDERUSED_511 and self.max_ptes_none == self.S - 1:
            return False
        span = range(r * self.S, (r + 1) * self.S)
        return underused_scan([not s.pte[p].data for p in span], self.max_ptes_none)[0]

    def _split(self, s: State, r: int) -> tuple[str, State]:
        """split_folio -> remap_page(folio, nr, RMP_USE_SHARED_ZEROPAGE): each mapped
        subpage gets its own entry again; try_to_map_unused_to_zeropage decides what a
        zero-filled one becomes. Unmapped subpages are freed with the folio."""
        remap_ok = not self._locked(s) and not self.config.mm_forbids_zeropage
        entries: dict[int, Pte] = {}
        zero: dict[str, list[int]] = {}
        stats = set(s.stats) | {Stat.THP_SPLIT}
        for p in range(r * self.S, (r + 1) * self.S):
            e = s.pte[p]
            if e.kind is not Kind.THP:
                continue
            if e.data:
                entries[p] = Pte(Kind.PAGE, data=True, wp=e.wp)
                continue
            if not remap_ok:
                entries[p] = Pte(Kind.PAGE, wp=e.wp)
                fate = "-> kept mapped (no zeropage allowed)"
            elif self.variant == V1 and not self._armed(s):
                entries[p] = NONE_PTE  # v1: "unused" subpages are simply unmapped
                fate = "-> pte_none"
            else:
                entries[p] = Pte(Kind.ZERO, wp=e.wp and self.variant != WP_LOST)
                stats.add(Stat.ZEROPAGE_REMAP)
                fate = "-> shared zeropage"
            zero.setdefault(fate, []).append(p)
        pte = list(s.pte)
        for p, e in entries.items():
            pte[p] = e  # the populated ghost is left alone: a split is no discard
        what = "; ".join(
            f"zero subpage{'s' if len(ps) > 1 else ''} {', '.join(map(str, ps))} {fate}"
            for fate, ps in zero.items()
        )
        return what, replace(
            s,
            pte=tuple(pte),
            thp=tuple(False if i == r else x for i, x in enumerate(s.thp)),
            split_queue=tuple(q for q in s.split_queue if q != r),
            stats=frozenset(stats),
        )

    @action("mm/huge_memory.c: deferred_split_scan (the THP shrinker, under memory pressure)")
    def deferred_split_scan(self, s: State) -> Iterator[tuple[Args, State]]:
        """The shrinker takes the oldest queued THP. A partially mapped one is split. A fully
        mapped one is skipped if mlocked, else split if thp_underused; a THP that is not
        split leaves the queue."""
        if not s.split_queue:
            return
        r = s.split_queue[0]
        dequeued = replace(s, split_queue=s.split_queue[1:])
        if not self._partially_mapped(s, r) and self.variant != SPLITS_ALL:
            if self._locked(s):
                yield {"region": r, "result": "mlocked: skipped, dequeued"}, dequeued
                return
            if not self.thp_underused(s, r):
                yield {"region": r, "result": "not underused: dequeued"}, dequeued
                return
            why = "underused: split"
        elif self._partially_mapped(s, r):
            why = "partially mapped: split"
        else:
            why = "queued: split"
        wasted = (
            not self._partially_mapped(s, r) and self._zero_subpages(s, r) <= self.max_ptes_none
        )
        what, t = self._split(s, r)
        if wasted and t.wasted_split < 0:
            t = replace(t, wasted_split=r)
        yield {"region": r, "result": f"{why}; {what}" if what else why}, t

    # -- properties -------------------------------------------------------------------------
    # Rule numbers refer to the model docstring (sources: docs/models/thp_split.md).

    @staticmethod
    def _sleeping_missing(s: State) -> bool:
        v = s.vcpu
        return v.fault is Fault.MISSING and v.run in (Run.FAULTED, Run.WAITING)

    @always("no wrong uffd fault", trigger="a MISSING fault is raised")
    def no_wrong_uffd_fault(self, s: State) -> Check:
        """A MISSING fault is raised only for an address that was never populated or was
        explicitly discarded (rule 2)."""
        v = s.vcpu
        if self._sleeping_missing(s) and s.populated[v.page]:
            return (
                f"page {v.page} raised a MISSING fault although it was populated and not "
                f"discarded since: something other than MADV_DONTNEED cleared its entry"
            )
        return True

    @always(
        "a populated page stays mapped until it is discarded",
        trigger=lambda self, s: any(s.populated),
    )
    def no_page_lost(self, s: State) -> Check:
        """The state form of rule 2: only MADV_DONTNEED empties a populated address; the
        shrinker never leaves pte_none behind. (David Hildenbrand on v1: the VMA may be
        registered with userfaultfd later, and then the hole raises a MISSING fault.)"""
        for p in range(self.pages):
            if s.populated[p] and s.pte[p].kind is Kind.NONE:
                return (
                    f"page {p} was populated and never discarded, but its entry is pte_none: "
                    f"a MISSING fault would be raised there once userfaultfd is registered"
                )
        return True

    @always("a page QEMU has received stays mapped", trigger=lambda self, s: any(s.received))
    def received_stays(self, s: State) -> Check:
        """QEMU's side of rule 2, the assumption migrate_send_rp_req_pages rests on ("as
        long as the page arrived, it'll be there forever"): a page the receive bitmap marks
        received is never pte_none, so a MISSING fault never hits one (rule 7: nothing
        discards it behind QEMU's back)."""
        for p in range(self.pages):
            if s.received[p] and s.pte[p].kind is Kind.NONE:
                return (
                    f"page {p} is marked received in QEMU's receive bitmap but its entry is "
                    f"pte_none: a fault there will be dropped as already served"
                )
        return True

    @always(
        "a discarded page stays empty until QEMU places it",
        trigger=lambda self, s: (
            s.phase in (Phase.DISCARDED, Phase.POSTCOPY) and not all(s.received)
        ),
    )
    def discarded_page_empty(self, s: State) -> Check:
        """After the discard, a page missing from the receive bitmap has no page, so the
        guest's access faults and QEMU places the source's copy (UFFDIO_COPY would fail
        with -EEXIST on a populated address)."""
        if s.phase not in (Phase.DISCARDED, Phase.POSTCOPY):
            return True
        for p in range(self.pages):
            if not s.received[p] and s.pte[p].kind is not Kind.NONE:
                return (
                    f"page {p} was discarded and not received again, yet it maps "
                    f"{_PTE_NAME[s.pte[p].kind]}: the guest reads that instead of the source's page"
                )
        return True

    @always("no vCPU waits on a fault the handler will ignore", trigger="a MISSING fault is raised")
    def no_ignored_fault(self, s: State) -> Check:
        """The safety form of 'no stuck vCPU': migrate_send_rp_req_pages drops a request for
        a page the receive bitmap marks received, so nothing would ever wake the vCPU."""
        v = s.vcpu
        if self._sleeping_missing(s) and s.received[v.page]:
            return (
                f"the vCPU sleeps on a MISSING fault at page {v.page}, which QEMU's receive "
                f"bitmap marks received: the request is dropped and the vCPU never woken"
            )
        return True

    @leads_to(
        "a faulting vCPU is eventually served",
        when=lambda self, s: s.vcpu.run in (Run.FAULTED, Run.WAITING),
        # No fairness: while the vCPU sleeps only QEMU's threads and the kernel move, and
        # every step they can take makes progress (pages received, saved, split), so
        # there is no cycle to be stuck in -- the fault thread, the source's push and the
        # snapshot's saving need not be assumed fair (tests/test_thp_split.py shows the
        # property holds with none of them fair).
        fairness={},
    )
    def vcpu_served(self, s: State) -> bool:
        """The liveness form: a vCPU that sleeps on a userfault is woken (rules 2, 7)."""
        return s.vcpu.run not in (Run.FAULTED, Run.WAITING)

    @always(
        "every access reads what was last written",
        # The guest reads only where it runs: on this host, after precopy.
        trigger=lambda self, s: s.phase not in (Phase.PRECOPY, Phase.DISCARDED),
    )
    def reads_preserved(self, s: State) -> Check:
        """A read returns what the guest last wrote there; a zero page reads zero (rule 1)."""
        if s.misread >= 0:
            p = s.misread
            return (
                f"the vCPU read page {p} and got {'data' if s.pte[p].data else 'zero'}, but "
                f"the guest last wrote {'data' if s.guest[p] else 'zero'} there"
            )
        return True

    @always(
        "every write to a write-protected page raises a WP fault first",
        trigger="a WP fault is served",
    )
    def write_tracking(self, s: State) -> Check:
        """In WP mode a write to a page QEMU protected and has not saved is reported before
        it changes the page (rule 3)."""
        if s.untracked >= 0:
            return (
                f"page {s.untracked} was write-protected and not yet saved, but the vCPU's "
                f"write changed it without a WP fault: the snapshot misses it"
            )
        return True

    @always(
        "a page QEMU has not saved keeps its write protection",
        trigger=lambda self, s: s.phase is Phase.TRACKING and any(s.unsaved),
    )
    def protection_kept(self, s: State) -> Check:
        """The state form of write tracking (rule 3): while the snapshot runs, every page
        QEMU protected and has not saved is mapped with the uffd-wp bit, through splits,
        remaps, collapses and discards."""
        if s.phase is not Phase.TRACKING:
            return True
        for p in range(self.pages):
            e = s.pte[p]
            if s.unsaved[p] and not e.wp:
                what = "is pte_none" if e.kind is Kind.NONE else f"maps {_PTE_NAME[e.kind]}"
                return (
                    f"page {p} is protected and not saved yet, but its entry {what} without "
                    f"the uffd-wp bit: a write there will not be reported"
                )
        return True

    @always(
        "the shrinker splits a fully mapped THP only when it is underused",
        trigger="a split happens",
    )
    def no_wasted_split(self, s: State) -> Check:
        """A fully mapped THP is split by the shrinker only with more than max_ptes_none
        zero-filled subpages (thp_underused); a well-used THP keeps its PMD mapping. The
        same threshold is khugepaged's (hpage_collapse_scan_pmd), so a THP split below it
        would be collapsed again."""
        if s.wasted_split >= 0:
            r = s.wasted_split
            return (
                f"the shrinker split the fully mapped THP of region {r} although at most "
                f"max_ptes_none ({self.max_ptes_none}) of its subpages were zero-filled"
            )
        return True

    @always(
        "a partially mapped THP waits on the split queue",
        trigger="a THP is partially mapped",
    )
    def partial_thp_queued(self, s: State) -> Check:
        """A THP that lost subpages to an unmap is on the deferred split queue
        (deferred_split_folio(folio, true)), so memory pressure frees the unmapped
        subpages; a THP that lost all of them is freed."""
        for r in range(self.config.regions):
            if not s.thp[r]:
                continue
            span = range(r * self.S, (r + 1) * self.S)
            if all(s.pte[p].kind is not Kind.THP for p in span):
                return f"the THP of region {r} maps no subpage any more but was not freed"
            if self._partially_mapped(s, r) and r not in s.split_queue:
                return (
                    f"the THP of region {r} is partially mapped but not on the split queue: "
                    f"its unmapped subpages stay allocated"
                )
        return True

    def _all_zero_thp(self, s: State, r: int) -> bool:
        span = range(r * self.S, (r + 1) * self.S)
        return s.thp[r] and all(s.pte[p].kind is Kind.THP and not s.pte[p].data for p in span)

    @leads_to(
        "an all-zero THP on the split queue is eventually split",
        when=lambda self, s: (
            not self._locked(s) and 0 in s.split_queue and self._all_zero_thp(s, 0)
        ),
        # Under sustained memory pressure reclaim keeps calling the shrinker.
        fairness={"deferred_split_scan": "weak"},
    )
    def memory_reclaimed(self, s: State) -> bool:
        """Under memory pressure an all-zero THP that is queued and not mlocked stops being
        an all-zero THP (rule 5). Stated for region 0; the regions are interchangeable."""
        return not self._all_zero_thp(s, 0)

    @sometimes("a THP forms")
    def thp_forms(self, s: State) -> bool:
        return any(s.thp)

    @sometimes("a split happens")
    def split_happens(self, s: State) -> bool:
        return Stat.THP_SPLIT in s.stats

    @sometimes("a THP is partially mapped")
    def thp_partially_mapped(self, s: State) -> bool:
        return any(s.thp[r] and self._partially_mapped(s, r) for r in range(self.config.regions))

    @sometimes("a zero subpage is replaced by the shared zeropage")
    def zero_replaced(self, s: State) -> bool:
        return Stat.ZEROPAGE_REMAP in s.stats

    @sometimes("a MISSING fault is raised")
    def missing_raised(self, s: State) -> bool:
        return self._sleeping_missing(s)

    @sometimes("a MISSING fault is served")
    def missing_served(self, s: State) -> bool:
        return s.vcpu.run is Run.WOKEN and s.vcpu.fault is Fault.MISSING

    @sometimes("a WP fault is served")
    def wp_served(self, s: State) -> bool:
        return s.vcpu.run is Run.WOKEN and s.vcpu.fault is Fault.WP

    # -- rendering ---------------------------------------------------------------------------

    def frame_map(self, s: State) -> str:
        """The page table, one character per subpage (regions apart), then the receive
        bitmap (postcopy) or the uffd-wp bits and QEMU's unsaved pages (snapshot)."""
        cells = "".join(_PTE_CHAR[(e.kind, e.data)] for e in s.pte)
        table = " ".join(cells[i : i + self.S] for i in range(0, len(cells), self.S))
        if s.phase < Phase.RUNNING:
            return f"{table}   recv {_bits(s.received, self.S)}"
        wp = _bits(tuple(e.wp for e in s.pte), self.S)
        return f"{table}   wp {wp}   unsaved {_bits(s.unsaved, self.S)}"

    def view(self, s: State) -> dict[str, object]:
        """The state as a reviewer reads it; the page table is the frames line."""
        flags = ["THP allowed" if s.thp_allowed else "MADV_NOHUGEPAGE"]
        if s.uffd is not Uffd.NONE:
            flags.append(f"uffd {s.uffd.name}")
        if self._locked(s):
            flags.append("VM_LOCKED")
        out: dict[str, object] = {
            "phase": _PHASE_TEXT[s.phase],
            "vma": ", ".join(flags),
            "split queue": " ".join(f"region {r}" for r in s.split_queue) or "empty",
            "vcpu": self._vcpu_text(s.vcpu),
            "guest memory": " ".join(
                "".join("d" if g else "0" for g in s.guest[i : i + self.S])
                for i in range(0, self.pages, self.S)
            ),
        }
        if s.phase < Phase.RUNNING:
            out["source dirty"] = _bits(s.dirty, self.S)
        if s.misread >= 0:
            out["bad read"] = f"page {s.misread}"
        if s.untracked >= 0:
            out["untracked write"] = f"page {s.untracked}"
        return out

    @staticmethod
    def _vcpu_text(v: Vcpu) -> str:
        if v.run is Run.RUNNING:
            return "running"
        what = f"{OP_NAMES[v.op]} of page {v.page}"
        if v.run is Run.FAULTED:
            return f"{v.fault.name} fault on {what}: message queued, sleeping"
        if v.run is Run.WAITING:
            return f"sleeping on the {v.fault.name} fault of {what}; the request was dropped"
        return f"woken from the {v.fault.name} fault; will retry the {what}"


__all__ = ["Config", "State", "ThpSplit"]
