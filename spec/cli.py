"""The ``hintspec`` command.

Exit codes: 0 all properties hold (``--all``: every expectation met), 1 a property is
violated (or an expectation is not met), 2 bad usage or input, 3 undetermined (a bound hit).
Bad input gives one line on stderr, ``hintspec: error: ...``, and writes nothing.

Sub-commands beyond the core (simulate, fuzz, prove, report, graph, ...) live in their own
``cli_*`` modules, each with a ``register(subparsers)`` function listed in ``EXTENSIONS``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import traceback
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any, NoReturn

from hintspec.configs import config_label, make_config, parse_assignments
from hintspec.errors import ModelError, UsageError
from hintspec.explore import INTERRUPTED, CheckResult, PropertyResult, Verdict, check
from hintspec.manifest import (
    Entry,
    EntryError,
    load_manifest,
    mismatches,
    try_entry,
    update_entries,
)
from hintspec.model import Model
from hintspec.naming import trace_file
from hintspec.progress import Progress
from hintspec.registry import all_models, get_model
from hintspec.render.text import render_trace, state_lines
from hintspec.trace import Trace, read_itf, replay, write_itf, write_text_atomic

EXTENSIONS: list[str] = [
    "hintspec.cli_simulate",
    "hintspec.cli_report",
    "hintspec.cli_graph",
    "hintspec.cli_prove",
]
"""Modules that add sub-commands: each has ``register(subparsers)``."""

EXIT_OK, EXIT_VIOLATED, EXIT_USAGE, EXIT_UNDETERMINED = 0, 1, 2, 3
EXIT_INTERRUPTED = 130
"""Ctrl-C, as a shell reports a process ended by SIGINT (128 + 2)."""
DEFAULT_OUT = "hintspec-out"
"""Where traces go when a command that writes them is given no ``--out``."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit code 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"hintspec: error: {message} (see `{self.prog} --help`)\n")
        raise SystemExit(EXIT_USAGE)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def add_model_arguments(p: argparse.ArgumentParser, *, model_optional: bool = False) -> None:
    """MODEL, --variant and --set, shared by the sub-commands that take a model."""
    p.add_argument("model", nargs="?" if model_optional else None, help="model name")
    p.add_argument("--variant", help="design variant (see `hintspec list`)")
    p.add_argument(
        "--set",
        dest="assignments",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set a config parameter (repeatable)",
    )


def model_from_args(args: argparse.Namespace) -> Model[Any, Any]:
    """The model instance named by MODEL, --variant and --set."""
    cls = get_model(args.model)
    config = make_config(cls, args.variant, parse_assignments(args.assignments))
    return cls(config)


def write_trace(
    trace: Trace, out: Path, model: Model[Any, Any] | None = None, *, tagged: bool = False
) -> Path:
    """Write ``trace`` under ``out`` as ITF and as text (same name, ``.txt``); the ITF path.
    ``tagged``: the name says which checker found it (simulate, fuzz)."""
    path = trace_file(out, trace, tagged=tagged)
    write_itf(trace, path)
    write_text_atomic(path.with_suffix("").with_suffix(".txt"), render_trace(trace, model))
    return path


def write_traces(result: CheckResult, out: Path | None, model: Model[Any, Any]) -> dict[str, str]:
    """Write each violated property's trace (ITF and text) to ``out``; name -> path."""
    paths: dict[str, str] = {}
    if out is None:
        return paths
    for p in result.properties:
        if p.verdict is Verdict.VIOLATED and p.trace is not None:
            paths[p.name] = str(write_trace(p.trace, out, model))
    return paths


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


# -- sub-commands -----------------------------------------------------------------------


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
    from hintspec.configs import config_to_json

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
        from hintspec.render.junit import write_junit

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


def manifest_summary(rows: list[dict[str, Any]], *, as_json: bool) -> int:
    """The end of a manifest run (``check --all``, ``prove --all``): every row as JSON, or
    the count of entries as expected; EXIT_OK if every row has no mismatches."""
    failed = [r for r in rows if r["mismatches"]]
    if as_json:
        print(json.dumps(rows, indent=2))
    else:
        print()
        print(
            f"{len(rows)} entries, {len(rows) - len(failed)} as expected, "
            f"{len(failed)} not as expected"
        )
    return EXIT_OK if not failed else EXIT_VIOLATED


def cmd_show(args: argparse.Namespace) -> int:
    trace = read_itf(Path(args.trace))
    if getattr(args, "html", False):
        from hintspec.render.html import render_trace_html

        out = Path(args.out) if args.out else Path(args.trace).with_suffix("").with_suffix(".html")
        write_text_atomic(out, render_trace_html(trace))
        print(f"wrote {out}")
        return EXIT_OK
    sys.stdout.write(render_trace(trace))
    return EXIT_OK


def cmd_replay(args: argparse.Namespace) -> int:
    trace = read_itf(Path(args.trace))
    result = replay(trace)
    print(result.message)
    return EXIT_OK if result.ok else EXIT_VIOLATED


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="hintspec",
        description="Model-check the Linux guest-memory hinting protocols.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

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
        type=_positive_int,
        default=1,
        metavar="N",
        help="with --all: check N entries at once in separate processes",
    )
    p.add_argument("--update-manifest", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--max-states", type=_positive_int, metavar="N")
    p.add_argument("--max-depth", type=_positive_int, metavar="N")
    p.add_argument("--timeout", type=_positive_float, metavar="S")
    p.add_argument(
        "--engine",
        choices=("auto", "object", "vector"),
        default="auto",
        help="explorer: the object one, the model's vectorised form, or auto (vector if any)",
    )
    p.add_argument(
        "--workers",
        type=_positive_int,
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

    p = sub.add_parser("show", help="render a trace file")
    p.add_argument("trace", help="an .itf.json trace")
    p.add_argument("--html", action="store_true", help="write a self-contained HTML viewer")
    p.add_argument("--out", metavar="FILE", help="with --html: where to write it")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("replay", help="re-execute a trace against the current model")
    p.add_argument("trace", help="an .itf.json trace")
    p.set_defaults(func=cmd_replay)

    for module in EXTENSIONS:
        register: Callable[[Any], None] = importlib.import_module(module).register
        register(sub)
    debug_help = "print the Python traceback when a model's code raises"
    parser.add_argument("--debug", action="store_true", help=debug_help)
    for command in sub.choices.values():
        command.add_argument("--debug", action="store_true", help=debug_help)
    return parser


def report_model_error(error: ModelError, args: argparse.Namespace) -> None:
    """Print the report of model code that raised, after writing its trace (ITF and text)
    under ``--out`` (a directory) or ``hintspec-out/``."""
    out = getattr(args, "out", None)
    directory = Path(out if out and getattr(args, "command", "") != "show" else DEFAULT_OUT)
    model = error.instance
    if error.trace is not None and model is not None:
        error.state_lines = state_lines(model, error.trace.steps[-1].state)
        try:
            error.trace_path = str(write_trace(error.trace, directory, model))
        except OSError as exc:
            sys.stderr.write(f"hintspec: could not write the trace to {directory}: {exc}\n")
    sys.stderr.write(error.report())


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    debug = bool(getattr(args, "debug", False))
    try:
        return func(args)
    except UsageError as exc:
        sys.stderr.write(f"hintspec: error: {exc}\n")
        return EXIT_USAGE
    except ModelError as exc:
        if debug:
            traceback.print_exception(exc)
        report_model_error(exc, args)
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("hintspec: interrupted\n")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    raise SystemExit(main())
