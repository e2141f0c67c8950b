"""The HTML trace viewer and report in a real browser (headless Chromium under Playwright).

The pages are generated from real checks, written to files, loaded from ``file://`` and
asserted on as rendered: the number of steps, which frame cells and variables are
highlighted, what each key does, the sequence diagram's arrows, the report's verdict cells
and links. Playwright drives the system Chromium (tests/browser_support.py). Without
Chromium or Playwright these tests skip with the install step, and fail instead when
``HINTSPEC_REQUIRE_BROWSER=1`` (CI sets it).
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import browser_support
import pytest
from browser_support import axe_violations, launch, require_browser, screenshot
from hintspec.cli.app import main
from hintspec.engine.check import check
from hintspec.engine.session import Session
from hintspec.lang.registry import get_model
from hintspec.outputs.html import render_trace_html
from hintspec.outputs.palette import VERDICTS
from hintspec.outputs.serve import ExplorerServer
from hintspec.traces.files import read_itf, write_itf
from hintspec.traces.trace import Trace
from hintspec.traces.values import fmt, fmt_args
from toy_hinting import Config, ToyHinting

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

PNG = b"\x89PNG\r\n\x1a\n"
WIDTH, HEIGHT = 1280, 900


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium for this module (closed before the rest of the suite runs, whose CLI
    tests fork worker processes); skips (or fails, under HINTSPEC_REQUIRE_BROWSER=1) with
    one line naming the install step when Chromium or Playwright is missing."""
    with launch(require_browser()) as b:
        yield b


@pytest.fixture
def page_errors() -> list[str]:
    """Exceptions thrown by the page's scripts during the test."""
    return []


@pytest.fixture
def page(browser: Browser, page_errors: list[str]) -> Iterator[Page]:
    """A fresh page (its own context) per test, 1280x900 at scale 1."""
    context = browser.new_context(
        viewport={"width": WIDTH, "height": HEIGHT}, device_scale_factor=1
    )
    p = context.new_page()
    p.on("pageerror", lambda error: page_errors.append(error.stack or str(error)))
    yield p
    context.close()


@pytest.fixture(scope="module")
def buddy_page(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Trace]:
    """`check --out` then `show --html` on reference_buddy's isolate_ignores_cap."""
    root = tmp_path_factory.mktemp("trace")
    argv = ["check", "reference_buddy", "--variant", "isolate_ignores_cap", "--out", str(root)]
    assert main(argv) == 1
    itf = next(root.glob("*.itf.json"))
    out = root / "trace.html"
    assert main(["show", str(itf), "--html", "--out", str(out)]) == 0
    return out, read_itf(itf)


def open_file(b: Page, path: Path, fragment: str = "") -> None:
    """Load a local file (``#fragment`` appended); Playwright waits for its load event."""
    b.goto(path.resolve().as_uri() + (f"#{fragment}" if fragment else ""))


def toy_page(root: Path, variant: str, prop: str) -> tuple[Path, Trace, ToyHinting]:
    model = ToyHinting(Config(variant=variant))
    trace = next(p.trace for p in check(model).properties if p.name == prop)
    assert trace is not None
    out = root / f"{variant}.html"
    out.write_text(render_trace_html(trace, model), encoding="utf-8")
    return out, trace, model


def js(b: Page, expr: str) -> Any:
    return b.evaluate(expr)


def rgb(colour: str) -> str:
    """``#rrggbb`` as the browser's computed style writes it."""
    r, g, bl = (int(colour[k : k + 2], 16) for k in (1, 3, 5))
    return f"rgb({r}, {g}, {bl})"


def selected(b: Page) -> int:
    step = int(js(b, "document.body.dataset.step"))
    assert js(b, "document.querySelector('#steps li.step.sel').dataset.i") == str(step)
    return step


def changed_frames(b: Page) -> list[int]:
    return [
        int(x)
        for x in js(
            b, "[...document.querySelectorAll('#frames .frame.chg')].map(e => e.dataset.frame)"
        )
    ]


