"""Free page reporting: the buddy allocator, the reporting worker, virtio-balloon and QEMU.

The product's model of free page reporting. Every fact it relies on is in
``docs/models/page_reporting.md`` with its source; in short it follows

* the buddy allocator, mm/page_alloc.c (Linux at dac22531bbd4, the v6.2 merge window),
  **per zone and per migratetype**: ``zone->free_area[order].free_list[mt]``. A block sits on
  the list of the migratetype it was freed with, which is its pageblock's type at the time
  (``get_pfnblock_migratetype``); buddies merge across pageblocks of the mergeable types
  (``__free_one_page``, ``migratetype_is_mergeable``) and the merged block goes on the list
  of the block being freed. Allocation (``__rmqueue_smallest``) takes the smallest block of
  its own type and ``expand()`` puts the halves on that type's lists, *unreported*; when its
  type has nothing, ``__rmqueue_fallback`` takes the largest block of the other type and
  ``steal_suitable_fallback`` claims its pageblock(s). ``del_page_from_free_list`` clears
  PG_reported (allocation, merging); ``move_to_free_list`` keeps it;
* the reporting core, mm/page_reporting.c (Linux 20c7775aecea, with the budget of
  d2932bdb681c): the state word IDLE / REQUESTED / ACTIVE (``__page_reporting_request``,
  ``page_reporting_process``'s ``atomic_set(ACTIVE)`` ... ``atomic_cmpxchg(ACTIVE, IDLE)``
  and the re-scheduled delayed work), the pass over **every zone**
  (``page_reporting_process_zone``: each order from the reporting order up, each migratetype
  but MIGRATE_ISOLATE, then the zone's leftover report), one locked
  ``page_reporting_cycle`` per list with its budget, ``__isolate_free_page`` (which also turns
  the pageblocks of a block of at least half a pageblock MOVABLE) and
  ``page_reporting_drain`` (``__putback_isolated_page``: merges, no notify; PG_reported only
  if still a buddy of the same order);
* the driver, drivers/virtio/virtio_balloon.c ``virtballoon_free_page_report`` (add, kick,
  ``wait_event`` for the host's ack; an add error sends the pages back unreported) and
  ``virtballoon_validate`` (no REPORTING when free pages are poisoned or zeroed without
  PAGE_POISON);
* the device, QEMU hw/virtio/virtio-balloon.c ``virtio_balloon_handle_report``: no discard
  when ``poison_val != 0``; a range not aligned to the RAM block's page size
  (``qemu_ram_pagesize``, the host's huge page size for hugetlbfs-backed memory) is skipped,
  others go to ``ram_block_discard_range``; then push and notify.

Steps and interleavings. One locked ``page_reporting_cycle`` on one free list is one step
(``walk``): the zone lock is released between lists and while ``report()`` waits, which is
where the guest's allocations and frees interleave with a pass. Lists with nothing to
isolate are passed over in the step that reaches the next list with work. The drain runs
under the zone lock (``page_reporting_drain`` is called with ``zone->lock`` held), so it is
one step; inside it the blocks go back one by one, each merging with what is free by then,
including blocks of the same batch drained before it.

Page content is tracked per frame, abstractly (``Content``): UNDEF (any value), ZERO, POISON
(the PAGE_POISON pattern), DATA (the current owner's data) and LOST (the owner's data,
discarded by the host). MADV_DONTNEED reads back zero; MADV_FREE reads back the old data or
zero, chosen per frame at discard time. ``discarded`` is the host's side: frames whose
backing the host dropped and the guest has not touched since.

Two designs of the "the host has this block" mark:

* ``upstream`` -- PG_reported, as above;
* ``offline`` -- the Offline design of the first seed (Duyck's "aeration" RFC, 2019;
  ``docs/models/page_reporting.md``): the mark is dropped when the block leaves the buddy; on
  the way back from a report the block carries it into ``__free_one_page``, where two
  Offline buddies merge into an Offline block and an Offline and an unmarked one into an
  unmarked block.

With two migratetypes the two designs differ (the manifest records both state counts): a
block of pageblock order is isolated from the UNMOVABLE list; its buddy in a MOVABLE
pageblock is freed while the lock is released, lands on the MOVABLE list that the pass walks
next, and joins the same batch; the drain marks the first and merges the second into it.
Upstream's merge clears the mark; the Offline rule keeps it, and must keep its meaning:
every frame of a marked block was handed to the host and not written since.

Ghost variables (history only, never read by an action): ``handed`` (frames the host
processed in a report and the guest has not written since), ``acked`` (blocks the host
acknowledged that stayed free and unchanged) and ``owed`` (blocks the guest freed
at or above the reporting order that have stayed free and not been reported since).

Why the default configuration is large enough. ZONE_NORMAL of two frames, one pageblock per
frame (the first UNMOVABLE, the second MOVABLE), and ZONE_MOVABLE of one frame; reporting
order 0 (the pageblock order, the kernel's default), a scatterlist of two entries,
allocations of order 0 and 1 of both migratetypes, MADV_DONTNEED and init_on_free. It
admits: a free and an allocation between any two lists of a pass and while a report waits
(so a notify arrives during a pass, the buddy of an isolated block is freed, and the
Offline merge rule fires); a block and its buddy in one batch; a fallback allocation that
steals a pageblock and an isolation that gives it back to MOVABLE; a report that fails,
which skips the second zone; a pass that moves on to the second zone; reuse of a reported
block; the host answering at any point; an unmovable allocation that falls back to the
MOVABLE pageblock and claims it (the witness "an unmovable allocation steals a MOVABLE
pageblock"), and, against it, ZONE_MOVABLE, which only movable allocations reach and whose
pageblocks therefore stay MOVABLE ("ZONE_MOVABLE holds only movable memory"). It does not
reach the budget (three unreported blocks on one list at once): the manifest entry with
eight fragmented frames does, and the ladder of larger configurations
(``models/manifest/page_reporting.json``) checks the rest.

Abstracted away, and why:

* per-cpu page lists (a pcp free is a later ``__free_one_page``), watermarks (the gates in
  ``page_reporting_process_zone`` and ``__isolate_free_page`` only skip work; the variant
  ``pass_reports_nothing`` is the gate that always fails), MIGRATE_RECLAIMABLE, CMA,
  HIGHATOMIC and ISOLATE pageblocks (the pass skips only ISOLATE lists; the model's two types
  are the mergeable ones whose merges matter), and time (the delayed work of
  PAGE_REPORTING_DELAY may run at any later point: ``work_queued``);
* list positions: a free list is a set of heads; where the kernel takes "the first entry"
  the model lets any block of that list be taken, a superset of the orders head/tail
  insertion and rotation produce. Any zone may serve an allocation (a superset of zonelists);
* pageblock_order is 0 or 1, so ``can_steal_fallback`` is always true; whether
  ``steal_suitable_fallback`` claims a pageblock for a block below pageblock order depends on
  page counts the model does not keep, so both outcomes are explored.

Liveness needs a guest that stops: ``quiesce`` ends all client activity and report failures,
after which only the worker and the host move. The worker's actions are weakly fair (a
queued work item runs; the pass runs to its end on its kworker). The host is *not* fair: it
may stall. The liveness properties that need an answering host say so in their own
fairness; "the worker sleeps while the host stalls" is checked without it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from enum import IntEnum

from hintspec.lang.model import (
    Args,
    Check,
    Model,
    action,
    always,
    leads_to,
    progress,
    sometimes,
)
from hintspec.lang.virtqueue import Buffer, Virtqueue
from hintspec.properties import hinting, memory
from hintspec.properties.memory import Block, block_frames, fmt_block


class Word(IntEnum):
    """``prdev->state`` (mm/page_reporting.c)."""

    IDLE = 0
    REQUESTED = 1
    ACTIVE = 2


class Pc(IntEnum):
    """Where the reporting work item is."""

    OFF = 0
    """Not running (the delayed work may be queued: ``work_queued``)."""
    WALK = 1
    """Walking the free lists of ``zone`` from (``order``, ``mt``) on (``page_reporting_cycle``)."""
    REPORT = 2
    """The scatterlist is ready: call ``report()``."""
    WAIT = 3
    """``report()`` added the buffer and waits for the host's ack."""
    END = 4
    """The pass is over: ``atomic_cmpxchg`` the state word next."""


