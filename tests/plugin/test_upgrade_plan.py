"""Mixed meshes on the simulated mesh, and the rolling-upgrade preview
(``python -m pytest_clustermesh upgrade-plan``), tested with the guide.

Between the first cluster's upgrade and the last one's, each direction of a flow is decided by
its own cluster's agent with its own version and options (docs/cilium-semantics.md s2, s8, s15).
"""

from __future__ import annotations

from fnmatch import fnmatch
from pathlib import Path

import pytest

from pytest_clustermesh.__main__ import main
from pytest_clustermesh.backend import PodTarget, Probe
from pytest_clustermesh.facts import SimSettings
from pytest_clustermesh.reports import baseline, resultsfile
from pytest_clustermesh.runner import MeshSession, ScenarioRun
from pytest_clustermesh.scenario import load_scenario
from pytest_clustermesh.simulated import SimulatedMesh
from pytest_clustermesh.upgradeplan import evaluate, plan_stages, upgrade_order, verdict_text

SIMULATED = "--mesh-backend=simulated"
GUIDE = Path(__file__).resolve().parents[2] / "scenarios" / "guide" / "guide.scenario.yaml"

#: The guide's cells that the mixed mesh (cluster1 on 1.19, cluster2 on 1.18) changes: ingress
#: at cluster1 now adds cluster1 to the policy's fromEndpoints (s2), so cluster2's frontend is
#: dropped wherever cluster1 enforces the policy; cluster2, on 1.18, still admits cluster1's.
MIDDLE = {
    "guide::policy-on-cluster1::cluster2/frontend->cluster1/myapp:80",
    "guide::policy-on-both::cluster2/frontend->cluster1/myapp:80",
}
END = MIDDLE | {"guide::policy-on-both::cluster1/frontend->cluster2/myapp:80"}


def mixed_mesh_changes(versions: dict[str, str], start: str) -> set[str]:
    """Independently of the plan: the guide's probes whose prediction on the mesh with
    ``versions`` differs from a uniform ``start`` mesh."""
    scenario = load_scenario(GUIDE)

    def predictions(settings: SimSettings) -> dict[str, str]:
        facts = {c: settings.facts_of(c, i) for i, c in enumerate(scenario.model.clusters, 1)}
        run = ScenarioRun(MeshSession(SimulatedMesh(facts), "check"), scenario)
        found = {}
        for step in scenario.steps:
            run.prepare(step)
            for case in scenario.cases:
                if case.step is step and isinstance(case.probe.target, PodTarget):
                    probe = Probe(case.probe.source_cluster, case.probe.source,
                                  case.probe.target, case.probe.port)  # fmt: skip
                    result = run.session.oracle.predict(run.deployment, probe)
                    key = f"guide::{step.name}::{probe.source_cluster}/{probe.source}->"
                    found[f"{key}{probe.target}:{probe.port}"] = verdict_text(result)
        return found

    before = predictions(SimSettings(start))
    after = predictions(SimSettings(start, {}, versions))
    return {key for key in before if before[key] != after[key]}


def test_the_middle_stage_shows_exactly_the_mixed_meshs_changes() -> None:
    scenario = load_scenario(GUIDE)
    stages = plan_stages(upgrade_order([scenario]), "1.18", "1.19")
    assert [stage.name for stage in stages] == ["start", "cluster1-upgraded", "end"]
    results = evaluate([scenario], stages)
    changed = [{str(key) for key in result.changed} for result in results]
    assert changed[0] == set()
    assert changed[1] == MIDDLE == mixed_mesh_changes({"cluster1": "1.19"}, "1.18")
    assert changed[2] == END == mixed_mesh_changes({"cluster1": "1.19", "cluster2": "1.19"}, "1.18")


