"""Guest/host message sequences of a trace, derived generically from any model.

A step becomes one or more :class:`~hintspec.lang.model.Message` arrows between *lanes*. The
default lanes are ``guest``, one lane per virtqueue found in the State (any field, or field of
a field, with ``avail``/``inflight``/``used`` tuples, such as
:class:`hintspec.lang.virtqueue.Virtqueue`), and ``host``. A model may name its own
``lanes`` and classify steps itself with ``Model.messages``; otherwise:

* **who acts** comes from the action's citation: QEMU paths (``hw/``, ``system/``,
  ``softmmu/``, ``migration/``, ``accel/``, ``util/``) or names starting ``host_``,
  ``device_``, ``qemu_`` are the host; kernel paths and everything else are the guest;
* **virtqueue traffic** comes from how each ring changed: a buffer new in ``avail`` is an
  *add* (guest -> queue), new in ``inflight`` a *pop* (queue -> host), new in ``used`` an
  *ack* (host -> queue), gone from ``used`` a *get_buf* (queue -> guest);
* **config changes** are actions whose name or citation mentions ``config`` (or ``target``):
  an arrow from the actor to the other side;
* **notifications** (``kick``, ``notify``, ``interrupt``) are arrows to the other side;
* **faults** (``fault``, ``oom``) and everything else are events on the actor's lane.
"""

from __future__ import annotations

import dataclasses
import html
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from hintspec.lang.model import Message, Model
from hintspec.outputs.layout import longest_token, wrap_tokens
from hintspec.traces.trace import Trace
from hintspec.traces.values import fmt

GUEST, HOST = "guest", "host"

_HOST_PATH = re.compile(r"^\s*(hw|system|softmmu|migration|accel|util|target|qemu|host)\b/?")
_HOST_NAME = re.compile(r"^(host|device|qemu|hypervisor|vmm)_")
_GUEST_NAME = re.compile(r"^(guest|driver|kernel)_")
_CONFIG = re.compile(r"config|target|resize|request_size|set_size")
_NOTIFY = re.compile(r"kick|notify|interrupt|irq")
_FAULT = re.compile(r"fault|oom|sigbus|crash")


def _is_queue(value: Any) -> bool:
    return all(isinstance(getattr(value, f, None), tuple) for f in ("avail", "inflight", "used"))


def queues(state: Any) -> dict[str, Any]:
    """Lane name -> virtqueue, for every virtqueue among the state's fields (one level deep
    into nested dataclasses, named ``outer.inner``)."""
    found: dict[str, Any] = {}
    if not dataclasses.is_dataclass(state):
        return found
    for f in dataclasses.fields(state):
        value = getattr(state, f.name)
        if _is_queue(value):
            found[f.name] = value
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            for g in dataclasses.fields(value):
                inner = getattr(value, g.name)
                if _is_queue(inner):
                    found[f"{f.name}.{g.name}"] = inner
    return found


def _queue_at(state: Any, lane: str) -> Any:
    value = state
    for part in lane.split("."):
        value = getattr(value, part, None)
    return value if _is_queue(value) else None


def actor(model: Model[Any, Any], action: str) -> str:
    """``guest`` or ``host``: who takes ``action`` (from its name, then its citation)."""
    if _HOST_NAME.match(action):
        return HOST
    if _GUEST_NAME.match(action):
        return GUEST
    try:
        cites = model.actions[model.action_index(action)].cites
    except KeyError:
        return GUEST
    return HOST if _HOST_PATH.match(cites) or "qemu" in cites.lower() else GUEST


def lanes(model: Model[Any, Any], trace: Trace) -> list[str]:
    """The lanes of the diagram, left to right."""
    if model.lanes:
        return list(model.lanes)
    names: list[str] = []
    for step in trace.steps:
        for q in queues(step.state):
            if q not in names:
                names.append(q)
    return [GUEST, *names, HOST]


def _diff(before: tuple[Any, ...], after: tuple[Any, ...]) -> tuple[list[Any], list[Any]]:
    """(added, removed) buffers between two tuples, as multisets in ring order."""
    b, a = Counter(before), Counter(after)
    return _take(after, a - b), _take(before, b - a)


def _take(items: tuple[Any, ...], wanted: Counter[Any]) -> list[Any]:
    out = []
    for x in items:
        if wanted[x] > 0:
            wanted[x] -= 1
            out.append(x)
    return out


def _queue_messages(lane: str, before: Any, after: Any, action: str) -> list[Message]:
    """Arrows for one ring's change, labelled ``action: what buffer``."""
    out: list[Message] = []
    if before is None or after is None:
        return out
    new_avail, _ = _diff(before.avail, after.avail)
    new_inflight, gone_inflight = _diff(before.inflight, after.inflight)
    new_used, gone_used = _diff(before.used, after.used)
    out += [Message(GUEST, lane, f"{action}: add {fmt(b)}", "add") for b in new_avail]
    out += [Message(lane, HOST, f"{action}: pop {fmt(b)}", "pop") for b in new_inflight]
    out += [Message(HOST, lane, f"{action}: used {fmt(b)}", "ack") for b in new_used]
    out += [Message(lane, GUEST, f"{action}: get_buf {fmt(b)}", "get_buf") for b in gone_used]
    dropped = [b for b in gone_inflight if b not in new_used]
    out += [Message(HOST, HOST, f"{action}: drops {fmt(b)}", "fault") for b in dropped]
    return out


