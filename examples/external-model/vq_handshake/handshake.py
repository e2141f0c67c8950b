"""A two-slot virtqueue handshake: the driver lends buffers to the device and gets them back.

The guest driver owns a few buffers. It adds one to the ring
(drivers/virtio/virtio_ring.c: virtqueue_add_split), the device pops it, uses it and
pushes it to the used ring (QEMU hw/virtio/virtio.c: virtqueue_pop, virtqueue_push,
virtio_notify), and the driver's interrupt handler takes it back
(virtio_ring.c: vring_interrupt -> the driver's callback -> virtqueue_get_buf). The ring
has two descriptors: a third buffer does not fit, and ``virtqueue_add_split`` returns
-ENOSPC. The buffer then still belongs to the driver, which must keep it or free it
(drivers/net/virtio_net.c: add_recvbuf_small frees it with put_page).

Bad variants:

* ``drops_on_enospc`` -- the driver forgets a buffer the ring refused: it is in no
  container any more (a leak; "no buffer is lost" is violated in 3 steps).
* ``push_without_notify`` -- the device pushes without notifying the driver, so the
  buffers wait on the used ring for ever ("every lent buffer comes back" is violated, and
  the system deadlocks once every buffer is on the used ring).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

from hintspec.lang import Args, Check, Model, Virtqueue, action, always, leads_to, sometimes


@dataclass(frozen=True)
class Config:
    buffers: int = 3
    """Buffers the driver owns."""
    slots: int = 2
    """Descriptors in the ring."""
    variant: str = "upstream"


@dataclass(frozen=True)
class State:
    pool: frozenset[int]
    """Buffers the driver holds (not lent to the device)."""
    vq: Virtqueue
    """The ring: each lent buffer is a one-element tuple (its number)."""
    irq: bool
    """The device has notified the driver that the used ring has buffers."""


class Handshake(Model[Config, State]):
    """A two-slot virtqueue handshake: buffers lent to the device come back."""

    name = "handshake"
    variants = {
        "upstream": "the driver keeps a buffer the ring refuses; the device notifies",
        "drops_on_enospc": "the driver forgets a buffer when virtqueue_add returns -ENOSPC",
        "push_without_notify": "the device pushes to the used ring but never notifies",
    }
    frame_legend = {
        "d": "with the driver",
        "a": "available",
        "i": "in the device",
        "u": "used, not yet taken back",
        "!": "lost",
    }
    hypothesis_config = {"buffers": 8, "slots": 4}

    def initial_states(self) -> Iterator[State]:
        yield State(frozenset(range(self.config.buffers)), Virtqueue(self.config.slots), False)

    @action("drivers/virtio/virtio_ring.c: virtqueue_add_split")
    def add(self, s: State) -> Iterator[tuple[Args, State]]:
        for buf in sorted(s.pool):
            vq = s.vq.add((buf,))
            if vq is not None:
                yield {"buf": buf, "ok": True}, replace(s, pool=s.pool - {buf}, vq=vq)
            elif self.variant == "drops_on_enospc":
                yield {"buf": buf, "ok": False}, replace(s, pool=s.pool - {buf})

    # The device is a host thread that runs whenever it has work: weakly fair.
    @action("hw/virtio/virtio.c: virtqueue_pop", fair="weak")
    def pop(self, s: State) -> Iterator[tuple[Args, State]]:
        popped = s.vq.pop()
        if popped is not None:
            buf, vq = popped
            yield {"buf": buf[0]}, replace(s, vq=vq)

    # In order: the device pushes the buffer it popped first.
    @action("hw/virtio/virtio.c: virtqueue_push, virtio_notify", fair="weak")
    def push(self, s: State) -> Iterator[tuple[Args, State]]:
        if s.vq.inflight:
            buf, vq = s.vq.push(0)
            notify = self.variant != "push_without_notify"
            yield {"buf": buf[0]}, replace(s, vq=vq, irq=s.irq or notify)

    # An interrupt that is raised is handled: weakly fair.
    @action("drivers/virtio/virtio_ring.c: vring_interrupt -> virtqueue_get_buf", fair="weak")
    def get_buf(self, s: State) -> Iterator[tuple[Args, State]]:
        taken = s.vq.get_buf() if s.irq else None
        if taken is not None:
            buf, vq = taken
            yield {"buf": buf[0]}, State(s.pool | {buf[0]}, vq, bool(vq.used))

    @always("no buffer is lost")
    def no_buffer_lost(self, s: State) -> Check:
        places = [*s.pool, *(b[0] for b in s.vq.buffers)]
        for buf in range(self.config.buffers):
            if places.count(buf) != 1:
                return f"buffer {buf} is in {places.count(buf)} places"
        return True

    @sometimes("the ring is full")
    def ring_full(self, s: State) -> bool:
        return s.vq.full

    @leads_to("every lent buffer comes back", when=lambda self, s: 0 not in s.pool)
    def buffer_back(self, s: State) -> bool:
        return 0 in s.pool

    def frame_map(self, s: State) -> str:
        where = {b[0]: "a" for b in s.vq.avail}
        where |= {b[0]: "i" for b in s.vq.inflight} | {b[0]: "u" for b in s.vq.used}
        where |= {b: "d" for b in s.pool}
        return "".join(where.get(b, "!") for b in range(self.config.buffers))
