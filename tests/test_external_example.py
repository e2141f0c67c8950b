"""``examples/external-model`` as its users run it: a fresh venv with hintspec and the
example installed side by side, ``hintspec check --all`` and ``pytest`` in the project, a
violation that fails both with the trace in the output, and ``show``/``replay`` on its
traces from elsewhere. The project is copied first: nothing in the repository changes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "external-model"

pytestmark = pytest.mark.slow


def _run(
    argv: list[str], cwd: Path, *, expect: int | None = 0, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HYPOTHESIS_PROFILE")}
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout)
    if expect is not None:
        assert proc.returncode == expect, f"{argv}: {proc.stdout}\n{proc.stderr}"
    return proc


def _status() -> str:
    return _run(["git", "status", "--porcelain", "--untracked-files=all"], ROOT).stdout


def test_the_example_project_from_a_fresh_venv(tmp_path: Path) -> None:
    before = _status()
    project = tmp_path / "external-model"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], tmp_path)
    bin_ = venv / "bin"
    pip = [str(bin_ / "python"), "-m", "pip", "install", "-q", "-c", str(ROOT / "constraints.txt")]
    _run([*pip, "-e", str(ROOT), "-e", str(project)], tmp_path, timeout=900)
    hintspec = str(bin_ / "hintspec")

    listed = _run([hintspec, "list"], project).stdout
    assert "from: entry point 'handshake' of vq-handshake 0.1.0" in listed
    checked = _run([hintspec, "check", "--all"], project).stdout
    assert "4 entries, 4 as expected, 0 not as expected" in checked
    tested = _run([str(bin_ / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"], project)
    assert "4 passed" in tested.stdout

    # A trace written outside the project, read from a third directory.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    _run(
        [hintspec, "check", "handshake", "--variant", "drops_on_enospc", "--out", "t"],
        elsewhere,
        expect=1,
    )
    (itf,) = (elsewhere / "t").glob("*no-buffer-is-lost*.itf.json")
    assert json.loads(itf.read_text())["#meta"]["model_spec"] == "vq_handshake.handshake:Handshake"
    shown = _run([hintspec, "show", str(itf)], tmp_path).stdout
    assert "Counterexample to 'no buffer is lost' (3 steps)" in shown
    assert "no divergence" in _run([hintspec, "replay", str(itf)], tmp_path).stdout
    page = tmp_path / "trace.html"
    _run([hintspec, "show", str(itf), "--html", "--out", str(page)], tmp_path)
    assert "handshake" in page.read_text()

    # A regression: the manifest says the leaky variant holds; CI must fail, with the trace.
    manifest = project / "manifest" / "handshake.json"
    doc = json.loads(manifest.read_text())
    doc["entries"][2]["expect"] = {"verdict": "holds", "failing": []}
    manifest.write_text(json.dumps(doc, indent=2))
    failed = _run([hintspec, "check", "--all"], project, expect=1).stdout
    assert "MISMATCH" in failed and "Counterexample to 'no buffer is lost' (3 steps)" in failed
    (project / "tests" / "test_regression.py").write_text(
        "def test_leaky_holds(hintspec_check):\n"
        "    hintspec_check.holds('handshake', variant='drops_on_enospc')\n"
    )
    failed = _run(
        [str(bin_ / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"], project, expect=1
    ).stdout
    assert "1 failed, 4 passed" in failed
    assert "Counterexample to 'no buffer is lost' (3 steps)" in failed
    assert "trace file: " in failed

    assert _status() == before
