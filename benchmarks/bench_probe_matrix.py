"""Wall time of one probe step of the Kubernetes backend: 20 clients x 20 servers, half denied.

Runs on the emulator with a realistic exec latency, answers from the simulated mesh. A denied
probe lasts the whole connect timeout, so a step of 400 probes should cost about one denied
probe, not 200 of them: the target is a ratio of at most 1.5 to a single denied probe's time.
Each source pod runs its probes in one exec, so the ratio holds while the number of source pods
is within ``--probe-concurrency``; past it execs queue and the step takes two probe times.

Two cases are measured. *Settled*: the step's policies changed more than ``--policy-settle``
seconds ago (a step whose policies are those of the previous step, or a step probed after the
settle time), so one round decides; the 1.5 target applies to it. *Right after a policy change*:
every outcome must be confirmed by a second round ``probe_interval`` later, so the step and the
single denied probe both cost two rounds and the pause between them; their ratio is reported
too.

    python benchmarks/bench_probe_matrix.py [--clients 20] [--servers 20] [--timeout 1]
        [--exec-latency 0.05] [--concurrency 32 16] [--policy-settle 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

# The emulator is a package beside the plugin, not installed with it: import it from the root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from clustermesh_emulator import Emulator
from clustermesh_emulator.mesh import MirroredMesh
from pytest_clustermesh.backend import (
    Deployment,
    NamespaceSpec,
    PodTarget,
    PolicyDoc,
    PortSpec,
    Probe,
    WorkloadSpec,
    ownership_labels,
)
from pytest_clustermesh.kubernetes import KubernetesMesh, KubernetesSettings
from pytest_clustermesh.verdicts import Outcome, Verdict

PORT = 8080


def matrix_deployment(key: str, clients: int, servers: int, c1: str, c2: str) -> Deployment:
    """Clients in ``c1``, servers in ``c2``; odd servers will deny everyone."""
    ns = f"{key}-bench"
    workloads = [
        WorkloadSpec(f"client-{i}", "client", ns, {"app": f"client-{i}"}, (c1,))
        for i in range(clients)
    ] + [
        WorkloadSpec(
            f"server-{j}",
            "server",
            ns,
            {"app": f"server-{j}", "parity": "odd" if j % 2 else "even"},
            (c2,),
            ports=(PortSpec(PORT),),
        )
        for j in range(servers)
    ]
    return Deployment(key, (c1, c2), (NamespaceSpec("bench", ns),), tuple(workloads))


def deny_odd_servers(deployment: Deployment) -> PolicyDoc:
    namespace = deployment.namespaces[0].name
    body = {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": {
            "name": "deny-odd",
            "namespace": namespace,
            "labels": ownership_labels(deployment),
        },
        "spec": {
            "endpointSelector": {"matchLabels": {"parity": "odd"}},
            "ingress": [{"fromEndpoints": [{"matchLabels": {"app": "nobody"}}]}],
        },
    }
    return PolicyDoc("CiliumNetworkPolicy", "deny-odd", namespace, body)


def step(deployment: Deployment, clients: int, servers: int, c1: str, c2: str) -> list[Probe]:
    return [
        Probe(
            c1,
            f"client-{i}",
            PodTarget(c2, f"server-{j}"),
            PORT,
            expect=Verdict.DENY if j % 2 else Verdict.ALLOW,
        )
        for i in range(clients)
        for j in range(servers)
    ]


def timed(backend: KubernetesMesh, deployment: Deployment, probes: Sequence[Probe]) -> float:
    started = time.monotonic()
    results = backend.probe(deployment, probes)
    elapsed = time.monotonic() - started
    wrong = [
        (p, r)
        for p, r in zip(probes, results, strict=True)
        if p.expect is not None and not p.expect.accepts(r.outcome)
    ]
    if wrong:
        probe, result = wrong[0]
        raise SystemExit(f"{len(wrong)} probe(s) not as expected, e.g. {probe}: {result.detail}")
    return elapsed


def after_change(
    backend: KubernetesMesh, deployment: Deployment, cluster: str, probes: Sequence[Probe]
) -> float:
    """:func:`timed` right after (re)applying the step's policies: outcomes need confirming."""
    backend.set_policies(deployment, cluster, [deny_odd_servers(deployment)])
    return timed(backend, deployment, probes)


def run(args: argparse.Namespace) -> None:
    with Emulator() as emulator, MirroredMesh(emulator, exec_latency=args.exec_latency):
        c1, c2 = (cluster.context for cluster in emulator)
        kubeconfig = str(emulator.kubeconfig_path)
        print(
            f"{args.clients} clients x {args.servers} servers, half denied; probe timeout "
            f"{args.timeout:g} s, exec latency {args.exec_latency * 1000:g} ms"
        )
        for concurrency in args.concurrency:
            settings = KubernetesSettings(
                run_id="bench",
                connect_timeout=args.timeout,
                probe_concurrency=concurrency,
                api_backoff=0.05,
                policy_settle=args.policy_settle,
            )
            backend = KubernetesMesh([c1, c2], kubeconfig, settings)
            deployment = matrix_deployment(
                f"cm-bench-{concurrency}", args.clients, args.servers, c1, c2
            )
            try:
                backend.deploy(deployment)
                probes = step(deployment, args.clients, args.servers, c1, c2)
                denied = [p for p in probes if p.expect is Verdict.DENY][:1]
                fresh_single = min(after_change(backend, deployment, c2, denied) for _ in "ab")
                fresh_whole = min(after_change(backend, deployment, c2, probes) for _ in "ab")
                changed = time.monotonic()
                timed(backend, deployment, probes)  # warm up: clients, connections
                time.sleep(max(0.0, changed + args.policy_settle - time.monotonic()))
                single = min(timed(backend, deployment, denied) for _ in range(3))
                whole = min(timed(backend, deployment, probes) for _ in range(args.repeat))
                result = backend.probe(deployment, denied)[0]
                assert (result.outcome, result.attempts) == (Outcome.DROPPED, 1), result
            finally:
                backend.teardown(deployment)
                backend.close()
            ratio = whole / single
            verdict = "ok" if ratio <= 1.5 else "over target"
            print(
                f"concurrency {concurrency:3d}: settled: step of {len(probes)} probes "
                f"{whole:.3f} s, one denied probe {single:.3f} s, ratio {ratio:.2f} "
                f"({verdict}, target <= 1.5)\n"
                f"{'':17}right after a policy change (confirmation round): step "
                f"{fresh_whole:.3f} s, one denied probe {fresh_single:.3f} s, ratio "
                f"{fresh_whole / fresh_single:.2f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--servers", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=1.0, help="probe connect timeout (s)")
    parser.add_argument("--exec-latency", type=float, default=0.05, help="added per exec (s)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[32, 16])
    parser.add_argument("--repeat", type=int, default=3, help="steps timed; the best counts")
    parser.add_argument(
        "--policy-settle",
        type=float,
        default=KubernetesSettings.policy_settle,
        help="seconds after a policy change during which outcomes are confirmed (s)",
    )
    run(parser.parse_args())


if __name__ == "__main__":
    main()
