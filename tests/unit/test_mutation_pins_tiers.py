"""What mutation testing of ``policy/tiers.py`` showed nothing pinned (docs/mutation.md): which
ClusterNetworkPolicy documents the model refuses, with which message and where; the bounds of
the CRD it accepts; how the protocols and peers of a valid document match; and the peer texts
that explanations show.

Sources: the CRD's markers in network-policy-api ``apis/v1alpha2/clusternetworkpolicy_types.go``
(enums, Minimum/Maximum, MinItems/MaxItems, MaxLength, Min/MaxProperties, the ``isCIDR`` and
``start < end`` rules); how Cilium imports a valid policy from ``ParseClusterNetworkPolicy``
(cilium ``pkg/k8s/cluster_network_policy.go``); which clusters enforce it from cilium#47227.
docs/cilium-semantics.md s18.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pytest
from packaging.version import Version

from pytest_clustermesh.facts import ClusterFacts
from pytest_clustermesh.policy import (
    ClusterContext,
    ClusterPolicy,
    Flow,
    InvalidPolicy,
    decide_direction,
    parse_document,
    pod_identity,
)
from pytest_clustermesh.policy.labels import Identity, external_identity, kube_dns_identity
from pytest_clustermesh.policy.rules import Direction
from pytest_clustermesh.policy.tiers import TieredEntry, enforces_cluster_network_policy, parse_kcnp
from pytest_clustermesh.verdicts import Outcome

ALLOWED, DROPPED = Outcome.ALLOWED, Outcome.DROPPED
API = "policy.networking.k8s.io/v1alpha2"
CTX = ClusterContext(
    "c1", Version("1.20"), True, node_selector_labels=True, cluster_network_policy=True
)
NO_NODE_LABELS = replace(CTX, node_selector_labels=False)
ALL_NAMESPACES: dict[str, Any] = {"namespaces": {}}

FE = pod_identity({"app": "frontend"}, "demo", {"team": "a"}, None, "c1")
FE_OTHER = pod_identity({"app": "frontend"}, "other", {"team": "b"}, None, "c1")
BE = pod_identity({"app": "backend"}, "demo", {"team": "a"}, None, "c1")


def spec(**fields: Any) -> dict[str, Any]:
    return {"tier": "Admin", "priority": 10, "subject": ALL_NAMESPACES, **fields}


def kcnp(body: Any = None, **top: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "apiVersion": API,
        "kind": "ClusterNetworkPolicy",
        "metadata": {"name": "guard"},
        "spec": spec() if body is None else body,
    }
    return {**document, **top}


def deny_from(*peers: Any, **extra: Any) -> dict[str, Any]:
    return {"action": "Deny", "from": list(peers), **extra}


def to(action: str, *peers: Any, **extra: Any) -> dict[str, Any]:
    return {"action": action, "to": list(peers), **extra}


def ingress(*rules: Any, **fields: Any) -> dict[str, Any]:
    return kcnp(spec(ingress=list(rules), **fields))


def egress(*rules: Any) -> dict[str, Any]:
    return kcnp(spec(egress=list(rules)))


def subject(value: Any) -> dict[str, Any]:
    return kcnp(spec(subject=value, ingress=[deny_from(ALL_NAMESPACES)]))


def protocols(value: Any) -> dict[str, Any]:
    return ingress(deny_from(ALL_NAMESPACES, protocols=value))


def destination_port(port: Any) -> dict[str, Any]:
    return protocols([{"tcp": {"destinationPort": port}}])


def tcp(number: int) -> dict[str, Any]:
    return {"tcp": {"destinationPort": {"number": number}}}


ING0 = ("spec", "ingress", 0)
TO0 = ("spec", "egress", 0, "to", 0)
PROTO0 = (*ING0, "protocols", 0)
TCP_PORT = (*PROTO0, "tcp", "destinationPort")
PORT_TEXT = "a port is a number from 1 to 65535, not"


@dataclass(frozen=True)
class Bad:
    pins: str
    doc: Any
    message: str
    path: tuple[str | int, ...]
    ctx: ClusterContext = CTX


# fmt: off
BAD = [
    # -- the document (clusternetworkpolicy_types.go: TypeMeta, ObjectMeta, Spec, Status) -------
    Bad("a document that is not a mapping",
        ["guard"], "expected a mapping, got list", ()),
    Bad("an unknown top-level field (ClusterNetworkPolicy has apiVersion..status only)",
        kcnp(labels={}),
        "unknown field 'labels' (expected one of: apiVersion, kind, metadata, spec, status)",
        ("labels",)),
    Bad("an older apiVersion (Cilium reads v1alpha2 of network-policy-api v0.2.0)",
        kcnp(apiVersion="policy.networking.k8s.io/v1alpha1"),
        "must be policy.networking.k8s.io/v1alpha2 for a ClusterNetworkPolicy, "
        "not 'policy.networking.k8s.io/v1alpha1'", ("apiVersion",)),
    Bad("metadata that is not a mapping", kcnp(metadata="guard"),
        "expected a mapping, got str", ("metadata",)),
    Bad("no metadata.name (apimachinery ValidateObjectMeta)", kcnp(metadata={}),
        "metadata.name is required", ("metadata",)),
    Bad("an empty metadata.name", kcnp(metadata={"name": ""}),
        "metadata.name is required", ("metadata",)),
    Bad("a metadata.name that is a number", kcnp(metadata={"name": 5}),
        "metadata.name is required", ("metadata",)),
    Bad("no spec (Spec is required)", kcnp(spec=None),
        "expected a mapping, got nothing", ("spec",)),
    Bad("ingress that is not a list", kcnp(spec(ingress="deny")),
        "expected a list, got str", ("spec", "ingress")),
    Bad("egress that is not a list", kcnp(spec(egress={})),
        "expected a list, got dict", ("spec", "egress")),
    # -- spec.subject: exactly one of namespaces, pods (NamespacedPod) -------------------------
    Bad("a subject that is not a mapping", subject("everyone"),
        "expected a mapping, got str", ("spec", "subject")),
    Bad("a subject namespaces selector with a list as label value",
        subject({"namespaces": {"matchLabels": {"team": ["a"]}}}),
        "a label value must be a string",
        ("spec", "subject", "namespaces", "matchLabels", "team")),
    Bad("subject pods that are not a mapping", subject({"pods": "all"}),
        "expected a mapping, got str", ("spec", "subject", "pods")),
    Bad("subject pods without podSelector (NamespacedPod.PodSelector is +required)",
        subject({"pods": {"namespaceSelector": {}}}),
        "podSelector is required ({} selects every pod)", ("spec", "subject", "pods")),
    Bad("subject pods with a field NamespacedPod does not have",
        subject({"pods": {"podSelector": {}, "namespaces": {}}}),
        "unknown field 'namespaces' (expected one of: namespaceSelector, podSelector)",
        ("spec", "subject", "pods", "namespaces")),
    Bad("a subject podSelector with a list as label value",
        subject({"pods": {"podSelector": {"matchLabels": {"app": ["x"]}}}}),
        "a label value must be a string",
        ("spec", "subject", "pods", "podSelector", "matchLabels", "app")),
    Bad("a subject namespaceSelector with a list as label value",
        subject({"pods": {"podSelector": {}, "namespaceSelector": {"matchLabels": {"t": ["a"]}}}}),
        "a label value must be a string",
        ("spec", "subject", "pods", "namespaceSelector", "matchLabels", "t")),
    # -- a rule: name (MaxLength=100), action, from/to (MinItems=1, MaxItems=25) --------------
    Bad("a rule that is not a mapping", ingress("deny"),
        "expected a mapping, got str", ING0),
    Bad("a rule with a field the ingress rule does not have",
        ingress(deny_from(ALL_NAMESPACES, ports=[])),
        "unknown field 'ports' (expected one of: name, action, from, protocols)",
        (*ING0, "ports")),
    Bad("a rule name of 101 characters (MaxLength=100)",
        ingress(deny_from(ALL_NAMESPACES, name="r" * 101)),
        "a rule's name is a string of at most 100 characters", ING0),
    Bad("a rule name that is a number",
        ingress(deny_from(ALL_NAMESPACES, name=7)),
        "a rule's name is a string of at most 100 characters", ING0),
    Bad("from that is not a list", ingress({"action": "Deny", "from": ALL_NAMESPACES}),
        "expected a list, got dict", (*ING0, "from")),
    Bad("26 peers (MaxItems=25)", ingress(deny_from(*[ALL_NAMESPACES] * 26)),
        "from needs 1 to 25 peers", (*ING0, "from")),
    # -- egress peers: networks (CIDR, isCIDR), domainNames, nodes -----------------------------
    Bad("networks that are not a list", egress(to("Deny", {"networks": "10.0.0.0/8"})),
        "expected a list, got str", (*TO0, "networks")),
    Bad("no networks (MinItems=1)", egress(to("Deny", {"networks": []})),
        "networks needs 1 to 25 CIDRs", (*TO0, "networks")),
    Bad("26 networks (MaxItems=25)",
        egress(to("Deny", {"networks": [f"10.0.{i}.0/24" for i in range(26)]})),
        "networks needs 1 to 25 CIDRs", (*TO0, "networks")),
    Bad("an address without a prefix length is not a CIDR (isCIDR)",
        egress(to("Deny", {"networks": ["10.0.0.1"]})),
        "Invalid CIDR format provided: '10.0.0.1'", (*TO0, "networks", 0)),
    Bad("domainNames that are not a list", egress(to("Accept", {"domainNames": "a.example"})),
        "expected a list, got str", (*TO0, "domainNames")),
    Bad("no domainNames (MinItems=1)", egress(to("Accept", {"domainNames": []})),
        "domainNames needs 1 to 25 names", (*TO0, "domainNames")),
    Bad("domainNames on a Pass rule (only supported for Accept rules)",
        egress(to("Pass", {"domainNames": ["example.com"]})),
        "egress.to.domainNames is only supported for Accept rules", (*TO0, "domainNames")),
    Bad("nodes without enable-node-selector-labels (Cilium refuses the policy)",
        egress(to("Deny", {"nodes": {}})),
        "egress.to.nodes is not supported since node selector labels are disabled "
        "(enable-node-selector-labels)", (*TO0, "nodes"), NO_NODE_LABELS),
    Bad("a nodes selector with a list as label value",
        egress(to("Deny", {"nodes": {"matchLabels": {"role": ["x"]}}})),
        "a label value must be a string", (*TO0, "nodes", "matchLabels", "role")),
    # -- protocols (MinItems=1, MaxItems=25; each exactly one of tcp, udp, sctp, named port) ----
    Bad("protocols that are not a list", protocols("tcp"),
        "expected a list, got str", (*ING0, "protocols")),
    Bad("no protocols (MinItems=1)", protocols([]),
        "protocols needs 1 to 25 items", (*ING0, "protocols")),
    Bad("26 protocols (MaxItems=25)", protocols([tcp(p) for p in range(1, 27)]),
        "protocols needs 1 to 25 items", (*ING0, "protocols")),
    Bad("a protocol that is not a mapping", protocols(["tcp"]),
        "expected a mapping, got str", PROTO0),
    Bad("a protocol with no field (MinProperties=1)", protocols([{}]),
        "give exactly one of tcp, udp, sctp, destinationNamedPort", PROTO0),
    Bad("an empty destinationNamedPort", protocols([{"destinationNamedPort": ""}]),
        "destinationNamedPort is a port name", (*PROTO0, "destinationNamedPort")),
    Bad("a destinationNamedPort that is a number", protocols([{"destinationNamedPort": 80}]),
        "destinationNamedPort is a port name", (*PROTO0, "destinationNamedPort")),
    Bad("tcp that is not a mapping", protocols([{"tcp": 80}]),
        "expected a mapping, got int", (*PROTO0, "tcp")),
    Bad("tcp with a field other than destinationPort", protocols([{"tcp": {"port": 80}}]),
        "unknown field 'port' (expected one of: destinationPort)", (*PROTO0, "tcp", "port")),
    Bad("tcp without destinationPort (MinProperties=1)", protocols([{"tcp": {}}]),
        "tcp needs destinationPort", (*PROTO0, "tcp")),
    Bad("udp without destinationPort (MinProperties=1)", protocols([{"udp": {}}]),
        "udp needs destinationPort", (*PROTO0, "udp")),
    Bad("a destinationPort with neither number nor range (Port: MinProperties=1)",
        destination_port({}), "give exactly one of number, range", TCP_PORT),
    Bad("a range that is not a mapping", destination_port({"range": "1-9"}),
        "expected a mapping, got str", (*TCP_PORT, "range")),
    Bad("a range with a field PortRange does not have",
        destination_port({"range": {"start": 1, "end": 9, "step": 2}}),
        "unknown field 'step' (expected one of: start, end)", (*TCP_PORT, "range", "step")),
    Bad("a range without start (PortRange.Start is +required)",
        destination_port({"range": {"end": 9}}),
        f"{PORT_TEXT} None", (*TCP_PORT, "range", "start")),
    Bad("a range ending at 65536 (Maximum=65535)",
        destination_port({"range": {"start": 1, "end": 65536}}),
        f"{PORT_TEXT} 65536", (*TCP_PORT, "range", "end")),
    Bad("a range whose start is not below its end (self.start < self.end)",
        destination_port({"range": {"start": 9, "end": 9}}),
        "Start port must be less than End port", (*TCP_PORT, "range")),
    Bad("port 65536 (Maximum=65535)", destination_port({"number": 65536}),
        f"{PORT_TEXT} 65536", (*TCP_PORT, "number")),
    Bad("port true (a boolean is not an int32)", destination_port({"number": True}),
        f"{PORT_TEXT} True", (*TCP_PORT, "number")),
    Bad("port as text", destination_port({"number": "80"}),
        f"{PORT_TEXT} '80'", (*TCP_PORT, "number")),
]
# fmt: on


@pytest.mark.parametrize("bad", BAD, ids=[b.pins for b in BAD])
def test_an_invalid_cluster_network_policy_is_refused_with_its_field(bad: Bad) -> None:
    with pytest.raises(InvalidPolicy) as caught:
        parse_kcnp(bad.doc, bad.ctx)
    assert (caught.value.message, caught.value.path) == (bad.message, bad.path)


# fmt: off
ACCEPTED: list[tuple[str, dict[str, Any], int]] = [
    ("priority 1000 (Maximum=1000)",
     ingress(deny_from(ALL_NAMESPACES), priority=1000), 1),
    ("a status written by the implementation (+kubebuilder:subresource:status)",
     kcnp(spec(ingress=[deny_from(ALL_NAMESPACES)]), status={"conditions": []}), 1),
    ("25 ingress rules (MaxItems=25)",
     ingress(*[deny_from(ALL_NAMESPACES)] * 25), 25),
    ("25 egress rules (MaxItems=25)",
     egress(*[to("Deny", ALL_NAMESPACES)] * 25), 25),
    ("25 peers, one entry each (MaxItems=25)",
     ingress(deny_from(*[ALL_NAMESPACES] * 25)), 25),
    ("25 networks (MaxItems=25)",
     egress(to("Deny", {"networks": [f"10.0.{i}.0/24" for i in range(25)]})), 1),
    ("a CIDR with host bits set (isCIDR accepts it)",
     egress(to("Deny", {"networks": ["192.0.2.7/24"]})), 1),
    ("25 protocols (MaxItems=25)",
     protocols([tcp(p) for p in range(1, 26)]), 1),
    ("a rule name of 100 characters (MaxLength=100)",
     ingress(deny_from(ALL_NAMESPACES, name="r" * 100)), 1),
    ("port 1 (Minimum=1)", destination_port({"number": 1}), 1),
    ("port 65535 (Maximum=65535)", destination_port({"number": 65535}), 1),
    ("a range from 1 to 65535", destination_port({"range": {"start": 1, "end": 65535}}), 1),
]
# fmt: on


@pytest.mark.parametrize(
    ("doc", "entries"), [a[1:] for a in ACCEPTED], ids=[a[0] for a in ACCEPTED]
)
def test_the_bounds_of_the_crd_are_accepted(doc: dict[str, Any], entries: int) -> None:
    (rule,) = parse_document(doc, CTX)
    assert len(rule.entries) == entries


def decide(
    doc: dict[str, Any], direction: Direction, local: Identity, peer: Identity, flow: Flow
) -> tuple[Outcome, tuple[str, ...]]:
    cluster = ClusterPolicy("c1", tuple(parse_document(doc, CTX)))
    decision = decide_direction(cluster, direction, local, peer, flow)
    return decision.outcome, decision.reasons


SCTP_9000 = {"sctp": {"destinationPort": {"number": 9000}}}
UDP_5000_5010 = {"udp": {"destinationPort": {"range": {"start": 5000, "end": 5010}}}}

# fmt: off
PROTOCOL_ROWS: list[tuple[str, dict[str, Any], Flow, Outcome]] = [
    ("sctp: the Deny drops SCTP to the port", SCTP_9000, Flow(9000, "SCTP"), DROPPED),
    ("sctp: ... not UDP to it", SCTP_9000, Flow(9000, "UDP"), ALLOWED),
    ("sctp: ... not TCP to it", SCTP_9000, Flow(9000, "TCP"), ALLOWED),
    ("udp range: the Deny drops UDP inside the range", UDP_5000_5010, Flow(5005, "UDP"), DROPPED),
    ("udp range: ... not TCP inside it", UDP_5000_5010, Flow(5005, "TCP"), ALLOWED),
]
# fmt: on


@pytest.mark.parametrize(
    ("protocol", "flow", "expected"),
    [r[1:] for r in PROTOCOL_ROWS],
    ids=[r[0] for r in PROTOCOL_ROWS],
)
def test_a_protocol_matches_its_own_protocol_only(
    protocol: dict[str, Any], flow: Flow, expected: Outcome
) -> None:
    # clusternetworkpolicy_types.go: ClusterNetworkPolicyProtocol{TCP, UDP, SCTP}; Cilium
    # kcnpParseProtocols gives each its own L4 protocol.
    outcome, _ = decide(protocols([protocol]), "ingress", BE, FE, flow)
    assert outcome is expected


NAMESPACED_PODS = {
    "pods": {"namespaceSelector": {"matchLabels": {"team": "b"}}, "podSelector": {}},
}


@pytest.mark.parametrize(
    ("peer", "expected"),
    [(FE, ALLOWED), (FE_OTHER, DROPPED)],
    ids=["a pod of a namespace the selector leaves out", "a pod of the selected namespace"],
)
def test_a_pods_peer_is_narrowed_by_its_namespace_selector(
    peer: Identity, expected: Outcome
) -> None:
    # NamespacedPod: pods matching podSelector in namespaces matching namespaceSelector.
    outcome, _ = decide(ingress(deny_from(NAMESPACED_PODS)), "ingress", BE, peer, Flow(8080))
    assert outcome is expected


@pytest.mark.parametrize(
    ("address", "expected", "reason"),
    [
        ("192.0.2.200", DROPPED, "egress at c1: denied by KCNP guard egress[0]"),
        (
            "198.51.100.1",
            ALLOWED,
            "Deny does not apply: networks 192.0.2.7/24: 198.51.100.1 is not in it",
        ),
    ],
    ids=["an address inside the prefix, host bits aside", "an address outside it"],
)
def test_a_networks_peer_selects_addresses_outside_the_mesh(
    address: str, expected: Outcome, reason: str
) -> None:
    # s18: networks select a destination outside the mesh by address, as toCIDR does (s17).
    doc = egress(to("Deny", {"networks": ["192.0.2.7/24"]}))
    outcome, reasons = decide(doc, "egress", FE, external_identity(address, None, None), Flow(443))
    assert outcome is expected
    assert any(reason in line for line in reasons), reasons


EVERY_PEER_KIND = egress(
    to("Accept", {"domainNames": ["*.example.com", "example.org"]}),
    to(
        "Deny",
        {"networks": ["198.51.100.0/24", "192.0.2.7/24"]},
        {"nodes": {}},
        {"namespaces": {"matchLabels": {"team": "b"}}},
        {"pods": {"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "x"}}}},
    ),
)
ACCEPT0 = "egress at c1: Admin Accept rule KCNP guard egress[0], Admin tier, priority 10, Accept"
DENY1 = "egress at c1: Admin Deny rule KCNP guard egress[1], Admin tier, priority 10, Deny"

# fmt: off
PEER_MISSES = [
    ("domainNames, with Cilium's multi-level wildcard left as written",
     f"{ACCEPT0} does not apply: domainNames *.example.com, example.org: never a pod"),
    ("the DNS allow to kube-dns that Cilium adds beside domainNames (kcnpParseFQDNSelectors)",
     f"{ACCEPT0} (its DNS allow to kube-dns) does not apply: endpoints "
     "{k8s:k8s-app=kube-dns}: k8s:k8s-app=kube-dns does not hold for the peer"),
    ("networks, every CIDR as written",
     f"{DENY1} does not apply: networks 198.51.100.0/24, 192.0.2.7/24: never a pod"),
    ("nodes", f"{DENY1} does not apply: nodes (never a pod): never a pod"),
    ("namespaces: namespace labels, no cluster term (ParseClusterNetworkPolicy)",
     f"{DENY1} does not apply: namespaces {{k8s:io.cilium.k8s.namespace.labels.team=b}}: "
     "k8s:io.cilium.k8s.namespace.labels.team=b does not hold for the peer"),
    ("pods: k8s labels and the local-cluster term (kcnpParseNamespacedPod)",
     f"{DENY1} does not apply: pods {{k8s:app=x, k8s:io.cilium.k8s.policy.cluster=c1, "
     "k8s:io.kubernetes.pod.namespace Exists}: k8s:app=x does not hold for the peer"),
]
# fmt: on


@pytest.mark.parametrize("line", [m[1] for m in PEER_MISSES], ids=[m[0] for m in PEER_MISSES])
def test_the_explanation_names_each_peer_a_flow_missed(line: str) -> None:
    outcome, reasons = decide(EVERY_PEER_KIND, "egress", FE, BE, Flow(8080))
    assert outcome is ALLOWED
    assert line in reasons, reasons


@pytest.mark.parametrize(
    ("protocol", "port_name"), [("UDP", "dns"), ("TCP", "dns-tcp")], ids=["dns", "dns-tcp"]
)
def test_the_dns_allow_beside_domain_names_lets_the_lookup_through(
    protocol: str, port_name: str
) -> None:
    # kcnpParseFQDNSelectors' caller: an allow to kube-dns on the ports named dns and dns-tcp,
    # whatever their protocol, with DNS rules for the names.
    flow = Flow(53, protocol, port_name=port_name, dns_name="api.example.com")
    outcome, reasons = decide(EVERY_PEER_KIND, "egress", FE, kube_dns_identity("c1"), flow)
    assert outcome is ALLOWED
    assert reasons[0] == (
        "egress at c1: DNS query for api.example.com allowed by KCNP guard egress[0], Admin "
        "tier, priority 10, Accept (its DNS allow to kube-dns)"
    )


def test_the_imported_rule_is_named_after_the_policy_and_keeps_each_direction() -> None:
    doc = kcnp(spec(ingress=[deny_from(ALL_NAMESPACES)], egress=[to("Deny", ALL_NAMESPACES)]))
    (rule,) = parse_document(doc, CTX)
    assert rule.origin == "KCNP guard"
    assert [e.direction for e in rule.entries] == ["ingress", "egress"]


def test_a_pods_peer_without_the_local_cluster_option_has_no_cluster_term() -> None:
    # kcnpParseNamespacedPod adds the cluster only when policy-default-local-cluster is on:
    # with it off, the peer has no local-cluster term and no note on why it would.
    off = replace(CTX, default_local_cluster=False)
    (rule,) = parse_document(ingress(deny_from({"pods": {"podSelector": {}}})), off)
    (entry,) = rule.entries
    assert isinstance(entry, TieredEntry)
    (peer,) = entry.peers
    assert (peer.local_scope, peer.scope_note) == (None, "")


def facts(version: str, **options: str) -> ClusterFacts:
    return ClusterFacts("cluster1", "cluster1", 1, Version(version), options)


OPTION = "enable-k8s-cluster-network-policy"


@pytest.mark.parametrize(
    ("cluster", "expected"),
    [
        (facts("1.20", **{OPTION: "true"}), True),
        (facts("1.20.3", **{OPTION: "true"}), True),
        (facts("1.21", **{OPTION: "true"}), True),
        (facts("1.20"), False),
        (facts("1.20", **{OPTION: "false"}), False),
        (facts("1.19", **{OPTION: "true"}), False),
    ],
    ids=[
        "1.20 with the option (cilium#47227)",
        "a patch release of 1.20",
        "a later release",
        "1.20 without the option",
        "1.20 with the option false",
        "1.19, before Cilium read ClusterNetworkPolicy",
    ],
)
def test_which_clusters_enforce_cluster_network_policy(
    cluster: ClusterFacts, expected: bool
) -> None:
    assert enforces_cluster_network_policy(cluster) is expected