def changed_vars(b: Page) -> list[str]:
    return list(
        js(b, "[...document.querySelectorAll('#vars tr.changed')].map(e => e.dataset.name)")
    )


def test_trace_page_steps_frames_and_keys(
    page: Page, page_errors: list[str], buddy_page: tuple[Path, Trace]
) -> None:
    html, trace = buddy_page
    model_frames = _python_frames(trace)  # what the model itself says, per step
    b = page
    open_file(b, html)
    assert js(b, "document.querySelectorAll('#steps li.step').length") == 5
    assert js(b, "document.querySelectorAll('#seq svg .row').length") == 4
    # The violating (last) state is selected first, in the list and in the diagram.
    assert selected(b) == 4
    assert js(b, "document.querySelector('#seq .row.sel').dataset.i") == "4"
    assert "at most CAP blocks are isolated" in js(
        b, "document.getElementById('verdict').innerText"
    )
    assert js(b, "document.querySelectorAll('#frames .frame').length") == 8
    assert (
        js(b, "[...document.querySelectorAll('#frames .frame')].map(e => e.textContent).join('')")
        == (model_frames[4])
    )
    assert changed_frames(b) == _diff(model_frames[3], model_frames[4])
    # Keys: Home, j, ArrowDown, k, ArrowUp (stops at 0), End, ArrowRight (stops), ArrowLeft.
    b.keyboard.press("Home")
    assert selected(b) == 0
    assert changed_frames(b) == [] and changed_vars(b) == []
    assert js(b, "document.getElementById('step-title').textContent") == "Step 0: initial state"
    b.keyboard.press("j")
    assert selected(b) == 1
    assert changed_vars(b) == ["free", "allocated"]
    assert changed_frames(b) == _diff(model_frames[0], model_frames[1]) == [0]
    assert js(b, "document.querySelector('#vars tr.changed .old').textContent") == "{[0, 3]}"
    assert js(b, "document.getElementById('cites').textContent") == (
        "mm/page_alloc.c: __rmqueue_smallest, expand"
    )
    b.keyboard.press("ArrowDown")
    assert selected(b) == 2
    b.keyboard.press("k")
    assert selected(b) == 1
    b.keyboard.press("ArrowUp")
    b.keyboard.press("ArrowUp")
    assert selected(b) == 0
    b.keyboard.press("End")
    assert selected(b) == 4
    b.keyboard.press("ArrowRight")
    assert selected(b) == 4
    b.keyboard.press("ArrowLeft")
    assert selected(b) == 3
    assert js(b, "location.hash") == "#step=3"
    # Clicks select too: a step in the list, a row of the diagram.
    js(b, "document.querySelector('#steps li[data-i=\"2\"]').click()")
    assert selected(b) == 2
    js(
        b,
        "document.querySelector('#seq .row[data-i=\"1\"]').dispatchEvent(new MouseEvent('click'))",
    )
    assert selected(b) == 1
    assert page_errors == []
    assert js(b, "performance.getEntriesByType('resource').length") == 0  # nothing fetched


def _python_frames(trace: Trace) -> list[str]:
    from hintspec.lang.registry import get_model

    model = get_model(trace.model)(trace.config)
    return [model.frame_map(s.state) or "" for s in trace.steps]


def _diff(a: str, b: str) -> list[int]:
    return [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]


def test_the_selected_step_survives_a_reload(page: Page, buddy_page: tuple[Path, Trace]) -> None:
    html, _ = buddy_page
    open_file(page, html, "step=2")
    assert selected(page) == 2
    page.keyboard.press("j")
    page.reload()
    assert selected(page) == 3


