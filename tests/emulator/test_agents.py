"""The emulated Cilium agents: what an exec into a ``kube-system/cilium`` pod answers, shaped as
Cilium's own commands print it, and the faults that change it."""

from __future__ import annotations

import json
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from packaging.version import Version

from clustermesh_emulator import Cluster, ClusterConfig, Emulator
from clustermesh_emulator.__main__ import _parser, mesh_faults_from_args
from clustermesh_emulator.agents import Drop, FlowEnd, denied_by, dropping_direction
from clustermesh_emulator.mesh import MirroredMesh
from clustermesh_emulator.meshfaults import MeshFaults
from clustermesh_emulator.rbac import attributes

from .conftest import api_client, run_exec, status_of

REPO = Path(__file__).resolve().parents[2]
CNP = {
    "apiVersion": "cilium.io/v2",
    "kind": "CiliumNetworkPolicy",
    "metadata": {"name": "p"},
    "spec": {"endpointSelector": {"matchLabels": {"app": "a"}}, "ingress": [{}]},
}


@pytest.fixture
def mirror(mesh: Emulator) -> Iterator[MirroredMesh]:
    with MirroredMesh(mesh, seed=3) as mirrored:
        yield mirrored


def agent_of(cluster: Cluster) -> str:
    [agent] = cluster.list_objects("pods", "kube-system", labels="k8s-app=cilium")
    return str(agent["metadata"]["name"])


def agent_exec(mesh: Emulator, name: str, *command: str) -> Any:
    cluster = mesh[name]
    return run_exec(mesh, cluster.context, "kube-system", agent_of(cluster), list(command))


def status(mesh: Emulator, name: str) -> dict[str, Any]:
    done = agent_exec(mesh, name, "cilium-dbg", "status", "-o", "json")
    assert done.returncode == 0, done.stderr
    body: dict[str, Any] = json.loads(done.stdout)
    return body


def revision(mesh: Emulator, name: str) -> int:
    done = agent_exec(mesh, name, "cilium-dbg", "policy", "get", "-o", "jsonpath={.revision}")
    assert done.returncode == 0, done.stderr
    return int(done.stdout)


# -- cilium-dbg status -o json ------------------------------------------------------------------


def test_status_lists_every_remote_cluster_connected_and_ready(
    mesh: Emulator, mirror: MirroredMesh
) -> None:
    body = status(mesh, "cluster1")
    [remote] = body["cluster-mesh"]["clusters"]
    assert remote["name"] == "cluster2"
    assert (remote["connected"], remote["ready"]) == (True, True)
    assert remote["synced"] == {
        "nodes": True, "endpoints": True, "identities": True, "services": True
    }  # fmt: skip
    assert remote["config"]["required"] and remote["config"]["retrieved"]
    assert body["hubble"]["state"] == "Ok"
    assert body["hubble"]["observer"]["max-flows"] == 4095


def test_an_agent_can_report_a_remote_cluster_not_ready(
    mesh: Emulator, mirror: MirroredMesh
) -> None:
    mirror.mesh_faults = MeshFaults(not_ready=frozenset({("cluster1", "cluster2")}))
    [remote] = status(mesh, "cluster1")["cluster-mesh"]["clusters"]
    assert (remote["connected"], remote["ready"]) == (False, False)
    assert "context deadline exceeded" in remote["status"]
    [back] = status(mesh, "cluster2")["cluster-mesh"]["clusters"]
    assert back["name"] == "cluster1" and back["ready"]


def test_hubble_can_be_disabled(mesh: Emulator, mirror: MirroredMesh) -> None:
    mirror.mesh_faults = MeshFaults(hubble_disabled=frozenset({"cluster2"}))
    assert status(mesh, "cluster2")["hubble"] == {"state": "Disabled", "msg": "Disabled"}
    assert status(mesh, "cluster1")["hubble"]["state"] == "Ok"
    done = agent_exec(mesh, "cluster2", "hubble", "observe", "-o", "json")
    assert done.returncode == 1
    assert "failed to connect to 'unix:///var/run/cilium/hubble.sock'" in done.stderr


# -- policy revisions ---------------------------------------------------------------------------


