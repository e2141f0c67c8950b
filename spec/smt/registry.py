"""The registry of encodings: every :class:`Encoding` in ``hintspec.properties.proofs``."""

from __future__ import annotations

from functools import cache
from typing import Any

from hintspec.lang.errors import UsageError
from hintspec.lang.model import Model
from hintspec.lang.registry import discover
from hintspec.smt.encoding import Encoding


@cache
def encodings() -> dict[str, type[Encoding[Any]]]:
    """Model name -> its Encoding class (every module of ``hintspec.properties.proofs``)."""
    return discover("hintspec.properties.proofs", Encoding, "model_name")


def encoding_for(model: Model[Any, Any]) -> Encoding[Any]:
    """The encoding of ``model`` at its configuration, or a one-line UsageError when the
    model has none or the encoding does not model the model's variant (a proof of another
    design would answer a question nobody asked)."""
    found = encodings()
    if model.name not in found:
        raise UsageError(
            f"model {model.name!r} has no Z3 encoding; models with one: "
            + (", ".join(sorted(found)) or "none")
        )
    cls = found[model.name]
    if model.variant not in cls.variants:
        raise UsageError(
            f"the Z3 encoding of {model.name} does not model variant {model.variant!r}; "
            f"it models: {', '.join(cls.variants)}"
        )
    return cls(model)
