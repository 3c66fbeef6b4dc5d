"""What mutation testing of ``policy/decide.py`` showed nothing pinned (docs/mutation.md): the
verdicts and the explanation lines a user reads in a report, for the cases the other tests
leave out. Which rule decided, why a rule whose peer or port did not match did not apply (near
misses), the world outside the mesh, ClusterNetworkPolicy tiers, L7 and DNS rules.

Each row cites the Cilium behaviour it pins as docs/cilium-semantics.md does (s1 to s18, SF n,
Q n). Rows build one cluster's policy state straight from documents (``parse_document``) and
ask the index of that cluster, so a row fails on the line it pins, not somewhere in a mesh.
"""

from __future__ import annotations

import importlib
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from packaging.version import Version

from pytest_clustermesh.policy import (
    ClusterContext,
    ClusterPolicy,
    Flow,
    Identity,
    decide_direction,
    parse_document,
    pod_identity,
)
from pytest_clustermesh.policy.labels import Selector, external_identity, kube_dns_identity
from pytest_clustermesh.policy.rules import Direction, Entry, HttpRule, Peer, PortRule, Rule
from pytest_clustermesh.policy.tiers import TieredEntry, TieredRule
from pytest_clustermesh.verdicts import Outcome

from .test_kcnp_decide import BE, FE
from .test_kcnp_decide import kcnp as any_kcnp

ALLOWED, DROPPED, L7 = Outcome.ALLOWED, Outcome.DROPPED, Outcome.L7_DENIED
UNKNOWN = Outcome.PROBE_ERROR

KUBE_DNS = {
    "matchLabels": {"k8s:io.kubernetes.pod.namespace": "kube-system", "k8s:k8s-app": "kube-dns"}
}
FE_PODS = {"pods": {"namespaceSelector": {}, "podSelector": FE}}
"""A ClusterNetworkPolicy subject or peer: the frontend pods of every namespace."""


def cnp(spec: Mapping[str, Any], name: str = "p") -> dict[str, Any]:
    return {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": {"name": name, "namespace": "demo"},
        "spec": dict(spec),
    }


def ccnp(spec: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumClusterwideNetworkPolicy",
        "metadata": {"name": "cp"},
        "spec": dict(spec),
    }


