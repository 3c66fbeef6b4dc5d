"""Running probes: where each one runs, which address it targets, and retrying toward the
expectation.

A step runs in rounds. Each round looks the pods and Services up again (a pod may have been
replaced), groups the round's probes by source pod, runs each group as one exec of parallel
probe commands (:mod:`.commands`: curl for TCP, ``agnhost connect`` for UDP and SCTP, ``ping``
for ICMP, ``dig`` for a DNS query), and runs the groups concurrently, each exec on its own API
client.
After the round, the target pods and Services are looked up once more: a probe whose target
vanished or changed (another UID or address) while it ran may have hit a stale address, so its
outcome is a probe error and it is tried again.

After each round, every probe seen dropped is looked up in Hubble on the nodes that could have
dropped it (:mod:`.evidence`), by its protocol and port: a drop counts only with Cilium's own
record of a policy drop, and becomes a probe error otherwise (another drop reason, no record at
all). A probe of a destination outside the mesh is looked up on its source's node only, by the
target's address or the name its client resolved; so is a probe of the API server
(``entity/kube-apiserver``: ``curl --insecure https://ADDRESS:PORT/version`` to the address the
``default/kubernetes`` EndpointSlices give), which is no Cilium endpoint either.

A probe whose outcome does not satisfy its ``expect`` is tried again in the next round, within
the settings' bound. The backend waits for the agents to realise a step's policies before its
probes (:mod:`.revisions`), so a first answer normally is the new policy's. Where the agents
cannot be read, there is no revision to wait for, and the old wall-clock rule applies instead:
an outcome that satisfies ``expect`` counts only once it can be trusted, that is if the round
that saw it started at least ``policy_settle`` seconds after policies last changed, or the next
round (``probe_interval`` later) sees the same outcome. That confirmation round may go one
attempt beyond ``probe_attempts``; an outcome still unconfirmed at the end is a probe error.
A result's ``attempts`` counts real retries only (a confirmation round is none); its detail
lists the outcomes of every round.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..backend import (
    OWNER_LABEL,
    ApiServerTarget,
    Deployment,
    DnsTarget,
    ExternalTarget,
    PodTarget,
    Probe,
    ServiceTarget,
)
from ..verdicts import Outcome, ProbeResult, Verdict
from . import manifests
from .classify import classify
from .clients import Cluster, describe
from .commands import (
    BatchOutputError,
    ConnectRequest,
    CurlRequest,
    DigRequest,
    PingRequest,
    ProbeRequest,
    batch_argv,
    http_headers,
    kubectl_command,
    new_marker,
    parse_batch_output,
    url_of,
)
from .evidence import Place, Prover, Question
from .execs import ExecResult, run_exec
from .settings import KubernetesSettings

log = logging.getLogger("pytest_clustermesh.kubernetes")

APISERVER_NAMESPACE = "default"
APISERVER_SERVICE = "kubernetes"
APISERVER_SELECTOR = "kubernetes.io/service-name=kubernetes"
"""Where the API server's own address is: the ``default/kubernetes`` Service has no selector,
and kube-apiserver's endpoint reconciler writes its addresses itself, into the Endpoints and the
EndpointSlice ``kubernetes`` labelled ``kubernetes.io/service-name=kubernetes``, with the
port it serves on, named ``https`` (kubernetes ``pkg/controlplane/reconcilers/
endpointsadapter.go``, ``EndpointsAdapter``; the Service itself from
``pkg/controlplane/controller/kubernetesservice``). Probing that address (not the Service's
ClusterIP, which Cilium translates to it anyway) is what ``toEntities: [kube-apiserver]``
matches."""
APISERVER_PATH = "/version"
"""What a probe of the API server asks for when the scenario gives no ``http`` path:
kube-apiserver serves ``/version`` to anonymous clients (the ``system:public-info-viewer``
ClusterRole), so the answer is a 200 wherever RBAC is the default."""
KUBE_DNS_NAMESPACE = "kube-system"
KUBE_DNS_SELECTOR = "k8s-app=kube-dns"
"""The cluster DNS pods (CoreDNS as kubeadm, kind and most distributions deploy it behind the
Service ``kube-dns``): where a DNS probe's query goes once its Service address is translated."""
MAX_BATCH = 50
"""Probes per exec; a source pod with more runs several execs."""
EXEC_SLACK = 10.0
"""Seconds an exec may take beyond curl's ``--max-time`` (starting the shell, the websocket);
``agnhost connect`` and ``ping`` wait at most the connect timeout (ping: rounded up to whole
seconds, still within ``--max-time``)."""


