"""What mutation testing of ``policy/validate.py`` showed nothing pinned (docs/mutation.md): which
documents :func:`validate` rejects, with which message and at which path, per Cilium release.

Three layers, as docs/cilium-semantics.md s14 lists them: the CRD's structural schema (Cilium
1.18.2, ``pkg/k8s/apis/cilium.io/client/crds/v2/``) with the release's enum gates, ObjectMeta's
labels (k8s.io/apimachinery ``ValidateLabels``), and Kubernetes NetworkPolicy validation
(kubernetes ``pkg/apis/networking/validation/validation.go``, ``ValidateNetworkPolicy``). Each
row's id or comment names its source.
"""

from __future__ import annotations

from typing import Any

import pytest
from packaging.version import Version

from pytest_clustermesh.policy.validate import ValidationProblem, validate

ES: dict[str, Any] = {"endpointSelector": {}}
ING0 = ("spec", "ingress", 0)
PORT0 = (*ING0, "toPorts", 0, "ports", 0)
KNP_ING0 = ("spec", "ingress", 0)
KNP_EGR0 = ("spec", "egress", 0)
ENTITIES_1_18 = (
    "all, world, cluster, host, init, ingress, unmanaged, remote-node, health, none, kube-apiserver"
)
EGRESS_FIELDS = (
    "authentication, icmps, toCIDR, toCIDRSet, toEndpoints, toEntities, toFQDNs, toGroups, "
    "toNodes, toPorts, toRequires, toServices"
)
INGRESS_DENY_FIELDS = (
    "fromCIDR, fromCIDRSet, fromEndpoints, fromEntities, fromGroups, fromNodes, fromRequires, "
    "icmps, toPorts"
)
VALUE_RULE = (
    "(at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit)"
)


def cnp(spec: Any, **metadata: Any) -> dict[str, Any]:
    meta = {"name": "p", "namespace": "ns", **metadata}
    return {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": meta,
        "spec": spec,
    }


def knp(spec: Any, **metadata: Any) -> dict[str, Any]:
    meta = {"name": "k", "namespace": "ns", **metadata}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta,
        "spec": spec,
    }


def port_entry(port: Any) -> dict[str, Any]:
    """A CNP whose one ingress entry has one port, ``port``."""
    return cnp({**ES, "ingress": [{"toPorts": [{"ports": [{"port": port}]}]}]})


def knp_port(**port: Any) -> dict[str, Any]:
    """A KNP whose one ingress rule has one port."""
    return knp({"podSelector": {}, "ingress": [{"ports": [port]}]})


def knp_peer(direction: str, peer: Any) -> dict[str, Any]:
    """A KNP whose one ``direction`` rule has one peer (``from``/``to``)."""
    key = "from" if direction == "ingress" else "to"
    return knp({"podSelector": {}, direction: [{key: [peer]}]})


def ip_block(cidr: str, *excepts: str) -> dict[str, Any]:
    block: dict[str, Any] = {"cidr": cidr}
    if excepts:
        block["except"] = list(excepts)
    return knp_peer("ingress", {"ipBlock": block})


def labelled(key: str, value: Any = "v") -> dict[str, Any]:
    """A CNP with one metadata label."""
    return cnp({**ES, "ingress": [{}]}, labels={key: value})


def problem(doc: dict[str, Any], release: str = "1.18") -> tuple[str, tuple[Any, ...]] | None:
    try:
        validate(doc, Version(release), {})
    except ValidationProblem as exc:
        return exc.message, exc.path
    return None


