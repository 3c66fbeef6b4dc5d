"""A rolling upgrade, previewed on the simulated mesh: the verdicts of every stage.

Clusters of a mesh are upgraded one at a time, so between the first and the last the mesh is
mixed, and each direction of a flow is decided by its own cluster's agent with its own version
and options (docs/cilium-semantics.md s8, s15). The stages are:

- ``start``: every cluster on the ``--from`` version;
- one stage per cluster, in the upgrade order, with that cluster and those before it on the
  ``--to`` version;
- the last of these is ``end``: every cluster upgraded.

Options the user pins (``KEY=VALUE`` for every cluster, ``CLUSTER:KEY=VALUE`` for one) stay as
pinned through every stage; every other option takes the default of the version the cluster runs
at that stage, so a default that changes with the version (``policy-default-local-cluster``:
false on 1.18, true from 1.19) changes with each cluster as it is upgraded.

Each stage is evaluated as ``pytest --mesh-backend=simulated`` would run it (the same cases,
``when:`` skips and judgements), and every cell (probe) whose predicted verdict differs from the
start's is reported with the model's reasons. Pytest-free: ``python -m pytest_clustermesh
upgrade-plan`` prints the stages and writes their records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .errors import ClusterMeshError
from .facts import ClusterFacts, SimSettings, mixed_mesh_line, parse_version
from .runner import Judgement, MeshSession, ScenarioRun
from .scenario import Case, Scenario
from .simulated import SimulatedMesh
from .verdicts import ProbeResult

RUN_ID = "upgrade-plan"
"""The run id of every stage: the same names at every stage, so explanations compare."""


@dataclass(frozen=True)
class Stage:
    """One stage of a rolling upgrade: which clusters run the new version."""

    index: int
    name: str
    """``start``, ``cluster1-upgraded``, ..., ``end``."""
    upgraded: tuple[str, ...]
    settings: SimSettings

    @property
    def title(self) -> str:
        if not self.upgraded:
            return f"every cluster on Cilium {self.settings.version}"
        last = self.upgraded[-1]
        version = self.settings.version_of(last)
        if self.name == "end":
            return f"{last} upgraded to Cilium {version}, every cluster upgraded"
        return f"{last} upgraded to Cilium {version}"


def plan_stages(
    clusters: Sequence[str],
    from_version: str,
    to_version: str,
    options: Mapping[str, str] | None = None,
    cluster_options: Mapping[str, Mapping[str, str]] | None = None,
) -> list[Stage]:
    """The stages of upgrading ``clusters`` in this order from ``from_version`` to
    ``to_version``, with the options the user pins (for every cluster, or per cluster).

    Raises :class:`ValueError` when a pinned option does not exist in a version a cluster runs.
    """
    every = dict(options or {})
    per_cluster = {name: dict(values) for name, values in (cluster_options or {}).items()}
    stages = []
    for count in range(len(clusters) + 1):
        upgraded = tuple(clusters[:count])
        settings = SimSettings(
            from_version, every, {name: to_version for name in upgraded}, per_cluster
        )
        settings.check("--option")
        name = (
            "start"
            if count == 0
            else "end"
            if count == len(clusters)
            else f"{upgraded[-1]}-upgraded"
        )
        stages.append(Stage(count, name, upgraded, settings))
    return stages


def upgrade_order(scenarios: Sequence[Scenario], order: Sequence[str] = ()) -> list[str]:
    """The clusters in upgrade order: those ``order`` names first, then every other cluster of
    the scenarios as they list them. A named cluster no scenario has is a :class:`ValueError`."""
    known = list(dict.fromkeys(c for scenario in scenarios for c in scenario.model.clusters))
    unknown = [name for name in order if name not in known]
    if unknown:
        raise ValueError(
            f"--order: no scenario has the cluster {unknown[0]!r} (clusters: {', '.join(known)})"
        )
    if len(set(order)) != len(order):
        twice = next(name for name in order if list(order).count(name) > 1)
        raise ValueError(f"--order names the cluster {twice!r} twice")
    return [*order, *(name for name in known if name not in order)]


@dataclass(frozen=True)
class CellKey:
    """One probe of one step: what is compared between stages."""

    scenario: str
    step: str
    probe: str
    """``cluster2/frontend->cluster1/myapp:80``, with the protocol and HTTP request if any."""

    def __str__(self) -> str:
        return f"{self.scenario}::{self.step}::{self.probe}"


@dataclass(frozen=True)
class CaseOutcome:
    """What a pytest run of one case at one stage would record."""

    scenario: Scenario
    index: int
    case: Case
    status: str
    """passed, failed, skipped, xfailed or error."""
    judgement: Judgement | None = None
    message: str = ""


@dataclass(frozen=True)
class StageResult:
    stage: Stage
    facts: Mapping[str, Mapping[str, ClusterFacts]]
    """Per scenario, its clusters' facts at this stage."""
    cells: Mapping[CellKey, ProbeResult]
    """The model's prediction for every probe of every step (``when:`` aside)."""
    cases: tuple[CaseOutcome, ...] = ()
    errors: tuple[str, ...] = ()
    """Steps the model could not set up at this stage (a policy the version rejects)."""
    changed: tuple[CellKey, ...] = field(default_factory=tuple)
    """Cells whose verdict differs from the start's, in scenario order."""

    @property
    def mixed(self) -> list[str]:
        """How the clusters differ, per scenario whose mesh is mixed at this stage."""
        lines = []
        for name, facts in self.facts.items():
            line = mixed_mesh_line(facts)
            if line:
                lines.append(f"{name}: {line}")
        return lines


