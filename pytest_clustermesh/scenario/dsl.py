"""The scenario DSL, as pydantic models: one definition for the loader and the JSON Schema.

These models check shape and types only. References between parts (a workload's namespace, an
expectation's source, a policy file) are checked in :mod:`.load`, which knows the file.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
#: Logical names of clusters, namespaces and workloads: DNS labels, as they end up in names.
Name = Annotated[str, StringConstraints(pattern=DNS_LABEL, max_length=40)]
STEP_NAME = r"^[A-Za-z0-9][-A-Za-z0-9_.]*$"
StepName = Annotated[str, StringConstraints(pattern=STEP_NAME)]
HTTP_PATH = r"^/\S*$"
PortNumber = Annotated[int, Field(ge=1, le=65535)]
L4Protocol = Literal["TCP", "UDP", "SCTP"]
#: What a probe speaks: a port's protocol, or ICMP (an echo request, a ping; it has no port).
ProbeProtocolName = Literal["TCP", "UDP", "SCTP", "ICMP"]
#: A container port name (IANA_SVC_NAME): at most 15 lower-case letters, digits and '-'.
PortName = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=15),
]
VerdictName = Literal["allow", "deny", "drop", "l7-deny", "refused"]
ConditionValue = str | bool | int | float


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class NamespaceModel(_Strict):
    """A namespace of the scenario, created with a run-unique name in every cluster."""

    labels: dict[str, str] = Field(default_factory=dict)


class PortModel(_Strict):
    port: PortNumber
    protocol: L4Protocol = "TCP"
    name: PortName | None = Field(
        None, description="the container port's name, for policies that name the port"
    )


class ServiceModel(_Strict):
    """A Service in front of a server workload, created in each of the workload's clusters."""

    name: Name
    annotations: dict[str, str] = Field(
        default_factory=dict,
        description="e.g. service.cilium.io/global: 'true', service.cilium.io/affinity: local",
    )
    cluster_annotations: dict[Name, dict[str, str]] = Field(
        default_factory=dict,
        description="per cluster, annotations merged over `annotations` in that cluster, "
        "e.g. {cluster2: {service.cilium.io/shared: 'false'}}",
    )


class WorkloadModel(_Strict):
    """Client pods probe; server pods answer with the name of their cluster and pod."""

    role: Literal["client", "server"]
    labels: dict[str, str] = Field(default_factory=dict)
    namespace: Name | None = Field(None, description="a key of `namespaces`; default: the first")
    service_account: Name | None = None
    clusters: list[Name] | None = Field(None, description="default: every cluster")
    replicas: (
        Annotated[int, Field(ge=0, le=50)] | dict[Name, Annotated[int, Field(ge=0, le=50)]]
    ) = Field(1, description="a count, or a count per cluster (missing clusters: 1)")
    port: PortNumber | None = Field(None, description="shorthand for ports: [port]")
    ports: list[PortNumber | PortModel] | None = None
    service: ServiceModel | None = None
    image: str | None = Field(None, description="overrides the backend's image for this role")

    @model_validator(mode="after")
    def _ports_fit_role(self) -> WorkloadModel:
        if self.port is not None and self.ports is not None:
            raise ValueError("give either port or ports, not both")
        if self.role == "client" and (self.port or self.ports or self.service):
            raise ValueError("a client workload has no ports or service; make it a server")
        if self.role == "server" and self.port is None and not self.ports:
            raise ValueError("a server workload needs port or ports")
        names = [p.name for p in self.port_list() if p.name]
        if len(names) != len(set(names)):
            raise ValueError("two ports of a workload share a name")
        for name in names:
            if "--" in name or not any(c.isalpha() for c in name):
                raise ValueError(
                    f"port name {name!r}: a container port name needs a letter and no '--'"
                )
        return self

    def port_list(self) -> list[PortModel]:
        if self.port is not None:
            return [PortModel(port=self.port, name=None)]
        return [
            p if isinstance(p, PortModel) else PortModel(port=p, name=None)
            for p in self.ports or []
        ]


class PolicySourceModel(_Strict):
    """A named policy: a file beside the scenario, or a document written inline."""

    file: str | None = None
    inline: dict[str, Any] | list[dict[str, Any]] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> PolicySourceModel:
        if (self.file is None) == (self.inline is None):
            raise ValueError("give exactly one of file or inline")
        return self


class HttpModel(_Strict):
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = "GET"
    path: Annotated[str, StringConstraints(pattern=HTTP_PATH)] = "/"
    host: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9.:\[\]-]+$")] | None = Field(
        None, description="the Host header (default: curl's, the target's address and port)"
    )
    headers: dict[
        Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")],
        Annotated[str, StringConstraints(pattern=r"^[ -~]*$")],
    ] = Field(default_factory=dict, description="request headers, e.g. {X-Token: abc}")


#: A DNS name as a client looks it up: dot-separated labels of letters, digits and '-', each at
#: most 63 characters, not starting or ending with '-' (RFC 1123); at most 253 in all.
HOSTNAME = re.compile(
    r"^(?=.{1,253}\.?$)([A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?\.)*"
    r"[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?\.?$"
)


