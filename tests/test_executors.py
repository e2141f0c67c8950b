"""Independent runs in worker processes (:mod:`hintspec.engine.executors`, ``check --all
--jobs N``): results come back in task order, and the output is the serial run's."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from typing import Any

import pytest
from hintspec.engine.executors import DaskExecutor, ProcessExecutor, SerialExecutor, executor
from hintspec.lang.errors import UsageError


def _square_slowly(n: int) -> tuple[int, int]:
    # The first tasks take longest, so a pool that gave results as they finish would
    # give them out of order.
    time.sleep(0.05 * (4 - n) if n < 4 else 0)
    return n * n, os.getpid()


def test_a_pool_gives_results_in_task_order() -> None:
    with executor(jobs=2) as pool:
        assert isinstance(pool, ProcessExecutor)
        got = list(pool.map(_square_slowly, range(8)))
    assert [square for square, _ in got] == [n * n for n in range(8)]
    assert os.getpid() not in {pid for _, pid in got}


def test_one_job_runs_in_this_process() -> None:
    with executor(jobs=1) as pool:
        assert isinstance(pool, SerialExecutor)
        got = list(pool.map(_square_slowly, range(3)))
    assert got == [(0, os.getpid()), (1, os.getpid()), (4, os.getpid())]
    with pytest.raises(ValueError):
        executor(jobs=0)


CHECK_ALL = [sys.executable, "-m", "hintspec", "check", "--all"]


def _check_all(*extra: str) -> str:
    done = subprocess.run(
        [*CHECK_ALL, "--only", "reference_buddy", *extra],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # Only the seconds column may differ between runs.
    return re.sub(r" +\d+\.\d\d  (yes|NO)$", r"  \1", done.stdout, flags=re.MULTILINE)


def test_check_all_with_two_jobs_prints_what_the_serial_run_prints() -> None:
    serial = _check_all()
    assert "4 entries, 4 as expected" in serial
    assert _check_all("--jobs", "2") == serial
    # The fingerprint search finds the same counts, verdicts and depths, in two processes.
    assert _check_all("--jobs", "2", "--fingerprints") == serial


def test_check_all_on_a_local_dask_cluster_prints_what_the_serial_run_prints(
    local_dask_cluster: Any,
) -> None:
    import distributed

    serial = _check_all()
    with distributed.Client(local_dask_cluster) as client:
        workers = client.scheduler_info()["workers"]
        assert len(workers) == 2
    assert _check_all("--executor", local_dask_cluster.scheduler_address) == serial


def test_a_bad_scheduler_address_is_one_line_of_bad_input() -> None:
    pytest.importorskip("distributed", reason="the optional extra is not installed")
    done = subprocess.run(
        [*CHECK_ALL, "--only", "reference_buddy", "--executor", "bogus://127.0.0.1:9"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stdout == ""  # not even the table's header
    assert done.stderr.count("\n") == 1 and "bad Dask scheduler address" in done.stderr


def test_a_scheduler_that_does_not_answer_is_bad_input() -> None:
    pytest.importorskip("distributed", reason="the optional extra is not installed")
    with pytest.raises(UsageError, match="cannot reach the Dask scheduler"):
        DaskExecutor("tcp://127.0.0.1:9", connect_timeout=1)
