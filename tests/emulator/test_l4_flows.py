"""The emulated Hubble's record of dropped UDP, SCTP and ICMP probes and of drops to the world,
in flow.proto's shape (cilium ``api/v1/flow/flow.proto``: ``Layer4`` is a oneof of ``TCP``,
``UDP``, ``ICMPv4``, ``ICMPv6``, ``SCTP``), as the backend's Hubble reader parses it; and the
command line's emulated DNS names."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from packaging.version import Version

from clustermesh_emulator.__main__ import _parser, externals_from_args
from clustermesh_emulator.agents import Drop, FlowEnd, drop_flows, world_end
from pytest_clustermesh.kubernetes import hubble

SOURCE = FlowEnd(
    "10.1.0.5",
    "demo",
    "tester-1",
    ("k8s:app=test",),
    "cluster1",
    "cluster1-control-plane",
)
DESTINATION = FlowEnd(
    "10.2.0.9", "demo", "be-1", ("k8s:app=backend",), "cluster2", "cluster2-control-plane"
)
V118 = Version("1.18.3")


def flows_of(drop: Drop) -> list[dict]:  # type: ignore[type-arg]
    return [response["flow"] for response in drop_flows(drop, 1.0e9, 41234, V118)]


@pytest.mark.parametrize(
    ("protocol", "port", "l4", "summary"),
    [
        (
            "TCP",
            8080,
            {"TCP": {"source_port": 41234, "destination_port": 8080, "flags": {"SYN": True}}},
            "TCP Flags: SYN",
        ),
        ("UDP", 53, {"UDP": {"source_port": 41234, "destination_port": 53}}, "UDP"),
        ("SCTP", 9000, {"SCTP": {"source_port": 41234, "destination_port": 9000}}, "SCTP"),
        ("ICMP", 0, {"ICMPv4": {"type": 8}}, "ICMPv4 EchoRequest"),
    ],
)
def test_a_drop_carries_the_l4_of_its_protocol(
    protocol: str, port: int, l4: dict[str, object], summary: str
) -> None:
    drop = Drop(SOURCE, DESTINATION, port, "INGRESS", "POLICY_DENIED", protocol=protocol)
    [flow] = flows_of(drop)
    assert flow["l4"] == l4
    assert flow["Summary"] == summary
    [parsed] = hubble.parse_flows(json.dumps({"flow": flow}))
    assert parsed.speaks("ICMP" if protocol == "ICMP" else protocol)
    assert hubble.matching([parsed], SOURCE.ip, [DESTINATION.ip], port, protocol) == [parsed]
    others = {"TCP", "UDP", "SCTP", "ICMP"} - {protocol}
    assert all(not hubble.matching([parsed], SOURCE.ip, [DESTINATION.ip], port, o) for o in others)


def test_a_drop_to_the_world_has_the_worlds_identity_and_the_name_resolved() -> None:
    world = world_end("203.0.113.10")
    assert world.identity == 2
    drop = Drop(
        SOURCE,
        world,
        443,
        "EGRESS",
        "POLICY_DENIED",
        destination_names=("api.example.com",),
    )
    [flow] = flows_of(drop)
    assert flow["destination"] == {"identity": 2, "labels": ["reserved:world"]}
    assert flow["destination_names"] == ["api.example.com"]
    assert flow["node_name"] == "cluster1/cluster1-control-plane"  # egress: the source's node
    assert "destination_names" not in flows_of(replace(drop, destination_names=()))[0]


def test_externals_come_from_the_command_line() -> None:
    args = _parser().parse_args(["--kubeconfig", "k", "--external", "api.example.com=203.0.113.10"])
    assert externals_from_args(args) == {"api.example.com": "203.0.113.10"}
    for bad in ("api.example.com", "api.example.com=not-an-ip", "=203.0.113.10"):
        args = _parser().parse_args(["--kubeconfig", "k", "--external", bad])
        with pytest.raises(SystemExit, match="--external wants HOSTNAME=ADDRESS"):
            externals_from_args(args)
