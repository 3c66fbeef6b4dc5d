"""What the probe tools' outputs say, word for word, pinned for mutation testing
(docs/mutation.md, group ``curl``): a failure message is what a user reads to learn why an item
failed, so each branch of ``agnhost connect``'s and ``ping``'s classification has its detail
here. Sources: kubernetes test/images/agnhost/connect/connect.go (the stderr prefixes), busybox
ping (``print_stats_and_exit``)."""

from __future__ import annotations

import pytest

from pytest_clustermesh.kubernetes.classify import classify
from pytest_clustermesh.kubernetes.commands import ConnectRequest, CurlOutput, PingRequest
from pytest_clustermesh.verdicts import Outcome

UDP = ConnectRequest("10.1.0.7", 5353, "UDP", 2.0)
SCTP = ConnectRequest("10.1.0.7", 9999, "SCTP", 2.0)
PING = PingRequest("10.1.0.7", 1.5)
UDP_TOOL = "agnhost connect --protocol=udp"
STATS_LOST = (
    "--- 10.1.0.7 ping statistics ---\n1 packets transmitted, 0 packets received, 100% packet loss"
)
UNREACHABLE = "From 10.1.0.1 icmp_seq=1 Destination Host Unreachable\n" + STATS_LOST


@pytest.mark.parametrize(
    ("request_", "output", "outcome", "detail"),
    [
        (UDP, CurlOutput(0), Outcome.ALLOWED,
         f"{UDP_TOOL}: the server answered (agnhost does not say which pod answered)"),
        (UDP, CurlOutput(2, "", "flag provided but not defined"), Outcome.PROBE_ERROR,
         f"{UDP_TOOL} exit 2: flag provided but not defined"),
        (UDP, CurlOutput(1, "", "TIMEOUT: read udp: i/o timeout\nmore"), Outcome.DROPPED,
         f"{UDP_TOOL}: no answer within 2 s (packets dropped, or a server that did not answer)"
         ": TIMEOUT: read udp: i/o timeout\nmore"),
        (UDP, CurlOutput(1, "", "REFUSED: read: connection refused"), Outcome.REFUSED,
         f"{UDP_TOOL}: connection refused: REFUSED: read: connection refused"),
        (UDP, CurlOutput(1, "", "DNS: lookup x: no such host"), Outcome.DNS_FAILURE,
         f"{UDP_TOOL}: name not resolved: DNS: lookup x: no such host"),
        (SCTP, CurlOutput(1, "", "OTHER: connection refused"), Outcome.REFUSED,
         "agnhost connect --protocol=sctp: connection refused: OTHER: connection refused"),
        (UDP, CurlOutput(1, "", "OTHER: dial udp: connect: no route to host"), Outcome.REFUSED,
         f"{UDP_TOOL}: rejected at connect (no route to host)"
         ": OTHER: dial udp: connect: no route to host"),
        (UDP, CurlOutput(1, "", "OTHER: connection refused"), Outcome.PROBE_ERROR,
         f"{UDP_TOOL} failed: OTHER: connection refused"),  # refused as OTHER: SCTP's only
        (UDP, CurlOutput(1, "", "UNKNOWN: bad: thing: here"), Outcome.PROBE_ERROR,
         f"{UDP_TOOL} failed: UNKNOWN: bad: thing: here"),
        (PING, CurlOutput(0, "64 bytes from 10.1.0.7"), Outcome.ALLOWED,
         "ping: echo reply from 10.1.0.7"),
        (PING, CurlOutput(1, "", "ping: bad address 'x.example'"), Outcome.DNS_FAILURE,
         "ping: name not resolved: ping: bad address 'x.example'"),
        (PING, CurlOutput(1, STATS_LOST), Outcome.DROPPED,
         "ping: no echo reply within 2 s (1 packets transmitted, 0 packets received)"),
        (PING, CurlOutput(1, UNREACHABLE), Outcome.PROBE_ERROR,
         "ping: an ICMP error came back instead of a reply (the path refused it, which is not "
         f"a silent drop): {UNREACHABLE[-200:]}"),
        (PING, CurlOutput(1, "0 packets transmitted, 0 packets received"), Outcome.PROBE_ERROR,
         "ping exit 1: 0 packets transmitted, 0 packets received"),  # nothing went out
        (PING, CurlOutput(2, "x" * 250), Outcome.PROBE_ERROR, f"ping exit 2: {'x' * 200}"),
        (PING, CurlOutput(2, "out", "permission denied"), Outcome.PROBE_ERROR,
         "ping exit 2: permission denied"),
        (PING, CurlOutput(2), Outcome.PROBE_ERROR, "ping exit 2"),
    ],
)  # fmt: skip
def test_each_outcome_says_what_the_tool_said(
    request_: ConnectRequest | PingRequest, output: CurlOutput, outcome: Outcome, detail: str
) -> None:
    found = classify(output, request_)
    assert (found.outcome, found.detail) == (outcome, detail)
