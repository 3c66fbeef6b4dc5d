"""The Kubernetes backend end to end: the real client against the emulated API servers, whose
exec answers come from the simulated mesh's verdicts."""

from __future__ import annotations

import shlex
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from clustermesh_emulator import Emulator
from clustermesh_emulator.mesh import MirroredMesh
from pytest_clustermesh.backend import (
    OWNER_LABEL,
    Deployment,
    PodTarget,
    PortSpec,
    Probe,
    ServiceSpec,
    WorkloadSpec,
)
from pytest_clustermesh.errors import BackendError, PolicyError
from pytest_clustermesh.kubernetes import KubernetesMesh
from pytest_clustermesh.kubernetes.cleanup import main
from pytest_clustermesh.kubernetes.clients import Cluster
from pytest_clustermesh.kubernetes.execs import run_exec
from pytest_clustermesh.kubernetes.manifests import RUN_LABEL, WORKLOAD_LABEL
from pytest_clustermesh.simulated import SimulatedMesh
from pytest_clustermesh.verdicts import Outcome, Verdict

from .conftest import SETTINGS, make_backend
from .kubeworld import (
    BACKEND_FROM_FRONTEND,
    C1,
    C2,
    CLUSTERS,
    ccnp,
    cnp,
    to_pod,
    to_service,
    world,
)


def matrix() -> list[Probe]:
    """Every client in every cluster to every server's pods and Services."""
    probes = []
    for cluster in CLUSTERS:
        for client in ("fe", "tester"):
            probes += [to_pod(client, cluster, target, "be", 8080) for target in CLUSTERS]
            probes += [
                to_pod(client, cluster, C1, "solo", 80),
                to_service(client, cluster, "be", 8080),
            ]
    return probes


def owned(emulator: Emulator, key: str) -> list[tuple[str, str, str]]:
    """Every object in the emulator labelled as the deployment's."""
    found = []
    for cluster in emulator:
        for kind in ("namespaces", "pods", "services", "deployments", "cnp", "ccnp"):
            for obj in cluster.list_objects(kind, labels=f"{OWNER_LABEL}={key}"):
                found.append((cluster.name, kind, obj["metadata"]["name"]))
    return found


def test_facts_come_from_cilium_config_and_the_agent_image(backend: KubernetesMesh) -> None:
    facts = backend.facts()
    assert list(facts) == [C1, C2]
    assert [(f.cluster_name, f.cluster_id) for f in facts.values()] == [
        ("cluster1", 1),
        ("cluster2", 2),
    ]
    assert str(facts[C1].cilium_version) == "1.18.3"
    assert facts[C1].options["policy-default-local-cluster"] == "false"  # 1.18's default
    assert backend.facts() is facts


def test_deploy_creates_labelled_objects(
    emulator: Emulator, backend: KubernetesMesh, deployed: Deployment
) -> None:
    cluster1, cluster2 = emulator["cluster1"], emulator["cluster2"]
    ns = deployed.namespaces[0].name
    namespace = cluster1.get("namespaces", ns)
    assert namespace is not None
    assert namespace["metadata"]["labels"]["team"] == "a"
    assert namespace["metadata"]["labels"][RUN_LABEL] == "t"
    pods = cluster1.list_objects("pods", ns, labels=f"{WORKLOAD_LABEL}=be")
    assert len(pods) == 1 and pods[0]["metadata"]["labels"]["app"] == "backend"
    service = cluster2.get("services", "be", ns)
    assert service is not None
    assert service["metadata"]["annotations"] == {"service.cilium.io/global": "true"}
    assert cluster2.get("services", "solo", ns) is None
    assert cluster2.list_objects("pods", ns, labels=f"{WORKLOAD_LABEL}=solo") == []


def test_probes_match_the_model_without_and_with_policy(
    backend: KubernetesMesh, deployed: Deployment, mirror: MirroredMesh
) -> None:
    """The simulated mesh given the deployment as specified predicts what the backend observes
    through objects it created: labels, namespaces and policies made it into the clusters."""
    probes = matrix()
    for policies in ([], [cnp(deployed, BACKEND_FROM_FRONTEND)]):
        model = SimulatedMesh(backend.facts())
        model.deploy(deployed)
        for cluster in CLUSTERS:
            backend.set_policies(deployed, cluster, policies)
            model.set_policies(deployed, cluster, policies)
        expected = [model.predict(deployed, probe).outcome for probe in probes]
        results = backend.probe(deployed, probes)
        assert [r.outcome for r in results] == expected
        assert Outcome.ALLOWED in expected
        assert not mirror.world().problems
    assert Outcome.DROPPED in expected  # tester is not a frontend
    for probe, result in zip(probes, results, strict=True):
        assert result.command is not None
        assert result.command.startswith(f"kubectl --context {probe.source_cluster} ")
        if result.outcome is Outcome.ALLOWED and isinstance(probe.target, PodTarget):
            assert result.served_by == {probe.target.cluster}
            assert result.served_pod is not None
            assert result.served_pod.startswith(f"{probe.target.workload}-")


