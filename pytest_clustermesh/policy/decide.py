"""Verdicts from rules: what one cluster's agent decides for one direction of a flow.

Cross-cluster traffic needs the source cluster's egress allow AND the destination cluster's
ingress allow, each evaluated by its own agent with its own options (cilium-semantics.md s8).
Within a direction, deny rules win over allow rules whatever kind of policy holds them
(security/policy/deny.rst); an endpoint no rule puts into default deny lets everything in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from ..verdicts import Outcome
from .labels import Identity
from .rules import Direction, Entry, PortRule, Rule


@dataclass(frozen=True)
class ClusterPolicy:
    """The policy state of one cluster: its rules and the options that change verdicts."""

    cluster_name: str
    rules: tuple[Rule, ...] = ()
    enforcement: str = "default"
    """``enable-policy``: default, always or never."""
    audit: bool = False
    """``policy-audit-mode``: would-be drops are logged and let through."""


@dataclass(frozen=True)
class Flow:
    port: int
    protocol: str = "TCP"
    method: str = "GET"
    path: str = "/"


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    """ALLOWED, DROPPED or L7_DENIED."""
    reasons: tuple[str, ...] = field(default_factory=tuple)


def decide_direction(
    cluster: ClusterPolicy, direction: Direction, local: Identity, peer: Identity, flow: Flow
) -> Decision:
    """The verdict of ``cluster``'s agent for traffic of ``local`` to/from ``peer``."""
    return _decide_cached(cluster, direction, local, peer, flow)


@lru_cache(maxsize=1 << 16)
def _decide_cached(
    cluster: ClusterPolicy, direction: Direction, local: Identity, peer: Identity, flow: Flow
) -> Decision:
    # Cached per identity pair, as Cilium's policy maps are: pods sharing labels share verdicts.
    where = f"{direction} at {cluster.cluster_name}"
    if cluster.enforcement == "never":
        return Decision(Outcome.ALLOWED, (f"{where}: enforcement mode never",))
    selecting = [rule for rule in cluster.rules if rule.selects(local)]
    decision = _evaluate(cluster, direction, selecting, local, peer, flow, where)
    # Audit mode forwards L3/L4 drops, explicit denies included; the L7 proxy still answers
    # 403 (docs/cilium-notes.md, question 8).
    if decision.outcome is Outcome.DROPPED and cluster.audit:
        return Decision(
            Outcome.ALLOWED, (*decision.reasons, f"{where}: policy-audit-mode lets it through")
        )
    return decision


def _evaluate(
    cluster: ClusterPolicy,
    direction: Direction,
    selecting: list[Rule],
    local: Identity,
    peer: Identity,
    flow: Flow,
    where: str,
) -> Decision:
    for rule in selecting:
        for entry in rule.entries_for(direction):
            if entry.deny and _admits(entry, peer, cluster.cluster_name, flow):
                return Decision(Outcome.DROPPED, (f"{where}: denied by {entry.origin}",))
    enforcing = [rule.origin for rule in selecting if direction in rule.default_deny]
    allows = [
        (entry, port_rule)
        for rule in selecting
        for entry in rule.entries_for(direction)
        if not entry.deny
        for port_rule in [_admits(entry, peer, cluster.cluster_name, flow)]
        if port_rule is not None
    ]
    if not allows:
        if cluster.enforcement == "always":
            return Decision(Outcome.DROPPED, (f"{where}: enforcement mode always, no rule allows",))
        if enforcing:
            return Decision(
                Outcome.DROPPED,
                (
                    f"{where}: default deny (selected by {', '.join(enforcing)}); no rule allows "
                    f"{peer} on {flow.port}/{flow.protocol}",
                ),
            )
        if selecting:
            return Decision(
                Outcome.ALLOWED,
                (
                    f"{where}: selected only by rules without default "
                    "deny (enableDefaultDeny: false)",
                ),
            )
        return Decision(Outcome.ALLOWED, (f"{where}: no policy selects the endpoint",))
    return _l7(allows, flow, where)


def _admits(entry: Entry, peer: Identity, local_cluster: str, flow: Flow) -> PortRule | None:
    if entry.peer_matches(peer, local_cluster) is None:
        return None
    return entry.port_rule(flow.port, flow.protocol)


def _l7(allows: list[tuple[Entry, PortRule]], flow: Flow, where: str) -> Decision:
    """An allow without L7 rules admits every request; otherwise the proxy answers 403 to a
    request no HTTP rule matches (security/policy/language.rst, layer7)."""
    origins = ", ".join(sorted({entry.origin for entry, _ in allows}))
    if any(port_rule.http is None for _, port_rule in allows):
        return Decision(Outcome.ALLOWED, (f"{where}: allowed by {origins}",))
    http_rules = [rule for _, port_rule in allows for rule in port_rule.http or ()]
    for rule in http_rules:
        if rule.matches(flow.method, flow.path):
            return Decision(Outcome.ALLOWED, (f"{where}: HTTP {rule} allowed by {origins}",))
    listed = "; ".join(map(str, http_rules))
    return Decision(
        Outcome.L7_DENIED,
        (f"{where}: {flow.method} {flow.path} matches no HTTP rule of {origins} ({listed})",),
    )


def decide_flow(
    source_cluster: ClusterPolicy,
    source: Identity,
    dest_cluster: ClusterPolicy,
    dest: Identity,
    flow: Flow,
) -> Decision:
    """Egress at the source's cluster, then ingress at the destination's: both must allow."""
    egress = decide_direction(source_cluster, "egress", source, dest, flow)
    if egress.outcome is Outcome.DROPPED:
        return egress
    ingress = decide_direction(dest_cluster, "ingress", dest, source, flow)
    reasons = (*egress.reasons, *ingress.reasons)
    if ingress.outcome is Outcome.DROPPED:
        return Decision(Outcome.DROPPED, reasons)
    if Outcome.L7_DENIED in (egress.outcome, ingress.outcome):
        return Decision(Outcome.L7_DENIED, reasons)
    return Decision(Outcome.ALLOWED, reasons)
