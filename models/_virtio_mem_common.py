"""What the two virtio-mem models share: the same driver file, the same device.

Sub Block Mode (``models/virtio_mem.py``) and Big Block Mode (``models/virtio_mem_bbm.py``)
are two modes of one driver, ``drivers/virtio/virtio_mem.c``, talking to one device, QEMU's
``hw/virtio/virtio-mem.c``. The code that is the same in both lives here, once: the
requests and answers, how the driver turns an answer into an error code and an error code
into what ``virtio_mem_run_wq`` does next, how the device decides (and may refuse), fake
offline's migration (``alloc_contig_range``), the guest's page users, the first-kernel dump,
the record of a refused request, and the actions of the device, the host and the guest
users. Each model binds the shared actions in its own class body, so it still reads top to
bottom. Facts and sources: ``docs/models/virtio_mem.md``.

A private module: the model registry does not load it as a model.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Literal, Protocol

from hintspec.lang.model import Args, Check, action, always, sometimes

# Return codes of the driver's functions (negated errno values in the kernel).
OK = 0
EAGAIN = 11
"""The config changed, or the device answered NACK: ``virtio_mem_run_wq`` restarts at
``retry:`` at once."""
ENOMEM = 12
EBUSY = 16
"""Memory busy (fake offline, offline_and_remove_memory failed): the retry timer."""
EINVAL = 22
"""An unexpected answer (ERROR): the device is marked broken."""
ENOSPC = 28
"""No more memory may be added (region exhausted, offline threshold): stop."""
ETXTBSY = 26
"""The device answered BUSY: the retry timer."""


class Page(IntEnum):
    """What one frame (standing for the pages of one sub-block or memory block) is."""

    NONE = 0
    """Not online memory (not added, or added and offline)."""
    FREE = 1
    """In the buddy."""
    MOVABLE = 2
    """In use by a guest user, movable (migratable)."""
    UNMOVABLE = 3
    """In use, unmovable (e.g. a page table); only in kernel zones."""
    OFFLINE = 4
    """PageOffline: owned by virtio-mem (never onlined, or fake-offlined)."""


USABLE = frozenset({Page.FREE, Page.MOVABLE, Page.UNMOVABLE})
"""Pages the guest can use: in the buddy or allocated."""


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


class Dump(IntEnum):
    NONE = 0
    KCORE = 1
    """A read of /proc/kcore in the running (first) kernel."""
    KDUMP = 2
    """The crash kernel's /proc/vmcore, had the guest crashed in this state."""


Where = Literal["online", "offline", "not added"]


@dataclass(frozen=True)
class RangeView:
    """What a refused request must leave as it found it: the request's device blocks (for
    UNPLUG_ALL the whole region) as the driver, the device and the guest see them."""

    block: int
    """The state byte of the (memory or big) block the range is in (the model's enum)."""
    bits: tuple[bool, ...]
    """The driver's idea of which device blocks of the range are plugged."""
    device: tuple[bool, ...]
    """The device's bitmap of the range."""
    usable: tuple[bool, ...]
    """Per frame of the range: the guest can use it (free in the buddy, or in use)."""
    plugged_size: int


@dataclass(frozen=True)
class Refusal:
    """The device refused a request and the driver is done with it: the function that sent
    it has returned its error to ``virtio_mem_run_wq`` (a history variable for the
    properties, set by the step in which that happens and cleared by the next one)."""

    req: Req
    resp: Resp
    op: int
    """The model's name for the driver code that sent it (its ``Op``)."""
    where: Where
    """The memory the request was about: online, added but offline, or not added."""
    first: int
    count: int
    before: RangeView
    after: RangeView


def evolve(s: Any, **changes: object) -> Any:
    """``dataclasses.replace`` without its checks (a third of the search time went there)."""
    t = object.__new__(type(s))
    t.__dict__.update(s.__dict__)
    t.__dict__.update(changes)
    return t


NOTHING: frozenset[int] = frozenset()


def show(value: tuple[bool, ...] | int | str) -> str:
    """A value of a range view: a tuple of flags as a bit string."""
    if isinstance(value, tuple):
        return "[" + "".join("1" if b else "0" for b in value) + "]"
    return str(value)


def rollback_changes(before: RangeView, after: RangeView, block: str, now: str) -> list[str]:
    """What differs between two views of a refused request's range (``block``/``now``: the
    block's state as expected and as it is, by name)."""
    return [
        f"{label} {show(old)} -> {show(new)}"
        for label, old, new in (
            ("the driver's plugged bits", before.bits, after.bits),
            ("the device's bitmap", before.device, after.device),
            ("plugged_size", before.plugged_size, after.plugged_size),
            ("usable frames", before.usable, after.usable),
            ("the block's state", block, now),
        )
        if old != new
    ]


