"""``hintspec show`` (a trace as text or a self-contained HTML page) and ``hintspec replay``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from hintspec.cli.common import EXIT_OK, EXIT_VIOLATED
from hintspec.outputs.html import render_trace_html
from hintspec.traces.files import read_itf, write_text_atomic
from hintspec.traces.replay import replay
from hintspec.traces.text import render_trace


def cmd_show(args: argparse.Namespace) -> int:
    trace = read_itf(Path(args.trace))
    if getattr(args, "html", False):
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


def register(subparsers: Any) -> None:
    """Add ``show`` and ``replay``."""
    sub = subparsers
    p = sub.add_parser("show", help="render a trace file")
    p.add_argument("trace", help="an .itf.json trace")
    p.add_argument("--html", action="store_true", help="write a self-contained HTML viewer")
    p.add_argument("--out", metavar="FILE", help="with --html: where to write it")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("replay", help="re-execute a trace against the current model")
    p.add_argument("trace", help="an .itf.json trace")
    p.set_defaults(func=cmd_replay)
