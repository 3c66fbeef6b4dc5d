"""What mutation testing of the ``when:`` evaluation (``facts.py``) and of the scenario expansion
(``scenario/load.py``) showed nothing pinned (docs/mutation.md).

The option defaults per Cilium release (docs/cilium-semantics.md s2), what a cluster's facts
say, when a mesh is mixed, how a ``when:`` is parsed, bound to a probe and evaluated, and where
its errors point.
"""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase
from pathlib import Path

import pytest
from packaging.version import Version

from pytest_clustermesh.backend import (
    PLACEHOLDER_RUN_ID,
    ExternalTarget,
    HttpRequest,
    PodTarget,
    ServiceTarget,
    new_run_id,
)
from pytest_clustermesh.errors import Location, ScenarioError
from pytest_clustermesh.facts import (
    ENFORCEMENT_MODES,
    KNOWN_OPTIONS,
    ClusterFacts,
    Condition,
    ConditionError,
    SimSettings,
    alternatives,
    describe_setting,
    mesh_is_mixed,
    mixed_mesh_line,
    option_default,
    option_exists,
    option_values,
    parse_option_items,
    parse_pins,
    parse_version,
    parse_versions,
    resolve_options,
    version_specifier,
)
from pytest_clustermesh.policy import InvalidPolicy
from pytest_clustermesh.scenario import Scenario, expand_scenario, load_scenario
from pytest_clustermesh.scenario.load import _policy_message, resolve_sources, resolve_targets
from pytest_clustermesh.scenario.materialize import build_deployment
from pytest_clustermesh.verdicts import Verdict

PDLC = "policy-default-local-cluster"
AUDIT = "policy-audit-mode"
C1_CILIUM = ("cluster1", "cilium")
C1_CLUSTERX = ("cluster1", "clusterx")
CLUSTERS = ["cluster1", "cluster2"]


def facts(versions: Mapping[str, str], **options: Mapping[str, str]) -> dict[str, ClusterFacts]:
    """Simulated clusters, each of its version, with per-cluster options."""
    settings = SimSettings("1.19", {}, dict(versions), dict(options))
    return {name: settings.facts_of(name, i) for i, name in enumerate(versions, start=1)}


# -- option defaults per release (docs/cilium-semantics.md s2) --------------------------------


@pytest.mark.parametrize(
    ("release", "local_cluster"),
    [
        # s2: the option does not exist before 1.18, and Cilium behaves as with false.
        ("1.16", "false"),
        ("1.17.4", "false"),
        # s2, cilium#39338: added in 1.18, default false.
        ("1.18.0", "false"),
        ("1.18.9", "false"),
        # s2, cilium#40609 (Documentation/operations/upgrade.rst): default true from 1.19.
        ("1.19.0-pre.1", "true"),
        ("1.19.0", "true"),
        ("1.20.2", "true"),
    ],
)
def test_the_default_of_each_option_per_release(release: str, local_cluster: str) -> None:
    version = parse_version(release)
    assert option_default(PDLC, version) == local_cluster
    # enable-policy defaults to "default" and policy-audit-mode to false in every release
    # (s3: Documentation/security/policy/intro.rst, "Policy Enforcement Modes").
    assert option_default("enable-policy", version) == "default"
    assert option_default("policy-audit-mode", version) == "false"
    assert option_default("enable-hubble", version) is None


@pytest.mark.parametrize(
    ("option", "release", "values"),
    [
        (PDLC, "1.17", ("false",)),  # s2: absent before 1.18; behaves as false
        (PDLC, "1.18", ("true", "false")),
        ("enable-policy", "1.16", ENFORCEMENT_MODES),
        ("policy-audit-mode", "1.16", ("true", "false")),
        ("enable-hubble", "1.19", ()),  # not an option the model knows
    ],
)
def test_the_values_an_option_can_have(option: str, release: str, values: tuple[str]) -> None:
    assert option_values(option, parse_version(release)) == values


def test_resolved_options_are_lower_case_and_unset_ones_take_the_version_default() -> None:
    resolved = resolve_options(
        parse_version("1.19"), {"policy-audit-mode": "True", "custom-key": "On", PDLC: "FALSE"}
    )
    expected = {
        "policy-audit-mode": "true",
        "custom-key": "on",
        PDLC: "false",  # as configured, not the 1.19 default
        "enable-policy": "default",
    }
    assert {key: resolved.get(key) for key in expected} == expected


def test_what_a_clusters_options_say() -> None:
    always = facts({"cluster1": "1.19"}, cluster1={"enable-policy": "always"})["cluster1"]
    assert always.enforcement_mode == "always"
    assert always.default_local_cluster and not always.audit_mode
    assert always.option_is("enable-policy", "always")
    assert not always.option_is("enable-policy", "default")
    audited = facts({"cluster1": "1.18"}, cluster1={"policy-audit-mode": "true"})["cluster1"]
    assert audited.audit_mode and not audited.default_local_cluster
    assert audited.enforcement_mode == "default"
    bare = ClusterFacts("c", "c", 1, Version("1.19"))
    assert bare.enforcement_mode == "default"


# -- a mixed mesh ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("versions", "options", "mixed"),
    [
        ({"cluster1": "1.19"}, {}, False),
        ({"cluster1": "1.19.1", "cluster2": "1.19.3"}, {}, False),  # one release
        ({"cluster1": "1.19", "cluster2": "1.18"}, {}, True),
        ({"cluster1": "1.19", "cluster2": "1.19"}, {"cluster2": {PDLC: "false"}}, True),
        (
            {"cluster1": "1.19", "cluster2": "1.19", "cluster3": "1.18"},
            {},
            True,
        ),
    ],
)
def test_a_mesh_is_mixed_when_a_release_or_a_deciding_option_differs(
    versions: dict[str, str], options: dict[str, dict[str, str]], mixed: bool
) -> None:
    assert mesh_is_mixed(facts(versions, **options)) is mixed


def test_the_mixed_mesh_line() -> None:
    assert mixed_mesh_line(facts({"cluster1": "1.19", "cluster2": "1.19"})) is None
    # Two patch releases of one minor: not mixed, but the line still says which runs which.
    patches = mixed_mesh_line(facts({"cluster1": "1.19.1", "cluster2": "1.19.3"}))
    on = "policy-default-local-cluster=true, the version's default"
    assert patches == (
        "mixed mesh, each direction is decided with its own cluster's settings: "
        f"cluster1: Cilium 1.19.1, {on}; cluster2: Cilium 1.19.3, {on}"
    )
    option = mixed_mesh_line(
        facts({"cluster1": "1.19", "cluster2": "1.19"}, cluster2={PDLC: "false"})
    )
    assert option is not None
    assert option.endswith(f"cluster1: Cilium 1.19, {on}; cluster2: Cilium 1.19, {PDLC}=false, set")


@pytest.mark.parametrize(
    ("release", "options", "text"),
    [
        ("1.17", {}, "Cilium 1.17, no policy-default-local-cluster (remote pods match)"),
        ("1.18", {}, "Cilium 1.18, policy-default-local-cluster=false, the version's default"),
        ("1.18", {PDLC: "false"}, f"Cilium 1.18, {PDLC}=false, the version's default"),
        ("1.19", {PDLC: "false"}, "Cilium 1.19, policy-default-local-cluster=false, set"),
        (
            "1.19",
            {"enable-policy": "default", "policy-audit-mode": "true"},
            "Cilium 1.19, policy-default-local-cluster=true, the version's default, "
            "policy-audit-mode=true",
        ),
        (
            "1.19",
            {"enable-policy": "never", "policy-audit-mode": "false"},
            "Cilium 1.19, policy-default-local-cluster=true, the version's default, "
            "enable-policy=never",
        ),
    ],
)  # fmt: skip
def test_how_a_clusters_setting_is_described(
    release: str, options: dict[str, str], text: str
) -> None:
    assert describe_setting(parse_version(release), options) == text


# -- when: parsing ---------------------------------------------------------------------------


def test_a_range_admits_the_pre_releases_inside_it() -> None:
    """``when: {cilium: '>=1.19'}`` holds on 1.20.0-pre.4, a pre-release of a release inside
    the range (``prereleases=True``; without it ``packaging`` leaves every pre-release out)."""
    assert Version("1.20.0-pre.4") in version_specifier(">=1.19")
    assert Version("1.20.0-pre.4") not in version_specifier("<1.20")
    condition = Condition.parse({"cilium": ">=1.19"})
    assert condition.unmet(facts({"cluster1": "1.20.0-pre.4"})) == []


