"""Random simulation: fast seeded random walks through a model, without shrinking.

Like TLC's ``-simulate`` or stateright's ``spawn_simulation``: ``runs`` walks of at most
``steps`` steps each from an initial state (drawn at random if there are several). At every
state the ``always`` properties are evaluated; a violation ends the walk and is kept as a
:class:`hintspec.traces.trace.Trace` (source ``simulate``; the shortest one per property over all
walks). A state with no enabled action ends the walk: correctly if the model calls it
terminal, else as a "no deadlock" violation. ``sometimes`` properties are reported as
reached (with the shortest walk prefix reaching them) or not -- not reaching one proves
nothing, so it is not a failure here. Per-action coverage counts the steps each action took.

Each step first picks an enabled action uniformly, then one of its enabled choices
uniformly, so an action with many choices (a free block per frame) does not crowd out the
others; choices are enumerated lazily (see :class:`hintspec.engine.stateful.EnabledSteps`), so
an action with a huge number of choices costs only when taken. The walk is a function of
the seed alone: the model enumerates choices in a fixed order and ``random.Random(seed)``
makes the draws.
"""

from __future__ import annotations

import dataclasses
import random
import time
from typing import Any

from hintspec.engine.faults import model_error
from hintspec.engine.results import DEADLOCK
from hintspec.engine.stateful import DEADLOCK_EXPLANATION, EnabledSteps
from hintspec.lang.model import Model, PropertyKind
from hintspec.traces.trace import Step, Trace


@dataclasses.dataclass
class SimulationResult:
    """What the walks found: violations, witnesses reached and per-action coverage."""

    model: str
    variant: str
    runs: int
    max_steps: int
    seed: int
    steps: int
    """Steps taken over all walks."""
    distinct_states: int
    violations: dict[str, Trace]
    """Violated property -> the shortest trace found to it, in order of discovery."""
    first_violation: str | None
    """The property violated first (in walk order)."""
    witnesses: dict[str, Trace]
    """``sometimes`` property -> the shortest trace found to a state satisfying it."""
    not_reached: list[str]
    """``sometimes`` properties no walk reached."""
    coverage: dict[str, int]
    ended: dict[str, int]
    """How walks ended: ``steps`` (the bound), ``terminal``, ``violation``."""
    truncated: list[str]
    """Actions whose choices were cut at ``MAX_CHOICES`` in some state (only the first ones
    were drawn from)."""
    seconds: float

    @property
    def never_fired(self) -> list[str]:
        return [a for a, n in self.coverage.items() if n == 0]

    @property
    def first(self) -> Trace | None:
        """The first violation found, or None."""
        return self.violations[self.first_violation] if self.first_violation else None


def simulate(model: Model[Any, Any], *, runs: int, steps: int, seed: int = 0) -> SimulationResult:
    """``runs`` random walks of at most ``steps`` steps each (see the module docstring)."""
    if runs < 1 or steps < 0:
        raise ValueError("runs must be positive and steps non-negative")
    start = time.monotonic()
    rng = random.Random(seed)
    try:
        initial = list(dict.fromkeys(model.initial_states()))
    except Exception as exc:
        raise model_error(model, exc, checker="simulate") from exc
    always = [(p, getattr(model, p.method)) for p in model.properties_of(PropertyKind.ALWAYS)]
    sometimes = [
        (p.name, getattr(model, p.method)) for p in model.properties_of(PropertyKind.SOMETIMES)
    ]
    action_names = [a.name for a in model.actions]
    coverage = [0] * len(action_names)
    violations: dict[str, Trace] = {}
    first_violation: str | None = None
    witnesses: dict[str, Trace] = {}
    seen: set[int] = set()
    truncated: set[str] = set()
    ended = {"steps": 0, "terminal": 0, "violation": 0}
    total = 0

    def make_trace(path: list[Step], prop: str, kind: str, why: str | None) -> Trace:
        return Trace(model.name, model.config, list(path), prop, kind, why, source="simulate")

    path: list[Step] = []
    try:
        for _run in range(runs):
            s = initial[0] if len(initial) == 1 else rng.choice(initial)
            path = [Step(None, {}, s)]
            while True:
                seen.add(hash(s))
                for name, fn in sometimes:
                    best = witnesses.get(name)
                    if (best is None or len(best.steps) > len(path)) and fn(s):
                        witnesses[name] = make_trace(path, name, "witness", None)
                bad: tuple[str, str] | None = None
                for prop, fn in always:
                    if fn(s) is not True:
                        bad = (prop.name, model.evaluate_always(prop, s) or prop.name)
                        break
                enabled = EnabledSteps(model, s)
                actions = enabled.enabled_actions() if bad is None else []
                if (
                    bad is None
                    and not actions
                    and model.check_deadlock
                    and not model.is_terminal(s)
                ):
                    bad = (DEADLOCK, DEADLOCK_EXPLANATION)
                if bad is not None:
                    name, why = bad
                    known = violations.get(name)
                    if known is None or len(known.steps) > len(path):
                        violations[name] = make_trace(path, name, "counterexample", why)
                    first_violation = first_violation or name
                    ended["violation"] += 1
                    break
                if not actions:
                    ended["terminal"] += 1
                    break
                if len(path) > steps:
                    ended["steps"] += 1
                    break
                index = rng.choice(actions)
                args, s = rng.choice(enabled.choices(index))
                if index in enabled.truncated:
                    truncated.add(action_names[index])
                coverage[index] += 1
                total += 1
                path.append(Step(action_names[index], args, s))
    except KeyboardInterrupt:
        ended["interrupted"] = 1
    except Exception as exc:
        raise model_error(model, exc, checker="simulate", steps=path) from exc
    return SimulationResult(
        model=model.name,
        variant=model.variant,
        runs=runs,
        max_steps=steps,
        seed=seed,
        steps=total,
        distinct_states=len(seen),
        violations=violations,
        first_violation=first_violation,
        witnesses={n: witnesses[n] for n, _fn in sometimes if n in witnesses},
        not_reached=[n for n, _fn in sometimes if n not in witnesses],
        coverage=dict(zip(action_names, coverage, strict=True)),
        ended=ended,
        truncated=sorted(truncated),
        seconds=time.monotonic() - start,
    )
