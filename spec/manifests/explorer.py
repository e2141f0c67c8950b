"""The manifest: the expected result of every model, variant and configuration CI runs.

Like tlaplus/Examples' ``manifest.json``: one JSON file per model under
``models/manifest/<model>.json``, each entry recording the expected verdict, which properties
fail (for bad variants), and the distinct states, transitions and depth. ``hintspec check
--all`` and the manifest test compare fresh runs with it, so any change in behaviour shows
up in review, and the known-bad variants are regression tests for the checker itself.

An entry::

    {"variant": "upstream", "config": {"frames": 8},
     "expect": {"verdict": "holds", "failing": [],
                "distinct_states": 730, "transitions": 4508, "depth": 13},
     "slow": false, "note": "why this entry exists"}

Each file also records, under ``"fuzz"``, what a Hypothesis run of the model's default
design at its ``hypothesis_config`` may find -- a configuration far beyond enumeration,
where the explorer's entries cannot speak::

    "fuzz": {"variant": "upstream", "config": {"pages": 40, ...},
             "expect": {"failing": ["no OOM kill while ..."]},
             "note": "the premature-OOM-kill window of the entry at array_pfns_max=4"}

``failing`` lists the properties the design is known to break there (a FINDING recorded
by an explorer entry at a smaller size of the same configuration); a run that breaks any
other property is a failure of the manifest, not a matter of luck.

A user's project keeps its manifest files beside its models and names them in its
``hintspec.toml`` (:mod:`hintspec.lang.project`); :func:`load_manifest` reads the project's
manifests when the working directory is inside one, else the built-in ones.
:func:`refresh` records today's figures for review (``hintspec manifest update``).
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import time
from importlib import resources
from pathlib import Path
from typing import Any

from hintspec.engine.check import check
from hintspec.engine.results import CheckResult
from hintspec.lang.configs import config_overrides, make_config
from hintspec.lang.errors import ModelError, UsageError
from hintspec.lang.project import Project, find_project
from hintspec.lang.registry import (
    get_model,
    model_spec,
    project_models,
    shown_spec,
    source_dir,
)
from hintspec.traces.files import write_text_atomic


@dataclasses.dataclass
class Entry:
    model: str
    variant: str
    config: dict[str, Any]
    expect: dict[str, Any]
    slow: bool = False
    note: str = ""
    max_states: int | None = None
    symmetry: bool = True
    """False: check without the model's symmetry reduction (the unreduced count)."""
    fuzz: bool = True
    """False: the Hypothesis test does not expect random runs to find this entry's bug (it
    needs a long, specific interleaving; the entry's note says which)."""
    source: str = ""
    """How to load the model (a model spec, :func:`hintspec.lang.registry.get_model`);
    empty: its name."""
    file: str = ""
    """The manifest file the entry was read from (empty: an entry made in code)."""
    index: int = -1
    """Its position in that file's ``entries``."""

    @property
    def spec(self) -> str:
        """The model spec that loads this entry's model."""
        return self.source or self.model

    def command(self) -> str:
        """The one-line ``hintspec check`` command that checks this entry alone."""
        words = ["hintspec", "check", shown_spec(self.spec), "--variant", self.variant]
        for key, value in self.config.items():
            words += ["--set", f"{key}={value}"]
        if self.max_states is not None:
            words += ["--max-states", str(self.max_states)]
        if not self.symmetry:
            words.append("--no-symmetry")
        return shlex.join(words)

    @property
    def label(self) -> str:
        cfg = " ".join(f"{k}={v}" for k, v in self.config.items()) or "defaults"
        return f"{self.model}/{self.variant} [{cfg}]" + ("" if self.symmetry else " unreduced")


@dataclasses.dataclass
class FuzzExpectation:
    """What a Hypothesis run of ``model``'s default design at its ``hypothesis_config`` may
    find: the properties in ``failing`` (empty: none)."""

    model: str
    variant: str
    config: dict[str, Any]
    failing: list[str]
    note: str = ""


def manifest_dir() -> Path:
    """The built-in models' manifest directory (in the source tree under an editable
    install, so a manifest file added since the install is found)."""
    found = source_dir("hintspec.models") / "manifest"
    if found.is_dir():
        return found
    return Path(str(resources.files("hintspec.models").joinpath("manifest")))


