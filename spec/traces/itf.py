"""Values to and from ITF JSON (the Apalache/Quint Informal Trace Format).

Encoding: bool and str as themselves; int as a JSON number (``{"#bigint": "..."}`` beyond
2^53); tuple as a JSON list (a sequence) -- or ``{"#tup": [...]}`` for fixed-length tuple
types; frozenset as ``{"#set": [...]}`` (sorted, so files are stable); a mapping as
``{"#map": [[k, v], ...]}``; an enum member as its name; a dataclass as a record (a JSON
object); ``None`` as the variant ``{"tag": "None", "value": {"#tup": []}}``.

Decoding is driven by the State class's type hints, so a trace reads back into the exact
Python values the model produced.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from functools import cache
from typing import Any

from hintspec.lang.errors import UsageError

_SAFE_INT = 2**53 - 1


def encode(value: Any) -> Any:
    """A Python model value as ITF JSON."""
    if value is None:
        return {"tag": "None", "value": {"#tup": []}}
    if isinstance(value, bool | str):
        return value
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, int):
        return value if -_SAFE_INT <= value <= _SAFE_INT else {"#bigint": str(value)}
    if isinstance(value, tuple | list):
        return [encode(v) for v in value]
    if isinstance(value, frozenset | set):
        items = [encode(v) for v in value]
        return {"#set": sorted(items, key=_sort_key)}
    if isinstance(value, dict):
        pairs = [[encode(k), encode(v)] for k, v in value.items()]
        return {"#map": sorted(pairs, key=lambda kv: _sort_key(kv[0]))}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return {"#unserializable": repr(value)}


def _sort_key(v: Any) -> str:
    import json

    return json.dumps(v, sort_keys=True)


@cache
def _hints(cls: type[Any]) -> dict[str, Any]:
    return typing.get_type_hints(cls)


class DecodeError(Exception):
    pass


def decode(data: Any, typ: Any) -> Any:
    """ITF JSON back to a value of type ``typ`` (raises DecodeError on a mismatch)."""
    origin = typing.get_origin(typ)
    args = typing.get_args(typ)
    if typ is Any:
        return _decode_untyped(data)
    if origin in (typing.Union, types.UnionType):
        if isinstance(data, dict) and data.get("tag") == "None":
            return None
        non_none = [a for a in args if a is not type(None)]
        last: Exception | None = None
        for alt in non_none:
            try:
                return decode(data, alt)
            except DecodeError as exc:
                last = exc
        raise DecodeError(str(last))
    if typ is bool:
        if not isinstance(data, bool):
            raise DecodeError(f"expected a boolean, found {data!r}")
        return data
    if typ is int:
        if isinstance(data, dict) and "#bigint" in data:
            try:
                return int(data["#bigint"])
            except (TypeError, ValueError):
                raise DecodeError(f"expected an integer, found {data!r}") from None
        if isinstance(data, bool) or not isinstance(data, int):
            raise DecodeError(f"expected an integer, found {data!r}")
        return data
    if typ is str:
        if not isinstance(data, str):
            raise DecodeError(f"expected a string, found {data!r}")
        return data
    if isinstance(typ, type) and issubclass(typ, enum.Enum):
        if not isinstance(data, str) or data not in typ.__members__:
            raise DecodeError(f"expected one of {', '.join(typ.__members__)}, found {data!r}")
        return typ[data]
    if origin is tuple:
        items = data["#tup"] if isinstance(data, dict) and "#tup" in data else data
        if not isinstance(items, list):
            raise DecodeError(f"expected a list, found {data!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(decode(x, args[0]) for x in items)
        if len(args) != len(items):
            raise DecodeError(f"expected a tuple of {len(args)}, found {len(items)} items")
        return tuple(decode(x, a) for x, a in zip(items, args, strict=True))
    if origin in (frozenset, set):
        if not isinstance(data, dict) or not isinstance(data.get("#set"), list):
            raise DecodeError(f"expected a set, found {data!r}")
        return frozenset(_hashable(decode(x, args[0])) for x in data["#set"])
    if origin in (dict, typing.Mapping) or typ is dict:
        pairs = data.get("#map") if isinstance(data, dict) else None
        if not isinstance(pairs, list) or not all(
            isinstance(kv, list) and len(kv) == 2 for kv in pairs
        ):
            raise DecodeError(f"expected a map, found {data!r}")
        return {_hashable(decode(k, args[0])): decode(v, args[1]) for k, v in pairs}
    if isinstance(typ, type) and dataclasses.is_dataclass(typ):
        if not isinstance(data, dict):
            raise DecodeError(f"expected a record for {typ.__name__}, found {data!r}")
        hints = _hints(typ)
        kwargs = {}
        for f in dataclasses.fields(typ):
            if f.name not in data:
                raise DecodeError(f"record {typ.__name__} lacks field {f.name!r}")
            kwargs[f.name] = decode(data[f.name], hints[f.name])
        return typ(**kwargs)
    raise DecodeError(f"cannot decode a value of type {typ!r}")


def _hashable(value: Any) -> Any:
    try:
        hash(value)
    except TypeError:
        raise DecodeError(f"a set element or map key must be a plain value: {value!r}") from None
    return value


def _decode_untyped(data: Any) -> Any:
    if isinstance(data, list):
        return tuple(_decode_untyped(x) for x in data)
    if isinstance(data, dict):
        if "#bigint" in data:
            return decode(data, int)
        if "#set" in data:
            items = data["#set"]
            if not isinstance(items, list):
                raise DecodeError(f"expected a set, found {data!r}")
            return frozenset(_hashable(_decode_untyped(x)) for x in items)
        if "#tup" in data:
            items = data["#tup"]
            if not isinstance(items, list):
                raise DecodeError(f"expected a tuple, found {data!r}")
            return tuple(_decode_untyped(x) for x in items)
        return {k: _decode_untyped(v) for k, v in data.items()}
    return data


def decode_state(data: Any, state_cls: type[Any]) -> Any:
    """One ITF state (a record, ``#meta`` ignored) as the model's State."""
    if not isinstance(data, dict):
        raise DecodeError("a state must be a JSON object")
    return decode({k: v for k, v in data.items() if k != "#meta"}, state_cls)


def require(cond: bool, message: str) -> None:
    if not cond:
        raise UsageError(message)