class ExternalModel(_Strict):
    """A destination outside the mesh (Cilium's ``world``): probed by name through the
    cluster's DNS when it has a hostname (what ``toFQDNs`` policies need), else by address."""

    address: str | None = Field(
        None,
        description="its IPv4 or IPv6 address; the simulated mesh takes the hostname to "
        "resolve to it, and CIDR rules (toCIDR, toCIDRSet, ipBlock) match it",
    )
    hostname: str | None = Field(
        None, description="a DNS name; a probe goes to it, resolved through kube-dns"
    )

    @field_validator("address")
    @classmethod
    def _an_address(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ipaddress.ip_address(value)
            except ValueError:
                raise ValueError(f"{value!r} is not an IPv4 or IPv6 address") from None
        return value

    @field_validator("hostname")
    @classmethod
    def _a_name(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            ipaddress.ip_address(value)
        except ValueError:
            pass
        else:
            raise ValueError(f"{value!r} is an address; give it as address")
        if not HOSTNAME.match(value):
            raise ValueError(
                f"{value!r} is not a DNS name (labels of letters, digits and '-' joined by '.')"
            )
        return value

    @model_validator(mode="after")
    def _one_at_least(self) -> ExternalModel:
        if self.address is None and self.hostname is None:
            raise ValueError("an external needs address, hostname or both")
        return self


class ExpectationModel(_Strict):
    """An expected verdict from clients to servers; ``*`` in either half widens it."""

    source: str = Field(
        alias="from", description="cluster/workload; `*` for any cluster or workload"
    )
    to: str = Field(
        description="cluster/workload (its pods), service/<name> (from the source's cluster), "
        "external/<name> (a key of `externals`), dns/<name> (a DNS query for the name to "
        "the source cluster's kube-dns) or entity/kube-apiserver (the source cluster's API "
        "server; port default 6443)"
    )
    port: PortNumber | None = Field(
        None,
        description="default: the server's first port; none with protocol ICMP; required "
        "for an external target",
    )
    protocol: ProbeProtocolName | None = Field(
        None, description="default: the port's protocol; ICMP sends a ping (echo request)"
    )
    http: HttpModel | None = None
    verdict: VerdictName
    served_by: Name | list[Name] | None = Field(
        None, description="the cluster(s) whose backend must answer (allow, service targets)"
    )
    when: dict[str, ConditionValue | dict[str, ConditionValue]] | None = Field(
        None,
        description="facts the mesh must have for this to apply: cilium: '>=1.19' and agent "
        "options hold in every cluster; under a cluster's name, or source/destination (the "
        "probe's clusters), a mapping of facts that hold in that cluster only, e.g. "
        "destination: {policy-default-local-cluster: true}",
    )
    xfail: str | None = Field(None, description="a known gap: expected to fail, strictly")


class MatrixModel(_Strict):
    """Every client-to-server pair of a step, each expected to get what the model predicts."""

    source: str = Field("*/*", alias="from", description="clients, as in an expectation")
    to: str | list[str] = Field(
        "*/*",
        description="servers, service/<name>, external/<name> or dns/<name>, one or a list",
    )
    port: PortNumber | None = Field(
        None, description="default: each server's first port; none with protocol ICMP"
    )
    protocol: ProbeProtocolName | None = Field(
        None, description="default: the port's protocol; ICMP sends a ping (echo request)"
    )


class StepModel(_Strict):
    """A declarative state (which policies are in force where) and what must hold in it."""

    name: StepName
    description: str | None = None
    policies: dict[str, list[str]] = Field(
        default_factory=dict,
        description="cluster (or `*` for all) -> policy files or names of `policies`",
    )
    matrix: MatrixModel | None = Field(
        None, description="probe every pair; expectations come from the model unless pinned"
    )
    expect: list[ExpectationModel] = Field(
        default_factory=list, description="pinned expectations (they override matrix cells)"
    )

    @model_validator(mode="after")
    def _something_to_check(self) -> StepModel:
        if not self.expect and self.matrix is None:
            raise ValueError("a step needs expect, matrix, or both")
        return self


class ScenarioModel(_Strict):
    """A scenario file (``*.scenario.yaml``)."""

    name: Name | None = Field(None, description="default: the file name")
    description: str | None = None
    clusters: list[Name] = Field(min_length=1)
    namespaces: dict[Name, NamespaceModel] = Field(
        default_factory=lambda: {"default": NamespaceModel()},
        description="the scenario's namespaces; each gets a run-unique name",
    )
    workloads: dict[Name, WorkloadModel] = Field(min_length=1)
    policies: dict[Name, PolicySourceModel] = Field(default_factory=dict)
    externals: dict[Name, ExternalModel] = Field(
        default_factory=dict,
        description="destinations outside the mesh, probed as external/<name>: "
        "{address: <IPv4 or IPv6>, hostname: <DNS name>} (at least one)",
    )
    steps: list[StepModel] = Field(min_length=1)
    facts: dict[Name, dict[str, ConditionValue]] | None = Field(
        None,
        description="the mesh this scenario is written for, per cluster: cilium: '1.18' and "
        "agent options. The simulated mesh runs these clusters so (over --sim-cilium-version "
        "and --sim-option); on real clusters each expectation is skipped unless they hold",
    )


def json_schema() -> dict[str, Any]:
    """The JSON Schema of scenario files, for editors (published as scenario.schema.json)."""
    schema = ScenarioModel.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://pytest-clustermesh.invalid/scenario.schema.json"
    return schema
