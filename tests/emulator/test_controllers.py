"""Controllers: Deployments get pods, pods start or fail to pull, Services get addresses."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from clustermesh_emulator import Cluster, Emulator

from .conftest import deployment, pod, status_of


def test_a_deployment_gets_running_ready_pods(
    cluster1: Cluster, core: Any, apps: Any, namespace: str
) -> None:
    apps.create_namespaced_deployment(namespace, deployment("web", replicas=3))
    cluster1.settle()
    pods = core.list_namespaced_pod(namespace, label_selector="app=web").items
    assert len(pods) == 3
    for item in pods:
        assert re.fullmatch(r"web-[0-9a-f]{10}-[a-z0-9]{5}", item.metadata.name)
        assert item.metadata.labels["pod-template-hash"] == item.metadata.name.split("-")[1]
        [owner] = item.metadata.owner_references
        assert (owner.kind, owner.name, owner.controller) == ("Deployment", "web", True)
        assert item.status.phase == "Running"
        assert ipaddress.ip_address(item.status.pod_ip) in ipaddress.ip_network("10.1.0.0/16")
        assert item.status.host_ip == "172.18.1.2"
        ready = {c.type: c.status for c in item.status.conditions}
        assert ready["Ready"] == ready["ContainersReady"] == "True"
        [container] = item.status.container_statuses
        assert container.ready and container.state.running is not None
    assert len({item.status.pod_ip for item in pods}) == 3
    status = apps.read_namespaced_deployment_status("web", namespace).status
    assert (status.replicas, status.ready_replicas, status.available_replicas) == (3, 3, 3)
    assert {c.type: c.status for c in status.conditions}["Available"] == "True"


def test_a_deployment_scales_and_takes_its_pods_along(
    cluster1: Cluster, core: Any, apps: Any, namespace: str
) -> None:
    apps.create_namespaced_deployment(namespace, deployment("web", replicas=1))
    cluster1.settle()
    apps.patch_namespaced_deployment("web", namespace, {"spec": {"replicas": 4}})
    cluster1.settle()
    assert len(core.list_namespaced_pod(namespace).items) == 4
    scale = apps.read_namespaced_deployment_scale("web", namespace)
    scale.spec.replicas = 2
    apps.replace_namespaced_deployment_scale("web", namespace, scale)
    cluster1.settle()
    assert len(core.list_namespaced_pod(namespace).items) == 2
    assert apps.read_namespaced_deployment("web", namespace).status.ready_replicas == 2
    apps.delete_namespaced_deployment("web", namespace)
    cluster1.settle()
    assert core.list_namespaced_pod(namespace).items == []


def test_a_template_change_replaces_the_pods(
    cluster1: Cluster, core: Any, apps: Any, namespace: str
) -> None:
    apps.create_namespaced_deployment(namespace, deployment("web", replicas=2))
    cluster1.settle()
    before = {p.metadata.name for p in core.list_namespaced_pod(namespace).items}
    changed = apps.read_namespaced_deployment("web", namespace)
    changed.spec.template.spec.containers[0].image = "nginx:1.28"
    apps.replace_namespaced_deployment("web", namespace, changed)
    cluster1.settle()
    after = core.list_namespaced_pod(namespace).items
    assert len(after) == 2 and not before & {p.metadata.name for p in after}
    assert {p.spec.containers[0].image for p in after} == {"nginx:1.28"}


def test_an_orphaning_delete_leaves_the_pods(
    cluster1: Cluster, core: Any, apps: Any, namespace: str
) -> None:
    apps.create_namespaced_deployment(namespace, deployment("web", replicas=2))
    cluster1.settle()
    apps.delete_namespaced_deployment("web", namespace, propagation_policy="Orphan")
    cluster1.settle()
    pods = core.list_namespaced_pod(namespace).items
    assert len(pods) == 2 and all(p.metadata.owner_references is None for p in pods)


def test_a_deleted_pod_is_replaced(cluster1: Cluster, core: Any, apps: Any, namespace: str) -> None:
    apps.create_namespaced_deployment(namespace, deployment("web", replicas=1))
    cluster1.settle()
    [first] = core.list_namespaced_pod(namespace).items
    core.delete_namespaced_pod(first.metadata.name, namespace)
    cluster1.settle()
    [second] = core.list_namespaced_pod(namespace).items
    assert second.metadata.name != first.metadata.name and second.status.phase == "Running"


def test_an_unpullable_image_stays_pending_with_events(
    cluster1: Cluster, core: Any, apps: Any, namespace: str
) -> None:
    image = "registry.example/team/does-not-exist:1"
    apps.create_namespaced_deployment(namespace, deployment("bad", image=image))
    cluster1.settle()
    [stuck] = core.list_namespaced_pod(namespace).items
    assert stuck.status.phase == "Pending"
    waiting = stuck.status.container_statuses[0].state.waiting
    assert waiting.reason == "ImagePullBackOff"
    assert f'Back-off pulling image "{image}"' in waiting.message
    events = core.list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={stuck.metadata.name},type=Warning"
    ).items
    pulls = [e for e in events if e.message.startswith("Failed to pull image")]
    assert len(pulls) == 1
    [event] = pulls
    assert (event.reason, event.involved_object.kind) == ("Failed", "Pod")
    assert event.involved_object.uid == stuck.metadata.uid
    assert event.message.startswith(f'Failed to pull image "{image}": rpc error: code = NotFound')
    status = apps.read_namespaced_deployment("bad", namespace).status
    assert status.ready_replicas is None and status.unavailable_replicas == 1
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_pod_log(stuck.metadata.name, namespace)
    assert status_of(caught.value)["message"].endswith(
        "is waiting to start: trying and failing to pull image"
    )


def test_fixing_the_image_starts_the_pod(cluster1: Cluster, core: Any, namespace: str) -> None:
    core.create_namespaced_pod(namespace, pod("p", image="does-not-exist"))
    cluster1.settle()
    core.patch_namespaced_pod("p", namespace, {"spec": {"containers": [
        {"name": "main", "image": "nginx:1.27"}]}})  # fmt: skip
    cluster1.settle()
    assert core.read_namespaced_pod("p", namespace).status.phase == "Running"


def test_a_missing_service_account_blocks_pods(
    cluster1: Cluster, core: Any, apps: Any, namespace: str
) -> None:
    with_account = pod("p")
    with_account["spec"]["serviceAccountName"] = "robot"
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_pod(namespace, with_account)
    assert caught.value.status == 403
    assert status_of(caught.value)["message"] == (
        'pods "p" is forbidden: error looking up service account '
        f'{namespace}/robot: serviceaccount "robot" not found'
    )
    web = deployment("web")
    web["spec"]["template"]["spec"]["serviceAccountName"] = "robot"
    apps.create_namespaced_deployment(namespace, web)
    cluster1.settle()
    conditions = apps.read_namespaced_deployment("web", namespace).status.conditions
    failure = next(c for c in conditions if c.type == "ReplicaFailure")
    assert failure.reason == "FailedCreate" and "robot" in failure.message
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "robot"}})
    cluster1.settle()
    assert len(core.list_namespaced_pod(namespace).items) == 1
    conditions = apps.read_namespaced_deployment("web", namespace).status.conditions
    assert "ReplicaFailure" not in {c.type for c in conditions}


def test_services_get_cluster_ips_from_the_cluster_range(
    mesh: Emulator, core: Any, namespace: str
) -> None:
    service = {"metadata": {"name": "svc"}, "spec": {"selector": {"app": "x"},
                                                       "ports": [{"port": 80}]}}  # fmt: skip
    created = core.create_namespaced_service(namespace, service)
    address = ipaddress.ip_address(created.spec.cluster_ip)
    assert address in ipaddress.ip_network("172.20.1.0/24")
    assert created.spec.cluster_ips == [created.spec.cluster_ip]
    assert created.spec.ports[0].target_port == 80
    created.spec.cluster_ip = "172.20.1.200"
    with pytest.raises(ApiException) as caught:
        core.replace_namespaced_service("svc", namespace, created)
    assert caught.value.status == 422
    assert status_of(caught.value)["message"].endswith("field is immutable")
    other = mesh["cluster2"].create({"apiVersion": "v1", "kind": "Service", "metadata": {
        "name": "svc", "namespace": "default"}, "spec": {"ports": [{"port": 80}]}})  # fmt: skip
    assert other["spec"]["clusterIP"].startswith("172.20.2.")


def test_pod_updates_may_only_change_images(core: Any, namespace: str) -> None:
    created = core.create_namespaced_pod(namespace, pod("p"))
    created.spec.containers[0].command = ["sleep"]
    with pytest.raises(ApiException) as caught:
        core.replace_namespaced_pod("p", namespace, created)
    assert caught.value.status == 422
    assert "pod updates may not change fields other than" in status_of(caught.value)["message"]


# ---------------------------------------------------------------------------------------------
# observers


def test_observers_see_every_change(cluster1: Cluster, core: Any, apps: Any) -> None:
    seen: list[tuple[str, str, str]] = []

    def observe(event: str, obj: dict[str, Any]) -> None:
        if obj["metadata"].get("namespace") == "watched" or obj["metadata"]["name"] == "watched":
            seen.append((event, obj["kind"], obj["metadata"]["name"]))

    unsubscribe = cluster1.subscribe(observe)
    try:
        core.create_namespace({"metadata": {"name": "watched"}})
        apps.create_namespaced_deployment("watched", deployment("web"))
        cluster1.settle()
        core.delete_namespace("watched")
        cluster1.settle()
    finally:
        unsubscribe()
    kinds = {(event, kind) for event, kind, _ in seen}
    assert ("ADDED", "Namespace") in kinds and ("DELETED", "Namespace") in kinds
    assert {("ADDED", "Pod"), ("MODIFIED", "Pod"), ("DELETED", "Pod")} <= kinds
    assert ("MODIFIED", "Deployment") in kinds and ("ADDED", "ServiceAccount") in kinds
    assert seen[0] == ("ADDED", "Namespace", "watched")
    assert seen[-1] == ("DELETED", "Namespace", "watched")
    count = len(seen)
    core.create_namespace({"metadata": {"name": "watched"}})
    assert len(seen) == count  # unsubscribed


def test_replay_reports_what_exists(cluster1: Cluster) -> None:
    seen: list[tuple[str, str]] = []
    cluster1.subscribe(lambda event, obj: seen.append((event, obj["kind"])), replay=True)()
    assert seen[0] == ("ADDED", "Namespace")
    assert ("ADDED", "DaemonSet") in seen and {event for event, _ in seen} == {"ADDED"}


# ---------------------------------------------------------------------------------------------
# the state API


def test_the_state_api_reads_and_writes_without_http(cluster1: Cluster) -> None:
    before = len(cluster1.requests)
    cluster1.create({"apiVersion": "v1", "kind": "ConfigMap",
                     "metadata": {"name": "direct", "namespace": "default"}})  # fmt: skip
    found = cluster1.get("cm", "direct", "default")
    assert found is not None and found["metadata"]["uid"]
    assert [o["metadata"]["name"] for o in cluster1.list_objects(
        "configmaps", "default", fields="metadata.name=direct")] == ["direct"]  # fmt: skip
    cluster1.delete("ConfigMap", "direct", "default")
    assert cluster1.get("configmaps", "direct", "default") is None
    assert len(cluster1.requests) == before
    with pytest.raises(KeyError):
        cluster1.get("widgets", "x")
