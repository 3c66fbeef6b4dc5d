"""The one small interface every mesh backend implements, and the values that cross it.

A backend is handed concrete, rendered things: real namespace names, policy documents with
their templates filled in, probes between named workloads. It never sees a scenario file. So
the simulated mesh and the Kubernetes driver run a scenario the same way, and a Python test can
drive either through the fixtures without a scenario at all.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from .errors import Location
from .facts import ClusterFacts
from .verdicts import ProbeResult, Verdict

Role = Literal["client", "server"]
Protocol_ = Literal["TCP", "UDP", "SCTP"]
"""A port's protocol."""
ProbeProtocol = Literal["TCP", "UDP", "SCTP", "ICMP"]
"""What a probe speaks: a port's protocol, or ICMP echo (which has no port)."""


@dataclass(frozen=True)
class NamespaceSpec:
    """A namespace, created under the same run-unique name in every cluster."""

    key: str
    """The scenario's name for it."""
    name: str
    """The name in the clusters."""
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PortSpec:
    port: int
    protocol: Protocol_ = "TCP"
    name: str | None = None
    """The container port's name, which policies may name instead of the number."""


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    annotations: Mapping[str, str] = field(default_factory=dict)
    annotations_in: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Per cluster, annotations merged over ``annotations`` there (a Service may be global but
    not shared in one cluster, say)."""

    def annotations_at(self, cluster: str) -> dict[str, str]:
        """The annotations of the Service object in ``cluster``."""
        return {**self.annotations, **self.annotations_in.get(cluster, {})}


@dataclass(frozen=True)
class WorkloadSpec:
    """A client or server workload, deployed in each of its clusters."""

    name: str
    role: Role
    namespace: str
    """The real namespace name."""
    labels: Mapping[str, str]
    clusters: tuple[str, ...]
    """Logical cluster names."""
    replicas: int = 1
    service_account: str | None = None
    ports: tuple[PortSpec, ...] = ()
    """Ports a server listens on."""
    service: ServiceSpec | None = None
    image: str | None = None
    replicas_in: Mapping[str, int] = field(default_factory=dict)
    """Per-cluster replica counts overriding ``replicas`` (0 models a cluster with no backend)."""

    def replicas_at(self, cluster: str) -> int:
        return self.replicas_in.get(cluster, self.replicas) if cluster in self.clusters else 0


@dataclass(frozen=True)
class Deployment:
    """Everything one scenario puts into the mesh."""

    key: str
    """Run-unique id of this deployment (used in names and labels)."""
    clusters: tuple[str, ...]
    namespaces: tuple[NamespaceSpec, ...]
    workloads: tuple[WorkloadSpec, ...]

    def workload(self, name: str) -> WorkloadSpec:
        for workload in self.workloads:
            if workload.name == name:
                return workload
        raise KeyError(name)

    def service_owner(self, service: str) -> WorkloadSpec:
        for workload in self.workloads:
            if workload.service and workload.service.name == service:
                return workload
        raise KeyError(service)


@dataclass(frozen=True)
class PolicyDoc:
    """One rendered policy document (CNP, CCNP or Kubernetes NetworkPolicy)."""

    kind: str
    name: str
    namespace: str | None
    body: Mapping[str, Any]
    """The whole document, templates filled in, ``metadata.name``/``namespace`` set."""
    source: Location | None = None

    @property
    def ref(self) -> str:
        where = f" ({self.source})" if self.source else ""
        return f"{self.kind} {self.namespace + '/' if self.namespace else ''}{self.name}{where}"


@dataclass(frozen=True)
class PodTarget:
    """The pods of a workload in one cluster, reached by pod IP."""

    cluster: str
    workload: str

    def __str__(self) -> str:
        return f"{self.cluster}/{self.workload}"


@dataclass(frozen=True)
class ServiceTarget:
    """A Service by name, resolved in the source's cluster."""

    name: str

    def __str__(self) -> str:
        return f"service/{self.name}"


@dataclass(frozen=True)
class ExternalTarget:
    """A destination outside the mesh (Cilium's ``world``), named by the scenario.

    A probe goes to ``hostname`` when there is one, so the client resolves it through the
    cluster's DNS as an application would (which is what ``toFQDNs`` needs), and to ``address``
    otherwise. ``address`` is what the simulated mesh takes the name to resolve to."""

    name: str
    address: str | None = None
    hostname: str | None = None

    def __str__(self) -> str:
        return f"external/{self.name}"


