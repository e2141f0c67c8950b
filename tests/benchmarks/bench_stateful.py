"""Benchmark: Hypothesis stateful runs (``hintspec.engine.stateful``) against the explorer.

Two tables, as markdown:

1. For every known-bad manifest entry with a failing ``always`` property (or deadlock), at
   the entry's config: the explorer's shortest trace for the property Hypothesis reports;
   under the ``ci`` profile (derandomised), the strategy of ``hintspec.engine.stateful.search``
   that found it, the test case (in that strategy's run) in which Hypothesis first failed
   and the CPU seconds until then (earlier strategies included), the length of
   Hypothesis's shrunk trace and of the trace after ``shorten_trace``, and the test cases /
   CPU seconds of the whole search with shrinking; then, for comparison, how many seeded
   random walks (``hintspec.engine.simulate``, 50 steps) it took to hit the bug.
2. For every model's default design at its ``hypothesis_config``: test cases, steps and CPU
   seconds of the run ``tests/test_stateful_models.py`` makes, and the actions never taken.

Run: ``python tests/benchmarks/bench_stateful.py [--max-examples N] [--skip-good|--skip-bad]
[MODEL ...]`` (N, per strategy, defaults to the 500 of tests/test_stateful_models.py).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from hintspec.engine.check import check
from hintspec.engine.fuzzing import fuzz, profile_settings, search
from hintspec.engine.simulate import simulate
from hintspec.engine.stateful import safety_properties
from hintspec.lang.configs import make_config
from hintspec.lang.registry import all_models, get_model
from hintspec.manifests.explorer import load_manifest

WALK_STEPS = 50
MAX_WALKS = 5000


def _walks_to_find(model: Any) -> tuple[str, float]:
    """Random walks (one seed per walk) until the first violation: count and CPU seconds."""
    start = time.process_time()
    for walk in range(1, MAX_WALKS + 1):
        if simulate(model, runs=1, steps=WALK_STEPS, seed=walk).violations:
            return str(walk), time.process_time() - start
    return f">{MAX_WALKS}", time.process_time() - start


def bad_variants(models: set[str], max_examples: int) -> None:
    ci = profile_settings("ci")
    print(
        f"Known-bad variants, ci profile ({ci.stateful_step_count} steps; up to {max_examples} "
        "examples per strategy of hintspec.engine.stateful.search):\n"
    )
    print(
        "| entry | property | BFS | strategy | found in test case | CPU s to find "
        "| Hypothesis shrunk | shortened | test cases (with shrinking) | CPU s in all "
        "| random walks to find |"
    )
    print("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for entry in load_manifest():
        if models and entry.model not in models:
            continue
        cls = get_model(entry.model)
        failing = set(entry.expect.get("failing", []))
        if entry.slow or entry.expect.get("verdict") != "violated":
            continue
        if not safety_properties(cls) & failing:
            continue
        model = cls(make_config(cls, entry.variant, entry.config))
        explored = {
            p.name: p
            for p in check(
                model, max_states=entry.max_states, liveness=False, symmetry=entry.symmetry
            ).properties
        }
        start = time.process_time()
        strategy, result = search(model, base=ci, max_examples=max_examples, shrink=True)
        cpu = time.process_time() - start
        walks, walk_cpu = _walks_to_find(model)
        label = entry.label + ("" if entry.fuzz else " (fuzz: false)")
        trace = result.trace
        if trace is None:
            print(
                f"| {label} | (not found) | | all | >{max_examples} | {cpu:.2f} | | | "
                f"| {cpu:.2f} | {walks} ({walk_cpu:.1f} s) |"
            )
            continue
        bfs_trace = explored[trace.prop].trace if trace.prop in explored else None
        bfs = str(len(bfs_trace)) if bfs_trace is not None else "?"
        to_find = cpu - result.cpu + (result.found_cpu or 0.0)
        print(
            f"| {label} | {trace.prop} | {bfs} | {strategy} | {result.found_at} | "
            f"{to_find:.2f} | {result.shrunk_length} | {len(trace)} | "
            f"{result.test_cases} | {cpu:.2f} | {walks} ({walk_cpu:.1f} s) |"
        )


def good_designs(models: set[str]) -> None:
    # The budget of tests/test_stateful_models.py (ci profile).
    from test_stateful_models import GOOD_EXAMPLES, GOOD_STEPS  # type: ignore[import-not-found]

    print(
        f"\nDefault designs at hypothesis_config ({GOOD_EXAMPLES} examples x {GOOD_STEPS} "
        "steps, ci profile):\n"
    )
    print("| model | config | verdict | test cases | steps | CPU s | steps/s | never taken |")
    print("|---|---|---|---:|---:|---:|---:|---|")
    for name, cls in all_models().items():
        if models and name not in models:
            continue
        model = cls(make_config(cls, None, dict(cls.hypothesis_config)))
        result = fuzz(
            model,
            base=profile_settings("ci"),
            max_examples=GOOD_EXAMPLES,
            step_count=GOOD_STEPS,
        )
        verdict = "no violation" if result.trace is None else f"VIOLATED {result.trace.prop}"
        rate = result.steps / result.cpu if result.cpu else 0.0
        cfg = " ".join(f"{k}={v}" for k, v in cls.hypothesis_config.items()) or "defaults"
        print(
            f"| {name} | {cfg} | {verdict} | {result.test_cases} | {result.steps} | "
            f"{result.cpu:.2f} | {rate:,.0f} | {', '.join(result.never_fired) or '-'} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*")
    parser.add_argument("--max-examples", type=int, default=500)
    parser.add_argument("--skip-good", action="store_true")
    parser.add_argument("--skip-bad", action="store_true")
    args = parser.parse_args()
    models = set(args.models)
    if not args.skip_bad:
        bad_variants(models, args.max_examples)
    if not args.skip_good:
        good_designs(models)


if __name__ == "__main__":
    import pathlib
    import sys

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
    main()
