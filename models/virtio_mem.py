"""virtio-mem in Sub Block Mode: the Linux driver, the QEMU device, guest users and dumps.

virtio-mem is not a balloon: the device owns a region of guest-physical memory and the
driver plugs and unplugs small *sub-blocks* inside it, on request of the host, with no
guarantee that an unplug succeeds (ZONE_NORMAL memory may hold unmovable pages). Facts:
``shared/reference/kernel-facts.md`` §4; code read for this model:

* driver -- ``torvalds/linux drivers/virtio/virtio_mem.c`` (the v6.5+ code with
  ``have_unplugged_mb`` and the ``config_changed`` check in ``virtio_mem_fake_offline``):
  ``virtio_mem_run_wq``, ``virtio_mem_cleanup_pending_mb``, ``virtio_mem_sbm_plug_request``,
  ``virtio_mem_sbm_plug_any_sb``, ``virtio_mem_sbm_plug_and_add_mb``,
  ``virtio_mem_sbm_unplug_request``, ``virtio_mem_sbm_unplug_any_sb_raw``,
  ``virtio_mem_sbm_unplug_any_sb_offline``, ``virtio_mem_sbm_unplug_any_sb_online``,
  ``virtio_mem_sbm_unplug_sb_online``, ``virtio_mem_sbm_try_remove_unplugged_mb``,
  ``virtio_mem_fake_offline`` / ``virtio_mem_fake_online``, ``virtio_mem_online_page``,
  ``virtio_mem_memory_notifier_cb``, ``virtio_mem_send_*_request``,
  ``virtio_mem_vmcore_pfn_is_ram`` (kdump), ``virtio_mem_config_changed``;
* device -- ``qemu/qemu hw/virtio/virtio-mem.c``: ``virtio_mem_handle_request``,
  ``virtio_mem_state_change_request`` (ERROR for invalid ranges or blocks already in the
  target state, NACK for a plug beyond ``requested_size``, BUSY when
  ``virtio_mem_set_block_state`` fails, e.g. while migrating), ``virtio_mem_unplug_all``,
  ``virtio_mem_state_request``;
* first-kernel dump -- ``fs/proc/kcore.c`` ``read_kcore_iter``: "Don't read offline
  sections, logically offline pages ... hwpoisoned pages" (``!page || PageOffline(page)``).

What is modelled:

* the device region is ``blocks`` Linux memory blocks of ``sbs_per_mb`` sub-blocks; the
  device block size equals the sub-block size, and sizes are counted in sub-blocks (4 MiB
  each on x86-64). One *page frame* stands for the pages of one sub-block; ``boot_pages``
  frames of boot memory (ZONE_NORMAL, never unplugged) come first;
* the driver's real containers: the per-block state byte (``mb``, the eight SBM states of
  ``enum virtio_mem_sbm_mb_state``), the sub-block bitmap (``sb``), ``plugged_size``,
  ``requested_size``, ``config_changed``, ``unplug_all_required``, ``have_unplugged_mb``,
  ``broken``, the work item (queued, retry timer) and where ``virtio_mem_run_wq`` is
  (``run``: the loop it is in and its cursor -- the kernel's local variables);
* the guest-request virtqueue (``models/virtqueue.py``, one request in flight as in the
  driver, which waits for each answer) and the response buffer ``vm->resp`` the device
  writes;
* the device's bitmap of plugged blocks and its ``requested_size``; the host changes the
  requested size at any time, ``resizes`` times in all (so every behaviour ends with a
  stable request and liveness is about reaching it);
* page states: not online, free, in use (movable or unmovable), PageOffline. Onlining goes
  through the online-page callback: plugged sub-blocks go to the buddy, unplugged ones stay
  PageOffline. Fake offline is ``alloc_contig_range``: it fails while an unmovable page sits
  in the range, migrates movable pages to free frames outside it, and marks the range
  PageOffline;
* guest users allocate movable pages anywhere and unmovable pages only in kernel zones
  (boot memory, blocks onlined to ZONE_NORMAL), at most ``user_pages`` at a time; user space
  onlines added blocks to a kernel zone or ZONE_MOVABLE (and may offline them again);
* dumps: ``dump_kcore`` reads the first kernel's online pages (``/proc/kcore``), skipping
  PageOffline; ``kdump`` is the crash kernel: for each device block it asks the device
  (VIRTIO_MEM_REQ_STATE) and reads only plugged memory. Both are observations: what a dump
  taken in this state reads is recorded in the next state, and the run goes on (a crash
  would end it, but what the crash kernel reads depends only on the state at the crash).

What is abstracted, and why:

* each driver action is the code between two waits (a device request, ``add_memory``,
  ``offline_and_remove_memory``); ``hotplug_mutex`` is modelled by not letting user space
  online or offline blocks while the driver is inside a locked section. The mutex drop
  between memory blocks of an unplug pass (``cond_resched``) is not an interleaving point;
* ``alloc_contig_range`` gives the same answer on every try within one driver step, so the
  five tries on ZONE_MOVABLE collapse into one; migration takes the lowest free frame
  outside the range (the choice does not matter to the properties);
* all memory blocks of the region are prepared (``UNUSED``) from the start; the usable
  region is the whole region (QEMU's usable extent covers a region this small); the
  offline threshold (1 GiB = 8 memory blocks on x86-64) is kept as a number of blocks;
  the retry timer's back-off (50 s doubling to 300 s) is abstracted to "armed";
* **the length of an unplug pass.** A real device has thousands of sub-blocks and one pass
  over them can take minutes ("we could end up trying for a long time to unplug memory",
  f55484fd7be9). The model's few sub-blocks stand for all of them: when a pass ends with
  sub-blocks it could not fake-offline, it may go on (``unplug_pass_over(then="goes on")``)
  and visit them again, without fairness forcing it to stop. So "a long time" becomes "for ever" in
  the model, and the missing ``config_changed`` check shows as a lasso; the fixed driver
  leaves such a pass at its next fake-offline attempt once the config changed;
* failures of the environment are separate actions (``add_memory_fails``,
  ``offline_and_remove_fails``, ``device_handle_busy``); their success counterparts are strongly
  fair, so a failure can repeat but not for ever.

Bad variants: ``no_remove_retry`` and ``fake_offline_ignores_config`` are the pre-v6.5
drivers of §4.8; ``kcore_reads_page_offline`` and ``kdump_reads_all`` are dumps without
the PageOffline / device-state filters; ``plug_bit_before_ack`` and
``unplug_without_fake_offline`` are invented to give the bitmap and backing properties
teeth; ``unplug_online_off`` is the ``unplug_online=0`` module parameter.

Finding (two memory blocks, user space offlining): ``virtio_mem_cleanup_pending_mb``
clears ``have_unplugged_mb`` before its three scans (MOVABLE_PARTIAL, KERNEL_PARTIAL,
OFFLINE_PARTIAL) and drops ``hotplug_mutex`` around each ``offline_and_remove_memory()``.
If, in that window, user space offlines a completely unplugged KERNEL_PARTIAL block whose
removal failed earlier and onlines it to ZONE_MOVABLE, the block moves to a state already
scanned; no removal fails, so ``have_unplugged_mb`` stays clear and nothing retries it until
the requested size changes (a lasso for "a completely unplugged memory block is eventually
removed"). ``lock_device_hotplug()`` inside ``offline_and_remove_memory()`` narrows the
window to the moments around it, but does not close it. ``cleanup_rechecks`` is a proposed
fix (keep the flag while such a block is left) that holds.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from enum import IntEnum
from typing import Literal

from hintspec.lang.model import Args, Check, Model, action, always, leads_to, sometimes
from hintspec.lang.virtqueue import Virtqueue

# Return codes of the driver's functions (negated errno values in the kernel).
OK = 0
EAGAIN = 11  # config changed: restart virtio_mem_run_wq at "retry:"
ENOMEM = 12
EBUSY = 16  # memory busy (fake offline failed): retry timer
EINVAL = 22  # unexpected answer: the device is marked broken
ENOSPC = 28  # region exhausted / too much offline memory: stop
ETXTBSY = 26  # the device answered BUSY: retry timer

OFFLINE_THRESHOLD_BLOCKS = 8
"""``max(2 memory blocks, 1 GiB)`` in 128 MiB memory blocks (x86-64)."""


class MB(IntEnum):
    """``enum virtio_mem_sbm_mb_state`` (same order: FULL = PARTIAL - 1 is relied upon)."""

    UNUSED = 0
    PLUGGED = 1
    OFFLINE = 2
    OFFLINE_PARTIAL = 3
    KERNEL = 4
    KERNEL_PARTIAL = 5
    MOVABLE = 6
    MOVABLE_PARTIAL = 7


ONLINE = frozenset({MB.KERNEL, MB.KERNEL_PARTIAL, MB.MOVABLE, MB.MOVABLE_PARTIAL})
ADDED = ONLINE | {MB.OFFLINE, MB.OFFLINE_PARTIAL}
KERNEL_ZONE = frozenset({MB.KERNEL, MB.KERNEL_PARTIAL})
PARTIAL_ADDED = frozenset({MB.OFFLINE_PARTIAL, MB.KERNEL_PARTIAL, MB.MOVABLE_PARTIAL})

PLUG_ORDER = (MB.KERNEL_PARTIAL, MB.MOVABLE_PARTIAL, MB.OFFLINE_PARTIAL)
"""``virtio_mem_sbm_plug_request``: partially plugged blocks are filled first."""
UNPLUG_ORDER = (
    MB.OFFLINE_PARTIAL,
    MB.OFFLINE,
    MB.MOVABLE_PARTIAL,
    MB.KERNEL_PARTIAL,
    MB.MOVABLE,
    MB.KERNEL,
)
"""``virtio_mem_sbm_unplug_request``: offline first, then ZONE_MOVABLE (reverse block order)."""
CLEANUP_ORDER = (MB.MOVABLE_PARTIAL, MB.KERNEL_PARTIAL, MB.OFFLINE_PARTIAL)
"""``virtio_mem_cleanup_pending_mb``: where completely unplugged blocks are looked for."""


class Page(IntEnum):
    NONE = 0
    """Not online memory (block not added, or added and offline)."""
    FREE = 1
    """In the buddy."""
    MOVABLE = 2
    """In use by a guest user, movable (migratable)."""
    UNMOVABLE = 3
    """In use, unmovable (e.g. a page table); only in kernel zones."""
    OFFLINE = 4
    """PageOffline: owned by virtio-mem (never onlined, or fake-offlined)."""


class Req(IntEnum):
    """``VIRTIO_MEM_REQ_*``."""

    PLUG = 0
    UNPLUG = 1
    UNPLUG_ALL = 2
    STATE = 3


class Resp(IntEnum):
    """``VIRTIO_MEM_RESP_*``; NONE: nothing written yet."""

    NONE = -1
    ACK = 0
    NACK = 1
    BUSY = 2
    ERROR = 3


class Pc(IntEnum):
    """Where the work item ``virtio_mem_run_wq`` is."""

    IDLE = 0
    """Not running."""
    WAIT = 1
    """A request is on the virtqueue: ``wait_event(vm->host_resp, ...)``."""
    ADD = 2
    """``virtio_mem_sbm_plug_and_add_mb``: about to ``add_memory_driver_managed``."""
    REMOVE = 3
    """``virtio_mem_sbm_try_remove_unplugged_mb``: about to ``offline_and_remove_memory``."""
    PASS_END = 4
    """``virtio_mem_sbm_unplug_request``: every candidate visited, sub-blocks left to unplug."""


class Op(IntEnum):
    """Which loop of the driver the work item is in (what happens after the wait)."""

    NONE = 0
    UNPLUG_ALL = 1
    """run_wq: ``virtio_mem_send_unplug_all_request``."""
    CLEANUP = 2
    """``virtio_mem_cleanup_pending_mb``: PLUGGED blocks, then completely unplugged ones."""
    PLUG_PARTIAL = 3
    """``virtio_mem_sbm_plug_any_sb`` into a partially plugged block (mutex held)."""
    PLUG_ADD = 4
    """``virtio_mem_sbm_plug_and_add_mb`` of an UNUSED block."""
    ADD_FAILED = 5
    """``virtio_mem_sbm_plug_and_add_mb``: unplug after ``add_memory`` failed."""
    UNPLUG_OFFLINE = 6
    """``virtio_mem_sbm_unplug_any_sb_offline`` (mutex held)."""
    UNPLUG_ONLINE = 7
    """``virtio_mem_sbm_unplug_any_sb_online`` / ``..._unplug_sb_online`` (mutex held)."""


LOCKED_OPS = frozenset({Op.PLUG_PARTIAL, Op.UNPLUG_OFFLINE, Op.UNPLUG_ONLINE})
"""Waiting with ``hotplug_mutex`` held: no block can be onlined or offlined meanwhile."""


class Dump(IntEnum):
    NONE = 0
    KCORE = 1
    """A read of /proc/kcore in the running (first) kernel."""
    KDUMP = 2
    """The crash kernel's /proc/vmcore, had the guest crashed in this state."""