@dataclass(frozen=True)
class DnsTarget:
    """A DNS query for ``name`` to the cluster DNS (kube-dns) of the probe's source, on UDP
    53: what Cilium's DNS L7 rules (``rules.dns``) allow, refuse or drop."""

    name: str

    def __str__(self) -> str:
        return f"dns/{self.name}"


@dataclass(frozen=True)
class ApiServerTarget:
    """The API server of the probe's source cluster, reached at its own address (an endpoint
    of the ``default/kubernetes`` Service), which Cilium's ``kube-apiserver`` entity
    selects."""

    def __str__(self) -> str:
        return "entity/kube-apiserver"


KUBE_APISERVER_PORT = 6443
"""The API server's port where a scenario gives none (kubeadm's and kind's default)."""

Target = PodTarget | ServiceTarget | ExternalTarget | DnsTarget | ApiServerTarget


@dataclass(frozen=True)
class HttpRequest:
    method: str = "GET"
    path: str = "/"
    host: str | None = None
    """The Host header; ``None``: curl's default, the target's address and port."""
    headers: tuple[tuple[str, str], ...] = ()
    """Further request headers, (name, value)."""


@dataclass(frozen=True)
class Probe:
    """One connection attempt from a client workload in one cluster to a target."""

    source_cluster: str
    source: str
    """Client workload name."""
    target: Target
    port: int
    """The destination port; 0 for ICMP."""
    protocol: ProbeProtocol = "TCP"
    http: HttpRequest | None = None
    expect: Verdict | None = None
    """What the scenario expects; a backend retries toward it within its bound, since Cilium
    realises policy asynchronously. ``None`` probes once."""

    @property
    def destination(self) -> str:
        """``target:port``, with the protocol unless TCP; ``target:icmp`` for a ping and the
        bare ``dns/<name>`` for a DNS query (UDP 53 is implied)."""
        if isinstance(self.target, DnsTarget):
            return str(self.target)
        if self.protocol == "ICMP":
            return f"{self.target}:icmp"
        text = f"{self.target}:{self.port}"
        return text if self.protocol == "TCP" else f"{text}/{self.protocol}"

    def __str__(self) -> str:
        return f"{self.source_cluster}/{self.source}->{self.destination}"


# -- names and ownership: what every backend shares -------------------------------------------

MAX_NAME = 63
OWNER_LABEL = "clustermesh.pytest.io/run"
"""The label on everything a run creates; its value is the deployment key. Backends create
nothing without it and delete nothing that lacks it."""


def dns_name(*parts: str, limit: int = MAX_NAME) -> str:
    """Join parts into a DNS label, shortened with a hash suffix when too long."""
    name = re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")
    if len(name) <= limit:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{name[: limit - 9].rstrip('-')}-{digest}"


RUN_ID_BYTES = 3
"""A run id left to chance is this many random bytes, in hex: six characters."""
PLACEHOLDER_RUN_ID = "0" * 2 * RUN_ID_BYTES
"""What scenarios are rendered against at collection, before any run: as long as a default run
id, so a templated name or label value is as long as a default run makes it, and a value that
fits there is not refused at collection."""


def new_run_id() -> str:
    return secrets.token_hex(RUN_ID_BYTES)


def deployment_key(run_id: str, scenario: str, path: str = "") -> str:
    """``cm-<run>-<scenario>-<hash of the file>``: two scenarios of one run never share a key,
    even with the same name, and leave room for ``-<namespace key>`` in a namespace name."""
    digest = hashlib.sha1(path.encode()).hexdigest()[:5]
    return dns_name("cm", run_id, dns_name(scenario, limit=24), digest, limit=40)


def ownership_labels(deployment: Deployment) -> dict[str, str]:
    return {OWNER_LABEL: deployment.key}


class MeshBackend(Protocol):
    """A mesh of clusters that can run workloads, hold policies and be probed."""

    name: str

    def facts(self) -> Mapping[str, ClusterFacts]:
        """Facts of each logical cluster (Cilium name, version, options)."""
        ...

    def deploy(self, deployment: Deployment) -> None:
        """Create the deployment's namespaces and workloads and wait until they serve."""
        ...

    def set_policies(
        self, deployment: Deployment, cluster: str, policies: Sequence[PolicyDoc]
    ) -> None:
        """Make exactly ``policies`` the deployment's policies in force in ``cluster``."""
        ...

    def probe(self, deployment: Deployment, probes: Sequence[Probe]) -> list[ProbeResult]:
        """Run probes (concurrently where the backend can), one result each, in order."""
        ...

    def teardown(self, deployment: Deployment) -> None:
        """Remove everything created for the deployment; must be safe to call twice."""
        ...

    def close(self) -> None:
        """Release connections; called once at the end of the session."""
        ...
