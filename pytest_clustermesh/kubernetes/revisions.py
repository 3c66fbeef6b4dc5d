"""Policy propagation by revision, as cilium-cli's connectivity test waits for it.

Every Cilium agent numbers the states of its policy repository: the revision goes up by one for
each policy added, deleted or changed (``models.Policy.revision``, cilium
``api/v1/models/policy.go``: "Incremented each time the policy is changed in the agent's
repository"). cilium-cli (``cilium-cli/connectivity/check/policy.go``: ``getCiliumPolicyRevision``,
``waitCiliumPolicyRevisions``, ``applyPolicies``) reads each agent's revision before it applies
policies (``cilium-dbg policy get -o jsonpath='{.revision}'``), counts per cluster the objects it
really changed, and then runs ``cilium-dbg policy wait <old + changes> --max-wait-time <s>`` in
every agent of that cluster. ``policy wait`` returns once every endpoint of the node has realised
that revision (``cilium-dbg/cmd/policy_wait.go``), and fails after the wait time.

The same here: :func:`read` before a step's policies are written, :class:`Pending` remembers the
target of every agent of a changed cluster, and :func:`wait` runs before the step's probes, one
exec per agent, all agents at once. A cluster whose policies did not change is not waited for.
docs/cilium-semantics.md s12 notes what this does not cover.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .agents import Agent, AgentShell, said

REVISION_TEMPLATE = "jsonpath={.revision}"


class RevisionError(Exception):
    """An agent's revision could not be read or was not reached; the message says which."""


def read(shell: AgentShell, agent: Agent, timeout: float) -> int:
    """The agent's current policy revision."""
    result = shell.cilium(agent, ["policy", "get", "-o", REVISION_TEMPLATE], timeout)
    if result.exit_code != 0:
        raise RevisionError(f"{agent}: cannot read its policy revision: {said(result)}")
    text = result.stdout.strip().strip("'\"").strip()
    try:
        return int(text)
    except ValueError:
        raise RevisionError(f"{agent}: policy revision {text[:80]!r} is not a number") from None


def wait_for(shell: AgentShell, agent: Agent, revision: int, timeout: float) -> None:
    """Return once the agent's endpoints realised ``revision``; raise after ``timeout``."""
    seconds = max(1, math.ceil(timeout))
    args = ["policy", "wait", str(revision), "--max-wait-time", str(seconds)]
    result = shell.cilium(agent, args, timeout + 10)
    if result.exit_code != 0:
        raise RevisionError(
            f"{agent} did not realise policy revision {revision} within {seconds} s, so the "
            f"new policies may not be in force there: {said(result)}"
        )


@dataclass(frozen=True)
class Target:
    agent: Agent
    revision: int


class Pending:
    """The revisions each changed cluster's agents must reach before the next probes."""

    def __init__(self) -> None:
        self._targets: dict[str, list[Target]] = {}
        self._lock = threading.Lock()

    def add(self, context: str, before: Mapping[Agent, int], changes: int) -> None:
        if changes <= 0:
            return
        with self._lock:
            targets = {t.agent: t.revision for t in self._targets.get(context, [])}
            for agent, revision in before.items():
                targets[agent] = max(targets.get(agent, 0), revision + changes)
            self._targets[context] = [Target(a, r) for a, r in sorted(targets.items(), key=_key)]

    def of(self, contexts: Sequence[str]) -> dict[str, list[Target]]:
        with self._lock:
            return {c: list(self._targets[c]) for c in contexts if c in self._targets}

    def done(self, context: str) -> None:
        with self._lock:
            self._targets.pop(context, None)

    def __contains__(self, context: object) -> bool:
        with self._lock:
            return context in self._targets


def _key(item: tuple[Agent, int]) -> str:
    return item[0].pod


def read_all(shell: AgentShell, agents: Sequence[Agent], timeout: float) -> dict[Agent, int]:
    """Every agent's revision, read at once."""
    with ThreadPoolExecutor(max_workers=max(1, len(agents))) as pool:
        futures = {agent: pool.submit(read, shell, agent, timeout) for agent in agents}
        return {agent: future.result() for agent, future in futures.items()}


def wait(
    shells: Callable[[str], AgentShell],
    targets: Mapping[str, Sequence[Target]],
    timeout: float,
) -> dict[str, str]:
    """Wait for every target at once; the problem per cluster whose agents did not get there."""
    jobs = [(context, target) for context, items in targets.items() for target in items]
    if not jobs:
        return {}
    problems: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = [
            (context, pool.submit(wait_for, shells(context), t.agent, t.revision, timeout))
            for context, t in jobs
        ]
        for context, future in futures:
            try:
                future.result()
            except RevisionError as exc:
                problems.setdefault(context, str(exc))
    return problems
