"""Mutation analysis of a model's own code: :func:`mutate`.

A verdict of "holds" is worth the bugs it would have caught. :func:`mutate` makes small
plausible bugs in the design code of a model module (:mod:`hintspec.engine.mutate_ops`),
loads each mutant as a fresh module and checks it, in parallel worker processes each with a
time budget, at the configurations it is given (the manifest's, chosen by the caller), with
the explorer or the fuzzer (:mod:`hintspec.engine.mutate_run`). Each mutant is *killed*
(by which properties, with which trace), *survived*, *equivalent* (its labelled state graph
is the original's at every configuration -- found by comparing digests of the graphs, or
because the code it changes never runs there), *timeout* or *invalid* (it raised: a crash
is not a kill).

Kill rate = killed / (killed + survived), for this operator set, these bounds and this
checker. It measures sensitivity to this mutant set, not the probability that the model is
correct.

Before any mutant, the original must hold at every configuration (the baseline gate): in a
broken design every mutant is "killed" trivially.
"""

from __future__ import annotations

import dataclasses
import functools
import multiprocessing
import multiprocessing.connection
import pickle
import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from hintspec.engine.executors import executor
from hintspec.engine.mutate_ops import FAIRNESS_OPERATORS, OPERATORS, Mutant

__all__ = ["CHECKERS", "Mutant", "MutantResult", "MutationRun", "mutate", "select"]
from hintspec.engine.mutate_run import (
    CLASSES,
    EQUIVALENT,
    INVALID,
    KILLED,
    SURVIVED,
    TIMEOUT,
    Baseline,
    ConfigOutcome,
    Kill,
    ModelClass,
    MutantBuildError,
    RunConfig,
    baseline,
    load_module,
    model_class,
    run_explore,
    run_fuzz,
)
from hintspec.engine.results import DEADLOCK, Verdict
from hintspec.lang.errors import UsageError
from hintspec.lang.model import Model

CHECKERS = ("explore", "fuzz")

RATE_MEANING = (
    "kill rate = killed / (killed + survived), at this operator set, these bounds and this "
    "checker; it measures sensitivity to this mutant set, not the probability that the "
    "model is correct"
)

STATE_BOUND_FACTOR = 3
MIN_STATE_BOUND = 100_000
"""A mutant may reach this many times the original's states (at least
:data:`MIN_STATE_BOUND`) before it is a timeout: a mutant whose state space explodes says
nothing within a budget."""

MIN_BUDGET = 10.0
BUDGET_FACTOR = 2.0
"""Without ``--budget``, a mutant may take this many times the original's time at a
configuration (whose exploration ran under a line tracer, two to three times slower), and
at least :data:`MIN_BUDGET` seconds."""

NOT_REACHED = "the code it changes never runs at these configurations"


@dataclasses.dataclass
class MutantResult:
    mutant: Mutant
    outcome: str
    kills: list[Kill] = dataclasses.field(default_factory=list)
    """At the first configuration that killed it (all its violated properties there)."""
    config: str = ""
    """The configuration that decided the outcome (killed, invalid, timeout)."""
    reason: str = ""
    seconds: float = 0.0

    @property
    def killers(self) -> list[str]:
        return sorted({k.prop for k in self.kills})

    @property
    def trace_length(self) -> int | None:
        return min((k.length for k in self.kills if k.length is not None), default=None)


@dataclasses.dataclass
class MutationRun:
    model: str
    variant: str
    checker: str
    configs: list[RunConfig]
    skipped: list[str]
    """Configurations left out, each with why (a FINDING, a bound the original hits)."""
    properties: list[str]
    """Every property a mutant could violate (liveness and "no deadlock" included)."""
    enumerated: int
    """Mutants the operators made (before sampling; external patches included)."""
    results: list[MutantResult]
    sample: tuple[int, int] | None = None
    """(K, seed) when a sample of the enumerated mutants ran."""
    operators: tuple[str, ...] = OPERATORS
    note: str = ""
    """What the mutants were chosen by, beyond the operators (``--killed-within``)."""
    seconds: float = 0.0
    interrupted: bool = False

    def counts(self) -> dict[str, int]:
        c = Counter(r.outcome for r in self.results)
        return {k: c.get(k, 0) for k in CLASSES}

    @property
    def kill_rate(self) -> float | None:
        c = self.counts()
        denominator = c[KILLED] + c[SURVIVED]
        return c[KILLED] / denominator if denominator else None

    def attribution(self) -> dict[str, tuple[int, int]]:
        """Property -> (mutants it kills, mutants only it kills), for every property."""
        kills = Counter[str]()
        sole = Counter[str]()
        for r in self.results:
            if r.outcome != KILLED:
                continue
            killers = r.killers
            kills.update(killers)
            if len(killers) == 1:
                sole[killers[0]] += 1
        return {p: (kills[p], sole[p]) for p in self.properties}

    @property
    def survivors(self) -> list[MutantResult]:
        return [r for r in self.results if r.outcome == SURVIVED]


