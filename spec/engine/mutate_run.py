"""Running one mutant: load it as a fresh module, check it at one configuration, compare
its state graph with the original's.

A mutant is the text of the model module with an edit. It is compiled under the model
file's own name (so a fault report points at the right line) and executed as a new module
(``_hintspec_mutant_<model>``): nothing is written into the repository and the registered
model is untouched. The checker's answer at a configuration is a :class:`ConfigOutcome`:

* ``killed`` -- a property the original keeps is violated (names and trace lengths);
* ``invalid`` -- the mutant's code raised (a :class:`hintspec.lang.errors.ModelError`) or
  broke the model contract (no initial state): a crash proves only that the code ran;
* ``timeout`` -- the time budget or the state bound was hit before a verdict;
* ``equivalent`` -- no property is violated and the reachable state graph -- states,
  initial states, transitions with their action names, and every property's value in every
  state (and the fairness each liveness property is checked under) -- is the original's:
  the mutant is harmless at this bound;
* ``survived`` -- otherwise.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import itertools
import json
import signal
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hintspec.engine.check import verdicts
from hintspec.engine.explore import Exploration, explore
from hintspec.engine.results import CheckResult
from hintspec.lang.configs import make_config
from hintspec.lang.errors import ModelError
from hintspec.lang.model import LivenessMode, Model, PropertyKind, PropertySpec
from hintspec.traces.text import render_trace

ModelClass = type[Model[Any, Any]]

KILLED, SURVIVED, EQUIVALENT, TIMEOUT, INVALID = (
    "killed",
    "survived",
    "equivalent",
    "timeout",
    "invalid",
)
CLASSES = (KILLED, SURVIVED, EQUIVALENT, TIMEOUT, INVALID)


class BudgetExceeded(BaseException):
    """The time budget ran out inside the model's own code (a mutant that loops for ever
    never returns to the explorer's own clock). A BaseException, so that the checkers' fault
    reports do not take it for the model raising."""


RE_ALARM = 0.5
"""Seconds after which an expired budget raises again, if the first raise was swallowed."""


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise :class:`BudgetExceeded` in the block after ``seconds`` (SIGALRM, main thread of
    a worker process only; no limit elsewhere or with None)."""
    usable = hasattr(signal, "setitimer") and (
        threading.current_thread() is threading.main_thread()
    )
    if seconds is None or not usable:
        yield
        return

    def expire(_signum: int, _frame: Any) -> None:
        raise BudgetExceeded

    def unraisable(info: Any) -> None:
        # the alarm fell inside a callback whose exceptions Python swallows (e.g. a gc
        # callback of Hypothesis): say nothing, the interval timer raises it again
        if not isinstance(info.exc_value, BudgetExceeded):
            hook(info)

    hook = sys.unraisablehook
    previous = signal.signal(signal.SIGALRM, expire)
    sys.unraisablehook = unraisable
    signal.setitimer(signal.ITIMER_REAL, seconds, RE_ALARM)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        sys.unraisablehook = hook


class MutantBuildError(Exception):
    """The mutated text does not compile or its module raises on import."""


_loads = itertools.count()


def load_module(source: str, path: str, model_name: str) -> types.ModuleType:
    """Execute ``source`` (a model module's text) as a fresh module; the file name of its
    code is ``path`` and relative imports resolve in ``hintspec.models``.

    Each load gets a module name of its own and stays in ``sys.modules``: ``typing`` and
    ``dataclasses`` resolve a class's annotations in the module registered under its
    ``__module__``, and a Config built against another load's enums would compare unequal
    to this one's (``free_init is FreeInit.POISON`` false for every config)."""
    name = f"_hintspec_mutant_{model_name}_{next(_loads)}"
    module = types.ModuleType(name)
    module.__file__ = path
    module.__package__ = "hintspec.models"
    try:
        code = compile(source, path, "exec")
    except SyntaxError as exc:
        raise MutantBuildError(f"does not compile: {exc.msg} (line {exc.lineno})") from None
    sys.modules[name] = module
    try:
        exec(code, module.__dict__)
    except Exception as exc:
        del sys.modules[name]
        raise MutantBuildError(f"its module raises on import: {type(exc).__name__}: {exc}") from exc
    return module