class Migratetype(IntEnum):
    """``enum migratetype`` (include/linux/mmzone.h): the two mergeable types modelled, in
    the order ``page_reporting_process_zone`` walks them."""

    UNMOVABLE = 0
    MOVABLE = 1


class Content(IntEnum):
    """What a frame holds, as far as the guest is concerned."""

    UNDEF = 0
    """Any value: stale data nobody needs, or never-initialised memory."""
    ZERO = 1
    POISON = 2
    """The PAGE_POISON pattern (``poison_val != 0``)."""
    DATA = 3
    """The current owner's data."""
    LOST = 4
    """The owner's data was discarded by the host: it reads back zero or stale."""


class Discard(IntEnum):
    """How the host discards a reported range (``ram_block_discard_range``)."""

    DONTNEED = 0
    """MADV_DONTNEED (or a hole punched in hugetlbfs): the page reads back as zero."""
    FREE = 1
    """MADV_FREE: the page reads back as the old data or as zero."""


class FreeInit(IntEnum):
    """What the guest writes into a page it frees (``free_pages_prepare``)."""

    NONE = 0
    POISON = 1
    """Page poisoning (``page_poison=1``): the PAGE_POISON pattern; checked at allocation."""
    ZERO = 2
    """``init_on_free=1``: zeroes; allocation then skips zeroing and relies on it."""


class Phase(IntEnum):
    RUNNING = 0
    """Allocator clients run; a report may fail."""
    QUIET = 1
    """The guest stopped allocating and freeing; reports no longer fail."""


@dataclass(frozen=True)
class Config:
    frames: int = 2
    """Page frames of the first zone (ZONE_NORMAL), a power of two; its top order is
    log2(frames) (MAX_PAGE_ORDER)."""
    movable_frames: int = 1
    """Page frames of a second zone, ZONE_MOVABLE (memory onlined movable, ``movablecore=``),
    right after the first: a power of two no larger than ``frames``, or 0 for none. Only
    movable allocations use it (``gfp_zone``)."""
    pageblock_order: int = 0
    """pageblock_order, 0 or 1 (the kernel's is MAX_PAGE_ORDER - 1 on x86-64)."""
    unmovable_pageblocks: int = 1
    """The first pageblocks of memory start MIGRATE_UNMOVABLE (earlier steals); the rest
    MOVABLE, as ``memmap_init_range`` leaves them."""
    report_order: int = 0
    """``page_reporting_order``: the notify threshold and the lowest list the pass walks (the
    kernel's default is pageblock_order)."""
    capacity: int = 2
    """PAGE_REPORTING_CAPACITY: scatterlist entries per ``report()`` (32 in the kernel)."""
    max_alloc_order: int = 1
    """Clients allocate blocks of order 0..max_alloc_order."""
    unmovable_allocs: bool = True
    """Clients make unmovable allocations (GFP_KERNEL) besides movable ones (user pages)."""
    host_page_order: int = 0
    """The host backs guest memory in pages of 2**host_page_order frames: 0 for a 4K guest on
    a 4K host and for a 64K guest on a 4K host; a 2M hugetlbfs host under a 4K guest is 9,
    scaled down here (``docs/models/page_reporting.md``)."""
    discard: Discard = Discard.DONTNEED
    free_init: FreeInit = FreeInit.ZERO
    page_poison: bool = True
    """The device offers VIRTIO_BALLOON_F_PAGE_POISON (negotiated only if the guest poisons
    or initialises free pages, ``virtballoon_validate``)."""
    report_errors: bool = True
    """``virtqueue_add_inbuf`` may fail (a fault; the pages go back unreported)."""
    fragmented: bool = False
    """Start with every odd frame allocated and written, the even ones free, unreported
    order-0 blocks (as after a burst of order-0 allocations): one list holds many blocks, so
    a pass reports mid-list and spends its budget."""
    clients: bool = True
    """The allocator's clients run. Without them the guest is quiet from the start: only
    the worker and the host move (what passes do with the memory they find)."""
    may_quiesce: bool = True
    """The guest may go quiet (``quiesce``): needed by the liveness properties; off for long
    random runs, which would otherwise mostly end early in the quiet phase."""
    variant: str = "upstream"

    def __post_init__(self) -> None:
        n, top = self.movable_frames, self.frames.bit_length() - 1
        smallest = n or self.frames
        problems = [
            message
            for bad, message in (
                (
                    self.frames < 2 or self.frames & (self.frames - 1),
                    "frames must be a power of two >= 2",
                ),
                (
                    n < 0 or n & (n - 1) or n > self.frames,
                    "movable_frames must be 0 or a power of two <= frames",
                ),
                (
                    self.pageblock_order not in (0, 1) or 1 << self.pageblock_order > smallest,
                    "pageblock_order must be 0 or 1, and a pageblock fit every zone",
                ),
                (
                    not 0 <= self.unmovable_pageblocks <= self.frames >> self.pageblock_order,
                    "unmovable_pageblocks must be in 0..(the first zone's pageblocks): "
                    "ZONE_MOVABLE's pageblocks are all MOVABLE",
                ),
                (not 0 <= self.report_order <= top, f"report_order must be in 0..{top}"),
                (not 0 <= self.max_alloc_order <= top, f"max_alloc_order must be in 0..{top}"),
                (
                    self.host_page_order < 0 or 1 << self.host_page_order > smallest,
                    "a host page must fit every zone",
                ),
                (self.capacity < 1, "capacity must be >= 1"),
            )
            if bad
        ]
        if problems:  # pragma: no cover -- bad input; tests/test_page_reporting.py
            raise ValueError(problems[0])

    @property
    def sizes(self) -> tuple[int, ...]:
        """The zones' sizes in frames."""
        return (self.frames, self.movable_frames) if self.movable_frames else (self.frames,)

    @property
    def total_frames(self) -> int:
        return sum(self.sizes)


@dataclass(frozen=True)
class State:
    free_area: tuple[tuple[int, ...], ...]
    """The heads on each free list (PageBuddy), one list per (zone, order, migratetype):
    ``zone->free_area[order].free_list[mt]`` (see ``PageReporting.list_id``)."""
    pageblock: tuple[Migratetype, ...]
    """Each pageblock's migratetype (``get_pageblock_migratetype``)."""
    reported: frozenset[int]
    """Heads carrying the mark: PG_reported (upstream) or PageOffline (offline design)."""
    allocated: frozenset[Block]
    """Blocks the allocator's clients hold."""
    content: tuple[Content, ...]
    """Per frame."""
    word: Word
    """``prdev->state``."""
    work_queued: bool
    """``prdev->work`` (the delayed work) is queued."""
    pc: Pc
    zone: int
    """The zone the pass is in."""
    order: int
    """The free list the pass walks next (or resumes after the drain); top+1: the zone's
    leftovers."""
    mt: Migratetype
    """With ``order``: the list the pass is at."""
    budget: int | None
    """The budget left to the cycle the pass resumes after a report (None: a new cycle)."""
    sgl: tuple[Block, ...]
    """The scatterlist: isolated blocks, in scatterlist index order."""
    err: bool
    """The pass ends because ``report()`` failed."""
    vq: Virtqueue
    """``reporting_vq``; a buffer is a scatterlist as (head, order, head, order, ...)."""
    phase: Phase
    discarded: frozenset[int]
    """The host's side: frames whose backing the host dropped, not touched by the guest since."""
    handed: frozenset[int]
    """Ghost: frames the host processed in a report and the guest has not written since."""
    acked: frozenset[Block]
    """Ghost: blocks the host acknowledged that stayed free and unchanged since."""
    owed: frozenset[Block]
    """Ghost: blocks the guest freed at or above the reporting order that stayed free (not
    allocated from) and are not marked yet; a block merged from an owed one is owed. A
    failed report forgives them all (nothing retries it)."""


