"""Finding models by name: every Model subclass defined in a module of ``hintspec.models``."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from typing import Any

from hintspec.lang.errors import UsageError
from hintspec.lang.model import Model

ModelClass = type[Model[Any, Any]]


def discover(package_name: str, base: type[Any], key: str) -> dict[str, Any]:
    """Subclasses of ``base`` defined in the modules of a package (those not starting with
    ``_``; a subpackage counts as its ``__init__``), by their ``key`` class attribute, in
    module-name order."""
    package = importlib.import_module(package_name)
    found: dict[str, Any] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package_name}.{info.name}")
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, base)
                and value.__module__ == module.__name__
                and key in vars(value)
            ):
                name = getattr(value, key)
                if name in found:
                    raise UsageError(f"two definitions are named {name!r} in {package_name}")
                found[name] = value
    return found


@cache
def all_models() -> dict[str, ModelClass]:
    """Model name -> class, in module order (discovered, so a new model needs no list)."""
    return discover("hintspec.models", Model, "name")


def get_model(name: str) -> ModelClass:
    """The model class called ``name``, or a UsageError listing the known ones."""
    models = all_models()
    if name not in models:
        raise UsageError(
            f"unknown model {name!r}; known models: {', '.join(models)} (see `hintspec list`)"
        )
    return models[name]
