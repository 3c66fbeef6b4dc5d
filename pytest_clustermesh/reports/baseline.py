"""Run-to-run comparison: which verdicts changed since a baseline run (the upgrade check).

A verdict is what the mesh did for one probe, keyed by scenario, step, source, target, port and
protocol (:class:`~.records.ProbeKey`). Cases that differ only in their ``when:`` condition
share a key, so the guide's cross-cluster ``frontend -> myapp`` probe, expected ``allow`` on
Cilium 1.18 and ``deny`` on 1.19 by two different cases, is one verdict that changed from
``allowed`` to ``dropped``. Each change carries the model's explanation of the verdict under
both runs, and the facts (Cilium version, agent options) that differ between them, so an
upgrade report says why a verdict changed, not only that it did. Pytest-free.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

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
    explanation: tuple[str, ...] = ()
    """The model's reasons for the verdict (empty when the probe did not run)."""
    options: Mapping[str, Mapping[str, str]] = field(default_factory=dict, compare=False)
    """Each cluster's effective agent options, as recorded with the observation."""


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
        explanation = next((r.explanation for r in observed if r.explanation), ())
        options = {name: cluster.options for name, cluster in (facts or {}).items()}
        result[key] = Observation(value, versions_text(facts or {}), explanation, options)
    return result


def _observed_text(record: CaseRecord) -> str:
    """The outcome with who answered. Where the expectation lets several clusters answer
    (``served_by: [cluster1, cluster2]``, a global Service without affinity) and one of them
    did, the load balancer's pick is not the verdict: the allowed set is (``cluster1|cluster2``),
    so a different pick on the next run is no change, and an answer from outside it is."""
    pool = record.expected_served_by
    if pool and len(pool) > 1 and record.served_by and set(record.served_by) <= set(pool):
        return f"{record.observed}({'|'.join(sorted(pool))})"
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


def facts_changes(change: Change) -> list[str]:
    """What differs between the two runs' facts: the Cilium versions and each agent option
    whose value changed (``policy-default-local-cluster: false -> true``)."""
    found = []
    if change.before.versions != change.after.versions:
        found.append(f"Cilium {change.before.versions} -> {change.after.versions}")
    before, after = change.before.options, change.after.options
    keys = sorted({key for options in (*before.values(), *after.values()) for key in options})
    for key in keys:
        old, new = _option_text(before, key), _option_text(after, key)
        if old != new:
            found.append(f"{key}: {old} -> {new}")
    return found


def _option_text(options: Mapping[str, Mapping[str, str]], key: str) -> str:
    """One value when every cluster has the same, else ``cluster1=a cluster2=b``."""
    values = {cluster: opts.get(key, "unset") for cluster, opts in sorted(options.items())}
    if not values:
        return "?"
    if len(set(values.values())) == 1:
        return next(iter(values.values()))
    return " ".join(f"{cluster}={value}" for cluster, value in values.items())


def explain_change(change: Change) -> list[str]:
    """One change with the model's reasons for its verdict before and after."""
    lines = [f"{change.key}: {change.before.value} -> {change.after.value}"]
    differs = facts_changes(change)
    if differs:
        lines.append("  facts that changed: " + "; ".join(differs))
    for label, observation in (("before", change.before), ("after", change.after)):
        if observation.explanation:
            lines.append(f"  {label} (Cilium {observation.versions}), the model's explanation:")
            lines += [f"    - {reason}" for reason in observation.explanation]
        else:
            lines.append(f"  {label} (Cilium {observation.versions}): no explanation recorded")
    return lines


def change_document(change: Change) -> dict[str, Any]:
    """One change as plain data, for the results file."""
    return {
        "key": str(change.key),
        "scenario": change.key.scenario,
        "step": change.key.step,
        "source": change.key.source,
        "destination": change.key.destination,
        "facts_changed": facts_changes(change),
        **{
            label: {
                "verdict": observation.value,
                "cilium": observation.versions,
                "explanation": list(observation.explanation),
            }
            for label, observation in (("before", change.before), ("after", change.after))
        },
    }


def render_text(comparison: Comparison, baseline: str) -> list[str]:
    """The changes as a table, each change with the model's reasons before and after, then
    the added and removed keys."""
    total = len(comparison.changes) + comparison.unchanged
    if comparison.changes:
        lines = [f"{len(comparison.changes)} of {total} verdicts changed since {baseline}:"]
        lines += ["  " + line for line in format_table(CHANGE_HEADERS, change_rows(comparison))]
        lines.append("why each verdict changed:")
        for change in comparison.changes:
            lines += ["  " + line for line in explain_change(change)]
    else:
        lines = [f"no verdict changed since {baseline} ({total} compared)"]
    if comparison.added:
        lines.append(f"added (only in this run): {len(comparison.added)}")
        lines += [f"  + {key}" for key in comparison.added]
    if comparison.removed:
        lines.append(f"removed (only in the baseline): {len(comparison.removed)}")
        lines += [f"  - {key}" for key in comparison.removed]
    return lines
