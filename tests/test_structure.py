"""The package's shape: imports point one way (no cycles, late imports included), nothing
imports the command line, evaluation needs no model code, and no module outgrows one concept."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "nmt"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def nmt_imports(path: Path, modules: set[str]) -> set[str]:
    """The nmt modules ``path`` imports, at the top or inside functions alike: a late import
    that dodges a cycle is still a cycle."""
    found = set()
    package = (
        module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    )
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in modules}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                target = f"{base}.{alias.name}"
                found.add(target if target in modules else base)
    return {name for name in found if name in modules}


def import_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(path) for path in paths}
    return {module_name(path): nmt_imports(path, modules) - {module_name(path)} for path in paths}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None. A package importing its own submodules
    (``nmt.model`` -> ``nmt.model.seq2seq``) is how packages work and is not followed back up."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph[node]):
            if node.startswith(target + "."):  # a submodule importing its own package
                continue
            if state.get(target) == "open":
                return stack[stack.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_package_has_no_import_cycle() -> None:
    assert find_cycle(import_graph()) is None


def test_the_cycle_finder_sees_a_late_import_cycle() -> None:
    graph = {"nmt.a": {"nmt.b"}, "nmt.b": {"nmt.c"}, "nmt.c": {"nmt.a"}, "nmt.d": set()}
    assert find_cycle(graph) == ["nmt.a", "nmt.b", "nmt.c", "nmt.a"]
    source = PACKAGE / "textio.py"
    assert "nmt.errors" in nmt_imports(source, {"nmt.errors"})


def test_nothing_in_the_package_imports_the_command_line() -> None:
    graph = import_graph()
    importers = {module for module, targets in graph.items() if "nmt.cli" in targets}
    assert importers <= {"nmt.__main__"}  # `python -m nmt` is the command line itself


@pytest.mark.parametrize("module", ["nmt.evaluation", "nmt.textio", "nmt.errors"])
def test_torch_free_modules_import_no_model_code(module: str) -> None:
    graph = import_graph()
    reached, todo = set(), [module]
    while todo:
        current = todo.pop()
        if current not in reached:
            reached.add(current)
            todo.extend(graph[current])
    path = PACKAGE.parent / (module.replace(".", "/") + ".py")
    assert "import torch" not in path.read_text(encoding="utf-8")
    assert reached <= {"nmt.evaluation", "nmt.textio", "nmt.errors"}, reached


MAX_LINES = 420  # "one concept per module, under ~400 lines", with a little slack


def test_no_module_is_over_the_size_limit() -> None:
    sizes = {
        str(path.relative_to(PACKAGE)): len(path.read_text(encoding="utf-8").splitlines())
        for path in PACKAGE.rglob("*.py")
    }
    assert len(sizes) > 40  # the walk found the package
    over = {name: lines for name, lines in sizes.items() if lines > MAX_LINES}
    assert not over, f"over {MAX_LINES} lines: {over}"
