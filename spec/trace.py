"""Traces: the steps of a counterexample or witness, ITF files, and replay.

A trace file is ITF JSON (``*.itf.json``): ``vars``, ``states`` and, for a lasso, ``loop``
(the index the last state loops back to). The top-level ``#meta`` carries the model, variant,
config, the property and its explanation; each state's ``#meta`` carries the action taken to
reach it and its arguments, which is what ``replay`` re-executes.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hintspec import itf
from hintspec.configs import config_overrides, make_config
from hintspec.errors import UsageError
from hintspec.model import Args, Model
from hintspec.registry import get_model

ITF_DESCRIPTION = "https://apalache-mc.org/docs/adr/015adr-trace.html"


@dataclasses.dataclass
class Step:
    """One step: the action that produced ``state`` (None for the initial state)."""

    action: str | None
    args: Args
    state: Any


@dataclasses.dataclass
class Trace:
    """A sequence of steps; with ``loop`` set, a lasso whose last state steps back to
    ``steps[loop]`` by ``loop_action``/``loop_args`` (``loop_action`` None: the system stops
    there, no action being enabled)."""

    model: str
    config: Any
    steps: list[Step]
    prop: str | None = None
    kind: str = "counterexample"
    explanation: str | None = None
    loop: int | None = None
    loop_action: str | None = None
    loop_args: Args = dataclasses.field(default_factory=dict)
    source: str = "explore"

    @property
    def variant(self) -> str:
        return str(getattr(self.config, "variant", "upstream"))

    def __len__(self) -> int:
        """The number of actions taken (the initial state is not a step)."""
        return len(self.steps) - 1 + (1 if self.loop is not None else 0)


def trace_from_path(
    model: Model[Any, Any],
    path: Sequence[Any],
    *,
    prop: str | None = None,
    kind: str = "counterexample",
    explanation: str | None = None,
    loop: int | None = None,
    source: str = "explore",
) -> Trace:
    """Label a path of states with the actions between them (first matching step wins, so
    the labelling is deterministic). With ``loop``, the last state must step to path[loop],
    or have no enabled action (then the lasso is a stop)."""
    steps = [Step(None, {}, path[0])]
    for before, after in itertools.pairwise(path):
        name, args = _label(model, before, after)
        steps.append(Step(name, args, after))
    trace = Trace(model.name, model.config, steps, prop, kind, explanation, loop, source=source)
    if loop is not None:
        last = path[-1]
        if any(True for _ in model.successors(last)):
            trace.loop_action, trace.loop_args = _label(model, last, path[loop])
    return trace


def _label(model: Model[Any, Any], before: Any, after: Any) -> tuple[str, Args]:
    for index, args, t in model.successors(before):
        if t == after:
            return model.actions[index].name, args
    raise ValueError("no action leads from one state of the path to the next")


# -- ITF files --------------------------------------------------------------------------


def to_itf(trace: Trace) -> dict[str, Any]:
    """The trace as an ITF JSON document."""
    states = []
    var_names: list[str] = []
    for i, step in enumerate(trace.steps):
        record = itf.encode(step.state)
        if not var_names:
            var_names = list(record)
        meta: dict[str, Any] = {"index": i}
        if step.action is not None:
            meta["action"] = step.action
            meta["args"] = {k: itf.encode(v) for k, v in step.args.items()}
        states.append({"#meta": meta, **record})
    meta_top: dict[str, Any] = {
        "format": "ITF",
        "format-description": ITF_DESCRIPTION,
        "source": f"hintspec {trace.source}",
        "model": trace.model,
        "variant": trace.variant,
        "config": config_overrides(trace.config),
        "property": trace.prop,
        "kind": trace.kind,
        "explanation": trace.explanation,
    }
    doc: dict[str, Any] = {"#meta": meta_top, "vars": var_names, "states": states}
    if trace.loop is not None:
        doc["loop"] = trace.loop
        meta_top["loop_action"] = trace.loop_action
        meta_top["loop_args"] = {k: itf.encode(v) for k, v in trace.loop_args.items()}
    return doc


def write_itf(trace: Trace, path: Path) -> None:
    """Write atomically: a reader never sees half a file."""
    write_text_atomic(path, json.dumps(to_itf(trace), indent=1) + "\n")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        # mkstemp creates 0600; give the file the mode an ordinary open() would (reports
        # and traces are read by CI artifact servers and colleagues).
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_itf(path: Path) -> Trace:
    """Read a trace file written by hintspec (UsageError with one line if it is not one)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"trace file {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read trace file {str(path)!r}: {exc}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}); is it an .itf.json trace?"
        ) from None
    return trace_from_itf(doc, str(path))


