"""The page_reporting encoding's properties and the strengthening lemmas its proofs need."""

from __future__ import annotations

from typing import Any

import z3
from hintspec.models.page_reporting import Pc
from hintspec.properties.proofs import _bits as bits
from hintspec.properties.proofs.page_reporting.state import _DATA, _LOST, RING_AVAIL, RING_EMPTY
from hintspec.properties.proofs.page_reporting.walk import Walk
from hintspec.smt import Forall, Pred, Vars


class Invariants(Walk):
    """The ``@always`` properties as predicates, and the lemmas."""

    def invariants(self) -> dict[str, Pred]:
        return {
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
            "a free page reads back what the guest wrote when it freed it": Forall(
                1, self.poison_kept
            ),
            "a block is not reported again while it stays free and unmerged": Forall(
                0, self.not_acked_again
            ),
            "every frame of a marked block was handed to the host and not written since": Forall(
                1, lambda v, f: z3.Implies(self.marked(v, f), v["handed"][f])
            ),
            "a reported block gives its memory back to the host": Forall(
                1, lambda v, f: z3.Implies(self.marked(v, f), v["discarded"][f])
            ),
            "the worker does not go idle while a block the guest freed waits for its report": (
                Forall(1, self.nothing_owed_when_idle)
            ),
            "ZONE_MOVABLE holds only movable memory: its pageblocks and free lists are MOVABLE": (
                Forall(1, self.movable_in_movable_zone)
            ),
        }

    # -- the properties --------------------------------------------------------------------

    def slots_aligned(self, v: Vars) -> Any:
        out = []
        for j in range(self.slots):
            head, order = v[f"sg_head{j}"], v[f"sg_order{j}"]
            out.append(
                z3.Implies(
                    z3.ULT(self._slot(j), v["nents"]),
                    z3.And(z3.ULE(order, self._ord(self.top)), self._covers(head, head, order)),
                )
            )
        return z3.And(out)

    def _held(self, v: Vars) -> list[tuple[Any, int]]:
        """Every frame set whose heads own blocks, with the blocks' order."""
        out = [(v[self.free(z, o, m)], o) for z, o, m in self.lists()]
        return out + [(v[f"allocated{o}"], o) for o in range(self.mao + 1)]

    def owned_once(self, v: Vars, f: Any) -> Any:
        held = self._held(v)
        aligned = [z3.Implies(arr[f], bits.is_aligned(f, o)) for arr, o in held]
        covering = [arr[bits.head_of(f, o)] for arr, o in held] + self._sg_covers(v, f)
        return z3.And(
            *aligned,
            z3.If(self.exists(f), bits.exactly_one(covering), z3.Not(z3.Or(covering))),
        )

    def reported_is_free_head(self, v: Vars, f: Any) -> Any:
        heads = [v[self.free(z, o, m)][f] for z, o, m in self.lists()]
        return z3.Implies(v["reported"][f], z3.Or(heads))

    def ring_held(self, v: Vars, f: Any) -> Any:
        unacked = z3.And(
            v["ring"] == self._bv(RING_AVAIL, 2), z3.Or(self._sg_covers(v, f, "ring", "ring_n"))
        )
        return z3.Implies(unacked, z3.Or(self._sg_covers(v, f)))

    def in_free_block(self, v: Vars, f: Any) -> Any:
        return z3.Or([v[self.free(z, o, m)][bits.head_of(f, o)] for z, o, m in self.lists()])

    def poison_kept(self, v: Vars, f: Any) -> Any:
        held = z3.Or(self.in_free_block(v, f), *self._sg_covers(v, f))
        return z3.Implies(held, self._content_is(v, f, self.m.freed_content))

    def not_acked_again(self, v: Vars) -> Any:
        out = []
        for j in range(self.slots):
            head, order = v[f"sg_head{j}"], v[f"sg_order{j}"]
            acked = z3.Or(
                [z3.And(order == self._ord(o), v[f"acked{o}"][head]) for o in self.rep_orders]
            )
            out.append(z3.Implies(z3.ULT(self._slot(j), v["nents"]), z3.Not(acked)))
        return z3.And(out)

    def marked(self, v: Vars, f: Any) -> Any:
        """Frame ``f`` lies in a free block whose head carries the mark."""
        return z3.Or(
            [
                z3.And(v[self.free(z, o, m)][bits.head_of(f, o)], v["reported"][bits.head_of(f, o)])
                for z, o, m in self.lists()
            ]
        )

    def nothing_owed_when_idle(self, v: Vars, f: Any) -> Any:
        idle = z3.And(v["pc"] == self._pc(Pc.OFF), z3.Not(v["work_queued"]))
        return z3.Implies(idle, z3.Not(z3.Or([v[f"owed{o}"][f] for o in self.rep_orders])))

    def movable_in_movable_zone(self, v: Vars, f: Any) -> Any:
        z = self.m.movable_zone
        if z is None:
            return z3.BoolVal(True)
        unmovable_lists = [v[self.free(z, o, 0)][f] for o in range(self.ztop[z] + 1)]
        return z3.Implies(
            self.in_zone(f, z), z3.Not(z3.Or(self.unmovable_at(v, f), *unmovable_lists))
        )

    # -- the lemmas ------------------------------------------------------------------------

    def lemmas(self) -> dict[str, Pred]:
        """What the induction needs besides the properties, each a claim about every
        reachable state (proven with them; tests/test_smt_page_reporting.py shows the
        counterexample to induction each one removes):

        * a scatterlist outside a pass (``finish`` drops it) and a slot of an order the
          drain does not try are unreachable: without them ownership is not inductive;
        * the ring holds a buffer only while the worker waits for it, and that buffer is the
          scatterlist: without it the host's discard may hit a frame the guest holds
          (data loss), and the drain may put back blocks the host never saw (the mark);
        * every frame of a buffer the host has used was handed to it: the drain marks those
          blocks, so the mark's meaning needs it;
        * every block the host acknowledged is a marked free head of its order: the walk
          skips marked heads, so no such block is isolated again (no double hint);
        * no free or isolated frame holds data, and the content the host discards was the
          freed content: data loss needs the host to see freed frames only.
        """

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

        def ring_is_the_sgl(v: Vars) -> Any:
            busy = v["ring"] != self._bv(RING_EMPTY, 2)
            same = [v["ring_n"] == v["nents"], v["pc"] == self._pc(Pc.WAIT)]
            for j in range(self.slots):
                live = z3.ULT(self._slot(j), v["nents"])
                same.append(
                    z3.Implies(
                        live,
                        z3.And(
                            v[f"ring_head{j}"] == v[f"sg_head{j}"],
                            v[f"ring_order{j}"] == v[f"sg_order{j}"],
                        ),
                    )
                )
            waiting = z3.Implies(v["pc"] == self._pc(Pc.WAIT), busy)
            return z3.And(z3.Implies(busy, z3.And(same)), waiting)

        def used_is_handed(v: Vars, f: Any) -> Any:
            used = v["ring"] == self._bv(2, 2)
            return z3.Implies(
                z3.And(used, z3.Or(self._sg_covers(v, f, "ring", "ring_n"))),
                z3.And(v["handed"][f], self._discarded_if_aligned(v, f)),
            )

        def acked_is_marked(v: Vars, f: Any) -> Any:
            return z3.And(
                [
                    z3.Implies(v[f"acked{o}"][f], z3.And(self.free_head(v, f, o), v["reported"][f]))
                    for o in self.rep_orders
                ]
            )

        def held_holds_no_data(v: Vars, f: Any) -> Any:
            held = z3.Or(self.in_free_block(v, f), *self._sg_covers(v, f))
            return z3.Implies(held, z3.Not(self._content_is(v, f, _DATA)))

        return {
            "the scatterlist is empty unless a pass is walking, reporting or waiting": (
                sgl_only_in_a_pass
            ),
            "every isolated block has an order the pass walks": slot_orders,
            "the ring holds a buffer only while the worker waits, and it is the scatterlist": (
                ring_is_the_sgl
            ),
            "every frame of a used buffer was handed to the host (and discarded if aligned)": (
                Forall(1, used_is_handed)
            ),
            "every acknowledged block is a marked free head of its order": Forall(
                1, acked_is_marked
            ),
            "no free or isolated frame holds the guest's data": Forall(1, held_holds_no_data),
        }

    def _discarded_if_aligned(self, v: Vars, f: Any) -> Any:
        """``f`` was discarded if the host discards and a used range aligned to its page
        covers it."""
        if not self.m.host_discards:
            return z3.BoolVal(True)
        return z3.Implies(self._ring_hits(v, f), v["discarded"][f])
