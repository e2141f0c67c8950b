"""Plain-text traces, fit for a terminal and a mailing-list reply (80 columns).

Per step: the step number, the action and its arguments, only the variables that changed
(``old -> new`` when both are short), and the frame map. At the end, the violated property
and its explanation, and the frame-map legend. A lasso marks where its cycle starts and
where it closes.
"""

from __future__ import annotations

import dataclasses
import enum
import textwrap
from typing import Any

from hintspec.configs import config_label
from hintspec.model import Model
from hintspec.registry import get_model
from hintspec.trace import Trace

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
        lines.extend(_var_lines(name, None, value, indent))
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


def _wrap(label: str, text: str, indent: int) -> list[str]:
    first = " " * indent + label
    return textwrap.wrap(
        text,
        width=WIDTH,
        initial_indent=first,
        subsequent_indent=" " * (indent + 4),
        break_on_hyphens=False,
    ) or [first]


def _var_lines(name: str, old: Any, new: Any, indent: int) -> list[str]:
    new_s = fmt(new)
    if old is None:
        return _wrap(f"{name} = ", new_s, indent)
    old_s = fmt(old)
    if len(old_s) + len(new_s) + len(name) + indent + 6 <= WIDTH:
        return [" " * indent + f"{name}: {old_s} -> {new_s}"]
    return _wrap(f"{name}: ", new_s, indent)


def render_header(trace: Trace) -> list[str]:
    label = config_label(trace.config)
    lines = [f"model {trace.model}, variant {trace.variant}, {label}"]
    if trace.kind == "witness":
        lines.append(f"Witness for {trace.prop!r} ({len(trace)} steps)")
    elif trace.kind == "error":
        lines.append(f"The model raised: {trace.prop} ({len(trace)} steps to that state)")
    elif trace.loop is not None:
        lines.append(f"Counterexample (lasso) to {trace.prop!r} ({len(trace)} steps)")
    elif trace.prop:
        lines.append(f"Counterexample to {trace.prop!r} ({len(trace)} steps)")
    return lines


def render_trace(trace: Trace, model: Model[Any, Any] | None = None) -> str:
    """The whole trace as text."""
    if model is None:
        model = get_model(trace.model)(trace.config)
    lines = render_header(trace)
    lines.append("")
    prev: dict[str, Any] | None = None
    frames_used = False
    for i, step in enumerate(trace.steps):
        if trace.loop is not None and i == trace.loop:
            lines.append("    ---- the cycle starts here " + "-" * 40)
        head = "initial state" if step.action is None else f"{step.action}({fmt_args(step.args)})"
        lines.extend(_wrap(f"{i:>3}  ", head, 0))
        view = safe_view(model, step.state)
        for name, value in view.items():
            if prev is None:
                lines.extend(_var_lines(name, None, value, 7))
            elif prev.get(name) != value:
                lines.extend(_var_lines(name, prev.get(name), value, 7))
        fmap = safe_frame_map(model, step.state)
        if fmap is not None:
            frames_used = True
            lines.append(" " * 7 + "frames  " + fmap)
        prev = view
    if trace.loop is not None:
        n = len(trace.steps)
        if trace.loop_action is None:
            lines.append(f"{n:>3}  (no action is enabled: the system stays here for ever)")
        else:
            head = f"{trace.loop_action}({fmt_args(trace.loop_args)})"
            lines.extend(_wrap(f"{n:>3}  ", f"{head} -> back to step {trace.loop}", 0))
        lines.append("    ---- the cycle repeats for ever " + "-" * 33)
    lines.append("")
    if trace.prop:
        verb = {"witness": "Witnessed", "error": "Raised in"}.get(trace.kind, "Violated")
        lines.extend(_wrap(f"{verb}: ", repr(trace.prop), 0))
    if trace.explanation:
        lines.extend(_wrap("  ", trace.explanation, 0))
    if frames_used and model.frame_legend:
        legend = ", ".join(f"{k} {v}" for k, v in model.frame_legend.items())
        lines.extend(_wrap("Frames: ", legend, 0))
    return "\n".join(line.rstrip() for line in lines) + "\n"
