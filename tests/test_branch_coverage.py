"""Branch coverage of the models' design code (``hintspec coverage``).

Every branch of every action, helper and ``initial_states`` must run in some state that
the manifest's non-slow entries explore, be marked in the model (``# pragma: no cover --
<reason>`` / ``# pragma: no branch -- <reason>``), or be listed with a reason in
``models/manifest/coverage/<model>.json``. The check over every model runs the manifest
under coverage.py (minutes on two cores), so it is a slow test; the mechanism is checked
in the default run on the smallest model.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hintspec.cli.app import main
from hintspec.lang.registry import all_models
from hintspec.manifests.branches import (
    UNTRIAGED,
    Gap,
    ModelCoverage,
    bare_pragmas,
    measure,
    model_gaps,
)
from hintspec.manifests.explorer import load_manifest


def _gaps_of(model: str) -> ModelCoverage:
    entries = [e for e in load_manifest() if e.model == model and not e.slow]
    files, errors = measure(entries, jobs=1)
    assert not errors, errors
    return model_gaps(model, files)


def test_the_reference_model_takes_every_branch(capsys) -> None:
    assert main(["coverage", "--only", "reference_buddy", "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert "reference_buddy: 100.0% of " in out and "0 not (0 unlisted, 0 known)" in out


def test_a_pragma_needs_a_reason(tmp_path: Path) -> None:
    model = tmp_path / "m.py"
    model.write_text(
        "x = 1  # pragma: no cover -- the host never sends it\n"
        "y = 2  # pragma: no cover\n"
        "if x:  # pragma: no branch --\n"
    )
    assert bare_pragmas(model) == ["models/m.py:2", "models/m.py:3"]


def test_an_unlisted_gap_fails_and_a_covered_known_one_is_stale() -> None:
    gap = Gap("m", "M.act", 10, 11, "if s.full:", "return")
    known = {"function": "M.act", "from": "if s.full:", "to": "return", "reason": "r"}
    other = {"function": "M.act", "from": "if s.empty:", "to": "return", "reason": "r"}

    def cov(gaps: list[Gap], listed: list[dict[str, str]]) -> ModelCoverage:
        return ModelCoverage("m", Path("m.py"), 4, 4 - len(gaps), gaps, [], listed)

    assert not cov([gap], []).ok and cov([gap], []).unlisted() == [gap]
    assert cov([gap], [known]).ok
    assert not cov([], [known]).ok and cov([], [known]).stale() == [known]
    assert not cov([gap], [other]).ok
    assert not cov([gap], [{**known, "reason": UNTRIAGED}]).ok


RECORDED = sorted(
    name
    for name in all_models()
    if (Path(__file__).parent.parent / "models" / "manifest" / "coverage" / f"{name}.json").exists()
)
"""The models whose uncovered branches are triaged in a coverage record. A model joins
when its record is written (`hintspec coverage --only MODEL --update-known`, then a real
reason for each gap); the others are rewritten models whose record is still to come."""


@pytest.mark.slow
@pytest.mark.parametrize("model", RECORDED)
def test_every_branch_of_the_design_code_is_taken_marked_or_listed(model: str) -> None:
    cov = _gaps_of(model)
    problems = [f"unlisted: {g.describe()}" for g in cov.unlisted()]
    problems += [f"covered now, drop from the known list: {k['from']}" for k in cov.stale()]
    problems += [f"pragma without a reason at {where}" for where in cov.bare_pragmas]
    problems += [f"known gap without a reason: {k['from']}" for k in cov.untriaged()]
    assert not problems, (
        f"{model}: {cov.percent:.1f}% of {cov.branches} branches taken; "
        + "; ".join(problems)
        + f" (see `hintspec coverage --only {model}`)"
    )
