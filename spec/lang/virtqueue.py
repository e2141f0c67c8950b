"""A virtqueue: a ring of fixed size shared by the guest driver and the host device.

Mirrors the split virtqueue of the virtio spec as Linux (drivers/virtio/virtio_ring.c) and
QEMU (hw/virtio/virtio.c) use it. A buffer occupies ring space from the moment the driver
adds it until the driver takes it back from the used ring:

* ``add``      -- ``virtqueue_add_outbuf`` / ``virtqueue_add_inbuf`` (+ ``virtqueue_kick``):
  fails (``-ENOSPC``) when no descriptor is free (``vq->num_free == 0``);
* ``pop``      -- the device's ``virtqueue_pop``: it takes the oldest available buffer; it
  may do so as late as it likes (the host is asynchronous and may stall, e.g. while its mm
  lock is held);
* ``push``     -- the device's ``virtqueue_push`` + ``virtio_notify``: the buffer is used;
* ``get_buf``  -- the driver's ``virtqueue_get_buf``: it reclaims the oldest used buffer,
  freeing its descriptor.

This module is a component, not a model: the page-reporting, hinting, balloon and
virtio-mem models embed a ``Virtqueue`` in their State. A buffer is a small tuple of ints
whose meaning the embedding model defines (a pfn range, a command id, a request).
By default a buffer takes one descriptor, however many entries its scatterlist has (as with
``VIRTIO_RING_F_INDIRECT_DESC``); with ``indirect=False`` a buffer of n entries takes n
descriptors (``virtqueue_add_split`` without indirect descriptors: ``descs_used = total_sg``,
``-ENOSPC`` if ``vq->num_free < descs_used``), so one full batch can fill the ring.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

Buffer = tuple[int, ...]


@dataclass(frozen=True)
class Virtqueue:
    size: int
    avail: tuple[Buffer, ...] = ()
    """Added by the driver, not yet popped by the device (FIFO)."""
    inflight: tuple[Buffer, ...] = ()
    """Popped by the device, not yet pushed to the used ring."""
    used: tuple[Buffer, ...] = ()
    """Pushed by the device, not yet reclaimed by the driver (FIFO)."""
    indirect: bool = True
    """True: a buffer takes one descriptor. False: a buffer is a chained scatterlist whose
    ``len(buf)`` entries take one descriptor each."""

    def descriptors(self, buf: Buffer) -> int:
        """Descriptors ``buf`` takes in the ring."""
        return 1 if self.indirect else max(1, len(buf))

    @property
    def num_free(self) -> int:
        """Free descriptors (``vq->num_free``)."""
        return self.size - sum(self.descriptors(b) for b in self.buffers)

    @property
    def full(self) -> bool:
        """No descriptor is free."""
        return self.num_free <= 0

    @property
    def buffers(self) -> tuple[Buffer, ...]:
        """Every buffer the ring holds, wherever it is."""
        return self.avail + self.inflight + self.used

    def add(self, buf: Buffer) -> Virtqueue | None:
        """``virtqueue_add_*``: None when the ring has too few free descriptors (the caller
        sees -ENOSPC)."""
        if self.num_free < self.descriptors(buf):
            return None
        return replace(self, avail=(*self.avail, buf))

    def pop(self) -> tuple[Buffer, Virtqueue] | None:
        """Device ``virtqueue_pop``: the oldest available buffer, or None."""
        if not self.avail:
            return None
        return self.avail[0], replace(
            self, avail=self.avail[1:], inflight=(*self.inflight, self.avail[0])
        )

    def push(self, index: int = 0) -> tuple[Buffer, Virtqueue]:
        """Device ``virtqueue_push``: the in-flight buffer at ``index`` becomes used."""
        buf = self.inflight[index]
        rest = self.inflight[:index] + self.inflight[index + 1 :]
        return buf, replace(self, inflight=rest, used=(*self.used, buf))

    def get_buf(self) -> tuple[Buffer, Virtqueue] | None:
        """Driver ``virtqueue_get_buf``: the oldest used buffer, or None."""
        if not self.used:
            return None
        return self.used[0], replace(self, used=self.used[1:])
