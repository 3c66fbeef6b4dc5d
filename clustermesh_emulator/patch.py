"""PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and a strategic merge.

The strategic merge is a merge patch that merges lists of named objects (containers, env,
volumes, named ports) item by item by ``name``, as Kubernetes does for those lists; other lists
are replaced and ``$patch`` directives are not understood.
"""

from __future__ import annotations

import copy
from typing import Any

MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"


class PatchError(ValueError):
    """A patch that cannot be applied; the server answers 400 or 422 with this message."""


def merge_patch(target: Any, patch: Any, *, by_name: bool = False) -> Any:
    """RFC 7386: objects merge recursively, ``null`` deletes, anything else replaces.

    With ``by_name``, lists whose items are all objects with a ``name`` merge item by item.
    """
    if by_name and _named(patch) and _named(target):
        merged = {item["name"]: item for item in target}
        for item in patch:
            merged[item["name"]] = merge_patch(merged.get(item["name"]), item, by_name=True)
        return list(merged.values())
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value, by_name=by_name)
    return result


def _named(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(i, dict) and "name" in i for i in value)


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _resolve(doc: Any, pointer: str) -> tuple[Any, str]:
    """The container holding the pointer's last token, and that token."""
    if not pointer.startswith("/"):
        raise PatchError(f"invalid JSON pointer {pointer!r}")
    tokens = [_unescape(t) for t in pointer[1:].split("/")]
    parent = doc
    for token in tokens[:-1]:
        parent = _child(parent, token, pointer)
    return parent, tokens[-1]


def _child(container: Any, token: str, pointer: str) -> Any:
    try:
        if isinstance(container, list):
            return container[int(token)]
        return container[token]
    except (KeyError, IndexError, ValueError, TypeError):
        raise PatchError(f"path {pointer!r} does not exist") from None


def _get(doc: Any, pointer: str) -> Any:
    if pointer == "":
        return doc
    parent, token = _resolve(doc, pointer)
    return _child(parent, token, pointer)


def _remove(doc: Any, pointer: str) -> Any:
    parent, token = _resolve(doc, pointer)
    value = _child(parent, token, pointer)
    if isinstance(parent, list):
        del parent[int(token)]
    else:
        del parent[token]
    return value


def _add(doc: Any, pointer: str, value: Any) -> Any:
    if pointer == "":
        return value
    parent, token = _resolve(doc, pointer)
    if isinstance(parent, list):
        index = len(parent) if token == "-" else int(token)
        if not 0 <= index <= len(parent):
            raise PatchError(f"index out of range in {pointer!r}")
        parent.insert(index, value)
    elif isinstance(parent, dict):
        parent[token] = value
    else:
        raise PatchError(f"cannot add at {pointer!r}")
    return doc


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902 ``add``/``remove``/``replace``/``move``/``copy``/``test``."""
    if not isinstance(operations, list):
        raise PatchError("a JSON patch must be a list of operations")
    doc = copy.deepcopy(target)
    for operation in operations:
        if not isinstance(operation, dict) or "path" not in operation:
            raise PatchError(f"invalid JSON patch operation {operation!r}")
        op, path = operation.get("op"), operation["path"]
        if op == "add":
            doc = _add(doc, path, copy.deepcopy(operation.get("value")))
        elif op == "remove":
            _remove(doc, path)
        elif op == "replace":
            _get(doc, path)
            if path == "":
                doc = copy.deepcopy(operation.get("value"))
            else:
                parent, token = _resolve(doc, path)
                parent[int(token) if isinstance(parent, list) else token] = copy.deepcopy(
                    operation.get("value")
                )
        elif op in ("move", "copy"):
            source = operation.get("from", "")
            value = _remove(doc, source) if op == "move" else copy.deepcopy(_get(doc, source))
            doc = _add(doc, path, value)
        elif op == "test":
            if _get(doc, path) != operation.get("value"):
                raise PatchError(f"test operation failed at {path!r}")
        else:
            raise PatchError(f"unknown JSON patch operation {op!r}")
    return doc
