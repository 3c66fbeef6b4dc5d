"""A DSL port name reaches the pod as its container port's name (docs/cilium-semantics.md s5),
so Cilium can resolve a policy's named port on a real cluster as the model does."""

from __future__ import annotations

import dataclasses

from pytest_clustermesh.backend import PortSpec
from pytest_clustermesh.kubernetes import manifests

from .test_pure import DEPLOYMENT, SERVER, SETTINGS


def test_a_named_port_is_the_container_ports_name() -> None:
    named = dataclasses.replace(SERVER, ports=(PortSpec(80, name="web"), PortSpec(8080)))
    body = manifests.workload_deployment(named, "c1", DEPLOYMENT, SETTINGS)
    ports = [port for c in body["spec"]["template"]["spec"]["containers"] for port in c["ports"]]
    assert ports == [
        {"containerPort": 80, "protocol": "TCP", "name": "web"},
        {"containerPort": 8080, "protocol": "TCP"},
    ]
