"""The user's own command against the emulated mesh:
``pytest scenarios --kube-contexts=kind-cluster1,kind-cluster2 --kubeconfig K``.

The emulator runs in this process and answers probe execs from the simulated mesh
(MirroredMesh); pytest runs in a subprocess, through the plugin, the Kubernetes backend and
the official client, exactly as a user runs it.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from clustermesh_emulator import Emulator, Faults
from clustermesh_emulator.mesh import MirroredMesh
from pytest_clustermesh.backend import OWNER_LABEL

REPO = Path(__file__).resolve().parents[2]
FAST = ["--probe-timeout=0.3", "--probe-retry-window=5", "--ready-timeout=20",
        "-p", "no:cacheprovider", "-p", "no:hypothesispytest"]  # fmt: skip
RESOURCE_KINDS = ("namespaces", "pods", "deployments", "services", "ciliumnetworkpolicies",
                  "ciliumclusterwidenetworkpolicies", "networkpolicies")  # fmt: skip


EXTERNALS = {"api.example.net": "198.51.100.20"}
"""The names scenarios/egress probes, as the emulated cluster DNS resolves them (the scenario's
``externals``)."""


@pytest.fixture
def mesh() -> Iterator[Emulator]:
    with Emulator() as emulator, MirroredMesh(emulator, seed=7) as mirror:
        mirror.externals.update(EXTERNALS)
        yield emulator


@pytest.fixture
def scenarios(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "scenarios", tmp_path / "scenarios")
    return tmp_path / "scenarios"


def command(mesh: Emulator, scenarios: Path, *extra: str, only: str = "guide") -> list[str]:
    return [sys.executable, "-m", "pytest", str(scenarios / only), "-rfEs",
            "--kube-contexts=kind-cluster1,kind-cluster2",
            f"--kubeconfig={mesh.kubeconfig_path}", *FAST, *extra]  # fmt: skip


def leftovers(mesh: Emulator) -> list[str]:
    """Everything in the emulator carrying a run's ownership label."""
    found = []
    for cluster in mesh:
        for kind in RESOURCE_KINDS:
            for obj in cluster.list_objects(kind, labels=OWNER_LABEL):
                meta = obj["metadata"]
                found.append(f"{cluster.name} {kind} {meta.get('namespace', '')}/{meta['name']}")
    return found


def outcome_line(output: str) -> str:
    return next(line for line in reversed(output.splitlines()) if " in " in line and "=" in line)


