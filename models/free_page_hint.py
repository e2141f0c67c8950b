"""FREE_PAGE_HINT during live migration: the guest hints free pages, the host skips them.

Sources (the code as read, each cited by file and function):

* Guest, drivers/virtio/virtio_balloon.c: ``virtballoon_changed`` (config interrupt: set
  CONFIG_READ_CMD_ID, queue the work); ``virtio_balloon_cmd_id_received`` (re-reads the
  config only when that bit is set); ``report_free_page_func`` (DONE: give every hinted
  block back; a new id that is not STOP: ``virtio_balloon_report_free_page``);
  ``send_cmd_id_start`` (detach used buffers, ``cmd_id_active = received``, add an outbuf
  with the id); ``send_free_pages`` (loop while ``cmd_id_active == received``:
  ``get_free_page_and_send``: detach used buffers, ``alloc_pages(MAX_ORDER)``, NULL ends the
  round with -EINTR, add the block as an inbuf if ``vq->num_free > 1`` -- one slot stays for
  the stop id -- else free it again at once); ``send_cmd_id_stop``; the shrinker
  (``virtio_balloon_shrinker_scan`` -> ``return_free_pages_to_mm``) may give hinted blocks
  back at any time.
* Host, hw/virtio/virtio-balloon.c: ``virtio_balloon_free_page_hint_notify`` (precopy
  notifier: nothing if ``migrate_postcopy_ram()`` -- fd51e54fa102; BEFORE_BITMAP_SYNC ->
  ``virtio_balloon_free_page_stop``; AFTER_BITMAP_SYNC -> ``..._free_page_start`` (id + 1,
  S_REQUESTED) if the VM runs, else ``..._free_page_done``); ``virtio_balloon_get_config``
  (REQUESTED shows the id, STOP 0, DONE 1, START 0); ``get_free_page_hints`` (iothread,
  blocked while the VM is stopped: an outbuf with the current id in S_REQUESTED -> S_START;
  any outbuf in S_START -> S_STOP; inbufs only in S_START go to
  ``qemu_guest_free_page_hint``).
* Host, migration/ram.c: ``qemu_guest_free_page_hint`` (while migration runs: clear the
  range in ``rb->bmap``; since 3143577d6a3f also
  ``migration_clear_memory_region_dirty_bitmap_range``);
  ``migration_bitmap_sync`` (KVM_GET_DIRTY_LOG into the bitmap); ``ram_save_host_page``
  (``migration_bitmap_clear_dirty``: clear the KVM log of the chunk first -- lazily, per
  ``clear_bmap`` -- then send the page); accel/kvm/kvm-all.c ``kvm_log_clear_one_slot``
  (KVM_CLEAR_DIRTY_LOG with QEMU's copy of the bitmap from the last GET as the mask; a no-op
  unless manual dirty-log protection is on).

Dirty logging, two KVM modes (``Config.manual_protect``):

* classic: KVM_GET_DIRTY_LOG returns the dirty bits, clears them and write-protects the
  pages again: after a sync the bits live only in the migration bitmap;
* manual protect (KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, QEMU's default where available): GET
  leaves the bits set and the pages writable; KVM_CLEAR_DIRTY_LOG (with the GET copy as the
  mask) clears them and write-protects. A page dirty at GET and written again before its
  CLEAR is not logged a second time; QEMU relies on sending the page after the CLEAR.

Designs and variants (``Config.variant``):

* ``qemu_bmap_only`` -- a hint clears only the migration bitmap (QEMU up to 6.0; and any
  QEMU without manual protection, where the memory-region clear is a no-op). The default,
  the fixed design: every property holds in both KVM modes.
* ``qemu_clear_log`` -- QEMU 6.1+ (3143577d6a3f "migration: clear the memory region dirty
  bitmap when skipping free pages"): the hint also clears the page's KVM dirty log. With
  manual protection a page that was dirty at the sync, hinted, given back by the shrinker,
  reused and written before the device processed the hint loses that write (the brief's
  "a hint clears a page from the dirty bitmap although the guest reused and wrote it after
  the bitmap sync"). **Hypothesis from the code; not confirmed on a running QEMU.**
* ``stale_cmd_id`` (bad) -- the device starts on an outbuf with any command id, so hints
  sent for an earlier round are honoured after a newer sync (SPEC: the device MUST ignore
  pages sent with a non-current id). Loses data with classic dirty logging; with manual
  protection the KVM log still holds the bit and the next sync repairs it.
* ``hint_with_postcopy`` (bad) -- hinting runs although postcopy is possible (before
  fd51e54fa102): a hinted, never-sent page faults on the postcopy destination and the
  request is never served ("the faulting thread will stall until postcopy migration
  finishes").
* ``cleanup_stops`` (bad) -- QEMU before "virtio-balloon: always indicate S_DONE when
  migration fails" (2020, fixing c13c4153f76d, which added FREE_PAGE_HINT): the precopy
  notifier treats PRECOPY_NOTIFY_CLEANUP like BEFORE_BITMAP_SYNC and only stops hinting.
  A migration that fails or is cancelled before the VM stops never sends DONE, so the
  guest keeps every hinted block on ``free_page_list`` (the commit's reproducer: start a
  migration, ``migrate_cancel``, and the guest has almost no free memory left). Only the
  shrinker, under memory pressure, gives them back.

A migration that fails or is cancelled (``Config.cancel``) ends in
``migration/migration.c: migration_cleanup -> migration/savevm.c: qemu_savevm_state_cleanup``,
which runs the precopy notifiers with PRECOPY_NOTIFY_CLEANUP; the fixed device answers with
``virtio_balloon_free_page_done`` (DONE). The VM goes on running on the source, dirty
logging is off (``ram_save_cleanup``), and a later ``migrate`` (``Config.restarts``) starts
from scratch: every page dirty again, a new setup sync and the next command id, while the
driver may still hold, or still be sending, the hints of the cancelled round.

Abstractions: a page is one MAX_ORDER block; its content is abstract -- what matters is
whether the destination's copy is the latest (``fresh``). Allocating a page writes it.
Bitmap clears happen per page (QEMU clears 1 GiB chunks of the KVM log, which only widens
what a clear covers). The migration runs a bounded number of bitmap syncs (``rounds``), then
completes: the VM stops, a last sync, DONE, and the remaining dirty pages are sent. The
host's iothread pops a buffer and acks it in one step, and may stall for ever. Command ids
start at 2 (QEMU starts at 0x80000000; the spec: any id >= 2).

Round accounting (history, read only by the properties): every buffer the driver queues
carries the command id of the round it was sent in (``cmd_id_active``), the stop id and the
hints included. So "no hint of the wrong round is applied" can name the hint the device
honoured under a newer id (``stale_cmd_id`` breaks it in both KVM modes, also where no data
is lost), and "a round's own hints never take the descriptor its stop id needs" can tell
the reserved descriptor (get_free_page_and_send: "There is always 1 entry reserved for the
cmd id to use"; ``no_stop_slot`` breaks it) from a ring still full of an earlier round's
buffers. The queue-full cases of every command the driver sends: a start id that finds the
ring full (the host stalled on the previous round) is dropped with a dev_err and its round
goes on (``virtio_balloon_report_free_page``); the device, still in S_REQUESTED, ignores
that round's hints, and the stop id may then be dropped too -- benign (the next
BEFORE_BITMAP_SYNC stops the device), so the stop-id property excuses it. A hint never
finds the ring full (``num_free > 1``). "A migration that ends leaves the guest a DONE for
its hinted pages" is the successful counterpart of the cancelled case: QEMU sets S_DONE at
the last AFTER_BITMAP_SYNC, with the VM stopped, "so the guest will reuse all hinted pages
once running on the destination" (``completion_stops`` breaks it).

Why the default configuration (2 pages, a ring of 2, one intermediate sync, cancellation
possible) is large enough: with two pages one can be hinted while the other is reused and
rewritten; a ring of two holds a start id and one hint, so the full ring, the driver's busy
loop, the reserved descriptor and a start id finding the ring full are all reached; one
intermediate sync makes two rounds, so a new round is requested while the first round's
hints are still queued, and the device may see the old start id after the new request;
``migration_cancel`` reaches the CLEANUP path with hinted blocks held. Every ``@sometimes``
is witnessed there (``hintspec check free_page_hint``). A new migration after a cancelled
one (``restarts=1``) and a ring of three (a round with several hints) are manifest entries
of their own; postcopy is checked at ``pages=1 postcopy=True``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from enum import IntEnum
from typing import Any

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
from hintspec.lang.virtqueue import Virtqueue

CMD_ID_STOP = 0
CMD_ID_DONE = 1
FIRST_CMD_ID = 2

OUT, IN = 0, 1
"""Ring buffers: ``(OUT, id)`` a start id; ``(OUT, STOP, id)`` a stop id and ``(IN, page,
id)`` a hinted block, each with the command id of the round the driver sent it in
(``cmd_id_active``). The device reads only the id or the page: the round of a stop id or a
hint is a history variable that only the properties read. The last item of every buffer is
its round."""


class Status(IntEnum):
    """``free_page_hint_status`` (hw/virtio/virtio-balloon.c)."""

    STOP = 0
    REQUESTED = 1
    START = 2
    DONE = 3


class Phase(IntEnum):
    """Where the migration is."""

    RUNNING = 0
    """Precopy iterations; the VM runs on the source."""
    COMPLETING = 1
    """The VM is stopped; the last dirty pages are being sent."""
    POSTCOPY = 2
    """The VM runs on the destination; missing pages are fetched on fault."""
    DONE = 3
    """The final copy is done."""
    CANCELLED = 4
    """The migration failed or was cancelled before the VM stopped; the VM runs on."""


@dataclass(frozen=True)
class Config:
    pages: int = 2
    """Guest pages (each a MAX_ORDER block)."""
    ring: int = 2
    """free_page_vq descriptors (the driver needs >= 2: one stays for the stop id)."""
    rounds: int = 1
    """Bitmap syncs the precopy phase may do before it must complete."""
    manual_protect: bool = True
    """KVM manual dirty-log protection (KVM_CLEAR_DIRTY_LOG), QEMU's default."""
    postcopy: bool = False
    """The postcopy-ram capability is set (migration may switch to postcopy)."""
    min_syncs: int = 0
    """Bitmap syncs before the migration may complete or switch to postcopy (QEMU decides
    by the pending size; 0 lets it end at any time). Long random runs need it: otherwise
    most of them complete within a few steps and never reach the hinting path."""
    cancel: bool = True
    """The migration may fail or be cancelled during precopy (``migration_cancel``)."""
    restarts: int = 0
    """New migrations started after a cancelled one."""
    variant: str = "qemu_bmap_only"

    def __post_init__(self) -> None:
        if self.pages < 1 or self.rounds < 0:
            raise ValueError("pages must be >= 1 and rounds >= 0")
        if not 0 <= self.min_syncs <= self.rounds:
            raise ValueError(f"min_syncs must be in 0..rounds ({self.rounds})")
        if self.restarts < 0 or (self.restarts and not self.cancel):
            raise ValueError("restarts must be >= 0, and needs cancel=True")
        if self.ring < 2:
            raise ValueError("ring must be >= 2 (virtballoon_probe: -ENOSPC)")


