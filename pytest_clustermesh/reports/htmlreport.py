"""pytest-html hooks: our columns in the results table, truth tables in the summary.

Registered by :class:`~.plugin.ReportsPlugin` only when pytest-html writes a report (``--html``)
and only on the process that writes it (the xdist controller). The failure extras are set on
the report where it is made, see :meth:`~.plugin.ReportsPlugin.pytest_runtest_makereport`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import pytest

from .baseline import Comparison
from .htmlrender import header_cells, row_cells, summary_html
from .records import CaseRecord
from .truthtable import retry_stats, truth_tables


class RecordSource(Protocol):
    """What the HTML hooks read: the records and the baseline comparison, as they stand."""

    @property
    def records(self) -> Mapping[str, CaseRecord]: ...

    @property
    def comparison(self) -> Comparison | None: ...

    def ordered_records(self) -> list[CaseRecord]: ...

    @property
    def baseline_path(self) -> Path | None: ...


#: pytest-html's own columns before ours: Result, Test.
INSERT_AT = 2


class HtmlReports:
    def __init__(self, reports: RecordSource) -> None:
        self.reports = reports

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        cells[INSERT_AT:INSERT_AT] = header_cells()

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> None:
        cells[INSERT_AT:INSERT_AT] = row_cells(self.reports.records.get(report.nodeid))

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_summary(
        self, prefix: list[str], summary: list[str], postfix: list[str], session: pytest.Session
    ) -> None:
        records = self.reports.ordered_records()
        if not records:
            return
        comparison: Comparison | None = self.reports.comparison
        baseline = str(self.reports.baseline_path or "")
        postfix.append(
            summary_html(truth_tables(records), retry_stats(records), comparison, baseline)
        )


def html_active(config: pytest.Config) -> bool:
    """pytest-html is loaded and asked to write a report."""
    return bool(config.pluginmanager.hasplugin("html") and config.getoption("htmlpath", None))


def html_extras(contents: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """pytest-html extras for ``(name, html)`` pairs."""
    from pytest_html import extras  # type: ignore[import-untyped]

    return [dict(extras.html(content)) for _, content in contents]