def step_messages(
    model: Model[Any, Any],
    action: str,
    args: dict[str, Any],
    before: Any,
    after: Any,
    lane_names: Sequence[str],
) -> list[Message]:
    """The arrows of one step (never empty: a step with no traffic is a local event; a
    step the model cannot draw is a local event that says so)."""
    try:
        return _step_messages(model, action, args, before, after, lane_names)
    except Exception as exc:
        lane = lane_names[0] if lane_names else GUEST
        why = f"{action} (? cannot draw: {type(exc).__name__}: {exc})"
        return [Message(lane, lane, why, "local")]


def _step_messages(
    model: Model[Any, Any],
    action: str,
    args: dict[str, Any],
    before: Any,
    after: Any,
    lane_names: Sequence[str],
) -> list[Message]:
    custom = model.messages(action, args, before, after)
    if custom is not None:
        return list(custom)
    who = actor(model, action)
    other = HOST if who == GUEST else GUEST
    label = action + (
        "(" + ", ".join(f"{k}={fmt(v)}" for k, v in args.items()) + ")" if args else ""
    )
    out: list[Message] = []
    for lane in lane_names:
        if lane in (GUEST, HOST):
            continue
        out += _queue_messages(lane, _queue_at(before, lane), _queue_at(after, lane), action)
    if GUEST not in lane_names or HOST not in lane_names:
        # A model with its own lanes and no classification: events on the first lane.
        first = lane_names[0] if lane_names else GUEST
        return out or [Message(first, first, label, "local")]
    name = action.lower()
    if _FAULT.search(name):
        out.insert(0, Message(who, who, label, "fault"))
    elif _CONFIG.search(name) or _CONFIG.search(_cites(model, action)):
        out.insert(0, Message(who, other, label, "config"))
    elif _NOTIFY.search(name) and not out:
        out.append(Message(who, other, label, "notify"))
    if not out:
        out.append(Message(who, who, label, "local"))
    return out


def _cites(model: Model[Any, Any], action: str) -> str:
    try:
        return model.actions[model.action_index(action)].cites.lower()
    except KeyError:
        return ""


def trace_messages(model: Model[Any, Any], trace: Trace) -> tuple[list[str], list[list[Message]]]:
    """The lanes and, per step (index 0, the initial state, has none), its messages. For a
    lasso, one more entry: the closing step back to ``trace.loop``."""
    lane_names = lanes(model, trace)
    per_step: list[list[Message]] = [[]]
    for prev, step in zip(trace.steps, trace.steps[1:], strict=False):
        assert step.action is not None
        per_step.append(
            step_messages(model, step.action, step.args, prev.state, step.state, lane_names)
        )
    if trace.loop is not None and trace.loop_action is not None:
        per_step.append(
            step_messages(
                model,
                trace.loop_action,
                trace.loop_args,
                trace.steps[-1].state,
                trace.steps[trace.loop].state,
                lane_names,
            )
        )
    return lane_names, per_step


# -- the diagram ---------------------------------------------------------------------------

_LANE_MIN, _LANE_MAX = 200, 360
_LEFT = 70
"""Room left of the first lane: the step numbers and the cycle's bracket."""
_HEAD_H = 34
_LINE_H = 14
_CHAR_W = 6.8
"""Width of one character of the 11 px monospace labels (DejaVu Sans Mono: 6.62 px)."""
_PAD = 12
"""Free space on each side of a label, inside its arrow's span or its box."""


@dataclasses.dataclass
class _Placed:
    msg: Message
    lines: list[str]
    height: float


def _lane_width(lanes: Sequence[str], per_step: Sequence[Sequence[Message]]) -> float:
    """Wide enough for the longest token and a lane name; otherwise as wide as most labels
    need on one line (within bounds)."""
    labels = [m.label for msgs in per_step for m in msgs]
    token = max((longest_token(t) for t in labels), default=0)
    longest = max((len(t) for t in labels), default=0)
    name = max((len(lane) for lane in lanes), default=0)
    wanted = min(max(_CHAR_W * (longest + 2) + 2 * _PAD, _LANE_MIN), _LANE_MAX)
    return max(wanted, _CHAR_W * token + 2 * _PAD + 8, 7.5 * name + 40)


