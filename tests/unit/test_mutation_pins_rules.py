"""What mutation testing of ``policy/rules.py``, ``labels.py`` and ``services.py`` showed nothing
pinned (docs/mutation.md): CIDR prefixes written with host bits, FQDN patterns with a trailing
dot and the multi-level ``**.`` wildcard, the dual-stack world entities, which peers the API
server's identity leaves unknown, the texts that explain an unknown verdict, and how rules,
identities and Services print. Each row cites the Cilium or Kubernetes source it follows.
"""

from __future__ import annotations

import pytest

from pytest_clustermesh.policy.labels import (
    CLUSTER,
    NAMESPACE,
    SERVICE_ACCOUNT,
    SOURCE_ANY,
    SOURCE_IP,
    SOURCE_K8S,
    Identity,
    Label,
    Operator,
    Requirement,
    Selector,
    external_identity,
    kube_apiserver_identity,
    kube_dns_identity,
    lookup_of,
    pod_identity,
)
from pytest_clustermesh.policy.rules import (
    ALL_PROTOCOLS,
    HttpRule,
    Peer,
    PortRule,
    Rule,
    _within,
    fqdn_match,
    unreadable_rule,
)
from pytest_clustermesh.policy.services import ServiceView, affinity, reachable_clusters

LOCAL = "c1"
IN_NS = Requirement(SOURCE_K8S, NAMESPACE, "In", frozenset({"ns"}))


def remote(kind: str) -> Identity:
    """The peers the rows name, built when a test runs (not at import, so that a broken
    identity function fails the test rather than its collection)."""
    if kind == "pod":
        return pod_identity({"app": "web"}, "ns", {}, None, LOCAL)
    if kind == "apiserver":
        return kube_apiserver_identity()
    if kind == "v4":
        return external_identity("192.0.2.10", None, None)
    if kind == "v6":
        return external_identity("2001:db8::10", None, None)
    if kind == "by-name":
        return external_identity(None, "api.example.com", "proxied")
    assert kind == "looked-up-without-proxy"
    return external_identity(None, "api.example.com", "resolved")


# -- CIDR selectors (s17) ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "cidr", "inside"),
    [
        # format: cidr is Go's net.ParseCIDR (validate.py _is_cidr): host bits may be set and
        # the prefix is the network they belong to.
        ("10.200.0.1", "10.1.2.3/8", True),
        ("11.0.0.1", "10.1.2.3/8", False),
        ("2001:db8:ffff::1", "2001:db8::1/32", True),
        ("192.0.2.10", "192.0.2.10/32", True),
        # an address of one family never falls in a prefix of the other (s17)
        ("::ffff:10.0.0.1", "10.0.0.0/8", False),
        ("10.0.0.1", "::/0", False),
        # what is no address or no prefix selects nothing
        ("not-an-address", "0.0.0.0/0", False),
        ("10.0.0.1", "bogus", False),
    ],
    ids=[
        "host-bits-set-is-the-network",
        "host-bits-set-outside",
        "v6-host-bits-set",
        "single-address",
        "v4-mapped-v6-not-in-v4-prefix",
        "v4-not-in-v6-default",
        "invalid-address",
        "invalid-prefix",
    ],
)
def test_cidr_containment(address: str, cidr: str, inside: bool) -> None:
    assert _within(address, cidr) is inside


def test_a_cidr_prefix_with_host_bits_admits_its_network() -> None:
    """``toCIDR: [10.1.2.3/8]`` passes the API server (net.ParseCIDR) and selects 10/8."""
    peer = Peer("cidr", text="toCIDR 10.1.2.3/8", cidrs=(("10.1.2.3/8", ("10.9.0.0/16",)),))
    assert peer.match_state(external_identity("10.200.0.1", None, None), LOCAL) is True
    assert peer.match_state(external_identity("10.9.0.1", None, None), LOCAL) is False


