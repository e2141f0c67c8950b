"""Swarm fuzzing: many independent Hypothesis runs of one model, spread over workers.

Swarm testing (Groce et al., "Swarm Testing", ISSTA 2012) runs many short random searches,
each with its own random subset of the actions enabled, instead of one long search with all
of them: a bug that needs one action to stay quiet for a while is found by the runs that
leave it out. Hypothesis does the subset choice itself (``swarm=True`` in
:func:`hintspec.engine.fuzzing.fuzz`); this module gives each run its own seed and hands the
runs to an :class:`hintspec.engine.executors.Executor` -- this process, a process pool, or
a Dask cluster -- and merges what they found.

A run travels as a :class:`SwarmTask` (the model's import spec and its configuration as
JSON values, so a worker on another machine loads the same model) and comes back as a
:class:`SwarmRun`, with its counterexample as an ITF document: a trace of a model loaded
from a file does not unpickle in another process, its ITF form does.

Merging: the counterexample reported is the shortest one any run found (ties: the run with
the lowest index), test cases and action counts add up, a witness counts as reached when
any run reached it. The runs' seeds are ``seed, seed + 1, ...``, printed with the result,
so one run can be repeated alone with ``hintspec fuzz --seed``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from hintspec.engine.executors import Executor
from hintspec.engine.fuzzing import fuzz, profile_settings, witness_corpus
from hintspec.lang.configs import config_to_json, make_config
from hintspec.lang.errors import ModelError
from hintspec.lang.model import Model
from hintspec.lang.registry import get_model, model_spec
from hintspec.traces.files import to_itf, trace_from_itf
from hintspec.traces.trace import Trace
from hypothesis import settings

SEED_SPACE = 2**32


@dataclasses.dataclass(frozen=True)
class SwarmTask:
    """One run of a swarm, as a worker receives it (picklable, JSON values only)."""

    index: int
    model: str
    """The model's import spec (:func:`hintspec.lang.registry.model_spec`)."""
    config: dict[str, Any]
    profile: str
    seed: int
    max_examples: int | None = None
    step_count: int | None = None
    from_witnesses: bool = False


@dataclasses.dataclass
class SwarmRun:
    """What one run found."""

    index: int
    seed: int
    test_cases: int = 0
    seconds: float = 0.0
    coverage: dict[str, int] = dataclasses.field(default_factory=dict)
    witnesses: list[str] = dataclasses.field(default_factory=list)
    trace_itf: dict[str, Any] | None = None
    """The shortened counterexample, as ITF (None: no violation found)."""
    found_at: int | None = None
    error: str | None = None
    """One line when the model's code raised in this run (a model bug, not a verdict)."""

    @property
    def trace_length(self) -> int | None:
        return None if self.trace_itf is None else len(self.trace_itf["states"]) - 1


def run_task(task: SwarmTask) -> SwarmRun:
    """Run one task (in a worker): load the model, fuzz it with swarm testing on."""
    cls = get_model(task.model)
    model = cls(make_config(cls, None, task.config))
    run = SwarmRun(index=task.index, seed=task.seed)
    # A derandomised profile ignores the seed (every run would be the same run), and an
    # example database would make a run depend on what earlier runs on that worker saved:
    # a run is a function of its seed alone.
    base = settings(profile_settings(task.profile), derandomize=False, database=None)
    try:
        result = fuzz(
            model,
            base=base,
            max_examples=task.max_examples,
            step_count=task.step_count,
            seed=task.seed,
            swarm=True,
            corpus=witness_corpus(model) if task.from_witnesses else (),
        )
    except ModelError as exc:
        run.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return run
    run.test_cases = result.test_cases
    run.seconds = result.seconds
    run.coverage = dict(result.coverage)
    run.witnesses = sorted(result.witnesses)
    run.found_at = result.found_at
    run.trace_itf = to_itf(result.trace) if result.trace is not None else None
    return run


def tasks_for(
    model: Model[Any, Any],
    runs: int,
    *,
    seed: int,
    profile: str,
    max_examples: int | None = None,
    step_count: int | None = None,
    from_witnesses: bool = False,
) -> list[SwarmTask]:
    """``runs`` tasks for ``model``, with the seeds ``seed, seed + 1, ...`` (mod 2**32)."""
    spec = model_spec(type(model))
    config = config_to_json(model.config)
    return [
        SwarmTask(
            index=i,
            model=spec,
            config=config,
            profile=profile,
            seed=(seed + i) % SEED_SPACE,
            max_examples=max_examples,
            step_count=step_count,
            from_witnesses=from_witnesses,
        )
        for i in range(runs)
    ]


@dataclasses.dataclass
class SwarmResult:
    """The merged outcome of a swarm."""

    runs: list[SwarmRun]

    @property
    def best(self) -> SwarmRun | None:
        """The run with the shortest counterexample (ties: the lowest index)."""
        found = [r for r in self.runs if r.trace_itf is not None]
        return min(found, key=lambda r: (r.trace_length, r.index)) if found else None

    @property
    def errors(self) -> list[SwarmRun]:
        return [r for r in self.runs if r.error is not None]

    @property
    def test_cases(self) -> int:
        return sum(r.test_cases for r in self.runs)

    @property
    def coverage(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for r in self.runs:
            for action, n in r.coverage.items():
                total[action] = total.get(action, 0) + n
        return total

    @property
    def witnesses(self) -> set[str]:
        return {w for r in self.runs for w in r.witnesses}

    def trace(self) -> Trace | None:
        """The shortest counterexample, rebuilt from its ITF form (replayed on the model)."""
        best = self.best
        return None if best is None or best.trace_itf is None else trace_from_itf(best.trace_itf)


def run_swarm(tasks: list[SwarmTask], pool: Executor) -> Iterator[SwarmRun]:
    """The tasks' runs on ``pool``, in task order, each as soon as it is done."""
    yield from pool.map(run_task, tasks)
