"""Conformance: the Z3 encodings agree with the Python models they encode.

A proof about an encoding says something about the Python model only if the two agree.
Hypothesis draws random walks from the initial state (deterministically); for every state
on the walk and every action, the symbolic relation restricted to encode(s) must admit
exactly encode(t) for the Python successors t (so it is enabled exactly when the Python
action is), the symbolic properties must agree with the Python ones, and decode(encode(s))
must give s back. Checked over frame arrays (what the induction step solves) and, on fewer
walks, in the bit-vector reading (what BMC solves).
"""

from __future__ import annotations

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
    conformance_errors,
    encoding_for,
    encodings,
    reachable_states,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

WALK = st.lists(st.integers(min_value=0, max_value=2**16), min_size=1, max_size=16)

CASES = [
    pytest.param(model, variant, dict(config), examples, id=f"{model}-{variant}-{label}")
    for model, enc_cls in sorted(encodings().items())
    for variant in get_model(model).variants
    for config, examples in enc_cls.conformance_configs
    for label in ["-".join(f"{k}{v}" for k, v in config.items())]
]


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
    assert any(e.startswith("putback: the relation does not admit the successor") for e in errors)
