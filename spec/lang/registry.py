"""Finding models: built-in names, ``.py`` files, ``package.module:Class`` and entry points.

Every command that takes a model goes through :func:`get_model`, which accepts

* the name of a built-in model (a Model subclass in a module of ``hintspec.models``);
* a path to a ``.py`` file (``models/handshake.py``; ``file.py:Class`` when it defines
  several models);
* ``package.module:Class`` (or ``package.module`` when the module defines one model);
* the name of an entry point in the group ``hintspec.models``, which installed packages
  register (``[project.entry-points."hintspec.models"] handshake = "pkg.mod:Class"``);
* the name of a model the project declares (:mod:`hintspec.lang.project`), or one loaded
  earlier in this process.

A loaded model is remembered under its ``name`` with its :class:`Origin`, which says where
it came from and how to load it again (:func:`model_spec`, what a trace file records).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.metadata
import importlib.util
import inspect
import os
import pkgutil
import re
import sys
import traceback
import types
from functools import cache
from pathlib import Path
from typing import Any

from hintspec.lang.errors import ModelDefinitionError, UsageError
from hintspec.lang.model import Model
from hintspec.lang.project import find_project

ModelClass = type[Model[Any, Any]]

ENTRY_POINT_GROUP = "hintspec.models"
FILE_MODULES = "hintspec_user_models"
"""The namespace under which model files are imported (``sys.modules`` needs a name)."""
FORMS = (
    "a model is a built-in name, a .py file, package.module:Class or an installed "
    "entry point (see `hintspec list`)"
)


@dataclasses.dataclass(frozen=True)
class Origin:
    """Where a model class came from."""

    kind: str
    """``built-in``, ``entry point``, ``module`` or ``file``."""
    spec: str
    """How to load it again: what a trace records (a name, ``module:Class``, ``path:Class``)."""
    where: str
    """For people: the module, the file, or the entry point and its distribution."""


_loaded: dict[str, ModelClass] = {}
"""Models loaded from outside ``hintspec.models`` in this process, by name."""
_origins: dict[ModelClass, Origin] = {}


def package_dirs(package: types.ModuleType) -> list[str]:
    """The directories a package's modules are found in.

    A strict editable install links each file of the source tree into a directory of its
    own, so a module added since the install is not in it. The directory the package's
    ``__init__.py`` really lives in is added to ``__path__`` too (the same directory for
    any other install), so ``pkgutil`` finds the new module and ``import`` loads it."""
    dirs = list(getattr(package, "__path__", []))
    init = getattr(package, "__file__", None)
    if init:
        real = os.path.dirname(os.path.realpath(init))
        if real not in dirs and os.path.isdir(real):
            package.__path__.append(real)
            dirs.append(real)
    return dirs


def source_dir(package_name: str) -> Path:
    """The real directory of a package (its source tree under an editable install)."""
    package = importlib.import_module(package_name)
    return Path(package_dirs(package)[-1])


def discover(package_name: str, base: type[Any], key: str) -> dict[str, Any]:
    """Subclasses of ``base`` defined in the modules of a package (those not starting with
    ``_``; a subpackage counts as its ``__init__``), by their ``key`` class attribute, in
    module-name order."""
    package = importlib.import_module(package_name)
    found: dict[str, Any] = {}
    for info in sorted(pkgutil.iter_modules(package_dirs(package)), key=lambda m: m.name):
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
def builtin_models() -> dict[str, ModelClass]:
    """Model name -> class of every model shipped in ``hintspec.models``, in module order."""
    found: dict[str, ModelClass] = discover("hintspec.models", Model, "name")
    for name, cls in found.items():
        _origins[cls] = Origin("built-in", name, cls.__module__)
    return found


def all_models() -> dict[str, ModelClass]:
    """The built-in models by name (the ones the shipped manifests cover); a test may put
    another table in its place."""
    return builtin_models()


def installed_models() -> dict[str, importlib.metadata.EntryPoint]:
    """The entry points of the group ``hintspec.models`` by name (not loaded)."""
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def loaded_models() -> dict[str, ModelClass]:
    """Models loaded from outside ``hintspec.models`` so far in this process."""
    return dict(_loaded)


def lookup(name: str) -> ModelClass | None:
    """The built-in or already loaded model called ``name``, without loading anything."""
    return all_models().get(name) or _loaded.get(name)


def origin(cls: ModelClass) -> Origin:
    """Where ``cls`` came from (a class never loaded through the registry: its module)."""
    found = _origins.get(cls)
    if found is not None:
        return found
    if cls.__module__.startswith("hintspec.models."):
        return Origin("built-in", cls.name, cls.__module__)
    return _importable_origin(cls)


def model_spec(cls: ModelClass) -> str:
    """How to load ``cls`` again in another process (what a trace file records)."""
    return origin(cls).spec


def _importable_origin(cls: ModelClass) -> Origin:
    module = sys.modules.get(cls.__module__)
    file = getattr(module, "__file__", None)
    if cls.__module__.startswith(f"{FILE_MODULES}.") and file:
        return Origin("file", f"{os.path.realpath(file)}:{cls.__qualname__}", _shown(file))
    if cls.__module__ == "__main__" and file:
        return Origin("file", f"{os.path.realpath(file)}:{cls.__qualname__}", _shown(file))
    spec = f"{cls.__module__}:{cls.__qualname__}"
    return Origin("module", spec, spec)


def shown_spec(spec: str) -> str:
    """A model spec as a user types it: a file's path relative to the working directory
    when it is inside it."""
    if not _is_file_spec(spec):
        return spec
    file, sep, cls = spec.rpartition(":") if ".py:" in spec else (spec, "", "")
    return _shown(file) + sep + cls


def _shown(path: str) -> str:
    real = os.path.realpath(path)
    rel = os.path.relpath(real)
    return real if rel.startswith("..") else rel


def register(cls: ModelClass, found: Origin | None = None) -> ModelClass:
    """Remember ``cls`` under its name (a UsageError if another model has that name)."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise UsageError(
            f"{_where_defined(cls)}: model class {cls.__qualname__} has no name: add "
            f'name = "..." (the name commands, traces and manifests use)'
        )
    found = found or origin(cls)
    builtin = all_models().get(name)
    other = builtin or _loaded.get(name)
    if other is not None and other is not cls:
        first = "the built-in model" if builtin is not None else origin(other).where
        raise UsageError(
            f"two models are named {name!r}: {first} and the one in {found.where}; "
            "rename one (its class's `name`)"
        )
    if builtin is None:
        _loaded[name] = cls
    _origins.setdefault(cls, found)
    return cls


