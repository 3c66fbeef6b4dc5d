"""Probe integrity, pinned further: only curl's own ``--write-out`` line (the last thing it
prints) says what happened, and a target replaced under the same name is recognised by its UID,
whatever the outcome the stale probe saw."""

from __future__ import annotations

import shlex
import uuid
from typing import Any

import pytest

from clustermesh_emulator import Emulator, ExecRequest
from clustermesh_emulator import resources as emulated_resources
from clustermesh_emulator.mesh import MirroredMesh
from pytest_clustermesh.backend import Deployment, HttpRequest, Probe
from pytest_clustermesh.kubernetes import KubernetesMesh
from pytest_clustermesh.kubernetes.classify import classify
from pytest_clustermesh.kubernetes.commands import (
    WRITE_OUT,
    WRITE_OUT_TAG,
    BatchOutputError,
    CurlOutput,
    CurlRequest,
    batch_argv,
    curl_argv,
    curl_stdout,
    http_headers,
    kubectl_command,
    new_marker,
    parse_batch_argv,
    parse_batch_output,
    parse_curl,
    url_of,
)
from pytest_clustermesh.verdicts import Outcome, ProbeResult, Verdict

from .conftest import SETTINGS
from .kubeworld import C1, C2, cnp, to_pod, to_service

FAKE_DROP_LINE = f"{WRITE_OUT_TAG} http_code=000 time_connect=0.000000"
"""What curl's ``--write-out`` prints for a connection never made: a body can imitate it."""

L7_POLICY = {
    "endpointSelector": {"matchLabels": {"app": "backend"}},
    "ingress": [
        {
            "fromEndpoints": [{"matchLabels": {"app": "frontend"}}],
            "toPorts": [
                {
                    "ports": [{"port": "8080", "protocol": "TCP"}],
                    "rules": {"http": [{"method": "GET", "path": "/public"}]},
                }
            ],
        }
    ],
}


def history(result: ProbeResult) -> list[str]:
    return result.detail.rsplit("attempts: ", 1)[-1].split(", ")


# -- the write-out line counts only as the last thing curl printed ------------------------------


def test_a_body_faking_the_write_out_line_then_hanging_is_a_probe_error() -> None:
    """The server sends the text of a never-connected write-out line, then hangs: curl times
    out (exit 28) and prints its own line, which says it connected. Not a drop."""
    hung = CurlOutput(28, curl_stdout(FAKE_DROP_LINE, 200, time_connect=0.000412))
    assert (hung.http_code, hung.time_connect) == (200, 0.000412)
    assert hung.body == FAKE_DROP_LINE
    verdict = classify(hung)
    assert verdict.outcome is Outcome.PROBE_ERROR
    assert "after the connection was made" in verdict.detail


def test_a_write_out_line_followed_by_anything_is_not_curls() -> None:
    """curl prints its write-out last: a line with more output after it is a body's."""
    for trailing in ("partial body", f"{FAKE_DROP_LINE} trailing", "\n\nx"):
        faked = CurlOutput(28, f"{FAKE_DROP_LINE}\n{trailing}")
        assert (faked.http_code, faked.time_connect) == (None, None)
        assert faked.body == faked.stdout
        assert classify(faked).outcome is Outcome.PROBE_ERROR
    answered = CurlOutput(0, f"{curl_stdout('hello', 200)}more")
    assert answered.http_code is None
    assert classify(answered).outcome is Outcome.PROBE_ERROR


def test_the_write_out_line_must_start_a_line() -> None:
    glued = CurlOutput(28, f"body{FAKE_DROP_LINE}\n")
    assert glued.http_code is None
    assert classify(glued).outcome is Outcome.PROBE_ERROR
    alone = CurlOutput(28, f"{FAKE_DROP_LINE}\n")
    assert (alone.http_code, alone.time_connect, alone.body) == (0, 0.0, "")
    assert classify(alone).outcome is Outcome.DROPPED


def test_a_forged_drop_line_through_the_backend_is_a_probe_error(
    mirror: MirroredMesh, backend: KubernetesMesh, deployed: Deployment
) -> None:
    """Through the batch exec: the body fakes a drop and the server hangs; a ``deny`` never
    passes, and the probe is retried to the bound."""
    forged = CurlOutput(
        28,
        curl_stdout(FAKE_DROP_LINE, 200, time_connect=0.000512),
        "curl: (28) Operation timed out after 2000 milliseconds with 57 bytes received",
    )
    mirror.override = lambda request, curl: forged
    [result] = backend.probe(deployed, [to_pod("tester", C1, C1, "be", 8080, Verdict.DENY)])
    assert result.outcome is Outcome.PROBE_ERROR, result
    assert result.evidence is None
    assert result.attempts == SETTINGS.probe_attempts


