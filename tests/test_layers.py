"""The layering of architecture.md, checked on the source: each folder has one job and imports
only the folders below it on the ladder ``cordwatch -> flows -> tasks -> services -> db -> pathway``.

``pathway`` is the pure core, ``db`` every table and statement, ``services`` the intake, watch,
alerts, letters, reports and views between them (with the settings), ``tasks`` one effect each,
``flows`` the Prefect flows, ``cordwatch`` the command line, ``serve`` and the Prefect server
helper. No carve-outs.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LADDER = ("cordwatch", "flows", "tasks", "services", "db", "pathway")
"""Top to bottom: a folder may import itself and any folder after it."""
PACKAGES = LADDER

MAY_IMPORT = {layer: set(LADDER[index:]) for index, layer in enumerate(LADDER)}


def _layer(path: Path) -> str:
    return path.relative_to(ROOT).as_posix().split("/")[0]


def _imported_names(tree: ast.AST) -> set[str]:
    """Every name a file imports, anywhere in it (a function-level import counts: it hides a
    dependency, it does not remove one), and for ``from m import n`` also ``m.n`` (the module,
    when ``n`` is one). Absolute imports only: the project uses no others."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _imports(tree: ast.AST) -> set[str]:
    """The project modules (and names in them) a file imports."""
    return {name for name in _imported_names(tree) if name.split(".")[0] in PACKAGES}


SOURCES = sorted(
    path
    for package in PACKAGES
    for path in (ROOT / package).rglob("*.py")
    if "migrations" not in path.parts
)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_each_module_imports_only_the_layers_below_it(path: Path) -> None:
    layer = _layer(path)
    imported = _imports(ast.parse(path.read_text(encoding="utf-8")))

    beyond = sorted(name for name in imported if name.split(".")[0] not in MAY_IMPORT[layer])

    assert beyond == [], f"{layer} may import {sorted(MAY_IMPORT[layer])} only"


def _is_flow(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return isinstance(target, ast.Name) and target.id == "flow"


def test_every_flow_is_async() -> None:
    """architecture.md: a sync flow costs about 1 s at exit, an async one about 0.13 s."""
    flows = {}
    for path in sorted((ROOT / "flows").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and any(
                _is_flow(d) for d in node.decorator_list
            ):
                flows[f"{path.name}:{node.name}"] = isinstance(node, ast.AsyncFunctionDef)

    assert len(flows) >= 7
    assert [name for name, is_async in flows.items() if not is_async] == []


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in SOURCES}


def _imported_modules(tree: ast.AST) -> set[str]:
    """The project modules a file imports (``from package import module`` names the module)."""
    return {name for name in _imported_names(tree) if name in MODULES}


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module, or of one importing itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan's algorithm; the graph has a few hundred nodes
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in sorted(graph[module]):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1 or module in graph[module]:
                groups.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return groups


def test_no_modules_import_each_other() -> None:
    """A circle (``services.alerts`` and ``services.intake`` once) means neither module is
    below the other: the shared part belongs lower down, in db/ or pathway/."""
    graph = {
        name: _imported_modules(ast.parse(path.read_text(encoding="utf-8"))) - {name}
        for name, path in MODULES.items()
    }

    assert _circles(graph) == []


def test_the_circle_check_finds_a_circle_through_a_function_level_import() -> None:
    function_level = ast.parse("def later() -> None:\n    from services.alerts import x\n")
    graph = {
        "services.intake": _imported_modules(function_level),
        "services.alerts": {"services.intake"},
        "pathway.alerts": set(),
    }

    assert _circles(graph) == [["services.alerts", "services.intake"]]
