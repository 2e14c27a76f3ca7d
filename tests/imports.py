"""The import graph of the ``runnorm`` package, read from its sources (nothing is imported).

Edges are the imports a module runs when it is imported: module level, ``try`` and ``if``
blocks included, ``if TYPE_CHECKING:`` blocks (never run) and imports inside functions left
out; those are listed apart (:func:`function_imports`).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import attrs

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "runnorm"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name (packages by their ``__init__``)."""
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


@attrs.frozen
class Import:
    source: str
    target: str
    line: int
    function: str | None  # the enclosing function's qualified name, None at module level


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _targets(node: ast.Import | ast.ImportFrom, known: set[str]) -> Iterator[str]:
    """The runnorm modules *node* imports (``from runnorm import webhooks`` is the module)."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name == "runnorm" or alias.name.startswith("runnorm."):
                yield alias.name
        return
    base = node.module or ""
    if node.level:
        raise AssertionError(f"relative import at line {node.lineno}: runnorm imports absolutely")
    if not (base == "runnorm" or base.startswith("runnorm.")):
        return
    for alias in node.names:
        candidate = f"{base}.{alias.name}"
        yield candidate if candidate in known else base


def imports_of(name: str, path: Path, known: set[str]) -> list[Import]:
    found: list[Import] = []

    def visit(nodes: list[ast.stmt], function: str | None, scope: str) -> None:
        for node in nodes:
            if isinstance(node, ast.Import | ast.ImportFrom):
                found.extend(
                    Import(name, target, node.lineno, function) for target in _targets(node, known)
                )
            elif isinstance(node, ast.If) and _is_type_checking(node):
                visit(node.orelse, function, scope)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                qualified = f"{scope}{node.name}"
                visit(node.body, qualified, qualified + ".")
            elif isinstance(node, ast.ClassDef):
                visit(node.body, function, f"{scope}{node.name}.")
            else:
                for field in ("body", "orelse", "finalbody", "handlers"):
                    children = getattr(node, field, None)
                    if isinstance(children, list):
                        visit([c for c in children if isinstance(c, ast.stmt)], function, scope)
                for handler in getattr(node, "handlers", []) or []:
                    visit(handler.body, function, scope)

    visit(ast.parse(path.read_text(), str(path)).body, None, "")
    return found


def _called_name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def dynamic_imports() -> list[tuple[str, str | None]]:
    """``(module, enclosing function)`` of every call of ``import_module`` or ``__import__``:
    imports by name, which the graph cannot follow."""
    found: set[tuple[str, str | None]] = set()

    def visit(node: ast.AST, module: str, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Call) and _called_name(child) in (
                "import_module",
                "__import__",
            ):
                found.add((module, function))
            inner = (
                child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else None
            )
            visit(child, module, inner or function)

    for name, path in modules().items():
        visit(ast.parse(path.read_text(), str(path)), name, None)
    return sorted(found, key=str)


def all_imports() -> list[Import]:
    found = modules()
    known = set(found)
    return [imp for name, path in found.items() for imp in imports_of(name, path, known)]


def graph() -> dict[str, set[str]]:
    """Module -> the runnorm modules it imports at module level (itself excluded)."""
    edges: dict[str, set[str]] = {name: set() for name in modules()}
    for imp in all_imports():
        if imp.function is None and imp.target != imp.source:
            edges[imp.source].add(imp.target)
    return edges


def function_imports() -> list[Import]:
    """Imports of runnorm modules inside functions (run on the first call, not at import)."""
    return [imp for imp in all_imports() if imp.function is not None]


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            connect(node)
    return sorted(found)
