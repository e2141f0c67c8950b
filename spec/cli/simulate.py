"""``hintspec simulate`` (seeded random walks) and ``hintspec fuzz`` (Hypothesis, shrinking).

Both print what they found in the explorer's text format and write the (first) violation
as ITF, ``<out>/<model>-<variant>-<property>-<digest>.<simulate|fuzz>.itf.json`` (see
:mod:`hintspec.traces.naming`) with a ``.txt``
beside it, so ``hintspec show`` and ``hintspec replay`` work on it. Exit codes: 0 nothing
found (which is not a proof), 1 a property is violated, 2 bad usage.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path
from typing import Any

from hintspec.cli.common import (
    DEFAULT_OUT,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    EXIT_VIOLATED,
    add_model_arguments,
    model_from_args,
    positive_int,
    write_trace,
)
from hintspec.engine.executors import executor
from hintspec.engine.fuzzing import PROFILES, fuzz, profile_name, profile_settings, witness_corpus
from hintspec.engine.simulate import simulate
from hintspec.engine.stateful import safety_properties
from hintspec.engine.swarm import SwarmResult, run_swarm, tasks_for
from hintspec.lang.configs import config_label, make_config, parse_assignments
from hintspec.lang.errors import UsageError
from hintspec.lang.model import Model, PropertyKind
from hintspec.lang.registry import get_model
from hintspec.traces.text import render_trace
from hypothesis import settings


def _seed(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def _coverage_line(coverage: dict[str, int]) -> str:
    return "  coverage: " + ", ".join(f"{a} {n:,}" for a, n in coverage.items())


def _sometimes_names(model: Model[Any, Any]) -> list[str]:
    return [p.name for p in model.properties_of(PropertyKind.SOMETIMES)]


# -- simulate ---------------------------------------------------------------------------


def cmd_simulate(args: argparse.Namespace) -> int:
    model = model_from_args(args)
    out = Path(args.out)
    result = simulate(model, runs=args.runs, steps=args.steps, seed=args.seed)
    rate = result.steps / result.seconds if result.seconds > 0 else 0.0
    lines = [
        f"hintspec simulate {model.name} (variant {model.variant}; {config_label(model.config)})",
        f"  {result.runs:,} runs x {result.max_steps:,} steps, seed {result.seed}: "
        f"{result.steps:,} steps, {result.distinct_states:,} distinct states, "
        f"{result.seconds:.2f} s ({rate:,.0f} steps/s)",
        f"  walks ended: {result.ended['steps']:,} at the step bound, "
        f"{result.ended['terminal']:,} in a terminal state, "
        f"{result.ended['violation']:,} in a violation",
        "",
    ]
    for name, trace in result.violations.items():
        lines.append(f"  VIOLATED     {name}  [shortest trace: {len(trace)} steps]")
        lines.append(f"               {trace.explanation}")
    if not result.violations:
        lines.append("  no violation found (random walks are not a proof)")
    for name in _sometimes_names(model):
        if name in result.witnesses:
            lines.append(f"  reached      {name}  [in {len(result.witnesses[name])} steps]")
        else:
            lines.append(f"  not reached  {name}")
    lines.append("")
    lines.append(_coverage_line(result.coverage))
    if result.never_fired:
        lines.append("  actions that never fired: " + ", ".join(result.never_fired))
    lines.append("")
    first = result.first
    if first is not None:
        lines.append(render_trace(first, model))
        lines.append(f"wrote {write_trace(first, out, model, tagged=True)}")
    lines.append(f"Result: {'VIOLATED' if first is not None else 'NO VIOLATION FOUND'}")
    sys.stdout.write("\n".join(lines) + "\n")
    if result.ended.get("interrupted"):
        sys.stderr.write("hintspec: interrupted\n")
        return EXIT_INTERRUPTED
    return EXIT_VIOLATED if first is not None else EXIT_OK


# -- fuzz -------------------------------------------------------------------------------


def _fuzz_model(args: argparse.Namespace) -> Model[Any, Any]:
    if not args.large:
        return model_from_args(args)
    cls = get_model(args.model)
    overrides: dict[str, Any] = dict(cls.hypothesis_config)
    overrides.update(parse_assignments(args.assignments))
    return cls(make_config(cls, args.variant, overrides))


def cmd_fuzz(args: argparse.Namespace) -> int:
    model = _fuzz_model(args)
    if not safety_properties(type(model)):
        raise UsageError(
            f"{model.name} has no always property and no deadlock check: nothing a random "
            "run can find (liveness needs `hintspec check`)"
        )
    out = Path(args.out)
    profile = profile_name(args.profile)
    if args.swarm > 1 or args.jobs > 1 or args.executor:
        return _fuzz_swarm(args, model, profile, out)
    base = profile_settings(profile)
    # A random run is reported with its seed, so that a failure it finds can be replayed
    # (`--seed S`); a derandomised profile needs none.
    seed = args.seed
    if seed is None and not base.derandomize:
        seed = random.randrange(2**32)
    if args.seed is not None:
        # A given seed replays a run: the run must be a function of the seed alone, not of
        # a derandomised profile's own choice or of what the example database saved.
        base = settings(base, derandomize=False, database=None)
    result = fuzz(
        model,
        base=base,
        max_examples=args.max_examples,
        step_count=args.steps,
        seed=seed,
        swarm=args.swarm > 0,
        corpus=witness_corpus(model) if args.from_witnesses else (),
    )
    lines = [
        f"hintspec fuzz {model.name} (variant {model.variant}; {config_label(model.config)})",
        f"  profile {profile}: up to {result.max_examples:,} examples x "
        f"{result.step_count:,} steps"
        + (f", seed {seed}" if seed is not None else ", derandomised")
        + (", swarm" if args.swarm > 0 else "")
        + (", runs may start from witnesses" if args.from_witnesses else ""),
    ]
    trace = result.trace
    if trace is not None:
        assert result.found_at is not None and result.found_seconds is not None
        lines.append(
            f"  found in test case {result.found_at:,} after {result.found_seconds:.2f} s; "
            f"shrunk to {result.shrunk_length} steps, shortened to {len(trace)}; "
            f"{result.test_cases:,} test cases, {result.seconds:.2f} s in all"
        )
    else:
        lines.append(
            f"  no violation in {result.test_cases:,} test cases, {result.steps:,} steps, "
            f"{result.seconds:.2f} s (not a proof)"
        )
    lines.append("")
    for name in _sometimes_names(model):
        state = "reached    " if name in result.witnesses else "not reached"
        lines.append(f"  {state}  {name}")
    lines.append(_coverage_line(result.coverage))
    if result.never_fired:
        lines.append("  actions that never fired: " + ", ".join(result.never_fired))
    lines.append("")
    if trace is not None:
        lines.append(render_trace(trace, model))
        lines.append(f"wrote {write_trace(trace, out, model, tagged=True)}")
    lines.append(f"Result: {'VIOLATED' if trace is not None else 'NO VIOLATION FOUND'}")
    sys.stdout.write("\n".join(lines) + "\n")
    return EXIT_VIOLATED if trace is not None else EXIT_OK


def _fuzz_swarm(args: argparse.Namespace, model: Model[Any, Any], profile: str, out: Path) -> int:
    """``--swarm N`` (with ``--jobs``/``--executor``): N runs with their own seeds, merged."""
    runs = max(args.swarm, 1)
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    tasks = tasks_for(
        model,
        runs,
        seed=seed,
        profile=profile,
        max_examples=args.max_examples,
        step_count=args.steps,
        from_witnesses=args.from_witnesses,
    )
    where = (
        f"the Dask cluster at {args.executor}"
        if args.executor
        else f"{args.jobs} process{'es' if args.jobs > 1 else ''}"
    )
    sys.stdout.write(
        f"hintspec fuzz {model.name} (variant {model.variant}; {config_label(model.config)})\n"
        f"  swarm of {runs} runs on {where}, profile {profile}, seeds {seed}..."
        f"{(seed + runs - 1) % 2**32}\n"
    )
    with executor(args.jobs, args.executor) as pool:
        done = []
        for run in run_swarm(tasks, pool):
            done.append(run)
            if run.error is not None:
                what = f"model code raised: {run.error}"
            elif run.trace_length is not None:
                what = f"violation, {run.trace_length} steps (found in test case {run.found_at:,})"
            else:
                what = "no violation"
            sys.stdout.write(
                f"  run {run.index} (seed {run.seed}): {run.test_cases:,} test cases, "
                f"{run.seconds:.2f} s: {what}\n"
            )
    result = SwarmResult(done)
    lines = [""]
    for name in _sometimes_names(model):
        state = "reached    " if name in result.witnesses else "not reached"
        lines.append(f"  {state}  {name}")
    lines.append(_coverage_line(result.coverage))
    never = [a for a, n in result.coverage.items() if n == 0]
    if never:
        lines.append("  actions that never fired in any run: " + ", ".join(never))
    lines.append("")
    trace = result.trace()
    best = result.best
    if trace is not None and best is not None:
        lines.append(f"the shortest counterexample is run {best.index}'s (seed {best.seed}):")
        lines.append(render_trace(trace, model))
        lines.append(f"wrote {write_trace(trace, out, model, tagged=True)}")
    if result.errors:
        lines.append(
            f"Result: ERROR (the model's code raised in {len(result.errors)} of {runs} runs; "
            f"rerun one alone with --seed S --debug)"
        )
        sys.stdout.write("\n".join(lines) + "\n")
        return EXIT_USAGE
    lines.append(
        f"Result: {'VIOLATED' if trace is not None else 'NO VIOLATION FOUND'} "
        f"({result.test_cases:,} test cases in {runs} runs)"
    )
    sys.stdout.write("\n".join(lines) + "\n")
    return EXIT_VIOLATED if trace is not None else EXIT_OK


def register(subparsers: Any) -> None:
    """Add ``simulate`` and ``fuzz`` to the ``hintspec`` command."""
    p = subparsers.add_parser("simulate", help="seeded random walks (fast, no shrinking)")
    add_model_arguments(p)
    p.add_argument("--runs", type=positive_int, default=100, metavar="N", help="walks (100)")
    p.add_argument(
        "--steps", type=positive_int, default=100, metavar="K", help="steps per walk (100)"
    )
    p.add_argument("--seed", type=_seed, default=0, metavar="S", help="random seed (0)")
    p.add_argument(
        "--out", default=DEFAULT_OUT, metavar="DIR", help=f"where to write traces ({DEFAULT_OUT})"
    )
    p.set_defaults(func=cmd_simulate)

    p = subparsers.add_parser("fuzz", help="Hypothesis stateful testing, with shrinking")
    add_model_arguments(p)
    p.add_argument(
        "--large",
        action="store_true",
        help="start from the model's hypothesis_config (sizes beyond exhaustive reach)",
    )
    p.add_argument(
        "--profile",
        choices=PROFILES,
        help="Hypothesis settings profile (default: $HYPOTHESIS_PROFILE, else dev)",
    )
    p.add_argument("--max-examples", type=positive_int, metavar="N", help="override")
    p.add_argument("--steps", type=positive_int, metavar="K", help="steps per example")
    p.add_argument("--seed", type=_seed, metavar="S", help="fix Hypothesis's random seed")
    p.add_argument(
        "--swarm",
        type=positive_int,
        nargs="?",
        const=1,
        default=0,
        metavar="N",
        help="keep Hypothesis's swarm testing on (off by default); with N > 1, N independent "
        "runs with the seeds S, S+1, ... whose results are merged (the shortest "
        "counterexample wins)",
    )
    p.add_argument(
        "--jobs",
        type=positive_int,
        default=1,
        metavar="N",
        help="with --swarm N: run N runs at once in separate processes",
    )
    p.add_argument(
        "--executor",
        metavar="ADDRESS",
        help="with --swarm N: run the runs on the workers of the Dask cluster whose "
        "scheduler is at ADDRESS (tcp://HOST:PORT; needs hintspec[distributed])",
    )
    p.add_argument(
        "--from-witnesses",
        action="store_true",
        help="runs may start from the explorer's traces to the sometimes witnesses "
        "(a seed corpus; needs a config the explorer reaches them in)",
    )
    p.add_argument(
        "--out", default=DEFAULT_OUT, metavar="DIR", help=f"where to write traces ({DEFAULT_OUT})"
    )
    p.set_defaults(func=cmd_fuzz)
