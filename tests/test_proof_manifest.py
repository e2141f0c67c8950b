"""The proof manifest (properties/proofs/manifest/): every recorded Z3 result still holds,
and every variant of every encoded model is accounted for."""

from __future__ import annotations

from pathlib import Path

import pytest
from hintspec.cli.app import main
from hintspec.lang.configs import make_config
from hintspec.lang.errors import UsageError
from hintspec.lang.model import PropertyKind
from hintspec.lang.registry import get_model
from hintspec.manifests.explorer import load_manifest
from hintspec.manifests.proofs import (
    ProofEntry,
    load_proof_manifest,
    mismatches,
    missing_twins,
    run_proof_entry,
    twins_required,
)
from hintspec.smt import ProofResult, ProofVerdict, encodings, invariant_properties
from hintspec.traces.trace import Trace

ENTRIES = load_proof_manifest()


@pytest.mark.parametrize(
    "entry", [e for e in ENTRIES if not e.slow and e.check != "liveness"], ids=lambda e: e.label
)
def test_every_recorded_proof_result_still_holds(entry: ProofEntry) -> None:
    result = run_proof_entry(entry)
    assert result is not None
    assert not mismatches(entry, result), mismatches(entry, result)
    if result.trace is not None:
        from hintspec.traces.replay import replay

        outcome = replay(result.trace)
        assert outcome.ok, outcome.message


@pytest.mark.parametrize("model_name", sorted(encodings()))
def test_every_always_property_is_encoded_or_listed_with_why(model_name: str) -> None:
    enc_cls = encodings()[model_name]
    cls = get_model(model_name)
    enc = enc_cls(cls(make_config(cls, enc_cls.proved_variants[0], {})))
    encoded = set(enc.invariants())
    left_out = set(enc_cls.properties_not_encoded)
    assert set(invariant_properties(enc.model)) == encoded | left_out
    assert not encoded & left_out
    assert all(why.strip() for why in enc_cls.properties_not_encoded.values())


@pytest.mark.parametrize("model_name", sorted(encodings()))
def test_every_variant_of_an_encoded_model_has_an_entry(model_name: str) -> None:
    enc_cls = encodings()[model_name]
    mine = [e for e in ENTRIES if e.model == model_name]
    model_variants = set(get_model(model_name).variants)
    left_out = set(enc_cls.variants_not_encoded)
    assert set(enc_cls.variants) | left_out == model_variants, (
        f"{model_name}: variants neither encoded nor listed as not encoded: "
        f"{sorted(model_variants - set(enc_cls.variants) - left_out)}"
    )
    assert not set(enc_cls.variants) & left_out
    assert all(why.strip() for why in enc_cls.variants_not_encoded.values())
    assert not {e.variant for e in mine} & left_out, "an entry for a variant not encoded"
    for variant in enc_cls.variants:
        checks = {e.check for e in mine if e.variant == variant}
        if variant in enc_cls.proved_variants:
            assert any(
                e.check == "prove" and e.expect.get("verdict") == "proven" and not e.slow
                for e in mine
                if e.variant == variant
            ), f"{model_name}/{variant}: a good design needs a (non-slow) proof entry"
        else:
            assert checks & {"bmc", "liveness"}, (
                f"{model_name}/{variant}: a bad variant needs a BMC refutation or a liveness entry"
            )


def _expected(entry: ProofEntry) -> ProofResult | None:
    """The result the entry records, without running it (the test above runs it)."""
    if entry.check == "liveness":
        return None
    cls = get_model(entry.model)
    config = make_config(cls, entry.variant, entry.config)
    enc_cls = encodings()[entry.model]
    props = entry.properties or list(enc_cls(cls(config)).invariants())
    verdict = ProofVerdict(entry.expect["verdict"])
    result = ProofResult(verdict, entry.model, entry.variant, config, props, [], entry.k, "")
    if "failing" in entry.expect:
        result.trace = Trace(entry.model, config, [], prop=entry.expect["failing"])
    return result


@pytest.mark.parametrize("model_name", [m for m in sorted(encodings()) if twins_required(m)])
@pytest.mark.parametrize("slow", [False, True], ids=["default", "include-slow"])
def test_every_proof_has_a_refuted_twin(model_name: str, slow: bool) -> None:
    """No vacuous proof: for each property a proven entry proves, another variant is
    refuted on it at the same configuration, among the entries prove --all runs."""
    runs = [(e, _expected(e)) for e in ENTRIES if e.model == model_name and (slow or not e.slow)]
    assert not missing_twins(runs), missing_twins(runs)


def test_a_proof_without_a_twin_is_flagged() -> None:
    proof = next(e for e in ENTRIES if e.expect.get("verdict") == "proven")
    runs = [(proof, _expected(proof))]
    expected = _expected(proof)
    assert expected is not None
    assert missing_twins(runs) == {proof.label: proof.claims or expected.properties}


def test_a_liveness_entry_names_a_variant_that_breaks_only_liveness() -> None:
    """A bad variant may skip BMC only if the explorer shows it breaks no safety property."""
    explorer = load_manifest()
    for entry in [e for e in ENTRIES if e.check == "liveness"]:
        cls = get_model(entry.model)
        always = {p.name for p in cls.properties_of(PropertyKind.ALWAYS)}
        runs = [e for e in explorer if e.model == entry.model and e.variant == entry.variant]
        failing = {p for e in runs for p in e.expect.get("failing", [])}
        assert failing, f"{entry.label}: the explorer's manifest shows no violation"
        assert not failing & always, f"{entry.label}: it breaks a safety property too"
        assert entry.note, f"{entry.label}: say which liveness property it breaks"


def test_a_corrupt_proof_manifest_is_one_line_of_bad_input(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(UsageError, match="not valid JSON"):
        load_proof_manifest(tmp_path)
    (tmp_path / "x.json").write_text(
        '{"model": "reference_buddy", "entries": [{"check": "maybe"}]}', encoding="utf-8"
    )
    with pytest.raises(UsageError, match="check must be one of"):
        load_proof_manifest(tmp_path)


def test_prove_all_runs_the_manifest(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prove", "--all", "--only", "reference_buddy"]) == 0
    out = capsys.readouterr().out
    assert "reference_buddy  upstream" in out
    assert " as expected, 0 not as expected" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["prove"],
        ["prove", "--all", "reference_buddy"],
        ["prove", "reference_buddy", "--only", "reference_buddy"],
        ["prove", "--all", "--only", "no_such_model"],
    ],
)
def test_prove_all_bad_usage_exits_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
