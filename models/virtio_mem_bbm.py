"""virtio-mem in Big Block Mode: the Linux driver, the QEMU device, guest users and dumps.

The driver plugs, adds, removes and unplugs memory in *big blocks* of one or more Linux
memory blocks, when a device block is as large as a memory block or ``force_bbm`` is set
(``docs/models/virtio_mem.md``, "Sizes and the two modes"). A big block is never partly
plugged; what it takes to unplug one is to fake-offline every online part, offline and
remove it, and only then ask the device. Code read for this model, beside the Sub Block
Mode model (``models/virtio_mem.py``), whose driver, device and guest this shares
(``models/_virtio_mem_common.py``):

* ``drivers/virtio/virtio_mem.c`` (v6.5 and later, after f504e15b94eb removed the unsafe
  unplug): ``enum virtio_mem_bbm_bb_state``, ``virtio_mem_bbm_plug_request``,
  ``virtio_mem_bbm_plug_and_add_bb``, ``virtio_mem_bbm_unplug_request`` (three passes:
  big blocks completely offline, then online only in ZONE_MOVABLE, then any),
  ``virtio_mem_bbm_offline_remove_and_unplug_bb`` (FAKE_OFFLINE, fake offline of every
  online section, ``offline_and_remove_memory``, the unplug; the "rollback"),
  ``virtio_mem_bbm_bb_is_offline``, ``virtio_mem_bbm_bb_is_movable``,
  ``virtio_mem_cleanup_pending_mb`` (unplug PLUGGED big blocks), the BBM parts of
  ``virtio_mem_memory_notifier_cb`` and ``virtio_mem_online_page``;
* ``hw/virtio/virtio-mem.c`` as in the Sub Block Mode model.

What is modelled: ``big_blocks`` big blocks of ``mbs_per_bb`` Linux memory blocks; sizes are
counted in big blocks, and one frame stands for the pages of one memory block (``boot_pages``
frames of boot memory come first). The driver's containers are the state byte per big block
(``bb``), ``plugged_size``, ``requested_size``, ``config_changed``, ``unplug_all_required``,
``broken``, the work item and where ``virtio_mem_run_wq`` is (``run``); the device has one
plugged bit per big block (a request always covers a whole big block, so its device blocks
are all in one state). User space onlines each memory block of an added big block on its own,
to a kernel zone or ZONE_MOVABLE, and may offline it again; the memory notifier lets it at any
time (BBM has no "going online" check, and no driver wait holds ``hotplug_mutex``), and
while a big block is FAKE_OFFLINE the online callback keeps what is onlined PageOffline.

Refusals and rollbacks: the device may refuse a plug (NACK, BUSY, ERROR) -- the big block
stays UNUSED -- and an unplug (BUSY, ERROR) after ``add_memory`` failed, after the memory was
removed, or of a PLUGGED big block in the cleanup -- the big block is left (or stays) PLUGGED
and ``virtio_mem_cleanup_pending_mb`` unplugs it later. The guest side rolls back too: when
fake offline of a section or ``offline_and_remove_memory`` fails, the sections fake-offlined
so far are fake-onlined again and the big block is ADDED again. ``refusal_rolled_back`` and
``withheld_only_while_unplugging`` check both.

Abstracted as in the Sub Block Mode model: a driver action is the code between two waits;
fake offline takes one try per section; the retry timer is "armed"; the offline threshold is
a number of big blocks (``Config.offline_threshold``). A memory block is one section here.
Not modelled: the unsafe unplug that f504e15b94eb removed (``offline_and_remove_memory``
without fake offline first, which could loop for ever on a page that cannot be migrated --
pinned pages, which neither model has), and the kdump kernel's own restrictions beyond
``virtio_mem_vmcore_pfn_is_ram``.

Fairness and the default config follow the Sub Block Mode model: the guest's mechanisms are
weakly fair (``GUEST_FAIRNESS``), the host and memory hotplug are a premise of the liveness
properties only (``RESPONSIVE_HOST``). The default config (one big block of two memory
blocks, one boot page, one guest page, two resizes, leftovers, both zones, user-space
offlining, ERROR answers) admits: plugging and adding the big block, onlining one memory
block and not the other so the three unplug passes differ, a fake offline that fails on the
second memory block after the first succeeded (a partial rollback), a failed removal, a
user onlining a memory block of a FAKE_OFFLINE big block, every refusal, UNPLUG_ALL at
probe, both dumps. Every witness is reached there and every action fires. Several big blocks
(the order of the passes, a pass going on to the next big block after -EBUSY) and the
offline threshold (-ENOSPC, three big blocks) are the manifest's ladder.

The unplug passes: ``unplug_order`` checks that the pass that takes a big block is one meant
for where it is online (pass 0 offline, pass 1 online only in ZONE_MOVABLE, pass 2 any,
``ONLINE_CLASSES``); the history variable ``taken`` records the pass and the class at the
moment the driver marks the big block FAKE_OFFLINE (user space may online more of it while
the mutex is dropped). ``request_valid`` and ``user_pages_kept`` are as in the SBM model.

Bad variants: ``no_movable_first`` is the driver before "virtio-mem: prioritize unplug from
ZONE_MOVABLE in Big Block Mode" (two passes: offline, then any). Invented, each breaking one
step of the rollback, its order or a request: ``unplug_before_remove``,
``rollback_skips_fake_online``, ``unplug_refused_forgets``, ``busy_retries_at_once``,
``fake_offline_ignores_failure``, ``plug_any_bb`` (needs two big blocks).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
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


class BB(IntEnum):
    """``enum virtio_mem_bbm_bb_state``."""

    UNUSED = 0
    """Unplugged, not added to Linux."""
    PLUGGED = 1
    """Plugged, not added: a failed ``add_memory`` or a removal whose unplug was refused."""
    ADDED = 2
    """Plugged and added to Linux."""
    FAKE_OFFLINE = 3
    """"All online parts are fake-offline, ready to remove"."""


PLUGGED_STATES = frozenset({BB.PLUGGED, BB.ADDED, BB.FAKE_OFFLINE})
"""The states in which the driver counts the big block as plugged."""


class Zone(IntEnum):
    """Where a memory block is online."""

    OFFLINE = 0
    KERNEL = 1
    MOVABLE = 2


ONLINE_CLASSES = ("offline", "online only in ZONE_MOVABLE", "online in a kernel zone")
"""Where a big block's memory is online, in the order ``virtio_mem_bbm_unplug_request``
prefers to unplug it: its pass ``i`` takes big blocks of class ``i`` or lower."""


class Pc(IntEnum):
    """Where the work item ``virtio_mem_run_wq`` is."""

    IDLE = 0
    WAIT = 1
    """A request is on the virtqueue: ``wait_event(vm->host_resp, ...)``."""
    ADD = 2
    """``virtio_mem_bbm_plug_and_add_bb``: about to ``add_memory_driver_managed``."""
    REMOVE = 3
    """``virtio_mem_bbm_offline_remove_and_unplug_bb``: every online section of the big
    block is fake-offline; about to ``offline_and_remove_memory`` (mutex dropped)."""


class Op(IntEnum):
    """Which driver code sent the request in flight (what happens after the wait)."""

    NONE = 0
    UNPLUG_ALL = 1
    CLEANUP = 2
    """``virtio_mem_cleanup_pending_mb``: unplug a PLUGGED big block."""
    PLUG_ADD = 3
    """``virtio_mem_bbm_plug_and_add_bb``: plug an UNUSED big block."""
    ADD_FAILED = 4
    """``virtio_mem_bbm_plug_and_add_bb``: unplug after ``add_memory`` failed."""
    REMOVED = 5
    """``virtio_mem_bbm_offline_remove_and_unplug_bb``: unplug after the removal."""


@dataclass(frozen=True)
class Run:
    """The work item's position (the kernel's local variables); fields that do not apply
    are 0."""

    pc: Pc = Pc.IDLE
    op: Op = Op.NONE
    bb: int = 0
    phase: int = 0
    """The pass of ``virtio_mem_bbm_unplug_request`` (0 offline, 1 movable, 2 any)."""
    nb: int = 0
    """``nb_bb``: big blocks still to (un)plug."""
    before: RangeView | None = None
    """While a request is in flight: its big block as it was when sent (history)."""


IDLE = Run()


GUEST_FAIRNESS: dict[str, str] = {
    "run_wq": "weak",
    "driver_receive": "weak",
    "add_memory": "weak",
    "offline_and_remove": "weak",
    "retry_timer_fires": "weak",
}
"""What the guest kernel guarantees, as declared on the actions (see the SBM model)."""

RESPONSIVE_HOST: dict[str, str] = {
    **GUEST_FAIRNESS,
    "device_handle": "strong",
    "add_memory": "strong",
    "offline_and_remove": "strong",
}
"""The premise of the liveness properties: the host answers and is not BUSY for ever,
memory hotplug does not fail for ever (see ``models/virtio_mem.py``, ``RESPONSIVE_HOST``)."""


@dataclass(frozen=True)
class Config:
    big_blocks: int = 1
    """Big blocks in the device region."""
    mbs_per_bb: int = 2
    """Linux memory blocks per big block (the big block size over the memory block size)."""
    boot_pages: int = 1
    """Frames of boot memory (ZONE_NORMAL)."""
    user_pages: int = 1
    """Pages guest users may have in use at once."""
    resizes: int = 2
    """How often the host may change the requested size (the first size is any)."""
    leftovers: bool = True
    """Also start with a big block left plugged by a previous boot (UNPLUG_ALL first)."""
    online_zones: Literal["any", "kernel", "movable"] = "any"
    """Where user space onlines memory blocks."""
    user_offline: bool = True
    """User space may offline online memory blocks again."""
    offline_threshold: int = 2
    """``vm->offline_threshold`` in big blocks (BBM: at least two)."""
    device_errors: bool = True
    """The device may answer ERROR to any plug or unplug request (as in the SBM model)."""
    variant: str = "upstream"

    def __post_init__(self) -> None:
        if self.big_blocks < 1 or self.mbs_per_bb < 1 or self.boot_pages < 1:
            raise ValueError(  # pragma: no cover -- refused input, see the tests
                "need big_blocks >= 1, mbs_per_bb >= 1 and boot_pages >= 1"
            )
        if self.user_pages < 0 or self.resizes < 0 or self.offline_threshold < 2:
            raise ValueError(  # pragma: no cover -- refused input, see the tests
                "need user_pages >= 0, resizes >= 0 and offline_threshold >= 2"
            )


@dataclass(frozen=True)
class State:
    # -- driver (struct virtio_mem, bbm) ---------------------------------------------------
    bb: tuple[BB, ...]
    """``bbm.bb_states``."""
    plugged: int
    """``vm->plugged_size`` in big blocks."""
    requested: int
    config_changed: bool
    unplug_all_required: bool
    broken: bool
    queued: bool
    timer: bool
    run: Run
    vq: Virtqueue
    resp: Resp
    # -- device (QEMU VirtIOMEM) -----------------------------------------------------------
    dev_plugged: tuple[bool, ...]
    """``vmem->bitmap``, one bit per big block."""
    dev_requested: int
    resizes_left: int
    # -- guest memory ----------------------------------------------------------------------
    zone: tuple[Zone, ...]
    """Per memory block of the region: where it is online."""
    pages: tuple[Page, ...]
    """Boot frames, then one frame per memory block of the region."""
    in_use: int
    """Pages guest users allocated and have not freed (history, see the SBM model)."""
    # -- history (cleared by the next action) ----------------------------------------------
    dump: Dump
    dumped: frozenset[int]
    refused: Refusal | None
    rolled_back: Literal["", "fake offline", "removal"]
    """The step just taken rolled a big block back to ADDED, and why."""
    taken: tuple[int, int] | None
    """The step just taken began to unplug a big block (marked it FAKE_OFFLINE): the pass
    of ``virtio_mem_bbm_unplug_request`` it was in and where the big block was online
    then (``ONLINE_CLASSES``); for ``unplug_order``."""


class _W:
    """A mutable copy of a State for one driver step (the code between two waits)."""

    def __init__(self, model: VirtioMemBbm, s: State) -> None:
        self.m = model
        self.s = s
        self.bb = list(s.bb)
        self.plugged = s.plugged
        self.requested = s.requested
        self.config_changed = s.config_changed
        self.unplug_all_required = s.unplug_all_required
        self.broken = s.broken
        self.queued = s.queued
        self.timer = s.timer
        self.run = IDLE  # every driver step decides where the work item goes next
        self.vq = s.vq
        self.resp = s.resp
        self.dev_plugged = s.dev_plugged
        self.dev_requested = s.dev_requested
        self.zone = list(s.zone)
        self.pages = list(s.pages)
        self.refusing: tuple[Req, Resp, Run] | None = None
        self.refused: Refusal | None = None
        self.rolled_back: Literal["", "fake offline", "removal"] = ""
        self.taken: tuple[int, int] | None = None

    def freeze(self) -> State:
        state: State = evolve(
            self.s,
            bb=tuple(self.bb),
            plugged=self.plugged,
            requested=self.requested,
            config_changed=self.config_changed,
            unplug_all_required=self.unplug_all_required,
            broken=self.broken,
            queued=self.queued,
            timer=self.timer,
            run=self.run,
            vq=self.vq,
            resp=self.resp,
            dev_plugged=self.dev_plugged,
            zone=tuple(self.zone),
            pages=tuple(self.pages),
            dump=Dump.NONE,
            dumped=NOTHING,
            refused=self.refused,
            rolled_back=self.rolled_back,
            taken=self.taken,
        )
        return state

    def send(self, req: Req, bb: int, run: Run) -> None:
        """``virtio_mem_send_request``: add the request, kick, and wait."""
        vq = self.vq.add((int(req), bb, 0 if req is Req.UNPLUG_ALL else 1))
        assert vq is not None, "one request in flight at a time"
        self.vq = vq
        self.resp = Resp.NONE
        first, count = self.m.request_range(req, bb)
        before = self.m.range_view(self, first, count)
        self.run = Run(Pc.WAIT, run.op, run.bb, run.phase, run.nb, before)


class VirtioMemBbm(Model[Config, State]):
    """virtio-mem BBM: driver, device, guest users, onlining and dumps (Linux + QEMU)."""

    name = "virtio_mem_bbm"
    variants = {
        "upstream": "the v6.5+ BBM driver (f504e15b94eb: always fake-offline first) and QEMU",
        "unplug_before_remove": (
            "invented: virtio_mem_bbm_offline_remove_and_unplug_bb asks the device to unplug "
            "the big block before offline_and_remove_memory(); when the removal then fails, "
            "the rollback hands memory the device no longer backs to the buddy"
        ),
        "rollback_skips_fake_online": (
            "invented: the rollback of virtio_mem_bbm_offline_remove_and_unplug_bb sets the "
            "big block ADDED again without virtio_mem_fake_online() of the sections it "
            "fake-offlined: the guest loses that memory"
        ),
        "unplug_refused_forgets": (
            "invented: when the device refuses to unplug a big block whose memory was "
            "removed, the driver marks it UNUSED instead of PLUGGED ('Retry from the main "
            "loop' dropped): the device keeps memory the driver has forgotten"
        ),
        "busy_retries_at_once": BUSY_RETRIES_AT_ONCE,
        "fake_offline_ignores_failure": FAKE_OFFLINE_IGNORES_FAILURE,
        "no_movable_first": (
            "before 'virtio-mem: prioritize unplug from ZONE_MOVABLE in Big Block Mode' "
            "(v5.16): virtio_mem_bbm_unplug_request has two passes, offline big blocks and "
            "then any, so it may unplug memory of a kernel zone while a big block online "
            "only in ZONE_MOVABLE could go instead"
        ),
        "plug_any_bb": (
            "invented: virtio_mem_bbm_plug_request takes the next big block without checking "
            "that it is UNUSED: a plug request for a plugged big block, which QEMU answers "
            "with ERROR, and the driver marks the device broken"
        ),
    }
    reference_config = {"big_blocks": 2}
    # As in the SBM model: big runs without ERROR answers (one ends the driver's part).
    hypothesis_config = {
        "big_blocks": 6,
        "mbs_per_bb": 2,
        "boot_pages": 2,
        "user_pages": 2,
        "resizes": 40,
        "device_errors": False,
    }
    frame_legend = {
        "-": "not online, unplugged",
        "o": "not online, plugged",
        "f": "free in the buddy",
        "M": "movable page in use",
        "K": "unmovable page in use (kernel zone)",
        "x": "PageOffline, still plugged (fake-offlined: being unplugged)",
        "X": "PageOffline, unplugged",
        "!": "free or in use but unplugged (lost its backing)",
    }

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.M = config.big_blocks
        self.K = config.mbs_per_bb
        self.B = config.boot_pages
        self.N = self.M
        """Device blocks, as the shared device code counts them: one per big block."""

    # -- geometry -------------------------------------------------------------------------

    def mbs(self, bb: int) -> range:
        """The memory blocks of big block ``bb``."""
        return range(bb * self.K, (bb + 1) * self.K)

    def frame(self, mb: int) -> int:
        return self.B + mb

    def big_block_of(self, frame: int) -> int:
        return (frame - self.B) // self.K

    def in_kernel_zone(self, s: State | _W, frame: int) -> bool:
        return frame < self.B or s.zone[frame - self.B] is Zone.KERNEL

    def added(self, s: State, bb: int) -> bool:
        """The big block's memory is in Linux: ADDED or FAKE_OFFLINE, and not while
        ``add_memory`` has not yet run or failed, nor after it was removed."""
        if s.bb[bb] not in (BB.ADDED, BB.FAKE_OFFLINE):
            return False
        if s.run.bb != bb:
            return True
        return not (
            s.run.pc is Pc.ADD or (s.run.pc is Pc.WAIT and s.run.op in (Op.ADD_FAILED, Op.REMOVED))
        )

    def request_range(self, req: Req, bb: int) -> tuple[int, int]:
        return (0, self.M) if req is Req.UNPLUG_ALL else (bb, 1)

    def range_view(self, s: State | _W, first: int, count: int) -> RangeView:
        blocks = range(first, first + count)
        return RangeView(
            block=int(s.bb[first]),
            bits=tuple(s.bb[i] in PLUGGED_STATES for i in blocks),
            device=tuple(s.dev_plugged[i] for i in blocks),
            usable=tuple(s.pages[self.frame(mb)] in USABLE for i in blocks for mb in self.mbs(i)),
            plugged_size=s.plugged,
        )

    def _offline_mbs(self, bb_states: Sequence[BB], zone: Sequence[Zone]) -> int:
        """Memory blocks added but offline (``vm->offline_size``)."""
        return sum(
            1
            for bb, st in enumerate(bb_states)
            if st in (BB.ADDED, BB.FAKE_OFFLINE)
            for mb in self.mbs(bb)
            if zone[mb] is Zone.OFFLINE
        )

    # -- initial states -------------------------------------------------------------------

    def initial_states(self) -> Iterator[State]:
        """``virtio_mem_probe``: nothing added, ``config_changed`` set, the work queued; any
        requested size; (``leftovers``) a big block still plugged from a previous boot."""
        for leftover in (False, True) if self.config.leftovers else (False,):
            dev = tuple(leftover and i == 0 for i in range(self.M))
            for req in range(self.M + 1):
                yield State(
                    bb=(BB.UNUSED,) * self.M,
                    plugged=sum(dev),
                    requested=0,
                    config_changed=True,
                    unplug_all_required=leftover,
                    broken=False,
                    queued=True,
                    timer=False,
                    run=IDLE,
                    vq=Virtqueue(size=1),
                    resp=Resp.NONE,
                    dev_plugged=dev,
                    dev_requested=req,
                    resizes_left=self.config.resizes,
                    zone=(Zone.OFFLINE,) * (self.M * self.K),
                    pages=(Page.FREE,) * self.B + (Page.NONE,) * (self.M * self.K),
                    in_use=0,
                    dump=Dump.NONE,
                    dumped=NOTHING,
                    refused=None,
                    rolled_back="",
                    taken=None,
                )

    @staticmethod
    def _next(s: State, **changes: object) -> State:
        """The successor of a non-dump action (the history records are cleared)."""
        state: State = evolve(
            s, dump=Dump.NONE, dumped=NOTHING, refused=None, rolled_back="", taken=None, **changes
        )
        return state

    # =====================================================================================
    # The driver.
    # =====================================================================================

    # Weak: system_freezable_wq runs queued work (frozen only across suspend).
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
        if w.unplug_all_required:
            w.send(Req.UNPLUG_ALL, 0, Run(op=Op.UNPLUG_ALL))
            return
        self._after_unplug_all(w, OK)

    def _after_unplug_all(self, w: _W, rc: int) -> None:
        if w.config_changed:  # virtio_mem_refresh_config
            w.config_changed = False
            w.plugged = sum(w.dev_plugged)
            w.requested = w.dev_requested
        if rc:
            self._end_run(w, rc)
            return
        self._cleanup(w, 0)

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
        """A refusal's error reaches the main loop: record the big block as it is now."""
        assert w.refusing is not None
        req, resp, run = w.refusing
        w.refusing = None
        assert run.before is not None
        first, count = self.request_range(req, run.bb)
        where: Where = "not added"  # BBM plugs before adding and unplugs after removing
        after = self.range_view(w, first, count)
        w.refused = Refusal(req, resp, int(run.op), where, first, count, run.before, after)

    # -- virtio_mem_cleanup_pending_mb ------------------------------------------------------

    def _cleanup(self, w: _W, start: int) -> None:
        """Unplug PLUGGED big blocks; any error ends the run."""
        for bb in range(start, self.M):
            if w.bb[bb] is BB.PLUGGED:
                self._unplug_bb(w, Run(op=Op.CLEANUP, bb=bb))
                return
        if w.requested > w.plugged:
            self._plug_scan(w, 0, w.requested - w.plugged)
        elif w.requested < w.plugged:
            self._unplug_scan(w, 0, self.M - 1, w.plugged - w.requested)
        else:
            self._end_run(w, OK)

    def _unplug_bb(self, w: _W, run: Run) -> None:
        """``virtio_mem_bbm_unplug_bb`` -> ``virtio_mem_send_unplug_request``."""
        if w.config_changed:
            self._unplugged(w, run, EAGAIN)  # nothing sent
            return
        w.send(Req.UNPLUG, run.bb, run)

    def _unplugged(self, w: _W, run: Run, rc: int) -> None:
        """After the unplug of big block ``run.bb`` (``rc``: its result)."""
        bb = run.bb
        if run.op is Op.CLEANUP:
            if rc:
                self._end_run(w, rc)
                return
            w.bb[bb] = BB.UNUSED
            self._cleanup(w, bb + 1)
        elif run.op is Op.ADD_FAILED:
            w.bb[bb] = BB.PLUGGED if rc else BB.UNUSED  # "Retry from the main loop."
            self._end_run(w, ENOMEM)
        else:  # REMOVED
            if rc:
                keep = self.variant != "unplug_refused_forgets"
                w.bb[bb] = BB.PLUGGED if keep else BB.UNUSED
                self._end_run(w, rc)
                return
            w.bb[bb] = BB.UNUSED
            self._unplug_next(w, run.phase, bb, run.nb - 1)

    # -- virtio_mem_bbm_plug_request --------------------------------------------------------

    def _plug_scan(self, w: _W, start: int, nb: int) -> None:
        """Plug and add UNUSED big blocks, in order, while the offline threshold allows."""
        for bb in range(start, self.M):
            if w.bb[bb] is not BB.UNUSED and self.variant != "plug_any_bb":
                continue
            threshold = self.config.offline_threshold * self.K
            if self._offline_mbs(w.bb, w.zone) + self.K > threshold:
                self._end_run(w, ENOSPC)  # virtio_mem_could_add_memory
                return
            if w.config_changed:  # virtio_mem_send_plug_request
                self._end_run(w, EAGAIN)
                return
            w.send(Req.PLUG, bb, Run(op=Op.PLUG_ADD, bb=bb, nb=nb))
            return
        self._end_run(w, ENOSPC)  # virtio_mem_bbm_prepare_next_bb: none left

    # -- virtio_mem_bbm_unplug_request ------------------------------------------------------

    def _fully_offline(self, w: _W, bb: int) -> bool:
        """``virtio_mem_bbm_bb_is_offline``."""
        return all(w.zone[mb] is Zone.OFFLINE for mb in self.mbs(bb))

    def _movable(self, w: _W, bb: int) -> bool:
        """``virtio_mem_bbm_bb_is_movable``: every online part is in ZONE_MOVABLE."""
        return all(w.zone[mb] is not Zone.KERNEL for mb in self.mbs(bb))

    def _online_class(self, w: _W, bb: int) -> int:
        """Where the big block is online, as an index into ``ONLINE_CLASSES``."""
        if self._fully_offline(w, bb):
            return 0
        return 1 if self._movable(w, bb) else 2

    def _unplug_scan(self, w: _W, phase: int, start: int, nb: int) -> None:
        """Three passes over ADDED big blocks, last first: completely offline ones, then
        those online only in ZONE_MOVABLE, then any; -EBUSY if some are left."""
        movable_first = self.variant != "no_movable_first"
        for ph in range(phase, 3 if movable_first else 2):
            for bb in range(start if ph == phase else self.M - 1, -1, -1):
                if w.bb[bb] is not BB.ADDED:
                    continue
                if (ph == 0 and not self._fully_offline(w, bb)) or (
                    ph == 1 and movable_first and not self._movable(w, bb)
                ):
                    continue
                self._offline_remove_and_unplug(w, ph, bb, nb)
                return
        self._end_run(w, EBUSY)

    def _unplug_next(self, w: _W, phase: int, bb: int, nb: int) -> None:
        if not nb:
            self._end_run(w, OK)
            return
        self._unplug_scan(w, phase, bb - 1, nb)

    def _offline_remove_and_unplug(self, w: _W, phase: int, bb: int, nb: int) -> None:
        """Mark the big block FAKE_OFFLINE and fake-offline every online section (mutex
        held), then drop the mutex for ``offline_and_remove_memory`` (``Pc.REMOVE``). A
        failed fake offline rolls back and goes on with the next big block (-EBUSY) or
        ends the run (-EAGAIN, the config changed)."""
        run = Run(pc=Pc.REMOVE, op=Op.REMOVED, bb=bb, phase=phase, nb=nb)
        if self.variant == "unplug_before_remove":
            w.dev_plugged = self._device_unplugs(w, bb)
        w.taken = (phase, self._online_class(w, bb))
        w.bb[bb] = BB.FAKE_OFFLINE
        done: list[int] = []
        for mb in self.mbs(bb):
            if w.zone[mb] is Zone.OFFLINE:
                continue
            rc = self._fake_offline(w, mb)
            if rc:
                self._rollback(w, bb, done, "fake offline")
                self._unplug_failed(w, phase, bb, nb, rc)
                return
            done.append(mb)
        w.run = run

    def _device_unplugs(self, w: _W, bb: int) -> tuple[bool, ...]:
        """``unplug_before_remove``: the unplug request, answered at once (ACK)."""
        w.plugged -= 1
        return tuple(False if i == bb else p for i, p in enumerate(w.dev_plugged))

    def _fake_offline(self, w: _W, mb: int) -> int:
        """``virtio_mem_fake_offline`` of one section."""
        if w.config_changed:
            return EAGAIN
        frame = self.frame(mb)
        taken = migrate_out(w.pages, range(frame, frame + 1))
        if not taken and self.variant != "fake_offline_ignores_failure":
            return EBUSY
        w.pages[frame] = Page.OFFLINE
        return OK

    def _rollback(
        self, w: _W, bb: int, mbs: list[int], why: Literal["fake offline", "removal"]
    ) -> None:
        """``rollback:`` -- fake-online the sections taken, the big block ADDED again."""
        if self.variant != "rollback_skips_fake_online":
            for mb in mbs:
                w.pages[self.frame(mb)] = Page.FREE  # virtio_mem_fake_online
        w.bb[bb] = BB.ADDED
        w.rolled_back = why

    def _unplug_failed(self, w: _W, phase: int, bb: int, nb: int, rc: int) -> None:
        """``if (rc == -EBUSY) continue;`` -- else the error ends the run."""
        if rc == EBUSY:
            self._unplug_scan(w, phase, bb - 1, nb)
        else:
            self._end_run(w, rc)

    # -- the answer arrives -----------------------------------------------------------------

    # Weak: the device's interrupt wakes the waiting work item (virtio_mem_handle_response).
    @action(
        "drivers/virtio/virtio_mem.c: virtio_mem_send_request (wait_event returns)", fair="weak"
    )
    def driver_receive(self, s: State) -> Iterator[tuple[Args, State]]:
        """``virtqueue_get_buf``; ``plugged_size`` changes only on ACK."""
        if s.run.pc is not Pc.WAIT or not s.vq.used:
            return
        got = s.vq.get_buf()
        assert got is not None
        buf, vq = got
        w = _W(self, s)
        w.vq = vq
        req, resp, run = Req(buf[0]), s.resp, s.run
        if resp is not Resp.ACK:
            w.refusing = (req, resp, run)
        rc = request_rc(req, resp)
        if req is Req.UNPLUG_ALL:
            if rc == OK:
                w.unplug_all_required = False
                w.plugged = 0
                w.config_changed = True
            self._after_unplug_all(w, rc)
        elif req is Req.PLUG:
            if rc:
                self._end_run(w, rc)
            else:
                w.plugged += 1
                w.bb[run.bb] = BB.ADDED  # before add_memory, so the notifiers see it
                w.run = Run(pc=Pc.ADD, op=Op.PLUG_ADD, bb=run.bb, nb=run.nb)
        else:
            if rc == OK:
                w.plugged -= 1
            self._unplugged(w, run, rc)
        yield {"resp": resp.name}, w.freeze()

    # -- add_memory / offline_and_remove_memory ----------------------------------------------

    # Weak: add_memory_driver_managed returns (success here, -ENOMEM in add_memory_fails);
    # that it does not fail for ever is a premise of the liveness properties only.
    @action("drivers/virtio/virtio_mem.c: virtio_mem_bbm_add_bb", fair="weak")
    def add_memory(self, s: State) -> Iterator[tuple[Args, State]]:
        """The big block's memory blocks are added, offline."""
        if s.run.pc is not Pc.ADD:
            return
        w = _W(self, s)
        run = s.run
        nb = run.nb - 1
        if not nb:
            self._end_run(w, OK)
        else:
            self._plug_scan(w, run.bb + 1, nb)
        yield {"bb": run.bb}, w.freeze()

    @action("drivers/virtio/virtio_mem.c: virtio_mem_bbm_add_bb fails (-ENOMEM)")
    def add_memory_fails(self, s: State) -> Iterator[tuple[Args, State]]:
        """Unplug the big block again: UNUSED on success, PLUGGED (retried later) else."""
        if s.run.pc is not Pc.ADD:
            return
        w = _W(self, s)
        self._unplug_bb(w, Run(op=Op.ADD_FAILED, bb=s.run.bb))
        yield {"bb": s.run.bb}, w.freeze()

    # Weak: offline_and_remove_memory returns (success, or -EBUSY in offline_and_remove_fails).
    @action("drivers/virtio/virtio_mem.c: virtio_mem_bbm_offline_and_remove_bb", fair="weak")
    def offline_and_remove(self, s: State) -> Iterator[tuple[Args, State]]:
        """Every memory block of the big block is offlined (fake-offline sections are
        skipped) and removed; then the device is asked to unplug it."""
        if s.run.pc is not Pc.REMOVE:
            return
        w = _W(self, s)
        bb = s.run.bb
        for mb in self.mbs(bb):
            w.zone[mb] = Zone.OFFLINE
            w.pages[self.frame(mb)] = Page.NONE
        w.queued = True  # virtio_mem_offline_and_remove_memory -> virtio_mem_retry
        if self.variant == "unplug_before_remove":
            w.bb[bb] = BB.UNUSED  # already unplugged
            self._unplug_next(w, s.run.phase, bb, s.run.nb - 1)
        else:
            self._unplug_bb(w, s.run)
        yield {"bb": bb}, w.freeze()

    @action("drivers/virtio/virtio_mem.c: virtio_mem_bbm_offline_and_remove_bb fails (-EBUSY)")
    def offline_and_remove_fails(self, s: State) -> Iterator[tuple[Args, State]]:
        """``rollback:`` -- every section still online is fake-onlined again (also those
        user space onlined meanwhile, which the online callback kept PageOffline); -EBUSY:
        on with the next big block."""
        if s.run.pc is not Pc.REMOVE:
            return
        w = _W(self, s)
        run = s.run
        online = [mb for mb in self.mbs(run.bb) if w.zone[mb] is not Zone.OFFLINE]
        self._rollback(w, run.bb, online, "removal")
        self._unplug_failed(w, run.phase, run.bb, run.nb, EBUSY)
        yield {"bb": run.bb}, w.freeze()

    # The retry timer: the same code in both modes (models/_virtio_mem_common.py).
    retry_timer_fires = common.retry_timer_fires

    # =====================================================================================
    # The device (QEMU), the host and the guest's users: the same code as in SBM.
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
        """A memory block of an added big block goes online: its pages to the buddy, or
        kept PageOffline while the big block is FAKE_OFFLINE (``virtio_mem_online_page``).
        MEM_ONLINE kicks the driver if it is idle and could add memory again."""
        zones = {"any": (Zone.KERNEL, Zone.MOVABLE), "kernel": (Zone.KERNEL,)}
        for bb in range(self.M):
            if not self.added(s, bb):
                continue
            kept = s.bb[bb] is BB.FAKE_OFFLINE
            for mb in self.mbs(bb):
                if s.zone[mb] is not Zone.OFFLINE:
                    continue
                for zone in zones.get(self.config.online_zones, (Zone.MOVABLE,)):
                    new = list(s.zone)
                    new[mb] = zone
                    pages = list(s.pages)
                    pages[self.frame(mb)] = Page.OFFLINE if kept else Page.FREE
                    threshold = self.config.offline_threshold * self.K
                    could_add = self._offline_mbs(s.bb, new) + threshold // 2 <= threshold
                    retry = s.run.pc is Pc.IDLE and could_add
                    yield (
                        {"mb": mb, "zone": zone.name.lower()},
                        self._next(
                            s, zone=tuple(new), pages=tuple(pages), queued=s.queued or retry
                        ),
                    )

    @action("mm/memory_hotplug.c: offline_pages (user space offlines a memory block)")
    def offline_block(self, s: State) -> Iterator[tuple[Args, State]]:
        """Movable pages migrate out, PageOffline ones are skipped (MEM_GOING_OFFLINE drops
        the driver's references), an unmovable page makes it fail (not offered)."""
        if not self.config.user_offline:
            return
        for mb in range(self.M * self.K):
            if s.zone[mb] is Zone.OFFLINE:
                continue
            frame = self.frame(mb)
            pages = list(s.pages)
            if not migrate_out(pages, range(frame, frame + 1)):
                continue
            pages[frame] = Page.NONE
            zone = (*s.zone[:mb], Zone.OFFLINE, *s.zone[mb + 1 :])
            yield {"mb": mb}, self._next(s, zone=zone, pages=tuple(pages))

    # =====================================================================================
    # Dumps.
    # =====================================================================================

    def _worth_a_dump(self, s: State) -> bool:
        """Some online memory is PageOffline or unplugged: a dump has something to skip
        (elsewhere it reads plugged memory only; a reduction of the state space)."""
        return any(
            s.pages[f] is Page.OFFLINE or not s.dev_plugged[self.big_block_of(f)]
            for f in range(self.B, len(s.pages))
            if s.pages[f] is not Page.NONE
        )

    @action("fs/proc/kcore.c: read_kcore_iter (skips offline sections and PageOffline)")
    def dump_kcore(self, s: State) -> Iterator[tuple[Args, State]]:
        if not self._worth_a_dump(s):
            return
        read = kcore_read(s.pages, skip_page_offline=True)
        yield {}, evolve(s, dump=Dump.KCORE, dumped=read, refused=None, rolled_back="", taken=None)

    @action("drivers/virtio/virtio_mem.c: virtio_mem_vmcore_pfn_is_ram (kdump kernel)")
    def kdump(self, s: State) -> Iterator[tuple[Args, State]]:
        """Had the guest crashed here, the crash kernel would read the added big blocks,
        asking the device (STATE) whether each is plugged."""
        if not any(self.added(s, bb) and s.bb[bb] is BB.FAKE_OFFLINE for bb in range(self.M)):
            return
        read = set(range(self.B))
        asked = []
        for bb in range(self.M):
            if not self.added(s, bb):
                continue
            is_ram = any(s.dev_plugged) and s.dev_plugged[bb]  # plugged_size 0: nothing
            asked.append(f"bb{bb} {'PLUGGED' if is_ram else 'UNPLUGGED'}")
            if is_ram:
                read.update(self.frame(mb) for mb in self.mbs(bb))
        yield (
            {"state": ", ".join(asked)},
            evolve(
                s,
                dump=Dump.KDUMP,
                dumped=frozenset(read),
                refused=None,
                rolled_back="",
                taken=None,
            ),
        )

    # =====================================================================================
    # Properties.
    # =====================================================================================

    def _frame_name(self, f: int) -> str:
        mb = f - self.B
        return f"frame {f} (bb{mb // self.K}/mb{mb % self.K})"

    def _acked(self, s: State) -> list[bool]:
        """The driver's plugged big blocks, with an acknowledged, not yet received
        request applied."""
        plugged = [st in PLUGGED_STATES for st in s.bb]
        if s.vq.used and s.resp is Resp.ACK:
            req, first, count = s.vq.used[0]  # (UNPLUG_ALL: count 0, and the caller's case)
            for bb in range(first, first + count):
                plugged[bb] = req == Req.PLUG
        return plugged

    def _dump_taken(self, s: State) -> bool:
        return s.dump is not Dump.NONE

    def _refusal_seen(self, s: State) -> bool:
        return s.refused is not None

    def _withheld(self, s: State) -> list[int]:
        return [
            f
            for f in range(self.B, len(s.pages))
            if s.pages[f] is Page.OFFLINE and s.dev_plugged[self.big_block_of(f)]
        ]

    def _some_withheld(self, s: State) -> bool:
        return bool(self._withheld(s))

    @always(
        "a big block is plugged in the driver's states exactly when the device has it plugged",
        trigger="a big block gets plugged and added",
    )
    def states_match_device(self, s: State) -> Check:
        """After the ACK (an ACK not yet received counts as applied); before the leftovers
        of a previous boot are unplugged the driver knows of nothing plugged."""
        leftovers = s.unplug_all_required
        driver = [st in PLUGGED_STATES for st in s.bb] if leftovers else self._acked(s)
        device = (False,) * self.M if leftovers else s.dev_plugged
        for bb in range(self.M):
            if driver[bb] != device[bb]:
                dev = "plugged" if s.dev_plugged[bb] else "unplugged"
                return f"bb{bb} is {s.bb[bb].name} but the device has it {dev}"
        return True

    @always(
        "no page in use or in the buddy loses its backing",
        trigger="a big block is unplugged after its memory was removed",
    )
    def pages_backed(self, s: State) -> Check:
        for f in range(self.B, len(s.pages)):
            if s.pages[f] in USABLE and not s.dev_plugged[self.big_block_of(f)]:
                what = s.pages[f].name.lower()
                return f"{self._frame_name(f)} is {what} but the device has it unplugged"
        return True

    @always("the dump never reads unplugged memory", trigger=_dump_taken)
    def dump_reads_plugged(self, s: State) -> Check:
        for f in sorted(s.dumped):
            if f >= self.B and not s.dev_plugged[self.big_block_of(f)]:
                dump = s.dump.name.lower()
                return f"the {dump} dump read {self._frame_name(f)}, which is unplugged"
        return True

    @always(
        "the plugged size is the number of plugged big blocks times the big block size",
        trigger="a big block gets plugged and added",
    )
    def accounting(self, s: State) -> Check:
        """Once the leftovers of a previous boot are gone (``unplug_all_required`` clear)."""
        plugged = sum(1 for st in s.bb if st in PLUGGED_STATES)
        if not s.unplug_all_required and s.plugged != plugged:
            return f"plugged_size is {s.plugged} big blocks but {plugged} are plugged"
        return True

    @always(
        "a refused request leaves its big block and its memory as it found them",
        trigger=_refusal_seen,
    )
    def refusal_rolled_back(self, s: State) -> Check:
        """When the error of a refused request reaches the main loop, the big block is as
        before the request: still plugged or still unplugged, in the device's and the
        driver's books, its memory as usable as it was, and in the same state -- except
        that a refused unplug after a failed add or after the removal leaves it PLUGGED,
        for ``virtio_mem_cleanup_pending_mb`` to unplug later."""
        r = s.refused
        if r is None:
            return True
        before, after = r.before, r.after
        block = BB.PLUGGED if r.op in (Op.ADD_FAILED, Op.REMOVED) else BB(before.block)
        changed = rollback_changes(before, after, block.name, BB(after.block).name)
        if not changed:
            return True
        return (
            f"the device answered {r.resp.name} to {r.req.name} bb{r.first}, but after the "
            "rollback: " + "; ".join(changed)
        )

    @always(common.BUSY_BACKS_OFF, trigger=common.busy_seen)
    def busy_backs_off(self, s: State) -> Check:
        """A host that keeps answering BUSY must not make the guest spin (see the SBM
        model)."""
        return common.busy_backs_off(s, s.run.pc is Pc.IDLE, s.run.pc.name.lower())

    @always(
        "the guest loses no memory to the host beyond the big block being unplugged",
        trigger=_some_withheld,
    )
    def withheld_only_while_unplugging(self, s: State) -> Check:
        """Memory taken from the guest while the device still backs it is that of the big
        block between fake offline and removal; a failed step gives it back."""
        for f in self._withheld(s):
            bb = self.big_block_of(f)
            if not (s.run.pc is Pc.REMOVE and s.run.bb == bb):
                return (
                    f"{self._frame_name(f)} is PageOffline while the device still has it "
                    "plugged, and the driver is not unplugging its big block"
                )
        return True

    @always(
        "an unplug pass takes offline big blocks first, then those online only in "
        "ZONE_MOVABLE, and memory of a kernel zone last",
        trigger="an unplug pass takes a big block online in a kernel zone",
    )
    def unplug_order(self, s: State) -> Check:
        """``virtio_mem_bbm_unplug_request`` runs three passes over the ADDED big blocks
        (completely offline, ``virtio_mem_bbm_bb_is_movable``, any), so that memory of
        ZONE_NORMAL, which the kernel's unmovable allocations need and which often cannot
        be unplugged at all, goes only when nothing else can."""
        if s.taken is None:
            return True
        phase, where = s.taken
        if where > phase:
            return (
                f"pass {phase} of the unplug request took a big block {ONLINE_CLASSES[where]}, "
                f"but that pass is for big blocks {ONLINE_CLASSES[phase]}"
            )
        return True

    @always(common.REQUEST_VALID, trigger="a big block gets plugged and added")
    def request_valid(self, s: State) -> Check:
        """The driver's states follow the device (``states_match_device``), and each
        request is built from them: never a big block already in the target state."""
        return common.request_valid(s, lambda bb: f"bb{bb}")

    # Shared with the other mode (models/_virtio_mem_common.py), bound here.
    user_pages_kept = common.user_pages_kept

    # -- witnesses --------------------------------------------------------------------------

    user_page_in_device = common.user_page_in_device

    @sometimes("an unplug pass takes a big block online in a kernel zone")
    def kernel_taken(self, s: State) -> bool:
        return s.taken is not None and s.taken[1] == 2

    @sometimes("a big block gets plugged and added")
    def some_added(self, s: State) -> bool:
        return any(self.added(s, bb) for bb in range(self.M))

    @sometimes("a big block is unplugged after its memory was removed")
    def removed_and_unplugged(self, s: State) -> bool:
        return (
            s.run.pc is Pc.WAIT
            and s.run.op is Op.REMOVED
            and bool(s.vq.used)
            and s.resp is Resp.ACK
        )

    @sometimes("fake offline fails and the big block is rolled back")
    def fake_offline_rolled_back(self, s: State) -> bool:
        return s.rolled_back == "fake offline"

    @sometimes("offline_and_remove_memory fails and the big block is rolled back")
    def removal_rolled_back(self, s: State) -> bool:
        return s.rolled_back == "removal"

    @sometimes("a kcore dump skips fake-offlined memory")
    def kcore_skips(self, s: State) -> bool:
        return s.dump is Dump.KCORE and any(
            s.pages[f] is Page.OFFLINE for f in range(self.B, len(s.pages))
        )

    @sometimes("the crash kernel asks the device about a big block being unplugged")
    def kdump_asks(self, s: State) -> bool:
        return s.dump is Dump.KDUMP

    def _refused(self, s: State, req: Req, op: Op) -> bool:
        """The device refused ``req`` sent by operation ``op``."""
        r = s.refused
        return r is not None and r.req is req and r.op == op

    # One witness per answer (models/_virtio_mem_common.py), bound here so that they are
    # this model's properties.
    plug_nack = common.plug_nack
    plug_busy = common.plug_busy
    plug_error = common.plug_error
    unplug_busy = common.unplug_busy
    unplug_error = common.unplug_error

    @sometimes("the device refuses to unplug a big block whose memory was removed")
    def removed_refused(self, s: State) -> bool:
        return self._refused(s, Req.UNPLUG, Op.REMOVED)

    @sometimes("the device refuses to take back a big block whose add_memory failed")
    def add_failed_refused(self, s: State) -> bool:
        return self._refused(s, Req.UNPLUG, Op.ADD_FAILED)

    # -- liveness -------------------------------------------------------------------------

    def _request_differs(self, s: State) -> bool:
        return s.dev_requested != sum(s.dev_plugged)

    @leads_to(
        "a requested size that movable memory can reach is eventually reached",
        when=_request_differs,
        fairness=RESPONSIVE_HOST,
    )
    def requested_reached(self, s: State) -> bool:
        """As in the SBM model: reached and settled, unless memory is online in a kernel
        zone, the pages in use would not fit in what is left, the offline threshold holds
        the driver back, or the device is broken."""
        in_use = sum(1 for p in s.pages if p in (Page.MOVABLE, Page.UNMOVABLE))
        settled = s.run.pc is Pc.IDLE and not s.queued and not s.timer
        offline = self._offline_mbs(s.bb, s.zone)
        return (
            (not self._request_differs(s) and settled)
            or any(z is Zone.KERNEL for z in s.zone)
            or in_use > self.B + s.dev_requested * self.K
            or offline + self.K > self.config.offline_threshold * self.K
            or s.broken
        )

    def _plugged_left(self, s: State) -> bool:
        return BB.PLUGGED in s.bb

    @leads_to(
        "a big block left plugged is eventually unplugged",
        when=_plugged_left,
        fairness=RESPONSIVE_HOST,
    )
    def plugged_unplugged(self, s: State) -> bool:
        """A PLUGGED big block (removed, or never added, and still plugged) is unplugged by
        ``virtio_mem_cleanup_pending_mb`` (or the device is broken)."""
        return not self._plugged_left(s) or s.broken

    # =====================================================================================
    # Traces.
    # =====================================================================================

    def view(self, s: State) -> dict[str, object]:  # pragma: no cover -- rendering (tests)
        out: dict[str, object] = {}
        for bb in range(self.M):
            zones = " ".join(s.zone[mb].name.lower() for mb in self.mbs(bb))
            dev = "plugged" if s.dev_plugged[bb] else "unplugged"
            out[f"bb{bb}"] = f"{s.bb[bb].name} ({zones}; device: {dev})"
        flags = [
            name
            for name, on in (
                ("config_changed", s.config_changed),
                ("unplug_all_required", s.unplug_all_required),
                ("broken", s.broken),
            )
            if on
        ]
        out["driver"] = f"plugged {s.plugged} requested {s.requested}" + "".join(
            f", {f}" for f in flags
        )
        out["work"] = self._work_text(s)
        out["virtqueue"] = self._vq_text(s)
        out["device"] = f"requested {s.dev_requested} ({s.resizes_left} resizes left)"
        if s.dump is not Dump.NONE:
            frames = ",".join(str(f) for f in sorted(s.dumped))
            out["dump"] = f"{s.dump.name.lower()} read frames {frames}"
        else:
            out["dump"] = "-"
        return out

    def _work_text(self, s: State) -> str:  # pragma: no cover -- rendering (tests)
        r = s.run
        where = {
            Pc.IDLE: "idle",
            Pc.WAIT: f"waiting in {r.op.name} bb{r.bb}",
            Pc.ADD: f"add_memory bb{r.bb}",
            Pc.REMOVE: f"offline_and_remove_memory bb{r.bb}",
        }[r.pc]
        parts = [where + (f", {r.nb} to go" if r.nb and r.pc is not Pc.IDLE else "")]
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
            for req, bb, _ in bufs:
                name = Req(req).name
                text = name if req == Req.UNPLUG_ALL else f"{name} bb{bb}"
                if where == "used":
                    text += f" -> {s.resp.name}"
                return f"{text} ({where})"
        return "empty"

    def frame_map(self, s: State) -> str:  # pragma: no cover -- rendering (tests)
        out = []
        for f, p in enumerate(s.pages):
            plugged = f < self.B or s.dev_plugged[self.big_block_of(f)]
            if p is Page.NONE:
                out.append("o" if plugged else "-")
            elif p is Page.OFFLINE:
                out.append("x" if plugged else "X")
            elif not plugged:
                out.append("!")
            else:
                out.append({Page.FREE: "f", Page.MOVABLE: "M", Page.UNMOVABLE: "K"}[p])
        return "".join(out)
