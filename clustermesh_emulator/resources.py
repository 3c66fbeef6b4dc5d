"""The resources the emulator serves, and the discovery documents kubectl reads to find them.

The typed Python client never asks for discovery: it builds paths itself. kubectl does, and
needs kinds, verbs and ``namespaced`` to be right before it will ``get`` or ``exec`` anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

NameRule = Literal["dns1123-label", "dns1123-subdomain", "dns1035-label"]

COMMON_FIELDS = ("metadata.name", "metadata.namespace")


@dataclass(frozen=True)
class Resource:
    """One served resource type, e.g. ``pods`` in core/v1."""

    group: str
    """API group, ``""`` for core."""
    version: str
    plural: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    """Served subresources besides the object itself: ``status``, ``log``, ``exec``, ``scale``."""
    name_rule: NameRule = "dns1123-subdomain"
    builtin: bool = True
    """False for CustomResourceDefinitions (the Cilium policies): their list items keep
    ``kind``/``apiVersion`` and they refuse strategic-merge patches, like a real server."""
    field_labels: tuple[str, ...] = ()
    """Fields usable in a ``fieldSelector`` besides :data:`COMMON_FIELDS`."""
    delete_returns_object: bool = False
    """Whether DELETE answers with the deleted object instead of a ``Status``."""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def prefix(self) -> str:
        """The URL prefix of the group version, ``/api/v1`` or ``/apis/apps/v1``."""
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    @property
    def qualified(self) -> str:
        """How error messages name the resource: ``pods``, ``deployments.apps``."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def qualified_kind(self) -> str:
        """How validation messages name the kind: ``Pod``, ``Deployment.apps``."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    @property
    def verbs(self) -> list[str]:
        verbs = ["create", "delete", "get", "list", "patch", "update"]
        if self.plural != "namespaces":
            verbs.insert(2, "deletecollection")
        return verbs

    def __str__(self) -> str:
        return self.qualified


NAMESPACES = Resource(
    "",
    "v1",
    "namespaces",
    "Namespace",
    namespaced=False,
    short_names=("ns",),
    subresources=("status",),
    name_rule="dns1123-label",
    field_labels=("status.phase",),
    delete_returns_object=True,
)
PODS = Resource(
    "",
    "v1",
    "pods",
    "Pod",
    namespaced=True,
    short_names=("po",),
    subresources=("status", "log", "exec"),
    delete_returns_object=True,
    field_labels=(
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ),
)
SERVICES = Resource(
    "",
    "v1",
    "services",
    "Service",
    namespaced=True,
    short_names=("svc",),
    subresources=("status",),
    name_rule="dns1035-label",
    delete_returns_object=True,
    field_labels=("spec.clusterIP", "spec.type"),
)
CONFIGMAPS = Resource("", "v1", "configmaps", "ConfigMap", namespaced=True, short_names=("cm",))
SECRETS = Resource("", "v1", "secrets", "Secret", namespaced=True, field_labels=("type",))
SERVICEACCOUNTS = Resource(
    "", "v1", "serviceaccounts", "ServiceAccount", namespaced=True, short_names=("sa",)
)
EVENTS = Resource(
    "",
    "v1",
    "events",
    "Event",
    namespaced=True,
    short_names=("ev",),
    field_labels=(
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ),
)
DEPLOYMENTS = Resource(
    "apps",
    "v1",
    "deployments",
    "Deployment",
    namespaced=True,
    short_names=("deploy",),
    subresources=("status", "scale"),
)
DAEMONSETS = Resource(
    "apps",
    "v1",
    "daemonsets",
    "DaemonSet",
    namespaced=True,
    short_names=("ds",),
    subresources=("status",),
)
ENDPOINTSLICES = Resource(
    # discovery.k8s.io/v1; the run lists only the API server's (``default/kubernetes``)
    "discovery.k8s.io",
    "v1",
    "endpointslices",
    "EndpointSlice",
    namespaced=True,
)
NETWORKPOLICIES = Resource(
    "networking.k8s.io",
    "v1",
    "networkpolicies",
    "NetworkPolicy",
    namespaced=True,
    short_names=("netpol",),
)
CILIUMNETWORKPOLICIES = Resource(
    "cilium.io",
    "v2",
    "ciliumnetworkpolicies",
    "CiliumNetworkPolicy",
    namespaced=True,
    short_names=("cnp", "ciliumnp"),
    subresources=("status",),
    builtin=False,
    delete_returns_object=True,
)
CILIUMCLUSTERWIDENETWORKPOLICIES = Resource(
    "cilium.io",
    "v2",
    "ciliumclusterwidenetworkpolicies",
    "CiliumClusterwideNetworkPolicy",
    namespaced=False,
    short_names=("ccnp",),
    subresources=("status",),
    builtin=False,
    delete_returns_object=True,
)

CLUSTERNETWORKPOLICIES = Resource(
    # network-policy-api v0.2.0's CRD, which Cilium 1.20 reads (cilium#47227); served as if
    # installed, as a mesh that tests ClusterNetworkPolicy has it.
    "policy.networking.k8s.io",
    "v1alpha2",
    "clusternetworkpolicies",
    "ClusterNetworkPolicy",
    namespaced=False,
    short_names=("cnp",),
    subresources=("status",),
    builtin=False,
    delete_returns_object=True,
)

RESOURCES: tuple[Resource, ...] = (
    NAMESPACES,
    PODS,
    SERVICES,
    CONFIGMAPS,
    SECRETS,
    SERVICEACCOUNTS,
    EVENTS,
    DEPLOYMENTS,
    DAEMONSETS,
    ENDPOINTSLICES,
    NETWORKPOLICIES,
    CILIUMNETWORKPOLICIES,
    CILIUMCLUSTERWIDENETWORKPOLICIES,
    CLUSTERNETWORKPOLICIES,
)

_BY_PATH = {(r.group, r.version, r.plural): r for r in RESOURCES}


def by_path(group: str, version: str, plural: str) -> Resource | None:
    return _BY_PATH.get((group, version, plural))


@dataclass(frozen=True)
class ResourcePath:
    """A resource URL taken apart: ``/apis/G/V[/namespaces/NS]/PLURAL[/NAME[/SUB]]``."""

    resource: Resource
    group: str
    namespace: str | None
    rest: list[str]
    """``[plural, name?, subresource?, ...]``, as the URL has them."""


def split_path(path: str) -> ResourcePath | None:
    """The served resource ``path`` points at; ``None`` for a non-resource URL (discovery,
    ``/version``, health) or a resource this emulator does not serve. A ``namespaces/NS``
    prefix is taken off only before a namespaced resource."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 3 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 4 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        inner = by_path(group, version, rest[2])
        if inner is not None and inner.namespaced:
            namespace, rest = rest[1], rest[2:]
    resource = by_path(group, version, rest[0])
    if resource is None:
        return None
    return ResourcePath(resource, group, namespace, rest)


