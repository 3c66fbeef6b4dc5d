"""A probe that could not run, or did not really test the policy, never counts as a deny:
forged output, slow servers, foreign 403s, stale targets and not-yet-realised policy."""

from __future__ import annotations

import shlex
import time

from clustermesh_emulator import Emulator, ExecRequest
from clustermesh_emulator.mesh import MirroredMesh, Override
from pytest_clustermesh.backend import (
    Deployment,
    HttpRequest,
    PortSpec,
    Probe,
    ServiceSpec,
    WorkloadSpec,
)
from pytest_clustermesh.kubernetes import KubernetesMesh
from pytest_clustermesh.kubernetes.clients import Cluster
from pytest_clustermesh.kubernetes.commands import (
    CurlOutput,
    CurlRequest,
    curl_argv,
    curl_stdout,
    url_of,
)
from pytest_clustermesh.kubernetes.execs import run_exec
from pytest_clustermesh.verdicts import Outcome, ProbeResult, Verdict

from .conftest import SETTINGS, make_backend
from .kubeworld import BACKEND_FROM_FRONTEND, C1, CLUSTERS, GLOBAL, cnp, to_pod, to_service, world

ECHO = "clustermesh-echo cluster=x pod=y"


def allowed_answer() -> CurlOutput:
    return CurlOutput(0, curl_stdout(ECHO, 200))


def drop() -> CurlOutput:
    return CurlOutput(28, curl_stdout("", 0), "curl: (28) Connection timed out after 300 ms")


def first_calls(count: int, answer: CurlOutput) -> Override:
    """An override answering ``answer`` to the first ``count`` curls, then the model."""
    left = {"n": count}

    def override(request: ExecRequest, curl: CurlRequest) -> CurlOutput | None:
        if left["n"] > 0:
            left["n"] -= 1
            return answer
        return None

    return override


def http_probe(path: str, expect: Verdict) -> Probe:
    target = to_pod("fe", C1, C1, "be", 8080).target
    return Probe(C1, "fe", target, 8080, "TCP", HttpRequest("GET", path), expect=expect)


def history(result: ProbeResult) -> str:
    return result.detail.rsplit("attempts: ", 1)[-1]


# -- 1. the batch framing cannot be forged by a body -----------------------------------------


def test_a_forged_header_in_a_body_cannot_change_another_probes_result(
    mirror: MirroredMesh, backend: KubernetesMesh, deployed: Deployment
) -> None:
    """Both probes run in one exec from the same pod. The second server's body imitates the
    batch framing to turn the first probe (allowed: no policy) into a drop."""
    forged = "\n".join(
        [
            "@@clustermesh-probe 0 exit=28",
            "",
            "@@clustermesh-probe 0 stderr",
            "curl: (28) Connection timed out after 300 milliseconds",
            "@@clustermesh-probe 1 exit=0",
            ECHO,
        ]
    )

    def forger(request: ExecRequest, curl: CurlRequest) -> CurlOutput | None:
        return CurlOutput(0, curl_stdout(forged, 200)) if curl.port == 80 else None

    mirror.override = forger
    victim, forging = backend.probe(
        deployed,
        [to_pod("tester", C1, C1, "be", 8080, Verdict.DENY), to_pod("tester", C1, C1, "solo", 80)],
    )
    assert victim.outcome is Outcome.ALLOWED, victim
    assert victim.attempts == SETTINGS.probe_attempts  # a deny never seen
    assert forging.outcome is Outcome.ALLOWED


# -- 2. exit 28 after connecting is not a drop -----------------------------------------------


def test_a_server_hanging_after_the_connection_is_not_a_drop(
    mirror: MirroredMesh, backend: KubernetesMesh, deployed: Deployment
) -> None:
    hung = CurlOutput(
        28,
        curl_stdout("", 0, time_connect=0.000512),
        "curl: (28) Operation timed out after 3300 milliseconds with 0 bytes received",
    )
    mirror.override = lambda request, curl: hung
    [result] = backend.probe(deployed, [to_pod("tester", C1, C1, "be", 8080, Verdict.DENY)])
    assert result.outcome is Outcome.PROBE_ERROR
    assert "after the connection was made" in result.detail
    assert result.attempts == SETTINGS.probe_attempts


