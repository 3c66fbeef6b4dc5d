"""Global Services: which clusters' backends a client in a cluster may reach.

Cluster X uses its local backends plus those of each cluster Y whose same-named Service is global
and shared, provided X's own Service is global (Documentation/network/clustermesh/
global-services.rst). ``affinity`` local/remote prefers one side while it has healthy backends
(affinity.rst). Each annotation has an older alias; the primary key wins (pkg/annotation/k8s.go).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

GLOBAL = ("service.cilium.io/global", "io.cilium/global-service")
SHARED = ("service.cilium.io/shared", "io.cilium/shared-service")
AFFINITY = ("service.cilium.io/affinity", "io.cilium/service-affinity")


def annotation(annotations: Mapping[str, str], keys: tuple[str, str]) -> str | None:
    for key in keys:
        if key in annotations:
            return str(annotations[key]).strip().lower()
    return None


def is_global(annotations: Mapping[str, str]) -> bool:
    return annotation(annotations, GLOBAL) == "true"


def is_shared(annotations: Mapping[str, str]) -> bool:
    return is_global(annotations) and annotation(annotations, SHARED) != "false"


def affinity(annotations: Mapping[str, str]) -> str:
    value = annotation(annotations, AFFINITY) if is_global(annotations) else None
    return value if value in ("local", "remote") else "none"


@dataclass(frozen=True)
class ServiceView:
    """A Service of one name and namespace as one cluster has it."""

    cluster: str
    annotations: Mapping[str, str]
    healthy_backends: int


def reachable_clusters(
    local: ServiceView, others: list[ServiceView]
) -> tuple[list[str], list[str]]:
    """The clusters whose backends ``local``'s clients may be sent to, and why."""
    pool = [local] if local.healthy_backends else []
    reasons = [f"{local.cluster} has {local.healthy_backends} local backend(s)"]
    if is_global(local.annotations):
        for view in others:
            if not is_shared(view.annotations):
                reasons.append(f"{view.cluster}'s Service is not global and shared")
            elif view.healthy_backends:
                pool.append(view)
    else:
        reasons.append(f"the Service in {local.cluster} is not global: local backends only")
    mode = affinity(local.annotations)
    if mode != "none":
        preferred = [v for v in pool if (v.cluster == local.cluster) == (mode == "local")]
        if preferred:
            reasons.append(f"affinity {mode}: {', '.join(v.cluster for v in preferred)} preferred")
            pool = preferred
        else:
            reasons.append(f"affinity {mode}: no healthy preferred backend, using the others")
    return [view.cluster for view in pool], reasons
