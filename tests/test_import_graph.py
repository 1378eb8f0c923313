"""Imports go one way: the package's import graph, read from the source, has no cycle.

Every `import` / `from ... import` statement counts, wherever it sits: at module level,
under `if TYPE_CHECKING:`, or deferred inside a function. So a cycle cannot hide behind a
deferred import. An edge goes to the most specific module named (`from clapldm.x import y`
is an edge to `clapldm.x.y` when that is a module, else to `clapldm.x`); the implicit
import of parent packages is not an edge.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parent.parent / "src"
PACKAGE = "clapldm"


def module_files(root: Path = SOURCE / PACKAGE) -> dict[str, Path]:
    """Module name -> file, for every .py file of the package."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def imported_names(module: str, path: Path) -> Iterator[str]:
    """Every module name an import statement in `path` names (absolute, resolved)."""
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            yield base
            for alias in node.names:
                yield f"{base}.{alias.name}"


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports."""
    modules = module_files()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for target in imported_names(name, path):
            if target in modules and target != name:
                graph[name].add(target)
    # `from a import b` yields both a and a.b: keep only the most specific when b is a module
    for name, targets in graph.items():
        graph[name] = {
            t for t in targets if not any(o.startswith(t + ".") and o in targets for o in targets)
        }
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_the_package_import_graph_has_no_cycle() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_the_graph_sees_deferred_and_type_checking_imports(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from pkg import b\n")
    (package / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import f\n"
    )
    (package / "c.py").write_text("import pkg.a\n")
    modules = module_files(package)
    graph = {name: set() for name in modules}
    for name, path in modules.items():
        graph[name] = {t for t in imported_names(name, path) if t in modules and t != name}
    assert graph["pkg.a"] >= {"pkg.b"} and graph["pkg.b"] >= {"pkg.a"}
    assert cycles({k: v - {"pkg"} for k, v in graph.items()}) == [["pkg.a", "pkg.b"]]


@pytest.mark.parametrize(
    ("low", "high"),
    [
        ("clapldm.request", "clapldm.pipeline"),
        ("clapldm.editing", "clapldm.pipeline"),
        ("clapldm.components", "clapldm.pipeline"),
        ("clapldm.models.clap_base", "clapldm.models.clap"),
    ],
)
def test_layers_do_not_import_upwards(low: str, high: str) -> None:
    """The leaves of the layering named in README "How the code is organised"."""
    graph = import_graph()
    reachable, todo = set(), [low]
    while todo:
        for target in graph[todo.pop()]:
            if target not in reachable:
                reachable.add(target)
                todo.append(target)
    assert high not in reachable, f"{low} reaches {high}"


def test_models_never_import_checkpoints() -> None:
    graph = import_graph()
    wrong = {
        (name, target)
        for name, targets in graph.items()
        if name.startswith("clapldm.models")
        for target in targets
        if target.startswith("clapldm.checkpoints")
    }
    assert not wrong
