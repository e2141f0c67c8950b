"""Free page reporting: the buddy allocator, the reporting worker, virtio-balloon and QEMU.

The product's model of free page reporting (kernel-facts §1, §2.6-2.7, §5.2, §6). It follows

* the buddy allocator, mm/page_alloc.c: ``__rmqueue_smallest`` -> ``page_del_and_expand`` /
  ``expand`` (allocation takes the head off its list, which clears PG_reported in
  ``__del_page_from_free_list``; the split-off halves go back *unreported*) and
  ``__free_one_page`` (merging removes the buddy through ``__del_page_from_free_list``, so a
  merged block is unreported; at the end ``page_reporting_notify_free(order)`` on the
  *merged* order, a no-op below the reporting order);
* the reporting core, mm/page_reporting.c: the device's state word IDLE / REQUESTED /
  ACTIVE (``__page_reporting_request``: fast path on REQUESTED, ``atomic_xchg`` to
  REQUESTED, schedule the work only if the old value was IDLE; ``page_reporting_process``:
  ``atomic_set(ACTIVE)``, the pass, then ``atomic_cmpxchg(ACTIVE, IDLE)`` and a requeue if
  it found REQUESTED); the pass (``page_reporting_process_zone`` / ``page_reporting_cycle``)
  walks the free lists from the reporting order up, skips PageReported blocks, isolates
  unreported ones (``__isolate_free_page``) into a scatterlist of ``capacity`` entries, calls
  ``report()`` when the scatterlist is full and another unreported block is found, and once
  more for the leftovers at the end; ``page_reporting_drain`` puts every block back with
  ``__putback_isolated_page`` (it may merge; no new notify) and sets PG_reported only if
  the report succeeded *and* the block is still a buddy head of the same order;
* the driver, drivers/virtio/virtio_balloon.c ``virtballoon_free_page_report``:
  ``virtqueue_add_inbuf`` (may fail: the pages go back unreported), kick, and
  ``wait_event(..., virtqueue_get_buf())`` -- the report is synchronous, the pages stay
  isolated until the host acknowledged them; ``virtballoon_validate`` disables REPORTING
  when the guest poisons or initialises free pages but PAGE_POISON is not negotiated;
* the device, QEMU hw/virtio/virtio-balloon.c ``virtio_balloon_handle_report``: pop the
  buffer, discard the ranges (``ram_block_discard_range``) unless ``poison_val != 0``, push
  and notify. The host may answer as late as it likes (the virtqueue of
  :mod:`hintspec.lang.virtqueue`, one buffer: a report is synchronous).

Page content is tracked per frame, abstractly (``Content``): UNDEF (any value: stale data the
guest no longer needs, or never-initialised memory; zero is one of its values, so a discard
leaves it UNDEF), ZERO, POISON (the PAGE_POISON pattern), DATA (the current owner's data)
and LOST (the owner's data, discarded by the host: it reads back zero or stale). The host's
discard mode is a config: MADV_DONTNEED reads back zero; MADV_FREE reads back the old data
or zero, chosen nondeterministically per frame at discard time (a later guest write would
cancel the lazy free; the model's guest reads a page only at allocation, so fixing the
outcome at discard time loses nothing it can observe).

Two designs of the "the host has this block" mark:

* ``upstream`` -- PG_reported, as above;
* ``offline`` -- the Offline design of the first seed (Duyck's "aeration" RFC, May-Jun 2019,
  kernel-facts §5.2: an Offline page type on a Buddy page): the mark is dropped when the
  block leaves the buddy; on the way back from a report the block carries the mark into
  ``__free_one_page``, where two Offline buddies merge into an Offline block and an Offline
  and an unmarked one into an unmarked block. (The RFC v1 code itself was more
  conservative -- patch 4/6 clears the mark on any merge, "assume buddy is not aerated" --
  which is upstream's rule; the seed's rule keeps more marks and must keep their meaning.)

What the checks found about the two designs: under upstream's worker two marked buddies
never meet. A block and its buddy are never isolated in the same batch (a free merges with a
free buddy at once, and a list is walked again only after the batch was drained), so the
Offline merge rule never fires, and the two designs have the same state graph at every
configuration checked (the tests assert it at the default one).

Both must keep the meaning of the mark: every frame of a marked block was handed to the host
and not written since. Two ghost variables (history only, never read by an action) make such
claims checkable: ``handed`` (frames the host processed in a report and the guest has not
written since) and ``acked`` (blocks the host acknowledged that stayed free and unchanged).

Abstracted away, and why:

* one zone, one migratetype, no per-cpu page lists (a pcp free is a later ``__free_one_page``),
  no watermarks (the gate in ``page_reporting_process_zone`` and ``__isolate_free_page``
  only skip work; the liveness checks assume a pass does its work), no
  PAGE_REPORTING_DELAY (time is not modelled: the delayed work is "queued"). The budget
  *is* modelled (``budget = DIV_ROUND_UP(nr_free, capacity * 16)`` per cycle; when it is
  spent the cycle sets REQUESTED and leaves the list): without it a pass can be kept busy
  for ever by frees on the list it walks, and a pending request is never served by a new
  pass (variant ``no_budget``, the first upstream snapshot);
* list positions: a free list is a set of heads; where the kernel takes "the first entry"
  (allocation, isolation) the model lets any block of that list be taken, a superset of the
  orders that head/tail insertion, rotation and shuffling can produce;
* one locked ``page_reporting_cycle`` is one step (``walk``); lists with nothing to isolate are
  passed over in the step that reaches the next list that has something; the failure path of
  ``report()`` and the drain that follows it (under the zone lock, no one can see the
  isolated pages in between) are one step;
* the allocator's clients allocate order 0..``max_alloc_order``, write the block, and free it;
* liveness needs a guest that stops: ``quiesce`` ends all client activity and report
  failures for good (the environment's faults stop), after which only the worker and the
  host move. Worker and host actions are weakly fair: the work item runs once queued, the
  host answers every report.

What the liveness checks found: with a request pending when the guest goes quiet, every free
block at or above the reporting order is reported. Without one (the literal wording of
issue 4, "with no further frees") upstream does not guarantee it: ``expand()`` puts the split
halves of a reported block back unreported without a notify, and a failed report is not
retried (§1.6); such blocks wait for the next qualifying free. The witness "upstream's gap"
shows the shortest way there (a reachable terminal state with an unreported block).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from enum import IntEnum

from hintspec.lang.model import Args, Check, Model, action, always, leads_to, sometimes
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
    """Walking the free lists from ``order`` up (``page_reporting_cycle``)."""
    REPORT = 2
    """The scatterlist is ready: call ``report()``."""
    WAIT = 3
    """``report()`` added the buffer and waits for the host's ack."""
    END = 4
    """The pass is over: ``atomic_cmpxchg`` the state word next."""


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
    """MADV_DONTNEED: the page reads back as zero."""
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
    frames: int = 4
    """Page frames, a power of two; the top order is log2(frames) (MAX_PAGE_ORDER)."""
    report_order: int = 1
    """``page_reporting_order``: the notify threshold and the lowest list the pass walks."""
    capacity: int = 1
    """PAGE_REPORTING_CAPACITY: scatterlist entries per ``report()`` (32 in the kernel)."""
    max_alloc_order: int = 1
    """Clients allocate blocks of order 0..max_alloc_order."""
    discard: Discard = Discard.DONTNEED
    free_init: FreeInit = FreeInit.NONE
    page_poison: bool = True
    """The device offers VIRTIO_BALLOON_F_PAGE_POISON (negotiated only if the guest poisons
    or initialises free pages, ``virtballoon_validate``)."""
    report_errors: bool = True
    """``virtqueue_add_inbuf`` may fail (a fault; the pages go back unreported)."""
    may_quiesce: bool = True
    """The guest may go quiet (``quiesce``): needed by the liveness properties; off for long
    random runs, which would otherwise mostly end early in the quiet phase."""
    variant: str = "upstream"

    def __post_init__(self) -> None:
        if self.frames < 2 or self.frames & (self.frames - 1):
            raise ValueError(f"frames must be a power of two >= 2, not {self.frames}")
        top = self.frames.bit_length() - 1
        if not 0 <= self.report_order <= top:
            raise ValueError(f"report_order must be in 0..{top}, not {self.report_order}")
        if not 0 <= self.max_alloc_order <= top:
            raise ValueError(f"max_alloc_order must be in 0..{top}, not {self.max_alloc_order}")
        if self.capacity < 1:
            raise ValueError(f"capacity must be >= 1, not {self.capacity}")


