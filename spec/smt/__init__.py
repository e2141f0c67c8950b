"""Z3: a symbolic model of a Python model, bounded model checking and inductive proofs.

The explorer enumerates; this package reasons. An :class:`Encoding` restates one model as
formulas over Z3 terms -- for the buddy allocators, one frame set per container and order
-- so that a claim such as "at 1024 frames no reachable state loses a frame" can be
*proved* rather than sampled.

* :mod:`.solver` -- every query: a fresh Z3 context per check, a fixed seed, a resource
  limit and a timeout (the only caller of ``Solver.check``);
* :mod:`.terms` -- frame sets, per-frame invariants (:class:`Forall`), step parameters;
* :mod:`.encoding` -- :class:`Encoding`, the symbolic twin of a model;
* :mod:`.bitblast` -- frame arrays as bit-vectors, the reading BMC solves;
* :mod:`.bmc` -- bounded model checking, traces that replay;
* :mod:`.induction` -- k-induction, counterexamples to induction;
* :mod:`.conformance` -- the twin agrees with the model, state by state;
* :mod:`.registry` -- every encoding in ``hintspec.properties.proofs``.

Verdicts are three-valued: proven, refuted (with a trace), unknown (a solver limit, a
bound reached, or a CTI with no real counterexample within the bound).
"""

from hintspec.smt.bitblast import Bitblast
from hintspec.smt.bmc import bmc, holds, violations
from hintspec.smt.conformance import conformance_errors, invariant_properties, reachable_states
from hintspec.smt.encoding import Encoding, Transition
from hintspec.smt.induction import index_terms, prove
from hintspec.smt.registry import encoding_for, encodings
from hintspec.smt.results import Cti, ProofResult, ProofVerdict
from hintspec.smt.solver import Budget, Query, fresh_context
from hintspec.smt.terms import (
    EncodingError,
    Forall,
    Params,
    Pred,
    Value,
    Vars,
    complement,
    frames_sort,
    index_sort,
    instances,
    join,
    meet,
    minus,
    parts,
    violated,
)

__all__ = [
    "Bitblast",
    "Budget",
    "Cti",
    "Encoding",
    "EncodingError",
    "Forall",
    "Params",
    "Pred",
    "ProofResult",
    "ProofVerdict",
    "Query",
    "Transition",
    "Value",
    "Vars",
    "bmc",
    "complement",
    "conformance_errors",
    "encoding_for",
    "encodings",
    "frames_sort",
    "fresh_context",
    "holds",
    "index_sort",
    "index_terms",
    "instances",
    "invariant_properties",
    "join",
    "meet",
    "minus",
    "parts",
    "prove",
    "reachable_states",
    "violated",
    "violations",
]
