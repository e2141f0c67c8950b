"""Fingerprint storage for the explorer: 64-bit digests of states in the visited set.

With ``check --fingerprints`` the explorer keeps, per distinct state, only its 64-bit
fingerprint (the key of the visited set), its parent's index and its BFS number; the states
themselves live only while they wait in the frontier. This is TLC's fingerprint set and
Spin's hash compaction: memory per state no longer grows with the size of a state, at the
price of a small probability that two distinct states share a fingerprint (one of them is
then never explored). For ``n`` states and 64-bit fingerprints that probability is at most
about ``n * (n - 1) / 2**65``, printed with the result.

A fingerprint must be the same in every process (traces are replayed, runs are compared
across worker processes), so it cannot use Python's ``hash()``: the hash of a string, and of
an enum member through its name, is salted per process. :func:`fingerprint` encodes a state
structurally instead (sets in sorted order of their elements' encodings, so the order in
which a set happens to iterate does not matter) and digests the bytes with BLAKE2b.

With a frontier limit (``check --fingerprints --spill-frontier N``) the states waiting in the
frontier beyond about N go to a temporary file (:class:`SpillQueue`): memory then holds the
fingerprints and N states, and a search larger than memory degrades instead of dying.

Traces are rebuilt as TLC does: the chain of fingerprints from the initial state to the
state wanted is followed by re-generating successors and keeping the one whose fingerprint
is the next on the chain (:class:`ReplayedStates`).
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import os
import pickle
import struct
import sys
import tempfile
from array import array
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any, overload

from hintspec.lang.errors import UsageError
from hintspec.lang.model import Model

FINGERPRINT_BITS = 64

_Q = struct.Struct("<q")
_MEMO_LIMIT = 1 << 17


class Fingerprinter:
    """The stable 64-bit fingerprint of a state (:meth:`__call__`).

    The encoding follows Python's equality, as the visited set of the full-state search
    does: values that compare equal encode alike (``True``, ``1`` and an ``IntEnum`` member
    of value 1; a ``set`` and a ``frozenset``), values that differ encode differently.
    Hence the encodings of components can be remembered *by value*: successor states share
    most of their components with their parent and with each other, and a component seen
    before costs one dictionary lookup. The memo is emptied when it grows past a bound."""

    def __init__(self) -> None:
        self._memo: dict[Any, bytes] = {}
        self._fields: dict[type, tuple[bytes, tuple[str, ...]]] = {}
        self._enums: dict[int, bytes] = {}

    def __call__(self, state: Any) -> int:
        digest = hashlib.blake2b(self._encode_value(state), digest_size=8).digest()
        value: int = _Q.unpack(digest)[0]
        return value

    def encode(self, x: Any) -> bytes:
        """The encoding of ``x`` (memoised by value where it is hashable)."""
        if type(x) is int:
            return b"i%d;" % x
        try:
            known = self._memo.get(x)
        except TypeError:  # unhashable: a list, dict or set inside a state
            return self._encode_value(x)
        if known is not None:
            return known
        out = self._encode_value(x)
        if len(self._memo) >= _MEMO_LIMIT:
            self._memo.clear()
        self._memo[x] = out
        return out

    def _encode_value(self, x: Any) -> bytes:
        encode = self.encode
        if isinstance(x, enum.Enum) and not isinstance(x, int):
            known = self._enums.get(id(x))
            if known is None:
                known = b"e" + type(x).__qualname__.encode() + b"." + x.name.encode() + b";"
                self._enums[id(x)] = known
            return known
        if isinstance(x, int):  # bool and IntEnum too: they compare equal to their value
            return b"i%d;" % int(x)
        if isinstance(x, str):
            data: bytes = x.encode()
            return b"s%d:" % len(data) + data
        if x is None:
            return b"n;"
        if isinstance(x, tuple):
            return b"t%d(" % len(x) + b"".join([encode(v) for v in x]) + b")"
        if isinstance(x, list):
            return b"l%d(" % len(x) + b"".join([encode(v) for v in x]) + b")"
        if isinstance(x, frozenset | set):
            return b"f%d(" % len(x) + b"".join(sorted([encode(v) for v in x])) + b")"
        if isinstance(x, dict):
            items = sorted([encode(k) + encode(v) for k, v in x.items()])
            return b"d%d(" % len(x) + b"".join(items) + b")"
        if dataclasses.is_dataclass(x) and not isinstance(x, type):
            kind = type(x)
            known_fields = self._fields.get(kind)
            if known_fields is None:
                names = tuple(f.name for f in dataclasses.fields(x) if f.compare)
                known_fields = (f"{kind.__module__}.{kind.__qualname__}".encode(), names)
                self._fields[kind] = known_fields
            name, names = known_fields
            return b"D" + name + b"(" + b"".join([encode(getattr(x, n)) for n in names]) + b")"
        if isinstance(x, float):
            return b"i%d;" % int(x) if x.is_integer() else b"r" + repr(x).encode() + b";"
        if isinstance(x, bytes):
            return b"y%d:" % len(x) + x
        raise UsageError(
            f"--fingerprints: cannot fingerprint a state component of type "
            f"{type(x).__qualname__} (supported: int, bool, str, None, enums, floats, bytes, "
            "tuples, lists, sets, dicts and dataclasses of these)"
        )


def fingerprint(state: Any) -> int:
    """The stable 64-bit fingerprint of ``state`` (a signed int, as an ``array('q')``
    holds it)."""
    return Fingerprinter()(state)


def collision_probability(states: int, bits: int = FINGERPRINT_BITS) -> float:
    """An upper bound on the probability that two of ``states`` distinct states share a
    fingerprint of ``bits`` bits (the birthday bound ``n (n - 1) / 2^(bits + 1)``)."""
    return min(1.0, states * (states - 1) / 2.0 ** (bits + 1))


def replay_path(
    model: Model[Any, Any],
    chain: Sequence[int],
    key: Callable[[Any], int],
    canon: Callable[[Any], Any] | None,
) -> list[Any]:
    """The states along a chain of fingerprints (initial state first), each as the
    explorer stored it (its canonical representative under symmetry)."""
    first = None
    for s in model.initial_states():
        c = canon(s) if canon is not None else s
        if key(c) == chain[0]:
            first = c
            break
    if first is None:  # pragma: no cover -- the chain was recorded from these states
        raise AssertionError("no initial state has the recorded fingerprint")
    path = [first]
    for want in chain[1:]:
        for _a, _args, t in model.successors(path[-1]):
            c = canon(t) if canon is not None else t
            if key(c) == want:
                path.append(c)
                break
        else:  # pragma: no cover -- the chain was recorded from these successors
            raise AssertionError("no successor has the recorded fingerprint")
    return path


class ReplayedStates(Sequence[Any]):
    """The explored states, by BFS number, of a search that kept only fingerprints: each
    one is rebuilt on demand by replaying the chain of fingerprints that leads to it."""

    def __init__(
        self,
        model: Model[Any, Any],
        fingerprints: array[int],
        parent: array[int],
        key: Callable[[Any], int],
        canon: Callable[[Any], Any] | None,
    ) -> None:
        self._model = model
        self._fingerprints = fingerprints
        self._parent = parent
        self._key = key
        self._canon = canon

    def __len__(self) -> int:
        return len(self._fingerprints)

    def path_to(self, index: int) -> list[Any]:
        chain = []
        while index >= 0:
            chain.append(self._fingerprints[index])
            index = self._parent[index]
        chain.reverse()
        return replay_path(self._model, chain, self._key, self._canon)

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...
    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self.path_to(index)[-1]

    def __iter__(self) -> Iterator[Any]:
        return (self[i] for i in range(len(self)))


def visited_set_bytes(index: dict[Any, int], fingerprints: array[int], parent: array[int]) -> int:
    """The bytes a fingerprint search keeps per explored state, in all: the visited set
    (its table, and the fingerprint and number objects it holds), the fingerprints by BFS
    number and the parent links."""
    total = sys.getsizeof(index) + sum(map(sys.getsizeof, index))
    total += sum(sys.getsizeof(v) for v in index.values() if v > 256)  # smaller ones are shared
    return total + fingerprints.itemsize * len(fingerprints) + parent.itemsize * len(parent)


class SpillQueue:
    """The frontier of a fingerprint search that keeps at most about ``limit`` states in
    memory; the others wait in a temporary file (pickled in chunks, in BFS order), so a
    search whose frontier outgrows memory slows down instead of dying. First in, first out:
    the oldest states are in memory (``head``), then the chunks on disk, then the newest
    states (``tail``), which go to disk as a chunk when the queue is over its limit."""

    def __init__(self, limit: int, directory: str | None = None) -> None:
        self._limit = limit
        self._chunk = max(1, limit // 4)
        self._head: deque[Any] = deque()
        self._tail: list[Any] = []
        self._chunks: deque[int] = deque()
        """File offsets of the chunks on disk, oldest first."""
        # Closed by close(), when the search ends: the queue outlives any with-block.
        self._file = tempfile.TemporaryFile(prefix="hintspec-frontier-", dir=directory)  # noqa: SIM115
        self._len = 0
        self.spilled = 0
        """States written to disk so far."""

    def __len__(self) -> int:
        return self._len

    def append(self, state: Any) -> None:
        self._tail.append(state)
        self._len += 1
        if len(self._tail) >= self._chunk and len(self._head) + len(self._tail) > self._limit:
            self._file.seek(0, os.SEEK_END)
            self._chunks.append(self._file.tell())
            pickle.dump(self._tail, self._file, protocol=pickle.HIGHEST_PROTOCOL)
            self.spilled += len(self._tail)
            self._tail = []

    def popleft(self) -> Any:
        if not self._head:
            if self._chunks:
                self._file.seek(self._chunks.popleft())
                self._head.extend(pickle.load(self._file))
                if not self._chunks:  # every chunk read: the file starts again empty
                    self._file.seek(0)
                    self._file.truncate()
            else:
                self._head.extend(self._tail)
                self._tail = []
        self._len -= 1
        return self._head.popleft()

    def close(self) -> None:
        self._file.close()
