"""The suite's files keep their promises: every scenario and step cites the Cilium behaviour it
pins, every citation exists in docs/cilium-semantics.md, docs/conformance.md has a row for
every step, and ``pip install`` ships every file the suite reads."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from pytest_clustermesh.conformance import SUITE_DIR, scenario_files

from .suite import REPO, scenarios

CITATION = re.compile(r"\b(s\d+|SF\d+|Q\d+)\b")
STEP = re.compile(r"^  - name: (\S+)$")


def anchors() -> set[str]:
    text = (REPO / "docs" / "cilium-semantics.md").read_text()
    return set(re.findall(r'<a id="([a-z]+\d+)"></a>', text))


def cited(text: str) -> set[str]:
    found = set()
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            found |= set(CITATION.findall(line))
    return found


def test_the_suite_has_its_scenarios() -> None:
    names = {path.name.removesuffix(".scenario.yaml") for path in scenario_files()}
    assert names == {
        "policy-scope", "cluster-selector", "entities", "cluster-mesh-entity", "namespaces",
        "service-accounts", "clusterwide", "deny", "l7", "kubernetes-networkpolicy",
        "global-services", "three-clusters",
    }  # fmt: skip


@pytest.mark.parametrize("path", scenario_files(), ids=lambda p: p.name)
def test_each_scenario_and_each_step_cites_what_it_pins(path: Path) -> None:
    lines = path.read_text().splitlines()
    header = []
    for line in lines:
        if not line.startswith("#"):
            break
        header.append(line)
    assert any("docs/cilium-semantics.md" in line for line in header), "header cites the doc"
    assert cited("\n".join(header)), "the header names the ids it pins"
    steps = [(i, m.group(1)) for i, line in enumerate(lines) if (m := STEP.match(line))]
    assert steps
    for index, name in steps:
        start = index
        while lines[start - 1].strip().startswith("#"):
            start -= 1
        comment = " ".join(line.strip() for line in lines[start:index])
        assert comment.startswith("# Pins") and CITATION.search(comment), f"step {name}"


def test_every_citation_exists_in_the_semantics_doc() -> None:
    known = anchors()
    files = [*scenario_files(), *sorted((SUITE_DIR / "policies").glob("*.yaml"))]
    for path in files:
        ids = {c.lower() for c in cited(path.read_text())}
        assert ids, f"{path.name} cites nothing"
        assert ids <= known, f"{path.name} cites {sorted(ids - known)}, not in the doc"


def test_docs_conformance_lists_every_step() -> None:
    text = (REPO / "docs" / "conformance.md").read_text()
    sections = re.split(r"^### ", text, flags=re.M)
    by_scenario = {section.split("`")[1]: section for section in sections[1:]}
    for scenario in scenarios():
        assert scenario.name in by_scenario, f"no section for {scenario.name}"
        for step in scenario.steps:
            assert f"| `{step.name}` |" in by_scenario[scenario.name], (scenario.name, step.name)


def test_every_policy_file_is_used_and_every_file_ships() -> None:
    used = {ref for scenario in scenarios() for ref in scenario.policies}
    files = {f"policies/{p.name}" for p in (SUITE_DIR / "policies").glob("*.yaml")}
    assert files == used, f"unused: {sorted(files - used)}; missing: {sorted(used - files)}"

    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert any(p.startswith("pytest_clustermesh") for p in config["packages"]["find"]["include"])
    patterns = config["package-data"]["pytest_clustermesh.conformance"]
    shipped = {path for pattern in patterns for path in SUITE_DIR.glob(pattern)}
    data = {p for p in SUITE_DIR.rglob("*") if p.is_file() and p.suffix in (".yaml", ".yml")}
    assert data and data <= shipped, f"not shipped: {sorted(map(str, data - shipped))}"
