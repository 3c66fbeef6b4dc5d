"""The Cilium agents of the emulated clusters: what an exec into a ``cilium`` pod answers.

Every cluster runs the DaemonSet ``kube-system/cilium`` (container ``cilium-agent``), one pod per
node (:mod:`.seed`). :class:`Agents` answers the commands a test run sends into those pods, in
the formats of Cilium's own source, so a backend that parses them parses the real thing:

- ``cilium-dbg status -o json`` prints a ``models.StatusResponse`` (cilium
  ``api/v1/models/status_response.go``): ``cluster-mesh.clusters[]`` is one
  ``models.RemoteCluster`` per remote cluster (``api/v1/models/remote_cluster.go``: ``name``,
  ``ready``, ``connected``, ``status``, ``num-nodes``..., ``synced`` as
  ``remote_cluster_synced.go``, ``config.{required,retrieved}``), and ``hubble`` a
  ``models.HubbleStatus`` (``hubble_status.go``: ``state`` one of Ok, Warning, Failure,
  Disabled). cilium-cli's ``cilium clustermesh status`` reads these same fields
  (``cilium-cli/clustermesh/clustermesh.go``, ``remoteClusterStatusToError``).
- ``cilium-dbg policy get -o json`` prints a ``models.Policy`` (``api/v1/models/policy.go``:
  ``policy``, ``revision``); ``-o jsonpath={.revision}`` only the revision, as cilium-cli reads it
  (``cilium-cli/connectivity/check/policy.go``, ``getCiliumPolicyRevision``). The revision goes
  up by one for every policy object added, deleted or changed in its spec or labels.
- ``cilium-dbg policy wait <revision> --max-wait-time <s>`` returns once the node's endpoints
  realised the revision, or fails after the wait time with the message of
  ``cilium-dbg/cmd/policy_wait.go`` ("%d endpoints still not ready after %s (%d failed)").
- ``hubble observe -o json`` prints, one per line, an ``observer.GetFlowsResponse`` (``flow``,
  ``node_name``, ``time``; ``-o json`` is ``jsonpb`` unless the legacy compat option is set,
  ``hubble/cmd/observe/flows.go``), its flow a ``flow.Flow`` with the proto field names of
  ``api/v1/flow/flow.proto`` (``verdict``, ``drop_reason_desc``, ``IP``, ``l4`` with the
  ``Layer4`` oneof member of the probe's protocol: ``TCP``, ``UDP``, ``SCTP`` with ports,
  ``ICMPv4`` with ``type``/``code``; ``destination_names``, ``traffic_direction``,
  ``event_type``, ``ingress_denied_by``/``egress_denied_by``...). The
  CLI in the agent image talks to the node's own Hubble socket (``images/cilium/Dockerfile``:
  ``HUBBLE_SERVER=unix:///var/run/cilium/hubble.sock``), so it sees that node's flows only.

The binary is ``cilium-dbg`` from Cilium 1.15 (cilium#28085), which also installs ``cilium`` as a
link to it (``cilium-dbg/Makefile``, ``TARGET_OLD``); older images have ``cilium`` only.

Flows come from :class:`~.mesh.MirroredMesh`, which records a drop where the model (or a
:class:`~.meshfaults.MeshFaults` fault) drops a probe. Faults change what the agents say.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from packaging.version import Version

from .exec import ExecRequest, ExecResult, default_exec_handler
from .meshfaults import NON_POLICY_DROP_REASONS, POLICY_DROP_REASONS, MeshFaults

if TYPE_CHECKING:
    from .emulator import Emulator

Obj = dict[str, Any]

NAMESPACE = "kube-system"
AGENT_LABEL = ("k8s-app", "cilium")
AGENT_CONTAINER = "cilium-agent"
HUBBLE_SOCKET = "unix:///var/run/cilium/hubble.sock"
FLOW_CAPACITY = 4095
"""Flows an agent's Hubble keeps (Helm ``hubble.eventBufferCapacity``, default 4095)."""
MESSAGE_TYPE_DROP = 1
MESSAGE_TYPE_POLICY_VERDICT = 5
"""``pkg/monitor/api/types.go``: ``MessageTypeDrop``, ``MessageTypePolicyVerdict``."""
WORLD_IDENTITY = 2
"""The reserved identity of everything outside the cluster (``reserved:world``; cilium
``pkg/identity/numericidentity.go``, ``ReservedIdentityWorld``)."""
WORLD_LABEL = "reserved:world"
KUBE_APISERVER_IDENTITY = 7
"""The reserved identity of the API server's addresses (``reserved:kube-apiserver``; cilium
``pkg/identity/numericidentity.go``, ``ReservedIdentityKubeAPIServer``)."""
KUBE_APISERVER_LABEL = "reserved:kube-apiserver"
ICMP_ECHO_REQUEST = 8
"""ICMPv4 echo request (RFC 792)."""
KIND_NAMES = {
    "CNP": "CiliumNetworkPolicy",
    "CCNP": "CiliumClusterwideNetworkPolicy",
    "KNP": "NetworkPolicy",
}


