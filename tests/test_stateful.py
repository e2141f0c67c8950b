"""The Hypothesis adapter, random simulation and the simulate/fuzz commands, on tiny models.

The tiny models here are hand-made so the expected shrunk trace is known exactly: a counter
with a bug at 5 (five increments, nothing shorter), a register whose bug needs one
particular argument (shrinking cannot move it to the first choice), a counter that
deadlocks (or stops in a terminal state), a model with several initial states.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hintspec.cli.app import main
from hintspec.engine.check import check
from hintspec.engine.fuzzing import PROFILES, fuzz, profile_settings, shorten_trace
from hintspec.engine.simulate import simulate
from hintspec.engine.stateful import DEADLOCK, PropertyViolation, disable_swarm, machine_for
from hintspec.lang.configs import make_config
from hintspec.lang.errors import UsageError
from hintspec.lang.model import Args, Check, Model, action, always, sometimes
from hintspec.lang.registry import get_model
from hintspec.traces.files import read_itf, write_itf
from hintspec.traces.replay import replay
from hintspec.traces.text import render_trace
from hintspec.traces.trace import Step, Trace
from hypothesis import settings


@dataclass(frozen=True)
class CounterConfig:
    bug_at: int = 5
    """The invariant breaks when the value reaches this (-1: never)."""
    limit: int = 8
    terminal: bool = True
    """Is the limit a correct end (else it is a deadlock)?"""
    variant: str = "upstream"


@dataclass(frozen=True)
class CounterState:
    value: int


class Counter(Model[CounterConfig, CounterState]):
    """Counts up (or resets) to a limit."""

    name = "stateful_counter"

    def initial_states(self) -> Iterator[CounterState]:
        yield CounterState(0)

    def is_terminal(self, s: CounterState) -> bool:
        return self.config.terminal and s.value == self.config.limit

    @action("toy: increment")
    def inc(self, s: CounterState) -> Iterator[tuple[Args, CounterState]]:
        if s.value < self.config.limit:
            yield {}, CounterState(s.value + 1)

    @action("toy: reset")
    def reset(self, s: CounterState) -> Iterator[tuple[Args, CounterState]]:
        if 0 < s.value < self.config.limit:
            yield {}, CounterState(0)

    @always("the value is not the bug value")
    def no_bug(self, s: CounterState) -> Check:
        return f"value reached {s.value}" if s.value == self.config.bug_at else True

    @sometimes("the value reaches 3")
    def three(self, s: CounterState) -> bool:
        return s.value == 3


@dataclass(frozen=True)
class RegisterConfig:
    values: int = 16
    variant: str = "upstream"


@dataclass(frozen=True)
class RegisterState:
    staged: int
    committed: int


class Register(Model[RegisterConfig, RegisterState]):
    """Stage any value, then commit it; committing 11 is the bug."""

    name = "stateful_register"

    def initial_states(self) -> Iterator[RegisterState]:
        yield RegisterState(0, 0)

    @action("toy: stage")
    def stage(self, s: RegisterState) -> Iterator[tuple[Args, RegisterState]]:
        for v in range(self.config.values):
            if v != s.staged:
                yield {"value": v}, RegisterState(v, s.committed)

    @action("toy: commit")
    def commit(self, s: RegisterState) -> Iterator[tuple[Args, RegisterState]]:
        if s.committed != s.staged:
            yield {}, RegisterState(s.staged, s.staged)

    @always("11 is never committed")
    def not_eleven(self, s: RegisterState) -> Check:
        return "committed 11" if s.committed == 11 else True


@dataclass(frozen=True)
class StartsConfig:
    variant: str = "upstream"


@dataclass(frozen=True)
class StartsState:
    value: int


class Starts(Model[StartsConfig, StartsState]):
    """Four initial states; the last one is bad from the start."""

    name = "stateful_starts"
    check_deadlock = False

    def initial_states(self) -> Iterator[StartsState]:
        for v in range(4):
            yield StartsState(v)

    @action("toy: tick")
    def tick(self, s: StartsState) -> Iterator[tuple[Args, StartsState]]:
        if s.value < 2:
            yield {}, StartsState(s.value + 1)

    @always("the value is below 3")
    def below_three(self, s: StartsState) -> Check:
        return f"value is {s.value}" if s.value >= 3 else True


CI = profile_settings("ci")
SMALL = settings(CI, max_examples=100)


def _steps(trace: Trace) -> list[tuple[str | None, Args]]:
    return [(step.action, step.args) for step in trace.steps[1:]]


# -- the adapter ------------------------------------------------------------------------


def test_counter_bug_shrinks_to_exactly_five_increments() -> None:
    model = Counter(CounterConfig())
    result = fuzz(model, base=SMALL)
    trace = result.trace
    assert trace is not None
    assert trace.prop == "the value is not the bug value"
    assert trace.explanation == "value reached 5"
    assert trace.source == "fuzz"
    assert _steps(trace) == [("inc", {})] * 5
    assert [s.state.value for s in trace.steps] == [0, 1, 2, 3, 4, 5]
    assert replay(trace, model).ok
    # The explorer's shortest trace has the same length.
    explored = check(model)
    assert explored.failing == ["the value is not the bug value"]
    bfs = next(p.trace for p in explored.properties if p.name == trace.prop)
    assert bfs is not None and len(bfs) == len(trace) == 5
    assert result.found_at is not None and result.found_at <= result.test_cases


def test_choice_dependent_bug_keeps_its_argument() -> None:
    model = Register(RegisterConfig())
    trace = fuzz(model, base=SMALL).trace
    assert trace is not None
    assert _steps(trace) == [("stage", {"value": 11}), ("commit", {})]
    assert replay(trace, model).ok
    text = render_trace(trace, model)
    assert "Counterexample to '11 is never committed' (2 steps)" in text
    assert "stage(value=11)" in text
    assert "committed 11" in text


def test_several_initial_states_are_drawn() -> None:
    model = Starts(StartsConfig())
    trace = fuzz(model, base=SMALL).trace
    assert trace is not None
    assert len(trace) == 0
    assert trace.steps[0].state == StartsState(3)
    assert replay(trace, model).ok


def test_deadlock_is_a_failure_unless_terminal() -> None:
    stuck = Counter(CounterConfig(bug_at=-1, limit=3, terminal=False))
    trace = fuzz(stuck, base=SMALL).trace
    assert trace is not None
    assert trace.prop == DEADLOCK
    assert [s.state.value for s in trace.steps] == [0, 1, 2, 3]
    assert replay(trace, stuck).ok

    ends = Counter(CounterConfig(bug_at=-1, limit=3, terminal=True))
    result = fuzz(ends, base=SMALL)
    assert result.trace is None
    assert result.coverage["inc"] > 0 and result.coverage["reset"] > 0
    assert result.witnesses == {"the value reaches 3": result.witnesses["the value reaches 3"]}


def test_a_good_model_passes_and_reports_coverage() -> None:
    model = Counter(CounterConfig(bug_at=-1, limit=50))
    result = fuzz(model, base=settings(CI, max_examples=20), step_count=60)
    assert result.trace is None and result.found_at is None
    assert result.test_cases >= 20
    assert result.max_examples == 20 and result.step_count == 60
    assert sum(result.coverage.values()) == result.steps > 0
    assert result.never_fired == []


def test_swarm_testing_is_off_unless_asked_for() -> None:
    model = Counter(CounterConfig(bug_at=-1))
    assert disable_swarm(machine_for(model)())  # the Hypothesis in use lets us
    calm = fuzz(model, base=settings(CI, max_examples=30), step_count=20)
    swarm = fuzz(model, base=settings(CI, max_examples=30), step_count=20, swarm=True)
    assert calm.trace is None and swarm.trace is None
    # With swarm, test cases whose enabled actions are all turned off are aborted (here:
    # inc turned off at 0, where reset is not enabled yet), so more of them are needed.
    assert calm.test_cases < swarm.test_cases


def test_the_ci_profile_is_deterministic() -> None:
    model = Counter(CounterConfig(bug_at=7, limit=9))
    first = fuzz(model, base=CI, shrink=False, shorten=False)
    second = fuzz(model, base=CI, shrink=False, shorten=False)
    assert first.trace is not None and second.trace is not None
    assert _steps(first.trace) == _steps(second.trace)
    assert (first.found_at, first.test_cases) == (second.found_at, second.test_cases)


def test_a_fixed_seed_is_deterministic_under_a_random_profile() -> None:
    model = Register(RegisterConfig())
    dev = profile_settings("dev")
    runs = [fuzz(model, base=dev, seed=1234, shrink=False, shorten=False) for _ in range(2)]
    assert runs[0].trace is not None and runs[1].trace is not None
    assert _steps(runs[0].trace) == _steps(runs[1].trace)


def test_violation_renders_the_trace() -> None:
    model = Counter(CounterConfig(bug_at=2))
    machine = machine_for(model)()
    machine.initial_state(None)  # type: ignore[arg-type]  # one initial state: no draw
    machine.take(0, None)  # type: ignore[arg-type]  # one choice: no draw
    machine.take(0, None)  # type: ignore[arg-type]
    with pytest.raises(PropertyViolation) as info:
        machine.always_00_the_value_is_not_the_bug_value()  # type: ignore[attr-defined]
    text = str(info.value)
    assert text.startswith("the value is not the bug value: value reached 2\n")
    assert "Counterexample to 'the value is not the bug value' (2 steps)" in text
    assert info.value.trace.steps[-1].state == CounterState(2)


# A model needs no boilerplate: this line is a whole pytest stateful test.
TestCounterMachine = machine_for(Counter(CounterConfig(bug_at=-1))).TestCase
TestCounterMachine.settings = settings(CI, max_examples=10, stateful_step_count=20)


def test_shorten_trace_deletes_needless_steps() -> None:
    model = Counter(CounterConfig())
    path = [0, 1, 2, 0, 1, 2, 3, 4, 5]
    steps = [Step(None, {}, CounterState(0))]
    for before, after in itertools.pairwise(path):
        steps.append(Step("inc" if after == before + 1 else "reset", {}, CounterState(after)))
    padded = Trace(model.name, model.config, steps, "the value is not the bug value")
    short = shorten_trace(model, padded)
    assert _steps(short) == [("inc", {})] * 5
    assert short.explanation == "value reached 5"
    # A trace that does not break its property is left alone.
    fine = Trace(model.name, model.config, steps[:3], "the value is not the bug value")
    assert shorten_trace(model, fine) is fine


def test_profiles() -> None:
    assert PROFILES == ("dev", "ci", "thorough")
    ci = profile_settings("ci")
    assert ci.derandomize and ci.deadline is None and ci.database is None
    for name in PROFILES:
        assert profile_settings(name).deadline is None
    assert profile_settings("thorough").max_examples > ci.max_examples
    with pytest.raises(UsageError, match="unknown Hypothesis profile 'nope'"):
        profile_settings("nope")


# -- fuzz traces are ordinary traces: ITF, show, replay ----------------------------------


def _buddy(variant: str, **overrides: Any) -> Model[Any, Any]:
    cls = get_model("reference_buddy")
    return cls(make_config(cls, variant, overrides))


def test_fuzz_trace_round_trips_through_itf(tmp_path: Path) -> None:
    model = _buddy("isolate_ignores_cap")
    trace = fuzz(model, base=CI, shrink=False).trace
    assert trace is not None
    path = tmp_path / "t.itf.json"
    write_itf(trace, path)
    doc = json.loads(path.read_text())
    assert doc["#meta"]["source"] == "hintspec fuzz"
    back = read_itf(path)
    assert back.source == "fuzz"
    assert _steps(back) == _steps(trace)
    result = replay(back)
    assert result.ok, result.message
    assert render_trace(back) == render_trace(trace, model)


def test_cli_fuzz_writes_a_trace_that_show_and_replay_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = ["fuzz", "reference_buddy", "--variant", "alloc_keeps_reported", "--profile", "ci"]
    assert main([*argv, "--out", str(out)]) == 1
    text = capsys.readouterr().out
    assert "Counterexample to 'reported is set only on heads of free blocks' (3 steps)" in text
    assert "Result: VIOLATED" in text
    (itf,) = out.glob("*.fuzz.itf.json")
    assert itf.with_suffix("").with_suffix(".txt").exists()
    assert main(["replay", str(itf)]) == 0
    assert "the trace replays: 3 steps" in capsys.readouterr().out
    assert main(["show", str(itf)]) == 0
    assert "alloc(order=0, head=0)" in capsys.readouterr().out


def test_cli_fuzz_good_design_large(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["fuzz", "reference_buddy", "--large", "--profile", "ci", "--max-examples", "3"]
    assert main([*argv, "--steps", "40", "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "frames=256" in text
    assert "no violation in" in text and "(not a proof)" in text
    assert "Result: NO VIOLATION FOUND" in text
    assert not list(tmp_path.iterdir())


# -- simulate ---------------------------------------------------------------------------


def test_simulate_finds_violations_witnesses_and_coverage() -> None:
    model = _buddy("merge_keeps_reported")
    result = simulate(model, runs=50, steps=30, seed=1)
    assert result.first_violation == "reported is set only on heads of free blocks"
    trace = result.first
    assert trace is not None and trace.source == "simulate"
    assert replay(trace, model).ok
    assert len(trace) >= 4  # the explorer's shortest
    assert set(result.witnesses) == {"a block gets reported"}
    assert sum(result.coverage.values()) == result.steps
    assert sum(result.ended.values()) == 50
    assert result.ended["violation"] > 0


def test_simulate_is_a_function_of_the_seed() -> None:
    model = _buddy("upstream")
    a = simulate(model, runs=20, steps=40, seed=7)
    b = simulate(model, runs=20, steps=40, seed=7)
    c = simulate(model, runs=20, steps=40, seed=8)
    assert (a.coverage, a.distinct_states, a.steps) == (b.coverage, b.distinct_states, b.steps)
    assert a.violations == {} and a.steps == 20 * 40
    assert a.never_fired == [] and a.not_reached == []
    assert a.coverage != c.coverage


def test_simulate_deadlock_and_terminal() -> None:
    stuck = simulate(Counter(CounterConfig(bug_at=-1, limit=3, terminal=False)), runs=5, steps=50)
    assert stuck.first_violation == DEADLOCK
    assert stuck.first is not None and len(stuck.first) >= 3
    ends = simulate(Counter(CounterConfig(bug_at=-1, limit=3)), runs=5, steps=50)
    assert ends.violations == {}
    assert ends.ended["terminal"] == 5


def test_simulate_rejects_bad_bounds() -> None:
    with pytest.raises(ValueError):
        simulate(Counter(CounterConfig()), runs=0, steps=1)


def test_cli_simulate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["simulate", "reference_buddy", "--variant", "merge_keeps_reported"]
    assert (
        main([*argv, "--runs", "50", "--steps", "30", "--seed", "1", "--out", str(tmp_path)]) == 1
    )
    text = capsys.readouterr().out
    assert "VIOLATED     reported is set only on heads of free blocks" in text
    assert "reached      a block gets reported" in text
    assert "coverage: alloc" in text
    (itf,) = tmp_path.glob("*.simulate.itf.json")
    assert main(["replay", str(itf)]) == 0
    capsys.readouterr()
    assert (
        main(
            [
                "simulate",
                "reference_buddy",
                "--runs",
                "5",
                "--steps",
                "5",
                "--out",
                str(tmp_path / "x"),
            ]
        )
        == 0
    )
    assert "Result: NO VIOLATION FOUND" in capsys.readouterr().out
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["simulate", "reference_buddy", "--runs", "0"], "--runs: '0' must be positive"),
        (["simulate", "reference_buddy", "--seed", "-1"], "--seed: '-1' must not be negative"),
        (["simulate", "nosuchmodel"], "unknown model 'nosuchmodel'"),
        (["simulate", "reference_buddy", "--set", "frames=7"], "frames must be a power of two"),
        (["fuzz", "reference_buddy", "--profile", "fast"], "invalid choice: 'fast'"),
        (["fuzz", "reference_buddy", "--variant", "nope"], "unknown variant 'nope'"),
        (["fuzz", "reference_buddy", "--large", "--set", "pages=3"], "unknown parameter 'pages'"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        code = main([*argv, "--out", str(tmp_path / "out")])
        raise SystemExit(code)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not (tmp_path / "out").exists()
