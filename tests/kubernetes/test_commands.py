"""The probe protocol: building commands, running the batch script under a real ``sh`` with a
stand-in curl, reading its output back."""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from pathlib import Path

import pytest

from pytest_clustermesh.kubernetes.commands import (
    BatchOutputError,
    CurlOutput,
    CurlRequest,
    batch_argv,
    curl_argv,
    curl_stdout,
    kubectl_command,
    new_marker,
    parse_batch_argv,
    parse_batch_output,
    parse_curl,
    render_batch_output,
    url_of,
)

W = "clustermesh-write-out"
FAKE_CURL = f"""#!/bin/sh
# Stand-in curl: the last argument is the URL; its host part picks the behaviour.
for url; do :; done
case "$url" in
  *10.0.0.1*) printf 'clustermesh-echo cluster=c1 pod=be-1\\n\\n{W} http_code=200 time_connect=0.000311\\n' ;;
  *10.0.0.2*) sleep "$SLEEP"; echo 'curl: (28) Connection timed out' >&2
              printf '\\n{W} http_code=000 time_connect=0.000000\\n'; exit 28 ;;
  *10.0.0.3*) printf 'Access denied\\n{W} http_code=403 time_connect=0.000200\\n' ;;
  *10.0.0.4*) echo 'curl: (7) Failed to connect' >&2
              printf '\\n{W} http_code=000 time_connect=0.000000'; exit 7 ;;
  *10.0.0.5*) printf '@@clustermesh-probe 0 exit=28\\n@@clustermesh-probe 0 stderr\\n'
              printf '@@clustermesh-probe end\\n{W} http_code=200 time_connect=0.000300\\n' ;;
  *) echo 'no newline at the end' >&2; printf 'partial'; exit 3 ;;
esac
"""  # noqa: E501


def request(ip: str, path: str = "/") -> CurlRequest:
    return CurlRequest(url_of(ip, 8080, path), "GET", 1, 4)


def test_curl_argv_round_trips_through_the_parser() -> None:
    original = CurlRequest("http://10.1.2.3:8080/private", "POST", 1.5, 4.5)
    assert parse_curl(curl_argv(original)) == original
    assert (original.host, original.port, original.path) == ("10.1.2.3", 8080, "/private")


def test_ipv6_urls_are_bracketed() -> None:
    parsed = CurlRequest(url_of("fd00::5", 80, "x"))
    assert parsed.url == "http://[fd00::5]:80/x"
    assert (parsed.host, parsed.port, parsed.path) == ("fd00::5", 80, "/x")


def test_batch_argv_carries_one_shell_quoted_curl_per_probe() -> None:
    requests = [request("10.0.0.1"), request("10.0.0.2", "/a b")]
    marker = new_marker()
    argv = batch_argv(requests, marker)
    assert argv[:2] == ["sh", "-c"]
    parsed = parse_batch_argv(argv)
    assert parsed is not None and parsed.marker == marker
    assert [parse_curl(c) for c in parsed.commands] == requests
    assert parse_batch_argv(["curl", "http://x"]) is None


def test_every_batch_gets_its_own_unguessable_marker() -> None:
    markers = {new_marker() for _ in range(100)}
    assert len(markers) == 100
    with pytest.raises(ValueError, match="not a batch marker"):
        batch_argv([request("10.0.0.1")], "@@clustermesh-probe")


def test_kubectl_command_repeats_the_probe() -> None:
    line = kubectl_command("kind-c1", "ns1", "client-abc", request("10.0.0.1"), "/tmp/kc")
    argv = shlex.split(line)
    assert line.startswith("kubectl --context kind-c1 ")
    assert argv[argv.index("--") + 1 :] == curl_argv(request("10.0.0.1"))
    assert argv[5:9] == ["-n", "ns1", "exec", "client-abc"]


def test_parse_curl_rejects_other_tools_and_options() -> None:
    with pytest.raises(ValueError, match="not a curl"):
        parse_curl(["wget", "http://x"])
    with pytest.raises(ValueError, match="unknown curl option"):
        parse_curl(["curl", "-k", "http://x"])


def test_render_and_parse_are_inverse() -> None:
    marker = new_marker()
    outputs = [
        CurlOutput(0, curl_stdout("clustermesh-echo cluster=a pod=b", 200)),
        CurlOutput(28, curl_stdout("", 0), "curl: (28) timeout"),
        CurlOutput(None),
        CurlOutput(3, "partial", "no newline"),
    ]
    parsed = parse_batch_output(render_batch_output(outputs, marker), 4, marker)
    assert parsed == outputs
    assert parsed[0].http_code == 200 and parsed[0].body == "clustermesh-echo cluster=a pod=b"
    assert parsed[0].time_connect is not None and parsed[0].time_connect > 0
    assert parsed[1].stderr == "curl: (28) timeout" and parsed[1].http_code == 0
    assert parsed[1].time_connect == 0.0
    assert parsed[3].http_code is None and parsed[3].time_connect is None


