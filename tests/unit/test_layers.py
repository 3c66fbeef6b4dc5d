"""The core imports neither pytest nor the Kubernetes client (kopf's import-linter idea, as a
test): the scenario model, the policy model, the verdicts and the simulated mesh must stay
usable outside pytest and without a cluster."""

from __future__ import annotations

import subprocess
import sys

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
