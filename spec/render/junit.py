"""JUnit XML for CI systems: one test case per manifest entry."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from hintspec.trace import write_text_atomic

if TYPE_CHECKING:
    from hintspec.explore import CheckResult
    from hintspec.manifest import Entry


def junit_xml(rows: Sequence[tuple[Entry, CheckResult, list[str]]]) -> str:
    """A ``<testsuite>`` whose cases fail when a result differs from its manifest entry."""
    failures = sum(1 for _e, _r, bad in rows if bad)
    seconds = sum(r.seconds for _e, r, _b in rows)
    suite = ET.Element(
        "testsuite",
        name="hintspec",
        tests=str(len(rows)),
        failures=str(failures),
        errors="0",
        time=f"{seconds:.3f}",
    )
    for entry, result, bad in rows:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"hintspec.{entry.model}",
            name=entry.label,
            time=f"{result.seconds:.3f}",
        )
        out = ET.SubElement(case, "system-out")
        out.text = (
            f"verdict {result.verdict.value}; {result.distinct_states} states, "
            f"{result.transitions} transitions, depth {result.depth}; "
            f"violated: {', '.join(result.failing) or 'none'}"
        )
        if bad:
            fail = ET.SubElement(case, "failure", message="; ".join(bad), type="ManifestMismatch")
            fail.text = "\n".join(bad)
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(path: Path, rows: Sequence[tuple[Entry, CheckResult, list[str]]]) -> None:
    write_text_atomic(path, junit_xml(rows))
