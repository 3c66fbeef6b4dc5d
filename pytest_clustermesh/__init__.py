"""pytest-clustermesh: connectivity conformance tests for Cilium Cluster Mesh.

The public surface: the backend interface and values, the verdicts, and the simulated mesh.
The pytest plugin itself is :mod:`pytest_clustermesh.plugin` (loaded through ``pytest11``).
"""

from .backend import (
    Deployment,
    MeshBackend,
    NamespaceSpec,
    PodTarget,
    PolicyDoc,
    Probe,
    ServiceTarget,
    WorkloadSpec,
)
from .errors import BackendError, ClusterMeshError, PolicyError, ScenarioError
from .facts import ClusterFacts
from .simulated import SimulatedMesh, simulated_facts
from .verdicts import Outcome, ProbeResult, Verdict

__all__ = [
    "BackendError",
    "ClusterFacts",
    "ClusterMeshError",
    "Deployment",
    "MeshBackend",
    "NamespaceSpec",
    "Outcome",
    "PodTarget",
    "PolicyDoc",
    "PolicyError",
    "Probe",
    "ProbeResult",
    "ScenarioError",
    "ServiceTarget",
    "SimulatedMesh",
    "Verdict",
    "WorkloadSpec",
    "simulated_facts",
]
