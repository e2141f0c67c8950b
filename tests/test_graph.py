"""``hintspec graph``: whole spaces, a trace's neighbourhood, quotients, SCCs; DOT, GraphML,
SVG; every model's default size drawn, never refused."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
from hintspec.cli.app import main
from hintspec.engine.check import check
from hintspec.engine.graph import DEFAULT_MAX_NODES, state_graph
from hintspec.lang.configs import config_overrides, make_config
from hintspec.lang.model import PropertyKind
from hintspec.lang.registry import all_models, get_model
from hintspec.manifests.explorer import load_manifest
from hintspec.outputs.dot import to_dot, to_svg
from hintspec.traces.values import safe_view
from toy_hinting import Config, ToyHinting

SVG = "{http://www.w3.org/2000/svg}"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def buddy(frames: int = 8, variant: str = "upstream") -> Any:
    cls = get_model("reference_buddy")
    return cls(cls.Config(frames=frames, variant=variant))


def test_a_small_space_is_drawn_whole_and_counts_match_the_explorer() -> None:
    model = buddy(4)
    sg = state_graph(model)
    result = check(model)
    assert sg.mode == "full" and sg.notes == []
    assert sg.graph.number_of_nodes() == result.distinct_states == 27
    assert sg.graph.number_of_edges() == result.transitions == 88
    assert sg.highlighted is None


def test_a_large_space_shows_the_counterexample_and_its_neighbourhood() -> None:
    sg = state_graph(buddy(variant="isolate_ignores_cap"))  # 731 states
    g = sg.graph
    assert sg.mode == "neighbourhood"
    assert sg.notes == ["the trace and every state within 1 step(s) of it"]
    path_nodes = [n for n, d in g.nodes(data=True) if d["on_path"]]
    path_edges = sorted(d["label"] for _s, _t, d in g.edges(data=True) if d["on_path"])
    assert len(path_nodes) == 5
    assert path_edges == sorted(
        [
            "alloc(order=0, head=0)",
            "isolate(head=4, order=2)",
            "free(head=0, order=0)",
            "isolate(head=0, order=2)",
        ]
    )
    # Every drawn state is on the trace or one step from one of its states.
    on_trace = set(path_nodes)
    for n in g.nodes:
        assert n in on_trace or any(p in on_trace for p in g.predecessors(n)), n
    violating = [n for n, d in g.nodes(data=True) if d["violates"]]
    assert violating and all("at most CAP" in g.nodes[n]["violates"] for n in violating)


def test_the_neighbourhood_shrinks_to_fit_with_a_note() -> None:
    model = buddy(variant="isolate_ignores_cap")
    wide = state_graph(model, mode="neighbourhood", k=2, max_nodes=1000)
    narrow = state_graph(model, mode="neighbourhood", k=2, max_nodes=30)
    assert wide.graph.number_of_nodes() > 30
    assert narrow.graph.number_of_nodes() <= 30
    assert narrow.notes == [
        "2 steps around the trace would draw more than 30 states (--max-nodes): drawn 1 step "
        "around it"
    ]


def test_a_lasso_is_marked_with_its_closing_edge() -> None:
    model = ToyHinting(Config(variant="unfair_host"))
    sg = state_graph(model, prop="a hint is eventually taken back")
    dot = to_dot(sg, "toy")
    marked = [line for line in dot.splitlines() if "->" in line and "penwidth=2.5" in line]
    # hint(0), alloc(1), and the closing free(1) back to the cycle's start
    assert len(marked) == 3
    assert any('label="free(page=1)"' in line for line in marked)
    assert dot.startswith('digraph "toy" {') and dot.rstrip().endswith("}")


def test_the_quotient_keeps_every_state_in_some_class() -> None:
    model = buddy()
    sg = state_graph(model, project=("isolated",))
    g = sg.graph
    result = check(model)
    assert sg.mode == "quotient"
    assert sum(d["members"] for _n, d in g.nodes(data=True)) == result.distinct_states == 730
    # One class per value of `isolated` among the reachable states.
    values = set()
    seen, todo = set(), list(model.initial_states())
    while todo:
        s = todo.pop()
        if s in seen:
            continue
        seen.add(s)
        values.add(str(safe_view(model, s)["isolated"]))
        todo += [t for _a, _x, t in model.successors(s)]
    assert g.number_of_nodes() == len(values)
    labels = [d["label"].splitlines()[0] for _n, d in g.nodes(data=True)]
    assert all(label.startswith("isolated=") for label in labels)
    assert "730 states in" in sg.notes[0]


def test_the_condensation_puts_a_lasso_cycle_in_one_component() -> None:
    model = ToyHinting(Config(variant="unfair_host"))
    sg = state_graph(model, mode="scc", prop="a hint is eventually taken back")
    full = state_graph(model, mode="full")
    sccs = list(nx.strongly_connected_components(full.graph))
    assert sg.graph.number_of_nodes() == len(sccs)
    assert nx.is_directed_acyclic_graph(sg.graph)
    trace = sg.highlighted
    assert trace is not None and trace.loop is not None
    marked = [d for _n, d in sg.graph.nodes(data=True) if d["on_path"]]
    cycle_states = {str(s.state) for s in trace.steps[trace.loop :]}
    assert any(d["members"] >= len(cycle_states) for d in marked)


def default_violation(name: str) -> Any:
    """The first violated manifest entry of ``name`` at its default configuration (else,
    for a model whose bad variants all need another setting, its first violated non-slow
    entry)."""
    cls = get_model(name)
    defaults = config_overrides(cls.Config())
    fallback = None
    for e in load_manifest():
        if e.model != name or e.slow or e.expect.get("verdict") != "violated":
            continue
        config = make_config(cls, e.variant, e.config)
        safety = {p.name for p in cls.properties_of(PropertyKind.ALWAYS)}
        if fallback is None and safety & set(e.expect.get("failing", [])):
            fallback = (cls(config), e)
        if {k: v for k, v in config_overrides(config).items() if k != "variant"} == {
            k: v for k, v in defaults.items() if k != "variant"
        }:
            return cls(config), e
    if fallback is not None:
        return fallback
    raise AssertionError(f"{name}: no violated entry at the default configuration")


@pytest.mark.parametrize("name", sorted(all_models()))
def test_every_model_draws_a_violation_at_its_default_size(name: str) -> None:
    model, entry = default_violation(name)
    sg = state_graph(model, max_states=entry.max_states or 500_000)
    g = sg.graph
    trace = sg.highlighted
    assert trace is not None and trace.prop in entry.expect["failing"]
    on_path = [n for n, d in g.nodes(data=True) if d["on_path"]]
    assert len(on_path) == len({str(s.state) for s in trace.steps})
    # Readable: few nodes, short labels, every node's tooltip the full state.
    assert g.number_of_nodes() <= max(DEFAULT_MAX_NODES, len(on_path))
    for _n, d in g.nodes(data=True):
        assert all(len(line) <= 60 for line in d["label"].splitlines()), d["label"]
        assert "=" in d["state"]
    if shutil.which("dot"):
        svg = to_svg(sg, name)
        root = ET.fromstring(svg.split("?>", 1)[1])
        nodes = [e for e in root.iter(f"{SVG}g") if e.get("class") == "node"]
        assert len(nodes) == g.number_of_nodes()
        for e in nodes:
            title = e.find(f"{SVG}title")
            assert title is not None and title.text is not None
            node = e.get("data-node")
            assert node is not None and g.nodes[node]["state"] in title.text


# -- the command -------------------------------------------------------------------------------


def test_graph_cli_writes_graphml_and_says_what_it_drew(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "g.graphml"
    argv = ["graph", "reference_buddy", "--variant", "isolate_ignores_cap", "--out", str(out)]
    code, stdout, _ = run(argv, capsys)
    assert code == 0
    first, note = stdout.splitlines()
    assert re.fullmatch(
        rf"wrote {re.escape(str(out))}: neighbourhood: \d+ nodes, \d+ edges, 4 highlighted "
        r"\(at most CAP blocks are isolated\)",
        first,
    )
    assert note == "  note: the trace and every state within 1 step(s) of it"
    g = nx.read_graphml(out)
    assert sum(1 for _n, d in g.nodes(data=True) if d["on_path"]) == 5
    assert "within 1 step" in g.graph["title"]


def test_graph_cli_cuts_a_big_space_with_a_note(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        ["graph", "reference_buddy", "--format", "dot", "--max-nodes", "100"], capsys
    )
    assert code == 0 and out.startswith("digraph")
    assert len(re.findall(r"^  s\d+ \[", out, flags=re.M)) == 100  # node lines
    assert "note: 730 reachable states: the first 100 in breadth-first order are drawn" in err


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_graph_cli_svg(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "q.svg"
    argv = ["graph", "reference_buddy", "--project", "isolated,reported", "--out", str(out)]
    code, stdout, _ = run(argv, capsys)
    assert code == 0 and "quotient:" in stdout
    svg = out.read_text()
    assert svg.startswith("<?xml") and "<svg" in svg and "isolated=" in svg


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--project", "nosuch"], "--project: reference_buddy has no variable 'nosuch'"),
        (["--project", ","], "--project needs variable names"),
        (["--scc", "--neighbourhood", "1"], "--scc draws components of the whole space"),
        (["--out", "g.png"], "name the format with --format"),
        (["--neighbourhood", "-1"], "must not be negative"),
        (["--property", "nosuch"], "no property 'nosuch'"),
    ],
)
def test_graph_bad_input(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [a.replace("g.png", str(tmp_path / "g.png")) for a in argv]
    code, out, err = run(["graph", "reference_buddy", *argv], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err
    assert list(tmp_path.iterdir()) == []


def test_svg_without_graphviz_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    out = tmp_path / "g.svg"
    code, _, err = run(["graph", "reference_buddy", "--out", str(out)], capsys)
    assert code == 2
    assert err == (
        "hintspec: error: Graphviz's `dot` is not installed, so there is no SVG: apt-get "
        "install graphviz (or write --format dot and lay it out elsewhere)\n"
    )
    assert not out.exists()
