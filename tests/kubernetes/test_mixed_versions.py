"""A real mesh in the middle of a rolling upgrade (emulated): preflight reads each cluster's
version and options, the prediction decides each direction with its own cluster's (the oracle
is fed those facts), and the run says the mesh is mixed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from clustermesh_emulator import ClusterConfig, Emulator
from clustermesh_emulator.mesh import MirroredMesh

from .test_user_command import FAST, REPO

SCENARIO = """\
clusters: [cluster1, cluster2]
workloads:
  frontend: {role: client, labels: {app: frontend}}
  myapp: {role: server, labels: {app: myapp}, port: 80}
steps:
  - name: policy-on-both
    policies: {"*": [network-policy.yaml]}
    expect:
      - {from: cluster1/frontend, to: cluster2/myapp, verdict: deny,
         when: {destination: {policy-default-local-cluster: true}}}
      - {from: cluster1/frontend, to: cluster2/myapp, verdict: allow,
         when: {destination: {policy-default-local-cluster: false}}}
      - {from: cluster2/frontend, to: cluster1/myapp, verdict: deny,
         when: {destination: {policy-default-local-cluster: true}}}
      - {from: cluster2/frontend, to: cluster1/myapp, verdict: allow,
         when: {destination: {policy-default-local-cluster: false}}}
"""


def test_a_mixed_real_mesh_is_predicted_per_cluster_and_reported(tmp_path: Path) -> None:
    folder = tmp_path / "scenarios" / "mixed"
    folder.mkdir(parents=True)
    shutil.copy(REPO / "scenarios" / "guide" / "network-policy.yaml", folder)
    (folder / "mixed.scenario.yaml").write_text(SCENARIO)
    clusters = [
        ClusterConfig("cluster1", cluster_id=1, cilium_version="1.19.1"),
        ClusterConfig("cluster2", cluster_id=2, cilium_version="1.18.3"),
    ]
    with Emulator(clusters) as mesh, MirroredMesh(mesh, seed=7):
        run = subprocess.run(
            [sys.executable, "-m", "pytest", str(folder), "-rs",
             "--kube-contexts=kind-cluster1,kind-cluster2",
             f"--kubeconfig={mesh.kubeconfig_path}", "--clustermesh-results=out.json", *FAST],
            cwd=tmp_path, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    assert run.returncode == 0, run.stdout[-6000:]
    assert "2 passed, 2 skipped" in run.stdout
    assert (
        "clustermesh: mixed mesh, each direction is decided with its own cluster's settings: "
        "kind-cluster1: Cilium 1.19.1, policy-default-local-cluster=true, the version's default; "
        "kind-cluster2: Cilium 1.18.3, policy-default-local-cluster=false, the version's default"
    ) in run.stdout
    records = {
        (r["source"], r["target"]): r
        for r in json.loads((tmp_path / "out.json").read_text())["records"]
        if r["observed"] is not None
    }
    into_119 = records[("cluster2/frontend", "cluster1/myapp")]
    into_118 = records[("cluster1/frontend", "cluster2/myapp")]
    assert (into_119["prediction"], into_118["prediction"]) == ("dropped", "allowed")
    assert (into_119["observed"], into_118["observed"]) == ("dropped", "allowed")
    assert any(
        line.startswith(
            "ingress at cluster1 (Cilium 1.19.1, policy-default-local-cluster=true, the "
            "version's default): default deny"
        )
        for line in into_119["explanation"]
    ), into_119["explanation"]