def test_the_mirrored_mesh_writes_out_as_curl_does(
    emulator: Emulator,
    backend: KubernetesMesh,
    deployed: Deployment,
    kubeconfig: str,
) -> None:
    """A drop never connected (time_connect 0, status 000); an answer and an L7 denial did."""
    backend.set_policies(
        deployed,
        C1,
        [
            cnp(
                deployed,
                {
                    "endpointSelector": {"matchLabels": {"app": "backend"}},
                    "ingress": [
                        {
                            "fromEndpoints": [{"matchLabels": {"app": "frontend"}}],
                            "toPorts": [
                                {
                                    "ports": [{"port": "8080", "protocol": "TCP"}],
                                    "rules": {"http": [{"method": "GET", "path": "/public"}]},
                                }
                            ],
                        }
                    ],
                },
            )
        ],
    )
    probes = [
        to_pod("tester", C1, C1, "be", 8080, Verdict.DROP),
        http_probe("/public", Verdict.ALLOW),
        http_probe("/private", Verdict.L7_DENY),
    ]
    results = backend.probe(deployed, probes)
    assert [r.outcome for r in results] == [Outcome.DROPPED, Outcome.ALLOWED, Outcome.L7_DENIED]
    outputs = []
    for result in results:
        assert result.command is not None
        argv = shlex.split(result.command)
        namespace, pod = argv[argv.index("-n") + 1], argv[argv.index("exec") + 1]
        cluster = Cluster(C1, kubeconfig, SETTINGS)
        try:
            done = run_exec(cluster, namespace, pod, argv[argv.index("--") + 1 :], timeout=5)
        finally:
            cluster.close()
        outputs.append(CurlOutput(done.exit_code, done.stdout, done.stderr))
    dropped, answered, denied = outputs
    assert (dropped.exit_code, dropped.http_code, dropped.time_connect) == (28, 0, 0.0)
    assert (answered.exit_code, answered.http_code) == (0, 200)
    assert answered.time_connect is not None and answered.time_connect > 0
    assert (denied.exit_code, denied.http_code, denied.body) == (0, 403, "Access denied")
    assert denied.time_connect is not None and denied.time_connect > 0


# -- 3. a 403 not from Cilium ------------------------------------------------------------------


def test_a_403_from_the_users_server_is_not_a_denial(
    mirror: MirroredMesh, backend: KubernetesMesh, deployed: Deployment
) -> None:
    mirror.override = lambda request, curl: CurlOutput(0, curl_stdout("Forbidden", 403))
    [result] = backend.probe(deployed, [to_pod("tester", C1, C1, "be", 8080, Verdict.DENY)])
    assert result.outcome is Outcome.PROBE_ERROR
    assert "HTTP 403 not from Cilium's proxy" in result.detail


# -- 4. a target replaced while the probe ran ----------------------------------------------------


def test_a_target_replaced_during_the_probe_is_not_a_drop(
    emulator: Emulator, mirror: MirroredMesh, backend: KubernetesMesh, deployed: Deployment
) -> None:
    """The target pod is deleted (its Deployment recreates it elsewhere) after the backend
    listed it: the curl goes to the stale IP, which Cilium drops. No policy is in force, so
    the truth is "allowed"."""
    replaced: list[str] = []

    def replace_the_target(request: ExecRequest, curl: CurlRequest) -> CurlOutput | None:
        if replaced:
            return None
        context, pod = mirror.world().pod_ips[curl.host]
        cluster = next(c for c in emulator if c.context == context)
        cluster.delete("pods", pod["metadata"]["name"], pod["metadata"]["namespace"])
        replaced.append(pod["metadata"]["name"])
        return drop()  # what a stale pod IP gets

    mirror.override = replace_the_target
    [result] = backend.probe(deployed, [to_pod("tester", C1, C1, "be", 8080, Verdict.DENY)])
    assert replaced
    assert result.outcome is Outcome.ALLOWED, result
    assert result.served_pod is not None and result.served_pod != replaced[0]
    assert history(result).startswith("probe-error")


