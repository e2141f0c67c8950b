"""virtio-mem in Sub Block Mode: the Linux driver, the QEMU device, guest users and dumps.

virtio-mem is not a balloon: the device owns a region of guest-physical memory and the
driver plugs and unplugs small *sub-blocks* inside it, on request of the host, with no
guarantee that an unplug succeeds (ZONE_NORMAL memory may hold unmovable pages). The facts
this model takes from the source, each with its source, are in ``docs/models/virtio_mem.md``;
the code read for it:

* driver -- ``torvalds/linux drivers/virtio/virtio_mem.c`` (v6.5 and later: with
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
* the guest-request virtqueue (``hintspec.lang.virtqueue``, one request in flight as in the
  driver, which waits for each answer) and the response buffer ``vm->resp`` the device
  writes;
* the device's bitmap of plugged blocks and its ``requested_size``; the host changes the
  requested size at any time, ``resizes`` times in all (so every behaviour ends with a
  stable request and liveness is about reaching it);
* **every answer the device can refuse with, and the driver's rollback of each**: NACK (a
  plug beyond the requested size: the host shrank it while the request was in flight),
  BUSY (``device_handle_busy``) and ERROR (``device_handle_error``, see
  ``Config.device_errors``), to a plug of a new block, of more sub-blocks into an offline or
  an online block, to an unplug of an offline block, of fake-offlined online memory, of a
  block whose ``add_memory`` failed (and its later cleanup), and BUSY to UNPLUG_ALL. The
  driver's error reaches ``virtio_mem_run_wq`` after the rollbacks of every function on the
  way; at that moment the model records the request's range as it is beside the range as it
  was before (``refused``, a history variable) for ``refusal_rolled_back``;
* page states: not online, free, in use (movable or unmovable), PageOffline. Onlining goes
  through the online-page callback: plugged sub-blocks go to the buddy, unplugged ones stay
  PageOffline. Fake offline is ``alloc_contig_range``: it fails while an unmovable page sits
  in the range, migrates movable pages to free frames outside it (and fails if there are
  too few), and marks the range PageOffline;
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
  offline threshold is a number of memory blocks (``Config.offline_threshold``); the retry
  timer's back-off (50 s doubling to 300 s) is abstracted to "armed";
* **the length of an unplug pass.** A real device has thousands of sub-blocks and one pass
  over them can take minutes ("we could end up trying for a long time to unplug memory",
  f55484fd7be9). The model's few sub-blocks stand for all of them: when a pass ends with
  sub-blocks it could not fake-offline, it may go on (``unplug_pass_over(then="goes on")``)
  and visit them again, without fairness forcing it to stop. So "a long time" becomes "for
  ever" in the model, and the missing ``config_changed`` check shows as a lasso; the fixed
  driver leaves such a pass at its next fake-offline attempt once the config changed;
* failures of the environment are separate actions (``add_memory_fails``,
  ``offline_and_remove_fails``, ``device_handle_busy``, ``device_handle_error``).

Fairness. An action is fair only where the guest kernel guarantees it, and each says why:
queued work runs (``run_wq``), the device's interrupt wakes the waiting work item
(``driver_receive``), an armed timer expires (``retry_timer_fires``), a called function
returns (``add_memory``, ``offline_and_remove``, ``unplug_pass_over``); all weak
(``GUEST_FAIRNESS``). Nothing is assumed of the host. The liveness properties add, as their
premise (``RESPONSIVE_HOST``), that the host answers every request and is not BUSY for ever
and that memory hotplug does not fail for ever; ``tests/test_virtio_mem.py`` shows, for each
of these assumptions, the lasso that dropping it lets through. What the guest does when the
host stalls or keeps refusing is safety, with no assumption: ``busy_backs_off`` (BUSY arms
the retry timer, no busy loop) and ``withheld_only_in_flight`` (the memory taken from the
guest is at most the one request in flight, so a stall cannot run the guest out of memory).

The default config (one memory block of two sub-blocks, one boot page, one guest page, two
resizes, leftovers from a previous boot, both zones, user-space offlining, ERROR answers) is
the smallest that admits every interleaving the properties are about: a plug that ends a
block partial (so later plugs go into an offline and an online partial block), the host
shrinking the size while a plug is in flight (NACK), every refusal of every request listed
above, an unmovable page in a kernel-zone block next to an unplugged sub-block (fake
offline fails, kcore skips a hole, the pass goes on), the removal of a completely unplugged
block failing and being retried, and UNPLUG_ALL at probe. Every action fires there and
every witness is reached (``tests/test_virtio_mem.py``), so no situational invariant is
vacuous. What it cannot show needs two memory blocks (the block order of the passes, the
finding below) or more, the manifest's ladder (``models/manifest/virtio_mem.json``).

Two properties watch the driver's own steps rather than their effect on the device: every
request it sends is one QEMU can carry out (``request_valid``: inside the region, every
sub-block in the opposite state; else ERROR, and the driver marks the device broken, which
the liveness properties excuse), and no page a guest user holds is ever taken from it
(``user_pages_kept``, counted by the history variable ``in_use``: fake offline migrates
pages in use out of the range, or fails and leaves it alone).

Bad variants: ``no_remove_retry`` and ``fake_offline_ignores_config`` are the drivers before
a31648fd4f96 and f55484fd7be9; ``kcore_reads_page_offline`` is ``/proc/kcore`` before it
skipped PageOffline pages, ``kdump_reads_all`` a crash kernel without the vmcore callback;
``plug_bit_before_ack``, ``unplug_without_fake_offline``, the five rollback and back-off
bugs (``refused_*``, ``add_failed_forgets_plugged``, ``busy_retries_at_once``),
``fake_offline_ignores_failure`` and ``plug_from_first_sb`` are invented to give the
properties teeth; ``unplug_online_off`` is the ``unplug_online=0`` module parameter.

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
from hintspec.models import _virtio_mem_common as common
from hintspec.models._virtio_mem_common import (
    BUSY_RETRIES_AT_ONCE,
    EAGAIN,
    EBUSY,
    ENOMEM,
    ENOSPC,
    FAKE_OFFLINE_IGNORES_FAILURE,
    NOTHING,
    OK,
    USABLE,
    Dump,
    Page,
    RangeView,
    Refusal,
    Req,
    Resp,
    Where,
    evolve,
    kcore_read,
    migrate_out,
    request_rc,
    rollback_changes,
    run_ends,
)


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


def _full(state: MB) -> MB:
    """A block's state up to "partial": a *_PARTIAL state as its full one."""
    return MB(state - 1) if state in PARTIAL_ADDED else state


