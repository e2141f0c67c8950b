"""The checker never hangs, crashes or passes silently.

Each test here names one way it used to: model code that raised gave a bare traceback;
a frame map that raised took the trace printer down with it; a selection that matched
nothing passed; ``prove --variant`` proved a design the encoding does not model; trace
file names cut configuration values short; a plain install without numpy crashed; Ctrl-C
left no statistics. (Bounded solver calls: ``tests/test_smt_isolation.py``; bad input:
``tests/test_bad_input.py``.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hintspec.cli.app import main
from hintspec.engine.check import check
from hintspec.lang import registry
from hintspec.lang.configs import make_config
from hintspec.lang.registry import get_model
from hintspec.models.reference_buddy import ReferenceBuddy
from hintspec.traces.files import read_itf
from hintspec.traces.naming import trace_file
from toy_models import Faulty

ROOT = Path(__file__).resolve().parent.parent


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def with_models(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Add models to the registry for one test (a dict the test may add to)."""
    extra: dict[str, Any] = {"toy_faulty": Faulty}
    real = dict(registry.all_models())
    monkeypatch.setattr(registry, "all_models", lambda: {**real, **extra})
    yield extra


# -- model code that raises is a report, not a traceback ------------------------------


def test_an_action_that_raises_gives_a_report_and_a_trace(
    with_models: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run(["check", "toy_faulty", "--out", str(tmp_path)], capsys)
    assert code == 2
    assert out == ""
    assert "Traceback" not in err
    assert "model toy_faulty (variant upstream; defaults) raised in action 'write'" in err
    assert "IndexError: list assignment index out of range" in err
    assert "toy_models.py:" in err and "slots[s.value] = 1" in err  # the model's line
    assert "value = 3" in err  # the state it raised in
    (itf,) = tmp_path.glob("*.itf.json")
    assert str(itf) in err
    assert itf.with_suffix("").with_suffix(".txt").exists()
    trace = read_itf(itf)
    assert [s.state.value for s in trace.steps] == [0, 1, 2, 3]
    code, out, _ = run(["replay", str(itf)], capsys)
    assert code == 0 and "no divergence" in out
    code, out, _ = run(["show", str(itf)], capsys)
    assert code == 0 and "The model raised: action 'write'" in out


def test_debug_prints_the_traceback(
    with_models: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(["check", "toy_faulty", "--out", str(tmp_path), "--debug"], capsys)
    assert code == 2
    assert "Traceback" in err and "raised in action 'write'" in err


def test_a_property_that_raises_is_named(
    with_models: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(
        ["check", "toy_faulty", "--set", "fault=property", "--out", str(tmp_path)], capsys
    )
    assert code == 2
    assert "raised in property 'the slots are never all set'" in err
    assert "IndexError: tuple index out of range" in err


def test_an_unhashable_state_names_the_rule(
    with_models: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(
        ["check", "toy_faulty", "--set", "fault=unhashable", "--out", str(tmp_path)], capsys
    )
    assert code == 2
    assert "raised in action 'write'" in err
    assert "a state must be hashable" in err


@pytest.mark.parametrize("command", ["simulate", "fuzz"])
def test_simulate_and_fuzz_report_model_errors_too(
    command: str,
    with_models: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    code, _, err = run([command, "toy_faulty", "--out", str(tmp_path)], capsys)
    assert code == 2
    assert "Traceback" not in err
    assert f"raised in action 'write' ({'toy: write the next slot'}) during {command}" in err
    (itf,) = tmp_path.glob("*.itf.json")
    assert [s.state.value for s in read_itf(itf).steps][-1] == 3


def test_a_model_error_in_one_manifest_entry_does_not_stop_the_rest(
    monkeypatch: pytest.MonkeyPatch,
    with_models: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    from hintspec.manifests import explorer as manifest

    entries = [
        manifest.Entry("toy_faulty", "upstream", {}, {"verdict": "holds"}),
        manifest.Entry("toy_faulty", "upstream", {"fault": "none"}, {"verdict": "holds"}),
    ]
    monkeypatch.setattr("hintspec.cli.manifest.load_manifest", lambda: entries)
    code, out, _ = run(["check", "--all", "--only", "toy_faulty"], capsys)
    assert code == 1
    assert "MISMATCH error: action 'write'" in out and "IndexError" in out
    assert "2 entries, 1 as expected, 1 not as expected" in out


# -- renderers never crash ------------------------------------------------------------


def test_a_frame_map_that_raises_is_drawn_as_unknown(
    with_models: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A real violation whose trace passes a state the model's frame map cannot draw: the
    verdict, the text trace and the HTML page are all there, the map shows '?' and why."""
    argv = ["check", "toy_faulty", "--set", "fault=frame_map", "--set", "limit=5"]
    code, out, _ = run([*argv, "--out", str(tmp_path)], capsys)
    assert code == 1
    assert "frames  ? (frame_map raised IndexError: tuple index out of range)" in out
    (itf,) = tmp_path.glob("*.itf.json")
    code, out, _ = run(["show", str(itf), "--html", "--out", str(tmp_path / "t.html")], capsys)
    assert code == 0
    assert "frame_map raised IndexError" in (tmp_path / "t.html").read_text()


# -- selections that match nothing ----------------------------------------------------


def test_check_all_with_nothing_to_check_is_bad_input(
    with_models: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = run(["check", "--all", "--only", "toy_faulty"], capsys)
    assert code == 2
    assert err.strip().splitlines() == [
        "hintspec: error: no manifest entry to check for toy_faulty "
        "(add --include-slow for the slow ones)"
    ]


def test_prove_all_with_nothing_to_prove_is_bad_input(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(["prove", "--all", "--only", "balloon_oom"], capsys)
    assert code == 2
    assert "no proof-manifest entry to run for balloon_oom" in err
    assert len(err.strip().splitlines()) == 1


def test_fuzz_with_nothing_to_find_is_bad_input(
    with_models: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    class LivenessOnly(Faulty):
        """Only a witness to look for: a random run can break nothing here."""

        name = "toy_liveness_only"
        check_deadlock = False
        properties = tuple(p for p in Faulty.properties if p.kind.value != "always")

    with_models["toy_liveness_only"] = LivenessOnly
    code, _, err = run(["fuzz", "toy_liveness_only"], capsys)
    assert code == 2
    assert "nothing a random run can find" in err


# -- prove answers only what it was asked ----------------------------------------------


class _ReferenceBuddyWithANewVariant(ReferenceBuddy):
    """The model after someone added a variant, before its encoding learned it."""

    variants = {**ReferenceBuddy.variants, "new_design": "a design the encoding has not seen"}


def test_prove_refuses_a_variant_the_encoding_does_not_model(
    with_models: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    with_models["reference_buddy"] = _ReferenceBuddyWithANewVariant
    code, out, err = run(["prove", "reference_buddy", "--variant", "new_design"], capsys)
    assert code == 2
    assert out == ""
    assert err.strip().splitlines() == [
        "hintspec: error: the Z3 encoding of reference_buddy does not model variant "
        "'new_design'; it models: upstream, alloc_keeps_reported, isolate_ignores_cap, "
        "merge_keeps_reported"
    ]


# -- trace file names ---------------------------------------------------------------------


def test_trace_file_names_are_unique_and_never_cut_values_short(tmp_path: Path) -> None:
    """Two configurations that differ only past the old 60-character cut, and values that
    a slug would merge (capacity=1 report_order=2 vs capacity=12 report_order=...), get
    different names; the configuration itself is inside the file."""
    cls = get_model("page_reporting")
    model = cls(make_config(cls, "reuse_before_ack", {}))
    result = check(model, max_states=20000)
    trace = next(p.trace for p in result.properties if p.trace and p.kind == "always")
    names = set()
    common = {"frames": 8, "capacity": 2, "report_order": 2, "max_alloc_order": 2}
    common |= {"discard": "FREE", "page_poison": False}
    for overrides in (
        common,
        {**common, "may_quiesce": False},
        {"frames": 16, "capacity": 1, "report_order": 2},
        {"frames": 16, "capacity": 12},
    ):
        trace.config = make_config(cls, "reuse_before_ack", overrides)
        names.add(trace_file(tmp_path, trace).name)
    assert len(names) == 4
    path = trace_file(tmp_path, trace)
    from hintspec.traces.files import write_itf

    write_itf(trace, path)
    assert json.loads(path.read_text())["#meta"]["config"]["capacity"] == 12


# -- a plain install: numpy is optional -------------------------------------------------


def test_vector_engine_without_numpy_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("hintspec.engine.vector.numpy_available", lambda: False)
    code, out, err = run(["check", "reference_buddy", "--engine", "vector"], capsys)
    assert code == 2 and out == ""
    assert err.strip() == (
        "hintspec: error: the vector engine needs numpy: pip install 'hintspec[fast]'"
    )
    code, out, err = run(["check", "reference_buddy"], capsys)
    assert code == 0 and "object engine" in out
    assert err.strip().splitlines() == [
        "hintspec: note: numpy is not installed, so the object engine runs "
        "(the vector engine needs numpy: pip install 'hintspec[fast]')"
    ]


def test_every_command_imports_without_numpy(tmp_path: Path) -> None:
    """In a process where numpy cannot be imported (as after `pip install hintspec` with
    no extras), `list` and `check` work."""
    blocker = tmp_path / "sitecustomize.py"
    blocker.write_text("import sys\nsys.modules['numpy'] = None\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    for argv in (["list"], ["check", "reference_buddy"]):
        proc = subprocess.run(
            [sys.executable, "-m", "hintspec", *argv],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        assert "Traceback" not in proc.stderr


# -- Ctrl-C ------------------------------------------------------------------------------


def _interrupt(argv: list[str], after: float, cwd: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "hintspec", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
    )
    time.sleep(after)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_ctrl_c_during_check_prints_partial_figures(tmp_path: Path) -> None:
    out_dir = tmp_path / "traces"
    proc = _interrupt(
        ["check", "page_reporting", "--set", "frames=16", "--out", str(out_dir)], 4.0, tmp_path
    )
    assert proc.returncode == 130, proc.stderr
    assert "search INCOMPLETE: interrupted" in proc.stdout
    assert "distinct states" in proc.stdout
    assert "Traceback" not in proc.stderr
    assert "interrupted" in proc.stderr
    leftovers = [p.name for p in out_dir.glob(".*")] if out_dir.exists() else []
    assert leftovers == []  # no half-written temporary file


def test_ctrl_c_during_check_all_stops_with_the_rows_so_far(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    proc = _interrupt(["check", "--all", "--junit", str(junit)], 6.0, tmp_path)
    assert proc.returncode == 130, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "hintspec: interrupted after" in proc.stderr
    assert "entries," in proc.stdout  # the summary of the rows checked so far
    if junit.exists():
        import xml.etree.ElementTree as ET

        ET.parse(junit)  # whole, never half-written
    assert [p.name for p in tmp_path.glob(".*")] == []