@dataclass(frozen=True)
class PodRef:
    """A ready pod as listed."""

    name: str
    ip: str
    uid: str
    node: str = ""


APISERVER_KIND = "kube-apiserver"


@dataclass(frozen=True)
class Endpoint:
    """A ready address of the API server and the ports it serves, from an EndpointSlice."""

    address: str
    ports: tuple[int | None, ...]
    """``None``: the slice names a port without a number, which means every port
    (discovery/v1 ``EndpointPort.port``)."""


@dataclass(frozen=True)
class TargetRef:
    """The object whose address a probe targets, as listed before the probe ran."""

    context: str
    kind: str
    """``pod``, ``Service``, ``external`` (a destination outside the mesh, named by address
    or by a hostname the client pod resolves), ``dns`` (a query to the cluster DNS) or
    ``kube-apiserver`` (the API server of the source's cluster, at its own address)."""
    namespace: str
    name: str
    uid: str
    address: str
    backends: tuple[str, ...] = ()
    """For a Service: its workload's ready pods in every cluster (``context/uid/IP``), which a
    global Service may send the request to."""
    places: tuple[Place, ...] = ()
    """Where the packets may end: the target pod, or each backend of the Service (none for an
    external target: it runs no Cilium agent)."""
    addresses: tuple[str, ...] | None = None
    """Destination addresses a drop of the probe may carry; ``None``: the places' addresses."""
    names: tuple[str, ...] = ()
    """For an external hostname: the name, which Hubble may give a dropped flow."""

    @property
    def drop_addresses(self) -> tuple[str, ...]:
        if self.addresses is not None:
            return self.addresses
        return tuple(place.ip for place in self.places)

    def __str__(self) -> str:
        if self.kind == "external":
            return f"external {self.name} ({self.address}) from {self.context}"
        if self.kind == "dns":
            return f"a query for {self.address} to the cluster DNS of {self.context}"
        if self.kind == APISERVER_KIND:
            return f"the API server of {self.context} ({self.address})"
        return f"{self.kind} {self.namespace}/{self.name} ({self.address}) in {self.context}"


@dataclass(frozen=True)
class Planned:
    """A probe placed: which pod runs it, what it requests, and what it targets."""

    cluster: str
    namespace: str
    pod: str
    request: ProbeRequest
    target: TargetRef | None = None
    source: PodRef | None = None


