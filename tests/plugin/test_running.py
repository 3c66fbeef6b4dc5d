"""Running scenarios on the simulated mesh, as a user does."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

SIMULATED = "--mesh-backend=simulated"

TWO_CLUSTERS = """\
clusters: [cluster1, cluster2]
workloads:
  frontend: {role: client, labels: {app: frontend}}
  myapp:
    role: server
    labels: {app: myapp}
    port: 80
    service: {name: myapp-service, annotations: {service.cilium.io/global: "true"}}
"""

DENY_ALL = """\
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: deny-all}
spec:
  endpointSelector: {matchLabels: {app: myapp}}
  ingress: [{}]
"""


@pytest.mark.parametrize(
    ("version", "skipped_condition"),
    [
        ("1.17", "policy-default-local-cluster=true"),
        ("1.18", "policy-default-local-cluster=true"),
        ("1.19", "policy-default-local-cluster=false"),
        ("1.20", "policy-default-local-cluster=false"),
    ],
)
def test_the_guide_passes_with_each_versions_verdicts(
    pytester: pytest.Pytester, guide: Path, version: str, skipped_condition: str
) -> None:
    """Cilium 1.19 turned policy-default-local-cluster on: the guide's cross-cluster
    fromEndpoints match holds up to 1.18 only (docs/cilium-semantics.md s2)."""
    result = pytester.runpytest("scenarios", SIMULATED, f"--sim-cilium-version={version}", "-rs")
    result.assert_outcomes(passed=47, skipped=3)
    skips = [line for line in result.stdout.lines if line.startswith("SKIPPED")]
    assert len(skips) == 3
    assert all(f"when: {skipped_condition} does not hold" in line for line in skips)
    assert all("guide.scenario.yaml:" in line for line in skips)


def test_the_option_can_be_set_against_the_versions_default(
    pytester: pytest.Pytester, guide: Path
) -> None:
    result = pytester.runpytest(
        "scenarios",
        SIMULATED,
        "--sim-cilium-version=1.19",
        "--sim-option=policy-default-local-cluster=false",
        "-rs",
    )
    result.assert_outcomes(passed=47, skipped=3)
    result.stdout.fnmatch_lines(["*when: policy-default-local-cluster=true does not hold*"])


def test_the_ini_file_can_choose_the_simulated_mesh(pytester: pytest.Pytester, guide: Path) -> None:
    pytester.makeini(
        "[pytest]\nclustermesh_backend = simulated\nclustermesh_sim_cilium_version = 1.18\n"
        "clustermesh_sim_options =\n    policy-default-local-cluster=true\n"
    )
    result = pytester.runpytest("scenarios", "-rs")
    result.assert_outcomes(passed=47, skipped=3)
    result.stdout.fnmatch_lines(["*when: policy-default-local-cluster=false does not hold*"])


def test_one_item_alone_gets_its_steps_policies(pytester: pytest.Pytester, guide: Path) -> None:
    """A deny item selected alone passes only if its step's policy was applied first."""
    item = (
        "scenarios/guide/guide.scenario.yaml::policy-on-cluster1::cluster1/test->cluster1/myapp:80"
    )
    pytester.runpytest(item, SIMULATED).assert_outcomes(passed=1)
    result = pytester.runpytest("scenarios", SIMULATED, "-k", "cluster1/test and myapp:80")
    result.assert_outcomes(passed=8)


def test_items_run_in_any_order_of_steps(pytester: pytest.Pytester, guide: Path) -> None:
    """Steps are declarative: running a later step, then an earlier one, removes the policy."""
    base = "scenarios/guide/guide.scenario.yaml"
    result = pytester.runpytest(
        f"{base}::policy-on-both::cluster1/test->cluster1/myapp:80",
        f"{base}::no-policy::cluster1/test->cluster1/myapp:80",
        SIMULATED,
        "-v",
        "-p",
        "no:randomly",
    )
    result.assert_outcomes(passed=2)


def test_a_wrong_expectation_says_expected_observed_and_why(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", deny=DENY_ALL)
    pytester.makefile(
        ".scenario.yaml",
        wrong=TWO_CLUSTERS + "steps:\n  - name: closed\n    policies: {cluster1: [deny.yaml]}\n"
        "    expect:\n      - {from: cluster2/frontend, to: cluster1/myapp, verdict: allow}\n",
    )
    result = pytester.runpytest(SIMULATED, "--sim-cilium-version=1.18")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*cluster2/frontend->cluster1/myapp:80 in step closed: "
            "expected allow, observed dropped",
            "*expected: allow",
            "*observed: dropped",
            "*why the model decided so:",
            "*egress at cluster2: no policy selects the endpoint",
            "*ingress at cluster1: default deny (selected by CNP *deny-all spec); no rule allows*",
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_served_by_is_checked(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".scenario.yaml",
        lb=TWO_CLUSTERS + "steps:\n  - name: open\n    expect:\n"
        "      - {from: cluster1/frontend, to: service/myapp-service, verdict: allow,"
        " served_by: cluster1}\n",
    )
    result = pytester.runpytest(SIMULATED)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*expected an answer from cluster1, answered by cluster1, cluster2*"]
    )


