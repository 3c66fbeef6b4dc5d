"""A small two-cluster world for model tests: the setup of docs/cilium-semantics.md's facts.

Clusters ``c1`` and ``c2`` each run, in namespace ``demo`` (labels ``team=a``): ``fe``
(app=frontend), ``tester`` (app=test), ``be`` (app=backend, listening on 8080 named ``http``
and 80 named ``web``); in namespace ``other`` (labels ``team=b``): ``fe-other``
(app=frontend). ``echo`` serves port 80, named ``http`` (so ``http`` stands for two numbers in
the mesh), behind Service ``echo``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pytest_clustermesh.backend import (
    Deployment,
    HttpRequest,
    NamespaceSpec,
    PodTarget,
    PolicyDoc,
    PortSpec,
    Probe,
    ServiceSpec,
    ServiceTarget,
    WorkloadSpec,
)
from pytest_clustermesh.simulated import SimulatedMesh, simulated_facts
from pytest_clustermesh.verdicts import ProbeResult

CLUSTERS = ("c1", "c2")


def world(
    echo_annotations: Mapping[str, str] | None = None,
    echo_replicas: Mapping[str, int] | None = None,
) -> Deployment:
    demo = NamespaceSpec("demo", "demo", {"team": "a"})
    other = NamespaceSpec("other", "other", {"team": "b"})

    def client(name: str, ns: str, labels: dict[str, str]) -> WorkloadSpec:
        return WorkloadSpec(name, "client", ns, labels, CLUSTERS)

    return Deployment(
        "world",
        CLUSTERS,
        (demo, other),
        (
            client("fe", "demo", {"app": "frontend"}),
            client("tester", "demo", {"app": "test"}),
            client("fe-other", "other", {"app": "frontend"}),
            WorkloadSpec(
                "be",
                "server",
                "demo",
                {"app": "backend"},
                CLUSTERS,
                ports=(PortSpec(8080, name="http"), PortSpec(80, name="web")),
            ),
            WorkloadSpec(
                "echo",
                "server",
                "demo",
                {"app": "echo"},
                CLUSTERS,
                ports=(PortSpec(80, name="http"),),
                service=ServiceSpec("echo", dict(echo_annotations or {})),
                replicas_in=dict(echo_replicas or {}),
            ),
        ),
    )


def cnp(spec: Mapping[str, Any], name: str = "p", namespace: str = "demo") -> dict[str, Any]:
    return {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": dict(spec),
    }


def ccnp(spec: Mapping[str, Any], name: str = "cp") -> dict[str, Any]:
    return {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumClusterwideNetworkPolicy",
        "metadata": {"name": name},
        "spec": dict(spec),
    }


def knp(spec: Mapping[str, Any], name: str = "k", namespace: str = "demo") -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": dict(spec),
    }


def doc(body: Mapping[str, Any]) -> PolicyDoc:
    meta = body["metadata"]
    return PolicyDoc(body["kind"], meta["name"], meta.get("namespace"), body)


def mesh(
    version: str = "1.19",
    options: Mapping[str, str] | None = None,
    policies: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    deployment: Deployment | None = None,
) -> tuple[SimulatedMesh, Deployment]:
    sim = SimulatedMesh(simulated_facts(CLUSTERS, version, options))
    deployment = deployment or world()
    sim.deploy(deployment)
    for cluster, docs in (policies or {}).items():
        sim.set_policies(deployment, cluster, [doc(d) for d in docs])
    return sim, deployment


def probe(
    sim: SimulatedMesh,
    deployment: Deployment,
    source: str,
    target: str,
    port: int = 8080,
    *,
    protocol: str = "TCP",
    http: tuple[Any, ...] | None = None,
) -> ProbeResult:
    src_cluster, src = source.split("/")
    kind, name = target.split("/")
    tgt = ServiceTarget(name) if kind == "service" else PodTarget(kind, name)
    request = HttpRequest(*http) if http else None
    return sim.predict(deployment, Probe(src_cluster, src, tgt, port, protocol, request))  # type: ignore[arg-type]
