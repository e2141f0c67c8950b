"""The design-review report as one self-contained HTML page (no network: inline CSS).

Per model: what it mirrors, its configs, designs and actions (folded), then the property x
variant matrix. The matrix scrolls inside its own box, its header row and first column
stay in place (CSS ``position: sticky``), and a toggle (a checkbox: no script needed)
shows it transposed, variants as rows with each entry's manifest note beside it. Every
cell says its verdict in a word and a symbol and is coloured the same way everywhere
(:mod:`hintspec.outputs.palette`); a cell with a trace (a violation, a witness) is a link
to its viewer, a ``holds`` cell links to its entry's figures. Below the matrix, the
findings and the violations of the upstream design, each with why it is expected and the
fix variant that holds, then every entry with its figures and its note.

The page has landmarks (banner, navigation, main, one region per model) and text colours
of at least 4.5:1 contrast; the browser test runs axe-core over it.
"""

from __future__ import annotations

import os
from pathlib import Path

from hintspec.outputs.html import esc, page
from hintspec.outputs.palette import VERDICTS, verdict_css
from hintspec.outputs.report import (
    EntryOutcome,
    ModelReport,
    ProofOutcome,
    PropertyOutcome,
    Report,
    TraceLink,
    VerdictRow,
    expected_violation,
    findings,
    first_paragraph,
    holds_note,
    verdict_rows,
)

REPORT_CSS = """
main.report { padding:8px 20px 40px; }
nav.models { padding:6px 20px; border-bottom:1px solid var(--line); font-size:13px; }
nav.models a { margin-right:14px; }
h2 { font-size:20px; margin:28px 0 4px; padding-top:8px; border-top:2px solid var(--line); }
h3 { font-size:15px; margin:16px 0 6px; }
table.t { border-collapse:collapse; margin:4px 0 8px; }
table.t th, table.t td { border:1px solid var(--line); padding:4px 8px; text-align:left;
  vertical-align:top; }
table.t th { background:var(--panel); font-weight:600; }
table.t td.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
.matrix-box { overflow:auto; max-height:72vh; max-width:100%; border:1px solid var(--line);
  border-radius:6px; margin:6px 0 10px; }
.matrix-box:focus { outline:2px solid var(--link); }
table.matrix { border-collapse:separate; border-spacing:0; font-size:13px; }
table.matrix th, table.matrix td { border-right:1px solid var(--line);
  border-bottom:1px solid var(--line); padding:4px 6px; vertical-align:top; }
table.matrix thead th { position:sticky; top:0; z-index:2; background:var(--panel);
  text-align:left; font-weight:600; min-width:118px; }
table.matrix th.row { position:sticky; left:0; z-index:1; background:#fff; text-align:left;
  font-weight:500; min-width:16em; max-width:24em; }
table.matrix thead th.corner { left:0; z-index:3; }
table.matrix td.v { text-align:center; white-space:nowrap; padding:0; min-width:118px; }
table.matrix td.v > a, table.matrix td.v > span.c { display:block; padding:5px 6px;
  color:inherit; text-decoration:none; }
table.matrix td.v > a:hover, table.matrix td.v > a:focus { text-decoration:underline; }
table.matrix td.z3 { padding:0; font-size:12px; min-width:20em; }
table.matrix td.z3 span.p { display:block; padding:3px 6px; white-space:nowrap; }
table.matrix td.z3 a { color:inherit; }
table.matrix thead .small { font-weight:400; }
table.matrix td.note { min-width:22em; max-width:34em; font-size:12px; }
.kind { color:var(--muted); font-size:11.5px; font-weight:400; }
.badge { display:inline-block; border-radius:9px; padding:0 7px; font-size:11.5px;
  font-weight:600; border:1px solid; }
.badge.finding { color:#5b2c00; background:#ffe6c7; border-color:#e0a264; }
.badge.expected { color:#9b1c1c; background:#fde7e7; border-color:#f3b8b3; }
.toggle { font-size:13px; margin:4px 0; }
.toggle input { margin-right:6px; }
.by-entry { display:none; }
input.transpose:checked ~ .by-property { display:none; }
input.transpose:checked ~ .by-entry { display:block; }
.finding-box { border-left:4px solid #e0a264; background:#fff8ee; padding:6px 12px;
  margin:6px 0; border-radius:0 6px 6px 0; max-width:120ch; }
.finding-box.upstream { border-left-color:var(--bad); background:#fff5f5; }
pre.doc { white-space:pre-wrap; background:var(--panel); padding:10px 12px;
  border-radius:6px; border:1px solid var(--line); max-width:100ch; }
.legend-box { background:var(--panel); border:1px solid var(--line); border-radius:6px;
  padding:8px 12px; margin:8px 0; }
.legend-box span.v { display:inline-block; padding:1px 7px; border-radius:4px;
  margin:2px 6px 2px 0; font-weight:600; }
.small { font-size:12px; }
ul.tight { margin:4px 0; padding-left:20px; }
.pill { display:inline-block; border-radius:10px; padding:0 8px; font-size:12px;
  border:1px solid; }
.pill.ok { color:var(--good); border-color:#9ccc9f; background:var(--goodbg); }
.pill.bad { color:var(--bad); border-color:#f3b8b3; background:var(--badbg); }
tr.mismatch td { background:#fff0f0; }
td.v-lost, span.v-lost { font-weight:700; }
td.v-violated, span.v-violated { font-weight:600; }
""" + verdict_css()


