"""The one YAML loader of the plugin: guarded, and remembering where every key and item came from.

Every YAML file the plugin reads (scenarios, policy files, kubeconfigs checked up front) goes
through :func:`load_all`, so every file gets the same guards:

- a size limit, checked before anything is parsed;
- UTF-8 only, a bad byte reported with its line and column;
- limits on aliases (how many, and how many nodes they add when expanded) and on nesting depth,
  checked while the file is *composed*, before anything is constructed, expanded or rendered
  (an alias bomb fails here, not in a template renderer or a policy parser);
- duplicate keys rejected (PyYAML silently keeps the last one);
- syntax errors reworded where PyYAML is unhelpful: a tab is called a tab, and an unclosed
  quote is reported where it opens, not at the end of the file.

Scenario and policy files are validated after loading, so an error found later (by pydantic, by a
reference check, by the policy model) must still point at its line. The loader builds ordinary
dicts and lists, subclassed to carry the line of each key and item, and the source text of
scalars YAML did not read as strings (so a message can say that ``1.20`` became ``1.2``).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import AliasEvent, CollectionStartEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from .errors import Location, ScenarioError

#: Limits of one file. Generous for anything a person writes; an alias bomb or a generated
#: monster stops at them before it costs memory or time.
MAX_BYTES = 4 * 1024 * 1024
MAX_ALIASES = 1_000
MAX_ALIAS_NODES = 20_000
"""Nodes that aliases may add to a file when expanded (an anchor used twice adds its size)."""
MAX_DEPTH = 64

_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"


class MarkedDict(dict[Any, Any]):
    """A mapping from YAML with the 1-based line of itself and of each key."""

    line: int = 0
    key_lines: dict[Hashable, int]
    value_texts: dict[Hashable, str]
    """Source text of values YAML read as something other than a string (``1.20``)."""


class MarkedList(list[Any]):
    """A sequence from YAML with the 1-based line of itself and of each item."""

    line: int = 0
    item_lines: list[int]
    item_texts: dict[int, str]
    """Source text of items YAML read as something other than a string."""


class _PythonParser(Reader, Scanner, Parser):
    """PyYAML's own parser, where it was built without libyaml."""

    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)


# libyaml's parser where PyYAML was built with it: the same events, several times faster.
_Parser: type[Any] = getattr(getattr(yaml, "cyaml", None), "CParser", None) or _PythonParser


class _LimitError(yaml.MarkedYAMLError):
    """A guard of :mod:`yamlmarks` tripped; its text is final, not reworded."""


class _GuardedLoader(Composer, SafeConstructor, Resolver, _Parser):  # type: ignore[misc]
    """libyaml's events, composed in Python so that every alias and every level of nesting is
    counted (with its position) before a node is constructed."""

    def __init__(self, stream: str) -> None:
        _Parser.__init__(self, stream)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self.aliases = 0
        self.alias_nodes = 0
        self.nodes = 0
        self.depth = 0
        self._sizes: dict[str, int] = {}
        self._open: set[str] = set()

    def compose_document(self) -> Node | None:
        self._sizes, self._open = {}, set()
        return super().compose_document()

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            self._count_alias(event)
        elif isinstance(event, CollectionStartEvent):
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise _limit(f"nested deeper than {MAX_DEPTH} levels", event)
        anchor = None if isinstance(event, AliasEvent) else event.anchor
        if anchor is not None:
            self._open.add(anchor)
        before = self.nodes
        node = super().compose_node(parent, index)
        if not isinstance(event, AliasEvent):
            self.nodes += 1
            if isinstance(event, CollectionStartEvent):
                self.depth -= 1
        if anchor is not None:
            self._open.discard(anchor)
            self._sizes[anchor] = self.nodes - before
        return node

    def _count_alias(self, event: AliasEvent) -> None:
        name = event.anchor
        if name in self._open:
            raise _limit(f"alias *{name} refers to the node that contains it (recursive)", event)
        if name not in self._sizes:
            raise _limit(f"alias *{name} has no anchor &{name} before it", event)
        size = self._sizes[name]
        self.aliases += 1
        self.alias_nodes += size
        self.nodes += size
        if self.aliases > MAX_ALIASES:
            raise _limit(f"more than {MAX_ALIASES} aliases in one file", event)
        if self.alias_nodes > MAX_ALIAS_NODES:
            raise _limit(
                f"aliases expand to more than {MAX_ALIAS_NODES} nodes (alias *{name} adds "
                f"{size} by itself); is this an alias bomb?",
                event,
            )


