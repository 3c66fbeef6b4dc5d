"""UDP, SCTP and ICMP probes as commands: what runs in the client pod, what a user pastes, and
how the emulator reads it back; the batch script running them under a real ``sh``."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from pytest_clustermesh.kubernetes.classify import classify
from pytest_clustermesh.kubernetes.commands import (
    AGNHOST,
    ConnectRequest,
    CurlRequest,
    DigRequest,
    PingRequest,
    ProbeRequest,
    batch_argv,
    connect_argv,
    dig_argv,
    kubectl_command,
    new_marker,
    parse_batch_argv,
    parse_batch_output,
    parse_probe,
    ping_argv,
    probe_argv,
    url_of,
)
from pytest_clustermesh.verdicts import Outcome


def test_udp_and_sctp_probes_are_agnhost_connect() -> None:
    udp = ConnectRequest("10.2.0.7", 53, "UDP", 0.3)
    assert connect_argv(udp) == [
        "/agnhost",
        "connect",
        "10.2.0.7:53",
        "--protocol=udp",
        "--timeout=0.3s",
    ]
    sctp = ConnectRequest("fd00::7", 9000, "SCTP", 2)
    assert connect_argv(sctp)[2:] == ["[fd00::7]:9000", "--protocol=sctp", "--timeout=2s"]
    assert parse_probe(connect_argv(udp)) == udp
    assert parse_probe(connect_argv(sctp)) == sctp


def test_icmp_probes_ping_once_and_wait_whole_seconds() -> None:
    assert ping_argv(PingRequest("10.2.0.7", 0.3)) == ["ping", "-c", "1", "-W", "1", "10.2.0.7"]
    assert PingRequest("x", 2.5).wait == 3
    assert PingRequest("x", 2).port == 0
    assert parse_probe(ping_argv(PingRequest("10.2.0.7", 2))) == PingRequest("10.2.0.7", 2)


def test_dns_probes_query_the_name_once_with_dig() -> None:
    request = DigRequest("api.example.net", 0.3)
    assert dig_argv(request) == ["dig", "+time=1", "+tries=1", "api.example.net"]
    assert (request.host, request.port) == ("api.example.net", 53)
    assert parse_probe(dig_argv(DigRequest("x.example", 2))) == DigRequest("x.example", 2)
    with pytest.raises(ValueError, match="Invalid option"):
        parse_probe(["dig", "+time=x", "+tries=1", "a"])
    with pytest.raises(ValueError, match="not a probe's dig"):
        parse_probe(["dig", "a"])


def test_flags_may_come_in_any_order_as_cobra_reads_them() -> None:
    argv = ["/agnhost", "connect", "--timeout", "1s", "--protocol", "sctp", "10.0.0.1:80"]
    assert parse_probe(argv) == ConnectRequest("10.0.0.1", 80, "SCTP", 1)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["/agnhost", "connect", "10.0.0.1:80", "--protocol=tcp"], "udp or sctp"),
        (["/agnhost", "connect", "10.0.0.1", "--protocol=udp"], "missing port"),
        (["/agnhost", "connect", "--protocol=udp"], "accepts 1 arg"),
        (["/agnhost", "connect", "10.0.0.1:80", "--protocol=udp", "--bogus"], "unknown flag"),
        (["/agnhost", "netexec"], "not an agnhost connect"),
        (["ping", "10.0.0.1"], "not a probe's ping"),
        (["ping", "-c", "1", "-W", "x", "10.0.0.1"], "invalid number"),
        (["nc", "-u", "10.0.0.1", "53"], "not a probe command"),
    ],
)
def test_other_commands_are_not_read_as_probes(argv: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_probe(argv)


def test_a_batch_mixes_protocols_and_reads_back_each_probe() -> None:
    requests: list[ProbeRequest] = [
        CurlRequest(url_of("10.2.0.7", 8080, "/"), "GET", 1, 4),
        ConnectRequest("10.2.0.7", 53, "UDP", 1),
        ConnectRequest("10.2.0.7", 9000, "SCTP", 1),
        PingRequest("10.2.0.7", 1),
        DigRequest("api.example.net", 1),
    ]
    marker = new_marker()
    parsed = parse_batch_argv(batch_argv(requests, marker))
    assert parsed is not None
    assert [parse_probe(argv) for argv in parsed.commands] == requests


@pytest.mark.parametrize(
    "request_",
    [ConnectRequest("10.2.0.7", 53, "UDP", 1), PingRequest("10.2.0.7", 1)],
)
def test_the_kubectl_command_repeats_exactly_the_probe(
    request_: ConnectRequest | PingRequest,
) -> None:
    line = kubectl_command("kind-c1", "ns1", "client-abc", request_, "/k/config")
    argv = shlex.split(line)
    assert argv[: argv.index("--")] == [
        "kubectl",
        "--context",
        "kind-c1",
        "--kubeconfig",
        "/k/config",
        "-n",
        "ns1",
        "exec",
        "client-abc",
    ]
    assert argv[argv.index("--") + 1 :] == probe_argv(request_)


FAKE_PING = """#!/bin/sh
# Stand-in busybox ping: the last argument is the host.
for host; do :; done
echo "PING $host ($host): 56 data bytes"
case "$host" in
  10.0.0.1) echo "64 bytes from $host: seq=0 ttl=64 time=0.05 ms"; echo
            echo "--- $host ping statistics ---"
            echo "1 packets transmitted, 1 packets received, 0% packet loss" ;;
  *) echo; echo "--- $host ping statistics ---"
     echo "1 packets transmitted, 0 packets received, 100% packet loss"; exit 1 ;;
esac
"""


@pytest.mark.skipif(not Path("/bin/sh").exists(), reason="needs a POSIX sh")
def test_under_a_real_shell_a_missing_agnhost_is_a_probe_error_naming_it(tmp_path: Path) -> None:
    """An image without /agnhost (netshoot, say): the shell's own 127 comes back for the UDP
    probe and is a probe error naming the tool; the pings beside it still run."""
    if Path(AGNHOST).exists():
        pytest.skip("this machine has a real /agnhost")
    fake = tmp_path / "ping"
    fake.write_text(FAKE_PING)
    fake.chmod(0o755)
    requests: list[ProbeRequest] = [
        ConnectRequest("10.0.0.1", 53, "UDP", 1),
        PingRequest("10.0.0.1", 1),
        PingRequest("10.0.0.2", 1),
    ]
    marker = new_marker()
    argv = batch_argv(requests, marker)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    outputs = parse_batch_output(done.stdout, len(requests), marker)
    assert outputs[0].exit_code == 127
    verdicts = [
        classify(output, request) for output, request in zip(outputs, requests, strict=True)
    ]
    assert verdicts[0].outcome is Outcome.PROBE_ERROR
    assert "/agnhost could not run in the client pod (exit 127)" in verdicts[0].detail
    assert "not found" in verdicts[0].detail
    assert [v.outcome for v in verdicts[1:]] == [Outcome.ALLOWED, Outcome.DROPPED]
