"""Property tests of the policy model: invariants Cilium's documented semantics imply.

Hypothesis draws small meshes (clusters, namespaces with labels, workloads with labels, one
Cilium version and ``policy-default-local-cluster`` value) and policies from a grammar that
covers CNP, CCNP and KNP; endpoint selectors with matchLabels and matchExpressions (pod,
namespace, namespace-label and cluster keys); entities; CIDRs; toPorts with ranges, protocols
and HTTP rules; deny sections; ``enableDefaultDeny``. Each test states its invariant in Cilium
terms. Worlds are small and ``max_examples`` modest so the file runs in seconds.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from packaging.version import Version

from pytest_clustermesh.backend import (
    Deployment,
    HttpRequest,
    NamespaceSpec,
    PodTarget,
    PolicyDoc,
    PortSpec,
    Probe,
    WorkloadSpec,
)
from pytest_clustermesh.policy import (
    ClusterContext,
    ClusterPolicy,
    Decision,
    Flow,
    InvalidPolicy,
    decide_direction,
    decide_flow,
    parse_document,
)
from pytest_clustermesh.policy.labels import Identity, pod_identity
from pytest_clustermesh.policy.pairs import Endpoint
from pytest_clustermesh.policy.rules import Direction
from pytest_clustermesh.simulated import SimulatedMesh, simulated_facts
from pytest_clustermesh.verdicts import Outcome

Doc = dict[str, Any]

CLUSTERS = ("c1", "c2", "c3")
NAMESPACES = ("ns1", "ns2")
TEAMS = ("t1", "t2")
APPS = ("a", "b", "c")
TIERS = ("x", "y")
PORTS = (80, 8080)
VERSIONS = ("1.16", "1.17", "1.18", "1.19", "1.20")
CLUSTER_KEY = "io.cilium.k8s.policy.cluster"
NS_KEY = "io.kubernetes.pod.namespace"
TEAM_KEY = "io.cilium.k8s.namespace.labels.team"

#: How permissive an outcome is: a property about "never turning a deny into an allow" is a
#: statement that this rank does not go up.
RANK = {Outcome.DROPPED: 0, Outcome.L7_DENIED: 1, Outcome.ALLOWED: 2}

SETTINGS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


# ---------------------------------------------------------------------------------------------
# worlds


@dataclass(frozen=True)
class Workload:
    name: str
    namespace: str
    labels: Mapping[str, str]


@dataclass(frozen=True)
class World:
    """A mesh of identical clusters (same version and options), every workload in each."""

    version: str
    default_local_cluster: bool
    clusters: tuple[str, ...]
    namespace_labels: Mapping[str, Mapping[str, str]]
    workloads: tuple[Workload, ...]

    def endpoints(self) -> list[Endpoint]:
        return [
            Endpoint(
                f"{w.name}-{cluster}",
                cluster,
                pod_identity(
                    w.labels, w.namespace, self.namespace_labels[w.namespace], None, cluster
                ),
            )
            for cluster in self.clusters
            for w in self.workloads
        ]

    def context(self, cluster: str) -> ClusterContext:
        return ClusterContext(cluster, Version(self.version), self.default_local_cluster)

    def rules_valid(self, doc: Doc) -> bool:
        try:
            parse_document(doc, self.context(self.clusters[0]))
        except InvalidPolicy:
            return False
        return True

    def policy(
        self, cluster: str, docs: Sequence[Doc], enforcement: str = "default", audit: bool = False
    ) -> ClusterPolicy:
        ctx = self.context(cluster)
        rules = tuple(rule for doc in docs for rule in parse_document(doc, ctx))
        return ClusterPolicy(cluster, rules, enforcement, audit)

    def deployment(self) -> Deployment:
        return Deployment(
            "props",
            self.clusters,
            tuple(
                NamespaceSpec(ns, ns, dict(labels)) for ns, labels in self.namespace_labels.items()
            ),
            tuple(
                WorkloadSpec(
                    w.name,
                    "server",
                    w.namespace,
                    dict(w.labels),
                    self.clusters,
                    ports=tuple(PortSpec(p, proto) for p in PORTS for proto in ("TCP", "UDP")),
                )
                for w in self.workloads
            ),
        )

    def mesh(self, policies: Mapping[str, Sequence[Doc]]) -> tuple[SimulatedMesh, Deployment]:
        options = {"policy-default-local-cluster": str(self.default_local_cluster).lower()}
        sim = SimulatedMesh(simulated_facts(self.clusters, self.version, options))
        deployment = self.deployment()
        sim.deploy(deployment)
        for cluster, docs in policies.items():
            sim.set_policies(deployment, cluster, [as_policy_doc(d) for d in docs])
        return sim, deployment


def as_policy_doc(body: Doc) -> PolicyDoc:
    meta = body["metadata"]
    return PolicyDoc(body["kind"], meta["name"], meta.get("namespace"), body)


@st.composite
def worlds(draw: st.DrawFn, clusters: int = 2) -> World:
    labels = {ns: {"team": draw(st.sampled_from(TEAMS))} for ns in NAMESPACES}
    count = draw(st.integers(1, 3))
    sets = draw(
        st.lists(
            st.tuples(st.sampled_from(NAMESPACES), st.sampled_from(APPS), st.sampled_from(TIERS)),
            min_size=count,
            max_size=count,
            unique=True,
        )
    )
    workloads = tuple(
        Workload(f"w{i}", ns, {"app": app, "tier": tier}) for i, (ns, app, tier) in enumerate(sets)
    )
    version = draw(st.sampled_from(VERSIONS))
    # policy-default-local-cluster exists from 1.18 (s2); earlier versions behave as "false".
    local = Version(version) >= Version("1.18") and draw(st.booleans())
    return World(
        version,
        local,
        CLUSTERS[:clusters],
        labels,
        workloads,
    )


FLOWS = st.lists(
    st.builds(
        Flow,
        st.sampled_from((*PORTS, 9090)),
        st.sampled_from(("TCP", "UDP")),
        st.sampled_from(("GET", "POST")),
        st.sampled_from(("/", "/public")),
    ),
    min_size=1,
    max_size=3,
    unique=True,
)


# ---------------------------------------------------------------------------------------------
# the policy grammar

_LABEL_CHOICES = [
    *[("app", a) for a in APPS],
    *[("tier", t) for t in TIERS],
    *[(CLUSTER_KEY, c) for c in CLUSTERS],
    *[(NS_KEY, n) for n in NAMESPACES],
    *[(TEAM_KEY, t) for t in TEAMS],
    *[(f"k8s:{k}", v) for k, v in (("app", "a"), ("tier", "x"))],
]
_EXPR_KEYS = ("app", "tier", CLUSTER_KEY, NS_KEY, TEAM_KEY)
_EXPR_VALUES = (*APPS, *TIERS, *CLUSTERS, *NAMESPACES, *TEAMS)


@st.composite
def expressions(draw: st.DrawFn) -> Doc:
    op = draw(st.sampled_from(("In", "NotIn", "Exists", "DoesNotExist")))
    expr: Doc = {"key": draw(st.sampled_from(_EXPR_KEYS)), "operator": op}
    if op in ("In", "NotIn"):
        expr["values"] = draw(st.lists(st.sampled_from(_EXPR_VALUES), min_size=1, max_size=2))
    return expr


@st.composite
def selectors(draw: st.DrawFn, keys: Sequence[tuple[str, str]] = tuple(_LABEL_CHOICES)) -> Doc:
    """Weighted towards selectors that match something in a small world: empty, one pod
    label, or a mix of any keys with matchExpressions."""
    shape = draw(st.sampled_from(("empty", "simple", "simple", "mixed", "mixed")))
    if shape == "empty":
        return {}
    if shape == "simple":
        simple = [(k, v) for k, v in keys if k in ("app", "tier")]
        return {"matchLabels": dict([draw(st.sampled_from(simple))])}
    pairs = draw(st.lists(st.sampled_from(keys), max_size=2, unique_by=lambda kv: kv[0]))
    sel: Doc = {}
    if pairs:
        sel["matchLabels"] = dict(pairs)
    exprs = draw(st.lists(expressions(), max_size=1 if pairs else 2))
    if exprs:
        sel["matchExpressions"] = exprs
    return sel


@st.composite
def port_rules(draw: st.DrawFn, deny: bool) -> list[Doc]:
    items = []
    for _ in range(draw(st.integers(1, 2))):
        port: Doc = {"port": str(draw(st.sampled_from((*PORTS, 0))))}
        if port["port"] != "0" and draw(st.booleans()):
            port["endPort"] = int(port["port"]) + draw(st.sampled_from((0, 10)))
        port["protocol"] = draw(st.sampled_from(("TCP", "UDP", "ANY")))
        item: Doc = {"ports": [port]}
        if not deny and draw(st.booleans()):
            # Deny rules take no L7 rules (security/policy/deny.rst).
            item["rules"] = {
                "http": draw(
                    st.lists(
                        st.fixed_dictionaries(
                            {"path": st.sampled_from(("/public", "/pub.*", "/"))},
                            optional={"method": st.sampled_from(("GET", "POST"))},
                        ),
                        min_size=1,
                        max_size=2,
                    )
                )
            }
        items.append(item)
    return items


@st.composite
def cilium_entries(draw: st.DrawFn, direction: Direction, deny: bool, version: str) -> Doc:
    ingress = direction == "ingress"
    entities = ["all", "cluster", "world", "host"]
    if Version(version) >= Version("1.20"):
        entities.append("cluster-mesh")
    l3 = draw(st.sampled_from(("endpoints", "entities", "cidr", "none")))
    entry: Doc = {}
    if l3 == "endpoints":
        entry["fromEndpoints" if ingress else "toEndpoints"] = draw(
            st.lists(selectors(), max_size=2)
        )
    elif l3 == "entities":
        entry["fromEntities" if ingress else "toEntities"] = draw(
            st.lists(st.sampled_from(entities), min_size=1, max_size=2, unique=True)
        )
    elif l3 == "cidr":
        entry["fromCIDR" if ingress else "toCIDR"] = ["10.0.0.0/8"]
    if draw(st.booleans()) or (l3 == "none" and draw(st.booleans())):
        entry["toPorts"] = draw(port_rules(deny))
    return entry


SECTIONS: tuple[tuple[str, Direction, bool], ...] = (
    ("ingress", "ingress", False),
    ("ingressDeny", "ingress", True),
    ("egress", "egress", False),
    ("egressDeny", "egress", True),
)


@st.composite
def cilium_specs(
    draw: st.DrawFn,
    version: str,
    sections: Sequence[str] = ("ingress", "ingressDeny", "egress", "egressDeny"),
) -> Doc:
    spec: Doc = {"endpointSelector": draw(selectors())}
    chosen = draw(st.lists(st.sampled_from(sections), min_size=1, max_size=2, unique=True))
    for key, direction, deny in SECTIONS:
        if key in chosen:
            spec[key] = draw(
                st.lists(cilium_entries(direction, deny, version), min_size=1, max_size=2)
            )
    if draw(st.integers(0, 3)) == 0:
        toggle = st.sampled_from((False, False, True))
        spec["enableDefaultDeny"] = draw(
            st.fixed_dictionaries({}, optional={"ingress": toggle, "egress": toggle})
        )
    return spec


_names = iter(range(1 << 62))


def _name(prefix: str) -> str:
    return f"{prefix}{next(_names)}"


def cnp(spec: Doc, namespace: str) -> Doc:
    return {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": {"name": _name("cnp"), "namespace": namespace},
        "spec": spec,
    }


def ccnp(spec: Doc) -> Doc:
    return {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumClusterwideNetworkPolicy",
        "metadata": {"name": _name("ccnp")},
        "spec": spec,
    }


@st.composite
def knp_peers(draw: st.DrawFn) -> Doc:
    kind = draw(st.sampled_from(("pods", "namespaces", "both", "ipBlock")))
    if kind == "ipBlock":
        return {"ipBlock": {"cidr": "10.0.0.0/8"}}
    peer: Doc = {}
    pod_keys = [(k, v) for k, v in _LABEL_CHOICES if k in ("app", "tier")]
    if kind in ("pods", "both"):
        peer["podSelector"] = draw(selectors(pod_keys))
    if kind in ("namespaces", "both"):
        peer["namespaceSelector"] = draw(
            st.sampled_from([{}, *({"matchLabels": {"team": t}} for t in TEAMS)])
        )
    return peer


@st.composite
def knp_rules(draw: st.DrawFn, peer_key: str) -> Doc:
    rule: Doc = {}
    if draw(st.booleans()):
        rule[peer_key] = draw(st.lists(knp_peers(), max_size=2))
    if draw(st.booleans()):
        rule["ports"] = [
            {
                "port": draw(st.sampled_from(PORTS)),
                "protocol": draw(st.sampled_from(("TCP", "UDP"))),
            }
        ]
    return rule


@st.composite
def knps(draw: st.DrawFn, namespace: str) -> Doc:
    pod_keys = [(k, v) for k, v in _LABEL_CHOICES if k in ("app", "tier")]
    spec: Doc = {"podSelector": draw(selectors(pod_keys))}
    types = draw(st.lists(st.sampled_from(("Ingress", "Egress")), min_size=1, unique=True))
    if draw(st.booleans()):
        spec["policyTypes"] = types
    else:
        types = ["Ingress", "Egress"] if "Egress" in types else ["Ingress"]
    if "Ingress" in types:
        spec["ingress"] = draw(st.lists(knp_rules("from"), max_size=2))
    if "Egress" in types:
        spec["egress"] = draw(st.lists(knp_rules("to"), max_size=2))
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": _name("knp"), "namespace": namespace},
        "spec": spec,
    }


@st.composite
def documents(draw: st.DrawFn, world: World) -> Doc:
    """Any policy document of the grammar that ``world``'s version accepts."""
    kind = draw(st.sampled_from(("CNP", "CCNP", "KNP")))
    namespace = draw(st.sampled_from(NAMESPACES))
    if kind == "KNP":
        doc = draw(knps(namespace))
    else:
        spec = draw(cilium_specs(world.version))
        doc = cnp(spec, namespace) if kind == "CNP" else ccnp(spec)
    assume(world.rules_valid(doc))
    return doc


