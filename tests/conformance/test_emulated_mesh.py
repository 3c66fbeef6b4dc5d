"""The bundled suite end to end, through the user's own command against the emulated mesh:
``pytest --pyargs pytest_clustermesh.conformance --kube-contexts=... --kubeconfig K``.

The emulator runs in this process and answers probe execs from the simulated mesh
(MirroredMesh); pytest runs in a subprocess, from a folder outside the repository, through the
plugin, the Kubernetes backend and the official client. Short timeouts keep it quick;
benchmarks/bench_conformance.py measures the suite with the default settings.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from clustermesh_emulator import Emulator
from clustermesh_emulator.config import default_clusters
from clustermesh_emulator.mesh import MirroredMesh
from pytest_clustermesh.backend import OWNER_LABEL
from pytest_clustermesh.reports.records import CaseRecord

from .suite import PDLC, SUITE, changed_keys, read_results, scenario_files

FAST = ["--probe-timeout=0.3", "--probe-retry-window=5", "--ready-timeout=20",
        "-p", "no:cacheprovider", "-p", "no:hypothesispytest"]  # fmt: skip
TWO_CLUSTER_ONLY = ("three-clusters", "clusterwide")
"""Scenarios that do not run on two clusters without --allow-clusterwide-policies."""


def run_suite(mesh: Emulator, where: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    contexts = ",".join(cluster.context for cluster in mesh)
    return subprocess.run(
        [sys.executable, "-m", "pytest", *SUITE, f"--kube-contexts={contexts}",
         f"--kubeconfig={mesh.kubeconfig_path}", "-rs", *FAST, *extra],
        cwd=where, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def emulated(count: int, version: str, **options: str) -> Iterator[Emulator]:
    with (
        Emulator(default_clusters(count, cilium_version=version, options=options)) as mesh,
        MirroredMesh(mesh, seed=7),
    ):
        yield mesh
        mesh.settle()
        assert owned(mesh) == [], "the run leaves nothing behind"


def owned(mesh: Emulator) -> list[str]:
    kinds = ("namespaces", "ciliumnetworkpolicies", "ciliumclusterwidenetworkpolicies",
             "networkpolicies")  # fmt: skip
    return [
        f"{cluster.name} {kind} {obj['metadata']['name']}"
        for cluster in mesh
        for kind in kinds
        for obj in cluster.list_objects(kind, labels=OWNER_LABEL)
    ]


def records(path: Path) -> list[CaseRecord]:
    return [CaseRecord.from_dict(item) for item in read_results(path)["records"]]


def skip_reasons(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("SKIPPED")]


def assert_no_failure(run: subprocess.CompletedProcess[str], lines: Sequence[str] = ()) -> None:
    tail = run.stdout.strip().splitlines()[-1]
    assert "failed" not in tail and "error" not in tail, run.stdout[-6000:] + run.stderr[-2000:]
    assert " passed" in tail, tail


def test_upgrade_from_1_18_to_1_19_through_the_users_command(tmp_path: Path) -> None:
    """Three clusters and the cluster-wide opt-in, so every scenario runs on both sides (the
    cluster-mesh entity aside, 1.20 only): everything passes on 1.18 and on 1.19, and the
    baseline check lists exactly the verdicts that the scenario files say flip, with the
    model's reasons for both versions."""
    for mesh in emulated(3, "1.18.3"):
        before = run_suite(
            mesh, tmp_path, "--allow-clusterwide-policies", "--clustermesh-results=before.json"
        )
    assert before.returncode == 0, before.stdout[-6000:] + before.stderr[-2000:]
    assert_no_failure(before)
    ran = {r.scenario for r in records(tmp_path / "before.json") if r.status == "passed"}
    assert ran >= {"three-clusters", "clusterwide", "policy-scope", "global-services"}

    for mesh in emulated(3, "1.19.1"):
        after = run_suite(
            mesh, tmp_path, "--allow-clusterwide-policies", "--clustermesh-baseline=before.json",
            "--clustermesh-fail-on-change", "--clustermesh-results=after.json",
        )  # fmt: skip
    assert_no_failure(after)
    assert after.returncode == 1, "only the verdict changes fail the run"
    expected = changed_keys(("1.18.3", {}), ("1.19.1", {}))
    report = read_results(tmp_path / "after.json")["run"]["baseline"]
    changes = {change["key"]: change for change in report["changed"]}
    assert set(changes) == expected
    assert {key.split("::")[0] for key in expected} >= {"three-clusters", "clusterwide", "deny"}
    for key, change in changes.items():
        assert change["facts_changed"] == ["Cilium 1.18.3 -> 1.19.1", f"{PDLC}: false -> true"]
        # On a real mesh the reasons are the model's (the oracle fed the mesh's facts).
        assert change["before"]["explanation"] and change["after"]["explanation"], key
        assert f"  {key}: " in after.stdout


def test_two_clusters_without_the_opt_in_on_1_20(tmp_path: Path) -> None:
    """The default run on two clusters: the three-cluster scenario and the cluster-wide steps
    are skipped, each item with its reason; everything else passes, the cluster-mesh entity
    of 1.20 included."""
    for mesh in emulated(2, "1.20.0"):
        run = run_suite(mesh, tmp_path, "--clustermesh-results=r.json")
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert_no_failure(run)
    skips = skip_reasons(run.stdout)
    too_few = [s for s in skips if "three-clusters.scenario.yaml" in s]
    assert too_few and all(
        s.endswith("the scenario names 3 clusters (cluster1, cluster2, cluster3) but "
                   "--kube-contexts gives 2") for s in too_few
    )  # fmt: skip
    opt_in = [s for s in skips if "clusterwide.scenario.yaml" in s]
    assert [s.split(" ", 2)[1] for s in opt_in] == ["[11]", "[12]"], "one line per step"
    assert opt_in[0].endswith(
        "clusterwide.scenario.yaml: step ccnp-from-frontend applies a "
        "CiliumClusterwideNetworkPolicy (policies/ccnp-echo-from-frontend.yaml), which selects "
        "pods of every namespace of a cluster: pass --allow-clusterwide-policies (ini: "
        "clustermesh_allow_clusterwide_policies = true) to run it on real clusters"
    )
    assert "step ccnp-from-any-pod applies a CiliumClusterwideNetworkPolicy" in opt_in[1]
    results = records(tmp_path / "r.json")
    by_status: dict[str, set[str]] = {}
    for record in results:
        by_status.setdefault(record.status, set()).add(record.scenario)
    assert not by_status["passed"] & set(TWO_CLUSTER_ONLY)
    assert "cluster-mesh-entity" in by_status["passed"]
    assert by_status["passed"] | set(TWO_CLUSTER_ONLY) == {
        path.name.removesuffix(".scenario.yaml") for path in scenario_files()
    }
    other = [r for r in results if r.status == "skipped" and r.scenario not in TWO_CLUSTER_ONLY]
    assert other and all(r.message.startswith("when: ") for r in other)
