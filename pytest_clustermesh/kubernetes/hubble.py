"""Reading Hubble's record of dropped packets: the command, its JSON, and what a drop proves.

``hubble observe -o json`` prints one ``observer.GetFlowsResponse`` per line (``-o json`` is
``jsonpb`` unless hubble's legacy compat option is set; cilium ``hubble/cmd/observe/flows.go``),
its ``flow`` a ``flow.Flow`` in protobuf JSON with the proto field names of cilium
``api/v1/flow/flow.proto``: ``time``, ``verdict`` (FORWARDED, DROPPED...), ``drop_reason_desc``
(enum ``DropReason``), ``IP.{source,destination}``, ``l4`` (a oneof: ``TCP``, ``UDP``, ``SCTP``
with ``destination_port``, ``ICMPv4``/``ICMPv6`` with ``type`` and ``code``),
``destination_names`` (the DNS names Cilium's FQDN cache holds for the destination IP),
``traffic_direction`` and, where Cilium correlates a policy verdict with the policies behind it,
``ingress_denied_by``/``egress_denied_by`` (repeated ``Policy``: ``name``, ``namespace``,
``kind``...; cilium#31544, Cilium 1.16). A line holding a bare flow (hubble's legacy JSON) is
read too.

A drop is a policy deny only with a policy drop reason: ``POLICY_DENIED`` (133, no rule allowed
the flow) or ``POLICY_DENY`` (181, a deny rule matched); cilium-cli's connectivity test tells
them apart the same way (``cilium-cli/connectivity/check/policy.go``, ``defaultDenyReason``,
``policyDenyReason``). Every other reason (``NO_TUNNEL_OR_ENCAPSULATION_ENDPOINT``,
``STALE_OR_UNROUTABLE_IP``, ``CT_MAP_INSERTION_FAILED``, ``AUTH_REQUIRED``...) is a broken or
refused path, never a deny. docs/cilium-semantics.md s12.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

POLICY_DROP_REASONS = frozenset({"POLICY_DENIED", "POLICY_DENY"})
L4_PROTOCOLS = ("TCP", "UDP", "SCTP", "ICMPv4", "ICMPv6")
"""The members of flow.proto's ``Layer4`` oneof a probe can make."""
ECHO_REQUESTS = {"ICMPv4": 8, "ICMPv6": 128}
"""ICMP types of an echo request (RFC 792, RFC 4443)."""
DROP_REASON_CODES = {133: "POLICY_DENIED", 181: "POLICY_DENY"}
"""For flows that carry only the deprecated numeric ``drop_reason``."""


@dataclass(frozen=True)
class DropFlow:
    """One dropped-packet record."""

    time: datetime
    node: str
    reason: str
    direction: str
    source_ip: str
    destination_ip: str
    destination_port: int | None
    policies: tuple[str, ...] = ()
    """``CiliumNetworkPolicy ns/name`` for each policy Hubble names as denying it."""
    protocol: str = ""
    """The ``l4`` member present (``TCP``, ``UDP``, ``SCTP``, ``ICMPv4``, ``ICMPv6``); empty
    when the flow carries no L4 part."""
    icmp_type: int | None = None
    destination_names: tuple[str, ...] = ()
    """Names of the destination IP (without the trailing dot)."""

    def speaks(self, protocol: str) -> bool:
        """Whether the flow is of a probe speaking ``protocol`` (``TCP``... or ``ICMP``): a
        flow without an L4 part may be any; an ICMP flow must be an echo request."""
        if not self.protocol:
            return True
        if protocol == "ICMP":
            wanted = ECHO_REQUESTS.get(self.protocol)
            return wanted is not None and self.icmp_type in (None, wanted)
        return self.protocol == protocol

    @property
    def is_policy(self) -> bool:
        return self.reason in POLICY_DROP_REASONS


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def observe_argv(since: datetime, namespaces: Sequence[str]) -> list[str]:
    """``hubble observe`` for the drops involving ``namespaces`` since ``since``: every such
    flow the node still holds, as ``--since`` without ``--last`` sets no count
    (``hubble/cmd/observe/flows.go``, ``getFlowsRequest``); ``--namespace`` matches a flow's
    source or destination namespace, so both an egress and an ingress drop of the run's pods."""
    argv = ["hubble", "observe", "-o", "json", "--since", rfc3339(since), "--verdict", "DROPPED"]
    for namespace in namespaces:
        argv += ["--namespace", namespace]
    return argv


