"""Label and field selectors, in the query-string syntax and in ``LabelSelector`` objects."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_SET = re.compile(rf"^(?P<key>{_KEY})\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)$")
_EQUALITY = re.compile(rf"^(?P<key>{_KEY})\s*(?P<op>==|!=|=)\s*(?P<value>{_VALUE})$")
_EXISTS = re.compile(rf"^(?P<neg>!?)\s*(?P<key>{_KEY})$")
_VALUE_ONLY = re.compile(rf"^{_VALUE}$")


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str
    """``=``, ``!=``, ``in``, ``notin``, ``exists`` or ``!exists``."""
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!exists":
            return not present
        if self.op in ("=", "in"):
            return present and value in self.values
        return not present or value not in self.values  # != and notin


Selector = tuple[Requirement, ...]
"""Requirements joined by AND; empty selects everything."""


def _split(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def parse_label_selector(text: str) -> Selector:
    """Parse ``app=x,tier!=db,env in (a,b),!legacy``; raise ``ValueError`` if malformed."""
    if not text.strip():
        return ()
    requirements = []
    for raw in _split(text):
        part = raw.strip()
        if m := _SET.match(part):
            values = frozenset(v.strip() for v in m["values"].split(","))
            if not all(_VALUE_ONLY.match(v) for v in values):
                raise ValueError(f"unable to parse requirement: invalid value in {part!r}")
            requirements.append(Requirement(m["key"], m["op"], values))
        elif m := _EQUALITY.match(part):
            op = "!=" if m["op"] == "!=" else "="
            requirements.append(Requirement(m["key"], op, frozenset({m["value"]})))
        elif m := _EXISTS.match(part):
            requirements.append(Requirement(m["key"], "!exists" if m["neg"] else "exists"))
        else:
            raise ValueError(f"unable to parse requirement: found {part!r}")
    return tuple(requirements)


_EXPRESSION_OPS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}


def selector_from_spec(spec: Mapping[str, Any] | None) -> Selector:
    """A ``LabelSelector`` (``matchLabels`` + ``matchExpressions``) as requirements."""
    if not spec:
        return ()
    requirements = [
        Requirement(key, "=", frozenset({str(value)}))
        for key, value in (spec.get("matchLabels") or {}).items()
    ]
    for expression in spec.get("matchExpressions") or []:
        op = _EXPRESSION_OPS[expression["operator"]]
        requirements.append(
            Requirement(expression["key"], op, frozenset(expression.get("values") or ()))
        )
    return tuple(requirements)


def labels_match(selector: Selector, labels: Mapping[str, str] | None) -> bool:
    labels = labels or {}
    return all(requirement.matches(labels) for requirement in selector)


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """The string form of a dotted field, ``""`` when absent, as field selectors compare it."""
    value: Any = obj
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return ""
        value = value.get(part)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping) and path == "source":
        return str(value.get("component", ""))
    return str(value)


FieldSelector = tuple[tuple[str, bool, str], ...]
"""``(path, equal, value)`` triples joined by AND."""


def parse_field_selector(text: str, supported: tuple[str, ...]) -> FieldSelector:
    """Parse ``metadata.name=x,status.phase!=Running``.

    Raises ``ValueError`` with the real server's wording for an unsupported field.
    """
    if not text.strip():
        return ()
    terms = []
    for raw in text.split(","):
        part = raw.strip()
        m = re.match(r"^([^=!]+?)\s*(==|!=|=)\s*(.*)$", part)
        if not m:
            raise ValueError(f"invalid selector: '{text}'; can't understand '{part}'")
        path, op, value = m.groups()
        if path not in supported:
            raise ValueError(f"field label not supported: {path}")
        terms.append((path, op != "!=", value))
    return tuple(terms)


def fields_match(selector: FieldSelector, obj: Mapping[str, Any]) -> bool:
    return all((field_value(obj, path) == value) == equal for path, equal, value in selector)
