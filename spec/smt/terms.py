"""Terms: frame sets, per-frame invariants (:class:`Forall`), the fresh constants of a step.

Frame sets are arrays from a frame number (a bit-vector just wide enough) to Bool. A property
of every frame is a :class:`Forall`; negated (a goal) it becomes fresh witness indices, and
assumed (a hypothesis of the induction step) it is instantiated at the index terms of the
query. Set operations are ``z3.Map`` of a Boolean connective (:func:`meet`, :func:`join`,
:func:`minus`), which the bit-blaster reads as bitwise operations and which need no
quantifier.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Callable, Sequence
from typing import Any

import z3

Vars = dict[str, Any]
"""One state's variables: name -> Z3 term."""
Value = int | bool
"""A variable's concrete value: bit-vectors and integers as ``int``, booleans as ``bool``."""
Body = Callable[..., Any]
"""``(v, i_1, ..., i_n) -> z3.BoolRef``: a predicate of a state and n frame indices."""


@dataclasses.dataclass(frozen=True)
class Forall:
    """An invariant ``forall i_1..i_arity: body(v, i_1, ..., i_arity)`` over frame indices.

    Frame sets are arrays from an index bit-vector to Bool, so a property of every frame
    is a quantified formula. Negated (a goal), it becomes a fresh witness index; assumed
    (a hypothesis of the induction step), it is *instantiated* at the index terms of the
    query -- a weaker hypothesis, hence sound -- which keeps a proof's size nearly
    independent of the number of frames. ``arity`` 0 is a quantifier-free predicate."""

    arity: int
    body: Body

    def violated(self, v: Vars, index: Any, tag: str) -> tuple[Any, list[Any]]:
        """``not body`` at fresh witness indices named by ``tag``: (formula, witnesses)."""
        wit = [z3.Const(f"{tag}.w{i}", index) for i in range(self.arity)]
        return z3.Not(self.body(v, *wit)), wit

    def instances(self, v: Vars, terms: Sequence[Any]) -> list[Any]:
        """``body`` at every tuple of ``terms``."""
        return [self.body(v, *t) for t in itertools.product(terms, repeat=self.arity)]


Pred = Forall | tuple[Forall, ...] | Callable[[Vars], Any]
"""A state property: a :class:`Forall`, a conjunction of them (a tuple; so that a part
over one frame is not repeated for every pair of frames), or a quantifier-free
``Vars -> z3.BoolRef``."""


@dataclasses.dataclass(frozen=True)
class Exists:
    """A situation ``exists i_1..i_arity: body(v, i_1, ..., i_arity)`` over frame indices
    ("some block is reported"): the premise of an invariant that is an implication (see
    :meth:`hintspec.smt.Encoding.premises`). Asked as fresh witness indices."""

    arity: int
    body: Body


Premise = Exists | Callable[[Vars], Any]
"""A premise: an :class:`Exists`, or a quantifier-free ``Vars -> z3.BoolRef``."""


def premise_holds(premise: Premise, v: Vars, index: Any, tag: str) -> Any:
    """The premise holds in ``v`` (an :class:`Exists` at fresh witness indices)."""
    if isinstance(premise, Exists):
        wit = [z3.Const(f"{tag}.w{i}", index) for i in range(premise.arity)]
        return premise.body(v, *wit)
    return premise(v)


def never(premise: Premise) -> Pred:
    """The invariant "the premise never holds": a state that breaks it is a witness of the
    premise, which is how a bounded search looks for one."""
    if isinstance(premise, Exists):
        body = premise.body
        return Forall(premise.arity, lambda v, *i: z3.Not(body(v, *i)))
    return lambda v: z3.Not(premise(v))


def parts(pred: Pred) -> tuple[Forall, ...]:
    """A property as a conjunction of :class:`Forall` (a plain predicate has arity 0)."""
    if isinstance(pred, Forall):
        return (pred,)
    if isinstance(pred, tuple):
        return pred
    return (Forall(0, lambda v, _p=pred: _p(v)),)


def violated(pred: Pred, v: Vars, index: Any, tag: str) -> tuple[Any, list[Any]]:
    """``pred`` fails in ``v``: (formula, the witness indices of every part)."""
    forms, wits = [], []
    for i, part in enumerate(parts(pred)):
        form, wit = part.violated(v, index, f"{tag}.{i}")
        forms.append(form)
        wits.extend(wit)
    return z3.Or(forms), wits


def instances(pred: Pred, v: Vars, terms: Sequence[Any]) -> list[Any]:
    """``pred`` instantiated at every tuple of ``terms``."""
    return [inst for part in parts(pred) for inst in part.instances(v, terms)]


