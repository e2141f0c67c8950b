"""Replay: re-execute a trace against the current model and report the first divergence.

Each step's action is looked up by name and its arguments (as ITF encodes them); the step
must be enabled and lead to the recorded state. A counterexample must still break its
property in its last state. This is how a trace written months ago, or by another checker
(BMC, Hypothesis), is checked against the model as it is today.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from hintspec.lang.model import Args, Model
from hintspec.lang.registry import get_model
from hintspec.traces import itf
from hintspec.traces.trace import Trace


@dataclasses.dataclass
class ReplayResult:
    ok: bool
    message: str
    step: int | None = None
    """The index of the first step that is not enabled or whose result differs."""


def _same_args(a: Args, b: Args) -> bool:
    enc = {k: itf.encode(v) for k, v in a.items()}
    other = {k: itf.encode(v) for k, v in b.items()}
    return json.dumps(enc, sort_keys=True) == json.dumps(other, sort_keys=True)


def _fmt_args(args: Args) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in args.items())


def _state_diff(model: Model[Any, Any], expected: Any, got: Any) -> str:
    try:
        want, have = model.view(expected), model.view(got)
    except Exception:  # the model cannot show one of them: name no variable
        return "the state"
    diffs = [k for k in want if want.get(k) != have.get(k)]
    return ", ".join(diffs) or "the state"


def replay(trace: Trace, model: Model[Any, Any] | None = None) -> ReplayResult:
    """Re-execute ``trace`` against the current model; report the first divergence."""
    if model is None:
        model = get_model(trace.model)(trace.config)
    first = trace.steps[0].state
    if first not in set(model.initial_states()):
        return ReplayResult(False, "step 0: the first state is not an initial state", 0)
    for i in range(1, len(trace.steps) + (1 if trace.loop is not None else 0)):
        before = trace.steps[i - 1].state
        if i == len(trace.steps):  # the lasso's closing step
            assert trace.loop is not None
            target = trace.steps[trace.loop].state
            name, args = trace.loop_action, trace.loop_args
            if name is None:
                if any(True for _ in model.successors(before)):
                    return ReplayResult(
                        False, f"step {i}: the trace ends in a stop, but an action is enabled", i
                    )
                continue
        else:
            target = trace.steps[i].state
            name, args = trace.steps[i].action, trace.steps[i].args
        assert name is not None
        try:
            choices = model.steps_of(name, before)
        except KeyError:
            return ReplayResult(False, f"step {i}: the model has no action {name!r}", i)
        match = [t for a, t in choices if _same_args(a, args)]
        if not match:
            return ReplayResult(
                False, f"step {i}: {name}({_fmt_args(args)}) is not enabled in the model", i
            )
        if target not in match:
            return ReplayResult(
                False,
                f"step {i}: {name}({_fmt_args(args)}) gives a different state "
                f"(differs in {_state_diff(model, target, match[0])})",
                i,
            )
    if trace.prop and trace.kind == "counterexample":
        final = trace.steps[-1].state
        try:
            prop = model.property(trace.prop)
        except KeyError:
            prop = None
        if (
            prop is not None
            and prop.kind.value == "always"
            and model.evaluate_always(prop, final) is None
        ):
            return ReplayResult(
                False,
                f"the trace replays, but {trace.prop!r} holds in its last state",
                len(trace.steps) - 1,
            )
    n = len(trace)
    return ReplayResult(True, f"the trace replays: {n} step{'s' if n != 1 else ''}, no divergence")
