"""Tiny hand-made models for testing the checkers themselves (not registered models)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from hintspec.lang.model import (
    Args,
    Check,
    Model,
    action,
    always,
    eventually,
    leads_to,
    progress,
    sometimes,
)


@dataclass(frozen=True)
class CounterConfig:
    limit: int = 5
    bug_at: int = -1
    """If >= 0, the invariant 'value below limit' is broken once value reaches it."""
    witness_beyond_limit: bool = False
    """Ask for a witness no reachable state gives (a vacuous model)."""
    variant: str = "upstream"


@dataclass(frozen=True)
class CounterState:
    value: int


class Counter(Model[CounterConfig, CounterState]):
    """A counter that counts up to a limit, then stops (a terminal state)."""

    name = "toy_counter"

    def initial_states(self) -> Iterator[CounterState]:
        yield CounterState(0)

    def is_terminal(self, s: CounterState) -> bool:
        return s.value == self.config.limit

    @action("toy: increment")
    def inc(self, s: CounterState) -> Iterator[tuple[Args, CounterState]]:
        if s.value < self.config.limit:
            yield {}, CounterState(s.value + 1)

    @action("toy: add two")
    def add2(self, s: CounterState) -> Iterator[tuple[Args, CounterState]]:
        if s.value + 2 <= self.config.limit:
            yield {"by": 2}, CounterState(s.value + 2)

    @always("the value is not the bug value")
    def no_bug(self, s: CounterState) -> Check:
        if s.value == self.config.bug_at:
            return f"value reached {s.value}"
        return True

    @sometimes("the limit is reached")
    def at_limit(self, s: CounterState) -> bool:
        if self.config.witness_beyond_limit:
            return s.value > self.config.limit
        return s.value == self.config.limit


@dataclass(frozen=True)
class MutexConfig:
    variant: str = "upstream"
    """``upstream``: test-and-set; ``broken``: check then set in two steps (a race)."""


@dataclass(frozen=True)
class MutexState:
    pc: tuple[int, int]
    """Per process: 0 idle, 1 checked the lock (broken variant), 2 in the critical section."""
    locked: bool


class Mutex(Model[MutexConfig, MutexState]):
    """Two processes and a lock; the broken variant checks and sets in separate steps."""

    name = "toy_mutex"
    variants = {"upstream": "atomic test-and-set", "broken": "check, then set: a race"}

    def initial_states(self) -> Iterator[MutexState]:
        yield MutexState((0, 0), False)

    def _set(self, s: MutexState, p: int, pc: int, locked: bool) -> MutexState:
        pcs = list(s.pc)
        pcs[p] = pc
        return MutexState((pcs[0], pcs[1]), locked)

    @action("toy: lock", fair="weak")
    def lock(self, s: MutexState) -> Iterator[tuple[Args, MutexState]]:
        for p in (0, 1):
            if self.variant == "upstream":
                if s.pc[p] == 0 and not s.locked:
                    yield {"p": p}, self._set(s, p, 2, True)
            else:
                if s.pc[p] == 0 and not s.locked:
                    yield {"p": p}, self._set(s, p, 1, s.locked)
                if s.pc[p] == 1:
                    yield {"p": p}, self._set(s, p, 2, True)

    @action("toy: unlock", fair="weak")
    def unlock(self, s: MutexState) -> Iterator[tuple[Args, MutexState]]:
        for p in (0, 1):
            if s.pc[p] == 2:
                yield {"p": p}, self._set(s, p, 0, False)

    @always("at most one process is in the critical section")
    def mutual_exclusion(self, s: MutexState) -> Check:
        if s.pc == (2, 2):
            return "both processes are in the critical section"
        return True

    @sometimes("a process enters the critical section")
    def entered(self, s: MutexState) -> bool:
        return 2 in s.pc


@dataclass(frozen=True)
class DeadlockConfig:
    variant: str = "upstream"


@dataclass(frozen=True)
class DeadlockState:
    holder_a: int
    """Who holds lock A (0 nobody, 1 or 2)."""
    holder_b: int
    done: bool


class LockOrder(Model[DeadlockConfig, DeadlockState]):
    """Two threads take locks A and B in opposite orders: a deadlock on purpose."""

    name = "toy_lock_order"

    def initial_states(self) -> Iterator[DeadlockState]:
        yield DeadlockState(0, 0, False)

    def is_terminal(self, s: DeadlockState) -> bool:
        return s.done

    @action("toy: thread 1 takes A then B")
    def thread1(self, s: DeadlockState) -> Iterator[tuple[Args, DeadlockState]]:
        if s.done:
            return
        if s.holder_a == 0:
            yield {"lock": "A"}, DeadlockState(1, s.holder_b, False)
        elif s.holder_a == 1 and s.holder_b == 0:
            yield {"lock": "B"}, DeadlockState(0, 0, True)

    @action("toy: thread 2 takes B then A")
    def thread2(self, s: DeadlockState) -> Iterator[tuple[Args, DeadlockState]]:
        if s.done:
            return
        if s.holder_b == 0:
            yield {"lock": "B"}, DeadlockState(s.holder_a, 2, False)
        elif s.holder_b == 2 and s.holder_a == 0:
            yield {"lock": "A"}, DeadlockState(0, 0, True)


@dataclass(frozen=True)
class SpinConfig:
    variant: str = "upstream"
    fair_worker: str = "weak"
    """Fairness of the worker's ``finish`` action: none, weak or strong."""