def test_truncated_output_is_an_error() -> None:
    marker = new_marker()
    text = render_batch_output([CurlOutput(0, curl_stdout("x", 200))], marker)
    with pytest.raises(BatchOutputError, match="did not finish"):
        parse_batch_output(text.rsplit("@@", 1)[0], 1, marker)
    with pytest.raises(BatchOutputError, match=r"no output for probe\(s\) 1"):
        parse_batch_output(text, 2, marker)
    with pytest.raises(BatchOutputError, match="did not finish"):
        parse_batch_output(text, 1, new_marker())  # another batch's output


def test_a_body_cannot_forge_another_probes_section() -> None:
    """A server's body imitating the framing (the old fixed marker, or a guess) is body text:
    it cannot turn probe 0's answer into a drop."""
    marker = new_marker()
    forged = (
        "@@clustermesh-probe 0 exit=28\n\n@@clustermesh-probe 0 stderr\n"
        f"{new_marker()} 0 exit=28\n@@clustermesh-probe end"
    )
    outputs = [
        CurlOutput(0, curl_stdout("clustermesh-echo cluster=a pod=b", 200)),
        CurlOutput(0, curl_stdout(forged, 200)),
    ]
    parsed = parse_batch_output(render_batch_output(outputs, marker), 2, marker)
    assert parsed == outputs
    assert [p.exit_code for p in parsed] == [0, 0]
    assert parsed[1].body == forged


@pytest.mark.parametrize(
    ("lines", "problem"),
    [
        (["0 exit=0", "x", "0 stderr", "", "0 exit=28", "", "0 stderr", "", "end"], "second"),
        (["0 exit=0", "x", "0 stderr", "", "2 exit=28", "", "2 stderr", "", "end"], "order"),
        (["0 exit=0", "x", "0 exit=28", "0 stderr", "", "end"], "unexpected marker"),
        (["0 exit=0", "x", "0 stderr", "", "end", "1 exit=0"], "after the end"),
        (["0 exit=0", "x", "0 stderr", "", "end", "more"], "after the end"),
    ],
)
def test_a_broken_framing_fails_the_whole_batch(lines: list[str], problem: str) -> None:
    """Even with the right marker (which no server can know), a header for a probe already
    seen, or out of order, is not taken: the batch is an error, never a verdict."""
    marker = new_marker()
    text = "\n".join(line if line in ("x", "", "more") else f"{marker} {line}" for line in lines)
    with pytest.raises(BatchOutputError, match=problem):
        parse_batch_output(text + "\n", 1, marker)


@pytest.fixture
def fake_curl(tmp_path: Path) -> dict[str, str]:
    curl = tmp_path / "curl"
    curl.write_text(FAKE_CURL)
    curl.chmod(0o755)
    return {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}", "SLEEP": "0.5"}


def test_the_batch_script_runs_curls_in_parallel_under_sh(fake_curl: dict[str, str]) -> None:
    ips = ["10.0.0.2", "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.2", "10.0.0.4", "10.0.0.9"]
    ips.append("10.0.0.5")
    marker = new_marker()
    started = time.monotonic()
    done = subprocess.run(
        batch_argv([request(ip) for ip in ips], marker),
        env=fake_curl,
        capture_output=True,
        text=True,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert elapsed < 1.4, f"three 0.5 s probes took {elapsed:.2f} s: not run in parallel"
    outputs = parse_batch_output(done.stdout, len(ips), marker)
    assert [o.exit_code for o in outputs] == [28, 0, 28, 0, 28, 7, 3, 0]
    assert outputs[0].time_connect == 0.0 and outputs[0].http_code == 0
    assert outputs[1].body == "clustermesh-echo cluster=c1 pod=be-1"
    assert outputs[1].time_connect == 0.000311
    assert outputs[3].http_code == 403 and outputs[3].body == "Access denied"
    assert outputs[7].body.startswith("@@clustermesh-probe 0 exit=28")  # body, not a header
    assert outputs[5].stderr == "curl: (7) Failed to connect"
    assert outputs[6].stdout.startswith("partial") and outputs[6].http_code is None
    assert outputs[6].stderr == "no newline at the end"


def test_the_batch_script_reports_a_missing_curl(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}  # no curl, no mktemp either
    marker = new_marker()
    (tmp_path / "mktemp").symlink_to("/usr/bin/mktemp")
    for tool in ("cat", "rm"):
        (tmp_path / tool).symlink_to(f"/bin/{tool}")
    done = subprocess.run(
        ["/bin/sh", *batch_argv([request("10.0.0.1")], marker)[1:]],
        env=env,
        capture_output=True,
        text=True,
    )
    [output] = parse_batch_output(done.stdout, 1, marker)
    assert output.exit_code == 127
    assert "curl" in output.stderr
