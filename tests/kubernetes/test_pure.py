"""Pure parts of the Kubernetes backend: manifests, preflight checks, errors, cleanup matching."""

from __future__ import annotations

import argparse
import errno
from datetime import UTC, datetime, timedelta

import pytest
import urllib3
from kubernetes.client.exceptions import ApiException

from pytest_clustermesh.backend import (
    OWNER_LABEL,
    Deployment,
    NamespaceSpec,
    PortSpec,
    ServiceSpec,
    WorkloadSpec,
)
from pytest_clustermesh.facts import ClusterFacts, parse_version
from pytest_clustermesh.kubernetes import manifests
from pytest_clustermesh.kubernetes.cleanup import Leftover, parse_age, run_matcher, split_by_age
from pytest_clustermesh.kubernetes.clients import describe, is_transient, retry_after
from pytest_clustermesh.kubernetes.preflight import check_distinct, image_tag
from pytest_clustermesh.kubernetes.settings import KubernetesSettings, label_value

SETTINGS = KubernetesSettings(run_id="ci 42/a")
SERVER = WorkloadSpec(
    "be",
    "server",
    "cm-x-demo",
    {"app": "backend"},
    ("c1", "c2"),
    replicas=2,
    replicas_in={"c2": 0},
    service_account="be-sa",
    ports=(PortSpec(8080), PortSpec(80), PortSpec(53, "UDP")),
    service=ServiceSpec("be", {"service.cilium.io/global": "true"}),
)
CLIENT = WorkloadSpec("fe", "client", "cm-x-demo", {"app": "frontend"}, ("c1",))
DEPLOYMENT = Deployment(
    "cm-x", ("c1", "c2"), (NamespaceSpec("demo", "cm-x-demo", {"team": "a"}),), (SERVER, CLIENT)
)


def test_pods_keep_their_identity_labels_plus_ownership() -> None:
    body = manifests.workload_deployment(SERVER, "c1", DEPLOYMENT, SETTINGS)
    labels = body["spec"]["template"]["metadata"]["labels"]
    assert labels == {"app": "backend", OWNER_LABEL: "cm-x", manifests.WORKLOAD_LABEL: "be"}
    assert body["spec"]["selector"]["matchLabels"] == manifests.pod_selector(DEPLOYMENT, SERVER)
    assert body["metadata"]["labels"][manifests.RUN_LABEL] == "ci-42-a"
    assert body["spec"]["template"]["spec"]["serviceAccountName"] == "be-sa"