# -- the device: virtio_mem_state_change_request, virtio_mem_unplug_all ----------------


def answer(
    req: Req, first: int, count: int, plugged: tuple[bool, ...], requested: int
) -> tuple[Resp, tuple[bool, ...]]:
    """The device's answer to a request over device blocks ``first .. first + count`` and
    its bitmap after it, were ``virtio_mem_set_block_state`` to succeed: ERROR for an
    invalid range (``virtio_mem_valid_range``), NACK for a plug beyond ``requested`` (in
    device blocks), ERROR unless every block is in the opposite state, else ACK.
    UNPLUG_ALL: ACK, everything unplugged."""
    if req is Req.UNPLUG_ALL:
        return Resp.ACK, (False,) * len(plugged)
    blocks = range(first, first + count)
    if count < 1 or first < 0 or first + count > len(plugged):
        return Resp.ERROR, plugged  # pragma: no cover -- the drivers send none
    if req is Req.PLUG and sum(plugged) + count > requested:
        return Resp.NACK, plugged
    target = req is Req.PLUG
    if any(plugged[i] == target for i in blocks):
        return Resp.ERROR, plugged  # not all blocks in the opposite state
    bits = list(plugged)
    for i in blocks:
        bits[i] = target
    return Resp.ACK, tuple(bits)


def request_rc(req: Req, resp: Resp) -> int:
    """The answer as the driver's error code (``virtio_mem_send_plug_request``,
    ``virtio_mem_send_unplug_request``, ``virtio_mem_send_unplug_all_request``)."""
    if req is Req.PLUG:
        return {Resp.ACK: OK, Resp.NACK: EAGAIN, Resp.BUSY: ETXTBSY}.get(resp, EINVAL)
    if req is Req.UNPLUG:
        return {Resp.ACK: OK, Resp.BUSY: ETXTBSY, Resp.ERROR: EINVAL}.get(resp, ENOMEM)
    return {Resp.ACK: OK, Resp.BUSY: ETXTBSY}.get(resp, ENOMEM)


def run_ends(rc: int, variant: str) -> Literal["retry", "timer", "done", "broken"]:
    """The ``switch (rc)`` at the end of ``virtio_mem_run_wq``: -EAGAIN goes back to
    ``retry:``; -ETXTBSY, -EBUSY and -ENOMEM arm the retry timer; 0 and -ENOSPC end the
    run; anything else marks the device broken. (``busy_retries_at_once``: -ETXTBSY goes
    back to ``retry:`` too.)"""
    if rc == EAGAIN or (rc == ETXTBSY and variant == "busy_retries_at_once"):
        return "retry"
    if rc in (ETXTBSY, EBUSY, ENOMEM):
        return "timer"
    if rc in (OK, ENOSPC):
        return "done"
    return "broken"


BUSY_RETRIES_AT_ONCE = (
    "invented: virtio_mem_run_wq treats -ETXTBSY (the device answered BUSY) like -EAGAIN and "
    "goes back to retry: at once instead of after the retry timer, so a busy host keeps the "
    "guest's work item spinning"
)
"""The description of the variant both models have (the same switch in both)."""


# -- the guest's memory ------------------------------------------------------------------


def migrate_out(pages: list[Page], frames: range) -> bool:
    """``alloc_contig_range`` of ``frames`` (in place): fails on an unmovable page, and
    when the movable pages cannot all move to free frames outside the range (they take the
    lowest ones); the pages left in the range are then the caller's. False if it failed
    (nothing changed)."""
    if any(pages[f] is Page.UNMOVABLE for f in frames):
        return False
    movable = [f for f in frames if pages[f] is Page.MOVABLE]
    targets = [f for f in range(len(pages)) if f not in frames and pages[f] is Page.FREE]
    if len(targets) < len(movable):
        return False
    for f in targets[: len(movable)]:
        pages[f] = Page.MOVABLE
    return True


def kcore_read(pages: tuple[Page, ...], skip_page_offline: bool) -> frozenset[int]:
    """``read_kcore_iter``: every online frame, except PageOffline ones (unless the dump is
    the one that does not skip them)."""
    return frozenset(
        f
        for f, p in enumerate(pages)
        if p is not Page.NONE and not (skip_page_offline and p is Page.OFFLINE)
    )


# -- the actions both models share (bound in each model's class body) -------------------


class Side(Protocol):
    """What the shared actions need of a model."""

    N: int
    """Device blocks in the region."""
    config: Any

    def _next(self, s: Any, **changes: object) -> Any: ...

    def in_kernel_zone(self, s: Any, frame: int) -> bool: ...


