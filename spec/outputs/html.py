"""A self-contained HTML viewer of one trace (``hintspec show TRACE --html``).

One file, no network: the CSS and the script are inline, the trace is embedded as JSON, the
sequence diagram is inline SVG. The page shows the list of steps; the state at the selected
step with the variables that changed highlighted (and their old values); the frame map as
coloured cells (:mod:`hintspec.outputs.palette`: red only for lost data), the cells that
changed outlined; clicking a frame shows that frame at every step of the trace and where it
changed; the guest/host message sequence (:mod:`hintspec.outputs.sequence`) with the
selected step's row highlighted; the property the trace violates (or witnesses) and its
explanation; for a lasso, its cycle -- the steps from the cycle's first state back to it --
marked over the same steps in the list and in the diagram. Labels wrap only between tokens
(:mod:`hintspec.outputs.layout`). Keys: Down/Right/j next step, Up/Left/k previous,
Home/End first and last, Escape closes a frame's history; the selected step is kept in the
URL (``#step=N``). Without a script, the plain text trace is shown.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from typing import Any

from hintspec.lang.configs import config_label
from hintspec.lang.model import Model
from hintspec.lang.registry import get_model
from hintspec.outputs.layout import tokens
from hintspec.outputs.palette import cell_colours, frame_colour, frame_rows, is_lost, text_on
from hintspec.outputs.sequence import cycle_rows, sequence_svg, trace_messages
from hintspec.outputs.trace_assets import SHARED_CSS, SHARED_JS, TRACE_CSS, TRACE_JS
from hintspec.traces.text import render_trace
from hintspec.traces.trace import Trace
from hintspec.traces.values import fmt, fmt_args, safe_frame_map, safe_view


def esc(text: Any) -> str:
    """HTML-escaped text."""
    return html.escape(str(text), quote=True)


def json_for_script(value: Any) -> str:
    """JSON that is safe inside ``<script>`` (no ``</script>`` can end it early)."""
    return (
        json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )


def token_html(text: str) -> str:
    """``text`` with a line break allowed only between tokens (each token ``nowrap``)."""
    out: list[str] = []
    for k, (tok, space) in enumerate(tokens(text)):
        if k:
            out.append(" " if space else "<wbr>")
        out.append(f"<span class='tok'>{esc(tok)}</span>")
    return "".join(out)


BASE_CSS = """
:root { --fg:#1d232a; --muted:#53606f; --line:#d8dee6; --bg:#ffffff; --panel:#f6f8fa;
  --bad:#b71c1c; --badbg:#fde7e7; --good:#1b5e20; --goodbg:#e3f1e6; --warn:#6d4300;
  --warnbg:#fff3d6; --sel:#fff3b0; --cyc:#6a1b9a; --link:#0b57d0; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
  color:var(--fg); background:var(--bg); }
code, pre, .mono { font-family: ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;
  font-size:12.5px; }