def _limit(problem: str, event: Any) -> _LimitError:
    return _LimitError(None, None, problem, event.start_mark)


def _construct_mapping(loader: _GuardedLoader, node: MappingNode) -> MarkedDict:
    own_count = sum(1 for key, _ in node.value if key.tag != _MERGE_TAG)
    loader.flatten_mapping(node)
    merged = len(node.value) - own_count  # merged pairs come first; the mapping's own keys win
    mapping = MarkedDict()
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {}
    mapping.value_texts = {}
    own_keys: set[Hashable] = set()
    for position, (key_node, value_node) in enumerate(node.value):
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, Hashable):
            raise ConstructorError(
                None, None, "a mapping key must be a plain value", key_node.start_mark
            )
        own = position >= merged
        if own and key in own_keys:
            raise ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first at line {mapping.key_lines[key]})",
                key_node.start_mark,
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
        if own:
            own_keys.add(key)
        # A merged key is written elsewhere; here, it belongs to the mapping's line.
        mapping.key_lines[key] = key_node.start_mark.line + 1 if own else mapping.line
        text = _source_text(value_node)
        if text is None:
            mapping.value_texts.pop(key, None)
        else:
            mapping.value_texts[key] = text
    return mapping


def _construct_sequence(loader: _GuardedLoader, node: SequenceNode) -> MarkedList:
    sequence = MarkedList(loader.construct_object(child, deep=True) for child in node.value)
    sequence.line = node.start_mark.line + 1
    sequence.item_lines = [child.start_mark.line + 1 for child in node.value]
    sequence.item_texts = {
        index: text
        for index, child in enumerate(node.value)
        if (text := _source_text(child)) is not None
    }
    return sequence


def _source_text(node: Node) -> str | None:
    if isinstance(node, ScalarNode) and node.tag != _STR_TAG:
        return str(node.value)
    return None


_GuardedLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_GuardedLoader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)


# -- reading -------------------------------------------------------------------------------------


def load_all(path: Path) -> list[Any]:
    """Every document of a YAML file, empty documents dropped.

    Any problem (unreadable, too large, not UTF-8, bad syntax, a guard tripped) becomes a
    :class:`ScenarioError` naming the file and, where there is one, the line.
    """
    return load_text(read_text(path), path)


def load_one(path: Path) -> Any:
    documents = load_all(path)
    if len(documents) != 1:
        raise ScenarioError(
            f"expected exactly one YAML document, found {len(documents)}", Location(path)
        )
    return documents[0]


def read_text(path: Path) -> str:
    """The file as text: at most :data:`MAX_BYTES`, UTF-8 (a BOM is dropped)."""
    try:
        if not path.is_file():
            what = "a folder" if path.is_dir() else "no such file"
            if path.exists():
                what = "not a regular file"
            raise ScenarioError(f"cannot read: {what}", Location(path))
        with path.open("rb") as stream:
            raw = stream.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ScenarioError(f"cannot read: {exc.strerror or exc}", Location(path)) from None
    if len(raw) > MAX_BYTES:
        raise ScenarioError(
            f"the file is larger than {MAX_BYTES // (1024 * 1024)} MiB; split it", Location(path)
        )
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line, column = _position(raw, exc.start)
        hint = (
            " (it starts with a UTF-16 byte-order mark)"
            if raw.startswith((b"\xff\xfe", b"\xfe\xff"))
            else ""
        )
        raise ScenarioError(
            f"not UTF-8: byte 0x{raw[exc.start]:02x} at line {line}, column {column}{hint}; "
            "save the file as UTF-8",
            Location(path, line),
        ) from None


