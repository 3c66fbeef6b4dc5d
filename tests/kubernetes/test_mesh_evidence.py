"""The backend's verdicts rest on Cilium's evidence: mesh health at preflight, Hubble's record of
every drop, and, where denies are inferred from timeouts, a path proven open between clusters.

Through the emulated agents (clustermesh_emulator/agents.py), broken by MeshFaults."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from clustermesh_emulator import Emulator
from clustermesh_emulator.mesh import MirroredMesh
from clustermesh_emulator.meshfaults import MeshFaults
from pytest_clustermesh.backend import Deployment
from pytest_clustermesh.errors import BackendError
from pytest_clustermesh.kubernetes import KubernetesMesh
from pytest_clustermesh.verdicts import Outcome, Proof, Verdict

from .conftest import make_backend
from .kubeworld import BACKEND_FROM_FRONTEND, C1, C2, cnp, to_pod

PARTITION = MeshFaults(partitions=frozenset({frozenset({"cluster1", "cluster2"})}))
TESTER_EGRESS_DENIED = {
    "endpointSelector": {"matchLabels": {"app": "test"}},
    "egressDeny": [{"toEndpoints": [{"matchLabels": {"app": "backend"}}]}],
}


def hubble_calls(mirror: MirroredMesh) -> list[str]:
    return [cluster for cluster, argv in mirror.agents.calls if argv[:1] == ["hubble"]]


def test_an_ingress_drop_is_proven_by_the_destination_nodes_hubble(
    mirror: MirroredMesh, backend: KubernetesMesh, deployed: Deployment
) -> None:
    backend.set_policies(deployed, C1, [cnp(deployed, BACKEND_FROM_FRONTEND)])
    mirror.agents.calls.clear()
    [result] = backend.probe(deployed, [to_pod("tester", C2, C1, "be", 8080, Verdict.DENY)])
    assert result.outcome is Outcome.DROPPED, result
    evidence = result.evidence
    assert evidence is not None and evidence.proof is Proof.PROVEN
    assert evidence.reason == "POLICY_DENIED" and evidence.policies == ()
    assert "cluster1/cluster1-control-plane (ingress)" in evidence.where
    assert "Hubble: proven by hubble: POLICY_DENIED" in result.detail
    assert hubble_calls(mirror) == ["cluster1"]  # found where the target runs: one exec


def test_an_egress_deny_is_found_on_the_source_node_and_names_its_policy(
    mirror: MirroredMesh, backend: KubernetesMesh, deployed: Deployment
) -> None:
    backend.set_policies(deployed, C2, [cnp(deployed, TESTER_EGRESS_DENIED, "no-egress")])
    mirror.agents.calls.clear()
    [result] = backend.probe(deployed, [to_pod("tester", C2, C1, "be", 8080, Verdict.DENY)])
    assert result.outcome is Outcome.DROPPED, result
    evidence = result.evidence
    assert evidence is not None and evidence.reason == "POLICY_DENY"
    namespace = deployed.namespaces[0].name
    assert evidence.policies == (f"CiliumNetworkPolicy {namespace}/no-egress",)
    assert "(egress)" in evidence.where
    assert hubble_calls(mirror) == ["cluster1", "cluster2"]  # target's node, then source's


def test_a_partitioned_pair_is_no_deny_but_a_local_deny_still_is(
    mirror: MirroredMesh, backend: KubernetesMesh, deployed: Deployment
) -> None:
    for cluster in (C1, C2):
        backend.set_policies(deployed, cluster, [cnp(deployed, BACKEND_FROM_FRONTEND)])
    mirror.mesh_faults = PARTITION
    across, local = backend.probe(
        deployed,
        [
            to_pod("tester", C2, C1, "be", 8080, Verdict.DENY),
            to_pod("tester", C1, C1, "be", 8080, Verdict.DENY),
        ],
    )
    assert across.outcome is Outcome.PROBE_ERROR
    assert "recorded no drop of this connection" in across.detail
    assert "is the path between kind-cluster1 and kind-cluster2 down?" in across.detail
    assert local.outcome is Outcome.DROPPED and local.evidence is not None


def test_a_drop_for_another_reason_is_an_error_naming_it(
    mirror: MirroredMesh, backend: KubernetesMesh, deployed: Deployment
) -> None:
    backend.set_policies(deployed, C1, [cnp(deployed, BACKEND_FROM_FRONTEND)])
    mirror.mesh_faults = MeshFaults(drops={("cluster2", "cluster1"): "STALE_OR_UNROUTABLE_IP"})
    [result] = backend.probe(deployed, [to_pod("tester", C2, C1, "be", 8080, Verdict.DENY)])
    assert result.outcome is Outcome.PROBE_ERROR
    assert "with reason STALE_OR_UNROUTABLE_IP, which is not a policy verdict" in result.detail


def test_without_hubble_a_timeout_is_no_deny_unless_asked(
    kubeconfig: str, mirror: MirroredMesh, deployed: Deployment
) -> None:
    mirror.mesh_faults = MeshFaults(hubble_disabled=frozenset({"cluster1", "cluster2"}))
    probe = to_pod("tester", C1, C1, "be", 8080, Verdict.DENY)
    strict = make_backend(kubeconfig)
    inferring = make_backend(kubeconfig, deny_evidence="timeout")
    try:
        for backend in (strict, inferring):
            backend.facts()
            backend.set_policies(deployed, C1, [cnp(deployed, BACKEND_FROM_FRONTEND)])
        [refused] = strict.probe(deployed, [probe])
        [inferred] = inferring.probe(deployed, [probe])
    finally:
        strict.close()
        inferring.close()
    assert any("Hubble cannot be read" in notice for notice in strict.notices)
    assert refused.outcome is Outcome.PROBE_ERROR
    assert "Hubble is off in kind-cluster1" in refused.detail
    assert "--deny-evidence=timeout" in refused.detail
    assert inferred.outcome is Outcome.DROPPED
    assert inferred.evidence is not None and inferred.evidence.proof is Proof.INFERRED


def test_an_inferred_deny_across_clusters_needs_the_path_proven_open(
    kubeconfig: str, mirror: MirroredMesh, deployed: Deployment
) -> None:
    """Without Hubble, with timeouts taken as denies: the step has no allowed probe from
    cluster2 to cluster1, so control probes are added. They get through (fe may reach be), so
    the inferred deny stands; once the pair is partitioned, nothing gets through, and the
    timeout is an error."""
    off = MeshFaults(hubble_disabled=frozenset({"cluster1", "cluster2"}))
    mirror.mesh_faults = off
    inferring = make_backend(kubeconfig, deny_evidence="timeout")
    probe = to_pod("tester", C2, C1, "be", 8080, Verdict.DENY)
    try:
        inferring.facts()
        inferring.set_policies(deployed, C1, [cnp(deployed, BACKEND_FROM_FRONTEND)])
        [open_path] = inferring.probe(deployed, [probe])
        mirror.mesh_faults = MeshFaults(
            hubble_disabled=off.hubble_disabled, partitions=PARTITION.partitions
        )
        [cut] = inferring.probe(deployed, [probe])
    finally:
        inferring.close()
    assert open_path.outcome is Outcome.DROPPED, open_path
    assert cut.outcome is Outcome.PROBE_ERROR, cut
    assert "nothing got from kind-cluster2 to kind-cluster1" in cut.detail
    assert "control probes kind-cluster2/fe->kind-cluster1/be:8080: dropped" in cut.detail


def test_a_remote_cluster_not_ready_stops_preflight_with_one_line_per_pair(
    kubeconfig: str, mirror: MirroredMesh
) -> None:
    mirror.mesh_faults = MeshFaults(not_ready=frozenset({("cluster1", "cluster2")}))
    backend = make_backend(kubeconfig)
    try:
        with pytest.raises(BackendError) as caught:
            backend.facts()
    finally:
        backend.close()
    lines = str(caught.value).splitlines()
    assert lines[0].startswith("mesh health: clusters do not see each other ready")
    assert lines[1:] == [
        f"{C1} -> {C2}: agent {_agent(mirror, 'cluster1')} says cluster2 is not connected: "
        "etcd: 0/1 connected, leases=0, lock leases=0, has-quorum=false: "
        "https://cluster2.mesh.cilium.io:2379 - context deadline exceeded"
    ]


def test_preflight_waits_for_the_mesh_to_be_ready_when_asked(
    kubeconfig: str, mirror: MirroredMesh
) -> None:
    mirror.mesh_faults = MeshFaults(not_ready=frozenset({("cluster2", "cluster1")}))
    healed = threading.Timer(0.4, lambda: setattr(mirror, "mesh_faults", MeshFaults()))
    healed.start()
    backend = make_backend(kubeconfig, mesh_ready_timeout=10)
    started = time.monotonic()
    try:
        assert set(backend.facts()) == {C1, C2}
    finally:
        backend.close()
        healed.cancel()
    assert 0.3 < time.monotonic() - started < 8


def _agent(mirror: Any, cluster: str) -> str:
    emulator: Emulator = mirror._emulator
    [pod] = emulator[cluster].list_objects("pods", "kube-system", labels="k8s-app=cilium")
    return str(pod["metadata"]["name"])
