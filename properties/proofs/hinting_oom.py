"""Z3 encoding of ``models/hinting_oom.py`` (hinting queues and OOM, one zone of whole blocks).

State variables (``n`` = ``blocks``; frame sets are arrays from a block number to Bool over
the next power of two, blocks beyond ``n`` always empty):

* ``free``, ``reported`` -- frame sets; ``alloc{c}`` -- vCPU c's blocks;
* the ring (``Virtqueue``) as a queue of ``ring`` slots in add order, oldest first: the used
  buffers, then the popped (in-flight) ones, then the available ones -- every operation of
  the virtqueue keeps that order (pop and push only move a boundary, ``get_buf`` takes
  slot 0) -- so a ring state is the slots plus three counts ``nused``, ``ninfl``,
  ``navail``. Slot j holds a frame set ``slot{j}`` (the buffer's blocks; payloads have
  distinct, sorted blocks), its length ``slotn{j}`` and, per-CPU, the requesting vCPU
  ``slotcpu{j}``; slots beyond the count are zero (the encoding is a function of the state);
* the OOM record ``oom``, ``oom_cpu``, ``oom_free``, ``oom_held``; the ghost ``low_breach``;
* per-CPU designs: ``listed{c}_{k}`` -- bit k of how often each pfn is recorded in vCPU c's
  array (a sorted tuple that may repeat a pfn, hence a multiset: bit planes of a count up to
  ``threshold``), ``nlisted{c}``; ``iso{c}`` -- the isolated array (distinct blocks), ``niso{c}``;
* capped designs: ``pr``, ``worker``, ``budget`` (stored + 1: the budget runs down to -1).

Counts are explicit state variables -- ``nfree`` = |free|, ``nalloc{c}`` = |alloc{c}|,
``nelig`` = |free - reported| (capped), the lengths above -- because the model's guards and
properties count (watermarks, the budget, the OOM record's ``held``), and a count over all
blocks would drag every block into an induction step. ``encode`` computes them from the
sets; the exact relation (:meth:`transitions`) updates each by exactly the change of its
set (the conformance test checks that ``encode(t)`` of every Python successor, counts
included, is admitted and nothing else). Where that change is a count over all blocks (an
isolated batch, a returned buffer in a bad variant), the exact relation sums over every
block: fine for BMC and the conformance test, and the proof relation replaces it.

Choices. The model enumerates a chosen block once per class of interchangeable blocks (the
lowest of each class, ``HintingOom.choices``; ``subsets`` takes the lowest ones of each
class). The exact relation says the same: the chosen block has no lower block of the set
with the same *signature* (free, free and reported, in which vCPU's allocation, recorded how
often in which array, isolated by which vCPU, in which ring slot -- the model's
``_signature``, with ring slots standing for (stage, index)); a batch is closed downwards
within its classes and has ``count`` blocks. That is O(n) (a batch: O(n^2)) per step.

Proofs (k-induction, :meth:`proof_transitions`) for the capped designs, with four lemmas
(:meth:`lemmas`, below); the per-CPU designs are refuted by BMC. Which properties hold where: the
capped designs keep ownership, PG_reported, the in-flight cap and "OOM only when tight" at
every configuration; the watermark property (``capped_gate``, ``capped_no_gate``) and "no
hinting-induced OOM" (all of them) only when the guest's own demand leaves room, i.e.
``blocks - cpus * demand - capacity`` above WMARK_LOW, resp. WMARK_MIN -- true at the
report/bench configurations (demand 1 per vCPU), false at the manifest's tight ones, where
``hintspec prove`` refutes them.

Lemmas, and why each is needed (``tests/test_smt_hinting_oom.py`` shows the CTIs):

* the ring lemma -- worker OFF/CYCLE: ring empty; WAIT/WAIT_LEFTOVER: one buffer, whose
  length is ``nring``. Without it a cycle fills the slot of a report still in the ring.
* the counting lemma -- ``nfree + uses + held == blocks`` (in wider arithmetic, so nothing
  wraps). Without it ``nfree`` is unconstrained: an allocation "fails" with free blocks.
* the demand lemma -- ``nalloc{c} <= demand``: bounds ``uses`` for the watermark and OOM.
* the OOM-record lemma -- once an OOM is recorded, ``uses + oom.free + oom.held == blocks``
  and ``oom.held <= CAPACITY`` (the guest's uses are frozen after it): what "OOM only when
  tight" needs at tight configurations (where an OOM happens at all).

Left out: the busy loop of ``percpu_spin`` is a progress property (a lasso), which a finite
BMC trace cannot refute; BMC refutes that variant by the in-flight cap it shares with
``percpu_2019``. The per-CPU designs' hinting-induced OOM needs the zone emptied (about
three steps per block), beyond BMC at 64 blocks: the explorer shows it at 4 blocks.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import z3
from hintspec.models.hinting_oom import BUDGET_DIVISOR, PR, HintingOom, Oom, State, Worker
from hintspec.models.virtqueue import Virtqueue
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
    join,
    meet,
    minus,
)

EXCLUSION = "every block is in exactly one place"
IN_FLIGHT = "hinting holds at most CAPACITY blocks"
REPORTED = "PG_reported only on free blocks"
ABOVE_LOW = "hinting never takes the zone below the low watermark"
NO_OOM = "no hinting-induced OOM"
TIGHT = "hinting causes an OOM only when free memory is tight"

RING_LEMMA = "the ring holds one report exactly while the worker waits for it"
COUNT_LEMMA = "free, used and held blocks add up to the zone: nfree + uses + held == blocks"
DEMAND_LEMMA = "each vCPU uses at most demand blocks"
OOM_LEMMA = "an OOM record adds up: uses + oom.free + oom.held == blocks, held <= CAPACITY"


class Ring:
    """The ring's variables as terms (slots oldest first), and the virtqueue operations."""

    def __init__(
        self,
        sets: Sequence[Any],
        lens: Sequence[Any],
        cpus: Sequence[Any] | None,
        counts: tuple[Any, Any, Any, Any],
        empty: Any,
        zero: Any,
    ) -> None:
        self.sets, self.lens = list(sets), list(lens)
        self.cpus = None if cpus is None else list(cpus)
        self.nused, self.ninfl, self.navail, self.nring = counts
        """Buffers used, in flight, available; blocks in all of them."""
        self.empty, self.zero = empty, zero

    @property
    def size(self) -> int:
        return len(self.sets)

    @property
    def total(self) -> Any:
        return self.nused + self.ninfl + self.navail

    def live(self, j: int) -> Any:
        """Slot j holds a buffer."""
        return z3.ULT(z3.BitVecVal(j, self.nused.size()), self.total)

    def _with(self, sets: list[Any], lens: list[Any], cpus: list[Any] | None, counts: Any) -> Ring:
        return Ring(sets, lens, cpus, counts, self.empty, self.zero)

    def add(self, blocks: Any, length: Any, cpu: Any | None) -> Ring:
        """``virtqueue_add``: the buffer goes to slot ``total`` (the caller checks room)."""
        at = [self.total == j for j in range(self.size)]
        sets = [z3.If(a, blocks, s) for a, s in zip(at, self.sets, strict=True)]
        lens = [z3.If(a, length, n) for a, n in zip(at, self.lens, strict=True)]
        cpus = None
        if self.cpus is not None:
            cpus = [z3.If(a, cpu, c) for a, c in zip(at, self.cpus, strict=True)]
        counts = (self.nused, self.ninfl, self.navail + 1, self.nring + length)
        return self._with(sets, lens, cpus, counts)

    def pop(self) -> Ring:
        """Device ``virtqueue_pop``: the oldest available buffer is in flight."""
        return self._with(
            self.sets,
            self.lens,
            self.cpus,
            (self.nused, self.ninfl + 1, self.navail - 1, self.nring),
        )

    def push(self) -> Ring:
        """Device ``virtqueue_push(0)``: the oldest in-flight buffer is used."""
        return self._with(
            self.sets,
            self.lens,
            self.cpus,
            (self.nused + 1, self.ninfl - 1, self.navail, self.nring),
        )

    def get_buf(self) -> Ring:
        """Driver ``virtqueue_get_buf``: slot 0 leaves, the others move down."""
        cpus = None if self.cpus is None else [*self.cpus[1:], self.cpus[0] * 0]
        return self._with(
            [*self.sets[1:], self.empty],
            [*self.lens[1:], self.zero],
            cpus,
            (self.nused - 1, self.ninfl, self.navail, self.nring - self.lens[0]),
        )

    def drop_used(self) -> Ring:
        """``while (virtqueue_get_buf(vq, &unused));``: every used buffer leaves."""

        def shifted(items: list[Any], blank: Any) -> list[Any]:
            out = []
            for j in range(self.size):
                val = blank
                for k in reversed(range(self.size + 1)):
                    src = items[j + k] if j + k < self.size else blank
                    val = z3.If(self.nused == k, src, val)
                out.append(val)
            return out

        cpus = None if self.cpus is None else shifted(self.cpus, self.cpus[0] * 0)
        zero = self.nused * 0
        dropped = [z3.If(z3.ULT(j, self.nused), n, self.zero) for j, n in enumerate(self.lens)]
        nring = self.nring - functools.reduce(lambda a, b: a + b, dropped)
        return self._with(
            shifted(self.sets, self.empty),
            shifted(self.lens, self.zero),
            cpus,
            (zero, self.ninfl, self.navail, nring),
        )

    def updates(self) -> dict[str, Any]:
        out: dict[str, Any] = {"nused": self.nused, "ninfl": self.ninfl, "navail": self.navail}
        out["nring"] = self.nring
        for j in range(self.size):
            out[f"slot{j}"] = self.sets[j]
            out[f"slotn{j}"] = self.lens[j]
            if self.cpus is not None:
                out[f"slotcpu{j}"] = self.cpus[j]
        return out


