"""The hinting_oom encoding's properties and the strengthening lemmas its proofs need."""

from __future__ import annotations

from typing import Any

import z3
from hintspec.models.hinting_oom import Worker
from hintspec.properties.proofs import _bits as bits
from hintspec.properties.proofs.hinting_oom.actions import Actions
from hintspec.properties.proofs.hinting_oom.state import (
    ABOVE_LOW,
    COUNT_LEMMA,
    DEMAND_LEMMA,
    EXCLUSION,
    IN_FLIGHT,
    NO_OOM,
    OOM_LEMMA,
    REPORTED,
    RING_LEMMA,
    TIGHT,
)
from hintspec.smt import (
    Exists,
    Forall,
    Pred,
    Premise,
    Vars,
)


class Invariants(Actions):
    """The ``@always`` properties as predicates, and the lemmas."""

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

    def premises(self) -> dict[str, Premise]:
        """The situations the implications are about. "No hinting-induced OOM" and "OOM only
        when tight" say something only while hinting holds memory away from the allocator
        (an OOM with nothing held is not theirs to prevent); "PG_reported only on free
        blocks" only once the host has acked a block."""
        held = lambda v: self.held_wide(v) != self.wide(self.bv(0))  # noqa: E731
        return {
            NO_OOM: held,
            TIGHT: held,
            REPORTED: Exists(1, lambda v, f: v["reported"][f]),
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
