"""What the conformance suite's own files say, read independently of a run: the oracle the
tests hold runs against (which cells must change across an upgrade, which keys exist)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_clustermesh.conformance import SUITE_DIR, scenario_files
from pytest_clustermesh.reports.records import ProbeKey
from pytest_clustermesh.scenario import Case, Scenario, load_scenario
from pytest_clustermesh.simulated import simulated_facts

REPO = Path(__file__).resolve().parents[2]
SUITE = ("--pyargs", "pytest_clustermesh.conformance")
PDLC = "policy-default-local-cluster"


def scenarios() -> list[Scenario]:
    return [load_scenario(path) for path in scenario_files()]


def key_of(scenario: Scenario, case: Case) -> ProbeKey:
    probe = case.probe
    http = f"{probe.http.method} {probe.http.path}" if probe.http is not None else ""
    return ProbeKey(
        scenario.name,
        case.step.name,
        f"{probe.source_cluster}/{probe.source}",
        str(probe.target),
        probe.port,
        probe.protocol,
        http,
    )


def expected_verdicts(
    version: str, options: Mapping[str, str] | None = None, *, clusters: int = 3
) -> dict[ProbeKey, str]:
    """The verdict the suite expects for each probe on a mesh of ``version`` with ``options``,
    for the scenarios that fit on ``clusters`` clusters, read from the scenario files alone."""
    expected: dict[ProbeKey, str] = {}
    for scenario in scenarios():
        if len(scenario.model.clusters) > clusters:
            continue
        facts = simulated_facts(scenario.model.clusters, version, options)
        for case in scenario.cases:
            if case.when is not None and case.when.unmet(facts):
                continue
            assert case.verdict is not None, "the suite pins every verdict (no matrix cells)"
            key = key_of(scenario, case)
            verdict = case.verdict.value
            assert expected.setdefault(key, verdict) == verdict, f"{key}: two verdicts"
    return expected


def changed_keys(
    before: tuple[str, Mapping[str, str]],
    after: tuple[str, Mapping[str, str]],
    *,
    clusters: int = 3,
    leave_out: tuple[str, ...] = (),
) -> set[str]:
    """The probes whose expected verdict differs between two meshes: what an upgrade report
    must list, exactly. ``leave_out`` names scenarios that do not run on either mesh."""
    old = expected_verdicts(*before, clusters=clusters)
    new = expected_verdicts(*after, clusters=clusters)
    return {
        str(key)
        for key in old.keys() & new.keys()
        if old[key] != new[key] and key.scenario not in leave_out
    }


def read_results(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text())
    return document


__all__ = [
    "PDLC",
    "REPO",
    "SUITE",
    "SUITE_DIR",
    "changed_keys",
    "expected_verdicts",
    "key_of",
    "read_results",
    "scenario_files",
    "scenarios",
]
