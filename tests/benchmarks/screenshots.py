"""Take the screenshots in docs/screenshots/ (PNG, 1440x900, headless Chromium).

    python tests/benchmarks/screenshots.py [--out docs/screenshots] [--results FILE]

* ``report.png`` -- the review report at page_reporting's verdict matrix, scrolled inside;
* ``report-transposed.png`` -- virtio_mem's matrix transposed, the FINDING beside its row;
* ``viewer.png`` -- the trace viewer on page_reporting's reuse_before_ack counterexample,
  frame 0's history open (the host discards the data the guest wrote);
* ``serve.png`` -- ``hintspec serve`` at the same violation;
* ``graph.png`` -- ``hintspec graph page_reporting --project worker,state`` as SVG.

Without ``--results`` the report is built for page_reporting and virtio_mem (no Z3 proofs,
a minute or two); with it, from that ``results.json``. Prints each file and its size.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from browser_support import chromium_path, launch, missing_reason
from hintspec.cli.app import main as hintspec
from hintspec.engine.check import check
from hintspec.engine.session import Session
from hintspec.lang.registry import get_model
from hintspec.outputs.html import render_trace_html
from hintspec.outputs.serve import ExplorerServer

SIZE = {"width": 1440, "height": 900}


def settle(page: object, expr: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not page.evaluate(expr):  # type: ignore[attr-defined]
        if time.monotonic() > deadline:
            raise TimeoutError(expr)
        time.sleep(0.1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--results", type=Path, help="a report's results.json to reuse")
    args = parser.parse_args()
    reason = missing_reason()
    if reason is not None:
        print(reason, file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="hintspec-shots-"))
    report = work / "report.html"
    if args.results:
        argv = ["report", "--results", str(args.results), "--out", str(report)]
    else:
        argv = ["report", "--only", "page_reporting", "--only", "virtio_mem", "--no-prove"]
        argv += ["--out", str(report)]
    hintspec(argv)
    cls = get_model("page_reporting")
    model = cls(cls.Config(variant="reuse_before_ack"))
    result = check(model, max_states=20000)
    prop = "the host never discards data the guest is using"
    trace = next(p.trace for p in result.properties if p.name == prop)
    assert trace is not None
    viewer = work / "viewer.html"
    viewer.write_text(render_trace_html(trace, model), encoding="utf-8")
    svg = work / "graph.svg"
    hintspec(["graph", "page_reporting", "--project", "worker,state", "--out", str(svg)])
    (work / "graph.html").write_text(
        "<!DOCTYPE html><html lang='en'><body style='margin:0'>"
        "<img src='graph.svg' alt='state graph' style='max-width:100%'></body></html>"
    )
    executable = chromium_path()
    assert executable is not None
    shots: list[Path] = []
    with launch(executable) as browser:
        page = browser.new_page(viewport=SIZE)
        page.goto(report.resolve().as_uri() + "#page_reporting")
        page.evaluate(
            "(() => { const m = document.querySelector('#page_reporting .by-property');"
            " m.scrollIntoView(); window.scrollBy(0, -60); m.scrollLeft = 700;"
            " m.scrollTop = 140; })()"
        )
        shots.append(args.out / "report.png")
        page.screenshot(path=shots[-1])
        page.goto(report.resolve().as_uri() + "#virtio_mem")
        page.click("label[for='transpose-virtio_mem']")
        page.evaluate(
            "(() => { const m = document.querySelector('#virtio_mem .by-entry');"
            " m.scrollIntoView(); window.scrollBy(0, -60); })()"
        )
        shots.append(args.out / "report-transposed.png")
        page.screenshot(path=shots[-1])
        page.goto(viewer.resolve().as_uri())
        page.click("#frames .frame[data-frame='0']")
        shots.append(args.out / "viewer.png")
        page.screenshot(path=shots[-1])
        server = ExplorerServer(Session(model, max_states=20000), port=0)
        server.start()
        try:
            page.goto(server.url)
            settle(page, "!document.getElementById('jump').disabled")
            labels = page.evaluate(
                "[...document.querySelectorAll('#violation option')].map(o => o.textContent)"
            )
            page.select_option(
                "#violation",
                index=next(k for k, text in enumerate(labels) if text.startswith(prop)),
            )
            page.click("#jump")
            settle(page, "document.querySelector('#alerts .alert.bad') !== null")
            shots.append(args.out / "serve.png")
            page.screenshot(path=shots[-1])
        finally:
            server.stop()
        page.goto((work / "graph.html").resolve().as_uri())
        shots.append(args.out / "graph.png")
        page.screenshot(path=shots[-1])
    for shot in shots:
        print(f"{shot}: {shot.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
