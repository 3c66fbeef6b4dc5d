"""Pins for mutation testing (docs/mutation.md, group ``curl``): what a user reads about a probe
(the detail of each outcome of ``dig``, of the API server's answers, of ``agnhost connect``'s
stderr) and how the emulator reads the probe commands back (which argvs are a probe, with which
values, and the exact error for the others).

Sources: kubernetes ``test/images/agnhost/connect/connect.go`` (the flags ``--timeout``, default
0; ``--protocol``, default ``tcp``; ``--udp-data`` and ``--sctp-data``; cobra's ``ExactArgs(1)``;
one prefixed line on stderr), BIND 9 ``dig(1)`` "Return Codes" (0 any response, 9 no reply),
busybox ``ping`` (``-c`` count, ``-W`` seconds to wait, ``xatou``'s ``invalid number``),
kube-apiserver's ``metav1.Status`` body (``kind``, ``reason``, ``message``)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from pytest_clustermesh.kubernetes.classify import classify
from pytest_clustermesh.kubernetes.commands import (
    ConnectRequest,
    CurlOutput,
    DigRequest,
    PingRequest,
    ProbeRequest,
    connect_argv,
    curl_stdout,
    is_address,
    parse_connect,
    parse_curl,
    parse_dig,
    parse_ping,
    parse_probe,
)
from pytest_clustermesh.verdicts import Outcome

# -- dig: every branch's detail ----------------------------------------------------------------

DIG = DigRequest("api.example.net", 1.5)  # dig's +time takes whole seconds: waits 2
DIG_WHAT = "dig api.example.net"


def dig_answer(status: str) -> str:
    """dig's output for a response with ``status`` (BIND 9.18)."""
    return (
        "\n; <<>> DiG 9.18.27 <<>> +time=2 +tries=1 api.example.net\n;; global options: +cmd\n"
        f";; Got answer:\n;; ->>HEADER<<- opcode: QUERY, status: {status}, id: 1\n"
    )


DIG_TIMEOUT = ";; communications error to 10.96.0.10#53: timed out\n"


@pytest.mark.parametrize(
    ("output", "outcome", "detail"),
    [
        pytest.param(
            CurlOutput(0, ""), Outcome.PROBE_ERROR,
            f"{DIG_WHAT}: no DNS header in dig's output",
            id="exit-0-without-header-nothing-said",
        ),
        pytest.param(
            CurlOutput(0, "", "warning: odd"), Outcome.PROBE_ERROR,
            f"{DIG_WHAT}: no DNS header in dig's output: warning: odd",
            id="exit-0-without-header-stderr-quoted",
        ),
        pytest.param(
            CurlOutput(0, dig_answer("REFUSED")), Outcome.L7_DENIED,
            f"{DIG_WHAT}: the query was refused (status REFUSED)",
            id="dig-1-exit-0-status-REFUSED-cilium-dns-proxy",
        ),
        pytest.param(
            CurlOutput(0, dig_answer("NXDOMAIN")), Outcome.ALLOWED,
            f"{DIG_WHAT}: answered (status NXDOMAIN)",
            id="dig-1-exit-0-any-response-is-an-answer",
        ),
        pytest.param(
            CurlOutput(9, DIG_TIMEOUT), Outcome.DROPPED,
            f"{DIG_WHAT}: no reply from the cluster DNS within 2 s",
            id="dig-1-exit-9-no-reply",
        ),
        pytest.param(
            CurlOutput(9, DIG_TIMEOUT, ";; no servers could be reached"), Outcome.DROPPED,
            f"{DIG_WHAT}: no reply from the cluster DNS within 2 s: ;; no servers could be reached",
            id="dig-1-exit-9-stderr-quoted",
        ),
        pytest.param(
            CurlOutput(10, "", "dig: isc_socket_create: permission denied"), Outcome.PROBE_ERROR,
            "dig exit 10: dig: isc_socket_create: permission denied",
            id="dig-1-exit-10-internal-error",
        ),
    ],
)  # fmt: skip
def test_each_dig_outcome_says_what_dig_did(
    output: CurlOutput, outcome: Outcome, detail: str
) -> None:
    found = classify(output, DIG)
    assert (found.outcome, found.detail) == (outcome, detail)