CLEANUP_ORDER = (MB.MOVABLE_PARTIAL, MB.KERNEL_PARTIAL, MB.OFFLINE_PARTIAL)
"""``virtio_mem_cleanup_pending_mb``: where completely unplugged blocks are looked for."""


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


GUEST_FAIRNESS: dict[str, str] = {
    "run_wq": "weak",
    "driver_receive": "weak",
    "add_memory": "weak",
    "offline_and_remove": "weak",
    "unplug_pass_over": "weak",
    "retry_timer_fires": "weak",
}
"""What the guest kernel guarantees, as declared on the actions (each says why): queued work
runs, a wakeup wakes, a timer fires, a called function returns. Nothing about the host."""

RESPONSIVE_HOST: dict[str, str] = {
    **GUEST_FAIRNESS,
    "device_handle": "strong",
    "add_memory": "strong",
    "offline_and_remove": "strong",
}
"""The premise of the liveness properties, beyond what the guest guarantees: the host
answers every request and does not answer BUSY for ever (strong: a host that is busy now
and then may still be busy infinitely often, but not every time), and memory hotplug does
not fail for ever (``add_memory_driver_managed`` fails on -ENOMEM, ``offline_and_remove_memory``
when a page is briefly pinned or a notifier objects: transient in practice, not by any
guarantee). Nothing can be reached without them; ``tests/test_virtio_mem.py`` shows the
lasso each one rules out, and the properties for a stalled host (``busy_backs_off``,
``withheld_only_in_flight``) need none of them."""


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
    before: RangeView | None = None
    """While a request is in flight: its range as it was when the function that sent it
    began (for an unplug of online memory: before fake offline). A history variable for
    the rollback property; the kernel keeps the equivalent in the caller's locals
    (``old_state`` in ``virtio_mem_sbm_unplug_sb_online``) and in the pages themselves."""


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
    offline_threshold: int = 8
    """``vm->offline_threshold`` in memory blocks: ``max(2 memory blocks, 1 GiB)``, so 8 with
    x86-64's 128 MiB blocks and 2 with memory blocks of 512 MiB or more. No new block is
    added while that much added memory is offline (``virtio_mem_could_add_memory``)."""
    device_errors: bool = True
    """The device may answer ERROR to any plug or unplug request. QEMU answers ERROR only
    to a request for an invalid range or for blocks not all in the opposite state
    (``virtio_mem_state_change_request``), which the upstream driver never sends; the
    model lets it happen anyway, so that what the driver does with ERROR (roll back, then
    mark the device broken) is checked too."""
    variant: str = "upstream"

    def __post_init__(self) -> None:
        if self.blocks < 1 or self.sbs_per_mb < 2:
            raise ValueError(  # pragma: no cover -- refused input, see the tests
                "need blocks >= 1 and sbs_per_mb >= 2 (SBM: a block has >= 2)"
            )
        if self.boot_pages < 1 or self.user_pages < 0 or self.resizes < 0:
            raise ValueError(  # pragma: no cover -- refused input, see the tests
                "need boot_pages >= 1, user_pages >= 0 and resizes >= 0"
            )
        if self.offline_threshold < 2:
            raise ValueError(  # pragma: no cover -- refused input, see the tests
                "need offline_threshold >= 2 (at least two memory blocks)"
            )


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
    in_use: int
    """Pages guest users allocated and have not freed (a history variable, counted by
    ``user_alloc`` and ``user_free``, for ``user_pages_kept``)."""
    # -- the dump just taken (cleared by the next action) ----------------------------------
    dump: Dump
    dumped: frozenset[int]
    """The frames that dump read."""
    # -- the refusal the driver just finished handling (cleared by the next action) --------
    refused: Refusal | None


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
        self.refusing: tuple[Req, Resp, Run] | None = None
        """A refused request whose error has not yet reached ``virtio_mem_run_wq``."""
        self.refused: Refusal | None = None

    def freeze(self) -> State:
        return evolve(
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
            refused=self.refused,
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

    def send(
        self, req: Req, mb: int, sb: int, count: int, run: Run, before: RangeView | None = None
    ) -> None:
        """``virtio_mem_send_request``: add the request, kick, and wait. ``before``: the
        range as the sending function found it (default: as it is now)."""
        first = mb * self.m.S + sb
        vq = self.vq.add((int(req), first, count))
        assert vq is not None, "one request in flight at a time"
        self.vq = vq
        self.resp = Resp.NONE
        if before is None:
            before = self.m.range_view(self, *self.m.request_range(req, first, count))
        self.run = replace(run, pc=Pc.WAIT, before=before)


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
            "/proc/kcore before 'fs/proc/kcore: don't read offline sections, logically "
            "offline pages and hwpoisoned pages' (2021): read_kcore read PageOffline pages, "
            "so a first-kernel dump read virtio-mem's unplugged memory"
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
        "refused_unplug_keeps_fake_offline": (
            "invented: virtio_mem_sbm_unplug_sb_online without its rollback: when the device "
            "refuses to unplug fake-offlined memory (BUSY, ERROR), the range is not handed "
            "back with virtio_mem_fake_online(), so the guest loses memory the device still "
            "backs"
        ),
        "refused_plug_onlines": (
            "invented: virtio_mem_sbm_plug_any_sb hands the range of an online block to the "
            "buddy (virtio_mem_fake_online) whatever the answer: after a refused plug (NACK, "
            "BUSY, ERROR) the guest uses memory the device does not back"
        ),
        "refused_unplug_clears_bits": (
            "invented: virtio_mem_send_unplug_request counts a BUSY answer as done "
            "(plugged_size and the plugged bits updated as on ACK, the error still returned): "
            "the driver's bitmap no longer matches the device"
        ),
        "add_failed_forgets_plugged": (
            "invented: when add_memory fails and the device then refuses to unplug the range, "
            "virtio_mem_sbm_plug_and_add_mb marks the block UNUSED instead of PLUGGED, so "
            "virtio_mem_cleanup_pending_mb never unplugs it"
        ),
        "busy_retries_at_once": BUSY_RETRIES_AT_ONCE,
        "fake_offline_ignores_failure": FAKE_OFFLINE_IGNORES_FAILURE,
        "plug_from_first_sb": (
            "invented: virtio_mem_sbm_plug_any_sb plugs from the block's first sub-block, "
            "not from virtio_mem_sbm_first_unplugged_sb(): a request covering a plugged "
            "sub-block, which QEMU answers with ERROR, and the driver marks the device broken"
        ),
        "unplug_online_off": (
            "the module parameter unplug_online=0: online memory is never unplugged, so a "
            "smaller requested size is not reached while the memory stays online"
        ),
    }
    reference_config = {"blocks": 2}
    # Big random runs: six memory blocks, and enough resizes that unplug passes run to the
    # end and remove blocks. Without ERROR answers: one marks the device broken and ends the
    # driver's part of the run (the explorer checks them at every entry).
    hypothesis_config = {
        "blocks": 6,
        "sbs_per_mb": 2,
        "boot_pages": 2,
        "user_pages": 2,
        "resizes": 40,
        "device_errors": False,
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

    def request_range(self, req: Req, first: int, count: int) -> tuple[int, int]:
        """The sub-blocks a request is about: its range (UNPLUG_ALL: the whole region)."""
        return (0, self.N) if req is Req.UNPLUG_ALL else (first, count)

    def range_view(self, s: State | _W, first: int, count: int) -> RangeView:
        blocks = range(first, first + count)
        return RangeView(
            block=int(s.mb[first // self.S]),
            bits=tuple(s.sb[i] for i in blocks),
            device=tuple(s.dev_plugged[i] for i in blocks),
            usable=tuple(s.pages[self.B + i] in USABLE for i in blocks),
            plugged_size=s.plugged,
        )

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
                    in_use=0,
                    dump=Dump.NONE,
                    dumped=frozenset(),
                    refused=None,
                )

    @staticmethod
    def _next(s: State, **changes: object) -> State:
        """The successor of a non-dump action (the dump and refusal records are cleared)."""
        return evolve(s, dump=Dump.NONE, dumped=NOTHING, refused=None, **changes)

    # =====================================================================================
    # The driver: virtio_mem_run_wq and what it calls, as continuations between waits.
    # =====================================================================================

    # Weak: virtio_mem_retry queues the work on system_freezable_wq, whose workers run it
    # (the queue is frozen only across suspend, and thawed again).
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
        if w.refusing is not None:
            self._refusal_handled(w)
        then = run_ends(rc, self.variant)
        if then == "retry":
            self._retry(w)
            return
        w.run = IDLE
        if then == "timer":
            w.timer = True
        elif then == "broken":
            w.broken = True

    def _refusal_handled(self, w: _W) -> None:
        """A refusal's error reaches the main loop: every rollback of the functions between
        the request and here has run. Record the range as it is now beside the range as it
        was before (for the properties)."""
        assert w.refusing is not None
        req, resp, run = w.refusing
        w.refusing = None
        assert run.before is not None
        first, count = self.request_range(req, run.mb * self.S + run.sb, run.count)
        if run.op is Op.PLUG_PARTIAL:
            where: Where = "online" if run.before.block in ONLINE else "offline"
        elif run.op is Op.UNPLUG_ONLINE:
            where = "online"
        elif run.op is Op.UNPLUG_OFFLINE:
            where = "offline"
        else:
            where = "not added"
        after = self.range_view(w, first, count)
        w.refused = Refusal(req, resp, int(run.op), where, first, count, run.before, after)

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
            if self.variant == "plug_from_first_sb" and sb < self.S:
                sb = 0
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
                if offline + 1 > self.config.offline_threshold:  # virtio_mem_could_add_memory
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
        before = self.range_view(w, mb * self.S + sb, count)
        if self.variant != "unplug_without_fake_offline":
            rc = self._fake_offline(w, mb, sb, count)
            if rc:
                return rc
        if w.config_changed:  # virtio_mem_send_unplug_request
            self._fake_online(w, mb, sb, count)
            return EAGAIN
        run = Run(op=Op.UNPLUG_ONLINE, phase=phase, mb=mb, sb=sb, count=count, nb=nb, whole=whole)
        w.send(Req.UNPLUG, mb, sb, count, run, before)
        return None

    def _fake_offline(self, w: _W, mb: int, sb: int, count: int) -> int:
        """``virtio_mem_fake_offline``: ``alloc_contig_range`` (5 tries on ZONE_MOVABLE, one
        otherwise; in one model step every try gives the same answer)."""
        if w.config_changed and self.variant != "fake_offline_ignores_config":
            return EAGAIN
        frames = w.frames(mb, sb, count)
        if not migrate_out(w.pages, frames) and self.variant != "fake_offline_ignores_failure":
            return EBUSY
        for f in frames:
            w.pages[f] = Page.OFFLINE  # virtio_mem_set_fake_offline
        return OK

    def _fake_online(self, w: _W, mb: int, sb: int, count: int) -> None:
        """``virtio_mem_fake_online``: the range goes back to the buddy."""
        for f in w.frames(mb, sb, count):
            w.pages[f] = Page.FREE

    # -- the answer arrives ---------------------------------------------------------------

    # Weak: once the device has pushed the answer, its interrupt (virtio_mem_handle_response
    # -> wake_up) wakes the waiting work item, and virtqueue_get_buf finds the buffer.
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
        if resp is not Resp.ACK:
            w.refusing = (req, resp, run)
        if req is Req.UNPLUG_ALL:
            rc = request_rc(req, resp)
            if rc == OK:
                w.unplug_all_required = False
                w.plugged = 0
                w.config_changed = True
            w.run = IDLE
            self._after_unplug_all(w, rc)
        elif req is Req.PLUG:
            rc = request_rc(req, resp)
            if rc == OK:
                w.plugged += count
                w.set_bits(mb, sb, count, True)
            self._plugged(w, run, rc)
        else:
            rc = request_rc(req, resp)
            if rc == OK or (resp is Resp.BUSY and self.variant == "refused_unplug_clears_bits"):
                w.plugged -= count
                w.set_bits(mb, sb, count, False)
            self._unplugged_range(w, run, rc)
        yield {"resp": resp.name}, w.freeze()

    def _plugged(self, w: _W, run: Run, rc: int) -> None:
        mb, sb, count, nb = run.mb, run.sb, run.count, run.nb
        if run.op is Op.PLUG_PARTIAL:
            online = w.mb[mb] is not MB.OFFLINE_PARTIAL
            if rc:
                if online and self.variant == "refused_plug_onlines":
                    self._fake_online(w, mb, sb, count)
                self._finish(w, rc)
                return
            if online:
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
            # "if (virtio_mem_sbm_unplug_sb(...)) new_state = VIRTIO_MEM_SBM_MB_PLUGGED"
            keep = rc and self.variant != "add_failed_forgets_plugged"
            w.mb[mb] = MB.PLUGGED if keep else MB.UNUSED
            self._finish(w, ENOMEM)
        else:  # UNPLUG_ONLINE
            if rc:
                if self.variant != "refused_unplug_keeps_fake_offline":
                    self._fake_online(w, mb, sb, count)  # "Return the memory to the buddy."
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

    # Weak: add_memory_driver_managed returns (with success or -ENOMEM: add_memory_fails);
    # that it does not fail for ever is a premise of the liveness properties only
    # (RESPONSIVE_HOST).
    @action("mm/memory_hotplug.c: add_memory_driver_managed", fair="weak")
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

    # Weak: offline_and_remove_memory returns (success, or -EBUSY: offline_and_remove_fails);
    # that it does not fail for ever is a premise of the liveness properties only.
    @action("mm/memory_hotplug.c: offline_and_remove_memory", fair="weak")
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

    # Weak: the driver's own loop moves on from a visited candidate (one way or the other).
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

    # The retry timer: the same code in both modes (models/_virtio_mem_common.py).
    retry_timer_fires = common.retry_timer_fires

    # =====================================================================================
    # The device (QEMU), the host and the guest's users: the same code in both modes
    # (models/_virtio_mem_common.py; bound here so that they are this model's actions).
    # =====================================================================================

    device_handle = common.device_handle
    device_handle_busy = common.device_handle_busy
    device_handle_error = common.device_handle_error
    host_resize = common.host_resize
    user_alloc = common.user_alloc
    user_free = common.user_free

    # -- user space: onlining and offlining memory blocks ------------------------------------

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
                threshold = self.config.offline_threshold
                retry = s.run.pc is Pc.IDLE and offline + threshold // 2 <= threshold
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
            pages = list(s.pages)
            if not migrate_out(pages, frames):
                continue
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
        read = kcore_read(s.pages, skip_page_offline=self.variant != "kcore_reads_page_offline")
        yield {}, evolve(s, dump=Dump.KCORE, dumped=read, refused=None)

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
        yield args, evolve(s, dump=Dump.KDUMP, dumped=frozenset(read), refused=None)

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
            req, first, count = s.vq.used[0]  # (UNPLUG_ALL: count 0, and the caller's case)
            for i in range(first, first + count):
                bits[i] = req == Req.PLUG
        return bits

    def _name(self, block: int) -> str:
        return f"mb{block // self.S}/sb{block % self.S}"

    # -- the premises of the situational invariants ----------------------------------------

    def _online_hole(self, s: State) -> bool:
        """An online block has a sub-block the device has unplugged: where a usable page
        could lose its backing."""
        return any(
            s.mb[mb] in ONLINE and not all(s.dev_plugged[mb * self.S : (mb + 1) * self.S])
            for mb in range(self.M)
        )

    def _dump_taken(self, s: State) -> bool:
        """A dump was just taken (dumps are offered only where there are holes to skip)."""
        return s.dump is not Dump.NONE

    def _refusal_seen(self, s: State) -> bool:
        return s.refused is not None

    def _withheld(self, s: State) -> list[int]:
        """Frames taken from the guest (PageOffline) whose memory the device still has
        plugged: fake-offlined for an unplug, or not yet handed out after a plug."""
        return [
            f
            for f in range(self.B, len(s.pages))
            if s.pages[f] is Page.OFFLINE and s.dev_plugged[f - self.B]
        ]

    def _some_withheld(self, s: State) -> bool:
        return bool(self._withheld(s))

    # -- safety ---------------------------------------------------------------------------

    @always(
        "a plugged bit is set exactly when the device has the sub-block plugged",
        trigger="a sub-block gets plugged",
    )
    def bitmap_matches_device(self, s: State) -> Check:
        """After the ACK (an ACK not yet received counts as applied); before the leftovers
        of a previous boot are unplugged (UNPLUG_ALL) the driver knows of nothing plugged,
        so no bit may be set."""
        leftovers = s.unplug_all_required
        bits = list(s.sb) if leftovers else self._acked_view(s)
        device = (False,) * self.N if leftovers else s.dev_plugged
        for i in range(self.N):
            if bits[i] != device[i]:
                have = "set" if bits[i] else "clear"
                dev = "plugged" if s.dev_plugged[i] else "unplugged"
                when = " before the leftovers were unplugged" if leftovers else ""
                return (
                    f"{self._name(i)}: the driver's bit is {have}{when} but the device has it {dev}"
                )
        return True

    @always("no page in use or in the buddy loses its backing", trigger=_online_hole)
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

    @always("the dump never reads unplugged memory", trigger=_dump_taken)
    def dump_reads_plugged(self, s: State) -> Check:
        for f in sorted(s.dumped):
            if f >= self.B and not s.dev_plugged[f - self.B]:
                return (
                    f"the {s.dump.name.lower()} dump read frame {f} "
                    f"({self._name(f - self.B)}), which is unplugged"
                )
        return True

    @always(
        "the plugged size is the number of plugged sub-blocks times the sub-block size",
        trigger="a sub-block gets plugged",
    )
    def accounting(self, s: State) -> Check:
        """Once the leftovers of a previous boot are gone (``unplug_all_required`` clear)."""
        if s.unplug_all_required:
            return True
        bits = sum(s.sb)
        if s.plugged != bits:
            return f"plugged_size is {s.plugged} sub-blocks but {bits} bits are set"
        return True

    @always(
        "a refused request leaves its sub-blocks and their memory as it found them",
        trigger=_refusal_seen,
    )
    def refusal_rolled_back(self, s: State) -> Check:
        """When the error of a refused request (NACK, BUSY, ERROR) reaches the main loop,
        every function between has rolled back: the driver's and the device's bits of the
        range, ``plugged_size`` and whether each frame is usable are as before the request,
        and so is the block's state (a *_PARTIAL state may now record sub-blocks unplugged
        earlier in the same pass). The one exception is the rollback of a failed
        ``add_memory``: if the device refuses to take the sub-blocks back, the block is left
        PLUGGED, to be unplugged by ``virtio_mem_cleanup_pending_mb``."""
        r = s.refused
        if r is None:
            return True
        before, after = r.before, r.after
        block = MB.PLUGGED if r.op == Op.ADD_FAILED else _full(MB(before.block))
        changed = rollback_changes(before, after, block.name, _full(MB(after.block)).name)
        if not changed:
            return True
        return (
            f"the device answered {r.resp.name} to {r.req.name} {self._name(r.first)}"
            f"+{r.count} ({r.where}), but after the rollback: " + "; ".join(changed)
        )

    @always(common.BUSY_BACKS_OFF, trigger=common.busy_seen)
    def busy_backs_off(self, s: State) -> Check:
        """A host that keeps answering BUSY (migration, a failed preallocation) must not
        make the guest spin: ``virtio_mem_run_wq`` turns -ETXTBSY into ``hrtimer_start``
        (50 s, doubling to 300 s) and returns."""
        return common.busy_backs_off(s, s.run.pc is Pc.IDLE, self._work_text(s))

    @always(
        "the guest loses no memory to the host beyond the request in flight",
        trigger=_some_withheld,
    )
    def withheld_only_in_flight(self, s: State) -> Check:
        """However long the host takes to answer (or if it never does), the memory the
        driver has taken from the guest while the device still backs it is the range of the
        one request in flight: a stalled or refusing host cannot drain the guest (OOM)."""
        in_flight: range = range(0)
        if s.run.pc is Pc.WAIT and s.run.op is not Op.UNPLUG_ALL:
            first = s.run.mb * self.S + s.run.sb
            in_flight = range(self.B + first, self.B + first + s.run.count)
        for f in self._withheld(s):
            if f not in in_flight:
                return (
                    f"frame {f} ({self._name(f - self.B)}) is PageOffline while the device "
                    "still has it plugged, and no request for it is in flight"
                )
        return True

    @always(common.REQUEST_VALID, trigger="a sub-block gets plugged")
    def request_valid(self, s: State) -> Check:
        """The driver's bitmap is what the device has (``bitmap_matches_device``), and it
        builds each request from it: never a sub-block already in the target state, which
        QEMU would answer with ERROR, and the driver would mark the device broken."""
        return common.request_valid(s, self._name)

    # Shared with the other mode (models/_virtio_mem_common.py), bound here.
    user_pages_kept = common.user_pages_kept

    # -- witnesses --------------------------------------------------------------------------

    user_page_in_device = common.user_page_in_device

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

    # The device refuses: one witness per answer (shared with Big Block Mode, see
    # models/_virtio_mem_common.py) and one per kind of memory.

    def _refused(self, s: State, req: Req, where: str) -> bool:
        """The device refused ``req`` for memory that is ``where``."""
        r = s.refused
        return r is not None and r.req is req and r.where == where

    # Bound here, in this order, so that they are this model's properties.
    plug_nack = common.plug_nack
    plug_busy = common.plug_busy
    plug_error = common.plug_error
    unplug_busy = common.unplug_busy
    unplug_error = common.unplug_error

    @sometimes("the device refuses to plug more into an online block")
    def plug_online_refused(self, s: State) -> bool:
        return self._refused(s, Req.PLUG, "online")

    @sometimes("the device refuses to plug more into an offline block")
    def plug_offline_refused(self, s: State) -> bool:
        return self._refused(s, Req.PLUG, "offline")

    @sometimes("the device refuses to plug a block about to be added")
    def plug_new_refused(self, s: State) -> bool:
        return self._refused(s, Req.PLUG, "not added")

    @sometimes("the device refuses to unplug fake-offlined online memory")
    def unplug_online_refused(self, s: State) -> bool:
        return self._refused(s, Req.UNPLUG, "online")

    @sometimes("the device refuses to unplug memory of an offline block")
    def unplug_offline_refused(self, s: State) -> bool:
        return self._refused(s, Req.UNPLUG, "offline")

    @sometimes("the device refuses to take back the sub-blocks of a block that was not added")
    def unplug_not_added_refused(self, s: State) -> bool:
        return self._refused(s, Req.UNPLUG, "not added")

    # -- liveness -------------------------------------------------------------------------

    def _request_differs(self, s: State) -> bool:
        return s.dev_requested != sum(s.dev_plugged)

    def _settled(self, s: State) -> bool:
        """The work item is done: not running, not queued, no retry timer armed."""
        return s.run.pc is Pc.IDLE and not s.queued and not s.timer

    @leads_to(
        "a requested size that movable memory can reach is eventually reached",
        when=_request_differs,
        fairness=RESPONSIVE_HOST,
    )
    def requested_reached(self, s: State) -> bool:
        """Reached: the device has the requested size plugged and the driver is done with
        it (a size plugged for a moment, while add_memory keeps failing, is not reached).
        "Can reach": no promise while some device memory is online in a kernel zone
        (ZONE_NORMAL memory may hold unmovable pages, ``docs/models/virtio_mem.md``, "What
        unplug promises"), nor while the pages in use would not fit in what is left (boot
        memory and the requested size: there is nowhere to migrate them to), nor while
        added memory waits for user space to online it and the offline threshold keeps the
        driver from adding more (``virtio_mem_could_add_memory``), nor once the driver has
        marked the device broken (after an ERROR answer it stops for good: "unknown error,
        marking device broken")."""
        in_use = sum(1 for p in s.pages if p in (Page.MOVABLE, Page.UNMOVABLE))
        offline = sum(1 for st in s.mb if st in (MB.OFFLINE, MB.OFFLINE_PARTIAL))
        return (
            (not self._request_differs(s) and self._settled(s))
            or any(st in KERNEL_ZONE for st in s.mb)
            or in_use > self.B + s.dev_requested
            or offline >= self.config.offline_threshold
            or s.broken
        )

    def _unplugged_block_added(self, s: State) -> bool:
        return any(
            s.mb[mb] in PARTIAL_ADDED and not any(s.sb[mb * self.S : (mb + 1) * self.S])
            for mb in range(self.M)
        )

    @leads_to(
        "a completely unplugged memory block is eventually removed",
        when=_unplugged_block_added,
        fairness=RESPONSIVE_HOST,
    )
    def unplugged_block_removed(self, s: State) -> bool:
        """(Or the device is broken: see ``requested_reached``.)"""
        return not self._unplugged_block_added(s) or s.broken

    def _raise_unnoticed(self, s: State) -> bool:
        return s.dev_requested > s.requested

    @leads_to(
        "a raised requested size is noticed even while unplugging keeps failing",
        when=_raise_unnoticed,
        fairness=RESPONSIVE_HOST,
    )
    def raise_noticed(self, s: State) -> bool:
        """(Or the device is broken: see ``requested_reached``.)"""
        return not self._raise_unnoticed(s) or s.broken

    # =====================================================================================
    # Traces.
    # =====================================================================================

    def view(self, s: State) -> dict[str, object]:  # pragma: no cover -- rendering (tests)
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

    def _work_text(self, s: State) -> str:  # pragma: no cover -- rendering (tests)
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

    def _vq_text(self, s: State) -> str:  # pragma: no cover -- rendering (tests)
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

    def frame_map(self, s: State) -> str:  # pragma: no cover -- rendering (tests)
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
