"""The design-review report: every model, its variants and the verdict of every property.

:func:`build_report` runs the manifest entries (``hintspec check --all``'s), writes each
violated property's trace and each witness beside the report (ITF, text and an HTML
viewer), and gathers per model what the renderers (:mod:`hintspec.outputs.report_html`,
:mod:`hintspec.outputs.report_text`, :mod:`hintspec.outputs.markdown`) need: what the
model mirrors (its docstring), its configs and variants, per entry the figures (states,
transitions, depth, time, actions that never fired) and per property the verdict:

* ``holds`` -- every reachable state at the entry's configuration was checked (the bound
  is the configuration: it is stated with the state count);
* ``violated`` -- with the trace (a link) and its length;
* ``witnessed`` / ``vacuous`` -- for ``sometimes`` properties;
* ``undetermined`` -- a bound (states, depth, time) was hit first;
* ``proven`` by Z3 for a stated size (k-induction), from the optional proof hook
  (:func:`proof_outcomes`).

A violation whose trace reaches a frame map with lost data (:func:`hintspec.outputs.palette.
is_lost`) is marked ``data_lost``. :func:`expected_violation` says why a violated entry of
the upstream design is expected (the manifest's note, the finding, and the fix variant that
holds at the same configuration). A report serialises to JSON
(:mod:`hintspec.outputs.report_json`), so one run can be rendered again in another format.
"""

from __future__ import annotations

import dataclasses
import datetime
import inspect
import re
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from hintspec.engine.results import CheckResult
from hintspec.lang.configs import config_overrides, config_to_json, make_config
from hintspec.lang.model import Model
from hintspec.lang.registry import all_models, get_model
from hintspec.manifests.explorer import Entry, mismatches, run_entry
from hintspec.manifests.proofs import report_proofs
from hintspec.outputs.html import render_trace_html
from hintspec.outputs.palette import frame_rows, is_lost
from hintspec.traces import naming
from hintspec.traces.files import write_itf, write_text_atomic
from hintspec.traces.text import render_trace
from hintspec.traces.trace import Trace
from hintspec.traces.values import safe_frame_map

RESULTS_NAME = "results.json"
FORMAT_VERSION = 1
FINDING = re.compile(r"\s*finding\b", re.IGNORECASE)


@dataclasses.dataclass
class TraceLink:
    """A trace written beside the report: its files (absolute while in memory)."""

    itf: str
    html: str | None = None
    text: str | None = None
    length: int = 0
    lasso: bool = False


@dataclasses.dataclass
class PropertyOutcome:
    """One property's verdict at one entry."""

    name: str
    kind: str
    """always, sometimes, liveness or deadlock."""
    verdict: str
    """holds, violated or undetermined (the explorer's Verdict values)."""
    explanation: str | None = None
    trace_length: int | None = None
    trace: TraceLink | None = None
    data_lost: bool = False
    """Violated, and some state of the trace shows lost data in its frame map."""

    @property
    def cell(self) -> str:
        """The short verdict word of the property x variant table."""
        if self.kind == "sometimes":
            return {"holds": "witnessed", "violated": "vacuous"}.get(self.verdict, self.verdict)
        return self.verdict

    @property
    def style(self) -> str:
        """The colour class (:data:`hintspec.outputs.palette.VERDICTS`): the cell word, or
        ``lost`` for a violation that loses data."""
        return "lost" if self.cell == "violated" and self.data_lost else self.cell


@dataclasses.dataclass
class EntryOutcome:
    """One manifest entry (a variant at a configuration) and what checking it gave."""

    model: str
    variant: str
    config: dict[str, Any]
    """The overrides of the model's defaults (variant excluded)."""
    label: str
    verdict: str
    distinct_states: int
    transitions: int
    depth: int
    seconds: float
    complete: bool
    bound_hit: str | None
    never_fired: list[str]
    properties: list[PropertyOutcome]
    expected: dict[str, Any] = dataclasses.field(default_factory=dict)
    mismatches: list[str] = dataclasses.field(default_factory=list)
    slow: bool = False
    note: str = ""

    @property
    def config_text(self) -> str:
        """``frames=8 cap=2`` or ``defaults``."""
        return " ".join(f"{k}={v}" for k, v in self.config.items()) or "defaults"

    @property
    def is_finding(self) -> bool:
        """The manifest's note records a finding (``FINDING: ...``)."""
        return bool(FINDING.match(self.note))

    @property
    def failing(self) -> list[PropertyOutcome]:
        """The properties this entry breaks (vacuous witnesses included)."""
        return [p for p in self.properties if p.verdict == "violated"]

    def property(self, name: str) -> PropertyOutcome | None:
        for p in self.properties:
            if p.name == name:
                return p
        return None


