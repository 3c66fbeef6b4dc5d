"""From what a probe command did to an :class:`~pytest_clustermesh.verdicts.Outcome`.

Only these say "denied", each narrowly:
- a curl timeout before any connection was made (curl exit 28 with ``time_connect`` 0 and no
  HTTP status): Cilium drops the SYN silently. A timeout after connecting is a slow or hung
  server, which says nothing about policy;
- an HTTP 403 whose body is the text Cilium's Envoy proxy answers for a request its L7 rules
  deny (``Access denied``). Any other 403 comes from the server itself;
- ``agnhost connect`` (UDP, SCTP) exiting 1 with ``TIMEOUT``: no answer came. For UDP that is
  also what a server that never answers looks like, so it is only a candidate;
- ``ping`` exiting 1 after its statistics say it sent the echo request and received nothing;
- ``dig`` exiting 9 (no reply from the cluster DNS).

A DNS answer with status ``REFUSED`` is what Cilium's DNS proxy answers for a query its DNS
rules do not allow (``--tofqdns-dns-reject-response-code``, default ``refused``): an L7 denial.

Each of the last three is a *candidate* drop: on a real mesh it becomes a deny only with Hubble's
record of a policy drop (:mod:`.evidence`), exactly as a curl timeout does.

A probe of the API server (``entity/kube-apiserver``) is told apart by ``apiserver``: any HTTP
status it answers (200 for ``/version``, which kube-apiserver serves to anonymous clients; 401
or 403 with a Kubernetes ``Status`` body for other paths) means the connection was made, so it
is allowed; only Cilium's own 403 ``Access denied`` is an L7 denial there too.

Anything else the probe could not do is an error, never a verdict, so a broken client image or a
misbehaving server cannot pass a ``deny``: a tool missing from the image (the shell's 127), an
``agnhost connect`` error other than ``TIMEOUT``/``REFUSED``/``DNS`` (``OTHER``, ``UNKNOWN``), a
ping that could not send.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from ..verdicts import Outcome
from .commands import (
    ConnectRequest,
    CurlOutput,
    DigRequest,
    PingRequest,
    ProbeRequest,
    tool_of,
)

ECHO_PREFIX = "clustermesh-echo"
_ECHO = re.compile(rf"{ECHO_PREFIX} cluster=(?P<cluster>\S+) pod=(?P<pod>\S+)")

CILIUM_ACCESS_DENIED = "Access denied"
"""The body of the 403 Cilium's Envoy answers when an L7 rule denies a request (Cilium docs,
"Layer 7 Examples": ``curl`` prints ``Access denied``)."""

CURL_DNS = 6
CURL_REFUSED = 7
CURL_TIMEOUT = 28
SHELL_CANNOT_EXECUTE = 126
SHELL_NOT_FOUND = 127


def echo_text(cluster: str, pod: str) -> str:
    """What a server answers: who served the request, for ``served_by``."""
    return f"{ECHO_PREFIX} cluster={cluster} pod={pod}"


@dataclass(frozen=True)
class Classified:
    outcome: Outcome
    detail: str
    served_cluster: str | None = None
    served_pod: str | None = None


def classify(
    output: CurlOutput, request: ProbeRequest | None = None, *, apiserver: bool = False
) -> Classified:
    """The outcome of one probe of a batch; ``request`` says which tool ran (curl if none);
    ``apiserver``: the curl went to the API server, whose own answers are no echo."""
    code = output.exit_code
    said = _said(output)
    if code is None:
        return Classified(Outcome.PROBE_ERROR, f"the probe left no exit code{said}")
    if isinstance(request, ConnectRequest | PingRequest | DigRequest):
        if code in (SHELL_CANNOT_EXECUTE, SHELL_NOT_FOUND):
            tool = tool_of(request)
            return Classified(
                Outcome.PROBE_ERROR,
                f"{tool} could not run in the client pod (exit {code}){said}; "
                f"{_NEEDS[type(request)]}",
            )
        if isinstance(request, ConnectRequest):
            return _connected(output, request, said)
        if isinstance(request, DigRequest):
            return _dug(output, request, said)
        return _pinged(output, request, said)
    if code == 0:
        return _from_apiserver(output) if apiserver else _answered(output)
    if code == CURL_TIMEOUT:
        return _timed_out(output, said)
    if code == CURL_REFUSED:
        return Classified(Outcome.REFUSED, f"curl exit 7 (connection refused){said}")
    if code == CURL_DNS:
        return Classified(Outcome.DNS_FAILURE, f"curl exit 6 (name not resolved){said}")
    if code in (SHELL_CANNOT_EXECUTE, SHELL_NOT_FOUND):
        return Classified(
            Outcome.PROBE_ERROR, f"curl could not run in the client pod (exit {code}){said}"
        )
    return Classified(Outcome.PROBE_ERROR, f"curl exit {code}{said}")


def _answered(output: CurlOutput) -> Classified:
    status = output.http_code
    if status is None:
        return Classified(
            Outcome.PROBE_ERROR, f"no HTTP status in curl's output: {output.stdout!r}"
        )
    body = output.body.strip()
    if status == 403:
        if body == CILIUM_ACCESS_DENIED:
            return Classified(Outcome.L7_DENIED, f"HTTP 403: {body}")
        return Classified(
            Outcome.PROBE_ERROR,
            f"HTTP 403 not from Cilium's proxy (its body is not {CILIUM_ACCESS_DENIED!r}): "
            f"{body[:200]!r}",
        )
    if not 200 <= status < 300:
        return Classified(Outcome.PROBE_ERROR, f"unexpected HTTP {status}: {body[:200]}")
    match = _ECHO.search(body)
    if match is None:
        return Classified(Outcome.ALLOWED, f"HTTP {status} from a server that is not the echo")
    return Classified(
        Outcome.ALLOWED, f"HTTP {status}: {match.group(0)}", match["cluster"], match["pod"]
    )


def _from_apiserver(output: CurlOutput) -> Classified:
    """An answer of the API server: whatever its status (kube-apiserver answers 401 or 403 with
    a ``Status`` body to a request it does not authorise), the connection was made; Cilium's
    ``Access denied`` alone is an L7 denial."""
    status = output.http_code
    if status is None or status == 0:
        return Classified(
            Outcome.PROBE_ERROR, f"no HTTP status in curl's output: {output.stdout!r}"
        )
    body = output.body.strip()
    if status == 403 and body == CILIUM_ACCESS_DENIED:
        return Classified(Outcome.L7_DENIED, f"HTTP 403: {body}")
    return Classified(
        Outcome.ALLOWED, f"HTTP {status} from the API server (connected): {_apiserver_said(body)}"
    )


def _apiserver_said(body: str) -> str:
    """The gist of an API server's answer: a ``Status``'s reason and message, the version of a
    ``/version``, else the start of the body."""
    try:
        found = json.loads(body)
    except ValueError:
        found = None
    if isinstance(found, dict) and found.get("kind") == "Status":
        return f"{found.get('reason') or 'Status'}: {found.get('message') or ''}"[:200]
    if isinstance(found, dict) and "gitVersion" in found:
        return f"version {found['gitVersion']}"
    return repr(body[:120])


def _timed_out(output: CurlOutput, said: str) -> Classified:
    """Exit 28 is a drop only if the connection was never made."""
    connect, status = output.time_connect, output.http_code
    if connect is None or status is None:
        return Classified(
            Outcome.PROBE_ERROR,
            "curl exit 28 without its --write-out line: cannot tell a dropped connection from "
            f"a slow server{said}",
        )
    if connect > 0 or status != 0:
        return Classified(
            Outcome.PROBE_ERROR,
            f"curl exit 28 after the connection was made (time_connect {connect:g} s, HTTP "
            f"{status:03d}): the server was slow or hung, which is not a drop{said}",
        )
    return Classified(
        Outcome.DROPPED, f"curl exit 28 before any connection was made (packets dropped){said}"
    )


def _said(output: CurlOutput) -> str:
    return f": {output.stderr.strip()}" if output.stderr.strip() else ""


# -- agnhost connect (UDP, SCTP) and ping (ICMP) ------------------------------------------------

_NEEDS = {
    ConnectRequest: "UDP and SCTP probes need /agnhost in the client image (agnhost's image, "
    "the default --client-image, has it)",
    PingRequest: "ICMP probes need ping in the client image",
    DigRequest: "DNS probes need dig in the client image",
}

AGNHOST_FAILED = 1
"""``agnhost connect`` exits 1 on every failure, the kind named by the first word of stderr
(kubernetes ``test/images/agnhost/connect/connect.go``)."""


def _connected(output: CurlOutput, request: ConnectRequest, said: str) -> Classified:
    """``agnhost connect --protocol=udp|sctp``: 0 once the server answered its payload."""
    what = f"agnhost connect --protocol={request.protocol.lower()}"
    code = output.exit_code
    if code == 0:
        return Classified(
            Outcome.ALLOWED,
            f"{what}: the server answered (agnhost does not say which pod answered)",
        )
    if code != AGNHOST_FAILED:
        return Classified(Outcome.PROBE_ERROR, f"{what} exit {code}{said}")
    first = output.stderr.strip().split("\n", 1)[0]
    kind = first.split(":", 1)[0].strip()
    if kind == "TIMEOUT":
        return Classified(
            Outcome.DROPPED,
            f"{what}: no answer within {request.timeout:g} s (packets dropped, or a server "
            f"that did not answer){said}",
        )
    if kind == "REFUSED":
        return Classified(Outcome.REFUSED, f"{what}: connection refused{said}")
    if kind == "DNS":
        return Classified(Outcome.DNS_FAILURE, f"{what}: name not resolved{said}")
    if kind == "OTHER" and request.protocol == "SCTP" and "connection refused" in first:
        # connect.go reports every SCTP dial error as OTHER; the kernel's ECONNREFUSED (an
        # ABORT answering the INIT: no listener) is a refusal all the same.
        return Classified(Outcome.REFUSED, f"{what}: connection refused{said}")
    if kind == "OTHER" and "connect: no route to host" in first:
        # connect() itself rejected: Cilium's socket load balancer answers a Service without
        # a backend with EHOSTUNREACH (docs/cilium-semantics.md Q5), which curl reports as
        # exit 7 and is a refusal there too.
        return Classified(Outcome.REFUSED, f"{what}: rejected at connect (no route to host){said}")
    return Classified(Outcome.PROBE_ERROR, f"{what} failed{said}")


_PING_STATS = re.compile(r"(\d+) packets transmitted, (\d+) (?:packets )?received")
_PING_UNRESOLVED = (
    "bad address",  # busybox: bb_herror_msg_and_die("bad address '%s'")
    "Name or service not known",  # iputils, glibc
    "Temporary failure in name resolution",
    "Name does not resolve",  # musl
    "unknown host",
)
_PING_ICMP_ERRORS = ("nreachable", "xceeded", "rohibited", "Redirect")


def _pinged(output: CurlOutput, request: PingRequest, said: str) -> Classified:
    """``ping -c 1 -W N``: exit 0 with a reply; 1 with no reply (busybox ``print_stats_and_exit``
    exits ``nrecv == 0``; iputils exits 1 too, and 2 on other errors). A busybox error also
    exits 1, so a drop needs the statistics line saying the request went out unanswered."""
    code = output.exit_code
    text = f"{output.stdout}\n{output.stderr}"
    if code == 0:
        return Classified(Outcome.ALLOWED, f"ping: echo reply from {request.host}")
    if any(marker in text for marker in _PING_UNRESOLVED):
        return Classified(Outcome.DNS_FAILURE, f"ping: name not resolved{said}")
    stats = _PING_STATS.search(output.stdout)
    if code == 1 and stats and int(stats.group(1)) > 0 and int(stats.group(2)) == 0:
        if any(marker in text for marker in _PING_ICMP_ERRORS):
            return Classified(
                Outcome.PROBE_ERROR,
                f"ping: an ICMP error came back instead of a reply (the path refused it, "
                f"which is not a silent drop): {output.stdout.strip()[-200:]}",
            )
        return Classified(
            Outcome.DROPPED,
            f"ping: no echo reply within {request.wait} s ({stats.group(0)})",
        )
    out = f": {output.stdout.strip()[-200:]}" if output.stdout.strip() else ""
    return Classified(Outcome.PROBE_ERROR, f"ping exit {code}{said or out}")


DIG_NO_REPLY = 9
"""dig's exit status when no server answered (BIND 9 ``dig(1)``, "Return Codes": 0 a response,
whatever its status; 1 usage error; 8 no batch file; 9 no reply from server; 10 internal
error)."""
_DIG_STATUS = re.compile(r";; ->>HEADER<<- opcode: \w+, status: ([A-Z]+)")


def _dug(output: CurlOutput, request: DigRequest, said: str) -> Classified:
    """``dig``: an answer is a query that got through, whatever it says (NXDOMAIN included);
    ``REFUSED`` is Cilium's DNS proxy refusing it; no reply is a candidate drop."""
    code = output.exit_code
    what = f"dig {request.name}"
    if code == 0:
        found = _DIG_STATUS.search(output.stdout)
        if found is None:
            return Classified(Outcome.PROBE_ERROR, f"{what}: no DNS header in dig's output{said}")
        status = found.group(1)
        if status == "REFUSED":
            return Classified(Outcome.L7_DENIED, f"{what}: the query was refused (status REFUSED)")
        return Classified(Outcome.ALLOWED, f"{what}: answered (status {status})")
    if code == DIG_NO_REPLY:
        return Classified(
            Outcome.DROPPED,
            f"{what}: no reply from the cluster DNS within {request.wait} s{said}",
        )
    return Classified(Outcome.PROBE_ERROR, f"dig exit {code}{said}")
