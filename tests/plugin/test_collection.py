"""Collection as a user sees it: which files become items, and the items' ids and selectors."""

from __future__ import annotations

from pathlib import Path

import pytest

SIMULATED = "--mesh-backend=simulated"


def test_scenario_items_have_readable_ids(pytester: pytest.Pytester, guide: Path) -> None:
    result = pytester.runpytest("--collect-only", "-q", "scenarios")
    result.stdout.fnmatch_lines(
        [
            "scenarios/guide/guide.scenario.yaml::no-policy::cluster1/frontend->cluster1/myapp:80",
            "scenarios/guide/guide.scenario.yaml::policy-on-cluster1::"
            "cluster1/frontend->service/myapp-service:80",
            "scenarios/guide/guide.scenario.yaml::policy-on-cluster1::"
            "cluster2/frontend->cluster1/myapp:80[[]policy-default-local-cluster=false[]]",
            "50 tests collected*",
        ]
    )


def test_only_scenario_files_are_collected(pytester: pytest.Pytester, guide: Path) -> None:
    """Policy documents and unrelated (even broken) YAML beside scenarios are left alone."""
    (guide / "notes.yaml").write_text("this: [is not: valid\n")
    result = pytester.runpytest("--collect-only", "-q", "scenarios")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["50 tests collected*"])
    result.stdout.no_fnmatch_line("*network-policy*")


def test_the_scenario_file_pattern_is_configurable(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nclustermesh_scenario_files = *.mesh.yaml\n")
    pytester.makefile(
        ".mesh.yaml",
        mine="clusters: [a]\nworkloads:\n  c: {role: client}\n  s: {role: server, port: 80}\n"
        "steps:\n  - name: open\n    expect: [{from: a/c, to: a/s, verdict: allow}]\n",
    )
    result = pytester.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines(["mine.mesh.yaml::open::a/c->a/s:80", "1 test collected*"])


def test_wildcards_expand_to_one_item_per_pair(pytester: pytest.Pytester, guide: Path) -> None:
    result = pytester.runpytest("--collect-only", "-q", "scenarios", "-k", "no-policy and myapp:80")
    # */* -> */myapp: 2 clients x 2 clusters x 2 server clusters
    result.stdout.fnmatch_lines(["8/50 tests collected (42 deselected)*"])


@pytest.mark.parametrize(
    ("selection", "count"),
    [
        (["-k", "policy-on-both"], 14),
        (["-k", "deny and cluster2"], 12),
        (["-m", "clustermesh(verdict='deny')"], 16),
        (["-m", "clustermesh(source_cluster='cluster2', target_cluster='cluster1')"], 10),
    ],
)
def test_items_are_selectable_by_step_verdict_and_cluster(
    pytester: pytest.Pytester, guide: Path, selection: list[str], count: int
) -> None:
    result = pytester.runpytest("--collect-only", "-q", "scenarios", *selection)
    result.stdout.fnmatch_lines([f"{count}/50 tests collected*"])


def test_collect_only_needs_no_backend(pytester: pytest.Pytester, guide: Path) -> None:
    assert pytester.runpytest("--collect-only", "scenarios").ret == 0


def test_running_scenario_items_without_a_backend_is_a_usage_error(
    pytester: pytest.Pytester, guide: Path
) -> None:
    result = pytester.runpytest("scenarios")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: scenario items need a mesh to run on: pass --mesh-backend=simulated*"]
    )


def test_a_suite_without_scenario_items_needs_no_backend(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain(): pass")
    pytester.runpytest().assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mesh-backend=kubernetes"], "--mesh-backend=kubernetes needs --kube-contexts*"),
        ([SIMULATED, "--kube-contexts=a,b"], "*contradict*"),
        (
            [SIMULATED, "--sim-option=policy-default-local-clustr=true"],
            "*expected [[]CLUSTER:]KEY=VALUE*",
        ),
        (
            [
                SIMULATED,
                "--sim-cilium-version=1.17",
                "--sim-option=policy-default-local-cluster=true",
            ],
            "*does not exist in Cilium 1.17*",
        ),
        ([SIMULATED, "--sim-cilium-version=banana"], "*not a Cilium version*"),
    ],
)
def test_contradictory_options_are_usage_errors(
    pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{message}"])


def test_every_option_is_documented_in_help(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(
        [
            "*Cilium Cluster Mesh conformance*",
            "*--kube-contexts*",
            "*--kubeconfig*",
            "*--mesh-backend*",
            "*--sim-cilium-version*",
            "*--sim-option*",
            "*clustermesh_kube_contexts*",
            "*clustermesh_backend*",
        ],
        consecutive=False,
    )
