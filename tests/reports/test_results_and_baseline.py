"""The JSON results file, and the upgrade check against a baseline run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .conftest import SIMULATED, WRONG_ITEM

CROSS_CLUSTER = [
    ("policy-on-cluster1", "cluster2/frontend", "cluster1/myapp:80"),
    ("policy-on-both", "cluster1/frontend", "cluster2/myapp:80"),
    ("policy-on-both", "cluster2/frontend", "cluster1/myapp:80"),
]


def load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text())
    return document


def by_case(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["step"], r["case"]): r for r in document["records"]}


def test_one_record_per_item_with_the_runs_metadata(
    pytester: pytest.Pytester, wrong_guide: Path
) -> None:
    result = pytester.runpytest(
        "scenarios", SIMULATED, "--clustermesh-run-id=r1", "--clustermesh-results=out/r.json"
    )
    result.assert_outcomes(failed=1, passed=46, skipped=3)
    result.stdout.fnmatch_lines([f"clustermesh: results written to {pytester.path}/out/r.json"])
    document = load(pytester.path / "out" / "r.json")
    assert (document["format"], document["version"]) == ("pytest-clustermesh-results", 1)
    run = document["run"]
    assert run["run_id"] == "r1"
    assert (run["backend"], run["sim_cilium_version"], run["exit_status"]) == (
        "simulated",
        "1.19",
        1,
    )
    assert run["counts"] == {
        "passed": 46, "failed": 1, "skipped": 3, "xfailed": 0, "xpassed": 0, "error": 0
    }  # fmt: skip
    assert run["clusters"]["guide"]["cluster2"]["options"]["policy-default-local-cluster"] == "true"
    assert run["versions"]["pytest-clustermesh"]

    records = document["records"]
    assert len(records) == 50
    assert len({r["nodeid"] for r in records}) == 50
    assert [r["step"] for r in records[:12]] == ["no-policy"] * 12
    cases = by_case(document)

    cross = cases[
        (
            "policy-on-cluster1",
            "cluster2/frontend->cluster1/myapp:80[policy-default-local-cluster=true]",
        )
    ]
    assert {k: cross[k] for k in ("scenario", "source", "target", "port", "protocol")} == {
        "scenario": "guide",
        "source": "cluster2/frontend",
        "target": "cluster1/myapp",
        "port": 80,
        "protocol": "TCP",
    }
    assert (cross["expected"], cross["observed"], cross["status"]) == ("deny", "dropped", "passed")
    assert cross["attempts"] == 1 and cross["prediction"] is None
    assert cross["facts"]["cluster1"] == {
        "cluster_name": "cluster1",
        "cluster_id": 1,
        "cilium_version": "1.19",
        "options": {
            # ClusterNetworkPolicy is enforced from 1.20 only, so 1.19 runs as without it.
            "enable-k8s-cluster-network-policy": "false",
            "enable-policy": "default",
            "policy-audit-mode": "false",
            "policy-default-local-cluster": "true",
        },
    }
    assert any("ingress at cluster1: default deny" in line for line in cross["explanation"])

    service = cases[("no-policy", "cluster2/test->service/myapp-service:80")]
    assert service["target"] == "service/myapp-service"
    assert (service["served_by"], service["expected_served_by"]) == (["cluster2"], ["cluster2"])
    assert service["served_pod"] == "myapp-cluster2-0"

    skipped = cases[
        (
            "policy-on-cluster1",
            "cluster2/frontend->cluster1/myapp:80[policy-default-local-cluster=false]",
        )
    ]
    assert (skipped["status"], skipped["observed"]) == ("skipped", None)
    assert skipped["message"].startswith("when: policy-default-local-cluster=false does not hold")

    (failed,) = [r for r in records if r["status"] == "failed"]
    assert failed["nodeid"] == WRONG_ITEM
    assert failed["message"].startswith(
        "cluster1/test->cluster1/myapp:80 in step policy-on-cluster1: "
        "expected allow, observed dropped"
    )
    assert failed["detail"] == "test-cluster1-0 -> myapp-cluster1-0: dropped"


def test_the_ini_twin_is_relative_to_the_ini_file(pytester: pytest.Pytester, guide: Path) -> None:
    pytester.makeini("[pytest]\nclustermesh_results = reports/run.json\n")
    sub = pytester.mkdir("elsewhere")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(sub)
        result = pytester.runpytest(str(guide), SIMULATED, "-k", "no-policy")
    result.assert_outcomes(passed=12)
    assert len(load(pytester.path / "reports" / "run.json")["records"]) == 12


def test_an_upgrade_from_1_18_to_1_19_changes_the_cross_cluster_verdicts(
    pytester: pytest.Pytester, guide: Path
) -> None:
    before = pytester.runpytest(
        "scenarios", SIMULATED, "--sim-cilium-version=1.18", "--clustermesh-results=v118.json"
    )
    before.assert_outcomes(passed=47, skipped=3)

    after = pytester.runpytest(
        "scenarios", SIMULATED, "--sim-cilium-version=1.19", "--clustermesh-baseline=v118.json"
    )
    after.assert_outcomes(passed=47, skipped=3)
    assert after.ret == 0, "changes alone do not fail the run"
    after.stdout.fnmatch_lines(
        [
            "*= clustermesh verdict changes =*",
            f"3 of 47 verdicts changed since {pytester.path}/v118.json:",
            "  scenario  step  *source  *destination  *before  *after  *Cilium before  *"
            "Cilium after",
        ]
    )
    lines = after.stdout.lines
    start = lines.index(f"3 of 47 verdicts changed since {pytester.path}/v118.json:")
    rows = [line.split() for line in lines[start + 2 : start + 5]]
    # Before, the destination's cluster answered; after, nobody does.
    assert rows == [
        [
            "guide",
            step,
            source,
            destination,
            f"allowed({destination.split('/')[0]})",
            "dropped",
            "1.18",
            "1.19",
        ]
        for step, source, destination in CROSS_CLUSTER
    ]
    assert "added (only in this run)" not in after.stdout.str()

    failing = pytester.runpytest(
        "scenarios",
        SIMULATED,
        "--sim-cilium-version=1.19",
        "--clustermesh-baseline=v118.json",
        "--clustermesh-fail-on-change",
    )
    failing.assert_outcomes(passed=47, skipped=3)
    assert failing.ret == 1
    failing.stdout.fnmatch_lines(
        [
            f"clustermesh: 3 verdicts changed since {pytester.path}/v118.json; "
            "--clustermesh-fail-on-change fails the run"
        ]
    )

    same = pytester.runpytest(
        "scenarios",
        SIMULATED,
        "--sim-cilium-version=1.18",
        "--clustermesh-baseline=v118.json",
        "--clustermesh-fail-on-change",
    )
    assert same.ret == 0
    same.stdout.fnmatch_lines([f"no verdict changed since {pytester.path}/v118.json (47 compared)"])


def test_items_in_one_run_only_are_added_or_removed_not_changed(
    pytester: pytest.Pytester, guide: Path
) -> None:
    pytester.makeini("[pytest]\nclustermesh_fail_on_change = true\n")
    base = pytester.runpytest("scenarios", SIMULATED, "--clustermesh-results=base.json")
    base.assert_outcomes(passed=47, skipped=3)
    scenario = guide / "guide" / "guide.scenario.yaml"
    text = scenario.read_text()
    removed = "      - {from: cluster2/test, to: cluster1/myapp, verdict: deny}\n"
    assert text.count(removed) == 1
    added = (
        "      - {from: cluster1/frontend, to: cluster1/myapp, http: {path: /x}, verdict: allow}\n"
    )
    scenario.write_text(text.replace(removed, added))
    result = pytester.runpytest(
        "scenarios", SIMULATED, "--clustermesh-baseline=base.json", "-k", "policy-on-cluster1"
    )
    assert result.ret == 0, "the ini's fail-on-change: only changes fail, and nothing changed"
    out = result.stdout.str()
    assert "no verdict changed since" in out
    result.stdout.fnmatch_lines(
        [
            "removed (only in the baseline): 36",
            "  - guide::no-policy::cluster1/frontend->cluster1/myapp:80",
        ]
    )
    assert "  - guide::policy-on-cluster1::cluster2/test->cluster1/myapp:80" in out
    result.stdout.fnmatch_lines(
        [
            "added (only in this run): 1",
            "  + guide::policy-on-cluster1::cluster1/frontend->cluster1/myapp:80 GET /x",
        ]
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--clustermesh-fail-on-change"],
            "*--clustermesh-fail-on-change compares against a baseline: "
            "pass --clustermesh-baseline=PATH*",
        ),
        (
            ["--clustermesh-baseline=nope.json"],
            "*--clustermesh-baseline: *nope.json: no such file*",
        ),
        (
            ["--clustermesh-baseline=garbage.json"],
            "*--clustermesh-baseline: *garbage.json: not JSON*",
        ),
    ],
)
def test_option_mistakes_are_usage_errors(
    pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    pytester.makefile(".json", garbage="{not json")
    result = pytester.runpytest(SIMULATED, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
