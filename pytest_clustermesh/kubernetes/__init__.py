"""The Kubernetes backend: runs scenarios on real Cilium Cluster Mesh clusters.

``KubernetesMesh`` is imported on first use, so that running one of the package's modules
(``python -m pytest_clustermesh.kubernetes.cleanup``) does not import that module twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .settings import KubernetesSettings

if TYPE_CHECKING:
    from .backend import KubernetesMesh

__all__ = ["KubernetesMesh", "KubernetesSettings"]


def __getattr__(name: str) -> Any:
    if name == "KubernetesMesh":
        from .backend import KubernetesMesh

        return KubernetesMesh
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
