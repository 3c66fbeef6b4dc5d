"""Proving that a probe's drop was Cilium's policy, from Hubble on the node that dropped it.

A denied packet is dropped either at egress, on the source pod's node, or at ingress, on the
destination pod's node (docs/cilium-semantics.md s8), and only that node's Hubble records it
(the agent image's ``hubble`` reads the local node's socket). So for a round's dropped probes,
:class:`Prover` first asks the agents of the nodes their targets run on (ingress policies are
the common case), then, for the drops not found there, the agents of the source pods' nodes:
one exec per agent and pass, all at once.

For each dropped probe the answer is one of:

- Hubble recorded a policy drop (``POLICY_DENIED``/``POLICY_DENY``): proven, with the reason and
  any policies Hubble names;
- Hubble recorded a drop for another reason: a probe error naming that reason;
- the nodes' Hubble recorded nothing for it: the packets were lost on the way (a path that is
  down, a partitioned cluster pair), a probe error;
- Hubble cannot be read where the drop may be (Hubble off, agents unreadable): a probe error,
  unless the user passed ``--deny-evidence=timeout``, which makes it an inferred deny.

The flows counted are those since the probe's round started, by the agents' clocks: a node
whose clock runs behind the test machine's may miss a drop (an error, never a false deny).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from ..verdicts import Evidence, Proof
from . import hubble
from .agents import Agent, AgentShell, AgentsUnreadable, list_agents, said

DENY_EVIDENCE_CHOICES = ("hubble", "timeout")
INFER_OPTION = "--deny-evidence=timeout"


@dataclass(frozen=True)
class Place:
    """Where one end of a probe runs."""

    context: str
    node: str
    ip: str


@dataclass(frozen=True)
class Question:
    """A dropped probe to find in Hubble."""

    index: int
    source: Place
    targets: tuple[Place, ...]
    """The target pod, or every backend of the targeted Service."""
    addresses: tuple[str, ...]
    """Destination addresses its packets may carry: the pod IPs (a Service's ClusterIP is
    translated to a backend's address before policy sees the packet), or an external target's
    address."""
    port: int
    protocol: str = "TCP"
    """``TCP``, ``UDP``, ``SCTP`` or ``ICMP``: a drop of another protocol proves nothing."""
    names: tuple[str, ...] = ()
    """The name an external probe resolved in the pod: its drop may carry an address we never
    saw, named in the flow's ``destination_names``."""


Answer = Evidence | str
"""Evidence of a policy drop, or why there is none (the probe's error)."""


class Directory:
    """Which agent runs on which node, per cluster, listed when first needed."""

    def __init__(self, shells: Callable[[str], AgentShell]) -> None:
        self._shells = shells
        self._agents: dict[str, dict[str, Agent]] = {}
        self._unreadable: dict[str, str] = {}

    def agent(self, context: str, node: str) -> Agent | str:
        """The agent of ``node``, or why there is none to ask."""
        if context in self._unreadable:
            return self._unreadable[context]
        known = self._agents.get(context)
        if known is None or node not in known:
            try:
                known = {a.node: a for a in list_agents(self._shells(context).cluster)}
            except AgentsUnreadable as exc:
                self._unreadable[context] = f"{context}: {exc}"
                return self._unreadable[context]
            self._agents[context] = known
        return known.get(node) or f"{context}: no Cilium agent runs on node {node}"


class Prover:
    """Finds the Hubble record of dropped probes."""

    def __init__(
        self,
        shells: Callable[[str], AgentShell],
        hubble_off: Mapping[str, str | None],
        infer: bool,
        timeout: float,
    ) -> None:
        self._shells = shells
        self._hubble_off = dict(hubble_off)
        self._infer = infer
        self._timeout = timeout
        self._directory = Directory(shells)

    def prove(
        self, namespaces: Sequence[str], questions: Sequence[Question], since: datetime
    ) -> dict[int, Answer]:
        """An answer for every question."""
        answers: dict[int, Answer] = {}
        unread: dict[int, list[str]] = {q.index: [] for q in questions}
        asked: dict[int, list[str]] = {q.index: [] for q in questions}
        for pass_places in (_targets, _sources):
            todo = [q for q in questions if q.index not in answers]
            if not todo:
                break
            flows, why_not = self._read(
                {p for q in todo for p in pass_places(q)}, namespaces, since
            )
            for question in todo:
                found: list[hubble.DropFlow] = []
                for place in pass_places(question):
                    key = (place.context, place.node)
                    if key in why_not:
                        unread[question.index].append(why_not[key])
                    else:
                        asked[question.index].append(f"{place.context}/{place.node}")
                        found += hubble.matching(
                            flows.get(key, []),
                            question.source.ip,
                            question.addresses,
                            question.port,
                            question.protocol,
                            question.names,
                        )
                answer = _judge(found)
                if answer is not None:
                    answers[question.index] = answer
        for question in questions:
            if question.index not in answers:
                answers[question.index] = self._not_found(
                    question, since, asked[question.index], unread[question.index]
                )
        return answers

    def _read(
        self, places: set[Place], namespaces: Sequence[str], since: datetime
    ) -> tuple[dict[tuple[str, str], list[hubble.DropFlow]], dict[tuple[str, str], str]]:
        """The drops each node's Hubble holds, and why some nodes could not be read."""
        why_not: dict[tuple[str, str], str] = {}
        agents: dict[tuple[str, str], Agent] = {}
        for place in sorted(places, key=lambda p: (p.context, p.node)):
            key = (place.context, place.node)
            off = self._hubble_off.get(place.context)
            if off:
                why_not[key] = f"Hubble is off in {place.context} ({off})"
                continue
            agent = self._directory.agent(place.context, place.node)
            if isinstance(agent, str):
                why_not[key] = agent
            else:
                agents[key] = agent
        flows: dict[tuple[str, str], list[hubble.DropFlow]] = {}
        if not agents:
            return flows, why_not
        argv = hubble.observe_argv(since, namespaces)
        with ThreadPoolExecutor(max_workers=len(agents)) as pool:
            futures = {
                key: pool.submit(self._shells(key[0]).run, agent, argv, self._timeout)
                for key, agent in agents.items()
            }
            for key, future in futures.items():
                result = future.result()
                if result.exit_code != 0:
                    why_not[key] = f"{agents[key]}: hubble observe failed: {said(result)}"
                    continue
                try:
                    flows[key] = hubble.parse_flows(result.stdout)
                except ValueError as exc:
                    why_not[key] = f"{agents[key]}: {exc}"
        return flows, why_not

    def _not_found(
        self, question: Question, since: datetime, asked: list[str], unread: list[str]
    ) -> Answer:
        clusters = sorted({question.source.context, *(t.context for t in question.targets)})
        if unread:
            why = "; ".join(dict.fromkeys(unread))
            if self._infer:
                return Evidence(
                    Proof.INFERRED,
                    "timeout",
                    f"no Hubble record to check ({why}); a timeout taken as a deny "
                    f"({INFER_OPTION})",
                )
            return (
                f"the drop cannot be shown to be Cilium's policy: {why}; a timeout alone is "
                f"not a deny (pass {INFER_OPTION} to count it as one)"
            )
        if not question.targets:
            path = f"the way out of {question.source.context}"
        elif len(clusters) == 1:
            path = f"the path within {clusters[0]}"
        else:
            path = f"the path between {' and '.join(clusters)}"
        what = "connection" if question.protocol == "TCP" else f"{question.protocol} probe"
        return (
            f"Hubble on {', '.join(dict.fromkeys(asked))} recorded no drop of this {what} "
            f"since {hubble.rfc3339(since)}: its packets were lost without a policy verdict "
            f"(is {path} down?)"
        )


def _targets(question: Question) -> tuple[Place, ...]:
    return question.targets


def _sources(question: Question) -> tuple[Place, ...]:
    return (question.source,)


def _judge(found: list[hubble.DropFlow]) -> Answer | None:
    """Evidence from the drops found, the problem they show, or ``None`` for none found."""
    if not found:
        return None
    policy = [flow for flow in found if flow.is_policy]
    if policy:
        reasons = ", ".join(dict.fromkeys(flow.reason for flow in policy))
        nodes = ", ".join(dict.fromkeys(flow.node for flow in policy if flow.node))
        direction = policy[0].direction.lower()
        names = tuple(dict.fromkeys(name for flow in policy for name in flow.policies))
        where = f"{nodes} ({direction})" if direction else nodes
        return Evidence(Proof.PROVEN, "hubble", reasons, names, where)
    first = found[-1]
    direction = f" at {first.direction.lower()}" if first.direction else ""
    return (
        f"Hubble on {first.node or 'the node'} recorded the drop{direction} with reason "
        f"{first.reason}, which is not a policy verdict: the path is broken, not denied"
    )
