"""Benchmark: the whole pod-to-pod verdict matrix of a two-cluster mesh, for one port.

Run ``python benchmarks/bench_policy_matrix.py`` (``--help`` for the knobs). The world is
built deterministically from ``--seed``: 2 clusters x 1,000 pods over 100 identities each
(5 namespaces x 20 label sets, the same workloads in both clusters), and 200 policy documents
in a realistic mix (CNP ingress/egress allows with fromEndpoints/toEndpoints, some with
matchExpressions or namespace labels, deny rules, entities, L7 rules, KNP, CCNP), each applied
to c1, c2 or both. The matrix is computed with
:func:`pytest_clustermesh.policy.pairs.prediction_table`; a sample of pairs is then checked
against :func:`~pytest_clustermesh.policy.decide_flow` on fresh policy objects (cold caches).
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from packaging.version import Version

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pytest_clustermesh.policy import ClusterContext, ClusterPolicy, Flow, decide_flow
from pytest_clustermesh.policy.labels import pod_identity
from pytest_clustermesh.policy.pairs import OUTCOMES, Endpoint, prediction_table
from pytest_clustermesh.policy.parse import parse_document

CLUSTERS = ("c1", "c2")
NAMESPACES = {f"ns-{i}": {"team": f"t{i % 3}", "env": "prod" if i % 2 else "dev"} for i in range(5)}
APPS = [f"app-{i}" for i in range(12)]
TIERS = ("web", "api", "db")
VERSIONS = ("v1", "v2")
PORTS = (80, 443, 8080, 9090)

Doc = dict[str, Any]


def label_sets(rng: random.Random, per_namespace: int) -> list[tuple[str, dict[str, str]]]:
    """``per_namespace`` distinct label sets in each namespace."""
    combos = [(a, t, v) for a in APPS for t in TIERS for v in VERSIONS]
    out = []
    for ns in NAMESPACES:
        for app, tier, version in rng.sample(combos, per_namespace):
            out.append((ns, {"app": app, "tier": tier, "version": version}))
    return out


def endpoints(rng: random.Random, pods: int, identities: int) -> list[Endpoint]:
    sets = label_sets(rng, identities // len(NAMESPACES))
    result = []
    for cluster in CLUSTERS:
        for i in range(pods):
            ns, labels = sets[i % len(sets)]
            identity = pod_identity(labels, ns, NAMESPACES[ns], labels["app"], cluster)
            result.append(Endpoint(f"{cluster}/{ns}/{labels['app']}-{i}", cluster, identity))
    return result


class PolicyGen:
    """Random policy documents from a small grammar, deterministic for a seed."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.count = 0

    def name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}-{self.count}"

    def selector(self, *, expressions: bool = False) -> Doc:
        rng = self.rng
        labels: dict[str, str] = {"app": rng.choice(APPS)}
        if rng.random() < 0.4:
            labels["tier"] = rng.choice(TIERS)
        if rng.random() < 0.1:
            labels["io.cilium.k8s.policy.cluster"] = rng.choice(CLUSTERS)
        sel: Doc = {"matchLabels": labels}
        if expressions:
            del labels["app"]
            sel["matchExpressions"] = [
                rng.choice(
                    [
                        {"key": "app", "operator": "In", "values": rng.sample(APPS, 3)},
                        {"key": "tier", "operator": "NotIn", "values": [rng.choice(TIERS)]},
                        {"key": "version", "operator": "Exists"},
                        {"key": "io.cilium.k8s.policy.cluster", "operator": "Exists"},
                    ]
                )
            ]
        return sel

    def ports(self, *, http: bool = False) -> list[Doc]:
        rng = self.rng
        item: Doc = {
            "ports": [{"port": str(rng.choice(PORTS)), "protocol": rng.choice(["TCP", "ANY"])}]
        }
        if http:
            item["rules"] = {"http": [{"method": "GET", "path": rng.choice(["/", "/api/.*"])}]}
        return [item]

    def peer_entry(self, direction: str, *, expressions: bool = False, deny: bool = False) -> Doc:
        key = "fromEndpoints" if direction == "ingress" else "toEndpoints"
        entry: Doc = {key: [self.selector(expressions=expressions)]}
        if self.rng.random() < 0.2:
            entry[key].append({"matchLabels": {"io.cilium.k8s.namespace.labels.team": "t1"}})
        if self.rng.random() < 0.8:
            # Deny rules take no L7 rules (security/policy/deny.rst).
            entry["toPorts"] = self.ports(http=not deny and self.rng.random() < 0.1)
        return entry

    def cnp(self, spec: Doc) -> Doc:
        return {
            "apiVersion": "cilium.io/v2",
            "kind": "CiliumNetworkPolicy",
            "metadata": {"name": self.name("cnp"), "namespace": self.rng.choice(list(NAMESPACES))},
            "spec": spec,
        }

    def ccnp(self, spec: Doc) -> Doc:
        return {
            "apiVersion": "cilium.io/v2",
            "kind": "CiliumClusterwideNetworkPolicy",
            "metadata": {"name": self.name("ccnp")},
            "spec": spec,
        }

    def ingress_allow(self) -> Doc:
        entries = [self.peer_entry("ingress") for _ in range(self.rng.randint(1, 3))]
        return self.cnp({"endpointSelector": self.selector(), "ingress": entries})

    def egress_allow(self) -> Doc:
        entries = [self.peer_entry("egress") for _ in range(self.rng.randint(1, 2))]
        spec: Doc = {"endpointSelector": self.selector(), "egress": entries}
        if self.rng.random() < 0.3:
            spec["enableDefaultDeny"] = {"egress": False}
        return self.cnp(spec)

    def expressions(self) -> Doc:
        direction = self.rng.choice(["ingress", "egress"])
        return self.cnp(
            {
                "endpointSelector": self.selector(expressions=True),
                direction: [self.peer_entry(direction, expressions=True)],
            }
        )

    def deny(self) -> Doc:
        direction = self.rng.choice(["ingress", "egress"])
        spec: Doc = {
            "endpointSelector": self.selector(),
            f"{direction}Deny": [self.peer_entry(direction, deny=True)],
        }
        # Most deny policies come with an allow-all, as in Cilium's own deny examples.
        if self.rng.random() < 0.7:
            key = "fromEntities" if direction == "ingress" else "toEntities"
            spec[direction] = [{key: ["all"]}]
        make = self.ccnp if self.rng.random() < 0.3 else self.cnp
        return make(spec)

    def entities(self) -> Doc:
        direction = self.rng.choice(["ingress", "egress"])
        key = "fromEntities" if direction == "ingress" else "toEntities"
        entities = self.rng.sample(["cluster", "all", "world", "host", "remote-node"], 2)
        return self.cnp({"endpointSelector": self.selector(), direction: [{key: entities}]})

    def knp(self) -> Doc:
        rng = self.rng
        peer: Doc = rng.choice(
            [
                {"podSelector": {"matchLabels": {"app": rng.choice(APPS)}}},
                {"namespaceSelector": {"matchLabels": {"team": f"t{rng.randint(0, 2)}"}}},
                {"namespaceSelector": {}},
                {"ipBlock": {"cidr": "10.0.0.0/8"}},
            ]
        )
        rule: Doc = {"from": [peer]}
        if rng.random() < 0.7:
            rule["ports"] = [{"port": rng.choice(PORTS), "protocol": "TCP"}]
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": self.name("knp"), "namespace": rng.choice(list(NAMESPACES))},
            "spec": {"podSelector": {"matchLabels": {"app": rng.choice(APPS)}}, "ingress": [rule]},
        }

    def clusterwide(self) -> Doc:
        direction = self.rng.choice(["ingress", "egress"])
        return self.ccnp(
            {"endpointSelector": self.selector(), direction: [self.peer_entry(direction)]}
        )

    def mix(self, total: int) -> list[Doc]:
        makers: list[tuple[float, Callable[[], Doc]]] = [
            (0.35, self.ingress_allow),
            (0.15, self.egress_allow),
            (0.10, self.expressions),
            (0.10, self.deny),
            (0.10, self.entities),
            (0.10, self.knp),
            (0.10, self.clusterwide),
        ]
        weights = [w for w, _ in makers]
        return [self.rng.choices(makers, weights)[0][1]() for _ in range(total)]