@dataclasses.dataclass
class ProofOutcome:
    """A Z3 verdict on one property at one size (from the optional proof hook)."""

    property: str
    verdict: str
    """proven, refuted or unknown."""
    variant: str
    config: str
    """The size it speaks about, e.g. ``frames=1024``."""
    method: str = ""
    """How, e.g. ``1-induction``."""
    seconds: float = 0.0
    reason: str = ""
    trace: TraceLink | None = None


@dataclasses.dataclass
class ModelReport:
    """Everything the report says about one model."""

    name: str
    summary: str
    doc: str
    defaults: dict[str, Any]
    reference_config: dict[str, Any]
    variants: dict[str, str]
    actions: list[tuple[str, str]]
    """(name, citation) of every action."""
    properties: list[tuple[str, str]]
    """(name, kind) in the model's order, ``no deadlock`` last when it is checked."""
    frame_legend: dict[str, str]
    entries: list[EntryOutcome]
    proofs: list[ProofOutcome] = dataclasses.field(default_factory=list)
    default_variant: str = "upstream"
    """The variant a model checks when none is named (the design it stands for)."""

    @property
    def violated_variants(self) -> list[str]:
        return sorted({e.variant for e in self.entries if e.verdict == "violated"})

    @property
    def largest_space(self) -> int:
        return max((e.distinct_states for e in self.entries), default=0)

    @property
    def seconds(self) -> float:
        return sum(e.seconds for e in self.entries)

    def violations(self) -> list[tuple[EntryOutcome, PropertyOutcome]]:
        """Every violated property (vacuous witnesses excluded), entry by entry."""
        return [
            (e, p)
            for e in self.entries
            for p in e.properties
            if p.verdict == "violated" and p.kind != "sometimes"
        ]


@dataclasses.dataclass
class Report:
    """The whole report."""

    models: list[ModelReport]
    generated: str
    include_slow: bool
    seconds: float
    source: str = "run"
    """run: entries checked for this report; results: re-rendered from a results file."""
    proof_note: str = ""

    @property
    def entries(self) -> list[EntryOutcome]:
        return [e for m in self.models for e in m.entries]

    @property
    def not_as_expected(self) -> list[EntryOutcome]:
        return [e for e in self.entries if e.mismatches]


# -- building --------------------------------------------------------------------------


def _write_trace(trace: Trace, model: Model[Any, Any], directory: Path, stem: str) -> TraceLink:
    """ITF, plain text and the HTML viewer of one trace."""
    itf = directory / f"{stem}.itf.json"
    write_itf(trace, itf)
    text = directory / f"{stem}.txt"
    write_text_atomic(text, render_trace(trace, model))
    page = directory / f"{stem}.html"
    write_text_atomic(page, render_trace_html(trace, model))
    return TraceLink(str(itf), str(page), str(text), len(trace), trace.loop is not None)


def loses_data(trace: Trace, model: Model[Any, Any]) -> bool:
    """Does some state of ``trace`` show lost data in its frame map?"""
    legend = model.frame_legend
    for step in trace.steps:
        fmap = safe_frame_map(model, step.state)
        rows = frame_rows(fmap, legend) if fmap else []
        cells = "".join(row.cells for row in rows if row.label is None)
        if any(is_lost(ch, legend) for ch in cells if ch != " "):
            return True
    return False


def model_report(cls: type[Model[Any, Any]], entries: list[EntryOutcome]) -> ModelReport:
    """The model's own description (docstring, configs, variants) with its entries."""
    props = [(p.name, p.kind.value) for p in cls.properties]
    if cls.check_deadlock:
        props.append(("no deadlock", "deadlock"))
    return ModelReport(
        name=cls.name,
        summary=cls.summary(),
        doc=inspect.cleandoc(cls.__doc__ or ""),
        defaults={k: v for k, v in config_to_json(cls.Config()).items() if k != "variant"},
        reference_config=dict(cls.reference_config),
        variants={k: inspect.cleandoc(v) for k, v in cls.variants.items()},
        actions=[(a.name, a.cites) for a in cls.actions],
        properties=props,
        frame_legend=dict(cls.frame_legend),
        entries=entries,
        default_variant=str(getattr(cls.Config(), "variant", "upstream")),
    )