@st.composite
def placements(draw: st.DrawFn, world: World) -> dict[str, list[Doc]]:
    """Policy documents per cluster (the same document may sit in several)."""
    pool = draw(st.lists(documents(world), max_size=4))
    return {cluster: [doc for doc in pool if draw(st.booleans())] for cluster in world.clusters}


# ---------------------------------------------------------------------------------------------
# helpers


def all_pairs(world: World) -> Iterator[tuple[Endpoint, Endpoint]]:
    eps = world.endpoints()
    for src in eps:
        for dst in eps:
            yield src, dst


def outcomes(
    world: World, policies: Mapping[str, ClusterPolicy], flows: Sequence[Flow]
) -> dict[tuple[str, str, Flow], Decision]:
    return {
        (src.name, dst.name, flow): decide_flow(
            policies[src.cluster], src.identity, policies[dst.cluster], dst.identity, flow
        )
        for src, dst in all_pairs(world)
        for flow in flows
    }


def build(
    world: World,
    docs: Mapping[str, Sequence[Doc]],
    enforcement: Mapping[str, str] | None = None,
    audit: bool = False,
) -> dict[str, ClusterPolicy]:
    modes = enforcement or {}
    return {
        c: world.policy(c, docs.get(c, ()), modes.get(c, "default"), audit) for c in world.clusters
    }