@dataclass(frozen=True)
class Run:
    """The work item's position: ``pc``, the loop (``op``) and its cursor -- the kernel's
    local variables. Fields that do not apply are 0, so equal situations are equal states."""

    pc: Pc = Pc.IDLE
    op: Op = Op.NONE
    phase: int = 0
    """Index into the state order of the loop (PLUG_ORDER, UNPLUG_ORDER, CLEANUP_ORDER)."""
    mb: int = 0
    sb: int = 0
    """First sub-block of the request in flight."""
    count: int = 0
    """Sub-blocks in the request in flight."""
    nb: int = 0
    """``nb_sb``: sub-blocks still to (un)plug in this plug/unplug request."""
    whole: bool = False
    """``virtio_mem_sbm_unplug_any_sb_online``: trying the complete block in one shot."""
    acc: bool = False
    """``virtio_mem_cleanup_pending_mb``: ``rc |= ...`` (some removal failed)."""


IDLE = Run()


@dataclass(frozen=True)
class Config:
    blocks: int = 1
    """Linux memory blocks in the device region (128 MiB each on x86-64)."""
    sbs_per_mb: int = 2
    """Sub-blocks per memory block (32 on x86-64: 4 MiB sub-blocks)."""
    boot_pages: int = 1
    """Frames of boot memory (ZONE_NORMAL). Unplugging to any size is reachable when
    ``boot_pages >= user_pages`` (movable pages always find a migration target)."""
    user_pages: int = 1
    """Pages guest users may have in use at once."""
    resizes: int = 2
    """How often the host may change the requested size (the first size is any)."""
    leftovers: bool = True
    """Also start with a sub-block left plugged by a previous boot (UNPLUG_ALL first)."""
    online_zones: Literal["any", "kernel", "movable"] = "any"
    """Where user space onlines added blocks (``online_kernel`` / ``online_movable``)."""
    user_offline: bool = True
    """User space may offline online blocks again (sysfs ``offline``)."""
    variant: str = "upstream"

    def __post_init__(self) -> None:
        if self.blocks < 1 or self.sbs_per_mb < 2:
            raise ValueError("need blocks >= 1 and sbs_per_mb >= 2 (SBM: a block has >= 2)")
        if self.boot_pages < 1 or self.user_pages < 0 or self.resizes < 0:
            raise ValueError("need boot_pages >= 1, user_pages >= 0 and resizes >= 0")


@dataclass(frozen=True)
class State:
    # -- driver (struct virtio_mem) --------------------------------------------------------
    mb: tuple[MB, ...]
    """``sbm.mb_states``: one state per memory block."""
    sb: tuple[bool, ...]
    """``sbm.sb_states``: the plugged bit of every sub-block (block-major)."""
    plugged: int
    """``vm->plugged_size`` in sub-blocks."""
    requested: int
    """``vm->requested_size`` in sub-blocks (the driver's copy of the config field)."""
    config_changed: bool
    unplug_all_required: bool
    have_unplugged_mb: bool
    broken: bool
    queued: bool
    """The work item is pending on ``system_freezable_wq``."""
    timer: bool
    """``retry_timer`` is armed."""
    run: Run
    vq: Virtqueue
    """The guest-request virtqueue: buffers are (Req, first sub-block, count)."""
    resp: Resp
    """``vm->resp``, written by the device."""
    # -- device (QEMU VirtIOMEM) -----------------------------------------------------------
    dev_plugged: tuple[bool, ...]
    """``vmem->bitmap``: plugged device blocks."""
    dev_requested: int
    """``vmem->requested_size`` in sub-blocks."""
    resizes_left: int
    # -- guest memory ----------------------------------------------------------------------
    pages: tuple[Page, ...]
    """Boot frames, then one frame per sub-block of the device region."""
    # -- the dump just taken (cleared by the next action) ----------------------------------
    dump: Dump
    dumped: frozenset[int]
    """The frames that dump read."""


