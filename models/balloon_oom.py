"""virtio-balloon with pages that have an identity: inflate, deflate, MUST_TELL_HOST, host page
sizes, free page hinting's held blocks, and deflate-on-OOM by notifier or by shrinker.

The facts this model relies on, each with its source, are in ``docs/models/balloon_oom.md``.
In short, following drivers/virtio/virtio_balloon.c (Linux v5.7 and later), the page
allocator's slow path (mm/page_alloc.c), mm/oom_kill.c and QEMU's hw/virtio/virtio-balloon.c:

* **Page frames.** Every guest page has a number and is in exactly one place: the buddy's
  free list, the page cache (a reader streaming a file), an application's anonymous memory,
  the balloon list (``vb_dev_info->pages``), ``fill_balloon``'s local list (allocated, not
  yet enqueued), ``leak_balloon``'s local list (dequeued, not yet released), or the
  FREE_PAGE_HINT list (``free_page_list``). ``vb->pfns`` is the driver's pfn array, which
  keeps whatever the last call wrote.
* **The host** (QEMU ``virtio_balloon_handle_output``) pops the pfn array of an inflate or
  deflate request and acks it. On inflate QEMU discards at once (``balloon_inflate_page``:
  ``ram_block_discard_range`` of a whole host page, collecting the 4 KiB pieces of a larger
  host page in a ``PartiallyBalloonedPage`` that lives for one request only); on deflate it
  only hints (``balloon_deflate_page``: ``MADV_WILLNEED``). QEMU does not offer
  ``VIRTIO_BALLOON_F_MUST_TELL_HOST``. With ``must_tell_host`` the device is one that does:
  it may discard a page it was told about at any time until it processes the deflate
  request for it, which is why the driver must tell before it reuses (``leak_balloon``:
  ``tell_host(vb, vb->deflate_vq)`` then ``release_pages_balloon``). Host memory is counted
  in host pages of ``host_page_pfns`` 4 KiB units; the guest's page is ``pages_per_page``
  units (``VIRTIO_BALLOON_PAGES_PER_PAGE``).
* **The driver's worker** ``update_balloon_size_func``: ``towards_target`` (ALIGNed to a
  guest page), then ``fill_balloon`` -- allocate up to ``VIRTIO_BALLOON_ARRAY_PFNS_MAX``
  pfns onto a local list *outside* ``balloon_lock`` with ``__GFP_NORETRY`` ("Out of puff"
  on failure), then lock, ``balloon_page_enqueue`` each page, ``set_page_pfns``,
  ``tell_host(inflate_vq)``, unlock -- or ``leak_balloon``: lock, cap the request at
  ``vb->num_pages``, ``balloon_page_dequeue`` page by page, ``tell_host(deflate_vq)``, then
  ``release_pages_balloon``, unlock; ``update_balloon_size`` writes ``actual``; the work
  requeues itself while ``diff != 0``.
* **A reader** streaming a file into the page cache for ever, with GFP_NOFS allocations
  that hold a filesystem lock (the deadlock analysis of c7cdff0e8647): ``out_of_memory``
  never kills for it, so it retries. **An application** that may fault in ``app_growth``
  more anonymous pages; the OOM killer kills it.
* **The allocator slow path**: the free list, one direct-reclaim pass (one page-cache page,
  then ``shrink_slab``: the FREE_PAGE_HINT shrinker returns a held block), then
  ``__alloc_pages_may_oom``: ``mutex_trylock(&oom_lock)``, a last free-list attempt,
  ``out_of_memory``: the OOM notifier chain (the balloon's, priority 80:
  ``leak_balloon(VIRTIO_BALLOON_OOM_NR_PAGES)``), and when it freed nothing the OOM killer.
* **FREE_PAGE_HINT** (``free_page_hint``): a round takes free blocks
  (``get_free_page_and_send``) until none is left; the driver holds them until the host
  says ``VIRTIO_BALLOON_CMD_ID_DONE`` (``report_free_page_func`` ->
  ``return_free_pages_to_mm``); reclaim may take them back at any time (the shrinker). The
  command-id protocol and migration are ``models/free_page_hint.py``.

Abstracted: kswapd, batch sizes (one page-cache page and one hinted block per reclaim pass),
timing, the stats queue, balloon compaction, page poisoning, other notifiers. Which page a
list operation takes is chosen freely (``balloon_page_dequeue`` skips pages it cannot lock,
so the list order does not decide it): every choice is explored, and symmetric states are
merged (``canonical``) when host pages are no larger than guest pages.

Default configuration (5 pages, 4 KiB guest and host pages, target 3 pfns, batches of 2,
FREE_PAGE_HINT on, an application that may take every page): large enough that every
trigger fires -- OOM kills happen, the OOM notifier gives pages back and finds the balloon
empty, the driver holds hinted blocks and the host says DONE, the page cache pays for
inflation while the reader runs, ``balloon_lock`` is contended -- so no property holds
vacuously (7,843 states). The MUST_TELL_HOST device, 64 KiB guest pages and host pages
larger than a guest page have their own manifest entries.

**FINDING** (upstream violates "no OOM kill while DEFLATE_ON_OOM is negotiated and the
balloon holds pages" at the default configuration, 10 steps): ``fill_balloon`` allocates
its batch onto a local list before it takes ``balloon_lock`` (drivers/virtio/virtio_balloon.c
``fill_balloon``: ``balloon_page_push(&pages, page)`` ... ``mutex_lock(&vb->balloon_lock)``).
``leak_balloon`` caps its request at ``vb->num_pages``, which does not count that batch, so
``virtio_balloon_oom_notify`` adds 0 to ``*freed``; ``out_of_memory`` (mm/oom_kill.c:
``blocking_notifier_call_chain(&oom_notify_list, 0, &freed); if (freed > 0 ...) return
true;``) goes on to ``select_bad_process``/``oom_kill_process``, and in between the worker
enqueues its batch. Nothing orders the two: it is the driver's real structure, not an
artefact of the model, and it exists at every configuration where an OOM kill can happen
while the worker inflates. ``docs/models/balloon_oom.md`` gives the source lines. The
notifier never gives up because the *host* is slow (it waits for ``balloon_lock``).

Second documented limitation (QEMU, not a bug): with host pages larger than a guest page
(``host_page_pfns=2``, standing for 2 MiB hugetlbfs backing) "the host gets back every host
page the balloon holds whole" is violated -- a host page is freed only when all its pieces
arrive in a row in one request (``balloon_inflate_page``'s PartiallyBalloonedPage).

Units: guest pages everywhere except ``num_pages``, ``actual``, the target,
``array_pfns_max``/``oom_nr_pages`` and ``host_page_pfns``, which are 4 KiB balloon pfns
(``VIRTIO_BALLOON_PFN_SHIFT``), as in the driver.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from dataclasses import replace as _dc_replace
from enum import IntEnum
from typing import Any

from hintspec.lang.model import Args, Check, Model, action, always, leads_to, progress, sometimes
from hintspec.lang.virtqueue import Virtqueue

RESERVE = 1
"""Pages the reader needs to make progress (its page being read). A target is attainable
while the balloon can grow to it and leave the application its pages and the reader these."""

OOM_NOTIFY_PRIORITY = 80
"""VIRTIO_BALLOON_OOM_NOTIFY_PRIORITY; the only OOM notifier registered in this model."""

COUNT_CAP = 9
"""Per-round inflate/deflate counters saturate here, so the state space stays finite."""

Step = tuple[Args, "State"]

HOST_ANSWERS = {
    "update_balloon_size_func": "weak",
    "fill_balloon_alloc": "weak",
    "fill_balloon_lock": "weak",
    "fill_balloon_acked": "weak",
    "leak_balloon_lock": "weak",
    "leak_balloon_dequeue": "weak",
    "leak_balloon_release": "weak",
    "read_page": "weak",
    "out_of_memory": "weak",
    "oom_kill_process": "weak",
    "get_free_page_and_send": "weak",
    "host_inflate": "weak",
    "host_deflate": "weak",
}
"""The guest's own fairness plus a device that answers every request (QEMU's main loop
runs the queue handler when the guest kicks, unless the VM is paused). Why the guest's
actions are weakly fair: the balloon worker is a work item on system_freezable_wq, which
runs once queued unless the system is frozen; a thread holding balloon_lock or oom_lock
runs on (nothing in this model preempts it for ever); the reader streams a file for ever
(the v5.7 switch-back scenario); the OOM path runs to its end once entered. The application
(``app_alloc``) is not fair: it may never fault again. Only the two liveness properties
about inflation use this set; "no busy loop while the host stalls" drops the host's
fairness (``GUEST_ONLY``), as a paused VM or a host thread stuck on a lock does."""

GUEST_ONLY = {a: f for a, f in HOST_ANSWERS.items() if not a.startswith("host_")}
"""The guest's own fairness; the device may stall for ever."""


