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
* :mod:`.vacuity` -- the premise of a proven implication is reachable;
* :mod:`.conformance` -- the twin agrees with the model, state by state, many states per
  context; :mod:`.sampling` -- which states: deep random walks and the last BFS levels;
* :mod:`.registry` -- every encoding in ``hintspec.properties.proofs``.

Verdicts are three-valued: proven, refuted (with a trace), unknown (a solver limit, a
bound reached, or a CTI with no real counterexample within the bound).
"""

from hintspec.smt.bitblast import Bitblast
from hintspec.smt.bmc import bmc, holds, violations
from hintspec.smt.conformance import (
    Conformance,
    ConformanceRun,
    Coverage,
    Divergence,
    check_states,
    conformance_errors,
    invariant_properties,
    reachable_states,
)
from hintspec.smt.encoding import Encoding, Transition
from hintspec.smt.induction import counter_disagreements, index_terms, prove
from hintspec.smt.registry import encoding_for, encodings
from hintspec.smt.results import Cti, ProofResult, ProofVerdict
from hintspec.smt.sampling import Sample, sample_states
from hintspec.smt.solver import Budget, Query, fresh_context
from hintspec.smt.terms import (
    EncodingError,
    Exists,
    Forall,
    Params,
    Pred,
    Premise,
    Value,
    Vars,
    complement,
    frames_sort,
    index_sort,
    instances,
    join,
    meet,
    minus,
    never,
    parts,
    premise_holds,
    violated,
)
from hintspec.smt.vacuity import PremiseCheck, premise_checks

__all__ = [
    "Bitblast",
    "Budget",
    "Conformance",
    "ConformanceRun",
    "Coverage",
    "Cti",
    "Divergence",
    "Encoding",
    "EncodingError",
    "Exists",
    "Forall",
    "Params",
    "Pred",
    "Premise",
    "PremiseCheck",
    "ProofResult",
    "ProofVerdict",
    "Query",
    "Sample",
    "Transition",
    "Value",
    "Vars",
    "bmc",
    "check_states",
    "complement",
    "conformance_errors",
    "counter_disagreements",
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
    "never",
    "parts",
    "premise_checks",
    "premise_holds",
    "prove",
    "reachable_states",
    "sample_states",
    "violated",
    "violations",
]
