"""``hintspec report``: the design-review report of every model (HTML, Markdown or text).

    hintspec report [--format html|markdown|text] [--out FILE] [--include-slow]
                    [--only MODEL] [--results FILE] [--timeout S] [--no-prove]

Runs the manifest entries (as ``check --all``), writes every violated property's trace and
every witness beside the report in ``<stem>-traces/`` (ITF, text, HTML viewer) together with
``results.json``, then the report in the format ``--format`` names, or else the suffix of
``--out`` (``.html``, ``.md``, ``.txt``; default ``report.html``). The text format is for a
mail: at most 80 columns, no markup, every violation's trace inline. ``--results`` reuses a
previous run instead (that ``results.json``, or the output of ``check --all --json``), e.g.
to write the Markdown of the run an HTML report came from. Exit 0 when every entry is as its
manifest expects, 1 otherwise (the report is written either way), 2 bad usage.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from hintspec.lang.errors import UsageError
from hintspec.lang.project import find_project
from hintspec.lang.registry import get_model
from hintspec.manifests.explorer import load_manifest
from hintspec.outputs.markdown import render_report_markdown
from hintspec.outputs.report import RESULTS_NAME, EntryOutcome, Report, build_report
from hintspec.outputs.report_html import render_report_html
from hintspec.outputs.report_json import load_results, write_results
from hintspec.outputs.report_text import render_report_text
from hintspec.traces.files import write_text_atomic

FORMATS = {
    ".html": "html",
    ".htm": "html",
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".text": "text",
}
SUFFIX = {"html": ".html", "markdown": ".md", "text": ".txt"}
RENDERERS = {
    "html": render_report_html,
    "markdown": render_report_markdown,
    "text": render_report_text,
}


def register(subparsers: Any) -> None:
    """Add the ``report`` sub-command."""
    p = subparsers.add_parser(
        "report", help="design-review report of every model and verdict (HTML, Markdown, text)"
    )
    p.add_argument(
        "--format",
        choices=tuple(SUFFIX),
        help="html (self-contained page), markdown (for the web) or text (80 columns, for a "
        "mail); default: the suffix of --out",
    )
    p.add_argument(
        "--out",
        metavar="FILE",
        help="where to write it (default report.html, or report.<suffix of --format>)",
    )
    p.add_argument("--include-slow", action="store_true", help="slow manifest entries too")
    p.add_argument("--only", action="append", metavar="MODEL", help="only this model (repeatable)")
    p.add_argument(
        "--results",
        metavar="FILE",
        help="reuse a previous run: a report's results.json or `check --all --json` output",
    )
    p.add_argument("--timeout", type=float, metavar="S", help="per manifest entry")
    p.add_argument("--no-prove", action="store_true", help="leave out Z3 proofs")
    p.set_defaults(func=cmd_report)


def _format_and_out(args: argparse.Namespace) -> tuple[str, Path]:
    """The format and the file: --format wins; otherwise the suffix of --out decides."""
    if args.format is not None:
        return args.format, Path(args.out or f"report{SUFFIX[args.format]}")
    out = Path(args.out or "report.html")
    fmt = FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise UsageError(
            f"--out {str(out)!r}: the suffix must be .html, .md or .txt (the format follows "
            "it), or name the format with --format"
        )
    return fmt, out


def _print_entry(e: EntryOutcome) -> None:
    ok = "as expected" if not e.mismatches else "NOT as expected: " + "; ".join(e.mismatches)
    print(
        f"  {e.model}/{e.variant} [{e.config_text}]: {e.verdict}, "
        f"{e.distinct_states:,} states, {e.seconds:.2f} s, {ok}",
        flush=True,
    )


def cmd_report(args: argparse.Namespace) -> int:
    """Build (or reload) the report and write it."""
    fmt, out = _format_and_out(args)
    if out.is_dir():
        raise UsageError(f"--out {str(out)!r} is a directory")
    # Model specs to names (an unknown one is bad input, before anything runs).
    models: list[str] | None = [get_model(n).name for n in args.only] if args.only else None
    if args.timeout is not None and args.timeout <= 0:
        raise UsageError("--timeout must be positive")
    report: Report
    traces = out.parent / f"{out.stem}-traces"
    if args.results:
        report = load_results(Path(args.results), models)
    else:
        entries = [e for e in load_manifest() if args.include_slow or not e.slow]
        if models is None and find_project() is not None:
            models = list(dict.fromkeys(e.model for e in entries))  # the project's models
        print(f"hintspec report: checking {len(entries)} manifest entries", flush=True)
        report = build_report(
            entries,
            traces,
            models=models,
            timeout=args.timeout,
            include_slow=args.include_slow,
            prove=not args.no_prove,
            progress=_print_entry,
        )
        write_results(report, traces / RESULTS_NAME)
    text = RENDERERS[fmt](report, out)
    write_text_atomic(out, text)
    bad = report.not_as_expected
    n = len(report.entries)
    where = "" if args.results else f"; traces and {RESULTS_NAME} in {traces}"
    ok = n - len(bad)
    n_models = f"{len(report.models)} model{'s' if len(report.models) != 1 else ''}"
    print(f"wrote {out}: {n_models}, {n} entries, {ok} as expected{where}")
    for e in bad:
        sys.stderr.write(f"hintspec: {e.label} not as expected: {'; '.join(e.mismatches)}\n")
    return 0 if not bad else 1
