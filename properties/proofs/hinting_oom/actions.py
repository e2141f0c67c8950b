"""The hinting_oom encoding's Init and one transition relation per action of the model."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import z3
from hintspec.models.hinting_oom import BUDGET_DIVISOR, PR, Worker
from hintspec.properties.proofs.hinting_oom.state import StateLayout
from hintspec.smt import (
    Params,
    Transition,
    Vars,
    complement,
    join,
    meet,
    minus,
)


class Actions(StateLayout):
    """``init`` and the relations of :meth:`transitions` (and the proof's looser ones)."""

    def init(self, v: Vars) -> Any:
        zone: Any = z3.K(self.idx, z3.BoolVal(True))
        if self.n < self.size:
            zone = self.empty()
            for b in range(self.n):
                zone = z3.Store(zone, z3.BitVecVal(b, self.width), True)
        want: dict[str, Any] = {"free": zone, "nfree": self.bv(self.n), "oom": z3.BoolVal(False)}
        if self.capped:
            want |= {
                "pr": z3.BitVecVal(int(PR.REQUESTED), 2),
                "budget": self.bv(1),
                "nelig": self.bv(self.n),
            }
        out = []
        for name, term in v.items():
            if name in want:
                out.append(term == want[name])
            elif isinstance(term.sort(), z3.ArraySortRef):
                out.append(term == self.empty())
            elif term.sort() == z3.BoolSort():
                out.append(z3.Not(term))
            else:
                out.append(term == 0)
        return z3.And(out)

    def features(self, v: Vars) -> list[Any]:
        """A block's signature (``hinting_oom._signature``) as frame sets, one per feature:
        free, free and reported, each vCPU's allocation, each bit of each array's count,
        each isolated array, each live ring slot (a slot stands for (stage, index))."""
        out = [v["free"], meet(v["free"], v["reported"])]
        out += [v[f"alloc{c}"] for c in range(self.cpus)]
        if self.percpu:
            for c in range(self.cpus):
                out += [v[f"listed{c}_{k}"] for k in range(self.planes)]
                out.append(v[f"iso{c}"])
        r = self.ring(v)
        out += [z3.If(r.live(j), r.sets[j], self.empty()) for j in range(self.R)]
        return out

    def same_class(self, v: Vars, x: Any) -> Any:
        """The set of blocks with block x's signature."""
        return meet(*[z3.If(f[x], f, complement(f)) for f in self.features(v)])

    def below(self, x: int) -> Any:
        """The constant set {0, ..., x - 1}."""
        if x not in self._below:
            out = self.empty()
            for y in range(x):
                out = z3.Store(out, z3.BitVecVal(y, self.width), True)
            self._below[x] = out
        return self._below[x]

    def lowest_of_class(self, v: Vars, among: Any, b: Any) -> Any:
        """No block below b in ``among`` has b's signature (``HintingOom.choices``)."""
        rivals = meet(among, self.same_class(v, b))
        return z3.And(
            [
                z3.Implies(z3.ULT(y, b), z3.Not(rivals[z3.BitVecVal(y, self.width)]))
                for y in range(self.size)
            ]
        )

    def lowest_of_classes(self, v: Vars, among: Any, take: Any) -> Any:
        """``take`` holds, of each class of ``among``, its lowest blocks (``subsets``)."""
        out = []
        for x in range(1, self.size):
            xv = z3.BitVecVal(x, self.width)
            lower = meet(among, self.same_class(v, xv), self.below(x))
            out.append(z3.Implies(take[xv], minus(lower, take) == self.empty()))
        return z3.And(out)

    def transitions(self) -> dict[str, Transition]:
        return self._relations(exact=True)

    def proof_transitions(self) -> dict[str, Transition]:
        """The induction step's relations (capped designs; the per-CPU ones use the exact
        relation). Changed from :meth:`transitions`:

        * ``alloc``, ``free``: any block of the set, not only the lowest of its class (the
          model's symmetry reduction: the others are renamings of the same step);
        * ``page_reporting_cycle``: any set of eligible blocks, of any size (the count
          still comes from ``nelig``/``nfree``; its cardinality link to the set is dropped);
        * ``page_reporting_drain``: ``nfree += slotn0`` and ``nelig`` unchanged, instead of
          counting the blocks of the buffer that were not free -- the same on every state
          where the buffer's blocks are not free (ownership, proved) and ``slotn0`` is its
          length (counts agree with sets, as in every encoded reachable state);
        * ``free``: also needs ``nalloc{c} >= 1`` -- true whenever vCPU c holds a block in a
          state whose counts agree with its sets.

        The first two only loosen. The last two agree with the exact relation on every
        state whose counts agree with its sets and where ownership holds; every reachable
        state is one (the exact relation keeps counts exact, and the proof establishes
        ownership along the path), so the induction covers every reachable state. The
        conformance test checks that these relations admit every Python successor."""
        if not self.capped:
            return self.transitions()
        return self._relations(exact=False)

    def _relations(self, *, exact: bool) -> dict[str, Transition]:
        def bind(fn: Callable[[Vars, Vars, Params, bool], Any]) -> Transition:
            return lambda c, n, p: fn(c, n, p, exact)

        def never(c: Vars, n: Vars, p: Params) -> Any:
            return z3.BoolVal(False)

        per = self.percpu
        cap = self.capped
        return {
            "alloc": bind(self._alloc),
            "out_of_memory": self._oom,
            "free": bind(self._free),
            "guest_free_page_hinting": self._hinting if per else never,
            "retry_add": self._retry if self.model.variant == "percpu_spin" else never,
            "hinting_ack": bind(self._ack) if per else never,
            "page_reporting_process": self._process if cap else never,
            "page_reporting_cycle": bind(self._cycle) if cap else never,
            "page_reporting_drain": bind(self._drain) if cap else never,
            "host_pop": self._pop,
            "host_push": self._push,
        }

    def busy(self, v: Vars, cpu: int) -> Any:
        """``HintingOom._busy``: inside the hinting call of its free path (per-CPU)."""
        if not self.percpu:
            return z3.BoolVal(False)
        thr = self.bv(self.config.threshold)
        return z3.Or(z3.UGE(v[f"nlisted{cpu}"], thr), v[f"niso{cpu}"] != 0)

    def _alloc(self, c: Vars, n: Vars, p: Params, exact: bool) -> Any:
        b = p.bitvec("block", self.width)
        cfg = self.config
        upd: dict[str, Any] = {
            "free": z3.Store(c["free"], b, False),
            "reported": z3.Store(c["reported"], b, False),
            "nfree": c["nfree"] - 1,
        }
        if self.capped:
            upd["nelig"] = c["nelig"] - self.one_if(z3.Not(c["reported"][b]))
        cases = []
        for cpu in range(self.cpus):
            a = f"alloc{cpu}"
            mine = upd | {
                a: z3.Store(c[a], b, True),
                f"nalloc{cpu}": c[f"nalloc{cpu}"] + self.one_if(z3.Not(c[a][b])),
            }
            cases.append(
                z3.And(
                    z3.ULT(c[f"nalloc{cpu}"], self.bv(cfg.demand)),
                    z3.Not(self.busy(c, cpu)),
                    self.assign(c, n, mine),
                )
            )
        choice = c["free"][b]
        if exact:
            choice = z3.And(choice, self.lowest_of_class(c, c["free"], b))
        return z3.And(
            z3.Not(c["oom"]), z3.UGT(c["nfree"], self.bv(cfg.wmark_min)), choice, z3.Or(cases)
        )

    def _oom(self, c: Vars, n: Vars, p: Params) -> Any:
        cfg = self.config
        cases = []
        for cpu in range(self.cpus):
            upd = {
                "oom": z3.BoolVal(True),
                "oom_cpu": z3.BitVecVal(cpu, self.cw),
                "oom_free": c["nfree"],
                "oom_held": self.held(c),
            }
            cases.append(
                z3.And(
                    z3.ULT(c[f"nalloc{cpu}"], self.bv(cfg.demand)),
                    z3.Not(self.busy(c, cpu)),
                    self.assign(c, n, upd),
                )
            )
        return z3.And(z3.Not(c["oom"]), z3.ULE(c["nfree"], self.bv(cfg.wmark_min)), z3.Or(cases))

    def _free(self, c: Vars, n: Vars, p: Params, exact: bool) -> Any:
        b = p.bitvec("block", self.width)
        cases = []
        for cpu in range(self.cpus):
            a = f"alloc{cpu}"
            upd: dict[str, Any] = {
                "free": z3.Store(c["free"], b, True),
                a: z3.Store(c[a], b, False),
                "nfree": c["nfree"] + self.one_if(z3.Not(c["free"][b])),
                f"nalloc{cpu}": c[f"nalloc{cpu}"] - 1,
            }
            if self.percpu:
                # guest_free_page_enqueue: pfn b recorded once more in the array.
                planes = [c[f"listed{cpu}_{k}"] for k in range(self.planes)]
                digits = [
                    z3.If(pl[b], z3.BitVecVal(1, 1), z3.BitVecVal(0, 1)) for pl in reversed(planes)
                ]
                count = z3.Concat(*digits) if len(digits) > 1 else digits[0]
                more = count + 1
                for k, pl in enumerate(planes):
                    upd[f"listed{cpu}_{k}"] = z3.Store(pl, b, z3.Extract(k, k, more) == 1)
                upd[f"nlisted{cpu}"] = c[f"nlisted{cpu}"] + 1
            if self.capped:
                upd["pr"] = z3.BitVecVal(int(PR.REQUESTED), 2)
                fresh = z3.And(z3.Not(c["free"][b]), z3.Not(c["reported"][b]))
                upd["nelig"] = c["nelig"] + self.one_if(fresh)
            choice = c[a][b]
            if exact:
                choice = z3.And(choice, self.lowest_of_class(c, c[a], b))
            else:
                choice = z3.And(choice, z3.UGE(c[f"nalloc{cpu}"], self.bv(1)))
            cases.append(z3.And(z3.Not(self.busy(c, cpu)), choice, self.assign(c, n, upd)))
        return z3.And(z3.Not(c["oom"]), z3.Or(cases))

    def _hinting(self, c: Vars, n: Vars, p: Params) -> Any:
        """guest_free_page_hinting, then virtballoon_page_hinting (``HintingOom._send``)."""
        cfg = self.config
        cases = []
        for cpu in range(self.cpus):
            planes = [c[f"listed{cpu}_{k}"] for k in range(self.planes)]
            recorded = join(*planes) if len(planes) > 1 else planes[0]
            if self.model.variant == "percpu_no_recheck":
                take = recorded
            else:
                take = meet(recorded, c["free"])
            free_mid = minus(c["free"], recorded)
            nfree_mid = c["nfree"] - self.popcount(meet(recorded, c["free"]))
            ntake = self.popcount(take)
            base: dict[str, Any] = {f"listed{cpu}_{k}": self.empty() for k in range(self.planes)}
            base |= {
                f"nlisted{cpu}": self.bv(0),
                "free": free_mid,
                "reported": meet(c["reported"], free_mid),
                "nfree": nfree_mid,
            }
            guard = z3.And(z3.UGE(c[f"nlisted{cpu}"], self.bv(cfg.threshold)), c[f"niso{cpu}"] == 0)
            nothing = z3.And(ntake == 0, self.assign(c, n, base))
            sent = base | {
                "low_breach": z3.Or(c["low_breach"], z3.ULT(nfree_mid, self.bv(cfg.wmark_low)))
            }
            cases.append(
                z3.And(
                    guard,
                    z3.Or(nothing, z3.And(ntake != 0, self._send(c, n, sent, cpu, take, ntake))),
                )
            )
        return z3.And(z3.Not(c["oom"]), z3.Or(cases))

    def _send(self, c: Vars, n: Vars, upd: dict[str, Any], cpu: int, take: Any, ntake: Any) -> Any:
        """``HintingOom._send`` of a non-empty batch from the state ``c`` updated by ``upd``."""
        ring = self.ring(c)
        if self.model.variant == "percpu_drain_leak":
            ring = ring.drop_used()
        room = z3.ULT(ring.total, z3.BitVecVal(self.R, self.rw))
        cpu_v = z3.BitVecVal(cpu, self.cw)
        ok = upd | ring.add(take, ntake, cpu_v).updates()
        ok |= {f"iso{cpu}": self.empty(), f"niso{cpu}": self.bv(0)}
        if self.model.variant == "percpu_spin":
            fail = upd | ring.updates() | {f"iso{cpu}": take, f"niso{cpu}": ntake}
        else:
            fail = upd | ring.updates()
            fail |= {
                "free": join(upd.get("free", c["free"]), take),
                "nfree": upd.get("nfree", c["nfree"]) + ntake,
                f"iso{cpu}": self.empty(),
                f"niso{cpu}": self.bv(0),
            }
        return z3.If(room, self.assign(c, n, ok), self.assign(c, n, fail))

    def _retry(self, c: Vars, n: Vars, p: Params) -> Any:
        """percpu_spin: the vCPU holding an isolated array adds it again (or spins)."""
        cases = []
        for cpu in range(self.cpus):
            send = self._send(c, n, {}, cpu, c[f"iso{cpu}"], c[f"niso{cpu}"])
            cases.append(z3.And(c[f"niso{cpu}"] != 0, send))
        return z3.And(z3.Not(c["oom"]), z3.Or(cases))

    def _ack(self, c: Vars, n: Vars, p: Params, exact: bool) -> Any:
        """hinting_ack: the oldest used buffer's blocks go back to the buddy, marked."""
        ring = self.ring(c)
        buf = ring.sets[0]
        upd = ring.get_buf().updates() | {
            "free": join(c["free"], buf),
            "reported": join(c["reported"], buf),
            "nfree": c["nfree"] + self.popcount(minus(buf, c["free"])),
        }
        return z3.And(c["nused"] != 0, self.assign(c, n, upd))

    def pr_is(self, v: Vars, pr: PR) -> Any:
        return v["pr"] == int(pr)

    def worker_is(self, v: Vars, *ws: Worker) -> Any:
        return z3.Or([v["worker"] == int(w) for w in ws])

    def gate(self, nfree: Any) -> Any:
        cfg = self.config
        return z3.UGT(nfree, self.bv(cfg.wmark_low + cfg.capacity))

    def pass_end(self, pr: Any) -> dict[str, Any]:
        """``HintingOom._pass_end``: the worker stops; ACTIVE -> IDLE, REQUESTED stays."""
        active = pr == int(PR.ACTIVE)
        return {
            "worker": z3.BitVecVal(int(Worker.OFF), 2),
            "pr": z3.If(active, z3.BitVecVal(int(PR.IDLE), 2), pr),
            "budget": self.bv(1),
        }

    def _process(self, c: Vars, n: Vars, p: Params) -> Any:
        cfg = self.config
        div = cfg.capacity * BUDGET_DIVISOR
        start = {
            "pr": z3.BitVecVal(int(PR.ACTIVE), 2),
            "worker": z3.BitVecVal(int(Worker.CYCLE), 2),
            "budget": z3.UDiv(c["nfree"] + (div - 1), self.bv(div)) + 1,
        }
        guard = z3.And(self.worker_is(c, Worker.OFF), self.pr_is(c, PR.REQUESTED))
        if self.model.variant == "capped_gate":
            closed = self.assign(c, n, {"pr": z3.BitVecVal(int(PR.IDLE), 2)})
            return z3.And(guard, z3.If(self.gate(c["nfree"]), self.assign(c, n, start), closed))
        return z3.And(guard, self.assign(c, n, start))

    def _cycle(self, c: Vars, n: Vars, p: Params, exact: bool) -> Any:
        cfg = self.config
        exhausted = c["budget"] == 0
        pr_after = z3.If(c["nelig"] != 0, z3.BitVecVal(int(PR.REQUESTED), 2), c["pr"])
        out_of_budget = self.assign(c, n, self.pass_end(pr_after))
        nfree = c["nfree"]
        room_below = z3.If(
            z3.UGT(nfree, self.bv(cfg.wmark_min)), nfree - (cfg.wmark_min + 1), self.bv(0)
        )
        count = self._umin(self.bv(cfg.capacity), self._umin(c["nelig"], room_below))
        stop = self.assign(c, n, self.pass_end(c["pr"]))
        eligible = minus(c["free"], c["reported"])
        take = meet(eligible, z3.Const(f"{p.tag}.pick", self.fs))
        breach = z3.Or(c["low_breach"], z3.ULT(nfree - count, self.bv(cfg.wmark_low)))
        ring = self.ring(c)
        # Descriptors in use: one per block of each buffer (at least one per buffer). Every
        # report is a non-empty batch, so the proof relation counts the ring's blocks.
        used = self.wide(ring.nring)
        if exact:
            used = functools.reduce(
                lambda a, b: a + b,
                [
                    z3.If(ring.live(j), self.wide(self._umax1(ring.lens[j])), self.wide(self.bv(0)))
                    for j in range(self.R)
                ],
            )
        fits = z3.ULE(used + self.wide(count), self.wide(self.bv(self.R)))
        full = count == cfg.capacity
        added = ring.add(take, count, None).updates() | {
            "free": minus(c["free"], take),
            "nfree": nfree - count,
            "nelig": c["nelig"] - count,
            "low_breach": breach,
            "worker": z3.If(
                full, z3.BitVecVal(int(Worker.WAIT), 2), z3.BitVecVal(int(Worker.WAIT_LEFTOVER), 2)
            ),
            "budget": z3.If(full, c["budget"] - 1, c["budget"]),
        }
        failed = self.pass_end(c["pr"]) | {"low_breach": breach}
        isolate = z3.If(fits, self.assign(c, n, added), self.assign(c, n, failed))
        if exact:
            isolate = z3.And(
                self.popcount(take) == count, self.lowest_of_classes(c, eligible, take), isolate
            )
        closed = z3.BoolVal(False)
        if self.model.variant == "capped_gate_per_batch":
            closed = z3.Not(self.gate(nfree))
        go = z3.If(count == 0, stop, isolate)
        return z3.And(
            self.worker_is(c, Worker.CYCLE),
            z3.If(exhausted, out_of_budget, z3.If(closed, stop, go)),
        )

    def _umin(self, a: Any, b: Any) -> Any:
        return z3.If(z3.ULE(a, b), a, b)

    def _umax1(self, a: Any) -> Any:
        return z3.If(a == 0, self.bv(1), a)

    def _drain(self, c: Vars, n: Vars, p: Params, exact: bool) -> Any:
        ring = self.ring(c)
        buf = ring.sets[0]
        upd = ring.get_buf().updates() | {
            "free": join(c["free"], buf),
            "reported": join(c["reported"], buf),
        }
        if exact:
            upd["nfree"] = c["nfree"] + self.popcount(minus(buf, c["free"]))
            upd["nelig"] = c["nelig"] - self.popcount(meet(buf, minus(c["free"], c["reported"])))
        else:
            upd["nfree"] = c["nfree"] + ring.lens[0]
        back = self.assign(c, n, upd | {"worker": z3.BitVecVal(int(Worker.CYCLE), 2)})
        done = self.assign(c, n, upd | self.pass_end(c["pr"]))
        return z3.And(
            self.worker_is(c, Worker.WAIT, Worker.WAIT_LEFTOVER),
            c["nused"] != 0,
            z3.If(self.worker_is(c, Worker.WAIT), back, done),
        )

    def _pop(self, c: Vars, n: Vars, p: Params) -> Any:
        return z3.And(c["navail"] != 0, self.assign(c, n, self.ring(c).pop().updates()))

    def _push(self, c: Vars, n: Vars, p: Params) -> Any:
        return z3.And(c["ninfl"] != 0, self.assign(c, n, self.ring(c).push().updates()))
