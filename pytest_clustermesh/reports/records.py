"""One serialisable record per scenario item: what was expected, what was observed, on what.

Records are plain data (strings, numbers, lists, mappings) so they cross process boundaries
(pytest-xdist workers to the controller), go into the JSON results file, and come back from an
earlier run's file as the baseline. Everything here is pytest-free.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ..facts import ClusterFacts
from ..runner import Judgement
from ..scenario import Case
from ..verdicts import Outcome, Verdict

#: Item statuses, as pytest reports them (``error``: setup or teardown failed).
PASSED = "passed"
FAILED = "failed"
SKIPPED = "skipped"
XFAILED = "xfailed"
XPASSED = "xpassed"
ERROR = "error"
PENDING = "pending"
"""A record built before the item's outcome is known."""
STATUSES = (PASSED, FAILED, SKIPPED, XFAILED, XPASSED, ERROR)

FROM_MODEL = "model"
"""The expectation of a matrix cell before the model predicted it."""


@dataclass(frozen=True)
class ClusterRecord:
    """The facts of one cluster at the time a case ran."""

    cluster_name: str
    cluster_id: int
    cilium_version: str
    options: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, facts: ClusterFacts) -> ClusterRecord:
        return cls(
            facts.cluster_name,
            facts.cluster_id,
            str(facts.cilium_version),
            dict(sorted(facts.options.items())),
        )


@dataclass(frozen=True)
class ProbeKey:
    """What identifies one probe across runs: a changed verdict is compared under this key."""

    scenario: str
    step: str
    source: str
    target: str
    port: int
    protocol: str
    http: str = ""

    @property
    def destination(self) -> str:
        """``target:port``, with the protocol when not TCP and the HTTP request if any;
        ``target:icmp`` for a ping (it has no port); ``dns/<name>`` for a DNS query."""
        text = f"{self.target}:{self.port}"
        if self.target.startswith("dns/"):
            text = self.target  # a DNS query: UDP 53 to kube-dns is implied
        elif self.protocol == "ICMP":
            text = f"{self.target}:icmp"
        elif self.protocol != "TCP":
            text += f"/{self.protocol}"
        if self.http:
            text += f" {self.http}"
        return text

    def __str__(self) -> str:
        return f"{self.scenario}::{self.step}::{self.source}->{self.destination}"


@dataclass(frozen=True)
class CaseRecord:
    """Everything a report needs about one scenario item."""

    nodeid: str
    scenario: str
    path: str
    """The scenario file, as the node id names it."""
    index: int
    """Position of the case in its scenario (the run order within the file)."""
    step: str
    step_index: int
    case: str
    """The case id, ``cluster1/frontend->service/myapp-service:80``."""
    source: str
    """``cluster/workload``."""
    target: str
    """``cluster/workload``, ``service/name``, ``external/name``, ``dns/name`` or
    ``entity/kube-apiserver``."""
    port: int
    protocol: str
    expected: str
    """The expected verdict (``allow``, ``deny``, ...); :data:`FROM_MODEL` for a matrix cell
    that did not run (one that ran expects the verdict the model predicted)."""
    status: str = PENDING
    expected_from_model: bool = False
    """A matrix cell: the expectation is the model's prediction, not written down."""
    http: str = ""
    """``METHOD /path`` for an HTTP probe."""
    when: str = ""
    expected_served_by: tuple[str, ...] | None = None
    line: int | None = None
    xfail: str | None = None
    observed: str | None = None
    """The observed outcome (``allowed``, ``dropped``, ...); ``None`` when the probe did not run."""
    served_by: tuple[str, ...] = ()
    served_pod: str | None = None
    attempts: int | None = None
    prediction: str | None = None
    """The model's outcome, when the backend is a real mesh."""
    detail: str = ""
    command: str | None = None
    explanation: tuple[str, ...] = ()
    facts: Mapping[str, ClusterRecord] = field(default_factory=dict)
    message: str = ""
    """The failure message, skip reason or xfail reason."""
    duration: float = 0.0

    @property
    def source_cluster(self) -> str:
        return self.source.split("/", 1)[0]

    @property
    def target_cluster(self) -> str | None:
        """The target's cluster; ``None`` for a Service (resolved in the source's cluster) and
        for an external destination (outside every cluster)."""
        cluster, _, _ = self.target.partition("/")
        return None if cluster in ("service", "external", "dns", "entity") else cluster

    @property
    def key(self) -> ProbeKey:
        return ProbeKey(
            self.scenario, self.step, self.source, self.target, self.port, self.protocol, self.http
        )

    @property
    def sort_key(self) -> tuple[str, int]:
        return (self.path, self.index)

    @property
    def verdict_held(self) -> bool | None:
        """Whether the observation satisfies the expectation; ``None`` without an observation.

        The same judgement as the runner's, over the record alone.
        """
        if not self.outcome_held:
            return self.outcome_held
        if self.expected_served_by is not None:
            return bool(self.served_by) and set(self.served_by) <= set(self.expected_served_by)
        return True

    @property
    def outcome_held(self) -> bool | None:
        """Whether the observed outcome alone (served_by aside) is the one expected."""
        if self.observed is None:
            return None
        outcome, verdict = Outcome(self.observed), self.verdict
        return verdict is not None and not outcome.is_error and verdict.accepts(outcome)

    @property
    def verdict(self) -> Verdict | None:
        """The expected verdict; ``None`` for a matrix cell the model did not predict."""
        try:
            return Verdict(self.expected)
        except ValueError:
            return None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["facts"] = {name: asdict(cluster) for name, cluster in self.facts.items()}
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CaseRecord:
        """A record from :meth:`to_dict` output; unknown keys (a newer format) are ignored."""
        known = {f for f in cls.__dataclass_fields__}
        values = {key: value for key, value in data.items() if key in known}
        facts = values.get("facts") or {}
        values["facts"] = {
            name: ClusterRecord(
                str(c["cluster_name"]),
                int(c["cluster_id"]),
                str(c["cilium_version"]),
                dict(c.get("options") or {}),
            )
            for name, c in facts.items()
        }
        for name in ("served_by", "explanation"):
            values[name] = tuple(values.get(name) or ())
        if values.get("expected_served_by") is not None:
            values["expected_served_by"] = tuple(values["expected_served_by"])
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> CaseRecord:
        return cls.from_dict(json.loads(text))