def is_agent(request: ExecRequest) -> bool:
    labels = request.pod_object["metadata"].get("labels") or {}
    return request.namespace == NAMESPACE and labels.get(AGENT_LABEL[0]) == AGENT_LABEL[1]


def timestamp(moment: float) -> str:
    """A protobuf Timestamp in JSON (RFC 3339, nanoseconds, UTC)."""
    when = datetime.fromtimestamp(moment, UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond * 1000:09d}Z"


@dataclass(frozen=True)
class FlowEnd:
    """One end of a flow, as Hubble describes an endpoint (``flow.Endpoint``)."""

    ip: str
    namespace: str
    pod: str
    labels: tuple[str, ...]
    cluster_name: str
    node: str

    @property
    def identity(self) -> int:
        """A stable security identity number for the labels (Cilium allocates them); the
        world's is reserved."""
        if WORLD_LABEL in self.labels:
            return WORLD_IDENTITY
        if KUBE_APISERVER_LABEL in self.labels:
            return KUBE_APISERVER_IDENTITY
        return 10000 + sum(ord(c) for c in "".join(sorted(self.labels))) % 50000


def world_end(address: str) -> FlowEnd:
    """An address outside the mesh, as Hubble describes it: no pod, the world's identity."""
    return FlowEnd(address, "", "", (WORLD_LABEL,), "", "")


def apiserver_end(address: str) -> FlowEnd:
    """The API server's address as Hubble describes it: no pod, the kube-apiserver identity."""
    return FlowEnd(address, "", "", (KUBE_APISERVER_LABEL,), "", "")


@dataclass(frozen=True)
class Drop:
    """A dropped first packet of a probe (a SYN, a datagram, an SCTP INIT, an echo request),
    as a test emulates it."""

    source: FlowEnd
    destination: FlowEnd
    port: int
    direction: str
    """``EGRESS`` (dropped at the source's node) or ``INGRESS`` (at the destination's)."""
    reason: str
    """A ``DropReason`` name."""
    denied_by: tuple[tuple[str, str, str], ...] = ()
    """``(kind, namespace, name)`` of the deny policies that matched (for ``POLICY_DENY``)."""
    protocol: str = "TCP"
    """``TCP``, ``UDP``, ``SCTP`` or ``ICMP`` (IPv4: the emulated clusters are IPv4)."""
    destination_names: tuple[str, ...] = ()
    """The name the source resolved to reach the destination, which Cilium's FQDN cache
    gives the destination IP."""


@dataclass
class _Agent:
    """What one cluster's agents share: the policy repository's revisions."""

    revision: int = 1
    changes: list[tuple[float, int]] = field(default_factory=list)
    """``(time.monotonic(), revision)`` of every change, oldest first."""
    specs: dict[tuple[str, str, str], str] = field(default_factory=dict)
    flows: dict[str, deque[Obj]] = field(default_factory=dict)
    """Node -> its Hubble ring buffer (``GetFlowsResponse`` objects)."""

    def realised(self, now: float, delay: float) -> int:
        """The revision the agents enforce at ``now`` when they realise changes ``delay`` late."""
        realised = self.changes[0][1] - 1 if self.changes else self.revision
        for moment, revision in self.changes:
            if moment + delay <= now:
                realised = revision
        return realised


