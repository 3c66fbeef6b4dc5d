"""The exception tree of pytest-clustermesh.

Every error the plugin raises on purpose derives from :class:`ClusterMeshError`, so the pytest
glue can render it as a short, located message instead of a traceback. Errors from libraries
(PyYAML, pydantic, the kubernetes client) are wrapped, with the original chained as the cause.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class ClusterMeshError(Exception):
    """Base of every error this plugin raises deliberately."""


@dataclass(frozen=True)
class Location:
    """A place in a source file, for messages: ``path:line`` (1-based line)."""

    path: Path
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.path}:{self.line}" if self.line else str(self.path)


class ScenarioError(ClusterMeshError):
    """A scenario or policy file is wrong; raised at collection, before anything runs."""

    def __init__(self, message: str, location: Location | None = None) -> None:
        self.message = message
        self.location = location
        super().__init__(f"{location}: {message}" if location else message)


class PolicyError(ScenarioError):
    """A policy document the model (or the Cilium version under test) does not accept."""


class UsageError(ClusterMeshError):
    """The command line or ini options do not describe a mesh to run against."""


class BackendError(ClusterMeshError):
    """The mesh under test could not do what a step needs (deploy, apply, reach a cluster)."""

    def __init__(self, message: str, cluster: str | None = None) -> None:
        self.cluster = cluster
        super().__init__(f"[{cluster}] {message}" if cluster else message)