# -- a target replaced under the same name: its UID tells --------------------------------------


def _new_uid(emulator: Emulator, context: str, namespace: str, name: str) -> None:
    """The pod is replaced by one of the same name and address (a StatefulSet's pod recreated
    in place): only its UID differs."""
    cluster = next(c for c in emulator if c.context == context)
    pods = emulated_resources.lookup("pods")
    changed = cluster.store.mutate(
        pods, namespace, name, lambda pod: pod["metadata"].update(uid=str(uuid.uuid4()))
    )
    assert changed is not None


def _probe(kind: str) -> tuple[Probe, Outcome]:
    target = to_pod("fe", C1, C1, "be", 8080).target
    if kind == "allow":
        request = HttpRequest("GET", "/public")
        return Probe(C1, "fe", target, 8080, "TCP", request, Verdict.ALLOW), Outcome.ALLOWED
    if kind == "l7-deny":
        request = HttpRequest("GET", "/private")
        return Probe(C1, "fe", target, 8080, "TCP", request, Verdict.L7_DENY), Outcome.L7_DENIED
    return Probe(C1, "tester", target, 8080, expect=Verdict.DROP), Outcome.DROPPED


@pytest.mark.parametrize("kind", ["allow", "l7-deny", "drop"])
def test_a_target_pod_replaced_under_its_name_is_recognised_by_uid(
    emulator: Emulator,
    mirror: MirroredMesh,
    backend: KubernetesMesh,
    deployed: Deployment,
    kind: str,
) -> None:
    """Whatever the stale probe saw (an answer, an L7 denial, a drop), the round is a probe
    error and the probe runs again against the pod as it is now."""
    backend.set_policies(deployed, C1, [cnp(deployed, L7_POLICY)])
    probe, truth = _probe(kind)
    replaced: list[str] = []

    def replace_in_place(request: ExecRequest, curl: CurlRequest) -> CurlOutput | None:
        if not replaced:
            context, pod = mirror.world().pod_ips[curl.host]
            meta = pod["metadata"]
            _new_uid(emulator, context, meta["namespace"], meta["name"])
            replaced.append(meta["name"])
        return None  # the model answers

    mirror.override = replace_in_place
    [result] = backend.probe(deployed, [probe])
    assert replaced
    assert result.outcome is truth, result
    assert history(result)[:2] == ["probe-error", truth.value], result.detail
    assert result.attempts == 2


def test_a_service_backend_replaced_under_its_name_is_recognised_by_uid(
    emulator: Emulator, mirror: MirroredMesh, backend: KubernetesMesh, deployed: Deployment
) -> None:
    replaced: list[str] = []

    def replace_a_backend(request: ExecRequest, curl: CurlRequest) -> CurlOutput | None:
        if not replaced:
            cluster = emulator["cluster2"]
            namespace = deployed.namespaces[0].name
            [pod] = cluster.list_objects("pods", namespace, labels="app=backend")
            _new_uid(emulator, C2, namespace, pod["metadata"]["name"])
            replaced.append(pod["metadata"]["name"])
        return None

    mirror.override = replace_a_backend
    [result] = backend.probe(deployed, [to_service("fe", C1, "be", 8080, Verdict.ALLOW)])
    assert replaced
    assert result.outcome is Outcome.ALLOWED, result
    assert history(result)[:2] == ["probe-error", "allowed"], result.detail


# -- what each classification says ---------------------------------------------------------------


def test_only_a_2xx_answer_is_an_allow() -> None:
    for status in (200, 204, 299):
        assert classify(CurlOutput(0, curl_stdout("ok", status, 0.001))).outcome is Outcome.ALLOWED
    for status in (199, 300, 302, 404, 500):
        verdict = classify(CurlOutput(0, curl_stdout("moved", status, 0.001)))
        assert verdict.outcome is Outcome.PROBE_ERROR
        assert verdict.detail == f"unexpected HTTP {status}: moved"


def test_each_classification_says_what_it_read() -> None:
    echo = classify(CurlOutput(0, curl_stdout("clustermesh-echo cluster=c2 pod=be-1", 200, 0.1)))
    assert echo.detail == "HTTP 200: clustermesh-echo cluster=c2 pod=be-1"
    foreign = classify(CurlOutput(0, curl_stdout("hello", 201, 0.1)))
    assert foreign.detail == "HTTP 201 from a server that is not the echo"
    denied = classify(CurlOutput(0, curl_stdout("Access denied", 403, 0.1)))
    assert (denied.outcome, denied.detail) == (Outcome.L7_DENIED, "HTTP 403: Access denied")
    garbled = CurlOutput(0, "no write-out here")
    assert classify(garbled).detail == "no HTTP status in curl's output: 'no write-out here'"
    cut = CurlOutput(28, "partial", "curl: (28) timed out")
    assert classify(cut).detail == (
        "curl exit 28 without its --write-out line: cannot tell a dropped connection from a "
        "slow server: curl: (28) timed out"
    )