def test_a_global_service_is_served_from_both_clusters(
    backend: KubernetesMesh, deployed: Deployment
) -> None:
    probes = [to_service("fe", C1, "be", 8080)] * 24
    served = {cluster for r in backend.probe(deployed, probes) for cluster in r.served_by}
    assert served == {C1, C2}


def test_the_repeat_command_runs_the_same_probe(
    backend: KubernetesMesh, deployed: Deployment, kubeconfig: str
) -> None:
    [result] = backend.probe(deployed, [to_pod("fe", C2, C1, "be", 8080)])
    assert result.command is not None
    argv = shlex.split(result.command)
    assert argv[:3] == ["kubectl", "--context", C2]
    namespace, pod = argv[argv.index("-n") + 1], argv[argv.index("exec") + 1]
    cluster = Cluster(C2, kubeconfig, SETTINGS)
    try:
        done = run_exec(cluster, namespace, pod, argv[argv.index("--") + 1 :], timeout=5)
    finally:
        cluster.close()
    assert done.exit_code == 0
    output = done.stdout
    assert f"clustermesh-echo cluster={C1} pod={result.served_pod}" in output
    assert "http_code=200" in output


def test_policies_are_replaced_and_deleted_by_name(
    emulator: Emulator, backend: KubernetesMesh, deployed: Deployment
) -> None:
    ns = deployed.namespaces[0].name
    cluster1 = emulator["cluster1"]
    first, second = (
        cnp(deployed, BACKEND_FROM_FRONTEND, "a"),
        cnp(deployed, BACKEND_FROM_FRONTEND, "b"),
    )
    backend.set_policies(deployed, C1, [first])
    backend.set_policies(deployed, C1, [first, second])
    stored = cluster1.get("cnp", "a", ns)
    assert stored is not None and stored["metadata"]["labels"][OWNER_LABEL] == deployed.key
    backend.set_policies(deployed, C1, [second])
    assert cluster1.get("cnp", "a", ns) is None and cluster1.get("cnp", "b", ns) is not None
    backend.set_policies(deployed, C1, [])
    assert cluster1.list_objects("cnp", ns) == []


def test_an_api_rejected_policy_names_its_file(
    emulator: Emulator, backend: KubernetesMesh, deployed: Deployment
) -> None:
    emulator["cluster2"].reject(
        "cnp", "bad", "toPorts[0].ports[0].port: must be 1-65535", field="spec.ingress[0]"
    )
    with pytest.raises(PolicyError) as caught:
        backend.set_policies(deployed, C2, [cnp(deployed, BACKEND_FROM_FRONTEND, "bad")])
    message = str(caught.value)
    assert message.startswith(f"{C2} rejects CiliumNetworkPolicy ")
    assert "(policies/be.yaml:3)" in message and "must be 1-65535" in message


def test_clusterwide_policies_need_the_opt_in(
    emulator: Emulator, backend: KubernetesMesh, deployed: Deployment, kubeconfig: str
) -> None:
    policy = ccnp(deployed, BACKEND_FROM_FRONTEND)
    with pytest.raises(PolicyError, match="--allow-clusterwide-policies"):
        backend.set_policies(deployed, C1, [policy])
    allowed = make_backend(kubeconfig, allow_clusterwide=True)
    try:
        allowed.set_policies(deployed, C1, [policy])
        assert emulator["cluster1"].get("ccnp", policy.name) is not None
        allowed.teardown(deployed)
        assert emulator["cluster1"].get("ccnp", policy.name) is None
    finally:
        allowed.close()


def test_teardown_removes_everything_and_is_idempotent(
    emulator: Emulator, backend: KubernetesMesh
) -> None:
    deployment = world()
    backend.deploy(deployment)
    backend.set_policies(deployment, C1, [cnp(deployment, BACKEND_FROM_FRONTEND)])
    assert owned(emulator, deployment.key)
    backend.teardown(deployment)
    backend.teardown(deployment)
    emulator.settle()
    assert owned(emulator, deployment.key) == []


def test_keep_leaves_objects_for_the_cleanup_command(
    emulator: Emulator, mirror: MirroredMesh, kubeconfig: str, capsys: pytest.CaptureFixture[str]
) -> None:
    kept = make_backend(kubeconfig, keep=True, run_id="crashed")
    deployment = world("crashed")
    try:
        kept.deploy(deployment)
    finally:
        kept.close()
    assert owned(emulator, deployment.key)
    assert (
        main(["--kubeconfig", kubeconfig, "--contexts", ",".join(CLUSTERS), "--run", "other"]) == 0
    )
    assert owned(emulator, deployment.key)
    assert (
        main(["--kubeconfig", kubeconfig, "--contexts", ",".join(CLUSTERS), "--run", "crashed"])
        == 0
    )
    out = capsys.readouterr().out
    assert f"deleted {C1}: namespace {deployment.namespaces[0].name}" in out
    assert f"deleted {C2}: namespace {deployment.namespaces[0].name}" in out
    emulator.settle()
    assert owned(emulator, deployment.key) == []


