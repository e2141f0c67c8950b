"""ITF round trip, replay of good and tampered traces, and the text rendering."""

from __future__ import annotations

import json
from pathlib import Path

from hintspec.engine.check import check
from hintspec.engine.results import Verdict
from hintspec.lang.configs import make_config
from hintspec.lang.registry import get_model
from hintspec.traces.files import read_itf, to_itf, write_itf
from hintspec.traces.replay import replay
from hintspec.traces.text import render_trace


def _violation(variant: str):
    cls = get_model("reference_buddy")
    model = cls(make_config(cls, variant))
    result = check(model)
    prop = next(p for p in result.properties if p.verdict is Verdict.VIOLATED)
    assert prop.trace is not None
    return model, prop.trace


def test_itf_round_trip_gives_the_same_trace(tmp_path: Path) -> None:
    _model, trace = _violation("alloc_keeps_reported")
    path = tmp_path / "t.itf.json"
    write_itf(trace, path)
    back = read_itf(path)
    assert back.model == trace.model and back.config == trace.config
    assert [s.state for s in back.steps] == [s.state for s in trace.steps]
    assert [s.action for s in back.steps] == [s.action for s in trace.steps]
    assert [s.args for s in back.steps] == [s.args for s in trace.steps]
    assert back.prop == trace.prop and back.explanation == trace.explanation
    assert to_itf(back) == to_itf(trace)


def test_itf_document_has_the_standard_shape(tmp_path: Path) -> None:
    _model, trace = _violation("isolate_ignores_cap")
    doc = to_itf(trace)
    assert doc["vars"] == ["free", "allocated", "isolated", "reported"]
    assert doc["#meta"]["format"] == "ITF"
    assert doc["#meta"]["model"] == "reference_buddy"
    assert doc["#meta"]["variant"] == "isolate_ignores_cap"
    first = doc["states"][0]
    assert first["free"] == {"#set": [[0, 3]]}
    assert [s["#meta"]["action"] for s in doc["states"][1:]] == [
        "alloc",
        "isolate",
        "free",
        "isolate",
    ]


def test_replay_of_a_good_trace_succeeds(tmp_path: Path) -> None:
    _model, trace = _violation("merge_keeps_reported")
    path = tmp_path / "t.itf.json"
    write_itf(trace, path)
    result = replay(read_itf(path))
    assert result.ok, result.message
    assert "no divergence" in result.message


def test_replay_reports_the_first_diverging_step(tmp_path: Path) -> None:
    _model, trace = _violation("alloc_keeps_reported")
    doc = to_itf(trace)
    doc["states"][2]["#meta"]["args"]["head"] = 4  # a putback of a block that is not isolated
    path = tmp_path / "tampered.itf.json"
    path.write_text(json.dumps(doc))
    result = replay(read_itf(path))
    assert not result.ok and result.step == 2
    assert "not enabled" in result.message


def test_replay_reports_a_state_that_differs(tmp_path: Path) -> None:
    _model, trace = _violation("alloc_keeps_reported")
    doc = to_itf(trace)
    doc["states"][1]["reported"] = {"#set": [0]}
    path = tmp_path / "tampered.itf.json"
    path.write_text(json.dumps(doc))
    result = replay(read_itf(path))
    assert not result.ok and result.step == 1
    assert "differs in reported" in result.message


def test_a_trace_against_a_fixed_design_no_longer_fails() -> None:
    # The bad variant's trace replays step by step on the fixed design, but the property
    # holds at its end: replay says so rather than passing silently.
    _model, trace = _violation("isolate_ignores_cap")
    upstream = get_model("reference_buddy")(make_config(get_model("reference_buddy")))
    result = replay(trace, upstream)
    assert not result.ok


def test_text_rendering_names_the_property_and_shows_only_changes() -> None:
    model, trace = _violation("alloc_keeps_reported")
    text = render_trace(trace, model)
    assert "Violated: 'reported is set only on heads of free blocks'" in text
    assert "frame 0 has PG_reported but is not the head of a free block" in text
    assert "  3  alloc(order=0, head=0)" in text
    assert "frames  Afffffff" in text
    step3 = text[text.index("  3  alloc") :]
    assert "isolated" not in step3.split("Violated")[0]  # unchanged variables are not shown
    assert max(len(line) for line in text.splitlines()) <= 80
