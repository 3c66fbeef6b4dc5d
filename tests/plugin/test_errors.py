"""Bad input gives a collection error naming file, line and what was expected, never a traceback."""

from __future__ import annotations

import textwrap

import pytest

from ..badinput.cases import GOOD, POLICY


def collect_error(pytester: pytest.Pytester, scenario: str, policy: str = POLICY) -> str:
    pytester.makefile(".scenario.yaml", bad=scenario)
    pytester.makefile(".yaml", policy=policy)
    result = pytester.runpytest("--collect-only", "-q")
    assert result.ret == pytest.ExitCode.INTERRUPTED, result.stdout.str()
    output = result.stdout.str()
    assert "Traceback" not in output
    assert "ERROR collecting bad.scenario.yaml" in output
    return output


def test_the_good_scenario_collects(pytester: pytest.Pytester) -> None:
    pytester.makefile(".scenario.yaml", bad=GOOD)
    pytester.makefile(".yaml", policy=POLICY)
    pytester.runpytest("--collect-only", "-q").stdout.fnmatch_lines(["1 test collected*"])


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "    port: 80\n",
            "    port: 80\n    imagee: x\n",
            "*bad.scenario.yaml:8: unknown key 'imagee' at workloads.myapp (did you mean 'image'?)",
        ),
        (
            "    port: 80\n",
            "    port: eighty\n",
            "*bad.scenario.yaml:7: workloads.myapp.port: expected a whole number, "
            "got the string 'eighty'",
        ),
        (
            "verdict: allow}",
            "verdict: maybe}",
            "*bad.scenario.yaml:13: steps.0.expect.0.verdict: must be one of allow, deny, "
            "drop, l7-deny or refused, not the string 'maybe'",
        ),
        (
            "to: cluster1/myapp",
            "to: cluster1/mypp",
            "*bad.scenario.yaml:13: workload 'mypp' is not defined (workloads: frontend, myapp)",
        ),
        (
            "from: cluster1/frontend",
            "from: cluster3/frontend",
            "*bad.scenario.yaml:13: cluster 'cluster3' is not defined "
            "(clusters: cluster1, cluster2)",
        ),
        (
            "policies: {cluster1: [policy.yaml]}",
            "policies: {cluster1: [polcy.yaml]}",
            "*bad.scenario.yaml:11: policy file 'polcy.yaml' not found in * "
            "(did you mean 'policy.yaml'?)",
        ),
        (
            "to: cluster1/myapp",
            "to: service/nope",
            "*bad.scenario.yaml:13: to: no workload has a Service 'nope' (Services: myapp-service)",
        ),
        (
            "from: cluster1/frontend",
            "from: cluster1/myapp",
            "*bad.scenario.yaml:13: from: myapp is a server; probes start from client workloads",
        ),
        (
            "verdict: allow}",
            "verdict: deny, served_by: cluster1}",
            "*bad.scenario.yaml:13: served_by needs verdict: allow",
        ),
        (
            "verdict: allow}",
            "verdict: allow, when: {policy-default-local-clustr: true}}",
            "*bad.scenario.yaml:13: when: unknown fact 'policy-default-local-clustr'*",
        ),
        (
            "verdict: allow}",
            "verdict: allow, when: {cilium: '>>1.19'}}",
            "*bad.scenario.yaml:13: when: cilium: not a version range: '>>1.19'*",
        ),
        (
            "  frontend: {role",
            "  frontend: {role: client}\n  frontend: {role",
            "*bad.scenario.yaml:4: invalid YAML: duplicate key 'frontend' (first at line 3)",
        ),
        ("steps:\n", "steps: [\n", "*bad.scenario.yaml:*: invalid YAML*"),
        (
            "      - {from: cluster1/frontend, to: cluster1/myapp, verdict: allow}\n",
            "      - {from: cluster1/frontend, to: cluster1/myapp, verdict: allow}\n"
            "      - {from: cluster1/frontend, to: cluster1/myapp, verdict: deny}\n",
            "*bad.scenario.yaml:14: two expectations for "
            "open::cluster1/frontend->cluster1/myapp:80 "
            "(the other at line 13)*",
        ),
    ],
    ids=[
        "unknown-key",
        "wrong-type",
        "bad-verdict",
        "undefined-workload",
        "undefined-cluster",
        "missing-policy-file",
        "undefined-service",
        "server-as-source",
        "served-by-on-deny",
        "unknown-when-fact",
        "bad-version-range",
        "duplicate-key",
        "yaml-syntax",
        "duplicate-expectation",
    ],
)
def test_scenario_mistakes_are_located(
    pytester: pytest.Pytester, old: str, new: str, expected: str
) -> None:
    assert old in GOOD
    output = collect_error(pytester, GOOD.replace(old, new, 1))
    pytest.LineMatcher(output.splitlines()).fnmatch_lines([expected])


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "    - fromEndpoints:",
            "    - fromEndpoint:",
            "*policy.yaml:8: spec.ingress[[]0[]].fromEndpoint: unknown field 'fromEndpoint'*",
        ),
        (
            "kind: CiliumNetworkPolicy",
            "kind: CiliumNetworkPolicyy",
            "*policy.yaml:2: kind: 'CiliumNetworkPolicyy' is not a policy kind (expected one of*",
        ),
        (
            "{app: myapp}}",
            "{app: myapp}, matchExpressions: [{key: a, operator: Is}]}",
            "*policy.yaml:6: spec.endpointSelector.matchExpressions[[]0[]].operator: "
            "not valid: 'Is' (expected one of In, NotIn, Exists, DoesNotExist*",
        ),
        (
            "  name: allow\n",
            "  name: allow\n  namespace: elsewhere\n",
            "*policy.yaml:3: metadata.namespace 'elsewhere' is not a namespace of the scenario*",
        ),
        (
            "app: frontend}",
            "app: '{{ clusters.cluster9.name }}'}",
            "*policy.yaml:8: *no cluster 'cluster9' (the scenario has cluster1, cluster2)",
        ),
    ],
    ids=["unknown-field", "unknown-kind", "bad-operator", "foreign-namespace", "bad-template"],
)
def test_policy_mistakes_are_located_in_the_policy_file(
    pytester: pytest.Pytester, old: str, new: str, expected: str
) -> None:
    assert old in POLICY
    output = collect_error(pytester, GOOD, POLICY.replace(old, new, 1))
    pytest.LineMatcher(output.splitlines()).fnmatch_lines([expected])


