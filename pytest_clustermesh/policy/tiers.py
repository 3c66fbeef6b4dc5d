"""Kubernetes ClusterNetworkPolicy (``policy.networking.k8s.io/v1alpha2``): tiered rules.

Cilium enforces this API from 1.20, when the agent runs with
``enable-k8s-cluster-network-policy`` and the CRD of network-policy-api v0.2.0 is installed
(cilium#47227; docs/cilium-semantics.md s18). Its rules are not additive like a CNP's: each is
an *action* (Accept, Deny or Pass) in a *tier* (Admin or Baseline), ordered by the policy's
``priority`` and then by the rule's place in its list, and the first rule that matches decides.
The tiers bracket the policies the model already knows:

1. Admin tier: Accept and Deny are final (an Accept overrides a CNP deny); Pass goes on to 2.
2. NetworkPolicy tier: KNP, CNP and CCNP as ever. They are final for an endpoint that they put
   into default deny, or when one of their rules allows or denies the flow.
3. Baseline tier: consulted only when tier 2 decided nothing; Accept and Deny are final.
4. Otherwise the endpoint's default applies (allowed, unless ``enable-policy=always``).

How Cilium imports a policy (``ParseClusterNetworkPolicy``, pkg/k8s/cluster_network_policy.go):
a ``pods`` peer gets the local-cluster term the way a NetworkPolicy peer does, unless its pod
selector names ``io.cilium.k8s.policy.cluster`` (``kcnpParseNamespacedPod``); a ``namespaces``
peer gets none, so it selects pods of every cluster of the mesh; the policy never puts its
subjects into default deny (``DefaultDeny = false``); ``domainNames`` are only for Accept rules.
This module turns a document into :class:`TieredEntry` objects inside ordinary
:class:`~.rules.Rule` objects, so the index that evaluates CNPs interns their selectors too.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from packaging.version import Version

from ..facts import ClusterFacts, release_of
from .labels import NAMESPACE, NAMESPACE_LABELS, SOURCE_K8S, Requirement, Selector, requirement
from .parse import (
    CCNP,
    ClusterContext,
    InvalidPolicy,
    Path,
    _expect_list,
    _expect_mapping,
    _local,
    _names_cluster,
    _only,
    _scope_note,
    parse_selector,
)
from .parse import parse_document as parse_cilium_or_k8s
from .rules import ALL_PROTOCOLS, L4, Direction, Entry, Peer, PortRule, Rule

KCNP = "ClusterNetworkPolicy"
KCNP_API_VERSION = "policy.networking.k8s.io/v1alpha2"
CLUSTERWIDE_KINDS = (CCNP, KCNP)
"""Kinds without a namespace: their names are shared by every run on a cluster, and they may
select pods of any namespace (so real clusters apply them only when the user allows it)."""
ENFORCED_FROM = Version("1.20")
OPTION = "enable-k8s-cluster-network-policy"

Tier = Literal["Admin", "Baseline"]
Action = Literal["Accept", "Deny", "Pass"]
TIERS: tuple[Tier, ...] = ("Admin", "Baseline")
ACTIONS: tuple[Action, ...] = ("Accept", "Deny", "Pass")
MAX_RULES = 25
"""Rules per direction, peers per rule and protocols per rule: the CRD's ``maxItems``."""


@dataclass(frozen=True)
class TieredRule(Rule):
    """The rules of one ClusterNetworkPolicy: they select endpoints but never put them into
    default deny, and they are evaluated in their tiers, not with the NetworkPolicy tier."""


@dataclass(frozen=True)
class TieredEntry(Entry):
    """One ingress or egress rule of a ClusterNetworkPolicy, as one entry per peer."""

    tier: Tier = "Admin"
    priority: int = 0
    position: int = 0
    """The rule's index in its direction's list: earlier rules of a policy come first."""
    action: Action = "Accept"

    @property
    def order(self) -> tuple[int, int]:
        return (self.priority, self.position)


def enforces(ctx: ClusterContext) -> bool:
    """Whether the agent of ``ctx``'s cluster enforces ClusterNetworkPolicy."""
    return release_of(ctx.version) >= ENFORCED_FROM and ctx.cluster_network_policy


def enforces_cluster_network_policy(facts: ClusterFacts) -> bool:
    """Whether a cluster with these facts enforces ClusterNetworkPolicy."""
    return release_of(facts.cilium_version) >= ENFORCED_FROM and facts.cluster_network_policy


