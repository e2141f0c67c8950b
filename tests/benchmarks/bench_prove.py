"""Benchmark: Z3 proof and BMC time against the number of frames (``hintspec prove``).

For every model with a Z3 encoding (``properties/proofs/``), at sizes of its size parameter
(``Encoding.size_parameter``: frames, or blocks, ...; by default the encoding's
``bench_sizes``, 64, 128, 256, 512 and 1024 frames): the k-induction proof of each good
design's invariants (``proved_variants``; verdict, solver queries, solver seconds, wall
seconds), and the BMC time to refute each bad variant (trace length) at the smaller
``bench_bmc_sizes``. Prints a markdown table.

Run: ``python tests/benchmarks/bench_prove.py [--frames 64,128,...] [--bmc-frames 64]
[--timeout S] [MODEL ...]``.
"""

from __future__ import annotations

import argparse
import itertools
import time

from hintspec.lang.configs import make_config
from hintspec.lang.registry import get_model
from hintspec.manifests.proofs import load_proof_manifest
from hintspec.smt import bmc, encoding_for, encodings, prove


def _sizes(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("models", nargs="*", help="default: every model with an encoding")
    parser.add_argument("--frames", help="sizes to prove at (default: the encoding's)")
    parser.add_argument("--bmc-frames", help="sizes to run BMC at (default: the encoding's)")
    parser.add_argument("--timeout", type=float, default=1800.0)
    args = parser.parse_args()
    names = args.models or sorted(encodings())
    print("| model | variant | size | check | verdict | steps | queries | solver s | wall s |")
    print("|---|---|---:|---|---|---:|---:|---:|---:|")
    for name in names:
        cls = get_model(name)
        enc_cls = encodings()[name]
        sizes = _sizes(args.frames) if args.frames else enc_cls.bench_sizes
        bmc_sizes = _sizes(args.bmc_frames) if args.bmc_frames else enc_cls.bench_bmc_sizes
        # Bad variants that break only liveness properties are no BMC target.
        liveness = {
            e.variant for e in load_proof_manifest() if e.model == name and e.check == "liveness"
        }
        for frames, good in itertools.product(sizes, enc_cls.proved_variants):
            size = {**enc_cls.bench_config, enc_cls.size_parameter: frames}
            enc = encoding_for(cls(make_config(cls, good, size)))
            start = time.perf_counter()
            result = prove(enc, timeout=args.timeout)
            wall = time.perf_counter() - start
            solver = sum(q.seconds for q in result.queries)
            print(
                f"| {name} | {good} | {frames} | k-induction (k={result.k}) | "
                f"{result.verdict.value} | | {len(result.queries)} | {solver:.2f} | {wall:.2f} |",
                flush=True,
            )
        for frames in bmc_sizes:
            bad = [v for v in cls.variants if v not in enc_cls.proved_variants]
            for variant in bad:
                if variant in liveness:
                    print(f"| {name} | {variant} | {frames} | liveness only: no BMC | | | | | |")
                    continue
                size = {**enc_cls.bench_config, enc_cls.size_parameter: frames}
                model = cls(make_config(cls, variant, size))
                enc = encoding_for(model)
                start = time.perf_counter()
                result = bmc(enc, enc.bmc_depth, timeout=args.timeout)
                wall = time.perf_counter() - start
                solver = sum(q.seconds for q in result.queries)
                steps = "" if result.trace is None else str(len(result.trace))
                print(
                    f"| {name} | {variant} | {frames} | BMC (depth <= {enc.bmc_depth}) | "
                    f"{result.verdict.value} | {steps} | {len(result.queries)} | {solver:.2f} | "
                    f"{wall:.2f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
