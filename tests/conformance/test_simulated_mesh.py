"""The bundled suite on the simulated mesh, run as a user runs it: ``pytest --pyargs
pytest_clustermesh.conformance --mesh-backend=simulated``, from a directory outside the
repository, once per modelled version and value of policy-default-local-cluster."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pytest_clustermesh.conformance import clusterwide_policies
from pytest_clustermesh.reports.baseline import NOT_RUN, observations
from pytest_clustermesh.reports.records import CaseRecord, ProbeKey

from .suite import PDLC, REPO, SUITE, expected_verdicts, read_results, scenarios

SIMULATED = "--mesh-backend=simulated"
#: The probe whose verdict pins policy-default-local-cluster's value (docs SF1): allowed while
#: remote frontend pods match, dropped once the option scopes the peer to the local cluster.
CROSS = ProbeKey(
    "policy-scope", "policy-in-cluster1-only", "cluster2/frontend", "cluster1/echo", 8080, "TCP"
)

# (version, agent options, the cross-cluster verdict: the option's effective value)
MATRIX = [
    ("1.16", {}, "allowed"),  # the option does not exist: remote pods match
    ("1.17", {}, "allowed"),
    ("1.18", {}, "allowed"),  # added, off by default (cilium#39338)
    ("1.18", {PDLC: "true"}, "dropped"),
    ("1.19", {}, "dropped"),  # on by default (cilium#40609)
    ("1.19", {PDLC: "false"}, "allowed"),
    ("1.20", {}, "dropped"),
    ("1.20", {PDLC: "false"}, "allowed"),
]


@pytest.mark.parametrize(
    ("version", "options", "cross"),
    MATRIX,
    ids=[f"{v}{''.join(f'-{k}={x}' for k, x in o.items())}" for v, o, _ in MATRIX],
)
def test_the_suite_passes_on_every_modelled_version(
    pytester: pytest.Pytester, version: str, options: dict[str, str], cross: str
) -> None:
    assert not pytester.path.is_relative_to(REPO), "run from outside the repository"
    flags = [f"--sim-option={key}={value}" for key, value in options.items()]
    result = pytester.runpytest(
        *SUITE, SIMULATED, f"--sim-cilium-version={version}", *flags,
        "--clustermesh-results=results.json", "-p", "no:cacheprovider",
    )  # fmt: skip
    outcomes = result.parseoutcomes()
    assert result.ret == 0, result.stdout.str()[-3000:]
    assert set(outcomes) <= {"passed", "skipped", "warnings"}, outcomes
    records = [
        CaseRecord.from_dict(r) for r in read_results(pytester.path / "results.json")["records"]
    ]
    assert outcomes["passed"] == sum(r.status == "passed" for r in records)

    # Every item that did not run was skipped by its when: on this version, nothing else.
    skipped = [r for r in records if r.status == "skipped"]
    assert all(r.message.startswith("when: ") for r in skipped), {r.message for r in skipped}
    # What ran is exactly what the scenario files expect on this mesh (all three clusters and
    # the cluster-wide policies included: the simulated mesh makes them).
    ran = {r.key: r.expected for r in records if r.status == "passed"}
    assert ran == expected_verdicts(version, options)
    # Every probe runs under one of its variants, so an upgrade report lists only verdicts that
    # changed, never a probe that merely stopped running. The cluster-mesh entity exists from
    # 1.20 only (docs SF5).
    seen = observations(records)
    not_run = {key.scenario for key, obs in seen.items() if obs.value == NOT_RUN}
    assert not_run == (set() if version == "1.20" else {"cluster-mesh-entity"})
    assert {r.scenario for r in records if r.status == "passed"} >= {
        "three-clusters",
        "clusterwide",
    }
    # The option's value on this version (its default, or as set) decides the remote match.
    assert seen[CROSS].value.split("(")[0] == cross


def test_the_users_command_works_from_any_directory(tmp_path: Path) -> None:
    """The one command, in a fresh process in a folder that has nothing of the project."""
    run = subprocess.run(
        [sys.executable, "-m", "pytest", *SUITE, SIMULATED, "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    summary = run.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary and "error" not in summary
    assert list(tmp_path.iterdir()) == [], "the suite writes nothing into the user's folder"


def test_the_suite_knows_which_steps_apply_a_clusterwide_policy() -> None:
    """What the suite's conftest skips on real clusters without --allow-clusterwide-policies
    (the skip itself is checked end to end in test_emulated_mesh.py)."""
    found = {
        (scenario.name, case.step.name): tuple(clusterwide_policies(scenario, case))
        for scenario in scenarios()
        for case in scenario.cases
        if clusterwide_policies(scenario, case)
    }
    assert found == {
        ("clusterwide", "ccnp-from-frontend"): ("policies/ccnp-echo-from-frontend.yaml",),
        ("clusterwide", "ccnp-from-any-pod"): ("policies/ccnp-echo-from-any-pod.yaml",),
    }


def test_clusterwide_steps_run_on_the_simulated_mesh(pytester: pytest.Pytester) -> None:
    """The opt-in concerns shared real clusters: the simulated mesh runs the CCNP steps."""
    result = pytester.runpytest(*SUITE, SIMULATED, "-k", "clusterwide", "-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    assert result.ret == 0 and outcomes["passed"] > 10 and "failed" not in outcomes


@pytest.mark.parametrize(
    ("option", "said"),
    [
        ("enable-policy=always", "cluster1 runs enable-policy=always"),
        ("enable-policy=never", "cluster1 runs enable-policy=never"),
        ("policy-audit-mode=true", "cluster1 runs policy-audit-mode=true"),
    ],
)
def test_a_mesh_that_does_not_enforce_the_default_way_skips_the_suite_saying_so(
    pytester: pytest.Pytester, option: str, said: str
) -> None:
    """Its expectations assume enable-policy=default and no audit mode (docs s3): elsewhere
    every item is skipped with the cluster and the option, rather than failed."""
    result = pytester.runpytest(*SUITE, SIMULATED, f"--sim-option={option}", "-rs")
    outcomes = result.parseoutcomes()
    assert result.ret == 0 and outcomes["skipped"] > 200 and "passed" not in outcomes
    skips = [line for line in result.stdout.lines if line.startswith("SKIPPED")]
    assert skips and all(
        "the conformance suite checks meshes with enable-policy=default and "
        "policy-audit-mode=false (docs/cilium-semantics.md s3): " + said in line
        for line in skips
    )
