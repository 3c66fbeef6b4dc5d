"""Verdicts from rules: what one cluster's agent decides for one direction of a flow.

Cross-cluster traffic needs the source cluster's egress allow AND the destination cluster's
ingress allow, each evaluated by its own agent with its own options (docs/cilium-semantics.md s8).
Within a direction, deny rules win over allow rules whatever kind of policy holds them
(security/policy/deny.rst); an endpoint no rule puts into default deny lets everything in.

Evaluation goes through a :class:`PolicyIndex`, built once per :class:`ClusterPolicy`, that
works the way Cilium's policy maps do: a verdict depends only on which rules select the local
identity and which rule peers select the remote one, so it is computed once per such pair and
shared by every pod carrying those identities. The explanation is rendered on demand from a
compact verdict, so bulk callers (:mod:`.pairs`) never build strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from ..verdicts import Outcome
from .labels import (
    CLUSTER,
    LOOKUP_PROXIED,
    NAMESPACE,
    Identity,
    Requirement,
    address_of,
    is_kube_apiserver,
    is_world,
    lookup_of,
)
from .rules import (
    ICMP_ECHO_REQUEST,
    Direction,
    Entry,
    HttpRule,
    Peer,
    PortRule,
    Rule,
    fqdn_match,
)
from .tiers import TIERS, Tier, TieredEntry, TieredRule, first_match


@dataclass(frozen=True)
class ClusterPolicy:
    """The policy state of one cluster: its rules and the options that change verdicts."""

    cluster_name: str
    rules: tuple[Rule, ...] = ()
    enforcement: str = "default"
    """``enable-policy``: default, always or never."""
    audit: bool = False
    """``policy-audit-mode``: would-be drops are logged and let through."""
    setting: str = ""
    """The cluster's version and options, named in every explanation line when the mesh mixes
    settings (a rolling upgrade), so a reader sees which cluster's settings decided."""

    @cached_property
    def index(self) -> PolicyIndex:
        """The lookup tables and verdict caches of this policy state, built on first use.

        Kept on the instance, not in a global cache keyed by the policy, because hashing a
        policy hashes every rule: that cost was paid on every lookup before.
        """
        return PolicyIndex(self)

    def __getstate__(self) -> dict[str, Any]:
        # The index is a cache: rebuilt after unpickling rather than carried along.
        state = dict(self.__dict__)
        state.pop("index", None)
        return state


@dataclass(frozen=True)
class Flow:
    port: int
    protocol: str = "TCP"
    method: str = "GET"
    path: str = "/"
    port_name: str | None = None
    """The destination pod's name for the port, if its container port has one (s5)."""
    host: str | None = None
    """The Host header the request sets; ``None``: curl's default (the target's address)."""
    headers: tuple[tuple[str, str], ...] = ()
    ambiguous: frozenset[str] = frozenset()
    """Port names that stand for several numbers among the mesh's pods (egress before 1.20
    resolves a name per node, cilium#24779)."""
    dns_name: str | None = None
    """For a DNS query (a lookup of an external name through kube-dns): the name asked for."""

    @property
    def icmp(self) -> bool:
        """An ICMP flow: ``port`` is the ICMP type (8, an echo request, for a probe)."""
        return self.protocol in ("ICMP", "ICMPv6")

    @property
    def text(self) -> str:
        """``8080/TCP``, or ``ICMP echo request (type 8)``."""
        if self.icmp:
            what = " echo request" if self.port == ICMP_ECHO_REQUEST else ""
            return f"{self.protocol}{what} (type {self.port})"
        return f"{self.port}/{self.protocol}"


def icmp_flow() -> Flow:
    """The flow of a ping: an ICMPv4 echo request (the ``port`` of an ICMP flow is its type)."""
    return Flow(ICMP_ECHO_REQUEST, "ICMP")


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    """ALLOWED, DROPPED or L7_DENIED; PROBE_ERROR when the model cannot tell, because what
    decides it is a feature the model does not cover (the reasons name it)."""
    reasons: tuple[str, ...] = field(default_factory=tuple)
    unknowns: tuple[str, ...] = ()
    """For an unknown decision: the reasons that say which feature the model does not cover
    leaves it so (a subset of ``reasons``)."""

    @property
    def unknown(self) -> bool:
        return self.outcome is Outcome.PROBE_ERROR


def decide_direction(
    cluster: ClusterPolicy, direction: Direction, local: Identity, peer: Identity, flow: Flow
) -> Decision:
    """The verdict of ``cluster``'s agent for traffic of ``local`` to/from ``peer``."""
    return cluster.index.decide(direction, local, peer, flow)


def decide_flow(
    source_cluster: ClusterPolicy,
    source: Identity,
    dest_cluster: ClusterPolicy,
    dest: Identity,
    flow: Flow,
) -> Decision:
    """Egress at the source's cluster and ingress at the destination's: both must allow.

    Both directions are evaluated even when egress already drops, so an explanation shows what
    each agent decides (a user fixing the egress side learns whether ingress would pass).
    """
    egress = decide_direction(source_cluster, "egress", source, dest, flow)
    ingress = decide_direction(dest_cluster, "ingress", dest, source, flow)
    outcome = combine(egress.outcome, ingress.outcome)
    return Decision(
        outcome, (*egress.reasons, *ingress.reasons), (*egress.unknowns, *ingress.unknowns)
    )


