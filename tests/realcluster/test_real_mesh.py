"""The shipped scenarios on a real Cilium Cluster Mesh (opt-in).

Run with ``pytest tests/realcluster --kube-contexts=kind-cluster1,kind-cluster2``; without
``--kube-contexts`` these tests are skipped with that reason (see conftest.py at the top).
docs/real-clusters.md says how to bring up two kind clusters joined by Cluster Mesh.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.realcluster
REPO = Path(__file__).resolve().parents[2]


def _run_scenarios(config: pytest.Config, *paths: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest", *paths, "-p", "no:cacheprovider", "-rfEs",
               f"--kube-contexts={config.getoption('clustermesh_kube_contexts')}"]  # fmt: skip
    kubeconfig = config.getoption("clustermesh_kubeconfig", default=None)
    if kubeconfig:
        command.append(f"--kubeconfig={kubeconfig}")
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=3600)


def test_the_guide_holds_on_the_real_mesh(pytestconfig: pytest.Config) -> None:
    result = _run_scenarios(pytestconfig, "scenarios/guide")
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]


def test_the_namespace_scenario_holds_on_the_real_mesh(pytestconfig: pytest.Config) -> None:
    result = _run_scenarios(pytestconfig, "scenarios/namespaces")
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]


def test_the_mesh_is_healthy_and_its_evidence_readable(pytestconfig: pytest.Config) -> None:
    """Preflight on the real mesh: every pair of clusters ready, the agents readable by exec,
    Hubble running, so revisions are waited for and every deny is proven (no notices)."""
    from pytest_clustermesh.kubernetes import KubernetesMesh, KubernetesSettings
    from pytest_clustermesh.session import CHOICE_KEY

    choice = pytestconfig.stash[CHOICE_KEY]
    backend = KubernetesMesh(
        choice.contexts, choice.kubeconfig, KubernetesSettings(run_id="realcluster-preflight")
    )
    try:
        facts = backend.facts()
        assert set(facts) == set(choice.contexts)
        assert backend.notices == []
    finally:
        backend.close()
