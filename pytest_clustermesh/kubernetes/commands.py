"""The probe protocol: the command run in a client pod and how its output is read.

A probe is one of three commands, each what a user would type by hand:

- TCP (HTTP): ``curl`` (:class:`CurlRequest`), with a ``--write-out`` line, below;
- UDP and SCTP: ``/agnhost connect HOST:PORT --protocol=udp|sctp --timeout=Ns``
  (:class:`ConnectRequest`), the probe of Kubernetes' own network-policy e2e tests (kubernetes
  ``test/e2e/network/netpol/kubemanager.go``, ``probeConnectivity``). It sends a payload and
  needs an answer; on failure it prints a fixed prefix on stderr (kubernetes
  ``test/images/agnhost/connect/connect.go``): ``TIMEOUT``, ``REFUSED``, ``DNS``, ``OTHER``,
  ``UNKNOWN``;
- ICMP: ``ping -c 1 -W N HOST`` (:class:`PingRequest`), one echo request;
- a DNS query: ``dig +time=N +tries=1 NAME`` (:class:`DigRequest`), one query to the pod's
  resolver, the cluster DNS (kube-dns).

A source pod runs all its probes of a round in one exec: a fixed POSIX ``sh`` script starts one
command per probe as a background job, waits for all of them, then prints each probe's exit code,
stdout and stderr between marker lines. So a round costs its slowest probe, not the sum, and the
output of parallel curls never interleaves (each job writes to its own files).

The marker lines cannot be forged by what a probe prints: each batch gets a fresh random marker
(:func:`new_marker`), passed to the script as its first argument and never sent to any server,
and the parser accepts marker lines only in the script's exact order (header, stderr, next
header..., end). A response body that imitates a header, of this batch or any other, is either
plain body text (it lacks the marker) or breaks the order, which makes the whole batch a
:class:`BatchOutputError` (a probe error, never a verdict).

Each probe travels as one positional argument holding a shell-quoted command; the same
command, behind ``kubectl exec``, is what a user pastes to repeat the probe by hand. Its
``--write-out`` line ends curl's stdout with the HTTP status and ``time_connect``, so a timeout
before the connection was made (a drop) can be told from a slow server. The emulator's exec
handler reads commands back with :func:`parse_batch_argv` and :func:`parse_probe` and answers with
:func:`render_batch_output`, so both sides share this one definition.
"""

from __future__ import annotations

import ipaddress
import math
import re
import secrets
import shlex
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from ..backend import HttpRequest

MARKER_PREFIX = "@@clustermesh-"
_MARKER = re.compile(rf"^{re.escape(MARKER_PREFIX)}[0-9a-f]{{32}}$")
ARGV0 = "clustermesh-probe"
"""``$0`` of the batch script: names the exec in process listings and marks it for parsers."""

WRITE_OUT_TAG = "clustermesh-write-out"
WRITE_OUT = rf"\n{WRITE_OUT_TAG} http_code=%{{http_code}} time_connect=%{{time_connect}}\n"
"""curl's ``--write-out``: after the body, on a line of its own, the HTTP status (``000`` when
no response came) and the seconds until the TCP connection was made (``0.000000`` when it never
was). curl prints it whatever the exit code, last, so only the final line of stdout counts."""

BATCH_SCRIPT = """\
m=$1; shift
d=$(mktemp -d) || exit 125
n=0
for c in "$@"; do
  (eval "$c" >"$d/$n.out" 2>"$d/$n.err"; echo $? >"$d/$n.rc") &
  n=$((n+1))
done
wait
i=0
while [ "$i" -lt "$n" ]; do
  echo "$m $i exit=$(cat "$d/$i.rc")"
  cat "$d/$i.out"; echo
  echo "$m $i stderr"
  cat "$d/$i.err"; echo
  i=$((i+1))
done
echo "$m end"
rm -rf "$d"
"""
"""Run as ``sh -c BATCH_SCRIPT clustermesh-probe MARKER COMMAND...``."""

_WRITE_OUT_LINE = re.compile(
    rf"(?:^|\n){re.escape(WRITE_OUT_TAG)} http_code=(\d{{3}}) time_connect=(\d+(?:\.\d+)?)\s*\Z"
)