def combine(egress: Outcome, ingress: Outcome) -> Outcome:
    """The outcome of a flow from its two direction outcomes, as :func:`decide_flow` has it.

    A drop on either side settles it; otherwise a direction the model cannot tell (PROBE_ERROR)
    leaves the flow unknown.
    """
    if egress is Outcome.DROPPED or ingress is Outcome.DROPPED:
        return Outcome.DROPPED
    if Outcome.PROBE_ERROR in (egress, ingress):
        return Outcome.PROBE_ERROR
    if Outcome.L7_DENIED in (egress, ingress):
        return Outcome.L7_DENIED
    return Outcome.ALLOWED


def _peer_miss(entry: Entry, peer: Identity, local_cluster: str) -> str:
    """Why none of ``entry``'s peers selects ``peer``, term by term."""
    if not entry.peers:
        return "it selects no peer (an entry with no L3 or L4 part allows nothing)"
    return "; ".join(_one_peer_miss(p, peer, local_cluster) for p in entry.peers)


def peer_text(peer: Identity) -> str:
    """An identity as explanations show it: its labels, or for a destination outside the mesh
    ``world <address> (<name>, looked up ...)``."""
    if is_kube_apiserver(peer):
        return "the kube-apiserver"
    if not is_world(peer):
        return str(peer)
    address = address_of(peer)
    lookup = lookup_of(peer)
    text = f"world {address or '(address unknown)'}"
    if lookup is not None:
        how = "through Cilium's DNS proxy" if lookup[1] == LOOKUP_PROXIED else "not proxied"
        text += f" ({lookup[0]}, looked up {how})"
    return text


def _world_miss(candidate: Peer, peer: Identity) -> str:
    """Why a peer does not select a destination outside the mesh."""
    if candidate.kind == "cidr":
        address = address_of(peer) or "the address"
        inside = Peer("cidr", cidrs=tuple((cidr, ()) for cidr, _ in candidate.cidrs))
        if inside.matches(peer, ""):
            return f"{candidate.text}: {address} is in an except prefix"
        return f"{candidate.text}: {address} is not in it"
    if candidate.kind == "fqdn":
        lookup = lookup_of(peer)
        name = lookup[0] if lookup else "the name"
        return f"{candidate.text}: {name} matches none of its names"
    if candidate.kind == "entity":
        return f"entity {candidate.entity} does not select the world outside the mesh"
    if candidate.kind == "endpoints":
        return f"{candidate.text}: selects Cilium endpoints, not the world outside the mesh"
    return f"{candidate.text}: does not select the world outside the mesh"


def _one_peer_miss(candidate: Peer, peer: Identity, local_cluster: str) -> str:
    if is_world(peer) and not (
        candidate.kind == "endpoints"
        and candidate.selector
        and candidate.selector.has_source("reserved")
    ):
        return _world_miss(candidate, peer)
    if candidate.kind == "entity":
        if candidate.entity == "cluster":
            return (
                f"entity cluster selects pods of {local_cluster} only "
                f"(the peer is in {peer.cluster})"
            )
        return f"entity {candidate.entity} never selects a pod"
    if candidate.kind in ("cidr", "nodes", "fqdn", "opaque"):
        return f"{candidate.text}: never a pod"
    if candidate.selector is None:
        return candidate.text
    reasons = []
    for req in sorted(candidate.selector.requirements, key=str):
        if req.matches(peer):
            continue
        if req == candidate.local_scope:
            reasons.append(
                f"scoped to the local cluster {local_cluster} ({candidate.scope_note}; the "
                f"peer is in {peer.cluster})"
            )
        elif req == candidate.namespace_scope:
            reasons.append(
                f"limited to the policy's namespace {_values(req)} (the peer is in "
                f"{peer.namespace})"
            )
        elif req.key == CLUSTER:
            reasons.append(f"it names cluster {_values(req)} (the peer is in {peer.cluster})")
        elif req.key == NAMESPACE:
            reasons.append(f"it names namespace {_values(req)} (the peer is in {peer.namespace})")
        else:
            reasons.append(f"{req} does not hold for the peer")
    return f"{candidate.text}: " + ", ".join(reasons) if reasons else candidate.text


def _icmp_miss(entry: Entry, flow: Flow) -> str:
    """Why an entry whose peers match does not admit an ICMP flow (docs/cilium-semantics.md
    s16)."""
    listed = [rule for rule in entry.ports or () if rule.icmp]
    if listed:
        return f"its icmps lists {', '.join(map(str, listed))}, not {flow.text}"
    if any(rule.protocols & {"ICMP", "ICMPv6"} for rule in entry.ports or ()):
        return f"it does not list {flow.text}"
    return (
        f"{flow.text} is not among its ports ({', '.join(map(str, entry.ports or ()))}): "
        "ports admit TCP, UDP and SCTP only, and once an L4 rule applies, ICMP that no "
        "icmps lists is blocked"
    )


def _values(req: Requirement) -> str:
    return "/".join(sorted(req.values)) or req.operator


# ---------------------------------------------------------------------------------------------
# the index