def test_the_revision_counts_policy_changes_as_cilium_does(
    mesh: Emulator, mirror: MirroredMesh, custom: Any, namespace: str
) -> None:
    """Created, changed and deleted policies are one revision each; an update that leaves spec
    and labels as they were (an annotation changed) is none: Cilium skips it."""
    start = revision(mesh, "cluster1")
    group = ("cilium.io", "v2", namespace, "ciliumnetworkpolicies")
    custom.create_namespaced_custom_object(*group, CNP)
    assert revision(mesh, "cluster1") == start + 1
    stored = custom.get_namespaced_custom_object(*group, "p")
    stored["metadata"]["annotations"] = {"note": "reviewed"}
    updated = custom.replace_namespaced_custom_object(*group, "p", stored)
    assert updated["metadata"]["resourceVersion"] != stored["metadata"]["resourceVersion"]
    assert revision(mesh, "cluster1") == start + 1
    stored = custom.get_namespaced_custom_object(*group, "p")
    stored["spec"]["ingress"] = [{"fromEntities": ["cluster"]}]
    custom.replace_namespaced_custom_object(*group, "p", stored)
    assert revision(mesh, "cluster1") == start + 2
    custom.delete_namespaced_custom_object(*group, "p")
    assert revision(mesh, "cluster1") == start + 3
    assert revision(mesh, "cluster2") == revision(mesh, "cluster2")  # untouched cluster
    done = agent_exec(mesh, "cluster1", "cilium-dbg", "policy", "get", "-o", "json")
    assert json.loads(done.stdout)["revision"] == start + 3


def test_policy_wait_waits_for_a_late_agent_and_fails_past_its_time(
    mesh: Emulator, mirror: MirroredMesh, custom: Any, namespace: str
) -> None:
    mirror.mesh_faults = MeshFaults(late_agents={"cluster1": 0.6})
    wanted = revision(mesh, "cluster1") + 1
    custom.create_namespaced_custom_object(
        "cilium.io", "v2", namespace, "ciliumnetworkpolicies", CNP
    )
    started = time.monotonic()
    done = agent_exec(mesh, "cluster1", "cilium-dbg", "policy", "wait", str(wanted))
    assert done.returncode == 0, done.stderr
    assert 0.4 < time.monotonic() - started < 3
    assert f"Waiting for endpoints to run policy revision {wanted}" in done.stdout
    now = agent_exec(mesh, "cluster1", "cilium-dbg", "policy", "wait", str(wanted))
    assert (now.returncode, now.stdout) == (0, "")
    late = agent_exec(
        mesh, "cluster1", "cilium", "policy", "wait", str(wanted + 1), "--max-wait-time", "0"
    )
    assert late.returncode == 1
    assert "endpoints still not ready after" in late.stderr


# -- hubble observe -----------------------------------------------------------------------------


def drop(namespace: str = "demo") -> Drop:
    source = FlowEnd("10.2.0.5", namespace, "fe-1", ("k8s:app=fe",), "cluster2", "cluster2-w")
    target = FlowEnd("10.1.0.9", namespace, "be-1", ("k8s:app=be",), "cluster1", "cluster1-w")
    policies = (("CiliumNetworkPolicy", namespace, "deny"),)
    return Drop(source, target, 8080, "INGRESS", "POLICY_DENY", policies)