def test_the_scenarios_pass_through_the_kubernetes_backend(mesh: Emulator, scenarios: Path) -> None:
    """Emulated clusters run Cilium 1.18: the remote-frontend items of the =false variant
    apply, the =true ones are skipped, as on the simulated mesh for 1.18."""
    run = subprocess.run(command(mesh, scenarios, only=""), cwd=scenarios.parent,
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    summary = outcome_line(run.stdout)
    # The count grows with the scenarios (egress added pings, externals, DNS queries and the
    # API server): at least the items of the scenarios this was last counted on pass, and
    # nothing fails, the probes of the API server included.
    passed = re.search(r"(\d+) passed", summary)
    assert passed is not None and int(passed.group(1)) >= 110, summary
    assert "failed" not in summary, summary
    assert "error" not in summary, summary
    assert "policy-default-local-cluster=true does not hold" in run.stdout
    mesh["cluster1"].settle()
    assert leftovers(mesh) == []


def test_api_faults_do_not_change_the_verdicts(mesh: Emulator, scenarios: Path) -> None:
    mesh.set_faults(Faults(error_rate=0.03, error_statuses=(500, 429), seed=3, retry_after=0))
    run = subprocess.run(command(mesh, scenarios), cwd=scenarios.parent, capture_output=True,
                         text=True, timeout=300)  # fmt: skip
    injected = sum(cluster.fault_counts.injected for cluster in mesh)
    mesh.set_faults(Faults())
    assert injected > 0
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "47 passed, 3 skipped" in outcome_line(run.stdout)
    assert leftovers(mesh) == []


def test_ctrl_c_removes_what_the_run_created(mesh: Emulator, scenarios: Path) -> None:
    process = subprocess.Popen(
        [*command(mesh, scenarios), "-v"], cwd=scenarios.parent, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    seen = []
    deadline = time.monotonic() + 120
    for line in process.stdout:
        seen.append(line)
        if "PASSED" in line or time.monotonic() > deadline:
            break
    assert leftovers(mesh), "the run should have deployed something by its first pass"
    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=120)
    output = "".join(seen) + rest
    assert "KeyboardInterrupt" in output
    mesh["cluster1"].settle()
    assert leftovers(mesh) == [], output[-4000:]


def test_an_unreachable_context_is_one_clear_line(scenarios: Path, tmp_path: Path) -> None:
    with Emulator() as emulator:
        config = emulator.write_kubeconfig(tmp_path / "kubeconfig")
    # The emulator is stopped: both contexts now point at closed ports.
    run = subprocess.run(
        [sys.executable, "-m", "pytest", str(scenarios / "guide"), "-x",
         "--kube-contexts=kind-cluster1,kind-cluster2", f"--kubeconfig={config}", *FAST],
        cwd=scenarios.parent, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == pytest.ExitCode.INTERRUPTED
    assert "clustermesh: preflight failed:" in run.stdout
    assert "kind-cluster1: cannot reach http://127.0.0.1:" in run.stdout
    assert "kind-cluster2: cannot reach http://127.0.0.1:" in run.stdout
    assert "no tests ran" in run.stdout
    assert "Interrupted: clustermesh: preflight failed, nothing was deployed" in run.stdout
    assert "Traceback" not in run.stdout
    assert "Exit:" not in run.stdout + run.stderr, "pytest's internal exception name shows"


def test_the_emulator_command_line_serves_a_mesh_for_the_users_command(
    scenarios: Path, tmp_path: Path
) -> None:
    """The contributor's route in README: start the emulator by hand, point pytest at it."""
    kubeconfig = tmp_path / "emulated.yaml"
    server = subprocess.Popen(
        [sys.executable, "-m", "clustermesh_emulator", "--kubeconfig", str(kubeconfig),
         "--cilium-version", "1.19.1", "--simulated-probes"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        assert "kubeconfig written to" in server.stdout.readline()
        run = subprocess.run(
            [sys.executable, "-m", "pytest", str(scenarios / "guide"), "-rs",
             "--kube-contexts=kind-cluster1,kind-cluster2", f"--kubeconfig={kubeconfig}", *FAST],
            cwd=scenarios.parent, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert run.returncode == 0, run.stdout[-6000:]
        # Cilium 1.19: policy-default-local-cluster is on, so the =false variants are skipped.
        assert "policy-default-local-cluster=false does not hold" in run.stdout
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=30)
    assert server.returncode == 0


def test_a_client_image_without_curl_fails_every_item_deny_included(
    scenarios: Path, tmp_path: Path
) -> None:
    """The worst bug this tool could have is a deny that passes because the probe was broken:
    with no curl in the client image, every item fails, and the deny items say why."""
    with Emulator() as emulator, MirroredMesh(emulator, images_without_curl={"busybox"}):
        run = subprocess.run(
            [*command(emulator, scenarios, "--client-image=busybox", "--probe-retries=2"),
             "-k", "policy-on-cluster1"],
            cwd=scenarios.parent, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        emulator["cluster1"].settle()
        assert leftovers(emulator) == []
    assert run.returncode == pytest.ExitCode.TESTS_FAILED
    summary = outcome_line(run.stdout)
    assert "12 failed, 1 skipped" in summary
    assert "passed" not in summary
    deny = "policy-on-cluster1::cluster1/test->cluster1/myapp:80"
    assert f"FAILED scenarios/guide/guide.scenario.yaml::{deny}" in run.stdout
    assert "the probe could not run (probe-error), which proves nothing" in run.stdout
    assert "curl: not found" in run.stdout
