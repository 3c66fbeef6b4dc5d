"""The verdict matrix agrees, pod pair by pod pair, with the simulated mesh and decide_flow.

The matrix decides each identity pair once (Cilium's policy maps are per identity) and maps
pods onto identities; these tests check that the shortcut changes nothing: on the model-table
world of tests/meshworld.py under every row's policies, and on generated worlds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_clustermesh.backend import Deployment, HttpRequest, PodTarget, Probe
from pytest_clustermesh.facts import ClusterFacts
from pytest_clustermesh.policy import ClusterContext, ClusterPolicy, Flow, decide_flow
from pytest_clustermesh.policy.labels import pod_identity
from pytest_clustermesh.policy.pairs import OUTCOMES, Endpoint, PredictionTable, prediction_table
from pytest_clustermesh.policy.parse import parse_document
from pytest_clustermesh.simulated import SimulatedMesh, simulated_facts
from pytest_clustermesh.verdicts import Outcome

from ..meshworld import CLUSTERS, cnp, mesh
from .test_policy_model import ROWS, Row
from .test_properties import FLOWS, World, build, placements, worlds


def world_endpoints(deployment: Deployment, facts: Mapping[str, ClusterFacts]) -> list[Endpoint]:
    """One pod per workload and cluster, with the identity the simulated mesh gives it."""
    labels = {ns.name: ns.labels for ns in deployment.namespaces}
    return [
        Endpoint(
            f"{w.name}@{cluster}",
            cluster,
            pod_identity(
                w.labels,
                w.namespace,
                labels[w.namespace],
                w.service_account,
                facts[cluster].cluster_name,
            ),
        )
        for cluster in deployment.clusters
        for w in deployment.workloads
        if w.replicas_at(cluster) > 0
    ]


def cluster_policies(
    facts: Mapping[str, ClusterFacts], docs: Mapping[str, Sequence[Mapping[str, Any]]]
) -> dict[str, ClusterPolicy]:
    """What the simulated mesh builds from ``docs``, built independently."""
    out = {}
    for cluster, f in facts.items():
        ctx = ClusterContext(f.cluster_name, f.cilium_version, f.default_local_cluster)
        rules = tuple(rule for doc in docs.get(cluster, ()) for rule in parse_document(doc, ctx))
        out[cluster] = ClusterPolicy(f.cluster_name, rules, f.enforcement_mode, f.audit_mode)
    return out


def assert_matches_mesh(
    matrix: PredictionTable, sim: SimulatedMesh, deployment: Deployment, flow: Flow
) -> None:
    """Every pair: the mesh's probe verdict, with REFUSED (allowed, nothing listens) read as
    the policy's ALLOWED."""
    http = HttpRequest(flow.method, flow.path, flow.host, flow.headers)
    for src in matrix.endpoints:
        for dst in matrix.endpoints:
            s_name, s_cluster = src.name.split("@")
            d_name, d_cluster = dst.name.split("@")
            if _port_name(deployment, d_name, flow.port) != flow.port_name:
                continue  # a named port: the mesh decides it with that pod's name for the port
            probe = Probe(s_cluster, s_name, PodTarget(d_cluster, d_name), flow.port, "TCP", http)
            result = sim.predict(deployment, probe)
            expected = Outcome.ALLOWED if result.outcome is Outcome.REFUSED else result.outcome
            assert matrix.outcome(src.name, dst.name) is expected, (
                src.name,
                dst.name,
                result.explanation,
            )
            # The mesh's explanation is the decision's, plus a line when nothing listens.
            reasons = matrix.explain(src.name, dst.name).reasons
            assert result.explanation[: len(reasons)] == reasons


@pytest.mark.parametrize(
    ("row", "version"),
    [pytest.param(row, v, id=f"{row.pins} [{v}]") for row in ROWS for v in row.versions],
)
def test_matrix_agrees_with_the_simulated_mesh_on_every_model_row(row: Row, version: str) -> None:
    """Pins that the per-identity shortcut is exact for every behaviour the model table pins
    (each row's policies, options and flow; all 10 x 10 pod pairs of the two-cluster world)."""
    sim, deployment = mesh(version, row.options, row.policies)
    facts = sim.facts()
    policies = cluster_policies(facts, row.policies)
    names = {p.name for w in deployment.workloads for p in w.ports if p.name}
    ambiguous = frozenset(
        n for n in names if len({p.port for w in deployment.workloads for p in w.ports
                                 if p.name == n}) > 1
    )  # fmt: skip
    for port_name in (_port_name(deployment, "be", row.port), None):
        flow = Flow(
            row.port,
            "TCP",
            method=row.http[0] if row.http else "GET",
            path=row.http[1] if row.http else "/",
            port_name=port_name,
            ambiguous=ambiguous,
            host=row.http[2] if row.http and len(row.http) > 2 else None,
            headers=row.http[3] if row.http and len(row.http) > 3 else (),
        )
        matrix = prediction_table(policies, world_endpoints(deployment, facts), flow)
        assert_matches_mesh(matrix, sim, deployment, flow)


