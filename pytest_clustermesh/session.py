"""The session's state on ``config.stash``, and the mesh session the options select.

The stash keys live here, not in the plugin module, so the fixtures and the reports read the
session's state without importing the plugin (which imports them).
"""

from __future__ import annotations

from typing import Any

import pytest

from .errors import ClusterMeshError
from .options import MeshChoice
from .runner import MeshSession, context_binder
from .simulated import SimulatedMesh, simulated_facts

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
        return MeshSession(SimulatedMesh(facts), run_id)
    if choice.backend == "kubernetes":
        from .kubernetes import options as kube_options
        from .kubernetes.backend import KubernetesMesh

        settings = kube_options.settings_from_config(config, run_id)
        backend = KubernetesMesh(choice.contexts, choice.kubeconfig, settings)
        return MeshSession(backend, run_id, context_binder(choice.contexts, choice.named_contexts))
    raise pytest.UsageError(choice.missing_message)


class _LazyFacts(dict[str, Any]):
    """Simulated clusters come into being when a scenario names them."""

    def __init__(self, choice: MeshChoice) -> None:
        super().__init__()
        self._choice = choice

    def __missing__(self, name: str) -> Any:
        index = len(self) + 1
        (facts,) = simulated_facts(
            [name], self._choice.sim_version, self._choice.sim_options
        ).values()
        self[name] = type(facts)(name, name, index, facts.cilium_version, facts.options)
        return self[name]