# -- FQDN patterns (s17; language.rst "DNS based"; pkg/fqdn/matchpattern) -----------------------


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        # a trailing dot (the fully qualified form) is ignored on either side
        ("api.example.com.", "api.example.com", True),
        ("api.example.com", "api.example.com.", True),
        ("API.Example.com.", "api.example.COM.", True),
        # only a trailing dot goes: a leading one is part of the name
        (".example.com", "example.com", False),
        ("example.com", ".example.com", False),
        # ``**.`` (ClusterNetworkPolicy domainNames "*.example.com", kcnpParseFQDNSelectors in
        # pkg/k8s/cluster_network_policy.go): one or more whole labels before the rest
        ("**.example.com", "a.example.com", True),
        ("**.example.com", "a.b.example.com", True),
        ("**.example.com", "a.b.c.example.com", True),
        ("**.example.com.", "a.b.example.com", True),
        ("**.example.com", "example.com", False),
        ("**.example.com", "a.example.org", False),
        ("**.example.com", "a.b.example.org", False),
        ("**.example.com", "xample.com", False),
        ("**.example.com", "a.xample.com", False),
        ("**.com", "com", False),
        ("**.example.com", ".example.com", False),
        ("**.example.com", "a..example.com", False),
        ("**.*.com", "a.b.com", True),
        # ``*`` inside a name stays within one label
        ("*.example.com", "a.b.example.com", False),
    ],
    ids=[
        "pattern-trailing-dot",
        "name-trailing-dot",
        "case-and-dots",
        "pattern-leading-dot-kept",
        "name-leading-dot-kept",
        "multi-one-label",
        "multi-two-labels",
        "multi-three-labels",
        "multi-pattern-trailing-dot",
        "multi-not-the-domain-itself",
        "multi-other-domain",
        "multi-two-labels-other-domain",
        "multi-not-a-suffix-of-a-label",
        "multi-label-boundary",
        "multi-no-dot-in-name",
        "multi-empty-first-label",
        "multi-empty-inner-label",
        "multi-then-single-wildcard",
        "single-wildcard-one-label",
    ],
)
def test_fqdn_patterns(pattern: str, name: str, matches: bool) -> None:
    assert fqdn_match(pattern, name) is matches


# -- entities world-ipv4 / world-ipv6 (s17; pkg/policy/api/entity.go, pkg/identity) ------------


def entity(name: str, text: str = "") -> Peer:
    return Peer("entity", entity=name, text=text)


@pytest.mark.parametrize(
    ("name", "kind", "state"),
    [
        # a dual-stack cluster gives the world identity per family (reserved identities 9 and
        # 10); whether the cluster is dual-stack the model does not know: unknown
        ("world-ipv4", "v4", None),
        ("world-ipv6", "v6", None),
        # an address of the other family never has that identity
        ("world-ipv4", "v6", False),
        ("world-ipv6", "v4", False),
        # an external known by name only: no family to split by
        ("world-ipv4", "by-name", False),
        # pods are never world
        ("world-ipv4", "pod", False),
        ("world-ipv6", "pod", False),
        # entities that select no world address
        ("host", "v4", False),
        ("remote-node", "v6", False),
        ("health", "v4", False),
        ("world", "v6", True),
    ],
    ids=[
        "ipv4-world-v4-unknown",
        "ipv6-world-v6-unknown",
        "ipv4-world-v6-no",
        "ipv6-world-v4-no",
        "ipv4-world-by-name-no",
        "ipv4-pod-no",
        "ipv6-pod-no",
        "host-not-world",
        "remote-node-not-world",
        "health-not-world",
        "world-any-family",
    ],
)
def test_world_entities_by_family(name: str, kind: str, state: bool | None) -> None:
    assert entity(name).match_state(remote(kind), LOCAL) is state


@pytest.mark.parametrize(
    ("peer", "state"),
    [
        # cidrGroupRef: addresses the model does not know (parse.py _cidr_set)
        (Peer("opaque", text="toCIDRSet CIDR group"), None),
        # node selectors select nodes, never a world address (s4)
        (Peer("nodes", text="toNodes"), False),
    ],
    ids=["cidr-group-unknown", "nodes-never-world"],
)
def test_other_peers_toward_the_world(peer: Peer, state: bool | None) -> None:
    assert peer.match_state(remote("v4"), LOCAL) is state


