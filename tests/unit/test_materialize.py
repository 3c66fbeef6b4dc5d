"""Names a run creates: run-unique, the same in every cluster, never shared by two scenarios."""

from __future__ import annotations

import shutil
from pathlib import Path

from pytest_clustermesh.backend import MAX_NAME
from pytest_clustermesh.scenario import load_scenario
from pytest_clustermesh.scenario.materialize import build_deployment

GUIDE = Path(__file__).resolve().parents[2] / "scenarios" / "guide"


def test_two_scenarios_with_the_same_name_get_different_namespaces(tmp_path: Path) -> None:
    """Otherwise one scenario's cleanup would delete the other's namespaces."""
    for folder in ("a", "b"):
        shutil.copytree(GUIDE, tmp_path / folder)
    first = build_deployment(load_scenario(tmp_path / "a" / "guide.scenario.yaml"), "run1")
    second = build_deployment(load_scenario(tmp_path / "b" / "guide.scenario.yaml"), "run1")
    assert first.key != second.key
    assert {ns.name for ns in first.namespaces}.isdisjoint(ns.name for ns in second.namespaces)


def test_names_are_dns_labels_unique_per_run(tmp_path: Path) -> None:
    scenario = load_scenario(GUIDE / "guide.scenario.yaml")
    one, other = build_deployment(scenario, "run1"), build_deployment(scenario, "run2")
    assert one.key != other.key
    for ns in (*one.namespaces, *other.namespaces):
        assert len(ns.name) <= MAX_NAME and ns.name.replace("-", "").isalnum()
