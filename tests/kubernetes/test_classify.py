"""From curl's exit code and output to an outcome: only a connect-phase timeout and Cilium's
own 403 are denials."""

from __future__ import annotations

import pytest

from pytest_clustermesh.kubernetes.classify import classify, echo_text
from pytest_clustermesh.kubernetes.commands import CurlOutput, curl_stdout
from pytest_clustermesh.kubernetes.execs import exit_status
from pytest_clustermesh.verdicts import Outcome, Verdict


def test_an_echo_answer_is_allowed_and_names_who_served() -> None:
    result = classify(CurlOutput(0, curl_stdout(echo_text("kind-c2", "be-7f9-x"), 200)))
    assert result.outcome is Outcome.ALLOWED
    assert (result.served_cluster, result.served_pod) == ("kind-c2", "be-7f9-x")


def test_a_foreign_2xx_is_allowed_without_a_server() -> None:
    result = classify(CurlOutput(0, curl_stdout("hello", 204)))
    assert result.outcome is Outcome.ALLOWED and result.served_cluster is None


@pytest.mark.parametrize(
    ("exit_code", "stdout", "outcome"),
    [
        (0, curl_stdout("Access denied", 403), Outcome.L7_DENIED),
        (0, curl_stdout("Access denied\r\n", 403), Outcome.L7_DENIED),
        (0, curl_stdout("Forbidden", 403), Outcome.PROBE_ERROR),
        (0, curl_stdout("", 403), Outcome.PROBE_ERROR),
        (0, curl_stdout("<h1>Access denied</h1> by the app", 403), Outcome.PROBE_ERROR),
        (28, curl_stdout("", 0), Outcome.DROPPED),
        (28, curl_stdout("", 0, time_connect=0.0004), Outcome.PROBE_ERROR),
        (28, curl_stdout("partial bo", 0, time_connect=0.0004), Outcome.PROBE_ERROR),
        (28, curl_stdout("", 200), Outcome.PROBE_ERROR),
        (28, "", Outcome.PROBE_ERROR),
        (28, "\nhttp_code=000\n", Outcome.PROBE_ERROR),
        (7, curl_stdout("", 0), Outcome.REFUSED),
        (6, curl_stdout("", 0), Outcome.DNS_FAILURE),
        (126, "", Outcome.PROBE_ERROR),
        (127, "", Outcome.PROBE_ERROR),
        (35, "", Outcome.PROBE_ERROR),
        (None, "", Outcome.PROBE_ERROR),
        (0, "no status line", Outcome.PROBE_ERROR),
        (0, curl_stdout("oops", 500), Outcome.PROBE_ERROR),
        (0, curl_stdout("", 404), Outcome.PROBE_ERROR),
    ],
)
def test_outcomes(exit_code: int | None, stdout: str, outcome: Outcome) -> None:
    assert classify(CurlOutput(exit_code, stdout, "said something")).outcome is outcome


@pytest.mark.parametrize("exit_code", [None, 3, 6, 22, 35, 126, 127])
def test_nothing_but_a_drop_or_a_403_satisfies_deny(exit_code: int | None) -> None:
    outcome = classify(CurlOutput(exit_code, curl_stdout("", 0))).outcome
    assert not Verdict.DENY.accepts(outcome)


def test_a_timeout_after_connecting_is_not_a_drop() -> None:
    """A slow or hung server makes curl exit 28 too, but after the connection was made."""
    hung = CurlOutput(28, curl_stdout("", 0, time_connect=0.0005), "curl: (28) Operation timed out")
    result = classify(hung)
    assert result.outcome is Outcome.PROBE_ERROR
    assert "after the connection was made" in result.detail and "not a drop" in result.detail
    dropped = classify(CurlOutput(28, curl_stdout("", 0), "curl: (28) Connection timed out"))
    assert dropped.outcome is Outcome.DROPPED
    assert "before any connection was made" in dropped.detail


def test_a_403_from_the_users_server_is_not_a_denial() -> None:
    result = classify(CurlOutput(0, curl_stdout("Forbidden: admins only", 403)))
    assert result.outcome is Outcome.PROBE_ERROR
    assert "HTTP 403 not from Cilium's proxy" in result.detail
    assert "Forbidden: admins only" in result.detail


def test_errors_carry_what_curl_said() -> None:
    result = classify(CurlOutput(127, "", "sh: curl: not found"))
    assert "sh: curl: not found" in result.detail and "exit 127" in result.detail


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ('{"status":"Success","metadata":{}}', (0, None)),
        (
            '{"status":"Failure","reason":"NonZeroExitCode",'
            '"details":{"causes":[{"reason":"ExitCode","message":"28"}]}}',
            (28, None),
        ),
        ("", (None, "exec ended without a status (the connection closed early)")),
        (
            '{"status":"Failure","message":"exec: \\"sh\\": executable file not found"}',
            (None, 'exec: "sh": executable file not found'),
        ),
        ("[1, 2", (None, "unreadable exec status: '[1, 2'")),
    ],
)
def test_exit_status(status: str, expected: tuple[int | None, str | None]) -> None:
    assert exit_status(status) == expected