class Snapshot:
    """The deployment's pods and Services as the API shows them now, listed lazily once."""

    def __init__(self, clusters: Mapping[str, Cluster], deployment: Deployment) -> None:
        self._clusters = clusters
        self._deployment = deployment
        self._selector = f"{OWNER_LABEL}={deployment.key}"
        self._pods: dict[tuple[str, str], list[Any]] = {}
        self._services: dict[tuple[str, str], dict[str, Any]] = {}
        self._apiservers: dict[str, list[Endpoint]] = {}

    def ready_pods(self, context: str, workload: str) -> list[PodRef]:
        """The workload's ready pods in ``context``, by name."""
        try:
            spec = self._deployment.workload(workload)
        except KeyError:
            raise LookupError(f"the deployment has no workload {workload}") from None
        label = manifests.workload_label(spec)
        return sorted(
            (
                PodRef(
                    pod.metadata.name,
                    str(pod.status.pod_ip),
                    str(pod.metadata.uid),
                    str(pod.spec.node_name or "") if pod.spec else "",
                )
                for pod in self.pods(context, spec.namespace)
                if (pod.metadata.labels or {}).get(manifests.WORKLOAD_LABEL) == label
                and _ready(pod)
            ),
            key=lambda pod: pod.name,
        )

    def pods(self, context: str, namespace: str) -> list[Any]:
        """The deployment's pods in ``namespace`` of ``context``, listed once."""
        key = (context, namespace)
        if key not in self._pods:
            cluster = self._cluster(context)
            self._pods[key] = cluster.call(
                f"LIST pods {namespace} -l {self._selector}",
                cluster.core.list_namespaced_pod,
                namespace,
                label_selector=self._selector,
            ).items
        return self._pods[key]

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

    def changed(self, target: TargetRef) -> str | None:
        """How ``target`` differs now from when it was listed; ``None`` if it does not."""
        if target.kind in ("external", "dns", APISERVER_KIND):
            return None  # nothing of the run's to change under the probe
        if target.kind == "pod":
            pods = self.pods(target.context, target.namespace)
            pod = next((p for p in pods if p.metadata.name == target.name), None)
            if pod is None:
                return f"the target {target} was deleted while the probe ran"
            if str(pod.metadata.uid) != target.uid:
                return f"the target {target} was replaced while the probe ran"
            if not _ready(pod):
                return f"the target {target} is terminating or no longer ready"
            if str(pod.status.pod_ip) != target.address:
                return f"the target {target} changed its address to {pod.status.pod_ip}"
            return None
        service = self.service(target.context, target.namespace, target.name)
        if service is None:
            return f"the target {target} was deleted while the probe ran"
        if str(service.metadata.uid) != target.uid or service.spec.cluster_ip != target.address:
            return f"the target {target} was replaced while the probe ran"
        if self.backends(target.name) != target.backends:
            return f"the pods behind the target {target} changed while the probe ran"
        return None

    def backends(self, service: str) -> tuple[str, ...]:
        """``context/uid/IP`` of the ready pods of the workload behind ``service``, in every
        cluster of that workload."""
        owner = self._deployment.service_owner(service)
        return tuple(
            sorted(
                f"{context}/{pod.uid}/{pod.ip}"
                for context in owner.clusters
                for pod in self.ready_pods(context, owner.name)
            )
        )

    def backend_places(self, service: str) -> tuple[Place, ...]:
        """Where the ready pods behind ``service`` run, in every cluster of its workload."""
        owner = self._deployment.service_owner(service)
        return tuple(
            Place(context, pod.node, pod.ip)
            for context in owner.clusters
            for pod in self.ready_pods(context, owner.name)
        )

    def apiserver(self, context: str) -> list[Endpoint]:
        """The ready addresses of the API server of ``context``, from the EndpointSlices of
        the ``default/kubernetes`` Service, in the order listed (slices by name). Raises
        ``LookupError`` saying what is missing or could not be read."""
        if context in self._apiservers:
            return self._apiservers[context]
        cluster = self._cluster(context)
        where = f"the EndpointSlices of {APISERVER_NAMESPACE}/{APISERVER_SERVICE} in {context}"
        try:
            slices = cluster.call(
                f"LIST endpointslices {APISERVER_NAMESPACE} -l {APISERVER_SELECTOR}",
                cluster.discovery.list_namespaced_endpoint_slice,
                APISERVER_NAMESPACE,
                label_selector=APISERVER_SELECTOR,
            ).items
        except Exception as exc:  # API failures that survived the retries, RBAC
            raise LookupError(
                f"cannot find the API server's address: listing {where} failed: "
                f"{describe(exc)} (the run needs list on endpointslices.discovery.k8s.io in "
                f"{APISERVER_NAMESPACE}; docs/real-clusters.md)"
            ) from exc
        if not slices:
            raise LookupError(
                f"cannot find the API server's address: {context} has no EndpointSlice "
                f"labelled {APISERVER_SELECTOR} in {APISERVER_NAMESPACE}"
            )
        endpoints = [
            Endpoint(str(endpoint.addresses[0]), tuple(p.port for p in piece.ports or []))
            for piece in sorted(slices, key=lambda item: str(item.metadata.name))
            if piece.address_type in ("IPv4", "IPv6")
            for endpoint in piece.endpoints or []
            if endpoint.addresses and _endpoint_ready(endpoint)
        ]
        if not endpoints:
            raise LookupError(
                f"cannot find the API server's address: {where} list no ready IP address"
            )
        self._apiservers[context] = endpoints
        return endpoints

    def dns_places(self, context: str) -> tuple[Place, ...]:
        """Where the ready cluster DNS pods of ``context`` run."""
        cluster = self._cluster(context)
        pods = cluster.call(
            f"LIST pods {KUBE_DNS_NAMESPACE} -l {KUBE_DNS_SELECTOR}",
            cluster.core.list_namespaced_pod,
            KUBE_DNS_NAMESPACE,
            label_selector=KUBE_DNS_SELECTOR,
        ).items
        return tuple(
            Place(
                context, str(pod.spec.node_name or "") if pod.spec else "", str(pod.status.pod_ip)
            )
            for pod in pods
            if _ready(pod)
        )

    def _cluster(self, context: str) -> Cluster:
        try:
            return self._clusters[context]
        except KeyError:
            raise LookupError(f"the mesh has no cluster {context!r}") from None