def _href(path: str | None, base: Path) -> str:
    return Path(os.path.relpath(path, base)).as_posix() if path else ""


def _trace_links(link: TraceLink | None, base: Path, label: str) -> str:
    if link is None:
        return esc(label)
    main = link.html or link.itf
    out = f"<a class='trace' href='{esc(_href(main, base))}'>{esc(label)}</a>"
    if link.html:
        out += f" <a class='small' href='{esc(_href(link.itf, base))}'>itf</a>"
    return out


def _steps(n: int | None) -> str:
    return f"{n} step{'s' if n != 1 else ''}"


def entry_id(rep: ModelReport, k: int) -> str:
    """The anchor of a model's k-th entry (its row in the entries table)."""
    return f"{rep.name}-entry-{k}"


def cell_text(p: PropertyOutcome) -> str:
    """What a verdict cell says: symbol, word, and the trace's length when it has one."""
    style = VERDICTS.get(p.style, VERDICTS["undetermined"])
    word = {"lost": "data lost", "violated": "violated"}.get(p.style, p.cell)
    text = f"{style.symbol} {word}"
    if p.trace_length is not None and p.cell in ("violated", "witnessed"):
        text += f" · {_steps(p.trace_length)}"
        if p.trace is not None and p.trace.lasso:
            text += " ↺"
    return text


def verdict_td(p: PropertyOutcome | None, entry: EntryOutcome, base: Path, anchor: str) -> str:
    """One coloured cell of the matrix: a link to its trace, or to its entry's figures."""
    if p is None:
        return "<td class='v v-na'><span class='c' title='not reported here'>–</span></td>"
    title = p.explanation or ""
    if p.cell == "holds":
        title = f"holds exhaustively: {holds_note(entry)}"
    elif p.cell == "witnessed":
        title = f"a reachable state satisfies it; the shortest witness has {p.trace_length} steps"
    elif p.cell == "vacuous":
        title = "vacuous: no reachable state at this configuration is a witness"
    if p.data_lost:
        title = "data is lost on the way: " + title
    text = esc(cell_text(p))
    if p.trace is not None:
        href = esc(_href(p.trace.html or p.trace.itf, base))
        inner = f"<a class='trace' href='{href}' title='{esc(title)}'>{text}</a>"
    else:
        inner = f"<a href='#{esc(anchor)}' title='{esc(title)}'>{text}</a>"
    return f"<td class='v v-{esc(p.style)}'>{inner}</td>"


def proof_td(proofs: list[ProofOutcome], base: Path) -> str:
    """The Z3 cell of a property: one line per proof, coloured by its own verdict, with the
    size it speaks about (how and how long in its tooltip)."""
    if not proofs:
        return "<td class='z3 v-na'><span class='c'>–</span></td>"
    lines = []
    for pr in proofs:
        style = pr.verdict if pr.verdict in VERDICTS else "unknown"
        where = pr.config if pr.variant == "upstream" else f"{pr.variant}, {pr.config}"
        text = f"{VERDICTS[style].symbol} {pr.verdict} · {where}"
        title = f"{pr.method}, {pr.seconds:.1f} s" + (f": {pr.reason}" if pr.reason else "")
        body = _trace_links(pr.trace, base, text) if pr.trace is not None else esc(text)
        lines.append(f"<span class='p v-{esc(style)}' title='{esc(title)}'>{body}</span>")
    return "<td class='z3'>" + "".join(lines) + "</td>"


def _entry_head(rep: ModelReport, e: EntryOutcome, k: int) -> str:
    badges = ""
    if e.is_finding:
        badges += " <span class='badge finding'>FINDING</span>"
    if expected_violation(rep, e) is not None:
        badges += " <span class='badge expected'>expected</span>"
    return (
        f"<a href='#{esc(entry_id(rep, k))}' title='{esc(rep.variants.get(e.variant, ''))}'>"
        f"<code>{esc(e.variant)}</code></a>{badges}<br><span class='small'>"
        f"{esc(e.config_text)}<br>{e.distinct_states:,} states</span>"
    )


