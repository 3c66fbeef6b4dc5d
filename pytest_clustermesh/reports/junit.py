"""JUnit XML: a scenario item's properties, and a failure whose message is our first line.

pytest's JUnit writer takes ``<failure message=...>`` from ``longrepr.reprcrash.message`` when
there is one; a plain string longrepr would put the whole multi-line text there.
:class:`CaseFailureRepr` gives it our first line and keeps the full text for the body (and
for the terminal, where the short summary then shows the reason too).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .records import CaseRecord


def junit_properties(record: CaseRecord) -> list[tuple[str, str]]:
    """``(name, value)`` pairs describing the item, for ``user_properties``."""
    properties = [
        ("scenario", record.scenario),
        ("step", record.step),
        ("source", record.source),
        ("destination", record.key.destination),
        ("expected", record.expected),
    ]
    if record.expected_served_by is not None:
        properties.append(("expected_served_by", ",".join(record.expected_served_by)))
    if record.when:
        properties.append(("when", record.when))
    if record.observed is not None:
        properties += [
            ("observed", record.observed),
            ("served_by", ",".join(record.served_by)),
            ("attempts", str(record.attempts)),
        ]
    if record.prediction is not None:
        properties.append(("prediction", record.prediction))
    for name, cluster in record.facts.items():
        properties += [
            (f"cluster_name.{name}", cluster.cluster_name),
            (f"cilium_version.{name}", cluster.cilium_version),
        ]
    return properties


def merge_properties(
    existing: list[tuple[str, object]], new: list[tuple[str, str]]
) -> list[tuple[str, object]]:
    """``existing`` plus the ``new`` pairs whose names it does not have yet."""
    names = {name for name, _ in existing}
    return existing + [(name, value) for name, value in new if name not in names]


class _Writer(Protocol):
    def line(self, s: str = "", **markup: bool) -> None: ...


@dataclass(frozen=True)
class CrashLine:
    """What pytest reads as ``reprcrash``: where and, above all, the one-line message."""

    path: str
    lineno: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.lineno}: {self.message}"


class CaseFailureRepr:
    """A failure's full text, with its first line as the crash message."""

    def __init__(self, text: str, path: str, lineno: int) -> None:
        self.text = text
        first = next((line.strip() for line in text.splitlines() if line.strip()), "")
        self.reprcrash = CrashLine(path, lineno, first or "failed")

    def toterminal(self, tw: _Writer) -> None:
        for line in self.text.splitlines():
            tw.line(line)

    def __str__(self) -> str:
        return self.text