class HintingOomEncoding(Encoding[State]):
    """Frame sets for the zone, the vCPUs, the arrays and the ring slots; explicit counts."""

    model_name = "hinting_oom"
    variants = (
        "capped_gate_per_batch",
        "capped_gate",
        "capped_no_gate",
        "percpu_2019",
        "percpu_drain_leak",
        "percpu_no_recheck",
        "percpu_spin",
    )
    proved_variants = ("capped_gate_per_batch", "capped_gate", "capped_no_gate")
    bmc_depth = 10
    size_parameter = "blocks"
    bench_sizes = (64, 128, 256, 512, 1024)
    bench_bmc_sizes = (64,)
    report_config = {"blocks": 512}
    report_bmc_config = {"blocks": 64, "ring": 4}
    conformance_configs = (
        ({"blocks": 4}, 4),
        ({"blocks": 8, "demand": 2, "capacity": 2, "ring": 2, "threshold": 2, "wmark_low": 3}, 2),
    )
    bitblast_config = {"blocks": 8, "demand": 3, "capacity": 2}

    def __init__(self, model: HintingOom) -> None:
        super().__init__(model)
        self.m = model
        c = model.config
        self.n = c.blocks
        self.width = max(1, (c.blocks - 1).bit_length())
        self.size = 1 << self.width
        self.idx = z3.BitVecSort(self.width)
        self.fs = z3.ArraySort(self.idx, z3.BoolSort())
        self.cpus = c.cpus
        self.R = model.ring
        self.percpu = model.percpu
        self.capped = model.capped
        self.cw = max(1, (c.cpus - 1).bit_length())
        self.rw = self.R.bit_length() + 1
        self.planes = c.threshold.bit_length()
        top = max(
            c.blocks + c.capacity * BUDGET_DIVISOR,
            c.cpus * c.demand,
            c.wmark_low + c.capacity + 1,
            c.threshold,
        )
        self.w = ((self.R + c.cpus + 2) * top).bit_length() + 1
        """Counter width: no reachable count (a held total with duplicates included) wraps."""
        self.ext = (self.R + c.cpus + 2).bit_length() + 1
        """Extra bits for sums of counters that must not wrap (lemmas)."""
        self._below: dict[int, Any] = {}

    # -- variables ---------------------------------------------------------------------

    def sorts(self) -> dict[str, Any]:
        bv, rb = z3.BitVecSort(self.w), z3.BitVecSort(self.rw)
        out: dict[str, Any] = {"free": self.fs, "reported": self.fs, "nfree": bv}
        for c in range(self.cpus):
            out[f"alloc{c}"] = self.fs
            out[f"nalloc{c}"] = bv
        for j in range(self.R):
            out[f"slot{j}"] = self.fs
            out[f"slotn{j}"] = bv
            if self.percpu:
                out[f"slotcpu{j}"] = z3.BitVecSort(self.cw)
        out |= {"nused": rb, "ninfl": rb, "navail": rb, "nring": bv}
        out |= {
            "oom": z3.BoolSort(),
            "oom_cpu": z3.BitVecSort(self.cw),
            "oom_free": bv,
            "oom_held": bv,
            "low_breach": z3.BoolSort(),
        }
        if self.percpu:
            for c in range(self.cpus):
                for k in range(self.planes):
                    out[f"listed{c}_{k}"] = self.fs
                out[f"nlisted{c}"] = bv
                out[f"iso{c}"] = self.fs
                out[f"niso{c}"] = bv
        if self.capped:
            out |= {"pr": z3.BitVecSort(2), "worker": z3.BitVecSort(2), "budget": bv, "nelig": bv}
        return out

    def bv(self, value: int) -> Any:
        return z3.BitVecVal(value, self.w)

    def one_if(self, cond: Any) -> Any:
        return z3.If(cond, self.bv(1), self.bv(0))

    def empty(self) -> Any:
        return bits.empty(self.idx)

    def popcount(self, s: Any) -> Any:
        """|s| -- a sum over every block (exact relation only)."""
        return functools.reduce(
            lambda a, b: a + b,
            [self.one_if(s[z3.BitVecVal(i, self.width)]) for i in range(self.n)],
        )

    def ring(self, v: Vars) -> Ring:
        cpus = [v[f"slotcpu{j}"] for j in range(self.R)] if self.percpu else None
        return Ring(
            [v[f"slot{j}"] for j in range(self.R)],
            [v[f"slotn{j}"] for j in range(self.R)],
            cpus,
            (v["nused"], v["ninfl"], v["navail"], v["nring"]),
            self.empty(),
            self.bv(0),
        )

    def wide(self, x: Any) -> Any:
        return z3.ZeroExt(self.ext, x)

    def held_wide(self, v: Vars) -> Any:
        """Blocks the hinting path holds (isolated arrays and ring buffers), unwrapped."""
        terms = [self.wide(v["nring"])]
        if self.percpu:
            terms += [self.wide(v[f"niso{c}"]) for c in range(self.cpus)]
        return functools.reduce(lambda a, b: a + b, terms, self.wide(self.bv(0)))

    def held(self, v: Vars) -> Any:
        return z3.Extract(self.w - 1, 0, self.held_wide(v))

    def uses_wide(self, v: Vars) -> Any:
        return functools.reduce(
            lambda a, b: a + b, [self.wide(v[f"nalloc{c}"]) for c in range(self.cpus)]
        )

    # -- concrete <-> symbolic -----------------------------------------------------------

    def _set(self, blocks: Any, what: str) -> int:
        if any(not 0 <= b < self.n for b in blocks):
            raise ValueError(f"{what}: a block out of range")
        return bits.to_bits(blocks)

    def _distinct(self, blocks: tuple[int, ...], what: str) -> int:
        if tuple(sorted(set(blocks))) != blocks:
            raise ValueError(f"{what} {blocks} is not sorted and distinct")
        return self._set(blocks, what)

    def encode(self, state: State) -> dict[str, Value]:
        m, cfg = self.m, self.config
        out: dict[str, Value] = {
            "free": self._set(state.free, "free"),
            "reported": self._set(state.reported, "reported"),
            "nfree": len(state.free),
        }
        for c in range(self.cpus):
            out[f"alloc{c}"] = self._set(state.allocated[c], f"vCPU {c}")
            out[f"nalloc{c}"] = len(state.allocated[c])
        vq = state.vq
        if vq.size != self.R or vq.indirect != self.percpu:
            raise ValueError("the ring is not the design's")
        bufs = vq.used + vq.inflight + vq.avail
        if len(bufs) > self.R:
            raise ValueError("more buffers than ring entries")
        for j in range(self.R):
            buf = bufs[j] if j < len(bufs) else None
            payload = () if buf is None else m.payload(buf)
            out[f"slot{j}"] = self._distinct(payload, "a ring buffer")
            out[f"slotn{j}"] = len(payload)
            if self.percpu:
                out[f"slotcpu{j}"] = 0 if buf is None else buf[0]
        out |= {"nused": len(vq.used), "ninfl": len(vq.inflight), "navail": len(vq.avail)}
        out["nring"] = sum(len(m.payload(b)) for b in bufs)
        o = state.oom
        out |= {
            "oom": o is not None,
            "oom_cpu": 0 if o is None else o.cpu,
            "oom_free": 0 if o is None else o.free,
            "oom_held": 0 if o is None else o.held,
            "low_breach": state.low_breach,
        }
        if self.percpu:
            for c in range(self.cpus):
                listed = state.listed[c]
                if tuple(sorted(listed)) != listed or len(listed) > cfg.threshold:
                    raise ValueError(f"vCPU {c}'s array {listed} is not sorted or too long")
                self._set(listed, "an array")
                for k in range(self.planes):
                    out[f"listed{c}_{k}"] = bits.to_bits(
                        b for b in set(listed) if listed.count(b) >> k & 1
                    )
                out[f"nlisted{c}"] = len(listed)
                out[f"iso{c}"] = self._distinct(state.isolated[c], "an isolated array")
                out[f"niso{c}"] = len(state.isolated[c])
        else:
            if any(state.listed) or any(state.isolated):
                raise ValueError("the capped worker keeps no per-CPU arrays")
        if self.capped:
            out |= {
                "pr": int(state.pr_state),
                "worker": int(state.worker),
                "budget": state.budget + 1,
                "nelig": len(state.free - state.reported),
            }
        elif (state.pr_state, state.worker, state.budget) != (PR.IDLE, Worker.OFF, 0):
            raise ValueError("per-CPU hinting has no reporting worker")
        return out

    def decode(self, values: Mapping[str, Value]) -> State:
        def blocks(name: str) -> tuple[int, ...]:
            return tuple(bits.from_bits(int(values[name])))

        bufs: list[tuple[int, ...]] = []
        for j in range(self.R):
            head = (int(values[f"slotcpu{j}"]),) if self.percpu else ()
            bufs.append((*head, *blocks(f"slot{j}")))
        nu, ni, na = (int(values[k]) for k in ("nused", "ninfl", "navail"))
        vq = Virtqueue(
            self.R,
            avail=tuple(bufs[nu + ni : nu + ni + na]),
            inflight=tuple(bufs[nu : nu + ni]),
            used=tuple(bufs[:nu]),
            indirect=self.percpu,
        )
        listed: list[tuple[int, ...]] = []
        isolated: list[tuple[int, ...]] = []
        for c in range(self.cpus):
            if not self.percpu:
                listed.append(())
                isolated.append(())
                continue
            counts: dict[int, int] = {}
            for k in range(self.planes):
                for b in blocks(f"listed{c}_{k}"):
                    counts[b] = counts.get(b, 0) + (1 << k)
            listed.append(tuple(b for b in sorted(counts) for _ in range(counts[b])))
            isolated.append(blocks(f"iso{c}"))
        oom = None
        if values["oom"]:
            oom = Oom(int(values["oom_cpu"]), int(values["oom_free"]), int(values["oom_held"]))
        return State(
            free=frozenset(blocks("free")),
            reported=frozenset(blocks("reported")),
            allocated=tuple(frozenset(blocks(f"alloc{c}")) for c in range(self.cpus)),
            listed=tuple(listed),
            isolated=tuple(isolated),
            pr_state=PR(int(values["pr"]) % 3) if self.capped else PR.IDLE,
            worker=Worker(int(values["worker"])) if self.capped else Worker.OFF,
            budget=int(values["budget"]) - 1 if self.capped else 0,
            vq=vq,
            oom=oom,
            low_breach=bool(values["low_breach"]),
        )

    # -- Init ---------------------------------------------------------------------------

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

    # -- symmetric choices (exact relation) ------------------------------------------------

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

    # -- Next -----------------------------------------------------------------------------

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

    # -- per-CPU hinting ------------------------------------------------------------------

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

    # -- the capped worker ----------------------------------------------------------------

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

    # -- the host -------------------------------------------------------------------------

    def _pop(self, c: Vars, n: Vars, p: Params) -> Any:
        return z3.And(c["navail"] != 0, self.assign(c, n, self.ring(c).pop().updates()))

    def _push(self, c: Vars, n: Vars, p: Params) -> Any:
        return z3.And(c["ninfl"] != 0, self.assign(c, n, self.ring(c).push().updates()))

    # -- properties -----------------------------------------------------------------------

    def invariants(self) -> dict[str, Pred]:
        return {
            NO_OOM: self.no_hinting_oom,
            IN_FLIGHT: lambda v: z3.ULE(
                self.held_wide(v), self.wide(self.bv(self.config.capacity))
            ),
            EXCLUSION: Forall(1, self.one_place),
            REPORTED: Forall(1, lambda v, f: z3.Implies(v["reported"][f], v["free"][f])),
            ABOVE_LOW: lambda v: z3.Not(v["low_breach"]),
            TIGHT: self.oom_only_when_tight,
        }

    def no_hinting_oom(self, v: Vars) -> Any:
        total = self.wide(v["oom_free"]) + self.wide(v["oom_held"])
        return z3.Or(
            z3.Not(v["oom"]),
            v["oom_held"] == 0,
            z3.ULE(total, self.wide(self.bv(self.config.wmark_min))),
        )

    def oom_only_when_tight(self, v: Vars) -> Any:
        cfg = self.config
        tight = cfg.blocks - cfg.wmark_min - cfg.capacity
        if tight <= 0:
            return z3.BoolVal(True)
        return z3.Or(self.no_hinting_oom(v), z3.UGE(self.uses_wide(v), self.wide(self.bv(tight))))

    def places(self, v: Vars, f: Any) -> list[Any]:
        """Where block f is: the free list, a vCPU, an isolated array, a live ring slot."""
        out = [v["free"][f]] + [v[f"alloc{c}"][f] for c in range(self.cpus)]
        if self.percpu:
            out += [v[f"iso{c}"][f] for c in range(self.cpus)]
        r = self.ring(v)
        out += [z3.And(r.live(j), r.sets[j][f]) for j in range(self.R)]
        return out

    def one_place(self, v: Vars, f: Any) -> Any:
        where = self.places(v, f)
        if self.n == self.size:
            return bits.exactly_one(where)
        inside = z3.ULT(f, z3.BitVecVal(self.n, self.width))
        return z3.If(inside, bits.exactly_one(where), bits.at_most_one(where))

    # -- lemmas (capped designs) ------------------------------------------------------------

    def lemmas(self) -> dict[str, Pred]:
        if not self.capped:
            return {}
        cfg = self.config
        return {
            RING_LEMMA: self.ring_lemma,
            COUNT_LEMMA: lambda v: (
                self.wide(v["nfree"]) + self.uses_wide(v) + self.held_wide(v)
                == self.wide(self.bv(cfg.blocks))
            ),
            DEMAND_LEMMA: lambda v: z3.And(
                [z3.ULE(v[f"nalloc{c}"], self.bv(cfg.demand)) for c in range(self.cpus)]
            ),
            OOM_LEMMA: self.oom_lemma,
        }

    def ring_lemma(self, v: Vars) -> Any:
        """Worker OFF or CYCLE: the ring is empty; WAIT or WAIT_LEFTOVER: one buffer."""
        one = z3.BitVecVal(1, self.rw)
        counts = [v["nused"], v["ninfl"], v["navail"]]
        total = counts[0] + counts[1] + counts[2]
        return z3.And(
            *[z3.ULE(x, one) for x in counts],
            z3.Implies(
                self.worker_is(v, Worker.OFF, Worker.CYCLE), z3.And(total == 0, v["nring"] == 0)
            ),
            z3.Implies(
                self.worker_is(v, Worker.WAIT, Worker.WAIT_LEFTOVER),
                z3.And(total == 1, v["nring"] == v["slotn0"]),
            ),
        )

    def oom_lemma(self, v: Vars) -> Any:
        cfg = self.config
        adds_up = self.uses_wide(v) + self.wide(v["oom_free"]) + self.wide(v["oom_held"])
        return z3.Implies(
            v["oom"],
            z3.And(
                adds_up == self.wide(self.bv(cfg.blocks)),
                z3.ULE(v["oom_held"], self.bv(cfg.capacity)),
                z3.ULE(v["oom_free"], self.bv(cfg.wmark_min)),
            ),
        )
