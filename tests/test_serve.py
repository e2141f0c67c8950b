"""``hintspec serve`` without a browser: the session (paths, views, violations, traces) and
the HTTP API of the server, on 127.0.0.1. The browser test (test_html_browser.py) clicks
through the page."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hintspec.engine.check import check
from hintspec.engine.session import PathError, Session
from hintspec.lang.registry import get_model
from hintspec.outputs.serve import ExplorerServer, parse_path
from hintspec.traces.files import to_itf
from toy_hinting import Config, ToyHinting

CAP = "at most CAP blocks are isolated"


def buddy(variant: str = "isolate_ignores_cap") -> Any:
    cls = get_model("reference_buddy")
    return cls(cls.Config(variant=variant))


def test_a_path_names_a_state_by_the_choices_taken() -> None:
    model = buddy()
    session = Session(model)
    view = session.view([0])
    assert view["steps"] == [{"label": "initial state", "cites": ""}]
    assert [c["index"] for c in view["enabled"]] == list(range(len(view["enabled"])))
    first = view["enabled"][0]
    assert first["cites"] == "mm/page_alloc.c: __rmqueue_smallest, expand"
    (a, args, state) = next(iter(model.successors(next(iter(model.initial_states())))))
    after = session.view([0, 0])
    assert (
        after["steps"][1]["label"]
        == first["label"]
        == f"{model.actions[a].name}" + ("(" + ", ".join(f"{k}={v}" for k, v in args.items()) + ")")
    )
    assert after["frames"] == model.frame_map(state)
    changed = [name for name, _value, old in after["variables"] if old is not None]
    assert changed == ["free", "allocated"]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ([], "a path starts with the index of an initial state"),
        ([1], "there is 1 initial state(s); 1 is none of them"),
        ([0, 999], "step 1: "),
    ],
)
def test_a_path_that_names_no_state_is_refused(path: list[int], message: str) -> None:
    with pytest.raises(PathError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Session(buddy()).view(path)


def test_the_shortest_violation_is_a_path_to_the_bad_state() -> None:
    session = Session(buddy())
    (v,) = session.violations()
    assert v.prop == CAP and v.loop is None
    view = session.view(v.path)
    assert [b[0] for b in view["breaks"]] == [CAP]
    trace = next(p.trace for p in check(buddy()).properties if p.name == CAP)
    assert trace is not None and len(v.path) == len(trace.steps)
    assert view["frames"] == buddy().frame_map(trace.steps[-1].state)


def test_a_lasso_keeps_its_closing_step() -> None:
    session = Session(ToyHinting(Config(variant="unfair_host")))
    lasso = next(v for v in session.violations() if v.prop == "a hint is eventually taken back")
    assert lasso.loop == 1 and lasso.loop_action == "free"


def test_a_trace_of_another_configuration_is_refused() -> None:
    trace = next(p.trace for p in check(buddy()).properties if p.name == CAP)
    assert trace is not None
    assert Session(buddy()).path_of(trace).path[0] == 0
    with pytest.raises(PathError, match="the trace is of reference_buddy/isolate_ignores_cap"):
        Session(buddy("upstream")).path_of(trace)


def test_parse_path_takes_digits_and_dots_only() -> None:
    assert parse_path("0.3.12") == [0, 3, 12]
    for bad in ("", "0..1", "1e3", "__import__('os')", "-1", "0.1 ", "9" * 12):
        with pytest.raises(PathError):
            parse_path(bad)


# -- the HTTP API -----------------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[ExplorerServer]:
    srv = ExplorerServer(Session(buddy()), port=0)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def request(
    srv: ExplorerServer,
    method: str,
    url: str,
    body: bytes | None = None,
    host: str | None = None,
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
    headers = {"Host": host or f"127.0.0.1:{srv.port}"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    conn.request(method, url, body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, dict(resp.headers), data


def test_the_server_listens_on_localhost_only(server: ExplorerServer) -> None:
    assert server.httpd.server_address[0] == "127.0.0.1"
    assert server.url == f"http://127.0.0.1:{server.port}/"
    status, headers, page = request(server, "GET", "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b"connect-src 'self'" in page and b"hintspec explorer" in page
    # A page on another name (DNS rebinding) gets nothing.
    status, _, body = request(server, "GET", "/api/model", host="attacker.example:80")
    assert status == 403 and b"only on 127.0.0.1" in body


def test_the_api_answers_json(server: ExplorerServer) -> None:
    status, _, body = request(server, "GET", "/api/model")
    model = json.loads(body)
    assert status == 200 and model["model"] == "reference_buddy"
    assert ["alloc", "mm/page_alloc.c: __rmqueue_smallest, expand"] in model["actions"]
    status, _, body = request(server, "GET", "/api/state?path=0.0")
    view = json.loads(body)
    assert status == 200 and view["path"] == [0, 0]
    assert view["frames"] == [[None, buddy().frame_map(Session(buddy()).walk([0, 0])[0][-1])]]
    assert set(view["colours"]) == {"main", "bits", "lost", "legend"}
    status, _, body = request(server, "GET", "/api/violations")
    (v,) = json.loads(body)["violations"]
    assert status == 200 and v["property"] == CAP


@pytest.mark.parametrize(
    ("method", "url", "body", "status", "message"),
    [
        ("GET", "/api/state?path=0.x", None, 400, "a path is numbers separated by dots"),
        ("GET", "/api/state?path=0.999", None, 400, "step 1:"),
        ("GET", "/etc/passwd", None, 404, "no such page"),
        ("POST", "/api/state", b"{}", 404, "only /api/trace takes a POST"),
        ("POST", "/api/trace", b"print(1)", 400, "not a JSON trace"),
        ("POST", "/api/trace", b'{"states": []}', 400, "lacks 'model'"),
    ],
)
def test_bad_requests_get_one_line(
    server: ExplorerServer, method: str, url: str, body: bytes | None, status: int, message: str
) -> None:
    got, headers, data = request(server, method, url, body)
    assert got == status and headers["Content-Type"] == "application/json"
    assert message in json.loads(data)["error"]


def test_an_uploaded_trace_becomes_a_path(server: ExplorerServer, tmp_path: Path) -> None:
    trace = next(p.trace for p in check(buddy()).properties if p.name == CAP)
    assert trace is not None
    status, _, body = request(server, "POST", "/api/trace", json.dumps(to_itf(trace)).encode())
    answer = json.loads(body)
    assert status == 200 and answer["property"] == CAP
    assert len(answer["path"]) == len(trace.steps)
    other = next(
        p.trace for p in check(buddy("alloc_keeps_reported")).properties if p.trace is not None
    )
    assert other is not None
    status, _, body = request(server, "POST", "/api/trace", json.dumps(to_itf(other)).encode())
    assert status == 400 and "the trace is of" in json.loads(body)["error"]