@pytest.mark.parametrize("name", ["world-ipv4", "world-ipv6"])
def test_an_address_alone_is_not_the_world(name: str) -> None:
    """``world-ipv4``/``world-ipv6`` select the world identity of that family
    (``reserved:world-ipv4``, pkg/labels): an identity with an address but without
    ``reserved:world`` (no external) is not selected, whatever the family."""
    for address in ("192.0.2.10", "2001:db8::10"):
        addressed = Identity(frozenset({Label(SOURCE_IP, address, "")}))
        assert entity(name).match_state(addressed, LOCAL) is False


def test_matches_compares_the_cluster_with_the_local_one() -> None:
    """``cluster`` selects the pods of the cluster that enforces the rule (s4, SF4)."""
    assert entity("cluster").matches(remote("pod"), LOCAL) is True
    assert entity("cluster").matches(remote("pod"), "c2") is False


# -- the API server's identity (s4; cilium#17823, cilium#29432) ---------------------------------


@pytest.mark.parametrize(
    ("peer", "state"),
    [
        (entity("kube-apiserver"), True),
        (entity("cluster"), True),
        (entity("cluster-mesh"), True),
        (entity("all"), True),
        # where the API server runs decides whether its address also has these identities
        (entity("host"), None),
        (entity("remote-node"), None),
        (entity("world"), None),
        (entity("world-ipv4"), None),
        (entity("world-ipv6"), None),
        (Peer("cidr", cidrs=(("0.0.0.0/0", ()),)), None),
        (Peer("nodes"), None),
        (Peer("opaque"), None),
        # never the API server
        (entity("health"), False),
        (entity("ingress"), False),
        (Peer("fqdn", names=("*",)), False),
        (Peer("endpoints", selector=Selector(frozenset({IN_NS}))), False),
    ],
    ids=[
        "kube-apiserver",
        "cluster",
        "cluster-mesh",
        "all",
        "host-unknown",
        "remote-node-unknown",
        "world-unknown",
        "world-ipv4-unknown",
        "world-ipv6-unknown",
        "cidr-unknown",
        "nodes-unknown",
        "cidr-group-unknown",
        "health-no",
        "ingress-no",
        "fqdn-never",
        "endpoints-never",
    ],
)
def test_peers_toward_the_api_server(peer: Peer, state: bool | None) -> None:
    assert peer.match_state(remote("apiserver"), LOCAL) is state


# -- why a peer is unknown (s13) -----------------------------------------------------------------

APISERVER_WHY = (
    ": whether the API server's address also has a node's identity (host, remote-node), the "
    "world's or a CIDR's depends on where it runs (on a node of the cluster or outside it) and "
    "on policy-cidr-match-mode (cilium#29432), which the model does not know"
)


@pytest.mark.parametrize(
    ("peer", "kind", "why"),
    [
        (entity("host"), "apiserver", "entity host" + APISERVER_WHY),
        (entity("host", "toEntities host"), "apiserver", "toEntities host" + APISERVER_WHY),
        (
            Peer("fqdn", text="toFQDNs api.example.com", names=("api.example.com",)),
            "v4",
            "toFQDNs api.example.com: the probe goes to an address, not a name; Cilium admits "
            "it only if its DNS proxy saw some name resolve to it, which the model does not "
            "know (give the external a hostname)",
        ),
        (
            Peer("fqdn", text="toFQDNs api.example.com", names=("api.example.com",)),
            "looked-up-without-proxy",
            "toFQDNs api.example.com: the source looked api.example.com up without Cilium's "
            "DNS proxy (no DNS rule of its egress covers the query), so whether Cilium learned "
            "the address depends on other lookups on the node (language.rst, DNS based)",
        ),
        (
            Peer("cidr", text="toCIDR 10.0.0.0/8", cidrs=(("10.0.0.0/8", ()),)),
            "by-name",
            "toCIDR 10.0.0.0/8: the external's address is not given, only its name",
        ),
        (
            entity("world-ipv4"),
            "v4",
            "entity world-ipv4: the world identity is split by address family only in "
            "dual-stack clusters, which the model does not know",
        ),
        (
            Peer("opaque", text="toCIDRSet CIDR group"),
            "v4",
            "toCIDRSet CIDR group: beyond the model",
        ),
    ],
    ids=[
        "apiserver-entity-without-text",
        "apiserver-with-text",
        "fqdn-by-address",
        "fqdn-looked-up-without-proxy",
        "cidr-by-name",
        "world-family",
        "opaque",
    ],
)
def test_why_a_peer_is_unknown(peer: Peer, kind: str, why: str) -> None:
    assert peer.unsure_why(remote(kind)) == why


