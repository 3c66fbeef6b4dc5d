"""Parsing Kubernetes ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2) into tiered rules.

The checks mirror the CRD's markers in network-policy-api apis/v1alpha2
(clusternetworkpolicy_types.go): enums, ranges, exactly-one-of objects, list sizes; how Cilium
imports a valid policy follows ``ParseClusterNetworkPolicy`` (cilium
pkg/k8s/cluster_network_policy.go). docs/cilium-semantics.md s18.
"""

from __future__ import annotations

from copy import deepcopy
from dataclasses import replace
from typing import Any

import pytest
from packaging.version import Version

from pytest_clustermesh.policy.labels import pod_identity
from pytest_clustermesh.policy.parse import ClusterContext, InvalidPolicy
from pytest_clustermesh.policy.tiers import (
    TieredEntry,
    enforces,
    first_match,
    is_cidr,
    parse_document,
    parse_kcnp,
)

CTX_120 = ClusterContext("cluster1", Version("1.20"), default_local_cluster=True)
CTX_120_OFF = ClusterContext("cluster1", Version("1.20"), default_local_cluster=False)


def kcnp(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "tier": "Admin",
        "priority": 10,
        "subject": {"namespaces": {"matchLabels": {"team": "a"}}},
    }
    body.update(spec)
    return {
        "apiVersion": "policy.networking.k8s.io/v1alpha2",
        "kind": "ClusterNetworkPolicy",
        "metadata": {"name": "guard"},
        "spec": body,
    }


def pod(cluster: str, namespace: str = "ns", ns_labels: dict[str, str] | None = None) -> Any:
    return pod_identity({"app": "x"}, namespace, ns_labels or {"team": "a"}, None, cluster)


INGRESS_FROM_PODS: list[dict[str, Any]] = [
    {"action": "Deny", "from": [{"pods": {"namespaceSelector": {}, "podSelector": {}}}]}
]


def test_rules_become_tiered_entries_in_order() -> None:
    doc = kcnp(
        ingress=[
            {"name": "first", "action": "Pass", "from": [{"namespaces": {}}]},
            {"action": "Deny", "from": [{"namespaces": {}}, {"pods": {"podSelector": {}}}]},
        ]
    )
    (rule,) = parse_kcnp(doc, CTX_120)
    entries = [e for e in rule.entries if isinstance(e, TieredEntry)]
    assert [(e.position, e.action, e.deny) for e in entries] == [
        (0, "Pass", False),
        (1, "Deny", True),
        (1, "Deny", True),
    ]
    assert all(e.tier == "Admin" and e.priority == 10 for e in entries)
    assert "ingress[0] (first), Admin tier, priority 10, Pass" in entries[0].origin
    # A ClusterNetworkPolicy never puts its subjects into default deny (DefaultDeny = false).
    assert rule.default_deny == frozenset()


def test_subject_by_namespace_labels_selects_pods_of_those_namespaces() -> None:
    (rule,) = parse_kcnp(kcnp(ingress=INGRESS_FROM_PODS), CTX_120)
    assert rule.selects(pod("cluster1", ns_labels={"team": "a"}))
    assert not rule.selects(pod("cluster1", ns_labels={"team": "b"}))


def test_pods_peer_gets_the_local_cluster_term_when_the_option_is_on() -> None:
    # kcnpParseNamespacedPod adds the cluster unless the pod selector names it.
    (rule,) = parse_kcnp(kcnp(ingress=INGRESS_FROM_PODS), CTX_120)
    (peer,) = rule.entries[0].peers
    assert peer.matches(pod("cluster1"), "cluster1")
    assert not peer.matches(pod("cluster2"), "cluster1")
    assert peer.local_scope is not None and "policy-default-local-cluster is on" in peer.scope_note


def test_pods_peer_without_the_option_selects_every_cluster() -> None:
    (rule,) = parse_kcnp(kcnp(ingress=INGRESS_FROM_PODS), CTX_120_OFF)
    (peer,) = rule.entries[0].peers
    assert peer.matches(pod("cluster2"), "cluster1")


