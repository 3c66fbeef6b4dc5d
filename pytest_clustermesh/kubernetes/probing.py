"""Running probes: where each one runs, which address it targets, and retrying toward the
expectation.

A step runs in rounds. Each round looks the pods and Services up again (a pod may have been
replaced), groups the round's probes by source pod, runs each group as one exec of parallel
curls (:mod:`.commands`), and runs the groups concurrently, each exec on its own API client. A
probe whose outcome does not satisfy its ``expect`` is tried again in the next round, within the
settings' bound: Cilium applies policy asynchronously, so the first answer may predate it.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..backend import Deployment, PodTarget, Probe, ServiceTarget
from ..scenario.materialize import OWNER_LABEL
from ..verdicts import Outcome, ProbeResult, Verdict
from . import manifests
from .classify import classify
from .clients import Cluster, describe
from .commands import (
    BatchOutputError,
    CurlRequest,
    batch_argv,
    kubectl_command,
    parse_batch_output,
    url_of,
)
from .execs import ExecResult, run_exec
from .settings import KubernetesSettings

log = logging.getLogger("pytest_clustermesh.kubernetes")

MAX_BATCH = 50
"""Probes per exec; a source pod with more runs several execs."""
EXEC_SLACK = 10.0
"""Seconds an exec may take beyond curl's ``--max-time`` (starting the shell, the websocket)."""


@dataclass(frozen=True)
class Planned:
    """A probe placed: which pod runs it and what it requests."""

    cluster: str
    namespace: str
    pod: str
    request: CurlRequest


class Snapshot:
    """The deployment's pods and Services as the API shows them now, listed lazily once."""

    def __init__(self, clusters: Mapping[str, Cluster], deployment: Deployment) -> None:
        self._clusters = clusters
        self._deployment = deployment
        self._selector = f"{OWNER_LABEL}={deployment.key}"
        self._pods: dict[tuple[str, str], list[Any]] = {}
        self._services: dict[tuple[str, str], dict[str, Any]] = {}

    def ready_pods(self, context: str, workload: str) -> list[tuple[str, str]]:
        """(name, IP) of the workload's ready pods in ``context``, by name."""
        try:
            spec = self._deployment.workload(workload)
        except KeyError:
            raise LookupError(f"the deployment has no workload {workload}") from None
        key = (context, spec.namespace)
        if key not in self._pods:
            cluster = self._cluster(context)
            self._pods[key] = cluster.call(
                f"LIST pods {spec.namespace} -l {self._selector}",
                cluster.core.list_namespaced_pod,
                spec.namespace,
                label_selector=self._selector,
            ).items
        label = manifests.workload_label(spec)
        return sorted(
            (pod.metadata.name, pod.status.pod_ip)
            for pod in self._pods[key]
            if (pod.metadata.labels or {}).get(manifests.WORKLOAD_LABEL) == label and _ready(pod)
        )

    def service(self, context: str, namespace: str, name: str) -> Any | None:
        key = (context, namespace)
        if key not in self._services:
            cluster = self._cluster(context)
            items = cluster.call(
                f"LIST services {namespace} -l {self._selector}",
                cluster.core.list_namespaced_service,
                namespace,
                label_selector=self._selector,
            ).items
            self._services[key] = {svc.metadata.name: svc for svc in items}
        return self._services[key].get(name)

    def _cluster(self, context: str) -> Cluster:
        try:
            return self._clusters[context]
        except KeyError:
            raise LookupError(f"the mesh has no cluster {context!r}") from None


def _ready(pod: Any) -> bool:
    if pod.metadata.deletion_timestamp is not None or not pod.status or not pod.status.pod_ip:
        return False
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def plan(
    probe: Probe, snapshot: Snapshot, deployment: Deployment, settings: KubernetesSettings
) -> Planned | ProbeResult:
    """Where ``probe`` runs and what it asks for, or the result that makes running it moot."""
    if probe.protocol != "TCP":
        return _error(
            f"{probe.protocol} probes are not supported by the Kubernetes backend "
            "(curl speaks TCP only)"
        )
    try:
        pods = snapshot.ready_pods(probe.source_cluster, probe.source)
        if not pods:
            return _error(f"no ready pod of {probe.source} in {probe.source_cluster}")
        ip = _target_ip(probe, snapshot, deployment)
    except LookupError as exc:
        return _error(str(exc))
    except Exception as exc:  # API failures that survived the retries
        return _error(f"cannot look up pods or services: {describe(exc)}")
    if isinstance(ip, ProbeResult):
        return ip
    http = probe.http
    request = CurlRequest(
        url_of(ip, probe.port, http.path if http else "/"),
        http.method if http else "GET",
        settings.connect_timeout,
        settings.max_time,
    )
    namespace = deployment.workload(probe.source).namespace
    return Planned(probe.source_cluster, namespace, pods[0][0], request)


def _target_ip(probe: Probe, snapshot: Snapshot, deployment: Deployment) -> str | ProbeResult:
    target = probe.target
    if isinstance(target, PodTarget):
        pods = snapshot.ready_pods(target.cluster, target.workload)
        if not pods:
            return _error(f"no ready pod of {target.workload} in {target.cluster}")
        return str(pods[0][1])
    assert isinstance(target, ServiceTarget)
    try:
        owner = deployment.service_owner(target.name)
    except KeyError:
        return _error(f"the deployment has no Service {target.name}")
    service = snapshot.service(probe.source_cluster, owner.namespace, target.name)
    if service is None:
        return ProbeResult(
            Outcome.DNS_FAILURE,
            detail=f"Service {target.name} does not exist in {probe.source_cluster}",
        )
    cluster_ip = service.spec.cluster_ip
    if not cluster_ip or cluster_ip == "None":
        return _error(f"Service {target.name} has no ClusterIP in {probe.source_cluster}")
    return str(cluster_ip)


