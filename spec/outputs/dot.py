"""Graphviz DOT and SVG of a state graph (:mod:`hintspec.engine.graph`).

DOT: initial states blue, the highlighted trace red and bold, states that break an
invariant filled red, deadlocks octagons, classes and components sized by how many states
they stand for; the graph's caption carries the drawing's notes (what was left out). SVG:
the DOT laid out by Graphviz's ``dot`` (the Debian package ``graphviz``), each node's
tooltip (its ``<title>``) the full state it stands for. Without ``dot`` the SVG is refused
with one line naming the install step; DOT and GraphML need nothing.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from typing import Any

from hintspec.engine.graph import StateGraph
from hintspec.lang.errors import UsageError

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
DOT_MISSING = (
    "Graphviz's `dot` is not installed, so there is no SVG: apt-get install graphviz "
    "(or write --format dot and lay it out elsewhere)"
)
DOT_TIMEOUT = 120.0


def _q(text: Any) -> str:
    """A DOT double-quoted string."""
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _left(text: str) -> str:
    """A DOT label whose lines are left-aligned (``\\l`` ends each line)."""
    body = str(text).replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(line + "\\l" for line in body.split("\n")) + '"'


def caption(sg: StateGraph, title: str) -> str:
    """The title, then one line per note."""
    return "\n".join([title, *sg.notes])


def to_dot(sg: StateGraph, title: str) -> str:
    """Graphviz DOT of the drawing (see the module description)."""
    g = sg.graph
    lines = [
        f"digraph {_q(title)} {{",
        f"  graph [label={_left(caption(sg, title))}, labelloc=t, labeljust=l, "
        'fontname="Helvetica", fontsize=12, rankdir=TB, nodesep=0.25, ranksep=0.4];',
        '  node [shape=box, style="rounded,filled", fillcolor="#ffffff", '
        'fontname="Courier", fontsize=10];',
        '  edge [fontname="Helvetica", fontsize=9, color="#78909c", fontcolor="#37474f"];',
    ]
    for n, d in g.nodes(data=True):
        label, tooltip = d["label"], d["state"]
        if d["violates"]:
            broken = d["violates"].split("; ")
            label += f"\n✗ breaks {len(broken)} invariant" + ("s" if len(broken) > 1 else "")
            tooltip = "breaks: " + "; ".join(broken) + "\n\n" + tooltip
        attrs = [f"label={_left(label)}", f"tooltip={_q(tooltip)}"]
        if d["initial"]:
            attrs.append('fillcolor="#e3f2fd"')
        if d["violates"]:
            attrs.append('fillcolor="#ffcdd2"')
        if d["deadlock"]:
            attrs.append("shape=octagon")
        if d.get("members", 1) > 1:
            attrs.append(f"penwidth={1 + 0.5 * min(math.log10(d['members']), 3):.1f}")
        if d["on_path"]:
            attrs += ['color="#c62828"', "penwidth=2.5"]
        lines.append(f"  {n} [{', '.join(attrs)}];")
    for src, dst, d in g.edges(data=True):
        attrs = [f"label={_q(d['label'])}", f"tooltip={_q(d['label'])}"]
        if d["on_path"]:
            attrs += ['color="#c62828"', 'fontcolor="#c62828"', "penwidth=2.5"]
        lines.append(f"  {src} -> {dst} [{', '.join(attrs)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def dot_available() -> bool:
    return shutil.which("dot") is not None


def to_svg(sg: StateGraph, title: str) -> str:
    """The drawing laid out by ``dot -Tsvg``; each node's ``<title>`` is its full state."""
    exe = shutil.which("dot")
    if exe is None:
        raise UsageError(DOT_MISSING)
    try:
        done = subprocess.run(
            [exe, "-Tsvg"],
            input=to_dot(sg, title),
            capture_output=True,
            text=True,
            timeout=DOT_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise UsageError(
            f"dot took more than {DOT_TIMEOUT:.0f} s to lay the graph out: draw fewer nodes "
            "(--max-nodes, --neighbourhood 0, --project)"
        ) from None
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or ["no message"])[0]
        raise UsageError(f"dot failed to lay the graph out: {first}")
    return with_state_titles(done.stdout, sg)


def with_state_titles(svg: str, sg: StateGraph) -> str:
    """Graphviz titles a node with its id (``s12``); a reader hovering it wants the state."""
    ET.register_namespace("", SVG_NS)
    ET.register_namespace("xlink", XLINK_NS)
    root = ET.fromstring(re.sub(r"<!DOCTYPE[^>]*>", "", svg))
    for group in root.iter(f"{{{SVG_NS}}}g"):
        if group.get("class") != "node":
            continue
        title = group.find(f"{{{SVG_NS}}}title")
        if title is None or title.text not in sg.graph:
            continue
        node = str(title.text)
        data = sg.graph.nodes[node]
        broken = f"breaks: {data['violates']}\n" if data["violates"] else ""
        title.text = f"{node}: {broken}{data['state']}"
        group.set("data-node", node)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
