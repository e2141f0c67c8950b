"""A user's project: the models it checks and the manifests that record their verdicts.

A project says what it has in ``hintspec.toml``, or in the ``[tool.hintspec]`` table of its
``pyproject.toml``, both read from the working directory upwards (the first file that has
one wins)::

    models = ["models/handshake.py", "vq_handshake.other:Other", "more-models/"]
    manifests = ["manifest"]

``models`` are model specs as the command line takes them: a ``.py`` file, or a directory
of them written with a ``/`` (relative to the file); ``package.module:Class``; the name of
an installed entry point;
``manifests`` are directories of ``<model>.json`` manifest files, or single files, relative
to the file. Without a project, the built-in models and their manifests are what
``hintspec check --all`` runs.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hintspec.lang.errors import UsageError

CONFIG_FILE = "hintspec.toml"
PYPROJECT = "pyproject.toml"


@dataclasses.dataclass(frozen=True)
class Project:
    """The models and manifests a project declares (paths absolute)."""

    config: Path
    """The ``hintspec.toml`` or ``pyproject.toml`` it came from."""
    models: tuple[str, ...]
    """Model specs: files and directories made absolute, the others as written."""
    manifests: tuple[Path, ...]
    """Manifest directories or files."""

    @property
    def root(self) -> Path:
        return self.config.parent

    def model_specs(self) -> list[str]:
        """Every model spec, a directory expanded to its ``.py`` files (not ``_*``)."""
        out: list[str] = []
        for spec in self.models:
            path = Path(spec)
            if path.is_absolute() and path.is_dir():
                out.extend(str(p) for p in sorted(path.glob("*.py")) if not p.name.startswith("_"))
            else:
                out.append(spec)
        return out

    def manifest_dir(self) -> Path | None:
        """The first manifest directory (where new manifest files go), if any."""
        return next((p for p in self.manifests if p.suffix != ".json"), None)

    def manifest_files(self) -> list[Path]:
        """Every manifest file, in the order declared (a directory's in name order)."""
        files: list[Path] = []
        for path in self.manifests:
            if path.suffix == ".json":
                files.append(path)
            elif path.is_dir():
                files.extend(sorted(path.glob("*.json")))
        return files


def _table(path: Path) -> dict[str, Any] | None:
    """The hintspec settings of ``path`` (None if a pyproject.toml has no ``[tool.hintspec]``)."""
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path} is not valid TOML: {exc}") from None
    if path.name == CONFIG_FILE:
        table = doc.get("tool", {}).get("hintspec", doc)
    else:
        table = doc.get("tool", {}).get("hintspec")
    if table is not None and not isinstance(table, dict):
        raise UsageError(f"{path}: the hintspec settings must be a table")
    return table


def _strings(path: Path, table: dict[str, Any], key: str) -> list[str]:
    value = table.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise UsageError(f"{path}: '{key}' must be a list of strings")
    return value


def _absolute(root: Path, spec: str) -> str:
    """A spec naming a file or directory, relative to ``root``, made absolute."""
    if spec.endswith(".py") or "/" in spec:
        return str((root / spec).resolve())
    if ".py:" in spec:
        file, _sep, cls = spec.rpartition(":")
        return f"{(root / file).resolve()}:{cls}"
    return spec


def read_project(path: Path) -> Project | None:
    """The project ``path`` declares, or None (a pyproject.toml without the table)."""
    table = _table(path)
    if table is None:
        return None
    unknown = sorted(set(table) - {"models", "manifests"})
    if unknown:
        raise UsageError(
            f"{path}: unknown setting {unknown[0]!r}; the settings are models and manifests"
        )
    root = path.parent
    models = tuple(_absolute(root, s) for s in _strings(path, table, "models"))
    manifests = tuple((root / m).resolve() for m in _strings(path, table, "manifests"))
    return Project(path.resolve(), models, manifests)


def find_project(start: Path | None = None) -> Project | None:
    """The project of the working directory (or ``start``): the nearest ``hintspec.toml``,
    or ``pyproject.toml`` with a ``[tool.hintspec]`` table, from there upwards."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        for name in (CONFIG_FILE, PYPROJECT):
            candidate = directory / name
            if candidate.is_file():
                project = read_project(candidate)
                if project is not None:
                    return project
    return None


def render_config(models: Sequence[str], manifests: Sequence[str]) -> str:
    """A ``hintspec.toml`` declaring ``models`` and ``manifests``."""

    def items(values: Sequence[str]) -> str:
        return "[" + ", ".join(f'"{v}"' for v in values) + "]"

    return (
        "# hintspec's settings for this project: the models `hintspec check --all` checks\n"
        "# and the manifests that record their expected verdicts (paths relative to this file).\n"
        f"models = {items(models)}\n"
        f"manifests = {items(manifests)}\n"
    )
