"""The explorer's correctness oracle: the reference benchmark's exact figures (the ones
Spin and TLC agree on, recorded in models/manifest/reference_buddy.json: 730 states at 8
frames, 530,093 at 16), and its injected bugs in 3-4 steps."""

from __future__ import annotations

import pytest
from hintspec.engine.check import check
from hintspec.engine.results import Verdict
from hintspec.lang.configs import make_config
from hintspec.lang.registry import get_model
from hintspec.traces.replay import replay

MODEL = get_model("reference_buddy")


def test_frames_8_matches_spin_and_tlc() -> None:
    result = check(MODEL(make_config(MODEL, None, {"frames": 8})))
    assert (result.distinct_states, result.transitions, result.depth) == (730, 4508, 13)
    assert result.verdict is Verdict.HOLDS


def test_frames_16_matches_spin_and_tlc() -> None:
    result = check(MODEL(make_config(MODEL, None, {"frames": 16})))
    assert (result.distinct_states, result.transitions, result.depth) == (530093, 6351984, 25)


@pytest.mark.parametrize(
    ("variant", "prop"),
    [
        ("alloc_keeps_reported", "reported is set only on heads of free blocks"),
        ("isolate_ignores_cap", "at most CAP blocks are isolated"),
        ("merge_keeps_reported", "reported is set only on heads of free blocks"),
    ],
)
def test_injected_bugs_are_found_in_3_to_4_steps(variant: str, prop: str) -> None:
    model = MODEL(make_config(MODEL, variant))
    result = check(model)
    assert result.failing == [prop]
    (violation,) = [p for p in result.properties if p.verdict is Verdict.VIOLATED]
    assert violation.trace is not None
    assert 3 <= len(violation.trace) <= 4
    assert replay(violation.trace).ok
