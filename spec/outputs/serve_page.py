"""The page of ``hintspec serve``: an explorer of one model in the browser.

The current state (its frame map and variables, changed ones marked; the invariants it
breaks, a deadlock, the witnesses it reaches); every enabled step, named after its action
and the kernel or QEMU function it stands for, with the frame map it leads to and the
invariants it would break; the path taken so far as a list (click a step to go back to it),
Back and Forward along it, and the choice of initial state when there are several; a jump to
the shortest counterexample of any violated property; loading an ITF trace of this model;
and a permalink: the URL's ``#path=0.3.1`` is the path (initial state, then the index of
each chosen step), so a reload, a bookmark or a link in a mail shows the same state. The
browser's own Back and Forward move through the states visited.

The script builds every element with ``textContent`` (nothing the server sends is parsed as
HTML) and talks only to the server it came from (``connect-src 'self'``).
"""

from __future__ import annotations

from typing import Any

from hintspec.lang.configs import config_label
from hintspec.lang.model import Model
from hintspec.outputs.html import BASE_CSS, esc, legend_html
from hintspec.outputs.trace_assets import SHARED_CSS, SHARED_JS

EXPLORER_CSS = """
nav.tools { display:flex; flex-wrap:wrap; gap:8px 18px; align-items:center;
  padding:8px 20px; border-bottom:1px solid var(--line); }
nav.tools button, nav.tools select { font:inherit; font-size:13px; }
nav.tools label { font-size:13px; }
#status { font-size:13px; color:var(--muted); }
#initials { font-size:13px; margin:0 0 6px; }
#initials button { font:inherit; margin-left:4px; }
#status.error { color:var(--bad); font-weight:600; }
main.explorer { display:grid; grid-template-columns: minmax(200px, 280px) minmax(0, 1fr)
  minmax(280px, 420px); align-items:start; }
main.explorer > section { padding:10px 16px; min-width:0; }
#path-panel { border-right:1px solid var(--line); max-height:calc(100vh - 110px);
  overflow:auto; }
#actions-panel { border-left:1px solid var(--line); max-height:calc(100vh - 110px);
  overflow:auto; }
h2 { font-size:15px; margin:4px 0 8px; }
h3 { font-size:14px; margin:12px 0 4px; }
ol.trail { list-style:none; margin:0; padding:0; font-size:13px; }
ol.trail li { padding:3px 6px; border-left:4px solid transparent; cursor:pointer;
  display:flex; gap:6px; }
ol.trail li .n { color:var(--muted); min-width:2em; text-align:right; flex:none; }
ol.trail li.now { background:var(--sel); border-left-color:#b58900; }
ol.trail li.ahead { color:var(--muted); }
ol.enabled { list-style:none; margin:0; padding:0; }
ol.enabled li { margin:0 0 6px; }
button.choice { width:100%; text-align:left; font:12.5px ui-monospace,monospace;
  padding:5px 8px; border:1px solid var(--line); border-radius:6px; background:#fff;
  cursor:pointer; display:block; color:var(--fg); }
button.choice:hover, button.choice:focus { border-color:var(--link); }
button.choice .cites { display:block; color:var(--muted); font-size:11.5px; margin-top:2px; }
button.choice .breaks { display:block; color:var(--bad); font-weight:600; font-size:11.5px; }
button.choice .stays { display:block; color:var(--muted); font-size:11.5px; }
.mini { display:flex; flex-wrap:wrap; gap:1px; margin-top:3px; }
.mini .frame { width:14px; height:14px; font:9px/12px ui-monospace,monospace;
  cursor:inherit; }
.alert { padding:6px 10px; border-radius:6px; margin:6px 0; border:1px solid; }
.alert.bad { background:var(--badbg); border-color:#f3b8b3; color:var(--bad); }
.alert.good { background:var(--goodbg); border-color:#b9dcbb; color:var(--good); }
.alert.info { background:var(--panel); border-color:var(--line); }
"""