# -- the API server: what its answer said --------------------------------------------------------

LONG_MESSAGE = "forbidden: " + "m" * 300
NOT_JSON = "<html>" + "0123456789" * 14 + "</html>"  # 152 characters
API = "from the API server (connected): "


def status_body(**fields: object) -> str:
    """A ``metav1.Status`` body as kube-apiserver writes it, with ``fields``."""
    return json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure", **fields})


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        pytest.param(
            status_body(message="the server is shutting down", code=500), 500,
            f"HTTP 500 {API}Status: the server is shutting down",
            id="status-without-reason-says-Status",
        ),
        pytest.param(
            status_body(reason="", message="no reason given", code=500), 500,
            f"HTTP 500 {API}Status: no reason given",
            id="status-with-empty-reason-says-Status",
        ),
        pytest.param(
            status_body(reason="Unauthorized", code=401), 401,
            f"HTTP 401 {API}Unauthorized: ",
            id="status-without-message-says-nothing-more",
        ),
        pytest.param(
            status_body(reason="Forbidden", message=LONG_MESSAGE, code=403), 403,
            f"HTTP 403 {API}{('Forbidden: ' + LONG_MESSAGE)[:200]}",
            id="status-gist-is-cut-at-200",
        ),
        pytest.param(
            NOT_JSON, 400, f"HTTP 400 {API}{NOT_JSON[:120]!r}",
            id="other-body-quoted-and-cut-at-120",
        ),
        pytest.param(
            "Client sent an HTTP request to an HTTPS server.", 400,
            f"HTTP 400 {API}'Client sent an HTTP request to an HTTPS server.'",
            id="other-body-quoted-whole",
        ),
        pytest.param(
            "Access denied", 403, "HTTP 403: Access denied", id="ciliums-403-is-l7-denied"
        ),
    ],
)  # fmt: skip
def test_the_api_servers_answer_is_summed_up(body: str, status: int, detail: str) -> None:
    found = classify(CurlOutput(0, curl_stdout(body, status)), apiserver=True)
    assert found.detail == detail
    assert found.outcome is (Outcome.L7_DENIED if body == "Access denied" else Outcome.ALLOWED)


@pytest.mark.parametrize(
    "stdout",
    [
        pytest.param("no write-out", id="no-write-out-line"),
        pytest.param(curl_stdout("", 0), id="http_code-000"),
    ],
)
def test_no_status_from_the_api_server_quotes_curls_output(stdout: str) -> None:
    found = classify(CurlOutput(0, stdout), apiserver=True)
    assert found.outcome is Outcome.PROBE_ERROR
    assert found.detail == f"no HTTP status in curl's output: {stdout!r}"


# -- agnhost connect: only the first line of stderr names the failure ---------------------------

UDP = ConnectRequest("10.1.0.7", 5353, "UDP", 2.0)
SCTP = ConnectRequest("10.1.0.7", 9999, "SCTP", 2.0)


@pytest.mark.parametrize(
    ("request_", "stderr", "outcome", "detail"),
    [
        pytest.param(
            SCTP, "OTHER: dial sctp: operation not permitted\nconnection refused\nlater",
            Outcome.PROBE_ERROR,
            "agnhost connect --protocol=sctp failed: OTHER: dial sctp: operation not permitted"
            "\nconnection refused\nlater",
            id="connect.go-sctp-refused-only-on-the-first-line",
        ),
        pytest.param(
            UDP, "OTHER: dial udp: invalid argument\nconnect: no route to host\nlater",
            Outcome.PROBE_ERROR,
            "agnhost connect --protocol=udp failed: OTHER: dial udp: invalid argument"
            "\nconnect: no route to host\nlater",
            id="connect.go-no-route-only-on-the-first-line",
        ),
    ],
)  # fmt: skip
def test_agnhost_connects_verdict_is_its_first_line(
    request_: ConnectRequest, stderr: str, outcome: Outcome, detail: str
) -> None:
    found = classify(CurlOutput(1, "", stderr), request_)
    assert (found.outcome, found.detail) == (outcome, detail)


# -- ping: an ICMP error's output is cut to its last 200 characters -----------------------------

