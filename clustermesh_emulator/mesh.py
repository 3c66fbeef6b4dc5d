"""Emulated clusters that answer probes with the simulated mesh's verdicts.

:class:`MirroredMesh` watches an :class:`~.Emulator`'s clusters (namespaces, Deployments, pods,
Services, policies) and rebuilds from them what a backend deployed: a
:class:`~pytest_clustermesh.backend.Deployment` per ownership label value, its policies per
cluster, all put into a :class:`~pytest_clustermesh.simulated.SimulatedMesh`. It then answers the
Kubernetes backend's probe execs (:mod:`pytest_clustermesh.kubernetes.commands`) as its tools
would if Cilium behaved as the model says:

- curl (TCP): a drop waits out the connect timeout and exits 28 without a connection
  (``time_connect`` 0, status 000), an L7 denial is Envoy's HTTP 403 ``Access denied``, an
  allowed request gets the server's http-echo text after a connection was made;
- ``/agnhost connect --protocol=udp|sctp`` (kubernetes ``test/images/agnhost/connect/connect.go``):
  exit 0 once answered; else exit 1 with ``TIMEOUT`` (after the timeout), ``REFUSED: ...``
  (UDP: the ICMP port unreachable a pod's kernel sends; SCTP reports it as ``OTHER:
  connection refused``), ``DNS: ...``;
- ``ping -c 1 -W N`` (busybox's output): exit 0 with the reply, exit 1 with statistics of no
  reply after N seconds, ``ping: bad address`` for a name that does not resolve. Nothing
  "listens" for ICMP: a pod's kernel answers every echo request policy lets through.

Addresses: a pod's IP or a Service's ClusterIP is that target; any other address in a cluster's
pod, Service or node range (a pod replaced since the backend listed it) is dropped without a
record, as Cilium drops traffic to a stale or unroutable IP; an address outside them all is
the world, an :class:`~pytest_clustermesh.backend.ExternalTarget`. The control-plane node's
address of the source's cluster (the seeded ``kubernetes`` EndpointSlice's) is its API server,
an :class:`~pytest_clustermesh.backend.ApiServerTarget`, which answers as kube-apiserver
(:func:`_apiserver_output`). A hostname resolves through
the emulated cluster DNS, which knows the names in :attr:`MirroredMesh.externals` (hostname ->
address) and nothing else.

So the whole Kubernetes path (manifests, labels, policy objects, exec, classification) runs
against the model: a label the backend forgets or a policy it fails to apply changes the verdict.
Cluster names in the mirrored mesh are the kubeconfig context names, as in the backend.

It also runs the clusters' Cilium agents (:class:`~.agents.Agents`): execs into the ``cilium``
pods of ``kube-system`` are answered with their status, policy revisions and Hubble flows, and a
probe the model drops is recorded as Hubble would record it, on the node that dropped it, with
the drop reason and the deny policies. :attr:`MirroredMesh.mesh_faults` breaks the emulated
Cilium (:mod:`.meshfaults`): a partitioned pair's packets vanish without a flow, a non-policy
drop is recorded with its reason, a late agent keeps enforcing the previous policies for a
while, and so on.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_clustermesh.backend import (
    OWNER_LABEL,
    ApiServerTarget,
    Deployment,
    DnsTarget,
    ExternalTarget,
    HttpRequest,
    NamespaceSpec,
    PodTarget,
    PolicyDoc,
    PortSpec,
    Probe,
    ProbeProtocol,
    ServiceSpec,
    ServiceTarget,
    Target,
    WorkloadSpec,
)
from pytest_clustermesh.errors import ClusterMeshError
from pytest_clustermesh.facts import ClusterFacts, parse_version, resolve_options
from pytest_clustermesh.kubernetes.classify import CILIUM_ACCESS_DENIED
from pytest_clustermesh.kubernetes.commands import (
    AGNHOST,
    ANSWER_TIME_CONNECT,
    ConnectRequest,
    CurlOutput,
    CurlRequest,
    DigRequest,
    PingRequest,
    ProbeRequest,
    curl_stdout,
    is_address,
    parse_batch_argv,
    parse_probe,
    render_batch_output,
)
from pytest_clustermesh.kubernetes.manifests import POD_NAME_ENV, RUN_LABEL, WORKLOAD_LABEL
from pytest_clustermesh.policy.labels import LOOKUP_PROXIED
from pytest_clustermesh.policy.parse import API_VERSIONS
from pytest_clustermesh.policy.tiers import KCNP, enforces_cluster_network_policy
from pytest_clustermesh.simulated import SimulatedMesh
from pytest_clustermesh.verdicts import Outcome

from .agents import (
    Agents,
    Drop,
    FlowEnd,
    apiserver_end,
    denied_by,
    dropping_direction,
    is_agent,
    pod_labels,
    world_end,
)
from .emulator import Emulator
from .exec import ExecRequest, ExecResult, default_exec_handler
from .meshfaults import MeshFaults
from .seed import APISERVER_PORT

Obj = dict[str, Any]
Key = tuple[str, str, str, str]
"""cluster (logical), kind, namespace ("" if none), name"""

POLICY_KINDS = frozenset({*API_VERSIONS, KCNP})
MIRRORED_KINDS = frozenset({"Namespace", "Deployment", "Pod", "Service", *POLICY_KINDS})
POLICY_HISTORY = 1000
"""Policy changes per cluster kept for late agents: enough for any test's delay."""
OUR_LABELS = frozenset({OWNER_LABEL, WORKLOAD_LABEL, RUN_LABEL})

