"""The design-review report as one self-contained HTML page (no network: inline CSS).

The same content as :mod:`hintspec.outputs.markdown`, plus each model's whole docstring and
its actions with their kernel/QEMU citations; verdict cells are coloured and carry the
explanation (or the bound a ``holds`` speaks about) as a tooltip; a violated cell links to
the trace's HTML viewer written beside the report (and to its ITF file).
"""

from __future__ import annotations

import os
from pathlib import Path

from hintspec.outputs.html import esc, page
from hintspec.outputs.report import (
    EntryOutcome,
    ModelReport,
    ProofOutcome,
    PropertyOutcome,
    Report,
    TraceLink,
    first_paragraph,
    holds_note,
    verdict_rows,
)

REPORT_CSS = """
main.report { padding:8px 20px 40px; max-width:1400px; }
h2 { font-size:20px; margin:28px 0 4px; padding-top:8px; border-top:2px solid var(--line); }
h3 { font-size:15px; margin:16px 0 6px; }
table.t { border-collapse:collapse; margin:4px 0 8px; }
table.t th, table.t td { border:1px solid var(--line); padding:4px 8px; text-align:left;
  vertical-align:top; }
table.t th { background:var(--panel); font-weight:600; }
table.t td.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
table.verdicts td.v { text-align:center; white-space:nowrap; }
td.v-holds { background:var(--goodbg); color:var(--good); }
td.v-witnessed { background:#f1f8e9; color:#33691e; }
td.v-violated, td.v-vacuous { background:var(--badbg); color:var(--bad); font-weight:600; }
td.v-undetermined, td.v-vacuous { background:var(--warnbg); color:var(--warn); }
td.v-proven { background:#e3f2fd; color:#0d47a1; }
td.v-refuted { background:var(--badbg); color:var(--bad); }
td.v-unknown { background:var(--warnbg); color:var(--warn); }
td.v-na { color:var(--muted); }
tr.mismatch td { background:#fff0f0; }
pre.doc { white-space:pre-wrap; background:var(--panel); padding:10px 12px;
  border-radius:6px; border:1px solid var(--line); max-width:100ch; }
.legend-box { background:var(--panel); border:1px solid var(--line); border-radius:6px;
  padding:8px 12px; margin:8px 0; max-width:120ch; }
.small { font-size:12px; }
ul.tight { margin:4px 0; padding-left:20px; }
.pill { display:inline-block; border-radius:10px; padding:0 8px; font-size:12px;
  border:1px solid; }
.pill.ok { color:var(--good); border-color:#b9dcbb; background:var(--goodbg); }
.pill.bad { color:var(--bad); border-color:#f3b8b3; background:var(--badbg); }
"""


def _href(path: str | None, base: Path) -> str:
    return Path(os.path.relpath(path, base)).as_posix() if path else ""


def _trace_links(link: TraceLink | None, base: Path, label: str) -> str:
    if link is None:
        return esc(label)
    main = link.html or link.itf
    out = f"<a class='trace' href='{esc(_href(main, base))}'>{esc(label)}</a>"
    if link.html:
        out += f" <a class='small muted' href='{esc(_href(link.itf, base))}'>itf</a>"
    return out


def _steps(n: int | None) -> str:
    return f"{n} step{'s' if n != 1 else ''}"


def verdict_td(p: PropertyOutcome | None, entry: EntryOutcome, base: Path) -> str:
    """One coloured cell of the property x variant table."""
    if p is None:
        return "<td class='v v-na' title='not reported for this entry'>–</td>"
    cell = p.cell
    title = p.explanation or ""
    body = esc(cell)
    if cell == "holds":
        title = f"holds exhaustively: {holds_note(entry)}"
    elif cell == "witnessed":
        body = "witnessed · " + _trace_links(p.trace, base, _steps(p.trace_length))
        title = f"a reachable state satisfies it; the shortest witness has {p.trace_length} steps"
    elif p.verdict == "violated" and p.kind != "sometimes":
        lasso = " ↺" if p.trace is not None and p.trace.lasso else ""
        body = "VIOLATED · " + _trace_links(p.trace, base, _steps(p.trace_length)) + lasso
    return f"<td class='v v-{esc(cell)}' title='{esc(title)}'>{body}</td>"


