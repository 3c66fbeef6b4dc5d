"""``{{ ... }}`` templates in policy documents.

A policy cannot name the run-unique namespaces, nor a real cluster's Cilium name (it comes from
``cilium-config`` and need not equal the scenario's logical name), so it refers to them:

- ``{{ namespace }}``: the scenario's first namespace;
- ``{{ namespaces.<key> }}``: the namespace ``<key>`` of the scenario;
- ``{{ clusters.<logical>.name }}``: the Cilium cluster name of a logical cluster.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

TEMPLATE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")


class TemplateError(Exception):
    def __init__(self, message: str, expr: str = "") -> None:
        super().__init__(message)
        self.expr = expr
        """The expression inside the braces, so the caller can find the template's line."""


@dataclass(frozen=True)
class TemplateContext:
    namespaces: Mapping[str, str]
    """Scenario key -> real name; the first is the default."""
    cluster_names: Mapping[str, str]
    """Logical cluster -> Cilium cluster name."""

    def lookup(self, expr: str) -> str:
        parts = expr.split(".")
        if parts == ["namespace"]:
            return next(iter(self.namespaces.values()))
        if len(parts) == 2 and parts[0] == "namespaces":
            if parts[1] in self.namespaces:
                return self.namespaces[parts[1]]
            raise TemplateError(
                f"{{{{ {expr} }}}}: no namespace {parts[1]!r} "
                f"(the scenario has {', '.join(self.namespaces)})",
                expr,
            )
        if len(parts) == 3 and parts[0] == "clusters" and parts[2] == "name":
            if parts[1] in self.cluster_names:
                return self.cluster_names[parts[1]]
            raise TemplateError(
                f"{{{{ {expr} }}}}: no cluster {parts[1]!r} "
                f"(the scenario has {', '.join(self.cluster_names)})",
                expr,
            )
        raise TemplateError(
            f"unknown template {{{{ {expr} }}}} (use namespace, namespaces.<key> "
            "or clusters.<name>.name)",
            expr,
        )


def render_string(text: str, ctx: TemplateContext) -> str:
    return TEMPLATE.sub(lambda match: ctx.lookup(match.group(1)), text)


def render(data: Any, ctx: TemplateContext) -> Any:
    """A plain copy of ``data`` with every template filled in (keys included)."""
    if isinstance(data, str):
        return render_string(data, ctx)
    if isinstance(data, Mapping):
        return {render(key, ctx): render(value, ctx) for key, value in data.items()}
    if isinstance(data, list):
        return [render(item, ctx) for item in data]
    return data