def test_a_service_backend_replaced_during_the_probe_is_not_a_drop(
    emulator: Emulator, mirror: MirroredMesh, backend: KubernetesMesh, deployed: Deployment
) -> None:
    """The global Service ``be`` stays, but one of its pods (in the other cluster) is replaced
    while the probe runs; the load balancer may have picked the stale backend."""
    replaced: list[str] = []

    def replace_a_backend(request: ExecRequest, curl: CurlRequest) -> CurlOutput | None:
        if replaced:
            return None
        cluster = emulator["cluster2"]
        [pod] = cluster.list_objects("pods", deployed.namespaces[0].name, labels="app=backend")
        cluster.delete("pods", pod["metadata"]["name"], pod["metadata"]["namespace"])
        replaced.append(pod["metadata"]["name"])
        return drop()

    mirror.override = replace_a_backend
    [result] = backend.probe(deployed, [to_service("tester", C1, "be", 8080, Verdict.DENY)])
    assert replaced
    assert result.outcome is Outcome.ALLOWED, result
    assert history(result).startswith("probe-error")


def test_the_mirrored_mesh_drops_what_is_sent_to_a_stale_ip(
    emulator: Emulator, mirror: MirroredMesh, backend: KubernetesMesh, deployed: Deployment
) -> None:
    """Without any override: the model itself answers a vanished pod's IP with a drop, and the
    backend does not take it for one."""
    deleted: list[str] = []

    def delete_the_target(request: ExecRequest, curl: CurlRequest) -> None:
        if not deleted:
            context, pod = mirror.world().pod_ips[curl.host]
            cluster = next(c for c in emulator if c.context == context)
            cluster.delete("pods", pod["metadata"]["name"], pod["metadata"]["namespace"])
            deleted.append(pod["status"]["podIP"])

    mirror.override = delete_the_target
    [result] = backend.probe(deployed, [to_pod("tester", C1, C1, "be", 8080, Verdict.DENY)])
    assert deleted and result.outcome is Outcome.ALLOWED
    first = history(result).split(", ")[0]
    assert first == "probe-error"


def test_an_address_nobody_has_is_dropped_by_the_mirrored_mesh(
    mirror: MirroredMesh, backend: KubernetesMesh, deployed: Deployment, kubeconfig: str
) -> None:
    [result] = backend.probe(deployed, [to_pod("fe", C1, C1, "be", 8080)])
    assert result.command is not None
    argv = shlex.split(result.command)
    namespace, pod = argv[argv.index("-n") + 1], argv[argv.index("exec") + 1]
    curl = curl_argv(CurlRequest(url_of("10.255.0.77", 8080, "/"), "GET", 0.2, 1))
    cluster = Cluster(C1, kubeconfig, SETTINGS)
    try:
        done = run_exec(cluster, namespace, pod, curl, timeout=5)
    finally:
        cluster.close()
    output = CurlOutput(done.exit_code, done.stdout, done.stderr)
    assert (output.exit_code, output.http_code, output.time_connect) == (28, 0, 0.0)


# -- 5. policy realisation: confirm what is seen right after a change ----------------------------


def test_the_old_policy_seen_in_the_first_round_does_not_pass(
    mirror: MirroredMesh, backend: KubernetesMesh, deployed: Deployment
) -> None:
    """The step before had no policy (tester -> be allowed); this step's policy denies it, but
    the first round still sees the old state. An item expecting "allow" must not pass."""
    backend.set_policies(deployed, C1, [cnp(deployed, BACKEND_FROM_FRONTEND)])
    mirror.override = first_calls(1, allowed_answer())
    [result] = backend.probe(deployed, [to_pod("tester", C1, C1, "be", 8080, Verdict.ALLOW)])
    assert result.outcome is Outcome.DROPPED, result
    assert history(result) == "allowed, dropped, dropped, dropped"


def test_one_transient_drop_does_not_satisfy_deny(
    mirror: MirroredMesh, backend: KubernetesMesh, deployed: Deployment
) -> None:
    backend.set_policies(deployed, C1, [cnp(deployed, BACKEND_FROM_FRONTEND)])
    mirror.override = first_calls(1, drop())
    [result] = backend.probe(deployed, [to_pod("fe", C1, C1, "be", 8080, Verdict.DENY)])
    assert result.outcome is Outcome.ALLOWED, result
    assert history(result) == "dropped, allowed, allowed, allowed"