class PC(IntEnum):
    """Where a thread is (one program counter per thread)."""

    IDLE = 0
    """Worker: no work queued. Reader/app: between two allocations (no lock held)."""
    QUEUED = 1
    """Worker: update_balloon_size_work is queued."""
    FILL_ALLOC = 2
    """Worker: fill_balloon's allocation loop."""
    FILL_LOCK = 3
    """Worker: fill_balloon before mutex_lock(balloon_lock) (after the loop upstream; before
    it in the 2017 variants)."""
    FILL_ACK = 4
    """Worker: tell_host(inflate_vq) waits for the ack, holding balloon_lock."""
    LEAK_LOCK = 5
    """Any: leak_balloon before mutex_lock(balloon_lock)."""
    LEAK_DEQUEUE = 6
    """Any: holding balloon_lock, dequeuing page after page."""
    LEAK_ACK = 7
    """Any: leak_balloon's tell_host(deflate_vq) waits for the ack, holding balloon_lock."""
    ALLOC = 8
    """Reader/app: inside the page allocator, retrying (the reader holds its fs lock)."""
    OOM = 9
    """Reader/app: holds oom_lock, about to call out_of_memory."""
    OOM_KILL = 10
    """App: the notifiers freed nothing; the OOM killer runs next."""
    DONE = 11
    """App: has faulted in all its pages."""
    DEAD = 12
    """App: killed by the OOM killer."""


class Ctx(IntEnum):
    """Why a thread is in leak_balloon."""

    NONE = 0
    WORKER = 1
    """update_balloon_size_func: the host asked for less (diff < 0)."""
    OOM = 2
    """virtio_balloon_oom_notify, called from out_of_memory."""
    SHRINKER = 3
    """The balloon shrinker, called from shrink_slab during direct reclaim (shrinker variant)."""


class Who(IntEnum):
    NOBODY = 0
    WORKER = 1
    READER = 2
    APP = 3


THREADS = (Who.WORKER, Who.READER, Who.APP)


class Hint(IntEnum):
    """The FREE_PAGE_HINT worker (report_free_page_func)."""

    OFF = 0
    """FREE_PAGE_HINT not negotiated."""
    IDLE = 1
    """No round, or the host said DONE and every held block went back."""
    RUNNING = 2
    """A hinting round: get_free_page_and_send takes free blocks."""
    STOPPED = 3
    """Allocation failed (-EINTR), stop id sent; blocks held until the host says DONE."""
    DONE = 4
    """The host said DONE and the driver gave every held block back (a new round may start)."""


@dataclass(frozen=True)
class Thread:
    """A thread's program counter and the locals of the function it is in."""

    pc: PC = PC.IDLE
    ctx: Ctx = Ctx.NONE
    diff: int = 0
    """Worker: towards_target() at the start of the round (pfns)."""
    done: int = 0
    """pfns fill_balloon allocated / leak_balloon dequeued in this call."""
    num: int = 0
    """leak_balloon: pfns to dequeue, after ``num = min(num, vb->num_pages)``."""
    reclaimed: int = 0
    """Pages this direct-reclaim pass freed before it called the balloon shrinker."""


@dataclass(frozen=True)
class State:
    free: frozenset[int]
    """The buddy allocator's free pages."""
    cache: frozenset[int]
    """Page-cache pages (clean: reclaimable)."""
    app: frozenset[int]
    """Anonymous pages of the application (unreclaimable: no swap)."""
    balloon: frozenset[int]
    """The balloon list, ``vb_dev_info->pages``."""
    fill_list: tuple[int, ...]
    """fill_balloon's local list (``balloon_page_push`` order): allocated, not enqueued."""
    leak_list: frozenset[int]
    """leak_balloon's local list: dequeued, not released yet."""
    hinted: frozenset[int]
    """FREE_PAGE_HINT blocks the driver holds (``free_page_list``)."""
    pfns: tuple[int, ...]
    """``vb->pfns`` in guest-page slots (``set_page_pfns`` writes a page's
    VIRTIO_BALLOON_PAGES_PER_PAGE pfns into its slot); it keeps what the last call wrote."""
    num_pages: int
    """``vb->num_pages`` (pfns)."""
    actual: int
    """Config space ``actual`` (pfns), written by update_balloon_size."""
    inflate_vq: Virtqueue
    """One buffer at most: the frames of the pfn array told to the host."""
    deflate_vq: Virtqueue
    host_ballooned: frozenset[int]
    """4 KiB pfns the host was told are in the balloon (inflate processed, deflate not)."""
    discarded: frozenset[int]
    """Host pages whose backing the host dropped (they read back as zero until touched)."""
    lost: frozenset[int]
    """Ghost: frames whose data the guest was using when the host dropped it."""
    balloon_lock: Who
    oom_lock: Who
    worker: Thread
    reader: Thread
    app_thread: Thread
    app_left: int
    """Anonymous pages the application still wants to fault in."""
    hint: Hint
    round_start: int
    """vb->num_pages when the current round's towards_target() was read."""
    inflated: int
    """Pages enqueued (balloon_page_enqueue + tell_host) since then (saturating)."""
    deflated: int
    """Pages dequeued (balloon_page_dequeue) since then (saturating)."""
    oom_misreport: tuple[int, int]
    """Ghost: (pages released, what was added to ``*freed``) of the first OOM notification
    whose report differed from what it gave back; (0, 0) while none did."""
    gave_up_waiting: bool
    """Ghost: the last OOM notification returned nothing because balloon_lock was busy while
    a balloon request waited for the host."""
    killed_with: int
    """Ghost: balloon pages held when the OOM killer killed (0: no such kill)."""
    killed_waiting: bool
    """Ghost: that kill followed a notifier that gave up while the host had not answered."""
    oom_with_hints: int
    """Ghost: hinted blocks the driver held when a thread's reclaim failed and it went for
    the OOM path (0: never)."""


