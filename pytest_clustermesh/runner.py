"""Running scenarios on a backend: binding clusters, reconciling steps, judging probes.

Pytest-free, so the same code serves scenario items, hand-written tests and other front ends.
Every step is a declarative state: before a case runs, the policies in force are made exactly
the step's, so one item alone (``-k``, ``--lf``) gets the same verdict as the full run.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from .backend import MeshBackend, PodTarget, PolicyDoc, Probe
from .errors import BackendError, ScenarioError, UsageError
from .facts import ClusterFacts
from .scenario import (
    Case,
    Scenario,
    Step,
    TemplateError,
    build_deployment,
    render_policies,
    template_context,
)
from .simulated import SimulatedMesh
from .verdicts import Outcome, ProbeResult, Verdict, unproven_drop

log = logging.getLogger(__name__)

#: Logical cluster names of a scenario -> the backend's cluster names.
Binder = Callable[[Sequence[str]], dict[str, str]]


def identity_binder(clusters: Sequence[str]) -> dict[str, str]:
    return {c: c for c in clusters}


class TooFewClusters(UsageError):
    """The mesh has fewer clusters than a scenario names: its items are skipped with this
    reason, not failed (a three-cluster scenario on a two-cluster mesh)."""


def context_binder(contexts: Sequence[str], named: Mapping[str, str]) -> Binder:
    """``--kube-contexts``: by name where given (``cluster1=kind-a``), else in order.

    Fewer contexts than the scenario's clusters raise :class:`TooFewClusters`."""

    def bind(clusters: Sequence[str]) -> dict[str, str]:
        if named:
            missing = [c for c in clusters if c not in named]
            if missing:
                error = TooFewClusters if len(named) < len(clusters) else UsageError
                raise error(
                    f"--kube-contexts binds {', '.join(named)}; the scenario also needs "
                    f"{', '.join(missing)}"
                )
            return {c: named[c] for c in clusters}
        if len(clusters) > len(contexts):
            raise TooFewClusters(
                f"the scenario names {len(clusters)} clusters ({', '.join(clusters)}) but "
                f"--kube-contexts gives {len(contexts)}"
            )
        return dict(zip(clusters, contexts, strict=False))

    return bind


@dataclass
class Judgement:
    """Everything known about one case after it ran."""

    case: Case
    expected: Verdict
    """The case's verdict, or for a matrix cell the one the model predicted."""
    result: ProbeResult
    """Observed, served_by in logical cluster names."""
    prediction: ProbeResult | None
    """The model's answer (the oracle), when the backend is not the model itself."""
    passed: bool
    message: str
    facts: Mapping[str, ClusterFacts] = field(default_factory=dict)

    @property
    def unjudged(self) -> bool:
        """The case could not be judged: its probe did not run, or the model could not
        predict a matrix cell, or its drop is not shown to be Cilium's policy. Never a
        verdict, and never a known gap either."""
        if self.result.outcome.is_error:
            return True
        return self.expected.accepts(self.result.outcome) and unproven_drop(self.result) is not None

    @property
    def evidence_note(self) -> str | None:
        """Where the policies Cilium names for a drop and the model's decision disagree."""
        return evidence_note(self.result, self.prediction)


class MeshSession:
    """One backend for a whole test session, with an oracle beside real backends."""

    def __init__(self, backend: MeshBackend, run_id: str, binder: Binder = identity_binder):
        self.backend = backend
        self.run_id = run_id
        self.binder = binder
        self._oracle: SimulatedMesh | None = None
        self._runs: dict[str, ScenarioRun] = {}

    @property
    def oracle(self) -> SimulatedMesh:
        """The model, fed the facts read from the backend, mirroring its deployments."""
        if isinstance(self.backend, SimulatedMesh):
            return self.backend
        if self._oracle is None:
            self._oracle = SimulatedMesh(self.backend.facts(), advisory=True)
        return self._oracle

    def run_for(self, scenario: Scenario) -> ScenarioRun:
        run = self._runs.get(str(scenario.path))
        if run is None:
            run = self._runs[str(scenario.path)] = ScenarioRun(self, scenario)
        return run

    def finish(self, scenario: Scenario) -> None:
        """Tear down one scenario's deployment (its last item ran)."""
        run = self._runs.pop(str(scenario.path), None)
        if run is not None:
            run.teardown()

    def close(self) -> None:
        errors = []
        for run in list(self._runs.values()):
            try:
                run.teardown()
            except BackendError as exc:
                errors.append(str(exc))
        self._runs.clear()
        self.backend.close()
        if errors:
            raise BackendError("cleanup failed: " + "; ".join(errors))


