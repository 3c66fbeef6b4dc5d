"""How the Kubernetes backend runs: images, timeouts, retry bounds, cleanup.

One frozen value, built from pytest options by :func:`.options.settings_from_config` or by hand
in tests, so every module reads its knobs from the same place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import UsageError

AGNHOST_IMAGE = "registry.k8s.io/e2e-test-images/agnhost:2.52"
"""Kubernetes' conformance test image (kubernetes ``test/utils/image/manifest.go``,
``configs[Agnhost]``): Alpine with busybox (``sh``, ``mktemp``, ``sleep``, ``ping``), ``curl``,
``nc``, ``dig`` (``test/images/agnhost/Dockerfile``) and ``/agnhost``, whose ``connect`` probes
TCP, UDP and SCTP and whose ``porter`` serves them."""
DEFAULT_CLIENT_IMAGE = AGNHOST_IMAGE
DEFAULT_SERVER_IMAGE = "hashicorp/http-echo"
DEFAULT_UDP_SCTP_SERVER_IMAGE = AGNHOST_IMAGE


@dataclass(frozen=True)
class KubernetesSettings:
    """Knobs of :class:`~pytest_clustermesh.kubernetes.mesh.KubernetesMesh`."""

    run_id: str = "local"
    """The run's id; labels every object (``clustermesh.pytest.io/run-id``) so that
    ``python -m pytest_clustermesh.kubernetes.cleanup --run`` can find one run's leftovers."""

    client_image: str = DEFAULT_CLIENT_IMAGE
    """Image of client pods; must provide ``sh``, ``mktemp``, ``sleep`` and ``curl`` (TCP),
    ``/agnhost`` (UDP, SCTP), ``ping`` (ICMP) and ``dig`` (DNS) for the probes it runs."""

    server_image: str = DEFAULT_SERVER_IMAGE
    """Image of the TCP ports of server pods; run with http-echo's ``-listen`` and ``-text``
    arguments."""

    udp_sctp_server_image: str = DEFAULT_UDP_SCTP_SERVER_IMAGE
    """Image of the UDP and SCTP ports of server pods; runs ``/agnhost porter`` and is checked
    ready with ``/agnhost connect``."""

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
    """The fallback where a cluster's Cilium agents cannot be read (so no policy revision can be
    waited for): seconds after a policy change there during which a probe's outcome that
    satisfies its expectation counts only when the next round (``probe_interval`` later) sees
    the same outcome, since a probe may still see the old policy; 0 disables it."""

    policy_wait_timeout: float = 30.0
    """Seconds the agents of a cluster whose policies changed get to realise the new policy
    revision (``cilium-dbg policy wait``) before the step's probes; past it they fail."""

    mesh_ready_timeout: float = 0.0
    """Seconds preflight waits for every cluster's agents to report every other cluster of the
    run ready; 0 checks once."""

    deny_evidence: str = "hubble"
    """What makes a drop a deny: ``hubble``, Hubble's record of a policy drop on the node that
    dropped it; or ``timeout``, where Hubble cannot be read, the timeout itself (counted and
    reported as inferred, and between two clusters only once the step proved the path open)."""

    agent_timeout: float = 20.0
    """Seconds one command in an agent pod (status, revision, hubble observe) may take."""

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

    def __post_init__(self) -> None:
        if self.deny_evidence not in DENY_EVIDENCE:
            raise UsageError(
                f"--deny-evidence: expected {' or '.join(DENY_EVIDENCE)}, got "
                f"{self.deny_evidence!r}"
            )

    @property
    def infer_denies(self) -> bool:
        """Whether a timeout counts as a deny where Hubble cannot be read."""
        return self.deny_evidence == "timeout"

    @property
    def max_time(self) -> float:
        """curl's ``--max-time``: a connect timeout plus time for a slow answer."""
        return self.connect_timeout + 3.0

    @property
    def run_label(self) -> str:
        """``run_id`` as a label value (63 characters of ``[A-Za-z0-9._-]``)."""
        return label_value(self.run_id)


DENY_EVIDENCE = ("hubble", "timeout")


def label_value(text: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", text)[:63]
    return cleaned.strip("-._") or "run"
