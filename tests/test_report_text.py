"""The plain-text report for a mail: 80 columns, no markup, every violation's trace inline."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hintspec.cli.app import main
from hintspec.manifests.explorer import load_manifest
from hintspec.outputs.report import build_report
from hintspec.outputs.report_json import load_results, write_results
from hintspec.outputs.report_text import render_report_text, text_table

MODELS = ["reference_buddy", "balloon_oom"]


@pytest.fixture(scope="module")
def text_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, str, Path]:
    root = tmp_path_factory.mktemp("text")
    entries = [e for e in load_manifest() if e.model in MODELS and not e.slow]
    report = build_report(entries, root / "report-traces", models=MODELS, prove=False)
    write_results(report, root / "report-traces" / "results.json")
    return report, render_report_text(report), root


def test_every_line_fits_80_columns_and_there_is_no_markup(
    text_report: tuple[Any, str, Path],
) -> None:
    _, text, _ = text_report
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert not [line for line in lines if re.search(r"\*\*|`|\]\(|^\s*\|.*\|\s*$|<[a-z]+", line)]
    assert "\t" not in text


def test_every_violation_has_its_trace_inline(text_report: tuple[Any, str, Path]) -> None:
    report, text, _ = text_report
    violations = [(rep, e, p) for rep in report.models for e, p in rep.violations()]
    assert len(violations) >= 5
    blocks = re.split(r"^\[V\d+\] ", text, flags=re.M)[1:]
    assert len(blocks) == len(violations)
    for block, (_rep, e, p) in zip(blocks, violations, strict=True):
        head = re.sub(r"\n +", " ", block.split("\n\n", 1)[0])
        assert head.startswith(f"{e.variant} at {e.config_text}: "), head
        body = block.split("\n\n", 1)[1]
        kind = "Counterexample (lasso) to" if p.trace and p.trace.lasso else "Counterexample to"
        assert f"{kind} '{p.name[:30]}" in body.replace("\n    ", " ")
        assert re.search(r"^\s+0  initial state$", body, flags=re.M)
        assert re.search(r"^ {7}frames  \S", body, flags=re.M)  # the frame map, as printed
        assert f"Violated: '{p.name[:30]}" in body.replace("\n    ", " ")


def test_designs_verdicts_and_findings_per_model(text_report: tuple[Any, str, Path]) -> None:
    _, text, _ = text_report
    section = text.split("\nballoon_oom\n", 1)[1]
    assert "\nDesigns\n-------\n  upstream (default)   DEFLATE_ON_OOM" in section
    assert re.search(r"^upstream +defaults +7,843 +violated +P8$", section, flags=re.M)
    findings = section.split("Findings and expected violations of the upstream design\n", 1)[1]
    assert findings.split("\n")[1].startswith(
        "  upstream at defaults (FINDING): FINDING: upstream OOM-kills while the balloon"
    )


def test_the_same_run_renders_again_from_results_json(
    text_report: tuple[Any, str, Path],
) -> None:
    report, text, root = text_report
    again = load_results(root / "report-traces" / "results.json")
    again.generated = report.generated
    assert render_report_text(again) == text


def test_report_format_text_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "review.mail"
    argv = ["report", "--only", "reference_buddy", "--no-prove", "--format", "text"]
    assert main([*argv, "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    text = out.read_text()
    assert text.startswith("hintspec design review\n======================\n")
    assert (tmp_path / "review-traces" / "results.json").exists()
    # the suffix .txt names the format too
    again = tmp_path / "r.txt"
    results = str(tmp_path / "review-traces" / "results.json")
    assert main(["report", "--results", results, "--out", str(again)]) == 0
    assert again.read_text().splitlines()[3:] == text.splitlines()[3:]


def test_text_table_wraps_long_cells_inside_their_column() -> None:
    rows = [["upstream", "a=1 b=2 c=3 d=4 e=5 f=6 g=7 h=8 i=9 j=10 k=11 l=12", "10", "ok"]]
    lines = text_table(["variant", "config", "n", "verdict"], rows, width=40, right={2})
    assert max(len(line) for line in lines) <= 40
    assert lines[0].startswith("variant") and set(lines[1]) <= {"-", " "}
    assert lines[2].endswith("ok") and lines[2].startswith("upstream")
    assert all(line.startswith(" " * len("upstream")) for line in lines[3:])