def manifest_files(directory: Path | None = None) -> list[Path]:
    """The manifest files: those in ``directory``; else the project's (the working
    directory is in one, :func:`hintspec.lang.project.find_project`); else the built-in
    models' manifest directory."""
    if directory is not None:
        return sorted(directory.glob("*.json"))
    project = find_project()
    if project is not None:
        return project.manifest_files()
    return sorted(manifest_dir().glob("*.json"))


def read_manifest_file(path: Path, kind: str = "manifest") -> dict[str, Any]:
    """One manifest file as JSON (one line of bad input naming it if it is not)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UsageError(f"{kind} {path.name} is not valid JSON: {exc.msg}") from None
    except OSError as exc:
        raise UsageError(f"cannot read {kind} {path}: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("entries", []), list):
        raise UsageError(f"{kind} {path.name}: expected an object with an 'entries' list")
    return doc


def manifest_entries(directory: Path, kind: str = "manifest") -> list[tuple[str, dict[str, Any]]]:
    """(model, raw entry) of every ``*.json`` manifest file in ``directory``, in file-name
    order; a file that is not JSON is one line of bad input naming it."""
    out: list[tuple[str, dict[str, Any]]] = []
    for path in sorted(directory.glob("*.json")):
        doc = read_manifest_file(path, kind)
        model = doc.get("model", path.stem)
        out.extend((model, raw) for raw in doc.get("entries", []))
    return out


def _project_sources(project: Project | None) -> dict[str, str]:
    """Model name -> model spec of the project's models (loading them names them)."""
    if project is None:
        return {}
    return {cls.name: model_spec(cls) for cls in project_models()}


def load_manifest(directory: Path | None = None) -> list[Entry]:
    """Every entry of every manifest file (:func:`manifest_files`), in file order."""
    project = None if directory is not None else find_project()
    sources = _project_sources(project)
    entries: list[Entry] = []
    for path in manifest_files(directory):
        doc = read_manifest_file(path)
        model = str(doc.get("model", path.stem))
        for index, raw in enumerate(doc.get("entries", [])):
            if not isinstance(raw, dict):
                raise UsageError(f"manifest {path.name}: every entry must be an object")
            entries.append(
                Entry(
                    model=model,
                    variant=raw.get("variant", "upstream"),
                    config=dict(raw.get("config", {})),
                    expect=dict(raw.get("expect", {})),
                    slow=bool(raw.get("slow", False)),
                    note=str(raw.get("note", "")),
                    max_states=raw.get("max_states"),
                    symmetry=bool(raw.get("symmetry", True)),
                    fuzz=bool(raw.get("fuzz", True)),
                    source=sources.get(model, ""),
                    file=str(path),
                    index=index,
                )
            )
    return entries


def load_fuzz_expectations(directory: Path | None = None) -> dict[str, FuzzExpectation]:
    """Model name -> its ``"fuzz"`` record, for the models whose manifest has one."""
    out: dict[str, FuzzExpectation] = {}
    for path in manifest_files(directory):
        doc = read_manifest_file(path)
        raw = doc.get("fuzz")
        if raw is None:
            continue
        if not isinstance(raw, dict):
            raise UsageError(f"manifest {path.name}: 'fuzz' must be an object")
        model = str(doc.get("model", path.stem))
        out[model] = FuzzExpectation(
            model=model,
            variant=str(raw.get("variant", "upstream")),
            config=dict(raw.get("config", {})),
            failing=list(raw.get("expect", {}).get("failing", [])),
            note=str(raw.get("note", "")),
        )
    return out


def run_entry(
    entry: Entry, *, timeout: float | None = None, fingerprints: bool = False
) -> CheckResult:
    model_cls = get_model(entry.spec)
    config = make_config(model_cls, entry.variant, entry.config)
    return check(
        model_cls(config),
        max_states=entry.max_states,
        timeout=timeout,
        symmetry=entry.symmetry,
        fingerprints=fingerprints,
    )