def observe(mesh: Emulator, *args: str) -> list[dict[str, Any]]:
    done = agent_exec(mesh, "cluster1", "hubble", "observe", "-o", "json", *args)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_hubble_observe_prints_the_drops_of_its_node_as_getflowsresponses(
    mesh: Emulator, mirror: MirroredMesh
) -> None:
    node = mesh["cluster1"].list_objects("pods", "kube-system", labels="k8s-app=cilium")[0]
    recorded = drop()
    at_node = replace(
        recorded, destination=replace(recorded.destination, node=node["spec"]["nodeName"])
    )
    since = datetime.now(UTC) - timedelta(seconds=1)
    mirror.agents.record("cluster1", at_node, Version(mesh["cluster1"].config.cilium_version))
    lines = observe(
        mesh, "--since", since.isoformat().replace("+00:00", "Z"), "--verdict", "DROPPED"
    )
    assert len(lines) == 2  # the drop event and the policy-verdict event
    flow = lines[0]["flow"]
    assert lines[0]["node_name"] == flow["node_name"] == f"cluster1/{node['spec']['nodeName']}"
    assert (flow["verdict"], flow["drop_reason_desc"], flow["drop_reason"]) == (
        "DROPPED", "POLICY_DENY", 181
    )  # fmt: skip
    assert flow["IP"] == {"source": "10.2.0.5", "destination": "10.1.0.9", "ipVersion": "IPv4"}
    assert flow["l4"]["TCP"]["destination_port"] == 8080 and flow["l4"]["TCP"]["flags"]["SYN"]
    assert flow["traffic_direction"] == "INGRESS"
    assert flow["event_type"] == {"type": 1, "sub_type": 181}
    assert flow["source"]["cluster_name"] == "cluster2"
    verdict = lines[1]["flow"]
    assert verdict["event_type"] == {"type": 5}
    [policy] = verdict["ingress_denied_by"]
    assert (policy["name"], policy["namespace"], policy["kind"]) == (
        "deny", "demo", "CiliumNetworkPolicy"
    )  # fmt: skip
    assert policy["revision"] == "1"  # uint64 is a string in protobuf JSON
    assert observe(mesh, "--namespace", "other") == []
    assert observe(mesh, "--since", "2999-01-01T00:00:00Z") == []
    other = agent_exec(mesh, "cluster2", "hubble", "observe", "-o", "json")
    assert other.stdout == ""  # a node sees its own flows only
    bad = agent_exec(mesh, "cluster1", "hubble", "observe", "--bogus")
    assert bad.returncode == 1 and "unknown flag: --bogus" in bad.stderr


def test_the_model_explanation_names_where_and_why_it_dropped() -> None:
    explanation = (
        "egress at cluster2: no policy selects the endpoint",
        "ingress at cluster1: denied by CNP demo/deny-all spec.ingressDeny[0]",
    )
    assert dropping_direction(explanation) == "ingress"
    assert denied_by(explanation, "ingress") == (("CiliumNetworkPolicy", "demo", "deny-all"),)
    assert denied_by(explanation, "egress") == ()
    default = ("egress at c: default deny (selected by CNP a/b spec); no rule allows x on 80/TCP",)
    assert dropping_direction(default) == "egress"
    audited = (*default, "egress at c: policy-audit-mode lets it through")
    assert dropping_direction(audited) is None


def test_cilium_dbg_is_absent_before_1_15_and_cilium_answers(tmp_path: Path) -> None:
    with Emulator([ClusterConfig(cilium_version="1.14.9")]) as old, MirroredMesh(old):
        new_name = agent_exec(old, "cluster1", "cilium-dbg", "status", "-o", "json")
        old_name = agent_exec(old, "cluster1", "cilium", "status", "-o", "json")
    assert new_name.returncode == 126 and "executable file not found" in new_name.stderr
    assert old_name.returncode == 0 and "cilium" in json.loads(old_name.stdout)


# -- RBAC denials -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "query", "rule"),
    [
        ("GET", "/api/v1/namespaces/x/pods", "", ("", "pods", "list")),
        ("GET", "/api/v1/namespaces/x/pods", "watch=true", ("", "pods", "watch")),
        ("GET", "/api/v1/namespaces/x/pods/p", "", ("", "pods", "get")),
        ("GET", "/api/v1/namespaces/x/pods/p/exec", "command=ls", ("", "pods/exec", "create")),
        ("POST", "/api/v1/namespaces", "", ("", "namespaces", "create")),
        ("DELETE", "/api/v1/namespaces/x", "", ("", "namespaces", "delete")),
        ("PATCH", "/apis/apps/v1/namespaces/x/deployments/d", "", ("apps", "deployments", "patch")),
        (
            "PUT",
            "/apis/cilium.io/v2/namespaces/x/ciliumnetworkpolicies/p",
            "",
            ("cilium.io", "ciliumnetworkpolicies", "update"),
        ),
        (
            "DELETE",
            "/apis/networking.k8s.io/v1/namespaces/x/networkpolicies",
            "",
            ("networking.k8s.io", "networkpolicies", "deletecollection"),
        ),
    ],
)
def test_a_request_maps_to_the_rbac_attributes_kube_apiserver_checks(
    method: str, path: str, query: str, rule: tuple[str, str, str]
) -> None:
    found = attributes(method, path, query)
    assert found is not None and found.rule == rule