_FIELDS = frozenset(f.name for f in fields(State))


def replace(s: State, **changes: object) -> State:
    """``dataclasses.replace`` for State, without its per-call introspection (the explorer
    makes hundreds of thousands of these)."""
    assert changes.keys() <= _FIELDS, f"State has no field {set(changes) - _FIELDS}"
    new = object.__new__(State)
    new.__dict__.update(s.__dict__)
    new.__dict__.update(changes)
    return new


def _sg_buffer(sgl: Iterable[Block]) -> Buffer:
    return tuple(x for block in sgl for x in block)


def _sg_blocks(buf: Buffer) -> list[Block]:
    return [(buf[i], buf[i + 1]) for i in range(0, len(buf), 2)]


_READS_BACK_ZERO = {Content.DATA: Content.LOST, Content.POISON: Content.ZERO}
"""What a discard does to a frame (UNDEF and ZERO are unchanged)."""

_MTS = (Migratetype.UNMOVABLE, Migratetype.MOVABLE)

_WORKER = {a: "weak" for a in ("worker_start", "walk", "report", "drain", "finish")}
"""The worker's fairness, for the liveness properties that state their own."""
_HOST = {"host_report": "weak"}
"""An answering host: assumed only by the properties that say so."""


class PageReporting(Model[Config, State]):
    """Free page reporting: buddy allocator, reporting worker, virtio-balloon, QEMU."""

    name = "page_reporting"
    variants = {
        "upstream": (
            "mm/page_reporting.c since v5.7 (Duyck v17, budget d2932bdb681c), PG_reported "
            "mark; mm/page_alloc.c at dac22531bbd4"
        ),
        "offline": (
            "the Offline design of Duyck's 2019 aeration RFC (docs/models/page_reporting.md): "
            "the mark survives merging two marked buddies"
        ),
        "alloc_keeps_reported": (
            "allocation does not clear PG_reported (the clear in del_page_from_free_list, "
            "mm/page_alloc.c, missing): an allocated page still claims the host has it"
        ),
        "merge_keeps_reported": (
            "merging in __free_one_page does not clear the buddy's PG_reported: the merged "
            "block, or a frame inside it, keeps a stale mark"
        ),
        "reuse_before_ack": (
            "report() returns without waiting for the host's ack (no wait_event/"
            "virtqueue_get_buf in virtballoon_free_page_report), so the drain hands the pages "
            "back while the host may still discard them (virtio 1.2, Free Page Reporting: the "
            "driver MUST NOT use reported pages before the device has used the buffer)"
        ),
        "isolate_ignores_cap": (
            "the pass isolates every unreported block without the PAGE_REPORTING_CAPACITY "
            "cap: the unbounded isolation of the pre-upstream per-cpu/per-zone batch designs "
            "(docs/models/page_reporting.md)"
        ),
        "walk_ignores_reported": (
            "page_reporting_cycle without its 'skip PageReported' test: blocks the host "
            "already has are reported again"
        ),
        "no_leftover_report": (
            "page_reporting_process_zone without the leftover report: a partly filled "
            "scatterlist is dropped at the end of the zone with its pages in it"
        ),
        "no_budget": (
            "mm/page_reporting.c before d2932bdb681c ('mm/page_reporting: add budget limit on "
            "how many pages can be reported per pass'): a cycle re-walks its list after every "
            "report, so frees on that list keep the pass going for ever and a request made "
            "during it is never served by a new pass"
        ),
        "atomic_set_idle": (
            "the worker ends its pass with atomic_set(IDLE) instead of atomic_cmpxchg(ACTIVE, "
            "IDLE): a notify during the pass is lost -- the objection raised in review of the "
            "v13-era request tracking (docs/models/page_reporting.md)"
        ),
        "no_poison_check": (
            "virtballoon_validate before fb69c2c896fc ('virtio-balloon: Disable free page "
            "reporting if page poison reporting is not enabled'): reporting stays on when the "
            "guest poisons free pages but PAGE_POISON is not negotiated (needs "
            "free_init=POISON page_poison=false)"
        ),
        "offline_mixed_merge": (
            "the Offline design with the merge rule the other way round: an Offline and an "
            "unmarked buddy merge into an Offline block (the list rules found unclear in the "
            "aeration review, docs/models/page_reporting.md)"
        ),
        "notify_unmerged_order": (
            "a hypothetical one-line slip in __free_one_page: page_reporting_notify_free() "
            "with the order the block was freed at instead of the merged order, so a free "
            "below the reporting order that merges up to it requests no pass"
        ),
        "pass_reports_nothing": (
            "page_reporting_process_zone gives up on every zone, as when its "
            "zone_watermark_ok() gate always fails: safe, but the host gets nothing back"
        ),
        "busy_poll_ack": (
            "report() polls virtqueue_get_buf() with cpu_relax(), as virtio-net's control "
            "queue does (drivers/net/virtio_net.c: virtnet_send_command), instead of sleeping "
            "in wait_event(): a stalled host keeps a CPU spinning"
        ),
        "unmovable_in_movable_zone": (
            "a hypothetical slip in gfp_zone(): an unmovable (GFP_KERNEL) allocation is served "
            "from ZONE_MOVABLE, and __rmqueue_fallback's steal claims a ZONE_MOVABLE pageblock "
            "UNMOVABLE -- what the zone exists to forbid (Documentation/admin-guide/mm/"
            "memory-hotplug.rst, 'ZONE_MOVABLE'): its memory can no longer be offlined"
        ),
        "host_rounds_out": (
            "a device that rounds a range smaller than its page out to the whole host page "
            "instead of skipping it (virtio_balloon_handle_report's QEMU_IS_ALIGNED test "
            "missing): the rest of the host page is discarded under the guest"
        ),
    }
    designs = frozenset({"offline"})
    reference_config = {
        "frames": 4,
        "movable_frames": 0,
        "pageblock_order": 1,
        "report_order": 1,
        "capacity": 1,
    }
    """One zone of four frames, two pageblocks, reporting at pageblock order, one
    scatterlist entry: mid-list reports, and the steal of a pageblock by a block below
    pageblock order (both outcomes)."""
    hypothesis_config = {
        "frames": 256,
        "movable_frames": 64,
        "pageblock_order": 1,
        "unmovable_pageblocks": 16,
        "report_order": 2,
        "capacity": 2,
        "max_alloc_order": 3,
        "may_quiesce": False,
    }
    frame_legend = {
        "A": "allocated, written",
        "a": "allocated, not written yet",
        "f": "free",
        "h": "free, handed to the host, in an unmarked block",
        "R": "free, PG_reported block",
        "O": "free, PageOffline block",
        "I": "isolated for reporting",
        "!": "the owner's data was discarded by the host",
        "?": "in no container (lost)",
        "#": "in two containers",
    }

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        sizes = config.sizes
        self.zones = len(sizes)
        self.zone_start = tuple(sum(sizes[:z]) for z in range(self.zones))
        self.zone_top = tuple(n.bit_length() - 1 for n in sizes)
        """MAX_PAGE_ORDER of each zone: its size."""
        self.movable_zone = 1 if self.zones > 1 else None
        """ZONE_MOVABLE's index, if the configuration has one."""
        self.frames = config.total_frames
        self.top = self.zone_top[0]
        self.orders = self.top + 1
        """Lists per zone and migratetype (a smaller zone leaves its upper ones empty)."""
        self.pb = config.pageblock_order
        self.offline_design = self.variant in ("offline", "offline_mixed_merge")
        self.mark = "PageOffline" if self.offline_design else "PG_reported"
        poisons = config.free_init is not FreeInit.NONE
        page_poison = config.page_poison and poisons
        # virtballoon_validate: poisoning without PAGE_POISON clears REPORTING.
        self.reporting = not poisons or page_poison or self.variant == "no_poison_check"
        # virtballoon_probe writes poison_val (0 for init_on_free); QEMU skips the discard
        # when it is non-zero.
        self.host_discards = not (page_poison and config.free_init is FreeInit.POISON)
        self.freed_content = {
            FreeInit.NONE: Content.UNDEF,
            FreeInit.POISON: Content.POISON,
            FreeInit.ZERO: Content.ZERO,
        }[config.free_init]

    # -- layout ----------------------------------------------------------------------------

    def list_id(self, zone: int, order: int, mt: int) -> int:
        """The index of ``zone->free_area[order].free_list[mt]`` in ``State.free_area``."""
        return (zone * self.orders + order) * 2 + mt

    def zone_of(self, frame: int) -> int:
        return max(z for z in range(self.zones) if self.zone_start[z] <= frame)

    def pageblock_of(self, frame: int) -> int:
        return frame >> self.pb

    def pageblocks_of(self, block: Block) -> range:
        """The pageblocks a block covers, or the one holding it."""
        head, order = block
        first = head >> self.pb
        return range(first, first + max(1, 1 << order >> self.pb))

    def initial_states(self) -> Iterator[State]:
        # Each zone's memory is one free, unreported top-order block on the list of its
        # head's pageblock type (__free_pages_core at boot); page_reporting_register() has
        # just made its initial request (state REQUESTED, the work queued).
        cfg = self.config
        pageblock = tuple(
            Migratetype.UNMOVABLE if i < cfg.unmovable_pageblocks else Migratetype.MOVABLE
            for i in range(self.frames >> self.pb)
        )
        lists: list[tuple[int, ...]] = [()] * (self.zones * self.orders * 2)
        for z, head in enumerate(self.zone_start):
            mt = pageblock[self.pageblock_of(head)]
            lists[self.list_id(z, self.zone_top[z], mt)] = (head,)
        allocated: frozenset[Block] = frozenset()
        content = [self.freed_content] * self.frames
        if cfg.fragmented:
            lists = [()] * len(lists)
            for z, head in enumerate(self.zone_start):
                for f in range(head, head + (1 << self.zone_top[z]), 2):
                    lid = self.list_id(z, 0, pageblock[self.pageblock_of(f)])
                    lists[lid] = (*lists[lid], f)
                    content[f + 1] = Content.DATA
            allocated = frozenset((f, 0) for f in range(1, self.frames, 2))
        owed = frozenset(
            (h, lid // 2 % self.orders)
            for lid, heads in enumerate(lists)
            if lid // 2 % self.orders >= cfg.report_order and self.reporting
            for h in heads
        )
        yield State(
            free_area=tuple(lists),
            pageblock=pageblock,
            reported=frozenset(),
            allocated=allocated,
            content=tuple(content),
            word=Word.REQUESTED if self.reporting else Word.IDLE,
            work_queued=self.reporting,
            pc=Pc.OFF,
            zone=0,
            order=cfg.report_order,
            mt=Migratetype.UNMOVABLE,
            budget=None,
            sgl=(),
            err=False,
            vq=Virtqueue(size=1),
            phase=Phase.RUNNING if cfg.clients else Phase.QUIET,
            discarded=frozenset(),
            handed=frozenset(),
            acked=frozenset(),
            owed=owed,
        )

    def is_terminal(self, s: State) -> bool:
        """The guest is quiet and the worker has nothing left to do."""
        return s.phase is Phase.QUIET and s.pc is Pc.OFF and not s.work_queued

    # -- the buddy allocator ---------------------------------------------------------------

    def _find(self, lists: list[set[int]], zone: int, order: int, head: int) -> int | None:
        """The list of ``zone``/``order`` holding ``head`` (PageBuddy of that order), if any."""
        for mt in _MTS:
            if head in lists[self.list_id(zone, order, mt)]:
                return self.list_id(zone, order, mt)
        return None

    def _free_one_page(
        self,
        lists: list[set[int]],
        reported: set[int],
        acked: set[Block],
        owed: set[Block],
        head: int,
        order: int,
        mt: Migratetype,
        mark: bool,
    ) -> tuple[int, int, bool, bool, bool]:
        """``__free_one_page``: add a block to the list of ``mt``, merging with free buddies
        (the two modelled types are mergeable, so the pageblock test never stops a merge).
        ``mark``: the block comes back with the Offline mark (offline design). Returns the
        resulting head, order, whether it merged, whether the result keeps the mark, and
        whether it absorbed an owed buddy."""
        zone = self.zone_of(head)
        merged = absorbed = False
        while order < self.zone_top[zone]:
            buddy = head ^ (1 << order)
            where = self._find(lists, zone, order, buddy)
            if where is None:
                break
            # del_page_from_free_list(buddy): clears its mark (and it is no longer the
            # block the host acknowledged).
            lists[where].discard(buddy)
            buddy_marked = buddy in reported
            if self.variant != "merge_keeps_reported":
                reported.discard(buddy)
            acked.discard((buddy, order))
            absorbed = absorbed or (buddy, order) in owed
            owed.discard((buddy, order))
            if self.variant == "offline_mixed_merge":
                mark = mark or buddy_marked
            else:
                mark = mark and buddy_marked
            head &= buddy
            order += 1
            merged = True
        lists[self.list_id(zone, order, mt)].add(head)
        return head, order, merged, mark, absorbed

    def _request(self, word: Word, queued: bool) -> tuple[Word, bool]:
        """``__page_reporting_request``: xchg to REQUESTED; queue the work if it was IDLE."""
        if word is Word.REQUESTED:
            return word, queued
        return Word.REQUESTED, queued or word is Word.IDLE

    def _smallest(self, s: State, zone: int, want: int, mt: Migratetype) -> int | None:
        """``__rmqueue_smallest``: the smallest order >= want with a block on mt's list."""
        for order in range(want, self.zone_top[zone] + 1):
            if s.free_area[self.list_id(zone, order, mt)]:
                return order
        return None

    def _fallback(self, s: State, zone: int, want: int, mt: Migratetype) -> int | None:
        """``__rmqueue_fallback``: the largest order >= want with a block of the other type
        (``can_steal_fallback`` is true at the model's pageblock orders, so never the
        smallest)."""
        other = Migratetype(1 - mt)
        for order in reversed(range(want, self.zone_top[zone] + 1)):
            if s.free_area[self.list_id(zone, order, other)]:
                return order
        return None

    @action(
        "mm/page_alloc.c: __rmqueue -> __rmqueue_smallest (or __rmqueue_fallback, "
        "steal_suitable_fallback) -> expand"
    )
    def alloc(self, s: State) -> Iterator[tuple[Args, State]]:
        """Take a block of the smallest order >= the request from the request's migratetype
        (else the largest of the other, stealing its pageblock); split it down."""
        if s.phase is not Phase.RUNNING:
            return
        for zone, want, mt in itertools.product(
            range(self.zones), range(self.config.max_alloc_order + 1), _MTS
        ):
            if mt is Migratetype.UNMOVABLE and not self.config.unmovable_allocs:
                continue
            if (
                mt is Migratetype.UNMOVABLE
                and zone == self.movable_zone
                and self.variant != "unmovable_in_movable_zone"
            ):
                continue  # gfp_zone(): only __GFP_MOVABLE allocations reach ZONE_MOVABLE
            found = self._smallest(s, zone, want, mt)
            if found is not None:
                for head in s.free_area[self.list_id(zone, found, mt)]:
                    yield self._take(s, zone, want, mt, head, found, "none")
                continue
            found = self._fallback(s, zone, want, mt)
            if found is None:
                continue
            for head in s.free_area[self.list_id(zone, found, Migratetype(1 - mt))]:
                if found >= self.pb:
                    # change_pageblock_range, then move_to_free_list (the mark stays).
                    yield self._take(s, zone, want, mt, head, found, "pageblocks")
                else:
                    # Below pageblock order the kernel claims the pageblock or not by page
                    # counts it keeps and the model does not: both outcomes.
                    yield self._take(s, zone, want, mt, head, found, "pageblock")
                    yield self._take(s, zone, want, mt, head, found, "block only")

    def _take(
        self, s: State, zone: int, want: int, mt: Migratetype, head: int, found: int, steal: str
    ) -> tuple[Args, State]:
        """Allocate ``head``/``found`` for a request of (``want``, ``mt``): claim pageblocks
        as ``steal`` says, take it off its list (clearing the mark), expand() the halves
        onto mt's lists, unreported."""
        lists = [set(heads) for heads in s.free_area]
        pageblock = s.pageblock
        if steal != "none":
            lists[self.list_id(zone, found, Migratetype(1 - mt))].discard(head)
            if steal != "block only":
                claimed = list(pageblock)
                for pb in self.pageblocks_of((head, found)):
                    claimed[pb] = mt
                pageblock = tuple(claimed)
        else:
            lists[self.list_id(zone, found, mt)].discard(head)
        reported = set(s.reported)
        if self.variant != "alloc_keeps_reported":
            reported.discard(head)
        order = found
        while order > want:  # expand(): the upper halves go back unreported
            order -= 1
            lists[self.list_id(zone, order, mt)].add(head + (1 << order))
        args = {"zone": zone, "order": want, "mt": mt.name, "head": head, "steal": steal}
        return args, replace(
            s,
            free_area=_freeze(lists),
            pageblock=pageblock,
            reported=frozenset(reported),
            allocated=s.allocated | {(head, want)},
            acked=s.acked - {(head, found)},
            owed=s.owed - {(head, found)},
        )

    @action("client: writes the block it allocated")
    def write(self, s: State) -> Iterator[tuple[Args, State]]:
        if s.phase is not Phase.RUNNING:
            return
        for block in sorted(s.allocated):
            if self._written(s, block):
                continue
            content = list(s.content)
            frames = set(block_frames(block))
            for f in frames:
                content[f] = Content.DATA
            yield (
                {"head": block[0], "order": block[1]},
                replace(
                    s,
                    content=tuple(content),
                    handed=s.handed - frames,
                    discarded=s.discarded - frames,
                ),
            )

    @action(
        "mm/page_alloc.c: __free_one_page -> page_reporting_notify_free; "
        "mm/page_reporting.c: __page_reporting_request"
    )
    def free(self, s: State) -> Iterator[tuple[Args, State]]:
        """Free a written block onto its pageblock's list: poison or zero it as configured,
        merge, and notify if the merged block reaches the reporting order."""
        if s.phase is not Phase.RUNNING:
            return
        for block in sorted(s.allocated):
            if not self._written(s, block):
                continue
            frames = set(block_frames(block))
            content = list(s.content)
            for f in frames:
                content[f] = self.freed_content
            lists = [set(heads) for heads in s.free_area]
            reported, acked, owed = set(s.reported), set(s.acked), set(s.owed)
            mt = s.pageblock[self.pageblock_of(block[0])]  # get_pfnblock_migratetype
            head, order, _, _, _ = self._free_one_page(
                lists, reported, acked, owed, *block, mt=mt, mark=False
            )
            word, queued = s.word, s.work_queued
            if self.reporting and order >= self.config.report_order:
                owed.add((head, order))
            notify_order = block[1] if self.variant == "notify_unmerged_order" else order
            if self.reporting and notify_order >= self.config.report_order:
                word, queued = self._request(word, queued)
            # init_on_free and poisoning write the pages: the host backs them again.
            discarded, handed = s.discarded, s.handed
            if self.config.free_init is not FreeInit.NONE:
                discarded, handed = discarded - frames, handed - frames
            yield (
                {"head": block[0], "order": block[1]},
                replace(
                    s,
                    free_area=_freeze(lists),
                    reported=frozenset(reported),
                    allocated=s.allocated - {block},
                    content=tuple(content),
                    word=word,
                    work_queued=queued,
                    acked=frozenset(acked),
                    owed=frozenset(owed),
                    discarded=discarded,
                    handed=handed,
                ),
            )

    def _written(self, s: State, block: Block) -> bool:
        return s.content[block[0]] in (Content.DATA, Content.LOST)

    # -- the reporting worker --------------------------------------------------------------
    # Fairness: a queued delayed work item runs once its timer expires (system_wq's kworkers
    # are ordinary schedulable threads), and page_reporting_process runs to the end of its
    # pass: it sleeps only in report()'s wait for the host, and the zone lock it takes is
    # held by allocations and frees only for bounded sections. Hence weak fairness for the
    # worker's steps; tests/test_page_reporting.py shows what dropping each one reveals.

    @action("mm/page_reporting.c: page_reporting_process (atomic_set ACTIVE)", fair="weak")
    def worker_start(self, s: State) -> Iterator[tuple[Args, State]]:
        if s.work_queued and s.pc is Pc.OFF:
            yield (
                {},
                replace(
                    s,
                    word=Word.ACTIVE,
                    work_queued=False,
                    pc=Pc.WALK,
                    zone=0,
                    order=self.config.report_order,
                    mt=Migratetype.UNMOVABLE,
                ),
            )

    def _lists_from(
        self, zone: int, order: int, mt: Migratetype
    ) -> Iterator[tuple[int, Migratetype]]:
        """The (order, migratetype) lists of a zone from (order, mt) on, in walk order."""
        for o in range(order, self.zone_top[zone] + 1):
            for m in _MTS[mt if o == order else 0 :]:
                yield o, m

    def _next_list(self, order: int, mt: Migratetype) -> tuple[int, Migratetype]:
        if mt is Migratetype.UNMOVABLE:
            return order, Migratetype.MOVABLE
        return order + 1, Migratetype.UNMOVABLE

    @action(
        "mm/page_reporting.c: page_reporting_process_zone -> page_reporting_cycle -> "
        "mm/page_alloc.c: __isolate_free_page",
        fair="weak",
    )
    def walk(self, s: State) -> Iterator[tuple[Args, State]]:
        """One locked cycle over the next free list with unreported blocks: isolate them
        into the scatterlist; when it is full and one more is found, report first (or, with
        the cycle's budget spent, set REQUESTED and leave the list). At a zone's end: report
        its leftovers, or go on to the next zone, or end the pass."""
        if s.pc is not Pc.WALK:
            return
        if self.variant == "pass_reports_nothing":  # every zone fails the watermark gate
            yield {"zone": "all", "isolate": (), "then": "end"}, self._end(s)
            return
        zone, order, mt = s.zone, s.order, s.mt
        while zone < self.zones:
            for o, m in self._lists_from(zone, order, mt):
                got = self._cycle(s, zone, o, m)
                if got is not None:
                    yield from got
                    return
            if s.sgl and self.variant != "no_leftover_report":
                yield (
                    {"zone": zone, "isolate": (), "then": "report leftovers"},
                    replace(s, pc=Pc.REPORT, zone=zone, order=self.orders, budget=None),
                )
                return
            # The zone's offset starts afresh in the next one (the variant drops its pages).
            s = replace(s, sgl=())
            zone, order, mt = zone + 1, self.config.report_order, Migratetype.UNMOVABLE
        yield {"zone": "all", "isolate": (), "then": "end"}, self._end(s)

    def _end(self, s: State) -> State:
        return replace(
            s,
            pc=Pc.END,
            zone=0,
            order=self.config.report_order,
            mt=Migratetype.UNMOVABLE,
            budget=None,
        )

    def _cycle(
        self, s: State, zone: int, order: int, mt: Migratetype
    ) -> list[tuple[Args, State]] | None:
        """``page_reporting_cycle`` on one list, or None when it has nothing to isolate."""
        lid = self.list_id(zone, order, mt)
        heads = sorted(
            h
            for h in s.free_area[lid]
            if h not in s.reported or self.variant == "walk_ignores_reported"
        )
        if not heads:
            return None
        here = {"zone": zone, "order": order, "mt": mt.name}
        resumed = (zone, order, mt) == (s.zone, s.order, s.mt)
        budget = s.budget if resumed else None
        if budget is None and self.variant != "no_budget":
            # budget = DIV_ROUND_UP(area->nr_free, PAGE_REPORTING_CAPACITY * 16)
            nr_free = sum(len(s.free_area[self.list_id(zone, order, m)]) for m in _MTS)
            budget = -(-nr_free // (self.config.capacity * 16))
        if budget is not None and budget < 0:
            o, m = self._next_list(order, mt)
            return [
                (
                    here | {"isolate": (), "then": "budget spent"},
                    replace(s, word=Word.REQUESTED, zone=zone, order=o, mt=m, budget=None),
                )
            ]
        spent = None if budget is None else budget - 1
        room = self.config.capacity - len(s.sgl)
        if self.variant == "isolate_ignores_cap":
            room = self.frames
        if room <= 0:
            return [
                (
                    here | {"isolate": (), "then": "report"},
                    replace(s, pc=Pc.REPORT, zone=zone, order=order, mt=mt, budget=spent),
                )
            ]
        if len(heads) <= room:
            o, m = self._next_list(order, mt)
            return [
                (
                    here | {"isolate": tuple(heads), "then": "walk"},
                    self._isolate(s, lid, order, heads, Pc.WALK, (zone, o, m), None),
                )
            ]
        return [
            (
                here | {"isolate": chosen, "then": "report"},
                self._isolate(s, lid, order, chosen, Pc.REPORT, (zone, order, mt), spent),
            )
            for chosen in itertools.combinations(heads, room)
        ]

    def _isolate(
        self,
        s: State,
        lid: int,
        order: int,
        heads: Iterable[int],
        pc: Pc,
        resume: tuple[int, int, Migratetype],
        budget: int | None,
    ) -> State:
        """``__isolate_free_page`` for each head (off the list, mark cleared; a block of at
        least half a pageblock turns its pageblocks MOVABLE), then
        ``sg_set_page(&sgl[--offset])``: later entries go in front."""
        lists = [set(h) for h in s.free_area]
        sgl = list(s.sgl)
        pageblock = list(s.pageblock)
        for head in heads:
            lists[lid].discard(head)
            sgl.insert(0, (head, order))
            # order >= pageblock_order - 1 holds for every block at the model's pageblock
            # orders (0 and 1); the two modelled types are mergeable.
            for pb in self.pageblocks_of((head, order)):
                pageblock[pb] = Migratetype.MOVABLE
        zone, o, m = resume
        return replace(
            s,
            free_area=_freeze(lists),
            pageblock=tuple(pageblock),
            reported=s.reported - set(heads),
            sgl=tuple(sgl),
            pc=pc,
            zone=zone,
            order=o,
            mt=m,
            budget=budget,
        )

    @action(
        "drivers/virtio/virtio_balloon.c: virtballoon_free_page_report "
        "(virtqueue_add_inbuf, virtqueue_kick)",
        fair="weak",
    )
    def report(self, s: State) -> Iterator[tuple[Args, State]]:
        """Hand the scatterlist to the host; on an add error the pages go straight back,
        unreported, and the pass ends (``page_reporting_drain(..., false)``, break)."""
        if s.pc is not Pc.REPORT:
            return
        vq = s.vq
        if self.variant == "reuse_before_ack":
            while (got := vq.get_buf()) is not None:  # never waited for: reclaim late
                vq = got[1]
        added = vq.add(_sg_buffer(s.sgl))
        nents = len(s.sgl)
        if added is not None:
            yield {"nents": nents, "ok": True}, replace(s, vq=added, pc=Pc.WAIT)
        if added is None or (self.config.report_errors and s.phase is Phase.RUNNING):
            yield {"nents": nents, "ok": False}, self._drain(replace(s, vq=vq), ok=False)

    # The host is not fair: QEMU answers from its main loop or an iothread, which a paused
    # VM, a blocked iothread or a wedged device never runs. Properties that need an answer
    # say so (_HOST); "the worker sleeps while the host stalls" is checked without it.
    @action("hw/virtio/virtio-balloon.c: virtio_balloon_handle_report")
    def host_report(self, s: State) -> Iterator[tuple[Args, State]]:
        """Pop the report; unless poison_val != 0, discard each range aligned to the host
        page size (skip the others); push (the ack)."""
        popped = s.vq.pop()
        if popped is None:
            return
        buf, vq = popped
        _, vq = vq.push(len(vq.inflight) - 1)
        blocks = _sg_blocks(buf)
        frames = {f for block in blocks for f in block_frames(block)}
        handed = s.handed | frames
        if not self.host_discards:
            yield {"discard": False, "zeroed": ()}, replace(s, vq=vq, handed=handed)
            return
        hpo = self.config.host_page_order
        hit: set[int] = set()
        for head, order in blocks:
            if order >= hpo:  # QEMU_IS_ALIGNED(ram_offset | size, qemu_ram_pagesize(rb))
                hit.update(block_frames((head, order)))
            elif self.variant == "host_rounds_out":
                hit.update(block_frames((head >> hpo << hpo, hpo)))
        changes = sorted(f for f in hit if s.content[f] in _READS_BACK_ZERO)
        if self.config.discard is Discard.DONTNEED:
            choices: Iterable[tuple[int, ...]] = [tuple(changes)]
        else:  # MADV_FREE: each page may still read back its old content
            choices = itertools.chain.from_iterable(
                itertools.combinations(changes, n) for n in range(len(changes) + 1)
            )
        for zeroed in choices:
            content = list(s.content)
            for f in zeroed:
                content[f] = _READS_BACK_ZERO[content[f]]
            yield (
                {"discard": True, "zeroed": zeroed},
                replace(
                    s,
                    vq=vq,
                    handed=handed,
                    content=tuple(content),
                    discarded=s.discarded | hit,
                ),
            )

    @action(
        "virtballoon_free_page_report (wait_event, virtqueue_get_buf) -> "
        "mm/page_reporting.c: page_reporting_drain",
        fair="weak",
    )
    def drain(self, s: State) -> Iterator[tuple[Args, State]]:
        """The host acked: put every block back; mark those that did not merge."""
        if s.pc is not Pc.WAIT:
            return
        vq = s.vq
        if self.variant != "reuse_before_ack":
            got = vq.get_buf()
            if got is None:
                if self.variant == "busy_poll_ack":  # cpu_relax() and poll again
                    yield {"nents": len(s.sgl), "acked": False}, s
                return
            vq = got[1]
        yield {"nents": len(s.sgl), "acked": True}, self._drain(replace(s, vq=vq), ok=True)

    def _drain(self, s: State, *, ok: bool) -> State:
        """``page_reporting_drain(prdev, sgl, nents, ok)`` under the zone lock: each block
        back through ``__putback_isolated_page`` with its pageblock's type now."""
        lists = [set(h) for h in s.free_area]
        reported, acked = set(s.reported), set(s.acked)
        owed = set(s.owed)
        for block in s.sgl:
            acked.discard(block)
            was_owed = block in owed
            owed.discard(block)
            mt = s.pageblock[self.pageblock_of(block[0])]
            head, order, merged, keep, absorbed = self._free_one_page(
                lists, reported, acked, owed, *block, mt=mt, mark=ok and self.offline_design
            )
            # Upstream: PageBuddy(page) && buddy_order(page) == order; Offline: the merge rule.
            marked = keep if self.offline_design and ok else ok and not merged
            if marked:
                reported.add(head)
            elif was_owed or absorbed:
                owed.add((head, order))
            if ok and not merged:
                acked.add(block)
        if not ok:
            # The pass ends here, skipping the zones after this one, and nothing retries:
            # the next qualifying free requests a new pass. What the pass still owed is
            # forgiven (upstream's gap, the witness below), so the properties on reporting
            # speak of behaviours in which reports do not fail.
            owed.clear()
            following = self._end(s)
        elif s.order < self.orders:  # mid-list: resume the cycle
            following = replace(s, pc=Pc.WALK)
        elif s.zone + 1 < self.zones:  # the leftovers: on to the next zone
            following = replace(
                s,
                pc=Pc.WALK,
                zone=s.zone + 1,
                order=self.config.report_order,
                mt=Migratetype.UNMOVABLE,
                budget=None,
            )
        else:
            following = self._end(s)
        return replace(
            following,
            free_area=_freeze(lists),
            reported=frozenset(reported),
            acked=frozenset(acked),
            owed=frozenset(owed),
            sgl=(),
            err=not ok,
        )

    @action(
        "mm/page_reporting.c: page_reporting_process (atomic_cmpxchg ACTIVE -> IDLE, "
        "schedule_delayed_work(PAGE_REPORTING_DELAY))",
        fair="weak",
    )
    def finish(self, s: State) -> Iterator[tuple[Args, State]]:
        """End of the pass: kfree(sgl); cmpxchg the state word; requeue on REQUESTED."""
        if s.pc is not Pc.END:
            return
        # atomic_cmpxchg(ACTIVE, IDLE) succeeds only on ACTIVE; the bad variant's atomic_set
        # overwrites whatever a notify left there.
        if self.variant == "atomic_set_idle" or s.word is Word.ACTIVE:
            word, queued = Word.IDLE, s.work_queued
        else:  # a request arrived during the pass: the cmpxchg fails, reschedule
            word, queued = s.word, True
        yield (
            {"found": s.word.name},
            replace(s, word=word, work_queued=queued, pc=Pc.OFF, sgl=(), err=False),
        )

    @action("environment: the guest stops allocating and freeing; reports stop failing")
    def quiesce(self, s: State) -> Iterator[tuple[Args, State]]:
        if s.phase is Phase.RUNNING and self.config.may_quiesce:
            yield {}, replace(s, phase=Phase.QUIET)

    # -- safety ----------------------------------------------------------------------------

    def free_blocks(self, s: State) -> list[Block]:
        """Every block on a free list, by list then head."""
        out: list[Block] = []
        for lid, heads in enumerate(s.free_area):
            order = lid // 2 % self.orders
            out.extend((h, order) for h in heads)
        return out

    @always("no page is lost or owned twice", unconditional=True)
    def ownership(self, s: State) -> Check:
        return memory.ownership(
            self.frames,
            {"free": self.free_blocks(s), "allocated": s.allocated, "isolated": s.sgl},
        )

    @always("a reported page is a free buddy head", trigger="a block gets reported")
    def reported_is_free_head(self, s: State) -> Check:
        stray = sorted(s.reported - {h for heads in s.free_area for h in heads})
        if stray:
            h = stray[0]
            return (
                f"frame {h} carries {self.mark} but is not a free buddy head ({self._where(s, h)})"
            )
        return True

    @always("at most capacity blocks are isolated", trigger="the scatterlist fills up")
    def isolation_capped(self, s: State) -> Check:
        return hinting.in_flight_cap(s.sgl, self.config.capacity, "isolated for reporting")

    @always(
        "a reported page goes back to the allocator only after the host acked it",
        trigger="a block gets reported",
    )
    def ack_before_reuse(self, s: State) -> Check:
        unacked = [b for buf in s.vq.avail + s.vq.inflight for b in _sg_blocks(buf)]
        held = {f for block in s.sgl for f in block_frames(block)}
        return hinting.ack_before_reuse(unacked, held, lambda f: self._where(s, f))

    @always("the host never discards data the guest is using", trigger="the host discards a range")
    def no_data_loss(self, s: State) -> Check:
        for f, c in enumerate(s.content):
            if c is Content.LOST:
                return (
                    f"frame {f} ({self._where(s, f)}) held its owner's data and the host "
                    "discarded it: it reads back zero"
                )
        return True

    @always(
        "a free page reads back what the guest wrote when it freed it",
        trigger=lambda m, s: m.config.free_init is not FreeInit.NONE and bool(s.handed),
    )
    def poison_kept(self, s: State) -> Check:
        for block in self.free_blocks(s) + list(s.sgl):
            for f in block_frames(block):
                if s.content[f] is not self.freed_content:
                    return (
                        f"free frame {f} reads back {s.content[f].name}, but the guest wrote "
                        f"{self.freed_content.name} when it freed it (the next allocation "
                        "finds the page corrupted)"
                    )
        return True

    @always(
        "a block is not reported again while it stays free and unmerged",
        trigger="a block gets reported",
    )
    def no_double_hint(self, s: State) -> Check:
        return hinting.no_double_hint(s.sgl, s.acked)

    @always(
        "every frame of a marked block was handed to the host and not written since",
        trigger="a block gets reported",
    )
    def mark_meaning(self, s: State) -> Check:
        return hinting.mark_is_meaningful(self._marked(s), s.handed, self.mark)

    @always("a reported block gives its memory back to the host", trigger="a block gets reported")
    def host_got_it_back(self, s: State) -> Check:
        """Reporting exists to free host memory: every frame of a marked block is one whose
        backing the host dropped (not so when QEMU skips the discard: poison_val != 0, or a
        range smaller than its page)."""
        for block in self._marked(s):
            kept = sorted(set(block_frames(block)) - s.discarded)
            if kept:
                return (
                    f"block {fmt_block(block)} carries {self.mark} but the host still backs "
                    f"its frame {kept[0]}: the report gave nothing back"
                )
        return True

    @always(
        "the worker does not go idle while a block the guest freed waits for its report",
        trigger="the worker goes idle after a pass",
    )
    def reported_before_idle(self, s: State) -> Check:
        """Bounded response: a block freed at or above the reporting order that stays free
        is reported within the pass that follows its free (and the reruns that pass
        requests when its budget runs out) -- before the worker sleeps with nothing queued."""
        if s.pc is Pc.OFF and not s.work_queued and s.owed:
            return (
                f"the worker is idle with nothing queued, but block {fmt_block(min(s.owed))} "
                "was freed and is not reported: nothing will report it before the next free"
            )
        return True

    @always(
        "ZONE_MOVABLE holds only movable memory: its pageblocks and free lists are MOVABLE",
        unconditional=True,
    )
    def movable_zone_stays_movable(self, s: State) -> Check:
        """ZONE_MOVABLE's pageblocks start MOVABLE and only movable allocations reach it
        (``gfp_zone``), so no steal makes one UNMOVABLE; a block freed there goes on its
        pageblock's list, MOVABLE. An UNMOVABLE pageblock or free list there is memory the
        zone can no longer offline."""
        z = self.movable_zone
        if z is None:
            return True
        first = self.zone_start[z]
        for f in range(first, first + (1 << self.zone_top[z])):
            if s.pageblock[self.pageblock_of(f)] is Migratetype.UNMOVABLE:
                return f"ZONE_MOVABLE's pageblock {self.pageblock_of(f)} is UNMOVABLE"
        for order in range(self.orders):
            heads = s.free_area[self.list_id(z, order, Migratetype.UNMOVABLE)]
            if heads:
                block = (heads[0], order)
                return f"ZONE_MOVABLE's free block {fmt_block(block)} is on an UNMOVABLE list"
        return True

    def _marked(self, s: State) -> list[Block]:
        return [b for b in self.free_blocks(s) if b[0] in s.reported]

    def _where(self, s: State, frame: int) -> str:
        """Where a frame is, for explanations."""
        for what, blocks in (
            ("free", self.free_blocks(s)),
            ("allocated", sorted(s.allocated)),
            ("isolated", s.sgl),
        ):
            for block in blocks:
                if frame in block_frames(block):
                    return f"{what} block {fmt_block(block)}"
        return "in no block"  # pragma: no cover -- explanations; ownership names lost frames

    # -- witnesses -------------------------------------------------------------------------
    # A witness whose event the configuration rules out (report_errors=false: no report
    # fails; may_quiesce=false: the guest never goes quiet) is not applicable there and
    # counts as witnessed in the initial state, so such configs -- used to let random runs
    # reach a bad variant's violation -- do not list it as vacuous.

    @sometimes("a block gets reported")
    def some_reported(self, s: State) -> bool:
        return bool(s.reported)

    @sometimes("the scatterlist fills up")
    def sgl_full(self, s: State) -> bool:
        return len(s.sgl) >= self.config.capacity

    @sometimes("the host discards a range")
    def host_discarded(self, s: State) -> bool:
        return bool(s.discarded) or not self.host_discards

    @sometimes("a reported block is allocated again")
    def reported_reused(self, s: State) -> bool:
        if not self.config.clients:
            return True
        return any(f in s.handed for block in s.allocated for f in block_frames(block))

    @sometimes("a report fails and its pages go back unreported")
    def report_failed(self, s: State) -> bool:
        return s.err or not (self.config.report_errors and self.config.clients)

    @sometimes("a notify arrives during a pass")
    def notify_during_pass(self, s: State) -> bool:
        return s.word is Word.REQUESTED and s.pc is not Pc.OFF

    @sometimes("the pass reaches the second zone")
    def second_zone(self, s: State) -> bool:
        return s.zone > 0 or self.zones == 1

    @sometimes("an unmovable allocation steals a MOVABLE pageblock")
    def pageblock_stolen(self, s: State) -> bool:
        """``__rmqueue_fallback`` ran and ``steal_suitable_fallback`` claimed the pageblock: a
        pageblock that started MOVABLE is UNMOVABLE (nothing else makes one UNMOVABLE). Not
        applicable without unmovable allocations or a MOVABLE pageblock in the first zone."""
        first_zone_pageblocks = self.config.frames >> self.pb
        if not (
            self.config.clients
            and self.config.unmovable_allocs
            and self.config.unmovable_pageblocks < first_zone_pageblocks
        ):
            return True
        return Migratetype.UNMOVABLE in s.pageblock[self.config.unmovable_pageblocks :]

    @sometimes("the guest allocates while a report waits for the host")
    def alloc_during_wait(self, s: State) -> bool:
        return s.pc is Pc.WAIT and bool(s.vq.avail) and bool(s.allocated)

    @sometimes("the worker goes idle after a pass")
    def idle_after_pass(self, s: State) -> bool:
        return s.pc is Pc.OFF and not s.work_queued and s.word is Word.IDLE

    @sometimes(
        "upstream's gap: the worker stops for good with a free block at or above the "
        "reporting order unreported"
    )
    def unreported_for_good(self, s: State) -> bool:
        """ "With no further frees, every free block at or above the reporting order is
        eventually reported" does not hold upstream: a terminal state with such a block is
        reachable. expand() puts the halves of a split block back unreported without a
        notify, and a failed report is not retried; only the next qualifying free reports
        them. (Blocks the guest freed are reported: 'a block the guest frees ...'.)"""
        if not (self.config.may_quiesce and self.config.clients):
            return True
        return self.is_terminal(s) and not self._all_reported(s)

    # -- liveness --------------------------------------------------------------------------

    def _all_reported(self, s: State) -> bool:
        """Every free block at or above the reporting order is marked."""
        return all(h in s.reported for h, o in self.free_blocks(s) if o >= self.config.report_order)

    def _owed_when_quiet(self, s: State) -> bool:
        return s.phase is Phase.QUIET and bool(s.owed)

    def _requested(self, s: State) -> bool:
        return s.word is Word.REQUESTED

    @leads_to(
        "every block at or above the reporting order that the guest frees and that stays "
        "free gets reported, or merged into a reported one",
        when=_owed_when_quiet,
        fairness=_WORKER | _HOST,
    )
    def freed_gets_reported(self, s: State) -> bool:
        """Stays free: the guest has gone quiet (no more allocations or frees). No request
        need be pending: a design that loses the request fails here. Upstream needs none of
        the fairness it states (once the guest is quiet each pass ends and a step that is
        the only one enabled is taken); a design that spins while waiting does."""
        return not s.owed

    @leads_to(
        "a notify is never lost: a pending request is served by a new pass",
        when=_requested,
        fairness=_WORKER | _HOST,
    )
    def request_served(self, s: State) -> bool:
        return s.word is Word.ACTIVE

    @progress(
        "the worker sleeps while the host stalls: no step that changes nothing",
        region=lambda m, s: s.pc is Pc.WAIT,
        fairness=_WORKER,
    )
    def no_busy_wait(self, s: State, t: State) -> bool:
        return s != t

    # -- rendering -------------------------------------------------------------------------

    def frame_map(
        self, s: State
    ) -> str:  # pragma: no cover -- rendering; tests/test_page_reporting.py
        frames = self.frames
        claims = memory.owners(
            {"f": self.free_blocks(s), "a": sorted(s.allocated), "I": list(s.sgl)}, frames
        )
        marked = {f for b in self._marked(s) for f in memory.frames_within(b, frames)}
        cells = []
        for f in range(self.frames):
            where = claims.get(f, [])
            if s.content[f] is Content.LOST:
                cells.append("!")
            elif not where:
                cells.append("?")
            elif len(where) > 1:
                cells.append("#")
            elif where[0].startswith("a "):
                cells.append("A" if s.content[f] is Content.DATA else "a")
            elif where[0].startswith("I "):
                cells.append("I")
            elif f in marked:
                cells.append("O" if self.offline_design else "R")
            else:
                cells.append("h" if f in s.handed else "f")
        ends = (*self.zone_start[1:], frames)
        return "|".join("".join(cells[a:b]) for a, b in zip(self.zone_start, ends, strict=True))

    def _worker(
        self, s: State
    ) -> str:  # pragma: no cover -- rendering; tests/test_page_reporting.py
        if s.pc is Pc.WALK:
            where = f"zone {s.zone}, "
            where += (
                f"from order {s.order} {s.mt.name}" if s.order <= self.top else "past its lists"
            )
        elif s.pc in (Pc.REPORT, Pc.WAIT):
            where = f"zone {s.zone}, "
            where += "leftovers" if s.order > self.top else f"mid-list, order {s.order} {s.mt.name}"
        else:
            return s.pc.name
        budget = "" if s.budget is None else f", budget {s.budget}"
        return f"{s.pc.name} ({where}{budget})"

    def view(
        self, s: State
    ) -> dict[str, object]:  # pragma: no cover -- rendering; tests/test_page_reporting.py
        lists = "  ".join(
            f"z{lid // (2 * self.orders)} o{lid // 2 % self.orders} {_MTS[lid % 2].name[0]}: "
            f"[{', '.join(map(str, heads))}]"
            for lid, heads in enumerate(s.free_area)
            if heads
        )
        content = "".join(".0PDX"[c] for c in s.content)
        vq = s.vq
        ring = " ".join(
            f"{name}=[{'; '.join(_fmt_sg(b) for b in bufs)}]"
            for name, bufs in (("avail", vq.avail), ("inflight", vq.inflight), ("used", vq.used))
            if bufs
        )
        return {
            "free_lists": lists or "(empty)",
            "pageblocks": "".join(mt.name[0] for mt in s.pageblock),
            "offline" if self.offline_design else "reported": s.reported,
            "allocated": frozenset(fmt_block(b) for b in s.allocated),
            "content": content,
            "state": s.word,
            "work_queued": s.work_queued,
            "worker": self._worker(s),
            "sgl": _fmt_sg(_sg_buffer(s.sgl)) if s.sgl else "[]",
            "err": s.err,
            "reporting_vq": ring or "empty",
            "phase": s.phase,
            "discarded": s.discarded,
            "handed": s.handed,
            "acked": frozenset(fmt_block(b) for b in s.acked),
            "owed": frozenset(fmt_block(b) for b in s.owed),
        }


def _fmt_sg(buf: Buffer) -> str:  # pragma: no cover -- rendering; tests/test_page_reporting.py
    return "[" + ", ".join(fmt_block(b) for b in _sg_blocks(buf)) + "]"


def _freeze(lists: list[set[int]]) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(sorted(heads)) for heads in lists)
