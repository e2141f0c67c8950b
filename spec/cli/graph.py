"""``hintspec graph``: the state graph of a small configuration (DOT or GraphML).

    hintspec graph MODEL [--variant V] [--set k=v] --format dot|graphml [--out FILE]
                   [--max-states N] [--property NAME]

The counterexample of the first violated property (or of ``--property``; a ``sometimes``
property gives its witness) is highlighted. A space larger than ``--max-states`` (default
1000) is refused with one line and exit 2: shrink the config with ``--set``. Without
``--out`` the graph goes to stdout.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path
from typing import Any

import networkx as nx
from hintspec.cli.common import add_model_arguments, model_from_args, positive_int
from hintspec.engine.graph import DEFAULT_MAX_STATES, state_graph
from hintspec.lang.configs import config_label
from hintspec.lang.errors import UsageError
from hintspec.outputs.dot import to_dot
from hintspec.traces.files import write_text_atomic


def register(subparsers: Any) -> None:
    """Add the ``graph`` sub-command."""
    p = subparsers.add_parser(
        "graph", help="state graph of a small config (DOT or GraphML), counterexample marked"
    )
    add_model_arguments(p)
    p.add_argument("--format", choices=("dot", "graphml"), default="dot")
    p.add_argument("--out", metavar="FILE", help="write here (default: stdout)")
    p.add_argument(
        "--max-states",
        type=positive_int,
        default=DEFAULT_MAX_STATES,
        metavar="N",
        help=f"refuse larger spaces (default {DEFAULT_MAX_STATES})",
    )
    p.add_argument("--property", metavar="NAME", help="highlight this property's trace")
    p.set_defaults(func=cmd_graph)


def cmd_graph(args: argparse.Namespace) -> int:
    """Build the graph and write it."""
    model = model_from_args(args)
    sg = state_graph(model, max_states=args.max_states, prop=args.property)
    title = f"{model.name}/{model.variant} ({config_label(model.config)})"
    if sg.highlighted is not None and sg.highlighted.prop:
        title += f": {sg.highlighted.kind} for {sg.highlighted.prop!r}"
    if args.format == "dot":
        text = to_dot(sg, title)
    else:
        sg.graph.graph["title"] = title
        buf = io.BytesIO()
        nx.write_graphml(sg.graph, buf, encoding="utf-8")
        text = buf.getvalue().decode("utf-8")
    g = sg.graph
    on_path = sum(1 for _s, _d, d in g.edges(data=True) if d["on_path"])
    summary = f"{g.number_of_nodes()} states, {g.number_of_edges()} transitions" + (
        f", {on_path} highlighted ({sg.highlighted.prop})" if sg.highlighted else ""
    )
    if args.out:
        if Path(args.out).is_dir():
            raise UsageError(f"--out {args.out!r} is a directory")
        write_text_atomic(Path(args.out), text)
        print(f"wrote {args.out}: {summary}")
    else:
        sys.stdout.write(text)
        sys.stderr.write(f"hintspec graph: {summary}\n")
    return 0
