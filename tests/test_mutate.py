"""``hintspec mutate``: the operators, the oracle's classes, the baseline gate, patches."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import toy_mutation
from hintspec.cli.app import main
from hintspec.engine.fuzzing import teeth_fuzzer
from hintspec.engine.mutate import mutate, run_mutant, select
from hintspec.engine.mutate_ops import OPERATORS, enumerate_mutants
from hintspec.engine.mutate_patches import PatchError, apply_patch, external_mutant
from hintspec.engine.mutate_run import (
    EQUIVALENT,
    INVALID,
    KILLED,
    SURVIVED,
    TIMEOUT,
    BudgetExceeded,
    RunConfig,
    load_module,
    model_class,
    time_limit,
)
from hintspec.engine.stateful import safety_properties
from hintspec.lang.errors import UsageError
from hintspec.lang.registry import all_models, get_model
from hintspec.manifests.mutation import (
    explorer_kills,
    load_record,
    recorded_triage,
    unexplained,
    update_record,
)
from hintspec.outputs.mutation import render_html, render_text

PATH = str(Path(toy_mutation.__file__).resolve())
SOURCE = Path(PATH).read_text(encoding="utf-8")
CONFIGS = [RunConfig({}, "defaults", budget=20.0), RunConfig({"capacity": 1}, "capacity=1")]


def _mutants(**match: str) -> list:
    return [
        m
        for m in enumerate_mutants(SOURCE)
        if all(getattr(m, k) == v or v in getattr(m, k) for k, v in match.items())
    ]


def _one(**match: str):
    found = _mutants(**match)
    assert found, f"no mutant matches {match}"
    return found[0]


def _run(mutants, variant: str = "upstream", configs=CONFIGS):
    return mutate(
        toy_mutation.Ring,
        variant=variant,
        configs=configs,
        skipped=[],
        mutants=mutants,
        enumerated=len(mutants),
        source=SOURCE,
        path=PATH,
        jobs=2,
    )


# -- the operators -------------------------------------------------------------------------


def test_enumeration_is_deterministic_and_covers_every_operator() -> None:
    first = enumerate_mutants(SOURCE)
    assert [m.id for m in first] == [m.id for m in enumerate_mutants(SOURCE)]
    ops = {m.operator for m in first}
    assert ops >= set(OPERATORS) - {"weaken-fairness"}  # no strong fairness in the toy
    for m in first:
        compile(m.apply(SOURCE), PATH, "exec")  # every mutant is valid Python


def test_properties_labels_presentation_and_variant_switches_are_not_mutated() -> None:
    mutants = enumerate_mutants(SOURCE)
    functions = {m.function for m in mutants}
    # _room and is_terminal have nothing to mutate
    assert functions == {"Ring.initial_states", "Ring.put", "Ring.take", "Ring.poll"}
    touched = [SOURCE[e.start : e.end] for m in mutants for e in m.edits]
    assert not any('"overfill"' in t and "!=" in t and "and" not in t for t in touched)
    labels = []  # the spans of a step's label, {"token": ...}
    at = SOURCE.find('{"token"')
    while at >= 0:
        labels.append((at, SOURCE.index("}", at)))
        at = SOURCE.find('{"token"', at + 1)
    edits = [e for m in mutants for e in m.edits if m.operator in ("plus-one", "minus-one")]
    assert edits and not any(lo <= e.start <= hi for e in edits for lo, hi in labels)


def test_ids_survive_an_edit_elsewhere_in_the_file() -> None:
    edited = SOURCE.replace("class Mode(enum.Enum):", "# a comment\n\nclass Mode(enum.Enum):")
    assert [m.id for m in enumerate_mutants(edited)] == [m.id for m in enumerate_mutants(SOURCE)]


def test_a_first_binding_is_neither_deleted_nor_swapped_after_its_use() -> None:
    deleted = [m.description for m in _mutants(operator="delete", function="Ring.put")]
    assert deleted == ["assignment deleted: spare = spare + 0 -> pass"]
    swaps = _mutants(operator="swap", function="Ring.put")
    assert not any("spare = 0 <-> spare = spare + 0" in m.description for m in swaps)


def test_the_diff_is_minimal_and_names_the_model_file() -> None:
    m = _one(operator="negate", function="Ring.take")
    diff = m.diff(SOURCE, "models/toy_mutation.py")
    assert diff.startswith("--- a/models/toy_mutation.py\n+++ b/models/toy_mutation.py\n")
    assert [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in "---+++"]
    assert sum(1 for line in diff.splitlines() if line.startswith("-") and line[1:2] != "-") == 1


def test_a_sample_is_chosen_by_its_seed() -> None:
    mutants = enumerate_mutants(SOURCE)
    a = select(mutants, 5, seed=1)
    assert [m.id for m in a] == [m.id for m in select(mutants, 5, seed=1)]
    assert [m.id for m in a] != [m.id for m in select(mutants, 5, seed=2)]
    assert len(a) == 5 and select(mutants, None, 0) == mutants


# -- the oracle -------------------------------------------------------------------------------


def test_each_class_of_outcome() -> None:
    chosen = {
        "killed": _one(operator="boundary", function="Ring.put"),
        "equivalent": _one(operator="delete", function="Ring.put"),
        "unreached": _one(operator="stop-yielding", function="Ring.take"),
        "survived": _one(operator="disable", function="Ring.poll"),
        "invalid": _one(operator="negate", function="Ring.take", description="not s.ring"),
    }
    run = _run(list(chosen.values()))
    by = {name: next(r for r in run.results if r.mutant.id == m.id) for name, m in chosen.items()}
    killed = by["killed"]
    assert killed.outcome == KILLED
    assert killed.killers == ["the ring holds at most its capacity"]
    assert killed.trace_length == 2 and killed.config == "capacity=1"  # the smaller config first
    assert "'the ring holds at most its capacity' (2 steps)" in killed.kills[0].trace
    assert by["equivalent"].outcome == EQUIVALENT
    assert "same labelled state graph" in by["equivalent"].reason
    assert by["unreached"].outcome == EQUIVALENT
    assert "never runs" in by["unreached"].reason
    assert by["survived"].outcome == SURVIVED
    assert by["invalid"].outcome == INVALID and "IndexError" in by["invalid"].reason
    assert run.counts() == {"killed": 1, "survived": 1, "equivalent": 2, "timeout": 0, "invalid": 1}
    assert run.kill_rate == 0.5
    attribution = run.attribution()
    assert attribution["the ring holds at most its capacity"] == (1, 1)
    assert attribution["tokens are taken in the order they were put"] == (0, 0)


def test_the_fuzz_checker_kills_with_a_trace_and_says_when_it_misses() -> None:
    overfill = _one(operator="boundary", function="Ring.put")
    common = {"variant": "upstream", "configs": CONFIGS, "skipped": [], "source": SOURCE}
    run = mutate(
        toy_mutation.Ring,
        mutants=[overfill],
        enumerated=1,
        path=PATH,
        checker="fuzz",
        fuzzer=teeth_fuzzer("ci"),
        **common,
    )
    (killed,) = run.results
    assert killed.outcome == KILLED and killed.killers == ["the ring holds at most its capacity"]

    def blind(model):  # a fuzzer that never finds anything
        return None, 0.0

    run = mutate(
        toy_mutation.Ring,
        mutants=[overfill],
        enumerated=1,
        path=PATH,
        checker="fuzz",
        fuzzer=blind,
        distinct=frozenset({overfill.id}),
        **common,
    )
    (missed,) = run.results
    assert missed.outcome == SURVIVED
    assert "the fuzzer found no violation" in missed.reason and "explorer kills it" in missed.reason


def test_dropping_a_fairness_shows_which_verdict_needs_it() -> None:
    take = _one(operator="drop-fairness", description="action take")
    put = _one(operator="drop-fairness", description="action put")
    run = _run([take, put])
    by = {r.mutant.id: r for r in run.results}
    # without take's fairness, polling for ever starves the consumer (a lasso)
    assert by[take.id].outcome == KILLED
    assert by[take.id].killers == ["a token put is eventually taken"]
    assert "fair cycle" in by[take.id].kills[0].trace
    # put is never enabled on a cycle: no verdict depends on its fairness
    assert by[put.id].outcome == SURVIVED
    assert "no liveness verdict depends on this fairness" in by[put.id].reason


def test_an_equivalent_swap_is_told_from_a_surviving_change() -> None:
    swap = _one(operator="swap", function="Ring.put", description="if s.sent ==")
    poll = _one(operator="negate", function="Ring.poll", description="not s.ring")
    run = _run([swap, poll])
    by = {r.mutant.id: r for r in run.results}
    assert by[swap.id].outcome == EQUIVALENT
    assert by[poll.id].outcome == SURVIVED
    assert "state graph differs at [capacity=1], [defaults]" in by[poll.id].reason


def test_a_mutant_that_loops_for_ever_is_a_timeout() -> None:
    looping = SOURCE.replace(
        "        spare = spare + 0\n", "        while True:\n            pass\n"
    )
    m = external_mutant("loops", SOURCE, _patch(SOURCE, looping))
    cfg = [RunConfig({}, "defaults", budget=1.0)]
    run = _run([m], configs=cfg)
    assert run.results[0].outcome == TIMEOUT
    assert "did not return" in run.results[0].reason


def test_a_budget_whose_raise_was_swallowed_raises_again() -> None:
    # Python swallows an exception raised in a gc callback or a __del__; the budget must
    # still end the block
    hook = sys.unraisablehook
    raised = 0
    with pytest.raises(BudgetExceeded), time_limit(0.05):
        while True:
            try:
                time.sleep(0.01)
            except BudgetExceeded:
                raised += 1
                if raised == 2:
                    raise
    assert raised == 2 and sys.unraisablehook is hook


def test_a_config_built_from_strings_uses_the_mutants_own_enums() -> None:
    # each load is its own module: a Config parsed against another load's enum would make
    # `mode is not Mode.STRICT` true and take disabled (a kill that is not one)
    m = _one(operator="delete", function="Ring.put")
    cfg = [RunConfig({"mode": "STRICT"}, "mode=STRICT", budget=20.0)]
    assert _run([m], configs=cfg).results[0].outcome == EQUIVALENT
    first = load_module(SOURCE, PATH, "toy_ring")
    second = load_module(SOURCE, PATH, "toy_ring")
    assert first.__name__ != second.__name__ and first.__name__ in sys.modules


def test_the_baseline_gate_refuses_a_broken_design() -> None:
    broken = r"does not hold at \[defaults\] \(the ring holds at most its capacity\)"
    with pytest.raises(UsageError, match=broken):
        _run(enumerate_mutants(SOURCE)[:1], variant="overfill")


def test_a_build_failure_is_invalid_not_killed() -> None:
    m = external_mutant(
        "broken", SOURCE, _patch(SOURCE, SOURCE.replace("def _room(", "def _room((("))
    )
    result = run_mutant(
        m,
        model="toy_ring",
        variant="upstream",
        source=SOURCE,
        path=PATH,
        bases=[],
        checker="explore",
    )
    assert result.outcome == INVALID and "does not compile" in result.reason
    cls = model_class(load_module(SOURCE, PATH, "toy_ring"), "toy_ring")
    assert cls.name == "toy_ring" and "toy_ring" not in all_models()


# -- patches ------------------------------------------------------------------------------------


def _patch(before: str, after: str) -> str:
    import difflib

    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            "a/models/toy_mutation.py",
            "b/models/toy_mutation.py",
        )
    )


def test_a_patch_applies_at_an_offset_and_a_stale_one_is_refused() -> None:
    after = SOURCE.replace("<= 0", "< 0")
    diff = _patch(SOURCE, after)
    shifted = "# one more line\n" + SOURCE
    assert apply_patch(shifted, diff) == "# one more line\n" + after
    with pytest.raises(PatchError, match="does not match"):
        apply_patch(SOURCE.replace("<= 0", "<= 1"), diff)


def test_cli_runs_patches_and_writes_json_and_html(tmp_path: Path, capsys) -> None:
    patches = tmp_path / "bugs"
    patches.mkdir()
    source = Path(sys.modules[all_models()["reference_buddy"].__module__].__file__).resolve()
    text = source.read_text(encoding="utf-8")
    bug = text.replace("reported = reported - {head}", "reported = reported")
    assert bug != text
    diff = _patch(text, bug).replace("toy_mutation.py", "reference_buddy.py")
    (patches / "alloc-keeps-reported.diff").write_text(diff)
    out_json, out_html = tmp_path / "m.json", tmp_path / "m.html"
    code = main(
        [
            "mutate",
            "reference_buddy",
            "--from",
            str(patches),
            "--jobs",
            "1",
            "--json",
            str(out_json),
            "--html",
            str(out_html),
        ]
    )
    text_out = capsys.readouterr().out
    assert code == 0
    assert "kill rate 1/1 = 100.0%" in text_out
    assert "not the probability that the model is correct" in text_out
    doc = json.loads(out_json.read_text())
    (mutant,) = doc["mutants"]
    assert mutant["id"] == "alloc-keeps-reported" and mutant["outcome"] == "killed"
    assert mutant["killers"] == ["reported is set only on heads of free blocks"]
    page = out_html.read_text()
    assert "<script" not in page and "Counterexample" in page and "alloc-keeps-reported" in page


def test_cli_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys) -> None:
    (tmp_path / "x.diff").write_text(
        "--- a/models/other.py\n+++ b/models/other.py\n@@ -1 +1 @@\n-a\n+b\n"
    )
    cases = [
        ["mutate", "no_such_model"],
        ["mutate", "reference_buddy", "--variant", "nope"],
        ["mutate", "reference_buddy", "--from", str(tmp_path)],
        ["mutate", "reference_buddy", "--from", str(tmp_path / "missing")],
        ["mutate", "reference_buddy", "--operators", "explode"],
        ["mutate", "reference_buddy", "--variant", "isolate_ignores_cap"],
        ["mutate", "reference_buddy", "--checker", "prove"],
        ["mutate", "reference_buddy", "--killed-within", "12", "--update-manifest"],
    ]
    for argv in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("hintspec: error: "), (argv, err)


def test_cli_list_prints_the_mutants_without_running_them(capsys) -> None:
    assert main(["mutate", "reference_buddy", "--list", "--sample", "3", "--seed", "7"]) == 0
    out = capsys.readouterr().out
    assert out.strip().endswith("3 of 85 mutants") or "3 of " in out
    assert out.count("--- a/models/reference_buddy.py") == 3


def test_cli_killed_within_lists_the_short_safety_kills_of_the_record(capsys) -> None:
    kills = explorer_kills("reference_buddy", 3, safety_properties(get_model("reference_buddy")))
    assert kills and max(kills.values()) <= 3
    assert main(["mutate", "reference_buddy", "--list", "--killed-within", "3"]) == 0
    out = capsys.readouterr().out
    listed = {
        line.split()[0] for line in out.splitlines() if line[:1].isalnum() and " line " in line
    }
    assert listed == set(kills)
    assert out.strip().endswith(f"{len(kills)} of {len(kills)} mutants")


def test_a_rerun_keeps_the_triage_of_each_survivor(tmp_path: Path) -> None:
    run = _run([_one(operator="disable", function="Ring.poll")])
    survivors = [r.mutant.id for r in run.survivors]
    assert len(survivors) == 1
    path = update_record(run, tmp_path)
    doc = json.loads(path.read_text())
    record = doc["checkers"]["explore"]
    assert len(unexplained(record)) == len(survivors)
    for mid in survivors:
        record["mutants"][mid].update(triage="accepted", why="a reason")
    path.write_text(json.dumps(doc))
    update_record(run, tmp_path)
    again = load_record("toy_ring", tmp_path)
    assert again is not None and not unexplained(again["checkers"]["explore"])
    assert again["checkers"]["explore"]["mutants"][survivors[0]]["why"] == "a reason"
    triage = recorded_triage("toy_ring", "upstream", "explore", tmp_path)
    assert triage == {survivors[0]: "accepted: a reason"}
    assert recorded_triage("toy_ring", "overfill", "explore", tmp_path) == {}
    assert "    triage: accepted: a reason" in render_text(run, diffs={}, triage=triage)
    assert "triage: accepted: a reason" in render_html(run, diffs={}, triage=triage)


# -- on a Dask cluster ------------------------------------------------------------------------


def test_mutants_on_a_local_dask_cluster_get_the_outcomes_of_the_local_run(
    local_dask_cluster: Any,
) -> None:
    looping = SOURCE.replace(
        "        spare = spare + 0\n", "        while True:\n            pass\n"
    )
    chosen = [
        _one(operator="boundary", function="Ring.put"),
        _one(operator="delete", function="Ring.put"),
        _one(operator="disable", function="Ring.poll"),
        _one(operator="negate", function="Ring.take", description="not s.ring"),
        external_mutant("loops", SOURCE, _patch(SOURCE, looping)),
    ]
    configs = [RunConfig({}, "defaults", budget=2.0), RunConfig({"capacity": 1}, "capacity=1")]
    local = _run(chosen, configs=configs)
    remote = mutate(
        toy_mutation.Ring,
        variant="upstream",
        configs=configs,
        skipped=[],
        mutants=chosen,
        enumerated=len(chosen),
        source=SOURCE,
        path=PATH,
        address=local_dask_cluster.scheduler_address,
    )
    assert [r.mutant.id for r in remote.results] == [r.mutant.id for r in local.results]
    assert [r.outcome for r in remote.results] == [r.outcome for r in local.results]
    assert [r.killers for r in remote.results] == [r.killers for r in local.results]
    assert [r.outcome for r in remote.results] == [KILLED, EQUIVALENT, SURVIVED, INVALID, TIMEOUT]
