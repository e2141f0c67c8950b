"""The thp_split encoding's Init and one transition relation per action of the model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import z3
from hintspec.models.thp_split import (
    BALLOON_POSTCOPY,
    BALLOON_SNAPSHOT,
    KHUGEPAGED_UFFD,
    NO_NHP,
    UNDERUSED_511,
    V1,
    WP_LOST,
    Fault,
    Kind,
    Op,
    Phase,
    Run,
    ThpSplit,
    Uffd,
)
from hintspec.properties.proofs.thp_split.entries import EntryOps
from hintspec.properties.proofs.thp_split.state import KIND_BITS, PLANES, Outcome, Upd
from hintspec.smt import (
    Params,
    Transition,
    Vars,
    complement,
    join,
    meet,
)


class Actions(EntryOps):
    """``init`` and the relations of :meth:`transitions` (and the proof's looser ones)."""

    def __init__(self, model: ThpSplit) -> None:
        super().__init__(model)
        self._exact = self._relations(proof=False)
        self._proof = dict(self._exact)
        for name in (
            "vcpu_access",
            "ram_load_precopy",
            "loadvm_postcopy_ram_handle_discard",
            "ram_save_host_page",
            "khugepaged",
            "deferred_split_scan",
            "balloon_inflate",
        ):
            self._proof[name] = self._relations(proof=True)[name]

    def init(self, v: Vars) -> Any:
        scalars: dict[str, Any] = {
            "uffd": self.en(Uffd.NONE, 2),
            "run": self.en(Run.RUNNING, 2),
            "vpage": self.en(0, self.L),
            "vop": self.en(0, 2),
            "vfault": self.en(0, 2),
            "scan": self.en(0, self.L),
            "thp_allowed": z3.BoolVal(True),
            "qlen": self.en(0, self.lw),
            "stat_split": z3.BoolVal(False),
            "stat_remap": z3.BoolVal(False),
            "inflated": z3.BoolVal(False),
            "misread_set": z3.BoolVal(False),
            "misread": self.en(0, self.L),
            "untracked_set": z3.BoolVal(False),
            "untracked": self.en(0, self.L),
        }
        for r in range(self.R):
            scalars[f"thp{r}"] = z3.BoolVal(False)
            scalars[f"q{r}"] = self.en(0, self.rw)
        base = [v[k] == t for k, t in scalars.items()]
        empty = (*PLANES, "received", "unsaved", "populated")
        base += [self.arr(v, n, r) == self.full(False) for n in empty for r in range(self.R)]
        cases = []
        user = self.m.config.user
        if user in ("both", "postcopy"):
            cases.append(
                z3.And(
                    *base,
                    v["phase"] == self.en(Phase.PRECOPY, 3),
                    *[self.arr(v, "dirty", r) == self.full(True) for r in range(self.R)],
                    *[self.arr(v, "guest", r) == self.image(r) for r in range(self.R)],
                )
            )
        if user in ("both", "snapshot"):
            cases.append(
                z3.And(
                    *base,
                    v["phase"] == self.en(Phase.RUNNING, 3),
                    *[
                        self.arr(v, n, r) == self.full(False)
                        for n in ("dirty", "guest")
                        for r in range(self.R)
                    ],
                )
            )
        return z3.Or(cases)

    def image(self, r: int) -> Any:
        """The source guest's memory in region r: ``image`` repeated over every page.
        Constant sets where the pattern allows (a period dividing ``subpages``: all data,
        all zero), else one store per data page."""
        image = self.m.config.image
        flags = [image[(r * self.S + j) % len(image)] == "d" for j in range(self.S)]
        if all(flags) or not any(flags):
            return self.full(all(flags))
        out = self.full(False)
        for j, f in enumerate(flags):
            if f:
                out = z3.Store(out, self.sub(j), True)
        return out

    def transitions(self) -> dict[str, Transition]:
        return self._exact

    def proof_transitions(self) -> dict[str, Transition]:
        """The exact relations, except (each change admits more steps, never fewer):

        * ``vcpu_access``/``ram_load_precopy``: a THP fault has no "every page of the
          region is empty" and no "the region has no THP" guard; instead only the empty
          pages of the region become THP subpages -- all of them when the guard holds,
          so the Python successor is admitted. The small-page fallback is always
          possible. ``ram_load_precopy`` takes any dirty page, not the first after
          ``scan``.
        * ``khugepaged``: no guard; only the pages that would not refuse the collapse
          (an empty or zeropage entry in a userfaultfd-armed VMA refuses it, and an entry
          with the uffd-wp bit) become THP subpages -- all of them when the collapse is
          allowed. The ``max_ptes_none`` count and "no THP yet" are dropped.
        * ``ram_save_host_page``: any unsaved page (not the first), or the faulting page.
        * ``deferred_split_scan``: any region, split or merely dequeued
          (``thp_underused`` and the partial-mapping test read every page of a region).
        * These actions and the discard let the THP flags, the split queue and the
          zeropage-remap witness take any value.

        Why it stays sound: a looser relation has more behaviours, so an invariant
        inductive for it holds in the model; the conformance test checks that it admits
        every Python successor. The guards left out are those that count or order pages
        (an induction step at 512 subpages must not read every page); the masks keep, per
        page, what the proof needs of the others (a THP fault never overwrites a mapped
        page; a collapse never drops a uffd-wp bit, nor fills a hole, in an armed VMA),
        and no property or lemma reads ``thp``, the queue or the witness counters."""
        return self._proof

    def _relations(self, *, proof: bool) -> dict[str, Transition]:
        def bind(fn: Callable[..., Any]) -> Transition:
            return lambda c, n, p: fn(c, n, p, proof=proof)

        return {
            "vcpu_access": bind(self._vcpu_access),
            "source_guest_write": self._source_guest_write,
            "ram_load_precopy": bind(self._ram_load_precopy),
            "loadvm_postcopy_ram_handle_discard": bind(self._discard),
            "postcopy_ram_incoming_setup": self._incoming_setup,
            "postcopy_ram_fault_thread": self._fault_thread,
            "ram_load_postcopy": self._ram_load_postcopy,
            "ram_write_tracking_prepare": self._tracking_prepare,
            "ram_write_tracking_start": self._tracking_start,
            "ram_save_host_page": bind(self._save_host_page),
            "ram_write_tracking_stop": self._tracking_stop,
            "balloon_inflate": bind(self._balloon_inflate),
            "khugepaged": bind(self._khugepaged),
            "deferred_split_scan": bind(self._deferred_split_scan),
        }

    def emit(self, c: Vars, n: Vars, outcomes: list[Outcome]) -> Any:
        return z3.Or([z3.And(cond, self.assign(c, n, upd)) for cond, upd in outcomes])

    def _populate(
        self, c: Vars, p: Params, r: int, q: Any, write: bool, value: bool, *, proof: bool
    ) -> list[Outcome]:
        """ThpSplit._populate: an access without a userfault at subpage q of region r."""
        none = self.none(c, r, q)
        f = z3.BoolVal(False)
        if not write:
            mapped = self.set_entry(c, {}, r, q, self.zero_kind(), f, f)
            return [(none, mapped), (z3.Not(none), {})]
        data = self.arr(c, "data", r)
        if proof:
            # Only the empty pages of the region become THP subpages.
            holes = self.none_set(c, r)
            upd = self.fill(c, r, holes, z3.Store(meet(data, complement(holes)), q, value))
            upd.update(self.havoc_regions(p))
            thp_ok = c["thp_allowed"]
            small_ok: Any = z3.BoolVal(True)
        else:
            zeroed = z3.Store(self.full(False), q, True) if value else self.full(False)
            upd = self.fill(c, r, None, zeroed)
            upd[f"thp{r}"] = z3.BoolVal(True)
            upd.update(self.queue_upd(self.q_append(self.queue(c), r)))
            thp_ok = z3.And(
                c["thp_allowed"],
                z3.Not(c[f"thp{r}"]),
                self.none_set(c, r) == self.full(True),
            )
            small_ok = z3.BoolVal(True) if self.m.config.thp_fallback else z3.Not(thp_ok)
        mapped = z3.Or(self.kind(c, r, q, Kind.THP), self.kind(c, r, q, Kind.PAGE))
        written = {
            self.nm("data", r): z3.Store(data, q, value),
            self.nm("populated", r): z3.Store(self.arr(c, "populated", r), q, True),
        }
        return [
            (z3.And(none, thp_ok), upd),
            (z3.And(none, small_ok), self.set_entry(c, {}, r, q, Kind.PAGE, value, f)),
            (self.kind(c, r, q, Kind.ZERO), self.set_entry(c, {}, r, q, Kind.PAGE, value, f)),
            (mapped, written),
        ]

    def _vcpu_access(self, c: Vars, n: Vars, p: Params, *, proof: bool) -> Any:
        q = p.bitvec("subpage", self.sw)
        run = c["run"]
        woken = run == self.en(Run.WOKEN, 2)
        running = run == self.en(Run.RUNNING, 2)
        f = z3.BoolVal(False)
        idle = {
            "run": self.en(Run.RUNNING, 2),
            "vpage": self.en(0, self.L),
            "vop": self.en(0, 2),
            "vfault": self.en(0, 2),
        }
        cases = []
        for r in range(self.R):
            pg = self.page(r, q)
            for op in Op:
                op_v = self.en(op, 2)
                may = (
                    z3.BoolVal(True) if op is not Op.WRITE_ZERO else self.phase_is(c, Phase.RUNNING)
                )
                chosen = z3.Or(
                    z3.And(woken, pg == c["vpage"], c["vop"] == op_v), z3.And(running, may)
                )
                write = op is not Op.READ
                value = op is Op.WRITE_DATA
                missing = z3.And(self.none(c, r, q), c["uffd"] == self.en(Uffd.MISSING, 2))
                wp_fault = (
                    z3.And(self.arr(c, "wp", r)[q], c["uffd"] == self.en(Uffd.WP, 2))
                    if write
                    else f
                )
                outcomes: list[Outcome] = []
                for fault, cond in ((Fault.MISSING, missing), (Fault.WP, wp_fault)):
                    sleep = {
                        "run": self.en(Run.FAULTED, 2),
                        "vpage": pg,
                        "vop": op_v,
                        "vfault": self.en(fault, 2),
                    }
                    if fault is Fault.WP:
                        cond = z3.And(z3.Not(missing), cond)
                    outcomes.append((cond, sleep))
                no_fault = z3.And(z3.Not(missing), z3.Not(wp_fault))
                for cond, upd in self._populate(c, p, r, q, write, value, proof=proof):
                    upd = {**upd, **idle}
                    if write:
                        hit = z3.And(
                            self.phase_is(c, Phase.TRACKING),
                            self.arr(c, "unsaved", r)[q],
                            z3.Not(c["untracked_set"]),
                        )
                        upd["untracked_set"] = z3.Or(c["untracked_set"], hit)
                        upd["untracked"] = z3.If(hit, pg, c["untracked"])
                        key = self.nm("guest", r)
                        upd[key] = z3.Store(c[key], q, value)
                    else:
                        key = self.nm("data", r)
                        got = (upd[key] if key in upd else c[key])[q]
                        hit = z3.And(got != self.arr(c, "guest", r)[q], z3.Not(c["misread_set"]))
                        upd["misread_set"] = z3.Or(c["misread_set"], hit)
                        upd["misread"] = z3.If(hit, pg, c["misread"])
                    outcomes.append((z3.And(no_fault, cond), upd))
                cases.append(z3.And(chosen, self.emit(c, n, outcomes)))
        return z3.And(
            z3.Not(self.phase_is(c, Phase.PRECOPY, Phase.DISCARDED)),
            z3.Or(woken, running),
            z3.Or(cases),
        )

    def _source_guest_write(self, c: Vars, n: Vars, p: Params) -> Any:
        q = p.bitvec("subpage", self.sw)
        cases = []
        for r in range(self.R):
            guest, dirty = self.nm("guest", r), self.nm("dirty", r)
            cases.append(
                z3.And(
                    z3.Not(c[guest][q]),
                    self.arr(c, "received", r)[q],
                    z3.Not(c[dirty][q]),
                    self.assign(
                        c,
                        n,
                        {guest: z3.Store(c[guest], q, True), dirty: z3.Store(c[dirty], q, True)},
                    ),
                )
            )
        return z3.And(self.phase_is(c, Phase.PRECOPY), z3.Or(cases))

    def _ram_load_precopy(self, c: Vars, n: Vars, p: Params, *, proof: bool) -> Any:
        q = p.bitvec("subpage", self.sw)
        cases = []
        for r in range(self.R):
            pg = self.page(r, q)
            guard = [self.arr(c, "dirty", r)[q]]
            if not proof:
                # the first dirty page at or after scan, cyclically
                dist = pg - c["scan"]
                for g in range(self.N):
                    before = z3.ULT(self.en(g, self.L) - c["scan"], dist)
                    dirty = self.arr(c, "dirty", g // self.S)[self.sub(g % self.S)]
                    guard.append(z3.Implies(before, z3.Not(dirty)))
            value = self.arr(c, "guest", r)[q]
            data = self.arr(c, "data", r)[q]
            dirty_k, recv_k = self.nm("dirty", r), self.nm("received", r)
            outcomes: list[Outcome] = []
            for val, write, cond in (
                (True, True, value),
                (False, True, z3.And(z3.Not(value), data)),
                (False, False, z3.And(z3.Not(value), z3.Not(data))),
            ):
                for how, upd in self._populate(c, p, r, q, write, val, proof=proof):
                    upd = {
                        **upd,
                        dirty_k: z3.Store(c[dirty_k], q, False),
                        recv_k: z3.Store(c[recv_k], q, True),
                        "scan": pg + 1,
                    }
                    outcomes.append((z3.And(cond, how), upd))
            cases.append(z3.And(*guard, self.emit(c, n, outcomes)))
        return z3.And(self.phase_is(c, Phase.PRECOPY), z3.Or(cases))

    def _discard(self, c: Vars, n: Vars, p: Params, *, proof: bool) -> Any:
        upd: Upd = {
            "phase": self.en(Phase.DISCARDED, 3),
            "thp_allowed": c["thp_allowed"] if self.variant == NO_NHP else z3.BoolVal(False),
        }
        for r in range(self.R):
            kept = complement(self.arr(c, "dirty", r))
            for name in (*PLANES, "received", "populated"):
                upd[self.nm(name, r)] = meet(self.arr(c, name, r), kept)
        if proof:
            upd.update(self.havoc_regions(p))
            return z3.And(self.phase_is(c, Phase.PRECOPY), self.assign(c, n, upd))
        # ThpSplit._after_unmap, region by region in order
        qu = self.queue(c)
        for r in range(self.R):
            dirty = self.arr(c, "dirty", r)
            subs = [self.sub(j) for j in range(self.S)]
            touched = z3.Or([z3.And(dirty[j], self.kind(c, r, j, Kind.THP)) for j in subs])
            freed = z3.And(
                [z3.Not(z3.And(z3.Not(dirty[j]), self.kind(c, r, j, Kind.THP))) for j in subs]
            )
            qu = self.after_unmap(c, upd, qu, r, touched, freed)
        upd.update(self.queue_upd(qu))
        return z3.And(self.phase_is(c, Phase.PRECOPY), self.assign(c, n, upd))

    def _incoming_setup(self, c: Vars, n: Vars, p: Params) -> Any:
        upd = {"phase": self.en(Phase.POSTCOPY, 3), "uffd": self.en(Uffd.MISSING, 2)}
        return z3.And(self.phase_is(c, Phase.DISCARDED), self.assign(c, n, upd))

    def _place(self, c: Vars, r: int, q: Any) -> list[Outcome]:
        """ThpSplit._place: UFFDIO_COPY/ZEROPAGE at subpage q of region r, then the
        receive bit."""
        f = z3.BoolVal(False)
        recv, dirty = self.nm("received", r), self.nm("dirty", r)
        after = {recv: z3.Store(c[recv], q, True), dirty: z3.Store(c[dirty], q, False)}
        none = self.none(c, r, q)
        guest = self.arr(c, "guest", r)[q]
        return [
            (z3.And(none, guest), self.set_entry(c, after, r, q, Kind.PAGE, True, f)),
            (z3.And(none, z3.Not(guest)), self.set_entry(c, after, r, q, self.zero_kind(), f, f)),
            (z3.Not(none), after),
        ]

    def _fault_thread(self, c: Vars, n: Vars, p: Params) -> Any:
        pg = c["vpage"]
        q = self.sub_of(pg)
        guard = z3.And(
            self.phase_is(c, Phase.POSTCOPY),
            c["run"] == self.en(Run.FAULTED, 2),
            c["vfault"] == self.en(Fault.MISSING, 2),
        )
        cases = []
        for r in range(self.R):
            recv = self.arr(c, "received", r)[q]
            outcomes: list[Outcome] = [(recv, {"run": self.en(Run.WAITING, 2)})]
            outcomes += [
                (z3.And(z3.Not(recv), cond), {**upd, "run": self.en(Run.WOKEN, 2)})
                for cond, upd in self._place(c, r, q)
            ]
            cases.append(z3.And(self.region_is(pg, r), self.emit(c, n, outcomes)))
        return z3.And(guard, z3.Or(cases))

    def _ram_load_postcopy(self, c: Vars, n: Vars, p: Params) -> Any:
        q = p.bitvec("subpage", self.sw)
        run = c["run"]
        sleeping = z3.Or(run == self.en(Run.FAULTED, 2), run == self.en(Run.WAITING, 2))
        cases = []
        for r in range(self.R):
            wake = z3.And(sleeping, c["vpage"] == self.page(r, q))
            outcomes = [
                (cond, {**upd, "run": z3.If(wake, self.en(Run.WOKEN, 2), run)})
                for cond, upd in self._place(c, r, q)
            ]
            cases.append(
                z3.And(
                    z3.Not(self.arr(c, "received", r)[q]),
                    self.none(c, r, q),
                    self.emit(c, n, outcomes),
                )
            )
        return z3.And(self.phase_is(c, Phase.POSTCOPY), z3.Or(cases))

    def _tracking_prepare(self, c: Vars, n: Vars, p: Params) -> Any:
        b0, _b1 = KIND_BITS[self.zero_kind()]
        upd: Upd = {"phase": self.en(Phase.PREPARED, 3)}
        for r in range(self.R):
            holes = self.none_set(c, r)
            if b0:
                upd[self.nm("k0", r)] = join(self.arr(c, "k0", r), holes)
            upd[self.nm("k1", r)] = join(self.arr(c, "k1", r), holes)
            for name in ("data", "wp"):
                upd[self.nm(name, r)] = meet(self.arr(c, name, r), complement(holes))
            upd[self.nm("populated", r)] = join(self.arr(c, "populated", r), holes)
        return z3.And(self.phase_is(c, Phase.RUNNING), self.assign(c, n, upd))

    def _tracking_start(self, c: Vars, n: Vars, p: Params) -> Any:
        upd: Upd = {"phase": self.en(Phase.TRACKING, 3), "uffd": self.en(Uffd.WP, 2)}
        for r in range(self.R):
            upd[self.nm("wp", r)] = join(self.arr(c, "wp", r), complement(self.none_set(c, r)))
            upd[self.nm("unsaved", r)] = self.full(True)
        return z3.And(self.phase_is(c, Phase.PREPARED), self.assign(c, n, upd))

    def _save_host_page(self, c: Vars, n: Vars, p: Params, *, proof: bool) -> Any:
        q = p.bitvec("subpage", self.sw)
        faulted = c["run"] == self.en(Run.FAULTED, 2)
        if proof:
            some = p.bitvec("some_unsaved", self.sw)
            any_unsaved = z3.Or([self.arr(c, "unsaved", r)[some] for r in range(self.R)])
        else:
            any_unsaved = z3.Or(
                [self.arr(c, "unsaved", r) != self.full(False) for r in range(self.R)]
            )
        cases = []
        for r in range(self.R):
            pg = self.page(r, q)
            unsaved = self.arr(c, "unsaved", r)
            first = unsaved[q]
            if not proof:
                earlier = [
                    z3.Implies(
                        z3.ULT(self.en(g, self.L), pg),
                        z3.Not(self.arr(c, "unsaved", g // self.S)[self.sub(g % self.S)]),
                    )
                    for g in range(self.N)
                ]
                first = z3.And(first, *earlier)
            wp_fault = z3.And(faulted, c["vfault"] == self.en(Fault.WP, 2), pg == c["vpage"])
            wp, pop = self.nm("wp", r), self.nm("populated", r)
            upd = {
                wp: z3.Store(c[wp], q, False),
                pop: z3.Store(c[pop], q, z3.Or(c[pop][q], z3.Not(self.none(c, r, q)))),
                self.nm("unsaved", r): z3.Store(unsaved, q, False),
                "run": z3.If(z3.And(faulted, c["vpage"] == pg), self.en(Run.WOKEN, 2), c["run"]),
            }
            cases.append(z3.And(z3.Or(first, wp_fault), self.assign(c, n, upd)))
        return z3.And(self.phase_is(c, Phase.TRACKING), any_unsaved, z3.Or(cases))

    def _tracking_stop(self, c: Vars, n: Vars, p: Params) -> Any:
        upd: Upd = {"phase": self.en(Phase.DONE, 3), "uffd": self.en(Uffd.NONE, 2)}
        for r in range(self.R):
            upd[self.nm("wp", r)] = self.full(False)
        return z3.And(
            self.phase_is(c, Phase.TRACKING),
            *[self.arr(c, "unsaved", r) == self.full(False) for r in range(self.R)],
            self.assign(c, n, upd),
        )

    def _balloon_inflate(self, c: Vars, n: Vars, p: Params, *, proof: bool) -> Any:
        """ThpSplit.balloon_inflate: MADV_DONTNEED of one mapped page while the guest runs
        and virtio_balloon_inhibited() is false; a THP that loses the subpage is queued as
        partially mapped, or freed with its last one."""
        if not self.m.config.balloon:
            return z3.BoolVal(False)
        allowed = [Phase.RUNNING]
        if self.variant == BALLOON_POSTCOPY:
            allowed.append(Phase.POSTCOPY)
        if self.variant == BALLOON_SNAPSHOT:
            allowed += [Phase.PREPARED, Phase.TRACKING]
        q = p.bitvec("subpage", self.sw)
        f = z3.BoolVal(False)
        cases = []
        for r in range(self.R):
            upd = self.set_entry(c, {}, r, q, Kind.NONE, f, f)
            for name in ("populated", "guest"):
                key = self.nm(name, r)
                upd[key] = z3.Store(c[key], q, False)
            upd["inflated"] = z3.BoolVal(True)
            was_thp = self.kind(c, r, q, Kind.THP)
            if proof:
                upd.update(self.havoc_regions(p))
            else:
                freed = z3.Store(self.thp_set(c, r), q, False) == self.full(False)
                qu = self.after_unmap(c, upd, self.queue(c), r, was_thp, freed)
                upd.update(self.queue_upd(qu))
            cases.append(z3.And(z3.Not(self.none(c, r, q)), self.assign(c, n, upd)))
        return z3.And(
            z3.Not(c["inflated"]),
            self.phase_is(c, *allowed),
            c["run"] == self.en(Run.RUNNING, 2),
            z3.Not(self.locked(c)),
            z3.Or(cases),
        )

    def _khugepaged(self, c: Vars, n: Vars, p: Params, *, proof: bool) -> Any:
        armed = self.armed(c) if self.variant != KHUGEPAGED_UFFD else z3.BoolVal(False)
        cases = []
        for r in range(self.R):
            nz = self.nz_set(c, r)
            wp_refuses = meet(complement(nz), self.arr(c, "wp", r))
            refuses = z3.If(armed, join(nz, wp_refuses), wp_refuses)
            data = self.arr(c, "data", r)
            if proof:
                # Only the pages that would not refuse the collapse change.
                upd = self.fill(c, r, complement(refuses), data)
                upd.update(self.havoc_regions(p))
                cases.append(self.assign(c, n, upd))
                continue
            upd = self.fill(c, r, None, data)
            upd[f"thp{r}"] = z3.BoolVal(True)
            upd.update(self.queue_upd(self.q_append(self.queue(c), r)))
            count = self.count(r, nz.__getitem__)
            guard = z3.And(
                refuses == self.full(False),
                z3.Not(c[f"thp{r}"]),
                z3.ULE(count, self.en(self.mpn, self.cw)),
            )
            cases.append(z3.And(guard, self.assign(c, n, upd)))
        return z3.And(c["thp_allowed"], z3.Or(cases))

    def _split(self, c: Vars, r: int) -> tuple[Upd, Any]:
        """ThpSplit._split of region r: a THP subpage holding data becomes a small page;
        a zero-filled one what try_to_map_unused_to_zeropage decides. Returns the updates
        of the page table and "a zero subpage was mapped to the shared zeropage"."""
        cfg = self.m.config
        k0, k1, wp = (self.arr(c, x, r) for x in ("k0", "k1", "wp"))
        thp = self.thp_set(c, r)
        zero = meet(thp, complement(self.arr(c, "data", r)))
        rest = meet(k0, complement(thp))
        remapped_any = zero != self.full(False)
        # The zero subpages become: kept small pages (no zeropage allowed), the zeropage
        # (keeping uffd-wp unless WP_LOST), or -- v1 in a VMA not armed -- pte_none.
        k1_new = join(k1, thp)
        if cfg.mm_forbids_zeropage:
            return self._split_upd(r, rest, k1_new, wp), z3.BoolVal(False)
        k0_new = join(rest, zero)
        wp_new = wp if self.variant != WP_LOST else meet(wp, complement(zero))
        remapped = remapped_any
        if self.variant == V1:
            unarmed = z3.Not(self.armed(c))
            k0_new = z3.If(unarmed, rest, k0_new)
            k1_new = z3.If(unarmed, join(k1, meet(thp, complement(zero))), k1_new)
            wp_new = z3.If(unarmed, meet(wp, complement(zero)), wp_new)
            remapped = z3.And(self.armed(c), remapped)
        if cfg.mlocked:
            # VM_LOCKED: every subpage stays a mapped page, with its bit (as mm_forbids).
            locked = self.locked(c)
            k0_new = z3.If(locked, rest, k0_new)
            k1_new = z3.If(locked, join(k1, thp), k1_new)
            wp_new = z3.If(locked, wp, wp_new)
            remapped = z3.And(z3.Not(locked), remapped)
        return self._split_upd(r, k0_new, k1_new, wp_new), remapped

    def _split_upd(self, r: int, k0: Any, k1: Any, wp: Any) -> Upd:
        upd = {self.nm("k0", r): k0, self.nm("k1", r): k1, self.nm("wp", r): wp}
        upd["stat_split"] = z3.BoolVal(True)
        return upd

    def _deferred_split_scan(self, c: Vars, n: Vars, p: Params, *, proof: bool) -> Any:
        cases = []
        for r in range(self.R):
            split, remapped = self._split(c, r)
            if proof:
                split.update(self.havoc_regions(p))
                cases.append(
                    self.emit(c, n, [(z3.BoolVal(True), split), (True, self.havoc_regions(p))])
                )
                continue
            popped = self.queue_upd(self.q_pop(self.queue(c)))
            split.update(popped)
            split[f"thp{r}"] = z3.BoolVal(False)
            split["stat_remap"] = z3.Or(c["stat_remap"], remapped)
            partial = self.thp_set(c, r) != self.full(True)
            if self.variant == UNDERUSED_511 and self.mpn == self.S - 1:
                underused: Any = z3.BoolVal(False)
            else:
                zeros = self.count(r, complement(self.arr(c, "data", r)).__getitem__)
                underused = z3.UGT(zeros, self.en(self.mpn, self.cw))
            do_split = z3.Or(partial, z3.And(z3.Not(self.locked(c)), underused))
            head = c["q0"] == self.en(r, self.rw)
            cases.append(
                z3.And(head, self.emit(c, n, [(do_split, split), (z3.Not(do_split), popped)]))
            )
        guard = z3.BoolVal(True) if proof else c["qlen"] != self.en(0, self.lw)
        return z3.And(guard, z3.Or(cases))
