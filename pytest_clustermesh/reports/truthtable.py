"""Truth tables of a step: sources by destinations, expected, observed and their difference.

The layout of cyclonus and the Kubernetes network-policy e2e tests: one character a cell, rows
are sources and columns destinations, both named ``cluster/workload`` (Services
``service/name``). Pytest-free: tables are built from :class:`~.records.CaseRecord` values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from ..verdicts import Outcome, Verdict
from .records import ERROR, FAILED, SKIPPED, XFAILED, CaseRecord, ProbeKey
from .text import format_table

NO_PROBE = "-"
UNKNOWN = "*"
"""A matrix cell's expectation when the model gave none."""

#: An expected verdict as one character; ``deny`` (drop or L7 denial) shares ``drop``'s.
VERDICT_SYMBOLS: Mapping[Verdict, str] = {
    Verdict.ALLOW: Outcome.ALLOWED.symbol,
    Verdict.DENY: Outcome.DROPPED.symbol,
    Verdict.DROP: Outcome.DROPPED.symbol,
    Verdict.L7_DENY: Outcome.L7_DENIED.symbol,
    Verdict.REFUSED: Outcome.REFUSED.symbol,
}

SAME = "."
DIFFERENT = "X"
WRONG_SERVER = "S"
KNOWN_GAP = "x"
FIXED_GAP = "P"

#: The difference table's characters, with what each means.
DIFFERENCE_SYMBOLS: Mapping[str, str] = {
    SAME: "as expected",
    DIFFERENT: "verdict differs",
    WRONG_SERVER: "answered by the wrong cluster",
    KNOWN_GAP: "known gap (xfail)",
    FIXED_GAP: "gap fixed (strict xfail passed)",
    NO_PROBE: "no probe",
}

LEGEND = (
    "legend  cells:      "
    + "  ".join(f"{outcome.symbol} {outcome.value}" for outcome in Outcome)
    + f"  {NO_PROBE} no probe (none expected, or skipped)",
    f"        expected:   {VERDICT_SYMBOLS[Verdict.DENY]} deny or drop "
    f"(deny also accepts {Outcome.L7_DENIED.symbol})  {UNKNOWN} the model could not predict",
    "        difference: " + "  ".join(f"{s} {m}" for s, m in DIFFERENCE_SYMBOLS.items()),
)

Grid = Literal["expected", "observed", "difference"]
GRIDS: tuple[Grid, ...] = ("expected", "observed", "difference")


@dataclass(frozen=True)
class Cell:
    """One (source, destination) of a step: its characters and the records behind them."""

    expected: str
    observed: str
    difference: str
    records: tuple[CaseRecord, ...]

    def symbol(self, grid: Grid) -> str:
        return {"expected": self.expected, "observed": self.observed}.get(grid, self.difference)


EMPTY = Cell(NO_PROBE, NO_PROBE, NO_PROBE, ())


@dataclass(frozen=True)
class TruthTable:
    """A step's probes as a grid."""

    scenario: str
    path: str
    step: str
    step_index: int
    sources: tuple[str, ...]
    destinations: tuple[str, ...]
    cells: Mapping[tuple[str, str], Cell]
    records: tuple[CaseRecord, ...]

    @property
    def title(self) -> str:
        return f"{self.scenario}::{self.step}"

    def cell(self, source: str, destination: str) -> Cell:
        return self.cells.get((source, destination), EMPTY)

    def grid(self, which: Grid) -> list[list[str]]:
        """Rows of characters, one per source, in the order of :attr:`destinations`."""
        return [[self.cell(s, d).symbol(which) for d in self.destinations] for s in self.sources]

    @property
    def probes(self) -> int:
        """Items that ran (not skipped)."""
        return sum(1 for record in self.records if record.status != SKIPPED)

    @property
    def failures(self) -> int:
        return sum(1 for record in self.records if record.status in (FAILED, ERROR))

    @property
    def differences(self) -> int:
        """Cells whose observation is not the expected one (known gaps included)."""
        return sum(1 for cell in self.cells.values() if cell.difference not in (SAME, NO_PROBE))

    @property
    def summary(self) -> str:
        if not self.probes:
            return "no probe ran"
        if not self.differences:
            return f"all {self.probes} probes as expected"
        return f"{self.differences} of {self.probes} probes not as expected"


def truth_tables(records: Iterable[CaseRecord], *, failing_only: bool = False) -> list[TruthTable]:
    """One table per (scenario file, step), in run order; with ``failing_only``, only the
    steps with a failed or erroring item (the others are not built at all)."""
    steps: dict[tuple[str, int], list[CaseRecord]] = {}
    for record in sorted(records, key=lambda r: (r.path, r.step_index, r.index)):
        steps.setdefault((record.path, record.step_index), []).append(record)
    return [
        _table(group)
        for group in steps.values()
        if not failing_only or any(record.status in (FAILED, ERROR) for record in group)
    ]