def test_a_long_body_is_quoted_up_to_200_characters() -> None:
    body = "x" * 199 + "yz" + "w" * 100
    forbidden = classify(CurlOutput(0, curl_stdout(body, 403, 0.1)))
    assert forbidden.detail.endswith(f": {body[:200]!r}")
    failed = classify(CurlOutput(0, curl_stdout(body, 500, 0.1)))
    assert failed.detail == f"unexpected HTTP 500: {body[:200]}"


# -- reading the commands back (the emulated pods' side) ------------------------------------------


def test_a_batch_is_recognised_by_its_whole_prefix_and_may_be_empty() -> None:
    marker = new_marker()
    empty = batch_argv([], marker)
    parsed = parse_batch_argv(empty)
    assert parsed is not None and (parsed.marker, parsed.commands) == (marker, [])
    argv = batch_argv([CurlRequest(url_of("10.0.0.1", 80, "/"), "GET", 1, 2)], marker)
    for position, other in ((0, "bash"), (1, "-e"), (3, "other-probe")):
        changed = [*argv]
        changed[position] = other
        assert parse_batch_argv(changed) is None
    assert parse_batch_argv(argv[:4]) is None


def test_a_curl_command_needs_a_url_and_each_options_value() -> None:
    with pytest.raises(ValueError) as caught:
        parse_curl(["curl", "--silent", "--max-time", "5"])
    assert str(caught.value) == "curl without a URL"
    with pytest.raises(ValueError):
        parse_curl(["curl", "http://10.0.0.1:80/", "--max-time"])


def test_a_curl_command_without_options_gets_curls_defaults() -> None:
    assert parse_curl(["curl", "http://10.0.0.1:80/"]) == CurlRequest(
        "http://10.0.0.1:80/", "GET", 2.0, 5.0
    )


def test_the_probe_runs_curl_quietly_with_its_write_out_line() -> None:
    argv = curl_argv(CurlRequest(url_of("10.0.0.1", 80, "x"), "GET", 1, 2))
    assert argv[:3] == ["curl", "--silent", "--show-error"]
    assert argv[argv.index("--write-out") + 1] == WRITE_OUT
    assert argv[-1] == "http://10.0.0.1:80/x"
    assert url_of("fd00::5", 8080, "/") == "http://[fd00::5]:8080/"


def test_the_repeat_command_names_the_kubeconfig_when_there_is_one() -> None:
    request = CurlRequest(url_of("10.0.0.1", 80, "/"), "GET", 1, 2)
    argv = shlex.split(kubectl_command("ctx", "ns", "pod", request, kubeconfig="/k/config"))
    assert argv[:5] == ["kubectl", "--context", "ctx", "--kubeconfig", "/k/config"]
    assert "--kubeconfig" not in shlex.split(kubectl_command("ctx", "ns", "pod", request))


@pytest.mark.parametrize(
    ("exit_code", "outcome", "detail"),
    [
        (None, Outcome.PROBE_ERROR, "the probe left no exit code"),
        (7, Outcome.REFUSED, "curl exit 7 (connection refused)"),
        (6, Outcome.DNS_FAILURE, "curl exit 6 (name not resolved)"),
        (126, Outcome.PROBE_ERROR, "curl could not run in the client pod (exit 126)"),
        (127, Outcome.PROBE_ERROR, "curl could not run in the client pod (exit 127)"),
        (35, Outcome.PROBE_ERROR, "curl exit 35"),
    ],
)
def test_a_failed_curl_says_its_exit_and_what_curl_said(
    exit_code: int | None, outcome: Outcome, detail: str
) -> None:
    silent = classify(CurlOutput(exit_code, curl_stdout("", 0)))
    assert (silent.outcome, silent.detail) == (outcome, detail)
    said = classify(CurlOutput(exit_code, curl_stdout("", 0), "  curl: (n) reason \n"))
    assert said.detail == f"{detail}: curl: (n) reason"
    blank = classify(CurlOutput(exit_code, curl_stdout("", 0), " \n"))
    assert blank.detail == detail


