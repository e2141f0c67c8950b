"""Where independent checker runs execute: in this process, or in a pool of processes.

A run over many independent tasks (the manifest entries of ``check --all``, mutants of
``hintspec mutate``, seeds of a fuzzing swarm) asks :func:`executor` for an
:class:`Executor` and maps a function over its tasks::

    with executor(jobs=2) as pool:
        for result in pool.map(partial(try_entry, timeout=60), entries):
            ...

``map`` yields the results *in the order of the tasks*, each as soon as it and every one
before it is done, so output printed while iterating is the same whatever the number of
jobs. The function and the tasks must be picklable (a module-level function, or a
:func:`functools.partial` of one) when ``jobs > 1``. On Ctrl-C, :meth:`Executor.cancel`
drops the tasks that have not started.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from types import TracebackType
from typing import Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Executor(Protocol):
    """Runs a function over tasks and gives back the results in task order."""

    def map(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]: ...

    def cancel(self) -> None:
        """Drop the tasks that have not started (after Ctrl-C)."""

    def close(self) -> None: ...

    def __enter__(self) -> Executor: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class SerialExecutor:
    """Every task in this process, one after the other (``jobs=1``): no pickling, and a
    model error's traceback stays in this process."""

    def map(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]:
        return (fn(task) for task in tasks)

    def cancel(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> SerialExecutor:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class ProcessExecutor:
    """``jobs`` worker processes on this machine (:class:`ProcessPoolExecutor`, with the
    platform's default start method)."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self._pool = ProcessPoolExecutor(jobs)

    def map(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]:
        return self._pool.map(fn, tasks)

    def cancel(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def __enter__(self) -> ProcessExecutor:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if kind is None:
            self.close()
        else:
            self.cancel()


def executor(jobs: int = 1) -> Executor:
    """An executor for ``jobs`` tasks at once: this process for 1, else a process pool."""
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, not {jobs}")
    return SerialExecutor() if jobs == 1 else ProcessExecutor(jobs)