def _endpoint_ready(endpoint: Any) -> bool:
    """discovery/v1 ``EndpointConditions.ready``: unset means unknown, which consumers should
    take as ready (the API's own documentation of the field)."""
    conditions = endpoint.conditions
    return conditions is None or conditions.ready is None or bool(conditions.ready)


def _ready(pod: Any) -> bool:
    if pod.metadata.deletion_timestamp is not None or not pod.status or not pod.status.pod_ip:
        return False
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def plan(
    probe: Probe, snapshot: Snapshot, deployment: Deployment, settings: KubernetesSettings
) -> Planned | ProbeResult:
    """Where ``probe`` runs and what it asks for, or the result that makes running it moot."""
    unfit = _unfit(probe)
    if unfit is not None:
        return _error(unfit)
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
    request = (
        _apiserver_request(probe, ip.address, settings)
        if ip.kind == APISERVER_KIND
        else _request(probe, ip.address, settings)
    )
    namespace = deployment.workload(probe.source).namespace
    return Planned(probe.source_cluster, namespace, pods[0].name, request, ip, pods[0])


def _unfit(probe: Probe) -> str | None:
    """Why the Kubernetes backend cannot run ``probe`` at all; ``None`` when it can."""
    if probe.protocol not in ("TCP", "UDP", "SCTP", "ICMP"):
        return f"{probe.protocol} probes are not supported by the Kubernetes backend"
    if probe.http is not None and (probe.protocol != "TCP" or isinstance(probe.target, DnsTarget)):
        return f"an HTTP request needs a TCP probe, not {probe.protocol}"
    if isinstance(probe.target, ApiServerTarget) and probe.protocol != "TCP":
        return f"the API server is probed over TCP (HTTPS), not {probe.protocol}"
    if probe.protocol == "ICMP" and isinstance(probe.target, ServiceTarget):
        # Cilium's load balancer translates a Service's address by its port; an echo request
        # has none, so no backend receives it and nothing policy decides is tested (cilium
        # issues #14118, #14341; the opt-in VIP responder of cilium#47130 answers before any
        # policy). A ping to a ClusterIP would time out whatever the policies say.
        return (
            f"an ICMP probe cannot target a Service ({probe.target}): Cilium's load balancer "
            "forwards by port, and an echo request to a ClusterIP reaches no backend, so its "
            "timeout would say nothing about policy; ping the pods instead"
        )
    return None


def _request(probe: Probe, host: str, settings: KubernetesSettings) -> ProbeRequest:
    """The command that runs ``probe`` against ``host``."""
    if isinstance(probe.target, DnsTarget):
        return DigRequest(probe.target.name, settings.connect_timeout)
    if probe.protocol == "ICMP":
        return PingRequest(host, settings.connect_timeout)
    if probe.protocol == "UDP" or probe.protocol == "SCTP":
        return ConnectRequest(host, probe.port, probe.protocol, settings.connect_timeout)
    http = probe.http
    return CurlRequest(
        url_of(host, probe.port, http.path if http else "/"),
        http.method if http else "GET",
        settings.connect_timeout,
        settings.max_time,
        http_headers(http),
    )


def _apiserver_request(probe: Probe, host: str, settings: KubernetesSettings) -> CurlRequest:
    """``curl --insecure https://ADDRESS:PORT/version``: the API server speaks TLS only."""
    http = probe.http
    return CurlRequest(
        url_of(host, probe.port, http.path if http else APISERVER_PATH, "https"),
        http.method if http else "GET",
        settings.connect_timeout,
        settings.max_time,
        http_headers(http),
        insecure=True,
    )