@dataclass(frozen=True)
class State:
    # guest
    free: frozenset[int]
    used: frozenset[int]
    """Pages in use by the guest: their content matters."""
    hinted: frozenset[int]
    """``free_page_list``: blocks the driver allocated and hinted, held until DONE or the
    shrinker gives them back."""
    cmd_id_active: int
    cmd_id_received: int
    """``cmd_id_received_cache``."""
    read_cmd_id: bool
    """The CONFIG_READ_CMD_ID bit: the next ``virtio_balloon_cmd_id_received`` re-reads."""
    work_queued: bool
    """``report_free_page_work`` is queued."""
    sending: bool
    """The work is inside ``send_free_pages`` (between the start and the stop id)."""
    vq: Virtqueue
    # device
    status: Status
    cmd_id: int
    # migration
    phase: Phase
    syncs: int
    bmap: frozenset[int]
    """The migration bitmap (``rb->bmap``): pages still to send."""
    dirty_log: frozenset[int]
    """KVM's dirty log."""
    get_copy: frozenset[int]
    """QEMU's copy of the last KVM_GET_DIRTY_LOG (``mem->dirty_bmap``): the CLEAR mask."""
    fresh: frozenset[int]
    """Pages in use whose destination copy holds the guest's latest data (a free page's
    content does not matter, and allocating a page writes it, so only pages in use are
    tracked)."""
    received: frozenset[int]
    """Pages the destination has ever received (tracked only when postcopy is possible:
    nothing else reads it)."""
    stalled: int | None
    """A postcopy fault on this page is never served."""
    restarted: int
    """Migrations started after a cancelled one."""
    # history (only the properties read these)
    wrong_round: int | None = None
    """The first page whose hint the device honoured under a command id other than the one
    the driver sent it with."""
    skipped: bool = False
    """A honoured hint took a page out of the migration bitmap (it was not sent for it)."""
    start_dropped: bool = False
    """The current round's start id found no free descriptor (-ENOSPC, logged only)."""
    stop_dropped: bool = False
    """A round's stop id found no free descriptor although only that round's own buffers
    were in the ring."""


