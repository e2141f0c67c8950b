"""Graphviz DOT of a state graph (:mod:`hintspec.engine.graph`), the highlighted trace in red."""

from __future__ import annotations

from typing import Any

from hintspec.engine.graph import StateGraph


def _q(text: Any) -> str:
    """A DOT double-quoted string."""
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(sg: StateGraph, title: str) -> str:
    """Graphviz DOT: initial states blue, the highlighted path red and bold, states that
    break an invariant filled red, deadlocks octagons."""
    g = sg.graph
    lines = [
        f"digraph {_q(title)} {{",
        f'  graph [label={_q(title)}, labelloc=t, fontname="Helvetica", rankdir=TB];',
        '  node [shape=box, style="rounded,filled", fillcolor="#ffffff", '
        'fontname="Courier", fontsize=10];',
        '  edge [fontname="Helvetica", fontsize=9, color="#90a4ae"];',
    ]
    for n, d in g.nodes(data=True):
        attrs = [f"label={_q(d['label'])}", f"tooltip={_q(d['state'])}"]
        if d["initial"]:
            attrs.append('fillcolor="#e3f2fd"')
        if d["violates"]:
            attrs.append('fillcolor="#ffcdd2"')
            attrs.append(f"xlabel={_q(d['violates'])}")
        if d["deadlock"]:
            attrs.append("shape=octagon")
        if d["on_path"]:
            attrs += ['color="#c62828"', "penwidth=2.5"]
        lines.append(f"  {n} [{', '.join(attrs)}];")
    for src, dst, d in g.edges(data=True):
        attrs = [f"label={_q(d['label'])}"]
        if d["on_path"]:
            attrs += ['color="#c62828"', 'fontcolor="#c62828"', "penwidth=2.5"]
        lines.append(f"  {src} -> {dst} [{', '.join(attrs)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"
