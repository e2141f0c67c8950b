"""Entry, queue and havoc helpers shared by the thp_split encoding's relations."""

from __future__ import annotations

from typing import Any

import z3
from hintspec.models.thp_split import Kind
from hintspec.properties.proofs.thp_split.state import KIND_BITS, Queue, StateLayout, Upd
from hintspec.smt import Params, Vars, complement, join, meet


class EntryOps(StateLayout):
    """Updates of page-table entries, the split queue and the proof relation's havoc."""

    def set_entry(self, c: Vars, upd: Upd, r: int, q: Any, kind: Kind, data: Any, wp: Any) -> Upd:
        """Install entry (kind, data, wp) at subpage q of region r (after ``upd``); a page
        counts as populated (ThpSplit._map)."""
        out = dict(upd)
        b0, b1 = KIND_BITS[kind]
        for name, val in (("k0", b0), ("k1", b1), ("data", data), ("wp", wp)):
            key = self.nm(name, r)
            out[key] = z3.Store(out.get(key, c[key]), q, val)
        if kind is not Kind.NONE:
            key = self.nm("populated", r)
            out[key] = z3.Store(out.get(key, c[key]), q, True)
        return out

    def fill(self, c: Vars, r: int, mask: Any, data: Any) -> Upd:
        """THP subpages at the subpages of region r in ``mask`` (a frame set, or None for
        all of them), no uffd-wp bit, populated; ``data`` is the new data set."""
        k0, k1 = self.arr(c, "k0", r), self.arr(c, "k1", r)
        wp, pop = self.arr(c, "wp", r), self.arr(c, "populated", r)
        if mask is None:
            new = (self.full(True), self.full(False), self.full(False), self.full(True))
        else:
            new = (
                join(k0, mask),
                meet(k1, complement(mask)),
                meet(wp, complement(mask)),
                join(pop, mask),
            )
        names = ("k0", "k1", "wp", "populated")
        out = {self.nm(n, r): t for n, t in zip(names, new, strict=True)}
        out[self.nm("data", r)] = data
        return out

    def queue(self, c: Vars) -> Queue:
        return c["qlen"], [c[f"q{i}"] for i in range(self.R)]

    @staticmethod
    def queue_upd(qu: Queue) -> Upd:
        n, slots = qu
        return {"qlen": n, **{f"q{i}": s for i, s in enumerate(slots)}}

    def q_contains(self, qu: Queue, r: int) -> Any:
        n, slots = qu
        rv = self.en(r, self.rw)
        return z3.Or([z3.And(z3.ULT(self.en(i, self.lw), n), s == rv) for i, s in enumerate(slots)])

    def q_append(self, qu: Queue, r: int) -> Queue:
        n, slots = qu
        rv = self.en(r, self.rw)
        return n + 1, [z3.If(n == self.en(i, self.lw), rv, s) for i, s in enumerate(slots)]

    def q_remove(self, qu: Queue, r: int) -> Queue:
        """Remove r, which is in the queue (the slots after it move down)."""
        n, slots = qu
        rv, zero = self.en(r, self.rw), self.en(0, self.rw)
        new = []
        for i in range(self.R):
            at_or_after = z3.Or(
                [z3.And(z3.ULT(self.en(j, self.lw), n), slots[j] == rv) for j in range(i + 1)]
            )
            new.append(z3.If(at_or_after, slots[i + 1] if i + 1 < self.R else zero, slots[i]))
        return n - 1, new

    def q_pop(self, qu: Queue) -> Queue:
        n, slots = qu
        return n - 1, [*slots[1:], self.en(0, self.rw)]

    @staticmethod
    def q_if(cond: Any, a: Queue, b: Queue) -> Queue:
        return z3.If(cond, a[0], b[0]), [z3.If(cond, x, y) for x, y in zip(a[1], b[1], strict=True)]

    def havoc_regions(self, p: Params) -> Upd:
        """thp, the split queue and the remap witness take any value (proof relation)."""
        out: Upd = {"qlen": p.bitvec("qlen", self.lw), "stat_remap": p.bool("stat_remap")}
        for r in range(self.R):
            out[f"thp{r}"] = p.bool(f"thp{r}")
            out[f"q{r}"] = p.bitvec(f"q{r}", self.rw)
        return out

    def after_unmap(self, c: Vars, upd: Upd, qu: Queue, r: int, act: Any, freed: Any) -> Queue:
        """ThpSplit._after_unmap for region r: if ``act`` (its THP lost subpages), the THP
        is freed when ``freed`` (no subpage left; it leaves the queue) or else queued as
        partially mapped. Sets ``thp{r}`` in ``upd``; returns the new queue."""
        act = z3.And(act, c[f"thp{r}"])
        upd[f"thp{r}"] = z3.And(c[f"thp{r}"], z3.Not(z3.And(act, freed)))
        inq = self.q_contains(qu, r)
        return self.q_if(
            z3.And(act, freed, inq),
            self.q_remove(qu, r),
            self.q_if(z3.And(act, z3.Not(freed), z3.Not(inq)), self.q_append(qu, r), qu),
        )
