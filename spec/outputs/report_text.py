"""The design-review report as plain text for a mail: at most 80 columns, no markup.

Per model: what it mirrors, its configs, its designs (the upstream design and the variants
beside it, each with its description), its properties numbered, one aligned table of the
entries (variant, configuration, states, verdict, the properties that fail), the findings
and the expected violations of the upstream design with why, then every violation's
shortest trace inline, as ``hintspec show`` prints it (steps, changed variables, the frame
map). Tables are laid out by :func:`text_table`; long cells wrap inside their column.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from hintspec.lang.errors import UsageError
from hintspec.outputs.report import (
    EntryOutcome,
    ModelReport,
    PropertyOutcome,
    Report,
    expected_violation,
    findings,
    first_paragraph,
)
from hintspec.traces.files import read_itf
from hintspec.traces.text import render_trace

WIDTH = 80
GAP = "  "


def _wrap(text: str, width: int, indent: str = "", hanging: str | None = None) -> list[str]:
    """Lines of at most ``width`` columns, broken between words (a word longer than a line
    is cut, the only way to keep the width)."""
    return textwrap.wrap(
        text,
        width=width,
        initial_indent=indent,
        subsequent_indent=indent if hanging is None else hanging,
        break_on_hyphens=False,
    ) or [indent.rstrip()]


def fit(line: str, width: int = WIDTH) -> list[str]:
    """One line of ``width`` columns at most: a longer one continues, indented, on the next
    lines (broken between words)."""
    if len(line) <= width:
        return [line]
    indent = " " * min(len(line) - len(line.lstrip()) + 4, width // 2)
    return _wrap(line.strip(), width, " " * (len(line) - len(line.lstrip())), indent)


def text_table(
    headers: list[str], rows: list[list[str]], *, width: int = WIDTH, right: set[int] | None = None
) -> list[str]:
    """An aligned table of at most ``width`` columns: a header, a rule, the rows. When the
    natural widths do not fit, the widest columns are narrowed and their cells wrap."""
    right = right or set()
    n = len(headers)
    natural = [
        max(len(headers[c]), *(len(r[c]) for r in rows)) if rows else len(headers[c])
        for c in range(n)
    ]
    room = width - len(GAP) * (n - 1)
    widths = list(natural)
    while sum(widths) > room:
        c = max(range(n), key=lambda k: widths[k])
        floor = max(len(headers[c]), 6)
        if widths[c] <= floor:
            break
        widths[c] -= 1
    out = []
    for cells in [headers, ["-" * w for w in widths], *rows]:
        wrapped = [_wrap(cells[c], widths[c]) if cells[c] else [""] for c in range(n)]
        for k in range(max(len(w) for w in wrapped)):
            parts = []
            for c in range(n):
                text = wrapped[c][k] if k < len(wrapped[c]) else ""
                parts.append(text.rjust(widths[c]) if c in right else text.ljust(widths[c]))
            out.extend(fit(GAP.join(parts).rstrip(), width))
    return out


def _heading(text: str, rule: str) -> list[str]:
    return [text, rule * min(len(text), WIDTH)]


def _numbers(rep: ModelReport) -> dict[str, str]:
    names = [n for n, _k in rep.properties]
    for e in rep.entries:
        names += [p.name for p in e.properties if p.name not in names]
    return {name: f"P{k}" for k, name in enumerate(names, 1)}


def _fails(e: EntryOutcome, number: dict[str, str]) -> str:
    parts = []
    for p in e.failing:
        tag = number.get(p.name, "?")
        if p.cell == "vacuous":
            tag += " (vacuous)"
        elif p.data_lost:
            tag += " (data lost)"
        parts.append(tag)
    return ", ".join(parts) or "-"


def trace_text(p: PropertyOutcome) -> str | None:
    """The violation's trace as text: its ``.txt`` file, else rendered from its ITF."""
    if p.trace is None:
        return None
    if p.trace.text and Path(p.trace.text).is_file():
        return Path(p.trace.text).read_text(encoding="utf-8")
    try:
        return render_trace(read_itf(Path(p.trace.itf)))
    except UsageError:
        return None


