"""Matrix steps: every client-to-server pair, expectations from the model unless pinned."""

from __future__ import annotations

import pytest

SIMULATED = "--mesh-backend=simulated"
WORLD = """\
clusters: [cluster1, cluster2]
workloads:
  frontend: {role: client, labels: {app: frontend}}
  test: {role: client, labels: {app: test}}
  myapp:
    role: server
    labels: {app: myapp}
    port: 80
    service: {name: myapp, annotations: {service.cilium.io/global: "true"}}
policies:
  frontend-only:
    inline:
      apiVersion: cilium.io/v2
      kind: CiliumNetworkPolicy
      metadata: {name: frontend-only}
      spec:
        endpointSelector: {matchLabels: {app: myapp}}
        ingress: [{fromEndpoints: [{matchLabels: {app: frontend}}]}]
steps:
  - name: table
    policies: {cluster1: [frontend-only]}
"""


def test_a_matrix_step_has_one_item_per_pair_and_pins_override(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(
        ".scenario.yaml",
        m=WORLD + "    matrix: {to: '*/myapp'}\n    expect:\n"
        "      - {from: cluster1/test, to: cluster1/myapp, verdict: deny}\n",
    )
    result = pytester.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines(["m.scenario.yaml::table::cluster1/frontend->cluster1/myapp:80",
                                 "8 tests collected*"])  # fmt: skip
    pinned = pytester.runpytest("--collect-only", "-q", "-m", "clustermesh(verdict='deny')")
    pinned.stdout.fnmatch_lines(["*table::cluster1/test->cluster1/myapp:80", "1/8 tests*"])
    model = pytester.runpytest("--collect-only", "-q", "-m", "clustermesh(verdict='model')")
    model.stdout.fnmatch_lines(["7/8 tests*"])
    pytester.runpytest(SIMULATED, "--sim-cilium-version=1.18").assert_outcomes(passed=8)


def test_a_wrong_pinned_cell_fails_and_the_model_cells_pass(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".scenario.yaml",
        m=WORLD + "    matrix: {to: '*/myapp'}\n    expect:\n"
        "      - {from: cluster1/test, to: cluster1/myapp, verdict: allow}\n",
    )
    result = pytester.runpytest(SIMULATED)
    result.assert_outcomes(passed=7, failed=1)
    result.stdout.fnmatch_lines(["*cluster1/test->cluster1/myapp:80 in step table: "
                                 "expected allow, observed dropped"])  # fmt: skip


def test_a_cell_the_model_cannot_predict_fails_with_the_reason(pytester: pytest.Pytester) -> None:
    """A global Service without affinity load-balances across clusters; with the policy in one
    cluster only, the answer depends on the backend picked: no verdict can be expected."""
    pytester.makefile(
        ".scenario.yaml", m=WORLD + "    matrix: {from: cluster2/test, to: service/myapp}\n"
    )
    result = pytester.runpytest(SIMULATED)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*the model cannot predict it: the verdict depends on which backend*"]
    )