def in_default_deny(policy: ClusterPolicy, direction: Direction, identity: Identity) -> bool:
    """Whether ``policy``'s agent holds the endpoint in default deny for ``direction``:
    enforcement ``always``, or a selecting rule with that direction's default deny (s3)."""
    if policy.enforcement == "never":
        return False
    return policy.enforcement == "always" or any(
        rule.selects(identity) and direction in rule.default_deny for rule in policy.rules
    )


def open_sections(doc: Doc) -> list[str]:
    """The allow sections one can append to without changing the rule's default deny: a
    Cilium section that is already non-empty; a KNP list whose direction the policy types
    already hold."""
    spec = doc["spec"]
    if doc["kind"] != "NetworkPolicy":
        return [key for key in ("ingress", "egress") if spec.get(key)]
    types = spec.get("policyTypes")
    return [
        key
        for key, kind in (("ingress", "Ingress"), ("egress", "Egress"))
        if key in spec and (types is None or kind in types)
    ]


def add_entry(doc: Doc, section: str, entry: Doc) -> Doc:
    """A copy of the document with ``entry`` appended to ``spec[section]``."""
    spec = dict(doc["spec"])
    spec[section] = [*spec[section], entry]
    return {**doc, "spec": spec}


MODES = st.sampled_from(("default", "default", "default", "always"))


