"""The published JSON Schema of scenario files, for editors, matches the loader's definition."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from pytest_clustermesh.scenario import json_schema
from pytest_clustermesh.yamlmarks import load_one

PACKAGE = Path(__file__).resolve().parents[2] / "pytest_clustermesh"
SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def test_the_published_schema_is_the_loaders() -> None:
    published = json.loads((PACKAGE / "scenario.schema.json").read_text())
    assert published == json_schema(), (
        "regenerate: python -m pytest_clustermesh.scenario schema "
        "> pytest_clustermesh/scenario.schema.json"
    )


@pytest.mark.parametrize("path", sorted(SCENARIOS.rglob("*.scenario.yaml")), ids=lambda p: p.name)
def test_shipped_scenarios_validate_against_the_schema(path: Path) -> None:
    jsonschema.validate(load_one(path), json_schema())


def test_the_schema_rejects_what_the_loader_rejects() -> None:
    bad = {"clusters": ["a"], "workloads": {"c": {"role": "client", "imagee": "x"}}, "steps": []}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, json_schema())
