"""Verdicts and results of the explicit-state checkers (``holds``, ``violated``,
``undetermined``, ``vacuous``), shared by the explorer, the liveness checker and the
command line.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

from hintspec.traces.trace import Trace

DEADLOCK = "no deadlock"


INTERRUPTED = "interrupted"
"""The bound a search hit when the user pressed Ctrl-C: the figures so far stand."""


class Verdict(enum.Enum):
    HOLDS = "holds"
    VIOLATED = "violated"
    UNDETERMINED = "undetermined"
    VACUOUS = "vacuous"
    """Explored completely, but the property's premise never happened: it checked nothing
    at this configuration (an ``always`` whose trigger no state satisfies, a ``leads_to``
    whose P never holds)."""


@dataclasses.dataclass
class PropertyResult:
    name: str
    kind: str
    """always, sometimes, liveness or deadlock."""
    verdict: Verdict
    explanation: str | None = None
    trace: Trace | None = None
    """The counterexample (violated) or, for a ``sometimes``, the witness."""


@dataclasses.dataclass
class CheckResult:
    model: str
    variant: str
    config: dict[str, Any]
    properties: list[PropertyResult]
    distinct_states: int
    transitions: int
    depth: int
    """BFS levels, counting the initial states as level 1 (TLC's 'depth')."""
    seconds: float
    bound_hit: str | None
    coverage: dict[str, int]
    complete: bool
    engine: str = "object"
    """Which explorer produced it: ``object`` or ``vector``."""
    notes: list[str] = dataclasses.field(default_factory=list)
    """Remarks for the user (e.g. why the engine asked for did not run)."""
    fingerprints: bool = False
    """The visited set held 64-bit fingerprints, not states (``check --fingerprints``)."""
    visited_bytes: int | None = None
    """With fingerprints: the bytes of the visited set, fingerprints and parent links."""

    @property
    def bytes_per_state(self) -> float | None:
        """With fingerprints: what the search kept per explored state, in bytes."""
        if self.visited_bytes is None or not self.distinct_states:
            return None
        return self.visited_bytes / self.distinct_states

    @property
    def collision_probability(self) -> float | None:
        """With fingerprints: a bound on the probability that two of the explored states
        share a fingerprint (one of them then went unexplored)."""
        if not self.fingerprints:
            return None
        n = self.distinct_states
        return min(1.0, n * (n - 1) / 2.0**65)

    @property
    def verdict(self) -> Verdict:
        verdicts = {p.verdict for p in self.properties}
        if Verdict.VIOLATED in verdicts:
            return Verdict.VIOLATED
        if Verdict.UNDETERMINED in verdicts or not self.complete:
            return Verdict.UNDETERMINED
        if Verdict.VACUOUS in verdicts:
            return Verdict.VACUOUS
        return Verdict.HOLDS

    @property
    def failing(self) -> list[str]:
        return [p.name for p in self.properties if p.verdict is Verdict.VIOLATED]

    @property
    def vacuous(self) -> list[str]:
        """Properties that checked nothing at this configuration (their premise never
        happened)."""
        return [p.name for p in self.properties if p.verdict is Verdict.VACUOUS]

    @property
    def never_fired(self) -> list[str]:
        return [a for a, n in self.coverage.items() if n == 0]

    @property
    def states_per_second(self) -> float:
        return self.distinct_states / self.seconds if self.seconds > 0 else 0.0

    def exit_code(self) -> int:
        """0 holds, 1 violated, 3 undetermined or vacuous (no verdict at this size)."""
        codes = {Verdict.HOLDS: 0, Verdict.VIOLATED: 1, Verdict.UNDETERMINED: 3, Verdict.VACUOUS: 3}
        return codes[self.verdict]
