"""One distribution, one import namespace: the wheel holds `hintspec`, `hintspec.models` and
`hintspec.properties` (with the manifest and py.typed) and nothing named `models`,
`properties` or `spec` at the top level; the installed wheel runs."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_layout_and_it_runs(tmp_path: Path) -> None:
    # With build isolation: a fresh venv's own setuptools may be older than the project asks.
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = tmp_path.glob("hintspec-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.startswith("hintspec-")}
    assert tops == {"hintspec"}
    for needed in (
        "hintspec/__init__.py",
        "hintspec/py.typed",
        "hintspec/models/reference_buddy.py",
        "hintspec/models/manifest/reference_buddy.json",
        "hintspec/properties/proofs/manifest/reference_buddy.json",
        "hintspec/properties/__init__.py",
    ):
        assert needed in names
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = {**os.environ, "PYTHONPATH": str(site)}
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import hintspec, hintspec.models.reference_buddy as m;"
            "print(hintspec.__file__); print(m.__file__)",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=True,
    )
    assert all(line.startswith(str(site)) for line in proc.stdout.split())
    proc = subprocess.run(
        [sys.executable, "-m", "hintspec", "check", "--all", "--only", "reference_buddy"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "reference_buddy" in proc.stdout and " 0 not as expected" in proc.stdout