def new_marker() -> str:
    """A fresh marker for one batch: unguessable, so no probe's output can contain it."""
    return f"{MARKER_PREFIX}{secrets.token_hex(16)}"


@dataclass(frozen=True)
class CurlRequest:
    """What one curl command asks for."""

    url: str
    method: str = "GET"
    connect_timeout: float = 2.0
    max_time: float = 5.0
    headers: tuple[tuple[str, str], ...] = ()
    """Request headers, ``Host`` among them when the probe sets it."""
    insecure: bool = False
    """``--insecure``: an ``https`` URL whose server certificate is not checked (the API
    server's, signed by a cluster CA the client pod does not hold). The probe asks whether
    the connection is made, not whom to trust."""

    @property
    def host(self) -> str:
        return self.url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0].strip("[]")

    @property
    def port(self) -> int:
        authority = self.url.split("://", 1)[-1].split("/", 1)[0]
        _, _, port = authority.rpartition(":")
        if port.isdigit() and not authority.endswith("]"):
            return int(port)
        return 443 if self.url.startswith("https://") else 80

    @property
    def path(self) -> str:
        rest = self.url.split("://", 1)[-1]
        return "/" + rest.split("/", 1)[1] if "/" in rest else "/"


AGNHOST = "/agnhost"
"""Where the agnhost image keeps its binary (kubernetes ``test/images/agnhost/Dockerfile``:
``ADD agnhost agnhost``, ``ENTRYPOINT ["/agnhost"]``)."""


@dataclass(frozen=True)
class ConnectRequest:
    """A UDP or SCTP probe: ``agnhost connect``, which sends a payload (``hostname``) and
    succeeds only once the server answered."""

    host: str
    port: int
    protocol: Literal["UDP", "SCTP"]
    timeout: float = 2.0


@dataclass(frozen=True)
class PingRequest:
    """An ICMP probe: one echo request, waiting ``timeout`` seconds (whole, at least 1: busybox
    ping's ``-W`` takes whole seconds) for the reply."""

    host: str
    timeout: float = 2.0

    @property
    def port(self) -> int:
        return 0

    @property
    def wait(self) -> int:
        return max(1, math.ceil(self.timeout))


@dataclass(frozen=True)
class DigRequest:
    """A DNS probe: one query for ``name`` (A record) to the pod's resolver, kube-dns, on UDP 53,
    waiting ``timeout`` seconds (whole, at least 1: dig's ``+time``) for the answer, once."""

    name: str
    timeout: float = 2.0

    @property
    def host(self) -> str:
        return self.name

    @property
    def port(self) -> int:
        return 53

    @property
    def wait(self) -> int:
        return max(1, math.ceil(self.timeout))


ProbeRequest = CurlRequest | ConnectRequest | PingRequest | DigRequest
"""What one probe runs."""


def host_port(host: str, port: int) -> str:
    """``host:port``, an IPv6 address bracketed (as Go's ``net.JoinHostPort``)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def connect_argv(request: ConnectRequest) -> list[str]:
    return [
        AGNHOST,
        "connect",
        host_port(request.host, request.port),
        f"--protocol={request.protocol.lower()}",
        f"--timeout={_seconds(request.timeout)}s",
    ]


def ping_argv(request: PingRequest) -> list[str]:
    return ["ping", "-c", "1", "-W", str(request.wait), request.host]


def dig_argv(request: DigRequest) -> list[str]:
    """dig without ``+search`` (its default) queries the name as given, not the pod's search
    domains."""
    return ["dig", f"+time={request.wait}", "+tries=1", request.name]


def probe_argv(request: ProbeRequest) -> list[str]:
    """The argv of one probe, whatever it speaks."""
    if isinstance(request, ConnectRequest):
        return connect_argv(request)
    if isinstance(request, PingRequest):
        return ping_argv(request)
    if isinstance(request, DigRequest):
        return dig_argv(request)
    return curl_argv(request)


def tool_of(request: ProbeRequest) -> str:
    """The program a probe needs in the client image."""
    return probe_argv(request)[0]


def http_headers(http: HttpRequest | None) -> tuple[tuple[str, str], ...]:
    """The headers curl sends for ``http``: ``Host`` first when the probe sets it."""
    if http is None:
        return ()
    host = (("Host", http.host),) if http.host else ()
    return (*host, *http.headers)


def url_of(ip: str, port: int, path: str, scheme: Literal["http", "https"] = "http") -> str:
    host = f"[{ip}]" if ":" in ip else ip
    return f"{scheme}://{host}:{port}{path if path.startswith('/') else '/' + path}"


def curl_argv(request: CurlRequest) -> list[str]:
    """One probe as curl's argv. No ``--fail``: a 403 must be told apart from other errors."""
    return [
        "curl",
        "--silent",
        "--show-error",
        *(["--insecure"] if request.insecure else []),
        "--connect-timeout",
        _seconds(request.connect_timeout),
        "--max-time",
        _seconds(request.max_time),
        "--request",
        request.method,
        *(arg for name, value in request.headers for arg in ("--header", f"{name}: {value}")),
        "--write-out",
        WRITE_OUT,
        request.url,
    ]


