"""What mutation testing of ``policy/parse.py`` showed nothing pinned (docs/mutation.md).

Three tables: documents the model refuses (message and path: a Kubernetes NetworkPolicy is
checked by the API server's built-in validation only where verdicts depend on it, so its shape
errors are the parser's own), verdicts and explanations that depend on how a document was read
(a NetworkPolicy's peers, namespace and cluster scoping, default protocol), and what a Cilium
rule's ports, L7 rules and ICMP types parse into. Each row cites the Cilium or Kubernetes
source of the behaviour it pins (docs/cilium-semantics.md sections s1-s17).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from packaging.version import Version

from pytest_clustermesh.policy import (
    ClusterContext,
    ClusterPolicy,
    Flow,
    Identity,
    InvalidPolicy,
    decide_direction,
    parse_document,
    pod_identity,
)
from pytest_clustermesh.policy.labels import CLUSTER, NAMESPACE, external_identity, split_key
from pytest_clustermesh.policy.rules import Direction, Entry, Peer, PortRule, Rule
from pytest_clustermesh.verdicts import Outcome

LOCAL_OFF = ClusterContext("c1", Version("1.19"), False)
LOCAL_ON = ClusterContext("c1", Version("1.19"), True)
ALLOWED, DROPPED, UNKNOWN = Outcome.ALLOWED, Outcome.DROPPED, Outcome.PROBE_ERROR

BE = pod_identity({"app": "backend"}, "demo", {"team": "a"}, None, "c1")
FE = pod_identity({"app": "frontend"}, "demo", {"team": "a"}, None, "c1")
FE_C2 = pod_identity({"app": "frontend"}, "demo", {"team": "a"}, None, "c2")
FE_OTHER_NS = pod_identity({"app": "frontend"}, "other", {"team": "b"}, None, "c1")
WORLD = external_identity("192.0.2.1", None, None)
WORLD_BY_NAME = external_identity("192.0.2.1", "b.example.net", "proxied")

BE_SEL = {"matchLabels": {"app": "backend"}}
FE_SEL = {"matchLabels": {"app": "frontend"}}
P8080 = Flow(8080)


def knp(spec: Any, **metadata: Any) -> dict[str, Any]:
    meta = {"name": "k", "namespace": "demo", **metadata}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta,
        "spec": spec,
    }


def knp_in(*items: Any) -> dict[str, Any]:
    return knp({"podSelector": BE_SEL, "ingress": list(items)})


def knp_from(*peers: Any) -> dict[str, Any]:
    return knp_in({"from": list(peers)})


def knp_to(*peers: Any, ports: Any = None) -> dict[str, Any]:
    item: dict[str, Any] = {"to": list(peers)}
    if ports is not None:
        item["ports"] = ports
    return knp({"podSelector": BE_SEL, "egress": [item]})


def cnp(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": {"name": "p", "namespace": "demo"},
        "spec": {"endpointSelector": BE_SEL, **spec},
    }


def ccnp_specs(*specs: Any) -> dict[str, Any]:
    return {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumClusterwideNetworkPolicy",
        "metadata": {"name": "cp"},
        "specs": list(specs),
    }


FE_INGRESS = {"endpointSelector": BE_SEL, "ingress": [{"fromEndpoints": [FE_SEL]}]}


def cnp_in(*items: Any) -> dict[str, Any]:
    return cnp({"ingress": list(items)})


def cnp_out(*items: Any) -> dict[str, Any]:
    return cnp({"egress": list(items)})


def to_ports(*items: Any) -> dict[str, Any]:
    return {"toPorts": list(items)}


def http_on_80(*rules: Any) -> dict[str, Any]:
    return to_ports({"ports": [{"port": "80"}], "rules": {"http": list(rules)}})


def icmp(**field: Any) -> dict[str, Any]:
    return {"icmps": [{"fields": [field]}]}


KP0 = ("spec", "ingress", 0)
FROM0 = (*KP0, "from", 0)
CPORT0 = ("spec", "ingress", 0, "toPorts", 0, "ports", 0)
ICMP0 = ("spec", "ingress", 0, "icmps", 0, "fields", 0)
KNP_SPEC_KEYS = "podSelector, policyTypes, ingress, egress"


# ---------------------------------------------------------------------------------------------
# Documents the model refuses: the message and where it points.


@dataclass(frozen=True)
class Refusal:
    source: str
    doc: dict[str, Any]
    message: str
    path: tuple[str | int, ...]
    ctx: ClusterContext = LOCAL_ON


# fmt: off
REFUSALS = [
    Refusal("a NetworkPolicy is namespaced (apimachinery ObjectMeta.namespace is a string)",
            knp({"podSelector": {}}, namespace=5),
            "a NetworkPolicy needs metadata.namespace", ("metadata",)),
    Refusal("k8s.io/api networking/v1 NetworkPolicy.spec is a NetworkPolicySpec object",
            knp("x"), "expected a mapping, got str", ("spec",)),
    Refusal("apimachinery: every object has metadata (ObjectMeta, name required); a missing "
            "one is nothing, not a mapping",
            {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
             "spec": {"podSelector": {}}},
            "expected a mapping, got nothing", ("metadata",)),
    Refusal("NetworkPolicySpec's fields; strict field validation rejects others",
            knp({"podSelector": {}, "ingres": []}),
            f"unknown field 'ingres' (expected one of: {KNP_SPEC_KEYS})", ("spec", "ingres")),
    Refusal("apimachinery LabelSelector.matchLabels is a map (spec.podSelector)",
            knp({"podSelector": {"matchLabels": ["app"]}}),
            "expected a mapping, got list", ("spec", "podSelector", "matchLabels")),
    Refusal("NetworkPolicySpec.policyTypes is a list of PolicyType",
            knp({"podSelector": {}, "policyTypes": "Ingress"}),
            "expected a list, got str", ("spec", "policyTypes")),
    Refusal("ValidateNetworkPolicySpec: policyTypes are Ingress and Egress; a near miss is "
            "named", knp({"podSelector": {}, "policyTypes": ["ingres"]}),
            "unknown policy type 'ingres' (did you mean 'Ingress'?); the types are Ingress and "
            "Egress", ("spec", "policyTypes")),
    Refusal("... Egress too",
            knp({"podSelector": {}, "policyTypes": ["Ingress", "egres"]}),
            "unknown policy type 'egres' (did you mean 'Egress'?); the types are Ingress and "
            "Egress", ("spec", "policyTypes")),
    Refusal("NetworkPolicySpec.ingress is a list of NetworkPolicyIngressRule",
            knp({"podSelector": {}, "ingress": "x"}),
            "expected a list, got str", ("spec", "ingress")),
    Refusal("... each an object", knp_in("x"), "expected a mapping, got str", KP0),
    Refusal("NetworkPolicyIngressRule's fields are from and ports",
            knp_in({"form": []}), "unknown field 'form' (expected one of: from, ports)",
            (*KP0, "form")),
    Refusal("NetworkPolicyIngressRule.ports is a list of NetworkPolicyPort",
            knp_in({"ports": "x"}), "expected a list, got str", (*KP0, "ports")),
    Refusal("... each an object", knp_in({"ports": ["x"]}),
            "expected a mapping, got str", (*KP0, "ports", 0)),
    Refusal("NetworkPolicyPort's fields are port, endPort and protocol",
            knp_in({"ports": [{"port": 80, "prot": "TCP"}]}),
            "unknown field 'prot' (expected one of: port, endPort, protocol)",
            (*KP0, "ports", 0, "prot")),
    Refusal("NetworkPolicyPort.endPort is an int32 (ValidateNetworkPolicyPort: not below port)",
            knp_in({"ports": [{"port": 80, "endPort": "90"}]}),
            "endPort must be a number not below port", (*KP0, "ports", 0, "endPort")),
    Refusal("NetworkPolicyIngressRule.from is a list of NetworkPolicyPeer",
            knp_in({"from": "x"}), "expected a list, got str", (*KP0, "from")),
    Refusal("... each an object", knp_from("x"), "expected a mapping, got str", FROM0),
    Refusal("NetworkPolicyPeer's fields are podSelector, namespaceSelector and ipBlock",
            knp_from({"pods": {}}),
            "unknown field 'pods' (expected one of: podSelector, namespaceSelector, ipBlock)",
            (*FROM0, "pods")),
    Refusal("NetworkPolicyPeer.ipBlock is an IPBlock object",
            knp_from({"ipBlock": "10.0.0.0/8"}),
            "expected a mapping, got str", (*FROM0, "ipBlock")),
    Refusal("NetworkPolicyPeer.podSelector is a LabelSelector",
            knp_from({"podSelector": {"matchLabels": ["app"]}}),
            "expected a mapping, got list", (*FROM0, "podSelector", "matchLabels")),
    Refusal("NetworkPolicyPeer.namespaceSelector is a LabelSelector",
            knp_from({"namespaceSelector": {"matchLabels": ["team"]}}),
            "expected a mapping, got list", (*FROM0, "namespaceSelector", "matchLabels")),
    Refusal("pkg/policy/api/l4.go PortProtocol.sanitize: a port is 1-65535 (the CRD's port "
            "pattern is not anchored at its end, so 65536 passes the API server)",
            cnp_in(to_ports({"ports": [{"port": "65536"}]})),
            "port 65536 is out of range", (*CPORT0, "port")),
    Refusal("endPort in a CiliumNetworkPolicy arrived in Cilium 1.16 (s5)",
            cnp_in(to_ports({"ports": [{"port": "80", "endPort": 90}]})),
            "endPort in a Cilium policy needs Cilium 1.16", (*CPORT0, "endPort"),
            ClusterContext("c1", Version("1.15"), False)),
    Refusal("apimachinery ValidateLabelSelectorRequirement: In needs values, in a "
            "fromRequires selector too (pkg/policy/api/ingress.go FromRequires)",
            cnp_in({"fromRequires": [{"matchExpressions": [{"key": "env", "operator": "In"}]}]}),
            "operator In needs values",
            ("spec", "ingress", 0, "fromRequires", 0, "matchExpressions", 0)),
    Refusal("enableDefaultDeny arrived in Cilium 1.16 (s3, pkg/policy/api/rule.go)",
            cnp({"ingress": [{}], "enableDefaultDeny": {"ingress": False}}),
            "enableDefaultDeny needs Cilium 1.16 or later", ("spec", "enableDefaultDeny"),
            ClusterContext("c1", Version("1.15"), False)),
    Refusal("pkg/policy/api/icmp.go: an ICMP type is 0-255 (s16)",
            cnp_in(icmp(type=256)), "ICMP type 256 is out of range 0-255", (*ICMP0, "type")),
    Refusal("... so is -2", cnp_in(icmp(type=-2)),
            "ICMP type -2 is out of range 0-255", (*ICMP0, "type")),
]
# fmt: on


@pytest.mark.parametrize("row", REFUSALS, ids=lambda row: row.source[:60])
def test_a_document_the_model_refuses_says_why_and_where(row: Refusal) -> None:
    with pytest.raises(InvalidPolicy) as caught:
        parse_document(row.doc, row.ctx)
    assert (caught.value.message, caught.value.path) == (row.message, row.path), row.source


# ---------------------------------------------------------------------------------------------
# Verdicts and explanations that depend on how a document was read.


@dataclass(frozen=True)
class Verdict:
    pins: str
    doc: dict[str, Any]
    peer: Identity
    outcome: Outcome
    reason: str | None = None
    """The explanation's last line, after ``<direction> at c1: ``; None: not checked."""
    direction: Direction = "ingress"
    flow: Flow = P8080
    ctx: ClusterContext = LOCAL_OFF


