"""REST semantics through the official client: CRUD per kind, selectors, errors as Status."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from clustermesh_emulator import Cluster, Emulator

from .conftest import deployment, pod, raw, status_of

# ---------------------------------------------------------------------------------------------
# CRUD for each kind


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        ("config_map", {"metadata": {"name": "c", "labels": {"a": "1"}}, "data": {"k": "v"}}),
        ("secret", {"metadata": {"name": "s", "labels": {"a": "1"}}, "stringData": {"k": "v"}}),
        ("service_account", {"metadata": {"name": "sa", "labels": {"a": "1"}}}),
        ("service", {"metadata": {"name": "svc", "labels": {"a": "1"}},
                     "spec": {"selector": {"app": "x"}, "ports": [{"port": 80}]}}),
        ("pod", {**pod("p", a="1")}),
    ],
)  # fmt: skip
def test_core_kinds_support_every_verb(
    cluster1: Cluster, core: Any, namespace: str, kind: str, body: Any
) -> None:
    name = body["metadata"]["name"]
    created = getattr(core, f"create_namespaced_{kind}")(namespace, body)
    assert created.metadata.name == name and created.metadata.namespace == namespace
    assert created.metadata.uid and created.metadata.creation_timestamp
    cluster1.settle()  # a pod's status changes as it starts
    read = getattr(core, f"read_namespaced_{kind}")(name, namespace)
    assert read.metadata.uid == created.metadata.uid
    listed = getattr(core, f"list_namespaced_{kind}")(namespace, label_selector="a=1")
    assert [item.metadata.name for item in listed.items] == [name]
    patched = getattr(core, f"patch_namespaced_{kind}")(
        name, namespace, {"metadata": {"labels": {"b": "2"}}}
    )
    assert patched.metadata.labels == {"a": "1", "b": "2"}
    assert int(patched.metadata.resource_version) > int(read.metadata.resource_version)
    patched.metadata.labels["c"] = "3"
    replaced = getattr(core, f"replace_namespaced_{kind}")(name, namespace, patched)
    assert replaced.metadata.labels == {"a": "1", "b": "2", "c": "3"}
    getattr(core, f"delete_namespaced_{kind}")(name, namespace)
    with pytest.raises(ApiException) as caught:
        getattr(core, f"read_namespaced_{kind}")(name, namespace)
    assert caught.value.status == 404


def test_apps_and_networking_kinds(api: Any, namespace: str) -> None:
    apps: Any = client.AppsV1Api(api)
    net: Any = client.NetworkingV1Api(api)
    created = apps.create_namespaced_deployment(namespace, deployment("web"))
    assert created.spec.replicas == 1 and created.metadata.generation == 1
    daemonset = deployment("agent")
    del daemonset["spec"]["replicas"]
    daemonset["kind"] = "DaemonSet"
    assert apps.create_namespaced_daemon_set(namespace, daemonset).metadata.name == "agent"
    policy = {"metadata": {"name": "deny"}, "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}
    assert net.create_namespaced_network_policy(namespace, policy).spec.policy_types == ["Ingress"]
    assert [p.metadata.name for p in net.list_network_policy_for_all_namespaces().items] == ["deny"]
    scaled = apps.patch_namespaced_deployment(
        "web", namespace, [{"op": "replace", "path": "/spec/replicas", "value": 3}]
    )
    assert scaled.spec.replicas == 3 and scaled.metadata.generation == 2
    apps.delete_namespaced_daemon_set("agent", namespace)
    net.delete_namespaced_network_policy("deny", namespace)
    assert apps.list_namespaced_daemon_set(namespace).items == []


def test_cilium_policies_through_custom_objects(custom: Any, namespace: str) -> None:
    cnp = {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": {"name": "allow"},
        "spec": {"endpointSelector": {}, "ingress": [{"fromEndpoints": [{}]}]},
    }
    created = custom.create_namespaced_custom_object(
        "cilium.io", "v2", namespace, "ciliumnetworkpolicies", cnp
    )
    assert created is not None, "create must answer 201 with the object"
    assert created["metadata"]["namespace"] == namespace and created["kind"] == cnp["kind"]
    listed = custom.list_namespaced_custom_object(
        "cilium.io", "v2", namespace, "ciliumnetworkpolicies"
    )
    assert [item["kind"] for item in listed["items"]] == ["CiliumNetworkPolicy"]
    patched = custom.patch_namespaced_custom_object(
        "cilium.io", "v2", namespace, "ciliumnetworkpolicies", "allow",
        {"spec": {"ingress": None, "egress": [{}]}},
    )  # fmt: skip
    assert patched["spec"] == {"endpointSelector": {}, "egress": [{}]}
    custom.delete_namespaced_custom_object(
        "cilium.io", "v2", namespace, "ciliumnetworkpolicies", "allow"
    )

    ccnp = {**cnp, "kind": "CiliumClusterwideNetworkPolicy", "metadata": {"name": "wide"}}
    created = custom.create_cluster_custom_object(
        "cilium.io", "v2", "ciliumclusterwidenetworkpolicies", ccnp
    )
    assert created["metadata"]["name"] == "wide" and "namespace" not in created["metadata"]
    read = custom.get_cluster_custom_object(
        "cilium.io", "v2", "ciliumclusterwidenetworkpolicies", "wide"
    )
    read["spec"]["description"] = "replaced"
    replaced = custom.replace_cluster_custom_object(
        "cilium.io", "v2", "ciliumclusterwidenetworkpolicies", "wide", read
    )
    assert replaced["spec"]["description"] == "replaced"
    deleted = custom.delete_cluster_custom_object(
        "cilium.io", "v2", "ciliumclusterwidenetworkpolicies", "wide"
    )
    assert deleted["metadata"]["name"] == "wide"


def test_events_list_in_a_namespace_and_everywhere(core: Any, namespace: str) -> None:
    event = {
        "metadata": {"name": "e1"},
        "involvedObject": {"kind": "Pod", "name": "p", "namespace": namespace},
        "reason": "Testing",
        "message": "hello",
        "type": "Normal",
    }
    core.create_namespaced_event(namespace, event)
    assert [e.reason for e in core.list_namespaced_event(namespace).items] == ["Testing"]
    everywhere = core.list_event_for_all_namespaces(field_selector="reason=Testing")
    assert [e.metadata.namespace for e in everywhere.items] == [namespace]


def test_pod_status_and_log_subresources(cluster1: Cluster, core: Any, namespace: str) -> None:
    core.create_namespaced_pod(namespace, pod("p"))
    cluster1.settle()
    cluster1.set_pod_log(namespace, "p", "one\ntwo\nthree\n")
    assert core.read_namespaced_pod_log("p", namespace) == "one\ntwo\nthree\n"
    assert core.read_namespaced_pod_log("p", namespace, tail_lines=1) == "three\n"
    patched = core.patch_namespaced_pod_status(
        "p", namespace, {"status": {"phase": "Succeeded"}, "metadata": {"labels": {"x": "y"}}}
    )
    assert patched.status.phase == "Succeeded" and not patched.metadata.labels
    assert core.read_namespaced_pod_status("p", namespace).status.phase == "Succeeded"


# ---------------------------------------------------------------------------------------------
# selectors


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("tier=web", ["a", "b"]),
        ("tier==web,env=prod", ["a"]),
        ("tier!=web", ["c", "d"]),
        ("env", ["a", "b", "c"]),
        ("!env", ["d"]),
        ("env in (prod, dev)", ["a", "b"]),
        ("env notin (prod),tier", ["b", "c"]),
        ("", ["a", "b", "c", "d"]),
    ],
)
def test_label_selectors(core: Any, namespace: str, selector: str, expected: list[str]) -> None:
    for name, labels in {
        "a": {"tier": "web", "env": "prod"},
        "b": {"tier": "web", "env": "dev"},
        "c": {"tier": "db", "env": "test"},
        "d": {},
    }.items():
        core.create_namespaced_config_map(namespace, {"metadata": {"name": name, "labels": labels}})
    listed = core.list_namespaced_config_map(namespace, label_selector=selector)
    assert [item.metadata.name for item in listed.items] == expected


def test_field_selectors_and_all_namespaces(cluster1: Cluster, core: Any, namespace: str) -> None:
    core.create_namespaced_pod(namespace, pod("p1"))
    core.create_namespaced_pod(namespace, pod("p2"))
    cluster1.settle()
    assert [p.metadata.name for p in core.list_namespaced_pod(
        namespace, field_selector="metadata.name=p2").items] == ["p2"]  # fmt: skip
    running = core.list_pod_for_all_namespaces(field_selector="status.phase=Running").items
    assert {f"{namespace}/p1", f"{namespace}/p2"} <= {
        f"{p.metadata.namespace}/{p.metadata.name}" for p in running
    }
    with pytest.raises(ApiException) as caught:
        core.list_namespaced_pod(namespace, field_selector="spec.nonsense=1")
    assert caught.value.status == 400
    assert status_of(caught.value)["message"] == "field label not supported: spec.nonsense"
    with pytest.raises(ApiException) as caught:
        core.list_namespaced_pod(namespace, label_selector="a in b")
    assert caught.value.status == 400


def test_a_list_in_a_missing_namespace_is_empty(core: Any) -> None:
    assert core.list_namespaced_pod("nowhere").items == []


# ---------------------------------------------------------------------------------------------
# errors


def test_not_found_is_a_real_status(core: Any, apps: Any, namespace: str) -> None:
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_pod("missing", namespace)
    status = status_of(caught.value)
    assert (status["reason"], status["message"]) == ("NotFound", 'pods "missing" not found')
    assert status["details"] == {"name": "missing", "kind": "pods"}
    with pytest.raises(ApiException) as caught:
        apps.delete_namespaced_deployment("missing", namespace)
    assert status_of(caught.value)["message"] == 'deployments.apps "missing" not found'


def test_creating_twice_conflicts(core: Any, namespace: str) -> None:
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "c"}})
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "c"}})
    status = status_of(caught.value)
    assert caught.value.status == 409
    assert status["reason"] == "AlreadyExists"
    assert status["message"] == 'configmaps "c" already exists'


def test_a_stale_resource_version_conflicts(core: Any, namespace: str) -> None:
    first = core.create_namespaced_config_map(namespace, {"metadata": {"name": "c"}})
    core.patch_namespaced_config_map("c", namespace, {"data": {"k": "v"}})
    first.data = {"k": "other"}
    with pytest.raises(ApiException) as caught:
        core.replace_namespaced_config_map("c", namespace, first)
    assert caught.value.status == 409 and status_of(caught.value)["reason"] == "Conflict"


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"metadata": {}}, "metadata.name", "Required value: name or generateName is required"),
        ({"metadata": {"name": "Bad_Name"}}, "metadata.name",
         'Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of'),
        ({"metadata": {"name": "c", "labels": {"k": "not ok"}}}, "metadata.labels",
         'Invalid value: "not ok": a valid label must be'),
    ],
)  # fmt: skip
def test_invalid_objects_are_422(
    core: Any, namespace: str, body: Any, field: str, message: str
) -> None:
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_config_map(namespace, body)
    status = status_of(caught.value)
    assert caught.value.status == 422 and status["reason"] == "Invalid"
    [cause] = status["details"]["causes"]
    assert cause["field"] == field and cause["message"].startswith(message)
    name = body["metadata"].get("name", "")
    assert status["message"].startswith(f'ConfigMap "{name}" is invalid')


def test_kind_specific_validation(core: Any, apps: Any, namespace: str) -> None:
    no_image = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}}
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_pod(namespace, no_image)
    message = status_of(caught.value)["message"]
    assert message == 'Pod "p" is invalid: spec.containers[0].image: Required value'
    broken = deployment("web")
    broken["spec"]["selector"] = {"matchLabels": {"app": "other"}}
    with pytest.raises(ApiException) as caught:
        apps.create_namespaced_deployment(namespace, broken)
    assert "`selector` does not match template `labels`" in status_of(caught.value)["message"]
    with pytest.raises(ApiException) as caught:
        core.create_namespace({"metadata": {"name": "has.dots"}})
    assert "RFC 1123 label" in status_of(caught.value)["message"]


def test_a_missing_namespace_is_404(core: Any) -> None:
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_config_map("nowhere", {"metadata": {"name": "c"}})
    status = status_of(caught.value)
    assert (caught.value.status, status["message"]) == (404, 'namespaces "nowhere" not found')
    assert status["details"] == {"name": "nowhere", "kind": "namespaces"}


@pytest.mark.parametrize(
    ("method", "path", "body", "code", "reason"),
    [
        ("POST", "/api/v1/namespaces/default/configmaps", b"{not json", 400, "BadRequest"),
        ("POST", "/api/v1/namespaces/default/configmaps", b"[]", 400, "BadRequest"),
        ("GET", "/api/v1/widgets", None, 404, "NotFound"),
        ("GET", "/apis/example.com/v1", None, 404, "NotFound"),
        ("DELETE", "/api/v1/namespaces/default/pods/x/log", None, 405, "MethodNotAllowed"),
        ("GET", "/api/v1/pods?watch=true", None, 405, "MethodNotAllowed"),
    ],
)
def test_bad_requests_get_a_status(
    cluster1: Cluster, method: str, path: str, body: bytes | None, code: int, reason: str
) -> None:
    headers = {"Content-Type": "application/json"}
    answer = raw(cluster1, method, path, body, headers)
    assert (answer.status, answer.body["kind"], answer.body["reason"]) == (code, "Status", reason)
    assert answer.body["code"] == code


# ---------------------------------------------------------------------------------------------
# namespaces


def test_deleting_a_namespace_empties_it(
    mesh: Emulator, cluster1: Cluster, core: Any, apps: Any, namespace: str
) -> None:
    apps.create_namespaced_deployment(namespace, deployment("web", replicas=2))
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "c"}})
    cluster1.settle()
    assert len(core.list_namespaced_pod(namespace).items) == 2
    deleted = raw(cluster1, "DELETE", f"/api/v1/namespaces/{namespace}")
    assert (deleted.status, deleted.body["kind"]) == (200, "Namespace")
    assert deleted.body["status"]["phase"] == "Terminating"
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "late"}})
    status = status_of(caught.value)
    assert (caught.value.status, status["reason"]) == (403, "Forbidden")
    assert status["message"] == (
        f'configmaps "late" is forbidden: unable to create new content in namespace {namespace} '
        "because it is being terminated"
    )
    with pytest.raises(ApiException) as caught:
        core.create_namespace({"metadata": {"name": namespace}})
    assert status_of(caught.value)["message"].startswith("object is being deleted: ")
    cluster1.settle()
    with pytest.raises(ApiException) as caught:
        core.read_namespace(namespace)
    assert caught.value.status == 404
    assert cluster1.list_objects("pods", namespace) == []
    assert cluster1.list_objects("deployments", namespace) == []
    assert cluster1.list_objects("configmaps", namespace) == []


def test_system_namespaces_cannot_be_deleted(core: Any) -> None:
    with pytest.raises(ApiException) as caught:
        core.delete_namespace("kube-system")
    assert caught.value.status == 403


def test_namespaces_are_labelled_and_get_a_default_account(
    cluster1: Cluster, core: Any, namespace: str
) -> None:
    labels = core.read_namespace(namespace).metadata.labels
    assert labels == {"kubernetes.io/metadata.name": namespace}
    cluster1.settle()
    assert core.read_namespaced_service_account("default", namespace).metadata.name == "default"


def test_deletecollection_by_label(core: Any, namespace: str) -> None:
    for name, tier in (("a", "x"), ("b", "x"), ("c", "y")):
        core.create_namespaced_config_map(
            namespace, {"metadata": {"name": name, "labels": {"tier": tier}}}
        )
    core.delete_collection_namespaced_config_map(namespace, label_selector="tier=x")
    assert [c.metadata.name for c in core.list_namespaced_config_map(namespace).items] == ["c"]


def test_dry_run_changes_nothing(core: Any, namespace: str) -> None:
    created = core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "c"}}, dry_run="All"
    )
    assert created.metadata.name == "c"
    assert core.list_namespaced_config_map(namespace).items == []


def test_version_and_discovery(api: Any) -> None:
    assert client.VersionApi(api).get_code().git_version == "v1.32.2"
    resources = client.CoreV1Api(api).get_api_resources()
    pods = next(r for r in resources.resources if r.name == "pods")
    assert (pods.kind, pods.namespaced) == ("Pod", True)
    assert "pods/exec" in {r.name for r in resources.resources}
    groups = {g.name for g in client.ApisApi(api).get_api_versions().groups}
    assert groups == {
        "apps",
        "discovery.k8s.io",
        "networking.k8s.io",
        "cilium.io",
        "policy.networking.k8s.io",
    }