def model_class(module: types.ModuleType, model_name: str) -> ModelClass:
    for value in vars(module).values():
        if (
            isinstance(value, type)
            and issubclass(value, Model)
            and value.__module__ == module.__name__
            and vars(value).get("name") == model_name
        ):
            return value
    raise MutantBuildError(f"the module no longer defines model {model_name!r}")


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """One configuration a mutant is checked at (from a manifest entry)."""

    overrides: Mapping[str, Any]
    label: str
    symmetry: bool = True
    max_states: int | None = None
    """The bound for a mutant: a multiple of the original's state count."""
    budget: float | None = None
    """Seconds the checker may take on a mutant at this configuration (None: derived from
    the original's time; the original itself has no limit)."""


@dataclasses.dataclass
class Kill:
    prop: str
    length: int | None
    """Steps of the counterexample; None for a witness no state reaches any more."""
    trace: str
    """The counterexample as text (the explorer's rendering), or why it is violated."""


@dataclasses.dataclass
class ConfigOutcome:
    config: str
    outcome: str
    kills: list[Kill] = dataclasses.field(default_factory=list)
    reason: str = ""
    seconds: float = 0.0
    states: int = 0


@dataclasses.dataclass
class Baseline:
    """The original design at one configuration."""

    config: RunConfig
    identity: GraphIdentity
    states: int
    seconds: float
    """The exploration and its verdicts, the line tracing included."""
    lines: frozenset[int]
    """Lines of the model file that ran while it was checked."""


# -- graph identity ----------------------------------------------------------------------


def _canon(value: Any) -> Any:
    """A state as nested tuples of plain values, the same for equal states whatever module
    their classes come from (a mutant's State is not the original's class)."""
    if isinstance(value, enum.Enum):
        return (type(value).__name__, value.name)
    if value is None or isinstance(value, bool | int | str | float):
        return value
    if isinstance(value, tuple | list):
        return tuple(_canon(v) for v in value)
    if isinstance(value, frozenset | set):
        items = [_canon(v) for v in value]
        try:
            items.sort()
        except TypeError:
            items.sort(key=repr)
        return ("#set", tuple(items))
    if isinstance(value, dict):
        pairs = [(_canon(k), _canon(v)) for k, v in value.items()]
        pairs.sort(key=repr)
        return ("#map", tuple(pairs))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = _field_names(type(value))
        return (type(value).__name__, tuple(_canon(getattr(value, n)) for n in names))
    return repr(value)


@functools.cache
def _field_names(cls: type[Any]) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def _digest(value: Any) -> bytes:
    return hashlib.blake2b(repr(_canon(value)).encode(), digest_size=12).digest()


def _holds(model: Model[Any, Any], prop: PropertySpec, s: Any) -> bool:
    return model.evaluate_always(prop, s) is None


@dataclasses.dataclass(frozen=True)
class GraphIdentity:
    """The reachable graph in three parts, each compared only when the previous ones are
    equal (counting is free, the labels cost a property evaluation per state)."""

    counts: tuple[int, int]
    """States and transitions."""
    structure: str
    """States (by value), initial states, transitions with their action names, terminals."""
    labels: str
    """Every property's value (and trigger, condition, progress step) in every state, and
    the fairness of every liveness property."""


def graph_identity(
    model: Model[Any, Any], ex: Exploration, like: GraphIdentity | None = None
) -> GraphIdentity:
    """The identity of the explored graph, independent of the order in which states were
    found. With ``like``, stop at the first part that differs from it (the later parts are
    then left empty)."""
    assert ex.graph is not None
    counts = (len(ex.states), ex.transitions)
    if like is not None and counts != like.counts:
        return GraphIdentity(counts, "", "")
    ids = [_digest(s) for s in ex.states]
    h = hashlib.sha256()
    rows = sorted(
        ids[i] + (b"i" if ex.parent[i] < 0 else b"-") + (b"t" if model.is_terminal(s) else b"-")
        for i, s in enumerate(ex.states)
    )
    for row in rows:
        h.update(row)
    names = [a.name.encode() for a in model.actions]
    g = ex.graph
    for edge in sorted(
        ids[u] + names[a] + ids[v] for u, v, a in zip(g.src, g.dst, g.act, strict=True)
    ):
        h.update(edge)
    structure = h.hexdigest()
    if like is not None and structure != like.structure:
        return GraphIdentity(counts, structure, "")
    return GraphIdentity(counts, structure, _labels(model, ex, ids))


