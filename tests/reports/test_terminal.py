"""Truth tables and retry summaries in the terminal, as a user runs the guide."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import pytest

from pytest_clustermesh.backend import Deployment, Probe
from pytest_clustermesh.simulated import SimulatedMesh
from pytest_clustermesh.verdicts import ProbeResult

from .conftest import SIMULATED


def grids(lines: Sequence[str], title: str) -> dict[str, dict[tuple[str, str], str]]:
    """The expected/observed/difference grids printed under ``title``, cell by cell."""
    start = next(i for i, line in enumerate(lines) if line.startswith(title + ":"))
    result: dict[str, dict[tuple[str, str], str]] = {}
    columns: list[str] = []
    which = ""
    for line in lines[start + 1 :]:
        if not line.startswith("  "):
            if line.strip():
                break
            continue
        words = line.split()
        if words[0] in ("expected", "observed", "difference"):
            which, columns = words[0], words[1:]
            result[which] = {}
        else:
            source, cells = words[0], words[1:]
            assert len(cells) == len(columns), line
            result[which].update(
                {(source, column): cell for column, cell in zip(columns, cells, strict=True)}
            )
    return result


def test_a_wrong_expectation_shows_up_as_a_difference_cell(
    pytester: pytest.Pytester, wrong_guide: Path
) -> None:
    result = pytester.runpytest("scenarios", SIMULATED)
    result.assert_outcomes(failed=1, passed=46, skipped=3)
    lines = result.stdout.lines
    result.stdout.fnmatch_lines(
        [
            "*= clustermesh truth tables =*",
            "guide::policy-on-cluster1: 1 of 12 probes not as expected",
            "legend  cells:      . allowed  X dropped  7 l7-denied  R refused*",
            "*difference: . as expected  X verdict differs*",
        ]
    )
    # Without -v only the failing step is printed.
    assert not [
        line for line in lines if line.startswith(("guide::no-policy", "guide::policy-on-b"))
    ]
    tables = grids(lines, "guide::policy-on-cluster1")
    cell = ("cluster1/test", "cluster1/myapp")
    assert (tables["expected"][cell], tables["observed"][cell]) == (".", "X")
    differences = {k for k, symbol in tables["difference"].items() if symbol != "."}
    assert differences == {cell}
    assert tables["observed"][("cluster1/test", "service/myapp-service")] == "X"
    # 1.19: cluster2's frontend no longer matches cluster1's policy; expected so, observed so.
    assert tables["observed"][("cluster2/frontend", "cluster1/myapp")] == "X"
    assert set(tables["expected"]) == set(tables["observed"]) == set(tables["difference"])
    assert len(tables["expected"]) == 12


def test_verbose_prints_every_step_and_a_clean_run_only_the_retry_line(
    pytester: pytest.Pytester, guide: Path
) -> None:
    quiet = pytester.runpytest("scenarios", SIMULATED)
    quiet.assert_outcomes(passed=47, skipped=3)
    assert "clustermesh truth tables" not in quiet.stdout.str()
    quiet.stdout.fnmatch_lines(["47 probes, none needed more than one attempt"])

    verbose = pytester.runpytest("scenarios", SIMULATED, "-v")
    titles = [
        line.split("::", 1)[1]
        for line in verbose.stdout.lines
        if line.startswith("guide::") and line.endswith("as expected")
    ]
    assert titles == [
        "no-policy: all 12 probes as expected",
        "policy-on-cluster1: all 12 probes as expected",
        "policy-on-both: all 12 probes as expected",
        "cluster-restricted-on-cluster2: all 11 probes as expected",
    ]
    tables = grids(verbose.stdout.lines, "guide::cluster-restricted-on-cluster2")
    assert tables["observed"][("cluster2/frontend", "cluster2/myapp")] == "X"
    assert tables["observed"][("cluster1/frontend", "cluster2/myapp")] == "."
    # cluster2/test -> service/myapp-service is not an expectation of that step:
    assert tables["expected"][("cluster2/test", "service/myapp-service")] == "-"
    verbose.stdout.fnmatch_lines(
        [
            "*- clustermesh retries -*",
            "step*probes*retried (>1 attempt)*max attempts",
            "guide::no-policy  *12  *0  *1",
            "0 of 47 probes needed more than one attempt",
        ]
    )


def test_a_run_that_passes_only_on_retries_shows_it(
    pytester: pytest.Pytester, guide: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backend that needed attempts (Cilium realises policy asynchronously) says so."""
    probe = SimulatedMesh.probe

    def slow_to_converge(
        self: SimulatedMesh, deployment: Deployment, probes: Sequence[Probe]
    ) -> list[ProbeResult]:
        results = probe(self, deployment, probes)
        return [
            dataclasses.replace(r, attempts=3) if p.source == "test" and p.expect else r
            for p, r in zip(probes, results, strict=True)
        ]

    monkeypatch.setattr(SimulatedMesh, "probe", slow_to_converge)
    result = pytester.runpytest("scenarios", SIMULATED, "-k", "policy-on-both")
    result.assert_outcomes(passed=12, skipped=2)
    result.stdout.fnmatch_lines(
        [
            "*- clustermesh retries -*",
            "step*probes*retried*",
            "guide::policy-on-both  *12  *6  *3",
            "6 of 12 probes needed more than one attempt",
        ]
    )
