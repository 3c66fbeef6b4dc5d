"""Fixtures: one emulated two-cluster mesh per test module, driven by the real ``kubernetes``
client over loopback HTTP.

Tests isolate themselves with a fresh namespace each; whatever they change on a cluster (faults,
rejections, exec handler) is reset after every test.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.config import new_client_from_config
from kubernetes.stream import stream

from clustermesh_emulator import Cluster, Emulator, Faults, default_exec_handler

_names = itertools.count(1)


def _emulator_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "clustermesh-emulator"]


@pytest.fixture(scope="module")
def mesh() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator
    assert emulator.clusters["cluster1"].errors == []
    assert emulator.clusters["cluster2"].errors == []
    assert not _emulator_threads(), "the emulator left its thread running"


@pytest.fixture(autouse=True)
def _reset(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "mesh" in request.fixturenames:
        emulator: Emulator = request.getfixturevalue("mesh")
        for cluster in emulator:
            cluster.faults = Faults()
            cluster.clear_rejections()
            cluster.clear_forbidden()
            cluster.exec_handler = default_exec_handler


@pytest.fixture
def cluster1(mesh: Emulator) -> Cluster:
    return mesh["cluster1"]


def api_client(kubeconfig: str, context: str | None = None) -> Any:
    """A new ``ApiClient`` for a context; use it as a context manager to close it."""
    return new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=kubeconfig, context=context, persist_config=False
    )


@pytest.fixture
def api(mesh: Emulator) -> Iterator[Any]:
    """An ``ApiClient`` for ``kind-cluster1``; closed after the test."""
    with api_client(str(mesh.kubeconfig_path), "kind-cluster1") as api:
        yield api


@pytest.fixture
def core(api: Any) -> Any:
    return client.CoreV1Api(api)


@pytest.fixture
def apps(api: Any) -> Any:
    return client.AppsV1Api(api)


@pytest.fixture
def custom(api: Any) -> Any:
    return client.CustomObjectsApi(api)


@pytest.fixture
def namespace(core: Any, mesh: Emulator) -> str:
    """A fresh namespace in cluster1 (left for the module's emulator to drop)."""
    name = f"t{next(_names)}"
    core.create_namespace({"metadata": {"name": name}})
    return name


# ---------------------------------------------------------------------------------------------
# helpers


def deployment(name: str, image: str = "nginx:1.27", replicas: int = 1) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "main", "image": image}]},
            },
        },
    }


def pod(name: str, image: str = "nginx:1.27", **labels: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [{"name": "main", "image": image}]},
    }


@dataclass(frozen=True)
class Executed:
    stdout: str
    stderr: str
    returncode: int


def run_exec(
    emulator: Emulator, context: str, namespace: str, name: str, command: list[str]
) -> Executed:
    """Exec through ``kubernetes.stream`` on an ApiClient of its own, like a backend would."""
    with api_client(str(emulator.kubeconfig_path), context) as api:
        response = stream(
            client.CoreV1Api(api).connect_get_namespaced_pod_exec, name, namespace,
            command=command, stderr=True, stdin=False, stdout=True, tty=False,
            _preload_content=False,
        )  # fmt: skip
        try:
            response.run_forever(timeout=10)
            return Executed(response.read_stdout(), response.read_stderr(), response.returncode)
        finally:
            # After the server's close frame websocket-client thinks itself closed, so
            # close() alone would leave the socket open (a ResourceWarning later).
            response.close()
            response.sock.shutdown()


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    """Decoded JSON, or the text when the answer is not JSON."""
    headers: dict[str, str]


def raw(
    cluster: Cluster,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    """A request without the client's help (and without its retries)."""
    pool = urllib3.PoolManager(retries=False)
    try:
        response = pool.request(method, cluster.url + path, body=body, headers=headers)
    finally:
        pool.clear()
    text = response.data.decode()
    is_json = response.headers.get("Content-Type", "").startswith("application/json")
    return Answer(response.status, json.loads(text) if is_json else text, dict(response.headers))


def status_of(error: ApiException) -> dict[str, Any]:
    """The ``Status`` an API error carries, checked to be one."""
    body: dict[str, Any] = json.loads(str(error.body))
    assert body["kind"] == "Status" and body["code"] == error.status
    return body
