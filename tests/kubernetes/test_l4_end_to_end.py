"""UDP, SCTP and ICMP probes, and probes to destinations outside the mesh, through the
Kubernetes backend against the emulated API servers: deployed with their servers, run as
``agnhost connect``/``ping`` in the client pods, answered as those tools answer, and their drops
proven by the emulated agents' Hubble or left errors."""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Iterator
from typing import Any

import pytest

from clustermesh_emulator import Emulator
from clustermesh_emulator.mesh import MirroredMesh
from clustermesh_emulator.meshfaults import MeshFaults
from pytest_clustermesh.backend import (
    Deployment,
    DnsTarget,
    ExternalTarget,
    HttpRequest,
    PodTarget,
    PortSpec,
    Probe,
    ProbeProtocol,
    ServiceTarget,
    Target,
)
from pytest_clustermesh.kubernetes import KubernetesMesh
from pytest_clustermesh.kubernetes.clients import Cluster
from pytest_clustermesh.kubernetes.execs import run_exec
from pytest_clustermesh.runner import judge
from pytest_clustermesh.verdicts import Outcome, Proof, Verdict

from .conftest import SETTINGS, make_backend
from .kubeworld import BACKEND_FROM_FRONTEND, C1, C2, cnp, world

PORTS = (PortSpec(8080), PortSpec(53, "UDP"), PortSpec(9000, "SCTP"))
WORLD_ADDRESS = "203.0.113.10"
"""TEST-NET-3 (RFC 5737): outside every emulated cluster's ranges, so the world."""


def l4_world() -> Deployment:
    """The demo deployment, its server ``be`` listening on TCP 8080, UDP 53 and SCTP 9000."""
    base = world()
    be = base.workload("be")
    return world(be=dataclasses.replace(be, ports=PORTS))


@pytest.fixture
def served(backend: KubernetesMesh) -> Iterator[Deployment]:
    deployment = l4_world()
    backend.deploy(deployment)
    yield deployment
    backend.teardown(deployment)


def probe(
    source: str,
    target: Target,
    port: int,
    protocol: ProbeProtocol,
    expect: Verdict | None = None,
    cluster: str = C1,
) -> Probe:
    return Probe(cluster, source, target, port, protocol, expect=expect)


def command(result: object) -> list[str]:
    line = getattr(result, "command", None)
    assert line is not None
    argv = shlex.split(line)
    return argv[argv.index("--") + 1 :]


def agent_flows(mirror: MirroredMesh) -> list[dict]:  # type: ignore[type-arg]
    return [
        response["flow"]
        for cluster in ("cluster1", "cluster2")
        for node in (f"{cluster}-control-plane",)
        for response in mirror.agents.flows(cluster, node)
    ]


# -- deployment ----------------------------------------------------------------------------------


def dns_egress(pattern: str | None) -> dict[str, Any]:
    """An egress entry allowing DNS to kube-dns on port 53; with a ``matchPattern`` DNS rule
    (the lookups go through Cilium's DNS proxy), or without (they bypass it)."""
    port: dict[str, Any] = {"ports": [{"port": "53", "protocol": "ANY"}]}
    if pattern is not None:
        port["rules"] = {"dns": [{"matchPattern": pattern}]}
    kube_dns = {"k8s:io.kubernetes.pod.namespace": "kube-system", "k8s:k8s-app": "kube-dns"}
    return {"toEndpoints": [{"matchLabels": kube_dns}], "toPorts": [port]}


def test_servers_serve_udp_and_sctp_from_agnhost_porter(
    emulator: Emulator, backend: KubernetesMesh, served: Deployment
) -> None:
    [pod] = [
        pod
        for pod in emulator["cluster2"].list_objects("pods", served.namespaces[0].name)
        if pod["metadata"]["name"].startswith("be-")
    ]
    containers = {c["name"]: c for c in pod["spec"]["containers"]}
    assert sorted(containers) == ["echo-8080", "sctp-9000", "udp-53"]
    assert containers["udp-53"]["ports"] == [{"containerPort": 53, "protocol": "UDP"}]
    assert containers["udp-53"]["command"] == ["/agnhost", "porter"]
    service = emulator["cluster2"].get("services", "be", served.namespaces[0].name)
    assert service is not None
    assert [(p["port"], p["protocol"]) for p in service["spec"]["ports"]] == [
        (8080, "TCP"),
        (53, "UDP"),
        (9000, "SCTP"),
    ]