Override = Callable[[ExecRequest, CurlRequest], CurlOutput | None]
"""A test's hook: the output of one curl instead of the model's, or ``None`` for the model's."""
PROBE_TOOLS = ("curl", AGNHOST, "ping", "dig")
KUBE_DNS_ADDRESS = "10.96.0.10"
"""The resolver a pod's ``/etc/resolv.conf`` names (kube-dns's ClusterIP), as dig reports it."""
NODE_NETWORK = ipaddress.IPv4Network("172.18.0.0/16")
"""The kind-like docker network the emulated nodes sit on (:meth:`.ClusterConfig.node_ip`)."""


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
    ``images_without_curl`` are client images whose pods lack curl (exit 127), as
    :attr:`images_without_agnhost` and :attr:`images_without_ping` lack those tools.
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
        self._apiservers = {cluster.context: cluster.config.node_ip(0) for cluster in emulator}
        """Context -> its API server's address (the control-plane node's, as the seeded
        ``kubernetes`` EndpointSlice says)."""
        self._kubernetes = {
            cluster.context: cluster.config.kubernetes_version for cluster in emulator
        }
        self.exec_latency = exec_latency
        self.images_without_curl = set(images_without_curl)
        self.images_without_agnhost: set[str] = set()
        self.images_without_ping: set[str] = set()
        self.images_without_dig: set[str] = set()
        self.externals: dict[str, str] = {}
        """Hostname -> address: what the emulated cluster DNS resolves (nothing else)."""
        self.override: Override | None = None
        """Called for curl probes only."""
        self._internal = [
            network
            for cluster in emulator
            for network in (cluster.config.pod_network, cluster.config.service_network)
        ] + [NODE_NETWORK]
        self.execs = 0
        """Probe execs answered so far."""
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._objects: dict[Key, Obj] = {}
        self._world: _World | None = None
        self._world_key: tuple[int, ...] = ()
        self._mesh_faults = MeshFaults()
        self.agents = Agents(emulator, lambda: self._mesh_faults)
        self._policies_at: dict[str, deque[tuple[float, dict[Key, Obj]]]] = {
            cluster.name: deque(maxlen=POLICY_HISTORY) for cluster in emulator
        }
        """Cluster -> its policy objects after each (recent) change, for agents that realise
        late."""
        self._unsubscribe = [
            cluster.subscribe(self._observer(cluster.name), replay=True) for cluster in emulator
        ]
        emulator.set_exec_handler(self.handle_exec)

    @property
    def mesh_faults(self) -> MeshFaults:
        return self._mesh_faults

    @mesh_faults.setter
    def mesh_faults(self, faults: MeshFaults) -> None:
        with self._lock:
            self._mesh_faults = faults
            self._world = None

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
                if kind in POLICY_KINDS and self._reads(cluster, str(kind)):
                    self.agents.policy_event(cluster, event, obj)
                    policies = {k: v for k, v in self._objects.items() if _is_policy(k, cluster)}
                    self._policies_at[cluster].append((time.monotonic(), policies))

        return observe

    def _reads(self, cluster: str, kind: str) -> bool:
        """Whether the cluster's agents read policies of ``kind``: a ClusterNetworkPolicy only
        where Cilium enforces it (1.20, enable-k8s-cluster-network-policy; cilium#47227), so
        elsewhere its writes change no policy revision."""
        if kind != KCNP:
            return True
        facts = self._facts.get(self._contexts.get(cluster, cluster))
        return facts is not None and enforces_cluster_network_policy(facts)

    def world(self) -> _World:
        """The deployments, policies and addresses the clusters hold now, with the policies a
        late agent still enforces in place of its cluster's current ones."""
        with self._lock:
            objects, key = self._enforced()
            if self._world is None or key != self._world_key:
                self._world = _build(objects, self._contexts, self._facts)
                self._world_key = key
            return self._world

    def _enforced(self) -> tuple[dict[Key, Obj], tuple[int, ...]]:
        """The objects the datapath acts on now, and which policy state of each late cluster
        that is (the world is rebuilt when it changes)."""
        objects = dict(self._objects)
        key: list[int] = []
        now = time.monotonic()
        for cluster, changes in sorted(self._policies_at.items()):
            delay = self._mesh_faults.delay(cluster)
            if not delay or not changes:
                continue
            due = [i for i, (moment, _) in enumerate(changes) if moment + delay <= now]
            index = due[-1] if due else -1
            key.append(index)
            if index == len(changes) - 1:
                continue
            objects = {k: v for k, v in objects.items() if not _is_policy(k, cluster)}
            if index >= 0:
                objects.update(changes[index][1])
        return objects, tuple(key)

    def deployments(self) -> dict[str, Deployment]:
        return self.world().deployments

    # -- answering execs -----------------------------------------------------------------------

    async def handle_exec(self, request: ExecRequest) -> ExecResult:
        if self.exec_latency:
            await asyncio.sleep(self.exec_latency)
        if is_agent(request):
            return await self.agents.handle(request)
        batch = parse_batch_argv(request.command)
        single = bool(request.command) and request.command[0] in PROBE_TOOLS
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
        """One probe command's output and how long it takes."""
        program = argv[0] if argv else ""
        missing = {
            "curl": self.images_without_curl,
            AGNHOST: self.images_without_agnhost,
            "ping": self.images_without_ping,
            "dig": self.images_without_dig,
        }.get(program)
        if missing is None or self._image(request) in missing:
            return CurlOutput(127, "", f"sh: {program}: not found"), 0.0
        try:
            probe = parse_probe(argv)
        except ValueError as exc:
            return _misused(program, exc), 0.0
        if (
            isinstance(probe, CurlRequest)
            and self.override is not None
            and (output := self.override(request, probe)) is not None
        ):
            return output, 0.0
        return self._verdict(request, probe)

    def _image(self, request: ExecRequest) -> str:
        for container in request.pod_object["spec"]["containers"]:
            if container["name"] == request.container:
                return str(container["image"])
        return ""

    def _verdict(self, request: ExecRequest, sent: ProbeRequest) -> tuple[CurlOutput, float]:
        world = self.world()
        context = self._contexts[request.cluster]
        labels = request.pod_object["metadata"].get("labels") or {}
        key, source = labels.get(OWNER_LABEL), labels.get(WORKLOAD_LABEL)
        deployment = world.deployments.get(key or "")
        if isinstance(sent, DigRequest):
            return self._dig(request, sent, world, deployment, source)
        hostname = None if is_address(sent.host) else sent.host
        address = self.externals.get(sent.host) if hostname else sent.host
        if address is None:
            return _unresolved(sent), 0.0
        target = self._target(world, context, address, hostname)
        if target is None:
            return _dropped(sent), _wait(sent)  # a stale or unroutable IP
        if deployment is None or source is None:
            return _unreachable(sent), 0.0
        http = _http_request(sent) if isinstance(sent, CurlRequest) else None
        probe = Probe(context, source, target, sent.port, _protocol(sent), http)
        try:
            result = world.mesh.predict(deployment, probe)
        except ClusterMeshError as exc:
            return _failed(sent, str(exc)), 0.0
        outcome = result.outcome
        if isinstance(sent, PingRequest) and outcome is Outcome.REFUSED:
            outcome = Outcome.ALLOWED  # nothing listens for ICMP: the kernel answers
        served = self._random.choice(sorted(result.served_by)) if result.served_by else None
        destination = self._destination(world, deployment, target, address, context, served)
        end = self._flow_end(destination, target, address)
        # only a lookup Cilium's DNS proxy saw puts the name in its FQDN cache, so only then
        # does Hubble give the flow ``destination_names``
        proxied = bool(hostname) and (
            world.mesh.lookup(deployment, context, source, hostname or "") == LOOKUP_PROXIED
        )
        names = (hostname,) if hostname and proxied else ()
        if outcome is Outcome.DROPPED or end is not None:
            lost = self._datapath(
                request, sent, outcome, result.explanation, destination, end, names
            )
            if lost is not None:
                return lost
        if isinstance(target, ApiServerTarget) and isinstance(sent, CurlRequest):
            return _apiserver_output(sent, outcome, result.detail, self._kubernetes[context])
        return _output(sent, destination, outcome, result.detail)

    def _dig(
        self,
        request: ExecRequest,
        sent: DigRequest,
        world: _World,
        deployment: Deployment | None,
        source: str | None,
    ) -> tuple[CurlOutput, float]:
        """A DNS query to the source cluster's kube-dns: answered, refused by Cilium's DNS
        proxy, or dropped (recorded on the node that dropped it, UDP 53 to a kube-dns pod)."""
        context = self._contexts[request.cluster]
        if deployment is None or source is None:
            return _failed(sent, "the client is no pod of a deployment"), 0.0
        probe = Probe(context, source, DnsTarget(sent.name), 53, "UDP")
        try:
            result = world.mesh.predict(deployment, probe)
        except ClusterMeshError as exc:
            return _failed(sent, str(exc)), 0.0
        if result.outcome is Outcome.DROPPED:
            dns = next(
                (
                    (ctx, pod)
                    for ctx, pod in world.pod_ips.values()
                    if ctx == context
                    and pod["metadata"].get("namespace") == "kube-system"
                    and (pod["metadata"].get("labels") or {}).get("k8s-app") == "kube-dns"
                ),
                None,
            )
            end = self._end(*dns) if dns else None
            # the model explains the query's decision as the lookup's ("lookup of NAME: ...")
            prefix = f"lookup of {sent.name}: "
            explanation = tuple(line.removeprefix(prefix) for line in result.explanation)
            direction = dropping_direction(explanation)
            if direction == "egress":
                self._record(request, sent, end, "EGRESS", explanation, None)
            elif direction == "ingress" and dns is not None:
                self._record(request, sent, end, "INGRESS", explanation, None, dns[0])
            return _dropped(sent), _wait(sent)
        return _dig_output(sent, result.outcome, sent.name in self.externals, result.detail), 0.0

    def _flow_end(
        self, destination: tuple[str, Obj] | None, target: Target, address: str
    ) -> FlowEnd | None:
        """How Hubble describes where the probe's packets go: a pod, or the world."""
        if destination is not None:
            return self._end(destination[0], destination[1])
        if isinstance(target, ExternalTarget):
            return world_end(address)
        if isinstance(target, ApiServerTarget):
            return apiserver_end(address)
        return None

    def _destination(
        self,
        world: _World,
        deployment: Deployment,
        target: Target,
        host: str,
        context: str,
        served: str | None,
    ) -> tuple[str, Obj] | None:
        """The pod a probe's packets go to: the target pod, or the backend of a Service the
        load balancer picks (in the cluster that served, else preferring the local one); none
        for an external target."""
        if isinstance(target, PodTarget):
            return world.pod_ips.get(host)
        if not isinstance(target, ServiceTarget):
            return None
        try:
            owner = deployment.service_owner(target.name).name
        except KeyError:
            return None
        backends = sorted(
            (
                (ctx, pod)
                for ctx, pod in world.pod_ips.values()
                if (pod["metadata"].get("labels") or {}).get(WORKLOAD_LABEL) == owner
                and _owner(pod) == deployment.key
            ),
            key=lambda item: (item[0], str(item[1]["metadata"]["name"])),
        )
        if served is not None:
            backends = [b for b in backends if b[0] == served]
        elif any(ctx == context for ctx, _ in backends):
            backends = [b for b in backends if b[0] == context]
        return self._random.choice(backends) if backends else None

    def _datapath(
        self,
        request: ExecRequest,
        sent: ProbeRequest,
        outcome: Outcome,
        explanation: tuple[str, ...],
        destination: tuple[str, Obj] | None,
        end: FlowEnd | None,
        names: tuple[str, ...] = (),
    ) -> tuple[CurlOutput, float] | None:
        """Where the packets of a probe are lost, recorded in Hubble as Cilium would: by the
        source's egress policy, a partition (no record), a non-policy drop, or the
        destination's ingress policy. ``None``: they arrive."""
        faults = self._mesh_faults
        source_cluster = request.cluster
        by_context = {ctx: name for name, ctx in self._contexts.items()}
        target_cluster = by_context[destination[0]] if destination else None
        direction = dropping_direction(explanation) if outcome is Outcome.DROPPED else None
        lost = _dropped(sent), _wait(sent)
        if direction == "egress":
            self._record(request, sent, end, "EGRESS", explanation, None, names=names)
            return lost
        if target_cluster is not None and faults.partitioned(source_cluster, target_cluster):
            return lost
        reason = faults.drop_reason(source_cluster, target_cluster) if target_cluster else None
        if reason is not None:
            self._record(request, sent, end, "EGRESS", (), reason)
            return lost
        if direction == "ingress" and destination is not None:
            self._record(request, sent, end, "INGRESS", explanation, None, destination[0])
            return lost
        return lost if outcome is Outcome.DROPPED else None

    def _record(
        self,
        request: ExecRequest,
        sent: ProbeRequest,
        target: FlowEnd | None,
        direction: str,
        explanation: tuple[str, ...],
        reason: str | None,
        target_context: str | None = None,
        names: tuple[str, ...] = (),
    ) -> None:
        if target is None:
            return
        source_ctx = self._contexts[request.cluster]
        source = self._end(source_ctx, request.pod_object)
        policies = denied_by(explanation, direction.lower())
        if reason is None:
            reason = "POLICY_DENY" if policies else "POLICY_DENIED"
        drop = Drop(source, target, sent.port, direction, reason, policies, _protocol(sent), names)
        where = source_ctx if direction == "EGRESS" else target_context or source_ctx
        name = next(n for n, ctx in self._contexts.items() if ctx == where)
        self.agents.record(name, drop, self._facts[where].cilium_version)

    def _end(self, context: str, pod: Obj) -> FlowEnd:
        cluster_name = self._facts[context].cluster_name
        meta = pod["metadata"]
        return FlowEnd(
            str((pod.get("status") or {}).get("podIP", "")),
            str(meta.get("namespace", "")),
            str(meta["name"]),
            pod_labels(pod, cluster_name),
            cluster_name,
            str(pod["spec"].get("nodeName", "")),
        )

    def _target(
        self, world: _World, context: str, address: str, hostname: str | None = None
    ) -> Target | None:
        service = world.services.get((context, address))
        if service is not None:
            return ServiceTarget(service["metadata"]["name"])
        if self._apiservers.get(context) == address:
            # before the pods: host-network pods (the agents) share the node's address
            return ApiServerTarget()
        found = world.pod_ips.get(address)
        if found is not None:
            where, pod = found
            workload = (pod["metadata"].get("labels") or {}).get(WORKLOAD_LABEL)
            return PodTarget(where, workload) if workload else None
        if self._is_internal(address):
            return None
        return ExternalTarget(hostname or address, address, hostname)

    def _is_internal(self, address: str) -> bool:
        ip = ipaddress.ip_address(address)
        return ip.is_loopback or any(ip in network for network in self._internal)