def _labels(model: Model[Any, Any], ex: Exploration, ids: list[bytes]) -> str:
    assert ex.graph is not None
    labels: list[Callable[[Any], Any]] = []
    for prop in model.properties:
        if prop.kind is PropertyKind.ALWAYS:
            labels.append(functools.partial(_holds, model, prop))
            if callable(prop.trigger):
                labels.append(functools.partial(prop.trigger, model))
        elif prop.kind is PropertyKind.SOMETIMES or prop.mode is not LivenessMode.PROGRESS:
            labels.append(getattr(model, prop.method))
        if prop.when is not None:
            labels.append(functools.partial(prop.when, model))
    h = hashlib.sha256()
    for prop in model.properties_of(PropertyKind.LIVENESS):
        fair = {model.actions[a].name: f.value for a, f in model.fairness_of(prop).items()}
        h.update(json.dumps([prop.name, sorted(fair.items())]).encode())
    rows = sorted(
        ids[i] + bytes(1 if fn(s) else 0 for fn in labels) for i, s in enumerate(ex.states)
    )
    for row in rows:
        h.update(row)
    g = ex.graph
    for prop in model.properties_of(PropertyKind.LIVENESS):
        if prop.mode is LivenessMode.PROGRESS:
            advances = getattr(model, prop.method)
            marks = sorted(
                ids[u] + ids[v]
                for u, v in zip(g.src, g.dst, strict=True)
                if advances(ex.states[u], ex.states[v])
            )
            for mark in marks:
                h.update(mark)
    return h.hexdigest()


# -- which lines ran ---------------------------------------------------------------------


@contextmanager
def lines_run(path: str) -> Iterator[set[int]]:
    """Collect the line numbers of ``path`` executed inside the block: with coverage.py's
    C tracer when it is installed (a few times faster), else ``sys.settrace`` with local
    tracing only in that file's code."""
    hit: set[int] = set()
    coverage: Any
    try:
        import coverage
    except ImportError:
        coverage = None
    if coverage is not None and sys.gettrace() is None:
        cov = coverage.Coverage(data_file=None, include=[path], config_file=False)
        cov.start()
        try:
            yield hit
        finally:
            cov.stop()
            hit.update(cov.get_data().lines(path) or ())
        return

    def local(frame: Any, event: str, _arg: Any) -> Any:
        if event == "line":
            hit.add(frame.f_lineno)
        return local

    def global_(frame: Any, event: str, _arg: Any) -> Any:
        if frame.f_code.co_filename == path:
            hit.add(frame.f_lineno)
            return local
        return None

    previous = sys.gettrace()
    sys.settrace(global_)
    try:
        yield hit
    finally:
        sys.settrace(previous)


# -- checking at one configuration ---------------------------------------------------------


def _instance(cls: ModelClass, variant: str, cfg: RunConfig) -> Model[Any, Any]:
    return cls(make_config(cls, variant, dict(cfg.overrides)))


def explore_once(
    cls: ModelClass,
    variant: str,
    cfg: RunConfig,
    *,
    timeout: float | None,
    stop_after_violation: int | None = None,
) -> tuple[Model[Any, Any], Exploration, CheckResult]:
    model = _instance(cls, variant, cfg)
    ex = explore(
        model,
        max_states=cfg.max_states,
        timeout=timeout,
        keep_graph=True,
        symmetry=cfg.symmetry,
        stop_after_violation=stop_after_violation,
    )
    return model, ex, verdicts(model, ex)


def baseline(
    cls: ModelClass, variant: str, cfg: RunConfig, path: str
) -> tuple[Baseline, CheckResult]:
    """Check the original at ``cfg`` (recording which of its lines run) and digest its graph."""
    start = time.monotonic()
    with lines_run(path) as hit:
        model, ex, result = explore_once(cls, variant, cfg, timeout=None)
    seconds = time.monotonic() - start
    identity = graph_identity(model, ex)
    return Baseline(cfg, identity, len(ex.states), seconds, frozenset(hit)), result