# Why a direction decided as it did; a compact decision keeps the kind and the ids to explain
# it later.
_NEVER, _DENIED, _ALWAYS, _DEFAULT_DENY, _NO_DEFAULT_DENY, _UNSELECTED = range(6)
_L4_ALLOWED, _HTTP_ALLOWED, _L7_DENIED, _UNKNOWN = range(6, 10)
_DNS_ALLOWED, _DNS_REFUSED = range(10, 12)
_TIER_ACCEPTED, _TIER_DENIED = range(12, 14)
#: What the NetworkPolicy tier leaves undecided, so the Baseline tier of ClusterNetworkPolicy
#: gets its say (:mod:`.tiers`).
_UNDECIDED = (_UNSELECTED, _NO_DEFAULT_DENY, _ALWAYS)

#: Bounds of the per-index caches; past them a cache starts over (as the old LRU bound did).
_DECISION_CACHE = 1 << 16
_COMPACT_CACHE = 1 << 20


@dataclass(frozen=True, slots=True)
class _Compact:
    """One direction's decision in compact form: no strings, explained only on demand."""

    outcome: Outcome
    """Final: audit mode already applied."""
    kind: int
    entries: tuple[int, ...] = ()
    """The deciding deny entry, or the admitting allow entries, as entry ids."""
    http: HttpRule | None = None
    audited: bool = False
    unknown: str = ""
    """For an unknown verdict: the feature the model does not cover that decides it."""
    passed: tuple[int, ...] = ()
    """ClusterNetworkPolicy Pass entries that handed the flow on before the verdict."""


@dataclass(frozen=True, slots=True)
class Selection:
    """What the rules selecting one local identity hold, per direction (index 0 ingress)."""

    id: int
    selected: bool
    deny: tuple[tuple[int, ...], tuple[int, ...]]
    allow: tuple[tuple[int, ...], tuple[int, ...]]
    enforcing: tuple[tuple[str, ...], tuple[str, ...]]
    """Origins of the selecting rules that put the direction into default deny, in order."""
    unknown: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())
    """Per direction, what selecting rules do that the model does not cover (rule origin and
    feature)."""
    tiered: tuple[tuple[int, ...], tuple[int, ...]] = ((), ())
    """Per direction, the ClusterNetworkPolicy entries selecting the endpoint, in precedence
    order (tier, priority, rule)."""


def _slot(direction: Direction) -> int:
    return 0 if direction == "ingress" else 1


def _settles_before(hit: TieredEntry, unsure: TieredEntry) -> bool:
    """Whether a ClusterNetworkPolicy entry that matches decides the tier whether or not an
    entry whose peer the model cannot tell matches too: it comes first; or it ties and is a
    Deny, which wins a tie (:func:`first_match`); or it is another peer of the same rule, with
    the same action and ports, so the rule acts alike through either peer."""
    if hit.order != unsure.order:
        return hit.order < unsure.order
    return hit.action == "Deny" or (hit.origin == unsure.origin and hit.ports == unsure.ports)


