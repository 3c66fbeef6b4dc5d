"""Steps are states: the runner reconciles to each step's policies, whatever happened before.

A backend that fails half-way through applying a step must see the step applied again when it
is entered next; judgements probed ahead with a step's batch must not outlive the policy state
they were probed in (docs/design.md, "Steps are states").
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from pytest_clustermesh.backend import Deployment, PolicyDoc, Probe
from pytest_clustermesh.errors import BackendError
from pytest_clustermesh.runner import MeshSession, ScenarioRun
from pytest_clustermesh.scenario import Case, Scenario, expand_scenario
from pytest_clustermesh.simulated import SimulatedMesh, simulated_facts
from pytest_clustermesh.verdicts import Outcome, ProbeResult

DENY_ALL = {
    "inline": {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": {"name": "deny-all"},
        "spec": {"endpointSelector": {"matchLabels": {"app": "server"}}, "ingress": [{}]},
    }
}
ALLOW_ALL = {
    "inline": {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": {"name": "allow-all"},
        "spec": {
            "endpointSelector": {"matchLabels": {"app": "server"}},
            "ingress": [{"fromEntities": ["all"]}],
        },
    }
}


def scenario(tmp_path: Path) -> Scenario:
    data: dict[str, Any] = {
        "clusters": ["cluster1", "cluster2"],
        "workloads": {
            "client": {"role": "client", "labels": {"app": "client"}},
            "other": {"role": "client", "labels": {"app": "other"}},
            "server": {"role": "server", "labels": {"app": "server"}, "port": 80},
        },
        "policies": {"deny-all": DENY_ALL, "allow-all": ALLOW_ALL},
        "steps": [
            {
                "name": "closed",
                "policies": {"*": ["deny-all"]},
                "expect": [
                    {"from": "cluster1/client", "to": "cluster1/server", "verdict": "deny"},
                    {"from": "cluster1/other", "to": "cluster1/server", "verdict": "deny"},
                ],
            },
            {
                "name": "open",
                "policies": {"*": ["allow-all"]},
                "expect": [
                    {"from": "cluster1/client", "to": "cluster1/server", "verdict": "allow"}
                ],
            },
        ],
    }
    return expand_scenario(data, tmp_path / "reconcile.scenario.yaml")


class RecordingMesh(SimulatedMesh):
    """The simulated mesh, recording calls; ``fail_once`` makes one cluster's next apply fail
    after the others of the step went through."""

    def __init__(self) -> None:
        super().__init__(simulated_facts(["cluster1", "cluster2"], "1.19"))
        self.applied: list[tuple[str, tuple[str, ...]]] = []
        self.probed: list[str] = []
        self.fail_once: str | None = None

    def set_policies(
        self, deployment: Deployment, cluster: str, policies: Sequence[PolicyDoc]
    ) -> None:
        if cluster == self.fail_once:
            self.fail_once = None
            raise BackendError("the API server went away", cluster)
        self.applied.append((cluster, tuple(doc.name for doc in policies)))
        super().set_policies(deployment, cluster, policies)

    def probe(self, deployment: Deployment, probes: Sequence[Probe]) -> list[ProbeResult]:
        self.probed += [str(probe) for probe in probes]
        return super().probe(deployment, probes)


def cases_of(scenario: Scenario, step: str) -> list[Case]:
    return [case for case in scenario.cases if case.step.name == step]


def test_an_apply_that_failed_half_way_is_applied_again_on_entering_the_step(
    tmp_path: Path,
) -> None:
    backend = RecordingMesh()
    plan = scenario(tmp_path)
    run = ScenarioRun(MeshSession(backend, "r1"), plan)
    closed = plan.steps[0]
    backend.fail_once = "cluster2"
    with pytest.raises(BackendError, match="went away"):
        run.prepare(closed)
    assert backend.applied == [("cluster1", ("deny-all",))]
    run.prepare(closed)
    # cluster1 is already in the step's state; cluster2, whose apply failed, is applied now.
    assert backend.applied == [("cluster1", ("deny-all",)), ("cluster2", ("deny-all",))]
    run.prepare(closed)  # nothing changed: nothing is applied
    assert len(backend.applied) == 2


def test_a_cluster_whose_apply_failed_is_not_trusted_to_hold_its_old_state(
    tmp_path: Path,
) -> None:
    """After a failed change its state is unknown, so going back to the old step re-applies."""
    backend = RecordingMesh()
    plan = scenario(tmp_path)
    run = ScenarioRun(MeshSession(backend, "r1"), plan)
    closed, opened = plan.steps
    run.prepare(closed)
    backend.fail_once = "cluster2"
    with pytest.raises(BackendError):
        run.prepare(opened)
    backend.applied.clear()
    run.prepare(closed)
    assert backend.applied == [("cluster1", ("deny-all",)), ("cluster2", ("deny-all",))]


def test_judgements_probed_ahead_are_dropped_when_the_policies_change(tmp_path: Path) -> None:
    backend = RecordingMesh()
    plan = scenario(tmp_path)
    run = ScenarioRun(MeshSession(backend, "r1"), plan)
    first, second = cases_of(plan, "closed")
    (opened,) = cases_of(plan, "open")

    assert run.check(first, [first, second]).passed
    assert backend.probed == [str(first.probe), str(second.probe)]  # one batch, ahead of time

    assert run.check(opened).passed  # another state: the step's batch is stale now
    backend.probed.clear()
    judgement = run.check(second, [first, second])
    assert str(second.probe) in backend.probed, "probed again, not taken from the old state"
    assert judgement.result.outcome is Outcome.DROPPED
    assert judgement.passed


def test_a_judgement_probed_ahead_is_used_while_the_state_holds(tmp_path: Path) -> None:
    backend = RecordingMesh()
    plan = scenario(tmp_path)
    run = ScenarioRun(MeshSession(backend, "r1"), plan)
    first, second = cases_of(plan, "closed")
    run.check(first, [first, second])
    backend.probed.clear()
    assert run.check(second, [first, second]).passed
    assert backend.probed == []
