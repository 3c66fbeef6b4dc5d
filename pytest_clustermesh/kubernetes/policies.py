"""Making exactly a given set of policy documents the ones in force for a deployment.

Documents are created or replaced by name, then the deployment's other policies are deleted:
applying first means a switch from one policy to another never passes through "no policy",
which in Cilium means "allow everything".
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kubernetes.client.exceptions import ApiException

from ..backend import OWNER_LABEL, Deployment, PolicyDoc
from ..errors import BackendError, PolicyError
from ..policy.parse import CCNP, CNP, KNP
from . import manifests
from .clients import Cluster, describe, not_found, status_message
from .settings import KubernetesSettings

CILIUM_GROUP = "cilium.io"
CILIUM_VERSION = "v2"
PLURALS = {CNP: "ciliumnetworkpolicies", CCNP: "ciliumclusterwidenetworkpolicies"}
CLUSTERWIDE_OPTION = "--allow-clusterwide-policies"

REJECTED = (400, 422)
"""Statuses by which the API server refuses the document itself (schema, validation); others
(forbidden, missing namespace, conflicts) are the mesh's problem, not the policy file's."""

Key = tuple[str, str | None, str]
"""kind, namespace, name"""


@dataclass(frozen=True)
class Existing:
    key: Key
    resource_version: str


def set_policies(
    cluster: Cluster,
    deployment: Deployment,
    docs: Sequence[PolicyDoc],
    settings: KubernetesSettings,
) -> None:
    for doc in docs:
        _check_allowed(doc, cluster, settings)
    try:
        existing = {item.key: item for item in _owned(cluster, deployment, settings)}
    except ApiException as exc:
        raise BackendError(f"{cluster.context}: cannot list policies: {describe(exc)}") from exc
    wanted = set()
    for doc in docs:
        key = (doc.kind, doc.namespace, doc.name)
        wanted.add(key)
        _put(cluster, doc, existing.get(key), deployment, settings)
    for key in sorted(set(existing) - wanted, key=str):
        _delete(cluster, key)


def _check_allowed(doc: PolicyDoc, cluster: Cluster, settings: KubernetesSettings) -> None:
    if doc.kind not in (CNP, CCNP, KNP):
        raise PolicyError(
            f"{cluster.context}: {doc.ref}: the Kubernetes backend cannot apply kind {doc.kind!r}"
        )
    if doc.kind == CCNP and not settings.allow_clusterwide:
        raise PolicyError(
            f"{cluster.context}: {doc.ref} is cluster-wide: it would select pods of every "
            f"namespace in a shared cluster; pass {CLUSTERWIDE_OPTION} (ini: "
            "clustermesh_allow_clusterwide_policies = true) to allow it"
        )


def _owned(
    cluster: Cluster, deployment: Deployment, settings: KubernetesSettings
) -> list[Existing]:
    selector = f"{OWNER_LABEL}={deployment.key}"
    found: list[Existing] = []
    for spec in deployment.namespaces:
        ns = spec.name
        cnps = cluster.call(
            f"LIST {CNP} {ns} -l {selector}",
            cluster.custom.list_namespaced_custom_object,
            CILIUM_GROUP,
            CILIUM_VERSION,
            ns,
            PLURALS[CNP],
            label_selector=selector,
        )
        found += [_existing(CNP, item) for item in cnps.get("items", [])]
        knps = cluster.call(
            f"LIST {KNP} {ns} -l {selector}",
            cluster.networking.list_namespaced_network_policy,
            ns,
            label_selector=selector,
        )
        found += [
            Existing((KNP, ns, p.metadata.name), p.metadata.resource_version) for p in knps.items
        ]
    if settings.allow_clusterwide:
        found += [_existing(CCNP, item) for item in list_clusterwide(cluster, selector)]
    return found


def list_clusterwide(cluster: Cluster, selector: str) -> list[dict[str, Any]]:
    """The CiliumClusterwideNetworkPolicies matching a label selector."""
    ccnps = cluster.call(
        f"LIST {CCNP} -l {selector}",
        cluster.custom.list_cluster_custom_object,
        CILIUM_GROUP,
        CILIUM_VERSION,
        PLURALS[CCNP],
        label_selector=selector,
    )
    return list(ccnps.get("items", []))


def _existing(kind: str, item: dict[str, Any]) -> Existing:
    meta = item.get("metadata", {})
    return Existing(
        (kind, meta.get("namespace"), meta["name"]), str(meta.get("resourceVersion", ""))
    )


def _body(doc: PolicyDoc, deployment: Deployment, settings: KubernetesSettings) -> dict[str, Any]:
    body: dict[str, Any] = copy.deepcopy(dict(doc.body))
    meta = body.setdefault("metadata", {})
    meta["name"] = doc.name
    if doc.namespace is not None:
        meta["namespace"] = doc.namespace
    meta["labels"] = {**(meta.get("labels") or {}), **manifests.object_labels(deployment, settings)}
    return body


def _put(
    cluster: Cluster,
    doc: PolicyDoc,
    existing: Existing | None,
    deployment: Deployment,
    settings: KubernetesSettings,
) -> None:
    body = _body(doc, deployment, settings)
    verb = "PUT" if existing else "POST"
    if existing:
        body["metadata"]["resourceVersion"] = existing.resource_version
    what = f"{verb} {doc.kind} {doc.namespace + '/' if doc.namespace else ''}{doc.name}"
    try:
        cluster.call(what, *_write_call(cluster, doc, existing is not None), body)
    except ApiException as exc:
        if exc.status in REJECTED:
            raise PolicyError(
                f"{cluster.context} rejects {doc.ref}: {status_message(exc)}"
            ) from exc
        raise BackendError(f"{cluster.context}: cannot apply {doc.ref}: {describe(exc)}") from exc


def _write_call(cluster: Cluster, doc: PolicyDoc, replace: bool) -> tuple[Any, ...]:
    """The client method and its leading arguments (before the body)."""
    custom, net = cluster.custom, cluster.networking
    if doc.kind == KNP:
        if replace:
            return net.replace_namespaced_network_policy, doc.name, doc.namespace
        return net.create_namespaced_network_policy, doc.namespace
    plural = PLURALS[doc.kind]
    if doc.kind == CCNP:
        if replace:
            return (
                custom.replace_cluster_custom_object,
                CILIUM_GROUP,
                CILIUM_VERSION,
                plural,
                doc.name,
            )
        return custom.create_cluster_custom_object, CILIUM_GROUP, CILIUM_VERSION, plural
    if replace:
        return (
            custom.replace_namespaced_custom_object,
            CILIUM_GROUP,
            CILIUM_VERSION,
            doc.namespace,
            plural,
            doc.name,
        )
    return (
        custom.create_namespaced_custom_object,
        CILIUM_GROUP,
        CILIUM_VERSION,
        doc.namespace,
        plural,
    )


def _delete(cluster: Cluster, key: Key) -> None:
    kind, ns, name = key
    what = f"DELETE {kind} {ns + '/' if ns else ''}{name}"
    try:
        if kind == KNP:
            cluster.call(what, cluster.networking.delete_namespaced_network_policy, name, ns)
        elif kind == CCNP:
            cluster.call(
                what,
                cluster.custom.delete_cluster_custom_object,
                CILIUM_GROUP,
                CILIUM_VERSION,
                PLURALS[CCNP],
                name,
            )
        else:
            cluster.call(
                what,
                cluster.custom.delete_namespaced_custom_object,
                CILIUM_GROUP,
                CILIUM_VERSION,
                ns,
                PLURALS[CNP],
                name,
            )
    except ApiException as exc:
        if not not_found(exc):
            raise BackendError(
                f"{cluster.context}: cannot delete {kind} {name}: {describe(exc)}"
            ) from exc
