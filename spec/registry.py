"""Finding models by name: every Model subclass defined in a module of ``hintspec.models``."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from typing import Any

from hintspec.errors import UsageError
from hintspec.model import Model

ModelClass = type[Model[Any, Any]]


@cache
def all_models() -> dict[str, ModelClass]:
    """Model name -> class, in module order (discovered, so a new model needs no list)."""
    import hintspec.models as package

    found: dict[str, ModelClass] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.ispkg:
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, Model)
                and value.__module__ == module.__name__
                and "name" in vars(value)
            ):
                if value.name in found:
                    raise UsageError(f"two models are named {value.name!r}")
                found[value.name] = value
    return found


def get_model(name: str) -> ModelClass:
    """The model class called ``name``, or a UsageError listing the known ones."""
    models = all_models()
    if name not in models:
        raise UsageError(
            f"unknown model {name!r}; known models: {', '.join(models)} (see `hintspec list`)"
        )
    return models[name]
