"""The probe protocol: the command run in a client pod and how its output is read.

A source pod runs all its probes of a round in one exec: a fixed POSIX ``sh`` script starts one
curl per probe as a background job, waits for all of them, then prints each probe's exit code,
stdout and stderr between marker lines. So a round costs its slowest probe, not the sum, and the
output of parallel curls never interleaves (each job writes to its own files).

Each probe travels as one positional argument holding a shell-quoted curl command; the same
command, behind ``kubectl exec``, is what a user pastes to repeat the probe by hand. The emulator's
exec handler reads commands back with :func:`parse_batch_argv` and :func:`parse_curl` and answers
with :func:`render_batch_output`, so both sides share this one definition.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

MARKER = "@@clustermesh-probe"
ARGV0 = "clustermesh-probe"
"""``$0`` of the batch script: names the exec in process listings and marks it for parsers."""

WRITE_OUT = r"\nhttp_code=%{http_code}\n"
"""curl's ``--write-out``: the HTTP status on a line of its own after the body."""

BATCH_SCRIPT = f"""\
d=$(mktemp -d) || exit 125
n=0
for c in "$@"; do
  (eval "$c" >"$d/$n.out" 2>"$d/$n.err"; echo $? >"$d/$n.rc") &
  n=$((n+1))
done
wait
i=0
while [ "$i" -lt "$n" ]; do
  echo "{MARKER} $i exit=$(cat "$d/$i.rc")"
  cat "$d/$i.out"; echo
  echo "{MARKER} $i stderr"
  cat "$d/$i.err"; echo
  i=$((i+1))
done
echo "{MARKER} end"
rm -rf "$d"
"""

_HTTP_CODE = re.compile(r"(?m)^http_code=(\d{3})\s*$")
_HEADER = re.compile(rf"^{re.escape(MARKER)} (\d+) exit=(\d*)$")
_STDERR = re.compile(rf"^{re.escape(MARKER)} (\d+) stderr$")
_END = f"{MARKER} end"


@dataclass(frozen=True)
class CurlRequest:
    """What one curl command asks for."""

    url: str
    method: str = "GET"
    connect_timeout: float = 2.0
    max_time: float = 5.0

    @property
    def host(self) -> str:
        return self.url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0].strip("[]")

    @property
    def port(self) -> int:
        authority = self.url.split("://", 1)[-1].split("/", 1)[0]
        _, _, port = authority.rpartition(":")
        return int(port) if port.isdigit() and not authority.endswith("]") else 80

    @property
    def path(self) -> str:
        rest = self.url.split("://", 1)[-1]
        return "/" + rest.split("/", 1)[1] if "/" in rest else "/"


def url_of(ip: str, port: int, path: str) -> str:
    host = f"[{ip}]" if ":" in ip else ip
    return f"http://{host}:{port}{path if path.startswith('/') else '/' + path}"


def curl_argv(request: CurlRequest) -> list[str]:
    """One probe as curl's argv. No ``--fail``: a 403 must be told apart from other errors."""
    return [
        "curl",
        "--silent",
        "--show-error",
        "--connect-timeout",
        _seconds(request.connect_timeout),
        "--max-time",
        _seconds(request.max_time),
        "--request",
        request.method,
        "--write-out",
        WRITE_OUT,
        request.url,
    ]


def batch_argv(requests: Sequence[CurlRequest]) -> list[str]:
    """The exec argv running ``requests`` in parallel in one pod."""
    return ["sh", "-c", BATCH_SCRIPT, ARGV0, *(shlex.join(curl_argv(r)) for r in requests)]


def kubectl_command(
    context: str, namespace: str, pod: str, request: CurlRequest, kubeconfig: str | None = None
) -> str:
    """A command line repeating one probe by hand."""
    argv = ["kubectl", "--context", context]
    if kubeconfig:
        argv += ["--kubeconfig", kubeconfig]
    argv += ["-n", namespace, "exec", pod, "--", *curl_argv(request)]
    return shlex.join(argv)


def _seconds(value: float) -> str:
    return f"{value:g}"