# -- the CRD schema: the messages ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "release", "message", "path"),
    [
        pytest.param(
            cnp({**ES, "ingress": [{}], "enableDefaultDeny": {"ingress": 1}}),
            "1.18",
            "expected true or false, got a number 1",
            ("spec", "enableDefaultDeny", "ingress"),
            id="CRD-enableDefaultDeny.ingress-is-boolean-no-quote-hint-for-a-number",
        ),
        pytest.param(
            cnp({**ES, "ingress": [{}], "enableDefaultDeny": "x"}),
            "1.18",
            "expected a mapping, got a string 'x'",
            ("spec", "enableDefaultDeny"),
            id="CRD-enableDefaultDeny-is-an-object",
        ),
        pytest.param(
            cnp({**ES, "ingress": [{"toPorts": [{"ports": [{"port": "80", "endPort": "x"}]}]}]}),
            "1.18",
            "expected a whole number, got a string 'x'",
            (*PORT0, "endPort"),
            id="CRD-endPort-is-an-integer",
        ),
        pytest.param(
            port_entry(1.5),
            "1.18",
            "expected a string, got a number 1.5 (quote it)",
            (*PORT0, "port"),
            id="CRD-port-is-a-string-float",
        ),
        pytest.param(
            port_entry(True),
            "1.18",
            "expected a string, got true/false True (quote it)",
            (*PORT0, "port"),
            id="CRD-port-is-a-string-bool",
        ),
        pytest.param(
            port_entry({}),
            "1.18",
            "expected a string, got dict {}",
            (*PORT0, "port"),
            id="CRD-port-is-a-string-mapping",
        ),
        pytest.param(
            port_entry(["80"]),
            "1.18",
            "expected a string, got a list ['80']",
            (*PORT0, "port"),
            id="CRD-port-is-a-string-list-no-quote-hint",
        ),
        pytest.param(
            cnp({**ES, "egress": [{"toCIDR": [None]}]}),
            "1.18",
            "expected a string, got nothing None",
            ("spec", "egress", 0, "toCIDR", 0),
            id="CRD-toCIDR-items-are-strings-a-null-list-item-is-not-pruned",
        ),
        pytest.param(
            cnp({**ES, "egress": [{"toCIDR": ["10.0.0.1"]}]}),
            "1.18",
            "'10.0.0.1' is not a valid cidr",
            ("spec", "egress", 0, "toCIDR", 0),
            id="CRD-format-cidr-needs-a-prefix-length-net.ParseCIDR",
        ),
        pytest.param(
            cnp({**ES, "egress": [{"rules": {}}]}),
            "1.18",
            f"unknown field 'rules' (expected one of: {EGRESS_FIELDS})",
            ("spec", "egress", 0, "rules"),
            id="CRD-rules-belongs-in-toPorts-not-the-egress-entry-(not-a-deny-message)",
        ),
        pytest.param(
            cnp({**ES, "egress": [{"toPortz": []}]}),
            "1.18",
            f"unknown field 'toPortz' (did you mean 'toPorts'? expected one of: {EGRESS_FIELDS})",
            ("spec", "egress", 0, "toPortz"),
            id="CRD-additionalProperties-false-with-a-suggestion",
        ),
        pytest.param(
            cnp({**ES, "egress": [{"qqqqqqqqqqq": []}]}),
            "1.18",
            f"unknown field 'qqqqqqqqqqq' (expected one of: {EGRESS_FIELDS})",
            ("spec", "egress", 0, "qqqqqqqqqqq"),
            id="CRD-additionalProperties-false-nothing-close",
        ),
        pytest.param(
            cnp({**ES, "ingressDeny": [{"toPortz": []}]}),
            "1.18",
            "unknown field 'toPortz' (did you mean 'toPorts'? expected one of: "
            f"{INGRESS_DENY_FIELDS})",
            ("spec", "ingressDeny", 0, "toPortz"),
            id="CRD-an-unknown-field-in-a-deny-entry-is-not-the-L7-message",
        ),
        pytest.param(
            cnp(
                {
                    **ES,
                    "egressDeny": [
                        {
                            "toPorts": [
                                {"ports": [{"port": "53"}], "rules": {"dns": [{"matchName": "a"}]}}
                            ]
                        }
                    ],
                }
            ),
            "1.18",
            "deny rules do not support L7 rules (security/policy/deny.rst)",
            ("spec", "egressDeny", 0, "toPorts", 0, "rules"),
            id="CRD-egressDeny-PortDenyRule-has-no-rules-security/policy/deny.rst",
        ),
        pytest.param(
            cnp({**ES, "ingressDeny": [{"fromEntities": [{"rules": 1}]}]}),
            "1.18",
            f"unknown entity {{'rules': 1}} (expected one of {ENTITIES_1_18}; case matters)",
            ("spec", "ingressDeny", 0, "fromEntities", 0),
            id="CRD-entity-enum-a-mapping-in-a-deny-entry-is-not-the-L7-message",
        ),
        pytest.param(
            cnp({**ES, "ingress": [{"fromEntities": ["VRRP"]}]}),
            "1.19",
            f"unknown entity 'VRRP' (expected one of {ENTITIES_1_18}; case matters)",
            (*ING0, "fromEntities", 0),
            id="entity-enum-1.19-a-protocol-name-there-is-no-version-gate-message",
        ),
        pytest.param(
            cnp(
                {
                    **ES,
                    "ingress": [
                        {"toPorts": [{"ports": [{"port": "80", "protocol": "cluster-mesh"}]}]}
                    ],
                }
            ),
            "1.20",
            "not valid: 'cluster-mesh' (expected one of TCP, UDP, SCTP, ANY, VRRP, IGMP, GRE, "
            "IPIP, IPV6, ESP, AH; case matters)",
            (*PORT0, "protocol"),
            id="protocol-enum-1.20-an-entity-name-there-is-no-version-gate-message",
        ),
        # A value gated in one enum is no version question in another: VRRP is a protocol of
        # 1.19 but an entity in no release, cluster-mesh an entity of 1.20 but no protocol.
        pytest.param(
            cnp({**ES, "ingress": [{"fromEntities": ["VRRP"]}]}),
            "1.18",
            f"unknown entity 'VRRP' (expected one of {ENTITIES_1_18}; case matters)",
            (*ING0, "fromEntities", 0),
            id="entity-enum-1.18-a-protocol-gated-at-1.19-is-still-no-entity",
        ),
        pytest.param(
            cnp(
                {
                    **ES,
                    "ingress": [
                        {"toPorts": [{"ports": [{"port": "80", "protocol": "cluster-mesh"}]}]}
                    ],
                }
            ),
            "1.19",
            "not valid: 'cluster-mesh' (expected one of TCP, UDP, SCTP, ANY, VRRP, IGMP; case "
            "matters)",
            (*PORT0, "protocol"),
            id="protocol-enum-1.19-an-entity-gated-at-1.20-is-still-no-protocol",
        ),
    ],
)
def test_schema_messages(
    doc: dict[str, Any], release: str, message: str, path: tuple[Any, ...]
) -> None:
    assert problem(doc, release) == (message, path)


