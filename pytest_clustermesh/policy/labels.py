"""Security identities and label selectors, as Cilium builds and matches them.

An endpoint's identity is a set of ``source:key=value`` labels. Cilium derives it from the pod
(``SanitizePodLabels``, pkg/k8s/utils/utils.go): the pod's own labels with source ``k8s``, minus
any it set under ``io.cilium.k8s``, plus the namespace, the namespace's labels, the service
account and the cluster name. A selector key may carry a source prefix: unprefixed means ``any:``
(pkg/labels/labels.go), ``k8s:`` only Kubernetes labels, ``reserved:`` reserved identities.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

NAMESPACE = "io.kubernetes.pod.namespace"
NAMESPACE_LABELS = "io.cilium.k8s.namespace.labels."
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
"""The label the API server puts on every namespace, holding its name."""
SERVICE_ACCOUNT = "io.cilium.k8s.policy.serviceaccount"
CLUSTER = "io.cilium.k8s.policy.cluster"
_CILIUM_PREFIX = "io.cilium.k8s"

SOURCE_ANY = "any"
SOURCE_K8S = "k8s"
SOURCE_RESERVED = "reserved"
SOURCE_IP = "ip"
"""The address of a destination outside the mesh (what CIDR selectors match)."""
SOURCE_DNS = "dns"
"""``dns:<name>=proxied|resolved``: the name the source looked the destination up by, and
whether Cilium's DNS proxy saw the answer (what ``toFQDNs`` selectors need)."""
WORLD = "world"
LOOKUP_PROXIED = "proxied"
LOOKUP_RESOLVED = "resolved"

_NO_VALUES: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Label:
    source: str
    key: str
    value: str

    def __str__(self) -> str:
        return f"{self.source}:{self.key}={self.value}"


@dataclass(frozen=True)
class Identity:
    """An endpoint's security identity: the labels policy selects on."""

    labels: frozenset[Label]

    def values(self, source: str, key: str) -> set[str]:
        return set(self.lookup(source, key))

    def lookup(self, source: str, key: str) -> frozenset[str]:
        """Like :meth:`values`, without a copy: the values of ``key`` under ``source``."""
        return self._by_key.get((source, key), _NO_VALUES)

    @cached_property
    def _by_key(self) -> dict[tuple[str, str], frozenset[str]]:
        """(source, key) -> values, with every key also under ``any``; built on first use
        (policy evaluation looks up the same identity many times). Not a field: equality,
        hashing and the repr stay those of the labels."""
        found: dict[tuple[str, str], set[str]] = {}
        for label in self.labels:
            found.setdefault((label.source, label.key), set()).add(label.value)
            found.setdefault((SOURCE_ANY, label.key), set()).add(label.value)
        return {where: frozenset(values) for where, values in found.items()}

    def get(self, key: str) -> str | None:
        found = self.values(SOURCE_ANY, key)
        return next(iter(found)) if found else None

    @property
    def cluster(self) -> str | None:
        return self.get(CLUSTER)

    @property
    def namespace(self) -> str | None:
        return self.get(NAMESPACE)

    def __str__(self) -> str:
        # The namespace's own-name label repeats io.kubernetes.pod.namespace: left out here.
        own_name = NAMESPACE_LABELS + NAMESPACE_NAME_LABEL
        shown = (str(label) for label in self.labels if label.key != own_name)
        return "{" + ", ".join(sorted(shown)) + "}"


def pod_identity(
    pod_labels: Mapping[str, str],
    namespace: str,
    namespace_labels: Mapping[str, str],
    service_account: str | None,
    cluster_name: str,
) -> Identity:
    """The identity Cilium gives a pod (``SanitizePodLabels``; identity label filter)."""
    labels = {
        Label(SOURCE_K8S, key, value)
        for key, value in pod_labels.items()
        if not key.startswith(_CILIUM_PREFIX)
    }
    # The API server labels every namespace with its own name (NamespaceDefaultLabelName, GA in
    # Kubernetes 1.22), and the identity carries the namespace's labels: so a namespace
    # selector can name one namespace.
    namespace_labels = {NAMESPACE_NAME_LABEL: namespace, **namespace_labels}
    labels |= {Label(SOURCE_K8S, NAMESPACE_LABELS + k, v) for k, v in namespace_labels.items()}
    labels.add(Label(SOURCE_K8S, NAMESPACE, namespace))
    labels.add(Label(SOURCE_K8S, SERVICE_ACCOUNT, service_account or "default"))
    labels.add(Label(SOURCE_K8S, CLUSTER, cluster_name))
    return Identity(frozenset(labels))


Operator = Literal["In", "NotIn", "Exists", "DoesNotExist"]


def split_key(key: str) -> tuple[str, str]:
    """``k8s:app`` -> (``k8s``, ``app``); an unprefixed key is ``any:``."""
    source, sep, rest = key.partition(":")
    if sep and source in (SOURCE_ANY, SOURCE_K8S, SOURCE_RESERVED, "cidr", "unspec"):
        return source, rest
    return SOURCE_ANY, key