def entry_outcome(
    entry: Entry,
    result: CheckResult,
    model: Model[Any, Any],
    traces_dir: Path | None,
) -> EntryOutcome:
    """An entry's outcome; with ``traces_dir``, its traces and witnesses written there."""
    props: list[PropertyOutcome] = []
    for p in result.properties:
        link = None
        if p.trace is not None and traces_dir is not None:
            link = _write_trace(
                p.trace,
                model,
                traces_dir,
                naming.trace_stem(entry.model, model.config, p.name, p.trace.kind),
            )
        props.append(
            PropertyOutcome(
                name=p.name,
                kind=p.kind,
                verdict=p.verdict.value,
                explanation=p.explanation,
                trace_length=len(p.trace) if p.trace is not None else None,
                trace=link,
                data_lost=p.trace is not None
                and p.verdict.value == "violated"
                and p.kind != "sometimes"
                and loses_data(p.trace, model),
            )
        )
    return EntryOutcome(
        model=entry.model,
        variant=entry.variant,
        config=dict(entry.config),
        label=entry.label,
        verdict=result.verdict.value,
        distinct_states=result.distinct_states,
        transitions=result.transitions,
        depth=result.depth,
        seconds=result.seconds,
        complete=result.complete,
        bound_hit=result.bound_hit,
        never_fired=result.never_fired,
        properties=props,
        expected=dict(entry.expect),
        mismatches=mismatches(entry, result) if entry.expect else [],
        slow=entry.slow,
        note=entry.note,
    )


def error_outcome(entry: Entry, exc: BaseException) -> EntryOutcome:
    """An entry whose check raised: verdict ``error``, the exception as its mismatch."""
    return EntryOutcome(
        model=entry.model,
        variant=entry.variant,
        config=dict(entry.config),
        label=entry.label,
        verdict="error",
        distinct_states=0,
        transitions=0,
        depth=0,
        seconds=0.0,
        complete=False,
        bound_hit=None,
        never_fired=[],
        properties=[],
        expected=dict(entry.expect),
        mismatches=[f"error: {type(exc).__name__}: {exc}"],
        slow=entry.slow,
        note=entry.note,
    )


ProofHook = Callable[..., Iterable[Any]]


def proof_hook() -> ProofHook | None:
    """What the Z3 column shows for a model: the results of its proof manifest
    (:func:`hintspec.manifests.proofs.report_proofs`, called with the model name and a
    timeout; objects or dicts with ``verdict``, ``properties`` (or ``property``),
    ``variant``, ``config``, ``k``, ``seconds``, ``reason``, optionally ``trace``). A
    function, so that a test can put another source in its place."""
    return report_proofs