class ScenarioRun:
    """One scenario deployed on the session's backend."""

    def __init__(self, session: MeshSession, scenario: Scenario) -> None:
        self.session = session
        self.scenario = scenario
        self.binding = session.binder(scenario.model.clusters)
        self.logical = {real: logical for logical, real in self.binding.items()}
        self.deployment = build_deployment(scenario, session.run_id, self.binding)
        self._deployed = False
        self._in_force: dict[str, tuple[str, ...]] = {}
        self._pending: dict[str, Judgement] = {}
        """Judgements of cases probed ahead with their step's batch, valid in the current state."""

    @property
    def backend(self) -> MeshBackend:
        return self.session.backend

    def facts(self) -> dict[str, ClusterFacts]:
        """Facts of this scenario's clusters, keyed by logical name."""
        facts = self.backend.facts()
        return {logical: facts[real] for logical, real in self.binding.items()}

    def skip_reason(self, case: Case) -> str | None:
        if case.when is None:
            return None
        unmet = case.when.unmet(self.facts())
        return f"when: {case.when.text} does not hold ({'; '.join(unmet)})" if unmet else None

    def prepare(self, step: Step) -> None:
        """Deploy if needed, then make the step's policies exactly those in force."""
        if not self._deployed:
            self._pending.clear()
            self.backend.deploy(self.deployment)
            if self.session.oracle is not self.backend:
                self.session.oracle.deploy(self.deployment)
            self._deployed = True
        for logical, refs in step.policies.items():
            if self._in_force.get(logical) == refs:
                continue
            self._pending.clear()  # probed under another state
            docs = self.policies(logical, refs)
            real = self.binding[logical]
            self._in_force.pop(logical, None)  # unknown if the backend fails half-way
            self.backend.set_policies(self.deployment, real, docs)
            if self.session.oracle is not self.backend:
                self.session.oracle.set_policies(self.deployment, real, docs)
            self._in_force[logical] = refs
            log.info("%s: %s now has %s", self.scenario.name, logical, ", ".join(refs) or "none")

    def policies(self, logical: str, refs: Sequence[str]) -> list[PolicyDoc]:
        ctx = template_context(self.deployment, self.backend.facts(), self.binding)
        docs: list[PolicyDoc] = []
        for ref in refs:
            try:
                docs += render_policies(self.scenario.policies[ref], self.deployment, ctx)
            except (TemplateError, ValueError) as exc:
                raise ScenarioError(f"policy {ref} for {logical}: {exc}") from exc
        return docs

    def bind_probe(self, probe: Probe) -> Probe:
        target = probe.target
        if isinstance(target, PodTarget):
            target = PodTarget(self.binding[target.cluster], target.workload)
        return dataclasses.replace(
            probe, source_cluster=self.binding[probe.source_cluster], target=target
        )

    def to_logical(self, result: ProbeResult) -> ProbeResult:
        served = frozenset(self.logical.get(c, c) for c in result.served_by)
        return dataclasses.replace(result, served_by=served)

    def check(self, case: Case, batch: Sequence[Case] = ()) -> Judgement:
        """Reconcile to the case's step, probe, and judge against the expectation.

        ``batch`` is the other cases of the step that will run next (the selected items). They
        are probed together with this one, concurrently where the backend can, so a step costs
        its slowest probe rather than the sum; their judgements wait until their items ask.
        """
        self.prepare(case.step)
        judgement = self._pending.pop(case.name, None)
        if judgement is None:
            todo = [case] + [
                other
                for other in batch
                if other.step is case.step
                and other.name != case.name
                and other.name not in self._pending
                and self.skip_reason(other) is None
            ]
            judgements = self._probe_all(todo)
            judgement = judgements.pop(case.name)
            self._pending.update(judgements)
        return judgement

    def _probe_all(self, cases: Sequence[Case]) -> dict[str, Judgement]:
        """Probe ``cases`` in one call to the backend and judge each.

        A matrix cell expects what the model predicts; when the model cannot predict (the
        outcome depends on the load balancer, say), that is the cell's failure, unprobed.
        """
        oracle = self.session.oracle
        own = oracle is not self.backend
        facts = self.facts()
        probes = [self.bind_probe(case.probe) for case in cases]
        # One call for the whole batch: the model decides each identity pair once. When the
        # model is the backend, that call is the probe itself: what it predicts it observes.
        if own:
            predictions = oracle.predict_all(self.deployment, probes)
        else:
            predictions = self.backend.probe(self.deployment, probes)
        judgements: dict[str, Judgement] = {}
        to_probe: list[tuple[Case, Verdict, ProbeResult, Probe]] = []
        for case, probe, raw_prediction in zip(cases, probes, predictions, strict=True):
            prediction = self.to_logical(raw_prediction)
            expected = case.verdict
            if expected is None:
                if prediction.outcome.is_error:
                    # A name that does not resolve (its lookup is denied) is no verdict on the
                    # destination's policy: the cell cannot test it (cilium-semantics.md s17).
                    why = (
                        "the probe cannot test the policy"
                        if prediction.outcome is Outcome.DNS_FAILURE
                        else "the model cannot predict it"
                    )
                    message = f"{case.probe} in step {case.step.name}: {why}: {prediction.detail}"
                    judgements[case.name] = Judgement(
                        case, Verdict.ALLOW, prediction, prediction, False, message, facts
                    )
                    continue
                expected = Verdict.of(prediction.outcome)
            to_probe.append(
                (case, expected, prediction, dataclasses.replace(probe, expect=expected))
            )
        if own:
            observed_all = [
                self.to_logical(raw)
                for raw in self.backend.probe(self.deployment, [item[3] for item in to_probe])
            ]
        else:
            observed_all = [item[2] for item in to_probe]
        for (case, expected, prediction, _), observed in zip(to_probe, observed_all, strict=True):
            passed, problem = judge(expected, case.served_by, observed)
            model = prediction if own else None
            message = "" if passed else describe_failure(case, expected, observed, model, problem)
            judgements[case.name] = Judgement(
                case, expected, observed, model, passed, message, facts
            )
        return judgements

    def teardown(self) -> None:
        if self._deployed:
            self._deployed = False
            self._in_force.clear()
            self._pending.clear()
            if self.session.oracle is not self.backend:
                self.session.oracle.teardown(self.deployment)
            self.backend.teardown(self.deployment)


