"""Properties every guest-to-host hinting protocol must keep, as reusable checks.

Free page reporting, free page hinting and the balloon all hand guest pages to the host.
Whatever the mechanism, four rules hold (``docs/models/page_reporting.md`` gives the
sources: mm/page_reporting.c, drivers/virtio/virtio_balloon.c, the virtio specification):

* **in-flight cap** -- at most a fixed number of blocks are away from the allocator at once
  (``PAGE_REPORTING_CAPACITY``; the pre-upstream designs that lacked a cap could hold back
  a large part of free memory and starve the allocator);
* **ack before reuse** -- a page handed to the host returns to the guest's use only after the
  host has acknowledged it (virtio spec: the driver MUST NOT use reported pages before the
  ack), otherwise the host may discard data the guest has since written;
* **no double hint** -- a block the host already has is not handed over again while it stays
  free and unchanged (a wasted report; harmless but the designs promise it);
* **a mark means what it says** -- a page flag that claims "the host has this page" (PG_reported,
  PageOffline) is only on blocks all of whose frames were handed to the host and not written
  since.

Each function returns True or a one-line explanation naming the block or frame at fault,
ready to be returned from an ``@always`` property. Blocks are ``(head, order)`` as in
:mod:`hintspec.properties.memory`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable

from hintspec.properties.memory import Block, Check, block_frames, fmt_block


def in_flight_cap(blocks: Collection[Block], cap: int, where: str = "isolated") -> Check:
    """At most ``cap`` blocks are ``where`` (e.g. isolated for a report)."""
    if len(blocks) <= cap:
        return True
    listed = ", ".join(fmt_block(b) for b in sorted(blocks))
    return f"{len(blocks)} blocks are {where} ({listed}); the cap is {cap}"


def ack_before_reuse(
    unacked: Iterable[Block], held: Collection[int], place: Callable[[int], str]
) -> Check:
    """Every frame of a block the host has not acknowledged yet is still ``held`` away from
    the guest's use (e.g. in the isolated scatterlist). ``place(frame)`` says where a frame
    that escaped is (``"on free list order 1"``, ``"allocated"``)."""
    for block in sorted(unacked):
        for f in block_frames(block):
            if f not in held:
                return (
                    f"frame {f} of block {fmt_block(block)} is back in the guest's use "
                    f"({place(f)}) before the host acknowledged the report"
                )
    return True


def no_double_hint(being_hinted: Iterable[Block], host_has: Collection[Block]) -> Check:
    """No block being handed to the host is one the host already has and that stayed free
    and unchanged since (``host_has``: acknowledged blocks, removed when they change)."""
    for block in sorted(being_hinted):
        if block in host_has:
            return (
                f"block {fmt_block(block)} is reported again although the host acknowledged "
                "it and it stayed free and unmerged since"
            )
    return True


def mark_is_meaningful(marked: Iterable[Block], handed: Collection[int], mark: str) -> Check:
    """Every frame of every ``marked`` block is in ``handed`` (handed to the host and not
    written since): the mark promises the host already has the whole block."""
    for block in sorted(marked):
        for f in block_frames(block):
            if f not in handed:
                return (
                    f"block {fmt_block(block)} carries {mark} but its frame {f} was not "
                    "handed to the host (or was written since)"
                )
    return True
