"""Where independent checker runs execute: in this process, a pool of processes, or a Dask
cluster.

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

``executor(address="tcp://HOST:8786")`` sends the tasks to the workers of a running Dask
cluster (the optional extra ``hintspec[distributed]``); results still come back in task
order.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from types import TracebackType
from typing import Any, Protocol, TypeVar

from hintspec.lang.errors import UsageError

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


DISTRIBUTED_MISSING = (
    "--executor needs Dask's distributed scheduler: pip install 'hintspec[distributed]'"
)


class DaskExecutor:
    """The workers of a Dask cluster (``distributed``, the optional extra
    ``hintspec[distributed]``), reached through its scheduler's ``address`` (e.g.
    ``tcp://127.0.0.1:8786``). Every worker must have hintspec and the models installed;
    a model loaded from a file is loaded by the workers from the same path."""

    def __init__(self, address: str, *, connect_timeout: float = 10.0) -> None:
        try:
            # Imported by name: the extra is optional, and the type checker may lack it.
            distributed = importlib.import_module("distributed")
        except ImportError:
            raise UsageError(DISTRIBUTED_MISSING) from None
        try:
            # An unknown scheme is refused here, before a client exists: a client whose
            # constructor failed complains again when it is collected.
            scheme, _where = distributed.comm.parse_address(address)
            distributed.comm.registry.get_backend(scheme)
        except ValueError as exc:
            raise UsageError(f"bad Dask scheduler address {address!r}: {exc}") from None
        try:
            self._client: Any = distributed.Client(
                address, timeout=connect_timeout, set_as_default=False
            )
        except (OSError, TimeoutError, ValueError) as exc:
            raise UsageError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
        self._futures: list[Any] = []

    def map(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]:
        # pure=False: a task is run again when asked again (a run has no cached answer).
        self._futures = self._client.map(fn, list(tasks), pure=False)
        return (future.result() for future in self._futures)

    def cancel(self) -> None:
        if self._futures:
            self._client.cancel(self._futures)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if kind is not None:
            self.cancel()
        self.close()


def executor(jobs: int = 1, address: str | None = None) -> Executor:
    """An executor for ``jobs`` tasks at once: this process for 1, else a process pool; or,
    given a scheduler ``address``, the workers of that Dask cluster (``jobs`` is then the
    cluster's business)."""
    if address is not None:
        return DaskExecutor(address)
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, not {jobs}")
    return SerialExecutor() if jobs == 1 else ProcessExecutor(jobs)