# Weak: an armed hrtimer expires (retry_timer_ms, 50 s doubling to 300 s); a guest whose
# timers never fire is not running at all.
@action("drivers/virtio/virtio_mem.c: virtio_mem_timer_expired", fair="weak")
def retry_timer_fires(self: Side, s: Any) -> Iterator[tuple[Args, Any]]:
    """``virtio_mem_timer_expired`` -> ``virtio_mem_retry``: the work item is queued."""
    if not s.timer:
        return
    yield {}, self._next(s, timer=False, queued=True)


# No fairness here: the host may stall (a wedged QEMU, a host that never processes the queue).
# That it answers is a premise of the liveness properties (each model's RESPONSIVE_HOST).
@action("hw/virtio/virtio-mem.c: virtio_mem_handle_request")
def device_handle(self: Side, s: Any) -> Iterator[tuple[Args, Any]]:
    """Pop the request, act on it, write the response and push it (one handler run)."""
    popped = s.vq.pop()
    if popped is None:
        return
    buf, vq = popped
    resp, bits = answer(Req(buf[0]), buf[1], buf[2], s.dev_plugged, s.dev_requested)
    _, vq = vq.push()
    yield (
        {"req": Req(buf[0]).name, "resp": resp.name},
        self._next(s, vq=vq, resp=resp, dev_plugged=bits),
    )


@action("hw/virtio/virtio-mem.c: virtio_mem_set_block_state fails (migration: BUSY)")
def device_handle_busy(self: Side, s: Any) -> Iterator[tuple[Args, Any]]:
    """``virtio_mem_is_busy()`` (or a failed preallocation or discard): the device answers
    BUSY and changes nothing. Only where ``virtio_mem_set_block_state`` is reached, i.e.
    where the answer would otherwise be ACK (NACK and ERROR are decided first); UNPLUG_ALL
    only when something is plugged (``virtio_mem_unplug_all``)."""
    popped = s.vq.pop()
    if popped is None:
        return
    buf, vq = popped
    req = Req(buf[0])
    if req is Req.UNPLUG_ALL:
        if not any(s.dev_plugged):
            return  # pragma: no cover -- UNPLUG_ALL is sent only with leftovers plugged
    elif answer(req, buf[1], buf[2], s.dev_plugged, s.dev_requested)[0] is not Resp.ACK:
        return
    _, vq = vq.push()
    yield {"req": req.name}, self._next(s, vq=vq, resp=Resp.BUSY)


@action("hw/virtio/virtio-mem.c: virtio_mem_state_change_request answers ERROR")
def device_handle_error(self: Side, s: Any) -> Iterator[tuple[Args, Any]]:
    """The device answers ERROR to a plug or unplug request and changes nothing (see the
    models' ``device_errors``: QEMU does so only for a request it finds invalid)."""
    if not self.config.device_errors:
        return
    popped = s.vq.pop()
    if popped is None:
        return
    buf, vq = popped
    if buf[0] == Req.UNPLUG_ALL:
        return  # virtio_mem_unplug_all_request answers ACK or BUSY only
    _, vq = vq.push()
    yield {"req": Req(buf[0]).name}, self._next(s, vq=vq, resp=Resp.ERROR)


@action("hw/virtio/virtio-mem.c: requested-size property -> virtio_mem_config_changed")
def host_resize(self: Side, s: Any) -> Iterator[tuple[Args, Any]]:
    """The host changes the requested size; the config interrupt sets ``config_changed``
    and queues the work (``virtio_mem_retry``)."""
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


@action("mm/page_alloc.c: __alloc_pages (a guest user)")
def user_alloc(self: Side, s: Any) -> Iterator[tuple[Args, Any]]:
    """A movable page anywhere; an unmovable one only in a kernel zone."""
    if s.in_use >= self.config.user_pages:  # what the users hold, lost pages included
        return
    for f in range(len(s.pages)):
        if s.pages[f] is not Page.FREE:
            continue
        for kind in (Page.MOVABLE, Page.UNMOVABLE):
            if kind is Page.UNMOVABLE and not self.in_kernel_zone(s, f):
                continue
            pages = (*s.pages[:f], kind, *s.pages[f + 1 :])
            yield (
                {"kind": kind.name, "frame": f},
                self._next(s, pages=pages, in_use=s.in_use + 1),
            )


@action("mm/page_alloc.c: free_pages (a guest user)")
def user_free(self: Side, s: Any) -> Iterator[tuple[Args, Any]]:
    for f in range(len(s.pages)):
        if s.pages[f] in (Page.MOVABLE, Page.UNMOVABLE):
            pages = (*s.pages[:f], Page.FREE, *s.pages[f + 1 :])
            yield {"frame": f}, self._next(s, pages=pages, in_use=s.in_use - 1)


# -- properties both models state the same way ------------------------------------------