def test_pods_peer_naming_a_cluster_keeps_that_cluster_only() -> None:
    named = deepcopy(INGRESS_FROM_PODS)
    named[0]["from"][0]["pods"]["podSelector"] = {
        "matchLabels": {"io.cilium.k8s.policy.cluster": "cluster2"}
    }
    (rule,) = parse_kcnp(kcnp(ingress=named), CTX_120)
    (peer,) = rule.entries[0].peers
    assert peer.matches(pod("cluster2"), "cluster1")
    assert not peer.matches(pod("cluster1"), "cluster1")


def test_namespaces_peer_has_no_cluster_term_even_with_the_option_on() -> None:
    # ParseClusterNetworkPolicy builds a namespaces peer from namespace labels alone.
    doc = kcnp(ingress=[{"action": "Deny", "from": [{"namespaces": {"matchLabels": {"t": "b"}}}]}])
    (rule,) = parse_kcnp(doc, CTX_120)
    (peer,) = rule.entries[0].peers
    assert peer.matches(pod("cluster2", ns_labels={"t": "b"}), "cluster1")
    assert not peer.matches(pod("cluster2", ns_labels={"t": "c"}), "cluster1")


def test_protocols_become_port_rules() -> None:
    doc = kcnp(
        egress=[
            {
                "action": "Accept",
                "to": [{"namespaces": {}}],
                "protocols": [
                    {"tcp": {"destinationPort": {"number": 80}}},
                    {"udp": {"destinationPort": {"range": {"start": 5000, "end": 5010}}}},
                    {"destinationNamedPort": "web"},
                ],
            }
        ]
    )
    (rule,) = parse_kcnp(doc, CTX_120)
    tcp, udp, named = rule.entries[0].ports or ()
    assert tcp.matches(80, "TCP") and not tcp.matches(80, "UDP")
    assert udp.matches(5010, "UDP") and not udp.matches(5011, "UDP")  # the range is inclusive
    assert named.matches(8080, "SCTP", "web") and not named.matches(8080, "TCP", "api")


def test_no_protocols_means_every_port() -> None:
    (rule,) = parse_kcnp(kcnp(ingress=INGRESS_FROM_PODS), CTX_120)
    assert rule.entries[0].ports is None


def test_enforced_from_1_20_with_the_option_only() -> None:
    enforcing = replace(CTX_120, cluster_network_policy=True)
    old = replace(enforcing, version=Version("1.19"))
    assert enforces(enforcing)
    assert not enforces(CTX_120)
    assert not enforces(old)
    doc = kcnp(ingress=INGRESS_FROM_PODS)
    assert len(parse_document(doc, enforcing)) == 1
    assert parse_document(doc, CTX_120) == []  # accepted by the API server, not enforced
    assert parse_document(doc, old) == []


def test_parse_document_still_reads_cilium_policies() -> None:
    doc = {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {"endpointSelector": {}, "ingress": [{}]},
    }
    (rule,) = parse_document(doc, CTX_120)
    assert rule.origin.startswith("CNP ns/p")


