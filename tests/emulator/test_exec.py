"""Exec over websockets through ``kubernetes.stream``: exit codes, channels, concurrency."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream

from clustermesh_emulator import (
    Cluster,
    Emulator,
    ExecRequest,
    ExecResult,
    default_clusters,
)

from .conftest import pod, run_exec


@pytest.fixture
def running(cluster1: Cluster, core: Any, namespace: str) -> str:
    """A Running pod ``p`` in the test's namespace; returns the namespace."""
    core.create_namespaced_pod(namespace, pod("p", app="probe"))
    cluster1.settle()
    return namespace


async def shell(request: ExecRequest) -> ExecResult:
    """A tiny shell: ``echo``, ``fail N``, ``sleep S``."""
    program, *args = request.command
    if program == "echo":
        return ExecResult(" ".join(args) + "\n")
    if program == "fail":
        return ExecResult("partial\n", "boom\n", int(args[0]))
    if program == "sleep":
        await asyncio.sleep(float(args[0]))
        return ExecResult(f"{request.cluster}/{request.namespace}/{request.pod}\n")
    if program == "whoami":
        labels = request.pod_object["metadata"]["labels"]
        return ExecResult(f"{request.container} {labels['app']}\n")
    return ExecResult("", f"{program}: not found\n", 127)


def test_success_separates_stdout_and_stderr(mesh: Emulator, running: str) -> None:
    mesh["cluster1"].exec_handler = shell
    result = run_exec(mesh, "kind-cluster1", running, "p", ["echo", "hello", "world"])
    assert (result.stdout, result.stderr, result.returncode) == ("hello world\n", "", 0)
    result = run_exec(mesh, "kind-cluster1", running, "p", ["whoami"])
    assert result.stdout == "main probe\n"


def test_a_non_zero_exit_code_comes_back(mesh: Emulator, running: str) -> None:
    mesh["cluster1"].exec_handler = shell
    result = run_exec(mesh, "kind-cluster1", running, "p", ["fail", "3"])
    assert (result.stdout, result.stderr, result.returncode) == ("partial\n", "boom\n", 3)


def test_the_default_handler_has_no_tools(mesh: Emulator, running: str) -> None:
    result = run_exec(mesh, "kind-cluster1", running, "p", ["curl", "-s", "http://x"])
    assert result.returncode == 126
    assert result.stderr == (
        "OCI runtime exec failed: exec failed: unable to start container process: exec: "
        '"curl": executable file not found in $PATH: unknown\n'
    )


def test_preloaded_output_interleaves_channels(mesh: Emulator, api: Any, running: str) -> None:
    mesh["cluster1"].exec_handler = shell
    # A preloaded exec never closes its socket (websocket-client considers itself closed once
    # the server's close frame arrives), against a real API server as well: silence that here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        output = stream(
            client.CoreV1Api(api).connect_get_namespaced_pod_exec, "p", running,
            command=["fail", "1"], stderr=True, stdin=False, stdout=True, tty=False,
        )  # fmt: skip
        gc.collect()
    assert output == "partial\nboom\n"


def test_slow_execs_run_concurrently(mesh: Emulator, running: str) -> None:
    mesh["cluster1"].exec_handler = shell
    started = time.monotonic()
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(
            lambda _: run_exec(mesh, "kind-cluster1", running, "p", ["sleep", "0.5"]), range(6)
        ))  # fmt: skip
    elapsed = time.monotonic() - started
    assert [r.stdout for r in results] == [f"cluster1/{running}/p\n"] * 6
    assert elapsed < 1.5, f"six 0.5 s execs took {elapsed:.2f} s"


def test_the_api_answers_while_an_exec_runs(mesh: Emulator, core: Any, running: str) -> None:
    mesh["cluster1"].exec_handler = shell
    worker = threading.Thread(
        target=run_exec, args=(mesh, "kind-cluster1", running, "p", ["sleep", "0.6"])
    )
    worker.start()
    time.sleep(0.1)
    started = time.monotonic()
    assert core.read_namespaced_pod("p", running).status.phase == "Running"
    assert time.monotonic() - started < 0.3
    worker.join()


