"""The verdict of every property of a model: :func:`check`.

It explores (the object explorer, or the model's vectorised form when it has one), then
gives each ``always`` and ``sometimes`` property, the deadlock check and each liveness
property (on the explored graph, :mod:`hintspec.engine.liveness`) its three-valued verdict,
with shortest traces for violations and witnesses.
"""

from __future__ import annotations

import functools
from typing import Any

from hintspec.engine import vector
from hintspec.engine.contract import first_breach, where_defined
from hintspec.engine.explore import Exploration, StatePredicate, explore
from hintspec.engine.faults import contract_error, model_error
from hintspec.engine.liveness import check_liveness, recorded_predicates
from hintspec.engine.progress import Progress
from hintspec.engine.results import DEADLOCK, CheckResult, PropertyResult, Verdict
from hintspec.lang.configs import config_to_json
from hintspec.lang.errors import UsageError
from hintspec.lang.model import Model, PropertyKind, PropertySpec
from hintspec.traces.trace import trace_from_path


def check(
    model: Model[Any, Any],
    *,
    max_states: int | None = None,
    max_depth: int | None = None,
    timeout: float | None = None,
    progress: Progress | None = None,
    liveness: bool = True,
    engine: str = "auto",
    symmetry: bool = True,
    workers: int = 1,
    fingerprints: bool = False,
    spill_after: int | None = None,
) -> CheckResult:
    """Explore ``model`` and give every property its verdict (liveness included).

    ``engine``: ``object`` (:mod:`hintspec.engine.explore`), ``vector`` (the model's
    vectorised form, :mod:`hintspec.engine.vector`; an error if it has none) or ``auto``
    (vector when offered).
    Both number states identically, so results are the same. ``workers`` threads expand the
    vector engine's large frontiers.

    ``fingerprints``: the object explorer keeps 64-bit fingerprints of the states it has
    seen instead of the states (:mod:`hintspec.engine.fingerprints`); counts, verdicts and
    traces are the same unless two states collide, whose probability the result gives.
    ``spill_after`` (with ``fingerprints``): about that many frontier states stay in memory,
    the others wait on disk."""
    breach = first_breach(model)
    if breach is not None:
        raise contract_error(model, breach, checker="check")
    ex: Exploration | None = None
    used = "object"
    notes: list[str] = []
    if spill_after is not None and not fingerprints:
        raise UsageError("--spill-frontier needs --fingerprints (else every state is kept)")
    if fingerprints and engine == "vector":
        raise UsageError("--fingerprints works with the object engine (use --engine object)")
    if fingerprints and model.vectorized:
        notes.append("--fingerprints: the object explorer runs, not the vectorised form")
    if engine in ("auto", "vector") and not fingerprints:
        if model.vectorized and not vector.numpy_available():
            if engine == "vector":
                raise UsageError(vector.NUMPY_MISSING)
            notes.append(
                f"numpy is not installed, so the object engine runs ({vector.NUMPY_MISSING})"
            )
        form = vector.vectorized_form(model)
        if form is None and engine == "vector":
            raise UsageError(
                f"{model.name} has no vectorised form for this configuration "
                "(or it has liveness properties); use --engine object"
            )
        if form is not None:
            ex = vector.explore_vectorized(
                model,
                form,
                max_states=max_states,
                max_depth=max_depth,
                timeout=timeout,
                progress=progress,
                workers=workers,
            )
            used = "vector"
    if ex is None:
        live_props = model.properties_of(PropertyKind.LIVENESS) if liveness else []
        record, record_edges = recorded_predicates(model, live_props) if fingerprints else ([], [])
        if fingerprints:
            record += _trigger_predicates(model)
        ex = explore(
            model,
            max_states=max_states,
            max_depth=max_depth,
            timeout=timeout,
            keep_graph=liveness and bool(model.properties_of(PropertyKind.LIVENESS)),
            progress=progress,
            symmetry=symmetry,
            fingerprints=fingerprints,
            spill_after=spill_after,
            record=record,
            record_edges=record_edges,
        )
    return verdicts(model, ex, liveness=liveness, engine=used, notes=notes)