def cluster_policies(rng: random.Random, docs: list[Doc], version: str) -> dict[str, ClusterPolicy]:
    """Each document goes to c1, c2 or both (40/40/20)."""
    placed: dict[str, list[Doc]] = {c: [] for c in CLUSTERS}
    for doc in docs:
        where = rng.choices([("c1",), ("c2",), CLUSTERS], [0.4, 0.4, 0.2])[0]
        for cluster in where:
            placed[cluster].append(doc)
    policies = {}
    for cluster, cluster_docs in placed.items():
        ctx = ClusterContext(cluster, Version(version), default_local_cluster=True)
        rules = tuple(rule for doc in cluster_docs for rule in parse_document(doc, ctx))
        policies[cluster] = ClusterPolicy(cluster, rules)
    return policies


def build(args: argparse.Namespace) -> tuple[dict[str, ClusterPolicy], list[Endpoint], int]:
    rng = random.Random(args.seed)
    eps = endpoints(rng, args.pods, args.identities)
    docs = PolicyGen(rng).mix(args.policies)
    policies = cluster_policies(rng, docs, args.version)
    return policies, eps, len(docs)


def fresh(policies: dict[str, ClusterPolicy]) -> dict[str, ClusterPolicy]:
    """Equal policy states with empty caches."""
    return {
        c: ClusterPolicy(p.cluster_name, p.rules, p.enforcement, p.audit)
        for c, p in policies.items()
    }