def test_lasso_page_marks_the_cycle(page: Page, page_errors: list[str], tmp_path: Path) -> None:
    html, trace, model = toy_page(tmp_path, "unfair_host", "a hint is eventually taken back")
    assert trace.loop == 1
    b = page
    open_file(b, html)
    # 3 states and the closing step; the cycle is the steps out of state 1 and back to it.
    assert js(b, "document.querySelectorAll('#steps li.step').length") == 4
    assert sidebar_cycle(b) == diagram_cycle(b) == [2, 3]
    assert js(b, "document.querySelector('#steps li.cycle-entry').dataset.i") == "1"
    assert js(b, "document.querySelectorAll('#seq svg .cycle path').length") == 1
    assert selected(b) == 3
    title = js(b, "document.getElementById('step-title').textContent")
    assert title == "Step 3: free(page=1) -> back to step 1"
    # The closing step shows the cycle's first state again: the freed page changed back.
    assert js(
        b, "[...document.querySelectorAll('#frames .frame')].map(e => e.textContent).join('')"
    ) == model.frame_map(trace.steps[1].state)
    assert changed_frames(b) == [1] and changed_vars(b) == ["inuse"]
    assert "Violated (liveness)" in js(b, "document.getElementById('verdict').innerText")
    assert page_errors == []


def sidebar_cycle(b: Page) -> list[int]:
    return [
        int(x)
        for x in js(b, "[...document.querySelectorAll('#steps li.cycle')].map(e => e.dataset.i)")
    ]


def diagram_cycle(b: Page) -> list[int]:
    """The diagram's rows that lie between the top and the bottom of the cycle's bracket
    (by their drawn boxes, not by their attributes)."""
    return [
        int(x)
        for x in js(
            b,
            """(() => {
        const path = document.querySelector('#seq .cycle path').getBBox();
        return [...document.querySelectorAll('#seq .row')].filter(r => {
            const box = r.querySelector('rect.bg').getBBox();
            return box.y >= path.y - 3 && box.y + box.height <= path.y + path.height + 3;
        }).map(r => r.dataset.i);
    })()""",
        )
    ]


def test_sequence_diagram_arrows(page: Page, tmp_path: Path) -> None:
    html, _, _ = toy_page(tmp_path, "reuse_before_ack", "a page in use is never discarded")
    b = page
    open_file(b, html)
    lanes = js(b, "[...document.querySelectorAll('#seq .lane-head text')].map(e => e.textContent)")
    assert lanes == ["guest", "vq", "host"]
    arrows = json.loads(
        js(
            b,
            """JSON.stringify([...document.querySelectorAll('#seq .m')].map(g => {
                 const l = g.querySelector('line');
                 return [g.getAttribute('class'), g.textContent.trim(),
                         l ? l.getBBox().x : null, l ? Number(l.getAttribute('x1')) : null,
                         l ? Number(l.getAttribute('x2')) : null];
               }))""",
        )
    )
    kinds = [(a[0], a[1]) for a in arrows]
    assert kinds == [
        ("m m-add", "hint: add [0]hint: add [0]"),
        ("m m-pop", "pop: pop [0]pop: pop [0]"),
        ("m m-local", "alloc(page=0)alloc(page=0)"),
        ("m m-ack", "ack: used [0]ack: used [0]"),
    ]  # (title + label)
    x = dict(
        zip(
            lanes,
            js(
                b,
                "[...document.querySelectorAll('#seq .lane-head text')]"
                ".map(e => Number(e.getAttribute('x')))",
            ),
            strict=True,
        )
    )
    add, pop, _, ack = arrows
    assert (add[3], add[4]) == (x["guest"], x["vq"])  # guest -> queue
    assert (pop[3], pop[4]) == (x["vq"], x["host"])  # queue -> host
    assert (ack[3], ack[4]) == (x["host"], x["vq"])  # host -> queue (the ack)
    # Selecting a step highlights its row.
    b.keyboard.press("Home")
    b.keyboard.press("j")
    assert js(b, "document.querySelector('#seq .row.sel').textContent").startswith("1")


