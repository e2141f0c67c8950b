"""virtio-balloon inflation against a growing page cache, and deflate-on-OOM ordering.

The seed is David Hildenbrand's v3 "virtio-balloon: Switch back to OOM handler for
VIRTIO_BALLOON_F_DEFLATE_ON_OOM" (Mar 2020, merged for v5.7; kernel-facts §2.3). Its test
(Tyler Sanderson): a 64 GB guest streams a 42 GB file into the page cache while the host
inflates the balloon to 53 GB. With DEFLATE_ON_OOM implemented as a shrinker (71994620bb25)
the inflation never reached its target while the reader ran: reclaim shrank the page cache
*and* called the balloon's shrinker, the balloon deflated, the driver re-inflated -- "a busy
no-op". With the OOM notifier the balloon gives pages back only after reclaim has failed.

What is modelled, following drivers/virtio/virtio_balloon.c (kernel-facts §2.1-2.3), the
page allocator's slow path and mm/oom_kill.c:

* Memory, in guest pages: free pages, the page cache (clean, reclaimable), application
  (anonymous, unreclaimable) pages, pages on the balloon list (``vb_dev_info->pages``), pages
  ``fill_balloon`` has allocated but not yet enqueued, pages ``leak_balloon`` has dequeued
  and not yet released, and (FREE_PAGE_HINT) hinted blocks. Pages are interchangeable here,
  so each container holds a count (a symmetry reduction); "no page is lost" checks that the
  containers still add up.
* The host: the target ``num_pages`` (config space, 4 KiB units, fixed per run), ``actual``
  (written by the driver), the inflate and deflate virtqueues (``models.virtqueue``,
  one descriptor each: ``tell_host`` waits for the ack under ``balloon_lock``), and the pfns
  it has discarded. It may re-send its target (a config interrupt) whenever the worker is
  idle, as QEMU's ``virtio_balloon_to_target`` notifies on every write.
* The driver's worker, ``update_balloon_size_func``: ``towards_target`` (``ALIGN`` to
  ``VIRTIO_BALLOON_PAGES_PER_PAGE``, 07622bd41563), then ``fill_balloon`` -- allocate up to
  ``VIRTIO_BALLOON_ARRAY_PFNS_MAX`` pfns *outside* ``balloon_lock`` with ``__GFP_NORETRY``
  (direct reclaim, never the OOM killer; "Out of puff" on failure), then lock, enqueue,
  ``tell_host(inflate_vq)``, unlock -- or ``leak_balloon``: lock, dequeue,
  ``tell_host(deflate_vq)`` and only then release (MUST_TELL_HOST order), unlock; then
  ``update_balloon_size`` writes ``actual`` and the work requeues itself while diff != 0.
* A reader streaming a file into the page cache, for ever. Its page-cache allocations hold a
  filesystem lock and are GFP_NOFS, as Thread2 of Tetsuo Handa's analysis quoted in
  c7cdff0e8647 ("virtio_balloon: fix deadlock on OOM"): reclaim drops clean page cache, the
  OOM notifiers run, but ``out_of_memory`` never kills for it ("The OOM killer does not
  compensate for IO-less reclaim"), so it retries. The balloon worker's own direct reclaim
  (``__GFP_FS``) waits for that fs lock (Thread1 of the same analysis).
* An application that faults in ``app_growth`` more anonymous pages (optional: no fairness).
  Its allocations may end in the OOM killer, which kills the application itself.
* The page allocator slow path for every allocation: the free list
  (``get_page_from_freelist``), then one direct-reclaim pass (``shrink_node``: one page-cache
  page from the LRU, then ``shrink_slab``: every registered shrinker), then
  ``__alloc_pages_may_oom``: ``mutex_trylock(&oom_lock)`` (a loser retries: a stutter, not a
  step), a last free-list attempt, ``out_of_memory``: the OOM notifier chain in priority order
  (``blocking_notifier_call_chain(&oom_notify_list)``; only the balloon registers, priority
  80, ``leak_balloon(VIRTIO_BALLOON_OOM_NR_PAGES)``), and when nothing was freed the OOM
  killer.

Abstracted: kswapd (only direct reclaim), reclaim batch sizes (one page-cache page and one
page per shrinker per pass), timing (``msleep(200)`` after "Out of puff" is not modelled), the
stats queue, balloon compaction, page poisoning, other processes and notifiers.

Variants (one readable branch each):

* ``upstream`` -- DEFLATE_ON_OOM through the OOM notifier (v5.7+).
* ``shrinker`` -- 71994620bb25 "virtio_balloon: replace oom notifier with shrinker"
  (v4.19..v5.6): every direct-reclaim pass calls the balloon shrinker, which deflates.
* ``lock_fill`` -- fill_balloon before c7cdff0e8647 (2017): it takes ``balloon_lock`` first
  and allocates (``balloon_page_enqueue``) while holding it.
* ``notifier_trylock`` -- the 2017 fill_balloon with the fix discussed on Tetsuo Handa's
  "virtio: avoid possible OOM lockup at virtballoon_oom_notify()" (Oct 2017; Michal Hocko:
  "Can we simply change the lock to try_lock?"): the notifier takes ``balloon_lock`` with
  ``mutex_trylock`` and frees nothing when it is contended. MST's c7cdff0e8647 was chosen
  instead because it "actually deflates on oom even in presence of lock contention".
* ``unaligned_target`` -- ``towards_target`` without ``ALIGN`` (before 07622bd41563, "Fix
  endless deflation and inflation on arm64"): with 64 KiB pages (``pages_per_page=16``) a
  target that is not a multiple of 16 pfns can never be met and the driver oscillates.

FREE_PAGE_HINT is a feature, not a design, so it is the config flag ``free_page_hint`` (any
variant): hinted blocks are held by the driver until the host says DONE and the shrinker
may always return them ("We're allowed to reuse any free pages, even if they are still to
be processed by the host", virtballoon_probe; kernel-facts §2.4). In the shrinker variant the
one shrinker returns hinted blocks first and deflates only when they do not cover the
request (virtio_balloon_shrinker_scan of v5.0..v5.6).

Finding (not a variant): pages fill_balloon has allocated but not yet enqueued are invisible
to the OOM notifier (Tetsuo Handa, "virtio_balloon: use non-blocking allocation", Jan 2018),
and out_of_memory is not atomic with the worker, so even upstream can kill while the balloon
holds pages: the notifier finds the list empty, the worker enqueues its batch, the killer
runs. The default config cannot reach it (a batch is 2 of 6 pages); with
``array_pfns_max=4`` the explorer finds it in 11 steps; random Hypothesis runs of bigger
guests hit it only now and then.

Units: guest pages everywhere except ``num_pages``, ``actual``, the target, the virtqueue
buffers and ``array_pfns_max``/``oom_nr_pages``, which are balloon pfns (4 KiB,
``VIRTIO_BALLOON_PFN_SHIFT``), as in the driver. ``pages_per_page=16`` is the arm64 64 KiB
guest.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from enum import IntEnum

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
    LEAK_ACK = 6
    """Any: leak_balloon's tell_host(deflate_vq) waits for the ack, holding balloon_lock."""
    ALLOC = 7
    """Reader/app: inside the page allocator, retrying (the reader holds its fs lock)."""
    OOM = 8
    """Reader/app: holds oom_lock, about to call out_of_memory."""
    OOM_KILL = 9
    """App: the notifiers freed nothing; the OOM killer runs next."""
    DONE = 10
    """App: has faulted in all its pages."""
    DEAD = 11
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