def modes_for(world: World) -> st.SearchStrategy[dict[str, str]]:
    return st.fixed_dictionaries({c: MODES for c in world.clusters})


# ---------------------------------------------------------------------------------------------
# (a) deny rules only take away


@st.composite
def deny_only_documents(draw: st.DrawFn, world: World) -> Doc:
    spec = draw(cilium_specs(world.version, sections=("ingressDeny", "egressDeny")))
    doc = cnp(spec, draw(st.sampled_from(NAMESPACES))) if draw(st.booleans()) else ccnp(spec)
    assume(world.rules_valid(doc))
    return doc


@SETTINGS
@given(data=st.data())
def test_adding_a_deny_rule_never_turns_a_deny_into_an_allow(data: st.DataObject) -> None:
    """Deny takes precedence over allow in every kind of policy, and a deny section puts its
    subjects into default deny like an allow section does (security/policy/deny.rst;
    docs/cilium-semantics.md Q1). So adding a policy that has only ingressDeny/egressDeny (to any
    cluster) can only make verdicts stricter: ALLOWED may become L7_DENIED or DROPPED,
    L7_DENIED may become DROPPED, nothing moves the other way. Audit mode is off here; see
    the next test for why it must be."""
    world = data.draw(worlds())
    docs = data.draw(placements(world))
    flows = data.draw(FLOWS)
    modes = data.draw(modes_for(world))
    deny = data.draw(deny_only_documents(world))
    where = data.draw(st.sampled_from(world.clusters))
    before = outcomes(world, build(world, docs, modes), flows)
    after_docs = {**docs, where: [*docs[where], deny]}
    after = outcomes(world, build(world, after_docs, modes), flows)
    for key, decision in before.items():
        assert RANK[after[key].outcome] <= RANK[decision.outcome], (key, decision, after[key])