class Agents:
    """The agents of every cluster of an :class:`~.Emulator`."""

    def __init__(self, emulator: Emulator, faults: Callable[[], MeshFaults]) -> None:
        self._emulator = emulator
        self._faults = faults
        self._lock = threading.Lock()
        self._agents = {cluster.name: _Agent() for cluster in emulator}
        self._random = random.Random(11)
        self.calls: deque[tuple[str, list[str]]] = deque(maxlen=100_000)
        """``(cluster, argv)`` of the agent execs answered (the latest 100,000)."""

    # -- what the mirrored mesh tells the agents ----------------------------------------------

    def policy_event(self, cluster: str, event: str, obj: Obj, *, at: float | None = None) -> None:
        """A policy object changed in ``cluster``: bump the revision if Cilium would.

        An update that leaves the spec and labels as they were does not change the repository
        (Cilium skips such updates), so it is no revision."""
        meta = obj["metadata"]
        key = (str(obj.get("kind")), meta.get("namespace") or "", meta["name"])
        content = json.dumps(
            {"labels": meta.get("labels"), "spec": obj.get("spec"), "specs": obj.get("specs")},
            sort_keys=True,
        )
        with self._lock:
            agent = self._agents[cluster]
            if event == "DELETED":
                if agent.specs.pop(key, None) is None:
                    return
            elif agent.specs.get(key) == content:
                return
            else:
                agent.specs[key] = content
            agent.revision += 1
            agent.changes.append((time.monotonic() if at is None else at, agent.revision))

    def revision(self, cluster: str) -> int:
        with self._lock:
            return self._agents[cluster].revision

    def realised(self, cluster: str) -> int:
        with self._lock:
            return self._agents[cluster].realised(time.monotonic(), self._faults().delay(cluster))

    def record(self, cluster: str, drop: Drop, version: Version) -> None:
        """Put a drop into the Hubble of the node that dropped it (nothing if Hubble is off)."""
        if cluster in self._faults().hubble_disabled:
            return
        end = drop.source if drop.direction == "EGRESS" else drop.destination
        with self._lock:
            ring = self._agents[cluster].flows.setdefault(end.node, deque(maxlen=FLOW_CAPACITY))
            ring.extend(drop_flows(drop, time.time(), self._random.randint(32768, 60999), version))

    def flows(self, cluster: str, node: str) -> list[Obj]:
        with self._lock:
            return list(self._agents[cluster].flows.get(node, ()))

    # -- answering execs ----------------------------------------------------------------------

    async def handle(self, request: ExecRequest) -> ExecResult:
        argv = list(request.command)
        self.calls.append((request.cluster, argv))
        program = argv[0] if argv else ""
        version = _version(self._emulator[request.cluster].config.cilium_version)
        if program == "cilium" or (program == "cilium-dbg" and version >= Version("1.15")):
            return await self._cilium(request, program, argv[1:])
        if program == "hubble":
            return self._hubble(request, argv[1:])
        return await default_exec_handler(request)

    async def _cilium(self, request: ExecRequest, program: str, args: list[str]) -> ExecResult:
        if args[:1] == ["status"]:
            return self._status(request, args[1:])
        if args[:2] == ["policy", "get"]:
            return self._policy_get(request.cluster, args[2:])
        if args[:2] == ["policy", "wait"]:
            return await self._policy_wait(request, args[2:])
        said = args[0] if args else ""
        return ExecResult("", f'Error: unknown command "{said}" for "{program}"\n', 1)

    def _status(self, request: ExecRequest, args: list[str]) -> ExecResult:
        if _output(args) != "json":
            return ExecResult("", "Error: only -o json is emulated\n", 1)
        body = status_response(self._emulator, request.cluster, self._faults(), self._flow_count)
        return ExecResult(json.dumps(body, indent=2) + "\n")

    def _flow_count(self, cluster: str) -> int:
        with self._lock:
            return sum(len(ring) for ring in self._agents[cluster].flows.values())

    def _policy_get(self, cluster: str, args: list[str]) -> ExecResult:
        revision = self.revision(cluster)
        output = _output(args)
        if output is None:
            return ExecResult(f"[]\nRevision: {revision}\n")
        if output == "json":
            body = {"policy": "[]", "revision": revision}
            return ExecResult(json.dumps(body, indent=2) + "\n")
        if output.startswith("jsonpath="):
            template = output.removeprefix("jsonpath=")
            return ExecResult(template.replace("{.revision}", str(revision)))
        return ExecResult("", f"Error: unknown output format {output!r}\n", 1)

    async def _policy_wait(self, request: ExecRequest, args: list[str]) -> ExecResult:
        try:
            wanted = int(args[0])
            max_wait = float(_flag(args, "--max-wait-time") or 360)
        except (IndexError, ValueError):
            return ExecResult("", "Error: invalid revision\n", 1)
        started = time.monotonic()
        endpoints = self._endpoints(request)
        waited = False
        printed = ""
        while self.realised(request.cluster) < wanted:
            if time.monotonic() - started > max_wait:
                took = f"{time.monotonic() - started:.1f}s"
                message = f"\n{endpoints} endpoints still not ready after {took} (0 failed)"
                return ExecResult(printed, f"Error: {message}\n", 1)
            printed += (
                f"\rWaiting for endpoints to run policy revision {wanted}: 0/{endpoints}"
                "              "
            )
            waited = True
            await asyncio.sleep(0.05)
        return ExecResult(printed + ("\n" if waited else ""))

    def _endpoints(self, request: ExecRequest) -> int:
        node = request.pod_object["spec"].get("nodeName")
        pods = self._emulator[request.cluster].list_objects("pods")
        return sum(
            1
            for pod in pods
            if pod["spec"].get("nodeName") == node and not pod["spec"].get("hostNetwork")
        )

    def _hubble(self, request: ExecRequest, args: list[str]) -> ExecResult:
        if args[:1] != ["observe"]:
            said = args[0] if args else ""
            return ExecResult("", f'Error: unknown command "{said}" for "hubble"\n', 1)
        if request.cluster in self._faults().hubble_disabled:
            error = (
                f"failed to connect to '{HUBBLE_SOCKET}': connection error: desc = \"transport: "
                "error while dialing: dial unix /var/run/cilium/hubble.sock: connect: no such "
                'file or directory"\n'
            )
            return ExecResult("", error, 1)
        try:
            query = FlowQuery.parse(args[1:])
        except ValueError as exc:
            return ExecResult("", f"Error: {exc}\n", 1)
        node = str(request.pod_object["spec"].get("nodeName"))
        lines = [json.dumps(f) for f in query.select(self.flows(request.cluster, node))]
        return ExecResult("".join(line + "\n" for line in lines))