EXPLORER_JS = r"""
(function () {
  "use strict";
  var path = [0], trail = [0], look = null, lasso = null;
  var $ = function (id) { return document.getElementById(id); };
  function status(text, error) {
    $("status").textContent = text;
    $("status").className = error ? "error" : "";
  }
  function asText(p) { return p.join("."); }
  function fromHash() {
    var m = /path=([0-9.]+)/.exec(location.hash);
    return m ? m[1].split(".").filter(function (x) { return x !== ""; }).map(Number) : null;
  }
  function startsWith(long, short) {
    if (long.length < short.length) { return false; }
    for (var i = 0; i < short.length; i++) { if (long[i] !== short[i]) { return false; } }
    return true;
  }
  function getJSON(url, options) {
    return fetch(url, options).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) { throw new Error(body.error || ("HTTP " + r.status)); }
        return body;
      });
    });
  }
  function renderTrail(view) {
    var list = $("trail");
    list.textContent = "";
    var labels = view.steps.map(function (s) { return s.label; });
    trail.forEach(function (k, i) {
      var li = hs.el("li", i === path.length - 1 ? "now" : (i >= path.length ? "ahead" : ""));
      li.dataset.i = String(i);
      li.appendChild(hs.el("span", "n", String(i)));
      var text = hs.el("span", "a mono");
      hs.setTokens(text, i < labels.length ? labels[i] : "step " + k + " (ahead)");
      li.appendChild(text);
      li.addEventListener("click", function () { go(trail.slice(0, i + 1), true); });
      list.appendChild(li);
    });
  }
  function renderState(view) {
    var last = view.steps[view.steps.length - 1];
    hs.setTokens($("where"), "Step " + (view.steps.length - 1) + ": " + last.label);
    $("cites").textContent = last.cites;
    var alerts = $("alerts");
    alerts.textContent = "";
    view.breaks.forEach(function (b) {
      var box = hs.el("div", "alert bad");
      box.appendChild(hs.el("b", "", "Violated: " + b[0]));
      box.appendChild(hs.el("div", "mono", b[1]));
      alerts.appendChild(box);
    });
    if (view.deadlock) {
      alerts.appendChild(hs.el("div", "alert bad", "Deadlock: no step is enabled here"));
    } else if (view.terminal) {
      alerts.appendChild(hs.el("div", "alert info", "A final state: nothing more happens"));
    }
    if (lasso && asText(path) === asText(lasso.path)) {
      alerts.appendChild(hs.el("div", "alert bad", "Lasso: " + lasso.text));
    }
    if (view.witnesses.length) {
      alerts.appendChild(hs.el("div", "alert good", "Witnessed here: " +
        view.witnesses.join("; ")));
    }
    $("frames-panel").hidden = (view.frames === null);
    if (view.frames !== null) {
      hs.renderFrames($("frames"), view.frames, view.frames_before, look, null, null);
    }
    hs.renderVars($("vars"), view.variables);
  }
  function renderEnabled(view) {
    $("enabled-count").textContent = String(view.enabled.length);
    var list = $("enabled");
    list.textContent = "";
    view.enabled.forEach(function (c) {
      var li = hs.el("li");
      var b = hs.el("button", "choice");
      b.type = "button";
      b.dataset.index = String(c.index);
      b.dataset.label = c.label;
      var label = hs.el("span", "label");
      hs.setTokens(label, c.label);
      b.appendChild(label);
      b.appendChild(hs.el("span", "cites", c.cites));
      if (c.breaks.length) {
        b.appendChild(hs.el("span", "breaks", "\u2716 breaks: " + c.breaks.join("; ")));
      }
      if (c.stays) { b.appendChild(hs.el("span", "stays", "leaves the state as it is")); }
      if (c.frames) {
        var mini = hs.el("span", "mini");
        hs.renderFrames(mini, c.frames, view.frames, look, null, null);
        b.appendChild(mini);
      }
      b.addEventListener("click", function () { choose(c.index); });
      li.appendChild(b);
      list.appendChild(li);
    });
    if (!view.enabled.length) { list.appendChild(hs.el("li", "muted", "no step is enabled")); }
  }
  function go(newPath, push) {
    status("loading\u2026");
    return getJSON("/api/state?path=" + asText(newPath)).then(function (view) {
      path = view.path;
      if (!startsWith(trail, path)) { trail = path.slice(); }
      look = hs.looks(view.colours);
      renderTrail(view);
      renderState(view);
      renderEnabled(view);
      var hash = "#path=" + asText(path);
      $("permalink").href = hash;
      if (push && location.hash !== hash) { history.pushState(null, "", hash); }
      document.body.dataset.path = asText(path);
      status("");
    }).catch(function (err) { status(err.message, true); });
  }
  function choose(k) {
    var next = path.concat([k]);
    if (!startsWith(trail, next)) { trail = next.slice(); }
    lasso = null;
    return go(next, true);
  }
  $("back").addEventListener("click", function () {
    if (path.length > 1) { go(path.slice(0, -1), true); }
  });
  $("forward").addEventListener("click", function () {
    if (trail.length > path.length) { go(trail.slice(0, path.length + 1), true); }
  });
  $("restart").addEventListener("click", function () { trail = [0]; lasso = null; go([0], true); });
  window.addEventListener("popstate", function () {
    var p = fromHash();
    if (p) { go(p, false); }
  });
  function loadViolations() {
    status("checking the model for violations\u2026");
    getJSON("/api/violations").then(function (body) {
      var select = $("violation");
      select.textContent = "";
      body.violations.forEach(function (v, i) {
        var o = hs.el("option", "", v.property + " (" + (v.path.length - 1) + " steps" +
          (v.loop !== null ? ", lasso" : "") + ")");
        o.value = String(i);
        select.appendChild(o);
      });
      select.disabled = $("jump").disabled = !body.violations.length;
      if (!body.violations.length) {
        select.appendChild(hs.el("option", "", body.bound_hit ? "none found within " +
          body.bound_hit : "none: every property holds"));
      }
      $("jump").onclick = function () {
        var v = body.violations[Number(select.value)];
        trail = v.path.slice();
        lasso = v.loop === null ? null : {path: v.path, text: "the step " + v.loop_action +
          " returns to step " + v.loop + ", and the cycle repeats for ever"};
        go(v.path, true);
      };
      status("");
    }).catch(function (err) { status(err.message, true); });
  }
  $("itf").addEventListener("change", function () {
    var file = $("itf").files[0];
    if (!file) { return; }
    file.text().then(function (text) {
      return getJSON("/api/trace", {method: "POST", body: text,
        headers: {"Content-Type": "application/json"}});
    }).then(function (v) {
      trail = v.path.slice();
      lasso = null;
      go(v.path, true);
    }).catch(function (err) { status("cannot load the trace: " + err.message, true); });
  });
  document.addEventListener("keydown", function (ev) {
    if (ev.altKey || ev.ctrlKey || ev.metaKey) { return; }
    if (ev.target && /INPUT|SELECT|TEXTAREA/.test(ev.target.tagName)) { return; }
    if (ev.key === "ArrowLeft" || ev.key === "k") { $("back").click(); }
    else if (ev.key === "ArrowRight" || ev.key === "j") { $("forward").click(); }
  });
  // A model with several initial states: choose the one to start from.
  getJSON("/api/model").then(function (model) {
    if (model.initial < 2) { return; }
    $("initials").hidden = false;
    for (var k = 0; k < model.initial; k++) {
      (function (k) {
        var b = hs.el("button", "initial", String(k));
        b.type = "button";
        b.addEventListener("click", function () { trail = [k]; lasso = null; go([k], true); });
        $("initial-buttons").appendChild(b);
      })(k);
    }
  });
  var start = fromHash();
  if (start) { trail = start.slice(); }
  go(start || [0], false).then(loadViolations);
  window.hintspecExplorer = {go: go, choose: choose, path: function () { return path; }};
})();
"""