def load_text(text: str, path: Path) -> list[Any]:
    """The documents of ``text``, read as the file ``path`` (which names it in messages)."""
    documents = []
    loader: _GuardedLoader | None = None
    try:
        loader = _GuardedLoader(text)
        while loader.check_node():
            node = loader.get_node()
            documents.append(loader.construct_document(node))
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, text, path) from None
    except yaml.reader.ReaderError as exc:
        line, column = _position(text, exc.position)
        raise ScenarioError(
            f"invalid YAML: character U+{ord(text[exc.position]):04X} at line {line}, column "
            f"{column} is not allowed (control characters cannot appear in YAML)",
            Location(path, line),
        ) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"invalid YAML: {exc}", Location(path)) from None
    finally:
        if loader is not None:
            loader.dispose()
    return [doc for doc in documents if doc is not None]


def _position(data: bytes | str, index: int) -> tuple[int, int]:
    """1-based line and column of ``index`` (columns count characters)."""
    newline = b"\n" if isinstance(data, bytes) else "\n"
    start = data.rfind(newline, 0, index) + 1  # type: ignore[arg-type]
    line = data.count(newline, 0, index) + 1  # type: ignore[arg-type]
    prefix = data[start:index]
    column = len(prefix.decode("utf-8", "replace") if isinstance(prefix, bytes) else prefix)
    return line, column + 1


_QUOTED = "while scanning a quoted scalar"


def _syntax_error(exc: yaml.MarkedYAMLError, text: str, path: Path) -> ScenarioError:
    problem_mark, context_mark = exc.problem_mark, exc.context_mark
    mark = problem_mark or context_mark
    line = mark.line + 1 if mark else None
    if isinstance(exc, _LimitError):
        return ScenarioError(str(exc.problem), Location(path, line))
    lines = text.split("\n")
    if mark is not None and _is_tab(lines, mark.line, mark.column, str(exc.problem)):
        return ScenarioError(
            f"invalid YAML: a tab character at line {line}, column {mark.column + 1}; "
            "YAML indents with spaces only, replace the tab with spaces",
            Location(path, line),
        )
    if exc.context == _QUOTED and context_mark is not None:
        opened = context_mark.line + 1
        return ScenarioError(
            f"invalid YAML: unclosed quote: the string opened at line {opened}, column "
            f"{context_mark.column + 1} has no closing quote",
            Location(path, opened),
        )
    problem = str(exc.problem or "")
    context = str(exc.context or "")
    if context.startswith("found duplicate anchor") and context_mark is not None:
        anchor = context.split("'")[1] if "'" in context else "?"
        return ScenarioError(
            f"invalid YAML: anchor &{anchor} is defined twice (first at line "
            f"{context_mark.line + 1}); give the second one another name",
            Location(path, line),
        )
    if problem.startswith("could not determine a constructor for the tag"):
        tag = problem.rsplit(" ", 1)[-1]
        return ScenarioError(
            f"invalid YAML: the tag {tag} is not supported; write plain mappings, lists, "
            "strings, numbers and booleans",
            Location(path, line),
        )
    parts = [problem] if problem else []
    if context:
        where = f" at line {context_mark.line + 1}" if context_mark is not None else ""
        parts.append(f"({context}{where})")
    hint = "; check the indentation" if "block" in context else ""
    return ScenarioError(f"invalid YAML: {' '.join(parts)}{hint}", Location(path, line))


def _is_tab(lines: Sequence[str], line: int, column: int, problem: str) -> bool:
    if "tab" in problem:
        return True
    if 0 <= line < len(lines):
        text = lines[line]
        return text[column : column + 1] == "\t"
    return False


# -- using what was loaded -----------------------------------------------------------------------


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


def source_text(data: Any, path: Sequence[Any]) -> str | None:
    """How the scalar at ``path`` was written, when YAML read it as something other than a
    string (``1.20`` for the float 1.2); ``None`` otherwise."""
    if not path:
        return None
    *parents, last = path
    for step in parents:
        try:
            data = data[step]
        except (KeyError, IndexError, TypeError):
            return None
    if isinstance(data, MarkedDict):
        return data.value_texts.get(last)
    if isinstance(data, MarkedList) and isinstance(last, int):
        return data.item_texts.get(last)
    return None


def walk_strings(data: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str]]:
    """Every string scalar under ``data``, mapping keys included, with its path (for template
    checks; a key's path ends at the key)."""
    if isinstance(data, str):
        yield path, data
    elif isinstance(data, dict):
        for key, value in data.items():
            if isinstance(key, str):
                yield (*path, key), key
            yield from walk_strings(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from walk_strings(value, (*path, index))
