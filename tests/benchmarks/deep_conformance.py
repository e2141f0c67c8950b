"""Deep conformance: every Z3 encoding against its Python model on 1,000 states per config.

For every model with an encoding, every variant the encoding models, and every
configuration of the encoding's ``conformance_configs``: a deterministic sample of
``--states`` distinct reachable states (random walks as long as the state graph is deep,
plus every state of the last BFS levels; all states when there are fewer), each checked
action by action, enabled and disabled (:mod:`hintspec.smt.conformance`). Prints, per case,
where the states come from, the time, the divergences (both states and the action), and
the action coverage: in how many checked states each action was enabled, disabled, and how
many successors it had. Exit 1 if any case diverges.

Run: ``python tests/benchmarks/deep_conformance.py [--states N] [--seed S] [--bitblast]
[--variant V] [MODEL ...]`` (the slow test ``tests/test_smt_conformance.py`` runs the same
at 1,000 states for the good designs).
"""

from __future__ import annotations

import argparse
import sys
import time

from hintspec.lang.configs import make_config
from hintspec.lang.registry import get_model
from hintspec.smt import check_states, encoding_for, encodings, sample_states


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("models", nargs="*", help="default: every model with an encoding")
    parser.add_argument("--states", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variant", action="append", help="only these variants")
    parser.add_argument("--bitblast", action="store_true", help="the bit-vector reading (BMC)")
    parser.add_argument("--coverage", action="store_true", help="print the action coverage")
    args = parser.parse_args()
    diverged = 0
    for name in args.models or sorted(encodings()):
        cls = get_model(name)
        enc_cls = encodings()[name]
        for variant in enc_cls.variants:
            if args.variant and variant not in args.variant:
                continue
            for config, _walks in enc_cls.conformance_configs:
                model = cls(make_config(cls, variant, dict(config)))
                start = time.perf_counter()
                sample = sample_states(model, args.states, seed=args.seed)
                run = check_states(encoding_for(model), sample.states, bitblast=args.bitblast)
                wall = time.perf_counter() - start
                label = " ".join(f"{k}={v}" for k, v in config.items())
                per = 1000 * run.coverage.seconds / max(1, len(sample.states))
                print(
                    f"{name}/{variant} [{label}]: {sample.describe()}; "
                    f"{len(run.errors)} divergence(s); {wall:.1f} s ({per:.0f} ms a state)",
                    flush=True,
                )
                for _i, d in run.errors[:3]:
                    print(d.render(model))
                diverged += bool(run.errors)
                never = run.coverage.never()
                if never:
                    print("  in the checked states: " + "; ".join(never))
                if args.coverage:
                    print("\n".join(run.coverage.lines()))
    print(f"{diverged} case(s) diverged")
    return 1 if diverged else 0


if __name__ == "__main__":
    sys.exit(main())
