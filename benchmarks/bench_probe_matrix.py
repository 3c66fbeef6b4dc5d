"""Wall time and execs of one probe step of the Kubernetes backend: 20 clients x 20 servers, half
denied.

Runs on the emulator with a realistic exec latency (for every exec, into client pods and into
the Cilium agents alike), answers from the simulated mesh. A denied probe lasts the whole connect
timeout, so a step of 400 probes should cost about one denied probe, not 200 of them. Each source
pod runs its probes in one exec, so that holds while the number of source pods is within
``--probe-concurrency``; past it execs queue and the step takes two probe times.

Two cases are measured, each against the time of one denied probe in a step where nothing
changed:

- *Settled*: the step's policies are those of the step before, so nothing is waited for; one
  round of probes, then one Hubble read on the node that dropped the denied ones. Target: a
  ratio of at most 1.5.
- *Right after a policy change*: the step's policy (in the servers' cluster) was just written.
  Its agents are asked their revision before the write, and ``cilium-dbg policy wait`` runs in
  them before the probes, one exec per agent; then the round and the Hubble read. Target: a
  ratio of at most 1.2, and as execs the source pods plus one per agent (the emulated clusters
  run one node, so one agent, each).

    python benchmarks/bench_probe_matrix.py [--clients 20] [--servers 20] [--timeout 1]
        [--exec-latency 0.05] [--concurrency 32 16]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
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
from pytest_clustermesh.verdicts import Outcome, Proof, Verdict

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


def deny_odd_servers(deployment: Deployment, variant: int) -> PolicyDoc:
    """A policy denying every client the odd servers; ``variant`` changes its spec (not its
    verdicts), so that applying the next variant is a real policy change."""
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
            "ingress": [{"fromEndpoints": [{"matchLabels": {"app": f"nobody-{variant}"}}]}],
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
    unproven = [r for r in results if r.outcome is Outcome.DROPPED and _unproven(r.evidence)]
    if unproven:
        raise SystemExit(f"{len(unproven)} drop(s) not proven by Hubble: {unproven[0].detail}")
    return elapsed


def _unproven(evidence: object) -> bool:
    return getattr(evidence, "proof", None) is not Proof.PROVEN


@dataclass(frozen=True)
class Changed:
    """One step right after a policy change."""

    seconds: float
    step_execs: int
    write_execs: int
    agent_calls: Counter[str]


def after_change(
    backend: KubernetesMesh,
    mirror: MirroredMesh,
    deployment: Deployment,
    cluster: str,
    probes: Sequence[Probe],
    variant: int,
) -> Changed:
    """A real policy change, then the step: the seconds and execs of the step (revision wait,
    probes, Hubble reads), and the execs of the write (revision reads)."""
    first = backend.execs
    backend.set_policies(deployment, cluster, [deny_odd_servers(deployment, variant)])
    written = backend.execs
    mirror.agents.calls.clear()
    seconds = timed(backend, deployment, probes)
    calls = Counter(_kind(argv) for _, argv in mirror.agents.calls)
    return Changed(seconds, backend.execs - written, written - first, calls)


def _kind(argv: Sequence[str]) -> str:
    if argv[:1] == ["hubble"]:
        return "Hubble read"
    return {"wait": "revision wait", "get": "revision read"}.get(argv[2], " ".join(argv[1:3]))


def run(args: argparse.Namespace) -> None:
    with Emulator() as emulator, MirroredMesh(emulator, exec_latency=args.exec_latency) as mirror:
        c1, c2 = (cluster.context for cluster in emulator)
        kubeconfig = str(emulator.kubeconfig_path)
        print(
            f"{args.clients} clients x {args.servers} servers, half denied; probe timeout "
            f"{args.timeout:g} s, exec latency {args.exec_latency * 1000:g} ms; one node (one "
            "Cilium agent) per cluster"
        )
        for concurrency in args.concurrency:
            settings = KubernetesSettings(
                run_id="bench",
                connect_timeout=args.timeout,
                probe_concurrency=concurrency,
                api_backoff=0.05,
            )
            backend = KubernetesMesh([c1, c2], kubeconfig, settings)
            deployment = matrix_deployment(
                f"cm-bench-{concurrency}", args.clients, args.servers, c1, c2
            )
            try:
                backend.facts()  # preflight: mesh health, the agents
                backend.deploy(deployment)
                probes = step(deployment, args.clients, args.servers, c1, c2)
                denied = [p for p in probes if p.expect is Verdict.DENY][:1]
                backend.set_policies(deployment, c2, [deny_odd_servers(deployment, 0)])
                timed(backend, deployment, probes)  # warm up: clients, connections
                single = min(timed(backend, deployment, denied) for _ in range(3))
                whole = min(timed(backend, deployment, probes) for _ in range(args.repeat))
                changed = min(
                    (
                        after_change(backend, mirror, deployment, c2, probes, variant)
                        for variant in range(1, args.repeat + 1)
                    ),
                    key=lambda c: c.seconds,
                )
                result = backend.probe(deployment, denied)[0]
                assert (result.outcome, result.attempts) == (Outcome.DROPPED, 1), result
            finally:
                backend.teardown(deployment)
                backend.close()
            print(report(concurrency, len(probes), args.clients, single, whole, changed))


def report(
    concurrency: int, probes: int, sources: int, single: float, whole: float, changed: Changed
) -> str:
    ratio = whole / single
    fresh = changed.seconds / single
    agents = changed.step_execs - sources
    calls = ", ".join(f"{n} {kind}" for kind, n in sorted(changed.agent_calls.items()))
    reads = changed.write_execs
    return (
        f"concurrency {concurrency:3d}: settled: step of {probes} probes {whole:.3f} s, one "
        f"denied probe {single:.3f} s, ratio {ratio:.2f} ({_verdict(ratio, 1.5)}, target <= 1.5)"
        f"\n{'':17}right after a policy change: step {changed.seconds:.3f} s, ratio {fresh:.2f} "
        f"({_verdict(fresh, 1.2)}, target <= 1.2); execs in the step: {changed.step_execs} = "
        f"{sources} source pods + {agents} into agents ({calls}); target {sources} + 1 per agent"
        f"\n{'':17}and {reads} revision read(s) when the policy was written"
    )


def _verdict(ratio: float, target: float) -> str:
    return "ok" if ratio <= target else "over target"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--servers", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=1.0, help="probe connect timeout (s)")
    parser.add_argument("--exec-latency", type=float, default=0.05, help="added per exec (s)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[32, 16])
    parser.add_argument("--repeat", type=int, default=3, help="steps timed; the best counts")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
