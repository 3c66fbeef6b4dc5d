"""What a fresh cluster holds: system namespaces, DNS, and a Cilium with Cluster Mesh.

The Cilium objects are the ones a backend reads to learn its facts: ``cilium-config`` for the
cluster name, id and agent options, the ``cilium`` DaemonSet's image for the version, and the
``cilium-clustermesh`` Secret for the peers.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from . import resources as r
from .config import ClusterConfig
from .store import Store

Obj = dict[str, Any]

SYSTEM_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")
CILIUM_LABELS = {
    "k8s-app": "cilium",
    "app.kubernetes.io/name": "cilium-agent",
    "app.kubernetes.io/part-of": "cilium",
}
CLUSTERMESH_LABELS = {
    "k8s-app": "clustermesh-apiserver",
    "app.kubernetes.io/name": "clustermesh-apiserver",
    "app.kubernetes.io/part-of": "cilium",
}
DNS_LABELS = {"k8s-app": "kube-dns"}


def _workload(
    kind: str,
    name: str,
    labels: dict[str, str],
    containers: list[Obj],
    replicas: int = 1,
    **pod_spec: Any,
) -> Obj:
    selector = {"matchLabels": {"k8s-app": labels["k8s-app"]}}
    spec: Obj = {
        "selector": selector,
        "template": {
            "metadata": {"labels": dict(labels)},
            "spec": {"containers": containers, **pod_spec},
        },
    }
    if kind == "Deployment":
        spec["replicas"] = replicas
    return {
        "metadata": {"name": name, "namespace": "kube-system", "labels": dict(labels)},
        "spec": spec,
    }


def _mesh_secret(peers: Sequence[str]) -> Obj:
    def etcd_config(peer: str) -> str:
        text = (
            f"endpoints:\n- https://{peer}.mesh.cilium.io:2379\n"
            "trusted-ca-file: /var/lib/cilium/clustermesh/common-etcd-client-ca.crt\n"
            "key-file: /var/lib/cilium/clustermesh/common-etcd-client.key\n"
            "cert-file: /var/lib/cilium/clustermesh/common-etcd-client.crt\n"
        )
        return base64.b64encode(text.encode()).decode()

    return {
        "metadata": {"name": "cilium-clustermesh", "namespace": "kube-system"},
        "type": "Opaque",
        "data": {peer: etcd_config(peer) for peer in peers},
    }


APISERVER_PORT = 6443
"""Where kube-apiserver serves (kubeadm's and kind's ``--secure-port``), behind the
``kubernetes`` Service's port 443 named ``https``."""


def apiserver_slice(config: ClusterConfig) -> Obj:
    """The EndpointSlice kube-apiserver's endpoint reconciler keeps for the ``kubernetes``
    Service (kubernetes ``pkg/controlplane/reconcilers/endpointsadapter.go``,
    ``EndpointsAdapter``: named after the Service, labelled ``kubernetes.io/service-name``,
    the port named ``https``): the control-plane node's address, ready."""
    return {
        "metadata": {
            "name": "kubernetes",
            "labels": {"kubernetes.io/service-name": "kubernetes"},
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [config.node_ip(0)], "conditions": {"ready": True}}],
        "ports": [{"name": "https", "port": APISERVER_PORT, "protocol": "TCP"}],
    }


def seed(store: Store, config: ClusterConfig, peers: Sequence[str]) -> None:
    """Create the initial objects; ``peers`` are the Cilium names of the other meshed clusters."""
    for namespace in SYSTEM_NAMESPACES:
        store.create(r.NAMESPACES, None, {"metadata": {"name": namespace}})
    first_service_ip = str(config.service_network.network_address + 1)
    dns_ip = str(config.service_network.network_address + 10)
    store.create(
        r.SERVICES,
        "default",
        {
            "metadata": {
                "name": "kubernetes",
                "labels": {"component": "apiserver", "provider": "kubernetes"},
            },
            "spec": {
                "clusterIP": first_service_ip,
                "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
            },
        },
    )
    store.create(r.ENDPOINTSLICES, "default", apiserver_slice(config))
    store.create(
        r.SERVICES,
        "kube-system",
        {
            "metadata": {
                "name": "kube-dns",
                "labels": {**DNS_LABELS, "kubernetes.io/name": "CoreDNS"},
            },
            "spec": {
                "clusterIP": dns_ip,
                "selector": dict(DNS_LABELS),
                "ports": [
                    {"name": "dns", "port": 53, "protocol": "UDP"},
                    {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
                    {"name": "metrics", "port": 9153, "protocol": "TCP"},
                ],
            },
        },
    )
    for account in ("coredns", "cilium", "clustermesh-apiserver"):
        store.create(r.SERVICEACCOUNTS, "kube-system", {"metadata": {"name": account}})
    store.create(
        r.DEPLOYMENTS,
        "kube-system",
        _workload(
            "Deployment",
            "coredns",
            DNS_LABELS,
            [{"name": "coredns", "image": "registry.k8s.io/coredns/coredns:v1.11.3"}],
            replicas=2,
            serviceAccountName="coredns",
        ),
    )

    version = config.cilium_version.lstrip("v")
    options = {
        "cluster-name": config.cilium_cluster_name,
        "cluster-id": str(config.cluster_id),
        **config.options,
    }
    store.create(
        r.CONFIGMAPS,
        "kube-system",
        {
            "metadata": {"name": "cilium-config", "namespace": "kube-system"},
            "data": options,
        },
    )
    store.create(
        r.DAEMONSETS,
        "kube-system",
        _workload(
            "DaemonSet",
            "cilium",
            CILIUM_LABELS,
            [
                {
                    "name": "cilium-agent",
                    "image": f"quay.io/cilium/cilium:v{version}",
                    "command": ["cilium-agent"],
                    "args": ["--config-dir=/tmp/cilium/config-map"],
                }
            ],
            hostNetwork=True,
            serviceAccountName="cilium",
        ),
    )
    if not config.clustermesh:
        return
    store.create(
        r.DEPLOYMENTS,
        "kube-system",
        _workload(
            "Deployment",
            "clustermesh-apiserver",
            CLUSTERMESH_LABELS,
            [
                {
                    "name": "apiserver",
                    "image": f"quay.io/cilium/clustermesh-apiserver:v{version}",
                    "command": ["/usr/bin/clustermesh-apiserver"],
                }
            ],
            serviceAccountName="clustermesh-apiserver",
        ),
    )
    store.create(
        r.SERVICES,
        "kube-system",
        {
            "metadata": {"name": "clustermesh-apiserver", "labels": dict(CLUSTERMESH_LABELS)},
            "spec": {
                "type": "NodePort",
                "selector": {"k8s-app": "clustermesh-apiserver"},
                "ports": [{"port": 2379, "protocol": "TCP", "targetPort": 2379, "nodePort": 32379}],
            },
        },
    )
    store.create(r.SECRETS, "kube-system", _mesh_secret(peers))
