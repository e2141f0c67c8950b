"""The page_reporting encoding's Init and the relations of the allocator, the driver and the
host (the pass over the free lists is in :mod:`.walk`)."""

from __future__ import annotations

from typing import Any

import z3
from hintspec.models.page_reporting import Content, Discard, FreeInit, Pc, Word
from hintspec.properties.proofs import _bits as bits
from hintspec.properties.proofs.page_reporting.state import (
    _DATA,
    _POISON,
    RING_AVAIL,
    RING_EMPTY,
    RING_USED,
    StateLayout,
)
from hintspec.smt import Params, Vars
from hintspec.smt.terms import z3_value


class Relations(StateLayout):
    """Term builders shared by the relations: stores, the merge chain, the drain."""

    def _set_content(self, upd: dict[str, Any], c: Vars, frames: list[Any], value: Content) -> None:
        for p in range(3):
            arr = upd.get(f"content{p}", c[f"content{p}"])
            for f in frames:
                arr = z3.Store(arr, f, bool(int(value) >> p & 1))
            upd[f"content{p}"] = arr

    def _clear(self, upd: dict[str, Any], c: Vars, name: str, frames: list[Any]) -> None:
        arr = upd.get(name, c[name])
        for f in frames:
            arr = z3.Store(arr, f, False)
        upd[name] = arr

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
            out = z3.Store(out, f, body(self._idx(f)))
        return out

    def _reset_sg(self, prefix: str, count: str) -> dict[str, Any]:
        out: dict[str, Any] = {count: self._slot(0)}
        for j in range(self.slots):
            out |= {f"{prefix}_head{j}": self._bv(0, self.iw), f"{prefix}_order{j}": self._ord(0)}
        return out

    def _set_pageblocks(self, arr: Any, head: Any, order: int, unmovable: Any) -> Any:
        """The pageblocks of (head, order), or the one holding it, set to a type."""
        for i in range(max(1, (1 << order) >> self.pb)):
            arr = z3.Store(arr, self.pageblock(head) + i, unmovable)
        return arr

    def _free_one_page(
        self, st: dict[str, Any], z: int, head: Any, order: int, mark: Any
    ) -> tuple[Any, dict[int, Any], dict[int, Any], Any, Any]:
        """``__free_one_page`` of (head, order) on zone ``z``'s lists in ``st`` (updated in
        place; the caller places the result): (merged at all, final[k]: the result has
        order k, the head at each order k, the mark the result keeps -- ``mark`` None: no
        mark travels --, and whether an owed buddy was absorbed)."""
        heads = {
            k: head if k == order else bits.head_of(head, k) for k in range(order, self.ztop[z] + 1)
        }
        prev: Any = z3.BoolVal(True)
        final: dict[int, Any] = {}
        merged: Any = z3.BoolVal(False)
        absorbed: Any = z3.BoolVal(False)
        for k in range(order, self.ztop[z]):
            bud = heads[k] ^ (1 << k)
            lists = [self.free(z, k, m) for m in (0, 1)]
            hit = z3.And(prev, z3.Or([st[name][bud] for name in lists]))
            final[k] = z3.And(prev, z3.Not(hit))
            if k == order:
                merged = hit
            if mark is not None:
                marked = st["reported"][bud]
                if self.variant == "offline_mixed_merge":
                    mark = z3.If(hit, z3.Or(mark, marked), mark)
                else:
                    mark = z3.If(hit, z3.And(mark, marked), mark)
            for name in lists:
                st[name] = z3.If(hit, z3.Store(st[name], bud, False), st[name])
            if self.variant != "merge_keeps_reported":
                st["reported"] = z3.If(hit, z3.Store(st["reported"], bud, False), st["reported"])
            if k >= self.ro:
                for g in ("acked", "owed"):
                    arr = st[f"{g}{k}"]
                    if g == "owed":
                        absorbed = z3.Or(absorbed, z3.And(hit, arr[bud]))
                    st[f"{g}{k}"] = z3.If(hit, z3.Store(arr, bud, False), arr)
            prev = hit
        final[self.ztop[z]] = prev
        return merged, final, heads, mark, absorbed

    def _place(
        self, st: dict[str, Any], z: int, final: dict[int, Any], heads: dict[int, Any], u: Any
    ) -> None:
        """Add the result of a merge chain to the list of its migratetype (``u``: UNMOVABLE)."""
        for k, fin in final.items():
            for m, on in ((0, u), (1, z3.Not(u))):
                name = self.free(z, k, m)
                st[name] = z3.If(z3.And(fin, on), z3.Store(st[name], heads[k], True), st[name])

    def _drain(self, c: Vars, *, ok: bool) -> dict[str, Any]:
        """``page_reporting_drain``: put every slot back, last first (the sgl's order),
        each with its pageblock's type now."""
        st = {k: c[k] for k in self._sets()}
        offline = self.m.offline_design
        for j in reversed(range(self.slots)):
            live = z3.ULT(self._slot(j), c["nents"])
            head, order = c[f"sg_head{j}"], c[f"sg_order{j}"]
            before = dict(st)
            outcome = dict(st)
            for z in range(self.zones):
                for o in range(self.ro, self.ztop[z] + 1):
                    case = dict(before)
                    case[f"acked{o}"] = z3.Store(case[f"acked{o}"], head, False)
                    was_owed = case[f"owed{o}"][head]
                    case[f"owed{o}"] = z3.Store(case[f"owed{o}"], head, False)
                    u = case["unmovable"][self.pageblock(head)]
                    mark = z3.BoolVal(ok) if offline else None
                    merged, final, heads, keep, absorbed = self._free_one_page(
                        case, z, head, o, mark
                    )
                    self._place(case, z, final, heads, u)
                    marked = keep if offline else z3.And(z3.BoolVal(ok), z3.Not(merged))
                    owe = z3.And(z3.Not(marked), z3.Or(was_owed, absorbed))
                    for k in range(o, self.ztop[z] + 1):
                        at = z3.And(final[k], marked)
                        case["reported"] = z3.If(
                            at, z3.Store(case["reported"], heads[k], True), case["reported"]
                        )
                        name = f"owed{k}"
                        on = z3.And(final[k], owe)
                        case[name] = z3.If(on, z3.Store(case[name], heads[k], True), case[name])
                    if ok:
                        case[f"acked{o}"] = z3.If(
                            merged, case[f"acked{o}"], z3.Store(case[f"acked{o}"], head, True)
                        )
                    this = z3.And(live, order == self._ord(o), self.in_zone(head, z))
                    outcome = {key: z3.If(this, case[key], outcome[key]) for key in outcome}
            st = outcome
        if not ok:  # nothing retries: what the pass owed is forgiven
            for o in self.rep_orders:
                st[f"owed{o}"] = self._empty()
        out: dict[str, Any] = dict(st) | self._reset_sg("sg", "nents") | self._end()
        if ok:
            # Mid-list: resume the cycle; the leftovers of zone 0: on to zone 1; else end.
            mid = z3.Not(z3.UGT(c["order"], self._ord(self.top)))
            on = z3.And(z3.Not(mid), z3.Not(c["zone1"])) if self.zones > 1 else z3.BoolVal(False)
            nxt = self._end() | {"zone1": z3.BoolVal(True)}
            for key, val in self._end().items():
                out[key] = z3.If(mid, c[key], z3.If(on, nxt[key], val))
            out["pc"] = z3.If(z3.Or(mid, on), self._pc(Pc.WALK), self._pc(Pc.END))
        out["err"] = z3.BoolVal(not ok)
        return out

    def _end(self) -> dict[str, Any]:
        """The worker's registers at the end of a pass (and at a new zone, but the pc)."""
        return {
            "pc": self._pc(Pc.END),
            "zone1": z3.BoolVal(False),
            "order": self._ord(self.ro),
            "movable": z3.BoolVal(False),
            "has_budget": z3.BoolVal(False),
            "budget": self._bv(0, self.bw),
        }


