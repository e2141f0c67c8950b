"""Frame sets and buddy arithmetic: the building blocks of the buddy-allocator encodings.

A set of blocks of one order is a frame set (:func:`hintspec.smt.frames_sort`: an array
from frame number to Bool, true at the heads of the blocks). A chosen block is a fresh
frame number. Buddy arithmetic is bit arithmetic on frame numbers, as in mm/page_alloc.c:
the buddy of head ``h`` at order ``k`` is ``h ^ (1 << k)`` (``__find_buddy_pfn``), the
merged head is ``h & ~(1 << k)``, and an order-``o`` block covering frame ``f`` starts at
``f & ~((1 << o) - 1)``.

The encodings state their invariants as :class:`hintspec.smt.Forall` over frame numbers and
read each set one frame at a time, so an induction step only ever looks at the frames an
action touches and the frame its goal names (see ``spec/smt/``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import z3


def empty(index: Any) -> Any:
    """The empty frame set."""
    return z3.K(index, z3.BoolVal(False))


def head_of(f: Any, order: int) -> Any:
    """The head of the order-``order`` block that covers frame ``f``."""
    return f & ~((1 << order) - 1) if order else f


def is_aligned(f: Any, order: int) -> Any:
    """``f`` may head a block of ``order``."""
    return f & ((1 << order) - 1) == 0 if order else z3.BoolVal(True)


def exactly_one(lits: Sequence[Any]) -> Any:
    """Exactly one of ``lits`` holds."""
    return z3.And(z3.Or(*lits), at_most_one(lits))


def at_most_one(lits: Sequence[Any]) -> Any:
    """At most one of ``lits`` holds (one pseudo-Boolean term, not n^2/2 clauses)."""
    return z3.AtMost(*lits, 1) if len(lits) > 1 else z3.BoolVal(True)


def to_bits(heads: Iterable[int]) -> int:
    """A set of frame numbers as the int whose bit f is frame f."""
    out = 0
    for h in heads:
        out |= 1 << h
    return out


def from_bits(value: int) -> list[int]:
    """The frame numbers of the set bits of ``value``, ascending."""
    out = []
    f = 0
    while value:
        if value & 1:
            out.append(f)
        value >>= 1
        f += 1
    return out


@dataclass(frozen=True)
class Merge:
    """The buddy merges of ``__free_one_page`` for a block at ``head`` freed at ``order``.

    ``merged[k]``: the merge at order k happens (every merge below it happened and the
    buddy ``buddy[k]`` is a free head of order k). ``final[k]``: the result is the block of
    order k at ``head[k]``. Orders below the freed order are absent.
    """

    merged: dict[int, Any]
    buddy: dict[int, Any]
    head: dict[int, Any]
    final: dict[int, Any]


def merge_chain(
    head: Any,
    order: int,
    max_order: int,
    free_at: Callable[[int], Any],
    can_merge: Callable[[int, Any], Any] | None = None,
) -> Merge:
    """``while order < max_order and buddy is free: merge`` (mm/page_alloc.c:
    ``__free_one_page``), unrolled: ``free_at(k)`` is the frame set of free heads of order
    k; ``can_merge(k, buddy)`` an extra condition on the buddy (default none)."""
    merged: dict[int, Any] = {}
    buddy: dict[int, Any] = {}
    heads: dict[int, Any] = {order: head}
    final: dict[int, Any] = {}
    prev = z3.BoolVal(True)
    cur = head
    for k in range(order, max_order):
        bud = cur ^ (1 << k)
        cond = z3.Select(free_at(k), bud)
        if can_merge is not None:
            cond = z3.And(cond, can_merge(k, bud))
        merged[k] = z3.And(prev, cond)
        buddy[k] = bud
        final[k] = z3.And(prev, z3.Not(cond))
        cur = cur & ~(1 << k)
        heads[k + 1] = cur
        prev = merged[k]
    final[max_order] = prev
    return Merge(merged, buddy, heads, final)
