"""The Kubernetes backend: a mesh of real (or emulated) clusters reached through kubeconfig
contexts. Its cluster names are the context names."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from ..backend import Deployment, PolicyDoc, Probe
from ..errors import BackendError, ClusterMeshError
from ..facts import ClusterFacts
from ..verdicts import ProbeResult
from . import cleanup, deploy, policies, preflight
from .clients import Cluster, describe
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
        """cluster -> ``time.monotonic()`` of its last ``set_policies``"""
        self._signals = TermAsInterrupt()

    # -- MeshBackend ---------------------------------------------------------------------------

    def facts(self) -> Mapping[str, ClusterFacts]:
        if self._facts is None:
            clusters = self._connect()
            outcomes = self._each(list(clusters.values()), _facts_or_problem)
            problems = [o for o in outcomes if isinstance(o, str)]
            found = [o for o in outcomes if isinstance(o, ClusterFacts)]
            preflight.raise_problems(problems or preflight.check_distinct(found))
            self._facts = {f.logical: f for f in found}
        return self._facts

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
        target = self._cluster(cluster)
        try:
            with _guard(target, f"apply policies of {deployment.key}"):
                policies.set_policies(target, deployment, policies_, self._settings)
        finally:  # even a failed change may have changed something
            self._policies_changed[cluster] = time.monotonic()

    def probe(self, deployment: Deployment, probes: Sequence[Probe]) -> list[ProbeResult]:
        if self._prober is None:
            self._prober = Prober(self._connect(), self._kubeconfig, self._settings)
        changed = [self._policies_changed.get(cluster) for cluster in deployment.clusters]
        last = max((when for when in changed if when is not None), default=None)
        return self._prober.run(deployment, probes, last)

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
