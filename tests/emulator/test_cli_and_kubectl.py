"""The command line, and kubectl against the emulator."""

from __future__ import annotations

import select
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from clustermesh_emulator import Emulator, ExecRequest, ExecResult

from .conftest import api_client, pod

REPO = Path(__file__).resolve().parents[2]
"""The emulator is a package beside the plugin, importable from the repository's root."""
KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not on PATH")


def test_the_command_line_serves_until_interrupted(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "mesh.yaml"
    command = [
        sys.executable, "-m", "clustermesh_emulator", "--kubeconfig", str(kubeconfig),
        "--cilium-version", "cluster2=1.19.1", "--option", "policy-default-local-cluster=false",
        "--error-rate", "0",
    ]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO
    )
    assert process.stdout is not None and process.stderr is not None
    try:
        ready, _, _ = select.select([process.stdout], [], [], 30)
        assert ready, "the emulator printed nothing within 30 s"
        line = process.stdout.readline()
        assert f"kubeconfig written to {kubeconfig}" in line
        with api_client(str(kubeconfig), "kind-cluster2") as api:
            core: Any = client.CoreV1Api(api)
            apps: Any = client.AppsV1Api(api)
            assert "kube-system" in [n.metadata.name for n in core.list_namespace().items]
            data = core.read_namespaced_config_map("cilium-config", "kube-system").data
            assert data == {
                "cluster-name": "cluster2", "cluster-id": "2",
                "policy-default-local-cluster": "false",
            }  # fmt: skip
            agent = apps.read_namespaced_daemon_set("cilium", "kube-system")
            assert agent.spec.template.spec.containers[0].image == "quay.io/cilium/cilium:v1.19.1"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0, process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()


def kubectl(mesh: Emulator, cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert KUBECTL is not None
    return subprocess.run(
        [KUBECTL, "--kubeconfig", str(mesh.kubeconfig_path), "--cache-dir", str(cache), *args],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@needs_kubectl
def test_kubectl_lists_pods_in_all_namespaces(mesh: Emulator, tmp_path: Path) -> None:
    result = kubectl(mesh, tmp_path, "--context", "kind-cluster1", "get", "pods", "-A")
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    agents = [row.split() for row in rows if " cilium-" in row]
    assert len(agents) == 1 and agents[0][0] == "kube-system" and agents[0][2:4] == [
        "1/1", "Running"
    ]  # fmt: skip


@needs_kubectl
def test_kubectl_exec_returns_the_exit_code(
    mesh: Emulator, core: Any, namespace: str, tmp_path: Path
) -> None:
    async def handler(request: ExecRequest) -> ExecResult:
        return ExecResult(f"ran {' '.join(request.command)}\n", "went wrong\n", 3)

    core.create_namespaced_pod(namespace, pod("p"))
    mesh["cluster1"].settle()
    mesh["cluster1"].exec_handler = handler
    result = kubectl(
        mesh, tmp_path, "--context", "kind-cluster1", "-n", namespace, "exec", "p", "--",
        "probe", "--flag",
    )  # fmt: skip
    assert result.returncode == 3
    assert result.stdout == "ran probe --flag\n"
    assert "went wrong" in result.stderr
    assert "command terminated with exit code 3" in result.stderr