def test_in_audit_mode_an_added_deny_can_lift_an_l7_denial() -> None:
    """Why property (a) excludes audit mode: audit forwards every L3/L4 drop, explicit denies
    included (docs/cilium-semantics.md Q8), while the L7 proxy keeps answering 403 for requests
    it sees. Adding an egress deny on the port turns the L7 verdict into an L3/L4 drop, which
    audit then lets through (the model's reading: a deny entry has no proxy redirect)."""
    world = World(
        "1.19", True, ("c1",), {"ns1": {"team": "t1"}}, (Workload("w", "ns1", {"app": "a"}),)
    )
    http_only = cnp(
        {
            "endpointSelector": {},
            "egress": [
                {"toPorts": [{"ports": [{"port": "80"}], "rules": {"http": [{"path": "/public"}]}}]}
            ],
        },
        "ns1",
    )
    deny = cnp({"endpointSelector": {}, "egressDeny": [{"toEntities": ["all"]}]}, "ns1")
    [ep] = world.endpoints()
    flow = Flow(80, path="/private")
    before = world.policy("c1", [http_only], audit=True)
    after = world.policy("c1", [http_only, deny], audit=True)
    assert decide_direction(before, "egress", ep.identity, ep.identity, flow).outcome is (
        Outcome.L7_DENIED
    )
    lifted = decide_direction(after, "egress", ep.identity, ep.identity, flow)
    assert lifted.outcome is Outcome.ALLOWED
    assert "policy-audit-mode lets it through" in lifted.reasons[-1]


# ---------------------------------------------------------------------------------------------
# (b) allow rules only add, while default deny does not change


@st.composite
def allow_entries(draw: st.DrawFn, world: World, direction: Direction, l7: bool) -> Doc:
    entry = draw(cilium_entries(direction, False, world.version))
    if not l7:
        for item in entry.get("toPorts", []):
            item.pop("rules", None)
    return entry