# -- UDP and SCTP --------------------------------------------------------------------------------


def test_udp_and_sctp_are_allowed_by_agnhost_connect(
    backend: KubernetesMesh, served: Deployment
) -> None:
    results = backend.probe(
        served,
        [
            probe("fe", PodTarget(C2, "be"), 53, "UDP", Verdict.ALLOW),
            probe("fe", PodTarget(C1, "be"), 9000, "SCTP", Verdict.ALLOW),
            probe("fe", ServiceTarget("be"), 53, "UDP", Verdict.ALLOW),
        ],
    )
    assert [r.outcome for r in results] == [Outcome.ALLOWED] * 3, results
    assert command(results[0])[:2] == ["/agnhost", "connect"]
    assert "--protocol=udp" in command(results[0])
    assert "--protocol=sctp" in command(results[1])
    assert command(results[0])[2].endswith(":53")


def test_the_command_a_user_pastes_gets_the_same_answer(
    backend: KubernetesMesh, served: Deployment, kubeconfig: str
) -> None:
    backend.set_policies(served, C2, [cnp(served, BACKEND_FROM_FRONTEND)])
    results = backend.probe(
        served,
        [
            probe("fe", PodTarget(C2, "be"), 53, "UDP"),
            probe("tester", PodTarget(C2, "be"), 53, "UDP"),
            probe("tester", PodTarget(C2, "be"), 0, "ICMP"),
        ],
    )
    cluster = Cluster(C1, kubeconfig, SETTINGS)
    try:
        done = []
        for result in results:
            assert result.command is not None
            argv = shlex.split(result.command)
            namespace, pod = argv[argv.index("-n") + 1], argv[argv.index("exec") + 1]
            done.append(run_exec(cluster, namespace, pod, command(result), timeout=10))
    finally:
        cluster.close()
    assert [(d.exit_code, d.stderr.split(":")[0]) for d in done[:2]] == [(0, ""), (1, "TIMEOUT")]
    assert done[2].exit_code == 1 and "0 packets received" in done[2].stdout


def test_a_udp_drop_is_proven_by_hubble_with_the_udp_port(
    mirror: MirroredMesh, backend: KubernetesMesh, served: Deployment
) -> None:
    backend.set_policies(served, C2, [cnp(served, BACKEND_FROM_FRONTEND)])
    [dropped, allowed] = backend.probe(
        served,
        [
            probe("tester", PodTarget(C2, "be"), 53, "UDP", Verdict.DENY),
            probe("fe", PodTarget(C2, "be"), 53, "UDP", Verdict.ALLOW),
        ],
    )
    assert allowed.outcome is Outcome.ALLOWED, allowed
    assert dropped.outcome is Outcome.DROPPED, dropped
    assert dropped.evidence is not None and dropped.evidence.proof is Proof.PROVEN
    assert dropped.evidence.source == "hubble"
    assert "agnhost connect --protocol=udp: no answer" in dropped.detail
    flows = [f for f in agent_flows(mirror) if "UDP" in f["l4"]]
    assert flows and flows[-1]["l4"]["UDP"]["destination_port"] == 53
    assert flows[-1]["Summary"] == "UDP"
    assert judge(Verdict.DENY, None, dropped) == (True, "")


