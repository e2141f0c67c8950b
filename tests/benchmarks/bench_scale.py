"""Benchmark: memory and both cores -- full-state vs fingerprint storage, serial vs ``--jobs``.

Part 1, for each model at its largest non-slow manifest entry (or the entries named with
``--entry MODEL/VARIANT``): the object explorer keeping every state, and keeping 64-bit
fingerprints (``check --fingerprints``), and fingerprints with about 1,000 frontier states
in memory (``--spill-frontier 1000``, the rest in a temporary file). Per run it prints
distinct states, transitions, CPU seconds and states per CPU second, the peak resident
memory the search added (peak RSS minus RSS before the search) and that per state, and for
fingerprints the visited-set bytes per state the result reports and the collision bound.
Each run is a fresh process, so its peak is its own; counts and verdicts must agree (a
mismatch is printed loudly).

Part 2: ``hintspec check --all --only MODEL ...`` serially, with ``--jobs 2`` and, when
``distributed`` is installed, on a local two-worker Dask cluster (``--executor``): wall
seconds, the CPU seconds of the run (its own and its process-pool workers'; the Dask
workers' are not counted), the speed-up, and whether the outputs are the serial one
(seconds column aside).

The machine these figures come from is usually shared: wall times are inflated and noisy,
CPU seconds (``process_time``) are the steadier comparison, and a ``--jobs 2`` speed-up
needs two idle cores.

Run: ``python tests/benchmarks/bench_scale.py [--entry MODEL/VARIANT ...] [--only MODEL ...]
[--skip-jobs] [--skip-storage]``.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import time
from typing import Any

MEASURE = """
import json, resource, sys, time
from hintspec.engine.check import check
from hintspec.lang.configs import make_config
from hintspec.lang.registry import get_model
model_name, variant, config, mode = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
cls = get_model(model_name)
model = cls(make_config(cls, variant, config))
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
cpu = time.process_time()
spill = 1000 if mode == "spill 1000" else None
r = check(model, engine="object", fingerprints=mode != "full", spill_after=spill)
cpu = time.process_time() - cpu
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({
    "states": r.distinct_states, "transitions": r.transitions, "depth": r.depth,
    "verdict": r.verdict.value, "failing": sorted(r.failing), "cpu": cpu, "wall": r.seconds,
    "peak_kib": peak, "base_kib": base, "visited_bytes_per_state": r.bytes_per_state,
    "collision": r.collision_probability,
}))
"""


def largest_entries(only: list[str] | None) -> list[tuple[str, str, dict[str, Any]]]:
    from hintspec.manifests.explorer import load_manifest

    best: dict[str, Any] = {}
    for e in load_manifest():
        if e.slow or not e.symmetry or e.max_states is not None:
            continue
        if only and e.model not in only:
            continue
        states = e.expect.get("distinct_states", 0)
        if e.model not in best or states > best[e.model].expect.get("distinct_states", 0):
            best[e.model] = e
    return [(e.model, e.variant, e.config) for e in best.values()]


def named_entries(names: list[str]) -> list[tuple[str, str, dict[str, Any]]]:
    from hintspec.manifests.explorer import load_manifest

    out = []
    for name in names:
        model, _, variant = name.partition("/")
        found = [
            e
            for e in load_manifest()
            if e.model == model and e.variant == (variant or "upstream") and not e.slow
        ]
        if not found:
            sys.exit(f"bench_scale: no non-slow manifest entry {name}")
        biggest = max(found, key=lambda e: e.expect.get("distinct_states", 0))
        out.append((biggest.model, biggest.variant, biggest.config))
    return out


def measure(model: str, variant: str, config: dict[str, Any], mode: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, model, variant, json.dumps(config), mode],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, Any] = json.loads(out)
    return result


def storage(entries: list[tuple[str, str, dict[str, Any]]]) -> None:
    print("Full-state vs fingerprint storage (object explorer, one process per run)")
    head = (
        f"{'entry':<44} {'mode':<12} {'states':>9} {'trans':>10} {'cpu s':>7} "
        f"{'states/cpu s':>12} {'peak MiB':>9} {'B/state':>8} {'visited B/st':>12} "
        f"{'P(collision)':>12}"
    )
    print(head)
    print("-" * len(head))
    for model, variant, config in entries:
        label = f"{model}/{variant} " + (" ".join(f"{k}={v}" for k, v in config.items()) or "")
        modes = ("full", "fingerprints", "spill 1000")
        runs = {mode: measure(model, variant, config, mode) for mode in modes}
        for mode, r in runs.items():
            added = max(0, r["peak_kib"] - r["base_kib"]) * 1024
            per_state = added / r["states"] if r["states"] else 0.0
            visited = r["visited_bytes_per_state"]
            print(
                f"{label[:44]:<44} {mode:<12} {r['states']:>9,} {r['transitions']:>10,} "
                f"{r['cpu']:>7.2f} {r['states'] / r['cpu']:>12,.0f} {added / 2**20:>9.1f} "
                f"{per_state:>8,.0f} "
                f"{'' if visited is None else f'{visited:,.0f}':>12} "
                f"{'' if r['collision'] is None else format(r['collision'], '.1e'):>12}"
            )
        full, fps = runs["full"], runs["fingerprints"]
        same = all(
            full[k] == other[k]
            for other in runs.values()
            for k in ("states", "transitions", "depth", "verdict", "failing")
        )
        ratio_cpu = fps["cpu"] / full["cpu"] if full["cpu"] else 0.0
        full_added = max(1, full["peak_kib"] - full["base_kib"])
        fps_added = max(1, fps["peak_kib"] - fps["base_kib"])
        print(
            f"{'':<44} fingerprints/full: cpu x{ratio_cpu:.2f}, added peak memory "
            f"x{fps_added / full_added:.2f}; counts and verdicts "
            + ("the same" if same else "DIFFER (a bug or a collision)")
        )
    print()


def _rows(stdout: str) -> str:
    return re.sub(r" +\d+\.\d\d  (yes|NO)$", r"  \1", stdout, flags=re.MULTILINE)


def check_all(only: list[str], jobs: int, *extra: str) -> tuple[float, float, str, int]:
    words = [sys.executable, "-m", "hintspec", "check", "--all", "--jobs", str(jobs), *extra]
    for model in only:
        words += ["--only", model]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    done = subprocess.run(words, capture_output=True, text=True)
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, _rows(done.stdout), done.returncode


def parallel(only: list[str]) -> None:
    print(f"check --all --only {' --only '.join(only)}: serial, --jobs 2, a local Dask cluster")
    runs = {"serial": check_all(only, 1), "--jobs 2": check_all(only, 2)}
    try:
        import distributed
    except ImportError:
        print("  (no Dask row: pip install 'hintspec[distributed]')")
    else:
        with distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
        ) as cluster:
            # The cluster is started before the clock; its workers' CPU is not counted.
            runs["dask x2"] = check_all(only, 1, "--executor", cluster.scheduler_address)
    serial = runs["serial"]
    entries = serial[2].count(" yes\n") + serial[2].count(" NO\n")
    for name, (wall, cpu, out, code) in runs.items():
        same = "same output" if out == serial[2] else "OUTPUT DIFFERS"
        print(
            f"  {name:<9} {entries} entries  wall {wall:7.2f} s  cpu {cpu:7.2f} s  exit {code}"
            f"  speed-up x{serial[0] / wall:.2f}  {same}"
        )
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entry", action="append", metavar="MODEL/VARIANT")
    parser.add_argument("--only", action="append", metavar="MODEL")
    parser.add_argument("--skip-storage", action="store_true")
    parser.add_argument("--skip-jobs", action="store_true")
    args = parser.parse_args()
    if not args.skip_storage:
        entries = named_entries(args.entry) if args.entry else largest_entries(args.only)
        storage(entries)
    if not args.skip_jobs:
        parallel(args.only or ["hinting_oom", "reference_buddy"])


if __name__ == "__main__":
    main()