def select(mutants: Sequence[Mutant], sample: int | None, seed: int) -> list[Mutant]:
    """``sample`` mutants picked by ``random.Random(seed)`` (kept in enumeration order), or
    all of them."""
    if sample is None or sample >= len(mutants):
        return list(mutants)
    chosen = set(random.Random(seed).sample(range(len(mutants)), sample))
    return [m for i, m in enumerate(mutants) if i in chosen]


def _gate(model: str, variant: str, base_results: list[tuple[RunConfig, Any]]) -> None:
    for cfg, result in base_results:
        if result.verdict not in (Verdict.HOLDS, Verdict.VACUOUS):
            why = "; ".join(result.failing) or (result.bound_hit or result.verdict.value)
            raise UsageError(
                f"{model} ({variant}) does not hold at [{cfg.label}] ({why}): mutating a "
                "broken design kills every mutant trivially; fix it or choose a variant "
                "and configurations where it holds"
            )


def baselines(
    cls: ModelClass, variant: str, configs: Sequence[RunConfig], source: str, path: str
) -> list[Baseline]:
    """The original at every configuration (loaded from ``source``, like the mutants), after
    the baseline gate; configurations sorted by size, each mutant's state bound set."""
    original = model_class(load_module(source, path, cls.name), cls.name)
    runs = [baseline(original, variant, cfg, path) for cfg in configs]
    _gate(cls.name, variant, [(b.config, r) for b, r in runs])
    out = []
    for b, _ in sorted(runs, key=lambda br: br[0].states):
        bound = max(STATE_BOUND_FACTOR * b.states, MIN_STATE_BOUND)
        budget = b.config.budget or max(MIN_BUDGET, BUDGET_FACTOR * b.seconds)
        cfg = dataclasses.replace(b.config, max_states=bound, budget=budget)
        out.append(dataclasses.replace(b, config=cfg))
    return out


def reached(mutant: Mutant, bases: Sequence[Baseline]) -> bool:
    if mutant.reach is None:
        return True
    lo, hi = mutant.reach
    return any(line in b.lines for b in bases for line in range(lo, hi + 1))


Fuzzer = Callable[[Model[Any, Any]], tuple[Any, float]]


def run_mutant(
    mutant: Mutant,
    *,
    model: str,
    variant: str,
    source: str,
    path: str,
    bases: Sequence[Baseline],
    checker: str,
    fuzzer: Fuzzer | None = None,
    distinct: bool = False,
) -> MutantResult:
    """Check one mutant at each configuration in turn (smallest first), stopping at the
    first that kills it or that it raises in. ``distinct``: the explorer is known to kill
    it, so a fuzzer that does not is not followed by a graph comparison."""
    start = time.monotonic()
    try:
        cls = model_class(load_module(mutant.apply(source), path, model), model)
    except MutantBuildError as exc:
        return MutantResult(mutant, INVALID, reason=str(exc), seconds=time.monotonic() - start)
    outcomes: list[ConfigOutcome] = []
    for b in bases:
        if checker == "fuzz":
            assert fuzzer is not None
            out = run_fuzz(cls, variant, b.config, b, fuzzer, compare=not distinct)
        else:
            out = run_explore(cls, variant, b.config, b)
        outcomes.append(out)
        if out.outcome in (KILLED, INVALID):
            break
    seconds = time.monotonic() - start
    decided = next((o for o in outcomes if o.outcome in (KILLED, INVALID)), None)
    decided = decided or next((o for o in outcomes if o.outcome == TIMEOUT), None)
    if decided is not None:
        return MutantResult(
            mutant, decided.outcome, decided.kills, decided.config, decided.reason, seconds
        )
    if all(o.outcome == EQUIVALENT for o in outcomes):
        why = "the same labelled state graph as the original at every configuration"
        return MutantResult(mutant, EQUIVALENT, reason=why, seconds=seconds)
    differs = "], [".join(o.config for o in outcomes if o.outcome == SURVIVED)
    if mutant.operator in FAIRNESS_OPERATORS:
        why = f"no liveness verdict depends on this fairness at [{differs}]"
    elif checker == "fuzz" and distinct:
        why = f"the fuzzer found no violation at [{differs}] (the explorer kills it)"
    else:
        why = f"no property violated; the state graph differs at [{differs}]"
    return MutantResult(mutant, SURVIVED, reason=why, seconds=seconds)


