"""Building a model's Config from ``--set key=value`` strings, and back to plain JSON."""

from __future__ import annotations

import dataclasses
import enum
import typing
from collections.abc import Mapping
from typing import Any

from hintspec.lang.errors import UsageError
from hintspec.lang.model import Model

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _field_types(config_cls: type[Any]) -> dict[str, Any]:
    return typing.get_type_hints(config_cls)


def parse_value(model: str, key: str, text: str, typ: Any) -> Any:
    """Convert the string ``text`` to the type of config field ``key``."""
    origin = typing.get_origin(typ)
    if origin is typing.Literal:
        choices = typing.get_args(typ)
        for c in choices:
            if str(c) == text:
                return c
        raise UsageError(
            f"{model}: {key}={text!r} is not allowed; choose one of "
            + ", ".join(str(c) for c in choices)
        )
    if typ is bool:
        low = text.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise UsageError(f"{model}: {key}={text!r} is not a boolean; use true or false")
    if typ is int:
        try:
            return int(text, 0)
        except ValueError:
            raise UsageError(f"{model}: {key}={text!r} is not an integer") from None
    if typ is float:
        try:
            return float(text)
        except ValueError:
            raise UsageError(f"{model}: {key}={text!r} is not a number") from None
    if isinstance(typ, type) and issubclass(typ, enum.Enum):
        for member in typ:
            if text in (member.name, str(member.value)) or text.upper() == member.name:
                return member
        raise UsageError(
            f"{model}: {key}={text!r} is not allowed; choose one of "
            + ", ".join(m.name for m in typ)
        )
    if typ is str:
        return text
    raise UsageError(f"{model}: {key} cannot be set from the command line")


def make_config(
    model_cls: type[Model[Any, Any]],
    variant: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Any:
    """The model's Config with ``overrides`` (strings are parsed by field type) and variant."""
    config_cls = model_cls.Config
    types = _field_types(config_cls)
    values: dict[str, Any] = {}
    for key, raw in (overrides or {}).items():
        if key not in types:
            known = ", ".join(k for k in types if k != "variant")
            raise UsageError(f"{model_cls.name}: unknown parameter {key!r}; parameters are {known}")
        if key == "variant":
            variant = str(raw)
            continue
        values[key] = (
            parse_value(model_cls.name, key, raw, types[key])
            if isinstance(raw, str) and types[key] is not str
            else _checked(model_cls.name, key, raw, types[key])
        )
    if variant is not None:
        if variant not in model_cls.variants:
            raise UsageError(
                f"{model_cls.name}: unknown variant {variant!r}; variants are "
                + ", ".join(model_cls.variants)
            )
        if "variant" not in types:
            raise UsageError(f"{model_cls.name} has no variants")
        values["variant"] = variant
    try:
        return config_cls(**values)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"{model_cls.name}: invalid configuration: {exc}") from None


def _checked(model: str, key: str, value: Any, typ: Any) -> Any:
    """``value`` (from JSON or Python, not a string to parse) if it has the field's type."""
    if typing.get_origin(typ) is typing.Literal:
        ok = value in typing.get_args(typ)
    elif typ is bool:
        ok = isinstance(value, bool)
    elif typ is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif typ is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif isinstance(typ, type) and issubclass(typ, enum.Enum):
        ok = isinstance(value, typ)
    elif typ is str:
        ok = isinstance(value, str)
    else:
        ok = True  # a field type the command line cannot set: the Config checks it
    if not ok:
        raise UsageError(f"{model}: {key}={value!r} does not have the type of {key}")
    return value


def parse_assignments(pairs: list[str]) -> dict[str, str]:
    """``["frames=8", "capacity=2"]`` -> ``{"frames": "8", "capacity": "2"}``."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set expects key=value, got {pair!r}")
        out[key.strip()] = value.strip()
    return out


def config_to_json(config: Any) -> dict[str, Any]:
    """A Config as plain JSON values (enums by name)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        v = getattr(config, f.name)
        out[f.name] = v.name if isinstance(v, enum.Enum) else v
    return out


def config_overrides(config: Any) -> dict[str, Any]:
    """Only the fields that differ from the Config's defaults (variant included if set)."""
    default = type(config)()
    full = config_to_json(config)
    base = config_to_json(default)
    return {k: v for k, v in full.items() if base.get(k) != v}


def config_label(config: Any) -> str:
    """``frames=8 capacity=2`` style label of the non-default fields (variant excluded)."""
    over = config_overrides(config)
    over.pop("variant", None)
    return " ".join(f"{k}={v}" for k, v in over.items()) or "defaults"
