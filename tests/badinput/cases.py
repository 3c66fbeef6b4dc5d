"""The bad-input table's machinery: a case is files, a command line, and what must come out.

Every case runs pytest as a user would (``pytester``, in-process unless it could hang) and
checks the three things a bad input must never do: end green (the exit code is asserted), dump
a traceback or an internal name (the output is searched for them), or say something vague (the
message is matched: file, line, the problem).

Runs pass ``--continue-on-collection-errors``, so a bad file is exit code 1: an interrupted
session (exit code 2, a user's default) makes pytest build a traceback it never shows, which
would triple the cost of every case. Cases with ``interrupt`` run as by default, and
``tests/plugin/test_errors.py`` asserts exit code 2 for its cases.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import pytest

SCENARIO = "suite/bad.scenario.yaml"
POLICY_FILE = "suite/policy.yaml"

GOOD = """\
clusters: [cluster1, cluster2]
workloads:
  frontend: {role: client, labels: {app: frontend}}
  myapp:
    role: server
    labels: {app: myapp}
    port: 80
    service: {name: myapp-service}
steps:
  - name: open
    policies: {cluster1: [policy.yaml]}
    expect:
      - {from: cluster1/frontend, to: cluster1/myapp, verdict: allow}
"""

POLICY = """\
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: allow
spec:
  endpointSelector: {matchLabels: {app: myapp}}
  ingress:
    - fromEndpoints: [{matchLabels: {app: frontend}}]
"""

SIMULATED = ("--mesh-backend=simulated",)
KUBECONFIG = """\
apiVersion: v1
kind: Config
current-context: kind-cluster1
clusters:
  - {name: mesh, cluster: {server: "http://127.0.0.1:9"}}
users:
  - {name: me, user: {token: t}}
contexts:
  - {name: kind-cluster1, context: {cluster: mesh, user: me}}
  - {name: kind-cluster2, context: {cluster: mesh, user: me}}
"""

#: What a message must never show: a traceback, or a library's or Python's internal names.
INTERNALS = re.compile(
    r"Traceback|_pytest\.|pydantic|constrained-|dict\[|list\[|ValidationError|"
    r"UnicodeDecodeError|yaml\.(scanner|parser|reader|composer|constructor)|"
    r"Invalid kube-config|Exit:|MarkedDict|MarkedList|NoneType"
)


@dataclass(frozen=True)
class Case:
    id: str
    expect: tuple[str, ...]
    """fnmatch patterns the output must contain, in order."""
    files: Mapping[str, str | bytes] = field(
        default_factory=lambda: {SCENARIO: GOOD, POLICY_FILE: POLICY}
    )
    args: tuple[str, ...] = SIMULATED
    ini: str = ""
    exit: int = pytest.ExitCode.TESTS_FAILED
    links: Mapping[str, str] = field(default_factory=dict)
    """Symbolic links to make: link path -> target (both relative to the test's folder)."""
    env: Mapping[str, str] = field(default_factory=dict)
    hang_guard: bool = False
    """Run in a subprocess with a timeout: the case used to hang."""
    interrupt: bool = False
    """Run without ``--continue-on-collection-errors``: a bad file interrupts (exit code 2)."""

    @property
    def usage_error(self) -> bool:
        return self.exit == pytest.ExitCode.USAGE_ERROR


def scenario(id: str, old: str, new: str, *expect: str, tail: str = "") -> Case:
    """The good scenario with ``old`` replaced by ``new``, and ``tail`` appended."""
    assert old in GOOD, old
    return Case(id, expect, {SCENARIO: GOOD.replace(old, new, 1) + tail, POLICY_FILE: POLICY})


def policy(id: str, old: str, new: str, *expect: str) -> Case:
    """The good policy file with ``old`` replaced by ``new``."""
    assert old in POLICY, old
    return Case(id, expect, {SCENARIO: GOOD, POLICY_FILE: POLICY.replace(old, new, 1)})


def usage(id: str, args: tuple[str, ...], message: str, ini: str = "", **kwargs: object) -> Case:
    """A command line or ini value that is a usage error: exit 4, one line."""
    return Case(
        id,
        (f"ERROR: {message}",),
        args=args,
        ini=ini,
        exit=pytest.ExitCode.USAGE_ERROR,
        **kwargs,  # type: ignore[arg-type]
    )


def when(id: str, condition: str, *expect: str) -> Case:
    """The good scenario's expectation restricted by ``when: {condition}``."""
    return scenario(id, "verdict: allow}", f"verdict: allow, when: {{{condition}}}}}", *expect)


def write(root: os.PathLike[str], case: Case) -> None:
    base = os.fspath(root)
    for name, content in case.files.items():
        path = os.path.join(base, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if isinstance(content, str):
            content = content.replace("{path}", base).encode()
        with open(path, "wb") as stream:
            stream.write(content)
    for link, target in case.links.items():
        os.symlink(os.path.join(base, target), os.path.join(base, link))


def check(case: Case, ret: int, stdout: str, stderr: str) -> None:
    """The three promises: the exit code, no internals, and the message."""
    output = stdout + stderr
    assert ret == case.exit, output
    leaked = INTERNALS.search(output)
    assert leaked is None, f"internal {leaked.group(0)!r} in:\n{output}"
    pytest.LineMatcher(output.splitlines()).fnmatch_lines(list(case.expect))
    if case.usage_error:
        errors = [line for line in stderr.splitlines() if line.startswith("ERROR:")]
        assert len(errors) == 1, stderr
        assert "\n" not in errors[0]
        assert not stdout.strip(), stdout
