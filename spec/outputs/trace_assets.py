"""The CSS and scripts of the trace viewer (:mod:`hintspec.outputs.html`); the frame-map
and token helpers are shared with the explorer of ``hintspec serve``.

Scripts build every element with ``textContent``: nothing from a trace or a model is ever
parsed as HTML or run as code.
"""

from __future__ import annotations

SHARED_CSS = """
.tok { white-space:nowrap; }
.frames-box { margin:6px 0 4px; }
.frame-row { display:flex; flex-wrap:wrap; gap:2px; align-items:center; margin:2px 0; }
.frame-label { font:12px ui-monospace,monospace; color:var(--muted); min-width:5em; }
.frame { width:24px; height:24px; border-radius:3px; font:12px/22px ui-monospace,monospace;
  text-align:center; padding:0; border:1px solid rgba(0,0,0,.25); cursor:pointer; }
.frame.lost { border:2px solid #000; font-weight:700;
  background-image:repeating-linear-gradient(45deg, rgba(255,255,255,.28) 0 3px,
  transparent 3px 7px); }
.frame.chg { outline:3px solid #ad1457; outline-offset:0; }
.frame.picked { box-shadow:0 0 0 3px #0b57d0; }
.frame-gap { width:8px; }
.legend { display:flex; flex-wrap:wrap; gap:4px 14px; margin:4px 0 12px; font-size:12px; }
.legend span.sw { display:inline-block; width:12px; height:12px; border-radius:2px;
  vertical-align:-2px; margin-right:4px; border:1px solid rgba(0,0,0,.25); }
.legend .lost-mark { color:var(--bad); font-weight:700; }
#history { border:1px solid var(--line); border-radius:6px; padding:6px 10px; margin:6px 0;
  background:var(--panel); }
#history h4 { margin:0 0 4px; font-size:13px; }
#history .strip { display:flex; flex-wrap:wrap; gap:2px; }
#history .hcell { display:flex; flex-direction:column; align-items:center; font-size:11px;
  color:var(--muted); }
#history .hcell.now .frame { box-shadow:0 0 0 3px #0b57d0; }
#history ol { margin:4px 0 0; padding-left:20px; font-size:12.5px; }
table.vars { border-collapse:collapse; width:100%; }
table.vars td { border-bottom:1px solid #eef1f4; padding:3px 8px; vertical-align:top; }
table.vars td.k { white-space:nowrap; color:var(--muted); width:1%; }
table.vars tr.changed { background:#fff8d6; }
table.vars tr.changed td.k { color:var(--fg); font-weight:600; }
table.vars .old { color:var(--muted); text-decoration:line-through; display:block; }
"""

