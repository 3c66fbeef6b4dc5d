"""Policy rules as the model evaluates them: cluster-specific, selectors fully scoped.

A policy document becomes one :class:`Rule` per spec. Parsing (:mod:`.parse`) already applied
what Cilium adds when it imports a rule into a cluster: the implicit namespace of a CNP, the
local-cluster term of ``policy-default-local-cluster``. So evaluation (:mod:`.decide`) is plain
matching, and each part keeps an ``origin`` string to explain a verdict.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from .labels import CLUSTER, Identity, Selector

Direction = Literal["ingress", "egress"]
L4 = Literal["TCP", "UDP", "SCTP"]
ALL_PROTOCOLS: frozenset[L4] = frozenset({"TCP", "UDP", "SCTP"})

#: Entities that select pods, and which (pkg/policy/api/entity.go; docs/cilium-semantics.md s4).
#: ``cluster``: pods of the local cluster only; ``cluster-mesh`` (1.20): pods of any cluster;
#: ``all``: everything. The others select nodes, hosts or the world, never a pod.
POD_ENTITIES = ("all", "cluster", "cluster-mesh")
KNOWN_ENTITIES = (
    *POD_ENTITIES,
    "world",
    "world-ipv4",
    "world-ipv6",
    "host",
    "remote-node",
    "kube-apiserver",
    "health",
    "init",
    "ingress",
    "unmanaged",
    "none",
)


@dataclass(frozen=True)
class Peer:
    """One L3 selection of a rule entry: which remote endpoints it is about."""

    kind: Literal["endpoints", "entity", "cidr", "nodes", "wildcard"]
    selector: Selector | None = None
    entity: str | None = None
    text: str = ""

    def matches(self, peer: Identity, local_cluster: str) -> bool:
        if self.kind == "wildcard":
            return True
        if self.kind == "endpoints":
            return self.selector is not None and self.selector.matches(peer)
        if self.kind == "entity":
            if self.entity == "all":
                return True
            if self.entity == "cluster":
                return peer.get(CLUSTER) == local_cluster
            if self.entity == "cluster-mesh":
                return peer.get(CLUSTER) is not None
        # CIDR and node selectors never match pods (docs/cilium-semantics.md s4, s6).
        return False


@dataclass(frozen=True)
class HttpRule:
    method: str | None = None
    path: str | None = None

    def matches(self, method: str, path: str) -> bool:
        # Cilium's HTTP fields are regular expressions matched against the whole value.
        if self.method is not None and not re.fullmatch(self.method, method):
            return False
        return self.path is None or re.fullmatch(self.path, path) is not None

    def __str__(self) -> str:
        return f"{self.method or '*'} {self.path or '*'}"


@dataclass(frozen=True)
class PortRule:
    """A port (range) and protocols; ``http`` restricts it at L7 when not ``None``."""

    port: int | None
    """``None``: every port."""
    end_port: int | None = None
    protocols: frozenset[L4] = ALL_PROTOCOLS
    http: tuple[HttpRule, ...] | None = None

    def matches(self, port: int, protocol: str) -> bool:
        if protocol not in self.protocols:
            return False
        if self.port is None:
            return True
        return self.port <= port <= (self.end_port or self.port)

    def __str__(self) -> str:
        where = "any port" if self.port is None else str(self.port)
        if self.end_port:
            where += f"-{self.end_port}"
        protos = "ANY" if self.protocols == ALL_PROTOCOLS else "/".join(sorted(self.protocols))
        return f"{where}/{protos}"


@dataclass(frozen=True)
class Entry:
    """One item of ``ingress``, ``egress``, ``ingressDeny`` or ``egressDeny``."""

    direction: Direction
    deny: bool
    peers: tuple[Peer, ...]
    """Empty: the entry selects no peer (``fromEndpoints: []``, or an entry with nothing)."""
    ports: tuple[PortRule, ...] | None
    """``None``: every port and protocol."""
    origin: str

    def port_rule(self, port: int, protocol: str) -> PortRule | None:
        """What the entry allows on ``port``/``protocol``: ``None`` if nothing.

        Every ``toPorts`` item of the entry that admits the port counts: if one of them has no
        L7 rules the port is open to every request, otherwise the HTTP rules of all of them
        are merged (docs/cilium-semantics.md Q4).
        """
        if self.ports is None:
            return PortRule(None)
        matching = [rule for rule in self.ports if rule.matches(port, protocol)]
        if not matching:
            return None
        if len(matching) == 1 or any(rule.http is None for rule in matching):
            return next((r for r in matching if r.http is None), matching[0])
        merged = tuple(http for rule in matching for http in rule.http or ())
        first = matching[0]
        return PortRule(first.port, first.end_port, first.protocols, merged)


@dataclass(frozen=True)
class Rule:
    """One spec of a policy, as imported into one cluster."""

    origin: str
    subject: Selector | None
    """``None``: a node selector, which selects no pod."""
    entries: tuple[Entry, ...]
    default_deny: frozenset[Direction]
    """Directions this rule switches its subjects to default deny in."""

    def selects(self, endpoint: Identity) -> bool:
        return self.subject is not None and self.subject.matches(endpoint)
