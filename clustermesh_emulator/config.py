"""What an emulated cluster is: its names, its Cilium, its networks and its timings."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

DEFAULT_CILIUM_VERSION = "1.18.3"
DEFAULT_KUBERNETES_VERSION = "1.32.2"


@dataclass(frozen=True)
class ClusterConfig:
    """One emulated cluster. Only ``logical`` and ``cluster_id`` usually need setting."""

    logical: str = "cluster1"
    """The name scenarios use; the kubeconfig context is ``kind-<logical>``."""
    cluster_name: str | None = None
    """Cilium's ``cluster-name`` (defaults to ``logical``)."""
    cluster_id: int = 1
    """Cilium's ``cluster-id``, 1-255; also picks the default pod and service ranges."""
    cilium_version: str = DEFAULT_CILIUM_VERSION
    options: Mapping[str, str] = field(default_factory=dict)
    """Extra ``cilium-config`` keys, e.g. ``{"policy-default-local-cluster": "false"}``."""
    clustermesh: bool = True
    """Whether the cluster runs clustermesh-apiserver and is a mesh peer of the others."""
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION
    nodes: int = 1
    """Node count, named like kind's: ``<logical>-control-plane``, ``<logical>-worker``..."""
    pod_cidr: str | None = None
    """Defaults to ``10.<id>.0.0/16``. Addresses are handed out, never contacted."""
    service_cidr: str | None = None
    """Defaults to ``172.20.<id>.0/24`` (Cilium's kind cluster-mesh layout)."""
    start_delay: float = 0.05
    """Seconds from a pod's creation to Running (or to its image pull failure)."""
    unpullable: str = "does-not-exist"
    """A regular expression; a pod with a matching container image never pulls it."""
    namespace_delete_delay: float = 0.05
    """Seconds a deleted namespace stays Terminating before it and its content are gone."""
    port: int = 0
    """Loopback port to serve on; 0 picks a free one."""

    def __post_init__(self) -> None:
        if not 1 <= self.cluster_id <= 255:
            raise ValueError(f"cluster_id must be 1-255, not {self.cluster_id}")
        if self.nodes < 1:
            raise ValueError("a cluster needs at least one node")
        object.__setattr__(self, "options", {k: str(v) for k, v in self.options.items()})

    @property
    def cilium_cluster_name(self) -> str:
        return self.cluster_name or self.logical

    @property
    def context(self) -> str:
        return f"kind-{self.logical}"

    @property
    def pod_network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.pod_cidr or f"10.{self.cluster_id}.0.0/16")

    @property
    def service_network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.service_cidr or f"172.20.{self.cluster_id}.0/24")

    @property
    def node_names(self) -> list[str]:
        workers = [f"{self.logical}-worker{i if i > 1 else ''}" for i in range(1, self.nodes)]
        return [f"{self.logical}-control-plane", *workers]

    def node_ip(self, index: int) -> str:
        """Node addresses sit on a kind-like docker network, ``172.18.<id>.<2+index>``."""
        return f"172.18.{self.cluster_id}.{2 + index}"


def default_clusters(count: int = 2, **overrides: Any) -> list[ClusterConfig]:
    """``cluster1`` ... ``cluster<count>`` with ids 1..count, each with ``overrides``."""
    return [
        replace(ClusterConfig(logical=f"cluster{i}", cluster_id=i), **overrides)
        for i in range(1, count + 1)
    ]
