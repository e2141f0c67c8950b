"""The proof manifest: the expected Z3 result of every encoded model, design and size.

The counterpart of :mod:`hintspec.manifests.explorer` for ``hintspec prove``: one JSON file
per model under ``properties/proofs/manifest/<model>.json``. Each entry records a check -- a
k-induction
proof (``"check": "prove"``) or a bounded search (``"check": "bmc"``) -- at one variant and
configuration, and what it must give: the verdict, and for a refutation the property broken
and the trace length; for a proof the strengthening lemmas it needed. ``hintspec prove
--all`` and ``tests/test_proof_manifest.py`` compare fresh runs with it, so a change to an
encoding or a model that changes a proof shows up in review.

An entry::

    {"variant": "upstream", "config": {"frames": 1024}, "check": "prove", "k": 1,
     "expect": {"verdict": "proven", "lemmas": []},
     "slow": false, "note": "why this entry exists"}

    {"variant": "alloc_keeps_reported", "config": {"frames": 64}, "check": "bmc",
     "depth": 6, "expect": {"verdict": "refuted", "failing":
     "reported is set only on heads of free blocks", "trace_length": 3}}

No vacuous proofs. A proof at a configuration where its property cannot fail in *any*
design ("no OOM" with too little demand to run out of memory) proves nothing. So a proven
entry is paired with its *twins*: for every property it proves, an entry of another variant
at the same configuration that is refuted on that property (a BMC trace). ``hintspec prove
--all`` checks the pairing over the entries it ran (:func:`missing_twins`): a property with
no refuted twin is flagged ``vacuous?``, and for an encoding with ``require_twins`` that is
a mismatch (exit 1). A proof whose inductive invariant needs every property, but which is
*about* some of them, names those (``"claims": [...]``): only they need twins. Each proof
also searches for a reachable state satisfying each implication's premise
(:meth:`hintspec.smt.Encoding.premises`); one not reached is a mismatch too.

A bad variant that breaks only liveness properties cannot be refuted by a bounded search of
safety properties; its entry says ``"check": "liveness"`` and records why (the explorer's
manifest checks it), so every variant of every encoded model is accounted for.
"""

from __future__ import annotations

import dataclasses
from importlib import resources
from pathlib import Path
from typing import Any

from hintspec.lang.configs import config_label, make_config
from hintspec.lang.errors import UsageError
from hintspec.lang.registry import get_model
from hintspec.manifests.explorer import manifest_entries
from hintspec.smt import ProofResult, bmc, encoding_for, encodings, prove

CHECKS = ("prove", "bmc", "liveness")


@dataclasses.dataclass
class ProofEntry:
    model: str
    variant: str
    config: dict[str, Any]
    check: str
    """``prove`` (k-induction), ``bmc`` (bounded search), or ``liveness`` (not a Z3 check)."""
    expect: dict[str, Any]
    k: int = 1
    depth: int | None = None
    """BMC bound (default: the encoding's ``bmc_depth``)."""
    properties: list[str] | None = None
    """Only these properties (default: every encoded one)."""
    claims: list[str] | None = None
    """A proof: the properties it is *about*, each needing a refuted twin (default: every
    property it proves). The others are proven too, as part of the inductive invariant
    (which may need them), but the entry makes no claim that they are falsifiable there."""
    slow: bool = False
    note: str = ""

    @property
    def label(self) -> str:
        cfg = " ".join(f"{k}={v}" for k, v in self.config.items()) or "defaults"
        return f"{self.model}/{self.variant} [{cfg}] {self.check}"


def manifest_dir() -> Path:
    return Path(str(resources.files("hintspec.properties.proofs").joinpath("manifest")))


def load_proof_manifest(directory: Path | None = None) -> list[ProofEntry]:
    """Every entry of every model's proof manifest, in file-name order."""
    entries: list[ProofEntry] = []
    for model, raw in manifest_entries(directory or manifest_dir(), "proof manifest"):
        check = raw.get("check", "prove")
        if check not in CHECKS:
            raise UsageError(
                f"proof manifest of {model}: check must be one of {', '.join(CHECKS)}, "
                f"not {check!r}"
            )
        entries.append(
            ProofEntry(
                model=model,
                variant=raw.get("variant", "upstream"),
                config=dict(raw.get("config", {})),
                check=check,
                expect=dict(raw.get("expect", {})),
                k=int(raw.get("k", 1)),
                depth=raw.get("depth"),
                properties=raw.get("properties"),
                claims=raw.get("claims"),
                slow=bool(raw.get("slow", False)),
                note=str(raw.get("note", "")),
            )
        )
    return entries


