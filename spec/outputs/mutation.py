"""The report of ``hintspec mutate``: a text table, a JSON document, a self-contained HTML
page (every survivor's diff, every kill's trace)."""

from __future__ import annotations

import html
import json
from collections import Counter
from collections.abc import Mapping
from typing import Any

from hintspec.engine.mutate import NOT_REACHED, RATE_MEANING, MutantResult, MutationRun
from hintspec.engine.mutate_run import CLASSES, EQUIVALENT, KILLED, SURVIVED

UNTRIAGED = "none recorded: explain it in models/manifest/mutation/MODEL.json (triage, why)"


def _rate(run: MutationRun) -> str:
    c = run.counts()
    rate = run.kill_rate
    if rate is None:
        return "kill rate: none (no mutant was killed or survived)"
    return f"kill rate {c[KILLED]}/{c[KILLED] + c[SURVIVED]} = {100 * rate:.1f}%"


def _scope(run: MutationRun) -> list[str]:
    lines = []
    for cfg in run.configs:
        budget = f"{cfg.budget:.0f} s" if cfg.budget else "none"
        lines.append(f"  config [{cfg.label}]: budget {budget}, bound {cfg.max_states:,} states")
    lines.extend(f"  left out {why}" for why in run.skipped)
    if run.note:
        lines.append(f"  mutants chosen: {run.note}")
    lines.append(f"  operators: {', '.join(run.operators)}")
    if run.sample is not None:
        k, seed = run.sample
        lines.append(
            f"  mutants: {run.enumerated} enumerated, a sample of {len(run.results)} ran "
            f"(--sample {k} --seed {seed})"
        )
    else:
        lines.append(f"  mutants: {run.enumerated} enumerated, all ran")
    return lines


def equivalent_split(run: MutationRun) -> tuple[int, int]:
    """(not reached, same graph) among the equivalent mutants."""
    eq = [r for r in run.results if r.outcome == EQUIVALENT]
    unreached = sum(1 for r in eq if r.reason == NOT_REACHED)
    return unreached, len(eq) - unreached


def render_text(
    run: MutationRun, *, diffs: dict[str, str], triage: Mapping[str, str] | None = None
) -> str:
    """The table, the attribution, the surviving diffs (each with its recorded triage,
    ``triage``: mutant id -> "kind: why", from the mutation manifest)."""
    title = f"mutate {run.model} ({run.variant}), checker {run.checker}"
    out = [title, *_scope(run), ""]
    counts = run.counts()
    unreached, same = equivalent_split(run)
    notes = {
        EQUIVALENT: f"  ({unreached} not reached, {same} the same state graph)",
    }
    out.append(f"  {'outcome':<12}{'mutants':>8}")
    for k in CLASSES:
        out.append(f"  {k:<12}{counts[k]:>8}{notes.get(k, '')}")
    out.append(f"  {_rate(run)}")
    out.append(f"  ({RATE_MEANING})")
    if run.interrupted:
        out.append("  interrupted: the figures are those of the mutants that finished")
    out.append("")
    out.append("  by operator: killed / survived / equivalent / timeout / invalid")
    by_op: dict[str, Counter[str]] = {}
    for r in run.results:
        by_op.setdefault(r.mutant.operator, Counter())[r.outcome] += 1
    for op, c in by_op.items():
        figures = " / ".join(str(c.get(k, 0)) for k in CLASSES)
        out.append(f"    {op:<16} {figures}")
    out.append("")
    out.append(f"  {'property':<72}{'kills':>6}{'sole':>6}")
    attribution = run.attribution()
    for prop, (kills, sole) in attribution.items():
        name = prop if len(prop) <= 70 else prop[:67] + "..."
        out.append(f"  {name:<72}{kills:>6}{sole:>6}")
    silent = [p for p, (k, _) in attribution.items() if k == 0]
    for prop in silent:
        out.append(f"  ! kills no mutant (an empty formalisation?): {prop}")
    survivors = run.survivors
    out.append("")
    out.append(f"  survivors ({len(survivors)}):")
    for r in survivors:
        out.append(f"  {_headline(r)}")
        out.append(f"    {r.reason}")
        if triage is not None:
            out.append(f"    triage: {triage.get(r.mutant.id, UNTRIAGED)}")
        out.extend(f"    {line}" for line in diffs.get(r.mutant.id, "").rstrip().splitlines())
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _headline(r: MutantResult) -> str:
    m = r.mutant
    return f"{m.id} {m.function} line {m.line}, {m.operator}: {m.description}"


def progress_line(r: MutantResult) -> str:
    """One line per finished mutant (for --verbose)."""
    extra = ""
    if r.outcome == KILLED:
        steps = "no trace" if r.trace_length is None else f"{r.trace_length} steps"
        extra = f" by {', '.join(r.killers)} ({steps}, [{r.config}])"
    elif r.reason:
        extra = f": {r.reason}"
    return f"{r.outcome:<10} {_headline(r)}{extra}"