@pytest.mark.parametrize(
    "cidr",
    [
        pytest.param("10.0.0.1/8", id="CRD-format-cidr-is-net.ParseCIDR-host-bits-may-be-set-v4"),
        pytest.param("2001:db8::1/32", id="CRD-format-cidr-host-bits-may-be-set-v6"),
    ],
)
def test_schema_cidr_with_host_bits_is_accepted(cidr: str) -> None:
    assert problem(cnp({**ES, "egress": [{"toCIDR": [cidr]}]})) is None


def test_the_exception_reads_as_its_message() -> None:
    with pytest.raises(ValidationProblem) as caught:
        validate(port_entry(1.5), Version("1.18"), {})
    assert str(caught.value) == "expected a string, got a number 1.5 (quote it)"
    assert caught.value.path == (*PORT0, "port")


# -- ObjectMeta labels: ValidateLabels (k8s.io/apimachinery pkg/apis/meta/v1/validation) ----------

NAME_63 = "a" * 63
PREFIX_253 = ".".join(["a" * 63] * 3) + "." + "a" * 61  # IsDNS1123Subdomain: at most 253


@pytest.mark.parametrize(
    ("key", "value"),
    [
        pytest.param(NAME_63, "v", id="IsQualifiedName-name-of-63-characters"),
        pytest.param(f"{PREFIX_253}/n", "v", id="IsQualifiedName-prefix-of-253-characters"),
        pytest.param("example.com/n", "v", id="IsQualifiedName-a-DNS-subdomain-prefix"),
        pytest.param("a", "v" * 63, id="IsValidLabelValue-value-of-63-characters"),
        pytest.param("a", "", id="IsValidLabelValue-empty-value"),
    ],
)
def test_label_accepted(key: str, value: str) -> None:
    assert len(PREFIX_253) == 253
    assert problem(labelled(key, value)) is None


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        pytest.param(
            "a" * 64, "v", f"'{'a' * 64}' is not a valid label key", id="IsQualifiedName-name-64"
        ),
        pytest.param(
            f"{PREFIX_253}a/n",
            "v",
            f"'{PREFIX_253}a/n' is not a valid label key",
            id="IsQualifiedName-prefix-254",
        ),
        pytest.param(
            "Example.com/n",
            "v",
            "'Example.com/n' is not a valid label key",
            id="IsQualifiedName-prefix-is-a-lower-case-DNS-subdomain",
        ),
        pytest.param("-a", "v", "'-a' is not a valid label key", id="IsQualifiedName-name-start"),
        pytest.param(
            "a",
            "v" * 64,
            f"'{'v' * 64}' is not a valid label value {VALUE_RULE}",
            id="IsValidLabelValue-value-64",
        ),
        pytest.param(
            "a", "-v", f"'-v' is not a valid label value {VALUE_RULE}", id="IsValidLabelValue-start"
        ),
        pytest.param(
            "a",
            True,
            "expected a string, got true/false (quote it)",
            id="ObjectMeta-labels-map[string]string-bool",
        ),
        pytest.param(
            "a",
            1.5,
            "expected a string, got a number (quote it)",
            id="ObjectMeta-labels-map[string]string-float",
        ),
        pytest.param(
            "a",
            None,
            "expected a string, got nothing (quote it)",
            id="ObjectMeta-labels-map[string]string-unpruned-null",
        ),
    ],
)
def test_label_rejected(key: str, value: Any, message: str) -> None:
    assert problem(labelled(key, value)) == (message, ("metadata", "labels", key))