def test_a_drop_says_what_curl_said() -> None:
    dropped = classify(CurlOutput(28, curl_stdout("", 0), "curl: (28) timed out"))
    assert dropped.outcome is Outcome.DROPPED
    assert dropped.detail == (
        "curl exit 28 before any connection was made (packets dropped): curl: (28) timed out"
    )


# -- the batch framing: each way it breaks is named ----------------------------------------------


def _framed(marker: str, *lines: str) -> str:
    plain = ("x", "", "more")
    return "\n".join(line if line in plain else f"{marker} {line}" for line in lines) + "\n"


@pytest.mark.parametrize(
    ("lines", "count", "message"),
    [
        (
            ["0 exit=0", "x", "0 stderr", "", "0 exit=28", "", "0 stderr", "", "end"],
            1,
            "a second section for probe 0 (expected probe 1)",
        ),
        (
            ["0 exit=0", "x", "0 stderr", "", "2 exit=28", "", "2 stderr", "", "end"],
            3,
            "a section out of order for probe 2 (expected probe 1)",
        ),
        (
            ["0 exit=0", "x", "0 stderr", "", "end", "1 exit=0"],
            1,
            "a marker line after the end marker",
        ),
        (
            ["0 exit=0", "x", "0 stderr", "", "end", "more"],
            1,
            "output after the end marker: 'more'",
        ),
        (
            ["0 exit=0", "x", "0 stderr", ""],
            1,
            "the probe script did not finish (no end marker in its output)",
        ),
        (["0 exit=0", "x", "0 stderr", "", "end"], 3, "no output for probe(s) 1, 2"),
        (
            ["0 exit=0", "", "0 stderr", "", "1 exit=0", "", "1 stderr", "", "end"],
            1,
            "2 sections for 1 probe(s)",
        ),
    ],
)
def test_a_broken_framing_says_how_it_broke(lines: list[str], count: int, message: str) -> None:
    marker = new_marker()
    with pytest.raises(BatchOutputError) as caught:
        parse_batch_output(_framed(marker, *lines), count, marker)
    assert str(caught.value) == message


def test_what_follows_a_broken_framing_is_quoted_short() -> None:
    marker = new_marker()
    long = "y" * 150
    text = _framed(marker, "0 exit=0", "x", "0 stderr", "", "end") + long + "\n"
    with pytest.raises(BatchOutputError) as caught:
        parse_batch_output(text, 1, marker)
    assert str(caught.value) == f"output after the end marker: {long[:100]!r}"
    odd = f"{marker} {'z' * 100}\n"
    with pytest.raises(BatchOutputError) as caught:
        parse_batch_output(odd, 1, marker)
    assert str(caught.value) == f"unexpected marker line {(' ' + 'z' * 100)[:60]!r}"


def test_request_headers_go_to_curl_and_come_back_in_order() -> None:
    assert http_headers(None) == ()
    assert http_headers(HttpRequest("GET", "/")) == ()
    http = HttpRequest("GET", "/", host="api.example", headers=(("X-Team", "a: b"),))
    headers = http_headers(http)
    assert headers == (("Host", "api.example"), ("X-Team", "a: b"))
    request = CurlRequest(url_of("10.0.0.1", 80, "/"), "GET", 1, 2, headers)
    argv = curl_argv(request)
    at = argv.index("--header")
    assert argv[at : at + 4] == ["--header", "Host: api.example", "--header", "X-Team: a: b"]
    assert argv[at + 4] == "--write-out"
    assert parse_curl(argv) == request
    with pytest.raises(ValueError) as caught:
        parse_curl(["curl", "--header", "no-separator", "http://10.0.0.1:80/"])
    assert (
        str(caught.value)
        == "a header without ': ' in curl --header no-separator http://10.0.0.1:80/"
    )
    with pytest.raises(ValueError):
        parse_curl(["curl", "http://10.0.0.1:80/", "--header"])


# -- a target that stops being ready, and the rest of the round ----------------------------------


def _mutate_pod(emulator: Emulator, context: str, pod: dict[str, Any], change: Any) -> None:
    cluster = next(c for c in emulator if c.context == context)
    meta = pod["metadata"]
    pods = emulated_resources.lookup("pods")
    assert cluster.store.mutate(pods, meta["namespace"], meta["name"], change) is not None


def _terminating(pod: dict[str, Any]) -> None:
    pod["metadata"]["deletionTimestamp"] = "2030-01-01T00:00:00Z"


def _unready(pod: dict[str, Any]) -> None:
    for condition in pod["status"]["conditions"]:
        if condition["type"] == "Ready":
            condition["status"] = "False"