def test_the_text_of_a_condition_is_how_skips_name_it() -> None:
    condition = Condition.parse(
        {"cilium": ">=1.18", "policy-audit-mode": True, "cluster2": {"enable-policy": "Always"}},
        clusters=CLUSTERS,
    )
    assert condition.text == (
        "cilium=>=1.18, policy-audit-mode=true, cluster2.enable-policy=always"
    )
    assert condition.cilium_text == ">=1.18"
    [inner] = condition.scoped.values()
    assert inner.text == "enable-policy=always"
    assert inner.options == {"enable-policy": "always"}


@pytest.mark.parametrize(
    ("raw", "message", "path"),
    [
        ({"cilium": 1.2}, "cilium: a version must be a string, but YAML read 1.2 *", ("cilium",)),
        ({"cilium": True}, "cilium: a version must be a string such as *, not 'true'", ("cilium",)),
        ({"cilium": ">>1.19"}, "cilium: not a version range: '>>1.19'*", ("cilium",)),
        ({"cluster1": "1.19"}, "cluster1: expected a mapping of facts of that*", ("cluster1",)),
        ({"cluster1": {}}, "cluster1: expected a mapping*", ("cluster1",)),
        ({"cluster1": {"cilium": 1.2}}, "cluster1: cilium: a version must be*", C1_CILIUM),
        ({"source": {AUDIT: "maybe"}}, f"source: {AUDIT} takes true or false*", ("source", AUDIT)),
        ({"cluster1": {"clusterx": {}}}, "cluster1: unknown fact 'clusterx' *", C1_CLUSTERX),
        (
            {"policy-audit-mode": True, "cluster2": {"policy-audit-mode": False}},
            "cluster2: can never hold: policy-audit-mode=true in every cluster and "
            "policy-audit-mode=false in cluster2",
            ("cluster2", "policy-audit-mode"),
        ),
        (
            {"cilium": ">=1.19", "destination": {"cilium": "<1.19"}},
            "destination: cilium: no modelled Cilium version (1.16 to 1.20) is in the range "
            "'>=1.19 and <1.19'",
            ("destination",),
        ),
        (
            {"cilium": "1.17", "cluster1": {PDLC: True}},
            "cluster1: can never hold: policy-default-local-cluster=true is possible on Cilium "
            "1.18, 1.19, 1.20 only, and cilium: '1.17' excludes them",
            ("cluster1",),
        ),
    ],
)  # fmt: skip
def test_a_bad_when_says_what_and_where(
    raw: dict[str, object], message: str, path: tuple[str, ...]
) -> None:
    """The path is what puts the error on the line of the fact at fault (scenario/load.py)."""
    with pytest.raises(ConditionError) as caught:
        Condition.parse(raw, clusters=CLUSTERS)
    assert fnmatchcase(str(caught.value), message), str(caught.value)
    assert caught.value.path == path


def test_a_scoped_version_written_as_a_number_is_quoted_as_written() -> None:
    with pytest.raises(ConditionError) as caught:
        Condition.parse(
            {"cluster1": {"cilium": 1.2}}, {"cluster1.cilium": "1.20"}, clusters=CLUSTERS
        )
    assert str(caught.value) == (
        "cluster1: cilium: a version must be a string, but YAML read 1.20 as the number 1.2; "
        'quote it: cilium: "1.20"'
    )


def test_an_unknown_fact_suggests_a_cluster_or_a_role() -> None:
    with pytest.raises(ConditionError) as caught:
        Condition.parse({"clustr1": {"cilium": "1.19"}}, clusters=CLUSTERS)
    assert fnmatchcase(
        str(caught.value),
        "unknown fact 'clustr1' (did you mean 'cluster1'? known: cilium, "
        "policy-default-local-cluster, enable-policy, policy-audit-mode*; or, holding such "
        "facts, a cluster (cluster1, cluster2), source or destination)",
    ), str(caught.value)
    assert caught.value.path == ("clustr1",)


def test_alternatives() -> None:
    assert alternatives(["a"]) == "a"
    assert alternatives(["a", "b", "c"]) == "a, b or c"
    assert alternatives([]) == ""


# -- when: evaluation ------------------------------------------------------------------------


def test_a_cluster_scoped_version_narrows_the_mesh_wide_one() -> None:
    """``cilium: '>=1.18'`` for the mesh and ``cluster2: {cilium: '<1.20'}``: cluster2 must
    satisfy both."""
    condition = Condition.parse(
        {"cilium": ">=1.18", "cluster2": {"cilium": "<1.20"}}, clusters=CLUSTERS
    )
    assert condition.unmet(facts({"cluster1": "1.20", "cluster2": "1.19"})) == []
    assert condition.unmet(facts({"cluster1": "1.19", "cluster2": "1.20"})) == [
        "cluster2 runs Cilium 1.20"
    ]
    assert condition.unmet(facts({"cluster1": "1.17", "cluster2": "1.17"})) == [
        "cluster1 runs Cilium 1.17",
        "cluster2 runs Cilium 1.17",
    ]
    # Each part is checked where it was written: cluster2's own range holds on 1.17.
    assert condition.unmet(facts({"cluster1": "1.19", "cluster2": "1.17"})) == [
        "cluster2 runs Cilium 1.17"
    ]


def test_roles_are_bound_to_the_probes_clusters() -> None:
    condition = Condition.parse(
        {"source": {"cilium": "1.18"}, "destination": {"policy-audit-mode": False}},
        clusters=CLUSTERS,
    )
    mesh = facts({"cluster1": "1.18", "cluster2": "1.19"}, cluster2={"policy-audit-mode": "true"})
    assert condition.unmet(mesh) == [
        "source: not bound to a cluster",
        "destination: not bound to a cluster",
    ]
    assert condition.for_probe("cluster1", "cluster1").unmet(mesh) == []
    assert condition.for_probe("cluster2", "cluster2").unmet(mesh) == [
        "the source cluster2 runs Cilium 1.19",
        "the destination cluster2 has policy-audit-mode=true",
    ]
    # A Service's serving cluster is not fixed: the destination stays unbound.
    bound = condition.for_probe("cluster1", None)
    assert bound.roles == {"source": "cluster1"}
    assert bound.unmet(mesh) == ["destination: not bound to a cluster"]
    assert condition.for_probe("cluster3", "cluster1").unmet(mesh) == [
        "the mesh has no cluster cluster3"
    ]
    # Without a role, binding changes nothing.
    plain = Condition.parse({"cilium": "1.18"})
    assert plain.for_probe("cluster1", "cluster2") is plain


def test_an_unset_option_is_named_so() -> None:
    condition = Condition.parse({"policy-audit-mode": True})
    bare = {"c": ClusterFacts("c", "c", 1, Version("1.19"))}
    assert condition.unmet(bare) == ["c has policy-audit-mode=<unset>"]


def test_pins_hold_beside_the_condition() -> None:
    """A scenario's ``facts:`` (version and options per cluster) must hold on a real mesh;
    the expectation's own ``when:`` too."""
    pins = {"cluster2": {"cilium": "1.18", "policy-audit-mode": "true"}}
    assert Condition().with_pins({}) == Condition()
    condition = Condition.parse({"cilium": ">=1.18"}).with_pins(pins)
    [pin] = condition.pinned.values()
    assert pin.options == {"policy-audit-mode": "true"}
    good = facts({"cluster1": "1.19", "cluster2": "1.18.3"}, cluster2={"policy-audit-mode": "true"})
    assert condition.unmet(good) == []
    bad = facts({"cluster1": "1.17", "cluster2": "1.19"}, cluster2={"policy-audit-mode": "true"})
    assert condition.unmet(bad) == [
        "cluster1 runs Cilium 1.17",
        "the scenario's facts: pins cluster2 runs Cilium 1.19",
    ]
    unaudited = facts({"cluster1": "1.18", "cluster2": "1.18"})
    assert Condition().with_pins({"cluster2": {"policy-audit-mode": "true"}}).unmet(unaudited) == [
        "the scenario's facts: pins cluster2 has policy-audit-mode=false"
    ]
    # A pin of a cluster the mesh lacks is not this check's to report.
    assert Condition().with_pins({"cluster9": {"cilium": "1.18"}}).unmet(unaudited) == []


# -- the scenario expansion (scenario/load.py) ------------------------------------------------

BASE = """\
clusters: [cluster1, cluster2]
workloads:
  web: {role: server, labels: {app: web}, ports: [{port: 53, protocol: UDP}, 80]}
  probe: {role: client, labels: {app: probe}, clusters: [cluster1]}
  api: {role: server, labels: {app: api}, port: 8080, clusters: [cluster2], service: {name: api}}
  tester: {role: client, labels: {app: tester}}
steps:
  - name: only
    expect:
"""


