"""Preflight: is each context a Cilium cluster joined to a Cluster Mesh, and with what facts.

Reads what ``cilium clustermesh status`` reads through the API (cilium-config, the agent's
DaemonSet image, the clustermesh-apiserver Deployment) and resolves the agent options against
the version, since a key missing from cilium-config means the version's default.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kubernetes.client.exceptions import ApiException

from ..errors import BackendError
from ..facts import ClusterFacts, parse_version, resolve_options
from .clients import Cluster, describe, not_found

NAMESPACE = "kube-system"
CONFIG_MAP = "cilium-config"
DAEMON_SET = "cilium"
APISERVER = "clustermesh-apiserver"


class PreflightFailure(Exception):
    """One cluster's problem, as one line without the context name."""


def cluster_facts(cluster: Cluster) -> ClusterFacts:
    """The facts of one context. Raises :class:`PreflightFailure`."""
    config = _read(cluster, "configmap", CONFIG_MAP, cluster.core.read_namespaced_config_map)
    data: Mapping[str, str] = config.data or {}
    name = data.get("cluster-name")
    if not name:
        raise PreflightFailure(f"{NAMESPACE}/{CONFIG_MAP} has no cluster-name")
    try:
        cluster_id = int(data.get("cluster-id", ""))
    except ValueError:
        raise PreflightFailure(
            f"{NAMESPACE}/{CONFIG_MAP} cluster-id is not a number: {data.get('cluster-id')!r}"
        ) from None
    agent = _read(cluster, "daemonset", DAEMON_SET, cluster.apps.read_namespaced_daemon_set)
    image = _agent_image(agent)
    try:
        version = parse_version(image_tag(image))
    except ValueError:
        raise PreflightFailure(f"cannot tell the Cilium version from image {image!r}") from None
    _read(
        cluster,
        "deployment",
        APISERVER,
        cluster.apps.read_namespaced_deployment,
        missing="Cluster Mesh is not enabled (cilium clustermesh enable)",
    )
    return ClusterFacts(cluster.context, name, cluster_id, version, resolve_options(version, data))


def _read(
    cluster: Cluster, kind: str, name: str, read: Callable[..., Any], missing: str = ""
) -> Any:
    try:
        return cluster.call(f"GET {kind} {NAMESPACE}/{name}", read, name, NAMESPACE)
    except ApiException as exc:
        if not_found(exc):
            hint = f": {missing}" if missing else ""
            raise PreflightFailure(f"no {kind} {NAMESPACE}/{name}{hint}") from exc
        raise PreflightFailure(f"cannot read {kind} {NAMESPACE}/{name}: {describe(exc)}") from exc
    except Exception as exc:  # connection failures of every kind the client raises
        raise PreflightFailure(f"cannot reach {cluster.server}: {describe(exc)}") from exc


def _agent_image(daemon_set: Any) -> str:
    containers = daemon_set.spec.template.spec.containers
    for container in containers:
        if container.name in ("cilium-agent", "cilium"):
            return str(container.image)
    return str(containers[0].image)


def image_tag(image: str) -> str:
    """``quay.io/cilium/cilium:v1.19.2@sha256:…`` -> ``v1.19.2``."""
    reference = image.split("@", 1)[0]
    name, _, tag = reference.rpartition(":")
    if not name or "/" in tag:
        raise ValueError(f"image {image!r} has no tag")
    return tag


def check_distinct(facts: Sequence[ClusterFacts]) -> list[str]:
    """Problems of a mesh as a whole: Cilium names and ids must differ across clusters."""
    problems = []
    for attribute in ("cluster_name", "cluster_id"):
        seen: dict[object, str] = {}
        for item in facts:
            value = getattr(item, attribute)
            if value in seen:
                label = attribute.replace("_", "-")
                problems.append(
                    f"{item.logical}: {label} {value} is also the {label} of {seen[value]}"
                )
            else:
                seen[value] = item.logical
    return problems


def raise_problems(problems: Sequence[str]) -> None:
    if problems:
        raise BackendError("preflight failed:\n" + "\n".join(problems))