def trace_from_itf(doc: Any, where: str = "trace") -> Trace:
    if not isinstance(doc, dict) or not isinstance(doc.get("states"), list):
        raise UsageError(f"{where}: not an ITF trace (no 'states' list)")
    meta = doc.get("#meta")
    if not isinstance(meta, dict) or "model" not in meta:
        raise UsageError(
            f"{where}: ITF '#meta' lacks 'model'; only hintspec traces can be replayed"
        )
    if not doc["states"]:
        raise UsageError(f"{where}: the trace has no states")
    model_cls = get_model(str(meta["model"]))
    overrides = meta.get("config") or {}
    if not isinstance(overrides, dict):
        raise UsageError(f"{where}: '#meta.config' must be an object")
    overrides = {k: v for k, v in overrides.items() if k != "variant"}
    config = make_config(model_cls, str(meta.get("variant", "upstream")), overrides)
    steps: list[Step] = []
    for i, raw in enumerate(doc["states"]):
        try:
            state = itf.decode_state(raw, model_cls.State)
        except itf.DecodeError as exc:
            raise UsageError(
                f"{where}: state {i} does not fit model {model_cls.name}: {exc}"
            ) from None
        smeta = raw.get("#meta") or {} if isinstance(raw, dict) else {}
        if not isinstance(smeta, dict):
            raise UsageError(f"{where}: state {i}: '#meta' must be an object")
        action = smeta.get("action") if i > 0 else None
        if i > 0 and not isinstance(action, str):
            raise UsageError(f"{where}: state {i} has no '#meta.action'")
        args = _decode_args(smeta.get("args"), f"{where}: state {i}: '#meta.args'")
        steps.append(Step(action, args, state))
    loop = doc.get("loop")
    if loop is not None and (
        isinstance(loop, bool) or not isinstance(loop, int) or not 0 <= loop < len(steps)
    ):
        raise UsageError(f"{where}: 'loop' must be a state index, got {loop!r}")
    loop_args = _decode_args(meta.get("loop_args"), f"{where}: '#meta.loop_args'")
    loop_action = meta.get("loop_action")
    if loop_action is not None and not isinstance(loop_action, str):
        raise UsageError(f"{where}: '#meta.loop_action' must be an action name")
    for key in ("property", "explanation"):
        if meta.get(key) is not None and not isinstance(meta.get(key), str):
            raise UsageError(f"{where}: '#meta.{key}' must be a string")
    return Trace(
        model=model_cls.name,
        config=config,
        steps=steps,
        prop=meta.get("property"),
        kind=str(meta.get("kind", "counterexample")),
        explanation=meta.get("explanation"),
        loop=loop,
        loop_action=loop_action,
        loop_args=loop_args,
        source=str(meta.get("source", "explore")).removeprefix("hintspec "),
    )


def _decode_args(raw: Any, where: str) -> Args:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise UsageError(f"{where} must be an object")
    try:
        return {str(k): itf.decode(v, Any) for k, v in raw.items()}
    except itf.DecodeError as exc:
        raise UsageError(f"{where}: {exc}") from None


# -- replay -----------------------------------------------------------------------------


@dataclasses.dataclass
class ReplayResult:
    ok: bool
    message: str
    step: int | None = None
    """The index of the first step that is not enabled or whose result differs."""


def _same_args(a: Args, b: Args) -> bool:
    enc = {k: itf.encode(v) for k, v in a.items()}
    other = {k: itf.encode(v) for k, v in b.items()}
    return json.dumps(enc, sort_keys=True) == json.dumps(other, sort_keys=True)


def _fmt_args(args: Args) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in args.items())


def _state_diff(model: Model[Any, Any], expected: Any, got: Any) -> str:
    try:
        want, have = model.view(expected), model.view(got)
    except Exception:  # the model cannot show one of them: name no variable
        return "the state"
    diffs = [k for k in want if want.get(k) != have.get(k)]
    return ", ".join(diffs) or "the state"


def replay(trace: Trace, model: Model[Any, Any] | None = None) -> ReplayResult:
    """Re-execute ``trace`` against the current model; report the first divergence."""
    if model is None:
        model = get_model(trace.model)(trace.config)
    first = trace.steps[0].state
    if first not in set(model.initial_states()):
        return ReplayResult(False, "step 0: the first state is not an initial state", 0)
    for i in range(1, len(trace.steps) + (1 if trace.loop is not None else 0)):
        before = trace.steps[i - 1].state
        if i == len(trace.steps):  # the lasso's closing step
            assert trace.loop is not None
            target = trace.steps[trace.loop].state
            name, args = trace.loop_action, trace.loop_args
            if name is None:
                if any(True for _ in model.successors(before)):
                    return ReplayResult(
                        False, f"step {i}: the trace ends in a stop, but an action is enabled", i
                    )
                continue
        else:
            target = trace.steps[i].state
            name, args = trace.steps[i].action, trace.steps[i].args
        assert name is not None
        try:
            choices = model.steps_of(name, before)
        except KeyError:
            return ReplayResult(False, f"step {i}: the model has no action {name!r}", i)
        match = [t for a, t in choices if _same_args(a, args)]
        if not match:
            return ReplayResult(
                False, f"step {i}: {name}({_fmt_args(args)}) is not enabled in the model", i
            )
        if target not in match:
            return ReplayResult(
                False,
                f"step {i}: {name}({_fmt_args(args)}) gives a different state "
                f"(differs in {_state_diff(model, target, match[0])})",
                i,
            )
    if trace.prop and trace.kind == "counterexample":
        final = trace.steps[-1].state
        try:
            prop = model.property(trace.prop)
        except KeyError:
            prop = None
        if (
            prop is not None
            and prop.kind.value == "always"
            and model.evaluate_always(prop, final) is None
        ):
            return ReplayResult(
                False,
                f"the trace replays, but {trace.prop!r} holds in its last state",
                len(trace.steps) - 1,
            )
    n = len(trace)
    return ReplayResult(True, f"the trace replays: {n} step{'s' if n != 1 else ''}, no divergence")
