"""Unit-test fixtures."""

from __future__ import annotations

import os

import pytest

from pytest_clustermesh.policy import validate as validation


@pytest.fixture(autouse=True)
def _cold_policy_validation() -> None:
    """Under mutation testing, each test validates its policies with the mutant in force.

    ``policy.validate`` caches its answers (per document text, and the schema per kind and
    version). mutmut forks every mutant's test run from the process that ran the unmutated
    tests first, so a warm cache would answer with the unmutated code and hide the mutant
    (docs/mutation.md). ``MUTANT_UNDER_TEST`` is set by mutmut only (``stats`` while it maps
    tests to functions, else the mutant's name); ordinary runs keep the cache."""
    mutant = os.environ.get("MUTANT_UNDER_TEST", "")
    if mutant != "stats" and not mutant.startswith(validation.__name__ + "."):
        return  # not mutmut's, or a mutant elsewhere: the cache cannot hide it
    for value in vars(validation).values():
        clear = getattr(value, "cache_clear", None)
        if callable(clear) and getattr(value, "__module__", None) == validation.__name__:
            clear()