# -- reading the output ----------------------------------------------------------------------


@dataclass(frozen=True)
class CurlOutput:
    """What one curl of a batch did."""

    exit_code: int | None
    """``None`` when the batch output held no exit code for it."""
    stdout: str = ""
    stderr: str = ""

    @property
    def http_code(self) -> int | None:
        found = _HTTP_CODE.findall(self.stdout)
        return int(found[-1]) if found else None

    @property
    def body(self) -> str:
        """stdout without the ``--write-out`` trailer."""
        match = list(_HTTP_CODE.finditer(self.stdout))
        return self.stdout[: match[-1].start()].rstrip("\n") if match else self.stdout


class BatchOutputError(ValueError):
    """The batch script's output is not in its format (truncated, or another program's)."""


def parse_batch_output(stdout: str, count: int) -> list[CurlOutput]:
    """The results of a batch of ``count`` probes, in order.

    Raises :class:`BatchOutputError` when the end marker is missing (the script did not finish)
    or when a probe's section is.
    """
    sections: dict[int, dict[str, list[str] | int | None]] = {}
    current: list[str] | None = None
    finished = False
    for line in stdout.splitlines():
        if line == _END:
            finished = True
            current = None
            continue
        if header := _HEADER.match(line):
            index = int(header.group(1))
            code = header.group(2)
            current = []
            sections[index] = {"exit": int(code) if code else None, "out": current, "err": []}
            continue
        if (err := _STDERR.match(line)) and int(err.group(1)) in sections:
            current = sections[int(err.group(1))]["err"]  # type: ignore[assignment]
            continue
        if current is not None:
            current.append(line)
    if not finished:
        raise BatchOutputError("the probe script did not finish (no end marker in its output)")
    missing = [str(i) for i in range(count) if i not in sections]
    if missing:
        raise BatchOutputError(f"no output for probe(s) {', '.join(missing)}")
    return [_section(sections[i]) for i in range(count)]


def _section(raw: dict[str, list[str] | int | None]) -> CurlOutput:
    exit_code = raw["exit"]
    out, err = raw["out"], raw["err"]
    assert isinstance(out, list) and isinstance(err, list)
    return CurlOutput(
        exit_code if isinstance(exit_code, int) else None,
        "\n".join(out),
        "\n".join(err).strip(),
    )


# -- the other side: used by the emulator's exec handler ---------------------------------------


def parse_batch_argv(argv: Sequence[str]) -> list[list[str]] | None:
    """The curl argvs of a batch exec, or ``None`` if ``argv`` is not one."""
    if len(argv) < 4 or list(argv[:4]) != ["sh", "-c", BATCH_SCRIPT, ARGV0]:
        return None
    return [shlex.split(command) for command in argv[4:]]


def parse_curl(argv: Sequence[str]) -> CurlRequest:
    """The request of a curl argv as :func:`curl_argv` writes it.

    Raises ``ValueError`` for anything else (another tool, unknown options).
    """
    if not argv or argv[0] != "curl":
        raise ValueError(f"not a curl command: {shlex.join(argv)}")
    values: dict[str, str] = {}
    url = None
    args = iter(argv[1:])
    for arg in args:
        if arg in ("--silent", "--show-error"):
            continue
        if arg in ("--connect-timeout", "--max-time", "--request", "--write-out"):
            values[arg] = next(args, "")
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
    )


def render_batch_output(outputs: Sequence[CurlOutput]) -> str:
    """The batch script's stdout for ``outputs``, as the script prints it."""
    lines = []
    for index, output in enumerate(outputs):
        lines.append(
            f"{MARKER} {index} exit={'' if output.exit_code is None else output.exit_code}"
        )
        if output.stdout:
            lines.append(output.stdout)
        lines.append(f"{MARKER} {index} stderr")
        if output.stderr:
            lines.append(output.stderr)
    lines.append(_END)
    return "\n".join(lines) + "\n"


def curl_stdout(body: str, http_code: int) -> str:
    """What curl with :data:`WRITE_OUT` prints for a response."""
    return f"{body}\nhttp_code={http_code:03d}"
