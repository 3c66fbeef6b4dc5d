"""Mixed meshes: each cluster decides its own direction of a flow with its own Cilium version
and options (docs/cilium-semantics.md s2, s8, s15), and the explanation says whose setting
decided.

Each row runs a shipped scenario on a simulated mesh whose clusters differ, and pins the verdict
and the reason of the direction that decided it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path

import pytest

from pytest_clustermesh.backend import PodTarget, Probe
from pytest_clustermesh.facts import (
    ClusterFacts,
    Condition,
    ConditionError,
    SimSettings,
    describe_setting,
    mixed_mesh_line,
    parse_pins,
    parse_version,
)
from pytest_clustermesh.runner import MeshSession, ScenarioRun
from pytest_clustermesh.scenario import load_scenario
from pytest_clustermesh.simulated import SimulatedMesh
from pytest_clustermesh.verdicts import Outcome

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "scenarios" / "guide" / "guide.scenario.yaml"
CLUSTER_SELECTOR = ROOT / "pytest_clustermesh" / "conformance" / "cluster-selector.scenario.yaml"

ON_119 = "Cilium 1.19, policy-default-local-cluster=true, the version's default"
ON_118 = "Cilium 1.18, policy-default-local-cluster=false, the version's default"


@dataclass(frozen=True)
class Row:
    pins: str
    """The documented behaviour (docs/cilium-semantics.md ids)."""
    versions: dict[str, str]
    step: str
    source: str
    target: str
    expected: Outcome
    reason: str
    """A line of the explanation, from its start: the deciding direction and whose setting."""
    scenario: Path = GUIDE
    options: dict[str, dict[str, str]] = field(default_factory=dict)


ROWS = [
    Row(
        "s2, s8: ingress is decided at cluster1 on 1.19, whose default adds the local cluster "
        "to fromEndpoints; cluster2's frontend no longer matches",
        {"cluster1": "1.19", "cluster2": "1.18"},
        "policy-on-cluster1",
        "cluster2/frontend",
        "cluster1/myapp",
        Outcome.DROPPED,
        f"ingress at cluster1 ({ON_119}): default deny",
    ),
    Row(
        "s2, s8: the clusters swapped: cluster1 on 1.18 admits frontends of every cluster, "
        "whatever cluster2 (the source, on 1.19) has",
        {"cluster1": "1.18", "cluster2": "1.19"},
        "policy-on-cluster1",
        "cluster2/frontend",
        "cluster1/myapp",
        Outcome.ALLOWED,
        f"ingress at cluster1 ({ON_118}): allowed by",
    ),
    Row(
        "s2, s8: the same policy in both clusters: the direction into the 1.18 cluster is "
        "allowed ...",
        {"cluster1": "1.19", "cluster2": "1.18"},
        "policy-on-both",
        "cluster1/frontend",
        "cluster2/myapp",
        Outcome.ALLOWED,
        f"ingress at cluster2 ({ON_118}): allowed by",
    ),
    Row(
        "s2, s8: ... and the direction into the 1.19 cluster is dropped: the mixed mesh is "
        "asymmetric, unlike the meshes before and after the upgrade",
        {"cluster1": "1.19", "cluster2": "1.18"},
        "policy-on-both",
        "cluster2/frontend",
        "cluster1/myapp",
        Outcome.DROPPED,
        f"ingress at cluster1 ({ON_119}): default deny",
    ),
    Row(
        "s2: an option set on one cluster only (cluster1 keeps the 1.18 matching on 1.19)",
        {"cluster1": "1.19", "cluster2": "1.19"},
        "policy-on-both",
        "cluster2/frontend",
        "cluster1/myapp",
        Outcome.ALLOWED,
        "ingress at cluster1 (Cilium 1.19, policy-default-local-cluster=false, set): allowed by",
        options={"cluster1": {"policy-default-local-cluster": "false"}},
    ),
    Row(
        "s2: the other cluster keeps its version's default",
        {"cluster1": "1.19", "cluster2": "1.19"},
        "policy-on-both",
        "cluster1/frontend",
        "cluster2/myapp",
        Outcome.DROPPED,
        f"ingress at cluster2 ({ON_119}): default deny",
        options={"cluster1": {"policy-default-local-cluster": "false"}},
    ),
    Row(
        "s2, SF2: a selector naming the cluster is left alone by the option, in either version",
        {"cluster1": "1.18", "cluster2": "1.19"},
        "cluster-restricted-on-cluster2",
        "cluster1/frontend",
        "cluster2/myapp",
        Outcome.ALLOWED,
        "ingress at cluster2 (Cilium 1.19, policy-default-local-cluster=true, the version's "
        "default): allowed by",
    ),
    Row(
        "s2, s8: egress is decided at the source: cluster1 on 1.19 scopes toEndpoints to its own "
        "cluster, so its frontend cannot send to cluster2's echo",
        {"cluster1": "1.19", "cluster2": "1.18"},
        "egress-without-cluster",
        "cluster1/frontend",
        "cluster2/echo",
        Outcome.DROPPED,
        f"egress at cluster1 ({ON_119}): default deny",
        scenario=CLUSTER_SELECTOR,
    ),
    Row(
        "s2, s8: ... while cluster2's frontend, on 1.18, still reaches cluster1's echo",
        {"cluster1": "1.19", "cluster2": "1.18"},
        "egress-without-cluster",
        "cluster2/frontend",
        "cluster1/echo",
        Outcome.ALLOWED,
        f"egress at cluster2 ({ON_118}): allowed by",
        scenario=CLUSTER_SELECTOR,
    ),
]


def predict(row: Row) -> tuple[Outcome, tuple[str, ...]]:
    scenario = load_scenario(row.scenario)
    settings = SimSettings("1.19", {}, row.versions, row.options)
    facts = {
        name: settings.facts_of(name, index)
        for index, name in enumerate(scenario.model.clusters, start=1)
    }
    run = ScenarioRun(MeshSession(SimulatedMesh(facts), "mixed"), scenario)
    step = next(step for step in scenario.steps if step.name == row.step)
    run.prepare(step)
    source_cluster, source = row.source.split("/")
    target_cluster, target = row.target.split("/")
    port = scenario.model.workloads[target].port_list()[0].port
    probe = Probe(source_cluster, source, PodTarget(target_cluster, target), port)
    result = run.session.oracle.predict(run.deployment, probe)
    return result.outcome, result.explanation


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.pins[:60])
def test_mixed_mesh_verdicts(row: Row) -> None:
    outcome, explanation = predict(row)
    assert outcome is row.expected, explanation
    assert any(line.startswith(row.reason) for line in explanation), explanation


def test_a_uniform_mesh_names_no_setting() -> None:
    """Only a mesh whose clusters differ in settings names them in explanations."""
    row = ROWS[0]
    uniform = Row(row.pins, {"cluster1": "1.19", "cluster2": "1.19"}, row.step, row.source,
                  row.target, Outcome.DROPPED, "ingress at cluster1: default deny")  # fmt: skip
    outcome, explanation = predict(uniform)
    assert outcome is Outcome.DROPPED
    assert any(line.startswith(uniform.reason) for line in explanation), explanation


def test_a_mixed_mesh_names_the_setting_within_one_cluster_too() -> None:
    """In a mixed mesh every direction names the settings that decided it, also for a flow
    that stays in one cluster: the reader of an upgrade's failure need not know which
    clusters were upgraded."""
    row = ROWS[-1]
    within = Row(row.pins, row.versions, row.step, "cluster2/frontend", "cluster2/echo",
                 Outcome.ALLOWED, f"egress at cluster2 ({ON_118}): ",
                 scenario=CLUSTER_SELECTOR)  # fmt: skip
    outcome, explanation = predict(within)
    assert outcome is Outcome.ALLOWED
    assert any(line.startswith(within.reason) for line in explanation), explanation
    assert any(line.startswith(f"ingress at cluster2 ({ON_118}): ") for line in explanation)


def test_settings_and_the_mixed_mesh_line() -> None:
    assert describe_setting(parse_version("1.17"), {}) == (
        "Cilium 1.17, no policy-default-local-cluster (remote pods match)"
    )
    assert describe_setting(parse_version("1.18"), {"policy-default-local-cluster": "true",
                                                    "enable-policy": "always"}) == (
        "Cilium 1.18, policy-default-local-cluster=true, set, enable-policy=always"
    )  # fmt: skip
    same = SimSettings("1.19")
    assert mixed_mesh_line({c: same.facts_of(c, i) for i, c in enumerate("ab")}) is None
    mixed = SimSettings("1.19", {}, {"b": "1.18"})
    line = mixed_mesh_line({c: mixed.facts_of(c, i) for i, c in enumerate("ab")})
    assert line is not None and f"a: {ON_119}; b: {ON_118}" in line


@pytest.mark.parametrize(
    ("when", "source", "destination", "versions", "unmet"),
    [
        ({"destination": {"cilium": ">=1.19"}}, "cluster2", "cluster1", {"cluster2": "1.18"}, []),
        (
            {"destination": {"cilium": ">=1.19"}},
            "cluster1",
            "cluster2",
            {"cluster2": "1.18"},
            ["the destination cluster2 runs Cilium 1.18"],
        ),
        (
            {"source": {"policy-default-local-cluster": False}},
            "cluster2",
            "cluster1",
            {"cluster2": "1.18"},
            [],
        ),
        (
            {"cluster2": {"cilium": "1.18"}, "cilium": ">=1.18"},
            "cluster1",
            "cluster1",
            {"cluster2": "1.18"},
            [],
        ),
        (
            {"cluster2": {"cilium": "1.19"}},
            "cluster1",
            "cluster1",
            {"cluster2": "1.18"},
            ["cluster2 runs Cilium 1.18"],
        ),
        (
            {"cilium": "1.19"},
            "cluster1",
            "cluster1",
            {"cluster2": "1.18"},
            ["cluster2 runs Cilium 1.18"],
        ),
    ],
)
def test_when_names_a_clusters_facts(
    when: dict[str, object],
    source: str,
    destination: str,
    versions: dict[str, str],
    unmet: list[str],
) -> None:
    condition = Condition.parse(when, clusters=["cluster1", "cluster2"])
    settings = SimSettings("1.19", {}, versions)
    facts = {name: settings.facts_of(name, i) for i, name in enumerate(["cluster1", "cluster2"])}
    assert condition.for_probe(source, destination).unmet(facts) == unmet


def test_a_real_mesh_must_have_the_scenarios_pinned_facts() -> None:
    """On real clusters ``facts:`` cannot change a cluster: an expectation of a scenario whose
    pins a cluster does not have is skipped, saying which."""
    pins = parse_pins({"cluster2": {"cilium": "1.18", "enable-policy": "default"}},
                      ["cluster1", "cluster2"])  # fmt: skip
    assert pins == {"cluster2": {"cilium": "1.18", "enable-policy": "default"}}
    condition = Condition().with_pins(pins)
    real = SimSettings("1.19", {}, {"cluster2": "1.18.4"})
    facts = {name: real.facts_of(name, i) for i, name in enumerate(["cluster1", "cluster2"])}
    assert condition.unmet(facts) == []
    upgraded = {name: SimSettings("1.19.1").facts_of(name, i) for i, name in enumerate(facts)}
    assert condition.unmet(upgraded) == ["the scenario's facts: pins cluster2 runs Cilium 1.19.1"]


C1_CILIUM = ("cluster1", "cilium")


@pytest.mark.parametrize(
    ("raw", "message", "path"),
    [
        ({"cluster3": {"cilium": "1.18"}}, "no cluster 'cluster3' in the scenario*", ("cluster3",)),
        ({"cluster1": {"cilium": ">=1.18"}}, "cilium: one version such as '1.18'*", C1_CILIUM),
        ({"cluster1": {"cilium": "1.15"}}, "cilium: the simulated mesh models*", C1_CILIUM),
        ({"cluster1": {"cilium": 1.2}}, "cilium: a version must be a string*", C1_CILIUM),
        ({"cluster1": {"cilium": "1.17", "policy-default-local-cluster": True}},
         "policy-default-local-cluster: the option does not exist in Cilium 1.17*",
         ("cluster1", "policy-default-local-cluster")),
        ({"cluster1": {"policy-audit-mode": "maybe"}}, "policy-audit-mode takes true or false*",
         ("cluster1", "policy-audit-mode")),
    ],
)  # fmt: skip
def test_bad_pins_name_the_cluster_and_the_key(
    raw: dict[str, object], message: str, path: tuple[str, ...]
) -> None:
    with pytest.raises(ConditionError) as caught:
        parse_pins(raw, ["cluster1", "cluster2"])
    assert fnmatch(str(caught.value), message), str(caught.value)
    assert caught.value.path == path


@pytest.mark.parametrize(
    ("when", "version", "holds"),
    [
        ("1.20", "1.20.0-pre.4", True),  # a bare version means that minor release, pre-releases too
        (">=1.20", "1.20.0-pre.4", True),
        (">=1.20", "1.19.9", False),
        ("1.19", "1.20.0-pre.4", False),
        ("<1.20", "1.20.0-pre.4", False),  # a 1.20 pre-release is a 1.20, not below it
    ],
)
def test_a_pre_release_counts_as_its_release(when: str, version: str, holds: bool) -> None:
    cluster = ClusterFacts("cluster1", "cluster1", 1, parse_version(version), {})
    condition = Condition.parse({"cilium": when}, {}, ["cluster1"])
    assert (condition.unmet({"cluster1": cluster}) == []) is holds


def test_an_option_names_the_release_that_introduced_it() -> None:
    with pytest.raises(ValueError, match=r"does not exist in Cilium 1\.19 \(cluster1\) "
                       r"\(introduced in 1\.20\)"):  # fmt: skip
        SimSettings(
            "1.19", {}, {}, {"cluster1": {"enable-k8s-cluster-network-policy": "true"}}
        ).check()