SHARED_JS = r"""
var hs = (function () {
  "use strict";
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = text; }
    return e;
  }
  // The tokens of a label, as hintspec.outputs.layout.tokens: a line may break at a space
  // or after "(", never inside a token. Each token comes with the blank before it ("" after
  // a parenthesis), so the text is kept exactly.
  function tokens(text) {
    var out = [], parts = String(text).trim().split(/(\s+)/);
    for (var i = 0; i < parts.length; i += 2) {
      var blank = i > 0 ? parts[i - 1] : "";
      parts[i].split(/(?<=\()(?!\))/).filter(function (p) { return p.length > 0; })
        .forEach(function (piece, k) { out.push([piece, k === 0 ? blank : ""]); });
    }
    return out;
  }
  function setTokens(node, text) {
    node.textContent = "";
    node.style.whiteSpace = "pre-wrap";
    tokens(text).forEach(function (t, k) {
      if (k > 0) { node.appendChild(t[1] ? document.createTextNode(t[1]) : el("wbr")); }
      node.appendChild(el("span", "tok", t[0]));
    });
  }
  // One frame map (rows of [label, cells]) as buttons; cells that differ from `prev` are
  // outlined; `pick(row, index)` is called when a frame is clicked (null: plain cells).
  function renderFrames(box, rows, prev, look, pick, picked) {
    box.textContent = "";
    rows.forEach(function (row, r) {
      var line = el("div", "frame-row");
      line.dataset.row = String(r);
      if (row[0] !== null) { line.appendChild(el("span", "frame-label", row[0])); }
      var cells = row[1], before = prev && prev[r] ? prev[r][1] : null, index = 0;
      for (var k = 0; k < cells.length; k++) {
        var ch = cells.charAt(k);
        if (ch === " ") { line.appendChild(el("span", "frame-gap")); continue; }
        // Without `pick` (a preview inside a button) the cells are not controls.
        var b = el(pick ? "button" : "span", "frame", ch), style = look(ch, row[0] !== null);
        if (pick) { b.type = "button"; }
        b.style.background = style[0];
        b.style.color = style[1];
        if (style[2]) { b.className += " lost"; }
        var what = row[0] === null ? "frame " + index : row[0] + " " + index;
        b.title = what + ": " + ch + (style[3] ? " (" + style[3] + ")" : "");
        b.setAttribute("aria-label", b.title);
        b.dataset.row = String(r);
        b.dataset.frame = String(index);
        if (before !== null && before.charAt(k) !== ch) { b.className += " chg"; }
        if (picked && picked[0] === r && picked[1] === index) { b.className += " picked"; }
        if (pick) {
          (function (rr, ii) {
            b.addEventListener("click", function () { pick(rr, ii); });
          })(r, index);
        }
        line.appendChild(b);
        index++;
      }
      box.appendChild(line);
    });
  }
  // The character of frame `index` of row `r` in a frame map, or "" if it has none.
  function cellAt(rows, r, index) {
    if (!rows || !rows[r]) { return ""; }
    var cells = rows[r][1].replace(/ /g, "");
    return index < cells.length ? cells.charAt(index) : "";
  }
  // A colour look-up: ch -> [fill, text colour, lost?, meaning].
  function looks(colours) {
    return function (ch, bits) {
      var table = bits ? colours.bits : colours.main;
      var c = table[ch] || colours.main[ch] || ["#cccccc", "#000000"];
      var lost = !bits && colours.lost.indexOf(ch) >= 0;
      return [c[0], c[1], lost, bits ? "" : (colours.legend[ch] || "")];
    };
  }
  // The variables of a state: [name, value, old value or null]; changed rows marked.
  function renderVars(body, vars) {
    body.textContent = "";
    vars.forEach(function (v) {
      var tr = el("tr", v[2] !== null ? "changed" : "");
      tr.dataset.name = v[0];
      tr.appendChild(el("td", "k mono", v[0]));
      var td = el("td", "v mono");
      if (v[2] !== null) {
        var old = el("span", "old");
        setTokens(old, v[2]);
        td.appendChild(old);
      }
      var now = el("span", "new");
      setTokens(now, v[1]);
      td.appendChild(now);
      tr.appendChild(td);
      body.appendChild(tr);
    });
  }
  return {el: el, tokens: tokens, setTokens: setTokens, renderFrames: renderFrames,
          cellAt: cellAt, looks: looks, renderVars: renderVars};
})();
"""

TRACE_CSS = """
main.trace { display:grid; grid-template-columns: fit-content(360px) minmax(0, 1fr);
  gap:0; align-items:start; }
#steps { border-right:1px solid var(--line); max-height:calc(100vh - 120px); overflow:auto;
  position:sticky; top:0; min-width:220px; }
#steps ol { list-style:none; margin:0; padding:0; }
#steps li { padding:4px 10px 4px 8px; border-left:4px solid transparent; cursor:pointer;
  border-bottom:1px solid #eef1f4; display:flex; gap:8px; }
#steps li .n { color:var(--muted); min-width:2.2em; text-align:right; flex:none; }
#steps li .a { min-width:0; }
#steps li.cycle { border-left-color:var(--cyc); }
#steps li.cycle-first { border-top:2px dashed var(--cyc); }
#steps li.cycle-entry .a::after { content:" \\21ba"; color:var(--cyc); }
#steps li.closing { font-style:italic; }
#steps li.bad .a::after { content:" \\2716"; color:var(--bad); }
#steps li.sel { background:var(--sel); }
#steps .cycle-label { color:var(--cyc); font-size:12px; padding:2px 10px; cursor:default; }
#detail { padding:12px 20px; min-width:0; overflow-x:auto; }
#detail h2 { font-size:16px; margin:0 0 2px; }
#cites { margin-bottom:8px; }
h3 { font-size:14px; margin:14px 0 4px; }
#seq { overflow:auto; border:1px solid var(--line); border-radius:6px; background:#fff;
  max-height:60vh; }
svg .lane-line { stroke:#b0bac5; stroke-dasharray:4 4; }
svg .lane-head rect { fill:var(--panel); stroke:#b0bac5; }
svg text { font:12px system-ui,sans-serif; fill:var(--fg); }
svg text.msg { font:11px ui-monospace,"DejaVu Sans Mono",monospace; }
svg text.n { fill:var(--muted); }
svg .row rect.bg { fill:transparent; }
svg .row.sel rect.bg { fill:var(--sel); }
svg .row { cursor:pointer; }
svg .m-add line { stroke:#1565c0; }
svg .m-pop line { stroke:#00838f; }
svg .m-ack line { stroke:#2e7d32; }
svg .m-get_buf line { stroke:#558b2f; }
svg .m-config line { stroke:#ef6c00; stroke-width:2; }
svg .m-notify line { stroke:#6d4c41; stroke-dasharray:5 3; }
svg .m-local rect { fill:#eceff1; stroke:#90a4ae; }
svg .m-fault rect { fill:#ffebee; stroke:var(--bad); stroke-width:1.5; }
svg .cycle path { stroke:var(--cyc); fill:none; stroke-width:2; }
svg .cycle line.cycle-start { stroke:var(--cyc); stroke-width:2; stroke-dasharray:6 4; }
svg .cycle text { fill:var(--cyc); }
"""

