"""Probes of ``entity/kube-apiserver`` through the Kubernetes backend against the emulated API
servers: the address comes from the ``default/kubernetes`` EndpointSlice, the probe is
``curl --insecure https://ADDRESS:PORT/version``, an answer of any status is allowed, and a drop
is proven by Hubble on the source's node toward the API server's identity; everything the
backend cannot find is a probe error, never a deny."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from typing import Any

import pytest

from clustermesh_emulator import Emulator
from clustermesh_emulator.mesh import MirroredMesh
from clustermesh_emulator.meshfaults import MeshFaults
from pytest_clustermesh.backend import (
    KUBE_APISERVER_PORT,
    ApiServerTarget,
    Deployment,
    HttpRequest,
    PodTarget,
    Probe,
)
from pytest_clustermesh.kubernetes import KubernetesMesh
from pytest_clustermesh.kubernetes.clients import Cluster
from pytest_clustermesh.kubernetes.execs import run_exec
from pytest_clustermesh.verdicts import Outcome, Proof, Verdict

from .conftest import SETTINGS, make_backend
from .kubeworld import C1, C2, cnp, world

APISERVER = ApiServerTarget()


def node_ip(emulator: Emulator, cluster: str) -> str:
    return emulator[cluster].config.node_ip(0)


@pytest.fixture
def served(backend: KubernetesMesh) -> Iterator[Deployment]:
    deployment = world()
    backend.deploy(deployment)
    yield deployment
    backend.teardown(deployment)


def to_apiserver(
    source: str = "tester",
    expect: Verdict | None = None,
    port: int = KUBE_APISERVER_PORT,
    cluster: str = C1,
    http: HttpRequest | None = None,
) -> Probe:
    return Probe(cluster, source, APISERVER, port, "TCP", http, expect=expect)


def command(result: object) -> list[str]:
    line = getattr(result, "command", None)
    assert line is not None
    argv = shlex.split(line)
    return argv[argv.index("--") + 1 :]


def flows_to(mirror: MirroredMesh, cluster: str, address: str) -> list[dict[str, Any]]:
    return [
        response["flow"]
        for response in mirror.agents.flows(cluster, f"{cluster}-control-plane")
        if response["flow"]["IP"]["destination"] == address
    ]


TESTER_TO_BACKEND_ONLY = {
    "endpointSelector": {"matchLabels": {"app": "test"}},
    "egress": [{"toEndpoints": [{"matchLabels": {"app": "backend"}}]}],
}
TESTER_TO_APISERVER = {
    "endpointSelector": {"matchLabels": {"app": "test"}},
    "egress": [{"toEntities": ["kube-apiserver"]}],
}


def test_with_no_policy_each_cluster_probes_its_own_api_server_at_its_address(
    emulator: Emulator, backend: KubernetesMesh, served: Deployment
) -> None:
    results = backend.probe(
        served,
        [to_apiserver("fe", Verdict.ALLOW), to_apiserver("fe", Verdict.ALLOW, cluster=C2)],
    )
    assert [r.outcome for r in results] == [Outcome.ALLOWED] * 2, results
    for result, cluster in zip(results, ("cluster1", "cluster2"), strict=True):
        argv = command(result)
        assert argv[0] == "curl" and "--insecure" in argv
        assert argv[-1] == f"https://{node_ip(emulator, cluster)}:6443/version"
        assert "HTTP 200 from the API server" in result.detail
    assert "version v1.32.2" in results[0].detail


def test_a_path_the_anonymous_user_may_not_get_is_still_a_connection(
    backend: KubernetesMesh, served: Deployment
) -> None:
    """kube-apiserver answers 403 with a Status body: the connection was made, so allowed."""
    [result] = backend.probe(served, [to_apiserver(http=HttpRequest("GET", "/api"))])
    assert result.outcome is Outcome.ALLOWED, result
    assert "HTTP 403 from the API server" in result.detail
    assert 'Forbidden: forbidden: User "system:anonymous" cannot get path "/api"' in result.detail


def test_to_entities_kube_apiserver_lets_the_probe_through(
    backend: KubernetesMesh, served: Deployment
) -> None:
    backend.set_policies(served, C1, [cnp(served, TESTER_TO_APISERVER)])
    [allowed, denied] = backend.probe(
        served,
        [
            to_apiserver(expect=Verdict.ALLOW),
            # the policy is in force: the tester's other egress is denied
            Probe(C1, "tester", PodTarget(C1, "be"), 8080, "TCP", expect=Verdict.DENY),
        ],
    )
    assert allowed.outcome is Outcome.ALLOWED, allowed
    assert denied.outcome is Outcome.DROPPED, denied


def test_an_egress_default_deny_drops_it_proven_by_hubble_on_the_sources_node(
    emulator: Emulator, mirror: MirroredMesh, backend: KubernetesMesh, served: Deployment
) -> None:
    backend.set_policies(served, C1, [cnp(served, TESTER_TO_BACKEND_ONLY)])
    [dropped, untouched] = backend.probe(
        served, [to_apiserver(expect=Verdict.DENY), to_apiserver("fe", Verdict.ALLOW)]
    )
    assert untouched.outcome is Outcome.ALLOWED, untouched
    assert dropped.outcome is Outcome.DROPPED, dropped
    assert dropped.evidence is not None and dropped.evidence.proof is Proof.PROVEN
    assert dropped.evidence.source == "hubble"
    assert "(egress)" in dropped.evidence.where
    [flow] = flows_to(mirror, "cluster1", node_ip(emulator, "cluster1"))
    assert flow["destination"] == {"identity": 7, "labels": ["reserved:kube-apiserver"]}
    assert flow["traffic_direction"] == "EGRESS"
    assert flow["l4"]["TCP"]["destination_port"] == 6443


def test_a_drop_without_a_hubble_record_is_an_error_not_a_deny(
    mirror: MirroredMesh, backend: KubernetesMesh, served: Deployment
) -> None:
    mirror.mesh_faults = MeshFaults(hubble_disabled=frozenset({"cluster1"}))
    backend.set_policies(served, C1, [cnp(served, TESTER_TO_BACKEND_ONLY)])
    [result] = backend.probe(served, [to_apiserver(expect=Verdict.DENY)])
    assert result.outcome is Outcome.PROBE_ERROR, result
    assert result.evidence is None


def test_a_port_the_api_server_does_not_serve_is_an_error_naming_its_port(
    mirror: MirroredMesh, backend: KubernetesMesh, served: Deployment
) -> None:
    execs = mirror.execs
    [result] = backend.probe(served, [to_apiserver(port=443, expect=Verdict.DENY)])
    assert result.outcome is Outcome.PROBE_ERROR, result
    assert "does not listen on port 443" in result.detail
    assert "lists port(s) 6443" in result.detail
    assert "`port: 6443`" in result.detail
    assert mirror.execs == execs  # nothing ran


def fresh(saved: dict[str, Any]) -> dict[str, Any]:
    """A deleted object as a manifest to create again (its server-set metadata dropped)."""
    meta = saved["metadata"]
    body = json.loads(json.dumps({k: v for k, v in saved.items() if k != "metadata"}))
    return {**body, "metadata": {k: meta[k] for k in ("name", "namespace", "labels")}}


def test_a_missing_kubernetes_endpointslice_is_an_error_saying_so(
    emulator: Emulator, backend: KubernetesMesh, served: Deployment
) -> None:
    saved = emulator["cluster1"].delete("EndpointSlice", "kubernetes", "default")
    try:
        [result] = backend.probe(served, [to_apiserver(expect=Verdict.DENY)])
    finally:
        emulator["cluster1"].create(fresh(saved))
    assert result.outcome is Outcome.PROBE_ERROR, result
    assert "has no EndpointSlice labelled kubernetes.io/service-name=kubernetes" in result.detail


def test_an_endpointslice_without_a_ready_endpoint_is_an_error(
    emulator: Emulator, backend: KubernetesMesh, served: Deployment
) -> None:
    cluster = emulator["cluster1"]
    saved = cluster.delete("EndpointSlice", "kubernetes", "default")
    unready = fresh(saved)
    unready["endpoints"][0]["conditions"]["ready"] = False
    cluster.create(unready)
    try:
        [result] = backend.probe(served, [to_apiserver(expect=Verdict.DENY)])
    finally:
        cluster.delete("EndpointSlice", "kubernetes", "default")
        cluster.create(fresh(saved))
    assert result.outcome is Outcome.PROBE_ERROR, result
    assert "list no ready IP address" in result.detail


def test_an_account_that_may_not_list_endpointslices_gets_an_error_saying_so(
    emulator: Emulator, kubeconfig: str, mirror: MirroredMesh, served: Deployment
) -> None:
    emulator["cluster1"].forbid("list", "endpointslices", "default")
    forbidden = make_backend(kubeconfig)
    try:
        [result] = forbidden.probe(served, [to_apiserver(expect=Verdict.DENY)])
    finally:
        forbidden.close()
    assert result.outcome is Outcome.PROBE_ERROR, result
    assert "HTTP 403" in result.detail and "endpointslices" in result.detail
    assert "list on endpointslices.discovery.k8s.io in default" in result.detail


def test_an_api_server_probe_over_udp_is_refused_before_it_runs(
    backend: KubernetesMesh, served: Deployment
) -> None:
    [result] = backend.probe(served, [Probe(C1, "fe", APISERVER, 6443, "UDP")])
    assert result.outcome is Outcome.PROBE_ERROR
    assert "over TCP (HTTPS), not UDP" in result.detail


def test_the_emulated_api_server_answers_as_kube_apiserver_does(
    emulator: Emulator, backend: KubernetesMesh, served: Deployment, kubeconfig: str
) -> None:
    """By hand, as a user pastes the probe: TLS only on 6443, its certificate rejected without
    ``--insecure``, nothing listening on the node's other ports."""
    [result] = backend.probe(served, [to_apiserver("fe")])
    assert result.command is not None
    argv = shlex.split(result.command)
    namespace, pod = argv[argv.index("-n") + 1], argv[argv.index("exec") + 1]
    curl = command(result)
    address = node_ip(emulator, "cluster1")
    secure = [a for a in curl if a != "--insecure"]
    plain = [*curl[:-1], f"http://{address}:6443/version"]
    elsewhere = [*curl[:-1], f"https://{address}:10250/version"]
    cluster = Cluster(C1, kubeconfig, SETTINGS)
    try:
        done = [
            run_exec(cluster, namespace, pod, c, timeout=10) for c in (secure, plain, elsewhere)
        ]
    finally:
        cluster.close()
    assert done[0].exit_code == 60 and "SSL certificate problem" in done[0].stderr
    assert done[1].exit_code == 0
    assert done[1].stdout.startswith("Client sent an HTTP request to an HTTPS server.")
    assert done[2].exit_code == 7 and "Connection refused" in done[2].stderr
