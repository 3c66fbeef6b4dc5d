"""Pods that speak UDP and SCTP: agnhost ``porter`` per port, a readiness check that does not
need a TCP handshake, and clients that idle in any image's ``sh``."""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import time
from pathlib import Path

import pytest

from pytest_clustermesh.backend import PortSpec
from pytest_clustermesh.kubernetes import manifests
from pytest_clustermesh.kubernetes.settings import AGNHOST_IMAGE, KubernetesSettings

from .test_pure import CLIENT, DEPLOYMENT, SERVER

SETTINGS = KubernetesSettings(run_id="l4")
MIXED = dataclasses.replace(
    SERVER,
    ports=(PortSpec(8080), PortSpec(53, "UDP", "dns"), PortSpec(9000, "SCTP"), PortSpec(53)),
)


def containers(workload: object, settings: KubernetesSettings = SETTINGS) -> list[dict]:  # type: ignore[type-arg]
    body = manifests.workload_deployment(workload, "c1", DEPLOYMENT, settings)  # type: ignore[arg-type]
    return list(body["spec"]["template"]["spec"]["containers"])


def test_every_port_gets_a_container_of_its_protocol() -> None:
    found = containers(MIXED)
    assert [c["name"] for c in found] == ["echo-8080", "udp-53", "sctp-9000", "echo-53"]
    assert [c["ports"] for c in found] == [
        [{"containerPort": 8080, "protocol": "TCP"}],
        [{"containerPort": 53, "protocol": "UDP", "name": "dns"}],
        [{"containerPort": 9000, "protocol": "SCTP"}],
        [{"containerPort": 53, "protocol": "TCP"}],
    ]
    assert [c["image"] for c in found] == [
        "hashicorp/http-echo",
        AGNHOST_IMAGE,
        AGNHOST_IMAGE,
        "hashicorp/http-echo",
    ]


def test_porter_answers_with_the_echo_text_naming_cluster_and_pod() -> None:
    udp, sctp = containers(MIXED)[1:3]
    assert udp["command"] == ["/agnhost", "porter"]
    assert udp["env"] == [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "SERVE_UDP_PORT_53", "value": "clustermesh-echo cluster=c1 pod=$(POD_NAME)"},
    ]
    assert sctp["env"][1]["name"] == "SERVE_SCTP_PORT_9000"


def test_udp_and_sctp_readiness_asks_agnhost_connect_not_a_tcp_socket() -> None:
    tcp, udp, sctp, _ = containers(MIXED)
    assert tcp["readinessProbe"]["tcpSocket"] == {"port": 8080}
    assert "tcpSocket" not in udp["readinessProbe"]
    assert udp["readinessProbe"]["exec"]["command"] == [
        "/agnhost",
        "connect",
        "--protocol=udp",
        "--timeout=1s",
        "127.0.0.1:53",
    ]
    assert sctp["readinessProbe"]["exec"]["command"][2] == "--protocol=sctp"


def test_the_udp_sctp_image_is_its_own_setting() -> None:
    own = dataclasses.replace(MIXED, image="registry.local/http-echo")
    settings = dataclasses.replace(SETTINGS, udp_sctp_server_image="registry.local/agnhost:2.52")
    assert [c["image"] for c in containers(own, settings)] == [
        "registry.local/http-echo",
        "registry.local/agnhost:2.52",
        "registry.local/agnhost:2.52",
        "registry.local/http-echo",
    ]


def test_a_server_with_udp_ports_only_serves_them() -> None:
    only_udp = dataclasses.replace(SERVER, ports=(PortSpec(53, "UDP"),))
    assert [c["name"] for c in containers(only_udp)] == ["udp-53"]


def test_services_carry_the_port_protocols() -> None:
    body = manifests.service(MIXED, DEPLOYMENT, SETTINGS)
    assert body is not None
    assert [(p["name"], p["port"], p["protocol"]) for p in body["spec"]["ports"]] == [
        ("tcp-8080", 8080, "TCP"),
        ("udp-53", 53, "UDP"),
        ("sctp-9000", 9000, "SCTP"),
        ("tcp-53", 53, "TCP"),
    ]


def test_the_default_client_is_agnhost_idling_in_sh() -> None:
    [client] = containers(CLIENT)
    assert client["image"] == AGNHOST_IMAGE == "registry.k8s.io/e2e-test-images/agnhost:2.52"
    assert client["command"] == ["sh", "-c", manifests.IDLE_SCRIPT]


@pytest.mark.skipif(not Path("/bin/sh").exists(), reason="needs a POSIX sh")
def test_the_idle_script_idles_and_ends_on_sigterm_at_once() -> None:
    process = subprocess.Popen(["/bin/sh", "-c", manifests.IDLE_SCRIPT])
    try:
        time.sleep(0.3)
        assert process.poll() is None  # idling
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
        assert time.monotonic() - started < 3
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
