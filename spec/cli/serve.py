"""``hintspec serve``: explore a model by hand in the browser, on 127.0.0.1.

    hintspec serve MODEL [--variant V] [--set k=v] [--port P] [--max-states N]

Prints the address (``--port 0``: a free port) and serves until Ctrl-C (or SIGTERM), which
stops it with exit 0. See :mod:`hintspec.outputs.serve` (routes, safety) and
:mod:`hintspec.outputs.serve_page` (what the page shows).
"""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any

from hintspec.cli.common import EXIT_OK, add_model_arguments, model_from_args, positive_int
from hintspec.engine.session import Session
from hintspec.lang.errors import UsageError
from hintspec.outputs.serve import HOST, ExplorerServer

DEFAULT_PORT = 8421


def port_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0 to 65535)")
    return value


def register(subparsers: Any) -> None:
    """Add the ``serve`` sub-command."""
    p = subparsers.add_parser("serve", help=f"explore a model by hand in the browser (on {HOST})")
    add_model_arguments(p)
    p.add_argument(
        "--port",
        type=port_number,
        default=DEFAULT_PORT,
        metavar="P",
        help=f"port on {HOST} (default {DEFAULT_PORT}; 0: any free port)",
    )
    p.add_argument(
        "--max-states",
        type=positive_int,
        metavar="N",
        help="bound of the check behind 'shortest violation' (default: none)",
    )
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve until interrupted."""
    model = model_from_args(args)
    try:
        server = ExplorerServer(Session(model, max_states=args.max_states), args.port)
    except OSError as exc:
        raise UsageError(f"cannot listen on {HOST}:{args.port}: {exc.strerror or exc}") from None
    print(
        f"hintspec serve: {model.name}/{model.variant} at {server.url} (Ctrl-C stops it)",
        flush=True,
    )
    stop = threading.Event()
    # Ctrl-C or a polite kill stops it the same way (a background job starts with SIGINT
    # ignored, so both are installed here rather than trusting the defaults).
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda _signum, _frame: stop.set())
    server.start()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    print("hintspec serve: stopped", flush=True)
    return EXIT_OK