# -- hubble observe's filters --------------------------------------------------------------------


@dataclass(frozen=True)
class FlowQuery:
    """The ``hubble observe`` flags the emulator understands."""

    output: str = "compact"
    since: datetime | None = None
    verdicts: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    last: int | None = None

    @classmethod
    def parse(cls, args: Sequence[str]) -> FlowQuery:
        values: dict[str, list[str]] = {}
        items = iter(args)
        for arg in items:
            flag, equals, value = arg.partition("=")
            if flag not in ("-o", "--output", "--since", "--verdict", "--namespace", "--last"):
                raise ValueError(f"unknown flag: {flag}")
            values.setdefault(flag, []).append(value if equals else next(items, ""))
        output = (values.get("-o") or values.get("--output") or ["compact"])[-1]
        if output not in ("json", "jsonpb"):
            raise ValueError(f"the emulator answers -o json only, not {output!r}")
        since = values.get("--since")
        last = values.get("--last")
        return cls(
            output,
            _parse_since(since[-1]) if since else None,
            tuple(values.get("--verdict", [])),
            tuple(values.get("--namespace", [])),
            int(last[-1]) if last else None,
        )

    def select(self, flows: Iterable[Obj]) -> list[Obj]:
        chosen = [response for response in flows if self._matches(response["flow"])]
        return chosen[-self.last :] if self.last else chosen

    def _matches(self, flow: Obj) -> bool:
        if self.since is not None and _parse_time(flow["time"]) < self.since:
            return False
        if self.verdicts and flow.get("verdict") not in self.verdicts:
            return False
        if self.namespaces:
            ends = (flow.get("source") or {}, flow.get("destination") or {})
            if not any(end.get("namespace") in self.namespaces for end in ends):
                return False
        return True


def _parse_since(text: str) -> datetime:
    units = {"s": 1, "m": 60, "h": 3600}
    if text and text[-1] in units and text[:-1].replace(".", "", 1).isdigit():
        return datetime.now(UTC) - timedelta(seconds=float(text[:-1]) * units[text[-1]])
    try:
        return _parse_time(text)
    except ValueError:
        raise ValueError(f'invalid --since value "{text}"') from None


def _parse_time(text: str) -> datetime:
    """RFC 3339 with up to nanoseconds (Python keeps microseconds)."""
    head, dot, rest = text.rstrip("Z").partition(".")
    moment = datetime.fromisoformat(head).replace(tzinfo=UTC)
    if dot:
        digits = "".join(c for c in rest if c.isdigit())[:6].ljust(6, "0")
        moment = moment.replace(microsecond=int(digits))
    return moment


