"""Z3: a symbolic model of a Python model, bounded model checking and inductive proofs.

The explorer enumerates; this module reasons. An :class:`Encoding` restates one model as
formulas over Z3 terms -- for the buddy allocators, one bit-vector per container and order
with bit ``f`` standing for frame ``f`` -- so that a claim such as "at 1024 frames no
reachable state loses a frame" can be *proved* rather than sampled.

An encoding (one per model, in ``properties/proofs/<model>.py``) provides:

* ``sorts()`` -- the state variables and their Z3 sorts;
* ``init(v)`` -- the initial-state predicate;
* ``transitions()`` -- action name -> relation ``(cur, nxt, params) -> BoolRef``; their
  disjunction is ``Next``. ``params`` makes the fresh, existentially read constants of one
  step (the block an action chooses, say);
* ``invariants()`` -- the model's ``@always`` properties, by name, as predicates;
* ``lemmas()`` -- strengthening invariants, for properties that are not inductive as stated;
* ``encode(state)`` / ``decode(values)`` -- a concrete State to plain ints/bools per variable
  and back.

A proof says something about the Python model only because the two agree: the conformance
test (``tests/test_smt_conformance.py``, built on :func:`conformance_errors`) checks on random
reachable states that every action's symbolic relation, restricted to ``encode(s)``, admits
exactly ``encode`` of the concrete successors, and that the symbolic properties agree with
the Python ones; a loosened proof relation (:meth:`Encoding.proof_transitions`) must admit
every concrete successor.

Checks (Apalache's recipe for inductive invariants, TLA+ ``IndInv``):

* :func:`bmc` -- bounded model checking: ``Init /\\ Next^d /\\ ~Safety`` for d = 0, 1, ...
  (shortest first). A model is decoded, state by state, into concrete States; the path is
  labelled with the Python model's own actions (:func:`hintspec.trace.trace_from_path`), so
  the counterexample is an ordinary :class:`hintspec.trace.Trace` that replays.
* :func:`prove` -- k-induction of ``IndInv = properties /\\ lemmas``: the base case (no
  violation within k - 1 steps of Init, i.e. ``Init => IndInv`` for k = 1) and the step
  ``IndInv(s_0..s_{k-1}) /\\ Next^k => IndInv(s_k)``, asked per action and per conjunct so
  that a failure names both. ``IndInv => Safety`` holds by construction (the properties are
  conjuncts). A failed step yields a counterexample to induction (CTI), decoded into States
  and rendered with the model's view and frame map; a bounded search then tells whether
  the property is really broken (refuted, with a trace) or only not inductive (unknown).

Verdicts are three-valued: proven, refuted (with a trace), unknown (a solver timeout, a
bound reached, or a CTI with no real counterexample within the bound).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import itertools
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cache
from typing import Any, ClassVar, Generic, TypeVar

import z3
from hintspec.errors import UsageError
from hintspec.model import Model, PropertyKind
from hintspec.trace import Trace, trace_from_path

StateT = TypeVar("StateT")

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


Transition = Callable[[Vars, Vars, Params], Any]
"""An action's relation: ``(cur, nxt, params) -> z3.BoolRef``."""


