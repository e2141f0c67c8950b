"""Helpers shared by the model tests: pick a property's result and insist its trace
replays against the model that produced it."""

from __future__ import annotations

from hintspec.engine.results import PropertyResult, Verdict
from hintspec.traces.replay import replay


def violation(props: list[PropertyResult], name: str) -> PropertyResult:
    """The violated property ``name`` of a check result; its trace must replay."""
    (p,) = [p for p in props if p.name == name]
    assert p.verdict is Verdict.VIOLATED and p.trace is not None, f"{name}: {p.verdict}"
    replayed = replay(p.trace)
    assert replayed.ok, replayed.message
    return p
