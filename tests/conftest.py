"""Shared test settings: Hypothesis profiles (dev, ci, thorough) via HYPOTHESIS_PROFILE.

The suite runs the derandomised ``ci`` profile unless told otherwise, so the same examples
run every time: a test cannot pass or fail by the luck of a seed. Exploratory random runs
are a separate command (``.ci/explore``), which prints the seed of anything it finds.
"""

from __future__ import annotations

import os
import pathlib
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from hintspec.engine.fuzzing import register_profiles
from hypothesis import settings

# One definition of the profiles, shared with `hintspec fuzz` (spec/stateful.py); the
# environment variable is set too, so hintspec.engine.stateful.profile_name() agrees.
os.environ.setdefault("HYPOTHESIS_PROFILE", "ci")
register_profiles()
settings.load_profile(os.environ["HYPOTHESIS_PROFILE"])


# The hand-made toy models live beside the tests.
sys.path.insert(0, str(pathlib.Path(__file__).parent))


def pytest_sessionstart(session: pytest.Session) -> None:
    """Say which random test order ran (pytest-randomly prints it only in the verbose
    header), so that an order-dependent failure can be replayed with the same seed."""
    seed = getattr(session.config.option, "randomly_seed", None)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if seed is not None and reporter is not None and not hasattr(session.config, "workerinput"):
        reporter.write_line(f"test order: -p randomly --randomly-seed={seed}")


@pytest.fixture
def local_dask_cluster() -> Iterator[Any]:
    """A Dask cluster of two worker processes with one thread each, bound to 127.0.0.1 and
    without a dashboard; the test is skipped when the optional extra is not installed."""
    distributed = pytest.importorskip("distributed", reason="the optional extra is not installed")
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        yield cluster