def _kills(result: CheckResult, model: Model[Any, Any]) -> list[Kill]:
    out = []
    for p in result.properties:
        if p.name in result.failing:
            if p.trace is not None:
                out.append(Kill(p.name, len(p.trace), render_trace(p.trace, model)))
            else:
                out.append(Kill(p.name, None, p.explanation or "violated"))
    return sorted(out, key=lambda k: (k.length is None, k.length or 0, k.prop))


def _invalid(cfg: RunConfig, exc: BaseException, start: float) -> ConfigOutcome:
    if isinstance(exc, ModelError):
        where = f" at {exc.source}" if exc.source else ""
        reason = f"{exc.where} raised {exc.exception}{where}"
        if exc.rule:
            reason += f" ({exc.rule})"
    else:
        reason = f"{type(exc).__name__}: {exc}"
    return ConfigOutcome(cfg.label, INVALID, reason=reason, seconds=time.monotonic() - start)


def run_explore(cls: ModelClass, variant: str, cfg: RunConfig, base: Baseline) -> ConfigOutcome:
    """The explorer's answer on a mutant class at one configuration."""
    start = time.monotonic()
    limit = None if cfg.budget is None else 2 * cfg.budget + 5
    try:
        with time_limit(limit):
            model, ex, result = explore_once(
                cls, variant, cfg, timeout=cfg.budget, stop_after_violation=base.states
            )
            if not ex.states:
                raise MutantBuildError("the model contract: it has no initial state")
            if result.failing:
                return ConfigOutcome(
                    cfg.label,
                    KILLED,
                    kills=_kills(result, model),
                    seconds=time.monotonic() - start,
                    states=len(ex.states),
                )
            if ex.bound_hit is not None:
                return ConfigOutcome(
                    cfg.label, TIMEOUT, reason=ex.bound_hit, seconds=time.monotonic() - start
                )
            identity = graph_identity(model, ex, like=base.identity)
    except BudgetExceeded:
        why = f"no answer within {limit:g} s (the model's code did not return)"
        return ConfigOutcome(cfg.label, TIMEOUT, reason=why, seconds=time.monotonic() - start)
    except (Exception, RecursionError) as exc:
        return _invalid(cfg, exc, start)
    outcome = EQUIVALENT if identity == base.identity else SURVIVED
    return ConfigOutcome(
        cfg.label, outcome, seconds=time.monotonic() - start, states=len(ex.states)
    )


def run_fuzz(
    cls: ModelClass,
    variant: str,
    cfg: RunConfig,
    base: Baseline,
    fuzzer: Callable[[Model[Any, Any]], tuple[Any, float]],
    *,
    compare: bool = True,
) -> ConfigOutcome:
    """The fuzzer's answer on a mutant class at one configuration: ``fuzzer(model)`` gives
    the counterexample trace (or None) and the seconds it took. A mutant the fuzzer does
    not kill is compared with the original's graph by the explorer, so that ``equivalent``
    means the same for every checker (unless ``compare`` is False: the explorer is known to
    tell it apart)."""
    start = time.monotonic()
    limit = None if cfg.budget is None else 2 * cfg.budget + 5
    try:
        with time_limit(limit):
            model = _instance(cls, variant, cfg)
            trace, _ = fuzzer(model)
        if trace is not None:
            kill = Kill(str(trace.prop), len(trace), render_trace(trace, model))
            return ConfigOutcome(cfg.label, KILLED, kills=[kill], seconds=time.monotonic() - start)
    except BudgetExceeded:
        why = f"the fuzzer gave no answer within {limit:g} s"
        return ConfigOutcome(cfg.label, TIMEOUT, reason=why, seconds=time.monotonic() - start)
    except (Exception, RecursionError) as exc:
        return _invalid(cfg, exc, start)
    if not compare:
        return ConfigOutcome(cfg.label, SURVIVED, seconds=time.monotonic() - start)
    out = run_explore(cls, variant, cfg, base)
    if out.outcome == KILLED:  # the explorer sees it; the fuzzer did not
        out = ConfigOutcome(cfg.label, SURVIVED, states=out.states)
    out.seconds = time.monotonic() - start
    return out


def module_path(cls: ModelClass) -> Path:
    module = sys.modules[cls.__module__]
    assert module.__file__ is not None
    # an editable install may link the file from a build tree: the real file is the one
    # line tracers and diffs name
    return Path(module.__file__).resolve()
