"""The model advises and never gates (issue 10, item 2; docs/cilium-semantics.md s13).

A valid policy that uses a feature the model does not cover loads and runs. On the simulated
mesh only the items whose verdict that feature decides fail, naming it; the others pass. A
matrix cell the feature decides fails with that reason, and ``explain`` says it.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

SIMULATED = "--mesh-backend=simulated"

SCENARIO = """\
clusters: [cluster1, cluster2]
workloads:
  frontend: {role: client, labels: {app: frontend}}
  test: {role: client, labels: {app: test}}
  myapp: {role: server, labels: {app: myapp}, port: 80}
policies:
  kafka:
    inline:
      apiVersion: cilium.io/v2
      kind: CiliumNetworkPolicy
      metadata: {name: kafka}
      spec:
        endpointSelector: {matchLabels: {app: myapp}}
        ingress:
          - fromEndpoints: [{matchLabels: {app: frontend}}]
            toPorts: [{ports: [{port: "80"}], rules: {kafka: [{topic: orders}]}}]
steps:
  - name: kafka
    policies: {cluster1: [kafka]}
    expect:
      - {from: cluster1/frontend, to: cluster1/myapp, verdict: allow}
      - {from: cluster1/test, to: cluster1/myapp, verdict: deny}
      - {from: cluster1/frontend, to: cluster2/myapp, verdict: allow}
"""


def test_an_unmodelled_feature_fails_only_the_items_it_decides(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(".scenario.yaml", advise=SCENARIO)
    result = pytester.runpytest(SIMULATED, "--sim-cilium-version=1.19", "-rA")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*the model cannot tell*Kafka L7 rules*",
            "FAILED *cluster1/frontend->cluster1/myapp:80*",
        ]
    )


def test_a_matrix_cell_it_decides_fails_with_the_reason(pytester: pytest.Pytester) -> None:
    matrix = (
        SCENARIO.split("    expect:")[0] + '    matrix: {from: "cluster1/*", to: cluster1/myapp}\n'
    )
    pytester.makefile(".scenario.yaml", advise=matrix)
    result = pytester.runpytest(SIMULATED, "--sim-cilium-version=1.19", "-rA")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*the model cannot predict it*Kafka L7 rules*"])


def test_explain_says_the_verdict_is_unknown(pytester: pytest.Pytester) -> None:
    path = pytester.makefile(".scenario.yaml", advise=SCENARIO)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest_clustermesh",
            "explain",
            str(path),
            "--step",
            "kafka",
            "--from",
            "cluster1/frontend",
            "--to",
            "cluster1/myapp",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "unknown" in out.stdout, out.stdout + out.stderr
    assert "Kafka L7 rules" in out.stdout


L7_SCENARIO = """\
clusters: [cluster1, cluster2]
workloads:
  frontend: {role: client, labels: {app: frontend}}
  myapp: {role: server, labels: {app: myapp}, port: 80}
policies:
  l7:
    inline:
      apiVersion: cilium.io/v2
      kind: CiliumNetworkPolicy
      metadata: {name: l7}
      spec:
        endpointSelector: {matchLabels: {app: myapp}}
        ingress:
          - fromEndpoints: [{matchLabels: {app: frontend}}]
            toPorts: [{ports: [{port: "80"}], rules: {http: [{method: GET, path: /public}]}}]
steps:
  - name: l7
    policies: {cluster1: [l7]}
    expect:
      - {from: cluster1/frontend, to: cluster1/myapp, http: {method: POST, path: /private},
         verdict: l7-deny}
      - {from: cluster2/frontend, to: cluster1/myapp, verdict: deny}
"""


def test_explains_step_listing_shows_method_path_and_reasons(pytester: pytest.Pytester) -> None:
    path = pytester.makefile(".scenario.yaml", l7=L7_SCENARIO)
    out = subprocess.run(
        [sys.executable, "-m", "pytest_clustermesh", "explain", str(path),
         "--cilium-version", "1.19"],
        capture_output=True, text=True, check=False,
    ).stdout  # fmt: skip
    assert "cluster1/frontend->cluster1/myapp:80 POST /private: l7-denied" in out, out
    assert "POST /private matches no HTTP rule of CNP" in out, out
    # The remote frontend: the rule selecting myapp did not match it, and the listing says why.
    assert "allow rule CNP" in out and "scoped to the local cluster cluster1" in out, out


NAMED = """\
clusters: [cluster1, cluster2]
workloads:
  frontend: {role: client, labels: {app: frontend}}
  myapp: {role: server, labels: {app: myapp}, ports: [{port: 80, name: web}, 8080]}
policies:
  named:
    inline:
      apiVersion: cilium.io/v2
      kind: CiliumNetworkPolicy
      metadata: {name: named}
      spec:
        endpointSelector: {matchLabels: {app: myapp}}
        ingress:
          - fromEndpoints: [{matchLabels: {app: frontend}}]
            toPorts: [{ports: [{port: web}]}]
steps:
  - name: named-port
    policies: {cluster1: [named]}
    expect:
      - {from: cluster1/frontend, to: cluster1/myapp, port: 80, verdict: allow}
      - {from: cluster1/frontend, to: cluster1/myapp, port: 8080, verdict: deny}
"""


def test_a_named_port_resolves_to_the_workloads_container_port(
    pytester: pytest.Pytester,
) -> None:
    """s5: ``ports: [{port: 80, name: web}]`` names the container port; a policy naming
    ``web`` admits port 80 and no other."""
    pytester.makefile(".scenario.yaml", named=NAMED)
    pytester.runpytest(SIMULATED, "--sim-cilium-version=1.19").assert_outcomes(passed=2)


HEADERS = """\
clusters: [cluster1, cluster2]
workloads:
  frontend: {role: client, labels: {app: frontend}}
  myapp: {role: server, labels: {app: myapp}, port: 80}
policies:
  token:
    inline:
      apiVersion: cilium.io/v2
      kind: CiliumNetworkPolicy
      metadata: {name: token}
      spec:
        endpointSelector: {matchLabels: {app: myapp}}
        ingress:
          - fromEndpoints: [{matchLabels: {app: frontend}}]
            toPorts:
              - ports: [{port: "80"}]
                rules: {http: [{headers: ["X-Token: s3cret"], host: "api\\\\.example\\\\.com"}]}
steps:
  - name: headers
    policies: {cluster1: [token]}
    expect:
      - {from: cluster1/frontend, to: cluster1/myapp, verdict: allow,
         http: {host: api.example.com, headers: {X-Token: s3cret}}}
      - {from: cluster1/frontend, to: cluster1/myapp, verdict: l7-deny,
         http: {path: /x, host: api.example.com, headers: {X-Token: wrong}}}
      - {from: cluster1/frontend, to: cluster1/myapp, verdict: l7-deny,
         http: {path: /y, host: other.example.com, headers: {X-Token: s3cret}}}
"""


def test_http_probes_carry_host_and_headers(pytester: pytest.Pytester) -> None:
    """s5: ``http: {host, headers}`` on a probe; HTTP rules on headers (exact value) and host
    (a regular expression, matched whole)."""
    pytester.makefile(".scenario.yaml", headers=HEADERS)
    pytester.runpytest(SIMULATED, "--sim-cilium-version=1.19").assert_outcomes(passed=3)
