"""Table-driven tests of destinations outside the mesh (Cilium's ``world``) and of pings.

Each row names the Cilium behaviour it pins, where upstream documents or implements it, and the
section of docs/cilium-semantics.md (s16 ICMP, s17 external destinations and ``toFQDNs``); it
runs on every modelled version the behaviour holds for. A row fails if the model decides
otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from pytest_clustermesh.backend import ExternalTarget, HttpRequest, Probe
from pytest_clustermesh.verdicts import Outcome, Verdict

from ..meshworld import ccnp, cnp, knp, mesh

ALLOWED, DROPPED, L7 = Outcome.ALLOWED, Outcome.DROPPED, Outcome.L7_DENIED
UNKNOWN, DNS_FAILURE = Outcome.PROBE_ERROR, Outcome.DNS_FAILURE
ALL_VERSIONS = ("1.16", "1.17", "1.18", "1.19", "1.20")

FE = {"matchLabels": {"app": "frontend"}}
API = ExternalTarget("api", "203.0.113.10", "api.example.com")
APEX = ExternalTarget("apex", "203.0.113.20", "example.com")
BY_ADDRESS = ExternalTarget("raw", "203.0.113.10")
BY_NAME_ONLY = ExternalTarget("named", None, "api.example.com")
V6 = ExternalTarget("v6", "2001:db8::10")
KUBE_DNS = {"matchLabels": {"k8s:io.kubernetes.pod.namespace": "kube-system",
                            "k8s:k8s-app": "kube-dns"}}  # fmt: skip
DNS_ANY = {  # examples/policies/l3/fqdn/fqdn.yaml: DNS to kube-dns on 53, every name proxied
    "toEndpoints": [KUBE_DNS],
    "toPorts": [{"ports": [{"port": "53", "protocol": "ANY"}],
                 "rules": {"dns": [{"matchPattern": "*"}]}}],
}  # fmt: skip
DNS_L4_ONLY = {"toEndpoints": [KUBE_DNS], "toPorts": [{"ports": [{"port": "53"}]}]}
TO_443 = {"toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}]}]}

CIDR_DOC = "language.rst 'IP/CIDR based'"
DNS_DOC = "language.rst 'DNS based'"
ENTITY_DOC = "language.rst 'Entities based', pkg/policy/api/entity.go"


def fe_egress(*rules: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return cnp({"endpointSelector": FE, "egress": list(rules), **extra})


@dataclass(frozen=True)
class Row:
    pins: str
    policies: list[dict[str, Any]]
    target: ExternalTarget
    expected: Outcome
    port: int = 443
    protocol: str = "TCP"
    versions: tuple[str, ...] = ALL_VERSIONS
    http: tuple[str, str] | None = None
    options: dict[str, str] = field(default_factory=dict)


# fmt: off
ROWS = [
    Row("s17, s3: no policy selects the source: egress to the world passes",
        [], API, ALLOWED),
    Row(f"s17: toCIDR admits an address in the prefix ({CIDR_DOC}, 'Allow to external CIDR "
        "block')", [fe_egress({"toCIDR": ["203.0.113.0/24"]})], BY_ADDRESS, ALLOWED),
    Row("s17, s3: ... and an address outside it is egress default deny",
        [fe_egress({"toCIDR": ["198.51.100.0/24"]})], BY_ADDRESS, DROPPED),
    Row(f"s17: toCIDRSet except carves a prefix out ({CIDR_DOC}, toCIDRSet)",
        [fe_egress({"toCIDRSet": [{"cidr": "203.0.113.0/24", "except": ["203.0.113.8/29"]}]})],
        BY_ADDRESS, DROPPED),
    Row("s17: ... and keeps the rest of the prefix",
        [fe_egress({"toCIDRSet": [{"cidr": "203.0.113.0/24", "except": ["203.0.113.8/29"]}]})],
        ExternalTarget("other", "203.0.113.20"), ALLOWED),
    Row("s17: the address a hostname resolves to is what toCIDR matches",
        [fe_egress(DNS_ANY, {"toCIDR": ["203.0.113.10/32"]})], API, ALLOWED),
    Row(f"s17, s4: toEntities world admits it ('identical to allowing to CIDR 0.0.0.0/0', "
        f"{ENTITY_DOC})", [fe_egress({"toEntities": ["world"]})], BY_ADDRESS, ALLOWED),
    Row(f"s17, s4: toEntities all admits it ({ENTITY_DOC})",
        [fe_egress({"toEntities": ["all"]})], BY_ADDRESS, ALLOWED),
    Row(f"s17, s4: toEntities cluster does not: the world is outside the cluster ({ENTITY_DOC})",
        [fe_egress({"toEntities": ["cluster"]})], BY_ADDRESS, DROPPED),
    Row("s17, s4, SF5: toEntities cluster-mesh does not either (cilium#46813)",
        [fe_egress({"toEntities": ["cluster-mesh"]})], BY_ADDRESS, DROPPED, versions=("1.20",)),
    Row("s17, s1: toEndpoints [{}] in a CNP selects pods of the policy's namespace, not the "
        "world (pkg/k8s/apis/cilium.io/utils/utils.go)",
        [fe_egress({"toEndpoints": [{}]})], BY_ADDRESS, DROPPED),
    Row("s17, s1: ... nor in a CCNP (any Cilium-managed pod)",
        [ccnp({"endpointSelector": FE, "egress": [{"toEndpoints": [{}]}]})], BY_ADDRESS, DROPPED),
    Row("s17, s5: toCIDR with toPorts admits its port",
        [fe_egress({"toCIDR": ["203.0.113.0/24"], **TO_443})], BY_ADDRESS, ALLOWED),
    Row("s17, s5: ... and no other",
        [fe_egress({"toCIDR": ["203.0.113.0/24"], **TO_443})], BY_ADDRESS, DROPPED, port=80),
    Row("s17, SF8: an egressDeny toCIDR wins over toEntities world (deny.rst)",
        [fe_egress({"toEntities": ["world"]}, egressDeny=[{"toCIDR": ["203.0.113.0/24"]}])],
        BY_ADDRESS, DROPPED),
    Row("s17, s6: a KNP egress ipBlock admits the address (pkg/k8s/network_policy.go)",
        [knp({"podSelector": FE, "policyTypes": ["Egress"], "egress": [
            {"to": [{"ipBlock": {"cidr": "203.0.113.0/24"}}]}]})], BY_ADDRESS, ALLOWED),
    Row("s17, s6: ... and its except leaves it out",
        [knp({"podSelector": FE, "policyTypes": ["Egress"], "egress": [
            {"to": [{"ipBlock": {"cidr": "203.0.113.0/24", "except": ["203.0.113.0/28"]}}]}]})],
        BY_ADDRESS, DROPPED),
    Row("s17, s8: nothing enforces ingress at the destination: it is no Cilium endpoint",
        [cnp({"endpointSelector": FE, "ingress": [{}]})], BY_ADDRESS, ALLOWED),
    Row("s17, s5: an egress HTTP rule toward the world answers 403 to other requests "
        "(language.rst, Layer 7 Examples)",
        [fe_egress({"toCIDR": ["203.0.113.0/24"], "toPorts": [{"ports": [{"port": "80"}],
                    "rules": {"http": [{"method": "GET", "path": "/public"}]}}]})],
        BY_ADDRESS, L7, port=80, http=("GET", "/private")),
    Row("s17: an IPv6 address is matched by an IPv6 prefix",
        [fe_egress({"toCIDR": ["2001:db8::/32"]})], V6, ALLOWED),
    Row("s17: ... and never by an IPv4 one",
        [fe_egress({"toCIDR": ["0.0.0.0/0"]})], V6, DROPPED),
    Row(f"s17: toEntities world admits IPv6 too ({ENTITY_DOC}: world selects world, "
        "world-ipv4 and world-ipv6)", [fe_egress({"toEntities": ["world"]})], V6, ALLOWED),
    # -- toFQDNs and DNS (language.rst 'DNS based'; docs/cilium-semantics.md s17) -------------
    Row(f"s17: toFQDNs matchName admits the name once the DNS proxy saw its lookup ({DNS_DOC}; "
        "examples/policies/l3/fqdn/fqdn.yaml)",
        [fe_egress(DNS_ANY, {"toFQDNs": [{"matchName": "api.example.com"}]})], API, ALLOWED),
    Row(f"s17: matchPattern *.example.com matches api.example.com ({DNS_DOC})",
        [fe_egress(DNS_ANY, {"toFQDNs": [{"matchPattern": "*.example.com"}]})], API, ALLOWED),
    Row(f"s17: ... but not example.com itself ({DNS_DOC}: '*.cilium.io' does not match "
        "cilium.io)",
        [fe_egress(DNS_ANY, {"toFQDNs": [{"matchPattern": "*.example.com"}]})], APEX, DROPPED),
    Row("s17: toFQDNs with toPorts admits its port only",
        [fe_egress(DNS_ANY, {"toFQDNs": [{"matchName": "api.example.com"}], **TO_443})],
        API, DROPPED, port=80),
    Row("s17, s5: a DNS rule that does not let the name through: the proxy refuses it, the "
        "name does not resolve (language.rst 'DNS Policy and IP Discovery')",
        [fe_egress({**DNS_ANY, "toPorts": [{"ports": [{"port": "53", "protocol": "ANY"}],
                    "rules": {"dns": [{"matchName": "other.example.com"}]}}]},
                   {"toFQDNs": [{"matchName": "api.example.com"}]})], API, DNS_FAILURE),
    Row("s17: egress default deny without DNS to kube-dns: the lookup is dropped, the name "
        "does not resolve",
        [fe_egress({"toFQDNs": [{"matchName": "api.example.com"}]})], API, DNS_FAILURE),
    Row(f"s17, s13: DNS allowed at L4 only: no proxy saw the lookup, so whether Cilium learned "
        f"the address depends on other lookups on the node ({DNS_DOC}): unknown",
        [fe_egress(DNS_L4_ONLY, {"toFQDNs": [{"matchName": "api.example.com"}]})], API,
        UNKNOWN),
    Row("s17, s13: toFQDNs toward an external known by address only: unknown",
        [fe_egress(DNS_ANY, {"toFQDNs": [{"matchName": "api.example.com"}]})], BY_ADDRESS,
        UNKNOWN),
    Row("s17: ... unless a rule the model covers admits it",
        [fe_egress(DNS_ANY, {"toFQDNs": [{"matchName": "x.example.com"}]},
                   {"toCIDR": ["203.0.113.10/32"]})], BY_ADDRESS, ALLOWED),
    Row("s17, s13: toCIDR toward an external known by name only: unknown",
        [fe_egress(DNS_ANY, {"toCIDR": ["203.0.113.0/24"]})], BY_NAME_ONLY, UNKNOWN),
    Row("s17, s13, SF8: a deny whose CIDR may hold a name-only external leaves it unknown",
        [fe_egress(DNS_ANY, {"toEntities": ["world"]},
                   egressDeny=[{"toCIDR": ["203.0.113.0/24"]}])], BY_NAME_ONLY, UNKNOWN),
    Row("s17, SF8: ... while a deny the model can tell settles it (deny.rst)",
        [fe_egress(DNS_ANY, {"toEntities": ["world"]},
                   egressDeny=[{"toCIDR": ["203.0.113.0/24"]}, {"toEntities": ["world"]}])],
        BY_NAME_ONLY, DROPPED),
    Row("s17, s5: a DNS rule alone opens DNS only: the connection is egress default deny",
        [fe_egress(DNS_ANY)], API, DROPPED),
    Row("s17, SF8: an egressDeny of kube-dns drops the lookup whatever allows it (deny.rst)",
        [fe_egress(DNS_ANY, {"toFQDNs": [{"matchName": "api.example.com"}]},
                   egressDeny=[{"toEndpoints": [KUBE_DNS]}])], API, DNS_FAILURE),
    Row("s17, s3: an ingress-only policy on the source leaves its lookup and connection alone",
        [cnp({"endpointSelector": FE, "ingress": [{}]})], API, ALLOWED),
    Row("s17, s16: a ping to the world passes an L3-only toCIDR (language.rst 'Limit "
        "ingress/egress ports')",
        [fe_egress({"toCIDR": ["203.0.113.0/24"]})], BY_ADDRESS, ALLOWED, port=0,
        protocol="ICMP"),
    Row("s17, s16: ... and not a toCIDR with toPorts",
        [fe_egress({"toCIDR": ["203.0.113.0/24"], **TO_443})], BY_ADDRESS, DROPPED, port=0,
        protocol="ICMP"),
    Row("s17, s16: toFQDNs with icmps admits a ping to the name",
        [fe_egress(DNS_ANY, {"toFQDNs": [{"matchName": "api.example.com"}],
                             "icmps": [{"fields": [{"type": 8}]}]})],
        API, ALLOWED, port=0, protocol="ICMP"),
]
# fmt: on


def row_of(words: str) -> Row:
    return next(row for row in ROWS if words in row.pins)


def run(row: Row, version: str) -> Any:
    sim, deployment = mesh(version, row.options, {"c1": row.policies} if row.policies else {})
    http = HttpRequest(*row.http) if row.http else None
    probe = Probe("c1", "fe", row.target, row.port, row.protocol, http)  # type: ignore[arg-type]
    return sim.predict(deployment, probe)


@pytest.mark.parametrize(
    ("row", "version"),
    [pytest.param(row, v, id=f"{row.pins} [{v}]") for row in ROWS for v in row.versions],
)
def test_external_destinations(row: Row, version: str) -> None:
    result = run(row, version)
    assert result.outcome is row.expected, f"{result.detail}\n" + "\n".join(result.explanation)


def test_a_dns_failure_is_never_a_deny() -> None:
    """verdicts.py: a probe whose name does not resolve proves nothing about policy."""
    row = next(r for r in ROWS if r.expected is DNS_FAILURE)
    result = run(row, "1.19")
    assert result.outcome.is_error
    assert not Verdict.DENY.accepts(result.outcome)
    assert not Verdict.DROP.accepts(result.outcome)
    assert "did not resolve" in result.detail
    assert "the probe cannot test the policy toward external/api" in result.detail


def test_explanations_say_how_the_name_was_looked_up_and_why_the_world_was_admitted() -> None:
    allowed = run(row_of("toFQDNs matchName admits the name"), "1.19")
    text = "\n".join(allowed.explanation)
    assert "lookup of api.example.com: egress at c1: DNS query for api.example.com allowed by" in (
        text
    )
    assert "answered through Cilium's DNS proxy, which learns the address for toFQDNs" in text
    assert (
        "egress at c1: allowed by CNP demo/p spec egress[1] (toFQDNs api.example.com: Cilium's "
        "DNS proxy saw api.example.com resolve to 203.0.113.10)"
    ) in text
    assert "ingress: none at external/api, which is outside the mesh" in text


def test_explanations_of_a_world_miss_name_the_address_and_the_rule() -> None:
    dropped = run(row_of("and an address outside it"), "1.19")
    text = "\n".join(dropped.explanation)
    assert "no rule allows world 203.0.113.10 on 443/TCP" in text
    assert "toCIDR 198.51.100.0/24: 203.0.113.10 is not in it" in text
    carved = run(row_of("toCIDRSet except carves"), "1.19")
    assert "toCIDRSet 203.0.113.0/24 except 203.0.113.8/29: 203.0.113.10 is in an except" in (
        "\n".join(carved.explanation)
    )
    fqdn = run(row_of("but not example.com itself"), "1.19")
    assert "toFQDNs *.example.com: example.com matches none of its names" in "\n".join(
        fqdn.explanation
    )


def test_an_unknown_fqdn_verdict_names_the_reason() -> None:
    result = run(row_of("DNS allowed at L4 only"), "1.19")
    assert result.outcome is UNKNOWN
    assert "looked api.example.com up without Cilium's DNS proxy" in result.detail


def test_a_refused_lookup_names_the_dns_rule() -> None:
    result = run(row_of("a DNS rule that does not let the name through"), "1.19")
    text = "\n".join(result.explanation)
    assert "the DNS proxy refuses the query for api.example.com" in text
    assert "(other.example.com)" in text


@pytest.mark.parametrize("entity", ["world-ipv4", "world-ipv6"])
def test_the_split_world_entities_are_not_selectable(entity: str) -> None:
    """s17: the CRD's entity enum (pkg/policy/api/entity.go, 1.18.2 schema in
    policy/schemas/) does not list world-ipv4/world-ipv6; they are internal identities of
    dual-stack clusters, so a policy naming them is rejected on every modelled version."""
    from pytest_clustermesh.errors import PolicyError

    for version in ALL_VERSIONS:
        with pytest.raises(PolicyError, match=f"unknown entity '{entity}'"):
            mesh(version, policies={"c1": [fe_egress({"toEntities": [entity]})]})