BAD: list[tuple[str, dict[str, Any], tuple[Any, ...], str]] = [
    ("tier", kcnp(tier="Platform"), ("spec", "tier"), "Admin or Baseline"),
    ("priority too high", kcnp(priority=1001), ("spec", "priority"), "0 to 1000"),
    ("priority as text", kcnp(priority="5"), ("spec", "priority"), "0 to 1000"),
    (
        "two subjects",
        kcnp(subject={"namespaces": {}, "pods": {"podSelector": {}}}),
        ("spec", "subject"),
        "exactly one of namespaces, pods",
    ),
    (
        "action",
        kcnp(ingress=[{"action": "Allow", "from": [{"namespaces": {}}]}]),
        ("spec", "ingress", 0, "action"),
        "Accept, Deny or Pass",
    ),
    (
        "no peers",
        kcnp(ingress=[{"action": "Deny", "from": []}]),
        ("spec", "ingress", 0, "from"),
        "1 to 25 peers",
    ),
    (
        "networks in ingress",
        kcnp(ingress=[{"action": "Deny", "from": [{"networks": ["10.0.0.0/8"]}]}]),
        ("spec", "ingress", 0, "from", 0, "networks"),
        "networks",
    ),
    (
        "bad cidr",
        kcnp(egress=[{"action": "Deny", "to": [{"networks": ["10.0.0.300/8"]}]}]),
        ("spec", "egress", 0, "to", 0, "networks", 0),
        "Invalid CIDR",
    ),
    (
        "domain names on deny",
        kcnp(egress=[{"action": "Deny", "to": [{"domainNames": ["example.com"]}]}]),
        ("spec", "egress", 0, "to", 0, "domainNames"),
        "only supported for Accept",
    ),
    (
        "wildcard inside a domain name",
        kcnp(egress=[{"action": "Accept", "to": [{"domainNames": ["www.*.com"]}]}]),
        ("spec", "egress", 0, "to", 0, "domainNames", 0),
        "not a domain name",
    ),
    (
        "port range backwards",
        kcnp(
            ingress=[
                {
                    "action": "Deny",
                    "from": [{"namespaces": {}}],
                    "protocols": [{"tcp": {"destinationPort": {"range": {"start": 9, "end": 9}}}}],
                }
            ]
        ),
        ("spec", "ingress", 0, "protocols", 0, "tcp", "destinationPort", "range"),
        "Start port must be less than End port",
    ),
    (
        "port zero",
        kcnp(
            ingress=[
                {
                    "action": "Deny",
                    "from": [{"namespaces": {}}],
                    "protocols": [{"udp": {"destinationPort": {"number": 0}}}],
                }
            ]
        ),
        ("spec", "ingress", 0, "protocols", 0, "udp", "destinationPort", "number"),
        "1 to 65535",
    ),
    (
        "unknown field",
        kcnp(ingres=[]),
        ("spec", "ingres"),
        "ingres",
    ),
    (
        "26 rules",
        kcnp(ingress=[{"action": "Deny", "from": [{"namespaces": {}}]}] * 26),
        ("spec", "ingress"),
        "at most 25",
    ),
]


@pytest.mark.parametrize(("doc", "path", "message"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_invalid_documents_name_the_field(
    doc: dict[str, Any], path: tuple[Any, ...], message: str
) -> None:
    with pytest.raises(InvalidPolicy) as caught:
        parse_kcnp(doc, CTX_120)
    assert message in caught.value.message
    assert caught.value.path == path


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("10.0.0.0/8", True),
        ("2001:db8::/32", True),
        ("0.0.0.0/0", True),
        # netip.ParsePrefix leaves host bits alone ("masked address bits are not zeroed"), and
        # the CRD asks no more than isCIDR: the API server accepts the address as written.
        ("10.0.0.1/8", True),
        ("10.0.0.0/255.0.0.0", False),  # the length is a decimal number, not a mask
        ("10.0.0.0/08", False),  # ... without a leading zero
        ("10.0.0.0/+8", False),  # ... or a sign
        ("10.0.0.0/33", False),  # ... up to 32 for IPv4
        ("2001:db8::/129", False),  # ... and 128 for IPv6
        ("010.0.0.0/8", False),  # ParseAddr: an IPv4 octet with a leading zero
        ("10.0.0.0", False),  # a prefix needs its length
        ("fe80::1%eth0/64", False),  # "IPv6 zones cannot be present in a prefix"
        ("::ffff:10.0.0.0/104", False),  # cidr.go: an IPv4-mapped IPv6 address is not allowed
        ("10.0.0.0/٨", False),  # a digit, but not an ASCII one
    ],
)
def test_networks_cidrs_are_read_as_the_crds_isCIDR_reads_them(text: str, valid: bool) -> None:
    """network-policy-api v0.2.0 ``type CIDR``: ``isCIDR(self)``, k8s.io/apiserver
    pkg/cel/library/cidr.go over Go's netip.ParsePrefix."""
    assert is_cidr(text) is valid
    doc = kcnp(egress=[{"action": "Deny", "to": [{"networks": [text]}]}])
    if valid:
        parse_kcnp(doc, CTX_120)
    else:
        with pytest.raises(InvalidPolicy, match="Invalid CIDR format provided"):
            parse_kcnp(doc, CTX_120)


