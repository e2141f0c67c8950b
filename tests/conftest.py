"""Shared test settings: Hypothesis profiles (dev, ci, thorough) via HYPOTHESIS_PROFILE."""

from __future__ import annotations

import os
import pathlib
import sys

from hypothesis import HealthCheck, settings

settings.register_profile(
    "dev", max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "ci",
    max_examples=200,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "thorough", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


# The hand-made toy models live beside the tests.
sys.path.insert(0, str(pathlib.Path(__file__).parent))
