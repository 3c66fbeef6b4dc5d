"""Kubernetes ClusterNetworkPolicy through the Kubernetes backend against emulated API servers
(docs/cilium-semantics.md s18): applied only with --allow-clusterwide-policies, enforced by the
emulated Cilium 1.20 with enable-k8s-cluster-network-policy, counted as a policy change only
where the agents read it, and removed with the run's other objects."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from clustermesh_emulator import Emulator
from clustermesh_emulator.config import default_clusters
from clustermesh_emulator.mesh import MirroredMesh
from pytest_clustermesh.backend import Deployment, PolicyDoc, ownership_labels
from pytest_clustermesh.errors import PolicyError
from pytest_clustermesh.kubernetes import KubernetesMesh
from pytest_clustermesh.verdicts import Outcome, Verdict

from .conftest import make_backend
from .kubeworld import C1, to_pod, world

KCNP = "ClusterNetworkPolicy"
GROUP, VERSION, PLURAL = "policy.networking.k8s.io", "v1alpha2", "clusternetworkpolicies"


def kcnp(deployment: Deployment, action: str, name: str = "guard") -> PolicyDoc:
    name = f"{name}-{deployment.key}"
    namespace = deployment.namespaces[0].name
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KCNP,
        "metadata": {"name": name, "labels": ownership_labels(deployment)},
        "spec": {
            "tier": "Admin",
            "priority": 10,
            "subject": {
                "pods": {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": namespace}
                    },
                    "podSelector": {"matchLabels": {"app": "backend"}},
                }
            },
            "ingress": [
                {
                    "action": action,
                    "from": [
                        {
                            "pods": {
                                "namespaceSelector": {},
                                "podSelector": {"matchLabels": {"app": "frontend"}},
                            }
                        }
                    ],
                }
            ],
        },
    }
    return PolicyDoc(KCNP, name, None, body)


@pytest.fixture(scope="module")
def emulator_120() -> Iterator[Emulator]:
    clusters = default_clusters(
        cilium_version="1.20.0", options={"enable-k8s-cluster-network-policy": "true"}
    )
    with Emulator(clusters) as emulated:
        yield emulated


def test_an_admin_deny_drops_and_teardown_removes_it(emulator_120: Emulator) -> None:
    with MirroredMesh(emulator_120, seed=1) as mirror:
        backend = make_backend(str(emulator_120.kubeconfig_path), allow_clusterwide=True)
        deployment = world()
        backend.deploy(deployment)
        try:
            probes = [
                to_pod("fe", C1, C1, "be", 8080, Verdict.DENY),
                to_pod("tester", C1, C1, "be", 8080),
            ]
            backend.set_policies(deployment, C1, [kcnp(deployment, "Deny")])
            results = backend.probe(deployment, probes)
            assert [r.outcome for r in results] == [Outcome.DROPPED, Outcome.ALLOWED]
            assert results[0].evidence is not None  # Hubble's record of the policy drop
            # Accept instead: the change is a new policy revision the backend waits for.
            backend.set_policies(deployment, C1, [kcnp(deployment, "Accept")])
            assert backend.probe(deployment, probes[:1])[0].outcome is Outcome.ALLOWED
            assert not mirror.world().problems
        finally:
            backend.teardown(deployment)
            backend.close()
        remaining = [o for o in _list(emulator_120) if deployment.key in o["metadata"]["name"]]
        assert remaining == []


def _list(emulator: Emulator) -> list[dict[str, Any]]:
    from kubernetes import client, config

    found: list[dict[str, Any]] = []
    for cluster in emulator:
        api = config.new_client_from_config(  # type: ignore[no-untyped-call]
            str(emulator.kubeconfig_path), context=cluster.context
        )
        custom = client.CustomObjectsApi(api)
        listed = custom.list_cluster_custom_object(GROUP, VERSION, PLURAL)
        assert isinstance(listed, dict)
        found += listed["items"]
    return found


def test_without_allow_clusterwide_it_is_refused_before_any_write(
    backend: KubernetesMesh, deployed: Deployment, emulator: Emulator
) -> None:
    with pytest.raises(PolicyError, match="--allow-clusterwide-policies"):
        backend.set_policies(deployed, C1, [kcnp(deployed, "Deny")])
    assert [o for o in _list(emulator) if deployed.key in o["metadata"]["name"]] == []


def test_a_cluster_that_does_not_enforce_it_holds_it_without_waiting(
    emulator: Emulator, mirror: MirroredMesh, kubeconfig: str
) -> None:
    # The default emulated clusters run Cilium 1.18: the agents do not read the policy, so its
    # write is no revision to wait for, and it drops nothing (cilium#47227).
    backend = make_backend(kubeconfig, allow_clusterwide=True)
    deployment = world()
    backend.deploy(deployment)
    try:
        backend.set_policies(deployment, C1, [kcnp(deployment, "Deny")])
        result = backend.probe(deployment, [to_pod("fe", C1, C1, "be", 8080)])[0]
        assert result.outcome is Outcome.ALLOWED, result.detail
    finally:
        backend.teardown(deployment)
        backend.close()
    assert [o for o in _list(emulator) if deployment.key in o["metadata"]["name"]] == []
