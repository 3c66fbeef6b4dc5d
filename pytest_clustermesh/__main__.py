"""``python -m pytest_clustermesh explain``: what the model decides for a step, and why.

A dry run of a scenario's policies on the simulated mesh, without pytest::

    python -m pytest_clustermesh explain scenarios/guide/guide.scenario.yaml \\
        --step policy-on-cluster1 --from cluster2/frontend --to cluster1/myapp --cilium-version 1.19

Without ``--from``/``--to`` it prints every case of the step with the model's verdict.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .backend import HttpRequest, Probe
from .errors import ClusterMeshError
from .facts import KNOWN_OPTIONS, MODELLED_RANGE, is_modelled, parse_version
from .options import DEFAULT_SIM_VERSION
from .runner import MeshSession, ScenarioRun
from .scenario import ALL, Scenario, Step, load_scenario, resolve_sources, resolve_targets
from .simulated import SimulatedMesh, simulated_facts
from .verdicts import ProbeResult


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _explain(args)
    except ClusterMeshError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pytest_clustermesh")
    commands = parser.add_subparsers(dest="command", required=True)
    explain = commands.add_parser("explain", help="the model's verdicts for a step, with reasons")
    explain.add_argument("scenario", type=Path)
    explain.add_argument("--step", help="step name (default: the first)")
    explain.add_argument("--from", dest="source", help="cluster/workload of a client")
    explain.add_argument("--to", dest="target", help="cluster/workload or service/<name>")
    explain.add_argument("--port", type=int)
    explain.add_argument("--path", help="HTTP path of the request (default /)")
    explain.add_argument("--cilium-version", default=DEFAULT_SIM_VERSION)
    explain.add_argument(
        "--option", action="append", default=[], metavar="KEY=VALUE",
        help=f"agent option of every cluster ({', '.join(KNOWN_OPTIONS)})",
    )  # fmt: skip
    return parser


def _explain(args: argparse.Namespace) -> int:
    _check_version(args.cilium_version)
    options = _options(args.option)
    scenario = load_scenario(args.scenario)
    step = _step(scenario, args.step)
    facts = simulated_facts(scenario.model.clusters, args.cilium_version, options)
    run = ScenarioRun(MeshSession(SimulatedMesh(facts), "explain"), scenario)
    run.prepare(step)
    print(f"step {step.name} of {scenario.name}, simulated Cilium {args.cilium_version}")
    for cluster, refs in step.policies.items():
        print(f"  {cluster}: {', '.join(refs) or 'no policy'}")
    if args.source or args.target:
        probe = _probe(scenario, args)
        _print_result(probe, run.session.oracle.predict(run.deployment, probe), verbose=True)
        return 0
    for case in scenario.cases:
        if case.step is step:
            result = run.session.oracle.predict(run.deployment, case.probe)
            skip = run.skip_reason(case)
            expected = f"{case.verdict_text}, not applicable: {skip}" if skip else case.verdict_text
            _print_result(case.probe, result, verbose=False, expected=expected)
    return 0


def _check_version(text: str) -> None:
    try:
        version = parse_version(text)
    except ValueError as exc:
        raise ClusterMeshError(f"--cilium-version: {exc}") from None
    if not is_modelled(version):
        raise ClusterMeshError(
            f"--cilium-version: the simulated mesh models Cilium {MODELLED_RANGE}, not {text}"
        )


def _options(items: Sequence[str]) -> dict[str, str]:
    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in KNOWN_OPTIONS:
            raise ClusterMeshError(
                f"--option {item!r}: expected KEY=VALUE with KEY one of {', '.join(KNOWN_OPTIONS)}"
            )
        options[key] = value
    return options


def _step(scenario: Scenario, name: str | None) -> Step:
    for step in scenario.steps:
        if name is None or step.name == name:
            return step
    known = ", ".join(step.name for step in scenario.steps)
    raise ClusterMeshError(f"no step {name!r} in {scenario.path} (steps: {known})")


def _probe(scenario: Scenario, args: argparse.Namespace) -> Probe:
    if not (args.source and args.target):
        raise ClusterMeshError("give both --from and --to")
    for case in scenario.cases:
        candidate = case.probe
        if (
            f"{candidate.source_cluster}/{candidate.source}" == args.source
            and str(candidate.target) == args.target
        ):
            break
    else:
        candidate = None
    if candidate is None:
        sources = resolve_sources(scenario, args.source)
        targets = resolve_targets(scenario, args.target)
        if ALL in args.source or len(sources) != 1 or len(targets) != 1:
            raise ClusterMeshError("explain takes one source and one target, no wildcards")
        (cluster, source), (target, owner) = sources[0], targets[0]
        port = scenario.model.workloads[owner].port_list()[0].port
        candidate = Probe(cluster, source, target, port)
    http = HttpRequest(path=args.path) if args.path else candidate.http
    port = args.port or candidate.port
    return Probe(candidate.source_cluster, candidate.source, candidate.target, port,
                 candidate.protocol, http)  # fmt: skip


def _print_result(
    probe: Probe, result: ProbeResult, *, verbose: bool, expected: str | None = None
) -> None:
    served = f" served by {', '.join(sorted(result.served_by))}" if result.served_by else ""
    wanted = f"  (expected: {expected})" if expected else ""
    print(f"{probe}: {result.outcome.value}{served}{wanted}")
    if verbose or result.outcome.is_error:
        if result.detail and result.outcome.is_error:
            print(f"    {result.detail}")
        for reason in result.explanation:
            print(f"    - {reason}")


if __name__ == "__main__":
    raise SystemExit(main())
