"""Branch coverage of the models' design code under the manifest's checks.

Dead code in a model is where bugs hide: a branch no explored state takes is a branch no
property has checked (and every mutant of it is "equivalent", so ``hintspec mutate`` says
nothing about it either). :func:`measure` runs the manifest's entries (the non-slow ones,
unless asked) under coverage.py in branch mode, in worker processes, and
:func:`model_gaps` lists per model the branches of its design code -- the actions, their
helpers, ``initial_states``, ``is_terminal``, ``__init__`` -- that never ran.

A branch that cannot run is marked in the model with coverage.py's syntax and a reason:
``# pragma: no cover -- <reason>`` on a line that never runs, ``# pragma: no branch --
<reason>`` on a decision one of whose ways never happens. A pragma without a reason is
itself a finding. Gaps the models' owners have not yet closed are listed with a reason in
``models/manifest/coverage/<model>.json`` (``known``); a gap not listed fails the check, and
so does a listed one that is now covered (the list only shrinks).
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hintspec.engine.check import check
from hintspec.engine.mutate_design import design_spans
from hintspec.lang.configs import make_config
from hintspec.lang.errors import ModelError, UsageError
from hintspec.lang.registry import get_model
from hintspec.manifests.explorer import Entry
from hintspec.manifests.mutation import models_manifest_dir

COVERAGE_MISSING = (
    "branch coverage needs coverage.py: pip install coverage (it is in the dev extra)"
)
PRAGMA = re.compile(r"#\s*pragma:\s*no\s*(cover|branch)\b(.*)$", re.IGNORECASE)
REASON = re.compile(r"^\s*--\s*\S")
UNTRIAGED = "not triaged yet: take it in some manifest configuration, or mark it with a reason"
"""The reason ``--update-known`` gives a new gap; the check does not accept it."""


@dataclasses.dataclass(frozen=True)
class Gap:
    """A branch of the design code that no check took: from line ``line`` to ``target``
    (a line, or the function's exit)."""

    model: str
    function: str
    line: int
    target: int | None
    source: str
    target_source: str

    @property
    def key(self) -> dict[str, str]:
        """How the known-gap list names it (source text, not line numbers, so that edits
        elsewhere in the file keep it)."""
        return {"function": self.function, "from": self.source, "to": self.target_source}

    def describe(self) -> str:
        to = "the function's exit" if self.target is None else f"line {self.target}"
        return f"{self.function} line {self.line} -> {to}: {self.source}"


@dataclasses.dataclass
class ModelCoverage:
    model: str
    path: Path
    branches: int
    """Branches in the design code (coverage.py's count, marked ones excluded)."""
    taken: int
    gaps: list[Gap]
    """Unexecuted, unmarked branches of the design code."""
    bare_pragmas: list[str]
    """``file:line`` of pragmas without a reason."""
    known: list[dict[str, str]]
    """The model's known-gap list (each with its reason)."""

    @property
    def percent(self) -> float:
        return 100.0 * self.taken / self.branches if self.branches else 100.0

    def unlisted(self) -> list[Gap]:
        keys = [_plain(k) for k in self.known]
        return [g for g in self.gaps if g.key not in keys]

    def stale(self) -> list[dict[str, str]]:
        """Known gaps that are covered now (to be removed from the list)."""
        keys = [g.key for g in self.gaps]
        return [k for k in self.known if _plain(k) not in keys]

    def untriaged(self) -> list[dict[str, str]]:
        """Known gaps without a real reason (empty, or the placeholder of --update-known)."""
        return [k for k in self.known if k.get("reason", "").strip() in ("", UNTRIAGED)]

    @property
    def ok(self) -> bool:
        return (
            not self.unlisted()
            and not self.stale()
            and not self.bare_pragmas
            and not self.untriaged()
        )


def _plain(known: dict[str, str]) -> dict[str, str]:
    return {k: known.get(k, "") for k in ("function", "from", "to")}


def _load_coverage() -> Any:
    try:
        import coverage
    except ImportError:
        raise UsageError(COVERAGE_MISSING) from None
    return coverage


def _worker(entries: Sequence[Entry], data_file: str, include: list[str]) -> list[str]:
    coverage = _load_coverage()
    cov = coverage.Coverage(
        data_file=data_file, data_suffix=True, branch=True, include=include, config_file=False
    )
    errors = []
    cov.start()
    try:
        for entry in entries:
            try:
                # the object engine: a vectorised form would bypass the model's own code
                cls = get_model(entry.model)
                model = cls(make_config(cls, entry.variant, entry.config))
                check(model, max_states=entry.max_states, symmetry=entry.symmetry, engine="object")
            except ModelError as exc:
                errors.append(f"{entry.label}: {exc.where} raised {exc.exception}")
    finally:
        cov.stop()
        cov.save()
    return errors


def measure(entries: Sequence[Entry], *, jobs: int = 1) -> tuple[dict[str, Any], list[str]]:
    """Run ``entries`` under coverage.py (branch mode, the model files only), ``jobs``
    worker processes; coverage.py's JSON report (``files`` by path) and the entries whose
    model raised."""
    coverage = _load_coverage()
    paths = sorted({str(_model_path(e.model)) for e in entries})
    with tempfile.TemporaryDirectory(prefix="hintspec-coverage-") as tmp:
        data_file = str(Path(tmp) / ".coverage")
        shares: list[list[Entry]] = [list(entries[i::jobs]) for i in range(jobs)]
        errors: list[str] = []
        if jobs == 1:
            errors = _worker(entries, data_file, paths)
        else:
            ctx = multiprocessing.get_context("fork")
            with ctx.Pool(jobs) as pool:
                for got in pool.starmap(_worker, [(s, data_file, paths) for s in shares if s]):
                    errors.extend(got)
        cov = coverage.Coverage(data_file=data_file, branch=True, config_file=False)
        cov.combine(data_paths=[tmp])
        report = Path(tmp) / "coverage.json"
        cov.json_report(morfs=paths, outfile=str(report), show_contexts=False)
        doc = json.loads(report.read_text(encoding="utf-8"))
    files = {str(Path(name).resolve()): data for name, data in doc.get("files", {}).items()}
    return files, errors


def _model_path(model: str) -> Path:
    import sys

    cls = get_model(model)
    module = sys.modules[cls.__module__]
    assert module.__file__ is not None
    return Path(module.__file__).resolve()


def coverage_dir() -> Path:
    return models_manifest_dir() / "coverage"


def load_known(model: str, directory: Path | None = None) -> list[dict[str, str]]:
    path = (directory or coverage_dir()) / f"{model}.json"
    if not path.exists():
        return []
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UsageError(f"known-gap list {path.name} is not valid JSON: {exc.msg}") from None
    return [dict(k) for k in doc.get("known", [])]


def write_known(cov: ModelCoverage, directory: Path | None = None) -> Path:
    """Rewrite the model's known-gap list to today's gaps, keeping the reasons given."""
    folder = directory or coverage_dir()
    folder.mkdir(parents=True, exist_ok=True)
    reasons = {json.dumps(_plain(k), sort_keys=True): k.get("reason", "") for k in cov.known}
    known = []
    for gap in cov.gaps:
        reason = reasons.get(json.dumps(gap.key, sort_keys=True)) or UNTRIAGED
        known.append({**gap.key, "reason": reason})
    path = folder / f"{cov.model}.json"
    doc = {"model": cov.model, "known": known}
    path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return path


def bare_pragmas(path: Path) -> list[str]:
    """``file:line`` of every coverage pragma in ``path`` that gives no ``-- reason``."""
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = PRAGMA.search(line)
        if match and not REASON.match(match.group(2)):
            out.append(f"models/{path.name}:{number}")
    return out


def model_gaps(model: str, files: dict[str, Any], known_dir: Path | None = None) -> ModelCoverage:
    """The branches of ``model``'s design code that the measured run never took."""
    path = _model_path(model)
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    spans = design_spans(source)
    data = files.get(str(path), {})
    missing = [tuple(arc) for arc in data.get("missing_branches", [])]
    executed = [tuple(arc) for arc in data.get("executed_branches", [])]

    def owner(line: int) -> str | None:
        return next((name for name, lo, hi in spans if lo <= line <= hi), None)

    def text(line: int) -> str:
        return lines[line - 1].strip() if 0 < line <= len(lines) else ""

    gaps = []
    for src, dst in sorted(missing):
        function = owner(src)
        if function is None:
            continue
        target = dst if dst > 0 else None
        gaps.append(
            Gap(model, function, src, target, text(src), "exit" if target is None else text(dst))
        )
    ran = set(data.get("executed_lines", []))
    for name, lo, hi in spans:
        body = set(range(lo + 1, hi + 1))
        if data and not body & ran:
            gaps.append(Gap(model, name, lo, None, text(lo), "never called"))
    design = [a for a in executed + missing if owner(a[0]) is not None]
    taken = sum(1 for a in executed if owner(a[0]) is not None)
    return ModelCoverage(
        model=model,
        path=path,
        branches=len(design),
        taken=taken,
        gaps=gaps,
        bare_pragmas=bare_pragmas(path),
        known=load_known(model, known_dir),
    )
