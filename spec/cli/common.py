"""What the sub-commands share: exit codes, argument types, model arguments, trace files."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, NoReturn

from hintspec.engine.results import CheckResult, Verdict
from hintspec.lang.configs import make_config, parse_assignments
from hintspec.lang.errors import ModelError
from hintspec.lang.model import Model
from hintspec.lang.registry import get_model
from hintspec.traces.files import write_itf, write_text_atomic
from hintspec.traces.naming import trace_file
from hintspec.traces.text import render_trace
from hintspec.traces.trace import Trace
from hintspec.traces.values import state_lines

EXIT_OK, EXIT_VIOLATED, EXIT_USAGE, EXIT_UNDETERMINED = 0, 1, 2, 3
EXIT_INTERRUPTED = 130
"""Ctrl-C, as a shell reports a process ended by SIGINT (128 + 2)."""


DEFAULT_OUT = "hintspec-out"
"""Where traces go when a command that writes them is given no ``--out``."""


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit code 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"hintspec: error: {message} (see `{self.prog} --help`)\n")
        raise SystemExit(EXIT_USAGE)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def add_model_arguments(p: argparse.ArgumentParser, *, model_optional: bool = False) -> None:
    """MODEL, --variant and --set, shared by the sub-commands that take a model."""
    p.add_argument(
        "model",
        nargs="?" if model_optional else None,
        help="model name, .py file, package.module:Class or entry point",
    )
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
