"""Faults of the emulated Cilium itself (its datapath, agents and Hubble), as opposed to the API
server's faults in :mod:`.faults`.

Each is a way a real mesh can be broken while its API servers answer normally, and each must
turn a deny into an error, never into a pass:

- a **partitioned** cluster pair: packets between the two clusters vanish, silently and with no
  policy involved, as over a broken tunnel. Hubble records no drop for them;
- a **late agent**: a cluster's agents realise a policy change only some seconds after it, so
  probes see the old policy meanwhile and ``cilium-dbg policy wait`` waits that long;
- **Hubble disabled** in a cluster: its agents report Hubble ``Disabled`` and ``hubble observe``
  cannot connect;
- an agent reporting a **remote cluster not ready** in its ``cilium-dbg status``;
- a **drop for a non-policy reason** between two clusters, recorded by Hubble with that reason
  (``NO_TUNNEL_OR_ENCAPSULATION_ENDPOINT``, ``STALE_OR_UNROUTABLE_IP``...).

Clusters are named by their logical names (``cluster1``). Set them with
``MirroredMesh.mesh_faults = MeshFaults(...)`` or on the command line (``--partition``...).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

NON_POLICY_DROP_REASONS: Mapping[str, int] = {
    "INVALID_SOURCE_IP": 132,
    "CT_MAP_INSERTION_FAILED": 155,
    "STALE_OR_UNROUTABLE_IP": 151,
    "NO_TUNNEL_OR_ENCAPSULATION_ENDPOINT": 160,
    "FIB_LOOKUP_FAILED": 169,
    "INVALID_IDENTITY": 171,
    "UNKNOWN_SENDER": 172,
    "INVALID_CLUSTER_ID": 192,
    "AUTH_REQUIRED": 189,
}
"""Drop reasons a fault may use, with their codes (cilium ``api/v1/flow/flow.proto``, enum
``DropReason``; ``bpf/lib/common.h``). None of them is a policy verdict."""

POLICY_DROP_REASONS: Mapping[str, int] = {"POLICY_DENIED": 133, "POLICY_DENY": 181}
"""The two policy drops (same source): no rule allowed the flow, and a deny rule matched."""


@dataclass(frozen=True)
class MeshFaults:
    """What is broken in the emulated Cilium; the default is nothing."""

    partitions: frozenset[frozenset[str]] = frozenset()
    """Cluster pairs between which packets vanish."""
    late_agents: Mapping[str, float] = field(default_factory=dict)
    """Cluster -> seconds its agents take to realise a policy change."""
    hubble_disabled: frozenset[str] = frozenset()
    not_ready: frozenset[tuple[str, str]] = frozenset()
    """``(observer, remote)``: the observer's agents report the remote cluster not ready."""
    drops: Mapping[tuple[str, str], str] = field(default_factory=dict)
    """``(source, destination)`` -> the drop reason of every packet from the source cluster's
    pods to the destination cluster's."""

    def __post_init__(self) -> None:
        for clusters in self.partitions:
            if len(clusters) != 2:
                raise ValueError(f"a partition is between two clusters, not {sorted(clusters)}")
        for cluster, delay in self.late_agents.items():
            if delay < 0:
                raise ValueError(f"{cluster}: a late agent's delay must not be negative")
        for (source, destination), reason in self.drops.items():
            if reason not in NON_POLICY_DROP_REASONS:
                raise ValueError(
                    f"{source}:{destination}: {reason!r} is not a non-policy drop reason; one of "
                    f"{', '.join(NON_POLICY_DROP_REASONS)}"
                )

    def partitioned(self, source: str, destination: str) -> bool:
        return source != destination and frozenset({source, destination}) in self.partitions

    def drop_reason(self, source: str, destination: str) -> str | None:
        return self.drops.get((source, destination))

    def delay(self, cluster: str) -> float:
        return self.late_agents.get(cluster, 0.0)

    def reports_not_ready(self, observer: str, remote: str) -> bool:
        return (observer, remote) in self.not_ready


def pair(text: str) -> tuple[str, str]:
    """``cluster1:cluster2`` -> ``("cluster1", "cluster2")``."""
    first, colon, second = text.partition(":")
    if not colon or not first or not second:
        raise ValueError(f"expected CLUSTER:CLUSTER, not {text!r}")
    return first, second


def from_args(
    partitions: Sequence[str] = (),
    late: Sequence[str] = (),
    hubble_disabled: Sequence[str] = (),
    not_ready: Sequence[str] = (),
    drops: Sequence[str] = (),
) -> MeshFaults:
    """The faults of the command line: ``--partition A:B``, ``--late-agent A=SECONDS``,
    ``--hubble-disabled A``, ``--remote-not-ready A:B``, ``--non-policy-drop A:B=REASON``."""
    late_agents: dict[str, float] = {}
    for item in late:
        cluster, equals, seconds = item.partition("=")
        if not equals:
            raise ValueError(f"expected CLUSTER=SECONDS, not {item!r}")
        late_agents[cluster] = float(seconds)
    reasons: dict[tuple[str, str], str] = {}
    for item in drops:
        where, equals, reason = item.partition("=")
        if not equals:
            raise ValueError(f"expected CLUSTER:CLUSTER=REASON, not {item!r}")
        reasons[pair(where)] = reason
    return MeshFaults(
        partitions=frozenset(frozenset(pair(item)) for item in partitions),
        late_agents=late_agents,
        hubble_disabled=frozenset(hubble_disabled),
        not_ready=frozenset(pair(item) for item in not_ready),
        drops=reasons,
    )
