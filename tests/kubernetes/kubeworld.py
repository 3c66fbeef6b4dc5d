"""A small deployment for the Kubernetes backend's end-to-end tests, and policies over it.

Clusters are the emulator's contexts. Namespace ``demo``: clients ``fe`` (app=frontend) and
``tester`` (app=test) in both clusters; server ``be`` (app=backend) on 8080 in both clusters,
behind the global Service ``be``; server ``solo`` (app=solo) on 80 in cluster 1 only, behind the
Service ``solo``.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from pytest_clustermesh.backend import (
    Deployment,
    NamespaceSpec,
    PodTarget,
    PolicyDoc,
    PortSpec,
    Probe,
    ServiceSpec,
    ServiceTarget,
    WorkloadSpec,
    ownership_labels,
)
from pytest_clustermesh.errors import Location
from pytest_clustermesh.verdicts import Verdict

C1, C2 = "kind-cluster1", "kind-cluster2"
CLUSTERS = (C1, C2)
GLOBAL = {"service.cilium.io/global": "true"}
_keys = itertools.count(1)


def world(run: str = "t", **overrides: WorkloadSpec) -> Deployment:
    """A new deployment (its own key and namespace); ``overrides`` replace workloads by name,
    put in the deployment's namespace."""
    key = f"cm-{run}-{next(_keys)}"
    ns = f"{key}-demo"
    workloads = [
        WorkloadSpec("fe", "client", ns, {"app": "frontend"}, CLUSTERS),
        WorkloadSpec("tester", "client", ns, {"app": "test"}, CLUSTERS),
        WorkloadSpec(
            "be",
            "server",
            ns,
            {"app": "backend"},
            CLUSTERS,
            ports=(PortSpec(8080),),
            service=ServiceSpec("be", GLOBAL),
        ),
        WorkloadSpec(
            "solo",
            "server",
            ns,
            {"app": "solo"},
            (C1,),
            ports=(PortSpec(80),),
            service=ServiceSpec("solo"),
        ),
    ]
    for name, spec in overrides.items():
        workloads = [replace(spec, namespace=ns) if w.name == name else w for w in workloads]
    return Deployment(key, CLUSTERS, (NamespaceSpec("demo", ns, {"team": "a"}),), tuple(workloads))


def cnp(deployment: Deployment, spec: Mapping[str, Any], name: str = "p") -> PolicyDoc:
    namespace = deployment.namespaces[0].name
    body = {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": {"name": name, "namespace": namespace, "labels": ownership_labels(deployment)},
        "spec": dict(spec),
    }
    return PolicyDoc(
        "CiliumNetworkPolicy", name, namespace, body, Location(Path("policies/be.yaml"), 3)
    )


def ccnp(deployment: Deployment, spec: Mapping[str, Any], name: str = "cp") -> PolicyDoc:
    name = f"{name}-{deployment.key}"
    body = {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumClusterwideNetworkPolicy",
        "metadata": {"name": name, "labels": ownership_labels(deployment)},
        "spec": dict(spec),
    }
    return PolicyDoc("CiliumClusterwideNetworkPolicy", name, None, body)


BACKEND_FROM_FRONTEND = {
    "endpointSelector": {"matchLabels": {"app": "backend"}},
    "ingress": [{"fromEndpoints": [{"matchLabels": {"app": "frontend"}}]}],
}


def to_pod(
    source: str,
    cluster: str,
    target_cluster: str,
    workload: str,
    port: int,
    expect: Verdict | None = None,
) -> Probe:
    return Probe(cluster, source, PodTarget(target_cluster, workload), port, expect=expect)


def to_service(
    source: str, cluster: str, service: str, port: int, expect: Verdict | None = None
) -> Probe:
    return Probe(cluster, source, ServiceTarget(service), port, expect=expect)
