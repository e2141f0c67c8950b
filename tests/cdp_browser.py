"""A headless Chromium driven over the Chrome DevTools Protocol, with no Python dependency.

The browser is started with ``--remote-debugging-pipe``: it reads commands from fd 3 and
writes replies and events to fd 4, each a JSON message ended by a NUL byte. A tiny Python
trampoline puts our pipe ends on fds 3 and 4 before it execs the browser (``pass_fds``
keeps descriptor numbers, it cannot renumber them).

Used by the browser tests (tests/test_html_browser.py) and for screenshots::

    with Browser() as b:
        b.open(Path("trace.html"))
        b.evaluate("document.querySelectorAll('#steps li.step').length")
        b.press("ArrowDown")
        Path("shot.png").write_bytes(b.screenshot())
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--mute-audio",
    "--hide-scrollbars",
    "--disable-dev-shm-usage",  # CI containers often have a tiny /dev/shm
    "--remote-debugging-pipe",
]

_TRAMPOLINE = (
    "import os, sys\n"
    "r, w = int(sys.argv[1]), int(sys.argv[2])\n"
    "os.dup2(r, 3); os.dup2(w, 4); os.close(r); os.close(w)\n"
    "os.execv(sys.argv[3], sys.argv[3:])\n"
)

# Keys as Chromium's DevTools expects them (key, code, Windows virtual key code).
_KEYS: dict[str, tuple[str, int]] = {
    "ArrowDown": ("ArrowDown", 40),
    "ArrowUp": ("ArrowUp", 38),
    "ArrowLeft": ("ArrowLeft", 37),
    "ArrowRight": ("ArrowRight", 39),
    "Home": ("Home", 36),
    "End": ("End", 35),
}


class BrowserError(RuntimeError):
    pass


def chromium_path() -> str:
    """The Chromium executable; an error that names the fix if it is not installed."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise BrowserError(
        "Chromium is not installed: apt-get install -y chromium (the browser tests need it)"
    )


def _high_fd(fd: int) -> int:
    """A copy of ``fd`` numbered 10 or more, so it cannot collide with 3 and 4."""
    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return new


class Browser:
    """One headless Chromium with one page, driven synchronously."""

    def __init__(self, width: int = 1280, height: int = 900, timeout: float = 30.0) -> None:
        self.width, self.height, self.timeout = width, height, timeout
        self._next_id = 0
        self._buffer = b""
        self._events: list[dict[str, Any]] = []
        self._profile = tempfile.mkdtemp(prefix="hintspec-chromium-")
        cmd_r, cmd_w = os.pipe()
        out_r, out_w = os.pipe()
        cmd_r, out_w = _high_fd(cmd_r), _high_fd(out_w)
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _TRAMPOLINE,
                str(cmd_r),
                str(out_w),
                chromium_path(),
                *FLAGS,
                f"--user-data-dir={self._profile}",
                f"--window-size={width},{height}",
                "about:blank",
            ],
            pass_fds=(cmd_r, out_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(cmd_r)
        os.close(out_w)
        self._write, self._read = cmd_w, out_r
        try:
            target = self._call("Target.createTarget", {"url": "about:blank"})["targetId"]
            attached = self._call("Target.attachToTarget", {"targetId": target, "flatten": True})
            self._session = attached["sessionId"]
            self.send("Page.enable")
            self.send("Runtime.enable")
            self.send(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            )
        except BaseException:
            self.close()  # no stray browser or profile when the start fails
            raise

    # -- protocol -------------------------------------------------------------------------

    def _call(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._write, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._receive()
            if reply.get("id") == msg["id"]:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            if "method" in reply:
                self._events.append(reply)

    def _receive(self) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._read], [], [], left)[0]:
                raise BrowserError("Chromium did not answer in time")
            chunk = os.read(self._read, 1 << 20)
            if not chunk:
                raise BrowserError("Chromium closed its DevTools pipe (did it crash?)")
            self._buffer += chunk
        raw, _, self._buffer = self._buffer.partition(b"\0")
        message: dict[str, Any] = json.loads(raw)
        return message

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """One command to the page; its result."""
        return self._call(method, params, self._session)

    def wait_event(self, method: str) -> dict[str, Any]:
        """The next event called ``method`` (already queued or still to come)."""
        while True:
            for k, event in enumerate(self._events):
                if event.get("method") == method:
                    del self._events[k]
                    return event
            self._events.append(self._receive())

    # -- convenience ----------------------------------------------------------------------

    def open(self, path: Path, fragment: str = "") -> None:
        """Load a local file (``#fragment`` appended) and wait until it has loaded."""
        self._events.clear()
        url = path.resolve().as_uri() + (f"#{fragment}" if fragment else "")
        if "loaderId" not in self.send("Page.navigate", {"url": url}):
            # Only the fragment changed: a same-document navigation fires no load event.
            # Reload once the new fragment is in place, so the page starts from it.
            self.wait_event("Page.navigatedWithinDocument")
            self.send("Page.reload")
        self.wait_event("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (exceptions raise)."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def press(self, key: str) -> None:
        """Press and release one key (arrows, Home, End, or a printable character)."""
        if key in _KEYS:
            code, vk = _KEYS[key]
            down: dict[str, Any] = {"key": key, "code": code, "windowsVirtualKeyCode": vk}
        else:
            down = {
                "key": key,
                "code": f"Key{key.upper()}",
                "text": key,
                "windowsVirtualKeyCode": ord(key.upper()),
            }
        self.send("Input.dispatchKeyEvent", {"type": "keyDown", **down})
        self.send("Input.dispatchKeyEvent", {"type": "keyUp", **down})

    def console_errors(self) -> list[str]:
        """Exceptions thrown by the page's scripts since it was opened."""
        return [
            json.dumps(e["params"].get("exceptionDetails", {}))
            for e in self._events
            if e.get("method") == "Runtime.exceptionThrown"
        ]

    def screenshot(self, full_page: bool = False) -> bytes:
        """A PNG of the viewport (or of the whole page)."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
            size = self.send("Page.getLayoutMetrics")["cssContentSize"]
            params["clip"] = {
                "x": 0,
                "y": 0,
                "width": size["width"],
                "height": size["height"],
                "scale": 1,
            }
        return base64.b64decode(self.send("Page.captureScreenshot", params)["data"])

    def close(self) -> None:
        """Close the browser and remove its profile."""
        with contextlib.suppress(BrowserError, OSError):
            self._call("Browser.close")
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        for fd in (self._write, self._read):
            with contextlib.suppress(OSError):
                os.close(fd)
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
