"""``hintspec list`` and ``hintspec check`` (one model, or every manifest entry with ``--all``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from hintspec.cli.common import (
    DEFAULT_OUT,
    EXIT_INTERRUPTED,
    EXIT_OK,
    add_model_arguments,
    manifest_summary,
    model_from_args,
    positive_float,
    positive_int,
    write_traces,
)
from hintspec.cli.manifest import report_update, run_entries, select_entries, update_from_run
from hintspec.engine.check import check
from hintspec.engine.fingerprints import FINGERPRINT_BITS
from hintspec.engine.progress import Progress
from hintspec.engine.results import INTERRUPTED, CheckResult, PropertyResult, Verdict
from hintspec.lang.configs import config_label, config_to_json
from hintspec.lang.errors import UsageError
from hintspec.lang.model import Model
from hintspec.lang.registry import get_model, known_models, origin
from hintspec.manifests.explorer import EntryError, load_manifest
from hintspec.outputs.junit import write_junit
from hintspec.traces.text import render_trace


def result_json(result: CheckResult, paths: dict[str, str]) -> dict[str, Any]:
    return {
        "model": result.model,
        "variant": result.variant,
        "config": result.config,
        "verdict": result.verdict.value,
        "distinct_states": result.distinct_states,
        "transitions": result.transitions,
        "depth": result.depth,
        "seconds": round(result.seconds, 3),
        "engine": result.engine,
        "bound_hit": result.bound_hit,
        "never_fired": result.never_fired,
        **_fingerprint_json(result),
        "properties": [
            {
                "name": p.name,
                "kind": p.kind,
                "verdict": p.verdict.value,
                "explanation": p.explanation,
                "trace_length": len(p.trace) if p.trace is not None else None,
                "trace": paths.get(p.name),
            }
            for p in result.properties
        ],
    }


def _fingerprint_json(result: CheckResult) -> dict[str, Any]:
    if not result.fingerprints:
        return {}
    per_state = result.bytes_per_state
    return {
        "fingerprints": {
            "bits": FINGERPRINT_BITS,
            "bytes_per_state": None if per_state is None else round(per_state, 1),
            "collision_probability": result.collision_probability,
        }
    }


def fingerprint_line(result: CheckResult) -> str:
    """How a fingerprint search stored its states, and the chance it missed one."""
    per_state = result.bytes_per_state
    stored = "" if per_state is None else f", {per_state:,.0f} bytes per state"
    return (
        f"  {FINGERPRINT_BITS}-bit fingerprints{stored}; probability of a collision "
        f"(a state missed) at most {result.collision_probability:.1e}"
    )


def _verdict_cell(p: PropertyResult) -> str:
    if p.verdict is Verdict.VIOLATED:
        return "VIOLATED"
    if p.verdict is Verdict.VACUOUS:
        return "vacuous"
    if p.verdict is Verdict.UNDETERMINED:
        return "undetermined"
    return "witnessed" if p.kind == "sometimes" else "holds"


def render_result(result: CheckResult, model: Model[Any, Any], paths: dict[str, str]) -> str:
    lines = [
        f"hintspec check {result.model} (variant {result.variant}; {config_label(model.config)})",
        f"  {result.distinct_states:,} distinct states, {result.transitions:,} transitions, "
        f"depth {result.depth}, {result.seconds:.2f} s ({result.states_per_second:,.0f} states/s,"
        f" {result.engine} engine)",
        "  search complete" if result.complete else f"  search INCOMPLETE: {result.bound_hit}",
        *([fingerprint_line(result)] if result.fingerprints else []),
        "",
    ]
    for p in result.properties:
        extra = ""
        if p.trace is not None:
            what = "witness" if p.kind == "sometimes" else "trace"
            extra = f"  [{what}: {len(p.trace)} steps]"
        lines.append(f"  {_verdict_cell(p):<13}{p.kind:<10}{p.name}{extra}")
        if p.verdict is not Verdict.HOLDS and p.explanation:
            lines.append(f"  {'':<13}{'':<10}  {p.explanation}")
        if p.name in paths:
            lines.append(f"  {'':<13}{'':<10}  -> {paths[p.name]}")
    if result.never_fired:
        lines.append("")
        lines.append("  actions that never fired: " + ", ".join(result.never_fired))
    lines.append("")
    for p in result.properties:
        if p.verdict is Verdict.VIOLATED and p.trace is not None:
            lines.append(render_trace(p.trace, model))
    lines.append(f"Result: {result.verdict.value.upper()}")
    return "\n".join(lines) + "\n"


def cmd_list(args: argparse.Namespace) -> int:
    found = [(args.model, get_model(args.model))] if args.model else known_models()
    for spec, cls in found:
        if isinstance(cls, UsageError):
            print(f"{spec}: cannot be loaded: {cls}")
            print()
            continue
        default = cls.Config()
        where = origin(cls)
        print(f"{cls.name}: {cls.summary()}")
        print(f"  from: {where.kind} {where.where}")
        print(f"  config: {json.dumps(_config_dict(default))}")
        if cls.reference_config:
            print(f"  reference config: {json.dumps(dict(cls.reference_config))}")
        print("  variants:")
        for v, doc in cls.variants.items():
            print(f"    {v}: {doc.strip().splitlines()[0] if doc.strip() else ''}")
        print("  actions: " + ", ".join(a.name for a in cls.actions))
        print("  properties:")
        for prop in cls.properties:
            print(f"    [{prop.kind.value}] {prop.name}")
        print()
    return EXIT_OK


def _config_dict(config: Any) -> dict[str, Any]:
    return config_to_json(config)


def cmd_check(args: argparse.Namespace) -> int:
    if args.all:
        if args.model:
            raise UsageError("give either MODEL or --all, not both")
        return _check_all(args)
    if not args.model:
        raise UsageError("check needs a MODEL, or --all for every manifest entry")
    model = model_from_args(args)
    out = Path(args.out) if args.out else None
    progress = Progress(f"{model.name}/{model.variant}")
    result = check(
        model,
        max_states=args.max_states,
        max_depth=args.max_depth,
        timeout=args.timeout,
        progress=progress,
        engine=args.engine,
        symmetry=not args.no_symmetry,
        workers=args.workers,
        fingerprints=args.fingerprints,
        spill_after=args.spill_frontier,
    )
    for note in result.notes:
        sys.stderr.write(f"hintspec: note: {note}\n")
    paths = write_traces(result, out, model)
    if args.json:
        print(json.dumps(result_json(result, paths), indent=2))
    else:
        sys.stdout.write(render_result(result, model, paths))
    if result.bound_hit == INTERRUPTED:
        sys.stderr.write("hintspec: interrupted: the figures above are partial\n")
        return EXIT_INTERRUPTED
    return result.exit_code()


def _check_all(args: argparse.Namespace) -> int:
    if args.update_manifest and (not args.include_slow or args.only is None):
        raise UsageError(
            "--update-manifest needs --include-slow and --only MODEL, so no entry is dropped "
            "(or use `hintspec manifest update`)"
        )
    entries = select_entries(args.only, args.include_slow)
    out = Path(args.out) if args.out else None
    if out is None and args.junit:
        out = Path(DEFAULT_OUT)  # a JUnit failure names its trace file
    run = run_entries(
        entries,
        jobs=args.jobs,
        timeout=args.timeout,
        out=out,
        show=not args.json,
        fingerprints=args.fingerprints,
        address=args.executor,
    )
    if args.junit:
        only = {get_model(n).name for n in args.only or []}
        skipped = [
            e
            for e in load_manifest()
            if e.slow and not args.include_slow and (not only or e.model in only)
        ]
        write_junit(Path(args.junit), run.rows, skipped=skipped, traces=run.traces)
    code = manifest_summary(
        [
            {"entry": e.label, "mismatches": b, **_row_json(r, run.traces.get(e.label, {}))}
            for e, r, b in run.rows
        ],
        as_json=args.json,
    )
    if run.interrupted:
        sys.stderr.write(f"hintspec: interrupted after {len(run.rows)} of {run.planned} entries\n")
        return EXIT_INTERRUPTED
    if args.update_manifest:
        # The hidden flag of old: `hintspec manifest update` does the same, with a diff.
        return report_update(update_from_run(run), written=True)
    return code


def _row_json(result: CheckResult | EntryError, paths: dict[str, str]) -> dict[str, Any]:
    if isinstance(result, EntryError):
        return {"verdict": "error", "error": result.summary, "seconds": round(result.seconds, 3)}
    return result_json(result, paths)


def register(subparsers: Any) -> None:
    """Add ``list`` and ``check``."""
    sub = subparsers
    p = sub.add_parser("list", help="models, variants, properties and default configs")
    p.add_argument("model", nargs="?", help="only this model")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("check", help="explore a model exhaustively (or --all manifest entries)")
    add_model_arguments(p, model_optional=True)
    p.add_argument("--all", action="store_true", help="check every manifest entry")
    p.add_argument("--include-slow", action="store_true", help="with --all: slow entries too")
    p.add_argument(
        "--only", action="append", metavar="MODEL", help="with --all: only this model's entries"
    )
    p.add_argument(
        "--jobs",
        type=positive_int,
        default=1,
        metavar="N",
        help="with --all: check N entries at once in separate processes",
    )
    p.add_argument(
        "--executor",
        metavar="ADDRESS",
        help="with --all: check the entries on the workers of the Dask cluster whose "
        "scheduler is at ADDRESS (tcp://HOST:PORT; needs hintspec[distributed])",
    )
    p.add_argument("--update-manifest", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--max-states", type=positive_int, metavar="N")
    p.add_argument("--max-depth", type=positive_int, metavar="N")
    p.add_argument("--timeout", type=positive_float, metavar="S")
    p.add_argument(
        "--engine",
        choices=("auto", "object", "vector"),
        default="auto",
        help="explorer: the object one, the model's vectorised form, or auto (vector if any)",
    )
    p.add_argument(
        "--workers",
        type=positive_int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="threads for the vector engine (default: the number of CPUs)",
    )
    p.add_argument(
        "--no-symmetry",
        action="store_true",
        help="store every state, not one per symmetry class (for models that declare one)",
    )
    p.add_argument(
        "--fingerprints",
        action="store_true",
        help="keep 64-bit fingerprints of visited states, not the states (less memory; "
        "prints the collision probability)",
    )
    p.add_argument(
        "--spill-frontier",
        type=positive_int,
        metavar="N",
        help="with --fingerprints: keep about N frontier states in memory, the rest in a "
        "temporary file (TMPDIR)",
    )
    p.add_argument("--out", metavar="DIR", help="write traces (ITF and text) here")
    p.add_argument("--json", action="store_true", help="machine-readable result")
    p.add_argument("--junit", metavar="FILE", help="with --all: JUnit XML report")
    p.set_defaults(func=cmd_check)
