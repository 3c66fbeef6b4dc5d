"""The policy documents the project ships and tests with are valid Cilium CRD objects.

Every CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy under ``scenarios/`` (policy files
and inline ``policies:``, templates rendered as a run would) and every one that
tests/unit/test_policy_model.py feeds the model and the model accepts is validated against the
``cilium.io/v2`` CRD schemas in ``tests/unit/schemas/cilium/`` (Cilium 1.18.2, converted by
datreeio/CRDs-catalog; see the README there). The schemas' ``pattern`` keywords use Go RE2
syntax (``\\PC``), so patterns go through the ``regex`` module, and ``format: cidr`` gets an
``ipaddress`` checker. Kubernetes NetworkPolicies have no schema there and are skipped.

What the 1.18.2 schemas are expected to reject is listed, with why, in :data:`EXPECTED_REJECTIONS`.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import regex
from jsonschema.protocols import Validator

from pytest_clustermesh.scenario import load_scenario
from pytest_clustermesh.scenario.materialize import (
    build_deployment,
    render_policies,
    template_context,
)
from pytest_clustermesh.yamlmarks import load_all

from ..meshworld import cnp
from .test_policy_model import BE, ROWS

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = Path(__file__).resolve().parent / "schemas" / "cilium"
SCENARIOS = ROOT / "scenarios"
SCHEMA_FILES = {
    "CiliumNetworkPolicy": "ciliumnetworkpolicy_v2.json",
    "CiliumClusterwideNetworkPolicy": "ciliumclusterwidenetworkpolicy_v2.json",
}

# ---------------------------------------------------------------------------------------------
# the validator


def _re2_pattern(
    validator: Validator, pattern: str, instance: Any, schema: Mapping[str, Any]
) -> Iterator[jsonschema.ValidationError]:
    """``pattern`` with the ``regex`` module, which knows RE2's ``\\PC`` (not-a-control char)."""
    if validator.is_type(instance, "string") and not regex.search(pattern, instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


# The formats the API server checks: cidr, not idn-hostname (HTTP host is a regular expression).
_formats = jsonschema.FormatChecker(formats=())


def _is_cidr(value: object) -> bool:
    # Cilium's CIDR fields take a network prefix (net.ParseCIDR); host bits may be set.
    if isinstance(value, str):
        ipaddress.ip_network(value, strict=False)
        if "/" not in value:
            raise ValueError(f"{value!r} has no prefix length")
    return True


_formats.checks("cidr", raises=ValueError)(_is_cidr)

_CiliumValidator = jsonschema.validators.extend(
    jsonschema.Draft7Validator, validators={"pattern": _re2_pattern}
)


@cache
def validator(kind: str) -> Validator:
    schema = json.loads((SCHEMAS / SCHEMA_FILES[kind]).read_text(encoding="utf-8"))
    return _CiliumValidator(schema, format_checker=_formats)


def errors(doc: Mapping[str, Any]) -> list[str]:
    found = validator(str(doc["kind"])).iter_errors(_plain(doc))
    return sorted(
        f"{'.'.join(map(str, err.absolute_path)) or '<root>'}: {err.message}" for err in found
    )


def _plain(value: Any) -> Any:
    """YAML-loaded documents carry line marks (dict/str subclasses); JSON types only."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


# ---------------------------------------------------------------------------------------------
# the documents


@dataclass(frozen=True)
class Case:
    id: str
    doc: Mapping[str, Any]


def scenario_documents() -> Iterator[Case]:
    """Policy documents of every scenario, rendered as a run renders them; plus policy files
    no scenario references (validated as written: they must then hold no template)."""
    referenced: set[Path] = set()
    for path in sorted(SCENARIOS.rglob("*.scenario.yaml")):
        scenario = load_scenario(path)
        deployment = build_deployment(scenario, "schema")
        ctx = template_context(deployment, None)
        for ref, source in scenario.policies.items():
            for i, rendered in enumerate(render_policies(source, deployment, ctx)):
                for location in source.locations:
                    referenced.add(Path(location.path).resolve())
                yield Case(f"{path.relative_to(ROOT)}:{ref}[{i}]", rendered.body)
    for path in sorted(SCENARIOS.rglob("*.yaml")):
        if path.name.endswith(".scenario.yaml") or path.resolve() in referenced:
            continue
        for i, doc in enumerate(load_all(path)):
            yield Case(f"{path.relative_to(ROOT)}[{i}]", doc)


def model_test_documents() -> Iterator[Case]:
    """The documents of tests/unit/test_policy_model.py that the model accepts."""
    seen: set[str] = set()
    for row in ROWS:
        for cluster, docs in row.policies.items():
            for i, doc in enumerate(docs):
                key = json.dumps(doc, sort_keys=True)
                if key not in seen:
                    seen.add(key)
                    yield Case(f"{row.pins} [{cluster}:{i}]", doc)
    # test_a_rule_without_sections_is_accepted_before_1_17_and_does_nothing
    yield Case(
        "a rule without sections (accepted by the model on 1.16)", cnp({"endpointSelector": BE})
    )
    # test_a_load_balancer_choice_that_changes_the_verdict_is_an_error_not_a_verdict
    yield Case(
        "echo ingress [{}]",
        cnp({"endpointSelector": {"matchLabels": {"app": "echo"}}, "ingress": [{}]}),
    )


def _cilium(cases: Iterator[Case]) -> list[Any]:
    return [
        pytest.param(case, id=case.id)
        for case in cases
        if isinstance(case.doc, Mapping) and case.doc.get("kind") in SCHEMA_FILES
    ]


# ---------------------------------------------------------------------------------------------
# what the 1.18.2 schemas reject, and why that is right


def _uses_cluster_mesh_entity(doc: Mapping[str, Any]) -> bool:
    return "cluster-mesh" in json.dumps(doc)


def _has_no_section(doc: Mapping[str, Any]) -> bool:
    spec = doc.get("spec", {})
    return not any(key in spec for key in ("ingress", "ingressDeny", "egress", "egressDeny"))


#: (recognises the document, a fragment every schema error must contain, the documented fact).
EXPECTED_REJECTIONS: list[tuple[Callable[[Mapping[str, Any]], bool], str, str]] = [
    (
        _uses_cluster_mesh_entity,
        "'cluster-mesh' is not one of",
        "The cluster-mesh entity is new in Cilium 1.20 (cilium#46813); the 1.18 CRD enum of "
        "entities rejects it (docs/cilium-semantics.md s4, SF5: 'policy rejected on <=1.19').",
    ),
    (
        _has_no_section,
        "is not valid under any of the given schemas",
        "The CRD requires one of ingress/ingressDeny/egress/egressDeny (kubebuilder AnyOf, "
        "docs/cilium-semantics.md Q2); only a 1.16 agent accepts such a rule, as a no-op.",
    ),
]


def expected_rejection(doc: Mapping[str, Any]) -> tuple[str, str] | None:
    for applies, fragment, why in EXPECTED_REJECTIONS:
        if applies(doc):
            return fragment, why
    return None


# ---------------------------------------------------------------------------------------------
# tests


def check(case: Case) -> None:
    found = errors(case.doc)
    expected = expected_rejection(case.doc)
    if expected is None:
        assert not found, "\n".join(found)
        return
    fragment, why = expected
    assert found, f"expected the 1.18.2 schema to reject this document: {why}"
    assert all(fragment in err for err in found), f"{why}\n" + "\n".join(found)


@pytest.mark.parametrize("case", _cilium(scenario_documents()))
def test_scenario_policies_match_the_crd_schema(case: Case) -> None:
    check(case)


@pytest.mark.parametrize("case", _cilium(model_test_documents()))
def test_model_test_policies_match_the_crd_schema(case: Case) -> None:
    check(case)


def test_the_cluster_mesh_entity_is_rejected_by_the_1_18_schema() -> None:
    """SF5 as a documented fact, not a skip: ``toEntities: [cluster-mesh]`` (Cilium 1.20) is
    not in the 1.18.2 CRD's entity enum, while ``cluster`` and ``all`` are."""
    spec = {"endpointSelector": {}, "egress": [{"toEntities": ["cluster-mesh"]}]}
    found = errors(cnp(spec))
    assert found and all("'cluster-mesh' is not one of" in err for err in found), found
    for entity in ("cluster", "all"):
        assert errors(cnp({**spec, "egress": [{"toEntities": [entity]}]})) == []


def test_the_validator_applies_re2_patterns_and_cidr_formats() -> None:
    """The two quirks of the schema files (README there) are handled, not silently ignored:
    a label value with a control character fails ``^\\PC*$``, a malformed CIDR fails
    ``format: cidr``, and an unknown field fails ``additionalProperties: false``."""
    bad_label = {"endpointSelector": {"matchLabels": {"app": "a\x07b"}}, "ingress": [{}]}
    assert any("does not match" in err for err in errors(cnp(bad_label)))
    bad_cidr = {"endpointSelector": {}, "ingress": [{"fromCIDR": ["10.0.0.300/8"]}]}
    assert any("is not a 'cidr'" in err for err in errors(cnp(bad_cidr)))
    good_cidr = {"endpointSelector": {}, "ingress": [{"fromCIDR": ["10.0.0.0/8", "fd00::/64"]}]}
    assert errors(cnp(good_cidr)) == []
    typo: dict[str, Any] = {"endpointSelector": {}, "ingress": [{"fromEndpoint": [{}]}]}
    assert any("Additional properties" in err for err in errors(cnp(typo)))


def test_there_is_something_to_validate() -> None:
    """Guards the collection: the schemas ship with the repository, and the scenarios and the
    model tests do hold Cilium policies."""
    for name in SCHEMA_FILES.values():
        assert (SCHEMAS / name).is_file(), f"missing schema {SCHEMAS / name}"
    assert _cilium(scenario_documents())
    assert len(_cilium(model_test_documents())) > 10


def test_the_shipped_schemas_are_these() -> None:
    """The plugin validates with the copy in pytest_clustermesh/policy/schemas/; it must be
    these files, with the licence beside them."""
    shipped = ROOT / "pytest_clustermesh" / "policy" / "schemas"
    for name in (*SCHEMA_FILES.values(), "LICENSE"):
        assert (shipped / name).read_bytes() == (SCHEMAS / name).read_bytes(), name
    assert "MIT" in (shipped / "README.md").read_text(encoding="utf-8")