def batch_argv(requests: Sequence[ProbeRequest], marker: str) -> list[str]:
    """The exec argv running ``requests`` in parallel in one pod; its output's sections are
    framed by ``marker`` (from :func:`new_marker`, one per batch)."""
    if not _MARKER.match(marker):
        raise ValueError(f"not a batch marker: {marker!r}")
    return [
        "sh",
        "-c",
        BATCH_SCRIPT,
        ARGV0,
        marker,
        *(shlex.join(probe_argv(r)) for r in requests),
    ]


def kubectl_command(
    context: str, namespace: str, pod: str, request: ProbeRequest, kubeconfig: str | None = None
) -> str:
    """A command line repeating one probe by hand."""
    argv = ["kubectl", "--context", context]
    if kubeconfig:
        argv += ["--kubeconfig", kubeconfig]
    argv += ["-n", namespace, "exec", pod, "--", *probe_argv(request)]
    return shlex.join(argv)


def _seconds(value: float) -> str:
    return f"{value:g}"


# -- reading the output ----------------------------------------------------------------------


@dataclass(frozen=True)
class CurlOutput:
    """What one probe command of a batch did (curl's, agnhost's or ping's exit and output)."""

    exit_code: int | None
    """``None`` when the batch output held no exit code for it."""
    stdout: str = ""
    stderr: str = ""

    @property
    def http_code(self) -> int | None:
        """The status of the ``--write-out`` line (0: no response); ``None`` without one."""
        found = _WRITE_OUT_LINE.search(self.stdout)
        return int(found.group(1)) if found else None

    @property
    def time_connect(self) -> float | None:
        """Seconds until the connection was made (0: never); ``None`` without a write-out."""
        found = _WRITE_OUT_LINE.search(self.stdout)
        return float(found.group(2)) if found else None

    @property
    def body(self) -> str:
        """stdout without the ``--write-out`` line."""
        found = _WRITE_OUT_LINE.search(self.stdout)
        return self.stdout[: found.start()].rstrip("\n") if found else self.stdout


class BatchOutputError(ValueError):
    """The batch script's output is not in its format (truncated, forged, another program's)."""