class Hint(IntEnum):
    """The FREE_PAGE_HINT worker (report_free_page_func)."""

    OFF = 0
    """FREE_PAGE_HINT not negotiated."""
    IDLE = 1
    RUNNING = 2
    """A hinting round: get_free_page_and_send takes free blocks."""
    STOPPED = 3
    """Allocation failed (-EINTR), stop id sent; blocks held until the host says DONE."""


@dataclass(frozen=True)
class Thread:
    """A thread's program counter and the locals of the function it is in."""

    pc: PC = PC.IDLE
    ctx: Ctx = Ctx.NONE
    diff: int = 0
    """Worker: towards_target() at the start of the round (pfns)."""
    done: int = 0
    """Worker: pfns fill_balloon allocated / leak_balloon released this round."""
    reclaimed: int = 0
    """Pages this direct-reclaim pass freed before it called the balloon shrinker."""


@dataclass(frozen=True)
class State:
    free: int
    cache: int
    """Page-cache pages (clean: reclaimable)."""
    app: int
    """Anonymous pages of the application (unreclaimable: no swap)."""
    balloon: int
    """Pages on the balloon list (vb_dev_info->pages); vb->num_pages = PAGES_PER_PAGE x this."""
    fill_list: int
    """Pages fill_balloon allocated and has not enqueued yet (invisible to the notifier)."""
    leak_list: int
    """Pages leak_balloon dequeued and has not released yet (waiting for the deflate ack)."""
    hinted: int
    """FREE_PAGE_HINT blocks the driver holds (free_page_list)."""
    actual: int
    """Config space ``actual`` (pfns), written by update_balloon_size."""
    host_ballooned: int
    """Pfns the host has discarded (inflate acks minus deflate acks)."""
    inflate_vq: Virtqueue
    deflate_vq: Virtqueue
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
    killed_with: int
    """Balloon pages held when the OOM killer killed (0: no such kill)."""


