"""A trace: the steps of a counterexample or a witness, each labelled with its action.

:func:`trace_from_path` labels a path of states with the actions between them (the first
matching step wins, so the labelling is deterministic). Files, replay and text are the
neighbouring modules of :mod:`hintspec.traces`.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from typing import Any

from hintspec.lang.model import Args, Model


@dataclasses.dataclass
class Step:
    """One step: the action that produced ``state`` (None for the initial state)."""

    action: str | None
    args: Args
    state: Any


@dataclasses.dataclass
class Trace:
    """A sequence of steps; with ``loop`` set, a lasso whose last state steps back to
    ``steps[loop]`` by ``loop_action``/``loop_args`` (``loop_action`` None: the system stops
    there, no action being enabled)."""

    model: str
    config: Any
    steps: list[Step]
    prop: str | None = None
    kind: str = "counterexample"
    explanation: str | None = None
    loop: int | None = None
    loop_action: str | None = None
    loop_args: Args = dataclasses.field(default_factory=dict)
    source: str = "explore"

    @property
    def variant(self) -> str:
        return str(getattr(self.config, "variant", "upstream"))

    def __len__(self) -> int:
        """The number of actions taken (the initial state is not a step)."""
        return len(self.steps) - 1 + (1 if self.loop is not None else 0)


def trace_from_path(
    model: Model[Any, Any],
    path: Sequence[Any],
    *,
    prop: str | None = None,
    kind: str = "counterexample",
    explanation: str | None = None,
    loop: int | None = None,
    source: str = "explore",
) -> Trace:
    """Label a path of states with the actions between them (first matching step wins, so
    the labelling is deterministic). With ``loop``, the last state must step to path[loop],
    or have no enabled action (then the lasso is a stop)."""
    steps = [Step(None, {}, path[0])]
    for before, after in itertools.pairwise(path):
        name, args = _label(model, before, after)
        steps.append(Step(name, args, after))
    trace = Trace(model.name, model.config, steps, prop, kind, explanation, loop, source=source)
    if loop is not None:
        last = path[-1]
        if any(True for _ in model.successors(last)):
            trace.loop_action, trace.loop_args = _label(model, last, path[loop])
    return trace


def _label(model: Model[Any, Any], before: Any, after: Any) -> tuple[str, Args]:
    for index, args, t in model.successors(before):
        if t == after:
            return model.actions[index].name, args
    raise ValueError("no action leads from one state of the path to the next")


# -- ITF files --------------------------------------------------------------------------


# -- replay -----------------------------------------------------------------------------
