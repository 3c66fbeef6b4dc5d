"""The objects a deployment puts into a cluster, as API request bodies.

Pure functions of the deployment, the cluster and the settings, so they are unit-tested
without a server. Pods carry their workload's labels (they decide Cilium identities) plus the
run's ownership label and a workload label that selects exactly that workload's pods; the
run-id label goes only on top-level objects, so it takes no part in identities.
"""

from __future__ import annotations

from typing import Any

from ..backend import (
    OWNER_LABEL,
    Deployment,
    NamespaceSpec,
    PortSpec,
    WorkloadSpec,
    dns_name,
    ownership_labels,
)
from .classify import echo_text
from .commands import AGNHOST
from .settings import KubernetesSettings

WORKLOAD_LABEL = "clustermesh.pytest.io/workload"
IDLE_SCRIPT = "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"
"""What a client container runs: idles in any POSIX ``sh`` (busybox's ``sleep`` may not take
``infinity``), and exits at once on SIGTERM (a shell as PID 1 ignores it otherwise)."""
RUN_LABEL = "clustermesh.pytest.io/run-id"
POD_NAME_ENV = "POD_NAME"

Manifest = dict[str, Any]


def object_labels(deployment: Deployment, settings: KubernetesSettings) -> dict[str, str]:
    """Labels of every top-level object the run creates."""
    return {**ownership_labels(deployment), RUN_LABEL: settings.run_label}


def pod_selector(deployment: Deployment, workload: WorkloadSpec) -> dict[str, str]:
    return {OWNER_LABEL: deployment.key, WORKLOAD_LABEL: workload_label(workload)}


def workload_label(workload: WorkloadSpec) -> str:
    return dns_name(workload.name)


def namespace(
    spec: NamespaceSpec, deployment: Deployment, settings: KubernetesSettings
) -> Manifest:
    labels = {**spec.labels, **object_labels(deployment, settings)}
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": spec.name, "labels": labels},
    }


def service_account(
    workload: WorkloadSpec, deployment: Deployment, settings: KubernetesSettings
) -> Manifest | None:
    if not workload.service_account:
        return None
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _metadata(workload.service_account, workload, deployment, settings),
        "automountServiceAccountToken": False,
    }


def workload_deployment(
    workload: WorkloadSpec, cluster: str, deployment: Deployment, settings: KubernetesSettings
) -> Manifest:
    """The apps/v1 Deployment running ``workload`` in ``cluster``."""
    selector = pod_selector(deployment, workload)
    pod_spec: dict[str, Any] = {
        "containers": _containers(workload, cluster, settings),
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": 1,
    }
    if workload.service_account:
        pod_spec["serviceAccountName"] = workload.service_account
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(dns_name(workload.name), workload, deployment, settings),
        "spec": {
            "replicas": workload.replicas_at(cluster),
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": {**workload.labels, **selector}},
                "spec": pod_spec,
            },
        },
    }


def _containers(
    workload: WorkloadSpec, cluster: str, settings: KubernetesSettings
) -> list[dict[str, Any]]:
    """One container per port: http-echo for a TCP port, agnhost's ``porter`` for a UDP or
    SCTP port; a client (or a server without ports) idles."""
    if workload.role == "client" or not workload.ports:
        image = workload.image or settings.client_image
        return [{"name": workload.role, "image": image, "command": ["sh", "-c", IDLE_SCRIPT]}]
    text = echo_text(cluster, f"$({POD_NAME_ENV})")
    return [
        _echo_container(port, workload.image or settings.server_image, text)
        if port.protocol == "TCP"
        else _porter_container(port, settings.udp_sctp_server_image, text)
        for port in workload.ports
    ]


def _pod_name_env() -> dict[str, Any]:
    return {"name": POD_NAME_ENV, "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}


def _container_port(port: PortSpec) -> dict[str, Any]:
    named = {"name": port.name} if port.name else {}
    return {"containerPort": port.port, "protocol": port.protocol, **named}


def _echo_container(port: PortSpec, image: str, text: str) -> dict[str, Any]:
    return {
        "name": f"echo-{port.port}",
        "image": image,
        "args": [f"-listen=:{port.port}", f"-text={text}"],
        "env": [_pod_name_env()],
        "ports": [_container_port(port)],
        "readinessProbe": {"tcpSocket": {"port": port.port}, "periodSeconds": 2},
    }


def _porter_container(port: PortSpec, image: str, text: str) -> dict[str, Any]:
    """``agnhost porter`` answering every datagram or SCTP message on ``port`` with ``text``
    (``SERVE_UDP_PORT_<n>``/``SERVE_SCTP_PORT_<n>``: kubernetes
    ``test/images/agnhost/porter/porter.go``), ready once ``agnhost connect`` to it from inside
    the pod gets that answer: a UDP port has no handshake for a ``tcpSocket`` check. Kubernetes'
    own network-policy e2e tests run their SCTP servers so (``test/e2e/network/netpol/model.go``,
    ``Container.Spec``; the readiness probe: ``network_legacy.go``,
    ``createServerPodAndService``)."""
    protocol = port.protocol.lower()
    return {
        "name": f"{protocol}-{port.port}",
        "image": image,
        "command": [AGNHOST, "porter"],
        "env": [
            _pod_name_env(),
            {"name": f"SERVE_{port.protocol}_PORT_{port.port}", "value": text},
        ],
        "ports": [_container_port(port)],
        "readinessProbe": {
            "exec": {
                "command": [
                    AGNHOST,
                    "connect",
                    f"--protocol={protocol}",
                    "--timeout=1s",
                    f"127.0.0.1:{port.port}",
                ]
            },
            "periodSeconds": 2,
        },
    }


def service(
    workload: WorkloadSpec,
    deployment: Deployment,
    settings: KubernetesSettings,
    cluster: str | None = None,
) -> Manifest | None:
    """The workload's Service; in ``cluster`` (as the deployment names it) with that
    cluster's own annotations, if the scenario gives some."""
    if workload.service is None:
        return None
    metadata = _metadata(workload.service.name, workload, deployment, settings)
    annotations = workload.service.annotations_at(cluster) if cluster else None
    metadata["annotations"] = annotations or dict(workload.service.annotations)
    ports = [
        {
            "name": f"{port.protocol.lower()}-{port.port}",
            "port": port.port,
            "targetPort": port.port,
            "protocol": port.protocol,
        }
        for port in workload.ports
    ]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata,
        "spec": {
            "type": "ClusterIP",
            "selector": pod_selector(deployment, workload),
            "ports": ports,
        },
    }


def _metadata(
    name: str, workload: WorkloadSpec, deployment: Deployment, settings: KubernetesSettings
) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": workload.namespace,
        "labels": {**object_labels(deployment, settings), WORKLOAD_LABEL: workload_label(workload)},
    }
