"""A cluster's Cilium agents, reached by exec into their pods: where they run and how to ask them.

The agents are the pods of the ``cilium`` DaemonSet in ``kube-system``, selected by
``k8s-app=cilium``, and the commands run in their ``cilium-agent`` container (cilium-cli's
``defaults.AgentPodSelector`` and ``defaults.AgentContainerName``, which its connectivity test and
``cilium clustermesh status`` use the same way; docs/cilium-semantics.md s12).

The in-pod CLI is ``cilium-dbg`` from Cilium 1.15 on (cilium#28085); those images also install
``cilium`` as a link to it (``cilium-dbg/Makefile``, ``TARGET_OLD``), and older ones have only
``cilium``. So ``cilium-dbg`` is tried first and ``cilium`` when the first is not found. The
``hubble`` CLI of the agent image talks to that node's Hubble socket
(``images/cilium/Dockerfile``, ``HUBBLE_SERVER``), so a node's flows are read from its own agent.

When the agents cannot be read at all (RBAC forbids listing kube-system pods or exec into them,
say) :func:`list_agents` raises :class:`AgentsUnreadable` with the reason; the run then falls back
to what it can do without them and says so once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from .clients import Cluster, describe
from .execs import ExecResult, run_exec

NAMESPACE = "kube-system"
SELECTOR = "k8s-app=cilium"
CONTAINER = "cilium-agent"
BINARIES = ("cilium-dbg", "cilium")
NOT_FOUND_EXITS = (126, 127)
"""The shell's exits for a command it cannot execute or find (runc answers 126 for exec)."""


@dataclass(frozen=True)
class Agent:
    """One agent pod."""

    context: str
    pod: str
    node: str

    def __str__(self) -> str:
        return f"{self.context}: agent {self.pod} (node {self.node})"


class AgentsUnreadable(Exception):
    """The agents of a cluster cannot be asked anything; the message says why."""


def list_agents(cluster: Cluster) -> list[Agent]:
    """The running agent pods of ``cluster``, by name."""
    try:
        pods = cluster.call(
            f"LIST pods {NAMESPACE} -l {SELECTOR}",
            cluster.core.list_namespaced_pod,
            NAMESPACE,
            label_selector=SELECTOR,
        ).items
    except Exception as exc:  # API errors and unreachable servers alike, past the retries
        raise AgentsUnreadable(f"cannot list the Cilium agent pods: {describe(exc)}") from exc
    agents = [
        Agent(cluster.context, str(pod.metadata.name), str(pod.spec.node_name or ""))
        for pod in pods
        if pod.status is not None
        and pod.status.phase == "Running"
        and pod.metadata.deletion_timestamp is None
    ]
    if not agents:
        raise AgentsUnreadable(f"no running pod in {NAMESPACE} matches {SELECTOR}")
    return sorted(agents, key=lambda agent: agent.pod)


def forbidden(result: ExecResult) -> bool:
    """Whether an exec failed because RBAC refused it."""
    return result.error is not None and ("403" in result.error or "Forbidden" in result.error)


EXEC_ATTEMPTS = 4
"""Tries of one agent command whose exec the API server refuses for a moment."""


class AgentShell:
    """Runs commands in the agents of one cluster, remembering which CLI name works."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self._binary: str | None = None
        self._lock = threading.Lock()
        self.execs = 0
        """Execs into agent pods so far."""

    def cilium(self, agent: Agent, args: Sequence[str], timeout: float) -> ExecResult:
        """``cilium-dbg ARGS`` (or ``cilium ARGS`` on images without ``cilium-dbg``)."""
        with self._lock:
            known = self._binary
        for binary in [known] if known else list(BINARIES):
            result = self.run(agent, [binary, *args], timeout)
            if result.exit_code in NOT_FOUND_EXITS and known is None:
                continue
            with self._lock:
                self._binary = binary
            return result
        return result

    def run(self, agent: Agent, argv: Sequence[str], timeout: float) -> ExecResult:
        """Run ``argv`` in the agent; an exec the API server refused for a moment (429, 5xx)
        is tried again, up to :data:`EXEC_ATTEMPTS` times, so one busy moment of the API
        server does not pass for an agent that cannot be read (Hubble off, say)."""
        for attempt in range(EXEC_ATTEMPTS):
            with self._lock:
                self.execs += 1
            result = run_exec(self.cluster, NAMESPACE, agent.pod, argv, timeout, CONTAINER)
            if not result.transient:
                break
            time.sleep(0.05 * 2**attempt)
        return result


def said(result: ExecResult) -> str:
    """What a failed agent command said, in one line."""
    if result.error is not None:
        return result.error
    text = " ".join((result.stderr or result.stdout).split())
    return f"exit {result.exit_code}: {text[:300]}" if text else f"exit {result.exit_code}"