def _protocol(sent: ProbeRequest) -> ProbeProtocol:
    if isinstance(sent, ConnectRequest):
        return sent.protocol
    if isinstance(sent, DigRequest):
        return "UDP"
    return "ICMP" if isinstance(sent, PingRequest) else "TCP"


def _wait(sent: ProbeRequest) -> float:
    """How long a probe whose packets are lost takes."""
    if isinstance(sent, CurlRequest):
        return sent.connect_timeout
    if isinstance(sent, PingRequest | DigRequest):
        return float(sent.wait)
    return sent.timeout


def _dig_header(sent: DigRequest) -> str:
    return (
        f"\n; <<>> DiG 9.18.27 <<>> +time={sent.wait} +tries=1 {sent.name}\n"
        ";; global options: +cmd\n"
    )


def _dig_output(sent: DigRequest, outcome: Outcome, known: bool, detail: str) -> CurlOutput:
    """dig's output (BIND 9): a response whatever its status exits 0, the status in the
    header line; ``REFUSED`` is how Cilium's DNS proxy answers a query its rules deny."""
    if outcome is Outcome.ALLOWED or outcome is Outcome.L7_DENIED:
        status = "REFUSED" if outcome is Outcome.L7_DENIED else "NOERROR" if known else "NXDOMAIN"
        answers = 1 if status == "NOERROR" else 0
        stdout = (
            f"{_dig_header(sent)};; Got answer:\n"
            f";; ->>HEADER<<- opcode: QUERY, status: {status}, id: 4242\n"
            f";; flags: qr rd ra; QUERY: 1, ANSWER: {answers}, AUTHORITY: 0, ADDITIONAL: 1\n\n"
            f";; QUESTION SECTION:\n;{sent.name}.\t\t\tIN\tA\n\n"
            f";; SERVER: {KUBE_DNS_ADDRESS}#53({KUBE_DNS_ADDRESS}) (UDP)\n"
        )
        return CurlOutput(0, stdout)
    return _failed(sent, detail)


