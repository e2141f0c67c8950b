"""The handshake's verdicts, as this project's CI checks them (the hintspec pytest plugin)."""

from __future__ import annotations

import hintspec
import pytest
from hintspec.pytest_plugin import HintspecChecker

MODEL = "vq_handshake.handshake:Handshake"


def test_the_design_holds(hintspec_check: HintspecChecker) -> None:
    result = hintspec_check.holds(MODEL)
    assert result.properties["every lent buffer comes back"] == "holds"


def test_forgetting_a_refused_buffer_loses_it(hintspec_check: HintspecChecker) -> None:
    result = hintspec_check.violated(MODEL, "no buffer is lost", variant="drops_on_enospc")
    assert result.traces["no buffer is lost"].steps == 3


@pytest.mark.hintspec(MODEL, variant="push_without_notify", violates="no deadlock")
def test_a_device_that_never_notifies_deadlocks() -> None:
    pass


def test_from_python() -> None:
    result = hintspec.check(MODEL, buffers=4)
    result.raise_for_violation()
    assert result.statistics["distinct_states"] > 0
