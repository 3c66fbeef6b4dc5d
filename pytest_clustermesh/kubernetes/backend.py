"""The Kubernetes backend: a mesh of real (or emulated) clusters reached through kubeconfig
contexts. Its cluster names are the context names.

Its verdicts rest on Cilium's own evidence wherever the agents can be read:
- preflight checks, besides the facts, that every cluster's agents report every other cluster
  of the run ready (:mod:`.meshhealth`), and stops the run with one line per pair if not;
- a policy change is waited for by revision (:mod:`.revisions`) before the next probes;
- a drop counts as a deny only with Hubble's record of a policy drop (:mod:`.evidence`), or, with
  ``--deny-evidence=timeout`` where Hubble cannot be read, as an inferred deny that between two
  clusters also needs the step to have proved the path open.
Where the agents cannot be read, it falls back to the wall-clock confirmation round of
``--policy-settle`` and says so once in :attr:`KubernetesMesh.notices`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from typing import TypeVar

from ..backend import Deployment, ExternalTarget, PodTarget, PolicyDoc, Probe, ServiceTarget
from ..errors import BackendError, ClusterMeshError
from ..facts import ClusterFacts
from ..policy import tiers
from ..verdicts import Outcome, ProbeResult, Proof
from . import cleanup, deploy, meshhealth, policies, preflight, revisions
from .agents import Agent, AgentShell, AgentsUnreadable, list_agents
from .clients import Cluster, describe
from .evidence import Prover
from .probing import Prober
from .settings import KubernetesSettings
from .signals import TermAsInterrupt

log = logging.getLogger("pytest_clustermesh.kubernetes")

T = TypeVar("T")


class KubernetesMesh:
    """A :class:`~pytest_clustermesh.backend.MeshBackend` driving clusters through the API."""

    name = "kubernetes"

    def __init__(
        self, contexts: Sequence[str], kubeconfig: str | None, settings: KubernetesSettings
    ) -> None:
        if not contexts:
            raise BackendError("no kubeconfig contexts given")
        self._contexts = tuple(dict.fromkeys(contexts))
        self._kubeconfig = kubeconfig
        self._settings = settings
        self._clusters: dict[str, Cluster] | None = None
        self._facts: dict[str, ClusterFacts] | None = None
        self._prober: Prober | None = None
        self._live: dict[str, Deployment] = {}
        self._policies_changed: dict[str, float] = {}
        """cluster -> ``time.monotonic()`` of its last policy change, for clusters whose
        agents cannot be read (the ``--policy-settle`` fallback)"""
        self._shells: dict[str, AgentShell] = {}
        self._agents: dict[str, meshhealth.ClusterAgents] = {}
        """What preflight learned of each cluster's agents."""
        self._pending = revisions.Pending()
        self._written = policies.Written()
        self.notices: list[str] = []
        """What the run could not do as it should, once each (shown in the header)."""
        self._signals = TermAsInterrupt()

    # -- MeshBackend ---------------------------------------------------------------------------

    def facts(self) -> Mapping[str, ClusterFacts]:
        if self._facts is None:
            clusters = self._connect()
            outcomes = self._each(list(clusters.values()), _facts_or_problem)
            problems = [o for o in outcomes if isinstance(o, str)]
            found = [o for o in outcomes if isinstance(o, ClusterFacts)]
            preflight.raise_problems(problems or preflight.check_distinct(found))
            facts = {f.logical: f for f in found}
            self._check_mesh(facts)
            self._facts = facts
        return self._facts

    def _check_mesh(self, facts: Mapping[str, ClusterFacts]) -> None:
        """Mesh health: one line per ordered pair that is not ready stops the run."""
        settings = self._settings
        agents, problems = meshhealth.check(
            self._connect(),
            facts,
            {context: self._shell(context) for context in facts},
            settings.mesh_ready_timeout,
            settings.agent_timeout,
        )
        if problems:
            waited = (
                f" (waited {settings.mesh_ready_timeout:g} s, --mesh-ready-timeout)"
                if settings.mesh_ready_timeout
                else " (--mesh-ready-timeout waits for it)"
            )
            raise BackendError(
                f"mesh health: clusters do not see each other ready{waited}:\n"
                + "\n".join(problems)
            )
        self._agents = agents
        for context, seen in agents.items():
            if seen.unreadable:
                self._notice(
                    f"{context}: the Cilium agents cannot be read ({seen.unreadable}): mesh "
                    "health is not checked there, a policy change there is confirmed by a second "
                    "probe round within --policy-settle instead of waiting for its revision, and "
                    + self._drops_without_hubble()
                )
            elif seen.hubble_off:
                self._notice(
                    f"{context}: Hubble cannot be read ({seen.hubble_off}): "
                    + self._drops_without_hubble()
                )

    def _drops_without_hubble(self) -> str:
        if self._settings.infer_denies:
            return (
                "drops there cannot be proven policy drops: timeouts count as inferred denies "
                "(--deny-evidence=timeout)"
            )
        return (
            "drops there cannot be proven policy drops, so deny items whose drop is there fail "
            "(--deny-evidence=timeout counts timeouts as inferred denies)"
        )

    def _notice(self, text: str) -> None:
        if text not in self.notices:
            self.notices.append(text)
            log.info("%s", text)

    def _shell(self, context: str) -> AgentShell:
        if context not in self._shells:
            self._shells[context] = AgentShell(self._cluster(context))
        return self._shells[context]

    def _readable(self, context: str) -> bool:
        seen = self._agents.get(context)
        return seen is None or seen.unreadable is None

    def deploy(self, deployment: Deployment) -> None:
        clusters = self._clusters_of(deployment)
        self._live[deployment.key] = deployment
        settings = self._settings

        def create(cluster: Cluster) -> None:
            with _guard(cluster, f"deploy {deployment.key}"):
                deploy.create_objects(cluster, deployment, settings)

        self._each(clusters, create)
        with _guard(None, f"wait for {deployment.key}"):
            deploy.wait_ready(clusters, deployment, settings)

    def set_policies(
        self, deployment: Deployment, cluster: str, policies_: Sequence[PolicyDoc]
    ) -> None:
        """Write the policies, after reading the agents' revisions so the next probes can wait
        for the ones the change makes (or, where agents cannot be read, noting when it was)."""
        target = self._cluster(cluster)
        before: list[dict[Agent, int] | None] = []
        changes = policies.Changes(
            before_first=lambda: before.append(self._revisions_before(cluster))
        )
        try:
            with _guard(target, f"apply policies of {deployment.key}"):
                policies.set_policies(
                    target,
                    deployment,
                    policies_,
                    self._settings,
                    changes,
                    self._written,
                    unread=self._unread_kinds(cluster),
                )
        finally:  # even a failed change may have changed something
            if changes.count:
                if not before or before[0] is None:
                    self._policies_changed[cluster] = time.monotonic()
                else:
                    self._pending.add(cluster, before[0], changes.count)

    def _unread_kinds(self, context: str) -> frozenset[str]:
        """Policy kinds the agents of ``context`` do not read, so writing one changes no
        revision: ClusterNetworkPolicy before 1.20 or without the option (cilium#47227)."""
        facts = self.facts().get(context)
        if facts is None or tiers.enforces_cluster_network_policy(facts):
            return frozenset()
        return frozenset({tiers.KCNP})

    def _revisions_before(self, context: str) -> dict[Agent, int] | None:
        """Each agent's policy revision now; ``None`` where they cannot be read."""
        if not self._readable(context):
            return None
        shell = self._shell(context)
        try:
            agents = list_agents(shell.cluster)
            return revisions.read_all(shell, agents, self._settings.agent_timeout)
        except (AgentsUnreadable, revisions.RevisionError) as exc:
            self._notice(
                f"{context}: cannot read the agents' policy revisions ({exc}): policy changes "
                "there are confirmed by a second probe round within --policy-settle instead"
            )
            self._agents[context] = meshhealth.ClusterAgents(unreadable=str(exc))
            return None

    def probe(self, deployment: Deployment, probes: Sequence[Probe]) -> list[ProbeResult]:
        prober = self._get_prober()
        stuck = self._wait_for_revisions(deployment)
        results: list[ProbeResult | None] = [None] * len(probes)
        todo = []
        for index, probe in enumerate(probes):
            blocked = [stuck[c] for c in self._clusters_of_probe(deployment, probe) if c in stuck]
            if blocked:
                results[index] = ProbeResult(Outcome.PROBE_ERROR, detail=blocked[0])
            else:
                todo.append(index)
        changed = [self._policies_changed.get(cluster) for cluster in deployment.clusters]
        last = max((when for when in changed if when is not None), default=None)
        ran = prober.run(deployment, [probes[i] for i in todo], last)
        ran = self._paths_proven_open(deployment, [probes[i] for i in todo], ran)
        for index, result in zip(todo, ran, strict=True):
            results[index] = result
        return [result for result in results if result is not None]

    @property
    def execs(self) -> int:
        """Execs so far: into client pods (probes) and into agent pods."""
        probing = self._prober.execs if self._prober is not None else 0
        return probing + sum(shell.execs for shell in self._shells.values())

    def _get_prober(self) -> Prober:
        if self._prober is None:
            hubble_off = {context: seen.hubble_off for context, seen in self._agents.items()}
            prover = Prover(
                self._shell, hubble_off, self._settings.infer_denies, self._settings.agent_timeout
            )
            self._prober = Prober(self._connect(), self._kubeconfig, self._settings, prover)
        return self._prober

    def _wait_for_revisions(self, deployment: Deployment) -> dict[str, str]:
        """Wait until the agents of the deployment's changed clusters realised the new policy
        revisions; the problem per cluster whose agents did not."""
        targets = self._pending.of(deployment.clusters)
        problems = revisions.wait(self._shell, targets, self._settings.policy_wait_timeout)
        for context in targets:
            if context not in problems:
                self._pending.done(context)
        return problems

    def _clusters_of_probe(self, deployment: Deployment, probe: Probe) -> set[str]:
        """The clusters whose policies decide ``probe``: its source's and its target's."""
        clusters = {probe.source_cluster}
        if isinstance(probe.target, PodTarget):
            clusters.add(probe.target.cluster)
        elif isinstance(probe.target, ServiceTarget):
            with suppress(KeyError):
                clusters.update(deployment.service_owner(probe.target.name).clusters)
        return clusters

    def _paths_proven_open(
        self, deployment: Deployment, probes: Sequence[Probe], results: list[ProbeResult]
    ) -> list[ProbeResult]:
        """An inferred deny between two clusters counts only if the step proved that path
        open: an allowed probe between them, or a control probe added here. Otherwise a
        partitioned pair would pass as denied."""
        inferred = [
            index
            for index, result in enumerate(results)
            if result.evidence is not None
            and result.evidence.proof is Proof.INFERRED
            and _remote_clusters(deployment, probes[index])
        ]
        if not inferred:
            return results
        opened = _open_paths(probes, results)
        needed = {
            (probes[i].source_cluster, remote)
            for i in inferred
            for remote in _remote_clusters(deployment, probes[i])
        }
        tried = self._control_probes(deployment, sorted(needed - opened), opened)
        out = list(results)
        for index in inferred:
            source = probes[index].source_cluster
            closed = [
                r for r in _remote_clusters(deployment, probes[index]) if (source, r) not in opened
            ]
            if closed:
                remote = closed[0]
                out[index] = dataclasses.replace(
                    results[index],
                    outcome=Outcome.PROBE_ERROR,
                    evidence=None,
                    detail=(
                        f"a timeout counts as a deny between two clusters only when the same "
                        f"step proved the path open, and nothing got from {source} to {remote} "
                        f"({tried.get((source, remote)) or 'no control probe could be made'}): "
                        f"the path may be down ({results[index].detail})"
                    ),
                )
        return out

    def _control_probes(
        self,
        deployment: Deployment,
        pairs: Sequence[tuple[str, str]],
        opened: set[tuple[str, str]],
    ) -> dict[tuple[str, str], str]:
        """Probe every client of each cluster pair's source to every server of its remote, once;
        adds the pairs that got through to ``opened`` and says what was tried for the others."""
        controls: list[tuple[tuple[str, str], Probe]] = []
        for source, remote in pairs:
            controls += [
                ((source, remote), probe) for probe in _controls(deployment, source, remote)
            ]
        if not controls:
            return {}
        results = self._get_prober().run(deployment, [probe for _, probe in controls], None)
        tried: dict[tuple[str, str], list[str]] = {}
        for (pair, probe), result in zip(controls, results, strict=True):
            if result.outcome is Outcome.ALLOWED:
                opened.add(pair)
            tried.setdefault(pair, []).append(f"{probe}: {result.outcome.value}")
        return {pair: "control probes " + "; ".join(lines) for pair, lines in tried.items()}

    def teardown(self, deployment: Deployment) -> None:
        self._live.pop(deployment.key, None)
        if self._settings.keep:
            log.info("keeping %s (--keep-resources)", deployment.key)
            return
        clusterwide = self._settings.allow_clusterwide

        def remove(cluster: Cluster) -> None:
            with _guard(cluster, f"tear down {deployment.key}"):
                for leftover in cleanup.teardown(cluster, deployment.key, clusterwide):
                    log.debug("deleted %s", leftover)

        self._each(self._clusters_of(deployment), remove)

    def close(self) -> None:
        try:
            for deployment in list(self._live.values()):
                self.teardown(deployment)
        finally:
            if self._prober is not None:
                self._prober.close()
            for cluster in (self._clusters or {}).values():
                cluster.close()
            self._clusters = None
            self._signals.restore()

    # -- helpers -------------------------------------------------------------------------------

    def _connect(self) -> dict[str, Cluster]:
        if self._clusters is None:
            clusters, problems = {}, []
            for context in self._contexts:
                try:
                    clusters[context] = Cluster(context, self._kubeconfig, self._settings)
                except BackendError as exc:
                    problems.append(str(exc))
            if problems:
                for cluster in clusters.values():
                    cluster.close()
                raise BackendError("\n".join(problems))
            self._clusters = clusters
        return self._clusters

    def _cluster(self, context: str) -> Cluster:
        clusters = self._connect()
        if context not in clusters:
            raise BackendError(
                f"the mesh has no cluster {context!r} (contexts: {', '.join(self._contexts)})"
            )
        return clusters[context]

    def _clusters_of(self, deployment: Deployment) -> list[Cluster]:
        return [self._cluster(context) for context in deployment.clusters]

    def _each(self, clusters: Sequence[Cluster], work: Callable[[Cluster], T]) -> list[T]:
        """``work`` on every cluster at once; the first failure is raised after all finish."""
        if len(clusters) <= 1:
            return [work(cluster) for cluster in clusters]
        with ThreadPoolExecutor(max_workers=len(clusters)) as pool:
            futures = [pool.submit(work, cluster) for cluster in clusters]
            return [future.result() for future in futures]


