"""The documentation is self-contained: code, docstrings, tests and docs cite the kernel or
QEMU source, or documents inside this repository -- never a document a user of the
repository cannot open (notes kept elsewhere, their rule numbers) nor an issue tracker's
numbers."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHECKED = ["spec", "models", "properties", "tests", "docs", "README.md", "examples"]
"""Where the rule is enforced: everything a user of the repository reads."""
TEXT_SUFFIXES = {".py", ".md", ".json", ".toml", ".txt", ".cfg", ".ini", ".sh", ".html"}
OUTSIDE = re.compile(
    "|".join(
        [
            r"kernel-facts",
            r"shared/(?:reference|benchmarks)",
            r"\.\./shared",
            r"anchors\.md",
            r"DESIGN\.md",
            r"\bissue\s+#?\d+",
            r"\bP-[A-Z]{2,}-\d+\b",  # the rule numbers of notes kept outside the repository
        ]
    ),
    re.IGNORECASE,
)


def files() -> list[Path]:
    out: list[Path] = []
    for name in CHECKED:
        path = ROOT / name
        if path.is_file():
            out.append(path)
        elif path.is_dir():
            out += [
                p
                for p in sorted(path.rglob("*"))
                if p.is_file()
                and p.suffix in TEXT_SUFFIXES
                and ".venv" not in p.parts
                and "__pycache__" not in p.parts
            ]
    return [p for p in out if p.resolve() != Path(__file__).resolve()]


def test_no_reference_outside_the_repository() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in files()
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert found == []


def test_the_pattern_catches_what_it_must() -> None:
    for text in [
        "see kernel-facts §3",
        "../shared/reference/anchors.md",
        "shared/benchmarks/reference-buddy-report.md",
        "as in issue 10",
        "fixed in Issue #12",
        "(P-MEM-4: ZONE_MOVABLE)",
    ]:
        assert OUTSIDE.search(text), text
    for text in [
        "mm/page_reporting.c: page_reporting_cycle",
        "docs/models/thp_split.md",
        "this issue is 4 steps long",
        "P-state",
    ]:
        assert not OUTSIDE.search(text), text
