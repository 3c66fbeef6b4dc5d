"""The upgrade workflow of docs/conformance.md on the simulated mesh, 1.18 -> 1.19, where
policy-default-local-cluster flips to on: results before, then the baseline check after.

The report must list exactly the probes whose verdict changed, each with the model's
explanation under both versions; which ones must change is read from the scenario files
(:func:`.suite.changed_keys`), not from a run.
"""

from __future__ import annotations

import pytest

from .suite import PDLC, SUITE, changed_keys, read_results

SIMULATED = "--mesh-backend=simulated"


def test_an_upgrade_report_lists_exactly_the_changed_verdicts_with_both_explanations(
    pytester: pytest.Pytester,
) -> None:
    before = pytester.runpytest(
        *SUITE, SIMULATED, "--sim-cilium-version=1.18", "--clustermesh-results=before.json"
    )
    assert before.ret == 0
    after = pytester.runpytest(
        *SUITE, SIMULATED, "--sim-cilium-version=1.19", "--clustermesh-baseline=before.json",
        "--clustermesh-fail-on-change", "--clustermesh-results=after.json",
    )  # fmt: skip
    assert "failed" not in after.parseoutcomes(), "every item passes on 1.19 too"
    assert after.ret == pytest.ExitCode.TESTS_FAILED, "--clustermesh-fail-on-change"

    expected = changed_keys(("1.18", {}), ("1.19", {}))
    assert len(expected) >= 15, "the suite pins many cells that the option flips"
    report = read_results(pytester.path / "after.json")["run"]["baseline"]
    changes = {change["key"]: change for change in report["changed"]}
    assert set(changes) == expected
    assert report["changes"] == len(expected)

    out = after.stdout.str()
    total = len(read_results(pytester.path / "before.json")["records"])
    assert f"{len(expected)} of " in out and "verdicts changed since" in out
    assert "why each verdict changed:" in out
    assert (
        f"clustermesh: {len(expected)} verdicts changed since {pytester.path}/before.json; "
        "--clustermesh-fail-on-change fails the run"
    ) in out
    assert total > len(expected)
    for key, change in changes.items():
        assert change["facts_changed"] == ["Cilium 1.18 -> 1.19", f"{PDLC}: false -> true"]
        assert (change["before"]["cilium"], change["after"]["cilium"]) == ("1.18", "1.19")
        old, new = change["before"]["explanation"], change["after"]["explanation"]
        assert old and new and old != new, key
        assert f"  {key}: {change['before']['verdict']} -> {change['after']['verdict']}" in out
        for reason in (*old, *new):
            assert f"      - {reason}" in out

    # The deny that option on no longer covers remote pods (docs SF17): the reasons name the
    # rule that decided before and the one that decides after.
    trap = changes["deny::deny-without-cluster::cluster2/frontend->cluster1/echo:8080"]
    assert (trap["before"]["verdict"], trap["after"]["verdict"]) == ("dropped", "allowed(cluster1)")
    assert any(
        "denied by CNP" in r and "echo-deny-frontend" in r for r in trap["before"]["explanation"]
    )
    assert any(
        "allowed by CNP" in r and "echo-from-any-cluster" in r for r in trap["after"]["explanation"]
    )

    # 1.18 -> 1.19 with policy-default-local-cluster kept false (upgrade.rst allows it for a
    # transition): the suite's verdicts do not change, and the check passes.
    assert changed_keys(("1.18", {}), ("1.19", {PDLC: "false"})) == set()
    kept = pytester.runpytest(
        *SUITE, SIMULATED, "--sim-cilium-version=1.19", f"--sim-option={PDLC}=false",
        "--clustermesh-baseline=before.json", "--clustermesh-fail-on-change",
    )  # fmt: skip
    assert kept.ret == 0
    kept.stdout.fnmatch_lines(["no verdict changed since */before.json (* compared)"])
