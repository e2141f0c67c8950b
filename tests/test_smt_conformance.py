"""Conformance: the Z3 encodings agree with the Python models they encode.

A proof about an encoding says something about the Python model only if the two agree.
For every state checked and every action, the symbolic relation restricted to encode(s)
must admit exactly encode(t) for the Python successors t (so it is enabled exactly when the
Python action is), the symbolic properties (and premises) must agree with the Python ones,
and decode(encode(s)) must give s back.

Which states: for the design a proof is about (each encoding's first ``proved_variants``),
a deterministic sample of ``conformance_states`` (200) distinct reachable states per
configuration -- random walks as long as the state graph is deep plus the last BFS levels
(:func:`hintspec.smt.sample_states`), checked in chunks of ``CHUNK`` states so no test runs
long; for the other variants, Hypothesis random walks from the initial state. Checked over
frame arrays (what the induction step solves) and, on fewer walks, in the bit-vector
reading (what BMC solves). ``tests/benchmarks/deep_conformance.py`` checks 1,000 states
per configuration and prints the action coverage.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest
import z3
from hintspec.lang.configs import make_config
from hintspec.lang.registry import get_model
from hintspec.properties.proofs.reference_buddy import ReferenceBuddyEncoding
from hintspec.smt import (
    Params,
    Transition,
    Vars,
    check_states,
    conformance_errors,
    encoding_for,
    encodings,
    reachable_states,
    sample_states,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

WALK = st.lists(st.integers(min_value=0, max_value=2**16), min_size=1, max_size=16)

CHUNK = 100
"""States per sampled test: a config's sample is split so each test stays short."""

SAMPLE_BFS_STATES = 20_000
"""The sample's breadth-first search stops here (its last levels are then the deepest
levels it reached): what keeps sampling a large configuration to a second or two."""


def _label(config: Any) -> str:
    return "-".join(f"{k}{v}" for k, v in config.items())


CASES = [
    pytest.param(model, variant, dict(config), examples, id=f"{model}-{variant}-{_label(config)}")
    for model, enc_cls in sorted(encodings().items())
    for variant in enc_cls.variants
    if variant != enc_cls.proved_variants[0]
    for config, examples in enc_cls.conformance_configs
]

