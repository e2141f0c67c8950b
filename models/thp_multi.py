"""THP beyond one vCPU: the underused split against concurrent faults, GUP pins, poison, mlock.

``models/thp_split.py`` checks the THP underused split (mm/huge_memory.c
``deferred_split_scan``, ``thp_underused``; mm/migrate.c ``try_to_map_unused_to_zeropage``)
against QEMU's two userfaultfd users with one vCPU and a split that happens in one step.
This model takes the same split apart into the steps the kernel takes
(``split_huge_page_to_list_to_order`` -> ``__folio_split``: ``can_split_folio``, then
``unmap_folio``, which replaces the subpages' entries by migration entries, then
``folio_ref_freeze`` and the remap) and runs it against what else touches the same folio
at the same time:

* **two vCPUs** (config ``vcpus``) that fault concurrently: a vCPU that touches a subpage
  under a migration entry waits (mm/migrate.c ``migration_entry_wait``) and retries after
  the remap; it never raises a userfault there (fs/userfaultfd.c ``handle_userfault`` is
  reached from ``do_anonymous_page`` / ``do_huge_pmd_anonymous_page`` only for an empty
  entry, and from ``do_wp_page`` for a uffd-wp entry);
* **userfaultfd in MISSING, WP and MINOR mode**: a monitor (QEMU postcopy, a snapshot, CRIU)
  registers the VMA at any time, in MISSING, WP or MISSING|WP mode, or asks for MINOR mode,
  which ``vma_can_userfault`` refuses on anonymous memory (MINOR faults exist only for the
  page cache of shmem and hugetlbfs); it resolves MISSING faults with UFFDIO_COPY /
  UFFDIO_ZEROPAGE and WP faults by un-protecting the page, each waking every vCPU that
  waits on that page;
* **a GUP pin** (config ``pins``): a device (vhost, VFIO) pins a mapped subpage
  (``pin_user_pages_fast``) and may DMA into it. The split must fail or leave it alone:
  ``can_split_folio`` sees the extra reference before the unmap; a pin taken after that
  check makes ``unmap_folio`` keep the pinned folio's entries (``__split_huge_pmd_locked``:
  "In case we cannot clear PageAnonExclusive(), split the PMD only and let
  try_to_migrate_one() fail later", ``folio_try_share_anon_rmap_pmd`` failing for a
  maybe-DMA-pinned folio) and ``folio_ref_freeze`` fails; the failure path remaps without
  RMP_USE_SHARED_ZEROPAGE. QEMU disables discards while a device pins guest memory
  (``ram_block_discard_disable``), so no MADV_DONTNEED meets a pinned page;
* **a hardware-poisoned subpage** (config ``poison``): ``memory_failure`` marks it
  (PageHWPoison, the folio's has_hwpoisoned flag), tries to split its THP
  (``try_to_split_thp_page``) and unmaps the poisoned page into a hwpoison entry (an access
  then gets SIGBUS, which QEMU turns into a machine check for the guest). Zero detection
  must not read it: ``try_to_map_unused_to_zeropage`` returns early for ``PageHWPoison``
  and ``thp_underused`` for ``folio_contain_hwpoisoned_page`` (Qiuxu Zhuo, "mm: prevent
  poison consumption when splitting THP", 2025: the read was a second machine check in
  the kernel, a panic);
* **mlock** (config ``mlock``): ``mlock()`` sets VM_LOCKED and mlocks the mapped folio
  (mm/mlock.c ``mlock_fixup`` -> ``mlock_vma_pages_range``), then populates the range
  with write faults (mm/gup.c ``populate_vma_page_range``: FOLL_WRITE "to break COW", so a
  zeropage entry becomes a private page); ``munlock()`` undoes both. MADV_DONTNEED is
  refused in a VM_LOCKED VMA (mm/madvise.c ``madvise_dontneed_free_valid_vma``), the
  shrinker skips mlocked folios that are not partially mapped, and the remap never maps
  the zeropage for an mlocked folio or a VM_LOCKED VMA. userfaultfd and mlock are not used
  together (QEMU's postcopy_ram_supported_by_host: "userfault and mlock don't go
  together"), so here the monitor registers only an unlocked VMA and mlock() only an
  unregistered one.

The facts and their sources are in ``docs/models/thp_split.md`` (sections on the split's
steps, pins, poison, mlock and the userfaultfd modes).

The VMA is one THP-sized region of ``subpages`` subpages (``HPAGE_PMD_NR`` scaled down;
``max_ptes_none`` scaled with it). Page contents are data or zero, as in thp_split. The
discard (QEMU's MADV_DONTNEED of a page the guest gave back, e.g. through the balloon), the
pin, the DMA write and the poison each happen at most once per run (mlock() and munlock()
may alternate): once shows every interleaving they have with the split; more would only
repeat them.
khugepaged, NOHUGEPAGE and QEMU's own protocols are thp_split's; here the monitor only
registers and serves faults.

Ghost state (checks only): ``guest`` (what the guest or the device last wrote),
``populated`` (the address had a page since its last discard), ``misread`` (the first page
whose read returned something else than the guest wrote), ``poison_read`` (zero detection
read a poisoned subpage), and event flags for the witnesses.

Properties, as sentences, each with its bad variant:

* *no wrong fault kind is delivered*: a MISSING fault only for a never-populated or
  discarded address, a WP fault only for a write to a page the monitor protected
  (``split_unmaps_to_none``: without migration entries a vCPU racing with the split finds
  an empty entry); *userfaultfd arms MINOR mode only on shmem or hugetlbfs*
  (``uffd_minor_on_anon``);
* *no pinned page is replaced* (``split_trusts_can_split_folio``);
* *no poisoned page is read* (``remap_reads_poison``, ``underused_reads_poison``);
* *no mlocked page is replaced by the zeropage* (``zeropage_ignores_mlock``), which also
  covers ``mm_forbids_zeropage`` (config);
* *every access reads what was last written* (the guest's view of all of the above);
* liveness: *a vCPU waiting on a split is eventually woken* (the splitting thread runs to
  completion: weak fairness of its three steps, as it holds the folio lock and waits on
  nobody) and *a userfault is eventually served* (the monitor polls its userfaultfd for
  ever: weak fairness of its two resolutions).

The default configuration (two vCPUs, two subpages, every feature on) is the smallest at
which every trigger and witness fires: two subpages give a THP with one pinned or poisoned
subpage and another zero one, and with a discarded one that mlock() refills; two vCPUs
give a fault racing with the split. The vCPUs are interchangeable, so states are stored up
to their order (``canonical``). Larger rungs are in the manifest.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from enum import IntEnum

from hintspec.lang.model import (
    Args,
    Check,
    Model,
    action,
    always,
    leads_to,
    sometimes,
)
from hintspec.models.thp_split import OP_NAMES, Fault, Op, underused_scan

SPLIT_TO_NONE = "split_unmaps_to_none"
MINOR_ON_ANON = "uffd_minor_on_anon"
TRUSTS_CHECK = "split_trusts_can_split_folio"
REMAP_POISON = "remap_reads_poison"
UNDERUSED_POISON = "underused_reads_poison"
IGNORES_MLOCK = "zeropage_ignores_mlock"
SPLITS_ALL = "splits_every_queued_thp"
NOT_QUEUED = "partial_unmap_not_queued"


class Kind(IntEnum):
    """What a page-table entry holds."""

    NONE = 0
    """pte_none: an access faults."""
    THP = 1
    """A subpage of the region's THP."""
    PAGE = 2
    """A small (order-0) anonymous page."""
    ZERO = 3
    """The shared zeropage."""
    MIGRATION = 4
    """A migration entry of the THP being split (it keeps the subpage's uffd-wp bit)."""
    HWPOISON = 5
    """A hwpoison entry: the page was poisoned and unmapped; an access gets SIGBUS."""


