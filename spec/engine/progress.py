"""A live progress line on a terminal (stderr) for long runs; silent otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Call ``update`` often; it prints at most once a second, after ``delay`` seconds."""

    def __init__(self, label: str, *, stream: TextIO | None = None, delay: float = 2.0) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.monotonic()
        self.delay = delay
        self._next = self.start + delay
        self._shown = False

    def update(self, states: int, transitions: int, depth: int, queue: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + 1.0
        elapsed = now - self.start
        rate = states / elapsed if elapsed > 0 else 0.0
        line = (
            f"{self.label}: {states:,} states, {transitions:,} transitions, depth {depth}, "
            f"queue {queue:,}, {rate:,.0f} states/s, {elapsed:.0f} s"
        )
        self.stream.write("\r" + line[:118].ljust(118))
        self.stream.flush()
        self._shown = True

    def done(self) -> None:
        if self._shown:
            self.stream.write("\r" + " " * 118 + "\r")
            self.stream.flush()