def test_a_probe_that_cannot_run_never_passes_as_a_deny(pytester: pytest.Pytester) -> None:
    """The Service exists only in cluster1: from cluster2 its name does not resolve. That is a
    broken probe, not a denial, so the deny item fails."""
    scenario = TWO_CLUSTERS.replace("    port: 80\n", "    port: 80\n    clusters: [cluster1]\n")
    pytester.makefile(
        ".scenario.yaml",
        broken=scenario + "steps:\n  - name: open\n    expect:\n"
        "      - {from: cluster2/frontend, to: service/myapp-service, verdict: deny}\n",
    )
    result = pytester.runpytest(SIMULATED)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*the probe could not run (dns-failure), which proves nothing*",
            "*Service myapp-service does not exist in cluster2*",
        ]
    )


def test_xfail_is_strict_per_case(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".scenario.yaml",
        gaps=TWO_CLUSTERS + "steps:\n  - name: open\n    expect:\n"
        "      - {from: cluster1/frontend, to: cluster1/myapp, verdict: deny, xfail: known gap}\n"
        "      - {from: cluster1/frontend, to: cluster2/myapp, verdict: allow, xfail: fixed now}\n",
    )
    result = pytester.runpytest(SIMULATED, "-rxX")
    result.assert_outcomes(xfailed=1, failed=1)
    result.stdout.fnmatch_lines(["*XPASS(strict)*fixed now*"])


def test_when_on_the_cilium_version(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".scenario.yaml",
        versions=TWO_CLUSTERS + "steps:\n  - name: open\n    expect:\n"
        "      - {from: cluster1/frontend, to: cluster1/myapp, verdict: allow,"
        " when: {cilium: '>=1.19'}}\n",
    )
    pytester.runpytest(SIMULATED, "--sim-cilium-version=1.19.3").assert_outcomes(passed=1)
    result = pytester.runpytest(SIMULATED, "--sim-cilium-version=1.18", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*when: cilium=>=1.19 does not hold (cluster1 runs Cilium 1.18*"])


def test_a_policy_the_version_rejects_is_an_error_naming_it(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".yaml",
        mesh=DENY_ALL.replace("ingress: [{}]", "egress: [{toEntities: [cluster-mesh]}]"),
    )
    pytester.makefile(
        ".scenario.yaml",
        new=TWO_CLUSTERS + "steps:\n  - name: open\n    policies: {cluster1: [mesh.yaml]}\n"
        "    expect:\n      - {from: cluster1/frontend, to: cluster1/myapp, verdict: allow}\n",
    )
    pytester.runpytest(SIMULATED, "--sim-cilium-version=1.20").assert_outcomes(passed=1)
    result = pytester.runpytest(SIMULATED, "--sim-cilium-version=1.19")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*cluster1 rejects CiliumNetworkPolicy *deny-all (*mesh.yaml:1): "
            "spec.egress.0.toEntities.0: entity 'cluster-mesh' needs Cilium 1.20*"
        ]
    )


def test_xdist_keeps_a_scenarios_items_on_one_worker_in_order(
    pytester: pytest.Pytester, guide: Path
) -> None:
    second = (
        (guide / "guide" / "guide.scenario.yaml").read_text().replace("name: guide", "name: copy")
    )
    (guide / "guide" / "copy.scenario.yaml").write_text(second)
    result = pytester.runpytest_subprocess("scenarios", SIMULATED, "-n", "2", "-v", "-p", "xdist")
    result.assert_outcomes(passed=94, skipped=6)
    workers: dict[str, set[str]] = {}
    order: dict[str, list[str]] = {}
    for line in result.stdout.lines:
        match = re.match(r"\[(gw\d)\] .* (?:PASSED|SKIPPED) (\S+?\.scenario\.yaml)::(\S+?)::", line)
        if match:
            worker, path, step = match.groups()
            workers.setdefault(path, set()).add(worker)
            steps = order.setdefault(path, [])
            if not steps or steps[-1] != step:
                steps.append(step)
    assert len(workers) == 2
    assert all(len(w) == 1 for w in workers.values()), workers
    expected = [
        "no-policy",
        "policy-on-cluster1",
        "policy-on-both",
        "cluster-restricted-on-cluster2",
    ]
    assert all(steps == expected for steps in order.values()), order


def test_xfail_does_not_swallow_a_probe_that_could_not_run(pytester: pytest.Pytester) -> None:
    """A known gap is a verdict that differs; an item whose probe could not run (no pod of
    the target: replicas 0) still fails."""
    scenario = TWO_CLUSTERS.replace("    port: 80\n", "    port: 80\n    replicas: {cluster2: 0}\n")
    pytester.makefile(
        ".scenario.yaml",
        gaps=scenario + "steps:\n  - name: open\n    expect:\n"
        "      - {from: cluster1/frontend, to: cluster2/myapp, verdict: deny, xfail: known gap}\n",
    )
    result = pytester.runpytest(SIMULATED)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*the probe could not run (probe-error)*"])


def test_a_steps_selected_items_are_probed_in_one_backend_call(
    pytester: pytest.Pytester, guide: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """So a step costs its slowest probe on a real mesh, not the sum of them."""
    from pytest_clustermesh.simulated import SimulatedMesh

    calls: list[int] = []
    probe = SimulatedMesh.probe

    def counting(self: SimulatedMesh, deployment: Any, probes: Any) -> Any:
        calls.append(len(probes))
        return probe(self, deployment, probes)

    monkeypatch.setattr(SimulatedMesh, "probe", counting)
    pytester.runpytest("scenarios", SIMULATED).assert_outcomes(passed=47, skipped=3)
    assert calls == [12, 12, 12, 11]
    calls.clear()
    pytester.runpytest("scenarios", SIMULATED, "-k", "policy-on-both and test").assert_outcomes(
        passed=6
    )
    assert calls == [6]