@dataclass(frozen=True, slots=True)
class Entry:
    kind: Kind
    data: bool = False
    """The page holds data (False: zero-filled; always False for NONE, ZERO, HWPOISON)."""
    wp: bool = False
    """The uffd-wp bit."""


EMPTY = Entry(Kind.NONE)
MAPPED = (Kind.THP, Kind.PAGE)


class Run(IntEnum):
    RUNNING = 0
    FAULTED = 1
    """It raised a userfault and sleeps until the monitor resolves the page."""
    MIGWAIT = 2
    """It touched a migration entry and sleeps until the split remaps it."""


@dataclass(frozen=True, slots=True, order=True)
class Vcpu:
    """A vCPU. A woken one is simply running again: its next access may be the one that
    faulted (the retry) or any other, which only adds behaviours a safety property must
    survive anyway, and keeps a sleeping vCPU's record to (why, where)."""

    run: Run = Run.RUNNING
    page: int = -1
    fault: Fault = Fault.NONE


IDLE_VCPU = Vcpu()


class Uffd(IntEnum):
    """The VMA's userfaultfd registration (a bit set of modes)."""

    NONE = 0
    MISSING = 1
    WP = 2
    MINOR = 4
    MINOR_REFUSED = 8
    """The monitor asked for MINOR mode and got -EINVAL; nothing is armed."""


class Split(IntEnum):
    """Where the split of the THP is (mm/huge_memory.c __folio_split)."""

    IDLE = 0
    CHECKED = 1
    """can_split_folio() saw no extra reference; the folio is locked, off the queue."""
    UNMAPPED = 2
    """unmap_folio() replaced the mapped subpages by migration entries."""


class Outcome(IntEnum):
    """How the latest split attempt ended (it stays until the next one: the witnesses'
    only history, so that it multiplies the states by at most five)."""

    NONE = 0
    SPLIT = 1
    """Split, no zero subpage remapped."""
    ZERO_REMAP = 2
    """Split, and a zero-filled subpage became the shared zeropage."""
    KEPT_ZERO = 3
    """Split, and a zero-filled subpage stayed a page: the zeropage was not allowed."""
    FAILED = 4
    """The split failed on a pinned folio (can_split_folio or folio_ref_freeze)."""


@dataclass(frozen=True)
class Config:
    subpages: int = 2
    """Subpages of the THP-sized region (HPAGE_PMD_NR scaled down)."""
    vcpus: int = 2
    max_ptes_none: int = -1
    """khugepaged/max_ptes_none; -1 means subpages - 1 (the kernel's 511 scaled)."""
    pins: bool = True
    """A device may pin one subpage (and DMA into it)."""
    poison: bool = True
    """One subpage may be hardware-poisoned."""
    mlock: bool = True
    """The VMA may be mlock()ed (and munlock()ed)."""
    uffd: bool = True
    """A userfaultfd monitor may register the VMA."""
    mm_forbids_zeropage: bool = False
    """mm_forbids_zeropage(mm) (s390 with KVM): no shared zeropage at all."""
    variant: str = "upstream"

    def __post_init__(self) -> None:
        if not 2 <= self.subpages <= 8:
            raise ValueError(f"subpages must be 2..8, not {self.subpages}")
        if not 1 <= self.vcpus <= 3:
            raise ValueError(f"vcpus must be 1..3, not {self.vcpus}")
        if not -1 <= self.max_ptes_none < self.subpages:
            raise ValueError(
                f"max_ptes_none must be -1 (subpages - 1) or 0..{self.subpages - 1}, "
                f"not {self.max_ptes_none}"
            )


@dataclass(frozen=True)
class State:
    pte: tuple[Entry, ...]
    vcpus: tuple[Vcpu, ...]
    thp: bool = False
    """A THP folio backs (part of) the region."""
    queued: bool = False
    """The THP is on the deferred split queue."""
    split: Split = Split.IDLE
    uffd: Uffd = Uffd.NONE
    protected: tuple[bool, ...] = ()
    """The pages the monitor write-protected and has not un-protected (WP mode)."""
    vm_locked: bool = False
    thp_mlocked: bool = False
    """The THP folio is mlocked (PG_mlocked)."""
    populated_locked: bool = False
    """mlock() has populated the locked VMA (mm_populate returned)."""
    pin: int = -1
    """The pinned subpage (-1: none)."""
    poison: int = -1
    """The poisoned subpage (-1: none)."""
    thp_poisoned: bool = False
    """The THP folio has a poisoned subpage (folio_contain_hwpoisoned_page)."""
    guest: tuple[bool, ...] = ()
    """Ghost: what the guest (or the device) last wrote (True = data)."""
    populated: tuple[bool, ...] = ()
    """Ghost: the address had a page since its last discard."""
    discarded: bool = False
    """The guest gave its one balloon page back (QEMU discarded it)."""
    misread: int = -1
    wrong_fault: int = -1
    """Ghost: the first page at which a userfault of the wrong kind was raised."""
    poison_read: bool = False
    last_split: Outcome = Outcome.NONE
    emptied: tuple[bool, ...] = ()
    """split_unmaps_to_none only: the subpages the split emptied and will remap (their
    content stays in the empty entry's ``data``). Always empty in the other designs."""
    wasted_split: bool = False
    """Ghost: the shrinker started to split a fully mapped THP with at most max_ptes_none
    zero-filled subpages (not underused)."""


