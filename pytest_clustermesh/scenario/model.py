"""A loaded scenario: validated, references resolved, expanded into cases.

These are the objects the runner and the pytest glue use; :mod:`.load` builds them from a file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..backend import Probe
from ..errors import Location
from ..facts import Condition
from ..verdicts import Verdict
from .dsl import ScenarioModel


@dataclass(frozen=True)
class PolicySource:
    """The documents one policy reference (a file or a named policy) stands for."""

    ref: str
    documents: tuple[Mapping[str, Any], ...]
    locations: tuple[Location, ...]


@dataclass(frozen=True)
class Step:
    index: int
    name: str
    policies: Mapping[str, tuple[str, ...]]
    """Logical cluster -> policy references in force there (``*`` already expanded)."""
    line: int | None = None


@dataclass(frozen=True)
class Case:
    """One concrete expectation: a (step, source, destination, port) and its verdict."""

    step: Step
    probe: Probe
    verdict: Verdict | None
    """``None``: a matrix cell, expected to get what the model predicts."""
    served_by: frozenset[str] | None = None
    when: Condition | None = None
    xfail: str | None = None
    line: int | None = None

    @property
    def verdict_text(self) -> str:
        return self.verdict.value if self.verdict else "model"

    @property
    def name(self) -> str:
        """Unique within the scenario: ``step::source->target:port``."""
        return f"{self.step.name}::{self.id}"

    @property
    def id(self) -> str:
        """Unique within the step: ``cluster1/frontend->service/myapp:80``."""
        probe = self.probe
        text = str(probe)
        if probe.http is not None:
            text += f"[{probe.http.method} {probe.http.path}]"
        if self.when is not None and self.when.text:
            text += f"[{self.when.text}]"
        return text


@dataclass(frozen=True)
class Scenario:
    path: Path
    name: str
    model: ScenarioModel
    steps: tuple[Step, ...]
    cases: tuple[Case, ...]
    policies: Mapping[str, PolicySource] = field(default_factory=dict)