# -- HTTP rules (s5, Q3) -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "request_line", "matches"),
    [
        (HttpRule(method="GET"), ("POST", "/"), False),
        (HttpRule(method="GET"), ("GET", "/"), True),
        # matched whole (Q3): GET is no match for GETX
        (HttpRule(method="GET"), ("GETX", "/"), False),
        (HttpRule(method="GET|HEAD"), ("HEAD", "/any"), True),
    ],
    ids=["other-method", "same-method", "method-anchored", "method-alternation"],
)
def test_http_method(rule: HttpRule, request_line: tuple[str, str], matches: bool) -> None:
    assert rule.matches(*request_line) is matches


@pytest.mark.parametrize(
    ("rule", "text"),
    [
        (HttpRule(), "* *"),
        (HttpRule(method="GET"), "GET *"),
        (HttpRule(path="/api/.*"), "* /api/.*"),
        (HttpRule("GET", "/", host="api\\.example\\.com"), "GET / host=api\\.example\\.com"),
        (HttpRule("GET", "/", headers=(("X-Key", "v"),)), "GET / X-Key: v"),
        (HttpRule("GET", "/", headers=(("X-Key", None),)), "GET / X-Key"),
        (
            HttpRule("GET", "/", host="h", headers=(("X-A", "1"), ("X-B", None))),
            "GET / host=h X-A: 1 X-B",
        ),
    ],
    ids=["any", "method", "path", "host", "header-value", "header-present", "all"],
)
def test_http_rule_text(rule: HttpRule, text: str) -> None:
    """How an HTTP rule reads in explanations: ``X-Key: value`` / ``X-Key`` as Cilium's
    ``headers`` strings (pkg/envoy/server.go getHTTPRule)."""
    assert str(rule) == text


# -- port rules (s5, s16; pkg/policy/api/l4.go, icmp.go) -----------------------------------------


def test_a_port_rule_without_a_port_admits_every_port() -> None:
    """``toPorts`` with only a protocol (``port`` left out) admits every port of it."""
    assert PortRule(None).matches(8080, "TCP") is True
    assert PortRule(None, protocols=frozenset({"UDP"})).matches(53, "TCP") is False


@pytest.mark.parametrize(
    ("rule", "text"),
    [
        (PortRule(None), "any port/ANY"),
        (PortRule(80), "80/ANY"),
        (PortRule(80, 90), "80-90/ANY"),
        (PortRule(80, protocols=frozenset({"TCP", "UDP"})), "80/TCP/UDP"),
        (PortRule(None, name="web"), "port 'web'/ANY"),
        (PortRule(8, protocols=frozenset({"ICMP"})), "ICMP type 8"),
        (PortRule(8, protocols=frozenset({"ICMP", "ICMPv6"})), "ICMP/ICMPv6 type 8"),
        (PortRule(53, protocols=ALL_PROTOCOLS), "53/ANY"),
    ],
    ids=[
        "any-port",
        "one-port",
        "range",
        "two-protocols",
        "named",
        "icmp",
        "icmp-both-families",
        "all-protocols",
    ],
)
def test_port_rule_text(rule: PortRule, text: str) -> None:
    assert str(rule) == text


# -- a policy the model cannot read (s13) --------------------------------------------------------


def test_an_unreadable_policy_is_unknown_in_both_directions() -> None:
    rule = unreadable_rule("c1/ns/p", "the model rejects it (bad)")
    assert rule == Rule(
        "c1/ns/p",
        Selector(),
        (),
        frozenset(),
        (("ingress", "the model rejects it (bad)"), ("egress", "the model rejects it (bad)")),
    )
    assert rule.selects(remote("pod"))


# -- selectors and identities (s1; pkg/labels/labels.go) ---------------------------------------


