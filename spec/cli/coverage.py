"""``hintspec coverage``: which branches of the models' design code no check takes."""

from __future__ import annotations

import argparse
import os
from typing import Any

from hintspec.cli.common import EXIT_OK, EXIT_VIOLATED, positive_int
from hintspec.lang.errors import UsageError
from hintspec.lang.registry import all_models
from hintspec.manifests.branches import measure, model_gaps, write_known
from hintspec.manifests.explorer import load_manifest


def register(sub: Any) -> None:
    p = sub.add_parser(
        "coverage",
        help="branch coverage of the models' design code under the manifest's checks",
        description=(
            "Run the manifest entries under coverage.py in branch mode and list, per model, "
            "the branches of the actions and their helpers that no explored state takes. "
            "Exit 1 when one is neither marked (# pragma: no cover -- <reason>, "
            "# pragma: no branch -- <reason>) nor in the model's known-gap list "
            "(models/manifest/coverage/MODEL.json), when a listed gap is covered now, or "
            "when a pragma gives no reason."
        ),
    )
    p.add_argument("--only", action="append", metavar="MODEL", help="only this model (repeatable)")
    p.add_argument("--include-slow", action="store_true", help="also run the slow entries")
    p.add_argument("--jobs", type=positive_int, default=os.cpu_count() or 1)
    p.add_argument(
        "--update-known",
        action="store_true",
        help="rewrite the known-gap lists to today's gaps (reasons kept; review the diff)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    models = list(all_models())
    only = args.only or models
    unknown = [m for m in only if m not in models]
    if unknown:
        raise UsageError(f"unknown model {unknown[0]!r}; known models: {', '.join(models)}")
    entries = [e for e in load_manifest() if e.model in only and (args.include_slow or not e.slow)]
    if not entries:
        raise UsageError("no manifest entry to run (slow ones need --include-slow)")
    files, errors = measure(entries, jobs=args.jobs)
    failed = bool(errors)
    for line in errors:
        print(f"error: {line}")
    for model in [m for m in models if m in only]:
        cov = model_gaps(model, files)
        listed = {id(g) for g in cov.gaps} - {id(g) for g in cov.unlisted()}
        print(
            f"{model}: {cov.percent:.1f}% of {cov.branches} branches of the design code taken; "
            f"{len(cov.gaps)} not ({len(cov.gaps) - len(listed)} unlisted, {len(listed)} known)"
        )
        for gap in cov.gaps:
            print(f"  {'known   ' if id(gap) in listed else 'UNLISTED'} {gap.describe()}")
        for k in cov.stale():
            print(f"  COVERED  now, remove from the known list: {k['function']}: {k['from']}")
        for k in cov.untriaged():
            print(f"  NO REASON in the known list: {k['function']}: {k['from']}")
        for where in cov.bare_pragmas:
            print(f"  NO REASON {where}: a pragma needs '-- <reason>'")
        if args.update_known:
            print(f"  wrote {write_known(cov)}")
        elif not cov.ok:
            failed = True
    return EXIT_VIOLATED if failed and not args.update_known else EXIT_OK