class Actions(Relations):
    """``init`` and the relations of :meth:`transitions` (the walk's come from a mixin)."""

    def init(self, v: Vars) -> Any:
        """The model's initial state (memory free or fragmented, the first request made)."""
        sorts = self.sorts()
        state = next(iter(self.m.initial_states()))
        want = {
            k: self._const_set(int(val)) if k in self._sets() else z3_value(val, sorts[k])
            for k, val in self.encode(state).items()
        }
        return z3.And([v[k] == want[k] for k in v])

    def _const_set(self, value: int) -> Any:
        """A constant frame set: all false or all true with stores for the exceptions."""
        ones = bin(value).count("1")
        base = ones * 2 > self.n
        out = z3.K(self.index(), z3.BoolVal(base))
        for f in range(self.n):
            if bool(value >> f & 1) != base:
                out = z3.Store(out, self._idx(f), z3.BoolVal(not base))
        return out

    def _alloc(self, c: Vars, n: Vars, p: Params) -> Any:
        head = p.bitvec("head", self.iw)
        none = self._empty()
        cfg = self.m.config
        cases = []
        for z in range(self.zones):
            here = []
            ztop = self.ztop[z]
            for want in range(min(self.mao, ztop) + 1):
                for mt in (0, 1):
                    if mt == 0 and not cfg.unmovable_allocs:
                        continue
                    if (
                        mt == 0
                        and z == self.m.movable_zone
                        and self.variant != "unmovable_in_movable_zone"
                    ):
                        continue  # gfp_zone()
                    other = 1 - mt
                    for found in range(want, ztop + 1):
                        guard = z3.And(
                            *[c[self.free(z, k, mt)] == none for k in range(want, found)],
                            c[self.free(z, found, mt)][head],
                        )
                        upd = self._take(c, z, want, mt, head, found, mt, None)
                        here.append(z3.And(guard, self.assign(c, n, upd)))
                        steal = z3.And(
                            *[c[self.free(z, k, mt)] == none for k in range(want, ztop + 1)],
                            *[
                                c[self.free(z, k, other)] == none
                                for k in range(found + 1, ztop + 1)
                            ],
                            c[self.free(z, found, other)][head],
                        )
                        for claim in (True,) if found >= self.pb else (True, False):
                            upd = self._take(c, z, want, mt, head, found, other, claim)
                            here.append(z3.And(steal, self.assign(c, n, upd)))
            cases.append(z3.And(self.in_zone(head, z), z3.Or(here or [False])))
        return z3.And(z3.Not(c["quiet"]), z3.Or(cases))

    def _take(
        self,
        c: Vars,
        z: int,
        want: int,
        mt: int,
        head: Any,
        found: int,
        src: int,
        claim: bool | None,
    ) -> dict[str, Any]:
        """Allocate (head, found) off list ``src`` for a request of (want, mt), claiming its
        pageblocks if ``claim`` (None: no steal), expand() onto mt's lists."""
        upd: dict[str, Any] = {}
        name = self.free(z, found, src)
        upd[name] = z3.Store(c[name], head, False)
        if claim:
            claimed = z3.BoolVal(mt == 0)
            upd["unmovable"] = self._set_pageblocks(c["unmovable"], head, found, claimed)
        if self.variant != "alloc_keeps_reported":
            upd["reported"] = z3.Store(c["reported"], head, False)
        for k in range(want, found):  # expand(): the upper halves go back unreported
            name = self.free(z, k, mt)
            upd[name] = z3.Store(upd.get(name, c[name]), head + (1 << k), True)
        upd[f"allocated{want}"] = z3.Store(c[f"allocated{want}"], head, True)
        if found >= self.ro:
            upd[f"acked{found}"] = z3.Store(c[f"acked{found}"], head, False)
            upd[f"owed{found}"] = z3.Store(c[f"owed{found}"], head, False)
        return upd

    def _write(self, c: Vars, n: Vars, p: Params) -> Any:
        head = p.bitvec("head", self.iw)
        cases = []
        for o in range(self.mao + 1):
            frames = [head + d for d in range(1 << o)]
            upd: dict[str, Any] = {}
            self._set_content(upd, c, frames, _DATA)
            self._clear(upd, c, "handed", frames)
            self._clear(upd, c, "discarded", frames)
            cases.append(z3.And(c[f"allocated{o}"][head], self.assign(c, n, upd)))
        return z3.And(z3.Not(c["quiet"]), z3.Not(self._written(c, head)), z3.Or(cases))

    def _free(self, c: Vars, n: Vars, p: Params) -> Any:
        head = p.bitvec("head", self.iw)
        freed = self.m.freed_content
        cases = []
        for z in range(self.zones):
            for o in range(min(self.mao, self.ztop[z]) + 1):
                frames = [head + d for d in range(1 << o)]
                st = {k: c[k] for k in self._sets()}
                st[f"allocated{o}"] = z3.Store(st[f"allocated{o}"], head, False)
                self._set_content(st, c, frames, freed)
                if FreeInit(self.m.config.free_init) is not FreeInit.NONE:
                    self._clear(st, c, "handed", frames)
                    self._clear(st, c, "discarded", frames)
                u = self.unmovable_at(c, head)  # get_pfnblock_migratetype
                _merged, final, heads, _mark, _abs = self._free_one_page(st, z, head, o, None)
                self._place(st, z, final, heads, u)
                word, queued = c["word"], c["work_queued"]
                if self.m.reporting:
                    for k in range(max(o, self.ro), self.ztop[z] + 1):
                        name = f"owed{k}"
                        st[name] = z3.If(final[k], z3.Store(st[name], heads[k], True), st[name])
                    if self.variant == "notify_unmerged_order":
                        notify = z3.BoolVal(o >= self.ro)
                    else:
                        high = range(max(o, self.ro), self.ztop[z] + 1)
                        notify = z3.Or([final[k] for k in high] or [False])
                    rw, rq = self._request(word, queued)
                    word, queued = z3.If(notify, rw, word), z3.If(notify, rq, queued)
                upd = st | {"word": word, "work_queued": queued}
                cases.append(
                    z3.And(self.in_zone(head, z), c[f"allocated{o}"][head], self.assign(c, n, upd))
                )
        return z3.And(z3.Not(c["quiet"]), self._written(c, head), z3.Or(cases))

    def _worker_start(self, c: Vars, n: Vars, p: Params) -> Any:
        upd = {
            "word": self._bv(int(Word.ACTIVE), 2),
            "work_queued": z3.BoolVal(False),
            "pc": self._pc(Pc.WALK),
            "zone1": z3.BoolVal(False),
            "order": self._ord(self.ro),
            "movable": z3.BoolVal(False),
        }
        return z3.And(c["work_queued"], c["pc"] == self._pc(Pc.OFF), self.assign(c, n, upd))

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

    def _ring_covers(self, c: Vars, x: Any) -> Any:
        return z3.Or(self._sg_covers(c, x, "ring", "ring_n"))

    def _ring_hits(self, c: Vars, x: Any) -> Any:
        """Frame x is discarded by the host: a range of the ring aligned to the host page
        covers it (or, ``host_rounds_out``, the host page around a smaller range)."""
        hpo = self.hpo
        out = []
        for j in range(self.slots):
            live = z3.ULT(self._slot(j), c["ring_n"])
            head, order = c[f"ring_head{j}"], c[f"ring_order{j}"]
            big = z3.UGE(order, self._ord(hpo))
            hit = z3.And(big, self._covers(x, head, order))
            if self.variant == "host_rounds_out" and hpo:
                page = bits.head_of(head, hpo)
                hit = z3.Or(hit, z3.And(z3.Not(big), bits.head_of(x, hpo) == page))
            out.append(z3.And(live, hit))
        return z3.Or(out)

    def _host_effect(self, c: Vars, p: Params, table: Any) -> dict[str, Any]:
        """What the host does to handed, discarded and the content (``table`` builds a frame
        set from its per-frame body: stores per frame, or a lambda)."""
        upd: dict[str, Any] = {
            "ring": self._bv(RING_USED, 2),
            "handed": table(lambda x: z3.Or(c["handed"][x], self._ring_covers(c, x))),
        }
        if not self.m.host_discards:
            return upd
        upd["discarded"] = table(lambda x: z3.Or(c["discarded"][x], self._ring_hits(c, x)))
        zeroed = z3.Const(f"{p.tag}.zeroed", self.fs)
        free_mode = Discard(self.m.config.discard) is Discard.FREE

        def zap(x: Any, what: Content) -> Any:
            # MADV_FREE: each frame may still read back its old content.
            hit = z3.And(self._ring_hits(c, x), self._content_is(c, x, what))
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

            return table(body)

        upd |= {f"content{i}": plane(i) for i in range(3)}
        return upd

    def _host_report(self, c: Vars, n: Vars, p: Params) -> Any:
        upd = self._host_effect(c, p, self._tabulate)
        return z3.And(c["ring"] == self._bv(RING_AVAIL, 2), self.assign(c, n, upd))

    def _host_report_local(self, c: Vars, n: Vars, p: Params) -> Any:
        """host_report for the induction step: the same update, each frame set as a
        ``z3.Lambda`` over frames, so the step reads only the frames its goal names."""

        def table(body: Any) -> Any:
            x = z3.Const(f"{p.tag}.x", self.index())
            return z3.Lambda([x], body(x))

        upd = self._host_effect(c, p, table)
        return z3.And(c["ring"] == self._bv(RING_AVAIL, 2), self.assign(c, n, upd))

    def _drain_action(self, c: Vars, n: Vars, p: Params) -> Any:
        upd = self._drain(c, ok=True)
        guard = c["pc"] == self._pc(Pc.WAIT)
        if self.variant == "reuse_before_ack":
            return z3.And(guard, self.assign(c, n, upd))
        used = c["ring"] == self._bv(RING_USED, 2)
        upd |= {"ring": self._bv(RING_EMPTY, 2)} | self._reset_sg("ring", "ring_n")
        acked = z3.And(used, self.assign(c, n, upd))
        if self.variant == "busy_poll_ack":  # virtqueue_get_buf() found nothing: spin
            acked = z3.Or(acked, z3.And(z3.Not(used), self.assign(c, n, {})))
        return z3.And(guard, acked)

    def _finish(self, c: Vars, n: Vars, p: Params) -> Any:
        active = c["word"] == self._bv(int(Word.ACTIVE), 2)
        if self.variant == "atomic_set_idle":
            active = z3.BoolVal(True)
        upd = {
            "word": z3.If(active, self._bv(int(Word.IDLE), 2), c["word"]),
            "work_queued": z3.If(active, c["work_queued"], z3.BoolVal(True)),
            "pc": self._pc(Pc.OFF),
            "err": z3.BoolVal(False),
        } | self._reset_sg("sg", "nents")
        return z3.And(c["pc"] == self._pc(Pc.END), self.assign(c, n, upd))

    def _quiesce(self, c: Vars, n: Vars, p: Params) -> Any:
        if not self.m.config.may_quiesce:
            return z3.BoolVal(False)
        return z3.And(z3.Not(c["quiet"]), self.assign(c, n, {"quiet": z3.BoolVal(True)}))