def parse_batch_output(stdout: str, count: int, marker: str) -> list[CurlOutput]:
    """The results of a batch of ``count`` probes framed by ``marker``, in order.

    Marker lines must come exactly as the script prints them: ``0 exit=``, ``0 stderr``,
    ``1 exit=``... ``end``. Anything else carrying the marker (a second section for a probe, a
    section out of order) raises :class:`BatchOutputError`, as does output without the end
    marker (the script did not finish) or without a probe's section.
    """
    header = re.compile(rf"{re.escape(marker)} (\d+) exit=(\d*)")
    results: list[CurlOutput] = []
    exit_code: int | None = None
    out: list[str] = []
    err: list[str] = []
    state = "before"  # then "out", "err", ... "end"
    for line in stdout.split("\n"):
        if not line.startswith(marker):
            if state == "out":
                out.append(line)
            elif state == "err":
                err.append(line)
            elif state == "end" and line:
                raise BatchOutputError(f"output after the end marker: {line[:100]!r}")
            continue
        if state == "end":
            raise BatchOutputError("a marker line after the end marker")
        index = len(results)
        if state == "out" and line == f"{marker} {index} stderr":
            state = "err"
            continue
        if state == "err":
            results.append(CurlOutput(exit_code, "\n".join(out), "\n".join(err).strip()))
            index, state = len(results), "between"
        if state in ("before", "between"):
            if line == f"{marker} end":
                state = "end"
                continue
            if found := header.fullmatch(line):
                seen = int(found.group(1))
                if seen != index:
                    again = "a second section" if seen < index else "a section out of order"
                    raise BatchOutputError(f"{again} for probe {seen} (expected probe {index})")
                exit_code = int(found.group(2)) if found.group(2) else None
                out, err, state = [], [], "out"
                continue
        raise BatchOutputError(f"unexpected marker line {line[len(marker) :][:60]!r}")
    if state != "end":
        raise BatchOutputError("the probe script did not finish (no end marker in its output)")
    if len(results) != count:
        missing = ", ".join(str(i) for i in range(len(results), count))
        raise BatchOutputError(
            f"no output for probe(s) {missing}"
            if len(results) < count
            else f"{len(results)} sections for {count} probe(s)"
        )
    return results


# -- the other side: used by the emulator's exec handler ---------------------------------------


@dataclass(frozen=True)
class BatchCommand:
    """A batch exec as the pod sees it."""

    marker: str
    commands: list[list[str]]
    """One argv per probe."""


def parse_batch_argv(argv: Sequence[str]) -> BatchCommand | None:
    """The marker and probe argvs of a batch exec, or ``None`` if ``argv`` is not one."""
    if len(argv) < 5 or list(argv[:4]) != ["sh", "-c", BATCH_SCRIPT, ARGV0]:
        return None
    if not _MARKER.match(argv[4]):
        return None
    return BatchCommand(argv[4], [shlex.split(command) for command in argv[5:]])


def parse_curl(argv: Sequence[str]) -> CurlRequest:
    """The request of a curl argv as :func:`curl_argv` writes it.

    Raises ``ValueError`` for anything else (another tool, unknown options).
    """
    if not argv or argv[0] != "curl":
        raise ValueError(f"not a curl command: {shlex.join(argv)}")
    values: dict[str, str] = {}
    headers: list[tuple[str, str]] = []
    url = None
    insecure = False
    args = iter(argv[1:])
    for arg in args:
        if arg in ("--silent", "--show-error"):
            continue
        if arg == "--insecure":
            insecure = True
        elif arg == "--header":
            name, sep, value = _value_of(arg, args).partition(": ")
            if not sep:
                raise ValueError(f"a header without ': ' in {shlex.join(argv)}")
            headers.append((name, value))
        elif arg in ("--connect-timeout", "--max-time", "--request", "--write-out"):
            values[arg] = _value_of(arg, args)
        elif arg.startswith("-"):
            raise ValueError(f"unknown curl option {arg}")
        else:
            url = arg
    if url is None:
        raise ValueError("curl without a URL")
    return CurlRequest(
        url,
        values.get("--request", "GET"),
        float(values.get("--connect-timeout", "2")),
        float(values.get("--max-time", "5")),
        tuple(headers),
        insecure,
    )


def _value_of(option: str, args: Iterator[str]) -> str:
    """The argument after ``option``: curl refuses an option that takes one as the last word
    (``curl: option --request: requires parameter``)."""
    value = next(args, None)
    if value is None:
        raise ValueError(f"option {option}: requires parameter")
    return value


