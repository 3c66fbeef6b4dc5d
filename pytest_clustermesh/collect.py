"""Scenario files as pytest collectors, their cases as pytest items.

Items are ``pytest.Function`` objects built with ``callobj`` (the documented way to give a
non-Python item fixtures), so scenario items and hand-written tests share the same session
fixture and one backend.
"""

from __future__ import annotations

import fnmatch
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from .backend import ApiServerTarget, DnsTarget, ExternalTarget
from .errors import ClusterMeshError, ScenarioError
from .options import DEFAULT_SCENARIO_FILES, policy_roots
from .runner import Judgement, MeshSession, TooFewClusters
from .scenario import Case, Scenario, Step, load_scenario


class CaseFailed(AssertionError):
    """A case's expectation did not hold; the message says expected, observed and why."""


class CaseError(ClusterMeshError):
    """A case could not be judged (its probe did not run, or the model could not predict it).

    Not a :class:`CaseFailed`, so a strict ``xfail`` (a known gap in verdicts) does not
    swallow it."""


def is_scenario_file(config: pytest.Config, path: Path) -> bool:
    patterns = config.getini("clustermesh_scenario_files") or DEFAULT_SCENARIO_FILES.split()
    return any(fnmatch.fnmatch(path.name, pattern) for pattern in patterns)


class ScenarioFile(pytest.File):
    """A ``*.scenario.yaml`` file; collecting it validates all of it."""

    def collect(self) -> Iterator[StepNode]:
        scenario = load_scenario(self.path, policy_roots(self.config))
        by_step: dict[int, list[tuple[int, Case]]] = {step.index: [] for step in scenario.steps}
        for index, case in enumerate(scenario.cases):
            by_step[case.step.index].append((index, case))
        for step in scenario.steps:
            yield StepNode.from_parent(
                self, name=step.name, scenario=scenario, step=step, cases=by_step[step.index]
            )

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, ScenarioError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)


class StepNode(pytest.Collector):
    """A step of a scenario: its node id is ``file::step``, so ``file::step::case`` selects one
    item and ``file::step`` a whole step."""

    def __init__(
        self, *, scenario: Scenario, step: Step, cases: list[tuple[int, Case]], **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.step = step
        self.cases = cases
        """The step's cases, each with its position in the scenario (the run order)."""

    def collect(self) -> Iterator[pytest.Item]:
        # Every item of a step calls the same function from the same place, so they share one
        # fixture closure, as pytest's own parametrized items do; computing it per item would
        # inspect _run_case's signature thousands of times.
        fixtureinfo = None
        for index, case in self.cases:
            item = ScenarioItem.from_parent(
                self,
                name=case.id,
                callobj=_run_case,
                fixtureinfo=fixtureinfo,
                scenario=self.scenario,
                case=case,
                index=index,
            )
            fixtureinfo = getattr(item, "_fixtureinfo", None)
            yield item

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, (self.step.line or 1) - 1, f"{self.scenario.name}::{self.name}"

    @functools.cached_property
    def selected_cases(self) -> list[Case]:
        """The step's cases that this session will run (after -k, -m, deselection).

        Read once, when the step's first item runs: ``session.items`` is final by then, and
        scanning it for every item would cost the square of the number of items.
        """
        return [
            item.case
            for item in self.session.items
            if isinstance(item, ScenarioItem) and item.parent is self
        ]


def _run_case(clustermesh_session: MeshSession, request: pytest.FixtureRequest) -> None:
    item = request.node
    assert isinstance(item, ScenarioItem)
    item.run(clustermesh_session)


def _skip_at_item(reason: str) -> NoReturn:
    """Skip, reported at the expectation's line rather than at this module's."""
    try:
        exc = pytest.skip.Exception(reason, _use_item_location=True)
    except TypeError:  # a pytest without the keyword
        exc = pytest.skip.Exception(reason)
    raise exc


class ScenarioItem(pytest.Function):
    """One case: a (step, source, destination, port) with its expected verdict."""

    def __init__(self, *, scenario: Scenario, case: Case, index: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.case = case
        self.index = index
        """The case's position in its scenario."""
        self.judgement: Judgement | None = None
        """The runner's judgement, once the item ran."""
        self._add_selectors()

    def _add_selectors(self) -> None:
        case, probe = self.case, self.case.probe
        target = probe.target
        target_cluster = getattr(target, "cluster", None)
        target_name = str(getattr(target, "workload", None) or getattr(target, "name", ""))
        self.extra_keyword_matches.update(
            {
                self.scenario.name,
                case.step.name,
                probe.source_cluster,
                probe.source,
                case.verdict_text,
                target_name,
                target_cluster or _target_kind(target),
                *(("icmp",) if probe.protocol == "ICMP" else ()),
            }
        )
        self.add_marker(
            pytest.mark.clustermesh(
                scenario=self.scenario.name,
                step=case.step.name,
                source=f"{probe.source_cluster}/{probe.source}",
                target=str(target),
                source_cluster=probe.source_cluster,
                target_cluster=target_cluster,
                verdict=case.verdict_text,
            )
        )
        if case.xfail:
            # Only a verdict that differs is the known gap: an error (a probe that could not
            # run, a failed deploy) still fails the item.
            self.add_marker(pytest.mark.xfail(reason=case.xfail, strict=True, raises=CaseFailed))

    def run(self, session: MeshSession) -> None:
        try:
            run = session.run_for(self.scenario)
        except TooFewClusters as exc:  # e.g. a three-cluster scenario on two contexts
            _skip_at_item(str(exc))
        reason = run.skip_reason(self.case)
        if reason:
            _skip_at_item(reason)
        step = self.parent
        batch = step.selected_cases if isinstance(step, StepNode) else []
        judgement = self.judgement = run.check(self.case, batch)
        self.user_properties += [
            ("scenario", self.scenario.name),
            ("step", self.case.step.name),
            ("expected", judgement.expected.value),
            ("observed", judgement.result.outcome.value),
            ("attempts", judgement.result.attempts),
        ]
        if judgement.unjudged:
            raise CaseError(judgement.message)
        if not judgement.passed:
            raise CaseFailed(judgement.message)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        line = self.case.line
        return self.path, (line - 1) if line else None, f"{self.scenario.name}::{self.name}"

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, CaseFailed | ClusterMeshError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)


def _target_kind(target: object) -> str:
    """The keyword of a target outside any one cluster: ``service``, ``external``, ``dns`` or
    ``kube-apiserver``."""
    if isinstance(target, ExternalTarget):
        return "external"
    if isinstance(target, ApiServerTarget):
        return "kube-apiserver"
    return "dns" if isinstance(target, DnsTarget) else "service"