# -- running many in worker processes ------------------------------------------------------


def _child(conn: Any, work: Callable[[], MutantResult]) -> None:
    try:
        result: Any = work()
    except BaseException as exc:  # reported, never a hang
        result = f"{type(exc).__name__}: {exc}"
    try:
        conn.send(result)
    finally:
        conn.close()


def run_all(
    mutants: Sequence[Mutant],
    work: Callable[[Mutant], MutantResult],
    *,
    jobs: int,
    hard_timeout: float,
    progress: Callable[[MutantResult], None] | None = None,
) -> tuple[list[MutantResult], bool]:
    """``work(mutant)`` for every mutant, ``jobs`` at a time, each in a process of its own
    (forked: a mutant can loop for ever or fill memory, and its process is simply ended
    after ``hard_timeout`` seconds). Results in the mutants' order; True if interrupted."""
    ctx = multiprocessing.get_context("fork")
    pending = list(enumerate(mutants))
    pending.reverse()
    running: dict[Any, tuple[int, Mutant, Any, float]] = {}
    results: dict[int, MutantResult] = {}
    interrupted = False

    def finish(index: int, result: MutantResult) -> None:
        results[index] = result
        if progress is not None:
            progress(result)

    try:
        while pending or running:
            while pending and len(running) < jobs:
                index, mutant = pending.pop()
                receive, send = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_child, args=(send, lambda m=mutant: work(m)))
                proc.daemon = True
                proc.start()
                send.close()
                running[receive] = (index, mutant, proc, time.monotonic())
            ready = multiprocessing.connection.wait(list(running), timeout=1.0)
            for conn in ready:
                index, mutant, proc, started = running.pop(conn)
                assert isinstance(conn, multiprocessing.connection.Connection)
                try:
                    got = conn.recv()
                except EOFError:
                    got = f"its process ended with exit code {proc.exitcode}"
                conn.close()
                proc.join(5)
                if isinstance(got, MutantResult):
                    finish(index, got)
                else:
                    finish(index, MutantResult(mutant, INVALID, reason=f"the run failed: {got!s}"))
            now = time.monotonic()
            for conn, (index, mutant, proc, started) in list(running.items()):
                if now - started > hard_timeout:
                    proc.kill()
                    proc.join(5)
                    conn.close()
                    del running[conn]
                    why = f"no answer within {hard_timeout:.0f} s (its process was ended)"
                    finish(index, MutantResult(mutant, TIMEOUT, reason=why, seconds=now - started))
    except KeyboardInterrupt:
        interrupted = True
        for conn, (_i, _m, proc, _s) in running.items():
            proc.kill()
            proc.join(5)
            conn.close()
    return [results[i] for i in sorted(results)], interrupted


@dataclasses.dataclass(frozen=True)
class MutantTask:
    """Everything :func:`run_mutant` needs, picklable, for a worker of another machine: the
    model travels as its module's text, not as a file path the worker may not have."""

    mutant: Mutant
    model: str
    variant: str
    source: str
    path: str
    bases: tuple[Baseline, ...]
    checker: str
    fuzzer: Fuzzer | None
    distinct: bool

    def run(self) -> MutantResult:
        return run_mutant(
            self.mutant,
            model=self.model,
            variant=self.variant,
            source=self.source,
            path=self.path,
            bases=self.bases,
            checker=self.checker,
            fuzzer=self.fuzzer,
            distinct=self.distinct,
        )


