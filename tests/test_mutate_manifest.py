"""The mutation manifest (``models/manifest/mutation/<model>.json``) and a sample of it.

``hintspec mutate MODEL --update-manifest`` records, per checker, the mutants' classes and
the kill rate of the model's default design. On every change this test

* checks each record is consistent (the counts are those of its mutants, the rate is
  killed / (killed + survived)),
* requires every survivor to be explained (its ``triage`` and ``why``, see
  hintspec.manifests.mutation.TRIAGES), and
* replays a deterministic sample of the recorded kills -- a few mutants per model that the
  explorer killed through a safety property -- and requires each to be killed again, by
  one of the properties that killed it: a model edit that loses teeth shows up here.

The full run is a command (``hintspec mutate MODEL``; minutes to hours per model), not a
test. When a model's code changes, mutants of the changed code get new ids; the sample is
drawn among the recorded ids that still exist, and too few left means the record is
stale: run ``hintspec mutate MODEL --update-manifest`` again.

Only the models with a record are checked: a model being rewritten gets its record once
its code settles (a record of code that is about to change would only be stale).
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from hintspec.engine.mutate_ops import enumerate_mutants
from hintspec.engine.mutate_run import (
    CLASSES,
    explore_once,
    load_module,
    model_class,
    module_path,
)
from hintspec.engine.stateful import safety_properties
from hintspec.lang.registry import all_models, get_model
from hintspec.manifests.mutation import load_record, mutation_dir, run_configs, unexplained

MODELS = sorted(p.stem for p in mutation_dir().glob("*.json"))
SAMPLE = 3
"""Recorded kills replayed per model (a few seconds for every recorded model)."""


def test_each_record_is_of_a_model() -> None:
    assert MODELS, "no mutation record at all"
    assert set(MODELS) <= set(all_models()), "a mutation record of no model"


def _record(name: str) -> dict[str, Any]:
    doc = load_record(name)
    assert doc is not None and "explore" in doc.get("checkers", {}), (
        f"{name}: no mutation record; run `hintspec mutate {name} --update-manifest`"
    )
    assert doc["variant"] == get_model(name).Config().variant
    return doc


@pytest.mark.parametrize("name", MODELS)
def test_each_record_is_consistent(name: str) -> None:
    for checker, rec in _record(name)["checkers"].items():
        tally = dict.fromkeys(CLASSES, 0)
        for m in rec["mutants"].values():
            tally[m["outcome"]] += 1
        assert tally == rec["counts"], f"{name} {checker}: counts differ from the mutants"
        decided = tally["killed"] + tally["survived"]
        rate = round(tally["killed"] / decided, 4) if decided else None
        assert rec["kill_rate"] == rate
        assert sum(tally.values()) <= rec["enumerated"]
        if rec["sample"] is None:
            assert sum(tally.values()) == rec["enumerated"]


@pytest.mark.parametrize("name", MODELS)
def test_each_survivor_is_explained(name: str) -> None:
    for checker, rec in _record(name)["checkers"].items():
        missing = unexplained(rec)
        assert not missing, (
            f"{name} {checker}: {len(missing)} survivor(s) without a triage and a why in "
            f"models/manifest/mutation/{name}.json: " + "; ".join(missing[:5])
        )


def _sample(name: str) -> list[tuple[str, dict[str, Any]]]:
    cls = get_model(name)
    rec = _record(name)["checkers"]["explore"]
    current = {m.id for m in enumerate_mutants(module_path(cls).read_text(encoding="utf-8"))}
    safety = safety_properties(cls)
    kills = sorted(
        (mid, m)
        for mid, m in rec["mutants"].items()
        if m["outcome"] == "killed" and mid in current and safety & set(m.get("by", []))
    )
    recorded = sum(1 for m in rec["mutants"].values() if m["outcome"] == "killed")
    want = min(SAMPLE, recorded)
    assert len(kills) >= want, (
        f"{name}: the mutation record is stale (its kills no longer exist as mutants); "
        f"run `hintspec mutate {name} --update-manifest`"
    )
    return random.Random(0).sample(kills, want)


@pytest.mark.parametrize("name", MODELS)
def test_a_sample_of_the_recorded_kills_is_still_killed(name: str) -> None:
    cls = get_model(name)
    variant = cls.Config().variant
    path = module_path(cls)
    source = path.read_text(encoding="utf-8")
    configs = {c.label: c for c in run_configs(name, variant, None)[0]}
    mutants = {m.id: m for m in enumerate_mutants(source)}
    for mid, rec in _sample(name):
        m = mutants[mid]
        mutant_cls = model_class(load_module(m.apply(source), str(path), name), name)
        cfg = configs[rec["config"]]
        _, _, result = explore_once(mutant_cls, variant, cfg, timeout=120, stop_after_violation=1)
        found = set(result.failing)
        assert found & set(rec["by"]), (
            f"{name}: mutant {mid} ({m.function} line {m.line}, {m.operator}: "
            f"{m.description}) was killed by {rec['by']} at [{rec['config']}]; now "
            + (f"only by {sorted(found)}" if found else "it survives")
        )