def verdict_text(result: ProbeResult) -> str:
    """The outcome with who answered, as the baseline diff compares it."""
    served = f"({','.join(sorted(result.served_by))})" if result.served_by else ""
    return f"{result.outcome.value}{served}"


def evaluate(scenarios: Sequence[Scenario], stages: Sequence[Stage]) -> list[StageResult]:
    """Every stage's predictions and case outcomes; cells that changed since the start."""
    results = [_evaluate_stage(scenarios, stage) for stage in stages]
    if not results:
        return results
    start = results[0].cells
    return [
        StageResult(
            result.stage,
            result.facts,
            result.cells,
            result.cases,
            result.errors,
            tuple(
                key
                for key, cell in result.cells.items()
                if key in start and verdict_text(cell) != verdict_text(start[key])
            ),
        )
        for result in results
    ]


def _evaluate_stage(scenarios: Sequence[Scenario], stage: Stage) -> StageResult:
    all_facts: dict[str, dict[str, ClusterFacts]] = {}
    cells: dict[CellKey, ProbeResult] = {}
    outcomes: list[CaseOutcome] = []
    errors: list[str] = []
    for scenario in scenarios:
        clusters = scenario.model.clusters
        facts = {
            name: stage.settings.facts_of(name, index)
            for index, name in enumerate(clusters, start=1)
        }
        all_facts[scenario.name] = facts
        mesh = SimulatedMesh(facts)
        run = ScenarioRun(MeshSession(mesh, RUN_ID), scenario)
        indexed = list(enumerate(scenario.cases))
        for step in scenario.steps:
            in_step = [(index, case) for index, case in indexed if case.step is step]
            try:
                run.prepare(step)
                predictions = mesh.predict_all(run.deployment, [c.probe for _, c in in_step])
            except ClusterMeshError as exc:
                # As a pytest run has it: a case its when: skips never reaches the step.
                skips = {case.name: run.skip_reason(case) for _, case in in_step}
                if any(reason is None for reason in skips.values()):
                    errors.append(f"{scenario.name}::{step.name}: {exc}")
                outcomes += [
                    CaseOutcome(scenario, index, case, "skipped", None, reason)
                    if (reason := skips[case.name]) is not None
                    else CaseOutcome(scenario, index, case, "error", None, str(exc))
                    for index, case in in_step
                ]
                run.teardown()
                run = ScenarioRun(MeshSession(mesh, RUN_ID), scenario)
                continue
            for (_, case), prediction in zip(in_step, predictions, strict=True):
                cells.setdefault(CellKey(scenario.name, step.name, _probe_id(case)), prediction)
            runnable = [case for _, case in in_step if run.skip_reason(case) is None]
            for index, case in in_step:
                outcomes.append(_outcome(run, scenario, index, case, runnable))
        run.teardown()
    return StageResult(stage, all_facts, cells, tuple(outcomes), tuple(errors))


def _outcome(
    run: ScenarioRun, scenario: Scenario, index: int, case: Case, batch: Sequence[Case]
) -> CaseOutcome:
    """As the plugin reports the case: skipped by ``when:``, passed, failed, or a strict
    ``xfail`` that failed (xfailed) or passed (failed)."""
    skip = run.skip_reason(case)
    if skip is not None:
        return CaseOutcome(scenario, index, case, "skipped", None, skip)
    judgement = run.check(case, batch)
    if case.xfail:
        if judgement.passed:
            return CaseOutcome(
                scenario, index, case, "failed", judgement, f"[XPASS(strict)] {case.xfail}"
            )
        return CaseOutcome(scenario, index, case, "xfailed", judgement, case.xfail)
    status = "passed" if judgement.passed else "failed"
    return CaseOutcome(scenario, index, case, status, judgement, judgement.message)


def _probe_id(case: Case) -> str:
    """The case id without its ``when:`` part: one cell per probe."""
    probe = case.probe
    text = str(probe)
    if probe.http is not None:
        text += f"[{probe.http.method} {probe.http.path}]"
    return text


def check_versions(from_version: str, to_version: str) -> None:
    """Both ends must be versions; :func:`SimSettings.check` and the caller check the range."""
    for flag, text in (("--from", from_version), ("--to", to_version)):
        try:
            parse_version(text)
        except ValueError as exc:
            raise ValueError(f"{flag}: {exc}") from None


def render(results: Sequence[StageResult], *, verbose: bool = False) -> list[str]:
    """Per stage: its clusters' settings where the mesh is mixed, then each cell whose verdict
    differs from the start's, with the model's reasons at this stage."""
    lines: list[str] = []
    if not results:
        return lines
    start = results[0]
    for result in results:
        stage = result.stage
        lines.append(f"stage {stage.index} ({stage.name}): {stage.title}")
        for line in result.mixed:
            lines.append(f"  {line}")
        for error in result.errors:
            lines.append(f"  error: {error}")
        if stage.index == 0:
            lines.append(f"  {len(result.cells)} cells")
            continue
        if not result.changed:
            lines.append("  no verdict differs from the start")
            continue
        lines.append(f"  {len(result.changed)} cells differ from the start:")
        for key in result.changed:
            before, after = start.cells[key], result.cells[key]
            lines.append(f"  {key}: {verdict_text(before)} -> {verdict_text(after)}")
            lines += [f"      - {reason}" for reason in after.explanation]
            if verbose:
                lines += [f"      (start) {reason}" for reason in before.explanation]
    return lines