def _output(
    sent: ProbeRequest, destination: tuple[str, Obj] | None, outcome: Outcome, detail: str
) -> tuple[CurlOutput, float]:
    """What the probe's tool prints for an outcome whose packets were not lost."""
    if outcome is Outcome.DROPPED:
        return _dropped(sent), _wait(sent)
    if isinstance(sent, ConnectRequest):
        return _connect_output(sent, outcome, detail, destination is None), 0.0
    if isinstance(sent, PingRequest):
        return _ping_output(sent, outcome, detail), 0.0
    if isinstance(sent, DigRequest):
        return _dig_output(sent, outcome, False, detail), 0.0
    return _curl_output(destination, outcome, sent, detail)


def _curl_output(
    destination: tuple[str, Obj] | None,
    outcome: Outcome,
    curl: CurlRequest,
    detail: str,
) -> tuple[CurlOutput, float]:
    if outcome is Outcome.ALLOWED:
        if destination is None:
            return CurlOutput(0, curl_stdout("hello-world", 200)), 0.0
        return CurlOutput(0, curl_stdout(_echo(destination[1], curl), 200)), 0.0
    if outcome is Outcome.L7_DENIED:
        return CurlOutput(0, curl_stdout(CILIUM_ACCESS_DENIED, 403)), 0.0
    if outcome is Outcome.REFUSED:
        return _refused(curl, "Couldn't connect to server"), 0.0
    if outcome is Outcome.DNS_FAILURE:
        return CurlOutput(6, curl_stdout("", 0), f"curl: (6) {detail}"), 0.0
    return CurlOutput(56, curl_stdout("", 0), f"curl: (56) {detail}"), 0.0