@dataclass(frozen=True)
class Config:
    pages: int = 6
    """Guest pages (of PAGE_SIZE)."""
    pages_per_page: int = 1
    """VIRTIO_BALLOON_PAGES_PER_PAGE: 1 with 4 KiB pages, 16 with 64 KiB pages (arm64)."""
    target: int = 4
    """The host's num_pages (pfns)."""
    app_pages: int = 1
    """Anonymous pages in use at the start."""
    app_growth: int = 2
    """Anonymous pages the application may fault in later."""
    array_pfns_max: int = 2
    """VIRTIO_BALLOON_ARRAY_PFNS_MAX (256 in the kernel): pfns per fill/leak call."""
    oom_nr_pages: int = 1
    """VIRTIO_BALLOON_OOM_NR_PAGES (256 in the kernel): pfns per OOM notification."""
    free_page_hint: bool = False
    """VIRTIO_BALLOON_F_FREE_PAGE_HINT negotiated: a hinting worker holds free blocks until
    the host says DONE, and the shrinker may always return them (kernel-facts §2.4)."""
    variant: str = "upstream"

    def __post_init__(self) -> None:
        ppp = self.pages_per_page
        if ppp < 1:
            raise ValueError("pages_per_page must be at least 1")
        if self.array_pfns_max < ppp:
            # BUILD_BUG_ON(VIRTIO_BALLOON_PAGES_PER_PAGE > VIRTIO_BALLOON_ARRAY_PFNS_MAX)
            raise ValueError("array_pfns_max must be at least pages_per_page")
        if self.oom_nr_pages < 1 or self.target < 0 or self.app_growth < 0:
            raise ValueError("oom_nr_pages must be positive; target, app_growth not negative")
        if not 1 <= self.app_pages < self.pages:
            raise ValueError("app_pages must be at least 1 and leave free pages")
        if self.app_pages + self.app_growth > self.pages:
            raise ValueError("app_pages + app_growth must not exceed pages")


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _sat(n: int) -> int:
    return min(n, COUNT_CAP)


