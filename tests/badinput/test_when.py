"""``when:`` conditions are checked against the versions and options the plugin models, and a run
whose every item was skipped by ``when:`` says so (and fails on request)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from .cases import GOOD, POLICY, POLICY_FILE, SCENARIO, SIMULATED, Case, scenario, when

CASES = [
    when(
        "version-read-as-a-float",
        "cilium: 1.20",
        "*bad.scenario.yaml:13: when: cilium: a version must be a string, but YAML read 1.20 as "
        'the number 1.2; quote it: cilium: "1.20"',
    ),
    when(
        "version-read-as-an-int",
        "cilium: 2",
        "*bad.scenario.yaml:13: when: cilium: a version must be a string, but YAML read 2 as "
        "the number 2*",
    ),
    when(
        "version-a-boolean",
        "cilium: yes",
        "*bad.scenario.yaml:13: when: cilium: a version must be a string such as '1.19'*",
    ),
    when(
        "version-below-the-model",
        "cilium: '1.15'",
        "*bad.scenario.yaml:13: when: cilium: no modelled Cilium version (1.16 to 1.20) is in "
        "the range '1.15'",
    ),
    when(
        "version-above-the-model",
        "cilium: '>=1.21'",
        "*bad.scenario.yaml:13: when: cilium: no modelled Cilium version (1.16 to 1.20) is in "
        "the range '>=1.21'",
    ),
    when(
        "empty-version-range",
        "cilium: '>=1.19,<1.18'",
        "*bad.scenario.yaml:13: when: cilium: no modelled Cilium version*'>=1.19,<1.18'",
    ),
    when(
        "not-a-version-range",
        "cilium: '>>1.19'",
        "*bad.scenario.yaml:13: when: cilium: not a version range: '>>1.19' "
        "(try '>=1.19' or '1.18')",
    ),
    when(
        "option-value-misspelled",
        "policy-default-local-cluster: ture",
        "*bad.scenario.yaml:13: when: policy-default-local-cluster takes true or false, "
        "not 'ture' (did you mean 'true'?)",
    ),
    when(
        "option-value-a-number",
        "policy-audit-mode: 1",
        "*bad.scenario.yaml:13: when: policy-audit-mode takes true or false, not 1",
    ),
    when(
        "enforcement-mode-misspelled",
        "enable-policy: alway",
        "*bad.scenario.yaml:13: when: enable-policy takes default, always or never, not 'alway' "
        "(did you mean 'always'?)",
    ),
    when(
        "unknown-fact",
        "policy-default-local-clustr: true",
        "*bad.scenario.yaml:13: when: unknown fact 'policy-default-local-clustr' (did you mean "
        "'policy-default-local-cluster'? known: cilium, *)",
    ),
    when(
        "option-that-the-version-lacks",
        "cilium: '<1.18', policy-default-local-cluster: true",
        "*bad.scenario.yaml:13: when: can never hold: policy-default-local-cluster=true is "
        "possible on Cilium 1.18, 1.19, 1.20 only, and cilium: '<1.18' excludes them",
    ),
    scenario(
        "when-not-a-mapping",
        "verdict: allow}",
        "verdict: allow, when: 'cilium >= 1.19'}",
        "*bad.scenario.yaml:13: steps.0.expect.0.when: expected a mapping, got the string*",
    ),
    when(
        "version-a-list",
        "cilium: [1.19]",
        "*bad.scenario.yaml:13: steps.0.expect.0.when.cilium: expected a string, true or false, "
        "a number or a mapping, got a list",
    ),
    # Facts of one cluster: by name, or by role (the probe's source or destination).
    when(
        "unknown-cluster",
        "cluster3: {cilium: '1.19'}",
        "*bad.scenario.yaml:13: when: unknown fact 'cluster3' (did you mean 'cluster2'? known: "
        "cilium, policy-default-local-cluster, enable-policy, policy-audit-mode, "
        "enable-k8s-cluster-network-policy; or, holding such facts, a cluster (cluster1, "
        "cluster2), source or destination)",
    ),
    when(
        "cluster-facts-not-a-mapping",
        "destination: true",
        "*bad.scenario.yaml:13: when: destination: expected a mapping of facts of that cluster, "
        "such as destination: {cilium: '>=1.19'}",
    ),
    when(
        "cluster-version-read-as-a-float",
        "cluster2: {cilium: 1.20}",
        "*bad.scenario.yaml:13: when: cluster2: cilium: a version must be a string, but YAML "
        'read 1.20 as the number 1.2; quote it: cilium: "1.20"',
    ),
    when(
        "role-option-that-the-version-lacks",
        "cilium: '<1.18', source: {policy-default-local-cluster: true}",
        "*bad.scenario.yaml:13: when: source: can never hold: policy-default-local-cluster=true "
        "is possible on Cilium 1.18, 1.19, 1.20 only, and cilium: '<1.18' excludes them",
    ),
    when(
        "cluster-contradicts-mesh",
        "policy-audit-mode: true, cluster1: {policy-audit-mode: false}",
        "*bad.scenario.yaml:13: when: cluster1: can never hold: policy-audit-mode=true in every "
        "cluster and policy-audit-mode=false in cluster1",
    ),
    scenario(
        "pinned-facts-of-an-unknown-cluster",
        "clusters: [cluster1, cluster2]\n",
        "clusters: [cluster1, cluster2]\nfacts:\n  cluster3: {cilium: '1.18'}\n",
        "*bad.scenario.yaml:3: facts: no cluster 'cluster3' in the scenario (did you mean "
        "'cluster2'? clusters: cluster1, cluster2)",
    ),
    scenario(
        "pinned-version-a-range",
        "clusters: [cluster1, cluster2]\n",
        "clusters: [cluster1, cluster2]\nfacts:\n  cluster2: {cilium: '>=1.18'}\n",
        "*bad.scenario.yaml:3: facts: cilium: one version such as '1.18', not the range '>=1.18'",
    ),
    scenario(
        "destination-of-a-service",
        "verdict: allow}",
        "verdict: allow}\n      - {from: cluster1/frontend, to: service/myapp-service, "
        "verdict: allow, when: {destination: {cilium: '1.19'}}}",
        "*bad.scenario.yaml:14: when: destination: service/myapp-service is a Service, and which "
        "cluster serves it is not fixed; name the cluster (cluster1: {...}) or probe "
        "cluster/workload",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_a_when_that_cannot_hold_is_an_error(
    run_case: Callable[[Case], pytest.RunResult], case: Case
) -> None:
    run_case(case)


def _all_skipped(*args: str, ini: str = "", exit: int = pytest.ExitCode.OK) -> Case:
    """Every item holds only on 1.18, and the simulated mesh runs 1.19."""
    message = "*when: cilium=1.18 does not hold (cluster1 runs Cilium 1.19*"
    return Case(
        "all-skipped",
        (
            "*= clustermesh: nothing was checked =*",
            f"*the only item that ran was skipped {message}",
        ),
        {
            SCENARIO: GOOD.replace("verdict: allow}", "verdict: allow, when: {cilium: '1.18'}}"),
            POLICY_FILE: POLICY,
        },
        args=(*SIMULATED, *args),
        ini=ini,
        exit=exit,
    )


def test_a_run_whose_every_item_was_skipped_by_when_says_so(
    run_case: Callable[[Case], pytest.RunResult],
) -> None:
    result = run_case(_all_skipped())
    result.stdout.fnmatch_lines(["*pass --clustermesh-fail-on-all-skipped*", "*1 skipped*"])


def test_the_option_fails_a_run_that_checked_nothing(
    run_case: Callable[[Case], pytest.RunResult],
) -> None:
    case = _all_skipped("--clustermesh-fail-on-all-skipped", exit=pytest.ExitCode.TESTS_FAILED)
    run_case(case).stdout.fnmatch_lines(["*the run fails (--clustermesh-fail-on-all-skipped)*"])


def test_the_ini_twin_fails_it_too(run_case: Callable[[Case], pytest.RunResult]) -> None:
    case = _all_skipped(
        ini="clustermesh_fail_on_all_skipped = true", exit=pytest.ExitCode.TESTS_FAILED
    )
    run_case(case)


def test_a_run_that_checked_something_is_not_flagged(pytester: pytest.Pytester) -> None:
    scenario = GOOD.replace(
        "verdict: allow}\n",
        "verdict: allow, when: {cilium: '1.18'}}\n"
        "      - {from: cluster1/frontend, to: cluster2/myapp, verdict: allow}\n",
    )
    pytester.makefile(".scenario.yaml", ok=scenario)
    pytester.makefile(".yaml", policy=POLICY)
    result = pytester.runpytest(*SIMULATED, "--clustermesh-fail-on-all-skipped")
    result.assert_outcomes(passed=1, skipped=1)
    assert "nothing was checked" not in result.stdout.str()


def test_under_xdist_the_controller_counts_the_workers_skips(pytester: pytest.Pytester) -> None:
    pytester.makefile(".scenario.yaml", ok=str(_all_skipped().files[SCENARIO]))
    pytester.makefile(".yaml", policy=POLICY)
    result = pytester.runpytest_subprocess(
        *SIMULATED,
        *("-n", "1", "-p", "no:hypothesispytest", "-p", "no:cacheprovider"),
        "--clustermesh-fail-on-all-skipped",
        timeout=120,
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*clustermesh: nothing was checked*"])
