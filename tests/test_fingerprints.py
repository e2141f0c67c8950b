"""Fingerprint storage (``check --fingerprints``): the same counts, verdicts and traces as
the search that keeps every state, with fingerprints that do not depend on the process."""

from __future__ import annotations

import enum
import os
import random
import subprocess
import sys
from collections import deque
from pathlib import Path
from typing import Any

import pytest
from hintspec.engine.check import check
from hintspec.engine.fingerprints import (
    Fingerprinter,
    SpillQueue,
    collision_probability,
    fingerprint,
)
from hintspec.engine.results import CheckResult
from hintspec.lang.configs import make_config
from hintspec.lang.errors import UsageError
from hintspec.lang.registry import get_model
from hintspec.manifests.explorer import Entry, load_manifest, mismatches, run_entry
from toy_models import Counter, CounterConfig, CounterState

# Small entries of every kind the checker distinguishes: safety holds and violated,
# deadlock, leads_to and progress properties (recorded per state and edge while the states
# are at hand), symmetry reduction (canonical states, concretised traces), a callable
# trigger (balloon_oom).
PICKED = [
    ("hinting_oom", "capped_gate_per_batch", {}),
    ("hinting_oom", "percpu_spin", {"ring": 1}),
    ("page_reporting", "no_leftover_report", {}),
    ("reference_buddy", "alloc_keeps_reported", {"frames": 8}),
    ("thp_split", "v1_pte_none", {"user": "postcopy"}),
    ("balloon_oom", "lock_fill", {}),
    ("free_page_hint", "hint_with_postcopy", {"pages": 1, "postcopy": True}),
]


def _entry(model: str, variant: str, config: dict[str, Any]) -> Entry:
    for entry in load_manifest():
        if (entry.model, entry.variant, entry.config) == (model, variant, config):
            return entry
    raise AssertionError(f"no manifest entry {model}/{variant} {config}")


def _summary(result: CheckResult) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for p in result.properties:
        trace = None
        if p.trace is not None:
            steps = [(s.action, s.args, s.state) for s in p.trace.steps]
            trace = (steps, p.trace.loop)
        out.append((p.name, p.verdict, p.explanation, trace))
    return out


@pytest.mark.parametrize("picked", PICKED, ids=[f"{m}/{v}" for m, v, _ in PICKED])
def test_fingerprints_give_the_full_state_results(picked: tuple[str, str, dict[str, Any]]) -> None:
    entry = _entry(*picked)
    full = run_entry(entry)
    printed = run_entry(entry, fingerprints=True)
    assert not mismatches(entry, printed), mismatches(entry, printed)
    assert printed.fingerprints and not full.fingerprints
    assert (printed.distinct_states, printed.transitions, printed.depth) == (
        full.distinct_states,
        full.transitions,
        full.depth,
    )
    assert printed.coverage == full.coverage
    assert _summary(printed) == _summary(full)  # verdicts, explanations, replayed traces
    assert printed.bytes_per_state is not None and printed.bytes_per_state > 16
    p = printed.collision_probability
    assert p is not None and 0 < p < 1e-9


def test_a_bounded_fingerprint_search_is_undetermined_like_the_full_one() -> None:
    cls = get_model("page_reporting")
    model = cls(make_config(cls, "upstream", {}))
    full = check(model, max_states=500)
    printed = check(model, max_states=500, fingerprints=True)
    assert printed.bound_hit == full.bound_hit == "max states 500"
    assert _summary(printed) == _summary(full)


def test_fingerprints_need_the_object_engine() -> None:
    cls = get_model("reference_buddy")
    with pytest.raises(UsageError, match="object engine"):
        check(cls(cls.Config()), engine="vector", fingerprints=True)


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    ONE = 1