def load(tmp_path: Path, expect: str, base: str = BASE) -> Scenario:
    """A scenario whose only step expects ``expect`` (YAML lines, indented six spaces)."""
    path = tmp_path / "pins.scenario.yaml"
    path.write_text(base + expect)
    return load_scenario(path)


def fails(tmp_path: Path, expect: str, base: str = BASE) -> str:
    """The error, without the file's path (which it must start with)."""
    with pytest.raises(ScenarioError) as caught:
        load(tmp_path, expect, base)
    prefix = f"{tmp_path / 'pins.scenario.yaml'}:"
    assert str(caught.value).startswith(prefix), str(caught.value)
    return str(caught.value).removeprefix(prefix)


@pytest.mark.parametrize(
    ("expect", "message"),
    [
        (
            "      - {from: cluster1/probe, to: service/api, verdict: deny,\n"
            "         served_by: cluster2}\n",
            "11: served_by needs verdict: allow",
        ),
        (
            "      - {from: cluster1/probe, to: cluster2/api, verdict: allow, served_by: cluster2}"
            "\n",
            "10: served_by applies to service/<name> targets",
        ),
        (
            "      - from: cluster1/probe\n        to: service/api\n        verdict: allow\n"
            "        served_by: [cluster2, cluster3]\n",
            "13: cluster 'cluster3' is not defined (clusters: cluster1, cluster2)",
        ),
        (
            "      - to: cluster1/web\n        from: cluster1/web\n        verdict: allow\n",
            "11: from: web is a server; probes start from client workloads",
        ),
        (
            "      - to: cluster1/web\n        from: cluster2/probe\n        verdict: allow\n",
            "11: workload 'probe' does not run in cluster2",
        ),
        (
            "      - from: '*/tester'\n        to: service/db\n        verdict: allow\n",
            "11: to: no workload has a Service 'db' (Services: api)",
        ),
        (
            "      - from: cluster1/probe\n        to: cluster1/tester\n        verdict: allow\n",
            "11: to: tester is a client; targets are servers",
        ),
        (
            "      - from: cluster1/probe\n        to: cluster1/web/x\n        verdict: allow\n",
            "11: workload 'web/x' is not defined (workloads: web, probe, api, tester)",
        ),
        (
            "      - from: /probe\n        to: cluster1/web\n        verdict: allow\n",
            "10: '/probe' is not cluster/workload (or service/<name>*; `*` for any)",
        ),
        (
            "      - from: cluster1/\n        to: cluster1/web\n        verdict: allow\n",
            "10: 'cluster1/' is not cluster/workload (or service/<name>*; `*` for any)",
        ),
        (
            "      - from: cluster1/probe\n        to: cluster1/web\n        port: 53\n"
            "        verdict: allow\n        http: {path: /}\n",
            "14: http applies to TCP probes",
        ),
    ],
)
def test_a_bad_expectation_says_what_and_on_which_line(
    tmp_path: Path, expect: str, message: str
) -> None:
    found = fails(tmp_path, expect)
    assert fnmatchcase(found, message), found  # `*`: target kinds added since


def test_a_pattern_that_matches_nothing_says_so(tmp_path: Path) -> None:
    only_servers_in_2 = BASE.replace(
        "tester: {role: client,", "tester: {role: client, clusters: [cluster1],"
    )
    assert (
        fails(
            tmp_path,
            "      - to: cluster1/web\n        from: 'cluster2/*'\n        verdict: allow\n",
            only_servers_in_2,
        )
        == "11: from: 'cluster2/*' matches no client workload"
    )
    assert (
        fails(
            tmp_path,
            "      - from: cluster1/probe\n        to: 'cluster1/api'\n        verdict: allow\n",
        )
        == "11: workload 'api' does not run in cluster1"
    )
    no_server_in_1 = BASE.replace(
        "ports: [{port: 53, protocol: UDP}, 80]}", "port: 80, clusters: [cluster2]}"
    )
    assert (
        fails(
            tmp_path,
            "      - from: cluster1/probe\n        to: 'cluster1/*'\n        verdict: allow\n",
            no_server_in_1,
        )
        == "11: to: 'cluster1/*' matches no server workload"
    )
    no_services = BASE.replace(", service: {name: api}", "")
    assert (
        fails(
            tmp_path,
            "      - from: cluster1/probe\n        to: service/api\n        verdict: allow\n",
            no_services,
        )
        == "11: to: no workload has a Service 'api' (Services: none)"
    )


def test_stars_skip_the_workloads_of_the_other_role(tmp_path: Path) -> None:
    """``*/*`` in ``from:`` names every client where it runs; in ``to:`` every server."""
    plan = load(tmp_path, "      - {from: '*/*', to: '*/*', verdict: allow}\n")
    probes = {(c.probe.source_cluster, c.probe.source, str(c.probe.target)) for c in plan.cases}
    sources = {(cluster, name) for cluster, name, _ in probes}
    targets = {target for _, _, target in probes}
    assert sources == {("cluster1", "probe"), ("cluster1", "tester"), ("cluster2", "tester")}
    assert targets == {"cluster1/web", "cluster2/web", "cluster2/api"}
    assert len(plan.cases) == 9


def test_a_probes_port_and_protocol(tmp_path: Path) -> None:
    """The target's first port unless the expectation names one; the protocol the workload
    declares for that port, TCP for a port it does not declare."""
    plan = load(
        tmp_path,
        "      - {from: cluster1/probe, to: cluster1/web, verdict: allow}\n"
        "      - {from: cluster1/probe, to: cluster1/web, port: 80, verdict: allow}\n"
        "      - {from: cluster1/probe, to: cluster1/web, port: 9000, verdict: allow}\n"
        "      - {from: cluster1/probe, to: cluster1/web, port: 9001, protocol: UDP, verdict: deny}"
        "\n",
    )
    assert [(c.probe.port, c.probe.protocol) for c in plan.cases] == [
        (53, "UDP"),
        (80, "TCP"),
        (9000, "TCP"),
        (9001, "UDP"),
    ]


def test_served_by_and_roles_are_bound_per_probe(tmp_path: Path) -> None:
    plan = load(
        tmp_path,
        "      - {from: cluster1/probe, to: service/api, verdict: allow, served_by: cluster2}\n"
        "      - from: cluster1/probe\n        to: service/api\n        verdict: allow\n"
        "        port: 8081\n        served_by: [cluster1, cluster2]\n"
        "      - from: cluster1/probe\n        to: cluster2/api\n        verdict: allow\n"
        "        when: {destination: {cilium: '>=1.18'}}\n"
        "      - from: cluster1/probe\n        to: service/api\n        verdict: deny\n"
        "        port: 8082\n        when: {source: {cilium: '>=1.18'}}\n",
    )
    one, both, pod, service = plan.cases
    assert one.served_by == frozenset({"cluster2"})
    assert both.served_by == frozenset({"cluster1", "cluster2"})
    assert pod.when is not None and pod.when.roles == {
        "source": "cluster1",
        "destination": "cluster2",
    }
    assert service.when is not None and service.when.roles == {"source": "cluster1"}


def test_two_expectations_of_one_probe_name_the_line_of_each(tmp_path: Path) -> None:
    same = "      - {from: cluster1/probe, to: cluster1/web, verdict: allow}\n"
    assert fails(tmp_path, same + same) == (
        "11: two expectations for only::cluster1/probe->cluster1/web:53/UDP (the other at "
        "line 10); merge them or tell them apart with different when: conditions"
    )


ONE_EXPECTATION = "    expect: [{from: cluster1/probe, to: cluster1/web, verdict: allow}]\n"


def test_an_unknown_policy_suggests_the_closest_name(tmp_path: Path) -> None:
    base = BASE.replace(
        "steps:",
        "policies:\n  allow-web: {file: a.yaml}\n  allow-api: {file: a.yaml}\n"
        "  deny-all: {file: a.yaml}\nsteps:",
    ).replace(
        "    expect:\n",
        "    policies: {cluster1: [allow-wbe]}\n" + ONE_EXPECTATION,
    )
    assert fails(tmp_path, "", base) == (
        "13: policy 'allow-wbe' is not defined under policies (did you mean 'allow-web'? "
        "defined: allow-web, allow-api, deny-all); to name a file, give its path with its "
        ".yaml suffix"
    )


