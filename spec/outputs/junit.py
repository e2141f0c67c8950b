"""JUnit XML for CI systems: one test case per manifest entry.

A case fails (``<failure type="ManifestMismatch">``) when its result differs from what the
manifest entry expects; a known-bad variant whose property is violated as expected passes.
Each case carries its figures as ``<properties>`` (verdict, states, transitions, depth,
violated properties) so CI can chart them, and in ``<system-out>`` a readable summary with
the trace files (when ``check --all --out DIR`` wrote them). Slow entries that were not run
are ``<skipped>`` cases, so a dashboard shows what ``--include-slow`` would add.
"""

from __future__ import annotations

import datetime
import socket
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path

from hintspec.engine.results import CheckResult
from hintspec.manifests.explorer import Entry, EntryError
from hintspec.traces.files import write_text_atomic


def junit_xml(
    rows: Sequence[tuple[Entry, CheckResult | EntryError, list[str]]],
    *,
    skipped: Sequence[Entry] = (),
    traces: Mapping[str, Mapping[str, str]] | None = None,
) -> str:
    """A ``<testsuite>`` whose cases fail when a result differs from its manifest entry;
    ``skipped`` entries (slow ones not run) appear as skipped cases; ``traces`` maps an
    entry's label to its properties' trace files."""
    errors = sum(1 for _e, r, _b in rows if isinstance(r, EntryError))
    failures = sum(1 for _e, r, bad in rows if bad and isinstance(r, CheckResult))
    seconds = sum(r.seconds for _e, r, _b in rows)
    suite = ET.Element(
        "testsuite",
        name="hintspec",
        tests=str(len(rows) + len(skipped)),
        failures=str(failures),
        errors=str(errors),
        skipped=str(len(skipped)),
        time=f"{seconds:.3f}",
        timestamp=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        hostname=socket.gethostname(),
    )
    for entry, result, bad in rows:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"hintspec.{entry.model}",
            name=entry.label,
            time=f"{result.seconds:.3f}",
        )
        if isinstance(result, EntryError):
            error = ET.SubElement(case, "error", message=bad[0], type="ModelError")
            error.text = "\n".join(bad)
            continue
        props = ET.SubElement(case, "properties")
        for key, value in (
            ("verdict", result.verdict.value),
            ("distinct_states", result.distinct_states),
            ("transitions", result.transitions),
            ("depth", result.depth),
            ("violated", "; ".join(result.failing)),
            ("bound_hit", result.bound_hit or ""),
        ):
            ET.SubElement(props, "property", name=key, value=str(value))
        files = (traces or {}).get(entry.label, {})
        lines = [
            f"verdict {result.verdict.value}; {result.distinct_states} states, "
            f"{result.transitions} transitions, depth {result.depth}; "
            f"violated: {', '.join(result.failing) or 'none'}"
        ]
        lines += [f"trace of {name!r}: {path}" for name, path in files.items()]
        if result.never_fired:
            lines.append("actions that never fired: " + ", ".join(result.never_fired))
        out = ET.SubElement(case, "system-out")
        out.text = "\n".join(lines)
        if bad:
            fail = ET.SubElement(case, "failure", message="; ".join(bad), type="ManifestMismatch")
            fail.text = "\n".join(bad)
    for entry in skipped:
        case = ET.SubElement(
            suite, "testcase", classname=f"hintspec.{entry.model}", name=entry.label, time="0"
        )
        ET.SubElement(
            case, "skipped", message="slow manifest entry; run with check --all --include-slow"
        )
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(
    path: Path,
    rows: Sequence[tuple[Entry, CheckResult | EntryError, list[str]]],
    *,
    skipped: Sequence[Entry] = (),
    traces: Mapping[str, Mapping[str, str]] | None = None,
) -> None:
    """Write :func:`junit_xml` atomically."""
    write_text_atomic(path, junit_xml(rows, skipped=skipped, traces=traces))
