"""``hintspec lint MODEL``: a model's mistakes, each with the model's line and the rule.

    hintspec lint MODEL [--no-manifest]

Checks the model contract over the first states of every variant, that the model has a
reachable ``@sometimes`` witness, that every ``@always`` and liveness property is violated
by some variant (at its default configuration or in the model's manifest entries), and
that no variant explores the same state graph as the default design (see
:mod:`hintspec.engine.lint`). Exit 0: nothing found; 1: findings, one line each; 2: bad
usage.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hintspec.cli.common import EXIT_OK, EXIT_VIOLATED
from hintspec.engine.lint import lint
from hintspec.lang.registry import get_model, shown_spec
from hintspec.manifests.explorer import load_manifest


def cmd_lint(args: argparse.Namespace) -> int:
    cls = get_model(args.model)
    entries = [] if args.no_manifest else [e for e in load_manifest() if e.model == cls.name]
    manifest = [(e.variant, e.config, list(e.expect.get("failing", []))) for e in entries]

    def progress(text: str) -> None:
        sys.stderr.write(f"hintspec lint {cls.name}: {text}\n")

    findings = lint(cls, manifest, progress=progress if args.verbose else None)
    for finding in findings:
        print(finding.line())
    shown = shown_spec(args.model)
    if not findings:
        print(
            f"{shown}: no findings ({len(cls.variants)} variants, {len(entries)} manifest entries)"
        )
        return EXIT_OK
    print(f"{shown}: {len(findings)} finding(s)")
    return EXIT_VIOLATED


def register(subparsers: Any) -> None:
    """Add ``lint``."""
    p = subparsers.add_parser(
        "lint", help="a model's mistakes: contract, witnesses, teeth, variants that change nothing"
    )
    p.add_argument("model", help="model name, .py file, package.module:Class or entry point")
    p.add_argument(
        "--no-manifest",
        action="store_true",
        help="judge teeth and variants by the default configurations alone",
    )
    p.add_argument("--verbose", action="store_true", help="say what runs")
    p.set_defaults(func=cmd_lint)
