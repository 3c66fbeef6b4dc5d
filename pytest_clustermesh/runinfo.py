"""What the run tells its operator besides the items: the run id with its cleanup command, what
the backend could not do as it should (once), and how many denies rest on inference.

- The header and the terminal summary give the run id and the command that removes what the run
  created, should it crash.
- The backend's notices (``KubernetesMesh.notices``: agents that cannot be read, Hubble off) are
  printed once, when the session opens, and again in the summary. So is a mixed mesh: clusters
  that run different Cilium versions or options (read by preflight), each named with its own.
  Under pytest-xdist a worker sends them to the controller on the next item's report.
- Each item whose deny is inferred from a timeout (``--deny-evidence=timeout``) is counted, and
  the summary says how many denies were inferred rather than proven.
"""

from __future__ import annotations

import contextlib
import json
import shlex
from collections.abc import Generator
from typing import Any

import pytest

from .collect import ScenarioItem
from .facts import mixed_mesh_line
from .options import MeshChoice
from .verdicts import Proof

NOTICES_PROPERTY = "clustermesh-notices"
INFERRED_PROPERTY = "clustermesh-inferred"
EVIDENCE_PROPERTY = "deny evidence"
DISAGREEMENT_PROPERTY = "evidence vs model"


def check_contexts(config: pytest.Config, choice: MeshChoice) -> None:
    """A context the kubeconfig does not have is one usage error (exit 4) listing those it has.
    Not checked for ``--collect-only`` (which needs no mesh) nor on xdist workers."""
    if config.option.collectonly or hasattr(config, "workerinput"):
        return
    from .kubernetes.contexts import missing_contexts

    problem = missing_contexts(choice.kubeconfig, choice.contexts)
    if problem:
        raise pytest.UsageError(problem)


def cleanup_command(choice: MeshChoice, run_id: str) -> str:
    argv = ["python", "-m", "pytest_clustermesh.kubernetes.cleanup"]
    if choice.kubeconfig:
        argv += ["--kubeconfig", choice.kubeconfig]
    argv += ["--contexts", ",".join(choice.contexts), "--run", run_id]
    return shlex.join(argv)


def run_lines(choice: MeshChoice, run_id: str) -> list[str]:
    return [
        f"clustermesh: run id {run_id}; what it creates is labelled "
        f"clustermesh.pytest.io/run-id={run_id}",
        f"clustermesh: if the run is killed, remove what it left with: "
        f"{cleanup_command(choice, run_id)}",
    ]


class RunInfo:
    """Registered by the plugin for a run on real clusters."""

    def __init__(self, config: pytest.Config, choice: MeshChoice, run_id: str) -> None:
        self.config = config
        self.choice = choice
        self.run_id = run_id
        self.is_worker = hasattr(config, "workerinput")
        self.notices: list[str] = []
        self._unsent: list[str] = []
        self.inferred: set[str] = set()

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        return run_lines(self.choice, self.run_id)

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(
        self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
    ) -> Generator[None, Any, Any]:
        value = yield
        if fixturedef.argname == "clustermesh_session":
            for notice in getattr(value.backend, "notices", []):
                self._notice(notice)
            mixed = mixed_mesh_line(value.backend.facts())
            if mixed:
                self._notice(mixed)
        return value

    def _notice(self, text: str) -> None:
        if text in self.notices:
            return
        self.notices.append(text)
        if self.is_worker:
            self._unsent.append(text)
            return
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:
            return
        capture = self.config.pluginmanager.get_plugin("capturemanager")
        # The session opens during an item's setup, while output is captured.
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            reporter.ensure_newline()
            reporter.write_line(f"clustermesh: {text}", yellow=True)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if self._unsent:
            report.user_properties.append((NOTICES_PROPERTY, json.dumps(self._unsent)))
            self._unsent = []
        if call.when == "call" and isinstance(item, ScenarioItem) and item.judgement is not None:
            judgement = item.judgement
            evidence = judgement.result.evidence
            if evidence is not None:
                report.user_properties.append((EVIDENCE_PROPERTY, str(evidence)))
                if evidence.proof is Proof.INFERRED and judgement.passed:
                    report.user_properties.append((INFERRED_PROPERTY, "1"))
            note = judgement.evidence_note
            if note:
                report.user_properties.append((DISAGREEMENT_PROPERTY, note))
        return report

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.is_worker:
            return
        kept = []
        for name, value in report.user_properties:
            if name == NOTICES_PROPERTY:
                for text in json.loads(str(value)):
                    self._notice(text)
            elif name == INFERRED_PROPERTY:
                self.inferred.add(report.nodeid)
            else:
                kept.append((name, value))
        report.user_properties = kept

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.is_worker:
            return
        tr = terminalreporter
        tr.write_sep("-", "clustermesh run")
        for line in run_lines(self.choice, self.run_id):
            tr.write_line(line)
        for notice in self.notices:
            tr.write_line(f"clustermesh: {notice}", yellow=True)
        if self.inferred:
            tr.write_line(
                f"clustermesh: {len(self.inferred)} deny item(s) passed on a timeout alone, "
                "inferred rather than proven by Hubble (--deny-evidence=timeout)",
                yellow=True,
            )
