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
"""

from __future__ import annotations

import dataclasses
import json
import time
from importlib import resources
from pathlib import Path
from typing import Any

from hintspec.engine.check import check
from hintspec.engine.results import CheckResult
from hintspec.lang.configs import config_overrides, make_config
from hintspec.lang.errors import ModelError, UsageError
from hintspec.lang.registry import get_model


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
    return Path(str(resources.files("hintspec.models").joinpath("manifest")))


def manifest_entries(directory: Path, kind: str = "manifest") -> list[tuple[str, dict[str, Any]]]:
    """(model, raw entry) of every ``*.json`` manifest file in ``directory``, in file-name
    order; a file that is not JSON is one line of bad input naming it."""
    out: list[tuple[str, dict[str, Any]]] = []
    for path in sorted(directory.glob("*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise UsageError(f"{kind} {path.name} is not valid JSON: {exc.msg}") from None
        model = doc.get("model", path.stem)
        out.extend((model, raw) for raw in doc.get("entries", []))
    return out


def load_manifest(directory: Path | None = None) -> list[Entry]:
    """Every entry of every model's manifest file, in file-name order."""
    entries: list[Entry] = []
    for model, raw in manifest_entries(directory or manifest_dir()):
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
            )
        )
    return entries


def load_fuzz_expectations(directory: Path | None = None) -> dict[str, FuzzExpectation]:
    """Model name -> its ``"fuzz"`` record, for the models whose manifest has one."""
    out: dict[str, FuzzExpectation] = {}
    for path in sorted((directory or manifest_dir()).glob("*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise UsageError(f"manifest {path.name} is not valid JSON: {exc.msg}") from None
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


def run_entry(entry: Entry, *, timeout: float | None = None) -> CheckResult:
    model_cls = get_model(entry.model)
    config = make_config(model_cls, entry.variant, entry.config)
    return check(
        model_cls(config), max_states=entry.max_states, timeout=timeout, symmetry=entry.symmetry
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


def try_entry(entry: Entry, *, timeout: float | None = None) -> CheckResult | EntryError:
    """:func:`run_entry`, with model code that raises turned into an :class:`EntryError`
    (one broken entry does not stop a run over the manifest)."""
    start = time.monotonic()
    try:
        return run_entry(entry, timeout=timeout)
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


def update_entries(model: str, results: list[tuple[Entry, CheckResult]]) -> Path:
    """Rewrite one model's manifest file with the observed figures (for reviewed updates)."""
    path = manifest_dir() / f"{model}.json"
    raws: list[dict[str, Any]] = []
    doc: dict[str, Any] = {"model": model, "entries": raws}
    previous = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    if "fuzz" in previous:
        doc["fuzz"] = previous["fuzz"]
    for entry, result in results:
        raw: dict[str, Any] = {
            "variant": entry.variant,
            "config": entry.config,
            "expect": {k: v for k, v in observed(result).items() if k != "vacuous" or v},
        }
        if entry.slow:
            raw["slow"] = True
        if entry.max_states is not None:
            raw["max_states"] = entry.max_states
        if not entry.symmetry:
            raw["symmetry"] = False
        if not entry.fuzz:
            raw["fuzz"] = False
        if entry.note:
            raw["note"] = entry.note
        raws.append(raw)
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return path


def entry_for(model: str, variant: str, config: Any) -> Entry:
    return Entry(
        model, variant, {k: v for k, v in config_overrides(config).items() if k != "variant"}, {}
    )