class EncodingError(Exception):
    """The encoding disagrees with the Python model (a bug in the encoding, not a verdict)."""


class Params:
    """Fresh constants for one step of one action: the choices the step makes.

    Their names carry the step's tag, so the same action unrolled at several depths gets
    distinct constants. They are free in the formula, hence read existentially.
    """

    def __init__(self, tag: str) -> None:
        self.tag = tag

    def bitvec(self, name: str, width: int) -> Any:
        return z3.BitVec(f"{self.tag}.{name}", width)

    def bool(self, name: str) -> Any:
        return z3.Bool(f"{self.tag}.{name}")

    def int(self, name: str) -> Any:
        return z3.Int(f"{self.tag}.{name}")


def index_sort(frames: int) -> Any:
    """The sort of a frame number: a bit-vector just wide enough for ``frames``."""
    return z3.BitVecSort(max(1, (frames - 1).bit_length()))


def frames_sort(frames: int) -> Any:
    """The sort of a set of frames: an array from frame number to Bool (a bit-vector of
    ``frames`` bits, read one frame at a time); ``frames`` must be a power of two."""
    if frames < 2 or frames & (frames - 1):
        raise EncodingError(f"a frame set needs a power-of-two size, not {frames}")
    return z3.ArraySort(index_sort(frames), z3.BoolSort())


def z3_value(value: Value, sort: Any) -> Any:
    """A concrete value as a Z3 value of ``sort`` (a frame set from an int's bits)."""
    if sort == z3.BoolSort():
        return z3.BoolVal(bool(value))
    if z3.is_bv_sort(sort):
        width = sort.size()
        if not 0 <= int(value) < (1 << width):
            raise EncodingError(f"value {value} does not fit {width} bits")
        return z3.BitVecVal(int(value), width)
    if sort == z3.IntSort():
        return z3.IntVal(int(value))
    if isinstance(sort, z3.ArraySortRef) and sort.range() == z3.BoolSort():
        # A frame set: the int's bit f is frame f.
        size = 1 << sort.domain().size()
        if not 0 <= int(value) < (1 << size):
            raise EncodingError(f"frame set {value:#x} has frames beyond {size}")
        out = z3.K(sort.domain(), z3.BoolVal(False))
        bit, rest = 0, int(value)
        while rest:
            if rest & 1:
                out = z3.Store(out, z3.BitVecVal(bit, sort.domain().size()), True)
            rest >>= 1
            bit += 1
        return out
    raise EncodingError(f"unsupported sort {sort}")


def read_value(zmodel: Any, term: Any) -> Value:
    """A variable's value in a Z3 model (a frame set read frame by frame into an int)."""
    sort = term.sort()
    if isinstance(sort, z3.ArraySortRef):
        width = sort.domain().size()
        out = 0
        for f in range(1 << width):
            cell = zmodel.eval(z3.Select(term, z3.BitVecVal(f, width)), model_completion=True)
            if z3.is_true(cell):
                out |= 1 << f
        return out
    value = zmodel.eval(term, model_completion=True)
    if z3.is_true(value):
        return True
    if z3.is_false(value):
        return False
    if z3.is_bv_value(value) or z3.is_int_value(value):
        return int(value.as_long())
    raise EncodingError(f"cannot read a concrete value from {value}")


_connectives_of: tuple[Any, tuple[Any, Any, Any]] | None = None
"""The context the connectives were made in, and the declarations of and, or, not."""


def _connectives() -> tuple[Any, Any, Any]:
    """The declarations of and, or, not in the current context (for ``z3.Map``)."""
    global _connectives_of
    ctx = z3.main_ctx()
    if _connectives_of is None or _connectives_of[0] is not ctx:
        a, b = z3.Bool("_a"), z3.Bool("_b")
        _connectives_of = (ctx, (z3.And(a, b).decl(), z3.Or(a, b).decl(), z3.Not(a).decl()))
    return _connectives_of[1]


def meet(*sets: Any) -> Any:
    """Intersection of frame sets."""
    conj = _connectives()[0]
    return functools.reduce(lambda a, b: z3.Map(conj, a, b), sets)


def join(*sets: Any) -> Any:
    """Union of frame sets."""
    disj = _connectives()[1]
    return functools.reduce(lambda a, b: z3.Map(disj, a, b), sets)


def complement(a: Any) -> Any:
    """The frames not in ``a``."""
    return z3.Map(_connectives()[2], a)


def minus(a: Any, b: Any) -> Any:
    """``a - b``."""
    return meet(a, complement(b))
