"""Records are built on xdist workers and assembled on the controller."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from .conftest import SIMULATED


def records(path: Path) -> dict[str, dict[str, Any]]:
    """Records by node id, without what differs from run to run (timings)."""
    document = json.loads(path.read_text())
    return {
        r["nodeid"]: {k: v for k, v in r.items() if k != "duration"} for r in document["records"]
    }


def test_two_workers_give_the_same_records_as_one_process(
    pytester: pytest.Pytester, wrong_guide: Path
) -> None:
    """Two scenarios, so each worker runs one (a scenario's items stay on one worker)."""
    copy = wrong_guide / "copy"
    shutil.copytree(wrong_guide / "guide", copy)
    scenario = copy / "guide.scenario.yaml"
    scenario.write_text(scenario.read_text().replace("name: guide\n", "name: guide-copy\n"))
    common = ["scenarios", SIMULATED, "--clustermesh-run-id=same"]
    single = pytester.runpytest(*common, "--clustermesh-results=single.json")
    single.assert_outcomes(failed=2, passed=92, skipped=6)
    workers = pytester.runpytest_subprocess(
        *common,
        *("-p", "xdist", "-n", "2", "-v", "-p", "no:hypothesispytest"),  # hypothesis: slow
        *("--clustermesh-results=xdist.json", "--junitxml=xdist.xml"),
    )
    workers.assert_outcomes(failed=2, passed=92, skipped=6)
    assert {"[gw0]", "[gw1]"} <= {line.split()[0] for line in workers.stdout.lines if line}

    one, two = records(pytester.path / "single.json"), records(pytester.path / "xdist.json")
    assert len(two) == 100
    assert {r["scenario"] for r in two.values()} == {"guide", "guide-copy"}
    assert two == one
    # The controller, not a worker, printed the tables and wrote the file.
    workers.stdout.fnmatch_lines(
        [
            "*= clustermesh truth tables =*",
            "guide-copy::policy-on-cluster1: 1 of 12 probes not as expected",
            "guide::policy-on-cluster1: 1 of 12 probes not as expected",
            f"clustermesh: results written to {pytester.path}/xdist.json",
        ]
    )
    xml = (pytester.path / "xdist.xml").read_text()
    assert "clustermesh-record" not in xml
    messages = [failure.attrib["message"] for failure in ET.fromstring(xml).iter("failure")]
    reason = "cluster1/test->cluster1/myapp:80 in step policy-on-cluster1: expected allow, observed"
    assert messages == [f"{reason} dropped"] * 2
