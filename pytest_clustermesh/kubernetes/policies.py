"""Making exactly a given set of policy documents the ones in force for a deployment.

Documents are created or replaced by name, then the deployment's other policies are deleted:
applying first means a switch from one policy to another never passes through "no policy",
which in Cilium means "allow everything".

Every object created, changed or deleted is counted (:class:`Changes`): each is one more
revision of the agents' policy repository, which the backend then waits for
(:mod:`.revisions`). Only real changes count, as cilium-cli counts only the policies it really
changed (``cilium-cli/connectivity/check/policy.go``, ``CreateOrUpdatePolicy``): a replace that
changes nothing is a no-op for the API server (the ``resourceVersion`` it answers is the old
one, and no watch event follows), so the agents never see it. A document whose body is the one
this run last wrote is not even sent again.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubernetes.client.exceptions import ApiException

from ..backend import OWNER_LABEL, Deployment, PolicyDoc
from ..errors import BackendError, PolicyError
from ..policy.parse import CCNP, CNP, KNP
from ..policy.tiers import CLUSTERWIDE_KINDS, KCNP
from . import manifests
from .clients import Cluster, describe, not_found, status_message
from .settings import KubernetesSettings

CILIUM_GROUP = "cilium.io"
CILIUM_VERSION = "v2"
PLURALS = {CNP: "ciliumnetworkpolicies", CCNP: "ciliumclusterwidenetworkpolicies"}
CLUSTERWIDE_OPTION = "--allow-clusterwide-policies"


@dataclass(frozen=True)
class Resource:
    """Where a custom-object policy kind lives in the API."""

    group: str
    version: str
    plural: str
    namespaced: bool


RESOURCES = {
    CNP: Resource(CILIUM_GROUP, CILIUM_VERSION, PLURALS[CNP], namespaced=True),
    CCNP: Resource(CILIUM_GROUP, CILIUM_VERSION, PLURALS[CCNP], namespaced=False),
    # network-policy-api v0.2.0, which Cilium 1.20 reads (cilium#47227).
    KCNP: Resource("policy.networking.k8s.io", "v1alpha2", "clusternetworkpolicies", False),
}

REJECTED = (400, 422)
"""Statuses by which the API server refuses the document itself (schema, validation); others
(forbidden, missing namespace, conflicts) are the mesh's problem, not the policy file's."""

Key = tuple[str, str | None, str]
"""kind, namespace, name"""


@dataclass(frozen=True)
class Existing:
    key: Key
    resource_version: str


@dataclass
class Changes:
    """What a :func:`set_policies` call changed, counted as it goes (so a call that fails half
    way still says what it did). ``before_first`` runs once, just before the first write: the
    agents' revisions are read only when something is about to change."""

    count: int = 0
    before_first: Callable[[], None] | None = None

    def about_to_change(self) -> None:
        if self.before_first is not None:
            before, self.before_first = self.before_first, None
            before()


