"""How states and values are written down: compact, deterministic, and never raising.

:func:`fmt` renders a model value; :func:`safe_view` and :func:`safe_frame_map` call the
model's own renderers and, when they raise on an odd state, show ``?`` and the reason
instead (a broken renderer must never hide a counterexample). :func:`wrap` and
:func:`var_lines` lay text out in 80 columns.
"""

from __future__ import annotations

import dataclasses
import enum
import textwrap
from typing import Any

from hintspec.lang.model import Model

WIDTH = 80


def fmt(value: Any) -> str:
    """A compact, deterministic rendering of a model value (never raises: a value that
    cannot be shown is ``?`` and what Python says of it)."""
    try:
        return _fmt(value)
    except Exception:
        try:
            return "?" + repr(value)
        except Exception:
            return f"?<{type(value).__name__}>"


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, frozenset | set):
        return "{" + ", ".join(sorted((fmt(v) for v in value), key=_natural)) + "}"
    if isinstance(value, tuple | list):
        return "[" + ", ".join(fmt(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{fmt(k)}: {fmt(v)}" for k, v in value.items()) + "}"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        inner = ", ".join(
            f"{f.name}={fmt(getattr(value, f.name))}" for f in dataclasses.fields(value)
        )
        return f"{type(value).__name__}({inner})"
    return str(value)


def safe_view(model: Model[Any, Any], state: Any) -> dict[str, Any]:
    """``model.view(state)``, or, if the model cannot show this state, its raw fields and
    what went wrong (a renderer never hides a state behind a traceback)."""
    try:
        view = model.view(state)
        if isinstance(view, dict):
            return view
        return {"?": view}
    except Exception as exc:
        if dataclasses.is_dataclass(state) and not isinstance(state, type):
            raw = {f.name: getattr(state, f.name) for f in dataclasses.fields(state)}
        else:
            raw = {"state": state}
        return {**raw, "?": f"view() raised {type(exc).__name__}: {exc}"}


def safe_frame_map(model: Model[Any, Any], state: Any) -> str | None:
    """``model.frame_map(state)``, or ``?`` and the reason when it cannot be drawn."""
    try:
        fmap = model.frame_map(state)
    except Exception as exc:
        return f"? (frame_map raised {type(exc).__name__}: {exc})"
    if fmap is None or isinstance(fmap, str):
        return fmap
    return f"? {fmap!r}"


def state_lines(model: Model[Any, Any], state: Any, indent: int = 4) -> list[str]:
    """One state as text: each variable, then its frame map."""
    lines: list[str] = []
    for name, value in safe_view(model, state).items():
        lines.extend(var_lines(name, None, value, indent))
    fmap = safe_frame_map(model, state)
    if fmap is not None:
        lines.append(" " * indent + "frames  " + fmap)
    return lines


def _natural(text: str) -> tuple[Any, ...]:
    out: list[Any] = []
    num = ""
    for ch in text:
        if ch.isdigit():
            num += ch
            continue
        if num:
            out.append((0, int(num)))
            num = ""
        out.append((1, ch))
    if num:
        out.append((0, int(num)))
    return tuple(out)


def fmt_args(args: dict[str, Any]) -> str:
    return ", ".join(f"{k}={fmt(v)}" for k, v in args.items())


def wrap(label: str, text: str, indent: int) -> list[str]:
    first = " " * indent + label
    return textwrap.wrap(
        text,
        width=WIDTH,
        initial_indent=first,
        subsequent_indent=" " * (indent + 4),
        break_on_hyphens=False,
    ) or [first]


def var_lines(name: str, old: Any, new: Any, indent: int) -> list[str]:
    new_s = fmt(new)
    if old is None:
        return wrap(f"{name} = ", new_s, indent)
    old_s = fmt(old)
    if len(old_s) + len(new_s) + len(name) + indent + 6 <= WIDTH:
        return [" " * indent + f"{name}: {old_s} -> {new_s}"]
    return wrap(f"{name}: ", new_s, indent)