PING = PingRequest("10.1.0.7", 1.0)
UNREACHABLE_LONG = (
    "PING 10.1.0.7 (10.1.0.7): 56 data bytes\n"
    + "From 10.1.0.1 icmp_seq=1 Destination Host Unreachable\n" * 3
    + "\n--- 10.1.0.7 ping statistics ---\n"
    "1 packets transmitted, 0 packets received, 100% packet loss\n"
)


def test_an_icmp_error_quotes_the_last_200_characters_of_pings_output() -> None:
    found = classify(CurlOutput(1, UNREACHABLE_LONG), PING)
    tail = UNREACHABLE_LONG.strip()[-200:]
    assert len(UNREACHABLE_LONG.strip()) > 201 and len(tail) == 200
    assert found.outcome is Outcome.PROBE_ERROR
    assert found.detail == (
        "ping: an ICMP error came back instead of a reply (the path refused it, which is not "
        f"a silent drop): {tail}"
    )


# -- reading probe commands back ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "address"),
    [
        pytest.param("10.2.0.7", True, id="ipv4"),
        pytest.param("fd00::7", True, id="ipv6"),
        pytest.param("kube-dns.kube-system.svc.cluster.local", False, id="service-name"),
        pytest.param("api.example.net", False, id="fqdn"),
        pytest.param("10.2.0.256", False, id="not-an-ipv4"),
    ],
)
def test_is_address_tells_addresses_from_names(host: str, address: bool) -> None:
    assert is_address(host) is address


@pytest.mark.parametrize(
    ("argv", "request_"),
    [
        pytest.param(
            ["agnhost", "connect", "10.0.0.1:80", "--protocol=udp", "--timeout=1s"],
            ConnectRequest("10.0.0.1", 80, "UDP", 1.0),
            id="agnhost-from-PATH",
        ),
        pytest.param(
            ["/agnhost", "connect", "10.0.0.1:80", "--protocol=udp", "--udp-data=hostname"],
            ConnectRequest("10.0.0.1", 80, "UDP", 0.0),
            id="connect.go-udp-data-flag-and-timeout-default-0",
        ),
        pytest.param(
            ["/agnhost", "connect", "10.0.0.1:80", "--protocol=sctp", "--sctp-data", "hostname",
             "--timeout=2s"],
            ConnectRequest("10.0.0.1", 80, "SCTP", 2.0),
            id="connect.go-sctp-data-flag",
        ),
        pytest.param(
            connect_argv(ConnectRequest("Xenon.example.net", 53, "UDP", 1.0)),
            ConnectRequest("Xenon.example.net", 53, "UDP", 1.0),
            id="a-name-round-trips-unchanged",
        ),
        pytest.param(
            connect_argv(ConnectRequest("fd00::7", 53, "UDP", 1.0)),
            ConnectRequest("fd00::7", 53, "UDP", 1.0),
            id="ipv6-brackets-stripped",
        ),
    ],
)  # fmt: skip
def test_agnhost_connect_argvs_read_back(argv: list[str], request_: ConnectRequest) -> None:
    assert parse_connect(argv) == request_
    assert parse_probe(argv) == request_


Parser = Callable[[list[str]], object]


def raised(argv: list[str], parse: Parser) -> str:
    """The message of the ``ValueError`` ``parse(argv)`` raises."""
    with pytest.raises(ValueError) as caught:
        parse(argv)
    return str(caught.value)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param([], "not an agnhost connect command: ", id="empty"),
        pytest.param(["/agnhost"], "not an agnhost connect command: /agnhost", id="no-command"),
        pytest.param(
            ["nc", "connect", "10.0.0.1:80", "--protocol=udp"],
            "not an agnhost connect command: nc connect 10.0.0.1:80 --protocol=udp",
            id="another-program",
        ),
        pytest.param(
            ["/agnhost", "connect"], "accepts 1 arg(s), received 0",
            id="cobra-ExactArgs-no-target",
        ),
        pytest.param(
            ["/agnhost", "connect", "10.0.0.1:80", "--protocol=udp", "--timeout"],
            "invalid duration ''",
            id="connect.go-timeout-without-value",
        ),
        pytest.param(
            ["/agnhost", "connect", "10.0.0.1:80", "--protocol=udp", "--timeout=5"],
            "invalid duration '5'",
            id="connect.go-timeout-is-a-go-duration",
        ),
        pytest.param(
            ["/agnhost", "connect", "10.0.0.1:80", "--timeout=1s", "--protocol"],
            "the probe protocol speaks udp or sctp, not ",
            id="protocol-without-value",
        ),
        pytest.param(
            ["/agnhost", "connect", "10.0.0.1:80", "--timeout=1s"],
            "the probe protocol speaks udp or sctp, not tcp",
            id="connect.go-protocol-default-tcp",
        ),
        pytest.param(
            ["/agnhost", "connect", "10.0.0.1:80", "--protocol=TCP"],
            "the probe protocol speaks udp or sctp, not tcp",
            id="protocol-named-in-lower-case",
        ),
    ],
)  # fmt: skip
def test_other_agnhost_argvs_are_refused_with_a_reason(argv: list[str], message: str) -> None:
    assert raised(argv, parse_connect) == message