def _where_defined(cls: type[Any]) -> str:
    try:
        _lines, line = inspect.getsourcelines(cls)
        return f"{_shown(inspect.getfile(cls))}:{line}"
    except (OSError, TypeError):
        return cls.__module__


def models_in(module: types.ModuleType) -> list[ModelClass]:
    """The Model subclasses a module defines (not those it imports), in definition order."""
    return [
        v
        for v in vars(module).values()
        if isinstance(v, type)
        and issubclass(v, Model)
        and v is not Model
        and v.__module__ == module.__name__
    ]


def _pick(module: types.ModuleType, class_name: str | None, what: str) -> ModelClass:
    if class_name:
        value = getattr(module, class_name, None)
        if not (isinstance(value, type) and issubclass(value, Model)):
            names = ", ".join(c.__qualname__ for c in models_in(module)) or "none"
            raise UsageError(
                f"{what} has no model class {class_name!r}; its model classes: {names}"
            )
        return value
    found = [c for c in models_in(module) if "name" in vars(c)] or models_in(module)
    if not found:
        raise UsageError(f"{what} defines no Model subclass; {FORMS}")
    if len(found) > 1:
        names = ", ".join(c.__qualname__ for c in found)
        raise UsageError(f"{what} defines several models ({names}): name one as {what}:CLASS")
    return found[0]


def _import_failure(what: str, exc: BaseException, file: str | None) -> UsageError:
    """One line for a model module that raised while it was imported: the model's line
    (the deepest frame in ``file``, else in any file outside hintspec) and the error."""
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, SyntaxError) and exc.filename:
        return UsageError(
            f"cannot load {what}: {_shown(exc.filename)}:{exc.lineno}: SyntaxError: {exc.msg}"
        )
    frames = traceback.extract_tb(exc.__traceback__)
    here = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    pick = None
    for f in reversed(frames):
        real = os.path.realpath(f.filename)
        mine = (file and real == os.path.realpath(file)) or not real.startswith(here)
        if mine and "importlib" not in f.filename:
            pick = f
            break
    if isinstance(exc, ModelDefinitionError) and pick is not None:
        return UsageError(f"{_shown(pick.filename)}:{pick.lineno}: {exc}")
    at = f" at {_shown(pick.filename)}:{pick.lineno}" if pick is not None else ""
    return UsageError(f"cannot load {what}{at}: {text}")


def _load_file(spec: str) -> ModelClass:
    file, class_name = spec, None
    if ".py:" in spec:
        file, _sep, class_name = spec.rpartition(":")
    path = Path(file)
    try:
        exists = path.is_file()
    except (OSError, ValueError):  # a NUL byte, a name too long
        exists = False
    if not exists:
        raise UsageError(f"model file {file!r} does not exist")
    real = os.path.realpath(path)
    stem = re.sub(r"\W", "_", path.stem)
    digest = hashlib.sha256(real.encode()).hexdigest()[:10]
    module_name = f"{FILE_MODULES}.{stem}_{digest}"
    module = sys.modules.get(module_name)
    if module is None:
        if FILE_MODULES not in sys.modules:
            sys.modules[FILE_MODULES] = types.ModuleType(FILE_MODULES)
        loader_spec = importlib.util.spec_from_file_location(module_name, real)
        if loader_spec is None or loader_spec.loader is None:
            raise UsageError(f"model file {file!r} cannot be imported (is it a .py file?)")
        module = importlib.util.module_from_spec(loader_spec)
        # Registered first: dataclasses and typing.get_type_hints look the module up.
        sys.modules[module_name] = module
        try:
            loader_spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[module_name]
            raise _import_failure(f"model file {file!r}", exc, real) from None
    cls = _pick(module, class_name, file)
    found = Origin("file", f"{real}:{cls.__qualname__}", _shown(real))
    return register(cls, _origins.get(cls, found))


