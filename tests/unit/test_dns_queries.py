"""Table-driven tests of DNS queries as probes (``to: dns/<name>``): UDP 53 from a client to
its cluster's kube-dns, decided by the egress policy of the client, DNS L7 rules
(``rules.dns`` ``matchName``/``matchPattern``) included.

Sources: Documentation/security/policy/language.rst, "DNS based" and "DNS Policy and IP
Discovery" (a query no DNS rule allows gets REFUSED from Cilium's DNS proxy); pkg/policy/api
(``PortRuleDNS``). docs/cilium-semantics.md s17; the ClusterNetworkPolicy rows s18.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from pytest_clustermesh.backend import DnsTarget, ExternalTarget, Probe
from pytest_clustermesh.verdicts import Outcome

from ..meshworld import cnp, mesh

ALLOWED, DROPPED, REFUSED_BY_PROXY = Outcome.ALLOWED, Outcome.DROPPED, Outcome.L7_DENIED
ALL_VERSIONS = ("1.16", "1.17", "1.18", "1.19", "1.20")
FE = {"matchLabels": {"app": "frontend"}}
KUBE_DNS = {
    "matchLabels": {"k8s:io.kubernetes.pod.namespace": "kube-system", "k8s:k8s-app": "kube-dns"}
}
DOC = "language.rst 'DNS Policy and IP Discovery'"


def fe_egress(*rules: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return cnp({"endpointSelector": FE, "egress": list(rules), **extra})


def dns_rule(*names: dict[str, str], port: str = "53", protocol: str = "ANY") -> dict[str, Any]:
    return {
        "toEndpoints": [KUBE_DNS],
        "toPorts": [
            {"ports": [{"port": port, "protocol": protocol}], "rules": {"dns": list(names)}}
        ],
    }


L4_ONLY = {"toEndpoints": [KUBE_DNS], "toPorts": [{"ports": [{"port": "53"}]}]}
OTHER = {"toEndpoints": [{"matchLabels": {"app": "backend"}}]}


@dataclass(frozen=True)
class Row:
    pins: str
    policies: list[dict[str, Any]]
    name: str
    expected: Outcome
    versions: tuple[str, ...] = ALL_VERSIONS
    options: dict[str, str] = field(default_factory=dict)


# fmt: off
ROWS = [
    Row("no policy selects the client: the query is answered",
        [], "api.example.net", ALLOWED),
    Row("egress default deny with no rule to kube-dns drops the query",
        [fe_egress(OTHER)], "api.example.net", DROPPED),
    Row("an L4 allow of port 53 to kube-dns lets every name through, without the proxy",
        [fe_egress(L4_ONLY)], "anything.example.org", ALLOWED),
    Row(f"matchName lets exactly that name through the proxy ({DOC})",
        [fe_egress(dns_rule({"matchName": "api.example.net"}))], "api.example.net", ALLOWED),
    Row(f"the proxy answers a name no DNS rule lists with REFUSED: l7-deny ({DOC})",
        [fe_egress(dns_rule({"matchName": "api.example.net"}))], "www.example.net",
        REFUSED_BY_PROXY),
    Row("matchName ignores case and a trailing dot (pkg/fqdn/matchpattern)",
        [fe_egress(dns_rule({"matchName": "API.example.net."}))], "api.example.net", ALLOWED),
    Row("matchPattern '*.example.net' matches a name under example.net",
        [fe_egress(dns_rule({"matchPattern": "*.example.net"}))], "api.example.net", ALLOWED),
    Row("... but not example.net itself: '*' stands for a label's characters before the dot",
        [fe_egress(dns_rule({"matchPattern": "*.example.net"}))], "example.net",
        REFUSED_BY_PROXY),
    Row("... nor a name two labels below: '*' does not cross a dot",
        [fe_egress(dns_rule({"matchPattern": "*.example.net"}))], "a.b.example.net",
        REFUSED_BY_PROXY),
    Row("matchPattern '*' lets every name through the proxy",
        [fe_egress(dns_rule({"matchPattern": "*"}))], "www.example.org", ALLOWED),
    Row("a DNS rule on UDP 53 only covers the query (probes ask over UDP)",
        [fe_egress(dns_rule({"matchPattern": "*"}, protocol="UDP"))], "x.example.org",
        ALLOWED),
    Row("a DNS rule on TCP 53 only leaves the UDP query to egress default deny",
        [fe_egress(dns_rule({"matchPattern": "*"}, protocol="TCP"))], "x.example.org",
        DROPPED),
    Row("an L4-only allow of the same port beside a DNS rule lets every name through (Q4)",
        [fe_egress(dns_rule({"matchName": "api.example.net"}), L4_ONLY)], "www.example.org",
        ALLOWED),
    Row("an egressDeny toward kube-dns wins over the DNS rule (SF8)",
        [fe_egress(dns_rule({"matchPattern": "*"}),
                   egressDeny=[{"toEndpoints": [KUBE_DNS]}])],
        "api.example.net", DROPPED),
    Row("a policy in the other namespace does not select the client",
        [cnp({"endpointSelector": FE, "egress": [OTHER]}, namespace="other")],
        "api.example.net", ALLOWED),
]
# fmt: on


def query(sim: Any, deployment: Any, name: str, source: str = "fe") -> Outcome:
    probe = Probe("c1", source, DnsTarget(name), 53, "UDP")
    return sim.predict(deployment, probe).outcome  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("row", "version"),
    [pytest.param(row, v, id=f"{row.pins} [{v}]") for row in ROWS for v in row.versions],
)
def test_dns_queries(row: Row, version: str) -> None:
    sim, deployment = mesh(version, row.options, {"c1": row.policies})
    assert query(sim, deployment, row.name) is row.expected


def test_a_refused_query_names_the_dns_rules() -> None:
    sim, deployment = mesh("1.19", {}, {"c1": [fe_egress(dns_rule({"matchName": "a.example"}))]})
    result = sim.predict(deployment, Probe("c1", "fe", DnsTarget("b.example"), 53, "UDP"))
    assert (
        result.detail
        == "fe-c1-0 -> kube-dns of c1: query for b.example refused by Cilium's DNS proxy (REFUSED)"
    )
    assert any(
        "the DNS proxy refuses the query for b.example: it matches no DNS rule of CNP demo/p"
        in line
        and "(a.example)" in line
        for line in result.explanation
    )


def test_a_dropped_query_carries_the_models_evidence() -> None:
    sim, deployment = mesh("1.19", {}, {"c1": [fe_egress(OTHER)]})
    result = sim.predict(deployment, Probe("c1", "fe", DnsTarget("a.example"), 53, "UDP"))
    assert result.outcome is DROPPED and result.evidence is not None


KCNP_ON = {"enable-k8s-cluster-network-policy": "true"}


def kcnp_domains(*names: str) -> dict[str, Any]:
    return {
        "apiVersion": "policy.networking.k8s.io/v1alpha2",
        "kind": "ClusterNetworkPolicy",
        "metadata": {"name": "names"},
        "spec": {
            "tier": "Admin",
            "priority": 1,
            "subject": {"pods": {"namespaceSelector": {}, "podSelector": FE}},
            "egress": [{"action": "Accept", "to": [{"domainNames": list(names)}]}],
        },
    }


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("www.example.com", ALLOWED),
        ("a.b.example.com", ALLOWED),  # '*.' becomes Cilium's multi-level '**.'
        ("example.com", REFUSED_BY_PROXY),
        ("www.example.org", REFUSED_BY_PROXY),
    ],
)
def test_cluster_network_policy_domain_names_send_lookups_through_the_proxy(
    name: str, expected: Outcome
) -> None:
    # kcnpParseFQDNSelectors (pkg/k8s/cluster_network_policy.go) adds an Accept of DNS to
    # kube-dns with DNS rules for the names; that the proxy then refuses other names of the
    # subject is an inference from the rule having DNS rules (docs/cilium-semantics.md s18).
    sim, deployment = mesh("1.20", KCNP_ON, {"c1": [kcnp_domains("*.example.com")]})
    assert query(sim, deployment, name) is expected


def test_cluster_network_policy_names_and_networks_reach_externals() -> None:
    # An Admin Accept of domainNames before an Admin Deny of everything (the pattern the API
    # suggests for an allow list of names), and networks matching an address (s17, s18).
    deny_rest = {"action": "Deny", "to": [{"networks": ["0.0.0.0/0"]}]}
    policy = kcnp_domains("*.example.com")
    policy["spec"]["egress"].append(deny_rest)
    sim, deployment = mesh("1.20", KCNP_ON, {"c1": [policy]})

    def to(target: ExternalTarget) -> Outcome:
        return sim.predict(deployment, Probe("c1", "fe", target, 443)).outcome

    assert to(ExternalTarget("api", "203.0.113.10", "api.example.com")) is ALLOWED
    assert to(ExternalTarget("other", "198.51.100.7", "api.example.org")) is Outcome.DNS_FAILURE
    # By address, whether Cilium learned the address for a name is beyond the model, and the
    # Accept of names comes before the Deny: unknown, with the reason.
    raw = sim.predict(deployment, Probe("c1", "fe", ExternalTarget("raw", "198.51.100.7"), 443))
    assert raw.outcome is Outcome.PROBE_ERROR
    assert "domainNames *.example.com: the probe goes to an address, not a name" in raw.detail
    assert any("what comes before it leaves the verdict unknown" in r for r in raw.explanation)


def test_the_lookup_says_whether_the_proxy_saw_it() -> None:
    # What the emulator asks to know whether Hubble names the destination (s17).
    proxied_policy = fe_egress(dns_rule({"matchPattern": "*"}))
    for policies, expected in (
        ([proxied_policy], "proxied"),
        ([fe_egress(L4_ONLY)], "resolved"),
        ([], "resolved"),
        ([fe_egress(OTHER)], None),  # the query is dropped
        ([fe_egress(dns_rule({"matchName": "other.example"}))], None),  # refused
    ):
        sim, deployment = mesh("1.19", {}, {"c1": policies})
        assert sim.lookup(deployment, "c1", "fe", "api.example.net") == expected, policies
