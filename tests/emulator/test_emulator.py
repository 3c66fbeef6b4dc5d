"""Starting and stopping clusters, their configuration and seeded state; pure helpers."""

from __future__ import annotations

import base64
import threading
from typing import Any

import pytest
import yaml
from kubernetes import client

from clustermesh_emulator import ClusterConfig, Emulator, default_clusters
from clustermesh_emulator.patch import PatchError, json_patch, merge_patch
from clustermesh_emulator.selectors import (
    labels_match,
    parse_label_selector,
    selector_from_spec,
)

from .conftest import api_client


def test_seeded_state_follows_the_configuration() -> None:
    configs = [
        ClusterConfig("east", cluster_name="mesh-east", cluster_id=7, cilium_version="1.19.1",
                      options={"policy-default-local-cluster": "true"}),
        ClusterConfig("west", cluster_id=8),
        ClusterConfig("lonely", cluster_id=9, clustermesh=False),
    ]  # fmt: skip
    with Emulator(configs) as emulator:
        east, west, lonely = emulator["east"], emulator["west"], emulator["lonely"]
        config = east.get("configmaps", "cilium-config", "kube-system")
        assert config is not None and config["data"] == {
            "cluster-name": "mesh-east", "cluster-id": "7",
            "policy-default-local-cluster": "true",
        }  # fmt: skip
        agent = east.get("daemonsets", "cilium", "kube-system")
        assert agent is not None and agent["metadata"]["labels"]["k8s-app"] == "cilium"
        image = agent["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image == "quay.io/cilium/cilium:v1.19.1"
        secret = west.get("secrets", "cilium-clustermesh", "kube-system")
        assert secret is not None and list(secret["data"]) == ["mesh-east"]
        assert b"mesh-east.mesh.cilium.io" in base64.b64decode(secret["data"]["mesh-east"])
        apiserver = west.get("deployments", "clustermesh-apiserver", "kube-system")
        assert apiserver is not None and apiserver["status"]["readyReplicas"] == 1
        assert lonely.get("deployments", "clustermesh-apiserver", "kube-system") is None
        assert lonely.get("secrets", "cilium-clustermesh", "kube-system") is None
        [pod] = east.list_objects("pods", "kube-system", labels="k8s-app=cilium")
        assert pod["status"]["podIP"] == pod["status"]["hostIP"] == "172.18.7.2"
        kubeconfig = yaml.safe_load(emulator.kubeconfig_path.read_text())
        assert [c["name"] for c in kubeconfig["contexts"]] == [
            "kind-east", "kind-west", "kind-lonely"
        ]  # fmt: skip
        assert kubeconfig["current-context"] == "kind-east"
        path = emulator.kubeconfig_path
    assert not path.exists(), "the temporary kubeconfig outlives the emulator"


def test_several_nodes_get_one_agent_each() -> None:
    with Emulator([ClusterConfig(nodes=3, start_delay=0)]) as emulator:
        cluster = emulator["cluster1"]
        agents = cluster.list_objects("pods", "kube-system", labels="k8s-app=cilium")
        assert sorted(p["spec"]["nodeName"] for p in agents) == [
            "cluster1-control-plane", "cluster1-worker", "cluster1-worker2"
        ]  # fmt: skip
        agent = cluster.get("daemonsets", "cilium", "kube-system")
        assert agent is not None and agent["status"]["numberReady"] == 3


def test_stopping_leaves_no_thread_or_port(tmp_path: Any) -> None:
    emulator = Emulator(default_clusters(1))
    emulator.start()
    url = emulator["cluster1"].url
    written = emulator.write_kubeconfig(tmp_path / "kubeconfig")
    emulator.stop()
    emulator.stop()
    assert not emulator.running
    assert not [t for t in threading.enumerate() if t.name == "clustermesh-emulator"]
    with api_client(str(written)) as api:
        api.configuration.retries = False
        with pytest.raises(Exception, match="Connection refused"):
            client.VersionApi(api).get_code()
    assert url.startswith("http://127.0.0.1:")
    with pytest.raises(RuntimeError):
        emulator.start()


def test_a_port_already_taken_fails_start() -> None:
    with Emulator(default_clusters(1)) as first:
        taken = ClusterConfig(port=first["cluster1"].port)
        with pytest.raises(RuntimeError, match="failed to start"):
            Emulator([taken]).start()


def test_bad_configurations_are_refused() -> None:
    with pytest.raises(ValueError):
        ClusterConfig(cluster_id=0)
    with pytest.raises(ValueError):
        Emulator([ClusterConfig(), ClusterConfig()])


# ---------------------------------------------------------------------------------------------
# pure helpers


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        ("a=1", {"a": "1"}, True),
        ("a=1", {"a": "2"}, False),
        ("a!=1", {}, True),
        ("a in (1, 2),b", {"a": "2", "b": ""}, True),
        ("a notin (1)", {}, True),
        ("!a", {"a": "x"}, False),
        ("x.io/k=v", {"x.io/k": "v"}, True),
    ],
)
def test_label_selector_semantics(selector: str, labels: dict[str, str], matches: bool) -> None:
    assert labels_match(parse_label_selector(selector), labels) is matches


@pytest.mark.parametrize("selector", ["a in 1", "a==", "=1", "a in (b c)"])
def test_malformed_label_selectors(selector: str) -> None:
    if selector == "a==":
        assert parse_label_selector(selector)[0].values == frozenset({""})
        return
    with pytest.raises(ValueError):
        parse_label_selector(selector)


def test_label_selector_objects() -> None:
    selector = selector_from_spec({
        "matchLabels": {"app": "web"},
        "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}],
    })  # fmt: skip
    assert labels_match(selector, {"app": "web", "tier": "fe"})
    assert not labels_match(selector, {"app": "web", "tier": "db"})


def test_merge_patches() -> None:
    target: dict[str, Any] = {"a": {"b": 1, "c": 2}, "l": [{"name": "x", "v": 1}]}
    assert merge_patch(target, {"a": {"b": None, "d": 3}}) == {
        "a": {"c": 2, "d": 3}, "l": [{"name": "x", "v": 1}]
    }  # fmt: skip
    assert merge_patch(target, {"l": [{"name": "y"}]})["l"] == [{"name": "y"}]
    assert merge_patch(target, {"l": [{"name": "x", "w": 2}]}, by_name=True)["l"] == [
        {"name": "x", "v": 1, "w": 2}
    ]


def test_json_patches() -> None:
    doc = {"a": [1, 2], "b": {"c": "x"}}
    patched = json_patch(doc, [
        {"op": "add", "path": "/a/-", "value": 3},
        {"op": "replace", "path": "/b/c", "value": "y"},
        {"op": "copy", "from": "/b", "path": "/d"},
        {"op": "remove", "path": "/a/0"},
        {"op": "test", "path": "/d/c", "value": "y"},
    ])  # fmt: skip
    assert patched == {"a": [2, 3], "b": {"c": "y"}, "d": {"c": "y"}}
    assert doc == {"a": [1, 2], "b": {"c": "x"}}
    with pytest.raises(PatchError):
        json_patch(doc, [{"op": "remove", "path": "/missing"}])
