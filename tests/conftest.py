"""Shared test settings: Hypothesis profiles (dev, ci, thorough) via HYPOTHESIS_PROFILE."""

from __future__ import annotations

import os
import pathlib
import sys

from hintspec.stateful import register_profiles
from hypothesis import settings

# One definition of the profiles, shared with `hintspec fuzz` (spec/stateful.py).
register_profiles()
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


# The hand-made toy models live beside the tests.
sys.path.insert(0, str(pathlib.Path(__file__).parent))
