"""The model language: what a model file imports.

:class:`Model` and the decorators that declare actions and properties
(:mod:`.model`), building a Config from command-line strings (:mod:`.configs`), the
errors a user sees as one line (:mod:`.errors`), finding models by name (:mod:`.registry`),
and :class:`Virtqueue`, the shared ring that several protocols embed (:mod:`.virtqueue`).
"""

from hintspec.lang.model import (
    Args,
    Check,
    Fairness,
    Message,
    Model,
    action,
    always,
    always_eventually,
    eventually,
    leads_to,
    progress,
    sometimes,
)
from hintspec.lang.virtqueue import Virtqueue

__all__ = [
    "Args",
    "Check",
    "Fairness",
    "Message",
    "Model",
    "Virtqueue",
    "action",
    "always",
    "always_eventually",
    "eventually",
    "leads_to",
    "progress",
    "sometimes",
]
