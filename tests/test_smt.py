"""Z3 proofs and bounded model checking (spec/smt/, properties/proofs/, hintspec prove)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import z3
from hintspec.cli.app import main
from hintspec.lang.configs import make_config
from hintspec.lang.errors import UsageError
from hintspec.lang.registry import get_model
from hintspec.properties.proofs.reference_buddy import ReferenceBuddyEncoding
from hintspec.smt import (
    Encoding,
    Forall,
    Pred,
    ProofVerdict,
    Vars,
    bmc,
    encoding_for,
    prove,
)
from hintspec.traces.files import read_itf
from hintspec.traces.replay import replay

REPORTED = "reported is set only on heads of free blocks"
OWNERSHIP = "every frame is in exactly one aligned block"
CAPPED = "at most CAP blocks are isolated"


def buddy_encoding(variant: str = "upstream", frames: int = 64) -> Encoding[Any]:
    cls = get_model("reference_buddy")
    return encoding_for(cls(make_config(cls, variant, {"frames": frames})))


@pytest.mark.parametrize(
    ("variant", "prop", "steps"),
    [
        ("alloc_keeps_reported", REPORTED, 3),
        ("isolate_ignores_cap", CAPPED, 3),
        ("merge_keeps_reported", REPORTED, 4),
    ],
)
def test_bmc_finds_each_bad_variant_at_64_frames_and_the_trace_replays(
    variant: str, prop: str, steps: int
) -> None:
    result = bmc(buddy_encoding(variant), 6)
    assert result.verdict is ProofVerdict.REFUTED
    assert result.trace is not None
    assert result.trace.prop == prop
    assert len(result.trace) == steps
    assert result.depth == steps
    assert result.trace.config.frames == 64
    outcome = replay(result.trace)
    assert outcome.ok, outcome.message
    assert result.exit_code() == 1


def test_induction_proves_the_three_invariants_at_256_frames() -> None:
    result = prove(buddy_encoding(frames=256))
    assert result.verdict is ProofVerdict.PROVEN, result.reason
    assert result.properties == [OWNERSHIP, REPORTED, CAPPED]
    assert result.lemmas == []
    assert result.cti is None and result.trace is None
    # Base case, then every action against every conjunct, all unsatisfiable.
    assert [q.answer for q in result.queries] == ["unsat"] * (1 + 4 * 3)
    assert result.exit_code() == 0


@pytest.mark.parametrize("prop", [OWNERSHIP, REPORTED, CAPPED])
def test_each_invariant_is_inductive_on_its_own(prop: str) -> None:
    result = prove(buddy_encoding(frames=32), properties=[prop])
    assert result.verdict is ProofVerdict.PROVEN, result.reason


class _WithNoAllocatedReported(ReferenceBuddyEncoding):
    """A true invariant that is not inductive: an allocated head is never reported."""

    def lemmas(self) -> dict[str, Pred]:
        def body(v: Vars, f: Any) -> Any:
            allocated = z3.Or(v["allocated0"][f], v["allocated1"][f])
            return z3.Not(z3.And(v["reported"][f], allocated))

        return {"no allocated head is reported": Forall(1, body)}


def test_a_non_inductive_property_gives_a_readable_cti_and_ownership_strengthens_it() -> None:
    cls = get_model("reference_buddy")
    model = cls(make_config(cls, "upstream", {"frames": 16}))
    enc = _WithNoAllocatedReported(model)
    result = prove(enc, properties=[REPORTED])
    assert result.verdict is ProofVerdict.UNKNOWN
    assert result.exit_code() == 3
    cti = result.cti
    assert cti is not None and cti.genuine
    assert (cti.broken, cti.action) == ("no allocated head is reported", "putback")
    # The CTI is real Python state: the model itself takes the step, and an isolated block
    # overlaps an allocated one (which the ownership invariant rules out).
    assert cti.args is not None
    head = cti.args["head"]
    assert (head, cti.args["order"]) in cti.pre[0].isolated
    assert any(h == head for h, _o in cti.pre[0].allocated)
    assert head in cti.post.reported
    assert model.evaluate_always(model.property(OWNERSHIP), cti.pre[0]) is not None
    text = cti.render(model)
    assert "Counterexample to induction" in text
    assert "after putback(head=" in text
    assert "frames  " in text
    # No real counterexample within the bound: the search says so.
    assert "no violation within 6 steps" in result.reason
    # With ownership assumed, the same lemma is inductive.
    strengthened = prove(enc, properties=[REPORTED, OWNERSHIP])
    assert strengthened.verdict is ProofVerdict.PROVEN, strengthened.reason
    assert strengthened.lemmas == ["no allocated head is reported"]


def test_a_model_with_no_encoding_names_those_that_have_one() -> None:
    cls = get_model("virtio_mem")
    with pytest.raises(UsageError, match=r"has no Z3 encoding; models with one: .*reference_buddy"):
        encoding_for(cls(cls.Config()))


def test_cli_prove_exit_codes_and_trace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prove", "reference_buddy", "--set", "frames=64"]) == 0
    assert "Result: PROVEN" in capsys.readouterr().out

    code = main(
        [
            "prove",
            "reference_buddy",
            "--variant",
            "isolate_ignores_cap",
            "--set",
            "frames=64",
            "--bmc",
            "--depth",
            "4",
            "--out",
            str(tmp_path),
            "--json",
        ]
    )
    assert code == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["verdict"] == "refuted"
    assert doc["failing"] == CAPPED and doc["trace_length"] == 3
    trace = read_itf(Path(doc["trace"]["itf"]))
    assert replay(trace).ok
    assert Path(doc["trace"]["text"]).read_text().startswith("model reference_buddy")

    assert main(["prove", "reference_buddy", "--set", "frames=64", "--timeout", "0.001"]) == 3
    assert "Result: UNKNOWN" in capsys.readouterr().out

    assert main(["prove", "virtio_mem"]) == 2
    assert "models with one: " in capsys.readouterr().err
    assert main(["prove", "reference_buddy", "--property", "no such thing"]) == 2
