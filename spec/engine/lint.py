"""``hintspec lint``: a model's own mistakes, each with the model's line and the rule.

* the contract (:mod:`hintspec.engine.contract`): hashable States of the State class,
  actions that yield ``(args, next_state)``, properties that return what they should --
  over the first states of every variant;
* a property without a witness: a model with no ``@sometimes`` property (nothing shows its
  invariants are not vacuous), or a ``@sometimes`` no reachable state of the default
  design satisfies at its default configuration;
* a property without teeth: an ``@always`` or liveness property that no variant violates
  (at its default configuration, or in a manifest entry given);
* a variant that changes nothing: its state graph at the default configuration (and at
  every configuration a manifest entry checks it at) is the default design's.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from hintspec.engine.check import check
from hintspec.engine.contract import first_breach
from hintspec.engine.explore import explore
from hintspec.engine.results import CheckResult, Verdict
from hintspec.lang.configs import make_config
from hintspec.lang.model import Model, PropertyKind

MAX_STATES = 200_000
"""A larger space is not compared (a lint is a quick look, not a search)."""

NO_WITNESS = (
    "every model needs a @sometimes witness: a reachable state where the situation its "
    "invariants are about happens, so that they cannot hold vacuously"
)
UNREACHED = "a @sometimes witness must be reachable in the default design at its default config"
NO_TEETH = (
    "every property needs teeth: a bad variant that violates it (add one, or a manifest "
    "entry that shows it)"
)
NO_CHANGE = (
    "a variant is a different design: its state graph must differ from the default's at "
    "some configuration the manifest checks it at (or the default one)"
)


@dataclasses.dataclass(frozen=True)
class Finding:
    """One mistake: where in the model, what, and the rule it breaks."""

    source: str
    message: str
    rule: str

    def line(self) -> str:
        return f"{self.source}: {self.message} (rule: {self.rule})"


def _shown(filename: str) -> str:
    real = os.path.realpath(filename)
    rel = os.path.relpath(real)
    return real if rel.startswith("..") else rel


def _where(obj: Any, needle: str | None = None) -> str:
    """``file:line`` of ``obj``'s definition, or of the first line in it with ``needle``."""
    try:
        lines, start = inspect.getsourcelines(obj)
        file = _shown(inspect.getfile(obj))
    except (OSError, TypeError):
        return getattr(obj, "__qualname__", str(obj))
    if needle is not None:
        for offset, text in enumerate(lines):
            if needle in text:
                return f"{file}:{start + offset}"
    return f"{file}:{start}"


def _instance(cls: type[Model[Any, Any]], variant: str, config: Mapping[str, Any]) -> Any:
    return cls(make_config(cls, variant, dict(config)))


def _graph(model: Model[Any, Any]) -> frozenset[tuple[Any, ...]] | None:
    """The reachable state graph as (state, action, state) triples (initial states as
    (None, -1, state)), or None when it is too large to compare."""
    ex = explore(model, max_states=MAX_STATES, keep_graph=True, symmetry=False)
    if ex.bound_hit is not None or ex.graph is None:
        return None
    g = ex.graph
    edges = {(ex.states[s], a, ex.states[d]) for s, a, d in zip(g.src, g.act, g.dst, strict=True)}
    edges |= {(None, -1, ex.states[i]) for i in range(len(ex.states)) if ex.parent[i] < 0}
    return frozenset(edges)


def lint(
    cls: type[Model[Any, Any]],
    manifest: Iterable[tuple[str, Mapping[str, Any], list[str]]] = (),
    *,
    progress: Callable[[str], None] | None = None,
) -> list[Finding]:
    """The findings for model class ``cls``. ``manifest``: (variant, config overrides,
    failing properties) of its manifest entries, which count as teeth and as
    configurations at which a variant may differ."""
    say = progress or (lambda _text: None)
    entries = list(manifest)
    findings: list[Finding] = []
    default = cls.Config().variant if hasattr(cls.Config(), "variant") else "upstream"
    for variant in cls.variants:
        say(f"contract, variant {variant}")
        breach = first_breach(_instance(cls, variant, {}))
        if breach is not None:
            findings.append(
                Finding(
                    breach.source or breach.what,
                    f"{breach.what} (variant {variant}): {breach.found}",
                    breach.rule,
                )
            )
    if findings:
        return findings  # the rest runs the model: not before its contract holds
    witnesses = [p for p in cls.properties if p.kind is PropertyKind.SOMETIMES]
    if not witnesses:
        findings.append(
            Finding(_where(cls), f"{cls.__name__} has no @sometimes property", NO_WITNESS)
        )
    say(f"default design {default}")
    results: dict[str, CheckResult] = {default: check(_instance(cls, default, {}))}
    for prop in results[default].properties:
        if prop.kind == "sometimes" and prop.verdict is Verdict.VIOLATED:
            spec = cls.properties[[p.name for p in cls.properties].index(prop.name)]
            findings.append(
                Finding(
                    _where(getattr(cls, spec.method)),
                    f"no reachable state satisfies {prop.name!r}",
                    UNREACHED,
                )
            )
    broken = {name for _v, _c, failing in entries for name in failing}
    for variant in cls.variants:
        if variant not in results:
            say(f"variant {variant}")
            results[variant] = check(_instance(cls, variant, {}))
        broken |= set(results[variant].failing)
    for spec in cls.properties:
        if spec.kind in (PropertyKind.ALWAYS, PropertyKind.LIVENESS) and spec.name not in broken:
            findings.append(
                Finding(
                    _where(getattr(cls, spec.method)),
                    f"no variant violates {spec.name!r}",
                    NO_TEETH,
                )
            )
    findings.extend(_unchanged(cls, default, entries, say))
    return findings


def _unchanged(
    cls: type[Model[Any, Any]],
    default: str,
    entries: list[tuple[str, Mapping[str, Any], list[str]]],
    say: Callable[[str], None],
) -> list[Finding]:
    out: list[Finding] = []
    graphs: dict[tuple[str, str], frozenset[tuple[Any, ...]] | None] = {}

    def graph(variant: str, config: Mapping[str, Any]) -> frozenset[tuple[Any, ...]] | None:
        key = (variant, repr(sorted(config.items())))
        if key not in graphs:
            graphs[key] = _graph(_instance(cls, variant, config))
        return graphs[key]

    for variant in cls.variants:
        if variant == default:
            continue
        configs: list[dict[str, Any]] = [{}]
        configs += [dict(c) for v, c, _f in entries if v == variant and c]
        say(f"graph of variant {variant}")
        compared = False
        differs = False
        for config in configs:
            mine, theirs = graph(variant, config), graph(default, config)
            if mine is None or theirs is None:
                continue
            compared = True
            if mine != theirs:
                differs = True
                break
        if compared and not differs:
            out.append(
                Finding(
                    _where(cls, f'"{variant}"'),
                    f"variant {variant!r} explores the same state graph as {default!r}",
                    NO_CHANGE,
                )
            )
    return out