def test_a_policy_for_tcp_does_not_open_udp(backend: KubernetesMesh, served: Deployment) -> None:
    tcp_only = {
        "endpointSelector": {"matchLabels": {"app": "backend"}},
        "ingress": [
            {
                "fromEndpoints": [{"matchLabels": {"app": "test"}}],
                "toPorts": [{"ports": [{"port": "8080", "protocol": "TCP"}]}],
            }
        ],
    }
    backend.set_policies(served, C1, [cnp(served, tcp_only)])
    tcp, udp, sctp = backend.probe(
        served,
        [
            probe("tester", PodTarget(C1, "be"), 8080, "TCP", Verdict.ALLOW),
            probe("tester", PodTarget(C1, "be"), 53, "UDP", Verdict.DENY),
            probe("tester", PodTarget(C1, "be"), 9000, "SCTP", Verdict.DENY),
        ],
    )
    assert tcp.outcome is Outcome.ALLOWED, tcp
    assert udp.outcome is Outcome.DROPPED and udp.evidence is not None, udp
    assert sctp.outcome is Outcome.DROPPED and sctp.evidence is not None, sctp


def test_udp_to_a_port_nobody_serves_is_refused(
    backend: KubernetesMesh, served: Deployment
) -> None:
    [result] = backend.probe(served, [probe("fe", PodTarget(C2, "be"), 5353, "UDP")])
    assert result.outcome is Outcome.REFUSED, result
    assert "connection refused" in result.detail
    assert not Verdict.DENY.accepts(result.outcome)


def test_udp_to_a_service_without_backends_is_rejected_at_connect(
    backend: KubernetesMesh,
) -> None:
    """Cilium's socket LB fails connect() with EHOSTUNREACH (docs/cilium-semantics.md Q5):
    agnhost says OTHER, read as refused, as curl's exit 7 is."""
    base = world()
    empty = dataclasses.replace(
        base.workload("solo"), ports=(PortSpec(53, "UDP"),), replicas_in={C1: 0}
    )
    deployment = world(solo=empty)
    backend.deploy(deployment)
    try:
        [result] = backend.probe(deployment, [probe("fe", ServiceTarget("solo"), 53, "UDP")])
    finally:
        backend.teardown(deployment)
    assert result.outcome is Outcome.REFUSED, result
    assert "rejected at connect (no route to host)" in result.detail


def test_a_served_by_expectation_on_udp_fails_clearly(
    backend: KubernetesMesh, served: Deployment
) -> None:
    """agnhost connect does not say which pod answered, so ``served_by`` cannot pass."""
    [result] = backend.probe(served, [probe("fe", ServiceTarget("be"), 53, "UDP")])
    assert result.outcome is Outcome.ALLOWED and result.served_by == frozenset()
    passed, problem = judge(Verdict.ALLOW, frozenset({C2}), result)
    assert not passed
    assert problem == f"expected an answer from {C2}, answered by nobody"
    assert "does not say which pod" in result.detail


def test_a_client_image_without_agnhost_is_a_probe_error_naming_it(
    mirror: MirroredMesh, backend: KubernetesMesh, served: Deployment
) -> None:
    mirror.images_without_agnhost.add(SETTINGS.client_image)
    results = backend.probe(
        served,
        [
            probe("tester", PodTarget(C1, "be"), 53, "UDP", Verdict.DENY),
            probe("tester", PodTarget(C2, "be"), 9000, "SCTP", Verdict.DENY),
        ],
    )
    for result in results:
        assert result.outcome is Outcome.PROBE_ERROR, result
        assert "/agnhost could not run in the client pod (exit 127)" in result.detail
        assert "sh: /agnhost: not found" in result.detail
        assert result.attempts == SETTINGS.probe_attempts
    [tcp] = backend.probe(served, [probe("tester", PodTarget(C1, "be"), 8080, "TCP")])
    assert tcp.outcome is Outcome.ALLOWED  # curl is still there


def test_an_http_request_on_a_udp_probe_is_a_probe_error(
    backend: KubernetesMesh, served: Deployment
) -> None:
    bad = dataclasses.replace(
        probe("fe", PodTarget(C1, "be"), 53, "UDP"), http=HttpRequest("GET", "/x")
    )
    [result] = backend.probe(served, [bad])
    assert result.outcome is Outcome.PROBE_ERROR
    assert "an HTTP request needs a TCP probe, not UDP" in result.detail