def parse_document(doc: Mapping[str, Any], ctx: ClusterContext) -> list[Rule]:
    """Any policy document the model knows, as ``ctx``'s cluster imports it.

    A ClusterNetworkPolicy that the cluster does not enforce (before 1.20, or without
    ``enable-k8s-cluster-network-policy``) is still checked, as the API server checks it when
    the CRD is installed, and then has no effect: it yields no rule.
    """
    if isinstance(doc, Mapping) and doc.get("kind") == KCNP:
        rules = parse_kcnp(doc, ctx)
        return rules if enforces(ctx) else []
    return parse_cilium_or_k8s(doc, ctx)


def parse_kcnp(doc: Mapping[str, Any], ctx: ClusterContext) -> list[Rule]:
    """One :class:`Rule` holding every rule of a ClusterNetworkPolicy as tiered entries."""
    _expect_mapping(doc, ())
    _only(doc, ("apiVersion", "kind", "metadata", "spec", "status"), ())
    if doc.get("apiVersion") != KCNP_API_VERSION:
        raise InvalidPolicy(
            f"must be {KCNP_API_VERSION} for a {KCNP}, not {doc.get('apiVersion')!r}",
            ("apiVersion",),
        )
    meta = _expect_mapping(doc.get("metadata"), ("metadata",))
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidPolicy("metadata.name is required", ("metadata",))
    spec = _expect_mapping(doc.get("spec"), ("spec",))
    _only(spec, ("tier", "priority", "subject", "ingress", "egress"), ("spec",))
    tier = spec.get("tier")
    if tier not in TIERS:
        raise InvalidPolicy(f"tier must be Admin or Baseline, not {tier!r}", ("spec", "tier"))
    priority = spec.get("priority")
    if not isinstance(priority, int) or isinstance(priority, bool) or not 0 <= priority <= 1000:
        raise InvalidPolicy(
            f"priority must be a whole number from 0 to 1000, not {priority!r}",
            ("spec", "priority"),
        )
    subject = _subject(spec.get("subject"), ("spec", "subject"))
    origin = f"KCNP {name}"
    entries: list[Entry] = []
    sections: tuple[tuple[str, Direction, str], ...] = (
        ("ingress", "ingress", "from"),
        ("egress", "egress", "to"),
    )
    for key, direction, peer_key in sections:
        items = spec.get(key)
        if items is None:
            continue
        _expect_list(items, ("spec", key))
        if len(items) > MAX_RULES:
            raise InvalidPolicy(f"at most {MAX_RULES} {key} rules", ("spec", key))
        for position, item in enumerate(items):
            where: Path = ("spec", key, position)
            entries += _rule_entries(
                item, where, direction, peer_key, (tier, priority, position), origin, ctx
            )
    return [TieredRule(origin, subject, tuple(entries), frozenset())]


def _subject(raw: Any, path: Path) -> Selector:
    one = _exactly_one(raw, ("namespaces", "pods"), path)
    if one == "namespaces":
        return Selector(frozenset(_namespace_terms(raw["namespaces"], (*path, "namespaces"))))
    return _namespaced_pods(raw["pods"], (*path, "pods"))


def _rule_entries(
    item: Any,
    where: Path,
    direction: Direction,
    peer_key: str,
    place: tuple[Tier, int, int],
    origin: str,
    ctx: ClusterContext,
) -> list[Entry]:
    _expect_mapping(item, where)
    _only(item, ("name", "action", peer_key, "protocols"), where)
    action = item.get("action")
    if action not in ACTIONS:
        raise InvalidPolicy(
            f"action must be Accept, Deny or Pass, not {action!r}", (*where, "action")
        )
    label = item.get("name")
    if label is not None and (not isinstance(label, str) or len(label) > 100):
        raise InvalidPolicy("a rule's name is a string of at most 100 characters", where)
    ports = _protocols(item.get("protocols"), (*where, "protocols"))
    raw_peers = item.get(peer_key)
    _expect_list(raw_peers, (*where, peer_key))
    if not raw_peers or len(raw_peers) > MAX_RULES:
        raise InvalidPolicy(f"{peer_key} needs 1 to {MAX_RULES} peers", (*where, peer_key))
    tier, priority, position = place
    text = f"{origin} {where[1]}[{position}]"
    if label:
        text += f" ({label})"
    text += f", {tier} tier, priority {priority}, {action}"
    entries: list[Entry] = []
    for i, raw in enumerate(raw_peers):
        peer = _peer(raw, (*where, peer_key, i), direction, action, ctx)
        entry = TieredEntry(
            direction,
            action == "Deny",
            (peer,),
            ports,
            text,
            tier=tier,
            priority=priority,
            position=position,
            action=action,
        )
        entries.append(entry)
        if peer.kind == "fqdn":
            entries.append(_dns_entry(peer, entry))
    return entries