def check_allows_kept(
    world: World,
    before: Mapping[str, ClusterPolicy],
    after: Mapping[str, ClusterPolicy],
    flows: Sequence[Flow],
    *,
    l7_may_start: bool,
) -> None:
    """Per direction: an ALLOWED verdict stays ALLOWED for an endpoint whose default-deny
    state the change left alone. When ``l7_may_start`` (the added allow has HTTP rules) and
    the endpoint is not in default deny, ALLOWED may become L7_DENIED, never DROPPED."""
    for src, dst in all_pairs(world):
        sides: list[tuple[str, Direction, Identity, Identity]] = [
            (src.cluster, "egress", src.identity, dst.identity),
            (dst.cluster, "ingress", dst.identity, src.identity),
        ]
        for cluster, direction, local, peer in sides:
            old, new = before[cluster], after[cluster]
            deny_before = in_default_deny(old, direction, local)
            if deny_before != in_default_deny(new, direction, local):
                continue
            for flow in flows:
                was = decide_direction(old, direction, local, peer, flow)
                now = decide_direction(new, direction, local, peer, flow)
                if was.outcome is not Outcome.ALLOWED or now.outcome is Outcome.ALLOWED:
                    continue
                if l7_may_start and not deny_before and now.outcome is Outcome.L7_DENIED:
                    continue
                raise AssertionError((cluster, direction, str(local), str(peer), flow, was, now))


@SETTINGS
@given(data=st.data(), l7=st.booleans())
def test_an_allow_added_to_an_existing_section_never_removes_an_allow(
    data: st.DataObject, l7: bool
) -> None:
    """Allow rules are additive (security/policy/intro.rst: policies are whitelists, the
    union of all rules selecting an endpoint is what it may do). Appending an allow entry to
    a section a rule already has cannot switch anyone into default deny (the rule already
    held that direction), so no allowed flow loses its allow.

    With HTTP rules in the added entry one documented exception remains: an endpoint NOT in
    default deny (only ``enableDefaultDeny: false`` rules select it) that the new entry admits
    starts L7 filtering on that port, because enableDefaultDeny "does not apply to layer-7
    policy" (docs/cilium-semantics.md s3). That turns ALLOWED into L7_DENIED, never DROPPED."""
    world = data.draw(worlds())
    docs = data.draw(placements(world))
    flows = data.draw(FLOWS)
    modes = data.draw(modes_for(world))
    where = data.draw(st.sampled_from(world.clusters))
    candidates = [
        (i, section) for i, doc in enumerate(docs[where]) for section in open_sections(doc)
    ]
    assume(candidates)
    i, section = data.draw(st.sampled_from(candidates))
    doc = docs[where][i]
    if doc["kind"] == "NetworkPolicy":
        entry = data.draw(knp_rules("from" if section == "ingress" else "to"))
    else:
        entry = data.draw(allow_entries(world, section, l7))  # type: ignore[arg-type]
    changed = add_entry(doc, section, entry)
    assume(world.rules_valid(changed))
    after_docs = {**docs, where: [*docs[where][:i], changed, *docs[where][i + 1 :]]}
    check_allows_kept(
        world, build(world, docs, modes), build(world, after_docs, modes), flows, l7_may_start=l7
    )


def test_an_http_allow_starts_l7_filtering_without_default_deny() -> None:
    """The exception property (b) allows for, pinned: enableDefaultDeny "does not apply to
    layer-7 policy" (docs/cilium-semantics.md s3). An endpoint whose only selecting rule has
    ``enableDefaultDeny.ingress: false`` lets everything in; appending an HTTP allow to that
    rule's ingress section makes the proxy answer 403 to other requests on that port from the
    peers it admits, while other ports stay open."""
    world = World(
        "1.19", True, ("c1",), {"ns1": {"team": "t1"}}, (Workload("w", "ns1", {"app": "a"}),)
    )
    spec: Doc = {
        "endpointSelector": {},
        "ingress": [{"fromEndpoints": [{"matchLabels": {"app": "nobody"}}]}],
        "enableDefaultDeny": {"ingress": False},
    }
    http = {"toPorts": [{"ports": [{"port": "80"}], "rules": {"http": [{"path": "/public"}]}}]}
    before_doc = cnp(spec, "ns1")
    after_doc = add_entry(before_doc, "ingress", http)
    [ep] = world.endpoints()
    before, after = world.policy("c1", [before_doc]), world.policy("c1", [after_doc])
    private, other_port = Flow(80, path="/private"), Flow(8080, path="/private")
    assert not in_default_deny(after, "ingress", ep.identity)
    assert decide_direction(before, "ingress", ep.identity, ep.identity, private).outcome is (
        Outcome.ALLOWED
    )
    assert decide_direction(after, "ingress", ep.identity, ep.identity, private).outcome is (
        Outcome.L7_DENIED
    )
    assert decide_direction(after, "ingress", ep.identity, ep.identity, other_port).outcome is (
        Outcome.ALLOWED
    )