def applying(tmp_path: Path, **files: str) -> str:
    """BASE whose only step applies a policy file per keyword (its name, with ``.yaml``)."""
    for name, text in files.items():
        (tmp_path / f"{name}.yaml").write_text(text)
    defined = "".join(f"  {name}: {{file: {name}.yaml}}\n" for name in files)
    base = BASE.replace("steps:", f"policies:\n{defined}steps:")
    applied = f"    policies: {{cluster1: [{', '.join(files)}]}}\n"
    return base.replace("    expect:\n", applied + ONE_EXPECTATION)


def test_two_policies_of_one_name_in_a_step_point_at_the_second_name(tmp_path: Path) -> None:
    policy = (
        "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata:\n  name: same\n"
        "spec:\n  endpointSelector: {}\n  ingress: [{}]\n"
    )
    base = applying(tmp_path, a=policy, b="# the same name\n\n" + policy)
    with pytest.raises(ScenarioError) as caught:
        load(tmp_path, "", base)
    assert str(caught.value) == (
        f"{tmp_path / 'b.yaml'}:6: step 'only' applies two CiliumNetworkPolicy objects named "
        f"'same' in the same namespace to cluster1 (the other at {tmp_path / 'a.yaml'}:1); one "
        "cluster holds one policy per name"
    )


def test_two_clusterwide_policies_of_one_name_are_named_as_written(tmp_path: Path) -> None:
    """The name a cluster-wide policy is applied under carries the run's deployment key (so two
    runs on one mesh do not share it); the message names the policy as the file does."""
    policy = (
        "apiVersion: cilium.io/v2\nkind: CiliumClusterwideNetworkPolicy\nmetadata:\n"
        "  name: same\nspec:\n  endpointSelector: {}\n  ingress: [{}]\n"
    )
    base = applying(tmp_path, a=policy, b=policy)
    with pytest.raises(ScenarioError) as caught:
        load(tmp_path, "", base)
    assert str(caught.value) == (
        f"{tmp_path / 'b.yaml'}:4: step 'only' applies two CiliumClusterwideNetworkPolicy "
        f"objects named 'same' cluster-wide to cluster1 (the other at {tmp_path / 'a.yaml'}:1); "
        "one cluster holds one policy per name"
    )


@pytest.mark.parametrize("metadata", ["metadata: {}\n", "", "metadata: {name: ''}\n"])
def test_a_policy_without_a_name_is_refused_at_collection(tmp_path: Path, metadata: str) -> None:
    """The API server stores an object by its name and refuses one without ("name or
    generateName is required", ValidateObjectMeta); applied, it would fail mid-run."""
    base = applying(
        tmp_path,
        a=f"apiVersion: cilium.io/v2\nkind: CiliumClusterwideNetworkPolicy\n{metadata}"
        "spec:\n  endpointSelector: {}\n  ingress: [{}]\n",
    )
    with pytest.raises(ScenarioError) as caught:
        load(tmp_path, "", base)
    line = 3 if metadata else 1
    assert str(caught.value) == (
        f"{tmp_path / 'a.yaml'}:{line}: metadata.name is required: the API server keeps a "
        "policy by its name"
    )


@pytest.mark.parametrize("over", [0, 1])
def test_a_templated_label_value_is_checked_at_the_length_a_default_run_gives_it(
    tmp_path: Path, over: int
) -> None:
    """At collection no run id exists yet: policies are rendered against one as long as a
    default run's (six hex digits), so a label value built from the namespace's name is refused
    there exactly when a default run's API server would refuse it (63 characters at most)."""
    plain = load(tmp_path, "      - {from: cluster1/probe, to: cluster1/web, verdict: allow}\n")
    namespace = build_deployment(plain, new_run_id()).namespaces[0].name
    value = "{{ namespace }}" + "x" * (63 - len(namespace) + over)
    policy = (
        "{apiVersion: cilium.io/v2, kind: CiliumNetworkPolicy, metadata: {name: p}, "
        f"spec: {{endpointSelector: {{matchLabels: {{app: '{value}'}}}}, ingress: [{{}}]}}}}"
    )
    base = BASE.replace("steps:", f"policies:\n  p: {{inline: {policy}}}\nsteps:")
    base = base.replace("    expect:\n", "    policies: {cluster1: [p]}\n" + ONE_EXPECTATION)
    if not over:
        load(tmp_path, "", base)
        return
    rendered = namespace.replace(namespace.split("-")[1], PLACEHOLDER_RUN_ID) + "x" * (
        64 - len(namespace)
    )
    assert fails(tmp_path, "", base) == (
        f"8: spec.endpointSelector.matchLabels.app: {rendered!r} is too long"
    )


def test_sources_and_targets_resolved_for_a_python_test(tmp_path: Path) -> None:
    plan = load(tmp_path, "      - {from: cluster1/probe, to: cluster1/web, verdict: allow}\n")
    assert resolve_sources(plan, "*/tester") == [("cluster1", "tester"), ("cluster2", "tester")]
    assert resolve_targets(plan, "service/api") == [(ServiceTarget("api"), "api")]
    assert resolve_targets(plan, "*/web") == [
        (PodTarget("cluster1", "web"), "web"),
        (PodTarget("cluster2", "web"), "web"),
    ]