def test_a_fingerprint_is_structural() -> None:
    a = (frozenset({"x", "yy", "zzz"}), Colour.RED, {"k": (1, 2)}, None, True)
    b = (frozenset({"zzz", "x", "yy"}), Colour.RED, {"k": (1, 2)}, None, True)
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint((1, 2)) != fingerprint((2, 1))
    assert fingerprint((1,)) != fingerprint([1])
    assert fingerprint("1") != fingerprint(1)
    # Equal values (as the full-state search's dict sees them) fingerprint alike.
    assert fingerprint(True) == fingerprint(1) == fingerprint(1.0) == fingerprint(Level.ONE)
    assert fingerprint({1, 2}) == fingerprint(frozenset({2, 1}))
    assert fingerprint(Colour.RED) != fingerprint(Colour.BLUE)
    shared = frozenset(range(10))
    fp = Fingerprinter()
    assert fp((shared, 1)) == fp((shared, 1)) == fingerprint((frozenset(range(10)), 1))
    with pytest.raises(UsageError, match="cannot fingerprint"):
        fingerprint(object())


def test_fingerprints_are_the_same_in_every_process() -> None:
    """``hash()`` of strings is salted per process; a fingerprint must not be."""
    code = (
        "from hintspec.engine.fingerprints import fingerprint\n"
        "from hintspec.lang.registry import get_model\n"
        "cls = get_model('page_reporting')\n"
        "m = cls(cls.Config())\n"
        "print(fingerprint((frozenset({'a', 'bb', 'ccc', 'dddd'}), 'e')))\n"
        "print(sorted(fingerprint(s) for s in m.initial_states()))\n"
    )
    outputs = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        outputs.add(done.stdout)
    assert len(outputs) == 1


def test_the_collision_bound() -> None:
    assert collision_probability(1) == 0.0
    assert collision_probability(2**32) == pytest.approx(0.5, rel=1e-6)
    assert collision_probability(2**40) == 1.0


def test_a_spilled_frontier_keeps_fifo_order() -> None:
    rng = random.Random(7)
    queue = SpillQueue(limit=8)
    model: deque[Any] = deque()
    counter = 0
    for _ in range(2000):
        if model and rng.random() < 0.45:
            assert queue.popleft() == model.popleft()
        else:
            queue.append((counter, frozenset({counter})))
            model.append((counter, frozenset({counter})))
            counter += 1
        assert len(queue) == len(model)
    while model:
        assert queue.popleft() == model.popleft()
    assert queue.spilled > 0
    queue.close()


def test_a_search_with_its_frontier_on_disk_gives_the_same_results() -> None:
    entry = _entry("page_reporting", "no_leftover_report", {})
    cls = get_model(entry.model)
    model = cls(make_config(cls, entry.variant, entry.config))
    full = check(model)
    spilled = check(model, fingerprints=True, spill_after=40)
    assert any("waited on disk" in note for note in spilled.notes)
    assert (spilled.distinct_states, spilled.transitions) == (
        full.distinct_states,
        full.transitions,
    )
    assert _summary(spilled) == _summary(full)
    with pytest.raises(UsageError, match="needs --fingerprints"):
        check(model, spill_after=40)


def test_a_fingerprint_counterexample_replays(tmp_path: Path) -> None:
    """The trace rebuilt from fingerprints, written as ITF, replays against the model."""
    run = [sys.executable, "-m", "hintspec"]
    entry = ["hinting_oom", "--variant", "percpu_spin", "--set", "ring=1"]
    done = subprocess.run(
        [*run, "check", *entry, "--fingerprints", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "64-bit fingerprints" in done.stdout and "probability of a collision" in done.stdout
    written = sorted(tmp_path.glob("*.itf.json"))
    assert written
    for itf in written:
        replayed = subprocess.run(
            [*run, "replay", str(itf)], capture_output=True, text=True, timeout=300
        )
        assert "no divergence" in replayed.stdout, replayed.stdout + replayed.stderr


def test_a_state_that_cannot_be_fingerprinted_is_bad_input() -> None:
    model = Counter(CounterConfig())
    model.initial_states = lambda: iter([CounterState(range(1))])  # type: ignore[method-assign,arg-type]
    with pytest.raises(UsageError, match="cannot fingerprint a state component of type range"):
        check(model, fingerprints=True)
