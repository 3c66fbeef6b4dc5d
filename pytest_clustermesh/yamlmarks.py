"""YAML loading that remembers where every key and item came from.

Scenario and policy files are validated after loading, so an error found later (by pydantic, by a
reference check, by the policy model) must still point at its line. The loader builds ordinary
dicts and lists, subclassed to carry the line of each key and item; duplicate keys, which PyYAML
silently resolves to the last one, are an error here.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from .errors import Location, ScenarioError


class MarkedDict(dict[Any, Any]):
    """A mapping from YAML with the 1-based line of itself and of each key."""

    line: int = 0
    key_lines: dict[Hashable, int]


class MarkedList(list[Any]):
    """A sequence from YAML with the 1-based line of itself and of each item."""

    line: int = 0
    item_lines: list[int]


# libyaml's parser where PyYAML was built with it: the same marks, several times faster.
_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _MarkedLoader(_Base):  # type: ignore[valid-type,misc]
    pass


def _construct_mapping(loader: _MarkedLoader, node: yaml.MappingNode) -> MarkedDict:
    loader.flatten_mapping(node)
    mapping = MarkedDict()
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, Hashable):
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a plain value", key_node.start_mark
            )
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[key] = key_node.start_mark.line + 1
    return mapping


def _construct_sequence(loader: _MarkedLoader, node: yaml.SequenceNode) -> MarkedList:
    sequence = MarkedList(loader.construct_object(child, deep=True) for child in node.value)
    sequence.line = node.start_mark.line + 1
    sequence.item_lines = [child.start_mark.line + 1 for child in node.value]
    return sequence


_MarkedLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_MarkedLoader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)


def load_all(path: Path) -> list[Any]:
    """Every document of a YAML file, empty documents dropped; syntax errors become
    :class:`ScenarioError` with the line PyYAML reports."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"cannot read: {exc.strerror}", Location(path)) from exc
    try:
        documents = list(yaml.load_all(text, Loader=_MarkedLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        raise ScenarioError(f"invalid YAML: {problem}", Location(path, line)) from exc
    except yaml.YAMLError as exc:
        raise ScenarioError(f"invalid YAML: {exc}", Location(path)) from exc
    return [doc for doc in documents if doc is not None]


def load_one(path: Path) -> Any:
    documents = load_all(path)
    if len(documents) != 1:
        raise ScenarioError(
            f"expected exactly one YAML document, found {len(documents)}", Location(path)
        )
    return documents[0]


def line_of(data: Any, path: Sequence[Any]) -> int | None:
    """The line of the value at ``path`` (keys and indexes), or of its nearest known parent."""
    line = getattr(data, "line", None) or None
    for step in path:
        if isinstance(data, MarkedDict) and step in data:
            line = data.key_lines.get(step, line)
            data = data[step]
        elif isinstance(data, MarkedList) and isinstance(step, int) and 0 <= step < len(data):
            line = data.item_lines[step]
            data = data[step]
        else:
            break
    return line


def walk_strings(data: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str]]:
    """Every string scalar under ``data`` with its path (for template checks)."""
    if isinstance(data, str):
        yield path, data
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from walk_strings(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from walk_strings(value, (*path, index))