def by_api_version(api_version: str, kind: str) -> Resource | None:
    for resource in RESOURCES:
        if resource.api_version == api_version and resource.kind == kind:
            return resource
    return None


def lookup(name: str) -> Resource:
    """A resource by kind, plural, singular, short name or ``plural.group``, any case.

    Raises ``KeyError`` for names the emulator does not serve.
    """
    wanted = name.lower()
    for resource in RESOURCES:
        names = {
            resource.kind.lower(),
            resource.plural,
            resource.singular,
            resource.qualified,
            resource.qualified_kind.lower(),
            *resource.short_names,
        }
        if wanted in names:
            return resource
    raise KeyError(name)


# ---------------------------------------------------------------------------------------------
# discovery


def _group_versions() -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for resource in RESOURCES:
        if resource.group and resource.version not in groups.setdefault(resource.group, []):
            groups[resource.group].append(resource.version)
    return groups


def api_versions(server_address: str) -> dict[str, Any]:
    """``GET /api``."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _api_group(group: str, versions: list[str]) -> dict[str, Any]:
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": entries, "preferredVersion": entries[0]}


def api_group_list() -> dict[str, Any]:
    """``GET /apis``."""
    groups = [_api_group(group, versions) for group, versions in _group_versions().items()]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(group: str) -> dict[str, Any] | None:
    """``GET /apis/<group>``."""
    versions = _group_versions().get(group)
    if versions is None:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_api_group(group, versions)}


_SUBRESOURCE_KINDS = {
    "status": (None, ["get", "patch", "update"]),
    "log": (None, ["get"]),
    "exec": ("PodExecOptions", ["create", "get"]),
    "scale": ("Scale", ["get", "patch", "update"]),
}


def api_resource_list(group: str, version: str) -> dict[str, Any] | None:
    """``GET /api/v1`` or ``GET /apis/<group>/<version>``."""
    served = [r for r in RESOURCES if r.group == group and r.version == version]
    if not served:
        return None
    entries: list[dict[str, Any]] = []
    for resource in served:
        entry: dict[str, Any] = {
            "name": resource.plural,
            "singularName": resource.singular,
            "namespaced": resource.namespaced,
            "kind": resource.kind,
            "verbs": resource.verbs,
        }
        if resource.short_names:
            entry["shortNames"] = list(resource.short_names)
        entries.append(entry)
        for sub in resource.subresources:
            kind, verbs = _SUBRESOURCE_KINDS[sub]
            sub_entry: dict[str, Any] = {
                "name": f"{resource.plural}/{sub}",
                "singularName": "",
                "namespaced": resource.namespaced,
                "kind": kind or resource.kind,
                "verbs": verbs,
            }
            if sub == "scale":
                sub_entry.update(group="autoscaling", version="v1")
            entries.append(sub_entry)
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": served[0].api_version,
        "resources": entries,
    }
