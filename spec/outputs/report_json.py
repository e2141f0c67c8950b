"""The report's data as JSON (``results.json`` beside the traces), and back.

One run can so be rendered again in another format: ``hintspec report --results
DIR/results.json --out report.md``. The JSON of ``hintspec check --all --json`` is accepted
too (its figures; no trace links unless it carries trace paths). Trace paths are stored
relative to the results file.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hintspec.lang.configs import config_to_json
from hintspec.lang.errors import UsageError
from hintspec.lang.registry import get_model
from hintspec.outputs.report import (
    FORMAT_VERSION,
    EntryOutcome,
    ModelReport,
    ProofOutcome,
    PropertyOutcome,
    Report,
    TraceLink,
    model_report,
    now,
)
from hintspec.traces.files import write_text_atomic


def _relativise(value: Any, base: Path) -> Any:
    if isinstance(value, dict):
        return {
            k: (
                os.path.relpath(v, base)
                if k in ("itf", "html", "text") and isinstance(v, str)
                else _relativise(v, base)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_relativise(v, base) for v in value]
    return value


def report_json(report: Report, base: Path) -> dict[str, Any]:
    """The report as JSON, trace paths relative to ``base``."""
    doc = {"format": "hintspec-report", "version": FORMAT_VERSION, **dataclasses.asdict(report)}
    out: dict[str, Any] = _relativise(doc, base)
    return out


def write_results(report: Report, path: Path) -> None:
    """``results.json``: the report's data, to render it again without re-running."""
    write_text_atomic(path, json.dumps(report_json(report, path.parent), indent=1) + "\n")


def _link(raw: Any, base: Path) -> TraceLink | None:
    if not isinstance(raw, dict) or not raw.get("itf"):
        return None
    paths = {k: str((base / raw[k]).resolve()) if raw.get(k) else None for k in ("html", "text")}
    return TraceLink(
        itf=str((base / raw["itf"]).resolve()),
        html=paths["html"],
        text=paths["text"],
        length=int(raw.get("length", 0)),
        lasso=bool(raw.get("lasso", False)),
    )


def _property(raw: dict[str, Any], base: Path) -> PropertyOutcome:
    link = _link(raw.get("trace"), base)
    if link is None and isinstance(raw.get("trace"), str):
        # `check --all --json` names the ITF file itself.
        itf = (base / raw["trace"]).resolve()
        link = TraceLink(str(itf), length=int(raw.get("trace_length") or 0))
    return PropertyOutcome(
        name=str(raw["name"]),
        kind=str(raw.get("kind", "always")),
        verdict=str(raw["verdict"]),
        explanation=raw.get("explanation"),
        trace_length=raw.get("trace_length"),
        trace=link,
        data_lost=bool(raw.get("data_lost", False)),
    )


def _entry(raw: dict[str, Any], base: Path) -> EntryOutcome:
    model = str(raw["model"])
    cfg = raw.get("config", {})
    if "label" not in raw:
        # `check --all --json`: the config is the full one; keep what differs.
        defaults = config_to_json(get_model(model).Config())
        cfg = {k: v for k, v in cfg.items() if k != "variant" and defaults.get(k) != v}
    return EntryOutcome(
        model=model,
        variant=str(raw["variant"]),
        config=dict(cfg),
        label=str(raw.get("label") or raw.get("entry") or model),
        verdict=str(raw["verdict"]),
        distinct_states=int(raw["distinct_states"]),
        transitions=int(raw["transitions"]),
        depth=int(raw["depth"]),
        seconds=float(raw["seconds"]),
        complete=bool(raw.get("complete", raw.get("bound_hit") is None)),
        bound_hit=raw.get("bound_hit"),
        never_fired=list(raw.get("never_fired", [])),
        properties=[_property(p, base) for p in raw.get("properties", [])],
        expected=dict(raw.get("expected", {})),
        mismatches=list(raw.get("mismatches", [])),
        slow=bool(raw.get("slow", False)),
        note=str(raw.get("note", "")),
    )


def load_results(path: Path, models: Sequence[str] | None = None) -> Report:
    """A report from ``results.json`` (or from ``hintspec check --all --json`` output)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"results file {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"cannot read results file {str(path)!r}: {exc}") from None
    base = path.parent
    try:
        if isinstance(doc, list):
            return _from_check_json(doc, base, models)
        if isinstance(doc, dict) and doc.get("format") == "hintspec-report":
            return _from_report_json(doc, base, models)
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"{path}: malformed results ({exc})") from None
    raise UsageError(
        f"{path}: not a hintspec report results.json nor `hintspec check --all --json` output"
    )


def _from_check_json(doc: list[Any], base: Path, models: Sequence[str] | None) -> Report:
    by_model: dict[str, list[EntryOutcome]] = {}
    for raw in doc:
        outcome = _entry(raw, base)
        by_model.setdefault(outcome.model, []).append(outcome)
    names = list(models) if models else list(by_model)
    reports = [model_report(get_model(n), by_model.get(n, [])) for n in names]
    return Report(
        reports,
        now(),
        include_slow=False,
        seconds=sum(e.seconds for es in by_model.values() for e in es),
        source="results",
    )


def _from_report_json(doc: dict[str, Any], base: Path, models: Sequence[str] | None) -> Report:
    reports: list[ModelReport] = []
    for raw in doc["models"]:
        if models and raw["name"] not in models:
            continue
        rep = ModelReport(
            name=raw["name"],
            summary=raw["summary"],
            doc=raw["doc"],
            defaults=raw["defaults"],
            reference_config=raw["reference_config"],
            variants=raw["variants"],
            actions=[(a, c) for a, c in raw["actions"]],
            properties=[(n, k) for n, k in raw["properties"]],
            frame_legend=raw.get("frame_legend", {}),
            entries=[_entry(e, base) for e in raw["entries"]],
            proofs=[
                ProofOutcome(**{**p, "trace": _link(p.get("trace"), base)})
                for p in raw.get("proofs", [])
            ],
            default_variant=str(
                raw.get("default_variant") or get_model(raw["name"]).Config().variant
            ),
        )
        reports.append(rep)
    return Report(
        reports,
        str(doc["generated"]),
        include_slow=bool(doc.get("include_slow")),
        seconds=float(doc.get("seconds", 0.0)),
        source="results",
        proof_note=str(doc.get("proof_note", "")),
    )
