"""The state of the page_reporting encoding: its vocabulary, variables and their concrete values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import z3
from hintspec.lang.virtqueue import Virtqueue
from hintspec.models.page_reporting import (
    Content,
    PageReporting,
    Pc,
    Phase,
    State,
    Word,
)
from hintspec.properties.proofs import _bits as bits
from hintspec.smt import (
    Encoding,
    Value,
    Vars,
    frames_sort,
    minus,
)

RING_EMPTY, RING_AVAIL, RING_USED = 0, 1, 2
"""Where the virtqueue's one buffer is."""


_DATA, _LOST, _POISON, _ZERO = Content.DATA, Content.LOST, Content.POISON, Content.ZERO


class StateLayout(Encoding[State]):
    """The state variables, their sorts, ``encode``/``decode``, and term helpers."""

    def __init__(self, model: PageReporting) -> None:
        super().__init__(model)
        cfg = model.config
        self.m = model
        self.n = cfg.frames
        self.top = model.top
        self.ro = cfg.report_order
        self.mao = cfg.max_alloc_order
        self.cap = cfg.capacity
        self.variant = model.variant
        self.ignores_cap = self.variant == "isolate_ignores_cap"
        self.slots = self.n >> self.ro if self.ignores_cap else self.cap
        self.fs = frames_sort(self.n)
        self.iw = self.fs.domain().size()
        self.ow = (self.top + 1).bit_length()
        self.nw = (self.slots + 1).bit_length() + 1
        self.bw = (self.n // 16 + 3).bit_length()
        self.rep_orders = range(self.ro, self.top + 1)

    def _sets(self) -> list[str]:
        out = [f"free{o}" for o in range(self.top + 1)]
        out += [f"allocated{o}" for o in range(self.mao + 1)]
        out += ["reported"] + [f"acked{o}" for o in self.rep_orders]
        return [*out, "content0", "content1", "content2", "handed"]

    def sorts(self) -> dict[str, Any]:
        out: dict[str, Any] = dict.fromkeys(self._sets(), self.fs)
        bv = z3.BitVecSort
        out |= {
            "word": bv(2),
            "work_queued": z3.BoolSort(),
            "pc": bv(3),
            "order": bv(self.ow),
            "has_budget": z3.BoolSort(),
            "budget": bv(self.bw),
            "err": z3.BoolSort(),
            "quiet": z3.BoolSort(),
            "nents": bv(self.nw),
            "ring": bv(2),
            "ring_n": bv(self.nw),
        }
        for j in range(self.slots):
            out |= {f"sg_head{j}": bv(self.iw), f"sg_order{j}": bv(self.ow)}
        for j in range(self.slots):
            out |= {f"ring_head{j}": bv(self.iw), f"ring_order{j}": bv(self.ow)}
        return out

    def encode(self, state: State) -> dict[str, Value]:
        out: dict[str, Value] = dict.fromkeys(self.sorts(), 0)
        for o, heads in enumerate(state.free_area):
            out[f"free{o}"] = bits.to_bits(heads)
        for head, o in state.allocated:
            if o > self.mao:
                raise ValueError(f"allocated block {head}/o{o} has no encoding")
            out[f"allocated{o}"] = int(out[f"allocated{o}"]) | (1 << head)
        for head, o in state.acked:
            if f"acked{o}" not in out:
                raise ValueError(f"acked block {head}/o{o} has no encoding")
            out[f"acked{o}"] = int(out[f"acked{o}"]) | (1 << head)
        out["reported"] = bits.to_bits(state.reported)
        out["handed"] = bits.to_bits(state.handed)
        for plane in range(3):
            out[f"content{plane}"] = bits.to_bits(
                f for f, c in enumerate(state.content) if int(c) >> plane & 1
            )
        out |= {
            "word": int(state.word),
            "work_queued": state.work_queued,
            "pc": int(state.pc),
            "order": state.order,
            "has_budget": state.budget is not None,
            "budget": 0 if state.budget is None else state.budget + 1,
            "err": state.err,
            "quiet": state.phase is Phase.QUIET,
        }
        out |= self._encode_sg("sg", list(reversed(state.sgl)), "nents")
        vq = state.vq
        if vq.inflight or len(vq.buffers) > 1 or vq.size != 1 or not vq.indirect:
            raise ValueError(f"virtqueue {vq!r} has no encoding")
        if vq.avail or vq.used:
            buf = (vq.avail + vq.used)[0]
            blocks = [(buf[i], buf[i + 1]) for i in range(0, len(buf), 2)]
            out["ring"] = RING_AVAIL if vq.avail else RING_USED
            out |= self._encode_sg("ring", list(reversed(blocks)), "ring_n")
        return out

    def _encode_sg(
        self, prefix: str, blocks: list[tuple[int, int]], count: str
    ) -> dict[str, Value]:
        if len(blocks) > self.slots:
            raise ValueError(f"{len(blocks)} scatterlist entries, {self.slots} slots")
        out: dict[str, Value] = {count: len(blocks)}
        for j, (head, o) in enumerate(blocks):
            out |= {f"{prefix}_head{j}": head, f"{prefix}_order{j}": o}
        return out

    def _decode_sg(self, values: Mapping[str, Value], prefix: str, count: str) -> tuple[Any, ...]:
        n = min(int(values[count]), self.slots)
        return tuple(
            (int(values[f"{prefix}_head{j}"]), int(values[f"{prefix}_order{j}"]))
            for j in reversed(range(n))
        )

    def decode(self, values: Mapping[str, Value]) -> State:
        def frames(name: str) -> frozenset[int]:
            return frozenset(bits.from_bits(int(values[name])))

        def blocks(prefix: str, orders: range) -> frozenset[tuple[int, int]]:
            return frozenset((h, o) for o in orders for h in frames(f"{prefix}{o}"))

        planes = [int(values[f"content{p}"]) for p in range(3)]
        content = []
        for f in range(self.n):
            c = sum(((planes[p] >> f) & 1) << p for p in range(3))
            content.append(Content(c) if c <= max(Content) else Content.UNDEF)  # CTI junk
        ring = int(values["ring"])
        buf = tuple(x for b in self._decode_sg(values, "ring", "ring_n") for x in b)
        vq = Virtqueue(size=1)
        if ring == RING_AVAIL:
            vq = Virtqueue(size=1, avail=(buf,))
        elif ring == RING_USED:
            vq = Virtqueue(size=1, used=(buf,))
        word, pc = int(values["word"]), int(values["pc"])
        return State(
            free_area=tuple(
                tuple(bits.from_bits(int(values[f"free{o}"]))) for o in range(self.top + 1)
            ),
            reported=frames("reported"),
            allocated=blocks("allocated", range(self.mao + 1)),
            content=tuple(content),
            word=Word(word) if word <= max(Word) else Word.IDLE,
            work_queued=bool(values["work_queued"]),
            pc=Pc(pc) if pc <= max(Pc) else Pc.OFF,
            order=int(values["order"]),
            budget=int(values["budget"]) - 1 if values["has_budget"] else None,
            sgl=self._decode_sg(values, "sg", "nents"),
            err=bool(values["err"]),
            vq=vq,
            phase=Phase.QUIET if values["quiet"] else Phase.RUNNING,
            handed=frames("handed"),
            acked=blocks("acked", self.rep_orders),
        )

    def _bv(self, value: int, width: int) -> Any:
        return z3.BitVecVal(value, width)

    def _pc(self, pc: Pc) -> Any:
        return self._bv(int(pc), 3)

    def _ord(self, o: int) -> Any:
        return self._bv(o, self.ow)

    def _slot(self, j: int) -> Any:
        return self._bv(j, self.nw)

    def _empty(self) -> Any:
        return bits.empty(self.index())

    def _covers(self, f: Any, head: Any, order: Any) -> Any:
        """Frame ``f`` lies in the block (``head``, symbolic ``order``)."""
        o = (
            z3.Extract(self.iw - 1, 0, order)
            if self.ow > self.iw
            else z3.ZeroExt(self.iw - self.ow, order)
        )
        mask = ~((self._bv(1, self.iw) << o) - 1)
        return f & mask == head

    def _sg_covers(self, v: Vars, f: Any, prefix: str = "sg", count: str = "nents") -> list[Any]:
        return [
            z3.And(
                z3.ULT(self._slot(j), v[count]),
                self._covers(f, v[f"{prefix}_head{j}"], v[f"{prefix}_order{j}"]),
            )
            for j in range(self.slots)
        ]

    def _content_is(self, v: Vars, f: Any, c: Content) -> Any:
        return z3.And([v[f"content{p}"][f] == bool(int(c) >> p & 1) for p in range(3)])

    def _written(self, c: Vars, head: Any) -> Any:
        return z3.Or(self._content_is(c, head, _DATA), self._content_is(c, head, _LOST))

    def _unreported(self, v: Vars, o: int) -> Any:
        """The heads the pass may isolate from list ``o``."""
        if self.variant == "walk_ignores_reported":
            return v[f"free{o}"]
        return minus(v[f"free{o}"], v["reported"])
