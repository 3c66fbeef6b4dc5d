"""What mutation testing of ``policy/`` showed nothing pinned (docs/mutation.md): which policy
documents the model refuses, with which message and where, and how it reads the rules whose
peers or ports it cannot resolve. Each row cites the Cilium or Kubernetes source of the rule.
"""

from __future__ import annotations

from typing import Any

import pytest
from packaging.version import Version

from pytest_clustermesh.policy import ClusterContext, InvalidPolicy, parse_document
from pytest_clustermesh.policy.rules import fqdn_match

CTX = ClusterContext("cluster1", Version("1.19"), True)
ES: dict[str, Any] = {"endpointSelector": {}}
KNP_API = "networking.k8s.io/v1"


def cnp(spec: Any = None, **doc: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": {"name": "p", "namespace": "ns"},
    }
    if spec is not None:
        document["spec"] = spec
    return {**document, **doc}


def knp(spec: Any, **metadata: Any) -> dict[str, Any]:
    meta = {"name": "k", "namespace": "ns", **metadata}
    return {"apiVersion": KNP_API, "kind": "NetworkPolicy", "metadata": meta, "spec": spec}


def ingress(*rules: Any) -> dict[str, Any]:
    return {**ES, "ingress": list(rules)}


def peer(key: str, value: Any) -> dict[str, Any]:
    return ingress({key: value})


def expression(**expr: Any) -> dict[str, Any]:
    return peer("fromEndpoints", [{"matchExpressions": [expr]}])


ING0 = ("spec", "ingress", 0)
EXPR0 = (*ING0, "fromEndpoints", 0, "matchExpressions", 0)
FIELD0 = (*ING0, "icmps", 0, "fields", 0)
PORT0 = (*ING0, "toPorts", 0, "ports", 0)
NO_NAMESPACE = {"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy"}


