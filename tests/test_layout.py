"""The layout shows the architecture: public modules, layers, no cycles, no private imports.

The import graph is read from the sources (``imports.py``); the layers come from the table in
``docs/architecture.md``, so the page cannot drift from the code.
"""

from __future__ import annotations

import ast
import fnmatch
import re
import subprocess
import sys
from pathlib import Path

import imports
import pytest
from support import ROOT

PUBLIC_MODULES = {
    "runnorm",
    "runnorm.webhooks",
    "runnorm.testing",
    "runnorm.dask",
    "runnorm.hookspecs",
}
ARCHITECTURE = ROOT / "docs" / "architecture.md"
# The only imports of runnorm modules inside functions: a model method calling its own
# serializer, which needs cattrs, kept off ``import runnorm``; the conformance suite's I/O
# checks, which load httpx, kept off pytest's start-up (``runnorm.testing`` is a pytest11
# plugin of every session).
FUNCTION_IMPORTS = {
    ("runnorm._model.run", "Run.to_dict", "runnorm._model.serialization"),
    ("runnorm._model.run", "Run.from_dict", "runnorm._model.serialization"),
    ("runnorm.testing", "ProviderConformance._io", "runnorm._conformance"),
}


def layers() -> list[tuple[str, list[str], set[str]]]:
    """``(layer, module patterns, layers it may import from)`` from the architecture page."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    table = text.split("<!-- layers -->", 1)[1].split("<!-- /layers -->", 1)[0]
    rows = [line for line in table.strip().splitlines()[2:] if line.startswith("|")]
    out = []
    for row in rows:
        layer, modules, allowed = (cell.strip() for cell in row.strip("|").split("|"))
        patterns = re.findall(r"`([^`]+)`", modules)
        uses = {name.strip() for name in allowed.split(",") if name.strip() not in ("", "—")}
        out.append((layer, patterns, uses))
    return out


def layer_of() -> dict[str, str]:
    """Module -> its layer (each module matches the patterns of exactly one layer)."""
    found: dict[str, list[str]] = {}
    for module in imports.modules():
        for layer, patterns, _ in layers():
            if any(fnmatch.fnmatchcase(module, pattern) for pattern in patterns):
                found.setdefault(module, []).append(layer)
    return {module: names[0] for module, names in found.items() if len(names) == 1}


def test_every_module_outside_the_public_list_is_private() -> None:
    for module in imports.modules():
        if module in PUBLIC_MODULES:
            continue
        parts = module.split(".")[1:]
        assert any(part.startswith("_") for part in parts), (
            f"{module} is neither public ({sorted(PUBLIC_MODULES)}) nor private (no leading "
            "underscore in its path)"
        )


def test_every_package_init_says_what_is_inside() -> None:
    for module, path in imports.modules().items():
        if path.name != "__init__.py" or module == "runnorm":
            continue
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        for child in sorted(path.parent.glob("*.py")):
            if child.name != "__init__.py":
                assert f"``{child.stem}``" in doc, f"{module}'s docstring omits {child.stem}"


def test_no_import_cycles_at_module_level() -> None:
    assert imports.cycles(imports.graph()) == []


def test_imports_inside_functions_only_for_the_serializer_and_the_conformance_io() -> None:
    found = {(i.source, i.function, i.target) for i in imports.function_imports()}
    assert found == FUNCTION_IMPORTS


def test_imports_by_name_are_only_the_facade_and_the_cli_loading_on_first_use() -> None:
    assert imports.dynamic_imports() == [
        ("runnorm", "__getattr__"),
        ("runnorm._cli.app", "get_command"),
    ]


def test_no_private_module_imports_the_facade() -> None:
    for module, targets in imports.graph().items():
        if module != "runnorm":
            assert "runnorm" not in targets, f"{module} imports the package root"


def test_the_layer_table_covers_every_module_once() -> None:
    assigned = layer_of()
    missing = sorted(set(imports.modules()) - set(assigned))
    assert not missing, f"modules in no layer of docs/architecture.md, or in several: {missing}"
    names = [layer for layer, _, _ in layers()]
    assert len(names) == len(set(names))
    for layer, _, uses in layers():
        assert uses <= set(names), (layer, uses)


def test_imports_follow_the_layer_table_and_every_allowed_layer_is_used() -> None:
    assigned = layer_of()
    allowed = {layer: uses for layer, _, uses in layers()}
    used: dict[str, set[str]] = {layer: set() for layer in allowed}
    for module, targets in imports.graph().items():
        for target in targets:
            source_layer, target_layer = assigned[module], assigned[target]
            if source_layer == target_layer:
                continue
            assert target_layer in allowed[source_layer], (
                f"{module} ({source_layer}) imports {target} ({target_layer}); "
                f"{source_layer} may import only from {sorted(allowed[source_layer])}"
            )
            used[source_layer].add(target_layer)
    for layer, uses in allowed.items():
        assert used[layer] == uses, f"docs/architecture.md: {layer} lists {sorted(uses)}"


def _closure(start: str) -> set[str]:
    edges = imports.graph()
    seen, todo = {start}, [start]
    while todo:
        for target in edges[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def _third_party(module: str) -> set[str]:
    tree = ast.parse(imports.modules()[module].read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_configuration_does_not_import_the_transport() -> None:
    reached = _closure("runnorm._live.options")
    assert "runnorm._live.http" not in reached
    assert not any("httpx" in _third_party(module) for module in reached)


@pytest.mark.parametrize(
    ("code", "absent"),
    [
        ("import runnorm", {"httpx", "cattrs", "asyncio"}),
        ("import runnorm._cli.app, runnorm._cli.normalize", {"httpx", "cattrs"}),
        ("import runnorm._cli.info", {"httpx", "cattrs"}),
        # The pytest plugin: loaded by every pytest session wherever runnorm is installed.
        ("import runnorm.testing", {"httpx", "cattrs", "runnorm._live.api"}),
    ],
)
def test_startup_leaves_the_heavy_imports_for_first_use(code: str, absent: set[str]) -> None:
    check = f"import sys; {code}; print(sorted(set({sorted(absent)!r}) & set(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]", (code, done.stdout, done.stderr)


def _python_files_of_plugins_and_examples() -> list[Path]:
    return sorted([*(ROOT / "plugins").rglob("*.py"), *(ROOT / "examples").rglob("*.py")])


def _private_imports(path: Path) -> list[str]:
    """The imports in *path* of anything but runnorm's public modules and names."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [
                alias.name
                for alias in node.names
                if alias.name.split(".")[0] == "runnorm" and alias.name not in PUBLIC_MODULES
            ]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "runnorm":
            if node.module not in PUBLIC_MODULES:
                found.append(f"{node.module}")
            found += [f"{node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
    return found


def test_plugins_and_examples_import_only_public_names() -> None:
    files = _python_files_of_plugins_and_examples()
    assert len(files) > 6
    for path in files:
        assert _private_imports(path) == [], path.relative_to(ROOT)
        assert "runnorm._" not in path.read_text(encoding="utf-8"), path.relative_to(ROOT)


def test_the_cycle_finder_finds_cycles() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert imports.cycles(edges) == [["a", "b", "c"]]
    assert imports.cycles({"a": {"b"}, "b": set()}) == []
