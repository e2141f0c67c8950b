"""What a proof or a bounded search answers: a verdict, and a trace or a CTI to read."""

from __future__ import annotations

import dataclasses
import enum
from typing import TYPE_CHECKING, Any

from hintspec.lang.model import Model
from hintspec.smt.solver import Query
from hintspec.traces.trace import Trace
from hintspec.traces.values import state_lines

if TYPE_CHECKING:
    from hintspec.smt.vacuity import PremiseCheck


class ProofVerdict(enum.Enum):
    PROVEN = "proven"
    REFUTED = "refuted"
    UNKNOWN = "unknown"


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
    counters: list[list[str]] = dataclasses.field(default_factory=list)
    """Per state (the pre-states, then the post-state): the encoding's own variables --
    counters such as ``nfree`` -- whose value differs from what the decoded State gives.
    A decoded State cannot show them, yet a CTI often lies exactly there."""

    def render(self, model: Model[Any, Any]) -> str:
        """The CTI as text: each state's variables and frame map, and what breaks."""
        lines = [
            f"Counterexample to induction: {self.broken!r} is not preserved by {self.action}.",
            ("The states before satisfy" if len(self.pre) > 1 else "The state before satisfies")
            + " every conjunct of the inductive invariant, but need not be reachable.",
        ]
        for i, s in enumerate(self.pre):
            lines.append(f"  pre-state {i}:")
            lines.extend(state_lines(model, s))
            lines.extend(self._counter_lines(i))
        label = self.action
        if self.args is not None:
            label += "(" + ", ".join(f"{k}={v!r}" for k, v in self.args.items()) + ")"
        lines.append(f"  after {label}:")
        lines.extend(state_lines(model, self.post))
        lines.extend(self._counter_lines(len(self.pre)))
        why = _explain(model, self.broken, self.post)
        if why:
            lines.append(f"  {why}")
        elif any(self.counters):
            lines.append(
                f"  {self.broken!r} breaks in the encoding's counters above: the decoded "
                "state alone does not show it"
            )
        return "\n".join(lines) + "\n"

    def _counter_lines(self, i: int) -> list[str]:
        if i >= len(self.counters) or not self.counters[i]:
            return []
        return ["    counters that disagree with the state above:"] + [
            f"      {c}" for c in self.counters[i]
        ]


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
    premises: list[PremiseCheck] = dataclasses.field(default_factory=list)
    """For a proof: whether each proven property's premise is reachable (the encoding's
    :meth:`~hintspec.smt.Encoding.premises`); empty when none has one."""

    @property
    def vacuous(self) -> list[str]:
        """Proven properties whose premise no state within the bound satisfies."""
        return [p.prop for p in self.premises if not p.reached]

    @property
    def method(self) -> str:
        """``k-induction`` or ``BMC (depth d)``."""
        return f"{self.k}-induction" if self.k else f"BMC (depth {self.depth})"

    def exit_code(self) -> int:
        """As ``hintspec check``: 0 proven, 1 refuted, 3 unknown -- or proven but vacuous?
        (a premise not reached: the proof may check nothing at this size)."""
        if self.verdict is ProofVerdict.PROVEN and self.vacuous:
            return 3
        return {ProofVerdict.PROVEN: 0, ProofVerdict.REFUTED: 1, ProofVerdict.UNKNOWN: 3}[
            self.verdict
        ]