# -- Kubernetes NetworkPolicy: ValidateNetworkPolicy (pkg/apis/networking/validation) ------------


@pytest.mark.parametrize(
    ("doc", "message", "path"),
    [
        pytest.param(
            knp({"podSelector": {"matchLabels": {"-a": "v"}}}),
            "'-a' is not a valid label key",
            ("spec", "podSelector", "matchLabels", "-a"),
            id="ValidateNetworkPolicySpec-podSelector-ValidateLabelSelector-key",
        ),
        pytest.param(
            knp_peer("ingress", {"podSelector": {"matchLabels": {"a": 1}}}),
            "expected a string, got a number 1 (quote it)",
            (*KNP_ING0, "from", 0, "podSelector", "matchLabels", "a"),
            id="NetworkPolicyPeer-podSelector-matchLabels-map[string]string",
        ),
        pytest.param(
            knp_peer("egress", {"namespaceSelector": {"matchLabels": {"a": "-v"}}}),
            f"'-v' is not a valid label value {VALUE_RULE}",
            (*KNP_EGR0, "to", 0, "namespaceSelector", "matchLabels", "a"),
            id="ValidateNetworkPolicyPeer-egress-to-namespaceSelector-label-value",
        ),
        pytest.param(
            knp_peer("egress", {"podSelector": {"matchLabels": {"-a": "v"}}}),
            "'-a' is not a valid label key",
            (*KNP_EGR0, "to", 0, "podSelector", "matchLabels", "-a"),
            id="ValidateNetworkPolicyPeer-egress-to-podSelector-label-key",
        ),
        pytest.param(
            knp(
                {
                    "podSelector": {},
                    "ingress": ["x", {"from": [{"podSelector": {"matchLabels": {"-a": "v"}}}]}],
                }
            ),
            "'-a' is not a valid label key",
            ("spec", "ingress", 1, "from", 0, "podSelector", "matchLabels", "-a"),
            id="a-malformed-rule-does-not-hide-the-next-rule",
        ),
        pytest.param(
            knp(
                {
                    "podSelector": {},
                    "ingress": [{"from": ["x", {"namespaceSelector": {"matchLabels": {"a": 1}}}]}],
                }
            ),
            "expected a string, got a number 1 (quote it)",
            (*KNP_ING0, "from", 1, "namespaceSelector", "matchLabels", "a"),
            id="a-malformed-peer-does-not-hide-the-next-peer",
        ),
    ],
)
def test_knp_selectors(doc: dict[str, Any], message: str, path: tuple[Any, ...]) -> None:
    assert problem(doc) == (message, path)


@pytest.mark.parametrize(
    "port",
    [
        pytest.param({"protocol": "TCP", "port": 1}, id="IsValidPortNum-1-TCP"),
        pytest.param({"protocol": "UDP", "port": 65535}, id="IsValidPortNum-65535-UDP"),
        pytest.param({"protocol": "SCTP", "port": "http"}, id="IsValidPortName-SCTP"),
        pytest.param({"port": "a" * 15}, id="IsValidPortName-15-characters"),
        pytest.param({"port": "h2-c"}, id="IsValidPortName-a-hyphen-inside"),
    ],
)
def test_knp_port_accepted(port: dict[str, Any]) -> None:
    assert problem(knp_port(**port)) is None


