"""Records made by hand, for the pytest-free tests of tables and diffs."""

from __future__ import annotations

from typing import Any

from pytest_clustermesh.reports.records import PASSED, CaseRecord, ClusterRecord

_index = iter(range(10_000))


def facts(version: str = "1.19", *clusters: str) -> dict[str, ClusterRecord]:
    return {
        name: ClusterRecord(name, i + 1, version, {"policy-default-local-cluster": "true"})
        for i, name in enumerate(clusters or ("cluster1", "cluster2"))
    }


def record(
    source: str,
    target: str,
    expected: str,
    observed: str | None,
    *,
    step: str = "open",
    status: str = PASSED,
    **changes: Any,
) -> CaseRecord:
    port = changes.pop("port", 80)
    values: dict[str, Any] = dict(
        nodeid=f"s.scenario.yaml::{step}::{source}->{target}:{port}",
        scenario="s",
        path="s.scenario.yaml",
        index=next(_index),
        step=step,
        step_index=changes.pop("step_index", 0),
        case=f"{source}->{target}:{port}",
        source=source,
        target=target,
        port=port,
        protocol="TCP",
        expected=expected,
        status=status,
        observed=observed,
        attempts=None if observed is None else 1,
        facts=facts() if observed is not None else {},
    )
    values.update(changes)
    return CaseRecord(**values)
