"""The cycle of a lasso goes round once: each fairness obligation is met where the cycle
already is, not at the edge with the smallest state number (which sent the cycle of the
balloon_oom busy no-op round the same four states four times)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from hintspec.engine.check import check
from hintspec.engine.results import Verdict
from hintspec.lang.model import Args, Model, action, eventually
from hintspec.traces.replay import replay


@dataclass(frozen=True)
class RingConfig:
    variant: str = "upstream"


@dataclass(frozen=True)
class Ring:
    at: int


class FourRing(Model[RingConfig, Ring]):
    """0 -tick-> 1 -y-> 2 -tick-> 3 -x-> 0, every action weakly fair; the goal never holds.

    Fairness needs nothing but the ring itself. Taking the obligations in action order at
    the lowest-numbered edge that carries each (x at 3->0, then y at 1->2, then tick at
    0->1) walks the ring three times."""

    name = "toy_four_ring"

    def initial_states(self) -> Iterator[Ring]:
        yield Ring(0)

    @action("toy: 3 -> 0", fair="weak")
    def x(self, s: Ring) -> Iterator[tuple[Args, Ring]]:
        if s.at == 3:
            yield {}, Ring(0)

    @action("toy: 1 -> 2", fair="weak")
    def y(self, s: Ring) -> Iterator[tuple[Args, Ring]]:
        if s.at == 1:
            yield {}, Ring(2)

    @action("toy: 0 -> 1, 2 -> 3", fair="weak")
    def tick(self, s: Ring) -> Iterator[tuple[Args, Ring]]:
        if s.at in (0, 2):
            yield {}, Ring(s.at + 1)

    @eventually("the ring stops")
    def never(self, s: Ring) -> bool:
        return False


def test_lasso_cycle_visits_each_state_once() -> None:
    model = FourRing(RingConfig())
    result = check(model)
    (prop,) = [p for p in result.properties if p.name == "the ring stops"]
    assert prop.verdict is Verdict.VIOLATED
    trace = prop.trace
    assert trace is not None and trace.loop == 0
    cycle = [step.state.at for step in trace.steps[trace.loop :]]
    assert cycle == [0, 1, 2, 3]
    assert [step.action for step in trace.steps[1:]] == ["tick", "y", "tick"]
    assert trace.loop_action == "x"
    assert len(trace) == 4
    assert replay(trace, model).ok
