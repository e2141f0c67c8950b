"""The state of the page_reporting encoding: its vocabulary, variables and their concrete values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import z3
from hintspec.lang.virtqueue import Virtqueue
from hintspec.models.page_reporting import (
    Content,
    Migratetype,
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

MTS = ("U", "M")
"""Migratetype letters, in ``Migratetype`` order (UNMOVABLE, MOVABLE)."""

_DATA, _LOST, _POISON, _ZERO = Content.DATA, Content.LOST, Content.POISON, Content.ZERO


def _pow2(n: int) -> int:
    return 1 << max(1, (n - 1).bit_length())


class StateLayout(Encoding[State]):
    """The state variables, their sorts, ``encode``/``decode``, and term helpers."""

    def __init__(self, model: PageReporting) -> None:
        super().__init__(model)
        cfg = model.config
        self.m = model
        self.total = model.frames
        self.n = _pow2(self.total)
        """Frame numbers run to the next power of two; those past the memory hold nothing."""
        self.zones = model.zones
        self.zstart = model.zone_start
        self.ztop = model.zone_top
        self.top = model.top
        self.ro = cfg.report_order
        self.mao = cfg.max_alloc_order
        self.cap = cfg.capacity
        self.pb = cfg.pageblock_order
        self.hpo = cfg.host_page_order
        self.variant = model.variant
        self.ignores_cap = self.variant == "isolate_ignores_cap"
        self.slots = cfg.frames >> self.ro if self.ignores_cap else self.cap
        self.fs = frames_sort(self.n)
        self.iw = self.fs.domain().size()
        self.ow = (self.top + 1).bit_length()
        self.nw = (self.slots + 1).bit_length() + 1
        self.bw = (self.n // 16 + 3).bit_length()
        self.rep_orders = range(self.ro, self.top + 1)

    # -- names -----------------------------------------------------------------------------

    def lists(self, zone: int | None = None) -> list[tuple[int, int, int]]:
        """(zone, order, migratetype) of every free list, or of one zone's, in walk order."""
        zones = range(self.zones) if zone is None else [zone]
        return [(z, o, m) for z in zones for o in range(self.ztop[z] + 1) for m in (0, 1)]

    @staticmethod
    def free(z: int, o: int, m: int) -> str:
        return f"free{z}_{o}{MTS[m]}"

    def _sets(self) -> list[str]:
        out = [self.free(*lid) for lid in self.lists()]
        out += [f"allocated{o}" for o in range(self.mao + 1)]
        out += ["reported"] + [f"acked{o}" for o in self.rep_orders]
        out += [f"owed{o}" for o in self.rep_orders]
        return [*out, "unmovable", "content0", "content1", "content2", "handed", "discarded"]

    def sorts(self) -> dict[str, Any]:
        out: dict[str, Any] = dict.fromkeys(self._sets(), self.fs)
        bv = z3.BitVecSort
        out |= {
            "word": bv(2),
            "work_queued": z3.BoolSort(),
            "pc": bv(3),
            "zone1": z3.BoolSort(),
            "order": bv(self.ow),
            "movable": z3.BoolSort(),
            "has_budget": z3.BoolSort(),
            "budget": bv(self.bw),
            "err": z3.BoolSort(),
            "quiet": z3.BoolSort(),
            "nents": bv(self.nw),
            "ring": bv(2),
            "ring_n": bv(self.nw),
        }
        for prefix in ("sg", "ring"):
            for j in range(self.slots):
                out |= {f"{prefix}_head{j}": bv(self.iw), f"{prefix}_order{j}": bv(self.ow)}
        return out

    # -- concrete values -------------------------------------------------------------------

    def encode(self, state: State) -> dict[str, Value]:
        out: dict[str, Value] = dict.fromkeys(self.sorts(), 0)
        m = self.m
        for lid, heads in enumerate(state.free_area):
            z, o, mt = lid // (2 * m.orders), lid // 2 % m.orders, lid % 2
            if heads and o > self.ztop[z]:
                raise ValueError(f"a free block of order {o} in zone {z} has no encoding")
            if heads:
                out[self.free(z, o, mt)] = int(out[self.free(z, o, mt)]) | bits.to_bits(heads)
        for name, blocks, orders in (
            ("allocated", state.allocated, range(self.mao + 1)),
            ("acked", state.acked, self.rep_orders),
            ("owed", state.owed, self.rep_orders),
        ):
            for head, o in blocks:
                if o not in orders:
                    raise ValueError(f"{name} block {head}/o{o} has no encoding")
                out[f"{name}{o}"] = int(out[f"{name}{o}"]) | (1 << head)
        out["reported"] = bits.to_bits(state.reported)
        out["handed"] = bits.to_bits(state.handed)
        out["discarded"] = bits.to_bits(state.discarded)
        out["unmovable"] = bits.to_bits(
            i for i, mt in enumerate(state.pageblock) if mt is Migratetype.UNMOVABLE
        )
        for plane in range(3):
            out[f"content{plane}"] = bits.to_bits(
                f for f, c in enumerate(state.content) if int(c) >> plane & 1
            )
        out |= {
            "word": int(state.word),
            "work_queued": state.work_queued,
            "pc": int(state.pc),
            "zone1": state.zone == 1,
            "order": state.order,
            "movable": state.mt is Migratetype.MOVABLE,
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
            ring_blocks = [(buf[i], buf[i + 1]) for i in range(0, len(buf), 2)]
            out["ring"] = RING_AVAIL if vq.avail else RING_USED
            out |= self._encode_sg("ring", list(reversed(ring_blocks)), "ring_n")
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
        m = self.m

        def frames(name: str) -> frozenset[int]:
            return frozenset(bits.from_bits(int(values[name])))

        def blocks(prefix: str, orders: range) -> frozenset[tuple[int, int]]:
            return frozenset((h, o) for o in orders for h in frames(f"{prefix}{o}"))

        lists: list[list[int]] = [[] for _ in range(self.zones * m.orders * 2)]
        for z, o, mt in self.lists():
            for h in bits.from_bits(int(values[self.free(z, o, mt)])):
                lists[m.list_id(z, o, mt)].append(h)
        planes = [int(values[f"content{p}"]) for p in range(3)]
        content = []
        for f in range(self.total):
            c = sum(((planes[p] >> f) & 1) << p for p in range(3))
            content.append(Content(c) if c <= max(Content) else Content.UNDEF)  # CTI junk
        unmovable = frames("unmovable")
        ring = int(values["ring"])
        buf = tuple(x for b in self._decode_sg(values, "ring", "ring_n") for x in b)
        vq = Virtqueue(size=1)
        if ring == RING_AVAIL:
            vq = Virtqueue(size=1, avail=(buf,))
        elif ring == RING_USED:
            vq = Virtqueue(size=1, used=(buf,))
        word, pc = int(values["word"]), int(values["pc"])
        return State(
            free_area=tuple(tuple(sorted(heads)) for heads in lists),
            pageblock=tuple(
                Migratetype.UNMOVABLE if i in unmovable else Migratetype.MOVABLE
                for i in range(self.total >> self.pb)
            ),
            reported=frames("reported"),
            allocated=blocks("allocated", range(self.mao + 1)),
            content=tuple(content),
            word=Word(word) if word <= max(Word) else Word.IDLE,
            work_queued=bool(values["work_queued"]),
            pc=Pc(pc) if pc <= max(Pc) else Pc.OFF,
            zone=1 if values["zone1"] else 0,
            order=int(values["order"]),
            mt=Migratetype.MOVABLE if values["movable"] else Migratetype.UNMOVABLE,
            budget=int(values["budget"]) - 1 if values["has_budget"] else None,
            sgl=self._decode_sg(values, "sg", "nents"),
            err=bool(values["err"]),
            vq=vq,
            phase=Phase.QUIET if values["quiet"] else Phase.RUNNING,
            discarded=frames("discarded"),
            handed=frames("handed"),
            acked=blocks("acked", self.rep_orders),
            owed=blocks("owed", self.rep_orders),
        )

    # -- terms -----------------------------------------------------------------------------

    def _bv(self, value: int, width: int) -> Any:
        return z3.BitVecVal(value, width)

    def _pc(self, pc: Pc) -> Any:
        return self._bv(int(pc), 3)

    def _ord(self, o: int) -> Any:
        return self._bv(o, self.ow)

    def _slot(self, j: int) -> Any:
        return self._bv(j, self.nw)

    def _idx(self, f: int) -> Any:
        return self._bv(f, self.iw)

    def _empty(self) -> Any:
        return bits.empty(self.index())

    def in_zone(self, f: Any, z: int) -> Any:
        """Frame ``f`` lies in zone ``z``."""
        lo, hi = self.zstart[z], self.zstart[z] + (1 << self.ztop[z])
        parts = [] if lo == 0 else [z3.UGE(f, self._idx(lo))]
        if hi < self.n:
            parts.append(z3.ULT(f, self._idx(hi)))
        return z3.And(parts) if parts else z3.BoolVal(True)

    def exists(self, f: Any) -> Any:
        """Frame ``f`` is memory (not past the last zone)."""
        return z3.ULT(f, self._idx(self.total)) if self.total < self.n else z3.BoolVal(True)

    def at_zone(self, v: Vars, z: int) -> Any:
        return v["zone1"] if z == 1 else z3.Not(v["zone1"])

    def pageblock(self, head: Any) -> Any:
        """The index of the pageblock of frame ``head`` in ``unmovable``."""
        return z3.LShR(head, self.pb) if self.pb else head

    def unmovable_at(self, v: Vars, head: Any) -> Any:
        """``get_pageblock_migratetype(head) == MIGRATE_UNMOVABLE``."""
        return v["unmovable"][self.pageblock(head)]

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

    def _unreported(self, v: Vars, z: int, o: int, m: int) -> Any:
        """The heads the pass may isolate from a list."""
        if self.variant == "walk_ignores_reported":
            return v[self.free(z, o, m)]
        return minus(v[self.free(z, o, m)], v["reported"])

    def free_head(self, v: Vars, f: Any, o: int) -> Any:
        """``f`` heads a free block of order ``o`` on some list of some zone."""
        return z3.Or([v[self.free(z, oo, m)][f] for z, oo, m in self.lists() if oo == o] or [False])