def test_selector_equal_parses_sources_and_values() -> None:
    """``matchLabels``: an unprefixed key is ``any:``, ``k8s:`` only Kubernetes labels."""
    selector = Selector.equal({"k8s:app": "web", "env": "prod"})
    assert selector == Selector(
        frozenset(
            {
                Requirement(SOURCE_K8S, "app", "In", frozenset({"web"})),
                Requirement(SOURCE_ANY, "env", "In", frozenset({"prod"})),
            }
        )
    )
    prod = pod_identity({"app": "web", "env": "prod"}, "ns", {}, None, LOCAL)
    dev = pod_identity({"app": "web", "env": "dev"}, "ns", {}, None, LOCAL)
    assert selector.matches(prod)
    assert not selector.matches(dev)


@pytest.mark.parametrize(
    ("operator", "values", "text"),
    [
        ("In", ["web"], "k8s:app=web"),
        ("In", ["web", "api"], "k8s:app In (api, web)"),
        ("NotIn", ["web"], "k8s:app NotIn (web)"),
        ("NotIn", ["web", "api"], "k8s:app NotIn (api, web)"),
        ("Exists", [], "k8s:app Exists"),
        ("DoesNotExist", [], "k8s:app DoesNotExist"),
    ],
    ids=["in-one", "in-two", "not-in-one", "not-in-two", "exists", "does-not-exist"],
)
def test_requirement_text(operator: Operator, values: list[str], text: str) -> None:
    """How a ``matchExpressions`` term reads in explanations (apimachinery's operators)."""
    assert str(Requirement(SOURCE_K8S, "app", operator, frozenset(values))) == text


def test_selector_text_lists_its_terms_sorted() -> None:
    selector = Selector(
        frozenset(
            {
                Requirement(SOURCE_K8S, "tier", "Exists"),
                Requirement(SOURCE_ANY, "app", "In", frozenset({"web"})),
            }
        )
    )
    assert str(selector) == "{any:app=web, k8s:tier Exists}"


def test_identity_text_hides_the_namespace_name_label() -> None:
    """The namespace's ``kubernetes.io/metadata.name`` label repeats the namespace."""
    identity = pod_identity({"app": "web"}, "ns", {"team": "a"}, "sa", LOCAL)
    assert str(identity) == (
        "{k8s:app=web, k8s:io.cilium.k8s.namespace.labels.team=a, "
        "k8s:io.cilium.k8s.policy.cluster=c1, k8s:io.cilium.k8s.policy.serviceaccount=sa, "
        "k8s:io.kubernetes.pod.namespace=ns}"
    )


@pytest.mark.parametrize(
    ("address", "hostname", "lookup", "text", "looked_up"),
    [
        ("192.0.2.10", None, None, "{ip:192.0.2.10=, reserved:world=}", None),
        (
            None,
            "API.Example.com.",
            "proxied",
            "{dns:api.example.com=proxied, reserved:world=}",
            ("api.example.com", "proxied"),
        ),
        # a name without a lookup (the probe went by address): no dns label
        ("192.0.2.10", "api.example.com", None, "{ip:192.0.2.10=, reserved:world=}", None),
    ],
    ids=["by-address", "by-name-normalised", "name-not-looked-up"],
)
def test_external_identity(
    address: str | None,
    hostname: str | None,
    lookup: str | None,
    text: str,
    looked_up: tuple[str, str] | None,
) -> None:
    identity = external_identity(address, hostname, lookup)
    assert str(identity) == text
    assert lookup_of(identity) == looked_up


def test_kube_dns_runs_as_coredns() -> None:
    """kubeadm (and kind) deploy CoreDNS with ``serviceAccountName: coredns``
    (kubeadm cmd/kubeadm/app/phases/addons/dns/manifests.go)."""
    identity = kube_dns_identity("c2")
    assert identity.values(SOURCE_K8S, SERVICE_ACCOUNT) == {"coredns"}
    assert identity.get(NAMESPACE) == "kube-system"
    assert identity.get(CLUSTER) == "c2"


# -- global services (s7; global-services.rst, affinity.rst) ------------------------------------

GLOBAL = {"service.cilium.io/global": "true"}


def test_affinity_needs_a_global_service() -> None:
    """affinity.rst: the annotation applies to global services; alone it is ignored."""
    assert affinity({"service.cilium.io/affinity": "local"}) == "none"
    assert affinity({**GLOBAL, "service.cilium.io/affinity": "Local"}) == "local"


