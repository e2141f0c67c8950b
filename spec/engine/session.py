"""Stepping through a model by hand: the engine behind ``hintspec serve``.

A *path* names a state by how it was reached: the index of an initial state, then at each
step the index of the chosen successor in ``model.successors`` order (which is fixed). So a
path is a short list of small integers, fit for a URL, and it always names the same state
of the same model and configuration. :meth:`Session.view` says everything about the state a
path reaches: its variables (those that changed marked), its frame map, the invariants it
breaks, the witnesses it satisfies, and every enabled step, each named after the action and
the kernel or QEMU function it stands for. :meth:`Session.violations` checks the model once
and gives the shortest counterexample of each violated property as a path;
:meth:`Session.path_of` turns any trace of this model (an ITF file) into a path.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from typing import Any

from hintspec.engine.check import check
from hintspec.engine.results import Verdict
from hintspec.lang.errors import UsageError
from hintspec.lang.model import Model, PropertyKind
from hintspec.traces.trace import Trace
from hintspec.traces.values import fmt, fmt_args, safe_frame_map, safe_view

MAX_PATH = 10_000
"""Longer paths are refused (a URL of that length is not a person's)."""


class PathError(UsageError):
    """A path that names no state of this model (an index out of range, too long)."""


@dataclasses.dataclass
class Choice:
    """One enabled step out of a state."""

    index: int
    action: str
    args: dict[str, Any]
    cites: str
    state: Any


@dataclasses.dataclass
class Violation:
    """A violated property and its shortest counterexample, as a path."""

    prop: str
    kind: str
    explanation: str | None
    path: list[int]
    loop: int | None = None
    """For a lasso: the step the last state returns to (``loop_action`` closes it)."""
    loop_action: str | None = None


class Session:
    """One model instance being explored; thread-safe (requests may come in parallel)."""

    def __init__(self, model: Model[Any, Any], *, max_states: int | None = None) -> None:
        self.model = model
        self.max_states = max_states
        self.initial = list(model.initial_states())
        self._lock = threading.Lock()
        self._violations: list[Violation] | None = None
        self.bound_hit: str | None = None

    # -- paths -----------------------------------------------------------------------------

    def choices(self, state: Any) -> list[Choice]:
        """Every enabled step from ``state``, in the model's fixed order."""
        return [
            Choice(k, self.model.actions[a].name, args, self.model.actions[a].cites, t)
            for k, (a, args, t) in enumerate(self.model.successors(state))
        ]

    def walk(self, path: Sequence[int]) -> tuple[list[Any], list[Choice | None]]:
        """The states along ``path`` and the step taken into each (None for the first)."""
        if not path:
            raise PathError("a path starts with the index of an initial state")
        if len(path) > MAX_PATH:
            raise PathError(f"a path has at most {MAX_PATH:,} steps")
        if not 0 <= path[0] < len(self.initial):
            raise PathError(
                f"there {'is' if len(self.initial) == 1 else 'are'} {len(self.initial)} "
                f"initial state(s); {path[0]} is none of them"
            )
        states = [self.initial[path[0]]]
        taken: list[Choice | None] = [None]
        for depth, k in enumerate(path[1:], 1):
            options = self.choices(states[-1])
            if not 0 <= k < len(options):
                raise PathError(
                    f"step {depth}: {len(options)} step(s) are enabled; {k} is none of them"
                )
            states.append(options[k].state)
            taken.append(options[k])
        return states, taken

    def path_of(self, trace: Trace) -> Violation:
        """``trace`` (of this model and configuration) as a path; a PathError names the first
        step that this model does not take."""
        if trace.model != self.model.name or trace.config != self.model.config:
            raise PathError(
                f"the trace is of {trace.model}/{trace.variant} ({trace.config}); this "
                f"explorer runs {self.model.name}/{self.model.variant} ({self.model.config})"
            )
        first = trace.steps[0].state
        if first not in self.initial:
            raise PathError("the trace's first state is not an initial state of the model")
        path = [self.initial.index(first)]
        state = first
        for i, step in enumerate(trace.steps[1:], 1):
            found = next(
                (
                    c
                    for c in self.choices(state)
                    if c.action == step.action and c.state == step.state
                ),
                None,
            )
            if found is None:
                raise PathError(
                    f"step {i} ({step.action}({fmt_args(step.args)})) is not a step of the "
                    "current model from the state before it"
                )
            path.append(found.index)
            state = found.state
        return Violation(
            trace.prop or "",
            trace.kind,
            trace.explanation,
            path,
            trace.loop,
            trace.loop_action,
        )

    # -- what a state shows ------------------------------------------------------------------

    def view(self, path: Sequence[int]) -> dict[str, Any]:
        """Everything the explorer shows about the state ``path`` reaches (JSON-ready)."""
        states, taken = self.walk(path)
        state = states[-1]
        before = safe_view(self.model, states[-2]) if len(states) > 1 else None
        now = safe_view(self.model, state)
        variables = [
            [
                name,
                fmt(value),
                None if before is None or before.get(name) == value else fmt(before.get(name)),
            ]
            for name, value in now.items()
        ]
        steps = [
            {
                "label": "initial state" if c is None else f"{c.action}({fmt_args(c.args)})",
                "cites": "" if c is None else c.cites,
            }
            for c in taken
        ]
        model = self.model
        broken = [
            [p.name, why]
            for p in model.properties_of(PropertyKind.ALWAYS)
            if (why := model.evaluate_always(p, state)) is not None
        ]
        witnessed = [
            p.name
            for p in model.properties_of(PropertyKind.SOMETIMES)
            if model.evaluate_always(p, state) is None
        ]
        choices = self.choices(state)
        enabled = [
            {
                "index": c.index,
                "action": c.action,
                "label": f"{c.action}({fmt_args(c.args)})",
                "cites": c.cites,
                "frames": safe_frame_map(model, c.state),
                "breaks": [
                    p.name
                    for p in model.properties_of(PropertyKind.ALWAYS)
                    if model.evaluate_always(p, c.state) is not None
                ],
                "stays": c.state == state,
            }
            for c in choices
        ]
        return {
            "path": list(path),
            "steps": steps,
            "variables": variables,
            "frames": safe_frame_map(model, state),
            "frames_before": safe_frame_map(model, states[-2]) if len(states) > 1 else None,
            "breaks": broken,
            "witnesses": witnessed,
            "enabled": enabled,
            "deadlock": not choices and model.check_deadlock and not model.is_terminal(state),
            "terminal": not choices and model.is_terminal(state),
        }

    # -- counterexamples ---------------------------------------------------------------------

    def violations(self) -> list[Violation]:
        """The shortest counterexample of every violated property (checked once)."""
        with self._lock:
            if self._violations is None:
                result = check(self.model, max_states=self.max_states)
                self.bound_hit = result.bound_hit
                found = []
                for p in result.properties:
                    if p.verdict is Verdict.VIOLATED and p.trace is not None:
                        v = self.path_of(p.trace)
                        v.kind = p.kind
                        found.append(v)
                self._violations = found
            return list(self._violations)
