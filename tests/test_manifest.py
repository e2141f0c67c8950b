"""Every manifest entry, run afresh, gives exactly the recorded verdict, failing properties,
distinct states, transitions and depth (slow entries are covered by `check --all
--include-slow`)."""

from __future__ import annotations

import pytest
from hintspec.lang.registry import all_models
from hintspec.manifests.explorer import load_manifest, mismatches, run_entry

ENTRIES = [e for e in load_manifest() if not e.slow]


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.label for e in ENTRIES])
def test_entry_matches_the_manifest(entry) -> None:
    result = run_entry(entry)
    assert not mismatches(entry, result), "\n".join(mismatches(entry, result))


def test_every_entry_records_the_figures() -> None:
    for entry in load_manifest():
        missing = {"verdict", "failing", "distinct_states", "transitions", "depth"} - set(
            entry.expect
        )
        assert not missing, f"{entry.label} lacks {sorted(missing)}"


def test_every_model_and_variant_is_in_the_manifest() -> None:
    covered = {(e.model, e.variant) for e in load_manifest()}
    for name, cls in all_models().items():
        for variant in cls.variants:
            assert (name, variant) in covered, f"{name}/{variant} has no manifest entry"


def test_bad_variants_are_violated_and_upstream_holds_or_is_explained() -> None:
    """A bad variant is violated. The upstream design holds at its default config; where
    it is violated elsewhere (a finding, a witness that the config rules out) the entry's
    note must say why, so a reviewer never meets an unexplained red cell."""
    for entry in load_manifest():
        if entry.variant in all_models()[entry.model].designs:
            continue  # a design under comparison: the entry records the model's answer
        if entry.variant == "upstream":
            if not entry.config:
                assert entry.expect["verdict"] == "holds", entry.label
            elif entry.expect["verdict"] != "holds":
                assert len(entry.note) > 20, f"{entry.label}: violated upstream without a note"
        else:
            assert entry.expect["verdict"] == "violated", entry.label
            assert entry.expect["failing"], entry.label