def _matrix_by_property(rep: ModelReport, rows: list[VerdictRow], base: Path) -> str:
    with_z3 = bool(rep.proofs)
    head = "".join(
        f"<th scope='col'>{_entry_head(rep, e, k)}</th>" for k, e in enumerate(rep.entries)
    )
    if with_z3:
        head += "<th scope='col'>Z3</th>"
    body = []
    for row in rows:
        cells = "".join(
            verdict_td(c, e, base, entry_id(rep, k))
            for k, (c, e) in enumerate(zip(row.cells, rep.entries, strict=True))
        )
        if with_z3:
            cells += proof_td(row.proofs, base)
        body.append(
            f"<tr><th scope='row' class='row'>{esc(row.name)} "
            f"<span class='kind'>{esc(row.kind)}</span></th>{cells}</tr>"
        )
    return (
        "<table class='matrix'><thead><tr><th scope='col' class='corner'>property "
        f"<span class='kind'>× variant</span></th>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _matrix_by_entry(rep: ModelReport, rows: list[VerdictRow], base: Path) -> str:
    head = "".join(
        f"<th scope='col'>{esc(row.name)} <span class='kind'>{esc(row.kind)}</span></th>"
        for row in rows
    )
    body = []
    for k, e in enumerate(rep.entries):
        cells = "".join(verdict_td(row.cells[k], e, base, entry_id(rep, k)) for row in rows)
        why = expected_violation(rep, e)
        note = esc(why if why is not None else e.note) or "<span class='muted'>–</span>"
        body.append(
            f"<tr><th scope='row' class='row'>{_entry_head(rep, e, k)}</th>"
            f"<td class='note'>{note}</td>{cells}</tr>"
        )
    return (
        "<table class='matrix'><thead><tr><th scope='col' class='corner'>variant "
        "<span class='kind'>× property</span></th><th scope='col'>manifest note</th>"
        f"{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def _matrices(rep: ModelReport, base: Path) -> str:
    rows = verdict_rows(rep)
    toggle = f"transpose-{rep.name}"
    label = f"verdicts of {rep.name}"
    return (
        f"<input type='checkbox' class='transpose' id='{esc(toggle)}'>"
        f"<label class='toggle' for='{esc(toggle)}'>transpose: variants as rows, with their "
        "manifest notes</label>"
        f"<div class='matrix-box by-property' role='region' tabindex='0' "
        f"aria-label='{esc(label)}, property by variant'>"
        f"{_matrix_by_property(rep, rows, base)}</div>"
        f"<div class='matrix-box by-entry' role='region' tabindex='0' "
        f"aria-label='{esc(label)}, variant by property'>"
        f"{_matrix_by_entry(rep, rows, base)}</div>"
    )


def _entries_table(rep: ModelReport) -> str:
    rows = []
    for k, e in enumerate(rep.entries):
        if not e.expected:
            expected = "<span class='muted'>no expectation</span>"
        elif e.mismatches:
            expected = "<span class='pill bad'>NO</span> " + esc("; ".join(e.mismatches))
        else:
            expected = "<span class='pill ok'>yes</span>"
        verdict = esc(e.verdict) + (f" ({esc(e.bound_hit)})" if e.bound_hit else "")
        never = ", ".join(f"<code>{esc(a)}</code>" for a in e.never_fired) or "–"
        cls = " class='mismatch'" if e.mismatches else ""
        badge = "<span class='badge finding'>FINDING</span> " if e.is_finding else ""
        rows.append(
            f"<tr id='{esc(entry_id(rep, k))}'{cls}><td><code>{esc(e.variant)}</code></td>"
            f"<td>{esc(e.config_text)}</td><td>{verdict}</td><td>{expected}</td>"
            f"<td class='num'>{e.distinct_states:,}</td><td class='num'>{e.transitions:,}</td>"
            f"<td class='num'>{e.depth}</td><td class='num'>{e.seconds:.2f} s</td>"
            f"<td>{never}</td><td class='small'>{badge}{esc(e.note)}</td></tr>"
        )
    return (
        "<table class='t runs'><thead><tr><th>variant</th><th>config</th><th>verdict</th>"
        "<th>as expected</th><th>states</th><th>transitions</th><th>depth</th><th>time</th>"
        "<th>actions that never fired</th><th>manifest note</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def _findings(rep: ModelReport, base: Path) -> str:
    found = findings(rep)
    if not found:
        return ""
    out = ["<h3>Findings and expected violations of the upstream design</h3>"]
    for e, why in found:
        upstream = expected_violation(rep, e) is not None
        links = ", ".join(
            f"{esc(p.name)} ("
            + (
                _trace_links(p.trace, base, _steps(p.trace_length))
                if p.trace_length is not None
                else esc(p.cell)
            )
            + ")"
            for p in e.failing
        )
        out.append(
            f"<div class='finding-box{' upstream' if upstream else ''}'>"
            f"<b><code>{esc(e.variant)}</code> at {esc(e.config_text)}</b>"
            + (" <span class='badge finding'>FINDING</span>" if e.is_finding else "")
            + f": {esc(why)}"
            + (f"<div class='small'>fails: {links}</div>" if links else "")
            + "</div>"
        )
    return "\n".join(out)


def _model_section(rep: ModelReport, base: Path) -> str:
    out = [
        f"<section class='model' id='{esc(rep.name)}' aria-labelledby='h-{esc(rep.name)}'>",
        f"<h2 id='h-{esc(rep.name)}'>{esc(rep.name)}</h2>",
        f"<p>{esc(first_paragraph(rep.doc) or rep.summary)}</p>",
    ]
    cfg = ", ".join(f"<code>{esc(k)}={esc(v)}</code>" for k, v in rep.defaults.items())
    ref = ", ".join(f"<code>{esc(k)}={esc(v)}</code>" for k, v in rep.reference_config.items())
    out.append(
        f"<p><b>Configs.</b> defaults: {cfg or 'none'}"
        + (f"; reference: {ref}" if ref else "")
        + "</p>"
    )
    out.append(
        f"<details><summary>What it mirrors (the model's docstring)</summary>"
        f"<pre class='doc'>{esc(rep.doc)}</pre></details>"
    )
    out.append(
        f"<details><summary>Designs ({len(rep.variants)}): the upstream design and the "
        "variants beside it</summary><table class='t variants'><tbody>"
        + "".join(
            f"<tr><td><code>{esc(name)}</code></td><td>{esc(doc)}</td></tr>"
            for name, doc in rep.variants.items()
        )
        + "</tbody></table></details>"
    )
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
    out.append(_matrices(rep, base))
    out.append(_findings(rep, base))
    out.append("<h3>Entries</h3>")
    out.append(_entries_table(rep))
    out.append("</section>")
    return "\n".join(out)


def _legend() -> str:
    order = ["holds", "witnessed", "violated", "lost", "vacuous", "undetermined", "proven"]
    words = {"lost": "data lost"}
    spans = "".join(
        f"<span class='v v-{w}'>{VERDICTS[w].symbol} {words.get(w, w)}</span> "
        f"{VERDICTS[w].meaning}; "
        for w in order
    )
    return (
        f"<div class='legend-box small'>{spans}<b>holds</b> is exhaustive at the column's "
        "configuration (its state count is the bound; hover a cell). A cell with a trace "
        "links to its viewer (↺: a lasso); the others link to their entry's figures.</div>"
    )


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
            f"<td class='num'>{len(findings(rep))}</td>"
            + (
                f"<td class='num'>{rep.largest_space:,}</td>"
                f"<td class='num'>{rep.seconds:.2f} s</td>"
                if rep.entries
                else "<td class='num'>–</td><td class='num'>–</td>"
            )
            + f"<td>{status}</td></tr>"
        )
    slow = "" if report.include_slow else "; slow entries not included"
    note = f"<p class='muted'>{esc(report.proof_note)}</p>" if report.proof_note else ""
    nav = "".join(f"<a href='#{esc(rep.name)}'>{esc(rep.name)}</a>" for rep in report.models)
    body = f"""
<header class="top">
  <h1>hintspec design review</h1>
  <div class="muted">generated {esc(report.generated)} · {len(report.models)} models ·
    {len(entries)} manifest entries, {len(entries) - len(bad)} as expected
    {f"<span class='pill bad'>{len(bad)} not as expected</span>" if bad else ""}
    · {report.seconds:.1f} s{esc(slow)}</div>
</header>
<nav class="models" aria-label="models">{nav}</nav>
<main class="report">
{_legend()}
{note}
<table class="t summary"><thead><tr><th>model</th><th>mirrors</th><th>entries</th>
<th>violated variants</th><th>findings and expected upstream violations</th>
<th>largest space</th><th>time</th><th>manifest</th></tr></thead>
<tbody>{"".join(summary_rows)}</tbody></table>
{"".join(_model_section(rep, base) for rep in report.models)}
</main>
"""
    return page("hintspec design review", body, css=REPORT_CSS)
