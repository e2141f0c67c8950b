"""Trace files: ITF JSON documents (the Apalache/Quint Informal Trace Format) on disk.

A trace file is ITF JSON (``*.itf.json``): ``vars``, ``states`` and, for a lasso, ``loop``
(the index the last state loops back to). The top-level ``#meta`` carries the model's name
and how to load it (``model_spec``: a built-in name, ``package.module:Class`` or a file's
path, see :mod:`hintspec.lang.registry`), the variant, the config, the hintspec version
that wrote it, the property and its explanation; each state's ``#meta`` carries the action
taken to reach it and its arguments, which is what replay re-executes. Reading a trace
loads its model from ``model_spec`` (so ``show`` and ``replay`` work on a model outside
hintspec), and refuses, in one line, a trace written by another hintspec version. Reading one
turns anything malformed into one line of :class:`hintspec.lang.errors.UsageError`;
writing is atomic, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from hintspec.lang.configs import config_overrides, make_config
from hintspec.lang.errors import UsageError
from hintspec.lang.model import Args, Model
from hintspec.lang.registry import get_model, lookup, model_spec
from hintspec.lang.version import VERSION
from hintspec.traces import itf
from hintspec.traces.trace import Step, Trace

ITF_DESCRIPTION = "https://apalache-mc.org/docs/adr/015adr-trace.html"


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
        "model_spec": _spec_of(trace.model),
        "hintspec": VERSION,
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


def _spec_of(name: str) -> str:
    """How to load the model called ``name`` (its name, for a model never registered)."""
    cls = lookup(name)
    return model_spec(cls) if cls is not None else name


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
    model_cls = _model_of(meta, where)
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


def _model_of(meta: dict[str, Any], where: str) -> type[Model[Any, Any]]:
    """The model a trace was written for, loaded from ``#meta.model_spec`` if need be."""
    version = meta.get("hintspec")
    if version is not None and version != VERSION:
        raise UsageError(
            f"{where}: written by hintspec {version}, this is hintspec {VERSION}; "
            "run the check again to write the trace anew"
        )
    name = str(meta["model"])
    spec = meta.get("model_spec")
    found = lookup(name)
    if found is not None or not isinstance(spec, str) or not spec or spec == name:
        return found or get_model(name)
    try:
        cls = get_model(spec)
    except UsageError as exc:
        raise UsageError(f"{where}: its model {name!r} cannot be loaded: {exc}") from None
    if cls.name != name:
        raise UsageError(
            f"{where}: {spec} is now model {cls.name!r}, the trace is of model {name!r}"
        )
    return cls


def _decode_args(raw: Any, where: str) -> Args:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise UsageError(f"{where} must be an object")
    try:
        return {str(k): itf.decode(v, Any) for k, v in raw.items()}
    except itf.DecodeError as exc:
        raise UsageError(f"{where}: {exc}") from None