@pytest.mark.parametrize(
    "target",
    [
        pytest.param("10.0.0.1:http", id="port-not-a-number"),
        pytest.param(":80", id="no-host"),
        pytest.param("10.0.0.1", id="no-port"),
    ],
)
def test_a_target_without_host_or_numeric_port_is_refused_naming_it(target: str) -> None:
    """The emulator reads only what :func:`connect_argv` writes: a host and a port number."""
    message = raised(["/agnhost", "connect", target, "--protocol=udp"], parse_connect)
    assert message.startswith(f"address {target}: ")


@pytest.mark.parametrize(
    ("argv", "parse", "message"),
    [
        pytest.param(
            ["dig", "+time=1", "+tries=2", "api.example.net"], parse_dig,
            "not a probe's dig command: dig +time=1 +tries=2 api.example.net",
            id="dig-more-than-one-try",
        ),
        pytest.param(
            ["dig", "+time=x", "+tries=1", "api.example.net"], parse_dig,
            "Invalid option: +time=x",
            id="dig-time-not-a-number-names-the-option",
        ),
        pytest.param(
            ["ping", "-c", "1", "-w", "1", "10.0.0.1"], parse_ping,
            "not a probe's ping command: ping -c 1 -w 1 10.0.0.1",
            id="ping-w-deadline-is-not-W-wait",
        ),
        pytest.param(
            ["fping", "-c", "1", "-W", "1", "10.0.0.1"], parse_ping,
            "not a probe's ping command: fping -c 1 -W 1 10.0.0.1",
            id="not-ping",
        ),
        pytest.param(
            ["ping", "-c", "1", "-W", "1", "10.0.0.1", "10.0.0.2"], parse_ping,
            "not a probe's ping command: ping -c 1 -W 1 10.0.0.1 10.0.0.2",
            id="ping-two-hosts",
        ),
        pytest.param(
            ["ping", "-c", "1", "-W", "x", "10.0.0.1"], parse_ping,
            "ping: invalid number 'x'",
            id="busybox-xatou-names-the-bad-number",
        ),
        pytest.param([], parse_probe, "not a probe command: ", id="no-program"),
    ],
)  # fmt: skip
def test_other_probe_argvs_are_refused_with_a_reason(
    argv: list[str], parse: Parser, message: str
) -> None:
    assert raised(argv, parse) == message


@pytest.mark.parametrize(
    ("argv", "request_"),
    [
        pytest.param(
            ["ping", "-c", "1", "-W", "3", "10.0.0.1"], PingRequest("10.0.0.1", 3.0), id="ping"
        ),
        pytest.param(
            ["dig", "+time=3", "+tries=1", "api.example.net"],
            DigRequest("api.example.net", 3.0),
            id="dig",
        ),
    ],
)
def test_ping_and_dig_argvs_read_back(argv: list[str], request_: ProbeRequest) -> None:
    assert parse_probe(argv) == request_


@pytest.mark.parametrize(
    "option", ["--request", "--header", "--connect-timeout", "--max-time", "--write-out"]
)
def test_an_option_that_takes_a_value_is_refused_as_the_last_word(option: str) -> None:
    # curl's own answer to such an argv: "curl: option --request: requires parameter".
    with pytest.raises(ValueError, match=f"^option {option}: requires parameter$"):
        parse_curl(["curl", "http://10.1.0.7:8080/", option])
