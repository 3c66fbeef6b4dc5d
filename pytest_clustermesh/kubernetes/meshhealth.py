"""Mesh health before anything is deployed: does every cluster's agent see every other cluster
of the run connected and ready?

What ``cilium clustermesh status`` checks, read the same way (``cilium-cli/clustermesh/
clustermesh.go``: ``determineStatusConnectivity``, ``parseAgentStatus``,
``remoteClusterStatusToError``): in every agent pod, ``cilium-dbg status -o json`` prints a
``models.StatusResponse`` whose ``cluster-mesh.clusters[]`` holds one ``models.RemoteCluster`` per
remote cluster: ``name``, ``ready``, ``connected``, ``status`` (the control plane's own words),
``config.{required,retrieved}`` and ``synced.{nodes,endpoints,identities,services}``
(cilium ``api/v1/models/remote_cluster.go``, ``remote_cluster_synced.go``). A remote counts only
when ``ready`` is true, as for cilium-cli. The same document's ``hubble.state`` (Ok, Warning,
Failure or Disabled; ``api/v1/models/hubble_status.go``) says whether Hubble can be read there.

A pair that is not ready stops the run with one line per ordered pair quoting what the agent
said; ``--mesh-ready-timeout`` waits for it first. docs/cilium-semantics.md s11 and s12.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..facts import ClusterFacts
from .agents import Agent, AgentShell, AgentsUnreadable, forbidden, list_agents, said
from .clients import Cluster

HUBBLE_READABLE = ("Ok", "Warning")


@dataclass(frozen=True)
class Remote:
    """One ``cluster-mesh.clusters[]`` entry."""

    name: str
    ready: bool
    connected: bool
    status: str
    not_synced: tuple[str, ...] = ()

    def why_not_ready(self) -> str:
        """The agent's words, as cilium-cli's ``remoteClusterStatusToError`` orders them."""
        if not self.connected:
            return f"not connected: {self.status or 'no status'}"
        if self.not_synced:
            return f"synchronization in progress for {', '.join(self.not_synced)}"
        return f"not ready: {self.status or 'no status'}"


@dataclass(frozen=True)
class AgentStatus:
    """What one agent's ``cilium-dbg status -o json`` says about the mesh and Hubble."""

    remotes: Mapping[str, Remote]
    mesh_enabled: bool
    hubble_state: str | None
    """``None`` when the status has no ``hubble`` section."""
    hubble_message: str = ""


def parse_status(text: str) -> AgentStatus:
    """Parse ``cilium-dbg status -o json``; ``ValueError`` if it is not that."""
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"not JSON: {text[:200]!r}") from exc
    if not isinstance(body, dict):
        raise ValueError(f"not a status document: {text[:200]!r}")
    mesh = body.get("cluster-mesh")
    remotes = {}
    for entry in (mesh or {}).get("clusters") or []:
        remote = _remote(entry)
        remotes[remote.name] = remote
    hubble = body.get("hubble") or {}
    return AgentStatus(
        remotes,
        isinstance(mesh, dict),
        str(hubble["state"]) if "state" in hubble else None,
        str(hubble.get("msg") or ""),
    )


def _remote(entry: Any) -> Remote:
    synced = entry.get("synced") or {}
    kinds = ("endpoints", "identities", "nodes", "services")
    return Remote(
        str(entry.get("name", "")),
        bool(entry.get("ready")),
        bool(entry.get("connected")),
        str(entry.get("status") or ""),
        tuple(kind for kind in kinds if synced and not synced.get(kind)),
    )


@dataclass
class ClusterAgents:
    """What preflight learned about one cluster's agents."""

    agents: list[Agent] = field(default_factory=list)
    statuses: dict[str, AgentStatus] = field(default_factory=dict)
    """Agent pod -> its status."""
    unreadable: str | None = None
    """Why the agents cannot be asked (no exec, no pods); ``None`` when they can."""

    @property
    def hubble_off(self) -> str | None:
        """Why Hubble cannot be read in this cluster; ``None`` when it can."""
        if self.unreadable:
            return self.unreadable
        for pod, status in sorted(self.statuses.items()):
            if status.hubble_state is not None and status.hubble_state not in HUBBLE_READABLE:
                same = status.hubble_message in ("", status.hubble_state)
                message = "" if same else f": {status.hubble_message}"
                return f"agent {pod} reports Hubble {status.hubble_state}{message}"
        return None