@dataclass(frozen=True)
class State:
    free_area: tuple[tuple[int, ...], ...]
    """``zone->free_area[order]``: the heads on each order's free list (PageBuddy)."""
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
    order: int
    """The free list the pass walks next (or resumes after the drain); top+1: leftovers."""
    budget: int | None
    """The budget left to the cycle the pass resumes after a report (None: a new cycle)."""
    sgl: tuple[Block, ...]
    """The scatterlist: isolated blocks, in scatterlist index order."""
    err: bool
    """The pass ends because ``report()`` failed."""
    vq: Virtqueue
    """``reporting_vq``; a buffer is a scatterlist as (head, order, head, order, ...)."""
    phase: Phase
    handed: frozenset[int]
    """Ghost: frames the host processed in a report and the guest has not written since."""
    acked: frozenset[Block]
    """Ghost: blocks the host acknowledged that stayed free and unchanged since."""


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


class PageReporting(Model[Config, State]):
    """Free page reporting: buddy allocator, reporting worker, virtio-balloon, QEMU."""

    name = "page_reporting"
    variants = {
        "upstream": "mm/page_reporting.c as merged in v5.7 (Duyck v17), PG_reported mark",
        "offline": (
            "the Offline design of the first seed (Duyck's aeration RFC, kernel-facts §5.2): "
            "the mark survives merging two marked buddies"
        ),
        "alloc_keeps_reported": (
            "allocation does not clear PG_reported (the __del_page_from_free_list clear, "
            "kernel-facts §1.2, missing): an allocated page still claims the host has it"
        ),
        "merge_keeps_reported": (
            "merging in __free_one_page does not clear the buddy's PG_reported: the merged "
            "block, or a frame inside it, keeps a stale mark"
        ),
        "reuse_before_ack": (
            "report() returns without waiting for the host's ack (no wait_event/"
            "virtqueue_get_buf), so the drain hands the pages back while the host may still "
            "discard them (virtio spec: MUST NOT use reported pages before the ack)"
        ),
        "isolate_ignores_cap": (
            "the pass isolates every unreported block without the PAGE_REPORTING_CAPACITY "
            "cap: the unbounded isolation of the per-cpu/per-zone batches of the pre-upstream "
            "designs (kernel-facts §5.3 item 1)"
        ),
        "walk_ignores_reported": (
            "page_reporting_cycle without its 'skip PageReported' test: blocks the host "
            "already has are reported again"
        ),
        "no_leftover_report": (
            "page_reporting_process_zone without the leftover report: a partly filled "
            "scatterlist is freed at the end of the pass with its pages in it"
        ),
        "no_budget": (
            "the first upstream snapshot (mm/page_reporting.c @02cf8719, kernel-facts PR-5.7) "
            "before 'mm/page_reporting: Add budget limit on how many pages can be reported per "
            "pass': a cycle re-walks its list after every report, so frees on that list keep "
            "the pass going for ever and a request made during it is never served by a new pass"
        ),
        "atomic_set_idle": (
            "the worker ends its pass with atomic_set(IDLE) instead of atomic_cmpxchg(ACTIVE, "
            "IDLE): a notify during the pass is lost -- Mel Gorman's objection to the v13-era "
            "request tracking (kernel-facts §1.8)"
        ),
        "no_poison_check": (
            "virtballoon_validate before fb69c2c896fc ('virtio-balloon: Disable free page "
            "reporting if page poison reporting is not enabled'): reporting stays on when the "
            "guest poisons free pages but PAGE_POISON is not negotiated (needs "
            "free_init=POISON page_poison=false)"
        ),
        "offline_mixed_merge": (
            "the Offline design with the merge rule the other way round: an Offline and an "
            "unmarked buddy merge into an Offline block (the list rules Dave Hansen found "
            "unclear in the aeration review, kernel-facts §5.2)"
        ),
    }
    designs = frozenset({"offline"})
    reference_config = {"report_order": 0, "max_alloc_order": 2, "discard": Discard.FREE}
    """Every order reportable (mid-list reports, the budget), allocations up to the top order,
    MADV_FREE: 50,606 states. Eight frames are out of exhaustive reach in Python (more than
    400,000 states by depth 26 at reporting order 2)."""
    hypothesis_config = {
        "frames": 256,
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
        self.top = config.frames.bit_length() - 1
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

    def initial_states(self) -> Iterator[State]:
        # All memory is one free, unreported block; page_reporting_register() has just made
        # its initial request (state REQUESTED, the work queued).
        free_area = tuple((0,) if o == self.top else () for o in range(self.top + 1))
        yield State(
            free_area=free_area,
            reported=frozenset(),
            allocated=frozenset(),
            content=(self.freed_content,) * self.config.frames,
            word=Word.REQUESTED if self.reporting else Word.IDLE,
            work_queued=self.reporting,
            pc=Pc.OFF,
            order=self.config.report_order,
            budget=None,
            sgl=(),
            err=False,
            vq=Virtqueue(size=1),
            phase=Phase.RUNNING,
            handed=frozenset(),
            acked=frozenset(),
        )

    def is_terminal(self, s: State) -> bool:
        """The guest is quiet and the worker has nothing left to do."""
        return s.phase is Phase.QUIET and s.pc is Pc.OFF and not s.work_queued

    # -- the buddy allocator ---------------------------------------------------------------

    def _free_one_page(
        self,
        lists: list[set[int]],
        reported: set[int],
        acked: set[Block],
        head: int,
        order: int,
        mark: bool,
    ) -> tuple[int, int, bool, bool]:
        """``__free_one_page``: add a block to the free lists, merging with free buddies.
        ``mark``: the block comes back with the Offline mark (offline design). Returns the
        resulting head, order, whether it merged, and whether the result keeps the mark."""
        merged = False
        while order < self.top:
            buddy = head ^ (1 << order)
            if buddy not in lists[order]:
                break
            # __del_page_from_free_list(buddy): clears its mark (and it is no longer the
            # block the host acknowledged).
            lists[order].discard(buddy)
            buddy_marked = buddy in reported
            if self.variant != "merge_keeps_reported":
                reported.discard(buddy)
            acked.discard((buddy, order))
            if self.variant == "offline_mixed_merge":
                mark = mark or buddy_marked
            else:
                mark = mark and buddy_marked
            head &= buddy
            order += 1
            merged = True
        lists[order].add(head)
        return head, order, merged, mark

    def _request(self, word: Word, queued: bool) -> tuple[Word, bool]:
        """``__page_reporting_request``: xchg to REQUESTED; queue the work if it was IDLE."""
        if word is Word.REQUESTED:
            return word, queued
        return Word.REQUESTED, queued or word is Word.IDLE

    @action("mm/page_alloc.c: __rmqueue_smallest -> page_del_and_expand, expand")
    def alloc(self, s: State) -> Iterator[tuple[Args, State]]:
        """Take a block of the smallest non-empty order >= the request; split it down."""
        if s.phase is not Phase.RUNNING:
            return
        for want in range(self.config.max_alloc_order + 1):
            found = next((o for o in range(want, self.top + 1) if s.free_area[o]), None)
            if found is None:
                continue
            for head in s.free_area[found]:
                lists = [set(heads) for heads in s.free_area]
                reported = set(s.reported)
                lists[found].discard(head)
                if self.variant != "alloc_keeps_reported":
                    reported.discard(head)
                order = found
                while order > want:  # expand(): the upper halves go back unreported
                    order -= 1
                    lists[order].add(head + (1 << order))
                yield (
                    {"order": want, "head": head},
                    replace(
                        s,
                        free_area=_freeze(lists),
                        reported=frozenset(reported),
                        allocated=s.allocated | {(head, want)},
                        acked=s.acked - {(head, found)},
                    ),
                )

    @action("client: writes the block it allocated")
    def write(self, s: State) -> Iterator[tuple[Args, State]]:
        if s.phase is not Phase.RUNNING:
            return
        for block in sorted(s.allocated):
            if self._written(s, block):
                continue
            content = list(s.content)
            for f in block_frames(block):
                content[f] = Content.DATA
            yield (
                {"head": block[0], "order": block[1]},
                replace(s, content=tuple(content), handed=s.handed - set(block_frames(block))),
            )

    @action(
        "mm/page_alloc.c: __free_one_page -> page_reporting_notify_free; "
        "mm/page_reporting.c: __page_reporting_request"
    )
    def free(self, s: State) -> Iterator[tuple[Args, State]]:
        """Free a written block: poison or zero it as configured, merge, and notify if the
        merged block reaches the reporting order."""
        if s.phase is not Phase.RUNNING:
            return
        for block in sorted(s.allocated):
            if not self._written(s, block):
                continue
            content = list(s.content)
            for f in block_frames(block):
                content[f] = self.freed_content
            lists = [set(heads) for heads in s.free_area]
            reported, acked = set(s.reported), set(s.acked)
            _, order, _, _ = self._free_one_page(lists, reported, acked, *block, mark=False)
            word, queued = s.word, s.work_queued
            if self.reporting and order >= self.config.report_order:
                word, queued = self._request(word, queued)
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
                ),
            )

    def _written(self, s: State, block: Block) -> bool:
        return s.content[block[0]] in (Content.DATA, Content.LOST)

    # -- the reporting worker --------------------------------------------------------------

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
                    order=self.config.report_order,
                ),
            )

    @action(
        "mm/page_reporting.c: page_reporting_cycle -> mm/page_alloc.c: __isolate_free_page",
        fair="weak",
    )
    def walk(self, s: State) -> Iterator[tuple[Args, State]]:
        """One locked cycle over the next free list with unreported blocks: isolate them
        into the scatterlist; when it is full and one more is found, report first (or, with
        the cycle's budget spent, set REQUESTED and leave the list)."""
        if s.pc is not Pc.WALK:
            return
        room = self.config.capacity - len(s.sgl)
        if self.variant == "isolate_ignores_cap":
            room = self.config.frames
        for order in range(s.order, self.top + 1):
            heads = sorted(
                h
                for h in s.free_area[order]
                if h not in s.reported or self.variant == "walk_ignores_reported"
            )
            if not heads:
                continue
            budget = s.budget if order == s.order else None
            if budget is None and self.variant != "no_budget":
                # budget = DIV_ROUND_UP(area->nr_free, PAGE_REPORTING_CAPACITY * 16)
                budget = -(-len(s.free_area[order]) // (self.config.capacity * 16))
            if budget is not None and budget < 0:
                yield (
                    {"order": order, "isolate": (), "then": "budget spent"},
                    replace(s, word=Word.REQUESTED, order=order + 1, budget=None),
                )
                return
            spent = None if budget is None else budget - 1
            if room <= 0:
                yield (
                    {"order": order, "isolate": (), "then": "report"},
                    replace(s, pc=Pc.REPORT, order=order, budget=spent),
                )
                return
            if len(heads) <= room:
                yield (
                    {"order": order, "isolate": tuple(heads), "then": "walk"},
                    self._isolate(s, order, heads, Pc.WALK, order + 1, None),
                )
                return
            for chosen in itertools.combinations(heads, room):
                yield (
                    {"order": order, "isolate": chosen, "then": "report"},
                    self._isolate(s, order, chosen, Pc.REPORT, order, spent),
                )
            return
        # Every list walked: report the leftovers, or end the pass.
        if s.sgl and self.variant != "no_leftover_report":
            yield (
                {"order": "all walked", "isolate": (), "then": "report"},
                replace(s, pc=Pc.REPORT, order=self.top + 1, budget=None),
            )
        else:
            yield (
                {"order": "all walked", "isolate": (), "then": "end"},
                replace(s, pc=Pc.END, order=self.config.report_order, budget=None),
            )

    def _isolate(
        self,
        s: State,
        order: int,
        heads: Iterable[int],
        pc: Pc,
        resume: int,
        budget: int | None,
    ) -> State:
        """``__isolate_free_page`` for each head (off the list, mark cleared), then
        ``sg_set_page(&sgl[--offset])``: later entries go in front."""
        lists = [set(h) for h in s.free_area]
        sgl = list(s.sgl)
        for head in heads:
            lists[order].discard(head)
            sgl.insert(0, (head, order))
        return replace(
            s,
            free_area=_freeze(lists),
            reported=s.reported - set(heads),
            sgl=tuple(sgl),
            pc=pc,
            order=resume,
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

    @action("hw/virtio/virtio-balloon.c: virtio_balloon_handle_report", fair="weak")
    def host_report(self, s: State) -> Iterator[tuple[Args, State]]:
        """Pop the report, discard its ranges unless poison_val != 0, push (the ack)."""
        popped = s.vq.pop()
        if popped is None:
            return
        buf, vq = popped
        _, vq = vq.push(len(vq.inflight) - 1)
        frames = sorted(f for block in _sg_blocks(buf) for f in block_frames(block))
        handed = s.handed | set(frames)
        if not self.host_discards:
            yield {"discard": False, "zeroed": ()}, replace(s, vq=vq, handed=handed)
            return
        changes = [f for f in frames if s.content[f] in _READS_BACK_ZERO]
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
                replace(s, vq=vq, handed=handed, content=tuple(content)),
            )

    @action(
        "virtballoon_free_page_report (virtqueue_get_buf) -> "
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
                return
            vq = got[1]
        yield {"nents": len(s.sgl)}, self._drain(replace(s, vq=vq), ok=True)

    def _drain(self, s: State, *, ok: bool) -> State:
        """``page_reporting_drain(prdev, sgl, nents, ok)``."""
        lists = [set(h) for h in s.free_area]
        reported, acked = set(s.reported), set(s.acked)
        for block in s.sgl:
            acked.discard(block)
            head, _, merged, keep = self._free_one_page(
                lists, reported, acked, *block, mark=ok and self.offline_design
            )
            if self.offline_design:
                if keep:
                    reported.add(head)
            elif ok and not merged:  # PageBuddy(page) && buddy_order(page) == order
                reported.add(head)
            if ok and not merged:
                acked.add(block)
        budget = s.budget
        if not ok or s.order > self.top:
            pc, resume, budget = Pc.END, self.config.report_order, None
        else:
            pc, resume = Pc.WALK, s.order
        return replace(
            s,
            free_area=_freeze(lists),
            reported=frozenset(reported),
            acked=frozenset(acked),
            sgl=(),
            pc=pc,
            order=resume,
            budget=budget,
            err=not ok,
        )

    @action(
        "mm/page_reporting.c: page_reporting_process (atomic_cmpxchg ACTIVE -> IDLE, requeue)",
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
            replace(
                s,
                word=word,
                work_queued=queued,
                pc=Pc.OFF,
                order=self.config.report_order,
                sgl=(),
                err=False,
            ),
        )

    @action("environment: the guest stops allocating and freeing; reports stop failing")
    def quiesce(self, s: State) -> Iterator[tuple[Args, State]]:
        if s.phase is Phase.RUNNING and self.config.may_quiesce:
            yield {}, replace(s, phase=Phase.QUIET)

    # -- safety ----------------------------------------------------------------------------

    def free_blocks(self, s: State) -> list[Block]:
        """Every block on a free list, by order then head."""
        return [(h, o) for o, heads in enumerate(s.free_area) for h in heads]

    @always("no page is lost or owned twice")
    def ownership(self, s: State) -> Check:
        return memory.ownership(
            self.config.frames,
            {"free": self.free_blocks(s), "allocated": s.allocated, "isolated": s.sgl},
        )

    @always("a reported page is a free buddy head")
    def reported_is_free_head(self, s: State) -> Check:
        stray = sorted(s.reported - {h for heads in s.free_area for h in heads})
        if stray:
            h = stray[0]
            return (
                f"frame {h} carries {self.mark} but is not a free buddy head ({self._where(s, h)})"
            )
        return True

    @always("at most capacity blocks are isolated")
    def isolation_capped(self, s: State) -> Check:
        return hinting.in_flight_cap(s.sgl, self.config.capacity, "isolated for reporting")

    @always("a reported page goes back to the allocator only after the host acked it")
    def ack_before_reuse(self, s: State) -> Check:
        unacked = [b for buf in s.vq.avail + s.vq.inflight for b in _sg_blocks(buf)]
        held = {f for block in s.sgl for f in block_frames(block)}
        return hinting.ack_before_reuse(unacked, held, lambda f: self._where(s, f))

    @always("the host never discards data the guest is using")
    def no_data_loss(self, s: State) -> Check:
        for f, c in enumerate(s.content):
            if c is Content.LOST:
                return (
                    f"frame {f} ({self._where(s, f)}) held its owner's data and the host "
                    "discarded it: it reads back zero"
                )
        return True

    @always("a free page reads back what page poisoning wrote")
    def poison_kept(self, s: State) -> Check:
        if self.config.free_init is FreeInit.NONE:
            return True
        for block in self.free_blocks(s) + list(s.sgl):
            for f in block_frames(block):
                if s.content[f] is not self.freed_content:
                    return (
                        f"free frame {f} reads back {s.content[f].name}, but the guest wrote "
                        f"{self.freed_content.name} when it freed it (the next allocation "
                        "finds the page corrupted)"
                    )
        return True

    @always("a block is not reported again while it stays free and unmerged")
    def no_double_hint(self, s: State) -> Check:
        return hinting.no_double_hint(s.sgl, s.acked)

    @always("every frame of a marked block was handed to the host and not written since")
    def mark_meaning(self, s: State) -> Check:
        marked = [b for b in self.free_blocks(s) if b[0] in s.reported]
        return hinting.mark_is_meaningful(marked, s.handed, self.mark)

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
        return "in no block"

    # -- witnesses -------------------------------------------------------------------------
    # A witness whose event the configuration rules out (report_errors=false: no report
    # fails; may_quiesce=false: the guest never goes quiet) is not applicable there and
    # counts as witnessed in the initial state, so such configs -- used to let random runs
    # reach a bad variant's violation -- do not list it as vacuous.

    @sometimes("a block gets reported")
    def some_reported(self, s: State) -> bool:
        return bool(s.reported)

    @sometimes("a reported block is allocated again")
    def reported_reused(self, s: State) -> bool:
        return any(f in s.handed for block in s.allocated for f in block_frames(block))

    @sometimes("a report fails and its pages go back unreported")
    def report_failed(self, s: State) -> bool:
        return s.err or not self.config.report_errors

    @sometimes("a notify arrives during a pass")
    def notify_during_pass(self, s: State) -> bool:
        return s.word is Word.REQUESTED and s.pc is not Pc.OFF

    @sometimes("the guest goes quiet with a request pending")
    def quiet_with_request(self, s: State) -> bool:
        if not self.config.may_quiesce:
            return True
        return s.phase is Phase.QUIET and s.word is Word.REQUESTED

    @sometimes(
        "upstream's gap: the worker stops for good with a free block at or above the "
        "reporting order unreported"
    )
    def unreported_for_good(self, s: State) -> bool:
        """The literal issue-4 liveness ("with no further frees, every free block at or above
        the reporting order is eventually reported") does not hold upstream: a terminal
        state (nothing enabled) with such a block is reachable. expand() puts the halves of a
        split reported block back unreported without a notify; a failed report is not
        retried (kernel-facts §1.6). Only the next qualifying free reports them."""
        if not self.config.may_quiesce:
            return True
        return self.is_terminal(s) and not self._all_reported(s)

    # -- liveness --------------------------------------------------------------------------

    def _all_reported(self, s: State) -> bool:
        """Nothing isolated, and every free block at or above the reporting order marked."""
        if s.sgl:
            return False
        return all(
            h in s.reported
            for o in range(self.config.report_order, self.top + 1)
            for h in s.free_area[o]
        )

    def _pending_when_quiet(self, s: State) -> bool:
        return s.phase is Phase.QUIET and s.word is Word.REQUESTED

    def _requested(self, s: State) -> bool:
        return s.word is Word.REQUESTED

    @leads_to(
        "once the guest is quiet with a request pending, every free block at or above the "
        "reporting order gets reported",
        when=_pending_when_quiet,
    )
    def all_reported(self, s: State) -> bool:
        return self._all_reported(s)

    @leads_to("a notify is never lost: a pending request is served by a new pass", when=_requested)
    def request_served(self, s: State) -> bool:
        return s.word is Word.ACTIVE

    # -- rendering -------------------------------------------------------------------------

    def frame_map(self, s: State) -> str:
        frames = self.config.frames
        claims = memory.owners(
            {"f": self.free_blocks(s), "a": sorted(s.allocated), "I": list(s.sgl)}, frames
        )
        marked = {
            f
            for b in self.free_blocks(s)
            if b[0] in s.reported
            for f in memory.frames_within(b, frames)
        }
        cells = []
        for f in range(self.config.frames):
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
        return "".join(cells)

    def _worker(self, s: State) -> str:
        if s.pc is Pc.WALK:
            where = f"from order {s.order}" if s.order <= self.top else "past the last list"
        elif s.pc in (Pc.REPORT, Pc.WAIT):
            where = "leftovers" if s.order > self.top else f"mid-list, order {s.order}"
        else:
            return s.pc.name
        budget = "" if s.budget is None else f", budget {s.budget}"
        return f"{s.pc.name} ({where}{budget})"

    def view(self, s: State) -> dict[str, object]:
        lists = "  ".join(
            f"order {o}: [{', '.join(map(str, heads))}]"
            for o, heads in enumerate(s.free_area)
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
            "handed": s.handed,
            "acked": frozenset(fmt_block(b) for b in s.acked),
        }


def _fmt_sg(buf: Buffer) -> str:
    return "[" + ", ".join(fmt_block(b) for b in _sg_blocks(buf)) + "]"


def _freeze(lists: list[set[int]]) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(sorted(heads)) for heads in lists)
