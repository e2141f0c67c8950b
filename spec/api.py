"""The public Python API: check, prove, fuzz and simulate a model from Python code.

    import hintspec

    result = hintspec.check("vq_handshake/handshake.py", variant="drops_on_enospc", slots=2)
    result.verdict                      # "violated"
    result.properties                   # {"no buffer is lost": "violated", ...}
    result.statistics["distinct_states"]
    print(result.trace.text())          # the shortest counterexample, 80 columns
    result.trace.itf()                  # the same as an ITF document (a dict)
    result.raise_for_violation()        # raises hintspec.Violation with that text

``model`` is anything ``hintspec check`` takes -- a built-in name, a ``.py`` file,
``package.module:Class``, an entry point name -- or a Model subclass. ``variant`` names
one of its variants; keyword arguments set fields of its Config (``config=`` takes a
mapping, for a field whose name is also an option here). A bad model, variant or
parameter raises :class:`UsageError`; model code that raises, :class:`ModelError` (its
``report()`` names the model's line). Everything not listed in ``__all__`` is internal.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hintspec.engine.check import check as _check
from hintspec.engine.fuzzing import fuzz as _fuzz
from hintspec.engine.fuzzing import profile_settings
from hintspec.engine.results import CheckResult, Verdict
from hintspec.engine.simulate import simulate as _simulate
from hintspec.engine.stateful import safety_properties
from hintspec.lang.configs import config_to_json, make_config
from hintspec.lang.errors import ModelError, UsageError
from hintspec.lang.model import Model
from hintspec.lang.registry import get_model, register
from hintspec.outputs.html import render_trace_html
from hintspec.smt import ProofVerdict, bmc, encoding_for
from hintspec.smt import prove as _prove
from hintspec.smt.encoding import Encoding
from hintspec.traces.files import to_itf, write_itf, write_text_atomic
from hintspec.traces.naming import trace_file
from hintspec.traces.text import render_trace
from hintspec.traces.trace import Trace as _Trace

__all__ = [
    "ModelError",
    "Result",
    "Trace",
    "UsageError",
    "Violation",
    "check",
    "fuzz",
    "load_model",
    "prove",
    "simulate",
]

ModelRef = str | type[Model[Any, Any]]
"""A model spec (as on the command line) or a Model subclass."""


class Violation(AssertionError):
    """:meth:`Result.raise_for_violation`: a property is violated. The message is the
    80-column text of the shortest counterexample; ``result`` is the whole result."""

    def __init__(self, message: str, result: Result) -> None:
        super().__init__(message)
        self.result = result


@dataclasses.dataclass(frozen=True)
class Trace:
    """A counterexample (or a witness): the steps that lead to it, as text, ITF or HTML."""

    property: str | None
    kind: str
    """``counterexample``, ``witness`` or ``error``."""
    steps: int
    """The number of actions taken (a lasso's closing step included)."""
    explanation: str | None
    _trace: _Trace = dataclasses.field(repr=False)
    _model: Model[Any, Any] = dataclasses.field(repr=False)

    def text(self) -> str:
        """The trace as ``hintspec show`` prints it (80 columns)."""
        return render_trace(self._trace, self._model)

    def itf(self) -> dict[str, Any]:
        """The trace as an ITF JSON document (what ``hintspec show`` and ``replay`` read)."""
        return to_itf(self._trace)

    def html(self) -> str:
        """The self-contained HTML trace viewer (``hintspec show --html``)."""
        return render_trace_html(self._trace, self._model)

    def write(self, directory: str | Path) -> Path:
        """Write the ITF file (and the text beside it, ``.txt``) under ``directory``;
        the ITF file's path."""
        path = trace_file(Path(directory), self._trace)
        write_itf(self._trace, path)
        write_text_atomic(path.with_suffix("").with_suffix(".txt"), self.text())
        return path


@dataclasses.dataclass(frozen=True)
class Result:
    """What a checker found: a verdict per property, figures, and counterexamples."""

    model: str
    variant: str
    config: dict[str, Any]
    """Every Config field (enums by name)."""
    checker: str
    """``check``, ``prove``, ``bmc``, ``fuzz`` or ``simulate``."""
    verdict: str
    """``check``: holds, violated, undetermined or vacuous; ``prove``/``bmc``: proven,
    refuted or unknown; ``fuzz``/``simulate``: violated or not violated (not a proof)."""
    properties: dict[str, str]
    """Property -> its verdict, in the same words (``witnessed`` for a reached
    ``sometimes`` property, ``not checked`` for one this checker cannot check)."""
    statistics: dict[str, Any]
    """The checker's figures: distinct_states, transitions, depth, seconds, ..."""
    traces: dict[str, Trace]
    """Violated property -> its (shortest) counterexample."""

    @property
    def violated(self) -> list[str]:
        """The properties with a counterexample, in the model's order."""
        return list(self.traces)

    @property
    def ok(self) -> bool:
        """True when the verdict is holds, proven, or not violated."""
        return self.verdict in ("holds", "proven", "not violated")

    @property
    def trace(self) -> Trace | None:
        """The counterexample of the first violated property, if any."""
        return next(iter(self.traces.values()), None)

    def text(self) -> str:
        """A summary (verdict per property, figures) followed by every counterexample."""
        lines = [f"{self.checker} {self.model} (variant {self.variant}): {self.verdict}"]
        lines += [f"  {verdict:<16}{name}" for name, verdict in self.properties.items()]
        figures = ("distinct_states", "transitions", "depth", "test_cases", "steps", "seconds")
        shown = [
            f"{k} {self.statistics[k]:.2f}" if k == "seconds" else f"{k} {self.statistics[k]:,}"
            for k in figures
            if self.statistics.get(k) is not None
        ]
        lines.append("  " + ", ".join(shown))
        return "\n".join([*lines, "", *(t.text() for t in self.traces.values())])

    def itf(self) -> dict[str, Any] | None:
        """The first counterexample as an ITF document, or None."""
        return self.trace.itf() if self.trace is not None else None

    def raise_for_violation(self) -> None:
        """Raise :class:`Violation` (with the text of the shortest counterexample) if a
        property is violated; do nothing otherwise (an undetermined verdict is no
        violation: check :attr:`verdict` for that)."""
        if not self.traces and self.verdict not in ("violated", "refuted"):
            return
        head = (
            f"{self.model} (variant {self.variant}): {self.checker} found "
            + ", ".join(repr(p) for p in self.violated or self._failing())
            + " violated"
        )
        body = "\n".join(t.text() for t in self.traces.values())
        raise Violation(f"{head}\n\n{body}" if body else head, self)

    def _failing(self) -> list[str]:
        return [p for p, v in self.properties.items() if v in ("violated", "refuted")]


def load_model(model: ModelRef) -> type[Model[Any, Any]]:
    """The Model subclass ``model`` names (a class is registered under its name)."""
    if isinstance(model, type) and issubclass(model, Model):
        return register(model)
    if not isinstance(model, str):
        raise UsageError(f"a model is a name, a path or a Model subclass, not {model!r}")
    return get_model(model)


def _instance(
    model: ModelRef,
    variant: str | None,
    config: Mapping[str, Any] | None,
    overrides: Mapping[str, Any],
) -> Model[Any, Any]:
    cls = load_model(model)
    return cls(make_config(cls, variant, {**(config or {}), **overrides}))


def _traces(model: Model[Any, Any], found: Mapping[str, _Trace]) -> dict[str, Trace]:
    return {
        name: Trace(t.prop, t.kind, len(t), t.explanation, t, model) for name, t in found.items()
    }


def _found(trace: _Trace | None) -> dict[str, _Trace]:
    return {} if trace is None or trace.prop is None else {trace.prop: trace}


def _verdict_word(kind: str, verdict: Verdict) -> str:
    if kind == "sometimes" and verdict is Verdict.HOLDS:
        return "witnessed"
    return verdict.value


def _check_result(model: Model[Any, Any], result: CheckResult) -> Result:
    violated = {
        p.name: p.trace
        for p in result.properties
        if p.verdict is Verdict.VIOLATED and p.trace is not None
    }
    return Result(
        model=result.model,
        variant=result.variant,
        config=dict(result.config),
        checker="check",
        verdict=result.verdict.value,
        properties={p.name: _verdict_word(p.kind, p.verdict) for p in result.properties},
        statistics={
            "distinct_states": result.distinct_states,
            "transitions": result.transitions,
            "depth": result.depth,
            "seconds": result.seconds,
            "complete": result.complete,
            "bound_hit": result.bound_hit,
            "never_fired": result.never_fired,
            "coverage": dict(result.coverage),
        },
        traces=_traces(model, violated),
    )


def check(
    model: ModelRef,
    variant: str | None = None,
    *,
    max_states: int | None = None,
    max_depth: int | None = None,
    timeout: float | None = None,
    config: Mapping[str, Any] | None = None,
    **overrides: Any,
) -> Result:
    """Explore every reachable state (``hintspec check``): a verdict for every property,
    liveness included; shortest counterexamples. A bound hit gives ``undetermined``."""
    instance = _instance(model, variant, config, overrides)
    result = _check(instance, max_states=max_states, max_depth=max_depth, timeout=timeout)
    return _check_result(instance, result)


def _others(instance: Model[Any, Any], checked: set[str]) -> dict[str, str]:
    return {p.name: "not checked" for p in instance.properties if p.name not in checked}


def simulate(
    model: ModelRef,
    variant: str | None = None,
    *,
    runs: int = 100,
    steps: int = 100,
    seed: int = 0,
    config: Mapping[str, Any] | None = None,
    **overrides: Any,
) -> Result:
    """Seeded random walks (``hintspec simulate``): ``runs`` walks of at most ``steps``
    steps. Finding nothing is not a proof."""
    instance = _instance(model, variant, config, overrides)
    result = _simulate(instance, runs=runs, steps=steps, seed=seed)
    safety = safety_properties(type(instance))
    props = {n: "violated" if n in result.violations else "not violated" for n in safety}
    for name in result.witnesses:
        props[name] = "witnessed"
    props.update({n: "not reached" for n in result.not_reached})
    return Result(
        model=result.model,
        variant=result.variant,
        config=config_to_json(instance.config),
        checker="simulate",
        verdict="violated" if result.violations else "not violated",
        properties={**_others(instance, set(props)), **props},
        statistics={
            "runs": result.runs,
            "steps": result.steps,
            "distinct_states": result.distinct_states,
            "seconds": result.seconds,
            "seed": result.seed,
            "never_fired": result.never_fired,
            "coverage": dict(result.coverage),
        },
        traces=_traces(instance, result.violations),
    )


def fuzz(
    model: ModelRef,
    variant: str | None = None,
    *,
    profile: str | None = None,
    max_examples: int | None = None,
    steps: int | None = None,
    seed: int | None = None,
    config: Mapping[str, Any] | None = None,
    **overrides: Any,
) -> Result:
    """Hypothesis stateful testing (``hintspec fuzz``), a failure shrunk to a short trace.
    ``profile``: dev, ci (derandomised) or thorough (default: ``$HYPOTHESIS_PROFILE``).
    Finding nothing is not a proof."""
    instance = _instance(model, variant, config, overrides)
    result = _fuzz(
        instance,
        base=profile_settings(profile),
        max_examples=max_examples,
        step_count=steps,
        seed=seed,
    )
    found = (
        {}
        if result.trace is None or result.trace.prop is None
        else {result.trace.prop: result.trace}
    )
    safety = safety_properties(type(instance))
    props = {n: "violated" if n in found else "not violated" for n in safety}
    props.update({n: "witnessed" for n in result.witnesses})
    return Result(
        model=result.model,
        variant=result.variant,
        config=config_to_json(instance.config),
        checker="fuzz",
        verdict="violated" if found else "not violated",
        properties={**_others(instance, set(props)), **props},
        statistics={
            "test_cases": result.test_cases,
            "steps": result.steps,
            "seconds": result.seconds,
            "max_examples": result.max_examples,
            "never_fired": result.never_fired,
            "coverage": dict(result.coverage),
        },
        traces=_traces(instance, found),
    )


def prove(
    model: ModelRef,
    variant: str | None = None,
    *,
    k: int = 1,
    bounded: bool = False,
    depth: int | None = None,
    timeout: float | None = None,
    encoding: type[Encoding[Any]] | None = None,
    config: Mapping[str, Any] | None = None,
    **overrides: Any,
) -> Result:
    """Z3 (``hintspec prove``): k-induction -- proven, refuted with a trace, or unknown --
    or, with ``bounded``, a bounded search to ``depth`` steps (``bmc``). ``encoding`` is
    the model's Z3 encoding (default: the one registered for it)."""
    instance = _instance(model, variant, config, overrides)
    enc = encoding(instance) if encoding is not None else encoding_for(instance)
    if bounded:
        result = bmc(enc, enc.bmc_depth if depth is None else depth, timeout=timeout)
    else:
        result = _prove(enc, k=k, timeout=timeout, bmc_depth=depth)
    found = (
        {}
        if result.trace is None or result.trace.prop is None
        else {result.trace.prop: result.trace}
    )
    word = result.verdict.value
    props = {
        p: ("refuted" if p in found else "unknown") if found else word for p in result.properties
    }
    return Result(
        model=result.model,
        variant=result.variant,
        config=config_to_json(instance.config),
        checker="bmc" if bounded else "prove",
        verdict=word if result.verdict is not ProofVerdict.REFUTED else "refuted",
        properties={**_others(instance, set(props)), **props},
        statistics={
            "k": result.k,
            "depth": result.depth,
            "lemmas": list(result.lemmas),
            "seconds": result.seconds,
            "queries": len(result.queries),
            "reason": result.reason,
        },
        traces=_traces(instance, found),
    )