def read_agents(shell: AgentShell, timeout: float) -> ClusterAgents:
    """List the agents of a cluster and read each one's status."""
    try:
        agents = list_agents(shell.cluster)
    except AgentsUnreadable as exc:
        return ClusterAgents(unreadable=str(exc))
    found = ClusterAgents(agents)
    for agent in agents:
        result = shell.cilium(agent, ["status", "-o", "json"], timeout)
        if forbidden(result):
            return ClusterAgents(agents, unreadable=f"cannot exec into {agent.pod}: {said(result)}")
        if result.exit_code != 0:
            return ClusterAgents(
                agents, unreadable=f"{agent.pod}: cilium-dbg status failed: {said(result)}"
            )
        try:
            found.statuses[agent.pod] = parse_status(result.stdout)
        except ValueError as exc:
            return ClusterAgents(
                agents, unreadable=f"{agent.pod}: unreadable cilium-dbg status: {exc}"
            )
    return found


def pair_problems(
    facts: Mapping[str, ClusterFacts], agents: Mapping[str, ClusterAgents]
) -> list[str]:
    """One line per ordered pair of clusters (observer -> remote) that the observer's agents do
    not all report ready, quoting the first agent that does not."""
    problems = []
    for observer, seen in agents.items():
        if seen.unreadable:
            continue
        for remote, remote_facts in facts.items():
            if remote == observer:
                continue
            line = _pair_problem(seen, remote_facts.cluster_name)
            if line:
                problems.append(f"{observer} -> {remote}: {line}")
    return problems


def _pair_problem(seen: ClusterAgents, name: str) -> str | None:
    bad = []
    for pod, status in sorted(seen.statuses.items()):
        remote = status.remotes.get(name)
        if not status.mesh_enabled:
            bad.append((pod, "Cluster Mesh is not enabled in this agent"))
        elif remote is None:
            bad.append((pod, f"does not list cluster {name} (cilium clustermesh connect?)"))
        elif not remote.ready:
            bad.append((pod, f"says {name} is {remote.why_not_ready()}"))
    if not bad:
        return None
    pod, text = bad[0]
    more = f" ({len(bad)} of {len(seen.statuses)} agents)" if len(seen.statuses) > 1 else ""
    return f"agent {pod} {text}{more}"


def check(
    clusters: Mapping[str, Cluster],
    facts: Mapping[str, ClusterFacts],
    shells: Mapping[str, AgentShell],
    wait: float,
    timeout: float,
    read: Any = read_agents,
) -> tuple[dict[str, ClusterAgents], list[str]]:
    """Read every cluster's agents, waiting up to ``wait`` seconds for every pair to be ready.
    Returns what was read and the problems left (empty when the mesh is healthy)."""
    deadline = time.monotonic() + wait
    while True:
        agents = {context: read(shells[context], timeout) for context in clusters}
        problems = pair_problems(facts, agents)
        if not problems or time.monotonic() >= deadline:
            return agents, problems
        time.sleep(min(2.0, max(0.05, deadline - time.monotonic())))


def unreadable_notices(agents: Mapping[str, ClusterAgents]) -> list[str]:
    return [
        f"{context}: the Cilium agents cannot be read ({seen.unreadable}), so mesh health is not "
        "checked there"
        for context, seen in agents.items()
        if seen.unreadable
    ]


__all__: Sequence[str] = [
    "AgentStatus",
    "ClusterAgents",
    "Remote",
    "check",
    "pair_problems",
    "parse_status",
    "read_agents",
    "unreadable_notices",
]