NOT_APPLY = "allow rule KNP demo/k ingress[0] does not apply: "
NOT_APPLY_OUT = "allow rule KNP demo/k egress[0] does not apply: "
CNP_NOT_APPLY = "allow rule CNP demo/p spec ingress[0] does not apply: "
CNP_NOT_APPLY_OUT = "allow rule CNP demo/p spec egress[0] does not apply: "
TEAM_A = "k8s:io.cilium.k8s.namespace.labels.team=a"
LOCAL_NOTE = "policy-default-local-cluster is on in Cilium 1.19, its default"
CIDR_10 = {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16", "10.2.0.0/16"]}

# fmt: off
VERDICTS = [
    Verdict("s6: a NetworkPolicy namespaceSelector selects by the namespace's labels, which "
            "Cilium carries as io.cilium.k8s.namespace.labels.* (pkg/k8s/network_policy.go "
            "parseNetworkPolicyPeer): team=a admits a pod of a team=a namespace",
            knp_from({"namespaceSelector": {"matchLabels": {"team": "a"}}}), FE, ALLOWED),
    Verdict("s6: ... and not one of a team=b namespace",
            knp_from({"namespaceSelector": {"matchLabels": {"team": "a"}}}), FE_OTHER_NS,
            DROPPED, f"{NOT_APPLY}endpoints {{{TEAM_A}}}: {TEAM_A} does not hold for the peer"),
    Verdict("s6: namespaceSelector {} is every namespace's pods: parseNetworkPolicyPeer adds "
            "io.kubernetes.pod.namespace Exists, so it does not select the world",
            knp_to({"namespaceSelector": {}}), WORLD, DROPPED,
            f"{NOT_APPLY_OUT}endpoints {{k8s:io.kubernetes.pod.namespace Exists}}: selects "
            "Cilium endpoints, not the world outside the mesh", "egress"),
    Verdict("s3: an empty 'to' selects every peer, the world included (k8s NetworkPolicy: "
            "an empty to matches all destinations)",
            knp_to(), WORLD, ALLOWED, "allowed by KNP demo/k egress[0] (any peer (empty from/to))",
            "egress"),
    Verdict("s17: an ipBlock with except prefixes is named with them in an explanation",
            knp_to({"ipBlock": CIDR_10}), WORLD, DROPPED,
            f"{NOT_APPLY_OUT}ipBlock 10.0.0.0/8 except 10.1.0.0/16, 10.2.0.0/16: 192.0.2.1 is "
            "not in it", "egress"),
    Verdict("s17: ... and one without except prefixes without them",
            knp_to({"ipBlock": {"cidr": "10.0.0.0/8"}}), WORLD, DROPPED,
            f"{NOT_APPLY_OUT}ipBlock 10.0.0.0/8: 192.0.2.1 is not in it", "egress"),
    Verdict("s17: so is a toCIDRSet with except prefixes (pkg/policy/api/cidr.go CIDRRule)",
            cnp_out({"toCIDRSet": [CIDR_10]}), WORLD, DROPPED,
            f"{CNP_NOT_APPLY_OUT}toCIDRSet 10.0.0.0/8 except 10.1.0.0/16, 10.2.0.0/16: "
            "192.0.2.1 is not in it", "egress"),
    Verdict("s17: ... and one without",
            cnp_out({"toCIDRSet": [{"cidr": "10.0.0.0/8"}]}), WORLD, DROPPED,
            f"{CNP_NOT_APPLY_OUT}toCIDRSet 10.0.0.0/8: 192.0.2.1 is not in it", "egress"),
    Verdict("s6: every peer of a from list counts, an ipBlock before a podSelector too "
            "(NetworkPolicyIngressRule.from: the peers are ORed)",
            knp_from({"ipBlock": {"cidr": "10.0.0.0/8"}}, {"podSelector": FE_SEL}), FE, ALLOWED),
    Verdict("s1/s6: a podSelector without namespaceSelector is the policy's namespace; the "
            "explanation says the policy's namespace limited it",
            knp_from({"podSelector": FE_SEL}), FE_OTHER_NS, DROPPED,
            f"{NOT_APPLY}endpoints {{k8s:app=frontend, k8s:io.kubernetes.pod.namespace=demo}}: "
            "limited to the policy's namespace demo (the peer is in other)"),
    Verdict("s1/s6: with a namespaceSelector the namespace term is the podSelector's own, and "
            "the explanation says the selector names it",
            knp_from({"namespaceSelector": {},
                      "podSelector": {"matchLabels": {NAMESPACE: "demo"}}}),
            FE_OTHER_NS, DROPPED,
            f"{NOT_APPLY}endpoints {{k8s:io.kubernetes.pod.namespace Exists, "
            "k8s:io.kubernetes.pod.namespace=demo}: it names namespace demo (the peer is in "
            "other)"),
    Verdict("s2/s6: policy-default-local-cluster scopes a podSelector to the local cluster "
            "unless it names the cluster; a matchExpressions key that is not the cluster label "
            "does not (isPodSelectorSelectingCluster, pkg/k8s/network_policy.go)",
            knp_from({"podSelector": {"matchExpressions": [
                {"key": "app", "operator": "In", "values": ["frontend"]}]}}),
            FE_C2, DROPPED,
            f"{NOT_APPLY}endpoints {{k8s:app=frontend, k8s:io.cilium.k8s.policy.cluster=c1, "
            f"k8s:io.kubernetes.pod.namespace=demo}}: scoped to the local cluster c1 "
            f"({LOCAL_NOTE}; the peer is in c2)", ctx=LOCAL_ON),
    Verdict("s2/s6: ... a matchExpressions on the cluster label names the cluster: no local "
            "scoping (isPodSelectorSelectingCluster)",
            knp_from({"podSelector": {**FE_SEL, "matchExpressions": [
                {"key": CLUSTER, "operator": "Exists"}]}}),
            FE_C2, ALLOWED, ctx=LOCAL_ON),
    Verdict("s2/s6: a term the podSelector carries itself is named as its own, not as the "
            "local-cluster scoping (the key k8s:io.cilium.k8s.policy.cluster is not the "
            "cluster label isPodSelectorSelectingCluster looks for, so scoping adds the same "
            "term)",
            knp_from({"podSelector": {"matchExpressions": [
                {"key": f"k8s:{CLUSTER}", "operator": "In", "values": ["c1"]}]}}),
            FE_C2, DROPPED,
            f"{NOT_APPLY}endpoints {{k8s:io.cilium.k8s.policy.cluster=c1, "
            "k8s:io.kubernetes.pod.namespace=demo}: it names cluster c1 (the peer is in c2)",
            ctx=LOCAL_ON),
    Verdict("s1: a CNP peer that names the namespace itself (the k8s: label idiom of "
            "language.rst) gets no implicit namespace term, and the explanation says the "
            "selector names it (pkg/k8s/apis/cilium.io/utils/utils.go getEndpointSelector)",
            cnp_in({"fromEndpoints": [{"matchLabels": {**FE_SEL["matchLabels"],
                                                       f"k8s:{NAMESPACE}": "demo"}}]}),
            FE_OTHER_NS, DROPPED,
            f"{CNP_NOT_APPLY}endpoints {{any:app=frontend, k8s:{CLUSTER}=c1, "
            f"k8s:{NAMESPACE}=demo}}: it names namespace demo (the peer is in other)",
            ctx=LOCAL_ON),
    Verdict("s2: a CNP peer that names the cluster itself gets no local-cluster term "
            "(addClusterFilterByDefault, pkg/k8s/apis/cilium.io/utils/utils.go), and the "
            "explanation says the selector names it",
            cnp_in({"fromEndpoints": [{"matchLabels": {**FE_SEL["matchLabels"],
                                                       f"k8s:{CLUSTER}": "c1"}}]}),
            FE_C2, DROPPED,
            f"{CNP_NOT_APPLY}endpoints {{any:app=frontend, k8s:{CLUSTER}=c1, "
            f"k8s:{NAMESPACE}=demo}}: it names cluster c1 (the peer is in c2)", ctx=LOCAL_ON),
    Verdict("s17: a toCIDR is named with all its prefixes (pkg/policy/api/egress.go ToCIDR)",
            cnp_out({"toCIDR": ["10.0.0.0/8", "192.168.0.0/16"]}), WORLD_BY_NAME, DROPPED,
            f"{CNP_NOT_APPLY_OUT}toCIDR 10.0.0.0/8, 192.168.0.0/16: 192.0.2.1 is not in it",
            "egress"),
    Verdict("s17: toFQDNs is named with its matchName and matchPattern values "
            "(pkg/policy/api/fqdn.go FQDNSelector)",
            cnp_out({"toFQDNs": [{"matchName": "a.example.com"},
                                 {"matchPattern": "*.example.org"}]}),
            WORLD_BY_NAME, DROPPED,
            f"{CNP_NOT_APPLY_OUT}toFQDNs a.example.com, *.example.org: b.example.net matches "
            "none of its names", "egress"),
    Verdict("s17: fromCIDR admits an address within it (pkg/policy/api/ingress.go FromCIDR)",
            cnp_in({"fromCIDR": ["192.0.2.0/24"]}), WORLD, ALLOWED),
    Verdict("s17: so does fromCIDRSet (FromCIDRSet)",
            cnp_in({"fromCIDRSet": [{"cidr": "192.0.2.0/24"}]}), WORLD, ALLOWED),
    Verdict("s4: fromEntities world admits the world (pkg/policy/api/entity.go)",
            cnp_in({"fromEntities": ["world"]}), WORLD, ALLOWED),
    Verdict("s4: toEntities world admits the world (pkg/policy/api/entity.go)",
            cnp_out({"toEntities": ["world"]}), WORLD, ALLOWED, direction="egress"),
    Verdict("s17: toFQDNs admits a name one of its patterns matches, looked up through the "
            "DNS proxy (language.rst, DNS based)",
            cnp_out({"toFQDNs": [{"matchName": "a.example.com"},
                                 {"matchPattern": "*.example.net"}]}),
            WORLD_BY_NAME, ALLOWED, direction="egress"),
    Verdict("s1: toEndpoints admits the pods it selects (pkg/policy/api/egress.go)",
            cnp_out({"toEndpoints": [FE_SEL]}), FE, ALLOWED, direction="egress"),
    Verdict("s14: an entry with neither L3 nor L4 allows nothing (pkg/policy/rule.go: it adds "
            "no filter)",
            cnp_in({}), FE, DROPPED,
            f"{CNP_NOT_APPLY}it selects no peer (an entry with no L3 or L4 part allows "
            "nothing)"),
    Verdict("s5: a toPorts-only entry is wildcard L3, the world included "
            "(pkg/policy/api/egress.go), and says so",
            cnp_out(to_ports({"ports": [{"port": "8080"}]})), WORLD, ALLOWED,
            "allowed by CNP demo/p spec egress[0] (any peer)", "egress"),
    Verdict("s4: fromNodes selects nodes, never a pod (enable-node-selector-labels; "
            "pkg/policy/api/ingress.go FromNodes)",
            cnp_in({"fromNodes": [{"matchLabels": {"a": "b"}}]}), FE, DROPPED,
            f"{CNP_NOT_APPLY}fromNodes: never a pod",
            ctx=ClusterContext("c1", Version("1.19"), False, node_selector_labels=True)),
    Verdict("s17: toGroups (cloud provider groups) stand for addresses outside the scenario "
            "(pkg/policy/api/groups.go)",
            cnp_out({"toGroups": [{"aws": {"securityGroupsIds": ["sg-1"]}}]}), WORLD_BY_NAME,
            UNKNOWN, "unknown, the model does not cover CNP demo/p spec egress[0]: toGroups "
            "(addresses the model does not know): beyond the model", "egress"),
    Verdict("s13: fromRequires (deprecated) adds requirements to every rule of the subject: "
            "beyond the model, the verdict is unknown (pkg/policy/api/ingress.go FromRequires)",
            cnp_in({"fromRequires": [{"matchLabels": {"env": "prod"}}]}), FE, UNKNOWN,
            f"{CNP_NOT_APPLY}it selects no peer (an entry with no L3 or L4 part allows nothing)"),
    Verdict("s3: enableDefaultDeny.ingress: false keeps the subject out of ingress default "
            "deny (pkg/policy/api/rule.go DefaultDenyConfig, 1.16)",
            cnp({"ingress": [{"fromEndpoints": [FE_SEL]}],
                 "enableDefaultDeny": {"ingress": False}}),
            FE_OTHER_NS, ALLOWED),
    Verdict("s3: ... and egress: false does not touch ingress",
            cnp({"ingress": [{"fromEndpoints": [FE_SEL]}],
                 "enableDefaultDeny": {"egress": False}}),
            FE_OTHER_NS, DROPPED),
    Verdict("s3: enableDefaultDeny.egress: false keeps it out of egress default deny",
            cnp({"egress": [{"toEndpoints": [FE_SEL]}],
                 "enableDefaultDeny": {"egress": False}}),
            FE_OTHER_NS, ALLOWED, direction="egress"),
    Verdict("s3: an ingressDeny section alone puts the subject into ingress default deny "
            "(pkg/policy/rule.go: any ingress or ingressDeny rule)",
            cnp({"ingressDeny": [{"fromEndpoints": [FE_SEL]}]}), FE_OTHER_NS, DROPPED,
            "deny rule CNP demo/p spec ingressDeny[0] does not apply: endpoints "
            "{any:app=frontend, k8s:io.kubernetes.pod.namespace=demo}: limited to the "
            "policy's namespace demo (the peer is in other)"),
    Verdict("s3: an egressDeny section alone puts it into egress default deny",
            cnp({"egressDeny": [{"toEndpoints": [FE_SEL]}]}), FE_OTHER_NS, DROPPED,
            direction="egress"),
    Verdict("s1: a CCNP peer without a namespace selects pods of every namespace "
            "(getEndpointSelector adds io.kubernetes.pod.namespace Exists)",
            ccnp_specs(FE_INGRESS), FE_OTHER_NS, ALLOWED,
            "allowed by CCNP cp specs[0] ingress[0]"),
    Verdict("s1: ... pods only, not the world",
            ccnp_specs(FE_INGRESS), WORLD, DROPPED,
            "allow rule CCNP cp specs[0] ingress[0] does not apply: endpoints "
            "{any:app=frontend, k8s:io.kubernetes.pod.namespace Exists}: selects Cilium "
            "endpoints, not the world outside the mesh"),
    Verdict("s1: every rule of specs is read and named by its index (cnp_types.go Specs)",
            ccnp_specs({"endpointSelector": {"matchLabels": {"app": "none"}}, "ingress": [{}]},
                       {**FE_INGRESS, "ingress": [{"fromEndpoints": [{"matchLabels":
                                                                       {"app": "test"}}]}]}),
            FE, DROPPED,
            "allow rule CCNP cp specs[1] ingress[0] does not apply: endpoints "
            "{any:app=test, k8s:io.kubernetes.pod.namespace Exists}: any:app=test does not "
            "hold for the peer"),
    Verdict("s4: a rule with a nodeSelector selects nodes, no pod (pkg/policy/api/rule.go "
            "NodeSelector)",
            {**cnp({}), "spec": {"nodeSelector": {}, "ingress": [{}]}}, FE, ALLOWED,
            "no policy selects the endpoint"),
    Verdict("s14: an empty L3 list beside a non-empty one adds no peer and removes none "
            "(IngressCommonRule.Validate counts non-empty L3 fields only, "
            "pkg/policy/api/rule_validation.go)",
            cnp_in({"fromEndpoints": [FE_SEL], "fromEntities": []}), FE, ALLOWED),
    Verdict("s6: a NetworkPolicyPort without protocol is TCP (SetDefaults_NetworkPolicyPort, "
            "kubernetes pkg/apis/networking/v1/defaults.go): UDP to its port is dropped",
            knp_in({"ports": [{"port": 8080}]}), FE, DROPPED, flow=Flow(8080, "UDP")),
    Verdict("s6: ... and TCP admitted", knp_in({"ports": [{"port": 8080}]}), FE, ALLOWED),
    Verdict("s16: an ICMPv6-only type name under family IPv4 (icmpIpv4TypeNameToCode lacks "
            "PacketTooBig) stands for no IPv4 type: not a ping",
            cnp_in(icmp(type="PacketTooBig")), FE, DROPPED, flow=Flow(8, "ICMP")),
    Verdict("s16: ... nor ICMP type 1", cnp_in(icmp(type="PacketTooBig")), FE, DROPPED,
            flow=Flow(1, "ICMP")),
    Verdict("s16: ICMP type 255 is in range (pkg/policy/api/icmp.go)",
            cnp_in(icmp(type=255)), FE, ALLOWED, flow=Flow(255, "ICMP")),
    Verdict("s5: a port rule with Kafka rules and no ports covers every port, and what Kafka "
            "allows is beyond the model (pkg/policy/api/l4.go PortRule.Ports)",
            cnp_in(to_ports({"rules": {"kafka": [{"topic": "t"}]}})), FE, UNKNOWN,
            "unknown, the model does not cover CNP demo/p spec ingress[0]: Kafka L7 rules"),
    Verdict("s5: l7proto rules (a proxylib parser) are beyond the model",
            cnp_in(to_ports({"ports": [{"port": "8080"}],
                             "rules": {"l7proto": "r2d2", "l7": [{"cmd": "READ"}]}})),
            FE, UNKNOWN,
            "unknown, the model does not cover CNP demo/p spec ingress[0]: l7proto rules"),
    Verdict("s5: HTTP headerMatches (mismatch actions, secrets) are beyond the model",
            cnp_in(to_ports({"ports": [{"port": "8080"}], "rules": {"http": [
                {"headerMatches": [{"name": "X-A", "value": "1"}]}]}})),
            FE, UNKNOWN, "unknown, the model does not cover CNP demo/p spec ingress[0]: HTTP "
            "headerMatches rules"),
]
# fmt: on


@pytest.mark.parametrize("row", VERDICTS, ids=lambda row: row.pins[:60])
def test_how_a_document_was_read_decides_and_explains(row: Verdict) -> None:
    policy = ClusterPolicy(row.ctx.cluster_name, tuple(parse_document(row.doc, row.ctx)))
    decision = decide_direction(policy, row.direction, BE, row.peer, row.flow)
    assert decision.outcome is row.outcome, (row.pins, decision.reasons)
    if row.reason is not None:
        assert decision.reasons[-1] == f"{row.direction} at c1: {row.reason}", row.pins


# ---------------------------------------------------------------------------------------------
# What a document parses into.


def only_entry(rules: list[Rule]) -> Entry:
    [rule] = rules
    [entry] = rule.entries
    return entry


def only_port(rules: list[Rule]) -> PortRule:
    ports = only_entry(rules).ports
    assert ports is not None
    [port] = ports
    return port


def only_peer(rules: list[Rule]) -> Peer:
    [peer] = only_entry(rules).peers
    return peer


def port_fields(rules: list[Rule]) -> tuple[Any, ...]:
    port = only_port(rules)
    return (port.port, port.end_port, port.name, port.per_node, sorted(port.protocols))


@dataclass(frozen=True)
class Parsed:
    pins: str
    doc: dict[str, Any]
    view: Callable[[list[Rule]], Any]
    expected: Any
    ctx: ClusterContext = LOCAL_ON


DNS_53 = {"ports": [{"port": "53", "protocol": "UDP"}]}

# fmt: off
PARSED = [
    Parsed("s6: a NetworkPolicy's podSelector keys are k8s labels (pkg/k8s/network_policy.go: "
           "NewESFromK8sLabelSelector with the k8s source), the subject in its namespace",
           knp({"podSelector": BE_SEL}), lambda rules: str(rules[0].subject),
           "{k8s:app=backend, k8s:io.kubernetes.pod.namespace=demo}"),
    Parsed("s6: ... so are a peer podSelector's",
           knp_from({"podSelector": FE_SEL}), lambda rules: only_peer(rules).text,
           "endpoints {k8s:app=frontend, k8s:io.cilium.k8s.policy.cluster=c1, "
           "k8s:io.kubernetes.pod.namespace=demo}"),
    Parsed("s2: without policy-default-local-cluster a peer has no local-cluster term, and "
           "its note says the option is off, which 1.19 has on by default",
           knp_from({"podSelector": FE_SEL}),
           lambda rules: (only_peer(rules).local_scope, str(only_peer(rules).namespace_scope),
                          only_peer(rules).scope_note),
           (None, "k8s:io.kubernetes.pod.namespace=demo",
            "policy-default-local-cluster is off in Cilium 1.19, not its default, on"),
           LOCAL_OFF),
    Parsed("s6: a NetworkPolicy has no deny rules: its entries allow",
           knp_from({"podSelector": FE_SEL}), lambda rules: only_entry(rules).deny, False),
    Parsed("s5: a named port of an egress rule before 1.20 resolves per node (cilium#24779), "
           "in a NetworkPolicy too; its protocol defaults to TCP",
           knp_to({"podSelector": FE_SEL}, ports=[{"port": "http"}]), port_fields,
           (None, None, "http", True, ["TCP"])),
    Parsed("s5: ... from 1.20 per destination",
           knp_to({"podSelector": FE_SEL}, ports=[{"port": "http"}]), port_fields,
           (None, None, "http", False, ["TCP"]), ClusterContext("c1", Version("1.20"), True)),
    Parsed("s5: ... and in a CiliumNetworkPolicy egress rule (protocol ANY by default)",
           cnp_out(to_ports({"ports": [{"port": "http"}]})), port_fields,
           (None, None, "http", True, ["SCTP", "TCP", "UDP"])),
    Parsed("s5: port 65535 is the last port (pkg/policy/api/l4.go)",
           cnp_in(to_ports({"ports": [{"port": "65535"}]})), port_fields,
           (65535, None, None, False, ["SCTP", "TCP", "UDP"])),
    Parsed("s5: an endPort equal to port is a range of one port (PortProtocol.EndPort)",
           cnp_in(to_ports({"ports": [{"port": "80", "endPort": 80}]})), port_fields,
           (80, 80, None, False, ["SCTP", "TCP", "UDP"])),
    Parsed("s5: terminatingTLS, originatingTLS, serverNames and listener are PortRule fields "
           "(pkg/policy/api/l4.go); the port rule is read",
           cnp_in(to_ports({"ports": [{"port": "443"}],
                            "terminatingTLS": {"secret": {"name": "s"}},
                            "originatingTLS": {"secret": {"name": "s"}},
                            "serverNames": ["a.example.com"],
                            "listener": {"envoyConfig": {"kind": "CiliumEnvoyConfig",
                                                         "name": "e"}, "name": "l"}})),
           port_fields, (443, None, None, False, ["SCTP", "TCP", "UDP"])),
    Parsed("s5: a toPorts item without ports is followed by the next item (PortRules are ORed)",
           cnp_in(to_ports({"rules": {"http": [{"method": "GET"}]}},
                           {"ports": [{"port": "9090"}]})),
           lambda rules: [r.port for r in only_entry(rules).ports or ()], [None, 9090]),
    Parsed("s5: DNS rules of a toPorts item without ports (pkg/policy/api/l7.go PortRuleDNS)",
           cnp_out(to_ports({"rules": {"dns": [{"matchPattern": "*.example.com"}]}})),
           lambda rules: only_port(rules).dns, ("*.example.com",)),
    Parsed("s5: every DNS rule counts, matchName and matchPattern alike",
           cnp_out(to_ports({**DNS_53, "rules": {"dns": [
               {"matchName": "a.example.com"}, {"matchPattern": "*.example.org"}]}})),
           lambda rules: only_port(rules).dns, ("a.example.com", "*.example.org")),
    Parsed("s5: an HTTP rule keeps its method (pkg/policy/api/http.go PortRuleHTTP.Method)",
           cnp_in(http_on_80({"method": "GET", "path": "/a"})),
           lambda rules: [str(h) for h in only_port(rules).http or ()], ["GET /a"]),
    Parsed("s5: a header 'Name: value' is that header with that value; the colon is not part "
           "of the name (pkg/envoy/server.go getHTTPRule)",
           cnp_in(http_on_80({"headers": ["X-Trace-X: on", "X-Flag"]})),
           lambda rules: [h.headers for h in only_port(rules).http or ()],
           [(("X-Trace-X", "on"), ("X-Flag", None))]),
    Parsed("s5: a feature beyond the model is named once, however many rules use it",
           cnp_in(http_on_80({"headerMatches": [{"name": "X-A"}]},
                             {"headerMatches": [{"name": "X-B"}]})),
           lambda rules: only_port(rules).unknown, "HTTP headerMatches rules"),
    Parsed("s4: an entity peer (pkg/policy/api/entity.go) reads 'entity <name>', as the "
           "model's explanations name entities",
           cnp_in({"fromEntities": ["world"]}), lambda rules: only_peer(rules).text,
           "entity world"),
    Parsed("s13: fromRequires in several entries makes the direction unknown once",
           cnp_in({"fromRequires": [{"matchLabels": {"env": "prod"}}]},
                  {"fromRequires": [{"matchLabels": {"tier": "db"}}]}),
           lambda rules: rules[0].unknown, (("ingress", "fromRequires"),)),
    Parsed("s13: toRequires (deprecated) is not a peer: the egress direction is unknown "
           "(pkg/policy/api/egress.go ToRequires)",
           cnp_out({"toRequires": [{"matchLabels": {"env": "prod"}}]}),
           lambda rules: (rules[0].unknown, only_entry(rules).peers),
           ((("egress", "toRequires"),), ())),
    Parsed("s16: a type name of the other family never matches a real type (-1)",
           cnp_in(icmp(family="IPv4", type="PacketTooBig")),
           lambda rules: (only_port(rules).port, sorted(only_port(rules).protocols)),
           (-1, ["ICMP"])),
]
# fmt: on


@pytest.mark.parametrize("row", PARSED, ids=lambda row: row.pins[:60])
def test_what_a_document_parses_into(row: Parsed) -> None:
    assert row.view(parse_document(row.doc, row.ctx)) == row.expected, row.pins


def test_an_icmp_type_below_zero_is_refused_like_one_above_255() -> None:
    # The CRD leaves an integer type unbounded; the model takes types 0-255 (an ICMP type is
    # one byte, pkg/policy/api/icmp.go) and refuses the rest rather than reading -1 as "none".
    for number in (-1, 256):
        with pytest.raises(InvalidPolicy) as caught:
            parse_document(cnp_in(icmp(type=number)), LOCAL_ON)
        assert (caught.value.message, caught.value.path) == (
            f"ICMP type {number} is out of range 0-255",
            (*ICMP0, "type"),
        )


def test_a_port_of_digits_that_are_not_ascii_is_a_name_not_a_crash() -> None:
    # "²".isdigit() holds but int("²") fails; the CRD's port pattern lets it through.
    port = only_port(parse_document(cnp_in(to_ports({"ports": [{"port": "8²"}]})), LOCAL_ON))
    assert (port.port, port.name) == (None, "8²")


def expression(op: str, **fields: Any) -> dict[str, Any]:
    return {"matchExpressions": [{"key": "env", "operator": op, **fields}]}


ME0 = ("matchExpressions", 0)
V1_17 = ClusterContext("c1", Version("1.17"), False)

# fmt: off
MORE_REFUSALS = [
    Refusal("apimachinery ValidateLabelSelectorRequirement: NotIn needs values too (the CRD "
            "does not say so)", cnp_in({"fromEndpoints": [expression("NotIn")]}),
            "operator NotIn needs values", (*KP0, "fromEndpoints", 0, *ME0)),
    Refusal("apimachinery ValidateLabelSelectorRequirement: DoesNotExist takes no values",
            cnp_in({"fromEndpoints": [expression("DoesNotExist", values=["a"])]}),
            "operator DoesNotExist takes no values", (*KP0, "fromEndpoints", 0, *ME0)),
    Refusal("apimachinery LabelSelector.matchExpressions is a list (a NetworkPolicy's shape "
            "errors are the parser's own)",
            knp({"podSelector": {"matchExpressions": "x"}}),
            "expected a list, got str", ("spec", "podSelector", "matchExpressions")),
    Refusal("apimachinery LabelSelectorRequirement.key is required",
            knp({"podSelector": {"matchExpressions": [{"operator": "Exists"}]}}),
            "key is required", ("spec", "podSelector", *ME0)),
    Refusal("pkg/policy/api/rule_validation.go from 1.17: a rule whose sections are all empty "
            "has none (the CRD only asks that a section key be there)",
            cnp({"ingress": []}),
            "rule must have at least one of ingress, ingressDeny, egress, egressDeny", ("spec",),
            V1_17),
    Refusal("... from 1.17 on, in a clusterwide policy's specs too",
            ccnp_specs({"endpointSelector": {}, "egress": [], "ingressDeny": []}),
            "rule must have at least one of ingress, ingressDeny, egress, egressDeny",
            ("specs", 0)),
    Refusal("apimachinery ValidateLabelSelectorRequirement: In needs values, in the "
            "endpointSelector (pkg/policy/api/rule.go Rule.EndpointSelector)",
            {**cnp({}), "spec": {"endpointSelector": expression("In"), "ingress": [{}]}},
            "operator In needs values", ("spec", "endpointSelector", *ME0)),
    Refusal("... and in a nodeSelector (pkg/policy/api/rule.go Rule.NodeSelector)",
            ccnp_specs({"nodeSelector": expression("In"), "ingress": [{}]}),
            "operator In needs values", ("specs", 0, "nodeSelector", *ME0)),
]
# fmt: on


@pytest.mark.parametrize("row", MORE_REFUSALS, ids=lambda row: row.source[:60])
def test_more_documents_the_model_refuses_say_why_and_where(row: Refusal) -> None:
    with pytest.raises(InvalidPolicy) as caught:
        parse_document(row.doc, row.ctx)
    assert (caught.value.message, caught.value.path) == (row.message, row.path), row.source


def test_a_rule_with_empty_sections_is_read_before_1_17() -> None:
    # pkg/policy/api/rule_validation.go: the "at least one section" check arrived in 1.17.
    ctx = ClusterContext("c1", Version("1.16"), False)
    [rule] = parse_document(cnp({"ingress": []}), ctx)
    assert rule.entries == ()


def test_a_subject_of_reserved_labels_is_not_scoped_to_the_namespace() -> None:
    # pkg/policy/api/selector.go: a reserved: label selects a reserved identity (the host),
    # which has no namespace; the policy's namespace is not added to such a subject.
    doc = cnp({"endpointSelector": {"matchLabels": {"reserved:host": ""}}, "ingress": [{}]})
    [rule] = parse_document(doc, LOCAL_ON)
    assert str(rule.subject) == "{reserved:host=}"


# ---------------------------------------------------------------------------------------------
# Node selectors and ICMP type 0 (what mutation testing of parse.py at ad2ba3e left unpinned).

NODES_ON = ClusterContext("c1", Version("1.19"), False, node_selector_labels=True)
"""``enable-node-selector-labels=true``: fromNodes/toNodes are accepted (Cilium 1.16 on)."""

# fmt: off
NODE_REFUSALS = [
    Refusal("apimachinery ValidateLabelSelectorRequirement: In needs values, in a toNodes "
            "selector too (pkg/policy/api/egress.go EgressCommonRule.ToNodes is an "
            "EndpointSelector)",
            cnp_out({"toNodes": [expression("In")]}), "operator In needs values",
            ("spec", "egress", 0, "toNodes", 0, *ME0), NODES_ON),
    Refusal("... and in a fromNodes selector (pkg/policy/api/ingress.go "
            "IngressCommonRule.FromNodes)",
            cnp_in({"fromNodes": [expression("In")]}), "operator In needs values",
            (*KP0, "fromNodes", 0, *ME0), NODES_ON),
]
# fmt: on


@pytest.mark.parametrize("row", NODE_REFUSALS, ids=lambda row: row.source[:60])
def test_a_node_selector_the_model_refuses_says_why_and_where(row: Refusal) -> None:
    with pytest.raises(InvalidPolicy) as caught:
        parse_document(row.doc, row.ctx)
    assert (caught.value.message, caught.value.path) == (row.message, row.path), row.source


def peer_kind_text(rules: list[Rule]) -> tuple[str, str]:
    peer = only_peer(rules)
    return (peer.kind, peer.text)


def icmp_port(rules: list[Rule]) -> tuple[int | None, list[str]]:
    return (only_port(rules).port, sorted(only_port(rules).protocols))


# fmt: off
NODE_AND_ICMP_PARSED = [
    Parsed("s4/s14: toNodes selects nodes (pkg/policy/api/egress.go EgressCommonRule.ToNodes, "
           "with enable-node-selector-labels): a nodes peer, not one of unknown addresses",
           cnp_out({"toNodes": [{}]}), peer_kind_text, ("nodes", "toNodes"), NODES_ON),
    Parsed("s4: ... and fromNodes (pkg/policy/api/ingress.go IngressCommonRule.FromNodes)",
           cnp_in({"fromNodes": [FE_SEL]}), peer_kind_text, ("nodes", "fromNodes"), NODES_ON),
    Parsed("s16: ICMP type 0 (echo reply) is in range 0-255 (pkg/policy/api/icmp.go "
           "ICMPField.Type), an ICMP port rule and not a refusal",
           cnp_in(icmp(type=0)), icmp_port, (0, ["ICMP"])),
    Parsed("s16: ... written as the string \"0\" too (ICMPField.Type is an IntOrString)",
           cnp_in(icmp(type="0")), icmp_port, (0, ["ICMP"])),
    Parsed("s16: ... and under family IPv6 an ICMPv6 port rule",
           cnp_in(icmp(family="IPv6", type=0)), icmp_port, (0, ["ICMPv6"])),
]
# fmt: on


@pytest.mark.parametrize("row", NODE_AND_ICMP_PARSED, ids=lambda row: row.pins[:60])
def test_node_selectors_and_icmp_type_0_parse_into(row: Parsed) -> None:
    assert row.view(parse_document(row.doc, row.ctx)) == row.expected, row.pins


# fmt: off
NODE_VERDICTS = [
    Verdict("s4/s17: a toNodes peer selects nodes, never the world (pkg/policy/api/egress.go "
            "EgressCommonRule.ToNodes): egress to a world address is dropped, not unknown",
            cnp_out({"toNodes": [{}]}), WORLD, DROPPED,
            f"{CNP_NOT_APPLY_OUT}toNodes: does not select the world outside the mesh", "egress",
            ctx=NODES_ON),
    Verdict("s4: ... nor a pod: egress to one is dropped",
            cnp_out({"toNodes": [{}]}), FE, DROPPED,
            f"{CNP_NOT_APPLY_OUT}toNodes: never a pod", "egress", ctx=NODES_ON),
]
# fmt: on


@pytest.mark.parametrize("row", NODE_VERDICTS, ids=lambda row: row.pins[:60])
def test_a_node_selector_decides_and_explains(row: Verdict) -> None:
    policy = ClusterPolicy(row.ctx.cluster_name, tuple(parse_document(row.doc, row.ctx)))
    decision = decide_direction(policy, row.direction, BE, row.peer, row.flow)
    assert decision.outcome is row.outcome, (row.pins, decision.reasons)
    if row.reason is not None:
        assert decision.reasons[-1] == f"{row.direction} at c1: {row.reason}", row.pins


# ---------------------------------------------------------------------------------------------
# A label key's source prefix, and the selector shape errors a NetworkPolicy gets from the parser.


# fmt: off
SPLIT_KEYS = [
    ("pkg/labels/labels.go parseSource: the source ends at the first colon, the rest is the key",
     "k8s:a:b", ("k8s", "a:b")),
    ("pkg/labels: no colon, no source: k8s alone is a key under any:", "k8s", ("any", "k8s")),
    ("pkg/labels LabelSourceCIDR = \"cidr\"", "cidr:10.0.0.0/8", ("cidr", "10.0.0.0/8")),
    ("pkg/labels LabelSourceUnspec = \"unspec\"", "unspec:app", ("unspec", "app")),
    ("pkg/labels LabelSourceReserved = \"reserved\"", "reserved:host", ("reserved", "host")),
]
# fmt: on


@pytest.mark.parametrize(("source", "key", "expected"), SPLIT_KEYS, ids=lambda v: str(v)[:40])
def test_a_label_key_splits_into_source_and_key(
    source: str, key: str, expected: tuple[str, str]
) -> None:
    assert split_key(key) == expected, source


SEL = ("spec", "podSelector")
EXPR0 = (*SEL, "matchExpressions", 0)

# fmt: off
SELECTOR_REFUSALS = [
    Refusal("NetworkPolicySpec.podSelector is a LabelSelector object",
            knp({"podSelector": "x"}), "expected a mapping, got str", SEL),
    Refusal("apimachinery LabelSelector's fields are matchLabels and matchExpressions",
            knp({"podSelector": {"foo": 1}}),
            "unknown field 'foo' (expected one of: matchLabels, matchExpressions)",
            (*SEL, "foo")),
    Refusal("LabelSelector.matchExpressions is a list of LabelSelectorRequirement objects",
            knp({"podSelector": {"matchExpressions": ["x"]}}),
            "expected a mapping, got str", EXPR0),
    Refusal("LabelSelectorRequirement's fields are key, operator and values",
            knp({"podSelector": {"matchExpressions": [
                {"key": "a", "operator": "In", "values": ["b"], "bar": 1}]}}),
            "unknown field 'bar' (expected one of: key, operator, values)", (*EXPR0, "bar")),
    Refusal("apimachinery ValidateLabelSelectorRequirement: the operators are In, NotIn, "
            "Exists and DoesNotExist",
            knp({"podSelector": {"matchExpressions": [{"key": "a", "operator": "Foo"}]}}),
            "operator must be In, NotIn, Exists or DoesNotExist, not 'Foo'", EXPR0),
    Refusal("LabelSelectorRequirement.values is a list of strings",
            knp({"podSelector": {"matchExpressions": [
                {"key": "a", "operator": "In", "values": "x"}]}}),
            "expected a list, got str", (*EXPR0, "values")),
]
# fmt: on


@pytest.mark.parametrize("row", SELECTOR_REFUSALS, ids=lambda row: row.source[:60])
def test_a_selector_the_model_refuses_says_why_and_where(row: Refusal) -> None:
    with pytest.raises(InvalidPolicy) as caught:
        parse_document(row.doc, row.ctx)
    assert (caught.value.message, caught.value.path) == (row.message, row.path), row.source


def origins_and_subjects(rules: list[Rule]) -> list[tuple[str, str]]:
    return [(rule.origin, str(rule.subject)) for rule in rules]


ING = {"endpointSelector": {"matchLabels": {"app": "a"}}, "ingress": [{}]}
SUBJ_A_DEMO = "{any:app=a, k8s:io.kubernetes.pod.namespace=demo}"

# fmt: off
DOCUMENTS_PARSED = [
    Parsed("CRD schema: a CiliumNetworkPolicy has a status (CiliumNetworkPolicyStatus, the "
           "status subresource); a document carrying one is a policy like any other",
           {**cnp({}), "spec": ING, "status": {}}, origins_and_subjects,
           [("CNP demo/p spec", SUBJ_A_DEMO)]),
    Parsed("pkg/k8s/apis/cilium.io/v2 CiliumNetworkPolicy.Parse: spec and specs both yield "
           "rules, spec first",
           {**cnp({}), "spec": ING, "specs": [ING]}, origins_and_subjects,
           [("CNP demo/p spec", SUBJ_A_DEMO), ("CNP demo/p specs[0]", SUBJ_A_DEMO)]),
    Parsed("apiserver: a cluster-scoped object has no namespace (rest.BeforeCreate clears "
           "it), so a CiliumClusterwideNetworkPolicy's metadata.namespace scopes nothing",
           {"apiVersion": "cilium.io/v2", "kind": "CiliumClusterwideNetworkPolicy",
            "metadata": {"name": "c", "namespace": "n"}, "spec": ING},
           origins_and_subjects, [("CCNP c spec", "{any:app=a}")]),
]
# fmt: on


@pytest.mark.parametrize("row", DOCUMENTS_PARSED, ids=lambda row: row.pins[:60])
def test_a_document_parses_into_rules_named_by_origin(row: Parsed) -> None:
    assert row.view(parse_document(row.doc, row.ctx)) == row.expected, row.pins


# fmt: off
TOP_LEVEL_REFUSALS: list[tuple[str, Any, str, tuple[str | int, ...]]] = [
    ("a manifest document is an object (apimachinery runtime.Object)",
     ["x"], "expected a mapping, got list", ()),
    ("CRD schema: CiliumNetworkPolicy's top-level fields; strict field validation rejects "
     "others", {**cnp({}), "spec": ING, "foo": 1},
     "unknown field 'foo' (expected one of: apiVersion, kind, metadata, spec, specs, status)",
     ("foo",)),
]
# fmt: on


@pytest.mark.parametrize(("source", "doc", "message", "path"), TOP_LEVEL_REFUSALS)
def test_a_document_that_is_not_a_policy_object_is_refused(
    source: str, doc: Any, message: str, path: tuple[str | int, ...]
) -> None:
    with pytest.raises(InvalidPolicy) as caught:
        parse_document(doc, LOCAL_ON)
    assert (caught.value.message, caught.value.path) == (message, path), source
