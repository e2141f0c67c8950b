"""The page_reporting encoding's pass over the free lists: ``walk``, exact and loosened.

A step examines the lists of each zone in walk order (each order from the reporting order
up, UNMOVABLE then MOVABLE) from the pass's position (``zone1``, ``order``, ``movable``)
and runs ``page_reporting_cycle`` on the first with an unreported head; at a zone's end it
reports the leftovers, or moves on to the next zone, or ends the pass.
"""

from __future__ import annotations

from typing import Any

import z3
from hintspec.models.page_reporting import Pc, Word
from hintspec.properties.proofs.page_reporting.actions import Actions
from hintspec.smt import Params, Vars


class Walk(Actions):
    """``walk``: :meth:`_walk_exact` for BMC and conformance, :meth:`_walk_loose` for the
    induction step."""

    def _walk_exact(self, c: Vars, n: Vars, p: Params) -> Any:
        return self._walk(c, n, p, exact=True)

    def _walk_loose(self, c: Vars, n: Vars, p: Params) -> Any:
        return self._walk(c, n, p, exact=False)

    def _from(self, c: Vars, z: int, o: int, m: int) -> Any:
        """List (z, o, m) is at or after the pass's position within zone z."""
        tie = z3.BoolVal(True) if m == 1 else z3.Not(c["movable"])
        at = z3.Or(z3.ULT(c["order"], self._ord(o)), z3.And(c["order"] == self._ord(o), tie))
        return z3.And(self.at_zone(c, z), at)

    def _walk(self, c: Vars, n: Vars, p: Params, *, exact: bool) -> Any:
        walking = c["pc"] == self._pc(Pc.WALK)
        if self.variant == "pass_reports_nothing":  # the watermark gate fails everywhere
            return z3.And(walking, self.assign(c, n, self._end()))
        none = self._empty()
        lists = {
            z: [(o, m) for _z, o, m in self.lists(z) if o >= self.ro] for z in range(self.zones)
        }
        empty = {key: self._unreported(c, *key) == none for key in self._walked(lists)}
        drops = self.variant == "no_leftover_report"
        leftovers = c["nents"] != self._slot(0)

        def nothing(z: int, upto: tuple[int, int] | None = None, whole: bool = False) -> Any:
            """The lists of zone z before ``upto`` (default: all) that the pass still
            walks -- from its position, or all of them (``whole``) when it comes from the
            zone before -- have nothing to isolate (the loosened relation drops this)."""
            out = []
            for o, m in lists[z]:
                if upto is not None and (o, m) >= upto:
                    break
                if exact:
                    reach = z3.BoolVal(True) if whole else self._from(c, z, o, m)
                    out.append(z3.Implies(reach, empty[(z, o, m)]))
            return z3.And(out) if out else z3.BoolVal(True)

        def work(z: int, o: int, m: int) -> Any:
            return z3.Not(empty[(z, o, m)]) if exact else z3.BoolVal(True)

        # Across the end of zone 0: upstream only with nothing left over; the variant drops.
        crossing = z3.And(z3.Not(c["zone1"]), nothing(0))
        if not drops:
            crossing = z3.And(crossing, z3.Not(leftovers))
        dropped = self._reset_sg("sg", "nents") if drops else {}
        cases = []
        for z in lists:
            for o, m in lists[z]:
                reach = z3.And(self._from(c, z, o, m), nothing(z, (o, m)), work(z, o, m))
                cases.append(z3.And(reach, self._cycle(c, n, p, z, o, m, exact, False)))
                if z == 1:
                    reach = z3.And(crossing, nothing(1, (o, m), whole=True), work(z, o, m))
                    cases.append(z3.And(reach, self._cycle(c, n, p, z, o, m, exact, drops)))
        # A zone's end: its leftovers, or the end of the pass after the last zone.
        report = {
            "pc": self._pc(Pc.REPORT),
            "order": self._ord(self.top + 1),
            "has_budget": z3.BoolVal(False),
            "budget": self._bv(0, self.bw),
        }
        last = self.zones - 1
        for z in lists:
            done = z3.And(self.at_zone(c, z), nothing(z))
            if not drops:
                cases.append(z3.And(done, leftovers, self.assign(c, n, report)))
            if z == last:
                quiet = z3.BoolVal(True) if drops else z3.Not(leftovers)
                cases.append(z3.And(done, quiet, self.assign(c, n, self._end() | dropped)))
        if last == 1:
            done = z3.And(crossing, nothing(1, whole=True))
            cases.append(z3.And(done, self.assign(c, n, self._end() | dropped)))
        return z3.And(walking, z3.Or(cases))

    def _walked(self, lists: dict[int, list[tuple[int, int]]]) -> list[tuple[int, int, int]]:
        return [(z, o, m) for z in lists for o, m in lists[z]]

    def _cycle(
        self, c: Vars, n: Vars, p: Params, z: int, o: int, m: int, exact: bool, dropped: bool
    ) -> Any:
        """``page_reporting_cycle`` on list (z, o, m); ``dropped``: the scatterlist left
        over from the zone before was dropped (``no_leftover_report``)."""
        none = self._empty()
        nb = self._bv(0, self.bw)
        name = self.free(z, o, m)
        nents = self._slot(0) if dropped else c["nents"]
        base = self._reset_sg("sg", "nents") if dropped else {}
        # The budget: the one left to the cycle resumed after a report, or a new cycle's.
        exactly_here = z3.And(
            self.at_zone(c, z),
            c["order"] == self._ord(o),
            c["movable"] == z3.BoolVal(m == 1),
        )
        resume = z3.And(exactly_here, c["has_budget"]) if not dropped else z3.BoolVal(False)
        if self.variant == "no_budget":
            has, stored = resume, c["budget"]
        elif exact:
            width = self.bw + 8
            one, zero = self._bv(1, width), self._bv(0, width)
            lo, hi = self.zstart[z], self.zstart[z] + (1 << self.ztop[z])
            count = z3.Sum(
                [
                    z3.If(z3.Or(c[self.free(z, o, mm)][self._idx(f)] for mm in (0, 1)), one, zero)
                    for f in range(lo, hi, 1 << o)
                ]
            )
            per = self.cap * 16
            fresh = z3.Extract(self.bw - 1, 0, z3.UDiv(count + (per - 1), per)) + 1
            has, stored = z3.BoolVal(True), z3.If(resume, c["budget"], fresh)
        else:  # loosened: a new cycle's budget is any value
            has, stored = z3.BoolVal(True), z3.If(resume, c["budget"], p.bitvec("budget", self.bw))
        spent_out = z3.And(has, stored == 0)
        left = z3.If(has, stored - 1, nb)
        where = {"zone1": z3.BoolVal(z == 1), "order": self._ord(o), "movable": z3.BoolVal(m == 1)}
        nxt_o, nxt_m = (o, 1) if m == 0 else (o + 1, 0)
        nxt = {
            "zone1": z3.BoolVal(z == 1),
            "order": self._ord(nxt_o),
            "movable": z3.BoolVal(nxt_m == 1),
        }
        budget_spent = self.assign(
            c,
            n,
            base
            | nxt
            | {
                "word": self._bv(int(Word.REQUESTED), 2),
                "has_budget": z3.BoolVal(False),
                "budget": nb,
            },
        )
        full = z3.BoolVal(False) if self.ignores_cap else z3.UGE(nents, self._slot(self.cap))
        to_report = self.assign(
            c,
            n,
            base | where | {"pc": self._pc(Pc.REPORT), "has_budget": has, "budget": left},
        )
        # Isolate k heads into slots nents..nents+k-1, ascending.
        k = p.bitvec("k", self.nw)
        unrep = self._unreported(c, z, o, m)
        free, reported, rest, pageblocks = c[name], c["reported"], unrep, c["unmovable"]
        upd: dict[str, Any] = dict(base)
        slots = self._slot(self.slots)
        conds = [z3.ULE(self._slot(1), k), z3.ULE(k, slots), z3.ULE(nents + k, slots)]
        prev_new, prev_head = None, None
        for j in range(self.slots):
            new = z3.And(z3.ULE(nents, self._slot(j)), z3.ULT(self._slot(j), nents + k))
            h = p.bitvec(f"h{j}", self.iw)
            conds.append(z3.Implies(new, unrep[h]))
            if prev_new is not None:
                conds.append(z3.Implies(z3.And(prev_new, new), z3.ULT(prev_head, h)))
            free = z3.If(new, z3.Store(free, h, False), free)
            reported = z3.If(new, z3.Store(reported, h, False), reported)
            rest = z3.If(new, z3.Store(rest, h, False), rest)
            # __isolate_free_page: at least half a pageblock turns its pageblocks MOVABLE.
            moved = self._set_pageblocks(pageblocks, h, o, z3.BoolVal(False))
            pageblocks = z3.If(new, moved, pageblocks)
            upd[f"sg_head{j}"] = z3.If(new, h, upd.get(f"sg_head{j}", c[f"sg_head{j}"]))
            upd[f"sg_order{j}"] = z3.If(
                new, self._ord(o), upd.get(f"sg_order{j}", c[f"sg_order{j}"])
            )
            prev_new, prev_head = new, h
        upd |= {name: free, "reported": reported, "unmovable": pageblocks, "nents": nents + k}
        room = self._slot(self.slots if self.ignores_cap else self.cap) - nents
        walk_on = nxt | {"pc": self._pc(Pc.WALK), "has_budget": z3.BoolVal(False), "budget": nb}
        report = where | {"pc": self._pc(Pc.REPORT), "has_budget": has, "budget": left}
        if exact:
            all_fit = z3.And(rest == none, z3.ULE(k, room), self.assign(c, n, upd | walk_on))
            some = z3.And(rest != none, k == room, self.assign(c, n, upd | report))
            isolate = all_fit if self.ignores_cap else z3.Or(all_fit, some)
        else:
            isolate = z3.And(
                z3.ULE(k, room),
                z3.Or(self.assign(c, n, upd | walk_on), self.assign(c, n, upd | report)),
            )
        return z3.If(spent_out, budget_spent, z3.If(full, to_report, z3.And(*conds, isolate)))
