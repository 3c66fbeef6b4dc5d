"""Scenario semantics that nothing else pinned: what a bare version means in ``when:``, which
cluster a failing ``when:`` names, duplicate expectations, and ``*`` beside a named cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_clustermesh.errors import ScenarioError
from pytest_clustermesh.runner import MeshSession, ScenarioRun
from pytest_clustermesh.scenario import Scenario, expand_scenario
from pytest_clustermesh.simulated import SimulatedMesh, simulated_facts

from .test_reconcile import ALLOW_ALL, DENY_ALL


def scenario(tmp_path: Path, step: dict[str, Any]) -> Scenario:
    data: dict[str, Any] = {
        "clusters": ["cluster1", "cluster2"],
        "workloads": {
            "client": {"role": "client", "labels": {"app": "client"}},
            "server": {"role": "server", "labels": {"app": "server"}, "port": 80},
        },
        "policies": {"allow-all": ALLOW_ALL, "deny-all": DENY_ALL},
        "steps": [{"name": "only", **step}],
    }
    return expand_scenario(data, tmp_path / "pins.scenario.yaml")


def skip_reason(plan: Scenario, versions: dict[str, str]) -> str | None:
    facts = {
        name: next(iter(simulated_facts([name], version).values()))
        for name, version in versions.items()
    }
    for index, (name, fact) in enumerate(facts.items(), start=1):
        facts[name] = type(fact)(name, name, index, fact.cilium_version, fact.options)
    run = ScenarioRun(MeshSession(SimulatedMesh(facts), "pins"), plan)
    (case,) = plan.cases
    return run.skip_reason(case)


WHEN_118 = {
    "expect": [
        {
            "from": "cluster1/client",
            "to": "cluster1/server",
            "verdict": "allow",
            "when": {"cilium": "1.18"},
        }
    ]
}


@pytest.mark.parametrize(
    ("versions", "holds"),
    [
        ({"cluster1": "1.18.0", "cluster2": "1.18.4"}, True),
        ({"cluster1": "1.19.0", "cluster2": "1.19.0"}, False),  # not ">= 1.18"
        ({"cluster1": "1.17.3", "cluster2": "1.17.3"}, False),
    ],
)
def test_a_bare_version_in_when_means_that_minor_release(
    tmp_path: Path, versions: dict[str, str], holds: bool
) -> None:
    assert (skip_reason(scenario(tmp_path, WHEN_118), versions) is None) is holds


def test_a_when_that_fails_names_the_cluster_that_fails_it(tmp_path: Path) -> None:
    reason = skip_reason(scenario(tmp_path, WHEN_118), {"cluster1": "1.18.2", "cluster2": "1.19.1"})
    assert reason is not None
    assert "cluster2" in reason
    assert "cluster1" not in reason.split("does not hold", 1)[1]


def test_two_expectations_of_one_probe_are_an_error_even_with_the_same_verdict(
    tmp_path: Path,
) -> None:
    same = {"from": "cluster1/client", "to": "cluster1/server", "verdict": "allow"}
    with pytest.raises(ScenarioError, match="two expectations for only::cluster1/client"):
        scenario(tmp_path, {"expect": [same, dict(same)]})


def test_star_beside_a_named_cluster_adds_policies_rather_than_replacing_them(
    tmp_path: Path,
) -> None:
    plan = scenario(
        tmp_path,
        {
            "policies": {"*": ["allow-all"], "cluster1": ["deny-all"]},
            "expect": [{"from": "cluster1/client", "to": "cluster1/server", "verdict": "deny"}],
        },
    )
    (step,) = plan.steps
    assert step.policies == {"cluster1": ("allow-all", "deny-all"), "cluster2": ("allow-all",)}
