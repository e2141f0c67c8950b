"""The page_reporting encoding's properties and the strengthening lemmas its proofs need."""

from __future__ import annotations

from typing import Any

import z3
from hintspec.models.page_reporting import (
    FreeInit,
    Pc,
)
from hintspec.properties.proofs import _bits as bits
from hintspec.properties.proofs.page_reporting.actions import Actions
from hintspec.properties.proofs.page_reporting.state import _LOST, RING_AVAIL
from hintspec.smt import (
    Forall,
    Pred,
    Vars,
)


class Invariants(Actions):
    """The ``@always`` properties as predicates, and the lemmas."""

    def invariants(self) -> dict[str, Pred]:
        out: dict[str, Pred] = {
            "no page is lost or owned twice": (
                Forall(0, self.slots_aligned),
                Forall(1, self.owned_once),
            ),
            "a reported page is a free buddy head": Forall(1, self.reported_is_free_head),
            "at most capacity blocks are isolated": lambda v: z3.ULE(
                v["nents"], self._slot(self.cap)
            ),
            "a reported page goes back to the allocator only after the host acked it": Forall(
                1, self.ring_held
            ),
            "the host never discards data the guest is using": Forall(
                1, lambda v, f: z3.Not(self._content_is(v, f, _LOST))
            ),
            "a block is not reported again while it stays free and unmerged": Forall(
                0, self.not_acked_again
            ),
            "every frame of a marked block was handed to the host and not written since": Forall(
                1, self.mark_meaning
            ),
        }
        if FreeInit(self.m.config.free_init) is not FreeInit.NONE:
            out["a free page reads back what page poisoning wrote"] = Forall(1, self.poison_kept)
        else:
            out["a free page reads back what page poisoning wrote"] = lambda v: z3.BoolVal(True)
        return out

    def lemmas(self) -> dict[str, Pred]:
        """Ownership is not inductive as stated: a state with blocks in the scatterlist
        while the worker is off or ending its pass loses them at ``finish`` (which frees the
        sgl), and a slot holding an order below the reporting order is not put back by the
        drain (it tries the orders the pass walks). Neither is reachable; these say so."""

        def sgl_only_in_a_pass(v: Vars) -> Any:
            idle = z3.Or(v["pc"] == self._pc(Pc.OFF), v["pc"] == self._pc(Pc.END))
            return z3.And(
                z3.ULE(v["pc"], self._pc(Pc.END)),
                z3.Implies(idle, v["nents"] == self._slot(0)),
            )

        def slot_orders(v: Vars) -> Any:
            return z3.And(
                [
                    z3.Implies(
                        z3.ULT(self._slot(j), v["nents"]),
                        z3.And(
                            z3.ULE(self._ord(self.ro), v[f"sg_order{j}"]),
                            z3.ULE(v[f"sg_order{j}"], self._ord(self.top)),
                        ),
                    )
                    for j in range(self.slots)
                ]
            )

        return {
            "the scatterlist is empty unless a pass is walking, reporting or waiting": (
                sgl_only_in_a_pass
            ),
            "every isolated block has an order the pass walks": slot_orders,
        }

    def slots_aligned(self, v: Vars) -> Any:
        out = []
        for j in range(self.slots):
            head, order = v[f"sg_head{j}"], v[f"sg_order{j}"]
            aligned = self._covers(head, head, order)
            out.append(
                z3.Implies(
                    z3.ULT(self._slot(j), v["nents"]),
                    z3.And(z3.ULE(order, self._ord(self.top)), aligned),
                )
            )
        return z3.And(out)

    def owned_once(self, v: Vars, f: Any) -> Any:
        held = [(f"free{o}", o) for o in range(self.top + 1)] + [
            (f"allocated{o}", o) for o in range(self.mao + 1)
        ]
        aligned = [z3.Implies(v[name][f], bits.is_aligned(f, o)) for name, o in held]
        covering = [v[name][bits.head_of(f, o)] for name, o in held] + self._sg_covers(v, f)
        return z3.And(*aligned, bits.exactly_one(covering))

    def reported_is_free_head(self, v: Vars, f: Any) -> Any:
        return z3.Implies(v["reported"][f], z3.Or([v[f"free{o}"][f] for o in range(self.top + 1)]))

    def ring_held(self, v: Vars, f: Any) -> Any:
        unacked = z3.And(
            v["ring"] == self._bv(RING_AVAIL, 2), z3.Or(self._sg_covers(v, f, "ring", "ring_n"))
        )
        return z3.Implies(unacked, z3.Or(self._sg_covers(v, f)))

    def not_acked_again(self, v: Vars) -> Any:
        out = []
        for j in range(self.slots):
            head, order = v[f"sg_head{j}"], v[f"sg_order{j}"]
            acked = z3.Or(
                [z3.And(order == self._ord(o), v[f"acked{o}"][head]) for o in self.rep_orders]
            )
            out.append(z3.Implies(z3.ULT(self._slot(j), v["nents"]), z3.Not(acked)))
        return z3.And(out)

    def mark_meaning(self, v: Vars, f: Any) -> Any:
        marked = [
            z3.And(v[f"free{o}"][bits.head_of(f, o)], v["reported"][bits.head_of(f, o)])
            for o in range(self.top + 1)
        ]
        return z3.Implies(z3.Or(marked), v["handed"][f])

    def poison_kept(self, v: Vars, f: Any) -> Any:
        free = [v[f"free{o}"][bits.head_of(f, o)] for o in range(self.top + 1)]
        held = z3.Or(*free, *self._sg_covers(v, f))
        return z3.Implies(held, self._content_is(v, f, self.m.freed_content))