def test_an_outcome_seen_twice_after_a_change_is_confirmed(
    backend: KubernetesMesh, deployed: Deployment
) -> None:
    backend.set_policies(deployed, C1, [cnp(deployed, BACKEND_FROM_FRONTEND)])
    deny, allow = backend.probe(
        deployed,
        [
            to_pod("tester", C1, C1, "be", 8080, Verdict.DENY),
            to_pod("fe", C1, C1, "be", 8080, Verdict.ALLOW),
        ],
    )
    assert (deny.outcome, deny.attempts, history(deny)) == (Outcome.DROPPED, 2, "dropped, dropped")
    assert (allow.outcome, allow.attempts) == (Outcome.ALLOWED, 2)


def test_an_outcome_never_confirmed_is_a_probe_error(
    kubeconfig: str, mirror: MirroredMesh, deployed: Deployment
) -> None:
    """The retry window closes before the confirmation round could run."""
    hurried = make_backend(kubeconfig, probe_window=0.01)
    try:
        hurried.set_policies(deployed, C1, [cnp(deployed, BACKEND_FROM_FRONTEND)])
        [result] = hurried.probe(deployed, [to_pod("tester", C1, C1, "be", 8080, Verdict.DENY)])
    finally:
        hurried.close()
    assert result.outcome is Outcome.PROBE_ERROR and result.attempts == 1
    assert "not confirmed" in result.detail


def test_a_confirmation_round_may_exceed_the_retry_bound_by_one(
    kubeconfig: str, mirror: MirroredMesh, deployed: Deployment
) -> None:
    single = make_backend(kubeconfig, probe_attempts=1)
    try:
        single.set_policies(deployed, C1, [cnp(deployed, BACKEND_FROM_FRONTEND)])
        [result] = single.probe(deployed, [to_pod("tester", C1, C1, "be", 8080, Verdict.DENY)])
    finally:
        single.close()
    assert (result.outcome, result.attempts) == (Outcome.DROPPED, 2)


def test_once_policies_settled_one_round_counts(
    kubeconfig: str, mirror: MirroredMesh, deployed: Deployment
) -> None:
    settled = make_backend(kubeconfig, policy_settle=0.2)
    try:
        for cluster in CLUSTERS:
            settled.set_policies(deployed, cluster, [cnp(deployed, BACKEND_FROM_FRONTEND)])
        time.sleep(0.25)
        [result] = settled.probe(deployed, [to_pod("tester", C1, C1, "be", 8080, Verdict.DENY)])
    finally:
        settled.close()
    assert (result.outcome, result.attempts) == (Outcome.DROPPED, 1)


def test_no_confirmation_without_a_policy_change(
    backend: KubernetesMesh, deployed: Deployment
) -> None:
    [result] = backend.probe(deployed, [to_pod("fe", C1, C1, "be", 8080, Verdict.ALLOW)])
    assert (result.outcome, result.attempts) == (Outcome.ALLOWED, 1)


def test_a_timeout_to_a_service_without_backends_is_not_a_drop(
    mirror: MirroredMesh, backend: KubernetesMesh
) -> None:
    """With service-no-backend-response=drop, Cilium lets a request to a Service without
    backends time out: the timeout proves nothing about policy (docs/cilium-semantics.md Q5)."""
    no_pods = WorkloadSpec(
        "be", "server", "", {"app": "backend"}, CLUSTERS, replicas=0,
        ports=(PortSpec(8080),), service=ServiceSpec("be", GLOBAL),
    )  # fmt: skip
    empty = world(be=no_pods)
    backend.deploy(empty)
    try:
        mirror.override = lambda request, curl: drop()
        [result] = backend.probe(empty, [to_service("tester", C1, "be", 8080, Verdict.DENY)])
    finally:
        backend.teardown(empty)
    assert result.outcome is Outcome.PROBE_ERROR
    assert "had no ready backend" in result.detail
