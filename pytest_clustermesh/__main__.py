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
from dataclasses import replace
from pathlib import Path

from .backend import KUBE_APISERVER_PORT, ApiServerTarget, DnsTarget, HttpRequest, Probe
from .errors import ClusterMeshError, UsageError
from .facts import KNOWN_OPTIONS, mixed_mesh_line
from .options import DEFAULT_SIM_VERSION, sim_settings
from .runner import MeshSession, ScenarioRun
from .scenario import ALL, Scenario, Step, load_scenario, resolve_sources, resolve_targets
from .simulated import SimulatedMesh
from .verdicts import ProbeResult


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "upgrade-plan":
            return _upgrade_plan(args)
        return _explain(args)
    except ClusterMeshError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pytest_clustermesh")
    commands = parser.add_subparsers(dest="command", required=True)
    explain = commands.add_parser("explain", help="the model's verdicts for a step, with reasons")
    explain.add_argument("scenario", type=Path)
    plan = commands.add_parser(
        "upgrade-plan",
        help="a rolling upgrade on the simulated mesh: per stage, the verdicts that change",
    )
    plan.add_argument("scenarios", type=Path, nargs="+", metavar="SCENARIO")
    plan.add_argument(
        "--from", dest="from_version", required=True, help="version before, e.g. 1.18"
    )
    plan.add_argument("--to", dest="to_version", required=True, help="version after, e.g. 1.19")
    plan.add_argument(
        "--order", default="", help="clusters in upgrade order, e.g. cluster1,cluster2 "
        "(default: as the scenarios list them; clusters not named follow)",
    )  # fmt: skip
    plan.add_argument(
        "--option", action="append", default=[], metavar="[CLUSTER:]KEY=VALUE",
        help="an agent option pinned through every stage, for every cluster or for one "
        f"({', '.join(KNOWN_OPTIONS)}); others take each version's default",
    )  # fmt: skip
    plan.add_argument(
        "--results-dir", type=Path,
        help="write each stage's records, as --clustermesh-results does, to DIR/<n>-<stage>.json",
    )  # fmt: skip
    plan.add_argument("-v", "--verbose", action="store_true", help="also the start's reasons")
    explain.add_argument("--step", help="step name (default: the first)")
    explain.add_argument("--from", dest="source", help="cluster/workload of a client")
    explain.add_argument(
        "--to", dest="target", help="cluster/workload, service/<name> or external/<name>"
    )
    explain.add_argument("--port", type=int)
    explain.add_argument(
        "--protocol", type=str.upper, choices=["TCP", "UDP", "SCTP", "ICMP"],
        help="the probe's protocol (default: the expectation's, else TCP); ICMP is a ping",
    )  # fmt: skip
    explain.add_argument("--path", help="HTTP path of the request (default /)")
    explain.add_argument(
        "--cilium-version", default=DEFAULT_SIM_VERSION,
        help="one version for every cluster, or per cluster: cluster1=1.18,cluster2=1.19",
    )  # fmt: skip
    explain.add_argument(
        "--option", action="append", default=[], metavar="[CLUSTER:]KEY=VALUE",
        help=f"agent option of every cluster, or of one ({', '.join(KNOWN_OPTIONS)})",
    )  # fmt: skip
    return parser


