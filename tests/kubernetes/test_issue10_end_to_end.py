"""Named ports, per-cluster Service annotations and HTTP headers/host, through the Kubernetes
backend against the emulated API servers (docs/cilium-semantics.md s5, s7): the container port
names, each cluster's Service annotations and curl's headers reach the clusters, and the
emulated Cilium (the model reading those objects back) answers as the model predicts."""

from __future__ import annotations

import dataclasses

from clustermesh_emulator.mesh import MirroredMesh
from pytest_clustermesh.backend import HttpRequest, PortSpec, ServiceSpec, WorkloadSpec
from pytest_clustermesh.kubernetes import KubernetesMesh
from pytest_clustermesh.verdicts import Outcome

from .kubeworld import C1, C2, cnp, to_pod, to_service, world


def _be(deployment_be: WorkloadSpec) -> WorkloadSpec:
    return dataclasses.replace(
        deployment_be,
        ports=(PortSpec(8080, name="web"), PortSpec(9090)),
        service=ServiceSpec(
            "be",
            {"service.cilium.io/global": "true"},
            {C1: {"service.cilium.io/shared": "false"}},
        ),
    )


def test_named_ports_annotations_and_headers_reach_the_mesh(
    backend: KubernetesMesh, mirror: MirroredMesh
) -> None:
    base = world()
    be = next(w for w in base.workloads if w.name == "be")
    deployment = world(be=_be(be))
    backend.deploy(deployment)
    try:
        # cluster1's Service does not share its backends: cluster2 reaches only its own, while
        # cluster1 (its own Service global, cluster2's shared) reaches both.
        for source, wanted in ((C1, {C1, C2}), (C2, {C2})):
            results = backend.probe(deployment, [to_service("tester", source, "be", 9090)] * 16)
            assert {c for r in results for c in r.served_by} == wanted, source
        policy = cnp(
            deployment,
            {
                "endpointSelector": {"matchLabels": {"app": "backend"}},
                "ingress": [
                    {
                        "fromEndpoints": [{"matchLabels": {"app": "frontend"}}],
                        "toPorts": [
                            {
                                "ports": [{"port": "web"}],
                                "rules": {"http": [{"headers": ["X-Token: s3cret"]}]},
                            }
                        ],
                    }
                ],
            },
        )
        backend.set_policies(deployment, C2, [policy])
        token = HttpRequest("GET", "/", None, (("X-Token", "s3cret"),))
        wrong = HttpRequest("GET", "/", None, (("X-Token", "nope"),))
        probes = [
            dataclasses.replace(to_pod("fe", C2, C2, "be", 8080), http=token),
            dataclasses.replace(to_pod("fe", C2, C2, "be", 8080), http=wrong),
            to_pod("fe", C2, C2, "be", 9090),
        ]
        outcomes = [r.outcome for r in backend.probe(deployment, probes)]
        assert outcomes == [Outcome.ALLOWED, Outcome.L7_DENIED, Outcome.DROPPED]
        assert not mirror.world().problems
    finally:
        backend.teardown(deployment)