def kcnp(
    tier: str,
    priority: int,
    name: str = "g",
    *,
    ingress: list[dict[str, Any]] | None = None,
    egress: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A ClusterNetworkPolicy: ingress rules for the backend, egress rules for the frontend."""
    subject = {"pods": {"namespaceSelector": {}, "podSelector": BE if ingress is not None else FE}}
    return any_kcnp(tier, priority, ingress=ingress, egress=egress, subject=subject, name=name)


def be_ingress(*entries: dict[str, Any]) -> dict[str, Any]:
    return cnp({"endpointSelector": BE, "ingress": list(entries)})


def fe_egress(*entries: dict[str, Any]) -> dict[str, Any]:
    return cnp({"endpointSelector": FE, "egress": list(entries)})


def cluster(*docs: Mapping[str, Any], version: str = "1.20", **options: Any) -> ClusterPolicy:
    """Cluster c1 (policy-default-local-cluster on, node selector labels and
    ClusterNetworkPolicy enabled) holding ``docs``."""
    ctx = ClusterContext(
        "c1", Version(version), True, node_selector_labels=True, cluster_network_policy=True
    )
    rules = tuple(rule for doc in docs for rule in parse_document(doc, ctx))
    return ClusterPolicy("c1", rules, **options)


def pod(app: str, cluster_name: str = "c1", namespace: str = "demo") -> Identity:
    return pod_identity({"app": app}, namespace, {"team": "a"}, None, cluster_name)


FRONTEND, BACKEND, REMOTE_FRONTEND = pod("frontend"), pod("backend"), pod("frontend", "c2")
KUBE_DNS_POD = kube_dns_identity("c1")
API = external_identity("203.0.113.10", "api.example.com", "proxied")
"""An external looked up by name through Cilium's DNS proxy (s17)."""
API_NOT_PROXIED = external_identity("203.0.113.10", "api.example.com", "resolved")
BY_ADDRESS = external_identity("203.0.113.10", None, None)
NAME_ONLY = external_identity(None, "api.example.com", "proxied")
"""An external the scenario gives by name only: no address for CIDR rules to match (s17)."""
NAME_ONLY_NOT_PROXIED = external_identity(None, "api.example.com", "resolved")
PING = Flow(8, "ICMP")
HTTPS = Flow(443)


@dataclass(frozen=True)
class Case:
    pins: str
    policy: ClusterPolicy
    direction: Direction
    local: Identity
    peer: Identity
    flow: Flow
    expected: Outcome
    line: str
    """One explanation line the user reads, in full."""


def ingress_case(pins: str, policy: ClusterPolicy, expected: Outcome, line: str, **kw: Any) -> Case:
    peer = kw.pop("peer", FRONTEND)
    flow = kw.pop("flow", Flow(8080))
    return Case(pins, policy, "ingress", BACKEND, peer, flow, expected, line)


def egress_case(pins: str, policy: ClusterPolicy, expected: Outcome, line: str, **kw: Any) -> Case:
    peer = kw.pop("peer", API)
    flow = kw.pop("flow", HTTPS)
    return Case(pins, policy, "egress", FRONTEND, peer, flow, expected, line)


IN = "ingress at c1: "
OUT = "egress at c1: "
CNP_IN = "CNP demo/p spec ingress"
CNP_OUT = "CNP demo/p spec egress"
FE_OF_C2 = (
    "{k8s:app=frontend, k8s:io.cilium.k8s.namespace.labels.team=a, "
    "k8s:io.cilium.k8s.policy.cluster=c2, k8s:io.cilium.k8s.policy.serviceaccount=default, "
    "k8s:io.kubernetes.pod.namespace=demo}"
)
LOCAL_NOTE = (
    "scoped to the local cluster c1 (policy-default-local-cluster is on in Cilium 1.20, its "
    "default; the peer is in c2)"
)
TO_WORLD = {"toEntities": ["world"]}
DNS_53 = {
    "toEndpoints": [KUBE_DNS],
    "toPorts": [
        {
            "ports": [{"port": "53", "protocol": "UDP"}],
            "rules": {"dns": [{"matchName": "api.example.com"}, {"matchPattern": "*.cilium.io"}]},
        }
    ],
}
GET_PUBLIC = {
    "fromEndpoints": [FE],
    "toPorts": [
        {"ports": [{"port": "8080"}], "rules": {"http": [{"method": "GET", "path": "/public"}]}}
    ],
}

# -- near misses: why a rule selecting the endpoint did not apply ---------------------------------

# fmt: off
NEAR_MISSES = [
    ingress_case(
        "SF6: ingress [{}] in a CNP selects no peer and allows nothing (pkg/policy/rule.go)",
        cluster(be_ingress({})), DROPPED,
        f"{IN}allow rule {CNP_IN}[0] does not apply: it selects no peer (an entry with no L3 "
        "or L4 part allows nothing)"),
    ingress_case(
        "s1: every peer of an entry is named, each with the term it misses, joined by '; '",
        cluster(be_ingress({"fromEndpoints": [{"matchLabels": {"app": "x"}},
                                              {"matchLabels": {"app": "y"}}]})), DROPPED,
        f"{IN}allow rule {CNP_IN}[0] does not apply: endpoints {{any:app=x, "
        "k8s:io.cilium.k8s.policy.cluster=c1, k8s:io.kubernetes.pod.namespace=demo}: any:app=x "
        "does not hold for the peer; endpoints {any:app=y, k8s:io.cilium.k8s.policy.cluster=c1, "
        "k8s:io.kubernetes.pod.namespace=demo}: any:app=y does not hold for the peer"),
    ingress_case(
        "s1, s2: every term a peer misses is named, joined by ', ' (label terms, then the "
        "local-cluster term of policy-default-local-cluster)",
        cluster(be_ingress({"fromEndpoints": [{"matchLabels": {"app": "x", "role": "y"}}]})),
        DROPPED,
        f"{IN}allow rule {CNP_IN}[0] does not apply: endpoints {{any:app=x, any:role=y, "
        "k8s:io.cilium.k8s.policy.cluster=c1, k8s:io.kubernetes.pod.namespace=demo}: any:app=x "
        "does not hold for the peer, any:role=y does not hold for the peer, " + LOCAL_NOTE,
        peer=REMOTE_FRONTEND),
    ingress_case(
        "s1: a CCNP peer that names a namespace: 'it names namespace' (not the implicit "
        "namespace of a CNP)",
        cluster(ccnp({"endpointSelector": BE, "ingress": [{"fromEndpoints": [
            {"matchLabels": {"k8s:io.kubernetes.pod.namespace": "other"}}]}]})), DROPPED,
        f"{IN}allow rule CCNP cp spec ingress[0] does not apply: endpoints "
        "{k8s:io.cilium.k8s.policy.cluster=c1, k8s:io.kubernetes.pod.namespace=other}: it names "
        "namespace other (the peer is in demo)"),
    ingress_case(
        "s1: a namespace term with several values lists them all, joined by '/'",
        cluster(be_ingress({"fromEndpoints": [{"matchExpressions": [
            {"key": "io.kubernetes.pod.namespace", "operator": "In", "values": ["y", "x"]}]}]})),
        DROPPED,
        f"{IN}allow rule {CNP_IN}[0] does not apply: endpoints {{any:io.kubernetes.pod.namespace "
        "In (x, y), k8s:io.cilium.k8s.policy.cluster=c1}: it names namespace x/y (the peer is in "
        "demo)"),
    ingress_case(
        "s4, s6: fromCIDR never selects a pod",
        cluster(be_ingress({"fromCIDR": ["10.0.0.0/8"]})), DROPPED,
        f"{IN}allow rule {CNP_IN}[0] does not apply: fromCIDR 10.0.0.0/8: never a pod"),
    ingress_case(
        "s4: fromNodes never selects a pod (enable-node-selector-labels)",
        cluster(be_ingress({"fromNodes": [{}]})), DROPPED,
        f"{IN}allow rule {CNP_IN}[0] does not apply: fromNodes: never a pod"),
    ingress_case(
        "s13: a CIDR group (cidrGroupRef) never selects a pod",
        cluster(be_ingress({"fromCIDRSet": [{"cidrGroupRef": "group"}]})), DROPPED,
        f"{IN}allow rule {CNP_IN}[0] does not apply: fromCIDRSet CIDR group (addresses the model "
        "does not know): never a pod"),
    egress_case(
        "s17: toFQDNs never selects a pod",
        cluster(fe_egress({"toFQDNs": [{"matchName": "api.example.com"}]})), DROPPED,
        f"{OUT}allow rule {CNP_OUT}[0] does not apply: toFQDNs api.example.com: never a pod",
        peer=BACKEND, flow=Flow(8080)),
    egress_case(
        "s13: toServices never selects a pod",
        cluster(fe_egress({"toServices": [{"k8sService": {"serviceName": "s",
                                                          "namespace": "demo"}}]})), DROPPED,
        f"{OUT}allow rule {CNP_OUT}[0] does not apply: toServices (addresses the model does not "
        "know): never a pod",
        peer=BACKEND, flow=Flow(8080)),
    # -- s17: the world outside the mesh ----------------------------------------------------------
    egress_case(
        "s17, s1: toEndpoints selects Cilium endpoints, never the world",
        cluster(fe_egress({"toEndpoints": [{}]})), DROPPED,
        f"{OUT}allow rule {CNP_OUT}[0] does not apply: endpoints "
        "{k8s:io.cilium.k8s.policy.cluster=c1, k8s:io.kubernetes.pod.namespace=demo}: selects "
        "Cilium endpoints, not the world outside the mesh"),
    egress_case(
        "s17, s4: a toEndpoints of a reserved label is matched label by label (reserved:host is "
        "not the world)",
        cluster(fe_egress({"toEndpoints": [{"matchLabels": {"reserved:host": ""}}]})), DROPPED,
        f"{OUT}allow rule {CNP_OUT}[0] does not apply: endpoints {{reserved:host=}}: "
        "reserved:host= does not hold for the peer"),
    egress_case(
        "s17, s4: toEntities cluster does not select the world (pkg/policy/api/entity.go)",
        cluster(fe_egress({"toEntities": ["cluster"]})), DROPPED,
        f"{OUT}allow rule {CNP_OUT}[0] does not apply: entity cluster does not select the world "
        "outside the mesh"),
    egress_case(
        "s17, s13: toServices does not select an external (its addresses are outside the "
        "scenario; the external's own rule decides)",
        cluster(fe_egress(TO_WORLD, {"toServices": [{"k8sService": {"serviceName": "s",
                                                                   "namespace": "demo"}}]})),
        ALLOWED,
        f"{OUT}allow rule {CNP_OUT}[1] does not change the verdict, whether or not it applies: "
        "toServices (addresses the model does not know): beyond the model",
        peer=BY_ADDRESS),
    # The two rows below pin the wording for a peer the model cannot tell (its reason is the
    # unknown verdict's when nothing else admits the flow; here another rule admits it): no
    # miss is claimed, since the model does not know whether the rule applies.
    egress_case(
        "s17: a toCIDR rule toward an external known by name only is not called a miss",
        cluster(fe_egress(TO_WORLD, {"toCIDR": ["203.0.113.0/24"]})), ALLOWED,
        f"{OUT}allow rule {CNP_OUT}[1] does not change the verdict, whether or not it applies: "
        "toCIDR 203.0.113.0/24: the external's address is not given, only its name",
        peer=NAME_ONLY),
    egress_case(
        "s17: a toFQDNs rule toward an external known by address only is not called a miss",
        cluster(fe_egress(TO_WORLD, {"toFQDNs": [{"matchName": "api.example.com"}]})), ALLOWED,
        f"{OUT}allow rule {CNP_OUT}[1] does not change the verdict, whether or not it applies: "
        "toFQDNs api.example.com: the probe goes to an address, not a name; Cilium admits it "
        "only if its DNS proxy saw some name resolve to it, which the model does not know (give "
        "the external a hostname)",
        peer=BY_ADDRESS),
    # -- s16: pings -------------------------------------------------------------------------------
    ingress_case(
        "s16: icmps that lists other types names every one of them (pkg/policy/api/icmp.go)",
        cluster(be_ingress({"fromEndpoints": [FE], "icmps": [{"fields": [{"type": 0},
                                                                          {"type": 3}]}]})),
        DROPPED,
        f"{IN}allow rule {CNP_IN}[0] does not apply: its icmps lists ICMP type 0, ICMP type 3, "
        "not ICMP echo request (type 8)",
        flow=PING),
    ingress_case(
        "s16: toPorts blocks ICMP, and every port of the entry is named (language.rst 'Limit "
        "ingress/egress ports')",
        cluster(be_ingress({"fromEndpoints": [FE], "toPorts": [{"ports": [
            {"port": "80", "protocol": "TCP"}, {"port": "8080", "protocol": "TCP"}]}]})),
        DROPPED,
        f"{IN}allow rule {CNP_IN}[0] does not apply: ICMP echo request (type 8) is not among its "
        "ports (80/TCP, 8080/TCP): ports admit TCP, UDP and SCTP only, and once an L4 rule "
        "applies, ICMP that no icmps lists is blocked",
        flow=PING),
    # -- s18: ClusterNetworkPolicy rules that match but did not decide ----------------------------
    ingress_case(
        "s18: in one tier, the first matching rule decides; a later match is named as such "
        "(network-policy-api clusternetworkpolicy_types.go)",
        cluster(kcnp("Admin", 10, ingress=[{"action": "Accept", "from": [FE_PODS]}]),
                kcnp("Admin", 20, "h", ingress=[{"action": "Deny", "from": [{"namespaces": {}}]}])),
        ALLOWED,
        f"{IN}Admin Deny rule KCNP h ingress[0], Admin tier, priority 20, Deny does not apply: "
        "it matches, but a rule of higher precedence decided first"),
    ingress_case(
        "s18: Pass skips the rest of the Admin tier: a later Admin rule was passed over",
        cluster(kcnp("Admin", 10, ingress=[{"action": "Pass", "from": [FE_PODS]},
                                           {"action": "Deny", "from": [{"namespaces": {}}]}])),
        ALLOWED,
        f"{IN}Admin Deny rule KCNP g ingress[1], Admin tier, priority 10, Deny does not apply: "
        "it matches, but the flow was passed on before it"),
]
# fmt: on


@pytest.mark.parametrize("case", NEAR_MISSES, ids=[c.pins for c in NEAR_MISSES])
def test_near_misses_say_why_a_rule_did_not_apply(case: Case) -> None:
    decision = decide_direction(case.policy, case.direction, case.local, case.peer, case.flow)
    assert decision.outcome is case.expected, decision.reasons
    assert case.line in decision.reasons, "\n".join(decision.reasons)


# -- the first line: what decided the direction ----------------------------------------------------

HOST_RULE = {
    "fromEndpoints": [FE],
    "toPorts": [
        {
            "ports": [{"port": "8080"}],
            "rules": {"http": [{"method": "GET", "path": "/public", "host": "api.example.com"}]},
        }
    ],
}
DNS_AND_HTTP = fe_egress(
    DNS_53,
    {
        "toEndpoints": [KUBE_DNS],
        "toPorts": [
            {"ports": [{"port": "53", "protocol": "UDP"}], "rules": {"http": [{"method": "GET"}]}}
        ],
    },
)
DNS_AND_KAFKA = fe_egress(
    DNS_53,
    {
        "toEndpoints": [KUBE_DNS],
        "toPorts": [
            {"ports": [{"port": "53", "protocol": "UDP"}], "rules": {"kafka": [{"topic": "t"}]}}
        ],
    },
)
QUERY = Flow(53, "UDP", dns_name="api.example.com")
DOMAIN_ACCEPT = kcnp(
    "Admin", 10, "a", egress=[{"action": "Accept", "to": [{"domainNames": ["api.example.com"]}]}]
)
KCNP_DNS = "KCNP a egress[0], Admin tier, priority 10, Accept (its DNS allow to kube-dns)"

# fmt: off
HEADLINES = [
    # -- L7 (s5, SF10, Q3, Q4) -----------------------------------------------------------------
    ingress_case(
        "s5, SF10: a request an HTTP rule matches names the rule and its policy",
        cluster(be_ingress(GET_PUBLIC)), ALLOWED,
        f"{IN}HTTP GET /public allowed by {CNP_IN}[0]", flow=Flow(8080, path="/public")),
    ingress_case(
        "s5, SF10: the proxy answers 403 to a request no HTTP rule matches, and the rules are "
        "listed (language.rst, layer 7)",
        cluster(be_ingress(GET_PUBLIC)), L7,
        f"{IN}POST /public matches no HTTP rule of {CNP_IN}[0] (GET /public)",
        flow=Flow(8080, method="POST", path="/public")),
    ingress_case(
        "s13: an HTTP host rule on a probe that leaves the Host header to curl: unknown",
        cluster(be_ingress(HOST_RULE)), UNKNOWN,
        f"{IN}unknown, the model does not cover the HTTP rule GET /public host=api.example.com "
        "on the Host header, which the probe leaves to curl (the target's address): give the "
        "probe a host",
        flow=Flow(8080, path="/public")),
    egress_case(
        "s17: the DNS proxy lets a query through that a DNS rule matches",
        cluster(fe_egress(DNS_53)), ALLOWED,
        f"{OUT}DNS query for api.example.com allowed by {CNP_OUT}[0]",
        peer=KUBE_DNS_POD, flow=QUERY),
    egress_case(
        "s17: the DNS proxy refuses a query no DNS rule matches, and the rules are listed "
        "(language.rst 'DNS Policy and IP Discovery')",
        cluster(fe_egress(DNS_53)), L7,
        f"{OUT}the DNS proxy refuses the query for x.example.com: it matches no DNS rule of "
        f"{CNP_OUT}[0] (api.example.com, *.cilium.io)",
        peer=KUBE_DNS_POD, flow=Flow(53, "UDP", dns_name="x.example.com")),
    egress_case(
        "s13: DNS rules on a probe that is not a DNS query: unknown",
        cluster(fe_egress(DNS_53)), UNKNOWN,
        f"{OUT}unknown, the model does not cover {CNP_OUT}[0]: DNS L7 rules, on a probe that is "
        "not a DNS query (the model decides DNS rules for the lookups of external names)",
        peer=KUBE_DNS_POD, flow=Flow(53, "UDP")),
    egress_case(
        "Q4: HTTP rules of the same port add up with DNS rules: a request an HTTP rule matches "
        "is decided by it, not left unknown",
        cluster(DNS_AND_HTTP), ALLOWED,
        f"{OUT}HTTP GET * allowed by {CNP_OUT}[0], {CNP_OUT}[1]",
        peer=KUBE_DNS_POD, flow=Flow(53, "UDP")),
    egress_case(
        "s13: a Kafka rule beside DNS rules on the same port: the Kafka rule is the unknown",
        cluster(DNS_AND_KAFKA), UNKNOWN,
        f"{OUT}unknown, the model does not cover {CNP_OUT}[1]: Kafka L7 rules",
        peer=KUBE_DNS_POD, flow=Flow(53, "UDP")),
    # -- s17: why the world was admitted, and how a world peer is shown ------------------------
    egress_case(
        "s17, s4: toEntities world admits the world; an entity cluster beside it does not "
        "(pkg/policy/api/entity.go)",
        cluster(fe_egress({"toEntities": ["cluster", "world"]})), ALLOWED,
        f"{OUT}allowed by {CNP_OUT}[0] (entity world selects the world outside the mesh)"),
    egress_case(
        "s17: toCIDR admits the address it holds (language.rst 'IP/CIDR based')",
        cluster(fe_egress({"toCIDR": ["203.0.113.0/24"]})), ALLOWED,
        f"{OUT}allowed by {CNP_OUT}[0] (toCIDR 203.0.113.0/24 holds 203.0.113.10)"),
    egress_case(
        "s17: toFQDNs admits an external known by name only once the DNS proxy saw the lookup",
        cluster(fe_egress({"toFQDNs": [{"matchName": "api.example.com"}]})), ALLOWED,
        f"{OUT}allowed by {CNP_OUT}[0] (toFQDNs api.example.com: Cilium's DNS proxy saw "
        "api.example.com resolve to it)",
        peer=NAME_ONLY),
    egress_case(
        "s3, s17: default deny names the world peer, its address and how it was looked up",
        cluster(fe_egress({"toEndpoints": [FE]})), DROPPED,
        f"{OUT}default deny (selected by CNP demo/p spec); no rule allows world 203.0.113.10 "
        "(api.example.com, looked up through Cilium's DNS proxy) on 443/TCP"),
    egress_case(
        "s3, s17: ... an external without an address, looked up without the proxy",
        cluster(fe_egress({"toEndpoints": [FE]})), DROPPED,
        f"{OUT}default deny (selected by CNP demo/p spec); no rule allows world (address "
        "unknown) (api.example.com, looked up not proxied) on 443/TCP",
        peer=NAME_ONLY_NOT_PROXIED),
    egress_case(
        "s3, s17: ... an external reached by address shows the address alone",
        cluster(fe_egress({"toEndpoints": [FE]})), DROPPED,
        f"{OUT}default deny (selected by CNP demo/p spec); no rule allows world 203.0.113.10 on "
        "443/TCP",
        peer=BY_ADDRESS),
    # -- s18: ClusterNetworkPolicy --------------------------------------------------------------
    ingress_case(
        "s18: an Admin Accept decides: 'accepted by' the rule",
        cluster(kcnp("Admin", 10, ingress=[{"action": "Accept", "from": [FE_PODS]}])), ALLOWED,
        f"{IN}accepted by KCNP g ingress[0], Admin tier, priority 10, Accept"),
    egress_case(
        "s18, s17: the DNS allow Cilium adds beside domainNames lets the listed name through "
        "its proxy",
        cluster(DOMAIN_ACCEPT), ALLOWED,
        f"{OUT}DNS query for api.example.com allowed by {KCNP_DNS}",
        peer=KUBE_DNS_POD, flow=Flow(53, "UDP", port_name="dns", dns_name="api.example.com")),
    egress_case(
        "s18, s17: ... and refuses other names (inference from the added entry)",
        cluster(DOMAIN_ACCEPT), L7,
        f"{OUT}the DNS proxy refuses the query for x.example.com: it matches no DNS rule of "
        f"{KCNP_DNS} (api.example.com)",
        peer=KUBE_DNS_POD, flow=Flow(53, "UDP", port_name="dns", dns_name="x.example.com")),
]
# fmt: on


@pytest.mark.parametrize("case", HEADLINES, ids=[c.pins for c in HEADLINES])
def test_the_first_line_names_what_decided(case: Case) -> None:
    decision = decide_direction(case.policy, case.direction, case.local, case.peer, case.flow)
    assert decision.outcome is case.expected, decision.reasons
    assert decision.reasons[0] == case.line
    expected_unknowns = (case.line,) if case.expected is UNKNOWN else ()
    assert decision.unknowns == expected_unknowns


# -- whole explanations: the deciding rule is named once, every other rule once --------------------

NETWORKS_DENY = kcnp(
    "Admin", 10, egress=[{"action": "Deny", "to": [{"networks": ["203.0.113.0/24"]}]}]
)
UNSURE_DENY = (
    "KCNP g egress[0], Admin tier, priority 10, Deny: networks 203.0.113.0/24: the external's "
    "address is not given, only its name"
)
TIE = (
    "KCNP a ingress[0], Admin tier, priority 10, Pass, KCNP z ingress[0], Admin tier, priority "
    "10, Accept: rules of equal priority that Pass and Accept the same traffic, an order the API "
    "leaves undefined"
)

# fmt: off
EXPLANATIONS = [
    pytest.param(
        cluster(
            # Another policy's CIDR peer, unsure too for this external: the reason given must
            # be the deciding rule's own peer.
            cnp({"endpointSelector": {"matchLabels": {"app": "none"}},
                 "egress": [{"toCIDR": ["198.51.100.0/24"]}]}, name="other"),
            NETWORKS_DENY,
            kcnp("Baseline", 10, "b",
                 egress=[{"action": "Accept", "to": [{"networks": ["0.0.0.0/0"]}]}]),
        ),
        "egress", FRONTEND, NAME_ONLY, HTTPS, UNKNOWN,
        (f"{OUT}unknown, the model does not cover {UNSURE_DENY}",),
        id="s18, s17: an Admin Deny whose networks peer the model cannot tell for an external "
        "known by name only: unknown, with that rule's reason",
    ),
    pytest.param(
        cluster(kcnp("Admin", 10, "a", egress=[
                    {"action": "Accept", "to": [{"domainNames": ["api.example.com"]}]}]),
                kcnp("Admin", 10, "d", egress=[
                    {"action": "Deny", "to": [{"networks": ["203.0.113.0/24"]}]}])),
        "egress", FRONTEND, NAME_ONLY, HTTPS, UNKNOWN,
        (f"{OUT}unknown, the model does not cover KCNP d egress[0], Admin tier, priority 10, "
         "Deny: networks 203.0.113.0/24: the external's address is not given, only its name",
         f"{OUT}Admin Accept rule KCNP a egress[0], Admin tier, priority 10, Accept does not "
         "apply: it matches, but what comes before it leaves the verdict unknown",
         f"{OUT}Admin Accept rule {KCNP_DNS} does not apply: endpoints {{k8s:k8s-app=kube-dns}}: "
         "selects Cilium endpoints, not the world outside the mesh"),
        id="s18: an Accept tied in priority with a Deny the model cannot tell: the tie would go "
        "to the Deny (CFP-42904), so unknown",
    ),
    pytest.param(
        cluster(kcnp("Admin", 10, "a", ingress=[{"action": "Pass", "from": [FE_PODS]}]),
                kcnp("Admin", 10, "z", ingress=[{"action": "Accept", "from": [FE_PODS]}])),
        "ingress", BACKEND, FRONTEND, Flow(8080), UNKNOWN,
        (f"{IN}unknown, the model does not cover {TIE}",),
        id="s18: Pass and Accept of equal priority: an order the API leaves undefined, unknown; "
        "the tied rules are named in the reason, not as near misses",
    ),
    pytest.param(
        cluster(DOMAIN_ACCEPT),
        "egress", FRONTEND, KUBE_DNS_POD, Flow(53, "UDP", port_name="dns"), UNKNOWN,
        (f"{OUT}unknown, the model does not cover {KCNP_DNS}: DNS L7 rules, on a probe that is "
         "not a DNS query (the model decides DNS rules for the lookups of external names)",
         f"{OUT}Admin Accept rule KCNP a egress[0], Admin tier, priority 10, Accept does not "
         "apply: domainNames api.example.com: never a pod"),
        id="s18, s13: the DNS allow beside domainNames, on a probe that is not a DNS query: "
        "unknown, and the deciding entry is not a near miss",
    ),
]
# fmt: on


@pytest.mark.parametrize(
    ("policy", "direction", "local", "peer", "flow", "expected", "reasons"), EXPLANATIONS
)
def test_whole_explanations(
    policy: ClusterPolicy,
    direction: Direction,
    local: Identity,
    peer: Identity,
    flow: Flow,
    expected: Outcome,
    reasons: tuple[str, ...],
) -> None:
    decision = decide_direction(policy, direction, local, peer, flow)
    assert decision.outcome is expected
    assert decision.reasons == reasons
    assert decision.unknowns == (reasons[:1] if expected is UNKNOWN else ())


UNSURE_NETWORKS = {"networks": ["203.0.113.0/24"]}
"""A peer the model cannot tell for NAME_ONLY: the external's address is not given."""
BY_NAME = {"domainNames": ["api.example.com"]}


@pytest.mark.parametrize(
    ("docs", "expected"),
    [
        # One rule, two peers: the rule acts through whichever matches, so a peer the model
        # cannot tell does not matter once another peer of the rule matches.
        ((kcnp("Admin", 10, "a", egress=[
            {"action": "Accept", "to": [UNSURE_NETWORKS, BY_NAME]}]),), Outcome.ALLOWED),
        ((kcnp("Admin", 10, "a", egress=[
            {"action": "Accept", "to": [BY_NAME, UNSURE_NETWORKS]}]),), Outcome.ALLOWED),
        # An Accept tied with another policy's rule the model cannot tell stays unknown: that
        # rule, if it matched, would join the decision (and might be a Deny).
        ((kcnp("Admin", 10, "a", egress=[{"action": "Accept", "to": [BY_NAME]}]),
          kcnp("Admin", 10, "z", egress=[{"action": "Accept", "to": [UNSURE_NETWORKS]}])),
         UNKNOWN),
        # ... and one ahead of the rule that matches leaves it unknown too.
        ((kcnp("Admin", 5, "z", egress=[{"action": "Deny", "to": [UNSURE_NETWORKS]}]),
          kcnp("Admin", 10, "a", egress=[{"action": "Accept", "to": [BY_NAME]}])), UNKNOWN),
        # Behind it, it is never reached.
        ((kcnp("Admin", 10, "a", egress=[{"action": "Accept", "to": [BY_NAME]}]),
          kcnp("Admin", 20, "z", egress=[{"action": "Deny", "to": [UNSURE_NETWORKS]}])),
         Outcome.ALLOWED),
    ],
)  # fmt: skip
def test_an_unsure_cluster_network_policy_peer_matters_only_if_it_could_decide(
    docs: tuple[dict[str, Any], ...], expected: Outcome
) -> None:
    """s18: the first matching rule of a tier decides; a rule whose peer the model cannot tell
    leaves the verdict unknown only where its matching could change that decision."""
    decision = decide_direction(cluster(*docs), "egress", FRONTEND, NAME_ONLY, HTTPS)
    assert decision.outcome is expected, decision.reasons


# -- rules no parser writes: the index takes any Rule ---------------------------------------------

ANY_PEER = (Peer("wildcard", text="any peer"),)
BACKEND_SUBJECT = Selector.equal({"k8s:app": "backend"})


def hand_built(*entries: Entry) -> ClusterPolicy:
    return ClusterPolicy("c1", (Rule("R", BACKEND_SUBJECT, entries, frozenset({"ingress"})),))


@pytest.mark.parametrize(
    "protocols",
    [frozenset({"ICMP", "TCP"}), frozenset({"ICMPv6", "TCP"})],
    ids=["an ICMP port rule", "an ICMPv6 port rule"],
)
def test_a_port_rule_naming_icmp_without_the_type_says_it_does_not_list_it(
    protocols: frozenset[Any],
) -> None:
    """s16: a port rule whose protocols name ICMP but not the probe's type (no parser writes
    one: icmps become ICMP-only rules, toPorts never ICMP)."""
    entry = Entry("ingress", False, ANY_PEER, (PortRule(9, protocols=protocols),), "R e")
    decision = decide_direction(hand_built(entry), "ingress", BACKEND, FRONTEND, PING)
    assert decision.outcome is DROPPED
    assert decision.reasons[1:] == (
        "ingress at c1: allow rule R e does not apply: it does not list ICMP echo request (type 8)",
    )


@pytest.mark.parametrize(
    ("port", "unknown"),
    [
        (PortRule(None, http=(HttpRule("GET", host="api.example.com"),)), "the HTTP rule"),
        (PortRule(None, unknown="Kafka L7 rules"), "T a: Kafka L7 rules"),
    ],
    ids=["an HTTP host rule", "a Kafka rule"],
)
def test_a_tier_accept_left_unknown_by_its_l7_rule_is_not_its_own_near_miss(
    port: PortRule, unknown: str
) -> None:
    """s18, s13: the entries of an unknown L7 verdict are the deciding ones (no ClusterNetworkPolicy
    parser writes L7 rules; the index takes them as it takes a CNP's)."""
    accept = TieredEntry("ingress", False, ANY_PEER, (port,), "T a", "Admin", 1, 0, "Accept")
    policy = ClusterPolicy("c1", (TieredRule("T", BACKEND_SUBJECT, (accept,), frozenset()),))
    decision = decide_direction(policy, "ingress", BACKEND, FRONTEND, Flow(8080))
    assert decision.outcome is UNKNOWN
    assert len(decision.reasons) == 1
    assert decision.reasons[0].startswith(f"{IN}unknown, the model does not cover {unknown}")


# -- the index's other entry points ---------------------------------------------------------------

DNS_ON_NAMED_PORT = fe_egress(
    {
        "toEndpoints": [KUBE_DNS],
        "toPorts": [
            {
                "ports": [{"port": "dns", "protocol": "UDP"}],
                "rules": {"dns": [{"matchPattern": "*"}]},
            }
        ],
    }
)
NAMED_QUERY = Flow(53, "UDP", port_name="dns", dns_name="api.example.com")


DNS_PROXIED = [
    pytest.param(
        cluster(fe_egress(DNS_53)),
        QUERY,
        True,
        id="s17: an egress allow with DNS rules for kube-dns on the query's port",
    ),
    pytest.param(
        cluster(fe_egress(DNS_53), enforcement="never"),
        QUERY,
        False,
        id="s3: enable-policy=never enforces nothing, no port is redirected",
    ),
    pytest.param(
        cluster(fe_egress({**DNS_53, "toEndpoints": [{"matchLabels": {"app": "x"}}]})),
        QUERY,
        False,
        id="s17: DNS rules toward other peers do not redirect the query to kube-dns",
    ),
    pytest.param(
        cluster(DNS_ON_NAMED_PORT),
        NAMED_QUERY,
        True,
        id="s5: DNS rules on a named port redirect the query to the port of that name",
    ),
    pytest.param(
        cluster(DOMAIN_ACCEPT),
        NAMED_QUERY,
        True,
        id="s18: the DNS allow beside domainNames (named ports dns, dns-tcp)",
    ),
]


@pytest.mark.parametrize(("policy", "flow", "proxied"), DNS_PROXIED)
def test_whether_the_dns_proxy_sees_a_query(
    policy: ClusterPolicy, flow: Flow, proxied: bool
) -> None:
    assert policy.index.dns_proxied(FRONTEND, KUBE_DNS_POD, flow) is proxied


@pytest.mark.parametrize(
    ("direction", "local", "peer", "expected"),
    [
        ("ingress", BACKEND, FRONTEND, DROPPED),
        ("egress", BACKEND, FRONTEND, ALLOWED),
        ("ingress", FRONTEND, BACKEND, ALLOWED),
    ],
    ids=[
        "s3: the backend's ingress is in default deny",
        "s3: its egress is not (the rule has no egress section)",
        "s3: the frontend is not selected",
    ],
)
def test_the_outcome_alone_is_the_decisions(
    direction: Direction, local: Identity, peer: Identity, expected: Outcome
) -> None:
    policy = cluster(be_ingress({"fromEndpoints": [{"matchLabels": {"app": "x"}}]}))
    assert policy.index.outcome(direction, local, peer, Flow(8080)) is expected
    assert decide_direction(policy, direction, local, peer, Flow(8080)).outcome is expected


@pytest.mark.parametrize("warm", [False, True], ids=["before any verdict", "after verdicts"])
def test_a_cluster_policy_pickles_without_its_index(warm: bool) -> None:
    """The index is a cache (ClusterPolicy.__getstate__): a pickled policy state leaves it
    behind, and the copy builds its own on first use."""
    policy = cluster(be_ingress({"fromEndpoints": [FE]}))
    if warm:
        assert policy.index.outcome("ingress", BACKEND, FRONTEND, Flow(8080)) is ALLOWED
    copy = pickle.loads(pickle.dumps(policy))
    assert "index" not in vars(copy)
    assert copy == policy
    assert copy.index.outcome("ingress", BACKEND, REMOTE_FRONTEND, Flow(8080)) is DROPPED


# -- more rows the mutation sample left unpinned ---------------------------------------------------

NAMED_HTTP_DENY = cnp(
    {
        "endpointSelector": FE,
        "egressDeny": [{"toEndpoints": [BE], "toPorts": [{"ports": [{"port": "http"}]}]}],
        "egress": [{"toEndpoints": [BE]}],
    }
)
AMBIGUOUS_HTTP = Flow(8080, port_name="http", ambiguous=frozenset({"http"}))

# fmt: off
MORE_EXPLANATIONS = [
    pytest.param(
        cluster(be_ingress({"fromEndpoints": [FE]})),
        "egress", BACKEND, FRONTEND, Flow(8080), ALLOWED,
        ("egress at c1: no rule puts the endpoint into egress default deny (the rules selecting "
         "it have no egress section, or enableDefaultDeny.egress: false)",),
        id="s3: a rule with no egress section leaves egress out of default deny",
    ),
    pytest.param(
        cluster(be_ingress({"fromEndpoints": [FE], "toPorts": [{"ports": [{"port": "8080"}],
            "rules": {"http": [{"method": "GET", "path": "/a"},
                               {"method": "PUT", "path": "/b"}]}}]})),
        "ingress", BACKEND, FRONTEND, Flow(8080, method="POST", path="/c"), L7,
        (f"{IN}POST /c matches no HTTP rule of {CNP_IN}[0] (GET /a; PUT /b)",),
        id="s5, SF10: a request no HTTP rule matches is answered 403, every rule listed, "
        "joined by '; '",
    ),
    pytest.param(
        cluster(cnp({"endpointSelector": FE,
                     "egressDeny": [{"toCIDR": ["203.0.113.0/24"]}],
                     "egress": [TO_WORLD, {"toEndpoints": [BE]}]})),
        "egress", FRONTEND, NAME_ONLY, HTTPS, UNKNOWN,
        (f"{OUT}unknown, the model does not cover {CNP_OUT}Deny[0]: toCIDR 203.0.113.0/24: the "
         "external's address is not given, only its name",
         f"{OUT}allow rule {CNP_OUT}[1] does not apply: endpoints {{any:app=backend, "
         "k8s:io.cilium.k8s.policy.cluster=c1, k8s:io.kubernetes.pod.namespace=demo}: selects "
         "Cilium endpoints, not the world outside the mesh"),
        id="s17, s13: a deny the model cannot tell leaves it unknown; an allow that matches is "
        "not a near miss, and the allows after it still are",
    ),
    pytest.param(
        cluster(cnp({"endpointSelector": BE,
                     "ingressDeny": [{"fromEndpoints": [FE],
                                      "toPorts": [{"ports": [{"port": "80"}]}]},
                                     {"fromEndpoints": [FE]}],
                     "ingress": [{"fromEndpoints": [FE]}]})),
        "ingress", BACKEND, FRONTEND, Flow(8080), DROPPED,
        (f"{IN}denied by {CNP_IN}Deny[1]",
         f"{IN}deny rule {CNP_IN}Deny[0] does not apply: port 8080/TCP is not among its ports "
         "(80/ANY)",
         f"{IN}allow rule {CNP_IN}[0] does not apply: it matches, but a deny rule wins"),
        id="SF8: a deny on another port does not stop a later deny from winning",
    ),
    pytest.param(
        cluster(NAMED_HTTP_DENY, version="1.19"),
        "egress", FRONTEND, BACKEND, AMBIGUOUS_HTTP, UNKNOWN,
        (f"{OUT}unknown, the model does not cover {CNP_OUT}Deny[0]: named port 'http', which "
         "stands for several numbers among the mesh's pods; before 1.20 egress resolves it per "
         "node, not per destination (cilium#24779)",),
        id="s5, s13: before 1.20 an egress deny on a named port of several numbers is unknown, "
        "not skipped (cilium#24779)",
    ),
    pytest.param(
        cluster(be_ingress({"fromEndpoints": [FE]}),
                setting="1.19, policy-default-local-cluster off"),
        "ingress", BACKEND, FRONTEND, Flow(8080), ALLOWED,
        ("ingress at c1 (1.19, policy-default-local-cluster off): allowed by "
         f"{CNP_IN}[0]",),
        id="s15: in a mixed mesh every line names the deciding cluster's settings",
    ),
]
# fmt: on


def test_an_entry_with_an_empty_port_list_says_it_lists_no_port() -> None:
    """s5: an entry whose port list is empty admits no TCP/UDP/SCTP port, and says so."""
    entry = Entry("ingress", False, ANY_PEER, (), "R e")
    decision = decide_direction(hand_built(entry), "ingress", BACKEND, FRONTEND, Flow(8080))
    assert decision.outcome is DROPPED
    assert decision.reasons[1:] == (
        "ingress at c1: allow rule R e does not apply: port 8080/TCP is not among its ports "
        "(no TCP/UDP/SCTP port)",
    )


def test_decisions_computed_counts_each_verdict_once() -> None:
    """The index's count of evaluated verdicts: one per (direction, selection, peer class,
    flow), a repeat answered from the memo."""
    policy = cluster(be_ingress({"fromEndpoints": [FE]}))
    assert policy.index.decisions_computed == 0
    assert policy.index.outcome("ingress", BACKEND, FRONTEND, Flow(8080)) is ALLOWED
    assert policy.index.outcome("ingress", BACKEND, FRONTEND, Flow(8080)) is ALLOWED
    assert policy.index.decisions_computed == 1
    assert policy.index.outcome("ingress", BACKEND, FRONTEND, Flow(80)) is ALLOWED
    assert policy.index.decisions_computed == 2


# -- rows for the mutants a fresh process still left alive (docs/mutation.md) ---------------------

NOBODY = {"matchLabels": {"app": "none"}}
"""A subject no identity of these rows has: its policy selects nothing, but its peers still
take peer bits of the index (the unsure reason must be the deciding rule's own)."""
CIDR_WHY = "toCIDR 203.0.113.0/24: the external's address is not given, only its name"
NETWORKS_WHY = "networks 203.0.113.0/24: the external's address is not given, only its name"
FQDN_WHY = (
    "toFQDNs api.example.com: the source looked api.example.com up without Cilium's DNS proxy "
    "(no DNS rule of its egress covers the query), so whether Cilium learned the address "
    "depends on other lookups on the node (language.rst, DNS based)"
)
G_ACCEPT = "KCNP g egress[0], Admin tier, priority 10, Accept"

# fmt: off
PINNED_EXPLANATIONS = [
    pytest.param(
        cluster(cnp({"endpointSelector": FE,
                     "egressDeny": [*NAMED_HTTP_DENY["spec"]["egressDeny"],
                                    {"toEndpoints": [BE],
                                     "toPorts": [{"ports": [{"port": "8080"}]}]}],
                     "egress": [{"toEntities": ["all"]}]}), version="1.19"),
        "egress", FRONTEND, BACKEND, AMBIGUOUS_HTTP, DROPPED,
        (f"{OUT}denied by {CNP_OUT}Deny[1]",
         f"{OUT}deny rule {CNP_OUT}Deny[0] does not apply: it matches, but a deny rule wins",
         f"{OUT}allow rule {CNP_OUT}[0] does not apply: it matches, but a deny rule wins"),
        id="SF8, s5: a deny the model cannot tell (named port before 1.20, cilium#24779) is "
        "settled by a later deny it can tell: dropped, not unknown",
    ),
    pytest.param(
        cluster(kcnp("Baseline", 10, ingress=[{"action": "Accept", "from": [FE_PODS]}]),
                enforcement="always"),
        "ingress", BACKEND, FRONTEND, Flow(8080), ALLOWED,
        (f"{IN}accepted by KCNP g ingress[0], Baseline tier, priority 10, Accept",),
        id="s3, s18: enforcement always leaves an endpoint no rule allows to the Baseline tier, "
        "whose Accept decides",
    ),
    pytest.param(
        cluster(enforcement="always"),
        "ingress", BACKEND, FRONTEND, Flow(8080), DROPPED,
        (f"{IN}enforcement mode always, no rule allows",),
        id="s3: enforcement always drops what no rule allows, even with no policy",
    ),
    pytest.param(
        cluster(kcnp("Admin", 10, egress=[{"action": "Accept", "to": [
            {"pods": {"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "x"}}}},
            UNSURE_NETWORKS]}])),
        "egress", FRONTEND, NAME_ONLY_NOT_PROXIED, HTTPS, UNKNOWN,
        (f"{OUT}unknown, the model does not cover {G_ACCEPT}: {NETWORKS_WHY}",
         f"{OUT}Admin Accept rule {G_ACCEPT} does not apply: pods {{k8s:app=x, "
         "k8s:io.cilium.k8s.policy.cluster=c1, k8s:io.kubernetes.pod.namespace Exists}: selects "
         "Cilium endpoints, not the world outside the mesh"),
        id="s18, s17: the second peer of a rule the model cannot tell names that peer's reason",
    ),
    pytest.param(
        cluster(kcnp("Admin", 10, egress=[{"action": "Accept", "to": [UNSURE_NETWORKS]}])),
        "egress", FRONTEND, NAME_ONLY_NOT_PROXIED, HTTPS, UNKNOWN,
        (f"{OUT}unknown, the model does not cover {G_ACCEPT}: {NETWORKS_WHY}",),
        id="s18, s17: a rule the model cannot tell is the unknown, not also its own near miss",
    ),
    pytest.param(
        cluster(cnp({"endpointSelector": NOBODY,
                     "egress": [{"toFQDNs": [{"matchName": "api.example.com"}]}]}, name="o"),
                kcnp("Admin", 10, egress=[{"action": "Accept", "to": [UNSURE_NETWORKS]}])),
        "egress", FRONTEND, NAME_ONLY_NOT_PROXIED, HTTPS, UNKNOWN,
        (f"{OUT}unknown, the model does not cover {G_ACCEPT}: {NETWORKS_WHY}",),
        id="s18, s17: the reason is the unsure rule's own peer, not another policy's",
    ),
    pytest.param(
        cluster(kcnp("Admin", 10, "a", ingress=[{"action": "Pass", "from": [FE_PODS]}]),
                kcnp("Admin", 10, "z", ingress=[{"action": "Accept", "from": [FE_PODS]}]),
                kcnp("Admin", 20, "w", ingress=[{"action": "Accept", "from": [FE_PODS]}])),
        "ingress", BACKEND, FRONTEND, Flow(8080), UNKNOWN,
        (f"{IN}unknown, the model does not cover {TIE}",
         f"{IN}Admin Accept rule KCNP w ingress[0], Admin tier, priority 20, Accept does not "
         "apply: it matches, but what comes before it leaves the verdict unknown"),
        id="s18: a rule behind a Pass/Accept tie matches, but the tie left the verdict unknown",
    ),
    pytest.param(
        cluster(kcnp("Admin", 10, egress=[{"action": "Accept", "to": [UNSURE_NETWORKS]}]),
                fe_egress(TO_WORLD)),
        "egress", FRONTEND, NAME_ONLY_NOT_PROXIED, HTTPS, UNKNOWN,
        (f"{OUT}unknown, the model does not cover {G_ACCEPT}: {NETWORKS_WHY}",),
        id="s18: an Admin rule the model cannot tell leaves it unknown; a CNP allow that "
        "matches is not said to lose to the Admin tier",
    ),
    pytest.param(
        cluster(cnp({"endpointSelector": BE, "ingress": [
                    {"fromEndpoints": [{"matchLabels": {"app": "a"}}]},
                    {"fromEndpoints": [{"matchLabels": {"app": "b"}}]}]}, name="a"),
                cnp({"endpointSelector": BE, "ingress": [
                    {"fromRequires": [{"matchLabels": {"app": "a"}}]}]}, name="b")),
        "ingress", BACKEND, pod("a"), Flow(8080), UNKNOWN,
        (f"{IN}unknown, the model does not cover CNP demo/b spec: fromRequires",
         f"{IN}allow rule CNP demo/a spec ingress[1] does not apply: endpoints {{any:app=b, "
         "k8s:io.cilium.k8s.policy.cluster=c1, k8s:io.kubernetes.pod.namespace=demo}: any:app=b "
         "does not hold for the peer",
         f"{IN}allow rule CNP demo/b spec ingress[0] does not apply: it selects no peer (an "
         "entry with no L3 or L4 part allows nothing)"),
        id="s13: an allow that matches under an unknown verdict is skipped, and the rules after "
        "it are still listed",
    ),
    pytest.param(
        cluster(cnp({"endpointSelector": NOBODY, "egress": [{"toCIDR": ["203.0.113.0/24"]}]},
                    name="o"),
                fe_egress({"toFQDNs": [{"matchName": "api.example.com"}]})),
        "egress", FRONTEND, NAME_ONLY_NOT_PROXIED, HTTPS, UNKNOWN,
        (f"{OUT}unknown, the model does not cover {CNP_OUT}[0]: {FQDN_WHY}",),
        id="s17: an allow the model cannot tell gives its own peer's reason, not another "
        "policy's",
    ),
    pytest.param(
        cluster(be_ingress({"fromEndpoints": [FE],
                            "toPorts": [{"ports": [{"port": "80"}, {"port": "443"}]}]})),
        "ingress", BACKEND, FRONTEND, Flow(8080), DROPPED,
        (f"{IN}default deny (selected by CNP demo/p spec); no rule allows "
         "{k8s:app=frontend, k8s:io.cilium.k8s.namespace.labels.team=a, "
         "k8s:io.cilium.k8s.policy.cluster=c1, k8s:io.cilium.k8s.policy.serviceaccount=default, "
         "k8s:io.kubernetes.pod.namespace=demo} on 8080/TCP",
         f"{IN}allow rule {CNP_IN}[0] does not apply: port 8080/TCP is not among its ports "
         "(80/ANY, 443/ANY)"),
        id="s5: a port outside the entry's list names every port of it, joined by ', '",
    ),
    pytest.param(
        cluster(be_ingress({"fromEndpoints": [{"matchLabels": {"app": "a"}}]})),
        "ingress", BACKEND, pod("b", namespace="other"), Flow(8080), DROPPED,
        (f"{IN}default deny (selected by CNP demo/p spec); no rule allows "
         "{k8s:app=b, k8s:io.cilium.k8s.namespace.labels.team=a, "
         "k8s:io.cilium.k8s.policy.cluster=c1, k8s:io.cilium.k8s.policy.serviceaccount=default, "
         "k8s:io.kubernetes.pod.namespace=other} on 8080/TCP",
         f"{IN}allow rule {CNP_IN}[0] does not apply: endpoints {{any:app=a, "
         "k8s:io.cilium.k8s.policy.cluster=c1, k8s:io.kubernetes.pod.namespace=demo}: any:app=a "
         "does not hold for the peer, limited to the policy's namespace demo (the peer is in "
         "other)"),
        id="s1: a CNP peer is limited to the policy's namespace; every term it misses is named",
    ),
]
# fmt: on


@pytest.mark.parametrize(
    ("policy", "direction", "local", "peer", "flow", "expected", "reasons"),
    [*MORE_EXPLANATIONS, *PINNED_EXPLANATIONS],
)
def test_more_whole_explanations(
    policy: ClusterPolicy,
    direction: Direction,
    local: Identity,
    peer: Identity,
    flow: Flow,
    expected: Outcome,
    reasons: tuple[str, ...],
) -> None:
    test_whole_explanations(policy, direction, local, peer, flow, expected, reasons)


def test_an_unsure_deny_gives_its_own_peers_reason() -> None:
    """s17, s13: a deny the model cannot tell leaves the verdict unknown with that deny's own
    peer as the reason, not the peer of another policy that selects nobody here."""
    policy = cluster(
        cnp({"endpointSelector": NOBODY,
             "egress": [{"toFQDNs": [{"matchName": "api.example.com"}]}]}, name="o"),
        cnp({"endpointSelector": FE, "egressDeny": [{"toCIDR": ["203.0.113.0/24"]}]}),
    )  # fmt: skip
    decision = decide_direction(policy, "egress", FRONTEND, NAME_ONLY_NOT_PROXIED, HTTPS)
    assert decision.outcome is UNKNOWN
    headline = f"{OUT}unknown, the model does not cover {CNP_OUT}Deny[0]: {CIDR_WHY}"
    assert decision.reasons[0] == headline
    assert decision.unknowns == (headline,)


# -- verdicts the mutation run of ad2ba3e left unpinned ------------------------------------------

APP_X = {"matchLabels": {"app": "x"}}
APP_Y = {"matchLabels": {"app": "y"}}


def pods_of(selector: Mapping[str, Any]) -> dict[str, Any]:
    return {"pods": {"namespaceSelector": {}, "podSelector": dict(selector)}}


# fmt: off
LEFT_VERDICTS = [
    pytest.param(
        cluster(be_ingress({"fromEndpoints": [FE, APP_X]})),
        "ingress", BACKEND, FRONTEND, Flow(8080), ALLOWED,
        f"{IN}allowed by CNP demo/p spec ingress[0]",
        id="s1: an entry with two peers allows the first peer too, not only the last",
    ),
    pytest.param(
        cluster(kcnp("Admin", 20, "a",
                     egress=[{"action": "Deny", "to": [{"networks": ["10.0.0.0/8"]}]}]),
                kcnp("Admin", 10, "b",
                     egress=[{"action": "Accept", "to": [{"domainNames": ["api.example.com"]}]}])),
        "egress", FRONTEND, NAME_ONLY, HTTPS, ALLOWED,
        f"{OUT}accepted by KCNP b egress[0], Admin tier, priority 10, Accept",
        id="s18: egress rules of a tier go by priority, not load order; the lower priority "
           "number decides first, so an unsure later Deny does not matter",
    ),
    pytest.param(
        cluster(cnp({"endpointSelector": FE, "egressDeny": [{"toCIDR": ["10.0.0.0/8"]}],
                     "egress": [{"toEntities": ["world"]}]}, name="p1"),
                cnp({"endpointSelector": {"matchLabels": {"app": "other"}},
                     "egress": [{"toCIDR": ["20.0.0.0/8"]}]}, name="p2")),
        "egress", FRONTEND, NAME_ONLY_NOT_PROXIED, HTTPS, UNKNOWN,
        f"{OUT}unknown, the model does not cover CNP demo/p1 spec egressDeny[0]: toCIDR "
        "10.0.0.0/8: the external's address is not given, only its name",
        id="s13, s17: every CIDR peer the model cannot tell stays unsure, not only the last one",
    ),
    pytest.param(
        cluster(cnp({"endpointSelector": {}, "ingress": [{}]}), enforcement="never"),
        "ingress", BACKEND, FRONTEND, Flow(8080), ALLOWED,
        f"{IN}enforcement mode never",
        id="s2: enforcement mode never allows and says so",
    ),
    pytest.param(
        cluster(cnp({"endpointSelector": {}, "ingress": [{}]}), audit=True),
        "ingress", BACKEND, FRONTEND, Flow(8080), ALLOWED,
        f"{IN}policy-audit-mode lets it through",
        id="s2: policy-audit-mode lets a default-denied flow through and says so",
    ),
]
# fmt: on


def test_ingress_near_misses_of_a_tier_come_in_priority_order() -> None:
    """s18: the rules of a tier are read by priority, not by name (load order), and the near
    misses say so in that order."""
    policy = cluster(
        kcnp("Admin", 20, "a", ingress=[{"action": "Deny", "from": [pods_of(APP_X)]}]),
        kcnp("Admin", 10, "b", ingress=[{"action": "Deny", "from": [pods_of(APP_Y)]}]),
    )
    decision = decide_direction(policy, "ingress", BACKEND, FRONTEND, Flow(8080))
    assert decision.outcome is ALLOWED
    named = [r for r in decision.reasons if "Admin Deny rule KCNP" in r]
    assert [r.split("KCNP ")[1][0] for r in named] == ["b", "a"], named


# fmt: off
LEFT_LINES = [
    pytest.param(
        cluster(cnp({"endpointSelector": {}, "ingress": [{"fromEndpoints": [APP_X]}]}, name="p1"),
                cnp({"endpointSelector": {}, "ingress": [{}]}, name="p2")),
        "ingress", BACKEND, FRONTEND, Flow(8080), DROPPED,
        f"{IN}default deny (selected by CNP demo/p1 spec, CNP demo/p2 spec); no rule allows "
        "{k8s:app=frontend, k8s:io.cilium.k8s.namespace.labels.team=a, "
        "k8s:io.cilium.k8s.policy.cluster=c1, k8s:io.cilium.k8s.policy.serviceaccount=default, "
        "k8s:io.kubernetes.pod.namespace=demo} on 8080/TCP",
        id="s1: a default deny names every policy that selects the endpoint, joined by ', '",
    ),
    pytest.param(
        cluster(any_kcnp("Admin", 10, name="a",
                         egress=[{"action": "Deny", "to": [pods_of(APP_X)]}],
                         subject={"pods": {"namespaceSelector": {}, "podSelector": BE}})),
        "ingress", BACKEND, FRONTEND, Flow(8080), ALLOWED,
        f"{IN}no policy selects the endpoint",
        id="s18: a ClusterNetworkPolicy with egress rules only does not select for ingress",
    ),
    pytest.param(
        cluster(kcnp("Admin", 10, "a", ingress=[{"action": "Deny", "from": [pods_of(APP_X)]}])),
        "ingress", BACKEND, FRONTEND, Flow(8080), ALLOWED,
        f"{IN}no ClusterNetworkPolicy rule selecting the endpoint matches, and no other policy "
        "selects it",
        id="s18: no tier rule matches and nothing else selects: allowed, and said so",
    ),
    pytest.param(
        cluster(fe_egress({"toEndpoints": [KUBE_DNS],
                           "toPorts": [{"ports": [{"port": "53", "protocol": "UDP"}],
                                        "rules": {"dns": []}}]})),
        "egress", FRONTEND, KUBE_DNS_POD, Flow(53, "UDP", dns_name="x.example.com"), L7,
        f"{OUT}the DNS proxy refuses the query for x.example.com: it matches no DNS rule of "
        f"{CNP_OUT}[0] (none)",
        id="s17: an empty DNS rule list lets no query through and is listed as none",
    ),
]
# fmt: on


@pytest.mark.parametrize(
    ("policy", "direction", "local", "peer", "flow", "expected", "line"),
    [*LEFT_VERDICTS, *LEFT_LINES],
)
def test_left_verdicts(
    policy: ClusterPolicy,
    direction: Direction,
    local: Identity,
    peer: Identity,
    flow: Flow,
    expected: Outcome,
    line: str,
) -> None:
    decision = decide_direction(policy, direction, local, peer, flow)
    assert decision.outcome is expected, decision.reasons
    assert line in decision.reasons, "\n".join(decision.reasons)


# -- the memo bounds: a full memo is cleared before it grows further -------------------------------


def test_a_full_compact_memo_is_cleared_at_its_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """The compact verdicts are cleared once they reach their bound (not one past it), so a
    verdict asked again after that is evaluated again."""
    monkeypatch.setattr(importlib.import_module("pytest_clustermesh.policy.decide"),
                        "_COMPACT_CACHE", 2)  # fmt: skip
    index = cluster(be_ingress({"fromEndpoints": [FE]})).index
    for port in (8080, 80, 81, 8080):
        assert index.outcome("ingress", BACKEND, FRONTEND, Flow(port)) is ALLOWED
    assert index.decisions_computed == 4


def test_a_cached_decision_survives_a_cleared_compact_memo(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A decision asked again comes from the decision cache, even after the compact verdicts
    were cleared: nothing is evaluated again."""
    monkeypatch.setattr(importlib.import_module("pytest_clustermesh.policy.decide"),
                        "_COMPACT_CACHE", 1)  # fmt: skip
    index = cluster(be_ingress({"fromEndpoints": [FE]})).index
    first = index.decide("ingress", BACKEND, FRONTEND, Flow(8080))
    assert index.outcome("ingress", BACKEND, FRONTEND, Flow(80)) is ALLOWED
    assert index.decide("ingress", BACKEND, FRONTEND, Flow(8080)) == first
    assert index.decisions_computed == 2


def test_a_full_decision_cache_is_cleared_at_its_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """The decision cache is cleared once it reaches its bound (not one past it): an earlier
    decision asked again is worked out again."""
    module = importlib.import_module("pytest_clustermesh.policy.decide")
    monkeypatch.setattr(module, "_COMPACT_CACHE", 1)
    monkeypatch.setattr(module, "_DECISION_CACHE", 1)
    index = cluster(be_ingress({"fromEndpoints": [FE]})).index
    for port in (8080, 80, 8080):
        assert index.decide("ingress", BACKEND, FRONTEND, Flow(port)).outcome is ALLOWED
    assert index.decisions_computed == 3
