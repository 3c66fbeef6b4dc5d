"""``clustermesh-emulator``: serve emulated clusters until interrupted.

    python -m clustermesh_emulator --kubeconfig /tmp/mesh.yaml \
        --cilium-version cluster2=1.19.1 --option policy-default-local-cluster=false

Faults of the emulated Cilium (``--partition cluster1:cluster2``, ``--late-agent cluster2=3``,
``--hubble-disabled cluster2``, ``--remote-not-ready cluster1:cluster2``,
``--non-policy-drop cluster2:cluster1=NO_TUNNEL_OR_ENCAPSULATION_ENDPOINT``) need the simulated
mesh and imply ``--simulated-probes``; ``--forbid create:pods/exec:kube-system`` makes the API
servers refuse a request as RBAC would.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import ipaddress
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import replace
from types import FrameType
from typing import cast

from .config import DEFAULT_CILIUM_VERSION, ClusterConfig
from .emulator import Emulator
from .exec import ExecHandler
from .faults import Faults
from .meshfaults import MeshFaults, from_args


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clustermesh-emulator",
        description="Serve emulated Kubernetes clusters with Cilium Cluster Mesh on loopback.",
    )
    parser.add_argument("--kubeconfig", required=True, help="where to write the kubeconfig")
    parser.add_argument(
        "--clusters",
        default="cluster1,cluster2",
        help="comma-separated logical names (contexts are kind-<name>)",
    )
    parser.add_argument(
        "--cilium-version",
        action="append",
        default=[],
        metavar="[CLUSTER=]VERSION",
        help=f"Cilium version, for all or one cluster (default {DEFAULT_CILIUM_VERSION})",
    )
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="[CLUSTER:]KEY=VALUE",
        help="an extra cilium-config entry",
    )
    parser.add_argument(
        "--no-clustermesh",
        action="append",
        default=[],
        metavar="CLUSTER",
        help="a cluster without clustermesh-apiserver, outside the mesh",
    )
    parser.add_argument(
        "--start-delay", type=float, default=0.05, help="seconds until a pod is Running"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=0,
        help="port of the first cluster, the others following (0: any)",
    )
    parser.add_argument(
        "--exec-handler",
        metavar="MODULE:FUNCTION",
        help="async function answering execs (default: tool not found, 126)",
    )
    parser.add_argument(
        "--simulated-probes",
        action="store_true",
        help="answer the Kubernetes backend's probe execs from the simulated mesh's verdicts "
        "(MirroredMesh), so `pytest --kube-contexts=...` runs scenarios against this emulator",
    )
    parser.add_argument(
        "--external",
        action="append",
        default=[],
        metavar="HOSTNAME=ADDRESS",
        help="a name the emulated cluster DNS resolves, to an address outside every cluster "
        "(the world; implies --simulated-probes)",
    )
    cilium = parser.add_argument_group(
        "faults of the emulated Cilium (imply --simulated-probes; clusters by logical name)"
    )
    cilium.add_argument(
        "--partition",
        action="append",
        default=[],
        metavar="A:B",
        help="packets between the two clusters vanish, with no policy drop and no Hubble record",
    )
    cilium.add_argument(
        "--late-agent",
        action="append",
        default=[],
        metavar="CLUSTER=SECONDS",
        help="the cluster's agents realise policy changes that many seconds late",
    )
    cilium.add_argument(
        "--hubble-disabled",
        action="append",
        default=[],
        metavar="CLUSTER",
        help="the cluster's agents report Hubble Disabled and hubble observe cannot connect",
    )
    cilium.add_argument(
        "--remote-not-ready",
        action="append",
        default=[],
        metavar="OBSERVER:REMOTE",
        help="the observer's agents report the remote cluster not connected, not ready",
    )
    cilium.add_argument(
        "--non-policy-drop",
        action="append",
        default=[],
        metavar="SOURCE:DEST=REASON",
        help="packets from SOURCE's pods to DEST's are dropped with that Hubble drop reason",
    )
    parser.add_argument(
        "--forbid",
        action="append",
        default=[],
        metavar="VERB:RESOURCE[:NAMESPACE]",
        help="answer matching requests 403 Forbidden, as RBAC would (e.g. create:pods/exec:"
        "kube-system)",
    )
    faults = parser.add_argument_group("fault injection")
    faults.add_argument("--error-rate", type=float, default=0.0)
    faults.add_argument("--error-statuses", default="500,429")
    faults.add_argument("--latency", type=float, default=0.0)
    faults.add_argument("--drop-rate", type=float, default=0.0)
    faults.add_argument("--exec-delay", type=float, default=0.0)
    faults.add_argument("--retry-after", type=int, default=1)
    faults.add_argument("--seed", type=int)
    return parser


def _split_scoped(value: str, separator: str, names: Sequence[str]) -> tuple[str | None, str]:
    """``cluster2=1.19`` -> (``cluster2``, ``1.19``); an unscoped value applies to all."""
    scope, found, rest = value.partition(separator)
    if found and scope in names:
        return scope, rest
    return None, value


def configs_from_args(args: argparse.Namespace) -> list[ClusterConfig]:
    names = [n.strip() for n in args.clusters.split(",") if n.strip()]
    configs = {
        name: ClusterConfig(
            logical=name,
            cluster_id=index,
            start_delay=args.start_delay,
            port=args.port + index - 1 if args.port else 0,
            clustermesh=name not in args.no_clustermesh,
        )
        for index, name in enumerate(names, start=1)
    }
    for value in args.cilium_version:
        scope, version = _split_scoped(value, "=", names)
        for name in [scope] if scope else names:
            configs[name] = replace(configs[name], cilium_version=version)
    for value in args.option:
        scope, pair = _split_scoped(value, ":", names)
        key, found, option = pair.partition("=")
        if not found:
            raise SystemExit(f"--option wants KEY=VALUE, not {value!r}")
        for name in [scope] if scope else names:
            configs[name] = replace(configs[name], options={**configs[name].options, key: option})
    return list(configs.values())


def mesh_faults_from_args(args: argparse.Namespace) -> MeshFaults:
    try:
        return from_args(
            args.partition,
            args.late_agent,
            args.hubble_disabled,
            args.remote_not_ready,
            args.non_policy_drop,
        )
    except ValueError as exc:
        raise SystemExit(f"clustermesh-emulator: {exc}") from None


def externals_from_args(args: argparse.Namespace) -> dict[str, str]:
    """``--external HOSTNAME=ADDRESS`` as the mirrored mesh's DNS names."""
    externals = {}
    for spec in args.external:
        name, _, address = spec.partition("=")
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise SystemExit(f"--external wants HOSTNAME=ADDRESS, not {spec!r}") from None
        if not name:
            raise SystemExit(f"--external wants HOSTNAME=ADDRESS, not {spec!r}")
        externals[name] = address
    return externals


