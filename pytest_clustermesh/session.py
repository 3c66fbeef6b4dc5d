"""The session's state on ``config.stash``, and the mesh session the options select.

The stash keys live here, not in the plugin module, so the fixtures and the reports read the
session's state without importing the plugin (which imports them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from .errors import ClusterMeshError, ScenarioError
from .facts import (
    POLICY_DEFAULT_LOCAL_CLUSTER,
    ClusterFacts,
    ConditionError,
    option_exists,
    parse_pins,
    parse_version,
    resolve_options,
)
from .options import MeshChoice
from .runner import MeshSession, ScenarioRun, context_binder
from .scenario import Scenario
from .simulated import SimulatedMesh

CHOICE_KEY = pytest.StashKey[MeshChoice]()
"""What the options select: the backend and its settings."""
RUN_ID_KEY = pytest.StashKey[str]()
"""The id that labels what this run creates (the same on every xdist worker)."""
SESSION_KEY = pytest.StashKey[MeshSession]()
"""The open mesh session, from its preflight until it is closed."""
PREFLIGHT_FAILURE_KEY = pytest.StashKey[str]()
"""Why the preflight failed, so it is tried once, not once per item."""


def start_session(config: pytest.Config) -> MeshSession:
    """The session's mesh, opened and preflighted once (the facts of every cluster: reachable,
    a Cilium mesh, healthy). Raises :class:`ClusterMeshError` when the preflight fails, the
    same failure every time it is asked again."""
    session = config.stash.get(SESSION_KEY, None)
    if session is not None:
        return session
    failure = config.stash.get(PREFLIGHT_FAILURE_KEY, None)
    if failure is not None:
        raise ClusterMeshError(failure)
    session = open_session(config)
    try:
        session.backend.facts()
    except ClusterMeshError as exc:
        session.backend.close()
        config.stash[PREFLIGHT_FAILURE_KEY] = str(exc)
        raise
    config.stash[SESSION_KEY] = session
    return session


def close_session(config: pytest.Config) -> None:
    """Remove what the run created and release the connections; safe to call twice."""
    session = config.stash.get(SESSION_KEY, None)
    if session is not None:
        del config.stash[SESSION_KEY]
        session.close()


def open_session(config: pytest.Config) -> MeshSession:
    """The backend the options select, wrapped in a :class:`MeshSession`."""
    choice = config.stash[CHOICE_KEY]
    run_id = config.stash[RUN_ID_KEY]
    if choice.backend == "simulated":
        facts = _LazyFacts(choice)
        return _SimulatedSession(SimulatedMesh(facts), run_id, facts)
    if choice.backend == "kubernetes":
        from .kubernetes import options as kube_options
        from .kubernetes.backend import KubernetesMesh

        settings = kube_options.settings_from_config(config, run_id)
        backend = KubernetesMesh(choice.contexts, choice.kubeconfig, settings)
        return MeshSession(backend, run_id, context_binder(choice.contexts, choice.named_contexts))
    raise pytest.UsageError(choice.missing_message)


class _SimulatedSession(MeshSession):
    """The simulated mesh's session. A scenario that pins its clusters' facts (``facts:``) gets
    clusters of its own with those facts, over the command line's values: ``cluster2`` pinned
    to Cilium 1.18 is the simulated cluster ``cluster2~cilium=1.18`` (its Cilium name stays
    ``cluster2``), shared only with scenarios that pin the same."""

    def __init__(self, backend: SimulatedMesh, run_id: str, facts: _LazyFacts) -> None:
        super().__init__(backend, run_id)
        self._lazy = facts

    def run_for(self, scenario: Scenario) -> ScenarioRun:
        try:
            pins = parse_pins(scenario.model.facts, scenario.model.clusters)
        except ConditionError as exc:
            raise ScenarioError(f"{scenario.path}: facts: {exc}") from None
        self.binder = lambda clusters: {
            name: self._lazy.pin(name, pins.get(name)) for name in clusters
        }
        return super().run_for(scenario)


class _LazyFacts(dict[str, Any]):
    """Simulated clusters come into being when a scenario names them."""

    def __init__(self, choice: MeshChoice) -> None:
        super().__init__()
        self._choice = choice
        self._pinned: dict[str, tuple[str, Mapping[str, str]]] = {}

    def pin(self, name: str, pin: Mapping[str, str] | None) -> str:
        """The simulated cluster that is ``name`` with the facts ``pin`` holds."""
        if not pin:
            return name
        key = f"{name}~" + ",".join(f"{k}={v}" for k, v in sorted(pin.items()))
        self._pinned[key] = (name, pin)
        return key

    def __missing__(self, name: str) -> Any:
        # Each cluster its own version and options where --sim-cilium-version/--sim-option name
        # it (a mixed mesh), else the values for every cluster; a scenario's pins win.
        cluster_id = len(self) + 1
        if name not in self._pinned:
            self[name] = self._choice.sim.facts_of(name, cluster_id)
            return self[name]
        logical, pin = self._pinned[name]
        sim = self._choice.sim
        version = parse_version(pin.get("cilium") or sim.version_of(logical))
        configured = {**sim.options_of(logical), **{k: v for k, v in pin.items() if k != "cilium"}}
        if not option_exists(POLICY_DEFAULT_LOCAL_CLUSTER, version):
            configured.pop(POLICY_DEFAULT_LOCAL_CLUSTER, None)
        options = resolve_options(version, configured)
        self[name] = ClusterFacts(logical, logical, cluster_id, version, options)
        return self[name]
