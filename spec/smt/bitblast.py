"""Frame arrays as bit-vectors: the reading that bounded model checking solves.

An array over a finite domain *is* a bit-vector; :class:`Bitblast` rewrites formulas over
frame sets into formulas over 2**L-bit vectors, which the QF_BV solver bit-blasts to SAT.
"""

from __future__ import annotations

import functools
from typing import Any

import z3
from hintspec.smt.terms import EncodingError


class Bitblast:
    """Rewrites formulas over frame sets (arrays from an L-bit frame number to Bool) into
    formulas over 2**L-bit vectors: select is a shift and a bit test, store sets or clears
    one bit, a constant array is 0 or all ones. The two readings are the same function of
    the same state (an array over a finite domain *is* a bit-vector), but the bounded
    search is far faster on the bit-vector one, where the SAT solver sees every frame at
    once; the induction step stays on arrays, where it needs only the frames it touches."""

    def __init__(self) -> None:
        self._memo: dict[int, tuple[Any, Any]] = {}
        self.vectors: dict[str, Any] = {}
        """Array variable name -> its bit-vector."""

    def __call__(self, e: Any) -> Any:
        key = e.get_id()
        hit = self._memo.get(key)
        if hit is not None:
            return hit[1]
        out = self._convert(e)
        self._memo[key] = (e, out)  # e kept alive, so its id is not reused
        return out

    def _convert(self, e: Any) -> Any:
        sort = e.sort()
        if z3.is_const(e) and isinstance(sort, z3.ArraySortRef) and not z3.is_K(e):
            name = e.decl().name()
            if name not in self.vectors:
                self.vectors[name] = z3.BitVec(name, 1 << sort.domain().size())
            return self.vectors[name]
        if z3.is_quantifier(e) and e.is_lambda() and isinstance(sort, z3.ArraySortRef):
            return _lambda_vector(self, e)
        if z3.is_select(e):
            vec, i = self(e.arg(0)), self(e.arg(1))
            return z3.Extract(0, 0, z3.LShR(vec, _widen(i, vec.size()))) == 1
        if z3.is_store(e):
            vec, i, val = self(e.arg(0)), self(e.arg(1)), self(e.arg(2))
            bit = z3.BitVecVal(1, vec.size()) << _widen(i, vec.size())
            if z3.is_true(val):
                return vec | bit
            if z3.is_false(val):
                return vec & ~bit
            return z3.If(val, vec | bit, vec & ~bit)
        if z3.is_K(e):
            size = 1 << sort.domain().size()
            val = z3.simplify(e.arg(0))
            if z3.is_true(val):
                return z3.BitVecVal((1 << size) - 1, size)
            if z3.is_false(val):
                return z3.BitVecVal(0, size)
            raise EncodingError(f"a constant frame set must be all true or all false: {e}")
        if z3.is_map(e):
            return self._map(e)
        if z3.is_quantifier(e) or (
            isinstance(sort, z3.ArraySortRef) and z3.is_app_of(e, z3.Z3_OP_AS_ARRAY)
        ):
            raise EncodingError(f"cannot bit-blast {e.decl()}")
        if not z3.is_app(e) or e.num_args() == 0:
            return e
        kids = [self(c) for c in e.children()]
        if all(k.eq(c) for k, c in zip(kids, e.children(), strict=True)):
            return e
        # Equality, distinct and if-then-else are declared per argument sort: rebuild them.
        if z3.is_eq(e):
            return kids[0] == kids[1]
        if z3.is_distinct(e):
            return z3.Distinct(*kids)
        if z3.is_app_of(e, z3.Z3_OP_ITE):
            return z3.If(kids[0], kids[1], kids[2])
        return e.decl()(*kids)

    def _map(self, e: Any) -> Any:
        """``z3.Map(f, a, b, ...)`` of a Boolean connective over frame sets: set
        intersection, union, complement as bitwise and, or, not."""
        kind = z3.get_map_func(e).kind()
        vecs = [self(c) for c in e.children()]
        if kind == z3.Z3_OP_AND:
            return functools.reduce(lambda x, y: x & y, vecs)
        if kind == z3.Z3_OP_OR:
            return functools.reduce(lambda x, y: x | y, vecs)
        if kind == z3.Z3_OP_NOT and len(vecs) == 1:
            return ~vecs[0]
        raise EncodingError(f"cannot bit-blast a map of {z3.get_map_func(e)}")


def _widen(i: Any, width: int) -> Any:
    return z3.ZeroExt(width - i.size(), i) if width > i.size() else i


def _lambda_vector(bb: Bitblast, e: Any) -> Any:
    """A frame set given as ``z3.Lambda([f], body)``: bitwise when the body reads frame
    sets only at ``f`` and combines them with Boolean connectives (``free[f] and not
    reported[f]``), else one bit per frame (the body at each frame number)."""
    width = e.sort().domain().size()
    size = 1 << width
    body = e.body()
    vec = _bitwise(bb, body, size)
    if vec is not None:
        return vec
    bits = [
        z3.If(
            bb(z3.substitute_vars(body, z3.BitVecVal(f, width))),
            z3.BitVecVal(1, 1),
            z3.BitVecVal(0, 1),
        )
        for f in reversed(range(size))
    ]
    return z3.Concat(*bits) if size > 1 else bits[0]


def _bitwise(bb: Bitblast, t: Any, size: int) -> Any:
    """``t`` (a Boolean term over the bound frame ``Var(0)``) as a ``size``-bit vector whose
    bit f is ``t`` at frame f, or None if ``t`` is not a bitwise combination."""
    if z3.is_select(t) and z3.is_var(t.arg(1)) and z3.get_var_index(t.arg(1)) == 0:
        return bb(t.arg(0))
    if not _has_var(t):
        return z3.If(bb(t), z3.BitVecVal((1 << size) - 1, size), z3.BitVecVal(0, size))
    connective = z3.is_and(t) or z3.is_or(t) or z3.is_not(t) or z3.is_implies(t)
    if not (connective or (z3.is_eq(t) and z3.is_bool(t.arg(0)))):
        return None
    kids = [_bitwise(bb, c, size) for c in t.children()]
    if any(k is None for k in kids):
        return None
    if z3.is_and(t):
        return functools.reduce(lambda x, y: x & y, kids)
    if z3.is_or(t):
        return functools.reduce(lambda x, y: x | y, kids)
    if z3.is_not(t):
        return ~kids[0]
    if z3.is_implies(t):
        return ~kids[0] | kids[1]
    return ~(kids[0] ^ kids[1])  # Boolean equality


def _has_var(t: Any) -> bool:
    """``t`` mentions a bound variable."""
    if z3.is_var(t):
        return True
    return z3.is_app(t) and any(_has_var(c) for c in t.children())
