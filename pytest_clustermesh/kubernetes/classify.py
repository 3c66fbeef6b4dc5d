"""From what a curl did to an :class:`~pytest_clustermesh.verdicts.Outcome`.

Only two things say "denied", each narrowly:
- a timeout before any connection was made (curl exit 28 with ``time_connect`` 0 and no HTTP
  status): Cilium drops the SYN silently. A timeout after connecting is a slow or hung server,
  which says nothing about policy;
- an HTTP 403 whose body is the text Cilium's Envoy proxy answers for a request its L7 rules
  deny (``Access denied``). Any other 403 comes from the server itself.

Anything else the probe could not do is an error, never a verdict, so a broken client image or a
misbehaving server cannot pass a ``deny``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..verdicts import Outcome
from .commands import CurlOutput

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


def classify(output: CurlOutput) -> Classified:
    """The outcome of one curl of a batch."""
    code = output.exit_code
    said = _said(output)
    if code is None:
        return Classified(Outcome.PROBE_ERROR, f"the probe left no exit code{said}")
    if code == 0:
        return _answered(output)
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
