"""Headless Chromium for the browser tests, driven by Playwright (sync API).

Playwright drives the *system* Chromium (``executable_path``): Debian's ``chromium`` package,
or whatever ``$HINTSPEC_CHROMIUM`` names. Playwright's own browser downloads are never used.

``require_browser()`` is the one place that decides what happens when Chromium or Playwright
is missing: the browser tests skip with a one-line reason naming the install step, or fail
with the same line when ``HINTSPEC_REQUIRE_BROWSER=1`` (as CI sets it).

For a screenshot of any page (a person's look at an output)::

    python tests/browser_support.py trace.html shot.png [--width 1280 --height 900]

or, from Python::

    with launch(require_browser()) as browser:
        page = browser.new_page()
        page.goto(Path("trace.html").resolve().as_uri())
        screenshot(page, Path("shot.png"))
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM_ENV = "HINTSPEC_CHROMIUM"
REQUIRE_ENV = "HINTSPEC_REQUIRE_BROWSER"

# As root in a container: no sandbox, no GPU, no small /dev/shm; and no background
# networking, or Chromium tries to reach Google's hosts (there is no network here).
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

INSTALL_CHROMIUM = f"apt-get install chromium (or set {CHROMIUM_ENV}=/path/to/chromium)"
INSTALL_PLAYWRIGHT = "pip install -e '.[browser]'"


def chromium_path() -> str | None:
    """The Chromium to drive: ``$HINTSPEC_CHROMIUM`` if set, else ``chromium`` on PATH."""
    override = os.environ.get(CHROMIUM_ENV)
    return shutil.which(override if override else "chromium")


def playwright_installed() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True


def missing_reason() -> str | None:
    """One line saying what is missing and how to install it; None when nothing is."""
    chromium, playwright = chromium_path() is not None, playwright_installed()
    if chromium and playwright:
        return None
    override = os.environ.get(CHROMIUM_ENV)
    where = f" ({CHROMIUM_ENV}={override} is not an executable)" if override else ""
    if not chromium and not playwright:
        return (
            f"Chromium and Playwright are not installed{where}: "
            f"{INSTALL_CHROMIUM}; {INSTALL_PLAYWRIGHT}"
        )
    if not chromium:
        return f"Chromium is not installed{where}: {INSTALL_CHROMIUM}"
    return f"Playwright is not installed: {INSTALL_PLAYWRIGHT}"


def browser_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip().lower() in {"1", "true", "yes"}


def require_browser() -> str:
    """The Chromium executable; if it (or Playwright) is missing, skip the calling test, or
    fail it when ``HINTSPEC_REQUIRE_BROWSER=1``, with the same one-line reason."""
    reason = missing_reason()
    if reason is not None:
        if browser_required():
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    path = chromium_path()
    assert path is not None
    return path


@contextmanager
def launch(executable: str) -> Iterator[Browser]:
    """A headless Chromium (the system's, at ``executable``) under Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
"""The axe-core rule sets the pages must pass: WCAG 2.1 A and AA (contrast among them) and
the best practices (landmarks: one main, all content inside landmarks, unique names)."""


def axe_script() -> str:
    """axe-core's source (shipped inside the ``axe-playwright-python`` wheel, which the
    ``browser`` extra installs); skips or fails like :func:`require_browser` without it."""
    try:
        from axe_playwright_python.base import AXE_SCRIPT
    except ImportError:
        reason = f"axe-core (axe-playwright-python) is not installed: {INSTALL_PLAYWRIGHT}"
        if browser_required():
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return str(AXE_SCRIPT)


def axe_violations(page: Page, tags: list[str] | None = None) -> list[str]:
    """Run axe-core on the page as it is now: one line per violated rule and node."""
    page.evaluate(axe_script())
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, "
        "resultTypes: ['violations']})",
        tags or AXE_TAGS,
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {node['target']}: "
        f"{node.get('failureSummary', '')}".replace("\n", " ")
        for v in result["violations"]
        for node in v["nodes"]
    ]


def screenshot(page: Page, out: Path | None = None, *, full_page: bool = True) -> bytes:
    """A PNG of the page (the whole page, or only the viewport), also written to ``out``."""
    return page.screenshot(path=out, full_page=full_page, type="png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Screenshot a local HTML file (PNG).")
    parser.add_argument("html", type=Path)
    parser.add_argument("png", type=Path)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--viewport", action="store_true", help="only the viewport")
    args = parser.parse_args(argv)
    reason = missing_reason()
    if reason is not None:
        print(reason, file=sys.stderr)
        return 2
    executable = chromium_path()
    assert executable is not None
    with launch(executable) as browser:
        page = browser.new_page(viewport={"width": args.width, "height": args.height})
        page.goto(args.html.resolve().as_uri())
        screenshot(page, args.png, full_page=not args.viewport)
    return 0


if __name__ == "__main__":
    sys.exit(main())
