"""Policies are validated as the API server and the agent validate them, at the policy's own
file and line (issue 10, item 1; docs/cilium-semantics.md s14)."""

from __future__ import annotations

import pytest

SIMULATED = "--mesh-backend=simulated"

SCENARIO = """\
clusters: [cluster1, cluster2]
workloads:
  frontend: {role: client, labels: {app: frontend}}
  myapp: {role: server, labels: {app: myapp}, port: 80}
steps:
  - name: one
    policies: {cluster1: [POLICIES]}
    expect:
      - {from: cluster1/frontend, to: cluster1/myapp, verdict: allow}
"""

POLICY = """\
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: allow
spec:
  endpointSelector: {matchLabels: {app: myapp}}
  ingress:
    - fromEndpoints: [{matchLabels: {app: frontend}}]
      toPorts:
        - ports:
            - {port: "80", protocol: TCP}
"""


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('{port: "80", protocol: TCP}', "{port: 80, protocol: TCP}",
         "*policy.yaml:11: spec.ingress[[]0[]].toPorts[[]0[]].ports[[]0[]].port: "
         "expected a string, got a number 80 (quote it)"),
        ("protocol: TCP}", "protocol: tcp}",
         "*policy.yaml:11: *protocol: not valid: 'tcp' (did you mean 'TCP'?*"),
        ("{app: frontend}", "{app: front end}",
         "*policy.yaml:8: *matchLabels.app: 'front end' is not valid here*"),
        ("  name: allow\n", "  name: allow\n  lables: {a: b}\n",
         "*policy.yaml:5: metadata.lables: unknown field 'lables' (did you mean 'labels'?)*"),
        ("    - fromEndpoints: [{matchLabels: {app: frontend}}]\n      toPorts:\n        - ports:\n"
         '            - {port: "80", protocol: TCP}\n',
         "    - toCIDR: [10.0.0.0/8]\n      toCIDRSet: [{cidr: 10.1.0.0/16}]\n",
         "*policy.yaml:*unknown field 'toCIDR'*"),
    ],
    ids=["port-as-integer", "lower-case-protocol", "label-value-with-space",
         "unknown-metadata-field", "egress-keys-in-ingress"],
)  # fmt: skip
def test_a_policy_the_api_server_rejects_is_an_error_at_its_line(
    pytester: pytest.Pytester, old: str, new: str, expected: str
) -> None:
    assert old in POLICY
    pytester.makefile(".yaml", policy=POLICY.replace(old, new))
    pytester.makefile(".scenario.yaml", bad=SCENARIO.replace("POLICIES", "policy.yaml"))
    result = pytester.runpytest(SIMULATED, "--collect-only")
    result.stdout.fnmatch_lines([expected])
    assert result.ret == pytest.ExitCode.INTERRUPTED


def test_two_policies_with_one_name_in_one_cluster_are_an_error(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(".yaml", policy=POLICY, again=POLICY)
    scenario = SCENARIO.replace("POLICIES", "policy.yaml, again.yaml")
    pytester.makefile(".scenario.yaml", bad=scenario)
    result = pytester.runpytest(SIMULATED, "--collect-only")
    result.stdout.fnmatch_lines(
        [
            "*again.yaml:4: step 'one' applies two CiliumNetworkPolicy objects named "
            "'allow'*policy.yaml*"
        ]
    )


def test_an_empty_from_endpoints_is_accepted_as_the_api_server_prunes_it(
    pytester: pytest.Pytester,
) -> None:
    """``fromEndpoints:`` (null) becomes ``ingress: [{}]``: default deny, nothing allowed."""
    policy = POLICY.replace(
        "    - fromEndpoints: [{matchLabels: {app: frontend}}]\n      toPorts:\n        - ports:\n"
        '            - {port: "80", protocol: TCP}\n',
        "    - fromEndpoints:\n",
    )
    pytester.makefile(".yaml", policy=policy)
    pytester.makefile(
        ".scenario.yaml",
        ok=SCENARIO.replace("POLICIES", "policy.yaml").replace("verdict: allow", "verdict: deny"),
    )
    pytester.runpytest(SIMULATED).assert_outcomes(passed=1)