@SETTINGS
@given(data=st.data(), l7=st.booleans())
def test_a_new_allow_policy_never_removes_an_allow_where_default_deny_is_unchanged(
    data: st.DataObject, l7: bool
) -> None:
    """The same for a whole new allow-only policy (CNP, CCNP or KNP), checked only for
    endpoints whose default-deny state it leaves alone: those already in default deny for the
    direction, or not selected by it with that direction's section. (For the others the new
    policy *is* the switch to default deny: SF6, s3 "If any rule selects an endpoint and the
    rule has an ingress section, the endpoint goes into default deny-mode".)"""
    world = data.draw(worlds())
    docs = data.draw(placements(world))
    flows = data.draw(FLOWS)
    modes = data.draw(modes_for(world))
    where = data.draw(st.sampled_from(world.clusters))
    kind = data.draw(st.sampled_from(("CNP", "CCNP", "KNP")))
    if kind == "KNP":
        new = data.draw(knps(data.draw(st.sampled_from(NAMESPACES))))
    else:
        spec = data.draw(cilium_specs(world.version, sections=("ingress", "egress")))
        spec.pop("enableDefaultDeny", None)
        if not l7:
            for key in ("ingress", "egress"):
                for entry in spec.get(key, []):
                    for item in entry.get("toPorts", []):
                        item.pop("rules", None)
        new = cnp(spec, "ns1") if kind == "CNP" else ccnp(spec)
    assume(world.rules_valid(new))
    after_docs = {**docs, where: [*docs[where], new]}
    check_allows_kept(
        world, build(world, docs, modes), build(world, after_docs, modes), flows, l7_may_start=l7
    )


# ---------------------------------------------------------------------------------------------
# (c) policies are per cluster


@settings(SETTINGS, max_examples=20)
@given(data=st.data())
def test_a_policy_never_changes_verdicts_between_pods_of_other_clusters(
    data: st.DataObject,
) -> None:
    """ "Kubernetes security policies are not automatically distributed across clusters"
    (network/clustermesh/policy.rst; s8): a policy applied in cluster X is enforced by X's
    agents only. A flow whose source and destination both run outside X (same cluster or two
    others) keeps its verdict and its explanation, through the simulated mesh's wiring."""
    world = data.draw(worlds(clusters=3))
    docs = data.draw(placements(world))
    new = data.draw(documents(world))
    where = data.draw(st.sampled_from(world.clusters))
    flow = data.draw(FLOWS)[0]
    sim, deployment = world.mesh(docs)
    others = [ep for ep in world.endpoints() if ep.cluster != where]
    request = HttpRequest(flow.method, flow.path)

    def predict_all() -> dict[tuple[str, str], tuple[Outcome, tuple[str, ...]]]:
        found = {}
        for src in others:
            for dst in others:
                probe = Probe(
                    src.cluster,
                    src.name.rsplit("-", 1)[0],
                    PodTarget(dst.cluster, dst.name.rsplit("-", 1)[0]),
                    flow.port,
                    flow.protocol,  # type: ignore[arg-type]
                    request,
                )
                result = sim.predict(deployment, probe)
                found[src.name, dst.name] = (result.outcome, result.explanation)
        return found

    before = predict_all()
    sim.set_policies(deployment, where, [as_policy_doc(d) for d in [*docs[where], new]])
    assert predict_all() == before


# ---------------------------------------------------------------------------------------------
# (d) enforcement mode never


@SETTINGS
@given(data=st.data(), audit=st.booleans())
def test_enforcement_never_allows_everything(data: st.DataObject, audit: bool) -> None:
    """``enable-policy=never``: "nothing enforced" (security/policy/intro.rst; s3): with it on
    every cluster every flow is ALLOWED, L7 rules and deny rules included; with it on one
    cluster that cluster's agent allows both directions whatever the others decide."""
    world = data.draw(worlds())
    docs = data.draw(placements(world))
    flows = data.draw(FLOWS)
    never = build(world, docs, {c: "never" for c in world.clusters}, audit)
    for key, decision in outcomes(world, never, flows).items():
        assert decision.outcome is Outcome.ALLOWED, (key, decision)
    one = data.draw(st.sampled_from(world.clusters))
    mixed = build(world, docs, {one: "never"}, audit)
    for src, dst in all_pairs(world):
        for flow in flows:
            if src.cluster == one:
                got = decide_direction(mixed[one], "egress", src.identity, dst.identity, flow)
                assert got.outcome is Outcome.ALLOWED
            if dst.cluster == one:
                got = decide_direction(mixed[one], "ingress", dst.identity, src.identity, flow)
                assert got.outcome is Outcome.ALLOWED