@dataclass(frozen=True)
class Requirement:
    source: str
    key: str
    operator: Operator
    values: frozenset[str] = frozenset()

    def matches(self, identity: Identity) -> bool:
        found = identity.lookup(self.source, self.key)
        if self.operator == "In":
            return bool(found & self.values)
        if self.operator == "NotIn":
            return not (found & self.values)
        if self.operator == "Exists":
            return bool(found)
        return not found

    def __str__(self) -> str:
        key = f"{self.source}:{self.key}"
        if self.operator == "In" and len(self.values) == 1:
            return f"{key}={next(iter(self.values))}"
        if self.operator in ("Exists", "DoesNotExist"):
            return f"{key} {self.operator}"
        return f"{key} {self.operator} ({', '.join(sorted(self.values))})"


@dataclass(frozen=True)
class Selector:
    """A label selector: every requirement must hold. No requirements selects everything."""

    requirements: frozenset[Requirement] = frozenset()

    @classmethod
    def equal(cls, pairs: Mapping[str, str]) -> Selector:
        return cls(frozenset(_equal(key, value) for key, value in pairs.items()))

    def matches(self, identity: Identity) -> bool:
        return all(req.matches(identity) for req in self.requirements)

    def has_key(self, key: str) -> bool:
        return any(req.key == key for req in self.requirements)

    def has_key_prefix(self, prefix: str) -> bool:
        return any(req.key.startswith(prefix) for req in self.requirements)

    def has_source(self, source: str) -> bool:
        return any(req.source == source for req in self.requirements)

    def with_requirements(self, extra: Iterable[Requirement]) -> Selector:
        return Selector(self.requirements | frozenset(extra))

    def __str__(self) -> str:
        return "{" + ", ".join(sorted(map(str, self.requirements))) + "}"


def _equal(key: str, value: str) -> Requirement:
    source, bare = split_key(key)
    return Requirement(source, bare, "In", frozenset({str(value)}))


def requirement(key: str, operator: Operator, values: Iterable[str] = ()) -> Requirement:
    source, bare = split_key(key)
    return Requirement(source, bare, operator, frozenset(str(v) for v in values))


def external_identity(address: str | None, hostname: str | None, lookup: str | None) -> Identity:
    """The identity of a destination outside the mesh: ``reserved:world``, its address (CIDR
    selectors match it), and the name the probe looked it up by with ``lookup`` (proxied or
    not), if it went by name.

    The world identity is ``reserved:world`` in a single-stack cluster and
    ``reserved:world-ipv4``/``world-ipv6`` in a dual-stack one (pkg/labels, ``LabelWorldIPv4``);
    the model does not know the stack, so it keeps ``world`` and leaves ``world-ipv4``/
    ``world-ipv6`` selectors unknown (docs/cilium-semantics.md s17)."""
    labels = {Label(SOURCE_RESERVED, WORLD, "")}
    if address is not None:
        labels.add(Label(SOURCE_IP, address, ""))
    if hostname is not None and lookup is not None:
        labels.add(Label(SOURCE_DNS, hostname.lower().rstrip("."), lookup))
    return Identity(frozenset(labels))


KUBE_DNS_NAMESPACE = "kube-system"
KUBE_DNS_LABELS = {"k8s-app": "kube-dns"}
"""The cluster DNS pods' labels (CoreDNS as kubeadm, kind and most distributions deploy it, behind
the Service ``kube-dns``; the label Cilium's DNS policy examples select)."""


def kube_dns_identity(cluster_name: str) -> Identity:
    """The identity of a cluster's DNS pods: ``k8s-app=kube-dns`` in ``kube-system``."""
    return pod_identity(KUBE_DNS_LABELS, KUBE_DNS_NAMESPACE, {}, "coredns", cluster_name)


def address_of(identity: Identity) -> str | None:
    """The address of an external identity, ``None`` for a pod."""
    for label in identity.labels:
        if label.source == SOURCE_IP:
            return label.key
    return None


def lookup_of(identity: Identity) -> tuple[str, str] | None:
    """``(name, proxied|resolved)`` of an external identity reached by name."""
    for label in identity.labels:
        if label.source == SOURCE_DNS:
            return label.key, label.value
    return None


def is_world(identity: Identity) -> bool:
    return bool(identity.lookup(SOURCE_RESERVED, WORLD))


KUBE_APISERVER = "kube-apiserver"


def kube_apiserver_identity() -> Identity:
    """The identity of the source cluster's API server as far as the model knows it:
    ``reserved:kube-apiserver`` (pkg/labels ``IDNameKubeAPIServer``). What else its address
    carries (host, remote-node, world, a CIDR) depends on where it runs (cilium#29432), so
    selectors of those stay unknown (docs/cilium-semantics.md s4)."""
    return Identity(frozenset({Label(SOURCE_RESERVED, KUBE_APISERVER, "")}))


def is_kube_apiserver(identity: Identity) -> bool:
    return bool(identity.lookup(SOURCE_RESERVED, KUBE_APISERVER))