def _explain(args: argparse.Namespace) -> int:
    try:
        sim = sim_settings(args.cilium_version, args.option, "--cilium-version", "--option")
    except UsageError as exc:
        raise ClusterMeshError(str(exc)) from None
    scenario = load_scenario(args.scenario)
    step = _step(scenario, args.step)
    clusters = scenario.model.clusters
    facts = {name: sim.facts_of(name, index) for index, name in enumerate(clusters, start=1)}
    run = ScenarioRun(MeshSession(SimulatedMesh(facts), "explain"), scenario)
    run.prepare(step)
    mixed = mixed_mesh_line(facts)
    print(f"step {step.name} of {scenario.name}, simulated Cilium {sim.version_arg()}")
    if mixed:
        print(f"  {mixed}")
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
            _print_result(case.probe, result, verbose=True, expected=expected)
    return 0


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
        if isinstance(target, DnsTarget):
            return Probe(cluster, source, target, 53, "UDP")
        if isinstance(target, ApiServerTarget):
            return Probe(cluster, source, target, args.port or KUBE_APISERVER_PORT)
        if args.protocol == "ICMP":
            port = 0
        elif owner:
            port = scenario.model.workloads[owner].port_list()[0].port
        elif args.port:
            port = args.port
        else:
            raise ClusterMeshError(f"{target} has no server workload: give --port")
        candidate = Probe(cluster, source, target, port, args.protocol or "TCP")
    protocol = args.protocol or candidate.protocol
    if protocol == "ICMP":
        if args.port or args.path:
            raise ClusterMeshError("a ping (--protocol ICMP) has no --port or --path")
        return Probe(candidate.source_cluster, candidate.source, candidate.target, 0, "ICMP")
    http = HttpRequest(path=args.path) if args.path else candidate.http
    port = args.port or candidate.port
    if not port:
        raise ClusterMeshError(f"give --port for a {protocol} probe to {candidate.target}")
    return Probe(candidate.source_cluster, candidate.source, candidate.target, port,
                 protocol, http)  # fmt: skip


def _print_result(
    probe: Probe, result: ProbeResult, *, verbose: bool, expected: str | None = None
) -> None:
    served = f" served by {', '.join(sorted(result.served_by))}" if result.served_by else ""
    wanted = f"  (expected: {expected})" if expected else ""
    request = f" {probe.http.method} {probe.http.path}" if probe.http else ""
    print(f"{probe}{request}: {result.outcome.value}{served}{wanted}")
    if verbose or result.outcome.is_error:
        if result.detail and result.outcome.is_error:
            print(f"    {result.detail}")
        for reason in result.explanation:
            print(f"    - {reason}")


def _upgrade_plan(args: argparse.Namespace) -> int:
    """Evaluate every stage of a rolling upgrade, print what changes, write the records."""
    from . import upgradeplan
    from .reports import resultsfile
    from .reports.records import CaseRecord, record_for_case

    try:
        sim = sim_settings(f"{args.from_version}", args.option, "--from", "--option")
        sim_settings(f"{args.to_version}", args.option, "--to", "--option")
    except UsageError as exc:
        raise ClusterMeshError(str(exc)) from None
    scenarios = [load_scenario(path) for path in args.scenarios]
    order = [name.strip() for name in args.order.split(",") if name.strip()]
    try:
        clusters = upgradeplan.upgrade_order(scenarios, order)
        stages = upgradeplan.plan_stages(
            clusters, sim.version, args.to_version, sim.options, sim.cluster_options
        )
    except ValueError as exc:
        raise ClusterMeshError(str(exc)) from None
    results = upgradeplan.evaluate(scenarios, stages)
    print(
        f"rolling upgrade from Cilium {args.from_version} to {args.to_version}, "
        f"order {', '.join(clusters)}; {len(scenarios)} scenario(s)"
    )
    for line in upgradeplan.render(results, verbose=args.verbose):
        print(line)
    if args.results_dir is None:
        return 0
    for result in results:
        records: list[CaseRecord] = []
        for outcome in result.cases:
            path = str(outcome.scenario.path)
            record = record_for_case(
                nodeid=f"{path}::{outcome.case.step.name}::{outcome.case.id}",
                scenario=outcome.scenario.name,
                path=path,
                index=outcome.index,
                case=outcome.case,
                judgement=outcome.judgement,
            )
            records.append(replace(record, status=outcome.status, message=outcome.message))
        stage = result.stage
        target = args.results_dir / f"{stage.index}-{stage.name}.json"
        run = {
            "run_id": f"upgrade-plan-{stage.index}",
            "backend": "simulated",
            "upgrade_stage": {"index": stage.index, "name": stage.name, "title": stage.title},
            "sim_cilium_version": stage.settings.version,
            "sim_options": dict(stage.settings.options),
            "sim_cluster_versions": dict(stage.settings.cluster_versions),
            "sim_cluster_options": {
                name: dict(values) for name, values in stage.settings.cluster_options.items()
            },
        }
        resultsfile.write(target, records, run)
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
