"""Command-line options and their ini twins, and what they select.

Every option can be set in ``pytest.ini``/``pyproject.toml`` so a CI job need not spell it out;
the command line wins over the ini file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .errors import ScenarioError, UsageError
from .facts import SimSettings, parse_option_items, parse_versions
from .yamlmarks import load_all

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
        dict(
            help="Cilium version the simulated mesh models: one for every cluster, or per "
            f"cluster: cluster1=1.18,cluster2=1.19 (default {DEFAULT_SIM_VERSION})"
        ),
    ),
    (
        "--sim-option",
        "clustermesh_sim_options",
        dict(
            action="append",
            metavar="[CLUSTER:]KEY=VALUE",
            help="a Cilium agent option of every simulated cluster, e.g. "
            "policy-default-local-cluster=false or enable-policy=always, or of one: "
            "cluster2:policy-default-local-cluster=true (repeatable)",
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

POLICY_ROOT = "clustermesh_policy_root"
FAIL_ON_ALL_SKIPPED = "clustermesh_fail_on_all_skipped"


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
    parser.addini(
        POLICY_ROOT,
        help="folder(s), relative to the ini file, that scenarios may read policy files from "
        "besides their own folder (default: none)",
        type="paths",
    )
    group.addoption(
        "--clustermesh-fail-on-all-skipped",
        dest=FAIL_ON_ALL_SKIPPED,
        action="store_true",
        default=None,
        help="fail the run (exit code 1) when every item that ran was skipped by its when: "
        "condition, so a CI gate never passes having checked nothing",
    )
    parser.addini(
        FAIL_ON_ALL_SKIPPED,
        help="ini twin of --clustermesh-fail-on-all-skipped",
        type="bool",
        default=False,
    )
    return group


def get(config: pytest.Config, name: str) -> Any:
    """An option's value: command line first, then ini; ``None``/empty when unset."""
    value = config.getoption(name, default=None)
    if value is None or value == []:
        value = config.getini(name)
    return value or None


def check_options(config: pytest.Config) -> None:
    """Check the options no :class:`MeshChoice` holds, for every backend, so a bad value is a
    usage error at start-up rather than a surprise (or nothing) later."""
    policy_roots(config)
    try:
        from .kubernetes import options as kube_options
    except ImportError:  # the Kubernetes backend is optional at import time
        return
    kube_options.check_options(config)


def policy_roots(config: pytest.Config) -> tuple[Path, ...]:
    """The folders named by ``clustermesh_policy_root``, each of which must exist."""
    roots = tuple(Path(p) for p in config.getini(POLICY_ROOT) or ())
    for root in roots:
        if not root.is_dir():
            what = "is not a folder" if root.exists() else "does not exist"
            raise UsageError(f"{POLICY_ROOT}: {root} {what}")
    return roots


def fail_on_all_skipped(config: pytest.Config) -> bool:
    flag = config.getoption(FAIL_ON_ALL_SKIPPED, default=None)
    return bool(flag) if flag is not None else bool(config.getini(FAIL_ON_ALL_SKIPPED))


@dataclass(frozen=True)
class MeshChoice:
    """What the options select: a backend, or nothing (scenario items then cannot run)."""

    backend: str | None
    contexts: tuple[str, ...] = ()
    named_contexts: dict[str, str] = field(default_factory=dict)
    kubeconfig: str | None = None
    sim_version: str = DEFAULT_SIM_VERSION
    """The Cilium version of every simulated cluster that ``sim`` does not name."""
    sim_options: dict[str, str] = field(default_factory=dict)
    """Agent options of every simulated cluster."""
    sim: SimSettings = field(default_factory=SimSettings)
    """The simulated mesh's settings, per cluster where given."""

    def sim_args(self) -> list[str]:
        """The command-line options that give the simulated mesh these settings."""
        args = [f"--sim-cilium-version={self.sim.version_arg()}"]
        return args + [f"--sim-option={item}" for item in self.sim.option_args()]

    @property
    def missing_message(self) -> str:
        return (
            "scenario items need a mesh to run on: pass --mesh-backend=simulated for the "
            "simulated mesh, or --kube-contexts=CTX1,CTX2 for real clusters "
            "(or set clustermesh_backend / clustermesh_kube_contexts in the ini file)"
        )


def mesh_choice(config: pytest.Config) -> MeshChoice:
    """Interpret the options; a contradiction or a bad value is a :class:`UsageError`."""
    contexts, named = _contexts(config)
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
    sim = sim_settings(
        str(get(config, "clustermesh_sim_cilium_version") or DEFAULT_SIM_VERSION),
        get(config, "clustermesh_sim_options") or [],
        _source(config, "clustermesh_sim_cilium_version"),
        _source(config, "clustermesh_sim_options"),
    )
    kubeconfig = _kubeconfig(config, backend == "kubernetes")
    if backend == "kubernetes" and kubeconfig:
        _check_kubeconfig_files(kubeconfig)
    return MeshChoice(backend, contexts, named, kubeconfig, sim.version, dict(sim.options), sim)