def proof_td(proofs: list[ProofOutcome], base: Path) -> str:
    """The Z3 cell of a property: every proof with the size it speaks about."""
    if not proofs:
        return "<td class='v v-na'>–</td>"
    parts = []
    for pr in proofs:
        where = pr.config if pr.variant == "upstream" else f"{pr.variant} {pr.config}"
        word = esc(pr.verdict)
        if pr.trace is not None:
            word = _trace_links(pr.trace, base, pr.verdict)
        parts.append(
            f"<span title='{esc(pr.reason)}'>{word} for {esc(where)} "
            f"<span class='small'>({esc(pr.method)}, {pr.seconds:.1f} s)</span></span>"
        )
    return f"<td class='v v-{esc(proofs[0].verdict)}'>" + "<br>".join(parts) + "</td>"


def _verdict_table(rep: ModelReport, base: Path) -> str:
    rows = verdict_rows(rep)
    with_z3 = bool(rep.proofs)
    head = "".join(
        f"<th><code>{esc(e.variant)}</code><br><span class='small'>{esc(e.config_text)}<br>"
        f"{e.distinct_states:,} states</span></th>"
        for e in rep.entries
    )
    if with_z3:
        head += "<th>Z3</th>"
    body = []
    for row in rows:
        cells = "".join(verdict_td(c, e, base) for c, e in zip(row.cells, rep.entries, strict=True))
        if with_z3:
            cells += proof_td(row.proofs, base)
        body.append(
            f"<tr><td>{esc(row.name)}</td><td class='small muted'>{esc(row.kind)}</td>{cells}</tr>"
        )
    return (
        "<table class='t verdicts'><thead><tr><th>property</th><th>kind</th>"
        f"{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def _runs_table(rep: ModelReport) -> str:
    rows = []
    for e in rep.entries:
        if not e.expected:
            expected = "<span class='muted'>no expectation</span>"
        elif e.mismatches:
            expected = "<span class='pill bad'>NO</span> " + esc("; ".join(e.mismatches))
        else:
            expected = "<span class='pill ok'>yes</span>"
        verdict = esc(e.verdict) + (f" ({esc(e.bound_hit)})" if e.bound_hit else "")
        never = ", ".join(f"<code>{esc(a)}</code>" for a in e.never_fired) or "–"
        cls = " class='mismatch'" if e.mismatches else ""
        rows.append(
            f"<tr{cls}><td><code>{esc(e.variant)}</code></td><td>{esc(e.config_text)}</td>"
            f"<td>{verdict}</td><td>{expected}</td>"
            f"<td class='num'>{e.distinct_states:,}</td><td class='num'>{e.transitions:,}</td>"
            f"<td class='num'>{e.depth}</td><td class='num'>{e.seconds:.2f} s</td>"
            f"<td>{never}</td></tr>"
        )
    return (
        "<table class='t runs'><thead><tr><th>variant</th><th>config</th><th>verdict</th>"
        "<th>as expected</th><th>states</th><th>transitions</th><th>depth</th><th>time</th>"
        "<th>actions that never fired</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def _model_section(rep: ModelReport, base: Path) -> str:
    out = [
        f"<section class='model' id='{esc(rep.name)}'>",
        f"<h2>{esc(rep.name)}</h2>",
        f"<p>{esc(first_paragraph(rep.doc) or rep.summary)}</p>",
        f"<details><summary>What it mirrors (the model's docstring)</summary>"
        f"<pre class='doc'>{esc(rep.doc)}</pre></details>",
    ]
    cfg = ", ".join(f"<code>{esc(k)}={esc(v)}</code>" for k, v in rep.defaults.items())
    ref = ", ".join(f"<code>{esc(k)}={esc(v)}</code>" for k, v in rep.reference_config.items())
    out.append(
        f"<p><b>Configs.</b> defaults: {cfg or 'none'}"
        + (f"; reference: {ref}" if ref else "")
        + "</p>"
    )
    out.append("<h3>Variants</h3><table class='t variants'><tbody>")
    for name, doc in rep.variants.items():
        out.append(f"<tr><td><code>{esc(name)}</code></td><td>{esc(doc)}</td></tr>")
    out.append("</tbody></table>")
    out.append(
        f"<details><summary>Actions ({len(rep.actions)}) and what they cite</summary>"
        "<table class='t actions'><tbody>"
        + "".join(
            f"<tr><td><code>{esc(a)}</code></td><td class='mono small'>{esc(c)}</td></tr>"
            for a, c in rep.actions
        )
        + "</tbody></table></details>"
    )
    if not rep.entries:
        out.append("<p class='muted'>No manifest entries: nothing was checked.</p></section>")
        return "\n".join(out)
    out.append("<h3>Verdicts (property × variant)</h3>")
    out.append(_verdict_table(rep, base))
    out.append("<h3>Runs</h3>")
    out.append(_runs_table(rep))
    violations = rep.violations()
    if violations:
        out.append("<h3>Violations</h3><ul class='tight violations'>")
        for e, p in violations:
            lasso = " (lasso)" if p.trace is not None and p.trace.lasso else ""
            out.append(
                f"<li><code>{esc(e.variant)}</code> {esc(e.config_text)}: "
                f"<b>{esc(p.name)}</b>: {esc(p.explanation or '')} "
                f"({_trace_links(p.trace, base, _steps(p.trace_length) + lasso)})</li>"
            )
        out.append("</ul>")
    witnesses = [(e, p) for e in rep.entries for p in e.properties if p.kind == "sometimes"]
    if witnesses:
        out.append("<h3>Witnesses</h3><ul class='tight witnesses'>")
        for e, p in witnesses:
            if p.verdict == "holds":
                what = "witnessed in " + _trace_links(p.trace, base, _steps(p.trace_length))
            elif p.verdict == "violated":
                what = "<b>vacuous</b>: no reachable state is a witness"
            else:
                what = "undetermined"
            out.append(
                f"<li><code>{esc(e.variant)}</code> {esc(e.config_text)}: "
                f"{esc(p.name)}: {what}</li>"
            )
        out.append("</ul>")
    out.append("</section>")
    return "\n".join(out)


def render_report_html(report: Report, out: Path) -> str:
    """The report as a self-contained page; links are relative to ``out``."""
    base = out.resolve().parent
    entries = report.entries
    bad = report.not_as_expected
    summary_rows = []
    for rep in report.models:
        n_bad = sum(1 for e in rep.entries if e.mismatches)
        status = (
            f"<span class='pill bad'>{n_bad} not as expected</span>"
            if n_bad
            else "<span class='pill ok'>as expected</span>"
            if rep.entries
            else "<span class='muted'>no entries</span>"
        )
        summary_rows.append(
            f"<tr><td><a href='#{esc(rep.name)}'>{esc(rep.name)}</a></td>"
            f"<td>{esc(rep.summary)}</td><td class='num'>{len(rep.entries)}</td>"
            f"<td>{', '.join(f'<code>{esc(v)}</code>' for v in rep.violated_variants) or '–'}</td>"
            + (
                f"<td class='num'>{rep.largest_space:,}</td>"
                f"<td class='num'>{rep.seconds:.2f} s</td>"
                if rep.entries
                else "<td class='num'>–</td><td class='num'>–</td>"
            )
            + f"<td>{status}</td></tr>"
        )
    slow = "" if report.include_slow else "; slow entries not included"
    legend = (
        "<div class='legend-box small'><b>holds</b>: no reachable state breaks it, the search "
        "was exhaustive at the column's configuration (its state count is the bound; hover a "
        "cell). <b>witnessed</b>: a reachable state satisfies the <i>sometimes</i> property, "
        "so the others are not vacuous. <b>VIOLATED</b>: the shortest trace, linked, with its "
        "number of steps (↺: a lasso). <b>vacuous</b>: no reachable state is a witness. "
        "<b>undetermined</b>: a bound was hit first. <b>proven</b>: Z3 k-induction at the "
        "stated size.</div>"
    )
    note = f"<p class='muted'>{esc(report.proof_note)}</p>" if report.proof_note else ""
    body = f"""
<header class="top">
  <h1>hintspec design review</h1>
  <div class="muted">generated {esc(report.generated)} · {len(report.models)} models ·
    {len(entries)} manifest entries, {len(entries) - len(bad)} as expected
    {f"<span class='pill bad'>{len(bad)} not as expected</span>" if bad else ""}
    · {report.seconds:.1f} s{esc(slow)}</div>
</header>
<main class="report">
{legend}
{note}
<table class="t summary"><thead><tr><th>model</th><th>mirrors</th><th>entries</th>
<th>violated variants</th><th>largest space</th><th>time</th><th>manifest</th></tr></thead>
<tbody>{"".join(summary_rows)}</tbody></table>
{"".join(_model_section(rep, base) for rep in report.models)}
</main>
"""
    return page("hintspec design review", body, css=REPORT_CSS)
