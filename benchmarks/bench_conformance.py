"""Wall time of the bundled conformance suite on the emulated two-cluster mesh, default settings.

Runs the user's own command in a subprocess, exactly as the README gives it:

    pytest --pyargs pytest_clustermesh.conformance --kube-contexts=kind-cluster1,kind-cluster2 \
        --kubeconfig K

against ``clustermesh_emulator`` (started in this process, answering probe execs from the
simulated mesh with a realistic exec latency), with every Kubernetes backend option at its
default: a 2 s probe timeout, retries, waiting for policy revisions. The target is under 3
minutes on a 2-core machine. It prints the wall time, the items, and the time per scenario
(from the results file's per-item durations).

    python benchmarks/bench_conformance.py [--clusters 2] [--cilium-version 1.18.3]
        [--exec-latency 0.05] [--allow-clusterwide] [--option KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

# The emulator is a package beside the plugin, not installed with it: import it from the root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from clustermesh_emulator import Emulator
from clustermesh_emulator.config import default_clusters
from clustermesh_emulator.mesh import MirroredMesh

TARGET_S = 180.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clusters", type=int, default=2)
    parser.add_argument("--cilium-version", default="1.18.3")
    parser.add_argument("--exec-latency", type=float, default=0.05, help="seconds per exec")
    parser.add_argument("--allow-clusterwide", action="store_true")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="a cilium-config key of every emulated cluster")  # fmt: skip
    args = parser.parse_args()
    options = dict(item.split("=", 1) for item in args.option)
    configs = default_clusters(args.clusters, cilium_version=args.cilium_version, options=options)
    with (
        tempfile.TemporaryDirectory() as folder,
        Emulator(configs) as emulator,
        MirroredMesh(emulator, exec_latency=args.exec_latency, seed=7),
    ):
        contexts = ",".join(cluster.context for cluster in emulator)
        results = Path(folder) / "results.json"
        command = [
            sys.executable, "-m", "pytest", "--pyargs", "pytest_clustermesh.conformance",
            f"--kube-contexts={contexts}", f"--kubeconfig={emulator.kubeconfig_path}",
            f"--clustermesh-results={results}", "-q", "-p", "no:cacheprovider",
        ]  # fmt: skip
        if args.allow_clusterwide:
            command.append("--allow-clusterwide-policies")
        started = time.perf_counter()
        run = subprocess.run(command, cwd=folder, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
        summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr
        records = json.loads(results.read_text())["records"] if results.exists() else []

    per_scenario: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for record in records:
        per_scenario[record["scenario"]][0] += 1
        per_scenario[record["scenario"]][1] += float(record["duration"])
    print(
        f"conformance suite on the emulated {args.clusters}-cluster mesh, Cilium "
        f"{args.cilium_version}{' ' + str(options) if options else ''}, default settings, "
        f"exec latency {args.exec_latency * 1000:.0f} ms, {os.cpu_count()} CPUs"
    )
    print(f"  pytest: {summary}")
    print("  per scenario (items, seconds in its items):")
    for name, (items, seconds) in sorted(per_scenario.items()):
        print(f"    {name:26} {int(items):4} {seconds:7.2f}")
    verdict = "within" if wall < TARGET_S else "OVER"
    print(f"  wall time: {wall:.1f} s ({verdict} the {TARGET_S:.0f} s target)")
    return 0 if run.returncode == 0 and wall < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
