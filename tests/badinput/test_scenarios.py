"""Scenario files with the wrong shape or types: each message names the file, the line, the key,
what was found and what would be valid, in the scenario's words (no pydantic internals)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from .cases import Case, scenario

CASES = [
    scenario(
        "replicas-below-zero",
        "    port: 80\n",
        "    port: 80\n    replicas: {cluster1: -1}\n",
        "*bad.scenario.yaml:8: workloads.myapp.replicas.cluster1: must be at least 0, "
        "not the number -1",
    ),
    scenario(
        "replicas-a-word",
        "    port: 80\n",
        "    port: 80\n    replicas: two\n",
        "*bad.scenario.yaml:8: workloads.myapp.replicas: expected a whole number or a mapping, "
        "got the string 'two'",
    ),
    scenario(
        "port-item-not-a-number",
        "    port: 80\n",
        "    ports: [80, {port: http}]\n",
        "*bad.scenario.yaml:7: workloads.myapp.ports.1.port: expected a whole number, "
        "got the string 'http'",
    ),
    scenario(
        "port-out-of-range",
        "    port: 80\n",
        "    port: 70000\n",
        "*bad.scenario.yaml:7: workloads.myapp.port: must be at most 65535, not the number 70000",
    ),
    scenario(
        "cluster-named-no",
        "clusters: [cluster1, cluster2]",
        "clusters: [cluster1, cluster2, no]",
        "*bad.scenario.yaml:1: clusters.2: expected a string, got no (YAML reads it as false); "
        'quote it: "no"',
    ),
    scenario(
        "cluster-name-not-a-dns-label",
        "clusters: [cluster1, cluster2]",
        "clusters: [cluster1, Cluster_2]",
        "*bad.scenario.yaml:1: clusters.1: must be a DNS label: lowercase letters, digits and "
        "'-'*, not 'Cluster_2'",
    ),
    scenario(
        "workload-not-a-mapping",
        "  frontend: {role: client, labels: {app: frontend}}",
        "  frontend: client",
        "*bad.scenario.yaml:3: workloads.frontend: expected a mapping, got the string 'client'",
    ),
    scenario(
        "workload-without-role",
        "  frontend: {role: client, labels: {app: frontend}}",
        "  frontend: {labels: {app: frontend}}",
        "*bad.scenario.yaml:3: workloads.frontend: required key 'role' is missing",
    ),
    scenario(
        "role-misspelled",
        "role: client",
        "role: clinet",
        "*bad.scenario.yaml:3: workloads.frontend.role: must be one of client or server, "
        "not the string 'clinet' (did you mean 'client'?)",
    ),
    scenario(
        "number-as-key",
        "  frontend: {role: client, labels: {app: frontend}}",
        "  frontend: {role: client, labels: {app: frontend}}\n  7: {role: client}",
        '*bad.scenario.yaml:4: workloads: key 7 must be a string; quote it: "7"',
    ),
    scenario(
        "label-value-a-number",
        "labels: {app: frontend}",
        "labels: {app: frontend, version: 1.10}",
        "*bad.scenario.yaml:3: workloads.frontend.labels.version: expected a string, "
        'got 1.10 (YAML reads it as the number 1.1); quote it: "1.10"',
    ),
    scenario(
        "step-name-with-space",
        "name: open",
        "name: open door",
        "*bad.scenario.yaml:10: steps.0.name: must be a step name: letters, digits, *"
        "not 'open door'",
    ),
    scenario(
        "http-method-lower-case",
        "verdict: allow}",
        "verdict: allow, http: {method: get}}",
        "*bad.scenario.yaml:13: steps.0.expect.0.http.method: must be one of GET, *, not the "
        "string 'get' (did you mean 'GET'?)",
    ),
    scenario(
        "http-path-without-slash",
        "verdict: allow}",
        "verdict: allow, http: {path: private}}",
        "*bad.scenario.yaml:13: steps.0.expect.0.http.path: must be a path starting with '/'*",
    ),
    scenario(
        "verdict-misspelled",
        "verdict: allow}",
        "verdict: alow}",
        "*bad.scenario.yaml:13: steps.0.expect.0.verdict: must be one of allow, deny, drop, "
        "l7-deny or refused, not the string 'alow' (did you mean 'allow'?)",
    ),
    scenario(
        "unknown-top-level-key",
        "steps:\n",
        "step:\n",
        "*bad.scenario.yaml:1: invalid scenario:",
        "*line 1: the scenario: required key 'steps' is missing",
        "*line 9: unknown key 'step' at top level (did you mean 'steps'?)",
    ),
    scenario(
        "scenario-is-a-list",
        "clusters: [cluster1, cluster2]\n",
        "- clusters: [cluster1, cluster2]\n",
        "*bad.scenario.yaml:2: invalid YAML: *check the indentation",
    ),
    scenario(
        "step-policies-not-a-list",
        "policies: {cluster1: [policy.yaml]}",
        "policies: {cluster1: policy.yaml}",
        "*bad.scenario.yaml:11: steps.0.policies.cluster1: expected a list, "
        "got the string 'policy.yaml'",
    ),
    scenario(
        "served-by-a-number",
        "verdict: allow}",
        "verdict: allow, served_by: 1}",
        "*bad.scenario.yaml:13: steps.0.expect.0.served_by: expected a string or a list, "
        "got the number 1",
    ),
    scenario(
        "step-without-expectations",
        "    expect:\n      - {from: cluster1/frontend, to: cluster1/myapp, verdict: allow}\n",
        "    expect: []\n",
        "*bad.scenario.yaml:10: steps.0: a step needs expect, matrix, or both",
    ),
    scenario(
        "from-without-cluster",
        "from: cluster1/frontend",
        "from: frontend",
        "*bad.scenario.yaml:13: 'frontend' is not cluster/workload (or service/<name>*",
    ),
    scenario(
        "named-policy-with-file-and-inline",
        "policies: {cluster1: [policy.yaml]}",
        "policies: {cluster1: [p]}",
        "*bad.scenario.yaml:15: policies.p: give exactly one of file or inline",
        tail="policies:\n  p: {file: policy.yaml, inline: {kind: CiliumNetworkPolicy}}\n",
    ),
    scenario(
        "inline-policy-not-a-mapping",
        "policies: {cluster1: [policy.yaml]}",
        "policies: {cluster1: [p]}",
        "*bad.scenario.yaml:16: policies.p.inline: expected a mapping or a list, "
        "got the string 'deny everything'",
        tail="policies:\n  p:\n    inline: deny everything\n",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_a_malformed_scenario_says_where_and_what(
    run_case: Callable[[Case], pytest.RunResult], case: Case
) -> None:
    run_case(case)
