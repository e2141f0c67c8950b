"""Bad input, generated: corrupt trace files, malformed ``--set`` values, unknown names.

Whatever Hypothesis makes of them, the command answers with a verdict or with one line on
stderr and exit code 2 -- never a traceback, never a half-written output file. Renderers,
fed arbitrary states of every model, never raise.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import typing
from typing import Any

import pytest
from hintspec.cli.app import main
from hintspec.engine.check import check
from hintspec.lang.configs import make_config
from hintspec.lang.registry import all_models, get_model
from hintspec.outputs.html import render_trace_html
from hintspec.traces.files import to_itf
from hintspec.traces.text import render_trace
from hintspec.traces.trace import Step, Trace
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

RELAXED = settings(
    max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None
)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def assert_answered(code: int, err: str) -> None:
    """A verdict (0, 1, 3), or bad input: exactly one line naming it, exit 2."""
    assert "Traceback" not in err
    assert code in (0, 1, 2, 3), (code, err)
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("hintspec: error: "), err


def _good_trace_doc() -> dict[str, Any]:
    cls = get_model("reference_buddy")
    model = cls(make_config(cls, "isolate_ignores_cap", {}))
    result = check(model)
    trace = next(p.trace for p in result.properties if p.trace is not None and p.kind == "always")
    return to_itf(trace)


GOOD = _good_trace_doc()

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=8,
)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out.extend(_paths(v, (*prefix, i)))
    return out


PATHS = _paths(GOOD)


@st.composite
def corrupt_documents(draw: st.DrawFn) -> str:
    """A real trace with some of its values replaced, keys deleted, or its text cut."""
    doc = copy.deepcopy(GOOD)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS[1:]))
        parent = doc
        try:  # an earlier change may have removed the path
            for key in path[:-1]:
                parent = parent[key]
            parent[path[-1]]
        except (KeyError, IndexError, TypeError):
            continue
        if draw(st.booleans()) and isinstance(parent, dict):
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = draw(JSON)
    text = json.dumps(doc)
    if draw(st.integers(0, 4)) == 0:
        text = text[: draw(st.integers(0, len(text)))]
    return text


@RELAXED
@given(text=corrupt_documents(), command=st.sampled_from(["show", "replay", "html"]))
def test_corrupt_traces_get_one_line(
    text: str, command: str, tmp_path_factory: pytest.TempPathFactory, capsys: Any
) -> None:
    where = tmp_path_factory.mktemp("bad")
    path = where / "t.itf.json"
    path.write_text(text)
    page = where / "out" / "t.html"
    argv = ["show", str(path), "--html", "--out", str(page)] if command == "html" else []
    code, _out, err = run(argv or [command, str(path)], capsys)
    assert_answered(code, err)
    if code == 2:
        assert not page.exists() and not page.parent.exists()


MODELS = sorted(all_models())


def _config_keys(name: str) -> list[str]:
    return [f.name for f in dataclasses.fields(get_model(name).Config)]


@RELAXED
@given(
    name=st.sampled_from(MODELS) | st.text(max_size=12),
    pairs=st.lists(
        st.tuples(
            st.sampled_from(["frames", "capacity", "blocks", "pages", "variant", "nope", ""]),
            st.sampled_from(["", "=", "==", "x"]),
            st.text(max_size=6) | st.integers(-3, 300).map(str),
        ),
        max_size=3,
    ),
    variant=st.none() | st.sampled_from(["upstream", "offline", "nope", ""]),
)
def test_malformed_settings_and_names_get_one_line(
    name: str,
    pairs: list[tuple[str, str, str]],
    variant: str | None,
    tmp_path_factory: pytest.TempPathFactory,
    capsys: Any,
) -> None:
    out_dir = tmp_path_factory.mktemp("out") / "traces"
    argv = ["check", name, "--max-states", "300", "--out", str(out_dir)]
    for key, sep, value in pairs:
        argv += ["--set", f"{key}{sep}{value}"]
    if variant is not None:
        argv += ["--variant", variant]
    code, _out, err = run(argv, capsys)
    assert_answered(code, err)
    if code == 2:
        assert not out_dir.exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["prove", "reference_buddy", "--property", "no such property"],
        ["prove", "reference_buddy", "--variant", "no_such_variant"],
        ["prove", "balloon_oom"],
        ["fuzz", "reference_buddy", "--profile", "nope"],
        ["simulate", "nope"],
        ["graph", "nope", "--format", "dot"],
        ["list", "nope"],
        ["check", "--all", "--only", "nope"],
        ["prove", "--all", "--only", "nope"],
        ["report", "--only", "nope"],
    ],
)
def test_unknown_names_get_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(argv, capsys)
    assert code == 2, (out, err)
    assert_answered(code, err)


# -- renderers, fed arbitrary states ------------------------------------------------------


def _strategy_for(typ: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values of a State field's type -- and, now and then, of a wrong one."""
    origin = typing.get_origin(typ)
    args = typing.get_args(typ)
    wrong = st.integers(-5, 999) | st.text(max_size=4) | st.none()
    if depth > 3:
        return wrong
    if typ is bool:
        return st.booleans()
    if typ is int:
        return st.integers(-3, 70)
    if isinstance(typ, type) and dataclasses.is_dataclass(typ):
        hints = typing.get_type_hints(typ)
        fields = {f.name: _strategy_for(hints[f.name], depth + 1) for f in dataclasses.fields(typ)}
        return st.builds(typ, **fields) | wrong
    if isinstance(typ, type) and issubclass(typ, __import__("enum").Enum):
        return st.sampled_from(list(typ))
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return st.lists(_strategy_for(args[0], depth + 1), max_size=5).map(tuple)
    if origin is tuple:
        return st.tuples(*[_strategy_for(a, depth + 1) for a in args])
    if origin in (frozenset, set):
        inner = _strategy_for(args[0], depth + 1)
        return st.lists(inner, max_size=5).map(lambda xs: frozenset(_hashable(xs)))
    if origin in (dict, typing.Mapping):
        return st.just({})
    if origin in (typing.Union, __import__("types").UnionType):
        return st.one_of([_strategy_for(a, depth + 1) for a in args if a is not type(None)])
    return wrong


def _hashable(xs: list[Any]) -> list[Any]:
    out = []
    for x in xs:
        try:
            hash(x)
        except TypeError:
            continue
        out.append(x)
    return out


@pytest.mark.parametrize("name", MODELS)
def test_renderers_never_raise_on_odd_states(name: str) -> None:
    cls = get_model(name)
    model = cls(cls.Config())
    first = next(iter(model.initial_states()))

    @settings(max_examples=40, deadline=None)
    @given(odd=_strategy_for(cls.State))
    def render(odd: Any) -> None:
        trace = Trace(
            model.name,
            model.config,
            [Step(None, {}, first), Step(model.actions[0].name, {"x": odd}, odd)],
            prop="some property",
            explanation="why",
        )
        text = render_trace(trace, model)
        assert "Counterexample" in text
        render_trace_html(trace, model)

    render()