@pytest.mark.parametrize(
    ("source", "doc", "message", "path"),
    [
        (
            "the policy kinds: cilium.io/v2 CRDs (pkg/k8s/apis/cilium.io/v2/register.go) and "
            "networking.k8s.io/v1 NetworkPolicy",
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}},
            "'Pod' is not a policy kind (expected one of CiliumNetworkPolicy, "
            "CiliumClusterwideNetworkPolicy, NetworkPolicy)",
            ("kind",),
        ),
        (
            "pkg/k8s/apis/cilium.io/v2/register.go: CustomResourceDefinitionVersion v2",
            cnp(ingress({}), apiVersion="cilium.io/v1"),
            "must be cilium.io/v2 for a CiliumNetworkPolicy, not 'cilium.io/v1'",
            ("apiVersion",),
        ),
        (
            "apimachinery ValidateObjectMeta: name or generateName is required",
            {**NO_NAMESPACE, "metadata": {"namespace": "n"}, "spec": ingress({})},
            "metadata.name is required",
            ("metadata",),
        ),
        (
            "the CNP CRD is namespaced (scope: Namespaced)",
            {**NO_NAMESPACE, "metadata": {"name": "p"}, "spec": ingress({})},
            "a CiliumNetworkPolicy needs metadata.namespace",
            ("metadata",),
        ),
        (
            "cnp_types.go, Parse: ErrEmptyCNP (neither spec nor specs)",
            cnp(),
            "a CiliumNetworkPolicy needs spec or specs",
            (),
        ),
        (
            "pkg/policy/api/rule_validation.go, Rule.Sanitize: one of endpointSelector or "
            "nodeSelector",
            cnp({"endpointSelector": {}, "nodeSelector": {}, "ingress": [{}]}),
            "give exactly one of endpointSelector, nodeSelector",
            ("spec",),
        ),
        (
            "pkg/policy/api/rule_validation.go (1.17+): a rule with no section is rejected",
            cnp(ES),
            "rule must have at least one of ingress, ingressDeny, egress, egressDeny",
            ("spec",),
        ),
        (
            "CRD schema: enableDefaultDeny.ingress is a boolean (pkg/policy/api/rule.go)",
            cnp({**ES, "ingress": [{}], "enableDefaultDeny": {"ingress": "yes"}}),
            "expected true or false, got a string 'yes'",
            ("spec", "enableDefaultDeny", "ingress"),
        ),
        (
            "pkg/policy/api/entity.go: the entity enum (EntitySelectorMapping)",
            cnp(peer("fromEntities", ["bogus"])),
            "unknown entity 'bogus' (expected one of all, world, cluster, host, init, ingress, "
            "unmanaged, remote-node, health, none, kube-apiserver; case matters)",
            (*ING0, "fromEntities", 0),
        ),
        (
            "apimachinery LabelSelector: matchLabels is map[string]string",
            cnp(peer("fromEndpoints", [{"matchLabels": {"a": 1}}])),
            "expected a string, got a number 1 (quote it)",
            (*ING0, "fromEndpoints", 0, "matchLabels", "a"),
        ),
        (
            "apimachinery ValidateLabelSelectorRequirement: the operators",
            cnp(expression(key="a", operator="Foo")),
            "not valid: 'Foo' (expected one of In, NotIn, Exists, DoesNotExist; case matters)",
            (*EXPR0, "operator"),
        ),
        (
            "ValidateLabelSelectorRequirement: In and NotIn need values",
            cnp(expression(key="a", operator="In")),
            "operator In needs values",
            EXPR0,
        ),
        (
            "ValidateLabelSelectorRequirement: Exists and DoesNotExist take none",
            cnp(expression(key="a", operator="Exists", values=["x"])),
            "operator Exists takes no values",
            EXPR0,
        ),
        (
            "LabelSelectorRequirement: key is required",
            cnp(expression(operator="Exists")),
            "'key' is required",
            EXPR0,
        ),
        (
            "pkg/policy/api/icmp.go: ICMPField.Family is IPv4 or IPv6",
            cnp(ingress({"icmps": [{"fields": [{"family": "IPv5", "type": 8}]}]})),
            "not valid: 'IPv5' (did you mean 'IPv6'? expected one of IPv4, IPv6; case matters)",
            (*FIELD0, "family"),
        ),
        (
            "pkg/policy/api/icmp.go: an ICMP type is 0-255",
            cnp(ingress({"icmps": [{"fields": [{"type": 300}]}]})),
            "ICMP type 300 is out of range 0-255",
            (*FIELD0, "type"),
        ),
        (
            "Documentation/security/policy/language.rst, deny policies: no L7 (s3, SF8)",
            cnp(
                {
                    **ES,
                    "ingressDeny": [
                        {"toPorts": [{"ports": [{"port": "80"}], "rules": {"http": [{}]}}]}
                    ],
                }
            ),
            "deny rules do not support L7 rules (security/policy/deny.rst)",
            ("spec", "ingressDeny", 0, "toPorts", 0, "rules"),
        ),
        (
            "pkg/policy/api/l4.go, PortProtocol.sanitize: a port is 1-65535",
            cnp(ingress({"toPorts": [{"ports": [{"port": "70000"}]}]})),
            "port 70000 is out of range",
            (*PORT0, "port"),
        ),
        (
            "pkg/policy/api/l4.go: endPort is not below port (s5)",
            cnp(ingress({"toPorts": [{"ports": [{"port": "80", "endPort": 70}]}]})),
            "endPort must be a number not below port",
            (*PORT0, "endPort"),
        ),
        (
            "a NetworkPolicy is namespaced",
            knp({"podSelector": {}}, namespace=None),
            "a NetworkPolicy needs metadata.namespace",
            ("metadata",),
        ),
        (
            "k8s.io/api/networking/v1 NetworkPolicySpec is a struct: spec may be left out, "
            "but not be a list",
            knp([]),
            "expected a mapping, got list",
            ("spec",),
        ),
        (
            "pkg/apis/networking/validation ValidateNetworkPolicyPeer: ipBlock alone",
            knp({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"},
                                                             "podSelector": {}}]}]}),
            "ipBlock cannot be combined with selectors",
            ("spec", "ingress", 0, "from", 0),
        ),
        (
            "ValidateNetworkPolicySpec: policyTypes are Ingress and Egress",
            knp({"podSelector": {}, "policyTypes": ["Foo"]}),
            "unknown policy type 'Foo'; the types are Ingress and Egress",
            ("spec", "policyTypes"),
        ),
        (
            "cnp_types.go: specs is a list of rules",
            cnp(specs="x"),
            "expected a list, got a string 'x'",
            ("specs",),
        ),
    ],
    ids=lambda value: value[:40] if isinstance(value, str) else None,
)  # fmt: skip
def test_a_policy_the_model_refuses_says_why_and_where(
    source: str, doc: dict[str, Any], message: str, path: tuple[str | int, ...]
) -> None:
    with pytest.raises(InvalidPolicy) as caught:
        parse_document(doc, CTX)
    assert caught.value.message == message, source
    assert caught.value.path == path, source


