"""Where mutants run, and what the mutation manifest records.

The configurations of ``hintspec mutate MODEL --variant V`` are the explorer manifest's
non-slow entries of V (``models/manifest/<model>.json``) whose expected verdict is holds or
vacuous; an entry the manifest expects to be violated (a FINDING at that size) is left out,
and the run says so.

The kill rates are recorded apart from the explorer's manifest, in
``models/manifest/mutation/<model>.json``, one record per checker::

    {"model": "reference_buddy", "variant": "upstream",
     "checkers": {"explore": {
        "configs": ["frames=8"], "skipped": [], "operators": [...], "enumerated": 100,
        "sample": null, "counts": {"killed": 60, "survived": 5, ...}, "kill_rate": 0.923,
        "mutants": {"<id>": {"outcome": "killed", "operator": "negate",
                             "function": "ReferenceBuddy.alloc", "line": 86,
                             "by": ["..."], "length": 3, "config": "frames=8"},
                   "<id>": {"outcome": "survived", ..., "triage": "accepted",
                            "why": "..."}, ...}}}}

Each survivor carries a triage, written by the model's engineer when reviewing the run:
``triage`` is one of ``TRIAGES`` and ``why`` says what the mutant changes and why no
property sees it (or what the model needs). A rerun keeps the triage of every mutant that
survives again under the same id; a new survivor has none until someone reviews it, and
the test suite names it (tests/test_mutate_manifest.py).

The test suite replays a deterministic sample of the recorded kills on every change
(tests/test_mutate_manifest.py), so a model edit that loses teeth shows up.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from hintspec.engine.mutate import MutantResult, MutationRun
from hintspec.engine.mutate_run import RunConfig
from hintspec.lang.errors import UsageError
from hintspec.manifests.explorer import load_manifest

TRIAGES = {
    "beyond-bound": "a real change that shows only at a larger configuration than the run's",
    "accepted": "no property should see it: the mutant is harmless or equivalent in effect",
    "model-needs": "a gap: the model needs the property or the behaviour named in why",
    "checker-misses": "the explorer kills it; this checker (fuzz) does not reach the trace",
}
"""How a survivor is explained (the record's ``triage`` field)."""


def models_manifest_dir() -> Path:
    """``models/manifest`` of the source tree (an editable install links the files from a
    build tree: a new file must go to the real directory)."""
    spec = importlib.util.find_spec("hintspec.models")
    assert spec is not None and spec.origin is not None
    return Path(spec.origin).resolve().parent / "manifest"


def mutation_dir() -> Path:
    return models_manifest_dir() / "mutation"


def run_configs(
    model: str, variant: str, budget: float | None
) -> tuple[list[RunConfig], list[str]]:
    """The configurations to mutate ``model``'s ``variant`` at, and the entries left out
    (each with why)."""
    configs: list[RunConfig] = []
    skipped: list[str] = []
    for entry in load_manifest():
        if entry.model != model or entry.variant != variant:
            continue
        label = " ".join(f"{k}={v}" for k, v in entry.config.items()) or "defaults"
        label += "" if entry.symmetry else " unreduced"
        if entry.slow:
            skipped.append(f"[{label}]: slow")
            continue
        verdict = entry.expect.get("verdict")
        if verdict not in ("holds", "vacuous"):
            failing = ", ".join(entry.expect.get("failing", [])) or verdict
            skipped.append(f"[{label}]: the manifest expects {verdict} ({failing})")
            continue
        configs.append(
            RunConfig(
                overrides=dict(entry.config),
                label=label,
                symmetry=entry.symmetry,
                max_states=entry.max_states,
                budget=budget,
            )
        )
    return configs, skipped


def mutant_record(r: MutantResult) -> dict[str, Any]:
    """What the manifest keeps of one mutant."""
    m = r.mutant
    out: dict[str, Any] = {
        "outcome": r.outcome,
        "operator": m.operator,
        "function": m.function,
        "line": m.line,
    }
    if r.kills:
        out["by"] = r.killers
        out["length"] = r.trace_length
        out["lengths"] = {k.prop: k.length for k in r.kills}
    if r.config:
        out["config"] = r.config
    if r.outcome != "killed":
        out["what"] = m.description
    if r.reason and r.outcome in ("invalid", "timeout", "equivalent"):
        out["reason"] = r.reason
    return out


def run_record(run: MutationRun) -> dict[str, Any]:
    rate = run.kill_rate
    return {
        "configs": [c.label for c in run.configs],
        "skipped": run.skipped,
        "operators": list(run.operators),
        "enumerated": run.enumerated,
        "sample": None if run.sample is None else {"k": run.sample[0], "seed": run.sample[1]},
        "chosen": run.note or None,
        "counts": run.counts(),
        "kill_rate": None if rate is None else round(rate, 4),
        "mutants": {r.mutant.id: mutant_record(r) for r in run.results},
    }


def explorer_kills(model: str, within: int, safety: set[str]) -> dict[str, int]:
    """Mutant id -> the shortest trace by which the explorer's record kills it through one
    of the ``safety`` properties, for the kills of at most ``within`` steps."""
    doc = load_record(model)
    rec = (doc or {}).get("checkers", {}).get("explore")
    if rec is None:
        raise UsageError(
            f"{model}: no explorer record to choose mutants from; run "
            f"`hintspec mutate {model} --update-manifest` first"
        )
    out = {}
    for mid, m in rec["mutants"].items():
        lengths = [n for p, n in m.get("lengths", {}).items() if p in safety and n is not None]
        if m["outcome"] == "killed" and lengths and min(lengths) <= within:
            out[mid] = min(lengths)
    return out


def _keep_triage(record: dict[str, Any], previous: dict[str, Any] | None) -> None:
    """Carry the triage of each survivor of ``previous`` that survives again in ``record``."""
    old = (previous or {}).get("mutants", {})
    for mid, m in record["mutants"].items():
        before = old.get(mid, {})
        if m["outcome"] == "survived" and before.get("outcome") == "survived":
            for key in ("triage", "why"):
                if key in before:
                    m[key] = before[key]


def recorded_triage(
    model: str, variant: str, checker: str, directory: Path | None = None
) -> dict[str, str]:
    """Mutant id -> "triage: why" of the survivors the model's record explains (none when
    the record is of another variant)."""
    doc = load_record(model, directory) or {}
    if doc.get("variant") != variant:
        return {}
    rec = (doc.get("checkers") or {}).get(checker) or {}
    return {
        mid: f"{m['triage']}: {m['why']}"
        for mid, m in rec.get("mutants", {}).items()
        if m.get("outcome") == "survived" and m.get("triage") and m.get("why")
    }


def unexplained(record: dict[str, Any]) -> list[str]:
    """The survivors of a checker's record without a valid triage (id: what it changes)."""
    return [
        f"{mid} ({m['function']} line {m['line']}: {m.get('what', m['operator'])})"
        for mid, m in record["mutants"].items()
        if m["outcome"] == "survived"
        and (m.get("triage") not in TRIAGES or not str(m.get("why", "")).strip())
    ]


def load_record(model: str, directory: Path | None = None) -> dict[str, Any] | None:
    """The model's mutation manifest (None if it has none)."""
    path = (directory or mutation_dir()) / f"{model}.json"
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UsageError(f"mutation manifest {path.name} is not valid JSON: {exc.msg}") from None
    if not isinstance(doc, dict):
        raise UsageError(f"mutation manifest {path.name} is not a JSON object")
    return doc


def update_record(run: MutationRun, directory: Path | None = None) -> Path:
    """Write ``run`` into the model's mutation manifest, under its checker (the other
    checkers' records are kept)."""
    if run.interrupted:
        raise UsageError("an interrupted run is not recorded in the manifest")
    folder = directory or mutation_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{run.model}.json"
    doc = load_record(run.model, folder) or {}
    if doc.get("variant") not in (None, run.variant):
        doc = {}
    checkers = dict(doc.get("checkers", {}))
    record = run_record(run)
    _keep_triage(record, checkers.get(run.checker))
    checkers[run.checker] = record
    doc = {"model": run.model, "variant": run.variant, "checkers": dict(sorted(checkers.items()))}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