NOTHING: frozenset[int] = frozenset()


def _evolve(s: State, **changes: object) -> State:
    """``dataclasses.replace`` without its checks: a third of the search time went there."""
    t = object.__new__(State)
    t.__dict__.update(s.__dict__)
    t.__dict__.update(changes)
    return t


class _W:
    """A mutable copy of a State for one atomic driver step (the code between two waits)."""

    def __init__(self, model: VirtioMem, s: State) -> None:
        self.m = model
        self.s = s
        self.mb = list(s.mb)
        self.sb = list(s.sb)
        self.plugged = s.plugged
        self.requested = s.requested
        self.config_changed = s.config_changed
        self.unplug_all_required = s.unplug_all_required
        self.have_unplugged_mb = s.have_unplugged_mb
        self.broken = s.broken
        self.queued = s.queued
        self.timer = s.timer
        self.run = IDLE  # every driver step decides where the work item goes next
        self.vq = s.vq
        self.resp = s.resp
        self.dev_plugged = s.dev_plugged
        self.dev_requested = s.dev_requested
        self.resizes_left = s.resizes_left
        self.pages = list(s.pages)

    def freeze(self) -> State:
        return _evolve(
            self.s,
            mb=tuple(self.mb),
            sb=tuple(self.sb),
            plugged=self.plugged,
            requested=self.requested,
            config_changed=self.config_changed,
            unplug_all_required=self.unplug_all_required,
            have_unplugged_mb=self.have_unplugged_mb,
            broken=self.broken,
            queued=self.queued,
            timer=self.timer,
            run=self.run,
            vq=self.vq,
            resp=self.resp,
            dev_plugged=self.dev_plugged,
            dev_requested=self.dev_requested,
            resizes_left=self.resizes_left,
            pages=tuple(self.pages),
            dump=Dump.NONE,
            dumped=NOTHING,
        )

    # -- the sub-block bitmap -------------------------------------------------------------

    def bit(self, mb: int, sb: int) -> bool:
        return self.sb[mb * self.m.S + sb]

    def all_plugged(self, mb: int) -> bool:
        return all(self.bit(mb, i) for i in range(self.m.S))

    def all_unplugged(self, mb: int) -> bool:
        return not any(self.bit(mb, i) for i in range(self.m.S))

    def set_bits(self, mb: int, sb: int, count: int, value: bool) -> None:
        for i in range(sb, sb + count):
            self.sb[mb * self.m.S + i] = value

    def frames(self, mb: int, sb: int, count: int) -> range:
        start = self.m.frame(mb, sb)
        return range(start, start + count)

    # -- requests -------------------------------------------------------------------------

    def send(self, req: Req, mb: int, sb: int, count: int, run: Run) -> None:
        """``virtio_mem_send_request``: add the request, kick, and wait."""
        vq = self.vq.add((int(req), mb * self.m.S + sb, count))
        assert vq is not None, "one request in flight at a time"
        self.vq = vq
        self.resp = Resp.NONE
        self.run = replace(run, pc=Pc.WAIT)


