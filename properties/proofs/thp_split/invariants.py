"""The thp_split encoding's properties and the strengthening lemmas its proofs need."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import z3
from hintspec.models.thp_split import (
    Fault,
    Kind,
    Op,
    Phase,
    Uffd,
)
from hintspec.properties.proofs.thp_split.actions import Actions
from hintspec.properties.proofs.thp_split.state import SNAPSHOT
from hintspec.smt import (
    Forall,
    Pred,
    Vars,
)


class Invariants(Actions):
    """The ``@always`` properties as predicates, and the lemmas."""

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
            "a page QEMU has received stays mapped": self.per_page(
                lambda v, r, q: z3.Implies(
                    self.arr(v, "received", r)[q], z3.Not(self.none(v, r, q))
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
