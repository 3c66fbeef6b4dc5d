"""Fixtures: an emulated two-cluster mesh answering probes from the simulated model, and the
Kubernetes backend pointed at it with short timeouts."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from clustermesh_emulator import Emulator, Faults
from clustermesh_emulator.mesh import MirroredMesh
from pytest_clustermesh.backend import Deployment
from pytest_clustermesh.kubernetes import KubernetesMesh, KubernetesSettings

from .kubeworld import CLUSTERS, world

SETTINGS = KubernetesSettings(
    run_id="t",
    connect_timeout=0.3,
    probe_attempts=4,
    probe_interval=0.05,
    probe_window=10.0,
    ready_timeout=10.0,
    api_backoff=0.01,
    api_timeout=5.0,
)


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator() as emulated:
        yield emulated


@pytest.fixture
def mirror(emulator: Emulator) -> Iterator[MirroredMesh]:
    with MirroredMesh(emulator, seed=1) as mirrored:
        yield mirrored
    emulator.set_faults(Faults())
    for cluster in emulator:
        cluster.clear_rejections()
        cluster.clear_forbidden()


@pytest.fixture
def kubeconfig(emulator: Emulator) -> str:
    return str(emulator.kubeconfig_path)


def make_backend(kubeconfig: str, **changes: object) -> KubernetesMesh:
    return KubernetesMesh(CLUSTERS, kubeconfig, replace(SETTINGS, **changes))  # type: ignore[arg-type]


@pytest.fixture
def backend(kubeconfig: str, mirror: MirroredMesh) -> Iterator[KubernetesMesh]:
    mesh = make_backend(kubeconfig)
    yield mesh
    mesh.close()


@pytest.fixture
def deployed(backend: KubernetesMesh) -> Iterator[Deployment]:
    deployment = world()
    backend.deploy(deployment)
    yield deployment
    backend.teardown(deployment)


def make_fallback(emulator: Emulator, kubeconfig: str, **changes: object) -> KubernetesMesh:
    """A backend whose account may not exec into kube-system (RBAC): no agent can be read, so
    policy changes are confirmed by a second round, and timeouts count as (inferred) denies."""
    for cluster in emulator:
        cluster.forbid("create", "pods/exec", "kube-system")
    backend = make_backend(kubeconfig, deny_evidence="timeout", **changes)
    backend.facts()
    return backend


@pytest.fixture
def fallback(
    emulator: Emulator, kubeconfig: str, mirror: MirroredMesh
) -> Iterator[tuple[KubernetesMesh, Deployment]]:
    backend = make_fallback(emulator, kubeconfig)
    deployment = world()
    backend.deploy(deployment)
    yield backend, deployment
    backend.teardown(deployment)
    backend.close()
