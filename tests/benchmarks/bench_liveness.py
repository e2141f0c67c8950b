"""Benchmark: the liveness (fair-cycle) check on the reference model's state graph.

Prints, for frames = 8 and 16, the explored states and edges, the exploration time with the
graph kept, the time of one liveness check, and the process's peak resident memory. The property is
``eventually a block is reported`` with ``putback`` weakly fair -- it fails (a behaviour that
allocates and frees for ever never isolates), so the search builds a lasso, the expensive
case. Run: ``python tests/benchmarks/bench_liveness.py [frames ...]``.
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Iterator

from hintspec.engine.explore import explore
from hintspec.engine.liveness import check_liveness
from hintspec.lang.configs import make_config
from hintspec.lang.model import PropertyKind, eventually
from hintspec.models.reference_buddy import ReferenceBuddy, State


class ReportingLiveness(ReferenceBuddy):
    """The reference model plus one liveness property (benchmark only)."""

    name = "bench_reference_liveness"

    @eventually("a block is eventually reported", fairness={"putback": "weak"})
    def reported_eventually(self, s: State) -> bool:
        return bool(s.reported)


def main(sizes: Iterator[int]) -> None:
    print(
        f"{'frames':>6} {'states':>9} {'edges':>10} {'explore s':>9} {'liveness s':>10} "
        f"{'maxrss MiB':>10}  verdict"
    )
    for frames in sizes:
        model = ReportingLiveness(make_config(ReportingLiveness, None, {"frames": frames}))
        t0 = time.perf_counter()
        ex = explore(model, keep_graph=True)
        t1 = time.perf_counter()
        prop = model.properties_of(PropertyKind.LIVENESS)[0]
        result = check_liveness(model, ex, prop)
        t2 = time.perf_counter()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        assert ex.graph is not None
        print(
            f"{frames:>6} {len(ex.states):>9,} {len(ex.graph.src):>10,} {t1 - t0:>9.1f} "
            f"{t2 - t1:>10.1f} {peak / 2**20:>10.0f}  {result.verdict.value}"
            + (f" (lasso {len(result.trace)} steps)" if result.trace else "")
        )


if __name__ == "__main__":
    main(int(a) for a in sys.argv[1:]) if len(sys.argv) > 1 else main(iter((8, 16)))
