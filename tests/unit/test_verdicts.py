"""What each verdict accepts, and how the runner judges a result against an expectation.

The whole table, cell by cell: a verdict that accepted one outcome too many would let a broken
probe or the wrong kind of denial pass (README, "Expectations").
"""

from __future__ import annotations

import pytest

from pytest_clustermesh.runner import judge
from pytest_clustermesh.verdicts import Outcome, ProbeResult, Verdict

A, D, L7, R, DNS, ERR = (
    Outcome.ALLOWED,
    Outcome.DROPPED,
    Outcome.L7_DENIED,
    Outcome.REFUSED,
    Outcome.DNS_FAILURE,
    Outcome.PROBE_ERROR,
)

ACCEPTS = {
    Verdict.ALLOW: {A},
    Verdict.DENY: {D, L7},  # both ways Cilium denies: a silent drop, the proxy's 403
    Verdict.DROP: {D},
    Verdict.L7_DENY: {L7},
    Verdict.REFUSED: {R},  # allowed, nothing listens: not an allow
}


@pytest.mark.parametrize("verdict", list(Verdict))
@pytest.mark.parametrize("outcome", list(Outcome))
def test_each_verdict_accepts_exactly_its_outcomes(verdict: Verdict, outcome: Outcome) -> None:
    assert verdict.accepts(outcome) is (outcome in ACCEPTS[verdict])


def test_no_verdict_accepts_a_probe_that_proves_nothing() -> None:
    for verdict in Verdict:
        assert not verdict.accepts(DNS) and not verdict.accepts(ERR)
    assert DNS.is_error and ERR.is_error
    assert not any(outcome.is_error for outcome in (A, D, L7, R))


@pytest.mark.parametrize(
    ("outcome", "verdict"),
    [(A, Verdict.ALLOW), (D, Verdict.DROP), (L7, Verdict.L7_DENY), (R, Verdict.REFUSED)],
)
def test_an_outcome_maps_to_its_most_specific_verdict(outcome: Outcome, verdict: Verdict) -> None:
    """What a matrix cell expects from the model's prediction."""
    assert Verdict.of(outcome) is verdict


@pytest.mark.parametrize("outcome", [DNS, ERR])
def test_an_error_outcome_has_no_verdict(outcome: Outcome) -> None:
    with pytest.raises(ValueError, match="is not a verdict"):
        Verdict.of(outcome)


def served(*clusters: str) -> ProbeResult:
    return ProbeResult(A, served_by=frozenset(clusters))


@pytest.mark.parametrize(
    ("wanted", "result", "passes"),
    [
        (None, served(), True),  # no served_by in the expectation: anyone may answer
        ({"cluster1"}, served("cluster1"), True),
        ({"cluster1", "cluster2"}, served("cluster2"), True),
        ({"cluster1"}, served("cluster2"), False),
        ({"cluster1"}, served("cluster1", "cluster2"), False),  # one answer from elsewhere
        ({"cluster1"}, served(), False),  # an answer naming no cluster proves nothing
    ],
)
def test_served_by_needs_an_answer_from_the_named_clusters(
    wanted: set[str] | None, result: ProbeResult, passes: bool
) -> None:
    ok, problem = judge(Verdict.ALLOW, frozenset(wanted) if wanted else None, result)
    assert ok is passes
    assert (problem == "") is passes
    if not passes:
        assert "expected an answer from" in problem


@pytest.mark.parametrize("outcome", [DNS, ERR])
@pytest.mark.parametrize("verdict", list(Verdict))
def test_judge_fails_a_probe_that_could_not_run_whatever_was_expected(
    verdict: Verdict, outcome: Outcome
) -> None:
    ok, problem = judge(verdict, None, ProbeResult(outcome))
    assert not ok
    assert "could not run" in problem and outcome.value in problem


def test_judge_names_expected_and_observed_when_they_differ() -> None:
    ok, problem = judge(Verdict.DROP, None, ProbeResult(L7))
    assert not ok
    assert problem == "expected drop, observed l7-denied"