@pytest.mark.parametrize(
    ("local", "others", "clusters", "reasons"),
    [
        (
            ServiceView("c1", {}, 2),
            [ServiceView("c2", GLOBAL, 1)],
            ["c1"],
            ["c1 has 2 local backend(s)", "the Service in c1 is not global: local backends only"],
        ),
        (
            ServiceView("c1", GLOBAL, 1),
            [ServiceView("c2", {}, 1), ServiceView("c3", GLOBAL, 1)],
            ["c1", "c3"],
            ["c1 has 1 local backend(s)", "c2's Service is not global and shared"],
        ),
        (
            ServiceView("c1", {**GLOBAL, "service.cilium.io/affinity": "remote"}, 1),
            [ServiceView("c2", GLOBAL, 1), ServiceView("c3", GLOBAL, 3)],
            ["c2", "c3"],
            ["c1 has 1 local backend(s)", "affinity remote: c2, c3 preferred"],
        ),
        (
            ServiceView("c1", {**GLOBAL, "service.cilium.io/affinity": "local"}, 0),
            [ServiceView("c2", GLOBAL, 1)],
            ["c2"],
            [
                "c1 has 0 local backend(s)",
                "affinity local: no healthy preferred backend, using the others",
            ],
        ),
    ],
    ids=["not-global", "other-not-shared", "remote-affinity", "local-affinity-failover"],
)
def test_reachable_clusters_and_why(
    local: ServiceView, others: list[ServiceView], clusters: list[str], reasons: list[str]
) -> None:
    assert reachable_clusters(local, others) == (clusters, reasons)


def test_not_in_admits_an_identity_without_those_values() -> None:
    # k8s.io/apimachinery pkg/labels/selector.go Requirement.Matches: NotIn holds when the label
    # is absent or has none of the values.
    not_web = Requirement(SOURCE_K8S, "app", "NotIn", frozenset({"web"}))
    assert not not_web.matches(pod_identity({"app": "web"}, "ns", {}, None, LOCAL))
    assert not_web.matches(pod_identity({"app": "db"}, "ns", {}, None, LOCAL))
    assert not_web.matches(pod_identity({}, "ns", {}, None, LOCAL))


def test_l7_port_rules_of_one_entry_that_admit_a_port_merge() -> None:
    # pkg/policy/l4.go mergePortProto: the toPorts items of one rule that select the same port
    # merge their L7 rules (docs/cilium-semantics.md Q4); DNS rules alone stay DNS-only.
    from pytest_clustermesh.policy.rules import L4, Entry

    udp: frozenset[L4] = frozenset({"UDP"})
    entry = Entry(
        "egress",
        False,
        (),
        (
            PortRule(53, None, udp, dns=("a.example.com",)),
            PortRule(53, None, udp, dns=("*.example.org",)),
        ),
        "CNP ns/p",
    )
    merged = entry.port_rule(53, "UDP")
    assert merged == PortRule(53, None, udp, None, None, dns=("a.example.com", "*.example.org"))


def test_a_prediction_table_needs_every_endpoints_cluster() -> None:
    # The plugin's own contract (pairs.prediction_table): a pod whose cluster has no policy
    # state is a caller error named by cluster, not a bare KeyError of the first lookup.
    from pytest_clustermesh.policy import ClusterPolicy, Flow
    from pytest_clustermesh.policy.pairs import Endpoint, prediction_table

    pods = [
        Endpoint("a", "c1", pod_identity({"app": "a"}, "ns", {}, None, "c1")),
        Endpoint("b", "c3", pod_identity({"app": "b"}, "ns", {}, None, "c3")),
        Endpoint("c", "c2", pod_identity({"app": "c"}, "ns", {}, None, "c2")),
    ]
    with pytest.raises(KeyError) as caught:
        prediction_table({"c1": ClusterPolicy("c1", ())}, pods, Flow(80))
    assert caught.value.args == ("no policy state for cluster(s) c2, c3",)


# -- rows from the survivors of the full run (ad2ba3e) -------------------------------------------


