"""When the model's own code raises: a report the user can act on, not a traceback.

A checker runs the model's code -- its actions, guards, properties, hooks -- millions of
times. When that code raises (an ``IndexError`` in a write path, a state that is not
hashable, an action that yields the wrong thing), there is no verdict to give, but there
is a lot to say: which model, variant and configuration; which action or property raised;
the exception and the line of the model it came from; the state it raised in; and the
path of steps that led there, as a trace that ``hintspec show`` and ``hintspec replay``
can open. :class:`hintspec.lang.errors.ModelError` carries all of it, and the command line
prints it (exit 2) instead of a traceback, unless ``--debug`` asks for one.
"""

from __future__ import annotations

import inspect
import linecache
import os
import traceback
import types
from collections.abc import Sequence
from typing import Any

from hintspec.engine.contract import Breach, breach_in
from hintspec.lang.configs import config_label
from hintspec.lang.errors import ModelError
from hintspec.lang.model import Model
from hintspec.traces.trace import Step, Trace, trace_from_path

HOOKS = ("initial_states", "is_terminal", "canonical", "frame_map", "view", "messages")
"""Model methods a checker calls besides the actions and properties."""


def _entry_points(model: Model[Any, Any]) -> dict[types.CodeType, str]:
    """The code object of every model method a checker calls -> how to name it."""
    out: dict[types.CodeType, str] = {}
    cls = type(model)
    for a in model.actions:
        fn = getattr(cls, a.method, None)
        if fn is not None and hasattr(fn, "__code__"):
            out[fn.__code__] = f"action {a.name!r} ({a.cites})"
    for p in model.properties:
        fn = getattr(cls, p.method, None)
        if fn is not None and hasattr(fn, "__code__"):
            out[fn.__code__] = f"property {p.name!r}"
        when = p.when
        if when is not None and hasattr(when, "__code__"):
            out.setdefault(when.__code__, f"the condition of property {p.name!r}")
    for hook in HOOKS:
        fn = getattr(cls, hook, None)
        if fn is not None and hasattr(fn, "__code__"):
            out.setdefault(fn.__code__, f"{hook}()")
    return out


def _frames(exc: BaseException) -> list[traceback.FrameSummary]:
    return list(traceback.extract_tb(exc.__traceback__))


def raised_in(model: Model[Any, Any], exc: BaseException) -> str | None:
    """The model method the exception came out of (outermost one on the traceback)."""
    entries = _entry_points(model)
    tb = exc.__traceback__
    while tb is not None:
        name = entries.get(tb.tb_frame.f_code)
        if name is not None:
            return name
        tb = tb.tb_next
    return None


def _model_files(model: Model[Any, Any]) -> set[str]:
    files: set[str] = set()
    for klass in type(model).__mro__:
        if klass.__module__.startswith("hintspec.") and not klass.__module__.startswith(
            ("hintspec.models", "hintspec.properties")
        ):
            continue  # the spec language itself
        try:
            files.add(os.path.realpath(inspect.getfile(klass)))
        except (TypeError, OSError):
            continue
    return files


def _shown_path(filename: str) -> str:
    """A file name as a user reads it: relative to the working directory if inside it."""
    real = os.path.realpath(filename)
    try:
        rel = os.path.relpath(real)
    except ValueError:
        return real
    return real if rel.startswith("..") else rel


def source_line(model: Model[Any, Any], exc: BaseException) -> str | None:
    """``file:line: code`` of the deepest traceback frame in the model's own source (its
    module, or a shared property module), else the deepest frame of all."""
    frames = _frames(exc)
    if not frames:
        return None
    files = _model_files(model)
    pick = next((f for f in reversed(frames) if os.path.realpath(f.filename) in files), None)
    if pick is None:
        pick = next(
            (f for f in reversed(frames) if f"{os.sep}properties{os.sep}" in f.filename),
            frames[-1],
        )
    code = (pick.line or linecache.getline(pick.filename, pick.lineno or 0)).strip()
    return f"{_shown_path(pick.filename)}:{pick.lineno}: {code}"


def contract_breach(exc: BaseException) -> str | None:
    """The rule of the model contract an exception raised by the checker itself shows
    broken, if it is one it recognises."""
    text = str(exc)
    if isinstance(exc, TypeError) and "unhashable" in text:
        return (
            "a state must be hashable: make State a frozen dataclass of tuples, "
            "frozensets and other hashable values"
        )
    if isinstance(exc, (TypeError, ValueError)) and ("unpack" in text or "iterable" in text):
        return "an action must yield (args, next_state) pairs, args a dict of its choices"
    return None


def model_error(
    model: Model[Any, Any],
    exc: BaseException,
    *,
    checker: str,
    path: Sequence[Any] | None = None,
    steps: Sequence[Step] | None = None,
    fallback: str | None = None,
) -> ModelError:
    """The :class:`ModelError` for ``exc``, raised by model code while ``checker`` ran it.

    The trace to the state it raised in is ``steps`` (already labelled) or ``path`` (states,
    labelled here); ``fallback`` names the action or property the checker was evaluating,
    used when the traceback does not pass through a model method (the checker itself
    raised, on something the model returned)."""
    where = raised_in(model, exc) or fallback or "the model"
    breach = contract_breach(exc) if raised_in(model, exc) is None else None
    source = source_line(model, exc)
    if raised_in(model, exc) is None:
        # The checker raised on something the model gave it: find it, and the model's line.
        last = steps[-1].state if steps else path[-1] if path else None
        try:
            found = breach_in(model, last)
        except Exception:
            found = None
        if found is not None:
            where, breach, source = found.what, found.rule, found.source
            exc = TypeError(found.found)
    trace: Trace | None = None
    if steps:
        trace = Trace(model.name, model.config, list(steps), source=checker)
    elif path:
        try:
            trace = trace_from_path(model, path, source=checker)
        except Exception:  # a path the model can no longer follow: keep the last state
            trace = Trace(model.name, model.config, [Step(None, {}, path[-1])], source=checker)
    if trace is not None:
        trace.kind = "error"
        trace.prop = f"{where} raised"
        trace.explanation = f"{type(exc).__name__}: {exc}"
    error = ModelError(
        model=model.name,
        variant=model.variant,
        config=config_label(model.config),
        where=where,
        exception=f"{type(exc).__name__}: {exc}",
        source=source,
        rule=breach,
        trace=trace,
        checker=checker,
    )
    error.instance = model
    return error


def contract_error(model: Model[Any, Any], breach: Breach, *, checker: str) -> ModelError:
    """The :class:`ModelError` for a breach of the model contract found before a search."""
    error = ModelError(
        model=model.name,
        variant=model.variant,
        config=config_label(model.config),
        where=breach.what,
        exception=f"it breaks the model contract: {breach.found}",
        source=breach.source,
        rule=breach.rule,
        trace=None,
        checker=checker,
    )
    error.instance = model
    return error