def _target_ip(probe: Probe, snapshot: Snapshot, deployment: Deployment) -> TargetRef | ProbeResult:
    target = probe.target
    if isinstance(target, PodTarget):
        pods = snapshot.ready_pods(target.cluster, target.workload)
        if not pods:
            return _error(f"no ready pod of {target.workload} in {target.cluster}")
        namespace = deployment.workload(target.workload).namespace
        pod = pods[0]
        place = Place(target.cluster, pod.node, pod.ip)
        return TargetRef(
            target.cluster, "pod", namespace, pod.name, pod.uid, pod.ip, places=(place,)
        )
    if isinstance(target, ExternalTarget):
        return _external(probe, target)
    if isinstance(target, DnsTarget):
        # the query goes to kube-dns's ClusterIP, translated to one of its pods before policy
        places = snapshot.dns_places(probe.source_cluster)
        return TargetRef(
            probe.source_cluster,
            "dns",
            KUBE_DNS_NAMESPACE,
            "kube-dns",
            "",
            target.name,
            places=places,
        )
    if isinstance(target, ApiServerTarget):
        return _apiserver(probe, snapshot)
    if not isinstance(target, ServiceTarget):
        return _error(f"the Kubernetes backend cannot probe {target}")
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
    return TargetRef(
        probe.source_cluster,
        "Service",
        owner.namespace,
        target.name,
        str(service.metadata.uid),
        str(cluster_ip),
        snapshot.backends(target.name),
        snapshot.backend_places(target.name),
    )


def _external(probe: Probe, target: ExternalTarget) -> TargetRef | ProbeResult:
    """An external target: its hostname when it has one (the client pod resolves it through
    the cluster's DNS, as ``toFQDNs`` needs), else its address. A drop of it is found in
    Hubble by that address or, for a hostname, by the names Hubble gives the destination."""
    host = target.hostname or target.address
    if not host:
        return _error(f"the external target {target.name} has neither a hostname nor an address")
    return TargetRef(
        probe.source_cluster,
        "external",
        "",
        target.name,
        "",
        host,
        addresses=(target.address,) if target.address else (),
        names=(target.hostname,) if target.hostname else (),
    )


def _apiserver(probe: Probe, snapshot: Snapshot) -> TargetRef | ProbeResult:
    """The API server of the source's cluster, at its first ready address, if it serves the
    probe's port. Its drop happens at egress on the source's node (it is no Cilium endpoint),
    so it is looked up there by that address, like an external target's."""
    context = probe.source_cluster
    endpoints = snapshot.apiserver(context)
    serving = next((e for e in endpoints if None in e.ports or probe.port in e.ports), None)
    if serving is None:
        ports = sorted({port for e in endpoints for port in e.ports if port is not None})
        listed = ", ".join(str(port) for port in ports) or "none"
        return _error(
            f"the API server of {context} does not listen on port {probe.port}: its "
            f"EndpointSlice {APISERVER_NAMESPACE}/{APISERVER_SERVICE} lists port(s) {listed}; "
            f"give `port: {ports[0] if ports else 6443}` in the scenario's probe"
        )
    return TargetRef(
        context,
        APISERVER_KIND,
        APISERVER_NAMESPACE,
        APISERVER_SERVICE,
        "",
        serving.address,
        addresses=(serving.address,),
    )


def _error(detail: str) -> ProbeResult:
    return ProbeResult(Outcome.PROBE_ERROR, detail=detail)