def verdicts(
    model: Model[Any, Any],
    ex: Exploration,
    *,
    liveness: bool = True,
    engine: str = "object",
    notes: list[str] | None = None,
) -> CheckResult:
    """Every property's verdict on an exploration of ``model`` (liveness needs its graph)."""
    complete = ex.bound_hit is None
    notes = list(notes or [])
    if ex.spilled:
        notes.append(f"{ex.spilled:,} frontier states waited on disk (--spill-frontier)")
    results: list[PropertyResult] = []
    for prop in model.properties:
        if prop.kind is PropertyKind.ALWAYS:
            results.append(_always_result(model, ex, prop, complete))
        elif prop.kind is PropertyKind.SOMETIMES:
            results.append(_sometimes_result(model, ex, prop, complete))
    if model.check_deadlock:
        if ex.deadlock is not None:
            trace = trace_from_path(
                model,
                ex.real_path_to(model, ex.deadlock),
                prop=DEADLOCK,
                explanation="no action is enabled and the model does not call this state terminal",
            )
            results.append(
                PropertyResult(DEADLOCK, "deadlock", Verdict.VIOLATED, trace.explanation, trace)
            )
        else:
            verdict = Verdict.HOLDS if complete else Verdict.UNDETERMINED
            results.append(PropertyResult(DEADLOCK, "deadlock", verdict))
    live = model.properties_of(PropertyKind.LIVENESS)
    if live:
        if complete and liveness and ex.graph is not None:
            for prop in live:
                results.append(check_liveness(model, ex, prop))
        else:
            reason = "not checked" if not liveness else f"search incomplete ({ex.bound_hit})"
            for prop in live:
                results.append(PropertyResult(prop.name, "liveness", Verdict.UNDETERMINED, reason))
    depth = len(ex.levels)
    return CheckResult(
        model=model.name,
        variant=model.variant,
        config=config_to_json(model.config),
        properties=results,
        distinct_states=len(ex.states),
        transitions=ex.transitions,
        depth=depth,
        seconds=ex.seconds,
        bound_hit=ex.bound_hit,
        coverage={a.name: n for a, n in zip(model.actions, ex.coverage, strict=True)},
        complete=complete,
        engine=engine,
        notes=notes,
        fingerprints=ex.fingerprints,
        visited_bytes=ex.visited_bytes,
    )


def _always_result(
    model: Model[Any, Any], ex: Exploration, prop: PropertySpec, complete: bool
) -> PropertyResult:
    if prop.name in ex.violations:
        i, why = ex.violations[prop.name]
        path = ex.real_path_to(model, i)
        why = model.evaluate_always(prop, path[-1]) or why
        trace = trace_from_path(model, path, prop=prop.name, explanation=why)
        return PropertyResult(prop.name, "always", Verdict.VIOLATED, why, trace)
    if complete and not _triggered(model, ex, prop):
        what = prop.trigger if isinstance(prop.trigger, str) else "its trigger"
        why = f"vacuous at this configuration: no reachable state satisfies {what!r}"
        return PropertyResult(prop.name, "always", Verdict.VACUOUS, why)
    if complete:
        return PropertyResult(prop.name, "always", Verdict.HOLDS)
    return PropertyResult(
        prop.name, "always", Verdict.UNDETERMINED, f"search incomplete ({ex.bound_hit})"
    )


def _triggered(model: Model[Any, Any], ex: Exploration, prop: PropertySpec) -> bool:
    """Whether some explored state satisfies the premise of ``prop`` (True if it has none)."""
    trigger = prop.trigger
    if trigger is None:
        return True
    if isinstance(trigger, str):
        return trigger in ex.witnesses
    recorded = ex.tables.get(TRIGGER + prop.name)
    if recorded is not None:
        return any(recorded)
    for i, s in enumerate(ex.states):
        try:
            if trigger(model, s):
                return True
        except Exception as exc:
            path = ex.real_path_to(model, i)
            label = f"the trigger of property {prop.name!r}"
            raise model_error(model, exc, checker="check", path=path, fallback=label) from exc
    return False


TRIGGER = "trigger:"


def _trigger_predicates(model: Model[Any, Any]) -> list[StatePredicate]:
    """The premises given as callables of the ``always`` properties, to be recorded per state
    by a search that keeps only fingerprints (:func:`_triggered` reads them)."""
    out: list[StatePredicate] = []
    for prop in model.properties_of(PropertyKind.ALWAYS):
        if prop.trigger is not None and not isinstance(prop.trigger, str):
            out.append((TRIGGER + prop.name, functools.partial(prop.trigger, model)))
    return out


def _sometimes_result(
    model: Model[Any, Any], ex: Exploration, prop: PropertySpec, complete: bool
) -> PropertyResult:
    if prop.name in ex.witnesses:
        trace = trace_from_path(
            model, ex.real_path_to(model, ex.witnesses[prop.name]), prop=prop.name, kind="witness"
        )
        return PropertyResult(prop.name, "sometimes", Verdict.HOLDS, None, trace)
    if complete:
        where = where_defined(getattr(model, prop.method))
        return PropertyResult(
            prop.name,
            "sometimes",
            Verdict.VIOLATED,
            f"vacuous: no reachable state is a witness ({where}; the invariants it "
            "stands for may hold for want of anything happening)",
        )
    return PropertyResult(
        prop.name, "sometimes", Verdict.UNDETERMINED, f"search incomplete ({ex.bound_hit})"
    )
