"""The page_reporting encoding's Init and one transition relation per action of the model."""

from __future__ import annotations

from typing import Any

import z3
from hintspec.models.page_reporting import (
    Content,
    Discard,
    PageReporting,
    Pc,
    Word,
)
from hintspec.properties.proofs import _bits as bits
from hintspec.properties.proofs.page_reporting.state import (
    _DATA,
    _POISON,
    RING_AVAIL,
    RING_EMPTY,
    RING_USED,
    StateLayout,
)
from hintspec.smt import (
    Params,
    Transition,
    Vars,
)


class Actions(StateLayout):
    """``init`` and the relations of :meth:`transitions` (and the proof's looser ones)."""

    def __init__(self, model: PageReporting) -> None:
        super().__init__(model)
        self._exact: dict[str, Transition] = {
            "alloc": self._alloc,
            "write": self._write,
            "free": self._free,
            "worker_start": self._worker_start,
            "walk": self._walk_exact,
            "report": self._report,
            "host_report": self._host_report,
            "drain": self._drain_action,
            "finish": self._finish,
            "quiesce": self._quiesce,
        }
        self._loose: dict[str, Transition] = {
            "walk": self._walk_loose,
            "host_report": self._host_report_loose,
        }

    def _set_content(self, upd: dict[str, Any], c: Vars, frames: list[Any], value: Content) -> None:
        for p in range(3):
            arr = upd.get(f"content{p}", c[f"content{p}"])
            for f in frames:
                arr = z3.Store(arr, f, bool(int(value) >> p & 1))
            upd[f"content{p}"] = arr

    def _request(self, word: Any, queued: Any) -> tuple[Any, Any]:
        """``__page_reporting_request``."""
        req = self._bv(int(Word.REQUESTED), 2)
        idle = self._bv(int(Word.IDLE), 2)
        return req, z3.If(word == req, queued, z3.Or(queued, word == idle))

    def _tabulate(self, body: Any) -> Any:
        """The frame set whose frame f is ``body(f)``, one store per frame (exact and
        quantifier-free; a ``z3.Lambda`` leaves the array solver "incomplete" now and then)."""
        out = self._empty()
        for f in range(self.n):
            out = z3.Store(out, f, body(self._bv(f, self.iw)))
        return out

    def _reset_sg(self, prefix: str, count: str) -> dict[str, Any]:
        out: dict[str, Any] = {count: self._slot(0)}
        for j in range(self.slots):
            out |= {f"{prefix}_head{j}": self._bv(0, self.iw), f"{prefix}_order{j}": self._ord(0)}
        return out

    def init(self, v: Vars) -> Any:
        none = self._empty()
        freed = int(self.m.freed_content)
        want: dict[str, Any] = dict.fromkeys(self._sets(), none)
        want[f"free{self.top}"] = z3.Store(none, 0, True)
        for p in range(3):
            want[f"content{p}"] = z3.K(self.index(), z3.BoolVal(bool(freed >> p & 1)))
        reporting = self.m.reporting
        want |= {
            "word": self._bv(int(Word.REQUESTED if reporting else Word.IDLE), 2),
            "work_queued": z3.BoolVal(reporting),
            "pc": self._pc(Pc.OFF),
            "order": self._ord(self.ro),
            "has_budget": z3.BoolVal(False),
            "budget": self._bv(0, self.bw),
            "err": z3.BoolVal(False),
            "quiet": z3.BoolVal(False),
            "ring": self._bv(RING_EMPTY, 2),
        }
        want |= self._reset_sg("sg", "nents") | self._reset_sg("ring", "ring_n")
        return z3.And([v[k] == want[k] for k in v])

    def transitions(self) -> dict[str, Transition]:
        # The same callables every time: loosened() tells the loosened actions by identity.
        return dict(self._exact)

    def proof_transitions(self) -> dict[str, Transition]:
        return self._exact | self._loose

    def _alloc(self, c: Vars, n: Vars, p: Params) -> Any:
        head = p.bitvec("head", self.iw)
        none = self._empty()
        cases = []
        for want in range(self.mao + 1):
            for found in range(want, self.top + 1):
                guard = z3.And(
                    *[c[f"free{j}"] == none for j in range(want, found)], c[f"free{found}"][head]
                )
                upd: dict[str, Any] = {f"free{found}": z3.Store(c[f"free{found}"], head, False)}
                for k in range(want, found):  # expand(): the upper halves go back unreported
                    upd[f"free{k}"] = z3.Store(c[f"free{k}"], head + (1 << k), True)
                upd[f"allocated{want}"] = z3.Store(c[f"allocated{want}"], head, True)
                if self.variant != "alloc_keeps_reported":
                    upd["reported"] = z3.Store(c["reported"], head, False)
                if found >= self.ro:
                    upd[f"acked{found}"] = z3.Store(c[f"acked{found}"], head, False)
                cases.append(z3.And(guard, self.assign(c, n, upd)))
        return z3.And(z3.Not(c["quiet"]), z3.Or(cases))

    def _write(self, c: Vars, n: Vars, p: Params) -> Any:
        head = p.bitvec("head", self.iw)
        cases = []
        for o in range(self.mao + 1):
            frames = [head + d for d in range(1 << o)]
            upd: dict[str, Any] = {}
            self._set_content(upd, c, frames, _DATA)
            handed = c["handed"]
            for f in frames:
                handed = z3.Store(handed, f, False)
            upd["handed"] = handed
            cases.append(z3.And(c[f"allocated{o}"][head], self.assign(c, n, upd)))
        return z3.And(z3.Not(c["quiet"]), z3.Not(self._written(c, head)), z3.Or(cases))

    def _free(self, c: Vars, n: Vars, p: Params) -> Any:
        head = p.bitvec("head", self.iw)
        cases = []
        for o in range(self.mao + 1):
            st = {k: c[k] for k in self._sets()}
            st[f"allocated{o}"] = z3.Store(st[f"allocated{o}"], head, False)
            self._set_content(st, c, [head + d for d in range(1 << o)], self.m.freed_content)
            final = self._free_one_page(st, head, o, None)[1]
            word, queued = c["word"], c["work_queued"]
            if self.m.reporting:
                notify = z3.Or([final[k] for k in range(max(o, self.ro), self.top + 1)])
                rw, rq = self._request(word, queued)
                word, queued = z3.If(notify, rw, word), z3.If(notify, rq, queued)
            upd = st | {"word": word, "work_queued": queued}
            cases.append(z3.And(c[f"allocated{o}"][head], self.assign(c, n, upd)))
        return z3.And(z3.Not(c["quiet"]), self._written(c, head), z3.Or(cases))

    def _free_one_page(
        self, st: dict[str, Any], head: Any, order: int, mark: Any
    ) -> tuple[Any, dict[int, Any], dict[int, Any], Any]:
        """``__free_one_page`` of (head, order) on the sets ``st`` (updated in place):
        (merged at all, final[k]: the result has order k, the head at each order k, and
        the mark the result keeps -- ``mark`` None: no mark travels with the block)."""
        # The heads of the block's ancestors, as head_of(head, k): the same terms whatever
        # order the block has (the drain tries every order a slot may hold).
        heads = {
            k: head if k == order else bits.head_of(head, k) for k in range(order, self.top + 1)
        }
        prev: Any = z3.BoolVal(True)
        final: dict[int, Any] = {}
        merged: Any = z3.BoolVal(False)
        for k in range(order, self.top):
            bud = heads[k] ^ (1 << k)
            buddy_free = st[f"free{k}"][bud]
            hit = z3.And(prev, buddy_free)
            final[k] = z3.And(prev, z3.Not(buddy_free))
            if k == order:
                merged = hit
            if mark is not None:
                marked = st["reported"][bud]
                if self.variant == "offline_mixed_merge":
                    mark = z3.If(hit, z3.Or(mark, marked), mark)
                else:
                    mark = z3.If(hit, z3.And(mark, marked), mark)
            st[f"free{k}"] = z3.If(hit, z3.Store(st[f"free{k}"], bud, False), st[f"free{k}"])
            if self.variant != "merge_keeps_reported":
                st["reported"] = z3.If(hit, z3.Store(st["reported"], bud, False), st["reported"])
            if k >= self.ro:
                st[f"acked{k}"] = z3.If(hit, z3.Store(st[f"acked{k}"], bud, False), st[f"acked{k}"])
            prev = hit
        final[self.top] = prev
        for k in range(order, self.top + 1):
            st[f"free{k}"] = z3.If(
                final[k], z3.Store(st[f"free{k}"], heads[k], True), st[f"free{k}"]
            )
        return merged, final, heads, mark

    def _worker_start(self, c: Vars, n: Vars, p: Params) -> Any:
        upd = {
            "word": self._bv(int(Word.ACTIVE), 2),
            "work_queued": z3.BoolVal(False),
            "pc": self._pc(Pc.WALK),
            "order": self._ord(self.ro),
        }
        return z3.And(c["work_queued"], c["pc"] == self._pc(Pc.OFF), self.assign(c, n, upd))

    def _walk_exact(self, c: Vars, n: Vars, p: Params) -> Any:
        return self._walk(c, n, p, exact=True)

    def _walk_loose(self, c: Vars, n: Vars, p: Params) -> Any:
        return self._walk(c, n, p, exact=False)

    def _walk(self, c: Vars, n: Vars, p: Params, *, exact: bool) -> Any:
        none = self._empty()
        walking = c["pc"] == self._pc(Pc.WALK)
        empty = {o: self._unreported(c, o) == none for o in self.rep_orders}
        cases = []
        for o in self.rep_orders:
            reach = [z3.ULE(c["order"], self._ord(o))]
            if exact:
                reach += [
                    z3.Implies(z3.ULE(c["order"], self._ord(q)), empty[q])
                    for q in range(self.ro, o)
                ]
                reach.append(z3.Not(empty[o]))
            cases.append(z3.And(*reach, self._walk_list(c, n, p, o, exact)))
        # Every list walked: report the leftovers, or end the pass.
        done = (
            [z3.Implies(z3.ULE(c["order"], self._ord(q)), empty[q]) for q in self.rep_orders]
            if exact
            else []
        )
        leftovers = c["nents"] != self._slot(0)
        if self.variant == "no_leftover_report":
            leftovers = z3.BoolVal(False)
        report = self.assign(
            c,
            n,
            {
                "pc": self._pc(Pc.REPORT),
                "order": self._ord(self.top + 1),
                "has_budget": z3.BoolVal(False),
                "budget": self._bv(0, self.bw),
            },
        )
        end = self.assign(
            c,
            n,
            {
                "pc": self._pc(Pc.END),
                "order": self._ord(self.ro),
                "has_budget": z3.BoolVal(False),
                "budget": self._bv(0, self.bw),
            },
        )
        cases.append(z3.And(*done, z3.If(leftovers, report, end)))
        return z3.And(walking, z3.Or(cases))

    def _walk_list(self, c: Vars, n: Vars, p: Params, o: int, exact: bool) -> Any:
        """``page_reporting_cycle`` on list ``o`` (the first with unreported heads)."""
        none = self._empty()
        nb = self._bv(0, self.bw)
        # The budget: the one left to the cycle resumed after a report, or a new cycle's.
        resume = z3.And(c["order"] == self._ord(o), c["has_budget"])
        if self.variant == "no_budget":
            has, stored = resume, c["budget"]
        elif exact:
            count = z3.Sum(
                [
                    z3.If(
                        c[f"free{o}"][self._bv(f, self.iw)],
                        self._bv(1, self.bw + 8),
                        self._bv(0, self.bw + 8),
                    )
                    for f in range(0, self.n, 1 << o)
                ]
            )
            per = self.cap * 16
            fresh = z3.Extract(self.bw - 1, 0, z3.UDiv(count + (per - 1), per)) + 1
            has, stored = z3.BoolVal(True), z3.If(resume, c["budget"], fresh)
        else:  # loosened: a new cycle's budget is any value
            has, stored = z3.BoolVal(True), z3.If(resume, c["budget"], p.bitvec("budget", self.bw))
        spent_out = z3.And(has, stored == 0)
        left = z3.If(has, stored - 1, nb)  # spent = budget - 1 (stored + 1 - 1 - 1 + 1)
        budget_spent = self.assign(
            c,
            n,
            {
                "word": self._bv(int(Word.REQUESTED), 2),
                "order": self._ord(o + 1),
                "has_budget": z3.BoolVal(False),
                "budget": nb,
            },
        )
        full = z3.BoolVal(False) if self.ignores_cap else z3.UGE(c["nents"], self._slot(self.cap))
        to_report = self.assign(
            c,
            n,
            {"pc": self._pc(Pc.REPORT), "order": self._ord(o), "has_budget": has, "budget": left},
        )
        # Isolate k heads into slots nents..nents+k-1, ascending.
        k = p.bitvec("k", self.nw)
        unrep = self._unreported(c, o)
        free, reported, rest = c[f"free{o}"], c["reported"], unrep
        upd: dict[str, Any] = {}
        slots = self._slot(self.slots)
        conds = [z3.ULE(self._slot(1), k), z3.ULE(k, slots), z3.ULE(c["nents"] + k, slots)]
        prev_new, prev_head = None, None
        for j in range(self.slots):
            new = z3.And(z3.ULE(c["nents"], self._slot(j)), z3.ULT(self._slot(j), c["nents"] + k))
            h = p.bitvec(f"h{j}", self.iw)
            conds.append(z3.Implies(new, unrep[h]))
            if prev_new is not None:
                conds.append(z3.Implies(z3.And(prev_new, new), z3.ULT(prev_head, h)))
            free = z3.If(new, z3.Store(free, h, False), free)
            reported = z3.If(new, z3.Store(reported, h, False), reported)
            rest = z3.If(new, z3.Store(rest, h, False), rest)
            upd[f"sg_head{j}"] = z3.If(new, h, c[f"sg_head{j}"])
            upd[f"sg_order{j}"] = z3.If(new, self._ord(o), c[f"sg_order{j}"])
            prev_new, prev_head = new, h
        upd |= {f"free{o}": free, "reported": reported, "nents": c["nents"] + k}
        room = self._slot(self.slots if self.ignores_cap else self.cap) - c["nents"]
        walk_on = {
            "pc": self._pc(Pc.WALK),
            "order": self._ord(o + 1),
            "has_budget": z3.BoolVal(False),
            "budget": nb,
        }
        report = {
            "pc": self._pc(Pc.REPORT),
            "order": self._ord(o),
            "has_budget": has,
            "budget": left,
        }
        if exact:
            all_fit = z3.And(rest == none, z3.ULE(k, room), self.assign(c, n, upd | walk_on))
            some = z3.And(rest != none, k == room, self.assign(c, n, upd | report))
            isolate = all_fit if self.ignores_cap else z3.Or(all_fit, some)
        else:
            isolate = z3.And(
                z3.ULE(k, room),
                z3.Or(self.assign(c, n, upd | walk_on), self.assign(c, n, upd | report)),
            )
        return z3.If(
            spent_out,
            budget_spent,
            z3.If(full, to_report, z3.And(*conds, isolate)),
        )

    def _report(self, c: Vars, n: Vars, p: Params) -> Any:
        reporting = c["pc"] == self._pc(Pc.REPORT)
        ring: dict[str, Any] = {"ring": c["ring"]}
        if self.variant == "reuse_before_ack":  # never waited for: reclaim the used buffer
            used = c["ring"] == self._bv(RING_USED, 2)
            reset = self._reset_sg("ring", "ring_n")
            ring = {"ring": z3.If(used, self._bv(RING_EMPTY, 2), c["ring"])}
            ring |= {k: z3.If(used, val, c[k]) for k, val in reset.items()}
        added = ring["ring"] == self._bv(RING_EMPTY, 2)
        ok = {"ring": self._bv(RING_AVAIL, 2), "ring_n": c["nents"], "pc": self._pc(Pc.WAIT)}
        for j in range(self.slots):
            ok |= {f"ring_head{j}": c[f"sg_head{j}"], f"ring_order{j}": c[f"sg_order{j}"]}
        may_fail = z3.Not(added)
        if self.m.config.report_errors:
            may_fail = z3.Or(may_fail, z3.Not(c["quiet"]))
        fail = z3.And(may_fail, self.assign(c, n, self._drain(c, ok=False) | ring))
        return z3.And(reporting, z3.Or(z3.And(added, self.assign(c, n, ok)), fail))

    def _host_report(self, c: Vars, n: Vars, p: Params) -> Any:
        def covered(x: Any) -> Any:
            return z3.Or(self._sg_covers(c, x, "ring", "ring_n"))

        upd: dict[str, Any] = {
            "ring": self._bv(RING_USED, 2),
            "handed": self._tabulate(lambda x: z3.Or(c["handed"][x], covered(x))),
        }
        if self.m.host_discards:
            zeroed = z3.Const(f"{p.tag}.zeroed", self.fs)
            free_mode = Discard(self.m.config.discard) is Discard.FREE

            def zap(x: Any, what: Content) -> Any:
                # MADV_FREE: each frame may still read back its old content.
                hit = z3.And(covered(x), self._content_is(c, x, what))
                return z3.And(hit, zeroed[x]) if free_mode else hit

            # DATA (011) -> LOST (100), POISON (010) -> ZERO (001)
            def plane(i: int) -> Any:
                def body(x: Any) -> Any:
                    old, data, poison = c[f"content{i}"][x], zap(x, _DATA), zap(x, _POISON)
                    if i == 0:
                        return z3.Or(z3.And(old, z3.Not(data)), poison)
                    if i == 1:
                        return z3.And(old, z3.Not(data), z3.Not(poison))
                    return z3.Or(old, data)

                return self._tabulate(body)

            upd |= {f"content{i}": plane(i) for i in range(3)}
        return z3.And(c["ring"] == self._bv(RING_AVAIL, 2), self.assign(c, n, upd))

    def _host_report_loose(self, c: Vars, n: Vars, p: Params) -> Any:
        """host_report for the induction step: the ring's buffer is used; what the host did
        to the content and ``handed`` of its frames is left open (the exact update is one
        store per frame, which would drag every frame into the step)."""
        keep = {
            k: v for k, v in c.items() if k not in ("handed", "content0", "content1", "content2")
        }
        same = z3.And([n[k] == v for k, v in keep.items() if k != "ring"])
        return z3.And(
            c["ring"] == self._bv(RING_AVAIL, 2), n["ring"] == self._bv(RING_USED, 2), same
        )

    def _drain_action(self, c: Vars, n: Vars, p: Params) -> Any:
        upd = self._drain(c, ok=True)
        guard = c["pc"] == self._pc(Pc.WAIT)
        if self.variant != "reuse_before_ack":
            guard = z3.And(guard, c["ring"] == self._bv(RING_USED, 2))
            upd |= {"ring": self._bv(RING_EMPTY, 2)} | self._reset_sg("ring", "ring_n")
        return z3.And(guard, self.assign(c, n, upd))

    def _drain(self, c: Vars, *, ok: bool) -> dict[str, Any]:
        """``page_reporting_drain``: put every slot back, last first (the sgl's order)."""
        st = {k: c[k] for k in self._sets()}
        offline = self.m.offline_design
        for j in reversed(range(self.slots)):
            live = z3.ULT(self._slot(j), c["nents"])
            head, order = c[f"sg_head{j}"], c[f"sg_order{j}"]
            before = dict(st)
            outcome = dict(st)
            for o in self.rep_orders:
                case = dict(before)
                case[f"acked{o}"] = z3.Store(case[f"acked{o}"], head, False)
                mark = z3.BoolVal(ok) if offline else None
                merged, final, heads, keep = self._free_one_page(case, head, o, mark)
                if offline:
                    for k in range(o, self.top + 1):
                        marked = z3.Store(case["reported"], heads[k], True)
                        case["reported"] = z3.If(z3.And(final[k], keep), marked, case["reported"])
                elif ok:
                    case["reported"] = z3.If(
                        merged, case["reported"], z3.Store(case["reported"], head, True)
                    )
                if ok:
                    case[f"acked{o}"] = z3.If(
                        merged, case[f"acked{o}"], z3.Store(case[f"acked{o}"], head, True)
                    )
                this = z3.And(live, order == self._ord(o))
                outcome = {key: z3.If(this, case[key], outcome[key]) for key in outcome}
            st = outcome
        out: dict[str, Any] = dict(st) | self._reset_sg("sg", "nents")
        stop = z3.BoolVal(True) if not ok else z3.UGT(c["order"], self._ord(self.top))
        out |= {
            "pc": z3.If(stop, self._pc(Pc.END), self._pc(Pc.WALK)),
            "order": z3.If(stop, self._ord(self.ro), c["order"]),
            "has_budget": z3.If(stop, z3.BoolVal(False), c["has_budget"]),
            "budget": z3.If(stop, self._bv(0, self.bw), c["budget"]),
            "err": z3.BoolVal(not ok),
        }
        return out

    def _finish(self, c: Vars, n: Vars, p: Params) -> Any:
        active = c["word"] == self._bv(int(Word.ACTIVE), 2)
        if self.variant == "atomic_set_idle":
            active = z3.BoolVal(True)
        upd = {
            "word": z3.If(active, self._bv(int(Word.IDLE), 2), c["word"]),
            "work_queued": z3.If(active, c["work_queued"], z3.BoolVal(True)),
            "pc": self._pc(Pc.OFF),
            "order": self._ord(self.ro),
            "err": z3.BoolVal(False),
        } | self._reset_sg("sg", "nents")
        return z3.And(c["pc"] == self._pc(Pc.END), self.assign(c, n, upd))

    def _quiesce(self, c: Vars, n: Vars, p: Params) -> Any:
        if not self.m.config.may_quiesce:
            return z3.BoolVal(False)
        return z3.And(z3.Not(c["quiet"]), self.assign(c, n, {"quiet": z3.BoolVal(True)}))
