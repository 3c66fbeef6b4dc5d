"""Scenario files: the DSL, loading with located errors, expansion into cases.

The public seam of the scenario layer: everything outside ``scenario/`` uses these names.
"""

from .dsl import json_schema
from .load import ALL, expand_scenario, load_scenario, resolve_sources, resolve_targets
from .materialize import build_deployment, render_policies, template_context
from .model import Case, PolicySource, Scenario, Step
from .templates import TemplateError

__all__ = [
    "ALL",
    "Case",
    "PolicySource",
    "Scenario",
    "Step",
    "TemplateError",
    "build_deployment",
    "expand_scenario",
    "json_schema",
    "load_scenario",
    "render_policies",
    "resolve_sources",
    "resolve_targets",
    "template_context",
]