TRACE_JS = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("trace-data").textContent);
  var items = Array.prototype.slice.call(document.querySelectorAll("#steps li.step"));
  var rows = Array.prototype.slice.call(document.querySelectorAll("#seq .row"));
  var look = hs.looks(data.colours);
  var current = -1, picked = null;
  function renderFrames(i) {
    var map = data.steps[i].frames;
    document.getElementById("frames-panel").hidden = (map === null);
    if (map === null) { return; }
    var prev = i > 0 ? data.steps[i - 1].frames : null;
    hs.renderFrames(document.getElementById("frames"), map, prev, look, pick, picked);
  }
  function renderVars(i) {
    hs.renderVars(document.getElementById("vars"), data.steps[i].vars);
  }
  // One frame across the whole trace: a strip of its cell at every step, and its changes.
  function renderHistory() {
    var box = document.getElementById("history");
    box.hidden = (picked === null);
    if (picked === null) { return; }
    var r = picked[0], k = picked[1];
    var first = data.steps[0].frames;
    var label = first && first[r] && first[r][0] !== null ? first[r][0] + " " + k : "frame " + k;
    document.getElementById("history-title").textContent = label + " across the trace";
    var strip = document.getElementById("history-strip");
    var changes = document.getElementById("history-changes");
    strip.textContent = "";
    changes.textContent = "";
    var before = null;
    data.steps.forEach(function (step, i) {
      var ch = hs.cellAt(step.frames, r, k);
      var cell = hs.el("span", "hcell" + (i === current ? " now" : ""));
      cell.dataset.i = String(i);
      var b = hs.el("button", "frame", ch || "\u00b7");
      var style = look(ch, first && first[r] && first[r][0] !== null);
      b.type = "button";
      b.style.background = style[0];
      b.style.color = style[1];
      if (style[2]) { b.className += " lost"; }
      if (before !== null && before !== ch) { b.className += " chg"; }
      b.title = "step " + i + ": " + ch + (style[3] ? " (" + style[3] + ")" : "");
      b.setAttribute("aria-label", b.title);
      b.addEventListener("click", function () { select(i); });
      cell.appendChild(b);
      cell.appendChild(hs.el("span", "", String(i)));
      strip.appendChild(cell);
      if (before !== null && before !== ch) {
        var li = hs.el("li");
        li.dataset.i = String(i);
        li.appendChild(hs.el("b", "", "step " + i));
        li.appendChild(document.createTextNode(" " + step.action + ": " + before + " \u2192 " +
          ch + (style[3] ? " (" + style[3] + ")" : "")));
        changes.appendChild(li);
      }
      before = ch;
    });
    if (!changes.firstChild) { changes.appendChild(hs.el("li", "", "it never changes")); }
  }
  function pick(r, k) {
    picked = (picked && picked[0] === r && picked[1] === k) ? null : [r, k];
    renderFrames(current);
    renderHistory();
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
    hs.setTokens(document.getElementById("step-title"), step.title);
    document.getElementById("cites").textContent = step.cites;
    document.getElementById("step-note").textContent = step.note;
    renderFrames(i);
    renderVars(i);
    renderHistory();
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
  document.getElementById("history-close").addEventListener("click", function () {
    picked = null;
    renderFrames(current);
    renderHistory();
  });
  document.addEventListener("keydown", function (ev) {
    if (ev.altKey || ev.ctrlKey || ev.metaKey) { return; }
    var k = ev.key, to = null;
    if (k === "ArrowDown" || k === "ArrowRight" || k === "j") { to = current + 1; }
    else if (k === "ArrowUp" || k === "ArrowLeft" || k === "k") { to = current - 1; }
    else if (k === "Home" || k === "g") { to = 0; }
    else if (k === "End" || k === "G") { to = data.steps.length - 1; }
    else if (k === "Escape" && picked !== null) { pick(picked[0], picked[1]); }
    if (to !== null) { ev.preventDefault(); select(to); }
  });
  var m = /step=(\d+)/.exec(location.hash);
  select(m ? Number(m[1]) : data.initial);
  window.hintspecTrace = {
    select: select,
    current: function () { return current; },
    pick: pick
  };
})();
"""
