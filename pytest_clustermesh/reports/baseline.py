"""Run-to-run comparison: which verdicts changed since a baseline run (the upgrade check).

A verdict is what the mesh did for one probe, keyed by scenario, step, source, target, port and
protocol (:class:`~.records.ProbeKey`). Cases that differ only in their ``when:`` condition
share a key, so the guide's cross-cluster ``frontend -> myapp`` probe, expected ``allow`` on
Cilium 1.18 and ``deny`` on 1.19 by two different cases, is one verdict that changed from
``allowed`` to ``dropped``. Pytest-free.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .records import ERROR, SKIPPED, CaseRecord, ClusterRecord, ProbeKey, versions_text
from .text import format_table

NOT_RUN = "not run"
"""The verdict of a key whose every case was skipped."""


@dataclass(frozen=True)
class Observation:
    """What one run observed under one key."""

    value: str
    """The observed outcome (``allowed``, ``dropped``...), ``not run`` or ``error``."""
    versions: str
    """The Cilium versions it was observed on."""


@dataclass(frozen=True)
class Change:
    key: ProbeKey
    before: Observation
    after: Observation


@dataclass(frozen=True)
class Comparison:
    changes: tuple[Change, ...]
    added: tuple[ProbeKey, ...]
    """Keys only in this run."""
    removed: tuple[ProbeKey, ...]
    """Keys only in the baseline."""
    unchanged: int

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def observations(records: Iterable[CaseRecord]) -> dict[ProbeKey, Observation]:
    """Each key's verdict in one run, in run order."""
    records = list(records)
    fallback = _scenario_facts(records)
    grouped: dict[ProbeKey, list[CaseRecord]] = {}
    for record in records:
        grouped.setdefault(record.key, []).append(record)
    result = {}
    for key, group in grouped.items():
        observed = [record for record in group if record.observed is not None]
        if observed:
            # Who answered is part of the verdict: an upgrade that breaks a global Service's
            # affinity changes it even where no expectation pins served_by.
            value = "/".join(dict.fromkeys(_observed_text(record) for record in observed))
        elif any(record.status == ERROR for record in group):
            value = ERROR
        else:
            value = NOT_RUN if all(r.status == SKIPPED for r in group) else group[0].status
        facts = next((r.facts for r in observed + group if r.facts), fallback.get(key.scenario))
        result[key] = Observation(value, versions_text(facts or {}))
    return result


def _observed_text(record: CaseRecord) -> str:
    served = f"({','.join(sorted(record.served_by))})" if record.served_by else ""
    return f"{record.observed}{served}"


def _scenario_facts(records: Sequence[CaseRecord]) -> dict[str, Mapping[str, ClusterRecord]]:
    """Any facts seen per scenario, for keys whose cases did not run."""
    facts: dict[str, Mapping[str, ClusterRecord]] = {}
    for record in records:
        if record.facts:
            facts.setdefault(record.scenario, record.facts)
    return facts


def compare(before: Iterable[CaseRecord], after: Iterable[CaseRecord]) -> Comparison:
    """Every verdict that changed from ``before`` (the baseline) to ``after`` (this run)."""
    old, new = observations(before), observations(after)
    changes = tuple(
        Change(key, old[key], verdict)
        for key, verdict in new.items()
        if key in old and old[key].value != verdict.value
    )
    return Comparison(
        changes=changes,
        added=tuple(key for key in new if key not in old),
        removed=tuple(key for key in old if key not in new),
        unchanged=sum(1 for key, v in new.items() if key in old and old[key].value == v.value),
    )


CHANGE_HEADERS = (
    "scenario",
    "step",
    "source",
    "destination",
    "before",
    "after",
    "Cilium before",
    "Cilium after",
)


def change_rows(comparison: Comparison) -> list[list[str]]:
    return [
        [
            change.key.scenario,
            change.key.step,
            change.key.source,
            change.key.destination,
            change.before.value,
            change.after.value,
            change.before.versions,
            change.after.versions,
        ]
        for change in comparison.changes
    ]


def render_text(comparison: Comparison, baseline: str) -> list[str]:
    """The changes as a table, then the added and removed keys."""
    total = len(comparison.changes) + comparison.unchanged
    if comparison.changes:
        lines = [f"{len(comparison.changes)} of {total} verdicts changed since {baseline}:"]
        lines += ["  " + line for line in format_table(CHANGE_HEADERS, change_rows(comparison))]
    else:
        lines = [f"no verdict changed since {baseline} ({total} compared)"]
    if comparison.added:
        lines.append(f"added (only in this run): {len(comparison.added)}")
        lines += [f"  + {key}" for key in comparison.added]
    if comparison.removed:
        lines.append(f"removed (only in the baseline): {len(comparison.removed)}")
        lines += [f"  - {key}" for key in comparison.removed]
    return lines
