"""Z3 encoding of ``models/reference_buddy.py`` (the Spin/TLC reference benchmark).

State variables, each a frame set (``hintspec.smt.frames_sort``: frame number -> Bool, true
at block heads):

* ``free{o}`` for every order o in 0..max_order -- ``State.free`` restricted to order o;
* ``allocated{o}`` for o in 0, 1 -- the model's ``alloc`` only takes orders 0 and 1, so no
  other order is reachable; ``encode`` rejects a state holding one;
* ``isolated{o}`` for o in 2..max_order -- ``isolate`` takes only orders >= 2
  (MIN_ISOLATE_ORDER);
* ``reported`` -- the PG_reported head frames.

Each action chooses a block by a fresh frame number ``head``; ``alloc`` and ``free`` are
unrolled over the orders (the smallest free order >= want; the merge chain).

The three ``@always`` properties, stated per frame (:class:`hintspec.smt.Forall`), are
1-inductive as stated, each on its own: no strengthening lemma is needed. (A property that
is true but not inductive, such as "no allocated head is reported", gives a CTI -- an
isolated block overlapping an allocated one, put back and marked -- until the ownership
property is assumed with it; ``tests/test_smt.py`` shows both.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import z3
from hintspec.models.reference_buddy import CAP, MIN_ISOLATE_ORDER, ReferenceBuddy, State
from hintspec.properties.proofs import _bits as bits
from hintspec.smt import Encoding, Forall, Params, Pred, Transition, Value, Vars, frames_sort

ALLOC_ORDERS = (0, 1)
"""The orders ``ReferenceBuddy.alloc`` hands out (its ``want``)."""


class ReferenceBuddyEncoding(Encoding[State]):
    """Frame sets: free heads per order, allocated, isolated, reported."""

    model_name = "reference_buddy"
    variants = (
        "upstream",
        "alloc_keeps_reported",
        "isolate_ignores_cap",
        "merge_keeps_reported",
    )
    bmc_depth = 6
    report_config = {"frames": 1024}
    report_bmc_config = {"frames": 64}

    def __init__(self, model: ReferenceBuddy) -> None:
        super().__init__(model)
        self.n = model.config.frames
        self.max_order = model.max_order
        self.iso_orders = range(MIN_ISOLATE_ORDER, self.max_order + 1)
        self.fs = frames_sort(self.n)
        self._iso_memo: dict[tuple[int, int], tuple[Any, Any, Any]] = {}
        assert CAP == 1, "the isolation cap is encoded as at-most-one"

    def sorts(self) -> dict[str, Any]:
        return dict.fromkeys((name for name, _o in self._blocks()), self.fs) | {"reported": self.fs}

    def _blocks(self) -> list[tuple[str, int]]:
        """(variable, order) of every set of blocks."""
        out = [(f"free{o}", o) for o in range(self.max_order + 1)]
        out += [(f"allocated{o}", o) for o in ALLOC_ORDERS]
        out += [(f"isolated{o}", o) for o in self.iso_orders]
        return out

    # -- concrete <-> symbolic ---------------------------------------------------------

    def encode(self, state: State) -> dict[str, Value]:
        out: dict[str, Value] = dict.fromkeys(self.sorts(), 0)
        for prefix, blocks in (
            ("free", state.free),
            ("allocated", state.allocated),
            ("isolated", state.isolated),
        ):
            for head, order in blocks:
                key = f"{prefix}{order}"
                if key not in out or not 0 <= head < self.n:
                    raise ValueError(f"{prefix} block {head}/o{order} has no encoding")
                out[key] = int(out[key]) | (1 << head)
        if any(not 0 <= h < self.n for h in state.reported):
            raise ValueError("a reported frame is out of range")
        out["reported"] = bits.to_bits(state.reported)
        return out

    def decode(self, values: Mapping[str, Value]) -> State:
        def blocks(prefix: str) -> frozenset[tuple[int, int]]:
            return frozenset(
                (h, o)
                for name, o in self._blocks()
                if name.startswith(prefix)
                for h in bits.from_bits(int(values[name]))
            )

        return State(
            free=blocks("free"),
            allocated=blocks("allocated"),
            isolated=blocks("isolated"),
            reported=frozenset(bits.from_bits(int(values["reported"]))),
        )

    # -- Init and Next -----------------------------------------------------------------

    def init(self, v: Vars) -> Any:
        none = bits.empty(self.index())
        top = f"free{self.max_order}"
        return z3.And([v[k] == (z3.Store(none, 0, True) if k == top else none) for k in v])

    def transitions(self) -> dict[str, Transition]:
        return {
            "alloc": self._alloc,
            "free": self._free,
            "isolate": self._isolate,
            "putback": self._putback,
        }

    def _alloc(self, c: Vars, n: Vars, p: Params) -> Any:
        head = p.bitvec("head", self.index().size())
        none = bits.empty(self.index())
        cases = []
        for want in ALLOC_ORDERS:
            for order in range(want, self.max_order + 1):
                # The smallest free order >= want is `order`: all orders between are empty.
                guard = z3.And(
                    *[c[f"free{j}"] == none for j in range(want, order)],
                    c[f"free{order}"][head],
                )
                upd = {f"free{order}": z3.Store(c[f"free{order}"], head, False)}
                for k in range(want, order):  # expand(): the upper halves become free
                    upd[f"free{k}"] = z3.Store(c[f"free{k}"], head + (1 << k), True)
                upd[f"allocated{want}"] = z3.Store(c[f"allocated{want}"], head, True)
                if self.model.variant != "alloc_keeps_reported":
                    upd["reported"] = z3.Store(c["reported"], head, False)
                cases.append(z3.And(guard, self.assign(c, n, upd)))
        return z3.Or(cases)

    def _free(self, c: Vars, n: Vars, p: Params) -> Any:
        head = p.bitvec("head", self.index().size())
        cases = []
        for order in ALLOC_ORDERS:
            m = bits.merge_chain(head, order, self.max_order, lambda k: c[f"free{k}"])
            upd: dict[str, Any] = {
                f"allocated{order}": z3.Store(c[f"allocated{order}"], head, False)
            }
            reported = c["reported"]
            for k in range(order, self.max_order + 1):
                free = c[f"free{k}"]
                if k in m.merged:
                    free = z3.If(m.merged[k], z3.Store(free, m.buddy[k], False), free)
                    reported = z3.If(m.merged[k], z3.Store(reported, m.buddy[k], False), reported)
                upd[f"free{k}"] = z3.If(m.final[k], z3.Store(free, m.head[k], True), free)
            if self.model.variant != "merge_keeps_reported":
                upd["reported"] = reported
            cases.append(z3.And(c[f"allocated{order}"][head], self.assign(c, n, upd)))
        return z3.Or(cases)

    def _isolate(self, c: Vars, n: Vars, p: Params) -> Any:
        head = p.bitvec("head", self.index().size())
        none = bits.empty(self.index())
        room = z3.And([c[f"isolated{o}"] == none for o in self.iso_orders])
        if self.model.variant == "isolate_ignores_cap":
            room = z3.BoolVal(True)
        cases = []
        for order in self.iso_orders:
            upd = {
                f"free{order}": z3.Store(c[f"free{order}"], head, False),
                f"isolated{order}": z3.Store(c[f"isolated{order}"], head, True),
            }
            cases.append(z3.And(c[f"free{order}"][head], self.assign(c, n, upd)))
        return z3.And(room, z3.Not(c["reported"][head]), z3.Or(cases))

    def _putback(self, c: Vars, n: Vars, p: Params) -> Any:
        head = p.bitvec("head", self.index().size())
        cases = []
        for order in self.iso_orders:
            upd = {
                f"isolated{order}": z3.Store(c[f"isolated{order}"], head, False),
                f"free{order}": z3.Store(c[f"free{order}"], head, True),
                "reported": z3.Store(c["reported"], head, True),
            }
            cases.append(z3.And(c[f"isolated{order}"][head], self.assign(c, n, upd)))
        return z3.Or(cases)

    # -- properties, per frame -----------------------------------------------------------

    def invariants(self) -> dict[str, Pred]:
        return {
            "every frame is in exactly one aligned block": Forall(1, self.covered_once),
            "reported is set only on heads of free blocks": Forall(1, self.reported_only_free),
            "at most CAP blocks are isolated": (
                Forall(1, self.isolated_once),
                Forall(2, self.isolated_same),
            ),
        }

    def covered_once(self, v: Vars, f: Any) -> Any:
        """Every block headed at f is aligned, and exactly one block covers frame f (the
        blocks that can cover f are those headed at f's ancestors in the buddy tree)."""
        blocks = self._blocks()
        aligned = [z3.Implies(v[name][f], bits.is_aligned(f, o)) for name, o in blocks]
        covering = [v[name][bits.head_of(f, o)] for name, o in blocks]
        return z3.And(*aligned, bits.exactly_one(covering))

    def reported_only_free(self, v: Vars, f: Any) -> Any:
        return z3.Implies(
            v["reported"][f], z3.Or([v[f"free{o}"][f] for o in range(self.max_order + 1)])
        )

    # At most one isolated block: no head isolated at two orders, no two isolated heads.

    def _isolated_at(self, v: Vars, f: Any) -> Any:
        # Memoised: the pair part is instantiated at every pair of index terms.
        key = (v["reported"].get_id(), f.get_id())
        if key not in self._iso_memo:
            self._iso_memo[key] = (
                z3.Or([v[f"isolated{o}"][f] for o in self.iso_orders]),
                f,
                v["reported"],
            )
        return self._iso_memo[key][0]

    def isolated_once(self, v: Vars, f: Any) -> Any:
        return bits.at_most_one([v[f"isolated{o}"][f] for o in self.iso_orders])

    def isolated_same(self, v: Vars, f: Any, g: Any) -> Any:
        return z3.Implies(z3.And(self._isolated_at(v, f), self._isolated_at(v, g)), f == g)