def test_deleting_the_pod_kills_its_exec(mesh: Emulator, running: str) -> None:
    cluster = mesh["cluster1"]
    cluster.exec_handler = shell
    timer = threading.Timer(0.2, lambda: cluster.delete("pods", "p", running))
    timer.start()
    started = time.monotonic()
    result = run_exec(mesh, "kind-cluster1", running, "p", ["sleep", "5"])
    timer.join()
    assert result.returncode == 137 and result.stdout == ""
    assert time.monotonic() - started < 2


def test_a_failing_handler_is_an_internal_error(mesh: Emulator, running: str) -> None:
    async def broken(request: ExecRequest) -> ExecResult:
        raise RuntimeError("handler bug")

    cluster = mesh["cluster1"]
    cluster.exec_handler = broken
    with pytest.raises(ValueError):  # the client cannot read an exit code from InternalError
        run_exec(mesh, "kind-cluster1", running, "p", ["x"])
    assert [str(e) for e in cluster.errors] == ["handler bug"]
    cluster.errors.clear()


def test_exec_into_a_missing_pod_is_refused_before_the_upgrade(
    mesh: Emulator, namespace: str
) -> None:
    with pytest.raises(ApiException) as caught:
        run_exec(mesh, "kind-cluster1", namespace, "ghost", ["true"])
    assert "Handshake status 404" in str(caught.value.reason)
    assert 'pods \\"ghost\\" not found' in str(caught.value.reason)


def test_exec_into_a_pod_that_is_not_running_is_refused(
    mesh: Emulator, core: Any, namespace: str
) -> None:
    core.create_namespaced_pod(namespace, pod("stuck", image="does-not-exist:1"))
    mesh["cluster1"].settle()
    with pytest.raises(ApiException) as caught:
        run_exec(mesh, "kind-cluster1", namespace, "stuck", ["true"])
    assert "Handshake status 400" in str(caught.value.reason)
    assert "container not found" in str(caught.value.reason)
    requests = [r for r in mesh["cluster1"].requests if r.path.endswith("/stuck/exec")]
    assert [r.status for r in requests] == [400]


def test_exec_needs_a_container_name_when_there_are_several(
    mesh: Emulator, cluster1: Cluster, core: Any, namespace: str
) -> None:
    two = pod("two")
    two["spec"]["containers"].append({"name": "side", "image": "busybox:1"})
    core.create_namespaced_pod(namespace, two)
    cluster1.settle()
    with pytest.raises(ApiException) as caught:
        run_exec(mesh, "kind-cluster1", namespace, "two", ["true"])
    assert "a container name must be specified for pod two" in str(caught.value.reason)


def test_exec_works_in_every_cluster(mesh: Emulator) -> None:
    cilium = mesh["cluster2"].list_objects("pods", "kube-system", labels="k8s-app=cilium")[0]
    result = run_exec(mesh, "kind-cluster2", "kube-system", cilium["metadata"]["name"],
                      ["cilium-dbg", "status"])  # fmt: skip
    assert result.returncode == 126 and '"cilium-dbg"' in result.stderr


def test_stopping_the_emulator_ends_execs_in_progress() -> None:
    called = threading.Event()

    async def forever(request: ExecRequest) -> ExecResult:
        called.set()
        await asyncio.sleep(60)
        return ExecResult("")

    outcome: list[BaseException] = []
    with Emulator(default_clusters(1), exec_handler=forever) as emulator:
        [agent] = emulator["cluster1"].list_objects("pods", "kube-system", labels="k8s-app=cilium")
        name = agent["metadata"]["name"]

        def run() -> None:
            try:
                run_exec(emulator, "kind-cluster1", "kube-system", name, ["sleep"])
            except Exception as exc:
                outcome.append(exc)

        worker = threading.Thread(target=run)
        worker.start()
        assert called.wait(10)
        started = time.monotonic()
    worker.join(5)
    assert not worker.is_alive() and time.monotonic() - started < 3
    # The session ends without a status frame, so the client has no exit code to give.
    assert [type(e) for e in outcome] == [TypeError]
    assert emulator["cluster1"].errors == []