# -- ICMP ------------------------------------------------------------------------------------------


def test_a_ping_of_a_pod_is_answered(backend: KubernetesMesh, served: Deployment) -> None:
    [result] = backend.probe(served, [probe("fe", PodTarget(C2, "be"), 0, "ICMP", Verdict.ALLOW)])
    assert result.outcome is Outcome.ALLOWED, result
    assert command(result)[:5] == ["ping", "-c", "1", "-W", "1"]


def test_a_dropped_ping_is_proven_by_an_icmp_flow(
    mirror: MirroredMesh, backend: KubernetesMesh, served: Deployment
) -> None:
    backend.set_policies(served, C2, [cnp(served, BACKEND_FROM_FRONTEND)])
    [result] = backend.probe(
        served, [probe("tester", PodTarget(C2, "be"), 0, "ICMP", Verdict.DENY)]
    )
    assert result.outcome is Outcome.DROPPED, result
    assert result.evidence is not None and result.evidence.proof is Proof.PROVEN
    assert "ping: no echo reply within 1 s" in result.detail
    icmp = [f for f in agent_flows(mirror) if "ICMPv4" in f["l4"]]
    assert icmp and icmp[-1]["l4"]["ICMPv4"] == {"type": 8}


def test_a_ping_lost_without_an_agent_record_is_an_error_not_a_deny(
    mirror: MirroredMesh, backend: KubernetesMesh, served: Deployment
) -> None:
    mirror.mesh_faults = MeshFaults(partitions=frozenset({frozenset({"cluster1", "cluster2"})}))
    [result] = backend.probe(
        served, [probe("tester", PodTarget(C2, "be"), 0, "ICMP", Verdict.DENY)]
    )
    assert result.outcome is Outcome.PROBE_ERROR, result
    assert "recorded no drop of this ICMP probe" in result.detail
    assert result.evidence is None
    assert not judge(Verdict.DENY, None, result)[0]


def test_a_ping_of_a_service_is_refused_before_it_runs(
    mirror: MirroredMesh, backend: KubernetesMesh, served: Deployment
) -> None:
    before = mirror.execs
    [result] = backend.probe(served, [probe("fe", ServiceTarget("be"), 0, "ICMP")])
    assert result.outcome is Outcome.PROBE_ERROR
    assert "an ICMP probe cannot target a Service" in result.detail
    assert mirror.execs == before


def test_a_client_image_without_ping_is_a_probe_error(
    mirror: MirroredMesh, backend: KubernetesMesh, served: Deployment
) -> None:
    mirror.images_without_ping.add(SETTINGS.client_image)
    [result] = backend.probe(served, [probe("fe", PodTarget(C1, "be"), 0, "ICMP", Verdict.DENY)])
    assert result.outcome is Outcome.PROBE_ERROR
    assert "ping could not run in the client pod (exit 127): sh: ping: not found" in result.detail


# -- outside the mesh ------------------------------------------------------------------------------

TESTER_TO_BACKEND_ONLY = {
    "endpointSelector": {"matchLabels": {"app": "test"}},
    "egress": [{"toEndpoints": [{"matchLabels": {"app": "backend"}}]}],
}


def test_an_external_address_is_probed_directly(
    backend: KubernetesMesh, served: Deployment
) -> None:
    external = ExternalTarget("docs", WORLD_ADDRESS)
    [tcp, ping] = backend.probe(
        served,
        [
            probe("fe", external, 443, "TCP", Verdict.ALLOW),
            probe("fe", external, 0, "ICMP", Verdict.ALLOW),
        ],
    )
    assert tcp.outcome is Outcome.ALLOWED, tcp
    assert command(tcp)[-1] == f"http://{WORLD_ADDRESS}:443/"
    assert ping.outcome is Outcome.ALLOWED, ping
    assert command(ping)[-1] == WORLD_ADDRESS


