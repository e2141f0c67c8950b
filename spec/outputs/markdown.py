"""The design-review report as Markdown, for mailing-list replies and pull requests.

Per model: what it mirrors (the docstring's first paragraph), configs and variants, the
property x variant table (columns are manifest entries, each naming its configuration and
state count, which is the bound a ``holds`` speaks about), the runs' figures (states,
transitions, depth, time, actions that never fired, the manifest's note), the findings and
the expected violations of the upstream design with why, the violations with links to
their text traces, and the witnesses. Every link is relative to the Markdown file (a
published page keeps working beside its traces); for a mail, use the text format
(:mod:`hintspec.outputs.report_text`).
"""

from __future__ import annotations

import os
from pathlib import Path

from hintspec.outputs.report import (
    EntryOutcome,
    ModelReport,
    ProofOutcome,
    PropertyOutcome,
    Report,
    TraceLink,
    findings,
    first_paragraph,
    verdict_rows,
)

LEGEND = (
    "**holds**: no reachable state breaks it; the search was exhaustive at the column's "
    "configuration (its state count is the bound). **witnessed**: a reachable state "
    "satisfies the `sometimes` property (not vacuous). **VIOLATED**: the shortest trace, "
    "linked, with its number of steps (a lasso is marked ↺). **vacuous**: no reachable state "
    "is a witness. **undetermined**: a bound (states, depth, time) was hit first. "
    "**proven**: Z3 k-induction at the stated size."
)


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _cell_text(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


class _Links:
    """Reference-style links (``[3 steps][t1]`` ... ``[t1]: path``), so tables stay
    narrow and readable as plain text in a mail."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.targets: list[str] = []
        self.given = 0

    def __call__(self, link: TraceLink | None, label: str) -> str:
        if link is None:
            return label
        target = Path(os.path.relpath(link.text or link.itf, self.base)).as_posix()
        if target not in self.targets:
            self.targets.append(target)
        return f"[{label}][t{self.targets.index(target) + 1}]"

    def definitions(self) -> list[str]:
        """The definitions not given yet (labels are unique in the whole document)."""
        out = [f"[t{k}]: {t}" for k, t in enumerate(self.targets, 1) if k > self.given]
        self.given = len(self.targets)
        return out


def verdict_cell(p: PropertyOutcome | None, link: _Links) -> str:
    """One cell of the property x variant table."""
    if p is None:
        return "–"
    steps = f"{p.trace_length} step{'s' if p.trace_length != 1 else ''}"
    if p.verdict == "violated" and p.kind != "sometimes":
        lasso = " ↺" if p.trace is not None and p.trace.lasso else ""
        lost = " ⚠ data lost" if p.data_lost else ""
        return f"**VIOLATED**{lost} ({link(p.trace, steps)}{lasso})"
    if p.cell == "witnessed" and p.trace_length is not None:
        return f"witnessed ({link(p.trace, steps)})"
    if p.verdict == "undetermined":
        return "undetermined"
    return p.cell


def proof_cell(proofs: list[ProofOutcome], link: _Links) -> str:
    """The Z3 column: every proof of the property, with its size."""
    parts = []
    for pr in proofs:
        where = pr.config if pr.variant == "upstream" else f"{pr.variant} {pr.config}"
        word = {"proven": "**proven**", "refuted": "**REFUTED**"}.get(pr.verdict, pr.verdict)
        if pr.trace is not None:
            word = link(pr.trace, word)
        parts.append(f"{word} for {where} ({pr.method})")
    return "; ".join(parts) or "–"


def _column(e: EntryOutcome) -> str:
    return f"`{e.variant}`<br>{e.config_text}<br>{e.distinct_states:,} states"


def _model_section(rep: ModelReport, link: _Links) -> list[str]:
    out = [f"## {rep.name}", "", f"> {first_paragraph(rep.doc) or rep.summary}", ""]
    cfg = ", ".join(f"`{k}={v}`" for k, v in rep.defaults.items()) or "none"
    out.append(f"**Configs.** defaults: {cfg}")
    if rep.reference_config:
        ref = ", ".join(f"`{k}={v}`" for k, v in rep.reference_config.items())
        out[-1] += f"; reference: {ref}"
    out += ["", "**Variants.**", ""]
    for name, doc in rep.variants.items():
        out.append(f"- `{name}`: {first_paragraph(doc)}")
    out.append("")
    if not rep.entries:
        out += ["No manifest entries: nothing was checked for this model.", ""]
        return out
    rows = verdict_rows(rep)
    with_z3 = any(r.proofs for r in rows) or bool(rep.proofs)
    head = ["property", "kind", *(_column(e) for e in rep.entries)]
    if with_z3:
        head.append("Z3")
    out += ["**Verdicts** (property × variant).", ""]
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "---|" * len(head))
    for row in rows:
        cells = [_cell_text(row.name), row.kind, *(verdict_cell(c, link) for c in row.cells)]
        if with_z3:
            cells.append(proof_cell(row.proofs, link))
        out.append("| " + " | ".join(cells) + " |")
    out += ["", "**Runs.**", ""]
    out.append(
        "| variant | config | verdict | as expected | states | transitions | depth | time "
        "| never fired | note |"
    )
    out.append("|---|---|---|---|--:|--:|--:|--:|---|---|")
    for e in rep.entries:
        expected = "yes" if not e.mismatches else "**NO**: " + _cell_text("; ".join(e.mismatches))
        if not e.expected:
            expected = "(no expectation)"
        verdict = f"{e.verdict} ({e.bound_hit})" if e.bound_hit else e.verdict
        out.append(
            f"| `{e.variant}` | {e.config_text} | {verdict} | {expected} | "
            f"{e.distinct_states:,} | {e.transitions:,} | {e.depth} | {e.seconds:.2f} s | "
            f"{', '.join(f'`{a}`' for a in e.never_fired) or '–'} | {_cell_text(e.note)} |"
        )
    found = findings(rep)
    if found:
        out += ["", "**Findings and expected violations of the upstream design.**", ""]
        for e, why in found:
            tag = " (FINDING)" if e.is_finding else ""
            out.append(f"- `{e.variant}` {e.config_text}{tag}: {why}")
    violations = rep.violations()
    if violations:
        out += ["", "**Violations.**", ""]
        for e, p in violations:
            steps = f"{p.trace_length} steps" + (" (lasso)" if p.trace and p.trace.lasso else "")
            out.append(
                f"- `{e.variant}` {e.config_text}: *{p.name}*: {p.explanation or ''} "
                f"({link(p.trace, steps)})"
            )
    witnessed: dict[str, list[str]] = {}
    for e in rep.entries:
        for p in e.properties:
            if p.kind != "sometimes":
                continue
            if p.verdict == "holds":
                what = link(p.trace, f"{p.trace_length} steps")
            else:
                what = "**vacuous**" if p.verdict == "violated" else "undetermined"
            witnessed.setdefault(p.name, []).append(f"`{e.variant}` {e.config_text} {what}")
    if witnessed:
        out += ["", "**Witnesses** (shortest, per entry).", ""]
        out += [f"- *{name}*: " + ", ".join(where) for name, where in witnessed.items()]
    out.append("")
    return out


def render_report_markdown(report: Report, out: Path) -> str:
    """The report as Markdown; links are relative to ``out`` (the file it is written to)."""
    base = out.resolve().parent
    entries = report.entries
    bad = report.not_as_expected
    lines = [
        "# hintspec design review",
        "",
        f"Generated {report.generated}: {_plural(len(report.models), 'model')}, "
        f"{_plural(len(entries), 'manifest entry', 'manifest entries')} "
        f"({len(entries) - len(bad)} as expected"
        + (f", **{len(bad)} not as expected**" if bad else "")
        + f"), {report.seconds:.1f} s"
        + ("" if report.include_slow else "; slow entries not included")
        + ".",
        "",
        LEGEND,
        "",
    ]
    if report.proof_note:
        lines += [report.proof_note, ""]
    lines += [
        "| model | entries | violated variants | largest space | time |",
        "|---|--:|---|--:|--:|",
    ]
    for rep in report.models:
        lines.append(
            f"| [{rep.name}](#{rep.name}) | {len(rep.entries)} | "
            f"{', '.join(f'`{v}`' for v in rep.violated_variants) or '–'} | "
            f"{rep.largest_space:,} | {rep.seconds:.2f} s |"
        )
    lines.append("")
    links = _Links(base)
    for rep in report.models:
        lines += _model_section(rep, links)
        defs = links.definitions()
        if defs:
            lines += [*defs, ""]
    return "\n".join(lines).rstrip() + "\n"
