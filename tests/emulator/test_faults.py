"""Fault injection, rejected objects and the request log."""

from __future__ import annotations

import time
from typing import Any

import pytest
import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from clustermesh_emulator import Cluster, Emulator, Faults

from .conftest import api_client, pod, raw, run_exec, status_of


def test_errors_are_injected_and_counted(cluster1: Cluster, core: Any) -> None:
    cluster1.clear_requests()
    # Without Retry-After: with one, urllib3 itself retries a GET answered 429 or 503.
    cluster1.faults = Faults(error_rate=1.0, error_statuses=(500, 429), retry_after=None, seed=7)
    seen = []
    for _ in range(20):
        with pytest.raises(ApiException) as caught:
            core.list_namespace()
        seen.append(caught.value.status)
        reason = status_of(caught.value)["reason"]
        assert reason == {429: "TooManyRequests", 500: "InternalError"}[caught.value.status]
    assert set(seen) == {500, 429}
    counts = cluster1.fault_counts
    assert counts.requests == 20 and counts.injected == 20
    assert counts.errors == {500: seen.count(500), 429: seen.count(429)}
    assert {r.fault for r in cluster1.requests} == {"error"}


def test_a_429_says_when_to_retry(cluster1: Cluster) -> None:
    cluster1.faults = Faults(error_rate=1.0, error_statuses=(429,), retry_after=0)
    answer = raw(cluster1, "GET", "/api/v1/namespaces")
    assert (answer.status, answer.headers["Retry-After"]) == (429, "0")
    assert (answer.body["reason"], answer.body["details"]) == (
        "TooManyRequests",
        {"retryAfterSeconds": 0},
    )


def test_a_seeded_error_rate_is_reproducible(cluster1: Cluster, core: Any) -> None:
    def run() -> list[bool]:
        cluster1.faults = Faults(error_rate=0.3, error_statuses=(500,), seed=42)
        outcomes = []
        for _ in range(30):
            try:
                core.read_namespace("default")
                outcomes.append(True)
            except ApiException:
                outcomes.append(False)
        return outcomes

    first = run()
    assert run() == first
    assert 0 < first.count(False) < 30


def test_the_client_retries_after_a_429(mesh: Emulator, cluster1: Cluster) -> None:
    cluster1.faults = Faults(error_rate=0.5, error_statuses=(429,), retry_after=0, seed=3)
    configuration = client.Configuration()
    configuration.host = cluster1.url
    configuration.client_go_retries = True  # kubernetes 37: client-go-style Retry-After retries
    with client.ApiClient(configuration) as api:
        for _ in range(10):
            client.CoreV1Api(api).read_namespace("default")
    assert cluster1.fault_counts.errors[429] > 0


def test_dropped_connections_get_no_answer(cluster1: Cluster) -> None:
    cluster1.clear_requests()
    cluster1.faults = Faults(drop_rate=1.0)
    pool = urllib3.PoolManager(retries=False)
    try:
        with pytest.raises(urllib3.exceptions.ProtocolError):
            pool.request("GET", cluster1.url + "/api/v1/namespaces")
    finally:
        pool.clear()
    assert cluster1.fault_counts.drops == 1
    assert [(r.status, r.fault) for r in cluster1.requests] == [(0, "drop")]


def test_latency_slows_every_request(cluster1: Cluster, core: Any) -> None:
    core.read_namespace("default")
    cluster1.faults = Faults(latency=0.2)
    started = time.monotonic()
    core.read_namespace("default")
    assert time.monotonic() - started >= 0.2
    assert cluster1.fault_counts.delayed >= 1


def test_faults_hit_the_exec_handshake(
    mesh: Emulator, cluster1: Cluster, core: Any, namespace: str
) -> None:
    core.create_namespaced_pod(namespace, pod("p"))
    cluster1.settle()
    cluster1.faults = Faults(error_rate=1.0, error_statuses=(503,))
    with pytest.raises(ApiException) as caught:
        run_exec(mesh, "kind-cluster1", namespace, "p", ["true"])
    assert "Handshake status 503" in str(caught.value.reason)
    cluster1.faults = Faults(exec_delay=0.3)
    started = time.monotonic()
    assert run_exec(mesh, "kind-cluster1", namespace, "p", ["true"]).returncode == 126
    assert time.monotonic() - started >= 0.3 and cluster1.fault_counts.exec_delayed == 1


def test_faults_spare_health_checks_and_the_state_api(cluster1: Cluster) -> None:
    cluster1.faults = Faults(error_rate=1.0)
    answer = raw(cluster1, "GET", "/readyz")
    assert (answer.status, answer.body) == (200, "ok")
    assert cluster1.get("namespaces", "default") is not None


def test_faults_are_per_cluster(mesh: Emulator) -> None:
    mesh["cluster1"].faults = Faults(error_rate=1.0)
    with api_client(str(mesh.kubeconfig_path), "kind-cluster2") as api:
        core: Any = client.CoreV1Api(api)
        assert core.read_namespace("default").metadata.name == "default"


def test_bad_fault_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        Faults(error_rate=2.0)
    with pytest.raises(ValueError):
        Faults(error_rate=0.5, error_statuses=(200,))


def test_a_rejected_policy_is_a_422_with_the_message(
    mesh: Emulator, custom: Any, namespace: str
) -> None:
    mesh["cluster1"].reject(
        "CiliumNetworkPolicy", "bad-*", 'Unsupported value: "HTTP"', field="spec.egress[0]"
    )
    policy: dict[str, Any] = {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": {"name": "bad-one"},
        "spec": {"endpointSelector": {}},
    }
    with pytest.raises(ApiException) as caught:
        custom.create_namespaced_custom_object(
            "cilium.io", "v2", namespace, "ciliumnetworkpolicies", policy
        )
    status = status_of(caught.value)
    assert caught.value.status == 422
    assert status["message"] == (
        'CiliumNetworkPolicy.cilium.io "bad-one" is invalid: spec.egress[0]: Unsupported value: '
        '"HTTP"'
    )
    assert status["details"]["causes"][0]["field"] == "spec.egress[0]"
    policy["metadata"]["name"] = "good"
    custom.create_namespaced_custom_object(
        "cilium.io", "v2", namespace, "ciliumnetworkpolicies", policy
    )


def test_the_request_log_records_every_call(cluster1: Cluster, core: Any, namespace: str) -> None:
    cluster1.clear_requests()
    core.list_namespaced_pod(namespace, label_selector="app=x")
    with pytest.raises(ApiException):
        core.read_namespaced_pod("missing", namespace)
    first, second = cluster1.requests
    assert (first.method, first.path, first.status) == (
        "GET",
        f"/api/v1/namespaces/{namespace}/pods",
        200,
    )
    assert first.params == {"labelSelector": ["app=x"]}
    assert str(second) == f"GET /api/v1/namespaces/{namespace}/pods/missing -> 404"
    assert cluster1.fault_counts.requests == 2 and cluster1.fault_counts.injected == 0
