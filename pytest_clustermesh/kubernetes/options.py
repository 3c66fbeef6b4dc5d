"""Command-line options and ini keys of the Kubernetes backend, and the settings they make.

Each option has an ini twin (``--probe-timeout`` / ``clustermesh_probe_timeout``); the command
line wins, then the ini file, then :class:`~.settings.KubernetesSettings`' default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pytest

from ..errors import UsageError
from .settings import (
    DEFAULT_CLIENT_IMAGE,
    DEFAULT_SERVER_IMAGE,
    DEFAULT_UDP_SCTP_SERVER_IMAGE,
    KubernetesSettings,
)


@dataclass(frozen=True)
class _Option:
    flag: str
    field: str
    kind: type
    help: str
    zero: bool = False
    """0 is allowed (a number option is otherwise positive)."""

    @property
    def dest(self) -> str:
        return "clustermesh_" + self.flag.lstrip("-").replace("-", "_")

    @property
    def ini(self) -> str:
        return self.dest


OPTIONS = (
    _Option(
        "--client-image",
        "client_image",
        str,
        "image of client pods; needs sh, mktemp, sleep, and curl for TCP, /agnhost for UDP and "
        f"SCTP, ping for ICMP, dig for DNS probes (default: {DEFAULT_CLIENT_IMAGE})",
    ),
    _Option(
        "--server-image",
        "server_image",
        str,
        "image of the TCP ports of server pods, run as http-echo "
        f"(default: {DEFAULT_SERVER_IMAGE})",
    ),
    _Option(
        "--udp-sctp-server-image",
        "udp_sctp_server_image",
        str,
        "image of the UDP and SCTP ports of server pods, run as /agnhost porter "
        f"(default: {DEFAULT_UDP_SCTP_SERVER_IMAGE})",
    ),
    _Option(
        "--probe-timeout",
        "connect_timeout",
        float,
        "seconds a probe waits for a connection; a dropped probe lasts this long (default: 2)",
    ),
    _Option(
        "--probe-retries",
        "probe_attempts",
        int,
        "attempts per probe toward its expected verdict, as policy takes effect "
        "asynchronously (default: 8)",
    ),
    _Option(
        "--probe-retry-window",
        "probe_window",
        float,
        "seconds after a step's first attempt past which no retry starts (default: 30)",
    ),
    _Option(
        "--policy-settle",
        "policy_settle",
        float,
        "fallback where the Cilium agents cannot be read: seconds after a policy change during "
        "which a probe's outcome must be confirmed by a second round with the same outcome "
        "(default: 5; 0 disables)",
        zero=True,
    ),
    _Option(
        "--policy-wait-timeout",
        "policy_wait_timeout",
        float,
        "seconds the agents of a cluster get to realise a step's new policy revision "
        "(cilium-dbg policy wait) before its probes (default: 30)",
    ),
    _Option(
        "--mesh-ready-timeout",
        "mesh_ready_timeout",
        float,
        "seconds preflight waits for every cluster's agents to report the other clusters "
        "ready (default: 0, check once)",
        zero=True,
    ),
    _Option(
        "--deny-evidence",
        "deny_evidence",
        str,
        "what makes a drop a deny: 'hubble' (Hubble's record of a policy drop, the default) or "
        "'timeout' (where Hubble cannot be read, a timeout; counted as inferred)",
    ),
    _Option(
        "--probe-concurrency",
        "probe_concurrency",
        int,
        "execs in flight at once; each source pod runs its probes in one exec (default: 32)",
    ),
    _Option(
        "--ready-timeout",
        "ready_timeout",
        float,
        "seconds to wait for a scenario's pods to become ready (default: 120)",
    ),
    _Option(
        "--keep-resources",
        "keep",
        bool,
        "leave namespaces and policies in place after the run, for debugging",
    ),
    _Option(
        "--allow-clusterwide-policies",
        "allow_clusterwide",
        bool,
        "allow scenarios to apply CiliumClusterwideNetworkPolicies (they select pods of "
        "every namespace, so other users of a shared mesh see them)",
    ),
)


def add_options(parser: pytest.Parser, group: pytest.OptionGroup) -> None:
    """Add the backend's options to ``group`` and their ini twins to ``parser``."""
    for option in OPTIONS:
        if option.kind is bool:
            group.addoption(
                option.flag, dest=option.dest, action="store_true", default=None, help=option.help
            )
            parser.addini(option.ini, option.help, type="bool", default=False)
        else:
            group.addoption(
                option.flag,
                dest=option.dest,
                default=None,
                metavar=option.kind.__name__.upper(),
                help=option.help,
            )
            parser.addini(option.ini, option.help, type="string", default="")


def check_options(config: pytest.Config) -> None:
    """Convert every option now, whatever the backend: a negative ``--probe-timeout`` is a usage
    error at start-up even on the simulated mesh, which never reads it."""
    settings_from_config(config, "check")


def settings_from_config(config: pytest.Config, run_id: str) -> KubernetesSettings:
    """The settings given on the command line and in the ini file."""
    values: dict[str, Any] = {"run_id": run_id}
    for option in OPTIONS:
        raw = config.getoption(option.dest, default=None)
        source = option.flag
        if raw is None:
            raw, source = config.getini(option.ini), option.ini
            if raw in (None, "", []) or (option.kind is bool and raw is False):
                continue
        values[option.field] = _convert(option, raw, source)
    return KubernetesSettings(**values)


def _convert(option: _Option, raw: Any, source: str) -> Any:
    if option.kind is bool:
        return bool(raw)
    if option.kind is str:
        text = str(raw).strip()
        if not text:
            raise UsageError(f"{source}: must not be empty")
        return text
    text = str(raw).strip()
    try:
        value = option.kind(text)
    except ValueError:
        wanted = "a whole number" if option.kind is int else "a number of seconds"
        raise UsageError(f"{source}: expected {wanted}, got {text!r}") from None
    if not math.isfinite(value):
        raise UsageError(f"{source}: must be a finite number, got {text}")
    if value < 0 or (value == 0 and not option.zero):
        bound = "zero or positive" if option.zero else "positive"
        raise UsageError(f"{source}: must be {bound}, got {text}")
    return value
