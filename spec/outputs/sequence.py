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
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from hintspec.lang.model import Message, Model
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