class PolicyIndex:
    """One cluster's rules, indexed for evaluation; verdicts cached per identity pair.

    An identity is reduced, once, to the set of distinct requirements (selector terms) of the
    cluster's rules it satisfies, as a bit mask. From that mask follow the rules selecting it as
    a local endpoint (interned as a *selection*) and the rule peers selecting it as a remote
    one (interned as a *peer class*). A direction's verdict is a function of (direction,
    selection, peer class, flow) and is computed once per such key; identities that no rule
    tells apart share it.
    """

    def __init__(self, cluster: ClusterPolicy) -> None:
        self.cluster = cluster
        self._requirements: dict[Requirement, int] = {}
        self._subject_masks: list[int | None] = [
            None if rule.subject is None else self._mask(rule.subject.requirements)
            for rule in cluster.rules
        ]
        self.entries: list[Entry] = []
        self._rule_entries: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
        peer_ids: dict[Peer, int] = {}
        self._entry_peer_masks: list[int] = []
        for rule in cluster.rules:
            per_direction: tuple[list[int], list[int]] = ([], [])
            for entry in rule.entries:
                per_direction[_slot(entry.direction)].append(len(self.entries))
                self.entries.append(entry)
                mask = 0
                for peer in entry.peers:
                    mask |= 1 << peer_ids.setdefault(peer, len(peer_ids))
                self._entry_peer_masks.append(mask)
            self._rule_entries.append((tuple(per_direction[0]), tuple(per_direction[1])))
        self._peers = list(peer_ids)
        self._peer_req_masks = [
            self._mask(p.selector.requirements)
            if p.kind == "endpoints" and p.selector is not None
            else None
            for p in self._peers
        ]
        self._requirement_list = list(self._requirements)
        # identity -> interned ids
        self._selection_of: dict[Identity, Selection] = {}
        self._selections: dict[tuple[int, ...], Selection] = {}
        self._class_of: dict[Identity, int] = {}
        self._classes: dict[tuple[int, int, tuple[tuple[int, str], ...]], int] = {}
        self._class_bits: list[int] = []
        self._class_unsure: list[tuple[int, dict[int, str]]] = []
        """Per peer class, the peers that may or may not select it (bits) and why, per peer."""
        # caches
        self._ports: dict[tuple[int, str, str | None, frozenset[str]], list[PortRule | None]] = {}
        self._compact: dict[tuple[Direction, Flow], dict[tuple[int, int], _Compact]] = {}
        self._compact_count = 0
        self._decisions: dict[tuple[Direction, Identity, Identity, Flow], Decision] = {}

    def _mask(self, requirements: frozenset[Requirement]) -> int:
        mask = 0
        for req in requirements:
            mask |= 1 << self._requirements.setdefault(req, len(self._requirements))
        return mask

    def _identity_bits(self, identity: Identity) -> int:
        bits = 0
        for i, req in enumerate(self._requirement_list):
            if req.matches(identity):
                bits |= 1 << i
        return bits

    # -- identities ------------------------------------------------------------------------

    def selection(self, local: Identity) -> Selection:
        """The rules selecting ``local`` (as an interned selection)."""
        found = self._selection_of.get(local)
        if found is not None:
            return found
        bits = self._identity_bits(local)
        chosen = tuple(
            i
            for i, mask in enumerate(self._subject_masks)
            if mask is not None and mask & bits == mask
        )
        found = self._selections.get(chosen)
        if found is None:
            found = self._new_selection(chosen)
            self._selections[chosen] = found
        self._selection_of[local] = found
        return found

    def _new_selection(self, chosen: tuple[int, ...]) -> Selection:
        rules = self.cluster.rules
        deny: tuple[list[int], list[int]] = ([], [])
        allow: tuple[list[int], list[int]] = ([], [])
        enforcing: tuple[list[str], list[str]] = ([], [])
        unknown: tuple[list[str], list[str]] = ([], [])
        tiered: tuple[list[int], list[int]] = ([], [])
        for i in chosen:
            if isinstance(rules[i], TieredRule):
                for slot in (0, 1):
                    tiered[slot].extend(self._rule_entries[i][slot])
                continue
            for slot, direction in ((0, "ingress"), (1, "egress")):
                if direction in rules[i].default_deny:
                    enforcing[slot].append(rules[i].origin)
                unknown[slot].extend(
                    f"{rules[i].origin}: {why}"
                    for where, why in rules[i].unknown
                    if where == direction
                )
                for e in self._rule_entries[i][slot]:
                    (deny if self.entries[e].deny else allow)[slot].append(e)

        def precedence(e: int) -> tuple[int, int, int]:
            entry = self.entries[e]
            assert isinstance(entry, TieredEntry)
            return (TIERS.index(entry.tier), *entry.order)

        return Selection(
            len(self._selections),
            any(not isinstance(rules[i], TieredRule) for i in chosen),
            (tuple(deny[0]), tuple(deny[1])),
            (tuple(allow[0]), tuple(allow[1])),
            (tuple(enforcing[0]), tuple(enforcing[1])),
            (tuple(unknown[0]), tuple(unknown[1])),
            (tuple(sorted(tiered[0], key=precedence)), tuple(sorted(tiered[1], key=precedence))),
        )

    def peer_class(self, peer: Identity) -> int:
        """Which rule peers select ``peer``, interned: equal classes are indistinguishable."""
        found = self._class_of.get(peer)
        if found is not None:
            return found
        bits = self._identity_bits(peer)
        peer_bits = unsure_bits = 0
        why: dict[int, str] = {}
        name = self.cluster.cluster_name
        for i, (candidate, mask) in enumerate(zip(self._peers, self._peer_req_masks, strict=True)):
            if mask is None:
                if candidate.kind == "endpoints":
                    continue
                state = candidate.match_state(peer, name)
                if state:
                    peer_bits |= 1 << i
                elif state is None:
                    unsure_bits |= 1 << i
                    why[i] = candidate.unsure_why(peer)
            elif mask & bits == mask:
                peer_bits |= 1 << i
        key = (peer_bits, unsure_bits, tuple(sorted(why.items())))
        found = self._classes.setdefault(key, len(self._classes))
        if found == len(self._class_bits):
            self._class_bits.append(peer_bits)
            self._class_unsure.append((unsure_bits, why))
        self._class_of[peer] = found
        return found

    # -- verdicts --------------------------------------------------------------------------

    def outcome(self, direction: Direction, local: Identity, peer: Identity, flow: Flow) -> Outcome:
        """The outcome alone, without the explanation."""
        return self.compact(direction, self.selection(local), self.peer_class(peer), flow).outcome

    def outcomes(
        self, direction: Direction, selection: Selection, classes: list[int], flow: Flow
    ) -> list[Outcome]:
        """Outcomes for one local selection against many peer classes (a row of the pair table)."""
        memo = self._memo(direction, flow)
        out = []
        for cls in classes:
            found = memo.get((selection.id, cls))
            if found is None:
                found = self.compact(direction, selection, cls, flow)
            out.append(found.outcome)
        return out

    @property
    def decisions_computed(self) -> int:
        """How many (direction, selection, peer class, flow) verdicts were evaluated."""
        return self._compact_count

    def _memo(self, direction: Direction, flow: Flow) -> dict[tuple[int, int], _Compact]:
        memo = self._compact.get((direction, flow))
        if memo is None:
            if sum(map(len, self._compact.values())) >= _COMPACT_CACHE:
                self._compact.clear()
            memo = self._compact[(direction, flow)] = {}
        return memo

    def compact(
        self, direction: Direction, selection: Selection, peer_class: int, flow: Flow
    ) -> _Compact:
        memo = self._memo(direction, flow)
        key = (selection.id, peer_class)
        found = memo.get(key)
        if found is None:
            found = self._evaluate(direction, selection, peer_class, flow)
            self._compact_count += 1
            memo[key] = found
        return found

    def _port_rules(self, flow: Flow) -> list[PortRule | None]:
        """Per entry id, the port rule admitting the flow's port/protocol, or None."""
        key = (flow.port, flow.protocol, flow.port_name, flow.ambiguous)
        found = self._ports.get(key)
        if found is None:
            found = [self._port_rule(entry, flow) for entry in self.entries]
            self._ports[key] = found
        return found

    @staticmethod
    def _port_rule(entry: Entry, flow: Flow) -> PortRule | None:
        for rule in entry.ports or ():
            if rule.per_node and rule.name in flow.ambiguous and flow.protocol in rule.protocols:
                return PortRule(
                    None,
                    unknown=f"named port {rule.name!r}, which stands for several numbers "
                    "among the mesh's pods; before 1.20 egress resolves it per node, not per "
                    "destination (cilium#24779)",
                )
        return entry.port_rule(flow.port, flow.protocol, flow.port_name)

    def _evaluate(
        self, direction: Direction, selection: Selection, peer_class: int, flow: Flow
    ) -> _Compact:
        cluster = self.cluster
        if cluster.enforcement == "never":
            return _Compact(Outcome.ALLOWED, _NEVER)
        slot = _slot(direction)
        tiered = selection.tiered[slot]
        verdict = self._tier("Admin", tiered, peer_class, flow) if tiered else None
        if verdict is None or verdict.kind == _NEVER:  # no Admin rule matched, or a Pass
            passed = verdict.passed if verdict else ()
            verdict = self._network_policy_tier(slot, selection, peer_class, flow)
            if tiered and verdict.kind in _UNDECIDED:
                baseline = self._tier("Baseline", tiered, peer_class, flow)
                if baseline is not None and baseline.kind != _NEVER:
                    verdict = baseline
            if passed:
                verdict = replace(verdict, passed=passed + verdict.passed)
        # Audit mode forwards L3/L4 drops, explicit denies included; the L7 proxy still answers
        # 403 (docs/cilium-semantics.md Q8).
        if verdict.outcome is Outcome.DROPPED and cluster.audit:
            return replace(verdict, outcome=Outcome.ALLOWED, audited=True)
        return verdict

    def _tier(
        self, tier: Tier, tiered: tuple[int, ...], peer_class: int, flow: Flow
    ) -> _Compact | None:
        """The first ClusterNetworkPolicy rule of ``tier`` that matches: Accept or Deny as a
        verdict; Pass as a ``_NEVER`` placeholder carrying the passing entries; ``None`` when
        no rule matches. A rule whose peer the model cannot tell for this peer, ahead of the
        first that matches, leaves the verdict unknown (docs/cilium-semantics.md s18)."""
        peer_bits = self._class_bits[peer_class]
        unsure_bits, unsure_why = self._class_unsure[peer_class]
        ports = self._port_rules(flow)
        masks = self._entry_peer_masks
        candidates: list[tuple[TieredEntry, bool]] = []
        unsure: list[int] = []
        ids: dict[int, int] = {}
        for e in tiered:
            entry = self.entries[e]
            assert isinstance(entry, TieredEntry)
            if entry.tier != tier or ports[e] is None:
                continue
            if masks[e] & unsure_bits and not masks[e] & peer_bits:
                unsure.append(e)
                continue
            candidates.append((entry, bool(masks[e] & peer_bits)))
            ids[id(entry)] = e
        hits = [c for c, hit in candidates if hit]
        for e in unsure:
            entry = self.entries[e]
            assert isinstance(entry, TieredEntry)
            if not any(_settles_before(hit, entry) for hit in hits):
                peer = next(i for i in unsure_why if masks[e] & (1 << i))
                why = f"{entry.origin}: {unsure_why[peer]}"
                return _Compact(Outcome.PROBE_ERROR, _UNKNOWN, (e,), unknown=why)
        found = first_match(candidates)
        if found is None:
            return None
        action, deciding = found
        entries = tuple(ids[id(entry)] for entry in deciding)
        if action == "Deny":
            return _Compact(Outcome.DROPPED, _TIER_DENIED, entries)
        if action == "Accept":
            # An Accept with DNS rules (the one beside domainNames) still sends the query
            # through Cilium's DNS proxy, which answers the names it does not list REFUSED.
            accepted = self._l7(entries, ports, flow)
            if accepted.kind == _L4_ALLOWED:
                return _Compact(Outcome.ALLOWED, _TIER_ACCEPTED, entries)
            return accepted
        if len({entry.action for entry in deciding}) > 1:
            why = (
                f"{', '.join(e.origin for e in deciding)}: rules of equal priority that Pass "
                "and Accept the same traffic, an order the API leaves undefined"
            )
            return _Compact(Outcome.PROBE_ERROR, _UNKNOWN, entries, unknown=why)
        return _Compact(Outcome.ALLOWED, _NEVER, passed=entries)

    def _network_policy_tier(
        self, slot: int, selection: Selection, peer_class: int, flow: Flow
    ) -> _Compact:
        """The verdict of the policies Cilium has always had: KNP, CNP and CCNP."""
        peer_bits = self._class_bits[peer_class]
        unsure_bits, unsure_why = self._class_unsure[peer_class]
        cluster = self.cluster
        ports = self._port_rules(flow)
        masks = self._entry_peer_masks
        verdict: _Compact | None = None
        unsure = ""
        for e in selection.deny[slot]:
            rule = ports[e]
            if rule is None:
                continue
            if masks[e] & peer_bits:
                if rule.unknown:
                    unsure = unsure or f"{self.entries[e].origin}: {rule.unknown}"
                    continue
                verdict = _Compact(Outcome.DROPPED, _DENIED, (e,))
                break
            if masks[e] & unsure_bits:
                # A deny whose peer may select the remote side (s17): unknown, unless a deny
                # the model can tell settles it.
                peer = next(i for i in unsure_why if masks[e] & (1 << i))
                unsure = unsure or f"{self.entries[e].origin}: {unsure_why[peer]}"
        # A deny the model can tell settles the verdict; otherwise a deny it cannot tell, or a
        # selecting rule it cannot read, leaves it unknown.
        if verdict is None and not unsure and selection.unknown[slot]:
            unsure = selection.unknown[slot][0]
        if verdict is None and unsure:
            verdict = _Compact(Outcome.PROBE_ERROR, _UNKNOWN, unknown=unsure)
        if verdict is None:
            allows = tuple(
                e for e in selection.allow[slot] if masks[e] & peer_bits and ports[e] is not None
            )
            maybe = [
                e for e in selection.allow[slot] if masks[e] & unsure_bits and ports[e] is not None
            ]
            if allows:
                verdict = self._l7(allows, ports, flow)
            elif maybe:
                # An allow whose peer may select the remote side: the model cannot tell.
                e = maybe[0]
                peer = next(i for i in unsure_why if masks[e] & (1 << i))
                why = f"{self.entries[e].origin}: {unsure_why[peer]}"
                verdict = _Compact(Outcome.PROBE_ERROR, _UNKNOWN, (e,), unknown=why)
            elif cluster.enforcement == "always":
                verdict = _Compact(Outcome.DROPPED, _ALWAYS)
            elif selection.enforcing[slot]:
                verdict = _Compact(Outcome.DROPPED, _DEFAULT_DENY)
            elif selection.selected:
                verdict = _Compact(Outcome.ALLOWED, _NO_DEFAULT_DENY)
            else:
                verdict = _Compact(Outcome.ALLOWED, _UNSELECTED)
        return verdict

    def _l7(self, allows: tuple[int, ...], ports: list[PortRule | None], flow: Flow) -> _Compact:
        """An allow without L7 rules admits every request; otherwise the proxy answers 403 to
        a request no HTTP rule matches (security/policy/language.rst, layer7). A port rule the
        model does not cover (a named port, DNS, Kafka or header rules) that could admit the
        flow leaves it unknown, unless a rule the model can tell admits it."""
        rules = [(e, rule) for e in allows if (rule := ports[e]) is not None]
        if any(rule.plain for _, rule in rules):
            return _Compact(Outcome.ALLOWED, _L4_ALLOWED, allows)
        dns = [(e, rule) for e, rule in rules if rule.dns is not None]
        if dns and flow.dns_name is not None:
            # The DNS proxy answers a query no DNS rule lets through with REFUSED
            # (language.rst, "DNS Policy and IP Discovery"; docs/cilium-semantics.md s17).
            for e, rule in dns:
                if any(fqdn_match(p, flow.dns_name) for p in rule.dns or ()):
                    return _Compact(Outcome.ALLOWED, _DNS_ALLOWED, (e,))
            return _Compact(Outcome.L7_DENIED, _DNS_REFUSED, tuple(e for e, _ in dns))
        if dns and all(rule.http is None and rule.unknown is None for _, rule in rules):
            e = dns[0][0]
            why = (
                f"{self.entries[e].origin}: DNS L7 rules, on a probe that is not a DNS query "
                "(the model decides DNS rules for the lookups of external names)"
            )
            return _Compact(Outcome.PROBE_ERROR, _UNKNOWN, allows, unknown=why)
        unsure: HttpRule | None = None
        for _, rule in rules:
            for http in rule.http or ():
                found = http.matches(flow.method, flow.path, flow.host, flow.headers)
                if found:
                    return _Compact(Outcome.ALLOWED, _HTTP_ALLOWED, allows, http)
                if found is None:
                    unsure = unsure or http
        if unsure is not None:
            why = (
                f"the HTTP rule {unsure} on the Host header, which the probe leaves to curl "
                "(the target's address): give the probe a host"
            )
            return _Compact(Outcome.PROBE_ERROR, _UNKNOWN, allows, unknown=why)
        for e, rule in rules:
            if rule.unknown:
                why = f"{self.entries[e].origin}: {rule.unknown}"
                return _Compact(Outcome.PROBE_ERROR, _UNKNOWN, allows, unknown=why)
        return _Compact(Outcome.L7_DENIED, _L7_DENIED, allows)

    def dns_proxied(self, local: Identity, peer: Identity, flow: Flow) -> bool:
        """Whether Cilium's DNS proxy sees ``local``'s DNS query ``flow`` to ``peer``: an
        egress allow of the endpoint that selects the peer has DNS rules on the query's port
        (the port is redirected to the proxy; an L4-only allow of the same port does not undo
        the redirect, it only lets every name through, as with HTTP, Q4)."""
        if self.cluster.enforcement == "never":
            return False
        selection = self.selection(local)
        peer_bits = self._class_bits[self.peer_class(peer)]
        ports = self._port_rules(flow)
        return any(
            self._entry_peer_masks[e] & peer_bits
            and ports[e] is not None
            and any(
                r.dns is not None and r.matches(flow.port, flow.protocol, flow.port_name)
                for r in self.entries[e].ports or ()
            )
            for e in (*selection.allow[1], *selection.tiered[1])
            if not self.entries[e].deny
        )

    # -- explanations ----------------------------------------------------------------------

    def decide(self, direction: Direction, local: Identity, peer: Identity, flow: Flow) -> Decision:
        """The verdict with its explanation (what :func:`decide_direction` returns)."""
        key = (direction, local, peer, flow)
        found = self._decisions.get(key)
        if found is None:
            selection = self.selection(local)
            verdict = self.compact(direction, selection, self.peer_class(peer), flow)
            reasons = self._explain(verdict, direction, selection, peer, flow)
            unknowns = reasons[:1] if verdict.kind == _UNKNOWN else ()
            found = Decision(verdict.outcome, reasons, unknowns)
            if len(self._decisions) >= _DECISION_CACHE:
                self._decisions.clear()
            self._decisions[key] = found
        return found

    def _where(self, direction: Direction) -> str:
        """``ingress at cluster1``, with the cluster's settings when the mesh mixes them."""
        cluster = self.cluster
        setting = f" ({cluster.setting})" if cluster.setting else ""
        return f"{direction} at {cluster.cluster_name}{setting}"

    def _explain(
        self,
        verdict: _Compact,
        direction: Direction,
        selection: Selection,
        peer: Identity,
        flow: Flow,
    ) -> tuple[str, ...]:
        where = self._where(direction)
        kind = verdict.kind
        if kind == _NEVER:
            return (f"{where}: enforcement mode never",)
        if kind in (_DENIED, _TIER_DENIED):
            text = f"{where}: denied by {self.entries[verdict.entries[0]].origin}"
        elif kind == _TIER_ACCEPTED:
            text = f"{where}: accepted by {self.entries[verdict.entries[0]].origin}"
        elif kind == _ALWAYS:
            text = f"{where}: enforcement mode always, no rule allows"
        elif kind == _DEFAULT_DENY:
            enforcing = ", ".join(selection.enforcing[_slot(direction)])
            text = (
                f"{where}: default deny (selected by {enforcing}); no rule allows "
                f"{peer_text(peer)} on {flow.text}"
            )
        elif kind == _NO_DEFAULT_DENY:
            text = (
                f"{where}: no rule puts the endpoint into {direction} default deny (the rules "
                f"selecting it have no {direction} section, or enableDefaultDeny.{direction}: "
                "false)"
            )
        elif kind == _UNSELECTED and selection.tiered[_slot(direction)]:
            text = (
                f"{where}: no ClusterNetworkPolicy rule selecting the endpoint matches, and no "
                "other policy selects it"
            )
        elif kind == _UNSELECTED:
            text = f"{where}: no policy selects the endpoint"
        elif kind == _UNKNOWN:
            text = f"{where}: unknown, the model does not cover {verdict.unknown}"
        else:
            origins = ", ".join(sorted({self.entries[e].origin for e in verdict.entries}))
            if kind == _DNS_ALLOWED:
                text = f"{where}: DNS query for {flow.dns_name} allowed by {origins}"
            elif kind == _DNS_REFUSED:
                listed = ", ".join(
                    name for rule in self._admitting(verdict, flow) for name in rule.dns or ()
                )
                text = (
                    f"{where}: the DNS proxy refuses the query for {flow.dns_name}: it matches "
                    f"no DNS rule of {origins} ({listed or 'none'})"
                )
            elif kind == _L4_ALLOWED:
                text = f"{where}: allowed by {origins}"
                if is_world(peer):
                    text += f" ({self._world_admitted(verdict.entries, peer)})"
                if flow.icmp:
                    text += f" ({self._icmp_admitted(verdict.entries, flow)})"
            elif kind == _HTTP_ALLOWED:
                text = f"{where}: HTTP {verdict.http} allowed by {origins}"
            else:
                listed = "; ".join(
                    str(http) for rule in self._admitting(verdict, flow) for http in rule.http or ()
                )
                text = (
                    f"{where}: {flow.method} {flow.path} matches no HTTP rule of {origins} "
                    f"({listed})"
                )
        misses = self._near_misses(verdict, direction, selection, peer, flow)
        passes = tuple(
            f"{where}: passed on to the NetworkPolicy tier by {self.entries[e].origin}"
            for e in verdict.passed
        )
        misses = (*passes, *misses)
        if verdict.audited:
            return (text, *misses, f"{where}: policy-audit-mode lets it through")
        return (text, *misses)

    def _admitting(self, verdict: _Compact, flow: Flow) -> list[PortRule]:
        """The port rules by which the verdict's entries admit the flow's port."""
        ports = self._port_rules(flow)
        return [rule for e in verdict.entries if (rule := ports[e]) is not None]

    def _near_misses(
        self,
        verdict: _Compact,
        direction: Direction,
        selection: Selection,
        peer: Identity,
        flow: Flow,
    ) -> tuple[str, ...]:
        """Every other rule entry that selects the endpoint in ``direction``, deny and allow,
        and why it did not decide: the peer it missed (by which term: local-cluster scoping,
        a named cluster, a namespace, a label), the port, or that a deny overrode it."""
        slot = _slot(direction)
        if verdict.kind == _NEVER or (verdict.kind == _UNSELECTED and not selection.tiered[slot]):
            return ()
        where = self._where(direction)
        peer_class = self.peer_class(peer)
        peer_bits = self._class_bits[peer_class]
        unsure_bits, unsure_why = self._class_unsure[peer_class]
        ports = self._port_rules(flow)
        lines = []
        decider = self.entries[verdict.entries[0]] if verdict.entries else None
        tier_decided = isinstance(decider, TieredEntry) and verdict.kind != _UNKNOWN
        for e in (*selection.tiered[slot], *selection.deny[slot], *selection.allow[slot]):
            if e in verdict.entries or e in verdict.passed:
                continue
            entry = self.entries[e]
            kind = "deny" if entry.deny else "allow"
            if isinstance(entry, TieredEntry):
                kind = f"{entry.tier} {entry.action}"
            mask = self._entry_peer_masks[e]
            if not mask & peer_bits and mask & unsure_bits:
                # No miss the model can state. An unknown verdict names such a rule already;
                # any other verdict was reached however the rule's peer matches.
                if verdict.kind != _UNKNOWN:
                    reason = unsure_why[next(i for i in unsure_why if mask & (1 << i))]
                    lines.append(
                        f"{where}: {kind} rule {entry.origin} does not change the verdict, "
                        f"whether or not it applies: {reason}"
                    )
                continue
            if not mask & peer_bits:
                why = _peer_miss(entry, peer, self.cluster.cluster_name)
            elif ports[e] is None and flow.icmp:
                why = _icmp_miss(entry, flow)
            elif ports[e] is None:
                listed = ", ".join(map(str, entry.ports or ())) or "no TCP/UDP/SCTP port"
                why = f"port {flow.port}/{flow.protocol} is not among its ports ({listed})"
            elif isinstance(entry, TieredEntry):
                why = self._tier_miss(entry, decider if tier_decided else None, verdict)
            elif tier_decided and isinstance(decider, TieredEntry):
                why = f"it matches, but the {decider.tier} tier decided first"
            elif verdict.kind == _DENIED:
                why = "it matches, but a deny rule wins"
            else:
                continue
            lines.append(f"{where}: {kind} rule {entry.origin} does not apply: {why}")
        return tuple(lines)

    @staticmethod
    def _tier_miss(entry: TieredEntry, decider: Entry | None, verdict: _Compact) -> str:
        """Why a ClusterNetworkPolicy rule that matches did not decide."""
        if isinstance(decider, TieredEntry):
            if TIERS.index(decider.tier) < TIERS.index(entry.tier):
                return f"it matches, but the {decider.tier} tier decided first"
            return "it matches, but a rule of higher precedence decided first"
        if verdict.kind == _UNKNOWN:
            return "it matches, but what comes before it leaves the verdict unknown"
        if entry.tier == "Baseline":
            return "it matches, but the NetworkPolicy tier decided first"
        return "it matches, but the flow was passed on before it"

    def _world_admitted(self, entries: tuple[int, ...], peer: Identity) -> str:
        """Which peer of the admitting entries selects a destination outside the mesh, and
        why (docs/cilium-semantics.md s17)."""
        name = self.cluster.cluster_name
        for e in entries:
            for candidate in self.entries[e].peers:
                if candidate.match_state(peer, name) is not True:
                    continue
                if candidate.kind == "fqdn":
                    lookup = lookup_of(peer)
                    learned = lookup[0] if lookup else "the name"
                    return (
                        f"{candidate.text}: Cilium's DNS proxy saw {learned} resolve to "
                        f"{address_of(peer) or 'it'}"
                    )
                if candidate.kind == "cidr":
                    return f"{candidate.text} holds {address_of(peer)}"
                if candidate.kind == "entity":
                    return f"entity {candidate.entity} selects the world outside the mesh"
                return candidate.text
        return "its peers select the world outside the mesh"

    def _icmp_admitted(self, entries: tuple[int, ...], flow: Flow) -> str:
        """Why the admitting entries let an ICMP flow through: an ``icmps`` field that lists
        its type, or no L4 part at all (language.rst: without layer 4 policy every protocol,
        ICMP included, passes; docs/cilium-semantics.md s16)."""
        entry = self.entries[entries[0]]
        if entry.ports is None:
            return (
                f"an entry with no toPorts or icmps admits every protocol, {flow.protocol} included"
            )
        return f"its icmps lists {flow.protocol} type {flow.port}"