def _error(detail: str) -> ProbeResult:
    return ProbeResult(Outcome.PROBE_ERROR, detail=detail)


class Prober:
    """Runs the probes of steps, concurrently and with retries."""

    def __init__(
        self, clusters: Mapping[str, Cluster], kubeconfig: str | None, settings: KubernetesSettings
    ) -> None:
        self._clusters = clusters
        self._kubeconfig = kubeconfig
        self._settings = settings
        self._pool = ThreadPoolExecutor(
            max_workers=settings.probe_concurrency, thread_name_prefix="clustermesh-exec"
        )

    def run(self, deployment: Deployment, probes: Sequence[Probe]) -> list[ProbeResult]:
        settings = self._settings
        results: dict[int, ProbeResult] = {}
        attempts = dict.fromkeys(range(len(probes)), 0)
        pending = list(range(len(probes)))
        deadline = time.monotonic() + settings.probe_window
        while pending:
            for index, result in self._round(deployment, {i: probes[i] for i in pending}).items():
                attempts[index] += 1
                results[index] = result
            pending = [
                i
                for i in pending
                if _retry(probes[i].expect, results[i]) and attempts[i] < settings.probe_attempts
            ]
            if not pending or time.monotonic() + settings.probe_interval > deadline:
                break
            log.debug(
                "%s: %d probe(s) not as expected yet; next round in %g s",
                deployment.key,
                len(pending),
                settings.probe_interval,
            )
            time.sleep(settings.probe_interval)
        return [dataclasses.replace(results[i], attempts=attempts[i]) for i in range(len(probes))]

    def _round(self, deployment: Deployment, probes: Mapping[int, Probe]) -> dict[int, ProbeResult]:
        snapshot = Snapshot(self._clusters, deployment)
        results: dict[int, ProbeResult] = {}
        batches: dict[tuple[str, str, str], list[tuple[int, Planned, Probe]]] = {}
        for index, probe in probes.items():
            planned = plan(probe, snapshot, deployment, self._settings)
            if isinstance(planned, ProbeResult):
                results[index] = planned
            else:
                where = (planned.cluster, planned.namespace, planned.pod)
                batches.setdefault(where, []).append((index, planned, probe))
        futures: list[Future[dict[int, ProbeResult]]] = [
            self._pool.submit(self._batch, [(i, p) for i, p, _ in chunk])
            for chunk in _chunks_slowest_first(batches)
        ]
        for future in futures:
            results.update(future.result())
        return results

    def _batch(self, items: list[tuple[int, Planned]]) -> dict[int, ProbeResult]:
        first = items[0][1]
        cluster = self._clusters[first.cluster]
        requests = [planned.request for _, planned in items]
        timeout = self._settings.max_time + EXEC_SLACK
        outcome = run_exec(cluster, first.namespace, first.pod, batch_argv(requests), timeout)
        results = _batch_results(outcome, len(items))
        return {
            index: dataclasses.replace(result, command=self._command(planned))
            for (index, planned), result in zip(items, results, strict=True)
        }

    def _command(self, planned: Planned) -> str:
        return kubectl_command(
            planned.cluster, planned.namespace, planned.pod, planned.request, self._kubeconfig
        )

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _retry(expect: Verdict | None, result: ProbeResult) -> bool:
    return expect is not None and not expect.accepts(result.outcome)


def _chunks_slowest_first(
    batches: Mapping[tuple[str, str, str], list[tuple[int, Planned, Probe]]],
) -> list[list[tuple[int, Planned, Probe]]]:
    """Batches of at most :data:`MAX_BATCH`, those with most expected denials first: a drop
    lasts a whole connect timeout, so starting those execs early shortens the step when there
    are more batches than concurrent execs."""
    chunks = [
        items[start : start + MAX_BATCH]
        for items in batches.values()
        for start in range(0, len(items), MAX_BATCH)
    ]
    return sorted(chunks, key=lambda chunk: -sum(_expects_denial(p.expect) for _, _, p in chunk))


def _expects_denial(expect: Verdict | None) -> bool:
    return expect in (Verdict.DENY, Verdict.DROP)


def _batch_results(outcome: ExecResult, count: int) -> list[ProbeResult]:
    """One result per probe of a batch exec."""
    if outcome.error is not None:
        return [_error(outcome.error)] * count
    if outcome.exit_code != 0:
        said = f": {outcome.stderr.strip()[:300]}" if outcome.stderr.strip() else ""
        return [_error(f"the probe script exited {outcome.exit_code}{said}")] * count
    try:
        outputs = parse_batch_output(outcome.stdout, count)
    except BatchOutputError as exc:
        return [_error(f"{exc}; output: {outcome.stdout[:300]!r}")] * count
    results = []
    for output in outputs:
        verdict = classify(output)
        served = frozenset({verdict.served_cluster}) if verdict.served_cluster else frozenset()
        results.append(
            ProbeResult(
                verdict.outcome,
                served_by=served,
                served_pod=verdict.served_pod,
                detail=verdict.detail,
            )
        )
    return results
