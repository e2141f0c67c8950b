"""The state of the hinting_oom encoding: its vocabulary, variables and their concrete values."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import z3
from hintspec.lang.virtqueue import Virtqueue
from hintspec.models.hinting_oom import BUDGET_DIVISOR, PR, HintingOom, Oom, State, Worker
from hintspec.properties.proofs import _bits as bits
from hintspec.smt import (
    Encoding,
    Value,
    Vars,
)

EXCLUSION = "every block is in exactly one place"

CHAIN_LIMIT = 256
"""Blocks up to which ``popcount`` is a chain of additions (see there)."""


IN_FLIGHT = "hinting holds at most CAPACITY blocks"


REPORTED = "PG_reported only on free blocks"


ABOVE_LOW = "hinting never takes the zone below the low watermark"


NO_OOM = "no hinting-induced OOM"


TIGHT = "hinting causes an OOM only when free memory is tight"


RING_LEMMA = "the ring holds one report exactly while the worker waits for it"


COUNT_LEMMA = "free, used and held blocks add up to the zone: nfree + uses + held == blocks"


DEMAND_LEMMA = "each vCPU uses at most demand blocks"


OOM_LEMMA = "an OOM record adds up: uses + oom.free + oom.held == blocks, held <= CAPACITY"


class Ring:
    """The ring's variables as terms (slots oldest first), and the virtqueue operations."""

    def __init__(
        self,
        sets: Sequence[Any],
        lens: Sequence[Any],
        cpus: Sequence[Any] | None,
        counts: tuple[Any, Any, Any, Any],
        empty: Any,
        zero: Any,
    ) -> None:
        self.sets, self.lens = list(sets), list(lens)
        self.cpus = None if cpus is None else list(cpus)
        self.nused, self.ninfl, self.navail, self.nring = counts
        """Buffers used, in flight, available; blocks in all of them."""
        self.empty, self.zero = empty, zero

    @property
    def size(self) -> int:
        return len(self.sets)

    @property
    def total(self) -> Any:
        return self.nused + self.ninfl + self.navail

    def live(self, j: int) -> Any:
        """Slot j holds a buffer."""
        return z3.ULT(z3.BitVecVal(j, self.nused.size()), self.total)

    def _with(self, sets: list[Any], lens: list[Any], cpus: list[Any] | None, counts: Any) -> Ring:
        return Ring(sets, lens, cpus, counts, self.empty, self.zero)

    def add(self, blocks: Any, length: Any, cpu: Any | None) -> Ring:
        """``virtqueue_add``: the buffer goes to slot ``total`` (the caller checks room)."""
        at = [self.total == j for j in range(self.size)]
        sets = [z3.If(a, blocks, s) for a, s in zip(at, self.sets, strict=True)]
        lens = [z3.If(a, length, n) for a, n in zip(at, self.lens, strict=True)]
        cpus = None
        if self.cpus is not None:
            cpus = [z3.If(a, cpu, c) for a, c in zip(at, self.cpus, strict=True)]
        counts = (self.nused, self.ninfl, self.navail + 1, self.nring + length)
        return self._with(sets, lens, cpus, counts)

    def pop(self) -> Ring:
        """Device ``virtqueue_pop``: the oldest available buffer is in flight."""
        return self._with(
            self.sets,
            self.lens,
            self.cpus,
            (self.nused, self.ninfl + 1, self.navail - 1, self.nring),
        )

    def push(self) -> Ring:
        """Device ``virtqueue_push(0)``: the oldest in-flight buffer is used."""
        return self._with(
            self.sets,
            self.lens,
            self.cpus,
            (self.nused + 1, self.ninfl - 1, self.navail, self.nring),
        )

    def get_buf(self) -> Ring:
        """Driver ``virtqueue_get_buf``: slot 0 leaves, the others move down."""
        cpus = None if self.cpus is None else [*self.cpus[1:], self.cpus[0] * 0]
        return self._with(
            [*self.sets[1:], self.empty],
            [*self.lens[1:], self.zero],
            cpus,
            (self.nused - 1, self.ninfl, self.navail, self.nring - self.lens[0]),
        )

    def drop_used(self) -> Ring:
        """``while (virtqueue_get_buf(vq, &unused));``: every used buffer leaves."""

        def shifted(items: list[Any], blank: Any) -> list[Any]:
            out = []
            for j in range(self.size):
                val = blank
                for k in reversed(range(self.size + 1)):
                    src = items[j + k] if j + k < self.size else blank
                    val = z3.If(self.nused == k, src, val)
                out.append(val)
            return out

        cpus = None if self.cpus is None else shifted(self.cpus, self.cpus[0] * 0)
        zero = self.nused * 0
        dropped = [z3.If(z3.ULT(j, self.nused), n, self.zero) for j, n in enumerate(self.lens)]
        nring = self.nring - functools.reduce(lambda a, b: a + b, dropped)
        return self._with(
            shifted(self.sets, self.empty),
            shifted(self.lens, self.zero),
            cpus,
            (zero, self.ninfl, self.navail, nring),
        )

    def updates(self) -> dict[str, Any]:
        out: dict[str, Any] = {"nused": self.nused, "ninfl": self.ninfl, "navail": self.navail}
        out["nring"] = self.nring
        for j in range(self.size):
            out[f"slot{j}"] = self.sets[j]
            out[f"slotn{j}"] = self.lens[j]
            if self.cpus is not None:
                out[f"slotcpu{j}"] = self.cpus[j]
        return out


