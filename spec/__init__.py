"""hintspec: an executable, model-checked specification of Linux guest-memory hinting."""

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

__all__ = [
    "Args",
    "Check",
    "Fairness",
    "Model",
    "action",
    "always",
    "always_eventually",
    "eventually",
    "leads_to",
    "progress",
    "sometimes",
]
__version__ = "0.1.0"
