"""The mutation-testing setup stays whole: ``[tool.mutmut]`` lists every group's tests, and every
test a group names exists (docs/mutation.md). A test file missing from a group makes mutmut
report as survivors mutants that the suite kills."""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from functools import cache
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


@cache
def benchmark() -> ModuleType:
    """benchmarks/mutation.py, which is no package module (its dataclasses need it in
    ``sys.modules`` while it loads)."""
    name = "clustermesh_mutation_benchmark"
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / "mutation.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_pyproject_lists_the_tests_of_every_group_and_no_other() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    groups = benchmark().GROUPS.values()
    assert sorted(config["pytest_add_cli_args_test_selection"]) == sorted(
        {test for group in groups for test in group.tests}
    )
    assert sorted(config["only_mutate"]) == sorted(
        {module for group in groups for module in group.modules}
    )


def test_every_test_file_a_group_names_exists() -> None:
    missing = [
        test
        for group in benchmark().GROUPS.values()
        for test in group.tests
        if not (ROOT / test).is_file()
    ]
    assert missing == []