class Prober:
    """Runs the probes of steps, concurrently and with retries."""

    def __init__(
        self,
        clusters: Mapping[str, Cluster],
        kubeconfig: str | None,
        settings: KubernetesSettings,
        prover: Prover | None = None,
    ) -> None:
        self._clusters = clusters
        self._kubeconfig = kubeconfig
        self._settings = settings
        self._prover = prover
        """Finds the Hubble record of dropped probes; without one, no drop is proven."""
        self.execs = 0
        """Probe execs started so far."""
        self._pool = ThreadPoolExecutor(
            max_workers=settings.probe_concurrency, thread_name_prefix="clustermesh-exec"
        )

    def run(
        self,
        deployment: Deployment,
        probes: Sequence[Probe],
        policies_changed: float | None = None,
    ) -> list[ProbeResult]:
        """The result of each probe. ``policies_changed`` is the ``time.monotonic()`` at which
        policies last changed in a cluster of the deployment whose agents cannot be read
        (``None``: none such); an outcome seen within ``policy_settle`` seconds of it must be
        confirmed."""
        settings = self._settings
        attempts: dict[int, list[Attempt]] = {i: [] for i in range(len(probes))}
        pending = list(range(len(probes)))
        deadline = time.monotonic() + settings.probe_window
        while pending:
            started = time.monotonic()
            recent = policies_changed is not None and (
                started - policies_changed < settings.policy_settle
            )
            for index, result in self._round(deployment, {i: probes[i] for i in pending}).items():
                attempts[index].append(Attempt(result, recent))
            pending = [i for i in pending if _again(probes[i].expect, attempts[i], settings)]
            if not pending or time.monotonic() + settings.probe_interval > deadline:
                break
            log.debug(
                "%s: %d probe(s) not as expected or not confirmed yet; next round in %g s",
                deployment.key,
                len(pending),
                settings.probe_interval,
            )
            time.sleep(settings.probe_interval)
        return [_final(probes[i].expect, attempts[i]) for i in range(len(probes))]

    def _round(self, deployment: Deployment, probes: Mapping[int, Probe]) -> dict[int, ProbeResult]:
        started = datetime.now(UTC)
        snapshot = Snapshot(self._clusters, deployment)
        results: dict[int, ProbeResult] = {}
        batches: dict[tuple[str, str, str], list[tuple[int, Planned, Probe]]] = {}
        placed: dict[int, Planned] = {}
        for index, probe in probes.items():
            planned = plan(probe, snapshot, deployment, self._settings)
            if isinstance(planned, ProbeResult):
                results[index] = planned
            else:
                placed[index] = planned
                where = (planned.cluster, planned.namespace, planned.pod)
                batches.setdefault(where, []).append((index, planned, probe))
        futures: list[Future[dict[int, ProbeResult]]] = [
            self._pool.submit(self._batch, [(i, p) for i, p, _ in chunk])
            for chunk in _chunks_slowest_first(batches)
        ]
        for future in futures:
            results.update(future.result())
        results = _recheck(Snapshot(self._clusters, deployment), placed, results)
        return self._prove(deployment, placed, results, started)

    def _prove(
        self,
        deployment: Deployment,
        placed: Mapping[int, Planned],
        results: dict[int, ProbeResult],
        since: datetime,
    ) -> dict[int, ProbeResult]:
        """Each dropped result with Hubble's evidence of a policy drop, or made a probe error
        saying why there is none."""
        questions = [
            question
            for index, result in results.items()
            if result.outcome is Outcome.DROPPED
            and (question := _question(index, placed.get(index))) is not None
        ]
        if self._prover is None or not questions:
            return results
        namespaces = [spec.name for spec in deployment.namespaces]
        for index, answer in self._prover.prove(namespaces, questions, since).items():
            result = results[index]
            if isinstance(answer, str):
                results[index] = dataclasses.replace(
                    result,
                    outcome=Outcome.PROBE_ERROR,
                    detail=f"{answer} (the probe: {result.detail})",
                )
            else:
                results[index] = dataclasses.replace(
                    result, evidence=answer, detail=f"{result.detail}; Hubble: {answer}"
                )
        return results

    def _batch(self, items: list[tuple[int, Planned]]) -> dict[int, ProbeResult]:
        first = items[0][1]
        cluster = self._clusters[first.cluster]
        requests = [planned.request for _, planned in items]
        timeout = self._settings.max_time + EXEC_SLACK
        self.execs += 1
        marker = new_marker()
        argv = batch_argv(requests, marker)
        outcome = run_exec(cluster, first.namespace, first.pod, argv, timeout)
        apiserver = [
            planned.target is not None and planned.target.kind == APISERVER_KIND
            for _, planned in items
        ]
        results = _batch_results(outcome, requests, marker, apiserver)
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


@dataclass(frozen=True)
class Attempt:
    result: ProbeResult
    recent: bool
    """Its round started within ``policy_settle`` of a policy change: it needs confirming."""


def _confirmed(attempts: Sequence[Attempt]) -> bool:
    """Whether the last attempt's outcome can be trusted: it was not seen right after a policy
    change, or the attempt before saw the same."""
    last = attempts[-1]
    if not last.recent:
        return True
    return len(attempts) >= 2 and attempts[-2].result.outcome is last.result.outcome


def _again(
    expect: Verdict | None, attempts: Sequence[Attempt], settings: KubernetesSettings
) -> bool:
    """Whether the probe needs another round."""
    if expect is None:
        return False
    if not expect.accepts(attempts[-1].result.outcome):
        return len(attempts) < settings.probe_attempts
    return not _confirmed(attempts) and len(attempts) < settings.probe_attempts + 1