def test_servers_run_one_echo_container_per_tcp_port() -> None:
    body = manifests.workload_deployment(SERVER, "c1", DEPLOYMENT, SETTINGS)
    containers = body["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["echo-8080", "echo-80", "udp-53"]
    assert containers[0]["image"] == "hashicorp/http-echo"
    assert containers[0]["args"] == [
        "-listen=:8080",
        "-text=clustermesh-echo cluster=c1 pod=$(POD_NAME)",
    ]
    assert containers[0]["env"][0]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


def test_replicas_per_cluster() -> None:
    assert (
        manifests.workload_deployment(SERVER, "c2", DEPLOYMENT, SETTINGS)["spec"]["replicas"] == 0
    )
    client = manifests.workload_deployment(CLIENT, "c1", DEPLOYMENT, SETTINGS)
    assert client["spec"]["replicas"] == 1
    command = client["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command == ["sh", "-c", manifests.IDLE_SCRIPT]


def test_services_carry_annotations_and_every_port() -> None:
    body = manifests.service(SERVER, DEPLOYMENT, SETTINGS)
    assert body is not None
    assert body["metadata"]["annotations"] == {"service.cilium.io/global": "true"}
    assert [(p["port"], p["protocol"]) for p in body["spec"]["ports"]] == [
        (8080, "TCP"),
        (80, "TCP"),
        (53, "UDP"),
    ]
    assert manifests.service(CLIENT, DEPLOYMENT, SETTINGS) is None
    assert manifests.service_account(CLIENT, DEPLOYMENT, SETTINGS) is None


def test_namespaces_keep_their_labels() -> None:
    body = manifests.namespace(DEPLOYMENT.namespaces[0], DEPLOYMENT, SETTINGS)
    assert body["metadata"]["labels"]["team"] == "a"
    assert body["metadata"]["labels"][OWNER_LABEL] == "cm-x"


@pytest.mark.parametrize(
    ("image", "tag"),
    [
        ("quay.io/cilium/cilium:v1.19.2@sha256:abc", "v1.19.2"),
        ("localhost:5000/cilium/cilium:1.18.0", "1.18.0"),
        ("cilium:v1.20.0-pre.1", "v1.20.0-pre.1"),
    ],
)
def test_image_tag(image: str, tag: str) -> None:
    assert image_tag(image) == tag


def test_an_untagged_image_has_no_version() -> None:
    with pytest.raises(ValueError, match="no tag"):
        image_tag("localhost:5000/cilium/cilium")


def test_cluster_names_and_ids_must_differ() -> None:
    version = parse_version("1.19.0")
    facts = [
        ClusterFacts("kind-a", "mesh1", 1, version),
        ClusterFacts("kind-b", "mesh1", 2, version),
        ClusterFacts("kind-c", "mesh3", 2, version),
    ]
    assert check_distinct(facts) == [
        "kind-b: cluster-name mesh1 is also the cluster-name of kind-a",
        "kind-c: cluster-id 2 is also the cluster-id of kind-b",
    ]


def test_transient_errors() -> None:
    assert is_transient(ApiException(status=429))
    assert is_transient(ApiException(status=503))
    assert not is_transient(ApiException(status=422))
    assert is_transient(urllib3.exceptions.ProtocolError("reset"))
    assert not is_transient(ValueError("x"))


def test_retry_after_is_honoured_and_capped() -> None:
    error = ApiException(status=429)
    error.headers = {"Retry-After": "2"}
    assert retry_after(error) == 2.0
    error.headers = {"Retry-After": "600"}
    assert retry_after(error) == 30.0
    assert retry_after(ApiException(status=500)) is None


def test_describe_gives_one_line() -> None:
    refused = ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
    wrapped = urllib3.exceptions.MaxRetryError(None, "/api", refused)  # type: ignore[arg-type]
    assert describe(wrapped) == "connection refused"
    rejected = ApiException(status=422)
    rejected.body = '{"kind":"Status","message":"spec.endpointSelector: Required value"}'
    assert describe(rejected) == "HTTP 422: spec.endpointSelector: Required value"


def test_run_matcher() -> None:
    match = run_matcher("42")
    assert match({manifests.RUN_LABEL: "42", OWNER_LABEL: "cm-42-demo"})
    assert not match({OWNER_LABEL: "cm-420-demo", manifests.RUN_LABEL: "420"})
    assert run_matcher(None)({})


def test_run_matcher_matches_the_run_id_exactly() -> None:
    """``--run pr-12`` is not ``pr-12-retry``, whose deployment keys start like pr-12's."""
    match = run_matcher("pr-12")
    assert match({manifests.RUN_LABEL: "pr-12", OWNER_LABEL: "cm-pr-12-guide-1a2b3"})
    assert not match({manifests.RUN_LABEL: "pr-12-retry", OWNER_LABEL: "cm-pr-12-retry-guide-1"})
    assert not match({OWNER_LABEL: "cm-pr-12-retry-guide-1a2b3"})  # no run-id label: unknown
    assert not match({OWNER_LABEL: "cm-pr-12-guide-1a2b3"})


NOW = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)


def leftover(run: str, minutes: float | None, kind: str = "namespace") -> Leftover:
    created = None if minutes is None else NOW - timedelta(minutes=minutes)
    return Leftover("kind-a", kind, f"{run}-ns", run, created)


def test_only_runs_older_than_the_minimum_age_are_deleted() -> None:
    old = leftover("nightly", 120)
    old_policy = leftover("nightly", 90, "CiliumClusterwideNetworkPolicy")
    running = [leftover("pr-7", 300), leftover("pr-7", 2)]  # an old object, a new one: active
    unknown = leftover("pr-8", None)
    unlabelled = [Leftover("kind-a", "namespace", name, "", NOW - timedelta(minutes=age))
                  for name, age in (("cm-x-a", 100), ("cm-y-b", 1))]  # fmt: skip
    deleted, skipped = split_by_age(
        [old, *running, old_policy, unknown, *unlabelled], timedelta(hours=1), NOW
    )
    assert deleted == [old, old_policy, unlabelled[0]]
    assert skipped == [
        "skipped run pr-7 (kind-a: namespace pr-7-ns, kind-a: namespace pr-7-ns): created 2m00s "
        "ago, less than --min-age 1h; a concurrent job may be using it (--run pr-7 or "
        "--min-age 0 deletes it)",
        "skipped run pr-8 (kind-a: namespace pr-8-ns): its age is unknown",
        "skipped run namespace cm-y-b (no run-id label) (kind-a: namespace cm-y-b): created "
        "1m00s ago, less than --min-age 1h; a concurrent job may be using it (--min-age 0 "
        "deletes it)",
    ]
    everything, none = split_by_age([old, *running, unknown], timedelta(0), NOW)
    assert (len(everything), none) == (4, [])


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0", 0), ("90", 90), ("90s", 90), ("30m", 1800), ("2h", 7200), ("1d", 86400)],
)
def test_parse_age(text: str, seconds: float) -> None:
    assert parse_age(text) == timedelta(seconds=seconds)


def test_parse_age_rejects_nonsense() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="not a duration"):
        parse_age("an hour")


def test_label_value() -> None:
    assert label_value("gh/123 #4") == "gh-123-4"
    assert len(label_value("x" * 100)) == 63
    assert label_value("///") == "run"


@pytest.mark.parametrize(
    ("reason", "transient"),
    [
        ("HTTP 503: the server is currently unable to handle the request", True),
        ("HTTP 429: too many requests", True),
        ("Handshake status 500 Internal Server Error", True),
        ('HTTP 403: pods "x" is forbidden', False),
        ('HTTP 404: pods "x" not found', False),
        ("Handshake status 5030 odd", False),
    ],
)
def test_only_a_momentary_refusal_of_an_exec_is_tried_again(reason: str, transient: bool) -> None:
    # An agent's status read that failed on a 503 once passed for "Hubble off" for the whole
    # run; 429 and 5xx are the API server's momentary refusals, 403/404 are not.
    from pytest_clustermesh.kubernetes.execs import _transient

    assert _transient(reason) is transient