@pytest.mark.parametrize(
    ("port", "message", "where"),
    [
        pytest.param(
            {"protocol": "udp"},
            "'udp' is not one of TCP, UDP, SCTP (case matters)",
            "protocol",
            id="ValidateNetworkPolicyPort-protocol-udp-lower-case",
        ),
        pytest.param(
            {"protocol": "sctp"},
            "'sctp' is not one of TCP, UDP, SCTP (case matters)",
            "protocol",
            id="ValidateNetworkPolicyPort-protocol-sctp-lower-case",
        ),
        pytest.param(
            {"port": "a" * 16},
            f"'{'a' * 16}' is not a valid port name: at most 15 characters",
            "port",
            id="IsValidPortName-16-characters",
        ),
        pytest.param(
            {"port": "-http"},
            "'-http' is not a valid port name: no hyphen at either end",
            "port",
            id="IsValidPortName-start",
        ),
        pytest.param(
            {"port": "Http"},
            "'Http' is not a valid port name: only a-z, 0-9 and '-'",
            "port",
            id="IsValidPortName-lower-case",
        ),
        pytest.param(
            {"port": True},
            "expected a port number or name",
            "port",
            id="NetworkPolicyPort-port-IntOrString-bool",
        ),
        pytest.param(
            {"port": 80.0},
            "expected a port number or name",
            "port",
            id="NetworkPolicyPort-port-IntOrString-float",
        ),
        pytest.param({"port": 0}, "port 0 is out of range 1-65535", "port", id="IsValidPortNum-0"),
        pytest.param(
            {"port": 65536}, "port 65536 is out of range 1-65535", "port", id="IsValidPortNum-65536"
        ),
        # IntOrString: a JSON string is Type String, so validated as a name (apimachinery
        # intstr.UnmarshalJSON, then IsValidPortName, which needs a letter).
        pytest.param(
            {"port": "80"},
            "'80' is not a valid port name: at least one letter (a port number is written "
            "without quotes)",
            "port",
            id="IsValidPortName-a-number-in-quotes-is-a-name",
        ),
        pytest.param(
            {"port": "a--b"},
            "'a--b' is not a valid port name: no two hyphens in a row",
            "port",
            id="IsValidPortName-consecutive-hyphens-RFC-6335",
        ),
    ],
)
def test_knp_port_rejected(port: dict[str, Any], message: str, where: str) -> None:
    assert problem(knp_port(**port)) == (message, (*KNP_ING0, "ports", 0, where))


def test_knp_port_in_egress() -> None:
    doc = knp({"podSelector": {}, "egress": [{"ports": [{"protocol": "tcp"}]}]})
    assert problem(doc) == (
        "'tcp' is not one of TCP, UDP, SCTP (case matters)",
        (*KNP_EGR0, "ports", 0, "protocol"),
    )


@pytest.mark.parametrize(
    "doc",
    [
        pytest.param(ip_block("10.0.0.1/8"), id="ValidateIPBlock-cidr-host-bits-may-be-set"),
        pytest.param(
            ip_block("10.0.0.0/8", "10.1.0.1/16"), id="ValidateIPBlock-except-host-bits-may-be-set"
        ),
        pytest.param(ip_block("2001:db8::/32", "2001:db8:1::/48"), id="ValidateIPBlock-v6-within"),
    ],
)
def test_knp_ip_block_accepted(doc: dict[str, Any]) -> None:
    assert problem(doc) is None


BLOCK = (*KNP_ING0, "from", 0, "ipBlock")


@pytest.mark.parametrize(
    ("doc", "message", "path"),
    [
        pytest.param(
            ip_block("10.0.0.0"),
            "'10.0.0.0' is not a valid CIDR",
            (*BLOCK, "cidr"),
            id="ValidateIPBlock-cidr-needs-a-prefix-length",
        ),
        pytest.param(
            ip_block("10.0.0.0/8", "x"),
            "'x' is not a valid CIDR",
            (*BLOCK, "except", 0),
            id="ValidateIPBlock-except-is-a-CIDR",
        ),
        pytest.param(
            ip_block("10.0.0.0/8", "10.0.0.0/8"),
            "10.0.0.0/8 must be strictly within 10.0.0.0/8",
            (*BLOCK, "except", 0),
            id="ValidateIPBlock-except-equal-to-cidr",
        ),
        pytest.param(
            ip_block("10.0.0.0/8", "::/64"),
            "::/64 must be strictly within 10.0.0.0/8",
            (*BLOCK, "except", 0),
            id="ValidateIPBlock-except-of-the-other-family",
        ),
        pytest.param(
            ip_block("10.0.0.0/8", "11.0.0.0/16"),
            "11.0.0.0/16 must be strictly within 10.0.0.0/8",
            (*BLOCK, "except", 0),
            id="ValidateIPBlock-except-outside",
        ),
    ],
)
def test_knp_ip_block_rejected(doc: dict[str, Any], message: str, path: tuple[Any, ...]) -> None:
    assert problem(doc) == (message, path)


