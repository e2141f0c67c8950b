"""The hinting designs compared by exhaustive exploration: a table a design review reads.

For each design of ``models/hinting_oom.py`` (the 2019 per-CPU RFC and the capped single
worker with and without the watermark gate): its verdict, the most memory hinting holds
away from the allocator at once, the fewest free blocks an isolation step leaves, and the
smallest per-vCPU demand at which a hinting-induced OOM is reachable. It runs the explorer,
so it lives here, beside the benchmarks, and not in the model (which only describes the
designs)::

    python tests/benchmarks/hinting_oom_designs.py [key=value ...]
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from typing import Any

from hintspec.engine.check import check
from hintspec.engine.explore import explore
from hintspec.lang.configs import make_config, parse_assignments
from hintspec.models.hinting_oom import Config, HintingOom


@dataclass(frozen=True)
class Bound:
    """What an exhaustive exploration says about one design and configuration."""

    variant: str
    max_held: int
    """The most blocks hinting ever holds away from the allocator at once."""
    min_free_after_isolation: int | None
    """The fewest free blocks an isolation step ever leaves (None: hinting never isolates)."""
    states: int
    held_path: list[Any]
    """A shortest path to a state holding ``max_held`` blocks."""
    low_path: list[Any]
    """A shortest path whose last step is an isolation leaving the fewest free blocks."""


def measure(model: HintingOom) -> Bound:
    """Explore ``model`` exhaustively and measure the memory hinting holds away from the
    allocator: the most it holds at once, and the fewest free blocks an isolation leaves."""
    ex = explore(model, keep_graph=False)
    best, best_i = -1, 0
    low: int | None = None
    low_path: list[Any] = []
    isolating = {
        model.action_index("guest_free_page_hinting"),
        model.action_index("page_reporting_cycle"),
    }
    for i, s in enumerate(ex.states):
        h = model.held(s)
        if h > best:
            best, best_i = h, i
        for a, args, t in model.successors(s):
            isolates = a in isolating and args.get("blocks") and len(t.free) < len(s.free)
            if isolates and (low is None or len(t.free) < low):
                low = len(t.free)
                low_path = [*ex.path_to(i), t]
    if ex.bound_hit is not None:
        raise ValueError(f"measure needs a complete exploration ({ex.bound_hit})")
    return Bound(model.variant, best, low, len(ex.states), ex.path_to(best_i), low_path)


def oom_demand_threshold(base: Config, max_demand: int | None = None) -> int | None:
    """The smallest per-vCPU ``demand`` at which a hinting-induced OOM is reachable (None:
    none up to ``max_demand``, by default the zone size)."""
    top = base.blocks if max_demand is None else max_demand
    for demand in range(top + 1):
        result = check(HintingOom(dataclasses.replace(base, demand=demand)), liveness=False)
        if "no hinting-induced OOM" in result.failing:
            return demand
    return None


DESIGNS = ("percpu_2019", "capped_no_gate", "capped_gate", "capped_gate_per_batch")
"""The designs the verdict table compares (the bad variants are regression tests)."""


def table(overrides: dict[str, Any] | None = None) -> str:
    """The per-design comparison: verdicts, the most memory held, the fewest free blocks
    an isolation leaves, and the smallest demand with a hinting-induced OOM."""
    rows = [
        "design                 states  verdict   held  min-free-after-isolation  OOM-from-demand"
    ]
    for variant in DESIGNS:
        cfg = dataclasses.replace(Config(variant=variant), **(overrides or {}))
        model = HintingOom(cfg)
        res = check(model)
        bound = measure(model)
        thr = oom_demand_threshold(cfg)
        rows.append(
            f"{variant:22} {res.distinct_states:6}  {res.verdict.value:9} {bound.max_held:4}  "
            f"{bound.min_free_after_isolation!s:>24}  {thr!s:>15}"
        )
        for name in res.failing:
            rows.append(f"{'':24}violates: {name}")
    return "\n".join(rows)


if __name__ == "__main__":
    given = parse_assignments(sys.argv[1:])
    base = make_config(HintingOom, None, given)
    print(table({k: getattr(base, k) for k in given}))
