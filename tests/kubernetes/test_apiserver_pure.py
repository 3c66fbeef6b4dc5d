"""The API server probe's curl and how its answers are read: ``--insecure`` and ``https``
survive the round trip the emulator reads commands back by, and any status the API server
answers is a connection (allowed), while Cilium's own ``Access denied`` stays an L7 denial."""

from __future__ import annotations

import json

import pytest

from pytest_clustermesh.kubernetes.classify import classify
from pytest_clustermesh.kubernetes.commands import (
    CurlOutput,
    CurlRequest,
    curl_argv,
    curl_stdout,
    parse_curl,
    url_of,
)
from pytest_clustermesh.verdicts import Outcome

STATUS_403 = json.dumps(
    {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'forbidden: User "system:anonymous" cannot get path "/"',
        "reason": "Forbidden",
        "details": {},
        "code": 403,
    }
)
STATUS_401 = json.dumps(
    {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Unauthorized",
        "reason": "Unauthorized",
        "code": 401,
    }
)
VERSION = json.dumps({"major": "1", "minor": "32", "gitVersion": "v1.32.2"})


def test_an_insecure_https_curl_round_trips() -> None:
    request = CurlRequest(url_of("172.18.1.2", 6443, "/version", "https"), insecure=True)
    argv = curl_argv(request)
    assert argv[:4] == ["curl", "--silent", "--show-error", "--insecure"]
    assert argv[-1] == "https://172.18.1.2:6443/version"
    assert parse_curl(argv) == request
    plain = CurlRequest(url_of("10.1.0.5", 8080, "/"))
    assert "--insecure" not in curl_argv(plain)
    assert parse_curl(curl_argv(plain)).insecure is False


def test_an_https_url_without_a_port_means_443_and_ipv6_is_bracketed() -> None:
    assert CurlRequest("https://172.18.1.2/version").port == 443
    assert CurlRequest("http://172.18.1.2/").port == 80
    request = CurlRequest(url_of("fd00::2", 6443, "version", "https"), insecure=True)
    assert request.url == "https://[fd00::2]:6443/version"
    assert (request.host, request.port, request.path) == ("fd00::2", 6443, "/version")


@pytest.mark.parametrize(
    ("body", "status", "said"),
    [
        (VERSION, 200, "HTTP 200 from the API server (connected): version v1.32.2"),
        (STATUS_401, 401, "HTTP 401 from the API server (connected): Unauthorized: Unauthorized"),
        (STATUS_403, 403, 'Forbidden: forbidden: User "system:anonymous" cannot get path "/"'),
        ("Client sent an HTTP request to an HTTPS server.", 400, "HTTP 400 from the API server"),
    ],
)
def test_any_answer_of_the_api_server_is_a_connection(body: str, status: int, said: str) -> None:
    verdict = classify(CurlOutput(0, curl_stdout(body, status)), apiserver=True)
    assert verdict.outcome is Outcome.ALLOWED, verdict
    assert said in verdict.detail
    assert verdict.served_cluster is None


def test_the_same_answers_from_a_pod_are_not_allowed() -> None:
    """Outside the API server the old rules hold: a 401 or a foreign 403 is an error."""
    for body, status in ((STATUS_401, 401), (STATUS_403, 403)):
        verdict = classify(CurlOutput(0, curl_stdout(body, status)))
        assert verdict.outcome is Outcome.PROBE_ERROR, verdict


def test_only_ciliums_access_denied_is_an_l7_denial_of_the_api_server() -> None:
    verdict = classify(CurlOutput(0, curl_stdout("Access denied", 403)), apiserver=True)
    assert verdict.outcome is Outcome.L7_DENIED


def test_an_api_server_timeout_is_a_drop_only_before_connecting() -> None:
    said = "curl: (28) Connection timed out after 300 milliseconds"
    dropped = classify(CurlOutput(28, curl_stdout("", 0, 0.0), said), apiserver=True)
    assert dropped.outcome is Outcome.DROPPED
    hung = classify(CurlOutput(28, curl_stdout("", 0, 0.002), said), apiserver=True)
    assert hung.outcome is Outcome.PROBE_ERROR


def test_a_tls_failure_or_no_status_is_an_error_not_a_verdict() -> None:
    cert = CurlOutput(
        60,
        curl_stdout("", 0, 0.001),
        "curl: (60) SSL certificate problem: unable to get local issuer certificate",
    )
    assert classify(cert, apiserver=True).outcome is Outcome.PROBE_ERROR
    assert classify(CurlOutput(0, "no write-out"), apiserver=True).outcome is Outcome.PROBE_ERROR
    assert classify(CurlOutput(0, curl_stdout("", 0)), apiserver=True).outcome is (
        Outcome.PROBE_ERROR
    )