def test_icmps_beside_to_ports_is_refused_at_the_icmps() -> None:
    # pkg/policy/api/rule_validation.go: "the ICMPs block may only be present without ToPorts".
    doc = cnp(
        {**ES, "ingress": [{"icmps": [{"fields": [{"type": 8}]}], "toPorts": [{"ports": []}]}]}
    )
    found = problem(doc)
    assert found is not None and found[1] == (*ING0, "icmps")
    assert found[0].startswith("the icmps block may only be present without toPorts")


# -- more rows from a mutation sample -----------------------------------------------------------

CCNP_SPECS: dict[str, Any] = {
    "apiVersion": "cilium.io/v2",
    "kind": "CiliumClusterwideNetworkPolicy",
    "metadata": {"name": "cp"},
    "specs": [{**ES, "ingress": [{"fromEndpoints": [{}], "fromCIDR": ["10.0.0.0/8"]}]}],
}
DNS_INGRESS = {"ports": [{"port": "53", "protocol": "UDP"}], "rules": {"dns": [{"matchName": "a"}]}}


@pytest.mark.parametrize(
    ("doc", "message", "path"),
    [
        pytest.param(
            CCNP_SPECS,
            "combining fromEndpoints and fromCIDR in one rule is not supported (the agent "
            "rejects it; write two rules)",
            ("specs", 0, "ingress", 0, "fromCIDR"),
            id="IngressCommonRule.Validate: one L3 peer kind per rule, in each of specs too",
        ),
        pytest.param(
            cnp({**ES, "egress": [{"toNodes": [{}]}]}),
            "toNodes needs the agent option enable-node-selector-labels=true (off by default; "
            "the agent rejects the rule without it)",
            ("spec", "egress", 0, "toNodes"),
            id="EgressCommonRule.Validate: toNodes needs enable-node-selector-labels",
        ),
        pytest.param(
            cnp({**ES, "ingress": [{"toPorts": [DNS_INGRESS]}]}),
            "DNS rules are not allowed on ingress",
            (*ING0, "toPorts", 0, "rules", "dns"),
            id="rule_validation.go PortRule.sanitize: no DNS rules on ingress",
        ),
        pytest.param(
            cnp({**ES, "ingress": [{}]}, labls={"a": "b"}),
            "unknown field 'labls' (did you mean 'labels'?): strict field validation rejects it",
            ("metadata", "labls"),
            id="apimachinery ObjectMeta under strict field validation: at the unknown field",
        ),
        pytest.param(
            cnp({**ES, "ingress": [{}]}, labels=["a"]),
            "expected a mapping",
            ("metadata", "labels"),
            id="apimachinery ObjectMeta.labels is a map[string]string",
        ),
        pytest.param(
            knp_port(port="-Http"),
            "'-Http' is not a valid port name: only a-z, 0-9 and '-'; no hyphen at either end",
            (*KNP_ING0, "ports", 0, "port"),
            id="apimachinery IsValidPortName: every problem, separated by semicolons",
        ),
        pytest.param(
            cnp({**ES, "ingress": [{"fromX": [], "fromY": []}]}),
            "unknown field 'fromX' (did you mean 'fromCIDR'? expected one of: authentication, "
            "fromCIDR, fromCIDRSet, fromEndpoints, fromEntities, fromGroups, fromNodes, "
            "fromRequires, icmps, toPorts)",
            (*ING0, "fromX"),
            id="CRD schema, strict fields: the first unknown field's own path",
        ),
        pytest.param(
            cnp({**ES, "ingress": [{}], "log": {"value": "a\x07b"}}),
            "'a\\x07b' is not valid here (it must match ^\\PC*$)",
            ("spec", "log", "value"),
            id="CRD LogConfig.value pattern ^\\PC*$ (RE2: no control character)",
        ),
    ],
)
def test_more_rejections(doc: dict[str, Any], message: str, path: tuple[Any, ...]) -> None:
    assert problem(doc) == (message, path)


