"""Running manifest entries (``check --all``) and ``hintspec manifest update``.

    hintspec manifest update [--only MODEL] [--include-slow] [--dry-run] [--jobs N]

``update`` checks the entries of the manifest (the project's, found from the working
directory upwards, else the built-in one), writes today's verdicts, counts and depths into
the files they came from, and prints the change as a unified diff for review: notes,
flags and the entries that did not run (slow ones without ``--include-slow``) stay as they
were. ``--dry-run`` prints the diff and writes nothing. Exit 0: nothing changed; 1: the
manifest changed (review the diff and commit it); 2: bad usage, or an entry's model
raised (then nothing is written).
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import sys
from functools import partial
from pathlib import Path
from typing import Any

from hintspec.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_VIOLATED,
    positive_float,
    positive_int,
    write_traces,
)
from hintspec.engine.executors import executor
from hintspec.engine.results import INTERRUPTED, CheckResult, Verdict
from hintspec.lang.configs import make_config
from hintspec.lang.errors import UsageError
from hintspec.lang.registry import get_model
from hintspec.manifests.explorer import (
    Entry,
    EntryError,
    ManifestChange,
    load_manifest,
    mismatches,
    refresh,
    try_entry,
)
from hintspec.traces.text import render_trace

Row = tuple[Entry, CheckResult | EntryError, list[str]]


@dataclasses.dataclass
class ManifestRun:
    """The rows of a run over manifest entries, the trace files it wrote, and whether it
    was interrupted."""

    rows: list[Row]
    traces: dict[str, dict[str, str]]
    """Entry label -> property -> ITF file of its counterexample."""
    interrupted: bool
    planned: int


def select_entries(only: list[str] | None, include_slow: bool) -> list[Entry]:
    """The manifest entries to run: every one (slow ones with ``include_slow``), or those
    of the models named by ``only`` (model specs: an unknown one is bad input)."""
    entries = [e for e in load_manifest() if include_slow or not e.slow]
    if only:
        names = {get_model(name).name for name in only}
        entries = [e for e in entries if e.model in names]
    if not entries:
        which = f" for {', '.join(only)}" if only else ""
        slow = "" if include_slow else " (add --include-slow for the slow ones)"
        raise UsageError(f"no manifest entry to check{which}{slow}")
    return entries


HEADER = (
    f"{'model':<18} {'variant':<24} {'config':<22} {'expected':<12} {'verdict':<12} "
    f"{'states':>10} {'depth':>5} {'secs':>7}  ok"
)


def run_entries(
    entries: list[Entry],
    *,
    jobs: int = 1,
    timeout: float | None = None,
    out: Path | None = None,
    show: bool = True,
    fingerprints: bool = False,
    address: str | None = None,
) -> ManifestRun:
    """Check ``entries`` (``jobs`` at once in worker processes,
    :mod:`hintspec.engine.executors`; rows in entry order whatever ``jobs``), printing a row
    per entry when ``show``; violated properties' traces go to ``out``. Ctrl-C ends the
    run with the rows so far. ``fingerprints``: :func:`hintspec.engine.check.check`'s.
    ``address``: a Dask scheduler whose workers check the entries instead."""
    run = ManifestRun([], {}, False, len(entries))
    notes: list[str] = []
    with executor(jobs, address) as pool:  # an address that does not answer: nothing printed
        if show:
            print(HEADER)
            print("-" * len(HEADER))
        results = pool.map(partial(try_entry, timeout=timeout, fingerprints=fingerprints), entries)
        try:
            for entry, result in zip(entries, results, strict=False):
                bad = (
                    [result.mismatch]
                    if isinstance(result, EntryError)
                    else mismatches(entry, result)
                )
                run.rows.append((entry, result, bad))
                if isinstance(result, CheckResult):
                    for note in result.notes:
                        if note not in notes:
                            notes.append(note)
                            sys.stderr.write(f"hintspec: note: {note}\n")
                    if out is not None:
                        cls = get_model(entry.spec)
                        model = cls(make_config(cls, entry.variant, entry.config))
                        run.traces[entry.label] = write_traces(result, out, model)
                if show:
                    print_row(entry, result, bad)
                if isinstance(result, CheckResult) and result.bound_hit == INTERRUPTED:
                    raise KeyboardInterrupt  # the search stopped on Ctrl-C: so does the run
        except KeyboardInterrupt:
            run.interrupted = True
            pool.cancel()
    return run


def unexpected_violations(entry: Entry, result: CheckResult) -> list[str]:
    """Properties ``result`` violates that the entry does not expect to be."""
    expected = set(entry.expect.get("failing", []))
    return [
        p.name
        for p in result.properties
        if p.verdict is Verdict.VIOLATED and p.name not in expected and p.trace is not None
    ]


def print_row(entry: Entry, result: CheckResult | EntryError, bad: list[str]) -> None:
    """One line per entry (two when its configuration is long), then what is wrong, and
    the trace of every violation the entry does not expect."""
    cfg = " ".join(f"{k}={v}" for k, v in entry.config.items()) or "defaults"
    if len(cfg) > 22:
        # The whole configuration, never cut short: it gets a line of its own.
        print(f"{entry.model:<18} {entry.variant:<24} {cfg}")
        lead = f"{'':<18} {'':<24} {'':<22}"
    else:
        lead = f"{entry.model:<18} {entry.variant:<24} {cfg:<22}"
    expected = entry.expect.get("verdict", "?")
    if isinstance(result, EntryError):
        print(f"{lead} {expected:<12} {'error':<12} {'':>10} {'':>5} {result.seconds:>7.2f}  NO")
    else:
        print(
            f"{lead} {expected:<12} {result.verdict.value:<12} "
            f"{result.distinct_states:>10,} {result.depth:>5} {result.seconds:>7.2f}  "
            + ("yes" if not bad else "NO")
        )
        if result.failing:
            print(f"{'':<20}violated: " + "; ".join(result.failing))
    for b in bad:
        print(f"{'':<20}MISMATCH {b}")
    if bad and isinstance(result, CheckResult):
        cls = get_model(entry.spec)
        model = cls(make_config(cls, entry.variant, entry.config))
        for prop in result.properties:
            if prop.name in unexpected_violations(entry, result) and prop.trace is not None:
                print()
                print(render_trace(prop.trace, model))
    sys.stdout.flush()


def print_diff(changes: list[ManifestChange]) -> None:
    """Each changed manifest file as a unified diff."""
    for change in changes:
        if change.changed:
            sys.stdout.writelines(
                difflib.unified_diff(
                    change.before.splitlines(keepends=True),
                    change.after.splitlines(keepends=True),
                    f"a/{change.path.name}",
                    f"b/{change.path.name}",
                )
            )


def update_from_run(run: ManifestRun, *, write: bool = True) -> list[ManifestChange]:
    """Record a run's figures in the manifest files (nothing if an entry raised or the run
    was interrupted: a half-refreshed manifest would hide what was not run)."""
    if run.interrupted:
        raise UsageError("the run was interrupted; the manifest is unchanged")
    pairs: list[tuple[Entry, CheckResult]] = []
    for entry, result, _bad in run.rows:
        if isinstance(result, EntryError):
            raise UsageError(f"{entry.label}: {result.mismatch}; the manifest is unchanged")
        pairs.append((entry, result))
    return refresh(pairs, write=write)


def report_update(changes: list[ManifestChange], *, written: bool) -> int:
    """Print the diff and a summary line; EXIT_VIOLATED when something changed."""
    print()
    print_diff(changes)
    changed = [c for c in changes if c.changed]
    if not changed:
        print(f"the manifest is up to date ({len(changes)} file(s) checked)")
        return EXIT_OK
    verb = "updated" if written else "would update (--dry-run)"
    names = ", ".join(str(c.path) for c in changed)
    print(f"{verb} {len(changed)} manifest file(s): {names}; review the diff above")
    return EXIT_VIOLATED


def cmd_manifest_update(args: argparse.Namespace) -> int:
    entries = select_entries(args.only, args.include_slow)
    run = run_entries(entries, jobs=args.jobs, timeout=args.timeout)
    if run.interrupted:
        sys.stderr.write(f"hintspec: interrupted after {len(run.rows)} of {run.planned} entries\n")
        sys.stderr.write("hintspec: the manifest is unchanged\n")
        return EXIT_INTERRUPTED
    changes = update_from_run(run, write=not args.dry_run)
    return report_update(changes, written=not args.dry_run)


def register(subparsers: Any) -> None:
    """Add ``manifest update``."""
    p = subparsers.add_parser("manifest", help="record today's verdicts in the manifest")
    sub = p.add_subparsers(dest="manifest_command", metavar="ACTION", parser_class=type(p))
    sub.required = True
    u = sub.add_parser(
        "update",
        help="check the manifest entries, write the observed figures, show the diff",
        description=__doc__.split("\n\n")[2] if __doc__ else None,
    )
    u.add_argument("--only", action="append", metavar="MODEL", help="only this model")
    u.add_argument("--include-slow", action="store_true", help="slow entries too")
    u.add_argument("--dry-run", action="store_true", help="show the diff, write nothing")
    u.add_argument("--jobs", type=positive_int, default=1, metavar="N", help="N at once")
    u.add_argument("--timeout", type=positive_float, metavar="S", help="per entry")
    u.set_defaults(func=cmd_manifest_update)