class StateLayout(Encoding[State]):
    """The state variables, their sorts, ``encode``/``decode``, and term helpers."""

    def __init__(self, model: HintingOom) -> None:
        super().__init__(model)
        self.m = model
        c = model.config
        self.n = c.blocks
        self.width = max(1, (c.blocks - 1).bit_length())
        self.size = 1 << self.width
        self.idx = z3.BitVecSort(self.width)
        self.fs = z3.ArraySort(self.idx, z3.BoolSort())
        self.cpus = c.cpus
        self.R = model.ring
        self.percpu = model.percpu
        self.capped = model.capped
        self.cw = max(1, (c.cpus - 1).bit_length())
        self.rw = self.R.bit_length() + 1
        self.planes = c.threshold.bit_length()
        top = max(
            c.blocks + c.capacity * BUDGET_DIVISOR,
            c.cpus * c.demand,
            c.wmark_low + c.capacity + 1,
            c.threshold,
        )
        self.w = ((self.R + c.cpus + 2) * top).bit_length() + 1
        """Counter width: no reachable count (a held total with duplicates included) wraps."""
        self.ext = (self.R + c.cpus + 2).bit_length() + 1
        """Extra bits for sums of counters that must not wrap (lemmas)."""
        self._below: dict[int, Any] = {}

    def sorts(self) -> dict[str, Any]:
        bv, rb = z3.BitVecSort(self.w), z3.BitVecSort(self.rw)
        out: dict[str, Any] = {"free": self.fs, "reported": self.fs, "nfree": bv}
        for c in range(self.cpus):
            out[f"alloc{c}"] = self.fs
            out[f"nalloc{c}"] = bv
        for j in range(self.R):
            out[f"slot{j}"] = self.fs
            out[f"slotn{j}"] = bv
            if self.percpu:
                out[f"slotcpu{j}"] = z3.BitVecSort(self.cw)
        out |= {"nused": rb, "ninfl": rb, "navail": rb, "nring": bv}
        out |= {
            "oom": z3.BoolSort(),
            "oom_cpu": z3.BitVecSort(self.cw),
            "oom_free": bv,
            "oom_held": bv,
            "low_breach": z3.BoolSort(),
        }
        if self.percpu:
            for c in range(self.cpus):
                for k in range(self.planes):
                    out[f"listed{c}_{k}"] = self.fs
                out[f"nlisted{c}"] = bv
                out[f"iso{c}"] = self.fs
                out[f"niso{c}"] = bv
        if self.capped:
            out |= {"pr": z3.BitVecSort(2), "worker": z3.BitVecSort(2), "budget": bv, "nelig": bv}
        return out

    def bv(self, value: int) -> Any:
        return z3.BitVecVal(value, self.w)

    def one_if(self, cond: Any) -> Any:
        return z3.If(cond, self.bv(1), self.bv(0))

    def empty(self) -> Any:
        return bits.empty(self.idx)

    def popcount(self, s: Any) -> Any:
        """|s| -- a sum over every block (exact relation only). A chain of additions up to
        ``CHAIN_LIMIT`` blocks, a balanced tree above: a chain of a thousand additions is
        deeper than Python's recursion limit when bit-blasted. (The chain stays where it
        fits because Z3's search on the small proofs was tuned on it: the balanced form
        made the ring-lemma CTI query at 16 blocks run for many minutes.)"""
        terms = [self.one_if(s[z3.BitVecVal(i, self.width)]) for i in range(self.n)]
        if len(terms) <= CHAIN_LIMIT:
            return functools.reduce(lambda a, b: a + b, terms)
        while len(terms) > 1:
            pairs = [terms[i] + terms[i + 1] for i in range(0, len(terms) - 1, 2)]
            terms = pairs + terms[len(terms) - len(terms) % 2 :]
        return terms[0]

    def ring(self, v: Vars) -> Ring:
        cpus = [v[f"slotcpu{j}"] for j in range(self.R)] if self.percpu else None
        return Ring(
            [v[f"slot{j}"] for j in range(self.R)],
            [v[f"slotn{j}"] for j in range(self.R)],
            cpus,
            (v["nused"], v["ninfl"], v["navail"], v["nring"]),
            self.empty(),
            self.bv(0),
        )

    def wide(self, x: Any) -> Any:
        return z3.ZeroExt(self.ext, x)

    def held_wide(self, v: Vars) -> Any:
        """Blocks the hinting path holds (isolated arrays and ring buffers), unwrapped."""
        terms = [self.wide(v["nring"])]
        if self.percpu:
            terms += [self.wide(v[f"niso{c}"]) for c in range(self.cpus)]
        return functools.reduce(lambda a, b: a + b, terms, self.wide(self.bv(0)))

    def held(self, v: Vars) -> Any:
        return z3.Extract(self.w - 1, 0, self.held_wide(v))

    def uses_wide(self, v: Vars) -> Any:
        return functools.reduce(
            lambda a, b: a + b, [self.wide(v[f"nalloc{c}"]) for c in range(self.cpus)]
        )

    def _set(self, blocks: Any, what: str) -> int:
        if any(not 0 <= b < self.n for b in blocks):
            raise ValueError(f"{what}: a block out of range")
        return bits.to_bits(blocks)

    def _distinct(self, blocks: tuple[int, ...], what: str) -> int:
        if tuple(sorted(set(blocks))) != blocks:
            raise ValueError(f"{what} {blocks} is not sorted and distinct")
        return self._set(blocks, what)

    def encode(self, state: State) -> dict[str, Value]:
        m, cfg = self.m, self.config
        out: dict[str, Value] = {
            "free": self._set(state.free, "free"),
            "reported": self._set(state.reported, "reported"),
            "nfree": len(state.free),
        }
        for c in range(self.cpus):
            out[f"alloc{c}"] = self._set(state.allocated[c], f"vCPU {c}")
            out[f"nalloc{c}"] = len(state.allocated[c])
        vq = state.vq
        if vq.size != self.R or vq.indirect != self.percpu:
            raise ValueError("the ring is not the design's")
        bufs = vq.used + vq.inflight + vq.avail
        if len(bufs) > self.R:
            raise ValueError("more buffers than ring entries")
        for j in range(self.R):
            buf = bufs[j] if j < len(bufs) else None
            payload = () if buf is None else m.payload(buf)
            out[f"slot{j}"] = self._distinct(payload, "a ring buffer")
            out[f"slotn{j}"] = len(payload)
            if self.percpu:
                out[f"slotcpu{j}"] = 0 if buf is None else buf[0]
        out |= {"nused": len(vq.used), "ninfl": len(vq.inflight), "navail": len(vq.avail)}
        out["nring"] = sum(len(m.payload(b)) for b in bufs)
        o = state.oom
        out |= {
            "oom": o is not None,
            "oom_cpu": 0 if o is None else o.cpu,
            "oom_free": 0 if o is None else o.free,
            "oom_held": 0 if o is None else o.held,
            "low_breach": state.low_breach,
        }
        if self.percpu:
            for c in range(self.cpus):
                listed = state.listed[c]
                if tuple(sorted(listed)) != listed or len(listed) > cfg.threshold:
                    raise ValueError(f"vCPU {c}'s array {listed} is not sorted or too long")
                self._set(listed, "an array")
                for k in range(self.planes):
                    out[f"listed{c}_{k}"] = bits.to_bits(
                        b for b in set(listed) if listed.count(b) >> k & 1
                    )
                out[f"nlisted{c}"] = len(listed)
                out[f"iso{c}"] = self._distinct(state.isolated[c], "an isolated array")
                out[f"niso{c}"] = len(state.isolated[c])
        else:
            if any(state.listed) or any(state.isolated):
                raise ValueError("the capped worker keeps no per-CPU arrays")
        if self.capped:
            out |= {
                "pr": int(state.pr_state),
                "worker": int(state.worker),
                "budget": state.budget + 1,
                "nelig": len(state.free - state.reported),
            }
        elif (state.pr_state, state.worker, state.budget) != (PR.IDLE, Worker.OFF, 0):
            raise ValueError("per-CPU hinting has no reporting worker")
        return out

    def decode(self, values: Mapping[str, Value]) -> State:
        def blocks(name: str) -> tuple[int, ...]:
            return tuple(bits.from_bits(int(values[name])))

        bufs: list[tuple[int, ...]] = []
        for j in range(self.R):
            head = (int(values[f"slotcpu{j}"]),) if self.percpu else ()
            bufs.append((*head, *blocks(f"slot{j}")))
        nu, ni, na = (int(values[k]) for k in ("nused", "ninfl", "navail"))
        vq = Virtqueue(
            self.R,
            avail=tuple(bufs[nu + ni : nu + ni + na]),
            inflight=tuple(bufs[nu : nu + ni]),
            used=tuple(bufs[:nu]),
            indirect=self.percpu,
        )
        listed: list[tuple[int, ...]] = []
        isolated: list[tuple[int, ...]] = []
        for c in range(self.cpus):
            if not self.percpu:
                listed.append(())
                isolated.append(())
                continue
            counts: dict[int, int] = {}
            for k in range(self.planes):
                for b in blocks(f"listed{c}_{k}"):
                    counts[b] = counts.get(b, 0) + (1 << k)
            listed.append(tuple(b for b in sorted(counts) for _ in range(counts[b])))
            isolated.append(blocks(f"iso{c}"))
        oom = None
        if values["oom"]:
            oom = Oom(int(values["oom_cpu"]), int(values["oom_free"]), int(values["oom_held"]))
        return State(
            free=frozenset(blocks("free")),
            reported=frozenset(blocks("reported")),
            allocated=tuple(frozenset(blocks(f"alloc{c}")) for c in range(self.cpus)),
            listed=tuple(listed),
            isolated=tuple(isolated),
            pr_state=PR(int(values["pr"]) % 3) if self.capped else PR.IDLE,
            worker=Worker(int(values["worker"])) if self.capped else Worker.OFF,
            budget=int(values["budget"]) - 1 if self.capped else 0,
            vq=vq,
            oom=oom,
            low_breach=bool(values["low_breach"]),
        )
