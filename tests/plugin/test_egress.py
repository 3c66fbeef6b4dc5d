"""Pings and external destinations (scenarios/egress), run on the simulated mesh as a user runs
them, with the reports that name their targets (docs/cilium-semantics.md s16, s17)."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from .conftest import REPO

SIMULATED = "--mesh-backend=simulated"
EGRESS = REPO / "scenarios" / "egress"
FILE = "scenarios/egress/egress.scenario.yaml"


@pytest.fixture
def egress(pytester: pytest.Pytester) -> Path:
    target = pytester.path / "scenarios" / "egress"
    shutil.copytree(EGRESS, target)
    return target


@pytest.mark.parametrize("version", ["1.16", "1.17", "1.18", "1.19", "1.20"])
def test_the_egress_scenario_passes_on_every_version(
    pytester: pytest.Pytester, egress: Path, version: str
) -> None:
    result = pytester.runpytest(FILE, SIMULATED, f"--sim-cilium-version={version}", "-rs")
    result.assert_outcomes(passed=31, skipped=1)
    result.stdout.fnmatch_lines(["*when: destination.policy-default-local-cluster=*"])


def test_items_name_pings_and_externals(pytester: pytest.Pytester, egress: Path) -> None:
    result = pytester.runpytest("--collect-only", "-q", FILE, SIMULATED)
    result.stdout.fnmatch_lines(
        [
            f"{FILE}::no-policy::cluster1/frontend->cluster1/myapp:icmp",
            f"{FILE}::no-policy::cluster1/frontend->external/docs:443",
            f"{FILE}::egress-to-cidr::cluster1/frontend->external/docs:icmp",
            f"{FILE}::egress-to-fqdn::cluster2/frontend->external/docs:443",
        ]
    )


def test_a_wrong_expectation_toward_an_external_fails_with_the_models_reasons(
    pytester: pytest.Pytester, egress: Path
) -> None:
    scenario = egress / "egress.scenario.yaml"
    right = "      - {from: cluster1/frontend, to: external/api, port: 443, verdict: deny}\n"
    text = scenario.read_text()
    assert text.count(right) == 1
    scenario.write_text(text.replace(right, right.replace("deny", "allow")))
    result = pytester.runpytest(
        FILE, SIMULATED, "--sim-cilium-version=1.19", "--junitxml=out/junit.xml", "-v"
    )
    result.assert_outcomes(failed=1, passed=30, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "*cluster1/frontend->external/api:443 in step egress-to-cidr: expected allow, "
            "observed dropped",
            "*lookup of api.example.net: answered without Cilium's DNS proxy*",
            "*egress at cluster1: default deny (selected by CNP * spec); no rule allows world "
            "198.51.100.20 (api.example.net, looked up not proxied) on 443/TCP",
            "*ingress: none at external/api, which is outside the mesh*",
        ]
    )
    # The truth table has external columns after the pods, and a ping column of its own.
    result.stdout.fnmatch_lines(["*egress::egress-to-cidr: 1 of 5 probes not as expected"])
    cases = list(ET.parse(pytester.path / "out" / "junit.xml").getroot().iter("testcase"))
    destinations = {
        p.attrib["value"]
        for case in cases
        for p in case.iter("property")
        if p.attrib["name"] == "destination"
    }
    assert {"external/api:443", "external/docs:icmp", "cluster1/myapp:icmp"} <= destinations


def test_results_and_baseline_keys_tell_pings_and_ports_apart(
    pytester: pytest.Pytester, egress: Path
) -> None:
    result = pytester.runpytest(FILE, SIMULATED, "--clustermesh-results=out/results.json")
    result.assert_outcomes(passed=31, skipped=1)
    results = json.loads((pytester.path / "out" / "results.json").read_text())
    records = results["records"] if isinstance(results, dict) else results
    pings = [r for r in records if r["protocol"] == "ICMP"]
    assert pings and all(r["port"] == 0 for r in pings)
    assert {r["target"] for r in records} >= {"external/api", "external/docs"}
    again = pytester.runpytest(
        FILE, SIMULATED, "--clustermesh-baseline=out/results.json", "--clustermesh-fail-on-change"
    )
    again.assert_outcomes(passed=31, skipped=1)
    assert again.ret == 0


DNS_BLOCKED = """\
clusters: [cluster1]
workloads:
  frontend: {role: client, labels: {app: frontend}}
  myapp: {role: server, labels: {app: myapp}, port: 80}
externals:
  api: {hostname: api.example.net, address: 198.51.100.20}
policies:
  fqdn-without-dns:
    inline:
      apiVersion: cilium.io/v2
      kind: CiliumNetworkPolicy
      metadata: {name: fqdn-without-dns}
      spec:
        endpointSelector: {matchLabels: {app: frontend}}
        egress:
          - toFQDNs: [{matchName: api.example.net}]
steps:
  - name: no-dns
    policies: {cluster1: [fqdn-without-dns]}
    matrix: {from: cluster1/frontend, to: external/api, port: 443}
    expect:
      - {from: cluster1/frontend, to: external/api, port: 80, verdict: deny}
"""


def test_a_name_that_cannot_resolve_is_never_a_deny(pytester: pytest.Pytester) -> None:
    """s17: the source's egress drops its DNS query, so the probe ends in dns-failure: a pinned
    deny fails (a broken probe is never a deny), a matrix cell cannot test the policy."""
    pytester.makefile(".scenario.yaml", dns=DNS_BLOCKED)
    result = pytester.runpytest(SIMULATED)
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines_random(
        [
            "*cluster1/frontend->external/api:80 in step no-dns: the probe could not run "
            "(dns-failure), which proves nothing",
            "*api.example.net did not resolve: the DNS query from frontend-cluster1-0 to kube-dns "
            "(kube-system, k8s-app=kube-dns) on UDP 53 is dropped*",
            "*cluster1/frontend->external/api:443 in step no-dns: the probe cannot test the "
            "policy: api.example.net did not resolve*",
        ]
    )


def test_keywords_select_externals_and_pings(pytester: pytest.Pytester, egress: Path) -> None:
    result = pytester.runpytest("--collect-only", "-q", FILE, SIMULATED, "-k", "external and icmp")
    result.stdout.fnmatch_lines(
        [
            f"{FILE}::no-policy::cluster1/frontend->external/api:icmp",
            f"{FILE}::egress-to-cidr::cluster1/frontend->external/docs:icmp",
            "2/32 tests collected (30 deselected)*",
        ]
    )


def test_a_dns_probe_that_is_refused_says_so(pytester: pytest.Pytester, egress: Path) -> None:
    scenario = egress / "egress.scenario.yaml"
    right = "      - {from: cluster1/frontend, to: dns/www.example.org, verdict: l7-deny}\n"
    text = scenario.read_text()
    assert text.count(right) == 1
    scenario.write_text(text.replace(right, right.replace("l7-deny", "allow")))
    result = pytester.runpytest(f"{FILE}::dns-rules", SIMULATED, "-k", "dns")
    result.assert_outcomes(failed=1, passed=3)
    result.stdout.fnmatch_lines(
        [
            "*cluster1/frontend->dns/www.example.org in step dns-rules: expected allow, "
            "observed l7-denied",
            "*query for www.example.org refused by Cilium's DNS proxy (REFUSED)",
            "*lookup of www.example.org: egress at cluster1: the DNS proxy refuses the query for "
            "www.example.org: it matches no DNS rule of CNP * (*.example.net)",
        ]
    )