@pytest.mark.parametrize(
    ("operator", "values", "pod_labels", "matches"),
    [
        # k8s.io/apimachinery pkg/labels/selector.go Requirement.Matches, which Cilium's
        # endpoint selectors follow (pkg/policy/api/selector.go): In needs one of the values,
        # NotIn none of them (an absent label included), Exists the key, DoesNotExist its absence.
        pytest.param("In", ["web"], {"app": "web"}, True, id="In-has-the-value"),
        pytest.param("In", ["web"], {"app": "db"}, False, id="In-another-value"),
        pytest.param("In", ["web"], {}, False, id="In-no-label"),
        pytest.param("NotIn", ["web"], {"app": "db"}, True, id="NotIn-another-value"),
        pytest.param("NotIn", ["web"], {"app": "web"}, False, id="NotIn-has-the-value"),
        pytest.param("NotIn", ["web"], {}, True, id="NotIn-no-label"),
        pytest.param("Exists", [], {"app": "web"}, True, id="Exists-has-the-key"),
        pytest.param("Exists", [], {}, False, id="Exists-no-label"),
        pytest.param("DoesNotExist", [], {}, True, id="DoesNotExist-no-label"),
        pytest.param("DoesNotExist", [], {"app": "web"}, False, id="DoesNotExist-has-the-key"),
    ],
)
def test_requirement_operators(
    operator: Operator, values: list[str], pod_labels: dict[str, str], matches: bool
) -> None:
    requirement = Requirement(SOURCE_K8S, "app", operator, frozenset(values))
    assert requirement.matches(pod_identity(pod_labels, "ns", {}, None, LOCAL)) is matches


def test_a_pod_without_a_service_account_runs_as_default() -> None:
    # Kubernetes' ServiceAccount admission plugin sets spec.serviceAccountName to "default"
    # when a pod names none; Cilium labels the identity with it (k8s label
    # io.cilium.k8s.policy.serviceaccount, pkg/k8s/apis/cilium.io PolicyLabelServiceAccount).
    identity = pod_identity({}, "ns", {}, None, LOCAL)
    assert identity.lookup(SOURCE_K8S, SERVICE_ACCOUNT) == frozenset({"default"})
    named = pod_identity({}, "ns", {}, "builder", LOCAL)
    assert named.lookup(SOURCE_K8S, SERVICE_ACCOUNT) == frozenset({"builder"})


GET_A = HttpRule("GET", "/a")
GET_B = HttpRule("GET", "/b")
HEADER_MATCHES = "HTTP headerMatches rules"


@pytest.mark.parametrize(
    ("ports", "port", "http", "unknown"),
    [
        # pkg/policy/l4.go mergePortProto (docs/cilium-semantics.md Q4): the toPorts items of
        # one entry that admit a port add up their HTTP rules; with no DNS rule among them,
        # the merged rule has none either (dns None: a request is not judged as a DNS query).
        pytest.param(
            (PortRule(80, http=(GET_A,)), PortRule(80, http=(GET_B,))),
            80,
            (GET_A, GET_B),
            None,
            id="mergePortProto-two-HTTP-items-add-up-their-rules-no-DNS-rules",
        ),
        # A feature beyond the model in any of the merged items stays in the merged rule, so a
        # request no modelled HTTP rule admits is unknown rather than denied (s13).
        pytest.param(
            (PortRule(80, http=(GET_A,)), PortRule(80, http=(GET_B,), unknown=HEADER_MATCHES)),
            80,
            (GET_A, GET_B),
            HEADER_MATCHES,
            id="mergePortProto-a-feature-beyond-the-model-survives-the-merge",
        ),
        # A range and a port inside it: the merged rule admits the port it was asked about.
        pytest.param(
            (PortRule(80, 90, http=(GET_A,)), PortRule(85, http=(GET_B,))),
            85,
            (GET_A, GET_B),
            None,
            id="mergePortProto-a-range-and-a-port-inside-it",
        ),
    ],
)
def test_l7_port_rules_merge(
    ports: tuple[PortRule, ...], port: int, http: tuple[HttpRule, ...], unknown: str | None
) -> None:
    from pytest_clustermesh.policy.rules import Entry

    found = Entry("ingress", False, (), ports, "CNP ns/p").port_rule(port, "TCP")
    assert found is not None
    assert (found.http, found.unknown, found.dns) == (http, unknown, None)
    assert found.matches(port, "TCP")
