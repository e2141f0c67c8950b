"""The vectorised explorer agrees with the object explorer: same packed semantics state by
state (conformance), and the same counts, verdicts and traces on every variant."""

from __future__ import annotations

import numpy as np
import pytest
from hintspec.engine.check import check
from hintspec.engine.explore import explore
from hintspec.lang.configs import make_config
from hintspec.lang.errors import UsageError
from hintspec.lang.registry import get_model
from hintspec.models._reference_buddy_vector import VectorReferenceBuddy
from hypothesis import given, settings
from hypothesis import strategies as st
from toy_models import Counter, CounterConfig

MODEL = get_model("reference_buddy")


def _successor_list(form: VectorReferenceBuddy, x: int) -> list[tuple[int, int, int]]:
    keys, succ, acts = form.successors(np.array([x], dtype=np.uint64))
    order = np.argsort(keys, kind="stable")
    return [(int(keys[i]), int(succ[i]), int(acts[i])) for i in order]


@pytest.mark.parametrize("variant", list(MODEL.variants))
def test_every_reachable_state_conforms_at_8_frames(variant: str) -> None:
    model = MODEL(make_config(MODEL, variant))
    form = VectorReferenceBuddy(model)
    ex = explore(model)
    packed = np.array([form.pack(s) for s in ex.states], dtype=np.uint64)
    vector_invariants = form.invariants(packed)
    vector_witnesses = form.witnesses(packed)
    for i, s in enumerate(ex.states):
        x = int(packed[i])
        assert form.unpack(x) == s
        expected = [(a, form.pack(t)) for a, _args, t in model.successors(s)]
        got = _successor_list(form, x)
        assert [(a, y) for _k, y, a in got] == expected
        for prop in model.properties:
            if prop.kind.value == "always":
                assert bool(vector_invariants[prop.name][i]) == (
                    model.evaluate_always(prop, s) is None
                )
            elif prop.kind.value == "sometimes":
                assert bool(vector_witnesses[prop.name][i]) == bool(getattr(model, prop.method)(s))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=60))
def test_random_walks_conform_at_16_frames(choices: list[int]) -> None:
    model = MODEL(make_config(MODEL, None, {"frames": 16}))
    form = VectorReferenceBuddy(model)
    (s,) = model.initial_states()
    for c in choices:
        successors = [t for _a, _args, t in model.successors(s)]
        assert [y for _k, y, _a in _successor_list(form, form.pack(s))] == [
            form.pack(t) for t in successors
        ]
        s = successors[c % len(successors)]


@pytest.mark.parametrize("variant", list(MODEL.variants))
def test_same_counts_verdicts_and_traces(variant: str) -> None:
    a = check(MODEL(make_config(MODEL, variant)), engine="object")
    b = check(MODEL(make_config(MODEL, variant)), engine="vector")
    assert b.engine == "vector" and a.engine == "object"
    assert (a.distinct_states, a.transitions, a.depth, a.coverage) == (
        b.distinct_states,
        b.transitions,
        b.depth,
        b.coverage,
    )
    assert [(p.name, p.verdict, p.explanation) for p in a.properties] == [
        (p.name, p.verdict, p.explanation) for p in b.properties
    ]
    for pa, pb in zip(a.properties, b.properties, strict=True):
        if pa.trace is not None:
            assert pb.trace is not None
            assert [(s.action, s.args, s.state) for s in pa.trace.steps] == [
                (s.action, s.args, s.state) for s in pb.trace.steps
            ]


def test_bounds_are_undetermined_on_the_vector_engine_too() -> None:
    model = MODEL(make_config(MODEL, None, {"frames": 16}))
    assert check(model, engine="vector", max_states=1000).bound_hit == "max states 1000"
    assert check(model, engine="vector", max_depth=5).bound_hit == "max depth 5"


def test_overlapping_blocks_have_no_packed_form() -> None:
    model = MODEL(make_config(MODEL))
    form = VectorReferenceBuddy(model)
    (s,) = model.initial_states()
    bad = type(s)(s.free, frozenset({(0, 0)}), s.isolated, s.reported)
    with pytest.raises(ValueError, match="overlap"):
        form.pack(bad)


def test_vector_engine_on_a_model_without_one_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="no vectorised form"):
        check(Counter(CounterConfig()), engine="vector")
