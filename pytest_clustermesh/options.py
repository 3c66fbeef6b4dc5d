"""Command-line options and their ini twins, and what they select.

Every option can be set in ``pytest.ini``/``pyproject.toml`` so a CI job need not spell it out;
the command line wins over the ini file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .errors import UsageError
from .facts import (
    BOOLEAN_OPTIONS,
    ENABLE_POLICY,
    ENFORCEMENT_MODES,
    KNOWN_OPTIONS,
    POLICY_DEFAULT_LOCAL_CLUSTER,
    option_exists,
    parse_version,
)

DEFAULT_SIM_VERSION = "1.19"
DEFAULT_SCENARIO_FILES = "*.scenario.yaml *.scenario.yml"

_OPTIONS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "--kube-contexts",
        "clustermesh_kube_contexts",
        dict(
            help="comma-separated kube contexts of the mesh under test, bound in order to the "
            "clusters a scenario names, or by name: cluster1=kind-cluster1,cluster2=kind-c2"
        ),
    ),
    (
        "--kubeconfig",
        "clustermesh_kubeconfig",
        dict(help="kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)"),
    ),
    (
        "--mesh-backend",
        "clustermesh_backend",
        dict(
            choices=("kubernetes", "simulated"),
            help="where scenarios run: 'simulated' (the in-process model of Cilium) or "
            "'kubernetes' (real clusters; implied by --kube-contexts)",
        ),
    ),
    (
        "--sim-cilium-version",
        "clustermesh_sim_cilium_version",
        dict(help=f"Cilium version the simulated mesh models (default {DEFAULT_SIM_VERSION})"),
    ),
    (
        "--sim-option",
        "clustermesh_sim_options",
        dict(
            action="append",
            metavar="KEY=VALUE",
            help="a Cilium agent option of every simulated cluster, e.g. "
            "policy-default-local-cluster=false or enable-policy=always (repeatable)",
        ),
    ),
    (
        "--clustermesh-run-id",
        "clustermesh_run_id",
        dict(
            help="id that makes this run's namespaces unique and labels what it creates "
            "(default: random)"
        ),
    ),
]

_INI_TYPES = {"clustermesh_sim_options": "linelist"}


def add_options(parser: pytest.Parser) -> pytest.OptionGroup:
    group = parser.getgroup("clustermesh", "Cilium Cluster Mesh conformance (pytest-clustermesh)")
    for flag, ini, kwargs in _OPTIONS:
        group.addoption(flag, dest=ini, default=None, **kwargs)
        parser.addini(ini, help=f"ini twin of {flag}", type=_INI_TYPES.get(ini, "string"))  # type: ignore[arg-type]
    parser.addini(
        "clustermesh_scenario_files",
        help=f"glob patterns of scenario files to collect (default: {DEFAULT_SCENARIO_FILES})",
        type="args",
    )
    return group


def get(config: pytest.Config, name: str) -> Any:
    """An option's value: command line first, then ini; ``None``/empty when unset."""
    value = config.getoption(name, default=None)
    if value is None or value == []:
        value = config.getini(name)
    return value or None


@dataclass(frozen=True)
class MeshChoice:
    """What the options select: a backend, or nothing (scenario items then cannot run)."""

    backend: str | None
    contexts: tuple[str, ...] = ()
    named_contexts: dict[str, str] = field(default_factory=dict)
    kubeconfig: str | None = None
    sim_version: str = DEFAULT_SIM_VERSION
    sim_options: dict[str, str] = field(default_factory=dict)

    @property
    def missing_message(self) -> str:
        return (
            "scenario items need a mesh to run on: pass --mesh-backend=simulated for the "
            "simulated mesh, or --kube-contexts=CTX1,CTX2 for real clusters "
            "(or set clustermesh_backend / clustermesh_kube_contexts in the ini file)"
        )


def mesh_choice(config: pytest.Config) -> MeshChoice:
    """Interpret the options; a contradiction is a :class:`UsageError`."""
    contexts, named = _contexts(get(config, "clustermesh_kube_contexts"))
    backend = config.getoption("clustermesh_backend", default=None)
    if backend is None and not contexts:
        # The ini's backend is a default: contexts given on the command line override it.
        backend = config.getini("clustermesh_backend") or None
    if backend not in (None, "kubernetes", "simulated"):
        raise UsageError(f"clustermesh_backend must be kubernetes or simulated, not {backend!r}")
    if backend == "simulated" and contexts:
        raise UsageError("--kube-contexts and --mesh-backend=simulated contradict each other")
    if backend == "kubernetes" and not contexts:
        raise UsageError("--mesh-backend=kubernetes needs --kube-contexts=CTX1,CTX2")
    if contexts:
        backend = "kubernetes"
    version = str(get(config, "clustermesh_sim_cilium_version") or DEFAULT_SIM_VERSION)
    try:
        parsed = parse_version(version)
    except ValueError as exc:
        raise UsageError(f"--sim-cilium-version: {exc}") from None
    sim_options = _sim_options(get(config, "clustermesh_sim_options") or [], parsed)
    return MeshChoice(backend, contexts, named, _kubeconfig(config), version, sim_options)


def _contexts(raw: str | None) -> tuple[tuple[str, ...], dict[str, str]]:
    if not raw:
        return (), {}
    items = [item.strip() for item in raw.split(",") if item.strip()]
    named = dict(item.split("=", 1) for item in items if "=" in item)
    if named and len(named) != len(items):
        raise UsageError("--kube-contexts: bind either all clusters by name or none")
    contexts = tuple(named.values()) if named else tuple(items)
    if len(set(contexts)) != len(contexts):
        raise UsageError(f"--kube-contexts names a context twice: {raw}")
    return contexts, named


def _kubeconfig(config: pytest.Config) -> str | None:
    value = get(config, "clustermesh_kubeconfig") or os.environ.get("KUBECONFIG")
    if value:
        return str(value)
    default = Path.home() / ".kube" / "config"
    return str(default) if default.exists() else None


def _sim_options(raw: list[str], version: Any) -> dict[str, str]:
    options: dict[str, str] = {}
    for item in raw:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip().lower()
        if not sep or key not in KNOWN_OPTIONS:
            raise UsageError(
                f"--sim-option {item!r}: expected KEY=VALUE with KEY one of "
                f"{', '.join(KNOWN_OPTIONS)}"
            )
        if key in BOOLEAN_OPTIONS and value not in ("true", "false"):
            raise UsageError(f"--sim-option {key} takes true or false, not {value!r}")
        if key == ENABLE_POLICY and value not in ENFORCEMENT_MODES:
            raise UsageError(f"--sim-option {key} takes {', '.join(ENFORCEMENT_MODES)}")
        if key == POLICY_DEFAULT_LOCAL_CLUSTER and not option_exists(key, version):
            raise UsageError(
                f"--sim-option {key}: the option does not exist in Cilium {version} "
                "(introduced in 1.18)"
            )
        options[key] = value
    return options
