"""How the Kubernetes backend runs: images, timeouts, retry bounds, cleanup.

One frozen value, built from pytest options by :func:`.options.settings_from_config` or by hand
in tests, so every module reads its knobs from the same place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_CLIENT_IMAGE = "nicolaka/netshoot"
DEFAULT_SERVER_IMAGE = "hashicorp/http-echo"


@dataclass(frozen=True)
class KubernetesSettings:
    """Knobs of :class:`~pytest_clustermesh.kubernetes.mesh.KubernetesMesh`."""

    run_id: str = "local"
    """The run's id; labels every object (``clustermesh.pytest.io/run-id``) so that
    ``python -m pytest_clustermesh.kubernetes.cleanup --run`` can find one run's leftovers."""

    client_image: str = DEFAULT_CLIENT_IMAGE
    """Image of client pods; must provide ``sh``, ``curl``, ``mktemp`` and ``sleep``."""

    server_image: str = DEFAULT_SERVER_IMAGE
    """Image of server pods; run with http-echo's ``-listen`` and ``-text`` arguments."""

    connect_timeout: float = 2.0
    """curl's ``--connect-timeout`` per probe: how long a dropped SYN is waited for. A denied
    probe costs this much, so it bounds the wall time of a step."""

    probe_attempts: int = 8
    """Attempts per probe toward its expected verdict (Cilium realises policy asynchronously,
    so a first answer may predate the policy); 1 disables retrying."""

    probe_window: float = 30.0
    """Seconds after a step's first attempt past which no new attempt starts."""

    probe_interval: float = 1.0
    """Pause between two rounds of attempts."""

    policy_settle: float = 5.0
    """Seconds after a policy change in a cluster during which a probe's outcome that satisfies
    its expectation counts only when the next round (``probe_interval`` later) sees the same
    outcome. Cilium applies policy asynchronously and reports no enforcement status, so right
    after a change a probe may still see the old policy; 0 disables the confirmation."""

    probe_concurrency: int = 32
    """Execs in flight at once, over all clusters; each has its own API client. A step whose
    probes come from more source pods than this takes several probe times."""

    ready_timeout: float = 120.0
    """Seconds to wait for a deployment's pods to become ready."""

    api_attempts: int = 5
    """Attempts of one API call facing 429, 5xx or connection errors."""

    api_backoff: float = 0.5
    """First pause between API attempts; doubles each time, capped at 8 s. A ``Retry-After``
    header wins over it."""

    api_timeout: float = 30.0
    """Seconds one API request may take."""

    keep: bool = False
    """Leave every object in place after the run (for debugging); ``teardown`` does nothing."""

    allow_clusterwide: bool = False
    """Allow CiliumClusterwideNetworkPolicies: they select pods of every namespace, so a run
    sharing the mesh with others must opt in (``--allow-clusterwide-policies``)."""

    @property
    def max_time(self) -> float:
        """curl's ``--max-time``: a connect timeout plus time for a slow answer."""
        return self.connect_timeout + 3.0

    @property
    def run_label(self) -> str:
        """``run_id`` as a label value (63 characters of ``[A-Za-z0-9._-]``)."""
        return label_value(self.run_id)


def label_value(text: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", text)[:63]
    return cleaned.strip("-._") or "run"
