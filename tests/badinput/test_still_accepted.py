"""The guards reject bad input only: what a person legitimately writes still loads.

Each row is a near miss of a rejected case in this package, so a guard that grows too strict
fails here rather than in a user's suite.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_clustermesh.facts import Condition
from pytest_clustermesh.yamlmarks import (
    MAX_ALIAS_NODES,
    MAX_ALIASES,
    MAX_DEPTH,
    load_text,
    read_text,
)

HERE = Path("inline.yaml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  x: 3\n",
            {"base": {"x": 1, "y": 2}, "c": {"x": 3, "y": 2}},
            id="merge-key-overridden-by-own-key",
        ),
        pytest.param(
            "s: &s {app: web}\na: [*s, *s, *s]\n",
            {"s": {"app": "web"}, "a": [{"app": "web"}] * 3},
            id="an-anchor-used-a-few-times",
        ),
        pytest.param(
            "x: &one 1\ny: [" + ", ".join(["*one"] * MAX_ALIASES) + "]\n",
            {"x": 1, "y": [1] * MAX_ALIASES},
            id="as-many-aliases-as-allowed",
        ),
        pytest.param(
            "a: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "\n",
            None,
            id="as-deep-as-allowed",
        ),
        pytest.param("a: [1,\t2]\n", {"a": [1, 2]}, id="a-tab-between-flow-items"),
        pytest.param("a: 'x: \"y\"'\n", {"a": 'x: "y"'}, id="quotes-inside-quotes"),
        pytest.param("a: 1\n---\nb: 2\n", None, id="several-documents"),
    ],
)
def test_legitimate_yaml_loads(text: str, expected: Any) -> None:
    documents = load_text(text, HERE)
    if expected is not None:
        assert documents[0] == expected


def test_an_anchor_may_add_up_to_the_expansion_limit() -> None:
    items = ", ".join(["x"] * (MAX_ALIAS_NODES // 2 - 1))
    (document,) = load_text(f"a: &a [{items}]\nb: *a\n", HERE)
    assert document["a"] is document["b"]


def test_a_utf8_byte_order_mark_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes("\ufeffa: é\n".encode())
    assert read_text(path) == "a: é\n"


def test_the_source_text_of_numbers_is_kept() -> None:
    (document,) = load_text("cilium: 1.20\nlist: [1.10, no]\n", HERE)
    assert document.value_texts == {"cilium": "1.20"}
    assert document["list"].item_texts == {0: "1.10", 1: "no"}


@pytest.mark.parametrize(
    "when",
    [
        {"cilium": ">=1.19"},
        {"cilium": "1.16"},
        {"cilium": "1.20"},
        {"cilium": ">=1.19.3,<1.20"},
        {"cilium": ">1.20.5"},
        {"cilium": "~=1.17.2"},
        {"cilium": "!=1.19.*"},
        {"cilium": "<1.18", "policy-default-local-cluster": False},
        {"cilium": ">=1.18", "policy-default-local-cluster": "true"},
        {"enable-policy": "Always"},
        {"policy-audit-mode": True},
    ],
    ids=str,
)
def test_conditions_some_modelled_mesh_meets_are_accepted(when: dict[str, object]) -> None:
    assert Condition.parse(when) is not None