def test_networks_select_addresses_outside_the_mesh() -> None:
    doc = kcnp(egress=[{"action": "Deny", "to": [{"networks": ["203.0.113.0/24"]}]}])
    (rule,) = parse_kcnp(doc, CTX_120)
    (peer,) = rule.entries[0].peers
    assert peer.cidrs == (("203.0.113.0/24", ()),)
    assert not peer.matches(pod("cluster1"), "cluster1")  # never a pod


def test_domain_names_add_a_dns_allow_to_kube_dns() -> None:
    # kcnpParseFQDNSelectors: "*.example.com" becomes the multi-level "**.example.com", and an
    # Accept of DNS to kube-dns with DNS rules for the names is added beside the rule.
    doc = kcnp(
        egress=[{"action": "Accept", "to": [{"domainNames": ["*.example.com", "example.org"]}]}]
    )
    (rule,) = parse_kcnp(doc, CTX_120)
    fqdn, dns = rule.entries
    assert fqdn.peers[0].names == ("**.example.com", "example.org")
    assert isinstance(dns, TieredEntry) and dns.action == "Accept"
    assert [p.name for p in dns.ports or ()] == ["dns", "dns-tcp"]
    assert all(p.dns == ("**.example.com", "example.org") for p in dns.ports or ())
    kube_dns = pod_identity({"k8s-app": "kube-dns"}, "kube-system", {}, "coredns", "cluster1")
    assert dns.peers[0].matches(kube_dns, "cluster1")


def test_nodes_peer_needs_node_selector_labels() -> None:
    doc = kcnp(egress=[{"action": "Deny", "to": [{"nodes": {}}]}])
    with pytest.raises(InvalidPolicy, match="node selector labels are disabled"):
        parse_kcnp(doc, CTX_120)
    with_labels = ClusterContext("c", Version("1.20"), True, node_selector_labels=True)
    (rule,) = parse_kcnp(doc, with_labels)
    assert rule.entries[0].peers[0].kind == "nodes"


def entry(action: str, priority: int, position: int = 0) -> TieredEntry:
    return TieredEntry(
        "ingress",
        action == "Deny",
        (),
        None,
        f"{action}@{priority}",
        priority=priority,
        position=position,
        action=action,  # type: ignore[arg-type]
    )


def test_first_match_takes_the_lowest_priority_then_position() -> None:
    winner = first_match(
        [(entry("Deny", 20), True), (entry("Accept", 10, 1), True), (entry("Pass", 10, 0), True)]
    )
    assert winner is not None and winner[0] == "Pass"


def test_first_match_skips_entries_that_do_not_match() -> None:
    winner = first_match([(entry("Deny", 1), False), (entry("Accept", 2), True)])
    assert winner is not None and winner[0] == "Accept"
    assert first_match([(entry("Deny", 1), False)]) is None


def test_a_deny_wins_a_tie_of_equal_priority() -> None:
    # CFP-42904: Cilium keeps deny-over-allow among rules of equal priority.
    winner = first_match([(entry("Accept", 5), True), (entry("Deny", 5), True)])
    assert winner is not None and winner[0] == "Deny"
    assert [e.origin for e in winner[1]] == ["Deny@5"]


def test_a_tie_of_pass_and_accept_is_reported_with_both() -> None:
    winner = first_match([(entry("Accept", 5), True), (entry("Pass", 5), True)])
    assert winner is not None and winner[0] == "Pass" and len(winner[1]) == 2