@dataclass(frozen=True)
class Config:
    pages: int = 5
    """Guest pages (of PAGE_SIZE)."""
    pages_per_page: int = 1
    """VIRTIO_BALLOON_PAGES_PER_PAGE: 1 with 4 KiB pages, 16 with 64 KiB pages (arm64)."""
    host_page_pfns: int = 1
    """The host's page size in 4 KiB units (qemu_ram_pagesize): 1 for 4 KiB, 16 for 64 KiB,
    512 for 2 MiB (scaled down here: 2 means a host page spans two 4 KiB guest pages)."""
    target: int = 3
    """The host's num_pages (pfns)."""
    app_pages: int = 1
    """Anonymous pages in use at the start."""
    app_growth: int = 4
    """Anonymous pages the application may fault in later."""
    array_pfns_max: int = 2
    """VIRTIO_BALLOON_ARRAY_PFNS_MAX (256 in the kernel): pfns per fill/leak call."""
    oom_nr_pages: int = 1
    """VIRTIO_BALLOON_OOM_NR_PAGES (256 in the kernel): pfns per OOM notification."""
    free_page_hint: bool = True
    """VIRTIO_BALLOON_F_FREE_PAGE_HINT negotiated."""
    must_tell_host: bool = False
    """VIRTIO_BALLOON_F_MUST_TELL_HOST negotiated: the device may discard a page it was told
    about until it processes the deflate request (QEMU does not offer the feature)."""
    variant: str = "upstream"

    def __post_init__(self) -> None:
        ppp, hpp = self.pages_per_page, self.host_page_pfns
        if ppp < 1 or hpp < 1:
            raise ValueError("pages_per_page and host_page_pfns must be at least 1")
        if (ppp % hpp if hpp <= ppp else hpp % ppp) or self.pages % max(1, hpp // ppp):
            raise ValueError(
                "host_page_pfns and pages_per_page must divide one another, and pages must "
                "hold whole host pages"
            )
        if self.array_pfns_max < ppp:
            # BUILD_BUG_ON(VIRTIO_BALLOON_PAGES_PER_PAGE > VIRTIO_BALLOON_ARRAY_PFNS_MAX)
            raise ValueError("array_pfns_max must be at least pages_per_page")
        if self.oom_nr_pages < 1 or self.target < 0 or self.app_growth < 0:
            raise ValueError("oom_nr_pages must be positive; target, app_growth not negative")
        if not 1 <= self.app_pages < self.pages:
            raise ValueError("app_pages must be at least 1 and leave free pages")
        if self.app_pages + self.app_growth > self.pages:
            raise ValueError("app_pages + app_growth must not exceed pages")


def replace(obj: Any, **changes: Any) -> Any:
    """``dataclasses.replace`` for the frozen records of this model, without its per-field
    loop (the State has thirty fields and the explorer copies it a million times)."""
    cls = type(obj)
    if cls is State or cls is Thread:
        return cls(**{**obj.__dict__, **changes})
    return _dc_replace(obj, **changes)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _sat(n: int) -> int:
    return min(n, COUNT_CAP)


class BalloonOom(Model[Config, State]):
    """virtio-balloon with page identity: inflate/deflate, MUST_TELL_HOST, host page sizes,
    hinted blocks, and deflate-on-OOM (notifier vs shrinker)."""

    name = "balloon_oom"
    variants = {
        "upstream": "DEFLATE_ON_OOM through the OOM notifier, after reclaim failed (v5.7+)",
        "shrinker": (
            "DEFLATE_ON_OOM through a shrinker, 71994620bb25 (v4.19..v5.6): deflation during "
            "ordinary reclaim, the busy no-op of the v5.7 switch-back patch"
        ),
        "lock_fill": (
            "fill_balloon allocating under balloon_lock (before c7cdff0e8647, 2017): deadlock "
            "with the OOM notifier through the reader's fs lock"
        ),
        "notifier_trylock": (
            "2017 fill_balloon with an OOM notifier that gives up on a contended balloon_lock "
            "(proposed on Tetsuo Handa's 2017 report, not merged): an OOM kill while the "
            "balloon holds pages, because the host has not answered yet"
        ),
        "unaligned_target": (
            "towards_target without ALIGN (before 07622bd41563): endless inflate/deflate with "
            "64 KiB pages and a target that is not a multiple of 16 pfns"
        ),
        "release_before_tell": (
            "leak_balloon releases the pages before tell_host(deflate_vq), the order the "
            "first driver (v2.6.25) used when MUST_TELL_HOST was not negotiated: with a "
            "device that offers it, the guest reuses a page the device may still discard"
        ),
        "stale_pfn": (
            "fill_balloon's enqueue loop of c7cdff0e8647 advanced num_pfns before "
            "set_page_pfns (fixed in v4.15-rc2, 'virtio_balloon: fix increment of "
            "vb->num_pfns in fill_balloon()'): the first pfn told to the host is stale and "
            "the host discards a page the guest uses"
        ),
        "oom_freed_pfns": (
            "the OOM notifier of 5a10b7dbf904 (v3.19..v4.18) added leak_balloon's count of "
            "4 KiB pfns to *freed: with 64 KiB pages it reports 16 times the pages it gave "
            "back (the v5.7 notifier divides by VIRTIO_BALLOON_PAGES_PER_PAGE)"
        ),
        "one_pfn_per_page": (
            "one pfn per guest page in the array (before 3ccc9372ed0f, 'virtio_balloon: fix "
            "handling of PAGE_SIZE != 4k', 2012): with 64 KiB pages the host discards 4 KiB "
            "of each ballooned page and gets the rest never back"
        ),
        "pbp_bitmap_set": (
            "QEMU 4.0's balloon_inflate_page (ed48c59875b6) set the whole subpage bitmap "
            "with bitmap_set (fixed by 483f13524bb2): a host page larger than 4 KiB is "
            "discarded when its first subpage is inflated, with the guest data beside it"
        ),
        "shrinker_count_zero": (
            "virtio_balloon_shrinker_count divided by the block order instead of multiplying "
            "(71994620bb25, fixed by c9a6820fc0da): the count is 0, shrink_slab never calls "
            "the scan, and reclaim never gets the hinted blocks back before an OOM kill"
        ),
        "done_drops_hints": (
            "a plausible slip, not a historical bug: on CMD_ID_DONE the driver empties "
            "free_page_list without free_pages() (the blocks are leaked)"
        ),
    }
    designs = frozenset({"upstream"})
    """Upstream's verdict on "no OOM kill while ... the balloon holds pages" is the FINDING
    of the module docstring, at every configuration where a kill can happen; its other
    properties hold. The manifest records its answer per configuration."""
    reference_config = {
        "pages": 8,
        "target": 6,
        "app_growth": 7,
        "array_pfns_max": 3,
        "oom_nr_pages": 2,
    }
    hypothesis_config = {
        # The application can take every page, so OOM kills happen (and every action fires
        # in a run of a few hundred steps); batches of 4 pfns as VIRTIO_BALLOON_OOM_NR_PAGES
        # equals VIRTIO_BALLOON_ARRAY_PFNS_MAX in the kernel.
        "pages": 40,
        "target": 12,
        "app_pages": 4,
        "app_growth": 36,
        "array_pfns_max": 4,
        "oom_nr_pages": 4,
        "free_page_hint": True,
    }
    frame_legend = {
        "B": "on the balloon list",
        "b": "allocated by fill_balloon, not enqueued yet",
        "d": "dequeued by leak_balloon, not released yet",
        "h": "FREE_PAGE_HINT block held by the driver",
        "A": "application (anonymous)",
        "c": "page cache",
        ".": "free",
        "x": "free, its host memory discarded (reads back zero)",
        "!": "in use, its data discarded by the host",
    }

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.ppp = config.pages_per_page
        self.hpp = config.host_page_pfns
        self.lock_first = self.variant in ("lock_fill", "notifier_trylock")
        self.balloon_shrinker = self.variant == "shrinker"
        self.oom_notifier = self.variant != "shrinker"
        self.fph = config.free_page_hint
        self.lazy_host = config.must_tell_host
        if self.variant == "unaligned_target":
            self.driver_target = config.target
        else:
            # towards_target: ALIGN(num_pages, VIRTIO_BALLOON_PAGES_PER_PAGE)
            self.driver_target = _ceil_div(config.target, self.ppp) * self.ppp
        self.target_pages = _ceil_div(config.target, self.ppp)
        self.slots = config.array_pfns_max // self.ppp
        """Guest pages one pfn array holds."""
        self.host_pages = config.pages * self.ppp // self.hpp

    symmetric = True

    # -- derived quantities ---------------------------------------------------------------

    def diff(self, s: State) -> int:
        """towards_target(): what the worker would do now (pfns; > 0 inflate)."""
        return self.driver_target - s.num_pages

    def attainable(self, s: State) -> bool:
        """The balloon can reach the (page-rounded) target and leave the application its
        pages and the reader RESERVE pages: the page cache can pay for the whole balloon."""
        return self.target_pages <= self.config.pages - len(s.app) - RESERVE

    def _thread(self, s: State, who: Who) -> Thread:
        return {Who.WORKER: s.worker, Who.READER: s.reader, Who.APP: s.app_thread}[who]

    def _with(self, s: State, who: Who, th: Thread) -> State:
        if who is Who.WORKER:
            return replace(s, worker=th)
        if who is Who.READER:
            return replace(s, reader=th)
        return replace(s, app_thread=th)

    def fs_lock_held(self, s: State) -> bool:
        """The reader holds its filesystem lock while it is inside the page allocator."""
        return s.reader.pc is not PC.IDLE

    def in_use(self, s: State) -> frozenset[int]:
        """Frames whose content the guest uses."""
        return s.cache | s.app

    def pfns_of(self, frame: int) -> range:
        return range(frame * self.ppp, (frame + 1) * self.ppp)

    def told(self, frames: Iterable[int]) -> tuple[int, ...]:
        """The 4 KiB pfns a request for these frames carries (``set_page_pfns``)."""
        if self.variant == "one_pfn_per_page":
            return tuple(f * self.ppp for f in frames)
        return tuple(p for f in frames for p in self.pfns_of(f))

    def host_pages_of(self, frame: int) -> range:
        """The host pages that back a guest frame."""
        first = frame * self.ppp // self.hpp
        return range(first, max(first + 1, (frame + 1) * self.ppp // self.hpp))

    def frames_of_host_page(self, page: int) -> range:
        first = page * self.hpp // self.ppp
        return range(first, max(first + 1, (page + 1) * self.hpp // self.ppp))

    def quiescent(self, s: State) -> bool:
        """No fill or leak call is in progress: balloon_lock is free (it is held from the
        first enqueue or dequeue until the host's ack)."""
        return s.balloon_lock is Who.NOBODY

    def waiting_for_host(self, s: State) -> bool:
        """A balloon request is queued and the host has not processed it yet."""
        return bool(s.inflate_vq.avail or s.deflate_vq.avail)

    # -- initial state ----------------------------------------------------------------------

    def initial_states(self) -> Iterator[State]:
        cfg = self.config
        yield State(
            free=frozenset(range(cfg.app_pages, cfg.pages)),
            cache=frozenset(),
            app=frozenset(range(cfg.app_pages)),
            balloon=frozenset(),
            fill_list=(),
            leak_list=frozenset(),
            hinted=frozenset(),
            pfns=(0,) * self.slots,  # kzalloc'ed struct virtio_balloon
            num_pages=0,
            actual=0,
            inflate_vq=Virtqueue(1),
            deflate_vq=Virtqueue(1),
            host_ballooned=frozenset(),
            discarded=frozenset(),
            lost=frozenset(),
            balloon_lock=Who.NOBODY,
            oom_lock=Who.NOBODY,
            # virtballoon_probe: if (towards_target(vb)) virtballoon_changed(vdev)
            worker=Thread(PC.QUEUED if self.driver_target else PC.IDLE),
            reader=Thread(),
            app_thread=Thread(PC.IDLE if cfg.app_growth else PC.DONE),
            app_left=cfg.app_growth,
            hint=Hint.IDLE if self.fph else Hint.OFF,
            round_start=0,
            inflated=0,
            deflated=0,
            oom_misreport=(0, 0),
            gave_up_waiting=False,
            killed_with=0,
            killed_waiting=False,
            oom_with_hints=0,
        )

    # -- symmetry ---------------------------------------------------------------------------

    def _signatures(self, s: State) -> list[list[Any]]:
        """Per frame: where it is, its places in every ordered container, and what the host
        did to it -- everything a renumbering must keep."""
        n = self.config.pages
        sig: list[list[Any]] = [[] for _ in range(n)]
        for i, part in enumerate(
            (s.free, s.cache, s.app, s.balloon, s.leak_list, s.hinted, s.fill_list)
        ):
            for f in part:
                sig[f].append(i)
        live = self._live_slots(s)
        for tag, seq in (("f", s.fill_list), ("p", s.pfns[:live])):
            for i, f in enumerate(seq):
                sig[f].append((tag, i))
        for q, vq in enumerate((s.inflate_vq, s.deflate_vq)):
            for b in vq.buffers:
                for i, f in enumerate(b):
                    sig[f].append(("q", q, i))
        for p in s.host_ballooned:
            sig[p // self.ppp].append(("h", p % self.ppp))
        per = self.ppp // self.hpp
        for h in s.discarded:
            sig[h // per].append(("d", h % per))
        for f in s.lost:
            sig[f].append("lost")
        return sig

    def _live_slots(self, s: State) -> int:
        """Slots of vb->pfns that still matter: those the call in progress wrote (the host
        reads the array itself until it acks). Only stale_pfn ever reads a slot before it is
        written, so elsewhere the model clears the array at the ack (``_forget_pfns``)."""
        if self.variant == "stale_pfn":
            return self.slots
        if s.balloon_lock is Who.NOBODY:
            return 0
        th = self._thread(s, s.balloon_lock)
        if th.pc is PC.LEAK_DEQUEUE or (th.pc is PC.FILL_ALLOC and self.lock_first):
            return th.done // self.ppp
        if th.pc is PC.FILL_ACK:
            return max((len(b) for b in s.inflate_vq.buffers), default=0)
        if th.pc is PC.LEAK_ACK:
            return max((len(b) for b in s.deflate_vq.buffers), default=0)
        return 0

    def _forget_pfns(self, s: State) -> State:
        """After the ack the array's content is never read again (see ``_live_slots``)."""
        if self.variant == "stale_pfn" or not any(s.pfns):
            return s
        return replace(s, pfns=(0,) * self.slots)

    def canonical(self, s: State) -> State:
        """Frames are interchangeable when a host page is no larger than a guest page:
        number them by where they are (a larger host page ties frames together)."""
        if self.hpp > self.ppp:
            return s
        n = self.config.pages
        live = self._live_slots(s)
        sig = [sorted(x, key=repr) for x in self._signatures(s)]
        order = sorted(range(n), key=lambda f: (repr(sig[f]), f))
        new = {old: i for i, old in enumerate(order)}
        if all(new[f] == f for f in range(n)):
            return s
        per = self.ppp // self.hpp

        def fr(x: frozenset[int]) -> frozenset[int]:
            return frozenset(new[f] for f in x)

        def pf(x: frozenset[int]) -> frozenset[int]:
            return frozenset(new[p // self.ppp] * self.ppp + p % self.ppp for p in x)

        def hp(x: frozenset[int]) -> frozenset[int]:
            return frozenset(new[h // per] * per + h % per for h in x)

        def vq(q: Virtqueue) -> Virtqueue:
            def m(bufs: tuple[tuple[int, ...], ...]) -> tuple[tuple[int, ...], ...]:
                return tuple(tuple(new[f] for f in b) for b in bufs)

            return replace(q, avail=m(q.avail), inflight=m(q.inflight), used=m(q.used))

        return replace(
            s,
            free=fr(s.free),
            cache=fr(s.cache),
            app=fr(s.app),
            balloon=fr(s.balloon),
            fill_list=tuple(new[f] for f in s.fill_list),
            leak_list=fr(s.leak_list),
            hinted=fr(s.hinted),
            pfns=tuple(new[f] for f in s.pfns[:live]) + s.pfns[live:],  # the rest is 0
            inflate_vq=vq(s.inflate_vq),
            deflate_vq=vq(s.deflate_vq),
            host_ballooned=pf(s.host_ballooned),
            discarded=hp(s.discarded),
            lost=fr(s.lost),
        )

    # -- the page allocator (shared by every allocating thread) ----------------------------

    def _touch(self, s: State, frame: int) -> State:
        """The guest writes a frame it took: a discarded host page is populated again."""
        back = {h for f in [frame] for h in self.host_pages_of(f)}
        return replace(s, discarded=s.discarded - back)

    def _reclaims(self, s: State) -> Iterator[tuple[State, int]]:
        """shrink_node: one page-cache page off the LRU (any one), then shrink_slab: the
        FREE_PAGE_HINT shrinker returns a held block (virtio_balloon_shrinker_scan ->
        return_free_pages_to_mm), unless its count is 0."""
        caches: list[int | None] = [*sorted(s.cache)] or [None]
        shrinker_sees_hints = self.variant != "shrinker_count_zero"
        hints: list[int | None] = [None]
        if shrinker_sees_hints and s.hinted:
            hints = [*sorted(s.hinted)]
        for c in caches:
            for h in hints:
                t, n = s, 0
                if c is not None:
                    t, n = replace(t, cache=t.cache - {c}, free=t.free | {c}), n + 1
                if h is not None:
                    t, n = replace(t, hinted=t.hinted - {h}, free=t.free | {h}), n + 1
                yield t, n

    def _balloon_shrinker_deflates(self, before: State, after: State) -> bool:
        """shrink_slab reaches the balloon part of virtio_balloon_shrinker_scan (shrinker
        variant): it leaks balloon pages unless the hinted blocks it returns first
        (shrink_free_pages) already cover the request."""
        if not self.balloon_shrinker or not after.balloon:
            return False
        return after.hinted == before.hinted

    def _got_page(self, s: State, who: Who, frame: int) -> State:
        """The allocation of ``who`` returned ``frame`` (already off the free list)."""
        s = self._touch(s, frame)
        th = self._thread(s, who)
        if who is Who.READER:
            return replace(s, cache=s.cache | {frame}, reader=Thread())
        if who is Who.APP:
            left = s.app_left - 1
            return replace(
                s,
                app=s.app | {frame},
                app_left=left,
                app_thread=Thread(PC.IDLE if left else PC.DONE),
            )
        # The worker: balloon_page_alloc succeeded; the 2017 code enqueued at once.
        th = replace(th, pc=PC.FILL_ALLOC, ctx=Ctx.NONE, reclaimed=0, done=th.done + self.ppp)
        if self.lock_first:
            s = self._enqueue(s, (frame,), th.done // self.ppp - 1)
        else:
            s = replace(s, fill_list=(*s.fill_list, frame))
        return self._fill_loop_check(replace(s, worker=th))

    def _from_free(self, s: State, who: Who, via: str) -> Iterator[Step]:
        for f in sorted(s.free):
            yield {"via": via, "page": f}, self._got_page(replace(s, free=s.free - {f}), who, f)

    def _direct_reclaim(self, s: State, who: Who) -> Iterator[Step]:
        """__alloc_pages_slowpath for a reader/app page, after the free list was empty."""
        th = self._thread(s, who)
        for t, reclaimed in self._reclaims(s):
            if self._balloon_shrinker_deflates(s, t):
                # shrink_slab also calls the balloon's shrinker: it deflates during reclaim.
                leak = replace(th, pc=PC.LEAK_LOCK, ctx=Ctx.SHRINKER, reclaimed=reclaimed)
                yield {"via": "direct reclaim, balloon shrinker"}, self._with(t, who, leak)
            elif reclaimed:
                # __alloc_pages_direct_reclaim: reclaim, then get_page_from_freelist.
                yield from self._from_free(t, who, "direct reclaim")
            elif s.oom_lock is Who.NOBODY:
                # __alloc_pages_may_oom: mutex_trylock(&oom_lock) (a loser sleeps, retries).
                t = replace(s, oom_lock=who, oom_with_hints=s.oom_with_hints or len(s.hinted))
                yield (
                    {"via": "reclaim failed: __alloc_pages_may_oom"},
                    self._with(t, who, Thread(PC.OOM)),
                )

    def _allocate(self, s: State, who: Who) -> Iterator[Step]:
        if s.free:
            yield from self._from_free(s, who, "free list")
        else:
            yield from self._direct_reclaim(s, who)

    # -- the balloon worker ----------------------------------------------------------------

    def _fill_num(self, th: Thread) -> int:
        """fill_balloon: num = min(num, VIRTIO_BALLOON_ARRAY_PFNS_MAX)."""
        return min(th.diff, self.config.array_pfns_max)

    def _fill_loop_check(self, s: State) -> State:
        """End fill_balloon's allocation loop once num pfns are allocated."""
        th = s.worker
        if th.done < self._fill_num(th):
            return s
        return self._fill_loop_end(s)

    def _fill_loop_end(self, s: State) -> State:
        if not self.lock_first:
            return replace(s, worker=replace(s.worker, pc=PC.FILL_LOCK))
        # 2017: the pages are enqueued already and the lock is held; tell the host.
        return self._tell_inflate(s, s.worker.done // self.ppp)

    def _enqueue(self, s: State, frames: tuple[int, ...], first_slot: int) -> State:
        """balloon_page_enqueue and set_page_pfns for each page, vb->num_pages += ..."""
        pfns = list(s.pfns)
        for i, f in enumerate(frames):
            slot = first_slot + i
            if self.variant == "stale_pfn":
                slot += 1  # vb->num_pfns += PER_PAGE; set_page_pfns(vb->pfns + vb->num_pfns)
            if slot < self.slots:  # one past the array: the write lands outside vb->pfns
                pfns[slot] = f
        return replace(
            s,
            balloon=s.balloon | set(frames),
            pfns=tuple(pfns),
            num_pages=s.num_pages + self.ppp * len(frames),
        )

    def _tell_inflate(self, s: State, n: int) -> State:
        """``if (vb->num_pfns != 0) tell_host(vb, vb->inflate_vq)`` (else unlock)."""
        if not n:
            return self._round_end(replace(s, balloon_lock=Who.NOBODY))
        vq = s.inflate_vq.add(s.pfns[:n])
        assert vq is not None, "tell_host: the inflate queue has one descriptor per call"
        return replace(
            s,
            inflate_vq=vq,
            inflated=_sat(s.inflated + n),
            worker=replace(s.worker, pc=PC.FILL_ACK),
        )

    def _round_end(self, s: State) -> State:
        """update_balloon_size, then ``if (diff) queue_work(...)`` with fill/leak's count."""
        th = s.worker
        remaining = th.diff - th.done if th.diff > 0 else th.diff + th.done
        worker = Thread(PC.QUEUED if remaining else PC.IDLE)
        return replace(s, actual=s.num_pages, worker=worker)

    @action(
        "drivers/virtio/virtio_balloon.c: update_balloon_size_func -> towards_target", fair="weak"
    )
    def update_balloon_size_func(self, s: State) -> Iterator[Step]:
        """The work item runs: read the target and start a fill or a leak round. (Weakly
        fair: queued work on system_freezable_wq runs, unless the system is frozen.)"""
        if s.worker.pc is not PC.QUEUED:
            return
        diff = self.diff(s)
        t = replace(s, round_start=s.num_pages, inflated=0, deflated=0)
        if diff > 0:
            pc = PC.FILL_LOCK if self.lock_first else PC.FILL_ALLOC
            yield {"diff": diff}, replace(t, worker=Thread(pc, diff=diff))
        elif diff < 0:
            yield {"diff": diff}, replace(t, worker=Thread(PC.LEAK_LOCK, Ctx.WORKER, diff=diff))
        else:
            yield {"diff": 0}, replace(t, worker=Thread())

    @action("drivers/virtio/virtio_balloon.c: fill_balloon -> balloon_page_alloc", fair="weak")
    def fill_balloon_alloc(self, s: State) -> Iterator[Step]:
        """One iteration of fill_balloon's allocation loop (GFP_HIGHUSER_MOVABLE |
        __GFP_NOMEMALLOC | __GFP_NORETRY: direct reclaim, but never the OOM killer)."""
        th = s.worker
        if th.pc is not PC.FILL_ALLOC:
            return
        if s.free:
            yield from self._from_free(s, Who.WORKER, "free list")
            return
        if self.fs_lock_held(s):
            # Direct reclaim in __GFP_FS context waits for the reader's fs lock.
            return
        for t, reclaimed in self._reclaims(s):
            if self._balloon_shrinker_deflates(s, t):
                leak = replace(th, pc=PC.LEAK_LOCK, ctx=Ctx.SHRINKER, reclaimed=reclaimed)
                yield {"via": "direct reclaim, balloon shrinker"}, replace(t, worker=leak)
            elif reclaimed:
                yield from self._from_free(t, Who.WORKER, "direct reclaim")
            else:
                # __GFP_NORETRY: no OOM. "Out of puff!", msleep(200), break.
                yield {"via": "out of puff"}, self._fill_loop_end(s)

    @action(
        "drivers/virtio/virtio_balloon.c: fill_balloon -> mutex_lock(balloon_lock), "
        "balloon_page_enqueue, set_page_pfns, tell_host(inflate_vq)",
        fair="weak",
    )
    def fill_balloon_lock(self, s: State) -> Iterator[Step]:
        """Upstream: take balloon_lock after the allocation loop, enqueue the local list
        (``balloon_page_pop`` takes the last pushed page first), tell the host. 2017
        variants: take balloon_lock before the allocation loop."""
        if s.worker.pc is not PC.FILL_LOCK or s.balloon_lock is not Who.NOBODY:
            return
        t = replace(s, balloon_lock=Who.WORKER)
        if self.lock_first:
            yield {}, replace(t, worker=replace(s.worker, pc=PC.FILL_ALLOC))
            return
        batch = tuple(reversed(s.fill_list))
        t = self._enqueue(replace(t, fill_list=()), batch, 0)
        yield {"pages": len(batch)}, self._tell_inflate(t, len(batch))

    @action(
        "drivers/virtio/virtio_balloon.c: fill_balloon -> tell_host (wait_event "
        "virtqueue_get_buf), mutex_unlock; update_balloon_size",
        fair="weak",
    )
    def fill_balloon_acked(self, s: State) -> Iterator[Step]:
        """The inflate ack arrives: unlock, write ``actual``, requeue while diff != 0."""
        if s.worker.pc is not PC.FILL_ACK:
            return
        got = s.inflate_vq.get_buf()
        if got is None:
            return
        _buf, vq = got
        t = self._forget_pfns(replace(s, inflate_vq=vq, balloon_lock=Who.NOBODY))
        yield {}, self._round_end(t)

    # -- leak_balloon (worker, OOM notifier, balloon shrinker) ------------------------------

    def _leak_want(self, th: Thread) -> int:
        """leak_balloon's num (pfns) for the caller."""
        if th.ctx is Ctx.WORKER:
            return min(-th.diff, self.config.array_pfns_max)
        if th.ctx is Ctx.OOM:
            return min(self.config.oom_nr_pages, self.config.array_pfns_max)
        return self.ppp  # the shrinker: leak_balloon_pages(vb, 1 page)

    @action(
        "drivers/virtio/virtio_balloon.c: leak_balloon -> mutex_lock(balloon_lock), "
        "num = min(num, vb->num_pages)",
        fair="weak",
    )
    def leak_balloon_lock(self, s: State) -> Iterator[Step]:
        """Take balloon_lock (blocked while anyone -- the caller too -- holds it) and cap
        the request at what the balloon holds ("We can't release more pages than taken")."""
        for who in THREADS:
            th = self._thread(s, who)
            if th.pc is not PC.LEAK_LOCK:
                continue
            if s.balloon_lock is not Who.NOBODY:
                if self.variant == "notifier_trylock" and th.ctx is Ctx.OOM:
                    # The proposed notifier: mutex_trylock fails, nothing is freed.
                    t = replace(s, gave_up_waiting=self.waiting_for_host(s))
                    args = {"who": who.name.lower(), "pages": 0, "trylock": "busy"}
                    yield args, self._leak_return(t, who, 0)
                continue  # mutex_lock sleeps (for ever if the caller holds it itself)
            num = min(self._leak_want(th), s.num_pages)
            if not num:
                t = replace(s, gave_up_waiting=False)
                yield {"who": who.name.lower(), "pages": 0}, self._leak_return(t, who, 0)
                continue
            t = replace(s, balloon_lock=who)
            yield (
                {"who": who.name.lower(), "pfns": num},
                self._with(t, who, replace(th, pc=PC.LEAK_DEQUEUE, num=num, done=0)),
            )

    def _leaker(self, s: State, pc: PC) -> tuple[Who, Thread] | None:
        who = s.balloon_lock
        if who is Who.NOBODY:
            return None
        th = self._thread(s, who)
        return (who, th) if th.pc is pc else None

    @action(
        "drivers/virtio/virtio_balloon.c: leak_balloon -> balloon_page_dequeue, "
        "set_page_pfns; tell_host(deflate_vq) once num pfns are dequeued",
        fair="weak",
    )
    def leak_balloon_dequeue(self, s: State) -> Iterator[Step]:
        """Take one page off the balloon list (whichever balloon_page_dequeue can lock),
        write its pfns into the next slot; after the last one tell the host -- before
        anything is released (release_before_tell: release first, then tell)."""
        found = self._leaker(s, PC.LEAK_DEQUEUE)
        if found is None:
            return
        who, th = found
        for f in sorted(s.balloon):
            slot = th.done // self.ppp
            pfns = (*s.pfns[:slot], f, *s.pfns[slot + 1 :])
            t = replace(
                s,
                balloon=s.balloon - {f},
                leak_list=s.leak_list | {f},
                pfns=pfns,
                num_pages=s.num_pages - self.ppp,
                deflated=_sat(s.deflated + 1),
            )
            done = th.done + self.ppp
            args = {"who": who.name.lower(), "page": f}
            if done < th.num:
                yield args, self._with(t, who, replace(th, done=done))
                continue
            n = done // self.ppp
            if self.variant == "release_before_tell":
                t = replace(t, free=t.free | t.leak_list, leak_list=frozenset())
            vq = t.deflate_vq.add(t.pfns[:n])
            assert vq is not None, "tell_host: one descriptor per call, under balloon_lock"
            yield (
                args,
                self._with(replace(t, deflate_vq=vq), who, replace(th, pc=PC.LEAK_ACK, done=done)),
            )

    @action(
        "drivers/virtio/virtio_balloon.c: leak_balloon -> tell_host (wait_event "
        "virtqueue_get_buf), release_pages_balloon, mutex_unlock",
        fair="weak",
    )
    def leak_balloon_release(self, s: State) -> Iterator[Step]:
        """The deflate ack arrives: only now are the pages put back, then unlock."""
        found = self._leaker(s, PC.LEAK_ACK)
        if found is None:
            return
        who, th = found
        got = s.deflate_vq.get_buf()
        if got is None:
            return
        _buf, vq = got
        k = th.done // self.ppp
        t = replace(
            s,
            deflate_vq=vq,
            leak_list=frozenset(),
            free=s.free | s.leak_list,
            balloon_lock=Who.NOBODY,
        )
        t = self._forget_pfns(t)
        yield {"who": who.name.lower(), "pages": k}, self._leak_return(t, who, k)

    def _leak_return(self, s: State, who: Who, k: int) -> State:
        """Back in leak_balloon's caller with k pages freed (balloon_lock released)."""
        th = self._thread(s, who)
        if th.ctx is Ctx.WORKER:
            return self._round_end(replace(s, worker=replace(th, done=k * self.ppp)))
        # virtio_balloon_oom_notify / shrink_balloon_pages: update_balloon_size(vb).
        s = replace(s, actual=s.num_pages)
        if th.ctx is Ctx.OOM:
            # *freed += leak_balloon(vb, VIRTIO_BALLOON_OOM_NR_PAGES) / PAGES_PER_PAGE
            reported = k * self.ppp if self.variant == "oom_freed_pfns" else k
            if reported != k and s.oom_misreport == (0, 0):
                s = replace(s, oom_misreport=(k, reported))
            if reported:
                # *freed > 0: out_of_memory returns true; the allocation retries.
                return self._with(replace(s, oom_lock=Who.NOBODY), who, Thread(PC.ALLOC))
            return self._oom_nothing_freed(s, who)
        # Ctx.SHRINKER: shrink_slab returns; __alloc_pages_direct_reclaim retries the free
        # list (the caller's next step).
        if who is Who.WORKER:
            return replace(s, worker=replace(th, pc=PC.FILL_ALLOC, ctx=Ctx.NONE, reclaimed=0))
        return self._with(s, who, Thread(PC.ALLOC))

    # -- the reader and the application -------------------------------------------------------

    @action(
        "mm/filemap.c: page_cache_ra_unbounded -> filemap_alloc_folio (page allocator)", fair="weak"
    )
    def read_page(self, s: State) -> Iterator[Step]:
        """The reader reads the next page of its file into the page cache. (Weakly fair: the
        workload streams for ever, the scenario of the v5.7 switch-back patch.)"""
        if s.reader.pc in (PC.IDLE, PC.ALLOC):
            yield from self._allocate(s, Who.READER)

    @action("mm/memory.c: do_anonymous_page -> alloc_anon_folio (page allocator)")
    def app_alloc(self, s: State) -> Iterator[Step]:
        """The application faults in one more anonymous page (it may never do so)."""
        th = s.app_thread
        if th.pc is PC.ALLOC or (th.pc is PC.IDLE and s.app_left):
            yield from self._allocate(s, Who.APP)

    @action(
        "mm/oom_kill.c: out_of_memory -> blocking_notifier_call_chain(&oom_notify_list)",
        fair="weak",
    )
    def out_of_memory(self, s: State) -> Iterator[Step]:
        """Holding oom_lock: one last free-list attempt (__alloc_pages_may_oom), then the OOM
        notifiers in priority order; only the balloon's (priority 80) is registered."""
        who = s.oom_lock
        if who is Who.NOBODY or self._thread(s, who).pc is not PC.OOM:
            return
        name = who.name.lower()
        if s.free:
            t = replace(s, oom_lock=Who.NOBODY)
            yield from self._from_free(t, who, "free list")
        elif not self.oom_notifier:
            yield {"who": name, "via": "no notifier"}, self._oom_nothing_freed(s, who)
        else:
            notify = Thread(PC.LEAK_LOCK, Ctx.OOM)
            yield (
                {"who": name, "via": f"notifier prio {OOM_NOTIFY_PRIORITY}"},
                self._with(s, who, notify),
            )

    def _oom_nothing_freed(self, s: State, who: Who) -> State:
        """out_of_memory after the notifiers freed nothing."""
        if who is Who.READER:
            # GFP_NOFS: "The OOM killer does not compensate for IO-less reclaim"; retry.
            return replace(s, oom_lock=Who.NOBODY, reader=Thread(PC.ALLOC))
        return replace(s, app_thread=Thread(PC.OOM_KILL))

    @action("mm/oom_kill.c: out_of_memory -> select_bad_process, oom_kill_process", fair="weak")
    def oom_kill_process(self, s: State) -> Iterator[Step]:
        """The OOM killer kills the application (the largest task); its pages are freed."""
        if s.app_thread.pc is not PC.OOM_KILL:
            return
        yield (
            {"victim": "app", "balloon": len(s.balloon)},
            replace(
                s,
                free=s.free | s.app,
                app=frozenset(),
                app_left=0,
                app_thread=Thread(PC.DEAD),
                oom_lock=Who.NOBODY,
                killed_with=s.killed_with or len(s.balloon),
                killed_waiting=s.killed_waiting or s.gave_up_waiting,
            ),
        )

    # -- the host (QEMU hw/virtio/virtio-balloon.c) -----------------------------------------
    # No fairness: a device answers when its main loop runs the queue handler, and it may
    # stall (a paused VM, a long-held lock). Liveness that needs an answering host says so.

    def _discard(self, s: State, pages: Iterable[int]) -> State:
        """ram_block_discard_range of whole host pages: whatever the guest kept in them is
        gone (it reads back as zero)."""
        pages = set(pages) - s.discarded
        hit = {f for h in pages for f in self.frames_of_host_page(h)}
        return replace(s, discarded=s.discarded | pages, lost=s.lost | (hit & self.in_use(s)))

    def _inflated_host_pages(self, pfns: tuple[int, ...]) -> list[int]:
        """balloon_inflate_page for each pfn of one request, with its PartiallyBalloonedPage:
        a host page is discarded only once every 4 KiB piece of it arrived in a row."""
        out: list[int] = []
        if self.hpp == 1:
            return list(pfns)
        base, bits = -1, frozenset[int]()
        for p in pfns:
            h, sub = divmod(p, self.hpp)
            if h != base:  # "Too hard, give up on the old partial page"
                base, bits = h, frozenset()
            if self.variant == "pbp_bitmap_set":
                bits = bits | frozenset(range(sub, self.hpp))  # bitmap_set(.., sub, subpages)
            else:
                bits = bits | {sub}
            if len(bits) == self.hpp:
                out.append(h)
                base, bits = -1, frozenset()
        return out

    @action("hw/virtio/virtio-balloon.c: virtio_balloon_handle_output (inflate vq)")
    def host_inflate(self, s: State) -> Iterator[Step]:
        """The device takes an inflate request, records the pages as ballooned, discards
        them (QEMU: at once; a MUST_TELL_HOST device: later, host_discard) and acks."""
        popped = s.inflate_vq.pop()
        if popped is None:
            return
        buf, vq = popped
        _buf, vq = vq.push()
        pfns = self.told(buf)
        t = replace(s, inflate_vq=vq, host_ballooned=s.host_ballooned | set(pfns))
        if not self.lazy_host:
            t = self._discard(t, self._inflated_host_pages(pfns))
        yield {"pfns": len(pfns)}, t

    @action("hw/virtio/virtio-balloon.c: virtio_balloon_handle_output (deflate vq)")
    def host_deflate(self, s: State) -> Iterator[Step]:
        """The device takes a deflate request: the pages are the guest's again (QEMU only
        hints MADV_WILLNEED, balloon_deflate_page) and acks."""
        popped = s.deflate_vq.pop()
        if popped is None:
            return
        buf, vq = popped
        _buf, vq = vq.push()
        pfns = self.told(buf)
        yield (
            {"pfns": len(pfns)},
            replace(s, deflate_vq=vq, host_ballooned=s.host_ballooned - set(pfns)),
        )

    @action("a device with VIRTIO_BALLOON_F_MUST_TELL_HOST: lazy discard of ballooned memory")
    def host_discard(self, s: State) -> Iterator[Step]:
        """A device that offers MUST_TELL_HOST may drop a page it was told about at any time
        until it processes the deflate request for it."""
        if not self.lazy_host:
            return
        for h in range(self.host_pages):
            span = range(h * self.hpp, (h + 1) * self.hpp)
            if h not in s.discarded and all(p in s.host_ballooned for p in span):
                yield {"host_page": h}, self._discard(s, [h])

    @action(
        "hw/virtio/virtio-balloon.c: virtio_balloon_to_target -> virtio_notify_config; "
        "driver virtballoon_changed -> queue_work"
    )
    def host_request(self, s: State) -> Iterator[Step]:
        """Management states its target again (QEMU notifies on every write, even of the same
        value); the config interrupt queues the worker. It may never happen: after an OOM
        deflation the balloon stays smaller until the host asks again."""
        if s.worker.pc is PC.IDLE and self.diff(s):
            yield {"num_pages": self.config.target}, replace(s, worker=Thread(PC.QUEUED))

    # -- FREE_PAGE_HINT (Config.free_page_hint) ----------------------------------------------

    @action(
        "hw/virtio/virtio-balloon.c: virtio_balloon_free_page_start; driver "
        "report_free_page_func -> send_cmd_id_start"
    )
    def hint_start(self, s: State) -> Iterator[Step]:
        """Migration starts a hinting round (the host may never do so)."""
        if s.hint is Hint.IDLE:
            yield {}, replace(s, hint=Hint.RUNNING)

    @action("drivers/virtio/virtio_balloon.c: get_free_page_and_send", fair="weak")
    def get_free_page_and_send(self, s: State) -> Iterator[Step]:
        """Allocate a free block (no direct reclaim) and hint it; stop when none is left."""
        if s.hint is not Hint.RUNNING:
            return
        if not s.free:
            yield {"via": "-EINTR: send_cmd_id_stop"}, replace(s, hint=Hint.STOPPED)
            return
        for f in sorted(s.free):
            t = replace(self._touch(s, f), free=s.free - {f}, hinted=s.hinted | {f})
            yield {"via": "free list", "page": f}, t

    @action(
        "hw/virtio/virtio-balloon.c: virtio_balloon_free_page_done; driver "
        "report_free_page_func -> return_free_pages_to_mm"
    )
    def hint_done(self, s: State) -> Iterator[Step]:
        """The host says DONE (migration ended): the driver gives every held block back."""
        if s.hint not in (Hint.RUNNING, Hint.STOPPED):
            return
        if self.variant == "done_drops_hints":
            yield {"blocks": len(s.hinted)}, replace(s, hint=Hint.DONE, hinted=frozenset())
            return
        t = replace(s, hint=Hint.DONE, free=s.free | s.hinted, hinted=frozenset())
        yield {"blocks": len(s.hinted)}, t

    # -- properties ------------------------------------------------------------------------

    @always("every page is in exactly one place", unconditional=True)
    def one_place(self, s: State) -> Check:
        """Free, page cache, application, balloon list, fill_balloon's or leak_balloon's
        local list, or the hint list: a page nowhere is leaked, a page in two is shared."""
        parts = (
            ("free", s.free),
            ("page cache", s.cache),
            ("application", s.app),
            ("balloon", s.balloon),
            ("fill_balloon's list", frozenset(s.fill_list)),
            ("leak_balloon's list", s.leak_list),
            ("the hint list", s.hinted),
        )
        for f in range(self.config.pages):
            where = [name for name, part in parts if f in part]
            if len(where) != 1:
                return f"page {f} is in {' and '.join(where) or 'no list'}"
        return True

    @always("the guest never uses a page the host may discard", unconditional=True)
    def no_data_loss(self, s: State) -> Check:
        """No page the guest uses had its data discarded, and none is one the device may
        still discard (with MUST_TELL_HOST: told about and not yet deflated)."""
        if s.lost:
            f = min(s.lost)
            return f"page {f} held guest data and the host discarded it: it reads back zero"
        if self.lazy_host:
            risky = {f for f in self.in_use(s) if set(self.pfns_of(f)) & s.host_ballooned}
            if risky:
                return (
                    f"page {min(risky)} is in use although the host has not processed its "
                    "deflate request: a MUST_TELL_HOST device may still discard it"
                )
        return True

    @always("the host and the driver agree on the balloon", unconditional=True)
    def host_agrees(self, s: State) -> Check:
        """Outside requests, the pfns the host holds as ballooned are exactly the pfns of the
        balloon list; ``vb->num_pages`` counts that list; ``actual`` is never more."""
        if s.num_pages != self.ppp * len(s.balloon):
            return f"vb->num_pages is {s.num_pages}, the list holds {len(s.balloon)} page(s)"
        if not self.quiescent(s):
            return True
        want = {p for f in s.balloon for p in self.pfns_of(f)}
        if s.host_ballooned != want:
            extra = sorted(s.host_ballooned - want)
            missing = sorted(want - s.host_ballooned)
            return (
                f"the host holds pfns {extra} that are not on the balloon list"
                if extra
                else f"the balloon list has pfns {missing} the host was never told about"
            )
        return True

    @always(
        "the host gets back every host page the balloon holds whole",
        trigger=lambda self, s: not self.lazy_host and bool(self._whole_host_pages(s)),
    )
    def host_reclaims(self, s: State) -> Check:
        """Once its inflate request is acked, a host page every 4 KiB of which is on the
        balloon list is discarded (QEMU discards on inflate; a MUST_TELL_HOST device may do
        so later, so the property is about QEMU only)."""
        if self.lazy_host:
            return True
        kept = sorted(set(self._whole_host_pages(s)) - s.discarded)
        if kept:
            return (
                f"host page {kept[0]} lies wholly in the balloon, its inflate was processed, "
                "but the host never discarded it (it gets nothing back for it)"
            )
        return True

    def _whole_host_pages(self, s: State) -> list[int]:
        """Host pages wholly on the balloon list, outside a fill or leak call (so every one
        of their pages was told to the host and acked)."""
        if not self.quiescent(s):
            return []
        whole = [h for h in range(self.host_pages) if set(self.frames_of_host_page(h)) <= s.balloon]
        return whole

    @always("after DONE the driver holds no hinted block", trigger="the driver holds hinted blocks")
    def hints_returned(self, s: State) -> Check:
        if s.hint is Hint.DONE and s.hinted:
            return (
                f"the host said DONE, yet the driver still holds hinted block(s) {sorted(s.hinted)}"
            )
        return True

    @always(
        "the OOM notifier reports exactly the pages it gave back",
        trigger="the OOM notifier gives pages back",
    )
    def oom_report_exact(self, s: State) -> Check:
        released, reported = s.oom_misreport
        if reported != released:
            return (
                f"virtio_balloon_oom_notify added {reported} to *freed but gave back "
                f"{released} page(s) of {self.ppp} pfns"
            )
        return True

    @always(
        "the balloon is deflated only after the page cache and other reclaim failed to "
        "satisfy an allocation",
        trigger="the balloon gives pages back to satisfy an allocation",
    )
    def deflate_only_after_reclaim_failed(self, s: State) -> Check:
        for who in THREADS:
            th = self._thread(s, who)
            if th.pc is PC.LEAK_ACK and th.ctx is Ctx.SHRINKER and th.reclaimed:
                return (
                    f"the {who.name.lower()}'s direct reclaim deflates {len(s.leak_list)} "
                    f"balloon page(s) through the balloon shrinker although the same pass "
                    f"already freed {th.reclaimed} page(s) of page cache (page cache now "
                    f"{len(s.cache)}); DEFLATE_ON_OOM should wait until reclaim has failed"
                )
        return True

    @always(
        "no OOM kill while DEFLATE_ON_OOM is negotiated and the balloon holds pages",
        trigger="the OOM killer kills",
    )
    def no_oom_kill_with_balloon(self, s: State) -> Check:
        if s.killed_with:
            return (
                f"the OOM killer killed the application while the balloon held "
                f"{s.killed_with} page(s) ({s.killed_with * self.ppp} pfns)"
            )
        return True

    @always(
        "no OOM kill because the host has not answered a balloon request",
        trigger="the OOM killer kills",
    )
    def no_oom_kill_from_stall(self, s: State) -> Check:
        """A host that is slow to ack must not make the OOM notifier give up."""
        if s.killed_waiting:
            return (
                "the OOM notifier freed nothing because a balloon request was waiting for "
                "the host, and the OOM killer killed the application"
            )
        return True

    @always(
        "reclaim takes the hinted blocks back before the OOM path",
        trigger="a thread goes for the OOM path",
    )
    def no_oom_with_hints(self, s: State) -> Check:
        """The hinted blocks are free memory the guest may reuse at any time (virtballoon_probe:
        "We're allowed to reuse any free pages"): reclaim must not fail while they are held."""
        if s.oom_with_hints:
            return (
                f"direct reclaim failed and the thread went for the OOM killer while the "
                f"driver held {s.oom_with_hints} hinted block(s) the shrinker never returned"
            )
        return True

    @sometimes("a thread goes for the OOM path")
    def oom_path(self, s: State) -> bool:
        return s.oom_lock is not Who.NOBODY

    @sometimes("the OOM killer kills")
    def oom_killed(self, s: State) -> bool:
        return s.app_thread.pc is PC.DEAD

    @sometimes("the OOM notifier gives pages back")
    def oom_deflates(self, s: State) -> bool:
        return any(
            self._thread(s, w).pc is PC.LEAK_ACK and self._thread(s, w).ctx is Ctx.OOM
            for w in THREADS
        )

    @sometimes("the OOM notifier frees nothing and the OOM killer is next")
    def oom_finds_empty(self, s: State) -> bool:
        return s.app_thread.pc is PC.OOM_KILL

    @sometimes("the host says DONE")
    def hint_round_done(self, s: State) -> bool:
        return s.hint is Hint.DONE

    @sometimes("the driver holds hinted blocks")
    def holds_hints(self, s: State) -> bool:
        return bool(s.hinted)

    @sometimes("the balloon reaches its target")
    def reaches_target(self, s: State) -> bool:
        return bool(s.balloon) and self.diff(s) == 0

    @sometimes("memory runs out while the balloon holds pages")
    def memory_exhausted_with_balloon(self, s: State) -> bool:
        return bool(s.balloon) and not s.free and not s.cache and not s.hinted

    @sometimes("the balloon gives pages back to satisfy an allocation")
    def deflates_for_allocation(self, s: State) -> bool:
        return any(
            self._thread(s, w).pc is PC.LEAK_ACK
            and self._thread(s, w).ctx in (Ctx.OOM, Ctx.SHRINKER)
            for w in THREADS
        )

    @sometimes("a thread waits for balloon_lock while another holds it")
    def lock_contended(self, s: State) -> bool:
        if s.balloon_lock is Who.NOBODY:
            return False
        return any(
            self._thread(s, w).pc in (PC.LEAK_LOCK, PC.FILL_LOCK)
            for w in THREADS
            if w is not s.balloon_lock
        )

    # -- liveness --------------------------------------------------------------------------

    def _inflating(self, s: State) -> bool:
        return self.attainable(s) and self.diff(s) != 0 and s.worker.pc is not PC.IDLE

    @leads_to(
        "inflation reaches an attainable target",
        when=lambda self, s: self._inflating(s),
        fairness=HOST_ANSWERS,
    )
    def reached_or_unattainable(self, s: State) -> bool:
        """Once the worker has work and the page cache can pay for the balloon, the balloon
        reaches the driver's target -- unless the application's growth makes it
        unattainable first, or the worker goes idle (after an OOM deflation it waits for
        the host to ask again)."""
        return self.diff(s) == 0 or not self.attainable(s) or s.worker.pc is PC.IDLE

    @progress(
        "no inflate/deflate round without progress",
        region=lambda self, s: self._inflating(s),
        fairness=HOST_ANSWERS,
    )
    def round_progresses(self, s: State, t: State) -> bool:
        """A worker round (towards_target .. update_balloon_size) that ends nearer the
        driver's target than it started. A fair cycle of rounds none of which gets nearer,
        while the target is attainable, is the busy no-op."""
        ended = s.worker.pc not in (PC.IDLE, PC.QUEUED) and t.worker.pc in (PC.IDLE, PC.QUEUED)
        if not ended:
            return False
        return abs(self.driver_target - t.num_pages) < abs(self.driver_target - t.round_start)

    def _in_oom_path(self, s: State) -> bool:
        """The reader or the application is inside the allocator's slow path."""
        return any(
            th.pc in (PC.ALLOC, PC.OOM) or (th.pc is PC.LEAK_LOCK and th.ctx is Ctx.OOM)
            for th in (s.reader, s.app_thread)
        )

    @progress(
        "no busy loop while the host stalls",
        region=lambda self, s: self.waiting_for_host(s) and self._in_oom_path(s),
        fairness=GUEST_ONLY,
    )
    def stalled_host_no_spin(self, s: State, t: State) -> bool:
        """While a balloon request waits for a device that does not answer (no fairness for
        it) and an allocation is in its slow path, every fair cycle moves some page -- no
        thread spins through the OOM path for ever because of the stall. (A step that
        changes nothing is a read that recycled the page it reclaimed: progress too.)"""
        if s == t:
            return True
        return any(
            getattr(s, part) != getattr(t, part)
            for part in ("free", "cache", "app", "balloon", "hinted", "fill_list", "hint")
        )

    # -- rendering ------------------------------------------------------------------------

    @staticmethod
    def _vq_label(vq: Virtqueue) -> str:
        parts = [
            f"{where} {list(buf)}"
            for where, bufs in (("avail", vq.avail), ("in flight", vq.inflight), ("used", vq.used))
            for buf in bufs
        ]
        return ", ".join(parts) or "empty"

    def _pc_label(self, th: Thread) -> str:
        label = th.pc.name
        if th.ctx is not Ctx.NONE:
            label += f" ({th.ctx.name.lower()})"
        return label

    def view(self, s: State) -> dict[str, object]:
        cfg = self.config

        def pages(x: Iterable[int]) -> str:
            return "{" + ",".join(map(str, sorted(x))) + "}"

        view: dict[str, object] = {
            "balloon": (
                f"{s.num_pages} pfns of target {self.driver_target}"
                + (f" (host asked {cfg.target})" if cfg.target != self.driver_target else "")
                + f", actual {s.actual}, list {pages(s.balloon)}"
            ),
            "memory": (
                f"free {pages(s.free)}, cache {pages(s.cache)}, app {pages(s.app)}"
                + (f", filling {list(s.fill_list)}" if s.fill_list else "")
                + (f", deflating {pages(s.leak_list)}" if s.leak_list else "")
                + (f", hinted {pages(s.hinted)}" if self.fph else "")
            ),
            "pfns": f"{list(s.pfns)}",
            "host": (
                f"ballooned pfns {pages(s.host_ballooned)}, discarded host pages "
                f"{pages(s.discarded)}" + (f", data lost {pages(s.lost)}" if s.lost else "")
            ),
            "round": f"inflated {s.inflated}, deflated {s.deflated} since towards_target",
            "worker": self._pc_label(s.worker)
            + (f" diff {s.worker.diff} done {s.worker.done}" if s.worker.diff else ""),
            "reader": self._pc_label(s.reader),
            "app": self._pc_label(s.app_thread)
            + (f", {s.app_left} to fault" if s.app_left else ""),
            "locks": f"balloon_lock {s.balloon_lock.name.lower()}, "
            f"oom_lock {s.oom_lock.name.lower()}",
            "virtqueues": f"inflate {self._vq_label(s.inflate_vq)}, "
            f"deflate {self._vq_label(s.deflate_vq)}",
        }
        if self.fph:
            view["hint"] = s.hint
        if s.killed_with or s.app_thread.pc is PC.DEAD:
            view["oom kill"] = f"with {s.killed_with} balloon page(s)"
        return view

    def frame_map(self, s: State) -> str:
        gone = {f for h in s.discarded for f in self.frames_of_host_page(h)}
        out = []
        for f in range(self.config.pages):
            if f in s.lost and f in self.in_use(s):
                out.append("!")
            elif f in s.balloon:
                out.append("B")
            elif f in s.fill_list:
                out.append("b")
            elif f in s.leak_list:
                out.append("d")
            elif f in s.hinted:
                out.append("h")
            elif f in s.app:
                out.append("A")
            elif f in s.cache:
                out.append("c")
            else:
                out.append("x" if f in gone else ".")
        return "".join(out)
