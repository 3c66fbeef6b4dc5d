"""Table-driven tests of ClusterNetworkPolicy tiers in the policy model (docs/cilium-semantics.md
s18).

Sources: the tier order and the actions from network-policy-api apis/v1alpha2
(clusternetworkpolicy_types.go, ``Tier`` and ``ClusterNetworkPolicyRuleAction``); how Cilium
imports a policy from ``ParseClusterNetworkPolicy`` (pkg/k8s/cluster_network_policy.go); the
evaluation order across tiers, and deny-over-allow among equal priorities, from CFP-42904
(cilium/design-cfps ``cilium/CFP-42904-policy-ordering.md``); enforcement from 1.20 with
``enable-k8s-cluster-network-policy`` (cilium#47227). Each row runs on the simulated mesh.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from pytest_clustermesh.policy.decide import _settles_before
from pytest_clustermesh.policy.rules import Peer, PortRule
from pytest_clustermesh.policy.tiers import Action, TieredEntry
from pytest_clustermesh.verdicts import Outcome

from ..meshworld import cnp, mesh, probe

ALLOWED, DROPPED, UNKNOWN = Outcome.ALLOWED, Outcome.DROPPED, Outcome.PROBE_ERROR
ON = {"enable-k8s-cluster-network-policy": "true"}
BE = {"matchLabels": {"app": "backend"}}
FE = {"matchLabels": {"app": "frontend"}}
TEAM_A = {"matchLabels": {"team": "a"}}


def kcnp(
    tier: str,
    priority: int,
    *,
    ingress: list[dict[str, Any]] | None = None,
    egress: list[dict[str, Any]] | None = None,
    subject: dict[str, Any] | None = None,
    name: str = "g",
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "tier": tier,
        "priority": priority,
        "subject": subject or {"pods": {"namespaceSelector": {}, "podSelector": BE}},
    }
    if ingress is not None:
        spec["ingress"] = ingress
    if egress is not None:
        spec["egress"] = egress
    return {
        "apiVersion": "policy.networking.k8s.io/v1alpha2",
        "kind": "ClusterNetworkPolicy",
        "metadata": {"name": name},
        "spec": spec,
    }


def pods(selector: dict[str, Any]) -> dict[str, Any]:
    return {"pods": {"namespaceSelector": {}, "podSelector": selector}}


def rule(action: str, *peers: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"action": action, "from": list(peers), **extra}


def to(action: str, *peers: dict[str, Any]) -> dict[str, Any]:
    return {"action": action, "to": list(peers)}


def be_allows(*peers: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return cnp(
        {
            "endpointSelector": BE,
            "ingress": [{"fromEndpoints": list(peers)}],
            **extra,
        }
    )


ADMIN_DENY_FE = kcnp("Admin", 10, ingress=[rule("Deny", pods(FE))])
ADMIN_ACCEPT_FE = kcnp("Admin", 10, ingress=[rule("Accept", pods(FE))])
ADMIN_PASS_FE = kcnp("Admin", 10, ingress=[rule("Pass", pods(FE))])
BASELINE_DENY_FE = kcnp("Baseline", 10, ingress=[rule("Deny", pods(FE))], name="b")
BASELINE_ACCEPT_FE = kcnp("Baseline", 10, ingress=[rule("Accept", pods(FE))], name="b")
TCP_80 = {"tcp": {"destinationPort": {"number": 80}}}
CNP_ALLOWS_FE = be_allows(FE)
CNP_ALLOWS_TESTER = be_allows({"matchLabels": {"app": "test"}})
CNP_DENIES_FE = cnp({"endpointSelector": BE, "ingressDeny": [{"fromEndpoints": [FE]}]})


@dataclass(frozen=True)
class Row:
    pins: str
    policies: list[dict[str, Any]]
    source: str
    expected: Outcome
    target: str = "c1/be"
    port: int = 8080
    version: str = "1.20"
    options: dict[str, str] = field(default_factory=lambda: dict(ON))


# fmt: off
ROWS = [
    # -- the Admin tier: final unless Pass ----------------------------------------------------
    Row("an Admin Deny drops what no other policy restricts (action Deny)",
        [ADMIN_DENY_FE], "c1/fe", DROPPED),
    Row("a rule that does not match leaves the flow to the next tiers",
        [ADMIN_DENY_FE], "c1/tester", ALLOWED),
    Row("an Admin Deny wins over a CNP allow (the Admin tier is evaluated first)",
        [ADMIN_DENY_FE, CNP_ALLOWS_FE], "c1/fe", DROPPED),
    Row("an Admin Accept wins over a CNP deny: no further NetworkPolicy rule is processed",
        [ADMIN_ACCEPT_FE, CNP_DENIES_FE], "c1/fe", ALLOWED),
    Row("an Admin Accept wins over a CNP's default deny",
        [ADMIN_ACCEPT_FE, CNP_ALLOWS_TESTER], "c1/fe", ALLOWED),
    Row("Pass hands the flow to the NetworkPolicy tier, whose default deny drops it",
        [ADMIN_PASS_FE, CNP_ALLOWS_TESTER], "c1/fe", DROPPED),
    Row("Pass hands the flow to the NetworkPolicy tier, which allows it",
        [ADMIN_PASS_FE, CNP_ALLOWS_FE, BASELINE_DENY_FE], "c1/fe", ALLOWED),
    Row("Pass skips the rest of the Admin tier: a later Admin Deny does not apply",
        [kcnp("Admin", 10, ingress=[rule("Pass", pods(FE)), rule("Deny", pods(FE))])],
        "c1/fe", ALLOWED),
    Row("Pass with no NetworkPolicy selecting the pod reaches the Baseline tier",
        [ADMIN_PASS_FE, BASELINE_DENY_FE], "c1/fe", DROPPED),
    # -- priority and rule order ---------------------------------------------------------------
    Row("a lower priority value is evaluated first (Accept at 5 before Deny at 10)",
        [kcnp("Admin", 5, ingress=[rule("Accept", pods(FE))], name="a"), ADMIN_DENY_FE],
        "c1/fe", ALLOWED),
    Row("... and the other way round (Deny at 10 before Accept at 20)",
        [kcnp("Admin", 20, ingress=[rule("Accept", pods(FE))], name="a"), ADMIN_DENY_FE],
        "c1/fe", DROPPED),
    Row("within a policy, rules apply in the order written (Accept frontend, then Deny all)",
        [kcnp("Admin", 10, ingress=[rule("Accept", pods(FE)), rule("Deny", {"namespaces": {}})])],
        "c1/fe", ALLOWED),
    Row("... so the Deny all still drops the other clients",
        [kcnp("Admin", 10, ingress=[rule("Accept", pods(FE)), rule("Deny", {"namespaces": {}})])],
        "c1/tester", DROPPED),
    Row("equal priority in two policies: deny over allow, as Cilium keeps it (CFP-42904)",
        [kcnp("Admin", 10, ingress=[rule("Accept", pods(FE))], name="a"), ADMIN_DENY_FE],
        "c1/fe", DROPPED),
    Row("equal priority, Pass against Accept: undefined by the API, so the model cannot tell",
        [kcnp("Admin", 10, ingress=[rule("Accept", pods(FE))], name="a"), ADMIN_PASS_FE],
        "c1/fe", UNKNOWN),
    Row("all Admin rules come before all Baseline rules, whatever their priority",
        [kcnp("Admin", 900, ingress=[rule("Deny", pods(FE))]),
         kcnp("Baseline", 0, ingress=[rule("Accept", pods(FE))], name="b")],
        "c1/fe", DROPPED),
    # -- the Baseline tier: only where the NetworkPolicy tier decided nothing -------------------
    Row("a Baseline Deny drops traffic to a pod that no NetworkPolicy selects",
        [BASELINE_DENY_FE], "c1/fe", DROPPED),
    Row("a CNP allow overrides a Baseline Deny (the NetworkPolicy tier comes first)",
        [BASELINE_DENY_FE, CNP_ALLOWS_FE], "c1/fe", ALLOWED),
    Row("a Baseline Accept does not open a pod that a CNP put into default deny",
        [BASELINE_ACCEPT_FE, CNP_ALLOWS_TESTER], "c1/fe", DROPPED),
    Row("a CNP without default deny decides only what it allows; the Baseline decides the rest "
        "(the NetworkPolicy tier's allow sits above the Baseline range, CFP-42904)",
        [BASELINE_DENY_FE,
         be_allows({"matchLabels": {"app": "test"}}, enableDefaultDeny={"ingress": False})],
        "c1/fe", DROPPED),
    # -- protocols -------------------------------------------------------------------------------
    Row("protocols narrow a rule: Deny of TCP 80 leaves 8080 alone",
        [kcnp("Admin", 1, ingress=[rule("Deny", pods(FE), protocols=[TCP_80])])],
        "c1/fe", ALLOWED),
    Row("... and drops 80",
        [kcnp("Admin", 1, ingress=[rule("Deny", pods(FE), protocols=[TCP_80])])],
        "c1/fe", DROPPED, port=80),
    Row("a named destination port matches the pod's container port of that name",
        [kcnp("Admin", 1, ingress=[rule("Deny", pods(FE),
                                        protocols=[{"destinationNamedPort": "web"}])])],
        "c1/fe", DROPPED, port=80),
    # -- egress --------------------------------------------------------------------------------
    Row("an Admin egress Deny at the client's cluster drops the flow",
        [kcnp("Admin", 1, subject={"pods": {"namespaceSelector": {}, "podSelector": FE}},
              egress=[to("Deny", pods(BE))])],
        "c1/fe", DROPPED),
    Row("an Admin egress Accept overrides the client's CNP egress default deny",
        [kcnp("Admin", 1, subject={"pods": {"namespaceSelector": {}, "podSelector": FE}},
              egress=[to("Accept", pods(BE))]),
         cnp({"endpointSelector": FE, "egress": [{"toEndpoints": [{"matchLabels": {"x": "y"}}]}]})],
        "c1/fe", ALLOWED),
    # -- across clusters -------------------------------------------------------------------------
    Row("a pods peer is scoped to the local cluster by policy-default-local-cluster "
        "(kcnpParseNamespacedPod): a frontend of c2 is not matched",
        [ADMIN_DENY_FE], "c2/fe", ALLOWED),
    Row("... and with the option off it matches every cluster",
        [ADMIN_DENY_FE], "c2/fe", DROPPED,
        options={**ON, "policy-default-local-cluster": "false"}),
    Row("a pods peer that names the cluster selects that cluster's pods",
        [kcnp("Admin", 1, ingress=[rule("Deny", pods(
            {"matchLabels": {"app": "frontend", "io.cilium.k8s.policy.cluster": "c2"}}))])],
        "c2/fe", DROPPED),
    Row("a namespaces peer has no cluster term: it matches the namespace in every cluster, "
        "even with policy-default-local-cluster on (ParseClusterNetworkPolicy)",
        [kcnp("Admin", 1, ingress=[rule("Deny", {"namespaces": TEAM_A})])],
        "c2/fe", DROPPED),
    Row("... and not other namespaces",
        [kcnp("Admin", 1, ingress=[rule("Deny", {"namespaces": TEAM_A})])],
        "c2/fe-other", ALLOWED),
    Row("the policy applies in the cluster that holds it only: c2's be is not its subject",
        [ADMIN_DENY_FE], "c2/fe", ALLOWED, target="c2/be"),
    # -- which clusters enforce it -------------------------------------------------------------
    Row("Cilium 1.19 does not enforce ClusterNetworkPolicy (from 1.20, cilium#47227)",
        [ADMIN_DENY_FE], "c1/fe", ALLOWED, version="1.19"),
    Row("1.20 enforces it only with enable-k8s-cluster-network-policy",
        [ADMIN_DENY_FE], "c1/fe", ALLOWED, options={}),
]
# fmt: on


@pytest.mark.parametrize("row", ROWS, ids=[r.pins for r in ROWS])
def test_cluster_network_policy_tiers(row: Row) -> None:
    sim, deployment = mesh(row.version, row.options, {"c1": row.policies})
    result = probe(sim, deployment, row.source, row.target, row.port)
    assert result.outcome is row.expected, result.detail


def test_the_explanation_names_the_deciding_tier_rule() -> None:
    sim, deployment = mesh("1.20", ON, {"c1": [ADMIN_DENY_FE, CNP_ALLOWS_FE]})
    result = probe(sim, deployment, "c1/fe", "c1/be")
    explained = "\n".join(result.explanation)
    assert "ingress at c1: denied by KCNP g ingress[0], Admin tier, priority 10, Deny" in explained
    assert "allow rule CNP demo/p" in explained and "the Admin tier decided first" in explained


def test_a_baseline_rule_overridden_by_a_cnp_is_a_near_miss() -> None:
    sim, deployment = mesh("1.20", ON, {"c1": [BASELINE_DENY_FE, CNP_ALLOWS_FE]})
    result = probe(sim, deployment, "c1/fe", "c1/be")
    assert result.outcome is ALLOWED
    explained = "\n".join(result.explanation)
    assert (
        "Baseline Deny rule KCNP b ingress[0], Baseline tier, priority 10, Deny does not "
        "apply: it matches, but the NetworkPolicy tier decided first"
    ) in explained


def test_a_pass_is_named_in_the_explanation() -> None:
    sim, deployment = mesh("1.20", ON, {"c1": [ADMIN_PASS_FE, CNP_ALLOWS_TESTER]})
    explained = "\n".join(probe(sim, deployment, "c1/fe", "c1/be").explanation)
    assert "passed on to the NetworkPolicy tier by KCNP g ingress[0]" in explained
    assert "default deny (selected by CNP demo/p" in explained


# -- an entry the model cannot tell for the peer, beside one that matches (s18) ----------------


def tiered(action: Action, priority: int = 10, origin: str = "a", port: int | None = None) -> Any:
    ports = None if port is None else (PortRule(port),)
    peers = (Peer("wildcard", text="any peer"),)
    deny = action == "Deny"
    return TieredEntry("egress", deny, peers, ports, origin, priority=priority, action=action)


@pytest.mark.parametrize(
    ("hit", "unsure", "settles"),
    [
        (tiered("Accept", 5), tiered("Deny", 10, "z"), True),  # it comes first
        (tiered("Accept", 10), tiered("Deny", 5, "z"), False),  # the unsure one comes first
        # A tie: a matching Deny wins it whatever else ties (first_match; CFP-42904) ...
        (tiered("Deny"), tiered("Accept", origin="z"), True),
        # ... an Accept does not: another policy's rule would join it, and might Deny.
        (tiered("Accept"), tiered("Accept", origin="z"), False),
        (tiered("Accept"), tiered("Deny", origin="z"), False),
        # Another peer of the same rule: it acts alike through either ...
        (tiered("Accept"), tiered("Accept"), True),
        # ... unless the entries' ports differ (the DNS allow beside a domainNames peer).
        (tiered("Accept", port=53), tiered("Accept"), False),
    ],
)  # fmt: skip
def test_which_matching_tier_entry_settles_an_unsure_one(
    hit: TieredEntry, unsure: TieredEntry, settles: bool
) -> None:
    assert _settles_before(hit, unsure) is settles
