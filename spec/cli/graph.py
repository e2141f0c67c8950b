"""``hintspec graph``: a state graph a reviewer can read, at the model's default size.

    hintspec graph MODEL [--variant V] [--set k=v] [--format dot|graphml|svg] [--out FILE]
                   [--property NAME] [--neighbourhood K] [--project VAR,VAR] [--scc]
                   [--full] [--max-nodes N] [--max-states N]

Without options: the whole space when it has at most ``--max-nodes`` states (default 150),
else the neighbourhood of the first violated property's trace (every state within
``--neighbourhood`` steps of it, default 1), else the first states in breadth-first order.
``--project worker,isolated`` draws the quotient of all reachable states by those
variables; ``--scc`` the strongly connected components (of the quotient, with
``--project``). A drawing that would be too large is cut, with a note in its caption and on
stderr: nothing is refused for its size. The format follows ``--format``, else the suffix
of ``--out`` (``.dot``/``.gv``, ``.graphml``, ``.svg``), else DOT; SVG needs Graphviz's
``dot``. Without ``--out`` the graph goes to stdout.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path
from typing import Any

import networkx as nx
from hintspec.cli.common import (
    add_model_arguments,
    model_from_args,
    non_negative_int,
    positive_int,
)
from hintspec.engine.graph import DEFAULT_MAX_NODES, DEFAULT_MAX_STATES, StateGraph, state_graph
from hintspec.lang.configs import config_label
from hintspec.lang.errors import UsageError
from hintspec.outputs.dot import caption, to_dot, to_svg
from hintspec.traces.files import write_text_atomic

SUFFIXES = {".dot": "dot", ".gv": "dot", ".graphml": "graphml", ".svg": "svg"}


def register(subparsers: Any) -> None:
    """Add the ``graph`` sub-command."""
    p = subparsers.add_parser(
        "graph",
        help="state graph: whole, a trace's neighbourhood, a projection or the SCCs "
        "(DOT, GraphML, SVG)",
    )
    add_model_arguments(p)
    p.add_argument(
        "--format", choices=("dot", "graphml", "svg"), help="default: the suffix of --out"
    )
    p.add_argument("--out", metavar="FILE", help="write here (default: stdout)")
    p.add_argument("--property", metavar="NAME", help="centre on this property's trace")
    shape = p.add_mutually_exclusive_group()
    shape.add_argument(
        "--neighbourhood",
        type=non_negative_int,
        metavar="K",
        help="the trace and every state within K steps of it (default when the space is "
        "large: K=1)",
    )
    shape.add_argument(
        "--full", action="store_true", help="every reachable state (cut at --max-nodes)"
    )
    p.add_argument(
        "--project",
        metavar="VAR,VAR",
        help="one node per class of states equal on these variables (the quotient graph)",
    )
    p.add_argument(
        "--scc", action="store_true", help="the strongly connected components (condensation)"
    )
    p.add_argument(
        "--max-nodes",
        type=positive_int,
        default=DEFAULT_MAX_NODES,
        metavar="N",
        help=f"draw at most about N nodes (default {DEFAULT_MAX_NODES})",
    )
    p.add_argument(
        "--max-states",
        type=positive_int,
        default=DEFAULT_MAX_STATES,
        metavar="N",
        help=f"explore at most N states (default {DEFAULT_MAX_STATES:,})",
    )
    p.set_defaults(func=cmd_graph)


def _format(args: argparse.Namespace) -> str:
    if args.format:
        return str(args.format)
    if args.out:
        fmt = SUFFIXES.get(Path(args.out).suffix.lower())
        if fmt is None:
            raise UsageError(
                f"--out {args.out!r}: name the format with --format, or use a suffix "
                f"{', '.join(SUFFIXES)}"
            )
        return fmt
    return "dot"


def _mode(args: argparse.Namespace) -> str:
    if args.scc:
        if args.neighbourhood is not None:
            raise UsageError("--scc draws components of the whole space: not with --neighbourhood")
        return "scc"
    if args.project:
        if args.neighbourhood is not None:
            raise UsageError(
                "--project draws a quotient of the whole space: not with --neighbourhood"
            )
        return "quotient"
    if args.neighbourhood is not None:
        return "neighbourhood"
    return "full" if args.full else "auto"


def render(sg: StateGraph, fmt: str, title: str) -> str:
    if fmt == "dot":
        return to_dot(sg, title)
    if fmt == "svg":
        return to_svg(sg, title)
    sg.graph.graph = {"title": caption(sg, title)}
    buf = io.BytesIO()
    nx.write_graphml(sg.graph, buf, encoding="utf-8")
    return buf.getvalue().decode("utf-8")


def cmd_graph(args: argparse.Namespace) -> int:
    """Build the drawing and write it."""
    fmt = _format(args)
    mode = _mode(args)
    if args.out and Path(args.out).is_dir():
        raise UsageError(f"--out {args.out!r} is a directory")
    model = model_from_args(args)
    project = tuple(v.strip() for v in (args.project or "").split(",") if v.strip())
    if args.project is not None and not project:
        raise UsageError("--project needs variable names, e.g. --project worker,isolated")
    sg = state_graph(
        model,
        mode=mode,
        k=1 if args.neighbourhood is None else args.neighbourhood,
        project=project,
        max_nodes=args.max_nodes,
        max_states=args.max_states,
        prop=args.property,
    )
    title = f"{model.name}/{model.variant} ({config_label(model.config)})"
    if sg.highlighted is not None and sg.highlighted.prop:
        title += f": {sg.highlighted.kind} for {sg.highlighted.prop!r}"
    text = render(sg, fmt, title)
    g = sg.graph
    on_path = sum(1 for _s, _d, d in g.edges(data=True) if d["on_path"])
    summary = f"{sg.mode}: {g.number_of_nodes()} nodes, {g.number_of_edges()} edges" + (
        f", {on_path} highlighted ({sg.highlighted.prop})" if sg.highlighted else ""
    )
    if args.out:
        write_text_atomic(Path(args.out), text)
        print(f"wrote {args.out}: {summary}")
        for note in sg.notes:
            print(f"  note: {note}")
    else:
        sys.stdout.write(text)
        sys.stderr.write(f"hintspec graph: {summary}\n")
        for note in sg.notes:
            sys.stderr.write(f"  note: {note}\n")
    return 0
