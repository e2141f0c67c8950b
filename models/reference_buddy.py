"""The reference benchmark: a tiny buddy allocator with free page reporting.

This is the fixed reference model that Spin and TLC were also run on (its Promela twin is
``tests/benchmarks/reference_buddy_promela.py``). It is the explorer's correctness oracle
(the distinct-state and transition counts must match exactly: 730 / 4,508 at 8 frames,
530,093 / 6,351,984 at 16) and its
performance anchor. It is *not* the product's page-reporting model (see
``page_reporting``), and its semantics must not change, so figures stay comparable.

Semantics (from the benchmark text):

* N frames, orders 0..log2 N; initially one free, unreported block of the top order at 0.
* ``alloc(o)``, o in {0, 1}: take a free block of the smallest free order >= o (each such
  block is one transition), split it down to o -- each upper half becomes a free, unreported
  block -- clear the taken head's reported bit, record the lower part as allocated
  (``__rmqueue_smallest`` / ``expand`` in mm/page_alloc.c).
* ``free(b)``: merge with the free buddy while there is one, clearing the buddy's reported
  bit; add the result as a free, unreported block (``__free_one_page``).
* ``isolate(b)``: a free block of order >= 2, not reported, while nothing is isolated
  (CAP = 1) leaves the free set (``page_reporting_cycle`` -> ``__isolate_free_page``).
* ``putback(b)``: an isolated block returns to the free set without merging and becomes
  reported (``page_reporting_drain``).

Bad variants (each found by BFS in 3-4 steps): ``alloc_keeps_reported``,
``isolate_ignores_cap``, ``merge_keeps_reported``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from hintspec.lang.model import Args, Check, Model, action, always, sometimes

Block = tuple[int, int]
"""(head frame, order)."""

CAP = 1
MIN_ISOLATE_ORDER = 2


@dataclass(frozen=True)
class Config:
    frames: int = 8
    """Number of page frames, a power of two (8 and 16 are the benchmark sizes)."""
    variant: str = "upstream"

    def __post_init__(self) -> None:
        if self.frames < 4 or self.frames & (self.frames - 1):
            raise ValueError(f"frames must be a power of two >= 4, not {self.frames}")


@dataclass(frozen=True)
class State:
    free: frozenset[Block]
    allocated: frozenset[Block]
    isolated: frozenset[Block]
    reported: frozenset[int]
    """Head frames whose PG_reported bit is set."""


class ReferenceBuddy(Model[Config, State]):
    """Reference benchmark: tiny buddy allocator with reporting (Spin/TLC oracle)."""

    name = "reference_buddy"
    variants = {
        "upstream": "the benchmark's correct semantics",
        "alloc_keeps_reported": "alloc forgets to clear the taken head's reported bit",
        "isolate_ignores_cap": "isolate ignores CAP = 1",
        "merge_keeps_reported": "merging forgets to clear the buddy's reported bit",
    }
    reference_config = {"frames": 16}
    vectorized = "hintspec.models._reference_buddy_vector:vectorized"
    hypothesis_config = {"frames": 256}
    frame_legend = {"A": "allocated", "f": "free", "R": "free and reported", "I": "isolated"}

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.max_order = config.frames.bit_length() - 1

    def initial_states(self) -> Iterator[State]:
        yield State(frozenset({(0, self.max_order)}), frozenset(), frozenset(), frozenset())

    @action("mm/page_alloc.c: __rmqueue_smallest, expand")
    def alloc(self, s: State) -> Iterator[tuple[Args, State]]:
        for want in (0, 1):
            orders = [o for _h, o in s.free if o >= want]
            if not orders:
                continue
            smallest = min(orders)
            for head, order in sorted(b for b in s.free if b[1] == smallest):
                free = set(s.free)
                free.discard((head, order))
                while order > want:
                    order -= 1
                    free.add((head + (1 << order), order))
                reported = s.reported
                if self.variant != "alloc_keeps_reported":
                    reported = reported - {head}
                yield (
                    {"order": want, "head": head},
                    State(frozenset(free), s.allocated | {(head, want)}, s.isolated, reported),
                )

    @action("mm/page_alloc.c: __free_one_page")
    def free(self, s: State) -> Iterator[tuple[Args, State]]:
        for block in sorted(s.allocated):
            head, order = block
            free = set(s.free)
            reported = set(s.reported)
            while order < self.max_order and (head ^ (1 << order), order) in free:
                buddy = head ^ (1 << order)
                free.discard((buddy, order))
                if self.variant != "merge_keeps_reported":
                    reported.discard(buddy)
                head = min(head, buddy)
                order += 1
            free.add((head, order))
            yield (
                {"head": block[0], "order": block[1]},
                State(frozenset(free), s.allocated - {block}, s.isolated, frozenset(reported)),
            )

    @action("mm/page_reporting.c: page_reporting_cycle -> __isolate_free_page")
    def isolate(self, s: State) -> Iterator[tuple[Args, State]]:
        if s.isolated and self.variant != "isolate_ignores_cap":
            return
        for block in sorted(s.free):
            if block[1] >= MIN_ISOLATE_ORDER and block[0] not in s.reported:
                yield (
                    {"head": block[0], "order": block[1]},
                    State(s.free - {block}, s.allocated, s.isolated | {block}, s.reported),
                )

    @action("mm/page_reporting.c: page_reporting_drain")
    def putback(self, s: State) -> Iterator[tuple[Args, State]]:
        for block in sorted(s.isolated):
            yield (
                {"head": block[0], "order": block[1]},
                State(s.free | {block}, s.allocated, s.isolated - {block}, s.reported | {block[0]}),
            )

    # -- properties -----------------------------------------------------------------------

    @always("every frame is in exactly one aligned block")
    def frames_covered_once(self, s: State) -> Check:
        owner: dict[int, str] = {}
        for kind, blocks in (
            ("free", s.free),
            ("allocated", s.allocated),
            ("isolated", s.isolated),
        ):
            for head, order in blocks:
                if head % (1 << order):
                    return f"{kind} block {head}/o{order} is not aligned to its size"
                for f in range(head, head + (1 << order)):
                    if f in owner:
                        return f"frame {f} is in {owner[f]} and in {kind} block {head}/o{order}"
                    owner[f] = f"{kind} block {head}/o{order}"
        missing = [f for f in range(self.config.frames) if f not in owner]
        return f"frame {missing[0]} is in no block (lost)" if missing else True

    @always("reported is set only on heads of free blocks")
    def reported_only_free(self, s: State) -> Check:
        heads = {h for h, _o in s.free}
        for h in sorted(s.reported):
            if h not in heads:
                return f"frame {h} has PG_reported but is not the head of a free block"
        return True

    @always("at most CAP blocks are isolated")
    def isolation_capped(self, s: State) -> Check:
        if len(s.isolated) > CAP:
            return f"{len(s.isolated)} blocks are isolated, CAP is {CAP}"
        return True

    @sometimes("a block gets reported")
    def some_reported(self, s: State) -> bool:
        return bool(s.reported)

    def frame_map(self, s: State) -> str:
        cells = ["?"] * self.config.frames
        for blocks, ch in ((s.allocated, "A"), (s.free, "f"), (s.isolated, "I")):
            for head, order in blocks:
                mark = "R" if ch == "f" and head in s.reported else ch
                for f in range(head, head + (1 << order)):
                    cells[f] = mark
        return "".join(cells)
