"""ClusterNetworkPolicy tiers (scenarios/tiers) run on the simulated mesh as a user runs them
(docs/cilium-semantics.md s18)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .conftest import REPO

SIMULATED = "--mesh-backend=simulated"
FILE = "scenarios/tiers/tiers.scenario.yaml"


@pytest.fixture
def tiers(pytester: pytest.Pytester) -> Path:
    target = pytester.path / "scenarios" / "tiers"
    shutil.copytree(REPO / "scenarios" / "tiers", target)
    return target


def test_the_tiers_scenario_passes(pytester: pytest.Pytester, tiers: Path) -> None:
    pytester.runpytest(FILE, SIMULATED).assert_outcomes(passed=25)


def test_a_wrong_expectation_names_the_deciding_tier(
    pytester: pytest.Pytester, tiers: Path
) -> None:
    scenario = tiers / "tiers.scenario.yaml"
    right = "      - {from: cluster2/test, to: cluster1/myapp, verdict: allow}\n"
    text = scenario.read_text()
    assert text.count(right) == 1
    scenario.write_text(text.replace(right, right.replace("allow", "deny")))
    result = pytester.runpytest(FILE, SIMULATED)
    result.assert_outcomes(failed=1, passed=24)
    result.stdout.fnmatch_lines(
        [
            "*cluster2/test->cluster1/myapp:80 in step admin-deny-test: expected deny, "
            "observed allowed",
            "*ingress at cluster1: Admin Deny rule KCNP deny-test-* ingress?0? (no-test-pods), "
            "Admin tier, priority 10, Deny does not apply: pods *: scoped to the local cluster "
            "cluster1 (policy-default-local-cluster is on in Cilium 1.20, its default; the "
            "peer is in cluster2)",
        ]
    )


def test_a_cluster_that_does_not_enforce_it_ignores_the_policy(
    pytester: pytest.Pytester, tiers: Path
) -> None:
    # Without the facts block the run's own settings apply: Cilium 1.19 does not enforce
    # ClusterNetworkPolicy (cilium#47227), so the Admin Deny drops nothing.
    scenario = tiers / "tiers.scenario.yaml"
    text = scenario.read_text()
    start, end = text.index("facts:\n"), text.index("workloads:\n")
    scenario.write_text(text[:start] + text[end:])
    result = pytester.runpytest(f"{FILE}::admin-deny-test", SIMULATED, "--sim-cilium-version=1.19")
    result.assert_outcomes(failed=2, passed=6)
    result.stdout.fnmatch_lines(
        ["*cluster1/test->cluster1/myapp:80*expected deny, observed allowed"]
    )
    enforced = pytester.runpytest(
        f"{FILE}::admin-deny-test",
        SIMULATED,
        "--sim-cilium-version=1.20",
        "--sim-option=enable-k8s-cluster-network-policy=true",
    )
    enforced.assert_outcomes(passed=8)