def _peer(raw: Any, path: Path, direction: Direction, action: str, ctx: ClusterContext) -> Peer:
    kinds = ("namespaces", "pods") if direction == "ingress" else _EGRESS_PEERS
    one = _exactly_one(raw, kinds, path)
    where = (*path, one)
    if one == "namespaces":
        # No cluster term: ParseClusterNetworkPolicy builds this selector from the namespace
        # labels alone, so it selects the namespace's pods in every cluster of the mesh.
        selector = Selector(frozenset(_namespace_terms(raw[one], where)))
        return Peer("endpoints", selector=selector, text=f"namespaces {selector}")
    if one == "pods":
        pods = _namespaced_pods(raw[one], where)
        local = None
        if ctx.default_local_cluster and not _names_cluster(raw[one].get("podSelector")):
            local = _local(ctx)
            pods = pods.with_requirements([local])
        return Peer(
            "endpoints",
            selector=pods,
            text=f"pods {pods}",
            local_scope=local,
            scope_note=_scope_note(ctx) if local else "",
        )
    if one == "networks":
        cidrs = _items(raw[one], where, "networks", "CIDRs")
        for i, cidr in enumerate(cidrs):
            if not is_cidr(cidr):
                raise InvalidPolicy(f"Invalid CIDR format provided: {cidr!r}", (*where, i))
        return Peer(
            "cidr", text=f"networks {', '.join(cidrs)}", cidrs=tuple((c, ()) for c in cidrs)
        )
    if one == "nodes":
        parse_selector(raw[one], where)
        if not ctx.node_selector_labels:
            raise InvalidPolicy(
                "egress.to.nodes is not supported since node selector labels are disabled "
                "(enable-node-selector-labels)",
                where,
            )
        return Peer("nodes", text="nodes (never a pod)")
    if action != "Accept":
        raise InvalidPolicy("egress.to.domainNames is only supported for Accept rules", where)
    names = _items(raw[one], where, "domainNames", "names")
    for i, name in enumerate(names):
        if not isinstance(name, str) or not _DOMAIN_NAME.match(name):
            raise InvalidPolicy(
                f"{name!r} is not a domain name ('*.' may only lead it)", (*where, i)
            )
    return Peer("fqdn", text=f"domainNames {', '.join(names)}", names=_patterns(names))


def is_cidr(text: Any) -> bool:
    """The CRD's ``isCIDR(self)`` (network-policy-api ``CIDR``): Kubernetes' CEL library
    (k8s.io/apiserver pkg/cel/library/cidr.go) reads it with Go's ``netip.ParsePrefix`` and
    refuses an IPv4-mapped IPv6 address. ``ParsePrefix`` takes a decimal length without sign or
    leading zero and no IPv6 zone, and leaves host bits alone, so ``10.0.0.1/8`` passes while
    ``10.0.0.0/255.0.0.0`` and ``10.0.0.0/08`` do not."""
    if not isinstance(text, str) or "%" in text:
        return False
    address, slash, bits = text.rpartition("/")
    if not slash or not bits.isascii() or not bits.isdigit() or bits != str(int(bits)):
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return False
    return int(bits) <= ip.max_prefixlen


_EGRESS_PEERS = ("namespaces", "pods", "nodes", "networks", "domainNames")
#: The CRD's pattern for a DomainName (network-policy-api apis/v1alpha2).
_DOMAIN_NAME = re.compile(
    r"^(\*\.)?([a-zA-Z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\.)+[a-zA-Z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\.?$"
)


def _items(raw: Any, path: Path, key: str, what: str) -> list[Any]:
    _expect_list(raw, path)
    if not raw or len(raw) > MAX_RULES:
        raise InvalidPolicy(f"{key} needs 1 to {MAX_RULES} {what}", path)
    return list(raw)


def _patterns(names: Sequence[str]) -> tuple[str, ...]:
    """Domain names as Cilium's FQDN patterns: ``*.example.com`` matches subdomains at any
    depth, so Cilium writes it as ``**.example.com`` (kcnpParseFQDNSelectors)."""
    return tuple(f"*{name}" if name.startswith("*.") else name for name in names)


def _dns_entry(peer: Peer, template: TieredEntry) -> TieredEntry:
    """The allow of DNS to kube-dns that Cilium adds beside a ``domainNames`` peer, with DNS
    rules for those names, so its DNS proxy sees the lookups and learns the addresses
    (kcnpParseFQDNSelectors' caller; ports named ``dns`` and ``dns-tcp``)."""
    kube_dns = Selector(frozenset({requirement(f"{SOURCE_K8S}:k8s-app", "In", ["kube-dns"])}))
    ports = tuple(
        PortRule(None, protocols=ALL_PROTOCOLS, name=name, dns=peer.names)
        for name in ("dns", "dns-tcp")
    )
    return replace(
        template,
        peers=(Peer("endpoints", selector=kube_dns, text=f"endpoints {kube_dns}"),),
        ports=ports,
        origin=f"{template.origin} (its DNS allow to kube-dns)",
    )


