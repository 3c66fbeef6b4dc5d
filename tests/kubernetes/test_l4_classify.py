"""What ``agnhost connect`` (UDP, SCTP) and ``ping`` (ICMP) said, read as outcomes; and their
drops found in Hubble by protocol. The outputs are the tools' own (kubernetes
``test/images/agnhost/connect/connect.go``; busybox ``networking/ping.c``; iputils ping)."""

from __future__ import annotations

import json

import pytest

from pytest_clustermesh.kubernetes import hubble
from pytest_clustermesh.kubernetes.classify import classify
from pytest_clustermesh.kubernetes.commands import (
    ConnectRequest,
    CurlOutput,
    DigRequest,
    PingRequest,
)
from pytest_clustermesh.verdicts import Outcome, Verdict

UDP = ConnectRequest("10.2.0.7", 53, "UDP", 2)
SCTP = ConnectRequest("10.2.0.7", 9000, "SCTP", 2)
PING = PingRequest("10.2.0.7", 2)
DIG = DigRequest("api.example.net", 2)


def dig_answer(status: str) -> str:
    """dig's output for a response with ``status`` (BIND 9.18)."""
    return (
        "\n; <<>> DiG 9.18.27 <<>> +time=2 +tries=1 api.example.net\n;; global options: +cmd\n"
        f";; Got answer:\n;; ->>HEADER<<- opcode: QUERY, status: {status}, id: 1\n"
    )


DIG_TIMEOUT = (
    ";; communications error to 10.96.0.10#53: timed out\n;; no servers could be reached\n"
)
UDP_TIMEOUT = "TIMEOUT: read udp 10.1.0.5:41234->10.2.0.7:53: i/o timeout"
UDP_REFUSED = "REFUSED: read udp 10.1.0.5:41234->10.2.0.7:53: read: connection refused"

BUSYBOX_NO_REPLY = (
    "PING 10.2.0.7 (10.2.0.7): 56 data bytes\n\n--- 10.2.0.7 ping statistics ---\n"
    "1 packets transmitted, 0 packets received, 100% packet loss\n"
)
BUSYBOX_REPLY = (
    "PING 10.2.0.7 (10.2.0.7): 56 data bytes\n64 bytes from 10.2.0.7: seq=0 ttl=63 time=0.4 ms\n"
    "\n--- 10.2.0.7 ping statistics ---\n"
    "1 packets transmitted, 1 packets received, 0% packet loss\n"
)
IPUTILS_NO_REPLY = (
    "PING 10.2.0.7 (10.2.0.7) 56(84) bytes of data.\n\n--- 10.2.0.7 ping statistics ---\n"
    "1 packets transmitted, 0 received, 100% packet loss, time 0ms\n"
)
IPUTILS_UNREACHABLE = (
    "PING 10.2.0.7 (10.2.0.7) 56(84) bytes of data.\n"
    "From 10.1.0.1 icmp_seq=1 Destination Host Unreachable\n\n"
    "--- 10.2.0.7 ping statistics ---\n"
    "1 packets transmitted, 0 received, +1 errors, 100% packet loss, time 0ms\n"
)