def _apiserver_output(
    curl: CurlRequest, outcome: Outcome, detail: str, kubernetes_version: str
) -> tuple[CurlOutput, float]:
    """What kube-apiserver answers a curl whose packets arrived. It serves TLS on
    :data:`.seed.APISERVER_PORT` only (nothing else listens on the node's other ports): Go's
    ``net/http`` answers a plain-HTTP request there with 400 ``Client sent an HTTP request to
    an HTTPS server.``, and curl without ``--insecure`` rejects its certificate (exit 60). An
    anonymous ``GET /version`` is allowed by the default ``system:public-info-viewer``
    ClusterRole and answered with ``version.Info`` (apimachinery ``pkg/version/types.go``);
    any other path is a 403 ``Status`` (apiserver ``pkg/endpoints/handlers/responsewriters/
    errors.go``, ``forbiddenMessage``)."""
    if outcome is not Outcome.ALLOWED:
        return _curl_output(None, outcome, curl, detail)
    if curl.port != APISERVER_PORT:
        return _refused(curl, "Connection refused"), 0.0
    if not curl.url.startswith("https://"):
        return CurlOutput(
            0, curl_stdout("Client sent an HTTP request to an HTTPS server.", 400)
        ), 0.0
    if not curl.insecure:
        said = (
            "curl: (60) SSL certificate problem: unable to get local issuer certificate\n"
            "More details here: https://curl.se/docs/sslcerts.html"
        )
        return CurlOutput(60, curl_stdout("", 0, time_connect=ANSWER_TIME_CONNECT), said), 0.0
    if curl.path == "/version" and curl.method == "GET":
        major, minor, *_ = kubernetes_version.split(".")
        info = {
            "major": major,
            "minor": minor,
            "gitVersion": f"v{kubernetes_version}",
            "gitTreeState": "clean",
            "goVersion": "go1.23.6",
            "compiler": "gc",
            "platform": "linux/amd64",
        }
        return CurlOutput(0, curl_stdout(json.dumps(info, indent=2), 200)), 0.0
    verb = "get" if curl.method == "GET" else curl.method.lower()
    status = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f'forbidden: User "system:anonymous" cannot {verb} path "{curl.path}"',
        "reason": "Forbidden",
        "details": {},
        "code": 403,
    }
    return CurlOutput(0, curl_stdout(json.dumps(status, indent=2), 403)), 0.0