def sim_settings(
    versions: str,
    options: Sequence[str],
    version_source: str = "--sim-cilium-version",
    option_source: str = "--sim-option",
) -> SimSettings:
    """The simulated mesh's settings from ``--sim-cilium-version`` (``1.19``, or per cluster
    ``cluster1=1.18,cluster2=1.19``) and ``--sim-option`` items (``KEY=VALUE`` for every
    cluster, ``CLUSTER:KEY=VALUE`` for one); a bad value is a one-line :class:`UsageError`."""
    try:
        default, named = parse_versions(versions, version_source)
        every, per_cluster = parse_option_items(options, option_source)
        sim = SimSettings(default or DEFAULT_SIM_VERSION, every, named, per_cluster)
        sim.check(option_source)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return sim


def _source(config: pytest.Config, name: str) -> str:
    """How the user gave option ``name``: its flag, or its ini key."""
    flag = next(flag for flag, ini, _ in _OPTIONS if ini == name)
    return flag if config.getoption(name, default=None) not in (None, []) else name


def _contexts(config: pytest.Config) -> tuple[tuple[str, ...], dict[str, str]]:
    raw = config.getoption("clustermesh_kube_contexts", default=None)
    source = "--kube-contexts"
    if raw is None:
        raw, source = (
            config.getini("clustermesh_kube_contexts") or None,
            "clustermesh_kube_contexts",
        )
    if raw is None:
        return (), {}
    items = [item.strip() for item in str(raw).split(",")]
    if not any(items):
        raise UsageError(f"{source}: empty; name the contexts: {source}=CTX1,CTX2")
    if not all(items):
        raise UsageError(f"{source}: an empty entry in {raw!r}; separate contexts by one comma")
    pairs = [item.partition("=") for item in items]
    if any(sep for _, sep, _ in pairs):
        if not all(sep for _, sep, _ in pairs):
            raise UsageError(f"{source}: bind either all clusters by name or none: {raw}")
        for cluster, _, context in pairs:
            if not cluster.strip() or not context.strip():
                raise UsageError(f"{source}: {cluster}={context} needs CLUSTER=CONTEXT, both set")
        clusters = [cluster.strip() for cluster, _, _ in pairs]
        _no_twice(source, "cluster", clusters)
        named = {cluster.strip(): context.strip() for cluster, _, context in pairs}
        contexts = tuple(named.values())
    else:
        named, contexts = {}, tuple(items)
    _no_twice(source, "context", list(contexts))
    return contexts, named


def _no_twice(source: str, what: str, names: list[str]) -> None:
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise UsageError(f"{source} names the {what} {twice[0]!r} twice")


def _kubeconfig(config: pytest.Config, needed: bool) -> str | None:
    """The kubeconfig to use. One given with --kubeconfig (or its ini twin) must exist, each
    file of it; ``$KUBECONFIG`` (a list, as for kubectl) must name one file that exists when a
    kubeconfig is ``needed``."""
    given = config.getoption("clustermesh_kubeconfig", default=None)
    source = "--kubeconfig"
    if not given:
        given, source = config.getini("clustermesh_kubeconfig") or None, "clustermesh_kubeconfig"
    if given:
        for file in _kubeconfig_files(str(given)):
            _must_be_file(source, file)
        return str(given)
    env = os.environ.get("KUBECONFIG")
    if env:
        if needed and not any(f.is_file() for f in _kubeconfig_files(env)):
            raise UsageError(f"$KUBECONFIG names no file that exists: {env}")
        return env
    default = Path.home() / ".kube" / "config"
    if default.exists():
        return str(default)
    if needed:
        raise UsageError(
            f"no kubeconfig: pass --kubeconfig=PATH or set $KUBECONFIG ({default} does not exist)"
        )
    return None


def _kubeconfig_files(value: str) -> list[Path]:
    return [Path(part).expanduser() for part in value.split(os.pathsep) if part]


def _must_be_file(source: str, path: Path) -> None:
    if path.is_file():
        return
    what = "is a folder, not a file" if path.is_dir() else "does not exist"
    raise UsageError(f"{source}: {path} {what}")


def _check_kubeconfig_files(kubeconfig: str) -> None:
    """Each kubeconfig file must be YAML holding a mapping, read by the plugin's one guarded
    loader: the Kubernetes client would stop at a tab or an alias bomb with a traceback."""
    for file in _kubeconfig_files(kubeconfig):
        if not file.is_file():
            continue
        try:
            documents = load_all(file)
        except ScenarioError as exc:
            raise UsageError(f"kubeconfig {exc}") from None
        if len(documents) != 1 or not isinstance(documents[0], dict):
            raise UsageError(
                f"kubeconfig {file}: not a kubeconfig (one YAML mapping with clusters, "
                "contexts and users)"
            )