def test_a_drop_to_the_world_is_proven_on_the_sources_node(
    mirror: MirroredMesh, backend: KubernetesMesh, served: Deployment
) -> None:
    backend.set_policies(served, C1, [cnp(served, TESTER_TO_BACKEND_ONLY)])
    [result] = backend.probe(
        served, [probe("tester", ExternalTarget("docs", WORLD_ADDRESS), 443, "TCP", Verdict.DENY)]
    )
    assert result.outcome is Outcome.DROPPED, result
    assert result.evidence is not None and result.evidence.proof is Proof.PROVEN
    assert "(egress)" in result.evidence.where
    [flow] = [f for f in agent_flows(mirror) if f["IP"]["destination"] == WORLD_ADDRESS]
    assert flow["destination"] == {"identity": 2, "labels": ["reserved:world"]}
    assert flow["traffic_direction"] == "EGRESS"


def test_an_inferred_deny_to_the_world_needs_the_way_out_proven_open(
    kubeconfig: str, mirror: MirroredMesh, served: Deployment
) -> None:
    """With timeouts taken as denies (no Hubble): a timeout to the world alone may be a
    cluster without internet egress, so it is an error, unless the same step got out."""
    mirror.mesh_faults = MeshFaults(hubble_disabled=frozenset({"cluster1", "cluster2"}))
    inferring = make_backend(kubeconfig, deny_evidence="timeout")
    external = ExternalTarget("docs", WORLD_ADDRESS)
    denied = probe("tester", external, 443, "TCP", Verdict.DENY)
    try:
        inferring.facts()
        inferring.set_policies(served, C1, [cnp(served, TESTER_TO_BACKEND_ONLY)])
        [alone] = inferring.probe(served, [denied])
        [with_open, allowed] = inferring.probe(
            served, [denied, probe("fe", external, 443, "TCP", Verdict.ALLOW)]
        )
    finally:
        inferring.close()
    assert alone.outcome is Outcome.PROBE_ERROR, alone
    assert "nothing got from kind-cluster1 to the world" in alone.detail
    assert allowed.outcome is Outcome.ALLOWED, allowed
    assert with_open.outcome is Outcome.DROPPED, with_open
    assert with_open.evidence is not None and with_open.evidence.proof is Proof.INFERRED


def test_a_hostname_is_resolved_in_the_pod_and_its_drop_found_by_name(
    mirror: MirroredMesh, backend: KubernetesMesh, served: Deployment
) -> None:
    """A hostname goes to the tool as is (the pod resolves it); a drop of it is found by the
    address the scenario gives, or by the name Hubble gives that address."""
    mirror.externals["api.example.com"] = WORLD_ADDRESS
    dns = dns_egress("*")
    spec = {**TESTER_TO_BACKEND_ONLY, "egress": [*TESTER_TO_BACKEND_ONLY["egress"], dns]}
    backend.set_policies(served, C1, [cnp(served, spec)])
    named = ExternalTarget("api", None, "api.example.com")
    [result] = backend.probe(served, [probe("tester", named, 443, "TCP", Verdict.DENY)])
    assert command(result)[-1] == "http://api.example.com:443/"
    assert result.outcome is Outcome.DROPPED, result
    assert result.evidence is not None and result.evidence.source == "hubble"
    flows = [f for f in agent_flows(mirror) if f["IP"]["destination"] == WORLD_ADDRESS]
    assert flows and flows[-1]["destination_names"] == ["api.example.com"]