def busy_seen(model: object, s: Any) -> bool:
    """The trigger of ``busy_backs_off``: the driver just handled a BUSY answer."""
    return s.refused is not None and s.refused.resp is Resp.BUSY


def busy_backs_off(s: Any, idle: bool, work: str) -> Check:
    """After a BUSY answer the run is over (``idle``) and the retry timer armed (``work``:
    the work item in words, for the explanation)."""
    r = s.refused
    if r is None or r.resp is not Resp.BUSY:
        return True
    if not idle or not s.timer:
        return (
            f"the device answered BUSY to {r.req.name} and the driver went on at once "
            f"({work}) instead of arming the retry timer"
        )
    return True


def request_valid(s: Any, name: Any) -> Check:
    """The plug or unplug request waiting for the device covers device blocks inside the
    region, each in the opposite state (``name``: a device block's name, for the
    explanation). QEMU answers anything else with ERROR (``virtio_mem_state_change_request``:
    ``virtio_mem_valid_range``, ``virtio_mem_is_range_unplugged`` /
    ``virtio_mem_is_range_plugged``) and the driver then marks the device broken."""
    for req, first, count in s.vq.avail:
        if req == Req.UNPLUG_ALL:
            continue
        what = Req(req).name
        if count < 1 or first < 0 or first + count > len(s.dev_plugged):
            return f"the driver asks to {what} device blocks {first}+{count}, outside the region"
        for i in range(first, first + count):
            if s.dev_plugged[i] == (req == Req.PLUG):
                state = "plugged" if s.dev_plugged[i] else "unplugged"
                return f"the driver asks to {what} {name(i)}, which the device has {state}"
    return True


REQUEST_VALID = (
    "the driver asks the device only for device blocks inside the region in the opposite state"
)


USER_PAGES_KEPT = "no page in use is lost: guest users keep every page they did not free"


@always(USER_PAGES_KEPT, trigger="a guest user has a page in device memory")
def user_pages_kept(self: object, s: Any) -> Check:
    """The pages in use are as many as guest users allocated and did not free
    (``in_use``): fake offline (``alloc_contig_range``) migrates the pages in use out of
    the range it takes, or fails and leaves the range alone; the driver never drops or
    duplicates a page in use (data loss)."""
    held = sum(1 for p in s.pages if p in (Page.MOVABLE, Page.UNMOVABLE))
    if held != s.in_use:
        return (
            f"guest users hold {s.in_use} page(s) they allocated and did not free, "
            f"but {held} frame(s) are in use: "
            + ("a page in use was dropped" if held < s.in_use else "a page was duplicated")
        )
    return True


@sometimes("a guest user has a page in device memory")
def user_page_in_device(self: Any, s: Any) -> bool:
    """A page in use outside boot memory (the first ``self.B`` frames): one the driver
    could take."""
    return any(p in (Page.MOVABLE, Page.UNMOVABLE) for p in s.pages[self.B :])


FAKE_OFFLINE_IGNORES_FAILURE = (
    "invented: virtio_mem_fake_offline ignores the error of alloc_contig_range() and marks "
    "the range PageOffline anyway (virtio_mem_set_fake_offline): a page in use that could "
    "not be migrated (unmovable, or no free frame to move it to) is taken from its user"
)
"""The description of the variant both models have (the same fake offline in both)."""


BUSY_BACKS_OFF = "a BUSY answer makes the driver back off: its run ends with the retry timer armed"


# The device refuses, one witness per answer (both modes): NACK only to a plug, beyond the
# requested size; BUSY while migrating or when a preallocation or a discard fails; ERROR
# (the models' ``device_errors``) to a request it finds invalid. Each model adds witnesses
# per kind of memory.


def refused_with(s: Any, req: Req, resp: Resp) -> bool:
    """The step that led to ``s`` handled the device's refusal ``resp`` of ``req``."""
    r = s.refused
    return r is not None and r.req is req and r.resp is resp


@sometimes("the device answers NACK to a plug request")
def plug_nack(self: object, s: Any) -> bool:
    return refused_with(s, Req.PLUG, Resp.NACK)


@sometimes("the device answers BUSY to a plug request")
def plug_busy(self: object, s: Any) -> bool:
    return refused_with(s, Req.PLUG, Resp.BUSY)


@sometimes("the device answers ERROR to a plug request")
def plug_error(self: object, s: Any) -> bool:
    return refused_with(s, Req.PLUG, Resp.ERROR)


@sometimes("the device answers BUSY to an unplug request")
def unplug_busy(self: object, s: Any) -> bool:
    return refused_with(s, Req.UNPLUG, Resp.BUSY)


@sometimes("the device answers ERROR to an unplug request")
def unplug_error(self: object, s: Any) -> bool:
    return refused_with(s, Req.UNPLUG, Resp.ERROR)