def judge(
    expected: Verdict, served_by: frozenset[str] | None, observed: ProbeResult
) -> tuple[bool, str]:
    """Whether ``observed`` satisfies the expectation, and if not, in one phrase why."""
    if observed.outcome.is_error:
        return False, f"the probe could not run ({observed.outcome.value}), which proves nothing"
    if not expected.accepts(observed.outcome):
        return False, f"expected {expected.value}, observed {observed.outcome.value}"
    unproven = unproven_drop(observed)
    if unproven is not None:
        return False, unproven
    if served_by is not None and not (observed.served_by and observed.served_by <= served_by):
        got = ", ".join(sorted(observed.served_by)) or "nobody"
        want = " or ".join(sorted(served_by))
        return False, f"expected an answer from {want}, answered by {got}"
    return True, ""


def describe_failure(
    case: Case,
    expected: Verdict,
    observed: ProbeResult,
    prediction: ProbeResult | None,
    problem: str,
) -> str:
    probe = case.probe
    source = " (the model's prediction)" if case.verdict is None else ""
    lines = [
        f"{probe} in step {case.step.name}: {problem}",
        f"  expected: {expected.value}{source}"
        + (f", served by {' or '.join(sorted(case.served_by))}" if case.served_by else ""),
        f"  observed: {_result_text(observed)}",
    ]
    if observed.detail:
        lines.append(f"  detail:   {observed.detail}")
    if observed.evidence is not None:
        lines.append(f"  evidence: {observed.evidence}")
    note = evidence_note(observed, prediction)
    if note:
        lines.append(f"  {note}")
    model = prediction or observed
    if prediction is not None:
        lines.append(f"  model:    {_result_text(prediction)}")
        if prediction.outcome is not observed.outcome and not observed.outcome.is_error:
            lines.append("  the mesh and the model disagree: either Cilium or the model is wrong")
    if model.explanation:
        lines.append("  why the model decided so:")
        lines += [f"    - {reason}" for reason in model.explanation]
    if observed.command:
        lines.append(f"  repeat:   {observed.command}")
    return "\n".join(lines)


def evidence_note(observed: ProbeResult, prediction: ProbeResult | None) -> str | None:
    """A note when Hubble names policies for a drop that the model's decision does not name."""
    evidence = observed.evidence
    if evidence is None or not evidence.policies or prediction is None:
        return None
    decided = " ".join(prediction.explanation)
    unnamed = [p for p in evidence.policies if p.split(" ", 1)[-1] not in decided]
    if not unnamed:
        return None
    return (
        f"Hubble names {', '.join(unnamed)} as denying it, which the model's decision does not "
        "name: Cilium and the model disagree on which policy decided"
    )


def _result_text(result: ProbeResult) -> str:
    text = result.outcome.value
    if result.served_by:
        text += f" (served by {', '.join(sorted(result.served_by))}"
        text += f", pod {result.served_pod})" if result.served_pod else ")"
    if result.attempts > 1:
        text += f" after {result.attempts} attempts"
    return text


__all__ = [
    "Binder",
    "Judgement",
    "MeshSession",
    "ScenarioRun",
    "TooFewClusters",
    "context_binder",
    "describe_failure",
    "evidence_note",
    "identity_binder",
    "judge",
]
