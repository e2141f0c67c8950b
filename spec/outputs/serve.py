"""The HTTP side of ``hintspec serve``: one page and a small JSON API over a
:class:`hintspec.engine.session.Session`, from the standard library's ``http.server``.

Why the standard library: the explorer serves one person on their own machine -- a page and
four JSON routes, a few requests a second -- which ``ThreadingHTTPServer`` does without a
dependency to install, pin or audit; a framework would add nothing a reviewer sees.

Safety: it binds to 127.0.0.1 (the caller cannot choose another address) and answers only
requests whose ``Host`` is that address or ``localhost`` (a page elsewhere cannot reach it
by DNS rebinding). Input is data, never code: a path is parsed as integers, an uploaded
trace as JSON (at most :data:`MAX_UPLOAD` bytes) and decoded by the ITF reader into the
model's own State type; the page builds its elements with ``textContent`` only.

Routes: ``GET /`` the page; ``GET /api/model`` the model, its actions and properties and the
frame colours; ``GET /api/state?path=0.3.1`` the state a path reaches
(:meth:`Session.view`); ``GET /api/violations`` the shortest counterexample of every
violated property, as paths; ``POST /api/trace`` an ITF trace of this model, answered with
its path.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from hintspec.engine.session import PathError, Session, Violation
from hintspec.lang.configs import config_label
from hintspec.lang.errors import ModelError, UsageError
from hintspec.outputs.html import frame_colour_table
from hintspec.outputs.palette import frame_rows
from hintspec.outputs.serve_page import explorer_page
from hintspec.traces.files import trace_from_itf

HOST = "127.0.0.1"
MAX_UPLOAD = 10 * 1024 * 1024


def parse_path(text: str) -> list[int]:
    """``0.3.1`` -> ``[0, 3, 1]`` (digits and dots only; anything else is refused)."""
    parts = text.split(".") if text else []
    if not parts or not all(p.isdigit() and len(p) <= 9 for p in parts):
        raise PathError(f"a path is numbers separated by dots, like 0.3.1; got {text[:40]!r}")
    return [int(p) for p in parts]


def _rows(fmap: str | None, legend: Mapping[str, str]) -> list[list[str | None]] | None:
    """A frame map as the page's rows (see :func:`hintspec.outputs.palette.frame_rows`)."""
    if fmap is None:
        return None
    return [[row.label, row.cells] for row in frame_rows(fmap, legend)]


def _violation_json(v: Violation) -> dict[str, Any]:
    return {
        "property": v.prop,
        "kind": v.kind,
        "explanation": v.explanation,
        "path": v.path,
        "loop": v.loop,
        "loop_action": v.loop_action,
    }


class Explorer:
    """What the handler serves: the session and the model's fixed description."""

    def __init__(self, session: Session) -> None:
        self.session = session
        model = session.model
        self.page = explorer_page(model)
        self.model_json = {
            "model": model.name,
            "variant": model.variant,
            "config": config_label(model.config),
            "summary": model.summary(),
            "initial": len(session.initial),
            "properties": [[p.name, p.kind.value] for p in model.properties],
            "actions": [[a.name, a.cites] for a in model.actions],
        }

    def state(self, query: dict[str, list[str]]) -> dict[str, Any]:
        path = parse_path((query.get("path") or ["0"])[0])
        view = self.session.view(path)
        model = self.session.model
        view["frames"] = _rows(view["frames"], model.frame_legend)
        view["frames_before"] = _rows(view["frames_before"], model.frame_legend)
        for choice in view["enabled"]:
            choice["frames"] = _rows(choice["frames"], model.frame_legend)
        maps = [view["frames"], view["frames_before"], *(c["frames"] for c in view["enabled"])]
        view["colours"] = frame_colour_table(model, maps)
        return view

    def violations(self) -> dict[str, Any]:
        found = self.session.violations()
        return {
            "violations": [_violation_json(v) for v in found],
            "bound_hit": self.session.bound_hit,
        }

    def trace(self, body: bytes) -> dict[str, Any]:
        try:
            doc = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UsageError(f"not a JSON trace: {exc}") from None
        trace = trace_from_itf(doc, "the uploaded trace")
        return _violation_json(self.session.path_of(trace))


class Handler(BaseHTTPRequestHandler):
    """The routes above; every answer is JSON except the page."""

    explorer: Explorer
    allowed_hosts: frozenset[str]
    server_version = "hintspec-serve"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a request log is noise in the terminal the explorer was started from."""

    def handle(self) -> None:
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):
            # The browser left (a reload, a closed tab) before the answer was written:
            # nobody is there to read an error, and a traceback would only clutter the terminal.
            self.close_connection = True

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("X-Frame-Options", "DENY")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, value: Any) -> None:
        self._send(status, json.dumps(value).encode("utf-8"), "application/json")

    def _error(self, status: int, message: str) -> None:
        self._json(status, {"error": message})

    def _host_ok(self) -> bool:
        if self.headers.get("Host", "") in self.allowed_hosts:
            return True
        self._error(HTTPStatus.FORBIDDEN, "this explorer answers only on 127.0.0.1")
        return False

    def _guarded(self, answer: Any) -> None:
        try:
            self._json(HTTPStatus.OK, answer())
        except UsageError as exc:
            self._error(HTTPStatus.BAD_REQUEST, str(exc))
        except ModelError as exc:
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"the model raised: {exc}")

    def do_GET(self) -> None:
        if not self._host_ok():
            return
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if url.path == "/":
            self._send(
                HTTPStatus.OK, self.explorer.page.encode("utf-8"), "text/html; charset=utf-8"
            )
        elif url.path == "/api/model":
            self._json(HTTPStatus.OK, self.explorer.model_json)
        elif url.path == "/api/state":
            self._guarded(lambda: self.explorer.state(query))
        elif url.path == "/api/violations":
            self._guarded(self.explorer.violations)
        else:
            self._error(HTTPStatus.NOT_FOUND, f"no such page: {url.path}")

    def do_POST(self) -> None:
        if not self._host_ok():
            return
        if urlsplit(self.path).path != "/api/trace":
            self._error(HTTPStatus.NOT_FOUND, "only /api/trace takes a POST")
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._error(HTTPStatus.LENGTH_REQUIRED, "a trace upload needs a Content-Length")
            return
        if not 0 < length <= MAX_UPLOAD:
            self._error(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"a trace is at most {MAX_UPLOAD // (1024 * 1024)} MiB",
            )
            return
        body = self.rfile.read(length)
        self._guarded(lambda: self.explorer.trace(body))


class ExplorerServer:
    """The explorer on 127.0.0.1:``port`` (0: a free port), served from a thread."""

    def __init__(self, session: Session, port: int = 0) -> None:
        explorer = Explorer(session)

        class BoundHandler(Handler):
            pass

        BoundHandler.explorer = explorer
        self.httpd = ThreadingHTTPServer((HOST, port), BoundHandler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        BoundHandler.allowed_hosts = frozenset({f"{HOST}:{self.port}", f"localhost:{self.port}"})
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    def start(self) -> None:
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
