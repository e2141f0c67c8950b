"""Z3 encoding of ``models/thp_split.py`` (THP underused split vs userfaultfd, QEMU users).

The VMA has ``regions`` regions of ``subpages`` pages (both powers of two here), numbered
region after region. The size parameter is ``subpages``: the kernel's ``HPAGE_PMD_NR`` is
512, and the proofs run there; ``regions`` stays small.

State variables -- every per-page quantity is one frame set *per region*
(``hintspec.smt.frames_sort(subpages)``: subpage number -> Bool), so that a region-wide
update or test is a whole-set operation (``z3.Map`` of and/or/not, a constant set, an
equality with one), never a loop over the region's pages and never a quantifier:

* the page table: ``k0_r{r}``/``k1_r{r}`` the entry's kind (none 00, THP subpage 10, small
  page 01, zeropage 11, as ``(k0, k1)``), ``data_r{r}``, ``wp_r{r}``;
* the bitmaps ``guest``, ``dirty``, ``received``, ``unsaved``, ``populated`` per region;
* scalars: ``phase``, ``uffd``, the vCPU (``run``, ``vpage``, ``vop``, ``vfault``; a
  running vCPU is all zeros, its page -1 in the model), ``scan``, ``thp_allowed``,
  ``thp{r}``, the split queue as ``qlen`` and slots ``q{i}`` (oldest first, unused slots
  0, so every queue has one encoding), the two witness counters and the ghosts
  ``misread``/``untracked`` (a flag and a page, 0 when unset). Page numbers (``vpage``,
  ``scan``, ...) are global: region bits above subpage bits.

The exact relation (:meth:`transitions`, what BMC unrolls and the conformance test checks)
has every guard of the model, including the counts over a region (``thp_underused``,
``max_ptes_none``) as sums over its pages and "the first dirty/unsaved page" as a
conjunction over all pages. :meth:`proof_transitions` drops those (see its docstring).

The ``@always`` properties are per page (:class:`hintspec.smt.Forall` over the subpage
number, for every region). Most are not inductive on their own; the ten strengthening
lemmas (:meth:`lemmas`) say what the model's ghosts mean in the correct design: a page not
dirty at the source holds what the guest last wrote (``guest``; with "after the discard a
dirty page is empty" and "the snapshot has no dirty pages" this gives *every access reads
what was last written*), the receive bitmap marks only mapped pages (without it a vCPU may
fault on an empty page marked received -- the v1 bug's shape; ``tests/test_smt_thp_split.py``
shows that CTI), the phase fixes the userfaultfd registration and turns THP off after the
discard, a vCPU sleeping on a MISSING fault sleeps at an empty page during postcopy, every
page is dirty or received during precopy (so the discard empties exactly the unreceived
pages), and no entry is empty while the snapshot is prepared or tracking (so
``ram_write_tracking_start`` protects every page). Each is necessary: without any one of
them the step fails (a CTI). "populated is exactly: the entry maps a page" is *not* needed
-- the property's direction (populated => mapped) suffices.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import z3
from hintspec.models.thp_split import (
    KHUGEPAGED_UFFD,
    NO_NHP,
    UNDERUSED_511,
    V1,
    WP_LOST,
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
    Forall,
    Params,
    Pred,
    Transition,
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


class ThpSplitEncoding(Encoding[State]):
    """Frame sets per region (the page table and the bitmaps), scalars for the rest."""

    model_name = "thp_split"
    variants = (
        "upstream",
        "v1_pte_none",
        "khugepaged_ignores_uffd",
        "underused_511_exit",
        "zeropage_drops_uffd_wp",
        "qemu_skips_nhp_range",
    )
    bmc_depth = 8
    size_parameter = "subpages"
    report_config = {"regions": 2, "subpages": 512}
    report_bmc_config = {"regions": 2, "subpages": 32}
    bench_sizes = (16, 64, 128, 256, 512)
    bench_bmc_sizes = (16, 32)
    bench_config = {"regions": 2}
    # Each variant gets 4 random walks (about 5 s): two users, 1 and 2 regions, every
    # config switch; the model's default (postcopy, 1 x 4) is the first state of none.
    conformance_configs = (
        ({"user": "postcopy", "regions": 2, "subpages": 2, "image": "0d"}, 2),
        ({"user": "snapshot", "thp_fallback": True, "max_ptes_none": 1}, 1),
        (
            {
                "user": "snapshot",
                "regions": 2,
                "subpages": 2,
                "mlocked": True,
                "mm_forbids_zeropage": True,
            },
            1,
        ),
    )
    bitblast_config = {"subpages": 4, "user": "snapshot", "max_ptes_none": 1}

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
        self._exact = self._relations(proof=False)
        self._proof = dict(self._exact)
        for name in (
            "vcpu_access",
            "ram_load_precopy",
            "loadvm_postcopy_ram_handle_discard",
            "ram_save_host_page",
            "khugepaged",
            "deferred_split_scan",
        ):
            self._proof[name] = self._relations(proof=True)[name]

    # -- names and terms -------------------------------------------------------------------

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

    def armed(self, c: Vars) -> Any:
        return c["uffd"] != self.en(Uffd.NONE, 2)

    def count(self, r: int, pred: Callable[[Any], Any]) -> Any:
        """How many subpages of region r satisfy pred (exact relation only)."""
        one, zero = self.en(1, self.cw), self.en(0, self.cw)
        return z3.Sum([z3.If(pred(self.sub(j)), one, zero) for j in range(self.S)])

    # -- sorts, encode, decode -----------------------------------------------------------

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
            misread=int(values["misread"]) if values["misread_set"] else -1,
            untracked=int(values["untracked"]) if values["untracked_set"] else -1,
        )

    # -- updates ---------------------------------------------------------------------------

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

    # The split queue: (length, slots), unused slots 0.

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

    # -- Init ----------------------------------------------------------------------------

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

    # -- Next --------------------------------------------------------------------------

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
            act = z3.And(touched, c[f"thp{r}"])
            upd[f"thp{r}"] = z3.And(c[f"thp{r}"], z3.Not(z3.And(act, freed)))
            inq = self.q_contains(qu, r)
            qu = self.q_if(
                z3.And(act, freed, inq),
                self.q_remove(qu, r),
                self.q_if(z3.And(act, z3.Not(freed), z3.Not(inq)), self.q_append(qu, r), qu),
            )
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
        if cfg.mlocked or cfg.mm_forbids_zeropage:
            k0_new, wp_new, remapped = rest, wp, z3.BoolVal(False)
        else:
            k0_new = join(rest, zero)
            wp_new = wp if self.variant != WP_LOST else meet(wp, complement(zero))
            remapped = remapped_any
        k1_new = join(k1, thp)
        if self.variant == V1 and not (cfg.mlocked or cfg.mm_forbids_zeropage):
            unarmed = z3.Not(self.armed(c))
            k0_new = z3.If(unarmed, rest, k0_new)
            k1_new = z3.If(unarmed, join(k1, meet(thp, complement(zero))), k1_new)
            wp_new = z3.If(unarmed, meet(wp, complement(zero)), wp_new)
            remapped = z3.And(self.armed(c), remapped)
        upd = {self.nm("k0", r): k0_new, self.nm("k1", r): k1_new, self.nm("wp", r): wp_new}
        upd["stat_split"] = z3.BoolVal(True)
        return upd, remapped

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
            do_split = partial if self.m.config.mlocked else z3.Or(partial, underused)
            head = c["q0"] == self.en(r, self.rw)
            cases.append(
                z3.And(head, self.emit(c, n, [(do_split, split), (z3.Not(do_split), popped)]))
            )
        guard = z3.BoolVal(True) if proof else c["qlen"] != self.en(0, self.lw)
        return z3.And(guard, z3.Or(cases))

    # -- properties and lemmas, per page -------------------------------------------------

    def per_page(self, body: Callable[[Vars, int, Any], Any]) -> Forall:
        """``body(v, r, q)`` for every region r, at subpage q."""
        return Forall(1, lambda v, q: z3.And([body(v, r, q) for r in range(self.R)]))

    def invariants(self) -> dict[str, Pred]:
        def at_vpage(v: Vars, name: str) -> Any:
            return self.at(v, name, v["vpage"])

        postcopy = (Phase.DISCARDED, Phase.POSTCOPY)
        return {
            "no wrong uffd fault": Forall(
                0,
                lambda v: z3.Implies(self.sleeping_missing(v), z3.Not(at_vpage(v, "populated"))),
            ),
            "a populated page stays mapped until it is discarded": self.per_page(
                lambda v, r, q: z3.Implies(
                    self.arr(v, "populated", r)[q], z3.Not(self.none(v, r, q))
                )
            ),
            "a discarded page stays empty until QEMU places it": self.per_page(
                lambda v, r, q: z3.Implies(
                    z3.And(self.phase_is(v, *postcopy), z3.Not(self.arr(v, "received", r)[q])),
                    self.none(v, r, q),
                )
            ),
            "no vCPU waits on a fault the handler will ignore": Forall(
                0,
                lambda v: z3.Implies(self.sleeping_missing(v), z3.Not(at_vpage(v, "received"))),
            ),
            "every access reads what was last written": Forall(
                0, lambda v: z3.Not(v["misread_set"])
            ),
            "every write to a write-protected page raises a WP fault first": Forall(
                0, lambda v: z3.Not(v["untracked_set"])
            ),
            "a page QEMU has not saved keeps its write protection": self.per_page(
                lambda v, r, q: z3.Implies(
                    z3.And(self.phase_is(v, Phase.TRACKING), self.arr(v, "unsaved", r)[q]),
                    self.arr(v, "wp", r)[q],
                )
            ),
        }

    def lemmas(self) -> dict[str, Pred]:
        postcopy = (Phase.DISCARDED, Phase.POSTCOPY)

        def vpage_empty(v: Vars) -> Any:
            q = self.sub_of(v["vpage"])
            return z3.Or(
                [z3.And(self.region_is(v["vpage"], r), self.none(v, r, q)) for r in range(self.R)]
            )

        return {
            "the phase and the vCPU's access and fault hold valid values": Forall(
                0, self._well_formed
            ),
            "the registration matches the phase (MISSING in postcopy, WP while tracking, "
            "else none) and THP is off after the discard": Forall(0, self._phase_facts),
            "a vCPU sleeping on a MISSING fault is in postcopy, at an empty page": Forall(
                0,
                lambda v: z3.Implies(
                    self.sleeping_missing(v),
                    z3.And(self.phase_is(v, Phase.POSTCOPY), vpage_empty(v)),
                ),
            ),
            "an empty entry has no data and no uffd-wp bit, a zeropage entry no data": (
                self.per_page(
                    lambda v, r, q: z3.And(
                        z3.Implies(
                            self.none(v, r, q),
                            z3.Not(z3.Or(self.arr(v, "data", r)[q], self.arr(v, "wp", r)[q])),
                        ),
                        z3.Implies(
                            self.kind(v, r, q, Kind.ZERO), z3.Not(self.arr(v, "data", r)[q])
                        ),
                    )
                )
            ),
            "the receive bitmap marks only mapped pages": self.per_page(
                lambda v, r, q: z3.Implies(
                    self.arr(v, "received", r)[q], z3.Not(self.none(v, r, q))
                )
            ),
            "during precopy every page is dirty at the source or received": self.per_page(
                lambda v, r, q: z3.Implies(
                    self.phase_is(v, Phase.PRECOPY),
                    z3.Or(self.arr(v, "dirty", r)[q], self.arr(v, "received", r)[q]),
                )
            ),
            "after the discard a dirty page is an empty one": self.per_page(
                lambda v, r, q: z3.Implies(
                    z3.And(self.phase_is(v, *postcopy), self.arr(v, "dirty", r)[q]),
                    self.none(v, r, q),
                )
            ),
            "the snapshot has no dirty or received pages": self.per_page(
                lambda v, r, q: z3.Implies(
                    self.phase_is(v, *SNAPSHOT),
                    z3.Not(z3.Or(self.arr(v, "dirty", r)[q], self.arr(v, "received", r)[q])),
                )
            ),
            "a page not dirty at the source holds what the guest last wrote": self.per_page(
                lambda v, r, q: z3.Implies(
                    z3.Not(self.arr(v, "dirty", r)[q]),
                    self.arr(v, "data", r)[q] == self.arr(v, "guest", r)[q],
                )
            ),
            "while the snapshot is prepared or tracking no entry is empty": self.per_page(
                lambda v, r, q: z3.Implies(
                    self.phase_is(v, Phase.PREPARED, Phase.TRACKING), z3.Not(self.none(v, r, q))
                )
            ),
        }

    def _well_formed(self, v: Vars) -> Any:
        return z3.And(
            z3.ULE(v["phase"], self.en(Phase.DONE, 3)),
            z3.ULE(v["uffd"], self.en(Uffd.WP, 2)),
            z3.ULE(v["vop"], self.en(Op.WRITE_ZERO, 2)),
            z3.ULE(v["vfault"], self.en(Fault.WP, 2)),
        )

    def _phase_facts(self, v: Vars) -> Any:
        uffd = v["uffd"]
        registration = z3.If(
            self.phase_is(v, Phase.POSTCOPY),
            uffd == self.en(Uffd.MISSING, 2),
            z3.If(
                self.phase_is(v, Phase.TRACKING),
                uffd == self.en(Uffd.WP, 2),
                uffd == self.en(Uffd.NONE, 2),
            ),
        )
        no_thp = z3.Implies(
            self.phase_is(v, Phase.DISCARDED, Phase.POSTCOPY), z3.Not(v["thp_allowed"])
        )
        return z3.And(registration, no_thp)


__all__ = ["ThpSplitEncoding"]
