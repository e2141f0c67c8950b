"""Which code of a model module is its design (what ``hintspec mutate`` mutates and
``hintspec coverage`` measures): the model class's actions, ``__init__``,
``initial_states``, ``is_terminal`` and the helpers they reach -- not its properties, what
only the properties call, the presentation hooks, or the symmetry reduction -- and which
tests are variant switches (a test of ``self.variant``, or of a flag derived from it)."""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Iterator

ROOT_METHODS = ("__init__", "initial_states", "is_terminal")
"""Model methods that are part of the design besides the actions."""

NOT_MUTATED = ("frame_map", "view", "messages", "canonical")
"""Model methods that present a state or reduce the search: not the design."""

PROPERTY_DECORATORS = (
    "always",
    "sometimes",
    "eventually",
    "leads_to",
    "always_eventually",
    "progress",
)


def _decorator_name(node: ast.expr) -> str | None:
    target = node.func if isinstance(node, ast.Call) else node
    if isinstance(target, ast.Name):
        return target.id
    if isinstance(target, ast.Attribute):
        return target.attr
    return None


def _is_property(fn: ast.FunctionDef) -> bool:
    return any(_decorator_name(d) in PROPERTY_DECORATORS for d in fn.decorator_list)


def _is_action(fn: ast.FunctionDef) -> bool:
    return any(_decorator_name(d) == "action" for d in fn.decorator_list)


def _is_model_class(cls: ast.ClassDef) -> bool:
    for base in cls.bases:
        target = base.value if isinstance(base, ast.Subscript) else base
        if isinstance(target, ast.Name | ast.Attribute) and _decorator_name(target) == "Model":
            return True
    return False


def _mentions_variant(node: ast.AST, flags: frozenset[str] = frozenset()) -> bool:
    return any(
        (isinstance(n, ast.Attribute) and (n.attr == "variant" or n.attr in flags))
        or (isinstance(n, ast.Name) and (n.id == "variant" or n.id in flags))
        for n in ast.walk(node)
    )


def _is_variant_switch(node: ast.expr, flags: frozenset[str] = frozenset()) -> bool:
    """A test of which variant runs (``self.variant == "x"``, ``self.variant in (...)``,
    or a flag ``__init__`` derives from the variant alone, ``self.offline_design``)."""
    if isinstance(node, ast.BoolOp):
        return all(_is_variant_switch(v, flags) for v in node.values)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return _is_variant_switch(node.operand, flags)
    if isinstance(node, ast.Attribute) and node.attr in flags:
        return True
    if isinstance(node, ast.Name) and node.id in flags:
        return True
    return isinstance(node, ast.Compare) and _mentions_variant(node, flags)


def _variant_flags(tree: ast.Module) -> frozenset[str]:
    """Attributes a model's ``__init__`` sets from the variant (``self.capped =
    self.variant in (...)``): testing one is testing the variant."""
    flags: set[str] = set()
    for cls in tree.body:
        if not (isinstance(cls, ast.ClassDef) and _is_model_class(cls)):
            continue
        for item in cls.body:
            if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                for stmt in ast.walk(item):
                    if (
                        isinstance(stmt, ast.Assign)
                        and len(stmt.targets) == 1
                        and isinstance(stmt.targets[0], ast.Attribute)
                        and _only_variant(stmt.value, frozenset(flags))
                    ):
                        flags.add(stmt.targets[0].attr)
    return frozenset(flags)


def _only_variant(node: ast.expr, flags: frozenset[str]) -> bool:
    """The value depends on the variant and on constants only (``config.variant in
    PERCPU``, ``self.variant != "x"``)."""
    if not _mentions_variant(node, flags):
        return False
    for n in ast.walk(node):
        if isinstance(n, ast.Attribute) and n.attr not in ("variant", "config", *flags):
            return False
        if isinstance(n, ast.Name) and not (
            n.id in ("self", "config", "variant") or n.id.isupper()
        ):
            return False
    return True


def _own_nodes(fn: ast.FunctionDef) -> Iterator[ast.AST]:
    """The nodes of ``fn`` outside the functions and lambdas nested in it."""
    stack: list[ast.AST] = list(fn.body)
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, ast.FunctionDef | ast.Lambda):
            stack.extend(ast.iter_child_nodes(node))


def _is_generator(fn: ast.FunctionDef) -> bool:
    return any(isinstance(n, ast.Yield | ast.YieldFrom) for n in _own_nodes(fn))


def _names(node: ast.AST, ctx: type[ast.expr_context]) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ctx)}


@dataclasses.dataclass
class _Function:
    qualname: str
    node: ast.FunctionDef
    is_action: bool
    is_property: bool


def _functions(tree: ast.Module) -> list[_Function]:
    out: list[_Function] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            out.append(_Function(node.name, node, False, _is_property(node)))
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    out.append(
                        _Function(
                            f"{node.name}.{item.name}",
                            item,
                            _is_model_class(node) and _is_action(item),
                            _is_property(item),
                        )
                    )
    return out


def _design_functions(tree: ast.Module) -> list[_Function]:
    """The functions an action (or another root of the design) reaches by name, in source
    order: the design's code, as opposed to its properties and presentation."""
    funcs = _functions(tree)
    by_name: dict[str, list[_Function]] = {}
    for f in funcs:
        by_name.setdefault(f.node.name, []).append(f)
    model_classes = {
        n.name for n in tree.body if isinstance(n, ast.ClassDef) and _is_model_class(n)
    }
    roots = [
        f
        for f in funcs
        if f.is_action
        or (f.qualname.split(".")[0] in model_classes and f.node.name in ROOT_METHODS)
    ]
    reached: set[str] = set()
    work = list(roots)
    while work:
        f = work.pop()
        if f.qualname in reached:
            continue
        reached.add(f.qualname)
        for node in ast.walk(f.node):
            name = (
                node.id
                if isinstance(node, ast.Name)
                else node.attr
                if isinstance(node, ast.Attribute)
                else None
            )
            for g in by_name.get(name or "", []):
                if (
                    g.qualname not in reached
                    and not g.is_property
                    and g.node.name not in NOT_MUTATED
                ):
                    work.append(g)
    return [f for f in funcs if f.qualname in reached]


def design_spans(source: str) -> list[tuple[str, int, int]]:
    """(qualified name, first line, last line) of each function of the design code in a
    model module (what an action reaches; see ``mutate_ops.enumerate_mutants``), in source
    order."""
    return [
        (f.qualname, f.node.lineno, f.node.end_lineno or f.node.lineno)
        for f in _design_functions(ast.parse(source))
    ]
