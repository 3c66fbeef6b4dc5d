"""The baseline diff under one key: every record that ran shows, and each part of the key
separates verdicts."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from pytest_clustermesh.reports import baseline
from pytest_clustermesh.reports.records import ERROR, FAILED, SKIPPED

from .records import facts, record


def test_every_disagreeing_record_under_one_key_shows() -> None:
    """Two cases of one probe (they differ only in ``when:``) both ran and disagree: the key's
    verdict names both outcomes, in run order, so neither hides the other."""
    agree = [
        record("c1/a", "c2/web", "allow", "allowed", when="local=false"),
        record("c1/a", "c2/web", "allow", "allowed", when="tier=gold"),
    ]
    disagree = [
        record("c1/a", "c2/web", "allow", "allowed", when="local=false"),
        record("c1/a", "c2/web", "deny", "dropped", when="tier=gold"),
    ]
    reversed_ = list(reversed(disagree))
    (key,) = baseline.observations(disagree)
    values = {
        name: baseline.observations(records)[key].value
        for name, records in (("agree", agree), ("disagree", disagree), ("reversed", reversed_))
    }
    assert values["agree"] == "allowed"
    assert values["disagree"].split("/") == ["allowed", "dropped"]
    assert values["reversed"].split("/") == ["dropped", "allowed"]
    (change,) = baseline.compare(agree, disagree).changes
    assert (change.before.value, change.after.value) == (values["agree"], values["disagree"])
    text = "\n".join(baseline.render_text(baseline.compare(agree, disagree), "b.json"))
    assert values["disagree"] in text


def test_a_third_record_that_disagrees_shows_too() -> None:
    records = [record("c1/a", "c2/web", "allow", "allowed", when=f"w={n}") for n in range(3)]
    records[2] = replace(records[2], observed="refused", expected="refused")
    (observation,) = baseline.observations(records).values()
    assert observation.value.split("/") == ["allowed", "refused"]


def test_a_record_that_did_not_run_does_not_hide_one_that_did() -> None:
    records = [
        record("c1/a", "c2/web", "allow", None, status=SKIPPED, when="local=true"),
        record("c1/a", "c2/web", "allow", None, status=ERROR, when="tier=gold"),
        record("c1/a", "c2/web", "deny", "dropped", when="local=false"),
    ]
    (observation,) = baseline.observations(records).values()
    assert observation.value == "dropped"
    assert observation.versions == "1.19"


def test_without_an_observation_an_error_wins_over_a_skip() -> None:
    skipped = record("c1/a", "c2/web", "allow", None, status=SKIPPED, when="a")
    errored = record("c1/a", "c2/web", "allow", None, status=ERROR, when="b")
    failed = record("c1/a", "c2/web", "allow", None, status=FAILED, when="c")
    for group in ([skipped, errored], [errored, skipped]):
        (observation,) = baseline.observations(group).values()
        assert observation.value == ERROR
    (only_skipped,) = baseline.observations([skipped, replace(skipped, when="d")]).values()
    assert only_skipped.value == baseline.NOT_RUN
    (mixed,) = baseline.observations([skipped, failed]).values()
    assert mixed.value == skipped.status


@pytest.mark.parametrize(
    "field, value",
    [
        ("scenario", "other"),
        ("step", "closed"),
        ("source", "c1/b"),
        ("target", "c2/api"),
        ("port", 8080),
        ("protocol", "UDP"),
        ("http", "GET /admin"),
    ],
)
def test_each_part_of_the_key_separates_verdicts(field: str, value: Any) -> None:
    one = record("c1/a", "c2/web", "allow", "allowed")
    other = replace(one, observed="dropped", expected="deny")
    other = replace(other, **{field: value})
    observed = baseline.observations([one, other])
    assert sorted(o.value for o in observed.values()) == ["allowed", "dropped"]
    comparison = baseline.compare([one], [one, other])
    assert (comparison.changes, comparison.unchanged) == ((), 1)
    assert comparison.added == (other.key,)


def test_facts_come_from_a_record_that_ran_else_from_the_scenario() -> None:
    ran = record("c1/a", "c2/web", "allow", "allowed", facts=facts("1.18"))
    skipped = record("c1/b", "c2/web", "allow", None, status=SKIPPED)
    no_facts = replace(ran, facts={}, source="c1/c")
    found = baseline.observations([skipped, ran, no_facts])
    assert {str(k).split("::")[2]: o.versions for k, o in found.items()} == {
        "c1/b->c2/web:80": "1.18",
        "c1/a->c2/web:80": "1.18",
        "c1/c->c2/web:80": "1.18",
    }
    explained = replace(ran, explanation=("ingress at cluster2: allowed",), when="x")
    (observation,) = baseline.observations([replace(ran, when="y"), explained]).values()
    assert observation.explanation == ("ingress at cluster2: allowed",)


def test_a_change_as_data_names_its_key_and_both_verdicts() -> None:
    """The results file's ``changes``: what a tool reading it finds under each field."""
    before = [record("c1/a", "c2/web", "allow", "allowed", port=8080, facts=facts("1.18"))]
    after = [record("c1/a", "c2/web", "deny", "dropped", port=8080)]
    (change,) = baseline.compare(before, after).changes
    document = baseline.change_document(change)
    assert {k: document[k] for k in ("key", "scenario", "step", "source", "destination")} == {
        "key": str(change.key),
        "scenario": change.key.scenario,
        "step": change.key.step,
        "source": "c1/a",
        "destination": "c2/web:8080",
    }
    assert document["before"]["verdict"] == "allowed"
    assert document["after"] == {"verdict": "dropped", "cilium": "1.19", "explanation": []}
    assert set(document) == {
        "key", "scenario", "step", "source", "destination", "facts_changed", "before", "after"
    }  # fmt: skip


def test_several_answering_clusters_are_each_named() -> None:
    both = record("c1/a", "service/web", "allow", "allowed", served_by=("c2", "c1"))
    (observation,) = baseline.observations([both]).values()
    assert observation.value == "allowed(c1,c2)"


def test_an_answer_from_part_of_the_expected_pool_or_all_of_it_is_the_pool() -> None:
    pool = ("c1", "c2")
    for served in (("c1",), ("c1", "c2")):
        picked = record(
            "c1/a", "service/web", "allow", "allowed", served_by=served, expected_served_by=pool
        )
        (observation,) = baseline.observations([picked]).values()
        assert observation.value == "allowed(c1|c2)"
    single = record(
        "c1/a", "service/web", "allow", "allowed", served_by=("c1",), expected_served_by=("c1",)
    )
    (observation,) = baseline.observations([single]).values()
    assert observation.value == "allowed(c1)"


def test_a_key_without_an_explanation_has_an_empty_one() -> None:
    (observation,) = baseline.observations([record("c1/a", "c2/web", "allow", "allowed")]).values()
    assert observation.explanation == ()
    before = [record("c1/a", "c2/web", "allow", "allowed")]
    (change,) = baseline.compare(before, [replace(before[0], observed="dropped")]).changes
    assert baseline.explain_change(change)[-1] == "  after (Cilium 1.19): no explanation recorded"


def test_an_option_with_no_cluster_recorded_is_unknown() -> None:
    before = [record("c1/a", "c2/web", "allow", "allowed")]
    unknown = [record("c1/a", "c2/web", "allow", None, status=SKIPPED)]
    (change,) = baseline.compare(before, unknown).changes
    assert "policy-default-local-cluster: true -> ?" in baseline.facts_changes(change)