def explorer_page(model: Model[Any, Any]) -> str:
    """The explorer's page for ``model`` (its state comes from the JSON API)."""
    title = f"hintspec explorer: {model.name}/{model.variant}"
    legend = legend_html(model, {ch for ch in model.frame_legend if len(ch) == 1})
    body = f"""
<header class="top">
  <h1>{esc(title)}</h1>
  <div class="muted">{esc(config_label(model.config))} · {esc(model.summary())} ·
    keys <span class="kbd">←</span> <span class="kbd">→</span> back and forward</div>
</header>
<nav class="tools" aria-label="explorer tools">
  <span><button type="button" id="back">◀ Back</button>
    <button type="button" id="forward">Forward ▶</button>
    <button type="button" id="restart">Restart</button></span>
  <span><label for="violation">Shortest violation of</label>
    <select id="violation" disabled><option>checking…</option></select>
    <button type="button" id="jump" disabled>Go</button></span>
  <span><label for="itf">Load an ITF trace</label>
    <input type="file" id="itf" accept=".json,application/json"></span>
  <a id="permalink" href="#path=0">permalink to this state</a>
  <span id="status" role="status" aria-live="polite"></span>
</nav>
<main class="explorer">
  <section id="path-panel" aria-labelledby="path-title">
    <h2 id="path-title">Path</h2>
    <div id="initials" hidden>start from initial state <span id="initial-buttons"></span></div>
    <ol id="trail" class="trail"></ol></section>
  <section id="state-panel" aria-labelledby="where">
    <h2 id="where"></h2>
    <div id="cites" class="muted mono"></div>
    <div id="alerts"></div>
    <div id="frames-panel"><h3>Frames</h3><div id="frames" class="frames-box"></div>
      {legend}</div>
    <h3>State <span class="muted">(changed by the last step highlighted)</span></h3>
    <table class="vars"><tbody id="vars"></tbody></table>
  </section>
  <section id="actions-panel" aria-labelledby="enabled-title">
    <h2 id="enabled-title">Enabled steps (<span id="enabled-count">0</span>)</h2>
    <ol id="enabled" class="enabled"></ol></section>
</main>
"""
    csp = (
        "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
        "connect-src 'self'; img-src data:"
    )
    return (
        "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>\n"
        f"<meta http-equiv='Content-Security-Policy' content=\"{csp}\">\n"
        f"<title>{esc(title)}</title>\n<style>{BASE_CSS}{SHARED_CSS}{EXPLORER_CSS}</style>\n"
        f"</head>\n<body>\n{body}\n<script>{SHARED_JS}{EXPLORER_JS}</script>\n</body>\n</html>\n"
    )