class BalloonOom(Model[Config, State]):
    """virtio-balloon inflation against the page cache; deflate-on-OOM: notifier vs shrinker."""

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
            "(discussed on Tetsuo Handa's 2017 report, not merged): OOM kill while the "
            "balloon holds pages"
        ),
        "unaligned_target": (
            "towards_target without ALIGN (before 07622bd41563): endless inflate/deflate with "
            "64 KiB pages and a target that is not a multiple of 16 pfns"
        ),
    }
    designs = frozenset({"upstream"})
    """Whether upstream keeps "no OOM kill while ... the balloon holds pages" depends on the
    size of a fill batch against memory (the window in the module docstring), so its manifest
    entries record the answer per config; it holds at the defaults."""
    reference_config = {
        "pages": 10,
        "target": 6,
        "app_growth": 4,
        "array_pfns_max": 3,
        "oom_nr_pages": 2,
        "free_page_hint": True,
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
        "d": "dequeued by leak_balloon, waiting for the deflate ack",
        "h": "FREE_PAGE_HINT block held by the driver",
        "A": "application (anonymous)",
        "c": "page cache",
        ".": "free",
    }

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.ppp = config.pages_per_page
        self.lock_first = self.variant in ("lock_fill", "notifier_trylock")
        self.balloon_shrinker = self.variant == "shrinker"
        self.oom_notifier = self.variant != "shrinker"
        self.fph = config.free_page_hint
        if self.variant == "unaligned_target":
            self.driver_target = config.target
        else:
            # towards_target: ALIGN(num_pages, VIRTIO_BALLOON_PAGES_PER_PAGE)
            self.driver_target = _ceil_div(config.target, self.ppp) * self.ppp
        self.target_pages = _ceil_div(config.target, self.ppp)

    # -- derived quantities ---------------------------------------------------------------

    def num_pages(self, s: State) -> int:
        """vb->num_pages (pfns)."""
        return self.ppp * s.balloon

    def diff(self, s: State) -> int:
        """towards_target(): what the worker would do now (pfns; > 0 inflate)."""
        return self.driver_target - self.num_pages(s)

    def attainable(self, s: State) -> bool:
        """The balloon can reach the (page-rounded) target and leave the application its
        pages and the reader RESERVE pages: the page cache can pay for the whole balloon."""
        return self.target_pages <= self.config.pages - s.app - RESERVE

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

    # -- initial state ----------------------------------------------------------------------

    def initial_states(self) -> Iterator[State]:
        cfg = self.config
        s = State(
            free=cfg.pages - cfg.app_pages,
            cache=0,
            app=cfg.app_pages,
            balloon=0,
            fill_list=0,
            leak_list=0,
            hinted=0,
            actual=0,
            host_ballooned=0,
            inflate_vq=Virtqueue(1),
            deflate_vq=Virtqueue(1),
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
            killed_with=0,
        )
        yield s

    # -- the page allocator (shared by every allocating thread) ----------------------------

    def _shrink_lists(self, s: State) -> tuple[State, int]:
        """shrink_node: one page-cache page off the LRU, then shrink_slab's shrinkers other
        than the balloon's (FREE_PAGE_HINT: virtio_balloon_shrinker_scan returns a block)."""
        reclaimed = 0
        if s.cache:
            s = replace(s, cache=s.cache - 1, free=s.free + 1)
            reclaimed += 1
        if s.hinted:
            s = replace(s, hinted=s.hinted - 1, free=s.free + 1)
            reclaimed += 1
        return s, reclaimed

    def _balloon_shrinker_deflates(self, before: State, after: State) -> bool:
        """shrink_slab reaches the balloon part of virtio_balloon_shrinker_scan (shrinker
        variant): it leaks balloon pages unless the hinted blocks it returns first
        (shrink_free_pages) already cover the request."""
        if not self.balloon_shrinker or not after.balloon:
            return False
        return after.hinted == before.hinted

    def _got_page(self, s: State, who: Who) -> State:
        """The allocation of ``who`` returned a page (taken from s.free by the caller)."""
        th = self._thread(s, who)
        if who is Who.READER:
            return replace(s, cache=s.cache + 1, reader=Thread())
        if who is Who.APP:
            left = s.app_left - 1
            return replace(
                s, app=s.app + 1, app_left=left, app_thread=Thread(PC.IDLE if left else PC.DONE)
            )
        # The worker: balloon_page_alloc succeeded; the 2017 code enqueued at once.
        th = replace(th, pc=PC.FILL_ALLOC, ctx=Ctx.NONE, reclaimed=0, done=th.done + self.ppp)
        if self.lock_first:
            s = replace(s, balloon=s.balloon + 1)
        else:
            s = replace(s, fill_list=s.fill_list + 1)
        return self._fill_loop_check(replace(s, worker=th))

    def _direct_reclaim(self, s: State, who: Who) -> Iterator[Step]:
        """__alloc_pages_slowpath for a reader/app page, after the free list was empty."""
        th = self._thread(s, who)
        t, reclaimed = self._shrink_lists(s)
        if self._balloon_shrinker_deflates(s, t):
            # shrink_slab also calls the balloon's shrinker: it deflates during reclaim.
            leak = replace(th, pc=PC.LEAK_LOCK, ctx=Ctx.SHRINKER, reclaimed=reclaimed)
            yield {"via": "direct reclaim, balloon shrinker"}, self._with(t, who, leak)
        elif reclaimed:
            # __alloc_pages_direct_reclaim: reclaim, then get_page_from_freelist.
            yield {"via": "direct reclaim"}, self._got_page(replace(t, free=t.free - 1), who)
        elif s.oom_lock is Who.NOBODY:
            # __alloc_pages_may_oom: mutex_trylock(&oom_lock) (a loser sleeps and retries).
            yield (
                {"via": "reclaim failed: __alloc_pages_may_oom"},
                self._with(replace(s, oom_lock=who), who, Thread(PC.OOM)),
            )

    def _allocate(self, s: State, who: Who) -> Iterator[Step]:
        if s.free:
            yield {"via": "free list"}, self._got_page(replace(s, free=s.free - 1), who)
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
        n = s.worker.done // self.ppp
        return self._tell_inflate(s, n)

    def _tell_inflate(self, s: State, n: int) -> State:
        """``if (vb->num_pfns != 0) tell_host(vb, vb->inflate_vq)`` (else unlock)."""
        if not n:
            return self._round_end(replace(s, balloon_lock=Who.NOBODY))
        vq = s.inflate_vq.add((n * self.ppp,))
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
        return replace(s, actual=self.num_pages(s), worker=worker)

    @action(
        "drivers/virtio/virtio_balloon.c: update_balloon_size_func -> towards_target", fair="weak"
    )
    def update_balloon_size_func(self, s: State) -> Iterator[Step]:
        """The work item runs: read the target and start a fill or a leak round."""
        if s.worker.pc is not PC.QUEUED:
            return
        diff = self.diff(s)
        t = replace(s, round_start=self.num_pages(s), inflated=0, deflated=0)
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
            yield {"via": "free list"}, self._got_page(replace(s, free=s.free - 1), Who.WORKER)
            return
        if self.fs_lock_held(s):
            # Direct reclaim in __GFP_FS context waits for the reader's fs lock.
            return
        t, reclaimed = self._shrink_lists(s)
        if self._balloon_shrinker_deflates(s, t):
            leak = replace(th, pc=PC.LEAK_LOCK, ctx=Ctx.SHRINKER, reclaimed=reclaimed)
            yield {"via": "direct reclaim, balloon shrinker"}, replace(t, worker=leak)
        elif reclaimed:
            yield (
                {"via": "direct reclaim"},
                self._got_page(replace(t, free=t.free - 1), Who.WORKER),
            )
        else:
            # __GFP_NORETRY: no OOM. "Out of puff!", msleep(200), break.
            yield {"via": "out of puff"}, self._fill_loop_end(s)

    @action(
        "drivers/virtio/virtio_balloon.c: fill_balloon -> mutex_lock(balloon_lock), "
        "balloon_page_enqueue, tell_host(inflate_vq)",
        fair="weak",
    )
    def fill_balloon_lock(self, s: State) -> Iterator[Step]:
        """Upstream: take balloon_lock after the allocation loop, enqueue, tell the host.
        2017 variants: take balloon_lock before the allocation loop."""
        if s.worker.pc is not PC.FILL_LOCK or s.balloon_lock is not Who.NOBODY:
            return
        t = replace(s, balloon_lock=Who.WORKER)
        if self.lock_first:
            yield {}, replace(t, worker=replace(s.worker, pc=PC.FILL_ALLOC))
            return
        n = s.fill_list
        t = replace(t, fill_list=0, balloon=s.balloon + n)
        yield {"pages": n}, self._tell_inflate(t, n)

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
        yield {}, self._round_end(replace(s, inflate_vq=vq, balloon_lock=Who.NOBODY))

    # -- leak_balloon (worker, OOM notifier, balloon shrinker) ------------------------------

    def _leak_want(self, th: Thread) -> int:
        """leak_balloon's num (pfns) for the caller."""
        if th.ctx is Ctx.WORKER:
            return min(-th.diff, self.config.array_pfns_max)
        if th.ctx is Ctx.OOM:
            return self.config.oom_nr_pages  # VIRTIO_BALLOON_OOM_NR_PAGES
        return self.ppp  # the shrinker: leak_balloon_pages(vb, 1 page)

    @action(
        "drivers/virtio/virtio_balloon.c: leak_balloon -> mutex_lock(balloon_lock), "
        "balloon_page_dequeue, tell_host(deflate_vq)",
        fair="weak",
    )
    def leak_balloon_lock(self, s: State) -> Iterator[Step]:
        """Take balloon_lock (blocked while anyone -- the caller too -- holds it), dequeue up
        to num pfns, tell the host before releasing anything (MUST_TELL_HOST order)."""
        for who in (Who.WORKER, Who.READER, Who.APP):
            th = self._thread(s, who)
            if th.pc is not PC.LEAK_LOCK:
                continue
            if s.balloon_lock is not Who.NOBODY:
                if self.variant == "notifier_trylock" and th.ctx is Ctx.OOM:
                    # The proposed notifier: mutex_trylock fails, nothing is freed.
                    args = {"who": who.name.lower(), "pages": 0, "trylock": "busy"}
                    yield args, self._leak_return(s, who, 0)
                continue  # mutex_lock sleeps (for ever if the caller holds it itself)
            num = min(self._leak_want(th), self.num_pages(s))  # can't release more than taken
            k = _ceil_div(num, self.ppp)  # for (num_pfns = 0; num_pfns < num; += PER_PAGE)
            args = {"who": who.name.lower(), "pages": k}
            if not k:
                yield args, self._leak_return(s, who, 0)
                continue
            vq = s.deflate_vq.add((k * self.ppp,))
            assert vq is not None, "tell_host: one descriptor per call, under balloon_lock"
            t = replace(
                s,
                balloon=s.balloon - k,
                leak_list=k,
                deflate_vq=vq,
                balloon_lock=who,
                deflated=_sat(s.deflated + k),
            )
            yield args, self._with(t, who, replace(th, pc=PC.LEAK_ACK))

    @action(
        "drivers/virtio/virtio_balloon.c: leak_balloon -> tell_host (wait_event "
        "virtqueue_get_buf), release_pages_balloon, mutex_unlock",
        fair="weak",
    )
    def leak_balloon_release(self, s: State) -> Iterator[Step]:
        """The deflate ack arrives: only now are the pages put back, then unlock."""
        if s.balloon_lock is Who.NOBODY:
            return
        who = s.balloon_lock
        if self._thread(s, who).pc is not PC.LEAK_ACK:
            return
        got = s.deflate_vq.get_buf()
        if got is None:
            return
        _buf, vq = got
        k = s.leak_list
        t = replace(s, deflate_vq=vq, leak_list=0, free=s.free + k, balloon_lock=Who.NOBODY)
        yield {"who": who.name.lower(), "pages": k}, self._leak_return(t, who, k)

    def _leak_return(self, s: State, who: Who, k: int) -> State:
        """Back in leak_balloon's caller with k pages freed (balloon_lock released)."""
        th = self._thread(s, who)
        if th.ctx is Ctx.WORKER:
            return self._round_end(replace(s, worker=replace(th, done=k * self.ppp)))
        # virtio_balloon_oom_notify / shrink_balloon_pages: update_balloon_size(vb).
        s = replace(s, actual=self.num_pages(s))
        if th.ctx is Ctx.OOM:
            if k:
                # *freed > 0: out_of_memory returns true; the allocation retries.
                return self._with(replace(s, oom_lock=Who.NOBODY), who, Thread(PC.ALLOC))
            return self._oom_nothing_freed(s, who)
        # Ctx.SHRINKER: shrink_slab returns; __alloc_pages_direct_reclaim tries the free list.
        if s.free:
            return self._got_page(replace(s, free=s.free - 1), who)
        if who is Who.WORKER:
            return self._fill_loop_end(replace(s, worker=replace(th, ctx=Ctx.NONE, reclaimed=0)))
        return self._with(s, who, Thread(PC.ALLOC))

    # -- the reader and the application -------------------------------------------------------

    @action(
        "mm/filemap.c: page_cache_ra_unbounded -> filemap_alloc_folio (page allocator)", fair="weak"
    )
    def read_page(self, s: State) -> Iterator[Step]:
        """The reader reads the next page of its file into the page cache."""
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
            t = replace(s, free=s.free - 1, oom_lock=Who.NOBODY)
            yield {"who": name, "via": "free list"}, self._got_page(t, who)
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
        killed_with = s.killed_with or s.balloon
        yield (
            {"victim": "app", "balloon": s.balloon},
            replace(
                s,
                free=s.free + s.app,
                app=0,
                app_left=0,
                app_thread=Thread(PC.DEAD),
                oom_lock=Who.NOBODY,
                killed_with=killed_with,
            ),
        )

    # -- the host (QEMU hw/virtio/virtio-balloon.c) -----------------------------------------

    def _host_handle(self, s: State, inflate: bool) -> Iterator[Step]:
        """virtio_balloon_handle_output: pop the pfn array, discard (inflate) or give back
        (deflate) the pages, push the buffer used and notify."""
        vq = s.inflate_vq if inflate else s.deflate_vq
        popped = vq.pop()
        if popped is None:
            return
        buf, vq = popped
        _buf, vq = vq.push()
        pfns = buf[0]
        if inflate:
            yield {"pfns": pfns}, replace(s, inflate_vq=vq, host_ballooned=s.host_ballooned + pfns)
        else:
            yield {"pfns": pfns}, replace(s, deflate_vq=vq, host_ballooned=s.host_ballooned - pfns)

    @action("hw/virtio/virtio-balloon.c: virtio_balloon_handle_output (inflate vq)", fair="weak")
    def host_inflate(self, s: State) -> Iterator[Step]:
        """The device discards the pages of an inflate buffer and acks it."""
        yield from self._host_handle(s, inflate=True)

    @action("hw/virtio/virtio-balloon.c: virtio_balloon_handle_output (deflate vq)", fair="weak")
    def host_deflate(self, s: State) -> Iterator[Step]:
        """The device gives the pages of a deflate buffer back and acks it."""
        yield from self._host_handle(s, inflate=False)

    @action(
        "hw/virtio/virtio-balloon.c: virtio_balloon_to_target -> virtio_notify_config; "
        "driver virtballoon_changed -> queue_work",
        fair="weak",
    )
    def host_request(self, s: State) -> Iterator[Step]:
        """The host (re)states its target (QEMU notifies on every write, even of the same
        value); the config interrupt queues the worker."""
        if s.worker.pc is PC.IDLE:
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

    @action("drivers/virtio/virtio_balloon.c: get_free_page_and_send")
    def get_free_page_and_send(self, s: State) -> Iterator[Step]:
        """Allocate a free block (no direct reclaim) and hint it; stop when none is left."""
        if s.hint is not Hint.RUNNING:
            return
        if s.free:
            yield {"via": "free list"}, replace(s, free=s.free - 1, hinted=s.hinted + 1)
        else:
            yield {"via": "-EINTR: send_cmd_id_stop"}, replace(s, hint=Hint.STOPPED)

    @action(
        "hw/virtio/virtio-balloon.c: virtio_balloon_free_page_done; driver return_free_pages_to_mm"
    )
    def hint_done(self, s: State) -> Iterator[Step]:
        """The host says DONE: the driver frees every block it still holds."""
        if s.hint is Hint.STOPPED:
            yield {"blocks": s.hinted}, replace(s, hint=Hint.IDLE, free=s.free + s.hinted, hinted=0)

    # -- properties ------------------------------------------------------------------------

    @always("no page is lost")
    def no_page_lost(self, s: State) -> Check:
        held = s.free + s.cache + s.app + s.balloon + s.fill_list + s.leak_list + s.hinted
        if held != self.config.pages:
            return f"the containers hold {held} pages, the guest has {self.config.pages}"
        return True

    @always(
        "the balloon is deflated only after the page cache and other reclaim failed to "
        "satisfy an allocation"
    )
    def deflate_only_after_reclaim_failed(self, s: State) -> Check:
        for who in (Who.WORKER, Who.READER, Who.APP):
            th = self._thread(s, who)
            if th.pc is PC.LEAK_ACK and th.ctx is Ctx.SHRINKER and th.reclaimed:
                return (
                    f"the {who.name.lower()}'s direct reclaim deflates {s.leak_list} balloon "
                    f"page(s) through the balloon shrinker although the same pass already "
                    f"freed {th.reclaimed} page(s) of page cache (page cache now {s.cache}); "
                    "DEFLATE_ON_OOM should wait until reclaim has failed (out_of_memory)"
                )
        return True

    @always("no OOM kill while DEFLATE_ON_OOM is negotiated and the balloon holds pages")
    def no_oom_kill_with_balloon(self, s: State) -> Check:
        if s.killed_with:
            return (
                f"the OOM killer killed the application while the balloon held "
                f"{s.killed_with} page(s) ({s.killed_with * self.ppp} pfns)"
            )
        return True

    @sometimes("the balloon reaches its target")
    def reaches_target(self, s: State) -> bool:
        return s.balloon > 0 and self.diff(s) == 0

    @sometimes("memory runs out while the balloon holds pages")
    def memory_exhausted_with_balloon(self, s: State) -> bool:
        return s.balloon > 0 and s.free == 0 and s.cache == 0 and s.hinted == 0

    @sometimes("the balloon gives pages back to satisfy an allocation")
    def deflates_for_allocation(self, s: State) -> bool:
        return any(
            self._thread(s, w).pc is PC.LEAK_ACK
            and self._thread(s, w).ctx in (Ctx.OOM, Ctx.SHRINKER)
            for w in (Who.WORKER, Who.READER, Who.APP)
        )

    @sometimes("a thread waits for balloon_lock while another holds it")
    def lock_contended(self, s: State) -> bool:
        if s.balloon_lock is Who.NOBODY:
            return False
        return any(
            self._thread(s, w).pc in (PC.LEAK_LOCK, PC.FILL_LOCK)
            for w in (Who.WORKER, Who.READER, Who.APP)
            if w is not s.balloon_lock
        )

    def _inflating(self, s: State) -> bool:
        return self.attainable(s) and self.diff(s) != 0

    @leads_to(
        "inflation reaches an attainable target",
        when=lambda self, s: self._inflating(s),
    )
    def reached_or_unattainable(self, s: State) -> bool:
        """While the page cache can pay for the balloon (and the reader, the worker and the
        host are treated weakly fairly), the balloon reaches the driver's target -- unless the
        application's growth makes the target unattainable first."""
        return self.diff(s) == 0 or not self.attainable(s)

    @progress(
        "no inflate/deflate round without progress",
        region=lambda self, s: self._inflating(s),
    )
    def round_progresses(self, s: State, t: State) -> bool:
        """A worker round (towards_target .. update_balloon_size) that ends nearer the
        driver's target than it started. A fair cycle of rounds none of which gets nearer,
        while the target is attainable, is the busy no-op."""
        ended = s.worker.pc not in (PC.IDLE, PC.QUEUED) and t.worker.pc in (PC.IDLE, PC.QUEUED)
        if not ended:
            return False
        return abs(self.driver_target - self.num_pages(t)) < abs(self.driver_target - t.round_start)

    # -- rendering ------------------------------------------------------------------------

    @staticmethod
    def _vq_label(vq: Virtqueue) -> str:
        parts = [
            f"{where} {buf[0]} pfns"
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
        view: dict[str, object] = {
            "balloon": (
                f"{self.num_pages(s)} pfns of target {self.driver_target}"
                + (f" (host asked {cfg.target})" if cfg.target != self.driver_target else "")
                + f", actual {s.actual}, host holds {s.host_ballooned}"
            ),
            "memory": (
                f"free {s.free}, page cache {s.cache}, app {s.app}, balloon {s.balloon}"
                + (f" (+{s.fill_list} allocated)" if s.fill_list else "")
                + (f" (-{s.leak_list} deflating)" if s.leak_list else "")
                + (f", hinted {s.hinted}" if self.fph else "")
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
        if s.killed_with:
            view["oom kill"] = f"with {s.killed_with} balloon page(s)"
        return view

    def frame_map(self, s: State) -> str:
        return (
            "B" * s.balloon
            + "b" * s.fill_list
            + "d" * s.leak_list
            + "h" * s.hinted
            + "A" * s.app
            + "c" * s.cache
            + "." * s.free
        )