def parse_connect(argv: Sequence[str]) -> ConnectRequest:
    """The request of an ``agnhost connect`` argv as :func:`connect_argv` writes it (flags in
    any order, ``--flag=value`` or ``--flag value``, as cobra reads them). ``ValueError`` for
    anything else."""
    if len(argv) < 2 or argv[0] not in (AGNHOST, "agnhost") or argv[1] != "connect":
        raise ValueError(f"not an agnhost connect command: {shlex.join(argv)}")
    values: dict[str, str] = {}
    targets: list[str] = []
    args = iter(argv[2:])
    for arg in args:
        if arg.startswith("--"):
            name, equals, value = arg.partition("=")
            if name not in ("--protocol", "--timeout", "--udp-data", "--sctp-data"):
                raise ValueError(f"unknown flag: {name}")
            values[name] = value if equals else next(args, "")
        else:
            targets.append(arg)
    if len(targets) != 1:
        raise ValueError(f"accepts 1 arg(s), received {len(targets)}")
    host, _, port = targets[0].rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"address {targets[0]}: missing port in address")
    protocol = values.get("--protocol", "tcp").upper()
    if protocol not in ("UDP", "SCTP"):
        raise ValueError(f"the probe protocol speaks udp or sctp, not {protocol.lower()}")
    timeout = values.get("--timeout", "0s")
    if not timeout.endswith("s"):
        raise ValueError(f"invalid duration {timeout!r}")
    return ConnectRequest(
        host.strip("[]"),
        int(port),
        "UDP" if protocol == "UDP" else "SCTP",
        float(timeout[:-1]),
    )


def parse_ping(argv: Sequence[str]) -> PingRequest:
    """The request of a ping argv as :func:`ping_argv` writes it; ``ValueError`` otherwise."""
    if len(argv) != 6 or argv[0] != "ping" or argv[1:3] != ["-c", "1"] or argv[3] != "-W":
        raise ValueError(f"not a probe's ping command: {shlex.join(argv)}")
    if not argv[4].isdigit():
        raise ValueError(f"ping: invalid number '{argv[4]}'")
    return PingRequest(argv[5], float(argv[4]))


def parse_dig(argv: Sequence[str]) -> DigRequest:
    """The request of a dig argv as :func:`dig_argv` writes it; ``ValueError`` otherwise."""
    if len(argv) != 4 or argv[0] != "dig" or argv[2] != "+tries=1":
        raise ValueError(f"not a probe's dig command: {shlex.join(argv)}")
    wait = argv[1].removeprefix("+time=")
    if not argv[1].startswith("+time=") or not wait.isdigit():
        raise ValueError(f"Invalid option: {argv[1]}")
    return DigRequest(argv[3], float(wait))


def parse_probe(argv: Sequence[str]) -> ProbeRequest:
    """The request of any probe argv; ``ValueError`` for another program or form."""
    program = argv[0] if argv else ""
    if program == "dig":
        return parse_dig(argv)
    if program == "curl":
        return parse_curl(argv)
    if program in (AGNHOST, "agnhost"):
        return parse_connect(argv)
    if program == "ping":
        return parse_ping(list(argv))
    raise ValueError(f"not a probe command: {shlex.join(argv)}")


def is_address(host: str) -> bool:
    """Whether ``host`` is an IP address rather than a name to resolve."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def render_batch_output(outputs: Sequence[CurlOutput], marker: str) -> str:
    """The batch script's stdout for ``outputs``, byte for byte as the script prints it."""
    text = ""
    for index, output in enumerate(outputs):
        text += f"{marker} {index} exit={'' if output.exit_code is None else output.exit_code}\n"
        text += f"{output.stdout}\n{marker} {index} stderr\n{output.stderr}\n"
    return text + f"{marker} end\n"


ANSWER_TIME_CONNECT = 0.000412
"""A plausible ``time_connect`` of an answered request inside a cluster."""


def curl_stdout(body: str, http_code: int, time_connect: float | None = None) -> str:
    """What curl with :data:`WRITE_OUT` prints: ``body``, then the write-out line.

    ``time_connect`` defaults to 0 (never connected) for ``http_code`` 0, else to
    :data:`ANSWER_TIME_CONNECT`.
    """
    if time_connect is None:
        time_connect = 0.0 if http_code == 0 else ANSWER_TIME_CONNECT
    return f"{body}\n{WRITE_OUT_TAG} http_code={http_code:03d} time_connect={time_connect:.6f}\n"
