"""One mutant in a process of its own: a pickled :class:`~hintspec.engine.mutate.MutantTask`
on stdin, its pickled :class:`~hintspec.engine.mutate.MutantResult` on stdout.

What :func:`hintspec.engine.mutate.run_isolated` starts; not a command for people.
"""

from __future__ import annotations

import contextlib
import pickle
import sys

from hintspec.engine.mutate import MutantTask


def main() -> int:
    task = pickle.load(sys.stdin.buffer)
    if not isinstance(task, MutantTask):
        print(f"expected a MutantTask on stdin, got {type(task).__name__}", file=sys.stderr)
        return 2
    with contextlib.redirect_stdout(sys.stderr):  # stdout carries the answer alone
        result = task.run()
    sys.stdout.buffer.write(pickle.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
