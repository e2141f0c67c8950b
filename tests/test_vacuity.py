"""An invariant about a situation that never happens checked nothing: *vacuous*, not *holds*."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from hintspec.engine.check import check
from hintspec.engine.results import Verdict
from hintspec.lang.errors import ModelDefinitionError
from hintspec.lang.model import Args, Check, Model, action, always, leads_to, sometimes


@dataclass(frozen=True)
class Config:
    limit: int = 3
    variant: str = "upstream"


@dataclass(frozen=True)
class State:
    value: int


class Counter(Model[Config, State]):
    """Counts to a limit; 'overflow' happens only past 5."""

    name = "toy_vacuity"

    def initial_states(self) -> Iterator[State]:
        yield State(0)

    def is_terminal(self, s: State) -> bool:
        return s.value == self.config.limit

    @action("toy: increment")
    def inc(self, s: State) -> Iterator[tuple[Args, State]]:
        if s.value < self.config.limit:
            yield {}, State(s.value + 1)

    @sometimes("the counter overflows")
    def overflows(self, s: State) -> bool:
        return s.value > 5

    @always("an overflow is caught", trigger="the counter overflows")
    def caught(self, s: State) -> Check:
        return True

    @always("an even value is small", trigger=lambda m, s: s.value % 2 == 0)
    def even_small(self, s: State) -> Check:
        return s.value < 10 or f"value {s.value}"

    @leads_to("an overflow is followed by a reset", when=lambda m, s: s.value > 5)
    def reset(self, s: State) -> bool:
        return s.value == 0


def verdicts(limit: int) -> dict[str, Verdict]:
    result = check(Counter(Config(limit=limit)))
    return {p.name: p.verdict for p in result.properties}


def test_an_invariant_whose_trigger_never_happens_is_vacuous() -> None:
    v = verdicts(3)
    assert v["an overflow is caught"] is Verdict.VACUOUS
    assert v["an even value is small"] is Verdict.HOLDS  # 0 and 2 are even
    assert v["an overflow is followed by a reset"] is Verdict.VACUOUS
    result = check(Counter(Config(limit=3)))
    assert result.verdict is Verdict.VIOLATED  # the witness itself is vacuous (violated)
    assert "an overflow is caught" in result.vacuous


def test_once_the_trigger_happens_the_invariant_is_checked() -> None:
    v = verdicts(7)
    assert v["an overflow is caught"] is Verdict.HOLDS
    assert v["an overflow is followed by a reset"] is Verdict.VIOLATED  # 6 -> 7, stop


def test_a_trigger_must_name_a_witness() -> None:
    with pytest.raises(ModelDefinitionError, match="must name a @sometimes property"):

        class Broken(Counter):
            name = "toy_broken"

            @always("x", trigger="no such witness")
            def x(self, s: State) -> Check:
                return True
