"""The state of the thp_split encoding: its vocabulary, variables and their concrete values."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import z3
from hintspec.models.thp_split import (
    Fault,
    Kind,
    Op,
    Phase,
    Pte,
    Run,
    Stat,
    State,
    ThpSplit,
    Uffd,
    Vcpu,
)
from hintspec.properties.proofs import _bits as bits
from hintspec.smt import (
    Encoding,
    Value,
    Vars,
    complement,
    frames_sort,
    join,
    meet,
)

KIND_BITS = {
    Kind.NONE: (False, False),
    Kind.THP: (True, False),
    Kind.PAGE: (False, True),
    Kind.ZERO: (True, True),
}
"""A kind as its (k0, k1) bits."""


BITS_KIND = {b: k for k, b in KIND_BITS.items()}


PLANES = ("k0", "k1", "data", "wp")
"""The frame sets that make up the page table."""


BITMAPS = ("guest", "dirty", "received", "unsaved", "populated")
"""The other per-page frame sets (State fields of the same name)."""


SNAPSHOT = (Phase.RUNNING, Phase.PREPARED, Phase.TRACKING, Phase.DONE)


Upd = dict[str, Any]
"""Updates of one outcome: variable name -> its next value."""


Outcome = tuple[Any, Upd]
"""(condition, updates)."""


Queue = tuple[Any, list[Any]]
"""The split queue: (length, slots)."""


class StateLayout(Encoding[State]):
    """The state variables, their sorts, ``encode``/``decode``, and term helpers."""

    def __init__(self, model: ThpSplit) -> None:
        super().__init__(model)
        cfg = model.config
        self.m = model
        self.R = cfg.regions
        self.S = cfg.subpages
        self.N = self.R * self.S
        if self.R & (self.R - 1) or self.S & (self.S - 1):
            raise ValueError("the encoding needs regions and subpages to be powers of two")
        self.fs = frames_sort(self.S)
        self.sw = self.fs.domain().size()
        """Width of a subpage number."""
        self.L = max(1, (self.N - 1).bit_length())
        """Width of a page number."""
        self.rw = max(1, (self.R - 1).bit_length())
        """Width of a region number (a queue slot)."""
        self.lw = self.R.bit_length()
        """Width of the queue length (0..regions)."""
        self.cw = self.S.bit_length() + 1
        """Width of a count of pages in a region."""
        self.mpn = model.max_ptes_none
        self.variant = model.variant

    @staticmethod
    def nm(name: str, r: int) -> str:
        """The variable of per-page quantity ``name`` in region r."""
        return f"{name}_r{r}"

    def arr(self, c: Vars, name: str, r: int) -> Any:
        return c[self.nm(name, r)]

    def full(self, value: bool) -> Any:
        return z3.K(self.fs.domain(), z3.BoolVal(value))

    @staticmethod
    def en(value: int, width: int) -> Any:
        return z3.BitVecVal(int(value), width)

    def sub(self, j: int) -> Any:
        return z3.BitVecVal(j, self.sw)

    def page(self, r: int, sub: Any) -> Any:
        """The global page number of subpage ``sub`` of region r."""
        if self.sw == self.L:
            return sub
        return z3.Concat(self.en(r, self.L - self.sw), sub)

    def region_is(self, pg: Any, r: int) -> Any:
        if self.sw == self.L:
            return z3.BoolVal(True)
        return z3.Extract(self.L - 1, self.sw, pg) == self.en(r, self.L - self.sw)

    def sub_of(self, pg: Any) -> Any:
        return z3.Extract(self.sw - 1, 0, pg)

    def at(self, c: Vars, name: str, pg: Any) -> Any:
        """``name`` at the (symbolic) global page ``pg``."""
        out = self.arr(c, name, 0)[self.sub_of(pg)]
        for r in range(1, self.R):
            out = z3.If(self.region_is(pg, r), self.arr(c, name, r)[self.sub_of(pg)], out)
        return out

    def phase_is(self, c: Vars, *phases: Phase) -> Any:
        return z3.Or([c["phase"] == self.en(ph, 3) for ph in phases])

    def kind(self, c: Vars, r: int, q: Any, k: Kind) -> Any:
        b0, b1 = KIND_BITS[k]
        return z3.And(self.arr(c, "k0", r)[q] == b0, self.arr(c, "k1", r)[q] == b1)

    def none(self, c: Vars, r: int, q: Any) -> Any:
        return self.kind(c, r, q, Kind.NONE)

    def none_set(self, c: Vars, r: int) -> Any:
        return meet(complement(self.arr(c, "k0", r)), complement(self.arr(c, "k1", r)))

    def thp_set(self, c: Vars, r: int) -> Any:
        return meet(self.arr(c, "k0", r), complement(self.arr(c, "k1", r)))

    def nz_set(self, c: Vars, r: int) -> Any:
        """Entries that are none or the zeropage (khugepaged's none_or_zero)."""
        k0, k1 = self.arr(c, "k0", r), self.arr(c, "k1", r)
        return join(meet(k0, k1), meet(complement(k0), complement(k1)))

    def sleeping_missing(self, c: Vars) -> Any:
        run = c["run"]
        return z3.And(
            c["vfault"] == self.en(Fault.MISSING, 2),
            z3.Or(run == self.en(Run.FAULTED, 2), run == self.en(Run.WAITING, 2)),
        )

    def zero_kind(self) -> Kind:
        """What a read fault or UFFDIO_ZEROPAGE maps (ThpSplit._zero_entry)."""
        return Kind.PAGE if self.m.config.mm_forbids_zeropage else Kind.ZERO

    def locked(self, c: Vars) -> Any:
        """VM_LOCKED (ThpSplit._locked): config ``mlocked`` in the snapshot's phases."""
        if not self.m.config.mlocked:
            return z3.BoolVal(False)
        return self.phase_is(c, *SNAPSHOT)

    def armed(self, c: Vars) -> Any:
        return c["uffd"] != self.en(Uffd.NONE, 2)

    def count(self, r: int, pred: Callable[[Any], Any]) -> Any:
        """How many subpages of region r satisfy pred (exact relation only)."""
        one, zero = self.en(1, self.cw), self.en(0, self.cw)
        return z3.Sum([z3.If(pred(self.sub(j)), one, zero) for j in range(self.S)])

    def sorts(self) -> dict[str, Any]:
        bv = z3.BitVecSort
        out: dict[str, Any] = {
            self.nm(name, r): self.fs for name in (*PLANES, *BITMAPS) for r in range(self.R)
        }
        out.update(
            phase=bv(3),
            uffd=bv(2),
            run=bv(2),
            vpage=bv(self.L),
            vop=bv(2),
            vfault=bv(2),
            scan=bv(self.L),
            thp_allowed=z3.BoolSort(),
            qlen=bv(self.lw),
            stat_split=z3.BoolSort(),
            stat_remap=z3.BoolSort(),
            inflated=z3.BoolSort(),
            misread_set=z3.BoolSort(),
            misread=bv(self.L),
            untracked_set=z3.BoolSort(),
            untracked=bv(self.L),
        )
        for r in range(self.R):
            out[f"thp{r}"] = z3.BoolSort()
            out[f"q{r}"] = bv(self.rw)
        return out

    def encode(self, state: State) -> dict[str, Value]:
        if len(state.pte) != self.N or len(state.split_queue) > self.R:
            raise ValueError("the state does not fit the configuration")
        per_page: dict[str, list[bool]] = {
            "k0": [KIND_BITS[e.kind][0] for e in state.pte],
            "k1": [KIND_BITS[e.kind][1] for e in state.pte],
            "data": [e.data for e in state.pte],
            "wp": [e.wp for e in state.pte],
        }
        for name in BITMAPS:
            per_page[name] = list(getattr(state, name))
        out: dict[str, Value] = {}
        for name, flags in per_page.items():
            for r in range(self.R):
                part = flags[r * self.S : (r + 1) * self.S]
                out[self.nm(name, r)] = bits.to_bits(j for j, b in enumerate(part) if b)
        v = state.vcpu
        out.update(
            phase=int(state.phase),
            uffd=int(state.uffd),
            run=int(v.run),
            vpage=max(v.page, 0),
            vop=int(v.op),
            vfault=int(v.fault),
            scan=state.scan,
            thp_allowed=state.thp_allowed,
            qlen=len(state.split_queue),
            stat_split=Stat.THP_SPLIT in state.stats,
            stat_remap=Stat.ZEROPAGE_REMAP in state.stats,
            inflated=state.inflated,
            misread_set=state.misread >= 0,
            misread=max(state.misread, 0),
            untracked_set=state.untracked >= 0,
            untracked=max(state.untracked, 0),
        )
        for r in range(self.R):
            out[f"thp{r}"] = state.thp[r]
            out[f"q{r}"] = state.split_queue[r] if r < len(state.split_queue) else 0
        return out

    def decode(self, values: Mapping[str, Value]) -> State:
        def plane(name: str) -> tuple[bool, ...]:
            out: list[bool] = []
            for r in range(self.R):
                word = int(values[self.nm(name, r)])
                out.extend(bool(word >> j & 1) for j in range(self.S))
            return tuple(out)

        k0, k1, data, wp = (plane(n) for n in PLANES)
        pte = tuple(Pte(BITS_KIND[(k0[p], k1[p])], data=data[p], wp=wp[p]) for p in range(self.N))
        run = Run(int(values["run"]))
        vcpu = Vcpu(
            run=run,
            page=-1 if run is Run.RUNNING else int(values["vpage"]),
            op=Op(min(int(values["vop"]), Op.WRITE_ZERO)),
            fault=Fault(min(int(values["vfault"]), Fault.WP)),
        )
        qlen = min(int(values["qlen"]), self.R)
        stats = {Stat.THP_SPLIT} if values["stat_split"] else set()
        if values["stat_remap"]:
            stats.add(Stat.ZEROPAGE_REMAP)
        return State(
            phase=Phase(min(int(values["phase"]), Phase.DONE)),
            pte=pte,
            thp=tuple(bool(values[f"thp{r}"]) for r in range(self.R)),
            split_queue=tuple(int(values[f"q{i}"]) for i in range(qlen)),
            thp_allowed=bool(values["thp_allowed"]),
            uffd=Uffd(min(int(values["uffd"]), Uffd.WP)),
            vcpu=vcpu,
            guest=plane("guest"),
            dirty=plane("dirty"),
            scan=int(values["scan"]),
            received=plane("received"),
            unsaved=plane("unsaved"),
            populated=plane("populated"),
            stats=frozenset(stats),
            inflated=bool(values["inflated"]),
            misread=int(values["misread"]) if values["misread_set"] else -1,
            untracked=int(values["untracked"]) if values["untracked_set"] else -1,
        )
