"""Truth tables, retry summaries and baseline diffs over plain records (no pytest run)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from pytest_clustermesh.reports import baseline, resultsfile, truthtable
from pytest_clustermesh.reports.records import FAILED, SKIPPED, XFAILED, CaseRecord, versions_text
from pytest_clustermesh.reports.resultsfile import ResultsFileError

from .records import facts, record


def grid(table: truthtable.TruthTable, which: truthtable.Grid) -> dict[tuple[str, str], str]:
    return {
        (source, destination): symbol
        for source, row in zip(table.sources, table.grid(which), strict=True)
        for destination, symbol in zip(table.destinations, row, strict=True)
    }


def test_a_record_survives_json() -> None:
    original = record(
        "cluster1/a",
        "service/web",
        "allow",
        "allowed",
        served_by=("cluster1",),
        expected_served_by=("cluster1",),
        explanation=("egress at cluster1: allowed",),
        http="GET /x",
    )
    assert CaseRecord.from_json(original.to_json()) == original
    assert original.key.destination == "service/web:80 GET /x"


def test_cells_expected_observed_and_difference() -> None:
    records = [
        record("cluster1/a", "cluster1/web", "allow", "allowed"),
        record("cluster1/a", "cluster2/web", "deny", "l7-denied"),
        record("cluster2/a", "cluster1/web", "allow", "dropped", status=FAILED),
        record("cluster2/a", "cluster2/web", "allow", None, status=SKIPPED),
        record(
            "cluster2/a",
            "service/web",
            "allow",
            "allowed",
            status=FAILED,
            served_by=("cluster1",),
            expected_served_by=("cluster2",),
        ),
        record("cluster1/a", "service/web", "deny", "allowed", status=XFAILED, xfail="gap"),
    ]
    (table,) = truthtable.truth_tables(records)
    assert table.sources == ("cluster1/a", "cluster2/a")
    assert table.destinations == ("cluster1/web", "cluster2/web", "service/web")
    assert grid(table, "expected") == {
        ("cluster1/a", "cluster1/web"): ".",
        ("cluster1/a", "cluster2/web"): "X",
        ("cluster1/a", "service/web"): "X",
        ("cluster2/a", "cluster1/web"): ".",
        ("cluster2/a", "cluster2/web"): "-",
        ("cluster2/a", "service/web"): ".",
    }
    observed = grid(table, "observed")
    assert observed[("cluster1/a", "cluster2/web")] == "7"
    assert observed[("cluster2/a", "cluster1/web")] == "X"
    assert grid(table, "difference") == {
        ("cluster1/a", "cluster1/web"): ".",
        ("cluster1/a", "cluster2/web"): ".",  # deny accepts an L7 denial
        ("cluster1/a", "service/web"): "x",
        ("cluster2/a", "cluster1/web"): "X",
        ("cluster2/a", "cluster2/web"): "-",
        ("cluster2/a", "service/web"): "S",
    }
    assert table.failures == 2
    assert table.summary == "3 of 5 probes not as expected"


def test_when_variants_share_a_cell_and_ports_split_columns() -> None:
    """Cases that differ only by ``when:`` are one probe; the one that ran fills the cell."""
    records = [
        record("c1/a", "c2/web", "allow", None, status=SKIPPED, when="x=true"),
        record("c1/a", "c2/web", "deny", "dropped", when="x=false"),
        record("c1/a", "c1/web", "allow", "allowed", port=80),
        record("c1/a", "c1/web", "allow", "refused", port=81, status=FAILED),
    ]
    (table,) = truthtable.truth_tables(records)
    assert table.destinations == ("c1/web:80", "c1/web:81", "c2/web")
    assert grid(table, "expected")[("c1/a", "c2/web")] == "X"
    assert grid(table, "observed")[("c1/a", "c1/web:81")] == "R"


def test_render_text_prints_three_grids_under_a_title() -> None:
    records = [
        record("cluster1/a", "cluster1/web", "allow", "dropped", status=FAILED),
        record("cluster1/b", "cluster1/web", "deny", "dropped"),
    ]
    lines = truthtable.render_text(truthtable.truth_tables(records)[0])
    assert lines[0] == "s::open: 1 of 2 probes not as expected"
    text = "\n".join(lines)
    assert "  expected    cluster1/web\n  cluster1/a       .\n  cluster1/b       X" in text
    assert "  difference  cluster1/web\n  cluster1/a       X\n  cluster1/b       ." in text


def test_retry_stats_show_a_step_that_passed_only_on_retries() -> None:
    records = [
        record("c1/a", "c1/web", "allow", "allowed", attempts=1),
        record("c1/b", "c1/web", "allow", "allowed", attempts=4),
        record("c1/a", "c1/web", "allow", "allowed", step="two", step_index=1, attempts=2),
        record("c1/b", "c1/web", "allow", None, step="two", step_index=1, status=SKIPPED),
    ]
    stats = truthtable.retry_stats(records)
    assert [(s.step, s.probes, s.retried, s.max_attempts) for s in stats] == [
        ("open", 2, 1, 4),
        ("two", 1, 1, 2),
    ]
    lines = truthtable.render_retries(stats)
    assert lines[0].split() == ["step", "probes", "retried", "(>1", "attempt)", "max", "attempts"]
    assert lines[1].split() == ["s::open", "2", "1", "4"]
    assert lines[-1] == "2 of 3 probes needed more than one attempt"
    calm = [replace(r, attempts=1) if r.attempts else r for r in records]
    assert truthtable.render_retries(truthtable.retry_stats(calm)) == [
        "3 probes, none needed more than one attempt"
    ]


def test_compare_reports_changes_and_lists_added_and_removed() -> None:
    before = [
        record("c1/a", "c2/web", "allow", "allowed", when="local=false", facts=facts("1.18")),
        record("c1/a", "c2/web", "deny", None, status=SKIPPED, when="local=true"),
        record("c1/b", "c2/web", "deny", "dropped", facts=facts("1.18")),
        record("c1/gone", "c2/web", "deny", "dropped", facts=facts("1.18")),
    ]
    after = [
        record("c1/a", "c2/web", "allow", None, status=SKIPPED, when="local=false"),
        record("c1/a", "c2/web", "deny", "dropped", when="local=true"),
        record("c1/b", "c2/web", "deny", "dropped"),
        record("c1/new", "c2/web", "deny", "dropped"),
    ]
    comparison = baseline.compare(before, after)
    assert [(str(c.key), c.before.value, c.after.value) for c in comparison.changes] == [
        ("s::open::c1/a->c2/web:80", "allowed", "dropped")
    ]
    change = comparison.changes[0]
    assert (change.before.versions, change.after.versions) == ("1.18", "1.19")
    assert [str(k) for k in comparison.added] == ["s::open::c1/new->c2/web:80"]
    assert [str(k) for k in comparison.removed] == ["s::open::c1/gone->c2/web:80"]
    assert comparison.unchanged == 1
    text = baseline.render_text(comparison, "before.json")
    assert text[0] == "1 of 2 verdicts changed since before.json:"
    assert text[1].split() == list(" ".join(baseline.CHANGE_HEADERS).split())
    assert text[2].split() == [
        "s",
        "open",
        "c1/a",
        "c2/web:80",
        "allowed",
        "dropped",
        "1.18",
        "1.19",
    ]
    assert "added (only in this run): 1" in text
    assert "  - s::open::c1/gone->c2/web:80" in text


def test_a_probe_that_stops_running_is_a_change() -> None:
    before = [record("c1/a", "c2/web", "allow", "allowed")]
    after = [record("c1/a", "c2/web", "allow", None, status=SKIPPED)]
    (change,) = baseline.compare(before, after).changes
    assert (change.before.value, change.after.value) == ("allowed", "not run")
    assert change.after.versions == "?"


def test_a_change_of_the_answering_cluster_is_a_change() -> None:
    """A global Service's affinity breaking across an upgrade changes who answers, even where
    no expectation pins served_by."""
    before = [record("c1/a", "service/web", "allow", "allowed", served_by=("cluster1",))]
    after = [record("c1/a", "service/web", "allow", "allowed", served_by=("cluster2",))]
    (change,) = baseline.compare(before, after).changes
    assert (change.before.value, change.after.value) == ("allowed(cluster1)", "allowed(cluster2)")


def test_a_different_pick_within_the_expected_clusters_is_no_change() -> None:
    """served_by: [cluster1, cluster2] (a global Service without affinity): which backend the
    load balancer picked is not the verdict; an answer from outside the set is a change."""
    pool = ("cluster1", "cluster2")
    before = [record("c1/a", "service/web", "allow", "allowed", served_by=("cluster1",),
                     expected_served_by=pool)]  # fmt: skip
    picked = [replace(before[0], served_by=("cluster2",))]
    comparison = baseline.compare(before, picked)
    assert (comparison.changes, comparison.unchanged) == ((), 1)
    outside = [replace(before[0], served_by=("cluster3",))]
    (change,) = baseline.compare(before, outside).changes
    assert (change.before.value, change.after.value) == (
        "allowed(cluster1|cluster2)",
        "allowed(cluster3)",
    )


def test_each_change_carries_the_models_reasons_and_the_facts_that_changed() -> None:
    def options(value: str) -> dict[str, str]:
        return {"policy-default-local-cluster": value, "enable-policy": "default"}

    old = {name: replace(c, options=options("false")) for name, c in facts("1.18").items()}
    new = {name: replace(c, options=options("true")) for name, c in facts("1.19").items()}
    before = [
        record(
            "c2/a",
            "c1/web",
            "allow",
            "allowed",
            served_by=("cluster1",),
            facts=old,
            explanation=("ingress at cluster1: allowed by CNP ns/p spec ingress[0]",),
        )
    ]
    after = [
        record(
            "c2/a",
            "c1/web",
            "allow",
            "dropped",
            facts=new,
            explanation=("ingress at cluster1: default deny (selected by CNP ns/p)",),
        )
    ]
    (change,) = baseline.compare(before, after).changes
    assert baseline.facts_changes(change) == [
        "Cilium 1.18 -> 1.19",
        "policy-default-local-cluster: false -> true",
    ]
    assert baseline.explain_change(change) == [
        "s::open::c2/a->c1/web:80: allowed(cluster1) -> dropped",
        "  facts that changed: Cilium 1.18 -> 1.19; policy-default-local-cluster: false -> true",
        "  before (Cilium 1.18), the model's explanation:",
        "    - ingress at cluster1: allowed by CNP ns/p spec ingress[0]",
        "  after (Cilium 1.19), the model's explanation:",
        "    - ingress at cluster1: default deny (selected by CNP ns/p)",
    ]
    text = baseline.render_text(baseline.compare(before, after), "before.json")
    assert text[3:] == ["why each verdict changed:"] + [
        "  " + line for line in baseline.explain_change(change)
    ]
    document = baseline.change_document(change)
    assert json.loads(json.dumps(document)) == document
    assert document["before"] == {
        "verdict": "allowed(cluster1)",
        "cilium": "1.18",
        "explanation": ["ingress at cluster1: allowed by CNP ns/p spec ingress[0]"],
    }
    assert document["facts_changed"][1] == "policy-default-local-cluster: false -> true"


def test_an_option_set_differently_per_cluster_is_named_per_cluster() -> None:
    mixed = {
        "cluster1": replace(facts("1.19")["cluster1"], options={"x": "true"}),
        "cluster2": replace(facts("1.19")["cluster2"], options={"x": "false"}),
    }
    before = [record("c1/a", "c2/w", "allow", "allowed", facts=facts("1.19"))]
    after = [record("c1/a", "c2/w", "allow", "dropped", facts=mixed)]
    (change,) = baseline.compare(before, after).changes
    assert baseline.facts_changes(change) == [
        "policy-default-local-cluster: true -> unset",
        "x: unset -> cluster1=true cluster2=false",
    ]
    lines = baseline.explain_change(change)
    assert lines[-2:] == [
        "  before (Cilium 1.19): no explanation recorded",
        "  after (Cilium 1.19): no explanation recorded",
    ]


def test_mixed_versions_are_named_per_cluster() -> None:
    mixed = {**facts("1.18", "cluster1"), **facts("1.19", "cluster2")}
    mixed_record = record("c1/a", "c2/w", "allow", "allowed", facts=mixed)
    assert versions_text(mixed_record.facts) == "cluster1=1.18 cluster2=1.19"


def test_the_results_file_round_trips_and_rejects_other_files(tmp_path: Path) -> None:
    records = [record("c1/a", "c2/web", "allow", "allowed"), record("c1/b", "c2/w", "deny", None)]
    path = tmp_path / "out" / "results.json"
    resultsfile.write(path, records, {"run_id": "abc"})
    read = resultsfile.read(path)
    assert list(read.records) == records
    assert read.run["run_id"] == "abc"
    assert read.run["counts"]["passed"] == 2
    assert read.run["clusters"]["s"]["cluster1"]["cilium_version"] == "1.19"
    bad = tmp_path / "bad.json"
    for content, reason in [
        ("{", "not JSON"),
        (json.dumps({"format": "junit"}), "not a pytest-clustermesh results file"),
        (json.dumps({"format": resultsfile.FORMAT, "version": 99}), "format version 99"),
    ]:
        bad.write_text(content)
        with pytest.raises(ResultsFileError, match=reason):
            resultsfile.read(bad)
    with pytest.raises(ResultsFileError, match="no such file"):
        resultsfile.read(tmp_path / "missing.json")


def test_pings_and_externals_get_columns_of_their_own() -> None:
    """s16, s17: a ping has no port (``:icmp``), an external destination no cluster; both are
    columns of the truth table, externals after the pods and Services."""
    records = [
        record("cluster1/a", "external/api", "allow", "allowed", port=443),
        record("cluster1/a", "cluster1/web", "deny", "dropped", port=0, protocol="ICMP"),
        record("cluster1/a", "cluster1/web", "allow", "allowed"),
        record("cluster1/a", "service/web", "allow", "allowed"),
        record("cluster1/a", "external/api", "deny", "dropped", port=0, protocol="ICMP"),
    ]
    ping = records[1]
    assert ping.key.destination == "cluster1/web:icmp"
    assert records[0].target_cluster is None and ping.target_cluster == "cluster1"
    assert records[0].key != records[4].key
    (table,) = truthtable.truth_tables(records)
    assert table.destinations == (
        "cluster1/web:80",
        "cluster1/web:icmp",
        "service/web",
        "external/api:443",
        "external/api:icmp",
    )
    cells = grid(table, "observed")
    assert cells[("cluster1/a", "cluster1/web:icmp")] == "X"
    assert cells[("cluster1/a", "external/api:443")] == "."
    assert CaseRecord.from_json(ping.to_json()) == ping