def test_cleanup_without_run_spares_young_runs(
    emulator: Emulator, mirror: MirroredMesh, kubeconfig: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Concurrent CI jobs may share the mesh: without --run, only runs older than --min-age
    (default 1 h) are deleted, and the skipped ones are listed."""
    kept = make_backend(kubeconfig, keep=True, run_id="young")
    deployment = world("young")
    try:
        kept.deploy(deployment)
    finally:
        kept.close()
    contexts = ["--kubeconfig", kubeconfig, "--contexts", ",".join(CLUSTERS)]
    assert main(contexts) == 0
    out = capsys.readouterr().out
    assert f"{C1}: skipped run young (" in out and "less than --min-age 1h" in out
    assert owned(emulator, deployment.key)
    later = datetime.now(UTC) + timedelta(hours=2)
    assert main([*contexts, "--dry-run"], now=lambda: later) == 0
    namespace = deployment.namespaces[0].name
    assert f"would delete {C1}: namespace {namespace}" in capsys.readouterr().out
    assert owned(emulator, deployment.key)
    assert main([*contexts, "--min-age", "0"]) == 0
    out = capsys.readouterr().out
    assert f"deleted {C2}: namespace {deployment.namespaces[0].name}" in out
    emulator.settle()
    assert owned(emulator, deployment.key) == []


def test_cleanup_run_is_matched_exactly(
    emulator: Emulator, mirror: MirroredMesh, kubeconfig: str, capsys: pytest.CaptureFixture[str]
) -> None:
    deployments = {}
    for run in ("pr-12", "pr-12-retry"):
        kept = make_backend(kubeconfig, keep=True, run_id=run)
        deployments[run] = world(run)
        try:
            kept.deploy(deployments[run])
        finally:
            kept.close()
    contexts = ["--kubeconfig", kubeconfig, "--contexts", ",".join(CLUSTERS)]
    assert main([*contexts, "--run", "pr-12"]) == 0
    emulator.settle()
    assert owned(emulator, deployments["pr-12"].key) == []
    assert owned(emulator, deployments["pr-12-retry"].key)
    assert main([*contexts, "--run", "pr-12-retry"]) == 0
    emulator.settle()
    assert owned(emulator, deployments["pr-12-retry"].key) == []
    capsys.readouterr()


def test_an_unpullable_image_is_reported_with_its_events(backend: KubernetesMesh) -> None:
    broken = WorkloadSpec(
        "fe", "client", "", {"app": "frontend"}, (C1,), image="registry.example/does-not-exist:1"
    )
    deployment = world(fe=broken)
    try:
        with pytest.raises(BackendError) as caught:
            backend.deploy(deployment)
    finally:
        backend.teardown(deployment)
    message = str(caught.value)
    assert f"{C1}: pod {deployment.namespaces[0].name}/fe-" in message
    assert "ImagePullBackOff" in message
    assert 'Failed to pull image "registry.example/does-not-exist:1"' in message
    assert "waited" in message and "Traceback" not in message


def test_an_unreachable_context_is_one_line(
    emulator: Emulator, mirror: MirroredMesh, tmp_path: Any
) -> None:
    config = emulator.kubeconfig()
    config["clusters"][1]["cluster"]["server"] = "http://127.0.0.1:9"
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    backend = KubernetesMesh(CLUSTERS, str(path), SETTINGS)
    try:
        with pytest.raises(BackendError) as caught:
            backend.facts()
    finally:
        backend.close()
    assert str(caught.value) == (
        f"preflight failed:\n{C2}: cannot reach http://127.0.0.1:9: connection refused"
    )


def test_an_unknown_context_is_one_line(kubeconfig: str) -> None:
    backend = KubernetesMesh([C1, "kind-nope"], kubeconfig, SETTINGS)
    try:
        with pytest.raises(BackendError, match=r"^kind-nope: cannot load context from .*kind-nope"):
            backend.facts()
    finally:
        backend.close()


def test_a_server_without_a_port_refuses(backend: KubernetesMesh) -> None:
    server = WorkloadSpec(
        "solo",
        "server",
        "",
        {"app": "solo"},
        (C1,),
        ports=(PortSpec(80),),
        service=ServiceSpec("solo"),
    )
    deployment = world(solo=server)
    backend.deploy(deployment)
    try:
        [result] = backend.probe(deployment, [to_pod("fe", C2, C1, "solo", 81, Verdict.REFUSED)])
    finally:
        backend.teardown(deployment)
    assert result.outcome is Outcome.REFUSED and result.attempts == 1
