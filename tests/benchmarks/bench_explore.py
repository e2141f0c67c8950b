"""Benchmark: the explorer on the reference model, side by side with Spin in one run.

For frames = 8 and 16 it prints, per engine (``object``: the readable explorer;
``vector``: the model's numpy form), the distinct states, transitions, seconds, states per
second, peak resident memory and bytes per state (``vector x2``: two threads). When the
``spin`` binary is on the PATH (Debian package ``spin``) it also generates the equivalent
Promela model
(``reference_buddy_promela.py``), times Spin's generate-and-compile step and its search
(``-DSAFETY -DNOREDUCE``, exhaustive DFS), checks that Spin stores exactly the same number
of states, and prints the ratios measured in this run: against Spin's total (compile
included) and against its search alone.

Each measurement runs in a fresh process, so peak memory is its own.
Run: ``python tests/benchmarks/bench_explore.py [frames ...]``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

MEASURE = """
import json, resource, sys, time
from hintspec.lang.configs import make_config
from hintspec.engine.check import check
from hintspec.lang.registry import get_model
cls = get_model("reference_buddy")
model = cls(make_config(cls, None, {"frames": int(sys.argv[1])}))
if sys.argv[2] == "vector":
    import numpy  # imported before the baseline, like the object engine's modules
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
r = check(model, engine=sys.argv[2], workers=int(sys.argv[3]))
secs = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"states": r.distinct_states, "transitions": r.transitions, "depth": r.depth,
                  "seconds": secs, "peak_kib": peak, "base_kib": base, "engine": r.engine}))
"""


def measure(frames: int, engine: str, workers: int = 1) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, str(frames), engine, str(workers)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, float] = json.loads(out)
    return result


def spin(frames: int) -> dict[str, float] | None:
    if shutil.which("spin") is None or shutil.which("gcc") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        pml = subprocess.run(
            [sys.executable, str(HERE / "reference_buddy_promela.py"), str(frames)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        (work / "buddy.pml").write_text(pml)
        subprocess.run(["spin", "-a", "buddy.pml"], cwd=work, check=True, capture_output=True)
        subprocess.run(
            ["gcc", "-O2", "-w", "-DSAFETY", "-DNOREDUCE", "-DMEMLIM=16000", "-o", "pan", "pan.c"],
            cwd=work,
            check=True,
            capture_output=True,
        )
        t1 = time.perf_counter()
        run = subprocess.run(
            ["./pan", "-m10000000"], cwd=work, check=True, capture_output=True, text=True
        ).stdout
        t2 = time.perf_counter()
    stored = re.search(r"(\d+) states, stored", run)
    trans = re.search(r"(\d+) transitions", run)
    return {
        "states": int(stored.group(1)) if stored else -1,
        "transitions": int(trans.group(1)) if trans else -1,
        "compile": t1 - t0,
        "search": t2 - t1,
    }


def main(sizes: list[int]) -> None:
    print(
        f"{'frames':>6} {'checker':<22} {'states':>9} {'transitions':>12} {'seconds':>8} "
        f"{'states/s':>10} {'peak MiB':>8} {'B/state':>8}"
    )
    for frames in sizes:
        results = {}
        for engine, workers in (("object", 1), ("vector", 1), ("vector", 2)):
            r = measure(frames, engine, workers)
            name = engine if workers == 1 else f"{engine} x{workers}"
            results[name] = r
            per_state = (r["peak_kib"] - r["base_kib"]) * 1024 / r["states"]
            print(
                f"{frames:>6} {'hintspec ' + name:<22} {r['states']:>9,} "
                f"{r['transitions']:>12,} {r['seconds']:>8.2f} "
                f"{r['states'] / r['seconds']:>10,.0f} {r['peak_kib'] / 1024:>8.0f} "
                f"{per_state:>8.0f}"
            )
        s = spin(frames)
        if s is None:
            print(f"{frames:>6} spin: not installed (apt-get install spin), no ratio")
            continue
        total = s["compile"] + s["search"]
        print(
            f"{frames:>6} {'spin (search)':<22} {s['states']:>9,} {s['transitions']:>12,} "
            f"{s['search']:>8.2f} {s['states'] / s['search']:>10,.0f}"
        )
        print(f"{frames:>6} {'spin (compile+search)':<22} {'':>9} {'':>12} {total:>8.2f}")
        same = s["states"] == results["vector"]["states"]
        best = min(r["seconds"] for r in results.values())
        print(
            f"{frames:>6} same state count as Spin: {'yes' if same else 'NO'}; "
            f"hintspec best / Spin total = {best / total:.2f}; "
            f"hintspec best / Spin search = {best / s['search']:.2f}"
        )


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [8, 16])
