"""The mutation operators of ``hintspec mutate``: small edits of a model module's own code.

The engine is Python's :mod:`ast`, not mutmut or cosmic-ray: those drive a test suite and
count a failing test as a kill, with the mutant written into the source tree; here the
oracle is a checker run on a model class loaded from the mutated text, and the scope is
narrower than a file -- the actions, guards and helpers of the design, never its
properties. ``ast`` finds the sites; each mutant is a *text* edit of the exact source span
(so its diff against the model file is minimal and line numbers stay put, and a patch from
``--from DIR`` is the same kind of thing).

Operators (:data:`OPERATORS`), applied to the functions an action reaches:

* ``negate`` -- a condition (``if``/``elif``, a conditional expression, a comprehension
  filter, an operand of ``and``/``or``) becomes its negation (``==`` <-> ``!=``, ``is`` <->
  ``is not``, ``in`` <-> ``not in``, else ``not (...)``);
* ``drop-condition`` -- an ``if`` test or comprehension filter becomes ``True``; an operand
  of ``and``/``or`` is removed;
* ``and-or`` -- ``and`` <-> ``or``;
* ``delete`` -- an assignment or a call statement becomes ``pass``;
* ``swap`` -- two adjacent statements of one block change places;
* ``plus-one`` / ``minus-one`` -- an integer constant; ``boundary`` -- ``<`` <-> ``<=``,
  ``>`` <-> ``>=`` (an off-by-one on a bound that is not a constant);
* ``stop-yielding`` -- ``return`` right after a ``yield`` (an action offers its first
  choice only); ``disable`` -- ``return`` at the top of an action (it never fires);
* ``drop-fairness`` -- an action's ``fair=`` or one entry of a property's ``fairness=``
  becomes ``none``; ``weaken-fairness`` -- strong becomes weak. These show which fairness
  assumption a liveness verdict depends on.

Not mutated: properties and what only they call, presentation hooks (``frame_map``,
``view``, ``messages``), the symmetry reduction (``canonical``: a contract with the
checker, not the design), the labels of a step (the first element of a yielded pair) and
variant switches (a test of ``self.variant``: its mutants are the bad variants, which the
manifest already checks). Enumeration is deterministic: in source order, operator by
operator.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import hashlib
import itertools
from collections.abc import Iterator

from hintspec.engine.mutate_design import (
    PROPERTY_DECORATORS,
    _decorator_name,
    _design_functions,
    _Function,
    _functions,
    _is_generator,
    _is_variant_switch,
    _mentions_variant,
    _names,
    _only_variant,
    _own_nodes,
    _variant_flags,
)

OPERATORS = (
    "negate",
    "drop-condition",
    "and-or",
    "delete",
    "swap",
    "plus-one",
    "minus-one",
    "boundary",
    "stop-yielding",
    "disable",
    "drop-fairness",
    "weaken-fairness",
)

FAIRNESS_OPERATORS = ("drop-fairness", "weaken-fairness")

EXTERNAL = "external"
"""The operator of a mutant read from a patch (``--from DIR``)."""

_NEGATED_OP: dict[type[ast.cmpop], str] = {
    ast.Eq: "!=",
    ast.NotEq: "==",
    ast.Is: "is not",
    ast.IsNot: "is",
    ast.In: "not in",
    ast.NotIn: "in",
}
_BOUNDARY_OP: dict[type[ast.cmpop], str] = {
    ast.Lt: "<=",
    ast.LtE: "<",
    ast.Gt: ">=",
    ast.GtE: ">",
}
_ATOMIC = (ast.Name, ast.Attribute, ast.Call, ast.Constant, ast.Subscript, ast.Compare)


@dataclasses.dataclass(frozen=True)
class Edit:
    """Replace ``source[start:end]`` (character offsets) by ``text``."""

    start: int
    end: int
    text: str


@dataclasses.dataclass(frozen=True)
class Mutant:
    """One mutant of a model module: where, what, and the edits that make it."""

    id: str
    """Stable across edits elsewhere in the file: a digest of the function, the operator,
    the text replaced and by what, and its occurrence among identical edits."""
    operator: str
    function: str
    """Qualified name of the function mutated (``PageReporting.walk``)."""
    line: int
    description: str
    edits: tuple[Edit, ...] = ()
    reach: tuple[int, int] | None = None
    """Lines of the statement the edit is in: if none of them ran in the original's
    checks, the mutant behaves exactly as the original (equivalent, not reached). None:
    always run (a decorator, an external patch)."""
    patched: str | None = None
    """The whole mutated text, for an external mutant (its edits are a patch)."""

    def apply(self, source: str) -> str:
        if self.patched is not None:
            return self.patched
        out = source
        for edit in sorted(self.edits, key=lambda e: e.start, reverse=True):
            out = out[: edit.start] + edit.text + out[edit.end :]
        return out

    def diff(self, source: str, path: str) -> str:
        """The unified diff of the mutant against ``source`` (3 lines of context)."""
        lines = difflib.unified_diff(
            source.splitlines(keepends=True),
            self.apply(source).splitlines(keepends=True),
            fromfile=f"a/{path}",
            tofile=f"b/{path}",
        )
        return "".join(lines)


class _Source:
    """Offsets into a source text from ``ast`` positions (whose columns count UTF-8 bytes)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = text.splitlines(keepends=True)
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))

    def offset(self, lineno: int, col: int) -> int:
        line = self.lines[lineno - 1]
        return self.starts[lineno - 1] + len(line.encode("utf-8")[:col].decode("utf-8"))

    def span(self, node: ast.AST) -> tuple[int, int]:
        start = self.offset(node.lineno, node.col_offset)  # type: ignore[attr-defined]
        end = self.offset(node.end_lineno, node.end_col_offset)  # type: ignore[attr-defined]
        return start, end

    def segment(self, node: ast.AST) -> str:
        start, end = self.span(node)
        return self.text[start:end]

    def line_start(self, lineno: int) -> int:
        return self.starts[lineno - 1]

    def indent(self, lineno: int) -> str:
        line = self.lines[lineno - 1]
        return line[: len(line) - len(line.lstrip())]