@pytest.mark.parametrize("change", [_terminating, _unready], ids=["terminating", "unready"])
def test_a_target_that_stops_being_ready_during_the_probe_proves_nothing(
    emulator: Emulator,
    mirror: MirroredMesh,
    backend: KubernetesMesh,
    deployed: Deployment,
    change: Any,
) -> None:
    changed: list[str] = []

    def stop_being_ready(request: ExecRequest, curl: CurlRequest) -> CurlOutput | None:
        if not changed:
            context, pod = mirror.world().pod_ips[curl.host]
            _mutate_pod(emulator, context, pod, change)
            changed.append(pod["metadata"]["name"])
            # The pod still answered: only the check after the probe can tell.
            return CurlOutput(0, curl_stdout("clustermesh-echo cluster=cluster1 pod=x", 200, 0.1))
        return None

    mirror.override = stop_being_ready
    probe = to_pod("fe", C1, C1, "be", 8080, Verdict.ALLOW)
    [result] = backend.probe(deployed, [probe])
    assert changed
    assert history(result)[0] == "probe-error", result.detail


def test_a_probe_without_an_expectation_runs_once(
    mirror: MirroredMesh, backend: KubernetesMesh, deployed: Deployment
) -> None:
    backend.set_policies(deployed, C1, [cnp(deployed, L7_POLICY)])
    [result] = backend.probe(deployed, [to_pod("tester", C1, C1, "be", 8080)])
    assert result.outcome is Outcome.DROPPED and result.attempts == 1
    assert "attempts:" not in result.detail


def test_a_probe_error_does_not_stop_the_check_of_the_rest_of_the_round(
    emulator: Emulator, mirror: MirroredMesh, backend: KubernetesMesh, deployed: Deployment
) -> None:
    """The first probe of the round fails to run; the second's target is replaced under it:
    the second is still checked, and its stale answer is not taken."""
    broken = CurlOutput(127, curl_stdout("", 0), "sh: curl: not found")
    replaced: list[str] = []

    def first_broken_then_replace(request: ExecRequest, curl: CurlRequest) -> CurlOutput | None:
        if curl.port == 80:
            return broken if not replaced else None
        if not replaced:
            context, pod = mirror.world().pod_ips[curl.host]
            meta = pod["metadata"]
            _new_uid(emulator, context, meta["namespace"], meta["name"])
            replaced.append(meta["name"])
        return None

    mirror.override = first_broken_then_replace
    probes = [
        to_pod("fe", C1, C1, "solo", 80, Verdict.ALLOW),
        to_pod("fe", C1, C1, "be", 8080, Verdict.ALLOW),
    ]
    solo, be = backend.probe(deployed, probes)
    assert replaced
    assert history(solo)[0] == "probe-error" and history(be)[0] == "probe-error", be.detail
    assert be.outcome is Outcome.ALLOWED


def test_a_service_replaced_under_its_name_and_address_is_recognised_by_uid(
    emulator: Emulator, mirror: MirroredMesh, backend: KubernetesMesh, deployed: Deployment
) -> None:
    replaced: list[str] = []

    def replace_the_service(request: ExecRequest, curl: CurlRequest) -> CurlOutput | None:
        if not replaced:
            cluster = next(c for c in emulator if c.context == C1)
            services = emulated_resources.lookup("services")
            namespace = deployed.namespaces[0].name
            renewed = cluster.store.mutate(
                services,
                namespace,
                "be",
                lambda svc: svc["metadata"].update(uid=str(uuid.uuid4())),
            )
            assert renewed is not None
            replaced.append("be")
        return None

    mirror.override = replace_the_service
    [result] = backend.probe(deployed, [to_service("fe", C1, "be", 8080, Verdict.ALLOW)])
    assert replaced
    assert history(result)[:2] == ["probe-error", "allowed"], result.detail


def test_a_target_that_cannot_be_checked_after_the_probe_proves_nothing(
    emulator: Emulator, mirror: MirroredMesh, backend: KubernetesMesh, deployed: Deployment
) -> None:
    """Listing the pods again after the probe fails (RBAC, here): the answer may have come from
    a stale address, so it is not taken."""
    cluster = next(c for c in emulator if c.context == C1)

    def forbid_the_check(request: ExecRequest, curl: CurlRequest) -> CurlOutput | None:
        cluster.forbid("list", "pods", deployed.namespaces[0].name)
        return None

    mirror.override = forbid_the_check
    [result] = backend.probe(deployed, [to_pod("fe", C1, C1, "be", 8080)])
    assert result.outcome is Outcome.PROBE_ERROR
    assert "cannot check the target pod " in result.detail
    assert "HTTP 403" in result.detail
