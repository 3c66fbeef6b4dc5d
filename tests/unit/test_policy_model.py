"""Table-driven tests of the Cilium policy model.

Each row names the Cilium behaviour it pins and where docs/cilium-semantics.md documents it
(section "s n", scenario fact "SF n" or question "Q n"), and runs on every version listed. A
row fails if the model decides otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from pytest_clustermesh.errors import PolicyError
from pytest_clustermesh.verdicts import Outcome

from ..meshworld import ccnp, cnp, knp, mesh, probe, world

ALLOWED, DROPPED, L7, REFUSED = (
    Outcome.ALLOWED,
    Outcome.DROPPED,
    Outcome.L7_DENIED,
    Outcome.REFUSED,
)
UNKNOWN = Outcome.PROBE_ERROR
"""The model cannot tell: a feature it does not cover decides (docs/cilium-semantics.md s13)."""
ALL_VERSIONS = ("1.16", "1.17", "1.18", "1.19", "1.20")

FROM_FE = {"fromEndpoints": [{"matchLabels": {"app": "frontend"}}]}
TO_8080 = {"toPorts": [{"ports": [{"port": "8080", "protocol": "TCP"}]}]}
BE = {"matchLabels": {"app": "backend"}}


@dataclass(frozen=True)
class Row:
    pins: str
    policies: dict[str, list[dict[str, Any]]]
    source: str
    target: str
    expected: Outcome
    port: int = 8080
    versions: tuple[str, ...] = ALL_VERSIONS
    options: dict[str, str] = field(default_factory=dict)
    http: tuple[Any, ...] | None = None
    """(method, path[, host[, headers]]), as HttpRequest takes them."""
    protocol: str = "TCP"


def be_ingress(*rules: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return cnp({"endpointSelector": BE, "ingress": list(rules), **extra})


def fe_egress(*rules: dict[str, Any]) -> dict[str, Any]:
    return cnp({"endpointSelector": {"matchLabels": {"app": "frontend"}}, "egress": list(rules)})


def knp_from(*peers: dict[str, Any]) -> dict[str, Any]:
    return knp({"podSelector": BE, "ingress": [{"from": list(peers)}]})


FE_8080 = be_ingress({**FROM_FE, **TO_8080})
GET_PUBLIC = {
    "toPorts": [
        {"ports": [{"port": "8080"}], "rules": {"http": [{"method": "GET", "path": "/public"}]}}
    ]
}
FE_GET_PUBLIC = be_ingress({**FROM_FE, **GET_PUBLIC})
FE_OF_C2 = be_ingress(
    {
        "fromEndpoints": [
            {"matchLabels": {"app": "frontend", "io.cilium.k8s.policy.cluster": "c2"}}
        ],
        **TO_8080,
    }
)
FE_ANY_CLUSTER = be_ingress(
    {
        "fromEndpoints": [
            {
                "matchLabels": {"app": "frontend"},
                "matchExpressions": [{"key": "io.cilium.k8s.policy.cluster", "operator": "Exists"}],
            }
        ],
        **TO_8080,
    }
)
DENY_FE_8080 = be_ingress({**FROM_FE}, ingressDeny=[{**FROM_FE, **TO_8080}])
ALL_NAMESPACES = knp_from({"namespaceSelector": {}})
FE_LABELS = {"matchLabels": {"app": "frontend"}}
RANGE_8000_8090 = be_ingress(
    {**FROM_FE, "toPorts": [{"ports": [{"port": "8000", "endPort": 8090, "protocol": "TCP"}]}]}
)
METADATA_ONLY = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "isolate", "namespace": "demo"},
}
KNP_FE_OF_C2 = knp_from(
    {"podSelector": {"matchLabels": {"app": "frontend", "io.cilium.k8s.policy.cluster": "c2"}}}
)
BOTH = {"c1": [FE_8080], "c2": [FE_8080]}


def icmps(*fields: dict[str, Any]) -> dict[str, Any]:
    return {"icmps": [{"fields": list(fields)}]}


PING: dict[str, Any] = {"port": 0, "protocol": "ICMP"}
ICMP_DOC = "language.rst 'Limit ICMP/ICMPv6 types'"
L4_DOC = "language.rst 'Limit ingress/egress ports'"
# fmt: off
ICMP_ROWS = [
    Row(f"s16: icmps type 8 (IPv4 by default, pkg/policy/api/icmp.go) admits a ping ({ICMP_DOC})",
        {"c1": [be_ingress({**FROM_FE, **icmps({"type": 8})})]},
        "c1/fe", "c1/be", ALLOWED, **PING),
    Row("s16: type 8.0 is type 8: the CRD's integer type takes a whole float, and the API "
        "server serves it back as 8",
        {"c1": [be_ingress({**FROM_FE, **icmps({"type": 8.0})})]},
        "c1/fe", "c1/be", ALLOWED, **PING),
    Row("s16: the CamelCase name EchoRequest is type 8 (icmpIpv4TypeNameToCode, icmp.go)",
        {"c1": [be_ingress({**FROM_FE, **icmps({"type": "EchoRequest", "family": "IPv4"})})]},
        "c1/fe", "c1/be", ALLOWED, **PING),
    Row("s16: ... and so is Echo (icmpIpv4TypeNameToCode, icmp.go)",
        {"c1": [be_ingress({**FROM_FE, **icmps({"type": "Echo"})})]},
        "c1/fe", "c1/be", ALLOWED, **PING),
    Row("s16: icmps that lists another type (EchoReply, 0) does not admit a ping (icmp.go)",
        {"c1": [be_ingress({**FROM_FE, **icmps({"type": "EchoReply"})})]},
        "c1/fe", "c1/be", DROPPED, **PING),
    Row("s16: icmps of family IPv6 (EchoRequest is 128 there) does not admit an IPv4 ping "
        "(ICMPField.PortProtocol, icmp.go: IPv6 maps to ICMPv6)",
        {"c1": [be_ingress({**FROM_FE, **icmps({"type": "EchoRequest", "family": "IPv6"})})]},
        "c1/fe", "c1/be", DROPPED, **PING),
    Row("s16: icmps admits the type from the peers of its entry only",
        {"c1": [be_ingress({**FROM_FE, **icmps({"type": 8})})]},
        "c1/tester", "c1/be", DROPPED, **PING),
    Row(f"s16: an L3-only entry admits every protocol, ICMP included ({L4_DOC})",
        {"c1": [be_ingress(FROM_FE)]}, "c1/fe", "c1/be", ALLOWED, **PING),
    Row("s16: an empty icmps restricts nothing, like an empty toPorts: the entry is L3-only "
        "(mergeIngress, pkg/policy/rule.go: toPorts.Len() == 0 && icmp.Len() == 0)",
        {"c1": [be_ingress({**FROM_FE, "icmps": []})]}, "c1/fe", "c1/be", ALLOWED, **PING),
    Row("s16: ... so it admits TCP too",
        {"c1": [be_ingress({**FROM_FE, "icmps": []})]}, "c1/fe", "c1/be", ALLOWED),
    Row("s16: an icmps entry without fields lists no type: it admits neither a ping "
        "(rule.go: icmp.Len() is 1, so the entry is not L3-only, and it yields no type) ...",
        {"c1": [be_ingress({**FROM_FE, "icmps": [{}]})]}, "c1/fe", "c1/be", DROPPED, **PING),
    Row("s16: ... nor TCP",
        {"c1": [be_ingress({**FROM_FE, "icmps": [{}]})]}, "c1/fe", "c1/be", DROPPED),
    Row(f"s16: an entry with toPorts only does not admit ICMP: once an L4 rule applies, ICMP is "
        f"blocked ({L4_DOC}; cilium#14609)",
        {"c1": [FE_8080]}, "c1/fe", "c1/be", DROPPED, **PING),
    Row(f"s16: ... not even with protocol ANY, which means TCP, UDP and SCTP ({L4_DOC})",
        {"c1": [be_ingress({**FROM_FE, "toPorts": [{"ports": [{"port": "0"}]}]})]},
        "c1/fe", "c1/be", DROPPED, **PING),
    Row("s16: a toPorts-only entry (wildcard L3, SF7) admits no ping from anyone",
        {"c1": [be_ingress(TO_8080)]}, "c2/fe-other", "c1/be", DROPPED, **PING),
    Row("s16: two entries, toPorts and icmps, admit both (icmps may not share an entry with "
        "toPorts, rule_validation.go)",
        {"c1": [be_ingress({**FROM_FE, **TO_8080}, {**FROM_FE, **icmps({"type": 8})})]},
        "c1/fe", "c1/be", ALLOWED, **PING),
    Row("s16: egress icmps admits a ping out (language.rst: icmps at ingress and egress)",
        {"c1": [fe_egress({"toEndpoints": [BE], **icmps({"type": 8})})]},
        "c1/fe", "c1/be", ALLOWED, **PING),
    Row("s16: egress toPorts only blocks a ping at the source",
        {"c1": [fe_egress({"toEndpoints": [BE], **TO_8080})]},
        "c1/fe", "c1/be", DROPPED, **PING),
    Row("s16, SF8: an ingressDeny with icmps type 8 drops a ping an L3 allow admits "
        "(deny.rst: deny wins; IngressDenyRule has icmps)",
        {"c1": [be_ingress(FROM_FE, ingressDeny=[{**FROM_FE, **icmps({"type": 8})}])]},
        "c1/fe", "c1/be", DROPPED, **PING),
    Row("s16, SF8: ... and leaves TCP alone",
        {"c1": [be_ingress(FROM_FE, ingressDeny=[{**FROM_FE, **icmps({"type": 8})}])]},
        "c1/fe", "c1/be", ALLOWED),
    Row("s16, SF8: an L3-only ingressDeny drops ICMP too (SF8: ping allowed only when the deny "
        "lists ports)",
        {"c1": [be_ingress(FROM_FE, ingressDeny=[FROM_FE])]},
        "c1/fe", "c1/be", DROPPED, **PING),
    Row("s16, SF8: a deny with toPorts only leaves a ping allowed (SF8)",
        {"c1": [DENY_FE_8080]}, "c1/fe", "c1/be", ALLOWED, **PING),
    Row("s16: an egressDeny with icmps type EchoRequest drops the ping at the source",
        {"c1": [fe_egress({"toEntities": ["all"]}),
                cnp({"endpointSelector": FE_LABELS, "egressDeny": [
                    {"toEndpoints": [BE], **icmps({"type": "EchoRequest"})}]}, name="d")]},
        "c1/fe", "c1/be", DROPPED, **PING),
    Row("s16, s6: a KNP peer without ports admits every protocol, ICMP included "
        "(pkg/k8s/network_policy.go: no ports, no L4 filter)",
        {"c1": [knp_from({"podSelector": FE_LABELS})]}, "c1/fe", "c1/be", ALLOWED, **PING),
    Row("s16, s6: a KNP with ports (TCP, UDP or SCTP only, networking/v1) admits no ping",
        {"c1": [knp({"podSelector": BE, "ingress": [{"from": [{"podSelector": FE_LABELS}],
                                                     "ports": [{"port": 8080}]}]})]},
        "c1/fe", "c1/be", DROPPED, **PING),
    Row("s16, s6: KNP ingress [{}] allows everything, pings included (SF6)",
        {"c1": [knp({"podSelector": BE, "ingress": [{}]})]}, "c2/tester", "c1/be", ALLOWED,
        **PING),
    Row("s16, s13: a named port that stands for several numbers does not make a ping unknown",
        {"c1": [fe_egress({"toEndpoints": [BE], "toPorts": [{"ports": [{"port": "http"}]}]})]},
        "c1/fe", "c1/be", DROPPED, **PING),
    Row("s16, s3: with no policy a ping passes (no default deny)",
        {}, "c1/fe", "c1/be", ALLOWED, **PING),
    Row("s16, SF1: a ping from another cluster follows the same scoping as TCP (1.19+)",
        {"c1": [be_ingress(FROM_FE)]}, "c2/fe", "c1/be", DROPPED, **PING,
        versions=("1.19", "1.20")),
]
# fmt: on

# fmt: off
ROWS = [
    # -- scenario facts of docs/cilium-semantics.md -------------------------------------------
    Row("SF1: fromEndpoints matches remote pods before 1.19 (option absent or off)",
        BOTH, "c2/fe", "c1/be", ALLOWED, versions=("1.16", "1.17", "1.18")),
    Row("SF1: from 1.19 policy-default-local-cluster is on: remote pods no longer match",
        BOTH, "c2/fe", "c1/be", DROPPED, versions=("1.19", "1.20")),
    Row("SF1: 1.19 with policy-default-local-cluster=false keeps the old behaviour",
        {"c1": [FE_8080]}, "c2/fe", "c1/be", ALLOWED,
        versions=("1.19", "1.20"), options={"policy-default-local-cluster": "false"}),
    Row("SF1: 1.18 with policy-default-local-cluster=true restricts to the local cluster",
        {"c1": [FE_8080]}, "c2/fe", "c1/be", DROPPED,
        versions=("1.18",), options={"policy-default-local-cluster": "true"}),
    Row("SF2: naming the cluster in the selector admits that cluster in every version",
        {"c1": [FE_OF_C2]}, "c2/fe", "c1/be", ALLOWED),
    Row("SF2: ... and excludes the local cluster",
        {"c1": [FE_OF_C2]}, "c1/fe", "c1/be", DROPPED),
    Row("SF2: cluster Exists admits every cluster even with the option on",
        {"c1": [FE_ANY_CLUSTER]}, "c2/fe", "c1/be", ALLOWED, versions=("1.19", "1.20")),
    Row("SF3: a CNP peer without namespace means the policy's namespace, in every cluster",
        {"c1": [FE_8080]}, "c1/fe-other", "c1/be", DROPPED),
    Row("SF4: toEntities cluster covers local pods",
        {"c1": [fe_egress({"toEntities": ["cluster"]})]}, "c1/fe", "c1/be", ALLOWED),
    Row("SF4: toEntities cluster excludes pods of other clusters (egress drop)",
        {"c1": [fe_egress({"toEntities": ["cluster"]})]}, "c1/fe", "c2/be", DROPPED),
    Row("SF5: toEntities cluster-mesh reaches other clusters on 1.20",
        {"c1": [fe_egress({"toEntities": ["cluster-mesh"]})]}, "c1/fe", "c2/be", ALLOWED,
        versions=("1.20",)),
    Row("SF5: toEntities all reaches everything",
        {"c1": [fe_egress({"toEntities": ["all"]})]}, "c1/fe", "c2/be", ALLOWED),
    Row("SF6: CNP ingress [{}] is default deny with nothing allowed",
        {"c1": [be_ingress({})]}, "c1/fe", "c1/be", DROPPED),
    Row("SF6: KNP ingress [{}] allows everything, other clusters included",
        {"c1": [knp({"podSelector": BE, "ingress": [{}]})]}, "c2/tester", "c1/be", ALLOWED),
    Row("SF7: a toPorts-only rule is wildcard L3 on that port, any cluster",
        {"c1": [be_ingress(TO_8080)]}, "c2/fe-other", "c1/be", ALLOWED),
    Row("SF7: ... and other ports stay denied",
        {"c1": [be_ingress(TO_8080)]}, "c2/fe-other", "c1/be", DROPPED, port=80),
    Row("SF8: an ingressDeny wins over the allow on its port",
        {"c1": [DENY_FE_8080]}, "c1/fe", "c1/be", DROPPED),
    Row("SF8: ... other ports stay allowed",
        {"c1": [DENY_FE_8080]}, "c1/fe", "c1/be", ALLOWED, port=80),
    Row("SF8: deny wins across policies: a KNP allow cannot beat a CCNP deny",
        {"c1": [knp({"podSelector": BE, "ingress": [{}]}),
                ccnp({"endpointSelector": BE, "ingressDeny": [{"fromEntities": ["all"]}]})]},
        "c1/fe", "c1/be", DROPPED),
    Row("SF9: enableDefaultDeny.ingress false: unlisted peers stay allowed (1.16+)",
        {"c1": [be_ingress({**FROM_FE}, enableDefaultDeny={"ingress": False})]},
        "c1/tester", "c1/be", ALLOWED),
    Row("SF10: L7 GET /public allowed",
        {"c1": [FE_GET_PUBLIC]}, "c1/fe", "c1/be", ALLOWED, http=("GET", "/public")),
    Row("SF10: L7 GET /private answered 403",
        {"c1": [FE_GET_PUBLIC]}, "c1/fe", "c1/be", L7, http=("GET", "/private")),
    Row("SF10: a peer not allowed at L3 is dropped, not 403",
        {"c1": [FE_GET_PUBLIC]}, "c1/tester", "c1/be", DROPPED, http=("GET", "/private")),
    Row("SF14: KNP namespaceSelector {} admits other clusters up to 1.18",
        {"c1": [ALL_NAMESPACES]}, "c2/fe-other", "c1/be", ALLOWED,
        versions=("1.16", "1.17", "1.18")),
    Row("SF14: ... and only the local cluster from 1.19",
        {"c1": [ALL_NAMESPACES]}, "c2/fe-other", "c1/be", DROPPED, versions=("1.19", "1.20")),
    Row("s6: a KNP podSelector naming a remote cluster matches it, local scoping on or off "
        "(isPodSelectorSelectingCluster, pkg/k8s/network_policy.go)",
        {"c1": [KNP_FE_OF_C2]}, "c2/fe", "c1/be", ALLOWED),
    Row("s6: ... with policy-default-local-cluster on in 1.18",
        {"c1": [KNP_FE_OF_C2]}, "c2/fe", "c1/be", ALLOWED, versions=("1.18",),
        options={"policy-default-local-cluster": "true"}),
    Row("s6: ... and only that cluster: the local frontend is not admitted",
        {"c1": [KNP_FE_OF_C2]}, "c1/fe", "c1/be", DROPPED),
    Row("s6: a KNP with egress: [] and no policyTypes leaves egress open "
        "(SetDefaults_NetworkPolicy, kubernetes pkg/apis/networking/v1/defaults.go)",
        {"c1": [knp({"podSelector": FE_LABELS, "egress": []})]}, "c1/fe", "c1/be", ALLOWED),
    Row("s6: policyTypes: [] is defaulted like an absent one, to [Ingress]: no ingress rule "
        "then denies all ingress",
        {"c1": [knp({"podSelector": BE, "policyTypes": [], "egress": []})]},
        "c1/fe", "c1/be", DROPPED),
    Row("s6: a NetworkPolicy of nothing but metadata isolates every pod of its namespace: spec "
        "and podSelector decode to empty, and ValidateNetworkPolicySpec (kubernetes "
        "pkg/apis/networking/validation) requires neither",
        {"c1": [METADATA_ONLY]}, "c1/fe", "c1/be", DROPPED),
    Row("s6: ... and, Ingress being the defaulted policy type, leaves their egress open",
        {"c1": [METADATA_ONLY]}, "c1/be", "c2/be", ALLOWED),
    Row("s6: a NetworkPolicy without podSelector selects every pod of its namespace",
        {"c1": [knp({"ingress": [{"from": [{"podSelector": FE_LABELS}]}]})]},
        "c1/tester", "c1/be", DROPPED),
    Row("s6: ... and admits what its rules allow",
        {"c1": [knp({"ingress": [{"from": [{"podSelector": FE_LABELS}]}]})]},
        "c1/fe", "c1/be", ALLOWED),
    Row("s6: ... while a non-empty egress list adds Egress: only what it allows gets out",
        {"c1": [knp({"podSelector": FE_LABELS, "egress": [{"to": [{"podSelector": {
            "matchLabels": {"app": "test"}}}]}]})]}, "c1/fe", "c1/be", DROPPED),
    Row("SF15: namespace labels cross namespaces in a CNP since 1.16",
        {"c1": [be_ingress({"fromEndpoints": [{"matchLabels": {
            "io.cilium.k8s.namespace.labels.team": "b"}}]})]},
        "c1/fe-other", "c1/be", ALLOWED),
    # -- section rules -------------------------------------------------------------------------
    Row("s8: a policy acts only in the cluster where it is applied",
        {"c1": [be_ingress({})]}, "c1/fe", "c2/be", ALLOWED),
    Row("s8: cross-cluster traffic needs the source cluster's egress allow too",
        {"c1": [fe_egress({"toEndpoints": [{"matchLabels": {"app": "echo"}}]})]},
        "c1/fe", "c2/be", DROPPED),
    Row("s3: enforcement mode always denies endpoints no policy selects",
        {}, "c1/fe", "c1/be", DROPPED, options={"enable-policy": "always"}),
    Row("s3: enforcement mode never ignores policies",
        {"c1": [be_ingress({})]}, "c1/fe", "c1/be", ALLOWED, options={"enable-policy": "never"}),
    Row("s3: audit mode lets would-be drops through",
        {"c1": [be_ingress({})]}, "c1/fe", "c1/be", ALLOWED,
        options={"policy-audit-mode": "true"}),
    Row("Q8: audit mode still answers an L7 violation with 403",
        {"c1": [FE_GET_PUBLIC]}, "c1/fe", "c1/be", L7, http=("GET", "/private"),
        options={"policy-audit-mode": "true"}),
    Row("Q1: an ingressDeny-only rule puts the endpoint into default deny",
        {"c1": [be_ingress(ingressDeny=[{"fromEntities": ["world"]}])]},
        "c1/fe", "c1/be", DROPPED),
    Row("Q4: an L4-only allow on the same port admits every HTTP request",
        {"c1": [be_ingress({**FROM_FE, **TO_8080}, {**FROM_FE, "toPorts": [{"ports": [
            {"port": "8080"}], "rules": {"http": [{"path": "/public"}]}}]})]},
        "c1/fe", "c1/be", ALLOWED, http=("GET", "/private")),
    Row("Q4: an L4-only toPorts item in the same entry opens the port to every request",
        {"c1": [be_ingress({**FROM_FE, "toPorts": [
            {"ports": [{"port": "8080"}], "rules": {"http": [{"path": "/a"}]}},
            {"ports": [{"port": "8080"}]}]})]},
        "c1/fe", "c1/be", ALLOWED, http=("GET", "/b")),
    Row("Q4: HTTP rules of several toPorts items of one entry are merged",
        {"c1": [be_ingress({**FROM_FE, "toPorts": [
            {"ports": [{"port": "8080"}], "rules": {"http": [{"path": "/a"}]}},
            {"ports": [{"port": "8080"}], "rules": {"http": [{"path": "/b"}]}}]})]},
        "c1/fe", "c1/be", ALLOWED, http=("GET", "/b")),
    Row("Q3: HTTP paths match whole, not as a substring",
        {"c1": [be_ingress({**FROM_FE, "toPorts": [{"ports": [{"port": "8080"}],
            "rules": {"http": [{"path": "/pub"}]}}]})]},
        "c1/fe", "c1/be", L7, http=("GET", "/public")),
    Row("s5: endPort ranges cover the whole range",
        {"c1": [be_ingress({**FROM_FE, "toPorts": [{"ports": [
            {"port": "8000", "endPort": 8090, "protocol": "TCP"}]}]})]},
        "c1/fe", "c1/be", ALLOWED),
    Row("s5: endPort is inclusive: the range's last port is allowed (nothing listens there)",
        {"c1": [RANGE_8000_8090]}, "c1/fe", "c1/be", REFUSED, port=8090),
    Row("s5: ... and the port after it is not",
        {"c1": [RANGE_8000_8090]}, "c1/fe", "c1/be", DROPPED, port=8091),
    Row("s5: a Cilium port without protocol means ANY: it admits UDP",
        {"c1": [be_ingress({**FROM_FE, "toPorts": [{"ports": [{"port": "8080"}]}]})]},
        "c1/fe", "c1/be", REFUSED, protocol="UDP"),
    Row("s5: ... and SCTP",
        {"c1": [be_ingress({**FROM_FE, "toPorts": [{"ports": [{"port": "8080"}]}]})]},
        "c1/fe", "c1/be", REFUSED, protocol="SCTP"),
    Row("s5: a port allowed for TCP only does not admit UDP",
        {"c1": [FE_8080]}, "c1/fe", "c1/be", DROPPED, protocol="UDP"),
    Row("s1: a CNP endpointSelector naming another namespace stays in the policy's own "
        "(the agent removes the illegal namespace match)",
        {"c1": [cnp({"endpointSelector": {"matchLabels": {
            "app": "backend", "io.kubernetes.pod.namespace": "other"}}, "ingress": [FROM_FE]})]},
        "c1/tester", "c1/be", DROPPED),
    Row("s3: a direction left out of enableDefaultDeny stays default deny (SF9)",
        {"c1": [be_ingress({**FROM_FE}, enableDefaultDeny={"egress": False})]},
        "c1/tester", "c1/be", DROPPED, versions=("1.16", "1.17", "1.18", "1.19", "1.20")),
    Row("s8, SF10: a drop at the source's egress wins over an L7 rule at the destination",
        {"c1": [FE_GET_PUBLIC, fe_egress({"toEndpoints": [{"matchLabels": {"app": "test"}}]})]},
        "c1/fe", "c1/be", DROPPED, http=("GET", "/private")),
    Row("s5: a port allowed for UDP only does not admit TCP",
        {"c1": [be_ingress({**FROM_FE, "toPorts": [{"ports": [
            {"port": "8080", "protocol": "UDP"}]}]})]},
        "c1/fe", "c1/be", DROPPED),
    Row("s4: CIDR rules never match pods",
        {"c1": [be_ingress({"fromCIDR": ["0.0.0.0/0"]})]}, "c1/fe", "c1/be", DROPPED),
    Row("s1: a CCNP peer without namespace matches every namespace",
        {"c1": [ccnp({"endpointSelector": BE, "ingress": [FROM_FE]})]},
        "c1/fe-other", "c1/be", ALLOWED),
    Row("s8: an allowed port where nothing listens is refused, not dropped",
        {}, "c1/fe", "c1/be", REFUSED, port=9999),
    # -- s13: what the model does not cover is unknown, never a guess and never a refusal
    Row("s5: a named port admits the destination pod's container port of that name",
        {"c1": [be_ingress({**FROM_FE, "toPorts": [{"ports": [{"port": "http"}]}]})]},
        "c1/fe", "c1/be", ALLOWED),
    Row("s5: ... and no other port of the pod",
        {"c1": [be_ingress({**FROM_FE, "toPorts": [{"ports": [{"port": "http"}]}]})]},
        "c1/fe", "c1/be", DROPPED, port=80),
    Row("s5, s6: a named port in a KNP resolves the same way",
        {"c1": [knp({"podSelector": BE, "ingress": [{"from": [{"podSelector": {
            "matchLabels": {"app": "frontend"}}}], "ports": [{"port": "web"}]}]})]},
        "c1/fe", "c1/be", ALLOWED, port=80),
    Row("s5: a named port admits the name's protocol only",
        {"c1": [be_ingress({**FROM_FE, "toPorts": [{"ports": [
            {"port": "http", "protocol": "UDP"}]}]})]},
        "c1/fe", "c1/be", DROPPED),
    Row("s5: a deny on a named port drops that port",
        {"c1": [be_ingress({"fromEntities": ["all"]}, ingressDeny=[
            {**FROM_FE, "toPorts": [{"ports": [{"port": "http"}]}]}])]},
        "c1/fe", "c1/be", DROPPED),
    Row("s5: ... and leaves the pod's other ports",
        {"c1": [be_ingress({"fromEntities": ["all"]}, ingressDeny=[
            {**FROM_FE, "toPorts": [{"ports": [{"port": "http"}]}]}])]},
        "c1/fe", "c1/be", ALLOWED, port=80),
    Row("s5: from 1.20 an egress named port resolves per destination (cilium#44429)",
        {"c1": [fe_egress({"toEndpoints": [BE], "toPorts": [{"ports": [{"port": "http"}]}]})]},
        "c1/fe", "c1/be", ALLOWED, versions=("1.20",)),
    Row("s5, s13: before 1.20 an egress named port that stands for several numbers in the "
        "mesh is unknown (resolved per node, cilium#24779)",
        {"c1": [fe_egress({"toEndpoints": [BE], "toPorts": [{"ports": [{"port": "http"}]}]})]},
        "c1/fe", "c1/be", UNKNOWN, versions=("1.16", "1.17", "1.18", "1.19")),
    Row("s5: ... one that stands for one number resolves on every version",
        {"c1": [fe_egress({"toEndpoints": [BE], "toPorts": [{"ports": [{"port": "web"}]}]})]},
        "c1/fe", "c1/be", ALLOWED, port=80),
    Row("s5: a peer the named-port rule does not select is still denied by default",
        {"c1": [be_ingress({**FROM_FE, "toPorts": [{"ports": [{"port": "http"}]}]})]},
        "c1/tester", "c1/be", DROPPED),
    Row("s5: an HTTP header rule admits a request carrying the header with that exact value",
        {"c1": [be_ingress({**FROM_FE, "toPorts": [{"ports": [{"port": "8080"}], "rules": {
            "http": [{"method": "GET", "headers": ["X-Token: 1"]}]}}]})]},
        "c1/fe", "c1/be", ALLOWED, http=("GET", "/", None, (("x-token", "1"),))),
    Row("s5: ... and answers 403 to one with another value",
        {"c1": [be_ingress({**FROM_FE, "toPorts": [{"ports": [{"port": "8080"}], "rules": {
            "http": [{"method": "GET", "headers": ["X-Token: 1"]}]}}]})]},
        "c1/fe", "c1/be", L7, http=("GET", "/", None, (("X-Token", "2"),))),
    Row("s5: ... or without it",
        {"c1": [be_ingress({**FROM_FE, "toPorts": [{"ports": [{"port": "8080"}], "rules": {
            "http": [{"method": "GET", "headers": ["X-Token: 1"]}]}}]})]},
        "c1/fe", "c1/be", L7, http=("GET", "/")),
    Row("s5: a header named without a value only needs to be present",
        {"c1": [be_ingress({**FROM_FE, "toPorts": [{"ports": [{"port": "8080"}], "rules": {
            "http": [{"headers": ["X-Token"]}]}}]})]},
        "c1/fe", "c1/be", ALLOWED, http=("GET", "/", None, (("X-Token", "anything"),))),
    Row("s5, Q3: an HTTP host rule matches the Host header whole, as a regular expression",
        {"c1": [be_ingress({**FROM_FE, "toPorts": [{"ports": [{"port": "8080"}], "rules": {
            "http": [{"host": "api\\.example\\.com"}]}}]})]},
        "c1/fe", "c1/be", ALLOWED, http=("GET", "/", "api.example.com")),
    Row("s5: ... and answers 403 to another host",
        {"c1": [be_ingress({**FROM_FE, "toPorts": [{"ports": [{"port": "8080"}], "rules": {
            "http": [{"host": "api\\.example\\.com"}]}}]})]},
        "c1/fe", "c1/be", L7, http=("GET", "/", "api.example.com.evil")),
    Row("s13: a host rule is unknown for a probe that leaves Host to curl (the target's address)",
        {"c1": [be_ingress({**FROM_FE, "toPorts": [{"ports": [{"port": "8080"}], "rules": {
            "http": [{"host": "api\\.example\\.com"}]}}]})]},
        "c1/fe", "c1/be", UNKNOWN, http=("GET", "/")),
    Row("s13: headerMatches (mismatch actions, secrets) decide: unknown",
        {"c1": [be_ingress({**FROM_FE, "toPorts": [{"ports": [{"port": "8080"}], "rules": {
            "http": [{"headerMatches": [{"name": "X-Token", "value": "1"}]}]}}]})]},
        "c1/fe", "c1/be", UNKNOWN, http=("GET", "/")),
    Row("s13: ... an HTTP rule the model covers that matches admits the request (rules add up)",
        {"c1": [be_ingress({**FROM_FE, "toPorts": [{"ports": [{"port": "8080"}], "rules": {
            "http": [{"headerMatches": [{"name": "X-Token", "value": "1"}]},
                     {"path": "/public"}]}}]})]},
        "c1/fe", "c1/be", ALLOWED, http=("GET", "/public")),
    Row("s13, Q4: ... and an L4-only allow of the same port admits every request",
        {"c1": [be_ingress({**FROM_FE, **TO_8080}, {**FROM_FE, "toPorts": [{"ports": [
            {"port": "8080"}], "rules": {"http": [{"headerMatches": [{"name": "a"}]}]}}]})]},
        "c1/fe", "c1/be", ALLOWED),
    Row("s13: Kafka rules decide: unknown",
        {"c1": [be_ingress({**FROM_FE, "toPorts": [{"ports": [{"port": "8080"}], "rules": {
            "kafka": [{"topic": "t"}]}}]})]},
        "c1/fe", "c1/be", UNKNOWN),
    Row("s13, s5: a DNS rule on port 53 leaves a probe to another port to default deny",
        {"c1": [fe_egress({"toEndpoints": [{}], "toPorts": [{"ports": [
            {"port": "53", "protocol": "UDP"}], "rules": {"dns": [{"matchPattern": "*"}]}}]})]},
        "c1/fe", "c1/be", DROPPED),
    Row("s13: ... and makes a DNS probe to port 53 unknown",
        {"c1": [fe_egress({"toEndpoints": [{}], "toPorts": [{"ports": [
            {"port": "53", "protocol": "UDP"}], "rules": {"dns": [{"matchPattern": "*"}]}}]})]},
        "c1/fe", "c1/be", UNKNOWN, port=53, protocol="UDP"),
    Row("s13: fromRequires makes every ingress verdict of the endpoints it selects unknown",
        {"c1": [be_ingress({"fromRequires": [{"matchLabels": {"env": "prod"}}]}, FROM_FE)]},
        "c1/fe", "c1/be", UNKNOWN),
    Row("s13: ... but not of endpoints it does not select",
        {"c1": [be_ingress({"fromRequires": [{"matchLabels": {"env": "prod"}}]}, FROM_FE)]},
        "c1/fe", "c1/tester", REFUSED),
    Row("s13, SF8: a deny the model covers settles a verdict an unknown rule touches",
        {"c1": [be_ingress({**FROM_FE, "toPorts": [{"ports": [{"port": "http"}]}]},
                           ingressDeny=[FROM_FE])]},
        "c1/fe", "c1/be", DROPPED),
    Row("s13, s8: a drop at the source's egress settles an unknown ingress",
        {"c1": [be_ingress({**FROM_FE, "toPorts": [{"ports": [{"port": "http"}]}]}),
                fe_egress({"toEndpoints": [{"matchLabels": {"app": "test"}}]})]},
        "c1/fe", "c1/be", DROPPED),
    Row("s13, s5: an entry with icmps only admits no TCP (rule_validation.go: ICMP is its L4)",
        {"c1": [be_ingress({**FROM_FE, "icmps": [{"fields": [{"type": 8}]}]})]},
        "c1/fe", "c1/be", DROPPED),
    # -- s16: ICMP echo requests (pings); probes with protocol ICMP have port 0 ----------------
    *ICMP_ROWS,
]
# fmt: on


@pytest.mark.parametrize(
    ("row", "version"),
    [pytest.param(row, v, id=f"{row.pins} [{v}]") for row in ROWS for v in row.versions],
)
def test_policy_semantics(row: Row, version: str) -> None:
    sim, deployment = mesh(version, row.options, row.policies)
    result = probe(
        sim, deployment, row.source, row.target, row.port, protocol=row.protocol, http=row.http
    )
    assert result.outcome is row.expected, "\n".join(result.explanation)


def test_explanation_names_the_deciding_rule() -> None:
    sim, deployment = mesh("1.19", policies={"c1": [be_ingress({**FROM_FE, **TO_8080})]})
    result = probe(sim, deployment, "c2/fe", "c1/be")
    assert result.outcome is DROPPED
    text = "\n".join(result.explanation)
    assert "ingress at c1: default deny (selected by CNP demo/p spec)" in text
    assert "k8s:io.cilium.k8s.policy.cluster=c2" in text


@pytest.mark.parametrize(
    ("spec", "version", "message"),
    [
        (
            {"endpointSelector": BE, "egress": [{"toEntities": ["cluster-mesh"]}]},
            "1.19",
            "entity 'cluster-mesh' needs Cilium 1.20",
        ),
        ({"endpointSelector": BE}, "1.17", "rule must have at least one of"),
        (
            {"endpointSelector": BE, "ingress": [{"fromEndpoint": []}]},
            "1.19",
            "unknown field 'fromEndpoint'",
        ),
        (
            {
                "endpointSelector": BE,
                "ingressDeny": [
                    {**FROM_FE, "toPorts": [{"ports": [{"port": "80"}], "rules": {"http": [{}]}}]}
                ],
            },
            "1.19",
            "deny rules do not support L7",
        ),
        (
            {"endpointSelector": BE, "ingress": [FROM_FE], "enableDefaultDeny": {"ingress": False}},
            "1.15",
            "enableDefaultDeny needs Cilium 1.16",
        ),
    ],
    ids=["cluster-mesh-before-1.20", "no-sections-1.17", "typo", "l7-in-deny", "edd-1.15"],
)
def test_policies_a_version_rejects_are_errors(
    spec: dict[str, Any], version: str, message: str
) -> None:
    with pytest.raises(PolicyError, match="rejects CiliumNetworkPolicy demo/p") as info:
        mesh(version, policies={"c1": [cnp(spec)]})
    assert message in str(info.value)


def test_a_rule_without_sections_is_accepted_before_1_17_and_does_nothing() -> None:
    sim, deployment = mesh("1.16", policies={"c1": [cnp({"endpointSelector": BE})]})
    assert probe(sim, deployment, "c1/tester", "c1/be").outcome is ALLOWED


# -- global services (s7; SF12, SF13) ----------------------------------------------------------

GLOBAL = {"service.cilium.io/global": "true"}


@pytest.mark.parametrize(
    ("annotations", "replicas", "source", "served"),
    [
        (GLOBAL, {}, "c1/fe", {"c1", "c2"}),
        ({**GLOBAL, "service.cilium.io/affinity": "local"}, {}, "c1/fe", {"c1"}),
        ({**GLOBAL, "service.cilium.io/affinity": "remote"}, {}, "c1/fe", {"c2"}),
        ({**GLOBAL, "service.cilium.io/affinity": "local"}, {"c1": 0}, "c1/fe", {"c2"}),
        ({}, {}, "c1/fe", {"c1"}),
        (
            {"io.cilium/global-service": "true", "io.cilium/service-affinity": "local"},
            {},
            "c2/fe",
            {"c2"},
        ),
    ],
    ids=[
        "global-both",
        "affinity-local",
        "affinity-remote",
        "local-failover",
        "not-global-local-only",
        "old-annotation-names",
    ],
)
def test_global_service_backends(
    annotations: dict[str, str], replicas: dict[str, int], source: str, served: set[str]
) -> None:
    deployment = world(annotations, replicas)
    sim, _ = mesh("1.19", deployment=deployment)
    result = probe(sim, deployment, source, "service/echo", 80)
    assert result.outcome is ALLOWED
    assert result.served_by == served


def test_a_cluster_that_does_not_share_keeps_its_backends_to_itself() -> None:
    """SF12: c1 shared=false: c2 reaches only c2; c1 still reaches both (different annotations
    per cluster are modelled by the owner's annotations, so check the rule directly)."""
    from pytest_clustermesh.policy.services import ServiceView, reachable_clusters

    c1 = ServiceView("c1", {**GLOBAL, "service.cilium.io/shared": "false"}, 1)
    c2 = ServiceView("c2", GLOBAL, 1)
    assert reachable_clusters(c2, [c1])[0] == ["c2"]
    assert reachable_clusters(c1, [c2])[0] == ["c1", "c2"]


def test_a_service_without_backends_is_refused() -> None:
    deployment = world(GLOBAL, {"c1": 0, "c2": 0})
    sim, _ = mesh("1.19", deployment=deployment)
    assert probe(sim, deployment, "c1/fe", "service/echo", 80).outcome is REFUSED


def test_a_load_balancer_choice_that_changes_the_verdict_is_an_error_not_a_verdict() -> None:
    deployment = world(GLOBAL)
    sim, _ = mesh(
        "1.19",
        deployment=deployment,
        policies={
            "c2": [cnp({"endpointSelector": {"matchLabels": {"app": "echo"}}, "ingress": [{}]})]
        },
    )
    result = probe(sim, deployment, "c1/fe", "service/echo", 80)
    assert result.outcome is Outcome.PROBE_ERROR
    assert "depends on which backend" in result.detail


# -- s13: unknown verdicts name the feature; the oracle of a real mesh never gates -------------


def test_an_unknown_verdict_names_the_feature_and_the_rule() -> None:
    kafka = be_ingress({**FROM_FE, "toPorts": [{"ports": [{"port": "8080"}], "rules": {
        "kafka": [{"topic": "t"}]}}]})  # fmt: skip
    sim, deployment = mesh("1.19", policies={"c1": [kafka]})
    result = probe(sim, deployment, "c1/fe", "c1/be")
    assert result.outcome is UNKNOWN
    assert "the model cannot tell" in result.detail
    assert "CNP demo/p spec ingress[0]: Kafka L7 rules" in result.detail
    assert any("ingress at c1: unknown" in line for line in result.explanation)


def test_the_oracle_of_a_real_mesh_keeps_a_policy_it_rejects_as_unknown() -> None:
    """A policy the model rejects (here cluster-mesh on 1.19) stops a simulated run, but the
    oracle beside a real mesh keeps it: the real API server decides, the model says unknown."""
    from pytest_clustermesh.simulated import SimulatedMesh, simulated_facts

    from ..meshworld import doc, world

    rejected = be_ingress({"fromEntities": ["cluster-mesh"]})
    oracle = SimulatedMesh(simulated_facts(("c1", "c2"), "1.19"), advisory=True)
    deployment = world()
    oracle.deploy(deployment)
    oracle.set_policies(deployment, "c1", [doc(rejected)])
    result = probe(oracle, deployment, "c2/fe", "c1/be")
    assert result.outcome is UNKNOWN
    assert "the model rejects it" in result.detail
    assert "cluster-mesh" in result.detail
    # Egress from c1 is as unknown (the policy could select anything); c2's own agent is not.
    assert probe(oracle, deployment, "c2/fe", "c2/be").outcome is ALLOWED
    with pytest.raises(PolicyError):
        mesh("1.19", policies={"c1": [rejected]})


# -- s14: validation as the API server (CRD schema, NetworkPolicy rules) and the agent do it ----

FE_LABELS = {"matchLabels": {"app": "frontend"}}


@pytest.mark.parametrize(
    ("doc", "versions", "message"),
    [
        (be_ingress({**FROM_FE, "toPorts": [{"ports": [{"port": 8080}]}]}),
         ALL_VERSIONS, "expected a string, got a number 8080 (quote it)"),
        (be_ingress({**FROM_FE, "toPorts": [{"ports": [{"port": "8080", "protocol": "tcp"}]}]}),
         ALL_VERSIONS, "not valid: 'tcp' (did you mean 'TCP'?"),
        (be_ingress({"fromCIDR": ["10.0.0.0/33"]}), ALL_VERSIONS, "is not a valid cidr"),
        (be_ingress({"fromCIDRSet": [{"cidr": "10.0.0.1"}]}), ALL_VERSIONS, "is not a valid cidr"),
        (be_ingress({"fromEndpoints": [{"matchLabels": {"app": "front end"}}]}),
         ALL_VERSIONS, "'front end' is not valid here"),
        (fe_egress({"toCIDR": ["10.0.0.0/8"], "toCIDRSet": [{"cidr": "10.1.0.0/16"}]}),
         ALL_VERSIONS, "combining toCIDR and toCIDRSet in one rule is not supported"),
        (be_ingress({**FROM_FE, "fromCIDR": ["10.0.0.0/8"]}),
         ALL_VERSIONS, "combining fromEndpoints and fromCIDR"),
        ({**cnp({"endpointSelector": BE, "ingress": [FROM_FE]}),
          "metadata": {"name": "p", "namespace": "demo", "lables": {"a": "b"}}},
         ALL_VERSIONS, "unknown field 'lables' (did you mean 'labels'?)"),
        ({**cnp({"endpointSelector": BE, "ingress": [FROM_FE]}),
          "metadata": {"name": "p", "namespace": "demo", "labels": {"a": "b c"}}},
         ALL_VERSIONS, "'b c' is not a valid label value"),
        (be_ingress({"fromNodes": [FE_LABELS]}),
         ALL_VERSIONS, "fromNodes needs the agent option enable-node-selector-labels=true"),
        (be_ingress({**FROM_FE, "icmps": [{"fields": [{"type": 8}]}], **TO_8080}),
         ALL_VERSIONS, "the icmps block may only be present without toPorts"),
        (be_ingress({**FROM_FE, "toPorts": [{"ports": [{"port": "53", "protocol": "UDP"}],
                                             "rules": {"dns": [{"matchName": "a.b"}]}}]}),
         ALL_VERSIONS, "DNS rules are not allowed on ingress"),
        (be_ingress({**FROM_FE, "toPorts": [{"ports": [{"port": "1", "protocol": "VRRP"}]}]}),
         ("1.16", "1.17", "1.18"), "protocol 'VRRP' needs Cilium 1.19 or later"),
        (knp({"podSelector": BE, "ingress": [{"ports": [{"port": 80, "protocol": "tcp"}]}]}),
         ALL_VERSIONS, "'tcp' is not one of TCP, UDP, SCTP"),
        (knp({"podSelector": BE, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/40"}}]}]}),
         ALL_VERSIONS, "'10.0.0.0/40' is not a valid CIDR"),
        (knp({"podSelector": {"matchLabels": {"app": "back end"}}, "ingress": [{}]}),
         ALL_VERSIONS, "'back end' is not a valid label value"),
        (knp({"podSelector": BE, "ingress": [{"from": [{"ipBlock": {
            "cidr": "10.0.0.0/8", "except": ["11.0.0.0/16"]}}]}]}),
         ALL_VERSIONS, "must be strictly within 10.0.0.0/8"),
    ],
    ids=[
        "cnp-port-as-integer", "cnp-lower-case-protocol", "cnp-invalid-cidr",
        "cnp-cidr-without-prefix", "cnp-label-value-with-space", "tocidr-with-tocidrset",
        "two-l3-kinds", "unknown-metadata-field", "metadata-label-with-space",
        "fromnodes-without-option", "icmps-with-toports", "dns-on-ingress", "vrrp-before-1.19",
        "knp-lower-case-protocol", "knp-invalid-cidr", "knp-label-value-with-space",
        "knp-except-outside-cidr",
    ],
)  # fmt: skip
def test_what_the_api_server_or_the_agent_rejects_is_an_error(
    doc: dict[str, Any], versions: tuple[str, ...], message: str
) -> None:
    """s14: each check on every version it applies to."""
    for version in versions:
        with pytest.raises(PolicyError) as info:
            mesh(version, policies={"c1": [doc]})
        assert message in str(info.value), version


@pytest.mark.parametrize(
    ("doc", "versions", "source", "expected"),
    [
        (be_ingress({"fromEndpoints": None}), ALL_VERSIONS, "c1/fe", DROPPED),
        (be_ingress({**FROM_FE, "toPorts": [{"ports": [{"port": "1", "protocol": "VRRP"}]}]}),
         ("1.19", "1.20"), "c1/fe", DROPPED),
        (be_ingress({"fromEntities": ["cluster-mesh"]}), ("1.20",), "c2/fe", ALLOWED),
        (cnp({"endpointSelector": BE, "ingress": [FROM_FE]}, name="p"), ALL_VERSIONS, "c1/fe",
         REFUSED),
    ],
    ids=["fromendpoints-null-is-an-entry-with-nothing", "vrrp-from-1.19", "cluster-mesh-1.20",
         "plain"],
)  # fmt: skip
def test_what_the_api_server_accepts_is_modelled(
    doc: dict[str, Any], versions: tuple[str, ...], source: str, expected: Outcome
) -> None:
    """s14: ``fromEndpoints:`` left empty (null) is pruned by the API server: ``ingress: [{}]``,
    default deny with nothing allowed (SF6)."""
    for version in versions:
        sim, deployment = mesh(version, policies={"c1": [doc]})
        port = 8080 if expected is not REFUSED else 9999
        assert probe(sim, deployment, source, "c1/be", port).outcome is expected, version


# -- near misses: every rule selecting the endpoint, and why it did not match (s2, SF17) ---------

ALL_IN = cnp({"endpointSelector": {}, "ingress": [{"fromEntities": ["all"]}]}, name="allow-all-in")
DENY_FE = cnp({"endpointSelector": {}, "ingressDeny": [FROM_FE]}, name="deny-fe")


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_a_deny_scoped_to_the_local_cluster_is_named_with_why(version: str) -> None:
    """SF17: a namespace-wide ingressDeny without a cluster key covers remote pods up to 1.18;
    from 1.19 policy-default-local-cluster scopes it to the local cluster, and the explanation
    says so rather than only naming the allow."""
    sim, deployment = mesh(version, policies={"c1": [ALL_IN, DENY_FE]})
    result = probe(sim, deployment, "c2/fe", "c1/be")
    text = "\n".join(result.explanation)
    if version in ("1.16", "1.17", "1.18"):
        assert result.outcome is DROPPED, text
        assert "denied by CNP demo/deny-fe" in text
        return
    assert result.outcome is ALLOWED, text
    assert (
        "ingress at c1: deny rule CNP demo/deny-fe spec ingressDeny[0] does not apply: "
        "endpoints" in text
    )
    assert (
        f"scoped to the local cluster c1 (policy-default-local-cluster is on in Cilium "
        f"{version}, its default; the peer is in c2)" in text
    )


def test_a_near_miss_says_when_the_option_is_not_the_versions_default() -> None:
    sim, deployment = mesh(
        "1.18", {"policy-default-local-cluster": "true"}, policies={"c1": [FE_8080]}
    )
    text = "\n".join(probe(sim, deployment, "c2/fe", "c1/be").explanation)
    assert "policy-default-local-cluster is on in Cilium 1.18, not its default, off" in text


@pytest.mark.parametrize(
    ("policy", "source", "port", "says"),
    [
        (FE_OF_C2, "c1/fe", 8080, "it names cluster c2 (the peer is in c1)"),
        (FE_8080, "c1/fe-other", 8080,
         "limited to the policy's namespace demo (the peer is in other)"),
        (FE_8080, "c1/fe", 80, "port 80/TCP is not among its ports (8080/TCP)"),
        (FE_8080, "c1/tester", 8080, "any:app=frontend does not hold for the peer"),
        (be_ingress({"fromEntities": ["cluster"]}), "c2/fe", 8080,
         "entity cluster selects pods of c1 only (the peer is in c2)"),
        (knp_from({"podSelector": {"matchLabels": {"app": "frontend"}}}), "c2/fe", 8080,
         "scoped to the local cluster c1 (policy-default-local-cluster is on in Cilium 1.19"),
    ],
    ids=["named-cluster", "namespace", "port", "label", "entity-cluster", "knp-local-scope"],
)  # fmt: skip
def test_a_near_miss_names_the_term_that_missed(
    policy: dict[str, Any], source: str, port: int, says: str
) -> None:
    sim, deployment = mesh("1.19", policies={"c1": [policy]})
    result = probe(sim, deployment, source, "c1/be", port)
    assert result.outcome is DROPPED
    text = "\n".join(result.explanation)
    assert "rule " in text and "does not apply: " in text and says in text, text


# -- s7, SF12: a Service with different annotations per cluster ----------------------------------


@pytest.mark.parametrize(
    ("per_cluster", "source", "served"),
    [
        ({"c1": {"service.cilium.io/shared": "false"}}, "c2/fe", {"c2"}),
        ({"c1": {"service.cilium.io/shared": "false"}}, "c1/fe", {"c1", "c2"}),
        ({"c2": {"service.cilium.io/global": "false"}}, "c1/fe", {"c1"}),
        ({"c1": {"service.cilium.io/affinity": "local"}}, "c1/fe", {"c1"}),
        ({"c1": {"service.cilium.io/affinity": "local"}}, "c2/fe", {"c1", "c2"}),
    ],
    ids=["c1-not-shared-seen-from-c2", "c1-not-shared-seen-from-c1", "c2-not-global",
         "affinity-local-in-c1-only", "c2-keeps-no-affinity"],
)  # fmt: skip
def test_a_services_annotations_count_per_cluster(
    per_cluster: dict[str, dict[str, str]], source: str, served: set[str]
) -> None:
    """SF12, s7: each cluster's own Service object decides: whether it shares its backends, and
    the affinity and global flag of the caller's cluster."""
    import dataclasses

    from ..meshworld import world

    base = world(GLOBAL)
    workloads = tuple(
        dataclasses.replace(w, service=dataclasses.replace(w.service, annotations_in=per_cluster))
        if w.service
        else w
        for w in base.workloads
    )
    deployment = dataclasses.replace(base, workloads=workloads)
    sim, _ = mesh("1.19", deployment=deployment)
    result = probe(sim, deployment, source, "service/echo", 80)
    assert result.outcome is ALLOWED
    assert result.served_by == served