def _final(expect: Verdict | None, attempts: Sequence[Attempt]) -> ProbeResult:
    """The probe's result: its last attempt's, with the history of outcomes; an accepted
    outcome that was never confirmed is a probe error. ``attempts`` counts the first try and
    the real retries: a round that only confirmed an accepted outcome is no retry."""
    last = attempts[-1].result
    detail = last.detail
    tries = 1 + sum(
        1 for previous in attempts[:-1] if not _accepts(expect, previous.result.outcome)
    )
    if len(attempts) > 1:
        history = ", ".join(
            a.result.outcome.value
            + (" (confirmation)" if i and _accepts(expect, attempts[i - 1].result.outcome) else "")
            for i, a in enumerate(attempts)
        )
        detail = f"{detail}; attempts: {history}" if detail else f"attempts: {history}"
    if expect is not None and expect.accepts(last.outcome) and not _confirmed(attempts):
        return dataclasses.replace(
            last,
            outcome=Outcome.PROBE_ERROR,
            served_by=frozenset(),
            served_pod=None,
            evidence=None,
            attempts=tries,
            detail=(
                f"{last.outcome.value} was seen right after a policy change (within the policy "
                "settle time) and not confirmed by a following round with the same outcome, so "
                f"it may predate the policy or be transient: {detail}"
            ),
        )
    return dataclasses.replace(last, attempts=tries, detail=detail)


def _accepts(expect: Verdict | None, outcome: Outcome) -> bool:
    return expect is not None and expect.accepts(outcome)


def _question(index: int, planned: Planned | None) -> Question | None:
    """What to look for in Hubble for a dropped probe; ``None`` when its ends are unknown."""
    if planned is None or planned.target is None or planned.source is None:
        return None
    source = planned.source
    target = planned.target
    request = planned.request
    return Question(
        index,
        Place(planned.cluster, source.node, source.ip),
        target.places,
        target.drop_addresses,
        request.port,
        "ICMP" if isinstance(request, PingRequest) else _protocol(request),
        target.names,
    )


def _protocol(request: CurlRequest | ConnectRequest | DigRequest) -> str:
    if isinstance(request, DigRequest):
        return "UDP"
    return request.protocol if isinstance(request, ConnectRequest) else "TCP"


def _recheck(
    snapshot: Snapshot, placed: Mapping[int, Planned], results: dict[int, ProbeResult]
) -> dict[int, ProbeResult]:
    """``results`` with those whose target vanished or changed during the round made probe
    errors: the probe may have hit a stale address, and a stale pod IP times out like a drop."""
    for index, planned in placed.items():
        result = results.get(index)
        if planned.target is None or result is None or result.outcome.is_error:
            continue
        try:
            problem = snapshot.changed(planned.target)
        except LookupError as exc:
            problem = str(exc)
        except Exception as exc:  # API failures that survived the retries
            problem = f"cannot check the target {planned.target} after the probe: {describe(exc)}"
        if problem is None:
            problem = _no_backend_drop(planned.target, result)
        if problem is not None:
            results[index] = dataclasses.replace(
                result,
                outcome=Outcome.PROBE_ERROR,
                served_by=frozenset(),
                served_pod=None,
                evidence=None,
                detail=(
                    f"{problem}, so the probe may have hit a stale address and its outcome "
                    f"({result.outcome.value}: {result.detail}) proves nothing"
                ),
            )
    return results


def _no_backend_drop(target: TargetRef, result: ProbeResult) -> str | None:
    """A Service without a ready backend times out when Cilium runs with
    ``service-no-backend-response=drop`` (docs/cilium-semantics.md Q5): such a timeout
    says nothing about policy, so it is not a drop."""
    if target.kind == "Service" and not target.backends and result.outcome is Outcome.DROPPED:
        return f"the target {target} had no ready backend"
    return None


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


def _batch_results(
    outcome: ExecResult,
    requests: Sequence[ProbeRequest],
    marker: str,
    apiserver: Sequence[bool] = (),
) -> list[ProbeResult]:
    """One result per probe of a batch exec; ``apiserver`` marks the probes of the API
    server (none if empty)."""
    count = len(requests)
    if outcome.error is not None:
        return [_error(outcome.error)] * count
    if outcome.exit_code != 0:
        said = f": {outcome.stderr.strip()[:300]}" if outcome.stderr.strip() else ""
        return [_error(f"the probe script exited {outcome.exit_code}{said}")] * count
    try:
        outputs = parse_batch_output(outcome.stdout, count, marker)
    except BatchOutputError as exc:
        return [_error(f"{exc}; output: {outcome.stdout[:300]!r}")] * count
    results = []
    flags = list(apiserver) or [False] * count
    for output, request, to_apiserver in zip(outputs, requests, flags, strict=True):
        verdict = classify(output, request, apiserver=to_apiserver)
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
