"""The spec language: a model is one class with a Config, a State, actions and properties.

A model reads top to bottom as the specification of one design::

    @dataclass(frozen=True)
    class Config:
        frames: int = 8
        variant: str = "upstream"

    @dataclass(frozen=True)
    class State:
        free: frozenset[int]
        ...

    class Buddy(Model[Config, State]):
        name = "buddy"
        variants = {"upstream": "what the kernel does", "leaky": "what went wrong ..."}

        def initial_states(self): yield State(...)

        @action("mm/page_alloc.c: __rmqueue_smallest")
        def alloc(self, s):
            for order in ...:            # the nondeterministic choices, enumerated
                if guard:
                    yield {"order": order}, effect(s, order)

        @always("no page is lost")
        def no_lost_page(self, s):
            return True or "frame 3 is in no container"

        @sometimes("a block gets reported")
        def reported(self, s): return bool(s.reported)

An action is a generator: for every enabled choice it yields ``(args, next_state)``. ``args``
names the choice (it appears in traces and is how a trace is replayed); a disabled action
yields nothing. That one shape serves the explorer (enumerate all), Hypothesis (draw one of
the enabled) and replay (find the one with these args).

Properties come in three kinds: ``always`` (an invariant; returns ``True`` or a string that
explains which frame, flag or block breaks it), ``sometimes`` (a witness that must be
reachable, so the other properties cannot pass vacuously) and the liveness kinds
(``eventually``, ``leads_to``, ``always_eventually``, ``progress``) checked under the weak or
strong fairness of named actions.

Semantics of behaviours: a behaviour is a maximal sequence of action steps. A state in which
no action is enabled ends the behaviour (it stutters for ever): it is a deadlock unless the
model declares it terminal (``is_terminal``). There is no stuttering elsewhere, so an action
that is the only one enabled will be taken; fairness is needed only to rule out cycles in
which an enabled action is neglected for ever.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import typing
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, Generic, TypeVar

from hintspec.lang.errors import ModelDefinitionError

Args = dict[str, Any]
"""The arguments of one action step: names to ITF-encodable values."""

Check = bool | str
"""What an ``always`` property returns: ``True`` (holds), or a string that explains the
violation (``False`` is accepted too, with a generic explanation)."""

ConfigT = TypeVar("ConfigT")
StateT = TypeVar("StateT", bound=Hashable)

_SPEC_ATTR = "__hintspec_spec__"


class Fairness(enum.Enum):
    """Fairness of an action: how often a fair behaviour must take it."""

    NONE = "none"
    WEAK = "weak"
    """Taken infinitely often unless it is disabled infinitely often (WF in TLA+)."""
    STRONG = "strong"
    """Taken infinitely often unless it is eventually disabled for ever (SF in TLA+)."""

    @classmethod
    def parse(cls, value: str | Fairness) -> Fairness:
        if isinstance(value, Fairness):
            return value
        try:
            return cls(value)
        except ValueError:
            raise ModelDefinitionError(
                f"fairness must be one of none, weak, strong, not {value!r}"
            ) from None


@dataclasses.dataclass(frozen=True)
class Message:
    """One arrow of a trace's sequence diagram, from lane ``src`` to lane ``dst`` (equal for
    an event local to one lane). ``kind`` styles it: add, pop, ack, get_buf, config, notify,
    fault or local."""

    src: str
    dst: str
    label: str
    kind: str = "local"


class PropertyKind(enum.Enum):
    ALWAYS = "always"
    SOMETIMES = "sometimes"
    LIVENESS = "liveness"
    DEADLOCK = "deadlock"


class LivenessMode(enum.Enum):
    EVENTUALLY = "eventually"
    """From every initial state, every fair behaviour reaches a state where Q holds."""
    LEADS_TO = "leads_to"
    """Whenever P holds, every fair continuation reaches a state where Q holds."""
    ALWAYS_EVENTUALLY = "always_eventually"
    """Q holds infinitely often on every fair behaviour (leads_to(True, Q))."""
    PROGRESS = "progress"
    """No fair cycle in the region stays there without an advancing step (non-progress)."""


@dataclasses.dataclass(frozen=True)
class ActionSpec:
    """A named action of a model."""

    name: str
    cites: str
    """The kernel or QEMU function it stands for (``path: function``)."""
    doc: str
    fairness: Fairness
    method: str


@dataclasses.dataclass(frozen=True)
class PropertySpec:
    """A named property: a sentence, its kind, and the method that evaluates it."""

    name: str
    kind: PropertyKind
    doc: str
    method: str
    mode: LivenessMode | None = None
    when: Callable[[Any, Any], bool] | None = None
    """leads_to: the P predicate; progress: the region in which progress is required."""
    fairness: Mapping[str, Fairness] | None = None
    """Per-property fairness (action name -> fairness); None means the actions' own."""
    trigger: str | Callable[[Any, Any], bool] | None = None
    """always: the premise, when the invariant is about a situation (an OOM kill, a fault,
    a reported page): the name of a ``sometimes`` property, or ``(model, state) -> bool``.
    If no reachable state satisfies it, the invariant says nothing at that configuration
    and its verdict is *vacuous*, not *holds*."""
    unconditional: bool = False
    """always: declared to be about every state (no premise): the author has said so, as
    opposed to having forgotten the trigger (``tests/test_vacuity_declared.py``)."""