# ---------------------------------------------------------------------------------------------
# (e) each direction at its own cluster


def aimed_document(target: Workload, section: str) -> Doc:
    """A CCNP whose subject matches ``target``'s labels (in any cluster) with a ``section``
    that denies (``*Deny``: all) or default-denies (``[{}]``) everything: the strongest thing
    a wrongly placed evaluation could apply."""
    selector = {"matchLabels": dict(target.labels)}
    entities = "toEntities" if section.startswith("egress") else "fromEntities"
    item: Doc = {entities: ["all"]} if section.endswith("Deny") else {}
    return ccnp({"endpointSelector": selector, section: [item]})


def lines(reasons: Sequence[str], prefix: str) -> list[str]:
    return [r for r in reasons if r.startswith(prefix)]


@SETTINGS
@given(data=st.data())
def test_egress_is_decided_at_the_source_and_ingress_at_the_destination(
    data: st.DataObject,
) -> None:
    """Egress is checked on the sending node by its agent, ingress by the receiving node's
    (security/network/policyenforcement.rst; s8). So, for a source in cluster A and a
    destination in cluster B:

    - policies added only in B (among them a CCNP selecting the source's labels with an
      egress deny or default deny) never change the egress decision, taken at A: the
      ``egress at A`` explanation is the same, and a flow A dropped stays dropped alike;
    - a CCNP added only in A selecting the destination's labels with an ingress deny or
      default deny never changes the ingress decision, taken at B.
    """
    world = data.draw(worlds())
    docs = data.draw(placements(world))
    flow = data.draw(FLOWS)[0]
    a, b = world.clusters
    src_w = data.draw(st.sampled_from(world.workloads))
    dst_w = data.draw(st.sampled_from(world.workloads))
    request = HttpRequest(flow.method, flow.path)
    probe = Probe(a, src_w.name, PodTarget(b, dst_w.name), flow.port, flow.protocol, request)  # type: ignore[arg-type]

    # egress: add at B
    sim, deployment = world.mesh(docs)
    before = sim.predict(deployment, probe)
    added = [
        aimed_document(src_w, data.draw(st.sampled_from(("egress", "egressDeny")))),
        data.draw(documents(world)),
    ]
    sim.set_policies(deployment, b, [as_policy_doc(d) for d in [*docs[b], *added]])
    after = sim.predict(deployment, probe)
    egress = f"egress at {a}"
    assert lines(before.explanation, egress)
    assert lines(after.explanation, egress) == lines(before.explanation, egress)
    if not lines(before.explanation, f"ingress at {b}"):  # the egress dropped it
        assert (after.outcome, after.explanation) == (before.outcome, before.explanation)

    # ingress: add at A
    sim, deployment = world.mesh(docs)
    before = sim.predict(deployment, probe)
    section = data.draw(st.sampled_from(("ingress", "ingressDeny")))
    added = [aimed_document(dst_w, section)]
    sim.set_policies(deployment, a, [as_policy_doc(d) for d in [*docs[a], *added]])
    after = sim.predict(deployment, probe)
    ingress = f"ingress at {b}"
    assert lines(after.explanation, ingress) == lines(before.explanation, ingress)


# ---------------------------------------------------------------------------------------------
# sanity of the generators


def test_the_grammar_yields_every_kind_of_document() -> None:
    """Guards the generators above: they must produce each kind the properties talk about."""
    seen: set[str] = set()
    world = World("1.20", True, ("c1", "c2"), {ns: {"team": "t1"} for ns in NAMESPACES}, ())

    @settings(max_examples=50, deadline=None, database=None)
    @given(documents(world))
    def collect(doc: Doc) -> None:
        seen.add(doc["kind"])
        spec = doc["spec"]
        seen.update(key for key in ("ingressDeny", "egressDeny") if key in spec)

    collect()
    assert {"CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy", "NetworkPolicy"} <= seen
    assert {"ingressDeny", "egressDeny"} <= seen
