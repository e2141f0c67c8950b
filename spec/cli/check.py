"""``hintspec list`` and ``hintspec check`` (one model, or every manifest entry with ``--all``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any

from hintspec.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    add_model_arguments,
    manifest_summary,
    model_from_args,
    positive_float,
    positive_int,
    write_traces,
)
from hintspec.engine.check import check
from hintspec.engine.progress import Progress
from hintspec.engine.results import INTERRUPTED, CheckResult, PropertyResult, Verdict
from hintspec.lang.configs import config_label, config_to_json, make_config
from hintspec.lang.errors import UsageError
from hintspec.lang.model import Model
from hintspec.lang.registry import all_models, get_model
from hintspec.manifests.explorer import (
    Entry,
    EntryError,
    load_manifest,
    mismatches,
    try_entry,
    update_entries,
)
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
    models = all_models()
    names = [args.model] if args.model else list(models)
    for name in names:
        cls = get_model(name)
        default = cls.Config()
        print(f"{cls.name}: {cls.summary()}")
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
            "--update-manifest needs --include-slow and --only MODEL, so no entry is dropped"
        )
    entries = [e for e in load_manifest() if args.include_slow or not e.slow]
    if args.only:
        for name in args.only:
            get_model(name)  # an unknown name is bad input
        entries = [e for e in entries if e.model in args.only]
    if not entries:
        which = f" for {', '.join(args.only)}" if args.only else ""
        slow = "" if args.include_slow else " (add --include-slow for the slow ones)"
        raise UsageError(f"no manifest entry to check{which}{slow}")
    out = Path(args.out) if args.out else None
    rows: list[tuple[Entry, CheckResult | EntryError, list[str]]] = []
    traces: dict[str, dict[str, str]] = {}
    """entry label -> property -> trace file, for --json and --junit."""
    header = (
        f"{'model':<18} {'variant':<24} {'config':<22} {'expected':<12} {'verdict':<12} "
        f"{'states':>10} {'depth':>5} {'secs':>7}  ok"
    )
    if not args.json:
        print(header)
        print("-" * len(header))
    interrupted = False
    notes: list[str] = []
    with ExitStack() as stack:
        pool: ProcessPoolExecutor | None = None
        if args.jobs > 1:
            pool = stack.enter_context(ProcessPoolExecutor(args.jobs))
            results: Iterable[CheckResult | EntryError] = pool.map(
                partial(try_entry, timeout=args.timeout), entries
            )
        else:
            results = (try_entry(e, timeout=args.timeout) for e in entries)
        try:
            for entry, result in zip(entries, results, strict=False):
                bad = (
                    [result.mismatch]
                    if isinstance(result, EntryError)
                    else mismatches(entry, result)
                )
                rows.append((entry, result, bad))
                if isinstance(result, CheckResult):
                    for note in result.notes:
                        if note not in notes:
                            notes.append(note)
                            sys.stderr.write(f"hintspec: note: {note}\n")
                if out is not None and isinstance(result, CheckResult):
                    model_cls = get_model(entry.model)
                    model = model_cls(make_config(model_cls, entry.variant, entry.config))
                    traces[entry.label] = write_traces(result, out, model)
                if not args.json:
                    _print_row(entry, result, bad)
                if isinstance(result, CheckResult) and result.bound_hit == INTERRUPTED:
                    raise KeyboardInterrupt  # the search stopped on Ctrl-C: so does the run
        except KeyboardInterrupt:
            interrupted = True
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
    if args.junit:
        skipped = [
            e
            for e in load_manifest()
            if e.slow and not args.include_slow and (not args.only or e.model in args.only)
        ]
        write_junit(Path(args.junit), rows, skipped=skipped, traces=traces)
    if args.update_manifest and not interrupted:
        by_model: dict[str, list[tuple[Entry, CheckResult]]] = {}
        for entry, result, _bad in rows:
            if isinstance(result, EntryError):
                raise UsageError(f"{entry.label}: {result.mismatch}; the manifest is unchanged")
            by_model.setdefault(entry.model, []).append((entry, result))
        for model_name, pairs in by_model.items():
            update_entries(model_name, pairs)
    code = manifest_summary(
        [
            {"entry": e.label, "mismatches": b, **_row_json(r, traces.get(e.label, {}))}
            for e, r, b in rows
        ],
        as_json=args.json,
    )
    if interrupted:
        sys.stderr.write(f"hintspec: interrupted after {len(rows)} of {len(entries)} entries\n")
        return EXIT_INTERRUPTED
    return code


def _print_row(entry: Entry, result: CheckResult | EntryError, bad: list[str]) -> None:
    cfg = " ".join(f"{k}={v}" for k, v in entry.config.items()) or "defaults"
    if len(cfg) > 22:
        # The whole configuration, never cut short: it gets a line of its own.
        print(f"{entry.model:<18} {entry.variant:<24} {cfg}")
        lead = f"{'':<18} {'':<24} {'':<22}"
    else:
        lead = f"{entry.model:<18} {entry.variant:<24} {cfg:<22}"
    expected = entry.expect.get("verdict", "?")
    if isinstance(result, EntryError):
        print(f"{lead} {expected:<12} {'error':<12} {'':>10} {'':>5} {result.seconds:>7.2f}  NO")
    else:
        print(
            f"{lead} {expected:<12} {result.verdict.value:<12} "
            f"{result.distinct_states:>10,} {result.depth:>5} {result.seconds:>7.2f}  "
            + ("yes" if not bad else "NO")
        )
        if result.failing:
            print(f"{'':<20}violated: " + "; ".join(result.failing))
    for b in bad:
        print(f"{'':<20}MISMATCH {b}")
    sys.stdout.flush()


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
    p.add_argument("--out", metavar="DIR", help="write traces (ITF and text) here")
    p.add_argument("--json", action="store_true", help="machine-readable result")
    p.add_argument("--junit", metavar="FILE", help="with --all: JUnit XML report")
    p.set_defaults(func=cmd_check)
