"""The model contract, checked where a model breaks it: the rule and the model's line.

A checker trusts what a model's code gives it: ``initial_states`` and every action yield
hashable States (of the model's ``State`` class); an action is a generator of
``(args, next_state)`` pairs with ``args`` a dict of its choices; an ``always`` property
returns ``True`` or a string (``False`` too), a ``sometimes`` property a bool. When one of
them does not, the explorer fails far from the cause (an unhashable key in its state
table, a tuple that does not unpack). :func:`breach_in` re-runs the model's code on the
state where that happened, finds the first value that breaks the contract, and names the
rule and the line of the model that produced it (a generator's ``yield``, a property's
``return``); :func:`first_breach` looks for one from the initial states onwards, before
a search relies on the contract.
"""

from __future__ import annotations

import dataclasses
import inspect
import linecache
import os
import types
from collections.abc import Callable, Hashable, Iterable
from typing import Any

from hintspec.lang.model import Model, PropertyKind

HASHABLE = (
    "a state must be hashable: make State a frozen dataclass of tuples, frozensets and "
    "other hashable values (no lists, sets or dicts)"
)
PAIRS = "an action must yield (args, next_state) pairs, args a dict of its choices"
GENERATOR = (
    "an action is a generator: it yields (args, next_state) for each enabled choice and "
    "yields nothing when it is disabled (use `yield`, not `return`)"
)
ALWAYS = "an @always property returns True, or a string that explains the violation"
SOMETIMES = "a @sometimes property returns a bool"


@dataclasses.dataclass(frozen=True)
class Breach:
    """A value that breaks the model contract, and where the model produced it."""

    rule: str
    what: str
    """The method that produced it (``action 'add'``, ``initial_states()``, ...)."""
    found: str
    """What it produced instead."""
    source: str | None
    """``file:line: code`` of the model line that produced it."""


def _shown(filename: str) -> str:
    real = os.path.realpath(filename)
    rel = os.path.relpath(real)
    return real if rel.startswith("..") else rel


def _line(code: types.CodeType | None, lineno: int | None) -> str | None:
    if code is None or lineno is None:
        return None
    text = linecache.getline(code.co_filename, lineno).strip()
    return f"{_shown(code.co_filename)}:{lineno}: {text}"


def where_defined(fn: Callable[..., Any]) -> str:
    """``file:line`` where ``fn`` (a model's method) is defined."""
    try:
        _lines, lineno = inspect.getsourcelines(fn)
        return f"{_shown(inspect.getfile(fn))}:{lineno}"
    except (OSError, TypeError):
        return getattr(fn, "__qualname__", repr(fn))


def _def_line(fn: Callable[..., Any]) -> str | None:
    try:
        _lines, lineno = inspect.getsourcelines(fn)
        return f"{_shown(inspect.getfile(fn))}:{lineno}: def {fn.__name__}"
    except (OSError, TypeError):
        return None


def _state_problem(model: Model[Any, Any], value: Any) -> str | None:
    state_cls = getattr(type(model), "State", None)
    if isinstance(state_cls, type) and not isinstance(value, state_cls):
        return f"a {type(value).__name__}, not a {state_cls.__name__}: {_short(value)}"
    try:
        hash(value)
    except TypeError as exc:
        return f"an unhashable state ({exc})"
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _pair_problem(model: Model[Any, Any], item: Any) -> tuple[str, str] | None:
    """(rule, what was found) if ``item`` is not a well-formed ``(args, next_state)``."""
    if not isinstance(item, tuple | list) or len(item) != 2:
        return PAIRS, f"{_short(item)}, not a pair"
    args, state = item
    if not isinstance(args, dict):
        return PAIRS, f"args {_short(args)}, not a dict"
    problem = _state_problem(model, state)
    if problem is not None:
        return (HASHABLE if "unhashable" in problem else PAIRS), f"a next state that is {problem}"
    return None


def _walk(
    model: Model[Any, Any],
    fn: Callable[..., Any],
    arg: tuple[Any, ...],
    what: str,
    check: Callable[[Any], tuple[str, str] | None],
) -> Breach | None:
    """Run ``fn(*arg)``, a generator, checking each yielded value; the first breach."""
    produced = fn(*arg)
    if not isinstance(produced, types.GeneratorType):
        if isinstance(produced, Iterable) and not isinstance(produced, str | bytes | dict):
            for item in produced:
                found = check(item)
                if found is not None:
                    return Breach(found[0], what, found[1], _def_line(fn))
            return None
        return Breach(GENERATOR, what, f"it returned {_short(produced)}", _def_line(fn))
    for item in produced:
        found = check(item)
        if found is not None:
            frame = produced.gi_frame
            source = _line(frame.f_code, frame.f_lineno) if frame is not None else None
            produced.close()
            return Breach(found[0], what, found[1], source or _def_line(fn))
    return None


def _initial(model: Model[Any, Any]) -> Breach | None:
    def check(value: Any) -> tuple[str, str] | None:
        problem = _state_problem(model, value)
        if problem is None:
            return None
        return (HASHABLE if "unhashable" in problem else PAIRS), f"a state that is {problem}"

    return _walk(model, model.initial_states, (), "initial_states()", check)


def breach_in(model: Model[Any, Any], state: Any | None) -> Breach | None:
    """The first contract breach of the model's code on ``state`` (its actions; None:
    ``initial_states``), or None when everything it gives is well-formed."""
    if state is None:
        return _initial(model)
    for spec in model.actions:
        fn = getattr(model, spec.method)
        found = _walk(
            model,
            fn,
            (state,),
            f"action {spec.name!r} ({spec.cites})",
            lambda item: _pair_problem(model, item),
        )
        if found is not None:
            return found
    return _property_breach(model, state)


def _property_breach(model: Model[Any, Any], state: Any) -> Breach | None:
    for prop in model.properties:
        fn = getattr(model, prop.method)
        if prop.kind is PropertyKind.ALWAYS:
            value = fn(state)
            if not isinstance(value, bool | str):
                found = f"it returned {_short(value)}"
                return Breach(ALWAYS, f"property {prop.name!r}", found, _def_line(fn))
        elif prop.kind is PropertyKind.SOMETIMES:
            value = fn(state)
            if not isinstance(value, bool):
                found = f"it returned {_short(value)}"
                return Breach(SOMETIMES, f"property {prop.name!r}", found, _def_line(fn))
    return None


def first_breach(model: Model[Any, Any], limit: int = 200) -> Breach | None:
    """A breach among the first ``limit`` states of a breadth-first walk (their actions
    and properties), or None. Model code that raises is left to the checkers' report."""
    try:
        return _first_breach(model, limit)
    except Exception:
        return None


def _first_breach(model: Model[Any, Any], limit: int) -> Breach | None:
    found = _initial(model)
    if found is not None:
        return found
    frontier: list[Hashable] = list(dict.fromkeys(model.initial_states()))
    seen: set[Hashable] = set(frontier)
    while frontier and len(seen) <= limit:
        state = frontier.pop(0)
        found = breach_in(model, state)
        if found is not None:
            return found
        for _index, _args, nxt in model.successors(state):
            if nxt not in seen and len(seen) <= limit:
                seen.add(nxt)
                frontier.append(nxt)
    return None