def test_discovery_needs_no_rbac_rule() -> None:
    assert attributes("GET", "/apis/cilium.io/v2") is None
    assert attributes("GET", "/version") is None


def test_forbidden_requests_are_refused_as_rbac_refuses_them(mesh: Emulator, core: Any) -> None:
    cluster1 = mesh["cluster1"]
    cluster1.forbid("create", "pods/exec", "kube-system")
    try:
        assert core.list_namespaced_pod("kube-system").items  # listing is still allowed
        with pytest.raises(ApiException) as refused:
            core.connect_get_namespaced_pod_exec(agent_of(cluster1), "kube-system", command=["x"])
        assert refused.value.status == 403
        message = status_of(refused.value)["message"]
        assert message.endswith(
            'cannot create resource "pods/exec" in API group "" in the namespace "kube-system"'
        )
        assert [r.status for r in cluster1.requests if r.path.endswith("/exec")][-1] == 403
    finally:
        cluster1.clear_forbidden()


# -- the command line ---------------------------------------------------------------------------


def test_every_cilium_fault_has_a_command_line_switch() -> None:
    args = _parser().parse_args(
        [
            "--kubeconfig", "k", "--partition", "cluster1:cluster2",
            "--late-agent", "cluster2=2.5", "--hubble-disabled", "cluster1",
            "--remote-not-ready", "cluster1:cluster2",
            "--non-policy-drop", "cluster2:cluster1=NO_TUNNEL_OR_ENCAPSULATION_ENDPOINT",
        ]
    )  # fmt: skip
    assert mesh_faults_from_args(args) == MeshFaults(
        partitions=frozenset({frozenset({"cluster1", "cluster2"})}),
        late_agents={"cluster2": 2.5},
        hubble_disabled=frozenset({"cluster1"}),
        not_ready=frozenset({("cluster1", "cluster2")}),
        drops={("cluster2", "cluster1"): "NO_TUNNEL_OR_ENCAPSULATION_ENDPOINT"},
    )
    with pytest.raises(SystemExit, match="not a non-policy drop reason"):
        mesh_faults_from_args(
            _parser().parse_args(["--kubeconfig", "k", "--non-policy-drop", "a:b=POLICY_DENIED"])
        )


def test_the_command_line_breaks_the_agents_it_is_told_to(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "mesh.yaml"
    process = subprocess.Popen(
        [sys.executable, "-m", "clustermesh_emulator", "--kubeconfig", str(kubeconfig),
         "--hubble-disabled", "cluster2", "--remote-not-ready", "cluster1:cluster2",
         "--forbid", "delete:namespaces"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip
    assert process.stdout is not None and process.stderr is not None
    try:
        ready, _, _ = select.select([process.stdout], [], [], 30)
        assert ready and "kubeconfig written to" in process.stdout.readline()
        emulated = _Remote(kubeconfig)
        [remote] = emulated.status("kind-cluster1")["cluster-mesh"]["clusters"]
        assert remote["ready"] is False
        assert emulated.status("kind-cluster2")["hubble"]["state"] == "Disabled"
        with (
            api_client(str(kubeconfig), "kind-cluster1") as api,
            pytest.raises(ApiException) as refused,
        ):
            client.CoreV1Api(api).delete_namespace("default")
        assert refused.value.status == 403 and "cannot delete resource" in str(refused.value.body)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0, process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()


class _Remote:
    """Agent execs against an emulator in another process."""

    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig

    def status(self, context: str) -> dict[str, Any]:
        from kubernetes.stream import stream

        with api_client(str(self.kubeconfig), context) as api:
            core: Any = client.CoreV1Api(api)
            [agent] = core.list_namespaced_pod("kube-system", label_selector="k8s-app=cilium").items
            response = stream(
                core.connect_get_namespaced_pod_exec, agent.metadata.name, "kube-system",
                command=["cilium-dbg", "status", "-o", "json"], stderr=True, stdin=False,
                stdout=True, tty=False, _preload_content=False,
            )  # fmt: skip
            try:
                response.run_forever(timeout=10)
                body: dict[str, Any] = json.loads(response.read_stdout())
                return body
            finally:
                response.close()
                response.sock.shutdown()
