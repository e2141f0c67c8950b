"""Plain-text traces, fit for a terminal and a mailing-list reply (80 columns).

Per step: the step number, the action and its arguments, only the variables that changed
(``old -> new`` when both are short), and the frame map. At the end, the violated property
and its explanation, and the frame-map legend. A lasso marks where its cycle starts and
where it closes.
"""

from __future__ import annotations

from typing import Any

from hintspec.lang.configs import config_label
from hintspec.lang.model import Model
from hintspec.lang.registry import get_model
from hintspec.traces.trace import Trace
from hintspec.traces.values import fmt_args, safe_frame_map, safe_view, var_lines, wrap


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
        lines.extend(wrap(f"{i:>3}  ", head, 0))
        view = safe_view(model, step.state)
        for name, value in view.items():
            if prev is None:
                lines.extend(var_lines(name, None, value, 7))
            elif prev.get(name) != value:
                lines.extend(var_lines(name, prev.get(name), value, 7))
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
            lines.extend(wrap(f"{n:>3}  ", f"{head} -> back to step {trace.loop}", 0))
        lines.append("    ---- the cycle repeats for ever " + "-" * 33)
    lines.append("")
    if trace.prop:
        verb = {"witness": "Witnessed", "error": "Raised in"}.get(trace.kind, "Violated")
        lines.extend(wrap(f"{verb}: ", repr(trace.prop), 0))
    if trace.explanation:
        lines.extend(wrap("  ", trace.explanation, 0))
    if frames_used and model.frame_legend:
        legend = ", ".join(f"{k} {v}" for k, v in model.frame_legend.items())
        lines.extend(wrap("Frames: ", legend, 0))
    return "\n".join(line.rstrip() for line in lines) + "\n"