def _output(args: Sequence[str]) -> str | None:
    return _flag(args, "-o") or _flag(args, "--output")


def _flag(args: Sequence[str], name: str) -> str | None:
    for index, arg in enumerate(args):
        if arg == name and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith(name + "="):
            return arg[len(name) + 1 :]
    return None


def _version(text: str) -> Version:
    return Version(text.lstrip("v").split("-", 1)[0])


# -- the JSON documents -------------------------------------------------------------------------


def status_response(
    emulator: Emulator, cluster: str, faults: MeshFaults, flow_count: Callable[[str], int]
) -> Obj:
    """``cilium-dbg status -o json`` of an agent of ``cluster``."""
    own = emulator[cluster]
    config = own.config
    body: Obj = {
        "cilium": {"state": "Ok", "msg": ""},
        "kubernetes": {"state": "Ok", "msg": f"{config.kubernetes_version} [linux/amd64]"},
        "kvstore": {"state": "Disabled", "msg": "Disabled"},
    }
    if config.clustermesh:
        by_name = {other.config.cilium_cluster_name: other for other in emulator}
        remotes = [_remote(by_name[peer], cluster, faults) for peer in own.peers]
        body["cluster-mesh"] = {"clusters": remotes, "num-global-services": 0}
    if cluster in faults.hubble_disabled:
        body["hubble"] = {"state": "Disabled", "msg": "Disabled"}
    else:
        flows = flow_count(cluster)
        body["hubble"] = {
            "state": "Ok",
            "msg": f"Current/Max Flows: {flows}/{FLOW_CAPACITY}",
            "observer": {
                "current-flows": flows,
                "max-flows": FLOW_CAPACITY,
                "seen-flows": flows,
                "uptime": "1h0m0s",
            },
        }
    return body


def _remote(remote: Any, observer: str, faults: MeshFaults) -> Obj:
    config = remote.config
    endpoint = f"https://{config.cilium_cluster_name}.mesh.cilium.io:2379"
    if faults.reports_not_ready(observer, remote.name):
        return {
            "name": config.cilium_cluster_name,
            "connected": False,
            "ready": False,
            "status": f"etcd: 0/1 connected, leases=0, lock leases=0, has-quorum=false: "
            f"{endpoint} - context deadline exceeded",
            "num-failures": 3,
            "last-failure": timestamp(time.time() - 5),
            "config": {"required": True, "retrieved": False},
            "synced": {"nodes": False, "endpoints": False, "identities": False, "services": False},
        }
    return {
        "name": config.cilium_cluster_name,
        "connected": True,
        "ready": True,
        "status": f"etcd: 1/1 connected, leases=0, lock leases=0, has-quorum=true: {endpoint} "
        "- 3.5.17 (Leader)",
        "num-nodes": config.nodes,
        "num-endpoints": len(remote.list_objects("pods")),
        "num-identities": 20,
        "num-shared-services": 1,
        "num-failures": 0,
        "config": {"cluster-id": config.cluster_id, "required": True, "retrieved": True},
        "synced": {"nodes": True, "endpoints": True, "identities": True, "services": True},
    }


def layer4(drop: Drop, source_port: int) -> tuple[Obj, str]:
    """The flow's ``l4`` (flow.proto ``Layer4``, a oneof) and Hubble's summary of it."""
    if drop.protocol == "ICMP":
        # code 0 is left out, as protobuf JSON leaves out zero values
        return {"ICMPv4": {"type": ICMP_ECHO_REQUEST}}, "ICMPv4 EchoRequest"
    ports = {"source_port": source_port, "destination_port": drop.port}
    if drop.protocol in ("UDP", "SCTP"):
        return {drop.protocol: ports}, drop.protocol
    return {"TCP": {**ports, "flags": {"SYN": True}}}, "TCP Flags: SYN"


