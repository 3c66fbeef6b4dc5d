"""A probe that could not run, or did not really test the policy, never counts as a deny:
forged output, slow servers, foreign 403s, stale targets, drops Hubble did not record, and
not-yet-realised policy."""

from __future__ import annotations

import shlex
import time

from clustermesh_emulator import Emulator, ExecRequest
from clustermesh_emulator.mesh import MirroredMesh, Override
from clustermesh_emulator.meshfaults import MeshFaults
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
from pytest_clustermesh.verdicts import Outcome, ProbeResult, Proof, Verdict

from .conftest import SETTINGS, make_backend, make_fallback
from .kubeworld import (
    BACKEND_FROM_FRONTEND,
    C1,
    C2,
    CLUSTERS,
    GLOBAL,
    cnp,
    to_pod,
    to_service,
    world,
)

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
    # in cluster1's pod range, but nobody's: a stale pod IP (an address outside every
    # cluster's ranges is the world, which the mirrored mesh asks the model about)
    curl = curl_argv(CurlRequest(url_of("10.1.255.77", 8080, "/"), "GET", 0.2, 1))
    cluster = Cluster(C1, kubeconfig, SETTINGS)
    try:
        done = run_exec(cluster, namespace, pod, curl, timeout=5)
    finally:
        cluster.close()
    output = CurlOutput(done.exit_code, done.stdout, done.stderr)
    assert (output.exit_code, output.http_code, output.time_connect) == (28, 0, 0.0)


# -- 5. policy realisation: waited for by revision; confirmed where agents cannot be read --------


def test_a_late_agent_is_waited_for_so_the_first_round_sees_the_new_policy(
    mirror: MirroredMesh, backend: KubernetesMesh, deployed: Deployment
) -> None:
    """cluster1's agents realise policy 0.5 s late: a probe right after the change would still
    see the old state (tester -> be allowed). The backend waits for the new revision first, so
    no round ever sees the old policy, and the drop is proven by Hubble."""
    mirror.mesh_faults = MeshFaults(late_agents={"cluster1": 0.5})
    backend.set_policies(deployed, C1, [cnp(deployed, BACKEND_FROM_FRONTEND)])
    started = time.monotonic()
    [result] = backend.probe(deployed, [to_pod("tester", C1, C1, "be", 8080, Verdict.ALLOW)])
    assert time.monotonic() - started >= 0.4
    assert result.outcome is Outcome.DROPPED, result
    assert history(result) == "dropped, dropped, dropped, dropped"
    assert result.evidence is not None and result.evidence.reason == "POLICY_DENIED"


def test_a_change_is_one_policy_wait_per_agent_of_its_cluster_and_no_change_none(
    mirror: MirroredMesh, backend: KubernetesMesh, deployed: Deployment
) -> None:
    policy = cnp(deployed, BACKEND_FROM_FRONTEND)
    before = mirror.agents.revision("cluster1")
    mirror.agents.calls.clear()
    backend.set_policies(deployed, C1, [policy])
    deny, allow = backend.probe(
        deployed,
        [
            to_pod("tester", C1, C1, "be", 8080, Verdict.DENY),
            to_pod("fe", C1, C1, "be", 8080, Verdict.ALLOW),
        ],
    )
    assert (deny.outcome, deny.attempts, allow.outcome, allow.attempts) == (
        Outcome.DROPPED, 1, Outcome.ALLOWED, 1
    )  # fmt: skip
    policy_calls = [(c, argv[1:4]) for c, argv in mirror.agents.calls if argv[1] == "policy"]
    assert policy_calls == [
        ("cluster1", ["policy", "get", "-o"]),
        ("cluster1", ["policy", "wait", str(before + 1)]),
    ]
    mirror.agents.calls.clear()
    backend.set_policies(deployed, C1, [policy])  # the same again: no change
    backend.set_policies(deployed, C2, [])  # nothing to remove: no change
    [same] = backend.probe(deployed, [to_pod("fe", C1, C1, "be", 8080, Verdict.ALLOW)])
    assert [argv for _, argv in mirror.agents.calls if argv[1] == "policy"] == []
    assert (same.outcome, same.attempts) == (Outcome.ALLOWED, 1)
    assert "attempts:" not in same.detail  # one round: no confirmation either


def test_agents_that_do_not_realise_the_policy_in_time_fail_the_probes_they_decide(
    kubeconfig: str, mirror: MirroredMesh, deployed: Deployment
) -> None:
    impatient = make_backend(kubeconfig, policy_wait_timeout=0.3)
    mirror.mesh_faults = MeshFaults(late_agents={"cluster1": 30})
    try:
        impatient.set_policies(deployed, C1, [cnp(deployed, BACKEND_FROM_FRONTEND)])
        stuck, elsewhere = impatient.probe(
            deployed,
            [
                to_pod("tester", C1, C1, "be", 8080, Verdict.DENY),
                to_pod("tester", C2, C2, "be", 8080, Verdict.ALLOW),
            ],
        )
    finally:
        impatient.close()
    assert stuck.outcome is Outcome.PROBE_ERROR
    assert "did not realise policy revision" in stuck.detail and C1 in stuck.detail
    assert elsewhere.outcome is Outcome.ALLOWED


