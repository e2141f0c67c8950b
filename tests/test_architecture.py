"""The layers stay layered: import contracts (import-linter), and module sizes.

``pyproject.toml`` ([tool.importlinter]) states the contracts: cli > outputs > manifests >
smt | engine > traces > lang, models and shared properties import only the model
language, encodings only it and the solver layer, and no checker imports a model.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = shutil.which("lint-imports", path=str(Path(sys.executable).parent))


def _tree(tmp: Path) -> Path:
    """A throw-away ``hintspec`` package laid out as installed: spec/ is ``hintspec``,
    models/ and properties/ inside it (as ``.ci/typecheck`` builds it)."""
    pkg = tmp / "hintspec"
    pkg.mkdir()
    for entry in (ROOT / "spec").iterdir():
        if entry.name != "__pycache__":
            (pkg / entry.name).symlink_to(entry)
    (pkg / "properties").symlink_to(ROOT / "properties")
    models = pkg / "models"
    models.mkdir()
    for entry in (ROOT / "models").iterdir():
        if entry.name != "__pycache__":
            (models / entry.name).symlink_to(entry)
    return tmp


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    assert LINT is not None, "lint-imports is not installed: pip install -e '.[dev]'"
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [LINT, "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tree,
        timeout=120,
    )


def test_the_import_contracts_hold(tmp_path: Path) -> None:
    proc = _lint(_tree(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Contracts: 4 kept, 0 broken." in proc.stdout


def test_a_model_that_runs_the_explorer_breaks_a_contract(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    (tree / "hintspec" / "models" / "runs_itself.py").write_text(
        '"""A model that runs the checker: what the contracts forbid."""\n\n'
        "from hintspec.engine.check import check\n"
    )
    proc = _lint(tree)
    assert proc.returncode != 0
    assert "models and shared properties use only the model language BROKEN" in proc.stdout
    assert "hintspec.models.runs_itself -> hintspec.engine.check" in proc.stdout


LIMIT = 650
"""About 600 lines: a module past it mixes concerns, except a model, whose length is the
design it describes."""


@pytest.mark.parametrize("top", ["spec", "properties"])
def test_no_module_outside_models_is_oversized(top: str) -> None:
    sizes = {
        str(p.relative_to(ROOT)): len(p.read_text().splitlines())
        for p in (ROOT / top).rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert {p: n for p, n in sizes.items() if n > LIMIT} == {}