def run_isolated(task: MutantTask, hard_timeout: float) -> MutantResult:
    """``task`` in a fresh interpreter (``python -m hintspec.engine.mutate_child``), ended
    after ``hard_timeout`` seconds. This is how a Dask worker runs a mutant: its process is
    daemonic and may not fork a ``multiprocessing`` child, but a mutant may loop for ever or
    fill memory, and only a process of its own can be ended."""
    start = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "hintspec.engine.mutate_child"],
            input=pickle.dumps(task),
            capture_output=True,
            timeout=hard_timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        why = f"no answer within {hard_timeout:.0f} s (its process was ended)"
        return MutantResult(task.mutant, TIMEOUT, reason=why, seconds=time.monotonic() - start)
    if done.returncode == 0:
        try:
            result = pickle.loads(done.stdout)
        except Exception as exc:  # a child that printed to its answer: reported, not raised
            result = f"its answer could not be read: {type(exc).__name__}: {exc}"
        if isinstance(result, MutantResult):
            return result
    else:
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()
        result = tail[-1] if tail else f"its process ended with exit code {done.returncode}"
    return MutantResult(task.mutant, INVALID, reason=f"the run failed: {result!s}")


def _run_distributed(
    tasks: Sequence[MutantTask],
    *,
    address: str,
    hard_timeout: float,
    progress: Callable[[MutantResult], None] | None,
) -> tuple[list[MutantResult], bool]:
    """Every task on the workers of the Dask cluster at ``address`` (one task per mutant),
    results in the tasks' order; True if interrupted."""
    results: list[MutantResult] = []
    with executor(address=address) as pool:
        try:
            for result in pool.map(
                functools.partial(run_isolated, hard_timeout=hard_timeout), tasks
            ):
                results.append(result)
                if progress is not None:
                    progress(result)
        except KeyboardInterrupt:
            pool.cancel()
            return results, True
    return results, False


def mutate(
    cls: ModelClass,
    *,
    variant: str,
    configs: Sequence[RunConfig],
    skipped: Sequence[str],
    mutants: Sequence[Mutant],
    enumerated: int,
    source: str,
    path: str,
    checker: str = "explore",
    jobs: int = 1,
    sample: tuple[int, int] | None = None,
    fuzzer: Fuzzer | None = None,
    distinct: frozenset[str] = frozenset(),
    note: str = "",
    progress: Callable[[MutantResult], None] | None = None,
    address: str | None = None,
) -> MutationRun:
    """Mutation analysis of ``cls`` (whose module's text is ``source``, at ``path``): the
    baseline gate, then every mutant at every configuration, ``jobs`` in parallel on this
    machine, or on the workers of the Dask cluster at ``address``."""
    if checker not in CHECKERS:
        raise UsageError(f"unknown checker {checker!r}; checkers are {', '.join(CHECKERS)}")
    if not configs:
        raise UsageError(f"{cls.name} ({variant}): no configuration to mutate at")
    start = time.monotonic()
    bases = baselines(cls, variant, configs, source, path)
    results: dict[str, MutantResult] = {}
    to_run = []
    for m in mutants:
        if reached(m, bases):
            to_run.append(m)
        else:
            results[m.id] = MutantResult(m, EQUIVALENT, reason=NOT_REACHED)
            if progress is not None:
                progress(results[m.id])

    def task(m: Mutant) -> MutantTask:
        return MutantTask(
            m, cls.name, variant, source, path, tuple(bases), checker, fuzzer, m.id in distinct
        )

    per_config = sum(b.config.budget or MIN_BUDGET for b in bases)
    hard_timeout = 2 * per_config + 30
    if address is None:
        ran, interrupted = run_all(
            to_run,
            lambda m: task(m).run(),
            jobs=jobs,
            hard_timeout=hard_timeout,
            progress=progress,
        )
    else:
        ran, interrupted = _run_distributed(
            [task(m) for m in to_run],
            address=address,
            hard_timeout=hard_timeout,
            progress=progress,
        )
    results.update((r.mutant.id, r) for r in ran)
    ordered = [results[m.id] for m in mutants if m.id in results]
    props = [p.name for p in cls.properties]
    if cls.check_deadlock:
        props.append(DEADLOCK)
    return MutationRun(
        model=cls.name,
        variant=variant,
        checker=checker,
        configs=[b.config for b in bases],
        skipped=list(skipped),
        properties=props,
        enumerated=enumerated,
        results=ordered,
        sample=sample,
        note=note,
        seconds=time.monotonic() - start,
        interrupted=interrupted,
    )