def test_peers_the_model_cannot_resolve_are_opaque() -> None:
    """``toServices`` (Services without a selector) and CIDR groups stand for addresses outside
    the scenario (pkg/policy/api/service.go, pkg/policy/api/cidr.go cidrGroupRef)."""
    services = {"toServices": [{"k8sService": {"serviceName": "a", "namespace": "b"}}]}
    groups = {"toCIDRSet": [{"cidrGroupRef": "g"}]}
    for rule, text in (
        (services, "toServices (addresses the model does not know)"),
        (groups, "toCIDRSet CIDR group (addresses the model does not know)"),
    ):
        [parsed] = parse_document(cnp({**ES, "egress": [rule]}), CTX)
        [entry] = parsed.entries
        [found] = entry.peers
        assert (entry.direction, found.kind, found.text) == ("egress", "opaque", text)


def test_l7_rules_without_ports_apply_to_every_port() -> None:
    """A ``toPorts`` item without ``ports`` covers every port of TCP, UDP and SCTP
    (pkg/policy/api/l4.go: PortRule.Ports empty means all ports)."""
    [parsed] = parse_document(cnp(ingress({"toPorts": [{"rules": {"http": [{}]}}]})), CTX)
    [entry] = parsed.entries
    [rule] = entry.ports or ()
    assert rule.port is None and rule.end_port is None
    assert rule.protocols == frozenset({"TCP", "UDP", "SCTP"})
    assert rule.http is not None and len(rule.http) == 1


@pytest.mark.parametrize("icmp_type", [8, "8", "EchoRequest"])
def test_an_icmp_type_by_number_or_name(icmp_type: Any) -> None:
    """pkg/policy/api/icmp.go: ``type`` is an IntOrString, a number or a name such as
    ``EchoRequest`` (ICMPv4 type 8)."""
    doc = cnp(ingress({"icmps": [{"fields": [{"type": icmp_type}]}]}))
    [parsed] = parse_document(doc, CTX)
    [rule] = parsed.entries[0].ports or ()
    assert (rule.port, rule.protocols) == (8, frozenset({"ICMP"}))


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        # Documentation/security/policy/language.rst (DNS based), pkg/fqdn/matchpattern:
        # case-insensitive, a trailing dot ignored on either side.
        ("Example.COM.", "example.com", True),
        ("example.com", "EXAMPLE.com.", True),
        ("example.com.", "example.com", True),
        # A name ending in a dot is not "any suffix": the dot is the root, stripped.
        ("example.com", "example.co", False),
        # "*" alone matches every name; within a name it matches DNS characters but no dot.
        ("*", "a.b.example.com", True),
        ("*.example.com", "api.example.com", True),
        ("*.example.com", "a.b.example.com", False),
        ("*.example.com", "example.com", False),
        ("api-*.example.com", "api-v2_x.example.com", True),
        ("XX.example.com", "xx.example.com", True),
        # "**." (the multi-level wildcard of a ClusterNetworkPolicy domain "*.example.com",
        # pkg/k8s/cluster_network_policy.go kcnpParseFQDNSelectors): one or more whole labels.
        ("**.example.com", "api.example.com", True),
        ("**.example.com", "a.b.example.com", True),
        ("**.example.com", "example.com", False),
        ("**.example.com", "api.example.org", False),
        ("**.example.com", ".example.com", False),
        ("**.b.c", "a.x.b.c", True),
        ("**.b.c", "a.b.x", False),
    ],
)
def test_a_dns_pattern_matches_names_as_cilium_matches_them(
    pattern: str, name: str, matches: bool
) -> None:
    assert fqdn_match(pattern, name) is matches


@pytest.mark.parametrize("to_ports", [[], None])
def test_an_empty_to_ports_restricts_no_port_like_an_absent_one(to_ports: Any) -> None:
    # pkg/policy/rule.go: `if len(r.ToPorts) == 0` -> "No L4 restrictions; allowing".
    entry: dict[str, Any] = {"fromEndpoints": [{}]}
    if to_ports is not None:
        entry["toPorts"] = to_ports
    (rule,) = parse_document(cnp(ingress(entry)), CTX)
    (parsed,) = rule.entries
    assert parsed.ports is None


def test_a_prediction_table_needs_unique_endpoint_names() -> None:
    # The plugin's own contract (pairs.PredictionTable): pods are addressed by name, so two
    # endpoints of one name are a caller error, said as such.
    from pytest_clustermesh.policy import ClusterPolicy, Flow, pod_identity
    from pytest_clustermesh.policy.pairs import Endpoint, prediction_table

    pods = [
        Endpoint("a", "c1", pod_identity({"app": "a"}, "ns", {}, None, "c1")),
        Endpoint("a", "c1", pod_identity({"app": "b"}, "ns", {}, None, "c1")),
    ]
    with pytest.raises(ValueError) as caught:
        prediction_table({"c1": ClusterPolicy("c1", ())}, pods, Flow(80))
    assert caught.value.args == ("endpoint names must be unique",)