def test_report_page(page: Page, page_errors: list[str], tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    assert main(["report", "--only", "reference_buddy", "--out", str(out), "--no-prove"]) == 0
    b = page
    open_file(b, out)
    matrix = "#reference_buddy .by-property"
    assert js(b, f"document.querySelectorAll('{matrix} td.v-violated').length") == 3
    assert js(b, f"document.querySelectorAll('{matrix} td.v-holds').length") == 13
    bg = js(
        b, f"getComputedStyle(document.querySelector('{matrix} td.v-violated')).backgroundColor"
    )
    assert bg == rgb(VERDICTS["violated"].background)
    assert js(b, "document.querySelectorAll('table.runs tbody tr').length") == 4
    assert js(b, "performance.getEntriesByType('resource').length") == 0
    link = js(b, "document.querySelector('td.v-violated a.trace').href")
    label = js(b, "document.querySelector('td.v-violated a.trace').textContent")
    label = label.split(" · ")[1]  # "✗ violated · 4 steps"
    png = screenshot(b, full_page=True)
    assert png.startswith(PNG) and len(png) > 10_000
    # Follow the first violation's link: the viewer has one more step than the label says.
    assert link.startswith("file://")
    b.goto(link)
    steps = int(label.split()[0])
    assert js(b, "document.querySelectorAll('#steps li.step').length") == steps + 1
    assert page_errors == []


def test_selecting_a_step_never_scrolls_the_page(
    page: Page, buddy_page: tuple[Path, Trace]
) -> None:
    """The selection is kept visible by scrolling the step list and the diagram, not the
    window: in a short viewport the header (the violated property) stays in view."""
    html, _ = buddy_page
    b = page
    b.set_viewport_size({"width": WIDTH, "height": 420})
    open_file(b, html)
    assert js(b, "innerHeight") == 420
    assert selected(b) == 4
    assert js(b, "window.scrollY") == 0
    for key in ("Home", "j", "j", "End"):
        b.keyboard.press(key)
        assert js(b, "window.scrollY") == 0


# -- the skip-or-fail logic itself (needs neither Chromium nor Playwright) -------------------


@pytest.mark.parametrize("require", [None, "1"])
def test_a_missing_chromium_skips_or_fails(
    monkeypatch: pytest.MonkeyPatch, require: str | None
) -> None:
    monkeypatch.setattr(browser_support, "chromium_path", lambda: None)
    monkeypatch.setattr(browser_support, "playwright_installed", lambda: True)
    monkeypatch.delenv(browser_support.CHROMIUM_ENV, raising=False)
    if require is None:
        monkeypatch.delenv(browser_support.REQUIRE_ENV, raising=False)
    else:
        monkeypatch.setenv(browser_support.REQUIRE_ENV, require)
    outcome = pytest.skip.Exception if require is None else pytest.fail.Exception
    with pytest.raises(outcome) as info:
        require_browser()
    assert info.value.msg == (
        "Chromium is not installed: apt-get install chromium"
        " (or set HINTSPEC_CHROMIUM=/path/to/chromium)"
    )


def test_the_reason_is_one_line_naming_each_install_step(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(browser_support, "playwright_installed", lambda: False)
    monkeypatch.setenv(browser_support.CHROMIUM_ENV, str(tmp_path / "nonexistent"))
    assert browser_support.chromium_path() is None
    reason = browser_support.missing_reason()
    assert reason is not None and "\n" not in reason
    assert reason.startswith(
        f"Chromium and Playwright are not installed (HINTSPEC_CHROMIUM={tmp_path}"
    )
    assert reason.endswith(
        ": apt-get install chromium (or set HINTSPEC_CHROMIUM=/path/to/chromium);"
        " pip install -e '.[browser]'"
    )
    # $HINTSPEC_CHROMIUM names the executable when it is one; Playwright alone missing.
    exe = tmp_path / "my-chromium"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    monkeypatch.setenv(browser_support.CHROMIUM_ENV, str(exe))
    assert browser_support.chromium_path() == str(exe)
    assert browser_support.missing_reason() == (
        "Playwright is not installed: pip install -e '.[browser]'"
    )


# -- the report at a reviewer's screen size ------------------------------------------------

SCREENS = [(1440, 900), (1920, 1080)]


@pytest.fixture(scope="module")
def review_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report of two models: hinting_oom (16 entries: a wide matrix, an expected
    violation of the default design) and balloon_oom (a FINDING of upstream)."""
    out = tmp_path_factory.mktemp("review") / "report.html"
    argv = ["report", "--only", "hinting_oom", "--only", "balloon_oom", "--no-prove"]
    assert main([*argv, "--out", str(out)]) == 0
    return out


def box(b: Page, selector: str) -> dict[str, float]:
    return dict(
        js(b, f"document.querySelector({json.dumps(selector)}).getBoundingClientRect().toJSON()")
    )


@pytest.mark.parametrize(("width", "height"), SCREENS)
def test_the_report_fits_the_screen_and_its_matrix_scrolls_inside(
    page: Page, page_errors: list[str], review_page: Path, width: int, height: int
) -> None:
    b = page
    b.set_viewport_size({"width": width, "height": height})
    open_file(b, review_page)
    # No page-wide horizontal scrolling: the wide matrix scrolls in its own box.
    assert js(b, "document.documentElement.scrollWidth") <= width
    matrix = "#hinting_oom .by-property"
    assert js(b, f"document.querySelector('{matrix}').scrollWidth") > js(
        b, f"document.querySelector('{matrix}').clientWidth"
    )
    assert box(b, matrix)["right"] <= width
    assert box(b, matrix)["height"] <= 0.75 * height + 1
    # Scrolled right and down, the header row and the first column stay in place.
    b.evaluate(f"document.querySelector('{matrix}').scrollIntoView()")
    b.evaluate(
        f"(() => {{ const m = document.querySelector('{matrix}'); "
        "m.scrollLeft = m.scrollWidth; m.scrollTop = m.scrollHeight; })()"
    )
    frame = box(b, matrix)
    head = box(b, f"{matrix} thead th:nth-child(5)")
    first = box(b, f"{matrix} tbody tr:last-child th.row")
    assert abs(head["top"] - frame["top"]) <= 2
    assert abs(first["left"] - frame["left"]) <= 2
    corner = box(b, f"{matrix} thead th.corner")
    assert abs(corner["top"] - frame["top"]) <= 2 and abs(corner["left"] - frame["left"]) <= 2
    assert page_errors == []


def test_the_matrix_transposes_and_shows_the_notes(page: Page, review_page: Path) -> None:
    b = page
    b.set_viewport_size({"width": 1440, "height": 900})
    open_file(b, review_page)
    by_entry = "#balloon_oom .by-entry"
    assert not b.is_visible(by_entry)
    b.click("label[for='transpose-balloon_oom']")
    assert b.is_visible(by_entry) and not b.is_visible("#balloon_oom .by-property")
    rows = js(b, f"[...document.querySelectorAll('{by_entry} tbody tr')].length")
    assert rows == js(b, "document.querySelectorAll('#balloon_oom table.runs tbody tr').length")
    note = b.locator(f"{by_entry} tbody tr td.note", has_text="upstream OOM-kills").first
    assert note.inner_text().startswith("FINDING: upstream OOM-kills while the balloon holds")
    assert (
        b.locator(f"{by_entry} tbody tr", has_text="upstream OOM-kills")
        .first.locator(".badge.finding")
        .is_visible()
    )
    # The findings box says why hinting_oom's default design fails at demand=2.
    boxes = b.locator("#hinting_oom .finding-box.upstream")
    assert boxes.count() == 1 and "capped_gate_per_batch at demand=2" in boxes.inner_text()


def test_every_cell_links_to_its_trace_or_its_figures(page: Page, review_page: Path) -> None:
    b = page
    open_file(b, review_page)
    cells = js(
        b,
        """[...document.querySelectorAll('.by-property td.v')].map(td => {
        const a = td.querySelector(':scope > a');
        return [td.className, a ? a.getAttribute('href') : null];
    })""",
    )
    assert len(cells) > 100
    for cls, href in cells:
        if "v-na" in cls:
            continue
        assert href, cls
        if href.startswith("#"):
            assert "v-holds" in cls or "v-vacuous" in cls or "v-undetermined" in cls
            assert js(b, f"document.getElementById({json.dumps(href[1:])}) !== null")
        else:
            assert (review_page.parent / href).is_file() and href.endswith(".html")
            assert "v-violated" in cls or "v-witnessed" in cls or "v-lost" in cls


def test_verdict_colours_mean_the_same_everywhere(page: Page, review_page: Path) -> None:
    b = page
    open_file(b, review_page)
    seen = js(
        b,
        """(() => {
        const out = {};
        document.querySelectorAll('td.v, .legend-box span.v').forEach(e => {
            const word = [...e.classList].find(c => c.startsWith('v-') && c !== 'v-na');
            if (!word) { return; }
            const s = getComputedStyle(e);
            (out[word.slice(2)] = out[word.slice(2)] || []).push(s.backgroundColor);
        });
        return out;
    })()""",
    )
    assert {"holds", "violated", "witnessed", "vacuous"} <= set(seen)
    for word, colours in seen.items():
        assert set(colours) == {rgb(VERDICTS[word].background)}, word


def test_the_report_passes_axe(page: Page, review_page: Path) -> None:
    """axe-core's WCAG 2.1 A/AA rules (contrast) and best practices (landmarks)."""
    open_file(page, review_page)
    page.click("label[for='transpose-hinting_oom']")  # the other matrix is checked too
    assert axe_violations(page) == []


# -- the viewer: labels, lasso, frame history ----------------------------------------------


@pytest.fixture(scope="module")
def lasso_page(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Trace]:
    """virtio_mem's no_remove_retry: a lasso with long arrow labels (three lanes)."""
    cls = get_model("virtio_mem")
    model = cls(cls.Config(variant="no_remove_retry"))
    trace = next(p.trace for p in check(model).properties if p.trace is not None and p.trace.loop)
    assert trace is not None
    out = tmp_path_factory.mktemp("lasso") / "lasso.html"
    out.write_text(render_trace_html(trace, model), encoding="utf-8")
    return out, trace


@pytest.mark.parametrize(("width", "height"), SCREENS)
def test_labels_wrap_between_tokens_and_none_is_cut(
    page: Page, lasso_page: Any, width: int, height: int
) -> None:
    html, _trace = lasso_page
    b = page
    b.set_viewport_size({"width": width, "height": height})
    open_file(b, html)
    # The step list: no token is split over two lines, none sticks out of its item.
    bad = js(
        b,
        """[...document.querySelectorAll('#steps li.step')].flatMap(li => {
        const item = li.getBoundingClientRect();
        return [...li.querySelectorAll('.tok')].filter(t => {
            const r = t.getClientRects();
            const b = t.getBoundingClientRect();
            return r.length !== 1 || b.right > item.right + 0.5 || b.left < item.left - 0.5;
        }).map(t => li.dataset.i + ': ' + t.textContent);
    })""",
    )
    assert bad == []
    # The diagram: every label inside the drawing, a local event's text inside its box, and
    # no two labels of a step overlapping.
    bad = js(
        b,
        """(() => {
        const svg = document.querySelector('#seq svg');
        const W = svg.viewBox.baseVal.width, H = svg.viewBox.baseVal.height;
        const out = [];
        document.querySelectorAll('#seq text').forEach(t => {
            const r = t.getBBox();
            if (r.x < 0 || r.y < 0 || r.x + r.width > W || r.y + r.height > H) {
                out.push('outside: ' + t.textContent);
            }
        });
        document.querySelectorAll('#seq .m-local, #seq .m-fault').forEach(g => {
            const box = g.querySelector('rect').getBBox(), r = g.querySelector('text').getBBox();
            if (r.x < box.x || r.x + r.width > box.x + box.width || r.y < box.y ||
                r.y + r.height > box.y + box.height) {
                out.push('out of its box: ' + g.textContent);
            }
        });
        document.querySelectorAll('#seq .row').forEach(row => {
            const boxes = [...row.querySelectorAll('text.msg')].map(t => t.getBBox());
            boxes.forEach((a, i) => boxes.slice(i + 1).forEach(c => {
                if (a.x < c.x + c.width && c.x < a.x + a.width && a.y < c.y + c.height &&
                    c.y < a.y + a.height) { out.push('overlap in row ' + row.dataset.i); }
            }));
        });
        return out;
    })()""",
    )
    assert bad == []
    # No label was shortened: every message's full text is drawn.
    drawn = js(
        b,
        "[...document.querySelectorAll('#seq .m')].map(g => "
        "[g.querySelector('title').textContent, "
        "[...g.querySelectorAll('tspan')].map(s => s.textContent).join(' ')])",
    )
    for full, text in drawn:
        assert text.replace("( ", "(") == full or text.replace(" ", "") == full.replace(" ", "")


def test_the_lasso_is_the_same_range_in_the_list_and_the_diagram(
    page: Page, lasso_page: Any
) -> None:
    html, trace = lasso_page
    open_file(page, html)
    closing = len(trace.steps)
    assert sidebar_cycle(page) == diagram_cycle(page) == list(range(trace.loop + 1, closing + 1))


def test_clicking_a_frame_shows_its_history(
    page: Page, page_errors: list[str], buddy_page: tuple[Path, Trace]
) -> None:
    html, trace = buddy_page
    frames = _python_frames(trace)
    b = page
    open_file(b, html)
    assert not b.is_visible("#history")
    b.click("#frames .frame[data-frame='4']")
    assert b.is_visible("#history")
    assert js(b, "document.getElementById('history-title').textContent") == (
        "frame 4 across the trace"
    )
    strip = js(b, "[...document.querySelectorAll('#history-strip .frame')].map(e => e.textContent)")
    assert strip == [f[4] for f in frames]
    changes = js(b, "[...document.querySelectorAll('#history-changes li')].map(e => e.dataset.i)")
    assert [int(i) for i in changes] == [
        k for k in range(1, len(frames)) if frames[k][4] != frames[k - 1][4]
    ]
    # A cell of the history selects its step; the picked frame stays picked.
    b.click("#history-strip .hcell[data-i='1'] .frame")
    assert selected(b) == 1
    assert js(b, "document.querySelector('#frames .frame.picked').dataset.frame") == "4"
    b.keyboard.press("Escape")
    assert not b.is_visible("#history")
    assert page_errors == []


def test_the_viewer_passes_axe(page: Page, lasso_page: Any) -> None:
    html, _ = lasso_page
    open_file(page, html)
    page.click("#frames .frame[data-frame='0']")
    assert axe_violations(page) == []


# -- hintspec serve, end to end ----------------------------------------------------------------


@pytest.fixture
def explorer_url() -> Iterator[str]:
    """``hintspec serve`` in its own process on a free port of 127.0.0.1; stopped (SIGTERM)
    after the test, which must end it cleanly."""
    argv = ["serve", "reference_buddy", "--variant", "isolate_ignores_cap", "--port", "0"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "hintspec", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+/", first)
        assert found, first
        yield found.group(0)
    finally:
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0 and rest.strip().endswith("hintspec serve: stopped"), rest


def until(b: Page, expr: str, timeout: float = 30.0) -> None:
    """Poll ``expr`` until it is true (``wait_for_function`` evaluates a string with eval,
    which the page's Content-Security-Policy rightly forbids)."""
    deadline = time.monotonic() + timeout
    while not b.evaluate(expr):
        assert time.monotonic() < deadline, f"timed out waiting for {expr}"
        time.sleep(0.05)


def wait_path(b: Page, path: list[int]) -> None:
    until(b, f"document.body.dataset.path === {json.dumps('.'.join(map(str, path)))}")


def test_serve_clicks_a_path_to_a_violation(
    page: Page, page_errors: list[str], explorer_url: str, tmp_path: Path
) -> None:
    model = get_model("reference_buddy")(
        get_model("reference_buddy").Config(variant="isolate_ignores_cap")
    )
    trace = next(p.trace for p in check(model).properties if p.trace is not None)
    assert trace is not None and trace.prop == "at most CAP blocks are isolated"
    b = page
    b.goto(explorer_url)
    wait_path(b, [0])
    assert b.inner_text("#where") == "Step 0: initial state"
    # Click the trace's steps one by one, by the names the page gives them.
    for k, step in enumerate(trace.steps[1:], 1):
        label = f"{step.action}({fmt_args(step.args)})"
        button = b.locator(f"#enabled button.choice[data-label={json.dumps(label)}]")
        assert button.count() == 1, label
        assert model.actions[model.action_index(str(step.action))].cites in button.inner_text()
        button.click()
        until(b, f"document.body.dataset.path.split('.').length === {k + 1}")
    shown = js(
        b, "[...document.querySelectorAll('#frames .frame')].map(e => e.textContent).join('')"
    )
    assert shown == model.frame_map(trace.steps[-1].state)
    assert "Violated: at most CAP blocks are isolated" in b.inner_text("#alerts")
    path = [int(x) for x in js(b, "document.body.dataset.path").split(".")]
    assert js(b, "document.querySelectorAll('#trail li').length") == len(trace.steps)
    # Back and Forward along the path; the browser's Back too.
    b.click("#back")
    wait_path(b, path[:-1])
    assert "Violated" not in b.inner_text("#alerts")
    assert js(b, "document.querySelectorAll('#trail li.ahead').length") == 1
    b.click("#forward")
    wait_path(b, path)
    b.go_back()
    wait_path(b, path[:-1])
    b.go_forward()
    wait_path(b, path)
    # The permalink is the URL: a reload shows the same state.
    assert js(b, "document.getElementById('permalink').getAttribute('href')") == (
        "#path=" + ".".join(map(str, path))
    )
    b.reload()
    wait_path(b, path)
    assert "Violated: at most CAP blocks are isolated" in b.inner_text("#alerts")
    # Jump to the shortest violation from the start.
    b.click("#restart")
    wait_path(b, [0])
    until(b, "!document.getElementById('jump').disabled")
    b.select_option("#violation", index=0)
    b.click("#jump")
    wait_path(b, path)
    # Load the same trace as an ITF file; a trace of another design is refused.
    b.click("#restart")
    wait_path(b, [0])
    itf = tmp_path / "cap.itf.json"
    write_itf(trace, itf)
    b.set_input_files("#itf", str(itf))
    wait_path(b, path)
    other = next(
        p.trace
        for p in check(get_model("reference_buddy")(model.Config(variant="upstream"))).properties
        if p.trace is not None
    )
    assert other is not None
    write_itf(other, tmp_path / "other.itf.json")
    b.set_input_files("#itf", str(tmp_path / "other.itf.json"))
    until(b, "document.getElementById('status').className === 'error'")
    assert "the trace is of reference_buddy/upstream" in b.inner_text("#status")
    assert page_errors == []
    assert axe_violations(b) == []


def test_serve_chooses_among_initial_states(page: Page, page_errors: list[str]) -> None:
    """thp_split starts from two states (QEMU postcopy, background snapshot)."""
    cls = get_model("thp_split")
    model = cls(cls.Config())
    initial = list(model.initial_states())
    assert len(initial) == 2
    server = ExplorerServer(Session(model), port=0)
    server.start()
    try:
        b = page
        b.goto(server.url)
        wait_path(b, [0])
        until(b, "!document.getElementById('initials').hidden")
        assert js(
            b, "[...document.querySelectorAll('#initials button')].map(e => e.textContent)"
        ) == ["0", "1"]
        b.click("#initials button:nth-child(2)")
        wait_path(b, [1])
        shown = js(
            b,
            "[...document.querySelectorAll('#vars tr')].map(r => "
            "[r.dataset.name, r.querySelector('.new').textContent])",
        )
        assert shown == [[k, fmt(v)] for k, v in model.view(initial[1]).items()]
        assert page_errors == []
    finally:
        server.stop()
