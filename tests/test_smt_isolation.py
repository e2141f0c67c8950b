"""Z3 answers are a function of the question alone: not of what ran before in the process,
and never a hang (every query is bounded; a bound reached is *unknown*)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import z3
from hintspec.cli.app import main
from hintspec.lang.configs import make_config
from hintspec.lang.registry import get_model
from hintspec.models.hinting_oom import HintingOom
from hintspec.properties.proofs.hinting_oom import EXCLUSION, RING_LEMMA, HintingOomEncoding
from hintspec.smt import (
    Pred,
    ProofResult,
    ProofVerdict,
    bmc,
    conformance_errors,
    encoding_for,
    prove,
    reachable_states,
)
from hintspec.smt import solver as smt_solver


class _WithoutRingLemma(HintingOomEncoding):
    def lemmas(self) -> dict[str, Pred]:
        return {k: v for k, v in super().lemmas().items() if k != RING_LEMMA}


def _encoding(model: str, variant: str, **config: Any) -> Any:
    cls = get_model(model)
    return encoding_for(cls(make_config(cls, variant, config)))


def _summary(result: ProofResult) -> tuple[Any, ...]:
    """What a check answered: the verdict and why, the action and conjunct a CTI breaks,
    the property a trace breaks and its length.

    Which satisfying model Z3 returns -- the exact states of a CTI or a trace -- is not
    compared: besides the terms of a context (which a fresh context removes), it can
    depend on the heap left by earlier heavy solving in the same process. None of what
    is compared here can: each is fixed by the question (a shortest trace has one length;
    the first failing action and conjunct come from a fixed iteration order). The number
    of refinement queries a CTI takes depends on the models returned, so it is not
    compared either."""
    cti = result.cti
    return (
        result.verdict,
        result.reason,
        None if cti is None else (cti.action, cti.broken, cti.genuine),
        None if result.trace is None else (result.trace.prop, len(result.trace)),
    )


def _ring_lemma_cti() -> tuple[Any, ...]:
    # The check that hung for an hour after the other Z3 tests in one process: without the
    # ring lemma, the CTI (and the time to find it) depended on the terms made before.
    model = HintingOom(make_config(HintingOom, "capped_gate", {"blocks": 16}))
    return _summary(prove(_WithoutRingLemma(model), bmc_depth=2))


def _buddy_bmc() -> tuple[Any, ...]:
    return _summary(bmc(_encoding("reference_buddy", "isolate_ignores_cap", frames=64), 6))


def _reporting_proof() -> tuple[Any, ...]:
    return _summary(prove(_encoding("page_reporting", "upstream", frames=8)))


def _thp_bmc() -> tuple[Any, ...]:
    enc = _encoding("thp_split", "v1_pte_none", regions=1, subpages=16)
    return _summary(bmc(enc, 3))


def _conformance() -> tuple[Any, ...]:
    enc = _encoding("page_reporting", "upstream")
    states = reachable_states(enc.model, [3, 1, 4, 1, 5, 9, 2, 6])
    return tuple(tuple(conformance_errors(enc, s)) for s in states)


CHECKS: dict[str, Callable[[], tuple[Any, ...]]] = {
    "ring lemma CTI": _ring_lemma_cti,
    "buddy BMC": _buddy_bmc,
    "reporting proof": _reporting_proof,
    "thp BMC": _thp_bmc,
    "conformance": _conformance,
}


def test_solver_answers_do_not_depend_on_the_order_of_checks() -> None:
    """The same checks in two orders within one process: the same verdicts, CTIs, trace
    lengths and queries (each check has a fresh Z3 context with a fixed seed)."""
    forward = {name: CHECKS[name]() for name in CHECKS}
    backward = {name: CHECKS[name]() for name in reversed(CHECKS)}
    assert forward == backward
    verdict, _reason, cti, _trace = forward["ring lemma CTI"]
    assert verdict is ProofVerdict.UNKNOWN and cti is not None
    assert cti == ("page_reporting_cycle", EXCLUSION, True)


def test_terms_made_before_a_check_do_not_change_it() -> None:
    """Thousands of terms in the default context, and a hard query over them (what earlier
    tests leave behind), do not change what a check answers."""
    before = _ring_lemma_cti()
    xs = [z3.BitVec(f"noise{i}", 64) for i in range(3000)]
    solver = z3.Solver()
    solver.set("timeout", 2000)
    solver.add(z3.And([x * 3 + i != x >> 2 for i, x in enumerate(xs)]))
    solver.check()
    assert _ring_lemma_cti() == before


def test_a_query_that_exhausts_its_resource_limit_is_unknown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(smt_solver, "QUERY_RLIMIT", 1000)
    result = prove(_encoding("reference_buddy", "upstream", frames=64))
    assert result.verdict is ProofVerdict.UNKNOWN
    assert "resource limit" in result.reason
    assert result.exit_code() == 3


def test_a_check_that_runs_out_of_time_is_unknown() -> None:
    result = bmc(_encoding("page_reporting", "walk_ignores_reported", frames=8), 30, timeout=1)
    assert result.verdict is ProofVerdict.UNKNOWN
    assert result.exit_code() == 3


def test_prove_cli_exits_3_when_the_solver_gives_up(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(smt_solver, "QUERY_RLIMIT", 1000)
    assert main(["prove", "reference_buddy", "--set", "frames=64"]) == 3
    assert "UNKNOWN" in capsys.readouterr().out.upper()


def test_every_query_goes_through_the_bounded_wrapper() -> None:
    """Only hintspec.smt.solver calls Solver.check: any other call would have no limit."""
    import inspect
    import re

    import hintspec.smt as smt_pkg

    offenders = []
    for name in (
        "bitblast",
        "bmc",
        "conformance",
        "encoding",
        "induction",
        "registry",
        "sampling",
        "terms",
        "vacuity",
    ):
        module = __import__(f"hintspec.smt.{name}", fromlist=["x"])
        if re.search(r"\.check\(", inspect.getsource(module).replace("budget.check(", "")):
            offenders.append(name)
    assert not offenders, offenders
    assert smt_pkg.solver.Budget.check
