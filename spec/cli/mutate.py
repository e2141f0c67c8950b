"""``hintspec mutate``: how many plausible bugs in a model's own code its properties catch."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from hintspec.cli.common import EXIT_INTERRUPTED, EXIT_OK, positive_float, positive_int
from hintspec.engine.fuzzing import teeth_fuzzer
from hintspec.engine.mutate import CHECKERS, Mutant, MutantResult, mutate, select
from hintspec.engine.mutate_ops import OPERATORS, enumerate_mutants
from hintspec.engine.mutate_patches import PatchError, external_mutant, patched_files
from hintspec.engine.mutate_run import module_path
from hintspec.engine.stateful import safety_properties
from hintspec.lang.errors import UsageError
from hintspec.lang.registry import get_model
from hintspec.manifests.mutation import (
    explorer_kills,
    recorded_triage,
    run_configs,
    update_record,
)
from hintspec.outputs.mutation import dumps, progress_line, render_html, render_text, to_json
from hintspec.traces.files import write_text_atomic


def register(sub: Any) -> None:
    p = sub.add_parser(
        "mutate",
        help="mutation analysis: which small bugs in the model's code its properties catch",
        description=(
            "Make small bugs in the model module's design code (the actions, guards and "
            "helpers; not the properties), check each mutant at the manifest "
            "configurations of the variant, and classify it: killed (by which properties), "
            "survived, equivalent (the same state graph), timeout, invalid (it raised)."
        ),
    )
    p.add_argument("model", help="model name")
    p.add_argument("--variant", help="the design to mutate (default: the model's default)")
    p.add_argument(
        "--budget",
        type=positive_float,
        help="seconds per mutant per configuration (default: 5 x the original's, >= 30)",
    )
    p.add_argument("--checker", choices=(*CHECKERS, "prove"), default="explore")
    p.add_argument("--jobs", type=positive_int, default=os.cpu_count() or 1)
    p.add_argument(
        "--executor",
        metavar="ADDRESS",
        help="run the mutants on the workers of the Dask cluster whose scheduler is at "
        "ADDRESS (tcp://HOST:PORT; needs hintspec[distributed]) instead of --jobs processes",
    )
    p.add_argument(
        "--from",
        dest="patches",
        metavar="DIR",
        help="run the unified diffs in DIR (*.diff, *.patch) against the model file instead",
    )
    p.add_argument(
        "--sample", type=positive_int, metavar="K", help="run K mutants, chosen by --seed"
    )
    p.add_argument("--seed", type=int, default=0, help="the seed of --sample (default 0)")
    p.add_argument(
        "--operators",
        help=f"comma-separated subset of: {', '.join(OPERATORS)}",
    )
    p.add_argument(
        "--killed-within",
        type=positive_int,
        metavar="N",
        help=(
            "only the mutants the explorer's record kills through a safety property "
            "(always, no deadlock) with a trace of at most N steps (for --checker fuzz)"
        ),
    )
    p.add_argument("--list", action="store_true", help="list the mutants and their diffs; run none")
    p.add_argument("--json", metavar="FILE", help="write the whole run as JSON")
    p.add_argument("--html", metavar="FILE", help="write a self-contained HTML page")
    p.add_argument(
        "--update-manifest",
        action="store_true",
        help="record the counts and kill rate in models/manifest/mutation/MODEL.json",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="a line per mutant as it ends")
    p.set_defaults(func=run)


def _operators(text: str | None) -> tuple[str, ...]:
    if not text:
        return OPERATORS
    chosen = tuple(t.strip() for t in text.split(",") if t.strip())
    unknown = [t for t in chosen if t not in OPERATORS]
    if unknown:
        raise UsageError(f"unknown operator {unknown[0]!r}; operators are {', '.join(OPERATORS)}")
    return chosen


def _patches(directory: str, source: str, path: Path) -> list[Mutant]:
    folder = Path(directory)
    if not folder.is_dir():
        raise UsageError(f"--from {directory}: not a directory")
    files = sorted([*folder.glob("*.diff"), *folder.glob("*.patch")])
    if not files:
        raise UsageError(f"--from {directory}: no *.diff or *.patch file in it")
    out = []
    for f in files:
        try:
            diff = f.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"{f}: cannot be read: {exc}") from None
        targets = patched_files(diff)
        if not targets or any(Path(t).name != path.name for t in targets):
            raise UsageError(
                f"{f}: it must patch {path.name} only, not {', '.join(targets) or 'nothing'}"
            )
        try:
            out.append(external_mutant(f.stem, source, diff))
        except PatchError as exc:
            raise UsageError(f"{f}: does not apply to {path.name}: {exc}") from None
    return out


PROVE_LEFT_OUT = (
    "--checker prove is not available: a Z3 encoding is a separate twin of the model "
    "(properties/proofs/MODEL/), which a mutant of the model's code does not change; what "
    "ties the two is the conformance check (tests/test_smt_conformance.py)"
)


def run(args: argparse.Namespace) -> int:
    if args.checker == "prove":
        raise UsageError(PROVE_LEFT_OUT)
    cls = get_model(args.model)
    variant = args.variant or cls.Config().variant
    if variant not in cls.variants:
        raise UsageError(
            f"{cls.name}: unknown variant {variant!r}; variants are {', '.join(cls.variants)}"
        )
    path = module_path(cls)
    source = path.read_text(encoding="utf-8")
    shown_path = f"models/{path.name}"
    operators = _operators(args.operators)
    if args.patches:
        mutants = _patches(args.patches, source, path)
    else:
        mutants = enumerate_mutants(source, operators)
    note = ""
    distinct: frozenset[str] = frozenset()
    if args.killed_within:
        kills = explorer_kills(cls.name, args.killed_within, safety_properties(cls))
        mutants = [m for m in mutants if m.id in kills]
        distinct = frozenset(kills)
        note = (
            f"the {len(mutants)} the explorer kills through a safety property within "
            f"{args.killed_within} steps"
        )
    enumerated = len(mutants)
    chosen = select(mutants, args.sample, args.seed)
    diffs = {m.id: m.diff(source, shown_path) for m in chosen}
    if args.list:
        for m in chosen:
            print(f"{m.id} {m.function} line {m.line}, {m.operator}: {m.description}")
            print(diffs[m.id])
        print(f"{len(chosen)} of {enumerated} mutants")
        return EXIT_OK
    if args.update_manifest and args.killed_within and args.checker == "explore":
        raise UsageError(
            "--killed-within chooses mutants by the explorer's own record: it cannot "
            "update that record (use it with --checker fuzz)"
        )
    if args.update_manifest and (args.patches or args.operators):
        raise UsageError(
            "--update-manifest records the standard operator set (a --sample is said so): "
            "drop --from and --operators"
        )
    configs, skipped = run_configs(cls.name, variant, args.budget)
    if not configs:
        raise UsageError(
            f"{cls.name} ({variant}): no non-slow manifest entry where it holds to mutate at"
            + (f" ({'; '.join(skipped)})" if skipped else "")
        )
    for out in (args.json, args.html):
        if out and not Path(out).resolve().parent.is_dir():
            raise UsageError(f"{out}: its directory does not exist")
    done = [0]

    def progress(r: MutantResult) -> None:
        done[0] += 1
        if args.verbose:
            sys.stderr.write(f"[{done[0]}/{len(chosen)}] {progress_line(r)}\n")
        elif sys.stderr.isatty():
            sys.stderr.write(f"\r{done[0]}/{len(chosen)} mutants")
            sys.stderr.flush()

    result = mutate(
        cls,
        variant=variant,
        configs=configs,
        skipped=skipped,
        mutants=chosen,
        enumerated=enumerated,
        source=source,
        path=str(path),
        checker=args.checker,
        jobs=args.jobs,
        sample=(args.sample, args.seed) if args.sample and args.sample < enumerated else None,
        fuzzer=teeth_fuzzer() if args.checker == "fuzz" else None,
        distinct=distinct,
        note=note,
        progress=progress,
        address=args.executor,
    )
    result.operators = ("patches",) if args.patches else operators
    if sys.stderr.isatty() and not args.verbose:
        sys.stderr.write("\r" + " " * 40 + "\r")
    triage = None if args.patches else recorded_triage(cls.name, variant, args.checker)
    print(render_text(result, diffs=diffs, triage=triage), end="")
    if args.json:
        write_text_atomic(Path(args.json), dumps(to_json(result, diffs=diffs)))
    if args.html:
        write_text_atomic(Path(args.html), render_html(result, diffs=diffs, triage=triage))
    if args.update_manifest and not result.interrupted:
        print(f"recorded in {update_record(result)}")
    return EXIT_INTERRUPTED if result.interrupted else EXIT_OK
