"""Probes that cannot run are errors, never verdicts; retries chase the expectation; API
faults do not change verdicts."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from clustermesh_emulator import Emulator, ExecRequest, Faults, default_exec_handler
from clustermesh_emulator.mesh import MirroredMesh
from pytest_clustermesh.backend import Deployment, Probe
from pytest_clustermesh.kubernetes import KubernetesMesh
from pytest_clustermesh.kubernetes.commands import CurlOutput, CurlRequest, curl_stdout
from pytest_clustermesh.verdicts import Outcome, Verdict

from .conftest import SETTINGS, make_backend
from .kubeworld import BACKEND_FROM_FRONTEND, C1, C2, CLUSTERS, cnp, to_pod, to_service, world

DENY_PROBES = [
    to_pod("tester", C1, C1, "be", 8080, Verdict.DENY),
    to_service("tester", C2, "be", 8080, Verdict.DENY),
]


def assert_errors_not_denials(results: list, outcome: Outcome, detail: str) -> None:  # type: ignore[type-arg]
    for result in results:
        assert result.outcome is outcome, result
        assert not Verdict.DENY.accepts(result.outcome)
        assert detail in result.detail
        assert result.attempts == SETTINGS.probe_attempts  # retried, and still an error


def test_a_client_without_the_tool_is_a_probe_error(
    emulator: Emulator, backend: KubernetesMesh, deployed: Deployment
) -> None:
    emulator.set_exec_handler(default_exec_handler)  # "executable file not found"
    results = backend.probe(deployed, DENY_PROBES)
    assert_errors_not_denials(results, Outcome.PROBE_ERROR, 'exec: "sh": executable file not found')


def test_an_image_without_curl_is_a_probe_error(
    mirror: MirroredMesh, backend: KubernetesMesh, deployed: Deployment
) -> None:
    mirror.images_without_curl.add(SETTINGS.client_image)
    results = backend.probe(deployed, DENY_PROBES)
    assert_errors_not_denials(results, Outcome.PROBE_ERROR, "sh: curl: not found")


def test_a_name_that_does_not_resolve_is_a_dns_failure(
    mirror: MirroredMesh, backend: KubernetesMesh, deployed: Deployment
) -> None:
    def unresolved(request: ExecRequest, curl: CurlRequest) -> CurlOutput:
        return CurlOutput(6, curl_stdout("", 0), f"curl: (6) Could not resolve host: {curl.host}")

    mirror.override = unresolved
    results = backend.probe(deployed, DENY_PROBES)
    assert_errors_not_denials(results, Outcome.DNS_FAILURE, "Could not resolve host")


def test_a_service_missing_in_the_source_cluster_is_a_dns_failure(
    backend: KubernetesMesh, deployed: Deployment
) -> None:
    results = backend.probe(deployed, [to_service("fe", C2, "solo", 80, Verdict.DENY)])
    assert_errors_not_denials(results, Outcome.DNS_FAILURE, "Service solo does not exist")


def test_a_pod_deleted_mid_probe_is_a_probe_error(
    emulator: Emulator, mirror: MirroredMesh, backend: KubernetesMesh, deployed: Deployment
) -> None:
    backend.set_policies(deployed, C1, [cnp(deployed, BACKEND_FROM_FRONTEND)])

    def delete_the_client(request: ExecRequest, curl: CurlRequest) -> None:
        """While the (dropped, so slow) probe runs, its pod goes away."""
        cluster = emulator[request.cluster]
        asyncio.get_running_loop().call_later(
            0.05, cluster.delete, "pods", request.pod, request.namespace
        )

    mirror.override = delete_the_client
    [result] = backend.probe(deployed, [to_pod("tester", C1, C1, "be", 8080)])
    assert result.outcome is Outcome.PROBE_ERROR
    assert "exited 137" in result.detail


def test_probes_are_retried_until_policy_takes_effect(
    mirror: MirroredMesh, backend: KubernetesMesh, deployed: Deployment
) -> None:
    for cluster in CLUSTERS:
        backend.set_policies(deployed, cluster, [cnp(deployed, BACKEND_FROM_FRONTEND)])
    stale = {"left": 2}

    def not_yet(request: ExecRequest, curl: CurlRequest) -> CurlOutput | None:
        """The first two attempts predate the policy: allowed."""
        if stale["left"] > 0:
            stale["left"] -= 1
            return CurlOutput(0, curl_stdout("clustermesh-echo cluster=x pod=y", 200))
        return None

    mirror.override = not_yet
    [result] = backend.probe(deployed, [to_pod("tester", C1, C1, "be", 8080, Verdict.DENY)])
    # Two real retries; the revision was waited for, so the drop needs no confirmation round.
    assert (result.outcome, result.attempts) == (Outcome.DROPPED, 3)
    assert result.detail.endswith("attempts: allowed, allowed, dropped")
    [once] = backend.probe(deployed, [to_pod("tester", C1, C1, "be", 8080)])
    assert once.attempts == 1


def test_api_faults_do_not_change_verdicts(
    emulator: Emulator, mirror: MirroredMesh, kubeconfig: str
) -> None:
    deployment = world()
    probes = [
        Probe(cluster, client, target.target, target.port)
        for cluster in CLUSTERS
        for client in ("fe", "tester")
        for target in (
            to_pod("", C1, C1, "be", 8080),
            to_pod("", C1, C2, "be", 8080),
            to_service("", C1, "be", 8080),
            to_pod("", C1, C1, "solo", 80),
        )
    ]
    clean = make_backend(kubeconfig, api_attempts=8)
    try:
        clean.deploy(deployment)
        for cluster in CLUSTERS:
            clean.set_policies(deployment, cluster, [cnp(deployment, BACKEND_FROM_FRONTEND)])
        expected = [r.outcome for r in clean.probe(deployment, probes)]
    finally:
        clean.teardown(deployment)
        clean.close()
    emulator.set_faults(
        Faults(error_rate=0.03, error_statuses=(500, 503, 429), seed=1, retry_after=0)
    )
    faulty = make_backend(kubeconfig, api_attempts=8)
    deployment = world()
    try:
        faulty.deploy(deployment)
        for cluster in CLUSTERS:
            faulty.set_policies(deployment, cluster, [cnp(deployment, BACKEND_FROM_FRONTEND)])
        expecting = [
            Probe(p.source_cluster, p.source, p.target, p.port, expect=Verdict.of(o))
            for p, o in zip(probes, expected, strict=True)
        ]
        results = faulty.probe(deployment, expecting)
        faulty.teardown(deployment)
    finally:
        faulty.close()
    assert [r.outcome for r in results] == expected
    assert sum(cluster.fault_counts.injected for cluster in emulator) > 0


def test_sigterm_interrupts_like_ctrl_c(kubeconfig: str) -> None:
    before = signal.getsignal(signal.SIGTERM)
    backend = make_backend(kubeconfig)
    try:
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)
    finally:
        backend.close()
    assert signal.getsignal(signal.SIGTERM) is before
