"""The symbolic twin of a model: :class:`Encoding`.

An encoding (one per model, in ``properties/proofs/<model>.py``) provides:

* ``sorts()`` -- the state variables and their Z3 sorts;
* ``init(v)`` -- the initial-state predicate;
* ``transitions()`` -- action name -> relation ``(cur, nxt, params) -> BoolRef``; their
  disjunction is ``Next``. ``params`` makes the fresh, existentially read constants of one
  step (the block an action chooses, say);
* ``invariants()`` -- the model's ``@always`` properties, by name, as predicates;
* ``lemmas()`` -- strengthening invariants, for properties that are not inductive as stated;
* ``premises()`` -- for the invariants that are implications ("a reported block is free"),
  their premise ("some block is reported"): a proof of an implication whose premise no
  reachable state satisfies proves nothing, so :func:`hintspec.smt.prove` looks for a state
  that satisfies it (:mod:`hintspec.smt.vacuity`);
* ``encode(state)`` / ``decode(values)`` -- a concrete State to plain ints/bools per variable
  and back.

An encoding is rebuilt from its model inside each check's own Z3 context
(:func:`hintspec.smt.solver.isolated`), so it must be a function of its class and its
model: ``__init__`` takes the model only, and no Z3 term is made at import time.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Generic, TypeVar

import z3
from hintspec.lang.errors import UsageError
from hintspec.lang.model import Model
from hintspec.smt.terms import (
    EncodingError,
    Params,
    Pred,
    Premise,
    Value,
    Vars,
    read_value,
    z3_value,
)

StateT = TypeVar("StateT")

Transition = Callable[[Vars, Vars, Params], Any]
"""An action's relation: ``(cur, nxt, params) -> z3.BoolRef``."""


class Encoding(ABC, Generic[StateT]):
    """The symbolic model of one Python model at one configuration."""

    model_name: ClassVar[str]
    """The registry name of the model this encodes."""
    variants: ClassVar[tuple[str, ...]]
    """The model's variants whose relations this encoding states exactly (the conformance
    test checks each). Explicit, so that a variant added to the model later is refused by
    ``prove`` until the encoding learns it, instead of being proven as another design."""
    variants_not_encoded: ClassVar[Mapping[str, str]] = {}
    """The model's other variants, each with why the encoding leaves it out (say, it breaks
    only a property the encoding does not state). ``prove`` refuses them, and the test suite
    asks every variant of the model to be in exactly one of the two lists."""
    properties_not_encoded: ClassVar[Mapping[str, str]] = {}
    """The model's ``@always`` properties this encoding does not state, each with why; the
    explorer checks them. The test suite asks every other ``@always`` property to be
    encoded, so a property added to the model is not silently left out of proofs."""
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
    conformance_states: ClassVar[int] = 200
    """States the default test suite checks per configuration of ``conformance_configs``
    (a deterministic sample: random walks as long as the state graph is deep, and the last
    levels of a breadth-first search); the slow test and ``tests/benchmarks/
    deep_conformance.py`` check 1,000."""
    premise_depth: ClassVar[int | None] = None
    """How many steps from Init the search for a state satisfying each premise goes (None:
    ``bmc_depth``)."""
    require_twins: ClassVar[bool] = False
    """True: ``hintspec prove --all`` fails a proven entry of this model unless, for every
    property it proves, another variant at the same configuration is refuted on that
    property in the same run (its *twin*: the property is falsifiable there, so the proof
    is not vacuous). Encodings opt in one at a time, as their manifests gain the twins;
    without it a missing twin is still shown (``vacuous?``) but does not fail the run."""

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

    def premises(self) -> dict[str, Premise]:
        """Property name -> its premise, for the invariants that are implications or are
        about a situation (the model's ``trigger``; the conformance test checks that the two
        agree state by state). Default: none."""
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
        return {k: z3_value(v, sorts[k]) for k, v in self.encode(state).items()}

    def equals(self, v: Vars, state: StateT) -> Any:
        """The predicate "the variables ``v`` hold ``state``"."""
        vals = self.values(state)
        missing = set(v) - set(vals)
        if missing:
            raise EncodingError(f"encode() gave no value for {sorted(missing)[0]!r}")
        return z3.And([v[k] == vals[k] for k in v])

    def state_of(self, zmodel: Any, v: Vars) -> StateT:
        """The concrete State that a Z3 model assigns to ``v``."""
        return self.decode({k: read_value(zmodel, t) for k, t in v.items()})

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
