"""pydantic's validation errors, said in the scenario's own words.

pydantic reports a union field once per member, with the member's internal name in the location
(``replicas.dict[constrained-str,constrained-int].cluster1``), and patterns as regular
expressions. Here each error becomes a path into the scenario data (so its line can be found)
and a message that names the key, what was found and what would be valid:

- of a union, only the member matching the value's type speaks; when none does, the message
  lists the alternatives;
- a value YAML read as something else than written (``1.20`` as 1.2, ``no`` as false) is shown
  as written, with the advice to quote it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..facts import alternatives
from ..yamlmarks import source_text
from . import dsl

#: Location parts pydantic adds for union members, validators and dict keys.
_TAG = re.compile(
    r"^(str|int|float|bool|constrained-\w+|(dict|list|literal|function-\w+|json-or-python)\[.*\]"
    r"|lax-.*|[A-Z]\w*Model|\[key\])$"
)

_MODELS = (
    dsl.ScenarioModel,
    dsl.NamespaceModel,
    dsl.WorkloadModel,
    dsl.StepModel,
    dsl.ExpectationModel,
    dsl.MatrixModel,
    dsl.ServiceModel,
    dsl.PolicySourceModel,
    dsl.HttpModel,
    dsl.PortModel,
)
FIELDS = sorted(
    {info.alias or name for model in _MODELS for name, info in model.model_fields.items()}
)

_PATTERNS = {
    dsl.DNS_LABEL: "a DNS label: lowercase letters, digits and '-', starting and ending with a "
    "letter or digit",
    dsl.STEP_NAME: "a step name: letters, digits, '-', '_' and '.', starting with a letter or "
    "digit",
    dsl.HTTP_PATH: "a path starting with '/', without spaces",
}


@dataclass(frozen=True)
class Problem:
    path: tuple[Any, ...]
    """Keys and indexes into the scenario data (pydantic's union and validator names removed)."""
    message: str


def problems(errors: Iterable[Mapping[str, Any]], data: Any) -> list[Problem]:
    """Each distinct problem of ``errors`` (pydantic's ``ValidationError.errors()``)."""
    found: list[Problem] = []
    groups: dict[tuple[Any, ...], list[tuple[tuple[Any, ...], Mapping[str, Any]]]] = {}
    for err in errors:
        path, union = _split(tuple(err["loc"]), data, err["type"] == "missing")
        if union is None:
            found.append(_plain(path, err, data))
        else:
            groups.setdefault(union, []).append((path, err))
    for union, members in groups.items():
        found += _union(union, members, data)
    unique = {(p.path, p.message): p for p in found}
    return list(unique.values())


def dotted(path: Sequence[Any]) -> str:
    return ".".join(str(part) for part in path)


def _split(
    loc: tuple[Any, ...], data: Any, missing: bool
) -> tuple[tuple[Any, ...], tuple[Any, ...] | None]:
    """The data path of ``loc`` and, if it went through a union, the path of the union."""
    path: list[Any] = []
    union: tuple[Any, ...] | None = None
    node = data
    for position, part in enumerate(loc):
        last = position == len(loc) - 1
        present = _has(node, part)
        if not present and isinstance(part, str) and _TAG.match(part) and not (missing and last):
            if part == "[key]":
                return tuple(path), None
            if union is None and not part.startswith(("function-", "lax-")):
                union = tuple(path)
            continue
        path.append(part)
        node = node[part] if present else None
    return tuple(path), union


def _has(node: Any, part: Any) -> bool:
    if isinstance(node, Mapping):
        return part in node
    if isinstance(node, list) and isinstance(part, int):
        return 0 <= part < len(node)
    return False


def _value(data: Any, path: Sequence[Any]) -> Any:
    for part in path:
        if not _has(data, part):
            return None
        data = data[part]
    return data


def _union(
    union: tuple[Any, ...],
    members: list[tuple[tuple[Any, ...], Mapping[str, Any]]],
    data: Any,
) -> list[Problem]:
    """The errors of the union member the value's type selects, or one message naming the
    alternatives."""
    value = _value(data, union)
    tags: dict[str, list[tuple[tuple[Any, ...], Mapping[str, Any]]]] = {}
    for path, err in members:
        tag = next(
            (p for p in err["loc"][len(union) :] if isinstance(p, str) and _TAG.match(p)), ""
        )
        tags.setdefault(tag, []).append((path, err))
    matching = [tag for tag in tags if _fits(tag, value)]
    if len(matching) == 1:
        return [_plain(path, err, data) for path, err in tags[matching[0]]]
    words = list(dict.fromkeys(_word(tag) for tag in tags))
    if "a number" in words and "a whole number" in words:
        words.remove("a whole number")
    return [
        Problem(
            union,
            f"{_where(union)}: expected {alternatives(words)}, "
            f"got {_shown(value, source_text(data, union))}",
        )
    ]


def _fits(tag: str, value: Any) -> bool:
    if tag.startswith("dict[") or tag.endswith("Model"):
        return isinstance(value, Mapping)
    if tag.startswith("list["):
        return isinstance(value, list)
    if tag in ("str", "constrained-str"):
        return isinstance(value, str)
    if tag == "bool":
        return isinstance(value, bool)
    if tag in ("int", "constrained-int"):
        return isinstance(value, int) and not isinstance(value, bool)
    if tag == "float":
        return isinstance(value, float)
    return False


def _word(tag: str) -> str:
    if tag.startswith("dict[") or tag.endswith("Model"):
        return "a mapping"
    if tag.startswith("list["):
        return "a list"
    return {
        "str": "a string",
        "constrained-str": "a string",
        "bool": "true or false",
        "int": "a whole number",
        "constrained-int": "a whole number",
        "float": "a number",
    }.get(tag, "another value")


def _where(path: Sequence[Any]) -> str:
    return dotted(path) or "the scenario"


def _plain(path: tuple[Any, ...], err: Mapping[str, Any], data: Any) -> Problem:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    value = err.get("input")
    written = source_text(data, path)
    if kind == "extra_forbidden":
        key = path[-1] if path else "?"
        hint = difflib.get_close_matches(str(key), FIELDS, n=1)
        suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
        return Problem(
            path, f"unknown key {key!r} at {dotted(path[:-1]) or 'top level'}{suggestion}"
        )
    if kind == "missing":
        return Problem(path, f"{_where(path[:-1])}: required key {path[-1]!r} is missing")
    if err["loc"] and err["loc"][-1] == "[key]":
        key = path[-1]
        return Problem(
            path, f'{_where(path[:-1])}: key {key!r} must be a string; quote it: "{key}"'
        )
    return Problem(path, f"{_where(path)}: {_what(kind, ctx, value, written, str(err['msg']))}")


_EXPECTED = {
    "string_type": "a string",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "list_type": "a list",
}
_BOUNDS = {
    "greater_than_equal": ("at least", "ge"),
    "greater_than": ("more than", "gt"),
    "less_than_equal": ("at most", "le"),
    "less_than": ("less than", "lt"),
}


def _what(kind: str, ctx: Mapping[str, Any], value: Any, written: str | None, msg: str) -> str:
    if kind in _EXPECTED:
        quote = f'; quote it: "{written}"' if written and kind == "string_type" else ""
        return f"expected {_EXPECTED[kind]}, got {_shown(value, written)}{quote}"
    if kind in _BOUNDS:
        words, key = _BOUNDS[kind]
        return f"must be {words} {ctx.get(key)}, not {_shown(value, written)}"
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "")
        choices = [c.strip() for c in re.split(r",| or ", expected) if c.strip()]
        hint = [c for c in choices if c.lower() == str(value).lower()]
        hint = hint or difflib.get_close_matches(str(value), choices, n=1)
        suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
        return f"must be one of {expected}, not {_shown(value, written)}{suggestion}"
    if kind == "string_pattern_mismatch":
        form = _PATTERNS.get(str(ctx.get("pattern")), "of the expected form")
        return f"must be {form}, not {value!r}"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters, not {len(str(value))}"
    if kind == "too_short":
        return f"needs at least {ctx.get('min_length')} entry"
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    return msg


def _shown(value: Any, written: str | None) -> str:
    """A value as the user wrote it, and what YAML made of it when that differs."""
    if isinstance(value, bool):
        shown = "true" if value else "false"
        return f"{written} (YAML reads it as {shown})" if written and written != shown else shown
    if isinstance(value, int | float):
        if written and written != str(value):
            return f"{written} (YAML reads it as the number {value!r})"
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (an empty value)"
    return "a value of another kind"