def _model_section(rep: ModelReport) -> list[str]:
    out = ["", "=" * WIDTH, rep.name, "=" * WIDTH]
    out += _wrap(first_paragraph(rep.doc) or rep.summary, WIDTH)
    cfg = " ".join(f"{k}={v}" for k, v in rep.defaults.items()) or "none"
    out += ["", *_wrap(f"Configs: defaults {cfg}", WIDTH, "", "    ")]
    if rep.reference_config:
        ref = " ".join(f"{k}={v}" for k, v in rep.reference_config.items())
        out += _wrap(f"reference {ref}", WIDTH, "    ")
    out += ["", *_heading("Designs", "-")]
    labels = {
        name: f"  {name}" + (" (default)" if name == rep.default_variant else "")
        for name in rep.variants
    }
    name_w = min(max(len(label) for label in labels.values()), 30)
    for name, doc in rep.variants.items():
        label = labels[name]
        text = first_paragraph(doc)
        if len(label) > name_w:
            out.append(label)
            out += _wrap(text, WIDTH, " " * (name_w + 2))
        else:
            lines = _wrap(text, WIDTH - name_w - 2)
            out.append(label.ljust(name_w + 2) + lines[0])
            out += [" " * (name_w + 2) + line for line in lines[1:]]
    if not rep.entries:
        return [*out, "", "No manifest entries: nothing was checked for this model."]
    number = _numbers(rep)
    kinds = dict(rep.properties)
    out += ["", *_heading("Properties", "-")]
    for name, tag in number.items():
        out += _wrap(f"{tag:<4}{name} ({kinds.get(name, 'always')})", WIDTH, "  ", "      ")
    out += ["", *_heading("Verdicts", "-")]
    rows = []
    for e in rep.entries:
        verdict = e.verdict + (f" ({e.bound_hit})" if e.bound_hit else "")
        if e.mismatches:
            verdict += " NOT AS EXPECTED"
        rows.append(
            [e.variant, e.config_text, f"{e.distinct_states:,}", verdict, _fails(e, number)]
        )
    out += text_table(["variant", "config", "states", "verdict", "fails"], rows, right={2})
    mismatched = [e for e in rep.entries if e.mismatches]
    for e in mismatched:
        out += _wrap(f"{e.variant} {e.config_text}: " + "; ".join(e.mismatches), WIDTH, "  ! ")
    found = findings(rep)
    if found:
        out += ["", *_heading("Findings and expected violations of the upstream design", "-")]
        for e, why in found:
            tag = " (FINDING)" if e.is_finding else ""
            out += _wrap(f"{e.variant} at {e.config_text}{tag}: {why}", WIDTH, "  ", "    ")
    violations = rep.violations()
    if violations:
        out += ["", *_heading("Violations: the shortest trace of each", "-")]
        for k, (e, p) in enumerate(violations, 1):
            why = " (expected: upstream)" if expected_violation(rep, e) is not None else ""
            head = f"[V{k}] {e.variant} at {e.config_text}: {number.get(p.name, '?')} {p.name}"
            out += ["", *_wrap(head + why, WIDTH, "", "     "), ""]
            trace = trace_text(p)
            if trace is None:
                out.append("     (no trace was recorded for this violation)")
                continue
            for line in trace.rstrip("\n").splitlines():
                out += fit(line)
    return out


def render_report_text(report: Report, out: Path | None = None) -> str:
    """The report as plain text of at most 80 columns (``out`` is not needed: the text
    has no links, it holds the traces)."""
    entries = report.entries
    bad = report.not_as_expected
    lines = [*_heading("hintspec design review", "=")]
    summary = (
        f"Generated {report.generated}: {len(report.models)} models, {len(entries)} manifest "
        f"entries ({len(entries) - len(bad)} as expected"
        + (f", {len(bad)} NOT as expected" if bad else "")
        + f"), {report.seconds:.1f} s"
        + ("" if report.include_slow else "; slow entries not included")
        + "."
    )
    lines += _wrap(summary, WIDTH)
    lines.append("")
    lines += _wrap(
        "Verdicts: holds = no reachable state breaks it (the search was exhaustive at the "
        "entry's configuration; its state count is the bound); violated = the shortest "
        "trace is below (data lost: some state of it has lost data); witnessed / vacuous = "
        "a 'sometimes' property is / is never satisfied (vacuous fails: nothing was "
        "checked); undetermined = a bound was hit first.",
        WIDTH,
    )
    if report.proof_note:
        lines += ["", *_wrap(report.proof_note, WIDTH)]
    rows = [
        [
            rep.name,
            str(len(rep.entries)),
            ", ".join(rep.violated_variants) or "-",
            str(len(findings(rep))),
        ]
        for rep in report.models
    ]
    lines.append("")
    lines += text_table(["model", "entries", "violated variants", "findings"], rows, right={1, 3})
    for rep in report.models:
        lines += _model_section(rep)
    return "\n".join(line.rstrip() for line in lines) + "\n"