def _connect_output(
    sent: ConnectRequest, outcome: Outcome, detail: str, no_backend: bool = False
) -> CurlOutput:
    """``agnhost connect``'s exit and stderr (connect.go: ``connectUDP``, ``connectSCTP``).
    A Service without a backend fails ``connect()`` itself: Cilium's socket load balancer
    answers EHOSTUNREACH (docs/cilium-semantics.md Q5), which agnhost reports as ``OTHER``."""
    if outcome is Outcome.ALLOWED:
        return CurlOutput(0)
    udp = sent.protocol == "UDP"
    if outcome is Outcome.REFUSED and no_backend:
        dial = f"dial udp {_join(sent.host, sent.port)}: " if udp else ""
        return CurlOutput(1, "", f"OTHER: {dial}connect: no route to host")
    if outcome is Outcome.REFUSED:
        said = (
            f"REFUSED: read udp {_ephemeral()}->{_join(sent.host, sent.port)}: "
            "read: connection refused"
            if udp
            else "OTHER: connection refused"
        )
        return CurlOutput(1, "", said)
    if outcome is Outcome.DNS_FAILURE:
        return CurlOutput(1, "", f"DNS: {detail}")
    return CurlOutput(1, "", f"OTHER: {detail}")


def _ping_output(sent: PingRequest, outcome: Outcome, detail: str) -> CurlOutput:
    """busybox ping's output (``networking/ping.c``): a reply, or an error on stderr."""
    if outcome is Outcome.ALLOWED:
        host = sent.host
        stdout = (
            f"PING {host} ({host}): 56 data bytes\n"
            f"64 bytes from {host}: seq=0 ttl=63 time=0.412 ms\n\n"
            f"--- {host} ping statistics ---\n"
            "1 packets transmitted, 1 packets received, 0% packet loss\n"
            "round-trip min/avg/max = 0.412/0.412/0.412 ms\n"
        )
        return CurlOutput(0, stdout)
    if outcome is Outcome.DNS_FAILURE:
        return CurlOutput(1, "", f"ping: bad address '{sent.host}'")
    return CurlOutput(1, "", f"ping: sendto: {detail}")