WORLD = "the world"
"""Where an external target is, as a remote "cluster" whose path an inferred deny needs open."""


def _remote_clusters(deployment: Deployment, probe: Probe) -> list[str]:
    """The other clusters a probe's packets may go to (its target's, or its Service's)."""
    if isinstance(probe.target, PodTarget):
        remote = [probe.target.cluster]
    elif isinstance(probe.target, ServiceTarget):
        try:
            remote = list(deployment.service_owner(probe.target.name).clusters)
        except KeyError:
            remote = []
    elif isinstance(probe.target, ExternalTarget):
        # outside the mesh: the path out of the source's cluster must be proven open too (a
        # cluster without egress to the internet times out like a deny)
        remote = [WORLD]
    else:
        remote = []  # the source's own cluster (its DNS, its API server)
    return [cluster for cluster in remote if cluster != probe.source_cluster]


def _open_paths(probes: Sequence[Probe], results: Sequence[ProbeResult]) -> set[tuple[str, str]]:
    """Cluster pairs some probe of the step got through: an answer proves the path open."""
    opened: set[tuple[str, str]] = set()
    for probe, result in zip(probes, results, strict=True):
        if result.outcome is not Outcome.ALLOWED:
            continue
        reached = result.served_by or (
            {probe.target.cluster}
            if isinstance(probe.target, PodTarget)
            else {WORLD}
            if isinstance(probe.target, ExternalTarget)
            else set()
        )
        opened.update((probe.source_cluster, cluster) for cluster in reached)
    return opened


CONTROL_PROBES = 8
"""At most this many control probes per cluster pair."""


def _controls(deployment: Deployment, source: str, remote: str) -> list[Probe]:
    clients = [w for w in deployment.workloads if w.role == "client" and w.replicas_at(source) > 0]
    servers = [
        (w, port)
        for w in deployment.workloads
        if w.role == "server" and w.replicas_at(remote) > 0
        for port in w.ports[:1]
        if port.protocol == "TCP"
    ]
    probes = [
        Probe(source, client.name, PodTarget(remote, server.name), port.port)
        for client in clients
        for server, port in servers
    ]
    return probes[:CONTROL_PROBES]


def _facts_or_problem(cluster: Cluster) -> ClusterFacts | str:
    try:
        return preflight.cluster_facts(cluster)
    except preflight.PreflightFailure as exc:
        return f"{cluster.context}: {exc}"


@contextmanager
def _guard(cluster: Cluster | None, what: str) -> Iterator[None]:
    """Turn a stray client exception into a one-line :class:`BackendError`."""
    try:
        yield
    except ClusterMeshError:
        raise
    except Exception as exc:
        where = f"{cluster.context}: " if cluster else ""
        raise BackendError(f"{where}cannot {what}: {describe(exc)}") from exc