def parse_flows(stdout: str) -> list[DropFlow]:
    """The drops in ``hubble observe -o json`` output; ``ValueError`` on a line that is not
    JSON. Responses that are not flows (node status, lost events) are skipped."""
    drops = []
    for line in stdout.splitlines():
        if not line.strip():
            continue
        try:
            body = json.loads(line)
        except ValueError as exc:
            raise ValueError(f"not a JSON line of hubble observe: {line[:200]!r}") from exc
        flow = body.get("flow") if isinstance(body, dict) and "flow" in body else body
        if isinstance(flow, dict) and flow.get("verdict") == "DROPPED":
            drops.append(_drop(flow, body))
    return drops


def _drop(flow: dict[str, object], response: object) -> DropFlow:
    ip = _dict(flow.get("IP"))
    l4 = _dict(flow.get("l4"))
    protocol = next((name for name in L4_PROTOCOLS if name in l4), "")
    layer = _dict(l4.get(protocol)) if protocol else {}
    reason = flow.get("drop_reason_desc")
    if not reason:
        code = flow.get("drop_reason")
        reason = DROP_REASON_CODES.get(code, f"drop reason {code}") if isinstance(code, int) else ""
    port = layer.get("destination_port")
    icmp_type: int | None = None
    if protocol.startswith("ICMP"):
        # protobuf JSON leaves out zero values: no ``type`` is type 0, an echo reply
        found = layer.get("type", 0)
        icmp_type = int(found) if isinstance(found, int | str) and str(found).isdigit() else None
    node = flow.get("node_name") or _dict(response).get("node_name") or ""
    names = flow.get("destination_names")
    return DropFlow(
        parse_time(str(flow.get("time", ""))),
        str(node),
        str(reason),
        str(flow.get("traffic_direction") or ""),
        str(ip.get("source", "")),
        str(ip.get("destination", "")),
        int(port) if isinstance(port, int | str) and str(port).isdigit() else None,
        tuple(_policies(flow)),
        protocol,
        icmp_type,
        tuple(str(name).rstrip(".") for name in names) if isinstance(names, list) else (),
    )


def _dict(value: object) -> dict[str, object]:
    return value if isinstance(value, dict) else {}


def _policies(flow: dict[str, object]) -> Iterable[str]:
    for key in ("egress_denied_by", "ingress_denied_by"):
        entries = flow.get(key)
        for entry in entries if isinstance(entries, list) else []:
            policy = _dict(entry)
            kind = str(policy.get("kind") or "policy")
            namespace = str(policy.get("namespace") or "")
            name = str(policy.get("name") or "?")
            yield f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


def parse_time(text: str) -> datetime:
    """A protobuf JSON Timestamp (RFC 3339, up to nanoseconds); the epoch if there is none."""
    if not text:
        return datetime.fromtimestamp(0, UTC)
    head, dot, rest = text.rstrip("Z").partition(".")
    offset = ""
    for sign in ("+", "-"):
        if sign in rest:
            rest, _, tail = rest.partition(sign)
            offset = sign + tail
    moment = datetime.fromisoformat(head + offset) if offset else datetime.fromisoformat(head)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if dot:
        digits = "".join(c for c in rest if c.isdigit())[:6].ljust(6, "0")
        moment = moment.replace(microsecond=int(digits))
    return moment


def matching(
    flows: Iterable[DropFlow],
    source_ip: str,
    destination_ips: Iterable[str],
    port: int,
    protocol: str = "TCP",
    names: Iterable[str] = (),
) -> list[DropFlow]:
    """The drops of a probe: from its source pod, speaking its protocol, to its port (ICMP has
    none), and to one of its target's addresses or, for a name the pod resolved itself, to an
    address Hubble names with it (``destination_names``)."""
    destinations = set(destination_ips)
    wanted_names = {name.rstrip(".").lower() for name in names}
    return [
        flow
        for flow in flows
        if flow.source_ip == source_ip
        and (
            flow.destination_ip in destinations
            or bool(wanted_names & {name.lower() for name in flow.destination_names})
        )
        and flow.speaks(protocol)
        and (protocol == "ICMP" or flow.destination_port in (None, port))
    ]
