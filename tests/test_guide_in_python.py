"""The guide's steps written as Python tests with the plugin's ``mesh`` fixture.

The same workloads and policy as scenarios/guide, to show that hand-written tests and scenario
files share fixtures, validation and verdicts. They run on whatever mesh the session has: the
simulated one here (pyproject.toml sets it), real clusters with --kube-contexts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_clustermesh.collect import CaseError, CaseFailed
from pytest_clustermesh.errors import ScenarioError
from pytest_clustermesh.fixtures import MeshHandle
from pytest_clustermesh.verdicts import Outcome

GUIDE = Path(__file__).resolve().parents[1] / "scenarios" / "guide"
WORKLOADS: dict[str, dict[str, Any]] = {
    "frontend": {"role": "client", "labels": {"app": "frontend"}},
    "test": {"role": "client", "labels": {"app": "test"}},
    "myapp": {
        "role": "server",
        "labels": {"app": "myapp"},
        "port": 80,
        "service": {
            "name": "myapp-service",
            "annotations": {
                "service.cilium.io/global": "true",
                "service.cilium.io/affinity": "local",
            },
        },
    },
}


@pytest.fixture
def guide(mesh: MeshHandle) -> MeshHandle:
    mesh.deploy(clusters=["cluster1", "cluster2"], workloads=WORKLOADS)
    return mesh


def test_a_policy_is_enforced_only_where_it_is_applied(guide: MeshHandle) -> None:
    guide.set_policies("cluster1", [GUIDE / "network-policy.yaml"])
    guide.expect("cluster1/frontend", "service/myapp-service", "allow", served_by="cluster1")
    guide.expect("cluster1/test", "service/myapp-service", "deny")
    guide.expect("cluster2/test", "service/myapp-service", "allow", served_by="cluster2")
    guide.expect("cluster1/test", "cluster2/myapp", "allow")


def test_from_endpoints_match_other_clusters_unless_local_cluster_is_the_default(
    guide: MeshHandle,
) -> None:
    """docs/cilium-semantics.md s2: remote frontend pods match up to 1.18, not from 1.19."""
    guide.set_policies("cluster1", [GUIDE / "network-policy.yaml"])
    local_only = guide.facts()["cluster1"].default_local_cluster
    guide.expect("cluster2/frontend", "cluster1/myapp", "deny" if local_only else "allow")


def test_the_cluster_label_restricts_sources_to_one_cluster(guide: MeshHandle) -> None:
    guide.set_policies("cluster2", [GUIDE / "network-policy-from-cluster1.yaml"])
    guide.expect("cluster1/frontend", "cluster2/myapp", "allow")
    guide.expect("cluster2/frontend", "cluster2/myapp", "deny")


def test_inline_policies_and_a_failed_expectation_explain_themselves(guide: MeshHandle) -> None:
    deny_all = {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": {"name": "deny-all"},
        "spec": {"endpointSelector": {"matchLabels": {"app": "myapp"}}, "ingress": [{}]},
    }
    guide.set_policies("cluster2", [deny_all])
    assert guide.probe("cluster1/frontend", "cluster2/myapp").outcome is Outcome.DROPPED
    with pytest.raises(CaseFailed, match="expected allow, observed dropped") as failure:
        guide.expect("cluster1/frontend", "cluster2/myapp", "allow")
    assert "default deny (selected by CNP" in str(failure.value)
    guide.set_policies("cluster2", [])
    guide.expect("cluster1/frontend", "cluster2/myapp", "allow")


def test_a_rewritten_policy_file_is_applied_again(guide: MeshHandle, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text((GUIDE / "network-policy.yaml").read_text())
    guide.set_policies("cluster1", [policy])
    guide.expect("cluster1/frontend", "cluster1/myapp", "allow")
    policy.write_text(
        "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: deny-all}\n"
        "spec: {endpointSelector: {matchLabels: {app: myapp}}, ingress: [{}]}\n"
    )
    guide.set_policies("cluster1", [policy])
    guide.expect("cluster1/frontend", "cluster1/myapp", "deny")


def test_deploying_again_replaces_the_workloads(guide: MeshHandle) -> None:
    guide.expect("cluster1/frontend", "cluster1/myapp", "allow")
    only_cluster1 = {**WORKLOADS, "myapp": {**WORKLOADS["myapp"], "clusters": ["cluster1"]}}
    guide.deploy(clusters=["cluster1", "cluster2"], workloads=only_cluster1)
    guide.expect("cluster1/frontend", "cluster1/myapp", "allow")
    with pytest.raises(ScenarioError, match="workload 'myapp' does not run in cluster2"):
        guide.expect("cluster1/frontend", "cluster2/myapp", "allow")
    # The Service now exists in cluster1 only: from cluster2 its name does not resolve, which
    # is an error, not a verdict.
    with pytest.raises(CaseError, match="the probe could not run"):
        guide.expect("cluster2/frontend", "service/myapp-service", "deny")