def _echo(pod: Obj, curl: CurlRequest) -> str:
    """What the pod's http-echo on ``curl.port`` answers."""
    for container in pod["spec"]["containers"]:
        ports = [p.get("containerPort") for p in container.get("ports") or []]
        if curl.port in ports:
            for arg in container.get("args") or []:
                if arg.startswith("-text="):
                    return str(arg[6:]).replace(f"$({POD_NAME_ENV})", pod["metadata"]["name"])
    return "hello-world"


def _is_policy(key: Key, cluster: str) -> bool:
    return key[0] == cluster and key[1] in POLICY_KINDS


def _dropped(sent: ProbeRequest) -> CurlOutput:
    """The tool's output when no answer came back within its timeout."""
    if isinstance(sent, DigRequest):
        stdout = (
            f"{_dig_header(sent)};; communications error to {KUBE_DNS_ADDRESS}#53: timed out\n"
            ";; no servers could be reached\n"
        )
        return CurlOutput(9, stdout)
    if isinstance(sent, ConnectRequest):
        if sent.protocol == "SCTP":
            return CurlOutput(1, "", "TIMEOUT")
        said = f"read udp {_ephemeral()}->{_join(sent.host, sent.port)}: i/o timeout"
        return CurlOutput(1, "", f"TIMEOUT: {said}")
    if isinstance(sent, PingRequest):
        host = sent.host
        stdout = (
            f"PING {host} ({host}): 56 data bytes\n\n--- {host} ping statistics ---\n"
            "1 packets transmitted, 0 packets received, 100% packet loss\n"
        )
        return CurlOutput(1, stdout)
    millis = int(sent.connect_timeout * 1000)
    said = f"curl: (28) Connection timed out after {millis} milliseconds"
    return CurlOutput(28, curl_stdout("", 0, time_connect=0.0), said)


