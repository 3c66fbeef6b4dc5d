"""Fixtures shared by scenario items and hand-written tests.

- ``clustermesh_session``: the session's backend (simulated or Kubernetes), created on first use,
  closed (everything this run created removed) at the end, Ctrl-C included.
- ``clustermesh_facts``: what the mesh under test is (Cilium version and options per cluster).
- ``mesh``: a per-test handle to deploy workloads, set policies and assert connectivity from
  Python, with the same validation and verdicts as scenario files.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from .backend import Deployment
from .collect import CaseError, CaseFailed
from .errors import ClusterMeshError
from .facts import ClusterFacts
from .runner import Judgement, MeshSession, ScenarioRun
from .scenario import expand_scenario
from .session import close_session, start_session
from .verdicts import ProbeResult


@pytest.fixture(scope="session")
def clustermesh_session(pytestconfig: pytest.Config) -> Iterator[MeshSession]:
    try:
        # Preflight, once, before anything is deployed. Usually it already ran when collection
        # finished (plugin.pytest_collection_finish), and a failure stopped the run there.
        session = start_session(pytestconfig)
    except ClusterMeshError as exc:
        pytest.exit(f"clustermesh: {exc}", returncode=pytest.ExitCode.INTERRUPTED)
    try:
        yield session
    finally:
        close_session(pytestconfig)


@pytest.fixture(scope="session")
def clustermesh_facts(clustermesh_session: MeshSession) -> Mapping[str, ClusterFacts]:
    return clustermesh_session.backend.facts()


class MeshHandle:
    """Drive a mesh from a Python test: what a scenario file says, as calls.

    ``deploy`` takes the same mappings as a scenario's ``clusters``, ``namespaces`` and
    ``workloads``; ``expect`` the same keys as an expectation. Everything deployed is removed
    when the test ends.
    """

    def __init__(self, session: MeshSession, name: str, root: Path) -> None:
        self._session = session
        self._name = name
        self._root = root
        self._base: dict[str, Any] | None = None
        self._policies: dict[str, dict[str, Any]] = {}
        self._in_force: dict[str, list[str]] = {}
        self._run: ScenarioRun | None = None
        self._count = 0

    @property
    def deployment(self) -> Deployment:
        if self._run is None:
            raise RuntimeError("call deploy() first")
        return self._run.deployment

    def deploy(
        self,
        *,
        clusters: Sequence[str],
        workloads: Mapping[str, Any],
        namespaces: Mapping[str, Any] | None = None,
    ) -> None:
        if self._run is not None:  # a new deployment replaces the old one
            self._run.teardown()
            self._run = None
            self._policies.clear()
        self._base = {"name": self._name, "clusters": list(clusters), "workloads": dict(workloads)}
        if namespaces is not None:
            self._base["namespaces"] = dict(namespaces)
        self._in_force = {cluster: [] for cluster in clusters}

    def facts(self) -> dict[str, ClusterFacts]:
        """Facts of the deployed clusters (Cilium version, options), by logical name."""
        if self._base is None:
            raise RuntimeError("call deploy() first")
        binding = self._session.binder(self._base["clusters"])
        facts = self._session.backend.facts()
        return {logical: facts[real] for logical, real in binding.items()}

    def set_policies(
        self, cluster: str, policies: Sequence[Mapping[str, Any] | str | Path]
    ) -> None:
        """Make exactly ``policies`` (documents, or files relative to the test) in force."""
        refs = []
        for policy in policies:
            source: dict[str, Any]
            if isinstance(policy, Mapping):
                source = {"inline": dict(policy)}
                content = json.dumps(source, sort_keys=True)
            else:
                path = (self._root / policy).resolve()
                source = {"file": str(path)}
                # The file's content, not its name, identifies the policy: a test that rewrites
                # a file between calls gets the new documents applied.
                content = str(path) + (path.read_text() if path.is_file() else "")
            ref = "p-" + hashlib.sha1(content.encode()).hexdigest()[:10]
            self._policies[ref] = source
            refs.append(ref)
        self._in_force[cluster] = refs

    def expect(self, source: str, to: str, verdict: str, **keys: Any) -> Judgement:
        """Assert a verdict (``allow``, ``deny``, ...); keys as in a scenario expectation."""
        judgement = self._check({"from": source, "to": to, "verdict": verdict, **keys})
        if not judgement.passed:
            raise (CaseError if judgement.unjudged else CaseFailed)(judgement.message)
        return judgement

    def probe(self, source: str, to: str, **keys: Any) -> ProbeResult:
        """Probe without judging (the verdict asked for only steers retries)."""
        return self._check({"from": source, "to": to, "verdict": "allow", **keys}).result

    def _check(self, expectation: dict[str, Any]) -> Judgement:
        if self._base is None:
            raise RuntimeError("call deploy() before probing")
        self._count += 1
        data = {
            **self._base,
            "policies": self._policies,
            "steps": [
                {
                    "name": f"state-{self._count}",
                    "policies": self._in_force,
                    "expect": [expectation],
                }
            ],
        }
        scenario = expand_scenario(data, self._root / f"{self._name}.py")
        if len(scenario.cases) != 1:
            raise ValueError(f"{expectation['from']} -> {expectation['to']} is not one probe")
        if self._run is None:
            self._run = ScenarioRun(self._session, scenario)
        self._run.scenario = scenario
        return self._run.check(scenario.cases[0])

    def close(self) -> None:
        if self._run is not None:
            self._run.teardown()


@pytest.fixture
def mesh(clustermesh_session: MeshSession, request: pytest.FixtureRequest) -> Iterator[MeshHandle]:
    name = "py-" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:8]
    handle = MeshHandle(clustermesh_session, name, request.path.parent)
    try:
        yield handle
    finally:
        handle.close()
