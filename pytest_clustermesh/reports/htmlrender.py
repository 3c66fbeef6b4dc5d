"""HTML fragments for the pytest-html report: truth tables, result cells, failure extras.

Pure string building (every value escaped), so it is testable without pytest-html.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from html import escape

from ..verdicts import Outcome, Verdict
from .baseline import CHANGE_HEADERS, Comparison, change_rows
from .records import CaseRecord
from .truthtable import (
    DIFFERENCE_SYMBOLS,
    DIFFERENT,
    FIXED_GAP,
    GRIDS,
    KNOWN_GAP,
    NO_PROBE,
    SAME,
    VERDICT_SYMBOLS,
    WRONG_SERVER,
    Grid,
    RetryStats,
    TruthTable,
)

#: The results table's extra columns: (column type, header).
COLUMNS: tuple[tuple[str, str], ...] = (
    ("scenario", "Scenario"),
    ("step", "Step"),
    ("source", "Source"),
    ("destination", "Destination"),
    ("expected", "Expected"),
    ("observed", "Observed"),
    ("servedBy", "Served by"),
    ("attempts", "Attempts"),
)

STYLE = """
<style>
.cm-section { color: black; margin: 12px 0; }
.cm-section h2 { margin-bottom: 4px; }
.cm-legend { color: #444; margin: 2px 0; font-size: 11px; }
.cm-step { border: 1px solid #ddd; border-radius: 4px; padding: 6px 10px; margin: 8px 0; }
.cm-step.cm-failed { border-color: #d33; background: #fff6f6; }
.cm-step summary { font-size: 13px; font-weight: bold; margin: 2px 0; cursor: pointer; }
.cm-step .cm-summary { font-weight: normal; color: #555; margin-left: 8px; }
.cm-step[open] summary { margin-bottom: 6px; }
.cm-grids { display: flex; flex-wrap: wrap; gap: 18px; }
table.cm-truth { border-collapse: collapse; font-family: monospace; font-size: 12px; }
table.cm-truth caption { text-align: left; font-weight: bold; padding-bottom: 2px; }
table.cm-truth th, table.cm-truth td { border: 1px solid #ccc; padding: 2px 6px; }
table.cm-truth thead th { background: #f3f3f3; font-weight: normal; vertical-align: bottom; }
table.cm-truth tbody th { text-align: left; background: #f3f3f3; font-weight: normal; }
table.cm-truth td { text-align: center; min-width: 1.5em; }
table.cm-truth td.cm-allowed { background: #e7f6e7; }
table.cm-truth td.cm-dropped, table.cm-truth td.cm-l7-denied { background: #f1f1f1; }
table.cm-truth td.cm-refused { background: #fff3d6; }
table.cm-truth td.cm-dns-failure, table.cm-truth td.cm-probe-error { background: #ffe0b3; }
table.cm-truth td.cm-diff-different, table.cm-truth td.cm-diff-wrong-server,
table.cm-truth td.cm-diff-fixed-gap { background: #f8c9c9; color: #a00; font-weight: bold; }
table.cm-truth td.cm-diff-known-gap { background: #ffe9b3; }
table.cm-plain { border-collapse: collapse; font-size: 12px; }
table.cm-plain th, table.cm-plain td { border: 1px solid #ccc; padding: 2px 6px; text-align: left; }
table.cm-plain th { background: #f3f3f3; }
.cm-extra h4 { margin: 6px 0 2px; color: black; }
.cm-extra pre { background: #f6f6f6; padding: 4px 6px; margin: 0; white-space: pre-wrap; }
.cm-extra ul { margin: 0; color: black; }
</style>
"""

_DIFF_CLASSES = {
    SAME: "cm-diff-same",
    DIFFERENT: "cm-diff-different",
    WRONG_SERVER: "cm-diff-wrong-server",
    KNOWN_GAP: "cm-diff-known-gap",
    FIXED_GAP: "cm-diff-fixed-gap",
    NO_PROBE: "cm-no-probe",
}
_OUTCOME_CLASSES = {outcome.symbol: f"cm-{outcome.value}" for outcome in Outcome}


def header_cells() -> list[str]:
    return [
        f'<th class="sortable" data-column-type="{column}">{escape(title)}</th>'
        for column, title in COLUMNS
    ]


def row_cells(record: CaseRecord | None) -> list[str]:
    """The extra cells of a results row; empty cells for items that are not scenario items."""
    values = dict.fromkeys((column for column, _ in COLUMNS), "")
    if record is not None:
        values.update(
            scenario=record.scenario,
            step=record.step,
            source=record.source,
            destination=record.key.destination,
            expected=record.expected
            + (f" ({' or '.join(record.expected_served_by)})" if record.expected_served_by else ""),
            observed=record.observed or "",
            servedBy=", ".join(record.served_by),
            attempts="" if record.attempts is None else str(record.attempts),
        )
    return [f'<td class="col-{column}">{escape(value)}</td>' for column, value in values.items()]


def _cell_title(table: TruthTable, source: str, destination: str) -> str:
    cell = table.cell(source, destination)
    parts = []
    for record in cell.records:
        observed = record.observed or "not observed"
        parts.append(
            f"{record.case}: expected {record.expected}, {observed} ({record.status})"
            + (f" [when {record.when}]" if record.when else "")
        )
    return "\n".join(parts) or "no probe"


def _grid_html(table: TruthTable, which: Grid) -> str:
    head = "".join(f"<th>{escape(d).replace('/', '/<br>', 1)}</th>" for d in table.destinations)
    rows = []
    for source, cells in zip(table.sources, table.grid(which), strict=True):
        tds = []
        for destination, symbol in zip(table.destinations, cells, strict=True):
            css = (_DIFF_CLASSES if which == "difference" else _OUTCOME_CLASSES).get(symbol, "")
            if symbol == NO_PROBE:
                css = "cm-no-probe"
            title = escape(_cell_title(table, source, destination))
            tds.append(f'<td class="{css}" title="{title}">{escape(symbol)}</td>')
        rows.append(f"<tr><th>{escape(source)}</th>{''.join(tds)}</tr>")
    return (
        f'<table class="cm-truth" data-grid="{which}"><caption>{which}</caption>'
        f"<thead><tr><th></th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def legend_html() -> str:
    cells = "  ".join(f"<b>{escape(o.symbol)}</b> {o.value}" for o in Outcome)
    deny = VERDICT_SYMBOLS[Verdict.DENY]
    diff = "  ".join(f"<b>{escape(s)}</b> {escape(m)}" for s, m in DIFFERENCE_SYMBOLS.items())
    return (
        f'<p class="cm-legend">cells: {cells}  <b>{NO_PROBE}</b> no probe (none expected, or '
        f"skipped); expected <b>{deny}</b> stands for deny and drop</p>"
        f'<p class="cm-legend">difference: {diff}</p>'
    )


def truth_table_html(table: TruthTable) -> str:
    """A step's three grids; open when the step has failures, else folded."""
    failed = " cm-failed" if table.failures else ""
    grids = "".join(_grid_html(table, which) for which in GRIDS)
    return (
        f'<details class="cm-step{failed}" data-step="{escape(table.title)}"'
        f"{' open' if table.failures else ''}>"
        f"<summary>{escape(table.title)}"
        f'<span class="cm-summary">{escape(table.summary)}</span></summary>'
        f'<div class="cm-grids">{grids}</div></details>'
    )


def retries_html(stats: Sequence[RetryStats]) -> str:
    rows = "".join(
        f"<tr><td>{escape(s.title)}</td><td>{s.probes}</td><td>{s.retried}</td>"
        f"<td>{s.max_attempts}</td></tr>"
        for s in stats
        if s.probes
    )
    return (
        '<table class="cm-plain cm-retries"><thead><tr><th>Step</th><th>Probes</th>'
        "<th>Retried (&gt;1 attempt)</th><th>Max attempts</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def comparison_html(comparison: Comparison, baseline: str) -> str:
    if comparison.changes:
        head = "".join(f"<th>{escape(h)}</th>" for h in CHANGE_HEADERS)
        rows = "".join(
            "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>"
            for row in change_rows(comparison)
        )
        body = (
            f"<p>{len(comparison.changes)} verdicts changed since {escape(baseline)}</p>"
            f'<table class="cm-plain cm-changes"><thead><tr>{head}</tr></thead>'
            f"<tbody>{rows}</tbody></table>"
        )
    else:
        body = f"<p>No verdict changed since {escape(baseline)}.</p>"
    for label, keys in (("Added", comparison.added), ("Removed", comparison.removed)):
        if keys:
            items = "".join(f"<li>{escape(str(key))}</li>" for key in keys)
            body += f"<p>{label}: {len(keys)}</p><ul>{items}</ul>"
    return f'<div class="cm-baseline"><h3>Against the baseline</h3>{body}</div>'


def summary_html(
    tables: Sequence[TruthTable],
    stats: Sequence[RetryStats],
    comparison: Comparison | None = None,
    baseline: str = "",
) -> str:
    """The section under pytest-html's summary: every step's truth tables, retries, changes."""
    parts = [STYLE, '<div class="cm-section"><h2>Cluster Mesh truth tables</h2>', legend_html()]
    parts += [truth_table_html(table) for table in tables]
    parts.append(f"<h3>Retries</h3>{retries_html(stats)}")
    if comparison is not None:
        parts.append(comparison_html(comparison, baseline))
    parts.append("</div>")
    return "".join(parts)


def failure_extras(record: CaseRecord, rerun: Sequence[str] = ()) -> list[tuple[str, str]]:
    """``(name, html)`` extras of a failing item: probe output, the model's reasons, repeat.

    ``rerun`` is the pytest command line that repeats the item, for backends whose probes have
    no shell command (the simulated mesh).
    """
    extras = [
        (
            "probe output",
            _extra("Probe output", f"<pre>{escape(record.detail or '(no output)')}</pre>"),
        )
    ]
    if record.explanation:
        what = "the model" if record.prediction is None else "the model (the oracle)"
        items = "".join(f"<li>{escape(line)}</li>" for line in record.explanation)
        prediction = (
            f"<p>Model's verdict: {escape(record.prediction)}</p>"
            if record.prediction is not None
            else ""
        )
        extras.append(
            ("explanation", _extra(f"Why {what} decided so", f"{prediction}<ul>{items}</ul>"))
        )
    if record.command:
        repeat = f"<pre>{escape(record.command)}</pre>"
    else:
        command = shlex.join(rerun or ("pytest", record.nodeid))
        repeat = "<p>The probe has no shell command; repeat the item with:</p>"
        repeat += f"<pre>{escape(command)}</pre>"
    extras.append(("repeat", _extra("Repeat it", repeat)))
    return extras


def _extra(title: str, body: str) -> str:
    return f'<div class="cm-extra"><h4>{escape(title)}</h4>{body}</div>'