class Encoding(ABC, Generic[StateT]):
    """The symbolic model of one Python model at one configuration."""

    model_name: ClassVar[str]
    """The registry name of the model this encodes."""
    bmc_depth: ClassVar[int] = 8
    """Default depth of the bounded search (enough for the known bad variants)."""
    proved_variants: ClassVar[tuple[str, ...]] = ("upstream",)
    """The good designs: a review report and the benchmark prove these; every other variant
    is a bad one, refuted by BMC."""
    proof_properties: ClassVar[tuple[str, ...] | None] = None
    """The properties :func:`prove` proves by default (None: every encoded one). An encoding
    whose proof relation leaves part of the state open (say what the host does to page
    content) names here those the induction can carry; BMC still searches all of them."""
    report_config: ClassVar[Mapping[str, Any]] = {}
    """Config overrides at which a review report proves the good designs."""
    report_bmc_config: ClassVar[Mapping[str, Any]] = {}
    """Config overrides at which a review report refutes the bad variants by BMC."""
    size_parameter: ClassVar[str] = "frames"
    """The config parameter that ``bench_prove.py`` scales."""
    bench_sizes: ClassVar[tuple[int, ...]] = (64, 128, 256, 512, 1024)
    """The sizes at which ``bench_prove.py`` proves the good designs."""
    bench_bmc_sizes: ClassVar[tuple[int, ...]] = (64,)
    """The sizes at which ``bench_prove.py`` refutes the bad variants by BMC."""
    bench_config: ClassVar[Mapping[str, Any]] = {}
    """Other config overrides for ``bench_prove.py`` (e.g. a second region)."""
    conformance_configs: ClassVar[Sequence[tuple[Mapping[str, Any], int]]] = (
        ({"frames": 8}, 20),
        ({"frames": 32}, 6),
    )
    """Config overrides at which the conformance test checks every variant, and how many
    random walks (Hypothesis examples) each gets."""
    bitblast_config: ClassVar[Mapping[str, Any]] = {"frames": 16}
    """Config overrides at which the conformance test checks the bit-vector reading."""

    def __init__(self, model: Model[Any, StateT]) -> None:
        self.model = model
        self.config = model.config

    # -- to be provided by each encoding -----------------------------------------------

    @abstractmethod
    def sorts(self) -> dict[str, Any]:
        """State variable name -> Z3 sort (``z3.BitVecSort(n)``, ``z3.BoolSort()``, ...)."""

    @abstractmethod
    def init(self, v: Vars) -> Any:
        """The initial-state predicate."""

    @abstractmethod
    def transitions(self) -> dict[str, Transition]:
        """Action name (as in the model) -> its transition relation."""

    def proof_transitions(self) -> dict[str, Transition]:
        """The relations the induction step uses; default :meth:`transitions`.

        An encoding may loosen an action here (drop a guard, let a counter take any value)
        when the exact relation would drag every frame into the step -- a count of free
        blocks, say. A looser relation proves *more* behaviour safe, so a proof with it is
        still a proof about the model; the conformance test checks that it admits every
        Python successor (BMC keeps the exact :meth:`transitions`, whose traces must replay)."""
        return self.transitions()

    @abstractmethod
    def invariants(self) -> dict[str, Pred]:
        """The model's ``@always`` property names -> their symbolic form."""

    def lemmas(self) -> dict[str, Pred]:
        """Strengthening invariants: name -> predicate (say in the name what they claim)."""
        return {}

    @abstractmethod
    def encode(self, state: StateT) -> dict[str, Value]:
        """A concrete State as one value per variable (raise ValueError if it has none)."""

    @abstractmethod
    def decode(self, values: Mapping[str, Value]) -> StateT:
        """Values per variable back to the concrete State."""

    # -- provided ----------------------------------------------------------------------

    def variables(self, tag: str) -> Vars:
        """Fresh Z3 constants for the state variables, named ``var@tag``."""
        return {name: z3.Const(f"{name}@{tag}", sort) for name, sort in self.sorts().items()}

    def assign(self, cur: Vars, nxt: Vars, updates: Mapping[str, Any]) -> Any:
        """``nxt`` equals ``updates`` where given and ``cur`` elsewhere (the frame condition)."""
        unknown = set(updates) - set(cur)
        if unknown:
            raise EncodingError(f"assign: no state variable {sorted(unknown)[0]!r}")
        return z3.And([nxt[k] == updates.get(k, cur[k]) for k in cur])

    def step(self, action: str, cur: Vars, nxt: Vars, tag: str, *, proof: bool = False) -> Any:
        """One step of ``action`` from ``cur`` to ``nxt`` (its choices tagged ``tag``);
        ``proof``: the relation of :meth:`proof_transitions`."""
        relations = self.proof_transitions() if proof else self.transitions()
        return relations[action](cur, nxt, Params(f"{action}@{tag}"))

    def next(self, cur: Vars, nxt: Vars, tag: str, *, proof: bool = False) -> Any:
        """``Next``: the disjunction of every action's step."""
        return z3.Or([self.step(a, cur, nxt, tag, proof=proof) for a in self.transitions()])

    def loosened(self) -> list[str]:
        """The actions whose proof relation is not the exact one."""
        exact, loose = self.transitions(), self.proof_transitions()
        return [a for a in exact if loose[a] is not exact[a]]

    def index(self) -> Any:
        """The frame-number sort (witnesses of a violated :class:`Forall` have it)."""
        for sort in self.sorts().values():
            if isinstance(sort, z3.ArraySortRef):
                return sort.domain()
        return z3.BitVecSort(1)

    def values(self, state: StateT) -> dict[str, Any]:
        """``encode(state)`` as Z3 values."""
        sorts = self.sorts()
        return {k: _z3_value(v, sorts[k]) for k, v in self.encode(state).items()}

    def equals(self, v: Vars, state: StateT) -> Any:
        """The predicate "the variables ``v`` hold ``state``"."""
        vals = self.values(state)
        missing = set(v) - set(vals)
        if missing:
            raise EncodingError(f"encode() gave no value for {sorted(missing)[0]!r}")
        return z3.And([v[k] == vals[k] for k in v])

    def state_of(self, zmodel: Any, v: Vars) -> StateT:
        """The concrete State that a Z3 model assigns to ``v``."""
        return self.decode({k: _read(zmodel, t) for k, t in v.items()})

    def conjuncts(
        self, properties: Sequence[str] | None = None, *, lemmas: bool = True
    ) -> dict[str, Pred]:
        """The named conjuncts of IndInv: the chosen properties, then the lemmas."""
        inv = self.invariants()
        names = list(inv) if properties is None else list(properties)
        for n in names:
            if n not in inv:
                raise UsageError(
                    f"{self.model_name}: no encoded property {n!r}; encoded: " + ", ".join(inv)
                )
        out = {n: inv[n] for n in names}
        if lemmas:
            out.update(self.lemmas())
        return out