def test_a_wildcard_that_matches_nothing_is_an_error(pytester: pytest.Pytester) -> None:
    scenario = GOOD.replace("    port: 80\n", "    port: 80\n    clusters: [cluster1]\n").replace(
        "to: cluster1/myapp", "to: cluster2/*"
    )
    output = collect_error(pytester, scenario)
    pytest.LineMatcher(output.splitlines()).fnmatch_lines(
        ["*bad.scenario.yaml:14: to: 'cluster2/*' matches no server workload"]
    )


def test_several_shape_errors_are_all_listed_with_their_lines(pytester: pytest.Pytester) -> None:
    scenario = GOOD.replace("    port: 80\n", "    port: 80\n    imagee: x\n").replace(
        "role: client", "role: clint"
    )
    output = collect_error(pytester, scenario)
    pytest.LineMatcher(output.splitlines()).fnmatch_lines(
        [
            "*bad.scenario.yaml:3: invalid scenario:",
            "*line 3: workloads.frontend.role: *",
            "*line 8: unknown key 'imagee'*",
        ]
    )


def test_an_inline_policy_is_checked_too(pytester: pytest.Pytester) -> None:
    scenario = GOOD.replace("[policy.yaml]", "[inline-one]") + textwrap.dedent(
        """\
        policies:
          inline-one:
            inline:
              apiVersion: cilium.io/v2
              kind: CiliumNetworkPolicy
              metadata: {name: x}
              spec:
                endpointSelector: {}
                egress: [{toEntities: [clusters]}]
        """
    )
    output = collect_error(pytester, scenario)
    pytest.LineMatcher(output.splitlines()).fnmatch_lines(
        [
            "*bad.scenario.yaml:22: spec.egress[[]0[]].toEntities[[]0[]]: "
            "unknown entity 'clusters' (did you mean 'cluster'?*"
        ]
    )
