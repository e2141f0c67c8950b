"""The reference benchmark's vectorised form: the same semantics as ``reference_buddy``, a
whole BFS level at a time with numpy (driven by ``hintspec.engine.vector``).

Packing (N <= 16 frames, 4N bits in one ``uint64``):

* bits ``[0, N)``      -- the heads: bit f set when a block starts at frame f; a block runs
  to the next head, so its order is implied by the layout (``_layout`` tables);
* bits ``[N, 3N)``     -- two status bits per frame, meaningful at heads: 0 free,
  1 allocated, 2 isolated (0 elsewhere);
* bits ``[3N, 4N)``    -- PG_reported per frame, kept exactly as the model's ``reported``
  set (a stale bit on a non-head is representable, as the bad variants need).

Frames before the first head, and blocks whose extent is not an aligned power of two, are
representable, so the coverage invariant is still a check here; two blocks sharing a frame
are not, so ``pack`` refuses such a State (ValueError) and the conformance test
(``tests/test_vector.py``: every reachable state of every variant at 8 frames, and
Hypothesis walks at 16) would fail rather than the fast path hiding it.

Choice ids follow the object model's generator order (alloc by want then head, free,
isolate, putback by head), so ``hintspec.engine.vector`` numbers states exactly as the object
explorer does.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np
from hintspec.models.reference_buddy import CAP, MIN_ISOLATE_ORDER, ReferenceBuddy, State

if TYPE_CHECKING:
    import numpy.typing as npt

U64 = np.uint64
FREE, ALLOCATED, ISOLATED = 0, 1, 2


@cache
def _layout(frames: int) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.bool_]]:
    """For every heads mask: the order of the block at each frame (-1: not a head, or an
    extent that is not a power of two), and whether the layout tiles the frames with
    aligned power-of-two blocks."""
    masks = np.arange(1 << frames, dtype=np.int64)
    order = np.full((1 << frames, frames), -1, dtype=np.int8)
    valid = (masks & 1).astype(bool)  # frame 0 must start a block
    next_head = np.full(1 << frames, frames, dtype=np.int64)
    for f in range(frames - 1, -1, -1):
        is_head = ((masks >> f) & 1).astype(bool)
        size = next_head - f
        power = (size & (size - 1)) == 0
        log = np.zeros_like(size)
        for k in range(frames.bit_length()):
            log[size == (1 << k)] = k
        aligned = power & (f % np.maximum(size, 1) == 0)
        order[is_head & power, f] = log[is_head & power].astype(np.int8)
        valid &= ~is_head | aligned
        next_head = np.where(is_head, f, next_head)
    return order, valid


class VectorReferenceBuddy:
    """``hintspec.engine.vector.Vectorized`` for ``ReferenceBuddy`` (one config, one variant)."""

    def __init__(self, model: ReferenceBuddy) -> None:
        n = model.config.frames
        if n > 16:
            raise ValueError("the packed form holds at most 16 frames")
        self.model = model
        self.n = n
        self.max_order = n.bit_length() - 1
        self.variant = model.variant
        self.choices = 5 * n
        self.order_table, self.valid_table = _layout(n)
        self.heads_mask = U64((1 << n) - 1)
        self.status_shifts = (U64(n) + U64(2) * np.arange(n, dtype=U64))[None, :]
        self.reported_shifts = (U64(3 * n) + np.arange(n, dtype=U64))[None, :]
        # split[want, f, order]: the head bits of the upper halves left free when a block of
        # ``order`` at ``f`` is split down to ``want`` (``expand``).
        self.split = np.zeros((2, n, self.max_order + 1), dtype=U64)
        for want in (0, 1):
            for f in range(n):
                for order in range(self.max_order + 1):
                    bits = 0
                    for k in range(want, order):
                        if f + (1 << k) < n:
                            bits |= 1 << (f + (1 << k))
                    self.split[want, f, order] = bits

    # -- packing ----------------------------------------------------------------------

    def pack(self, s: State) -> int:
        n = self.n
        x = 0
        taken: set[int] = set()
        for blocks, status in ((s.free, FREE), (s.allocated, ALLOCATED), (s.isolated, ISOLATED)):
            for head, order in blocks:
                span = set(range(head, head + (1 << order)))
                if span & taken:
                    raise ValueError(f"blocks overlap at frame {min(span & taken)}")
                taken |= span
                x |= 1 << head
                x |= status << (n + 2 * head)
        for f in s.reported:
            x |= 1 << (3 * n + f)
        if self.unpack(x) != s:
            raise ValueError("the state has no packed form (a block is not at its extent)")
        return x

    def unpack(self, x: int) -> State:
        n = self.n
        heads = x & ((1 << n) - 1)
        orders = self.order_table[heads]
        sets: tuple[set[tuple[int, int]], ...] = (set(), set(), set())
        for f in range(n):
            if heads >> f & 1:
                order = int(orders[f])
                if order < 0:
                    raise ValueError(f"the block at frame {f} is not a power of two")
                sets[(x >> (n + 2 * f)) & 3].add((f, order))
        reported = frozenset(f for f in range(n) if x >> (3 * n + f) & 1)
        return State(frozenset(sets[0]), frozenset(sets[1]), frozenset(sets[2]), reported)

    def initial(self) -> npt.NDArray[np.uint64]:
        return np.array([self.pack(s) for s in self.model.initial_states()], dtype=U64)

    # -- fields of a packed array -----------------------------------------------------

    def _heads(self, x: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]:
        return (x & self.heads_mask).astype(np.int64)

    def _status_bits(self, f: int, status: int) -> np.uint64:
        return U64(status << (self.n + 2 * f))

    def _status_clear(self, f: int) -> np.uint64:
        return ~U64(3 << (self.n + 2 * f))

    def _reported_bit(self, f: int) -> np.uint64:
        return U64(1 << (3 * self.n + f))

    # -- successors -------------------------------------------------------------------

    def successors(
        self, x: npt.NDArray[np.uint64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint64], npt.NDArray[np.int64]]:
        n = self.n
        heads = self._heads(x)
        orders = self.order_table[heads].astype(np.int64)  # (rows, n)
        is_head = orders >= 0
        status = ((x[:, None] >> self.status_shifts) & U64(3)).astype(np.int64)
        free = is_head & (status == FREE)
        rows = np.arange(len(x), dtype=np.int64)
        keys: list[npt.NDArray[np.int64]] = []
        succ: list[npt.NDArray[np.uint64]] = []
        acts: list[npt.NDArray[np.int64]] = []

        def emit(
            mask: npt.NDArray[np.bool_], new: npt.NDArray[np.uint64], choice: int, a: int
        ) -> None:
            keys.append(rows[mask] * self.choices + choice)
            succ.append(new)
            acts.append(np.full(int(mask.sum()), a, dtype=np.int64))

        # alloc(want): best fit among the free blocks of the smallest free order >= want.
        for want in (0, 1):
            candidate = np.where(free & (orders >= want), orders, 99)
            smallest = candidate.min(axis=1)
            for f in range(n):
                mask = (candidate[:, f] == smallest) & (smallest < 99)
                if not mask.any():
                    continue
                y = x[mask]
                split = self.split[want, f, orders[mask, f]]
                y = (y | split) & self._status_clear(f) | self._status_bits(f, ALLOCATED)
                if self.variant != "alloc_keeps_reported":
                    y = y & ~self._reported_bit(f)
                emit(mask, y, want * n + f, 0)
        # free(block): merge with the free buddy while there is one.
        for f in range(n):
            mask = is_head[:, f] & (status[:, f] == ALLOCATED)
            if not mask.any():
                continue
            y = x[mask] & self._status_clear(f)  # the freed head is now a free block
            head = np.full(len(y), f, dtype=np.int64)
            order = orders[mask, f]
            active = np.ones(len(y), dtype=bool)
            for _ in range(self.max_order):
                buddy = head ^ (np.int64(1) << order)
                buddy_safe = np.where(active & (order < self.max_order), buddy, 0)
                lay = self.order_table[self._heads(y), buddy_safe]
                buddy_status = (y >> (U64(n) + 2 * buddy_safe.astype(U64))) & U64(3)
                merge = active & (order < self.max_order) & (lay == order) & (buddy_status == 0)
                if not merge.any():
                    break
                upper = np.maximum(head, buddy)
                one = np.ones(len(y), dtype=U64)
                clear = np.where(merge, one << upper.astype(U64), U64(0)).astype(U64)
                if self.variant != "merge_keeps_reported":
                    clear |= np.where(
                        merge, one << (U64(3 * n) + buddy_safe.astype(U64)), U64(0)
                    ).astype(U64)
                y = y & ~clear
                head = np.where(merge, np.minimum(head, buddy), head)
                order = np.where(merge, order + 1, order)
                active = merge
            emit(mask, y, 2 * n + f, 1)
        # isolate(block): an unreported free block of order >= 2, within the cap.
        isolated_count = (is_head & (status == ISOLATED)).sum(axis=1)
        room = (
            isolated_count < CAP
            if self.variant != "isolate_ignores_cap"
            else np.ones(len(x), dtype=bool)
        )
        for f in range(n):
            reported = ((x >> U64(3 * n + f)) & U64(1)).astype(bool)
            mask = room & free[:, f] & (orders[:, f] >= MIN_ISOLATE_ORDER) & ~reported
            if mask.any():
                y = x[mask] & self._status_clear(f) | self._status_bits(f, ISOLATED)
                emit(mask, y, 3 * n + f, 2)
        # putback(block): back to the free set, reported, without merging.
        for f in range(n):
            mask = is_head[:, f] & (status[:, f] == ISOLATED)
            if mask.any():
                y = x[mask] & self._status_clear(f) | self._reported_bit(f)
                emit(mask, y, 4 * n + f, 3)
        if not keys:
            empty = np.zeros(0, dtype=np.int64)
            return empty, np.zeros(0, dtype=U64), empty
        return np.concatenate(keys), np.concatenate(succ), np.concatenate(acts)

    # -- properties -------------------------------------------------------------------

    def invariants(self, x: npt.NDArray[np.uint64]) -> dict[str, npt.NDArray[np.bool_]]:
        n = self.n
        heads = self._heads(x)
        status = (x[:, None] >> self.status_shifts) & U64(3)
        is_head = ((heads[:, None] >> np.arange(n)) & 1).astype(bool)
        reported = ((x[:, None] >> self.reported_shifts) & U64(1)).astype(bool)
        free_head = is_head & (status == FREE)
        return {
            "every frame is in exactly one aligned block": self.valid_table[heads],
            "reported is set only on heads of free blocks": ~(reported & ~free_head).any(axis=1),
            "at most CAP blocks are isolated": (is_head & (status == ISOLATED)).sum(axis=1) <= CAP,
        }

    def witnesses(self, x: npt.NDArray[np.uint64]) -> dict[str, npt.NDArray[np.bool_]]:
        return {"a block gets reported": (x >> U64(3 * self.n)) != 0}

    def terminal(self, x: npt.NDArray[np.uint64]) -> npt.NDArray[np.bool_]:
        return np.zeros(len(x), dtype=bool)


def vectorized(model: Any) -> VectorReferenceBuddy | None:
    """The factory named by ``ReferenceBuddy.vectorized`` (None above 16 frames)."""
    return VectorReferenceBuddy(model) if model.config.frames <= 16 else None
