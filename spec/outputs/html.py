"""A self-contained HTML viewer of one trace (``hintspec show TRACE --html``).

One file, no network: the CSS and the script are inline, the trace is embedded as JSON, the
sequence diagram is inline SVG. The page shows the list of steps; the state at the selected
step with the variables that changed highlighted (and their old values); the frame map as
coloured cells, the cells that changed outlined; the guest/host message sequence
(:mod:`hintspec.outputs.sequence`) with the selected step's row highlighted; the property the
trace violates (or witnesses) and its explanation; for a lasso, the cycle marked in the step
list and in the diagram. Keys: Down/Right/j next step, Up/Left/k previous, Home/End first
and last; the selected step is kept in the URL (``#step=N``). Without a script, the plain
text trace is shown.
"""

from __future__ import annotations

import html
import json
import zlib
from collections.abc import Mapping
from typing import Any

from hintspec.lang.configs import config_label
from hintspec.lang.model import Message, Model
from hintspec.lang.registry import get_model
from hintspec.outputs.sequence import trace_messages
from hintspec.traces.text import render_trace
from hintspec.traces.trace import Trace
from hintspec.traces.values import fmt, fmt_args, safe_frame_map, safe_view

# Colours of the frame-map characters of DESIGN.md section 2.6; other characters get a
# colour derived from their code, so any model's map renders without configuration.
FRAME_COLOURS: Mapping[str, str] = {
    "A": "#9e9e9e",
    "a": "#bdbdbd",
    "f": "#a5d6a7",
    "F": "#66bb6a",
    "R": "#64b5f6",
    "r": "#90caf9",
    "I": "#ffb74d",
    "H": "#4dd0e1",
    "h": "#80deea",
    "B": "#ba68c8",
    "b": "#ce93d8",
    "O": "#455a64",
    "o": "#78909c",
    "0": "#fff176",
    "Z": "#fff176",
    "U": "#f06292",
    "P": "#8d6e63",
    "T": "#7986cb",
    "X": "#e53935",
    "?": "#e53935",
    ".": "#eeeeee",
    "-": "#eeeeee",
}
SEPARATORS = " |/"
"""Characters of a frame map that separate groups of frames (not frames themselves)."""


def frame_colour(ch: str) -> str:
    """The fill colour of a frame-map character (stable across runs)."""
    if ch in FRAME_COLOURS:
        return FRAME_COLOURS[ch]
    hue = zlib.crc32(ch.encode()) % 360
    return f"hsl({hue}, 55%, 65%)"


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


BASE_CSS = """
:root { --fg:#1d232a; --muted:#5f6b7a; --line:#d8dee6; --bg:#ffffff; --panel:#f6f8fa;
  --bad:#c62828; --badbg:#fdecea; --good:#2e7d32; --goodbg:#e8f5e9; --warn:#8d5b00;
  --warnbg:#fff4e0; --sel:#fff3b0; --cyc:#6a1b9a; --link:#0b57d0; }
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

TRACE_CSS = """
main.trace { display:grid; grid-template-columns: minmax(220px, 300px) 1fr;
  gap:0; align-items:start; }
#steps { border-right:1px solid var(--line); max-height:calc(100vh - 120px); overflow:auto;
  position:sticky; top:0; }
#steps ol { list-style:none; margin:0; padding:0; }
#steps li { padding:4px 10px 4px 8px; border-left:4px solid transparent; cursor:pointer;
  border-bottom:1px solid #eef1f4; display:flex; gap:8px; }