def _field(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def proof_outcomes(
    hook: ProofHook, model_name: str, traces_dir: Path | None, timeout: float | None
) -> list[ProofOutcome]:
    """The hook's results for one model, one outcome per property."""
    out: list[ProofOutcome] = []
    cls = get_model(model_name)
    for k, res in enumerate(hook(model_name, timeout=timeout)):
        verdict = _field(res, "verdict", "unknown")
        verdict = str(getattr(verdict, "value", verdict))
        config = _field(res, "config", {})
        variant = str(_field(res, "variant", getattr(config, "variant", "upstream")))
        if dataclasses.is_dataclass(config) and not isinstance(config, type):
            config = {k2: v for k2, v in config_overrides(config).items() if k2 != "variant"}
        cfg_text = (
            " ".join(f"{a}={b}" for a, b in config.items()) or "defaults"
            if isinstance(config, dict)
            else str(config)
        )
        kk = _field(res, "k", None)
        method = str(_field(res, "method", f"{kk}-induction" if kk else "Z3"))
        names = _field(res, "properties", None) or [_field(res, "property", "?")]
        link = None
        trace = _field(res, "trace", None)
        if isinstance(trace, Trace) and traces_dir is not None:
            model = cls(trace.config)
            link = _write_trace(trace, model, traces_dir, f"{model_name}-z3-{k}")
        for name in names:
            out.append(
                ProofOutcome(
                    property=str(name),
                    verdict=verdict,
                    variant=variant,
                    config=cfg_text,
                    method=method,
                    seconds=float(_field(res, "seconds", 0.0) or 0.0),
                    reason=str(_field(res, "reason", "") or ""),
                    trace=link,
                )
            )
    return out


def build_report(
    entries: Sequence[Entry],
    traces_dir: Path | None,
    *,
    models: Sequence[str] | None = None,
    timeout: float | None = None,
    include_slow: bool = False,
    prove: bool = True,
    progress: Callable[[EntryOutcome], None] | None = None,
) -> Report:
    """Check every entry (of ``models``, default all) and gather the report."""
    start = time.monotonic()
    names = list(models) if models else list(all_models())
    by_model: dict[str, list[EntryOutcome]] = {n: [] for n in names}
    for entry in entries:
        if entry.model not in by_model:
            continue
        try:
            cls = get_model(entry.model)
            model = cls(make_config(cls, entry.variant, entry.config))
            result = run_entry(entry, timeout=timeout)
            outcome = entry_outcome(entry, result, model, traces_dir)
        except Exception as exc:
            # One broken model (or manifest entry) must not cost the review the rest of
            # the report: the entry shows the error and counts as not as expected.
            outcome = error_outcome(entry, exc)
        by_model[entry.model].append(outcome)
        if progress is not None:
            progress(outcome)
    hook = proof_hook() if prove else None
    reports = []
    for name in names:
        rep = model_report(get_model(name), by_model[name])
        if hook is not None:
            rep.proofs = proof_outcomes(hook, name, traces_dir, timeout)
        reports.append(rep)
    note = "" if prove else "Z3 proofs were not run (--no-prove)."
    return Report(
        models=reports,
        generated=now(),
        include_slow=include_slow,
        seconds=time.monotonic() - start,
        proof_note=note,
    )


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


@dataclasses.dataclass
class VerdictRow:
    """One row of a model's property x variant table."""

    name: str
    kind: str
    cells: list[PropertyOutcome | None]
    """One per entry of the model (None: the entry did not report this property)."""
    proofs: list[ProofOutcome]


def verdict_rows(rep: ModelReport) -> list[VerdictRow]:
    """The property x entry table of one model, in the model's property order (properties
    only some entries know, e.g. from an older results file, come last)."""
    names = list(rep.properties)
    known = {n for n, _k in names}
    for e in rep.entries:
        for p in e.properties:
            if p.name not in known:
                names.append((p.name, p.kind))
                known.add(p.name)
    return [
        VerdictRow(
            name,
            kind,
            [e.property(name) for e in rep.entries],
            [p for p in rep.proofs if p.property == name],
        )
        for name, kind in names
    ]


def first_paragraph(doc: str) -> str:
    """The docstring's first paragraph, on one line."""
    para = doc.strip().split("\n\n", 1)[0]
    return " ".join(line.strip() for line in para.splitlines())


def holds_note(entry: EntryOutcome) -> str:
    """What ``holds`` means at this entry: the stated bound."""
    return (
        f"every one of the {entry.distinct_states:,} reachable states at "
        f"{entry.config_text} was checked (depth {entry.depth})"
    )


# -- what a reviewer asks first -------------------------------------------------------------


def is_upstream(rep: ModelReport, entry: EntryOutcome) -> bool:
    """Is the entry a check of the design the model stands for (not a bad variant)?"""
    return entry.variant in ("upstream", rep.default_variant)


def fixes(rep: ModelReport, entry: EntryOutcome) -> list[EntryOutcome]:
    """Other variants that hold at the entry's very configuration: the fixes."""
    return [
        e
        for e in rep.entries
        if e.variant != entry.variant and e.config == entry.config and e.verdict == "holds"
    ]


def expected_violation(rep: ModelReport, entry: EntryOutcome) -> str | None:
    """Why a violated entry of the upstream design is expected, in one paragraph (None for
    entries that hold, and for bad variants, whose description says what went wrong)."""
    if entry.verdict != "violated" or not is_upstream(rep, entry):
        return None
    failing = entry.failing
    parts: list[str] = []
    if failing and all(p.kind == "sometimes" for p in failing):
        names = ", ".join(repr(p.name) for p in failing)
        parts.append(
            f"Only witnesses fail here ({names} never happens at this configuration): "
            "nothing is broken, the situation does not arise."
        )
    if entry.note:
        parts.append(entry.note.rstrip(".") + ".")
    elif not parts:
        parts.append("The manifest records this violation as expected (it gives no note).")
    fixed = fixes(rep, entry)
    if fixed:
        names = ", ".join(e.variant for e in fixed)
        verb = "holds" if len(fixed) == 1 else "hold"
        parts.append(f"Fixed by {names}, which {verb} at the same configuration.")
    return " ".join(parts)


def findings(rep: ModelReport) -> list[tuple[EntryOutcome, str]]:
    """The entries a reviewer reads first: findings, and violations of the upstream design,
    each with why it is expected."""
    out: list[tuple[EntryOutcome, str]] = []
    for e in rep.entries:
        why = expected_violation(rep, e)
        if why is not None:
            out.append((e, why))
        elif e.is_finding:
            out.append((e, e.note))
    return out