def _doc(fn: Callable[..., Any]) -> str:
    return inspect.cleandoc(fn.__doc__ or "")


def action(
    cites: str, *, fair: str | Fairness = Fairness.NONE, name: str | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare an action. ``cites`` names the kernel or QEMU function it stands for."""

    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        spec = ActionSpec(
            name=name or fn.__name__,
            cites=cites,
            doc=_doc(fn),
            fairness=Fairness.parse(fair),
            method=fn.__name__,
        )
        setattr(fn, _SPEC_ATTR, spec)
        return fn

    return mark


def _property(
    name: str,
    kind: PropertyKind,
    mode: LivenessMode | None = None,
    when: Callable[[Any, Any], bool] | None = None,
    fairness: Mapping[str, str | Fairness] | None = None,
    trigger: str | Callable[[Any, Any], bool] | None = None,
    unconditional: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    if unconditional and trigger is not None:
        raise ModelDefinitionError(f"{name!r}: an unconditional property has no trigger")

    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        fair = None
        if fairness is not None:
            fair = {a: Fairness.parse(f) for a, f in fairness.items()}
        spec = PropertySpec(
            name=name,
            kind=kind,
            doc=_doc(fn),
            method=fn.__name__,
            mode=mode,
            when=when,
            fairness=fair,
            trigger=trigger,
            unconditional=unconditional,
        )
        setattr(fn, _SPEC_ATTR, spec)
        return fn

    return mark


def always(
    name: str,
    *,
    trigger: str | Callable[[Any, Any], bool] | None = None,
    unconditional: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """An invariant. The method returns True, or a string explaining the violation.

    ``trigger`` is its premise, for an invariant about a situation ("no OOM kill while the
    balloon holds pages" is about OOM kills): the name of a ``@sometimes`` property of the
    model, or ``(model, state) -> bool``. A configuration in which it never happens gives
    the verdict *vacuous* instead of *holds*: nothing was checked there.
    ``unconditional=True`` says instead that it is about every state ("no page is lost"):
    every ``always`` declares one or the other."""
    return _property(name, PropertyKind.ALWAYS, trigger=trigger, unconditional=unconditional)


def sometimes(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A witness: some reachable state must satisfy the method (returns bool)."""
    return _property(name, PropertyKind.SOMETIMES)


def eventually(
    name: str, *, fairness: Mapping[str, str | Fairness] | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Every fair behaviour from an initial state reaches a state satisfying the method."""
    return _property(name, PropertyKind.LIVENESS, LivenessMode.EVENTUALLY, None, fairness)


def leads_to(
    name: str,
    *,
    when: Callable[[Any, Any], bool],
    fairness: Mapping[str, str | Fairness] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``when(self, s)`` leads to the method: after a state where P holds, Q eventually holds."""
    return _property(name, PropertyKind.LIVENESS, LivenessMode.LEADS_TO, when, fairness)


def always_eventually(
    name: str, *, fairness: Mapping[str, str | Fairness] | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The method holds infinitely often on every fair behaviour."""
    return _property(name, PropertyKind.LIVENESS, LivenessMode.ALWAYS_EVENTUALLY, None, fairness)


def progress(
    name: str,
    *,
    region: Callable[[Any, Any], bool] | None = None,
    fairness: Mapping[str, str | Fairness] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A progress measure. The method ``(self, s, t) -> bool`` says whether the step s -> t
    advances it. Violated by a fair cycle inside ``region(self, s)`` (default: everywhere)
    none of whose steps advances (a non-progress cycle, as in Spin)."""
    return _property(name, PropertyKind.LIVENESS, LivenessMode.PROGRESS, region, fairness)


class Model(Generic[ConfigT, StateT]):
    """Base class of every model. Subclasses set the class attributes and define
    ``initial_states``, the actions and the properties."""

    name: ClassVar[str]
    """The registry name (``hintspec check NAME``)."""
    Config: ClassVar[type[Any]]
    """A frozen dataclass of parameters with small defaults; it has a ``variant`` field.
    Taken from the first type argument of ``Model[Config, State]``."""
    State: ClassVar[type[Any]]
    """A frozen, hashable dataclass holding the real containers (the second argument)."""
    variants: ClassVar[Mapping[str, str]] = {"upstream": "the upstream design"}
    """Variant name -> what it is (for bad variants: what went wrong and where)."""
    reference_config: ClassVar[Mapping[str, Any]] = {}
    """A documented larger configuration (overrides of Config's defaults)."""
    hypothesis_config: ClassVar[Mapping[str, Any]] = {}
    """Overrides for Hypothesis stateful runs: sizes far beyond exhaustive reach."""
    frame_legend: ClassVar[Mapping[str, str]] = {}
    """The characters of ``frame_map`` and what they mean."""
    check_deadlock: ClassVar[bool] = True
    designs: ClassVar[frozenset[str]] = frozenset()
    """Variants that are designs under comparison rather than known-bad variants: whether a
    property holds for them depends on the configuration, so their manifest entries may be
    violated or hold (the model's answer); the default variant still holds at its defaults."""
    symmetric: ClassVar[bool] = False
    """True when ``canonical`` maps each state to the representative of its symmetry class
    (interchangeable vCPUs, regions, ...); the explorer then stores representatives only."""
    vectorized: ClassVar[str | None] = None
    """``"module:factory"`` of an optional vectorised form (see ``hintspec.engine.vector``)."""
    lanes: ClassVar[tuple[str, ...]] = ()
    """Lanes of the sequence diagram in HTML traces; empty: ``guest``, one lane per virtqueue
    in the State, ``host`` (see :mod:`hintspec.outputs.sequence`)."""

    actions: ClassVar[tuple[ActionSpec, ...]] = ()
    properties: ClassVar[tuple[PropertySpec, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # ``class Buddy(Model[Config, State])`` names its Config and State classes.
        for base in getattr(cls, "__orig_bases__", ()):
            params = typing.get_args(base)
            origin = typing.get_origin(base)
            if isinstance(origin, type) and issubclass(origin, Model) and len(params) == 2:
                if isinstance(params[0], type) and "Config" not in vars(cls):
                    cls.Config = params[0]
                if isinstance(params[1], type) and "State" not in vars(cls):
                    cls.State = params[1]
        acts: dict[str, ActionSpec] = {a.method: a for a in cls.actions}
        props: dict[str, PropertySpec] = {p.method: p for p in cls.properties}
        for attr, value in vars(cls).items():
            spec = getattr(value, _SPEC_ATTR, None)
            if isinstance(spec, ActionSpec):
                acts[attr] = spec
            elif isinstance(spec, PropertySpec):
                props[attr] = spec
        cls.actions = tuple(acts.values())
        cls.properties = tuple(props.values())
        names = [a.name for a in cls.actions]
        if len(set(names)) != len(names):
            raise ModelDefinitionError(f"{cls.__name__}: two actions share a name")
        pnames = [p.name for p in cls.properties]
        if len(set(pnames)) != len(pnames):
            raise ModelDefinitionError(f"{cls.__name__}: two properties share a name")
        witnesses = {p.name for p in cls.properties if p.kind is PropertyKind.SOMETIMES}
        for p in cls.properties:
            if isinstance(p.trigger, str) and p.trigger not in witnesses:
                raise ModelDefinitionError(
                    f"{cls.__name__}: the trigger of {p.name!r} must name a @sometimes "
                    f"property; {p.trigger!r} is none"
                )

    def __init__(self, config: ConfigT) -> None:
        self.config = config
        self.variant: str = getattr(config, "variant", "upstream")
        self._action_fns: list[Callable[[StateT], Iterable[tuple[Args, StateT]]]] = [
            getattr(self, a.method) for a in self.actions
        ]

    # -- to be provided by the model ---------------------------------------------------

    def initial_states(self) -> Iterable[StateT]:
        raise NotImplementedError(f"{type(self).__name__} must define initial_states()")

    def is_terminal(self, s: StateT) -> bool:
        """True for a state where stopping is correct (not a deadlock)."""
        return False

    def frame_map(self, s: StateT) -> str | None:
        """One character per page frame (see ``frame_legend``), or None."""
        return None

    def canonical(self, s: StateT) -> StateT:
        """The representative of ``s`` under the model's symmetry (identity by default).

        Every property must give the same verdict on symmetric states, and the set of
        enabled actions (by name) must be the same, so verdicts and fairness are preserved.
        """
        return s

    def view(self, s: StateT) -> dict[str, Any]:
        """The state's variables as shown in traces (default: the dataclass fields)."""
        return {f.name: getattr(s, f.name) for f in dataclasses.fields(s)}  # type: ignore[arg-type]

    def messages(
        self, action: str, args: Args, before: StateT, after: StateT
    ) -> Sequence[Message] | None:
        """The sequence-diagram arrows of one step; None (the default): derive them from the
        action's citation and the virtqueues' changes (:mod:`hintspec.outputs.sequence`)."""
        return None

    # -- used by the checkers -----------------------------------------------------------

    def successors(self, s: StateT) -> Iterator[tuple[int, Args, StateT]]:
        """Every enabled step from ``s``: (action index, args, next state), in a fixed order."""
        for index, fn in enumerate(self._action_fns):
            for args, t in fn(s):
                yield index, args, t

    def steps_of(self, action_name: str, s: StateT) -> list[tuple[Args, StateT]]:
        """The enabled choices of one action in ``s``."""
        return list(self._action_fns[self.action_index(action_name)](s))

    def action_index(self, action_name: str) -> int:
        for i, a in enumerate(self.actions):
            if a.name == action_name:
                return i
        raise KeyError(action_name)

    def property(self, name: str) -> PropertySpec:
        for p in self.properties:
            if p.name == name:
                return p
        raise KeyError(name)

    def evaluate_always(self, prop: PropertySpec, s: StateT) -> str | None:
        """None if the invariant holds in ``s``, else the explanation."""
        result = getattr(self, prop.method)(s)
        if result is True:
            return None
        if result is False or result is None:
            return f"{prop.name}: violated"
        return str(result)

    def fairness_of(self, prop: PropertySpec) -> dict[int, Fairness]:
        """Action index -> fairness under which ``prop`` is checked."""
        if prop.fairness is None:
            return {
                i: a.fairness for i, a in enumerate(self.actions) if a.fairness is not Fairness.NONE
            }
        out: dict[int, Fairness] = {}
        for name, fair in prop.fairness.items():
            try:
                out[self.action_index(name)] = fair
            except KeyError:
                raise ModelDefinitionError(
                    f"{self.name}: property {prop.name!r} names unknown action {name!r}"
                ) from None
        return out

    @classmethod
    def summary(cls) -> str:
        """The first line of the model's docstring."""
        doc = inspect.cleandoc(cls.__doc__ or "")
        return doc.splitlines()[0] if doc else cls.name

    @classmethod
    def properties_of(cls, kind: PropertyKind) -> list[PropertySpec]:
        return [p for p in cls.properties if p.kind is kind]