@dataclass(frozen=True)
class SpinState:
    busy: int
    """0 or 1: the client toggles it for ever."""
    done: bool


class BusyClient(Model[SpinConfig, SpinState]):
    """A client toggles a flag for ever; a worker can finish at any time.

    Without fairness the client's cycle starves the worker, so 'eventually done' fails with a
    lasso. Weak fairness on ``finish`` (always enabled) excludes that cycle.
    """

    name = "toy_busy_client"

    def initial_states(self) -> Iterator[SpinState]:
        yield SpinState(0, False)

    def is_terminal(self, s: SpinState) -> bool:
        return s.done

    @action("toy: client toggles")
    def toggle(self, s: SpinState) -> Iterator[tuple[Args, SpinState]]:
        if not s.done:
            yield {}, SpinState(1 - s.busy, False)

    @action("toy: worker finishes")
    def finish(self, s: SpinState) -> Iterator[tuple[Args, SpinState]]:
        if not s.done:
            yield {}, SpinState(s.busy, True)

    @eventually("the worker eventually finishes", fairness={"finish": "weak"})
    def finished_weak(self, s: SpinState) -> bool:
        return s.done

    @eventually("the worker finishes without fairness", fairness={})
    def finished_unfair(self, s: SpinState) -> bool:
        return s.done

    @progress("no spinning without fairness", region=lambda self, s: not s.done, fairness={})
    def spin_unfair(self, s: SpinState, t: SpinState) -> bool:
        return t.done

    @progress(
        "no spinning when the worker is fair",
        region=lambda self, s: not s.done,
        fairness={"finish": "weak"},
    )
    def spin_fair(self, s: SpinState, t: SpinState) -> bool:
        return t.done


@dataclass(frozen=True)
class FlickerState:
    phase: int
    """0..2; ``serve`` is enabled only in phase 0."""
    served: bool


class Flicker(Model[SpinConfig, FlickerState]):
    """``serve`` is enabled only intermittently (phase 0 of a 3-phase cycle).

    Weak fairness does not force it (it is not continuously enabled), strong fairness does.
    """

    name = "toy_flicker"

    def initial_states(self) -> Iterator[FlickerState]:
        yield FlickerState(0, False)

    def is_terminal(self, s: FlickerState) -> bool:
        return s.served

    @action("toy: the phase advances")
    def tick(self, s: FlickerState) -> Iterator[tuple[Args, FlickerState]]:
        if not s.served:
            yield {}, FlickerState((s.phase + 1) % 3, False)

    @action("toy: the request is served")
    def serve(self, s: FlickerState) -> Iterator[tuple[Args, FlickerState]]:
        if not s.served and s.phase == 0:
            yield {}, FlickerState(s.phase, True)

    @eventually("served under weak fairness", fairness={"serve": "weak"})
    def served_weak(self, s: FlickerState) -> bool:
        return s.served

    @eventually("served under strong fairness", fairness={"serve": "strong"})
    def served_strong(self, s: FlickerState) -> bool:
        return s.served

    @leads_to(
        "phase 1 leads to service under strong fairness",
        when=lambda self, s: s.phase == 1,
        fairness={"serve": "strong"},
    )
    def served_from_phase1(self, s: FlickerState) -> bool:
        return s.served

    @progress("the phase keeps moving until served", region=lambda self, s: not s.served)
    def phase_moves(self, s: FlickerState, t: FlickerState) -> bool:
        return t.phase != s.phase or t.served


@dataclass(frozen=True)
class StopConfig:
    variant: str = "upstream"


@dataclass(frozen=True)
class StopState:
    step: int


class StopsEarly(Model[StopConfig, StopState]):
    """Stops (no action enabled) before the goal: a liveness stop, and terminal by fiat."""

    name = "toy_stops_early"

    def initial_states(self) -> Iterator[StopState]:
        yield StopState(0)

    def is_terminal(self, s: StopState) -> bool:
        return s.step == 2

    @action("toy: step")
    def step(self, s: StopState) -> Iterator[tuple[Args, StopState]]:
        if s.step < 2:
            yield {}, StopState(s.step + 1)

    @eventually("the goal step 3 is reached")
    def goal(self, s: StopState) -> bool:
        return s.step == 3


