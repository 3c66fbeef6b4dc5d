"""JUnit XML: properties of each scenario item, and failure messages with the real reason."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from .conftest import SIMULATED


def junit_cases(path: Path) -> list[ET.Element]:
    return list(ET.parse(path).getroot().iter("testcase"))


def properties(case: ET.Element) -> dict[str, str]:
    return {p.attrib["name"]: p.attrib["value"] for p in case.iter("property")}


def test_properties_and_the_failure_message(pytester: pytest.Pytester, wrong_guide: Path) -> None:
    result = pytester.runpytest(
        "scenarios", SIMULATED, "--sim-cilium-version=1.18", "--junitxml=out/junit.xml"
    )
    result.assert_outcomes(failed=1, passed=46, skipped=3)
    xml = (pytester.path / "out" / "junit.xml").read_text()
    assert "clustermesh-record" not in xml, "the record travels on reports, not into JUnit"
    cases = junit_cases(pytester.path / "out" / "junit.xml")
    assert len(cases) == 50

    failed = [c for c in cases if c.find("failure") is not None]
    assert len(failed) == 1
    (case,) = failed
    failure = case.find("failure")
    assert failure is not None
    assert failure.attrib["message"] == (
        "cluster1/test->cluster1/myapp:80 in step policy-on-cluster1: "
        "expected allow, observed dropped"
    )
    assert failure.text is not None
    assert "why the model decided so:" in failure.text
    assert properties(case) == {
        "scenario": "guide",
        "step": "policy-on-cluster1",
        "expected": "allow",
        "observed": "dropped",
        "attempts": "1",
        "source": "cluster1/test",
        "destination": "cluster1/myapp:80",
        "served_by": "",
        "cluster_name.cluster1": "cluster1",
        "cilium_version.cluster1": "1.18",
        "cluster_name.cluster2": "cluster2",
        "cilium_version.cluster2": "1.18",
    }

    served = [
        c
        for c in cases
        if c.attrib["classname"].endswith("no-policy")
        and c.attrib["name"] == "cluster2/frontend->service/myapp-service:80"
    ]
    assert len(served) == 1
    props = properties(served[0])
    assert (props["served_by"], props["expected_served_by"]) == ("cluster2", "cluster2")
    assert props["destination"] == "service/myapp-service:80"

    skipped = [c for c in cases if c.find("skipped") is not None]
    assert len(skipped) == 3
    for case in skipped:
        props = properties(case)
        assert props["when"] == "policy-default-local-cluster=true"
        assert "observed" not in props


def test_the_short_summary_names_the_reason(pytester: pytest.Pytester, wrong_guide: Path) -> None:
    result = pytester.runpytest("scenarios", SIMULATED, "-rf", "-vv")
    result.stdout.fnmatch_lines(
        [
            "FAILED scenarios/guide/guide.scenario.yaml::policy-on-cluster1::"
            "cluster1/test->cluster1/myapp:80 - cluster1/test->cluster1/myapp:80 in step "
            "policy-on-cluster1: expected allow, observed dropped"
        ]
    )
