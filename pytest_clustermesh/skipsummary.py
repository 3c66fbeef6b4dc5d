"""Say so when a run checked nothing because every item was skipped by its ``when:``.

A ``when:`` that does not hold on the mesh under test skips its item. If that is every item of a
run (a Cilium version or an option other than the suite expects), the run is green and has
proved nothing. The terminal summary says so, and ``--clustermesh-fail-on-all-skipped`` makes
such a run fail, for CI gates.

The mark travels on the report (an attribute, which pytest-xdist serialises with it), so the
controller counts what the workers saw.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

from .collect import ScenarioItem

#: Set to ``True`` on the call report of an item skipped because its ``when:`` does not hold.
WHEN_SKIP = "clustermesh_when_skip"


class WhenSkipSummary:
    """Registered once per process by the clustermesh plugin's ``pytest_configure``."""

    def __init__(self, config: pytest.Config, fail: bool) -> None:
        self.config = config
        self.fail = fail
        self.ran = 0
        self.when_skipped = 0
        self.reason = ""

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if (
            report.when == "call"
            and report.skipped
            and isinstance(item, ScenarioItem)
            and item.case.when is not None
        ):
            setattr(report, WHEN_SKIP, True)
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self.ran += 1
            if getattr(report, WHEN_SKIP, False):
                self.when_skipped += 1
                if not self.reason and isinstance(report.longrepr, tuple):
                    self.reason = str(report.longrepr[2]).removeprefix("Skipped: ")

    @property
    def all_skipped(self) -> bool:
        return self.ran > 0 and self.when_skipped == self.ran

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.fail and self.all_skipped and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.all_skipped:
            return
        tr = terminalreporter
        tr.write_sep("=", "clustermesh: nothing was checked", yellow=True, bold=True)
        items = "the only item that ran was" if self.ran == 1 else f"all {self.ran} items were"
        tr.write_line(f"{items} skipped by when:, e.g. {self.reason}")
        if self.fail:
            tr.write_line("the run fails (--clustermesh-fail-on-all-skipped)", red=True)
        else:
            tr.write_line(
                "pass --clustermesh-fail-on-all-skipped (ini: clustermesh_fail_on_all_skipped) "
                "to fail such a run"
            )