@pytest.mark.parametrize(
    ("request_", "exit_code", "stdout", "stderr", "outcome"),
    [
        (UDP, 0, "", "", Outcome.ALLOWED),
        (UDP, 1, "", UDP_TIMEOUT, Outcome.DROPPED),
        (SCTP, 1, "", "TIMEOUT", Outcome.DROPPED),
        (UDP, 1, "", UDP_REFUSED, Outcome.REFUSED),
        (SCTP, 1, "", "OTHER: connection refused", Outcome.REFUSED),
        (UDP, 1, "", "DNS: lookup x on 10.96.0.10:53: no such host", Outcome.DNS_FAILURE),
        (UDP, 1, "", "OTHER: dial udp: address x: missing port", Outcome.PROBE_ERROR),
        (UDP, 1, "", "UNKNOWN: write: message too long", Outcome.PROBE_ERROR),
        (UDP, 1, "", "OTHER: connection refused", Outcome.PROBE_ERROR),
        (
            UDP,
            1,
            "",
            "OTHER: dial udp 172.20.1.9:53: connect: no route to host",
            Outcome.REFUSED,
        ),
        (SCTP, 1, "", "OTHER: connect: no route to host", Outcome.REFUSED),
        (
            UDP,
            1,
            "",
            "UNKNOWN: read udp 10.1.0.5:1->10.2.0.7:53: no route to host",
            Outcome.PROBE_ERROR,
        ),
        (SCTP, 1, "", "OTHER: protocol not supported", Outcome.PROBE_ERROR),
        (UDP, 1, "", "Error: unknown flag: --bogus\nUsage: ...", Outcome.PROBE_ERROR),
        (UDP, 1, "", "", Outcome.PROBE_ERROR),
        (UDP, 2, "", "TIMEOUT", Outcome.PROBE_ERROR),
        (UDP, 127, "", "sh: /agnhost: not found", Outcome.PROBE_ERROR),
        (SCTP, 126, "", "sh: /agnhost: Permission denied", Outcome.PROBE_ERROR),
        (UDP, None, "", "", Outcome.PROBE_ERROR),
        (PING, 0, BUSYBOX_REPLY, "", Outcome.ALLOWED),
        (PING, 1, BUSYBOX_NO_REPLY, "", Outcome.DROPPED),
        (PING, 1, IPUTILS_NO_REPLY, "", Outcome.DROPPED),
        (PING, 1, IPUTILS_UNREACHABLE, "", Outcome.PROBE_ERROR),
        (PING, 1, "", "ping: bad address 'api.example.com'", Outcome.DNS_FAILURE),
        (PING, 2, "", "ping: api.example.com: Name or service not known", Outcome.DNS_FAILURE),
        (PING, 1, "", "ping: permission denied (are you root?)", Outcome.PROBE_ERROR),
        (PING, 2, "", "ping: socket: Operation not permitted", Outcome.PROBE_ERROR),
        (PING, 1, "PING 10.2.0.7 (10.2.0.7): 56 data bytes\n", "", Outcome.PROBE_ERROR),
        (PING, 127, "", "sh: ping: not found", Outcome.PROBE_ERROR),
        (DIG, 0, dig_answer("NOERROR"), "", Outcome.ALLOWED),
        (DIG, 0, dig_answer("NXDOMAIN"), "", Outcome.ALLOWED),
        (DIG, 0, dig_answer("SERVFAIL"), "", Outcome.ALLOWED),
        (DIG, 0, dig_answer("REFUSED"), "", Outcome.L7_DENIED),
        (DIG, 0, "", "", Outcome.PROBE_ERROR),
        (DIG, 9, DIG_TIMEOUT, "", Outcome.DROPPED),
        (DIG, 1, "", "Invalid option: +bogus", Outcome.PROBE_ERROR),
        (DIG, 10, "", "dig: isc_socket_create: permission denied", Outcome.PROBE_ERROR),
        (DIG, 127, "", "sh: dig: not found", Outcome.PROBE_ERROR),
    ],
)
def test_outcomes(
    request_: ConnectRequest | PingRequest,
    exit_code: int | None,
    stdout: str,
    stderr: str,
    outcome: Outcome,
) -> None:
    assert classify(CurlOutput(exit_code, stdout, stderr), request_).outcome is outcome


def test_only_no_reply_or_a_refusal_of_a_dns_query_satisfies_deny() -> None:
    deny = {
        code
        for code, stdout in [
            (0, dig_answer("NOERROR")),
            (0, dig_answer("REFUSED")),
            (9, DIG_TIMEOUT),
            (1, ""),
            (10, ""),
            (127, ""),
        ]
        if Verdict.DENY.accepts(classify(CurlOutput(code, stdout), DIG).outcome)
    }
    assert deny == {0, 9}  # REFUSED (the L7 proxy) and no reply (a candidate drop)


