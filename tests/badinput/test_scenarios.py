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
    # -- ICMP (docs/cilium-semantics.md s16) ---------------------------------------------------
    scenario(
        "icmp-with-a-port",
        "to: cluster1/myapp, verdict: allow}",
        "to: cluster1/myapp, protocol: ICMP, port: 80, verdict: allow}",
        "*bad.scenario.yaml:13: protocol: ICMP sends a ping (an echo request), which has no "
        "port; leave port out",
    ),
    scenario(
        "icmp-to-a-service",
        "to: cluster1/myapp, verdict: allow}",
        "to: service/myapp-service, protocol: ICMP, verdict: allow}",
        "*bad.scenario.yaml:13: protocol: ICMP to service/myapp-service: Cilium's load "
        "balancer translates TCP, UDP and SCTP ports, not pings*",
    ),
    scenario(
        "icmp-with-http",
        "to: cluster1/myapp, verdict: allow}",
        "to: cluster1/myapp, protocol: ICMP, http: {path: /}, verdict: allow}",
        "*bad.scenario.yaml:13: http applies to TCP probes, not ICMP",
    ),
    scenario(
        "icmp-in-a-matrix-with-a-port",
        "    expect:\n",
        "    matrix: {to: cluster1/myapp, protocol: ICMP, port: 80}\n    expect:\n",
        "*bad.scenario.yaml:12: protocol: ICMP sends a ping*leave port out",
    ),
    scenario(
        "protocol-icmpv6",
        "to: cluster1/myapp, verdict: allow}",
        "to: cluster1/myapp, protocol: ICMPv6, verdict: allow}",
        "*bad.scenario.yaml:13: steps.0.expect.0.protocol: *'ICMPv6'*",
    ),
    # -- external destinations (docs/cilium-semantics.md s17) ----------------------------------
    scenario(
        "external-with-neither-address-nor-hostname",
        "verdict: allow}",
        "verdict: allow}",
        "*bad.scenario.yaml:15: externals.api: an external needs address, hostname or both",
        tail="externals:\n  api: {}\n",
    ),
    scenario(
        "external-address-not-an-address",
        "verdict: allow}",
        "verdict: allow}",
        "*bad.scenario.yaml:16: externals.api.address: '203.0.113.300' is not an IPv4 or "
        "IPv6 address",
        tail="externals:\n  api:\n    address: 203.0.113.300\n",
    ),
    scenario(
        "external-hostname-not-a-name",
        "verdict: allow}",
        "verdict: allow}",
        "*bad.scenario.yaml:16: externals.api.hostname: 'api_example.com' is not a DNS name*",
        tail="externals:\n  api:\n    hostname: api_example.com\n",
    ),
    scenario(
        "external-hostname-an-address",
        "verdict: allow}",
        "verdict: allow}",
        "*bad.scenario.yaml:16: externals.api.hostname: '203.0.113.1' is an address; give it "
        "as address",
        tail="externals:\n  api:\n    hostname: 203.0.113.1\n",
    ),
    scenario(
        "external-not-defined",
        "to: cluster1/myapp, verdict: allow}",
        "to: external/api, port: 443, verdict: allow}",
        "*bad.scenario.yaml:13: to: no external 'api' (externals: none; define them under "
        "externals)",
    ),
    scenario(
        "external-without-a-port",
        "to: cluster1/myapp, verdict: allow}",
        "to: external/api, verdict: allow}",
        "*bad.scenario.yaml:13: to: external/api needs a port (an external destination has no "
        "server workload to take one from), or protocol: ICMP",
        tail="externals:\n  api: {address: 203.0.113.10}\n",
    ),
    scenario(
        "external-with-served-by",
        "to: cluster1/myapp, verdict: allow}",
        "to: external/api, port: 443, served_by: cluster1, verdict: allow}",
        "*bad.scenario.yaml:13: served_by applies to service/<name> targets",
        tail="externals:\n  api: {address: 203.0.113.10}\n",
    ),
    scenario(
        "external-with-a-destination-condition",
        "to: cluster1/myapp, verdict: allow}",
        "to: external/api, port: 443, verdict: allow, when: {destination: {cilium: '>=1.19'}}}",
        "*bad.scenario.yaml:13: when: destination: external/api is outside the mesh and has no "
        "cluster*",
        tail="externals:\n  api: {address: 203.0.113.10}\n",
    ),
    scenario(
        "served-by-over-udp",
        "to: cluster1/myapp, verdict: allow}",
        "to: service/myapp-service, protocol: UDP, served_by: cluster1, verdict: allow}",
        "*bad.scenario.yaml:13: served_by needs a TCP probe: over UDP the probe tools "
        "(agnhost connect, ping) do not say which pod answered",
    ),
    scenario(
        "entity-that-no-probe-reaches",
        "to: cluster1/myapp, verdict: allow}",
        "to: entity/remote-node, verdict: allow}",
        "*bad.scenario.yaml:13: to: entity/remote-node: the only entity a probe can reach is "
        "entity/kube-apiserver*",
    ),
    scenario(
        "api-server-over-udp",
        "to: cluster1/myapp, verdict: allow}",
        "to: entity/kube-apiserver, protocol: UDP, verdict: allow}",
        "*bad.scenario.yaml:13: to: entity/kube-apiserver speaks TCP only",
    ),
    scenario(
        "dns-query-with-a-port",
        "to: cluster1/myapp, verdict: allow}",
        "to: dns/api.example.net, port: 5353, verdict: allow}",
        "*bad.scenario.yaml:13: to: dns/api.example.net is a DNS query, which goes to kube-dns "
        "on UDP 53; leave port out",
    ),
    scenario(
        "dns-query-with-http",
        "to: cluster1/myapp, verdict: allow}",
        "to: dns/api.example.net, http: {path: /}, verdict: allow}",
        "*bad.scenario.yaml:13: to: dns/api.example.net is a DNS query, which goes to kube-dns "
        "on UDP 53; leave http out",
    ),
    scenario(
        "dns-query-of-no-name",
        "to: cluster1/myapp, verdict: allow}",
        "to: dns/not_a_name!, verdict: allow}",
        "*bad.scenario.yaml:13: to: 'not_a_name!' is not a DNS name to query*",
    ),
    scenario(
        "dns-query-with-served-by",
        "to: cluster1/myapp, verdict: allow}",
        "to: dns/api.example.net, served_by: cluster1, verdict: allow}",
        "*bad.scenario.yaml:13: served_by applies to service/<name> targets",
    ),
    scenario(
        "dns-query-with-a-destination-condition",
        "to: cluster1/myapp, verdict: allow}",
        "to: dns/api.example.net, verdict: allow, when: {destination: {cilium: '>=1.19'}}}",
        "*bad.scenario.yaml:13: when: destination: dns/api.example.net is a query to the "
        "source's own cluster DNS; use source: {...}",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_a_malformed_scenario_says_where_and_what(
    run_case: Callable[[Case], pytest.RunResult], case: Case
) -> None:
    run_case(case)