def _namespaced_pods(raw: Any, path: Path) -> Selector:
    _expect_mapping(raw, path)
    _only(raw, ("namespaceSelector", "podSelector"), path)
    if "podSelector" not in raw:
        raise InvalidPolicy("podSelector is required ({} selects every pod)", path)
    pods = parse_selector(raw["podSelector"], (*path, "podSelector"), SOURCE_K8S)
    terms = _namespace_terms(raw.get("namespaceSelector") or {}, (*path, "namespaceSelector"))
    return pods.with_requirements(terms)


def _namespace_terms(raw: Any, path: Path) -> list[Requirement]:
    """A namespace selector as terms on the pods' namespace labels; empty: every namespace."""
    selector = parse_selector(raw, path)
    if not selector.requirements:
        return [requirement(f"{SOURCE_K8S}:{NAMESPACE}", "Exists")]
    return [
        Requirement(SOURCE_K8S, NAMESPACE_LABELS + r.key, r.operator, r.values)
        for r in selector.requirements
    ]


def _protocols(raw: Any, path: Path) -> tuple[PortRule, ...] | None:
    """``protocols``: ``None`` (every port and protocol, ICMP included) when left out."""
    if raw is None:
        return None
    _expect_list(raw, path)
    if not raw or len(raw) > MAX_RULES:
        raise InvalidPolicy(f"protocols needs 1 to {MAX_RULES} items", path)
    return tuple(_protocol(item, (*path, i)) for i, item in enumerate(raw))


def _protocol(raw: Any, path: Path) -> PortRule:
    one = _exactly_one(raw, ("tcp", "udp", "sctp", "destinationNamedPort"), path)
    if one == "destinationNamedPort":
        name = raw[one]
        if not isinstance(name, str) or not name:
            raise InvalidPolicy("destinationNamedPort is a port name", (*path, one))
        # kcnpParseProtocols: a named port stands for any protocol.
        return PortRule(None, protocols=ALL_PROTOCOLS, name=name)
    protocol: L4 = "TCP" if one == "tcp" else "UDP" if one == "udp" else "SCTP"
    body = _expect_mapping(raw[one], (*path, one))
    _only(body, ("destinationPort",), (*path, one))
    if "destinationPort" not in body:
        # minProperties: 1 on the protocol's body.
        raise InvalidPolicy(f"{one} needs destinationPort", (*path, one))
    where = (*path, one, "destinationPort")
    port = _exactly_one(body["destinationPort"], ("number", "range"), where)
    if port == "number":
        number = _port_number(body["destinationPort"]["number"], (*where, "number"))
        return PortRule(number, protocols=frozenset({protocol}))
    span = _expect_mapping(body["destinationPort"]["range"], (*where, "range"))
    _only(span, ("start", "end"), (*where, "range"))
    start = _port_number(span.get("start"), (*where, "range", "start"))
    end = _port_number(span.get("end"), (*where, "range", "end"))
    if not start < end:
        raise InvalidPolicy("Start port must be less than End port", (*where, "range"))
    return PortRule(start, end, frozenset({protocol}))


def _port_number(value: Any, path: Path) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
        raise InvalidPolicy(f"a port is a number from 1 to 65535, not {value!r}", path)
    return value


def _exactly_one(raw: Any, keys: Sequence[str], path: Path) -> str:
    """The one key of ``keys`` that ``raw`` sets (the CRD's min/maxProperties: 1)."""
    _expect_mapping(raw, path)
    _only(raw, keys, path)
    present = [key for key in keys if key in raw]
    if len(present) != 1:
        raise InvalidPolicy(f"give exactly one of {', '.join(keys)}", path)
    return present[0]


# -- evaluation --------------------------------------------------------------------------------


def first_match(
    candidates: Sequence[tuple[TieredEntry, bool]],
) -> tuple[Action, tuple[TieredEntry, ...]] | None:
    """The action of the first matching entry of one tier, from ``(entry, matches)`` pairs.

    Entries are ordered by (priority, position). The API leaves a tie between policies of the
    same priority undefined; Cilium keeps its deny-over-allow precedence there (CFP-42904,
    cilium/design-cfps), so a Deny among the tied matches wins. A tie of Pass and Accept is
    returned as ``Pass`` and ``Accept`` both, for the caller to call unknown.
    """
    matching = sorted((e for e, hit in candidates if hit), key=lambda e: e.order)
    if not matching:
        return None
    first = matching[0].order
    tied = tuple(e for e in matching if e.order == first)
    actions = {e.action for e in tied}
    if "Deny" in actions:
        return "Deny", tuple(e for e in tied if e.action == "Deny")
    if len(actions) > 1:
        return "Pass", tied
    return tied[0].action, tied
