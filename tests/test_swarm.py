"""Swarm fuzzing over workers (:mod:`hintspec.engine.swarm`, ``fuzz --swarm N --jobs J`` and
``--executor ADDRESS``): distinct seeds, results merged the same way wherever the runs ran."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from hintspec.engine.swarm import SwarmResult, SwarmRun, tasks_for
from hintspec.lang.registry import get_model

HANDSHAKE = Path(__file__).parent.parent / "examples/external-model/vq_handshake/handshake.py"


def _fuzz(tmp_path: Path, *extra: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "hintspec", "fuzz", str(HANDSHAKE), "--variant",
         "drops_on_enospc", "--swarm", "3", "--seed", "11", "--max-examples", "60",
         "--out", str(tmp_path / "out"), *extra],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    # Only the header naming where the runs ran, and the seconds, may differ.
    lines = [
        re.sub(r"\d+\.\d\d s", "T s", line)
        for line in done.stdout.splitlines()
        if not line.startswith("  swarm of")
    ]
    return "\n".join(lines)


def test_each_run_has_its_own_seed_and_the_model_travels_as_its_import_spec() -> None:
    cls = get_model(str(HANDSHAKE))
    model = cls(cls.Config(variant="drops_on_enospc"))
    tasks = tasks_for(model, 4, seed=2**32 - 2, profile="ci")
    assert [t.seed for t in tasks] == [2**32 - 2, 2**32 - 1, 0, 1]
    assert {t.model for t in tasks} == {f"{HANDSHAKE.resolve()}:Handshake"}
    assert tasks[0].config["variant"] == "drops_on_enospc"


def test_the_shortest_counterexample_wins_and_ties_go_to_the_first_run() -> None:
    def run(index: int, length: int | None) -> SwarmRun:
        itf = None if length is None else {"states": [{}] * (length + 1)}
        return SwarmRun(index=index, seed=index, test_cases=10, trace_itf=itf)

    result = SwarmResult([run(0, 5), run(1, None), run(2, 3), run(3, 3)])
    assert result.best is not None and result.best.index == 2
    assert result.test_cases == 40
    assert SwarmResult([run(0, None)]).best is None


def test_a_swarm_in_two_processes_finds_what_the_serial_swarm_finds(tmp_path: Path) -> None:
    serial = _fuzz(tmp_path)
    assert "run 0 (seed 11)" in serial and "run 2 (seed 13)" in serial
    assert "Counterexample to 'no buffer is lost'" in serial
    assert re.search(r"Result: VIOLATED \([\d,]+ test cases in 3 runs\)", serial)
    assert _fuzz(tmp_path, "--jobs", "2") == serial
    # Run 1 repeats alone: the same seed, the same test cases.
    run1 = re.search(r"run 1 \(seed 12\): ([\d,]+) test cases", serial)
    alone = subprocess.run(
        [sys.executable, "-m", "hintspec", "fuzz", str(HANDSHAKE), "--variant",
         "drops_on_enospc", "--swarm", "--seed", "12", "--max-examples", "60",
         "--out", str(tmp_path / "alone")],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert run1 is not None and f"; {run1.group(1)} test cases," in alone.stdout, alone.stdout
    written = list((tmp_path / "out").glob("*.fuzz.itf.json"))
    assert len(written) == 1
    replayed = subprocess.run(
        [sys.executable, "-m", "hintspec", "replay", str(written[0])],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "the trace replays: 3 steps, no divergence" in replayed.stdout


def test_a_swarm_on_a_local_dask_cluster_finds_what_the_serial_swarm_finds(
    tmp_path: Path, local_dask_cluster: Any
) -> None:
    serial = _fuzz(tmp_path)
    assert _fuzz(tmp_path, "--executor", local_dask_cluster.scheduler_address) == serial
