"""Fixtures of the report tests: the shipped guide, copied into the pytester directory."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "scenarios" / "guide"
SIMULATED = "--mesh-backend=simulated"
GUIDE_FILE = "scenarios/guide/guide.scenario.yaml"

#: policy-on-cluster1 denies cluster1/test -> cluster1/myapp; this expectation says allow.
RIGHT = "      - {from: cluster1/test, to: cluster1/myapp, verdict: deny}\n"
WRONG = "      - {from: cluster1/test, to: cluster1/myapp, verdict: allow}\n"
WRONG_ITEM = f"{GUIDE_FILE}::policy-on-cluster1::cluster1/test->cluster1/myapp:80"


@pytest.fixture
def guide(pytester: pytest.Pytester) -> Path:
    """The shipped guide scenario, copied into the pytester directory."""
    target = pytester.path / "scenarios"
    shutil.copytree(GUIDE, target / "guide")
    return target


@pytest.fixture
def wrong_guide(guide: Path) -> Path:
    """The guide with one deliberately wrong expectation (:data:`WRONG_ITEM`)."""
    scenario = guide / "guide" / "guide.scenario.yaml"
    text = scenario.read_text()
    assert text.count(RIGHT) == 1, "the guide changed: pick another expectation to break"
    scenario.write_text(text.replace(RIGHT, WRONG))
    return guide
