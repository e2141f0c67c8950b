"""JUnit XML for CI systems: one test case per property per manifest entry.

Per entry, a case for each property (``<label> :: <property>``) fails when its verdict is
not the one the entry expects (violated if the entry lists it in ``failing``, vacuous if in
``vacuous``, else not violated); a known-bad variant whose property is violated as
expected passes. A failure carries the shortest counterexample as text, the ITF file it
was written to (``check --all --junit`` writes traces under ``--out``, else
``hintspec-out/``), and the one-line command that reproduces it. One more case per entry
(``<label>``) holds its figures as ``<properties>`` (verdict, states, transitions, depth,
violated properties) so CI can chart them, and fails when a count differs from the
manifest; an entry whose model raised is an ``<error>``. Slow entries that were not run
are ``<skipped>`` cases, so a dashboard shows what ``--include-slow`` would add.
"""

from __future__ import annotations

import datetime
import socket
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path

from hintspec.engine.results import CheckResult, PropertyResult, Verdict
from hintspec.manifests.explorer import Entry, EntryError
from hintspec.traces.files import write_text_atomic
from hintspec.traces.text import render_trace

COUNTS = ("distinct_states", "transitions", "depth")
"""The manifest keys the entry's own case checks (the properties' cases check the rest)."""


def expected_verdict(entry: Entry, prop: PropertyResult) -> str:
    """What the entry expects of ``prop``: violated, vacuous or not violated."""
    if prop.name in entry.expect.get("failing", []):
        return "violated"
    if prop.name in entry.expect.get("vacuous", []):
        return "vacuous"
    return "not violated"


def _property_failure(entry: Entry, prop: PropertyResult) -> str | None:
    """Why ``prop``'s case fails (None: it passes)."""
    want = expected_verdict(entry, prop)
    got = prop.verdict
    if want == "violated":
        return None if got is Verdict.VIOLATED else f"expected violated, got {got.value}"
    if got is Verdict.VIOLATED:
        return "expected not violated, got violated"
    if want == "vacuous" and got is not Verdict.VACUOUS:
        return f"expected vacuous, got {got.value}"
    if want != "vacuous" and got is Verdict.VACUOUS:
        return "expected not violated, got vacuous (nothing was checked)"
    if got is Verdict.UNDETERMINED and entry.expect.get("verdict") != "undetermined":
        return f"expected a verdict, got undetermined ({prop.explanation})"
    return None


def _failure_text(entry: Entry, prop: PropertyResult, trace_file: str | None) -> str:
    lines: list[str] = []
    if prop.verdict is Verdict.VIOLATED and prop.trace is not None:
        lines.append(render_trace(prop.trace).rstrip())
        lines.append("")
    elif prop.explanation:
        lines.append(prop.explanation)
    if trace_file:
        lines.append(f"trace file (ITF): {trace_file}")
    lines.append(f"reproduce: {entry.command()}")
    return "\n".join(lines)


def _case(suite: ET.Element, entry: Entry, name: str, seconds: float) -> ET.Element:
    return ET.SubElement(
        suite, "testcase", classname=f"hintspec.{entry.model}", name=name, time=f"{seconds:.3f}"
    )


def _entry_case(
    suite: ET.Element, entry: Entry, result: CheckResult, bad: list[str], files: Mapping[str, str]
) -> bool:
    """The entry's own case (its figures); True if it failed."""
    case = _case(suite, entry, entry.label, result.seconds)
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
    lines = [
        f"verdict {result.verdict.value}; {result.distinct_states} states, "
        f"{result.transitions} transitions, depth {result.depth}; "
        f"violated: {', '.join(result.failing) or 'none'}"
    ]
    lines += [f"trace of {name!r}: {path}" for name, path in files.items()]
    if result.never_fired:
        lines.append("actions that never fired: " + ", ".join(result.never_fired))
    lines.append(f"reproduce: {entry.command()}")
    ET.SubElement(case, "system-out").text = "\n".join(lines)
    counts = [b for b in bad if b.split(":")[0] in COUNTS]
    if counts:
        fail = ET.SubElement(case, "failure", message="; ".join(counts), type="ManifestMismatch")
        fail.text = "\n".join([*counts, f"reproduce: {entry.command()}"])
    return bool(counts)


def junit_xml(
    rows: Sequence[tuple[Entry, CheckResult | EntryError, list[str]]],
    *,
    skipped: Sequence[Entry] = (),
    traces: Mapping[str, Mapping[str, str]] | None = None,
) -> str:
    """A ``<testsuite>`` with, per entry, a case for its figures and one per property;
    ``skipped`` entries (slow ones not run) appear as skipped cases; ``traces`` maps an
    entry's label to its properties' trace files."""
    suite = ET.Element("testsuite", name="hintspec")
    tests = failures = errors = 0
    seconds = 0.0
    for entry, result, bad in rows:
        seconds += result.seconds
        if isinstance(result, EntryError):
            case = _case(suite, entry, entry.label, result.seconds)
            error = ET.SubElement(case, "error", message=bad[0], type="ModelError")
            error.text = "\n".join([*bad, f"reproduce: {entry.command()}"])
            tests, errors = tests + 1, errors + 1
            continue
        files = (traces or {}).get(entry.label, {})
        failures += _entry_case(suite, entry, result, bad, files)
        tests += 1
        for prop in result.properties:
            case = _case(suite, entry, f"{entry.label} :: {prop.name}", 0.0)
            ET.SubElement(case, "system-out").text = (
                f"{prop.kind} property: {prop.verdict.value}"
                + (f" ({prop.explanation})" if prop.explanation else "")
            )
            why = _property_failure(entry, prop)
            tests += 1
            if why is not None:
                failures += 1
                fail = ET.SubElement(case, "failure", message=why, type="PropertyVerdict")
                fail.text = _failure_text(entry, prop, files.get(prop.name))
    for entry in skipped:
        case = _case(suite, entry, entry.label, 0.0)
        ET.SubElement(
            case, "skipped", message="slow manifest entry; run with check --all --include-slow"
        )
    suite.attrib.update(
        tests=str(tests + len(skipped)),
        failures=str(failures),
        errors=str(errors),
        skipped=str(len(skipped)),
        time=f"{seconds:.3f}",
        timestamp=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        hostname=socket.gethostname(),
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