def to_json(run: MutationRun, *, diffs: dict[str, str]) -> dict[str, Any]:
    """The whole run: scope, counts, attribution, and every mutant with its diff and, when
    killed, its traces."""
    rate = run.kill_rate
    return {
        "model": run.model,
        "variant": run.variant,
        "checker": run.checker,
        "configs": [
            {"config": c.label, "budget": c.budget, "max_states": c.max_states} for c in run.configs
        ],
        "skipped": run.skipped,
        "operators": list(run.operators),
        "enumerated": run.enumerated,
        "sample": None if run.sample is None else {"k": run.sample[0], "seed": run.sample[1]},
        "counts": run.counts(),
        "kill_rate": rate,
        "kill_rate_means": RATE_MEANING,
        "interrupted": run.interrupted,
        "seconds": round(run.seconds, 1),
        "properties": {p: {"kills": k, "sole": s} for p, (k, s) in run.attribution().items()},
        "mutants": [
            {
                "id": r.mutant.id,
                "operator": r.mutant.operator,
                "function": r.mutant.function,
                "line": r.mutant.line,
                "description": r.mutant.description,
                "outcome": r.outcome,
                "reason": r.reason,
                "config": r.config,
                "killers": r.killers,
                "kills": [
                    {"property": k.prop, "length": k.length, "trace": k.trace} for k in r.kills
                ],
                "seconds": round(r.seconds, 2),
                "diff": diffs.get(r.mutant.id, ""),
            }
            for r in run.results
        ],
    }


_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 8px}
th{background:#f3f3f3;text-align:left}td.n{text-align:right}
pre{background:#f8f8f8;padding:.5em;overflow-x:auto;font-size:12px}
.add{color:#063;background:#e6ffed}.del{color:#900;background:#ffeef0}
.killed{color:#063}.survived{color:#b00;font-weight:bold}.equivalent{color:#666}
.timeout,.invalid{color:#a60}details{margin:.2em 0}summary{cursor:pointer}
.note{color:#555}
"""


def _diff_html(diff: str) -> str:
    rows = []
    for line in diff.splitlines():
        cls = ""
        if line.startswith("+") and not line.startswith("+++"):
            cls = "add"
        elif line.startswith("-") and not line.startswith("---"):
            cls = "del"
        text = html.escape(line)
        rows.append(f'<span class="{cls}">{text}</span>' if cls else text)
    return "<pre>" + "\n".join(rows) + "</pre>"


def _steps(length: int | None) -> str:
    return "no witness reachable" if length is None else f"{length} steps"


def render_html(
    run: MutationRun, *, diffs: dict[str, str], triage: Mapping[str, str] | None = None
) -> str:
    """One self-contained page (no script, no network); ``triage`` as for render_text."""
    e = html.escape
    counts = run.counts()
    head = f"mutate {run.model} ({run.variant}), checker {run.checker}"
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{e(head)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{e(head)}</h1>",
        "<pre>" + e("\n".join(line.strip() for line in _scope(run))) + "</pre>",
        "<table><tr><th>outcome</th><th>mutants</th></tr>",
    ]
    for k in CLASSES:
        parts.append(f"<tr><td class='{k}'>{k}</td><td class='n'>{counts[k]}</td></tr>")
    parts.append("</table>")
    parts.append(f"<p><b>{e(_rate(run))}</b></p><p class='note'>{e(RATE_MEANING)}.</p>")
    parts.append("<h2>Properties</h2><table><tr><th>property</th><th>kills</th><th>sole</th></tr>")
    for prop, (kills, sole) in run.attribution().items():
        flag = " (kills no mutant)" if kills == 0 else ""
        parts.append(
            f"<tr><td>{e(prop)}{flag}</td><td class='n'>{kills}</td><td class='n'>{sole}</td></tr>"
        )
    parts.append("</table>")
    order = {"survived": 0, "timeout": 1, "invalid": 2, "killed": 3, "equivalent": 4}
    for outcome in sorted(CLASSES, key=lambda k: order[k]):
        group = [r for r in run.results if r.outcome == outcome]
        if not group:
            continue
        parts.append(f"<h2 class='{outcome}'>{outcome} ({len(group)})</h2>")
        for r in group:
            is_open = " open" if outcome == "survived" else ""
            parts.append(f"<details{is_open}><summary>{e(_headline(r))}</summary>")
            if r.reason:
                parts.append(f"<p class='note'>{e(r.reason)}</p>")
            if triage is not None and outcome == "survived":
                why = triage.get(r.mutant.id, UNTRIAGED)
                parts.append(f"<p class='note'>triage: {e(why)}</p>")
            parts.append(_diff_html(diffs.get(r.mutant.id, "")))
            for kill in r.kills:
                parts.append(
                    f"<details><summary>killed by {e(kill.prop)}: {_steps(kill.length)} at "
                    f"[{e(r.config)}]</summary><pre>{e(kill.trace)}</pre></details>"
                )
            parts.append("</details>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2) + "\n"