def test_only_a_timeout_or_an_unanswered_ping_is_a_candidate_deny() -> None:
    denies = {
        (type(request).__name__, exit_code, stderr)
        for request in (UDP, SCTP, PING)
        for exit_code, stdout, stderr in [
            (0, "", ""),
            (1, "", "TIMEOUT"),
            (1, "", "REFUSED: x"),
            (1, "", "OTHER: x"),
            (1, "", "UNKNOWN: x"),
            (1, BUSYBOX_NO_REPLY, ""),
            (127, "", "sh: x: not found"),
        ]
        if Verdict.DENY.accepts(classify(CurlOutput(exit_code, stdout, stderr), request).outcome)
    }
    assert denies == {
        ("ConnectRequest", 1, "TIMEOUT"),
        ("PingRequest", 1, ""),
    }


def test_a_missing_tool_names_it_and_what_the_image_needs() -> None:
    said = classify(CurlOutput(127, "", "sh: /agnhost: not found"), UDP).detail
    assert "/agnhost could not run in the client pod (exit 127): sh: /agnhost: not found" in said
    assert "need /agnhost in the client image" in said
    assert "ping could not run" in classify(CurlOutput(127, "", "sh: ping: not found"), PING).detail


def test_an_answer_does_not_say_which_pod_served() -> None:
    verdict = classify(CurlOutput(0), UDP)
    assert verdict.served_cluster is None and verdict.served_pod is None
    assert "does not say which pod" in verdict.detail


def test_a_timeout_says_what_it_waited_and_what_agnhost_said() -> None:
    verdict = classify(CurlOutput(1, "", UDP_TIMEOUT), UDP)
    assert "no answer within 2 s" in verdict.detail and "i/o timeout" in verdict.detail


def _flow(l4: dict[str, object], destination: str = "10.2.0.7", **extra: object) -> str:
    flow = {
        "time": "2026-11-30T03:00:00.000000001Z",
        "verdict": "DROPPED",
        "drop_reason_desc": "POLICY_DENIED",
        "IP": {"source": "10.1.0.5", "destination": destination},
        "l4": l4,
        "traffic_direction": "INGRESS",
        **extra,
    }
    return json.dumps({"flow": flow, "node_name": "cluster2/cluster2-control-plane"})


def test_hubble_drops_carry_their_protocol() -> None:
    text = "\n".join(
        [
            _flow({"TCP": {"source_port": 40000, "destination_port": 53}}),
            _flow({"UDP": {"source_port": 40000, "destination_port": 53}}),
            _flow({"SCTP": {"source_port": 40000, "destination_port": 9000}}),
            _flow({"ICMPv4": {"type": 8}}),
            _flow({"ICMPv4": {}}),  # type 0, left out: an echo reply
        ]
    )
    flows = hubble.parse_flows(text)
    assert [(f.protocol, f.destination_port, f.icmp_type) for f in flows] == [
        ("TCP", 53, None),
        ("UDP", 53, None),
        ("SCTP", 9000, None),
        ("ICMPv4", None, 8),
        ("ICMPv4", None, 0),
    ]
    src, dst = "10.1.0.5", ["10.2.0.7"]
    assert hubble.matching(flows, src, dst, 53, "UDP") == [flows[1]]
    assert hubble.matching(flows, src, dst, 53, "TCP") == [flows[0]]
    assert hubble.matching(flows, src, dst, 9000, "SCTP") == [flows[2]]
    assert hubble.matching(flows, src, dst, 0, "ICMP") == [flows[3]]
    assert hubble.matching(flows, src, dst, 5353, "UDP") == []


def test_a_drop_to_a_name_is_found_by_the_names_hubble_gives_its_address() -> None:
    named = _flow(
        {"TCP": {"destination_port": 443}},
        "198.51.100.9",
        destination_names=["api.example.com."],
    )
    flows = hubble.parse_flows(named)
    assert flows[0].destination_names == ("api.example.com",)
    assert hubble.matching(flows, "10.1.0.5", [], 443, "TCP", ["api.example.com"]) == flows
    assert hubble.matching(flows, "10.1.0.5", [], 443, "TCP", ["other.example.com"]) == []
    assert hubble.matching(flows, "10.1.0.5", [], 443, "TCP") == []