def _z3_value(value: Value, sort: Any) -> Any:
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


def _read(zmodel: Any, term: Any) -> Value:
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


# -- frame arrays as bit-vectors ----------------------------------------------------------


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


# -- the registry of encodings ----------------------------------------------------------


@cache
def encodings() -> dict[str, type[Encoding[Any]]]:
    """Model name -> its Encoding class (every module of ``hintspec.properties.proofs``)."""
    from hintspec.registry import discover

    return discover("hintspec.properties.proofs", Encoding, "model_name")


def encoding_for(model: Model[Any, Any]) -> Encoding[Any]:
    """The encoding of ``model`` at its configuration, or a one-line UsageError."""
    found = encodings()
    if model.name not in found:
        raise UsageError(
            f"model {model.name!r} has no Z3 encoding; models with one: "
            + (", ".join(sorted(found)) or "none")
        )
    return found[model.name](model)


# -- results ----------------------------------------------------------------------------


class ProofVerdict(enum.Enum):
    PROVEN = "proven"
    REFUTED = "refuted"
    UNKNOWN = "unknown"


@dataclasses.dataclass
class Query:
    """One solver call: what it asked, its answer (sat/unsat/unknown) and its time."""

    name: str
    answer: str
    seconds: float


@dataclasses.dataclass
class Cti:
    """A counterexample to induction: states satisfying IndInv (``pre``), one ``action``
    step after them reaching ``post``, which breaks the conjunct ``broken``."""

    broken: str
    action: str
    pre: list[Any]
    post: Any
    args: dict[str, Any] | None
    """The model's own arguments for the step, when the Python model takes it too."""
    genuine: bool = True
    """False: the pre-states break IndInv at frames the step's instances did not cover
    (refinement was cut short); the step may still hold."""

    def render(self, model: Model[Any, Any]) -> str:
        """The CTI as text: each state's variables and frame map, and what breaks."""
        lines = [
            f"Counterexample to induction: {self.broken!r} is not preserved by {self.action}.",
            ("The states before satisfy" if len(self.pre) > 1 else "The state before satisfies")
            + " every conjunct of the inductive invariant, but need not be reachable.",
        ]
        for i, s in enumerate(self.pre):
            lines.append(f"  pre-state {i}:")
            lines.extend(_render_state(model, s))
        label = self.action
        if self.args is not None:
            label += "(" + ", ".join(f"{k}={v!r}" for k, v in self.args.items()) + ")"
        lines.append(f"  after {label}:")
        lines.extend(_render_state(model, self.post))
        why = _explain(model, self.broken, self.post)
        if why:
            lines.append(f"  {why}")
        return "\n".join(lines) + "\n"


def _render_state(model: Model[Any, Any], s: Any) -> list[str]:
    from hintspec.render.text import fmt

    out: list[str] = []
    try:
        view = model.view(s)
    except Exception as exc:  # a CTI state may break the model's assumptions
        return [f"    (cannot view the state: {exc})"]
    out.extend(f"    {k} = {fmt(v)}" for k, v in view.items())
    try:
        fmap = model.frame_map(s)
    except Exception:
        fmap = None
    if fmap is not None:
        out.append(f"    frames  {fmap}")
    return out


def _explain(model: Model[Any, Any], prop_name: str, s: Any) -> str | None:
    try:
        prop = model.property(prop_name)
    except KeyError:
        return None
    try:
        return model.evaluate_always(prop, s)
    except Exception as exc:
        return f"(the property cannot be evaluated on this state: {exc})"


@dataclasses.dataclass
class ProofResult:
    """The outcome of :func:`prove` or :func:`bmc`."""

    verdict: ProofVerdict
    model: str
    variant: str
    config: Any
    properties: list[str]
    lemmas: list[str]
    k: int
    reason: str
    """One line: why this verdict."""
    trace: Trace | None = None
    cti: Cti | None = None
    depth: int | None = None
    """BMC: the depth searched (or at which the violation was found)."""
    queries: list[Query] = dataclasses.field(default_factory=list)
    seconds: float = 0.0

    @property
    def method(self) -> str:
        """``k-induction`` or ``BMC (depth d)``."""
        return f"{self.k}-induction" if self.k else f"BMC (depth {self.depth})"

    def exit_code(self) -> int:
        """As ``hintspec check``: 0 proven, 1 refuted, 3 unknown."""
        return {ProofVerdict.PROVEN: 0, ProofVerdict.REFUTED: 1, ProofVerdict.UNKNOWN: 3}[
            self.verdict
        ]


