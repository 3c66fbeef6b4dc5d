"""The core imports neither pytest nor the Kubernetes client (kopf's import-linter idea, as a
test): the scenario model, the policy model, the verdicts and the simulated mesh must stay
usable outside pytest and without a cluster."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

CORE = [
    "pytest_clustermesh.backend",
    "pytest_clustermesh.errors",
    "pytest_clustermesh.facts",
    "pytest_clustermesh.verdicts",
    "pytest_clustermesh.yamlmarks",
    "pytest_clustermesh.policy",
    "pytest_clustermesh.policy.services",
    "pytest_clustermesh.scenario",
    "pytest_clustermesh.simulated",
    "pytest_clustermesh.runner",
    "pytest_clustermesh.upgradeplan",
]


@pytest.mark.parametrize("module", CORE)
def test_core_module_imports_neither_pytest_nor_kubernetes(module: str) -> None:
    code = (
        f"import sys, {module}\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('pytest', '_pytest', "
        "'kubernetes'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"{module} pulls in {out.stdout.strip()}"


# -- the import graph ---------------------------------------------------------------------------

PACKAGE = Path(__file__).resolve().parents[2] / "pytest_clustermesh"


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports, function-local and TYPE_CHECKING imports
    included: a loop held together by a local import is still a loop."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    origin = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    origin = node.module or ""
                # ``from pkg import mod`` imports the module; ``from pkg import Name`` the package.
                targets = [
                    f"{origin}.{alias.name}" if f"{origin}.{alias.name}" in modules else origin
                    for alias in node.names
                ]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return cycles


def test_the_package_has_no_import_loops() -> None:
    assert import_cycles(import_graph()) == []


def test_the_loop_finder_finds_a_loop() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert import_cycles(graph) == [["a", "b", "c"]]


BACKENDS = ("pytest_clustermesh.kubernetes", "pytest_clustermesh.simulated")


def test_no_backend_module_imports_the_scenario_layer() -> None:
    """A backend is handed rendered values through the contract in ``backend.py``; it never
    sees a scenario (docs/design.md, "The backend interface")."""
    offenders = {
        (module, imported)
        for module, imports in import_graph().items()
        if module.startswith(BACKENDS)
        for imported in imports
        if imported.startswith("pytest_clustermesh.scenario")
    }
    assert offenders == set()


def test_nothing_outside_the_scenario_layer_uses_its_private_names() -> None:
    """The scenario layer's seam is what ``pytest_clustermesh.scenario`` exports."""
    offenders = []
    for name, path in _modules().items():
        if name.startswith("pytest_clustermesh.scenario"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and "scenario." in node.module:
                offenders.append(f"{name} imports from {node.module}")
            if isinstance(node, ast.ImportFrom) and node.module and "scenario" in node.module:
                offenders += [
                    f"{name} imports {alias.name}"
                    for alias in node.names
                    if alias.name.startswith("_")
                ]
    assert offenders == []