def test_a_log_value_of_printable_text_is_accepted() -> None:
    # CRD LogConfig.value pattern ^\PC*$: printable text, spaces included.
    assert problem(cnp({**ES, "ingress": [{}], "log": {"value": "ab c"}})) is None


def test_an_unquoted_yaml_date_is_read_as_text() -> None:
    # sigs.k8s.io/yaml (go-yaml v2) keeps a timestamp in a map[string]interface{} as its
    # string, so an unquoted date annotation reaches the API server as a string.
    import datetime

    doc = cnp({**ES, "ingress": [{}]}, annotations={"created": datetime.date(2024, 1, 1)})
    assert problem(doc) is None


# -- rows from the survivors of the full run (ad2ba3e) -------------------------------------------


@pytest.mark.parametrize(
    ("port", "message"),
    [
        # apimachinery validation.IsValidPortName lists every problem, in its order: length,
        # characters, "at least one letter (a-z)", consecutive hyphens, "must not begin or end
        # with a hyphen". The quote hint is for digits only (intstr: "80" is a name).
        pytest.param(
            "-",
            "'-' is not a valid port name: at least one letter; no hyphen at either end",
            id="IsValidPortName-no-letter-and-a-hyphen-at-the-end-no-quote-hint",
        ),
        pytest.param(
            "A",
            "'A' is not a valid port name: only a-z, 0-9 and '-'; at least one letter",
            id="IsValidPortName-an-upper-case-letter-is-no-letter-a-z",
        ),
        pytest.param(
            "http-",
            "'http-' is not a valid port name: no hyphen at either end",
            id="IsValidPortName-end",
        ),
    ],
)
def test_knp_port_name_problems(port: str, message: str) -> None:
    assert problem(knp_port(port=port)) == (message, (*KNP_ING0, "ports", 0, "port"))


def test_icmps_beside_to_ports_message() -> None:
    # pkg/policy/api/rule_validation.go EgressRule.sanitize: "the ICMPs block may only be present
    # without ToPorts. Define a separate rule to use ToPorts."
    doc = cnp(
        {
            **ES,
            "egress": [
                {
                    "toEntities": ["world"],
                    "icmps": [{"fields": [{"type": 8}]}],
                    "toPorts": [{"ports": [{"port": "80"}]}],
                }
            ],
        }
    )
    assert problem(doc) == (
        "the icmps block may only be present without toPorts (the agent rejects it; write two "
        "rules)",
        ("spec", "egress", 0, "icmps"),
    )


# -- metadata and release gates the mutation run of ad2ba3e left unpinned --------------------------

# fmt: off
LEFT_PROBLEMS = [
    pytest.param(
        cnp({**ES, "ingress": [{}]}, zzzzzzzzzz=1),
        ("unknown field 'zzzzzzzzzz': strict field validation rejects it",
         ("metadata", "zzzzzzzzzz")),
        id="ObjectMeta: an unknown field with no close match gets no suggestion",
    ),
    pytest.param(
        cnp({**ES, "ingress": [{}]}, annotations="x"),
        ("expected a mapping", ("metadata", "annotations")),
        id="ObjectMeta: annotations must be a mapping even when labels are absent",
    ),
    pytest.param(
        cnp({**ES, "ingress": [{}]}, zz=1, aa=2),
        ("unknown field 'aa': strict field validation rejects it", ("metadata", "aa")),
        id="strict field validation: of two unknown fields, the first in key order is named",
    ),
]
# fmt: on


@pytest.mark.parametrize(("doc", "expected"), LEFT_PROBLEMS)
def test_metadata_problems(doc: dict[str, Any], expected: tuple[str, tuple[Any, ...]]) -> None:
    assert problem(doc) == expected


@pytest.mark.parametrize(
    ("doc", "release"),
    [
        pytest.param(
            cnp({**ES, "egress": [{"toEntities": ["cluster-mesh"]}]}),
            "1.20",
            id="s14: the entity cluster-mesh is in the enum from Cilium 1.20 on",
        ),
        pytest.param(
            cnp({**ES}),
            "1.16",
            id="s14: before 1.18 the CRD does not require a rule section",
        ),
    ],
)
def test_release_adjusted_schema_accepts(doc: dict[str, Any], release: str) -> None:
    assert problem(doc, release) is None
