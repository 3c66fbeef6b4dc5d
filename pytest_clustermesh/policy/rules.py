"""Policy rules as the model evaluates them: cluster-specific, selectors fully scoped.

A policy document becomes one :class:`Rule` per spec. Parsing (:mod:`.parse`) already applied
what Cilium adds when it imports a rule into a cluster: the implicit namespace of a CNP, the
local-cluster term of ``policy-default-local-cluster``. So evaluation (:mod:`.decide`) is plain
matching, and each part keeps an ``origin`` string to explain a verdict.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Literal

from .labels import (
    CLUSTER,
    LOOKUP_PROXIED,
    Identity,
    Requirement,
    Selector,
    address_of,
    is_kube_apiserver,
    is_world,
    lookup_of,
)

Direction = Literal["ingress", "egress"]
L4 = Literal["TCP", "UDP", "SCTP", "ICMP", "ICMPv6"]
ALL_PROTOCOLS: frozenset[L4] = frozenset({"TCP", "UDP", "SCTP"})
"""What ``ANY`` (or no protocol) in a port rule stands for: never ICMP (language.rst, "Limit
ingress/egress ports": once an L4 rule applies, ICMP is blocked; docs/cilium-semantics.md s16)."""
ICMP_PROTOCOLS: frozenset[str] = frozenset({"ICMP", "ICMPv6"})
ICMP_ECHO_REQUEST = 8
"""The ICMPv4 type of a ping (RFC 792), the one ICMP message a probe sends."""

#: Entities that select pods, and which (pkg/policy/api/entity.go; docs/cilium-semantics.md s4).
#: ``cluster``: pods of the local cluster only; ``cluster-mesh`` (1.20): pods of any cluster;
#: ``all``: everything. The others select nodes, hosts or the world, never a pod.
POD_ENTITIES = ("all", "cluster", "cluster-mesh")
KUBE_APISERVER_ENTITY = "kube-apiserver"
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

    kind: Literal["endpoints", "entity", "cidr", "nodes", "wildcard", "fqdn", "opaque"]
    selector: Selector | None = None
    entity: str | None = None
    text: str = ""
    local_scope: Requirement | None = None
    """The local-cluster term that ``policy-default-local-cluster`` added (s2), if any."""
    namespace_scope: Requirement | None = None
    """The policy's implicit namespace term (s1), if any."""
    scope_note: str = ""
    """Why the local-cluster term is there: the option's value and whether it is the default."""
    cidrs: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """``cidr``: the prefixes it selects, each with its ``except`` prefixes."""
    names: tuple[str, ...] = ()
    """``fqdn``: ``toFQDNs`` patterns (``matchName`` values are patterns without ``*``)."""

    def matches(self, peer: Identity, local_cluster: str) -> bool:
        return self.match_state(peer, local_cluster) is True

    def match_state(self, peer: Identity, local_cluster: str) -> bool | None:
        """Whether the peer selects ``peer``; ``None`` when the model cannot tell (the reason
        is :meth:`unsure_why`)."""
        if self.kind == "wildcard":
            return True
        if self.kind == "endpoints":
            return self.selector is not None and self.selector.matches(peer)
        if is_kube_apiserver(peer):
            return self._apiserver_state()
        world = is_world(peer)
        if self.kind == "entity":
            if self.entity == "all":
                return True
            if self.entity == "cluster":
                return peer.get(CLUSTER) == local_cluster
            if self.entity == "cluster-mesh":
                return peer.get(CLUSTER) is not None
            if self.entity == "world":
                return world
            if self.entity in ("world-ipv4", "world-ipv6") and world:
                address = address_of(peer)
                family = "world-ipv6" if address and ":" in address else "world-ipv4"
                # The split identity exists in dual-stack clusters only (s17).
                return None if address is not None and family == self.entity else False
            return False
        if not world:
            # CIDR, FQDN and node selectors never match pods (docs/cilium-semantics.md s4, s6).
            return False
        if self.kind == "cidr":
            address = address_of(peer)
            if address is None:
                return None  # a name whose address the scenario does not give
            return any(
                _within(address, cidr) and not any(_within(address, e) for e in excepts)
                for cidr, excepts in self.cidrs
            )
        if self.kind == "fqdn":
            lookup = lookup_of(peer)
            if lookup is None:
                return None  # reached by address: which names Cilium learned for it is unknown
            name, how = lookup
            if not any(fqdn_match(pattern, name) for pattern in self.names):
                return False
            return True if how == LOOKUP_PROXIED else None
        if self.kind == "opaque":
            return None
        return False

    def _apiserver_state(self) -> bool | None:
        """Whether this peer selects the API server (docs/cilium-semantics.md s4): the
        entities ``kube-apiserver``, ``cluster``, ``cluster-mesh`` and ``all`` do
        (pkg/policy/api/entity.go); node, world and CIDR selectors do or not depending on
        where the API server runs, which the model does not know; ``toFQDNs`` never."""
        if self.kind == "entity":
            if self.entity in (KUBE_APISERVER_ENTITY, "cluster", "cluster-mesh", "all"):
                return True
            if self.entity in ("host", "remote-node", "world", "world-ipv4", "world-ipv6"):
                return None
            return False
        if self.kind in ("cidr", "nodes", "opaque"):
            return None
        return False

    def unsure_why(self, peer: Identity) -> str:
        """Why :meth:`match_state` cannot tell for ``peer``."""
        if is_kube_apiserver(peer):
            return (
                f"{self.text or 'entity ' + str(self.entity)}: whether the API server's address "
                "also has a node's identity (host, remote-node), the world's or a CIDR's depends "
                "on where it runs (on a node of the cluster or outside it) and on "
                "policy-cidr-match-mode (cilium#29432), which the model does not know"
            )
        if self.kind == "fqdn":
            lookup = lookup_of(peer)
            if lookup is None:
                return (
                    f"{self.text}: the probe goes to an address, not a name; Cilium admits it "
                    "only if its DNS proxy saw some name resolve to it, which the model does "
                    "not know (give the external a hostname)"
                )
            return (
                f"{self.text}: the source looked {lookup[0]} up without Cilium's DNS proxy (no "
                "DNS rule of its egress covers the query), so whether Cilium learned the "
                "address depends on other lookups on the node (language.rst, DNS based)"
            )
        if self.kind == "cidr":
            return f"{self.text}: the external's address is not given, only its name"
        if self.kind == "entity":
            return (
                f"entity {self.entity}: the world identity is split by address family only in "
                "dual-stack clusters, which the model does not know"
            )
        return f"{self.text}: beyond the model"


def _within(address: str, cidr: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False
    return ip.version == network.version and ip in network


def fqdn_match(pattern: str, name: str) -> bool:
    """A ``matchName``/``matchPattern`` against a DNS name: case-insensitive, a trailing dot
    ignored; ``*`` alone matches every name, ``*`` within a name any run of DNS characters but
    ``.`` (language.rst, DNS based; pkg/fqdn/matchpattern)."""
    pattern = pattern.lower().rstrip(".")
    name = name.lower().rstrip(".")
    if pattern == "*":
        return True
    if pattern.startswith("**."):
        # One or more whole labels before the rest (the multi-level wildcard that Cilium's
        # ClusterNetworkPolicy import writes for a domain name "*.example.com",
        # kcnpParseFQDNSelectors, pkg/k8s/cluster_network_policy.go).
        head, dot, _ = name.partition(".")
        return bool(head and dot) and (
            fqdn_match(pattern[3:], name.partition(".")[2])
            or fqdn_match(pattern, name[len(head) + 1 :])
        )
    regex = "".join("[-a-z0-9_]*" if ch == "*" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, name) is not None


@dataclass(frozen=True)
class HttpRule:
    method: str | None = None
    path: str | None = None
    host: str | None = None
    """A regular expression on the Host header (``:authority``), matched whole."""
    headers: tuple[tuple[str, str | None], ...] = ()
    """Headers that must be present, with the exact value when given (pkg/envoy/server.go
    ``getHTTPRule``: ``"X-Key: value"`` or ``"X-Key"``)."""

    def matches(
        self,
        method: str,
        path: str,
        host: str | None = None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> bool | None:
        """Whether the request matches; ``None`` when it depends on the Host header and the
        request leaves it to curl (the target's address, which the model does not know)."""
        # Cilium's HTTP fields are regular expressions matched against the whole value.
        if self.method is not None and not re.fullmatch(self.method, method):
            return False
        if self.path is not None and re.fullmatch(self.path, path) is None:
            return False
        sent = {name.lower(): value for name, value in headers}
        for name, value in self.headers:
            if name.lower() not in sent or (value is not None and sent[name.lower()] != value):
                return False
        if self.host is not None:
            if host is None:
                return None
            return re.fullmatch(self.host, host) is not None
        return True

    def __str__(self) -> str:
        extra = "".join(
            [f" host={self.host}" if self.host else ""]
            + [f" {n}: {v}" if v is not None else f" {n}" for n, v in self.headers]
        )
        return f"{self.method or '*'} {self.path or '*'}{extra}"


@dataclass(frozen=True)
class PortRule:
    """A port (range) and protocols; ``http`` restricts it at L7 when not ``None``."""

    port: int | None
    """``None``: every port."""
    end_port: int | None = None
    protocols: frozenset[L4] = ALL_PROTOCOLS
    http: tuple[HttpRule, ...] | None = None
    unknown: str | None = None
    """What of this port rule the model does not cover (DNS or Kafka rules, HTTP header
    rules): when it could admit a flow, the model cannot say what Cilium decides."""
    name: str | None = None
    """A named port: it admits the destination pod's container port of that name (s5)."""
    per_node: bool = False
    """A named port of an egress rule before 1.20, resolved per node rather than per
    destination (cilium#24779): a name with several numbers in the mesh is unknown."""
    dns: tuple[str, ...] | None = None
    """DNS L7 rules: the ``matchName``/``matchPattern`` patterns of the names its proxy lets
    through (a query for any other name is answered REFUSED); ``None``: no DNS rules."""

    def matches(self, port: int, protocol: str, name: str | None = None) -> bool:
        if protocol not in self.protocols:
            return False
        if self.icmp:
            return self.port == port  # an ICMP type, never a range
        if self.name is not None:
            return name == self.name
        if self.port is None:
            return True  # every port, or a named port the model cannot resolve
        return self.port <= port <= (self.end_port or self.port)

    @property
    def plain(self) -> bool:
        """No L7 rule of any kind: the port is open to every request."""
        return self.http is None and self.unknown is None and self.dns is None

    @property
    def icmp(self) -> bool:
        """An ``icmps`` field: ``port`` is the ICMP type, ``protocols`` the family."""
        return bool(self.protocols) and self.protocols <= ICMP_PROTOCOLS

    def __str__(self) -> str:
        if self.icmp:
            return f"{'/'.join(sorted(self.protocols))} type {self.port}"
        where = "any port" if self.port is None else str(self.port)
        if self.name is not None:
            where = f"port {self.name!r}"
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

    def port_rule(self, port: int, protocol: str, name: str | None = None) -> PortRule | None:
        """What the entry allows on ``port``/``protocol``: ``None`` if nothing.

        Every ``toPorts`` item of the entry that admits the port counts: if one of them has no
        L7 rules the port is open to every request, otherwise the HTTP rules of all of them
        are merged (docs/cilium-semantics.md Q4).
        """
        if self.ports is None:
            return PortRule(None)
        matching = [rule for rule in self.ports if rule.matches(port, protocol, name)]
        if not matching:
            return None
        plain = next((r for r in matching if r.plain), None)
        if plain is not None:
            return plain
        if len(matching) == 1:
            return matching[0]
        merged = tuple(http for rule in matching for http in rule.http or ())
        unknown = next((rule.unknown for rule in matching if rule.unknown), None)
        dns = tuple(name for rule in matching for name in rule.dns or ())
        first = matching[0]
        return PortRule(
            first.port,
            first.end_port,
            first.protocols,
            merged if any(rule.http is not None for rule in matching) else None,
            unknown,
            dns=dns if any(rule.dns is not None for rule in matching) else None,
        )


@dataclass(frozen=True)
class Rule:
    """One spec of a policy, as imported into one cluster."""

    origin: str
    subject: Selector | None
    """``None``: a node selector, which selects no pod."""
    entries: tuple[Entry, ...]
    default_deny: frozenset[Direction]
    """Directions this rule switches its subjects to default deny in."""
    unknown: tuple[tuple[Direction, str], ...] = ()
    """Directions in which what this rule does to its subjects is beyond the model, each with
    the feature (``fromRequires``, or a document the model could not read at all): every
    verdict there that no deny settles is unknown."""

    def selects(self, endpoint: Identity) -> bool:
        return self.subject is not None and self.subject.matches(endpoint)


def unreadable_rule(origin: str, why: str) -> Rule:
    """A policy the model cannot read at all, as the oracle of a real mesh keeps it: it may
    select any endpoint, so every verdict of its cluster that no deny settles is unknown."""
    return Rule(
        origin,
        Selector(),
        (),
        frozenset(),
        (("ingress", why), ("egress", why)),
    )