def versions_text(facts: Mapping[str, ClusterRecord]) -> str:
    """``1.19`` when every cluster runs the same version, else ``cluster1=1.18 ...``."""
    versions = {name: cluster.cilium_version for name, cluster in sorted(facts.items())}
    if not versions:
        return "?"
    if len(set(versions.values())) == 1:
        return next(iter(versions.values()))
    return " ".join(f"{name}={version}" for name, version in versions.items())


def record_for_case(
    *,
    nodeid: str,
    scenario: str,
    path: str,
    index: int,
    case: Case,
    judgement: Judgement | None = None,
) -> CaseRecord:
    """The record of ``case``, with the observation when the case ran (``judgement``)."""
    probe = case.probe
    http = f"{probe.http.method} {probe.http.path}" if probe.http is not None else ""
    record = CaseRecord(
        nodeid=nodeid,
        scenario=scenario,
        path=path,
        index=index,
        step=case.step.name,
        step_index=case.step.index,
        case=case.id,
        source=f"{probe.source_cluster}/{probe.source}",
        target=str(probe.target),
        port=probe.port,
        protocol=probe.protocol,
        expected=case.verdict.value if case.verdict is not None else FROM_MODEL,
        expected_from_model=case.verdict is None,
        http=http,
        when=case.when.text if case.when is not None else "",
        expected_served_by=tuple(sorted(case.served_by)) if case.served_by is not None else None,
        line=case.line,
        xfail=case.xfail,
    )
    if judgement is None:
        return record
    result = judgement.result
    # On a real mesh the observation has no reasons of its own: the model's (the oracle's)
    # explain the verdict it expected, which is what the baseline diff shows across an upgrade.
    model = judgement.prediction
    explanation = result.explanation or (model.explanation if model is not None else ())
    return replace(
        record,
        expected=judgement.expected.value,
        observed=result.outcome.value,
        served_by=tuple(sorted(result.served_by)),
        served_pod=result.served_pod,
        attempts=result.attempts,
        prediction=judgement.prediction.outcome.value if judgement.prediction is not None else None,
        detail=result.detail,
        command=result.command,
        explanation=tuple(explanation),
        facts={name: ClusterRecord.of(facts) for name, facts in sorted(judgement.facts.items())},
        message=judgement.message,
    )


def ordered(records: Sequence[CaseRecord]) -> list[CaseRecord]:
    """Records in run order: by scenario file, then as the scenario lists its cases."""
    return sorted(records, key=lambda record: record.sort_key)
