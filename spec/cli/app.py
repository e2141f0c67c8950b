"""The ``hintspec`` command: one module per sub-command, each with ``register(subparsers)``.

Exit codes: 0 all properties hold (``--all``: every expectation met), 1 a property is
violated (or an expectation is not met), 2 no verdict -- bad usage or input (one line on
stderr, ``hintspec: error: ...``, nothing written) or model code that raised (a report) --,
3 undetermined (a bound hit), 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable, Sequence

from hintspec.cli import (
    check,
    coverage,
    graph,
    lint,
    manifest,
    mutate,
    new,
    prove,
    report,
    serve,
    simulate,
    traces,
)
from hintspec.cli.common import EXIT_INTERRUPTED, EXIT_USAGE, Parser, report_model_error
from hintspec.lang.errors import ModelError, UsageError

COMMANDS = (
    check,
    traces,
    simulate,
    prove,
    report,
    graph,
    serve,
    mutate,
    coverage,
    manifest,
    lint,
    new,
)
"""The sub-command modules, in the order ``hintspec --help`` lists them."""


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="hintspec",
        description="Model-check the Linux guest-memory hinting protocols.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for module in COMMANDS:
        module.register(sub)
    debug_help = "print the Python traceback when a model's code raises"
    parser.add_argument("--debug", action="store_true", help=debug_help)
    for command in sub.choices.values():
        command.add_argument("--debug", action="store_true", help=debug_help)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    debug = bool(getattr(args, "debug", False))
    try:
        return func(args)
    except UsageError as exc:
        sys.stderr.write(f"hintspec: error: {exc}\n")
        return EXIT_USAGE
    except ModelError as exc:
        if debug:
            traceback.print_exception(exc)
        report_model_error(exc, args)
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("hintspec: interrupted\n")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    raise SystemExit(main())