class VirtioMem(Model[Config, State]):
    """virtio-mem SBM: driver, device, guest users, onlining and dumps (Linux + QEMU)."""

    name = "virtio_mem"
    # The proposed fix of the two-block finding is a design to compare, not a bad variant.
    designs = frozenset({"cleanup_rechecks"})
    variants = {
        "upstream": "the v6.5+ SBM driver (a31648fd4f96, f55484fd7be9) and the QEMU device",
        "no_remove_retry": (
            "before a31648fd4f96 'virtio-mem: keep retrying on offline_and_remove_memory() "
            "errors in Sub Block Mode (SBM)': a failed offline_and_remove_memory() of a "
            "completely unplugged block is never retried; the block wastes memory for ever"
        ),
        "fake_offline_ignores_config": (
            "before f55484fd7be9 'virtio-mem: check if the config changed before fake "
            "offlining memory': config_changed is only checked when a request is sent, so "
            "while fake offline keeps failing the driver keeps unplugging after the host "
            "raised the requested size"
        ),
        "kcore_reads_page_offline": (
            "a first-kernel dump (/proc/kcore) that reads PageOffline pages, as read_kcore did "
            "before it learnt to skip 'logically offline pages' (2019, the PG_offline series; "
            "virtio-mem came later, so this pair never shipped): it reads unplugged memory"
        ),
        "kdump_reads_all": (
            "a crash kernel without the virtio-mem vmcore callback (before v5.16 'virtio-mem: "
            "kdump mode to sanitize /proc/vmcore access'): it reads unplugged sub-blocks"
        ),
        "plug_bit_before_ack": (
            "invented: the driver sets the plugged bits when it sends PLUG, not on the ACK "
            "(and keeps them on NACK/BUSY)"
        ),
        "unplug_without_fake_offline": (
            "invented: the driver unplugs online sub-blocks without fake-offlining them "
            "first (no alloc_contig_range): pages in use lose their backing"
        ),
        "cleanup_rechecks": (
            "proposed, not upstream: virtio_mem_cleanup_pending_mb keeps have_unplugged_mb "
            "set while a completely unplugged block is left after its scans (closes the race "
            "the model finds at two memory blocks, see the manifest)"
        ),
        "unplug_online_off": (
            "the module parameter unplug_online=0: online memory is never unplugged, so a "
            "smaller requested size is not reached while the memory stays online"
        ),
    }
    reference_config = {"blocks": 2}
    hypothesis_config = {
        "blocks": 6,
        "sbs_per_mb": 2,
        "boot_pages": 2,
        "user_pages": 2,
        "resizes": 12,
    }
    frame_legend = {
        "-": "not online, unplugged",
        "o": "not online, plugged (added offline, or PLUGGED)",
        "f": "free in the buddy",
        "M": "movable page in use",
        "K": "unmovable page in use (kernel zone)",
        "x": "PageOffline, still plugged (fake-offlined, unplug pending)",
        "X": "PageOffline, unplugged",
        "!": "free or in use but unplugged (lost its backing)",
    }

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.M = config.blocks
        self.S = config.sbs_per_mb
        self.B = config.boot_pages
        self.N = self.M * self.S

    # -- geometry -------------------------------------------------------------------------

    def frame(self, mb: int, sb: int) -> int:
        return self.B + mb * self.S + sb

    def block_of(self, frame: int) -> int:
        return (frame - self.B) // self.S

    def in_kernel_zone(self, s: State | _W, frame: int) -> bool:
        return frame < self.B or s.mb[self.block_of(frame)] in KERNEL_ZONE

    def locked(self, s: State) -> bool:
        """The driver holds ``hotplug_mutex`` (waiting inside a locked loop)."""
        return s.run.pc is Pc.WAIT and s.run.op in LOCKED_OPS

    def not_added(self, s: State, mb: int) -> bool:
        """The block's state says added, but ``add_memory`` has not run (``ADD``) or failed
        (``ADD_FAILED``): the state is set before adding, so that the notifiers see it."""
        return s.run.mb == mb and (
            s.run.pc is Pc.ADD or (s.run.pc is Pc.WAIT and s.run.op is Op.ADD_FAILED)
        )

    # -- initial states -------------------------------------------------------------------

    def initial_states(self) -> Iterator[State]:
        """``virtio_mem_probe``: nothing added; ``config_changed`` set and the work queued.
        The host may have any requested size, and (``leftovers``) a sub-block may still be
        plugged from a previous boot, which makes ``unplug_all_required``."""
        leftover_choices = (False, True) if self.config.leftovers else (False,)
        for leftover in leftover_choices:
            dev = tuple(leftover and i == 0 for i in range(self.N))
            for req in range(self.N + 1):
                yield State(
                    mb=(MB.UNUSED,) * self.M,
                    sb=(False,) * self.N,
                    plugged=sum(dev),
                    requested=0,
                    config_changed=True,
                    unplug_all_required=leftover,
                    have_unplugged_mb=False,
                    broken=False,
                    queued=True,
                    timer=False,
                    run=IDLE,
                    vq=Virtqueue(size=1),
                    resp=Resp.NONE,
                    dev_plugged=dev,
                    dev_requested=req,
                    resizes_left=self.config.resizes,
                    pages=(Page.FREE,) * self.B + (Page.NONE,) * self.N,
                    dump=Dump.NONE,
                    dumped=frozenset(),
                )

    @staticmethod
    def _next(s: State, **changes: object) -> State:
        """The successor of a non-dump action (the dump record is cleared)."""
        return _evolve(s, dump=Dump.NONE, dumped=NOTHING, **changes)

    # =====================================================================================
    # The driver: virtio_mem_run_wq and what it calls, as continuations between waits.
    # =====================================================================================

    @action("drivers/virtio/virtio_mem.c: virtio_mem_run_wq", fair="weak")
    def run_wq(self, s: State) -> Iterator[tuple[Args, State]]:
        """The work item runs: cancel the retry timer, bail if broken, then ``retry:``."""
        if s.run.pc is not Pc.IDLE or not s.queued:
            return
        w = _W(self, s)
        w.queued = False
        w.timer = False
        if not w.broken:
            self._retry(w)
        yield {}, w.freeze()

    def _retry(self, w: _W) -> None:
        """``retry:`` -- leftovers from a previous boot first."""
        if w.unplug_all_required:
            w.send(Req.UNPLUG_ALL, 0, 0, 0, Run(op=Op.UNPLUG_ALL))
            return
        self._after_unplug_all(w, OK)

    def _after_unplug_all(self, w: _W, rc: int) -> None:
        if w.config_changed:
            # virtio_mem_refresh_config: plugged_size is only a reflection of what the
            # driver did (WARN_ON_ONCE and take the device's value on a mismatch).
            w.config_changed = False
            w.plugged = sum(w.dev_plugged)
            w.requested = w.dev_requested
        if rc:
            self._end_run(w, rc)
            return
        self._cleanup_plugged(w, 0)

    def _end_run(self, w: _W, rc: int) -> None:
        """The ``switch (rc)`` at the end of ``virtio_mem_run_wq``."""
        if rc == EAGAIN:
            self._retry(w)
            return
        w.run = IDLE
        if rc in (ETXTBSY, EBUSY, ENOMEM):
            w.timer = True
        elif rc not in (OK, ENOSPC):
            w.broken = True

    def _finish(self, w: _W, rc: int) -> None:
        """After the plug/unplug request: keep retrying to remove unplugged blocks."""
        if rc == OK and w.have_unplugged_mb and self.variant != "no_remove_retry":
            rc = EBUSY
        self._end_run(w, rc)

    # -- virtio_mem_cleanup_pending_mb ----------------------------------------------------

    def _cleanup_plugged(self, w: _W, start: int) -> None:
        """Unplug PLUGGED blocks (add_memory failed and so did the unplug back then)."""
        for mb in range(start, self.M):
            if w.mb[mb] is MB.PLUGGED:
                self._raw(w, Op.CLEANUP, 0, mb, self.S - 1, self.S)
                return
        if not w.have_unplugged_mb or self.variant == "no_remove_retry":
            self._requests(w)
            return
        w.have_unplugged_mb = False
        self._cleanup_remove_scan(w, 0, 0, False)

    def _cleanup_remove_scan(self, w: _W, phase: int, start: int, acc: bool) -> None:
        """Retry (offlining and) removing completely unplugged blocks."""
        for ph in range(phase, len(CLEANUP_ORDER)):
            for mb in range(start if ph == phase else 0, self.M):
                if w.mb[mb] is CLEANUP_ORDER[ph] and w.all_unplugged(mb):
                    w.run = Run(pc=Pc.REMOVE, op=Op.CLEANUP, phase=ph, mb=mb, acc=acc)
                    return
        if acc:
            w.have_unplugged_mb = True
        elif self.variant == "cleanup_rechecks" and any(
            w.mb[mb] in PARTIAL_ADDED and w.all_unplugged(mb) for mb in range(self.M)
        ):
            # Proposed: a block that changed state while the mutex was dropped and so
            # escaped the scans is still completely unplugged: keep retrying.
            w.have_unplugged_mb = True
        self._requests(w)

    def _requests(self, w: _W) -> None:
        if w.requested > w.plugged:
            self._plug_partial_scan(w, 0, 0, w.requested - w.plugged)
        elif w.requested < w.plugged:
            self._unplug_scan(w, 0, self.M - 1, w.plugged - w.requested)
        else:
            self._finish(w, OK)

    # -- virtio_mem_sbm_unplug_any_sb_raw (offline and PLUGGED blocks) --------------------

    def _raw(self, w: _W, op: Op, phase: int, mb: int, cursor: int, nb: int) -> None:
        """Unplug plugged sub-blocks right to left, contiguous ones in one request."""
        sb = cursor
        while nb:
            while sb >= 0 and not w.bit(mb, sb):
                sb -= 1
            if sb < 0:
                break
            count = 1
            while count < nb and sb > 0 and w.bit(mb, sb - 1):
                count += 1
                sb -= 1
            if w.config_changed:  # virtio_mem_send_unplug_request
                self._raw_done(w, op, phase, mb, nb, EAGAIN)
                return
            w.send(
                Req.UNPLUG, mb, sb, count, Run(op=op, phase=phase, mb=mb, sb=sb, count=count, nb=nb)
            )
            return
        self._raw_done(w, op, phase, mb, nb, OK)

    def _raw_done(self, w: _W, op: Op, phase: int, mb: int, nb: int, rc: int) -> None:
        if op is Op.CLEANUP:
            if rc:
                self._end_run(w, rc)
                return
            w.mb[mb] = MB.UNUSED
            self._cleanup_plugged(w, mb + 1)
            return
        # virtio_mem_sbm_unplug_any_sb_offline
        if not w.all_plugged(mb):
            w.mb[mb] = MB.OFFLINE_PARTIAL
        if rc:
            self._finish(w, rc)
            return
        if w.all_unplugged(mb):
            # UNUSED first (blocks onlining), then remove_memory: cannot fail (BUG_ON).
            w.mb[mb] = MB.UNUSED
            w.queued = True  # virtio_mem_remove_memory -> virtio_mem_retry
        self._unplug_next(w, phase, mb, nb)

    # -- virtio_mem_sbm_plug_request ------------------------------------------------------

    def _plug_partial_scan(self, w: _W, phase: int, start: int, nb: int) -> None:
        for ph in range(phase, len(PLUG_ORDER)):
            for mb in range(start if ph == phase else 0, self.M):
                if w.mb[mb] is PLUG_ORDER[ph]:
                    self._plug_any_sb(w, ph, mb, nb)
                    return
        self._plug_unused_scan(w, 0, nb)

    def _plug_any_sb(self, w: _W, phase: int, mb: int, nb: int) -> None:
        """Plug the first unplugged sub-blocks of a partially plugged block."""
        if nb:
            sb = next((i for i in range(self.S) if not w.bit(mb, i)), self.S)
            if sb < self.S:
                count = 1
                while count < nb and sb + count < self.S and not w.bit(mb, sb + count):
                    count += 1
                run = Run(op=Op.PLUG_PARTIAL, phase=phase, mb=mb, sb=sb, count=count, nb=nb)
                self._plug_sb(w, mb, sb, count, run)
                return
        if w.all_plugged(mb):
            w.mb[mb] = MB(w.mb[mb] - 1)  # *_PARTIAL -> the full state
        if not nb:
            self._finish(w, OK)
            return
        self._plug_partial_scan(w, phase, mb + 1, nb)

    def _plug_sb(self, w: _W, mb: int, sb: int, count: int, run: Run) -> None:
        """``virtio_mem_sbm_plug_sb`` -> ``virtio_mem_send_plug_request``."""
        if w.config_changed:
            self._finish(w, EAGAIN)
            return
        w.send(Req.PLUG, mb, sb, count, run)
        if self.variant == "plug_bit_before_ack":
            w.set_bits(mb, sb, count, True)

    def _plug_unused_scan(self, w: _W, start: int, nb: int) -> None:
        for mb in range(start, self.M):
            if w.mb[mb] is MB.UNUSED:
                offline = sum(1 for st in w.mb if st in (MB.OFFLINE, MB.OFFLINE_PARTIAL))
                if offline + 1 > OFFLINE_THRESHOLD_BLOCKS:  # virtio_mem_could_add_memory
                    self._finish(w, ENOSPC)
                    return
                count = min(nb, self.S)
                self._plug_sb(w, mb, 0, count, Run(op=Op.PLUG_ADD, mb=mb, count=count, nb=nb))
                return
        # virtio_mem_sbm_prepare_next_mb: no memory block left in the usable region.
        self._finish(w, ENOSPC)

    # -- virtio_mem_sbm_unplug_request ----------------------------------------------------

    def _unplug_scan(self, w: _W, phase: int, start: int, nb: int) -> None:
        """``for each state in UNPLUG_ORDER: for each block (reverse) in that state``."""
        for ph in range(phase, len(UNPLUG_ORDER)):
            for mb in range(start if ph == phase else self.M - 1, -1, -1):
                if w.mb[mb] is UNPLUG_ORDER[ph]:
                    if w.mb[mb] in ONLINE:
                        self._unplug_online(w, ph, mb, nb)
                    else:
                        self._raw(w, Op.UNPLUG_OFFLINE, ph, mb, self.S - 1, nb)
                    return
            if ph == 1 and self.variant == "unplug_online_off":
                self._finish(w, OK)
                return
        w.run = Run(pc=Pc.PASS_END, op=Op.UNPLUG_ONLINE, nb=nb)

    def _unplug_next(self, w: _W, phase: int, mb: int, nb: int) -> None:
        """Back in the loop of ``virtio_mem_sbm_unplug_request`` after one block."""
        if not nb:
            self._finish(w, OK)
            return
        self._unplug_scan(w, phase, mb - 1, nb)

    def _unplug_online(self, w: _W, phase: int, mb: int, nb: int) -> None:
        """``virtio_mem_sbm_unplug_any_sb_online``: the complete block in one shot if
        possible, else single sub-blocks right to left, skipping busy ones."""
        if nb >= self.S and w.all_plugged(mb):
            rc = self._unplug_sb_online(w, phase, mb, 0, self.S, nb, whole=True)
            if rc is None:
                return
            if rc != EBUSY:
                self._finish(w, rc)
                return
        self._unplug_online_loop(w, phase, mb, self.S - 1, nb)

    def _unplug_online_loop(self, w: _W, phase: int, mb: int, cursor: int, nb: int) -> None:
        sb = cursor
        while sb >= 0 and nb:
            while sb >= 0 and not w.bit(mb, sb):
                sb -= 1
            if sb < 0:
                break
            rc = self._unplug_sb_online(w, phase, mb, sb, 1, nb, whole=False)
            if rc is None:
                return
            if rc == EBUSY:
                sb -= 1
                continue
            self._finish(w, rc)
            return
        self._unplugged(w, phase, mb, nb)

    def _unplugged(self, w: _W, phase: int, mb: int, nb: int) -> None:
        """``unplugged:`` -- try to offline and remove a completely unplugged block."""
        if w.all_unplugged(mb):
            w.run = Run(pc=Pc.REMOVE, op=Op.UNPLUG_ONLINE, phase=phase, mb=mb, nb=nb)
            return
        self._unplug_next(w, phase, mb, nb)

    def _unplug_sb_online(
        self, w: _W, phase: int, mb: int, sb: int, count: int, nb: int, whole: bool
    ) -> int | None:
        """Fake-offline the range, then ask the device to unplug it. None: the request was
        sent; else the error code (nothing sent, the range is back in the buddy)."""
        if self.variant != "unplug_without_fake_offline":
            rc = self._fake_offline(w, mb, sb, count)
            if rc:
                return rc
        if w.config_changed:  # virtio_mem_send_unplug_request
            self._fake_online(w, mb, sb, count)
            return EAGAIN
        run = Run(op=Op.UNPLUG_ONLINE, phase=phase, mb=mb, sb=sb, count=count, nb=nb, whole=whole)
        w.send(Req.UNPLUG, mb, sb, count, run)
        return None

    def _fake_offline(self, w: _W, mb: int, sb: int, count: int) -> int:
        """``virtio_mem_fake_offline``: ``alloc_contig_range`` (5 tries on ZONE_MOVABLE, one
        otherwise; in one model step every try gives the same answer)."""
        if w.config_changed and self.variant != "fake_offline_ignores_config":
            return EAGAIN
        frames = w.frames(mb, sb, count)
        if not self._alloc_contig_range(w, frames):
            return EBUSY
        for f in frames:
            w.pages[f] = Page.OFFLINE  # virtio_mem_set_fake_offline
        return OK

    def _alloc_contig_range(self, w: _W, frames: range) -> bool:
        """Isolate and allocate ``frames``: fails on an unmovable page, migrates movable
        pages to the lowest free frames outside the range (fails if there are too few)."""
        if any(w.pages[f] is Page.UNMOVABLE for f in frames):
            return False
        movable = [f for f in frames if w.pages[f] is Page.MOVABLE]
        targets = [f for f in range(len(w.pages)) if f not in frames and w.pages[f] is Page.FREE][
            : len(movable)
        ]
        if len(targets) < len(movable):
            return False
        for f in targets:
            w.pages[f] = Page.MOVABLE
        return True

    def _fake_online(self, w: _W, mb: int, sb: int, count: int) -> None:
        """``virtio_mem_fake_online``: the range goes back to the buddy."""
        for f in w.frames(mb, sb, count):
            w.pages[f] = Page.FREE

    # -- the answer arrives ---------------------------------------------------------------

    @action(
        "drivers/virtio/virtio_mem.c: virtio_mem_send_request (wait_event returns)", fair="weak"
    )
    def driver_receive(self, s: State) -> Iterator[tuple[Args, State]]:
        """``virtqueue_get_buf``; the bitmap and ``plugged_size`` change only on ACK."""
        if s.run.pc is not Pc.WAIT or not s.vq.used:
            return
        got = s.vq.get_buf()
        assert got is not None
        buf, vq = got
        w = _W(self, s)
        w.vq = vq
        req, resp, run = Req(buf[0]), s.resp, s.run
        mb, sb, count = run.mb, run.sb, run.count
        if req is Req.UNPLUG_ALL:
            rc = {Resp.ACK: OK, Resp.BUSY: ETXTBSY}.get(resp, ENOMEM)
            if rc == OK:
                w.unplug_all_required = False
                w.plugged = 0
                w.config_changed = True
            w.run = IDLE
            self._after_unplug_all(w, rc)
        elif req is Req.PLUG:
            rc = {Resp.ACK: OK, Resp.NACK: EAGAIN, Resp.BUSY: ETXTBSY}.get(resp, EINVAL)
            if rc == OK:
                w.plugged += count
                w.set_bits(mb, sb, count, True)
            self._plugged(w, run, rc)
        else:
            rc = {Resp.ACK: OK, Resp.BUSY: ETXTBSY, Resp.ERROR: EINVAL}.get(resp, ENOMEM)
            if rc == OK:
                w.plugged -= count
                w.set_bits(mb, sb, count, False)
            self._unplugged_range(w, run, rc)
        yield {"resp": resp.name}, w.freeze()

    def _plugged(self, w: _W, run: Run, rc: int) -> None:
        mb, sb, count, nb = run.mb, run.sb, run.count, run.nb
        if run.op is Op.PLUG_PARTIAL:
            if rc:
                self._finish(w, rc)
                return
            if w.mb[mb] is not MB.OFFLINE_PARTIAL:
                self._fake_online(w, mb, sb, count)  # the block is online: hand it out
            self._plug_any_sb(w, run.phase, mb, nb - count)
            return
        # PLUG_ADD: virtio_mem_sbm_plug_and_add_mb
        if rc:
            self._finish(w, rc)
            return
        # The state is set before add_memory, so the notifiers see it.
        w.mb[mb] = MB.OFFLINE if count == self.S else MB.OFFLINE_PARTIAL
        w.run = Run(pc=Pc.ADD, op=Op.PLUG_ADD, mb=mb, count=count, nb=nb)

    def _unplugged_range(self, w: _W, run: Run, rc: int) -> None:
        mb, sb, count, nb = run.mb, run.sb, run.count, run.nb
        if run.op in (Op.CLEANUP, Op.UNPLUG_OFFLINE):
            if rc:
                self._raw_done(w, run.op, run.phase, mb, nb, rc)
            else:
                self._raw(w, run.op, run.phase, mb, sb - 1, nb - count)
        elif run.op is Op.ADD_FAILED:
            w.mb[mb] = MB.PLUGGED if rc else MB.UNUSED
            self._finish(w, ENOMEM)
        else:  # UNPLUG_ONLINE
            if rc:
                self._fake_online(w, mb, sb, count)  # return the memory to the buddy
                self._finish(w, rc)
                return
            if w.mb[mb] is MB.KERNEL:
                w.mb[mb] = MB.KERNEL_PARTIAL
            elif w.mb[mb] is MB.MOVABLE:
                w.mb[mb] = MB.MOVABLE_PARTIAL
            if run.whole:
                self._unplugged(w, run.phase, mb, nb - count)
            else:
                self._unplug_online_loop(w, run.phase, mb, sb - 1, nb - count)

    # -- add_memory / offline_and_remove_memory (the mutex is dropped) --------------------

    @action("mm/memory_hotplug.c: add_memory_driver_managed", fair="strong")
    def add_memory(self, s: State) -> Iterator[tuple[Args, State]]:
        """The block is added (offline); user space may online it from now on."""
        if s.run.pc is not Pc.ADD:
            return
        w = _W(self, s)
        run = s.run
        nb = run.nb - run.count
        if not nb:
            self._finish(w, OK)
        else:
            self._plug_unused_scan(w, run.mb + 1, nb)
        yield {"mb": run.mb}, w.freeze()

    @action("mm/memory_hotplug.c: add_memory_driver_managed fails (-ENOMEM)")
    def add_memory_fails(self, s: State) -> Iterator[tuple[Args, State]]:
        """Unplug the range again: UNUSED on success, PLUGGED (retried later) otherwise."""
        if s.run.pc is not Pc.ADD:
            return
        w = _W(self, s)
        run = s.run
        if w.config_changed:
            w.mb[run.mb] = MB.PLUGGED
            self._finish(w, ENOMEM)
        else:
            w.send(
                Req.UNPLUG, run.mb, 0, run.count, Run(op=Op.ADD_FAILED, mb=run.mb, count=run.count)
            )
        yield {"mb": run.mb}, w.freeze()

    def _removed(self, w: _W, mb: int) -> None:
        for f in w.frames(mb, 0, self.S):
            w.pages[f] = Page.NONE
        w.mb[mb] = MB.UNUSED
        w.queued = True  # virtio_mem_offline_and_remove_memory -> virtio_mem_retry

    @action("mm/memory_hotplug.c: offline_and_remove_memory", fair="strong")
    def offline_and_remove(self, s: State) -> Iterator[tuple[Args, State]]:
        """A completely unplugged block (all PageOffline) is offlined and removed."""
        if s.run.pc is not Pc.REMOVE:
            return
        w = _W(self, s)
        self._removed(w, s.run.mb)
        self._after_remove(w, s.run, failed=False)
        yield {"mb": s.run.mb}, w.freeze()

    @action("mm/memory_hotplug.c: offline_and_remove_memory fails (-EBUSY)")
    def offline_and_remove_fails(self, s: State) -> Iterator[tuple[Args, State]]:
        """E.g. racing with another alloc_contig_range() user, or a notifier said no."""
        if s.run.pc is not Pc.REMOVE:
            return
        w = _W(self, s)
        self._after_remove(w, s.run, failed=True)
        yield {"mb": s.run.mb}, w.freeze()

    def _after_remove(self, w: _W, run: Run, failed: bool) -> None:
        if run.op is Op.CLEANUP:
            self._cleanup_remove_scan(w, run.phase, run.mb + 1, run.acc or failed)
            return
        if failed and self.variant != "no_remove_retry":
            w.have_unplugged_mb = True  # "We'll retry later"
        self._unplug_next(w, run.phase, run.mb, run.nb)

    # -- the end of an unplug pass --------------------------------------------------------

    @action(
        "drivers/virtio/virtio_mem.c: virtio_mem_sbm_unplug_request (-EBUSY); "
        "or the abstraction of a long pass",
        fair="weak",
    )
    def unplug_pass_over(self, s: State) -> Iterator[tuple[Args, State]]:
        """Every candidate was visited and sub-blocks are left that could not be
        fake-offlined. ``then="ends"``: return -EBUSY (retry timer). ``then="goes on"``: the
        model's sub-blocks stand for the thousands of a real device, so the pass may visit
        them again (see the module docstring). Weak fairness makes the driver do one of the
        two; nothing makes it end."""
        if s.run.pc is not Pc.PASS_END:
            return
        w = _W(self, s)
        self._finish(w, EBUSY)
        yield {"then": "ends", "left": s.run.nb}, w.freeze()
        w = _W(self, s)
        self._unplug_scan(w, 0, self.M - 1, s.run.nb)
        yield {"then": "goes on", "left": s.run.nb}, w.freeze()

    @action("drivers/virtio/virtio_mem.c: virtio_mem_timer_expired", fair="weak")
    def retry_timer_fires(self, s: State) -> Iterator[tuple[Args, State]]:
        if not s.timer:
            return
        yield {}, self._next(s, timer=False, queued=True)

    # =====================================================================================
    # The device (QEMU) and the host.
    # =====================================================================================

    def _answer(self, s: State, buf: tuple[int, ...]) -> tuple[Resp, tuple[bool, ...]]:
        """``virtio_mem_state_change_request`` / ``virtio_mem_unplug_all``."""
        req, first, count = Req(buf[0]), buf[1], buf[2]
        bits = list(s.dev_plugged)
        if req is Req.UNPLUG_ALL:
            return Resp.ACK, (False,) * self.N
        blocks = range(first, first + count)
        if count < 1 or first < 0 or first + count > self.N:
            return Resp.ERROR, s.dev_plugged
        if req is Req.PLUG and sum(bits) + count > s.dev_requested:
            return Resp.NACK, s.dev_plugged
        target = req is Req.PLUG
        if any(bits[i] == target for i in blocks):
            return Resp.ERROR, s.dev_plugged  # not all blocks in the opposite state
        for i in blocks:
            bits[i] = target
        return Resp.ACK, tuple(bits)

    @action("hw/virtio/virtio-mem.c: virtio_mem_handle_request", fair="strong")
    def device_handle(self, s: State) -> Iterator[tuple[Args, State]]:
        """Pop the request, act on it, write the response and push it (one handler run)."""
        popped = s.vq.pop()
        if popped is None:
            return
        buf, vq = popped
        resp, bits = self._answer(s, buf)
        _, vq = vq.push()
        yield (
            {"req": Req(buf[0]).name, "resp": resp.name},
            self._next(s, vq=vq, resp=resp, dev_plugged=bits),
        )

    @action("hw/virtio/virtio-mem.c: virtio_mem_set_block_state fails (migration: BUSY)")
    def device_handle_busy(self, s: State) -> Iterator[tuple[Args, State]]:
        """``virtio_mem_is_busy()``: the device answers BUSY and changes nothing (UNPLUG_ALL
        only when something is plugged: ``virtio_mem_unplug_all`` checks the size first)."""
        popped = s.vq.pop()
        if popped is None:
            return
        buf, vq = popped
        if buf[0] == Req.UNPLUG_ALL and not any(s.dev_plugged):
            return
        _, vq = vq.push()
        yield {"req": Req(buf[0]).name}, self._next(s, vq=vq, resp=Resp.BUSY)

    @action("hw/virtio/virtio-mem.c: requested-size property -> virtio_mem_config_changed")
    def host_resize(self, s: State) -> Iterator[tuple[Args, State]]:
        """The host changes the requested size; the config interrupt sets
        ``config_changed`` and queues the work (``virtio_mem_retry``)."""
        if s.resizes_left <= 0:
            return
        for size in range(self.N + 1):
            if size != s.dev_requested:
                yield (
                    {"size": size},
                    self._next(
                        s,
                        dev_requested=size,
                        resizes_left=s.resizes_left - 1,
                        config_changed=True,
                        queued=True,
                    ),
                )

    # =====================================================================================
    # Guest users and user space (onlining).
    # =====================================================================================

    @action("mm/page_alloc.c: __alloc_pages (a guest user)")
    def user_alloc(self, s: State) -> Iterator[tuple[Args, State]]:
        """A movable page anywhere; an unmovable one only in a kernel zone."""
        used = sum(1 for p in s.pages if p in (Page.MOVABLE, Page.UNMOVABLE))
        if used >= self.config.user_pages:
            return
        for f in range(len(s.pages)):
            if s.pages[f] is not Page.FREE:
                continue
            for kind in (Page.MOVABLE, Page.UNMOVABLE):
                if kind is Page.UNMOVABLE and not self.in_kernel_zone(s, f):
                    continue
                pages = (*s.pages[:f], kind, *s.pages[f + 1 :])
                yield {"kind": kind.name, "frame": f}, self._next(s, pages=pages)

    @action("mm/page_alloc.c: free_pages (a guest user)")
    def user_free(self, s: State) -> Iterator[tuple[Args, State]]:
        for f in range(len(s.pages)):
            if s.pages[f] in (Page.MOVABLE, Page.UNMOVABLE):
                pages = (*s.pages[:f], Page.FREE, *s.pages[f + 1 :])
                yield {"frame": f}, self._next(s, pages=pages)

    @action("mm/memory_hotplug.c: online_pages -> virtio_mem_online_page_cb")
    def online_block(self, s: State) -> Iterator[tuple[Args, State]]:
        """MEM_GOING_ONLINE (only from OFFLINE*), the online-page callback (plugged
        sub-blocks to the buddy, unplugged ones stay PageOffline), MEM_ONLINE."""
        if self.locked(s):
            return
        zones = {"any": ("kernel", "movable"), "kernel": ("kernel",), "movable": ("movable",)}
        for mb in range(self.M):
            if s.mb[mb] not in (MB.OFFLINE, MB.OFFLINE_PARTIAL) or self.not_added(s, mb):
                continue
            pages = list(s.pages)
            for i in range(self.S):
                pages[self.frame(mb, i)] = Page.FREE if s.sb[mb * self.S + i] else Page.OFFLINE
            for zone in zones[self.config.online_zones]:
                new = list(s.mb)
                partial = s.mb[mb] is MB.OFFLINE_PARTIAL
                if zone == "kernel":
                    new[mb] = MB.KERNEL_PARTIAL if partial else MB.KERNEL
                else:
                    new[mb] = MB.MOVABLE_PARTIAL if partial else MB.MOVABLE
                offline = sum(1 for st in new if st in (MB.OFFLINE, MB.OFFLINE_PARTIAL))
                # MEM_ONLINE: kick the driver if it is idle and could add memory again.
                retry = s.run.pc is Pc.IDLE and offline + OFFLINE_THRESHOLD_BLOCKS // 2 <= (
                    OFFLINE_THRESHOLD_BLOCKS
                )
                yield (
                    {"mb": mb, "zone": zone},
                    self._next(s, mb=tuple(new), pages=tuple(pages), queued=s.queued or retry),
                )

    @action("mm/memory_hotplug.c: offline_pages (user space offlines a block)")
    def offline_block(self, s: State) -> Iterator[tuple[Args, State]]:
        """MEM_GOING_OFFLINE lets core offlining skip the PageOffline pages; movable pages
        migrate out; an unmovable page makes it fail (not offered)."""
        if not self.config.user_offline or self.locked(s):
            return
        for mb in range(self.M):
            if s.mb[mb] not in ONLINE or (s.run.pc is Pc.REMOVE and s.run.mb == mb):
                continue
            frames = range(self.frame(mb, 0), self.frame(mb, 0) + self.S)
            if any(s.pages[f] is Page.UNMOVABLE for f in frames):
                continue
            movable = [f for f in frames if s.pages[f] is Page.MOVABLE]
            targets = [
                f for f in range(len(s.pages)) if f not in frames and s.pages[f] is Page.FREE
            ][: len(movable)]
            if len(targets) < len(movable):
                continue
            pages = list(s.pages)
            for f in targets:
                pages[f] = Page.MOVABLE
            for f in frames:
                pages[f] = Page.NONE
            new = list(s.mb)
            new[mb] = MB.OFFLINE_PARTIAL if s.mb[mb] in PARTIAL_ADDED else MB.OFFLINE
            # MEM_OFFLINE: virtio_mem_retry only when unplug_online is off.
            retry = self.variant == "unplug_online_off"
            yield (
                {"mb": mb},
                self._next(s, mb=tuple(new), pages=tuple(pages), queued=s.queued or retry),
            )

    # =====================================================================================
    # Dumps.
    # =====================================================================================

    def _holes(self, s: State, states: frozenset[MB]) -> bool:
        """Some block in ``states`` (and really added) has a sub-block the device has
        unplugged. Dumps are offered only then: elsewhere a dump reads plugged memory only
        and can show nothing (a reduction of the state space, not of the behaviours that
        matter)."""
        return any(
            s.mb[mb] in states
            and not self.not_added(s, mb)
            and not all(s.dev_plugged[mb * self.S : (mb + 1) * self.S])
            for mb in range(self.M)
        )

    @action("fs/proc/kcore.c: read_kcore_iter (skips offline sections and PageOffline)")
    def dump_kcore(self, s: State) -> Iterator[tuple[Args, State]]:
        """Read every online page of the running kernel, except PageOffline ones."""
        if not self._holes(s, ONLINE):
            return
        skip = () if self.variant == "kcore_reads_page_offline" else (Page.OFFLINE,)
        read = frozenset(
            f for f in range(len(s.pages)) if s.pages[f] is not Page.NONE and s.pages[f] not in skip
        )
        yield {}, _evolve(s, dump=Dump.KCORE, dumped=read)

    @action("drivers/virtio/virtio_mem.c: virtio_mem_vmcore_pfn_is_ram (kdump kernel)")
    def kdump(self, s: State) -> Iterator[tuple[Args, State]]:
        """Had the guest crashed here, the crash kernel would read /proc/vmcore: boot memory
        and the added memory blocks, asking the device (STATE) whether each device block is
        plugged. Recorded in the next state; the run goes on."""
        if not self._holes(s, ADDED):
            return
        read = set(range(self.B))
        asked = []
        for mb in range(self.M):
            if s.mb[mb] not in ADDED or self.not_added(s, mb):
                continue  # not "System RAM" of the crashed kernel
            for i in range(self.S):
                block = mb * self.S + i
                if self.variant == "kdump_reads_all":
                    is_ram = True  # no vmcore callback: everything added is read
                elif not any(s.dev_plugged):
                    is_ram = False  # plugged_size == 0: nothing is RAM
                else:
                    is_ram = self._state_request(s, block)
                    asked.append(f"{self._name(block)} {'PLUGGED' if is_ram else 'UNPLUGGED'}")
                if is_ram:
                    read.add(self.frame(mb, i))
        args = {"state": ", ".join(asked) or "-"}
        yield args, _evolve(s, dump=Dump.KDUMP, dumped=frozenset(read))

    def _state_request(self, s: State, block: int) -> bool:
        """The device's ``virtio_mem_state_request`` for one device block: PLUGGED?"""
        return s.dev_plugged[block]

    # =====================================================================================
    # Properties.
    # =====================================================================================

    def _acked_view(self, s: State) -> list[bool]:
        """The driver's bits with an acknowledged, not yet received request applied."""
        bits = list(s.sb)
        if s.vq.used and s.resp is Resp.ACK:
            req, first, count = s.vq.used[0]
            if req in (Req.PLUG, Req.UNPLUG):
                for i in range(first, first + count):
                    bits[i] = req == Req.PLUG
        return bits

    def _name(self, block: int) -> str:
        return f"mb{block // self.S}/sb{block % self.S}"

    @always("a plugged bit is set exactly when the device has the sub-block plugged")
    def bitmap_matches_device(self, s: State) -> Check:
        """After the ACK (an ACK not yet received counts as applied); before the leftovers
        are unplugged (UNPLUG_ALL) no bit may be set."""
        if s.unplug_all_required:
            for i, bit in enumerate(s.sb):
                if bit:
                    return f"{self._name(i)}: bit set before the leftovers were unplugged"
            return True
        bits = self._acked_view(s)
        for i in range(self.N):
            if bits[i] != s.dev_plugged[i]:
                have = "set" if bits[i] else "clear"
                dev = "plugged" if s.dev_plugged[i] else "unplugged"
                return f"{self._name(i)}: the driver's bit is {have} but the device has it {dev}"
        return True

    @always("no page in use or in the buddy loses its backing")
    def pages_backed(self, s: State) -> Check:
        """A range is unplugged only after it was isolated (PageOffline)."""
        for f in range(self.B, len(s.pages)):
            if s.pages[f] in (Page.FREE, Page.MOVABLE, Page.UNMOVABLE):
                block = f - self.B
                if not s.dev_plugged[block]:
                    return (
                        f"frame {f} ({self._name(block)}) is {s.pages[f].name.lower()} "
                        "but the device has it unplugged"
                    )
        return True

    @always("the dump never reads unplugged memory")
    def dump_reads_plugged(self, s: State) -> Check:
        for f in sorted(s.dumped):
            if f >= self.B and not s.dev_plugged[f - self.B]:
                return (
                    f"the {s.dump.name.lower()} dump read frame {f} "
                    f"({self._name(f - self.B)}), which is unplugged"
                )
        return True

    @always("the plugged size is the number of plugged sub-blocks times the sub-block size")
    def accounting(self, s: State) -> Check:
        """Once the leftovers of a previous boot are gone (``unplug_all_required`` clear)."""
        if s.unplug_all_required:
            return True
        bits = sum(s.sb)
        if s.plugged != bits:
            return f"plugged_size is {s.plugged} sub-blocks but {bits} bits are set"
        return True

    # -- witnesses --------------------------------------------------------------------------

    @sometimes("a sub-block gets plugged")
    def some_plugged(self, s: State) -> bool:
        return any(s.sb)

    @sometimes("the device acknowledges the unplug of fake-offlined online memory")
    def online_unplugged(self, s: State) -> bool:
        return (
            s.run.pc is Pc.WAIT
            and s.run.op is Op.UNPLUG_ONLINE
            and bool(s.vq.used)
            and s.resp is Resp.ACK
        )

    @sometimes("fake offline fails: an unplug pass ends with sub-blocks left")
    def fake_offline_failed(self, s: State) -> bool:
        return s.run.pc is Pc.PASS_END

    @sometimes("a kcore dump skips an unplugged sub-block of an online block")
    def kcore_skips(self, s: State) -> bool:
        return s.dump is Dump.KCORE and any(
            s.mb[mb] in ONLINE and not s.dev_plugged[mb * self.S + i]
            for mb in range(self.M)
            for i in range(self.S)
        )

    @sometimes("the crash kernel asks the device and skips an unplugged sub-block")
    def kdump_skips(self, s: State) -> bool:
        return s.dump is Dump.KDUMP and any(
            s.mb[mb] in ADDED and not s.dev_plugged[mb * self.S + i]
            for mb in range(self.M)
            for i in range(self.S)
        )

    # -- liveness -------------------------------------------------------------------------

    def _request_differs(self, s: State) -> bool:
        return s.dev_requested != sum(s.dev_plugged)

    @leads_to(
        "a requested size that movable memory can reach is eventually reached",
        when=_request_differs,
    )
    def requested_reached(self, s: State) -> bool:
        """ZONE_NORMAL memory may be unmovable: no promise while some device memory is
        online in a kernel zone (P-MEM-4)."""
        return not self._request_differs(s) or any(st in KERNEL_ZONE for st in s.mb)

    def _unplugged_block_added(self, s: State) -> bool:
        return any(
            s.mb[mb] in PARTIAL_ADDED and not any(s.sb[mb * self.S : (mb + 1) * self.S])
            for mb in range(self.M)
        )

    @leads_to(
        "a completely unplugged memory block is eventually removed", when=_unplugged_block_added
    )
    def unplugged_block_removed(self, s: State) -> bool:
        return not self._unplugged_block_added(s)

    def _raise_unnoticed(self, s: State) -> bool:
        return s.dev_requested > s.requested

    @leads_to(
        "a raised requested size is noticed even while unplugging keeps failing",
        when=_raise_unnoticed,
    )
    def raise_noticed(self, s: State) -> bool:
        return not self._raise_unnoticed(s)

    # =====================================================================================
    # Traces.
    # =====================================================================================

    def view(self, s: State) -> dict[str, object]:
        """Each memory block with its sub-block bits, then the driver, the virtqueue and
        the device, in words."""
        out: dict[str, object] = {}
        for mb in range(self.M):
            bits = "".join("1" if b else "0" for b in s.sb[mb * self.S : (mb + 1) * self.S])
            out[f"mb{mb}"] = f"{s.mb[mb].name} [{bits}]"
        flags = [
            name
            for name, on in (
                ("config_changed", s.config_changed),
                ("unplug_all_required", s.unplug_all_required),
                ("have_unplugged_mb", s.have_unplugged_mb),
                ("broken", s.broken),
            )
            if on
        ]
        out["driver"] = f"plugged {s.plugged} requested {s.requested}" + "".join(
            f", {f}" for f in flags
        )
        out["work"] = self._work_text(s)
        out["virtqueue"] = self._vq_text(s)
        dev = "".join("1" if b else "0" for b in s.dev_plugged)
        out["device"] = (
            f"plugged [{dev}] requested {s.dev_requested} ({s.resizes_left} resizes left)"
        )
        if s.dump is not Dump.NONE:
            frames = ",".join(str(f) for f in sorted(s.dumped))
            out["dump"] = f"{s.dump.name.lower()} read frames {frames}"
        else:
            out["dump"] = "-"
        return out

    def _work_text(self, s: State) -> str:
        parts = []
        r = s.run
        if r.pc is Pc.IDLE:
            parts.append("idle")
        elif r.pc is Pc.PASS_END:
            parts.append(f"unplug pass over, {r.nb} sub-block(s) left")
        else:
            where = {
                Pc.WAIT: "waiting",
                Pc.ADD: "add_memory",
                Pc.REMOVE: "offline_and_remove_memory",
            }[r.pc]
            text = f"{where} in {r.op.name} mb{r.mb}"
            if r.pc is Pc.WAIT and r.op is not Op.UNPLUG_ALL:
                text += f" sb{r.sb}+{r.count}"
            if r.nb:
                text += f", {r.nb} to go"
            parts.append(text)
        if s.queued:
            parts.append("queued")
        if s.timer:
            parts.append("retry timer")
        return ", ".join(parts)

    def _vq_text(self, s: State) -> str:
        for where, bufs in (
            ("avail", s.vq.avail),
            ("inflight", s.vq.inflight),
            ("used", s.vq.used),
        ):
            for req, first, count in bufs:
                name = Req(req).name
                text = name if req == Req.UNPLUG_ALL else f"{name} {self._name(first)}+{count}"
                if where == "used":
                    text += f" -> {s.resp.name}"
                return f"{text} ({where})"
        return "empty"

    def frame_map(self, s: State) -> str:
        out = []
        for f, p in enumerate(s.pages):
            plugged = f < self.B or s.dev_plugged[f - self.B]
            if p is Page.NONE:
                out.append("o" if plugged else "-")
            elif p is Page.OFFLINE:
                out.append("x" if plugged else "X")
            elif not plugged:
                out.append("!")
            else:
                out.append({Page.FREE: "f", Page.MOVABLE: "M", Page.UNMOVABLE: "K"}[p])
        return "".join(out)
