"""Emulated clusters that answer probes with the simulated mesh's verdicts.

:class:`MirroredMesh` watches an :class:`~.Emulator`'s clusters (namespaces, Deployments, pods,
Services, policies) and rebuilds from them what a backend deployed: a
:class:`~pytest_clustermesh.backend.Deployment` per ownership label value, its policies per
cluster, all put into a :class:`~pytest_clustermesh.simulated.SimulatedMesh`. It then answers the
Kubernetes backend's probe execs (:mod:`pytest_clustermesh.kubernetes.commands`) as curl would
if Cilium behaved as the model says: a drop waits out the connect timeout and exits 28 without
a connection (``time_connect`` 0, status 000), an L7 denial is Envoy's HTTP 403 ``Access
denied``, an allowed request gets the server's http-echo text after a connection was made. A
request to an IP no pod or Service has (a pod replaced since the backend listed it) is dropped,
as Cilium drops traffic to a stale or unroutable IP.

So the whole Kubernetes path (manifests, labels, policy objects, exec, classification) runs
against the model: a label the backend forgets or a policy it fails to apply changes the verdict.
Cluster names in the mirrored mesh are the kubeconfig context names, as in the backend.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_clustermesh.backend import (
    OWNER_LABEL,
    Deployment,
    HttpRequest,
    NamespaceSpec,
    PodTarget,
    PolicyDoc,
    PortSpec,
    Probe,
    ServiceSpec,
    ServiceTarget,
    Target,
    WorkloadSpec,
)
from pytest_clustermesh.errors import ClusterMeshError
from pytest_clustermesh.facts import ClusterFacts, parse_version, resolve_options
from pytest_clustermesh.kubernetes.classify import CILIUM_ACCESS_DENIED, echo_text
from pytest_clustermesh.kubernetes.commands import (
    CurlOutput,
    CurlRequest,
    curl_stdout,
    parse_batch_argv,
    parse_curl,
    render_batch_output,
)
from pytest_clustermesh.kubernetes.manifests import POD_NAME_ENV, RUN_LABEL, WORKLOAD_LABEL
from pytest_clustermesh.policy.parse import API_VERSIONS
from pytest_clustermesh.simulated import SimulatedMesh
from pytest_clustermesh.verdicts import Outcome

from .emulator import Emulator
from .exec import ExecRequest, ExecResult, default_exec_handler

Obj = dict[str, Any]
Key = tuple[str, str, str, str]
"""cluster (logical), kind, namespace ("" if none), name"""

MIRRORED_KINDS = frozenset({"Namespace", "Deployment", "Pod", "Service", *API_VERSIONS})
OUR_LABELS = frozenset({OWNER_LABEL, WORKLOAD_LABEL, RUN_LABEL})

Override = Callable[[ExecRequest, CurlRequest], CurlOutput | None]
"""A test's hook: the output of one curl instead of the model's, or ``None`` for the model's."""


@dataclass
class _World:
    """What the clusters hold, rebuilt as backend values."""

    mesh: SimulatedMesh
    deployments: dict[str, Deployment]
    pod_ips: dict[str, tuple[str, Obj]] = field(default_factory=dict)
    """pod IP -> (context, pod)"""
    services: dict[tuple[str, str], Obj] = field(default_factory=dict)
    """(context, ClusterIP) -> Service"""
    problems: list[str] = field(default_factory=list)


