"""A tiny two-slot ring for the mutation tests: a producer puts tokens, a consumer takes
them; the ring never holds more than its capacity and every token put is eventually taken.
Its lines are referred to by the tests (keep edits below the ``take`` action)."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass

from hintspec.lang.model import (
    Args,
    Check,
    Model,
    action,
    always,
    leads_to,
    sometimes,
)


class Mode(enum.Enum):
    STRICT = "strict"
    LOOSE = "loose"


@dataclass(frozen=True)
class Config:
    capacity: int = 2
    tokens: int = 3
    mode: Mode = Mode.STRICT
    variant: str = "upstream"


@dataclass(frozen=True)
class State:
    ring: tuple[int, ...]
    sent: int
    taken: int


def _room(s: State, capacity: int) -> int:
    return capacity - len(s.ring)


class Ring(Model[Config, State]):
    """A producer and a consumer around a bounded ring."""

    name = "toy_ring"
    variants = {
        "upstream": "the correct ring",
        "overfill": "the producer ignores the capacity",
    }

    def initial_states(self) -> Iterator[State]:
        yield State((), 0, 0)

    def is_terminal(self, s: State) -> bool:
        return s.taken == self.config.tokens

    @action("toy: put", fair="weak")
    def put(self, s: State) -> Iterator[tuple[Args, State]]:
        if s.sent == self.config.tokens:
            return
        full = _room(s, self.config.capacity) <= 0
        if full and self.variant != "overfill":
            return
        spare = 0
        spare = spare + 0
        yield {"token": s.sent}, State((*s.ring, s.sent), s.sent + 1, s.taken)

    @action("toy: take", fair="weak")
    def take(self, s: State) -> Iterator[tuple[Args, State]]:
        if not s.ring:
            return
        if self.config.mode is not Mode.STRICT:
            skipped = s.taken + 1
            yield {"token": -1}, State(s.ring, s.sent, skipped)
            return
        yield {"token": s.ring[0]}, State(s.ring[1:], s.sent, s.taken + 1)

    @action("toy: the producer polls an empty queue of work")
    def poll(self, s: State) -> Iterator[tuple[Args, State]]:
        if s.sent == self.config.tokens and s.ring:
            yield {}, s

    @always("the ring holds at most its capacity")
    def bounded(self, s: State) -> Check:
        if len(s.ring) > self.config.capacity:
            return f"{len(s.ring)} tokens in a ring of {self.config.capacity}"
        return True

    @always("tokens are taken in the order they were put")
    def in_order(self, s: State) -> Check:
        return list(s.ring) == list(range(s.taken, s.sent)) or f"ring {s.ring}"

    @sometimes("the ring fills up")
    def fills(self, s: State) -> bool:
        return len(s.ring) == self.config.capacity

    @leads_to("a token put is eventually taken", when=lambda m, s: bool(s.ring))
    def drained(self, s: State) -> bool:
        return not s.ring