def test_the_order_decides_which_flows_break_in_the_middle(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["upgrade-plan", str(GUIDE), "--from", "1.18", "--to", "1.19",
                 "--order", "cluster2,cluster1"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    middle = out.split("stage 1 (cluster2-upgraded)")[1].split("stage 2 (end)")[0]
    assert "1 cells differ from the start" in middle
    assert (
        "guide::policy-on-both::cluster1/frontend->cluster2/myapp:80: allowed(cluster2) -> dropped"
        in middle
    )
    assert (
        "- ingress at cluster2 (Cilium 1.19, policy-default-local-cluster=true, the version's "
        "default): default deny" in middle
    )
    assert "- egress at cluster1 (Cilium 1.18, policy-default-local-cluster=false" in middle
    assert "3 cells differ from the start" in out.split("stage 2 (end)")[1]


def test_pinned_options_stay_pinned_and_defaults_follow_each_cluster(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A pinned option holds through every stage; the others follow the version each cluster
    runs at that stage."""
    args = ["upgrade-plan", str(GUIDE), "--from", "1.18", "--to", "1.19"]
    assert main([*args, "--option", "policy-default-local-cluster=false"]) == 0
    out = capsys.readouterr().out
    assert out.count("no verdict differs from the start") == 2, out
    assert main([*args, "--option", "cluster1:policy-default-local-cluster=false"]) == 0
    out = capsys.readouterr().out
    middle, end = out.split("stage 1")[1].split("stage 2")
    assert "no verdict differs from the start" in middle
    assert "1 cells differ" in end and "policy-on-both::cluster1/frontend->cluster2/myapp" in end


def test_each_stage_writes_the_records_a_pytest_run_of_that_mesh_writes(
    pytester: pytest.Pytester, guide: Path, tmp_path: Path
) -> None:
    """The stage's results file equals ``--clustermesh-results`` of a pytest run on the same
    mixed mesh, verdict for verdict, so the baseline tools diff stages."""
    scenario = guide / "guide" / "guide.scenario.yaml"
    out = tmp_path / "plan"
    assert main(["upgrade-plan", str(scenario), "--from", "1.18", "--to", "1.19",
                 "--results-dir", str(out)]) == 0  # fmt: skip
    assert sorted(p.name for p in out.iterdir()) == [
        "0-start.json",
        "1-cluster1-upgraded.json",
        "2-end.json",
    ]
    pytester.runpytest(
        "scenarios", SIMULATED, "--sim-cilium-version=cluster1=1.19,cluster2=1.18",
        "--clustermesh-results=mixed.json",
    ).assert_outcomes(passed=44, skipped=6)  # fmt: skip
    mixed = resultsfile.read(pytester.path / "mixed.json").records
    middle = resultsfile.read(out / "1-cluster1-upgraded.json")
    assert middle.run["upgrade_stage"]["name"] == "cluster1-upgraded"
    assert resultsfile.status_counts(middle.records) == resultsfile.status_counts(mixed)
    same = baseline.compare(middle.records, mixed)
    assert not same.changed and not same.added and not same.removed
    assert same.unchanged == 47
    across = baseline.compare(resultsfile.read(out / "0-start.json").records, middle.records)
    assert {str(change.key) for change in across.changes} == MIDDLE | {
        # Both of the guide's when-pinned cells are skipped in the mixed mesh: the mesh-wide
        # when: holds in neither cluster pair (a `destination:` when: would hold).
        "guide::policy-on-both::cluster1/frontend->cluster2/myapp:80",
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--order", "cluster9"], "--order: no scenario has the cluster 'cluster9'*"),
        (["--order", "cluster1,cluster1"], "--order names the cluster 'cluster1' twice"),
        (["--option", "cluster1:policy-default-local-cluster=maybe"], "--option policy-default*"),
    ],
)
def test_bad_plan_arguments_are_one_line_errors(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["upgrade-plan", str(GUIDE), "--from", "1.18", "--to", "1.19", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and fnmatch(err, f"error: {message}"), err


def test_a_version_outside_the_model_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["upgrade-plan", str(GUIDE), "--from", "1.15", "--to", "1.19"]) == 2
    assert "--from: the simulated mesh models Cilium 1.16 to 1.20, not 1.15" in (
        capsys.readouterr().err
    )
    assert main(["upgrade-plan", str(GUIDE), "--from", "1.17", "--to", "1.19", "--option",
                 "policy-default-local-cluster=true"]) == 2  # fmt: skip
    assert "does not exist in Cilium 1.17" in capsys.readouterr().err


MIXED_WHEN = """\
clusters: [cluster1, cluster2]
workloads:
  frontend: {role: client, labels: {app: frontend}}
  myapp: {role: server, labels: {app: myapp}, port: 80}
steps:
  - name: policy-on-both
    policies: {"*": [network-policy.yaml]}
    expect:
      - {from: cluster1/frontend, to: cluster2/myapp, verdict: deny,
         when: {destination: {policy-default-local-cluster: true}}}
      - {from: cluster1/frontend, to: cluster2/myapp, verdict: allow,
         when: {destination: {policy-default-local-cluster: false}}}
      - {from: cluster2/frontend, to: cluster1/myapp, verdict: deny,
         when: {destination: {policy-default-local-cluster: true}}}
      - {from: cluster2/frontend, to: cluster1/myapp, verdict: allow,
         when: {destination: {policy-default-local-cluster: false}}}
      - {from: "*/frontend", to: "*/myapp", verdict: allow, when: {cluster1: {cilium: "1.19"},
         cluster2: {cilium: "1.19"}, policy-default-local-cluster: false}}
"""


@pytest.mark.parametrize(
    ("args", "ini", "outcomes"),
    [
        # The destination's option decides: every direction has an expectation that holds.
        (["--sim-cilium-version=cluster1=1.19,cluster2=1.18"], "", {"passed": 2, "skipped": 6}),
        (
            [
                "--sim-cilium-version=1.18",
                "--sim-option=cluster2:policy-default-local-cluster=true",
            ],
            "",
            {"passed": 2, "skipped": 6},
        ),
        (
            [],
            "clustermesh_sim_cilium_version = cluster1=1.18,cluster2=1.19\n"
            "clustermesh_sim_options =\n    cluster1:policy-default-local-cluster=false\n",
            {"passed": 2, "skipped": 6},
        ),
        (["--sim-option=policy-default-local-cluster=false"], "", {"passed": 6, "skipped": 2}),
    ],
)
def test_a_when_on_the_destination_holds_in_a_mixed_mesh(
    pytester: pytest.Pytester, guide: Path, args: list[str], ini: str, outcomes: dict[str, int]
) -> None:
    (guide / "guide" / "mixed.scenario.yaml").write_text(MIXED_WHEN)
    pytester.makeini(f"[pytest]\nclustermesh_backend = simulated\n{ini}")
    result = pytester.runpytest("scenarios/guide/mixed.scenario.yaml", *args, "-rs")
    result.assert_outcomes(**outcomes)
    if outcomes["passed"] == 2:
        result.stdout.fnmatch_lines(
            ["*when: destination.policy-default-local-cluster=* does not hold (the destination "
             "cluster* has policy-default-local-cluster=*)*"]
        )  # fmt: skip


PINNED = MIXED_WHEN.replace(
    "clusters: [cluster1, cluster2]\n",
    "clusters: [cluster1, cluster2]\n"
    "facts: {cluster1: {cilium: '1.19'}, cluster2: {cilium: '1.18'}}\n",
).split('      - {from: "*/frontend"')[0]


def test_a_scenario_pins_its_mixed_mesh_over_the_command_line(
    pytester: pytest.Pytester, guide: Path
) -> None:
    """``facts:`` makes the simulated mesh the scenario is written for, whatever
    --sim-cilium-version says; a scenario without pins takes the command line's values."""
    (guide / "guide" / "pinned.scenario.yaml").write_text(PINNED)
    result = pytester.runpytest(
        "scenarios/guide/pinned.scenario.yaml", "scenarios/guide/guide.scenario.yaml",
        SIMULATED, "--sim-cilium-version=1.20", "-rs", "--clustermesh-results=out.json",
    )  # fmt: skip
    result.assert_outcomes(passed=47 + 2, skipped=3 + 2)
    result.stdout.fnmatch_lines(
        ["*pinned.scenario.yaml*when: destination.policy-default-local-cluster=false does not "
         "hold (the destination cluster1 has policy-default-local-cluster=true)*"]
    )  # fmt: skip
    records = [r for r in resultsfile.read(pytester.path / "out.json").records if r.facts]
    pinned = {r.facts["cluster2"].cilium_version for r in records if r.scenario == "pinned"}
    unpinned = {r.facts["cluster2"].cilium_version for r in records if r.scenario == "guide"}
    assert (pinned, unpinned) == ({"1.18"}, {"1.20"})