def _port_name(deployment: Deployment, workload: str, port: int) -> str | None:
    """The name ``workload``'s container port ``port`` has (named ports, s5)."""
    spec = next(w for w in deployment.workloads if w.name == workload)
    return next((p.name for p in spec.ports if p.port == port and p.protocol == "TCP"), None)


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_matrix_agrees_with_decide_flow_on_generated_worlds(data: st.DataObject) -> None:
    """Random worlds and policies of the property grammar, every pair and every flow; the
    accessors agree with each other (outcome, pairs, dense, counts)."""
    world: World = data.draw(worlds(clusters=data.draw(st.sampled_from((2, 3)))))
    docs = data.draw(placements(world))
    modes = data.draw(
        st.fixed_dictionaries(
            {c: st.sampled_from(("default", "default", "always", "never")) for c in world.clusters}
        )
    )
    policies = build(world, docs, modes, audit=data.draw(st.booleans()))
    endpoints = world.endpoints()
    for flow in data.draw(FLOWS):
        matrix = prediction_table(policies, endpoints, flow)
        dense = matrix.dense()
        listed = list(matrix.pairs())
        assert len(listed) == len(matrix) == len(dense) == len(endpoints) ** 2
        for k, (src_name, dst_name, outcome) in enumerate(listed):
            src, dst = endpoints[k // len(endpoints)], endpoints[k % len(endpoints)]
            assert (src.name, dst.name) == (src_name, dst_name)
            expected = decide_flow(
                policies[src.cluster], src.identity, policies[dst.cluster], dst.identity, flow
            )
            assert outcome is expected.outcome is OUTCOMES[dense[k]]
            assert matrix.outcome(src.name, dst.name) is outcome
        assert matrix.counts() == {o: Counter(o for *_, o in listed)[o] for o in OUTCOMES}


def test_pods_sharing_an_identity_are_computed_once() -> None:
    """Cilium allocates one identity per label set: 50 replicas of two workloads in each of
    two clusters are 4 identities, so 16 identity pairs decide 40,000 pod pairs."""
    facts = simulated_facts(CLUSTERS, "1.19")
    spec = {"endpointSelector": {"matchLabels": {"app": "b"}}, "ingress": [{}]}
    policies = cluster_policies(facts, {"c1": [cnp(spec)]})
    endpoints = [
        Endpoint(
            f"{app}-{cluster}-{i}", cluster, pod_identity({"app": app}, "demo", {}, None, cluster)
        )
        for cluster in CLUSTERS
        for app in ("a", "b")
        for i in range(50)
    ]
    matrix = prediction_table(policies, endpoints, Flow(80))
    assert (matrix.identities, matrix.identity_pairs, len(matrix)) == (4, 16, 40_000)
    # ingress [{}] on b in c1: default deny with nothing allowed (SF6); all else open.
    assert matrix.counts() == {
        Outcome.ALLOWED: 30_000,
        Outcome.DROPPED: 10_000,
        Outcome.L7_DENIED: 0,
        Outcome.PROBE_ERROR: 0,
    }
    assert matrix.outcome("a-c2-7", "b-c1-3") is Outcome.DROPPED
    assert matrix.outcome("b-c1-3", "a-c2-7") is Outcome.ALLOWED
    assert len(list(matrix.pairs(Outcome.DROPPED))) == 10_000
    reasons = matrix.explain("a-c2-7", "b-c1-3").reasons
    assert any("ingress at c1: default deny" in r for r in reasons)


def test_a_cluster_without_policy_state_is_an_error() -> None:
    ep = Endpoint("p", "c9", pod_identity({}, "demo", {}, None, "c9"))
    with pytest.raises(KeyError, match="c9"):
        prediction_table({}, [ep], Flow(80))