class _Collector:
    """Walks one function and collects its mutants (in source order per operator)."""

    def __init__(self, src: _Source, fn: _Function, flags: frozenset[str] = frozenset()) -> None:
        self.src = src
        self.fn = fn
        local = set(flags)  # locals set from the variant alone: retry = self.variant == "x"
        for node in _own_nodes(fn.node):
            if (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and _only_variant(node.value, frozenset(local))
            ):
                local.add(node.targets[0].id)
        self.flags = frozenset(local)
        self.out: list[Mutant] = []
        self.seen: dict[tuple[str, str, str], int] = {}
        self.labels: set[int] = set()
        """ids of nodes inside the label (first element) of a yielded pair."""
        self.stmt_of: dict[int, ast.stmt] = {}
        for node in ast.walk(fn.node):
            if (
                isinstance(node, ast.Yield)
                and isinstance(node.value, ast.Tuple)
                and node.value.elts
            ):
                self.labels |= {id(n) for n in ast.walk(node.value.elts[0])}
        self._index_statements(fn.node.body)

    def _index_statements(self, body: list[ast.stmt]) -> None:
        for stmt in body:
            for node in ast.walk(stmt):
                self.stmt_of.setdefault(id(node), stmt)
            for field in ("body", "orelse", "finalbody", "handlers"):
                inner = getattr(stmt, field, None)
                if isinstance(inner, list):
                    stmts = [s for s in inner if isinstance(s, ast.stmt)]
                    for h in inner:
                        if isinstance(h, ast.ExceptHandler):
                            stmts.extend(h.body)
                    # inner statements own their nodes (innermost wins)
                    for s in stmts:
                        for node in ast.walk(s):
                            self.stmt_of[id(node)] = s
                    self._index_statements(stmts)

    def reach_of(self, node: ast.AST) -> tuple[int, int]:
        """Lines of the header of the innermost statement containing ``node``."""
        stmt = self.stmt_of.get(id(node))
        if stmt is None:
            return (self.fn.node.lineno, self.fn.node.end_lineno or self.fn.node.lineno)
        body = getattr(stmt, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
            return (stmt.lineno, max(stmt.lineno, body[0].lineno - 1))
        return (stmt.lineno, stmt.end_lineno or stmt.lineno)

    def add(
        self,
        operator: str,
        node: ast.AST,
        edits: tuple[Edit, ...],
        description: str,
        reach: tuple[int, int] | None,
    ) -> None:
        text = self.src.text
        before = "|".join(text[e.start : e.end] for e in edits)
        after = "|".join(e.text for e in edits)
        key = (operator, before, after)
        occurrence = self.seen.get(key, 0)
        self.seen[key] = occurrence + 1
        digest = hashlib.sha256(
            "\0".join([self.fn.qualname, operator, before, after, str(occurrence)]).encode()
        ).hexdigest()[:10]
        self.out.append(
            Mutant(
                id=digest,
                operator=operator,
                function=self.fn.qualname,
                line=getattr(node, "lineno", self.fn.node.lineno),
                description=description,
                edits=edits,
                reach=reach,
            )
        )

    def replace(self, operator: str, node: ast.AST, text: str, what: str) -> None:
        start, end = self.src.span(node)
        old = _one_line(self.src.text[start:end])
        self.add(
            operator,
            node,
            (Edit(start, end, text),),
            f"{what}: {old} -> {_one_line(text)}",
            self.reach_of(node),
        )

    # -- the operators --------------------------------------------------------------------

    def collect(self) -> list[Mutant]:
        fn = self.fn.node
        for node in _walk_in_order(fn):
            if id(node) in self.labels:
                continue
            if isinstance(node, ast.If | ast.IfExp):
                self.condition(node.test, drop=isinstance(node, ast.If))
            elif isinstance(node, ast.comprehension):
                for cond in node.ifs:
                    self.condition(cond, drop=True)
            elif isinstance(node, ast.BoolOp):
                self.boolop(node)
            elif isinstance(node, ast.Compare):
                self.boundary(node)
            elif isinstance(node, ast.Constant):
                self.constant(node)
        self.statements(fn.body, top=True)
        if self.fn.is_action and _is_generator(fn):
            self.disable(fn)
        return self.out

    def condition(self, test: ast.expr, *, drop: bool) -> None:
        if _is_variant_switch(test, self.flags):
            return
        self.negate(test)
        if drop and not (isinstance(test, ast.Constant) and test.value is True):
            self.replace("drop-condition", test, "True", "condition dropped")

    def negate(self, test: ast.expr) -> None:
        if isinstance(test, ast.Compare) and len(test.ops) == 1:
            flipped = _NEGATED_OP.get(type(test.ops[0]))
            if flipped is not None:
                left = self.src.segment(test.left)
                right = self.src.segment(test.comparators[0])
                self.replace("negate", test, f"{left} {flipped} {right}", "negated")
                return
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            self.replace("negate", test, self._wrapped(test.operand), "negated")
            return
        self.replace("negate", test, f"not {self._wrapped(test)}", "negated")

    def _wrapped(self, node: ast.expr) -> str:
        text = self.src.segment(node)
        return text if isinstance(node, _ATOMIC) else f"({text})"

    def boolop(self, node: ast.BoolOp) -> None:
        if _is_variant_switch(node, self.flags):
            return
        op, other = ("and", "or") if isinstance(node.op, ast.And) else ("or", "and")
        parts = [self._wrapped(v) for v in node.values]
        self.replace("and-or", node, f"({f' {other} '.join(parts)})", "and/or swapped")
        for i, value in enumerate(node.values):
            if _is_variant_switch(value, self.flags):
                continue
            self.negate(value)
            rest = [p for j, p in enumerate(parts) if j != i]
            text = rest[0] if len(rest) == 1 else f"({f' {op} '.join(rest)})"
            self.replace("drop-condition", node, text, f"operand {i + 1} of {op} dropped")

    def boundary(self, node: ast.Compare) -> None:
        if len(node.ops) != 1 or _mentions_variant(node, self.flags):
            return
        new = _BOUNDARY_OP.get(type(node.ops[0]))
        if new is None:
            return
        left = self.src.segment(node.left)
        right = self.src.segment(node.comparators[0])
        self.replace("boundary", node, f"{left} {new} {right}", "bound moved")

    def constant(self, node: ast.Constant) -> None:
        value = node.value
        if not isinstance(value, int) or isinstance(value, bool):
            return
        self.replace("plus-one", node, str(value + 1), "constant + 1")
        self.replace("minus-one", node, str(value - 1), "constant - 1")

    def statements(self, body: list[ast.stmt], *, top: bool = False, loop: bool = False) -> None:
        real = [s for s in body if not _is_docstring(s)] if top else body
        for i, stmt in enumerate(real):
            self.delete(stmt)
            inner_loop = loop or isinstance(stmt, ast.For | ast.While)
            for field in ("body", "orelse", "finalbody"):
                inner = getattr(stmt, field, None)
                if isinstance(inner, list) and inner and isinstance(inner[0], ast.stmt):
                    self.statements(inner, loop=inner_loop)
            for handler in getattr(stmt, "handlers", []) or []:
                self.statements(handler.body, loop=loop)
            last = i == len(real) - 1
            if (
                isinstance(stmt, ast.Expr)
                and isinstance(stmt.value, ast.Yield)
                and (loop or not last)
            ):
                self.stop_yielding(stmt)
        for first, second in itertools.pairwise(real):
            self.swap(first, second)

    def first_binding(self, stmt: ast.stmt) -> set[str]:
        """Names ``stmt`` binds that nothing before it in the function binds (a parameter,
        an earlier assignment, a loop target): deleting or postponing their binding only
        makes the mutant raise."""
        fn = self.fn.node
        bound = {a.arg for a in [*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs]}
        for node in _own_nodes(fn):
            if (
                isinstance(node, ast.Name)
                and isinstance(node.ctx, ast.Store)
                and node.lineno < stmt.lineno
            ):
                bound.add(node.id)
        return _names(stmt, ast.Store) - bound

    def delete(self, stmt: ast.stmt) -> None:
        if isinstance(stmt, ast.Assign | ast.AugAssign | ast.AnnAssign):
            if stmt.value is None or (
                not isinstance(stmt, ast.AugAssign) and self.first_binding(stmt)
            ):
                return
            self.replace("delete", stmt, "pass", "assignment deleted")
        elif (
            isinstance(stmt, ast.Expr)
            and isinstance(stmt.value, ast.Call)
            and "super()" not in self.src.segment(stmt)  # the base class's set-up
        ):
            self.replace("delete", stmt, "pass", "call deleted")

    def stop_yielding(self, stmt: ast.Expr) -> None:
        start, end = self.src.span(stmt)
        indent = self.src.indent(stmt.lineno)
        text = self.src.text[start:end] + f"\n{indent}return"
        self.add(
            "stop-yielding",
            stmt,
            (Edit(start, end, text),),
            f"return after: {_one_line(self.src.text[start:end])}",
            self.reach_of(stmt),
        )

    def swap(self, first: ast.stmt, second: ast.stmt) -> None:
        src = self.src
        a_end = first.end_lineno or first.lineno
        b_end = second.end_lineno or second.lineno
        if a_end >= second.lineno or not _alone(src, first) or not _alone(src, second):
            return
        a = src.text[src.line_start(first.lineno) : src.line_start(a_end + 1)]
        b = src.text[src.line_start(second.lineno) : src.line_start(b_end + 1)]
        if a.strip() == b.strip() or self.first_binding(first) & _names(second, ast.Load):
            return
        edits = (
            Edit(src.line_start(first.lineno), src.line_start(a_end + 1), b),
            Edit(src.line_start(second.lineno), src.line_start(b_end + 1), a),
        )
        what = f"swapped: {_one_line(a)} <-> {_one_line(b)}"
        self.add("swap", first, edits, what, (first.lineno, b_end))

    def disable(self, fn: ast.FunctionDef) -> None:
        body = [s for s in fn.body if not _is_docstring(s)]
        if not body:
            return
        first = body[0]
        at = self.src.line_start(first.lineno)
        indent = self.src.indent(first.lineno)
        self.add(
            "disable",
            first,
            (Edit(at, at, f"{indent}return\n"),),
            "the action never fires: return before its first statement",
            (fn.lineno, fn.end_lineno or fn.lineno),
        )


def _alone(src: _Source, stmt: ast.stmt) -> bool:
    """The statement fills its lines (nothing else before or after it on them)."""
    start, end = src.span(stmt)
    head = src.text[src.line_start(stmt.lineno) : start]
    tail_end = src.line_start((stmt.end_lineno or stmt.lineno) + 1)
    tail = src.text[end:tail_end]
    return not head.strip() and (not tail.strip() or tail.strip().startswith("#"))


def _is_docstring(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def _one_line(text: str) -> str:
    flat = " ".join(part.strip() for part in text.strip().splitlines())
    return flat if len(flat) <= 90 else flat[:87] + "..."


def _walk_in_order(fn: ast.FunctionDef) -> Iterator[ast.AST]:
    """The nodes of ``fn``'s body (not its decorators, arguments or docstring), depth
    first in source order."""
    body = [s for s in fn.body if not _is_docstring(s)]
    stack: list[ast.AST] = list(reversed(body))
    while stack:
        node = stack.pop()
        yield node
        children = list(ast.iter_child_nodes(node))
        stack.extend(reversed(children))


# -- fairness ----------------------------------------------------------------------------


def _fairness_value(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value.lower()
    if isinstance(node, ast.Attribute) and node.attr in ("WEAK", "STRONG", "NONE"):
        return node.attr.lower()
    return None


def _fairness_mutants(src: _Source, fn: _Function) -> list[Mutant]:
    collector = _Collector(src, fn)
    for deco in fn.node.decorator_list:
        if not isinstance(deco, ast.Call):
            continue
        name = _decorator_name(deco)
        for kw in deco.keywords:
            if name == "action" and kw.arg == "fair":
                _fairness_edit(collector, kw.value, f"action {fn.node.name}")
            elif (
                name in PROPERTY_DECORATORS
                and kw.arg == "fairness"
                and isinstance(kw.value, ast.Dict)
            ):
                for key, value in zip(kw.value.keys, kw.value.values, strict=True):
                    if isinstance(key, ast.Constant):
                        where = f"property {fn.node.name}, action {key.value!s}"
                        _fairness_edit(collector, value, where)
    return collector.out


def _fairness_edit(collector: _Collector, value: ast.expr, where: str) -> None:
    kind = _fairness_value(value)
    if kind not in ("weak", "strong"):
        return
    start, end = collector.src.span(value)
    for operator, new in (("drop-fairness", "none"), ("weaken-fairness", "weak")):
        if operator == "weaken-fairness" and kind != "strong":
            continue
        collector.add(
            operator,
            value,
            (Edit(start, end, f'"{new}"'),),
            f"{where}: {kind} fairness -> {new}",
            None,
        )


# -- entry point -------------------------------------------------------------------------


def enumerate_mutants(source: str, operators: tuple[str, ...] = OPERATORS) -> list[Mutant]:
    """Every mutant of the model module ``source``, in a deterministic order: by function
    (source order), then by site; fairness mutants last."""
    tree = ast.parse(source)
    src = _Source(source)
    flags = _variant_flags(tree)
    out: list[Mutant] = []
    for fn in _design_functions(tree):
        out.extend(_Collector(src, fn, flags).collect())
    for fn in _functions(tree):
        out.extend(_fairness_mutants(src, fn))
    chosen: list[Mutant] = []
    made: set[tuple[Edit, ...]] = set()
    for m in out:
        if m.operator in operators and m.edits not in made:
            made.add(m.edits)
            chosen.append(m)
    ids = [m.id for m in chosen]
    assert len(set(ids)) == len(ids), "mutant ids collide"
    return chosen