def _import(module_name: str, what: str) -> types.ModuleType:
    top = module_name.partition(".")[0]
    cwd = Path.cwd()
    if (
        top not in sys.modules
        and ((cwd / f"{top}.py").is_file() or (cwd / top / "__init__.py").is_file())
        and str(cwd) not in sys.path
        and "" not in sys.path
    ):
        # As `python -m` would: a module in the working directory is importable.
        sys.path.insert(0, str(cwd))
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise UsageError(
                f"cannot load {what}: no module named {exc.name!r} "
                "(is its package installed in this environment?)"
            ) from None
        raise _import_failure(what, exc, None) from None
    except Exception as exc:
        raise _import_failure(what, exc, None) from None


def _load_module(spec: str) -> ModelClass:
    module_name, _sep, class_name = spec.partition(":")
    module = _import(module_name, f"model {spec!r}")
    cls = _pick(module, class_name or None, module_name)
    return register(cls, _origins.get(cls) or _importable_origin(cls))


def _load_entry_point(ep: importlib.metadata.EntryPoint) -> ModelClass:
    dist = getattr(ep, "dist", None)
    by = f" of {dist.name} {dist.version}" if dist is not None else ""
    what = f"entry point {ep.name!r}{by}"
    where = f"{ep.name!r}{by}"
    try:
        value = ep.load()
    except ModuleNotFoundError as exc:
        raise UsageError(f"cannot load {what} ({ep.value}): {exc}") from None
    except Exception as exc:
        raise _import_failure(f"{what} ({ep.value})", exc, None) from None
    if isinstance(value, types.ModuleType):
        value = _pick(value, None, ep.value)
    if not (isinstance(value, type) and issubclass(value, Model)):
        raise UsageError(f"{what} ({ep.value}) is not a Model subclass")
    spec = f"{value.__module__}:{value.__qualname__}"
    return register(value, _origins.get(value) or Origin("entry point", spec, where))


def _is_file_spec(spec: str) -> bool:
    return spec.endswith(".py") or ".py:" in spec or "/" in spec or os.sep in spec


def get_model(spec: str) -> ModelClass:
    """The model ``spec`` names (see the module docstring), or a one-line UsageError."""
    spec = spec.strip()
    if not spec:
        raise UsageError(f"no model given; {FORMS}")
    if _is_file_spec(spec):
        return _load_file(spec)
    builtins = all_models()
    if spec in builtins:
        return builtins[spec]
    if spec in _loaded:
        return _loaded[spec]
    if ":" in spec:
        return _load_module(spec)
    eps = installed_models()
    if spec in eps:
        return _load_entry_point(eps[spec])
    project = find_project()
    if project is not None:
        for model_spec_ in project.model_specs():
            cls = get_model(model_spec_)
            if cls.name == spec:
                return cls
    if "." in spec and _importable(spec.partition(".")[0]):
        return _load_module(spec)
    known = [*builtins, *eps, *_loaded]
    raise UsageError(
        f"unknown model {spec!r}; known models: {', '.join(dict.fromkeys(known))}; {FORMS}"
    )


def _importable(top: str) -> bool:
    try:
        return importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        return False


def project_models() -> list[ModelClass]:
    """The models the project of the working directory declares (none without one)."""
    project = find_project()
    if project is None:
        return []
    return [get_model(s) for s in project.model_specs()]


def known_models() -> list[tuple[str, ModelClass | UsageError]]:
    """Every model one can name: the built-in ones, those installed packages register
    (entry points), those the project declares and those loaded so far; a model that
    cannot be loaded comes with the one-line error instead of its class."""
    out: list[tuple[str, ModelClass | UsageError]] = list(all_models().items())
    specs: list[str] = list(installed_models())
    project = find_project()
    if project is not None:
        specs.extend(project.model_specs())
    for spec in specs:
        try:
            out.append((spec, get_model(spec)))
        except UsageError as exc:
            out.append((spec, exc))
    out.extend(_loaded.items())
    seen: set[int] = set()
    unique: list[tuple[str, ModelClass | UsageError]] = []
    for name, found in out:
        key = id(found)
        if key not in seen:
            seen.add(key)
            unique.append((name, found))
    return unique
