"""The pytest glue of the reports: records out of items, tables and files out of records.

A record is built where the item runs (an xdist worker, or the only process) and travels on
the item's :class:`pytest.TestReport` as a ``user_properties`` entry holding JSON, which
xdist serialises with the report. Where reports are collected (the controller, or the only
process) the entry is taken off again, first thing, so JUnit XML and pytest-html never show
it, and the record is kept for the terminal summary, the results file and the HTML report.
"""

from __future__ import annotations

import importlib.metadata
import platform
import time
from collections.abc import Generator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ..collect import ScenarioItem
from ..options import MeshChoice
from . import baseline, resultsfile, truthtable
from .baseline import Comparison
from .htmlrender import failure_extras
from .htmlreport import HtmlReports, html_active, html_extras
from .junit import CaseFailureRepr, junit_properties, merge_properties
from .options import ReportSettings, settings_from_config
from .records import ERROR, FAILED, XFAILED, XPASSED, CaseRecord, ordered, record_for_case
from .resultsfile import Results, ResultsFileError

#: The ``user_properties`` name of the record while it travels on a report.
RECORD_PROPERTY = "clustermesh-record"


class ReportsPlugin:
    """Registered once per process by the clustermesh plugin's ``pytest_configure``."""

    def __init__(self, config: pytest.Config, choice: MeshChoice, run_id: str) -> None:
        self.config = config
        self.choice = choice
        self.run_id = run_id
        self.settings: ReportSettings = settings_from_config(config)
        self.is_worker = hasattr(config, "workerinput")
        self.html = html_active(config)
        self.records: dict[str, CaseRecord] = {}
        self.baseline: Results | None = None
        self.comparison: Comparison | None = None
        self.failed_on_change = False
        self.results_written = False
        self.started = time.time()
        if self.is_worker:
            return
        if self.settings.baseline is not None:
            try:
                self.baseline = resultsfile.read(self.settings.baseline)
            except ResultsFileError as exc:
                raise pytest.UsageError(f"--clustermesh-baseline: {exc}") from None
        if self.html:
            config.pluginmanager.register(HtmlReports(self), "clustermesh-reports-html")

    def ordered_records(self) -> list[CaseRecord]:
        return ordered(list(self.records.values()))

    @property
    def baseline_path(self) -> Path | None:
        return self.settings.baseline

    # -- where items run ---------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        if not isinstance(item, ScenarioItem):
            return (yield)
        record = None
        if call.when == "call":
            record = build_record(item)
            item.user_properties[:] = merge_properties(
                item.user_properties, junit_properties(record)
            )
        report = yield
        if call.when == "teardown" or (call.when == "setup" and report.passed):
            return report
        record = record or build_record(item)
        status = status_of(report)
        record = replace(
            record,
            status=status,
            message=message_of(report, status, record.message),
            duration=report.duration,
        )
        if self.is_worker:
            # To the controller, on the report that xdist serialises.
            report.user_properties.append((RECORD_PROPERTY, record.to_json()))
        else:
            self.records[report.nodeid] = record
        if self.html and call.when == "call" and status in (FAILED, ERROR, XFAILED):
            extras = html_extras(failure_extras(record, rerun_command(self.choice, item.nodeid)))
            report.extras = [*getattr(report, "extras", []), *extras]  # type: ignore[attr-defined]
        return report

    # -- where reports are collected -------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.is_worker:
            return
        payload = _take_record(report)
        if payload is not None:
            self.records[report.nodeid] = CaseRecord.from_json(payload)
        record = self.records.get(report.nodeid)
        if record is None:
            return
        if report.when == "teardown" and report.failed and record.status != ERROR:
            self.records[report.nodeid] = replace(record, status=ERROR, message=report.longreprtext)
        if report.failed and isinstance(report.longrepr, str):
            path, lineno, _ = report.location
            report.longrepr = CaseFailureRepr(  # type: ignore[assignment]
                report.longrepr, path, (lineno or 0) + 1
            )

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.is_worker or self.config.option.collectonly:
            return
        records = self.ordered_records()
        if self.baseline is not None:
            self.comparison = baseline.compare(self.baseline.records, records)
            if self.settings.fail_on_change and self.comparison.changed:
                self.failed_on_change = True
                if session.exitstatus == pytest.ExitCode.OK:
                    session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if self.settings.results is not None:
            resultsfile.write(self.settings.results, records, self.run_metadata(session))
            self.results_written = True

    def pytest_terminal_summary(
        self, terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
    ) -> None:
        if self.is_worker:
            return
        tr = terminalreporter
        verbosity = config.get_verbosity()
        records = self.ordered_records()
        if records:
            tables = truthtable.truth_tables(records, failing_only=verbosity <= 0)
            if tables:
                tr.write_sep("=", "clustermesh truth tables")
                for table in tables:
                    for line in truthtable.render_text(table):
                        tr.write_line(line)
                    tr.write_line("")
                for line in truthtable.LEGEND:
                    tr.write_line(line)
            stats = truthtable.retry_stats(records)
            if verbosity >= 0 or any(s.retried for s in stats):
                tr.write_sep("-", "clustermesh retries")
                for line in truthtable.render_retries(stats, verbose=verbosity > 0):
                    tr.write_line(line)
        if self.comparison is not None:
            tr.write_sep("=", "clustermesh verdict changes")
            label = str(self.settings.baseline)
            for line in baseline.render_text(self.comparison, label):
                tr.write_line(line)
            if self.failed_on_change:
                tr.write_line(
                    f"clustermesh: {len(self.comparison.changes)} verdicts changed since "
                    f"{label}; --clustermesh-fail-on-change fails the run",
                    red=True,
                    bold=True,
                )
        if self.results_written:
            tr.write_line(f"clustermesh: results written to {self.settings.results}")

    def run_metadata(self, session: pytest.Session) -> dict[str, Any]:
        """What the results file says about the run besides its records."""
        config = self.config
        finished = time.time()
        run: dict[str, Any] = {
            "run_id": self.run_id,
            "started": _iso(self.started),
            "finished": _iso(finished),
            "duration_s": round(finished - self.started, 3),
            "exit_status": int(session.exitstatus),
            "args": list(config.invocation_params.args),
            "rootdir": str(config.rootpath),
            "versions": {
                "pytest-clustermesh": _version("pytest-clustermesh"),
                "pytest": pytest.__version__,
                "python": platform.python_version(),
            },
        }
        choice = self.choice
        run["backend"] = choice.backend
        if choice.backend == "simulated":
            run["sim_cilium_version"] = choice.sim_version
            run["sim_options"] = dict(choice.sim_options)
            if choice.sim.per_cluster:
                run["sim_cluster_versions"] = dict(choice.sim.cluster_versions)
                run["sim_cluster_options"] = {
                    cluster: dict(options)
                    for cluster, options in choice.sim.cluster_options.items()
                }
        else:
            run["kube_contexts"] = list(choice.contexts)
        if self.comparison is not None:
            run["baseline"] = {
                "path": str(self.settings.baseline),
                "run_id": self.baseline.run.get("run_id") if self.baseline else None,
                "changes": len(self.comparison.changes),
                "added": len(self.comparison.added),
                "removed": len(self.comparison.removed),
                "changed": [baseline.change_document(c) for c in self.comparison.changes],
            }
        return run