@dataclass
class Written:
    """The bodies this run last wrote, per cluster and policy: the same body again is no change."""

    bodies: dict[tuple[str, Key], str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def same(self, context: str, key: Key, body: dict[str, Any]) -> bool:
        with self.lock:
            return self.bodies.get((context, key)) == _canonical(body)

    def wrote(self, context: str, key: Key, body: dict[str, Any] | None) -> None:
        with self.lock:
            if body is None:
                self.bodies.pop((context, key), None)
            else:
                self.bodies[(context, key)] = _canonical(body)


def _canonical(body: dict[str, Any]) -> str:
    meta = body.get("metadata") or {}
    kept = {k: v for k, v in body.items() if k not in ("metadata", "status")}
    return json.dumps({"labels": meta.get("labels"), **kept}, sort_keys=True)


def set_policies(
    cluster: Cluster,
    deployment: Deployment,
    docs: Sequence[PolicyDoc],
    settings: KubernetesSettings,
    changes: Changes | None = None,
    written: Written | None = None,
    unread: Collection[str] = (),
) -> None:
    """Make ``docs`` the deployment's policies in ``cluster``. Writes of the kinds in
    ``unread``, which the cluster's agents do not read (a ClusterNetworkPolicy where Cilium
    does not enforce it), change no revision and are not counted."""
    changes = changes if changes is not None else Changes()
    written = written if written is not None else Written()
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
        body = _body(doc, deployment, settings)
        found = existing.get(key)
        if found is not None and written.same(cluster.context, key, body):
            continue
        changes.about_to_change()
        version = _put(cluster, doc, body, found)
        written.wrote(cluster.context, key, body)
        if (found is None or version != found.resource_version) and doc.kind not in unread:
            changes.count += 1
    for key in sorted(set(existing) - wanted, key=str):
        changes.about_to_change()
        if _delete(cluster, key) and key[0] not in unread:
            changes.count += 1
        written.wrote(cluster.context, key, None)


def _check_allowed(doc: PolicyDoc, cluster: Cluster, settings: KubernetesSettings) -> None:
    if doc.kind not in (CNP, CCNP, KNP, KCNP):
        raise PolicyError(
            f"{cluster.context}: {doc.ref}: the Kubernetes backend cannot apply kind {doc.kind!r}"
        )
    if doc.kind in CLUSTERWIDE_KINDS and not settings.allow_clusterwide:
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
        for kind in CLUSTERWIDE_KINDS:
            found += [_existing(kind, item) for item in list_clusterwide(cluster, selector, kind)]
    return found


def list_clusterwide(cluster: Cluster, selector: str, kind: str = CCNP) -> list[dict[str, Any]]:
    """The cluster-wide policies of ``kind`` matching a label selector. A ClusterNetworkPolicy
    whose CRD is not installed lists as none: nothing of that kind can exist there."""
    resource = RESOURCES[kind]
    try:
        found = cluster.call(
            f"LIST {kind} -l {selector}",
            cluster.custom.list_cluster_custom_object,
            resource.group,
            resource.version,
            resource.plural,
            label_selector=selector,
        )
    except ApiException as exc:
        if kind == KCNP and not_found(exc):
            return []
        raise
    return list(found.get("items", []))


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


def _put(cluster: Cluster, doc: PolicyDoc, body: dict[str, Any], existing: Existing | None) -> str:
    """Create or replace one policy; the ``resourceVersion`` the server answers with."""
    body = copy.deepcopy(body)
    verb = "PUT" if existing else "POST"
    if existing:
        body["metadata"]["resourceVersion"] = existing.resource_version
    what = f"{verb} {doc.kind} {doc.namespace + '/' if doc.namespace else ''}{doc.name}"
    try:
        stored = cluster.call(what, *_write_call(cluster, doc, existing is not None), body)
    except ApiException as exc:
        if doc.kind == KCNP and not_found(exc):
            raise PolicyError(
                f"{cluster.context} has no ClusterNetworkPolicy CRD, so it cannot hold "
                f"{doc.ref}: install network-policy-api v0.2.0's CRD (Helm does not), and run "
                "Cilium 1.20 with enable-k8s-cluster-network-policy for it to be enforced"
            ) from exc
        if exc.status in REJECTED:
            raise PolicyError(
                f"{cluster.context} rejects {doc.ref}: {status_message(exc)}"
            ) from exc
        raise BackendError(f"{cluster.context}: cannot apply {doc.ref}: {describe(exc)}") from exc
    return _resource_version(stored)


def _resource_version(stored: Any) -> str:
    """The ``resourceVersion`` of a write's answer (a dict for custom objects, a model else)."""
    if isinstance(stored, dict):
        return str((stored.get("metadata") or {}).get("resourceVersion", ""))
    metadata = getattr(stored, "metadata", None)
    return str(getattr(metadata, "resource_version", "") or "")


def _write_call(cluster: Cluster, doc: PolicyDoc, replace: bool) -> tuple[Any, ...]:
    """The client method and its leading arguments (before the body)."""
    custom, net = cluster.custom, cluster.networking
    if doc.kind == KNP:
        if replace:
            return net.replace_namespaced_network_policy, doc.name, doc.namespace
        return net.create_namespaced_network_policy, doc.namespace
    res = RESOURCES[doc.kind]
    if not res.namespaced:
        if replace:
            return (
                custom.replace_cluster_custom_object,
                res.group,
                res.version,
                res.plural,
                doc.name,
            )
        return custom.create_cluster_custom_object, res.group, res.version, res.plural
    if replace:
        return (
            custom.replace_namespaced_custom_object,
            res.group,
            res.version,
            doc.namespace,
            res.plural,
            doc.name,
        )
    return (
        custom.create_namespaced_custom_object,
        res.group,
        res.version,
        doc.namespace,
        res.plural,
    )


def _delete(cluster: Cluster, key: Key) -> bool:
    """Delete one policy; False if it was gone already."""
    kind, ns, name = key
    what = f"DELETE {kind} {ns + '/' if ns else ''}{name}"
    try:
        res = RESOURCES.get(kind)
        if res is None:
            cluster.call(what, cluster.networking.delete_namespaced_network_policy, name, ns)
        elif not res.namespaced:
            cluster.call(
                what,
                cluster.custom.delete_cluster_custom_object,
                res.group,
                res.version,
                res.plural,
                name,
            )
        else:
            cluster.call(
                what,
                cluster.custom.delete_namespaced_custom_object,
                res.group,
                res.version,
                ns,
                res.plural,
                name,
            )
    except ApiException as exc:
        if not not_found(exc):
            raise BackendError(
                f"{cluster.context}: cannot delete {kind} {name}: {describe(exc)}"
            ) from exc
        return False
    return True