#steps li .n { color:var(--muted); min-width:2.2em; text-align:right; }
#steps li .a { overflow-wrap:anywhere; }
#steps li.cycle { border-left-color:var(--cyc); }
#steps li.cycle-start { border-top:2px dashed var(--cyc); }
#steps li.closing { font-style:italic; }
#steps li.bad .a::after { content:" \\2716"; color:var(--bad); }
#steps li.sel { background:var(--sel); }
#steps .cycle-label { color:var(--cyc); font-size:11px; padding:2px 10px; }
#detail { padding:12px 20px; min-width:0; }
#detail h2 { font-size:16px; margin:0 0 2px; overflow-wrap:anywhere; }
#cites { margin-bottom:8px; }
.frames { display:flex; flex-wrap:wrap; gap:2px; margin:6px 0 4px; max-width:100%; }
.frame { width:22px; height:22px; border-radius:3px; font:11px/22px ui-monospace,monospace;
  text-align:center; color:#111; border:1px solid rgba(0,0,0,.15); }
.frame.chg { outline:3px solid #d81b60; outline-offset:0; }
.frame-gap { width:8px; }
.legend { display:flex; flex-wrap:wrap; gap:4px 14px; margin:4px 0 12px; font-size:12px; }
.legend span.sw { display:inline-block; width:12px; height:12px; border-radius:2px;
  vertical-align:-2px; margin-right:4px; border:1px solid rgba(0,0,0,.15); }
table.vars { border-collapse:collapse; width:100%; }
table.vars td { border-bottom:1px solid #eef1f4; padding:3px 8px; vertical-align:top; }
table.vars td.k { white-space:nowrap; color:var(--muted); width:1%; }
table.vars td.v { overflow-wrap:anywhere; }
table.vars tr.changed { background:#fff8d6; }
table.vars tr.changed td.k { color:var(--fg); font-weight:600; }
table.vars .old { color:var(--muted); text-decoration:line-through; display:block; }
h3 { font-size:14px; margin:14px 0 4px; }
#seq { overflow:auto; border:1px solid var(--line); border-radius:6px; background:#fff;
  max-height:60vh; }
svg .lane-line { stroke:#b0bac5; stroke-dasharray:4 4; }
svg .lane-head rect { fill:var(--panel); stroke:#b0bac5; }
svg text { font:12px system-ui,sans-serif; fill:var(--fg); }
svg text.msg { font:11px ui-monospace,monospace; }
svg .row rect.bg { fill:transparent; }
svg .row.sel rect.bg { fill:var(--sel); }
svg .row { cursor:pointer; }
svg .m-add line, svg .m-add path { stroke:#1565c0; }
svg .m-pop line { stroke:#00838f; }
svg .m-ack line { stroke:#2e7d32; }
svg .m-get_buf line { stroke:#558b2f; }
svg .m-config line { stroke:#ef6c00; stroke-width:2; }
svg .m-notify line { stroke:#6d4c41; stroke-dasharray:5 3; }
svg .m-local rect { fill:#eceff1; stroke:#90a4ae; }
svg .m-fault rect { fill:#ffebee; stroke:var(--bad); stroke-width:1.5; }
svg .cycle path { stroke:var(--cyc); fill:none; stroke-width:2; }
svg .cycle text { fill:var(--cyc); }
"""

TRACE_JS = """
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("trace-data").textContent);
  var items = Array.prototype.slice.call(document.querySelectorAll("#steps li.step"));
  var rows = Array.prototype.slice.call(document.querySelectorAll("#seq .row"));
  var colours = data.colours, legend = data.legend;
  var current = -1;
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  function colour(ch) {
    if (colours[ch]) { return colours[ch]; }
    return "#cccccc";
  }
  function renderFrames(i) {
    var box = document.getElementById("frames");
    box.textContent = "";
    var map = data.steps[i].frames;
    document.getElementById("frames-panel").hidden = (map === null);
    if (map === null) { return; }
    var prev = i > 0 ? data.steps[i - 1].frames : null;
    var frame = 0;
    for (var k = 0; k < map.length; k++) {
      var ch = map.charAt(k);
      if (data.separators.indexOf(ch) >= 0) { box.appendChild(el("span", "frame-gap")); continue; }
      var cell = el("span", "frame", ch);
      cell.style.background = colour(ch);
      cell.title = "frame " + frame + ": " + ch + (legend[ch] ? " (" + legend[ch] + ")" : "");
      cell.dataset.frame = String(frame);
      if (prev !== null && prev.charAt(k) !== ch) { cell.className += " chg"; }
      box.appendChild(cell);
      frame++;
    }
  }
  function renderVars(i) {
    var body = document.getElementById("vars");
    body.textContent = "";
    var step = data.steps[i];
    step.vars.forEach(function (v) {
      var tr = el("tr", v[2] !== null ? "changed" : "");
      tr.dataset.name = v[0];
      tr.appendChild(el("td", "k mono", v[0]));
      var td = el("td", "v mono");
      if (v[2] !== null) { td.appendChild(el("span", "old", v[2])); }
      td.appendChild(el("span", "new", v[1]));
      tr.appendChild(td);
      body.appendChild(tr);
    });
  }
  // Scroll only the box (step list, diagram) so the element shows; the page stays put.
  function keepVisible(box, e) {
    var b = box.getBoundingClientRect(), r = e.getBoundingClientRect();
    if (r.top < b.top) { box.scrollTop -= b.top - r.top; }
    else if (r.bottom > b.bottom) { box.scrollTop += r.bottom - b.bottom; }
  }
  function select(i) {
    if (i < 0) { i = 0; }
    if (i > data.steps.length - 1) { i = data.steps.length - 1; }
    if (i === current) { return; }
    current = i;
    var step = data.steps[i];
    items.forEach(function (li) { li.classList.toggle("sel", Number(li.dataset.i) === i); });
    rows.forEach(function (r) { r.classList.toggle("sel", Number(r.dataset.i) === i); });
    document.getElementById("step-title").textContent = step.title;
    document.getElementById("cites").textContent = step.cites;
    document.getElementById("step-note").textContent = step.note;
    renderFrames(i);
    renderVars(i);
    document.body.dataset.step = String(i);
    if (items[i]) { keepVisible(document.getElementById("steps"), items[i]); }
    var row = rows.filter(function (r) { return Number(r.dataset.i) === i; })[0];
    if (row) { keepVisible(document.getElementById("seq"), row); }
    if (history.replaceState) { history.replaceState(null, "", "#step=" + i); }
  }
  items.forEach(function (li) {
    li.addEventListener("click", function () { select(Number(li.dataset.i)); });
  });
  rows.forEach(function (r) {
    r.addEventListener("click", function () { select(Number(r.dataset.i)); });
  });
  document.addEventListener("keydown", function (ev) {
    if (ev.altKey || ev.ctrlKey || ev.metaKey) { return; }
    var k = ev.key, to = null;
    if (k === "ArrowDown" || k === "ArrowRight" || k === "j") { to = current + 1; }
    else if (k === "ArrowUp" || k === "ArrowLeft" || k === "k") { to = current - 1; }
    else if (k === "Home" || k === "g") { to = 0; }
    else if (k === "End" || k === "G") { to = data.steps.length - 1; }
    if (to !== null) { ev.preventDefault(); select(to); }
  });
  var m = /step=(\\d+)/.exec(location.hash);
  select(m ? Number(m[1]) : data.initial);
  window.hintspecTrace = {select: select, current: function () { return current; }};
})();
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


# -- the sequence diagram -----------------------------------------------------------------

_LANE_MIN, _LANE_MAX = 190, 340
_LEFT = 64
_ROW_H = 22
_HEAD_H = 34
_LABEL_MAX = 44
_CHAR_W = 6.6
"""Width of one character of the 11 px monospace labels."""


def _short(text: str) -> str:
    return text if len(text) <= _LABEL_MAX else text[: _LABEL_MAX - 1] + "…"


def _message_svg(msg: Message, x: dict[str, float], y: float) -> str:
    title = f"<title>{esc(msg.label)}</title>"
    # A lane the diagram does not have (a model hook's typo) falls back to the first lane.
    x1 = x.get(msg.src, min(x.values()))
    x2 = x.get(msg.dst, x1)
    cls = f"m m-{esc(msg.kind)}"
    label = _short(msg.label)
    if msg.src == msg.dst or x1 == x2:
        w = 10 + _CHAR_W * len(label)
        return (
            f"<g class='{cls}'>{title}<rect x='{x1 - 6:.0f}' y='{y - 8:.0f}' width='{w:.0f}' "
            f"height='16' rx='4'/><text class='msg' x='{x1:.0f}' y='{y + 4:.0f}'>"
            f"{esc(label)}</text></g>"
        )
    mid = (x1 + x2) / 2
    return (
        f"<g class='{cls}'>{title}<line x1='{x1:.0f}' y1='{y + 5:.0f}' x2='{x2:.0f}' "
        f"y2='{y + 5:.0f}' stroke-width='1.5' marker-end='url(#arrow)'/>"
        f"<text class='msg' x='{mid:.0f}' y='{y:.0f}' text-anchor='middle'>"
        f"{esc(label)}</text></g>"
    )


def sequence_svg(
    lanes: list[str], per_step: list[list[Message]], loop: int | None, closing: bool
) -> str:
    """The message sequence chart: one row group per step, ``data-i`` its index."""
    # Lanes are as wide as the longest arrow label needs (within bounds), so labels stay
    # legible; a local event's box may reach over the next lane (it is opaque).
    longest = max(
        (len(_short(m.label)) for msgs in per_step for m in msgs if m.src != m.dst), default=0
    )
    lane_w = min(max(_CHAR_W * longest + 24, _LANE_MIN), _LANE_MAX)
    x = {lane: _LEFT + lane_w * (k + 0.5) for k, lane in enumerate(lanes)}
    width = _LEFT + lane_w * len(lanes) + 10
    heights = [max(1, len(msgs)) * _ROW_H for msgs in per_step]
    total = _HEAD_H + sum(heights[1:]) + 16
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width:.0f}' height='{total}' "
        f"viewBox='0 0 {width:.0f} {total}' role='img' aria-label='message sequence'>",
        "<defs><marker id='arrow' viewBox='0 0 10 10' refX='9' refY='5' markerWidth='7' "
        "markerHeight='7' orient='auto-start-reverse'><path d='M0,0 L10,5 L0,10 z' "
        "fill='#37474f'/></marker></defs>",
    ]
    for lane in lanes:
        parts.append(
            f"<line class='lane-line' x1='{x[lane]:.0f}' y1='{_HEAD_H - 6}' "
            f"x2='{x[lane]:.0f}' y2='{total}'/>"
        )
    y = float(_HEAD_H)
    tops: list[float] = [y]
    for i in range(1, len(per_step)):
        tops.append(y)
        h = heights[i]
        msgs = per_step[i]
        row = [
            f"<g class='row' data-i='{i}'>",
            f"<rect class='bg' x='0' y='{y:.0f}' width='{width:.0f}' height='{h}'/>",
            f"<text x='24' y='{y + 15:.0f}' text-anchor='end' class='muted'>{i}</text>",
        ]
        for k, msg in enumerate(msgs):
            row.append(_message_svg(msg, x, y + 12 + k * _ROW_H))
        row.append("</g>")
        parts.append("".join(row))
        y += h
    for lane in lanes:
        w = min(lane_w - 20, 16 + 7.5 * len(lane))
        parts.append(
            f"<g class='lane-head'><rect x='{x[lane] - w / 2:.0f}' y='4' width='{w:.0f}' "
            f"height='22' rx='5'/><text x='{x[lane]:.0f}' y='19' text-anchor='middle'>"
            f"{esc(lane)}</text></g>"
        )
    if loop is not None and closing:
        # Row i is the step into state i, so the cycle's steps are rows loop+1 .. closing.
        top, bottom = tops[loop + 1], y
        mid = (top + bottom) / 2
        parts.append(
            f"<g class='cycle'><path d='M40,{top + 2:.0f} h-8 V{bottom - 2:.0f} h8'/>"
            f"<text x='52' y='{mid:.0f}' text-anchor='middle' "
            f"transform='rotate(-90 52 {mid:.0f})'>cycle</text></g>"
        )
    parts.append("</svg>")
    return "\n".join(parts)


# -- the trace page ------------------------------------------------------------------------


def _var_rows(model: Model[Any, Any], trace: Trace) -> list[list[list[str | None]]]:
    out: list[list[list[str | None]]] = []
    prev: dict[str, Any] | None = None
    states = [s.state for s in trace.steps]
    if trace.loop is not None and trace.loop_action is not None:
        states.append(trace.steps[trace.loop].state)
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


def _cites(model: Model[Any, Any], action: str | None) -> str:
    if action is None:
        return ""
    try:
        return model.actions[model.action_index(action)].cites
    except KeyError:
        return ""


def trace_data(trace: Trace, model: Model[Any, Any]) -> dict[str, Any]:
    """What the page's script needs, per step: title, citation, variables, frame map."""
    var_rows = _var_rows(model, trace)
    steps: list[dict[str, Any]] = []
    closing = trace.loop is not None and trace.loop_action is not None
    n = len(trace.steps)
    for i, step in enumerate(trace.steps):
        head = "initial state" if step.action is None else f"{step.action}({fmt_args(step.args)})"
        note = ""
        if i == n - 1 and trace.prop and not closing:
            note = (
                "the witness is reached here"
                if trace.kind == "witness"
                else "the property is violated in this state"
            )
        if trace.loop is not None and i == trace.loop:
            note = "the cycle starts here"
        steps.append(
            {
                "title": f"Step {i}: {head}",
                "cites": _cites(model, step.action),
                "note": note,
                "vars": var_rows[i],
                "frames": safe_frame_map(model, step.state),
            }
        )
    if closing:
        assert trace.loop is not None and trace.loop_action is not None
        head = f"{trace.loop_action}({fmt_args(trace.loop_args)})"
        steps.append(
            {
                "title": f"Step {n}: {head} -> back to step {trace.loop}",
                "cites": _cites(model, trace.loop_action),
                "note": f"the cycle closes: this is the state of step {trace.loop} again, "
                "and the cycle repeats for ever",
                "vars": var_rows[n],
                "frames": safe_frame_map(model, trace.steps[trace.loop].state),
            }
        )
    used = {ch for s in steps if s["frames"] for ch in s["frames"]}
    chars = sorted(used | set(model.frame_legend))
    return {
        "steps": steps,
        "initial": len(steps) - 1,
        "colours": {ch: frame_colour(ch) for ch in chars},
        "legend": dict(model.frame_legend),
        "separators": SEPARATORS,
    }


def _step_items(trace: Trace, data: dict[str, Any]) -> str:
    items: list[str] = []
    n = len(trace.steps)
    for i, step in enumerate(data["steps"]):
        cls = ["step"]
        if trace.loop is not None and i >= trace.loop:
            cls.append("cycle")
        if trace.loop is not None and i == trace.loop:
            cls.append("cycle-start")
            items.append("<li class='cycle-label' aria-hidden='true'>cycle starts</li>")
        if i == n:
            cls.append("closing")
        if i == n - 1 and trace.kind != "witness" and trace.prop and trace.loop is None:
            cls.append("bad")
        label = step["title"].split(": ", 1)[1]
        items.append(
            f"<li class='{' '.join(cls)}' data-i='{i}' tabindex='-1'><span class='n'>{i}</span>"
            f"<span class='a mono'>{esc(label)}</span></li>"
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


def _legend_html(model: Model[Any, Any], data: dict[str, Any]) -> str:
    used = {ch for s in data["steps"] if s["frames"] for ch in s["frames"]} - set(SEPARATORS)
    keys = [ch for ch in model.frame_legend if ch in used] + sorted(used - set(model.frame_legend))
    spans = [
        f"<span><span class='sw' style='background:{frame_colour(ch)}'></span>"
        f"<code>{esc(ch)}</code> {esc(model.frame_legend.get(ch, ''))}</span>"
        for ch in keys
    ]
    return "<div class='legend'>" + "".join(spans) + "</div>"


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
        lasso = f" · lasso: the cycle starts at step {trace.loop}" + (
            " and closes back to it" if closing else " (a stop: nothing is enabled there)"
        )
    body = f"""
<header class="top">
  <h1>{esc(what)}</h1>
  <div class="muted">model <b>{esc(trace.model)}</b> · variant <b>{esc(trace.variant)}</b> ·
    {esc(config_label(trace.config))} · {len(trace)} {steps_word}{esc(lasso)} ·
    keys <span class="kbd">↑</span><span class="kbd">↓</span> or
    <span class="kbd">k</span><span class="kbd">j</span>,
    <span class="kbd">Home</span> <span class="kbd">End</span></div>
  <div class="muted">{esc(model.summary())}</div>
  {_verdict_box(trace, model)}
</header>
<main class="trace">
  <nav id="steps" aria-label="steps"><ol>
{_step_items(trace, data)}
  </ol></nav>
  <section id="detail">
    <h2 id="step-title"></h2>
    <div id="cites" class="muted mono"></div>
    <div id="step-note" class="muted"></div>
    <div id="frames-panel"><h3>Frames</h3><div id="frames" class="frames"></div>
      {_legend_html(model, data)}</div>
    <h3>State <span class="muted">(changed variables highlighted, old value struck)</span></h3>
    <table class="vars"><tbody id="vars"></tbody></table>
    <h3>Messages</h3>
    <div id="seq">{sequence_svg(lanes, per_step, trace.loop, closing)}</div>
  </section>
</main>
<noscript><pre>{esc(render_trace(trace, model))}</pre></noscript>
<script type="application/json" id="trace-data">{json_for_script(data)}</script>
"""
    return page(title, body, css=TRACE_CSS, script=TRACE_JS)