def drop_flows(drop: Drop, moment: float, source_port: int, version: Version) -> list[Obj]:
    """The ``GetFlowsResponse`` lines Hubble prints for one dropped probe packet: the drop
    event and,
    for a policy drop on a Cilium that correlates verdicts with policies (``*_denied_by``,
    cilium#31544, 1.16), the policy-verdict event naming the deny policies."""
    end = drop.source if drop.direction == "EGRESS" else drop.destination
    node_name = f"{end.cluster_name}/{end.node}"
    code = POLICY_DROP_REASONS.get(drop.reason) or NON_POLICY_DROP_REASONS[drop.reason]
    l4, summary = layer4(drop, source_port)
    flow: Obj = {
        "time": timestamp(moment),
        "uuid": f"{random.getrandbits(64):016x}-emulated",
        "verdict": "DROPPED",
        "drop_reason": code,
        "IP": {"source": drop.source.ip, "destination": drop.destination.ip, "ipVersion": "IPv4"},
        "l4": l4,
        "source": _endpoint(drop.source, version),
        "destination": _endpoint(drop.destination, version),
        "Type": "L3_L4",
        "node_name": node_name,
        "event_type": {"type": MESSAGE_TYPE_DROP, "sub_type": code},
        "traffic_direction": drop.direction,
        "drop_reason_desc": drop.reason,
        "Summary": summary,
    }
    if drop.destination_names:
        flow["destination_names"] = list(drop.destination_names)
    flows = [flow]
    if drop.denied_by and version >= Version("1.16"):
        verdict = dict(flow, event_type={"type": MESSAGE_TYPE_POLICY_VERDICT})
        field_name = "egress_denied_by" if drop.direction == "EGRESS" else "ingress_denied_by"
        verdict[field_name] = [_policy(*entry) for entry in drop.denied_by]
        flows.append(verdict)
    return [{"flow": f, "node_name": node_name, "time": f["time"]} for f in flows]


def _endpoint(end: FlowEnd, version: Version) -> Obj:
    if not end.pod:  # the world: an identity and its label, no pod
        return {"identity": end.identity, "labels": list(end.labels)}
    body: Obj = {
        "identity": end.identity,
        "namespace": end.namespace,
        "labels": list(end.labels),
        "pod_name": end.pod,
    }
    if version >= Version("1.16"):  # cilium#32313
        body["cluster_name"] = end.cluster_name
    return body


def _policy(kind: str, namespace: str, name: str) -> Obj:
    """A ``flow.Policy``; its uint64 ``revision`` is a string in protobuf JSON."""
    labels = [
        f"k8s:io.cilium.k8s.policy.derived-from={kind}",
        f"k8s:io.cilium.k8s.policy.name={name}",
    ]
    if namespace:
        labels.append(f"k8s:io.cilium.k8s.policy.namespace={namespace}")
    return {"name": name, "namespace": namespace, "labels": labels, "revision": "1", "kind": kind}


def pod_labels(pod: Obj, cluster_name: str) -> tuple[str, ...]:
    """A pod's identity labels as Hubble prints them (``k8s:key=value``)."""
    meta = pod["metadata"]
    labels = [f"k8s:{k}={v}" for k, v in sorted((meta.get("labels") or {}).items())]
    labels += [
        f"k8s:io.cilium.k8s.policy.cluster={cluster_name}",
        f"k8s:io.kubernetes.pod.namespace={meta.get('namespace')}",
    ]
    return tuple(labels)


def denied_by(explanation: Sequence[str], direction: str) -> tuple[tuple[str, str, str], ...]:
    """The deny policies the model names for ``direction`` (``egress``/``ingress``)."""
    found = []
    for line in explanation:
        head, sep, rest = line.partition(": denied by ")
        if sep and head.startswith(f"{direction} at "):
            kind, _, name = rest.partition(" ")
            namespace, slash, policy = name.split(" ", 1)[0].rpartition("/")
            found.append((KIND_NAMES.get(kind, kind), namespace if slash else "", policy))
    return tuple(found)


def dropping_direction(explanation: Sequence[str]) -> str | None:
    """``egress`` or ``ingress``: where the model's decision dropped (egress first, as the
    packet meets the source's agent first); ``None`` if neither did."""
    for direction in ("egress", "ingress"):
        lines = [line for line in explanation if line.startswith(f"{direction} at ")]
        audited = any(line.endswith("policy-audit-mode lets it through") for line in lines)
        dropped = any(": denied by " in line or "no rule allows" in line for line in lines)
        if dropped and not audited:
            return direction
    return None


__all__ = [
    "AGENT_CONTAINER",
    "Agents",
    "Drop",
    "FlowEnd",
    "FlowQuery",
    "denied_by",
    "drop_flows",
    "dropping_direction",
    "is_agent",
    "layer4",
    "pod_labels",
    "status_response",
    "world_end",
]