def _place(msg: Message, x: dict[str, float], lane_w: float) -> _Placed:
    x1 = x.get(msg.src, min(x.values()))
    x2 = x.get(msg.dst, x1)
    room = (abs(x2 - x1) if x1 != x2 else lane_w - 8) - 2 * _PAD
    lines = wrap_tokens(msg.label, max(1, int(room // _CHAR_W)))
    return _Placed(msg, lines, len(lines) * _LINE_H + 10)


def _text(lines: list[str], cx: float, top: float) -> str:
    spans = "".join(
        f"<tspan x='{cx:.1f}' y='{top + _LINE_H * (k + 1) - 3:.1f}'>{html.escape(line)}</tspan>"
        for k, line in enumerate(lines)
    )
    return f"<text class='msg' text-anchor='middle'>{spans}</text>"


def _message_svg(p: _Placed, x: dict[str, float], top: float, lane_w: float) -> str:
    msg = p.msg
    title = f"<title>{html.escape(msg.label)}</title>"
    x1 = x.get(msg.src, min(x.values()))
    x2 = x.get(msg.dst, x1)
    cls = f"m m-{html.escape(msg.kind)}"
    if x1 == x2:
        width = max(len(line) for line in p.lines) * _CHAR_W + 2 * _PAD
        width = min(width, lane_w - 8)
        height = len(p.lines) * _LINE_H + 6
        return (
            f"<g class='{cls}'>{title}<rect x='{x1 - width / 2:.1f}' y='{top + 2:.1f}' "
            f"width='{width:.1f}' height='{height}' rx='4'/>"
            f"{_text(p.lines, x1, top + 5)}</g>"
        )
    arrow_y = top + len(p.lines) * _LINE_H + 5
    return (
        f"<g class='{cls}'>{title}{_text(p.lines, (x1 + x2) / 2, top + 1)}"
        f"<line x1='{x1:.1f}' y1='{arrow_y:.1f}' x2='{x2:.1f}' y2='{arrow_y:.1f}' "
        "stroke-width='1.5' marker-end='url(#arrow)'/></g>"
    )


def cycle_rows(loop: int | None, closing: bool, n_steps: int) -> range:
    """The steps that make up a lasso's cycle, by index: from the first step out of the
    state ``loop`` to the closing step back to it (empty when the lasso is a stop)."""
    if loop is None or not closing:
        return range(0)
    return range(loop + 1, n_steps + 1)


def sequence_svg(
    lanes: list[str], per_step: list[list[Message]], loop: int | None, closing: bool
) -> str:
    """The message sequence chart: one row group per step (``data-i`` its index); labels
    wrap at token boundaries and are never cut; a lasso's cycle is bracketed over exactly
    the rows of :func:`cycle_rows` (``data-first``/``data-last``)."""
    lane_w = _lane_width(lanes, per_step)
    x = {lane: _LEFT + lane_w * (k + 0.5) for k, lane in enumerate(lanes)}
    width = _LEFT + lane_w * len(lanes) + 10
    placed = [[_place(m, x, lane_w) for m in msgs] for msgs in per_step]
    heights = [max(24.0, sum(p.height for p in row) + 6) for row in placed]
    total = _HEAD_H + sum(heights[1:]) + 16
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width:.0f}' height='{total:.0f}' "
        f"viewBox='0 0 {width:.0f} {total:.0f}' role='img' aria-label='message sequence'>",
        "<defs><marker id='arrow' viewBox='0 0 10 10' refX='9' refY='5' markerWidth='7' "
        "markerHeight='7' orient='auto-start-reverse'><path d='M0,0 L10,5 L0,10 z' "
        "fill='#37474f'/></marker></defs>",
    ]
    for lane in lanes:
        parts.append(
            f"<line class='lane-line' x1='{x[lane]:.1f}' y1='{_HEAD_H - 6}' "
            f"x2='{x[lane]:.1f}' y2='{total:.0f}'/>"
        )
    y = float(_HEAD_H)
    tops: dict[int, float] = {}
    for i in range(1, len(per_step)):
        tops[i] = y
        row = [
            f"<g class='row' data-i='{i}'>",
            f"<rect class='bg' x='0' y='{y:.1f}' width='{width:.0f}' height='{heights[i]:.1f}'/>",
            f"<text x='28' y='{y + 16:.1f}' text-anchor='end' class='n'>{i}</text>",
        ]
        top = y + 3
        for p in placed[i]:
            row.append(_message_svg(p, x, top, lane_w))
            top += p.height
        row.append("</g>")
        parts.append("".join(row))
        y += heights[i]
    for lane in lanes:
        w = 7.5 * len(lane) + 24
        parts.append(
            f"<g class='lane-head'><rect x='{x[lane] - w / 2:.1f}' y='4' width='{w:.1f}' "
            f"height='22' rx='5'/><text x='{x[lane]:.1f}' y='19' text-anchor='middle'>"
            f"{html.escape(lane)}</text></g>"
        )
    cycle = cycle_rows(loop, closing, len(per_step) - 1)
    if cycle:
        top, bottom = tops[cycle[0]], y
        mid = (top + bottom) / 2
        parts.append(
            f"<g class='cycle' data-first='{cycle[0]}' data-last='{cycle[-1]}'>"
            f"<line class='cycle-start' x1='0' y1='{top:.1f}' x2='{width:.0f}' y2='{top:.1f}'/>"
            f"<path d='M44,{top + 2:.1f} h-8 V{bottom - 2:.1f} h8'/>"
            f"<text x='56' y='{mid:.1f}' text-anchor='middle' "
            f"transform='rotate(-90 56 {mid:.1f})'>cycle</text></g>"
        )
    parts.append("</svg>")
    return "\n".join(parts)