SAMPLED = [
    pytest.param(model, i, part, id=f"{model}-{enc_cls.proved_variants[0]}-{_label(config)}-{part}")
    for model, enc_cls in sorted(encodings().items())
    for i, (config, _examples) in enumerate(enc_cls.conformance_configs)
    for part in range(-(-enc_cls.conformance_states // CHUNK))
]


@functools.cache
def _sample(model_name: str, config_index: int) -> tuple[Any, list[Any], str]:
    enc_cls = encodings()[model_name]
    cls = get_model(model_name)
    config = dict(enc_cls.conformance_configs[config_index][0])
    model = cls(make_config(cls, enc_cls.proved_variants[0], config))
    sample = sample_states(model, enc_cls.conformance_states, max_states=SAMPLE_BFS_STATES)
    return model, sample.states, sample.describe()


@pytest.mark.parametrize(("model_name", "config_index", "part"), SAMPLED)
def test_the_proved_design_conforms_on_a_deep_sample(
    model_name: str, config_index: int, part: int
) -> None:
    model, states, where = _sample(model_name, config_index)
    chunk = states[part * CHUNK : (part + 1) * CHUNK]
    run = check_states(encoding_for(model), chunk, stop_after=1)
    assert not run.errors, f"{model_name} ({where}):\n" + "\n".join(
        f"state #{part * CHUNK + i}: " + d.render(model) for i, d in run.errors
    )


def _check(
    model_name: str, variant: str, config: dict[str, Any], walk: list[int], bitblast: bool
) -> None:
    cls = get_model(model_name)
    model = cls(make_config(cls, variant, config))
    enc = encoding_for(model)
    for state in reachable_states(model, walk):
        errors = conformance_errors(enc, state, bitblast=bitblast)
        assert not errors, f"{model_name}/{variant} at {state!r}: " + "; ".join(errors)


@pytest.mark.parametrize(("model_name", "variant", "config", "examples"), CASES)
def test_symbolic_relation_matches_the_python_model(
    model_name: str, variant: str, config: dict[str, Any], examples: int
) -> None:
    @settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(walk=WALK)
    def run(walk: list[int]) -> None:
        _check(model_name, variant, config, walk, bitblast=False)

    run()


@pytest.mark.parametrize("model_name", sorted(encodings()))
def test_bit_blasted_relation_matches_the_python_model(model_name: str) -> None:
    @settings(max_examples=3, derandomize=True, deadline=None, database=None)
    @given(walk=WALK)
    def run(walk: list[int]) -> None:
        enc_cls = encodings()[model_name]
        # The first good design (not every model calls it "upstream").
        _check(model_name, enc_cls.proved_variants[0], dict(enc_cls.bitblast_config), walk, True)

    run()


class _PutbackForgetsTheMark(ReferenceBuddyEncoding):
    """A wrong encoding: putback leaves PG_reported as it was (the model sets it)."""

    def transitions(self) -> dict[str, Transition]:
        out = super().transitions()
        right = out["putback"]

        def wrong(c: Vars, n: Vars, p: Params) -> Any:
            return z3.And(right(c, n, p), n["reported"] == c["reported"])

        out["putback"] = wrong
        return out


def test_the_conformance_check_catches_a_wrong_encoding() -> None:
    cls = get_model("reference_buddy")
    model = cls(make_config(cls, "upstream", {"frames": 8}))
    enc = _PutbackForgetsTheMark(model)
    # isolate the whole memory, then put it back: the Python step marks frame 0.
    state = reachable_states(model, [2])[-1]
    assert state.isolated == frozenset({(0, 3)})
    errors = conformance_errors(enc, state)
    assert any(
        e.startswith("putback: the relation does not admit a Python successor") for e in errors
    )


def test_a_sample_is_deterministic_deep_and_distinct() -> None:
    cls = get_model("reference_buddy")
    model = cls(make_config(cls, "upstream", {"frames": 8}))
    one = sample_states(model, 200, seed=3)
    assert one.states == sample_states(model, 200, seed=3).states
    assert len(one.states) == len(set(one.states)) >= 200
    assert one.complete and one.reachable == 730 and one.depth == 12
    # Every state of the deepest level is in it.
    levels = {0: list(model.initial_states())}
    seen = set(levels[0])
    for d in range(1, one.depth + 1):
        nxt = {t for s in levels[d - 1] for _i, _a, t in model.successors(s)} - seen
        seen |= nxt
        levels[d] = list(nxt)
    assert set(levels[one.depth]) <= set(one.states)
    assert one.from_walks > 0 and "random walks of 12 steps" in one.describe()
    # Asked for more states than there are: all of them.
    every = sample_states(model, 1000)
    assert len(every.states) == 730 and every.describe().startswith("all 730 reachable")


def test_a_divergence_shows_both_states_and_the_coverage_counts_actions() -> None:
    cls = get_model("reference_buddy")
    model = cls(make_config(cls, "upstream", {"frames": 8}))
    states = reachable_states(model, [2, 0, 0, 1])
    run = check_states(_PutbackForgetsTheMark(model), states)
    assert run.coverage.states == len(states)
    assert set(run.coverage.enabled) == set(_PutbackForgetsTheMark(model).transitions())
    bad = [d for _i, d in run.errors if d.what == "putback"]
    assert bad
    text = bad[0].render(model)
    assert "state:" in text and "the Python successor:" in text
    assert run.coverage.enabled["putback"] >= 1 and run.coverage.disabled["putback"] >= 1
    table = "\n".join(run.coverage.lines())
    assert "putback" in table and "enabled" in table