class MirroredMesh:
    """Mirrors ``emulator`` into a simulated mesh and answers probe execs from it.

    ``exec_latency`` is added to every exec (a real exec costs tens of milliseconds);
    ``images_without_curl`` are client images whose pods lack curl (exit 127).
    """

    def __init__(
        self,
        emulator: Emulator,
        *,
        exec_latency: float = 0.0,
        images_without_curl: Iterable[str] = (),
        seed: int | None = None,
    ) -> None:
        self._emulator = emulator
        self._contexts = {cluster.name: cluster.context for cluster in emulator}
        self._facts = {cluster.context: _facts(cluster) for cluster in emulator}
        self.exec_latency = exec_latency
        self.images_without_curl = set(images_without_curl)
        self.override: Override | None = None
        self.execs = 0
        """Probe execs answered so far."""
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._objects: dict[Key, Obj] = {}
        self._world: _World | None = None
        self._unsubscribe = [
            cluster.subscribe(self._observer(cluster.name), replay=True) for cluster in emulator
        ]
        emulator.set_exec_handler(self.handle_exec)

    def close(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._emulator.set_exec_handler(default_exec_handler)

    def __enter__(self) -> MirroredMesh:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- mirroring -----------------------------------------------------------------------------

    def _observer(self, cluster: str) -> Callable[[str, Obj], None]:
        def observe(event: str, obj: Obj) -> None:
            kind = obj.get("kind")
            if kind not in MIRRORED_KINDS:
                return
            meta = obj["metadata"]
            key = (cluster, str(kind), meta.get("namespace") or "", meta["name"])
            with self._lock:
                if event == "DELETED":
                    self._objects.pop(key, None)
                else:
                    self._objects[key] = obj
                self._world = None

        return observe

    def world(self) -> _World:
        """The deployments, policies and addresses the clusters hold now."""
        with self._lock:
            if self._world is None:
                self._world = _build(dict(self._objects), self._contexts, self._facts)
            return self._world

    def deployments(self) -> dict[str, Deployment]:
        return self.world().deployments

    # -- answering execs -----------------------------------------------------------------------

    async def handle_exec(self, request: ExecRequest) -> ExecResult:
        if self.exec_latency:
            await asyncio.sleep(self.exec_latency)
        batch = parse_batch_argv(request.command)
        single = request.command[:1] == ["curl"]
        if batch is None and not single:
            return await default_exec_handler(request)
        self.execs += 1
        commands = batch.commands if batch is not None else [request.command]
        answers = [self._answer(request, argv) for argv in commands]
        wait = max((delay for _, delay in answers), default=0.0)
        if wait:
            await asyncio.sleep(wait)
        outputs = [output for output, _ in answers]
        if batch is not None:
            return ExecResult(render_batch_output(outputs, batch.marker))
        [output] = outputs
        return ExecResult(output.stdout, output.stderr, output.exit_code or 0)

    def _answer(self, request: ExecRequest, argv: list[str]) -> tuple[CurlOutput, float]:
        """One curl's output and how long it takes."""
        try:
            curl = parse_curl(argv)
        except ValueError as exc:
            return CurlOutput(2, "", f"curl: {exc}"), 0.0
        if self._image(request) in self.images_without_curl:
            return CurlOutput(127, "", "sh: curl: not found"), 0.0
        if self.override is not None and (output := self.override(request, curl)) is not None:
            return output, 0.0
        return self._verdict(request, curl)

    def _image(self, request: ExecRequest) -> str:
        for container in request.pod_object["spec"]["containers"]:
            if container["name"] == request.container:
                return str(container["image"])
        return ""

    def _verdict(self, request: ExecRequest, curl: CurlRequest) -> tuple[CurlOutput, float]:
        world = self.world()
        context = self._contexts[request.cluster]
        labels = request.pod_object["metadata"].get("labels") or {}
        key, source = labels.get(OWNER_LABEL), labels.get(WORKLOAD_LABEL)
        deployment = world.deployments.get(key or "")
        target = self._target(world, context, curl.host)
        if target is None:
            return _dropped(curl), curl.connect_timeout  # a stale or unroutable IP
        if deployment is None or source is None:
            return _unreachable(curl), 0.0
        probe = Probe(
            context, source, target, curl.port, "TCP", HttpRequest(curl.method, curl.path)
        )
        try:
            result = world.mesh.predict(deployment, probe)
        except ClusterMeshError as exc:
            return CurlOutput(56, curl_stdout("", 0), f"curl: (56) {exc}"), 0.0
        return self._curl_output(
            world, deployment, target, result.outcome, result.served_by, curl, result.detail
        )

    def _target(self, world: _World, context: str, host: str) -> Target | None:
        service = world.services.get((context, host))
        if service is not None:
            return ServiceTarget(service["metadata"]["name"])
        found = world.pod_ips.get(host)
        if found is None:
            return None
        where, pod = found
        workload = (pod["metadata"].get("labels") or {}).get(WORKLOAD_LABEL)
        return PodTarget(where, workload) if workload else None

    def _curl_output(
        self,
        world: _World,
        deployment: Deployment,
        target: Target,
        outcome: Outcome,
        served_by: frozenset[str],
        curl: CurlRequest,
        detail: str,
    ) -> tuple[CurlOutput, float]:
        if outcome is Outcome.ALLOWED:
            workload = (
                target.workload
                if isinstance(target, PodTarget)
                else deployment.service_owner(target.name).name
            )
            cluster = self._random.choice(sorted(served_by))
            return CurlOutput(0, curl_stdout(self._echo(world, cluster, workload, curl), 200)), 0.0
        if outcome is Outcome.DROPPED:
            return _dropped(curl), curl.connect_timeout
        if outcome is Outcome.L7_DENIED:
            return CurlOutput(0, curl_stdout(CILIUM_ACCESS_DENIED, 403)), 0.0
        if outcome is Outcome.REFUSED:
            return _refused(curl, "Couldn't connect to server"), 0.0
        if outcome is Outcome.DNS_FAILURE:
            return CurlOutput(6, curl_stdout("", 0), f"curl: (6) {detail}"), 0.0
        return CurlOutput(56, curl_stdout("", 0), f"curl: (56) {detail}"), 0.0

    def _echo(self, world: _World, context: str, workload: str, curl: CurlRequest) -> str:
        """What the workload's http-echo on ``curl.port`` in ``context`` answers."""
        pods = sorted(
            (
                pod
                for ctx, pod in world.pod_ips.values()
                if ctx == context
                and (pod["metadata"].get("labels") or {}).get(WORKLOAD_LABEL) == workload
            ),
            key=lambda pod: str(pod["metadata"]["name"]),
        )
        if not pods:
            return echo_text(context, f"{workload}-unknown")
        pod = self._random.choice(pods)
        for container in pod["spec"]["containers"]:
            ports = [p.get("containerPort") for p in container.get("ports") or []]
            if curl.port in ports:
                for arg in container.get("args") or []:
                    if arg.startswith("-text="):
                        return str(arg[6:]).replace(f"$({POD_NAME_ENV})", pod["metadata"]["name"])
        return "hello-world"


def _dropped(curl: CurlRequest) -> CurlOutput:
    """curl's output when no SYN-ACK came back within the connect timeout."""
    millis = int(curl.connect_timeout * 1000)
    said = f"curl: (28) Connection timed out after {millis} milliseconds"
    return CurlOutput(28, curl_stdout("", 0, time_connect=0.0), said)


def _unreachable(curl: CurlRequest) -> CurlOutput:
    return _refused(curl, "No route to host")


def _refused(curl: CurlRequest, why: str) -> CurlOutput:
    said = f"curl: (7) Failed to connect to {curl.host} port {curl.port} after 0 ms: {why}"
    return CurlOutput(7, curl_stdout("", 0), said)


def _facts(cluster: Any) -> ClusterFacts:
    config = cluster.config
    version = parse_version(config.cilium_version)
    return ClusterFacts(
        cluster.context,
        config.cilium_cluster_name,
        config.cluster_id,
        version,
        resolve_options(version, config.options),
    )


# -- rebuilding backend values from objects ----------------------------------------------------


def _build(
    objects: Mapping[Key, Obj], contexts: Mapping[str, str], facts: Mapping[str, ClusterFacts]
) -> _World:
    by_kind: dict[str, list[tuple[str, Obj]]] = {}
    for (cluster, kind, _, _), obj in sorted(objects.items()):
        by_kind.setdefault(kind, []).append((contexts[cluster], obj))
    ready = [(ctx, pod) for ctx, pod in by_kind.get("Pod", []) if _ready(pod)]
    deployments = _deployments(by_kind, ready)
    world = _World(SimulatedMesh(facts), deployments)
    for ctx, pod in ready:
        world.pod_ips[pod["status"]["podIP"]] = (ctx, pod)
    for ctx, service in by_kind.get("Service", []):
        cluster_ip = service.get("spec", {}).get("clusterIP")
        if cluster_ip and cluster_ip != "None":
            world.services[(ctx, str(ipaddress.ip_address(cluster_ip)))] = service
    for deployment in deployments.values():
        world.mesh.deploy(deployment)
    _policies(world, by_kind)
    return world


def _ready(pod: Obj) -> bool:
    status = pod.get("status") or {}
    if "deletionTimestamp" in pod["metadata"] or not status.get("podIP"):
        return False
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def _owner(obj: Obj) -> str | None:
    return (obj["metadata"].get("labels") or {}).get(OWNER_LABEL)


def _deployments(
    by_kind: Mapping[str, list[tuple[str, Obj]]], ready: list[tuple[str, Obj]]
) -> dict[str, Deployment]:
    namespaces: dict[str, dict[str, NamespaceSpec]] = {}
    clusters: dict[str, list[str]] = {}
    for ctx, ns in by_kind.get("Namespace", []):
        key = _owner(ns)
        if key is None:
            continue
        name = ns["metadata"]["name"]
        labels = {
            k: v for k, v in (ns["metadata"].get("labels") or {}).items() if k not in OUR_LABELS
        }
        namespaces.setdefault(key, {})[name] = NamespaceSpec(name, name, labels)
        if ctx not in clusters.setdefault(key, []):
            clusters[key].append(ctx)
    return {
        key: Deployment(
            key, tuple(clusters[key]), tuple(specs.values()), tuple(_workloads(key, by_kind, ready))
        )
        for key, specs in namespaces.items()
    }


def _workloads(
    key: str, by_kind: Mapping[str, list[tuple[str, Obj]]], ready: list[tuple[str, Obj]]
) -> list[WorkloadSpec]:
    """The workloads of deployment ``key``: one per workload label, over all clusters."""
    found: dict[str, tuple[Obj, list[str]]] = {}
    for ctx, deployment in by_kind.get("Deployment", []):
        name = (deployment["metadata"].get("labels") or {}).get(WORKLOAD_LABEL)
        if _owner(deployment) == key and name:
            found.setdefault(name, (deployment, []))[1].append(ctx)
    services = {
        (svc["metadata"]["namespace"], (svc["spec"].get("selector") or {}).get(WORKLOAD_LABEL)): svc
        for _, svc in by_kind.get("Service", [])
        if _owner(svc) == key
    }
    workloads = []
    for name, (deployment, where) in found.items():
        namespace = deployment["metadata"]["namespace"]
        template = deployment["spec"]["template"]
        containers = template["spec"]["containers"]
        ports = tuple(
            PortSpec(int(p["containerPort"]), p.get("protocol", "TCP"))
            for c in containers
            for p in c.get("ports") or []
        )
        service = services.get((namespace, name))
        counts = {
            ctx: sum(1 for c, pod in ready if c == ctx and _is_pod_of(pod, key, name))
            for ctx in where
        }
        workloads.append(
            WorkloadSpec(
                name=name,
                role="server" if ports else "client",
                namespace=namespace,
                labels={
                    k: v
                    for k, v in (template["metadata"].get("labels") or {}).items()
                    if k not in OUR_LABELS
                },
                clusters=tuple(where),
                replicas=1,
                replicas_in=counts,
                service_account=template["spec"].get("serviceAccountName"),
                ports=ports,
                service=ServiceSpec(
                    service["metadata"]["name"], dict(service["metadata"].get("annotations") or {})
                )
                if service
                else None,
            )
        )
    return workloads


def _is_pod_of(pod: Obj, key: str, workload: str) -> bool:
    labels = pod["metadata"].get("labels") or {}
    return labels.get(OWNER_LABEL) == key and labels.get(WORKLOAD_LABEL) == workload


def _policies(world: _World, by_kind: Mapping[str, list[tuple[str, Obj]]]) -> None:
    docs: dict[tuple[str, str], list[PolicyDoc]] = {}
    for kind in API_VERSIONS:
        for ctx, obj in by_kind.get(kind, []):
            meta = obj["metadata"]
            doc = PolicyDoc(kind, meta["name"], meta.get("namespace"), obj)
            docs.setdefault((_owner(obj) or "", ctx), []).append(doc)
    for (key, ctx), policies in docs.items():
        deployment = world.deployments.get(key)
        if deployment is None:
            continue  # policies of nothing this mesh mirrors
        try:
            world.mesh.set_policies(deployment, ctx, policies)
        except ClusterMeshError as exc:
            world.problems.append(str(exc))