# -- solving ----------------------------------------------------------------------------


class _Budget:
    """A deadline shared by the solver calls of one check."""

    def __init__(self, timeout: float | None) -> None:
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.queries: list[Query] = []

    def remaining_ms(self) -> int | None:
        if self.deadline is None:
            return None
        return max(1, int((self.deadline - time.monotonic()) * 1000))

    def expired(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def check(self, solver: Any, name: str, *assumptions: Any) -> Any:
        ms = self.remaining_ms()
        if ms is not None:
            solver.set("timeout", ms)
        start = time.monotonic()
        answer = solver.check(*assumptions)
        self.queries.append(Query(name, str(answer), time.monotonic() - start))
        return answer


def _solver() -> Any:
    return z3.Solver()


def _bv_solver(enc: Encoding[Any]) -> Any:
    # After bit-blasting the frame sets, a state of bit-vectors and Booleans goes to the
    # QF_BV solver (bit-blasting to SAT); anything with integers to the general one.
    for sort in enc.sorts().values():
        if not (isinstance(sort, z3.ArraySortRef) or z3.is_bv_sort(sort) or sort == z3.BoolSort()):
            return z3.Solver()
    return z3.SolverFor("QF_BV")


def _state_bv(enc: Encoding[StateT], zmodel: Any, v: Vars, bb: Bitblast) -> StateT:
    """The concrete State of ``v`` in a model of bit-blasted formulas."""
    values: dict[str, Value] = {}
    for k, t in v.items():
        vec = bb.vectors.get(t.decl().name()) if isinstance(t.sort(), z3.ArraySortRef) else None
        if isinstance(t.sort(), z3.ArraySortRef):
            values[k] = 0 if vec is None else int(zmodel.eval(vec, model_completion=True).as_long())
        else:
            values[k] = _read(zmodel, t)
    return enc.decode(values)


def _violation(enc: Encoding[Any], conj: Mapping[str, Pred], v: Vars, tag: str) -> Any:
    """Some conjunct is violated in ``v`` (each at its own fresh witness indices)."""
    index = enc.index()
    return z3.Or([violated(p, v, index, f"{tag}.{i}")[0] for i, p in enumerate(conj.values())])


def index_terms(formulas: Iterable[Any], index: Any) -> list[Any]:
    """The terms of sort ``index`` that are read or written as array indices in
    ``formulas``, in a fixed order (first seen first): where a hypothesis ``forall i``
    needs instantiating for the solver to see what the formulas touch."""
    seen: set[int] = set()
    found: dict[int, Any] = {}
    stack = list(formulas)[::-1]
    while stack:
        t = stack.pop()
        if t.get_id() in seen:
            continue
        seen.add(t.get_id())
        if z3.is_select(t) or z3.is_store(t):
            i = t.arg(1)
            if i.sort() == index:
                found.setdefault(i.get_id(), i)
        if z3.is_app(t):
            stack.extend(reversed(t.children()))
    return list(found.values())


def holds(enc: Encoding[StateT], pred: Pred, state: StateT) -> tuple[bool, list[int]]:
    """Whether ``pred`` holds in the concrete ``state``; if not, the witness frame numbers."""
    found = violations(enc, pred, state, limit=1)
    return not found, found


def violations(enc: Encoding[StateT], pred: Pred, state: StateT, *, limit: int = 64) -> list[int]:
    """Frame numbers at which ``pred`` fails in the concrete ``state`` (the witnesses of up
    to ``limit`` distinct violations; empty: it holds)."""
    v = enc.variables("h")
    # Bit-blasted: with every frame set a constant, the SAT solver only propagates.
    bb = Bitblast()
    solver = _bv_solver(enc)
    goal, wit = violated(pred, v, enc.index(), "h")
    solver.add(bb(enc.equals(v, state)), bb(goal))
    out: list[int] = []
    for _ in range(limit):
        answer = solver.check()
        if answer == z3.unsat:
            break
        if answer != z3.sat:
            raise EncodingError(f"cannot evaluate a property on a concrete state ({answer})")
        m = solver.model()
        values = [m.eval(w, model_completion=True) for w in wit]
        out.extend(int(x.as_long()) for x in values if int(x.as_long()) not in out)
        if not wit:
            break
        solver.add(z3.Or([w != x for w, x in zip(wit, values, strict=True)]))
    return out


def _property_names(enc: Encoding[Any], properties: Sequence[str] | None) -> list[str]:
    names = list(enc.invariants()) if properties is None else list(properties)
    enc.conjuncts(names, lemmas=False)  # validates the names
    return names


def _result(
    enc: Encoding[Any],
    verdict: ProofVerdict,
    props: list[str],
    lemmas: list[str],
    k: int,
    reason: str,
    budget: _Budget,
    start: float,
    **extra: Any,
) -> ProofResult:
    return ProofResult(
        verdict=verdict,
        model=enc.model.name,
        variant=enc.model.variant,
        config=enc.config,
        properties=props,
        lemmas=lemmas,
        k=k,
        reason=reason,
        queries=budget.queries,
        seconds=time.monotonic() - start,
        **extra,
    )


def bmc(
    enc: Encoding[Any],
    depth: int,
    *,
    properties: Sequence[str] | None = None,
    timeout: float | None = None,
) -> ProofResult:
    """Bounded model checking of the ``properties`` (default: every encoded one) for paths
    of 0..``depth`` steps from Init, shortest first. Refuted: ``trace`` is the decoded,
    labelled counterexample. Otherwise unknown: no violation within ``depth`` steps (or
    the solver ran out of time)."""
    start = time.monotonic()
    budget = _Budget(timeout)
    props = _property_names(enc, properties)
    preds = enc.conjuncts(props, lemmas=False)
    found = _bmc_search(enc, preds, depth, budget, label="bmc")
    if isinstance(found, _Violation):
        trace = _trace_of(enc, found.path, list(preds))
        return _result(
            enc,
            ProofVerdict.REFUTED,
            props,
            [],
            0,
            f"{trace.prop!r} is violated after {len(trace)} steps",
            budget,
            start,
            trace=trace,
            depth=found.depth,
        )
    reached, why = found
    return _result(enc, ProofVerdict.UNKNOWN, props, [], 0, why, budget, start, depth=reached)


@dataclasses.dataclass
class _Violation:
    depth: int
    path: list[Any]


def _bmc_search(
    enc: Encoding[Any],
    preds: Mapping[str, Pred],
    depth: int,
    budget: _Budget,
    *,
    label: str,
    bitblast: bool = True,
) -> _Violation | tuple[int, str]:
    """Shortest violation of the conjunction of ``preds`` within ``depth`` steps, or
    (depth reached, why no answer) when there is none or time ran out. ``bitblast=False``
    asks over frame arrays instead (cheaper for depth 0 at many frames)."""
    solver = _bv_solver(enc) if bitblast else _solver()
    bb: Any = Bitblast() if bitblast else (lambda e: e)
    path = [enc.variables("0")]
    solver.add(bb(enc.init(path[0])))
    for d in range(depth + 1):
        if budget.expired():
            return d - 1, f"timed out after searching {d - 1} steps deep"
        bad = bb(_violation(enc, preds, path[d], f"bad{d}"))
        answer = budget.check(solver, f"{label} depth {d}", bad)
        if answer == z3.sat:
            zmodel = solver.model()
            if isinstance(bb, Bitblast):
                return _Violation(d, [_state_bv(enc, zmodel, v, bb) for v in path])
            return _Violation(d, [enc.state_of(zmodel, v) for v in path])
        if answer != z3.unsat:
            return d - 1, f"the solver gave up at depth {d} ({solver.reason_unknown()})"
        if d < depth:
            path.append(enc.variables(str(d + 1)))
            solver.add(bb(enc.next(path[d], path[d + 1], str(d))))
    return depth, f"no violation within {depth} steps (a bounded result, not a proof)"


def _trace_of(enc: Encoding[Any], path: list[Any], names: Sequence[str]) -> Trace:
    """Label a decoded path with the Python model's actions; the violated property is the
    first of ``names`` that the Python model finds broken in the last state."""
    model = enc.model
    final = path[-1]
    for name in names:
        try:
            prop = model.property(name)
        except KeyError:
            continue  # a lemma, not a model property
        why = model.evaluate_always(prop, final)
        if why is not None:
            try:
                return trace_from_path(model, path, prop=name, explanation=why, source="prove")
            except ValueError as exc:
                raise EncodingError(
                    f"{model.name}: the symbolic path is not a path of the Python model ({exc})"
                ) from None
    lemma = next((n for n in names if n not in {p.name for p in model.properties}), None)
    if lemma is not None:
        raise EncodingError(
            f"{model.name}: a reachable state breaks the strengthening lemma {lemma!r} "
            "(the lemma is wrong, or the encoding disagrees with the model)"
        )
    raise EncodingError(
        f"{model.name}: the solver's violating state satisfies every property in the Python "
        "model (the encoding disagrees with the model; run the conformance test)"
    )


def prove(
    enc: Encoding[Any],
    *,
    properties: Sequence[str] | None = None,
    k: int = 1,
    lemmas: bool = True,
    timeout: float | None = None,
    bmc_depth: int | None = None,
    refine: int = 200,
) -> ProofResult:
    """Prove the ``properties`` (default: every encoded one) by k-induction of IndInv =
    properties /\\ lemmas (``lemmas=False``: the properties as stated).

    Proven when the base case (no violation of IndInv within k - 1 steps) and the step
    (k consecutive IndInv states and k steps => IndInv) both hold. A reachable violation in
    the base case refutes, with a trace. A failed step gives a CTI; a bounded search to
    ``bmc_depth`` (default: the encoding's) then looks for a real counterexample to the
    properties: refuted if found, unknown (with the CTI) if not."""
    if k < 1:
        raise UsageError(f"k must be at least 1, not {k}")
    start = time.monotonic()
    budget = _Budget(timeout)
    props = _property_names(enc, enc.proof_properties if properties is None else properties)
    conj = enc.conjuncts(props, lemmas=lemmas)
    lemma_names = [n for n in conj if n not in props]

    def done(verdict: ProofVerdict, reason: str, **extra: Any) -> ProofResult:
        return _result(enc, verdict, props, lemma_names, k, reason, budget, start, **extra)

    # Base case: every state within k - 1 steps of Init satisfies IndInv.
    base = _bmc_search(enc, conj, k - 1, budget, label="base", bitblast=k > 1)
    if isinstance(base, _Violation):
        trace = _trace_of(enc, base.path, list(conj))
        return done(
            ProofVerdict.REFUTED,
            f"{trace.prop!r} is violated after {len(trace)} steps",
            trace=trace,
            depth=base.depth,
        )
    if base[0] < k - 1:
        return done(ProofVerdict.UNKNOWN, f"base case: {base[1]}")

    # Step: per action and per conjunct, so a failure names both. A failed step first
    # asks for a real counterexample (bad designs are refuted with a trace at once); only
    # then is a CTI refined until it is genuine (or the step turns out to hold).
    depth = enc.bmc_depth if bmc_depth is None else bmc_depth
    searched: tuple[int, str] | None = None
    for action in enc.transitions():
        for name in conj:
            if budget.expired():
                return done(ProofVerdict.UNKNOWN, "timed out in the induction step")
            outcome = _step(enc, conj, k, action, name, budget, QUICK_REFINE)
            if outcome is None:
                continue
            if isinstance(outcome, str):
                return done(ProofVerdict.UNKNOWN, outcome)
            if searched is None:
                props_only = enc.conjuncts(props, lemmas=False)
                found = _bmc_search(enc, props_only, depth, budget, label="bmc")
                if isinstance(found, _Violation):
                    trace = _trace_of(enc, found.path, props)
                    return done(
                        ProofVerdict.REFUTED,
                        f"{trace.prop!r} is violated after {len(trace)} steps",
                        trace=trace,
                        depth=found.depth,
                    )
                searched = found
            if not outcome.genuine:
                outcome = _step(enc, conj, k, action, name, budget, refine)
                if outcome is None:
                    continue
                if isinstance(outcome, str):
                    return done(ProofVerdict.UNKNOWN, outcome)
            what = "" if outcome.genuine else " (refinement cut short: the CTI may be spurious)"
            return done(
                ProofVerdict.UNKNOWN,
                f"not {k}-inductive: {outcome.broken!r} is not preserved by "
                f"{outcome.action}{what}; {searched[1]}",
                cti=outcome,
                depth=searched[0],
            )
    how = "as stated" if not lemma_names else f"with {len(lemma_names)} strengthening lemma(s)"
    return done(
        ProofVerdict.PROVEN,
        f"{'1-inductive' if k == 1 else f'{k}-inductive'} {how}: Init => IndInv, "
        "IndInv /\\ Next => IndInv', IndInv => properties",
    )


QUICK_REFINE = 0
"""Refinement rounds of a failed step before the bounded search for a real violation."""


def _step(
    enc: Encoding[Any],
    conj: Mapping[str, Pred],
    k: int,
    action: str,
    name: str,
    budget: _Budget,
    refine: int,
) -> Cti | str | None:
    """Does ``action`` keep conjunct ``name``, from k states satisfying IndInv? None: yes;
    a Cti: no; a string: no answer (why).

    The hypotheses ``IndInv(s_i)`` are instantiated at the index terms of the transition
    and the goal. An answer that breaks a hypothesis outside those instances is spurious:
    the frames where it breaks join the instances and the query is asked again (up to
    ``refine`` times)."""
    index = enc.index()
    states = [enc.variables(f"s{i}") for i in range(k + 1)]
    trans = [enc.next(states[i], states[i + 1], f"s{i}", proof=True) for i in range(k - 1)]
    trans.append(enc.step(action, states[k - 1], states[k], f"s{k - 1}", proof=True))
    goal, _wit = violated(conj[name], states[k], index, "goal")
    terms = index_terms([*trans, goal], index)
    solver = _solver()
    solver.add(*trans, goal)
    for i in range(k):
        for pred in conj.values():
            solver.add(*instances(pred, states[i], terms))
    for _round in range(refine + 1):
        answer = budget.check(solver, f"step {action} keeps {name}")
        if answer == z3.unsat:
            return None
        if answer != z3.sat:
            return (
                f"the solver gave up on whether {action} keeps {name!r} ({solver.reason_unknown()})"
            )
        zmodel = solver.model()
        decoded = [enc.state_of(zmodel, v) for v in states]
        extra = _broken_hypotheses(enc, conj, decoded[:-1])
        if not extra:
            sparse = _sparse(enc, solver, states, terms, conj, budget)
            return _make_cti(enc, sparse or decoded, action, name)
        if _round == refine:
            cti = _make_cti(enc, decoded, action, name)
            cti.genuine = False
            return cti
        new = [z3.BitVecVal(f, index.size()) for f in extra]
        for i in range(k):
            for pred in conj.values():
                for f in parts(pred):
                    solver.add(*[f.body(states[i], *t) for t in _tuples_with(terms, new, f.arity)])
        terms = terms + new
    raise AssertionError("unreachable")  # the last round returns


def _sparse(
    enc: Encoding[Any],
    solver: Any,
    states: list[Vars],
    terms: list[Any],
    conj: Mapping[str, Pred],
    budget: _Budget,
) -> list[Any] | None:
    """A more readable CTI, if there is one: frame sets empty at every frame the query does
    not name (a solver fills the others arbitrarily). None if that is no CTI (e.g. an
    ownership invariant needs every frame covered) -- the caller keeps its own."""
    constraints = []
    for i, v in enumerate(states[:-1]):
        for name, term in v.items():
            sort = term.sort()
            if not isinstance(sort, z3.ArraySortRef):
                continue
            shape = z3.K(sort.domain(), z3.BoolVal(False))
            for j, t in enumerate(terms):
                shape = z3.Store(shape, t, z3.Bool(f"sparse.{i}.{name}.{j}"))
            constraints.append(term == shape)
    solver.push()
    try:
        solver.add(*constraints)
        if budget.check(solver, "sparse CTI") != z3.sat:
            return None
        zmodel = solver.model()
        decoded = [enc.state_of(zmodel, v) for v in states]
    finally:
        solver.pop()
    if _broken_hypotheses(enc, conj, decoded[:-1]):
        return None
    return decoded


def _tuples_with(old: list[Any], new: list[Any], arity: int) -> list[tuple[Any, ...]]:
    """Every tuple over old + new that uses at least one of ``new``."""
    every = old + new
    ids = {t.get_id() for t in new}
    return [t for t in itertools.product(every, repeat=arity) if any(x.get_id() in ids for x in t)]


def _broken_hypotheses(
    enc: Encoding[Any], conj: Mapping[str, Pred], states: Sequence[Any]
) -> list[int]:
    """Frame numbers at which some state of ``states`` breaks some conjunct."""
    out: list[int] = []
    for s in states:
        for pred in conj.values():
            out.extend(w for w in violations(enc, pred, s, limit=16) if w not in out)
    return out


def _make_cti(enc: Encoding[Any], decoded: list[Any], action: str, broken: str) -> Cti:
    pre, post = decoded[:-1], decoded[-1]
    args = None
    try:
        for a, t in enc.model.steps_of(action, pre[-1]):
            if t == post:
                args = a
                break
    except Exception:  # the Python model may refuse a state no run reaches
        args = None
    return Cti(broken=broken, action=action, pre=pre, post=post, args=args)


def report_proofs(model_name: str, timeout: float | None = None) -> list[ProofResult]:
    """What ``hintspec report`` shows for a model (its Z3 column): the non-slow entries of
    its proof manifest (``properties/proofs/manifest/``: proofs of the good designs, BMC
    refutations of the bad ones; ``liveness`` entries are the explorer's business). Without
    a manifest, the proof of each good design (``proved_variants``) at the encoding's
    ``report_config`` and a BMC search for every other variant at its
    ``report_bmc_config``. Empty for a model with no encoding."""
    from hintspec.configs import make_config
    from hintspec.proof_manifest import load_proof_manifest, run_proof_entry
    from hintspec.registry import get_model

    found = encodings()
    if model_name not in found:
        return []
    entries = [e for e in load_proof_manifest() if e.model == model_name and not e.slow]
    out: list[ProofResult] = []
    if entries:
        for entry in entries:
            result = run_proof_entry(entry, timeout=timeout)
            if result is not None:
                out.append(result)
    else:
        enc_cls = found[model_name]
        cls = get_model(model_name)
        for variant in cls.variants:
            if variant in enc_cls.proved_variants:
                model = cls(make_config(cls, variant, dict(enc_cls.report_config)))
                out.append(prove(enc_cls(model), timeout=timeout))
            else:
                model = cls(make_config(cls, variant, dict(enc_cls.report_bmc_config)))
                bad = enc_cls(model)
                out.append(bmc(bad, bad.bmc_depth, timeout=timeout))
    for result in out:
        if result.trace is not None and result.trace.prop is not None:
            # A refutation is about the property it breaks, not every one searched for.
            result.properties = [result.trace.prop]
    return out


# -- conformance ------------------------------------------------------------------------


def conformance_errors(
    enc: Encoding[StateT], state: StateT, *, bitblast: bool = False
) -> list[str]:
    """Where the encoding and the Python model disagree at ``state`` (empty: they agree).

    Checks that decode(encode(state)) == state; that each symbolic property holds on
    encode(state) iff the Python property does; and, per action, that the symbolic
    relation restricted to encode(state) admits encode(t) for every concrete successor t
    and nothing else (so it is enabled exactly when the Python action is). With
    ``bitblast``, the formulas are asked in their bit-vector reading (:class:`Bitblast`,
    what BMC solves; faster), else over arrays (what the induction step solves)."""
    errors: list[str] = []
    model = enc.model
    back = enc.decode(enc.encode(state))
    if back != state:
        errors.append(f"decode(encode(s)) differs from s: {back!r} != {state!r}")
    bb = Bitblast() if bitblast else None

    def conv(e: Any) -> Any:
        return bb(e) if bb is not None else e

    def new_solver() -> Any:
        return _bv_solver(enc) if bitblast else _solver()

    def read(solver: Any, v: Vars) -> StateT:
        if bb is not None:
            return _state_bv(enc, solver.model(), v, bb)
        return enc.state_of(solver.model(), v)

    cur = enc.variables("c")
    nxt = enc.variables("n")
    here = conv(enc.equals(cur, state))
    for name, pred in enc.invariants().items():
        solver = new_solver()
        goal, _wit = violated(pred, cur, enc.index(), "h")
        solver.add(here, conv(goal))
        sym = solver.check() == z3.unsat
        concrete = model.evaluate_always(model.property(name), state) is None
        if sym != concrete:
            errors.append(f"property {name!r}: symbolic {sym}, Python {concrete}")
    for name in enc.transitions():
        succ = {t for _a, t in model.steps_of(name, state)}
        solver = new_solver()
        solver.add(here, conv(enc.step(name, cur, nxt, "c")))
        for t in sorted(succ, key=repr):
            if solver.check(conv(enc.equals(nxt, t))) != z3.sat:
                errors.append(f"{name}: the relation does not admit the successor {t!r}")
        others = z3.And([z3.Not(conv(enc.equals(nxt, t))) for t in succ])
        if solver.check(others) == z3.sat:
            extra = read(solver, nxt)
            kind = "is disabled in Python but not" if not succ else "admits a successor"
            errors.append(f"{name}: {kind} symbolically: {extra!r}")
    for name in enc.loosened():
        solver = new_solver()
        solver.add(here, conv(enc.step(name, cur, nxt, "c", proof=True)))
        for t in sorted({t for _a, t in model.steps_of(name, state)}, key=repr):
            if solver.check(conv(enc.equals(nxt, t))) != z3.sat:
                errors.append(f"{name}: the proof relation does not admit the successor {t!r}")
    return errors


def reachable_states(
    model: Model[Any, StateT], choices: Iterable[int], *, start: int = 0
) -> list[StateT]:
    """A random walk from an initial state: at each step take successor ``c % n`` of the
    ``n`` enabled ones (stops early in a state with none). Returns every state visited."""
    inits = list(model.initial_states())
    state = inits[start % len(inits)]
    seen = [state]
    for c in choices:
        succ = [t for _i, _a, t in model.successors(state)]
        if not succ:
            break
        state = succ[c % len(succ)]
        seen.append(state)
    return seen


def invariant_properties(model: Model[Any, Any]) -> list[str]:
    """The model's ``@always`` property names, in declaration order."""
    return [p.name for p in model.properties_of(PropertyKind.ALWAYS)]
