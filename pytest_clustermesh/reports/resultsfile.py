"""The JSON results file: run metadata and one record per scenario item.

The same file is a later run's baseline. Pytest-free.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .records import STATUSES, CaseRecord, ordered

FORMAT = "pytest-clustermesh-results"
FORMAT_VERSION = 1


class ResultsFileError(ValueError):
    """A results file that cannot be read, with the path and the reason."""


@dataclass(frozen=True)
class Results:
    records: tuple[CaseRecord, ...]
    run: Mapping[str, Any] = field(default_factory=dict)


def status_counts(records: Sequence[CaseRecord]) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    for record in records:
        counts[record.status] = counts.get(record.status, 0) + 1
    return counts


def clusters_by_scenario(records: Sequence[CaseRecord]) -> dict[str, dict[str, Any]]:
    """The facts each scenario's clusters had (as first recorded)."""
    clusters: dict[str, dict[str, Any]] = {}
    for record in records:
        if record.facts and record.scenario not in clusters:
            clusters[record.scenario] = record.to_dict()["facts"]
    return clusters


def to_document(records: Sequence[CaseRecord], run: Mapping[str, Any]) -> dict[str, Any]:
    records = ordered(records)
    metadata = {
        **run,
        "counts": status_counts(records),
        "clusters": clusters_by_scenario(records),
    }
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "run": metadata,
        "records": [record.to_dict() for record in records],
    }


def write(path: Path, records: Sequence[CaseRecord], run: Mapping[str, Any]) -> None:
    """Write atomically, so a baseline is never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(to_document(records, run), indent=2, sort_keys=False) + "\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read(path: Path) -> Results:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsFileError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultsFileError(f"{path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ResultsFileError(f"{path}: not JSON ({exc})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ResultsFileError(f"{path}: not a pytest-clustermesh results file")
    if document.get("version") != FORMAT_VERSION:
        raise ResultsFileError(
            f"{path}: results format version {document.get('version')!r}, "
            f"this plugin reads {FORMAT_VERSION}"
        )
    try:
        records = tuple(CaseRecord.from_dict(item) for item in document.get("records", []))
    except (TypeError, KeyError, ValueError, AttributeError) as exc:
        raise ResultsFileError(f"{path}: a record is malformed ({exc})") from None
    return Results(records, document.get("run") or {})