def _unreachable(sent: ProbeRequest) -> CurlOutput:
    if isinstance(sent, DigRequest):
        return _failed(sent, "network unreachable")
    if isinstance(sent, ConnectRequest):
        return CurlOutput(1, "", "OTHER: connect: no route to host")
    if isinstance(sent, PingRequest):
        return CurlOutput(1, "", "ping: sendto: Host is unreachable")
    return _refused(sent, "No route to host")


def _unresolved(sent: ProbeRequest) -> CurlOutput:
    """The tool's output for a name the cluster DNS does not know."""
    if isinstance(sent, DigRequest):
        return _dig_output(sent, Outcome.ALLOWED, False, "")
    said = f"lookup {sent.host} on 10.96.0.10:53: no such host"
    if isinstance(sent, ConnectRequest):
        return CurlOutput(1, "", f"DNS: {said}")
    if isinstance(sent, PingRequest):
        return CurlOutput(1, "", f"ping: bad address '{sent.host}'")
    return CurlOutput(6, curl_stdout("", 0), f"curl: (6) Could not resolve host: {sent.host}")


def _failed(sent: ProbeRequest, why: str) -> CurlOutput:
    """The tool's output when the model cannot answer the probe."""
    if isinstance(sent, DigRequest):
        return CurlOutput(10, _dig_header(sent), f"dig: {why}")
    if isinstance(sent, ConnectRequest):
        return CurlOutput(1, "", f"OTHER: {why}")
    if isinstance(sent, PingRequest):
        return CurlOutput(1, "", f"ping: sendto: {why}")
    return CurlOutput(56, curl_stdout("", 0), f"curl: (56) {why}")


def _misused(program: str, error: ValueError) -> CurlOutput:
    """The tool's output for arguments it does not take."""
    if program == AGNHOST:
        return CurlOutput(1, "", f"Error: {error}")
    if program == "ping":
        return CurlOutput(1, "", f"ping: {error}")
    if program == "dig":
        return CurlOutput(1, "", f"dig: {error}")
    return CurlOutput(2, "", f"curl: {error}")


def _ephemeral() -> str:
    return "0.0.0.0:41234"


def _join(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _http_request(curl: CurlRequest) -> HttpRequest:
    """The probe's HTTP request back from its curl: method, path, Host and other headers."""
    host = next((value for name, value in curl.headers if name.lower() == "host"), None)
    others = tuple((name, value) for name, value in curl.headers if name.lower() != "host")
    return HttpRequest(curl.method, curl.path, host, others)


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
            PortSpec(int(p["containerPort"]), p.get("protocol", "TCP"), p.get("name"))
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
                    service["metadata"]["name"],
                    dict(service["metadata"].get("annotations") or {}),
                    _annotations_per_cluster(by_kind, key, service),
                )
                if service
                else None,
            )
        )
    return workloads


def _annotations_per_cluster(
    by_kind: Mapping[str, list[tuple[str, Obj]]], key: str, service: Obj
) -> dict[str, dict[str, str]]:
    """The annotations of ``service``'s namesakes of deployment ``key``, per cluster: a
    Service may carry different annotations in each cluster."""
    meta = service["metadata"]
    return {
        ctx: dict(svc["metadata"].get("annotations") or {})
        for ctx, svc in by_kind.get("Service", [])
        if _owner(svc) == key
        and (svc["metadata"]["namespace"], svc["metadata"]["name"])
        == (meta["namespace"], meta["name"])
    }


def _is_pod_of(pod: Obj, key: str, workload: str) -> bool:
    labels = pod["metadata"].get("labels") or {}
    return labels.get(OWNER_LABEL) == key and labels.get(WORKLOAD_LABEL) == workload


def _policies(world: _World, by_kind: Mapping[str, list[tuple[str, Obj]]]) -> None:
    docs: dict[tuple[str, str], list[PolicyDoc]] = {}
    for kind in sorted(POLICY_KINDS):
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
