"""Ownership of page frames: no page is lost, none is owned twice.

Every model with frames keeps them in *real* containers (free lists per order, allocated
blocks, an isolated scatterlist, a balloon list, ...). Nothing in the State makes a lost or
doubly owned frame unrepresentable; this module checks it, and says which frame is wrong
and where it is.

A container is a name and the blocks it holds; a block is ``(head, order)``, covering the
``2**order`` frames from ``head`` (a single frame is order 0). Blocks must be naturally
aligned, as the buddy allocator keeps them (``head % 2**order == 0``).

Usage inside a model::

    @always("no page is lost or owned twice")
    def ownership(self, s):
        return memory.ownership(self.config.frames, {
            "on a free list": free_blocks(s),
            "allocated": s.allocated,
            "isolated": s.sgl,
        })
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

Block = tuple[int, int]
"""(head frame, order): the 2**order frames starting at head."""

Check = bool | str


def block_frames(block: Block) -> range:
    """The frames a block covers."""
    head, order = block
    return range(head, head + (1 << order))


def frames_within(block: Block, frames: int) -> range:
    """The frames of ``block`` inside memory (``0..frames-1``): what a frame map can draw
    of a block that, in a broken state, reaches beyond it."""
    head, order = block
    if order < 0:
        return range(0)
    end = head + (1 << order) if order <= frames.bit_length() else frames
    return range(max(head, 0), min(end, frames))


def fmt_block(block: Block) -> str:
    """``4/o1``: the block of order 1 whose head is frame 4."""
    return f"{block[0]}/o{block[1]}"


def owners(containers: Mapping[str, Iterable[Block]], frames: int) -> dict[int, list[str]]:
    """Frame -> every place that claims it (``"allocated block 4/o1"``), in container order,
    for the frames ``0..frames-1``."""
    out: dict[int, list[str]] = {}
    for name, blocks in containers.items():
        for block in sorted(blocks):
            where = f"{name} block {fmt_block(block)}"
            for f in frames_within(block, frames):
                out.setdefault(f, []).append(where)
    return out


def ownership(frames: int, containers: Mapping[str, Iterable[Block]]) -> Check:
    """True if every frame ``0..frames-1`` is in exactly one block of exactly one container
    and every block is aligned and inside memory; else an explanation naming the frame
    (the first lost or doubly owned frame, in frame order) and the blocks that claim it."""
    # Fast path (this runs on every explored state): each block as a bit mask; if the
    # masks are disjoint, aligned and cover memory exactly, nothing needs explaining.
    seen = 0
    total = 0
    aligned = True
    for blocks in containers.values():
        for head, order in blocks:
            if not 0 <= order <= frames.bit_length():
                aligned = False  # far larger than memory: explained below
                continue
            size = 1 << order
            aligned = aligned and size > 0 and head % size == 0 and head >= 0
            seen |= ((1 << size) - 1) << head
            total += size
    if aligned and total == frames and seen == (1 << frames) - 1:
        return True
    for name, blocks in containers.items():
        for head, order in sorted(blocks):
            huge = order > frames.bit_length()
            if order < 0 or (not huge and head % (1 << order)):
                return f"{name} block {fmt_block((head, order))} is not aligned to its size"
            if huge or head < 0 or head + (1 << order) > frames:
                return (
                    f"{name} block {fmt_block((head, order))} lies outside frames 0..{frames - 1}"
                )
    claims = owners(containers, frames)
    for f in range(frames):
        where = claims.get(f, [])
        if not where:
            return f"frame {f} is in no container (lost): not " + ", not ".join(containers)
        if len(where) > 1:
            return f"frame {f} is owned twice: in {where[0]} and in {where[1]}"
    return True
