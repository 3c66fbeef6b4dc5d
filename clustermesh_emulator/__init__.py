"""An emulated multi-cluster Kubernetes API server over real HTTP, for tests.

Each cluster is an in-memory API server on a loopback port with just enough controllers to
behave like a kind cluster running Cilium Cluster Mesh: Deployments get pods, pods get IPs and
become Ready, namespaces cascade, exec runs a pluggable handler. See README.md next to this
file for what is and is not emulated.

    with Emulator() as mesh:
        client = kubernetes.config.new_client_from_config(
            config_file=str(mesh.kubeconfig_path), context="kind-cluster1"
        )
"""

from __future__ import annotations

from .cluster import Cluster, Rejection
from .config import ClusterConfig, default_clusters
from .emulator import Emulator
from .exec import ExecHandler, ExecRequest, ExecResult, default_exec_handler
from .faults import FaultCounts, Faults
from .meshfaults import MeshFaults
from .requestlog import LoggedRequest
from .status import ApiError

__all__ = [
    "ApiError",
    "Cluster",
    "ClusterConfig",
    "Emulator",
    "ExecHandler",
    "ExecRequest",
    "ExecResult",
    "FaultCounts",
    "Faults",
    "LoggedRequest",
    "MeshFaults",
    "Rejection",
    "default_clusters",
    "default_exec_handler",
]