def test_a_transient_drop_without_a_hubble_record_is_no_deny(
    mirror: MirroredMesh, backend: KubernetesMesh, deployed: Deployment
) -> None:
    backend.set_policies(deployed, C1, [cnp(deployed, BACKEND_FROM_FRONTEND)])
    mirror.override = first_calls(1, drop())
    [result] = backend.probe(deployed, [to_pod("fe", C1, C1, "be", 8080, Verdict.DENY)])
    assert result.outcome is Outcome.ALLOWED, result
    assert history(result) == "probe-error, allowed, allowed, allowed"


def test_without_agents_the_old_policy_seen_first_does_not_pass(
    mirror: MirroredMesh, fallback: tuple[KubernetesMesh, Deployment]
) -> None:
    """No revision to wait for: the step before had no policy (tester -> be allowed); this
    step's policy denies it, but the first round still sees the old state. An item expecting
    "allow" must not pass: a second round has to confirm it."""
    backend, deployed = fallback
    backend.set_policies(deployed, C1, [cnp(deployed, BACKEND_FROM_FRONTEND)])
    mirror.override = first_calls(1, allowed_answer())
    [result] = backend.probe(deployed, [to_pod("tester", C1, C1, "be", 8080, Verdict.ALLOW)])
    assert result.outcome is Outcome.DROPPED, result
    assert history(result) == "allowed, dropped (confirmation), dropped, dropped"
    assert result.attempts == 3  # the confirmation round is no retry


def test_without_agents_one_transient_drop_does_not_satisfy_deny(
    mirror: MirroredMesh, fallback: tuple[KubernetesMesh, Deployment]
) -> None:
    backend, deployed = fallback
    backend.set_policies(deployed, C1, [cnp(deployed, BACKEND_FROM_FRONTEND)])
    mirror.override = first_calls(1, drop())
    [result] = backend.probe(deployed, [to_pod("fe", C1, C1, "be", 8080, Verdict.DENY)])
    assert result.outcome is Outcome.ALLOWED, result
    assert history(result) == "dropped, allowed (confirmation), allowed, allowed"


def test_without_agents_an_outcome_seen_twice_after_a_change_is_confirmed(
    fallback: tuple[KubernetesMesh, Deployment],
) -> None:
    backend, deployed = fallback
    assert any("--policy-settle" in notice for notice in backend.notices)
    backend.set_policies(deployed, C1, [cnp(deployed, BACKEND_FROM_FRONTEND)])
    deny, allow = backend.probe(
        deployed,
        [
            to_pod("tester", C1, C1, "be", 8080, Verdict.DENY),
            to_pod("fe", C1, C1, "be", 8080, Verdict.ALLOW),
        ],
    )
    assert (deny.outcome, history(deny)) == (Outcome.DROPPED, "dropped, dropped (confirmation)")
    assert deny.evidence is not None and deny.evidence.proof is Proof.INFERRED
    assert (deny.attempts, allow.outcome, allow.attempts) == (1, Outcome.ALLOWED, 1)


def test_without_agents_an_outcome_never_confirmed_is_a_probe_error(
    emulator: Emulator, kubeconfig: str, mirror: MirroredMesh, deployed: Deployment
) -> None:
    """The retry window closes before the confirmation round could run."""
    hurried = make_fallback(emulator, kubeconfig, probe_window=0.01)
    try:
        hurried.set_policies(deployed, C1, [cnp(deployed, BACKEND_FROM_FRONTEND)])
        [result] = hurried.probe(deployed, [to_pod("tester", C1, C1, "be", 8080, Verdict.DENY)])
    finally:
        hurried.close()
    assert result.outcome is Outcome.PROBE_ERROR and result.attempts == 1
    assert "not confirmed" in result.detail


def test_without_agents_a_confirmation_round_may_exceed_the_retry_bound_by_one(
    emulator: Emulator, kubeconfig: str, mirror: MirroredMesh, deployed: Deployment
) -> None:
    single = make_fallback(emulator, kubeconfig, probe_attempts=1)
    try:
        single.set_policies(deployed, C1, [cnp(deployed, BACKEND_FROM_FRONTEND)])
        [result] = single.probe(deployed, [to_pod("tester", C1, C1, "be", 8080, Verdict.DENY)])
    finally:
        single.close()
    assert (result.outcome, history(result)) == (Outcome.DROPPED, "dropped, dropped (confirmation)")


def test_without_agents_once_policies_settled_one_round_counts(
    emulator: Emulator, kubeconfig: str, mirror: MirroredMesh, deployed: Deployment
) -> None:
    settled = make_fallback(emulator, kubeconfig, policy_settle=0.2)
    try:
        for cluster in CLUSTERS:
            settled.set_policies(deployed, cluster, [cnp(deployed, BACKEND_FROM_FRONTEND)])
        time.sleep(0.25)
        [result] = settled.probe(deployed, [to_pod("tester", C1, C1, "be", 8080, Verdict.DENY)])
    finally:
        settled.close()
    assert (result.outcome, result.attempts) == (Outcome.DROPPED, 1)
    assert "attempts:" not in result.detail


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