def _table(records: Sequence[CaseRecord]) -> TruthTable:
    first = records[0]
    labels = column_labels(records)
    grouped: dict[tuple[str, str], list[CaseRecord]] = {}
    for record in records:
        grouped.setdefault((record.source, labels[record.key]), []).append(record)
    cells = {position: _cell(group) for position, group in grouped.items()}
    return TruthTable(
        scenario=first.scenario,
        path=first.path,
        step=first.step,
        step_index=first.step_index,
        sources=tuple(sorted({record.source for record in records})),
        destinations=tuple(sorted(set(labels.values()), key=_destination_order)),
        cells=cells,
        records=tuple(records),
    )


def column_labels(records: Iterable[CaseRecord]) -> dict[ProbeKey, str]:
    """Each probe key's column: the destination alone when the step probes it one way only,
    else ``destination:port[/protocol][ METHOD /path]``."""
    records = list(records)
    variants: dict[str, set[tuple[int, str, str]]] = {}
    for record in records:
        variants.setdefault(record.target, set()).add((record.port, record.protocol, record.http))
    return {
        record.key: record.target if len(variants[record.target]) == 1 else record.key.destination
        for record in records
    }


def _destination_order(label: str) -> tuple[int, str]:
    """Pods first, then Services, the API server, external destinations and DNS queries, each
    alphabetically."""
    kinds = ("service/", "entity/", "external/", "dns/")
    rank = next((i + 1 for i, kind in enumerate(kinds) if label.startswith(kind)), 0)
    return (rank, label)


def _cell(records: Sequence[CaseRecord]) -> Cell:
    ran = [record for record in records if record.status != SKIPPED]
    if not ran:
        return Cell(NO_PROBE, NO_PROBE, NO_PROBE, tuple(records))
    failing = [record for record in ran if record.status in (FAILED, ERROR)]
    record = (failing or ran)[0]
    verdict = record.verdict
    expected = VERDICT_SYMBOLS[verdict] if verdict is not None else UNKNOWN
    observed = Outcome(record.observed).symbol if record.observed else Outcome.PROBE_ERROR.symbol
    return Cell(expected, observed, difference_symbol(record), tuple(records))


def difference_symbol(record: CaseRecord) -> str:
    """How the record's observation compares with its expectation, as one character."""
    if record.status == SKIPPED:
        return NO_PROBE
    if record.status == XFAILED:
        return KNOWN_GAP
    held = record.verdict_held
    if held:
        return FIXED_GAP if record.status == FAILED and record.xfail else SAME
    if held is None and record.status not in (FAILED, ERROR):
        return SAME
    if record.outcome_held:
        return WRONG_SERVER
    return DIFFERENT


def render_text(table: TruthTable) -> list[str]:
    """The three grids of a step, under a title line saying how many probes differ."""
    lines = [f"{table.title}: {table.summary}"]
    for which in GRIDS:
        headers = [which, *table.destinations]
        rows = [
            [source, *cells] for source, cells in zip(table.sources, table.grid(which), strict=True)
        ]
        center = [False, *([True] * len(table.destinations))]
        lines += ["  " + line for line in format_table(headers, rows, center=center)]
        lines.append("")
    return lines[:-1]


@dataclass(frozen=True)
class RetryStats:
    """How often a step's probes had to be repeated before they gave their answer."""

    scenario: str
    step: str
    probes: int
    retried: int
    """Probes that needed more than one attempt."""
    max_attempts: int

    @property
    def title(self) -> str:
        return f"{self.scenario}::{self.step}"


def retry_stats(records: Iterable[CaseRecord]) -> list[RetryStats]:
    """Per step, in run order; probes that did not run are not counted."""
    stats = []
    for table in truth_tables(records):
        attempts = [r.attempts for r in table.records if r.attempts is not None]
        stats.append(
            RetryStats(
                table.scenario,
                table.step,
                len(attempts),
                sum(1 for a in attempts if a > 1),
                max(attempts, default=0),
            )
        )
    return stats


def render_retries(stats: Sequence[RetryStats], *, verbose: bool = False) -> list[str]:
    """A line when no probe was retried (unless ``verbose``), else a table of steps."""
    probes = sum(s.probes for s in stats)
    retried = sum(s.retried for s in stats)
    if not retried and not verbose:
        return [f"{probes} probes, none needed more than one attempt"]
    rows = [
        [s.title, str(s.probes), str(s.retried), str(s.max_attempts)] for s in stats if s.probes
    ]
    headers = ["step", "probes", "retried (>1 attempt)", "max attempts"]
    lines = format_table(headers, rows)
    lines.append(f"{retried} of {probes} probes needed more than one attempt")
    return lines