a { color:var(--link); }
header.top { padding:12px 20px; border-bottom:1px solid var(--line); background:var(--panel); }
header.top h1 { font-size:18px; margin:0 0 4px; }
.muted { color:var(--muted); }
.verdict { margin-top:8px; padding:8px 12px; border-radius:6px; border:1px solid; }
.verdict.bad { background:var(--badbg); border-color:#f3b8b3; }
.verdict.good { background:var(--goodbg); border-color:#b9dcbb; }
.kbd { border:1px solid var(--line); border-bottom-width:2px; border-radius:4px;
  padding:0 4px; font-size:11px; background:#fff; }
"""


def page(title: str, body: str, *, css: str = "", script: str = "") -> str:
    """A complete HTML document with inline CSS and script (nothing is fetched)."""
    return (
        "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>\n"
        # No network at view time: the policy forbids any fetch, so the page cannot
        # silently depend on one.
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n"
        f"<title>{esc(title)}</title>\n<style>{BASE_CSS}{css}</style>\n</head>\n"
        f"<body>\n{body}\n"
        + (f"<script>{script}</script>\n" if script else "")
        + "</body>\n</html>\n"
    )


# -- frame maps ------------------------------------------------------------------------------


def frame_payload(model: Model[Any, Any], state: Any) -> list[list[str | None]] | None:
    """A state's frame map as ``[[label, cells], ...]`` rows for the page's script."""
    fmap = safe_frame_map(model, state)
    if fmap is None:
        return None
    return [[row.label, row.cells] for row in frame_rows(fmap, model.frame_legend)]


def frame_colour_table(model: Model[Any, Any], maps: Iterable[Any]) -> dict[str, Any]:
    """Fill and text colour of every character of ``maps`` (payloads) and of the legend;
    which characters mean lost data; the legend."""
    legend = dict(model.frame_legend)
    main: set[str] = {ch for ch in legend if len(ch) == 1}
    bits: set[str] = set()
    for rows in maps:
        for label, cells in rows or []:
            (main if label is None else bits).update(cells)
    return {
        "main": cell_colours("".join(main), legend),
        "bits": cell_colours("".join(bits), legend, bits=True),
        "lost": sorted(ch for ch in main if is_lost(ch, legend)),
        "legend": legend,
    }


def legend_html(model: Model[Any, Any], used: set[str]) -> str:
    """The legend of the frame-map characters that occur (lost data marked)."""
    legend = model.frame_legend
    keys = [ch for ch in legend if ch in used] + sorted(used - set(legend) - {" "})
    spans = []
    for ch in keys:
        fill = frame_colour(ch, legend)
        mark = " <span class='lost-mark'>data lost</span>" if is_lost(ch, legend) else ""
        spans.append(
            f"<span><span class='sw' style='background:{fill};color:{text_on(fill)}'></span>"
            f"<code>{esc(ch)}</code> {esc(legend.get(ch, ''))}{mark}</span>"
        )
    return "<div class='legend'>" + "".join(spans) + "</div>"


# -- the trace page --------------------------------------------------------------------------


def _var_rows(model: Model[Any, Any], states: list[Any]) -> list[list[list[str | None]]]:
    out: list[list[list[str | None]]] = []
    prev: dict[str, Any] | None = None
    for state in states:
        view = safe_view(model, state)
        rows: list[list[str | None]] = []
        for name, value in view.items():
            old = None
            if prev is not None and prev.get(name) != value:
                old = fmt(prev.get(name)) if name in prev else ""
            rows.append([name, fmt(value), old])
        out.append(rows)
        prev = view
    return out


def cites_of(model: Model[Any, Any], action: str | None) -> str:
    """The kernel or QEMU source an action stands for ("" if it has none)."""
    if action is None:
        return ""
    try:
        return model.actions[model.action_index(action)].cites
    except KeyError:
        return ""


def trace_data(trace: Trace, model: Model[Any, Any]) -> dict[str, Any]:
    """What the page's script needs, per step: title, citation, variables, frame map."""
    closing = trace.loop is not None and trace.loop_action is not None
    states = [s.state for s in trace.steps]
    heads = [
        "initial state" if s.action is None else f"{s.action}({fmt_args(s.args)})"
        for s in trace.steps
    ]
    if closing:
        assert trace.loop is not None
        states.append(trace.steps[trace.loop].state)
        heads.append(f"{trace.loop_action}({fmt_args(trace.loop_args)})")
    var_rows = _var_rows(model, states)
    n = len(trace.steps)
    steps: list[dict[str, Any]] = []
    for i, (state, head) in enumerate(zip(states, heads, strict=True)):
        action = trace.steps[i].action if i < n else trace.loop_action
        title = f"Step {i}: {head}"
        note = ""
        if i == n - 1 and trace.prop and not closing:
            note = (
                "the witness is reached here"
                if trace.kind == "witness"
                else "the property is violated in this state"
            )
        if trace.loop is not None and i == trace.loop:
            note = (
                "the cycle starts from this state"
                if closing
                else "no action is enabled: the system stays here for ever"
            )
        if i == n:
            title += f" -> back to step {trace.loop}"
            note = (
                f"the cycle closes: this is the state of step {trace.loop} again, "
                "and the cycle repeats for ever"
            )
        steps.append(
            {
                "title": title,
                "action": head,
                "cites": cites_of(model, action),
                "note": note,
                "vars": var_rows[i],
                "frames": frame_payload(model, state),
            }
        )
    cycle = cycle_rows(trace.loop, closing, len(steps) - 1)
    return {
        "steps": steps,
        "initial": len(steps) - 1,
        "colours": frame_colour_table(model, (s["frames"] for s in steps)),
        "cycle": [cycle[0], cycle[-1]] if cycle else None,
    }


def _step_items(trace: Trace, data: dict[str, Any]) -> str:
    items: list[str] = []
    n = len(trace.steps)
    cycle = range(data["cycle"][0], data["cycle"][1] + 1) if data["cycle"] else range(0)
    for i, step in enumerate(data["steps"]):
        cls = ["step"]
        if i in cycle:
            cls.append("cycle")
        if cycle and i == cycle[0]:
            cls.append("cycle-first")
            items.append(
                f"<li class='cycle-label' aria-hidden='true'>cycle: from the state of step "
                f"{trace.loop} back to it</li>"
            )
        if trace.loop is not None and i == trace.loop:
            cls.append("cycle-entry")
        if i == n:
            cls.append("closing")
        if i == n - 1 and trace.kind != "witness" and trace.prop and trace.loop is None:
            cls.append("bad")
        label = step["title"].split(": ", 1)[1]
        items.append(
            f"<li class='{' '.join(cls)}' data-i='{i}' tabindex='-1'><span class='n'>{i}</span>"
            f"<span class='a mono'>{token_html(label)}</span></li>"
        )
    if trace.loop is not None and trace.loop_action is None:
        items.append(
            "<li class='cycle-label'>no action is enabled: the system stays here for ever</li>"
        )
    return "\n".join(items)


def _verdict_box(trace: Trace, model: Model[Any, Any]) -> str:
    if not trace.prop:
        return ""
    kind = ""
    try:
        kind = model.property(trace.prop).kind.value
    except KeyError:
        kind = "deadlock" if trace.prop == "no deadlock" else ""
    if trace.kind == "witness":
        head = f"Witnessed ({kind}): <strong>{esc(trace.prop)}</strong>"
        cls = "good"
    else:
        what = "Violated" + (f" ({kind})" if kind else "")
        head = f"{what}: <strong class='prop'>{esc(trace.prop)}</strong>"
        cls = "bad"
    why = f"<div class='why mono'>{esc(trace.explanation)}</div>" if trace.explanation else ""
    return f"<div class='verdict {cls}' id='verdict'>{head}{why}</div>"


def _used_chars(data: dict[str, Any]) -> set[str]:
    return {
        ch
        for s in data["steps"]
        for label, cells in s["frames"] or []
        if label is None
        for ch in cells
    } - {" "}


def render_trace_html(trace: Trace, model: Model[Any, Any] | None = None) -> str:
    """The whole trace as one self-contained HTML page."""
    if model is None:
        model = get_model(trace.model)(trace.config)
    data = trace_data(trace, model)
    lanes, per_step = trace_messages(model, trace)
    closing = trace.loop is not None and trace.loop_action is not None
    if trace.kind == "witness":
        what = f"Witness for {trace.prop!r}"
    elif trace.loop is not None:
        what = f"Counterexample (lasso) to {trace.prop!r}"
    elif trace.prop:
        what = f"Counterexample to {trace.prop!r}"
    else:
        what = "Trace"
    steps_word = "step" if len(trace) == 1 else "steps"
    title = f"{trace.model}/{trace.variant}: {what} ({len(trace)} {steps_word})"
    lasso = ""
    if trace.loop is not None:
        lasso = f" · lasso: the cycle starts from the state of step {trace.loop}" + (
            " and closes back to it" if closing else " (a stop: nothing is enabled there)"
        )
    body = f"""
<header class="top">
  <h1>{esc(what)}</h1>
  <div class="muted">model <b>{esc(trace.model)}</b> · variant <b>{esc(trace.variant)}</b> ·
    {esc(config_label(trace.config))} · {len(trace)} {steps_word}{esc(lasso)} ·
    keys <span class="kbd">↑</span><span class="kbd">↓</span> or
    <span class="kbd">k</span><span class="kbd">j</span>,
    <span class="kbd">Home</span> <span class="kbd">End</span>; click a frame for its
    history</div>
  <div class="muted">{esc(model.summary())}</div>
  {_verdict_box(trace, model)}
</header>
<main class="trace">
  <nav id="steps" aria-label="steps" tabindex="0"><ol>
{_step_items(trace, data)}
  </ol></nav>
  <section id="detail" aria-label="the selected step">
    <h2 id="step-title"></h2>
    <div id="cites" class="muted mono"></div>
    <div id="step-note" class="muted"></div>
    <div id="frames-panel"><h3>Frames</h3><div id="frames" class="frames-box"></div>
      {legend_html(model, _used_chars(data))}
      <div id="history" hidden><h4><span id="history-title"></span>
        <button type="button" id="history-close">close</button></h4>
        <div id="history-strip" class="strip"></div><ol id="history-changes"></ol></div>
    </div>
    <h3>State <span class="muted">(changed variables highlighted, old value struck)</span></h3>
    <table class="vars"><tbody id="vars"></tbody></table>
    <h3>Messages</h3>
    <div id="seq" role="region" aria-label="message sequence" tabindex="0">
      {sequence_svg(lanes, per_step, trace.loop, closing)}</div>
  </section>
</main>
<noscript><pre>{esc(render_trace(trace, model))}</pre></noscript>
<script type="application/json" id="trace-data">{json_for_script(data)}</script>
"""
    return page(title, body, css=SHARED_CSS + TRACE_CSS, script=SHARED_JS + TRACE_JS)
