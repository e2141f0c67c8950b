"""``hintspec new NAME``: a model skeleton, its test and its manifest entries, passing at once.

    hintspec new NAME [--dir DIR]

In the project of DIR (default: the working directory; :mod:`hintspec.lang.project`), or a
new one (a ``hintspec.toml`` naming ``models/`` and ``manifest/``), it writes
``models/NAME.py`` (a small complete model: a one-slot mailbox whose bad variant
overwrites a message), ``tests/test_NAME.py`` (pytest, with the hintspec plugin) and
``manifest/NAME.json`` (the figures of both variants, checked as it writes them). Nothing
is overwritten: an existing file is one line of bad input and nothing is written.
"""

from __future__ import annotations

import argparse
import keyword
import re
from pathlib import Path
from typing import Any

from hintspec.cli.common import EXIT_OK
from hintspec.engine.check import check
from hintspec.lang.configs import make_config
from hintspec.lang.errors import UsageError
from hintspec.lang.project import CONFIG_FILE, find_project, render_config
from hintspec.lang.registry import get_model
from hintspec.manifests.explorer import Entry, add_entry
from hintspec.traces.files import write_text_atomic

MODEL = '''"""{title}: TODO say what design this is, citing the source it mirrors.

TODO: name the kernel or QEMU functions (file and function) each action stands for, and
what the bad variants got wrong and where that is documented. This skeleton is a one-slot
mailbox: a sender puts messages into it, a receiver takes them out.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

from hintspec.lang import Args, Check, Model, action, always, sometimes


@dataclass(frozen=True)
class Config:
    messages: int = 2
    """How many messages the sender sends (small: the explorer enumerates every state)."""
    variant: str = "upstream"


@dataclass(frozen=True)
class State:
    sent: int
    """Messages put into the mailbox so far."""
    slot: int | None
    """The message in the mailbox, if any."""
    received: tuple[int, ...]


class {cls}(Model[Config, State]):
    """{title}: a sender and a receiver share a one-slot mailbox."""

    name = "{name}"
    variants = {{
        "upstream": "the sender waits until the slot is empty",
        "overwrites": "the sender does not wait: a message still in the slot is lost",
    }}

    def initial_states(self) -> Iterator[State]:
        yield State(sent=0, slot=None, received=())

    def is_terminal(self, s: State) -> bool:
        return s.sent == self.config.messages and s.slot is None

    @action("TODO: path/file.c: the sender's function")
    def send(self, s: State) -> Iterator[tuple[Args, State]]:
        if s.sent < self.config.messages and (s.slot is None or self.variant == "overwrites"):
            yield {{"message": s.sent}}, replace(s, sent=s.sent + 1, slot=s.sent)

    @action("TODO: path/file.c: the receiver's function")
    def receive(self, s: State) -> Iterator[tuple[Args, State]]:
        if s.slot is not None:
            yield {{"message": s.slot}}, replace(s, slot=None, received=(*s.received, s.slot))

    @always("no message is lost")
    def nothing_lost(self, s: State) -> Check:
        inside = (*s.received, *(() if s.slot is None else (s.slot,)))
        for message in range(s.sent):
            if message not in inside:
                return f"message {{message}} was sent but is neither in the slot nor received"
        return True

    @sometimes("every message is received")
    def all_received(self, s: State) -> bool:
        return len(s.received) == self.config.messages
'''

TEST = '''"""{title}: the design holds and the bad variant is caught (hintspec plugin)."""

from __future__ import annotations

from pathlib import Path

from hintspec.pytest_plugin import HintspecChecker

MODEL = str(Path(__file__).resolve().parent.parent / "{model_path}")


def test_the_design_holds(hintspec_check: HintspecChecker) -> None:
    hintspec_check.holds(MODEL)


def test_overwriting_loses_a_message(hintspec_check: HintspecChecker) -> None:
    result = hintspec_check.violated(MODEL, "no message is lost", variant="overwrites")
    assert result.traces["no message is lost"].steps == 2
'''


def _class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _plan(name: str, directory: Path) -> tuple[Path | None, Path, Path, Path]:
    """(hintspec.toml to create or None, model file, manifest file, test file)."""
    project = find_project(directory)
    if project is None:
        root = directory
        return (
            root / CONFIG_FILE,
            root / "models" / f"{name}.py",
            root / "manifest" / f"{name}.json",
            root / "tests" / f"test_{name}.py",
        )
    model_dirs = [Path(s) for s in project.models if s.endswith("/") or Path(s).is_dir()]
    manifest_dir = project.manifest_dir()
    if not model_dirs or manifest_dir is None:
        raise UsageError(
            f"{project.config} names no directory of models or of manifests: add e.g. "
            '"models/" to models and "manifest" to manifests'
        )
    return (
        None,
        model_dirs[0] / f"{name}.py",
        manifest_dir / f"{name}.json",
        project.root / "tests" / f"test_{name}.py",
    )


def cmd_new(args: argparse.Namespace) -> int:
    name = args.name
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or keyword.iskeyword(name):
        raise UsageError(f"{name!r} is not a model name: use lower_case_with_underscores")
    directory = Path(args.dir).resolve()
    config, model_file, manifest_file, test_file = _plan(name, directory)
    for path in (config, model_file, manifest_file, test_file):
        if path is not None and path.exists():
            raise UsageError(f"{path} exists; nothing was written")
    title = name.replace("_", " ").capitalize()
    root = config.parent if config is not None else test_file.parent.parent
    if config is not None:
        write_text_atomic(config, render_config(["models/"], ["manifest"]))
    write_text_atomic(model_file, MODEL.format(title=title, cls=_class_name(name), name=name))
    cls = get_model(str(model_file))
    for variant, note in (
        ("upstream", "the design at its default configuration"),
        ("overwrites", "the bad variant: a message is lost (2 steps)"),
    ):
        model = cls(make_config(cls, variant, {}))
        add_entry(manifest_file, name, Entry(name, variant, {}, {}, note=note), check(model))
    rel = model_file.relative_to(root).as_posix()
    write_text_atomic(test_file, TEST.format(title=title, model_path=rel))
    for path in (config, model_file, manifest_file, test_file):
        if path is not None:
            print(f"wrote {path}")
    print(f"next: hintspec check {model_file}; hintspec check --all; pytest {test_file}")
    return EXIT_OK


def register(subparsers: Any) -> None:
    """Add ``new``."""
    p = subparsers.add_parser("new", help="write a model skeleton, its test and manifest entries")
    p.add_argument("name", help="the model's name (lower_case_with_underscores)")
    p.add_argument("--dir", default=".", help="the project directory (default: .)")
    p.set_defaults(func=cmd_new)