@dataclasses.dataclass
class EntryError:
    """A manifest entry whose model raised while it was checked: no verdict. (Picklable,
    so that ``check --all --jobs N`` can send it back from a worker.)"""

    summary: str
    """One line: what raised, the exception, the model's source line."""
    seconds: float = 0.0

    @property
    def mismatch(self) -> str:
        return f"error: {self.summary}"


def try_entry(
    entry: Entry, *, timeout: float | None = None, fingerprints: bool = False
) -> CheckResult | EntryError:
    """:func:`run_entry`, with model code that raises turned into an :class:`EntryError`
    (one broken entry does not stop a run over the manifest)."""
    start = time.monotonic()
    try:
        return run_entry(entry, timeout=timeout, fingerprints=fingerprints)
    except ModelError as exc:
        where = f" at {exc.source}" if exc.source else ""
        summary = f"{exc.where} raised {exc.exception}{where}"
        return EntryError(summary, time.monotonic() - start)


def observed(result: CheckResult) -> dict[str, Any]:
    """What a manifest entry records of a result."""
    return {
        "verdict": result.verdict.value,
        "failing": sorted(result.failing),
        "vacuous": sorted(result.vacuous),
        "distinct_states": result.distinct_states,
        "transitions": result.transitions,
        "depth": result.depth,
    }


def mismatches(entry: Entry, result: CheckResult) -> list[str]:
    """How ``result`` differs from what the entry expects (empty: it matches)."""
    got = observed(result)
    out = []
    for key, want in entry.expect.items():
        have = got.get(key)
        if key in ("failing", "vacuous"):
            want = sorted(want)
        if have != want:
            out.append(f"{key}: expected {want}, got {have}")
    return out


@dataclasses.dataclass
class ManifestChange:
    """One manifest file as it was and as :func:`refresh` wrote it."""

    path: Path
    before: str
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after


def expectation(result: CheckResult) -> dict[str, Any]:
    """What a refreshed entry expects: the observed figures (``vacuous`` only if any)."""
    return {k: v for k, v in observed(result).items() if k != "vacuous" or v}


def refresh(
    results: list[tuple[Entry, CheckResult]], *, write: bool = True
) -> list[ManifestChange]:
    """Record the observed figures of ``results`` in the manifest files their entries came
    from, for review: each entry's ``expect`` is replaced, every other key (note, slow,
    max_states, ...) and every entry that did not run stays as it was. Returns each file
    touched, before and after (``write=False``: the files are left alone)."""
    by_file: dict[str, list[tuple[Entry, CheckResult]]] = {}
    for entry, result in results:
        if not entry.file or entry.index < 0:
            raise UsageError(f"{entry.label} was not read from a manifest file")
        by_file.setdefault(entry.file, []).append((entry, result))
    changes: list[ManifestChange] = []
    for file, pairs in by_file.items():
        path = Path(file)
        before = path.read_text(encoding="utf-8")
        doc = read_manifest_file(path)
        raws = doc.get("entries", [])
        for entry, result in pairs:
            raw = raws[entry.index]
            if raw.get("variant", "upstream") != entry.variant:
                raise UsageError(f"{path.name} changed while it was checked; run again")
            raw["expect"] = expectation(result)
        after = json.dumps(doc, indent=2) + "\n"
        if write and after != before:
            write_text_atomic(path, after)
        changes.append(ManifestChange(path, before, after))
    return changes


def add_entry(path: Path, model: str, entry: Entry, result: CheckResult) -> ManifestChange:
    """Append an entry (with the figures of ``result``) to the manifest file ``path``,
    creating it if need be."""
    before = path.read_text(encoding="utf-8") if path.exists() else ""
    doc: dict[str, Any] = read_manifest_file(path) if before else {"model": model}
    raw: dict[str, Any] = {
        "variant": entry.variant,
        "config": entry.config,
        "expect": expectation(result),
    }
    if entry.note:
        raw["note"] = entry.note
    doc["entries"] = [*doc.get("entries", []), raw]
    after = json.dumps(doc, indent=2) + "\n"
    write_text_atomic(path, after)
    return ManifestChange(path, before, after)


def entry_for(model: str, variant: str, config: Any) -> Entry:
    return Entry(
        model, variant, {k: v for k, v in config_overrides(config).items() if k != "variant"}, {}
    )