def test_a_lookup_without_the_dns_proxy_leaves_the_drop_unnamed_and_unproven(
    mirror: MirroredMesh, backend: KubernetesMesh, served: Deployment
) -> None:
    """DNS allowed without a DNS rule: the lookup bypasses Cilium's DNS proxy
    (``SimulatedMesh.lookup`` says ``resolved``), so Hubble names no destination, and a drop of
    a hostname-only target cannot be matched: a probe error, never a deny."""
    mirror.externals["api.example.com"] = WORLD_ADDRESS
    dns = dns_egress(None)
    spec = {**TESTER_TO_BACKEND_ONLY, "egress": [*TESTER_TO_BACKEND_ONLY["egress"], dns]}
    backend.set_policies(served, C1, [cnp(served, spec)])
    named = ExternalTarget("api", None, "api.example.com")
    [result] = backend.probe(served, [probe("tester", named, 443, "TCP", Verdict.DENY)])
    assert result.outcome is Outcome.PROBE_ERROR, result
    assert "recorded no drop" in result.detail
    flows = [f for f in agent_flows(mirror) if f["IP"]["destination"] == WORLD_ADDRESS]
    assert flows and all("destination_names" not in f for f in flows)


def test_an_unknown_hostname_is_a_dns_failure(backend: KubernetesMesh, served: Deployment) -> None:
    unknown = ExternalTarget("nowhere", None, "nowhere.example.com")
    results = backend.probe(
        served,
        [
            probe("fe", unknown, 443, "TCP"),
            probe("fe", unknown, 53, "UDP"),
            probe("fe", unknown, 0, "ICMP"),
        ],
    )
    assert [r.outcome for r in results] == [Outcome.DNS_FAILURE] * 3, results


def test_an_external_target_needs_an_address_or_a_hostname(
    backend: KubernetesMesh, served: Deployment
) -> None:
    [result] = backend.probe(served, [probe("fe", ExternalTarget("void"), 443, "TCP")])
    assert result.outcome is Outcome.PROBE_ERROR
    assert "neither a hostname nor an address" in result.detail


# -- DNS queries -----------------------------------------------------------------------------------

DNS_EXAMPLE_NET = {
    "endpointSelector": {"matchLabels": {"app": "frontend"}},
    "egress": [dns_egress("*.example.net")],
}
NO_DNS = {
    "endpointSelector": {"matchLabels": {"app": "frontend"}},
    "egress": [{"toCIDR": [f"{WORLD_ADDRESS}/32"]}],
}


def test_dns_queries_are_answered_refused_or_dropped_with_proof(
    mirror: MirroredMesh, backend: KubernetesMesh, served: Deployment
) -> None:
    mirror.externals["api.example.net"] = WORLD_ADDRESS
    backend.set_policies(served, C1, [cnp(served, DNS_EXAMPLE_NET)])
    backend.set_policies(served, C2, [cnp(served, NO_DNS)])
    answered, refused, dropped = backend.probe(
        served,
        [
            probe("fe", DnsTarget("api.example.net"), 53, "UDP", Verdict.ALLOW),
            probe("fe", DnsTarget("www.example.org"), 53, "UDP", Verdict.L7_DENY),
            probe("fe", DnsTarget("api.example.net"), 53, "UDP", Verdict.DROP, cluster=C2),
        ],
    )
    assert command(answered) == ["dig", "+time=1", "+tries=1", "api.example.net"]
    assert answered.outcome is Outcome.ALLOWED, answered
    assert "status NOERROR" in answered.detail
    assert refused.outcome is Outcome.L7_DENIED, refused
    assert dropped.outcome is Outcome.DROPPED, dropped
    assert dropped.evidence is not None and dropped.evidence.source == "hubble"
    [flow] = [f for f in agent_flows(mirror) if f["l4"].get("UDP", {}).get("destination_port")]
    assert flow["destination"]["labels"][0] == "k8s:k8s-app=kube-dns"
    assert flow["traffic_direction"] == "EGRESS"


def test_a_client_image_without_dig_is_a_probe_error(
    mirror: MirroredMesh, backend: KubernetesMesh, served: Deployment
) -> None:
    mirror.images_without_dig.add(SETTINGS.client_image)
    [result] = backend.probe(
        served, [probe("fe", DnsTarget("api.example.net"), 53, "UDP", Verdict.DENY)]
    )
    assert result.outcome is Outcome.PROBE_ERROR
    assert "dig could not run in the client pod (exit 127): sh: dig: not found" in result.detail