class FreePageHint(Model[Config, State]):
    """FREE_PAGE_HINT during live migration: cmd ids, hinted pages, dirty bitmap syncs."""

    name = "free_page_hint"
    variants = {
        "qemu_bmap_only": "a hint clears the migration bitmap only (QEMU <= 6.0; QEMU >= "
        "6.1 without manual dirty-log protection)",
        "qemu_clear_log": "QEMU >= 6.1 (3143577d6a3f): the hint also clears the KVM dirty "
        "log; with manual protection a write after the sync to a reused hinted page is lost "
        "(unconfirmed on a running QEMU)",
        "stale_cmd_id": "the device starts on an outbuf with any command id and honours hints "
        "of an earlier round (virtio spec: MUST ignore pages with a non-current id)",
        "hint_with_postcopy": "hinting runs although postcopy is possible (before "
        "fd51e54fa102): the destination faults on a hinted, never-sent page and stalls",
        "cleanup_stops": "QEMU before 'virtio-balloon: always indicate S_DONE when migration "
        "fails' (2020, fixing c13c4153f76d): a cancelled migration stops hinting without "
        "DONE, and the guest keeps its hinted pages",
        "no_stop_slot": "a plausible slip, not a historical bug: get_free_page_and_send adds "
        "blocks while any descriptor is free, with none reserved for the stop id; the stop id "
        "of a round the host has not drained is dropped (-ENOSPC)",
        "completion_stops": "a plausible slip, not a historical bug: the notifier treats "
        "AFTER_BITMAP_SYNC with the VM stopped like BEFORE_BITMAP_SYNC (stop, no DONE), so "
        "the guest on the destination keeps its hinted pages",
    }
    designs = frozenset({"qemu_bmap_only", "qemu_clear_log"})
    reference_config = {"pages": 2, "ring": 3, "rounds": 2}
    hypothesis_config = {"pages": 32, "ring": 16, "rounds": 8, "min_syncs": 8}
    frame_legend = {
        "u": "in use by the guest, destination up to date",
        "U": "in use, destination stale",
        "f": "free",
        "h": "hinted (on the driver's free_page_list)",
    }

    # -- setup ------------------------------------------------------------------------

    def hinting(self) -> bool:
        """Does the precopy notifier drive hinting? Not when postcopy is possible
        (fd51e54fa102), unless the variant lacks that check."""
        return not self.config.postcopy or self.variant == "hint_with_postcopy"

    def initial_states(self) -> Iterator[State]:
        c = self.config
        pages = frozenset(range(c.pages))
        start = self.hinting()
        # ram_save_setup: every page dirty (bulk stage), dirty logging started (classic
        # write protection, nothing logged yet), the setup sync done; AFTER_BITMAP_SYNC
        # started hinting with the first command id.
        yield State(
            free=pages,
            used=frozenset(),
            hinted=frozenset(),
            cmd_id_active=CMD_ID_STOP,
            cmd_id_received=CMD_ID_STOP,
            read_cmd_id=start,
            work_queued=start,
            sending=False,
            vq=Virtqueue(c.ring),
            status=Status.REQUESTED if start else Status.STOP,
            cmd_id=FIRST_CMD_ID,
            phase=Phase.RUNNING,
            syncs=0,
            bmap=pages,
            dirty_log=frozenset(),
            get_copy=frozenset(),
            fresh=frozenset(),
            received=frozenset(),
            stalled=None,
            restarted=0,
        )

    @staticmethod
    def guest_runs(s: State) -> bool:
        """The VM runs on the source: during precopy, and after a cancelled migration."""
        return s.phase in (Phase.RUNNING, Phase.CANCELLED)

    def is_terminal(self, s: State) -> bool:
        return s.phase is Phase.DONE or s.stalled is not None

    symmetric = True

    def canonical(self, s: State) -> State:
        """Pages are interchangeable: number them by where they are."""
        sig: dict[int, tuple[Any, ...]] = {}
        sets = (s.free, s.used, s.hinted, s.bmap, s.dirty_log, s.get_copy, s.fresh, s.received)
        for p in range(self.config.pages):
            ring = tuple(
                (part, i)
                for part, bufs in enumerate((s.vq.avail, s.vq.inflight, s.vq.used))
                for i, b in enumerate(bufs)
                if b[0] == IN and b[1] == p
            )
            sig[p] = (tuple(p in x for x in sets), ring, s.stalled == p, s.wrong_round == p)
        order = sorted(sig, key=lambda p: (sig[p], p))
        new = {old: i for i, old in enumerate(order)}
        if all(new[p] == p for p in new):
            return s

        def ren(x: frozenset[int]) -> frozenset[int]:
            return frozenset(new[p] for p in x)

        def bufs(b: tuple[tuple[int, ...], ...]) -> tuple[tuple[int, ...], ...]:
            return tuple((IN, new[x[1]], *x[2:]) if x[0] == IN else x for x in b)

        vq = replace(
            s.vq, avail=bufs(s.vq.avail), inflight=bufs(s.vq.inflight), used=bufs(s.vq.used)
        )
        return replace(
            s,
            free=ren(s.free),
            used=ren(s.used),
            hinted=ren(s.hinted),
            vq=vq,
            bmap=ren(s.bmap),
            dirty_log=ren(s.dirty_log),
            get_copy=ren(s.get_copy),
            fresh=ren(s.fresh),
            received=ren(s.received),
            stalled=None if s.stalled is None else new[s.stalled],
            wrong_round=None if s.wrong_round is None else new[s.wrong_round],
        )

    # -- helpers ----------------------------------------------------------------------

    def config_cmd_id(self, s: State) -> int:
        """``virtio_balloon_get_config``: what the guest reads as the command id."""
        if s.status is Status.REQUESTED:
            return s.cmd_id
        if s.status is Status.DONE:
            return CMD_ID_DONE
        return CMD_ID_STOP  # S_STOP, and S_START (the field is left zeroed)

    def _received(self, s: State) -> tuple[int, State]:
        """``virtio_balloon_cmd_id_received``: re-read the config if the bit is set."""
        if s.read_cmd_id:
            rid = self.config_cmd_id(s)
            return rid, replace(s, cmd_id_received=rid, read_cmd_id=False)
        return s.cmd_id_received, s

    @staticmethod
    def _detach_used(s: State) -> State:
        """``while (virtqueue_get_buf(vq, &unused));``: hinted blocks stay on the list."""
        return replace(s, vq=replace(s.vq, used=()))

    @staticmethod
    def _config_irq(s: State) -> State:
        """``virtio_notify_config`` and the guest's ``virtballoon_changed``: set
        CONFIG_READ_CMD_ID and queue the hinting work. Both are idempotent and the config
        is read only later (lazily), so running the handler at once adds no behaviour."""
        return replace(s, read_cmd_id=True, work_queued=True)

    def _notify(self, s: State, status: Status) -> State:
        """Change the status if it differs and raise a config interrupt."""
        if s.status is status:
            return s
        return self._config_irq(replace(s, status=status))

    def _write(self, s: State, page: int) -> State:
        """The guest writes ``page``: KVM logs it; the destination copy is now stale. No
        log without a migration (``ram_save_cleanup`` stopped dirty logging)."""
        if s.phase is Phase.CANCELLED:
            return s
        return replace(s, dirty_log=s.dirty_log | {page}, fresh=s.fresh - {page})

    def _clear_log(self, s: State, page: int) -> State:
        """KVM_CLEAR_DIRTY_LOG for ``page`` with the GET copy as the mask (manual
        protection only; otherwise ``kvm_physical_log_clear`` returns at once)."""
        if not self.config.manual_protect or page not in s.get_copy:
            return s
        return replace(s, dirty_log=s.dirty_log - {page}, get_copy=s.get_copy - {page})

    def _copy(self, s: State, page: int) -> State:
        """The page goes to the destination: its copy there is now the latest."""
        fresh = s.fresh | {page} if page in s.used else s.fresh
        t = replace(s, bmap=s.bmap - {page}, fresh=fresh)
        return replace(t, received=t.received | {page}) if self.config.postcopy else t

    def _sync(self, s: State) -> State:
        """``migration_bitmap_sync``: KVM_GET_DIRTY_LOG into the migration bitmap."""
        bmap = s.bmap | s.dirty_log
        if self.config.manual_protect:
            return replace(s, bmap=bmap, get_copy=s.dirty_log)
        return replace(s, bmap=bmap, dirty_log=frozenset(), get_copy=frozenset())

    # -- the guest's tasks ------------------------------------------------------------

    @action("mm/page_alloc.c: alloc_pages (a task allocates and writes a page)")
    def alloc(self, s: State) -> Iterator[tuple[Args, State]]:
        if not self.guest_runs(s):
            return
        for page in sorted(s.free):
            t = replace(s, free=s.free - {page}, used=s.used | {page})
            yield {"page": page}, self._write(t, page)

    @action("a task writes a page it uses (KVM dirty logging)")
    def write(self, s: State) -> Iterator[tuple[Args, State]]:
        if not self.guest_runs(s):
            return
        for page in sorted(s.used):
            t = self._write(s, page)
            if t != s:
                yield {"page": page}, t

    @action("mm/page_alloc.c: __free_pages (a task frees a page)")
    def free(self, s: State) -> Iterator[tuple[Args, State]]:
        if not self.guest_runs(s):
            return
        for page in sorted(s.used):
            t = replace(s, used=s.used - {page}, free=s.free | {page}, fresh=s.fresh - {page})
            yield {"page": page}, t

    # -- the driver ---------------------------------------------------------------------

    @action("drivers/virtio/virtio_balloon.c: report_free_page_func -> send_cmd_id_start")
    def report_free_page_func(self, s: State) -> Iterator[tuple[Args, State]]:
        """The work runs: DONE gives every hinted block back; a new command id starts a
        round (detach used buffers, ``cmd_id_active = id``, add the id as an outbuf)."""
        if not s.work_queued or s.sending or not self.guest_runs(s):
            return
        rid, t = self._received(replace(s, work_queued=False))
        if rid == CMD_ID_DONE:
            yield {"cmd_id": rid}, replace(t, free=t.free | t.hinted, hinted=frozenset())
        elif rid not in (CMD_ID_STOP, t.cmd_id_active):
            t = self._detach_used(replace(t, cmd_id_active=rid, sending=True))
            added = t.vq.add((OUT, rid))
            # On -ENOSPC the driver logs an error and goes on with the round.
            t = replace(t, start_dropped=added is None)
            yield {"cmd_id": rid}, t if added is None else replace(t, vq=added)
        else:
            yield {"cmd_id": rid}, t

    @action("drivers/virtio/virtio_balloon.c: send_free_pages -> get_free_page_and_send")
    def get_free_page_and_send(self, s: State) -> Iterator[tuple[Args, State]]:
        """One loop iteration while the id is current: detach used buffers, allocate a
        MAX_ORDER block and add it as an inbuf if more than one descriptor is free; else
        free it again at once (the loop goes round: a busy loop while the ring is full)."""
        if not s.sending or not self.guest_runs(s):
            return
        rid, t = self._received(s)
        if rid != t.cmd_id_active or not t.free:
            return  # the loop ends: send_cmd_id_stop
        t = self._detach_used(t)
        # "There is always 1 entry reserved for the cmd id to use."
        reserved = 0 if self.variant == "no_stop_slot" else 1
        if t.vq.num_free > reserved:
            for page in sorted(t.free):
                added = t.vq.add((IN, page, t.cmd_id_active))
                assert added is not None
                u = replace(t, free=t.free - {page}, hinted=t.hinted | {page}, vq=added)
                yield {"page": page}, u
        else:
            yield {"page": None}, t  # alloc_pages, then free_pages: nothing changes

    @action("drivers/virtio/virtio_balloon.c: send_free_pages -> send_cmd_id_stop")
    def send_cmd_id_stop(self, s: State) -> Iterator[tuple[Args, State]]:
        """The round ends -- a new id or STOP was read, or no free block is left
        (-EINTR): detach used buffers, add the STOP id as an outbuf."""
        if not s.sending or not self.guest_runs(s):
            return
        rid, t = self._received(s)
        if rid == t.cmd_id_active and t.free:
            return
        t = self._detach_used(replace(t, sending=False))
        added = t.vq.add((OUT, CMD_ID_STOP, t.cmd_id_active))
        if added is None:
            own = all(b[-1] == t.cmd_id_active for b in t.vq.buffers)
            yield {"cmd_id": rid}, replace(t, stop_dropped=t.stop_dropped or own)
        else:
            yield {"cmd_id": rid}, replace(t, vq=added)

    @action(
        "drivers/virtio/virtio_balloon.c: virtio_balloon_shrinker_scan -> return_free_pages_to_mm"
    )
    def shrinker_scan(self, s: State) -> Iterator[tuple[Args, State]]:
        """Memory pressure: the shrinker gives a hinted block back to the buddy (allowed
        even before the device used its descriptor)."""
        if not self.guest_runs(s):
            return
        for page in sorted(s.hinted):
            yield {"page": page}, replace(s, hinted=s.hinted - {page}, free=s.free | {page})

    # -- the device (QEMU iothread) ---------------------------------------------------

    @action("hw/virtio/virtio-balloon.c: get_free_page_hints -> qemu_guest_free_page_hint")
    def get_free_page_hints(self, s: State) -> Iterator[tuple[Args, State]]:
        """Pop one element and ack it: an outbuf with the current id in REQUESTED starts
        the optimisation, any outbuf in START stops it; an inbuf in START is a hint: its
        page leaves the migration bitmap (and, in ``qemu_clear_log``, the KVM log)."""
        if not self.guest_runs(s):
            return  # the iothread is blocked while the VM is stopped
        got = s.vq.pop()
        if got is None:
            return
        buf, vq = got
        _, vq = vq.push(len(vq.inflight) - 1)
        t = replace(s, vq=vq)
        if buf[0] == OUT:
            cmd = buf[1]
            current = cmd == s.cmd_id or (self.variant == "stale_cmd_id" and cmd >= FIRST_CMD_ID)
            if s.status is Status.REQUESTED and current:
                t = replace(t, status=Status.START)
            elif s.status is Status.START:
                t = replace(t, status=Status.STOP)
            yield {"cmd_id": cmd}, t
            return
        page, sent_in = buf[1], buf[2]
        honoured = s.status is Status.START
        if honoured:
            t = replace(t, bmap=t.bmap - {page}, skipped=s.skipped or page in s.bmap)
            if sent_in != s.cmd_id and s.wrong_round is None:
                t = replace(t, wrong_round=page)
            if self.variant == "qemu_clear_log":
                t = self._clear_log(t, page)
        yield {"page": page, "honoured": honoured}, t

    # -- the migration thread ---------------------------------------------------------

    @action("migration/ram.c: migration_bitmap_sync_precopy (+ precopy notifiers)")
    def migration_bitmap_sync(self, s: State) -> Iterator[tuple[Args, State]]:
        """BEFORE_BITMAP_SYNC stops hinting; KVM_GET_DIRTY_LOG; AFTER_BITMAP_SYNC starts
        a new round with the next command id (S_REQUESTED)."""
        if s.phase is not Phase.RUNNING or s.syncs >= self.config.rounds:
            return
        t = s
        if self.hinting():
            t = self._notify(t, Status.STOP)
        t = self._sync(t)
        if self.hinting():
            t = self._config_irq(replace(t, cmd_id=t.cmd_id + 1, status=Status.REQUESTED))
        yield {"cmd_id": t.cmd_id if self.hinting() else None}, replace(t, syncs=s.syncs + 1)

    @action("migration/ram.c: ram_save_host_page -> migration_bitmap_clear_dirty")
    def ram_save_page(self, s: State) -> Iterator[tuple[Args, State]]:
        """Send a dirty page: clear its KVM log first (manual protection), then copy it."""
        if s.phase is Phase.DONE or s.stalled is not None:
            return
        for page in sorted(s.bmap):
            yield {"page": page}, self._copy(self._clear_log(s, page), page)

    @action("migration/migration.c: migration_completion -> vm_stop, last sync, S_DONE")
    def migration_completion(self, s: State) -> Iterator[tuple[Args, State]]:
        """The VM stops; the last sync (the notifier sets DONE since the VM is stopped)."""
        if s.phase is not Phase.RUNNING or s.syncs < self.config.min_syncs:
            return
        t = self._sync(s)
        if self.hinting():
            ending = Status.STOP if self.variant == "completion_stops" else Status.DONE
            t = self._notify(t, ending)
        yield {}, replace(t, phase=Phase.COMPLETING)

    @action("migration/migration.c: migration_completion (last page sent)")
    def migration_done(self, s: State) -> Iterator[tuple[Args, State]]:
        if s.phase in (Phase.COMPLETING, Phase.POSTCOPY) and not s.bmap:
            yield {}, replace(s, phase=Phase.DONE)

    @action(
        "migration/migration.c: migration_cancel -> migration_cleanup -> "
        "migration/savevm.c: qemu_savevm_state_cleanup (PRECOPY_NOTIFY_CLEANUP)"
    )
    def migration_cancel(self, s: State) -> Iterator[tuple[Args, State]]:
        """The migration fails or is cancelled during precopy: the CLEANUP notifier ends
        hinting with DONE (``virtio_balloon_free_page_done``), or, in ``cleanup_stops``,
        only stops it; dirty logging stops and the destination is gone."""
        if not self.config.cancel or s.phase is not Phase.RUNNING:
            return
        t = replace(
            s,
            phase=Phase.CANCELLED,
            bmap=frozenset(),
            dirty_log=frozenset(),
            get_copy=frozenset(),
            fresh=frozenset(),
            received=frozenset(),
        )
        if self.hinting():
            ending = Status.STOP if self.variant == "cleanup_stops" else Status.DONE
            t = self._notify(t, ending)
        yield {}, t

    @action("migration/migration.c: qmp_migrate -> migration/ram.c: ram_save_setup")
    def migrate_again(self, s: State) -> Iterator[tuple[Args, State]]:
        """A new migration after a cancelled one: every page dirty, dirty logging on, the
        setup sync, whose AFTER_BITMAP_SYNC asks for hints with the next command id."""
        if s.phase is not Phase.CANCELLED or s.restarted >= self.config.restarts:
            return
        t = replace(
            s,
            phase=Phase.RUNNING,
            syncs=0,
            bmap=frozenset(range(self.config.pages)),
            restarted=s.restarted + 1,
        )
        if self.hinting():
            t = self._notify(t, Status.STOP)
            t = self._config_irq(replace(t, cmd_id=t.cmd_id + 1, status=Status.REQUESTED))
        yield {"cmd_id": t.cmd_id if self.hinting() else None}, t

    @action("migration/migration.c: migrate_start_postcopy -> postcopy_start")
    def postcopy_start(self, s: State) -> Iterator[tuple[Args, State]]:
        """Switch to postcopy: the VM stops here, a last sync, the destination discards
        the dirty pages and runs; it faults on every page it has not got."""
        if not self.config.postcopy or s.phase is not Phase.RUNNING:
            return
        if s.syncs < self.config.min_syncs:
            return
        t = self._sync(s)
        if self.hinting():
            t = self._notify(t, Status.DONE)
        yield {}, replace(t, phase=Phase.POSTCOPY)

    @action("migration/postcopy-ram.c: postcopy fault -> ram_save_queue_pages")
    def postcopy_fault(self, s: State) -> Iterator[tuple[Args, State]]:
        """The guest on the destination touches a page it does not have: the source sends
        it if it is still dirty; a page neither dirty nor ever received is never sent."""
        if s.phase is not Phase.POSTCOPY or s.stalled is not None:
            return
        for page in sorted(set(range(self.config.pages)) - s.received):
            if page in s.bmap:
                yield {"page": page, "served": True}, self._copy(s, page)
            else:
                yield {"page": page, "served": False}, replace(s, stalled=page)

    # -- properties ---------------------------------------------------------------------

    @always(
        "after the final copy every page the guest uses holds its latest data",
        trigger="the migration completes",
    )
    def migrated_data(self, s: State) -> Check:
        """When the migration is done, the destination copy of every page in use by the
        guest is the guest's latest write."""
        if s.phase is not Phase.DONE:
            return True
        stale = sorted(s.used - s.fresh)
        if not stale:
            return True
        return (
            f"page {stale[0]} is in use, but the destination holds an older copy: its last "
            "write was never sent"
        )

    @always("a page with unsent data stays marked dirty", unconditional=True)
    def unsent_is_dirty(self, s: State) -> Check:
        """Whenever the guest uses a page whose latest data the destination lacks, the
        migration bitmap or the KVM dirty log still has it (else it is never sent again).
        A cancelled migration has no destination: nothing is owed to it."""
        if s.phase is Phase.CANCELLED:
            return True
        lost = sorted(s.used - s.fresh - s.bmap - s.dirty_log)
        if not lost:
            return True
        return (
            f"page {lost[0]} holds unsent data but is in neither the migration bitmap nor "
            "the KVM dirty log: it will not be sent again"
        )

    @always("the destination never faults on a page that is never sent", unconditional=True)
    def no_postcopy_stall(self, s: State) -> Check:
        """About every state: no vCPU on the destination waits for a page the source will
        never send (only a postcopy fault sets ``stalled``; ``hint_with_postcopy`` gives the
        property its teeth)."""
        if s.stalled is None:
            return True
        return (
            f"the destination faults on page {s.stalled}: it was hinted, never sent, and is "
            "not in the migration bitmap; the vCPU stalls until postcopy ends"
        )

    @always("no hint of the wrong round is applied", trigger="a hint is honoured")
    def hint_of_current_round(self, s: State) -> Check:
        """The device takes a page out of the migration bitmap only for a hint the driver sent
        in the round the device is in (virtio spec: the device MUST ignore pages sent with a
        command id other than the current one). A hint of an earlier round names a page the
        guest may have reused and written before the newer sync."""
        if s.wrong_round is None:
            return True
        return (
            f"the device honoured the hint of page {s.wrong_round} under command id "
            f"{s.cmd_id}, but the driver sent it in an earlier round"
        )

    @always(
        "a migration that ends leaves the guest a DONE for its hinted pages",
        trigger="the migration completes while the guest holds hinted pages",
    )
    def done_before_switchover(self, s: State) -> Check:
        """Once the VM stops for good on the source, the device shows DONE and a config
        interrupt is pending, so the guest, running on the destination, gives every hinted
        block back (hw/virtio/virtio-balloon.c, virtio_balloon_free_page_hint_notify:
        "Set S_DONE before migrating the vmstate, so the guest will reuse all hinted pages
        once running on the destination"). Else the blocks stay on free_page_list for
        ever: only the shrinker would return them."""
        if s.phase not in (Phase.COMPLETING, Phase.POSTCOPY, Phase.DONE) or not s.hinted:
            return True
        if s.status is Status.DONE and s.read_cmd_id and s.work_queued:
            return True
        return (
            f"the VM left the source with hinted blocks {sorted(s.hinted)}, but the device "
            f"shows {s.status.name} (config re-read due: {s.read_cmd_id}): the guest keeps "
            "them on free_page_list"
        )

    @always(
        "a round's own hints never take the descriptor its stop id needs",
        trigger="the ring fills",
    )
    def stop_id_queued(self, s: State) -> Check:
        """get_free_page_and_send adds a block only while more than one descriptor is free
        ("There is always 1 entry reserved for the cmd id to use"), so the buffers of one
        round never leave its stop id without a descriptor. Buffers of an earlier round
        that a stalled host has not popped can: then the start id, and the stop id, are
        dropped with a dev_err (-ENOSPC) -- benign, the device ignores hints without their
        start id, and the next sync stops a device left in S_START."""
        if not s.stop_dropped:
            return True
        return (
            "the round's stop id found no free descriptor although the ring held only that "
            "round's own buffers: its hints took the reserved descriptor"
        )

    @progress(
        "the driver stops spinning on a full ring once the command changes",
        region=lambda self, s: s.sending and s.vq.num_free <= 1,
        fairness={
            "migration_bitmap_sync": "weak",
            "migration_completion": "weak",
        },
    )
    def spin_ends(self, s: State, t: State) -> bool:
        """With no fairness for the iothread (it may stall for ever) but the migration
        thread and the config interrupt eventually running, every busy-loop iteration that
        changes nothing is followed by a step that does."""
        return s != t

    @leads_to(
        "after a cancelled migration the guest gets its hinted pages back",
        when=lambda self, s: s.phase is Phase.CANCELLED and bool(s.hinted),
        fairness={
            # The hinting work runs on balloon_wq and is queued by the config interrupt:
            # a queued work item runs eventually. The shrinker is not fair: memory
            # pressure may never come.
            "report_free_page_func": "weak",
            "send_cmd_id_stop": "weak",
        },
    )
    def hints_returned(self, s: State) -> bool:
        """The cancelled round's blocks go back to the buddy allocator (DONE ->
        ``return_free_pages_to_mm``), unless a new migration takes the round over."""
        return not s.hinted or s.phase is not Phase.CANCELLED

    @sometimes("a migration is cancelled while the guest holds hinted pages")
    def cancelled_with_hints(self, s: State) -> bool:
        return s.phase is Phase.CANCELLED and bool(s.hinted)

    @sometimes("a hint is honoured")
    def hint_honoured(self, s: State) -> bool:
        return s.status is Status.START and bool(s.hinted - s.bmap)

    @sometimes("a honoured hint keeps a dirty page from being sent")
    def hint_skips_send(self, s: State) -> bool:
        return s.skipped

    @sometimes("a new round is requested while hints of an older round are in the ring")
    def rounds_overlap(self, s: State) -> bool:
        if s.status not in (Status.REQUESTED, Status.START):
            return False
        return any(b[0] == IN and b[2] != s.cmd_id for b in s.vq.buffers)

    @sometimes("the migration completes while the guest holds hinted pages")
    def completes_with_hints(self, s: State) -> bool:
        return s.phase is Phase.DONE and bool(s.hinted)

    @sometimes("a hinted page is reused while its hint is in the ring")
    def hint_reused(self, s: State) -> bool:
        queued = {b[1] for b in s.vq.buffers if b[0] == IN}
        return bool(queued & s.used)

    @sometimes("a start id finds the ring full")
    def start_id_dropped(self, s: State) -> bool:
        return s.start_dropped

    @sometimes("the ring fills")
    def ring_fills(self, s: State) -> bool:
        return s.vq.full

    @sometimes("the driver spins on a full ring while the host stalls")
    def driver_spins(self, s: State) -> bool:
        return s.sending and s.vq.num_free <= 1 and bool(s.free) and bool(s.vq.avail)

    @sometimes("the migration completes")
    def completes(self, s: State) -> bool:
        return s.phase is Phase.DONE

    # -- rendering --------------------------------------------------------------------

    def view(self, s: State) -> dict[str, Any]:
        def pages(x: frozenset[int]) -> str:
            return "{" + ",".join(map(str, sorted(x))) + "}"

        def bufs(b: tuple[tuple[int, ...], ...]) -> str:
            out = []
            for x in b:
                out.append(f"id {x[1]}" if x[0] == OUT else f"page {x[1]} (id {x[2]})")
            return "[" + ", ".join(out) + "]"

        return {
            "guest": f"uses {pages(s.used)}, free {pages(s.free)}, hinted {pages(s.hinted)}",
            "driver": f"active id {s.cmd_id_active}, cached id {s.cmd_id_received}"
            + (" (re-read due)" if s.read_cmd_id else "")
            + (", sending" if s.sending else "")
            + (", work queued" if s.work_queued else ""),
            "ring": f"avail {bufs(s.vq.avail)}, used {bufs(s.vq.used)}, {s.vq.num_free} free",
            "device": f"{s.status.name}, cmd id {s.cmd_id}",
            "migration": f"{s.phase.name}, sync {s.syncs}/{self.config.rounds}"
            + (f", attempt {s.restarted + 1}" if self.config.restarts else ""),
            "bitmap": pages(s.bmap),
            "kvm log": f"{pages(s.dirty_log)}, GET copy {pages(s.get_copy)}",
            "destination": f"up to date {pages(s.fresh)}"
            + (f", received {pages(s.received)}" if self.config.postcopy else ""),
            **({"stalled": f"page {s.stalled}"} if s.stalled is not None else {}),
        }

    def frame_map(self, s: State) -> str:
        out = []
        for p in range(self.config.pages):
            if p in s.used:
                out.append("u" if p in s.fresh else "U")
            elif p in s.hinted:
                out.append("h")
            else:
                out.append("f")
        return "".join(out)