def test_a_python_tests_scenario_reads_policy_files_beside_its_path(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(
        "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: p}\n"
        "spec: {endpointSelector: {}, ingress: [{}]}\n"
    )
    data = {
        "clusters": ["cluster1"],
        "workloads": {
            "c": {"role": "client", "labels": {"app": "c"}},
            "s": {"role": "server", "labels": {"app": "s"}, "port": 80},
        },
        "steps": [
            {
                "name": "one",
                "policies": {"cluster1": ["p.yaml"]},
                "expect": [{"from": "cluster1/c", "to": "cluster1/s", "verdict": "allow"}],
            }
        ],
    }
    plan = expand_scenario(data, tmp_path / "test_x.py")
    assert plan.policies["p.yaml"].locations[0].path == tmp_path / "p.yaml"


TO_PORTS_BAD = "spec.ingress[0].toPorts: bad"


@pytest.mark.parametrize(
    ("message", "path", "shown"),
    [
        ("must be a list", (), "must be a list"),
        ("spec.ingress[0].toPorts: bad", ("spec", "ingress", 0, "toPorts"), TO_PORTS_BAD),
        ("toPorts: bad", ("spec", "ingress", 0, "toPorts"), "spec.ingress[0].toPorts: bad"),
        ("bad", ("spec", "ingress", 0, "toPorts"), "spec.ingress[0].toPorts: bad"),
        ("spec.ingress[0].toPorts.ports is empty", ("spec", "ingress", 0, "toPorts"),
         "spec.ingress[0].toPorts.ports is empty"),
        ("ingress: toPorts: x", ("spec", "ingress", 0, "toPorts"),
         "spec.ingress[0].toPorts: ingress: toPorts: x"),
        ("bad", ("Xspec", 0), "Xspec[0]: bad"),
    ],
)  # fmt: skip
def test_a_policy_error_names_its_path_once(
    message: str, path: tuple[str | int, ...], shown: str
) -> None:
    assert _policy_message(InvalidPolicy(message, path)) == shown


def test_a_matrix_expands_per_source_and_target_and_an_expectation_replaces_its_cell(
    tmp_path: Path,
) -> None:
    """Matrix cells first (expected to get what the model predicts), a pinned expectation of
    the same probe in its cell's place, the other pinned expectations after."""
    base = BASE.replace(
        "    expect:\n",
        "    matrix: {from: '*/tester', to: [cluster1/web, service/api]}\n    expect:\n",
    )
    plan = load(
        tmp_path,
        "      - {from: cluster2/tester, to: cluster1/web, verdict: deny, xfail: known gap}\n"
        "      - {from: cluster1/probe, to: cluster1/web, verdict: allow}\n",
        base,
    )
    assert [(c.id, c.verdict, c.line, c.xfail) for c in plan.cases] == [
        ("cluster1/tester->cluster1/web:53/UDP", None, 9, None),
        ("cluster2/tester->cluster1/web:53/UDP", Verdict.DENY, 11, "known gap"),
        ("cluster1/tester->service/api:8080", None, 9, None),
        ("cluster2/tester->service/api:8080", None, 9, None),
        ("cluster1/probe->cluster1/web:53/UDP", Verdict.ALLOW, 12, None),
    ]


def test_a_matrix_port_and_protocol_apply_to_every_cell(tmp_path: Path) -> None:
    base = BASE.replace(
        "    expect:\n",
        "    matrix: {from: cluster1/probe, to: '*/web', port: 80, protocol: UDP}\n"
        "    expect: []\n",
    )
    plan = load(tmp_path, "", base)
    assert [c.id for c in plan.cases] == [
        "cluster1/probe->cluster1/web:80/UDP",
        "cluster1/probe->cluster2/web:80/UDP",
    ]
    bad = base.replace("to: '*/web'", "to: '*/nothing'")
    assert fails(tmp_path, "", bad) == (
        "9: workload 'nothing' is not defined (workloads: web, probe, api, tester)"
    )


def test_an_http_expectation_carries_its_request(tmp_path: Path) -> None:
    plan = load(
        tmp_path,
        "      - from: cluster1/probe\n        to: cluster1/web\n        port: 80\n"
        "        verdict: deny\n"
        "        http: {method: POST, path: /x, host: h.example, headers: {X-A: '1', X-B: '2'}}\n",
    )
    [case] = plan.cases
    assert case.probe.http == HttpRequest("POST", "/x", "h.example", (("X-A", "1"), ("X-B", "2")))
    assert case.probe.expect is Verdict.DENY
    assert case.verdict is Verdict.DENY


def test_a_scenarios_facts_alone_make_a_condition(tmp_path: Path) -> None:
    """``facts:`` pins hold for every expectation, with or without its own ``when:``."""
    base = "facts: {cluster2: {cilium: '1.18'}}\n" + BASE
    plan = load(
        tmp_path, "      - {from: cluster1/probe, to: cluster1/web, verdict: allow}\n", base
    )
    [case] = plan.cases
    assert case.when is not None and set(case.when.pinned) == {"cluster2"}
    plain = load(tmp_path, "      - {from: cluster1/probe, to: cluster1/web, verdict: allow}\n")
    assert plain.cases[0].when is None


def test_a_destination_fact_for_a_service_says_why_not(tmp_path: Path) -> None:
    assert fails(
        tmp_path,
        "      - from: cluster1/probe\n        to: service/api\n        verdict: allow\n"
        "        when: {destination: {cilium: '>=1.18'}}\n",
    ) == (
        "13: when: destination: service/api is a Service, and which cluster serves it is not "
        "fixed; name the cluster (cluster1: {...}) or probe cluster/workload"
    )


# -- more of facts.py: messages and the simulated mesh's settings ----------------------------


def test_a_scoped_condition_of_two_facts_is_named_by_both() -> None:
    condition = Condition.parse(
        {"cluster2": {"enable-policy": "always", AUDIT: True}}, clusters=CLUSTERS
    )
    assert condition.text == "cluster2.enable-policy=always, cluster2.policy-audit-mode=true"
    [inner] = condition.scoped.values()
    assert inner.text == "enable-policy=always, policy-audit-mode=true"


def test_why_a_condition_never_holds() -> None:
    assert Condition(version_specifier(">=1.21")).why_never() == (
        "cilium: no modelled Cilium version (1.16 to 1.20) is in the range '>=1.21'"
    )
    # The option that cannot hold is named, not the first one.
    with pytest.raises(ConditionError) as caught:
        Condition.parse({"enable-policy": "always", PDLC: True, "cilium": "<1.18"})
    assert str(caught.value) == (
        "can never hold: policy-default-local-cluster=true is possible on Cilium 1.18, 1.19, "
        "1.20 only, and cilium: '<1.18' excludes them"
    )


@pytest.mark.parametrize(
    ("spec", "release"),
    [
        # Only a patch release inside the range (1.19.4) puts 1.19 in it.
        (">1.19.3,<1.19.5", "1.19"),
        # 1.19.0 is, though 1.19.1 is named.
        ("<1.19.1,>=1.19", "1.19"),
        # A wildcard of a patch release: only 1.19.2 (and its post releases) is inside.
        ("==1.19.2.*", "1.19"),
    ],
)
def test_a_range_holds_a_release_when_one_of_its_versions_is_inside(
    spec: str, release: str
) -> None:
    assert Condition.parse({"cilium": spec}).releases() == [Version(release)]


def test_the_source_cluster_missing_does_not_hide_the_destinations_facts() -> None:
    condition = Condition.parse(
        {"source": {"cilium": "1.18"}, "destination": {AUDIT: False}}, clusters=CLUSTERS
    )
    mesh = facts({"cluster1": "1.18", "cluster2": "1.19"}, cluster2={AUDIT: "true"})
    assert condition.for_probe("cluster3", "cluster2").unmet(mesh) == [
        "the mesh has no cluster cluster3",
        "the destination cluster2 has policy-audit-mode=true",
    ]


@pytest.mark.parametrize(
    ("raw", "clusters", "message"),
    [
        # No close match: no suggestion.
        (
            {"zzz": 1},
            CLUSTERS,
            "unknown fact 'zzz' (known: cilium, policy-default-local-cluster, enable-policy, "
            "policy-audit-mode*; or, holding such facts, a cluster (cluster1, cluster2), "
            "source or destination)",
        ),
        # No cluster of the scenario given: only the roles.
        (
            {"zzz": 1},
            [],
            "unknown fact 'zzz' (known: cilium, *; or, holding such facts, source or destination)",
        ),
        # A boolean where a mode is expected is shown as YAML wrote it.
        ({"enable-policy": True}, [], "enable-policy takes default, always or never, not true"),
    ],
)
def test_messages_of_a_bad_fact(raw: dict[str, object], clusters: list[str], message: str) -> None:
    with pytest.raises(ConditionError) as caught:
        Condition.parse(raw, clusters=clusters)
    assert fnmatchcase(str(caught.value), message), str(caught.value)


@pytest.mark.parametrize(
    ("raw", "message", "path"),
    [
        (
            {"zzz": {"cilium": "1.18"}},
            "no cluster 'zzz' in the scenario (clusters: cluster1, cluster2)",
            ("zzz",),
        ),
        ({"cluster1": "1.18"}, "expected a mapping such as {cilium: '1.18'}", ("cluster1",)),
        (
            {"cluster1": {"cilium": "<1.18"}},
            "cilium: one version such as '1.18', not the range '<1.18'",
            C1_CILIUM,
        ),
        (
            {"cluster1": {"cilium": "1.17", PDLC: True}},
            "policy-default-local-cluster: the option does not exist in Cilium 1.17 "
            "(introduced in 1.18)",
            ("cluster1", PDLC),
        ),
        (
            # Each option names its own release (cilium#47227 added this one in 1.20).
            {"cluster1": {"cilium": "1.19", "enable-k8s-cluster-network-policy": True}},
            "enable-k8s-cluster-network-policy: the option does not exist in Cilium 1.19 "
            "(introduced in 1.20)",
            ("cluster1", "enable-k8s-cluster-network-policy"),
        ),
        (
            {"cluster1": {"zzz": True}},
            "unknown fact 'zzz' (known: cilium, policy-default-local-cluster, enable-policy, "
            "policy-audit-mode*)",
            ("cluster1", "zzz"),
        ),
    ],
)
def test_bad_pins_say_what_and_where(
    raw: dict[str, object], message: str, path: tuple[str, ...]
) -> None:
    with pytest.raises(ConditionError) as caught:
        parse_pins(raw, CLUSTERS)
    assert fnmatchcase(str(caught.value), message), str(caught.value)
    assert caught.value.path == path


def test_the_simulated_meshs_settings_and_the_options_that_give_them() -> None:
    settings = SimSettings(
        "1.19",
        {AUDIT: "true"},
        {"cluster2": "1.18"},
        {"cluster1": {"enable-policy": "always"}, "cluster2": {AUDIT: "false", PDLC: "true"}},
    )
    assert settings.facts_of("cluster2", 7) == ClusterFacts(
        "cluster2",
        "cluster2",
        7,
        Version("1.18"),
        resolve_options(Version("1.18"), {AUDIT: "false", PDLC: "true"}),
    )
    assert settings.version_arg() == "1.19,cluster2=1.18"
    assert settings.option_args() == [
        "policy-audit-mode=true",
        "cluster1:enable-policy=always",
        "cluster2:policy-audit-mode=false",
        "cluster2:policy-default-local-cluster=true",
    ]


def test_a_cluster_name_on_the_command_line_is_a_dns_label() -> None:
    assert parse_versions("1.19,cluster-2=1.18", "--sim-cilium-version") == (
        "1.19",
        {"cluster-2": "1.18"},
    )
    with pytest.raises(ValueError) as caught:
        parse_versions("Cluster_2=1.18", "--sim-cilium-version")
    assert str(caught.value) == (
        "--sim-cilium-version: 'Cluster_2' is not a cluster name (lower-case letters, digits, -)"
    )


# -- probes that are not of a server workload: DNS, pings, the API server, externals ---------

EXTERNALS = BASE.replace(
    "steps:",
    "externals:\n  site: {hostname: example.com}\nsteps:",
)


@pytest.mark.parametrize(
    ("expect", "message"),
    [
        # s17: a DNS query goes to kube-dns on UDP 53; nothing of it can be chosen.
        (
            "      - from: cluster1/probe\n        to: dns/example.com\n        verdict: allow\n"
            "        port: 54\n",
            "15: to: dns/example.com is a DNS query, which goes to kube-dns on UDP 53; leave "
            "port out",
        ),
        (
            "      - from: cluster1/probe\n        to: dns/example.com\n        verdict: allow\n"
            "        protocol: TCP\n",
            "15: to: dns/example.com is a DNS query, which goes to kube-dns on UDP 53; leave "
            "protocol out",
        ),
        # s16: a ping has no port and no HTTP, and a Service address does not answer it.
        (
            "      - from: cluster1/probe\n        to: cluster1/web\n        verdict: allow\n"
            "        protocol: ICMP\n        port: 80\n",
            "16: protocol: ICMP sends a ping (an echo request), which has no port; leave port out",
        ),
        (
            "      - from: cluster1/probe\n        to: cluster1/web\n        verdict: allow\n"
            "        protocol: ICMP\n        http: {path: /}\n",
            "16: http applies to TCP probes, not ICMP",
        ),
        (
            "      - from: cluster1/probe\n        to: service/api\n        verdict: allow\n"
            "        protocol: ICMP\n",
            "15: protocol: ICMP to service/api: Cilium's load balancer translates TCP, UDP and "
            "SCTP ports, not pings, so a ping of a Service address never reaches a backend and "
            "tests no policy; ping cluster/workload targets instead",
        ),
        (
            "      - from: cluster1/probe\n        to: entity/kube-apiserver\n"
            "        verdict: allow\n"
            "        protocol: UDP\n",
            "15: to: entity/kube-apiserver speaks TCP only",
        ),
        (
            "      - from: cluster1/probe\n        to: external/site\n        verdict: allow\n",
            "13: to: external/site needs a port (an external destination has no server "
            "workload to take one from), or protocol: ICMP",
        ),
        (
            "      - from: cluster1/probe\n        to: external/site\n        verdict: allow\n"
            "        port: 53\n        protocol: UDP\n        http: {path: /}\n",
            "17: http applies to TCP probes",
        ),
    ],
)
def test_a_bad_probe_of_another_kind_says_what_and_on_which_line(
    tmp_path: Path, expect: str, message: str
) -> None:
    assert fails(tmp_path, expect, EXTERNALS) == message


def test_the_port_and_protocol_of_probes_of_other_kinds(tmp_path: Path) -> None:
    plan = load(
        tmp_path,
        "      - {from: cluster1/probe, to: dns/example.com, verdict: allow}\n"
        "      - {from: cluster1/probe, to: cluster1/web, protocol: ICMP, verdict: allow}\n"
        "      - {from: cluster1/probe, to: entity/kube-apiserver, verdict: allow}\n"
        "      - {from: cluster1/probe, to: entity/kube-apiserver, port: 443, verdict: allow}\n"
        "      - {from: cluster1/probe, to: external/site, port: 443, verdict: allow}\n"
        "      - {from: cluster1/probe, to: external/site, port: 53, protocol: UDP,"
        " verdict: deny}\n",
        EXTERNALS,
    )
    assert [(c.probe.port, c.probe.protocol) for c in plan.cases] == [
        (53, "UDP"),
        (0, "ICMP"),
        (6443, "TCP"),  # the API server's port unless one is named
        (443, "TCP"),
        (443, "TCP"),
        (53, "UDP"),
    ]


def test_cluster_network_policy_exists_from_1_20() -> None:
    """``enable-k8s-cluster-network-policy`` was added in Cilium 1.20 (cilium#47227)."""
    option = "enable-k8s-cluster-network-policy"
    assert not option_exists(option, parse_version("1.19.9"))
    assert option_exists(option, parse_version("1.20.0"))
    assert option_exists(option, parse_version("1.21.0"))


TWO_EXTERNALS = EXTERNALS.replace(
    "site: {hostname: example.com}", "site: {hostname: example.com}\n  bare: {address: 192.0.2.1}"
)


@pytest.mark.parametrize(
    ("expect", "message"),
    [
        (
            "      - from: cluster1/probe\n        to: entity/host\n        verdict: allow\n",
            "14: to: entity/host: the only entity a probe can reach is entity/kube-apiserver "
            "(host and remote-node need a host-network server, world is an external/<name>)",
        ),
        (
            "      - from: cluster1/probe\n        to: dns/bad_name\n        verdict: allow\n",
            "14: to: 'bad_name' is not a DNS name to query (labels of letters, digits and '-' "
            "joined by '.')",
        ),
        (
            "      - from: cluster1/probe\n        to: external/nowhere\n        verdict: allow\n",
            "14: to: no external 'nowhere' (externals: site, bare)",
        ),
        (
            "      - from: cluster1/probe\n        to: service/db\n        verdict: allow\n",
            "14: to: no workload has a Service 'db' (Services: web, api)",
        ),
    ],
)
def test_a_target_that_names_nothing_says_what_there_is(
    tmp_path: Path, expect: str, message: str
) -> None:
    base = TWO_EXTERNALS.replace(
        "protocol: UDP}, 80]}", "protocol: UDP}, 80], service: {name: web}}"
    )
    assert fails(tmp_path, expect, base) == message


def test_an_external_target_keeps_its_address_and_name(tmp_path: Path) -> None:
    base = EXTERNALS.replace(
        "site: {hostname: example.com}",
        "site: {hostname: example.com}\n  bare: {address: 192.0.2.1}",
    )
    plan = load(
        tmp_path,
        "      - {from: cluster1/probe, to: external/site, port: 80, verdict: allow,"
        " http: {path: /}}\n"
        "      - {from: cluster1/probe, to: external/bare, port: 80, protocol: TCP,"
        " verdict: deny}\n"
        "      - {from: cluster1/probe, to: entity/kube-apiserver, protocol: TCP,"
        " verdict: allow}\n",
        base,
    )
    site, bare, api = (case.probe for case in plan.cases)
    assert site.target == ExternalTarget("site", None, "example.com")
    assert site.http is not None and (site.port, site.protocol) == (80, "TCP")
    assert bare.target == ExternalTarget("bare", "192.0.2.1", None)
    assert (api.port, api.protocol) == (6443, "TCP")


# -- where a policy's error points --------------------------------------------------------------

POLICY = (
    "      apiVersion: cilium.io/v2\n      kind: CiliumNetworkPolicy\n"
    "      metadata: {{name: {name}{extra}}}\n"
    "      spec: {{endpointSelector: {{}}, ingress: [{{}}]}}\n"
)


def with_policies(policies: str, step: str) -> str:
    """BASE with ``policies:`` (YAML lines) and the step's ``policies:`` (YAML lines)."""
    return BASE.replace("steps:", f"policies:\n{policies}steps:").replace(
        "    expect:\n", step + ONE_EXPECTATION
    )


def test_two_inline_policies_of_one_name_point_at_each_document(tmp_path: Path) -> None:
    # Two documents of one inline list: each located at its own line.
    policies = (
        "  a:\n    inline:\n"
        "    - apiVersion: cilium.io/v2\n      kind: CiliumNetworkPolicy\n"
        "      metadata: {name: one}\n      spec: {endpointSelector: {}, ingress: [{}]}\n"
        "    - apiVersion: cilium.io/v2\n      kind: CiliumNetworkPolicy\n"
        "      metadata: {name: same}\n      spec: {endpointSelector: {}, ingress: [{}]}\n"
        "  b:\n    inline:\n"
        "      apiVersion: cilium.io/v2\n      kind: CiliumNetworkPolicy\n"
        "      metadata: {name: same}\n      spec: {endpointSelector: {}, ingress: [{}]}\n"
    )
    base = with_policies(policies, "    policies: {cluster1: [a, b]}\n")
    message = fails(tmp_path, "", base)
    assert message == (
        f"22: step 'only' applies two CiliumNetworkPolicy objects named 'same' in the same "
        f"namespace to cluster1 (the other at {tmp_path / 'pins.scenario.yaml'}:14); one "
        "cluster holds one policy per name"
    )
    plan = load(tmp_path, "", with_policies(policies, "    policies: {cluster1: [a]}\n"))
    source = plan.policies["a"]
    assert source.ref == "a"
    assert [location.line for location in source.locations] == [10, 14]
    assert {location.path for location in source.locations} == {tmp_path / "pins.scenario.yaml"}


def test_an_unknown_policy_is_reported_where_it_is_referenced(tmp_path: Path) -> None:
    """Under its cluster's list, or under ``*``, at its own item."""
    policies = "  a: {file: a.yaml}\n"
    (tmp_path / "a.yaml").write_text(POLICY.format(name="a", extra="").replace("      ", ""))
    by_cluster = "    policies:\n      '*':\n      - a\n      cluster1:\n      - a\n      - zzz\n"
    assert fails(tmp_path, "", with_policies(policies, by_cluster)).startswith(
        "16: policy 'zzz' is not defined under policies"
    )
    by_star = "    policies:\n      cluster1:\n      - a\n      '*':\n      - a\n      - zzz\n"
    assert fails(tmp_path, "", with_policies(policies, by_star)).startswith(
        "16: policy 'zzz' is not defined under policies"
    )


def test_a_policy_in_a_namespace_the_scenario_lacks_points_at_its_metadata(
    tmp_path: Path,
) -> None:
    policies = (
        "  a:\n    inline:\n      apiVersion: cilium.io/v2\n      kind: CiliumNetworkPolicy\n"
        "      metadata:\n        name: a\n        namespace: elsewhere\n"
        "      spec: {endpointSelector: {}, ingress: [{}]}\n"
    )
    base = with_policies(policies, "    policies: {cluster1: [a]}\n")
    message = fails(tmp_path, "", base)
    assert message.startswith("12: metadata.namespace 'elsewhere' is not a namespace of the ")


def test_served_by_of_a_target_no_service_points_at_the_key_at_fault(tmp_path: Path) -> None:
    """A pod target: its ``to:``; an external, DNS or API server target: ``served_by``."""
    pod = "      - from: cluster1/probe\n        verdict: allow\n        to: cluster1/web\n"
    assert fails(tmp_path, pod + "        served_by: cluster1\n", EXTERNALS) == (
        "14: served_by applies to service/<name> targets"
    )
    api = (
        "      - from: cluster1/probe\n        to: entity/kube-apiserver\n        verdict: allow\n"
    )
    assert fails(tmp_path, api + "        served_by: cluster1\n", EXTERNALS) == (
        "15: served_by applies to service/<name> targets"
    )


def test_a_matrix_of_dns_and_api_server_targets(tmp_path: Path) -> None:
    base = BASE.replace(
        "    expect:\n",
        "    matrix: {from: cluster1/probe, to: [dns/example.com, entity/kube-apiserver]}\n"
        "    expect: []\n",
    )
    plan = load(tmp_path, "", base)
    assert [(c.probe.port, c.probe.protocol) for c in plan.cases] == [(53, "UDP"), (6443, "TCP")]


TESTER = "  tester: {role: client, labels: {app: tester}}\n"


@pytest.mark.parametrize(
    ("base", "message"),
    [
        (
            BASE.replace("[cluster1, cluster2]", "\n  - cluster1\n  - cluster2\n  - cluster2"),
            "1: cluster 'cluster2' is listed twice",
        ),
        (
            "namespaces: {default: {}, extra: {}}\n"
            + BASE.replace(TESTER, "  tester:\n    role: client\n    namespace: other\n"),
            "9: workload tester: namespace 'other' is not defined (namespaces: default, extra)",
        ),
        (
            BASE.replace(TESTER, "  tester:\n    role: client\n    clusters: [cluster3]\n"),
            "8: cluster 'cluster3' is not defined (clusters: cluster1, cluster2)",
        ),
        (
            BASE.replace(TESTER, "  tester:\n    role: client\n    replicas:\n      cluster3: 2\n"),
            "9: cluster 'cluster3' is not defined (clusters: cluster1, cluster2)",
        ),
        (
            BASE.replace(
                TESTER, TESTER + "  db:\n    role: server\n    port: 80\n    service: {name: api}\n"
            ),
            "10: Service 'api' is defined by api and db",
        ),
    ],
)
def test_a_reference_to_nothing_says_where(tmp_path: Path, base: str, message: str) -> None:
    assert (
        fails(tmp_path, "      - {from: cluster1/probe, to: cluster1/web, verdict: allow}\n", base)
        == message
    )


@pytest.mark.parametrize(
    ("to", "why"),
    [
        ("entity/kube-apiserver", "is the source's own cluster's API server; use source: {...}"),
        ("dns/example.com", "is a query to the source's own cluster DNS; use source: {...}"),
        (
            "external/site",
            "is outside the mesh and has no cluster; use source: {...} or a cluster's name",
        ),
        (
            "service/api",
            "is a Service, and which cluster serves it is not fixed; name the cluster "
            "(cluster1: {...}) or probe cluster/workload",
        ),
    ],
)
def test_a_destination_fact_of_a_target_without_a_cluster_says_why(
    tmp_path: Path, to: str, why: str
) -> None:
    expect = (
        f"      - from: cluster1/probe\n        to: {to}\n        verdict: allow\n"
        "        port: 80\n        when:\n          destination: {cilium: '>=1.18'}\n"
    )
    if to.startswith(("dns/", "entity/")):
        expect = expect.replace("        port: 80\n", "")
    line = 17 if "port: 80" in expect else 16
    assert fails(tmp_path, expect, EXTERNALS) == f"{line}: when: destination: {to} {why}"


def test_facts_and_when_together(tmp_path: Path) -> None:
    base = "facts: {cluster2: {cilium: '1.18'}}\n" + BASE
    plan = load(
        tmp_path,
        "      - {from: cluster1/probe, to: cluster1/web, verdict: allow,"
        " when: {cilium: '1.18'}}\n",
        base,
    )
    [case] = plan.cases
    assert case.when is not None and set(case.when.pinned) == {"cluster2"}
    assert case.when.text == "cilium=1.18"


def test_a_policy_files_problems_point_at_the_file(tmp_path: Path) -> None:
    (tmp_path / "empty.yaml").write_text("# nothing\n")
    (tmp_path / "text.yaml").write_text("just text\n")
    base = with_policies("  a:\n    file: missing.yaml\n", "    policies: {cluster1: [a]}\n")
    assert fails(tmp_path, "", base).startswith("9: policy file 'missing.yaml' not found")
    base = with_policies("  a: {file: empty.yaml}\n", "    policies: {cluster1: [a]}\n")
    with pytest.raises(ScenarioError) as caught:
        load(tmp_path, "", base)
    assert str(caught.value) == f"{tmp_path / 'empty.yaml'}: the policy file holds no document"
    base = with_policies("  a: {file: text.yaml}\n", "    policies: {cluster1: [a]}\n")
    with pytest.raises(ScenarioError) as caught:
        load(tmp_path, "", base)
    assert str(caught.value) == f"{tmp_path / 'text.yaml'}: a policy document must be a mapping"
    (tmp_path / "p.yaml").write_text(
        "# a policy\napiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: p}\n"
        "spec: {endpointSelector: {}, ingress: [{}]}\n"
    )
    plan = load(
        tmp_path, "", with_policies("  a: {file: p.yaml}\n", "    policies: {cluster1: [a]}\n")
    )
    source = plan.policies["a"]
    assert source.ref == "a"
    assert source.locations == (Location(tmp_path / "p.yaml", 2),)


def test_a_pin_of_an_unknown_fact_lists_the_facts_only(tmp_path: Path) -> None:
    """In ``facts:`` a cluster is already named: no cluster or role is suggested."""
    with pytest.raises(ConditionError) as caught:
        parse_pins({"cluster1": {"zzz": True}}, CLUSTERS)
    assert str(caught.value) == f"unknown fact 'zzz' (known: cilium, {', '.join(KNOWN_OPTIONS)})"


def test_served_by_needs_a_tcp_probe_and_a_known_cluster_is_checked_where_named(
    tmp_path: Path,
) -> None:
    udp = (
        "      - from: cluster1/probe\n        to: service/api\n        verdict: allow\n"
        "        protocol: UDP\n        served_by: cluster2\n"
    )
    assert fails(tmp_path, udp).startswith("14: served_by needs a TCP probe: over UDP ")
    unknown = "      - from: cluster1/probe\n        verdict: allow\n        to: cluster9/web\n"
    assert fails(tmp_path, unknown) == (
        "12: cluster 'cluster9' is not defined (clusters: cluster1, cluster2)"
    )


# -- the simulated mesh's command line: --sim-cilium-version and --sim-option ------------------

SRC = "--sim-cilium-version"


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("1.19", ("1.19", {})),
        (" 1.19 , cluster2 = 1.18 ", ("1.19", {"cluster2": "1.18"})),
        ("cluster1=1.18,cluster2=1.20.1", ("", {"cluster1": "1.18", "cluster2": "1.20.1"})),
    ],
)
def test_sim_versions_parse(text: str, parsed: tuple[str, dict[str, str]]) -> None:
    assert parse_versions(text, SRC) == parsed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", f"{SRC}: '': expected VERSION or CLUSTER=VERSION,... (e.g. 1.19 or "
         "cluster1=1.18,cluster2=1.19)"),
        ("1.19,", f"{SRC}: '1.19,': expected VERSION or CLUSTER=VERSION,*"),
        ("=1.19", f"{SRC}: '=1.19': expected VERSION or CLUSTER=VERSION,*"),
        ("cluster1=", f"{SRC}: 'cluster1=': expected VERSION or CLUSTER=VERSION,*"),
        ("1.19,1.18", f"{SRC}: two versions for every cluster: 1.19 and 1.18"),
        ("c1=1.19,c1=1.18", f"{SRC} names the cluster 'c1' twice"),
        ("1.15", f"{SRC}: the simulated mesh models Cilium 1.16 to 1.20, not 1.15"),
        ("one", f"{SRC}: not a Cilium version: 'one'"),
    ],
)  # fmt: skip
def test_bad_sim_versions_say_why(text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_versions(text, SRC)
    assert fnmatchcase(str(caught.value), message), str(caught.value)


def test_sim_options_parse() -> None:
    items = [f"{AUDIT}=True", f" cluster2 : {PDLC} = FALSE", f"{AUDIT}=true"]
    assert parse_option_items(items, "--sim-option") == (
        {AUDIT: "true"},
        {"cluster2": {PDLC: "false"}},
    )


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([f"{AUDIT}"], f"--sim-option {AUDIT!r}: expected [[]CLUSTER:]KEY=VALUE with KEY one of "
         f"{', '.join(KNOWN_OPTIONS)}"),
        (["enable-hubble=true"], "--sim-option 'enable-hubble=true': expected [[]CLUSTER:]KEY=*"),
        ([f"Cluster_2:{AUDIT}=true"], "--sim-option: 'Cluster_2' is not a cluster name*"),
        ([f"{AUDIT}=maybe"], f"--sim-option {AUDIT} takes true or false, not 'maybe'"),
        # The first ':' ends the cluster and the first '=' the key: a second one of either is
        # part of what follows, and the message names the part at fault.
        ([f"c1:c2:{AUDIT}=true"],
         f"--sim-option 'c1:c2:{AUDIT}=true': expected [[]CLUSTER:]KEY=VALUE with KEY*"),
        ([f"{AUDIT}=true=false"], f"--sim-option {AUDIT} takes true or false, not 'true=false'"),
        ([f"{AUDIT}=true", f"{AUDIT}=false"],
         f"--sim-option {AUDIT} is given twice: true and false"),
        ([f"c2:{AUDIT}=true", f"c2:{AUDIT}=false"],
         f"--sim-option {AUDIT} is given twice for c2: true and false"),
    ],
)  # fmt: skip
def test_bad_sim_options_say_why(items: list[str], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_option_items(items, "--sim-option")
    assert fnmatchcase(str(caught.value), message), str(caught.value)


def test_a_sim_option_must_exist_in_its_clusters_version() -> None:
    """s2: ``policy-default-local-cluster`` exists from 1.18 (cilium#39338)."""
    SimSettings("1.18", {PDLC: "true"}).check()
    SimSettings("1.17", {}, {"cluster2": "1.18"}, {"cluster2": {PDLC: "true"}}).check()
    for settings, where in (
        (SimSettings("1.17", {PDLC: "true"}), ""),
        (SimSettings("1.18", {PDLC: "true"}, {"cluster2": "1.17"}), " (cluster2)"),
        (SimSettings("1.17", {}, {}, {"cluster2": {PDLC: "true"}}), " (cluster2)"),
    ):
        with pytest.raises(ValueError) as caught:
            settings.check("--sim-option")
        assert str(caught.value) == (
            f"--sim-option {PDLC}: the option does not exist in Cilium 1.17{where} "
            "(introduced in 1.18)"
        )


def test_a_version_as_an_image_tag_has_it() -> None:
    """The agent's image tag (``quay.io/cilium/cilium:v1.18.3``) carries a ``v``."""
    assert parse_version(" v1.18.3 ") == Version("1.18.3")
    assert parse_version("V1.20.0-pre.4") == Version("1.20.0rc4")
    with pytest.raises(ValueError, match=r"not a Cilium version: 'x1\.18'"):
        parse_version("x1.18")
    with pytest.raises(ValueError) as caught:
        SimSettings("1.17", {PDLC: "true"}).check()
    assert str(caught.value).startswith(f"--sim-option {PDLC}: the option does not exist")


# -- a step's name and policies, a named policy no step uses, the scenario's name ----------------

TWO_STEPS = BASE.replace(
    "  - name: only\n    expect:\n",
    "  - expect: [{from: cluster1/probe, to: cluster1/web, verdict: allow}]\n"
    "    name: same\n"
    "  - expect: [{from: cluster1/probe, to: cluster1/web, verdict: allow}]\n"
    "    name: SECOND\n",
)


def test_a_step_name_used_twice_points_at_the_first_name(tmp_path: Path) -> None:
    assert fails(tmp_path, "", TWO_STEPS.replace("SECOND", "same")) == (
        "9: step name 'same' is used twice"
    )
    plan = load(tmp_path, "", TWO_STEPS.replace("SECOND", "other"))
    assert [(step.index, step.name, step.line) for step in plan.steps] == [
        (0, "same", 8),
        (1, "other", 10),
    ]


def test_an_unknown_cluster_under_a_steps_policies_points_at_its_key(tmp_path: Path) -> None:
    step = "    policies:\n      cluster1: []\n      cluster9: [a]\n"
    base = with_policies("  a: {file: a.yaml}\n", step)
    assert fails(tmp_path, "", base) == (
        "13: cluster 'cluster9' is not defined (clusters: cluster1, cluster2)"
    )


def test_a_named_policy_no_step_uses_is_still_checked(tmp_path: Path) -> None:
    policies = (
        "  a:\n    inline:\n      apiVersion: cilium.io/v2\n      kind: CiliumNetworkPolicy\n"
        "      metadata: {name: a}\n      spec: {endpointSelector: {}, bogus: 1}\n"
    )
    message = fails(tmp_path, "", with_policies(policies, ""))
    assert message.startswith("13: "), message


def test_from_nodes_is_accepted_when_a_policy_is_checked(tmp_path: Path) -> None:
    policies = (
        "  a:\n    inline:\n      apiVersion: cilium.io/v2\n      kind: CiliumNetworkPolicy\n"
        "      metadata: {name: a}\n"
        "      spec: {endpointSelector: {}, ingress: [{fromNodes: [{}]}]}\n"
    )
    plan = load(tmp_path, "", with_policies(policies, "    policies: {cluster1: [a]}\n"))
    assert list(plan.policies) == ["a"]


EXPECTATION = "      - {from: cluster1/probe, to: cluster1/web, verdict: allow}\n"


def test_the_scenario_is_named_after_its_file_unless_named(tmp_path: Path) -> None:
    assert load(tmp_path, EXPECTATION).name == "pins"


def test_a_scenario_that_is_not_a_mapping_says_so(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as caught:
        expand_scenario(["clusters"], tmp_path / "list.scenario.yaml")
    assert str(caught.value) == (
        f"{tmp_path / 'list.scenario.yaml'}: a scenario is a mapping with clusters, "
        "workloads and steps"
    )


def test_problems_without_a_line_are_listed_without_one(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as caught:
        expand_scenario({"clusters": 1, "steps": 2}, tmp_path / "plain.scenario.yaml")
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'plain.scenario.yaml'}: invalid scenario:\n  ")
    assert "line " not in message, message


def test_a_cluster_listed_twice_points_at_the_clusters_key(tmp_path: Path) -> None:
    base = BASE.replace("clusters: [cluster1, cluster2]\n", "").replace(
        "steps:", "clusters: [cluster1, cluster1]\nsteps:"
    )
    assert fails(tmp_path, EXPECTATION, base) == "6: cluster 'cluster1' is listed twice"
