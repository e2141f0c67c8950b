"""hintspec: an executable, model-checked specification of Linux guest-memory hinting.

The public API is small: the model language (:class:`Model`, :func:`action`, the
property decorators) and the checkers as functions -- :func:`check`, :func:`prove`,
:func:`fuzz`, :func:`simulate` -- which return a :class:`Result`
(:mod:`hintspec.api`). The checkers are imported on first use, so a model file that
imports the language does not pay for Z3 and Hypothesis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hintspec.lang.model import (
    Args,
    Check,
    Fairness,
    Model,
    action,
    always,
    always_eventually,
    eventually,
    leads_to,
    progress,
    sometimes,
)
from hintspec.lang.version import VERSION
from hintspec.lang.virtqueue import Virtqueue

if TYPE_CHECKING:
    from hintspec.api import (
        ModelError,
        Result,
        Trace,
        UsageError,
        Violation,
        check,
        fuzz,
        load_model,
        prove,
        simulate,
    )

__all__ = [
    "Args",
    "Check",
    "Fairness",
    "Model",
    "ModelError",
    "Result",
    "Trace",
    "UsageError",
    "Violation",
    "Virtqueue",
    "action",
    "always",
    "always_eventually",
    "check",
    "eventually",
    "fuzz",
    "leads_to",
    "load_model",
    "progress",
    "prove",
    "simulate",
    "sometimes",
]
__version__ = VERSION

_API = frozenset(
    {
        "ModelError",
        "Result",
        "Trace",
        "UsageError",
        "Violation",
        "check",
        "fuzz",
        "load_model",
        "prove",
        "simulate",
    }
)


def __getattr__(name: str) -> Any:
    if name in _API:
        from hintspec import api

        return getattr(api, name)
    raise AttributeError(f"module 'hintspec' has no attribute {name!r}")