@dataclass(frozen=True)
class HandoffConfig:
    variant: str = "upstream"
    """``upstream``; ``double_start``: start ignores the other worker (two become busy)."""


@dataclass(frozen=True)
class HandoffState:
    busy: tuple[bool, bool]
    done: bool


class Handoff(Model[HandoffConfig, HandoffState]):
    """Two interchangeable workers pass one job back and forth; symmetric under swapping.

    The quotient graph has a self-loop where the real system has a two-step cycle, so a
    lasso found on representatives must be unrolled for two laps to close on real states.
    """

    name = "toy_handoff"
    symmetric = True
    variants = {"upstream": "one job", "double_start": "both workers start"}

    def initial_states(self) -> Iterator[HandoffState]:
        yield HandoffState((False, False), False)

    def canonical(self, s: HandoffState) -> HandoffState:
        a, b = sorted(s.busy)
        return HandoffState((a, b), s.done)

    def is_terminal(self, s: HandoffState) -> bool:
        return s.done

    @action("toy: start")
    def start(self, s: HandoffState) -> Iterator[tuple[Args, HandoffState]]:
        for p in (0, 1):
            other_idle = not s.busy[1 - p] or self.variant == "double_start"
            if not s.busy[p] and other_idle and not s.done:
                busy = list(s.busy)
                busy[p] = True
                yield {"p": p}, HandoffState((busy[0], busy[1]), False)

    @action("toy: hand the job to the other worker")
    def handoff(self, s: HandoffState) -> Iterator[tuple[Args, HandoffState]]:
        for p in (0, 1):
            if s.busy[p] and not s.busy[1 - p] and not s.done:
                busy = [False, False]
                busy[1 - p] = True
                yield {"p": p}, HandoffState((busy[0], busy[1]), False)

    @action("toy: finish")
    def finish(self, s: HandoffState) -> Iterator[tuple[Args, HandoffState]]:
        if any(s.busy) and not s.done:
            yield {}, HandoffState(s.busy, True)

    @always("at most one worker is busy")
    def one_busy(self, s: HandoffState) -> Check:
        return "both workers are busy" if all(s.busy) else True

    @sometimes("a worker is busy")
    def some_busy(self, s: HandoffState) -> bool:
        return any(s.busy)

    @eventually("the job is eventually done", fairness={})
    def job_done(self, s: HandoffState) -> bool:
        return s.done


@dataclass(frozen=True)
class FaultyConfig:
    fault: str = "action"
    """Where the model's code breaks: ``action`` (an IndexError in an effect), ``property``
    (an always property that raises), ``unhashable`` (a successor that is not hashable),
    ``frame_map`` (a renderer that raises), or ``none``."""
    at: int = 3
    """The counter value at which it breaks."""
    limit: int = 99
    """The always property "the value stays below the limit" (a real violation)."""
    variant: str = "upstream"


@dataclass(frozen=True)
class FaultyState:
    value: int
    slots: tuple[int, ...] = (0, 0, 0)


class Faulty(Model[FaultyConfig, FaultyState]):
    """A counter whose own code raises at a chosen value: model bugs, not violations."""

    name = "toy_faulty"
    frame_legend = {"x": "a slot"}

    def initial_states(self) -> Iterator[FaultyState]:
        yield FaultyState(0)

    def is_terminal(self, s: FaultyState) -> bool:
        return s.value >= 6

    @action("toy: write the next slot")
    def write(self, s: FaultyState) -> Iterator[tuple[Args, FaultyState]]:
        if s.value >= 6:
            return
        if self.config.fault == "action" and s.value == self.config.at:
            slots = list(s.slots)
            slots[s.value] = 1  # the bug: one slot too few
        if self.config.fault == "unhashable" and s.value == self.config.at:
            yield {}, FaultyState(s.value + 1, [1, 2])  # type: ignore[arg-type]
            return
        yield {}, FaultyState(s.value + 1, s.slots)

    @always("the slots are never all set")
    def slots_not_full(self, s: FaultyState) -> Check:
        if self.config.fault == "property" and s.value == self.config.at:
            return f"slot {s.slots[s.value]}"  # IndexError: a property with a bug
        return all(x == 0 for x in s.slots) or "a slot is set"

    @always("the value stays below the limit")
    def below_limit(self, s: FaultyState) -> Check:
        return s.value < self.config.limit or f"value {s.value}"

    @sometimes("the counter moves")
    def moved(self, s: FaultyState) -> bool:
        return s.value > 0

    def frame_map(self, s: FaultyState) -> str | None:
        if self.config.fault == "frame_map" and s.value == self.config.at:
            return "x" * s.slots[7]
        return "x" * len(s.slots)
