"""Putting a deployment into one cluster, and waiting until its pods serve.

Creation is idempotent (a conflict updates the object), so a deployment kept with ``--keep`` can
be deployed again. Waiting fails early on states that do not heal by waiting (image pull
back-off, a crash loop) and in every case quotes the pods' Warning events: "timed out" alone does
not tell a user which image or which node selector is wrong.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import tenacity
from kubernetes.client.exceptions import ApiException

from ..backend import OWNER_LABEL, Deployment
from ..errors import BackendError
from . import manifests
from .clients import Cluster, conflict, describe
from .settings import KubernetesSettings

log = logging.getLogger("pytest_clustermesh.kubernetes")

HOPELESS = frozenset(
    {
        "ImagePullBackOff",
        "InvalidImageName",
        "ErrImageNeverPull",
        "CrashLoopBackOff",
        "CreateContainerConfigError",
    }
)
"""Container waiting reasons that waiting does not cure."""

FIRST_POLL = 0.05
POLL_INTERVAL = 1.0
"""Pods take seconds to start: polls begin fast (most pods of a small scenario start at once)
and slow down to this."""


def create_objects(cluster: Cluster, deployment: Deployment, settings: KubernetesSettings) -> None:
    """Create (or update) every object of ``deployment`` that belongs in ``cluster``."""
    try:
        _create_all(cluster, deployment, settings)
    except ApiException as exc:
        raise BackendError(
            f"{cluster.context}: cannot deploy {deployment.key}: {describe(exc)}"
        ) from exc


def _create_all(cluster: Cluster, deployment: Deployment, settings: KubernetesSettings) -> None:
    core, apps = cluster.core, cluster.apps
    for spec in deployment.namespaces:
        body = manifests.namespace(spec, deployment, settings)
        _apply(
            cluster,
            f"namespace {spec.name}",
            core.create_namespace,
            core.patch_namespace,
            (),
            spec.name,
            body,
        )
    for workload in deployment.workloads:
        if cluster.context not in workload.clusters:
            continue
        ns = workload.namespace
        account = manifests.service_account(workload, deployment, settings)
        if account is not None:
            _apply(
                cluster,
                f"serviceaccount {ns}/{workload.service_account}",
                core.create_namespaced_service_account,
                core.patch_namespaced_service_account,
                (ns,),
                account["metadata"]["name"],
                account,
            )
        body = manifests.workload_deployment(workload, cluster.context, deployment, settings)
        _apply(
            cluster,
            f"deployment {ns}/{body['metadata']['name']}",
            apps.create_namespaced_deployment,
            apps.patch_namespaced_deployment,
            (ns,),
            body["metadata"]["name"],
            body,
        )
        service = manifests.service(workload, deployment, settings, cluster.context)
        if service is not None:
            _apply(
                cluster,
                f"service {ns}/{service['metadata']['name']}",
                core.create_namespaced_service,
                core.patch_namespaced_service,
                (ns,),
                service["metadata"]["name"],
                service,
            )


def _apply(
    cluster: Cluster,
    what: str,
    create: Callable[..., Any],
    patch: Callable[..., Any],
    scope: tuple[str, ...],
    name: str,
    body: dict[str, Any],
) -> None:
    try:
        cluster.call(f"POST {what}", create, *scope, body)
    except ApiException as exc:
        if not conflict(exc):
            raise
        cluster.call(f"PATCH {what} (exists)", patch, name, *scope, body)


# -- waiting -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Unready:
    """A pod that does not serve yet, and why."""

    namespace: str
    pod: str
    reason: str
    hopeless: bool


def wait_ready(
    clusters: Sequence[Cluster], deployment: Deployment, settings: KubernetesSettings
) -> None:
    """Return once every workload of ``deployment`` has its replicas ready in every cluster."""
    started = time.monotonic()

    def log_wait(state: tenacity.RetryCallState) -> None:
        pending = state.outcome.result() if state.outcome else []
        log.debug(
            "%s: waiting for %d pod(s): %s",
            deployment.key,
            len(pending),
            "; ".join(f"{c.context}: {u.namespace}/{u.pod} {u.reason}" for c, u in pending[:5]),
        )

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_delay(settings.ready_timeout),
        wait=tenacity.wait_exponential(multiplier=FIRST_POLL, max=POLL_INTERVAL),
        retry=tenacity.retry_if_result(
            lambda pending: bool(pending) and not _any_hopeless(pending)
        ),
        before_sleep=log_wait,
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else [],
    )
    pending = retrying(_unready, clusters, deployment)
    if pending:
        waited = time.monotonic() - started
        raise BackendError(_report(pending, deployment, waited))


def _any_hopeless(pending: list[tuple[Cluster, Unready]]) -> bool:
    return any(unready.hopeless for _, unready in pending)


def _unready(clusters: Sequence[Cluster], deployment: Deployment) -> list[tuple[Cluster, Unready]]:
    pending = []
    for cluster in clusters:
        for unready in unready_pods(cluster, deployment):
            pending.append((cluster, unready))
    return pending


def unready_pods(cluster: Cluster, deployment: Deployment) -> list[Unready]:
    """Pods of the deployment in ``cluster`` that are not ready, plus missing replicas."""
    selector = f"{OWNER_LABEL}={deployment.key}"
    found: list[Unready] = []
    for ns in sorted({w.namespace for w in deployment.workloads if cluster.context in w.clusters}):
        pods = cluster.call(
            f"LIST pods {ns} -l {selector}",
            cluster.core.list_namespaced_pod,
            ns,
            label_selector=selector,
        ).items
        found += [u for pod in pods if (u := _pod_state(ns, pod)) is not None]
        found += _missing_replicas(cluster, deployment, ns, pods)
    return found


def _missing_replicas(
    cluster: Cluster, deployment: Deployment, ns: str, pods: list[Any]
) -> list[Unready]:
    missing = []
    for workload in deployment.workloads:
        if workload.namespace != ns or cluster.context not in workload.clusters:
            continue
        label = manifests.workload_label(workload)
        have = sum(
            1
            for p in pods
            if (p.metadata.labels or {}).get(manifests.WORKLOAD_LABEL) == label
            and p.metadata.deletion_timestamp is None
        )
        want = workload.replicas_at(cluster.context)
        if have < want:
            missing.append(
                Unready(ns, f"{label} ({have}/{want} pods)", "pods not created yet", False)
            )
    return missing


def _pod_state(ns: str, pod: Any) -> Unready | None:
    name = pod.metadata.name
    if pod.metadata.deletion_timestamp is not None:
        return None
    status = pod.status
    conditions = {c.type: c for c in (status.conditions or [])} if status else {}
    ready = conditions.get("Ready")
    if ready is not None and ready.status == "True":
        return None
    for container in (status.container_statuses or []) if status else []:
        waiting = container.state.waiting if container.state else None
        if waiting is not None and waiting.reason:
            return Unready(ns, name, waiting.reason, waiting.reason in HOPELESS)
    scheduled = conditions.get("PodScheduled")
    if scheduled is not None and scheduled.status == "False":
        return Unready(ns, name, scheduled.reason or "not scheduled", False)
    return Unready(ns, name, (status.phase if status else None) or "not ready", False)


def _report(pending: list[tuple[Cluster, Unready]], deployment: Deployment, waited: float) -> str:
    lines = [f"{deployment.key}: pods did not become ready (waited {waited:.0f} s):"]
    events_of: dict[tuple[str, str], dict[str, list[str]]] = {}
    for cluster, unready in pending:
        key = (cluster.context, unready.namespace)
        if key not in events_of:
            events_of[key] = warning_events(cluster, unready.namespace)
        events = events_of[key].get(unready.pod, [])
        said = f"; events: {' | '.join(events)}" if events else "; no Warning events"
        lines.append(
            f"{cluster.context}: pod {unready.namespace}/{unready.pod}: {unready.reason}{said}"
        )
    return "\n".join(lines)


def warning_events(cluster: Cluster, namespace: str) -> dict[str, list[str]]:
    """Warning events of the namespace's pods, by pod name, as ``Reason: message`` lines."""
    try:
        events = cluster.call(
            f"LIST events {namespace}", cluster.core.list_namespaced_event, namespace
        ).items
    except ApiException as exc:
        log.debug("%s: cannot list events in %s: %s", cluster.context, namespace, describe(exc))
        return {}
    found: dict[str, list[str]] = {}
    for event in events:
        involved = event.involved_object
        if event.type != "Warning" or involved is None or involved.kind not in (None, "Pod"):
            continue
        line = f"{event.reason}: {(event.message or '').strip()}"
        lines = found.setdefault(involved.name, [])
        if line not in lines:
            lines.append(line)
    return found