def show(label: str, value: str) -> None:
    print(f"{label + ':':<26}{value}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--pods", type=int, default=1000, help="pods per cluster")
    parser.add_argument("--identities", type=int, default=100, help="identities per cluster")
    parser.add_argument("--policies", type=int, default=200)
    parser.add_argument("--version", default="1.19")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--check", type=int, default=2000, help="pairs checked by decide_flow")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    policies, eps, n_docs = build(args)
    setup = time.perf_counter() - start
    rules = {c: len(p.rules) for c, p in policies.items()}
    flow = Flow(args.port, "TCP")
    print(f"world: {len(eps)} pods in {len(CLUSTERS)} clusters, {n_docs} policy documents")
    print(f"       rules per cluster: {rules}; flow {flow.port}/{flow.protocol}")
    show("setup (world, parse)", f"{setup:.3f} s")

    start = time.perf_counter()
    matrix = prediction_table(policies, eps, flow)
    build_time = time.perf_counter() - start
    start = time.perf_counter()
    counts = matrix.counts()
    count_time = time.perf_counter() - start
    start = time.perf_counter()
    dense = matrix.dense()
    dense_time = time.perf_counter() - start
    pairs = len(matrix)
    total = build_time + count_time + dense_time
    computed = sum(p.index.decisions_computed for p in policies.values())
    show("matrix (identity table)", f"{build_time:.3f} s")
    show("counts", f"{count_time:.3f} s")
    show(f"dense ({len(dense):,} bytes)", f"{dense_time:.3f} s")
    show("matrix total", f"{total:.3f} s for {pairs:,} pod pairs")
    show("pairs per second", f"{pairs / total:,.0f}")
    show("identity slots", f"{matrix.identities}")
    show("identity pairs", f"{matrix.identity_pairs:,}")
    show("direction verdicts", f"{computed:,} evaluated (distinct selection x peer class)")
    show("outcome counts", ", ".join(f"{o.value} {n:,}" for o, n in counts.items()))
    assert sum(counts.values()) == pairs

    rng = random.Random(args.seed + 1)
    cold = fresh(policies)
    start = time.perf_counter()
    for _ in range(args.check):
        i, j = rng.randrange(len(eps)), rng.randrange(len(eps))
        src, dst = eps[i], eps[j]
        expected = decide_flow(
            cold[src.cluster], src.identity, cold[dst.cluster], dst.identity, flow
        ).outcome
        got = matrix.outcome_at(i, j)
        if got is not expected or OUTCOMES[dense[i * len(eps) + j]] is not expected:
            print(f"MISMATCH {src.name} -> {dst.name}: {got} != {expected}")
            return 1
    check_time = time.perf_counter() - start
    show("decide_flow check", f"{args.check} random pairs agree ({check_time:.3f} s, cold caches)")

    tracemalloc.start()
    prediction_table(fresh(policies), eps, flow).dense()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    show("peak memory (traced)", f"{peak / 2**20:.1f} MiB for matrix + dense, cold caches")
    show("max RSS (process)", f"{maxrss / 1024:.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