def build_record(item: ScenarioItem) -> CaseRecord:
    """The item's record; with the observation once the item has run."""
    return record_for_case(
        nodeid=item.nodeid,
        scenario=item.scenario.name,
        path=item.nodeid.split("::", 1)[0],
        index=item.index,
        case=item.case,
        judgement=item.judgement,
    )


def status_of(report: pytest.TestReport) -> str:
    if report.when != "call" and report.failed:
        return ERROR
    if hasattr(report, "wasxfail"):
        return XFAILED if report.skipped else XPASSED
    return report.outcome


def message_of(report: pytest.TestReport, status: str, case_message: str) -> str:
    """Why the item ended as it did, in our words where we have them."""
    if status in (XFAILED, XPASSED):
        return str(getattr(report, "wasxfail", ""))
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    if report.failed:
        return case_message or report.longreprtext
    return ""


def rerun_command(choice: MeshChoice, nodeid: str) -> list[str]:
    """The pytest command line that repeats one item on the same mesh."""
    command = ["pytest", nodeid]
    if choice.backend == "simulated":
        command += ["--mesh-backend=simulated", *choice.sim_args()]
    elif choice.contexts:
        named = choice.named_contexts
        contexts = ",".join(f"{k}={v}" for k, v in named.items()) if named else None
        command.append(f"--kube-contexts={contexts or ','.join(choice.contexts)}")
    return command


def _take_record(report: pytest.TestReport) -> str | None:
    """Remove the record's ``user_properties`` entry from ``report`` and return its JSON."""
    payload = None
    kept = []
    for name, value in report.user_properties:
        if name == RECORD_PROPERTY:
            payload = str(value)
        else:
            kept.append((name, value))
    if payload is not None:
        report.user_properties = kept
    return payload


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
