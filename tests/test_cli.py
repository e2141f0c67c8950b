"""The hintspec command: results, exit codes, and every bad-input path (one line, exit 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hintspec.cli.app import main


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_list_names_models_variants_and_properties(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["list", "reference_buddy"], capsys)
    assert code == 0
    assert "reference_buddy:" in out
    assert "alloc_keeps_reported" in out
    assert "[always] reported is set only on heads of free blocks" in out
    assert '"frames": 8' in out


def test_check_holds_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["check", "reference_buddy"], capsys)
    assert code == 0
    assert "730 distinct states, 4,508 transitions, depth 13" in out
    assert "Result: HOLDS" in out


def test_check_violated_exit_1_writes_traces(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(
        ["check", "reference_buddy", "--variant", "isolate_ignores_cap", "--out", str(tmp_path)],
        capsys,
    )
    assert code == 1
    assert "Counterexample to 'at most CAP blocks are isolated' (4 steps)" in out
    files = sorted(p.name for p in tmp_path.iterdir())
    assert [f.rsplit("-", 1)[0] for f in files] == [
        "reference_buddy-isolate_ignores_cap-at-most-cap-blocks-are-isolated",
        "reference_buddy-isolate_ignores_cap-at-most-cap-blocks-are-isolated",
    ]
    assert files[0].endswith(".itf.json") and files[1].endswith(".txt")
    code, out, _ = run(["replay", str(tmp_path / files[0])], capsys)
    assert code == 0 and "no divergence" in out
    code, out, _ = run(["show", str(tmp_path / files[0])], capsys)
    assert code == 0 and "Violated: 'at most CAP blocks are isolated'" in out


def test_check_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        ["check", "reference_buddy", "--variant", "merge_keeps_reported", "--json"], capsys
    )
    assert code == 1
    doc = json.loads(out)
    assert doc["verdict"] == "violated"
    assert doc["distinct_states"] == 733
    failing = [p for p in doc["properties"] if p["verdict"] == "violated"]
    assert [p["name"] for p in failing] == ["reported is set only on heads of free blocks"]
    assert failing[0]["trace_length"] == 4
    assert failing[0]["explanation"].startswith("frame ")


def test_bound_hit_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["check", "reference_buddy", "--max-states", "100"], capsys)
    assert code == 3
    assert "search INCOMPLETE: max states 100" in out
    assert "Result: UNDETERMINED" in out


def test_check_all_meets_the_manifest(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    code, out, _ = run(
        ["check", "--all", "--only", "reference_buddy", "--junit", str(junit)], capsys
    )
    assert code == 0, out
    assert "not as expected" in out and " 0 not as expected" in out
    xml = junit.read_text()
    assert "<testsuite" in xml and 'failures="0"' in xml


BAD_INPUT = [
    (["check", "no_such_model"], "unknown model 'no_such_model'"),
    (["check", "reference_buddy", "--variant", "nope"], "unknown variant 'nope'"),
    (["check", "reference_buddy", "--set", "pages=3"], "unknown parameter 'pages'"),
    (["check", "reference_buddy", "--set", "frames=abc"], "frames='abc' is not an integer"),
    (["check", "reference_buddy", "--set", "frames=6"], "frames must be a power of two"),
    (["check", "reference_buddy", "--set", "frames"], "--set expects key=value"),
    (["check", "reference_buddy", "--max-states", "-1"], "must be positive"),
    (["check", "reference_buddy", "--timeout", "soon"], "is not a number"),
    (["check"], "check needs a MODEL"),
    (["check", "reference_buddy", "--all"], "either MODEL or --all"),
    (["frobnicate"], "invalid choice"),
    ([], "required"),
    (["list", "nothing"], "unknown model 'nothing'"),
]


@pytest.mark.parametrize(("argv", "message"), BAD_INPUT)
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(argv, capsys)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("hintspec: error: ")
    assert message in lines[0]


def _bad_trace(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content)
    return path


TRACE_CASES = [
    ("missing.itf.json", None, "does not exist"),
    ("garbage.itf.json", "{not json", "not valid JSON"),
    ("empty.itf.json", "", "not valid JSON"),
    ("list.itf.json", "[1, 2]", "not an ITF trace"),
    ("nometa.itf.json", '{"states": [{"x": 1}]}', "lacks 'model'"),
    (
        "unknown.itf.json",
        '{"#meta": {"model": "ghost"}, "states": [{"x": 1}]}',
        "unknown model 'ghost'",
    ),
    (
        "misfit.itf.json",
        '{"#meta": {"model": "reference_buddy"}, "states": [{"free": 3}]}',
        "state 0 does not fit model reference_buddy",
    ),
    (
        "noaction.itf.json",
        json.dumps(
            {
                "#meta": {"model": "reference_buddy"},
                "states": [
                    {
                        "free": {"#set": []},
                        "allocated": {"#set": []},
                        "isolated": {"#set": []},
                        "reported": {"#set": []},
                    }
                ]
                * 2,
            }
        ),
        "state 1 has no '#meta.action'",
    ),
    (
        "badloop.itf.json",
        json.dumps(
            {
                "#meta": {"model": "reference_buddy"},
                "loop": 7,
                "states": [
                    {
                        "free": {"#set": []},
                        "allocated": {"#set": []},
                        "isolated": {"#set": []},
                        "reported": {"#set": []},
                    }
                ],
            }
        ),
        "'loop' must be a state index",
    ),
]


@pytest.mark.parametrize(("name", "content", "message"), TRACE_CASES)
@pytest.mark.parametrize("command", ["show", "replay"])
def test_bad_trace_files_are_one_line_and_exit_2(
    name: str,
    content: str | None,
    message: str,
    command: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / name if content is None else _bad_trace(tmp_path, name, content)
    code, out, err = run([command, str(path)], capsys)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], err


def test_bad_input_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "out"
    code, _, _ = run(
        ["check", "reference_buddy", "--set", "frames=7", "--out", str(out_dir)], capsys
    )
    assert code == 2
    assert not out_dir.exists()


def test_console_script_exit_code_and_no_traceback() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "hintspec", "check", "nope"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1