def run_proof_entry(entry: ProofEntry, *, timeout: float | None = None) -> ProofResult | None:
    """Run one entry (None for a ``liveness`` entry: nothing for Z3 to run)."""
    if entry.check == "liveness":
        return None
    cls = get_model(entry.model)
    enc = encoding_for(cls(make_config(cls, entry.variant, entry.config)))
    if entry.check == "bmc":
        depth = enc.bmc_depth if entry.depth is None else entry.depth
        return bmc(enc, depth, properties=entry.properties, timeout=timeout)
    return prove(enc, properties=entry.properties, k=entry.k, timeout=timeout)


def observed(result: ProofResult) -> dict[str, Any]:
    """What a proof-manifest entry records of a result."""
    out: dict[str, Any] = {"verdict": result.verdict.value}
    if result.trace is not None:
        out["failing"] = result.trace.prop
        out["trace_length"] = len(result.trace)
    else:
        out["lemmas"] = sorted(result.lemmas)
    return out


def mismatches(entry: ProofEntry, result: ProofResult | None) -> list[str]:
    """How ``result`` differs from what the entry expects (empty: it matches); a proof
    whose premise search found no reachable state for some premise does not match."""
    if result is None:
        return []
    got = observed(result)
    out = [f"vacuous? premise of {p!r} not reached" for p in result.vacuous]
    for key, want in entry.expect.items():
        have = got.get(key)
        if key == "lemmas":
            want = sorted(want)
        if have != want:
            out.append(f"{key}: expected {want}, got {have}")
    return out


def missing_twins(
    runs: list[tuple[ProofEntry, ProofResult | None]],
) -> dict[str, list[str]]:
    """For each proven entry among ``runs`` (by label): the properties it proves that no
    entry of *another* variant of the same model, at the same configuration, refutes in
    ``runs`` -- the properties that may be true at that size whatever the design does."""
    refuted: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for entry, result in runs:
        if result is not None and result.trace is not None and result.trace.prop is not None:
            key = (entry.model, config_label(result.config))
            refuted.setdefault(key, set()).add((entry.variant, result.trace.prop))
    out: dict[str, list[str]] = {}
    for entry, result in runs:
        if result is None or result.verdict.value != "proven":
            continue
        twins = refuted.get((entry.model, config_label(result.config)), set())
        claimed = entry.claims if entry.claims is not None else result.properties
        lonely = [p for p in claimed if not any(v != entry.variant and q == p for v, q in twins)]
        if lonely:
            out[entry.label] = lonely
    return out


def twins_required(model_name: str) -> bool:
    """Whether ``prove --all`` fails a proof of this model that has no refuted twin (the
    encoding's ``require_twins``)."""
    enc_cls = encodings().get(model_name)
    return bool(enc_cls is not None and enc_cls.require_twins)


def report_proofs(model_name: str, timeout: float | None = None) -> list[ProofResult]:
    """What ``hintspec report`` shows for a model (its Z3 column): the non-slow entries of
    its proof manifest (``properties/proofs/manifest/``: proofs of the good designs, BMC
    refutations of the bad ones; ``liveness`` entries are the explorer's business). Without
    a manifest, the proof of each good design (``proved_variants``) at the encoding's
    ``report_config`` and a BMC search for every other variant at its
    ``report_bmc_config``. Empty for a model with no encoding."""
    found = encodings()
    if model_name not in found:
        return []
    entries = [e for e in load_proof_manifest() if e.model == model_name and not e.slow]
    out: list[ProofResult] = []
    if entries:
        for entry in entries:
            result = run_proof_entry(entry, timeout=timeout)
            if result is not None:
                out.append(result)
    else:
        enc_cls = found[model_name]
        cls = get_model(model_name)
        for variant in enc_cls.variants:
            if variant in enc_cls.proved_variants:
                model = cls(make_config(cls, variant, dict(enc_cls.report_config)))
                out.append(prove(enc_cls(model), timeout=timeout))
            else:
                model = cls(make_config(cls, variant, dict(enc_cls.report_bmc_config)))
                bad = enc_cls(model)
                out.append(bmc(bad, bad.bmc_depth, timeout=timeout))
    for result in out:
        if result.trace is not None and result.trace.prop is not None:
            # A refutation is about the property it breaks, not every one searched for.
            result.properties = [result.trace.prop]
    return out
