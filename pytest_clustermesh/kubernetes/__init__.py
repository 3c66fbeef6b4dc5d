"""The Kubernetes backend: runs scenarios on real Cilium Cluster Mesh clusters."""

from __future__ import annotations

from .backend import KubernetesMesh
from .settings import KubernetesSettings

__all__ = ["KubernetesMesh", "KubernetesSettings"]
