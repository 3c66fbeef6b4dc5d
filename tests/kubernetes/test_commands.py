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
    parse_batch_argv,
    parse_batch_output,
    parse_curl,
    render_batch_output,
    url_of,
)

FAKE_CURL = """#!/bin/sh
# Stand-in curl: the last argument is the URL; its host part picks the behaviour.
for url; do :; done
case "$url" in
  *10.0.0.1*) printf 'clustermesh-echo cluster=c1 pod=be-1\\n\\nhttp_code=200\\n' ;;
  *10.0.0.2*) sleep "$SLEEP"; echo 'curl: (28) Connection timed out' >&2
              printf '\\nhttp_code=000\\n'; exit 28 ;;
  *10.0.0.3*) printf 'Access denied\\nhttp_code=403\\n' ;;
  *10.0.0.4*) echo 'curl: (7) Failed to connect' >&2; printf '\\nhttp_code=000'; exit 7 ;;
  *) echo 'no newline at the end' >&2; printf 'partial'; exit 3 ;;
esac
"""


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
    argv = batch_argv(requests)
    assert argv[:2] == ["sh", "-c"]
    parsed = parse_batch_argv(argv)
    assert parsed is not None
    assert [parse_curl(c) for c in parsed] == requests
    assert parse_batch_argv(["curl", "http://x"]) is None


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
    outputs = [
        CurlOutput(0, curl_stdout("clustermesh-echo cluster=a pod=b", 200)),
        CurlOutput(28, curl_stdout("", 0), "curl: (28) timeout"),
        CurlOutput(None),
    ]
    parsed = parse_batch_output(render_batch_output(outputs), 3)
    assert [p.exit_code for p in parsed] == [0, 28, None]
    assert parsed[0].http_code == 200 and parsed[0].body == "clustermesh-echo cluster=a pod=b"
    assert parsed[1].stderr == "curl: (28) timeout" and parsed[1].http_code == 0


def test_truncated_output_is_an_error() -> None:
    text = render_batch_output([CurlOutput(0, curl_stdout("x", 200))])
    with pytest.raises(BatchOutputError, match="did not finish"):
        parse_batch_output(text.rsplit("@@", 1)[0], 1)
    with pytest.raises(BatchOutputError, match=r"no output for probe\(s\) 1"):
        parse_batch_output(text, 2)


@pytest.fixture
def fake_curl(tmp_path: Path) -> dict[str, str]:
    curl = tmp_path / "curl"
    curl.write_text(FAKE_CURL)
    curl.chmod(0o755)
    return {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}", "SLEEP": "0.5"}


def test_the_batch_script_runs_curls_in_parallel_under_sh(fake_curl: dict[str, str]) -> None:
    ips = ["10.0.0.2", "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.2", "10.0.0.4", "10.0.0.9"]
    started = time.monotonic()
    done = subprocess.run(
        batch_argv([request(ip) for ip in ips]), env=fake_curl, capture_output=True, text=True
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert elapsed < 1.4, f"three 0.5 s probes took {elapsed:.2f} s: not run in parallel"
    outputs = parse_batch_output(done.stdout, len(ips))
    assert [o.exit_code for o in outputs] == [28, 0, 28, 0, 28, 7, 3]
    assert outputs[1].body == "clustermesh-echo cluster=c1 pod=be-1"
    assert outputs[3].http_code == 403
    assert outputs[5].stderr == "curl: (7) Failed to connect"
    assert outputs[6].stdout.startswith("partial") and outputs[6].http_code is None
    assert outputs[6].stderr == "no newline at the end"


def test_the_batch_script_reports_a_missing_curl(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}  # no curl, no mktemp either
    (tmp_path / "mktemp").symlink_to("/usr/bin/mktemp")
    for tool in ("cat", "rm"):
        (tmp_path / tool).symlink_to(f"/bin/{tool}")
    done = subprocess.run(
        ["/bin/sh", *batch_argv([request("10.0.0.1")])[1:]],
        env=env,
        capture_output=True,
        text=True,
    )
    [output] = parse_batch_output(done.stdout, 1)
    assert output.exit_code == 127
    assert "curl" in output.stderr