def _with(bits: tuple[bool, ...], p: int, value: bool) -> tuple[bool, ...]:
    return (*bits[:p], value, *bits[p + 1 :])


def _put(entries: tuple[Entry, ...], p: int, entry: Entry) -> tuple[Entry, ...]:
    return (*entries[:p], entry, *entries[p + 1 :])


def _put_vcpu(vcpus: tuple[Vcpu, ...], i: int, v: Vcpu) -> tuple[Vcpu, ...]:
    return (*vcpus[:i], v, *vcpus[i + 1 :])


_CHAR = {
    (Kind.NONE, False): ".",
    (Kind.THP, True): "T",
    (Kind.THP, False): "t",
    (Kind.PAGE, True): "P",
    (Kind.PAGE, False): "p",
    (Kind.ZERO, False): "Z",
    (Kind.MIGRATION, True): "M",
    (Kind.MIGRATION, False): "m",
    (Kind.HWPOISON, False): "X",
}


class ThpMulti(Model[Config, State]):
    """THP split vs two vCPUs, userfaultfd modes, a GUP pin, a poisoned subpage, mlock."""

    name = "thp_multi"
    variants = {
        "upstream": (
            "the merged split (6.12 + 2025 fixes): migration entries while the folio is "
            "split, can_split_folio / folio_try_share_anon_rmap / folio_ref_freeze refuse a "
            "pinned folio, PageHWPoison and folio_contain_hwpoisoned_page keep zero "
            "detection off poisoned pages, the mlock checks keep locked zero subpages; "
            "vma_can_userfault refuses MINOR mode on anonymous memory"
        ),
        SPLIT_TO_NONE: (
            "a split whose unmap empties the entries instead of installing migration "
            "entries (try_to_unmap instead of unmap_folio -> try_to_migrate): a vCPU that "
            "touches a subpage mid-split sees pte_none -- a MISSING fault for a populated "
            "address, or a fresh zero page that hides the guest's data (why the split "
            "freezes the folio behind migration entries; migration_entry_wait)"
        ),
        MINOR_ON_ANON: (
            "vma_can_userfault without its test 'if ((vm_flags & VM_UFFD_MINOR) && "
            "(!is_vm_hugetlb_page(vma) && !vma_is_shmem(vma))) return false': MINOR mode is "
            "armed on anonymous memory, which has no page cache to report minor faults for"
        ),
        TRUSTS_CHECK: (
            "a split that trusts can_split_folio()'s unlocked check ('Racy check if we can "
            "split the page, before unmap_folio() will split PMDs'): unmap_folio installs "
            "migration entries although the folio may be pinned (no "
            "folio_try_share_anon_rmap_pmd failure) and folio_ref_freeze does not count "
            "the pin -- a pin taken between the check and the unmap is split away, and a "
            "zero-filled pinned subpage becomes the zeropage while the device writes into "
            "the old page"
        ),
        REMAP_POISON: (
            "try_to_map_unused_to_zeropage() before Qiuxu Zhuo's 'mm: prevent poison "
            "consumption when splitting THP' (2025): no PageHWPoison check, so the split "
            "that memory_failure starts reads the poisoned subpage to test it for zero -- a "
            "second machine check, in the kernel"
        ),
        UNDERUSED_POISON: (
            "thp_underused() before the same fix: no folio_contain_hwpoisoned_page() "
            "check, so the shrinker reads a poisoned subpage of a THP whose split by "
            "memory_failure failed"
        ),
        IGNORES_MLOCK: (
            "try_to_map_unused_to_zeropage() and deferred_split_scan() without their mlock "
            "tests (folio_test_mlocked, VM_LOCKED; the shrinker's 'we cannot optimize "
            "zero-filled pages after splitting an mlocked folio'): a zero subpage of an "
            "mlocked THP becomes the zeropage, and mlock()ed memory takes a copy-on-write "
            "fault again"
        ),
        SPLITS_ALL: (
            "the series without 'mm: introduce a pageflag for partially mapped folios' "
            "(8422acdc97ed): with every THP queued at fault, the shrinker cannot tell a "
            "partially mapped THP from a fully mapped one and splits every queued THP, "
            "however well used"
        ),
        NOT_QUEUED: (
            "a partial unmap that does not queue the THP (mm/rmap.c __folio_remove_rmap "
            "without its deferred_split_folio(folio, true)), as before Kirill Shutemov's "
            "'thp: introduce deferred_split_huge_page()' (9a982250f773): a THP the shrinker "
            "let go keeps its discarded subpage allocated"
        ),
    }
    symmetric = True
    reference_config = {"subpages": 4}
    # max_ptes_none 3 (of 8): a fresh THP, one subpage written, is underused, so random runs
    # reach the shrinker's split (at 7 only a discard could start one, and a pin forbids it).
    hypothesis_config = {"subpages": 8, "vcpus": 3, "max_ptes_none": 3}
    frame_legend = {
        "T": "THP subpage holding data",
        "t": "THP subpage, zero-filled",
        "P": "small page holding data",
        "p": "small page, zero-filled",
        "Z": "the shared zeropage",
        "M": "migration entry (data), the split in progress",
        "m": "migration entry (zero-filled)",
        "X": "hwpoison entry",
        ".": "none (no page)",
        "wp": "uffd-wp bits",
    }

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.S = config.subpages
        self.max_ptes_none = (
            config.max_ptes_none if config.max_ptes_none >= 0 else config.subpages - 1
        )

    def initial_states(self) -> Iterator[State]:
        zeros = (False,) * self.S
        yield State(
            pte=(EMPTY,) * self.S,
            vcpus=(IDLE_VCPU,) * self.config.vcpus,
            protected=zeros,
            guest=zeros,
            populated=zeros,
        )

    def canonical(self, s: State) -> State:
        """The vCPUs are interchangeable: order them."""
        return replace(s, vcpus=tuple(sorted(s.vcpus)))

    # -- helpers ------------------------------------------------------------------------------

    def _zero_entry(self) -> Entry:
        """What a read fault or UFFDIO_ZEROPAGE maps."""
        return Entry(Kind.PAGE) if self.config.mm_forbids_zeropage else Entry(Kind.ZERO)

    def _map(self, s: State, p: int, e: Entry) -> State:
        return replace(s, pte=_put(s.pte, p, e), populated=_with(s.populated, p, True))

    def _may_be_pinned(self, s: State) -> bool:
        """folio_maybe_dma_pinned(): the pin is on a subpage of the THP folio."""
        return s.pin >= 0 and s.pte[s.pin].kind in (Kind.THP, Kind.MIGRATION)

    def _wake(self, s: State, p: int, run: Run) -> tuple[Vcpu, ...]:
        """Every vCPU sleeping (``run``) on page p is woken."""
        return tuple(IDLE_VCPU if v.run is run and v.page == p else v for v in s.vcpus)

    def _zero_allowed(self, s: State) -> bool:
        """try_to_map_unused_to_zeropage's mlock / mm_forbids_zeropage tests."""
        if self.config.mm_forbids_zeropage:
            return False
        return self.variant == IGNORES_MLOCK or not (s.thp_mlocked or s.vm_locked)

    # -- the vCPUs (mm/memory.c handle_mm_fault) ----------------------------------------------

    def _fault_in(self, s: State, p: int, write: bool, value: bool) -> State:
        """The access completes without a userfault: fault a page in, copy the zeropage on
        write, or write in place."""
        e = s.pte[p]
        if e.kind is Kind.NONE:
            if not write:
                return self._map(s, p, self._zero_entry())  # do_anonymous_page, read
            if not s.thp and all(x.kind is Kind.NONE for x in s.pte):
                # do_huge_pmd_anonymous_page: a zeroed THP, queued; mlocked in a VM_LOCKED
                # VMA (folio_add_lru_vma -> mlock_new_folio).
                t = replace(
                    s,
                    pte=tuple(Entry(Kind.THP, data=value and q == p) for q in range(self.S)),
                    populated=(True,) * self.S,
                    thp=True,
                    queued=True,
                    thp_mlocked=s.vm_locked,
                    thp_poisoned=False,
                )
                return t
            return self._map(s, p, Entry(Kind.PAGE, data=value))
        if not write:
            return s
        if e.kind is Kind.ZERO:
            return self._map(s, p, Entry(Kind.PAGE, data=value))  # wp_page_copy
        return replace(s, pte=_put(s.pte, p, replace(e, data=value)))

    @action("mm/memory.c: handle_mm_fault (fs/userfaultfd.c: handle_userfault)")
    def vcpu_access(self, s: State) -> Iterator[tuple[Args, State]]:
        """A vCPU reads or writes a page: an empty entry in a MISSING-armed VMA or a write
        to a uffd-wp entry in a WP-armed VMA raises a userfault; a migration entry makes it
        wait for the split (migration_entry_wait); a hwpoison entry gets SIGBUS (QEMU
        injects a machine check; no data is read)."""
        seen: set[Vcpu] = set()
        for i, v in enumerate(s.vcpus):
            if v in seen:
                continue  # a twin of a vCPU already handled yields the same states
            seen.add(v)
            if v.run is not Run.RUNNING:
                continue
            for p, op in ((p, op) for p in range(self.S) for op in (Op.READ, Op.WRITE_DATA)):
                result, t = self._access(s, i, p, op)
                yield {"vcpu": i, "page": p, "op": OP_NAMES[op], "result": result}, t

    def _access(self, s: State, i: int, p: int, op: Op) -> tuple[str, State]:
        e = s.pte[p]
        write = op is not Op.READ
        sleep = Vcpu(Run.FAULTED, p)
        if e.kind is Kind.MIGRATION:
            t = replace(s, vcpus=_put_vcpu(s.vcpus, i, replace(sleep, run=Run.MIGWAIT)))
            return "migration entry: waits for the split", t
        if e.kind is Kind.NONE and s.uffd & Uffd.MISSING:
            t = replace(s, vcpus=_put_vcpu(s.vcpus, i, replace(sleep, fault=Fault.MISSING)))
            if s.populated[p] and t.wrong_fault < 0:
                t = replace(t, wrong_fault=p)  # the address had a page and kept it
            return "MISSING fault", t
        if write and e.wp and s.uffd & Uffd.WP:
            t = replace(s, vcpus=_put_vcpu(s.vcpus, i, replace(sleep, fault=Fault.WP)))
            if not s.protected[p] and t.wrong_fault < 0:
                # The monitor never protected it. No design here sets uffd-wp without
                # UFFDIO_WRITEPROTECT (thp_split's WP bugs lose the bit, never invent it):
                # the WP half of the property, kept for a design that would.
                t = replace(t, wrong_fault=p)  # pragma: no cover -- no design invents uffd-wp
            return "WP fault", t
        running = _put_vcpu(s.vcpus, i, IDLE_VCPU)
        if e.kind is Kind.HWPOISON or (s.poison == p and e.kind in MAPPED):
            return "SIGBUS: machine check injected", replace(s, vcpus=running)
        value = op is Op.WRITE_DATA
        t = replace(self._fault_in(s, p, write, value), vcpus=running)
        if write:
            return "written", replace(t, guest=_with(t.guest, p, value))
        got = t.pte[p].data
        if got != s.guest[p] and t.misread < 0:
            t = replace(t, misread=p)
        return ("reads data" if got else "reads zero"), t

    # -- the userfaultfd monitor (fs/userfaultfd.c) -------------------------------------------

    @action("fs/userfaultfd.c: userfaultfd_register (UFFDIO_REGISTER) + UFFDIO_WRITEPROTECT")
    def uffd_register(self, s: State) -> Iterator[tuple[Args, State]]:
        """The monitor registers the VMA once: MISSING, WP (then write-protects every
        mapped page), or both; or asks for MINOR, which vma_can_userfault refuses on
        anonymous memory (-EINVAL)."""
        if not self.config.uffd or s.vm_locked or s.uffd is not Uffd.NONE:
            return
        for mode in (Uffd.MISSING, Uffd.WP, Uffd.MINOR):
            if mode is Uffd.MINOR and self.variant != MINOR_ON_ANON:
                t = replace(s, uffd=Uffd.MINOR_REFUSED)
                yield {"mode": mode.name, "result": "EINVAL: MINOR needs shmem/hugetlbfs"}, t
                continue
            t = replace(s, uffd=mode)
            if mode & Uffd.WP:
                # UFFDIO_WRITEPROTECT over the VMA: present pages (and migration entries)
                # get the bit; an empty entry of anonymous memory is skipped.
                marked = [e.kind not in (Kind.NONE, Kind.HWPOISON) for e in s.pte]
                pte = tuple(
                    replace(e, wp=True) if m else e for e, m in zip(s.pte, marked, strict=True)
                )
                t = replace(t, pte=pte, protected=tuple(marked))
            yield {"mode": mode.name}, t

    @action("fs/userfaultfd.c: userfaultfd_copy / userfaultfd_zeropage (UFFDIO_COPY, _ZEROPAGE)")
    def uffdio_copy(self, s: State) -> Iterator[tuple[Args, State]]:
        """The monitor resolves a MISSING fault: it places the page the guest expects
        (UFFDIO_COPY for data, UFFDIO_ZEROPAGE for zero, a zeroed page if the mm forbids
        the zeropage) and wakes every vCPU waiting on it."""
        pages = sorted(
            {v.page for v in s.vcpus if v.run is Run.FAULTED and v.fault is Fault.MISSING}
        )
        for p in pages:
            if s.pte[p].kind is Kind.NONE:
                entry = Entry(Kind.PAGE, data=True) if s.guest[p] else self._zero_entry()
                t = self._map(s, p, entry)
                how = "UFFDIO_COPY" if s.guest[p] else "UFFDIO_ZEROPAGE"
            else:  # -EEXIST: something placed a page meanwhile; UFFDIO_WAKE
                t, how = s, "-EEXIST, UFFDIO_WAKE"
            yield {"page": p, "result": how}, replace(t, vcpus=self._wake(t, p, Run.FAULTED))

    @action("fs/userfaultfd.c: userfaultfd_writeprotect (UFFDIO_WRITEPROTECT, mode_wp=false)")
    def uffdio_unprotect(self, s: State) -> Iterator[tuple[Args, State]]:
        """The monitor resolves a WP fault: it un-protects the page (after saving it) and
        wakes the vCPUs waiting on it."""
        pages = sorted({v.page for v in s.vcpus if v.run is Run.FAULTED and v.fault is Fault.WP})
        for p in pages:
            t = replace(
                s,
                pte=_put(s.pte, p, replace(s.pte[p], wp=False)),
                protected=_with(s.protected, p, False),
            )
            yield {"page": p}, replace(t, vcpus=self._wake(t, p, Run.FAULTED))

    # -- QEMU, the device, the hardware, mlock -------------------------------------------------

    @action("mm/madvise.c: madvise_dontneed_single_vma (QEMU ram_block_discard_range)")
    def madvise_dontneed(self, s: State) -> Iterator[tuple[Args, State]]:
        """QEMU discards one page the guest gave back (the balloon). Refused in a VM_LOCKED
        VMA (madvise_dontneed_free_valid_vma) and while a device pins guest memory (QEMU's
        ram_block_discard_disable). A migration entry is zapped too (zap_pte_range), and the
        split's remap then finds nothing to restore there."""
        if s.vm_locked or s.pin >= 0 or s.discarded:
            return
        for p in range(self.S):
            if s.pte[p].kind not in (*MAPPED, Kind.ZERO, Kind.MIGRATION):
                continue
            t = replace(
                s,
                pte=_put(s.pte, p, EMPTY),
                populated=_with(s.populated, p, False),
                guest=_with(s.guest, p, False),
                protected=_with(s.protected, p, False),
            )
            if s.pte[p].kind is Kind.THP:
                t = self._after_unmap(t)
            yield {"page": p}, replace(t, discarded=True)

    def _after_unmap(self, s: State) -> State:
        """A THP that lost a subpage is freed (none left) or queued as partially mapped."""
        if any(e.kind is Kind.THP for e in s.pte):
            return replace(s, queued=s.queued or self.variant != NOT_QUEUED)
        # One discard per run and at least two subpages: a THP never loses its last subpage
        # to it (the branch is kept so that more discards would stay correct).
        return replace(  # pragma: no cover -- see above
            s, thp=False, queued=False, thp_mlocked=False, thp_poisoned=False
        )

    @action("mm/gup.c: pin_user_pages_fast (vhost / VFIO)")
    def pin_user_pages(self, s: State) -> Iterator[tuple[Args, State]]:
        """A device pins one mapped subpage (FOLL_PIN | FOLL_LONGTERM | FOLL_WRITE: an
        anonymous, exclusive page). GUP-fast skips a migration entry (it would wait)."""
        if not self.config.pins or s.pin >= 0:
            return
        for p in range(self.S):
            if s.pte[p].kind in MAPPED and s.poison != p:
                yield {"page": p}, replace(s, pin=p)

    @action("drivers/vhost, drivers/vfio: DMA into the pinned page")
    def dma_write(self, s: State) -> Iterator[tuple[Args, State]]:
        """The device writes data into the page it pinned: the guest sees it exactly if
        the entry still maps that page."""
        if s.pin < 0 or s.guest[s.pin]:
            return  # once: after it the page holds the device's data
        p = s.pin
        e = s.pte[p]
        t = replace(s, guest=_with(s.guest, p, True))
        if e.kind in (*MAPPED, Kind.MIGRATION):
            t = replace(t, pte=_put(t.pte, p, replace(e, data=True)))
        yield {"page": p}, t

    @action("mm/memory-failure.c: memory_failure -> try_to_split_thp_page, unmap_poisoned")
    def memory_failure(self, s: State) -> Iterator[tuple[Args, State]]:
        """A mapped subpage takes an uncorrected memory error (once). It is marked
        PageHWPoison; a THP is split first (the same split, in one step: memory_failure
        holds the folio lock), which fails if the folio is pinned; a page that is no longer
        a THP subpage is unmapped into a hwpoison entry."""
        if not self.config.poison or s.poison >= 0 or s.split is not Split.IDLE:
            return
        for p in range(self.S):
            e = s.pte[p]
            if e.kind not in MAPPED:
                continue
            t = replace(s, poison=p)
            how = ""
            if e.kind is Kind.THP:
                t = replace(t, thp_poisoned=True)
                if self._may_be_pinned(t):
                    why = "-EBUSY: the pinned THP cannot be split, the page stays mapped"
                    yield {"page": p, "result": why}, replace(t, last_split=Outcome.FAILED)
                    continue
                how, t = self._split_remap(t)
                how += "; "
            t = replace(t, pte=_put(t.pte, p, Entry(Kind.HWPOISON)))
            yield {"page": p, "result": how + "poisoned page unmapped (hwpoison entry)"}, t

    @action("mm/mlock.c: mlock_fixup -> mlock_vma_pages_range (mlock_folio)")
    def mlock_fixup(self, s: State) -> Iterator[tuple[Args, State]]:
        """mlock(): VM_LOCKED is set and the mapped THP folio mlocked, under the
        mmap lock; populating comes after (mm_populate)."""
        armed = s.uffd not in (Uffd.NONE, Uffd.MINOR_REFUSED)
        if not self.config.mlock or armed or s.vm_locked:
            return
        yield {}, replace(s, vm_locked=True, thp_mlocked=s.thp)

    @action("mm/gup.c: __mm_populate -> populate_vma_page_range (FOLL_WRITE)")
    def mm_populate(self, s: State) -> Iterator[tuple[Args, State]]:
        """mlock() populates the range with write faults, which breaks copy-on-write of
        zeropage entries; GUP waits for a split in progress (migration entries)."""
        if not s.vm_locked or s.populated_locked:
            return
        if any(e.kind is Kind.MIGRATION for e in s.pte):
            return
        t = s
        for p in range(self.S):
            if t.pte[p].kind in (Kind.NONE, Kind.ZERO):
                t = self._fault_in(t, p, True, False)
        yield {}, replace(t, populated_locked=True)

    @action("mm/mlock.c: munlock -> mlock_fixup (munlock_folio)")
    def munlock(self, s: State) -> Iterator[tuple[Args, State]]:
        if not s.vm_locked or not s.populated_locked:
            return
        yield {}, replace(s, vm_locked=False, thp_mlocked=False, populated_locked=False)

    # -- the split (mm/huge_memory.c) ---------------------------------------------------------

    def thp_underused(self, s: State) -> tuple[bool, bool]:
        """thp_underused(): (underused, it read a poisoned subpage). Skips a folio with a
        poisoned subpage (folio_contain_hwpoisoned_page), except before that fix."""
        if s.thp_poisoned and self.variant != UNDERUSED_POISON:
            return False, False
        zero = [not e.data for e in s.pte]
        answer, read = underused_scan(zero, self.max_ptes_none)
        return answer, 0 <= s.poison < read

    @action("mm/huge_memory.c: deferred_split_scan -> split_folio: can_split_folio")
    def deferred_split_scan(self, s: State) -> Iterator[tuple[Args, State]]:
        """The shrinker takes the queued THP. A fully mapped one is skipped if mlocked and
        kept if not underused (it leaves the queue). Otherwise the split starts with the
        unlocked can_split_folio() check: an extra (pin) reference fails it, and the folio
        goes back on the queue only if partially mapped."""
        if not s.queued or s.split is not Split.IDLE:
            return
        partial = any(e.kind is not Kind.THP for e in s.pte)
        # The ghost's own count, apart from thp_underused's early-exit scan.
        wasted = not partial and sum(not e.data for e in s.pte) <= self.max_ptes_none
        if not partial and self.variant != SPLITS_ALL:
            if s.thp_mlocked and self.variant != IGNORES_MLOCK:
                yield {"result": "mlocked: skipped, dequeued"}, replace(s, queued=False)
                return
            underused, read_poison = self.thp_underused(s)
            t = replace(s, poison_read=s.poison_read or read_poison)
            if not underused:
                yield {"result": "not underused: dequeued"}, replace(t, queued=False)
                return
            s = t
        if self._may_be_pinned(s):
            t = replace(s, queued=partial, last_split=Outcome.FAILED)
            yield {"result": "can_split_folio: pinned, -EAGAIN"}, t
            return
        t = replace(s, queued=False, split=Split.CHECKED, wasted_split=s.wasted_split or wasted)
        yield {"result": "can_split_folio: ok"}, t

    @action("mm/huge_memory.c: __folio_split -> unmap_folio (try_to_migrate)")
    def unmap_folio(self, s: State) -> Iterator[tuple[Args, State]]:
        """The mapped subpages become migration entries, which keep their uffd-wp bits. If
        the folio may be DMA-pinned now, folio_try_share_anon_rmap_pmd fails and the entries
        stay (the freeze below then fails)."""
        if s.split is not Split.CHECKED:
            return
        if self._may_be_pinned(s) and self.variant != TRUSTS_CHECK:
            yield {"result": "maybe pinned: entries kept"}, replace(s, split=Split.UNMAPPED)
            return
        if self.variant == SPLIT_TO_NONE:
            # The entries are emptied; the folio keeps the subpages for the remap.
            pte = tuple(Entry(Kind.NONE, data=e.data) if e.kind is Kind.THP else e for e in s.pte)
            emptied = tuple(e.kind is Kind.THP for e in s.pte)
            t = replace(s, pte=pte, split=Split.UNMAPPED, emptied=emptied)
            yield {"result": "entries emptied (no migration entries)"}, t
            return
        pte = tuple(replace(e, kind=Kind.MIGRATION) if e.kind is Kind.THP else e for e in s.pte)
        yield {"result": "migration entries"}, replace(s, pte=pte, split=Split.UNMAPPED)

    def _split_remap(self, s: State) -> tuple[str, State]:
        """The split succeeded: remap_page(folio, nr, RMP_USE_SHARED_ZEROPAGE). Each
        subpage of the old THP (a migration entry, or still a THP entry when the split ran
        in one step) becomes a small page, or -- if zero-filled and allowed
        (try_to_map_unused_to_zeropage) -- the shared zeropage, keeping its uffd-wp bit."""
        pte = list(s.pte)
        outcome = Outcome.SPLIT
        poison_read = s.poison_read
        fates = []
        for p, e in enumerate(s.pte):
            if s.emptied and s.emptied[p] and e.kind is Kind.NONE:
                e = Entry(Kind.MIGRATION, data=e.data)  # split_unmaps_to_none: remap it
            if e.kind not in (Kind.MIGRATION, Kind.THP):
                continue
            if s.poison == p and self.variant != REMAP_POISON:
                pte[p] = Entry(Kind.PAGE, data=e.data, wp=e.wp)  # PageHWPoison: not read
                continue
            if s.poison == p:
                poison_read = True  # memchr_inv / pages_identical reads the poisoned page
            if e.data:
                pte[p] = Entry(Kind.PAGE, data=True, wp=e.wp)
            elif self._zero_allowed(s):
                pte[p] = Entry(Kind.ZERO, wp=e.wp)
                outcome = max(outcome, Outcome.ZERO_REMAP)
                fates.append(f"{p} -> zeropage")
            else:
                pte[p] = Entry(Kind.PAGE, wp=e.wp)
                outcome = max(outcome, Outcome.KEPT_ZERO)
                fates.append(f"{p} kept")
        t = replace(
            s,
            pte=tuple(pte),
            thp=False,
            queued=False,
            split=Split.IDLE,
            thp_mlocked=False,
            thp_poisoned=False,
            poison_read=poison_read,
            last_split=outcome,
            emptied=(),
        )
        woken = tuple(IDLE_VCPU if v.run is Run.MIGWAIT else v for v in t.vcpus)
        what = "split" + (f" (zero subpages: {', '.join(fates)})" if fates else "")
        return what, replace(t, vcpus=woken)

    @action("mm/huge_memory.c: __folio_split -> folio_ref_freeze, remap_page")
    def folio_ref_freeze(self, s: State) -> Iterator[tuple[Args, State]]:
        """The folio's references are frozen at the expected count: an extra (pin)
        reference fails it and remap_page(folio, nr, 0) restores the entries (no zeropage
        on the failure path); otherwise the folio is split and remapped."""
        if s.split is not Split.UNMAPPED:
            return
        if self._may_be_pinned(s) and self.variant != TRUSTS_CHECK:
            pte = tuple(replace(e, kind=Kind.THP) if e.kind is Kind.MIGRATION else e for e in s.pte)
            partial = any(e.kind is not Kind.THP for e in pte)
            woken = tuple(IDLE_VCPU if v.run is Run.MIGWAIT else v for v in s.vcpus)
            t = replace(s, pte=pte, split=Split.IDLE, queued=partial, vcpus=woken)
            t = replace(t, last_split=Outcome.FAILED)
            yield {"result": "pinned: -EAGAIN, entries restored"}, t
            return
        what, t = self._split_remap(s)
        yield {"result": what}, t

    # -- properties ---------------------------------------------------------------------------

    @always("no wrong fault kind is delivered", trigger="a userfault is raised")
    def right_fault_kind(self, s: State) -> Check:
        """When it is raised, a MISSING fault is for an address never populated or
        discarded since, and a WP fault for a write to a page the monitor protected and has
        not un-protected. (Checked when the fault is raised: a discard may empty the page
        before the monitor reads the message, which is no wrong kind.)"""
        if s.wrong_fault >= 0:
            p = s.wrong_fault
            return (
                f"a vCPU got a userfault at page {p} of a kind that does not fit it: it was "
                f"populated and never discarded (MISSING), or never protected (WP)"
            )
        return True

    @always(
        "userfaultfd arms MINOR mode only on shmem or hugetlbfs",
        trigger="a MINOR registration is asked for",
    )
    def minor_only_for_page_cache(self, s: State) -> Check:
        if s.uffd is Uffd.MINOR:
            return "the anonymous VMA is armed in MINOR mode: no page cache reports its faults"
        return True

    @always("no pinned page is replaced", trigger="a page is pinned")
    def pinned_kept(self, s: State) -> Check:
        """While a device pins a subpage, its entry keeps mapping that page (it may be a
        migration entry of it, or a hwpoison entry if the page itself failed)."""
        if s.pin >= 0 and s.pte[s.pin].kind in (Kind.ZERO, Kind.NONE):
            what = "the shared zeropage" if s.pte[s.pin].kind is Kind.ZERO else "pte_none"
            return (
                f"page {s.pin} is pinned by a device but its entry is {what}: the device "
                f"writes into a page the guest no longer sees"
            )
        return True

    @always("no poisoned page is read", trigger="a subpage is poisoned")
    def poison_not_read(self, s: State) -> Check:
        if s.poison_read:
            return (
                f"zero detection read the poisoned subpage {s.poison}: a machine check in "
                f"the kernel"
            )
        return True

    @always(
        "no mlocked page is replaced by the zeropage",
        trigger="a split keeps a zero subpage it may not remap",
    )
    def locked_kept(self, s: State) -> Check:
        """After mlock() has populated the VMA, every subpage stays a private page (no
        zeropage, no hole: a later access would fault); an mm that forbids the zeropage
        never maps it."""
        if s.populated_locked:
            for p, e in enumerate(s.pte):
                if e.kind in (Kind.ZERO, Kind.NONE):
                    what = "the shared zeropage" if e.kind is Kind.ZERO else "pte_none"
                    return f"page {p} of the mlock()ed VMA is {what}: an access will fault"
        if self.config.mm_forbids_zeropage:
            for p, e in enumerate(s.pte):
                if e.kind is Kind.ZERO:
                    # No design here maps the zeropage in such an mm (the manifest's
                    # mm_forbids_zeropage entry shows the zeropage witness unreachable).
                    return (  # pragma: no cover -- see above
                        f"page {p} maps the zeropage, which this mm forbids"
                    )
        return True

    @always(
        "the shrinker splits a fully mapped THP only when it is underused",
        trigger="the shrinker splits a THP",
    )
    def no_wasted_split(self, s: State) -> Check:
        """A fully mapped THP is split by the shrinker only with more than max_ptes_none
        zero-filled subpages (thp_underused); khugepaged would collapse a better used one
        again (hpage_collapse_scan_pmd uses the same threshold)."""
        if s.wasted_split:
            return (
                f"the shrinker split a fully mapped THP with at most max_ptes_none "
                f"({self.max_ptes_none}) zero-filled subpages"
            )
        return True

    @always("a partially mapped THP waits on the split queue", trigger="a THP is partially mapped")
    def partial_thp_queued(self, s: State) -> Check:
        """Between splits, a THP that lost a subpage to an unmap is on the deferred split
        queue (deferred_split_folio(folio, true)), so memory pressure frees what was
        unmapped; a THP that maps nothing any more is freed."""
        if not s.thp or s.split is not Split.IDLE:
            return True
        if not any(e.kind is Kind.THP for e in s.pte):
            return "the THP maps no subpage any more but was not freed"
        if any(e.kind is not Kind.THP for e in s.pte) and not s.queued:
            return "the THP is partially mapped but not on the split queue"
        return True

    # About every read: a vCPU may read from the initial state on, so no premise can be
    # missing at any configuration.
    @always("every access reads what was last written", unconditional=True)
    def reads_preserved(self, s: State) -> Check:
        if s.misread >= 0:
            p = s.misread
            return (
                f"a vCPU read page {p} and got {'data' if s.pte[p].data else 'zero'}, but "
                f"{'data' if s.guest[p] else 'zero'} was last written there"
            )
        return True

    @leads_to(
        "a vCPU waiting on a split is eventually woken",
        when=lambda self, s: any(v.run is Run.MIGWAIT for v in s.vcpus),
        # The splitting thread holds the folio lock and waits on nobody: it runs to the end.
        fairness={"unmap_folio": "weak", "folio_ref_freeze": "weak"},
    )
    def split_completes(self, s: State) -> bool:
        return not any(v.run is Run.MIGWAIT for v in s.vcpus)

    @leads_to(
        "a userfault is eventually served",
        when=lambda self, s: any(v.run is Run.FAULTED for v in s.vcpus),
        # The monitor's fault thread polls its userfaultfd for ever.
        fairness={"uffdio_copy": "weak", "uffdio_unprotect": "weak"},
    )
    def fault_served(self, s: State) -> bool:
        return not any(v.run is Run.FAULTED for v in s.vcpus)

    @sometimes("a THP forms")
    def thp_forms(self, s: State) -> bool:
        return s.thp

    @sometimes("a split happens")
    def split_happens(self, s: State) -> bool:
        return s.last_split in (Outcome.SPLIT, Outcome.ZERO_REMAP, Outcome.KEPT_ZERO)

    @sometimes("the shrinker splits a THP")
    def shrinker_splits(self, s: State) -> bool:
        """A split that memory_failure did not start: those leave a poisoned subpage."""
        return s.poison < 0 and s.last_split in (
            Outcome.SPLIT,
            Outcome.ZERO_REMAP,
            Outcome.KEPT_ZERO,
        )

    @sometimes("a THP is partially mapped")
    def thp_partially_mapped(self, s: State) -> bool:
        return s.thp and any(e.kind not in (Kind.THP, Kind.MIGRATION) for e in s.pte)

    @sometimes("a poisoned subpage stays mapped in its THP")
    def poison_in_thp(self, s: State) -> bool:
        """memory_failure could not split the pinned THP: the premise of thp_underused's
        folio_contain_hwpoisoned_page test."""
        return s.poison >= 0 and s.pte[s.poison].kind is Kind.THP

    @sometimes("mlock() populates the VMA")
    def mlock_populated(self, s: State) -> bool:
        return s.populated_locked

    @sometimes("a zero subpage is replaced by the shared zeropage")
    def zero_replaced(self, s: State) -> bool:
        return s.last_split is Outcome.ZERO_REMAP

    @sometimes("a split fails on a pinned folio")
    def split_failed(self, s: State) -> bool:
        return s.last_split is Outcome.FAILED

    @sometimes("a vCPU waits on a split")
    def migwait(self, s: State) -> bool:
        return any(v.run is Run.MIGWAIT for v in s.vcpus)

    @sometimes("a userfault is raised")
    def fault_raised(self, s: State) -> bool:
        return any(v.run is Run.FAULTED for v in s.vcpus)

    @sometimes("a WP fault is raised")
    def wp_raised(self, s: State) -> bool:
        return any(v.run is Run.FAULTED and v.fault is Fault.WP for v in s.vcpus)

    @sometimes("a MINOR registration is asked for")
    def minor_asked(self, s: State) -> bool:
        return s.uffd in (Uffd.MINOR_REFUSED, Uffd.MINOR)

    @sometimes("a page is pinned")
    def pinned(self, s: State) -> bool:
        return s.pin >= 0

    @sometimes("a subpage is poisoned")
    def poisoned(self, s: State) -> bool:
        return s.poison >= 0

    @sometimes("a split keeps a zero subpage it may not remap")
    def kept_zero(self, s: State) -> bool:
        return s.last_split is Outcome.KEPT_ZERO

    # -- rendering ----------------------------------------------------------------------------

    def frame_map(self, s: State) -> str:
        cells = "".join(_CHAR[(e.kind, e.data)] for e in s.pte)
        wp = "".join("1" if e.wp else "0" for e in s.pte)
        return f"{cells}   wp {wp}"

    def view(self, s: State) -> dict[str, object]:
        flags = []
        if s.uffd is not Uffd.NONE:
            flags.append(f"uffd {s.uffd.name}")
        if s.vm_locked:
            flags.append("VM_LOCKED" + (" (populated)" if s.populated_locked else ""))
        folio = "none"
        if s.thp:
            bits = [
                "queued" if s.queued else "",
                "mlocked" if s.thp_mlocked else "",
                "has poison" if s.thp_poisoned else "",
            ]
            folio = "THP" + "".join(f", {b}" for b in bits if b)
        out: dict[str, object] = {
            "vma": ", ".join(flags) or "plain",
            "folio": folio,
            "split": s.split.name.lower(),
            "vcpus": "; ".join(self._vcpu_text(v) for v in s.vcpus),
            "guest memory": "".join("d" if g else "0" for g in s.guest),
        }
        if s.pin >= 0:
            out["pin"] = f"page {s.pin}"
        if s.poison >= 0:
            out["poison"] = f"page {s.poison}"
        if s.misread >= 0:
            out["bad read"] = f"page {s.misread}"
        if s.poison_read:
            out["poison read"] = "yes"
        return out

    @staticmethod
    def _vcpu_text(v: Vcpu) -> str:
        if v.run is Run.RUNNING:
            return "running"
        if v.run is Run.FAULTED:
            return f"{v.fault.name} fault on page {v.page}"
        return f"waits for the split (page {v.page})"


__all__ = ["Config", "State", "ThpMulti"]