def _forbid(emulator: Emulator, specs: Sequence[str]) -> None:
    for spec in specs:
        verb, _, rest = spec.partition(":")
        resource, _, namespace = rest.partition(":")
        if not verb or not resource:
            raise SystemExit(f"--forbid wants VERB:RESOURCE[:NAMESPACE], not {spec!r}")
        for cluster in emulator:
            cluster.forbid(verb, resource, namespace or None)


def _load_handler(spec: str) -> ExecHandler:
    module, _, function = spec.partition(":")
    return cast(ExecHandler, getattr(importlib.import_module(module), function))


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    faults = Faults(
        error_rate=args.error_rate,
        error_statuses=tuple(int(s) for s in args.error_statuses.split(",") if s),
        latency=args.latency,
        drop_rate=args.drop_rate,
        exec_delay=args.exec_delay,
        retry_after=args.retry_after,
        seed=args.seed,
    )
    handler = _load_handler(args.exec_handler) if args.exec_handler else None
    mesh_faults = mesh_faults_from_args(args)
    externals = externals_from_args(args)
    emulator = Emulator(configs_from_args(args), exec_handler=handler)

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    with contextlib.ExitStack() as stack:
        stack.enter_context(emulator)
        if args.simulated_probes or mesh_faults != MeshFaults() or externals:
            from .mesh import MirroredMesh  # imports the Kubernetes backend's probe protocol

            mirror = stack.enter_context(MirroredMesh(emulator))
            mirror.mesh_faults = mesh_faults
            mirror.externals.update(externals)
        emulator.set_faults(faults)
        _forbid(emulator, args.forbid)
        path = emulator.write_kubeconfig(args.kubeconfig)
        contexts = ", ".join(f"{c.context}={c.url}" for c in emulator)
        print(
            f"clustermesh-emulator: kubeconfig written to {path} ({contexts}); "
            "SIGINT or SIGTERM stops it",
            flush=True,
        )
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
